/* router.c - the router thread; see router.h for the loop and its rules. */
#include "router.h"

#include <errno.h>
#include <sched.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "err.h"
#include "fixed.h"

/* ---- setup (cold) -------------------------------------------------------- */

DESK_COLD int desk_router_init(desk_router_t *r, const desk_config_t *cfg,
                               struct desk_main_hdr *main)
{
    int rc;

    memset(r, 0, sizeof *r);
    r->cfg = cfg;
    r->main = main;
    r->instr = desk_shm_instruments(main);
    r->quotes = desk_shm_quotes(main);
    r->stats = desk_shm_stats(main);
    r->uta_shm = desk_shm_uta(main);
    r->orders_shm = desk_shm_orders(main);
    r->ninstr = main->ninstruments;
    r->nconn = main->nconnectors;
    r->nstrat = main->nstrategies;
    r->idle = cfg->idle;
    r->idle_max_ns = (uint64_t)(cfg->idle_max_us ? cfg->idle_max_us : 200) * 1000;
    r->status_interval_ns =
        (uint64_t)(cfg->status_interval_ms ? cfg->status_interval_ms : 100) * 1000000;
    rc = desk_orders_init(&r->orders, cfg->order_capacity ? cfg->order_capacity : 65536,
                          cfg->clordids_per_day);
    if (rc < 0)
        return rc;
    size_t nl = (size_t)(r->nstrat ? r->nstrat : 1) * (r->ninstr ? r->ninstr : 1);
    r->limits = calloc(nl, sizeof *r->limits);
    if (r->limits == NULL) {
        desk_orders_fini(&r->orders);
        return DESK_ERR(-ENOMEM, "limits table");
    }
    for (uint32_t s = 0; s < r->nstrat; s++)
        for (uint32_t i = 0; i < r->ninstr; i++)
            desk_limits_merge(&r->limits[s * r->ninstr + i], &cfg->limits,
                              &cfg->strategies[s].limits, &cfg->instruments[i].limits);
    desk_uta_init(&r->uta, r->nconn, r->ninstr);
    for (uint32_t i = 0; i < r->ninstr; i++)
        r->uta.pos[i].venue = r->instr[i].connector;
    uint64_t now = desk_now_ns();
    for (uint32_t s = 0; s < r->nstrat; s++) {
        const desk_limits_t *l = &r->limits[s * r->ninstr];
        /* The throttle is per strategy: use the tightest rate over its
         * instruments (instrument limits rarely set a rate). */
        desk_limits_t agg = *l;
        for (uint32_t i = 1; i < r->ninstr; i++) {
            const desk_limits_t *li = &r->limits[s * r->ninstr + i];
            if (li->orders_per_sec && (!agg.orders_per_sec || li->orders_per_sec < agg.orders_per_sec)) {
                agg.orders_per_sec = li->orders_per_sec;
                agg.burst = li->burst;
            }
        }
        for (uint32_t i = 0; i < r->ninstr; i++) {
            r->limits[s * r->ninstr + i].orders_per_sec = agg.orders_per_sec;
            r->limits[s * r->ninstr + i].burst = agg.burst;
        }
        desk_bucket_init(&r->strat[s].bucket, &agg, now);
        r->strat[s].shm = &desk_shm_strats(main)[s];
        r->strat[s].cancel_on_disconnect = (uint8_t)cfg->strategies[s].cancel_on_disconnect;
    }
    for (uint32_t c = 0; c < r->nconn; c++) {
        r->conn[c].shm = &desk_shm_conns(main)[c];
        r->conn[c].venue_type = cfg->connectors[c].venue_type;
    }
    r->next_venue_cl = desk_wall_ns() / 1000;
    rc = desk_recon_init(&r->recon, desk_shm_recon(main), cfg->recon_cash_tolerance,
                         cfg->recon_bp_tolerance_bps);
    if (rc < 0) {
        desk_router_fini(r);
        return DESK_ERR(rc, "reconciliation state");
    }
    return 0;
}

DESK_COLD void desk_router_fini(desk_router_t *r)
{
    desk_orders_fini(&r->orders);
    free(r->limits);
    r->limits = NULL;
    desk_recon_fini(&r->recon);
}

DESK_COLD int desk_router_attach_strategy(desk_router_t *r, uint32_t i, struct desk_strat_hdr *seg)
{
    int rc;

    if (i >= r->nstrat)
        return DESK_ERR(-EINVAL, "strategy index %u out of range", i);
    rc = desk_spsc_attach_consumer(&r->strat[i].orders, (char *)seg + seg->off_order_ring,
                                   (size_t)seg->order_ring_bytes);
    if (rc < 0)
        return rc;
    rc = desk_spsc_attach_producer(&r->strat[i].events, (char *)seg + seg->off_event_ring,
                                   (size_t)seg->event_ring_bytes);
    if (rc < 0)
        return rc;
    r->strat[i].seg = seg;
    r->strat[i].attached = 1;
    return 0;
}

DESK_COLD int desk_router_attach_connector(desk_router_t *r, uint32_t i, void *cmd_ring,
                                           size_t cmd_len, void *ev_ring, size_t ev_len)
{
    int rc;

    if (i >= r->nconn)
        return DESK_ERR(-EINVAL, "connector index %u out of range", i);
    rc = desk_spsc_attach_producer(&r->conn[i].cmd, cmd_ring, cmd_len);
    if (rc < 0)
        return rc;
    rc = desk_spsc_attach_consumer(&r->conn[i].evq, ev_ring, ev_len);
    if (rc < 0)
        return rc;
    r->conn[i].attached = 1;
    return 0;
}

DESK_COLD void desk_router_attach_recon(desk_router_t *r, uint32_t i, struct desk_recon_box *box)
{
    if (i < r->nconn)
        r->conn[i].box = box;
}

static inline void jpush(desk_router_t *r, const desk_jrec_t *rec);

DESK_COLD void desk_router_seed_cash(desk_router_t *r, uint32_t i, int64_t cash, int64_t venue_bp)
{
    r->uta.venue[i].cash = cash;
    r->uta.venue[i].venue_bp = venue_bp;
    r->uta_dirty = 1;
    if (r->journal) {
        desk_jrec_t rec;
        memset(&rec, 0, sizeof rec);
        rec.balance.kind = DESK_JREC_BALANCE;
        rec.balance.what = DESK_JBAL_CASH;
        rec.balance.source = DESK_JBAL_SEED;
        rec.balance.connector = (uint16_t)i;
        rec.balance.cash = cash;
        rec.balance.venue_bp = venue_bp;
        jpush(r, &rec);
    }
}

DESK_COLD void desk_router_seed_position(desk_router_t *r, uint32_t instrument, int64_t qty,
                                         int64_t avg_px)
{
    r->uta.pos[instrument].qty = qty;
    r->uta.pos[instrument].avg_px = avg_px;
    r->uta_dirty = 1;
    if (r->journal) {
        desk_jrec_t rec;
        memset(&rec, 0, sizeof rec);
        rec.balance.kind = DESK_JREC_BALANCE;
        rec.balance.what = DESK_JBAL_POSITION;
        rec.balance.source = DESK_JBAL_SEED;
        rec.balance.connector = (uint16_t)r->uta.pos[instrument].venue;
        rec.balance.instrument = (uint16_t)instrument;
        rec.balance.qty = qty;
        rec.balance.avg_px = avg_px;
        jpush(r, &rec);
    }
}

void desk_router_stop(desk_router_t *r)
{
    /* Release pairs with the acquire in desk_router_run(). */
    atomic_store_explicit(&r->stop, 1, memory_order_release);
}

/* ---- helpers (hot) ------------------------------------------------------- */

