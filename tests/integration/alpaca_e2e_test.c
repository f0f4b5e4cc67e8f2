/*
 * alpaca_e2e_test.c - the alpaca connector end to end over TLS: deskd
 * (`desk up`), the connector, desk-alpaca-sim, and this process as the
 * strategy (libdesk: desk_attach, desk_submit_*, desk_poll).
 *
 * Setup: a self-signed certificate made here (OpenSSL API, SAN 127.0.0.1),
 * the simulator on the recorded LOBSTER AMZN day with manual market data
 * (--speed 0; this test steps it with POST /_sim/advance), a desk.toml whose
 * alpaca connector block is written by `desk connect equities` (pointed at
 * the simulator; a second run with the same name must be refused), plus
 * ca_file = the certificate and short timeouts and cool-downs so faults
 * show within seconds; then `desk up`.
 *
 * Every order gets a quantity no other order has, so the simulator's own
 * book (GET /_sim/state) can be matched to the strategy's ledger without
 * knowing deskd's venue ClOrdIDs.  check_books() asserts, after each phase:
 * every client_order_id at the venue is unique; every order the venue
 * accepted for desk (ACK) is there exactly once, and nothing desk rejected
 * is; per order, the quantity filled at the venue (over a replace chain)
 * equals the strategy's cum qty and the sum of its FILL events (no fill
 * lost, none counted twice); the venue's position and cash equal the UTA's
 * in `desk status --json`, exactly.
 *
 * Phases: every order type x time in force; partial fills; cancel; replace
 * (of a resting and of a partially filled order); venue rejects (422
 * sub-penny, 422 fractional limit qty, 403 sell without shares); then each
 * fault switch of the simulator: drop_before, drop_after, stall, delay_ms,
 * err_5xx, err_429, malformed, split_writes, dup_updates, reorder_updates,
 * malformed_updates, drop_streams.  Where a fault must show, the test waits
 * for DEGRADED in `desk status --json` (or the transition in deskd's log),
 * clears it and waits for UP.
 *
 * Crash recovery: orders resting at the venue, others with their POST,
 * DELETE or PATCH held by the simulator (stall), then SIGKILL deskd; while
 * it is down the held requests run and a stop order fills; `desk up` again
 * on the same journal: every order is settled from the venue's answers (no
 * POST sent by the recovery), the missed fill arrives, and the books agree.
 * Reconciliation: a phantom fill at the venue (books changed with no
 * trade_update) shows as a POSITION break for the connector in
 * `desk status --json` ("reconciliation"."breaks"), and clears once the
 * venue's books are put back.  deskd exits 0 on SIGTERM at the end.
 * An alarm bounds the run.  Skips (77) with a reason when the simulator or
 * the recorded data is missing.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/fixed.h"
#include "desk/client.h"
#include "harness.h"

#define DATA DESK_SHARED_DATA "/marketdata/lobster_amzn_2012-06-21"
#define S DESK_SCALE
#define KEY_ID "e2e-key"
#define SECRET "e2e-secret"
#define MAXO 512

static char g_dir[128], g_toml[256], g_log[256], g_name[32];
static pid_t g_sim = -1, g_deskd = -1;
static int g_port;
static SSL_CTX *g_cctx;
static desk_client_t *C;
static uint32_t INST;

/* ------------------------------------------------------------- utilities */

static int64_t fx_str(const char *s)
{
    int64_t x = 0;
    if (s == NULL || desk_fixed_parse_cstr(s, &x) != 0)
        fail_msg("'%s' is not an exact decimal", s ? s : "(null)");
    return x;
}

static int64_t fx(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v))
        fail_msg("'%s' is not a decimal string", key);
    return fx_str(v->valuestring);
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ------------------------------------------------------------ certificate */

static int make_cert(const char *certp, const char *keyp)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509V3_CTX v3;
    int ok = 0;

    if (pk == NULL || x == NULL)
        goto out;
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, n);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
    if (ext == NULL || !X509_add_ext(x, ext, -1)) {
        X509_EXTENSION_free(ext);
        goto out;
    }
    X509_EXTENSION_free(ext);
    if (!X509_sign(x, pk, EVP_sha256()))
        goto out;
    FILE *f = fopen(certp, "w");
    if (f == NULL)
        goto out;
    ok = PEM_write_X509(f, x);
    fclose(f);
    f = fopen(keyp, "w");
    if (f == NULL) {
        ok = 0;
        goto out;
    }
    ok = ok && PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
    fclose(f);
out:
    X509_free(x);
    EVP_PKEY_free(pk);
    return ok ? 0 : -1;
}

/* ------------------------------------------- the simulator's control API */

/* One HTTPS request to the simulator (Connection: close).  Returns the body
 * (malloc'd) and the status in *status, or NULL. */
static char *sim_http(const char *method, const char *path, const char *body, int *status)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    struct timeval tv = {10, 0};
    char *resp = NULL;
    size_t n = 0, cap = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    SSL *ssl = NULL;

    *status = 0;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        goto out;
    ssl = SSL_new(g_cctx);
    SSL_set_fd(ssl, fd);
    SSL_set1_host(ssl, "127.0.0.1");
    if (SSL_connect(ssl) != 1)
        goto out;
    char head[512];
    size_t bl = body ? strlen(body) : 0;
    int hl = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      method, path, g_port, bl);
    if (SSL_write(ssl, head, hl) != hl || (bl && SSL_write(ssl, body, (int)bl) != (int)bl))
        goto out;
    for (;;) {
        if (n + 65536 > cap) {
            cap = cap ? cap * 2 : 1 << 18;
            resp = realloc(resp, cap);
        }
        int r = SSL_read(ssl, resp + n, (int)(cap - n - 1));
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    if (resp == NULL)
        goto out;
    resp[n] = '\0';
    if (sscanf(resp, "HTTP/1.1 %d", status) != 1)
        *status = 0;
    char *b = strstr(resp, "\r\n\r\n");
    if (b == NULL) {
        free(resp);
        resp = NULL;
        goto out;
    }
    memmove(resp, b + 4, strlen(b + 4) + 1);
out:
    if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    close(fd);
    return resp;
}

static cJSON *sim_json(const char *method, const char *path, const char *body)
{
    int st;
    char *b = sim_http(method, path, body, &st);
    if (b == NULL || st != 200)
        fail_msg("simulator %s %s: status %d %s", method, path, st, b ? b : "");
    cJSON *j = cJSON_Parse(b);
    if (j == NULL)
        fail_msg("simulator %s %s: not JSON", method, path);
    free(b);
    return j;
}

static void sim_faults(const char *json)
{
    cJSON_Delete(sim_json("POST", "/_sim/faults", json));
}

static void sim_advance(int n)
{
    char b[64];
    snprintf(b, sizeof b, "{\"events\":%d}", n);
    cJSON_Delete(sim_json("POST", "/_sim/advance", b));
}

/* ------------------------------------------------------------ desk status */

