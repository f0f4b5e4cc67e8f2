/*
 * recon_test.c - reconciliation of venue account reports with the UTA
 * (core/recon.h).
 *
 * Two connectors, three instruments (0 and 1 on connector 0, 2 on
 * connector 1).  Reports are built by hand; the UTA is set field by field.
 * Checked: a difference seen once is not a break, the same difference twice
 * is; a different difference restarts the count; an open break clears when
 * the books agree; a break that moves is logged again; the cash tolerance;
 * buying power only on the dangerous side and with room for the venue's
 * fee reservations; venue-only orders; reports of one connector never touch
 * another's breaks; the transition log and its sequence numbers; the
 * published block read back through the seqlock; the table filling up.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/recon.h"
#include "ring/seqlock.h"

#define UNITS(n) ((int64_t)(n) * DESK_SCALE)
#define CENTS(c) ((int64_t)(c) * (DESK_SCALE / 100))

static desk_uta_t U;
static desk_instrument_t I[3];
static struct desk_recon_box B;
static struct desk_recon_shm SHM;
static desk_recon_diff_t D[DESK_SHM_MAX_INSTRUMENTS + 3];
static desk_recon_t R;

static int setup(void **state)
{
    (void)state;
    desk_uta_init(&U, 2, 3);
    memset(I, 0, sizeof I);
    for (uint32_t i = 0; i < 3; i++) {
        I[i].id = i;
        I[i].connector = i < 2 ? 0 : 1;
        U.pos[i].venue = I[i].connector;
    }
    U.venue[0].cash = UNITS(1000);
    U.venue[1].cash = UNITS(500);
    memset(&SHM, 0, sizeof SHM);
    assert_int_equal(desk_recon_init(&R, &SHM, CENTS(1), 100), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    desk_recon_fini(&R);
    return 0;
}

/* A report from connector 0 that agrees with the UTA above: flat, cash 1000,
 * buying power 1000. */
static void agreeing_report(void)
{
    memset(&B, 0, sizeof B);
    B.flags = DESK_REPORT_BALANCE | DESK_REPORT_POSITIONS;
    B.balance.cash = U.venue[0].cash;
    B.balance.buying_power = U.venue[0].cash - U.venue[0].reserved;
}

static void add_pos(uint32_t instrument, int64_t qty)
{
    B.pos[B.npos++] = (desk_position_t){.instrument = instrument, .qty = qty};
}

static uint32_t compare(uint32_t c)
{
    return desk_recon_compare(&R, c, &B, &U, I, 3, 1000 + R.d->tseq, D,
                              DESK_SHM_MAX_INSTRUMENTS + 3);
}

static void test_agreeing_reports_make_no_break(void **state)
{
    (void)state;
    agreeing_report();
    for (int k = 0; k < 3; k++)
        assert_int_equal(compare(0), 0);
    assert_int_equal(R.d->nbreaks, 0);
    assert_int_equal(R.d->tseq, 0);
    assert_int_equal(R.d->conn[0].reports, 3);
    assert_int_equal(R.d->conn[0].flags, DESK_REPORT_BALANCE | DESK_REPORT_POSITIONS);
    assert_int_equal(R.d->conn[0].venue_cash, UNITS(1000));
    assert_int_equal(R.d->conn[1].reports, 0);
}

static void test_position_break_needs_two_reports(void **state)
{
    (void)state;
    U.pos[1].qty = UNITS(3);
    agreeing_report();
    add_pos(1, UNITS(5)); /* the venue holds 2 more */
    assert_int_equal(compare(0), 0); /* once: maybe a fill on the wire */
    assert_int_equal(R.d->nbreaks, 0);
    assert_int_equal(compare(0), 1); /* twice, same difference: a break */
    assert_int_equal(D[0].kind, DESK_BREAK_POSITION);
    assert_int_equal(D[0].open, 1);
    assert_int_equal(D[0].connector, 0);
    assert_int_equal(D[0].instrument, 1);
    assert_int_equal(D[0].desk, UNITS(3));
    assert_int_equal(D[0].venue, UNITS(5));
    assert_int_equal(R.d->nbreaks, 1);
    assert_int_equal(R.d->conn[0].breaks, 1);
    assert_int_equal(R.d->open[0].since_ns, 1000 + 0);
    /* Still the same: no new transition. */
    assert_int_equal(compare(0), 0);
    assert_int_equal(R.d->tseq, 1);
    /* The desk catches up (the fill arrived): the break clears at once. */
    U.pos[1].qty = UNITS(5);
    assert_int_equal(compare(0), 1);
    assert_int_equal(D[0].open, 0);
    assert_int_equal(D[0].desk, UNITS(5));
    assert_int_equal(R.d->nbreaks, 0);
    assert_int_equal(R.d->conn[0].breaks, 0);
    assert_int_equal(R.d->tseq, 2);
}

