/* deskd.c - the daemon's start, control loop and stop; see deskd.h. */
#include "deskd.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../ring/seqlock.h"
#include "../ring/shm.h"
#include "clock.h"
#include "control.h"
#include "err.h"
#include "fixed.h"
#include "host.h"
#include "journal.h"
#include "log.h"
#include "router.h"

struct deskd {
    const desk_config_t *cfg;                        /* borrowed */
    struct desk_main_hdr *main;                      /* main segment (RW) */
    size_t main_len;
    struct desk_strat_hdr *seg[DESK_MAX_STRATEGIES]; /* strategy segments */
    size_t seg_len[DESK_MAX_STRATEGIES];
    struct desk_host host[DESK_MAX_CONNECTORS];      /* connectors */
    uint32_t nhosts;                                 /* hosts initialised */
    desk_conn_thread_t threads[DESK_MAX_CONNECTORS]; /* connector threads */
    uint32_t nthreads;
    desk_router_t router;                            /* the router */
    uint8_t router_ready;                            /* router initialised */
    pthread_t router_tid;
    uint8_t router_started;
    int32_t last_pid[DESK_MAX_STRATEGIES];           /* liveness tracking */
    uint64_t last_epoch[DESK_MAX_STRATEGIES];        /* attach_epoch seen with last_pid */
    int pidfd[DESK_MAX_STRATEGIES];                  /* pidfd of last_pid's process, -1 none */
    uint8_t exited[DESK_MAX_STRATEGIES];             /* last_pid's process was seen to exit */
    uint8_t stale[DESK_MAX_STRATEGIES];              /* its heartbeat is stale (logged) */
    uint8_t dead[DESK_MAX_STRATEGIES];               /* declared disconnected by a stale
                                                        heartbeat: gone until it attaches
                                                        again */
    uint8_t no_pidfd;                                /* pidfd_open unavailable: kill(pid, 0) */
    desk_loss_trip_t loss_trip;                      /* the daily-loss HALT's edge detector */
    desk_journal_t *journal;                         /* the write-ahead journal (owned) */
    uint32_t recovered;                              /* records replayed from a previous run */
    uint32_t journal_failed;                         /* journal error already logged */
    uint32_t reconcile_started;                      /* orders were in flight at start */
    uint32_t reconcile_logged;                       /* the end of reconciling was logged */
    uint64_t breaks_logged;                          /* break transitions logged so far */
};


/* Open today's journal, replay it into the router (recovery), and push the
 * SESSION and NAME records.  Cold. */
