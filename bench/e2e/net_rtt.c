/*
 * net_rtt.c - desk_net_rtt: an order's round trip through desk and a FIX
 * venue over loopback TCP, next to raw TCP ping-pongs of the same byte
 * counts, in the same run.
 *
 * Row desk_fix_round_trip: a desk built in this process the way desk_e2e
 * builds it (main and strategy segments in /dev/shm, desk's router thread
 * with idle `spin` on CPU 1), whose one connector is desk's real "fix"
 * connector (desk_fix_ops(), behind desk's connector host, core/host.h,
 * driven by desk_conn_thread_poll: its io_uring loop, desk_conn, the FIX
 * session).  The venue is a minimal raw-socket FIX 4.4 responder on
 * 127.0.0.1: it answers our Logon, and each NewOrderSingle (35=D) with one
 * ExecutionReport (35=8, 150=F 39=2: filled in full, ClOrdID, Side, OrderQty
 * and Price copied from the order), nothing else (no validation beyond
 * framing: it is the cheapest venue, so the row measures desk).  Stamps:
 * desk_submit_new() (libdesk, strategy thread) -> guard and order book in
 * the router -> connector ring -> fix session encode + io_uring send ->
 * loopback TCP -> responder -> loopback TCP -> io_uring receive -> session
 * decode -> event ring -> router -> the FILL seen by desk_poll().
 *
 * Threads and CPUs (2 CPUs): strategy on CPU 0, router on CPU 1.  As in
 * desk_e2e, the connector thread and the venue have no core of their own:
 * both are polled from the strategy's thread between its desk_poll() calls,
 * so no two spinning threads share a CPU.  Each ring hop still crosses CPU 0
 * <-> CPU 1 (4 of them per order), and the TCP hop is CPU 0 -> CPU 0: a
 * send on one socket and a non-blocking recv (MSG_DONTWAIT) on its peer in
 * the same thread, no wakeup.
 *
 * Baselines, same byte counts as the last measured order (its 35=D out, its
 * 35=8 back), TCP_NODELAY, every round trip timed alone:
 *   raw_tcp_same_thread  the placement of the row's TCP hop: one thread on
 *                        CPU 0, send(D) on A, spin recv(MSG_DONTWAIT) on B,
 *                        send(ER) on B, spin recv on A.  desk / this is what
 *                        desk adds to the kernel's loopback TCP.
 *   raw_tcp_cross_core   ping on CPU 0, pong on CPU 1, both spinning on
 *                        recv(MSG_DONTWAIT): the usual two-core ping-pong.
 *
 * Histograms: core/hist.h; clock: desk_now_ns (CLOCK_MONOTONIC, vDSO).
 * Exit 0 when every row ran and every order was filled, 1 otherwise, 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "core/hist.h"
#include "core/host.h"
#include "core/router.h"
#include "desk/client.h"
#include "ring/shm.h"
#include "ring/spsc.h"

#define LOT (DESK_SCALE / 100000) /* 0.00001 BTC */
#define TICK (DESK_SCALE / 100)   /* 0.01 USDT */
#define TIMEOUT_NS 30000000000ull /* an order unanswered this long: failure */
#define SOH "\001"

enum row { ROW_DESK = 0, ROW_DESK_OUT, ROW_DESK_IN, ROW_TCP_SAME, ROW_TCP_CROSS, ROW__COUNT };

static const char *const row_name[ROW__COUNT] = {
    "desk_fix_round_trip",
    "desk_fix_out_leg",
    "desk_fix_in_leg",
    "raw_tcp_same_thread",
    "raw_tcp_cross_core",
};

static const char *const row_what[ROW__COUNT] = {
    "desk_submit_new -> router (guard) -> fix connector (encode, io_uring send) -> loopback TCP "
    "-> raw FIX responder (35=8 150=F) -> loopback TCP -> fix connector (io_uring recv, decode) "
    "-> router -> FILL seen by desk_poll; strategy CPU 0, router CPU 1, connector and venue "
    "polled from the strategy thread",
    "the desk row's outbound part: desk_submit_new -> the responder has read the whole 35=D",
    "the desk row's inbound part: the responder's send() of the 35=8 returned -> FILL seen by "
    "desk_poll",
    "raw TCP round trip, same byte counts, one thread on CPU 0 (the placement of the desk row's "
    "TCP hop): send, spin recv(MSG_DONTWAIT), send back, spin recv",
    "raw TCP ping-pong, same byte counts, ping CPU 0 <-> pong CPU 1, both spinning on "
    "recv(MSG_DONTWAIT)",
};

