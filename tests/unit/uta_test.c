/*
 * uta_test.c - the Unified Trading Account of core/uta.h.
 *
 * Reservations and buying power (per venue and summed), fills moving cash,
 * position, average price and realized PnL (open, add, reduce, close, flip
 * through zero, both sides), unrealized PnL at the mark, day PnL, overflow
 * refusing without side effects, and desk_uta_publish() read back through
 * desk_seqlock_read(), alone and against a concurrent reader.
 *
 * Every expected number is computed here with __int128 by hand (a model
 * position kept beside the UTA), never by calling the code under test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/uta.h"
#include "ring/seqlock.h"

#define UNITS(n) ((int64_t)(n) * DESK_SCALE)
#define CENTS(c) ((int64_t)(c) * (DESK_SCALE / 100))

static desk_uta_t U;              /* ~15 KB: static */
static struct desk_uta_shm SHM;   /* the published copy */
static struct desk_uta_shm READ;  /* what a reader sees */

/* a * b / 1e8 toward zero (C division truncates toward zero). */
static int64_t mul8(int64_t a, int64_t b)
{
    return (int64_t)((__int128)a * b / DESK_SCALE);
}

static int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

/* ---- a model of one position, written from uta.h's words ------------------ */

struct model {
    int64_t qty, avg, realized; /* position, average price, realized */
    __int128 cash, fees;        /* the venue's cash and fees */
};

/* Buying or selling `qty` at `px`: adding averages by quantity (toward zero),
 * reducing realizes (px - avg) per unit closed (sign of the position), and a
 * flip opens the remainder at px. */
static void model_fill(struct model *m, uint8_t side, int64_t px, int64_t qty, int64_t fee)
{
    int64_t sq = side == DESK_BUY ? qty : -qty;
    int64_t nq = m->qty + sq;
    __int128 notional = (__int128)px * qty / DESK_SCALE;

    if (m->qty == 0 || (m->qty > 0) == (sq > 0)) {
        __int128 cost = (__int128)m->avg * abs64(m->qty) + (__int128)px * qty;
        m->avg = (int64_t)(cost / abs64(nq));
    } else {
        int64_t closed = qty < abs64(m->qty) ? qty : abs64(m->qty);
        __int128 diff = m->qty > 0 ? (__int128)px - m->avg : (__int128)m->avg - px;
        m->realized += (int64_t)(diff * closed / DESK_SCALE);
        if (nq == 0)
            m->avg = 0;
        else if ((nq > 0) != (m->qty > 0))
            m->avg = px;
    }
    m->qty = nq;
    m->cash += side == DESK_BUY ? -notional : notional;
    m->cash -= fee;
    m->fees += fee;
}

/* Fill both the UTA and the model, then compare every field. */
static void fill_both(struct model *m, uint32_t inst, uint8_t side, int64_t px, int64_t qty,
                      int64_t fee)
{
    const desk_uta_pos_state_t *p = &U.pos[inst];
    const desk_uta_venue_state_t *v = &U.venue[p->venue];

    assert_int_equal(desk_uta_fill(&U, inst, side, px, qty, fee), 0);
    model_fill(m, side, px, qty, fee);
    assert_int_equal(p->qty, m->qty);
    assert_int_equal(p->avg_px, m->avg);
    assert_int_equal(p->realized_pnl, m->realized);
    assert_true((__int128)v->cash == m->cash);
    assert_true((__int128)v->fees == m->fees);
}

/* ---- init, reservations, buying power -------------------------------------- */

static void test_init(void **state)
{
    (void)state;
    memset(&U, 0x5a, sizeof U);
    desk_uta_init(&U, 3, 7);
    assert_int_equal(U.nvenues, 3);
    assert_int_equal(U.ninstruments, 7);
    for (int i = 0; i < DESK_SHM_MAX_CONNECTORS; i++) {
        assert_int_equal(U.venue[i].cash, 0);
        assert_int_equal(U.venue[i].reserved, 0);
        assert_int_equal(U.venue[i].realized_pnl, 0);
        assert_int_equal(U.venue[i].fees, 0);
        assert_int_equal(U.venue[i].venue_bp, 0);
    }
    for (int i = 0; i < DESK_SHM_MAX_INSTRUMENTS; i++) {
        assert_int_equal(U.pos[i].qty, 0);
        assert_int_equal(U.pos[i].avg_px, 0);
        assert_int_equal(U.pos[i].mark_px, 0);
        assert_int_equal(U.pos[i].open_buy, 0);
        assert_int_equal(U.pos[i].venue, 0);
    }
    assert_int_equal(desk_uta_buying_power(&U), 0);
    assert_int_equal(desk_uta_day_pnl(&U), 0);
}