static cJSON *status_json(void)
{
    char out[300];
    snprintf(out, sizeof out, "%s/status.json", g_dir);
    char *argv[] = {DESK_CLI, "status", "-n", g_name, "--json", NULL};
    if (desk_t_run(argv, out, NULL, O_TRUNC) != 0)
        fail_msg("desk status failed (deskd gone?)");
    char *txt = slurp(out);
    cJSON *j = cJSON_Parse(txt);
    if (j == NULL)
        fail_msg("desk status --json is not JSON: %.200s", txt);
    free(txt);
    return j;
}

/* The connector's health word ("UP", "DEGRADED", "DOWN"), copied to buf. */
static const char *health(char *buf, size_t cap)
{
    cJSON *st = status_json();
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(st, "connectors"), 0);
    snprintf(buf, cap, "%s", c ? str(c, "health") : "?");
    cJSON_Delete(st);
    return buf;
}

static void pump_events(int ms);

/* Wait until the connector's health is `want`; returns 1, or 0 on timeout. */
static int wait_health(const char *want, int ms)
{
    char h[32];
    uint64_t end = now_ms() + (uint64_t)ms;
    do {
        if (strcmp(health(h, sizeof h), want) == 0)
            return 1;
        pump_events(50);
    } while (now_ms() < end);
    return 0;
}

static int log_count(const char *needle)
{
    return count_in(g_log, needle);
}

/* ------------------------------------------------- the strategy's ledger */

typedef struct ord {
    uint64_t cl;     /* current ClOrdID (after replaces) */
    uint64_t req;    /* cancel/replace request in flight, 0 if none */
    int64_t qty0;    /* first quantity: unique, the key at the venue */
    int64_t qty;     /* current total quantity */
    int64_t new_qty; /* replace in flight: its total */
    uint8_t side, type, tif;
    int acked, done, rejected, canceled, expired, filled, replaced, cancel_rejects;
    uint16_t reason;  /* REJECT reason */
    int64_t cum;      /* cum_qty from the last event */
    int64_t fill_sum; /* sum of FILL last_qty */
    int nfills;       /* FILL events */
} ord_t;

static ord_t L[MAXO];
static int NL;
static uint64_t g_cl = 1;
static int64_t g_qty = 1;     /* next unique small quantity */
static int64_t g_cash_change; /* strategy's own cash accounting, 1e-8 */
static int64_t g_pos_change;  /* and position */
static int g_unexpected;      /* events for unknown ClOrdIDs */
static int64_t g_cash_tol;    /* allowed |UTA cash - venue cash|, 1e-8 (see drop_streams) */

static ord_t *find(uint64_t cl)
{
    for (int i = 0; i < NL; i++)
        if (L[i].cl == cl || (L[i].req && L[i].req == cl))
            return &L[i];
    return NULL;
}

static void on_event(const desk_event_t *e)
{
    ord_t *o = NULL;

    if (e->type == DESK_EV_REPLACED) {
        for (int i = 0; i < NL && !o; i++)
            if (L[i].cl == e->ref)
                o = &L[i];
    } else {
        o = find(e->cl_ord_id);
    }
    if (o == NULL) {
        g_unexpected++;
        return;
    }
    switch (e->type) {
    case DESK_EV_ACK:
        o->acked = 1;
        break;
    case DESK_EV_REJECT:
        if (e->cl_ord_id == o->cl) {
            o->rejected = 1;
            o->done = 1;
            o->reason = e->reason;
        } else {
            o->req = 0; /* the guard refused a cancel/replace */
            o->cancel_rejects++;
        }
        break;
    case DESK_EV_FILL: {
        int64_t v = 0;
        desk_fixed_mul(e->last_px, e->last_qty, &v);
        g_cash_change += o->side == DESK_BUY ? -v - e->fee : v - e->fee;
        g_pos_change += o->side == DESK_BUY ? e->last_qty : -e->last_qty;
        o->cum = e->cum_qty;
        o->fill_sum += e->last_qty;
        o->nfills++;
        if (e->ord_status == DESK_OS_FILLED) {
            o->filled = 1;
            o->done = 1;
        }
        break;
    }
    case DESK_EV_CANCELED:
        o->canceled = 1;
        o->done = 1;
        o->req = 0;
        break;
    case DESK_EV_EXPIRED:
        o->expired = 1;
        o->done = 1;
        break;
    case DESK_EV_REPLACED:
        o->cl = e->cl_ord_id;
        o->req = 0;
        o->qty = o->new_qty;
        o->replaced++;
        break;
    case DESK_EV_CANCEL_REJECT:
        o->req = 0;
        o->cancel_rejects++;
        break;
    default:
        break;
    }
}

static void pump_events(int ms)
{
    desk_event_t ev[64];
    uint64_t end = now_ms() + (uint64_t)ms;
    do {
        int n = desk_poll(C, ev, 64);
        for (int i = 0; i < n; i++)
            on_event(&ev[i]);
        if (n == 0)
            msleep(2);
    } while (now_ms() < end);
}

/* A two-sided quote published by deskd after `after_ns` (desk_now_ns(),
 * CLOCK_MONOTONIC like now_ms()); 0: any. */
static desk_quote_t quote_after(uint64_t after_ns)
{
    desk_quote_t q;
    uint64_t end = now_ms() + 20000;
    while (desk_quote(C, INST, &q) != 0 || q.bid_px <= 0 || q.ask_px <= 0 ||
           q.recv_ns <= after_ns) {
        if (now_ms() > end)
            fail_msg("no %squote from the alpaca connector", after_ns ? "new " : "");
        pump_events(50);
    }
    return q;
}

static desk_quote_t quote(void)
{
    return quote_after(0);
}

/* The venue's quote after the market moved (the caller's sim_advance has
 * returned): two quote polls published after now.  The first may answer a
 * request sent before the move; the connector has one quote request in
 * flight at a time, so the second was asked after the first was answered. */
