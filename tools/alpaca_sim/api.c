/*
 * api.c - desk-alpaca-sim's REST endpoints (PROTOCOLS.md 1.3-1.8, 1.10, 5):
 * routing, authentication, the rate limit, validation of request bodies
 * (cJSON), the venue calls, and the response bodies.  Plus the simulator's
 * own control endpoints under /_sim/ (faults, state, market-data steps).
 *
 * sim_api_handle() runs on a connection thread and takes g_sim.mu for the
 * whole request, so each request sees and changes the venue atomically.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core/fixed.h"
#include "sim.h"

#define S DESK_SCALE

/* ----------------------------------------------------------------- replies */

/* An Alpaca error body {"code":...,"message":...}; code 0 leaves it out. */
static void err(sim_resp_t *r, int status, long code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void err(sim_resp_t *r, int status, long code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->status = status;
    r->body.n = 0;
    if (code)
        sim_buf_printf(&r->body, "{\"code\":%ld,\"message\":", code);
    else
        sim_buf_puts(&r->body, "{\"message\":");
    sim_buf_json_str(&r->body, msg);
    sim_buf_puts(&r->body, "}");
}

/* The exact body Alpaca sends for bad keys (PROTOCOLS.md 1.8: no code). */
static void forbidden(sim_resp_t *r)
{
    r->status = 403;
    r->body.n = 0;
    sim_buf_puts(&r->body, "{\"message\": \"forbidden.\"}");
}

static void rate_limited(sim_resp_t *r, int retry_after)
{
    r->status = 429;
    r->body.n = 0;
    sim_buf_puts(&r->body, "{\"code\":42910000,\"message\":\"rate limit exceeded\"}");
    r->retry_after = retry_after > 0 ? retry_after : 1;
}

/* ------------------------------------------------------------------- query */

/* Percent-decode src[0..n) into dst[cap]; '+' is a space. */
static void url_decode(const char *src, size_t n, char *dst, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        if (src[i] == '%' && i + 2 < n) {
            char hex[3] = {src[i + 1], src[i + 2], 0};
            dst[k++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            dst[k++] = src[i] == '+' ? ' ' : src[i];
        }
    }
    dst[k] = '\0';
}

/* The value of query parameter `name` into out[cap]; 1 if present. */
static int query_get(const char *query, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = query;

    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            url_decode(p + nl + 1, len - nl - 1, out, cap);
            return 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    out[0] = '\0';
    return 0;
}

/* ----------------------------------------------------------- body fields */

/* A string member, or NULL if absent or not a string (*bad set). */
static const char *jstr(const cJSON *o, const char *key, int *present)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *present = v != NULL && !cJSON_IsNull(v);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * A decimal member ("223.82", or an integer JSON number) into *out.
 * Returns 1 present and valid, 0 absent/null, -1 malformed.
 */
static int jdec(const cJSON *o, const char *key, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (cJSON_IsString(v))
        return desk_fixed_parse_cstr(v->valuestring, out) == 0 ? 1 : -1;
    if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
        fabs(v->valuedouble) < 9.0e10) {
        *out = (int64_t)v->valuedouble * S;
        return 1;
    }
    return -1;
}

static int parse_side(const char *s)
{
    return !s ? 0 : !strcmp(s, "buy") ? DESK_BUY : !strcmp(s, "sell") ? DESK_SELL : 0;
}

static int parse_type(const char *s)
{
    return !s                          ? 0
           : !strcmp(s, "market")      ? DESK_MARKET
           : !strcmp(s, "limit")       ? DESK_LIMIT
           : !strcmp(s, "stop")        ? DESK_STOP
           : !strcmp(s, "stop_limit")  ? DESK_STOP_LIMIT
                                       : 0;
}

/* desk_tif_t, or -1 if unknown. */
static int parse_tif(const char *s)
{
    return !s                  ? -1
           : !strcmp(s, "day") ? DESK_DAY
           : !strcmp(s, "gtc") ? DESK_GTC
           : !strcmp(s, "ioc") ? DESK_IOC
           : !strcmp(s, "fok") ? DESK_FOK
                               : -1;
}

/* Alpaca's price grid for equities: $0.01 at or above $1, $0.0001 below. */
static int sub_penny(int64_t px)
{
    return px >= S ? px % 1000000 != 0 : px % 10000 != 0;
}

static void fmt_fixed(int64_t v, char *buf, size_t cap)
{
    if (desk_fixed_format(v, 0, buf, cap) < 0)
        snprintf(buf, cap, "?");
}

/* Price checks shared by POST and PATCH.  Returns 0 or answers an error. */
static int check_prices(sim_resp_t *r, int type, int64_t limit, int64_t stop, int has_limit,
                        int has_stop)
{
    char t[32];
    int wants_limit = type == DESK_LIMIT || type == DESK_STOP_LIMIT;
    int wants_stop = type == DESK_STOP || type == DESK_STOP_LIMIT;
    static const char *const names[] = {"", "market", "limit", "stop", "stop_limit"};

    if (wants_limit && !has_limit) {
        err(r, 422, 40010001, "limit_price is required for %s orders", names[type]);
        return -1;
    }
    if (wants_stop && !has_stop) {
        err(r, 422, 40010001, "stop_price is required for %s orders", names[type]);
        return -1;
    }
    if (!wants_limit && has_limit) {
        err(r, 422, 40010001, "limit_price must not be set for %s orders", names[type]);
        return -1;
    }
    if (!wants_stop && has_stop) {
        err(r, 422, 40010001, "stop_price must not be set for %s orders", names[type]);
        return -1;
    }
    if ((has_limit && limit <= 0) || (has_stop && stop <= 0)) {
        err(r, 422, 40010001, "prices must be > 0");
        return -1;
    }
    if (has_limit && sub_penny(limit)) {
        fmt_fixed(limit, t, sizeof t);
        err(r, 422, 42210000,
            "invalid limit_price %s. sub-penny increment does not fulfill minimum pricing criteria",
            t);
        return -1;
    }
    if (has_stop && sub_penny(stop)) {
        fmt_fixed(stop, t, sizeof t);
        err(r, 422, 42210000,
            "invalid stop_price %s. sub-penny increment does not fulfill minimum pricing criteria",
            t);
        return -1;
    }
    return 0;
}