/* An open buy's reservation lowers buying power by exactly its amount, and
 * releasing it gives it back. */
static void test_reserve_and_release(void **state)
{
    (void)state;
    desk_uta_init(&U, 1, 1);
    U.venue[0].cash = UNITS(1000);
    assert_int_equal(desk_uta_buying_power(&U), UNITS(1000));
    assert_int_equal(desk_uta_venue_bp(&U, 0), UNITS(1000));

    /* A limit buy of 3.33333333 at 100.01: leaves * px, toward zero. */
    int64_t r1 = (int64_t)((__int128)CENTS(10001) * 333333333 / DESK_SCALE);
    desk_uta_reserve(&U, 0, r1);
    assert_int_equal(U.venue[0].reserved, r1);
    assert_int_equal(desk_uta_buying_power(&U), UNITS(1000) - r1);
    assert_int_equal(desk_uta_venue_bp(&U, 0), UNITS(1000) - r1);
    /* A second order stacks. */
    desk_uta_reserve(&U, 0, UNITS(250));
    assert_int_equal(desk_uta_buying_power(&U), UNITS(750) - r1);
    /* Part of the first fills (1 of 3.33333333): its hold shrinks. */
    int64_t r1b = (int64_t)((__int128)CENTS(10001) * 233333333 / DESK_SCALE);
    desk_uta_reserve(&U, 0, r1b - r1);
    assert_int_equal(desk_uta_buying_power(&U), UNITS(750) - r1b);
    /* Both released: all of it back, to the last 1e-8. */
    desk_uta_reserve(&U, 0, -r1b);
    desk_uta_reserve(&U, 0, -UNITS(250));
    assert_int_equal(U.venue[0].reserved, 0);
    assert_int_equal(desk_uta_buying_power(&U), UNITS(1000));
    /* Reserving more than the cash leaves buying power negative, not
     * clamped: the guard must see the truth. */
    desk_uta_reserve(&U, 0, UNITS(1500));
    assert_int_equal(desk_uta_buying_power(&U), -UNITS(500));
    desk_uta_reserve(&U, 0, -UNITS(1500));
    assert_int_equal(desk_uta_buying_power(&U), UNITS(1000));
}

/* Buying power is the sum over venues of cash - reserved: a hold at one
 * venue lowers the UTA total and that venue's, not the other venue's. */
static void test_buying_power_two_venues(void **state)
{
    (void)state;
    desk_uta_init(&U, 2, 2);
    U.venue[0].cash = UNITS(1000);
    U.venue[1].cash = UNITS(500) + 1;
    U.venue[2].cash = UNITS(999); /* not in use: never counted */
    assert_int_equal(desk_uta_buying_power(&U), UNITS(1500) + 1);
    desk_uta_reserve(&U, 1, UNITS(200));
    assert_int_equal(desk_uta_buying_power(&U), UNITS(1300) + 1);
    assert_int_equal(desk_uta_venue_bp(&U, 0), UNITS(1000));
    assert_int_equal(desk_uta_venue_bp(&U, 1), UNITS(300) + 1);
    desk_uta_reserve(&U, 0, UNITS(1000));
    assert_int_equal(desk_uta_buying_power(&U), UNITS(300) + 1);
    assert_int_equal(desk_uta_venue_bp(&U, 0), 0);
    assert_int_equal(desk_uta_venue_bp(&U, 1), UNITS(300) + 1);
    /* A fill at venue 1 moves only venue 1's cash. */
    U.pos[1].venue = 1;
    assert_int_equal(desk_uta_fill(&U, 1, DESK_BUY, UNITS(30), UNITS(10), CENTS(1)), 0);
    assert_int_equal(U.venue[0].cash, UNITS(1000));
    assert_int_equal(U.venue[1].cash, UNITS(500) + 1 - UNITS(300) - CENTS(1));
    assert_int_equal(desk_uta_venue_bp(&U, 0), 0);
    /* venue 0: 1000 - 1000; venue 1: (500 + 1e-8 - 300 - 0.01) - 200. */
    assert_int_equal(desk_uta_buying_power(&U), 1 - CENTS(1));
    assert_int_equal(U.venue[1].fees, CENTS(1));
    assert_int_equal(U.venue[0].fees, 0);
}

