/*
 * order.h - the order table and the FIX OrdStatus state machine.
 *
 * The router thread alone owns the table: every function here is for the
 * router thread only, allocates nothing after desk_orders_init(), takes no
 * lock and makes no syscall.
 *
 * States (FIX OrdStatus <39>):
 *
 *   PendingNew --ack--> New --fill--> PartiallyFilled --fill--> Filled
 *        |               |  \                |    \
 *        |            cancel replace      cancel  replace
 *        v               v     v             v      v
 *     Rejected   PendingCancel PendingReplace (from New or PartiallyFilled)
 *                    |               |
 *                 Canceled     Replaced -> back to New / PartiallyFilled
 *                                            with the new qty/px/ClOrdID
 *   New / PartiallyFilled / Pending* --expire--> Expired
 *   A cancel or replace that the venue refuses returns the order to the
 *   state it was in before the request (FIX OrderCancelReject).
 *   Fills are accepted in PendingNew (a venue may fill before it acks),
 *   New, PartiallyFilled, PendingCancel and PendingReplace.
 *
 * Invariant, checked after every applied event: while an order is live,
 * cum_qty + leaves_qty == order_qty, with 0 <= cum_qty <= order_qty.  A done
 * order has leaves_qty 0, as FIX reports it (LeavesQty <151> = 0 on Canceled,
 * Expired and Rejected), so there cum_qty <= order_qty, with equality when
 * Filled.  Replaced is transient here: the order continues under its new
 * ClOrdID and quantity.  An event that does not fit
 * the state is counted and not applied (DESK_ORD_INVALID).  A fill whose
 * exec id was seen on this order, or whose venue cum qty does not exceed
 * the known cum qty, is a duplicate (DESK_ORD_DUPLICATE) and never counted
 * twice; so is an ACK from a status answer (DESK_VEV_STATUS) for an order
 * already acknowledged and not done.
 */
#ifndef DESK_ORDER_H
#define DESK_ORDER_H

#include <stdint.h>

#include "desk/connector.h"
#include "desk/types.h"

#define DESK_ORDER_EXEC_MEMORY 8 /* exec ids remembered per order */

typedef struct desk_order {
    uint64_t order_id;        /* deskd's id: slot | generation << 32 */
    uint64_t cl_ord_id;       /* the strategy's current ClOrdID */
    uint64_t req_cl_ord_id;   /* cancel/replace request in flight, 0 if none */
    uint64_t venue_cl;        /* venue ClOrdID number of the live order */
    uint64_t req_venue_cl;    /* venue ClOrdID number of the request in flight */
    uint32_t instrument;      /* instrument id */
    uint16_t strategy;        /* strategy index */
    uint16_t connector;       /* connector index */
    uint8_t side;             /* desk_side_t */
    uint8_t ord_type;         /* desk_ord_type_t */
    uint8_t tif;              /* desk_tif_t */
    uint8_t status;           /* desk_ord_status_t */
    uint8_t prev_status;      /* status before PendingCancel/PendingReplace */
    uint8_t filled_once;      /* a fill was seen (first-fill latency) */
    uint8_t in_use;           /* slot holds an order */
    uint8_t nexec;            /* exec ids remembered (ring index) */
    int64_t qty;              /* order quantity, 1e-8 */
    int64_t px;               /* limit price, 1e-8 (0 market) */
    int64_t stop_px;          /* stop price, 1e-8 */
    int64_t cum_qty;          /* filled so far */
    int64_t cum_notional;     /* sum of last_px * last_qty over the fills applied, money
                                 1e-8 (prices the part of a catch-up fill deskd missed) */
    int64_t leaves_qty;       /* open: qty - cum_qty while live, 0 when done */
    int64_t new_qty;          /* pending replace: requested qty */
    int64_t new_px;           /* pending replace: requested price */
    int64_t reserve_px;       /* price used for the cash reservation (buys) */
    int64_t reserved;         /* cash reserved now: leaves * reserve_px */
    uint64_t submit_ns;       /* strategy's submit stamp (latency stages) */
    uint64_t exec_ids[DESK_ORDER_EXEC_MEMORY]; /* last exec ids applied */
    uint32_t next_free;       /* free-list link (slot index), when finished */
    uint32_t live_prev;       /* live-list links (slot indices), while live */
    uint32_t live_next;
    uint8_t open_counted;     /* counted in the strategy's open orders (router) */
    uint8_t cancel_after;     /* a cancel-all found it with a replace in flight: cancel it
                                 once the venue has answered the replace (router) */
    uint8_t pad_[6];
} desk_order_t;

/* Seen-ClOrdID index entry: (strategy, cl_ord_id) -> slot. */
struct desk_clid_entry {
    uint64_t clid;     /* the cl_ord_id; 0 = empty entry (0 is never valid) */
    uint32_t slot;     /* order slot it named, UINT32_MAX if none */
    uint16_t strategy; /* strategy index */
    uint16_t pad_;     /* zero */
};

typedef struct desk_orders {
    desk_order_t *slot;            /* capacity slots (owned) */
    uint32_t capacity;             /* power of two */
    uint32_t free_head;            /* first free slot, or UINT32_MAX */
    uint32_t free_tail;            /* last free slot (FIFO reuse: oldest first) */
    uint32_t live;                 /* orders not in a terminal state */
    uint32_t used;                 /* slots in use (live + finished kept) */
    uint32_t live_head;            /* first live order's slot, or UINT32_MAX */
    struct desk_clid_entry *clid;  /* the ClOrdID index (owned) */
    uint64_t clid_mask;            /* index entries - 1 */
    uint64_t clid_used;            /* entries used */
    uint64_t clid_limit;           /* ClOrdIDs accepted per day */
    uint64_t generation;           /* bumped per allocation: ids never repeat */
} desk_orders_t;

