/*
 * paper_test.c - the paper venue: market-data loaders (md.h) and the
 * matching engine (engine.h), on the real recorded data.
 *
 *  - The Binance capture is decoded twice: by desk_md_load_binance() and, in
 *    this file, independently with zlib + cJSON + a local decimal parser; the
 *    two must agree event for event.
 *  - The engine replays the whole capture with scripted orders (market,
 *    large market, resting limits both sides, IOC, FOK both ways, stop and
 *    stop-limit, DAY and GTC, cancels, replaces, cash and inventory
 *    rejects).  Every FILL is checked against the independent decode at the
 *    md index it reports: taker at exactly that QUOTE's touch, maker at the
 *    order's limit with the event through it, never more than the event's
 *    displayed size in total, cum_qty consistent, fee exact; final cash and
 *    position equal the sums of the fills; no allocation during the replay.
 *  - Small hand-made event sequences pin single rules (a trade AT the limit
 *    does not fill, midnight expiry, funding, rejects).
 *  - The LOBSTER AMZN files are checked against a plain CSV read.
 *
 * Exit 77 (skip) if the shared data is absent.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <cmocka.h>
#include <zlib.h>

#include "connectors/paper/engine.h"
#include "connectors/paper/md.h"
#include "core/err.h"

/* ---- allocation counter (interposes malloc; off under sanitizers) ---- */
#if !defined(DESK_SANITIZED)
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static long g_allocs;
void *malloc(size_t n)
{
    g_allocs++;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
    g_allocs++;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
    g_allocs++;
    return __libc_realloc(p, n);
}
void free(void *p)
{
    __libc_free(p);
}
#endif

#define BINANCE_REL "binance_spot_btcusdt_2024-08-08/btcusdt_20240808.gz"
#define LOBSTER_REL "lobster_amzn_2012-06-21"
#define LOBSTER_MSG_NAME "AMZN_2012-06-21_34200000_57600000_message_1.csv"
#define LOBSTER_BOOK_NAME "AMZN_2012-06-21_34200000_57600000_orderbook_1.csv"

/* The data directory: DESK_SHARED_DATA/marketdata, else the repo's
 * .cache/marketdata that tools/fetch-data.sh fills. */
static char DATA_DIR[1024];
static char BINANCE_PATH[1200], LOBSTER_DIR[1200], LOBSTER_MSG[1300], LOBSTER_BOOK[1300];

#define S DESK_SCALE
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg(__VA_ARGS__);                                                                 \
    } while (0)

/* ---------------------------------------------------------------------- */
/* Independent decode of the Binance capture: zlib + cJSON                 */
/* ---------------------------------------------------------------------- */

struct ref {
    int64_t ts;
    int kind; /* 1 quote, 2 trade */
    int64_t bid, bq, ask, aq, px, qty;
    int aggr; /* DESK_BUY / DESK_SELL for trades */
};

static struct ref *R; /* the reference events */
static size_t NR;
static desk_md_t *MD; /* the loader's events */
static long ref_depth, ref_snapshot, ref_lines;

/* "61837.63000000" -> 6183763000000, written here independently of core/fixed.c. */
static int64_t dec8(const char *s)
{
    int neg = *s == '-';
    if (neg)
        s++;
    const char *dot = strchr(s, '.');
    int64_t ip = strtoll(s, NULL, 10);
    int64_t fp = 0;
    int nd = 0;
    if (dot != NULL) {
        for (const char *p = dot + 1; *p; p++, nd++) {
            if (nd < 8)
                fp = fp * 10 + (*p - '0');
            else if (*p != '0')
                fail_msg("reference decimal %s has more than 8 decimals", s);
        }
    }
    for (; nd < 8; nd++)
        fp *= 10;
    return (neg ? -1 : 1) * (ip * S + fp);
}

static int load_reference(void)
{
    gzFile gz = gzopen(BINANCE_PATH, "rb");
    size_t cap = 65536;
    char *line = malloc(1 << 20);

    if (gz == NULL)
        return -1;
    R = malloc(cap * sizeof *R);
    while (gzgets(gz, line, 1 << 20) != NULL) {
        ref_lines++;
        char *sp = strchr(line, ' ');
        if (sp == NULL)
            fail_msg("reference: line %ld has no space", ref_lines);
        int64_t ts = strtoll(line, NULL, 10);
        cJSON *root = cJSON_Parse(sp + 1);
        if (root == NULL)
            fail_msg("reference: cJSON cannot parse line %ld", ref_lines);
        cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
        cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
        struct ref r;
        memset(&r, 0, sizeof r);
        r.ts = ts;
        if (!cJSON_IsString(stream)) {
            if (cJSON_GetObjectItemCaseSensitive(root, "lastUpdateId") != NULL)
                ref_snapshot++;
            cJSON_Delete(root);
            continue;
        }
        if (strcmp(stream->valuestring, "btcusdt@bookTicker") == 0) {
            r.kind = 1;
            r.bid = dec8(cJSON_GetObjectItemCaseSensitive(data, "b")->valuestring);
            r.bq = dec8(cJSON_GetObjectItemCaseSensitive(data, "B")->valuestring);
            r.ask = dec8(cJSON_GetObjectItemCaseSensitive(data, "a")->valuestring);
            r.aq = dec8(cJSON_GetObjectItemCaseSensitive(data, "A")->valuestring);
        } else if (strcmp(stream->valuestring, "btcusdt@trade") == 0) {
            r.kind = 2;
            r.px = dec8(cJSON_GetObjectItemCaseSensitive(data, "p")->valuestring);
            r.qty = dec8(cJSON_GetObjectItemCaseSensitive(data, "q")->valuestring);
            /* m: buyer is maker -> the seller was the aggressor */
            r.aggr =
                cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "m")) ? DESK_SELL : DESK_BUY;
        } else if (strstr(stream->valuestring, "@depth") != NULL) {
            ref_depth++;
        }
        cJSON_Delete(root);
        if (r.kind == 0)
            continue;
        if (NR == cap) {
            cap *= 2;
            R = realloc(R, cap * sizeof *R);
        }
        R[NR++] = r;
    }
    free(line);
    gzclose(gz);
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    struct timespec a, b;

    if (load_reference() != 0)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = desk_md_load_binance(BINANCE_PATH, &MD);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (rc != 0) {
        print_error("desk_md_load_binance: %d %s\n", rc, desk_errmsg());
        return -1;
    }
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    print_message("loaded %zu events from %llu lines in %.3f s\n", MD->n,
                  (unsigned long long)MD->lines, secs);
    /* Printed, not asserted: tests make no timing assertions. */
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    desk_md_destroy(MD);
    free(R);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Loader vs reference                                                     */
/* ---------------------------------------------------------------------- */

static void test_binance_matches_reference(void **state)
{
    (void)state;
    /* README: 41,249 lines = 28,040 bookTicker + 9,757 trade + 3,451 depth + 1 snapshot. */
    assert_int_equal(MD->lines, 41249);
    assert_int_equal(ref_lines, 41249);
    assert_int_equal(MD->quotes, 28040);
    assert_int_equal(MD->trades, 9757);
    assert_int_equal(MD->depth, 3451);
    assert_int_equal(MD->snapshot, 1);
    assert_int_equal(MD->other, 0);
    assert_int_equal(ref_depth, 3451);
    assert_int_equal(ref_snapshot, 1);
    assert_string_equal(MD->symbol, "BTCUSDT");
    assert_int_equal(MD->format, DESK_MD_BINANCE);
    assert_int_equal(MD->n, NR);
    for (size_t i = 0; i < NR; i++) {
        const desk_md_event_t *e = &MD->ev[i];
        const struct ref *r = &R[i];
        CHECK(e->ts_ns == r->ts && e->kind == r->kind, "event %zu: ts/kind differ", i);
        if (r->kind == 1)
            CHECK(e->bid_px == r->bid && e->bid_qty == r->bq && e->ask_px == r->ask &&
                      e->ask_qty == r->aq && e->px == 0 && e->qty == 0 && e->aggressor == 0,
                  "quote %zu differs", i);
        else
            CHECK(e->px == r->px && e->qty == r->qty && e->aggressor == r->aggr && e->bid_px == 0 &&
                      e->ask_px == 0,
                  "trade %zu differs", i);
    }
    /* A few values spelled out (first quote and trade of the capture). */
    assert_int_equal(MD->ev[0].ts_ns, 1723161254087891268);
    assert_int_equal(MD->ev[0].bid_px, 6183763000000);
    assert_int_equal(MD->ev[0].bid_qty, 378826000);
    assert_int_equal(MD->ev[0].ask_px, 6183764000000);
    assert_int_equal(MD->ev[0].ask_qty, 154698000);
    assert_int_equal(MD->ev[1].kind, DESK_MD_TRADE);
    assert_int_equal(MD->ev[1].px, 6183763000000);
    assert_int_equal(MD->ev[1].qty, 2000000);
    assert_int_equal(MD->ev[1].aggressor, DESK_SELL);
}