/* ---- fills ----------------------------------------------------------------- */

static void test_fill_open_add_reduce_close(void **state)
{
    struct model m = {0};

    (void)state;
    desk_uta_init(&U, 1, 1);
    U.venue[0].cash = UNITS(100000);
    m.cash = UNITS(100000);

    /* Open: buy 10 at 100.00, fee 0.50. */
    fill_both(&m, 0, DESK_BUY, UNITS(100), UNITS(10), CENTS(50));
    assert_int_equal(U.venue[0].cash, UNITS(100000) - UNITS(1000) - CENTS(50));
    assert_int_equal(U.pos[0].qty, UNITS(10));
    assert_int_equal(U.pos[0].avg_px, UNITS(100));
    assert_int_equal(U.pos[0].realized_pnl, 0);
    assert_int_equal(U.pos[0].mark_px, UNITS(100)); /* the first fill marks it */

    /* Add: buy 5 at 103.33: avg (1000 + 516.65) / 15 = 101.11 exactly. */
    fill_both(&m, 0, DESK_BUY, CENTS(10333), UNITS(5), CENTS(25));
    assert_int_equal(U.pos[0].qty, UNITS(15));
    assert_int_equal(U.pos[0].avg_px, CENTS(10111));
    /* Add at a price that does not divide: avg rounds toward zero. */
    fill_both(&m, 0, DESK_BUY, CENTS(10001), UNITS(7), 0);
    int64_t avg3 = (int64_t)(((__int128)CENTS(10111) * UNITS(15) + (__int128)CENTS(10001) *
                              UNITS(7)) / UNITS(22));
    assert_int_equal(U.pos[0].avg_px, avg3);
    assert_int_equal(avg3, INT64_C(10076000000)); /* 100.76 */

    /* Reduce: sell 6 at 105.17 realizes (105.17 - 100.76) * 6 = 26.46. */
    fill_both(&m, 0, DESK_SELL, CENTS(10517), UNITS(6), CENTS(30));
    assert_int_equal(U.pos[0].realized_pnl, CENTS(2646));
    assert_int_equal(U.pos[0].qty, UNITS(16));
    assert_int_equal(U.pos[0].avg_px, avg3); /* reducing keeps the average */
    assert_int_equal(U.venue[0].realized_pnl, CENTS(2646));

    /* Close at a loss: sell 16 at 99.01: (99.01 - 100.76) * 16 = -28.00. */
    fill_both(&m, 0, DESK_SELL, CENTS(9901), UNITS(16), CENTS(10));
    assert_int_equal(U.pos[0].qty, 0);
    assert_int_equal(U.pos[0].avg_px, 0);
    assert_int_equal(U.pos[0].realized_pnl, CENTS(2646) - CENTS(2800));
    assert_int_equal(U.venue[0].realized_pnl, -CENTS(154));
    assert_int_equal(U.venue[0].fees, CENTS(50 + 25 + 30 + 10));
    /* Flat again: cash moved by exactly realized - fees (all prices here
     * are whole cents, so no notional was rounded). */
    assert_int_equal(U.venue[0].cash, UNITS(100000) - CENTS(154) - CENTS(115));
}

