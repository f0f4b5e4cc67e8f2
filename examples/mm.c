/*
 * mm.c - desk-mm, a sample strategy: a quote-driven market maker with
 * inventory limits on one instrument, written against include/desk/client.h
 * only.
 *
 *     desk-mm [-n DESK] [-s STRATEGY] [-i SYMBOL] [--seconds N] [--size QTY]
 *             [--max-pos QTY] [--edge-ticks N] [--take-every N] [--json]
 *
 * What it does:
 *   - attaches as STRATEGY (declared in desk.toml), waits for deskd to run
 *     and for a first two-sided quote;
 *   - keeps one bid and one ask resting (LIMIT GTC), EDGE ticks behind the
 *     touch, and moves them with desk_submit_replace (a new ClOrdID each
 *     time) when the touch moves;
 *   - skews by inventory: it does not quote a side whose fill could push
 *     |position| above --max-pos (counting its other open orders), and
 *     follows the kill switch (HALTED: nothing new; REDUCING: only the side
 *     that reduces the position); once the venue refuses a sell for want of
 *     inventory (VENUE_CASH: a spot cash account cannot go short) it offers
 *     only what it holds;
 *   - every --take-every quote updates, sends one small IOC taker order that
 *     reduces the inventory or, when flat, follows the last trade's
 *     direction; if its own resting quote on the other side would be hit by
 *     it, that quote is pulled first (no self-trade);
 *   - keeps its own books from the events alone: open orders, position,
 *     average price, cash (fills and fees), realized PnL, counts.  The
 *     arithmetic is deskd's UTA arithmetic (fixed point at 1e-8, notional
 *     truncated toward zero), so when desk-mm is the only strategy its
 *     position and cash change equal deskd's exactly;
 *   - on exit (time up, SIGINT/SIGTERM, or deskd gone) cancels its open
 *     orders, waits up to 2 s for the confirmations, and prints a summary
 *     (text, or one JSON object with --json).
 *
 * Never loses a command: a full order ring (-EAGAIN) is back-pressure, so
 * desk-mm polls its events and retries until the command is in the ring.
 *
 * Money, prices and quantities are int64 fixed point at 1e-8 (DESK_SCALE)
 * throughout; there is no floating point in the accounting.
 *
 * Exit codes: 0 ok; 1 deskd went away or orders were left open; 2 usage or
 * attach error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "desk/client.h"
#include "desk/fixed.h"

#define MM_MAX_ORDERS 64                     /* orders tracked at once */
#define MM_BATCH 64                          /* events per desk_poll */
#define MM_ALIVE_NS UINT64_C(2000000000)     /* deskd heartbeat older than this: gone */
#define MM_STARTUP_NS UINT64_C(15000000000)  /* wait this long for deskd and a quote */
#define MM_DRAIN_NS UINT64_C(2000000000)     /* wait this long for cancels at exit */
#define MM_BACKOFF_NS UINT64_C(200000000)    /* after a reject, leave that side alone */
#define MM_REQUOTE_NS UINT64_C(20000000)     /* at most one change per side per 20 ms */
#define MM_IDLE_NS 50000L                    /* nap when there is nothing to do */

/* ---- fixed point: desk's own parser and formatter (desk/fixed.h) --------- */

/* Parse a decimal ("0.001", "-3", ".5") into 1e-8 units, exactly.  0, or
 * -EBADMSG (not a decimal) or -ERANGE (too large, or finer than 1e-8). */
static int mm_fx_parse(const char *s, int64_t *out)
{
    return desk_fixed_parse_cstr(s, out);
}

/* Text of v with at least min_frac decimals, trailing zeros trimmed ("0.003",
 * "100000", "-12.5").  buf needs 32 bytes. */
static const char *mm_fx(char *buf, int64_t v, unsigned min_frac)
{
    if (desk_fixed_format(v, min_frac, buf, 32) < 0)
        snprintf(buf, 32, "?");
    return buf;
}

/* a * b / DESK_SCALE toward zero: the notional of price a and quantity b
 * (desk_fixed_mul), saturating instead of failing. */
static int64_t mm_mul(int64_t a, int64_t b)
{
    int64_t p;

    if (desk_fixed_mul(a, b, &p) == 0)
        return p;
    return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
}

static int64_t mm_abs(int64_t v)
{
    return v < 0 ? -v : v;
}

/* ---- state ---------------------------------------------------------------- */

enum mm_ostate {
    MM_FREE = 0,           /* slot unused */
    MM_PENDING_NEW,        /* sent, no ack yet */
    MM_OPEN,               /* acked (or filled before the ack), working */
    MM_PENDING_REPLACE,    /* a replace (req_id) is in flight */
    MM_PENDING_CANCEL,     /* a cancel (req_id) is in flight */
};

/* One of our orders, as we know it from our commands and its events. */
struct mm_order {
    uint64_t id;     /* its current ClOrdID */
    uint64_t req_id; /* ClOrdID of the cancel/replace in flight, 0 if none */
    uint8_t state;   /* enum mm_ostate */
    uint8_t side;    /* desk_side_t */
    uint8_t taker;   /* 1 for an IOC taker order, 0 for a quote */
    int64_t qty;     /* order quantity */
    int64_t px;      /* limit price */
    int64_t cum;     /* filled so far */
    int64_t leaves;  /* still open */
    int64_t new_qty; /* pending replace: requested qty */
    int64_t new_px;  /* pending replace: requested price */
};

