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
 *     before it replay unchanged;
 *   - a new trading day: the day snapshot at the head of the new file
 *     replays on its own to the same books (test_day_snapshot); a crash
 *     after midnight before or while the snapshot is written recovers from
 *     the day before plus today's records, and a snapshot that does not
 *     add up is refused (crash_after_midnight); the previous day's file is
 *     found by date (test_prev_day).
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
    /* A resting buy, one fill seen, then a catch-up fill (recovery): the
     * venue's total 0.3 at an average of 58950; the 0.2 missed is priced at
     * what that leaves, and replay must price it the same. */
    assert_int_equal(desk_submit_new(cl, 5, 0, DESK_BUY, DESK_LIMIT, DESK_GTC, TD_QTY(0.5),
                                     TD_PX(59000), 0),
                     0);
    drive(1);
    uint64_t oid5 = desk_orders_by_clid(&td.router->orders, 0, 5)->order_id;
    desk_vevent_t f5 = {.type = DESK_EV_FILL, .order_id = oid5, .exec_id = 5501,
                        .last_px = TD_PX(58900), .last_qty = TD_QTY(0.1), .cum_qty = TD_QTY(0.1)};
    td_venue_push(&td, &f5);
    drive(1);
    int64_t cash_before = td.router->uta.venue[0].cash;
    desk_vevent_t c5 = {.type = DESK_EV_FILL, .flags = DESK_VEV_CATCHUP, .order_id = oid5,
                        .exec_id = 5502, .last_px = TD_PX(58950), .last_qty = TD_QTY(0.3),
                        .cum_qty = TD_QTY(0.3)};
    td_venue_push(&td, &c5);
    drive(1);
    assert_true(desk_orders_by_clid(&td.router->orders, 0, 5)->cum_qty == TD_QTY(0.3));
    assert_true(cash_before - td.router->uta.venue[0].cash == TD_PX(58975) / 5); /* 0.2 x */
    desk_event_t ev;
    while (desk_poll(cl, &ev, 1) == 1)
        ;
    assert_int_equal(desk_journal_stop(jr), 0);

    desk_router_t *r = td.router;
    uint32_t n[DESK_JREC__COUNT] = {0};
    assert_true(desk_journal_replay(jr->path, count_kind, n) > 0);
    assert_int_equal(n[DESK_JREC_CMD], 3);
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
    assert_true(desk_orders_by_clid(&r2->orders, 0, 5)->cum_qty == TD_QTY(0.3));
    assert_true(desk_orders_by_clid(&r2->orders, 0, 5)->cum_notional ==
                desk_orders_by_clid(&r->orders, 0, 5)->cum_notional);
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

/* ---- a new trading day ------------------------------------------------------ */

static uint64_t g_wall; /* the journal's clock in the day tests */

static uint64_t test_wall(void *ctx)
{
    (void)ctx;
    return g_wall;
}

#define DAY1_NS (UINT64_C(16725225600) * 1000000000u) /* 2500-01-01 00:00:00 UTC */
#define DAY_NS (UINT64_C(86400) * 1000000000u)

/* One fill pushed by the scripted venue for `order_id`. */
static void venue_fill(uint64_t order_id, int64_t px, int64_t qty, int64_t cum)
{
    static uint64_t exec = 900000;
    desk_vevent_t f = {.type = DESK_EV_FILL, .order_id = order_id, .exec_id = ++exec,
                       .last_px = px, .last_qty = qty, .cum_qty = cum};
    td_venue_push(&td, &f);
}

/* Router and journal turns, without the venue answering anything. */
static void drive_no_venue(void)
{
    for (int i = 0; i < 6; i++) {
        desk_router_poll(td.router, desk_now_ns());
        (void)desk_journal_poll(jr);
    }
}

static uint64_t order_of(uint64_t clid)
{
    desk_order_t *o = desk_orders_by_clid(&td.router->orders, 0, clid);
    assert_non_null(o);
    return o->order_id;
}

/* ---- crashes around midnight ------------------------------------------------ */

struct offs {
    uint64_t begin, end; /* offsets of the SNAPSHOT BEGIN and END frames */
};

static int offs_cb(const desk_jrec_t *rec, uint64_t off, void *ctx)
{
    struct offs *o = ctx;
    if (rec->head.kind == DESK_JREC_SNAPSHOT)
        *(rec->snap.what == DESK_JSNAP_BEGIN ? &o->begin : &o->end) = off;
    return 0;
}