static desk_quote_t fresh_quote(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    desk_quote_t q = quote_after((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
    return quote_after(q.recv_ns);
}

static ord_t *submit(uint8_t side, uint8_t type, uint8_t tif, int64_t qty, int64_t px, int64_t stop)
{
    assert_true(NL < MAXO);
    ord_t *o = &L[NL++];
    memset(o, 0, sizeof *o);
    o->cl = g_cl++;
    o->qty0 = o->qty = qty;
    o->side = side;
    o->type = type;
    o->tif = tif;
    int rc;
    while ((rc = desk_submit_new(C, o->cl, INST, side, type, tif, qty, px, stop)) == -EAGAIN)
        pump_events(1);
    assert_int_equal(rc, 0);
    return o;
}

static int64_t uniq(void)
{
    return (g_qty++) * S;
}

static void cancel(ord_t *o)
{
    o->req = g_cl++;
    while (desk_submit_cancel(C, o->req, o->cl) == -EAGAIN)
        pump_events(1);
}

static void replace(ord_t *o, int64_t qty, int64_t px)
{
    o->req = g_cl++;
    o->new_qty = qty;
    while (desk_submit_replace(C, o->req, o->cl, qty, px) == -EAGAIN)
        pump_events(1);
}

/* Wait for a condition on o, pumping events; fails with `what` on timeout. */
#define WAIT_FOR(cond, ms, ...)                                                                    \
    do {                                                                                           \
        uint64_t end_ = now_ms() + (ms);                                                           \
        while (!(cond)) {                                                                          \
            if (now_ms() > end_)                                                                   \
                fail_msg(__VA_ARGS__);                                                             \
            pump_events(10);                                                                       \
        }                                                                                          \
    } while (0)

/* Cancel every open order of the ledger and wait until each is done. */
static void cancel_open(int ms)
{
    for (int i = 0; i < NL; i++)
        if (L[i].acked && !L[i].done && L[i].req == 0)
            cancel(&L[i]);
    for (int i = 0; i < NL; i++)
        WAIT_FOR(L[i].done || !L[i].acked || (L[i].req == 0 && L[i].cancel_rejects), ms,
                 "order qty %lld never finished after its cancel", (long long)(L[i].qty0 / S));
}

/* ---------------------------------------------------------- book checks */

/*
 * The venue's books against the ledger and the UTA (see the file comment).
 * `settled`: every order of the ledger is done or resting, nothing in flight.
 */
/* Decimal string `key` of o into *v; 0, or -1 if absent (no failure). */
static int fx_try(const cJSON *o, const char *key, int64_t *v)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(j) && desk_fixed_parse_cstr(j->valuestring, v) == 0 ? 0 : -1;
}

/* 1 when the UTA in `st` holds the strategy's own position and cash and the
 * venue (`sim`) agrees with it: the state check_books() asserts. */
static int books_settled(const cJSON *sim, const cJSON *st)
{
    const cJSON *uta = cJSON_GetObjectItemCaseSensitive(st, "uta");
    const cJSON *pos = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(uta, "positions"), 0);
    int64_t uq, uc, vq, vc;
    if (fx_try(pos, "qty", &uq) || fx_try(uta, "cash", &uc) ||
        fx_try(cJSON_GetObjectItemCaseSensitive(sim, "position"), "qty", &vq) ||
        fx_try(sim, "cash", &vc))
        return 0;
    return uq == g_pos_change && uc - 10000000 * S == g_cash_change && vq == uq &&
           uc - vc <= g_cash_tol && vc - uc <= g_cash_tol;
}

static void check_books(const char *phase)
{
    /* The last updates and status intervals: wait (bounded) until the UTA
     * shows the strategy's fills and the venue agrees, then check it all. */
    cJSON *sim = NULL, *st = NULL;
    uint64_t end = now_ms() + 20000;
    for (;;) {
        pump_events(50);
        st = status_json();
        sim = sim_json("GET", "/_sim/state", NULL);
        if (books_settled(sim, st) || now_ms() > end)
            break;
        cJSON_Delete(st);
        cJSON_Delete(sim);
    }
    cJSON *orders = cJSON_GetObjectItemCaseSensitive(sim, "orders");
    int n = cJSON_GetArraySize(orders);

    /* client_order_ids are unique at the venue. */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(str(cJSON_GetArrayItem(orders, i), "client_order_id"),
                       str(cJSON_GetArrayItem(orders, j), "client_order_id")) == 0)
                fail_msg("%s: client_order_id %s twice at the venue", phase,
                         str(cJSON_GetArrayItem(orders, i), "client_order_id"));
    for (int k = 0; k < NL; k++) {
        ord_t *o = &L[k];
        const cJSON *root = NULL;
        int roots = 0;
        for (int i = 0; i < n; i++) {
            const cJSON *so = cJSON_GetArrayItem(orders, i);
            const cJSON *rp = cJSON_GetObjectItemCaseSensitive(so, "replaces");
            if (!cJSON_IsNull(rp) || fx(so, "qty") != o->qty0)
                continue;
            if (strcmp(str(so, "side"), o->side == DESK_BUY ? "buy" : "sell") != 0)
                continue;
            root = so;
            roots++;
        }
        if (o->acked && roots != 1)
            fail_msg("%s: order qty %lld (ACKed by desk) is at the venue %d times", phase,
                     (long long)(o->qty0 / S), roots);
        if (!o->acked && o->rejected && roots != 0)
            fail_msg("%s: order qty %lld rejected by desk (reason %u) exists at the venue", phase,
                     (long long)(o->qty0 / S), o->reason);
        if (!o->acked && !o->rejected)
            fail_msg("%s: order qty %lld has no answer from desk", phase, (long long)(o->qty0 / S));
        if (root == NULL)
            continue;
        /* Sum filled over the replace chain. */
        int64_t filled = 0;
        int hops = 0;
        const cJSON *so = root;
        while (so && hops++ < 16) {
            filled += fx(so, "filled_qty");
            const cJSON *nb = cJSON_GetObjectItemCaseSensitive(so, "replaced_by");
            const cJSON *next = NULL;
            if (cJSON_IsString(nb))
                for (int i = 0; i < n && !next; i++)
                    if (strcmp(str(cJSON_GetArrayItem(orders, i), "id"), nb->valuestring) == 0)
                        next = cJSON_GetArrayItem(orders, i);
            so = next;
        }
        if (filled != o->cum || filled != o->fill_sum)
            fail_msg("%s: order qty %lld: venue filled %lld, desk cum %lld, fills sum %lld", phase,
                     (long long)(o->qty0 / S), (long long)filled, (long long)o->cum,
                     (long long)o->fill_sum);
    }
    /* Position and cash: venue == UTA == the strategy's own accounting. */
    const cJSON *uta = cJSON_GetObjectItemCaseSensitive(st, "uta");
    const cJSON *pos = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(uta, "positions"), 0);
    const cJSON *spos = cJSON_GetObjectItemCaseSensitive(sim, "position");
    int64_t sim_cash = fx(sim, "cash"), uta_cash = fx(uta, "cash");
    int64_t dcash = uta_cash - sim_cash;
    if (fx(pos, "qty") != fx(spos, "qty") || dcash > g_cash_tol || -dcash > g_cash_tol)
        fail_msg("%s: UTA position %s cash %s, venue position %s cash %s", phase, str(pos, "qty"),
                 str(uta, "cash"), str(spos, "qty"), str(sim, "cash"));
    assert_true(fx(spos, "qty") == g_pos_change);
    assert_true(uta_cash - 10000000 * S == g_cash_change);
    assert_int_equal(g_unexpected, 0);
    printf("%s: books agree (%d venue orders, position %s, cash %s)\n", phase, n, str(spos, "qty"),
           str(sim, "cash"));
    cJSON_Delete(st);
    cJSON_Delete(sim);
}

/* ------------------------------------------------------------ setup */

