/* host.c - connector hosts and connector threads; see host.h. */
#include "host.h"

#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../connectors/alpaca/session.h"
#include "../connectors/fix/session.h"
#include "../connectors/paper/paper.h"
#include "clock.h"
#include "err.h"
#include "log.h"
#include "router.h"

/* ---- the desk_host_* services of connector.h (connector thread) -------- */

static inline void bump(_Atomic uint64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

int desk_host_emit(desk_host_t *h, const desk_vevent_t *ev)
{
    if (DESK_UNLIKELY(desk_spsc_push(&h->evq, ev) < 0)) {
        bump(&h->shm->backpressure);
        return -EAGAIN;
    }
    bump(&h->shm->vevents);
    return 0;
}

int desk_host_quote(desk_host_t *h, uint32_t instrument, const desk_quote_t *q)
{
    if (DESK_UNLIKELY(instrument >= h->ninstr_all || h->instr[instrument].connector != h->index))
        return -EINVAL;
    struct desk_quote_slot *s = &h->quotes[instrument];
    desk_quote_t c = *q;
    c.recv_ns = desk_now_ns();
    desk_seqlock_write(&s->lock, &s->q, &c, sizeof c);
    atomic_store_explicit(&h->shm->last_quote_ns, c.recv_ns, memory_order_relaxed);
    bump(&h->shm->quotes);
    return 0;
}

void desk_host_health(desk_host_t *h, desk_health_t state, const char *reason)
{
    struct desk_conn_health cur, nh;

    desk_seqlock_read(&h->shm->hlock, &cur, &h->shm->health, sizeof cur);
    memset(&nh, 0, sizeof nh);
    nh.state = (uint64_t)state;
    nh.since_ns = cur.state == (uint64_t)state ? cur.since_ns : desk_now_ns();
    snprintf(nh.reason, sizeof nh.reason, "%s", reason ? reason : "");
    if (cur.state != nh.state || strcmp(cur.reason, nh.reason) != 0) {
        desk_seqlock_write(&h->shm->hlock, &h->shm->health, &nh, sizeof nh);
        if (cur.state != nh.state)
            desk_log("connector %s: %s (%s)", h->name, desk_health_name(state), nh.reason);
    }
}

int desk_host_account_report(desk_host_t *h, const desk_account_report_t *r)
{
    struct desk_recon_box *b = h->recon;

    if (r == NULL || r->npos > h->nmine || (r->npos > 0 && r->pos == NULL))
        return -EINVAL;
    for (uint32_t k = 0; k < r->npos; k++)
        if (r->pos[k].instrument >= h->ninstr_all ||
            h->instr[r->pos[k].instrument].connector != h->index)
            return -EINVAL;
    /* Acquire pairs with the router's release when it has read the box. */
    if (atomic_load_explicit(&b->full, memory_order_acquire))
        return -EBUSY;
    b->flags = r->flags & (DESK_REPORT_BALANCE | DESK_REPORT_POSITIONS | DESK_REPORT_ORDERS);
    b->npos = (r->flags & DESK_REPORT_POSITIONS) ? r->npos : 0;
    b->venue_only_orders = r->venue_only_orders;
    b->ev_seq = atomic_load_explicit(&h->shm->vevents, memory_order_relaxed);
    b->venue_ts_ns = r->venue_ts_ns;
    b->recv_ns = desk_now_ns();
    b->balance = r->balance;
    if (b->npos)
        memcpy(b->pos, r->pos, b->npos * sizeof b->pos[0]);
    /* Release: the router sees the whole report once it sees full. */
    atomic_store_explicit(&b->full, 1, memory_order_release);
    return 0;
}

void desk_host_log(desk_host_t *h, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    desk_log("connector %s: %s", h->name, buf);
}

const desk_instrument_t *desk_host_instrument(desk_host_t *h, uint32_t id)
{
    return id < h->ninstr_all ? &h->instr[id] : NULL;
}

uint32_t desk_host_ninstruments(desk_host_t *h)
{
    return h->nmine;
}

const desk_instrument_t *desk_host_instrument_at(desk_host_t *h, uint32_t i)
{
    return i < h->nmine ? &h->instr[h->mine[i]] : NULL;
}

const desk_opt_t *desk_connector_opt(const desk_connector_cfg_t *cfg, const char *key)
{
    for (uint32_t i = 0; i < cfg->nopts; i++)
        if (strcmp(cfg->opts[i].key, key) == 0)
            return &cfg->opts[i];
    return NULL;
}

/* ---- setup (cold) -------------------------------------------------------- */

const desk_connector_ops_t *desk_connector_builtin(const char *type)
{
    if (strcmp(type, "paper") == 0)
        return desk_paper_ops();
    if (strcmp(type, "alpaca") == 0)
        return desk_alpaca_ops();
    if (strcmp(type, "fix") == 0)
        return desk_fix_ops();
    return NULL;
}

static void *ring_mem(uint32_t slots, size_t *len)
{
    *len = desk_spsc_bytes(slots);
    return aligned_alloc(DESK_FALSE_SHARING, (*len + DESK_FALSE_SHARING - 1) &
                                                 ~(size_t)(DESK_FALSE_SHARING - 1));
}

DESK_COLD int desk_host_init(struct desk_host *h, uint16_t index, const desk_connector_conf_t *cc,
                             const char *config_dir, struct desk_main_hdr *main)
{
    int rc;

    memset(h, 0, sizeof *h);
    h->index = index;
    snprintf(h->name, sizeof h->name, "%s", cc->name);
    h->shm = &desk_shm_conns(main)[index];
    h->quotes = desk_shm_quotes(main);
    h->instr = desk_shm_instruments(main);
    h->ninstr_all = main->ninstruments;
    for (uint32_t i = 0; i < h->ninstr_all; i++)
        if (h->instr[i].connector == index)
            h->mine[h->nmine++] = i;
    h->cmd_mem = ring_mem(DESK_HOST_CMD_SLOTS, &h->cmd_len);
    h->ev_mem = ring_mem(DESK_HOST_EVENT_SLOTS, &h->ev_len);
    h->recon = calloc(1, sizeof *h->recon);
    if (h->cmd_mem == NULL || h->ev_mem == NULL || h->recon == NULL) {
        rc = DESK_ERR(-ENOMEM, "connector %s: rings", cc->name);
        goto fail;
    }
    if ((rc = desk_spsc_init(h->cmd_mem, h->cmd_len, DESK_HOST_CMD_SLOTS)) < 0 ||
        (rc = desk_spsc_init(h->ev_mem, h->ev_len, DESK_HOST_EVENT_SLOTS)) < 0 ||
        (rc = desk_spsc_attach_consumer(&h->cmdq, h->cmd_mem, h->cmd_len)) < 0 ||
        (rc = desk_spsc_attach_producer(&h->evq, h->ev_mem, h->ev_len)) < 0)
        goto fail;

    if (strcmp(cc->type, "custom") == 0) {
        h->dl = dlopen(cc->path, RTLD_NOW | RTLD_LOCAL);
        if (h->dl == NULL) {
            rc = DESK_ERR(-ENOENT, "connector %s: cannot load %s: %s", cc->name, cc->path,
                          dlerror());
            goto fail;
        }
        desk_connector_entry_fn entry;
        *(void **)&entry = dlsym(h->dl, DESK_CONNECTOR_ENTRY);
        if (entry == NULL) {
            rc = DESK_ERR(-ENOENT, "connector %s: %s has no symbol %s", cc->name, cc->path,
                          DESK_CONNECTOR_ENTRY);
            goto fail;
        }
        h->ops = entry();
    } else {
        h->ops = desk_connector_builtin(cc->type);
    }
    if (h->ops == NULL) {
        rc = DESK_ERR(-EINVAL, "connector %s: unknown type '%s'", cc->name, cc->type);
        goto fail;
    }
    if (h->ops->abi != DESK_CONNECTOR_ABI) {
        rc = DESK_ERR(-EPROTO, "connector %s: ABI %u, deskd speaks %u", cc->name, h->ops->abi,
                      DESK_CONNECTOR_ABI);
        goto fail;
    }
    h->cfg.name = cc->name;
    h->cfg.type = cc->type;
    h->cfg.venue_type = cc->venue_type;
    h->cfg.index = index;
    h->cfg.opts = cc->optv;
    h->cfg.nopts = cc->nopts;
    h->cfg.config_dir = config_dir;
    rc = h->ops->create(&h->cfg, h, &h->self);
    if (rc < 0)
        goto fail;
    return 0;
fail:
    desk_host_fini(h);
    return rc;
}

DESK_COLD void desk_host_fini(struct desk_host *h)
{
    if (h->self && h->ops) {
        if (h->connected)
            h->ops->disconnect(h->self);
        h->ops->destroy(h->self);
    }
    h->self = NULL;
    if (h->dl)
        dlclose(h->dl);
    h->dl = NULL;
    free(h->cmd_mem);
    free(h->ev_mem);
    free(h->recon);
    h->cmd_mem = h->ev_mem = NULL;
    h->recon = NULL;
}

/* ---- connector threads --------------------------------------------------- */

/* A command the connector refused becomes an event, so no order is lost. */
static int refuse(struct desk_host *h, const desk_vcmd_t *c, int rc)
{
    desk_vevent_t ev = {0};

    ev.type = c->type == DESK_CMD_NEW ? DESK_EV_REJECT : DESK_EV_CANCEL_REJECT;
    ev.reason = DESK_REJ_VENUE;
    ev.instrument = c->instrument;
    ev.order_id = c->order_id;
    ev.venue_ns = desk_now_ns();
    (void)rc;
    return desk_host_emit(h, &ev);
}

static int host_turn(struct desk_host *h, uint64_t now)
{
    uint32_t n = desk_spsc_peek_n(&h->cmdq, DESK_ROUTER_BATCH), done = 0;
    int work = 0;

    for (; done < n; done++) {
        const desk_vcmd_t *c = desk_spsc_slot(&h->cmdq, done);
        int rc;
        switch (c->type) {
        case DESK_CMD_NEW:
            rc = h->ops->place_order(h->self, c);
            break;
        case DESK_CMD_CANCEL:
            rc = h->ops->cancel_order(h->self, c);
            break;
        case DESK_CMD_REPLACE:
            rc = h->ops->replace_order(h->self, c);
            break;
        case DESK_CMD_RECOVER:
            /* Only the fix and alpaca connectors are sent these (deskd
             * checks the type); they take them through place_order.  A
             * failure is logged, not turned into an event: the order is the
             * venue's to settle. */
            rc = h->ops->place_order(h->self, c);
            if (rc < 0)
                desk_host_log(h, "cannot adopt recovered order %#llx: %s",
                              (unsigned long long)c->order_id, strerror(-rc));
            rc = 0;
            break;
        default:
            rc = -EINVAL;
            break;
        }
        if (rc == -EBUSY)
            break; /* retry this command on the next turn */
        if (rc < 0 && refuse(h, c, rc) < 0)
            break; /* event ring full: keep the command, retry */
        if (now > c->route_ns)
            desk_hist_record(&h->shm->dispatch, now - c->route_ns);
        bump(&h->shm->cmds);
    }
    if (done)
        desk_spsc_release(&h->cmdq, done);
    work += (int)done;
    int p = h->ops->poll(h->self, now);
    return work + (p > 0 ? p : 0);
}

int desk_conn_thread_poll(desk_conn_thread_t *t, uint64_t now)
{
    int work = 0;

    for (uint32_t i = 0; i < t->nhosts; i++)
        work += host_turn(t->hosts[i], now);
    return work;
}

static void *conn_thread_main(void *arg)
{
    desk_conn_thread_t *t = arg;
    uint32_t idle_turns = 0;

    desk_idle_prepare(t->idle);
    /* Acquire pairs with the release in desk_conn_thread_stop(). */
    while (!atomic_load_explicit(&t->stop, memory_order_acquire)) {
        if (desk_conn_thread_poll(t, desk_now_ns())) {
            idle_turns = 0;
        } else {
            desk_idle_wait(t->idle, t->idle_max_ns, idle_turns);
            if (idle_turns < UINT32_MAX)
                idle_turns++;
        }
    }
    /* Disconnect here, on the thread that owns the connectors' I/O, and keep
     * polling briefly so a goodbye (FIX Logout, WebSocket close) and its
     * answer get through before the thread and its io_uring go away. */
    for (uint32_t i = 0; i < t->nhosts; i++) {
        struct desk_host *h = t->hosts[i];
        if (h->connected) {
            h->ops->disconnect(h->self);
            h->connected = 0;
        }
    }
    uint64_t until = desk_now_ns() + DESK_HOST_DRAIN_NS;
    while (desk_now_ns() < until) {
        for (uint32_t i = 0; i < t->nhosts; i++)
            (void)t->hosts[i]->ops->poll(t->hosts[i]->self, desk_now_ns());
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

DESK_COLD int desk_conn_thread_start(desk_conn_thread_t *t)
{
    int rc = pthread_create(&t->tid, NULL, conn_thread_main, t);

    if (rc != 0)
        return DESK_ERR(-rc, "cannot start a connector thread: %s", strerror(rc));
    t->started = 1;
    if (t->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((size_t)t->cpu, &set);
        rc = pthread_setaffinity_np(t->tid, sizeof set, &set);
        if (rc != 0)
            desk_log("connector thread: cannot pin to CPU %d: %s", t->cpu, strerror(rc));
    }
    char name[16];
    /* Thread names are 15 bytes: "desk-" and the first connector's name, cut. */
    memcpy(name, "desk-", 5);
    const char *cn = t->nhosts ? t->hosts[0]->name : "conn";
    size_t k = strnlen(cn, 10);
    memcpy(name + 5, cn, k);
    name[5 + k] = '\0';
    pthread_setname_np(t->tid, name);
    return 0;
}

DESK_COLD void desk_conn_thread_stop(desk_conn_thread_t *t)
{
    if (!t->started)
        return;
    /* Release pairs with the acquire in conn_thread_main(). */
    atomic_store_explicit(&t->stop, 1, memory_order_release);
    pthread_join(t->tid, NULL);
    t->started = 0;
}
