/*
 * fix_peer_test.c - desk's FIX encoding against a real FIX engine.
 *
 * Starts desk-fix-peer (tests/peers/fix_peer.cc: a QuickFIX acceptor that
 * validates every message strictly against shared/data/fix/FIX44.xml) on
 * loopback and talks to it through a minimal blocking client built only on
 * desk's codec (connectors/fix/codec.h) over a plain TCP socket.  The client
 * checks every inbound MsgSeqNum, answers TestRequests and ResendRequests,
 * and asks for a resend when the peer skips numbers, as a FIX session must.
 *
 * test_session: Logon (141=Y) -> Logon; NewOrderSingle -> ack (150=0);
 *   replace -> 150=5 (11/41 chain); cancel -> 150=4; cancel of an unknown
 *   order -> 35=9; unknown symbol -> 150=8/103=1; a marketable order ->
 *   ack, partial fills (39=1) and a final fill (39=2) against the recorded
 *   LOBSTER AMZN book; a TestRequest from the peer (answered with 112); the
 *   peer skipping 2 sequence numbers (desk sends ResendRequest and applies
 *   QuickFIX's SequenceReset-GapFill); the peer demanding a resend (desk
 *   answers with a gap fill, 43=Y/122); Logout -> Logout.  Then the peer
 *   exits by itself and its reject log must be empty: QuickFIX found
 *   nothing wrong with any byte desk sent.
 * test_drop: the peer drops the connection after the first order; the
 *   client sees EOF without a Logout.
 * test_reject_is_logged: a bad Side (54=Z) draws QuickFIX's Reject 373=5 and
 *   exactly one line in the reject log, so the empty log above means
 *   something.
 * test_account: desk's RequestForPositions (35=AN) and CollateralInquiry
 *   (35=BB) pass QuickFIX's FIX44.xml validation (no reject), and the
 *   answers decode: RequestForPositionsAck + one PositionReport per symbol
 *   (a phantom start-of-day position, then a fill), CollateralReport with
 *   CashOutstanding = starting cash - the fill's notional and MarginExcess
 *   net of an open buy order.
 * test_account_refused: --account-reports unsupported answers both with
 *   BusinessMessageReject 380=3 naming the MsgType, reject with a session
 *   Reject 373=5; the reject log has exactly those lines.
 *
 * Skips (77) with a reason when desk-fix-peer was not built (no QuickFIX).
 * Without shared/data the peer runs without its data dictionary and with a
 * deterministic AMZN, and the test says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "connectors/fix/codec.h"

#define E8 INT64_C(100000000)
#define DICT DESK_SHARED_DATA "/fix/FIX44.xml"
#define BOOK                                                                                       \
    DESK_SHARED_DATA "/marketdata/lobster_amzn_2012-06-21/"                                        \
                     "AMZN_2012-06-21_34200000_57600000_orderbook_1.csv"

/* ------------------------------------------------------------ the peer */

struct peer {
    pid_t pid;         /* desk-fix-peer */
    int port;          /* its loopback port */
    char dir[64];      /* temp dir: store, logs, control file */
    char control[128]; /* control file path */
    char rejects[128]; /* reject log path */
};

