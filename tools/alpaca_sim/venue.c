/*
 * venue.c - desk-alpaca-sim's venue: the paper matching engine fed with the
 * recorded market data, Alpaca orders layered on the engine's orders, fills,
 * and the trade_updates each engine event becomes.
 *
 * Mapping.  Each Alpaca order drives one engine order (eng_id).  A PATCH
 * (replace) keeps the engine order and gives it a new Alpaca order: the old
 * one becomes "replaced", the new one starts with filled_qty 0 and records
 * the engine's cum qty at that moment (base_cum), so its own filled_qty is
 * the engine's cum minus base_cum.  eng_map[eng_id] names the Alpaca order
 * currently driving each engine order.
 *
 * Every function here runs under g_sim.mu unless it says otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "sim.h"

sim_t g_sim;

#define SIM_INSTRUMENT 1u       /* the engine's one instrument id */
#define SIM_MAX_ORDERS 65536u   /* engine pool: open orders at once */
#define SIM_REORDER_HOLD_NS 200000000 /* a held (reordered) update waits at most 200 ms */

/* ------------------------------------------------------------------ orders */

int sim_order_new(void)
{
    if (g_sim.norders == g_sim.cap_orders) {
        int cap = g_sim.cap_orders ? g_sim.cap_orders * 2 : 256;
        sim_order_t *p = realloc(g_sim.orders, (size_t)cap * sizeof *p);
        if (p == NULL)
            abort();
        g_sim.orders = p;
        g_sim.cap_orders = cap;
    }
    int i = g_sim.norders++;
    memset(&g_sim.orders[i], 0, sizeof g_sim.orders[i]);
    g_sim.orders[i].replaced_by = g_sim.orders[i].replaces = -1;
    return i;
}

void sim_order_pop(void)
{
    if (g_sim.norders > 0)
        g_sim.norders--;
}

int sim_order_find(const char *id)
{
    for (int i = 0; i < g_sim.norders; i++)
        if (strcmp(g_sim.orders[i].id, id) == 0)
            return i;
    return -1;
}

int sim_order_find_clid(const char *clid)
{
    for (int i = 0; i < g_sim.norders; i++)
        if (strcmp(g_sim.orders[i].clid, clid) == 0)
            return i;
    return -1;
}

int sim_order_is_final(const sim_order_t *o)
{
    static const char *const fin[] = {"filled", "canceled", "expired", "replaced", "rejected",
                                      "done_for_day"};
    for (size_t i = 0; i < sizeof fin / sizeof fin[0]; i++)
        if (strcmp(o->status, fin[i]) == 0)
            return 1;
    return 0;
}

static const char *type_name(unsigned t)
{
    static const char *const n[] = {"", "market", "limit", "stop", "stop_limit"};
    return t < 5 ? n[t] : "";
}

static const char *tif_name(unsigned t)
{
    switch (t) {
    case DESK_DAY:
        return "day";
    case DESK_GTC:
        return "gtc";
    case DESK_IOC:
        return "ioc";
    case DESK_FOK:
        return "fok";
    default:
        return "";
    }
}

/* Average fill price of an order, 1e-8, rounded toward zero. */
static int64_t order_avg(const sim_order_t *o)
{
    return o->filled_qty > 0 ? (int64_t)(o->filled_val / o->filled_qty) : 0;
}