static int journal_open(struct deskd *d)
{
    const desk_config_t *cfg = d->cfg;
    char dir[DESK_PATH_MAX];
    desk_journal_opts_t o = {0};
    desk_jscan_t scan;
    int rc;

    if (cfg->journal_dir[0] == '/' || cfg->dir[0] == '\0')
        rc = snprintf(dir, sizeof dir, "%s", cfg->journal_dir);
    else
        rc = snprintf(dir, sizeof dir, "%s/%s", cfg->dir, cfg->journal_dir);
    if (rc < 0 || (size_t)rc >= sizeof dir)
        return DESK_ERR(-ENAMETOOLONG, "journal dir too long");
    o.dir = dir;
    o.desk = cfg->name;
    o.policy.fsync = cfg->journal_fsync;
    o.policy.interval_ms = cfg->journal_interval_ms;
    o.idle = (uint8_t)cfg->idle;
    o.idle_max_us = cfg->idle_max_us;
    /* Room for a whole day snapshot (desk_router_new_day(): BEGIN, END, the
     * NAME records, a BALANCE per connector and position, three CARRY
     * records per live order). */
    uint64_t need = 3ull * (cfg->order_capacity ? cfg->order_capacity : 65536) +
                    2ull * (cfg->nconnectors + cfg->ninstruments) + cfg->nstrategies + 64;
    o.nslots = DESK_JOURNAL_SLOTS;
    while (o.nslots < need)
        o.nslots <<= 1;
    rc = desk_journal_open(&d->journal, &o, &scan);
    if (rc == -EBADMSG)
        return DESK_ERR(rc,
                        "journal in %s is corrupt at offset %llu: refusing to start (an "
                        "operator must look at the file)",
                        dir, (unsigned long long)scan.corrupt_off);
    if (rc < 0)
        return DESK_ERR(rc, "journal in %s: %s", dir, desk_errmsg());
    if (scan.torn_bytes)
        desk_log("journal: cut a torn tail of %llu bytes (crash during a write)",
                 (unsigned long long)scan.torn_bytes);
    /* Recovery: today's file, and the days before it back to one that
     * replays on its own (desk_router_recover). */
    uint32_t today = d->journal->file_day;
    desk_recovery_t rv;
    char path[DESK_PATH_MAX + DESK_NAME_MAX + 32];
    int carried = 0;
    rc = desk_router_recover(&d->router, dir, cfg->name, today, &rv);
    if (rc < 0)
        return DESK_ERR(rc, "journal: %s", desk_errmsg());
    d->recovered = rv.applied;
    if (rv.torn_snapshots)
        desk_log("journal: %u day snapshot(s) cut short by a crash were ignored",
                 rv.torn_snapshots);
    uint32_t nchain = rv.files;
    if (nchain > 1) {
        /* The books come from earlier days: write them at the head of
         * what today's file replays, so that today replays on its own. */
        desk_router_replay_done(&d->router);
        d->router.day = rv.carry_day;
        d->router.replaying = 0;
        d->router.journal = d->journal;
        rc = desk_router_new_day(&d->router, today);
        if (rc < 0)
            return DESK_ERR(rc, "journal: cannot carry %08u into today's journal",
                            rv.carry_day);
        carried = 1;
        if (desk_journal_path(path, sizeof path, dir, cfg->name, rv.carry_day) < 0)
            return DESK_ERR(-ENAMETOOLONG, "journal path");
        desk_log("journal: a new day: carried %u open order(s), cash and positions from %s "
                 "into today's journal",
                 d->router.orders.live, path);
    }
    desk_router_replay_done(&d->router);
    d->router.day = today;
    d->router.replaying = 0;
    if (d->recovered)
        desk_log("journal: recovered %u records from %s: %u orders open, %u in flight; venue "
                 "ClOrdIDs continue at %llu",
                 d->recovered, nchain > 1 ? "today's and earlier journals" : d->journal->path,
                 d->router.orders.live,
                 desk_router_inflight(&d->router), (unsigned long long)d->router.next_venue_cl);
    desk_jrec_t rec;
    memset(&rec, 0, sizeof rec);
    rec.session.kind = DESK_JREC_SESSION;
    rec.session.pid = (uint32_t)getpid();
    rec.session.venue_cl_base = d->router.next_venue_cl;
    rec.session.start_mono_ns = d->main->start_mono_ns;
    rec.session.nconnectors = cfg->nconnectors;
    rec.session.ninstruments = cfg->ninstruments;
    rec.session.nstrategies = cfg->nstrategies;
    (void)desk_journal_push(d->journal, &rec);
    if (!carried) { /* a day snapshot carries its own NAME records */
        d->router.journal = d->journal;
        (void)desk_router_journal_names(&d->router);
    }
    return 0;
}

static int find_connector(const desk_config_t *cfg, const char *name)
{
    for (uint32_t i = 0; i < cfg->nconnectors; i++)
        if (strcmp(cfg->connectors[i].name, name) == 0)
            return (int)i;
    return -1;
}

static void *router_main(void *arg)
{
    desk_router_run(arg);
    return NULL;
}

