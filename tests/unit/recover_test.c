/*
 * recover_test.c - the router's write-ahead journal and recovery from it.
 *
 * A router with a journal (consumer driven by the test, policy "none")
 * takes orders from libdesk and fills from the scripted venue of
 * testdesk.h.  Asserts:
 *   - write-ahead: a venue command reaches the connector ring only after its
 *     CMD record is written (none while the journal has not run);
 *   - the journal holds a CMD per order sent, a REJECT per refused command,
 *     an EVENT per venue event and the seeded BALANCEs;
 *   - a second router replaying the file rebuilds the same order ids and
 *     states, cum/leaves, venue ClOrdIDs, positions, cash, realized PnL and
 *     fees, the ClOrdID index, and continues venue ClOrdIDs above every
 *     journaled one;
 *   - RECONCILING: with an order in flight, a NEW is refused with
 *     DESK_REJ_RECONCILING, and the flag clears once the venue answered;
 *   - a torn tail (a half-written frame) is cut at open and the records
 *     before it replay unchanged.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testdesk.h"

static struct testdesk td;
static desk_client_t *cl;
static desk_journal_t *jr;
static char jdir[128];

static void drive(int journal)
{
    for (int i = 0; i < 8; i++) {
        desk_router_poll(td.router, desk_now_ns());
        if (journal)
            (void)desk_journal_poll(jr);
        desk_router_poll(td.router, desk_now_ns());
        td_venue_step(&td, 64);
    }
    desk_router_poll(td.router, desk_now_ns());
}

static int count_kind(const desk_jrec_t *rec, uint64_t off, void *ctx)
{
    (void)off;
    uint32_t *n = ctx;
    n[rec->head.kind < DESK_JREC__COUNT ? rec->head.kind : 0]++;
    return 0;
}

static int replay_cb(const desk_jrec_t *rec, uint64_t off, void *ctx)
{
    (void)off;
    return desk_router_replay(ctx, rec);
}

static void test_journal_and_replay(void **state)
{
    (void)state;
    desk_journal_opts_t o = {0};
    desk_jscan_t scan;

    snprintf(jdir, sizeof jdir, "/tmp/desk-recover-%d", (int)getpid());
    o.dir = jdir;
    o.desk = td.name;
    o.policy.fsync = DESK_FSYNC_NONE;
    o.idle = DESK_IDLE_BACKOFF;
    assert_int_equal(desk_journal_open(&jr, &o, &scan), 0);
    td.router->journal = jr;
    desk_router_seed_cash(td.router, 0, TD_PX(1000000), TD_PX(1000000));
    desk_router_seed_position(td.router, 0, TD_QTY(1), TD_PX(50000));

    /* Write-ahead: without the journal running, nothing reaches the venue. */
    assert_int_equal(
        desk_submit_new(cl, 1, 0, DESK_BUY, DESK_LIMIT, DESK_GTC, TD_QTY(0.5), TD_PX(60000.01), 0),
        0);
    for (int i = 0; i < 4; i++)
        desk_router_poll(td.router, desk_now_ns());
    assert_int_equal(desk_spsc_peek_n(&td.venue_in, 8), 0);
    assert_int_equal(td.router->conn[0].held, 1);
    drive(1);
    assert_int_equal(td.router->conn[0].held, 0);
    /* A second order, and a reused ClOrdID (refused, journaled as REJECT). */
    assert_int_equal(desk_submit_new(cl, 2, 0, DESK_SELL, DESK_LIMIT, DESK_GTC, TD_QTY(0.25),
                                     TD_PX(59999.99), 0),
                     0);
    assert_int_equal(desk_submit_new(cl, 2, 0, DESK_SELL, DESK_LIMIT, DESK_GTC, TD_QTY(0.25),
                                     TD_PX(59999.99), 0),
                     0);
    drive(1);
    desk_event_t ev;
    while (desk_poll(cl, &ev, 1) == 1)
        ;
    assert_int_equal(desk_journal_stop(jr), 0);

    desk_router_t *r = td.router;
    uint32_t n[DESK_JREC__COUNT] = {0};
    assert_true(desk_journal_replay(jr->path, count_kind, n) > 0);
    assert_int_equal(n[DESK_JREC_CMD], 2);
    assert_int_equal(n[DESK_JREC_REJECT], 1);
    assert_int_equal(n[DESK_JREC_BALANCE], 2);
    assert_true(n[DESK_JREC_EVENT] >= 2);

    /* Replay into a second router over the same segment. */
    desk_router_t *r2 = calloc(1, sizeof *r2);
    assert_non_null(r2);
    assert_int_equal(desk_router_init(r2, td.cfg, td.main), 0);
    r2->replaying = 1;
    assert_true(desk_journal_replay(jr->path, replay_cb, r2) > 0);
    r2->replaying = 0;
    assert_int_equal(r2->orders.live, r->orders.live);
    for (uint64_t clid = 1; clid <= 2; clid++) {
        desk_order_t *a = desk_orders_by_clid(&r->orders, 0, clid);
        desk_order_t *b = desk_orders_by_clid(&r2->orders, 0, clid);
        assert_non_null(a);
        assert_non_null(b);
        assert_true(a->order_id == b->order_id);
        assert_int_equal(a->status, b->status);
        assert_true(a->cum_qty == b->cum_qty && a->leaves_qty == b->leaves_qty);
        assert_true(a->venue_cl == b->venue_cl);
        assert_true(r2->next_venue_cl > b->venue_cl);
    }
    assert_true(desk_orders_clid_seen(&r2->orders, 0, 1));
    assert_true(desk_orders_clid_seen(&r2->orders, 0, 2));
    assert_true(r2->uta.pos[0].qty == r->uta.pos[0].qty);
    assert_true(r2->uta.pos[0].avg_px == r->uta.pos[0].avg_px);
    assert_true(r2->uta.pos[0].realized_pnl == r->uta.pos[0].realized_pnl);
    assert_true(r2->uta.venue[0].cash == r->uta.venue[0].cash);
    assert_true(r2->uta.venue[0].realized_pnl == r->uta.venue[0].realized_pnl);
    assert_true(r2->uta.venue[0].fees == r->uta.venue[0].fees);
    assert_true(r2->uta.pos[0].qty != TD_QTY(1)); /* the fill moved it */
    desk_router_fini(r2);
    free(r2);

    /* A torn tail: half a frame appended, as a crash mid-write leaves it. */
    char path[sizeof jr->path];
    snprintf(path, sizeof path, "%s", jr->path);
    td.router->journal = NULL;
    desk_journal_close(jr);
    jr = NULL;
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    unsigned char junk[30];
    memset(junk, 0x5a, sizeof junk);
    assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    assert_int_equal(desk_journal_open(&jr, &o, &scan), 0);
    assert_true(scan.torn_bytes == sizeof junk);
    uint32_t n2[DESK_JREC__COUNT] = {0};
    assert_true(desk_journal_replay(jr->path, count_kind, n2) > 0);
    assert_memory_equal(n, n2, sizeof n);
    desk_journal_close(jr);
    jr = NULL;
    unlink(path);
    rmdir(jdir);
}