/* ---------------------------------------------------------------------- */
/* Engine over the whole capture                                           */
/* ---------------------------------------------------------------------- */

#define FEE_BPS 10  /* taker */
#define MAKER_BPS 2 /* maker */
#define START_CASH (INT64_C(1000000) * S)
#define MAX_TORD 128

/* What the test knows about each order it sent. */
struct tord {
    int used; /* slot in use */
    uint8_t side, type, tif;
    int64_t qty, px, stop;
    uint64_t cl;        /* current ClOrdID */
    uint64_t place_idx; /* md index after which it was placed */
    int64_t cum;
    int acked, rejected, canceled, expired, replaced, cancel_rejects;
    uint16_t reason, cr_reason;
    int fills, maker_fills, taker_fills;
    uint64_t first_fill_idx, last_fill_idx;
    uint64_t first_fill_cur; /* md index being processed when it first filled */
    int fill_idx_changes;    /* number of distinct md indices (consecutive) */
};

struct world {
    desk_paper_engine_t *eng;
    struct tord o[MAX_TORD];
    int64_t (*used)[2]; /* per md event: qty our fills took, [0] buys [1] sells */
    uint64_t cur;       /* md index just fed */
    uint64_t last_exec; /* last exec_id seen */
    int64_t cash, pos;  /* computed from fills */
    long nfills, nevents;
    long maker_on_quote, maker_on_trade; /* maker fills by the kind of md event */
};

static struct world W;

/* The last reference QUOTE at or before md index i. */
static size_t quote_at(size_t i)
{
    while (R[i].kind != 1)
        i--;
    return i;
}

static int64_t fee_of(int64_t px, int64_t qty, int bps)
{
    int64_t notional = (int64_t)((__int128)px * qty / S);
    return (int64_t)((__int128)notional * bps / 10000);
}

static void on_event(const desk_vevent_t *ev, const desk_paper_fill_info_t *info, void *ctx)
{
    struct world *w = ctx;
    CHECK(ev->order_id < MAX_TORD, "event for unknown order %llu",
          (unsigned long long)ev->order_id);
    struct tord *o = &w->o[ev->order_id];

    w->nevents++;
    CHECK(ev->exec_id > w->last_exec, "exec_id %llu not increasing",
          (unsigned long long)ev->exec_id);
    w->last_exec = ev->exec_id;
    CHECK(ev->instrument == 7, "instrument %u", ev->instrument);
    switch (ev->type) {
    case DESK_EV_ACK:
        o->acked++;
        break;
    case DESK_EV_REJECT:
        o->rejected++;
        o->reason = ev->reason;
        break;
    case DESK_EV_CANCELED:
        o->canceled++;
        CHECK(ev->cum_qty == o->cum, "order %llu canceled with cum %lld, filled %lld",
              (unsigned long long)ev->order_id, (long long)ev->cum_qty, (long long)o->cum);
        break;
    case DESK_EV_EXPIRED:
        o->expired++;
        CHECK(ev->cum_qty == o->cum, "order %llu expired with cum %lld, filled %lld",
              (unsigned long long)ev->order_id, (long long)ev->cum_qty, (long long)o->cum);
        break;
    case DESK_EV_REPLACED:
        o->replaced++;
        CHECK(ev->cum_qty == o->cum, "replaced: cum");
        break;
    case DESK_EV_CANCEL_REJECT:
        o->cancel_rejects++;
        o->cr_reason = ev->reason;
        break;
    case DESK_EV_FILL: {
        CHECK(info != NULL, "fill without info");
        size_t idx = (size_t)info->md_index;
        CHECK(idx <= w->cur && idx < NR, "fill at md %zu after current %llu", idx,
              (unsigned long long)w->cur);
        const struct ref *r = &R[idx];
        int buy = o->side == DESK_BUY;
        int64_t px = ev->last_px, q = ev->last_qty;
        CHECK(q > 0, "fill qty %lld", (long long)q);
        if (!info->maker) {
            CHECK(!(ev->flags & DESK_VEV_MAKER), "taker fill flagged maker");
            CHECK(r->kind == 1, "taker fill at md %zu, not a quote", idx);
            CHECK(px == (buy ? r->ask : r->bid), "order %llu taker fill at %lld, touch %lld",
                  (unsigned long long)ev->order_id, (long long)px,
                  (long long)(buy ? r->ask : r->bid));
            if (o->type == DESK_LIMIT || o->type == DESK_STOP_LIMIT)
                CHECK(buy ? px <= o->px : px >= o->px, "taker fill outside limit");
            w->o[ev->order_id].taker_fills++;
        } else {
            CHECK(ev->flags & DESK_VEV_MAKER, "maker fill not flagged");
            CHECK(o->type == DESK_LIMIT || o->type == DESK_STOP_LIMIT, "maker fill of a non-limit");
            CHECK(px == o->px, "maker fill at %lld, limit %lld", (long long)px, (long long)o->px);
            if (r->kind == 1) {
                CHECK(buy ? (r->ask > 0 && r->ask <= px) : (r->bid >= px),
                      "maker fill at md %zu: quote not through the limit", idx);
                w->maker_on_quote++;
            } else {
                CHECK(buy ? r->px < px : r->px > px,
                      "maker fill at md %zu: trade %lld not strictly through %lld", idx,
                      (long long)r->px, (long long)px);
                w->maker_on_trade++;
            }
            o->maker_fills++;
        }
        /* The event's displayed size bounds all our fills at it together. */
        if (r->kind == 1) {
            w->used[idx][buy ? 0 : 1] += q;
            CHECK(w->used[idx][buy ? 0 : 1] <= (buy ? r->aq : r->bq),
                  "fills at md %zu exceed the displayed size", idx);
        } else {
            w->used[idx][0] += q;
            CHECK(w->used[idx][0] <= r->qty, "fills at trade %zu exceed its size", idx);
        }
        CHECK(ev->cum_qty == o->cum + q, "cum_qty %lld != %lld + %lld", (long long)ev->cum_qty,
              (long long)o->cum, (long long)q);
        o->cum += q;
        CHECK(o->cum <= o->qty, "order %llu overfilled", (unsigned long long)ev->order_id);
        int64_t want_fee = fee_of(px, q, info->maker ? MAKER_BPS : FEE_BPS);
        CHECK(ev->fee == want_fee, "fee %lld want %lld", (long long)ev->fee, (long long)want_fee);
        int64_t notional = (int64_t)((__int128)px * q / S);
        if (buy) {
            w->cash -= notional + ev->fee;
            w->pos += q;
        } else {
            w->cash += notional - ev->fee;
            w->pos -= q;
        }
        if (o->fills == 0) {
            o->first_fill_idx = idx;
            o->first_fill_cur = w->cur;
        }
        if (o->fills == 0 || idx != o->last_fill_idx)
            o->fill_idx_changes++;
        o->last_fill_idx = idx;
        o->fills++;
        w->nfills++;
        break;
    }
    default:
        fail_msg("unexpected event type %u", ev->type);
    }
}

static uint64_t next_cl = 1000;

/* Send a NEW for test order id; the record remembers what was asked. */
static void send_new(uint64_t id, uint8_t side, uint8_t type, uint8_t tif, int64_t qty, int64_t px,
                     int64_t stop)
{
    struct tord *o = &W.o[id];
    desk_vcmd_t c;

    memset(&c, 0, sizeof c);
    c.type = DESK_CMD_NEW;
    c.side = side;
    c.ord_type = type;
    c.tif = tif;
    c.instrument = 7;
    c.order_id = id;
    c.cl_ord_id = ++next_cl;
    c.qty = qty;
    c.px = px;
    c.stop_px = stop;
    memset(o, 0, sizeof *o);
    o->used = 1;
    o->side = side;
    o->type = type;
    o->tif = tif;
    o->qty = qty;
    o->px = px;
    o->stop = stop;
    o->cl = c.cl_ord_id;
    o->place_idx = W.cur;
    assert_int_equal(desk_paper_engine_cmd(W.eng, &c), 0);
}

