/*
 * router_test.c - the router between libdesk and a scripted venue.
 *
 * Deterministic single-thread flows (router turns driven by the test), then
 * a three-thread run (strategy, router thread, venue thread) that moves
 * 100,000 orders and checks that every order gets exactly one ACK and one
 * FILL, that back-pressure never loses a command, and that the UTA and the
 * counters agree with the strategy's own tally.  CI also runs this file
 * under ThreadSanitizer (label "concurrency").
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testdesk.h"

static struct testdesk td;
static desk_client_t *cl;

static int setup(void **state)
{
    (void)state;
    if (td_open(&td, 1024, 4096, TD_PX(1000000)) < 0) {
        fprintf(stderr, "td_open: %s\n", desk_errmsg());
        return -1;
    }
    desk_router_seed_position(td.router, 0, TD_QTY(1), TD_PX(50000));
    desk_router_publish(td.router, desk_now_ns());
    if (desk_attach(&cl, td.name, "s") < 0) {
        fprintf(stderr, "attach: %s\n", desk_client_errmsg());
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    desk_detach(cl);
    cl = NULL;
    td_close(&td);
    return 0;
}

/* Run router and venue turns until nothing moves. */
static void settle(void)
{
    for (int i = 0; i < 8; i++) {
        desk_router_poll(td.router, desk_now_ns());
        td_venue_step(&td, 64);
    }
    desk_router_poll(td.router, desk_now_ns());
}

static int next_event(desk_event_t *ev)
{
    return desk_poll(cl, ev, 1);
}

static void expect(uint8_t type, uint64_t clid, desk_event_t *out)
{
    desk_event_t ev;
    assert_int_equal(next_event(&ev), 1);
    assert_int_equal(ev.type, type);
    assert_true(ev.cl_ord_id == clid);
    if (out)
        *out = ev;
}

static void test_fill_and_accounting(void **state)
{
    (void)state;
    desk_account_t a0, a1;
    desk_pos_t p;
    desk_event_t ev;

    assert_int_equal(desk_account(cl, &a0), 0);
    /* A buy at the ask fills at the ask with a 1 bp fee. */
    assert_int_equal(desk_submit_new(cl, 1, 0, DESK_BUY, DESK_LIMIT, DESK_GTC, TD_QTY(0.5),
                                     TD_PX(60000.01), 0),
                     0);
    settle();
    expect(DESK_EV_ACK, 1, &ev);
    assert_int_equal(ev.ord_status, DESK_OS_NEW);
    expect(DESK_EV_FILL, 1, &ev);
    assert_int_equal(ev.ord_status, DESK_OS_FILLED);
    assert_true(ev.last_px == TD_PX(60000.01));
    assert_true(ev.last_qty == TD_QTY(0.5));
    assert_true(ev.cum_qty == TD_QTY(0.5) && ev.leaves_qty == 0);
    int64_t notional = (int64_t)((__int128)TD_PX(60000.01) * TD_QTY(0.5) / DESK_SCALE);
    int64_t fee = (int64_t)((__int128)notional / 10000);
    assert_true(ev.fee == fee);
    desk_router_publish(td.router, desk_now_ns());
    assert_int_equal(desk_account(cl, &a1), 0);
    assert_true(a1.cash == a0.cash - notional - fee);
    assert_int_equal(desk_position(cl, 0, &p), 0);
    assert_true(p.qty == TD_QTY(1.5));
    /* Average of 1 @ 50000 and 0.5 @ 60000.01. */
    assert_true(p.avg_px == (int64_t)(((__int128)TD_PX(50000) * TD_QTY(1) +
                                       (__int128)TD_PX(60000.01) * TD_QTY(0.5)) /
                                      TD_QTY(1.5)));
    assert_true(a1.reserved == 0);
}