static int file_exists(const char *p)
{
    return access(p, R_OK) == 0;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Start the peer with extra flags (NULL-terminated); waits for its port. */
static void peer_start(struct peer *p, const char *const *extra)
{
#ifndef DESK_FIX_PEER
    (void)p;
    (void)extra;
    printf("skip: desk-fix-peer was not built (QuickFIX / libquickfix-dev not found)\n");
    exit(77);
#else
    char store[160], ready[160], events[160];
    const char *argv[64];
    int n = 0;

    snprintf(p->dir, sizeof p->dir, "/tmp/desk-fix-peer-XXXXXX");
    assert_non_null(mkdtemp(p->dir));
    snprintf(store, sizeof store, "%s/store", p->dir);
    snprintf(ready, sizeof ready, "%s/port", p->dir);
    snprintf(events, sizeof events, "%s/events.log", p->dir);
    snprintf(p->control, sizeof p->control, "%s/control", p->dir);
    snprintf(p->rejects, sizeof p->rejects, "%s/rejects.log", p->dir);
    argv[n++] = DESK_FIX_PEER;
    argv[n++] = "--store";
    argv[n++] = store;
    argv[n++] = "--ready-file";
    argv[n++] = ready;
    argv[n++] = "--reject-log";
    argv[n++] = p->rejects;
    argv[n++] = "--event-log";
    argv[n++] = events;
    argv[n++] = "--control";
    argv[n++] = p->control;
    argv[n++] = "--tick-ms";
    argv[n++] = "20";
    argv[n++] = "--max-seconds";
    argv[n++] = "60";
    argv[n++] = "--exit-on-logout";
    if (file_exists(DICT)) {
        argv[n++] = "--dict";
        argv[n++] = DICT;
    } else {
        printf("note: %s absent: the peer runs WITHOUT a data dictionary\n", DICT);
    }
    if (file_exists(BOOK)) {
        argv[n++] = "--book";
        argv[n++] = BOOK;
    } else {
        printf("note: LOBSTER book absent: AMZN fills deterministically (50%%/tick)\n");
        argv[n++] = "--sim-symbol";
        argv[n++] = "AMZN";
    }
    while (*extra != NULL)
        argv[n++] = *extra++;
    argv[n] = NULL;

    pid_t parent = getpid();
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        /* The peer dies with this test, even when the test is killed. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(127);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    for (uint64_t t0 = mono_ms(); mono_ms() - t0 < 15000;) {
        FILE *f = fopen(ready, "r");
        if (f != NULL) {
            int ok = fscanf(f, "%d", &p->port) == 1;
            fclose(f);
            if (ok)
                return;
        }
        int st;
        if (waitpid(p->pid, &st, WNOHANG) == p->pid)
            fail_msg("desk-fix-peer exited early (status %d)", st);
        usleep(20000);
    }
    fail_msg("desk-fix-peer did not start");
#endif
}

/* Wait (up to 10 s) for the peer to exit by itself; returns its status. */
static int peer_wait(struct peer *p)
{
    int st = -1;

    for (uint64_t t0 = mono_ms(); mono_ms() - t0 < 10000; usleep(20000))
        if (waitpid(p->pid, &st, WNOHANG) == p->pid)
            return st;
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &st, 0);
    fail_msg("desk-fix-peer did not stop by itself");
    return st;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Remove the peer's directory (kept with DESK_FIX_PEER_KEEP=1, and on failure). */
static void peer_cleanup(struct peer *p)
{
    if (getenv("DESK_FIX_PEER_KEEP") != NULL) {
        printf("kept %s\n", p->dir);
        return;
    }
    nftw(p->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Give the peer a fault command through its control file. */
/* Hand the peer one command.  The peer claims the control file by renaming
 * it; wait until it has taken the previous one, so that this command never
 * replaces an unread one. */
static void peer_command(struct peer *p, const char *cmd)
{
    char tmp[160];

    for (uint64_t t0 = mono_ms(); access(p->control, F_OK) == 0; usleep(2000))
        if (mono_ms() - t0 > 10000)
            fail_msg("desk-fix-peer did not take its previous command within 10 s");
    snprintf(tmp, sizeof tmp, "%s.tmp", p->control);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", cmd);
    fclose(f);
    assert_int_equal(rename(tmp, p->control), 0);
}

/* The reject log must be absent or empty; print it otherwise. */
static void assert_no_rejects(const struct peer *p)
{
    FILE *f = fopen(p->rejects, "r");
    char line[2048];
    int n = 0;

    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f) != NULL) {
        printf("peer reject: %s", line);
        n++;
    }
    fclose(f);
    assert_int_equal(n, 0);
}

/* ------------------------------------------------------------ the client */

struct client {
    int fd;                          /* blocking TCP socket */
    desk_fix_tmpl_t tmpl;            /* CLIENT1 -> SIMVENUE */
    uint64_t out_seq;                /* next MsgSeqNum to send */
    uint64_t in_seq;                 /* next MsgSeqNum expected */
    char rx[DESK_FIX_MAX_BODY + 64]; /* receive buffer */
    size_t have;                     /* bytes in rx */
    size_t drop;                     /* bytes of the last message, dropped on next read */
    desk_fix_field_t fields[128];
    desk_fix_msg_t m;    /* the last message */
    int test_requests;   /* TestRequests answered */
    int resend_requests; /* ResendRequests answered */
    int gap_fills;       /* SequenceReset-GapFills applied */
};

static uint64_t wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void client_open(struct client *c, int port)
{
    struct sockaddr_in a;
    int one = 1;

    memset(c, 0, sizeof *c);
    c->out_seq = c->in_seq = 1;
    assert_int_equal(desk_fix_tmpl_init(&c->tmpl, "CLIENT1", "SIMVENUE"), 0);
    assert_int_equal(desk_fix_msg_init(&c->m, c->fields, 128), 0);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

/* Finish an encoder begun by the caller and send the message. */
static void client_send(struct client *c, desk_fix_enc_t *e)
{
    const char *msg;
    int n = desk_fix_enc_finish(e, &msg);

    assert_true(n > 0);
    write_all(c->fd, msg, (size_t)n);
}

/* Begin the next message in a stack buffer shared by the send helpers. */
static char txbuf[4096];
static void begin(struct client *c, desk_fix_enc_t *e, const char *type)
{
    desk_fix_enc_begin(e, &c->tmpl, txbuf, sizeof txbuf, type, c->out_seq++, wall_ns());
}

/*
 * The next whole message into c->m: 0, or -ETIMEDOUT, or -ECONNRESET (EOF).
 * Garbage would be -EBADMSG from the codec: the peer never sends any, so it
 * fails the test.
 */
static int client_next(struct client *c, int timeout_ms)
{
    uint64_t t0 = mono_ms();

    memmove(c->rx, c->rx + c->drop, c->have - c->drop);
    c->have -= c->drop;
    c->drop = 0;
    for (;;) {
        size_t used = 0;
        int rc = desk_fix_parse(c->rx, c->have, &c->m, &used);
        if (rc == 0) {
            c->drop = used;
            return 0;
        }
        assert_int_equal(rc, -EAGAIN);
        int left = timeout_ms - (int)(mono_ms() - t0);
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd pfd = {c->fd, POLLIN, 0};
        if (poll(&pfd, 1, left) <= 0)
            continue;
        ssize_t r = recv(c->fd, c->rx + c->have, sizeof c->rx - c->have, 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return -ECONNRESET;
        assert_true(r > 0);
        c->have += (size_t)r;
    }
}

/*
 * Session rules for one inbound message; returns 1 if it is for the caller
 * (anything but Heartbeat, TestRequest, ResendRequest, SequenceReset).
 */
static int client_session(struct client *c)
{
    desk_fix_hdr_t h;
    desk_fix_enc_t e;
    desk_fix_sv_t v;
    int64_t nv;

    assert_int_equal(desk_fix_hdr_decode(&c->m, &h), 0);
    assert_int_equal(h.sender.len, 8);
    assert_memory_equal(h.sender.p, "SIMVENUE", 8);
    assert_memory_equal(h.target.p, "CLIENT1", 7);
    if (desk_fix_msg_is(&c->m, "4")) {
        /* SequenceReset: gap fill at the expected number, or a reset. */
        int gf = 0;
        desk_fix_get_bool(&c->m, DESK_FIX_GapFillFlag, &gf);
        assert_int_equal(desk_fix_get_int(&c->m, DESK_FIX_NewSeqNo, &nv), 0);
        if (gf) {
            assert_int_equal(h.seq, c->in_seq);
            assert_int_equal(h.poss_dup, 1);
            c->gap_fills++;
        }
        assert_true((uint64_t)nv >= c->in_seq);
        c->in_seq = (uint64_t)nv;
        return 0;
    }
    if (h.seq > c->in_seq) {
        /* A gap: ask for everything from the expected number on. */
        begin(c, &e, "2");
        desk_fix_put_resend_request(&e, c->in_seq, 0);
        client_send(c, &e);
        return 0; /* this message comes again after the gap fill */
    }
    if (h.seq < c->in_seq) {
        assert_int_equal(h.poss_dup, 1); /* too low is only fine on a resend */
        return 0;
    }
    c->in_seq++;
    if (desk_fix_msg_is(&c->m, "0"))
        return 0;
    if (desk_fix_msg_is(&c->m, "1")) {
        assert_int_equal(desk_fix_get_str(&c->m, DESK_FIX_TestReqID, &v), 0);
        char id[64];
        assert_true(v.len < sizeof id);
        memcpy(id, v.p, v.len);
        begin(c, &e, "0");
        desk_fix_put_heartbeat(&e, id, v.len);
        client_send(c, &e);
        c->test_requests++;
        return 0;
    }
    if (desk_fix_msg_is(&c->m, "2")) {
        /* desk keeps no store: every requested message is gap-filled. */
        int64_t b;
        assert_int_equal(desk_fix_get_int(&c->m, DESK_FIX_BeginSeqNo, &b), 0);
        assert_true(b >= 1 && (uint64_t)b < c->out_seq);
        desk_fix_enc_begin(&e, &c->tmpl, txbuf, sizeof txbuf, "4", (uint64_t)b, wall_ns());
        desk_fix_enc_possdup(&e, wall_ns() - 1000000);
        desk_fix_put_seq_reset(&e, 1, c->out_seq);
        client_send(c, &e);
        c->resend_requests++;
        return 0;
    }
    if (desk_fix_msg_is(&c->m, "3")) {
        desk_fix_get_str(&c->m, DESK_FIX_Text, &v);
        fail_msg("the peer sent a session Reject: %.*s", (int)v.len, v.p ? v.p : "");
    }
    return 1;
}

/* Wait for the next application-level message of MsgType `type`. */
static void expect(struct client *c, const char *type)
{
    for (;;) {
        int rc = client_next(c, 15000);
        if (rc != 0)
            fail_msg("waiting for 35=%s: %s", type, rc == -ETIMEDOUT ? "timeout" : "EOF");
        if (!client_session(c))
            continue;
        desk_fix_sv_t t = desk_fix_msg_type(&c->m);
        if (!desk_fix_msg_is(&c->m, type))
            fail_msg("expected 35=%s, got 35=%.*s", type, (int)t.len, t.p);
        return;
    }
}

/* Expect an ExecutionReport and map it onto a desk event. */
static void expect_er(struct client *c, desk_fix_exec_t *x, desk_vevent_t *ev, int want_rc)
{
    expect(c, "8");
    assert_int_equal(desk_fix_exec_decode(&c->m, x), 0);
    assert_int_equal(desk_fix_exec_to_vevent(x, 42, 0, 1, ev), want_rc);
    /* LeavesQty + CumQty = OrderQty while live, LeavesQty 0 when done. */
    if (x->ord_status == '0' || x->ord_status == '1')
        assert_int_equal(x->leaves_qty + x->cum_qty, x->order_qty);
    else
        assert_int_equal(x->leaves_qty, 0);
}

static void logon(struct client *c)
{
    desk_fix_enc_t e;
    int64_t v;

    begin(c, &e, "A");
    desk_fix_put_logon(&e, 30, 1);
    client_send(c, &e);
    expect(c, "A");
    assert_int_equal(desk_fix_get_int(&c->m, DESK_FIX_HeartBtInt, &v), 0);
    assert_int_equal(v, 30);
    assert_int_equal(desk_fix_get_int(&c->m, DESK_FIX_EncryptMethod, &v), 0);
    assert_int_equal(v, 0);
}

static void send_order(struct client *c, const char *type, const desk_vcmd_t *cmd, const char *sym)
{
    desk_fix_enc_t e;
    uint64_t now = wall_ns();

    begin(c, &e, type);
    if (type[0] == 'D')
        desk_fix_put_new_order(&e, cmd, sym, strlen(sym), now);
    else if (type[0] == 'F')
        desk_fix_put_cancel(&e, cmd, sym, strlen(sym), now);
    else
        desk_fix_put_replace(&e, cmd, sym, strlen(sym), now);
    client_send(c, &e);
}

/* ------------------------------------------------------------ tests */

static void test_session(void **state)
{
    static struct client c;
    struct peer p;
    desk_fix_exec_t x;
    desk_vevent_t ev;
    const char *extra[] = {"--on-app", "6:testreq T-1", NULL};

    (void)state;
    peer_start(&p, extra);
    client_open(&c, p.port);
    logon(&c);

    /* 1. A resting limit order: ack. */
    desk_vcmd_t nos = {.type = DESK_CMD_NEW,
                       .side = DESK_BUY,
                       .ord_type = DESK_LIMIT,
                       .tif = DESK_DAY,
                       .cl_ord_id = 1,
                       .qty = 100 * E8,
                       .px = 150 * E8};
    send_order(&c, "D", &nos, "AMZN");
    expect_er(&c, &x, &ev, 1);
    assert_int_equal(x.exec_type, '0');
    assert_int_equal(x.ord_status, '0');
    assert_int_equal(x.cl_ord_id, 1);
    assert_int_equal(ev.type, DESK_EV_ACK);
    assert_int_equal(x.leaves_qty, 100 * E8);

    /* 2. Replace it: new ClOrdID d2, OrigClOrdID d1, qty 200 @ 150.50 GTC. */
    desk_vcmd_t rpl = nos;
    rpl.type = DESK_CMD_REPLACE;
    rpl.cl_ord_id = 2;
    rpl.orig_cl_ord_id = 1;
    rpl.qty = 200 * E8;
    rpl.px = 15050 * E8 / 100;
    rpl.tif = DESK_GTC;
    send_order(&c, "G", &rpl, "AMZN");
    expect_er(&c, &x, &ev, 1);
    assert_int_equal(x.exec_type, '5');
    assert_int_equal(ev.type, DESK_EV_REPLACED);
    assert_int_equal(x.cl_ord_id, 2);
    assert_int_equal(x.orig_cl_ord_id, 1);
    assert_int_equal(x.leaves_qty, 200 * E8);

    /* 3. Cancel it. */
    desk_vcmd_t cxl = {.type = DESK_CMD_CANCEL,
                       .side = DESK_BUY,
                       .cl_ord_id = 3,
                       .orig_cl_ord_id = 2,
                       .qty = 200 * E8};
    send_order(&c, "F", &cxl, "AMZN");
    expect_er(&c, &x, &ev, 1);
    assert_int_equal(x.exec_type, '4');
    assert_int_equal(x.ord_status, '4');
    assert_int_equal(ev.type, DESK_EV_CANCELED);
    assert_int_equal(x.orig_cl_ord_id, 2);

    /* 4. Cancel of an unknown order: OrderCancelReject. */
    cxl.cl_ord_id = 4;
    cxl.orig_cl_ord_id = 999;
    send_order(&c, "F", &cxl, "AMZN");
    expect(&c, "9");
    desk_fix_cxlrej_t r;
    assert_int_equal(desk_fix_cxlrej_decode(&c.m, &r), 0);
    assert_int_equal(r.cl_ord_id, 4);
    assert_int_equal(r.orig_cl_ord_id, 999);
    assert_int_equal(r.response_to, '1');
    desk_fix_cxlrej_to_vevent(&r, 42, 0, 1, &ev);
    assert_int_equal(ev.type, DESK_EV_CANCEL_REJECT);
    assert_int_equal(ev.reason, DESK_REJ_UNKNOWN_ORDER);

    /* 5. Unknown symbol: rejected with 103=1. */
    nos.cl_ord_id = 5;
    send_order(&c, "D", &nos, "ZZZZ");
    expect_er(&c, &x, &ev, 1);
    assert_int_equal(x.exec_type, '8');
    assert_int_equal(x.ord_rej_reason, 1);
    assert_int_equal(ev.type, DESK_EV_REJECT);
    assert_int_equal(ev.reason, DESK_REJ_UNKNOWN_INSTRUMENT);

    /* 6. A marketable order (buy 250 @ 300): ack, then fills to the end.
     * The peer also sends a TestRequest after this (6th app message). */
    nos.cl_ord_id = 6;
    nos.qty = 250 * E8;
    nos.px = 300 * E8;
    send_order(&c, "D", &nos, "AMZN");
    expect_er(&c, &x, &ev, 1);
    assert_int_equal(ev.type, DESK_EV_ACK);
    int64_t filled = 0;
    int fills = 0, partials = 0;
    uint64_t last_exec = 0;
    while (filled < 250 * E8) {
        expect_er(&c, &x, &ev, 1);
        assert_int_equal(ev.type, DESK_EV_FILL);
        assert_true(ev.last_qty > 0);
        assert_true(ev.last_px > 0 && ev.last_px <= 300 * E8);
        assert_true(ev.exec_id != last_exec);
        last_exec = ev.exec_id;
        filled += ev.last_qty;
        assert_int_equal(ev.cum_qty, filled);
        fills++;
        partials += x.ord_status == '1';
    }
    assert_int_equal(filled, 250 * E8);
    assert_int_equal(x.ord_status, '2');
    printf("order d6: %d fills (%d partial), avg px %lld.%08lld\n", fills, partials,
           (long long)(x.avg_px / E8), (long long)(x.avg_px % E8));
    if (file_exists(BOOK))
        assert_true(partials >= 1); /* the book's first ask is 100 shares */

    /* 7. The peer skips two MsgSeqNums: desk asks, QuickFIX gap-fills. */
    peer_command(&p, "skip 2");
    for (uint64_t t0 = mono_ms(); c.gap_fills == 0 || c.test_requests == 0;) {
        assert_true(mono_ms() - t0 < 15000);
        int rc = client_next(&c, 200);
        if (rc == 0)
            assert_int_equal(client_session(&c), 0);
    }

    /* 8. The peer demands a resend of our last two: desk gap-fills. */
    peer_command(&p, "resend 2");
    for (uint64_t t0 = mono_ms(); c.resend_requests == 0;) {
        assert_true(mono_ms() - t0 < 15000);
        int rc = client_next(&c, 200);
        if (rc == 0)
            assert_int_equal(client_session(&c), 0);
    }

    /* 9. Logout -> Logout; the peer then stops by itself. */
    desk_fix_enc_t e;
    begin(&c, &e, "5");
    desk_fix_put_logout(&e, NULL, 0);
    client_send(&c, &e);
    expect(&c, "5");
    close(c.fd);
    int st = peer_wait(&p);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_no_rejects(&p);
    peer_cleanup(&p);
}

static void test_drop(void **state)
{
    static struct client c;
    struct peer p;
    desk_fix_exec_t x;
    desk_vevent_t ev;
    const char *extra[] = {"--on-app", "1:drop", NULL};

    (void)state;
    peer_start(&p, extra);
    client_open(&c, p.port);
    logon(&c);
    desk_vcmd_t nos = {.type = DESK_CMD_NEW,
                       .side = DESK_SELL,
                       .ord_type = DESK_STOP_LIMIT,
                       .tif = DESK_DAY,
                       .cl_ord_id = 77,
                       .qty = 10 * E8,
                       .px = 200 * E8,
                       .stop_px = 201 * E8};
    send_order(&c, "D", &nos, "AMZN");
    expect_er(&c, &x, &ev, 1);
    assert_int_equal(ev.type, DESK_EV_ACK);
    int rc;
    while ((rc = client_next(&c, 5000)) == 0)
        assert_false(desk_fix_msg_is(&c.m, "5")); /* no Logout before the drop */
    assert_int_equal(rc, -ECONNRESET);
    close(c.fd);
    int st = peer_wait(&p);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_no_rejects(&p);
    peer_cleanup(&p);
}

/*
 * The reject log is not vacuous: a NewOrderSingle with a bad Side enum
 * (54=Z) draws a session Reject 373=5 from QuickFIX, and the peer logs it.
 */
static void test_reject_is_logged(void **state)
{
    static struct client c;
    struct peer p;
    desk_fix_enc_t e;
    const char *extra[] = {NULL};

    (void)state;
    if (!file_exists(DICT)) {
        printf("skip: %s absent, the peer cannot validate enums\n", DICT);
        return;
    }
    peer_start(&p, extra);
    client_open(&c, p.port);
    logon(&c);
    begin(&c, &e, "D");
    desk_fix_enc_str(&e, DESK_FIX_ClOrdID, "d1", 2);
    desk_fix_enc_str(&e, DESK_FIX_Symbol, "AMZN", 4);
    desk_fix_enc_char(&e, DESK_FIX_Side, 'Z');
    desk_fix_enc_time(&e, DESK_FIX_TransactTime, wall_ns());
    desk_fix_enc_int(&e, DESK_FIX_OrderQty, 1);
    desk_fix_enc_char(&e, DESK_FIX_OrdType, '1');
    client_send(&c, &e);
    int rc;
    while ((rc = client_next(&c, 5000)) == 0 && !desk_fix_msg_is(&c.m, "3"))
        ;
    assert_int_equal(rc, 0);
    int64_t v;
    assert_int_equal(desk_fix_get_int(&c.m, DESK_FIX_SessionRejectReason, &v), 0);
    assert_int_equal(v, 5); /* VALUE_IS_INCORRECT */
    assert_int_equal(desk_fix_get_int(&c.m, DESK_FIX_RefTagID, &v), 0);
    assert_int_equal(v, DESK_FIX_Side);
    begin(&c, &e, "5");
    desk_fix_put_logout(&e, NULL, 0);
    client_send(&c, &e);
    while ((rc = client_next(&c, 5000)) == 0 && !desk_fix_msg_is(&c.m, "5"))
        ;
    assert_int_equal(rc, 0);
    close(c.fd);
    int st = peer_wait(&p);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    FILE *f = fopen(p.rejects, "r");
    char line[2048];
    int n = 0;
    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL) {
        assert_non_null(strstr(line, "REJECT"));
        assert_non_null(strstr(line, "|373=5|"));
        n++;
    }
    fclose(f);
    assert_int_equal(n, 1);
    peer_cleanup(&p);
}

/* Send RequestForPositions "id" for account CLIENT1. */
static void send_positions_request(struct client *c, const char *id)
{
    desk_fix_enc_t e;

    begin(c, &e, "AN");
    desk_fix_put_position_request(&e, id, strlen(id), "CLIENT1", 7, wall_ns());
    client_send(c, &e);
}

static void send_collateral_inquiry(struct client *c, const char *id)
{
    desk_fix_enc_t e;

    begin(c, &e, "BB");
    desk_fix_put_collateral_inquiry(&e, id, strlen(id), "CLIENT1", 7);
    client_send(c, &e);
}

/* The RequestForPositionsAck of request id; returns TotalNumPosReports. */
static int expect_posack(struct client *c, const char *id, int want_result)
{
    desk_fix_posack_t a;

    expect(c, "AO");
    assert_int_equal(desk_fix_posack_decode(&c->m, &a), 0);
    assert_int_equal(a.pos_req_id.len, strlen(id));
    assert_memory_equal(a.pos_req_id.p, id, strlen(id));
    assert_int_equal(a.result, want_result);
    assert_int_equal(a.status, 0);
    return a.total;
}

/* The next PositionReport of request id: its symbol's quantity into *qty. */
static void expect_posrpt(struct client *c, const char *id, char *sym, size_t cap, int64_t *qty)
{
    desk_fix_posrpt_t r;

    expect(c, "AP");
    assert_int_equal(desk_fix_posrpt_decode(&c->m, &r), 0);
    assert_memory_equal(r.pos_req_id.p, id, strlen(id));
    assert_int_equal(r.result, 0);
    assert_int_equal(r.npos, 2); /* SOD and TQ */
    assert_false(r.unsolicited);
    assert_true(r.symbol.len < cap);
    memcpy(sym, r.symbol.p, r.symbol.len);
    sym[r.symbol.len] = '\0';
    *qty = r.qty;
}

static void expect_collrpt(struct client *c, const char *id, int64_t cash, int64_t excess)
{
    desk_fix_collrpt_t r;

    expect(c, "BA");
    assert_int_equal(desk_fix_collrpt_decode(&c->m, &r), 0);
    assert_memory_equal(r.inquiry_id.p, id, strlen(id));
    assert_true(r.have_cash && r.have_excess && r.have_net);
    assert_int_equal(r.cash, cash);
    assert_int_equal(r.margin_excess, excess);
}

static void logout_and_wait(struct client *c, struct peer *p)
{
    desk_fix_enc_t e;
    int rc;

    begin(c, &e, "5");
    desk_fix_put_logout(&e, NULL, 0);
    client_send(c, &e);
    while ((rc = client_next(c, 5000)) == 0 && !desk_fix_msg_is(&c->m, "5"))
        ;
    assert_int_equal(rc, 0);
    close(c->fd);
    int st = peer_wait(p);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_account(void **state)
{
    static struct client c;
    struct peer p;
    desk_fix_exec_t x;
    desk_vevent_t ev;
    char sym[16];
    int64_t q;
    const char *extra[] = {"--hold-symbol", "HOLDX", "--cash", "1000", "--phantom", "PH:3", NULL};

    (void)state;
    peer_start(&p, extra);
    client_open(&c, p.port);
    logon(&c);
    /* A phantom start-of-day position only. */
    send_positions_request(&c, "p1");
    assert_int_equal(expect_posack(&c, "p1", 0), 1);
    expect_posrpt(&c, "p1", sym, sizeof sym, &q);
    assert_string_equal(sym, "PH");
    assert_int_equal(q, 3 * E8);
    send_collateral_inquiry(&c, "c1");
    expect_collrpt(&c, "c1", 1000 * E8, 1000 * E8);

    /* Buy 2 HOLDX at 10.5, filled by command: cash 979, position 2. */
    desk_vcmd_t nos = {.type = DESK_CMD_NEW,
                       .side = DESK_BUY,
                       .ord_type = DESK_LIMIT,
                       .tif = DESK_DAY,
                       .cl_ord_id = 1,
                       .qty = 2 * E8,
                       .px = 1050000000};
    send_order(&c, "D", &nos, "HOLDX");
    expect_er(&c, &x, &ev, 1);
    assert_int_equal(ev.type, DESK_EV_ACK);
    peer_command(&p, "fill HOLDX");
    expect_er(&c, &x, &ev, 1);
    assert_int_equal(ev.type, DESK_EV_FILL);
    assert_int_equal(x.ord_status, '2');
    send_positions_request(&c, "p2");
    assert_int_equal(expect_posack(&c, "p2", 0), 2);
    int seen = 0;
    for (int k = 0; k < 2; k++) {
        expect_posrpt(&c, "p2", sym, sizeof sym, &q);
        if (strcmp(sym, "HOLDX") == 0)
            assert_int_equal(q, 2 * E8), seen |= 1;
        else if (strcmp(sym, "PH") == 0)
            assert_int_equal(q, 3 * E8), seen |= 2;
    }
    assert_int_equal(seen, 3);
    /* A resting buy of 5 at 4 holds 20 of the buying power, not the cash. */
    nos.cl_ord_id = 2;
    nos.qty = 5 * E8;
    nos.px = 4 * E8;
    send_order(&c, "D", &nos, "HOLDX");
    expect_er(&c, &x, &ev, 1);
    assert_int_equal(ev.type, DESK_EV_ACK);
    send_collateral_inquiry(&c, "c2");
    expect_collrpt(&c, "c2", 979 * E8, 959 * E8);
    /* Flat again: no position in HOLDX, the phantom cleared: 728=2. */
    peer_command(&p, "phantom PH 0");
    nos.cl_ord_id = 3;
    nos.side = DESK_SELL;
    nos.qty = 2 * E8;
    nos.px = 11 * E8;
    send_order(&c, "D", &nos, "HOLDX");
    expect_er(&c, &x, &ev, 1);
    assert_int_equal(ev.type, DESK_EV_ACK);
    peer_command(&p, "fill HOLDX 2");
    for (int fills = 0; fills < 2;) { /* both open orders fill */
        expect_er(&c, &x, &ev, 1);
        fills += ev.type == DESK_EV_FILL;
    }
    send_positions_request(&c, "p3");
    assert_int_equal(expect_posack(&c, "p3", 0), 1); /* HOLDX +2 from the buy of 5 filled 2 */
    expect_posrpt(&c, "p3", sym, sizeof sym, &q);
    assert_string_equal(sym, "HOLDX");
    assert_int_equal(q, 2 * E8);
    logout_and_wait(&c, &p);
    assert_no_rejects(&p); /* QuickFIX validated 35=AN and 35=BB against FIX44.xml */
    peer_cleanup(&p);
}

/* The next message that is not Heartbeat/TestRequest/Resend, raw (35=3 allowed). */
static void next_raw(struct client *c)
{
    int rc;

    while ((rc = client_next(c, 5000)) == 0 &&
           (desk_fix_msg_is(&c->m, "0") || desk_fix_msg_is(&c->m, "1")))
        c->in_seq++;
    assert_int_equal(rc, 0);
    c->in_seq++;
}

static void test_account_refused(void **state)
{
    static const char *modes[] = {"unsupported", "reject"};

    (void)state;
    for (int k = 0; k < 2; k++) {
        static struct client c;
        struct peer p;
        desk_fix_sv_t v;
        int64_t n;
        const char *extra[] = {"--account-reports", modes[k], NULL};

        if (k == 1 && !file_exists(DICT))
            break; /* QuickFIX needs the dictionary to know the tag it rejects */
        peer_start(&p, extra);
        client_open(&c, p.port);
        logon(&c);
        send_positions_request(&c, "p1");
        next_raw(&c);
        assert_true(desk_fix_msg_is(&c.m, k == 0 ? "j" : "3"));
        assert_int_equal(desk_fix_get_str(&c.m, DESK_FIX_RefMsgType, &v), 0);
        assert_int_equal(v.len, 2);
        assert_memory_equal(v.p, "AN", 2);
        uint32_t why = k == 0 ? DESK_FIX_BusinessRejectReason : DESK_FIX_SessionRejectReason;
        assert_int_equal(desk_fix_get_int(&c.m, why, &n), 0);
        assert_int_equal(n, k == 0 ? 3 : 5);
        send_collateral_inquiry(&c, "c1");
        next_raw(&c);
        assert_true(desk_fix_msg_is(&c.m, k == 0 ? "j" : "3"));
        assert_int_equal(desk_fix_get_str(&c.m, DESK_FIX_RefMsgType, &v), 0);
        assert_memory_equal(v.p, "BB", 2);
        logout_and_wait(&c, &p);
        FILE *f = fopen(p.rejects, "r");
        char line[2048];
        int lines = 0;
        assert_non_null(f);
        while (fgets(line, sizeof line, f) != NULL) {
            assert_non_null(strstr(line, k == 0 ? "BUSINESS_REJECT" : "REJECT"));
            lines++;
        }
        fclose(f);
        assert_int_equal(lines, 2);
        peer_cleanup(&p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session),          cmocka_unit_test(test_drop),
        cmocka_unit_test(test_reject_is_logged), cmocka_unit_test(test_account),
        cmocka_unit_test(test_account_refused),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