static void send_cancel(uint64_t id, uint64_t orig_cl)
{
    desk_vcmd_t c;

    memset(&c, 0, sizeof c);
    c.type = DESK_CMD_CANCEL;
    c.instrument = 7;
    c.order_id = id;
    c.cl_ord_id = ++next_cl;
    c.orig_cl_ord_id = orig_cl;
    assert_int_equal(desk_paper_engine_cmd(W.eng, &c), 0);
}

static void send_replace(uint64_t id, int64_t qty, int64_t px)
{
    struct tord *o = &W.o[id];
    desk_vcmd_t c;
    int before = o->replaced;

    memset(&c, 0, sizeof c);
    c.type = DESK_CMD_REPLACE;
    c.instrument = 7;
    c.order_id = id;
    c.cl_ord_id = ++next_cl;
    c.orig_cl_ord_id = o->cl;
    c.qty = qty;
    c.px = px;
    /* Update what the verifier expects before the engine can fill at the new px. */
    int64_t old_qty = o->qty, old_px = o->px;
    o->qty = qty;
    o->px = px;
    assert_int_equal(desk_paper_engine_cmd(W.eng, &c), 0);
    if (o->replaced == before) {
        o->qty = old_qty; /* refused: nothing changed */
        o->px = old_px;
    } else {
        o->cl = c.cl_ord_id;
    }
}

/* What the current quote still offers to buys (+1) or sells (-1). */
static int64_t avail_now(int buy)
{
    size_t q = quote_at(W.cur);
    return buy ? R[q].aq - W.used[q][0] : R[q].bq - W.used[q][1];
}

/* Cross-check every open order's engine state with the test's. */
static void check_open_orders(void)
{
    for (uint64_t id = 1; id < MAX_TORD; id++) {
        desk_paper_order_t po;
        if (!W.o[id].used)
            continue;
        if (desk_paper_engine_order(W.eng, id, &po) == 0) {
            CHECK(po.cum_qty + po.leaves_qty == po.qty, "order %llu: cum + leaves != qty",
                  (unsigned long long)id);
            CHECK(po.cum_qty == W.o[id].cum && po.qty == W.o[id].qty,
                  "order %llu: engine cum %lld qty %lld, test %lld %lld", (unsigned long long)id,
                  (long long)po.cum_qty, (long long)po.qty, (long long)W.o[id].cum,
                  (long long)W.o[id].qty);
        }
    }
    desk_balance_t b;
    desk_position_t p;
    desk_paper_engine_balance(W.eng, &b);
    desk_paper_engine_position(W.eng, &p);
    CHECK(b.cash == W.cash && p.qty == W.pos, "cash %lld pos %lld; test %lld %lld",
          (long long)b.cash, (long long)p.qty, (long long)W.cash, (long long)W.pos);
    CHECK(b.buying_power <= b.cash && b.buying_power >= 0, "buying power %lld",
          (long long)b.buying_power);
}

/* Highest / lowest reference value over md (a, b]. */
static int64_t max_ask(size_t a, size_t b, int trades)
{
    int64_t m = 0;
    for (size_t i = a + 1; i <= b && i < NR; i++)
        if (trades ? R[i].kind == 2 : R[i].kind == 1) {
            int64_t v = trades ? R[i].px : R[i].bid;
            if (v > m)
                m = v;
        }
    return m;
}

static int64_t min_of(size_t a, size_t b, int trades)
{
    int64_t m = INT64_MAX;
    for (size_t i = a + 1; i <= b && i < NR; i++)
        if (trades ? R[i].kind == 2 : R[i].kind == 1) {
            int64_t v = trades ? R[i].px : R[i].ask;
            if (v < m)
                m = v;
        }
    return m;
}

/* Order ids of the scenario. */
enum {
    O_SELL_NOINV = 1,
    O_MKT_BUY,
    O_MKT_SELL,
    O_BIG,
    O_FOK_EXP,
    O_FOK_FILL,
    O_IOC,
    O_PART,
    O_NOCASH,
    O_REST_BUY,
    O_STOPLMT,
    O_CXL,
    O_REPL,
    O_REST_SELL,
    O_STOP,
    O_DAY,
    O_GTC,
    O_BADQTY,
    O_BADPX,
    O_BADSTOP,
    O_TWO_A,
    O_TWO_B
};

static int64_t last_trade_before(size_t i)
{
    while (R[i].kind != 2)
        i--;
    return R[i].px;
}

/* The scripted orders, placed right after md event i has been fed. */
static void script(size_t i)
{
    size_t q = quote_at(i);

    switch (i) {
    case 50:
        send_new(O_SELL_NOINV, DESK_SELL, DESK_MARKET, DESK_DAY, S / 100, 0, 0);
        send_new(O_BADQTY, DESK_BUY, DESK_LIMIT, DESK_GTC, 0, R[q].bid, 0);
        send_new(O_BADPX, DESK_BUY, DESK_LIMIT, DESK_GTC, S / 100, 0, 0);
        send_new(O_BADSTOP, DESK_BUY, DESK_STOP, DESK_GTC, S / 100, 0, 0);
        break;
    case 60:
        CHECK(avail_now(1) >= S / 100, "md 60: ask too small for the scenario");
        send_new(O_MKT_BUY, DESK_BUY, DESK_MARKET, DESK_IOC, S / 100, 0, 0);
        break;
    case 200:
        send_new(O_MKT_SELL, DESK_SELL, DESK_MARKET, DESK_IOC, S / 200, 0, 0);
        break;
    case 1000:
        CHECK(avail_now(1) < 5 * S, "md 1000: the big order must exceed the touch");
        send_new(O_BIG, DESK_BUY, DESK_MARKET, DESK_DAY, 5 * S, 0, 0);
        break;
    case 3000:
        send_new(O_FOK_EXP, DESK_BUY, DESK_MARKET, DESK_FOK, R[q].aq + S, 0, 0);
        break;
    case 3500: {
        int64_t a = avail_now(1);
        CHECK(a > 0, "md 3500: nothing left at the ask");
        send_new(O_FOK_FILL, DESK_BUY, DESK_LIMIT, DESK_FOK, a < 5 * S / 100 ? a : 5 * S / 100,
                 R[q].ask, 0);
        break;
    }
    case 4000: {
        int64_t a = avail_now(1);
        CHECK(a > 0, "md 4000: nothing left at the ask");
        send_new(O_IOC, DESK_BUY, DESK_LIMIT, DESK_IOC, a + S / 2, R[q].ask, 0);
        break;
    }
    case 4500: {
        /* Partly filled GTC; a replace down to its cum is refused; then cancel. */
        int64_t a = avail_now(1);
        CHECK(a > 0, "md 4500: nothing left at the ask");
        send_new(O_PART, DESK_BUY, DESK_LIMIT, DESK_GTC, a + 2 * S, R[q].ask, 0);
        CHECK(W.o[O_PART].cum == a, "O_PART filled %lld of %lld at arrival",
              (long long)W.o[O_PART].cum, (long long)a);
        send_replace(O_PART, W.o[O_PART].cum, R[q].ask);
        send_cancel(O_PART, W.o[O_PART].cl);
        break;
    }
    case 5000:
        send_new(O_NOCASH, DESK_BUY, DESK_MARKET, DESK_DAY, 1000 * S, 0, 0);
        /* The same order_id again after the reject is a fresh, valid order id;
         * a duplicate of an OPEN order is checked at 30500. */
        break;
    case 6000: {
        /* Two takers on one quote: the second finds the size already taken. */
        int64_t a = avail_now(1);
        CHECK(a > 0, "md 6000: nothing left at the ask");
        send_new(O_TWO_A, DESK_BUY, DESK_MARKET, DESK_IOC, a, 0, 0);
        send_new(O_TWO_B, DESK_BUY, DESK_MARKET, DESK_IOC, S / 100, 0, 0);
        break;
    }
    case 8000: {
        int64_t p = min_of(8000, 11000, 0) + 1000000; /* min ask ahead + 0.01 */
        CHECK(p < R[q].ask, "md 8000: resting buy would be marketable");
        send_new(O_REST_BUY, DESK_BUY, DESK_LIMIT, DESK_GTC, 3 * S / 10, p, 0);
        break;
    }
    case 9000: {
        int64_t stop = min_of(9000, 11000, 1) + 1000000;
        CHECK(stop < last_trade_before(9000), "md 9000: stop already through");
        send_new(O_STOPLMT, DESK_SELL, DESK_STOP_LIMIT, DESK_DAY, S / 10, stop - 5 * S, stop);
        break;
    }
    case 11000:
        send_new(O_CXL, DESK_BUY, DESK_LIMIT, DESK_GTC, S / 10, R[q].bid - 500 * S, 0);
        break;
    case 11500: {
        /* Cancel by ClOrdID only (order_id 0), then again: unknown now. */
        uint64_t cl = W.o[O_CXL].cl;
        send_cancel(0, cl);
        send_cancel(0, cl);
        send_cancel(99, 0);
        break;
    }
    case 14000:
        send_new(O_REPL, DESK_BUY, DESK_LIMIT, DESK_GTC, 2 * S / 10, R[q].bid - 300 * S, 0);
        break;
    case 14100:
        CHECK(W.o[O_REPL].fills == 0, "O_REPL filled before its replace");
        send_replace(O_REPL, 25 * S / 100, R[q].ask + S);
        break;
    case 25000: {
        int64_t p = max_ask(25000, 28000, 0) - 1000000; /* max bid ahead - 0.01 */
        CHECK(p > R[q].bid, "md 25000: resting sell would be marketable");
        send_new(O_REST_SELL, DESK_SELL, DESK_LIMIT, DESK_DAY, 2 * S / 10, p, 0);
        break;
    }
    case 27000: {
        int64_t stop = max_ask(27000, 31000, 1) - 1000000;
        CHECK(stop > last_trade_before(27000), "md 27000: stop already through");
        send_new(O_STOP, DESK_BUY, DESK_STOP, DESK_GTC, 5 * S / 100, 0, stop);
        break;
    }
    case 30000:
        send_new(O_DAY, DESK_BUY, DESK_LIMIT, DESK_DAY, S / 10, R[q].bid - 1000 * S, 0);
        send_new(O_GTC, DESK_BUY, DESK_LIMIT, DESK_GTC, S / 10, R[q].bid - 2000 * S, 0);
        break;
    case 30500: {
        /* A second NEW with the order_id of an open order is refused. */
        int rej = W.o[O_GTC].rejected;
        desk_vcmd_t c = {.type = DESK_CMD_NEW,
                         .side = DESK_BUY,
                         .ord_type = DESK_LIMIT,
                         .tif = DESK_GTC,
                         .instrument = 7,
                         .order_id = O_GTC,
                         .cl_ord_id = ++next_cl,
                         .qty = S / 10,
                         .px = R[q].bid - 2000 * S};
        assert_int_equal(desk_paper_engine_cmd(W.eng, &c), 0);
        assert_int_equal(W.o[O_GTC].rejected, rej + 1);
        assert_int_equal(W.o[O_GTC].reason, DESK_REJ_VENUE);
        W.o[O_GTC].rejected = 0;
        break;
    }
    default:
        break;
    }
}

