/*
 * crash_test.c - SIGKILL deskd mid-stream and recover from its journal.
 *
 * deskd (`desk up`, fix connector) trades SIMX against desk-fix-peer (the
 * QuickFIX acceptor, its own process, which keeps running across every
 * crash).  This test is the strategy, through libdesk: it streams limit
 * orders (and some cancels), and after a random time (seeded) SIGKILLs
 * deskd, then restarts it on the same desk.toml, journal dir and FIX store,
 * reattaches and goes on.  At the end it cancels what is open, lets the
 * venue settle, and checks deskd's journal against the venue's own record
 * (the peer's event log):
 *   - every ClOrdID reached the venue at most once (no duplicate-ClOrdID
 *     reject, no NEW ack twice for one ClOrdID);
 *   - every ClOrdID the venue acknowledged is in the journal as a CMD
 *     (write-ahead: nothing is sent unjournaled);
 *   - for every order, the fills deskd applied add up to the venue's CumQty
 *     (no fill lost, none counted twice);
 *   - deskd's SIMX position equals the signed sum of the venue's fills.
 * 5 trials by default (about 30 s); 50 with DESK_LONG=1.  Seed: DESK_SEED,
 * else the time (printed, to replay a failure).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/fixed.h"
#include "core/journal.h"
#include "desk/client.h"
#include "harness.h"

#define MAXO 65536

static char g_dir[128], g_name[32], g_log[256], g_pevents[192], g_toml[192], g_jdir[192];
static pid_t g_peer = -1, g_deskd = -1;
static int g_port;
static desk_client_t *C;
static int SIMX;
static uint64_t g_cl = 1;
static uint64_t g_new[MAXO]; /* ClOrdIDs of the NEW commands sent */
static int g_nnew;

static void write_toml(void)
{
    FILE *f = fopen(g_toml, "w");
    assert_non_null(f);
    fprintf(f,
            "[desk]\nname = \"%s\"\nidle = \"backoff\"\nstatus_interval_ms = 20\n\n"
            "[journal]\ndir = \"journal\"\nfsync = \"none\"\n\n"
            "[[connector]]\nname = \"fx\"\ntype = \"fix\"\nvenue_type = \"equities\"\n"
            "[connector.options]\nhosts = \"127.0.0.1:%d\"\n"
            "sender_comp_id = \"CLIENT1\"\ntarget_comp_id = \"SIMVENUE\"\ncash = \"100000000\"\n"
            "heartbeat_s = 2\nstore_dir = \"desk-store\"\nmax_resend_age_ms = 60000\n"
            "reconnect_ms = 50\nreconnect_max_ms = 200\n\n"
            "[[instrument]]\nsymbol = \"SIMX\"\nvenue = \"fx\"\nasset_class = \"equity\"\n"
            "tick_size = \"0.01\"\nlot_size = \"1\"\n\n"
            "[[strategy]]\nname = \"t\"\n",
            g_name, g_port);
    fclose(f);
}

static void peer_start(void)
{
    char ready[192], pstore[192], perr[192];
    snprintf(ready, sizeof ready, "%s/peer.port", g_dir);
    snprintf(pstore, sizeof pstore, "%s/peer-store", g_dir);
    snprintf(perr, sizeof perr, "%s/peer.stderr", g_dir);
    char *argv[] = {DESK_FIX_PEER,   "--store",    pstore,        "--port",    "0",
                    "--ready-file",  ready,        "--event-log", g_pevents,   "--sim-symbol",
                    "SIMX",          "--fill-pct", "30",          "--tick-ms", "40",
                    "--max-seconds", "900",        NULL};
    g_peer = desk_t_spawn(argv, perr, perr, O_APPEND);
    assert_true(g_peer > 0);
    for (int i = 0; i < 500; i++, msleep(20)) {
        FILE *f = fopen(ready, "r");
        if (f) {
            int ok = fscanf(f, "%d", &g_port) == 1;
            fclose(f);
            if (ok)
                return;
        }
    }
    fail_msg("desk-fix-peer did not start");
}


