/* order.c - order table and OrdStatus state machine; see order.h. */
#include "order.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define NO_SLOT UINT32_MAX

DESK_COLD int desk_orders_init(desk_orders_t *t, uint32_t capacity, uint64_t clordids)
{
    memset(t, 0, sizeof *t);
    if (capacity < 2 || (capacity & (capacity - 1)) || capacity > (1u << 24))
        return DESK_ERR(-EINVAL, "order capacity %u is not a power of two in [2, 2^24]", capacity);
    if (clordids == 0)
        clordids = (uint64_t)capacity * 3;
    if (clordids > (1ull << 30))
        return DESK_ERR(-EINVAL, "%llu ClOrdIDs per day is above the limit of 2^30",
                        (unsigned long long)clordids);
    uint64_t entries = 4;
    while (entries * 3 < clordids * 4) /* at most 3/4 full */
        entries <<= 1;
    t->slot = calloc(capacity, sizeof *t->slot);
    t->clid = calloc((size_t)entries, sizeof *t->clid);
    if (t->slot == NULL || t->clid == NULL) {
        desk_orders_fini(t);
        return DESK_ERR(-ENOMEM, "order table of %u orders and %llu ClOrdIDs", capacity,
                        (unsigned long long)clordids);
    }
    t->capacity = capacity;
    t->clid_mask = entries - 1;
    t->clid_limit = clordids;
    t->live_head = NO_SLOT;
    for (uint32_t i = 0; i < capacity; i++)
        t->slot[i].next_free = i + 1 < capacity ? i + 1 : NO_SLOT;
    t->free_head = 0;
    t->free_tail = capacity - 1;
    return 0;
}

DESK_COLD void desk_orders_fini(desk_orders_t *t)
{
    free(t->slot);
    free(t->clid);
    memset(t, 0, sizeof *t);
}