/* A client_order_id from the body (or a fresh uuid).  Returns 0 or answers. */
static int take_clid(sim_resp_t *r, const cJSON *b, char out[64])
{
    int present;
    const char *clid = jstr(b, "client_order_id", &present);

    if (!present) {
        sim_uuid(out);
        return 0;
    }
    if (clid == NULL || clid[0] == '\0') {
        err(r, 422, 40010001, "invalid client_order_id");
        return -1;
    }
    if (strlen(clid) > 48) {
        err(r, 422, 40010001, "client_order_id must be no more than 48 characters");
        return -1;
    }
    if (sim_order_find_clid(clid) >= 0) {
        err(r, 422, 40010001, "client_order_id must be unique");
        return -1;
    }
    snprintf(out, 64, "%s", clid);
    return 0;
}

/* 403 for an order the engine could not fund. */
static void insufficient(sim_resp_t *r, int side, int64_t qty, int64_t ref_px)
{
    desk_balance_t bal;
    desk_position_t pos;
    char a[32], b[32];

    if (side == DESK_BUY) {
        int64_t cost = 0;
        desk_paper_engine_balance(g_sim.eng, &bal);
        if (desk_fixed_mul(ref_px, qty, &cost) != 0)
            cost = INT64_MAX;
        fmt_fixed(bal.buying_power, a, sizeof a);
        fmt_fixed(cost, b, sizeof b);
        r->status = 403;
        r->body.n = 0;
        sim_buf_printf(&r->body,
                       "{\"buying_power\":\"%s\",\"code\":40310000,\"cost_basis\":\"%s\","
                       "\"message\":\"insufficient buying power\"}",
                       a, b);
    } else {
        desk_paper_engine_position(g_sim.eng, &pos);
        fmt_fixed(qty, a, sizeof a);
        fmt_fixed(pos.qty > 0 ? pos.qty : 0, b, sizeof b);
        err(r, 403, 40310000, "insufficient qty available for order (requested: %s, available: %s)",
            a, b);
    }
}

/* ------------------------------------------------------------------ orders */

/*
 * POST /v2/orders.  Validation runs in the order a real venue would report
 * problems (body, symbol, size, side, type, tif, prices, flags, client id),
 * and nothing touches the engine until the request is valid.  The order is
 * created tentatively before the engine call so that the engine's ACK (which
 * arrives inside the call) can snapshot it as the POST's reply: the reply is
 * the order as acknowledged ("new"), even if fills followed in the same call.
 * A 403 (not fundable) removes the tentative order: Alpaca creates none.
 */
static void post_order(const sim_req_t *req, sim_resp_t *r)
{
    cJSON *b = cJSON_ParseWithLength(req->body.p ? req->body.p : "", req->body.n);
    int present, side, type, tif, has_l, has_s;
    int64_t qty = 0, limit = 0, stop = 0;
    const char *s;
    char clid[64];

    g_sim.n_post_orders++;
    if (b == NULL || !cJSON_IsObject(b)) {
        err(r, 400, 40010000, "request body format is invalid");
        goto out;
    }
    s = jstr(b, "symbol", &present);
    if (s == NULL) {
        err(r, 422, 40010001, "symbol is required");
        goto out;
    }
    if (strcmp(s, g_sim.symbol) != 0) {
        err(r, 422, 40010001, "asset \"%s\" not found", s);
        goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive(b, "notional") &&
        !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(b, "notional"))) {
        err(r, 422, 40010001, "notional orders are not supported by desk-alpaca-sim");
        goto out;
    }
    int q = jdec(b, "qty", &qty);
    if (q == 0) {
        err(r, 422, 40010001, "qty is required");
        goto out;
    }
    if (q < 0 || qty <= 0) {
        err(r, 422, 40010001, "invalid qty: must be a decimal > 0");
        goto out;
    }
    side = parse_side(jstr(b, "side", &present));
    if (side == 0) {
        err(r, 422, 40010001, present ? "invalid side" : "side is required");
        goto out;
    }
    s = jstr(b, "type", &present);
    type = parse_type(s);
    if (type == 0) {
        if (s && strcmp(s, "trailing_stop") == 0)
            err(r, 422, 40010001, "trailing_stop orders are not supported by desk-alpaca-sim");
        else
            err(r, 422, 40010001, present ? "invalid order type" : "type is required");
        goto out;
    }
    s = jstr(b, "time_in_force", &present);
    tif = parse_tif(s);
    if (tif < 0) {
        if (s && (strcmp(s, "opg") == 0 || strcmp(s, "cls") == 0))
            err(r, 422, 40010001, "time_in_force %s is not supported by desk-alpaca-sim", s);
        else
            err(r, 422, 40010001, present ? "invalid time_in_force" : "time_in_force is required");
        goto out;
    }
    if ((has_l = jdec(b, "limit_price", &limit)) < 0 || (has_s = jdec(b, "stop_price", &stop)) < 0) {
        err(r, 422, 40010001, "invalid price: must be a decimal string");
        goto out;
    }
    if (check_prices(r, type, limit, stop, has_l, has_s) != 0)
        goto out;
    const cJSON *ext = cJSON_GetObjectItemCaseSensitive(b, "extended_hours");
    if (cJSON_IsTrue(ext) && (type != DESK_LIMIT || tif != DESK_DAY)) {
        err(r, 422, 40010001, "only type=\"limit\" is allowed for extended hours orders");
        goto out;
    }
    s = jstr(b, "order_class", &present);
    if (present && (s == NULL || (s[0] != '\0' && strcmp(s, "simple") != 0))) {
        err(r, 422, 40010001, "order_class %s is not supported by desk-alpaca-sim",
            s ? s : "(not a string)");
        goto out;
    }
    if (qty % S != 0 && (type != DESK_MARKET || tif != DESK_DAY)) {
        err(r, 422, 40010001, "fractional orders must be market orders with day time_in_force");
        goto out;
    }
    if (take_clid(r, b, clid) != 0)
        goto out;

    int idx = sim_order_new();
    sim_order_t *o = &g_sim.orders[idx];
    int64_t now = sim_now_wall();
    sim_uuid(o->id);
    memcpy(o->clid, clid, sizeof o->clid);
    o->side = (uint8_t)side;
    o->type = (uint8_t)type;
    o->tif = (uint8_t)tif;
    o->ext_hours = (uint8_t)cJSON_IsTrue(ext);
    o->status = "pending_new";
    o->qty = qty;
    o->limit_px = limit;
    o->stop_px = stop;
    o->created_ns = o->updated_ns = o->submitted_ns = now;

    desk_vcmd_t cmd = {.type = DESK_CMD_NEW, .side = (uint8_t)side, .ord_type = (uint8_t)type,
                       .tif = (uint8_t)tif, .qty = qty, .px = limit, .stop_px = stop};
    sim_engine_cmd(&cmd, idx);
    if (g_sim.res.reject && g_sim.res.reason == DESK_REJ_VENUE_CASH) {
        desk_quote_t qt = {0};
        desk_paper_engine_quote(g_sim.eng, &qt);
        int64_t ref = limit > 0 ? limit : (stop > qt.ask_px ? stop : qt.ask_px);
        sim_order_pop();
        insufficient(r, side, qty, ref);
        goto out;
    }
    r->status = 200;
    r->body.n = 0;
    if (g_sim.res.snap.n)
        sim_buf_put(&r->body, g_sim.res.snap.p, g_sim.res.snap.n);
    else
        sim_order_json(&r->body, idx);
