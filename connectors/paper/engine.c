/*
 * engine.c - the paper venue's matching engine; the rules are in engine.h.
 *
 * Data structures, all allocated at create:
 *  - a pool of max_orders order slots with a free list;
 *  - the open orders in one intrusive doubly linked list in priority order
 *    (accepted or last replaced first), walked once per md event, so the
 *    per-event cost is O(open orders) with no allocation;
 *  - two open-addressing hash tables (linear probing, backward-shift delete,
 *    load <= 1/2) from order_id and from the current cl_ord_id to the slot.
 *
 * Money: every amount is int64 at 1e-8.  Notional is desk_fixed_mul (toward
 * zero); fees are desk_fixed_muldiv(notional, bps_fixed, 10000 * 1e8), also
 * toward zero.  Orders whose notional could overflow are rejected at NEW, so
 * these calls cannot fail on accepted orders.
 */
#include "connectors/paper/engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/fixed.h"

#define NIL UINT32_MAX                        /* no slot */
#define BPS_DIV (INT64_C(10000) * DESK_SCALE) /* fixed-point bps -> fraction */
#define NS_PER_DAY INT64_C(86400000000000)    /* one UTC day */
#define MAX_QTY (INT64_C(1) << 60)            /* larger orders are refused */
#define MAX_NOTIONAL (INT64_MAX / 4)          /* keeps cash sums in range */

enum { ST_WAITING = 1, ST_WORKING = 2 }; /* untriggered stop / matching */

/* One order slot. */
struct po {
    uint64_t order_id;  /* key of by_id */
    uint64_t cl_ord_id; /* current ClOrdID, key of by_cl (0: not mapped) */
    int64_t qty;        /* order quantity (after replaces) */
    int64_t cum;        /* filled so far */
    int64_t px;         /* limit price (LIMIT, STOP_LIMIT), else 0 */
    int64_t stop_px;    /* stop trigger (STOP, STOP_LIMIT), else 0 */
    int64_t ref_px;     /* buys: the price the reservation is computed at */
    int64_t reserved;   /* buys: cash reserved for qty - cum */
    uint8_t side;       /* desk_side_t */
    uint8_t ord_type;   /* desk_ord_type_t as placed */
    uint8_t tif;        /* desk_tif_t */
    uint8_t state;      /* ST_WAITING or ST_WORKING */
    uint8_t eff;        /* DESK_MARKET or DESK_LIMIT: how it matches once working */
    uint8_t live;       /* 1 while open */
    uint32_t prev;      /* open list: previous slot, or NIL */
    uint32_t next;      /* open list: next slot, or NIL; free list link when free */
};

struct desk_paper_engine {
    desk_paper_engine_cfg_t cfg; /* copy of the configuration */
    struct po *pool;             /* owned: cfg.max_orders slots */
    uint32_t free_head;          /* first free slot, or NIL */
    uint32_t nopen;              /* open orders */
    uint32_t head, tail;         /* open list, priority order */
    uint32_t *by_id;             /* owned: hash order_id -> slot + 1 (0 empty) */
    uint32_t *by_cl;             /* owned: hash cl_ord_id -> slot + 1 (0 empty) */
    uint32_t mask;               /* table size - 1 */
    int have_quote;              /* a QUOTE has been seen */
    int have_md;                 /* any md event has been seen */
    desk_quote_t q;              /* current quote and last trade */
    uint64_t quote_idx;          /* md index of the current quote */
    int64_t avail_bid;           /* size the current quote still offers to sells */
    int64_t avail_ask;           /* size the current quote still offers to buys */
    int have_day;                /* day is set */
    int64_t day;                 /* UTC day number of the md clock */
    int64_t cash;                /* cash, money 1e-8 */
    int64_t reserved;            /* cash reserved by open buys */
    int64_t pos;                 /* position, 1e-8 */
    int64_t avg_px;              /* average entry price of the position */
    int64_t open_sells;          /* leaves of open sells */
    int64_t res_bps;             /* fee bps used in reservations: max(fee, maker, 0) */
    uint64_t exec_id;            /* last exec_id issued */
};