static void test_engine_replay(void **state)
{
    (void)state;
    desk_paper_engine_cfg_t cfg = {
        .instrument = 7,
        .max_orders = 64,
        .fee_bps = FEE_BPS * S,
        .maker_fee_bps = MAKER_BPS * S,
        .cash = START_CASH,
        .allow_short = 0,
        .emit = on_event,
        .ctx = &W,
    };
    memset(&W, 0, sizeof W);
    W.used = calloc(NR, sizeof *W.used);
    W.cash = START_CASH;
    assert_int_equal(desk_paper_engine_create(&cfg, &W.eng), 0);

#ifdef COUNT_ALLOCS
    long allocs0 = g_allocs;
#endif
    for (size_t i = 0; i < MD->n; i++) {
        W.cur = i;
        assert_int_equal(desk_paper_engine_on_md(W.eng, i, &MD->ev[i]), 0);
        script(i);
        if (i % 997 == 0)
            check_open_orders();
    }
    int expired = desk_paper_engine_end_session(W.eng);
#ifdef COUNT_ALLOCS
    assert_int_equal(g_allocs - allocs0, 0); /* no allocation in the replay */
#endif
    check_open_orders();
    print_message("%ld events, %ld fills (maker: %ld on quotes, %ld on trades), %d DAY orders "
                  "expired at end of session\n",
                  W.nevents, W.nfills, W.maker_on_quote, W.maker_on_trade, expired);
    /* Both maker paths happened on the real data. */
    assert_true(W.maker_on_quote >= 1);
    assert_true(W.maker_on_trade >= 1);

    struct tord *o = W.o;
    for (uint64_t id = 1; id < MAX_TORD; id++)
        if (o[id].used)
            print_message("order %2llu: %s %s tif %u at md %5llu: fills %d (maker %d, taker %d, "
                          "%d md events) cum %lld/%lld%s%s%s\n",
                          (unsigned long long)id, o[id].side == DESK_BUY ? "buy " : "sell",
                          o[id].type == DESK_MARKET  ? "mkt "
                          : o[id].type == DESK_LIMIT ? "lmt "
                          : o[id].type == DESK_STOP  ? "stop"
                                                     : "stpl",
                          o[id].tif, (unsigned long long)o[id].place_idx, o[id].fills,
                          o[id].maker_fills, o[id].taker_fills, o[id].fill_idx_changes,
                          (long long)o[id].cum, (long long)o[id].qty,
                          o[id].rejected ? " rejected" : "", o[id].canceled ? " canceled" : "",
                          o[id].expired ? " expired" : "");
    /* 1: a sell without inventory. */
    assert_int_equal(o[O_SELL_NOINV].rejected, 1);
    assert_int_equal(o[O_SELL_NOINV].reason, DESK_REJ_VENUE_CASH);
    assert_int_equal(o[O_SELL_NOINV].acked, 0);
    /* Invalid orders. */
    assert_int_equal(o[O_BADQTY].reason, DESK_REJ_VENUE);
    assert_int_equal(o[O_BADPX].reason, DESK_REJ_VENUE);
    assert_int_equal(o[O_BADSTOP].reason, DESK_REJ_VENUE);
    /* 2, 3: market IOC buy and sell, filled whole at the touch at once. */
    assert_int_equal(o[O_MKT_BUY].cum, S / 100);
    assert_int_equal(o[O_MKT_BUY].fills, 1);
    assert_int_equal(o[O_MKT_BUY].first_fill_idx, quote_at(60));
    assert_int_equal(o[O_MKT_SELL].cum, S / 200);
    assert_int_equal(o[O_MKT_SELL].first_fill_idx, quote_at(200));
    /* 4: the big market order filled over several quotes. */
    assert_int_equal(o[O_BIG].cum, 5 * S);
    assert_true(o[O_BIG].fill_idx_changes >= 2);
    assert_int_equal(o[O_BIG].taker_fills, o[O_BIG].fills);
    /* 5: FOK: one expired untouched, one filled whole in one fill. */
    assert_int_equal(o[O_FOK_EXP].expired, 1);
    assert_int_equal(o[O_FOK_EXP].fills, 0);
    assert_int_equal(o[O_FOK_FILL].cum, o[O_FOK_FILL].qty);
    assert_int_equal(o[O_FOK_FILL].fills, 1);
    assert_int_equal(o[O_FOK_FILL].expired + o[O_FOK_FILL].canceled, 0);
    /* 6: IOC limit partly filled, rest canceled. */
    assert_true(o[O_IOC].cum > 0 && o[O_IOC].cum < o[O_IOC].qty);
    assert_int_equal(o[O_IOC].canceled, 1);
    /* Replace down to cum refused; cancel of the partly filled order. */
    assert_int_equal(o[O_PART].cancel_rejects, 1);
    assert_int_equal(o[O_PART].cr_reason, DESK_REJ_VENUE);
    assert_int_equal(o[O_PART].canceled, 1);
    assert_true(o[O_PART].cum > 0);
    /* The second taker on the same quote got nothing. */
    assert_int_equal(o[O_TWO_A].cum, o[O_TWO_A].qty);
    assert_int_equal(o[O_TWO_B].cum, 0);
    assert_int_equal(o[O_TWO_B].canceled, 1);
    /* Cash reject. */
    assert_int_equal(o[O_NOCASH].rejected, 1);
    assert_int_equal(o[O_NOCASH].reason, DESK_REJ_VENUE_CASH);
    /* 7: resting limits on both sides filled later as makers. */
    assert_true(o[O_REST_BUY].maker_fills >= 1);
    assert_true(o[O_REST_BUY].first_fill_idx > o[O_REST_BUY].place_idx);
    assert_true(o[O_REST_SELL].maker_fills >= 1);
    assert_true(o[O_REST_SELL].first_fill_idx > o[O_REST_SELL].place_idx);
    /* 8: stop and stop-limit: nothing fills before the first trade through
     * the stop after placement; the stop market then takes at that moment's
     * quote. */
    for (int k = 0; k < 2; k++) {
        struct tord *s = &o[k == 0 ? O_STOP : O_STOPLMT];
        size_t t = s->place_idx + 1;
        while (t < NR &&
               !(R[t].kind == 2 && (s->side == DESK_BUY ? R[t].px >= s->stop : R[t].px <= s->stop)))
            t++;
        assert_true(t < NR);
        assert_true(s->fills >= 1);
        assert_true(s->first_fill_cur >= t);
        if (k == 0)
            assert_int_equal(s->first_fill_idx, quote_at(t));
    }
    assert_int_equal(o[O_STOP].cum, o[O_STOP].qty);
    /* 9: cancels: by ClOrdID, then unknown twice. */
    assert_int_equal(o[O_CXL].canceled, 1);
    assert_int_equal(o[O_CXL].cum, 0);
    /* The second cancel named only the ClOrdID, so its reject names order 0. */
    assert_int_equal(o[0].cancel_rejects, 1);
    assert_int_equal(o[0].cr_reason, DESK_REJ_UNKNOWN_ORDER);
    assert_int_equal(o[99].cancel_rejects, 1);
    assert_int_equal(o[99].cr_reason, DESK_REJ_UNKNOWN_ORDER);
    /* 10: a replace that made the order marketable: taker fill right away. */
    assert_int_equal(o[O_REPL].replaced, 1);
    assert_true(o[O_REPL].taker_fills >= 1);
    assert_true(o[O_REPL].first_fill_idx == quote_at(14100));
    /* 11: DAY expired at end of session, GTC survived. */
    assert_int_equal(o[O_DAY].expired, 1);
    assert_int_equal(o[O_GTC].expired, 0);
    desk_paper_order_t po;
    assert_int_equal(desk_paper_engine_order(W.eng, O_GTC, &po), 0);
    assert_int_equal(po.leaves_qty, S / 10);
    assert_int_equal(desk_paper_engine_order(W.eng, O_DAY, &po), -ENOENT);
    /* Every accepted order is either still open (only GTC after the session)
     * or done: filled completely, canceled or expired, exactly once. */
    uint32_t nopen = 0;
    for (uint64_t id = 1; id < MAX_TORD; id++) {
        struct tord *t = &o[id];
        if (!t->used || t->rejected)
            continue;
        int open = desk_paper_engine_order(W.eng, id, &po) == 0;
        int done = (t->cum == t->qty) + t->canceled + t->expired;
        CHECK(open ? done == 0 && t->tif == DESK_GTC : done == 1, "order %llu: open %d, done %d",
              (unsigned long long)id, open, done);
        nopen += (uint32_t)open;
    }
    assert_int_equal(desk_paper_engine_open_count(W.eng), nopen);
    /* Final cash and position equal the sums of the fills. */
    desk_balance_t b;
    desk_position_t p;
    desk_paper_engine_balance(W.eng, &b);
    desk_paper_engine_position(W.eng, &p);
    assert_int_equal(b.cash, W.cash);
    assert_int_equal(p.qty, W.pos);
    assert_true(W.pos > 0 && W.cash < START_CASH);
    desk_paper_engine_destroy(W.eng);
    free(W.used);
}