static void test_reconciling_refuses_new(void **state)
{
    (void)state;
    desk_event_t ev;

    atomic_store_explicit(&td.router->reconciling, 1, memory_order_relaxed);
    assert_int_equal(
        desk_submit_new(cl, 10, 0, DESK_BUY, DESK_LIMIT, DESK_GTC, TD_QTY(0.1), TD_PX(60000.01), 0),
        0);
    desk_router_poll(td.router, desk_now_ns());
    assert_int_equal(desk_poll(cl, &ev, 1), 1);
    assert_int_equal(ev.type, DESK_EV_REJECT);
    assert_int_equal(ev.reason, DESK_REJ_RECONCILING);
    /* No order in flight: the next status refresh ends reconciliation. */
    desk_router_publish(td.router, desk_now_ns());
    assert_int_equal(atomic_load(&td.router->reconciling), 0);
    /* The refused ClOrdID stays used. */
    assert_int_equal(
        desk_submit_new(cl, 10, 0, DESK_BUY, DESK_LIMIT, DESK_GTC, TD_QTY(0.1), TD_PX(60000.01), 0),
        0);
    desk_router_poll(td.router, desk_now_ns());
    assert_int_equal(desk_poll(cl, &ev, 1), 1);
    assert_int_equal(ev.reason, DESK_REJ_DUPLICATE_CLORDID);
}

static int setup(void **state)
{
    (void)state;
    if (td_open(&td, 1024, 4096, TD_PX(1000000)) < 0) {
        fprintf(stderr, "td_open: %s\n", desk_errmsg());
        return -1;
    }
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
    if (jr) {
        td.router->journal = NULL;
        desk_journal_close(jr);
        jr = NULL;
    }
    td_close(&td);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_journal_and_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconciling_refuses_new, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