/* ---------------------------------------------------------------------- */
/* Hash tables                                                             */
/* ---------------------------------------------------------------------- */

static inline uint32_t hash64(uint64_t k, uint32_t mask)
{
    /* splitmix64's finalizer: ids are sequential, spread them. */
    k ^= k >> 30;
    k *= UINT64_C(0xbf58476d1ce4e5b9);
    k ^= k >> 27;
    k *= UINT64_C(0x94d049bb133111eb);
    k ^= k >> 31;
    return (uint32_t)k & mask;
}

static inline uint64_t key_of(const struct desk_paper_engine *e, int cl, uint32_t slot)
{
    return cl ? e->pool[slot].cl_ord_id : e->pool[slot].order_id;
}

static uint32_t tab_find(const struct desk_paper_engine *e, int cl, uint64_t key)
{
    const uint32_t *tab = cl ? e->by_cl : e->by_id;
    uint32_t i = hash64(key, e->mask);

    while (tab[i] != 0) {
        if (key_of(e, cl, tab[i] - 1) == key)
            return tab[i] - 1;
        i = (i + 1) & e->mask;
    }
    return NIL;
}

static void tab_insert(struct desk_paper_engine *e, int cl, uint32_t slot)
{
    uint32_t *tab = cl ? e->by_cl : e->by_id;
    uint32_t i = hash64(key_of(e, cl, slot), e->mask);

    while (tab[i] != 0)
        i = (i + 1) & e->mask;
    tab[i] = slot + 1;
}

/* Remove slot's current key (backward-shift deletion keeps probes short). */
static void tab_remove(struct desk_paper_engine *e, int cl, uint32_t slot)
{
    uint32_t *tab = cl ? e->by_cl : e->by_id;
    uint32_t i = hash64(key_of(e, cl, slot), e->mask);

    while (tab[i] != slot + 1) {
        if (tab[i] == 0)
            return; /* not present */
        i = (i + 1) & e->mask;
    }
    tab[i] = 0;
    for (uint32_t j = (i + 1) & e->mask; tab[j] != 0; j = (j + 1) & e->mask) {
        uint32_t k = hash64(key_of(e, cl, tab[j] - 1), e->mask);
        /* Move tab[j] into the hole unless its home k lies cyclically in (i, j]. */
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            tab[i] = tab[j];
            tab[j] = 0;
            i = j;
        }
    }
}

/* ---------------------------------------------------------------------- */
/* Orders, events, money                                                   */
/* ---------------------------------------------------------------------- */

static void list_append(struct desk_paper_engine *e, uint32_t s)
{
    struct po *o = &e->pool[s];

    o->prev = e->tail;
    o->next = NIL;
    if (e->tail != NIL)
        e->pool[e->tail].next = s;
    else
        e->head = s;
    e->tail = s;
}

static void list_unlink(struct desk_paper_engine *e, uint32_t s)
{
    struct po *o = &e->pool[s];

    if (o->prev != NIL)
        e->pool[o->prev].next = o->next;
    else
        e->head = o->next;
    if (o->next != NIL)
        e->pool[o->next].prev = o->prev;
    else
        e->tail = o->prev;
}

/* Emit one event about order_id (o may be NULL for a REJECT of a NEW). */
static void emit(struct desk_paper_engine *e, uint8_t type, uint64_t order_id, uint16_t reason,
                 const struct po *o, int64_t px, int64_t qty, int64_t fee, uint8_t flags,
                 const desk_paper_fill_info_t *info)
{
    desk_vevent_t ev;

    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.flags = flags;
    ev.reason = reason;
    ev.instrument = e->cfg.instrument;
    ev.order_id = order_id;
    ev.exec_id = ++e->exec_id;
    ev.last_px = px;
    ev.last_qty = qty;
    ev.fee = fee;
    ev.cum_qty = o != NULL ? o->cum : 0;
    e->cfg.emit(&ev, info, e->cfg.ctx);
}