/* Everything counted, for the summary. */
struct mm_counts {
    uint64_t news;             /* NEW commands sent (quotes and takers) */
    uint64_t replaces;         /* REPLACE commands sent */
    uint64_t cancels;          /* CANCEL commands sent */
    uint64_t takers;           /* IOC taker orders sent (part of news) */
    uint64_t takers_skipped;   /* taker turns skipped (limits, pending quote) */
    uint64_t pulled;           /* own quotes pulled so a taker would not hit them */
    uint64_t retries;          /* desk_submit returned -EAGAIN */
    uint64_t quote_updates;    /* changes of the instrument's quote seen */
    uint64_t acks, fills, canceled, replaced, expired; /* events */
    uint64_t rejects;          /* REJECT events */
    uint64_t cancel_rejects;   /* CANCEL_REJECT events */
    uint64_t unmatched;        /* events for orders we do not know */
    uint64_t rej[DESK_REJ__COUNT + 1];     /* REJECT by reason ([COUNT]: unknown) */
    uint64_t cxl_rej[DESK_REJ__COUNT + 1]; /* CANCEL_REJECT by reason */
    int64_t buy_qty, sell_qty;             /* filled quantity per side */
    int64_t buy_notional, sell_notional;   /* their notional */
};

/* Our own books, updated exactly as deskd's UTA (core/uta.c) updates its. */
struct mm_book {
    int64_t pos;      /* signed position */
    int64_t avg_px;   /* average entry price of the position */
    int64_t cash;     /* cash change: -buys + sells - fees */
    int64_t fees;     /* fees paid */
    int64_t realized; /* realized PnL, before fees */
    int64_t max_abs;  /* largest |position| seen (the limit check) */
};

struct mm_opts {
    const char *desk, *strategy, *symbol;
    uint64_t seconds;   /* run time */
    int64_t size;       /* quote and taker size */
    int64_t max_pos;    /* inventory limit */
    int64_t edge_ticks; /* distance from the touch */
    uint64_t take_every; /* quote updates per taker order, 0 never */
    int json;           /* summary as JSON */
};

struct mm {
    struct mm_opts o;
    desk_client_t *c;            /* libdesk handle */
    uint32_t inst;               /* instrument id */
    int64_t tick, lot;           /* its grids */
    struct mm_order ord[MM_MAX_ORDERS];
    int quote_slot[3];           /* [DESK_BUY], [DESK_SELL]: index in ord[], or -1 */
    uint64_t side_wait_ns[3];    /* no action on that side before this */
    uint64_t next_id;            /* next ClOrdID */
    desk_quote_t q;              /* last quote seen */
    int have_q;                  /* a two-sided quote was seen */
    int64_t last_trade_px;       /* previous last_px, for the trade direction */
    int trade_dir;               /* +1 last trade up, -1 down, 0 unknown */
    struct mm_counts n;
    struct mm_book b;
    int deskd_gone;              /* deskd stopped or its heartbeat went stale */
    int long_only;               /* the venue refused a short sale: sell inventory only */
    uint64_t last_event_ns;      /* desk_now() of the last event applied */
};

static volatile sig_atomic_t mm_stop;

static void mm_on_signal(int sig)
{
    (void)sig;
    mm_stop = 1;
}

static void mm_nap(long ns)
{
    struct timespec ts = {0, ns};

    nanosleep(&ts, NULL);
}

/* ---- books ---------------------------------------------------------------- */

/* Apply one fill to the books: the same steps as desk_uta_fill(). */
static void mm_book_fill(struct mm_book *b, uint8_t side, int64_t px, int64_t qty, int64_t fee)
{
    int64_t notional = mm_mul(px, qty);
    int64_t sq = side == DESK_BUY ? qty : -qty;
    int64_t new_pos = b->pos + sq;

    if (b->pos == 0 || (b->pos > 0) == (sq > 0)) {
        /* Opening or adding: quantity-weighted average, truncated. */
        __int128 cost = (__int128)b->avg_px * mm_abs(b->pos) + (__int128)px * qty;
        b->avg_px = (int64_t)(cost / mm_abs(new_pos));
    } else {
        /* Reducing, maybe through zero: the closed part realizes. */
        int64_t held = mm_abs(b->pos);
        int64_t closed = qty < held ? qty : held;
        int64_t diff = b->pos > 0 ? px - b->avg_px : b->avg_px - px;
        b->realized += mm_mul(diff, closed);
        if (new_pos == 0)
            b->avg_px = 0;
        else if ((new_pos > 0) != (b->pos > 0))
            b->avg_px = px; /* flipped: the rest opened at this price */
    }
    b->pos = new_pos;
    if (mm_abs(new_pos) > b->max_abs)
        b->max_abs = mm_abs(new_pos);
    b->cash += side == DESK_BUY ? -notional : notional;
    b->cash -= fee;
    b->fees += fee;
}