static int setup(void **state)
{
    (void)state;
    struct stat stt;
    char cert[192], key[192], pf[192], simlog[192];

    if (stat(DESK_ALPACA_SIM, &stt) != 0) {
        printf("skip: simulator not built at %s\n", DESK_ALPACA_SIM);
        exit(77);
    }
    if (stat(DATA, &stt) != 0) {
        printf("skip: no recorded data at %s (run tools/fetch-data.sh)\n", DATA);
        exit(77);
    }
    signal(SIGPIPE, SIG_IGN);
    alarm(540); /* the whole run, sanitizers included (ctest TIMEOUT is 600) */
    snprintf(g_dir, sizeof g_dir, "/tmp/desk-alpaca-e2e-%d", (int)getpid());
    mkdir(g_dir, 0700);
    snprintf(cert, sizeof cert, "%s/cert.pem", g_dir);
    snprintf(key, sizeof key, "%s/key.pem", g_dir);
    snprintf(pf, sizeof pf, "%s/port", g_dir);
    snprintf(simlog, sizeof simlog, "%s/sim.log", g_dir);
    assert_int_equal(make_cert(cert, key), 0);
    g_cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(g_cctx, SSL_VERIFY_PEER, NULL);
    assert_int_equal(SSL_CTX_load_verify_locations(g_cctx, cert, NULL), 1);

    char *sargv[] = {DESK_ALPACA_SIM,
                     "--cert",
                     cert,
                     "--key",
                     key,
                     "--port-file",
                     pf,
                     "--data",
                     DATA,
                     "--speed",
                     "0",
                     "--key-id",
                     KEY_ID,
                     "--secret",
                     SECRET,
                     "--cash",
                     "10000000",
                     "--rate-limit",
                     "0",
                     NULL};
    g_sim = desk_t_spawn(sargv, NULL, simlog, 0);
    assert_true(g_sim > 0);
    for (int i = 0; i < 300 && g_port == 0; i++) {
        FILE *f = fopen(pf, "r");
        if (f) {
            if (fscanf(f, "%d", &g_port) != 1)
                g_port = 0;
            fclose(f);
        }
        if (g_port == 0)
            msleep(100);
    }
    assert_true(g_port > 0);

    snprintf(g_name, sizeof g_name, "alpe2e%d", (int)getpid());
    snprintf(g_toml, sizeof g_toml, "%s/desk.toml", g_dir);
    /* desk.toml: [desk], then the connector block written by `desk connect`
     * itself (pointed at the simulator), then this test's extra options
     * (they land in that block's [connector.options], the file's last
     * table), the instrument and the strategy. */
    FILE *f = fopen(g_toml, "w");
    assert_non_null(f);
    fprintf(f, "[desk]\nname = \"%s\"\nidle = \"backoff\"\nstatus_interval_ms = 50\n", g_name);
    fclose(f);
    char url[64], out[256];
    snprintf(url, sizeof url, "https://127.0.0.1:%d", g_port);
    snprintf(out, sizeof out, "%s/connect.txt", g_dir);
    char *cargv[] = {DESK_CLI,        "connect",    "equities", "--name", "alp",  "--env-prefix",
                     "DESK_E2E_APCA", "--base-url", url,        "-c",     g_toml, NULL};
    assert_int_equal(desk_t_run(cargv, out, NULL, O_TRUNC), 0);
    assert_int_equal(desk_t_run(cargv, out, NULL, O_TRUNC), 2); /* the same name again is refused */
    f = fopen(g_toml, "a");
    assert_non_null(f);
    fprintf(f, "ca_file = \"cert.pem\"\nrequest_timeout_ms = 1000\nconnect_timeout_ms = 2000\n"
               "account_interval_ms = 250\nquote_interval_ms = 250\nbreaker_failures = 3\n"
               "reconcile_interval_ms = 500\n"
               "breaker_cooldown_ms = 800\nreconnect_ms = 100\nreconnect_max_ms = 800\n"
               "ping_interval_ms = 1000\npong_timeout_ms = 3000\nmax_attempts = 4\n\n"
               "[[instrument]]\nsymbol = \"AMZN\"\nvenue = \"alp\"\nasset_class = \"equity\"\n"
               "tick_size = \"0.0001\"\nlot_size = \"0.5\"\n\n"
               "[[strategy]]\nname = \"t\"\n");
    fclose(f);
    setenv("DESK_E2E_APCA_API_KEY_ID", KEY_ID, 1);
    setenv("DESK_E2E_APCA_API_SECRET_KEY", SECRET, 1);
    snprintf(g_log, sizeof g_log, "%s/deskd.log", g_dir);
    char *dargv[] = {DESK_CLI, "up", "-c", g_toml, NULL};
    g_deskd = desk_t_spawn(dargv, NULL, g_log, 0);
    assert_true(g_deskd > 0);
    int rc = -1;
    for (int i = 0; i < 300 && rc != 0; i++) {
        msleep(100);
        rc = desk_attach(&C, g_name, "t");
    }
    if (rc != 0) {
        char *log = slurp(g_log);
        fprintf(stderr, "deskd did not come up (%s):\n%s\n", desk_client_errmsg(), log ? log : "");
        free(log);
        return -1;
    }
    INST = (uint32_t)desk_instrument_find(C, "AMZN", NULL);
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
    if (g_sim > 0) {
        kill(g_sim, SIGTERM);
        waitpid(g_sim, NULL, 0);
    }
    SSL_CTX_free(g_cctx);
    return 0;
}

/* ---------------------------------------------------------------- tests */

static void test_up_and_account(void **state)
{
    (void)state;
    if (!wait_health("UP", 30000)) {
        char *log = slurp(g_log);
        fail_msg("connector not UP; deskd log:\n%s", log ? log : "");
    }
    desk_account_t acct;
    WAIT_FOR(desk_account(C, &acct) == 0, 20000, "no UTA snapshot");
    assert_true(acct.cash == 10000000 * S); /* the venue's cash, from GET /v2/account */
    (void)quote();
    check_books("start");
}