/* Run the desk CLI with `args` (after -n NAME); its stdout into `out`. */
static int cli(const char *verb, const char *opt, const char *out)
{
    char *argv[] = {DESK_CLI, (char *)verb, "-n", g_name, (char *)opt, NULL};
    pid_t p = desk_t_spawn(argv, out, out, O_APPEND);
    int st = 0;
    if (p < 0 || waitpid(p, &st, 0) != p)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int fix_up(void)
{
    char out[256], buf[4096];
    snprintf(out, sizeof out, "%s/status.json", g_dir);
    unlink(out);
    if (cli("status", "--json", out) != 0)
        return 0;
    FILE *f = fopen(out, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, "\"health\": \"UP\"") != NULL || strstr(buf, "\"health\":\"UP\"") != NULL;
}

static void deskd_start(void)
{
    desk_t_unlink_segments(g_name);
    char *argv[] = {DESK_CLI, "up", "-c", g_toml, NULL};
    g_deskd = desk_t_spawn(argv, g_log, g_log, O_APPEND);
    assert_true(g_deskd > 0);
    int rc = -1;
    for (int i = 0; i < 400 && rc != 0; i++) {
        msleep(25);
        rc = desk_attach(&C, g_name, "t");
    }
    if (rc != 0)
        fail_msg("deskd did not come up: %s (see %s)", desk_client_errmsg(), g_log);
    SIMX = desk_instrument_find(C, "SIMX", NULL);
    assert_true(SIMX >= 0);
    for (int i = 0; i < 400 && !fix_up(); i++)
        msleep(25);
    assert_true(fix_up());
}

static void drain_events(void)
{
    desk_event_t ev[64];
    while (desk_poll(C, ev, 64) > 0)
        ;
}

/* Stream orders for `ms`; some are canceled.  Refusals (RECONCILING while a
 * recovered order is being settled, back-pressure) are fine. */
static void stream(int ms, unsigned *seed)
{
    uint64_t first = g_cl;
    for (int t = 0; t < ms; t += 2) {
        uint8_t side = rand_r(seed) % 2 ? DESK_BUY : DESK_SELL;
        int64_t qty = (int64_t)(1 + rand_r(seed) % 20) * DESK_SCALE;
        if (g_nnew < MAXO && desk_submit_new(C, g_cl, (uint32_t)SIMX, side, DESK_LIMIT, DESK_GTC,
                                             qty, 100 * DESK_SCALE, 0) == 0)
            g_new[g_nnew++] = g_cl;
        g_cl++;
        if (rand_r(seed) % 4 == 0 && g_cl - first > 3) {
            uint64_t victim = first + rand_r(seed) % (g_cl - first);
            (void)desk_submit_cancel(C, g_cl++, victim);
        }
        drain_events();
        msleep(2);
    }
}

/* ---- the venue's record ---------------------------------------------------- */

struct vorder {
    char oid[24]; /* 37 */
    int64_t cum;  /* the largest 14 seen */
    char side;    /* 54 */
};
static struct vorder V[MAXO];
static int NV;
static uint64_t acked[MAXO]; /* venue ClOrdID numbers of NEW acks */
static int NACK, dup_clid;

static struct vorder *vfind(const char *oid)
{
    for (int i = NV - 1; i >= 0; i--)
        if (strcmp(V[i].oid, oid) == 0)
            return &V[i];
    if (NV == MAXO)
        return NULL;
    snprintf(V[NV].oid, sizeof V[NV].oid, "%s", oid);
    V[NV].cum = 0;
    V[NV].side = 0;
    return &V[NV++];
}

/* Parse the peer's event log from the start (it may still be written: a
 * last line without its newline is a write in progress, and is skipped). */
static void read_peer_log(void)
{
    FILE *f = fopen(g_pevents, "r");
    char line[512];
    assert_non_null(f);
    NV = NACK = dup_clid = 0;
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] != '\n' && len < sizeof line - 1)
            continue;
        if (strstr(line, "REJECTED 103=6"))
            dup_clid++;
        char *er = strstr(line, "SEND ER ");
        if (er == NULL)
            continue;
        char *p37 = strstr(er, " 37="), *p11 = strstr(er, " 11=d"), *p14 = strstr(er, " 14=");
        char *p54 = strstr(er, " 54=");
        if (!p37 || !p11 || !p14 || !p54 || strncmp(p37 + 4, "NONE", 4) == 0)
            continue;
        char oid[24];
        sscanf(p37 + 4, "%23s", oid);
        struct vorder *o = vfind(oid);
        assert_non_null(o);
        int64_t cum = 0;
        char *end = strchr(p14 + 4, ' ');
        assert_int_equal(desk_fixed_parse(p14 + 4, (size_t)(end - (p14 + 4)), &cum), 0);
        if (cum > o->cum)
            o->cum = cum;
        o->side = p54[4];
        if (strncmp(er + 8, "NEW ", 4) == 0 && NACK < MAXO)
            acked[NACK++] = strtoull(p11 + 5, NULL, 10);
    }
    fclose(f);
}

