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
};

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
        /* The UTA starts from what the venue says it holds. */
        desk_balance_t bal = {0};
        rc = h->ops->get_buying_power(h->self, &bal);
        if (rc < 0)
            return DESK_ERR(rc, "connector %s: get_buying_power: %s", h->name, desk_errmsg());
        desk_router_seed_cash(&d->router, c, bal.cash, bal.buying_power);
        desk_position_t pos[DESK_SHM_MAX_INSTRUMENTS];
        int np = h->ops->get_positions(h->self, pos, DESK_SHM_MAX_INSTRUMENTS);
        if (np < 0)
            return DESK_ERR(np, "connector %s: get_positions: %s", h->name, desk_errmsg());
        for (int i = 0; i < np; i++)
            if (pos[i].instrument < cfg->ninstruments)
                desk_router_seed_position(&d->router, pos[i].instrument, pos[i].qty,
                                          pos[i].avg_px);
        rc = h->ops->connect(h->self);
        if (rc < 0)
            return DESK_ERR(rc, "connector %s: connect: %s", h->name, desk_errmsg());
        h->connected = 1;
    }
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
    }
    stop(d);
    free(d);
    return 0;
}