/* Fill the instrument table and the status blocks from the config. */
static int fill_tables(struct deskd *d)
{
    const desk_config_t *cfg = d->cfg;
    desk_instrument_t *tab = desk_shm_instruments(d->main);

    for (uint32_t i = 0; i < cfg->ninstruments; i++) {
        const desk_instrument_conf_t *ic = &cfg->instruments[i];
        int c = find_connector(cfg, ic->venue);
        if (c < 0)
            return DESK_ERR(-EINVAL, "instrument %s: no connector '%s'", ic->symbol, ic->venue);
        tab[i].id = i;
        tab[i].connector = (uint16_t)c;
        tab[i].asset_class = ic->asset_class;
        tab[i].tradable = 1;
        memcpy(tab[i].symbol, ic->symbol, sizeof tab[i].symbol);
        tab[i].tick_size = ic->tick_size;
        tab[i].lot_size = ic->lot_size;
        tab[i].min_notional = ic->min_notional;
        tab[i].open_min = ic->open_min;
        tab[i].close_min = ic->close_min;
    }
    for (uint32_t c = 0; c < cfg->nconnectors; c++) {
        struct desk_conn_shm *cs = &desk_shm_conns(d->main)[c];
        memcpy(cs->name, cfg->connectors[c].name, sizeof cs->name);
        memcpy(cs->type, cfg->connectors[c].type, sizeof cs->type);
        cs->venue_type = cfg->connectors[c].venue_type;
        cs->index = c;
    }
    for (uint32_t s = 0; s < cfg->nstrategies; s++)
        memcpy(desk_shm_strats(d->main)[s].name, cfg->strategies[s].name, DESK_NAME_MAX);
    return 0;
}