/* ---------------------------------------------------------------------- */
/* Single rules on hand-made events                                        */
/* ---------------------------------------------------------------------- */

struct sink {
    desk_vevent_t ev[64];
    desk_paper_fill_info_t info[64];
    int n;
};

static void sink_emit(const desk_vevent_t *ev, const desk_paper_fill_info_t *info, void *ctx)
{
    struct sink *k = ctx;
    assert_true(k->n < 64);
    k->ev[k->n] = *ev;
    if (info != NULL)
        k->info[k->n] = *info;
    k->n++;
}

static desk_paper_engine_t *mk(struct sink *k, int64_t cash, int allow_short)
{
    desk_paper_engine_t *e = NULL;
    desk_paper_engine_cfg_t cfg = {.instrument = 1,
                                   .max_orders = 4,
                                   .fee_bps = 10 * S,
                                   .maker_fee_bps = 10 * S,
                                   .cash = cash,
                                   .allow_short = allow_short,
                                   .emit = sink_emit,
                                   .ctx = k};
    memset(k, 0, sizeof *k);
    assert_int_equal(desk_paper_engine_create(&cfg, &e), 0);
    return e;
}

static desk_md_event_t quote(int64_t ts, int64_t bid, int64_t bq, int64_t ask, int64_t aq)
{
    desk_md_event_t e = {.ts_ns = ts,
                         .kind = DESK_MD_QUOTE,
                         .bid_px = bid,
                         .bid_qty = bq,
                         .ask_px = ask,
                         .ask_qty = aq};
    return e;
}

static desk_md_event_t trade(int64_t ts, int64_t px, int64_t qty)
{
    desk_md_event_t e = {
        .ts_ns = ts, .kind = DESK_MD_TRADE, .px = px, .qty = qty, .aggressor = DESK_SELL};
    return e;
}

static void cmd(desk_paper_engine_t *e, uint8_t type, uint64_t id, uint8_t side, uint8_t ot,
                uint8_t tif, int64_t qty, int64_t px, int64_t stop)
{
    desk_vcmd_t c = {.type = type,
                     .side = side,
                     .ord_type = ot,
                     .tif = tif,
                     .instrument = 1,
                     .order_id = id,
                     .cl_ord_id = 100 + id,
                     .orig_cl_ord_id = 100 + id,
                     .qty = qty,
                     .px = px,
                     .stop_px = stop};
    assert_int_equal(desk_paper_engine_cmd(e, &c), 0);
}

#define T0 INT64_C(1723161000000000000) /* 2024-08-08 23:50 UTC */

static void test_rule_trade_at_limit(void **state)
{
    (void)state;
    struct sink k;
    desk_paper_engine_t *e = mk(&k, 1000000 * S, 0);
    desk_md_event_t ev;

    ev = quote(T0, 99 * S, S, 101 * S, S);
    desk_paper_engine_on_md(e, 0, &ev);
    cmd(e, DESK_CMD_NEW, 1, DESK_BUY, DESK_LIMIT, DESK_GTC, 3 * S, 100 * S, 0);
    cmd(e, DESK_CMD_NEW, 2, DESK_BUY, DESK_LIMIT, DESK_GTC, 3 * S, 100 * S, 0);
    assert_int_equal(k.n, 2);           /* two ACKs, nothing marketable */
    ev = trade(T0 + 1, 100 * S, 5 * S); /* AT the limit: no fill */
    desk_paper_engine_on_md(e, 1, &ev);
    assert_int_equal(k.n, 2);
    ev = trade(T0 + 2, 9999 * S / 100, 4 * S); /* strictly through: 4 shared, 1 first */
    desk_paper_engine_on_md(e, 2, &ev);
    assert_int_equal(k.n, 4);
    assert_int_equal(k.ev[2].type, DESK_EV_FILL);
    assert_int_equal(k.ev[2].order_id, 1);
    assert_int_equal(k.ev[2].last_qty, 3 * S);
    assert_int_equal(k.ev[2].last_px, 100 * S); /* at our limit, not the print */
    assert_int_equal(k.ev[2].flags, DESK_VEV_MAKER);
    assert_int_equal(k.info[2].md_index, 2);
    assert_int_equal(k.info[2].maker, 1);
    assert_int_equal(k.ev[3].order_id, 2);
    assert_int_equal(k.ev[3].last_qty, S); /* what the print had left */
    assert_int_equal(k.ev[3].cum_qty, S);
    /* A quote whose ask reaches the limit fills the rest, up to its size. */
    ev = quote(T0 + 3, 98 * S, S, 100 * S, S);
    desk_paper_engine_on_md(e, 3, &ev);
    assert_int_equal(k.n, 5);
    assert_int_equal(k.ev[4].last_qty, S);
    assert_int_equal(k.ev[4].cum_qty, 2 * S);
    assert_int_equal(k.info[4].md_index, 3);
    /* Fee: 100 * 1 * 10 bps = 0.1. */
    assert_int_equal(k.ev[4].fee, S / 10);
    desk_paper_engine_destroy(e);
}