void sim_order_json(sim_buf_t *b, int idx)
{
    const sim_order_t *o = &g_sim.orders[idx];

    sim_buf_puts(b, "{\"id\":");
    sim_buf_json_str(b, o->id);
    sim_buf_puts(b, ",\"client_order_id\":");
    sim_buf_json_str(b, o->clid);
    sim_buf_puts(b, ",\"created_at\":");
    sim_buf_time(b, o->created_ns);
    sim_buf_puts(b, ",\"updated_at\":");
    sim_buf_time(b, o->updated_ns);
    sim_buf_puts(b, ",\"submitted_at\":");
    sim_buf_time(b, o->submitted_ns);
    sim_buf_puts(b, ",\"filled_at\":");
    sim_buf_time(b, o->filled_ns);
    sim_buf_puts(b, ",\"expired_at\":");
    sim_buf_time(b, o->expired_ns);
    sim_buf_puts(b, ",\"canceled_at\":");
    sim_buf_time(b, o->canceled_ns);
    sim_buf_puts(b, ",\"failed_at\":");
    sim_buf_time(b, o->failed_ns);
    sim_buf_puts(b, ",\"replaced_at\":");
    sim_buf_time(b, o->replaced_ns);
    sim_buf_puts(b, ",\"replaced_by\":");
    if (o->replaced_by >= 0)
        sim_buf_json_str(b, g_sim.orders[o->replaced_by].id);
    else
        sim_buf_puts(b, "null");
    sim_buf_puts(b, ",\"replaces\":");
    if (o->replaces >= 0)
        sim_buf_json_str(b, g_sim.orders[o->replaces].id);
    else
        sim_buf_puts(b, "null");
    sim_buf_printf(b, ",\"asset_id\":\"%s\",\"symbol\":", g_sim.asset_id);
    sim_buf_json_str(b, g_sim.symbol);
    sim_buf_puts(b, ",\"asset_class\":\"us_equity\",\"notional\":null,\"qty\":");
    sim_buf_fixed(b, o->qty);
    sim_buf_puts(b, ",\"filled_qty\":");
    sim_buf_fixed(b, o->filled_qty);
    sim_buf_puts(b, ",\"filled_avg_price\":");
    if (o->filled_qty > 0)
        sim_buf_fixed(b, order_avg(o));
    else
        sim_buf_puts(b, "null");
    sim_buf_printf(b,
                   ",\"order_class\":\"\",\"order_type\":\"%s\",\"type\":\"%s\",\"side\":\"%s\","
                   "\"time_in_force\":\"%s\",\"limit_price\":",
                   type_name(o->type), type_name(o->type), o->side == DESK_BUY ? "buy" : "sell",
                   tif_name(o->tif));
    if (o->limit_px > 0)
        sim_buf_fixed(b, o->limit_px);
    else
        sim_buf_puts(b, "null");
    sim_buf_puts(b, ",\"stop_price\":");
    if (o->stop_px > 0)
        sim_buf_fixed(b, o->stop_px);
    else
        sim_buf_puts(b, "null");
    sim_buf_printf(b,
                   ",\"status\":\"%s\",\"extended_hours\":%s,\"legs\":null,\"trail_percent\":null,"
                   "\"trail_price\":null,\"hwm\":null}",
                   o->status, o->ext_hours ? "true" : "false");
}

/* ------------------------------------------------------------------ stream */

void sim_ws_queue(sim_ws_t *w, const char *data, size_t len)
{
    sim_msg_t *m = malloc(sizeof *m + len);
    uint64_t one = 1;

    if (m == NULL)
        abort();
    m->next = NULL;
    m->at_ns = sim_now_mono();
    m->len = len;
    memcpy(m->data, data, len);
    if (w->tail)
        w->tail->next = m;
    else
        w->head = m;
    w->tail = m;
    if (write(w->efd, &one, sizeof one) < 0) {
        /* The counter cannot overflow here; the session polls its queue anyway. */
    }
}

void sim_ws_free_queue(sim_ws_t *w)
{
    sim_msg_t *m = w->head;
    while (m) {
        sim_msg_t *n = m->next;
        free(m);
        m = n;
    }
    free(w->held);
    w->head = w->tail = w->held = NULL;
}

/* Send one trade_update to every listening session, through the faults. */
static void broadcast(const sim_buf_t *msg)
{
    const sim_faults_t *f = &g_sim.faults;
    int cut = f->malformed_updates > 0;

    for (sim_ws_t *w = g_sim.ws; w; w = w->next) {
        if (!w->listening)
            continue;
        if (cut)
            sim_ws_queue(w, msg->p, msg->n / 2); /* a frame of half a JSON document */
        int copies = f->dup_updates ? 2 : 1;
        for (int c = 0; c < copies; c++) {
            if (f->reorder_updates && w->held == NULL) {
                sim_msg_t *m = malloc(sizeof *m + msg->n);
                if (m == NULL)
                    abort();
                m->next = NULL;
                m->at_ns = sim_now_mono();
                m->len = msg->n;
                memcpy(m->data, msg->p, msg->n);
                w->held = m; /* goes out after the next update, or after 200 ms */
            } else {
                sim_ws_queue(w, msg->p, msg->n);
                if (w->held) {
                    sim_ws_queue(w, w->held->data, w->held->len);
                    free(w->held);
                    w->held = NULL;
                }
            }
        }
    }
    if (cut)
        g_sim.faults.malformed_updates--;
    g_sim.n_trade_updates++;
}