static int start(struct deskd *d)
{
    const desk_config_t *cfg = d->cfg;
    int rc;

    rc = desk_shm_main_create(cfg->name, cfg->ninstruments, cfg->nconnectors, cfg->nstrategies,
                              0644, &d->main, &d->main_len);
    if (rc < 0)
        return rc;
    if ((rc = fill_tables(d)) < 0)
        return rc;
    for (uint32_t s = 0; s < cfg->nstrategies; s++) {
        const desk_strategy_conf_t *sc = &cfg->strategies[s];
        rc = desk_shm_strat_create(cfg->name, sc->name, s, d->main->start_mono_ns,
                                   sc->order_ring ? sc->order_ring : 4096,
                                   sc->event_ring ? sc->event_ring : 16384, sc->uid, sc->gid,
                                   (mode_t)(sc->mode ? sc->mode : 0600), &d->seg[s],
                                   &d->seg_len[s]);
        if (rc < 0)
            return rc;
    }
    if ((rc = desk_router_init(&d->router, cfg, d->main)) < 0)
        return rc;
    d->router_ready = 1;
    d->router.replaying = 1;
    if ((rc = journal_open(d)) < 0)
        return rc;
    for (uint32_t s = 0; s < cfg->nstrategies; s++)
        if ((rc = desk_router_attach_strategy(&d->router, s, d->seg[s])) < 0)
            return rc;

    for (uint32_t c = 0; c < cfg->nconnectors; c++) {
        struct desk_host *h = &d->host[c];
        rc = desk_host_init(h, (uint16_t)c, &cfg->connectors[c], cfg->dir, d->main);
        if (rc < 0)
            return rc;
        d->nhosts = c + 1;
        rc = desk_router_attach_connector(&d->router, c, h->cmd_mem, h->cmd_len, h->ev_mem,
                                          h->ev_len);
        if (rc < 0)
            return rc;
        desk_router_attach_recon(&d->router, c, h->recon);
        /* Recovered orders: the fix and alpaca connectors map their venue
         * ClOrdIDs again and ask the venue what became of them. */
        if (d->recovered && (strcmp(cfg->connectors[c].type, "fix") == 0 ||
                             strcmp(cfg->connectors[c].type, "alpaca") == 0)) {
            rc = desk_router_recover_send(&d->router, c);
            if (rc < 0)
                return rc;
            if (rc > 0)
                desk_log("connector %s: %d recovered order(s) handed over", h->name, rc);
        }
        /* The UTA starts from what the venue says it holds, unless today's
         * journal already holds the day (recovery): then the journal is the
         * desk's record and the venue's numbers are only logged beside it. */
        desk_balance_t bal = {0};
        rc = h->ops->get_buying_power(h->self, &bal);
        if (rc < 0)
            return DESK_ERR(rc, "connector %s: get_buying_power: %s", h->name, desk_errmsg());
        if (d->recovered) {
            desk_log("connector %s: recovered cash %lld, venue reports %lld (1e-8)", h->name,
                     (long long)d->router.uta.venue[c].cash, (long long)bal.cash);
            goto connect;
        }
        d->router.journal = d->journal; /* the seeds are journaled */
        desk_router_seed_cash(&d->router, c, bal.cash, bal.buying_power);
        desk_position_t pos[DESK_SHM_MAX_INSTRUMENTS];
        int np = h->ops->get_positions(h->self, pos, DESK_SHM_MAX_INSTRUMENTS);
        if (np < 0)
            return DESK_ERR(np, "connector %s: get_positions: %s", h->name, desk_errmsg());
        for (int i = 0; i < np; i++)
            if (pos[i].instrument < cfg->ninstruments)
                desk_router_seed_position(&d->router, pos[i].instrument, pos[i].qty,
                                          pos[i].avg_px);
    connect:
        rc = h->ops->connect(h->self);
        if (rc < 0)
            return DESK_ERR(rc, "connector %s: connect: %s", h->name, desk_errmsg());
        h->connected = 1;
    }
    d->router.journal = d->journal;
    for (uint32_t c = 0; d->recovered && c < cfg->nconnectors; c++) {
        if (strcmp(cfg->connectors[c].type, "paper") != 0)
            continue;
        int n = 0, k;
        do {
            (void)desk_journal_poll(d->journal); /* consumer until the thread starts */
            n += k = desk_router_expire_conn(&d->router, c);
        } while (k > 0);
        if (n > 0)
            desk_log("connector %s: %d recovered order(s) expired: the paper venue restarted "
                     "without them",
                     cfg->connectors[c].name, n);
    }
    if (desk_router_inflight(&d->router)) {
        /* Orders in flight at the crash are settled by the venue's answers
         * (the FIX session's resend after logon), never guessed: until they
         * are, new orders are refused (cancels pass). */
        d->router.reconcile_deadline_ns = desk_now_ns() + 10000000000ull;
        atomic_store_explicit(&d->router.reconciling, 1, memory_order_relaxed);
        d->reconcile_started = 1;
        desk_log("reconciling: %u order(s) in flight at the last stop; new orders refused "
                 "until the venues settle them",
                 desk_router_inflight(&d->router));
    }
    if ((rc = desk_journal_start(d->journal)) < 0)
        return DESK_ERR(rc, "cannot start the journal thread");
    desk_router_publish(&d->router, desk_now_ns());

    /* Connector threads: connectors with the same `thread` number share one. */
    for (uint32_t c = 0; c < cfg->nconnectors; c++) {
        uint32_t t;
        for (t = 0; t < d->nthreads; t++)
            if (cfg->connectors[d->threads[t].hosts[0]->index].thread == cfg->connectors[c].thread)
                break;
        if (t == d->nthreads) {
            memset(&d->threads[t], 0, sizeof d->threads[t]);
            d->threads[t].cpu = cfg->connectors[c].cpu;
            d->threads[t].idle = cfg->idle;
            d->threads[t].idle_max_ns = (uint64_t)(cfg->idle_max_us ? cfg->idle_max_us : 200) * 1000;
            d->nthreads++;
        }
        d->threads[t].hosts[d->threads[t].nhosts++] = &d->host[c];
    }
    for (uint32_t t = 0; t < d->nthreads; t++)
        if ((rc = desk_conn_thread_start(&d->threads[t])) < 0)
            return rc;
    rc = pthread_create(&d->router_tid, NULL, router_main, &d->router);
    if (rc != 0)
        return DESK_ERR(-rc, "cannot start the router thread: %s", strerror(rc));
    d->router_started = 1;
    pthread_setname_np(d->router_tid, "desk-router");
    if (cfg->router_cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((size_t)cfg->router_cpu, &set);
        rc = pthread_setaffinity_np(d->router_tid, sizeof set, &set);
        if (rc != 0)
            desk_log("cannot pin the router to CPU %d: %s", cfg->router_cpu, strerror(rc));
    }
    return 0;
}