static void test_reservation_and_cancel(void **state)
{
    (void)state;
    desk_account_t a0, a1, a2;
    desk_event_t ev;

    assert_int_equal(desk_account(cl, &a0), 0);
    /* A resting buy below the bid reserves its notional. */
    assert_int_equal(desk_submit_new(cl, 10, 0, DESK_BUY, DESK_LIMIT, DESK_GTC, TD_QTY(0.1),
                                     TD_PX(59000), 0),
                     0);
    settle();
    expect(DESK_EV_ACK, 10, NULL);
    desk_router_publish(td.router, desk_now_ns());
    assert_int_equal(desk_account(cl, &a1), 0);
    assert_true(a1.reserved == a0.reserved + TD_PX(5900));
    assert_true(a1.buying_power == a0.buying_power - TD_PX(5900));
    assert_true(a1.cash == a0.cash);
    /* Replace to a larger size reserves more once the venue confirms. */
    assert_int_equal(desk_submit_replace(cl, 11, 10, TD_QTY(0.2), TD_PX(59000)), 0);
    settle();
    expect(DESK_EV_REPLACED, 11, &ev);
    assert_true(ev.ref == 10);
    desk_router_publish(td.router, desk_now_ns());
    assert_int_equal(desk_account(cl, &a1), 0);
    assert_true(a1.reserved == a0.reserved + TD_PX(11800));
    /* The old id no longer names the order. */
    assert_int_equal(desk_submit_cancel(cl, 12, 10), 0);
    settle();
    expect(DESK_EV_CANCEL_REJECT, 12, &ev);
    assert_int_equal(ev.reason, DESK_REJ_ORDER_NOT_OPEN);
    /* Cancel by the current id gives everything back. */
    assert_int_equal(desk_submit_cancel(cl, 13, 11), 0);
    settle();
    expect(DESK_EV_CANCELED, 11, &ev);
    assert_int_equal(ev.ord_status, DESK_OS_CANCELED);
    desk_router_publish(td.router, desk_now_ns());
    assert_int_equal(desk_account(cl, &a2), 0);
    assert_true(a2.reserved == a0.reserved);
    assert_true(a2.buying_power == a0.buying_power);
}

static void test_rejects(void **state)
{
    (void)state;
    desk_event_t ev;
    struct desk_stats_shm *st = desk_shm_stats(td.main);
    uint64_t lot0 = atomic_load(&st->reject_by_reason[DESK_REJ_LOT_SIZE]);

    /* Off the lot grid. */
    assert_int_equal(desk_submit_new(cl, 20, 0, DESK_BUY, DESK_LIMIT, DESK_GTC,
                                     TD_QTY(0.1) + 1, TD_PX(59000), 0),
                     0);
    settle();
    expect(DESK_EV_REJECT, 20, &ev);
    assert_int_equal(ev.reason, DESK_REJ_LOT_SIZE);
    assert_true(atomic_load(&st->reject_by_reason[DESK_REJ_LOT_SIZE]) == lot0 + 1);
    /* A refused ClOrdID stays used. */
    assert_int_equal(desk_submit_new(cl, 20, 0, DESK_BUY, DESK_LIMIT, DESK_GTC, TD_QTY(0.1),
                                     TD_PX(59000), 0),
                     0);
    settle();
    expect(DESK_EV_REJECT, 20, &ev);
    assert_int_equal(ev.reason, DESK_REJ_DUPLICATE_CLORDID);
    /* Unknown instrument, unknown order. */
    assert_int_equal(desk_submit_new(cl, 21, 7, DESK_BUY, DESK_LIMIT, DESK_GTC, TD_QTY(0.1),
                                     TD_PX(59000), 0),
                     0);
    settle();
    expect(DESK_EV_REJECT, 21, &ev);
    assert_int_equal(ev.reason, DESK_REJ_UNKNOWN_INSTRUMENT);
    assert_int_equal(desk_submit_cancel(cl, 22, 999), 0);
    settle();
    expect(DESK_EV_CANCEL_REJECT, 22, &ev);
    assert_int_equal(ev.reason, DESK_REJ_UNKNOWN_ORDER);
    /* Kill switch: HALTED refuses new orders; ACTIVE lets them through. */
    atomic_store(&td.main->kill, DESK_KILL_HALTED);
    assert_int_equal(desk_kill_state(cl), DESK_KILL_HALTED);
    assert_int_equal(desk_submit_new(cl, 23, 0, DESK_BUY, DESK_LIMIT, DESK_GTC, TD_QTY(0.1),
                                     TD_PX(59000), 0),
                     0);
    settle();
    expect(DESK_EV_REJECT, 23, &ev);
    assert_int_equal(ev.reason, DESK_REJ_KILL_SWITCH);
    atomic_store(&td.main->kill, DESK_KILL_ACTIVE);
    /* A DEGRADED connector gets nothing. */
    td_set_health(&td, DESK_DEGRADED);
    assert_int_equal(desk_submit_new(cl, 24, 0, DESK_BUY, DESK_LIMIT, DESK_GTC, TD_QTY(0.1),
                                     TD_PX(59000), 0),
                     0);
    settle();
    expect(DESK_EV_REJECT, 24, &ev);
    assert_int_equal(ev.reason, DESK_REJ_CONNECTOR_DOWN);
    td_set_health(&td, DESK_UP);
    /* Malformed commands never reach the ring. */
    desk_cmd_t bad = {.type = 9, .cl_ord_id = 25};
    assert_int_equal(desk_submit(cl, &bad), -EINVAL);
    bad.type = DESK_CMD_NEW;
    bad.cl_ord_id = 0;
    assert_int_equal(desk_submit(cl, &bad), -EINVAL);
    assert_int_equal(next_event(&ev), 0);
}

