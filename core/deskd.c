/* deskd.c - the daemon's start, control loop and stop; see deskd.h. */
#include "deskd.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../ring/shm.h"
#include "clock.h"
#include "err.h"
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
    desk_journal_t *journal;                         /* the write-ahead journal (owned) */
    uint32_t recovered;                              /* records replayed from a previous run */
    uint32_t journal_failed;                         /* journal error already logged */
    uint32_t reconcile_started;                      /* orders were in flight at start */
    uint32_t reconcile_logged;                       /* the end of reconciling was logged */
};

static int replay_cb(const desk_jrec_t *rec, uint64_t off, void *ctx)
{
    struct deskd *d = ctx;
    (void)off;
    if (rec->head.kind != DESK_JREC_FILE)
        d->recovered++;
    return desk_router_replay(&d->router, rec);
}

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
    rc = desk_journal_replay(d->journal->path, replay_cb, d);
    if (rc < 0)
        return DESK_ERR(rc, "journal replay of %s: %s", d->journal->path, desk_errmsg());
    d->router.replaying = 0;
    if (d->recovered)
        desk_log("journal: recovered %u records from %s: %u orders open, %u in flight; venue "
                 "ClOrdIDs continue at %llu",
                 d->recovered, d->journal->path, d->router.orders.live,
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
    for (uint32_t i = 0; i < cfg->nstrategies + cfg->nconnectors + cfg->ninstruments; i++) {
        memset(&rec, 0, sizeof rec);
        rec.name.kind = DESK_JREC_NAME;
        if (i < cfg->nstrategies) {
            rec.name.what = DESK_JNAME_STRATEGY;
            rec.name.index = i;
            memcpy(rec.name.name, cfg->strategies[i].name, DESK_NAME_MAX);
        } else if (i < cfg->nstrategies + cfg->nconnectors) {
            uint32_t c = i - cfg->nstrategies;
            rec.name.what = DESK_JNAME_CONNECTOR;
            rec.name.index = c;
            memcpy(rec.name.name, cfg->connectors[c].name, DESK_NAME_MAX);
        } else {
            uint32_t k = i - cfg->nstrategies - cfg->nconnectors;
            const desk_instrument_t *in = &desk_shm_instruments(d->main)[k];
            rec.name.what = DESK_JNAME_INSTRUMENT;
            rec.name.index = k;
            rec.name.connector = in->connector;
            memcpy(rec.name.name, in->symbol,
                   sizeof rec.name.name < sizeof in->symbol ? sizeof rec.name.name
                                                            : sizeof in->symbol);
            rec.name.name[sizeof rec.name.name - 1] = '\0';
        }
        if (desk_journal_push(d->journal, &rec) < 0)
            break;
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
        /* Recovered orders: the fix connector maps their venue ClOrdIDs
         * again, so the venue's resend after logon reaches them. */
        if (d->recovered && strcmp(cfg->connectors[c].type, "fix") == 0) {
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

/* Control thread duty: notice strategies that attach, detach or die. */
static void check_strategies(struct deskd *d)
{
    for (uint32_t s = 0; s < d->cfg->nstrategies; s++) {
        desk_router_strat_t *rs = &d->router.strat[s];
        struct desk_strat_shm *ss = &desk_shm_strats(d->main)[s];
        /* Acquire pairs with libdesk's release of pid at attach/detach. */
        int32_t pid = atomic_load_explicit(&d->seg[s]->pid, memory_order_acquire);
        int alive = pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);

        if (pid != d->last_pid[s] && pid > 0)
            desk_log("strategy %s: attached (pid %d)", d->cfg->strategies[s].name, (int)pid);
        uint32_t was = atomic_load_explicit(&rs->alive, memory_order_relaxed);
        if (was && !alive) {
            desk_log("strategy %s: pid %d %s", d->cfg->strategies[s].name, (int)d->last_pid[s],
                     pid == 0 ? "detached" : "is gone");
            if (rs->cancel_on_disconnect) {
                desk_log("strategy %s: cancelling its open orders (cancel_on_disconnect)",
                         d->cfg->strategies[s].name);
                /* Release pairs with the router's acquire exchange. */
                atomic_store_explicit(&rs->cancel_all, 1, memory_order_release);
            }
        }
        /* Gone: it died or detached after being seen alive.  It stays gone
         * until a new process attaches. */
        if (alive)
            atomic_store_explicit(&rs->gone, 0, memory_order_relaxed);
        else if (was || pid != 0)
            atomic_store_explicit(&rs->gone, 1, memory_order_relaxed);
        atomic_store_explicit(&rs->alive, (uint32_t)alive, memory_order_relaxed);
        atomic_store_explicit(&ss->alive, (uint32_t)alive, memory_order_relaxed);
        atomic_store_explicit(&ss->pid, pid, memory_order_relaxed);
        d->last_pid[s] = pid;
    }
}

int desk_deskd_run(const desk_config_t *cfg, const volatile sig_atomic_t *stop_flag)
{
    struct deskd *d = calloc(1, sizeof *d);
    sigset_t set;
    int rc;

    if (d == NULL)
        return DESK_ERR(-ENOMEM, "deskd state");
    d->cfg = cfg;
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
            int want = si.si_value.sival_int;
            if (want >= DESK_KILL_ACTIVE && want <= DESK_KILL_HALTED) {
                /* Release pairs with the router's acquire of kill. */
                atomic_store_explicit(&d->main->kill, (uint32_t)want, memory_order_release);
                atomic_fetch_add_explicit(&d->main->kill_seq, 1, memory_order_release);
                desk_log("kill switch: %s (from pid %d)", desk_kill_name((unsigned)want),
                         (int)si.si_pid);
            } else {
                desk_log("kill switch: ignored bad value %d from pid %d", want, (int)si.si_pid);
            }
        }
        if (stop_flag && *stop_flag)
            break;
        check_strategies(d);
        int jerr = desk_journal_error(d->journal);
        if (jerr < 0 && !d->journal_failed) {
            /* Fail closed: nothing new is sent while the journal cannot
             * record it (the router already stops taking commands when the
             * ring fills). */
            d->journal_failed = 1;
            atomic_store_explicit(&d->main->kill, DESK_KILL_HALTED, memory_order_release);
            atomic_fetch_add_explicit(&d->main->kill_seq, 1, memory_order_release);
            desk_log("journal: %s: desk HALTED", strerror(-jerr));
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
    stop(d);
    free(d);
    return 0;
}