/* ---- orders --------------------------------------------------------------- */

static struct mm_order *mm_alloc(struct mm *m)
{
    for (int i = 0; i < MM_MAX_ORDERS; i++)
        if (m->ord[i].state == MM_FREE)
            return &m->ord[i];
    return NULL;
}

static void mm_free(struct mm *m, struct mm_order *o)
{
    int i = (int)(o - m->ord);

    if (m->quote_slot[DESK_BUY] == i)
        m->quote_slot[DESK_BUY] = -1;
    if (m->quote_slot[DESK_SELL] == i)
        m->quote_slot[DESK_SELL] = -1;
    memset(o, 0, sizeof *o);
}

/* The live order whose current ClOrdID is id (by_req 0), or whose cancel or
 * replace request is id (by_req 1); NULL if none. */
static struct mm_order *mm_find(struct mm *m, uint64_t id, int *by_req)
{
    for (int i = 0; i < MM_MAX_ORDERS; i++) {
        struct mm_order *o = &m->ord[i];
        if (o->state == MM_FREE)
            continue;
        if (o->id == id || (o->req_id && o->req_id == id)) {
            *by_req = o->id != id;
            return o;
        }
    }
    return NULL;
}

/* Leaves of our live orders on `side`, except `skip`. */
static int64_t mm_open_qty(const struct mm *m, uint8_t side, const struct mm_order *skip)
{
    int64_t q = 0;

    for (int i = 0; i < MM_MAX_ORDERS; i++) {
        const struct mm_order *o = &m->ord[i];
        if (o->state != MM_FREE && o != skip && o->side == side)
            q += o->state == MM_PENDING_NEW ? o->qty : o->leaves;
    }
    return q;
}

static int mm_live_orders(const struct mm *m)
{
    int n = 0;

    for (int i = 0; i < MM_MAX_ORDERS; i++)
        n += m->ord[i].state != MM_FREE;
    return n;
}

/* ---- events --------------------------------------------------------------- */

static unsigned mm_reason(uint16_t r)
{
    return r < DESK_REJ__COUNT ? r : DESK_REJ__COUNT;
}

/* Apply one event to our orders, books and counts.  Never sends anything. */
static void mm_event(struct mm *m, const desk_event_t *ev)
{
    int by_req = 0;
    struct mm_order *o = mm_find(m, ev->cl_ord_id, &by_req);

    m->last_event_ns = desk_now();
    switch (ev->type) {
    case DESK_EV_ACK:
        m->n.acks++;
        if (o == NULL || by_req)
            break;
        if (o->state == MM_PENDING_NEW)
            o->state = MM_OPEN;
        o->leaves = ev->leaves_qty;
        return;
    case DESK_EV_FILL:
        m->n.fills++;
        if (o == NULL)
            break; /* not ours (an earlier run's): not in our books */
        mm_book_fill(&m->b, o->side, ev->last_px, ev->last_qty, ev->fee);
        if (o->side == DESK_BUY) {
            m->n.buy_qty += ev->last_qty;
            m->n.buy_notional += mm_mul(ev->last_px, ev->last_qty);
        } else {
            m->n.sell_qty += ev->last_qty;
            m->n.sell_notional += mm_mul(ev->last_px, ev->last_qty);
        }
        o->cum = ev->cum_qty;
        o->leaves = ev->leaves_qty;
        if (ev->ord_status == DESK_OS_FILLED || ev->leaves_qty == 0)
            mm_free(m, o);
        else if (o->state == MM_PENDING_NEW)
            o->state = MM_OPEN; /* a fill before the ack: it is working */
        return;
    case DESK_EV_CANCELED:
    case DESK_EV_EXPIRED:
        if (ev->type == DESK_EV_CANCELED)
            m->n.canceled++;
        else
            m->n.expired++;
        if (o == NULL)
            break;
        mm_free(m, o);
        return;
    case DESK_EV_REJECT:
        m->n.rejects++;
        m->n.rej[mm_reason(ev->reason)]++;
        if (o == NULL)
            break;
        m->side_wait_ns[o->side] = desk_now() + MM_BACKOFF_NS;
        /* A spot venue (a cash account) refuses to sell what we do not hold:
         * from now on only inventory is offered. */
        if (ev->reason == DESK_REJ_VENUE_CASH && o->side == DESK_SELL && !by_req)
            m->long_only = 1;
        if (by_req) { /* a refused cancel/replace leaves the order as it was */
            o->req_id = 0;
            o->state = MM_OPEN;
        } else {
            mm_free(m, o);
        }
        return;
    case DESK_EV_REPLACED:
        m->n.replaced++;
        if (o == NULL)
            break;
        o->id = ev->cl_ord_id; /* the order lives on under the new ClOrdID */
        o->req_id = 0;
        o->qty = o->new_qty;
        o->px = o->new_px;
        o->cum = ev->cum_qty;
        o->leaves = ev->leaves_qty;
        o->state = MM_OPEN;
        return;
    case DESK_EV_CANCEL_REJECT:
        m->n.cancel_rejects++;
        m->n.cxl_rej[mm_reason(ev->reason)]++;
        if (o == NULL)
            return; /* the order finished while the request was in flight */
        m->side_wait_ns[o->side] = desk_now() + MM_BACKOFF_NS;
        o->req_id = 0;
        o->state = MM_OPEN; /* unchanged: still working at its old price */
        return;
    default:
        break;
    }
    m->n.unmatched++;
}

