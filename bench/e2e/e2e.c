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
 * Journaled rows.  The latency rows (1)-(3) run again, in the same process
 * right after the unjournaled ones, with the write-ahead journal attached
 * to the router as deskd attaches it (core/journal.h, core/deskd.c
 * journal_open(): SESSION and NAME records first, r->journal set before the
 * cash is seeded), once per fsync policy of --journal (default none,
 * interval:10 and every).  Row names get the suffix _journal_none,
 * _journal_interval10 or _journal_every.  The router holds each venue
 * command's commit until desk_journal_durable_seq() covers its CMD record,
 * so submit_to_venue_held and the round trips include the journal's write
 * (and, for every, its fdatasync).  submit_to_routed is stamped when the
 * router writes the command into the connector ring's slot, before the
 * hold: journaled, it adds only the record push.  "every" runs at most
 * --every-orders orders (an fdatasync per order is slow on most disks), and
 * every journaled run at most --journal-orders (default: --orders).
 * The files go in a mkdtemp directory under $TMPDIR (or /tmp), removed at
 * exit.  The journal thread's idle strategy is the desk's (spin), as deskd
 * passes cfg->idle; it runs on its own CPU when one is left (CPU 2, or 3
 * with a venue thread).  With none left (2 CPUs) no journal thread is
 * started and the strategy thread drives desk_journal_poll() between its
 * polls, like the venue (--journal-thread=off): the router still sees each
 * record made durable from the other CPU, and no two spinning threads share
 * a CPU.  (A spinning journal thread time-sliced with them costs about
 * 0.4 ms per order there, a backoff one more: that measures the shortage of
 * CPUs, not the journal.)  --journal-thread=on forces the thread (unpinned
 * when no CPU is left, as deskd leaves it; the strace run uses it, so the
 * journal's write(2) and fdatasync(2) are counted on a thread of their own
 * and the router's count shows it makes none), --journal-idle overrides its
 * idle strategy.  Each journaled run checks afterwards that the files hold
 * one CMD record per order and that the journal reported no error.
 *
 * Steady-state markers: when --marks is given, the strategy thread writes
 * "E2E_MARK begin <row>" and "E2E_MARK end <row>" to stderr around each
 * measured loop and every thread prints "E2E_THREAD <role> tid=<tid>" at
 * start, so an `strace -f -ff -tt` log can be cut to the steady state.
 *
 * Exit: 0 when every row ran with nothing lost, 1 otherwise, 2 usage.
 */
#include <dirent.h>
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
#include <sys/vfs.h>
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
#define E2E_IDLE DESK_IDLE_SPIN       /* the desk's idle strategy: the router's, and the
                                         journal thread's as deskd passes cfg->idle */
#define E2E_EVERY_ORDERS 10000        /* fsync "every": measured orders at most (default) */

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
    uint32_t jmodes;      /* journaled runs: bit (1 << enum jmode) each */
    uint32_t every_orders;   /* fsync "every": measured orders at most */
    uint32_t journal_orders; /* journaled runs: measured orders at most; 0: --orders */
    int journal_thread;      /* -1 auto, 0 off (the strategy thread polls), 1 on */
    int journal_idle;        /* desk_idle_t of the journal thread; -1: the desk's */
};

/* The journal's fsync policy of a run; JM_OFF: no journal (the baseline). */
enum jmode { JM_OFF = 0, JM_NONE, JM_INTERVAL, JM_EVERY, JM__COUNT };

static const char *const jm_policy[JM__COUNT] = {"off", "none", "interval:10", "every"};
static const char *const jm_suffix[JM__COUNT] = {"", "_journal_none", "_journal_interval10",
                                                 "_journal_every"};
static const char *const jm_tag[JM__COUNT] = {"", "jn", "ji", "je"}; /* in desk names */

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

static desk_hist_t g_hist[JM__COUNT][ROW__COUNT];
static uint8_t g_ran[JM__COUNT][ROW__COUNT];