/* The venue's SIMX position: the signed sum of its fills, from its log. */
static int64_t venue_pos(void)
{
    int64_t vpos = 0;
    read_peer_log();
    for (int i = 0; i < NV; i++)
        vpos += V[i].side == '1' ? V[i].cum : -V[i].cum;
    return vpos;
}

/* ---- settling --------------------------------------------------------------- */

/* `desk status --json` as a string (caller frees), or NULL if it failed. */
static char *status_text(void)
{
    char out[256];
    snprintf(out, sizeof out, "%s/status.json", g_dir);
    unlink(out);
    if (cli("status", "--json", out) != 0)
        return NULL;
    FILE *f = fopen(out, "r");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(n > 0 ? (size_t)n + 1 : 1);
    size_t got = n > 0 ? fread(b, 1, (size_t)n, f) : 0;
    b[got] = '\0';
    fclose(f);
    return b;
}

/* 1 if desk status lists no open order at all. */
static int no_open_orders(void)
{
    char *txt = status_text();
    int none = txt && strstr(txt, "\"open_orders\":{\"total\":0,") != NULL;
    free(txt);
    return none;
}

/* Ask to cancel every order this test sent.  Refusals are fine: most are
 * done already, and a cancel is refused while a recovered order is being
 * settled (RECONCILING); settle() asks again until nothing is open. */
static void cancel_all(void)
{
    for (int i = 0; i < g_nnew; i++) {
        while (desk_submit_cancel(C, g_cl, g_new[i]) == -EAGAIN) {
            drain_events();
            msleep(1);
        }
        g_cl++;
        if (i % 256 == 0)
            drain_events();
    }
    drain_events();
}

/* Wait until the books are final: desk status shows no open order, deskd's
 * SIMX position reads the same twice a few status intervals apart, and it
 * equals the venue's (recomputed from the peer's log each time, since a
 * resent fill may still be on its way).  Recovery after the last restart,
 * the cancels and the venue's answers all take a while on a loaded CI
 * machine: up to 60 s.  Returns deskd's position; the caller asserts. */
static int64_t settle(void)
{
    uint64_t end = now_ms() + 60000, next_cancel = 0;
    int64_t prev = INT64_MIN;
    int passes = 0;
    desk_pos_t pos = {0};
    for (;;) {
        drain_events();
        if (!no_open_orders()) {
            prev = INT64_MIN;
            /* At most three passes, 2 s apart: each cancel takes a ClOrdID
             * of the day, refused or not, and the long mode sends many
             * orders (the old settle made two passes). */
            if (passes < 3 && now_ms() >= next_cancel) {
                cancel_all();
                passes++;
                next_cancel = now_ms() + 2000;
            }
        } else {
            assert_int_equal(desk_position(C, (uint32_t)SIMX, &pos), 0);
            if (pos.qty == prev && pos.qty == venue_pos())
                return pos.qty;
            prev = pos.qty;
        }
        if (now_ms() > end) {
            if (!no_open_orders())
                fail_msg("crash_test: orders still open 60 s after three cancel passes");
            /* Positions did not agree or hold still: the caller's checks
             * say how, on a fresh read. */
            printf("crash_test: positions not settled after 60 s\n");
            assert_int_equal(desk_position(C, (uint32_t)SIMX, &pos), 0);
            return pos.qty;
        }
        msleep(100); /* five status intervals */
    }
}