/* Poll and apply every waiting event.  Returns how many. */
static int mm_drain(struct mm *m)
{
    desk_event_t ev[MM_BATCH];
    int total = 0, n;

    while ((n = desk_poll(m->c, ev, MM_BATCH)) > 0) {
        for (int i = 0; i < n; i++)
            mm_event(m, &ev[i]);
        total += n;
    }
    return total;
}

/* ---- commands ------------------------------------------------------------- */

/*
 * Put a command on the order ring.  A full ring is back-pressure: drain our
 * events (so deskd can go on) and retry until it fits, or until deskd is
 * gone.  Returns 0, or -EPIPE (deskd gone) or -EINVAL.
 */
static int mm_submit(struct mm *m, const desk_cmd_t *cmd)
{
    for (;;) {
        int rc = desk_submit(m->c, cmd);
        if (rc != -EAGAIN)
            return rc;
        m->n.retries++;
        mm_drain(m);
        if (!desk_alive(m->c, MM_ALIVE_NS)) {
            m->deskd_gone = 1;
            return -EPIPE;
        }
        mm_nap(MM_IDLE_NS);
    }
}

/* Send a new LIMIT order.  Returns the order, or NULL if it was not sent. */
static struct mm_order *mm_new(struct mm *m, uint8_t side, int64_t qty, int64_t px, uint8_t tif,
                               int taker)
{
    struct mm_order *o = mm_alloc(m);

    if (o == NULL)
        return NULL;
    desk_cmd_t cmd = {.type = DESK_CMD_NEW, .side = side, .ord_type = DESK_LIMIT, .tif = tif,
                      .instrument = m->inst, .cl_ord_id = m->next_id++, .qty = qty, .px = px};
    *o = (struct mm_order){.id = cmd.cl_ord_id, .state = MM_PENDING_NEW, .side = side,
                           .taker = (uint8_t)taker, .qty = qty, .px = px, .leaves = qty};
    if (mm_submit(m, &cmd) < 0) {
        memset(o, 0, sizeof *o);
        return NULL;
    }
    m->n.news++;
    return o;
}

static void mm_cancel(struct mm *m, struct mm_order *o)
{
    uint64_t id = m->next_id++;

    o->req_id = id;
    o->state = MM_PENDING_CANCEL;
    if (mm_submit(m, &(desk_cmd_t){.type = DESK_CMD_CANCEL, .cl_ord_id = id,
                                   .orig_cl_ord_id = o->id}) < 0) {
        o->req_id = 0;
        o->state = MM_OPEN;
        return;
    }
    m->n.cancels++;
}

static void mm_replace(struct mm *m, struct mm_order *o, int64_t px)
{
    uint64_t id = m->next_id++;

    o->req_id = id;
    o->new_qty = o->qty; /* same total quantity: only the price moves */
    o->new_px = px;
    o->state = MM_PENDING_REPLACE;
    if (mm_submit(m, &(desk_cmd_t){.type = DESK_CMD_REPLACE, .instrument = m->inst,
                                   .side = o->side, .ord_type = DESK_LIMIT, .cl_ord_id = id,
                                   .orig_cl_ord_id = o->id, .qty = o->qty, .px = px}) < 0) {
        o->req_id = 0;
        o->state = MM_OPEN;
        return;
    }
    m->n.replaces++;
}

/* ---- quoting -------------------------------------------------------------- */

/*
 * May we have `qty` more working on `side`?  Its fill, on top of the
 * position and our other open orders on that side (except `skip`), must keep
 * |position| within max-pos; the kill switch may forbid it.
 */
static int mm_side_ok(const struct mm *m, uint8_t side, int64_t qty, const struct mm_order *skip)
{
    desk_kill_t k = desk_kill_state(m->c);
    int64_t pos = m->b.pos;

    if (k == DESK_KILL_HALTED)
        return 0;
    if (side == DESK_BUY) {
        int64_t worst = pos + mm_open_qty(m, DESK_BUY, skip) + qty;
        if (k == DESK_KILL_REDUCING && worst > 0)
            return 0; /* would not reduce a short */
        return worst <= m->o.max_pos;
    }
    int64_t worst = pos - mm_open_qty(m, DESK_SELL, skip) - qty;
    if ((k == DESK_KILL_REDUCING || m->long_only) && worst < 0)
        return 0;
    return worst >= -m->o.max_pos;
}