static void stop(struct deskd *d)
{
    if (d->main)
        atomic_store_explicit(&d->main->run_state, DESK_RUN_STOPPING, memory_order_release);
    if (d->router_started) {
        desk_router_stop(&d->router);
        pthread_join(d->router_tid, NULL);
    }
    if (d->journal) {
        int jrc = desk_journal_stop(d->journal);
        if (jrc < 0)
            desk_log("journal: stop: %s", strerror(-jrc));
        desk_journal_close(d->journal);
        d->journal = NULL;
        d->router.journal = NULL;
    }
    for (uint32_t t = 0; t < d->nthreads; t++)
        desk_conn_thread_stop(&d->threads[t]);
    for (uint32_t c = 0; c < d->nhosts; c++)
        desk_host_fini(&d->host[c]);
    if (d->router_ready)
        desk_router_fini(&d->router);
    for (uint32_t s = 0; s < d->cfg->nstrategies; s++) {
        if (d->seg[s]) {
            desk_shm_unmap(d->seg[s], d->seg_len[s]);
            desk_shm_unlink_strat(d->cfg->name, d->cfg->strategies[s].name);
        }
    }
    if (d->main) {
        atomic_store_explicit(&d->main->run_state, DESK_RUN_STOPPED, memory_order_release);
        desk_shm_unmap(d->main, d->main_len);
        desk_shm_unlink_main(d->cfg->name);
    }
}

/* Forget the pidfd of strategy s's process, if any.  Control thread. */
static void close_pidfd(struct deskd *d, uint32_t s)
{
    if (d->pidfd[s] >= 0)
        close(d->pidfd[s]);
    d->pidfd[s] = -1;
}

/* A new attach of strategy s by `pid`: take a pidfd on its process, so that
 * its exit is seen even if the number is reused later.  Control thread. */
static void watch_process(struct deskd *d, uint32_t s, int32_t pid)
{
    close_pidfd(d, s);
    d->exited[s] = 0;
    if (d->no_pidfd)
        return;
#ifdef SYS_pidfd_open
    long fd = syscall(SYS_pidfd_open, (pid_t)pid, 0u);
#else
    long fd = -1;
    errno = ENOSYS;
#endif
    if (fd >= 0) {
        d->pidfd[s] = (int)fd;
    } else if (errno == ESRCH) {
        d->exited[s] = 1; /* gone before we looked */
    } else if (errno == ENOSYS || errno == EPERM) {
        /* Kernel before 5.3, or a seccomp filter: kill(pid, 0) from now on. */
        d->no_pidfd = 1;
        desk_log("pidfd_open unavailable (%s): strategy liveness falls back to kill(pid, 0)",
                 strerror(errno));
    } else {
        desk_log("strategy %s: pidfd_open(%d): %s: liveness by kill(pid, 0)",
                 d->cfg->strategies[s].name, (int)pid, strerror(errno));
    }
}

/*
 * 1 while strategy s's attached process `pid` lives, 0 once it is gone.
 * Its pidfd polls readable (POLLIN) once it exited, whatever became of the
 * number since; without a pidfd, kill(pid, 0) (EPERM: alive, another user).
 * Control thread; `pid` > 0 and watch_process() was called for this attach.
 */