/* Build and broadcast {"stream":"trade_updates","data":{...}} for order idx. */
static void trade_update(const char *event, int idx, const sim_fill_t *fill)
{
    sim_buf_t b = {0};
    char exec[40];

    if (fill)
        memcpy(exec, fill->exec_id, sizeof exec);
    else
        sim_uuid(exec);
    sim_buf_printf(&b, "{\"stream\":\"trade_updates\",\"data\":{\"event\":\"%s\","
                       "\"execution_id\":\"%s\",\"order\":",
                   event, exec);
    sim_order_json(&b, idx);
    if (fill) {
        sim_buf_puts(&b, ",\"position_qty\":");
        sim_buf_fixed(&b, fill->pos_after);
        sim_buf_puts(&b, ",\"price\":");
        sim_buf_fixed(&b, fill->px);
        sim_buf_puts(&b, ",\"qty\":");
        sim_buf_fixed(&b, fill->qty);
    }
    if (strcmp(event, "new") != 0) {
        sim_buf_puts(&b, ",\"timestamp\":");
        sim_buf_time(&b, sim_now_wall());
    }
    sim_buf_puts(&b, "}}");
    broadcast(&b);
    sim_buf_free(&b);
}

void sim_ws_flush_held(sim_ws_t *w)
{
    if (w->held && sim_now_mono() - w->held->at_ns > SIM_REORDER_HOLD_NS) {
        sim_ws_queue(w, w->held->data, w->held->len);
        free(w->held);
        w->held = NULL;
    }
}

void sim_faults_json(sim_buf_t *b)
{
    const sim_faults_t *f = &g_sim.faults;
    sim_buf_printf(b,
                   "{\"drop_before\":%d,\"drop_after\":%d,\"stall\":%s,\"delay_ms\":%d,"
                   "\"err_5xx\":%d,\"status_5xx\":%d,\"err_429\":%d,\"malformed\":%d,"
                   "\"malformed_updates\":%d,\"split_writes\":%s,\"dup_updates\":%s,"
                   "\"reorder_updates\":%s,\"rate_limit\":%d,\"rate_window_ms\":%d}",
                   f->drop_before, f->drop_after, f->stall ? "true" : "false", f->delay_ms,
                   f->err_5xx, f->status_5xx, f->err_429, f->malformed, f->malformed_updates,
                   f->split_writes ? "true" : "false", f->dup_updates ? "true" : "false",
                   f->reorder_updates ? "true" : "false", g_sim.cfg.rate_limit,
                   g_sim.cfg.rate_window_ms);
}

/* ------------------------------------------------------------------ engine */

static void snapshot(int idx)
{
    if (idx == g_sim.res.snap_order) {
        g_sim.res.snap.n = 0;
        sim_order_json(&g_sim.res.snap, idx);
    }
}

static void record_fill(int idx, const desk_vevent_t *ev)
{
    sim_order_t *o = &g_sim.orders[idx];
    int64_t now = sim_now_wall();

    if (g_sim.nfills == g_sim.cap_fills) {
        int cap = g_sim.cap_fills ? g_sim.cap_fills * 2 : 256;
        sim_fill_t *p = realloc(g_sim.fills, (size_t)cap * sizeof *p);
        if (p == NULL)
            abort();
        g_sim.fills = p;
        g_sim.cap_fills = cap;
    }
    sim_fill_t *f = &g_sim.fills[g_sim.nfills++];
    f->order = idx;
    sim_uuid(f->exec_id);
    f->qty = ev->last_qty;
    f->px = ev->last_px;
    g_sim.pos_qty += o->side == DESK_BUY ? ev->last_qty : -ev->last_qty;
    f->pos_after = g_sim.pos_qty;
    o->filled_qty = ev->cum_qty - o->base_cum;
    o->filled_val += (__int128)ev->last_px * ev->last_qty; /* 1e-16 units */
    o->updated_ns = now;
    if (o->filled_qty >= o->qty) {
        o->status = "filled";
        o->filled_ns = now;
    } else {
        o->status = "partially_filled";
    }
    trade_update(o->filled_qty >= o->qty ? "fill" : "partial_fill", idx, f);
}