/* Result of applying a venue event. */
typedef enum desk_ord_result {
    DESK_ORD_APPLIED = 0,   /* state changed */
    DESK_ORD_INVALID = 1,   /* did not fit the state: counted, not applied */
    DESK_ORD_DUPLICATE = 2, /* duplicate fill or status ack: dropped */
} desk_ord_result_t;

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Allocate a table of `capacity` (power of two) orders that remembers
 * `clordids` ClOrdIDs for the day (0: 3 * capacity).  The ClOrdID index is
 * sized to stay at most 3/4 full: 16 bytes * next_pow2(clordids * 4 / 3).
 * 0, -EINVAL or -ENOMEM.  Cold.
 */
int desk_orders_init(desk_orders_t *t, uint32_t capacity, uint64_t clordids);
void desk_orders_fini(desk_orders_t *t);

/*
 * Record (strategy, cl_ord_id) as used today.  Returns 0, -EEXIST if it was
 * seen before (duplicate ClOrdID), -EINVAL for cl_ord_id 0, or -ENOSPC if
 * the day's ClOrdIDs (clordids at init) are used up.  `slot`
 * is the order it names (UINT32_MAX for a request with no order of its own).
 */
int desk_orders_clid_add(desk_orders_t *t, uint16_t strategy, uint64_t cl_ord_id, uint32_t slot);

/* The live-or-kept order named by (strategy, cl_ord_id), or NULL. */
desk_order_t *desk_orders_by_clid(desk_orders_t *t, uint16_t strategy, uint64_t cl_ord_id);

/* 1 if (strategy, cl_ord_id) was ever seen today. */
int desk_orders_clid_seen(const desk_orders_t *t, uint16_t strategy, uint64_t cl_ord_id);

/* The order with id `order_id`, or NULL (unknown, or its slot was reused). */
desk_order_t *desk_orders_by_id(desk_orders_t *t, uint64_t order_id);

/*
 * Take a slot for a new order (status PendingNew, fields zeroed, order_id
 * set).  Reuses the oldest finished order's slot when no slot was never
 * used.  NULL when every slot holds a live order.
 */
desk_order_t *desk_orders_alloc(desk_orders_t *t);

/*
 * Recovery: take the slot named by `order_id` (slot | generation << 32) for
 * an order being rebuilt from the journal: fields zeroed, order_id set,
 * status PendingNew, on the live list; the generation counter continues
 * above the id's.  The free list is not touched: call
 * desk_orders_rebuild_free() when the rebuilding is over.  NULL when the
 * slot is out of range or holds a live order (the journal does not describe
 * this table).  Cold.
 */
desk_order_t *desk_orders_restore(desk_orders_t *t, uint64_t order_id);

/* After restores: the free list becomes every slot that holds no live
 * order: never-used slots first, then finished orders oldest first, as the
 * running table reuses them (a finished order stays findable for its late
 * events until its slot is needed).  O(capacity log capacity); allocates
 * a temporary index.  Cold. */
void desk_orders_rebuild_free(desk_orders_t *t);

/* Forget every order and every ClOrdID (a trading day's snapshot is about
 * to be restored); the generation counter is kept.  O(capacity).  Cold. */
void desk_orders_reset(desk_orders_t *t);

/* A new trading day: the ClOrdID index forgets the previous day's ids but
 * those of live orders (their own and a request's in flight), which stay
 * taken.  O(capacity + index).  Cold. */
void desk_orders_new_day(desk_orders_t *t);

/* Slot index of an order. */
static inline uint32_t desk_order_slot(const desk_order_t *o)
{
    return (uint32_t)(o->order_id & 0xffffffffu);
}

/* 1 if the status is terminal (Filled, Canceled, Rejected, Expired). */
static inline int desk_ord_terminal(unsigned s)
{
    return s == DESK_OS_FILLED || s == DESK_OS_CANCELED || s == DESK_OS_REJECTED ||
           s == DESK_OS_EXPIRED;
}

/* Mark a terminal order's slot reusable (kept until needed) and take it off
 * the live list. */
void desk_orders_finish(desk_orders_t *t, desk_order_t *o);

/* Walk the live orders (not finished), in no particular order: O(live),
 * not O(capacity).  desk_orders_finish() may be called on the current order
 * only after taking its successor. */
static inline desk_order_t *desk_orders_live_first(desk_orders_t *t)
{
    return t->live_head == UINT32_MAX ? NULL : &t->slot[t->live_head];
}
static inline desk_order_t *desk_orders_live_next(desk_orders_t *t, const desk_order_t *o)
{
    return o->live_next == UINT32_MAX ? NULL : &t->slot[o->live_next];
}

/*
 * Apply one venue event to its order.  FILL updates cum/leaves (a fill
 * larger than leaves is INVALID); ACK moves PendingNew -> New (a
 * DESK_VEV_STATUS ack of an order past it and live is DUPLICATE); CANCELED,
 * EXPIRED, REJECTED finish it; REPLACED adopts new_qty/new_px and the
 * request's ClOrdID; CANCEL_REJECT restores prev_status.  Returns the
 * result; the invariant holds whatever happens.
 */
desk_ord_result_t desk_order_apply(desk_order_t *o, const desk_vevent_t *ev);

/* Move to PendingCancel / PendingReplace (the router checked it is open). */
void desk_order_pending(desk_order_t *o, uint8_t pending_status);

/* 1 if cum_qty + leaves_qty == qty and the bounds hold. */
int desk_order_invariant(const desk_order_t *o);

#ifdef __cplusplus
}
#endif

#endif /* DESK_ORDER_H */
