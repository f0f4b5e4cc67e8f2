/*
 * e2e.c - desk_e2e, the end-to-end latency and throughput harness.
 *
 * It builds a desk in this process from the real pieces, the way deskd
 * does (core/deskd.c) and the router tests do (tests/unit/testdesk.h): a
 * main segment and a strategy segment in /dev/shm, desk's router thread
 * (desk_router_run, idle strategy `spin`), and a venue on the connector
 * rings.  The strategy side is libdesk itself: desk_attach() by name through
 * /dev/shm, desk_submit_new(), desk_poll(), exactly as a strategy process
 * uses it (it maps the segments a second time; only the thread is shared
 * with deskd's process).
 *
 * Venues:
 *   null     a thread that takes each desk_vcmd_t from the connector ring,
 *            encodes it as Binance's POST /api/v3/order query string (no
 *            signing, no send) and stamps the time it holds the encoded
 *            order.  In the latency runs it then answers ACK + FILL (a
 *            scripted venue); in the throughput run it answers CANCELED
 *            (an IOC that found nothing), one event per order.
 *   paper    desk's paper connector (connectors/paper, desk_paper_ops())
 *            behind desk's own host (core/host.h), replaying the recorded
 *            Binance BTCUSDT capture in real time; orders are 1-lot MARKET
 *            IOC, alternately buying and selling back.
 *
 * Threads and CPUs.  Strategy on CPU 0, router on CPU 1, the venue on CPU 2
 * when the machine has one.  With only two CPUs the venue is polled from the
 * strategy's thread between its own polls (--venue-thread=off, the default
 * there): every message still crosses between CPU 0 and CPU 1 on each ring
 * hop, as with a venue on a third core, and no two spinning threads share a
 * CPU.  --venue-thread=on forces a venue thread anyway (the strace run does,
 * so each role's syscalls are counted on its own thread).
 *
 * Rows (histograms: desk's core/hist.h, p50 .. p99.99 and max):
 *   (1) submit_to_routed      desk_submit_new -> the router has run the guard
 *                             and put the order on the connector ring (the
 *                             router's own route_ns stamp)
 *   (2) submit_to_venue_held  -> the null venue holds the encoded order
 *   (3) submit_to_fill_seen   -> the venue's FILL is back in the strategy's
 *                             desk_poll (full round trip), null (scripted)
 *                             venue and paper venue
 *   (4) throughput            most orders/s through the guard to the null
 *                             venue for --tp-seconds, with every order
 *                             accounted for (submitted == reached venue ==
 *                             answered), back-pressure (-EAGAIN) counted.
 * Every stamp is CLOCK_MONOTONIC through the vDSO (desk_now_ns).
 *
 * Steady-state markers: when --marks is given, the strategy thread writes
 * "E2E_MARK begin <row>" and "E2E_MARK end <row>" to stderr around each
 * measured loop and every thread prints "E2E_THREAD <role> tid=<tid>" at
 * start, so an `strace -f -ff -tt` log can be cut to the steady state.
 *
 * Exit: 0 when every row ran with nothing lost, 1 otherwise, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "connectors/paper/paper.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "core/fixed.h"
#include "core/hist.h"
#include "core/host.h"
#include "core/router.h"
#include "desk/client.h"
#include "ring/shm.h"
#include "ring/spsc.h"

#ifndef DESK_BENCH_MARKETDATA
#define DESK_BENCH_MARKETDATA "../shared/data/marketdata"
#endif
#define PAPER_DATA "binance_spot_btcusdt_2024-08-08/btcusdt_20240808.gz"

#define LOT (DESK_SCALE / 100000)     /* 0.00001 BTC */
#define TICK (DESK_SCALE / 100)       /* 0.01 USDT */
#define TS_SLOTS (1u << 16)           /* throughput: submit stamps by ClOrdID */
#define E2E_TIMEOUT_NS 30000000000ull /* an order unanswered this long is lost */
#define DESK_LAT_CAPACITY 65536       /* latency runs: deskd's default order_capacity */
#define DESK_LAT_STATUS_MS 100        /* latency runs: deskd's default status_interval_ms */

/* ---- options --------------------------------------------------------------- */

struct opts {
    uint32_t orders;      /* latency runs: measured orders each */
    uint32_t warmup;      /* latency runs: unmeasured orders first */
    double tp_seconds;    /* throughput run length */
    double probe_seconds; /* machine-noise probe length (0: none) */
    int venue_thread;     /* -1 auto, 0 off, 1 on */
    int marks;            /* print steady-state markers */
    int paper;            /* run the paper venue row */
    uint32_t capacity;    /* throughput: order table (ClOrdIDs per day = 3x) */
    uint32_t status_ms;   /* throughput: status refresh interval */
    const char *json;     /* results file, or NULL */
    const char *data;     /* paper capture path */
};

/* ---- results ---------------------------------------------------------------- */

enum row {
    ROW_ROUTED = 0, /* (1) */
    ROW_HELD,       /* (2) */
    ROW_ACK_NULL,   /* submit -> ACK seen, scripted venue */
    ROW_FILL_NULL,  /* (3) scripted venue */
    ROW_ACK_PAPER,  /* submit -> ACK seen, paper */
    ROW_FILL_PAPER, /* (3) paper */
    ROW_TP_LATENCY, /* (4) submit -> CANCELED seen, under full load */
    ROW__COUNT
};

static const char *const row_name[ROW__COUNT] = {
    "submit_to_routed",
    "submit_to_venue_held",
    "submit_to_ack_seen_null",
    "submit_to_fill_seen_null",
    "submit_to_ack_seen_paper",
    "submit_to_fill_seen_paper",
    "throughput_submit_to_answer_seen",
};