/* The engine's emit callback: runs inside engine calls, under g_sim.mu. */
static void on_emit(const desk_vevent_t *ev, const desk_paper_fill_info_t *info, void *ctx)
{
    sim_cmd_result_t *r = &g_sim.res;
    int idx = -1;
    int64_t now = sim_now_wall();
    (void)info;
    (void)ctx;

    if (ev->order_id < g_sim.next_eng_id)
        idx = g_sim.eng_map[ev->order_id];
    if (idx < 0 || idx >= g_sim.norders) {
        fprintf(stderr, "desk-alpaca-sim: engine event for unknown order %llu\n",
                (unsigned long long)ev->order_id);
        return;
    }
    sim_order_t *o = &g_sim.orders[idx];
    switch (ev->type) {
    case DESK_EV_ACK:
        r->ack = 1;
        o->status = "new";
        o->updated_ns = now;
        snapshot(idx);
        trade_update("new", idx, NULL);
        break;
    case DESK_EV_REJECT:
        r->reject = 1;
        r->reason = ev->reason;
        if (ev->reason == DESK_REJ_VENUE_CASH && idx == r->snap_order)
            break; /* answered 403 by the handler; the order never existed */
        o->status = "rejected";
        o->failed_ns = o->updated_ns = now;
        snapshot(idx);
        trade_update("rejected", idx, NULL);
        break;
    case DESK_EV_FILL:
        record_fill(idx, ev);
        break;
    case DESK_EV_CANCELED:
        r->canceled = 1;
        o->status = "canceled";
        o->canceled_ns = o->updated_ns = now;
        trade_update("canceled", idx, NULL);
        break;
    case DESK_EV_EXPIRED:
        o->status = "expired";
        o->expired_ns = o->updated_ns = now;
        trade_update("expired", idx, NULL);
        break;
    case DESK_EV_REPLACED: {
        int nidx = r->snap_order;
        if (nidx < 0 || nidx == idx)
            break;
        sim_order_t *n = &g_sim.orders[nidx];
        o = &g_sim.orders[idx]; /* (no realloc in between; re-read for clarity) */
        r->replaced = 1;
        o->status = "replaced";
        o->replaced_by = nidx;
        o->replaced_ns = o->updated_ns = now;
        n->replaces = idx;
        n->status = "new";
        n->base_cum = ev->cum_qty;
        n->eng_id = o->eng_id;
        n->updated_ns = now;
        g_sim.eng_map[o->eng_id] = nidx;
        trade_update("replaced", idx, NULL);
        snapshot(nidx);
        trade_update("new", nidx, NULL);
        break;
    }
    case DESK_EV_CANCEL_REJECT:
        r->cancel_reject = 1;
        r->reason = ev->reason;
        break;
    default:
        break;
    }
}

/* A new engine order id mapped to order idx. */
static uint64_t eng_id_for(int idx)
{
    uint64_t id = g_sim.next_eng_id++;
    int *p = realloc(g_sim.eng_map, (size_t)g_sim.next_eng_id * sizeof *p);
    if (p == NULL)
        abort();
    g_sim.eng_map = p;
    g_sim.eng_map[id] = idx;
    return id;
}

int sim_engine_cmd(const desk_vcmd_t *cmd, int snap_order)
{
    desk_vcmd_t c = *cmd;
    sim_buf_t keep = g_sim.res.snap;

    memset(&g_sim.res, 0, sizeof g_sim.res);
    keep.n = 0;
    g_sim.res.snap = keep; /* reuse the snapshot buffer */
    if (keep.p)
        keep.p[0] = '\0';
    g_sim.res.snap_order = snap_order;
    c.instrument = SIM_INSTRUMENT;
    if (c.type == DESK_CMD_NEW) {
        c.order_id = eng_id_for(snap_order);
        g_sim.orders[snap_order].eng_id = c.order_id;
    }
    c.cl_ord_id = g_sim.next_eng_clid++;
    c.route_ns = (uint64_t)sim_now_mono();
    return desk_paper_engine_cmd(g_sim.eng, &c);
}

/* ---------------------------------------------------------- market data */

static int64_t md_ts(uint64_t i)
{
    return g_sim.md->ev[i].ts_ns + g_sim.md_offset;
}