/* Keep one bid and one ask at the touch (less the edge), as limits allow. */
static void mm_requote(struct mm *m, uint64_t now)
{
    static const uint8_t sides[2] = {DESK_BUY, DESK_SELL};

    if (!m->have_q)
        return;
    for (int k = 0; k < 2; k++) {
        uint8_t side = sides[k];
        int si = m->quote_slot[side];
        struct mm_order *o = si >= 0 ? &m->ord[si] : NULL;
        int64_t px = side == DESK_BUY ? m->q.bid_px - m->o.edge_ticks * m->tick
                                      : m->q.ask_px + m->o.edge_ticks * m->tick;

        if (now < m->side_wait_ns[side] || px <= 0)
            continue;
        if (o == NULL) {
            if (!mm_side_ok(m, side, m->o.size, NULL))
                continue;
            o = mm_new(m, side, m->o.size, px, DESK_GTC, 0);
            if (o)
                m->quote_slot[side] = (int)(o - m->ord);
        } else if (o->state == MM_OPEN) {
            if (!mm_side_ok(m, side, o->leaves, o))
                mm_cancel(m, o);
            else if (o->px != px)
                mm_replace(m, o, px);
            else
                continue;
        } else {
            continue; /* waiting for an ack or a request: one at a time */
        }
        m->side_wait_ns[side] = now + MM_REQUOTE_NS;
    }
}

/* Every take_every quote updates: one IOC that reduces the inventory, or
 * follows the last trade when flat. */
static void mm_take(struct mm *m)
{
    int64_t pos = m->b.pos, qty = m->o.size;
    uint8_t side;

    if (pos > 0)
        side = DESK_SELL;
    else if (pos < 0)
        side = DESK_BUY;
    else if (m->trade_dir)
        side = m->trade_dir > 0 ? DESK_BUY : DESK_SELL;
    else {
        m->n.takers_skipped++;
        return;
    }
    if (pos != 0 && mm_abs(pos) < qty)
        qty = mm_abs(pos); /* just flatten */
    int64_t px = side == DESK_BUY ? m->q.ask_px : m->q.bid_px;
    if (!mm_side_ok(m, side, qty, NULL)) {
        m->n.takers_skipped++;
        return;
    }
    /* Our own quote on the other side at or through that price would be hit
     * by this order: pull it first (the cancel reaches the venue first). */
    uint8_t other = side == DESK_BUY ? DESK_SELL : DESK_BUY;
    int oi = m->quote_slot[other];
    if (oi >= 0) {
        struct mm_order *q = &m->ord[oi];
        int crosses = side == DESK_BUY ? q->px <= px : q->px >= px;
        if (crosses) {
            if (q->state != MM_OPEN) {
                m->n.takers_skipped++; /* its state is in flux: next time */
                return;
            }
            mm_cancel(m, q);
            m->n.pulled++;
            m->side_wait_ns[other] = desk_now() + MM_REQUOTE_NS;
        }
    }
    if (mm_new(m, side, qty, px, DESK_IOC, 1))
        m->n.takers++;
}

/* Read the quote; on a change, requote and maybe take.  Returns 1 if it
 * changed. */
static int mm_on_quote(struct mm *m)
{
    desk_quote_t q;

    if (desk_quote(m->c, m->inst, &q) < 0)
        return 0;
    if (m->have_q && q.recv_ns == m->q.recv_ns)
        return 0;
    if (q.bid_px <= 0 || q.ask_px <= 0 || q.bid_px >= q.ask_px)
        return 0; /* one-sided or crossed: keep the last good one */
    if (q.last_px && m->last_trade_px && q.last_px != m->last_trade_px)
        m->trade_dir = q.last_px > m->last_trade_px ? 1 : -1;
    if (q.last_px)
        m->last_trade_px = q.last_px;
    int first = !m->have_q;
    int moved = first || q.bid_px != m->q.bid_px || q.ask_px != m->q.ask_px ||
                q.last_px != m->q.last_px;
    m->q = q;
    m->have_q = 1;
    if (!moved)
        return 0;
    m->n.quote_updates++;
    if (m->o.take_every && m->n.quote_updates % m->o.take_every == 0 && !first)
        mm_take(m);
    return 1;
}

/* ---- life cycle ----------------------------------------------------------- */

/* Cancel every working quote, wait up to 2 s for every order to finish. */
static void mm_shutdown(struct mm *m)
{
    uint64_t deadline = desk_now() + MM_DRAIN_NS;

    while (!m->deskd_gone) {
        uint64_t now = desk_now();
        mm_drain(m);
        for (int i = 0; i < MM_MAX_ORDERS; i++) {
            struct mm_order *o = &m->ord[i];
            /* IOC takers finish by themselves; pending requests end first.
             * After a refused cancel, wait out the backoff before the next. */
            if (o->state == MM_OPEN && !o->taker && now >= m->side_wait_ns[o->side])
                mm_cancel(m, o);
        }
        if (mm_live_orders(m) == 0 || now >= deadline)
            break;
        if (!desk_alive(m->c, MM_ALIVE_NS))
            m->deskd_gone = 1;
        mm_nap(MM_IDLE_NS);
    }
}

/* The mark: the quote's mid, or its last trade if one-sided. */
static int64_t mm_mark(const struct mm *m)
{
    if (m->q.bid_px > 0 && m->q.ask_px > 0)
        return (m->q.bid_px + m->q.ask_px) / 2;
    return m->q.last_px;
}

