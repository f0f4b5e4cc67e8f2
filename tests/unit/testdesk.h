/*
 * testdesk.h - an in-process desk for router tests: real segments in
 * /dev/shm, a real router, a scripted venue on the connector rings.
 *
 * Included by router_test.c and hotpath_test.c (header-only: static
 * functions).  The venue answers every NEW with an ACK and, for orders that
 * cross its fixed quote, a FILL at the touch; CANCEL with CANCELED; REPLACE
 * with REPLACED.
 */
#ifndef DESK_TESTDESK_H
#define DESK_TESTDESK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "core/fixed.h"
#include "core/router.h"
#include "desk/client.h"
#include "ring/shm.h"

#define TD_PX(x) ((int64_t)((x) * 100.0 + 0.5) * (DESK_SCALE / 100)) /* dollars and cents */
#define TD_QTY(x) ((int64_t)((x) * 100000.0 + 0.5) * (DESK_SCALE / 100000)) /* lots of 1e-5 */

struct testdesk {
    desk_config_t *cfg;             /* heap: it is large */
    char name[DESK_NAME_MAX];       /* unique desk name */
    struct desk_main_hdr *main;     /* RW mapping */
    size_t main_len;
    struct desk_strat_hdr *seg;     /* strategy 0 segment */
    size_t seg_len;
    desk_router_t *router;          /* heap */
    void *cmd_mem, *ev_mem;         /* connector rings */
    size_t cmd_len, ev_len;
    desk_spsc_t venue_in;           /* venue side: commands */
    desk_spsc_t venue_out;          /* venue side: events */
    uint64_t exec_id;               /* venue exec ids */
    uint64_t pushed;                /* events the venue pushed (venue side only) */
    int64_t bid, ask;               /* the venue's fixed quote */
};

static void *td_ring(uint32_t slots, size_t *len)
{
    *len = desk_spsc_bytes(slots);
    void *m = aligned_alloc(128, (*len + 127) & ~(size_t)127);
    if (m == NULL || desk_spsc_init(m, *len, slots) < 0)
        abort();
    return m;
}

static void td_set_health(struct testdesk *t, desk_health_t h)
{
    struct desk_conn_shm *cs = &desk_shm_conns(t->main)[0];
    struct desk_conn_health st = {.state = (uint64_t)h};
    snprintf(st.reason, sizeof st.reason, "test");
    desk_seqlock_write(&cs->hlock, &cs->health, &st, sizeof st);
}

static void td_set_quote(struct testdesk *t, int64_t bid, int64_t ask)
{
    struct desk_quote_slot *qs = &desk_shm_quotes(t->main)[0];
    desk_quote_t q = {.bid_px = bid, .bid_qty = TD_QTY(10), .ask_px = ask,
                      .ask_qty = TD_QTY(10), .last_px = bid, .recv_ns = desk_now_ns()};
    desk_seqlock_write(&qs->lock, &qs->q, &q, sizeof q);
    t->bid = bid;
    t->ask = ask;
}

/* Build and start (without threads) a desk with one crypto connector, one
 * instrument (BTCUSDT, tick 0.01, lot 0.00001), one strategy "s". */