/* Every order type x time in force, small buys with unique quantities. */
static void test_types_and_tifs(void **state)
{
    (void)state;
    static const uint8_t types[] = {DESK_MARKET, DESK_LIMIT, DESK_STOP, DESK_STOP_LIMIT};
    static const uint8_t tifs[] = {DESK_DAY, DESK_GTC, DESK_IOC, DESK_FOK};
    ord_t *o[16];
    desk_quote_t q = quote();

    for (int t = 0; t < 4; t++)
        for (int f = 0; f < 4; f++) {
            int64_t px = 0, stop = 0;
            if (types[t] == DESK_LIMIT)
                px = q.bid_px - 100 * S; /* far below: rests (IOC/FOK: end at once) */
            if (types[t] == DESK_STOP || types[t] == DESK_STOP_LIMIT)
                stop = q.ask_px + 500 * S; /* never triggers in this data */
            if (types[t] == DESK_STOP_LIMIT)
                px = stop + S;
            o[t * 4 + f] = submit(DESK_BUY, types[t], tifs[f], uniq(), px, stop);
        }
    for (int i = 0; i < 16; i++)
        WAIT_FOR(o[i]->acked || o[i]->rejected, 20000, "order %d: no ACK", i);
    for (int i = 0; i < 16; i++)
        if (!o[i]->acked)
            fail_msg("order %d (type %u tif %u) not accepted: reason %u", i, o[i]->type, o[i]->tif,
                     o[i]->reason);
    /* Market orders of a few shares fill at once at the ask. */
    for (int f = 0; f < 4; f++)
        WAIT_FOR(o[f]->filled, 20000, "market order tif %u did not fill", o[f]->tif);
    /* Limit far from the market: IOC is canceled, FOK expires, DAY/GTC rest. */
    WAIT_FOR(o[6]->canceled, 20000, "limit IOC not canceled");
    WAIT_FOR(o[7]->expired, 20000, "limit FOK not expired");
    assert_false(o[4]->done);
    assert_false(o[5]->done);
    cancel_open(20000);
    assert_true(o[4]->canceled && o[5]->canceled);
    check_books("types x tifs");
}

/* Partial fills, a stop that triggers, cancel, and replace. */
static void test_fills_cancel_replace(void **state)
{
    (void)state;
    desk_quote_t q = quote();
    int64_t big = q.ask_qty + 37 * S + uniq(); /* more than the touch offers */

    /* A market DAY buy larger than the ask size: one fill now, more as the
     * market moves. */
    ord_t *m = submit(DESK_BUY, DESK_MARKET, DESK_DAY, big, 0, 0);
    WAIT_FOR(m->nfills >= 1, 20000, "market order: no first fill");
    assert_true(m->cum < m->qty); /* partial */
    for (int i = 0; i < 200 && !m->filled; i++) {
        sim_advance(20);
        pump_events(20);
    }
    WAIT_FOR(m->filled, 20000, "market order: not filled as the market moved");
    assert_true(m->nfills >= 2);

    /* A limit at the ask, partly filled at once, then replaced (lower px,
     * new total) and canceled: the chain keeps cum right.  A fresh quote
     * (untouched by our orders) first. */
    sim_advance(5);
    q = fresh_quote();
    ord_t *l = submit(DESK_BUY, DESK_LIMIT, DESK_GTC, q.ask_qty + 11 * S + uniq(), q.ask_px, 0);
    WAIT_FOR(l->nfills >= 1, 20000, "marketable limit: no fill");
    int64_t cum0 = l->cum;
    assert_true(cum0 > 0 && cum0 < l->qty);
    replace(l, l->qty + 3 * S, q.bid_px - 30 * S);
    WAIT_FOR(l->replaced || l->cancel_rejects, 20000, "replace: no answer");
    assert_int_equal(l->replaced, 1);
    assert_true(l->cum == cum0);
    cancel(l);
    WAIT_FOR(l->canceled, 20000, "replaced order: cancel not done");

    /* A resting limit replaced twice, then canceled. */
    ord_t *r = submit(DESK_BUY, DESK_LIMIT, DESK_DAY, uniq(), q.bid_px - 40 * S, 0);
    WAIT_FOR(r->acked, 20000, "resting limit: no ACK");
    replace(r, r->qty + 500 * S, q.bid_px - 39 * S);
    WAIT_FOR(r->replaced == 1, 20000, "first replace not done");
    replace(r, r->qty + 600 * S, q.bid_px - 38 * S);
    WAIT_FOR(r->replaced == 2, 20000, "second replace not done");
    cancel(r);
    WAIT_FOR(r->canceled, 20000, "cancel not done");

    /* A stop buy below the market triggers on the next trade and fills as a
     * market order; a stop-limit likewise. */
    q = fresh_quote();
    ord_t *s1 = submit(DESK_BUY, DESK_STOP, DESK_DAY, uniq(), 0, q.bid_px - 50 * S);
    ord_t *s2 =
        submit(DESK_BUY, DESK_STOP_LIMIT, DESK_GTC, uniq(), q.ask_px + 5 * S, q.bid_px - 50 * S);
    WAIT_FOR(s1->acked && s2->acked, 20000, "stops: no ACK");
    for (int i = 0; i < 300 && !(s1->filled && s2->filled); i++) {
        sim_advance(10);
        pump_events(10);
    }
    WAIT_FOR(s1->filled && s2->filled, 20000, "stops: not filled as the market moved");

    /* Sell some of what we bought. */
    ord_t *sl = submit(DESK_SELL, DESK_MARKET, DESK_IOC, uniq(), 0, 0);
    WAIT_FOR(sl->done, 20000, "sell: not done");
    assert_true(sl->cum > 0);
    check_books("fills, cancel, replace");
}

/* What the venue refuses comes back as REJECT (reason VENUE) and is not at
 * the venue. */
static void test_venue_rejects(void **state)
{
    (void)state;
    desk_quote_t q = quote();
    /* 422 42210000: sub-penny price (desk's tick here is 0.0001). */
    ord_t *a = submit(DESK_BUY, DESK_LIMIT, DESK_DAY, uniq(), q.bid_px - 10 * S - 30000, 0);
    /* 422 40010001: a fractional quantity for a limit order. */
    ord_t *b = submit(DESK_BUY, DESK_LIMIT, DESK_DAY, uniq() + S / 2, q.bid_px - 10 * S, 0);
    /* 403 40310000: selling far more than the position (no shorting). */
    ord_t *c = submit(DESK_SELL, DESK_MARKET, DESK_DAY, 900000 * S + uniq(), 0, 0);
    WAIT_FOR(a->done && b->done && c->done, 20000, "venue rejects: no answer");
    assert_true(a->rejected && b->rejected && c->rejected);
    assert_int_equal(a->reason, DESK_REJ_VENUE);
    assert_int_equal(b->reason, DESK_REJ_VENUE);
    assert_int_equal(c->reason, DESK_REJ_VENUE);
    check_books("venue rejects");
}

/* Turn `fault` on (NULL: none) and at once place a few resting orders and
 * a fill; returns the first index of the phase's orders in the ledger.  The
 * market moves first: a fault counted in requests ("the next N") must meet
 * the orders, not the connector's background requests (heartbeat, quotes,
 * account reports) made while this test talks to the simulator. */
static int phase_orders(const char *fault, int resting, int fills)
{
    int first = NL;
    desk_quote_t q = quote();
    if (fills)
        sim_advance(3); /* a fresh touch for the market orders */
    if (fault)
        sim_faults(fault);
    for (int i = 0; i < resting; i++)
        submit(DESK_BUY, DESK_LIMIT, DESK_GTC, uniq(), q.bid_px - (60 + NL % 10) * S, 0);
    for (int i = 0; i < fills; i++)
        submit(DESK_BUY, DESK_MARKET, DESK_IOC, uniq(), 0, 0);
    return first;
}

