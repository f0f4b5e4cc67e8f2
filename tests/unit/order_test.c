/*
 * order_test.c - the order table and the FIX OrdStatus machine of
 * core/order.h.
 *
 * The state machine: every legal transition of order.h's diagram, step by
 * step; a full matrix of (state x event) against a transition table written
 * here from order.h, where every refused event must return DESK_ORD_INVALID
 * and leave the order byte for byte unchanged; duplicate fills (exec id or
 * venue cum qty) that must never count twice; and long seeded random
 * sequences with the invariant and a shadow cum qty checked after every
 * event.  The table: ClOrdID index, FIFO slot reuse, id uniqueness,
 * capacity exhaustion and a full index.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/order.h"

#define UNITS(n) ((int64_t)(n) * DESK_SCALE)
#define PX UNITS(100)

static uint64_t next_exec = 1000; /* fresh exec ids */

/* ---- helpers --------------------------------------------------------------- */

/* A table of `cap` orders, failing the test if it cannot be made. */
static void table_init(desk_orders_t *t, uint32_t cap)
{
    assert_int_equal(desk_orders_init(t, cap, 0), 0);
    assert_int_equal(t->capacity, cap);
}

/* A new order as the router makes one: allocated, its ClOrdID indexed
 * (unless `index` is 0: the random test makes more orders than the index
 * of its table holds). */
static desk_order_t *make_order(desk_orders_t *t, uint16_t strategy, uint64_t clid, int64_t qty,
                                int index)
{
    desk_order_t *o = desk_orders_alloc(t);

    assert_non_null(o);
    if (index)
        assert_int_equal(desk_orders_clid_add(t, strategy, clid, desk_order_slot(o)), 0);
    o->cl_ord_id = clid;
    o->strategy = strategy;
    o->instrument = 3;
    o->connector = 1;
    o->side = DESK_BUY;
    o->ord_type = DESK_LIMIT;
    o->tif = DESK_DAY;
    o->qty = qty;
    o->px = PX;
    o->leaves_qty = qty;
    o->venue_cl = clid + 5000;
    return o;
}

static desk_order_t *new_order(desk_orders_t *t, uint16_t strategy, uint64_t clid, int64_t qty)
{
    return make_order(t, strategy, clid, qty, 1);
}

/* A standalone order (no table) in PendingNew. */
static void fresh(desk_order_t *o, int64_t qty)
{
    memset(o, 0, sizeof *o);
    o->order_id = 7 | (UINT64_C(1) << 32);
    o->cl_ord_id = 1;
    o->venue_cl = 11;
    o->side = DESK_SELL;
    o->ord_type = DESK_LIMIT;
    o->status = DESK_OS_PENDING_NEW;
    o->in_use = 1;
    o->qty = qty;
    o->px = PX;
    o->leaves_qty = qty;
}

static desk_vevent_t ev_of(const desk_order_t *o, uint8_t type)
{
    desk_vevent_t e;

    memset(&e, 0, sizeof e);
    e.type = type;
    e.order_id = o->order_id;
    e.instrument = o->instrument;
    return e;
}

/* A fill with a fresh exec id; cum_qty as the venue would report it. */
static desk_vevent_t fill_of(const desk_order_t *o, int64_t qty, int64_t venue_cum)
{
    desk_vevent_t e = ev_of(o, DESK_EV_FILL);

    e.exec_id = next_exec++;
    e.last_qty = qty;
    e.last_px = PX;
    e.cum_qty = venue_cum;
    return e;
}

/* Apply and demand APPLIED and the invariant. */
static void applied(desk_order_t *o, desk_vevent_t e)
{
    assert_int_equal(desk_order_apply(o, &e), DESK_ORD_APPLIED);
    assert_true(desk_order_invariant(o));
}

/* Apply and demand `want` (INVALID or DUPLICATE) and no change at all. */
static void refused(desk_order_t *o, desk_vevent_t e, int want)
{
    desk_order_t before = *o;

    assert_int_equal(desk_order_apply(o, &e), want);
    assert_memory_equal(&before, o, sizeof before);
    assert_true(desk_order_invariant(o));
}

static void ack(desk_order_t *o)
{
    applied(o, ev_of(o, DESK_EV_ACK));
    assert_int_equal(o->status, DESK_OS_NEW);
}

static void fill(desk_order_t *o, int64_t qty)
{
    int64_t cum = o->cum_qty, leaves = o->leaves_qty;

    applied(o, fill_of(o, qty, cum + qty));
    assert_int_equal(o->cum_qty, cum + qty);
    assert_int_equal(o->leaves_qty, leaves - qty);
}

/* The router's side of a replace request. */
static void request_replace(desk_order_t *o, uint64_t new_clid, int64_t new_qty, int64_t new_px)
{
    desk_order_pending(o, DESK_OS_PENDING_REPLACE);
    o->req_cl_ord_id = new_clid;
    o->req_venue_cl = new_clid + 5000;
    o->new_qty = new_qty;
    o->new_px = new_px;
}

static void request_cancel(desk_order_t *o, uint64_t req_clid)
{
    desk_order_pending(o, DESK_OS_PENDING_CANCEL);
    o->req_cl_ord_id = req_clid;
    o->req_venue_cl = req_clid + 5000;
}

/* ---- legal transitions ----------------------------------------------------- */

static void test_new_partial_filled(void **state)
{
    desk_order_t o;

    (void)state;
    fresh(&o, UNITS(10));
    assert_true(desk_order_invariant(&o));
    ack(&o);
    assert_int_equal(o.cum_qty, 0);
    assert_int_equal(o.leaves_qty, UNITS(10));
    fill(&o, UNITS(3));
    assert_int_equal(o.status, DESK_OS_PARTIALLY_FILLED);
    fill(&o, 1); /* 1e-8 */
    assert_int_equal(o.status, DESK_OS_PARTIALLY_FILLED);
    fill(&o, UNITS(7) - 1);
    assert_int_equal(o.status, DESK_OS_FILLED);
    assert_int_equal(o.cum_qty, UNITS(10));
    assert_int_equal(o.leaves_qty, 0);
    assert_true(o.filled_once == 0); /* the router's flag, untouched here */

    /* New straight to Filled. */
    fresh(&o, UNITS(10));
    ack(&o);
    fill(&o, UNITS(10));
    assert_int_equal(o.status, DESK_OS_FILLED);
}

/* A venue may fill before it acks: the fill counts, a late ack changes
 * nothing. */
static void test_fill_before_ack(void **state)
{
    desk_order_t o, before;

    (void)state;
    fresh(&o, UNITS(10));
    fill(&o, UNITS(4));
    assert_int_equal(o.status, DESK_OS_PARTIALLY_FILLED);
    before = o;
    desk_vevent_t a = ev_of(&o, DESK_EV_ACK);
    (void)desk_order_apply(&o, &a);
    assert_memory_equal(&before, &o, sizeof o);
    fill(&o, UNITS(6));
    assert_int_equal(o.status, DESK_OS_FILLED);

    fresh(&o, UNITS(10));
    fill(&o, UNITS(10));
    assert_int_equal(o.status, DESK_OS_FILLED);
    assert_int_equal(o.leaves_qty, 0);
}

static void test_venue_reject(void **state)
{
    desk_order_t o;

    (void)state;
    fresh(&o, UNITS(10));
    desk_vevent_t r = ev_of(&o, DESK_EV_REJECT);
    r.reason = DESK_REJ_VENUE_CASH;
    applied(&o, r);
    assert_int_equal(o.status, DESK_OS_REJECTED);
    assert_int_equal(o.leaves_qty, 0);
    assert_int_equal(o.cum_qty, 0);
    assert_int_equal(o.qty, UNITS(10));
}