/* Copy the first `bytes` of src to dst. */
static void copy_prefix(const char *src, const char *dst, uint64_t bytes)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    while (bytes > 0) {
        size_t n = fread(buf, 1, bytes < sizeof buf ? (size_t)bytes : sizeof buf, in);
        assert_true(n > 0);
        assert_int_equal(fwrite(buf, 1, n, out), n);
        bytes -= n;
    }
    fclose(in);
    fclose(out);
}

/* A fresh router that recovered `dir`'s desk as deskd does at start on day
 * 25000102 (chain of days, then the new-day figures). */
static desk_router_t *recovered(const char *dir, desk_recovery_t *rv)
{
    desk_router_t *x = calloc(1, sizeof *x);
    assert_non_null(x);
    assert_int_equal(desk_router_init(x, td.cfg, td.main), 0);
    x->replaying = 1;
    int rc = desk_router_recover(x, dir, td.name, 25000102, rv);
    if (rc != 0)
        fail_msg("desk_router_recover: %d %s", rc, desk_errmsg());
    desk_router_replay_done(x);
    x->replaying = 0;
    if (rv->carry_day) {
        x->day = rv->carry_day;
        assert_int_equal(desk_router_new_day(x, 25000102), 0); /* no journal: figures only */
    }
    return x;
}

static void same_books(desk_router_t *a, desk_router_t *b)
{
    assert_int_equal(a->orders.live, b->orders.live);
    for (const desk_order_t *o = desk_orders_live_first(&a->orders); o;
         o = desk_orders_live_next(&a->orders, o)) {
        const desk_order_t *p = desk_orders_by_id(&b->orders, o->order_id);
        assert_non_null(p);
        assert_int_equal(o->status, p->status);
        assert_true(o->cum_qty == p->cum_qty && o->leaves_qty == p->leaves_qty);
        assert_true(o->reserved == p->reserved && o->req_venue_cl == p->req_venue_cl);
    }
    for (uint64_t clid = 1; clid <= 5; clid++)
        assert_int_equal(desk_orders_clid_seen(&a->orders, 0, clid),
                         desk_orders_clid_seen(&b->orders, 0, clid));
    assert_true(a->uta.venue[0].cash == b->uta.venue[0].cash);
    assert_true(a->uta.venue[0].reserved == b->uta.venue[0].reserved);
    assert_true(a->uta.venue[0].realized_pnl == b->uta.venue[0].realized_pnl);
    assert_true(a->uta.pos[0].qty == b->uta.pos[0].qty);
    assert_true(a->uta.pos[0].avg_px == b->uta.pos[0].avg_px);
    assert_true(a->uta.pos[0].open_buy == b->uta.pos[0].open_buy);
    assert_true(a->uta.pos[0].open_sell == b->uta.pos[0].open_sell);
}

/*
 * deskd crashed after midnight: (a) before its day snapshot: day 2's file
 * holds only records that continue day 1's, so recovery replays day 1 then
 * day 2; (b) while writing it: the snapshot cut short is ignored, the same
 * way.  Both give the books the complete snapshot carries.  (c) A snapshot
 * whose END does not match its BEGIN is refused.  From the day 1 and day 2
 * files test_day_snapshot wrote.
 */