static int td_open(struct testdesk *t, uint32_t order_ring, uint32_t event_ring, int64_t cash)
{
    memset(t, 0, sizeof *t);
    t->cfg = calloc(1, sizeof *t->cfg);
    t->router = calloc(1, sizeof *t->router);
    if (!t->cfg || !t->router)
        return -ENOMEM;
    snprintf(t->name, sizeof t->name, "t%d", (int)getpid());
    desk_config_t *c = t->cfg;
    snprintf(c->name, sizeof c->name, "%s", t->name);
    c->idle = DESK_IDLE_BACKOFF;
    c->idle_max_us = 50;
    c->order_capacity = 1 << 16;
    c->status_interval_ms = 10;
    c->nconnectors = 1;
    snprintf(c->connectors[0].name, DESK_NAME_MAX, "venue");
    snprintf(c->connectors[0].type, DESK_NAME_MAX, "test");
    c->connectors[0].venue_type = DESK_VENUE_CRYPTO;
    c->ninstruments = 1;
    snprintf(c->instruments[0].symbol, DESK_SYMBOL_MAX, "BTCUSDT");
    snprintf(c->instruments[0].venue, DESK_NAME_MAX, "venue");
    c->instruments[0].tick_size = DESK_SCALE / 100;
    c->instruments[0].lot_size = DESK_SCALE / 100000;
    c->instruments[0].open_min = c->instruments[0].close_min = -1;
    c->nstrategies = 1;
    snprintf(c->strategies[0].name, DESK_NAME_MAX, "s");
    c->strategies[0].cancel_on_disconnect = 1;
    int rc = desk_shm_main_create(t->name, 1, 1, 1, 0644, &t->main, &t->main_len);
    if (rc < 0)
        return rc;
    desk_instrument_t *in = desk_shm_instruments(t->main);
    in->id = 0;
    in->connector = 0;
    in->asset_class = DESK_ASSET_CRYPTO;
    in->tradable = 1;
    snprintf(in->symbol, sizeof in->symbol, "BTCUSDT");
    in->tick_size = c->instruments[0].tick_size;
    in->lot_size = c->instruments[0].lot_size;
    in->open_min = in->close_min = -1;
    snprintf(desk_shm_conns(t->main)[0].name, DESK_NAME_MAX, "venue");
    snprintf(desk_shm_strats(t->main)[0].name, DESK_NAME_MAX, "s");
    rc = desk_shm_strat_create(t->name, "s", 0, t->main->start_mono_ns, order_ring, event_ring,
                               geteuid(), getegid(), 0600, &t->seg, &t->seg_len);
    if (rc < 0)
        return rc;
    if ((rc = desk_router_init(t->router, c, t->main)) < 0)
        return rc;
    if ((rc = desk_router_attach_strategy(t->router, 0, t->seg)) < 0)
        return rc;
    t->cmd_mem = td_ring(4096, &t->cmd_len);
    t->ev_mem = td_ring(4096, &t->ev_len);
    if ((rc = desk_router_attach_connector(t->router, 0, t->cmd_mem, t->cmd_len, t->ev_mem,
                                           t->ev_len)) < 0)
        return rc;
    desk_spsc_attach_consumer(&t->venue_in, t->cmd_mem, t->cmd_len);
    desk_spsc_attach_producer(&t->venue_out, t->ev_mem, t->ev_len);
    desk_router_seed_cash(t->router, 0, cash, cash);
    td_set_health(t, DESK_UP);
    td_set_quote(t, TD_PX(60000), TD_PX(60000.01));
    atomic_store_explicit(&t->main->run_state, DESK_RUN_RUNNING, memory_order_release);
    desk_router_publish(t->router, desk_now_ns());
    return 0;
}

static void td_close(struct testdesk *t)
{
    if (t->router && t->router->limits)
        desk_router_fini(t->router);
    if (t->seg) {
        desk_shm_unmap(t->seg, t->seg_len);
        desk_shm_unlink_strat(t->name, "s");
    }
    if (t->main) {
        desk_shm_unmap(t->main, t->main_len);
        desk_shm_unlink_main(t->name);
    }
    free(t->cmd_mem);
    free(t->ev_mem);
    free(t->router);
    free(t->cfg);
    memset(t, 0, sizeof *t);
}

static int td_venue_push(struct testdesk *t, const desk_vevent_t *ev)
{
    while (desk_spsc_push(&t->venue_out, ev) < 0)
        desk_cpu_relax(); /* the router drains it */
    t->pushed++;
    return 0;
}

/* Answer up to `max` commands.  Allocation- and syscall-free. */
static int td_venue_step(struct testdesk *t, uint32_t max)
{
    uint32_t n = desk_spsc_peek_n(&t->venue_in, max);

    for (uint32_t i = 0; i < n; i++) {
        const desk_vcmd_t *c = desk_spsc_slot(&t->venue_in, i);
        desk_vevent_t ev = {.instrument = c->instrument, .order_id = c->order_id,
                            .venue_ns = desk_now_ns()};
        switch (c->type) {
        case DESK_CMD_NEW: {
            ev.type = DESK_EV_ACK;
            td_venue_push(t, &ev);
            int crosses = c->ord_type == DESK_MARKET ||
                          (c->side == DESK_BUY ? c->px >= t->ask : c->px <= t->bid);
            if (crosses) {
                ev.type = DESK_EV_FILL;
                ev.exec_id = ++t->exec_id;
                ev.last_px = c->side == DESK_BUY ? t->ask : t->bid;
                ev.last_qty = c->qty;
                ev.cum_qty = c->qty;
                (void)desk_fixed_muldiv(ev.last_px, ev.last_qty, DESK_SCALE * 10000, &ev.fee);
                td_venue_push(t, &ev);
            }
            break;
        }
        case DESK_CMD_CANCEL:
            ev.type = DESK_EV_CANCELED;
            td_venue_push(t, &ev);
            break;
        case DESK_CMD_REPLACE:
            ev.type = DESK_EV_REPLACED;
            td_venue_push(t, &ev);
            break;
        default:
            break;
        }
    }
    if (n)
        desk_spsc_release(&t->venue_in, n);
    return (int)n;
}

#endif /* DESK_TESTDESK_H */