static void test_moving_difference_is_not_confirmed(void **state)
{
    (void)state;
    agreeing_report();
    /* Fills keep arriving: the difference is never the same twice. */
    for (int k = 1; k <= 5; k++) {
        B.npos = 0;
        add_pos(0, UNITS(k));
        U.pos[0].qty = UNITS(k - 1);
        U.pos[0].qty -= k % 2 ? 0 : UNITS(1); /* 1, 2, 1, 2, 1 behind */
        assert_int_equal(compare(0), 0);
    }
    assert_int_equal(R.d->nbreaks, 0);
    /* A constant offset while both move is a break. */
    B.npos = 0;
    add_pos(0, UNITS(10));
    U.pos[0].qty = UNITS(9);
    assert_int_equal(compare(0), 1);
    assert_int_equal(R.d->nbreaks, 1);
    /* It grows: logged again with the new figures. */
    B.npos = 0;
    add_pos(0, UNITS(14));
    U.pos[0].qty = UNITS(11);
    assert_int_equal(compare(0), 0); /* new difference, seen once */
    assert_int_equal(R.d->open[0].venue, UNITS(10)); /* the break keeps its last confirmed figures */
    assert_int_equal(compare(0), 1);
    assert_int_equal(D[0].open, 1);
    assert_int_equal(D[0].venue, UNITS(14));
    assert_int_equal(R.d->nbreaks, 1);
    assert_int_equal(R.d->tseq, 2);
}

static void test_unlisted_instrument_is_flat_at_the_venue(void **state)
{
    (void)state;
    U.pos[0].qty = UNITS(-4); /* short 4 at the desk, nothing listed by the venue */
    agreeing_report();
    compare(0);
    assert_int_equal(compare(0), 1);
    assert_int_equal(D[0].instrument, 0);
    assert_int_equal(D[0].desk, UNITS(-4));
    assert_int_equal(D[0].venue, 0);
    /* Connector 1's instrument 2 is not connector 0's business. */
    U.pos[2].qty = UNITS(7);
    assert_int_equal(compare(0), 0);
    assert_int_equal(R.d->nbreaks, 1);
    /* A report without positions compares none and clears none. */
    B.flags = DESK_REPORT_BALANCE;
    assert_int_equal(compare(0), 0);
    assert_int_equal(R.d->nbreaks, 1);
}

static void test_cash_tolerance(void **state)
{
    (void)state;
    agreeing_report();
    B.balance.cash += CENTS(1); /* within 0.01 */
    B.balance.buying_power = B.balance.cash;
    compare(0);
    assert_int_equal(compare(0), 0);
    B.balance.cash = U.venue[0].cash - CENTS(1) - 1; /* just beyond */
    B.balance.buying_power = UNITS(2000);           /* keep buying power out of it */
    compare(0);
    assert_int_equal(compare(0), 1);
    assert_int_equal(D[0].kind, DESK_BREAK_CASH);
    assert_int_equal(D[0].instrument, UINT32_MAX);
    assert_int_equal(D[0].desk, UNITS(1000));
    assert_int_equal(D[0].venue, UNITS(1000) - CENTS(1) - 1);
    /* Both move by the same amount (a fill applied on both sides): no new line. */
    U.venue[0].cash -= UNITS(100);
    B.balance.cash -= UNITS(100);
    assert_int_equal(compare(0), 0);
    assert_int_equal(R.d->open[0].desk, UNITS(900));
    /* Agree again: cleared. */
    B.balance.cash = U.venue[0].cash;
    assert_int_equal(compare(0), 1);
    assert_int_equal(D[0].open, 0);
    assert_int_equal(R.d->nbreaks, 0);
}

static void test_buying_power_only_the_dangerous_side(void **state)
{
    (void)state;
    U.venue[0].reserved = UNITS(200); /* desk buying power 800 */
    agreeing_report();
    B.balance.buying_power = UNITS(4000); /* margin: the venue allows more */
    compare(0);
    assert_int_equal(compare(0), 0);
    /* The venue reserves fees too: 1% of 200 = 2 of room, plus 0.01. */
    B.balance.buying_power = UNITS(798) - CENTS(1);
    compare(0);
    assert_int_equal(compare(0), 0);
    B.balance.buying_power = UNITS(798) - CENTS(1) - 1;
    assert_int_equal(compare(0), 0); /* the previous report was fine: not yet */
    assert_int_equal(compare(0), 1);
    assert_int_equal(D[0].kind, DESK_BREAK_BUYING_POWER);
    assert_int_equal(D[0].open, 1);
    assert_int_equal(D[0].desk, UNITS(800));
    assert_int_equal(D[0].venue, UNITS(798) - CENTS(1) - 1);
    /* Cash was never in question. */
    assert_int_equal(R.d->nbreaks, 1);
    /* The venue frees buying power: cleared at once. */
    B.balance.buying_power = UNITS(800);
    assert_int_equal(compare(0), 1);
    assert_int_equal(D[0].open, 0);
}