static const char *const row_what[ROW__COUNT] = {
    "(1) desk_submit_new -> router ran the guard and put the order on the connector ring "
    "(router's route_ns)",
    "(2) desk_submit_new -> null venue holds the order, encoded as a Binance REST query",
    "desk_submit_new -> ACK from the scripted null venue seen by desk_poll",
    "(3) desk_submit_new -> FILL from the scripted null venue seen by desk_poll (round trip)",
    "desk_submit_new -> ACK from the paper venue seen by desk_poll",
    "(3) desk_submit_new -> FILL from the paper venue seen by desk_poll (round trip)",
    "(4) latency under full load: desk_submit_new -> the null venue's CANCELED seen by "
    "desk_poll",
};

static desk_hist_t g_hist[ROW__COUNT];
static uint8_t g_ran[ROW__COUNT];

struct tp_result {
    double seconds;        /* submitting time */
    uint64_t submitted;    /* desk_submit_new returned 0 */
    uint64_t backpressure; /* desk_submit_new returned -EAGAIN */
    uint64_t venue_got;    /* commands the venue took */
    uint64_t answered;     /* answers desk_poll returned */
    uint64_t rejects;      /* REJECT events (must be 0) */
    uint64_t router_cmds;  /* router's count of commands taken */
    int budget_hit;        /* stopped early at the ClOrdID budget */
    int ok;                /* every order accounted for */
};
static struct tp_result g_tp;

struct topo {
    int ncpu;         /* online CPUs */
    int venue_thread; /* 1: own thread, 0: polled from the strategy thread */
    int pin_strategy; /* strategy thread pinned to CPU 0 (1) or not (0) */
    int pin_router;   /* router thread pinned to CPU 1; W: router, read after join */
    int pin_venue;    /* venue thread pinned; W: venue, read after join */
    int cpu_venue;    /* CPU of the venue thread, -1 if none */
};
static struct topo g_topo;
static const char *g_paper_status = "not run";
static struct opts g_opt;

/* ---- small helpers ------------------------------------------------------------ */