/* Every order of the phase answered (ACK/REJECT), fills done. */
static void phase_settle(int first, int ms)
{
    for (int i = first; i < NL; i++)
        WAIT_FOR(L[i].acked || L[i].rejected, ms, "order qty %lld: never answered",
                 (long long)(L[i].qty0 / S));
    for (int i = first; i < NL; i++)
        if (L[i].type == DESK_MARKET)
            WAIT_FOR(L[i].done, ms, "market order qty %lld never finished",
                     (long long)(L[i].qty0 / S));
}

static void end_phase(const char *name)
{
    sim_faults("{\"reset\":true}");
    if (!wait_health("UP", 30000)) {
        char *log = slurp(g_log);
        fail_msg("%s: connector not UP again; log:\n%s", name, log ? log : "");
    }
    cancel_open(20000);
    check_books(name);
}

/* The connector turned DEGRADED since the log held `before` DEGRADED
 * transitions.  Sampled health can miss a short DEGRADED spell on a loaded
 * machine (a 429 run is over within the Retry-After second), so the log's
 * transition lines count too: either is a real transition. */
static void expect_degraded(const char *name, int before, int ms)
{
    char h[32];
    uint64_t end = now_ms() + (uint64_t)ms;
    do {
        if (strcmp(health(h, sizeof h), "DEGRADED") == 0 || log_count(": DEGRADED (") > before)
            return;
        pump_events(50);
    } while (now_ms() < end);
    char *log = slurp(g_log);
    fail_msg("%s: the connector never turned DEGRADED; log:\n%s", name, log ? log : "");
}

/* Every order of the phase was accepted; a refusal names its reason. */
static void expect_acked(const char *name, int first)
{
    for (int i = first; i < NL; i++)
        if (!L[i].acked)
            fail_msg("%s: order qty %lld was refused (reason %u)", name, (long long)(L[i].qty0 / S),
                     L[i].reason);
}

static void test_fault_drop_before(void **state)
{
    (void)state;
    assert_true(wait_health("UP", 30000));
    /* POSTs closed unanswered, not run: settled, sent again. */
    int first = phase_orders("{\"drop_before\":3}", 2, 1);
    phase_settle(first, 30000);
    expect_acked("drop_before", first); /* resent under the same client_order_id */
    end_phase("drop_before");
}

static void test_fault_drop_after(void **state)
{
    (void)state;
    assert_true(wait_health("UP", 30000));
    /* Run, reply lost: settled by GET, never sent twice. */
    int first = phase_orders("{\"drop_after\":3}", 2, 1);
    phase_settle(first, 30000);
    expect_acked("drop_after", first);
    end_phase("drop_after");
}

static void test_fault_stall(void **state)
{
    (void)state;
    assert_true(wait_health("UP", 30000));
    int deg0 = log_count(": DEGRADED (");
    int first = phase_orders("{\"stall\":true}", 2, 0);
    expect_degraded("stall", deg0, 20000);
    sim_faults("{\"stall\":false}");
    phase_settle(first, 30000);
    end_phase("stall");
}

static void test_fault_delay(void **state)
{
    (void)state;
    assert_true(wait_health("UP", 30000));
    int deg0 = log_count(": DEGRADED (");
    int first = phase_orders("{\"delay_ms\":1500}", 1, 0); /* longer than request_timeout_ms */
    expect_degraded("delay", deg0, 20000);
    sim_faults("{\"delay_ms\":0}");
    phase_settle(first, 30000);
    end_phase("delay");
}

static void test_fault_5xx(void **state)
{
    (void)state;
    assert_true(wait_health("UP", 30000));
    int deg0 = log_count(": DEGRADED (");
    /* 5xx to a POST: ambiguous, settled.  Eight: the breaker opens after
     * three in a row, and an answer (200) to a request made before the fault
     * can land between the first ones and restart the count (as for 429). */
    int first = phase_orders("{\"err_5xx\":8,\"status_5xx\":503}", 1, 1);
    expect_degraded("5xx", deg0, 20000);
    phase_settle(first, 30000);
    end_phase("5xx");
}

static void test_fault_429(void **state)
{
    (void)state;
    assert_true(wait_health("UP", 30000));
    cJSON *s0 = sim_json("GET", "/_sim/state", NULL);
    double rl0 = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s0, "counters"),
                                                  "rate_limited")
                     ->valuedouble;
    cJSON_Delete(s0);
    int deg0 = log_count(": DEGRADED (");
    /* Eight 429s: the breaker opens after three in a row, and on a loaded
     * machine an answer to a request made before the fault (a 200) can land
     * between the first ones and restart the count. */
    int first = phase_orders("{\"err_429\":8}", 1, 1); /* 429: not run, resent after Retry-After */
    expect_degraded("429", deg0, 20000);
    phase_settle(first, 30000);
    expect_acked("429", first);
    cJSON *s1 = sim_json("GET", "/_sim/state", NULL);
    double rl1 = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s1, "counters"),
                                                  "rate_limited")
                     ->valuedouble;
    cJSON_Delete(s1);
    assert_true(rl1 - rl0 == 8);
    end_phase("429");
}

static void test_fault_malformed(void **state)
{
    (void)state;
    assert_true(wait_health("UP", 30000));
    int first = phase_orders("{\"malformed\":3}", 2, 1); /* a cut 200 body: ambiguous, settled */
    phase_settle(first, 30000);
    expect_acked("malformed", first);
    end_phase("malformed");
}

static void test_fault_split_writes(void **state)
{
    (void)state;
    assert_true(wait_health("UP", 30000));
    /* One TLS record per byte, both ways of the API. */
    int first = phase_orders("{\"split_writes\":true}", 1, 2);
    phase_settle(first, 30000);
    expect_acked("split_writes", first);
    end_phase("split_writes");
}

/* Duplicated, reordered and garbled trade_updates: fills counted once. */
static void stream_fault(const char *name, const char *json)
{
    assert_true(wait_health("UP", 30000));
    sim_faults(json);
    desk_quote_t q = quote();
    ord_t *m = submit(DESK_BUY, DESK_MARKET, DESK_DAY, q.ask_qty + 7 * S + uniq(), 0, 0);
    int first = (int)(m - L);
    phase_orders(NULL, 2, 2);
    for (int i = 0; i < 200 && !m->filled; i++) {
        sim_advance(20);
        pump_events(20);
    }
    WAIT_FOR(m->filled, 20000, "%s: market order not filled as the market moved", name);
    phase_settle(first, 30000);
    end_phase(name);
}

static void test_fault_dup_updates(void **state)
{
    (void)state;
    stream_fault("dup_updates", "{\"dup_updates\":true}");
}

static void test_fault_reorder_updates(void **state)
{
    (void)state;
    stream_fault("reorder_updates", "{\"reorder_updates\":true}");
}