/* ---- deskd's record (the journal) ------------------------------------------ */

struct jorder {
    uint64_t order_id, venue_cl[16]; /* its NEW and its replaces' numbers */
    int64_t filled;
    int nvc;
};
static struct jorder J[MAXO];
static int NJ;
static uint64_t jsent[4 * MAXO];
static int NJS;

static struct jorder *jfind(uint64_t order_id)
{
    for (int i = NJ - 1; i >= 0; i--)
        if (J[i].order_id == order_id)
            return &J[i];
    return NULL;
}

static int jcb(const desk_jrec_t *r, uint64_t off, void *ctx)
{
    (void)off;
    (void)ctx;
    if (r->head.kind == DESK_JREC_CMD) {
        if (NJS < 4 * MAXO)
            jsent[NJS++] = r->cmd.venue_cl;
        if (r->cmd.type == DESK_CMD_NEW && NJ < MAXO) {
            J[NJ].order_id = r->cmd.order_id;
            J[NJ].venue_cl[0] = r->cmd.venue_cl;
            J[NJ].nvc = 1;
            J[NJ++].filled = 0;
        }
    } else if (r->head.kind == DESK_JREC_EVENT && r->event.type == DESK_EV_FILL &&
               r->event.result == DESK_JEV_APPLIED) {
        struct jorder *o = jfind(r->event.order_id);
        if (o)
            o->filled += r->event.last_qty;
    }
    return 0;
}

static int has_sent(uint64_t vcl)
{
    for (int i = 0; i < NJS; i++)
        if (jsent[i] == vcl)
            return 1;
    return 0;
}