static int process_alive(struct deskd *d, uint32_t s, int32_t pid)
{
    if (d->exited[s])
        return 0;
    if (d->pidfd[s] >= 0) {
        struct pollfd p = {.fd = d->pidfd[s], .events = POLLIN};
        int n = poll(&p, 1, 0); /* never blocks */
        if (n == 0)
            return 1;
        if (n > 0) {
            d->exited[s] = 1; /* POLLIN: exited; HUP/ERR: reaped or bad fd */
            close_pidfd(d, s);
            return 0;
        }
        /* poll failed (EINTR, ENOMEM): ask kill() this time. */
    }
    return kill(pid, 0) == 0 || errno == EPERM;
}

/* Ask the router to cancel strategy s's open orders. */
static void request_cancel_all(struct deskd *d, uint32_t s)
{
    /* Release pairs with the router's acquire exchange. */
    atomic_store_explicit(&d->router.strat[s].cancel_all, 1, memory_order_release);
}

/*
 * Control thread duty: notice strategies that attach, detach, die or stop
 * heartbeating.  A strategy is alive while its process lives and, with
 * heartbeat_timeout_ms set, its heartbeat (libdesk writes it at attach and in
 * every desk_poll) is fresh.  When it stops being alive its open orders are
 * cancelled if cancel_on_disconnect is set, and it is marked gone, so that
 * events its full event ring cannot take are dropped instead of stalling the
 * connectors.  A stale strategy whose heartbeat resumes is alive again; one
 * that attached and never polled goes stale timeout_ms after its attach.
 */
static void check_strategies(struct deskd *d)
{
    uint64_t now = desk_now_ns();

    for (uint32_t s = 0; s < d->cfg->nstrategies; s++) {
        const desk_strategy_conf_t *sc = &d->cfg->strategies[s];
        desk_router_strat_t *rs = &d->router.strat[s];
        struct desk_strat_shm *ss = &desk_shm_strats(d->main)[s];
        /* Acquire pairs with libdesk's release of pid at attach/detach: the
         * epoch and heartbeat it stored before are then visible. */
        int32_t pid = atomic_load_explicit(&d->seg[s]->pid, memory_order_acquire);
        uint64_t epoch = atomic_load_explicit(&d->seg[s]->attach_epoch, memory_order_relaxed);
        uint64_t hb = atomic_load_explicit(&d->seg[s]->heartbeat_ns, memory_order_relaxed);
        /* A new pid, or the same pid attached again (the epoch moved). */
        int attached = pid > 0 && (pid != d->last_pid[s] || epoch != d->last_epoch[s]);

        if (attached) {
            desk_log("strategy %s: attached (pid %d)", sc->name, (int)pid);
            watch_process(d, s, pid);
            d->stale[s] = 0;
            d->dead[s] = 0;
        } else if (pid <= 0) {
            close_pidfd(d, s);
        }
        int proc = pid > 0 && process_alive(d, s, pid);
        uint64_t stale_ms = proc ? desk_control_hb_stale_ms(now, hb, sc->heartbeat_timeout_ms) : 0;
        int alive = proc && stale_ms == 0 && !d->dead[s];
        uint32_t was = atomic_load_explicit(&rs->alive, memory_order_relaxed);
        int cancel = 0;

        if (stale_ms && !d->stale[s]) {
            desk_log("strategy %s: heartbeat stale for %llu ms (pid %d, heartbeat_timeout_ms "
                     "%u): treated as disconnected",
                     sc->name, (unsigned long long)stale_ms, (int)pid, sc->heartbeat_timeout_ms);
            cancel = 1; /* even if never seen alive: it may have sent orders */
            /* Gone for this attachment: it missed events, so its own books
             * are wrong.  Its new orders are refused until it attaches
             * again (the router compares the epoch). */
            d->dead[s] = 1;
            atomic_store_explicit(&rs->stale_epoch, epoch, memory_order_relaxed);
        } else if (!stale_ms && d->stale[s] && proc) {
            desk_log("strategy %s: heartbeat resumed (pid %d), but it was stale: its orders "
                     "were cancelled and its events dropped; its new orders are refused "
                     "(STRATEGY_GONE) until it attaches again",
                     sc->name, (int)pid);
        }
        if ((was || d->stale[s] || attached) && !proc) {
            desk_log("strategy %s: pid %d %s", sc->name, (int)(attached ? pid : d->last_pid[s]),
                     pid == 0 ? "detached" : "is gone");
            /* Also after a stale spell (it may have sent orders since), and
             * for a process that died before this thread first saw it. */
            cancel = 1;
        }
        d->stale[s] = stale_ms != 0;
        if (cancel && sc->cancel_on_disconnect) {
            desk_log("strategy %s: cancelling its open orders (cancel_on_disconnect)", sc->name);
            request_cancel_all(d, s);
        }
        /* Gone: it died, detached or went stale after being seen alive.  It
         * stays gone until it is alive again (after a stale spell: until it
         * attaches again). */
        if (alive)
            atomic_store_explicit(&rs->gone, 0, memory_order_relaxed);
        else if (was || pid != 0)
            atomic_store_explicit(&rs->gone, 1, memory_order_relaxed);
        atomic_store_explicit(&rs->alive, (uint32_t)alive, memory_order_relaxed);
        atomic_store_explicit(&ss->alive, (uint32_t)alive, memory_order_relaxed);
        atomic_store_explicit(&ss->pid, pid, memory_order_relaxed);
        d->last_pid[s] = pid;
        d->last_epoch[s] = epoch;
    }
}