/* Close slot s: tables, list, reservations, free list. */
static void finish(struct desk_paper_engine *e, uint32_t s)
{
    struct po *o = &e->pool[s];

    tab_remove(e, 0, s);
    if (o->cl_ord_id != 0)
        tab_remove(e, 1, s);
    list_unlink(e, s);
    e->reserved -= o->reserved;
    if (o->side == DESK_SELL)
        e->open_sells -= o->qty - o->cum;
    o->reserved = 0;
    o->live = 0;
    o->next = e->free_head;
    e->free_head = s;
    e->nopen--;
}

/* Emit CANCELED or EXPIRED for slot s and close it. */
static void close_order(struct desk_paper_engine *e, uint32_t s, uint8_t type)
{
    emit(e, type, e->pool[s].order_id, 0, &e->pool[s], 0, 0, 0, 0, NULL);
    finish(e, s);
}

/* Cash a buy of qty at px costs with fee rate bps, or INT64_MAX on overflow. */
static int64_t cost(int64_t px, int64_t qty, int64_t bps)
{
    int64_t n, f;

    if (desk_fixed_mul(px, qty, &n) != 0 || desk_fixed_muldiv(n, bps, BPS_DIV, &f) != 0 ||
        n > INT64_MAX - (f > 0 ? f : 0))
        return INT64_MAX;
    return n + f;
}

/* The largest qty <= want that order o's free cash pays for at px. */
static int64_t affordable(const struct desk_paper_engine *e, const struct po *o, int64_t px,
                          int64_t want, int64_t bps)
{
    int64_t free_cash = e->cash - (e->reserved - o->reserved);

    if (cost(px, want, bps) <= free_cash)
        return want;
    if (free_cash <= 0)
        return 0;
    /* qty for the notional alone, then shrunk for the fee: both floors keep
     * the cost within free_cash (see the module comment for rounding). */
    __int128 q = (__int128)free_cash * DESK_SCALE / px;
    q = q * BPS_DIV / (BPS_DIV + (bps > 0 ? bps : 0));
    int64_t r = q < want ? (int64_t)q : want;
    for (int k = 0; r > 0 && k < 4 && cost(px, r, bps) > free_cash; k++)
        r--;
    return cost(px, r, bps) <= free_cash ? r : 0;
}

/* Apply a signed quantity change at px to the position and its average price. */
static void pos_apply(struct desk_paper_engine *e, int64_t dq, int64_t px)
{
    int64_t p = e->pos, np = p + dq;

    if (p == 0 || (p > 0) == (dq > 0)) {
        __int128 num = (__int128)e->avg_px * (p < 0 ? -p : p) + (__int128)px * (dq < 0 ? -dq : dq);
        e->avg_px = (int64_t)(num / (np < 0 ? -np : np));
    } else if (np == 0) {
        e->avg_px = 0;
    } else if ((np > 0) != (p > 0)) {
        e->avg_px = px; /* crossed through flat: the new position opened at px */
    }
    e->pos = np;
}

/* Fill qty of slot s at px; closes the order when it is done. */
static void fill(struct desk_paper_engine *e, uint32_t s, int64_t px, int64_t qty, int maker,
                 uint64_t md_idx)
{
    struct po *o = &e->pool[s];
    int64_t notional = 0, fee = 0;
    desk_paper_fill_info_t info = {.md_index = md_idx, .maker = (uint8_t)(maker ? 1 : 0)};

    (void)desk_fixed_mul(px, qty, &notional); /* bounded at NEW: cannot fail */
    (void)desk_fixed_muldiv(notional, maker ? e->cfg.maker_fee_bps : e->cfg.fee_bps, BPS_DIV, &fee);
    o->cum += qty;
    if (o->side == DESK_BUY) {
        e->cash -= notional + fee;
        pos_apply(e, qty, px);
        int64_t res = cost(o->ref_px, o->qty - o->cum, e->res_bps);
        e->reserved += res - o->reserved;
        o->reserved = res;
    } else {
        e->cash += notional - fee;
        pos_apply(e, -qty, px);
        e->open_sells -= qty;
    }
    emit(e, DESK_EV_FILL, o->order_id, 0, o, px, qty, fee, maker ? DESK_VEV_MAKER : 0, &info);
    if (o->cum == o->qty)
        finish(e, s);
}