/* Relaxed single-writer counter bump: no locked instruction. */
static inline void bump(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline void set_gauge(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline uint8_t conn_health(const desk_router_t *r, uint32_t c)
{
    struct desk_conn_health h;

    desk_seqlock_read(&r->conn[c].shm->hlock, &h, &r->conn[c].shm->health, sizeof h);
    return (uint8_t)h.state;
}

static inline uint32_t utc_minute(void)
{
    /* CLOCK_REALTIME through the vDSO, like desk_now_ns(). */
    return (uint32_t)((desk_wall_ns() / 60000000000ull) % 1440);
}

/* Write one event into strategy s's ring; the caller checked for room. */
static inline void emit(desk_router_t *r, uint32_t s, const desk_event_t *ev)
{
    desk_router_strat_t *st = &r->strat[s];
    if (r->replaying)
        return; /* recovery: the strategies saw these events before the crash */
    desk_event_t *slot = desk_spsc_claim(&st->events);

    if (DESK_UNLIKELY(slot == NULL)) {
        /* Only reached for a strategy that is gone (see has_room): its events
         * are applied to the books and counted, not delivered. */
        bump(&st->shm->event_ring_full, 1);
        return;
    }
    *slot = *ev;
    desk_spsc_commit(&st->events, 1);
}

/* Room in strategy s's event ring, or a dead strategy (whose events are
 * dropped rather than allowed to stall the desk). */
static inline int has_room(desk_router_t *r, uint32_t s)
{
    desk_router_strat_t *st = &r->strat[s];

    if (desk_spsc_claim_n(&st->events, 1))
        return 1;
    bump(&st->shm->event_ring_full, 1);
    return (int)atomic_load_explicit(&st->gone, memory_order_relaxed);
}

static void reject_cmd(desk_router_t *r, uint32_t s, const desk_cmd_t *c, desk_reject_t why,
                       uint64_t order_id)
{
    desk_event_t ev = {0};

    ev.type = c->type == DESK_CMD_NEW ? DESK_EV_REJECT : DESK_EV_CANCEL_REJECT;
    ev.ord_status = DESK_OS_REJECTED;
    ev.reason = (uint16_t)why;
    ev.instrument = c->instrument;
    ev.cl_ord_id = c->cl_ord_id;
    ev.ref = c->type == DESK_CMD_NEW ? order_id : c->orig_cl_ord_id;
    if (r->journal) {
        desk_jrec_t rec;
        desk_jrec_reject_fill(&rec, c, s, why, order_id);
        jpush(r, &rec);
    }
    emit(r, s, &ev);
    bump(&r->stats->rejects, 1);
    bump(&r->stats->reject_by_reason[why], 1);
    bump(&r->strat[s].shm->rejects, 1);
}

/* Recompute a buy order's cash reservation from its leaves. */
static inline void set_reserve(desk_router_t *r, desk_order_t *o, int64_t px)
{
    int64_t want = 0;

    if (o->side == DESK_BUY && o->leaves_qty > 0 && px > 0)
        (void)desk_fixed_mul(px, o->leaves_qty, &want);
    desk_uta_reserve(&r->uta, o->connector, want - o->reserved);
    o->reserved = want;
    o->reserve_px = px;
}

static inline void open_qty(desk_router_t *r, const desk_order_t *o, int64_t delta)
{
    desk_uta_pos_state_t *p = &r->uta.pos[o->instrument];

    if (o->side == DESK_BUY)
        p->open_buy = desk_sat_add(p->open_buy, delta);
    else
        p->open_sell = desk_sat_add(p->open_sell, delta);
}

static inline void send_vcmd(desk_router_t *r, const desk_order_t *o, uint8_t type,
                             uint64_t venue_cl, uint64_t orig_venue_cl, int64_t qty, int64_t px,
                             uint64_t now)
{
    desk_router_conn_t *cn = &r->conn[o->connector];
    desk_vcmd_t *v;

    /* Write into the slot after the held ones; the caller checked room for
     * held + 1 (claim_n caches the consumer's head, so the slot is free). */
    if (r->journal == NULL)
        v = desk_spsc_claim(&cn->cmd);
    else
        v = desk_spsc_claim_n(&cn->cmd, cn->held + 1) > cn->held
                ? desk_spsc_slot(&cn->cmd, cn->held)
                : NULL;
    if (DESK_UNLIKELY(v == NULL)) {
        /* Unreachable: every caller checked for room first.  Should it ever
         * happen, the order stays pending in the table (never silently
         * dropped) and desk status shows the anomaly. */
        bump(&r->stats->invalid_events, 1);
        return;
    }
    v->type = type;
    v->side = o->side;
    v->ord_type = o->ord_type;
    v->tif = o->tif;
    v->instrument = o->instrument;
    v->order_id = o->order_id;
    v->cl_ord_id = venue_cl;
    v->orig_cl_ord_id = orig_venue_cl;
    v->qty = qty;
    v->px = px;
    v->stop_px = o->stop_px;
    v->route_ns = now;
    if (r->journal == NULL) {
        desk_spsc_commit(&cn->cmd, 1);
        bump(&cn->shm->routed, 1);
        return;
    }
    /* Write-ahead: the CMD record first; the slot is committed by
     * commit_held() once the journal says the record is durable. */
    desk_jrec_t rec;
    desk_jrec_cmd_fill(&rec, type, o, type == DESK_CMD_NEW ? o->cl_ord_id : o->req_cl_ord_id,
                       venue_cl, qty, px);
    if (DESK_UNLIKELY(desk_journal_push(r->journal, &rec) < 0)) {
        /* Unreachable: the command was taken only with room for its record.
         * Unjournaled, it must not reach the venue: the order stays pending. */
        bump(&r->stats->invalid_events, 1);
        return;
    }
    cn->held++;
    cn->held_seq = desk_journal_pushed(r->journal);
}

/* Commit connector c's held commands once their records are durable.
 * Returns the number still held. */
static inline uint32_t commit_held(desk_router_t *r, desk_router_conn_t *cn)
{
    if (cn->held && desk_journal_durable_seq(r->journal) >= cn->held_seq) {
        desk_spsc_commit(&cn->cmd, cn->held);
        bump(&cn->shm->routed, cn->held);
        cn->held = 0;
    }
    return cn->held;
}

/* Push a record made by the router (room was checked before taking the
 * message it describes). */
static inline void jpush(desk_router_t *r, const desk_jrec_t *rec)
{
    if (r->journal && DESK_UNLIKELY(desk_journal_push(r->journal, rec) < 0))
        bump(&r->stats->invalid_events, 1); /* unreachable: room was checked */
}

static DESK_COLD void jpush_cold(desk_router_t *r, const desk_jrec_t *rec)
{
    jpush(r, rec);
}

/* Room in connector c's command ring for one more command after the held
 * ones. */
static inline int conn_room(desk_router_t *r, uint32_t c)
{
    desk_router_conn_t *cn = &r->conn[c];

    return desk_spsc_claim_n(&cn->cmd, cn->held + 1) > cn->held;
}

/* The connector a command will go to, or -1 if it will be refused before
 * reaching one (unknown instrument or order). */
static int cmd_connector(desk_router_t *r, uint32_t s, const desk_cmd_t *c)
{
    if (c->type == DESK_CMD_NEW)
        return c->instrument < r->ninstr ? r->instr[c->instrument].connector : -1;
    desk_order_t *o = desk_orders_by_clid(&r->orders, (uint16_t)s, c->orig_cl_ord_id);
    return o ? o->connector : -1;
}

/* ---- commands from strategies ------------------------------------------- */

/* 1 if strategy s was declared disconnected in its current attachment. */
static inline int strat_gone(const desk_router_t *r, uint32_t s)
{
    /* Relaxed: the epoch is compared, nothing is published through it. */
    uint64_t se = atomic_load_explicit(&r->strat[s].stale_epoch, memory_order_relaxed);
    return DESK_UNLIKELY(se != 0) &&
           se == atomic_load_explicit(&r->strat[s].seg->attach_epoch, memory_order_relaxed);
}

static void handle_new(desk_router_t *r, uint32_t s, const desk_cmd_t *c, uint64_t now)
{
    desk_quote_t q;
    const desk_quote_t *qp = NULL;
    const desk_instrument_t *in = c->instrument < r->ninstr ? &r->instr[c->instrument] : NULL;

    if (desk_orders_clid_seen(&r->orders, (uint16_t)s, c->cl_ord_id)) {
        reject_cmd(r, s, c, DESK_REJ_DUPLICATE_CLORDID, 0);
        return;
    }
    /* Relaxed: a flag the control thread clears; the orders it guards are
     * the router's own. */
    if (DESK_UNLIKELY(atomic_load_explicit(&r->reconciling, memory_order_relaxed))) {
        (void)desk_orders_clid_add(&r->orders, (uint16_t)s, c->cl_ord_id, UINT32_MAX);
        reject_cmd(r, s, c, DESK_REJ_RECONCILING, 0);
        return;
    }
    if (strat_gone(r, s)) {
        (void)desk_orders_clid_add(&r->orders, (uint16_t)s, c->cl_ord_id, UINT32_MAX);
        reject_cmd(r, s, c, DESK_REJ_STRATEGY_GONE, 0);
        return;
    }
    if (in && desk_seqlock_read(&r->quotes[in->id].lock, &q, &r->quotes[in->id].q, sizeof q))
        qp = &q;
    desk_guard_ctx_t g = {
        .cmd = c,
        .instr = in,
        .limits = &r->limits[s * r->ninstr + (in ? in->id : 0)],
        .quote = qp,
        .uta = &r->uta,
        .bucket = &r->strat[s].bucket,
        .venue_type = in ? r->conn[in->connector].venue_type : 0,
        .kill = (uint8_t)atomic_load_explicit(&r->main->kill, memory_order_acquire),
        .health = in ? conn_health(r, in->connector) : 0,
        .minute_of_day = in && in->open_min >= 0 ? utc_minute() : 0,
        .now_ns = now,
    };
    desk_guard_verdict_t v = desk_guard_check(&g);
    uint64_t t1 = desk_now_ns();
    desk_hist_record(&r->stats->stage[DESK_STAGE_GUARD], t1 - now);

    if (v.reason != DESK_REJ_NONE) {
        /* A refused ClOrdID is still used: it can never name another order. */
        if (desk_orders_clid_add(&r->orders, (uint16_t)s, c->cl_ord_id, UINT32_MAX) == -ENOSPC)
            v.reason = DESK_REJ_ORDER_TABLE_FULL;
        reject_cmd(r, s, c, (desk_reject_t)v.reason, 0);
        return;
    }
    desk_order_t *o = desk_orders_alloc(&r->orders);
    if (o == NULL) {
        reject_cmd(r, s, c, DESK_REJ_ORDER_TABLE_FULL, 0);
        return;
    }
    if (desk_orders_clid_add(&r->orders, (uint16_t)s, c->cl_ord_id, desk_order_slot(o)) < 0) {
        o->status = DESK_OS_REJECTED;
        desk_orders_finish(&r->orders, o);
        reject_cmd(r, s, c, DESK_REJ_ORDER_TABLE_FULL, 0);
        return;
    }
    o->cl_ord_id = c->cl_ord_id;
    o->instrument = in->id;
    o->strategy = (uint16_t)s;
    o->connector = in->connector;
    o->side = c->side;
    o->ord_type = c->ord_type;
    o->tif = c->tif;
    o->qty = c->qty;
    o->px = c->px;
    o->stop_px = c->stop_px;
    o->leaves_qty = c->qty;
    o->submit_ns = c->submit_ns;
    o->venue_cl = r->next_venue_cl++;
    open_qty(r, o, o->leaves_qty);
    set_reserve(r, o, v.reserve_px);
    r->uta_dirty = 1;
    send_vcmd(r, o, DESK_CMD_NEW, o->venue_cl, 0, o->qty, o->px, t1);
    bump(&r->stats->orders, 1);
    bump(&r->strat[s].shm->orders, 1);
    if (c->submit_ns && t1 > c->submit_ns)
        desk_hist_record(&r->stats->stage[DESK_STAGE_SUBMIT_ROUTED], t1 - c->submit_ns);
}

static void handle_cancel_replace(desk_router_t *r, uint32_t s, const desk_cmd_t *c, uint64_t now)
{
    desk_order_t *o = desk_orders_by_clid(&r->orders, (uint16_t)s, c->orig_cl_ord_id);

    /* The request's ClOrdID is bound to the order's slot: after a replace it
     * becomes the order's id and must find it. */
    int rc = desk_orders_clid_add(&r->orders, (uint16_t)s, c->cl_ord_id,
                                  o ? desk_order_slot(o) : UINT32_MAX);
    if (rc < 0) {
        reject_cmd(r, s, c,
                   rc == -EEXIST ? DESK_REJ_DUPLICATE_CLORDID : DESK_REJ_ORDER_TABLE_FULL, 0);
        return;
    }
    if (o == NULL) {
        reject_cmd(r, s, c,
                   desk_orders_clid_seen(&r->orders, (uint16_t)s, c->orig_cl_ord_id)
                       ? DESK_REJ_ORDER_NOT_OPEN
                       : DESK_REJ_UNKNOWN_ORDER,
                   0);
        return;
    }
    if (desk_ord_terminal(o->status)) {
        reject_cmd(r, s, c, DESK_REJ_ORDER_NOT_OPEN, o->order_id);
        return;
    }
    if (o->status == DESK_OS_PENDING_CANCEL || o->status == DESK_OS_PENDING_REPLACE) {
        reject_cmd(r, s, c, DESK_REJ_PENDING, o->order_id);
        return;
    }
    if (conn_health(r, o->connector) != DESK_UP) {
        reject_cmd(r, s, c, DESK_REJ_CONNECTOR_DOWN, o->order_id);
        return;
    }
    if (c->type == DESK_CMD_REPLACE && strat_gone(r, s)) {
        reject_cmd(r, s, c, DESK_REJ_STRATEGY_GONE, o->order_id);
        return;
    }
    if (c->type == DESK_CMD_CANCEL) {
        desk_order_pending(o, DESK_OS_PENDING_CANCEL);
        o->req_cl_ord_id = c->cl_ord_id;
        o->req_venue_cl = r->next_venue_cl++;
        send_vcmd(r, o, DESK_CMD_CANCEL, o->req_venue_cl, o->venue_cl, o->qty, o->px, now);
        return;
    }
    /* Replace: the guard judges the order as it would stand afterwards. */
    desk_cmd_t nc = *c;
    desk_quote_t q;
    const desk_quote_t *qp = NULL;
    const desk_instrument_t *in = &r->instr[o->instrument];
    nc.side = o->side;
    nc.ord_type = o->ord_type;
    nc.tif = o->tif;
    nc.instrument = o->instrument;
    nc.stop_px = o->stop_px;
    if (o->ord_type == DESK_MARKET || o->ord_type == DESK_STOP) {
        reject_cmd(r, s, c, DESK_REJ_BAD_COMMAND, o->order_id); /* nothing to reprice */
        return;
    }
    if (desk_seqlock_read(&r->quotes[in->id].lock, &q, &r->quotes[in->id].q, sizeof q))
        qp = &q;
    desk_guard_ctx_t g = {
        .cmd = &nc,
        .instr = in,
        .limits = &r->limits[s * r->ninstr + in->id],
        .quote = qp,
        .uta = &r->uta,
        .bucket = &r->strat[s].bucket,
        .venue_type = r->conn[in->connector].venue_type,
        .kill = (uint8_t)atomic_load_explicit(&r->main->kill, memory_order_acquire),
        .health = DESK_UP,
        .minute_of_day = in->open_min >= 0 ? utc_minute() : 0,
        .now_ns = now,
        .replace_cum_qty = o->cum_qty,
        .replace_old_leaves = o->leaves_qty,
        .replace_old_reserved = o->reserved,
    };
    desk_guard_verdict_t v = desk_guard_check(&g);
    uint64_t t1 = desk_now_ns();
    desk_hist_record(&r->stats->stage[DESK_STAGE_GUARD], t1 - now);
    if (v.reason != DESK_REJ_NONE) {
        reject_cmd(r, s, c, (desk_reject_t)v.reason, o->order_id);
        return;
    }
    desk_order_pending(o, DESK_OS_PENDING_REPLACE);
    o->req_cl_ord_id = c->cl_ord_id;
    o->req_venue_cl = r->next_venue_cl++;
    o->new_qty = c->qty;
    o->new_px = c->px;
    /* Hold the larger of the old and new reservations until the venue
     * answers: buying power never looks better than it is. */
    if (o->side == DESK_BUY && v.reserve > o->reserved) {
        desk_uta_reserve(&r->uta, o->connector, v.reserve - o->reserved);
        o->reserved = v.reserve;
        r->uta_dirty = 1;
    }
    send_vcmd(r, o, DESK_CMD_REPLACE, o->req_venue_cl, o->venue_cl, c->qty, c->px, t1);
}

static int drain_strategy(desk_router_t *r, uint32_t s, uint64_t now)
{
    desk_router_strat_t *st = &r->strat[s];
    uint32_t n = desk_spsc_peek_n(&st->orders, DESK_ROUTER_BATCH), done = 0;

    for (; done < n; done++) {
        const desk_cmd_t *c = desk_spsc_slot(&st->orders, done);
        /* Take a command only when its answer and its venue message both
         * have room; otherwise it waits in the order ring. */
        if (!desk_spsc_claim_n(&st->events, 1))
            break;
        int cn = cmd_connector(r, s, c);
        if (cn >= 0 && !conn_room(r, (uint32_t)cn))
            break;
        if (r->journal && !desk_journal_room(r->journal, 1))
            break; /* the journal is behind: the command waits */
        if (c->submit_ns && now > c->submit_ns)
            desk_hist_record(&r->stats->stage[DESK_STAGE_SUBMIT_ROUTER], now - c->submit_ns);
        bump(&r->stats->cmds, 1);
        bump(&st->shm->cmds, 1);
        if (DESK_UNLIKELY(c->cl_ord_id == 0)) /* libdesk refuses it; a raw writer may not */
            reject_cmd(r, s, c, DESK_REJ_BAD_COMMAND, 0);
        else switch (c->type) {
        case DESK_CMD_NEW:
            handle_new(r, s, c, now);
            break;
        case DESK_CMD_CANCEL:
        case DESK_CMD_REPLACE:
            handle_cancel_replace(r, s, c, now);
            break;
        default:
            reject_cmd(r, s, c, DESK_REJ_BAD_COMMAND, 0);
            break;
        }
        now = desk_now_ns();
    }
    if (done)
        desk_spsc_release(&st->orders, done);
    return (int)done;
}

/* ---- events from venues --------------------------------------------------- */

/* The strategy's open-order gauge counts an order from its ack (or first
 * fill) until it is done. */
static inline void count_open(desk_router_t *r, desk_order_t *o, int up)
{
    if (up && !o->open_counted) {
        o->open_counted = 1;
        bump(&r->strat[o->strategy].shm->open_orders, 1);
    } else if (!up && o->open_counted) {
        o->open_counted = 0;
        bump(&r->strat[o->strategy].shm->open_orders, (uint64_t)-1);
    }
}

/* A done order gives back its open quantity and reservation. */
static void finish(desk_router_t *r, desk_order_t *o, int64_t prev_leaves)
{
    open_qty(r, o, -prev_leaves);
    set_reserve(r, o, 0);
    count_open(r, o, 0);
    desk_orders_finish(&r->orders, o);
}

/* px * qty, saturated: only a price for catch-up fills depends on it. */
static inline int64_t notional_of(int64_t px, int64_t qty)
{
    int64_t n;
    return desk_fixed_mul(px, qty, &n) == 0 ? n : INT64_MAX;
}

static void apply_vevent(desk_router_t *r, const desk_vevent_t *vin, uint64_t now)
{
    desk_order_t *o = desk_orders_by_id(&r->orders, vin->order_id);
    const desk_vevent_t *v = vin;
    desk_vevent_t cu;
    desk_jrec_t rec;

    if (DESK_UNLIKELY(vin->type == DESK_EV_FILL && (vin->flags & DESK_VEV_CATCHUP) && o)) {
        /* Recovery: the venue's total; fill only what this desk has not seen
         * (journaled as computed, so a replay applies the same quantity). */
        cu = *vin;
        if (__builtin_sub_overflow(vin->cum_qty, o->cum_qty, &cu.last_qty) || cu.last_qty <= 0)
            cu.last_qty = 0; /* desk_order_apply() reports it a duplicate */
        /* The venue's last_px is its average over the whole order: the part
         * missed is priced at what the venue's total leaves after the fills
         * already booked (exact when the venue's average is). */
        int64_t total, missed_px;
        if (cu.last_qty > 0 && vin->last_px > 0 &&
            desk_fixed_mul(vin->last_px, vin->cum_qty, &total) == 0 &&
            desk_fixed_muldiv(desk_sat_sub(total, o->cum_notional), DESK_SCALE, cu.last_qty,
                              &missed_px) == 0 &&
            missed_px > 0)
            cu.last_px = missed_px;
        v = &cu;
        if ((o->status == DESK_OS_CANCELED || o->status == DESK_OS_EXPIRED) && cu.last_qty > 0 &&
            cu.last_qty <= o->qty - o->cum_qty) {
            /* Fills lost at the crash, then the cancel came through the
             * resend: the order stays canceled, the fills count. */
            if (r->journal) {
                desk_jrec_event_fill(&rec, v, DESK_JEV_APPLIED);
                rec.event.last_px = vin->last_px; /* the venue's: replay prices it the same */
                jpush(r, &rec);
            }
            o->cum_qty += cu.last_qty;
            o->cum_notional = desk_sat_add(o->cum_notional, notional_of(cu.last_px, cu.last_qty));
            if (DESK_UNLIKELY(desk_uta_fill(&r->uta, o->instrument, o->side, cu.last_px,
                                            cu.last_qty, 0) < 0))
                bump(&r->stats->invalid_events, 1); /* figures past int64: not booked */
            r->uta_dirty = 1;
            bump(&r->stats->fills, 1);
            desk_event_t fe = {0};
            fe.type = DESK_EV_FILL;
            fe.ord_status = o->status;
            fe.instrument = o->instrument;
            fe.cl_ord_id = o->cl_ord_id;
            fe.ref = o->order_id;
            fe.cum_qty = o->cum_qty;
            fe.last_px = cu.last_px;
            fe.last_qty = cu.last_qty;
            emit(r, o->strategy, &fe);
            return;
        }
    }

    if (o == NULL) {
        if (r->journal) {
            desk_jrec_event_fill(&rec, v, DESK_JEV_UNKNOWN_ORDER);
            jpush(r, &rec);
        }
        bump(&r->stats->invalid_events, 1);
        return;
    }
    int64_t prev_leaves = o->leaves_qty;
    uint64_t req_clid = o->req_cl_ord_id;
    uint64_t old_clid = o->cl_ord_id;
    desk_ord_result_t res = desk_order_apply(o, v);

    if (r->journal) {
        desk_jrec_event_fill(&rec, v, (unsigned)res);
        if (v == &cu)
            rec.event.last_px = vin->last_px; /* the venue's: replay prices it the same */
        jpush(r, &rec);
    }

    if (res == DESK_ORD_DUPLICATE) {
        bump(&r->stats->duplicate_execs, 1);
        return;
    }
    if (res != DESK_ORD_APPLIED) {
        bump(&r->stats->invalid_events, 1);
        return;
    }
    desk_event_t ev = {0};
    ev.type = v->type;
    ev.ord_status = o->status;
    ev.instrument = o->instrument;
    ev.cl_ord_id = o->cl_ord_id;
    ev.ref = o->order_id;
    ev.cum_qty = o->cum_qty;
    ev.leaves_qty = o->leaves_qty;
    r->uta_dirty = 1;

    switch (v->type) {
    case DESK_EV_ACK:
        bump(&r->conn[o->connector].shm->acks, 1);
        count_open(r, o, 1);
        if (o->submit_ns && now > o->submit_ns)
            desk_hist_record(&r->stats->stage[DESK_STAGE_SUBMIT_ACK], now - o->submit_ns);
        break;
    case DESK_EV_FILL:
        count_open(r, o, 1); /* a fill before the ack: it was live */
        o->cum_notional = desk_sat_add(o->cum_notional, notional_of(v->last_px, v->last_qty));
        if (DESK_UNLIKELY(desk_uta_fill(&r->uta, o->instrument, o->side, v->last_px,
                                        v->last_qty, v->fee) < 0))
            bump(&r->stats->invalid_events, 1); /* figures past int64: not booked */
        open_qty(r, o, -v->last_qty);
        set_reserve(r, o, o->reserve_px);
        ev.last_px = v->last_px;
        ev.last_qty = v->last_qty;
        ev.fee = v->fee;
        bump(&r->stats->fills, 1);
        bump(&r->conn[o->connector].shm->fills, 1);
        bump(&r->strat[o->strategy].shm->fills, 1);
        if (!o->filled_once && o->submit_ns && now > o->submit_ns) {
            o->filled_once = 1;
            desk_hist_record(&r->stats->stage[DESK_STAGE_SUBMIT_FILL], now - o->submit_ns);
        }
        if (o->status == DESK_OS_FILLED) {
            count_open(r, o, 0);
            desk_orders_finish(&r->orders, o);
        }
        break;
    case DESK_EV_CANCELED:
    case DESK_EV_EXPIRED:
        if (DESK_UNLIKELY(v->cum_qty > o->cum_qty)) {
            /* The venue filled more than this desk saw: fills lost at a
             * crash.  Remembered so that recovery asks the venue. */
            r->gap_id[r->ngap % 64] = o->order_id;
            r->gap_cum[r->ngap % 64] = v->cum_qty;
            r->ngap++;
        }
        bump(v->type == DESK_EV_CANCELED ? &r->stats->cancels : &r->stats->expired, 1);
        finish(r, o, prev_leaves);
        if (req_clid && v->type == DESK_EV_CANCELED)
            ev.ref = req_clid; /* the cancel request that did it */
        break;
    case DESK_EV_REJECT:
        ev.reason = v->reason ? v->reason : DESK_REJ_VENUE;
        finish(r, o, prev_leaves);
        bump(&r->stats->rejects, 1);
        bump(&r->stats->reject_by_reason[ev.reason < DESK_SHM_REJECT_SLOTS ? ev.reason : 0], 1);
        bump(&r->conn[o->connector].shm->rejects, 1);
        bump(&r->strat[o->strategy].shm->rejects, 1);
        break;
    case DESK_EV_REPLACED:
        open_qty(r, o, o->leaves_qty - prev_leaves);
        set_reserve(r, o, o->side == DESK_BUY ? o->px : 0);
        ev.ref = old_clid;
        bump(&r->stats->replaced, 1);
        break;
    case DESK_EV_CANCEL_REJECT:
        ev.cl_ord_id = req_clid;
        ev.ref = o->cl_ord_id;
        ev.reason = v->reason ? v->reason : DESK_REJ_VENUE;
        if (!desk_ord_terminal(o->status))
            set_reserve(r, o, o->reserve_px); /* drop a replace's extra hold */
        break;
    default:
        break;
    }
    if (DESK_UNLIKELY(o->cancel_after) && !desk_ord_terminal(o->status) &&
        o->status != DESK_OS_PENDING_REPLACE && o->status != DESK_OS_PENDING_CANCEL) {
        /* The replace is answered: the cancel-all that found it in flight
         * takes it on the next status tick. */
        o->cancel_after = 0;
        atomic_store_explicit(&r->strat[o->strategy].cancel_all, 1, memory_order_relaxed);
    }
    emit(r, o->strategy, &ev);
}

static int drain_connector(desk_router_t *r, uint32_t c, uint64_t now)
{
    desk_router_conn_t *cn = &r->conn[c];
    uint32_t n = desk_spsc_peek_n(&cn->evq, DESK_ROUTER_BATCH), done = 0;

    for (; done < n; done++) {
        const desk_vevent_t *v = desk_spsc_slot(&cn->evq, done);
        desk_order_t *o = desk_orders_by_id(&r->orders, v->order_id);
        if (r->journal && !desk_journal_room(r->journal, 1))
            break; /* the journal is behind: the event waits */
        if (o && !has_room(r, o->strategy))
            break; /* the strategy is behind: leave the rest in the ring */
        apply_vevent(r, v, now);
    }
    if (done)
        desk_spsc_release(&cn->evq, done);
    cn->ev_taken += done;
    return (int)done;
}

/* ---- status and housekeeping (every status interval) -------------------- */

static void refresh_marks(desk_router_t *r)
{
    for (uint32_t i = 0; i < r->ninstr; i++) {
        desk_quote_t q;
        if (!desk_seqlock_read(&r->quotes[i].lock, &q, &r->quotes[i].q, sizeof q))
            continue;
        int64_t m = q.bid_px > 0 && q.ask_px > 0 ? q.bid_px + (q.ask_px - q.bid_px) / 2
                                                 : q.last_px;
        if (m > 0 && m != r->uta.pos[i].mark_px) {
            desk_uta_mark(&r->uta, i, m);
            r->uta_dirty = 1;
        }
    }
}

static void publish_orders(desk_router_t *r)
{
    /* Built in private memory, then copied under the seqlock. */
    static _Thread_local struct desk_open_order snap[DESK_SHM_OPEN_ORDERS];
    uint64_t n = 0, total = 0;

    for (const desk_order_t *o = desk_orders_live_first(&r->orders); o;
         o = desk_orders_live_next(&r->orders, o)) {
        total++;
        if (n == DESK_SHM_OPEN_ORDERS)
            continue;
        struct desk_open_order *d = &snap[n++];
        memset(d, 0, sizeof *d);
        d->order_id = o->order_id;
        d->cl_ord_id = o->cl_ord_id;
        d->instrument = o->instrument;
        d->strategy = o->strategy;
        d->side = o->side;
        d->status = o->status;
        d->ord_type = o->ord_type;
        d->tif = o->tif;
        d->qty = o->qty;
        d->px = o->px;
        d->cum_qty = o->cum_qty;
        d->leaves_qty = o->leaves_qty;
    }
    struct desk_orders_shm *os = r->orders_shm;
    desk_seqlock_write_begin(&os->lock);
    __atomic_store_n(&os->total, total, __ATOMIC_RELAXED);
    __atomic_store_n(&os->n, n, __ATOMIC_RELAXED);
    desk__seq_store_words(os->o, snap, n * sizeof snap[0]);
    desk_seqlock_write_end(&os->lock);
}

static void cancel_all(desk_router_t *r, uint32_t s, uint64_t now)
{
    for (desk_order_t *o = desk_orders_live_first(&r->orders); o;
         o = desk_orders_live_next(&r->orders, o)) {
        if (o->strategy != s || o->status == DESK_OS_PENDING_CANCEL)
            continue;
        if (o->status == DESK_OS_PENDING_REPLACE) {
            o->cancel_after = 1; /* a cancel cannot go out now: once the venue answers */
            continue;
        }
        if (!conn_room(r, o->connector) || (r->journal && !desk_journal_room(r->journal, 1))) {
            /* Ring full: keep the request and finish on a later turn. */
            atomic_store_explicit(&r->strat[s].cancel_all, 1, memory_order_relaxed);
            return;
        }
        desk_order_pending(o, DESK_OS_PENDING_CANCEL);
        o->req_cl_ord_id = 0; /* desk's own request, not the strategy's */
        o->req_venue_cl = r->next_venue_cl++;
        send_vcmd(r, o, DESK_CMD_CANCEL, o->req_venue_cl, o->venue_cl, o->qty, o->px, now);
    }
}

/*
 * Compare connector c's waiting account report, if any, once every event
 * the connector emitted before it has been taken (so the desk's side holds
 * all the connector knew), and journal what changed.  Cold: status tick.
 */
static DESK_COLD void reconcile(desk_router_t *r, uint32_t c, uint64_t now_ns)
{
    desk_router_conn_t *cn = &r->conn[c];
    struct desk_recon_box *b = cn->box;

    /* Acquire pairs with the connector's release of the full report. */
    if (!atomic_load_explicit(&b->full, memory_order_acquire) || cn->ev_taken < b->ev_seq)
        return;
    if (r->journal && !desk_journal_room(r->journal, DESK_ROUTER_RECON_DIFFS))
        return; /* the journal is behind: compare on a later tick */
    uint32_t n = desk_recon_compare(&r->recon, c, b, &r->uta, r->instr, r->ninstr, now_ns,
                                    r->recon_diff, DESK_ROUTER_RECON_DIFFS);
    for (uint32_t k = 0; k < n && k < DESK_ROUTER_RECON_DIFFS; k++) {
        const desk_recon_diff_t *d = &r->recon_diff[k];
        desk_jrec_t rec;
        memset(&rec, 0, sizeof rec);
        rec.brk.kind = DESK_JREC_BREAK;
        rec.brk.what = d->kind;
        rec.brk.open = d->open;
        rec.brk.connector = d->connector;
        rec.brk.instrument = d->instrument;
        rec.brk.desk = d->desk;
        rec.brk.venue = d->venue;
        jpush(r, &rec);
    }
    if ((b->flags & DESK_REPORT_BALANCE) && r->uta.venue[c].venue_bp != b->balance.buying_power) {
        r->uta.venue[c].venue_bp = b->balance.buying_power;
        r->uta_dirty = 1;
    }
    /* Release: the connector may refill the box once it sees it empty. */
    atomic_store_explicit(&b->full, 0, memory_order_release);
}

void desk_router_publish(desk_router_t *r, uint64_t now_ns)
{
    refresh_marks(r);
    if (r->uta_dirty) {
        desk_uta_publish(&r->uta, r->uta_shm, now_ns);
        r->uta_dirty = 0;
    }
    for (uint32_t s = 0; s < r->nstrat; s++) {
        desk_router_strat_t *st = &r->strat[s];
        if (!st->attached)
            continue;
        set_gauge(&st->shm->order_ring_depth, desk_spsc_depth(st->orders.hdr));
        set_gauge(&st->shm->event_ring_depth, desk_spsc_depth(st->events.hdr));
        /* Acquire pairs with the control thread's release of the request. */
        if (atomic_exchange_explicit(&st->cancel_all, 0, memory_order_acquire))
            cancel_all(r, s, now_ns);
    }
    for (uint32_t c = 0; c < r->nconn; c++) {
        if (!r->conn[c].attached)
            continue;
        set_gauge(&r->conn[c].shm->cmd_ring_depth, desk_spsc_depth(r->conn[c].cmd.hdr));
        set_gauge(&r->conn[c].shm->event_ring_depth, desk_spsc_depth(r->conn[c].evq.hdr));
    }
    publish_orders(r);
    /* A new UTC day: the journal rolls to a new file, which must begin with
     * everything carried into the day.  The wall clock is read through the
     * vDSO: no syscall.  No room yet in the journal: the next tick. */
    if (r->journal && r->day && !r->replaying) {
        uint32_t day = desk_journal_day(desk_wall_ns());
        if (day > r->day)
            (void)desk_router_new_day(r, day);
    }
    for (uint32_t c = 0; c < r->nconn; c++)
        if (r->conn[c].attached && r->conn[c].box)
            reconcile(r, c, now_ns);
    desk_recon_publish(&r->recon);
    /* Reconciliation ends when every order recovered in flight has had its
     * venue's answer.  Relaxed: the flag only gates NEW in this thread. */
    if (atomic_load_explicit(&r->reconciling, memory_order_relaxed)) {
        uint32_t left = desk_router_inflight(r);
        if (left == 0 || now_ns >= r->reconcile_deadline_ns) {
            /* Unanswered orders stay pending (never guessed) and are
             * reported as breaks by the control thread. */
            atomic_store_explicit(&r->reconcile_breaks, left, memory_order_relaxed);
            /* Release pairs with the control thread's acquire: breaks first. */
            atomic_store_explicit(&r->reconciling, 0, memory_order_release);
        }
    }
    r->last_status_ns = now_ns;
}

/* Commit every connector's held commands whose records are durable; the
 * number still held counts as work (the loop must not sleep on them). */
static inline int commit_all_held(desk_router_t *r)
{
    uint32_t held = 0;

    if (r->journal == NULL)
        return 0;
    for (uint32_t c = 0; c < r->nconn; c++)
        if (r->conn[c].attached)
            held += commit_held(r, &r->conn[c]);
    return held ? 1 : 0;
}

int desk_router_poll(desk_router_t *r, uint64_t now)
{
    int work = 0;

    (void)commit_all_held(r);
    for (uint32_t s = 0; s < r->nstrat; s++)
        if (r->strat[s].attached)
            work += drain_strategy(r, s, now);
    for (uint32_t c = 0; c < r->nconn; c++)
        if (r->conn[c].attached)
            work += drain_connector(r, c, work ? desk_now_ns() : now);
    work += commit_all_held(r);
    if (work && r->uta_dirty) {
        desk_uta_publish(&r->uta, r->uta_shm, now);
        r->uta_dirty = 0;
    }
    if (now - r->last_status_ns >= r->status_interval_ns)
        desk_router_publish(r, now);
    /* Relaxed: a liveness signal; no data is published through it. */
    atomic_store_explicit(&r->main->heartbeat_ns, now, memory_order_relaxed);
    bump(&r->stats->loop_turns, 1);
    return work;
}

/* ---- recovery (cold) ---------------------------------------------------- */

/* The day's figures start over: realized PnL and fees (per venue and per
 * instrument).  Cash, positions and reservations carry on. */
static void new_day_figures(desk_router_t *r)
{
    for (uint32_t c = 0; c < r->nconn; c++) {
        r->uta.venue[c].realized_pnl = 0;
        r->uta.venue[c].fees = 0;
    }
    for (uint32_t i = 0; i < r->ninstr; i++)
        r->uta.pos[i].realized_pnl = 0;
    r->uta_dirty = 1;
}

/* Replay: a day snapshot begins; what the file held before it is already in
 * the state it carries, so start from nothing. */
static DESK_COLD void replay_snapshot_begin(desk_router_t *r, const struct desk_jrec_snapshot *sn)
{
    desk_orders_reset(&r->orders);
    if (sn->generation > r->orders.generation)
        r->orders.generation = sn->generation;
    if (sn->next_venue_cl > r->next_venue_cl)
        r->next_venue_cl = sn->next_venue_cl;
    for (uint32_t c = 0; c < r->nconn; c++) {
        desk_uta_venue_state_t *v = &r->uta.venue[c];
        v->cash = v->reserved = v->realized_pnl = v->fees = v->venue_bp = 0;
    }
    for (uint32_t i = 0; i < r->ninstr; i++) {
        desk_uta_pos_state_t *p = &r->uta.pos[i];
        p->qty = p->avg_px = p->realized_pnl = p->open_buy = p->open_sell = 0;
    }
    r->ngap = 0;
    r->uta_dirty = 1;
}

/* A status a live order can have (what a day snapshot carries). */
static int carried_status(unsigned st)
{
    return st == DESK_OS_PENDING_NEW || st == DESK_OS_NEW || st == DESK_OS_PARTIALLY_FILLED ||
           st == DESK_OS_PENDING_CANCEL || st == DESK_OS_PENDING_REPLACE;
}

/* Replay: one part of a carried order (desk_jrec_carry). */
static DESK_COLD int replay_carry(desk_router_t *r, const struct desk_jrec_carry *k)
{
    desk_order_t *o;

    if (k->part == 1) {
        o = k->c < r->ninstr && k->strategy < r->nstrat && carried_status(k->status) &&
                    (k->prev_status == 0 || carried_status(k->prev_status)) &&
                    (k->side == DESK_BUY || k->side == DESK_SELL) && k->ord_type >= DESK_MARKET &&
                    k->ord_type <= DESK_STOP_LIMIT && k->tif <= DESK_FOK && k->tif != 2
                ? desk_orders_restore(&r->orders, k->order_id)
                : NULL;
        if (o == NULL)
            return DESK_ERR(-EPROTO, "journal: carried order %#llx does not replay",
                            (unsigned long long)k->order_id);
        o->cl_ord_id = k->a;
        o->venue_cl = k->b;
        o->instrument = (uint32_t)k->c;
        o->filled_once = (uint8_t)k->d;
        o->strategy = k->strategy;
        o->connector = r->instr[o->instrument].connector;
        o->side = k->side;
        o->ord_type = k->ord_type;
        o->tif = k->tif;
        o->status = k->status;
        o->prev_status = k->prev_status;
        (void)desk_orders_clid_add(&r->orders, o->strategy, o->cl_ord_id, desk_order_slot(o));
        return 0;
    }
    o = desk_orders_by_id(&r->orders, k->order_id);
    if (o == NULL)
        return DESK_ERR(-EPROTO, "journal: carried order %#llx: part %u before part 1",
                        (unsigned long long)k->order_id, (unsigned)k->part);
    if (k->part == 2) {
        int64_t qty = (int64_t)k->a, cum = (int64_t)k->d;
        if (qty <= 0 || cum < 0 || cum >= qty || (int64_t)k->b < 0 || (int64_t)k->e < 0)
            return DESK_ERR(-EPROTO, "journal: carried order %#llx: qty %lld, cum %lld do not "
                            "describe a live order",
                            (unsigned long long)k->order_id, (long long)qty, (long long)cum);
        o->qty = (int64_t)k->a;
        o->px = (int64_t)k->b;
        o->stop_px = (int64_t)k->c;
        o->cum_qty = (int64_t)k->d;
        o->leaves_qty = o->qty - o->cum_qty;
        open_qty(r, o, o->leaves_qty);
        set_reserve(r, o, (int64_t)k->e);
        r->uta_dirty = 1;
        return 0;
    }
    if (k->part == 3)
        o->cum_notional = (int64_t)k->e;
    if (k->part == 3 && (k->a || k->b)) {
        /* A request deskd made itself (cancel-all) has no ClOrdID of the
         * strategy's, only the venue's. */
        o->req_cl_ord_id = k->a;
        o->req_venue_cl = k->b;
        o->new_qty = (int64_t)k->c;
        o->new_px = (int64_t)k->d;
        if (k->a)
            (void)desk_orders_clid_add(&r->orders, o->strategy, o->req_cl_ord_id,
                                       desk_order_slot(o));
        int64_t want = 0;
        if (o->status == DESK_OS_PENDING_REPLACE && o->side == DESK_BUY && o->new_qty > o->cum_qty)
            (void)desk_fixed_mul(o->new_px, o->new_qty - o->cum_qty, &want);
        if (want > o->reserved) {
            desk_uta_reserve(&r->uta, o->connector, want - o->reserved);
            o->reserved = want;
        }
    }
    return 0;
}

/* Records a day snapshot takes in the journal. */
static uint32_t snapshot_records(const desk_router_t *r)
{
    uint32_t n = 2 + r->nconn + 3 * r->orders.live;
    for (uint32_t i = 0; i < r->ninstr; i++)
        n += r->uta.pos[i].qty != 0;
    return n;
}

static void jpush_cold(desk_router_t *r, const desk_jrec_t *rec);

DESK_COLD int desk_router_journal_names(desk_router_t *r)
{
    const desk_config_t *cfg = r->cfg;
    uint32_t n = r->nstrat + r->nconn + r->ninstr;

    if (r->journal == NULL)
        return 0;
    if (!desk_journal_room(r->journal, n))
        return -EAGAIN;
    for (uint32_t i = 0; i < n; i++) {
        desk_jrec_t rec;
        memset(&rec, 0, sizeof rec);
        rec.name.kind = DESK_JREC_NAME;
        if (i < r->nstrat) {
            rec.name.what = DESK_JNAME_STRATEGY;
            rec.name.index = i;
            memcpy(rec.name.name, cfg->strategies[i].name, DESK_NAME_MAX);
        } else if (i < r->nstrat + r->nconn) {
            uint32_t c = i - r->nstrat;
            rec.name.what = DESK_JNAME_CONNECTOR;
            rec.name.index = c;
            memcpy(rec.name.name, cfg->connectors[c].name, DESK_NAME_MAX);
        } else {
            uint32_t k = i - r->nstrat - r->nconn;
            rec.name.what = DESK_JNAME_INSTRUMENT;
            rec.name.index = k;
            rec.name.connector = r->instr[k].connector;
            memcpy(rec.name.name, r->instr[k].symbol,
                   sizeof rec.name.name < sizeof r->instr[k].symbol ? sizeof rec.name.name
                                                                     : sizeof r->instr[k].symbol);
            rec.name.name[sizeof rec.name.name - 1] = '\0';
        }
        jpush_cold(r, &rec);
    }
    return 0;
}

DESK_COLD int desk_router_new_day(desk_router_t *r, uint32_t day)
{
    desk_jrec_t rec;
    uint32_t n = snapshot_records(r) + r->nstrat + r->nconn + r->ninstr;

    if (r->journal == NULL) {
        new_day_figures(r);
        desk_orders_new_day(&r->orders);
        r->day = day;
        return 0;
    }
    if (n > desk_journal_capacity(r->journal))
        return -ENOSPC;
    if (!desk_journal_room(r->journal, n))
        return -EAGAIN;
    new_day_figures(r);
    desk_orders_new_day(&r->orders);
    memset(&rec, 0, sizeof rec);
    rec.snap.kind = DESK_JREC_SNAPSHOT;
    rec.snap.what = DESK_JSNAP_BEGIN;
    rec.snap.day = day;
    rec.snap.from_day = r->day;
    rec.snap.nlive = r->orders.live;
    rec.snap.next_venue_cl = r->next_venue_cl;
    rec.snap.generation = r->orders.generation;
    jpush_cold(r, &rec);
    (void)desk_router_journal_names(r); /* the new file names its indices too (room checked) */
    for (uint32_t c = 0; c < r->nconn; c++) {
        memset(&rec, 0, sizeof rec);
        rec.balance.kind = DESK_JREC_BALANCE;
        rec.balance.what = DESK_JBAL_CASH;
        rec.balance.source = DESK_JBAL_SNAPSHOT;
        rec.balance.connector = (uint16_t)c;
        rec.balance.cash = r->uta.venue[c].cash;
        rec.balance.venue_bp = r->uta.venue[c].venue_bp;
        jpush_cold(r, &rec);
    }
    for (uint32_t i = 0; i < r->ninstr; i++) {
        if (r->uta.pos[i].qty == 0)
            continue;
        memset(&rec, 0, sizeof rec);
        rec.balance.kind = DESK_JREC_BALANCE;
        rec.balance.what = DESK_JBAL_POSITION;
        rec.balance.source = DESK_JBAL_SNAPSHOT;
        rec.balance.connector = (uint16_t)r->uta.pos[i].venue;
        rec.balance.instrument = (uint16_t)i;
        rec.balance.qty = r->uta.pos[i].qty;
        rec.balance.avg_px = r->uta.pos[i].avg_px;
        jpush_cold(r, &rec);
    }
    for (const desk_order_t *o = desk_orders_live_first(&r->orders); o;
         o = desk_orders_live_next(&r->orders, o)) {
        struct desk_jrec_carry *k = &rec.carry;
        memset(&rec, 0, sizeof rec);
        k->kind = DESK_JREC_CARRY;
        k->part = 1;
        k->order_id = o->order_id;
        k->side = o->side;
        k->ord_type = o->ord_type;
        k->tif = o->tif;
        k->status = o->status;
        k->prev_status = o->prev_status;
        k->strategy = (uint8_t)o->strategy;
        k->a = o->cl_ord_id;
        k->b = o->venue_cl;
        k->c = o->instrument;
        k->d = o->filled_once;
        jpush_cold(r, &rec);
        memset(&rec, 0, sizeof rec);
        k->kind = DESK_JREC_CARRY;
        k->part = 2;
        k->order_id = o->order_id;
        k->a = (uint64_t)o->qty;
        k->b = (uint64_t)o->px;
        k->c = (uint64_t)o->stop_px;
        k->d = (uint64_t)o->cum_qty;
        k->e = (uint64_t)o->reserve_px;
        jpush_cold(r, &rec);
        memset(&rec, 0, sizeof rec);
        k->kind = DESK_JREC_CARRY;
        k->part = 3;
        k->order_id = o->order_id;
        k->a = o->req_cl_ord_id;
        k->b = o->req_venue_cl;
        k->c = (uint64_t)o->new_qty;
        k->d = (uint64_t)o->new_px;
        k->e = (uint64_t)o->cum_notional;
        jpush_cold(r, &rec);
    }
    memset(&rec, 0, sizeof rec);
    rec.snap.kind = DESK_JREC_SNAPSHOT;
    rec.snap.what = DESK_JSNAP_END;
    rec.snap.day = day;
    rec.snap.from_day = r->day;
    rec.snap.nlive = r->orders.live;
    jpush_cold(r, &rec);
    r->day = day;
    return 0;
}

DESK_COLD int desk_router_replay(desk_router_t *r, const desk_jrec_t *rec)
{
    desk_order_t *o;

    switch (rec->head.kind) {
    case DESK_JREC_CMD: {
        const struct desk_jrec_cmd *c = &rec->cmd;
        if (c->venue_cl >= r->next_venue_cl)
            r->next_venue_cl = c->venue_cl + 1; /* never reuse a venue ClOrdID */
        if (c->type == DESK_CMD_NEW) {
            o = c->instrument < r->ninstr && c->strategy < r->nstrat && c->qty > 0 && c->px >= 0
                    ? desk_orders_restore(&r->orders, c->order_id)
                    : NULL;
            if (o == NULL)
                return DESK_ERR(-EPROTO, "journal: order %#llx does not replay (its slot is "
                                "taken by a live order, or its instrument, strategy or "
                                "quantity is not one deskd could have sent)",
                                (unsigned long long)c->order_id);
            (void)desk_orders_clid_add(&r->orders, c->strategy, c->cl_ord_id, desk_order_slot(o));
            o->cl_ord_id = c->cl_ord_id;
            o->instrument = c->instrument;
            o->strategy = c->strategy;
            o->connector = r->instr[c->instrument].connector;
            o->side = c->side;
            o->ord_type = c->ord_type;
            o->tif = c->tif;
            o->qty = c->qty;
            o->px = c->px;
            o->stop_px = c->ord_type == DESK_MARKET ? 0 : c->stop_px;
            o->leaves_qty = c->qty;
            o->venue_cl = c->venue_cl;
            open_qty(r, o, o->leaves_qty);
            /* The guard's reservation price: the limit, the stop of a STOP
             * (the touch if it was already through: not journaled, so the
             * stop), a MARKET's touch (journaled in stop_px). */
            int64_t rpx = c->ord_type == DESK_MARKET ? c->stop_px
                          : c->ord_type == DESK_STOP ? c->stop_px
                                                     : c->px;
            set_reserve(r, o, o->side == DESK_BUY && rpx > 0 ? rpx : 0);
            r->uta_dirty = 1;
            return 0;
        }
        o = desk_orders_by_id(&r->orders, c->order_id);
        if (o == NULL || desk_ord_terminal(o->status))
            return DESK_ERR(-EPROTO, "journal: %s of unknown order %#llx",
                            c->type == DESK_CMD_CANCEL ? "cancel" : "replace",
                            (unsigned long long)c->order_id);
        if (c->cl_ord_id)
            (void)desk_orders_clid_add(&r->orders, o->strategy, c->cl_ord_id, desk_order_slot(o));
        desk_order_pending(o, c->type == DESK_CMD_CANCEL ? DESK_OS_PENDING_CANCEL
                                                         : DESK_OS_PENDING_REPLACE);
        o->req_cl_ord_id = c->cl_ord_id;
        o->req_venue_cl = c->venue_cl;
        if (c->type == DESK_CMD_REPLACE) {
            o->new_qty = c->qty;
            o->new_px = c->px;
            int64_t want = 0;
            if (o->side == DESK_BUY && c->qty > o->cum_qty)
                (void)desk_fixed_mul(c->px, c->qty - o->cum_qty, &want);
            if (want > o->reserved) {
                desk_uta_reserve(&r->uta, o->connector, want - o->reserved);
                o->reserved = want;
            }
        }
        return 0;
    }
    case DESK_JREC_REJECT: {
        const struct desk_jrec_reject *j = &rec->reject;
        o = j->order_id ? desk_orders_by_id(&r->orders, j->order_id) : NULL;
        if (j->cl_ord_id)
            (void)desk_orders_clid_add(&r->orders, j->strategy, j->cl_ord_id,
                                       o ? desk_order_slot(o) : UINT32_MAX);
        return 0;
    }
    case DESK_JREC_EVENT: {
        const struct desk_jrec_event *e = &rec->event;
        desk_vevent_t v = {0};
        v.type = e->type;
        v.flags = e->flags;
        v.reason = e->reason;
        v.instrument = e->instrument;
        v.order_id = e->order_id;
        v.exec_id = e->exec_id;
        v.last_px = e->last_px;
        v.last_qty = e->last_qty;
        v.fee = e->fee;
        v.cum_qty = e->cum_qty;
        apply_vevent(r, &v, 0); /* replaying: nothing is emitted */
        return 0;
    }
    case DESK_JREC_BALANCE:
        if (rec->balance.what == DESK_JBAL_CASH && rec->balance.connector < r->nconn) {
            r->uta.venue[rec->balance.connector].cash = rec->balance.cash;
            r->uta.venue[rec->balance.connector].venue_bp = rec->balance.venue_bp;
        } else if (rec->balance.what == DESK_JBAL_POSITION && rec->balance.instrument < r->ninstr) {
            r->uta.pos[rec->balance.instrument].qty = rec->balance.qty;
            r->uta.pos[rec->balance.instrument].avg_px = rec->balance.avg_px;
        }
        r->uta_dirty = 1;
        return 0;
    case DESK_JREC_SNAPSHOT:
        if (rec->snap.what == DESK_JSNAP_BEGIN)
            replay_snapshot_begin(r, &rec->snap);
        return 0;
    case DESK_JREC_CARRY:
        return replay_carry(r, &rec->carry);
    default:
        return 0; /* FILE, SESSION, NAME, BREAK: descriptive */
    }
}

DESK_COLD void desk_router_replay_done(desk_router_t *r)
{
    desk_orders_rebuild_free(&r->orders);
}

/* What one pass over a journal file finds (desk_router_scan_file). */
struct scan_file {
    desk_replay_info_t *info;
    uint64_t open_off;   /* offset of a BEGIN not yet ended, UINT64_MAX if none */
    uint32_t open_live;  /* its nlive */
    uint32_t carries;    /* CARRY records since it */
    int bad;             /* a snapshot whose END does not match its BEGIN */
};

static int scan_file_cb(const desk_jrec_t *rec, uint64_t off, void *ctx)
{
    struct scan_file *f = ctx;
    desk_replay_info_t *in = f->info;

    if (rec->head.kind == DESK_JREC_FILE)
        return 0;
    if (in->records++ == 0)
        in->first_kind = rec->head.kind;
    if (rec->head.kind == DESK_JREC_CARRY)
        f->carries++;
    if (rec->head.kind != DESK_JREC_SNAPSHOT)
        return 0;
    if (rec->snap.what == DESK_JSNAP_BEGIN) {
        f->open_off = off;
        f->open_live = rec->snap.nlive;
        f->carries = 0;
    } else if (rec->snap.what == DESK_JSNAP_END && f->open_off != UINT64_MAX) {
        if (rec->snap.nlive != f->open_live || f->carries != 3 * f->open_live)
            f->bad = 1;
        in->from = f->open_off; /* the latest complete snapshot */
        in->snapshot = 1;
        f->open_off = UINT64_MAX;
    }
    return 0;
}

DESK_COLD int desk_router_scan_file(const char *path, desk_replay_info_t *info)
{
    struct scan_file f = {.info = info, .open_off = UINT64_MAX};

    memset(info, 0, sizeof *info);
    info->until = UINT64_MAX;
    int rc = desk_journal_replay(path, scan_file_cb, &f);
    if (rc < 0)
        return rc;
    if (f.bad)
        return DESK_ERR(-EPROTO, "journal %s: a day snapshot's END does not match its BEGIN "
                        "(live orders or CARRY records)", path);
    if (f.open_off != UINT64_MAX) {
        /* A snapshot cut short by a crash: it ends the file, and is ignored
         * (the state it was carrying is still in the records before it and
         * in the files before this one). */
        info->until = f.open_off;
        info->torn_snapshot = 1;
    }
    return rc;
}

struct replay_file {
    desk_router_t *r;
    desk_replay_info_t *info;
};

static int replay_file_cb(const desk_jrec_t *rec, uint64_t off, void *ctx)
{
    struct replay_file *f = ctx;
    if (off < f->info->from || off >= f->info->until || rec->head.kind == DESK_JREC_FILE)
        return 0; /* before the snapshot (already in it), or a snapshot cut short */
    f->info->applied++;
    return desk_router_replay(f->r, rec);
}

DESK_COLD int desk_router_replay_file(desk_router_t *r, const char *path, desk_replay_info_t *info)
{
    desk_replay_info_t local;
    desk_replay_info_t *in = info ? info : &local;
    int rc = desk_router_scan_file(path, in);

    if (rc < 0)
        return rc;
    struct replay_file f = {.r = r, .info = in};
    return desk_journal_replay(path, replay_file_cb, &f);
}

DESK_COLD int desk_router_recover(desk_router_t *r, const char *dir, const char *desk,
                                  uint32_t today, desk_recovery_t *out)
{
    uint32_t chain[DESK_JOURNAL_CHAIN_MAX], n = 0;
    desk_replay_info_t info;
    char path[DESK_PATH_MAX + DESK_NAME_MAX + 32];
    int rc;

    memset(out, 0, sizeof *out);
    if (desk_journal_path(path, sizeof path, dir, desk, today) < 0)
        return -ENAMETOOLONG;
    rc = desk_router_scan_file(path, &info);
    if (rc == -ENOENT)
        memset(&info, 0, sizeof info);
    else if (rc < 0)
        return DESK_ERR(rc, "%s: %s", path, desk_errmsg());
    chain[n++] = today;
    for (uint32_t before = today; !desk_replay_self_contained(&info);) {
        uint32_t prev = 0;
        if ((rc = desk_journal_prev_day(dir, desk, before, &prev)) < 0)
            return rc;
        if (rc == 0)
            break; /* no earlier day: this is where the desk began */
        before = prev;
        if (desk_journal_path(path, sizeof path, dir, desk, prev) < 0)
            return -ENAMETOOLONG;
        if ((rc = desk_router_scan_file(path, &info)) == -EBADMSG)
            return DESK_ERR(rc, "%s is corrupt: refusing to start (an operator must look at "
                            "the file)", path);
        if (rc < 0)
            return DESK_ERR(rc, "%s: %s", path, desk_errmsg());
        if (info.records == 0)
            continue; /* a file deskd opened and never wrote to */
        if (n == DESK_JOURNAL_CHAIN_MAX)
            return DESK_ERR(-E2BIG, "more than %u days without a day snapshot before %08u: "
                            "refusing to guess", DESK_JOURNAL_CHAIN_MAX, prev);
        chain[n++] = prev;
    }
    for (uint32_t k = n; k-- > 0;) {
        if (desk_journal_path(path, sizeof path, dir, desk, chain[k]) < 0)
            return -ENAMETOOLONG;
        rc = desk_router_replay_file(r, path, &info);
        if (rc == -ENOENT && k == 0)
            continue; /* today's file is not there yet (tests) */
        if (rc < 0)
            return DESK_ERR(rc, "replay of %s: %s", path, desk_errmsg());
        out->applied += info.applied;
        out->torn_snapshots += info.torn_snapshot;
    }
    out->files = n;
    out->from_day = chain[n - 1];
    out->carry_day = n > 1 ? chain[1] : 0;
    return 0;
}

DESK_COLD int desk_router_recover_send(desk_router_t *r, uint32_t c)
{
    int n = 0;

    for (const desk_order_t *o = desk_orders_live_first(&r->orders); o;
         o = desk_orders_live_next(&r->orders, o)) {
        if (o->connector != c)
            continue;
        desk_vcmd_t *v = desk_spsc_claim(&r->conn[c].cmd);
        if (v == NULL)
            return DESK_ERR(-EBUSY, "connector %u: command ring full of recovered orders", c);
        memset(v, 0, sizeof *v);
        v->type = DESK_CMD_RECOVER;
        v->side = o->side;
        v->ord_type = o->ord_type;
        v->tif = o->tif;
        v->instrument = o->instrument;
        v->order_id = o->order_id;
        v->cl_ord_id = o->venue_cl;
        v->orig_cl_ord_id = o->req_venue_cl;
        v->qty = o->qty;
        v->px = o->px;
        v->stop_px = o->stop_px;
        v->route_ns = desk_now_ns();
        desk_spsc_commit(&r->conn[c].cmd, 1);
        n++;
    }
    for (uint32_t k = 0; k < 64 && k < r->ngap; k++) {
        const desk_order_t *o = desk_orders_by_id(&r->orders, r->gap_id[k]);
        if (o == NULL || o->connector != c || !desk_ord_terminal(o->status) ||
            o->cum_qty >= r->gap_cum[k])
            continue; /* gone, live (sent above), or caught up since */
        desk_vcmd_t *v = desk_spsc_claim(&r->conn[c].cmd);
        if (v == NULL)
            return DESK_ERR(-EBUSY, "connector %u: command ring full of recovered orders", c);
        memset(v, 0, sizeof *v);
        v->type = DESK_CMD_RECOVER;
        v->side = o->side;
        v->ord_type = o->ord_type;
        v->tif = o->tif;
        v->instrument = o->instrument;
        v->order_id = o->order_id;
        v->cl_ord_id = o->venue_cl;
        v->qty = o->qty;
        v->px = o->px;
        v->route_ns = desk_now_ns();
        desk_spsc_commit(&r->conn[c].cmd, 1);
        n++;
    }
    return n;
}

DESK_COLD int desk_router_expire_conn(desk_router_t *r, uint32_t c)
{
    int n = 0;
    desk_order_t *o = desk_orders_live_first(&r->orders);

    while (o) {
        desk_order_t *next = desk_orders_live_next(&r->orders, o);
        if (r->journal && !desk_journal_room(r->journal, 1))
            return n; /* the caller drains the journal and calls again */
        if (o->connector == c) {
            desk_vevent_t v = {0};
            v.type = DESK_EV_EXPIRED;
            v.instrument = o->instrument;
            v.order_id = o->order_id;
            v.cum_qty = o->cum_qty;
            v.venue_ns = desk_now_ns();
            apply_vevent(r, &v, v.venue_ns);
            n++;
        }
        o = next;
    }
    return n;
}

DESK_COLD uint32_t desk_router_inflight(desk_router_t *r)
{
    uint32_t n = 0;

    for (const desk_order_t *o = desk_orders_live_first(&r->orders); o;
         o = desk_orders_live_next(&r->orders, o))
        n += o->status == DESK_OS_PENDING_NEW || o->status == DESK_OS_PENDING_CANCEL ||
             o->status == DESK_OS_PENDING_REPLACE;
    return n;
}

void desk_idle_wait(uint32_t idle, uint64_t max_ns, uint32_t turns)
{
    if (idle == DESK_IDLE_SPIN || turns < 64) {
        desk_cpu_relax();
        return;
    }
    if (idle == DESK_IDLE_YIELD || turns < 128) {
        sched_yield();
        return;
    }
    /* Backoff: sleep 1 us, doubling per idle turn, up to max_ns. */
    uint32_t k = turns - 128 < 20 ? turns - 128 : 20;
    uint64_t ns = 1000ull << k;
    struct timespec ts = {0, (long)(ns < max_ns ? ns : max_ns)};
    nanosleep(&ts, NULL);
}

void desk_idle_prepare(uint32_t idle)
{
    /* Backoff sleeps are short: a 1 us timer slack (default 50 us) keeps a
     * sleeping thread's wake-up close to what it asked for. */
    if (idle == DESK_IDLE_BACKOFF)
        (void)prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
}

int desk_router_run(desk_router_t *r)
{
    desk_idle_prepare(r->idle);
    /* Acquire pairs with the release in desk_router_stop(). */
    while (!atomic_load_explicit(&r->stop, memory_order_acquire)) {
        uint64_t now = desk_now_ns();
        if (desk_router_poll(r, now)) {
            r->idle_turns = 0;
        } else {
            desk_idle_wait(r->idle, r->idle_max_ns, r->idle_turns);
            if (r->idle_turns < UINT32_MAX)
                r->idle_turns++;
        }
    }
    desk_router_publish(r, desk_now_ns());
    return 0;
}