static void test_fill_flip_and_short(void **state)
{
    struct model m = {0};

    (void)state;
    desk_uta_init(&U, 1, 1);
    U.venue[0].cash = UNITS(10000);
    m.cash = UNITS(10000);

    /* Long 4 at 50, sell 10 at 60: 4 close (+40), 6 open short at 60. */
    fill_both(&m, 0, DESK_BUY, UNITS(50), UNITS(4), 0);
    fill_both(&m, 0, DESK_SELL, UNITS(60), UNITS(10), 0);
    assert_int_equal(U.pos[0].qty, -UNITS(6));
    assert_int_equal(U.pos[0].avg_px, UNITS(60));
    assert_int_equal(U.pos[0].realized_pnl, UNITS(40));
    /* Cover 6 at 55: a short gains avg - px = 5 each: +30. */
    fill_both(&m, 0, DESK_BUY, UNITS(55), UNITS(6), 0);
    assert_int_equal(U.pos[0].qty, 0);
    assert_int_equal(U.pos[0].avg_px, 0);
    assert_int_equal(U.pos[0].realized_pnl, UNITS(70));
    /* Open short from flat and add: avg (30 + 14) / 4 = 11. */
    fill_both(&m, 0, DESK_SELL, UNITS(10), UNITS(3), 0);
    fill_both(&m, 0, DESK_SELL, UNITS(14), UNITS(1), 0);
    assert_int_equal(U.pos[0].qty, -UNITS(4));
    assert_int_equal(U.pos[0].avg_px, UNITS(11));
    /* Buy 8 at 9 through zero: +2 on 4 closed, long 4 at 9. */
    fill_both(&m, 0, DESK_BUY, UNITS(9), UNITS(8), 0);
    assert_int_equal(U.pos[0].qty, UNITS(4));
    assert_int_equal(U.pos[0].avg_px, UNITS(9));
    assert_int_equal(U.pos[0].realized_pnl, UNITS(78));
    /* A short covered at a loss. */
    fill_both(&m, 0, DESK_SELL, UNITS(9), UNITS(4), 0);
    fill_both(&m, 0, DESK_SELL, UNITS(20), UNITS(2), 0);
    fill_both(&m, 0, DESK_BUY, UNITS(23), UNITS(2), 0);
    assert_int_equal(U.pos[0].realized_pnl, UNITS(72));
    assert_int_equal(U.pos[0].qty, 0);
    /* The cash: every trade at whole units, so exact. */
    assert_int_equal(U.venue[0].cash, UNITS(10000) + UNITS(72));
}

/* Realized PnL is (px - avg) * closed / 1e8 toward zero, at 1e-8 scale,
 * including negative results and sub-unit quantities. */
static void test_fill_realized_exact(void **state)
{
    struct model m = {0};

    (void)state;
    desk_uta_init(&U, 1, 1);
    U.venue[0].cash = UNITS(1000000);
    m.cash = UNITS(1000000);
    fill_both(&m, 0, DESK_BUY, 100000001, 33333333, 0); /* 1.00000001 x 0.33333333 */
    fill_both(&m, 0, DESK_BUY, 99999999, 66666667, 1);
    fill_both(&m, 0, DESK_SELL, 100000000, 50000000, 0);
    /* By hand: avg = (100000001*33333333 + 99999999*66666667) / 1e8. */
    __int128 cost = (__int128)100000001 * 33333333 + (__int128)99999999 * 66666667;
    int64_t avg = (int64_t)(cost / 100000000);
    assert_int_equal(U.pos[0].avg_px, avg);
    int64_t real = (int64_t)((__int128)(100000000 - avg) * 50000000 / DESK_SCALE);
    assert_int_equal(U.pos[0].realized_pnl, real);
    /* A 1e-8 loss on half a unit rounds toward zero, to 0, not -1. */
    desk_uta_init(&U, 1, 1);
    memset(&m, 0, sizeof m);
    fill_both(&m, 0, DESK_BUY, 100000001, UNITS(1), 0);
    fill_both(&m, 0, DESK_SELL, 100000000, 50000000, 0);
    assert_int_equal(U.pos[0].realized_pnl, 0);
    fill_both(&m, 0, DESK_SELL, 99999997, 50000000, 0); /* -4e-8 * 0.5 = -2e-8 */
    assert_int_equal(U.pos[0].realized_pnl, -2);

    /* A maker rebate (negative fee) adds to cash and reduces fees. */
    desk_uta_init(&U, 1, 1);
    memset(&m, 0, sizeof m);
    fill_both(&m, 0, DESK_SELL, UNITS(10), UNITS(1), -CENTS(1));
    assert_int_equal(U.venue[0].cash, UNITS(10) + CENTS(1));
    assert_int_equal(U.venue[0].fees, -CENTS(1));
}

/* A long random walk of fills against the model, two instruments on two
 * venues (seeded, reproducible). */