/* What each journaled run's journal did (read after it stopped). */
struct jresult {
    uint32_t orders;         /* measured orders */
    uint32_t warmup;         /* unmeasured orders before them */
    uint64_t cmd_records;    /* CMD records found in the files */
    desk_journal_stats_t st; /* the journal's counters at close */
    int ran;                 /* the journal was opened and closed */
    int ok;                  /* files complete, no journal error */
};
static struct jresult g_jres[2][JM__COUNT]; /* [paper][mode] */
static char g_jroot[DESK_PATH_MAX];         /* mkdtemp directory, "" if none */
static int g_jthreaded;                     /* journal on its own thread */
static int g_jcpu = -1;                     /* its CPU, -1: unpinned */

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

/* Segments and journal files to remove if we are interrupted (shm_unlink,
 * unlink and rmdir are async-signal-safe). */
static char g_shm_names[2][64];
static char g_jfile[DESK_PATH_MAX + 2 * DESK_NAME_MAX + 32]; /* the open journal file */
static char g_jdir[DESK_PATH_MAX + DESK_NAME_MAX];          /* its directory */

static void on_signal(int sig)
{
    for (int i = 0; i < 2; i++)
        if (g_shm_names[i][0])
            shm_unlink(g_shm_names[i]);
    if (g_jfile[0])
        unlink(g_jfile);
    if (g_jdir[0])
        rmdir(g_jdir);
    if (g_jroot[0])
        rmdir(g_jroot);
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
    /* write-ahead journal (JM_OFF: none) */
    int jmode;               /* enum jmode */
    desk_journal_t *journal; /* owned; NULL without one */
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

/* ---- the journal ---------------------------------------------------------------- */

/* Call fn(path, ctx) for each file in `dir` until one fails.  Cold. */
static int jdir_each(const char *dir, int (*fn)(const char *path, void *ctx), void *ctx)
{
    char path[sizeof g_jfile];
    struct dirent *e;
    DIR *dp = opendir(dir);
    int rc = 0;

    if (dp == NULL)
        return -errno;
    while (rc == 0 && (e = readdir(dp)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        rc = n < 0 || (size_t)n >= sizeof path ? -ENAMETOOLONG : fn(path, ctx);
    }
    closedir(dp);
    return rc;
}

static int count_cmd(const desk_jrec_t *rec, uint64_t off, void *ctx)
{
    (void)off;
    if (rec->head.kind == DESK_JREC_CMD)
        ++*(uint64_t *)ctx;
    return 0;
}

/* Add the CMD records of one journal file to *(uint64_t *)ctx. */
static int jfile_count(const char *path, void *ctx)
{
    int rc = desk_journal_replay(path, count_cmd, ctx);

    return rc < 0 ? rc : 0;
}

static int jfile_remove(const char *path, void *ctx)
{
    (void)ctx;
    return unlink(path) < 0 ? -errno : 0;
}

/* Remove the run's journal directory and its files.  Cold. */
static void jdir_remove(void)
{
    if (!g_jdir[0])
        return;
    (void)jdir_each(g_jdir, jfile_remove, NULL);
    rmdir(g_jdir);
    g_jfile[0] = g_jdir[0] = 0;
}

/*
 * With --marks: name the journal thread just started for the strace log.
 * desk_journal_start() names it "desk-journal"; a journal thread of an
 * earlier run may still be listed while the kernel reaps it, so only a tid
 * not reported before is new.  Cold.
 */
static void say_journal_thread(void)
{
    static long seen[JM__COUNT * 2 + 4];
    static unsigned nseen;
    DIR *dp;
    struct dirent *e;

    if (!g_opt.marks || (dp = opendir("/proc/self/task")) == NULL)
        return;
    while ((e = readdir(dp)) != NULL) {
        char path[300], comm[32] = {0};
        long tid = strtol(e->d_name, NULL, 10);
        unsigned i;
        if (tid <= 0)
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%ld/comm", tid);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        if (fgets(comm, sizeof comm, f) == NULL)
            comm[0] = 0;
        fclose(f);
        for (i = 0; i < nseen && seen[i] != tid; i++)
            ;
        if (strncmp(comm, "desk-journal", 12) != 0 || i < nseen)
            continue;
        if (nseen < sizeof seen / sizeof seen[0])
            seen[nseen++] = tid;
        fprintf(stderr, "E2E_THREAD journal tid=%ld\n", tid);
    }
    closedir(dp);
}

/*
 * Open a journal for desk d with policy jm in <g_jroot>/<desk name> and push
 * what deskd's journal_open() pushes (SESSION, then one NAME record per
 * strategy, connector and instrument); attach it to the router before the
 * cash is seeded (deskd journals the seeds).  Cold; control thread.
 */
static int journal_attach(struct e2e_desk *d, int jm)
{
    desk_journal_opts_t o = {0};
    desk_jrec_t rec;
    int rc, n;

    n = snprintf(g_jdir, sizeof g_jdir, "%s/%s", g_jroot, d->name);
    if (n < 0 || (size_t)n >= sizeof g_jdir)
        return DESK_ERR(-ENAMETOOLONG, "journal dir too long");
    o.dir = g_jdir;
    o.desk = d->name;
    if ((rc = desk_journal_policy_parse(jm_policy[jm], &o.policy)) < 0)
        return rc;
    /* deskd: o.idle = cfg->idle, o.idle_max_us = cfg->idle_max_us. */
    o.idle = (uint8_t)(g_opt.journal_idle >= 0 ? g_opt.journal_idle : d->cfg->idle);
    o.idle_max_us = d->cfg->idle_max_us;
    /* deskd sizes the ring for a whole day snapshot (three records per
     * live order): the same size here, so the ring's memory is deskd's. */
    uint64_t need = 3ull * d->cfg->order_capacity + d->cfg->nconnectors + d->cfg->ninstruments + 64;
    for (o.nslots = DESK_JOURNAL_SLOTS; o.nslots < need; o.nslots <<= 1)
        ;
    if ((rc = desk_journal_open(&d->journal, &o, NULL)) < 0)
        return rc;
    d->jmode = jm;
    (void)desk_journal_path(g_jfile, sizeof g_jfile, g_jdir, d->name,
                            desk_journal_day(desk_wall_ns()));
    memset(&rec, 0, sizeof rec);
    rec.session.kind = DESK_JREC_SESSION;
    rec.session.pid = (uint32_t)getpid();
    rec.session.venue_cl_base = d->router->next_venue_cl;
    rec.session.start_mono_ns = d->main->start_mono_ns;
    rec.session.nconnectors = rec.session.ninstruments = rec.session.nstrategies = 1;
    (void)desk_journal_push(d->journal, &rec);
    static const uint8_t what[3] = {DESK_JNAME_STRATEGY, DESK_JNAME_CONNECTOR,
                                    DESK_JNAME_INSTRUMENT};
    const char *name[3] = {d->cfg->strategies[0].name, d->cfg->connectors[0].name,
                           d->cfg->instruments[0].symbol};
    for (int i = 0; i < 3; i++) {
        memset(&rec, 0, sizeof rec);
        rec.name.kind = DESK_JREC_NAME;
        rec.name.what = what[i];
        snprintf(rec.name.name, sizeof rec.name.name, "%s", name[i]);
        (void)desk_journal_push(d->journal, &rec);
    }
    d->router->journal = d->journal;
    return 0;
}

/*
 * Start the journal thread when it has one (g_jthreaded): on CPU g_jcpu, or
 * on every CPU (unpinned, as deskd leaves it) when g_jcpu < 0.  A thread
 * inherits its creator's CPUs, so the caller lends it that set for the
 * start and takes its own back.  Cold; control thread.
 */
static int journal_start(struct e2e_desk *d)
{
    cpu_set_t mine, set;
    int rc, lent;

    if (d->journal == NULL || !g_jthreaded)
        return 0;
    CPU_ZERO(&set);
    for (int i = 0; i < g_topo.ncpu; i++)
        if (g_jcpu < 0 || i == g_jcpu)
            CPU_SET((size_t)i, &set);
    lent = pthread_getaffinity_np(pthread_self(), sizeof mine, &mine) == 0 &&
           pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
    rc = desk_journal_start(d->journal);
    if (lent)
        (void)pthread_setaffinity_np(pthread_self(), sizeof mine, &mine);
    if (rc == 0)
        say_journal_thread();
    return rc;
}

/*
 * Stop the journal (the router has stopped: it drains and fdatasyncs), keep
 * its counters in jr, check that its files hold one CMD record per order of
 * the run (jr->warmup + jr->orders) and that it reported no error, then
 * remove the files and the directory.  Cold; control thread.
 */
static void journal_close(struct e2e_desk *d, struct jresult *jr)
{
    uint64_t cmds = 0;
    int rc = desk_journal_stop(d->journal);

    d->router->journal = NULL;
    if (jr)
        desk_journal_stats(d->journal, &jr->st);
    desk_journal_close(d->journal);
    d->journal = NULL;
    int crc = jdir_each(g_jdir, jfile_count, &cmds);
    if (jr) {
        jr->ran = 1;
        jr->cmd_records = cmds;
        jr->ok = rc == 0 && crc == 0 && jr->st.error == 0 &&
                 cmds == (uint64_t)jr->warmup + jr->orders;
        if (!jr->ok)
            fprintf(stderr,
                    "desk_e2e: journal %s: stop %d, scan %d, error %d, %" PRIu64
                    " CMD records for %u orders\n",
                    jm_policy[d->jmode], rc, crc, jr->st.error, cmds, jr->warmup + jr->orders);
    }
    jdir_remove();
}

static void desk_close(struct e2e_desk *d, struct jresult *jr)
{
    if (d->router_started) {
        desk_router_stop(d->router);
        pthread_join(d->router_tid, NULL);
    }
    if (d->journal)
        journal_close(d, jr);
    jdir_remove(); /* a journal that failed to open may have left its directory */
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
                     uint32_t status_ms, int jm)
{
    int rc;

    memset(d, 0, sizeof *d);
    d->cfg = calloc(1, sizeof *d->cfg);
    d->router = calloc(1, sizeof *d->router);
    if (!d->cfg || !d->router)
        return DESK_ERR(-ENOMEM, "out of memory");
    snprintf(d->name, sizeof d->name, "e2e%s%s%d", tag, jm_tag[jm], (int)getpid());
    desk_config_t *c = d->cfg;
    snprintf(c->name, sizeof c->name, "%s", d->name);
    c->idle = E2E_IDLE;
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
    if (jm != JM_OFF && (rc = journal_attach(d, jm)) < 0)
        return rc;

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
    /* deskd starts the journal thread before the router's. */
    if ((rc = journal_start(d)) < 0)
        return rc;
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
    desk_hist_t *h_routed;          /* (1) of this run's journal mode */
    desk_hist_t *h_held;            /* (2) of this run's journal mode */
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
                desk_hist_record(v->h_routed, c->route_ns - t0);
                desk_hist_record(v->h_held, held - t0);
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
    v->h_routed = &g_hist[d->jmode][ROW_ROUTED];
    v->h_held = &g_hist[d->jmode][ROW_HELD];
    if (desk_spsc_attach_consumer(&v->in, d->cmd_mem, d->cmd_len) < 0 ||
        desk_spsc_attach_producer(&v->out, d->ev_mem, d->ev_len) < 0)
        return -EINVAL;
    return 0;
}

/* A venue of either kind, on its own thread or polled by the strategy. */
struct venue {
    struct null_venue *nv; /* null venue, or NULL */
    struct e2e_desk *d;    /* paper: the desk whose host to poll */
    desk_journal_t *journal; /* polled by the strategy thread (no journal
                                thread), or NULL */
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

/* The strategy's idle turn: drive the journal and poll the venue when they
 * have no thread of their own.  A failed journal write stays in
 * desk_journal_error() (checked after the run). */
static inline void strategy_turn(struct venue *v)
{
    if (v->journal)
        (void)desk_journal_poll(v->journal);
    if (!v->threaded)
        venue_poll(v);
    else if (!v->journal)
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
    desk_hist_t *h_ack = &g_hist[d->jmode][paper ? ROW_ACK_PAPER : ROW_ACK_NULL];
    desk_hist_t *h_fill = &g_hist[d->jmode][paper ? ROW_FILL_PAPER : ROW_FILL_NULL];
    char row[64];

    snprintf(row, sizeof row, "%s%s", paper ? "latency_paper" : "latency_null",
             jm_suffix[d->jmode]);

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

/*
 * The orders of a latency run with journal mode jm: --orders and --warmup;
 * a journaled run at most --journal-orders of them (the strace run: a
 * journal thread without a CPU of its own is slow), fsync "every" at most
 * --every-orders (an fdatasync per order); the warm-up is cut in the same
 * proportion.
 */
static void run_size(int jm, uint32_t *warmup, uint32_t *orders)
{
    uint32_t cap = g_opt.orders;

    if (jm != JM_OFF && g_opt.journal_orders && g_opt.journal_orders < cap)
        cap = g_opt.journal_orders;
    if (jm == JM_EVERY && g_opt.every_orders < cap)
        cap = g_opt.every_orders;
    *warmup = (uint32_t)((uint64_t)g_opt.warmup * cap / g_opt.orders);
    *orders = cap;
}

/* After a journaled run: its journal must have held every order. */
static int journal_verdict(int rc, int paper, int jm)
{
    if (rc == 0 && jm != JM_OFF && !g_jres[paper][jm].ok) {
        fprintf(stderr, "desk_e2e: %s venue, journal %s: the journal check failed\n",
                paper ? "paper" : "null", jm_policy[jm]);
        return -EPROTO;
    }
    return rc;
}

static int run_null_latency(int jm)
{
    struct e2e_desk d;
    struct null_venue nv;
    struct venue v = {0};
    struct jresult *jr = &g_jres[0][jm];
    desk_client_t *c = NULL;
    uint64_t cl = 0;
    int rc;

    run_size(jm, &jr->warmup, &jr->orders);
    if ((rc = desk_open(&d, "n", 0, DESK_LAT_CAPACITY, DESK_LAT_STATUS_MS, jm)) < 0)
        goto out;
    if ((rc = venue_init(&nv, &d, VENUE_ACK_FILL)) < 0)
        goto out;
    v.nv = &nv;
    v.journal = g_jthreaded ? NULL : d.journal;
    if ((rc = desk_attach(&c, d.name, "strat")) < 0)
        goto out;
    if ((rc = venue_start(&v)) < 0)
        goto out;
    rc = latency_run(&d, c, &v, 0, jr->warmup, jr->orders, &cl);
    venue_stop(&v);
out:
    if (rc < 0 && rc != -EPROTO && rc != -ETIMEDOUT)
        fprintf(stderr, "desk_e2e: null-venue latency%s: %s\n", jm_suffix[jm], desk_errmsg());
    if (c)
        desk_detach(c);
    desk_close(&d, jr);
    if ((rc = journal_verdict(rc, 0, jm)) == 0)
        g_ran[jm][ROW_ROUTED] = g_ran[jm][ROW_HELD] = g_ran[jm][ROW_ACK_NULL] =
            g_ran[jm][ROW_FILL_NULL] = 1;
    return rc;
}

static int run_paper_latency(int jm)
{
    struct e2e_desk d;
    struct venue v = {0};
    struct jresult *jr = &g_jres[1][jm];
    desk_client_t *c = NULL;
    desk_quote_t q;
    uint64_t cl = 0;
    int rc;

    if (access(g_opt.data, R_OK) != 0) {
        g_paper_status = "skipped: market data not found";
        fprintf(stderr, "desk_e2e: paper venue skipped: %s not readable\n", g_opt.data);
        return 0;
    }
    run_size(jm, &jr->warmup, &jr->orders);
    if ((rc = desk_open(&d, "p", 1, DESK_LAT_CAPACITY, DESK_LAT_STATUS_MS, jm)) < 0)
        goto out;
    v.d = &d;
    v.journal = g_jthreaded ? NULL : d.journal;
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
    rc = latency_run(&d, c, &v, 1, jr->warmup, jr->orders, &cl);
    venue_stop(&v);
    if (jm == JM_OFF)
        g_paper_status = rc == 0 ? "ran: desk_paper_ops() (connectors/paper)" : "failed";
out:
    if (rc < 0 && rc != -EPROTO && rc != -ETIMEDOUT) {
        fprintf(stderr, "desk_e2e: paper venue%s: %s\n", jm_suffix[jm], desk_errmsg());
        if (jm == JM_OFF)
            g_paper_status = "failed to start";
    }
    if (c)
        desk_detach(c);
    desk_close(&d, jr);
    if ((rc = journal_verdict(rc, 1, jm)) == 0)
        g_ran[jm][ROW_ACK_PAPER] = g_ran[jm][ROW_FILL_PAPER] = 1;
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
    if ((rc = desk_open(&d, "t", 0, g_opt.capacity, g_opt.status_ms, JM_OFF)) < 0)
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
            desk_hist_record(&g_hist[JM_OFF][ROW_TP_LATENCY],
                             now - g_ts[ev[e].cl_ord_id & (TS_SLOTS - 1)]);
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
    g_ran[JM_OFF][ROW_TP_LATENCY] = 1;
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
    desk_close(&d, NULL);
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

static void print_row(FILE *f, int jm, enum row r)
{
    const desk_hist_t *h = &g_hist[jm][r];
    uint64_t n = atomic_load_explicit(&h->count, memory_order_relaxed);
    uint64_t sum = atomic_load_explicit(&h->sum, memory_order_relaxed);

    fprintf(f,
            "    {\"name\": \"%s%s\", \"what\": \"%s%s%s%s\", \"samples\": %" PRIu64
            ", \"mean_ns\": %.1f",
            row_name[r], jm_suffix[jm], row_what[r], jm ? "; write-ahead journal, fsync " : "",
            jm ? jm_policy[jm] : "", jm ? ", on the send path" : "", n,
            n ? (double)sum / (double)n : 0.0);
    if (jm)
        fprintf(f, ", \"journal\": \"%s\", \"base\": \"%s\"", jm_policy[jm], row_name[r]);
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

static const char *idle_name(int idle)
{
    return idle == DESK_IDLE_SPIN ? "spin" : idle == DESK_IDLE_YIELD ? "yield" : "backoff";
}

/* Where the journal ran, for the results and the text. */
static void journal_where(char *buf, size_t cap)
{
    if (!g_jthreaded)
        snprintf(buf, cap, "no thread: desk_journal_poll() from the strategy thread (CPU 0)");
    else if (g_jcpu >= 0)
        snprintf(buf, cap, "own thread (desk_journal_start) on CPU %d", g_jcpu);
    else
        snprintf(buf, cap, "own thread (desk_journal_start), unpinned");
}

static char g_jfs[32] = "?"; /* filesystem type of g_jroot */

static void write_journal_json(FILE *f)
{
    char where[96];
    int first = 1;

    journal_where(where, sizeof where);
    fprintf(f,
            "  \"journal\": {\"dir\": \"%s\", \"fs\": \"%s\", \"thread\": \"%s\", "
            "\"idle\": \"%s\", \"every_orders\": %u, \"runs\": [",
            g_jroot, g_jfs, where,
            idle_name(g_opt.journal_idle >= 0 ? g_opt.journal_idle : E2E_IDLE),
            g_opt.every_orders);
    for (int p = 0; p < 2; p++)
        for (int jm = 1; jm < JM__COUNT; jm++) {
            const struct jresult *jr = &g_jres[p][jm];
            if (!jr->ran)
                continue;
            fprintf(f,
                    "%s\n    {\"venue\": \"%s\", \"fsync\": \"%s\", \"orders\": %u, "
                    "\"warmup\": %u, \"cmd_records\": %" PRIu64 ", \"records\": %" PRIu64
                    ", \"batches\": %" PRIu64 ", \"fsyncs\": %" PRIu64 ", \"ring_full\": %" PRIu64
                    ", \"ok\": %s}",
                    first ? "" : ",", p ? "paper" : "null", jm_policy[jm], jr->orders, jr->warmup,
                    jr->cmd_records, jr->st.records, jr->st.batches, jr->st.fsyncs, jr->st.full,
                    jr->ok ? "true" : "false");
            first = 0;
        }
    fprintf(f, "]},\n");
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
    fprintf(f, "  \"paper\": \"%s\",\n", g_paper_status);
    write_journal_json(f);
    fprintf(f, "  \"rows\": [\n");
    for (int jm = 0; jm < JM__COUNT; jm++)
        for (int r = 0; r < ROW__COUNT; r++) {
            if (!g_ran[jm][r])
                continue;
            fprintf(f, "%s", first ? "" : ",\n");
            print_row(f, jm, (enum row)r);
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
    char name[80];

    printf("%-46s %9s %8s %8s %8s %8s %9s %9s\n", "row (ns)", "samples", "p50", "p90", "p99",
           "p99.9", "p99.99", "max");
    for (int jm = 0; jm < JM__COUNT; jm++)
        for (int r = 0; r < ROW__COUNT; r++) {
            const desk_hist_t *h = &g_hist[jm][r];
            if (!g_ran[jm][r])
                continue;
            snprintf(name, sizeof name, "%s%s", row_name[r], jm_suffix[jm]);
            printf("%-46s %9" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64
                   " %9" PRIu64 " %9" PRIu64 "\n",
                   name, atomic_load_explicit(&h->count, memory_order_relaxed),
                   desk_hist_quantile(h, 0.5), desk_hist_quantile(h, 0.9),
                   desk_hist_quantile(h, 0.99), desk_hist_quantile(h, 0.999),
                   desk_hist_quantile(h, 0.9999),
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
    if (g_opt.jmodes) {
        char where[96];
        journal_where(where, sizeof where);
        printf("journal: %s on %s, %s, idle %s\n", g_jroot, g_jfs, where,
               idle_name(g_opt.journal_idle >= 0 ? g_opt.journal_idle : E2E_IDLE));
        for (int p = 0; p < 2; p++)
            for (int jm = 1; jm < JM__COUNT; jm++) {
                const struct jresult *jr = &g_jres[p][jm];
                if (!jr->ran)
                    continue;
                printf("journal %-5s %-11s: %u+%u orders, %" PRIu64 " CMD records, %" PRIu64
                       " records in %" PRIu64 " writes, %" PRIu64 " fdatasyncs, ring full %" PRIu64
                       "%s\n",
                       p ? "paper" : "null", jm_policy[jm], jr->warmup, jr->orders,
                       jr->cmd_records, jr->st.records, jr->st.batches, jr->st.fsyncs, jr->st.full,
                       jr->ok ? "" : " [CHECK FAILED]");
            }
    }
}

static void usage(void)
{
    fprintf(stderr,
            "usage: desk_e2e [--orders N] [--warmup N] [--tp-seconds S] [--no-paper]\n"
            "                [--venue-thread auto|on|off] [--capacity POW2] [--clordids N] [--status-ms MS]\n"
            "                [--probe-seconds S] [--data FILE]\n"
            "                [--journal off|POLICY[,POLICY...]] [--every-orders N]\n"
            "                [--journal-orders N]"
            " [--journal-thread auto|on|off] [--journal-idle spin|yield|backoff]\n"
            "                [--json FILE] [--marks]\n"
            "  POLICY: none, interval:10, every (default: all three)\n");
}

/* --journal: a comma-separated list of the policies above, or "off". */
static int parse_jmodes(const char *s, uint32_t *out)
{
    char buf[128];

    *out = 0;
    if (strcmp(s, "off") == 0)
        return 0;
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int jm;
        for (jm = 1; jm < JM__COUNT && strcmp(t, jm_policy[jm]) != 0; jm++)
            ;
        if (jm == JM__COUNT)
            return -EINVAL;
        *out |= 1u << jm;
    }
    return *out ? 0 : -EINVAL;
}

/* Filesystem of the journal directory, by statfs(2) magic. */
static void fs_name(const char *path, char *buf, size_t cap)
{
    static const struct {
        unsigned long magic;
        const char *name;
    } fs[] = {{0xEF53, "ext2/3/4"},   {0x01021994, "tmpfs"}, {0x58465342, "xfs"},
              {0x9123683E, "btrfs"},  {0x794C7630, "overlayfs"}, {0x2FC12FC1, "zfs"},
              {0x6969, "nfs"},        {0x65735546, "fuse"}};
    struct statfs st;

    if (statfs(path, &st) != 0) {
        snprintf(buf, cap, "?");
        return;
    }
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
        if ((unsigned long)st.f_type == fs[i].magic) {
            snprintf(buf, cap, "%s", fs[i].name);
            return;
        }
    snprintf(buf, cap, "0x%lx", (unsigned long)st.f_type);
}

/*
 * The journals' directory: mkdtemp under $TMPDIR (or /tmp); each journaled
 * run's files go in a subdirectory and are removed when it ends, this
 * directory at exit.  Cold.
 */
static int jroot_make(void)
{
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(g_jroot, sizeof g_jroot, "%s/desk_e2e.XXXXXX", tmp && *tmp ? tmp : "/tmp");

    if (n < 0 || (size_t)n >= sizeof g_jroot || mkdtemp(g_jroot) == NULL) {
        fprintf(stderr, "desk_e2e: cannot create the journal directory %s: %s\n", g_jroot,
                strerror(errno));
        g_jroot[0] = 0;
        return -1;
    }
    fs_name(g_jroot, g_jfs, sizeof g_jfs);
    return 0;
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
        {"journal", required_argument, 0, 'J'},
        {"every-orders", required_argument, 0, 'E'},
        {"journal-orders", required_argument, 0, 'O'},
        {"journal-thread", required_argument, 0, 'T'},
        {"journal-idle", required_argument, 0, 'I'},
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
    g_opt.jmodes = 1u << JM_NONE | 1u << JM_INTERVAL | 1u << JM_EVERY;
    g_opt.every_orders = E2E_EVERY_ORDERS;
    g_opt.journal_thread = -1;
    g_opt.journal_idle = -1;
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
        case 'J':
            if (parse_jmodes(optarg, &g_opt.jmodes) < 0) {
                usage();
                return 2;
            }
            break;
        case 'E': g_opt.every_orders = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'O': g_opt.journal_orders = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'T':
            g_opt.journal_thread = strcmp(optarg, "on") == 0    ? 1
                                   : strcmp(optarg, "off") == 0 ? 0
                                                                : -1;
            break;
        case 'I': {
            desk_idle_t idle;
            if (desk_idle_parse(optarg, &idle) < 0) {
                usage();
                return 2;
            }
            g_opt.journal_idle = (int)idle;
            break;
        }
        default: usage(); return 2;
        }
    }
    if (g_opt.capacity < 1024 || (g_opt.capacity & (g_opt.capacity - 1)) || g_opt.orders == 0 ||
        g_opt.every_orders == 0) {
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
    /* The journal thread spins (the desk's idle): it gets a CPU of its own
     * when one is left; with none left the strategy thread drives it. */
    int jcpu = 2 + g_topo.venue_thread;
    g_jthreaded = g_opt.journal_thread >= 0 ? g_opt.journal_thread : g_topo.ncpu > jcpu;
    g_jcpu = g_jthreaded && g_topo.ncpu > jcpu ? jcpu : -1;
    if (g_opt.jmodes && jroot_make() < 0)
        return 1;
    g_topo.pin_strategy = pin_self(0);
    say_thread("strategy");
    if (g_opt.probe_seconds > 0)
        run_probe(g_opt.probe_seconds);

    /* Each venue's journaled runs right after its unjournaled one: the
     * ratios compare runs minutes apart at most. */
    for (int jm = 0; jm < JM__COUNT; jm++)
        if (jm == JM_OFF || (g_opt.jmodes & (1u << jm)))
            fail |= run_null_latency(jm) < 0;
    if (g_opt.paper) {
        for (int jm = 0; jm < JM__COUNT; jm++)
            if (jm == JM_OFF || (g_opt.jmodes & (1u << jm)))
                fail |= run_paper_latency(jm) < 0;
    } else {
        g_paper_status = "not run (--no-paper)";
    }
    if (g_opt.tp_seconds > 0)
        fail |= run_throughput() < 0;
    if (g_jroot[0] && rmdir(g_jroot) < 0)
        fprintf(stderr, "desk_e2e: cannot remove %s: %s\n", g_jroot, strerror(errno));

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