static void test_cancel_paths(void **state)
{
    desk_order_t o;

    (void)state;
    /* New -> PendingCancel -> Canceled. */
    fresh(&o, UNITS(10));
    ack(&o);
    request_cancel(&o, 2);
    assert_int_equal(o.status, DESK_OS_PENDING_CANCEL);
    assert_int_equal(o.prev_status, DESK_OS_NEW);
    assert_true(desk_order_invariant(&o));
    applied(&o, ev_of(&o, DESK_EV_CANCELED));
    assert_int_equal(o.status, DESK_OS_CANCELED);
    assert_int_equal(o.leaves_qty, 0);
    assert_int_equal(o.cum_qty, 0);
    assert_int_equal(o.req_cl_ord_id, 0);
    assert_int_equal(o.qty, UNITS(10));

    /* PartiallyFilled -> PendingCancel -> Canceled keeps what was filled. */
    fresh(&o, UNITS(10));
    ack(&o);
    fill(&o, UNITS(3));
    request_cancel(&o, 2);
    assert_int_equal(o.prev_status, DESK_OS_PARTIALLY_FILLED);
    applied(&o, ev_of(&o, DESK_EV_CANCELED));
    assert_int_equal(o.status, DESK_OS_CANCELED);
    assert_int_equal(o.cum_qty, UNITS(3));
    assert_int_equal(o.leaves_qty, 0);

    /* An unsolicited cancel (IOC remainder, venue kill) from New. */
    fresh(&o, UNITS(10));
    ack(&o);
    fill(&o, UNITS(2));
    applied(&o, ev_of(&o, DESK_EV_CANCELED));
    assert_int_equal(o.status, DESK_OS_CANCELED);
    assert_int_equal(o.cum_qty, UNITS(2));

    /* Fills while the cancel is in flight, then the cancel. */
    fresh(&o, UNITS(10));
    ack(&o);
    request_cancel(&o, 2);
    fill(&o, UNITS(4));
    assert_int_equal(o.status, DESK_OS_PENDING_CANCEL);
    assert_int_equal(o.prev_status, DESK_OS_PARTIALLY_FILLED);
    applied(&o, ev_of(&o, DESK_EV_CANCELED));
    assert_int_equal(o.status, DESK_OS_CANCELED);
    assert_int_equal(o.cum_qty, UNITS(4));
}

static void test_cancel_reject_restores(void **state)
{
    desk_order_t o, before;

    (void)state;
    /* New: back to New, the request forgotten, nothing else touched. */
    fresh(&o, UNITS(10));
    ack(&o);
    before = o;
    request_cancel(&o, 2);
    applied(&o, ev_of(&o, DESK_EV_CANCEL_REJECT));
    assert_int_equal(o.status, DESK_OS_NEW);
    assert_int_equal(o.req_cl_ord_id, 0);
    assert_int_equal(o.req_venue_cl, 0);
    before.prev_status = o.prev_status; /* the one field the request wrote */
    assert_memory_equal(&before, &o, sizeof o);

    /* PartiallyFilled: back to PartiallyFilled. */
    fresh(&o, UNITS(10));
    ack(&o);
    fill(&o, UNITS(3));
    request_cancel(&o, 2);
    applied(&o, ev_of(&o, DESK_EV_CANCEL_REJECT));
    assert_int_equal(o.status, DESK_OS_PARTIALLY_FILLED);
    assert_int_equal(o.leaves_qty, UNITS(7));

    /* New, filled while the cancel was pending: back to PartiallyFilled. */
    fresh(&o, UNITS(10));
    ack(&o);
    request_cancel(&o, 2);
    fill(&o, UNITS(3));
    applied(&o, ev_of(&o, DESK_EV_CANCEL_REJECT));
    assert_int_equal(o.status, DESK_OS_PARTIALLY_FILLED);
    assert_int_equal(o.cum_qty, UNITS(3));

    /* Filled while the cancel was pending: the venue's late refusal of the
     * cancel is expected, clears the request, leaves it Filled. */
    fresh(&o, UNITS(10));
    ack(&o);
    request_cancel(&o, 2);
    fill(&o, UNITS(10));
    assert_int_equal(o.status, DESK_OS_FILLED);
    assert_int_equal(o.req_cl_ord_id, 2);
    applied(&o, ev_of(&o, DESK_EV_CANCEL_REJECT));
    assert_int_equal(o.status, DESK_OS_FILLED);
    assert_int_equal(o.req_cl_ord_id, 0);
    /* A second one has no request to answer. */
    refused(&o, ev_of(&o, DESK_EV_CANCEL_REJECT), DESK_ORD_INVALID);
    /* Nor can the cancel itself land now. */
    refused(&o, ev_of(&o, DESK_EV_CANCELED), DESK_ORD_INVALID);

    /* A refused replace: old qty/px/ClOrdID stay. */
    fresh(&o, UNITS(10));
    ack(&o);
    fill(&o, UNITS(2));
    request_replace(&o, 9, UNITS(20), UNITS(101));
    applied(&o, ev_of(&o, DESK_EV_CANCEL_REJECT));
    assert_int_equal(o.status, DESK_OS_PARTIALLY_FILLED);
    assert_int_equal(o.qty, UNITS(10));
    assert_int_equal(o.px, PX);
    assert_int_equal(o.cl_ord_id, 1);
    assert_int_equal(o.venue_cl, 11);
    assert_int_equal(o.leaves_qty, UNITS(8));
    assert_int_equal(o.req_cl_ord_id, 0);
}

static void test_replace_paths(void **state)
{
    desk_order_t o;

    (void)state;
    /* New -> PendingReplace -> Replaced: new qty, px, ClOrdID, venue id. */
    fresh(&o, UNITS(10));
    ack(&o);
    request_replace(&o, 2, UNITS(12), UNITS(101));
    assert_int_equal(o.status, DESK_OS_PENDING_REPLACE);
    assert_true(desk_order_invariant(&o));
    applied(&o, ev_of(&o, DESK_EV_REPLACED));
    assert_int_equal(o.status, DESK_OS_NEW);
    assert_int_equal(o.qty, UNITS(12));
    assert_int_equal(o.px, UNITS(101));
    assert_int_equal(o.cl_ord_id, 2);
    assert_int_equal(o.venue_cl, 5002);
    assert_int_equal(o.req_cl_ord_id, 0);
    assert_int_equal(o.req_venue_cl, 0);
    assert_int_equal(o.leaves_qty, UNITS(12));
    assert_int_equal(o.cum_qty, 0);
    /* and it trades on under the new terms. */
    fill(&o, UNITS(12));
    assert_int_equal(o.status, DESK_OS_FILLED);

    /* PartiallyFilled, shrunk: leaves = new qty - cum. */
    fresh(&o, UNITS(10));
    ack(&o);
    fill(&o, UNITS(3));
    request_replace(&o, 2, UNITS(8), UNITS(99));
    applied(&o, ev_of(&o, DESK_EV_REPLACED));
    assert_int_equal(o.status, DESK_OS_PARTIALLY_FILLED);
    assert_int_equal(o.qty, UNITS(8));
    assert_int_equal(o.leaves_qty, UNITS(5));
    assert_int_equal(o.cum_qty, UNITS(3));

    /* Filled while pending: the replace lands on the new cum. */
    fresh(&o, UNITS(10));
    ack(&o);
    request_replace(&o, 2, UNITS(12), UNITS(101));
    fill(&o, UNITS(4));
    assert_int_equal(o.status, DESK_OS_PENDING_REPLACE);
    assert_int_equal(o.prev_status, DESK_OS_PARTIALLY_FILLED);
    applied(&o, ev_of(&o, DESK_EV_REPLACED));
    assert_int_equal(o.status, DESK_OS_PARTIALLY_FILLED);
    assert_int_equal(o.leaves_qty, UNITS(8));

    /* Fills overtook a shrink (cum 5 >= new qty 5): the venue cannot have
     * replaced it; refused, and a cancel-reject then restores it. */
    fresh(&o, UNITS(10));
    ack(&o);
    request_replace(&o, 2, UNITS(5), PX);
    fill(&o, UNITS(5));
    refused(&o, ev_of(&o, DESK_EV_REPLACED), DESK_ORD_INVALID);
    applied(&o, ev_of(&o, DESK_EV_CANCEL_REJECT));
    assert_int_equal(o.status, DESK_OS_PARTIALLY_FILLED);
    assert_int_equal(o.qty, UNITS(10));
    assert_int_equal(o.cl_ord_id, 1);

    /* Filled completely while pending: the replace is moot. */
    fresh(&o, UNITS(10));
    ack(&o);
    request_replace(&o, 2, UNITS(12), PX);
    fill(&o, UNITS(10));
    assert_int_equal(o.status, DESK_OS_FILLED);
    refused(&o, ev_of(&o, DESK_EV_REPLACED), DESK_ORD_INVALID);

    /* Two replaces in a row chain the ClOrdIDs. */
    fresh(&o, UNITS(10));
    ack(&o);
    request_replace(&o, 2, UNITS(11), PX);
    applied(&o, ev_of(&o, DESK_EV_REPLACED));
    request_replace(&o, 3, UNITS(9), PX);
    applied(&o, ev_of(&o, DESK_EV_REPLACED));
    assert_int_equal(o.cl_ord_id, 3);
    assert_int_equal(o.qty, UNITS(9));
    assert_int_equal(o.leaves_qty, UNITS(9));
}