static void test_fill_random_against_model(void **state)
{
    struct model m[2];
    uint64_t x = 0x243f6a8885a308d3ull;

    (void)state;
    desk_uta_init(&U, 2, 2);
    U.pos[1].venue = 1;
    memset(m, 0, sizeof m);
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint32_t inst = (uint32_t)(x & 1);
        uint8_t side = (x >> 1) & 1 ? DESK_BUY : DESK_SELL;
        int64_t px = (int64_t)(50 * DESK_SCALE + (int64_t)((x >> 8) % (100 * 100)) * 1000000 +
                               (int64_t)((x >> 24) % 3)); /* 50.00 .. 149.99, odd 1e-8s */
        int64_t qty = (int64_t)((x >> 32) % 2000 + 1) * 1000000; /* 0.01 .. 20.00 */
        int64_t fee = (int64_t)((x >> 48) % 100);
        fill_both(&m[inst], inst, side, px, qty, fee);
        /* Each venue's fees and realized PnL are its instrument's. */
        assert_int_equal(U.venue[inst].realized_pnl, m[inst].realized);
        assert_int_equal(U.pos[inst].venue, inst);
    }
    /* Both sides and flips happened. */
    assert_true(m[0].realized != 0 && m[1].realized != 0);
}

/* A fill whose products overflow is refused and changes nothing. */
static void test_fill_overflow_changes_nothing(void **state)
{
    desk_uta_t before;

    (void)state;
    desk_uta_init(&U, 1, 1);
    U.venue[0].cash = UNITS(1000);
    U.pos[0].qty = UNITS(1);
    U.pos[0].avg_px = UNITS(10);
    U.pos[0].mark_px = UNITS(11);
    memcpy(&before, &U, sizeof U);
    /* Notional beyond int64. */
    assert_int_equal(desk_uta_fill(&U, 0, DESK_BUY, INT64_MAX / 4, UNITS(1000), 5), -ERANGE);
    assert_memory_equal(&before, &U, sizeof U);
    /* Position beyond int64. */
    U.pos[0].qty = INT64_MAX - 5;
    memcpy(&before, &U, sizeof U);
    assert_int_equal(desk_uta_fill(&U, 0, DESK_BUY, 1, 10, 5), -ERANGE);
    assert_memory_equal(&before, &U, sizeof U);
    /* Realized beyond int64: short 100 at 9e9, covered at 1. */
    U.pos[0].qty = -UNITS(100);
    U.pos[0].avg_px = UNITS(9000000000);
    memcpy(&before, &U, sizeof U);
    assert_int_equal(desk_uta_fill(&U, 0, DESK_BUY, UNITS(1), UNITS(100), 5), -ERANGE);
    assert_memory_equal(&before, &U, sizeof U);
}

/* ---- marks, unrealized, day PnL -------------------------------------------- */

static void test_unrealized_at_mark(void **state)
{
    (void)state;
    desk_uta_init(&U, 1, 3);
    /* Long 10 at 100, marked at 103.50: +35. */
    assert_int_equal(desk_uta_fill(&U, 0, DESK_BUY, UNITS(100), UNITS(10), 0), 0);
    assert_int_equal(desk_uta_unrealized(&U, 0), 0); /* marked at its fill */
    desk_uta_mark(&U, 0, CENTS(10350));
    assert_int_equal(U.pos[0].mark_px, CENTS(10350));
    assert_int_equal(desk_uta_unrealized(&U, 0), UNITS(35));
    /* Later fills do not move an existing mark. */
    assert_int_equal(desk_uta_fill(&U, 0, DESK_BUY, UNITS(90), UNITS(10), 0), 0);
    assert_int_equal(U.pos[0].mark_px, CENTS(10350));
    /* avg 95 on 20: (103.50 - 95) * 20 = 170. */
    assert_int_equal(desk_uta_unrealized(&U, 0), UNITS(170));
    /* Short 10 at 100, marked at 103.50: -35. */
    assert_int_equal(desk_uta_fill(&U, 1, DESK_SELL, UNITS(100), UNITS(10), 0), 0);
    desk_uta_mark(&U, 1, CENTS(10350));
    assert_int_equal(desk_uta_unrealized(&U, 1), -UNITS(35));
    /* Odd numbers: (mark - avg) * qty toward zero. */
    desk_uta_mark(&U, 1, 10000000001);
    assert_int_equal(desk_uta_unrealized(&U, 1), mul8(10000000001 - UNITS(100), -UNITS(10)));
    assert_int_equal(desk_uta_unrealized(&U, 1), -10);
    /* Flat: 0 whatever the mark. */
    desk_uta_mark(&U, 2, UNITS(5));
    assert_int_equal(desk_uta_unrealized(&U, 2), 0);
    assert_int_equal(desk_uta_fill(&U, 1, DESK_BUY, UNITS(100), UNITS(10), 0), 0);
    assert_int_equal(desk_uta_unrealized(&U, 1), 0);
}