static void test_fault_malformed_updates(void **state)
{
    (void)state;
    stream_fault("malformed_updates", "{\"malformed_updates\":6}");
}

/* The stream is dropped while an order fills: the fill comes back through
 * the reconciliation after the reconnect. */
static void test_fault_drop_streams(void **state)
{
    (void)state;
    assert_true(wait_health("UP", 30000));
    int lost0 = log_count("trade_updates stream lost");
    int live0 = log_count("trade_updates stream live");
    desk_quote_t q = quote();
    ord_t *m = submit(DESK_BUY, DESK_MARKET, DESK_DAY, q.ask_qty + 5 * S + uniq(), 0, 0);
    for (int i = 0; i < 100 && m->nfills == 0; i++) {
        sim_advance(1); /* the touch may be used up by earlier orders */
        pump_events(20);
    }
    WAIT_FOR(m->nfills >= 1, 20000, "no first fill");
    sim_faults("{\"drop_streams\":true}");
    for (int i = 0; i < 100; i++)
        sim_advance(20); /* fills while the stream is down (or coming back) */
    WAIT_FOR(m->filled, 20000, "fill made while the stream was down never arrived");
    if (!wait_health("UP", 30000))
        fail_msg("drop_streams: not UP again");
    /* Fills missed by the stream come back from the order's snapshot as one
     * catch-up fill priced at the venue's filled_avg_price (rounded at 1e-8),
     * so from here on cash may differ from the venue's sum of executions by
     * rounding: at most 1e-8 per share of the order. */
    g_cash_tol = m->qty / S * 2;
    assert_true(log_count("trade_updates stream lost") > lost0);
    assert_true(log_count("trade_updates stream live") > live0);
    assert_true(log_count("DEGRADED (trade_updates") > 0);
    end_phase("drop_streams");
}

/* ------------------------------------------------------ crash recovery */


/* A counter of GET /_sim/state. */
static double sim_counter(const char *name)
{
    cJSON *s = sim_json("GET", "/_sim/state", NULL);
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s, "counters"), name);
    double x = cJSON_IsNumber(v) ? v->valuedouble : -1;
    cJSON_Delete(s);
    return x;
}

/* Counter `name` of the connector in desk status --json (its "connectors"
 * entry: "routed", "cmds", ...). */
static uint64_t conn_counter(const char *name)
{
    cJSON *st = status_json();
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(st, "connectors"), 0);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, name);
    if (!cJSON_IsNumber(v))
        fail_msg("desk status: connector has no counter '%s'", name);
    uint64_t x = (uint64_t)v->valuedouble;
    cJSON_Delete(st);
    return x;
}

/* With deskd down, wait until the requests the venue held have run: its
 * request and POST counters stay unchanged for a full second (a held request
 * runs within 10 ms of the stall's end).  Bounded. */
static void wait_sim_quiet(void)
{
    double req = -1, posts = -1;
    uint64_t since = now_ms(), end = now_ms() + 20000;
    while (now_ms() < since + 1000) {
        cJSON *st = sim_json("GET", "/_sim/state", NULL);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(st, "counters");
        double r = cJSON_GetObjectItemCaseSensitive(c, "requests")->valuedouble;
        double p = cJSON_GetObjectItemCaseSensitive(c, "post_orders")->valuedouble;
        cJSON_Delete(st);
        if (r != req || p != posts) {
            req = r;
            posts = p;
            since = now_ms();
        }
        if (now_ms() > end)
            fail_msg("the venue's requests never stopped (deskd is down)");
        msleep(50);
    }
}

/* 1 if the venue's first order of ledger entry o (its root) is `status`. */
static int venue_status_is(const ord_t *o, const char *status)
{
    cJSON *s = sim_json("GET", "/_sim/state", NULL);
    const cJSON *orders = cJSON_GetObjectItemCaseSensitive(s, "orders"), *so;
    int hit = 0;
    cJSON_ArrayForEach(so, orders)
    {
        if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(so, "replaces")) &&
            fx(so, "qty") == o->qty0 && strcmp(str(so, "status"), status) == 0)
            hit = 1;
    }
    cJSON_Delete(s);
    return hit;
}

/*
 * SIGKILL deskd with orders resting at the venue and requests held by it
 * (stall), let the venue act while deskd is down, start deskd again on the
 * same journal and check that the recovery settled every order from the
 * venue's answers, POSTed nothing, and brought the missed fill.
 */
static void test_crash_recovery(void **state)
{
    (void)state;
    assert_true(wait_health("UP", 30000));
    desk_quote_t q = quote();
    ord_t *rest = submit(DESK_BUY, DESK_LIMIT, DESK_GTC, uniq(), q.bid_px - 70 * S, 0);
    ord_t *stop = submit(DESK_BUY, DESK_STOP, DESK_DAY, uniq(), 0, q.bid_px - 50 * S);
    ord_t *cx = submit(DESK_BUY, DESK_LIMIT, DESK_GTC, uniq(), q.bid_px - 71 * S, 0);
    ord_t *rp = submit(DESK_BUY, DESK_LIMIT, DESK_GTC, uniq(), q.bid_px - 72 * S, 0);
    WAIT_FOR(rest->acked && stop->acked && cx->acked && rp->acked, 20000, "crash: no ACKs");
    /* In flight at the crash: a replace, a cancel and a NEW, held by the
     * venue (or still queued in the connector if no connection was free:
     * the outcome differs, and either must settle right). */
    sim_faults("{\"stall\":true}");
    uint64_t routed0 = conn_counter("routed"), cmds0 = conn_counter("cmds");
    replace(rp, rp->qty + 4 * S, q.bid_px - 74 * S);
    cancel(cx);
    ord_t *pn = submit(DESK_BUY, DESK_LIMIT, DESK_GTC, uniq(), q.bid_px - 73 * S, 0);
    /* Journaled and handed to the connector: the router counts a command
     * routed once its journal record is durable. */
    uint64_t end = now_ms() + 20000;
    while (conn_counter("routed") < routed0 + 3) {
        if (now_ms() > end)
            fail_msg("crash: the replace, cancel and NEW were never routed");
        pump_events(50);
    }
    /* Usually also taken by the connector and sent (then held by the venue);
     * not required: a command still queued must settle right too. */
    end = now_ms() + 5000;
    while (conn_counter("cmds") < cmds0 + 3 && now_ms() < end)
        pump_events(50);
    pump_events(100); /* a moment to write them out; either outcome is fine */
    assert_int_equal(kill(g_deskd, SIGKILL), 0);
    waitpid(g_deskd, NULL, 0);
    g_deskd = -1;
    desk_detach(C);
    C = NULL;

    /* deskd is down: the held requests run now, and the stop triggers and
     * fills as the market moves. */
    sim_faults("{\"stall\":false}");
    wait_sim_quiet();
    for (int i = 0; i < 300 && !venue_status_is(stop, "filled"); i++)
        sim_advance(10);
    assert_true(venue_status_is(stop, "filled"));
    double posts = sim_counter("post_orders");

    int handed0 = log_count("recovered order(s) handed over");
    desk_t_unlink_segments(g_name);
    char *dargv[] = {DESK_CLI, "up", "-c", g_toml, NULL};
    g_deskd = desk_t_spawn(dargv, NULL, g_log, 0);
    assert_true(g_deskd > 0);
    int rc = -1;
    for (int i = 0; i < 600 && rc != 0; i++) {
        msleep(50);
        rc = desk_attach(&C, g_name, "t");
    }
    if (rc != 0)
        fail_msg("deskd did not come back: %s", desk_client_errmsg());
    INST = (uint32_t)desk_instrument_find(C, "AMZN", NULL);
    if (!wait_health("UP", 30000)) {
        char *log = slurp(g_log);
        fail_msg("after the restart the connector is not UP; log:\n%s", log ? log : "");
    }
    /* Every order settled by the venue's answers: nothing left pending. */
    for (int i = 0; i < NL; i++)
        WAIT_FOR((L[i].acked || L[i].rejected) && L[i].req == 0, 20000,
                 "order qty %lld not settled after the restart", (long long)(L[i].qty0 / S));
    WAIT_FOR(stop->filled, 20000, "the fill made while deskd was down never arrived");
    assert_false(rest->done); /* still resting, still desk's */
    assert_true(log_count("recovered order(s) handed over") > handed0);
    assert_true(log_count("alpaca: recovery: d") > 0);
    printf("crash: NEW in flight %s, cancel %s, replace %s\n",
           pn->acked ? "reached the venue (ACK)" : "never reached it (REJECT)",
           cx->canceled ? "done (CANCELED)" : "refused (CANCEL_REJECT)",
           rp->replaced ? "done (REPLACED)" : "refused (CANCEL_REJECT)");
    /* The recovery asked (GET); it never sent an order again. */
    assert_true(sim_counter("post_orders") == posts);
    /* The catch-up fill is priced at the venue's filled_avg_price (rounded
     * at 1e-8 per share when the stop filled at several prices). */
    g_cash_tol += stop->qty / S * 2;
    cancel_open(20000);
    check_books("crash recovery");
    assert_true(sim_counter("post_orders") == posts);
}