out:
    cJSON_Delete(b);
}

static void get_order(int idx, sim_resp_t *r)
{
    if (idx < 0) {
        err(r, 404, 40410000, "order not found");
        return;
    }
    r->status = 200;
    r->body.n = 0;
    sim_order_json(&r->body, idx);
}

/* 422 for an order that can no longer change. */
static int not_open(sim_resp_t *r, const sim_order_t *o)
{
    if (!sim_order_is_final(o))
        return 0;
    err(r, 422, 42210000, "order is already in \"%s\" state", o->status);
    return 1;
}

/*
 * DELETE /v2/orders/{id}: 204 with no body; the engine's CANCELED event has
 * already queued the canceled trade_update, which the stream thread sends
 * after this reply or before it (as with Alpaca, the two channels are not
 * ordered with respect to each other).
 */
static void cancel_order(int idx, sim_resp_t *r)
{
    if (idx < 0) {
        err(r, 404, 40410000, "order not found");
        return;
    }
    if (not_open(r, &g_sim.orders[idx]))
        return;
    desk_vcmd_t cmd = {.type = DESK_CMD_CANCEL, .order_id = g_sim.orders[idx].eng_id};
    sim_engine_cmd(&cmd, idx);
    if (!g_sim.res.canceled) {
        err(r, 422, 42210000, "order is not cancelable");
        return;
    }
    r->status = 204; /* the canceled event follows on the stream */
    r->body.n = 0;
}

static void cancel_all(sim_resp_t *r)
{
    int first = 1;

    r->status = 207;
    r->body.n = 0;
    sim_buf_puts(&r->body, "[");
    for (int i = 0; i < g_sim.norders; i++) {
        if (sim_order_is_final(&g_sim.orders[i]) || g_sim.orders[i].eng_id == 0)
            continue;
        desk_vcmd_t cmd = {.type = DESK_CMD_CANCEL, .order_id = g_sim.orders[i].eng_id};
        sim_engine_cmd(&cmd, i);
        sim_buf_printf(&r->body, "%s{\"id\":\"%s\",\"status\":%d", first ? "" : ",",
                       g_sim.orders[i].id, g_sim.res.canceled ? 200 : 500);
        if (!g_sim.res.canceled)
            sim_buf_puts(&r->body,
                         ",\"body\":{\"code\":50010000,\"message\":\"order is not cancelable\"}");
        sim_buf_puts(&r->body, "}");
        first = 0;
    }
    sim_buf_puts(&r->body, "]");
}

/*
 * PATCH /v2/orders/{id}.  Absent fields keep the order's values (qty: what
 * is left to fill).  The engine order continues under a new Alpaca order:
 * engine qty = what the engine order already filled + the new order's qty.
 * On the engine's REPLACED the callback links old and new and snapshots the
 * new one as the reply; on CANCEL_REJECT the tentative new order is dropped.
 */