static void test_day_pnl(void **state)
{
    (void)state;
    desk_uta_init(&U, 2, 3);
    U.venue[0].cash = UNITS(10000);
    U.venue[1].cash = UNITS(10000);
    U.pos[1].venue = 1;
    U.pos[2].venue = 1;
    /* Realized +20 at venue 0 (fees 0.30), unrealized on 1 and 2. */
    assert_int_equal(desk_uta_fill(&U, 0, DESK_BUY, UNITS(10), UNITS(10), CENTS(10)), 0);
    assert_int_equal(desk_uta_fill(&U, 0, DESK_SELL, UNITS(12), UNITS(10), CENTS(20)), 0);
    assert_int_equal(desk_uta_fill(&U, 1, DESK_BUY, UNITS(50), UNITS(2), CENTS(5)), 0);
    assert_int_equal(desk_uta_fill(&U, 2, DESK_SELL, UNITS(7), UNITS(3), 0), 0);
    desk_uta_mark(&U, 1, UNITS(45));   /* -10 */
    desk_uta_mark(&U, 2, CENTS(650));  /* short 3 at 7 marked 6.50: +1.50 */
    int64_t want = UNITS(20) - CENTS(30) - CENTS(5) - UNITS(10) + CENTS(150);
    assert_int_equal(desk_uta_day_pnl(&U), want);
    /* Venue 1's realized counts too. */
    assert_int_equal(desk_uta_fill(&U, 1, DESK_SELL, UNITS(46), UNITS(1), 0), 0);
    want += -UNITS(4) + UNITS(5); /* realized (46 - 50) * 1; unrealized now -5 on 1 */
    assert_int_equal(desk_uta_day_pnl(&U), want);
}

/* ---- publish --------------------------------------------------------------- */

static size_t uta_bytes(uint32_t nv, uint32_t ni)
{
    (void)nv; /* every venue slot is copied, only ni positions */
    return offsetof(struct desk_uta_shm, pos) + (size_t)ni * sizeof(struct desk_uta_pos) -
           offsetof(struct desk_uta_shm, t);
}

/* A UTA with three positions on two venues, reservations and marks. */
static void sample_uta(void)
{
    desk_uta_init(&U, 2, 3);
    U.venue[0].cash = UNITS(10000);
    U.venue[1].cash = UNITS(5000) + 7;
    U.venue[0].venue_bp = UNITS(123);
    U.venue[1].venue_bp = UNITS(456);
    U.pos[0].venue = 0;
    U.pos[1].venue = 1;
    U.pos[2].venue = 1;
    assert_int_equal(desk_uta_fill(&U, 0, DESK_BUY, CENTS(10001), 150000000, CENTS(3)), 0);
    assert_int_equal(desk_uta_fill(&U, 0, DESK_SELL, CENTS(10203), 50000000, CENTS(2)), 0);
    assert_int_equal(desk_uta_fill(&U, 1, DESK_SELL, CENTS(2550), UNITS(4), CENTS(1)), 0);
    assert_int_equal(desk_uta_fill(&U, 2, DESK_BUY, 333333333, 300000001, 0), 0);
    desk_uta_mark(&U, 0, CENTS(10100) + 3);
    desk_uta_mark(&U, 1, CENTS(2600));
    desk_uta_mark(&U, 2, 333333334);
    U.pos[0].open_buy = UNITS(2);
    U.pos[1].open_sell = UNITS(3);
    desk_uta_reserve(&U, 0, UNITS(202));
    desk_uta_reserve(&U, 1, UNITS(10));
}