/* The opposite touch for slot s and the availability it draws on. */
static int64_t touch(struct desk_paper_engine *e, const struct po *o, int64_t **avail)
{
    if (o->side == DESK_BUY) {
        *avail = &e->avail_ask;
        return e->q.ask_px;
    }
    *avail = &e->avail_bid;
    return e->q.bid_px;
}

/* Taker: take at the current quote's touch, within `limit` (0: market). */
static void take(struct desk_paper_engine *e, uint32_t s, int64_t limit)
{
    struct po *o = &e->pool[s];
    int64_t *avail;
    int64_t px = touch(e, o, &avail);

    if (!e->have_quote || px <= 0)
        return;
    if (limit > 0 && (o->side == DESK_BUY ? px > limit : px < limit))
        return;
    int64_t q = o->qty - o->cum < *avail ? o->qty - o->cum : *avail;
    if (q <= 0)
        return;
    int64_t paid = o->side == DESK_BUY ? affordable(e, o, px, q, e->cfg.fee_bps) : q;
    if (paid > 0) {
        *avail -= paid;
        fill(e, s, px, paid, 0, e->quote_idx);
    }
    if (paid < q && o->live)
        close_order(e, s, DESK_EV_CANCELED); /* the price outran its funding */
}

/* Maker: slot s fills at its limit from *avail (an md event's size). */
static void make(struct desk_paper_engine *e, uint32_t s, int64_t *avail, uint64_t idx)
{
    struct po *o = &e->pool[s];
    int64_t q = o->qty - o->cum < *avail ? o->qty - o->cum : *avail;

    if (q <= 0)
        return;
    int64_t paid = o->side == DESK_BUY ? affordable(e, o, o->px, q, e->cfg.maker_fee_bps) : q;
    if (paid > 0) {
        *avail -= paid;
        fill(e, s, o->px, paid, 1, idx);
    }
    if (paid < q && o->live)
        close_order(e, s, DESK_EV_CANCELED);
}

/* FOK test: the whole rest is available at the touch, within limit, funded. */
static int fok_ok(struct desk_paper_engine *e, const struct po *o, int64_t limit)
{
    int64_t *avail;
    int64_t px = touch(e, o, &avail);
    int64_t want = o->qty - o->cum;

    if (!e->have_quote || px <= 0 || *avail < want)
        return 0;
    if (limit > 0 && (o->side == DESK_BUY ? px > limit : px < limit))
        return 0;
    return o->side != DESK_BUY || affordable(e, o, px, want, e->cfg.fee_bps) == want;
}

/* A working order arrives (NEW, or a stop just triggered): take, then TIF. */
static void arrive(struct desk_paper_engine *e, uint32_t s)
{
    struct po *o = &e->pool[s];
    int64_t limit = o->eff == DESK_LIMIT ? o->px : 0;

    if (o->tif == DESK_FOK && !fok_ok(e, o, limit)) {
        close_order(e, s, DESK_EV_EXPIRED);
        return;
    }
    take(e, s, limit);
    if (!o->live)
        return;
    if (o->tif == DESK_IOC || o->tif == DESK_FOK)
        close_order(e, s, DESK_EV_CANCELED);
}

/* Expire every open DAY order; returns how many. */
static int expire_day(struct desk_paper_engine *e)
{
    int n = 0;

    for (uint32_t s = e->head, next; s != NIL; s = next) {
        next = e->pool[s].next;
        if (e->pool[s].tif == DESK_DAY) {
            close_order(e, s, DESK_EV_EXPIRED);
            n++;
        }
    }
    return n;
}