static void test_expiry(void **state)
{
    desk_order_t o;

    (void)state;
    static const int setups[] = {0, 1, 2, 3, 4};
    for (size_t i = 0; i < sizeof setups / sizeof setups[0]; i++) {
        fresh(&o, UNITS(10));
        if (setups[i] >= 1)
            ack(&o);
        if (setups[i] == 2 || setups[i] == 3 || setups[i] == 4)
            fill(&o, UNITS(3));
        if (setups[i] == 3)
            request_cancel(&o, 2);
        if (setups[i] == 4)
            request_replace(&o, 2, UNITS(20), PX);
        int64_t cum = o.cum_qty;
        applied(&o, ev_of(&o, DESK_EV_EXPIRED));
        assert_int_equal(o.status, DESK_OS_EXPIRED);
        assert_int_equal(o.leaves_qty, 0);
        assert_int_equal(o.cum_qty, cum);
        assert_int_equal(o.req_cl_ord_id, 0);
        refused(&o, ev_of(&o, DESK_EV_EXPIRED), DESK_ORD_INVALID);
        refused(&o, fill_of(&o, 1, 0), DESK_ORD_INVALID);
    }
}

/* desk_order_invariant() itself: it must catch each kind of breakage, or
 * the checks after every step above would prove nothing. */
static void test_invariant_detects(void **state)
{
    desk_order_t o;

    (void)state;
    fresh(&o, UNITS(10));
    assert_true(desk_order_invariant(&o));
    o.leaves_qty = UNITS(10) - 1; /* live: cum + leaves != qty */
    assert_false(desk_order_invariant(&o));
    o.leaves_qty = UNITS(10) + 1;
    assert_false(desk_order_invariant(&o));
    fresh(&o, UNITS(10));
    o.status = DESK_OS_PARTIALLY_FILLED;
    o.cum_qty = UNITS(11); /* more than ordered */
    o.leaves_qty = -UNITS(1);
    assert_false(desk_order_invariant(&o));
    o.cum_qty = -1;
    o.leaves_qty = UNITS(10) + 1;
    assert_false(desk_order_invariant(&o));
    static const uint8_t pend[] = {DESK_OS_PENDING_CANCEL, DESK_OS_PENDING_REPLACE};
    for (size_t i = 0; i < sizeof pend; i++) {
        fresh(&o, UNITS(10));
        o.status = pend[i];
        o.cum_qty = UNITS(3);
        o.leaves_qty = UNITS(7);
        assert_true(desk_order_invariant(&o));
        o.leaves_qty = UNITS(6);
        assert_false(desk_order_invariant(&o));
    }
    /* Done: leaves 0; Filled also needs cum == qty. */
    static const uint8_t done[] = {DESK_OS_CANCELED, DESK_OS_EXPIRED, DESK_OS_REJECTED};
    for (size_t i = 0; i < sizeof done; i++) {
        fresh(&o, UNITS(10));
        o.status = done[i];
        o.cum_qty = UNITS(3);
        o.leaves_qty = 0;
        assert_true(desk_order_invariant(&o));
        o.leaves_qty = UNITS(7); /* FIX reports LeavesQty 0 when done */
        assert_false(desk_order_invariant(&o));
    }
    fresh(&o, UNITS(10));
    o.status = DESK_OS_FILLED;
    o.cum_qty = UNITS(10);
    o.leaves_qty = 0;
    assert_true(desk_order_invariant(&o));
    o.cum_qty = UNITS(10) - 1;
    assert_false(desk_order_invariant(&o));
    o.cum_qty = UNITS(10);
    o.leaves_qty = 1;
    assert_false(desk_order_invariant(&o));
}

/* ---- the (state x event) matrix ------------------------------------------- */

enum st { S_PN, S_NEW, S_PF, S_PC, S_PR, S_FILLED, S_FILLED_REQ, S_CANCELED, S_EXPIRED,
          S_REJECTED, S__N };
static const char *const st_name[S__N] = {"PendingNew", "New", "PartiallyFilled",
                                          "PendingCancel", "PendingReplace", "Filled",
                                          "Filled+req", "Canceled", "Expired", "Rejected"};

/* Put a fresh order of 10 into a state (PF, PC and PR have 3 filled). */
static void make(desk_order_t *o, enum st s)
{
    fresh(o, UNITS(10));
    switch (s) {
    case S_PN:
        break;
    case S_NEW:
        ack(o);
        break;
    case S_PF:
        ack(o);
        fill(o, UNITS(3));
        break;
    case S_PC:
        ack(o);
        fill(o, UNITS(3));
        request_cancel(o, 2);
        break;
    case S_PR:
        ack(o);
        fill(o, UNITS(3));
        request_replace(o, 2, UNITS(12), UNITS(101));
        break;
    case S_FILLED:
        ack(o);
        fill(o, UNITS(10));
        break;
    case S_FILLED_REQ:
        ack(o);
        request_cancel(o, 2);
        fill(o, UNITS(10));
        break;
    case S_CANCELED:
        ack(o);
        fill(o, UNITS(3));
        applied(o, ev_of(o, DESK_EV_CANCELED));
        break;
    case S_EXPIRED:
        ack(o);
        applied(o, ev_of(o, DESK_EV_EXPIRED));
        break;
    case S_REJECTED:
        applied(o, ev_of(o, DESK_EV_REJECT));
        break;
    default:
        fail();
    }
    assert_true(desk_order_invariant(o));
}

enum evk { E_ACK, E_FILL, E_FILL_ALL, E_FILL_OVER, E_FILL_ZERO, E_FILL_NEG, E_FILL_NOPX,
           E_CANCELED, E_EXPIRED, E_REJECT, E_REPLACED, E_CANCEL_REJECT, E_TYPE0, E_TYPE99,
           E__N };