/* ------------------------------------------------------ reconciliation */

/* The open break of `what` for connector "alp" in desk status, as a copy
 * (NULL if none). */
static cJSON *find_break(const char *what)
{
    cJSON *st = status_json(), *hit = NULL, *b;
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(st, "reconciliation");
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(rec, "breaks"))
    {
        if (strcmp(str(b, "what") ? str(b, "what") : "", what) == 0 &&
            strcmp(str(b, "connector") ? str(b, "connector") : "", "alp") == 0)
            hit = cJSON_Duplicate(b, 1);
    }
    cJSON_Delete(st);
    return hit;
}

/* Reports of the connector compared by reconciliation (desk status). */
static uint64_t recon_reports(void)
{
    cJSON *st = status_json();
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(st, "reconciliation");
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rec, "connectors"), 0);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, "reports");
    uint64_t x = cJSON_IsNumber(v) ? (uint64_t)v->valuedouble : 0;
    cJSON_Delete(st);
    return x;
}

/* The venue books a fill it never told desk about: reconciliation reports
 * a POSITION break (two reports in a row agree), and it clears once the
 * venue's books are put back. */
static void test_phantom_fill_break(void **state)
{
    (void)state;
    assert_true(wait_health("UP", 30000));
    cJSON *b = NULL;
    /* A few reports of the agreeing books first (check_books() saw them
     * agree): a break left from an earlier phase clears on the first report
     * that agrees, so one here is a real one.  Counted, not timed: a slow
     * machine makes fewer reports per second. */
    uint64_t rep0 = recon_reports(), end = now_ms() + 20000;
    while (recon_reports() < rep0 + 3) {
        if (now_ms() > end)
            fail_msg("reconciliation compared no reports of the connector");
        pump_events(100);
    }
    b = find_break("position");
    if (b != NULL)
        fail_msg("a position break before the fault: %s", cJSON_PrintUnformatted(b));
    sim_faults("{\"phantom_fill\":3}");
    end = now_ms() + 20000;
    while ((b = find_break("position")) == NULL && now_ms() < end)
        pump_events(100);
    if (b == NULL) {
        char *log = slurp(g_log);
        fail_msg("no position break in desk status after a phantom fill; log:\n%s", log ? log : "");
    }
    assert_string_equal(str(b, "symbol"), "AMZN");
    assert_true(fx(b, "venue") - fx(b, "desk") == 3 * S);
    cJSON_Delete(b);
    /* The control thread logs it too (a moment after status shows it). */
    WAIT_FOR(log_count("reconcile: BREAK: connector alp: position AMZN") > 0, 20000,
             "the position break was never logged");
    /* Put the venue's books back (same mark: the cash comes back exactly). */
    sim_faults("{\"phantom_fill\":-3}");
    end = now_ms() + 20000;
    while ((b = find_break("position")) != NULL && now_ms() < end) {
        cJSON_Delete(b);
        pump_events(100);
    }
    assert_null(b);
    check_books("phantom fill undone");
}

static void test_clean_stop(void **state)
{
    (void)state;
    int st = 0;
    desk_detach(C);
    C = NULL;
    assert_int_equal(kill(g_deskd, 0), 0); /* still up after every fault */
    assert_int_equal(kill(g_deskd, SIGTERM), 0);
    assert_int_equal(waitpid(g_deskd, &st, 0), g_deskd);
    g_deskd = -1;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    printf("deskd log: %d DEGRADED transitions, %d UP transitions\n", log_count(": DEGRADED ("),
           log_count(": UP ("));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_up_and_account),
        cmocka_unit_test(test_types_and_tifs),
        cmocka_unit_test(test_fills_cancel_replace),
        cmocka_unit_test(test_venue_rejects),
        cmocka_unit_test(test_fault_drop_before),
        cmocka_unit_test(test_fault_drop_after),
        cmocka_unit_test(test_fault_stall),
        cmocka_unit_test(test_fault_delay),
        cmocka_unit_test(test_fault_5xx),
        cmocka_unit_test(test_fault_429),
        cmocka_unit_test(test_fault_malformed),
        cmocka_unit_test(test_fault_split_writes),
        cmocka_unit_test(test_fault_dup_updates),
        cmocka_unit_test(test_fault_reorder_updates),
        cmocka_unit_test(test_fault_malformed_updates),
        cmocka_unit_test(test_fault_drop_streams),
        cmocka_unit_test(test_crash_recovery),
        cmocka_unit_test(test_phantom_fill_break),
        cmocka_unit_test(test_clean_stop),
    };
    /* A failed run keeps its folder for a look; a passing one removes it. */
    return desk_t_cleanup_dir(g_dir, cmocka_run_group_tests(tests, setup, teardown));
}