/* Check a snapshot against U, every number computed by hand. */
static void check_snapshot(const struct desk_uta_shm *s, uint64_t now)
{
    __int128 cash = 0, reserved = 0, realized = 0, fees = 0, unreal = 0, value = 0;
    __int128 v_equity[DESK_SHM_MAX_CONNECTORS] = {0}, v_unreal[DESK_SHM_MAX_CONNECTORS] = {0};

    for (uint32_t i = 0; i < U.ninstruments; i++) {
        const desk_uta_pos_state_t *p = &U.pos[i];
        const struct desk_uta_pos *o = &s->pos[i];
        int64_t un = p->qty ? mul8(p->mark_px - p->avg_px, p->qty) : 0;
        int64_t val = mul8(p->qty, p->mark_px);
        assert_int_equal(o->qty, p->qty);
        assert_int_equal(o->avg_px, p->avg_px);
        assert_int_equal(o->mark_px, p->mark_px);
        assert_int_equal(o->realized_pnl, p->realized_pnl);
        assert_int_equal(o->unrealized_pnl, un);
        assert_int_equal(o->open_buy_qty, p->open_buy);
        assert_int_equal(o->open_sell_qty, p->open_sell);
        assert_int_equal(o->pad_, 0);
        unreal += un;
        value += val;
        v_equity[p->venue] += val;
        v_unreal[p->venue] += un;
    }
    for (uint32_t i = 0; i < U.nvenues; i++) {
        const desk_uta_venue_state_t *v = &U.venue[i];
        const struct desk_uta_venue *o = &s->venues[i];
        assert_int_equal(o->cash, v->cash);
        assert_int_equal(o->reserved, v->reserved);
        assert_int_equal(o->buying_power, v->cash - v->reserved);
        assert_true((__int128)o->equity == v->cash + v_equity[i]);
        assert_int_equal(o->realized_pnl, v->realized_pnl - v->fees); /* after fees */
        assert_true((__int128)o->unrealized_pnl == v_unreal[i]);
        assert_int_equal(o->fees, v->fees);
        assert_int_equal(o->venue_bp, v->venue_bp);
        cash += v->cash;
        reserved += v->reserved;
        realized += v->realized_pnl - v->fees;
        fees += v->fees;
    }
    assert_true((__int128)s->t.cash == cash);
    assert_true((__int128)s->t.reserved == reserved);
    assert_true((__int128)s->t.buying_power == cash - reserved);
    assert_true((__int128)s->t.nav == cash + value); /* NAV = cash + sum(qty * mark) */
    assert_true((__int128)s->t.realized_pnl == realized);
    assert_true((__int128)s->t.unrealized_pnl == unreal);
    assert_true((__int128)s->t.fees == fees);
    assert_int_equal(s->t.updated_ns, now);
}

static void test_publish_read_back(void **state)
{
    (void)state;
    sample_uta();
    memset(&SHM, 0, sizeof SHM);
    /* Positions past ninstruments are not part of the snapshot. */
    memset(&SHM.pos[U.ninstruments], 0x5a, sizeof SHM.pos[0]);
    desk_uta_publish(&U, &SHM, 111);
    memset(&READ, 0xee, sizeof READ);
    size_t n = uta_bytes(U.nvenues, U.ninstruments);
    assert_int_equal(n, desk_shm_uta_bytes(U.nvenues, U.ninstruments));
    uint64_t s1 = desk_seqlock_read(&SHM.lock, &READ.t, &SHM.t, n);
    assert_int_equal(s1, 2);
    check_snapshot(&READ, 111);
    /* The totals agree with the live functions. */
    assert_int_equal(READ.t.buying_power, desk_uta_buying_power(&U));
    assert_int_equal(READ.t.realized_pnl + READ.t.unrealized_pnl, desk_uta_day_pnl(&U));
    unsigned char sentinel[sizeof SHM.pos[0]];
    memset(sentinel, 0x5a, sizeof sentinel);
    assert_memory_equal(&SHM.pos[U.ninstruments], sentinel, sizeof sentinel);

    /* Trade on and publish again: everything is recomputed, not added to
     * the previous snapshot. */
    assert_int_equal(desk_uta_fill(&U, 1, DESK_BUY, CENTS(2500), UNITS(6), CENTS(4)), 0);
    desk_uta_mark(&U, 1, CENTS(2450));
    desk_uta_reserve(&U, 0, -UNITS(202));
    desk_uta_publish(&U, &SHM, 222);
    uint64_t s2 = desk_seqlock_read(&SHM.lock, &READ.t, &SHM.t, n);
    assert_int_equal(s2, s1 + 2);
    check_snapshot(&READ, 222);
    /* Publishing twice gives the same numbers. */
    desk_uta_publish(&U, &SHM, 222);
    struct desk_uta_shm *again = &SHM; /* read into a fresh copy */
    static struct desk_uta_shm READ2;
    assert_int_equal(desk_seqlock_read(&again->lock, &READ2.t, &again->t, n), s2 + 2);
    assert_memory_equal(&READ.t, &READ2.t, n);
}