/* ---------------------------------------------------------------------- */
/* Commands                                                                */
/* ---------------------------------------------------------------------- */

/* The order a CANCEL/REPLACE names, or NIL. */
static uint32_t lookup(const struct desk_paper_engine *e, const desk_vcmd_t *cmd)
{
    if (cmd->order_id != 0)
        return tab_find(e, 0, cmd->order_id);
    if (cmd->orig_cl_ord_id != 0)
        return tab_find(e, 1, cmd->orig_cl_ord_id);
    return NIL;
}

static int is_limit_type(uint8_t t)
{
    return t == DESK_LIMIT || t == DESK_STOP_LIMIT;
}

static int is_stop_type(uint8_t t)
{
    return t == DESK_STOP || t == DESK_STOP_LIMIT;
}

/* Reference price of a buy (see engine.h, Account). */
static int64_t buy_ref_px(const struct desk_paper_engine *e, uint8_t type, int64_t px,
                          int64_t stop_px)
{
    int64_t ask = e->have_quote ? e->q.ask_px : 0;

    switch (type) {
    case DESK_LIMIT:
    case DESK_STOP_LIMIT:
        return px;
    case DESK_MARKET:
        return ask;
    default:
        return ask > stop_px ? ask : stop_px;
    }
}

static void on_new(struct desk_paper_engine *e, const desk_vcmd_t *cmd)
{
    uint16_t why = DESK_REJ_NONE;
    int64_t ref = 0, res = 0;
    uint8_t t = cmd->ord_type;

    if (cmd->instrument != e->cfg.instrument || (cmd->side != DESK_BUY && cmd->side != DESK_SELL) ||
        t < DESK_MARKET || t > DESK_STOP_LIMIT ||
        (cmd->tif != DESK_DAY && cmd->tif != DESK_GTC && cmd->tif != DESK_IOC &&
         cmd->tif != DESK_FOK) ||
        cmd->qty <= 0 || cmd->qty > MAX_QTY || cmd->order_id == 0 ||
        tab_find(e, 0, cmd->order_id) != NIL ||
        (cmd->cl_ord_id != 0 && tab_find(e, 1, cmd->cl_ord_id) != NIL) ||
        (is_limit_type(t) && cmd->px <= 0) || (is_stop_type(t) && cmd->stop_px <= 0) ||
        e->free_head == NIL) {
        why = DESK_REJ_VENUE;
    } else if (t == DESK_MARKET &&
               (!e->have_quote || (cmd->side == DESK_BUY ? e->q.ask_px : e->q.bid_px) <= 0)) {
        why = DESK_REJ_VENUE; /* nothing to take from */
    } else {
        if (cmd->side == DESK_BUY)
            ref = buy_ref_px(e, t, cmd->px, cmd->stop_px);
        else
            ref = is_limit_type(t) ? cmd->px : t == DESK_MARKET ? e->q.bid_px : cmd->stop_px;
        int64_t notional;
        if (desk_fixed_mul(ref, cmd->qty, &notional) != 0 || notional > MAX_NOTIONAL)
            why = DESK_REJ_VENUE;
        else if (cmd->side == DESK_BUY) {
            res = cost(ref, cmd->qty, e->res_bps);
            if (res > e->cash - e->reserved)
                why = DESK_REJ_VENUE_CASH;
        } else if (!e->cfg.allow_short && cmd->qty > e->pos - e->open_sells) {
            why = DESK_REJ_VENUE_CASH;
        }
    }
    if (why != DESK_REJ_NONE) {
        emit(e, DESK_EV_REJECT, cmd->order_id, why, NULL, 0, 0, 0, 0, NULL);
        return;
    }

    uint32_t s = e->free_head;
    struct po *o = &e->pool[s];
    e->free_head = o->next;
    memset(o, 0, sizeof *o);
    o->order_id = cmd->order_id;
    o->cl_ord_id = cmd->cl_ord_id;
    o->qty = cmd->qty;
    o->px = is_limit_type(t) ? cmd->px : 0;
    o->stop_px = is_stop_type(t) ? cmd->stop_px : 0;
    o->side = cmd->side;
    o->ord_type = t;
    o->tif = cmd->tif;
    o->state = is_stop_type(t) ? ST_WAITING : ST_WORKING;
    o->eff = is_limit_type(t) ? DESK_LIMIT : DESK_MARKET;
    o->live = 1;
    if (o->side == DESK_BUY) {
        o->ref_px = ref;
        o->reserved = res;
        e->reserved += res;
    } else {
        e->open_sells += o->qty;
    }
    tab_insert(e, 0, s);
    if (o->cl_ord_id != 0)
        tab_insert(e, 1, s);
    list_append(e, s);
    e->nopen++;
    emit(e, DESK_EV_ACK, o->order_id, 0, o, 0, 0, 0, 0, NULL);
    if (o->state == ST_WORKING)
        arrive(e, s);
}