static void mm_json_reasons(FILE *f, const uint64_t *r)
{
    int first = 1;

    fputc('{', f);
    for (unsigned i = 0; i <= DESK_REJ__COUNT; i++) {
        if (!r[i])
            continue;
        fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",",
                i < DESK_REJ__COUNT ? desk_reject_name(i) : "UNKNOWN", r[i]);
        first = 0;
    }
    fputc('}', f);
}

static void mm_text_reasons(FILE *f, const uint64_t *r)
{
    for (unsigned i = 0; i <= DESK_REJ__COUNT; i++)
        if (r[i])
            fprintf(f, "  %s %" PRIu64, i < DESK_REJ__COUNT ? desk_reject_name(i) : "UNKNOWN",
                    r[i]);
}

static void mm_summary(const struct mm *m, const char *why, uint64_t ran_ns, int have_uta,
                       const desk_pos_t *uta_pos, const desk_account_t *uta0,
                       const desk_account_t *uta1)
{
    char b[16][32];
    const struct mm_counts *n = &m->n;
    int64_t mark = mm_mark(m);
    int64_t unreal = m->b.pos && mark ? mm_mul(mark - m->b.avg_px, m->b.pos) : 0;
    int64_t pnl = m->b.realized - m->b.fees + unreal;
    int left = mm_live_orders(m);

    if (m->o.json) {
        printf("{\"desk\":\"%s\",\"strategy\":\"%s\",\"symbol\":\"%s\",\"exit\":\"%s\","
               "\"ran_ns\":%" PRIu64 ",\"quote_updates\":%" PRIu64 ",\"orders_sent\":%" PRIu64
               ",\"replaces_sent\":%" PRIu64 ",\"cancels_sent\":%" PRIu64 ",\"takers_sent\":%"
               PRIu64 ",\"takers_skipped\":%" PRIu64 ",\"quotes_pulled\":%" PRIu64
               ",\"submit_retries\":%" PRIu64 ",\"acks\":%" PRIu64 ",\"fills\":%" PRIu64
               ",\"canceled\":%" PRIu64 ",\"replaced\":%" PRIu64 ",\"expired\":%" PRIu64
               ",\"unmatched_events\":%" PRIu64 ",\"rejects\":%" PRIu64 ",\"rejects_by_reason\":",
               m->o.desk, m->o.strategy, m->o.symbol, why, ran_ns, n->quote_updates, n->news,
               n->replaces, n->cancels, n->takers, n->takers_skipped, n->pulled, n->retries,
               n->acks, n->fills, n->canceled, n->replaced, n->expired, n->unmatched, n->rejects);
        mm_json_reasons(stdout, n->rej);
        printf(",\"cancel_rejects\":%" PRIu64 ",\"cancel_rejects_by_reason\":", n->cancel_rejects);
        mm_json_reasons(stdout, n->cxl_rej);
        printf(",\"buy_qty\":\"%s\",\"sell_qty\":\"%s\",\"buy_notional\":\"%s\","
               "\"sell_notional\":\"%s\",\"position\":\"%s\",\"avg_px\":\"%s\","
               "\"cash_change\":\"%s\",\"fees\":\"%s\",\"mark_px\":\"%s\","
               "\"realized_pnl\":\"%s\",\"unrealized_pnl\":\"%s\",\"pnl\":\"%s\","
               "\"max_abs_position\":\"%s\",\"long_only\":%s,\"open_orders_left\":%d",
               mm_fx(b[0], n->buy_qty, 0), mm_fx(b[1], n->sell_qty, 0),
               mm_fx(b[2], n->buy_notional, 0), mm_fx(b[3], n->sell_notional, 0),
               mm_fx(b[4], m->b.pos, 0), mm_fx(b[5], m->b.avg_px, 0), mm_fx(b[6], m->b.cash, 0),
               mm_fx(b[7], m->b.fees, 0), mm_fx(b[8], mark, 0), mm_fx(b[9], m->b.realized, 0),
               mm_fx(b[10], unreal, 0), mm_fx(b[11], pnl, 0), mm_fx(b[14], m->b.max_abs, 0),
               m->long_only ? "true" : "false", left);
        if (have_uta)
            printf(",\"uta_position_change\":\"%s\",\"uta_cash_change\":\"%s\"",
                   mm_fx(b[12], uta_pos->qty, 0), mm_fx(b[13], uta1->cash - uta0->cash, 0));
        printf("}\n");
        fflush(stdout);
        return;
    }
    printf("desk-mm %s/%s %s: ran %" PRIu64 ".%02" PRIu64 " s, exit: %s\n", m->o.desk,
           m->o.strategy, m->o.symbol, ran_ns / 1000000000u, ran_ns % 1000000000u / 10000000u,
           why);
    printf("  sent      new %" PRIu64 "  replace %" PRIu64 "  cancel %" PRIu64 "  taker %" PRIu64
           " (skipped %" PRIu64 ", quotes pulled %" PRIu64 ")  ring-full retries %" PRIu64 "\n",
           n->news, n->replaces, n->cancels, n->takers, n->takers_skipped, n->pulled,
           n->retries);
    printf("  events    ack %" PRIu64 "  fill %" PRIu64 "  canceled %" PRIu64 "  replaced %" PRIu64
           "  expired %" PRIu64 "  unmatched %" PRIu64 "   (quote updates %" PRIu64 ")\n",
           n->acks, n->fills, n->canceled, n->replaced, n->expired, n->unmatched,
           n->quote_updates);
    printf("  rejects   %" PRIu64, n->rejects);
    mm_text_reasons(stdout, n->rej);
    printf("\n  cxl rej   %" PRIu64, n->cancel_rejects);
    mm_text_reasons(stdout, n->cxl_rej);
    printf("\n  filled    buy %s (notional %s)  sell %s (notional %s)\n", mm_fx(b[0], n->buy_qty, 0),
           mm_fx(b[1], n->buy_notional, 2), mm_fx(b[2], n->sell_qty, 0),
           mm_fx(b[3], n->sell_notional, 2));
    printf("  position  %s @ %s (max |position| %s)   cash change %s   fees %s\n",
           mm_fx(b[4], m->b.pos, 0), mm_fx(b[5], m->b.avg_px, 0), mm_fx(b[15], m->b.max_abs, 0),
           mm_fx(b[6], m->b.cash, 2), mm_fx(b[7], m->b.fees, 2));
    printf("  pnl       %s  (realized %s, unrealized %s at mid %s, fees %s)\n",
           mm_fx(b[8], pnl, 2), mm_fx(b[9], m->b.realized, 2), mm_fx(b[10], unreal, 2),
           mm_fx(b[11], mark, 0), mm_fx(b[12], m->b.fees, 2));
    if (have_uta)
        printf("  deskd     UTA position change %s, UTA cash change %s\n", mm_fx(b[13], uta_pos->qty, 0),
               mm_fx(b[14], uta1->cash - uta0->cash, 2));
    if (m->long_only)
        printf("  note      the venue refused a short sale (VENUE_CASH): sold inventory only\n");
    printf("  open orders left %d\n", left);
}