static void test_venue_anomalies(void **state)
{
    (void)state;
    desk_event_t ev;
    struct desk_stats_shm *st = desk_shm_stats(td.main);

    assert_int_equal(desk_submit_new(cl, 30, 0, DESK_BUY, DESK_LIMIT, DESK_GTC, TD_QTY(0.2),
                                     TD_PX(59000), 0),
                     0);
    settle();
    expect(DESK_EV_ACK, 30, &ev);
    uint64_t oid = ev.ref;
    desk_vevent_t f = {.type = DESK_EV_FILL, .order_id = oid, .exec_id = 777,
                       .last_px = TD_PX(59000), .last_qty = TD_QTY(0.05),
                       .cum_qty = TD_QTY(0.05)};
    uint64_t dup0 = atomic_load(&st->duplicate_execs), inv0 = atomic_load(&st->invalid_events);
    td_venue_push(&td, &f);
    td_venue_push(&td, &f); /* the same exec id again */
    settle();
    expect(DESK_EV_FILL, 30, &ev);
    assert_int_equal(ev.ord_status, DESK_OS_PARTIALLY_FILLED);
    assert_true(ev.cum_qty == TD_QTY(0.05) && ev.leaves_qty == TD_QTY(0.15));
    assert_int_equal(next_event(&ev), 0);
    assert_true(atomic_load(&st->duplicate_execs) == dup0 + 1);
    /* A status answer's ACK (recovery) for this acknowledged order: a
     * repeat, nothing sent to the strategy; a plain second ACK does not fit. */
    desk_vevent_t a = {.type = DESK_EV_ACK, .flags = DESK_VEV_STATUS, .order_id = oid,
                       .exec_id = 900, .cum_qty = TD_QTY(0.05)};
    td_venue_push(&td, &a);
    settle();
    assert_int_equal(next_event(&ev), 0);
    assert_true(atomic_load(&st->duplicate_execs) == dup0 + 2);
    assert_true(atomic_load(&st->invalid_events) == inv0);
    a.flags = 0;
    a.exec_id = 901;
    td_venue_push(&td, &a);
    settle();
    assert_int_equal(next_event(&ev), 0);
    assert_true(atomic_load(&st->invalid_events) == inv0 + 1);
    inv0++;
    /* A fill bigger than leaves, and an event for an unknown order. */
    f.exec_id = 778;
    f.last_qty = TD_QTY(1);
    f.cum_qty = TD_QTY(1.05);
    td_venue_push(&td, &f);
    f.order_id = 12345;
    td_venue_push(&td, &f);
    settle();
    assert_int_equal(next_event(&ev), 0);
    assert_true(atomic_load(&st->invalid_events) == inv0 + 2);
    /* Cancel the rest; a fill after the cancel is refused. */
    assert_int_equal(desk_submit_cancel(cl, 31, 30), 0);
    settle();
    expect(DESK_EV_CANCELED, 30, &ev);
    assert_true(ev.cum_qty == TD_QTY(0.05) && ev.leaves_qty == 0);
    f.order_id = oid;
    f.exec_id = 779;
    f.last_qty = TD_QTY(0.01);
    f.cum_qty = TD_QTY(0.06);
    td_venue_push(&td, &f);
    settle();
    assert_int_equal(next_event(&ev), 0);
    assert_true(atomic_load(&st->invalid_events) == inv0 + 3);
}