static void on_cancel(struct desk_paper_engine *e, const desk_vcmd_t *cmd)
{
    uint32_t s = lookup(e, cmd);

    if (s == NIL) {
        emit(e, DESK_EV_CANCEL_REJECT, cmd->order_id, DESK_REJ_UNKNOWN_ORDER, NULL, 0, 0, 0, 0,
             NULL);
        return;
    }
    close_order(e, s, DESK_EV_CANCELED);
}

static void on_replace(struct desk_paper_engine *e, const desk_vcmd_t *cmd)
{
    uint32_t s = lookup(e, cmd);
    uint16_t why = DESK_REJ_NONE;

    if (s == NIL) {
        emit(e, DESK_EV_CANCEL_REJECT, cmd->order_id, DESK_REJ_UNKNOWN_ORDER, NULL, 0, 0, 0, 0,
             NULL);
        return;
    }
    struct po *o = &e->pool[s];
    int64_t nq = cmd->qty;
    int64_t npx = is_limit_type(o->ord_type) ? cmd->px : 0;
    int64_t nstop = o->stop_px;
    int64_t nref = o->ref_px, nres = o->reserved;

    if (o->state == ST_WAITING)
        nstop = cmd->stop_px;
    if (nq <= o->cum || nq > MAX_QTY || (is_limit_type(o->ord_type) && npx <= 0) ||
        (o->state == ST_WAITING && nstop <= 0) ||
        (cmd->cl_ord_id != 0 && cmd->cl_ord_id != o->cl_ord_id &&
         tab_find(e, 1, cmd->cl_ord_id) != NIL)) {
        why = DESK_REJ_VENUE;
    } else if (o->side == DESK_BUY) {
        if (is_limit_type(o->ord_type) || (o->ord_type == DESK_STOP && o->state == ST_WAITING))
            nref = buy_ref_px(e, o->ord_type, npx, nstop);
        int64_t notional;
        if (desk_fixed_mul(nref, nq, &notional) != 0 || notional > MAX_NOTIONAL)
            why = DESK_REJ_VENUE;
        else {
            nres = cost(nref, nq - o->cum, e->res_bps);
            if (nres - o->reserved > e->cash - e->reserved)
                why = DESK_REJ_VENUE_CASH;
        }
    } else {
        int64_t notional;
        int64_t ref = npx > 0 ? npx : (nstop > 0 ? nstop : e->q.bid_px);
        if (desk_fixed_mul(ref, nq, &notional) != 0 || notional > MAX_NOTIONAL)
            why = DESK_REJ_VENUE;
        else if (!e->cfg.allow_short && nq - o->qty > e->pos - e->open_sells)
            why = DESK_REJ_VENUE_CASH;
    }
    if (why != DESK_REJ_NONE) {
        emit(e, DESK_EV_CANCEL_REJECT, o->order_id, why, o, 0, 0, 0, 0, NULL);
        return;
    }

    if (o->side == DESK_BUY) {
        e->reserved += nres - o->reserved;
        o->reserved = nres;
        o->ref_px = nref;
    } else {
        e->open_sells += nq - o->qty;
    }
    o->qty = nq;
    o->px = npx;
    o->stop_px = nstop;
    if (cmd->cl_ord_id != 0 && cmd->cl_ord_id != o->cl_ord_id) {
        if (o->cl_ord_id != 0)
            tab_remove(e, 1, s);
        o->cl_ord_id = cmd->cl_ord_id;
        tab_insert(e, 1, s);
    }
    list_unlink(e, s);
    list_append(e, s); /* a replaced order loses its place */
    emit(e, DESK_EV_REPLACED, o->order_id, 0, o, 0, 0, 0, 0, NULL);
    if (o->state == ST_WORKING)
        take(e, s, o->eff == DESK_LIMIT ? o->px : 0);
}