static void test_rule_midnight_expiry(void **state)
{
    (void)state;
    struct sink k;
    desk_paper_engine_t *e = mk(&k, 1000000 * S, 0);
    int64_t midnight = (T0 / (86400 * INT64_C(1000000000)) + 1) * 86400 * INT64_C(1000000000);
    desk_md_event_t ev = quote(midnight - 1, 99 * S, S, 101 * S, S);

    desk_paper_engine_on_md(e, 0, &ev);
    cmd(e, DESK_CMD_NEW, 1, DESK_BUY, DESK_LIMIT, DESK_DAY, S, 90 * S, 0);
    cmd(e, DESK_CMD_NEW, 2, DESK_BUY, DESK_LIMIT, DESK_GTC, S, 90 * S, 0);
    cmd(e, DESK_CMD_NEW, 3, DESK_BUY, DESK_STOP, DESK_DAY, S, 0, 120 * S);
    ev = quote(midnight, 99 * S, S, 101 * S, S);
    desk_paper_engine_on_md(e, 1, &ev);
    assert_int_equal(k.n, 5);
    assert_int_equal(k.ev[3].type, DESK_EV_EXPIRED);
    assert_int_equal(k.ev[3].order_id, 1);
    assert_int_equal(k.ev[4].type, DESK_EV_EXPIRED);
    assert_int_equal(k.ev[4].order_id, 3);
    assert_int_equal(desk_paper_engine_open_count(e), 1);
    desk_balance_t b;
    desk_paper_engine_balance(e, &b);
    /* Only the GTC buy still reserves: 90 + 0.09 fee. */
    assert_int_equal(b.cash - b.buying_power, 9009 * S / 100);
    assert_int_equal(desk_paper_engine_end_session(e), 0);
    desk_paper_engine_destroy(e);
}

static void test_rule_market_and_funding(void **state)
{
    (void)state;
    struct sink k;
    desk_paper_engine_t *e = mk(&k, 1000 * S, 0);
    desk_md_event_t ev;

    /* No quote yet: a market order has nothing to take. */
    cmd(e, DESK_CMD_NEW, 1, DESK_BUY, DESK_MARKET, DESK_DAY, S, 0, 0);
    assert_int_equal(k.ev[0].type, DESK_EV_REJECT);
    assert_int_equal(k.ev[0].reason, DESK_REJ_VENUE);
    ev = quote(T0, 99 * S, 10 * S, 100 * S, 2 * S);
    desk_paper_engine_on_md(e, 0, &ev);
    /* 10 at 100 + 10 bps = 1001 > 1000: refused. */
    cmd(e, DESK_CMD_NEW, 2, DESK_BUY, DESK_MARKET, DESK_DAY, 10 * S, 0, 0);
    assert_int_equal(k.ev[1].reason, DESK_REJ_VENUE_CASH);
    /* 9 BTC market DAY: 2 now at 100, then the price runs away and what the
     * cash cannot pay is canceled. */
    cmd(e, DESK_CMD_NEW, 3, DESK_BUY, DESK_MARKET, DESK_DAY, 9 * S, 0, 0);
    assert_int_equal(k.n, 4);
    assert_int_equal(k.ev[2].type, DESK_EV_ACK);
    assert_int_equal(k.ev[3].type, DESK_EV_FILL);
    assert_int_equal(k.ev[3].last_qty, 2 * S);
    ev = quote(T0 + 1, 199 * S, 10 * S, 200 * S, 10 * S);
    desk_paper_engine_on_md(e, 1, &ev);
    /* cash 1000 - 200.2 = 799.8: at 200 + 0.1% it pays 3.99500499 BTC
     * (799.000998 + fee 0.79900099 = 799.79999899; one unit more is over). */
    assert_int_equal(k.ev[4].type, DESK_EV_FILL);
    assert_int_equal(k.ev[4].last_px, 200 * S);
    assert_int_equal(k.ev[4].last_qty, 399500499);
    assert_int_equal(k.ev[5].type, DESK_EV_CANCELED);
    desk_balance_t b;
    desk_paper_engine_balance(e, &b);
    assert_true(b.cash >= 0 && b.cash < S / 100);
    /* Sell more than held: refused; short allowed on another engine. */
    cmd(e, DESK_CMD_NEW, 4, DESK_SELL, DESK_LIMIT, DESK_GTC, 7 * S, 300 * S, 0);
    assert_int_equal(k.ev[6].reason, DESK_REJ_VENUE_CASH);
    desk_paper_engine_destroy(e);

    e = mk(&k, 1000 * S, 1);
    desk_paper_engine_on_md(e, 0, &ev);
    cmd(e, DESK_CMD_NEW, 1, DESK_SELL, DESK_MARKET, DESK_IOC, S, 0, 0);
    assert_int_equal(k.ev[1].type, DESK_EV_FILL);
    assert_int_equal(k.ev[1].last_px, 199 * S);
    desk_position_t p;
    desk_paper_engine_position(e, &p);
    assert_int_equal(p.qty, -S);
    assert_int_equal(p.avg_px, 199 * S);
    /* Unknown order: cancel and replace are refused. */
    cmd(e, DESK_CMD_CANCEL, 9, 0, 0, 0, 0, 0, 0);
    assert_int_equal(k.ev[2].type, DESK_EV_CANCEL_REJECT);
    assert_int_equal(k.ev[2].reason, DESK_REJ_UNKNOWN_ORDER);
    cmd(e, DESK_CMD_REPLACE, 9, 0, 0, 0, S, S, 0);
    assert_int_equal(k.ev[3].type, DESK_EV_CANCEL_REJECT);
    desk_vcmd_t bad = {.type = 9};
    assert_int_equal(desk_paper_engine_cmd(e, &bad), -EINVAL);
    desk_paper_engine_destroy(e);
}