static void crash_after_midnight(const char *day1, const char *day2)
{
    char dir[128], d1[256], d2[256];
    struct offs o = {0};
    desk_recovery_t rv;

    assert_true(desk_journal_replay(day2, offs_cb, &o) > 0);
    assert_true(o.begin > 0 && o.end > o.begin);
    snprintf(dir, sizeof dir, "/tmp/desk-recover-crash-%d", (int)getpid());
    assert_int_equal(mkdir(dir, 0700), 0);
    desk_journal_path(d1, sizeof d1, dir, td.name, 25000101);
    desk_journal_path(d2, sizeof d2, dir, td.name, 25000102);

    /* The reference: day 2's file up to the end of its snapshot, alone. */
    copy_prefix(day2, d2, o.end + DESK_JOURNAL_FRAME);
    desk_router_t *ref = recovered(dir, &rv);
    assert_int_equal(rv.files, 1);
    assert_int_equal(rv.carry_day, 0);

    /* (a) Cut just before the snapshot, with day 1 beside it. */
    struct stat st1;
    assert_int_equal(stat(day1, &st1), 0);
    copy_prefix(day1, d1, (uint64_t)st1.st_size);
    copy_prefix(day2, d2, o.begin);
    desk_router_t *gap = recovered(dir, &rv);
    assert_int_equal(rv.files, 2);
    assert_int_equal(rv.carry_day, 25000101);
    assert_int_equal(rv.torn_snapshots, 0);
    same_books(ref, gap);

    /* (b) Cut inside the snapshot (BEGIN and the NAME records made it). */
    copy_prefix(day2, d2, o.begin + 3 * DESK_JOURNAL_FRAME);
    desk_router_t *torn = recovered(dir, &rv);
    assert_int_equal(rv.files, 2);
    assert_int_equal(rv.torn_snapshots, 1);
    same_books(ref, torn);

    /* (c) BEGIN and END without the CARRY records between them. */
    FILE *f = fopen(d2, "wb");
    assert_non_null(f);
    fclose(f);
    {
        desk_journal_t *j = NULL;
        desk_journal_opts_t jo = {0};
        g_wall = DAY1_NS + DAY_NS + UINT64_C(5000000000);
        jo.dir = dir;
        jo.desk = td.name;
        jo.policy.fsync = DESK_FSYNC_NONE;
        jo.wall_ns = test_wall;
        unlink(d2);
        assert_int_equal(desk_journal_open(&j, &jo, NULL), 0);
        desk_jrec_t rec;
        memset(&rec, 0, sizeof rec);
        rec.snap.kind = DESK_JREC_SNAPSHOT;
        rec.snap.what = DESK_JSNAP_BEGIN;
        rec.snap.nlive = 1;
        assert_int_equal(desk_journal_push(j, &rec), 0);
        rec.snap.what = DESK_JSNAP_END;
        assert_int_equal(desk_journal_push(j, &rec), 0);
        assert_int_equal(desk_journal_stop(j), 0);
        desk_journal_close(j);
    }
    desk_replay_info_t ri;
    assert_int_equal(desk_router_scan_file(d2, &ri), -EPROTO);

    desk_router_t *all[] = {ref, gap, torn};
    for (size_t k = 0; k < 3; k++) {
        desk_router_fini(all[k]);
        free(all[k]);
    }
    unlink(d1);
    unlink(d2);
    rmdir(dir);
}

/*
 * deskd runs across UTC midnight: the journal rolls to a new file, and the
 * router writes the carried state (day snapshot) at its head.  Replaying the
 * new day's file alone, records written late for the previous day included,
 * gives the same books: live orders (a partly filled GTC buy, a sell with a
 * cancel in flight), cash, positions, reservations, ClOrdIDs still taken;
 * the day's realized PnL and fees start over; a ClOrdID of a finished order
 * of yesterday may be used again today.
 */