static void replace_order(int idx, const sim_req_t *req, sim_resp_t *r)
{
    cJSON *b = NULL;
    int64_t qty, limit, stop;
    int has_l, has_s, q, present;
    char clid[64];

    if (idx < 0) {
        err(r, 404, 40410000, "order not found");
        return;
    }
    if (not_open(r, &g_sim.orders[idx]))
        return;
    b = cJSON_ParseWithLength(req->body.p ? req->body.p : "", req->body.n);
    if (b == NULL || !cJSON_IsObject(b)) {
        err(r, 400, 40010000, "request body format is invalid");
        goto out;
    }
    const sim_order_t *o = &g_sim.orders[idx];
    qty = o->qty - o->filled_qty;
    limit = o->limit_px;
    stop = o->stop_px;
    if ((q = jdec(b, "qty", &qty)) < 0 || (q == 1 && qty <= 0)) {
        err(r, 422, 40010001, "invalid qty: must be a decimal > 0");
        goto out;
    }
    if ((has_l = jdec(b, "limit_price", &limit)) < 0 || (has_s = jdec(b, "stop_price", &stop)) < 0) {
        err(r, 422, 40010001, "invalid price: must be a decimal string");
        goto out;
    }
    if (check_prices(r, o->type, limit, stop, has_l || o->limit_px > 0,
                     has_s || o->stop_px > 0) != 0)
        goto out;
    const char *tif = jstr(b, "time_in_force", &present);
    if (present && parse_tif(tif) != o->tif) {
        err(r, 422, 40010001, "time_in_force cannot be changed by desk-alpaca-sim");
        goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive(b, "trail")) {
        err(r, 422, 40010001, "trail is not supported by desk-alpaca-sim");
        goto out;
    }
    if (qty % S != 0 && (o->type != DESK_MARKET || o->tif != DESK_DAY)) {
        err(r, 422, 40010001, "fractional orders must be market orders with day time_in_force");
        goto out;
    }
    if (take_clid(r, b, clid) != 0)
        goto out;

    int nidx = sim_order_new(); /* may move g_sim.orders: re-read o below */
    o = &g_sim.orders[idx];
    sim_order_t *n = &g_sim.orders[nidx];
    int64_t now = sim_now_wall();
    sim_uuid(n->id);
    memcpy(n->clid, clid, sizeof n->clid);
    n->side = o->side;
    n->type = o->type;
    n->tif = o->tif;
    n->ext_hours = o->ext_hours;
    n->status = "pending_replace";
    n->qty = qty;
    n->limit_px = limit;
    n->stop_px = stop;
    n->created_ns = n->updated_ns = n->submitted_ns = now;
    desk_vcmd_t cmd = {.type = DESK_CMD_REPLACE, .side = o->side, .ord_type = o->type,
                       .tif = o->tif, .order_id = o->eng_id,
                       .qty = o->base_cum + o->filled_qty + qty, .px = limit, .stop_px = stop};
    sim_engine_cmd(&cmd, nidx);
    if (!g_sim.res.replaced) {
        uint16_t why = g_sim.res.reason;
        sim_order_pop();
        if (why == DESK_REJ_VENUE_CASH)
            insufficient(r, g_sim.orders[idx].side, qty, limit > 0 ? limit : stop);
        else
            err(r, 422, 40010001, "replace rejected by the venue (reason %u)", why);
        goto out;
    }
    r->status = 200;
    r->body.n = 0;
    sim_buf_put(&r->body, g_sim.res.snap.p, g_sim.res.snap.n);
out:
    cJSON_Delete(b);
}

/* GET /v2/orders: newest first unless direction=asc; open orders by default. */
static void list_orders(const char *query, sim_resp_t *r)
{
    char status[16], lim[16], dir[8], syms[256];
    int limit = 50, first = 1, asc;

    query_get(query, "status", status, sizeof status);
    if (status[0] == '\0')
        snprintf(status, sizeof status, "open");
    if (strcmp(status, "open") && strcmp(status, "closed") && strcmp(status, "all")) {
        err(r, 422, 40010001, "invalid status: %s", status);
        return;
    }
    if (query_get(query, "limit", lim, sizeof lim)) {
        char *end;
        long v = strtol(lim, &end, 10);
        if (*end || v < 1 || v > 500) {
            err(r, 422, 40010001, "invalid limit: %s", lim);
            return;
        }
        limit = (int)v;
    }
    query_get(query, "direction", dir, sizeof dir);
    asc = strcmp(dir, "asc") == 0;
    if (query_get(query, "symbols", syms, sizeof syms)) {
        int found = 0;
        char *save = NULL;
        for (char *t = strtok_r(syms, ",", &save); t; t = strtok_r(NULL, ",", &save))
            found |= strcmp(t, g_sim.symbol) == 0;
        if (!found)
            limit = 0;
    }
    r->status = 200;
    r->body.n = 0;
    sim_buf_puts(&r->body, "[");
    for (int k = 0, n = 0; k < g_sim.norders && n < limit; k++) {
        int i = asc ? k : g_sim.norders - 1 - k;
        const sim_order_t *o = &g_sim.orders[i];
        int fin = sim_order_is_final(o);
        if ((status[0] == 'o' && fin) || (status[0] == 'c' && !fin))
            continue;
        if (!first)
            sim_buf_puts(&r->body, ",");
        sim_order_json(&r->body, i);
        first = 0;
        n++;
    }
    sim_buf_puts(&r->body, "]");
}

/* --------------------------------------------------- positions and account */

/* Mark price: last trade, else the mid, else 0. */
static int64_t mark_px(void)
{
    desk_quote_t q;
    if (desk_paper_engine_quote(g_sim.eng, &q) != 0)
        return 0;
    if (q.last_px > 0)
        return q.last_px;
    return (q.bid_px + q.ask_px) / 2;
}

/*
 * One Position.  Values are marked at the last trade (else the mid); shorts
 * have negative qty, market value and cost basis, as Alpaca reports them.
 */