/* A catch-up fill (recovery: the venue's cum qty and average price over the
 * whole order) books only the part deskd missed, at the price the venue's
 * total leaves: cash ends where the venue's is. */
static void test_catchup_fill_price(void **state)
{
    (void)state;
    desk_event_t ev;

    assert_int_equal(desk_submit_new(cl, 60, 0, DESK_BUY, DESK_LIMIT, DESK_GTC, TD_QTY(1),
                                     TD_PX(59000), 0),
                     0);
    settle();
    expect(DESK_EV_ACK, 60, &ev);
    uint64_t oid = ev.ref;
    desk_vevent_t f = {.type = DESK_EV_FILL, .order_id = oid, .exec_id = 6001,
                       .last_px = TD_PX(58000), .last_qty = TD_QTY(0.4), .cum_qty = TD_QTY(0.4)};
    td_venue_push(&td, &f);
    settle();
    expect(DESK_EV_FILL, 60, NULL);
    int64_t cash0 = td.router->uta.venue[0].cash;
    /* The venue filled the rest at 59000 meanwhile: average (0.4 x 58000 +
     * 0.6 x 59000) / 1 = 58600. */
    desk_vevent_t c = {.type = DESK_EV_FILL, .flags = DESK_VEV_CATCHUP, .order_id = oid,
                       .exec_id = 6002, .last_px = TD_PX(58600), .last_qty = TD_QTY(1),
                       .cum_qty = TD_QTY(1)};
    td_venue_push(&td, &c);
    settle();
    expect(DESK_EV_FILL, 60, &ev);
    assert_true(ev.last_qty == TD_QTY(0.6));
    assert_true(ev.last_px == TD_PX(59000));
    assert_true(cash0 - td.router->uta.venue[0].cash == TD_PX(59000) * 6 / 10); /* 0.6 x 59000 */
    assert_int_equal(ev.ord_status, DESK_OS_FILLED);
    /* The same total again is a duplicate: nothing more is booked. */
    c.exec_id = 6003;
    int64_t cash1 = td.router->uta.venue[0].cash;
    td_venue_push(&td, &c);
    settle();
    assert_int_equal(next_event(&ev), 0);
    assert_true(td.router->uta.venue[0].cash == cash1);
}

/* A cancel-all (kill switch, cancel_on_disconnect) that finds an order with
 * a replace in flight cancels it once the venue has answered the replace. */