static void test_venue_only_orders(void **state)
{
    (void)state;
    agreeing_report();
    B.flags |= DESK_REPORT_ORDERS;
    B.venue_only_orders = 2;
    assert_int_equal(compare(0), 0);
    assert_int_equal(compare(0), 1);
    assert_int_equal(D[0].kind, DESK_BREAK_ORDERS);
    assert_int_equal(D[0].venue, 2);
    assert_int_equal(R.d->conn[0].venue_orders, 2);
    B.venue_only_orders = 3;
    assert_int_equal(compare(0), 0); /* a new count, once */
    assert_int_equal(compare(0), 1);
    assert_int_equal(D[0].venue, 3);
    B.venue_only_orders = 0;
    assert_int_equal(compare(0), 1);
    assert_int_equal(D[0].open, 0);
}

static void test_connectors_are_separate(void **state)
{
    (void)state;
    U.pos[2].qty = UNITS(1);
    memset(&B, 0, sizeof B);
    B.flags = DESK_REPORT_POSITIONS | DESK_REPORT_BALANCE;
    B.balance.cash = UNITS(400); /* 100 short of the desk's 500 */
    B.balance.buying_power = UNITS(5000);
    compare(1);
    assert_int_equal(compare(1), 2); /* position of instrument 2 (venue flat) and cash */
    assert_int_equal(R.d->conn[1].breaks, 2);
    assert_int_equal(R.d->conn[0].breaks, 0);
    /* Connector 0 agreeing does not clear connector 1's breaks. */
    agreeing_report();
    assert_int_equal(compare(0), 0);
    assert_int_equal(R.d->nbreaks, 2);
}

static void test_published_block_and_log(void **state)
{
    (void)state;
    static struct desk_recon_data snap;
    U.pos[0].qty = UNITS(1);
    agreeing_report();
    compare(0);
    compare(0); /* opens */
    U.pos[0].qty = 0;
    compare(0); /* clears */
    desk_recon_publish(&R);
    assert_int_not_equal(desk_seqlock_read(&SHM.lock, &snap, &SHM.d, sizeof snap), 0);
    assert_int_equal(snap.tseq, 2);
    assert_int_equal(snap.log[0].seq, 1);
    assert_int_equal(snap.log[0].open, 1);
    assert_int_equal(snap.log[0].desk, UNITS(1));
    assert_int_equal(snap.log[1].seq, 2);
    assert_int_equal(snap.log[1].open, 0);
    assert_int_equal(snap.nbreaks, 0);
    assert_int_equal(snap.conn[0].reports, 3);
    /* Nothing changed since: publishing again writes nothing. */
    uint64_t seq = atomic_load(&SHM.lock.seq);
    desk_recon_publish(&R);
    assert_int_equal(atomic_load(&SHM.lock.seq), seq);
}

static void test_table_full_still_reports(void **state)
{
    (void)state;
    /* Fill the open table by hand, then one more break. */
    for (uint32_t k = 0; k < DESK_SHM_BREAKS; k++)
        R.d->open[k] = (struct desk_break){.kind = DESK_BREAK_POSITION, .connector = 9,
                                           .instrument = k};
    R.d->nbreaks = DESK_SHM_BREAKS;
    U.pos[1].qty = UNITS(2);
    agreeing_report();
    compare(0);
    assert_int_equal(compare(0), 1); /* returned for the journal and logged */
    assert_int_equal(D[0].open, 1);
    assert_int_equal(R.d->dropped, 1);
    assert_int_equal(R.d->nbreaks, DESK_SHM_BREAKS);
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(desk_break_kind_name(DESK_BREAK_POSITION), "position");
    assert_string_equal(desk_break_kind_name(DESK_BREAK_CASH), "cash");
    assert_string_equal(desk_break_kind_name(DESK_BREAK_BUYING_POWER), "buying_power");
    assert_string_equal(desk_break_kind_name(DESK_BREAK_ORDERS), "orders");
    assert_string_equal(desk_break_kind_name(0), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agreeing_reports_make_no_break, setup, teardown),
        cmocka_unit_test_setup_teardown(test_position_break_needs_two_reports, setup, teardown),
        cmocka_unit_test_setup_teardown(test_moving_difference_is_not_confirmed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlisted_instrument_is_flat_at_the_venue, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cash_tolerance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buying_power_only_the_dangerous_side, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_venue_only_orders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connectors_are_separate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_published_block_and_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_full_still_reports, setup, teardown),
        cmocka_unit_test(test_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