static void position_json(sim_buf_t *b, const desk_position_t *p)
{
    int64_t cur = mark_px(), mv = 0, cb = 0, pl, plpc = 0;

    desk_fixed_mul(p->qty, cur, &mv);
    desk_fixed_mul(p->qty, p->avg_px, &cb);
    pl = mv - cb;
    if (cb != 0)
        desk_fixed_muldiv(pl, S, cb < 0 ? -cb : cb, &plpc);
    sim_buf_printf(b, "{\"asset_id\":\"%s\",\"symbol\":", g_sim.asset_id);
    sim_buf_json_str(b, g_sim.symbol);
    sim_buf_puts(b, ",\"exchange\":\"NASDAQ\",\"asset_class\":\"us_equity\","
                    "\"asset_marginable\":false,\"avg_entry_price\":");
    sim_buf_fixed(b, p->avg_px);
    sim_buf_puts(b, ",\"qty\":");
    sim_buf_fixed(b, p->qty);
    sim_buf_puts(b, ",\"qty_available\":");
    sim_buf_fixed(b, p->qty);
    sim_buf_printf(b, ",\"side\":\"%s\",\"market_value\":", p->qty >= 0 ? "long" : "short");
    sim_buf_fixed(b, mv);
    sim_buf_puts(b, ",\"cost_basis\":");
    sim_buf_fixed(b, cb);
    sim_buf_puts(b, ",\"unrealized_pl\":");
    sim_buf_fixed(b, pl);
    sim_buf_puts(b, ",\"unrealized_plpc\":");
    sim_buf_fixed(b, plpc);
    sim_buf_puts(b, ",\"unrealized_intraday_pl\":");
    sim_buf_fixed(b, pl);
    sim_buf_puts(b, ",\"unrealized_intraday_plpc\":");
    sim_buf_fixed(b, plpc);
    sim_buf_puts(b, ",\"current_price\":");
    sim_buf_fixed(b, cur);
    sim_buf_puts(b, ",\"lastday_price\":");
    sim_buf_fixed(b, cur);
    sim_buf_puts(b, ",\"change_today\":\"0\"}");
}

static void positions(const char *sym, sim_resp_t *r)
{
    desk_position_t p;

    desk_paper_engine_position(g_sim.eng, &p);
    p.qty += g_sim.phantom_qty; /* the books fault (phantom_fill) */
    r->status = 200;
    r->body.n = 0;
    if (sym != NULL) {
        if (strcmp(sym, g_sim.symbol) != 0 || p.qty == 0) {
            err(r, 404, 40410000, "position does not exist");
            return;
        }
        position_json(&r->body, &p);
        return;
    }
    sim_buf_puts(&r->body, "[");
    if (p.qty != 0)
        position_json(&r->body, &p);
    sim_buf_puts(&r->body, "]");
}

/*
 * GET /v2/account, shaped like the recorded account of PROTOCOLS.md 1.7 but
 * with numeric daytrade_count/crypto_tier (the live wire's form).  A cash
 * account: multiplier 1, so buying_power is the engine's cash net of what
 * open buys reserve.
 */
static void account(sim_resp_t *r)
{
    desk_balance_t bal;
    desk_position_t p;
    int64_t mv = 0;

    desk_paper_engine_balance(g_sim.eng, &bal);
    desk_paper_engine_position(g_sim.eng, &p);
    p.qty += g_sim.phantom_qty; /* the books faults (phantom_fill, adjust_cash) */
    bal.cash += g_sim.phantom_cash;
    bal.buying_power += g_sim.phantom_cash;
    desk_fixed_mul(p.qty, mark_px(), &mv);
    int64_t equity = bal.cash + mv;
    r->status = 200;
    r->body.n = 0;
    sim_buf_t *b = &r->body;
    sim_buf_puts(b, "{\"id\":\"8f6d1d3e-5c4b-4a3a-9e2f-0d1c2b3a4f5e\",\"account_number\":"
                    "\"PA3DESKSIM01\",\"status\":\"ACTIVE\",\"crypto_status\":\"INACTIVE\","
                    "\"currency\":\"USD\",\"buying_power\":");
    sim_buf_fixed(b, bal.buying_power);
    sim_buf_puts(b, ",\"regt_buying_power\":");
    sim_buf_fixed(b, bal.buying_power);
    sim_buf_puts(b, ",\"daytrading_buying_power\":\"0\",\"effective_buying_power\":");
    sim_buf_fixed(b, bal.buying_power);
    sim_buf_puts(b, ",\"non_marginable_buying_power\":");
    sim_buf_fixed(b, bal.buying_power);
    sim_buf_puts(b, ",\"bod_dtbp\":\"0\",\"cash\":");
    sim_buf_fixed(b, bal.cash);
    sim_buf_puts(b, ",\"accrued_fees\":\"0\",\"portfolio_value\":");
    sim_buf_fixed(b, equity);
    sim_buf_printf(b,
                   ",\"pattern_day_trader\":false,\"trading_blocked\":false,"
                   "\"transfers_blocked\":false,\"account_blocked\":false,\"created_at\":"
                   "\"2024-01-02T14:30:00Z\",\"trade_suspended_by_user\":false,\"multiplier\":"
                   "\"1\",\"shorting_enabled\":%s,\"equity\":",
                   g_sim.cfg.allow_short ? "true" : "false");
    sim_buf_fixed(b, equity);
    sim_buf_puts(b, ",\"last_equity\":");
    sim_buf_fixed(b, g_sim.cfg.cash);
    sim_buf_puts(b, ",\"long_market_value\":");
    sim_buf_fixed(b, mv > 0 ? mv : 0);
    sim_buf_puts(b, ",\"short_market_value\":");
    sim_buf_fixed(b, mv < 0 ? mv : 0);
    sim_buf_puts(b, ",\"position_market_value\":");
    sim_buf_fixed(b, mv);
    sim_buf_puts(b, ",\"initial_margin\":\"0\",\"maintenance_margin\":\"0\","
                    "\"last_maintenance_margin\":\"0\",\"sma\":\"0\",\"daytrade_count\":0,"
                    "\"balance_asof\":\"2024-01-02\",\"crypto_tier\":0}");
}

/* ---------------------------------------------------------------- quotes */

static void quote_obj(sim_buf_t *b, const desk_quote_t *q)
{
    sim_buf_puts(b, "{\"t\":");
    sim_buf_time(b, g_sim.last_quote_ns);
    sim_buf_puts(b, ",\"ax\":\"Q\",\"ap\":");
    sim_buf_fixed_num(b, q->ask_px);
    sim_buf_puts(b, ",\"as\":");
    sim_buf_fixed_num(b, q->ask_qty);
    sim_buf_puts(b, ",\"bx\":\"Q\",\"bp\":");
    sim_buf_fixed_num(b, q->bid_px);
    sim_buf_puts(b, ",\"bs\":");
    sim_buf_fixed_num(b, q->bid_qty);
    sim_buf_puts(b, ",\"c\":[\"R\"],\"z\":\"C\"}");
}