/*
 * Set the kill switch to `want` (this thread is its only writer).  Every
 * strategy's open orders are cancelled too when `cancel_all` is set (desk
 * halt --cancel-all), or when the switch changes to HALTED and desk.toml's
 * [guard] halt_cancels_all is set.  `why` follows the state in the log line
 * (" (from pid 12)").  Control thread.
 */
static void set_kill(struct deskd *d, desk_kill_t want, int cancel_all, const char *why)
{
    uint32_t old = atomic_load_explicit(&d->main->kill, memory_order_relaxed);
    int cancel = cancel_all || (want == DESK_KILL_HALTED && old != DESK_KILL_HALTED &&
                                d->cfg->halt_cancels_all);

    /* Release pairs with the router's acquire of kill.  Stored before the
     * cancel requests: an order the router admits after taking them was
     * checked against the new state. */
    atomic_store_explicit(&d->main->kill, (uint32_t)want, memory_order_release);
    for (uint32_t s = 0; cancel && s < d->cfg->nstrategies; s++)
        request_cancel_all(d, s);
    /* Release: `desk halt` waits for kill_seq to move, so the cancel
     * requests are made once it sees it. */
    atomic_fetch_add_explicit(&d->main->kill_seq, 1, memory_order_release);
    desk_log("kill switch: %s%s%s", desk_kill_name((unsigned)want), why,
             cancel ? "; cancelling every open order" : "");
}

/*
 * The automatic HALT on the desk-wide daily loss limit ([guard] daily_loss):
 * read the day PnL from the published UTA snapshot and HALT when it has just
 * reached -daily_loss (desk_control_loss_check(): once per crossing, so an
 * operator's `desk resume` holds until the PnL recovers and falls again).
 * Control thread.
 */
static void check_daily_loss(struct deskd *d)
{
    int64_t limit = d->cfg->limits.daily_loss;
    struct desk_uta_totals t;

    if (limit <= 0)
        return;
    /* Seqlock read of the router's snapshot; 0: not published yet. */
    if (desk_seqlock_read(&desk_shm_uta(d->main)->lock, &t, &desk_shm_uta(d->main)->t,
                          sizeof t) == 0)
        return;
    int64_t pnl = desk_control_day_pnl(&t);
    if (!desk_control_loss_check(&d->loss_trip, pnl, limit))
        return;
    char spnl[32], slim[32], why[160];
    desk_fixed_format(pnl, 2, spnl, sizeof spnl);
    desk_fixed_format(limit, 2, slim, sizeof slim);
    if (atomic_load_explicit(&d->main->kill, memory_order_relaxed) == DESK_KILL_HALTED) {
        desk_log("kill switch: already HALTED; day PnL %s <= -daily loss limit %s", spnl, slim);
        return;
    }
    snprintf(why, sizeof why, " automatically: day PnL %s <= -daily loss limit %s", spnl, slim);
    set_kill(d, DESK_KILL_HALTED, 0, why);
}