static void mm_usage(FILE *f)
{
    fprintf(f,
            "usage: desk-mm [-n DESK] [-s STRATEGY] [-i SYMBOL] [--seconds N] [--size QTY]\n"
            "               [--max-pos QTY] [--edge-ticks N] [--take-every N] [--json]\n"
            "  -n DESK          desk name (default demo)\n"
            "  -s STRATEGY      strategy name from desk.toml (default mm)\n"
            "  -i SYMBOL        instrument (default BTCUSDT)\n"
            "  --seconds N      run time after the first quote (default 20)\n"
            "  --size QTY       quote size, a decimal (default 0.001)\n"
            "  --max-pos QTY    largest |position| a fill may leave (default 0.01)\n"
            "  --edge-ticks N   quote N ticks behind the touch (default 0: join it)\n"
            "  --take-every N   one IOC taker order every N quote updates (default 0: never)\n"
            "  --json           print the summary as one JSON object\n");
}

static int mm_uint(const char *s, uint64_t max, uint64_t *out)
{
    char *end;

    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v > max)
        return -1;
    *out = v;
    return 0;
}

static int mm_parse(struct mm_opts *o, int argc, char **argv)
{
    static const struct option lo[] = {
        {"seconds", required_argument, NULL, 'T'},    {"size", required_argument, NULL, 'S'},
        {"max-pos", required_argument, NULL, 'P'},    {"edge-ticks", required_argument, NULL, 'E'},
        {"take-every", required_argument, NULL, 'K'}, {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0}};
    const char *size = "0.001", *max_pos = "0.01";
    uint64_t v;
    int c;

    *o = (struct mm_opts){.desk = "demo", .strategy = "mm", .symbol = "BTCUSDT", .seconds = 20};
    while ((c = getopt_long(argc, argv, "n:s:i:h", lo, NULL)) != -1) {
        switch (c) {
        case 'n': o->desk = optarg; break;
        case 's': o->strategy = optarg; break;
        case 'i': o->symbol = optarg; break;
        case 'S': size = optarg; break;
        case 'P': max_pos = optarg; break;
        case 'J': o->json = 1; break;
        case 'T':
            if (mm_uint(optarg, 7 * 86400, &v) < 0 || v == 0)
                goto bad;
            o->seconds = v;
            break;
        case 'E':
            if (mm_uint(optarg, 1000000, &v) < 0)
                goto bad;
            o->edge_ticks = (int64_t)v;
            break;
        case 'K':
            if (mm_uint(optarg, UINT32_MAX, &v) < 0)
                goto bad;
            o->take_every = v;
            break;
        case 'h': mm_usage(stdout); exit(0);
        default: mm_usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "desk-mm: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (mm_fx_parse(size, &o->size) < 0 || o->size <= 0) {
        fprintf(stderr, "desk-mm: --size wants a positive decimal, not '%s'\n", size);
        return -1;
    }
    if (mm_fx_parse(max_pos, &o->max_pos) < 0 || o->max_pos < o->size) {
        fprintf(stderr, "desk-mm: --max-pos wants a decimal >= --size, not '%s'\n", max_pos);
        return -1;
    }
    return 0;
bad:
    fprintf(stderr, "desk-mm: bad value '%s' for --%s\n", optarg,
            c == 'T' ? "seconds" : c == 'E' ? "edge-ticks" : "take-every");
    return -1;
}

/* Attach, retrying while deskd starts (no segment yet), up to `until`. */
static int mm_attach(struct mm *m, uint64_t until)
{
    for (;;) {
        int rc = desk_attach(&m->c, m->o.desk, m->o.strategy);
        if (rc == 0)
            return 0;
        if (rc != -ENOENT || mm_stop || desk_now() >= until) {
            fprintf(stderr, "desk-mm: cannot attach to desk '%s' as '%s': %s\n", m->o.desk,
                    m->o.strategy, desk_client_errmsg());
            return rc;
        }
        mm_nap(100000000L);
    }
}

int main(int argc, char **argv)
{
    static struct mm m; /* large: keep it off the stack */
    struct sigaction sa;
    const char *why = "time";
    int rc;

    if (mm_parse(&m.o, argc, argv) < 0)
        return 2;
    m.quote_slot[DESK_BUY] = m.quote_slot[DESK_SELL] = -1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = mm_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* ClOrdIDs: microseconds since the epoch, then +1 per command, so a
     * restart later in the day never reuses one. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m.next_id = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;

    uint64_t until = desk_now() + MM_STARTUP_NS;
    if (mm_attach(&m, until) < 0)
        return 2;
    rc = desk_instrument_find(m.c, m.o.symbol, NULL);
    if (rc < 0) {
        fprintf(stderr, "desk-mm: %s\n", desk_client_errmsg());
        desk_detach(m.c);
        return 2;
    }
    m.inst = (uint32_t)rc;
    const desk_instrument_t *in = desk_instrument(m.c, m.inst);
    m.tick = in->tick_size > 0 ? in->tick_size : 1;
    m.lot = in->lot_size > 0 ? in->lot_size : 1;
    if (m.o.size % m.lot != 0) {
        char b1[32], b2[32];
        fprintf(stderr, "desk-mm: --size %s is not a multiple of %s's lot size %s\n",
                mm_fx(b1, m.o.size, 0), m.o.symbol, mm_fx(b2, m.lot, 0));
        desk_detach(m.c);
        return 2;
    }

    /* Wait for deskd to run and for a first two-sided quote. */
    while (!mm_stop && (!desk_alive(m.c, MM_ALIVE_NS) || !m.have_q) && desk_now() < until) {
        mm_drain(&m); /* also a heartbeat; stale events of an earlier run go by */
        if (desk_alive(m.c, MM_ALIVE_NS))
            mm_on_quote(&m);
        mm_nap(1000000L);
    }
    if (!m.have_q || !desk_alive(m.c, MM_ALIVE_NS)) {
        fprintf(stderr, "desk-mm: %s\n", mm_stop ? "interrupted while waiting for deskd"
                                                 : !desk_alive(m.c, MM_ALIVE_NS)
                                                       ? "deskd is not running"
                                                       : "no two-sided quote within 15 s");
        desk_detach(m.c);
        return 2;
    }
    memset(&m.n, 0, sizeof m.n); /* what came before our first command was not ours */

    desk_account_t uta0 = {0}, uta1 = {0};
    desk_pos_t upos0 = {0}, upos1 = {0};
    int have_uta = desk_account(m.c, &uta0) == 0 && desk_position(m.c, m.inst, &upos0) == 0;

    uint64_t start = desk_now(), end = start + m.o.seconds * 1000000000u, last_alive = start;
    for (;;) {
        uint64_t now = desk_now();
        if (mm_stop) {
            why = "signal";
            break;
        }
        if (now >= end)
            break;
        if (now - last_alive > 100000000u) { /* 10 times a second is plenty */
            last_alive = now;
            if (!desk_alive(m.c, MM_ALIVE_NS)) {
                m.deskd_gone = 1;
            }
        }
        if (m.deskd_gone) {
            why = "deskd gone";
            break;
        }
        int work = mm_drain(&m);
        work += mm_on_quote(&m);
        mm_requote(&m, now);
        if (!work)
            mm_nap(MM_IDLE_NS);
    }
    uint64_t ran = desk_now() - start;
    mm_shutdown(&m);

    /* deskd's view, once its UTA snapshot includes our last event. */
    if (have_uta && !m.deskd_gone) {
        uint64_t t_end = desk_now() + 1000000000u;
        while (desk_account(m.c, &uta1) == 0 && uta1.updated_ns < m.last_event_ns &&
               desk_now() < t_end)
            mm_nap(1000000L);
        have_uta = desk_account(m.c, &uta1) == 0 && desk_position(m.c, m.inst, &upos1) == 0;
        upos1.qty -= upos0.qty; /* the change while we ran */
    } else {
        have_uta = 0;
    }
    if (m.deskd_gone)
        why = "deskd gone";
    mm_summary(&m, why, ran, have_uta, &upos1, &uta0, &uta1);
    int left = mm_live_orders(&m);
    desk_detach(m.c);
    return m.deskd_gone || left ? 1 : 0;
}