static void test_cancel_all_after_replace(void **state)
{
    (void)state;
    desk_event_t ev;

    assert_int_equal(desk_submit_new(cl, 50, 0, DESK_BUY, DESK_LIMIT, DESK_GTC, TD_QTY(0.1),
                                     TD_PX(59000), 0),
                     0);
    settle();
    expect(DESK_EV_ACK, 50, NULL);
    assert_int_equal(desk_submit_replace(cl, 51, 50, TD_QTY(0.2), TD_PX(59001)), 0);
    desk_router_poll(td.router, desk_now_ns()); /* the REPLACE is on the venue's ring */
    atomic_store(&td.router->strat[0].cancel_all, 1);
    desk_router_publish(td.router, desk_now_ns());
    desk_order_t *o = desk_orders_by_clid(&td.router->orders, 0, 50);
    assert_non_null(o);
    assert_int_equal(o->status, DESK_OS_PENDING_REPLACE); /* not cancelled yet */
    assert_int_equal(o->cancel_after, 1);
    settle(); /* REPLACED, then the cancel on the next tick, CANCELED */
    desk_router_publish(td.router, desk_now_ns());
    settle();
    expect(DESK_EV_REPLACED, 51, &ev);
    expect(DESK_EV_CANCELED, 51, &ev);
    assert_int_equal(ev.ord_status, DESK_OS_CANCELED);
    assert_int_equal(next_event(&ev), 0);
}

/* ---- reconciliation -------------------------------------------------------- */

static struct desk_recon_box box;

/* Post a report as desk_host_account_report would: after every event pushed
 * so far.  Returns 0, or -EBUSY while the router has not taken the last. */
static int post_report(uint32_t flags, int64_t qty)
{
    if (atomic_load_explicit(&box.full, memory_order_acquire))
        return -EBUSY;
    box.flags = flags;
    box.npos = qty != 0;
    box.pos[0] = (desk_position_t){.instrument = 0, .qty = qty};
    box.venue_only_orders = 0;
    box.ev_seq = td.pushed;
    atomic_store_explicit(&box.full, 1, memory_order_release);
    return 0;
}

/* A report is compared only after the events the venue sent before it; a
 * difference seen twice is a break, published in the main segment. */
static void test_reconcile(void **state)
{
    (void)state;
    desk_event_t ev;
    static struct desk_recon_data pub;
    struct desk_recon_shm *rs = desk_shm_recon(td.main);

    memset(&box, 0, sizeof box);
    desk_router_attach_recon(td.router, 0, &box);
    const int64_t q0 = td.router->uta.pos[0].qty; /* what earlier tests left */
    /* A buy that fills: the venue's ACK and FILL are pushed, then the
     * venue reports the new position before the router has taken them. */
    assert_int_equal(desk_submit_new(cl, 40, 0, DESK_BUY, DESK_LIMIT, DESK_IOC, TD_QTY(0.2),
                                     td.ask, 0),
                     0);
    desk_router_poll(td.router, desk_now_ns()); /* routed */
    td_venue_step(&td, 64);                      /* ACK + FILL pushed, not taken */
    assert_int_equal(post_report(DESK_REPORT_POSITIONS, q0 + TD_QTY(0.2)), 0);
    desk_router_publish(td.router, desk_now_ns());
    assert_int_equal(td.router->recon.conn[0].reports, 0); /* the fill is still in the ring */
    assert_int_equal(atomic_load(&box.full), 1);
    settle();
    desk_router_publish(td.router, desk_now_ns());
    assert_int_equal(td.router->recon.conn[0].reports, 1);
    assert_int_equal(atomic_load(&box.full), 0); /* handed back */
    assert_true(td.router->uta.pos[0].qty == q0 + TD_QTY(0.2));
    expect(DESK_EV_ACK, 40, NULL);
    expect(DESK_EV_FILL, 40, &ev);
    /* The same figure again: it agrees, nothing opens (a one-sided
     * comparison would have flagged the first report, taken too early). */
    assert_int_equal(post_report(DESK_REPORT_POSITIONS, q0 + TD_QTY(0.2)), 0);
    desk_router_publish(td.router, desk_now_ns());
    assert_int_equal(td.router->recon.conn[0].reports, 2);
    assert_int_equal(td.router->recon.d->nbreaks, 0);
    assert_int_equal(td.router->recon.d->tseq, 0);

    /* The venue says 0.3 more: once is not a break, twice is. */
    assert_int_equal(post_report(DESK_REPORT_POSITIONS, q0 + TD_QTY(0.5)), 0);
    desk_router_publish(td.router, desk_now_ns());
    assert_int_equal(td.router->recon.d->nbreaks, 0);
    assert_int_equal(post_report(DESK_REPORT_POSITIONS, q0 + TD_QTY(0.5)), 0);
    desk_router_publish(td.router, desk_now_ns());
    assert_int_not_equal(desk_seqlock_read(&rs->lock, &pub, &rs->d, sizeof pub), 0);
    assert_int_equal(pub.nbreaks, 1);
    assert_int_equal(pub.open[0].kind, DESK_BREAK_POSITION);
    assert_true(pub.open[0].desk == q0 + TD_QTY(0.2) && pub.open[0].venue == q0 + TD_QTY(0.5));
    assert_int_equal(pub.conn[0].breaks, 1);
    assert_int_equal(pub.tseq, 1);

    /* The venue's buying power is kept in the UTA; agreeing clears the break. */
    box.balance = (desk_balance_t){.cash = td.router->uta.venue[0].cash,
                                   .buying_power = TD_PX(7000000)};
    assert_int_equal(post_report(DESK_REPORT_POSITIONS | DESK_REPORT_BALANCE, q0 + TD_QTY(0.2)),
                     0);
    desk_router_publish(td.router, desk_now_ns());
    assert_true(td.router->uta.venue[0].venue_bp == TD_PX(7000000));
    assert_int_not_equal(desk_seqlock_read(&rs->lock, &pub, &rs->d, sizeof pub), 0);
    assert_int_equal(pub.nbreaks, 0);
    assert_int_equal(pub.tseq, 2);
    assert_int_equal(pub.log[1].open, 0);
    desk_router_attach_recon(td.router, 0, NULL);
}