static void test_crash_recovery(void **state)
{
    (void)state;
    const char *lng = getenv("DESK_LONG");
    int trials = lng && *lng && strcmp(lng, "0") != 0 ? 50 : 5;
    const char *sd = getenv("DESK_SEED");
    unsigned seed = sd ? (unsigned)strtoul(sd, NULL, 10) : (unsigned)time(NULL);
    printf("crash_test: %d trials, DESK_SEED=%u\n", trials, seed);

    deskd_start();
    for (int t = 0; t < trials; t++) {
        int ms = 150 + (int)(rand_r(&seed) % 700);
        stream(ms, &seed);
        assert_int_equal(kill(g_deskd, SIGKILL), 0);
        waitpid(g_deskd, NULL, 0);
        desk_detach(C);
        C = NULL;
        deskd_start();
        printf("trial %d: killed after %d ms of orders; restarted\n", t + 1, ms);
    }
    /* Settle: let recovery finish, cancel what is open, let the venue answer. */
    desk_pos_t pos = {.qty = settle()};
    desk_detach(C);
    C = NULL;
    assert_int_equal(kill(g_deskd, SIGTERM), 0);
    int st = 0;
    waitpid(g_deskd, &st, 0);
    g_deskd = -1;
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    read_peer_log(); /* afresh, now that deskd is stopped */
    DIR *d = opendir(g_jdir);
    assert_non_null(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".journal") == NULL)
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", g_jdir, e->d_name);
        assert_true(desk_journal_replay(p, jcb, NULL) > 0);
        files++;
    }
    closedir(d);
    assert_true(files >= 1);

    /* At most once at the venue. */
    assert_int_equal(dup_clid, 0);
    for (int i = 0; i < NACK; i++)
        for (int k = i + 1; k < NACK; k++)
            if (acked[i] == acked[k])
                fail_msg("ClOrdID d%" PRIu64 " acknowledged twice by the venue", acked[i]);
    /* Write-ahead: everything the venue took is in the journal. */
    for (int i = 0; i < NACK; i++)
        if (!has_sent(acked[i]))
            fail_msg("venue acked d%" PRIu64 ", which the journal never recorded", acked[i]);
    /* Fills: per order, deskd's applied fills == the venue's CumQty. */
    int64_t vpos = 0;
    int lost = 0;
    for (int i = 0; i < NV; i++)
        vpos += V[i].side == '1' ? V[i].cum : -V[i].cum;
    for (int i = 0; i < NJ; i++)
        (void)J[i];
    int64_t jpos = 0;
    printf("crash_test: venue acked %d orders; journal holds %d orders, %d commands\n", NACK, NJ,
           NJS);
    /* Match orders through their venue ClOrdID in the peer's acks. */
    FILE *f = fopen(g_pevents, "r");
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *er = strstr(line, "SEND ER NEW ");
        if (er == NULL)
            continue;
        char *p37 = strstr(er, " 37="), *p11 = strstr(er, " 11=d");
        char oid[24];
        sscanf(p37 + 4, "%23s", oid);
        uint64_t vcl = strtoull(p11 + 5, NULL, 10);
        struct vorder *vo = vfind(oid);
        struct jorder *jo = NULL;
        for (int k = 0; k < NJ && !jo; k++)
            if (J[k].venue_cl[0] == vcl)
                jo = &J[k];
        if (jo == NULL)
            continue; /* reported above */
        if (jo->filled != vo->cum) {
            lost++;
            printf("order d%" PRIu64 " (venue %s): venue filled %" PRId64 ", desk %" PRId64 "\n",
                   vcl, oid, vo->cum / DESK_SCALE, jo->filled / DESK_SCALE);
        }
        jpos += vo->side == '1' ? jo->filled : -jo->filled;
    }
    fclose(f);
    printf("crash_test: venue position %" PRId64 ", desk %" PRId64 ", orders off %d\n",
           vpos / DESK_SCALE, pos.qty / DESK_SCALE, lost);
    assert_int_equal(lost, 0);
    assert_true(pos.qty == vpos);
    assert_true(jpos == vpos);
}

static int setup(void **state)
{
    (void)state;
#ifndef DESK_FIX_PEER
    printf("skip: desk-fix-peer was not built (QuickFIX / libquickfix-dev not found)\n");
    exit(77);
#else
    struct stat st;
    if (stat(DESK_FIX_PEER, &st) != 0) {
        printf("skip: desk-fix-peer not built at %s\n", DESK_FIX_PEER);
        exit(77);
    }
#endif
    signal(SIGPIPE, SIG_IGN);
    /* Under ctest's 600 s TIMEOUT, with room for a slow sanitized CI run. */
    alarm(getenv("DESK_LONG") ? 900 : 400);
    snprintf(g_dir, sizeof g_dir, "/tmp/desk-crash-%d", (int)getpid());
    mkdir(g_dir, 0700);
    snprintf(g_name, sizeof g_name, "crash%d", (int)getpid());
    snprintf(g_log, sizeof g_log, "%s/deskd.log", g_dir);
    snprintf(g_pevents, sizeof g_pevents, "%s/peer-events.log", g_dir);
    snprintf(g_toml, sizeof g_toml, "%s/desk.toml", g_dir);
    snprintf(g_jdir, sizeof g_jdir, "%s/journal", g_dir);
    peer_start();
    write_toml();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (C)
        desk_detach(C);
    if (g_deskd > 0) {
        kill(g_deskd, SIGKILL);
        waitpid(g_deskd, NULL, 0);
    }
    if (g_peer > 0) {
        kill(g_peer, SIGTERM);
        waitpid(g_peer, NULL, 0);
    }
    desk_t_unlink_segments(g_name);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_crash_recovery, setup, teardown),
    };
    /* A failed run keeps its folder for a look; a passing one removes it. */
    return desk_t_cleanup_dir(g_dir, cmocka_run_group_tests(tests, NULL, NULL));
}