/* ---------------------------------------------------------------------- */
/* Public API                                                              */
/* ---------------------------------------------------------------------- */

DESK_COLD int desk_paper_engine_create(const desk_paper_engine_cfg_t *cfg,
                                       desk_paper_engine_t **out)
{
    struct desk_paper_engine *e;
    uint32_t tsize = 1;

    if (cfg == NULL || out == NULL)
        return DESK_ERR(-EINVAL, "cfg or out is NULL");
    *out = NULL;
    if (cfg->max_orders == 0 || cfg->max_orders > (1u << 24))
        return DESK_ERR(-EINVAL, "max_orders=%u outside 1..16777216", cfg->max_orders);
    if (cfg->cash < 0)
        return DESK_ERR(-EINVAL, "starting cash is negative");
    if (cfg->emit == NULL)
        return DESK_ERR(-EINVAL, "no emit callback");
    while (tsize < 2 * cfg->max_orders)
        tsize <<= 1;
    e = calloc(1, sizeof *e);
    if (e == NULL)
        return DESK_ERR(-ENOMEM, "no memory for the engine");
    e->cfg = *cfg;
    e->pool = calloc(cfg->max_orders, sizeof *e->pool);
    e->by_id = calloc(tsize, sizeof *e->by_id);
    e->by_cl = calloc(tsize, sizeof *e->by_cl);
    if (e->pool == NULL || e->by_id == NULL || e->by_cl == NULL) {
        desk_paper_engine_destroy(e);
        return DESK_ERR(-ENOMEM, "no memory for %u orders", cfg->max_orders);
    }
    e->mask = tsize - 1;
    for (uint32_t i = 0; i < cfg->max_orders; i++)
        e->pool[i].next = i + 1 < cfg->max_orders ? i + 1 : NIL;
    e->free_head = 0;
    e->head = e->tail = NIL;
    e->cash = cfg->cash;
    e->res_bps = cfg->fee_bps > cfg->maker_fee_bps ? cfg->fee_bps : cfg->maker_fee_bps;
    if (e->res_bps < 0)
        e->res_bps = 0;
    *out = e;
    return 0;
}

DESK_COLD void desk_paper_engine_destroy(desk_paper_engine_t *e)
{
    if (e == NULL)
        return;
    free(e->pool);
    free(e->by_id);
    free(e->by_cl);
    free(e);
}