static void test_day_snapshot(void **state)
{
    (void)state;
    desk_journal_opts_t o = {0};
    desk_event_t ev;
    char day1_path[sizeof jr->path];

    snprintf(jdir, sizeof jdir, "/tmp/desk-recover-day-%d", (int)getpid());
    o.dir = jdir;
    o.desk = td.name;
    o.policy.fsync = DESK_FSYNC_NONE;
    o.idle = DESK_IDLE_BACKOFF;
    o.wall_ns = test_wall;
    g_wall = DAY1_NS + 12 * 3600 * UINT64_C(1000000000);
    assert_int_equal(desk_journal_open(&jr, &o, NULL), 0);
    assert_int_equal(jr->file_day, 25000101);
    snprintf(day1_path, sizeof day1_path, "%s", jr->path);
    desk_router_t *r = td.router;
    r->journal = jr;
    r->day = 25000101;
    desk_router_seed_cash(r, 0, TD_PX(1000000), TD_PX(1000000));
    desk_router_seed_position(r, 0, TD_QTY(1), TD_PX(50000));

    /* Day 1: a resting buy partly filled, a resting sell, a buy that fills
     * whole (and realizes nothing: it adds), then a cancel of the sell that
     * the venue has not answered when the day ends. */
    assert_int_equal(desk_submit_new(cl, 1, 0, DESK_BUY, DESK_LIMIT, DESK_GTC, TD_QTY(0.5),
                                     TD_PX(59000), 0),
                     0);
    assert_int_equal(desk_submit_new(cl, 2, 0, DESK_SELL, DESK_LIMIT, DESK_GTC, TD_QTY(0.25),
                                     TD_PX(61000), 0),
                     0);
    assert_int_equal(desk_submit_new(cl, 3, 0, DESK_SELL, DESK_LIMIT, DESK_IOC, TD_QTY(0.1),
                                     td.bid, 0),
                     0);
    drive(1);
    venue_fill(order_of(1), TD_PX(59000), TD_QTY(0.2), TD_QTY(0.2));
    drive(1);
    assert_true(r->uta.venue[0].realized_pnl != 0); /* the IOC sell realized */

    /* Midnight.  A fill and a cancel reach the journal after it rolled but
     * before the router's tick sees the new day: they land in day 2's file
     * before the snapshot (replay starts at the snapshot: a CANCEL of an
     * order it does not know yet would be refused). */
    g_wall = DAY1_NS + DAY_NS + UINT64_C(1000000000);
    venue_fill(order_of(1), TD_PX(59000), TD_QTY(0.1), TD_QTY(0.3));
    assert_int_equal(desk_submit_cancel(cl, 4, 2), 0);
    drive_no_venue(); /* the CANCEL sits in the venue's ring, unanswered */
    assert_int_equal(desk_orders_by_clid(&r->orders, 0, 2)->status, DESK_OS_PENDING_CANCEL);
    assert_int_equal(jr->file_day, 25000102);
    assert_int_equal(desk_router_new_day(r, 25000102), 0);
    assert_int_equal(r->day, 25000102);
    assert_true(r->uta.venue[0].realized_pnl == 0 && r->uta.venue[0].fees == 0);
    assert_true(r->uta.pos[0].realized_pnl == 0);
    drive_no_venue();

    /* Day 2: the venue answers the cancel, the buy fills a little more, a
     * ClOrdID of yesterday's finished order is used again, a live one is not. */
    td_venue_step(&td, 64);
    venue_fill(order_of(1), TD_PX(59000), TD_QTY(0.1), TD_QTY(0.4));
    drive(1);
    while (desk_poll(cl, &ev, 1) == 1)
        ; /* yesterday's and the cancel's events */
    assert_int_equal(desk_submit_new(cl, 3, 0, DESK_BUY, DESK_LIMIT, DESK_GTC, TD_QTY(0.1),
                                     TD_PX(58000), 0),
                     0);
    assert_int_equal(desk_submit_new(cl, 1, 0, DESK_BUY, DESK_LIMIT, DESK_GTC, TD_QTY(0.1),
                                     TD_PX(58000), 0),
                     0);
    drive(1);
    int dup = 0, new3 = 0;
    while (desk_poll(cl, &ev, 1) == 1) {
        dup += ev.type == DESK_EV_REJECT && ev.reason == DESK_REJ_DUPLICATE_CLORDID &&
               ev.cl_ord_id == 1;
        new3 += ev.type == DESK_EV_ACK && ev.cl_ord_id == 3;
    }
    assert_int_equal(dup, 1);
    assert_int_equal(new3, 1);
    /* A MARKET buy the venue has not answered: its cash is held at the touch
     * the guard saw, and replay must hold the same. */
    assert_int_equal(desk_submit_new(cl, 5, 0, DESK_BUY, DESK_MARKET, DESK_IOC, TD_QTY(0.01), 0,
                                     0),
                     0);
    drive_no_venue();
    assert_true(desk_orders_by_clid(&r->orders, 0, 5)->reserved > 0);
    assert_int_equal(desk_journal_stop(jr), 0);

    /* Day 2's file: FILE, the late fill and cancel, then the snapshot. */
    uint32_t n[DESK_JREC__COUNT] = {0};
    assert_true(desk_journal_replay(jr->path, count_kind, n) > 0);
    assert_int_equal(n[DESK_JREC_SNAPSHOT], 2);
    assert_int_equal(n[DESK_JREC_CARRY], 3 * 2); /* orders 1 and 2 were live */

    /* Replaying day 2's file alone rebuilds the books. */
    desk_router_t *r2 = calloc(1, sizeof *r2);
    assert_non_null(r2);
    assert_int_equal(desk_router_init(r2, td.cfg, td.main), 0);
    r2->replaying = 1;
    desk_replay_info_t ri;
    assert_true(desk_router_replay_file(r2, jr->path, &ri) > 0);
    uint32_t applied = ri.applied;
    assert_true(ri.snapshot && !ri.torn_snapshot && ri.from > 0);
    uint32_t total = 0; /* every record but FILE */
    for (unsigned k = DESK_JREC_FILE + 1; k < DESK_JREC__COUNT; k++)
        total += n[k];
    assert_true(applied > 0 && applied + 2 <= total); /* the late fill and cancel: skipped */
    desk_router_replay_done(r2);
    r2->replaying = 0;
    assert_int_equal(r2->orders.live, r->orders.live);
    assert_int_equal(r2->orders.live, 3); /* order 1, today's order 3, the market buy 5 */
    for (uint64_t clid = 1; clid <= 4; clid++)
        assert_int_equal(desk_orders_clid_seen(&r2->orders, 0, clid),
                         desk_orders_clid_seen(&r->orders, 0, clid));
    for (uint64_t clid = 1; clid <= 5; clid += 2) {
        desk_order_t *a = desk_orders_by_clid(&r->orders, 0, clid);
        desk_order_t *b = desk_orders_by_clid(&r2->orders, 0, clid);
        assert_non_null(a);
        assert_non_null(b);
        assert_true(a->order_id == b->order_id);
        assert_int_equal(a->status, b->status);
        assert_true(a->qty == b->qty && a->px == b->px);
        assert_true(a->cum_qty == b->cum_qty && a->leaves_qty == b->leaves_qty);
        assert_true(a->venue_cl == b->venue_cl && a->reserved == b->reserved);
    }
    assert_true(desk_orders_by_clid(&r2->orders, 0, 1)->cum_qty == TD_QTY(0.4));
    assert_true(r2->uta.pos[0].qty == r->uta.pos[0].qty);
    assert_true(r2->uta.pos[0].avg_px == r->uta.pos[0].avg_px);
    assert_true(r2->uta.pos[0].open_buy == r->uta.pos[0].open_buy);
    assert_true(r2->uta.pos[0].open_sell == r->uta.pos[0].open_sell);
    assert_true(r2->uta.pos[0].realized_pnl == r->uta.pos[0].realized_pnl);
    assert_true(r2->uta.venue[0].cash == r->uta.venue[0].cash);
    assert_true(r2->uta.venue[0].reserved == r->uta.venue[0].reserved);
    assert_true(r2->uta.venue[0].realized_pnl == r->uta.venue[0].realized_pnl);
    assert_true(r2->uta.venue[0].fees == r->uta.venue[0].fees);
    assert_true(r2->next_venue_cl >= r->next_venue_cl);
    assert_true(r2->orders.generation >= desk_orders_by_clid(&r->orders, 0, 3)->order_id >> 32);
    /* The recovered router allocates a fresh slot for the next order. */
    desk_order_t *fresh = desk_orders_alloc(&r2->orders);
    assert_non_null(fresh);
    assert_null(desk_orders_by_id(&r->orders, fresh->order_id));
    desk_router_fini(r2);
    free(r2);

    desk_journal_close(jr);
    jr = NULL;
    r->journal = NULL;
    char p2[sizeof day1_path];
    desk_journal_path(p2, sizeof p2, jdir, td.name, 25000102);
    crash_after_midnight(day1_path, p2);
    unlink(day1_path);
    unlink(p2);
    rmdir(jdir);
}