static void test_rule_stop_limit_and_fok(void **state)
{
    (void)state;
    struct sink k;
    desk_paper_engine_t *e = mk(&k, 100000 * S, 0);
    desk_md_event_t ev = quote(T0, 99 * S, S, 100 * S, S);

    desk_paper_engine_on_md(e, 0, &ev);
    /* Stop-limit buy: triggers at >= 105, then a limit at 106. */
    cmd(e, DESK_CMD_NEW, 1, DESK_BUY, DESK_STOP_LIMIT, DESK_GTC, 2 * S, 106 * S, 105 * S);
    ev = trade(T0 + 1, 10499 * S / 100, S); /* below the stop: nothing */
    desk_paper_engine_on_md(e, 1, &ev);
    assert_int_equal(k.n, 1);
    ev = quote(T0 + 2, 104 * S, S, 105 * S, S / 2);
    desk_paper_engine_on_md(e, 2, &ev);
    assert_int_equal(k.n, 1);       /* untriggered stops ignore quotes */
    ev = trade(T0 + 3, 105 * S, S); /* triggers; takes 0.5 at the ask 105 */
    desk_paper_engine_on_md(e, 3, &ev);
    assert_int_equal(k.n, 2);
    assert_int_equal(k.ev[1].last_px, 105 * S);
    assert_int_equal(k.ev[1].last_qty, S / 2);
    assert_int_equal(k.info[1].md_index, 2);
    assert_int_equal(k.info[1].maker, 0);
    /* FOK limit needing more than the touch: EXPIRED, nothing filled. */
    ev = quote(T0 + 4, 104 * S, S, 107 * S, S);
    desk_paper_engine_on_md(e, 4, &ev);
    cmd(e, DESK_CMD_NEW, 2, DESK_BUY, DESK_LIMIT, DESK_FOK, 2 * S, 107 * S, 0);
    assert_int_equal(k.ev[k.n - 1].type, DESK_EV_EXPIRED);
    assert_int_equal(k.ev[k.n - 1].cum_qty, 0);
    /* Replace of the stop-limit's price makes it marketable at 107. */
    int before = k.n;
    desk_vcmd_t r = {.type = DESK_CMD_REPLACE,
                     .instrument = 1,
                     .order_id = 1,
                     .cl_ord_id = 500,
                     .orig_cl_ord_id = 101,
                     .qty = 2 * S,
                     .px = 107 * S};
    assert_int_equal(desk_paper_engine_cmd(e, &r), 0);
    assert_int_equal(k.ev[before].type, DESK_EV_REPLACED);
    assert_int_equal(k.ev[before + 1].type, DESK_EV_FILL);
    assert_int_equal(k.ev[before + 1].last_px, 107 * S);
    assert_int_equal(k.ev[before + 1].last_qty, S);
    assert_int_equal(k.ev[before + 1].cum_qty, 3 * S / 2);
    /* The old ClOrdID no longer names it; the new one does. */
    desk_vcmd_t c = {
        .type = DESK_CMD_CANCEL, .instrument = 1, .cl_ord_id = 501, .orig_cl_ord_id = 101};
    assert_int_equal(desk_paper_engine_cmd(e, &c), 0);
    assert_int_equal(k.ev[k.n - 1].type, DESK_EV_CANCEL_REJECT);
    c.orig_cl_ord_id = 500;
    assert_int_equal(desk_paper_engine_cmd(e, &c), 0);
    assert_int_equal(k.ev[k.n - 1].type, DESK_EV_CANCELED);
    assert_int_equal(k.ev[k.n - 1].cum_qty, 3 * S / 2);
    desk_paper_engine_destroy(e);
}

/* ---------------------------------------------------------------------- */
/* Line decoder, malformed captures, data lookup                           */
/* ---------------------------------------------------------------------- */

static void test_binance_line(void **state)
{
    (void)state;
    desk_json_t *j;
    desk_md_event_t ev;
    char sym[DESK_SYMBOL_MAX];
    static const char q[] =
        "1723161254087891268 {\"stream\":\"btcusdt@bookTicker\",\"data\":"
        "{\"u\":50093239212,\"s\":\"BTCUSDT\",\"b\":\"61837.63000000\","
        "\"B\":\"3.78826000\",\"a\":\"61837.64000000\",\"A\":\"1.54698000\"}}\n";

    assert_int_equal(desk_json_create(4096, &j), 0);
    assert_int_equal(desk_md_binance_line(j, q, strlen(q), &ev, sym), DESK_MD_LINE_QUOTE);
    assert_string_equal(sym, "BTCUSDT");
    assert_int_equal(ev.ask_qty, 154698000);
#define LINE(s) desk_md_binance_line(j, s, strlen(s), &ev, sym)
    assert_int_equal(LINE("1 {\"lastUpdateId\":5,\"bids\":[],\"asks\":[]}"), DESK_MD_LINE_SNAPSHOT);
    assert_int_equal(LINE("1 {\"stream\":\"btcusdt@depth@100ms\",\"data\":{}}"),
                     DESK_MD_LINE_DEPTH);
    assert_int_equal(LINE("1 {\"stream\":\"btcusdt@aggTrade\",\"data\":{}}"), DESK_MD_LINE_OTHER);
    assert_int_equal(LINE("{\"stream\":\"x\"}"), -EBADMSG); /* no timestamp */
    assert_int_equal(LINE("12x {}"), -EBADMSG);
    assert_int_equal(LINE("0 {\"lastUpdateId\":5,\"bids\":[],\"asks\":[]}"), -EBADMSG);
    assert_int_equal(LINE("1 {\"stream\":\"btcusdt@trade\",\"data\":{\"s\":\"BTCUSDT\","
                          "\"p\":\"1\",\"q\":\"1\"}}"),
                     -EBADMSG); /* m missing */
    assert_int_equal(LINE("1 {\"stream\":\"btcusdt@trade\",\"data\":{\"s\":\"BTCUSDT\","
                          "\"p\":\"1.000000001\",\"q\":\"1\",\"m\":true}}"),
                     -ERANGE);
    assert_int_equal(LINE("1 {\"stream\":\"btcusdt@bookTicker\",\"data\":{\"s\":\"BTCUSDT\","
                          "\"b\":\"1\",\"B\":\"-1\",\"a\":\"2\",\"A\":\"1\"}}"),
                     -EBADMSG); /* negative size */
    assert_int_equal(LINE("1 {\"stream\":\"btcusdt@bookTicker\",\"data\":{\"s\":\"BTCUSDT\""),
                     -EBADMSG);
    assert_int_equal(LINE("1 {\"nostream\":1}"), -EBADMSG);
#undef LINE
    desk_json_destroy(j);
}

static void write_gz(const char *path, const char *const *lines, int n)
{
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    for (int i = 0; i < n; i++)
        gzputs(gz, lines[i]);
    gzclose(gz);
}

static void test_malformed_capture(void **state)
{
    (void)state;
    char path[] = "/tmp/desk_paper_test_XXXXXX";
    int fd = mkstemp(path);
    desk_md_t *md = NULL;
    static const char Q[] = "100 {\"stream\":\"btcusdt@bookTicker\",\"data\":{\"s\":\"BTCUSDT\","
                            "\"b\":\"1\",\"B\":\"1\",\"a\":\"2\",\"A\":\"1\"}}\n";
    static const char T[] = "101 {\"stream\":\"btcusdt@trade\",\"data\":{\"s\":\"BTCUSDT\","
                            "\"p\":\"1.5\",\"q\":\"0.1\",\"m\":false}}\n";

    assert_true(fd >= 0);
    close(fd);
    const char *bad_json[] = {Q, T, "102 {\"stream\":\"btcusdt@trade\",\"data\":{\"s\":\n", Q};
    write_gz(path, bad_json, 4);
    assert_int_equal(desk_md_load_binance(path, &md), -EBADMSG);
    assert_non_null(strstr(desk_errmsg(), ":3:"));
    assert_null(md);

    const char *backwards[] = {Q, T,
                               "99 {\"stream\":\"btcusdt@trade\",\"data\":{\"s\":\"BTCUSDT\","
                               "\"p\":\"1.5\",\"q\":\"0.1\",\"m\":false}}\n"};
    write_gz(path, backwards, 3);
    assert_int_equal(desk_md_load_binance(path, &md), -EBADMSG);
    assert_non_null(strstr(desk_errmsg(), "backwards"));

    const char *two_syms[] = {Q, "200 {\"stream\":\"ethusdt@trade\",\"data\":{\"s\":\"ETHUSDT\","
                                 "\"p\":\"1.5\",\"q\":\"0.1\",\"m\":false}}\n"};
    write_gz(path, two_syms, 2);
    assert_int_equal(desk_md_load_binance(path, &md), -EBADMSG);
    assert_non_null(strstr(desk_errmsg(), "ETHUSDT"));

    const char *fine[] = {Q, T, "101 {\"stream\":\"btcusdt@depth@100ms\",\"data\":{}}\n",
                          "102 {\"stream\":\"btcusdt@bookTicker\",\"data\":{\"s\":\"BTCUSDT\","
                          "\"b\":\"1\",\"B\":\"1\",\"a\":\"2\",\"A\":\"1\"}}"};
    write_gz(path, fine, 4);
    assert_int_equal(desk_md_load(path, &md), 0);
    assert_int_equal(md->n, 3);
    assert_int_equal(md->depth, 1);
    assert_int_equal(md->ev[1].aggressor, DESK_BUY); /* m false: the buyer took */
    desk_md_destroy(md);

    /* A truncated gzip stream is a read error, not a short capture. */
    FILE *f = fopen(BINANCE_PATH, "rb");
    char *buf = malloc(200000);
    size_t got = fread(buf, 1, 200000, f);
    fclose(f);
    f = fopen(path, "wb");
    fwrite(buf, 1, got, f);
    fclose(f);
    free(buf);
    md = NULL;
    int rc = desk_md_load_binance(path, &md);
    assert_true(rc == -EIO || rc == -EBADMSG);
    assert_null(md);
    unlink(path);
    assert_int_equal(desk_md_load_binance("/nonexistent/x.gz", &md), -ENOENT);
}