int desk_paper_engine_on_md(desk_paper_engine_t *e, uint64_t idx, const desk_md_event_t *ev)
{
    if (ev->kind != DESK_MD_QUOTE && ev->kind != DESK_MD_TRADE)
        return -EINVAL;
    /* floor division: a UTC day number that is right for negative times too */
    int64_t day = ev->ts_ns / NS_PER_DAY - (ev->ts_ns % NS_PER_DAY < 0);
    if (e->have_day && day != e->day)
        expire_day(e);
    e->day = day;
    e->have_day = 1;
    e->have_md = 1;
    e->q.venue_ts_ns = (uint64_t)ev->ts_ns;

    if (ev->kind == DESK_MD_QUOTE) {
        e->q.bid_px = ev->bid_px;
        e->q.bid_qty = ev->bid_qty;
        e->q.ask_px = ev->ask_px;
        e->q.ask_qty = ev->ask_qty;
        e->have_quote = 1;
        e->quote_idx = idx;
        e->avail_bid = ev->bid_qty;
        e->avail_ask = ev->ask_qty;
        for (uint32_t s = e->head, next; s != NIL; s = next) {
            struct po *o = &e->pool[s];
            next = o->next;
            if (o->state != ST_WORKING)
                continue;
            if (o->eff == DESK_MARKET)
                take(e, s, 0);
            else if (o->side == DESK_BUY && ev->ask_px > 0 && ev->ask_px <= o->px)
                make(e, s, &e->avail_ask, idx);
            else if (o->side == DESK_SELL && ev->bid_px > 0 && ev->bid_px >= o->px)
                make(e, s, &e->avail_bid, idx);
        }
        return 0;
    }

    e->q.last_px = ev->px;
    e->q.last_qty = ev->qty;
    int64_t avail = ev->qty;
    for (uint32_t s = e->head, next; s != NIL; s = next) {
        struct po *o = &e->pool[s];
        next = o->next;
        if (o->state == ST_WAITING) {
            if (o->side == DESK_BUY ? ev->px >= o->stop_px : ev->px <= o->stop_px) {
                o->state = ST_WORKING;
                arrive(e, s);
            }
        } else if (o->eff == DESK_LIMIT) {
            if (o->side == DESK_BUY ? ev->px < o->px : ev->px > o->px)
                make(e, s, &avail, idx);
        }
    }
    return 0;
}

int desk_paper_engine_cmd(desk_paper_engine_t *e, const desk_vcmd_t *cmd)
{
    switch (cmd->type) {
    case DESK_CMD_NEW:
        on_new(e, cmd);
        return 0;
    case DESK_CMD_CANCEL:
        on_cancel(e, cmd);
        return 0;
    case DESK_CMD_REPLACE:
        on_replace(e, cmd);
        return 0;
    default:
        return -EINVAL;
    }
}

int desk_paper_engine_end_session(desk_paper_engine_t *e)
{
    return expire_day(e);
}

int desk_paper_engine_quote(const desk_paper_engine_t *e, desk_quote_t *out)
{
    if (!e->have_md)
        return -ENOENT;
    *out = e->q;
    return 0;
}

void desk_paper_engine_position(const desk_paper_engine_t *e, desk_position_t *out)
{
    memset(out, 0, sizeof *out);
    out->instrument = e->cfg.instrument;
    out->qty = e->pos;
    out->avg_px = e->avg_px;
}

void desk_paper_engine_balance(const desk_paper_engine_t *e, desk_balance_t *out)
{
    out->cash = e->cash;
    out->buying_power = e->cash - e->reserved;
}

int desk_paper_engine_order(const desk_paper_engine_t *e, uint64_t order_id,
                            desk_paper_order_t *out)
{
    uint32_t s = order_id != 0 ? tab_find(e, 0, order_id) : NIL;

    if (s == NIL)
        return -ENOENT;
    const struct po *o = &e->pool[s];
    out->order_id = o->order_id;
    out->cl_ord_id = o->cl_ord_id;
    out->side = o->side;
    out->ord_type = o->ord_type;
    out->tif = o->tif;
    out->triggered = o->state == ST_WORKING;
    out->qty = o->qty;
    out->cum_qty = o->cum;
    out->leaves_qty = o->qty - o->cum;
    out->px = o->px;
    out->stop_px = o->stop_px;
    out->reserved = o->reserved;
    return 0;
}

uint32_t desk_paper_engine_open_count(const desk_paper_engine_t *e)
{
    return e->nopen;
}