static inline uint64_t clid_hash(uint16_t strategy, uint64_t clid)
{
    /* splitmix64 finaliser: ClOrdIDs are often sequential. */
    uint64_t x = clid ^ ((uint64_t)strategy << 48) ^ 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static struct desk_clid_entry *clid_find(const desk_orders_t *t, uint16_t strategy, uint64_t clid)
{
    for (uint64_t i = clid_hash(strategy, clid) & t->clid_mask;; i = (i + 1) & t->clid_mask) {
        struct desk_clid_entry *e = &t->clid[i];
        if (e->clid == 0 || (e->clid == clid && e->strategy == strategy))
            return e; /* the match, or the empty entry where it would go */
    }
}

int desk_orders_clid_add(desk_orders_t *t, uint16_t strategy, uint64_t cl_ord_id, uint32_t slot)
{
    if (cl_ord_id == 0)
        return -EINVAL; /* 0 marks an empty entry: never a valid ClOrdID */
    /* The index is sized to stay at most 3/4 full at the day's limit, so
     * probes stay short and an empty entry always ends one. */
    if (t->clid_used >= t->clid_limit)
        return -ENOSPC;
    struct desk_clid_entry *e = clid_find(t, strategy, cl_ord_id);
    if (e->clid != 0)
        return -EEXIST;
    e->clid = cl_ord_id;
    e->strategy = strategy;
    e->slot = slot;
    t->clid_used++;
    return 0;
}

int desk_orders_clid_seen(const desk_orders_t *t, uint16_t strategy, uint64_t cl_ord_id)
{
    return cl_ord_id != 0 && clid_find(t, strategy, cl_ord_id)->clid != 0;
}

desk_order_t *desk_orders_by_clid(desk_orders_t *t, uint16_t strategy, uint64_t cl_ord_id)
{
    if (cl_ord_id == 0)
        return NULL;
    struct desk_clid_entry *e = clid_find(t, strategy, cl_ord_id);
    if (e->clid == 0 || e->slot == NO_SLOT)
        return NULL;
    desk_order_t *o = &t->slot[e->slot];
    /* The slot may since hold another order, or this order may have moved to
     * a new ClOrdID by a replace: only its current id names it. */
    if (!o->in_use || o->strategy != strategy || o->cl_ord_id != cl_ord_id)
        return NULL;
    return o;
}

desk_order_t *desk_orders_by_id(desk_orders_t *t, uint64_t order_id)
{
    uint64_t s = order_id & 0xffffffffu;

    if (s >= t->capacity)
        return NULL;
    desk_order_t *o = &t->slot[s];
    return o->in_use && o->order_id == order_id ? o : NULL;
}

desk_order_t *desk_orders_alloc(desk_orders_t *t)
{
    uint32_t s = t->free_head;

    if (s == NO_SLOT)
        return NULL;
    desk_order_t *o = &t->slot[s];
    t->free_head = o->next_free;
    if (t->free_head == NO_SLOT)
        t->free_tail = NO_SLOT;
    if (!o->in_use)
        t->used++;
    memset(o, 0, sizeof *o);
    t->generation++;
    o->order_id = (uint64_t)s | (t->generation << 32);
    o->in_use = 1;
    o->status = DESK_OS_PENDING_NEW;
    o->next_free = NO_SLOT;
    o->live_prev = NO_SLOT;
    o->live_next = t->live_head;
    if (t->live_head != NO_SLOT)
        t->slot[t->live_head].live_prev = s;
    t->live_head = s;
    t->live++;
    return o;
}

static void live_push(desk_orders_t *t, desk_order_t *o, uint32_t s)
{
    o->live_prev = NO_SLOT;
    o->live_next = t->live_head;
    if (t->live_head != NO_SLOT)
        t->slot[t->live_head].live_prev = s;
    t->live_head = s;
    t->live++;
}

DESK_COLD desk_order_t *desk_orders_restore(desk_orders_t *t, uint64_t order_id)
{
    uint64_t s = order_id & 0xffffffffu, gen = order_id >> 32;

    if (s >= t->capacity)
        return NULL;
    desk_order_t *o = &t->slot[s];
    if (o->in_use && (o->live_prev != NO_SLOT || t->live_head == (uint32_t)s))
        return NULL; /* on the live list */
    if (!o->in_use)
        t->used++;
    memset(o, 0, sizeof *o);
    o->order_id = order_id;
    o->in_use = 1;
    o->status = DESK_OS_PENDING_NEW;
    o->next_free = NO_SLOT;
    live_push(t, o, (uint32_t)s);
    if (gen > t->generation)
        t->generation = gen;
    return o;
}

static int by_generation(const void *a, const void *b, void *slots)
{
    const desk_order_t *s = slots;
    uint64_t ga = s[*(const uint32_t *)a].order_id >> 32, gb = s[*(const uint32_t *)b].order_id >> 32;
    return ga < gb ? -1 : ga > gb;
}

static void free_append(desk_orders_t *t, uint32_t s)
{
    if (t->free_tail == NO_SLOT)
        t->free_head = s;
    else
        t->slot[t->free_tail].next_free = s;
    t->free_tail = s;
}

DESK_COLD void desk_orders_rebuild_free(desk_orders_t *t)
{
    uint32_t *kept = malloc((size_t)t->capacity * sizeof *kept), nkept = 0;

    t->free_head = t->free_tail = NO_SLOT;
    for (uint32_t s = 0; s < t->capacity; s++)
        t->slot[s].next_free = NO_SLOT;
    /* Never-used slots first, then finished orders oldest first (as the
     * running table reuses them: a recent one stays findable for its late
     * events).  Without memory for the sort, slot order. */
    for (uint32_t s = 0; s < t->capacity; s++) {
        desk_order_t *o = &t->slot[s];
        if (!o->in_use)
            free_append(t, s);
        else if (!(o->live_prev != NO_SLOT || t->live_head == s)) {
            if (kept)
                kept[nkept++] = s;
            else
                free_append(t, s);
        }
    }
    if (kept) {
        qsort_r(kept, nkept, sizeof *kept, by_generation, t->slot);
        for (uint32_t k = 0; k < nkept; k++)
            free_append(t, kept[k]);
        free(kept);
    }
}

DESK_COLD void desk_orders_reset(desk_orders_t *t)
{
    memset(t->slot, 0, (size_t)t->capacity * sizeof *t->slot);
    memset(t->clid, 0, (size_t)(t->clid_mask + 1) * sizeof *t->clid);
    t->clid_used = 0;
    t->live = t->used = 0;
    t->live_head = NO_SLOT;
    for (uint32_t i = 0; i < t->capacity; i++)
        t->slot[i].next_free = i + 1 < t->capacity ? i + 1 : NO_SLOT;
    t->free_head = 0;
    t->free_tail = t->capacity - 1;
}

DESK_COLD void desk_orders_new_day(desk_orders_t *t)
{
    memset(t->clid, 0, (size_t)(t->clid_mask + 1) * sizeof *t->clid);
    t->clid_used = 0;
    for (desk_order_t *o = desk_orders_live_first(t); o; o = desk_orders_live_next(t, o)) {
        (void)desk_orders_clid_add(t, o->strategy, o->cl_ord_id, desk_order_slot(o));
        if (o->req_cl_ord_id)
            (void)desk_orders_clid_add(t, o->strategy, o->req_cl_ord_id, desk_order_slot(o));
    }
}

void desk_orders_finish(desk_orders_t *t, desk_order_t *o)
{
    uint32_t s = desk_order_slot(o);

    /* Off the live list. */
    if (o->live_prev != NO_SLOT)
        t->slot[o->live_prev].live_next = o->live_next;
    else
        t->live_head = o->live_next;
    if (o->live_next != NO_SLOT)
        t->slot[o->live_next].live_prev = o->live_prev;
    o->live_prev = o->live_next = NO_SLOT;
    /* FIFO: the order stays findable until every older slot is reused. */
    o->next_free = NO_SLOT;
    if (t->free_tail == NO_SLOT)
        t->free_head = s;
    else
        t->slot[t->free_tail].next_free = s;
    t->free_tail = s;
    t->live--;
}

int desk_order_invariant(const desk_order_t *o)
{
    if (o->cum_qty < 0 || o->cum_qty > o->qty || o->leaves_qty < 0)
        return 0;
    if (desk_ord_terminal(o->status))
        return o->leaves_qty == 0 && (o->status != DESK_OS_FILLED || o->cum_qty == o->qty);
    return o->cum_qty + o->leaves_qty == o->qty;
}

void desk_order_pending(desk_order_t *o, uint8_t pending_status)
{
    o->prev_status = o->status;
    o->status = pending_status;
}

static int exec_seen(const desk_order_t *o, uint64_t exec_id)
{
    for (unsigned i = 0; i < DESK_ORDER_EXEC_MEMORY; i++)
        if (o->exec_ids[i] == exec_id && exec_id != 0)
            return 1;
    return 0;
}

static desk_ord_result_t apply_fill(desk_order_t *o, const desk_vevent_t *ev)
{
    switch (o->status) {
    case DESK_OS_PENDING_NEW:
    case DESK_OS_NEW:
    case DESK_OS_PARTIALLY_FILLED:
    case DESK_OS_PENDING_CANCEL:
    case DESK_OS_PENDING_REPLACE:
        break;
    default:
        return exec_seen(o, ev->exec_id) ? DESK_ORD_DUPLICATE : DESK_ORD_INVALID;
    }
    if (exec_seen(o, ev->exec_id) || (ev->cum_qty != 0 && ev->cum_qty <= o->cum_qty))
        return DESK_ORD_DUPLICATE;
    if (ev->last_qty <= 0 || ev->last_qty > o->leaves_qty || ev->last_px <= 0)
        return DESK_ORD_INVALID;
    o->exec_ids[o->nexec++ % DESK_ORDER_EXEC_MEMORY] = ev->exec_id;
    o->cum_qty += ev->last_qty;
    o->leaves_qty -= ev->last_qty;
    if (o->leaves_qty == 0) {
        o->status = DESK_OS_FILLED;
    } else if (o->status == DESK_OS_PENDING_CANCEL || o->status == DESK_OS_PENDING_REPLACE) {
        o->prev_status = DESK_OS_PARTIALLY_FILLED; /* where a reject returns it */
    } else {
        o->status = DESK_OS_PARTIALLY_FILLED;
    }
    return DESK_ORD_APPLIED;
}

desk_ord_result_t desk_order_apply(desk_order_t *o, const desk_vevent_t *ev)
{
    switch (ev->type) {
    case DESK_EV_ACK:
        if ((o->status == DESK_OS_PENDING_CANCEL || o->status == DESK_OS_PENDING_REPLACE) &&
            o->prev_status == DESK_OS_PENDING_NEW) {
            /* A cancel or replace sent before the ack: the ack still counts,
             * and a later refusal of the request returns the order to New. */
            o->prev_status = DESK_OS_NEW;
            return DESK_ORD_APPLIED;
        }
        if (o->status != DESK_OS_PENDING_NEW) {
            /* A status answer re-telling an ack deskd already has (see
             * DESK_VEV_STATUS) is a repeat; anything else does not fit. */
            if ((ev->flags & DESK_VEV_STATUS) && !desk_ord_terminal(o->status))
                return DESK_ORD_DUPLICATE;
            return DESK_ORD_INVALID;
        }
        o->status = DESK_OS_NEW;
        return DESK_ORD_APPLIED;
    case DESK_EV_FILL:
        return apply_fill(o, ev);
    case DESK_EV_CANCELED:
    case DESK_EV_EXPIRED:
        if (desk_ord_terminal(o->status))
            return DESK_ORD_INVALID;
        o->status = ev->type == DESK_EV_CANCELED ? DESK_OS_CANCELED : DESK_OS_EXPIRED;
        o->leaves_qty = 0;
        o->req_cl_ord_id = 0;
        return DESK_ORD_APPLIED;
    case DESK_EV_REJECT:
        /* The venue refused the order itself, possibly while a cancel or
         * replace sent before its ack was in flight. */
        if (o->status != DESK_OS_PENDING_NEW &&
            !((o->status == DESK_OS_PENDING_CANCEL || o->status == DESK_OS_PENDING_REPLACE) &&
              o->prev_status == DESK_OS_PENDING_NEW))
            return DESK_ORD_INVALID;
        o->req_cl_ord_id = 0;
        o->req_venue_cl = 0;
        o->status = DESK_OS_REJECTED;
        o->leaves_qty = 0;
        return DESK_ORD_APPLIED;
    case DESK_EV_REPLACED:
        if (o->status != DESK_OS_PENDING_REPLACE || o->new_qty <= o->cum_qty)
            return DESK_ORD_INVALID;
        o->qty = o->new_qty;
        o->px = o->new_px;
        o->cl_ord_id = o->req_cl_ord_id;
        o->venue_cl = o->req_venue_cl;
        o->req_cl_ord_id = 0;
        o->req_venue_cl = 0;
        o->leaves_qty = o->qty - o->cum_qty;
        o->status = o->cum_qty ? DESK_OS_PARTIALLY_FILLED : DESK_OS_NEW;
        return DESK_ORD_APPLIED;
    case DESK_EV_CANCEL_REJECT:
        if (o->status == DESK_OS_PENDING_CANCEL || o->status == DESK_OS_PENDING_REPLACE) {
            o->status = o->prev_status;
        } else if (!desk_ord_terminal(o->status) || o->req_cl_ord_id == 0) {
            return DESK_ORD_INVALID;
        }
        /* A cancel that lost the race with the last fill is refused by the
         * venue after the order is done: expected, not an anomaly. */
        o->req_cl_ord_id = 0;
        o->req_venue_cl = 0;
        return DESK_ORD_APPLIED;
    default:
        return DESK_ORD_INVALID;
    }
}