static void test_resolve(void **state)
{
    (void)state;
    char out[DESK_MD_PATH_MAX];

    setenv("DESK_DATA_DIR", DATA_DIR, 1);
    assert_int_equal(desk_md_resolve(BINANCE_REL, "/nonexistent", out, sizeof out), 0);
    assert_string_equal(out, BINANCE_PATH);
    unsetenv("DESK_DATA_DIR");
    /* <config_dir>/../shared/data/marketdata or <config_dir>/.cache/marketdata:
     * the repo's own root finds the data either way. */
    assert_int_equal(desk_md_resolve(BINANCE_REL, DESK_SOURCE_DIR, out, sizeof out), 0);
    struct stat st;
    assert_int_equal(stat(out, &st), 0);
    assert_int_equal(desk_md_resolve("nope/none.gz", "/nonexistent", out, sizeof out), -ENOENT);
    assert_non_null(strstr(desk_errmsg(), "fetch-data.sh"));
    assert_non_null(strstr(desk_errmsg(), "/nonexistent/.cache/marketdata/nope/none.gz"));
    assert_non_null(strstr(desk_errmsg(), "/nonexistent/../shared/data/marketdata/nope/none.gz"));
    assert_int_equal(desk_md_resolve("/abs/none", NULL, out, sizeof out), -ENOENT);
    assert_int_equal(desk_md_resolve("", NULL, out, sizeof out), -EINVAL);
}

static void test_ny_offset(void **state)
{
    (void)state;
    assert_int_equal(desk_md_days_from_civil(2012, 6, 21), 1340236800 / 86400);
    assert_int_equal(desk_md_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(desk_md_ny_utc_offset(2012, 6, 21), 14400);
    assert_int_equal(desk_md_ny_utc_offset(2012, 1, 15), 18000);
    assert_int_equal(desk_md_ny_utc_offset(2012, 3, 10), 18000);
    assert_int_equal(desk_md_ny_utc_offset(2012, 3, 11), 14400); /* 2nd Sunday of March */
    assert_int_equal(desk_md_ny_utc_offset(2012, 11, 3), 14400);
    assert_int_equal(desk_md_ny_utc_offset(2012, 11, 4), 18000); /* 1st Sunday of November */
    assert_int_equal(desk_md_ny_utc_offset(2006, 4, 1), 18000);
    assert_int_equal(desk_md_ny_utc_offset(2006, 4, 2), 14400); /* 1st Sunday of April */
    assert_int_equal(desk_md_ny_utc_offset(2006, 10, 28), 14400);
    assert_int_equal(desk_md_ny_utc_offset(2006, 10, 29), 18000); /* last Sunday of October */
}

/* ---------------------------------------------------------------------- */
/* LOBSTER                                                                 */
/* ---------------------------------------------------------------------- */

static void test_lobster(void **state)
{
    (void)state;
    desk_md_t *md = NULL;
    FILE *fm = fopen(LOBSTER_MSG, "r"), *fb = fopen(LOBSTER_BOOK, "r");
    char lm[256], lb[256];
    size_t k = 0;
    long rows = 0, trades = 0;
    /* 2012-06-21 00:00 New York (EDT) is 04:00 UTC. */
    const int64_t midnight = (INT64_C(1340236800) + 4 * 3600) * INT64_C(1000000000);

    assert_non_null(fm);
    assert_non_null(fb);
    assert_int_equal(desk_md_load(LOBSTER_DIR, &md), 0);
    assert_string_equal(md->symbol, "AMZN");
    assert_int_equal(md->format, DESK_MD_LOBSTER);
    while (fgets(lm, sizeof lm, fm) != NULL) {
        assert_non_null(fgets(lb, sizeof lb, fb));
        rows++;
        char frac[16] = "";
        long sec, type, oid, size, price, dir, ap, as, bp, bs;
        assert_int_equal(sscanf(lm, "%ld.%15[0-9],%ld,%ld,%ld,%ld,%ld", &sec, frac, &type, &oid,
                                &size, &price, &dir),
                         7);
        assert_int_equal(sscanf(lb, "%ld,%ld,%ld,%ld", &ap, &as, &bp, &bs), 4);
        int64_t ns = 0;
        for (int d = 0; d < 9; d++)
            ns = ns * 10 + (frac[d] ? frac[d] - '0' : 0);
        int64_t ts = midnight + sec * INT64_C(1000000000) + ns;
        if (type == 4 || type == 5) {
            trades++;
            const desk_md_event_t *t = &md->ev[k++];
            CHECK(t->kind == DESK_MD_TRADE && t->ts_ns == ts && t->px == price * 10000 &&
                      t->qty == size * S && t->aggressor == (dir == -1 ? DESK_BUY : DESK_SELL),
                  "LOBSTER row %ld: trade differs", rows);
        }
        const desk_md_event_t *e = &md->ev[k++];
        CHECK(e->kind == DESK_MD_QUOTE && e->ts_ns == ts && e->ask_px == ap * 10000 &&
                  e->ask_qty == as * S && e->bid_px == bp * 10000 && e->bid_qty == bs * S,
              "LOBSTER row %ld: quote differs", rows);
    }
    fclose(fm);
    fclose(fb);
    /* README: 57,515 rows; 8,974 + 2,445 executions. */
    assert_int_equal(rows, 57515);
    assert_int_equal(trades, 11419);
    assert_int_equal(md->lines, 57515);
    assert_int_equal(md->quotes, 57515);
    assert_int_equal(md->trades, 11419);
    assert_int_equal(md->n, k);
    /* First row: 34200.017459617, hidden execution of 1 @ 223.82, buyer-initiated. */
    assert_int_equal(md->ev[0].ts_ns, midnight + INT64_C(34200017459617));
    assert_int_equal(md->ev[0].px, 22382 * S / 100);
    assert_int_equal(md->ev[0].aggressor, DESK_BUY);
    assert_int_equal(md->ev[1].ask_px, 22395 * S / 100);
    desk_md_destroy(md);
    /* The message file alone names the pair too. */
    assert_int_equal(desk_md_load(LOBSTER_MSG, &md), 0);
    assert_int_equal(md->n, k);
    desk_md_destroy(md);
}

static int use_data_dir(const char *dir)
{
    struct stat st;

    snprintf(DATA_DIR, sizeof DATA_DIR, "%s", dir);
    snprintf(BINANCE_PATH, sizeof BINANCE_PATH, "%s/%s", DATA_DIR, BINANCE_REL);
    snprintf(LOBSTER_DIR, sizeof LOBSTER_DIR, "%s/%s", DATA_DIR, LOBSTER_REL);
    snprintf(LOBSTER_MSG, sizeof LOBSTER_MSG, "%s/%s", LOBSTER_DIR, LOBSTER_MSG_NAME);
    snprintf(LOBSTER_BOOK, sizeof LOBSTER_BOOK, "%s/%s", LOBSTER_DIR, LOBSTER_BOOK_NAME);
    return stat(BINANCE_PATH, &st) == 0 && stat(LOBSTER_MSG, &st) == 0 &&
           stat(LOBSTER_BOOK, &st) == 0;
}

int main(void)
{
    if (!use_data_dir(DESK_SHARED_DATA "/marketdata") &&
        !use_data_dir(DESK_SOURCE_DIR "/.cache/marketdata")) {
        printf("paper_test: SKIP: market data not found in %s/marketdata nor in "
               "%s/.cache/marketdata (run tools/fetch-data.sh)\n",
               DESK_SHARED_DATA, DESK_SOURCE_DIR);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binance_matches_reference),
        cmocka_unit_test(test_engine_replay),
        cmocka_unit_test(test_rule_trade_at_limit),
        cmocka_unit_test(test_rule_midnight_expiry),
        cmocka_unit_test(test_rule_market_and_funding),
        cmocka_unit_test(test_rule_stop_limit_and_fok),
        cmocka_unit_test(test_binance_line),
        cmocka_unit_test(test_malformed_capture),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_ny_offset),
        cmocka_unit_test(test_lobster),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