int desk_deskd_run(const desk_config_t *cfg, const volatile sig_atomic_t *stop_flag)
{
    struct deskd *d = calloc(1, sizeof *d);
    sigset_t set;
    int rc;

    if (d == NULL)
        return DESK_ERR(-ENOMEM, "deskd state");
    d->cfg = cfg;
    for (uint32_t s = 0; s < DESK_MAX_STRATEGIES; s++)
        d->pidfd[s] = -1; /* no process watched yet */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, DESK_KILL_SIGNAL);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* every thread inherits this */

    rc = start(d);
    if (rc < 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", desk_errmsg());
        stop(d);
        free(d);
        return DESK_ERR(rc, "%s", msg);
    }
    atomic_store_explicit(&d->main->run_state, DESK_RUN_RUNNING, memory_order_release);
    desk_log("desk %s up: %u connector(s), %u instrument(s), %u strateg%s; pid %d", cfg->name,
             cfg->nconnectors, cfg->ninstruments, cfg->nstrategies,
             cfg->nstrategies == 1 ? "y" : "ies", (int)getpid());

    for (;;) {
        struct timespec tmo = {0, 100 * 1000 * 1000};
        siginfo_t si;
        int sig = sigtimedwait(&set, &si, &tmo);

        if (sig == SIGINT || sig == SIGTERM) {
            desk_log("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
        if (sig == DESK_KILL_SIGNAL) {
            /* sival_int: the desk_kill_t, and DESK_KILL_CANCEL_ALL (control.h). */
            desk_kill_t want;
            uint32_t flags;
            if (desk_control_kill_decode(si.si_value.sival_int, &want, &flags) == 0) {
                char why[48];
                snprintf(why, sizeof why, " (from pid %d%s)", (int)si.si_pid,
                         (flags & DESK_KILL_CANCEL_ALL) ? ", --cancel-all" : "");
                set_kill(d, want, (flags & DESK_KILL_CANCEL_ALL) != 0, why);
            } else {
                desk_log("kill switch: ignored bad value %d from pid %d", si.si_value.sival_int,
                         (int)si.si_pid);
            }
        }
        if (stop_flag && *stop_flag)
            break;
        check_strategies(d);
        desk_recon_log(d->main, &d->breaks_logged);
        check_daily_loss(d);
        int jerr = desk_journal_error(d->journal);
        if (jerr < 0 && !d->journal_failed) {
            /* Fail closed: nothing new is sent while the journal cannot
             * record it (the router already stops taking commands when the
             * ring fills). */
            d->journal_failed = 1;
            desk_log("journal: %s: desk HALTED", strerror(-jerr));
            set_kill(d, DESK_KILL_HALTED, 0, " (journal error)");
        } else if (jerr == 0)
            d->journal_failed = 0;
        /* Acquire pairs with the router's release when it ends reconciling. */
        if (d->reconcile_logged == 0 &&
            !atomic_load_explicit(&d->router.reconciling, memory_order_acquire)) {
            d->reconcile_logged = 1;
            uint32_t breaks =
                atomic_load_explicit(&d->router.reconcile_breaks, memory_order_relaxed);
            if (d->reconcile_started && breaks == 0)
                desk_log("reconciling: every order in flight was settled by its venue");
            else if (d->reconcile_started)
                desk_log("reconciling: BREAK: %u order(s) in flight got no answer from their "
                         "venue in 10 s; left pending (not guessed), new orders accepted again",
                         breaks);
        }
    }
    for (uint32_t s = 0; s < cfg->nstrategies; s++)
        close_pidfd(d, s);
    stop(d);
    free(d);
    return 0;
}