static int pin_self(int cpu)
{
    cpu_set_t set;

    if (cpu < 0 || cpu >= g_topo.ncpu)
        return 0;
    CPU_ZERO(&set);
    CPU_SET((size_t)cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

static void say_thread(const char *role)
{
    if (g_opt.marks)
        fprintf(stderr, "E2E_THREAD %s tid=%ld\n", role, (long)syscall(SYS_gettid));
}

static void mark(const char *what, const char *row)
{
    if (g_opt.marks)
        fprintf(stderr, "E2E_MARK %s %s\n", what, row);
}

/* Decimal of an unsigned number; returns the length written. */
static size_t u64dec(char *p, uint64_t v)
{
    char t[24];
    size_t n = 0;

    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = t[n - 1 - i];
    return n;
}

static size_t put(char *p, const char *s)
{
    size_t n = strlen(s);

    memcpy(p, s, n);
    return n;
}

/* Segments to remove if we are interrupted (shm_unlink is async-signal-safe). */
static char g_shm_names[2][64];

static void on_signal(int sig)
{
    for (int i = 0; i < 2; i++)
        if (g_shm_names[i][0])
            shm_unlink(g_shm_names[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ---- the desk ------------------------------------------------------------------ */

struct e2e_desk {
    desk_config_t *cfg;         /* heap: it is large */
    char name[DESK_NAME_MAX];   /* unique desk name */
    struct desk_main_hdr *main; /* RW mapping */
    size_t main_len;
    struct desk_strat_hdr *seg; /* strategy segment */
    size_t seg_len;
    desk_router_t *router; /* heap */
    pthread_t router_tid;
    int router_started;
    _Atomic int router_ready; /* router thread pinned and named; W: router */
    /* null venue */
    void *cmd_mem, *ev_mem; /* connector rings (owned) */
    size_t cmd_len, ev_len;
    /* paper venue */
    struct desk_host *host; /* heap, NULL for the null venue */
    desk_conn_thread_t ct;  /* its hosts (driven by us, never started) */
};

static void *ring_mem(uint32_t slots, size_t *len)
{
    *len = desk_spsc_bytes(slots);
    void *m = aligned_alloc(DESK_FALSE_SHARING,
                            (*len + DESK_FALSE_SHARING - 1) & ~(size_t)(DESK_FALSE_SHARING - 1));
    if (m && desk_spsc_init(m, *len, slots) < 0) {
        free(m);
        m = NULL;
    }
    return m;
}

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
    struct e2e_desk *d = arg;

    g_topo.pin_router = pin_self(1);
    say_thread("router");
    /* Release pairs with desk_open()'s acquire: its setup syscalls are done
     * before the strategy starts a measured loop. */
    atomic_store_explicit(&d->router_ready, 1, memory_order_release);
    desk_router_run(d->router);
    return NULL;
}

static void desk_close(struct e2e_desk *d)
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
    free(d->cmd_mem);
    free(d->ev_mem);
    free(d->router);
    free(d->cfg);
    memset(d, 0, sizeof *d);
    g_shm_names[0][0] = g_shm_names[1][0] = 0;
}

/*
 * One connector ("venue", crypto), one instrument (BTCUSDT, tick 0.01, lot
 * 0.00001), one strategy ("strat").  Every guard limit is set and none
 * binds, so each order runs the full check set.  paper: the connector is
 * desk's paper venue; otherwise the rings are ours (the null venue).
 */
static uint64_t g_clordids; /* throughput: ClOrdIDs per day; 0 = deskd's default */

static int desk_open(struct e2e_desk *d, const char *tag, int paper, uint32_t capacity,
                     uint32_t status_ms)
{
    int rc;

    memset(d, 0, sizeof *d);
    d->cfg = calloc(1, sizeof *d->cfg);
    d->router = calloc(1, sizeof *d->router);
    if (!d->cfg || !d->router)
        return DESK_ERR(-ENOMEM, "out of memory");
    snprintf(d->name, sizeof d->name, "e2e%s%d", tag, (int)getpid());
    desk_config_t *c = d->cfg;
    snprintf(c->name, sizeof c->name, "%s", d->name);
    c->idle = DESK_IDLE_SPIN;
    c->router_cpu = 1;
    c->order_capacity = capacity;
    c->clordids_per_day = tag[0] == 't' ? g_clordids : 0;
    c->status_interval_ms = status_ms;
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
    snprintf(cc->type, DESK_NAME_MAX, "%s", paper ? "paper" : "null");
    cc->venue_type = DESK_VENUE_CRYPTO;
    cc->cpu = -1;
    c->ninstruments = 1;
    desk_instrument_conf_t *ic = &c->instruments[0];
    snprintf(ic->symbol, DESK_SYMBOL_MAX, "BTCUSDT");
    snprintf(ic->venue, DESK_NAME_MAX, "venue");
    ic->asset_class = DESK_ASSET_CRYPTO;
    ic->tick_size = TICK;
    ic->lot_size = LOT;
    ic->min_notional = 0;
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
    in->min_notional = ic->min_notional;
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

    if (paper) {
        char path[DESK_PATH_MAX];
        snprintf(path, sizeof path, "%s", g_opt.data);
        set_opt(cc, "data", path);
        set_opt(cc, "cash", "10000000");
        set_opt(cc, "speed", "1");
        set_opt(cc, "loop", "true");
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
        if ((rc = d->host->ops->connect(d->host->self)) < 0)
            return rc;
        d->host->connected = 1;
        d->ct.hosts[0] = d->host;
        d->ct.nhosts = 1;
        d->ct.cpu = -1;
        d->ct.idle = DESK_IDLE_SPIN;
    } else {
        d->cmd_mem = ring_mem(4096, &d->cmd_len);
        d->ev_mem = ring_mem(16384, &d->ev_len);
        if (!d->cmd_mem || !d->ev_mem)
            return DESK_ERR(-ENOMEM, "connector rings");
        rc = desk_router_attach_connector(d->router, 0, d->cmd_mem, d->cmd_len, d->ev_mem,
                                          d->ev_len);
        if (rc < 0)
            return rc;
        desk_router_seed_cash(d->router, 0, 10000000 * DESK_SCALE, 10000000 * DESK_SCALE);
        struct desk_conn_health h = {.state = DESK_UP, .since_ns = desk_now_ns()};
        snprintf(h.reason, sizeof h.reason, "null venue");
        desk_seqlock_write(&cs->hlock, &cs->health, &h, sizeof h);
        /* A fixed quote, as a connector would publish it. */
        struct desk_quote_slot *qs = &desk_shm_quotes(d->main)[0];
        desk_quote_t q = {.bid_px = 6183762 * TICK,
                          .bid_qty = DESK_SCALE,
                          .ask_px = 6183763 * TICK,
                          .ask_qty = DESK_SCALE,
                          .last_px = 6183762 * TICK,
                          .recv_ns = desk_now_ns()};
        desk_seqlock_write(&qs->lock, &qs->q, &q, sizeof q);
    }
    atomic_store_explicit(&d->main->run_state, DESK_RUN_RUNNING, memory_order_release);
    desk_router_publish(d->router, desk_now_ns());
    if (pthread_create(&d->router_tid, NULL, router_main, d) != 0)
        return DESK_ERR(-EAGAIN, "router thread");
    d->router_started = 1;
    while (!atomic_load_explicit(&d->router_ready, memory_order_acquire))
        sched_yield();
    return 0;
}

/* ---- the null venue ------------------------------------------------------------ */

enum venue_mode {
    VENUE_ACK_FILL = 1, /* latency: ACK then FILL at the order's price */
    VENUE_CANCEL = 2,   /* throughput: CANCELED (IOC, nothing filled) */
};

struct null_venue {
    desk_spsc_t in;                 /* consumer: router -> venue */
    desk_spsc_t out;                /* producer: venue -> router */
    const desk_instrument_t *instr; /* instrument table */
    int mode;                       /* enum venue_mode */
    uint64_t exec_id;               /* venue exec ids */
    _Atomic uint64_t taken;         /* commands taken; W: venue */
    uint64_t bytes;                 /* encoded bytes (keeps the encoder live) */
    _Atomic uint64_t inflight_t0;   /* latency: the in-flight order's submit time;
                                       W: strategy (ordered by the rings) */
    _Atomic uint32_t stop;          /* venue thread: leave; W: strategy thread */
    char wire[512];                 /* the encoded request */
};

/*
 * Encode like a Binance connector before signing: POST /api/v3/order's
 * query string.  Returns its length.
 */
static size_t encode(struct null_venue *v, const desk_vcmd_t *c)
{
    char *p = v->wire;
    int n;

    p += put(p, "symbol=");
    p += put(p, v->instr[c->instrument].symbol);
    p += put(p, c->side == DESK_BUY ? "&side=BUY" : "&side=SELL");
    p += put(p, c->ord_type == DESK_MARKET ? "&type=MARKET" : "&type=LIMIT");
    if (c->ord_type != DESK_MARKET)
        p += put(p, c->tif == DESK_IOC ? "&timeInForce=IOC" : "&timeInForce=GTC");
    p += put(p, "&quantity=");
    n = desk_fixed_format(c->qty, 0, p, 32);
    p += n > 0 ? n : 0;
    if (c->px) {
        p += put(p, "&price=");
        n = desk_fixed_format(c->px, 0, p, 32);
        p += n > 0 ? n : 0;
    }
    p += put(p, "&newClientOrderId=d1-");
    p += u64dec(p, c->cl_ord_id);
    p += put(p, "&newOrderRespType=ACK&timestamp=");
    p += u64dec(p, desk_wall_ns() / 1000000);
    return (size_t)(p - v->wire);
}

static void venue_emit(struct null_venue *v, const desk_vevent_t *ev)
{
    /* The router drains this ring every turn: a full ring is waited out,
     * never dropped. */
    while (desk_spsc_push(&v->out, ev) < 0)
        desk_cpu_relax();
}

/* Take and answer up to `max` commands.  Venue role; no syscall. */
static uint32_t venue_step(struct null_venue *v, uint32_t max)
{
    uint32_t n = desk_spsc_peek_n(&v->in, max);

    for (uint32_t i = 0; i < n; i++) {
        const desk_vcmd_t *c = desk_spsc_slot(&v->in, i);
        v->bytes += encode(v, c);
        uint64_t held = desk_now_ns();
        desk_vevent_t ev = {.instrument = c->instrument, .order_id = c->order_id, .venue_ns = held};
        if (v->mode == VENUE_ACK_FILL) {
            /* Relaxed: the rings carry the order (strategy's store, its ring
             * release, the router's acquire and release, our acquire). */
            uint64_t t0 = atomic_load_explicit(&v->inflight_t0, memory_order_relaxed);
            if (t0) {
                desk_hist_record(&g_hist[ROW_ROUTED], c->route_ns - t0);
                desk_hist_record(&g_hist[ROW_HELD], held - t0);
            }
            ev.type = DESK_EV_ACK;
            venue_emit(v, &ev);
            ev.type = DESK_EV_FILL;
            ev.exec_id = ++v->exec_id;
            ev.last_px = c->px;
            ev.last_qty = c->qty;
            ev.cum_qty = c->qty;
            venue_emit(v, &ev);
        } else {
            ev.type = DESK_EV_CANCELED;
            venue_emit(v, &ev);
        }
    }
    if (n) {
        desk_spsc_release(&v->in, n);
        atomic_store_explicit(&v->taken, atomic_load_explicit(&v->taken, memory_order_relaxed) + n,
                              memory_order_relaxed);
    }
    return n;
}

static int venue_init(struct null_venue *v, struct e2e_desk *d, int mode)
{
    memset(v, 0, sizeof *v);
    v->instr = desk_shm_instruments(d->main);
    v->mode = mode;
    if (desk_spsc_attach_consumer(&v->in, d->cmd_mem, d->cmd_len) < 0 ||
        desk_spsc_attach_producer(&v->out, d->ev_mem, d->ev_len) < 0)
        return -EINVAL;
    return 0;
}

/* A venue of either kind, on its own thread or polled by the strategy. */
struct venue {
    struct null_venue *nv; /* null venue, or NULL */
    struct e2e_desk *d;    /* paper: the desk whose host to poll */
    pthread_t tid;
    int threaded;           /* 1: runs on its own thread */
    _Atomic uint32_t stop;  /* W: strategy thread */
    _Atomic uint32_t ready; /* venue thread pinned and named; W: venue */
};

static inline void venue_poll(struct venue *v)
{
    if (v->nv)
        venue_step(v->nv, DESK_ROUTER_BATCH);
    else
        desk_conn_thread_poll(&v->d->ct, desk_now_ns());
}

static void *venue_main(void *arg)
{
    struct venue *v = arg;

    g_topo.pin_venue = pin_self(g_topo.cpu_venue);
    say_thread(v->nv ? "venue_null" : "venue_paper");
    /* Release pairs with venue_start()'s acquire. */
    atomic_store_explicit(&v->ready, 1, memory_order_release);
    /* Acquire pairs with the release in venue_stop(). */
    while (!atomic_load_explicit(&v->stop, memory_order_acquire))
        venue_poll(v);
    return NULL;
}

static int venue_start(struct venue *v)
{
    v->threaded = g_topo.venue_thread;
    if (!v->threaded)
        return 0;
    if (pthread_create(&v->tid, NULL, venue_main, v) != 0)
        return -EAGAIN;
    while (!atomic_load_explicit(&v->ready, memory_order_acquire))
        sched_yield();
    return 0;
}

static void venue_stop(struct venue *v)
{
    if (!v->threaded)
        return;
    atomic_store_explicit(&v->stop, 1, memory_order_release);
    pthread_join(v->tid, NULL);
}

/* The strategy's idle turn: poll the venue when it has no thread. */
static inline void strategy_turn(struct venue *v)
{
    if (!v->threaded)
        venue_poll(v);
    else
        desk_cpu_relax();
}

/* What the desk's counters say, for a run that went wrong.  Cold. */
static void dump_counters(const struct desk_main_hdr *m)
{
    struct desk_main_hdr *mm = (struct desk_main_hdr *)(uintptr_t)m;
    const struct desk_stats_shm *st = desk_shm_stats(mm);
    const struct desk_conn_shm *cs = &desk_shm_conns(mm)[0];
    const struct desk_strat_shm *ss = &desk_shm_strats(mm)[0];

    fprintf(stderr,
            "desk_e2e: router: cmds %" PRIu64 " orders %" PRIu64 " rejects %" PRIu64
            " fills %" PRIu64 " cancels %" PRIu64 " expired %" PRIu64 " invalid %" PRIu64
            "; connector: routed %" PRIu64 " took %" PRIu64 " emitted %" PRIu64 " acks %" PRIu64
            " fills %" PRIu64 " backpressure %" PRIu64 "; strategy: open %" PRIu64
            " event_ring_full %" PRIu64 "\n",
            atomic_load(&st->cmds), atomic_load(&st->orders), atomic_load(&st->rejects),
            atomic_load(&st->fills), atomic_load(&st->cancels), atomic_load(&st->expired),
            atomic_load(&st->invalid_events), atomic_load(&cs->routed), atomic_load(&cs->cmds),
            atomic_load(&cs->vevents), atomic_load(&cs->acks), atomic_load(&cs->fills),
            atomic_load(&cs->backpressure), atomic_load(&ss->open_orders),
            atomic_load(&ss->event_ring_full));
    uint64_t t0 = atomic_load(&st->loop_turns);
    usleep(100000);
    fprintf(stderr, "desk_e2e: router loop turns in 100 ms: %" PRIu64 "\n",
            atomic_load(&st->loop_turns) - t0);
}

/* ---- latency runs ----------------------------------------------------------------- */

/*
 * One order at a time: submit, then wait for its terminal event.  Records
 * submit -> ACK seen and submit -> FILL seen; the null venue records (1)
 * and (2) itself.  Orders alternate buying and selling back (the side
 * follows the position), so the account stays flat.  Returns 0, or
 * -ETIMEDOUT / -EPROTO with a message on stderr.
 */
static int latency_run(const struct e2e_desk *d, desk_client_t *c, struct venue *v, int paper,
                       uint32_t warmup, uint32_t n, uint64_t *cl)
{
    desk_event_t ev[16];
    int64_t pos = 0;
    uint64_t rejects = 0;
    desk_hist_t *h_ack = &g_hist[paper ? ROW_ACK_PAPER : ROW_ACK_NULL];
    desk_hist_t *h_fill = &g_hist[paper ? ROW_FILL_PAPER : ROW_FILL_NULL];
    const char *row = paper ? "latency_paper" : "latency_null";

    for (uint32_t i = 0; i < warmup + n; i++) {
        int measured = i >= warmup;
        if (i == warmup)
            mark("begin", row);
        uint64_t id = ++*cl;
        desk_side_t side = pos > 0 ? DESK_SELL : DESK_BUY;
        int64_t px = side == DESK_BUY ? 6183763 * TICK : 6183762 * TICK;
        uint64_t t0 = desk_now_ns();
        if (v->nv)
            atomic_store_explicit(&v->nv->inflight_t0, measured ? t0 : 0, memory_order_relaxed);
        int rc = paper ? desk_submit_new(c, id, 0, side, DESK_MARKET, DESK_IOC, LOT, 0, 0)
                       : desk_submit_new(c, id, 0, side, DESK_LIMIT, DESK_IOC, LOT, px, 0);
        if (rc < 0) {
            fprintf(stderr, "desk_e2e: desk_submit_new: %d\n", rc);
            return -EPROTO;
        }
        uint64_t deadline = t0 + E2E_TIMEOUT_NS;
        int done = 0, late = 0;
        while (!done) {
            int k = desk_poll(c, ev, 16);
            if (k == 0) {
                strategy_turn(v);
                /* Past the deadline, poll once more before giving up: this
                 * thread may itself have been descheduled all that time. */
                if (desk_now_ns() > deadline && late++) {
                    fprintf(stderr, "desk_e2e: %s: order %" PRIu64 " unanswered after %d s\n", row,
                            id, (int)(E2E_TIMEOUT_NS / 1000000000ull));
                    dump_counters(d->main);
                    if (v->nv) {
                        const struct desk_spsc_hdr *ci = v->nv->in.hdr, *co = v->nv->out.hdr;
                        fprintf(stderr,
                                "desk_e2e: cmd ring tail %" PRIu64 " head %" PRIu64
                                " venue pos %" PRIu64 " cached %" PRIu64 "; ev ring tail %" PRIu64
                                " head %" PRIu64 "\n",
                                atomic_load(&ci->tail), atomic_load(&ci->head), v->nv->in.pos,
                                v->nv->in.cached, atomic_load(&co->tail), atomic_load(&co->head));
                    }
                    return -ETIMEDOUT;
                }
                continue;
            }
            uint64_t t = desk_now_ns();
            for (int e = 0; e < k; e++) {
                const desk_event_t *x = &ev[e];
                if (x->cl_ord_id != id)
                    continue;
                switch (x->type) {
                case DESK_EV_ACK:
                    if (measured)
                        desk_hist_record(h_ack, t - t0);
                    break;
                case DESK_EV_FILL:
                    pos += side == DESK_BUY ? x->last_qty : -x->last_qty;
                    if (x->leaves_qty == 0) {
                        if (measured)
                            desk_hist_record(h_fill, t - t0);
                        done = 1;
                    }
                    break;
                case DESK_EV_REJECT:
                    fprintf(stderr, "desk_e2e: %s: order %" PRIu64 " rejected: %s\n", row, id,
                            desk_reject_name(x->reason));
                    rejects++;
                    done = 1;
                    break;
                default: /* CANCELED / EXPIRED: an IOC the venue could not fill */ done = 1; break;
                }
            }
        }
        if (rejects > 10)
            return -EPROTO;
    }
    mark("end", row);
    return rejects ? -EPROTO : 0;
}

static int run_null_latency(void)
{
    struct e2e_desk d;
    struct null_venue nv;
    struct venue v = {0};
    desk_client_t *c = NULL;
    uint64_t cl = 0;
    int rc;

    if ((rc = desk_open(&d, "n", 0, DESK_LAT_CAPACITY, DESK_LAT_STATUS_MS)) < 0)
        goto out;
    if ((rc = venue_init(&nv, &d, VENUE_ACK_FILL)) < 0)
        goto out;
    v.nv = &nv;
    if ((rc = desk_attach(&c, d.name, "strat")) < 0)
        goto out;
    if ((rc = venue_start(&v)) < 0)
        goto out;
    rc = latency_run(&d, c, &v, 0, g_opt.warmup, g_opt.orders, &cl);
    venue_stop(&v);
    if (rc == 0)
        g_ran[ROW_ROUTED] = g_ran[ROW_HELD] = g_ran[ROW_ACK_NULL] = g_ran[ROW_FILL_NULL] = 1;
out:
    if (rc < 0 && rc != -EPROTO && rc != -ETIMEDOUT)
        fprintf(stderr, "desk_e2e: null-venue latency: %s\n", desk_errmsg());
    if (c)
        desk_detach(c);
    desk_close(&d);
    return rc;
}

static int run_paper_latency(void)
{
    struct e2e_desk d;
    struct venue v = {0};
    desk_client_t *c = NULL;
    desk_quote_t q;
    uint64_t cl = 0;
    int rc;

    if (access(g_opt.data, R_OK) != 0) {
        g_paper_status = "skipped: market data not found";
        fprintf(stderr, "desk_e2e: paper venue skipped: %s not readable\n", g_opt.data);
        return 0;
    }
    if ((rc = desk_open(&d, "p", 1, DESK_LAT_CAPACITY, DESK_LAT_STATUS_MS)) < 0)
        goto out;
    v.d = &d;
    if ((rc = desk_attach(&c, d.name, "strat")) < 0)
        goto out;
    if ((rc = venue_start(&v)) < 0)
        goto out;
    /* The replay starts at the first poll: wait for a two-sided quote. */
    uint64_t deadline = desk_now_ns() + E2E_TIMEOUT_NS;
    while (desk_quote(c, 0, &q) != 0 || q.bid_px <= 0 || q.ask_px <= 0) {
        strategy_turn(&v);
        if (desk_now_ns() > deadline) {
            fprintf(stderr, "desk_e2e: paper venue published no quote in 30 s\n");
            rc = -ETIMEDOUT;
            venue_stop(&v);
            goto out;
        }
    }
    rc = latency_run(&d, c, &v, 1, g_opt.warmup, g_opt.orders, &cl);
    venue_stop(&v);
    if (rc == 0) {
        g_ran[ROW_ACK_PAPER] = g_ran[ROW_FILL_PAPER] = 1;
        g_paper_status = "ran: desk_paper_ops() (connectors/paper)";
    } else {
        g_paper_status = "failed";
    }
out:
    if (rc < 0 && rc != -EPROTO && rc != -ETIMEDOUT) {
        fprintf(stderr, "desk_e2e: paper venue: %s\n", desk_errmsg());
        g_paper_status = "failed to start";
    }
    if (c)
        desk_detach(c);
    desk_close(&d);
    return rc;
}

/* ---- throughput ------------------------------------------------------------------ */

static uint64_t g_ts[TS_SLOTS]; /* submit stamp by ClOrdID & (TS_SLOTS - 1) */

/*
 * As many BUY LIMIT IOC orders as the desk takes, for tp_seconds: submit in
 * bursts of up to 32 until -EAGAIN (back-pressure, counted, the order is
 * retried), let the venue answer, poll the answers.  Then drain and check
 * that every submitted order reached the venue and came back.  The router
 * remembers every ClOrdID of the day (--clordids of them, deskd's
 * clordids_per_day); a run that would exceed that stops early and says so.
 */
static int run_throughput(void)
{
    struct e2e_desk d;
    struct null_venue nv;
    struct venue v = {0};
    desk_client_t *c = NULL;
    desk_event_t ev[64];
    uint64_t cl = 0;
    int rc;

    memset(&g_tp, 0, sizeof g_tp);
    if ((rc = desk_open(&d, "t", 0, g_opt.capacity, g_opt.status_ms)) < 0)
        goto out;
    if ((rc = venue_init(&nv, &d, VENUE_CANCEL)) < 0)
        goto out;
    v.nv = &nv;
    if ((rc = desk_attach(&c, d.name, "strat")) < 0)
        goto out;
    if ((rc = venue_start(&v)) < 0)
        goto out;

    uint64_t budget = g_clordids - 1024;
    int64_t px = 6183000 * TICK; /* below the ask: rests nowhere, IOC */
    mark("begin", "throughput");
    uint64_t start = desk_now_ns(), now = start;
    uint64_t end = start + (uint64_t)(g_opt.tp_seconds * 1e9);
    while (now < end) {
        if (cl >= budget) {
            g_tp.budget_hit = 1;
            break;
        }
        for (int b = 0; b < 32; b++) {
            int r = desk_submit_new(c, cl + 1, 0, DESK_BUY, DESK_LIMIT, DESK_IOC, LOT, px, 0);
            if (r == -EAGAIN) {
                g_tp.backpressure++;
                break;
            }
            if (r < 0) {
                fprintf(stderr, "desk_e2e: throughput: desk_submit_new: %d\n", r);
                rc = -EPROTO;
                break;
            }
            cl++;
            g_ts[cl & (TS_SLOTS - 1)] = now;
        }
        if (rc < 0)
            break;
        if (!v.threaded)
            venue_step(&nv, DESK_ROUTER_BATCH);
        int k = desk_poll(c, ev, 64);
        now = desk_now_ns();
        for (int e = 0; e < k; e++) {
            if (ev[e].type == DESK_EV_REJECT)
                g_tp.rejects++;
            desk_hist_record(&g_hist[ROW_TP_LATENCY], now - g_ts[ev[e].cl_ord_id & (TS_SLOTS - 1)]);
        }
        g_tp.answered += (uint64_t)k;
    }
    g_tp.seconds = (double)(now - start) / 1e9;
    mark("end", "throughput");
    g_tp.submitted = cl;
    /* Drain: everything submitted must come back. */
    uint64_t deadline = desk_now_ns() + E2E_TIMEOUT_NS;
    while (g_tp.answered < g_tp.submitted && desk_now_ns() < deadline) {
        strategy_turn(&v);
        int k = desk_poll(c, ev, 64);
        for (int e = 0; e < k; e++)
            g_tp.rejects += ev[e].type == DESK_EV_REJECT;
        g_tp.answered += (uint64_t)k;
    }
    venue_stop(&v);
    g_tp.venue_got = atomic_load_explicit(&nv.taken, memory_order_relaxed);
    g_tp.router_cmds = atomic_load_explicit(&desk_shm_stats(d.main)->cmds, memory_order_relaxed);
    g_tp.ok = rc == 0 && g_tp.venue_got == g_tp.submitted && g_tp.answered == g_tp.submitted &&
              g_tp.router_cmds == g_tp.submitted && g_tp.rejects == 0;
    g_ran[ROW_TP_LATENCY] = 1;
    if (!g_tp.ok) {
        fprintf(stderr,
                "desk_e2e: throughput: submitted %" PRIu64 ", router took %" PRIu64
                ", venue took %" PRIu64 ", answered %" PRIu64 ", rejects %" PRIu64 "\n",
                g_tp.submitted, g_tp.router_cmds, g_tp.venue_got, g_tp.answered, g_tp.rejects);
        dump_counters(d.main);
        if (rc == 0)
            rc = -EPROTO;
    }
out:
    if (rc < 0 && rc != -EPROTO)
        fprintf(stderr, "desk_e2e: throughput: %s\n", desk_errmsg());
    if (c)
        desk_detach(c);
    desk_close(&d);
    return rc;
}

/* ---- machine noise --------------------------------------------------------------- */

/*
 * How quiet the machine is: one spinning thread pinned to each of CPU 0 and
 * CPU 1 reads the clock in a loop for `seconds`; a gap between two reads is
 * time the thread did not run (preemption by other work, interrupts, the
 * hypervisor).  Reported next to the results, so a tail that comes from the
 * machine is not taken for desk's.
 */
struct probe {
    int cpu;            /* CPU to pin to */
    int pinned;         /* pthread_setaffinity_np succeeded */
    double seconds;     /* how long to watch */
    uint64_t max_gap;   /* longest gap between two clock reads, ns */
    uint64_t over_10us; /* gaps longer than 10 us */
    uint64_t over_1ms;  /* gaps longer than 1 ms */
};
static struct probe g_probe[2];
static int g_nprobe;

static void *probe_main(void *arg)
{
    struct probe *p = arg;

    p->pinned = pin_self(p->cpu);
    uint64_t start = desk_now_ns(), prev = start, end = start + (uint64_t)(p->seconds * 1e9);
    while (prev < end) {
        uint64_t t = desk_now_ns(), g = t - prev;
        if (g > p->max_gap)
            p->max_gap = g;
        p->over_10us += g > 10000;
        p->over_1ms += g > 1000000;
        prev = t;
    }
    return NULL;
}

static void run_probe(double seconds)
{
    pthread_t t[2];

    g_nprobe = g_topo.ncpu >= 2 ? 2 : 1;
    for (int i = 0; i < g_nprobe; i++) {
        g_probe[i].cpu = i;
        g_probe[i].seconds = seconds;
        if (pthread_create(&t[i], NULL, probe_main, &g_probe[i]) != 0)
            g_nprobe = i;
    }
    for (int i = 0; i < g_nprobe; i++)
        pthread_join(t[i], NULL);
}

/* ---- report --------------------------------------------------------------------- */

static const double g_q[] = {0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999};

static void print_row(FILE *f, enum row r)
{
    const desk_hist_t *h = &g_hist[r];
    uint64_t n = atomic_load_explicit(&h->count, memory_order_relaxed);
    uint64_t sum = atomic_load_explicit(&h->sum, memory_order_relaxed);

    fprintf(f,
            "    {\"name\": \"%s\", \"what\": \"%s\", \"samples\": %" PRIu64 ", \"mean_ns\": %.1f",
            row_name[r], row_what[r], n, n ? (double)sum / (double)n : 0.0);
    fprintf(f,
            ", \"p50_ns\": %" PRIu64 ", \"p90_ns\": %" PRIu64 ", \"p99_ns\": %" PRIu64
            ", \"p999_ns\": %" PRIu64 ", \"p9999_ns\": %" PRIu64 ", \"max_ns\": %" PRIu64,
            desk_hist_quantile(h, 0.5), desk_hist_quantile(h, 0.9), desk_hist_quantile(h, 0.99),
            desk_hist_quantile(h, 0.999), desk_hist_quantile(h, 0.9999),
            atomic_load_explicit(&h->max, memory_order_relaxed));
    fprintf(f, ", \"percentiles\": [");
    for (size_t i = 0; i < sizeof g_q / sizeof g_q[0]; i++)
        fprintf(f, "%s[%.5f, %" PRIu64 "]", i ? ", " : "", g_q[i] * 100,
                desk_hist_quantile(h, g_q[i]));
    fprintf(f, "]}");
}

static void write_json(FILE *f)
{
    int first = 1;

    fprintf(f,
            "{\n  \"topology\": {\"online_cpus\": %d, \"strategy_cpu\": 0, \"router_cpu\": 1, "
            "\"venue\": \"%s\", \"pinned_strategy\": %d, \"pinned_router\": %d, "
            "\"pinned_venue\": %d},\n",
            g_topo.ncpu,
            g_topo.venue_thread ? "own thread" : "polled from the strategy thread (CPU 0)",
            g_topo.pin_strategy, g_topo.pin_router, g_topo.pin_venue);
    fprintf(f, "  \"machine_noise\": [");
    for (int i = 0; i < g_nprobe; i++)
        fprintf(f,
                "%s{\"cpu\": %d, \"pinned\": %d, \"seconds\": %.1f, \"max_gap_ns\": %" PRIu64
                ", \"gaps_over_10us\": %" PRIu64 ", \"gaps_over_1ms\": %" PRIu64 "}",
                i ? ", " : "", g_probe[i].cpu, g_probe[i].pinned, g_probe[i].seconds,
                g_probe[i].max_gap, g_probe[i].over_10us, g_probe[i].over_1ms);
    fprintf(f, "],\n");
    fprintf(f, "  \"orders_per_latency_run\": %u, \"warmup\": %u,\n", g_opt.orders, g_opt.warmup);
    fprintf(f, "  \"paper\": \"%s\",\n  \"rows\": [\n", g_paper_status);
    for (int r = 0; r < ROW__COUNT; r++) {
        if (!g_ran[r])
            continue;
        fprintf(f, "%s", first ? "" : ",\n");
        print_row(f, (enum row)r);
        first = 0;
    }
    fprintf(f, "\n  ],\n");
    fprintf(f,
            "  \"throughput\": {\"seconds\": %.3f, \"orders\": %" PRIu64
            ", \"orders_per_sec\": %.0f, \"backpressure_eagain\": %" PRIu64
            ", \"reached_venue\": %" PRIu64 ", \"answered\": %" PRIu64 ", \"router_took\": %" PRIu64
            ", \"rejects\": %" PRIu64 ", \"stopped_at_clordid_budget\": %d, \"zero_loss\": %s, "
            "\"order_capacity\": %u, \"status_interval_ms\": %u}\n}\n",
            g_tp.seconds, g_tp.submitted,
            g_tp.seconds > 0 ? (double)g_tp.submitted / g_tp.seconds : 0.0, g_tp.backpressure,
            g_tp.venue_got, g_tp.answered, g_tp.router_cmds, g_tp.rejects, g_tp.budget_hit,
            g_tp.ok ? "true" : "false", g_opt.capacity, g_opt.status_ms);
}

static void print_text(void)
{
    printf("%-36s %9s %8s %8s %8s %8s %9s %9s\n", "row (ns)", "samples", "p50", "p90", "p99",
           "p99.9", "p99.99", "max");
    for (int r = 0; r < ROW__COUNT; r++) {
        const desk_hist_t *h = &g_hist[r];
        if (!g_ran[r])
            continue;
        printf("%-36s %9" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %9" PRIu64
               " %9" PRIu64 "\n",
               row_name[r], atomic_load_explicit(&h->count, memory_order_relaxed),
               desk_hist_quantile(h, 0.5), desk_hist_quantile(h, 0.9), desk_hist_quantile(h, 0.99),
               desk_hist_quantile(h, 0.999), desk_hist_quantile(h, 0.9999),
               atomic_load_explicit(&h->max, memory_order_relaxed));
    }
    if (g_tp.submitted)
        printf("throughput: %.0f orders/s over %.2f s (%" PRIu64 " orders, %" PRIu64
               " back-pressure retries, %s)%s\n",
               (double)g_tp.submitted / g_tp.seconds, g_tp.seconds, g_tp.submitted,
               g_tp.backpressure, g_tp.ok ? "zero loss" : "LOSS",
               g_tp.budget_hit ? " [stopped at the day's ClOrdID budget]" : "");
    for (int i = 0; i < g_nprobe; i++)
        printf("machine noise, CPU %d: longest descheduling %.3f ms, %" PRIu64
               " gaps > 10 us, %" PRIu64 " > 1 ms in %.1f s\n",
               g_probe[i].cpu, (double)g_probe[i].max_gap / 1e6, g_probe[i].over_10us,
               g_probe[i].over_1ms, g_probe[i].seconds);
    printf("paper venue: %s; venue %s; pinned strategy=%d router=%d venue=%d (%d CPUs)\n",
           g_paper_status, g_topo.venue_thread ? "on its own thread" : "polled by the strategy",
           g_topo.pin_strategy, g_topo.pin_router, g_topo.pin_venue, g_topo.ncpu);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: desk_e2e [--orders N] [--warmup N] [--tp-seconds S] [--no-paper]\n"
            "                [--venue-thread auto|on|off] [--capacity POW2] [--clordids N] [--status-ms MS]\n"
            "                [--probe-seconds S] [--data FILE]\n"
            "                [--json FILE] [--marks]\n");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"orders", required_argument, 0, 'n'},
        {"warmup", required_argument, 0, 'w'},
        {"tp-seconds", required_argument, 0, 't'},
        {"no-paper", no_argument, 0, 'P'},
        {"venue-thread", required_argument, 0, 'v'},
        {"capacity", required_argument, 0, 'c'},
        {"clordids", required_argument, 0, 'C'},
        {"data", required_argument, 0, 'd'},
        {"json", required_argument, 0, 'j'},
        {"marks", no_argument, 0, 'm'},
        {"status-ms", required_argument, 0, 's'},
        {"probe-seconds", required_argument, 0, 'p'},
        {0, 0, 0, 0},
    };
    static char data[DESK_PATH_MAX];
    int o, fail = 0;

    g_opt.orders = 150000;
    g_opt.warmup = 15000;
    g_opt.tp_seconds = 10;
    g_opt.venue_thread = -1;
    g_opt.paper = 1;
    g_opt.capacity = 1u << 16;      /* deskd's default order_capacity */
    g_clordids = 25000000;          /* 10 s at 2.5 M orders/s; a 512 MiB index */
    g_opt.status_ms = 10000;
    g_opt.probe_seconds = 2;
    snprintf(data, sizeof data, "%s/%s", DESK_BENCH_MARKETDATA, PAPER_DATA);
    g_opt.data = data;
    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (o) {
        case 'n': g_opt.orders = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'w': g_opt.warmup = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 't': g_opt.tp_seconds = strtod(optarg, NULL); break;
        case 'P': g_opt.paper = 0; break;
        case 'v':
            g_opt.venue_thread = strcmp(optarg, "on") == 0    ? 1
                                 : strcmp(optarg, "off") == 0 ? 0
                                                              : -1;
            break;
        case 'c': g_opt.capacity = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'C': g_clordids = strtoull(optarg, NULL, 10); break;
        case 'd': g_opt.data = optarg; break;
        case 'j': g_opt.json = optarg; break;
        case 'm': g_opt.marks = 1; break;
        case 'p': g_opt.probe_seconds = strtod(optarg, NULL); break;
        case 's': g_opt.status_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
        default: usage(); return 2;
        }
    }
    if (g_opt.capacity < 1024 || (g_opt.capacity & (g_opt.capacity - 1)) || g_opt.orders == 0) {
        usage();
        return 2;
    }
    /* The router remembers every ClOrdID of the day, 3 x order_capacity of
     * them: a latency run at deskd's default capacity fits below that. */
    uint32_t lat_max = 3 * DESK_LAT_CAPACITY - 1024;
    if ((uint64_t)g_opt.orders + g_opt.warmup > lat_max) {
        fprintf(stderr,
                "desk_e2e: --orders + --warmup is at most %u (3 x order_capacity %u, "
                "the ClOrdIDs deskd accepts in a day)\n",
                lat_max, DESK_LAT_CAPACITY);
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    g_topo.ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    g_topo.venue_thread = g_opt.venue_thread >= 0 ? g_opt.venue_thread : g_topo.ncpu >= 3;
    g_topo.cpu_venue = g_topo.ncpu >= 3 ? 2 : 0;
    g_topo.pin_strategy = pin_self(0);
    say_thread("strategy");
    if (g_opt.probe_seconds > 0)
        run_probe(g_opt.probe_seconds);

    fail |= run_null_latency() < 0;
    if (g_opt.paper)
        fail |= run_paper_latency() < 0;
    else
        g_paper_status = "not run (--no-paper)";
    if (g_opt.tp_seconds > 0)
        fail |= run_throughput() < 0;

    print_text();
    if (g_opt.json) {
        FILE *f = fopen(g_opt.json, "w");
        if (f == NULL) {
            perror(g_opt.json);
            return 1;
        }
        write_json(f);
        fclose(f);
    }
    return fail ? 1 : 0;
}