/* The latest earlier day's file is found; other desks' files, files moved
 * aside and later days are not. */
static void test_prev_day(void **state)
{
    (void)state;
    char dir[128], p[256];
    uint32_t day = 0;

    snprintf(dir, sizeof dir, "/tmp/desk-prevday-%d", (int)getpid());
    assert_int_equal(desk_journal_prev_day(dir, "d", 20261121, &day), 0); /* no dir */
    assert_int_equal(mkdir(dir, 0700), 0);
    const char *names[] = {"desk-d-20261118.journal", "desk-d-20261119.journal",
                           "desk-d-20261120.journal.083000.prev", "desk-dd-20261120.journal",
                           "desk-d-20261121.journal", "desk-d-20261122.journal", "desk-d-x.journal"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        int fd = open(p, O_WRONLY | O_CREAT, 0600);
        assert_true(fd >= 0);
        close(fd);
    }
    assert_int_equal(desk_journal_prev_day(dir, "d", 20261121, &day), 1);
    assert_int_equal(day, 20261119);
    assert_int_equal(desk_journal_prev_day(dir, "d", 20261118, &day), 0);
    assert_int_equal(desk_journal_prev_day(dir, "dd", 20261121, &day), 1);
    assert_int_equal(day, 20261120);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
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
        cmocka_unit_test_setup_teardown(test_day_snapshot, setup, teardown),
        cmocka_unit_test(test_prev_day),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