static void latest_quote(const char *sym, const char *query, sim_resp_t *r)
{
    desk_quote_t q;
    char syms[256];

    if (desk_paper_engine_quote(g_sim.eng, &q) != 0) {
        err(r, 404, 40410000, "no quote yet");
        return;
    }
    r->status = 200;
    r->body.n = 0;
    if (sym != NULL) {
        if (strcmp(sym, g_sim.symbol) != 0) {
            err(r, 404, 40410000, "no quote for symbol %s", sym);
            return;
        }
        sim_buf_puts(&r->body, "{\"symbol\":");
        sim_buf_json_str(&r->body, g_sim.symbol);
        sim_buf_puts(&r->body, ",\"quote\":");
        quote_obj(&r->body, &q);
        sim_buf_puts(&r->body, "}");
        return;
    }
    if (!query_get(query, "symbols", syms, sizeof syms) || syms[0] == '\0') {
        err(r, 400, 0, "symbols is required");
        return;
    }
    int found = 0;
    char *save = NULL;
    for (char *t = strtok_r(syms, ",", &save); t; t = strtok_r(NULL, ",", &save))
        found |= strcmp(t, g_sim.symbol) == 0;
    sim_buf_puts(&r->body, "{\"quotes\":{");
    if (found) {
        sim_buf_json_str(&r->body, g_sim.symbol);
        sim_buf_puts(&r->body, ":");
        quote_obj(&r->body, &q);
    }
    sim_buf_puts(&r->body, "}}");
}

/* ---------------------------------------------------------------- control */

/*
 * GET /_sim/state: the venue's own books, for tests that check that no order
 * was lost or placed twice and that fills, position and cash agree.
 */
static void sim_state(sim_resp_t *r)
{
    desk_balance_t bal;
    desk_position_t p;
    sim_buf_t *b = &r->body;

    desk_paper_engine_balance(g_sim.eng, &bal);
    desk_paper_engine_position(g_sim.eng, &p);
    p.qty += g_sim.phantom_qty; /* the venue's books include the books faults */
    bal.cash += g_sim.phantom_cash;
    bal.buying_power += g_sim.phantom_cash;
    r->status = 200;
    b->n = 0;
    sim_buf_puts(b, "{\"symbol\":");
    sim_buf_json_str(b, g_sim.symbol);
    sim_buf_printf(b, ",\"md_index\":%llu,\"md_events\":%zu,\"md_loops\":%llu,\"md_time\":",
                   (unsigned long long)g_sim.md_idx, g_sim.md->n,
                   (unsigned long long)g_sim.md_loops);
    sim_buf_time(b, g_sim.last_quote_ns);
    sim_buf_puts(b, ",\"cash\":");
    sim_buf_fixed(b, bal.cash);
    sim_buf_puts(b, ",\"buying_power\":");
    sim_buf_fixed(b, bal.buying_power);
    sim_buf_puts(b, ",\"position\":{\"qty\":");
    sim_buf_fixed(b, p.qty);
    sim_buf_puts(b, ",\"avg_entry_price\":");
    sim_buf_fixed(b, p.avg_px);
    sim_buf_puts(b, ",\"qty_from_fills\":");
    sim_buf_fixed(b, g_sim.pos_qty);
    sim_buf_puts(b, "},\"phantom\":{\"qty\":");
    sim_buf_fixed(b, g_sim.phantom_qty);
    sim_buf_puts(b, ",\"cash\":");
    sim_buf_fixed(b, g_sim.phantom_cash);
    sim_buf_printf(b,
                   "},\"counters\":{\"requests\":%llu,\"post_orders\":%llu,\"orders\":%d,"
                   "\"fills\":%d,\"trade_updates\":%llu,\"rate_limited\":%llu,\"forbidden\":%llu,"
                   "\"open_orders\":%u},\"orders\":[",
                   (unsigned long long)g_sim.n_requests, (unsigned long long)g_sim.n_post_orders,
                   g_sim.norders, g_sim.nfills, (unsigned long long)g_sim.n_trade_updates,
                   (unsigned long long)g_sim.n_rate_limited, (unsigned long long)g_sim.n_forbidden,
                   desk_paper_engine_open_count(g_sim.eng));
    for (int i = 0; i < g_sim.norders; i++) {
        if (i)
            sim_buf_puts(b, ",");
        sim_order_json(b, i);
    }
    sim_buf_puts(b, "],\"fills\":[");
    for (int i = 0; i < g_sim.nfills; i++) {
        const sim_fill_t *f = &g_sim.fills[i];
        sim_buf_printf(b, "%s{\"order_id\":\"%s\",\"client_order_id\":", i ? "," : "",
                       g_sim.orders[f->order].id);
        sim_buf_json_str(b, g_sim.orders[f->order].clid);
        sim_buf_printf(b, ",\"execution_id\":\"%s\",\"qty\":", f->exec_id);
        sim_buf_fixed(b, f->qty);
        sim_buf_puts(b, ",\"price\":");
        sim_buf_fixed(b, f->px);
        sim_buf_puts(b, ",\"position_qty\":");
        sim_buf_fixed(b, f->pos_after);
        sim_buf_puts(b, "}");
    }
    sim_buf_puts(b, "]}");
}

/* One integer or boolean switch from the faults body; 1 if the key was set. */
static int fault_int(const cJSON *v, int *dst)
{
    if (cJSON_IsBool(v))
        *dst = cJSON_IsTrue(v);
    else if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 1e9)
        *dst = (int)v->valuedouble;
    else
        return -1;
    return 0;
}