static const char *const ev_name[E__N] = {"ACK",      "FILL",    "FILL leaves", "FILL leaves+1e-8",
                                          "FILL 0",   "FILL <0", "FILL px 0",   "CANCELED",
                                          "EXPIRED",  "REJECT",  "REPLACED",    "CANCEL_REJECT",
                                          "type 0",   "type 99"};

static desk_vevent_t make_ev(const desk_order_t *o, enum evk k)
{
    switch (k) {
    case E_ACK:
        return ev_of(o, DESK_EV_ACK);
    case E_FILL:
        return fill_of(o, UNITS(1), 0);
    case E_FILL_ALL:
        return fill_of(o, o->leaves_qty, 0);
    case E_FILL_OVER:
        return fill_of(o, o->leaves_qty + 1, 0);
    case E_FILL_ZERO:
        return fill_of(o, 0, 0);
    case E_FILL_NEG:
        return fill_of(o, -UNITS(1), 0);
    case E_FILL_NOPX: {
        desk_vevent_t e = fill_of(o, UNITS(1), 0);
        e.last_px = 0;
        return e;
    }
    case E_CANCELED:
        return ev_of(o, DESK_EV_CANCELED);
    case E_EXPIRED:
        return ev_of(o, DESK_EV_EXPIRED);
    case E_REJECT:
        return ev_of(o, DESK_EV_REJECT);
    case E_REPLACED:
        return ev_of(o, DESK_EV_REPLACED);
    case E_CANCEL_REJECT:
        return ev_of(o, DESK_EV_CANCEL_REJECT);
    case E_TYPE0:
        return ev_of(o, 0);
    case E_TYPE99:
    default:
        return ev_of(o, 99);
    }
}

static int live_state(enum st s)
{
    return s == S_PN || s == S_NEW || s == S_PF || s == S_PC || s == S_PR;
}

/* The status after an accepted event, or -1 if the event must be refused:
 * order.h's diagram, written out independently. */
static int expect(enum st s, enum evk k)
{
    static const int status_of[S__N] = {
        DESK_OS_PENDING_NEW, DESK_OS_NEW,      DESK_OS_PARTIALLY_FILLED, DESK_OS_PENDING_CANCEL,
        DESK_OS_PENDING_REPLACE, DESK_OS_FILLED, DESK_OS_FILLED,       DESK_OS_CANCELED,
        DESK_OS_EXPIRED,     DESK_OS_REJECTED};
    switch (k) {
    case E_ACK:
        return s == S_PN ? DESK_OS_NEW : -1;
    case E_FILL:
        if (!live_state(s))
            return -1;
        /* a pending request stays pending; otherwise PartiallyFilled */
        return s == S_PC || s == S_PR ? status_of[s] : DESK_OS_PARTIALLY_FILLED;
    case E_FILL_ALL:
        return live_state(s) ? DESK_OS_FILLED : -1;
    case E_FILL_OVER:
    case E_FILL_ZERO:
    case E_FILL_NEG:
    case E_FILL_NOPX:
        return -1;
    case E_CANCELED:
        return live_state(s) ? DESK_OS_CANCELED : -1;
    case E_EXPIRED:
        return live_state(s) ? DESK_OS_EXPIRED : -1;
    case E_REJECT:
        return s == S_PN ? DESK_OS_REJECTED : -1;
    case E_REPLACED:
        return s == S_PR ? DESK_OS_PARTIALLY_FILLED : -1; /* 3 of the new 12 filled */
    case E_CANCEL_REJECT:
        if (s == S_PC || s == S_PR)
            return DESK_OS_PARTIALLY_FILLED; /* prev_status */
        return s == S_FILLED_REQ ? DESK_OS_FILLED : -1;
    default:
        return -1;
    }
}

static void test_state_event_matrix(void **state)
{
    desk_order_t o, before;

    (void)state;
    for (int s = 0; s < S__N; s++) {
        for (int k = 0; k < E__N; k++) {
            make(&o, (enum st)s);
            before = o;
            desk_vevent_t e = make_ev(&o, (enum evk)k);
            int want = expect((enum st)s, (enum evk)k);
            desk_ord_result_t r = desk_order_apply(&o, &e);
            if ((want < 0) != (r != DESK_ORD_APPLIED) ||
                (want >= 0 && o.status != (uint8_t)want)) {
                print_error("%s + %s: result %d status %s, want %s\n", st_name[s], ev_name[k],
                            (int)r, desk_ord_status_name(o.status),
                            want < 0 ? "refused" : desk_ord_status_name((unsigned)want));
                fail();
            }
            if (want < 0) {
                assert_int_equal(r, DESK_ORD_INVALID);
                assert_memory_equal(&before, &o, sizeof o);
            }
            assert_true(desk_order_invariant(&o));
            /* Whatever happened, a fill is counted at most once. */
            if (r == DESK_ORD_APPLIED && e.type == DESK_EV_FILL) {
                assert_int_equal(o.cum_qty, before.cum_qty + e.last_qty);
                assert_int_equal(desk_order_apply(&o, &e), DESK_ORD_DUPLICATE);
            } else {
                assert_int_equal(o.cum_qty, before.cum_qty);
            }
        }
    }
}

/* A few illegal events spelled out (the matrix covers them all). */
static void test_illegal_examples(void **state)
{
    desk_order_t o;

    (void)state;
    make(&o, S_CANCELED);
    refused(&o, fill_of(&o, UNITS(1), UNITS(4)), DESK_ORD_INVALID); /* fill after cancel */
    make(&o, S_NEW);
    refused(&o, ev_of(&o, DESK_EV_ACK), DESK_ORD_INVALID); /* ack twice */
    refused(&o, fill_of(&o, UNITS(10) + 1, 0), DESK_ORD_INVALID); /* larger than leaves */
    refused(&o, ev_of(&o, DESK_EV_REPLACED), DESK_ORD_INVALID);   /* not pending */
    refused(&o, ev_of(&o, DESK_EV_REJECT), DESK_ORD_INVALID);     /* reject after ack */
    make(&o, S_PC);
    refused(&o, ev_of(&o, DESK_EV_REPLACED), DESK_ORD_INVALID); /* a cancel is pending */
    make(&o, S_FILLED);
    refused(&o, ev_of(&o, DESK_EV_CANCELED), DESK_ORD_INVALID);
    refused(&o, ev_of(&o, DESK_EV_EXPIRED), DESK_ORD_INVALID);
    refused(&o, ev_of(&o, DESK_EV_CANCEL_REJECT), DESK_ORD_INVALID);
}

/*
 * A status answer after a restart says "live" with an ACK (DESK_VEV_STATUS):
 * it moves a PendingNew order to New like any ack, is a repeat (DUPLICATE,
 * nothing changes) for an order already acknowledged, and does not fit a
 * done one (INVALID).
 */