/* ---- three threads ------------------------------------------------------- */

#ifdef DESK_SANITIZED
#define NORDERS 20000
#else
#define NORDERS 100000
#endif

static _Atomic int venue_stop;

static void *router_thread(void *arg)
{
    (void)arg;
    desk_router_run(td.router);
    return NULL;
}

static void *venue_thread(void *arg)
{
    (void)arg;
    uint64_t turns = 0;
    while (!atomic_load_explicit(&venue_stop, memory_order_acquire)) {
        if (!td_venue_step(&td, 64))
            desk_cpu_relax();
        /* Account reports through the mailbox while orders flow (TSan
         * checks the hand-off); the router compares them on its ticks. */
        if (++turns % 512 == 0)
            (void)post_report(DESK_REPORT_ORDERS, 0);
    }
    (void)post_report(DESK_REPORT_ORDERS, 0);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t rt, vt;
    static uint8_t acks[NORDERS + 1], fills[NORDERS + 1];
    uint64_t sent = 0, nacks = 0, nfills = 0, eagain = 0, other = 0, bad = 0;
    uint64_t deadline = desk_now_ns() + 240ull * 1000000000ull;
    int64_t pos = 0;
    desk_event_t ev[64];

    atomic_store(&venue_stop, 0);
    atomic_store(&td.router->stop, 0);
    memset(&box, 0, sizeof box);
    desk_router_attach_recon(td.router, 0, &box);
    uint64_t tseq0 = td.router->recon.d->tseq;
    /* Enough inventory for every sell that can be in flight at once (a spot
     * venue refuses sells beyond the position net of open sells). */
    desk_router_seed_position(td.router, 0, TD_QTY(100), TD_PX(60000));
    desk_router_publish(td.router, desk_now_ns());
    desk_pos_t p0;
    assert_int_equal(desk_position(cl, 0, &p0), 0);
    assert_int_equal(pthread_create(&rt, NULL, router_thread, NULL), 0);
    assert_int_equal(pthread_create(&vt, NULL, venue_thread, NULL), 0);
    while (nfills < NORDERS) {
        if (sent < NORDERS) {
            /* Alternate buys at the ask and sells at the bid: both fill. */
            uint64_t id = 1000000 + sent;
            int buy = (sent & 1) == 0;
            int rc = desk_submit_new(cl, id, 0, buy ? DESK_BUY : DESK_SELL, DESK_LIMIT, DESK_IOC,
                                     TD_QTY(0.001), buy ? td.ask : td.bid, 0);
            if (rc == 0)
                sent++;
            else if (rc == -EAGAIN)
                eagain++; /* back-pressure: retry, never drop */
            else
                other++, sent = NORDERS; /* stop sending; reported below */
        }
        int n = desk_poll(cl, ev, 64);
        /* No assert in this loop: a failure must first stop the router and
         * venue threads, or they would spin on after the test. */
        for (int i = 0; i < n; i++) {
            uint64_t k = ev[i].cl_ord_id - 1000000;
            if (k >= NORDERS) {
                other++;
                nfills++;
            } else if (ev[i].type == DESK_EV_ACK) {
                bad += acks[k]++ != 0;
                nacks++;
            } else if (ev[i].type == DESK_EV_FILL) {
                bad += fills[k]++ != 0;
                bad += acks[k] != 1; /* acked first */
                pos += (k & 1) ? -ev[i].last_qty : ev[i].last_qty;
                nfills++;
            } else {
                desk_pos_t pp;
                desk_position(cl, 0, &pp);
                fprintf(stderr, "unexpected event %s reason %s (order %llu, position %lld)\n",
                        desk_event_type_name(ev[i].type), desk_reject_name(ev[i].reason),
                        (unsigned long long)k, (long long)pp.qty);
                other++;
                nfills++; /* do not wait forever */
            }
        }
        if (desk_now_ns() > deadline) {
            fprintf(stderr, "threads: no progress: %llu fills of %d\n",
                    (unsigned long long)nfills, NORDERS);
            break;
        }
    }
    atomic_store_explicit(&venue_stop, 1, memory_order_release);
    desk_router_stop(td.router);
    pthread_join(rt, NULL);
    pthread_join(vt, NULL);
    /* Whatever report is still waiting was posted after events that are all
     * in the ring by now: once they are taken it is compared, and the box is
     * free again.  Reports flowed through the mailbox during the run. */
    while (desk_router_poll(td.router, desk_now_ns()) > 0)
        ;
    desk_router_publish(td.router, desk_now_ns());
    uint64_t reports = td.router->recon.conn[0].reports;
    assert_int_equal(atomic_load(&box.full), 0);
    assert_true(reports >= 1);
    assert_int_equal(post_report(DESK_REPORT_ORDERS, 0), 0);
    desk_router_publish(td.router, desk_now_ns());
    desk_router_attach_recon(td.router, 0, NULL);
    assert_true(td.router->recon.conn[0].reports == reports + 1);
    assert_int_equal(td.router->recon.d->tseq, tseq0); /* no break opened or cleared */
    assert_true(other == 0);
    assert_true(bad == 0);
    assert_true(nfills == NORDERS);
    assert_true(nacks == NORDERS);
    assert_true(pos == 0);
    desk_pos_t p1;
    assert_int_equal(desk_position(cl, 0, &p1), 0);
    assert_true(p1.qty == p0.qty);
    struct desk_strat_shm *ss = &desk_shm_strats(td.main)[0];
    assert_true(atomic_load(&ss->fills) >= NORDERS);
    printf("threads: %d orders, %llu submit retries on a full ring\n", NORDERS,
           (unsigned long long)eagain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill_and_accounting),
        cmocka_unit_test(test_reservation_and_cancel),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_venue_anomalies),
        cmocka_unit_test(test_catchup_fill_price),
        cmocka_unit_test(test_cancel_all_after_replace),
        cmocka_unit_test(test_reconcile),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