/* A signed whole number (JSON number or integer string) in [-1e9, 1e9]. */
static int fault_signed(const cJSON *v, int64_t *dst)
{
    double x;

    if (cJSON_IsNumber(v))
        x = v->valuedouble;
    else if (cJSON_IsString(v) && v->valuestring[0] != '\0')
        x = strtod(v->valuestring, NULL);
    else
        return -1;
    if (x != floor(x) || x < -1e9 || x > 1e9)
        return -1;
    *dst = (int64_t)x;
    return 0;
}

/*
 * The books faults: the venue's account changes with no order and no
 * trade_update, so its books differ from what it told the client (a break
 * for reconciliation to find).  phantom_fill N: N shares (negative: a sale)
 * at the mark price, into the position and out of cash.  adjust_cash N: N
 * dollars into cash.  Both add up; `reset` keeps them (they happened).
 */
static void books_fault(int64_t shares, int64_t dollars)
{
    int64_t qty = shares * S, value = 0;

    if (shares != 0 && desk_fixed_mul(qty, mark_px(), &value) == 0) {
        g_sim.phantom_qty += qty;
        g_sim.phantom_cash -= value;
    }
    g_sim.phantom_cash += dollars * S;
}

/*
 * POST /_sim/faults.  The body is applied to a copy and committed only if
 * every key is known and valid, so a typo never half-applies a fault set.
 */
static void set_faults(const sim_req_t *req, sim_resp_t *r)
{
    cJSON *b = cJSON_ParseWithLength(req->body.p ? req->body.p : "", req->body.n);
    sim_faults_t f = g_sim.faults;
    int rl = g_sim.cfg.rate_limit, rw = g_sim.cfg.rate_window_ms, drop_streams = 0, reset = 0;
    int64_t phantom = 0, cash = 0;
    const cJSON *v;

    if (b == NULL || !cJSON_IsObject(b)) {
        err(r, 400, 0, "faults: a JSON object is required");
        goto out;
    }
    cJSON_ArrayForEach(v, b)
    {
        const struct {
            const char *name;
            int *dst;
        } keys[] = {
            {"drop_before", &f.drop_before},
            {"drop_after", &f.drop_after},
            {"stall", &f.stall},
            {"delay_ms", &f.delay_ms},
            {"err_5xx", &f.err_5xx},
            {"status_5xx", &f.status_5xx},
            {"err_429", &f.err_429},
            {"malformed", &f.malformed},
            {"malformed_updates", &f.malformed_updates},
            {"split_writes", &f.split_writes},
            {"dup_updates", &f.dup_updates},
            {"reorder_updates", &f.reorder_updates},
        };
        int rc = -2;
        for (size_t k = 0; k < sizeof keys / sizeof keys[0] && rc == -2; k++)
            if (strcmp(v->string, keys[k].name) == 0)
                rc = fault_int(v, keys[k].dst);
        if (rc == -2 && strcmp(v->string, "rate_limit") == 0)
            rc = fault_int(v, &rl);
        if (rc == -2 && strcmp(v->string, "rate_window_ms") == 0)
            rc = fault_int(v, &rw);
        if (rc == -2 && strcmp(v->string, "drop_streams") == 0)
            rc = fault_int(v, &drop_streams);
        if (rc == -2 && strcmp(v->string, "reset") == 0)
            rc = fault_int(v, &reset);
        if (rc == -2 && strcmp(v->string, "phantom_fill") == 0)
            rc = fault_signed(v, &phantom);
        if (rc == -2 && strcmp(v->string, "adjust_cash") == 0)
            rc = fault_signed(v, &cash);
        if (rc != 0) {
            err(r, 400, 0, rc == -2 ? "unknown fault %s" : "bad value for fault %s", v->string);
            goto out;
        }
    }
    if (f.status_5xx < 500 || f.status_5xx > 599) {
        err(r, 400, 0, "status_5xx must be 500..599");
        goto out;
    }
    if (reset) {
        memset(&f, 0, sizeof f);
        f.status_5xx = 500;
    }
    g_sim.faults = f;
    if (rl != g_sim.cfg.rate_limit || rw != g_sim.cfg.rate_window_ms) {
        g_sim.cfg.rate_limit = rl;
        g_sim.cfg.rate_window_ms = rw > 0 ? rw : 1;
        free(g_sim.rate_ts);
        g_sim.rate_ts = NULL;
        g_sim.rate_n = g_sim.rate_head = 0;
    }
    if (drop_streams)
        for (sim_ws_t *w = g_sim.ws; w; w = w->next)
            w->kill = 1;
    books_fault(phantom, cash);
    r->status = 200;
    r->body.n = 0;
    sim_faults_json(&r->body);
out:
    cJSON_Delete(b);
}

static void advance(const sim_req_t *req, sim_resp_t *r)
{
    cJSON *b = cJSON_ParseWithLength(req->body.p ? req->body.p : "", req->body.n);
    const cJSON *v = b ? cJSON_GetObjectItemCaseSensitive(b, "events") : NULL;

    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e8) {
        err(r, 400, 0, "advance: {\"events\": N} is required");
    } else {
        int k = sim_md_advance((uint64_t)v->valuedouble);
        r->status = 200;
        r->body.n = 0;
        sim_buf_printf(&r->body, "{\"advanced\":%d,\"md_index\":%llu}", k,
                       (unsigned long long)g_sim.md_idx);
    }
    cJSON_Delete(b);
}

/* ------------------------------------------------------------------ router */