static desk_hist_t g_hist[ROW__COUNT];
static uint8_t g_ran[ROW__COUNT];
static int g_ncpu, g_pinned = 1;
static uint32_t g_orders = 20000, g_warmup = 2000;
static size_t g_d_bytes, g_er_bytes; /* the last measured order's message sizes */
static char g_shm_names[2][64];

static int pin_self(int cpu)
{
    cpu_set_t set;

    if (cpu >= g_ncpu)
        return 0;
    CPU_ZERO(&set);
    CPU_SET((size_t)cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

static void on_signal(int sig)
{
    for (int i = 0; i < 2; i++)
        if (g_shm_names[i][0])
            shm_unlink(g_shm_names[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ---- sockets -------------------------------------------------------------- */

static int tcp_listen(uint16_t *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static void nodelay(int fd)
{
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* A connected loopback pair (A: connect()ed, B: accept()ed), both
 * non-blocking, TCP_NODELAY.  Returns 0 or -errno. */
static int tcp_pair(int fds[2])
{
    uint16_t port;
    int l = tcp_listen(&port);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons(port)};

    if (l < 0)
        return l;
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&a, sizeof a) < 0) {
        close(l);
        return -errno;
    }
    do
        fds[1] = accept4(l, NULL, NULL, SOCK_NONBLOCK);
    while (fds[1] < 0 && errno == EAGAIN);
    close(l);
    if (fds[1] < 0)
        return -errno;
    nodelay(fds[0]);
    nodelay(fds[1]);
    return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return -errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Spin on recv(MSG_DONTWAIT) until n bytes arrived. */
static int recv_all(int fd, char *p, size_t n)
{
    while (n) {
        ssize_t k = recv(fd, p, n, MSG_DONTWAIT);
        if (k < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            return -ECONNRESET;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* ---- the venue: a raw-socket FIX 4.4 responder ------------------------------ */

struct venue {
    int lfd, fd;        /* listener, the session's connection (-1: none yet) */
    uint64_t seq;       /* next MsgSeqNum out */
    uint64_t execs;     /* ExecIDs / OrderIDs */
    uint64_t orders;    /* NewOrderSingles answered */
    uint64_t logons;    /* Logons answered */
    size_t rlen;        /* bytes in rbuf */
    size_t last_d;      /* size of the last 35=D received */
    size_t last_er;     /* size of the last 35=8 sent */
    uint64_t t0;        /* the measured order's submit time, 0: not measured */
    uint64_t t_sent;    /* when the answer to it was sent */
    char stime[32];     /* SendingTime text (fixed: the desk does not check it) */
    char rbuf[1 << 16]; /* receive buffer */
    char body[1024];    /* message being built */
    char out[1200];     /* the framed message */
};

/* Value of `tag` in msg[0..n) (the field after SOH), or NULL; *len set. */
static const char *fld(const char *m, size_t n, const char *tag, size_t *len)
{
    size_t tl = strlen(tag);

    for (size_t i = 0; i + tl + 1 < n; i++) {
        if (m[i] == '\001' && memcmp(m + i + 1, tag, tl) == 0 && m[i + 1 + tl] == '=') {
            const char *v = m + i + 2 + tl, *e = memchr(v, '\001', (size_t)(m + n - v));
            if (e == NULL)
                return NULL;
            *len = (size_t)(e - v);
            return v;
        }
    }
    return NULL;
}

/* Frame body (starting after 35=...'s predecessor) and send it. */
static int venue_send(struct venue *v, size_t blen)
{
    int n = snprintf(v->out, sizeof v->out, "8=FIX.4.4" SOH "9=%zu" SOH "%.*s", blen, (int)blen,
                     v->body);
    unsigned sum = 0;

    for (int i = 0; i < n; i++)
        sum += (unsigned char)v->out[i];
    n += snprintf(v->out + n, sizeof v->out - (size_t)n, "10=%03u" SOH, sum & 255u);
    v->last_er = (size_t)n;
    return send_all(v->fd, v->out, (size_t)n);
}

static size_t hdr(struct venue *v, char type)
{
    return (size_t)snprintf(v->body, sizeof v->body,
                            "35=%c" SOH "49=VENUE" SOH "56=DESK" SOH "34=%" PRIu64 SOH "52=%s" SOH,
                            type, v->seq++, v->stime);
}

/* Handle one complete message m[0..n).  Returns 0 or -errno. */
static int venue_msg(struct venue *v, const char *m, size_t n)
{
    size_t l, l11, l54, l38, l44;
    const char *t = fld(m, n, "35", &l);

    if (t == NULL || l != 1)
        return 0;
    size_t b = 0;
    switch (t[0]) {
    case 'A': /* Logon: answer with ours, sequence numbers reset */
        v->seq = 1;
        b = hdr(v, 'A');
        b += (size_t)snprintf(v->body + b, sizeof v->body - b,
                              "98=0" SOH "108=30" SOH "141=Y" SOH);
        v->logons++;
        return venue_send(v, b);
    case '1': { /* TestRequest: Heartbeat with its id */
        const char *id = fld(m, n, "112", &l);
        b = hdr(v, '0');
        if (id)
            b += (size_t)snprintf(v->body + b, sizeof v->body - b, "112=%.*s" SOH, (int)l, id);
        return venue_send(v, b);
    }
    case '5': /* Logout: answer it */
        b = hdr(v, '5');
        return venue_send(v, b);
    case 'D': {
        const char *c11 = fld(m, n, "11", &l11), *c54 = fld(m, n, "54", &l54),
                   *c38 = fld(m, n, "38", &l38), *c44 = fld(m, n, "44", &l44);
        if (!c11 || !c54 || !c38 || !c44)
            return -EPROTO;
        v->last_d = n;
        if (v->t0)
            desk_hist_record(&g_hist[ROW_DESK_OUT], desk_now_ns() - v->t0);
        v->execs++;
        b = hdr(v, '8');
        b += (size_t)snprintf(v->body + b, sizeof v->body - b,
                              "37=O%" PRIu64 SOH "11=%.*s" SOH "17=E%" PRIu64 SOH "150=F" SOH
                              "39=2" SOH "55=BTCUSDT" SOH "54=%.*s" SOH "38=%.*s" SOH
                              "32=%.*s" SOH "31=%.*s" SOH "151=0" SOH "14=%.*s" SOH "6=%.*s" SOH,
                              v->execs, (int)l11, c11, v->execs, (int)l54, c54, (int)l38, c38,
                              (int)l38, c38, (int)l44, c44, (int)l38, c38, (int)l44, c44);
        v->orders++;
        int rc = venue_send(v, b);
        v->t_sent = desk_now_ns();
        return rc;
    }
    default: /* Heartbeat and the rest: nothing to answer */
        return 0;
    }
}

/* One non-blocking turn: accept, read, answer every complete message.
 * Returns 0 or -errno. */
static int venue_poll(struct venue *v)
{
    if (v->fd < 0) {
        v->fd = accept4(v->lfd, NULL, NULL, SOCK_NONBLOCK);
        if (v->fd < 0)
            return errno == EAGAIN ? 0 : -errno;
        nodelay(v->fd);
    }
    ssize_t k = recv(v->fd, v->rbuf + v->rlen, sizeof v->rbuf - v->rlen, MSG_DONTWAIT);
    if (k <= 0) {
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        close(v->fd); /* the desk closed (at the end) */
        v->fd = -1;
        v->rlen = 0;
        return 0;
    }
    v->rlen += (size_t)k;
    size_t off = 0;
    for (;;) {
        /* A message ends with SOH "10=NNN" SOH. */
        const char *p = v->rbuf + off, *end = v->rbuf + v->rlen, *cs = NULL;
        for (const char *q = p; q + 8 <= end; q++)
            if (q[0] == '\001' && q[1] == '1' && q[2] == '0' && q[3] == '=' && q[7] == '\001') {
                cs = q;
                break;
            }
        if (cs == NULL)
            break;
        size_t n = (size_t)(cs + 8 - p);
        int rc = venue_msg(v, p, n);
        if (rc < 0)
            return rc;
        off += n;
    }
    memmove(v->rbuf, v->rbuf + off, v->rlen - off);
    v->rlen -= off;
    return 0;
}

/* ---- the desk, with the fix connector ---------------------------------------- */

struct desk {
    desk_config_t *cfg;
    char name[DESK_NAME_MAX];
    struct desk_main_hdr *main;
    size_t main_len;
    struct desk_strat_hdr *seg;
    size_t seg_len;
    desk_router_t *router;
    pthread_t router_tid;
    int router_started;
    _Atomic int router_ready; /* W: router thread */
    int router_pinned;        /* W: router thread, read after router_ready */
    struct desk_host *host;
    desk_conn_thread_t ct; /* the connector's thread, driven by us */
};

static void set_opt(desk_connector_conf_t *cc, const char *k, const char *v)
{
    desk_opt_store_t *o = &cc->opts[cc->nopts];

    snprintf(o->key, sizeof o->key, "%s", k);
    snprintf(o->value, sizeof o->value, "%s", v);
    cc->optv[cc->nopts].key = o->key;
    cc->optv[cc->nopts].value = o->value;
    cc->optv[cc->nopts].line = 0;
    cc->optv[cc->nopts].secret = 0;
    cc->nopts++;
}

static void *router_main(void *arg)
{
    struct desk *d = arg;

    d->router_pinned = pin_self(1);
    atomic_store_explicit(&d->router_ready, 1, memory_order_release);
    desk_router_run(d->router);
    return NULL;
}

static void desk_close(struct desk *d)
{
    if (d->router_started) {
        desk_router_stop(d->router);
        pthread_join(d->router_tid, NULL);
    }
    if (d->host) {
        desk_host_fini(d->host);
        free(d->host);
    }
    if (d->router && d->router->limits)
        desk_router_fini(d->router);
    if (d->seg) {
        desk_shm_unmap(d->seg, d->seg_len);
        desk_shm_unlink_strat(d->name, "strat");
    }
    if (d->main) {
        desk_shm_unmap(d->main, d->main_len);
        desk_shm_unlink_main(d->name);
    }
    free(d->router);
    free(d->cfg);
    g_shm_names[0][0] = g_shm_names[1][0] = 0;
}

/* deskd's defaults (order_capacity 65536, status 100 ms); every guard limit
 * set, none binding; one "fix" connector to 127.0.0.1:port. */
static int desk_open(struct desk *d, uint16_t port)
{
    char hosts[32];
    int rc;

    memset(d, 0, sizeof *d);
    d->cfg = calloc(1, sizeof *d->cfg);
    d->router = calloc(1, sizeof *d->router);
    if (!d->cfg || !d->router)
        return DESK_ERR(-ENOMEM, "out of memory");
    snprintf(d->name, sizeof d->name, "netrtt%d", (int)getpid());
    desk_config_t *c = d->cfg;
    snprintf(c->name, sizeof c->name, "%s", d->name);
    c->idle = DESK_IDLE_SPIN;
    c->router_cpu = 1;
    c->order_capacity = 65536;
    c->status_interval_ms = 100;
    c->limits.max_order_qty = 10 * DESK_SCALE;
    c->limits.max_order_notional = 1000000 * DESK_SCALE;
    c->limits.max_position_qty = 1000 * DESK_SCALE;
    c->limits.max_position_notional = 100000000 * DESK_SCALE;
    c->limits.daily_loss = 1000000 * DESK_SCALE;
    c->limits.collar_bps = 2000;
    c->limits.orders_per_sec = 1000000000u;
    c->limits.burst = UINT32_MAX;
    c->nconnectors = 1;
    desk_connector_conf_t *cc = &c->connectors[0];
    snprintf(cc->name, DESK_NAME_MAX, "venue");
    snprintf(cc->type, DESK_NAME_MAX, "fix");
    cc->venue_type = DESK_VENUE_CRYPTO;
    cc->cpu = -1;
    c->ninstruments = 1;
    desk_instrument_conf_t *ic = &c->instruments[0];
    snprintf(ic->symbol, DESK_SYMBOL_MAX, "BTCUSDT");
    snprintf(ic->venue, DESK_NAME_MAX, "venue");
    ic->asset_class = DESK_ASSET_CRYPTO;
    ic->tick_size = TICK;
    ic->lot_size = LOT;
    ic->open_min = ic->close_min = -1;
    c->nstrategies = 1;
    snprintf(c->strategies[0].name, DESK_NAME_MAX, "strat");
    c->strategies[0].cancel_on_disconnect = 1;
    c->strategies[0].order_ring = 4096;
    c->strategies[0].event_ring = 16384;

    desk_shm_main_name(g_shm_names[0], sizeof g_shm_names[0], d->name);
    desk_shm_strat_name(g_shm_names[1], sizeof g_shm_names[1], d->name, "strat");
    if ((rc = desk_shm_main_create(d->name, 1, 1, 1, 0644, &d->main, &d->main_len)) < 0)
        return rc;
    desk_instrument_t *in = desk_shm_instruments(d->main);
    in->id = 0;
    in->connector = 0;
    in->asset_class = DESK_ASSET_CRYPTO;
    in->tradable = 1;
    memcpy(in->symbol, ic->symbol, sizeof in->symbol);
    in->tick_size = ic->tick_size;
    in->lot_size = ic->lot_size;
    in->open_min = in->close_min = -1;
    struct desk_conn_shm *cs = &desk_shm_conns(d->main)[0];
    memcpy(cs->name, cc->name, sizeof cs->name);
    memcpy(cs->type, cc->type, sizeof cs->type);
    cs->venue_type = cc->venue_type;
    snprintf(desk_shm_strats(d->main)[0].name, DESK_NAME_MAX, "strat");
    rc = desk_shm_strat_create(d->name, "strat", 0, d->main->start_mono_ns, 4096, 16384, geteuid(),
                               getegid(), 0600, &d->seg, &d->seg_len);
    if (rc < 0)
        return rc;
    if ((rc = desk_router_init(d->router, c, d->main)) < 0)
        return rc;
    if ((rc = desk_router_attach_strategy(d->router, 0, d->seg)) < 0)
        return rc;
    atomic_store_explicit(&d->router->strat[0].alive, 1, memory_order_relaxed);

    snprintf(hosts, sizeof hosts, "127.0.0.1:%u", (unsigned)port);
    set_opt(cc, "hosts", hosts);
    set_opt(cc, "sender_comp_id", "DESK");
    set_opt(cc, "target_comp_id", "VENUE");
    set_opt(cc, "cash", "10000000");
    set_opt(cc, "reset_on_logon", "true");
    set_opt(cc, "max_orders", "65536");
    d->host = calloc(1, sizeof *d->host);
    if (d->host == NULL)
        return DESK_ERR(-ENOMEM, "out of memory");
    if ((rc = desk_host_init(d->host, 0, cc, ".", d->main)) < 0)
        return rc;
    rc = desk_router_attach_connector(d->router, 0, d->host->cmd_mem, d->host->cmd_len,
                                      d->host->ev_mem, d->host->ev_len);
    if (rc < 0)
        return rc;
    desk_balance_t bal;
    if ((rc = d->host->ops->get_buying_power(d->host->self, &bal)) < 0)
        return rc;
    desk_router_seed_cash(d->router, 0, bal.cash, bal.buying_power);
    /* FIX order entry carries no market data: a fixed quote for the collar. */
    struct desk_quote_slot *qs = &desk_shm_quotes(d->main)[0];
    desk_quote_t q = {.bid_px = 6183762 * TICK, .bid_qty = DESK_SCALE,
                      .ask_px = 6183763 * TICK, .ask_qty = DESK_SCALE,
                      .last_px = 6183762 * TICK, .recv_ns = desk_now_ns()};
    desk_seqlock_write(&qs->lock, &qs->q, &q, sizeof q);
    if ((rc = d->host->ops->connect(d->host->self)) < 0)
        return rc;
    d->host->connected = 1;
    d->ct.hosts[0] = d->host;
    d->ct.nhosts = 1;
    d->ct.cpu = -1;
    d->ct.idle = DESK_IDLE_SPIN;
    atomic_store_explicit(&d->main->run_state, DESK_RUN_RUNNING, memory_order_release);
    desk_router_publish(d->router, desk_now_ns());
    if (pthread_create(&d->router_tid, NULL, router_main, d) != 0)
        return DESK_ERR(-EAGAIN, "router thread");
    d->router_started = 1;
    while (!atomic_load_explicit(&d->router_ready, memory_order_acquire))
        sched_yield();
    return 0;
}

static desk_health_t conn_health(const struct desk *d)
{
    struct desk_conn_shm *cs = &desk_shm_conns(d->main)[0];
    struct desk_conn_health h;

    desk_seqlock_read(&cs->hlock, &h, &cs->health, sizeof h);
    return (desk_health_t)h.state;
}

/* The strategy's idle turn: the connector thread's work, then the venue's. */
static int turn(struct desk *d, struct venue *v)
{
    desk_conn_thread_poll(&d->ct, desk_now_ns());
    return venue_poll(v);
}

static int run_desk(void)
{
    struct desk d;
    struct venue *v = calloc(1, sizeof *v);
    desk_client_t *c = NULL;
    desk_event_t ev[16];
    uint16_t port = 0;
    int64_t pos = 0;
    int rc;

    if (v == NULL)
        return -ENOMEM;
    v->fd = -1;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(v->stime, sizeof v->stime, "%Y%m%d-%H:%M:%S.000", &tm);
    if ((v->lfd = tcp_listen(&port)) < 0) {
        rc = v->lfd;
        free(v);
        return rc;
    }
    if ((rc = desk_open(&d, port)) < 0)
        goto out;
    /* Logon. */
    uint64_t end = desk_now_ns() + TIMEOUT_NS;
    while (conn_health(&d) != DESK_UP) {
        if ((rc = turn(&d, v)) < 0)
            goto out;
        if (desk_now_ns() > end) {
            rc = DESK_ERR(-ETIMEDOUT, "the fix session did not log on");
            goto out;
        }
    }
    if ((rc = desk_attach(&c, d.name, "strat")) < 0)
        goto out;
    for (uint32_t i = 0; i < g_warmup + g_orders; i++) {
        uint64_t id = i + 1;
        desk_side_t side = pos > 0 ? DESK_SELL : DESK_BUY;
        int64_t px = side == DESK_BUY ? 6183763 * TICK : 6183762 * TICK;
        uint64_t t0 = desk_now_ns();
        v->t0 = i >= g_warmup ? t0 : 0;
        if ((rc = desk_submit_new(c, id, 0, side, DESK_LIMIT, DESK_IOC, LOT, px, 0)) < 0) {
            rc = DESK_ERR(rc, "desk_submit_new: %d", rc);
            goto out;
        }
        int done = 0;
        while (!done) {
            int k = desk_poll(c, ev, 16);
            if (k == 0) {
                if ((rc = turn(&d, v)) < 0)
                    goto out;
                if (desk_now_ns() - t0 > TIMEOUT_NS) {
                    rc = DESK_ERR(-ETIMEDOUT, "order %" PRIu64 " unanswered", id);
                    goto out;
                }
                continue;
            }
            uint64_t t = desk_now_ns();
            for (int e = 0; e < k; e++) {
                if (ev[e].cl_ord_id != id)
                    continue;
                if (ev[e].type == DESK_EV_FILL && ev[e].leaves_qty == 0) {
                    if (i >= g_warmup) {
                        desk_hist_record(&g_hist[ROW_DESK], t - t0);
                        desk_hist_record(&g_hist[ROW_DESK_IN], t - v->t_sent);
                    }
                    pos += side == DESK_BUY ? ev[e].last_qty : -ev[e].last_qty;
                    done = 1;
                } else if (ev[e].type != DESK_EV_ACK && ev[e].type != DESK_EV_FILL) {
                    rc = DESK_ERR(-EPROTO, "order %" PRIu64 ": event type %d (reason %s)", id,
                                  (int)ev[e].type, desk_reject_name(ev[e].reason));
                    goto out;
                }
            }
        }
    }
    g_d_bytes = v->last_d;
    g_er_bytes = v->last_er;
    g_ran[ROW_DESK_OUT] = g_ran[ROW_DESK_IN] = 1;
    g_ran[ROW_DESK] = v->orders == (uint64_t)g_warmup + g_orders;
    rc = g_ran[ROW_DESK] ? 0 : DESK_ERR(-EPROTO, "venue answered %" PRIu64 " orders", v->orders);
out:
    if (rc < 0)
        fprintf(stderr, "desk_net_rtt: desk row: %s\n", desk_errmsg());
    if (c)
        desk_detach(c);
    /* Teardown: the venue hangs up first (it is polled from this thread, so
     * it could not answer the connector's Logout), then the connector sees
     * the close and deskd's disconnect has nothing to wait for. */
    if (v->fd >= 0) {
        close(v->fd);
        v->fd = -1;
        uint64_t stop = desk_now_ns() + 1000000000ull;
        while (d.host && conn_health(&d) == DESK_UP && desk_now_ns() < stop)
            desk_conn_thread_poll(&d.ct, desk_now_ns());
    }
    desk_close(&d);
    if (v->fd >= 0)
        close(v->fd);
    close(v->lfd);
    free(v);
    return rc;
}

/* ---- the baselines ------------------------------------------------------------- */

static char g_dmsg[2048], g_ermsg[2048];

static int run_tcp_same(void)
{
    int fds[2], rc;
    char buf[2048];

    if ((rc = tcp_pair(fds)) < 0)
        return rc;
    for (uint32_t i = 0; i < g_warmup + g_orders && rc == 0; i++) {
        uint64_t t0 = desk_now_ns();
        if ((rc = send_all(fds[0], g_dmsg, g_d_bytes)) < 0 ||
            (rc = recv_all(fds[1], buf, g_d_bytes)) < 0 ||
            (rc = send_all(fds[1], g_ermsg, g_er_bytes)) < 0 ||
            (rc = recv_all(fds[0], buf, g_er_bytes)) < 0)
            break;
        if (i >= g_warmup)
            desk_hist_record(&g_hist[ROW_TCP_SAME], desk_now_ns() - t0);
    }
    close(fds[0]);
    close(fds[1]);
    g_ran[ROW_TCP_SAME] = rc == 0;
    return rc;
}

struct pong {
    int fd;
    int pinned;
    int rc;
};

static void *pong_main(void *arg)
{
    struct pong *p = arg;
    char buf[2048];

    p->pinned = pin_self(1);
    for (uint32_t i = 0; i < g_warmup + g_orders; i++)
        if ((p->rc = recv_all(p->fd, buf, g_d_bytes)) < 0 ||
            (p->rc = send_all(p->fd, g_ermsg, g_er_bytes)) < 0)
            break;
    return NULL;
}

static int run_tcp_cross(void)
{
    int fds[2], rc;
    char buf[2048];
    pthread_t t;

    if ((rc = tcp_pair(fds)) < 0)
        return rc;
    struct pong p = {.fd = fds[1]};
    if (pthread_create(&t, NULL, pong_main, &p) != 0) {
        close(fds[0]);
        close(fds[1]);
        return -EAGAIN;
    }
    for (uint32_t i = 0; i < g_warmup + g_orders; i++) {
        uint64_t t0 = desk_now_ns();
        if ((rc = send_all(fds[0], g_dmsg, g_d_bytes)) < 0 ||
            (rc = recv_all(fds[0], buf, g_er_bytes)) < 0)
            break;
        if (i >= g_warmup)
            desk_hist_record(&g_hist[ROW_TCP_CROSS], desk_now_ns() - t0);
    }
    if (rc < 0)
        shutdown(fds[0], SHUT_RDWR);
    pthread_join(t, NULL);
    close(fds[0]);
    close(fds[1]);
    if (rc == 0)
        rc = p.rc;
    g_pinned &= p.pinned;
    g_ran[ROW_TCP_CROSS] = rc == 0;
    return rc;
}

/* ---- report ---------------------------------------------------------------------- */

static void print_row(FILE *f, enum row r)
{
    const desk_hist_t *h = &g_hist[r];
    uint64_t n = atomic_load_explicit(&h->count, memory_order_relaxed);
    uint64_t sum = atomic_load_explicit(&h->sum, memory_order_relaxed);

    fprintf(f,
            "    {\"name\": \"%s\", \"what\": \"%s\", \"samples\": %" PRIu64
            ", \"mean_ns\": %.1f, \"p50_ns\": %" PRIu64 ", \"p90_ns\": %" PRIu64
            ", \"p99_ns\": %" PRIu64 ", \"p999_ns\": %" PRIu64 ", \"max_ns\": %" PRIu64 "}",
            row_name[r], row_what[r], n, n ? (double)sum / (double)n : 0.0,
            desk_hist_quantile(h, 0.5), desk_hist_quantile(h, 0.9), desk_hist_quantile(h, 0.99),
            desk_hist_quantile(h, 0.999), atomic_load_explicit(&h->max, memory_order_relaxed));
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"orders", required_argument, 0, 'n'},
                                       {"warmup", required_argument, 0, 'w'},
                                       {"json", required_argument, 0, 'j'},
                                       {0, 0, 0, 0}};
    const char *json = NULL;
    int o, rc = 0;

    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (o) {
        case 'n': g_orders = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'w': g_warmup = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'j': json = optarg; break;
        default:
            fprintf(stderr, "usage: desk_net_rtt [--orders N] [--warmup N] [--json FILE]\n");
            return 2;
        }
    }
    if (g_orders == 0 || g_warmup + g_orders > 60000) {
        fprintf(stderr, "desk_net_rtt: --orders 1.., warmup + orders <= 60000 (order table)\n");
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    g_ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    g_pinned = pin_self(0);

    if ((rc = run_desk()) == 0) {
        /* The baselines' payloads: the sizes of the last order's D and 8
         * (the bytes themselves do not matter to TCP). */
        memset(g_dmsg, 'D', sizeof g_dmsg);
        memset(g_ermsg, '8', sizeof g_ermsg);
        if ((rc = run_tcp_same()) < 0)
            fprintf(stderr, "desk_net_rtt: raw_tcp_same_thread: %s\n", strerror(-rc));
        else if ((rc = run_tcp_cross()) < 0)
            fprintf(stderr, "desk_net_rtt: raw_tcp_cross_core: %s\n", strerror(-rc));
    }

    printf("desk_net_rtt: %u orders after %u warm-up; NewOrderSingle %zu bytes, "
           "ExecutionReport %zu bytes; %d CPUs, pinned %s\n",
           g_orders, g_warmup, g_d_bytes, g_er_bytes, g_ncpu, g_pinned ? "yes" : "NO");
    printf("%-22s %9s %8s %8s %8s %8s %9s\n", "row (ns)", "samples", "p50", "p90", "p99",
           "p99.9", "max");
    for (int r = 0; r < ROW__COUNT; r++) {
        const desk_hist_t *h = &g_hist[r];
        if (!g_ran[r])
            continue;
        printf("%-22s %9" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %9" PRIu64
               "\n",
               row_name[r], atomic_load_explicit(&h->count, memory_order_relaxed),
               desk_hist_quantile(h, 0.5), desk_hist_quantile(h, 0.9), desk_hist_quantile(h, 0.99),
               desk_hist_quantile(h, 0.999), atomic_load_explicit(&h->max, memory_order_relaxed));
    }
    if (json) {
        FILE *f = fopen(json, "w");
        if (f == NULL) {
            perror(json);
            return 1;
        }
        fprintf(f,
                "{\n  \"orders\": %u, \"warmup\": %u, \"online_cpus\": %d, \"pinned\": %d,\n"
                "  \"d_bytes\": %zu, \"er_bytes\": %zu,\n  \"rows\": [\n",
                g_orders, g_warmup, g_ncpu, g_pinned, g_d_bytes, g_er_bytes);
        int first = 1;
        for (int r = 0; r < ROW__COUNT; r++) {
            if (!g_ran[r])
                continue;
            fprintf(f, "%s", first ? "" : ",\n");
            print_row(f, (enum row)r);
            first = 0;
        }
        fprintf(f, "\n  ]\n}\n");
        fclose(f);
    }
    return rc == 0 && g_ran[ROW_DESK] && g_ran[ROW_TCP_SAME] && g_ran[ROW_TCP_CROSS] ? 0 : 1;
}