/* Feed the next md event; at the end of the data, end the session and loop. */
static void feed_one(void)
{
    desk_md_event_t ev = g_sim.md->ev[g_sim.md_idx];
    uint64_t global = g_sim.md_loops * g_sim.md->n + g_sim.md_idx;

    ev.ts_ns += g_sim.md_offset;
    desk_paper_engine_on_md(g_sim.eng, global, &ev);
    if (ev.kind == DESK_MD_QUOTE)
        g_sim.last_quote_ns = ev.ts_ns;
    g_sim.md_idx++;
    if (g_sim.md_idx < g_sim.md->n)
        return;
    desk_paper_engine_end_session(g_sim.eng); /* DAY orders expire at the close */
    if (!g_sim.cfg.loop)
        return;
    /* Next pass: the same day again, whole days later, clock continuous. */
    int64_t span = g_sim.md->ev[g_sim.md->n - 1].ts_ns - g_sim.md->ev[0].ts_ns;
    int64_t day = INT64_C(86400000000000);
    g_sim.md_offset += (span / day + 1) * day;
    g_sim.md_loops++;
    g_sim.md_idx = 0;
    g_sim.md_t0 = md_ts(0);
    g_sim.wall_t0 = sim_now_mono();
}

int sim_md_advance(uint64_t n)
{
    uint64_t k = 0;
    for (; k < n && g_sim.md_idx < g_sim.md->n; k++)
        feed_one();
    /* Keep the real-time replay's clock from catching up on the skipped events. */
    if (g_sim.md_idx < g_sim.md->n) {
        g_sim.md_t0 = md_ts(g_sim.md_idx);
        g_sim.wall_t0 = sim_now_mono();
    }
    return (int)k;
}

void *sim_md_thread(void *arg)
{
    (void)arg;
    while (!SIM_STOPPING()) {
        pthread_mutex_lock(&g_sim.mu);
        if (g_sim.cfg.speed > 0) {
            double el = (double)(sim_now_mono() - g_sim.wall_t0) * g_sim.cfg.speed;
            int64_t target = g_sim.md_t0 + (int64_t)el;
            for (int k = 0; k < 100000 && g_sim.md_idx < g_sim.md->n && md_ts(g_sim.md_idx) <= target;
                 k++)
                feed_one();
        }
        pthread_mutex_unlock(&g_sim.mu);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int sim_venue_init(void)
{
    sim_cfg_t *c = &g_sim.cfg;
    desk_paper_engine_cfg_t ec = {0};

    if (desk_md_load(c->data, &g_sim.md) != 0) {
        fprintf(stderr, "desk-alpaca-sim: %s\n", desk_errmsg());
        return -1;
    }
    if (g_sim.md->n == 0 || c->md_skip >= g_sim.md->n) {
        fprintf(stderr, "desk-alpaca-sim: --md-skip %llu beyond the data's %zu events\n",
                (unsigned long long)c->md_skip, g_sim.md->n);
        return -1;
    }
    snprintf(g_sim.symbol, sizeof g_sim.symbol, "%s", c->symbol ? c->symbol : g_sim.md->symbol);
    sim_uuid(g_sim.asset_id);
    ec.instrument = SIM_INSTRUMENT;
    ec.max_orders = SIM_MAX_ORDERS;
    ec.cash = c->cash;
    ec.allow_short = c->allow_short;
    ec.emit = on_emit;
    if (desk_paper_engine_create(&ec, &g_sim.eng) != 0) {
        fprintf(stderr, "desk-alpaca-sim: engine: %s\n", desk_errmsg());
        return -1;
    }
    g_sim.next_eng_id = 1;
    g_sim.next_eng_clid = 1;
    g_sim.eng_map = calloc(1, sizeof *g_sim.eng_map);
    if (g_sim.eng_map == NULL)
        return -1;
    g_sim.eng_map[0] = -1;
    /* Feed up to and including the first quote, so market orders can trade at once. */
    g_sim.md_idx = c->md_skip;
    while (g_sim.md_idx < g_sim.md->n && g_sim.md->ev[g_sim.md_idx].kind != DESK_MD_QUOTE)
        feed_one();
    if (g_sim.md_idx < g_sim.md->n)
        feed_one();
    g_sim.md_t0 = g_sim.md_idx < g_sim.md->n ? md_ts(g_sim.md_idx) : 0;
    g_sim.wall_t0 = sim_now_mono();
    g_sim.faults.status_5xx = 500;
    return 0;
}

void sim_venue_fini(void)
{
    desk_paper_engine_destroy(g_sim.eng);
    desk_md_destroy(g_sim.md);
    free(g_sim.orders);
    free(g_sim.fills);
    free(g_sim.eng_map);
    free(g_sim.rate_ts);
    sim_buf_free(&g_sim.res.snap);
}