static void test_status_ack(void **state)
{
    static const enum st repeat[] = {S_NEW, S_PF, S_PC, S_PR};
    static const enum st done[] = {S_FILLED, S_FILLED_REQ, S_CANCELED, S_EXPIRED, S_REJECTED};
    desk_order_t o;
    desk_vevent_t a;

    (void)state;
    make(&o, S_PN);
    a = ev_of(&o, DESK_EV_ACK);
    a.flags = DESK_VEV_STATUS;
    applied(&o, a);
    assert_int_equal(o.status, DESK_OS_NEW);
    for (size_t k = 0; k < sizeof repeat / sizeof repeat[0]; k++) {
        make(&o, repeat[k]);
        a = ev_of(&o, DESK_EV_ACK);
        a.flags = DESK_VEV_STATUS;
        refused(&o, a, DESK_ORD_DUPLICATE);
    }
    for (size_t k = 0; k < sizeof done / sizeof done[0]; k++) {
        make(&o, done[k]);
        a = ev_of(&o, DESK_EV_ACK);
        a.flags = DESK_VEV_STATUS;
        refused(&o, a, DESK_ORD_INVALID);
    }
    /* A cancel sent before the ack: the status ack is the first ack, taken
     * as the status a refused cancel returns to. */
    fresh(&o, UNITS(10));
    request_cancel(&o, 2);
    a = ev_of(&o, DESK_EV_ACK);
    a.flags = DESK_VEV_STATUS;
    applied(&o, a);
    assert_int_equal(o.status, DESK_OS_PENDING_CANCEL);
    assert_int_equal(o.prev_status, DESK_OS_NEW);
}

/*
 * The router sends a cancel (or replace) for an order still PendingNew
 * (router.c handle_cancel_replace refuses only terminal and pending-request
 * orders), which FIX allows.  The venue's ack for the order itself may then
 * arrive while the cancel is in flight; it must be taken (remembered as the
 * status a cancel reject returns to), or a refused cancel would put a live,
 * acknowledged order back to PendingNew for good.
 */
static void test_ack_while_cancel_pending_before_ack(void **state)
{
    desk_order_t o;

    (void)state;
    fresh(&o, UNITS(10));
    request_cancel(&o, 2);
    assert_int_equal(o.prev_status, DESK_OS_PENDING_NEW);
    desk_vevent_t a = ev_of(&o, DESK_EV_ACK);
    assert_int_equal(desk_order_apply(&o, &a), DESK_ORD_APPLIED);
    assert_int_equal(o.status, DESK_OS_PENDING_CANCEL);
    assert_int_equal(o.prev_status, DESK_OS_NEW);
    applied(&o, ev_of(&o, DESK_EV_CANCEL_REJECT));
    assert_int_equal(o.status, DESK_OS_NEW);
}

/* Same race, the venue refusing the order itself: the order is done
 * (Rejected, leaves 0); otherwise it stays live forever with its cash
 * reserved once the venue also refuses the cancel of an unknown order. */
static void test_reject_while_cancel_pending_before_ack(void **state)
{
    desk_order_t o;

    (void)state;
    fresh(&o, UNITS(10));
    request_cancel(&o, 2);
    desk_vevent_t r = ev_of(&o, DESK_EV_REJECT);
    assert_int_equal(desk_order_apply(&o, &r), DESK_ORD_APPLIED);
    assert_int_equal(o.status, DESK_OS_REJECTED);
    assert_int_equal(o.leaves_qty, 0);
    assert_true(desk_order_invariant(&o));
}

/* ---- duplicates ------------------------------------------------------------ */

static void test_duplicate_exec_id(void **state)
{
    desk_order_t o;

    (void)state;
    fresh(&o, UNITS(10));
    ack(&o);
    desk_vevent_t f1 = fill_of(&o, UNITS(3), UNITS(3));
    applied(&o, f1);
    /* The same exec id again, even with another qty or no venue cum. */
    refused(&o, f1, DESK_ORD_DUPLICATE);
    f1.cum_qty = 0;
    refused(&o, f1, DESK_ORD_DUPLICATE);
    f1.last_qty = UNITS(1);
    f1.cum_qty = UNITS(4);
    refused(&o, f1, DESK_ORD_DUPLICATE);
    assert_int_equal(o.cum_qty, UNITS(3));

    /* A new exec id whose venue cum does not advance: the same fill under
     * another id (a venue resend).  Equal and smaller both. */
    refused(&o, fill_of(&o, UNITS(1), UNITS(3)), DESK_ORD_DUPLICATE);
    refused(&o, fill_of(&o, UNITS(1), UNITS(2)), DESK_ORD_DUPLICATE);
    refused(&o, fill_of(&o, UNITS(1), 1), DESK_ORD_DUPLICATE);
    /* No venue cum (0): judged by exec id alone, counted. */
    fill(&o, UNITS(1));
    assert_int_equal(o.cum_qty, UNITS(4));

    /* Pending states count duplicates the same way. */
    desk_vevent_t f2 = fill_of(&o, UNITS(1), UNITS(5));
    request_cancel(&o, 2);
    applied(&o, f2);
    refused(&o, f2, DESK_ORD_DUPLICATE);
    assert_int_equal(o.cum_qty, UNITS(5));

    /* After the order is done, a resend is still a duplicate (not an
     * invalid event), and still not counted. */
    desk_vevent_t last = fill_of(&o, UNITS(5), UNITS(10));
    applied(&o, last);
    assert_int_equal(o.status, DESK_OS_FILLED);
    refused(&o, last, DESK_ORD_DUPLICATE);
    refused(&o, f1, DESK_ORD_DUPLICATE);
    assert_int_equal(o.cum_qty, UNITS(10));
}

/* The exec id memory is a ring of DESK_ORDER_EXEC_MEMORY: the last ones are
 * remembered, and the venue cum qty still catches older resends. */
static void test_duplicate_exec_memory(void **state)
{
    desk_order_t o;
    desk_vevent_t sent[3 * DESK_ORDER_EXEC_MEMORY];
    const int n = 3 * DESK_ORDER_EXEC_MEMORY;

    (void)state;
    fresh(&o, UNITS(100));
    ack(&o);
    for (int i = 0; i < n; i++) {
        sent[i] = fill_of(&o, UNITS(1), UNITS(i + 1));
        applied(&o, sent[i]);
        /* Every fill so far, resent with its venue cum, is a duplicate. */
        for (int j = 0; j <= i; j++)
            refused(&o, sent[j], DESK_ORD_DUPLICATE);
        /* The remembered window is caught by exec id alone. */
        for (int j = i + 1 - DESK_ORDER_EXEC_MEMORY; j <= i; j++) {
            if (j < 0)
                continue;
            desk_vevent_t e = sent[j];
            e.cum_qty = 0;
            refused(&o, e, DESK_ORD_DUPLICATE);
        }
    }
    assert_int_equal(o.cum_qty, UNITS(n));
}

/* ---- random sequences ------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: fixed seed, reproducible. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static int64_t rnd_range(int64_t lo, int64_t hi) /* [lo, hi] */
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

#define RND_ORDERS 24
#define RND_HIST 8

struct shadow {
    int64_t cum;                  /* sum of fills we saw applied */
    desk_vevent_t hist[RND_HIST]; /* recent applied fills, to resend */
    int nhist;
};