/* A reader racing the writer sees only whole snapshots: in each, NAV is
 * cash plus the positions' value and the totals add up. */
struct race {
    _Atomic int stop;
    _Atomic long snapshots;
    _Atomic long bad;
};

static void *reader(void *arg)
{
    struct race *r = arg;
    static struct desk_uta_shm snap;
    size_t n = uta_bytes(2, 3);
    uint64_t last = 0;

    while (!atomic_load_explicit(&r->stop, memory_order_acquire)) {
        uint64_t s = desk_seqlock_read(&SHM.lock, &snap.t, &SHM.t, n);
        if (s == last || s == 0)
            continue;
        last = s;
        __int128 value = 0, cash = 0, bp = 0;
        for (int i = 0; i < 3; i++)
            value += (__int128)snap.pos[i].qty * snap.pos[i].mark_px / DESK_SCALE;
        for (int i = 0; i < 2; i++) {
            cash += snap.venues[i].cash;
            bp += snap.venues[i].buying_power;
        }
        int ok = snap.t.nav == cash + value && snap.t.cash == cash && snap.t.buying_power == bp &&
                 (uint64_t)snap.pos[0].qty == snap.t.updated_ns; /* the writer's tag */
        if (!ok)
            atomic_fetch_add_explicit(&r->bad, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&r->snapshots, 1, memory_order_relaxed);
    }
    return NULL;
}

static void test_publish_concurrent_reader(void **state)
{
    struct race r;
    pthread_t th;
#ifdef DESK_SANITIZED
    const int rounds = 20000;
#else
    const int rounds = 200000;
#endif

    (void)state;
    atomic_init(&r.stop, 0);
    atomic_init(&r.snapshots, 0);
    atomic_init(&r.bad, 0);
    memset(&SHM, 0, sizeof SHM);
    desk_uta_init(&U, 2, 3);
    U.pos[1].venue = 1;
    U.pos[2].venue = 1;
    assert_int_equal(pthread_create(&th, NULL, reader, &r), 0);
    for (int k = 1; k <= rounds; k++) {
        /* Every field changes each round; qty of 0 doubles as a tag. */
        U.pos[0].qty = k;
        U.pos[0].mark_px = UNITS(100) + k;
        U.pos[1].qty = -UNITS(k % 97);
        U.pos[1].mark_px = UNITS(3) + k;
        U.pos[2].qty = UNITS(k % 13);
        U.pos[2].mark_px = CENTS(k);
        U.venue[0].cash = UNITS(1000) - k;
        U.venue[1].cash = UNITS(k);
        U.venue[1].reserved = k;
        desk_uta_publish(&U, &SHM, (uint64_t)k);
    }
    atomic_store_explicit(&r.stop, 1, memory_order_release);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(atomic_load(&r.bad), 0);
    assert_true(atomic_load(&r.snapshots) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_reserve_and_release),
        cmocka_unit_test(test_buying_power_two_venues),
        cmocka_unit_test(test_fill_open_add_reduce_close),
        cmocka_unit_test(test_fill_flip_and_short),
        cmocka_unit_test(test_fill_realized_exact),
        cmocka_unit_test(test_fill_random_against_model),
        cmocka_unit_test(test_fill_overflow_changes_nothing),
        cmocka_unit_test(test_unrealized_at_mark),
        cmocka_unit_test(test_day_pnl),
        cmocka_unit_test(test_publish_read_back),
        cmocka_unit_test(test_publish_concurrent_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