/* Sliding-window limit per key.  Returns 0, or the Retry-After seconds. */
static int rate_check(void)
{
    int lim = g_sim.cfg.rate_limit;
    int64_t now = sim_now_mono() / 1000000, win = g_sim.cfg.rate_window_ms;

    if (lim <= 0)
        return 0;
    if (g_sim.rate_ts == NULL) {
        g_sim.rate_ts = calloc((size_t)lim, sizeof *g_sim.rate_ts);
        if (g_sim.rate_ts == NULL)
            abort();
    }
    if (g_sim.rate_n < lim) {
        g_sim.rate_ts[(g_sim.rate_head + g_sim.rate_n) % lim] = now;
        g_sim.rate_n++;
        return 0;
    }
    int64_t oldest = g_sim.rate_ts[g_sim.rate_head];
    if (now - oldest < win)
        return (int)((oldest + win - now + 999) / 1000);
    g_sim.rate_ts[g_sim.rate_head] = now;
    g_sim.rate_head = (g_sim.rate_head + 1) % lim;
    return 0;
}

static int is(const char *m, const char *want)
{
    return strcmp(m, want) == 0;
}

static void route(const sim_req_t *req, const char *path, const char *query, sim_resp_t *r)
{
    const char *m = req->method;
    char id[128], val[128];

    if (is(path, "/v2/orders")) {
        if (is(m, "POST"))
            post_order(req, r);
        else if (is(m, "GET"))
            list_orders(query, r);
        else if (is(m, "DELETE"))
            cancel_all(r);
        else
            err(r, 405, 0, "Method Not Allowed");
    } else if (is(path, "/v2/orders:by_client_order_id")) {
        if (!is(m, "GET"))
            err(r, 405, 0, "Method Not Allowed");
        else if (!query_get(query, "client_order_id", val, sizeof val))
            err(r, 422, 40010001, "client_order_id is required");
        else
            get_order(sim_order_find_clid(val), r);
    } else if (strncmp(path, "/v2/orders/", 11) == 0 && strchr(path + 11, '/') == NULL) {
        url_decode(path + 11, strlen(path + 11), id, sizeof id);
        int idx = sim_order_find(id);
        if (is(m, "GET"))
            get_order(idx, r);
        else if (is(m, "DELETE"))
            cancel_order(idx, r);
        else if (is(m, "PATCH"))
            replace_order(idx, req, r);
        else
            err(r, 405, 0, "Method Not Allowed");
    } else if (is(path, "/v2/positions") && is(m, "GET")) {
        positions(NULL, r);
    } else if (strncmp(path, "/v2/positions/", 14) == 0 && is(m, "GET")) {
        url_decode(path + 14, strlen(path + 14), id, sizeof id);
        positions(id, r);
    } else if (is(path, "/v2/account") && is(m, "GET")) {
        account(r);
    } else if (is(path, "/v2/stocks/quotes/latest") && is(m, "GET")) {
        latest_quote(NULL, query, r);
    } else if (strncmp(path, "/v2/stocks/", 11) == 0 && is(m, "GET")) {
        const char *s = path + 11, *e = strchr(s, '/');
        if (e == NULL || strcmp(e, "/quotes/latest") != 0 || (size_t)(e - s) >= sizeof id) {
            err(r, 404, 0, "Not Found");
            return;
        }
        url_decode(s, (size_t)(e - s), id, sizeof id);
        latest_quote(id, query, r);
    } else {
        err(r, 404, 0, "Not Found");
    }
}

/*
 * One request.  Order of checks for /v2/: injected faults that replace the
 * reply (drop, 5xx, 429), then auth (403), then the rate limit (429), then
 * the endpoint; faults that damage a reply (drop after, malformed) apply
 * last.  Stall and delay are applied by the connection thread, outside the
 * lock, so a stalled request never blocks the venue.
 */
void sim_api_handle(const sim_req_t *req, sim_resp_t *r)
{
    char path[1024];
    const char *url = req->url.p ? req->url.p : "";
    const char *q = strchr(url, '?');
    size_t pl = q ? (size_t)(q - url) : strlen(url);
    const char *query = q ? q + 1 : "";
    int retry;

    if (pl >= sizeof path) {
        err(r, 414, 0, "URI Too Long");
        return;
    }
    memcpy(path, url, pl);
    path[pl] = '\0';

    pthread_mutex_lock(&g_sim.mu);
    /* The simulator's own endpoints: no auth, no rate limit, no faults. */
    if (strncmp(path, "/_sim/", 6) == 0) {
        if (is(path, "/_sim/state") && is(req->method, "GET"))
            sim_state(r);
        else if (is(path, "/_sim/faults") && is(req->method, "GET")) {
            r->status = 200;
            r->body.n = 0;
            sim_faults_json(&r->body);
        } else if (is(path, "/_sim/faults") && is(req->method, "POST"))
            set_faults(req, r);
        else if (is(path, "/_sim/advance") && is(req->method, "POST"))
            advance(req, r);
        else
            err(r, 404, 0, "Not Found");
        goto out;
    }

    g_sim.n_requests++;
    sim_faults_t *f = &g_sim.faults;
    if (f->drop_before > 0) {
        f->drop_before--;
        r->drop = 1;
        goto out;
    }
    if (f->err_5xx > 0) {
        f->err_5xx--;
        err(r, f->status_5xx, (long)f->status_5xx * 100000, "internal server error");
        goto out;
    }
    if (f->err_429 > 0) {
        f->err_429--;
        g_sim.n_rate_limited++;
        rate_limited(r, 1);
        goto out;
    }
    if (strcmp(req->key_id, g_sim.cfg.key_id) != 0 || strcmp(req->secret, g_sim.cfg.secret) != 0) {
        g_sim.n_forbidden++;
        forbidden(r);
        goto out;
    }
    if ((retry = rate_check()) > 0) {
        g_sim.n_rate_limited++;
        rate_limited(r, retry);
        goto out;
    }
    route(req, path, query, r);
    if (f->drop_after > 0) {
        f->drop_after--;
        r->drop = 1;
    }
    if (f->malformed > 0 && r->body.n > 1) {
        f->malformed--;
        r->body.n /= 2; /* a JSON document cut in the middle */
        r->body.p[r->body.n] = '\0';
    }
out:
    pthread_mutex_unlock(&g_sim.mu);
}