static void random_run(uint64_t seed, int steps)
{
    desk_orders_t t;
    desk_order_t *ord[RND_ORDERS];
    struct shadow sh[RND_ORDERS];
    uint64_t clid = 1;
    long counts[3] = {0, 0, 0};

    rng_state = seed;
    table_init(&t, 64);
    memset(sh, 0, sizeof sh);
    for (int i = 0; i < RND_ORDERS; i++)
        ord[i] = make_order(&t, 0, clid++, UNITS(rnd_range(1, 50)), 0);

    for (int step = 0; step < steps; step++) {
        int i = (int)(rnd() % RND_ORDERS);
        desk_order_t *o = ord[i];
        struct shadow *s = &sh[i];
        desk_order_t before = *o;
        desk_vevent_t e;
        unsigned pick = (unsigned)(rnd() % 100);

        /* Finished orders are eventually replaced by new ones. */
        if (desk_ord_terminal(o->status) && pick < 15) {
            desk_orders_finish(&t, o);
            ord[i] = make_order(&t, 0, clid++, UNITS(rnd_range(1, 50)), 0);
            memset(s, 0, sizeof *s);
            continue;
        }
        /* The router's requests: only on an open order with none in flight. */
        if (pick < 25 && !desk_ord_terminal(o->status) &&
            o->status != DESK_OS_PENDING_CANCEL && o->status != DESK_OS_PENDING_REPLACE) {
            if (rnd() & 1) {
                request_cancel(o, clid++);
            } else {
                int64_t nq = rnd_range(0, o->qty / DESK_SCALE * 2 + 2) * DESK_SCALE;
                request_replace(o, clid++, nq, UNITS(rnd_range(90, 110)));
            }
            assert_true(desk_order_invariant(o));
            continue;
        }
        if (pick < 33 && s->nhist > 0) {
            /* Resend a fill already applied: always a duplicate. */
            e = s->hist[rnd() % (uint64_t)(s->nhist < RND_HIST ? s->nhist : RND_HIST)];
            if (rnd() & 1)
                e.cum_qty = 0; /* still within the exec id memory */
            desk_ord_result_t r = desk_order_apply(o, &e);
            assert_int_equal(r, DESK_ORD_DUPLICATE);
            assert_memory_equal(&before, o, sizeof before);
            counts[r]++;
            continue;
        }
        if (pick < 70) {
            /* A fill: mostly fitting, sometimes too large, bad or stale. */
            int64_t leaves = o->leaves_qty;
            int64_t q;
            unsigned how = (unsigned)(rnd() % 10);
            if (how == 0)
                q = leaves + rnd_range(1, UNITS(2));
            else if (how == 1)
                q = -rnd_range(0, 3);
            else
                q = leaves > 0 ? rnd_range(1, leaves) : rnd_range(1, UNITS(1));
            e = fill_of(o, q, 0);
            unsigned cum_mode = (unsigned)(rnd() % 4);
            if (cum_mode == 1)
                e.cum_qty = o->cum_qty + q; /* the venue's correct cum */
            else if (cum_mode == 2 && o->cum_qty > 0)
                e.cum_qty = rnd_range(1, o->cum_qty); /* stale: a resend */
            if (rnd() % 50 == 0)
                e.last_px = 0;
        } else {
            static const uint8_t types[] = {DESK_EV_ACK,     DESK_EV_ACK,      DESK_EV_CANCELED,
                                            DESK_EV_EXPIRED, DESK_EV_REJECT,   DESK_EV_REPLACED,
                                            DESK_EV_REPLACED, DESK_EV_CANCEL_REJECT,
                                            DESK_EV_CANCEL_REJECT, 0};
            e = ev_of(o, types[rnd() % sizeof types]);
        }
        desk_ord_result_t r = desk_order_apply(o, &e);
        assert_true(r == DESK_ORD_APPLIED || r == DESK_ORD_INVALID || r == DESK_ORD_DUPLICATE);
        counts[r]++;
        if (!desk_order_invariant(o)) {
            print_error("seed %llu step %d: invariant broken after %s on %s\n",
                        (unsigned long long)seed, step, desk_event_type_name(e.type),
                        desk_ord_status_name(before.status));
            fail();
        }
        assert_true(o->status < DESK_OS__COUNT);
        assert_true(o->status != DESK_OS_REPLACED); /* transient: never rests */
        if (!desk_ord_terminal(o->status))
            assert_true(o->leaves_qty > 0);
        if (r != DESK_ORD_APPLIED) {
            assert_memory_equal(&before, o, sizeof before);
        } else if (e.type == DESK_EV_FILL) {
            assert_false(desk_ord_terminal(before.status));
            assert_true(e.last_qty > 0 && e.last_qty <= before.leaves_qty);
            s->cum += e.last_qty;
            s->hist[s->nhist++ % RND_HIST] = e;
        } else {
            assert_int_equal(o->cum_qty, before.cum_qty);
        }
        assert_int_equal(o->cum_qty, s->cum);
    }
    /* Every outcome was exercised. */
    assert_true(counts[DESK_ORD_APPLIED] > steps / 20);
    assert_true(counts[DESK_ORD_INVALID] > steps / 50);
    assert_true(counts[DESK_ORD_DUPLICATE] > steps / 50);
    desk_orders_fini(&t);
}

static void test_random_sequences(void **state)
{
    (void)state;
    static const uint64_t seeds[] = {1, 0x9e3779b97f4a7c15ull, 20240601, 0xdeadbeefcafef00dull};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
        random_run(seeds[i], 50000);
}

/* ---- the table ------------------------------------------------------------- */

static void test_init_capacity(void **state)
{
    desk_orders_t t;
    static const uint32_t bad[] = {0, 1, 3, 6, 100, (1u << 24) + 1, 1u << 25};

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(desk_orders_init(&t, bad[i], 0), -EINVAL);
        desk_orders_fini(&t); /* safe after a failed init */
    }
    table_init(&t, 2);
    assert_int_equal(t.live, 0);
    assert_int_equal(t.used, 0);
    desk_orders_fini(&t);
    assert_null(t.slot);
    table_init(&t, 1024);
    desk_orders_fini(&t);
}

static void test_alloc_fields(void **state)
{
    desk_orders_t t;

    (void)state;
    table_init(&t, 2);
    desk_order_t *a = desk_orders_alloc(&t);
    desk_order_t *b = desk_orders_alloc(&t);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a != b);
    assert_int_equal(desk_order_slot(a), 0);
    assert_int_equal(desk_order_slot(b), 1);
    assert_int_equal(a->status, DESK_OS_PENDING_NEW);
    assert_int_equal(a->in_use, 1);
    assert_true(a->order_id >> 32 != 0);
    assert_true(a->order_id != b->order_id);
    assert_ptr_equal(desk_orders_by_id(&t, a->order_id), a);
    assert_ptr_equal(desk_orders_by_id(&t, b->order_id), b);
    assert_int_equal(t.live, 2);
    assert_int_equal(t.used, 2);
    /* Dirty a slot, finish it; its next order starts clean. */
    uint64_t old_id = a->order_id;
    a->cl_ord_id = 77;
    a->qty = a->cum_qty = UNITS(5);
    a->exec_ids[3] = 99;
    a->nexec = 4;
    a->status = DESK_OS_FILLED;
    desk_orders_finish(&t, a);
    assert_int_equal(t.live, 1);
    assert_int_equal(t.used, 2);
    desk_order_t *c = desk_orders_alloc(&t);
    assert_ptr_equal(c, a);
    assert_true(c->order_id != old_id);
    assert_int_equal(desk_order_slot(c), 0);
    assert_int_equal(c->status, DESK_OS_PENDING_NEW);
    assert_int_equal(c->cl_ord_id, 0);
    assert_int_equal(c->qty, 0);
    assert_int_equal(c->cum_qty, 0);
    assert_int_equal(c->nexec, 0);
    for (int i = 0; i < DESK_ORDER_EXEC_MEMORY; i++)
        assert_int_equal(c->exec_ids[i], 0);
    assert_null(desk_orders_by_id(&t, old_id));
    assert_int_equal(t.live, 2);
    assert_int_equal(t.used, 2);
    /* Ids out of range, or never issued. */
    assert_null(desk_orders_by_id(&t, 2));
    assert_null(desk_orders_by_id(&t, UINT64_C(0xffffffff)));
    assert_null(desk_orders_by_id(&t, b->order_id + (UINT64_C(1) << 32)));
    desk_orders_fini(&t);
}

static void test_capacity_exhaustion(void **state)
{
    desk_orders_t t;
    desk_order_t *o[4];

    (void)state;
    table_init(&t, 4);
    for (int i = 0; i < 4; i++) {
        o[i] = desk_orders_alloc(&t);
        assert_non_null(o[i]);
    }
    assert_null(desk_orders_alloc(&t));
    assert_null(desk_orders_alloc(&t));
    assert_int_equal(t.live, 4);
    /* One finishes: exactly one more fits. */
    uint64_t old = o[2]->order_id;
    o[2]->status = DESK_OS_CANCELED;
    desk_orders_finish(&t, o[2]);
    desk_order_t *n = desk_orders_alloc(&t);
    assert_ptr_equal(n, o[2]);
    assert_true(n->order_id != old);
    assert_null(desk_orders_alloc(&t));
    /* All finish: all four come back. */
    for (int i = 0; i < 4; i++) {
        o[i]->status = DESK_OS_FILLED;
        desk_orders_finish(&t, o[i]);
    }
    assert_int_equal(t.live, 0);
    for (int i = 0; i < 4; i++)
        assert_non_null(desk_orders_alloc(&t));
    assert_null(desk_orders_alloc(&t));
    desk_orders_fini(&t);
}

/* Finished slots are reused oldest first, and only after every never-used
 * slot; a finished order stays findable until its slot is taken. */
static void test_fifo_reuse(void **state)
{
    desk_orders_t t;
    desk_order_t *o[4];
    uint64_t id[4];

    (void)state;
    table_init(&t, 8);
    for (int i = 0; i < 4; i++) {
        o[i] = new_order(&t, 1, 100 + (uint64_t)i, UNITS(1));
        id[i] = o[i]->order_id;
        assert_int_equal(desk_order_slot(o[i]), i);
    }
    /* Finish 1, then 3, then 0. */
    int order[3] = {1, 3, 0};
    for (int k = 0; k < 3; k++) {
        applied(o[order[k]], ev_of(o[order[k]], DESK_EV_CANCELED));
        desk_orders_finish(&t, o[order[k]]);
    }
    /* The four never-used slots go first. */
    for (uint32_t s = 4; s < 8; s++) {
        desk_order_t *n = new_order(&t, 1, 200 + s, UNITS(1));
        assert_int_equal(desk_order_slot(n), s);
        /* Meanwhile the finished orders are all still there. */
        for (int k = 0; k < 3; k++) {
            int j = order[k];
            assert_ptr_equal(desk_orders_by_id(&t, id[j]), o[j]);
            assert_ptr_equal(desk_orders_by_clid(&t, 1, 100 + (uint64_t)j), o[j]);
            assert_int_equal(o[j]->status, DESK_OS_CANCELED);
        }
    }
    /* Then the finished ones, in the order they finished. */
    for (int k = 0; k < 3; k++) {
        int j = order[k];
        desk_order_t *n = new_order(&t, 1, 300 + (uint64_t)k, UNITS(1));
        assert_int_equal(desk_order_slot(n), j);
        assert_null(desk_orders_by_id(&t, id[j]));
        assert_null(desk_orders_by_clid(&t, 1, 100 + (uint64_t)j));
        assert_true(desk_orders_clid_seen(&t, 1, 100 + (uint64_t)j)); /* still a used id */
        /* the ones not yet reused are still findable */
        for (int m = k + 1; m < 3; m++)
            assert_ptr_equal(desk_orders_by_id(&t, id[order[m]]), o[order[m]]);
    }
    /* Order 2 never finished: still live, and the table is full. */
    assert_ptr_equal(desk_orders_by_id(&t, id[2]), o[2]);
    assert_null(desk_orders_alloc(&t));
    assert_int_equal(t.live, 8);
    assert_int_equal(t.used, 8);
    desk_orders_fini(&t);
}

/* Recovery: orders restored at their ids, then the free list rebuilt:
 * never-used slots first, then finished orders oldest (lowest generation)
 * first; a live slot cannot be restored twice; generations go on above. */
static void test_restore_and_rebuild(void **state)
{
    desk_orders_t t;

    (void)state;
    table_init(&t, 8);
    /* As a journal would name them: slot 5 (gen 9) live, slot 1 (gen 3)
     * and slot 6 (gen 2) finished, slot 1 finished after slot 6. */
    desk_order_t *a = desk_orders_restore(&t, (UINT64_C(9) << 32) | 5);
    desk_order_t *b = desk_orders_restore(&t, (UINT64_C(3) << 32) | 1);
    desk_order_t *c = desk_orders_restore(&t, (UINT64_C(2) << 32) | 6);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_null(desk_orders_restore(&t, (UINT64_C(11) << 32) | 5)); /* slot 5 is live */
    assert_null(desk_orders_restore(&t, 8));                        /* out of range */
    assert_int_equal(t.live, 3);
    assert_true(t.generation == 9);
    b->qty = c->qty = UNITS(1);
    b->leaves_qty = c->leaves_qty = UNITS(1);
    applied(c, ev_of(c, DESK_EV_CANCELED));
    desk_orders_finish(&t, c);
    applied(b, ev_of(b, DESK_EV_CANCELED));
    desk_orders_finish(&t, b);
    desk_orders_rebuild_free(&t);
    const uint32_t want[] = {0, 2, 3, 4, 7, 6, 1}; /* never used, then gen 2, gen 3 */
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        desk_order_t *n = desk_orders_alloc(&t);
        assert_non_null(n);
        assert_int_equal(desk_order_slot(n), want[k]);
        assert_true((n->order_id >> 32) > 9); /* ids never repeat */
    }
    assert_null(desk_orders_alloc(&t)); /* slot 5 is still live */
    assert_ptr_equal(desk_orders_by_id(&t, (UINT64_C(9) << 32) | 5), a);
    desk_orders_fini(&t);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_ids_never_repeat(void **state)
{
    desk_orders_t t;
    enum { N = 20000 };
    uint64_t *ids = calloc(N, sizeof *ids);
    desk_order_t *live[4] = {0};

    (void)state;
    assert_non_null(ids);
    table_init(&t, 4);
    rng_state = 42;
    for (int i = 0; i < N; i++) {
        int k = (int)(rnd() % 4);
        if (live[k]) {
            live[k]->status = DESK_OS_FILLED;
            desk_orders_finish(&t, live[k]);
        }
        live[k] = desk_orders_alloc(&t);
        assert_non_null(live[k]);
        ids[i] = live[k]->order_id;
        assert_true(ids[i] != 0);
        assert_true((ids[i] & 0xffffffffu) < 4);
    }
    qsort(ids, N, sizeof *ids, cmp_u64);
    for (int i = 1; i < N; i++)
        assert_true(ids[i] != ids[i - 1]);
    free(ids);
    desk_orders_fini(&t);
}

static void test_clid_index(void **state)
{
    desk_orders_t t;

    (void)state;
    table_init(&t, 8);
    desk_order_t *o = new_order(&t, 0, 100, UNITS(10));
    /* Duplicates are refused, per strategy. */
    assert_int_equal(desk_orders_clid_add(&t, 0, 100, desk_order_slot(o)), -EEXIST);
    assert_int_equal(desk_orders_clid_add(&t, 0, 100, UINT32_MAX), -EEXIST);
    assert_int_equal(desk_orders_clid_add(&t, 1, 100, UINT32_MAX), 0);
    assert_int_equal(desk_orders_clid_add(&t, 1, 100, UINT32_MAX), -EEXIST);
    assert_int_equal(t.clid_used, 2);
    assert_ptr_equal(desk_orders_by_clid(&t, 0, 100), o);
    assert_null(desk_orders_by_clid(&t, 1, 100)); /* seen, names no order */
    assert_true(desk_orders_clid_seen(&t, 1, 100));
    assert_true(desk_orders_clid_seen(&t, 0, 100));
    assert_false(desk_orders_clid_seen(&t, 0, 101));
    assert_false(desk_orders_clid_seen(&t, 2, 100));
    assert_null(desk_orders_by_clid(&t, 0, 101));
    assert_null(desk_orders_by_clid(&t, 0, 0));
    assert_false(desk_orders_clid_seen(&t, 0, 0));

    /* A replace: the new id is recorded for the slot when requested, but
     * names the order only once the venue confirms; then only it does. */
    ack(o);
    assert_int_equal(desk_orders_clid_add(&t, 0, 101, desk_order_slot(o)), 0);
    request_replace(o, 101, UNITS(12), UNITS(101));
    assert_ptr_equal(desk_orders_by_clid(&t, 0, 100), o);
    assert_null(desk_orders_by_clid(&t, 0, 101));
    applied(o, ev_of(o, DESK_EV_REPLACED));
    assert_ptr_equal(desk_orders_by_clid(&t, 0, 101), o);
    assert_null(desk_orders_by_clid(&t, 0, 100));
    assert_true(desk_orders_clid_seen(&t, 0, 100));
    /* Another strategy's same number never finds it. */
    assert_null(desk_orders_by_clid(&t, 1, 101));

    /* Finished, it is still found (kept until its slot is reused). */
    applied(o, ev_of(o, DESK_EV_CANCELED));
    desk_orders_finish(&t, o);
    assert_ptr_equal(desk_orders_by_clid(&t, 0, 101), o);
    assert_int_equal(o->status, DESK_OS_CANCELED);
    desk_orders_fini(&t);
}

/* The index keeps one entry in four empty: capacity * 3 ids, then -ENOSPC;
 * every id stays findable, and a miss still terminates. */
static void test_clid_index_full(void **state)
{
    static const uint32_t caps[] = {2, 4, 1024};

    (void)state;
    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
        desk_orders_t t;
        uint32_t n = caps[c] * 3;
        table_init(&t, caps[c]);
        for (uint32_t i = 0; i < n; i++)
            assert_int_equal(desk_orders_clid_add(&t, (uint16_t)(i % 3), 1 + i / 3, UINT32_MAX), 0);
        assert_int_equal(desk_orders_clid_add(&t, 0, 999999, UINT32_MAX), -ENOSPC);
        assert_int_equal(desk_orders_clid_add(&t, 7, 1, UINT32_MAX), -ENOSPC);
        assert_int_equal(t.clid_used, n);
        for (uint32_t i = 0; i < n; i++)
            assert_true(desk_orders_clid_seen(&t, (uint16_t)(i % 3), 1 + i / 3));
        assert_false(desk_orders_clid_seen(&t, 0, 999999));
        assert_false(desk_orders_clid_seen(&t, 3, 1));
        assert_null(desk_orders_by_clid(&t, 0, 999999));
        desk_orders_fini(&t);
    }
}

/* desk_cmd.cl_ord_id is "any nonzero number"; 0 marks an empty index entry.
 * Adding 0 must be refused: stored, it is unfindable (by_clid and seen
 * answer "never seen"), takes index capacity, and a second order with
 * ClOrdID 0 is not caught as a duplicate. */
static void test_clid_zero_refused(void **state)
{
    desk_orders_t t;

    (void)state;
    table_init(&t, 2);
    int r1 = desk_orders_clid_add(&t, 0, 0, 0);
    int r2 = desk_orders_clid_add(&t, 0, 0, 1);
    uint64_t used = t.clid_used;
    desk_orders_fini(&t);
    assert_int_equal(used, 0);
    assert_true(r1 < 0);
    assert_true(r2 < 0);
}

/* The ClOrdID budget is its own setting, apart from the order capacity. */
static void test_clid_budget(void **state)
{
    (void)state;
    desk_orders_t t;

    assert_int_equal(desk_orders_init(&t, 8, 10), 0);
    for (uint64_t id = 1; id <= 10; id++)
        assert_int_equal(desk_orders_clid_add(&t, 0, id, UINT32_MAX), 0);
    assert_int_equal(desk_orders_clid_add(&t, 0, 11, UINT32_MAX), -ENOSPC);
    assert_int_equal(desk_orders_clid_add(&t, 0, 5, UINT32_MAX), -ENOSPC); /* full first */
    assert_true(desk_orders_clid_seen(&t, 0, 10));
    assert_false(desk_orders_clid_seen(&t, 0, 11));
    desk_orders_fini(&t);
    assert_int_equal(desk_orders_init(&t, 8, (1ull << 30) + 1), -EINVAL);
}

/* The live list holds exactly the orders not finished, whatever the order
 * of allocation and finishing. */
static void test_live_list(void **state)
{
    (void)state;
    desk_orders_t t;
    desk_order_t *o[6];
    uint32_t seed = 7;

    assert_int_equal(desk_orders_init(&t, 8, 0), 0);
    assert_null(desk_orders_live_first(&t));
    for (int round = 0; round < 200; round++) {
        int n = 0;
        for (int i = 0; i < 6; i++)
            if ((o[i] = desk_orders_alloc(&t)) != NULL)
                n++;
        assert_int_equal(n, 6);
        int live[6] = {1, 1, 1, 1, 1, 1}, nlive = 6;
        for (int k = 0; k < 6; k++) {
            seed = seed * 1103515245u + 12345u;
            int i = (int)((seed >> 16) % 6);
            if (!live[i])
                continue;
            o[i]->status = DESK_OS_CANCELED;
            desk_orders_finish(&t, o[i]);
            live[i] = 0;
            nlive--;
            /* Walk: every live order once, no finished one. */
            int seen = 0;
            for (desk_order_t *w = desk_orders_live_first(&t); w; w = desk_orders_live_next(&t, w)) {
                assert_false(desk_ord_terminal(w->status));
                seen++;
                assert_true(seen <= nlive);
            }
            assert_int_equal(seen, nlive);
            assert_int_equal(t.live, (uint32_t)nlive);
        }
        for (int i = 0; i < 6; i++)
            if (live[i]) {
                o[i]->status = DESK_OS_FILLED;
                desk_orders_finish(&t, o[i]);
            }
        assert_null(desk_orders_live_first(&t));
    }
    desk_orders_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_partial_filled),
        cmocka_unit_test(test_restore_and_rebuild),
        cmocka_unit_test(test_fill_before_ack),
        cmocka_unit_test(test_venue_reject),
        cmocka_unit_test(test_cancel_paths),
        cmocka_unit_test(test_cancel_reject_restores),
        cmocka_unit_test(test_replace_paths),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_invariant_detects),
        cmocka_unit_test(test_state_event_matrix),
        cmocka_unit_test(test_illegal_examples),
        cmocka_unit_test(test_ack_while_cancel_pending_before_ack),
        cmocka_unit_test(test_status_ack),
        cmocka_unit_test(test_reject_while_cancel_pending_before_ack),
        cmocka_unit_test(test_duplicate_exec_id),
        cmocka_unit_test(test_duplicate_exec_memory),
        cmocka_unit_test(test_random_sequences),
        cmocka_unit_test(test_init_capacity),
        cmocka_unit_test(test_alloc_fields),
        cmocka_unit_test(test_capacity_exhaustion),
        cmocka_unit_test(test_fifo_reuse),
        cmocka_unit_test(test_ids_never_repeat),
        cmocka_unit_test(test_clid_index),
        cmocka_unit_test(test_clid_index_full),
        cmocka_unit_test(test_clid_zero_refused),
        cmocka_unit_test(test_clid_budget),
        cmocka_unit_test(test_live_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
