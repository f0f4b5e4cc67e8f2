// bench_json.cc - decoding venue JSON into desk's plain structs: desk's
// simdjson shim (connectors/net/json.h) against cJSON.
//
// Payloads: /work/shared/PROTOCOLS.md, in compact wire form (the document's
// indentation removed, nothing else changed):
//   bookTicker       2.10, the spot bookTicker example (101 bytes);
//   executionReport  2.9.3, the recorded 2021 MARKET partial-fill TRADE
//                    event, legacy unwrapped form (486 bytes);
//   trade_update     1.9, Alpaca's full `fill` example (1063 bytes).
// Both decoders fill the same struct with the same fields, decimals as int64
// fixed point at 1e-8 through desk_fixed_parse rules (desk: the shim's
// desk_json_get_fixed; cJSON: cJSON_ParseWithLength, then
// desk_fixed_parse() on each decimal string, cJSON_Delete at the end, the
// way cJSON is meant to be used).  Each row first decodes once with both
// and checks the structs are identical.
//
// Baseline: the same decode with simdjson's on-demand API used directly, one
// pass over the fields (SimdDecoder below): what the shim costs on top of
// the library it wraps.
//
// Single-threaded on CPU 0.  Time = ns per message (parse + every field +
// free); items/s = messages/s.  Percentiles: per-message mean of 16-message
// batches.
#include <cjson/cJSON.h>
#include <simdjson.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "bench_util.h"
#include "connectors/net/json.h"
#include "core/fixed.h"

namespace
{

constexpr uint64_t kBatch = 16;

const char kBookTicker[] =
    R"({"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000",)"
    R"("A":"40.66000000"})";

const char kExecReport[] =
    R"({"e":"executionReport","E":1611063861489,"s":"BNBUSDT","c":"m4M6AD5MF3b1ERe65l4SPq",)"
    R"("S":"BUY","o":"MARKET","f":"GTC","q":"2.00000000","p":"0.00000000","P":"0.00000000",)"
    R"("F":"0.00000000","g":-1,"C":"","x":"TRADE","X":"PARTIALLY_FILLED","r":"NONE",)"
    R"("i":1296882607,"l":"0.33200000","z":"0.33200000","L":"46.86600000","n":"0.00033200",)"
    R"("N":"BNB","T":1611063861488,"t":109747654,"I":2696953381,"w":false,"m":false,"M":true,)"
    R"("O":1611063861488,"Z":"15.55951200","Y":"15.55951200","Q":"0.00000000"})";

const char kTradeUpdate[] =
    R"({"stream":"trade_updates","data":{"event":"fill","execution_id":)"
    R"("2f63ea93-423d-4169-b3f6-3fdafc10c418","order":{"asset_class":"crypto","asset_id":)"
    R"("1cf35270-99ee-44e2-a77f-6fab902c7f80","cancel_requested_at":null,"canceled_at":null,)"
    R"("client_order_id":"4642fd68-d59a-47d7-a9ac-e22f536828d1","created_at":)"
    R"("2022-04-19T13:45:04.981350886-04:00","expired_at":null,"extended_hours":false,)"
    R"("failed_at":null,"filled_at":"2022-04-19T17:45:05.024916716Z","filled_avg_price":)"
    R"("105.8988475","filled_qty":"1790.86","hwm":null,"id":"a5be8f5e-fdfa-41f5-a644-7a74fe947a8f",)"
    R"("legs":null,"limit_price":null,"notional":null,"order_class":"","order_type":"market",)"
    R"("qty":"1790.86","replaced_at":null,"replaced_by":null,"replaces":null,"side":"sell",)"
    R"("status":"filled","stop_price":null,"submitted_at":"2022-04-19T13:45:04.980944666-04:00",)"
    R"("symbol":"SOLUSD","time_in_force":"gtc","trail_percent":null,"trail_price":null,)"
    R"("type":"market","updated_at":"2022-04-19T13:45:05.027690731-04:00"},"position_qty":"0",)"
    R"("price":"105.8988475","qty":"1790.86","timestamp":"2022-04-19T17:45:05.024916716Z"}})";

// ---- the decoded structs ---------------------------------------------------

struct BookTicker {
    int64_t update_id;
    char symbol[16];
    int64_t bid_px, bid_qty, ask_px, ask_qty;
};

struct ExecReport {
    int64_t event_time, order_id, trade_time, trade_id, exec_id;
    char symbol[16];
    char client_id[40];
    char orig_client_id[40];
    uint8_t side, ord_type, tif, exec_type, status, maker;
    int64_t qty, px, stop_px, last_qty, cum_qty, last_px, commission, cum_quote;
};

struct TradeUpdate {
    uint8_t event, side, ord_type, tif, status;
    char execution_id[40];
    char order_id[40];
    char client_order_id[40];
    char symbol[16];
    int64_t qty, filled_qty, filled_avg_price, limit_price, price, last_qty, position_qty;
};

// String -> small enum, the same table for both decoders.
uint8_t code(const char *s, size_t n, const char *const *names)
{
    for (uint8_t i = 0; names[i] != nullptr; i++)
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
            return (uint8_t)(i + 1);
    return 0;
}
const char *const kSides[] = {"BUY", "SELL", nullptr};
const char *const kTypes[] = {"MARKET",          "LIMIT",       "STOP_LOSS",
                              "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT",
                              "LIMIT_MAKER",     nullptr};
const char *const kTifs[] = {"GTC", "IOC", "FOK", nullptr};
const char *const kExecTypes[] = {"NEW",   "CANCELED", "REPLACED",         "REJECTED",
                                  "TRADE", "EXPIRED",  "TRADE_PREVENTION", nullptr};
const char *const kStatuses[] = {
    "NEW",      "PENDING_NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "PENDING_CANCEL",
    "REJECTED", "EXPIRED",     "EXPIRED_IN_MATCH", nullptr};
const char *const kAEvents[] = {"new",          "fill",     "partial_fill", "canceled", "expired",
                                "done_for_day", "replaced", "rejected",     nullptr};
const char *const kASides[] = {"buy", "sell", nullptr};
const char *const kATypes[] = {"market", "limit", "stop", "stop_limit", "trailing_stop", nullptr};
const char *const kATifs[] = {"day", "gtc", "opg", "cls", "ioc", "fok", nullptr};
const char *const kAStatuses[] = {
    "new",         "partially_filled", "filled",         "done_for_day",    "canceled",
    "expired",     "replaced",         "pending_cancel", "pending_replace", "accepted",
    "pending_new", "rejected",         nullptr};

bool copy_str(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return false;
    memcpy(dst, s, n);
    dst[n] = 0;
    return true;
}

// ---- desk: the simdjson shim -----------------------------------------------

struct DeskDecoder {
    DeskDecoder() { desk_json_create(4096, &j); }
    ~DeskDecoder() { desk_json_destroy(j); }
    desk_json_t *j = nullptr;
    int bad = 0;

    void fx(const char *p, int64_t *v) { bad += desk_json_get_fixed(j, p, v) < 0; }
    void i64(const char *p, int64_t *v) { bad += desk_json_get_i64(j, p, v) < 0; }
    void str(const char *p, char *dst, size_t cap)
    {
        const char *s;
        size_t n;
        bad += desk_json_get_str(j, p, &s, &n) < 0 || !copy_str(dst, cap, s, n);
    }
    uint8_t en(const char *p, const char *const *names)
    {
        const char *s;
        size_t n;
        if (desk_json_get_str(j, p, &s, &n) < 0) {
            bad++;
            return 0;
        }
        return code(s, n, names);
    }
    bool is(const char *p, const char *want)
    {
        const char *s;
        size_t n;
        return desk_json_get_str(j, p, &s, &n) == 0 && n == strlen(want) && memcmp(s, want, n) == 0;
    }
    void fx_or_null(const char *p, int64_t *v)
    {
        if (desk_json_type(j, p) == DESK_JSON_NULL)
            *v = 0;
        else
            fx(p, v);
    }

    bool book(const char *buf, size_t len, BookTicker *o)
    {
        bad = desk_json_parse(j, buf, len) < 0;
        i64("/u", &o->update_id);
        str("/s", o->symbol, sizeof o->symbol);
        fx("/b", &o->bid_px);
        fx("/B", &o->bid_qty);
        fx("/a", &o->ask_px);
        fx("/A", &o->ask_qty);
        return bad == 0;
    }

    bool exec(const char *buf, size_t len, ExecReport *o)
    {
        int b;
        bad = desk_json_parse(j, buf, len) < 0;
        bad += !is("/e", "executionReport");
        i64("/E", &o->event_time);
        str("/s", o->symbol, sizeof o->symbol);
        str("/c", o->client_id, sizeof o->client_id);
        o->side = en("/S", kSides);
        o->ord_type = en("/o", kTypes);
        o->tif = en("/f", kTifs);
        fx("/q", &o->qty);
        fx("/p", &o->px);
        fx("/P", &o->stop_px);
        str("/C", o->orig_client_id, sizeof o->orig_client_id);
        o->exec_type = en("/x", kExecTypes);
        o->status = en("/X", kStatuses);
        i64("/i", &o->order_id);
        fx("/l", &o->last_qty);
        fx("/z", &o->cum_qty);
        fx("/L", &o->last_px);
        fx("/n", &o->commission);
        i64("/T", &o->trade_time);
        i64("/t", &o->trade_id);
        i64("/I", &o->exec_id);
        bad += desk_json_get_bool(j, "/m", &b) < 0;
        o->maker = (uint8_t)b;
        fx("/Z", &o->cum_quote);
        return bad == 0;
    }

    bool trade(const char *buf, size_t len, TradeUpdate *o)
    {
        bad = desk_json_parse(j, buf, len) < 0;
        bad += !is("/stream", "trade_updates");
        o->event = en("/data/event", kAEvents);
        str("/data/execution_id", o->execution_id, sizeof o->execution_id);
        str("/data/order/client_order_id", o->client_order_id, sizeof o->client_order_id);
        fx("/data/order/filled_avg_price", &o->filled_avg_price);
        fx("/data/order/filled_qty", &o->filled_qty);
        str("/data/order/id", o->order_id, sizeof o->order_id);
        fx_or_null("/data/order/limit_price", &o->limit_price);
        o->ord_type = en("/data/order/order_type", kATypes);
        fx("/data/order/qty", &o->qty);
        o->side = en("/data/order/side", kASides);
        o->status = en("/data/order/status", kAStatuses);
        str("/data/order/symbol", o->symbol, sizeof o->symbol);
        o->tif = en("/data/order/time_in_force", kATifs);
        fx("/data/position_qty", &o->position_qty);
        fx("/data/price", &o->price);
        fx("/data/qty", &o->last_qty);
        return bad == 0;
    }
};

// ---- cJSON -----------------------------------------------------------------

struct CJsonDecoder {
    int bad = 0;

    static const cJSON *get(const cJSON *o, const char *k)
    {
        return cJSON_GetObjectItemCaseSensitive(o, k);
    }
    void fx(const cJSON *o, const char *k, int64_t *v)
    {
        const cJSON *x = get(o, k);
        if (!cJSON_IsString(x)) {
            bad++;
            return;
        }
        bad += desk_fixed_parse(x->valuestring, strlen(x->valuestring), v) < 0;
    }
    void fx_or_null(const cJSON *o, const char *k, int64_t *v)
    {
        if (cJSON_IsNull(get(o, k)))
            *v = 0;
        else
            fx(o, k, v);
    }
    void i64(const cJSON *o, const char *k, int64_t *v)
    {
        // cJSON keeps numbers as double: exact for these (< 2^53) values.
        const cJSON *x = get(o, k);
        if (!cJSON_IsNumber(x)) {
            bad++;
            return;
        }
        *v = (int64_t)x->valuedouble;
        bad += (double)*v != x->valuedouble;
    }
    void str(const cJSON *o, const char *k, char *dst, size_t cap)
    {
        const cJSON *x = get(o, k);
        bad += !cJSON_IsString(x) || !copy_str(dst, cap, x->valuestring, strlen(x->valuestring));
    }
    uint8_t en(const cJSON *o, const char *k, const char *const *names)
    {
        const cJSON *x = get(o, k);
        if (!cJSON_IsString(x)) {
            bad++;
            return 0;
        }
        return code(x->valuestring, strlen(x->valuestring), names);
    }
    bool is(const cJSON *o, const char *k, const char *want)
    {
        const cJSON *x = get(o, k);
        return cJSON_IsString(x) && strcmp(x->valuestring, want) == 0;
    }

    bool book(const char *buf, size_t len, BookTicker *o)
    {
        cJSON *r = cJSON_ParseWithLength(buf, len);
        bad = r == nullptr;
        if (r) {
            i64(r, "u", &o->update_id);
            str(r, "s", o->symbol, sizeof o->symbol);
            fx(r, "b", &o->bid_px);
            fx(r, "B", &o->bid_qty);
            fx(r, "a", &o->ask_px);
            fx(r, "A", &o->ask_qty);
        }
        cJSON_Delete(r);
        return bad == 0;
    }

    bool exec(const char *buf, size_t len, ExecReport *o)
    {
        cJSON *r = cJSON_ParseWithLength(buf, len);
        bad = r == nullptr;
        if (r) {
            bad += !is(r, "e", "executionReport");
            i64(r, "E", &o->event_time);
            str(r, "s", o->symbol, sizeof o->symbol);
            str(r, "c", o->client_id, sizeof o->client_id);
            o->side = en(r, "S", kSides);
            o->ord_type = en(r, "o", kTypes);
            o->tif = en(r, "f", kTifs);
            fx(r, "q", &o->qty);
            fx(r, "p", &o->px);
            fx(r, "P", &o->stop_px);
            str(r, "C", o->orig_client_id, sizeof o->orig_client_id);
            o->exec_type = en(r, "x", kExecTypes);
            o->status = en(r, "X", kStatuses);
            i64(r, "i", &o->order_id);
            fx(r, "l", &o->last_qty);
            fx(r, "z", &o->cum_qty);
            fx(r, "L", &o->last_px);
            fx(r, "n", &o->commission);
            i64(r, "T", &o->trade_time);
            i64(r, "t", &o->trade_id);
            i64(r, "I", &o->exec_id);
            const cJSON *m = get(r, "m");
            bad += !cJSON_IsBool(m);
            o->maker = cJSON_IsTrue(m) ? 1 : 0;
            fx(r, "Z", &o->cum_quote);
        }
        cJSON_Delete(r);
        return bad == 0;
    }

    bool trade(const char *buf, size_t len, TradeUpdate *o)
    {
        cJSON *r = cJSON_ParseWithLength(buf, len);
        bad = r == nullptr;
        const cJSON *d = r ? get(r, "data") : nullptr;
        const cJSON *ord = d ? get(d, "order") : nullptr;
        if (r == nullptr || !cJSON_IsObject(d) || !cJSON_IsObject(ord)) {
            cJSON_Delete(r);
            return false;
        }
        bad += !is(r, "stream", "trade_updates");
        o->event = en(d, "event", kAEvents);
        str(d, "execution_id", o->execution_id, sizeof o->execution_id);
        str(ord, "client_order_id", o->client_order_id, sizeof o->client_order_id);
        fx(ord, "filled_avg_price", &o->filled_avg_price);
        fx(ord, "filled_qty", &o->filled_qty);
        str(ord, "id", o->order_id, sizeof o->order_id);
        fx_or_null(ord, "limit_price", &o->limit_price);
        o->ord_type = en(ord, "order_type", kATypes);
        fx(ord, "qty", &o->qty);
        o->side = en(ord, "side", kASides);
        o->status = en(ord, "status", kAStatuses);
        str(ord, "symbol", o->symbol, sizeof o->symbol);
        o->tif = en(ord, "time_in_force", kATifs);
        fx(d, "position_qty", &o->position_qty);
        fx(d, "price", &o->price);
        fx(d, "qty", &o->last_qty);
        cJSON_Delete(r);
        return bad == 0;
    }
};

// ---- baseline: simdjson on-demand, one pass over the fields ------------------
//
// What the shim is built on, used directly: copy into a padded buffer (as
// the shim does), then visit each object's fields once, in document order,
// dispatching on the key.  It validates less than the shim (on-demand checks
// only what it visits), so it is a floor for the shim, not a peer.

struct SimdDecoder {
    SimdDecoder() : buf(8192 + simdjson::SIMDJSON_PADDING) {}
    simdjson::ondemand::parser parser;
    std::vector<char> buf;
    int bad = 0;

    bool load(const char *text, size_t len, simdjson::ondemand::document &doc)
    {
        memcpy(buf.data(), text, len);
        return !parser.iterate(buf.data(), len, buf.size()).get(doc);
    }
    void fx(simdjson::ondemand::value v, int64_t *o)
    {
        std::string_view s;
        if (v.get_string().get(s)) {
            bad++;
            return;
        }
        bad += desk_fixed_parse(s.data(), s.size(), o) < 0;
    }
    void i64(simdjson::ondemand::value v, int64_t *o) { bad += v.get_int64().get(*o) != 0; }
    void str(simdjson::ondemand::value v, char *dst, size_t cap)
    {
        std::string_view s;
        bad += v.get_string().get(s) || !copy_str(dst, cap, s.data(), s.size());
    }
    uint8_t en(simdjson::ondemand::value v, const char *const *names)
    {
        std::string_view s;
        if (v.get_string().get(s)) {
            bad++;
            return 0;
        }
        return code(s.data(), s.size(), names);
    }
    bool is(simdjson::ondemand::value v, const char *want)
    {
        std::string_view s;
        return !v.get_string().get(s) && s == want;
    }
    // The key's raw text (these payloads have no escapes in keys, and the
    // shim matches raw key text too) and the field's value.
    static bool kv(simdjson::simdjson_result<simdjson::ondemand::field> r, std::string_view &k,
                   simdjson::ondemand::value &v)
    {
        simdjson::ondemand::field f;
        if (std::move(r).get(f))
            return false;
        const char *p = f.key().raw(), *e = p;
        while (*e != '"')
            e++;
        k = std::string_view(p, (size_t)(e - p));
        v = f.value();
        return true;
    }

    bool book(const char *text, size_t len, BookTicker *o)
    {
        simdjson::ondemand::document doc;
        simdjson::ondemand::object obj;
        bad = 0;
        if (!load(text, len, doc) || doc.get_object().get(obj))
            return false;
        for (auto f : obj) {
            std::string_view k;
            simdjson::ondemand::value v;
            if (!kv(f, k, v) || k.size() != 1) {
                bad++;
                continue;
            }
            switch (k[0]) {
            case 'u': i64(v, &o->update_id); break;
            case 's': str(v, o->symbol, sizeof o->symbol); break;
            case 'b': fx(v, &o->bid_px); break;
            case 'B': fx(v, &o->bid_qty); break;
            case 'a': fx(v, &o->ask_px); break;
            case 'A': fx(v, &o->ask_qty); break;
            default: break;
            }
        }
        return bad == 0;
    }

    bool exec(const char *text, size_t len, ExecReport *o)
    {
        simdjson::ondemand::document doc;
        simdjson::ondemand::object obj;
        bad = 0;
        if (!load(text, len, doc) || doc.get_object().get(obj))
            return false;
        for (auto f : obj) {
            std::string_view k;
            simdjson::ondemand::value v;
            if (!kv(f, k, v) || k.size() != 1) {
                bad++;
                continue;
            }
            bool b = false;
            switch (k[0]) {
            case 'e': bad += !is(v, "executionReport"); break;
            case 'E': i64(v, &o->event_time); break;
            case 's': str(v, o->symbol, sizeof o->symbol); break;
            case 'c': str(v, o->client_id, sizeof o->client_id); break;
            case 'S': o->side = en(v, kSides); break;
            case 'o': o->ord_type = en(v, kTypes); break;
            case 'f': o->tif = en(v, kTifs); break;
            case 'q': fx(v, &o->qty); break;
            case 'p': fx(v, &o->px); break;
            case 'P': fx(v, &o->stop_px); break;
            case 'C': str(v, o->orig_client_id, sizeof o->orig_client_id); break;
            case 'x': o->exec_type = en(v, kExecTypes); break;
            case 'X': o->status = en(v, kStatuses); break;
            case 'i': i64(v, &o->order_id); break;
            case 'l': fx(v, &o->last_qty); break;
            case 'z': fx(v, &o->cum_qty); break;
            case 'L': fx(v, &o->last_px); break;
            case 'n': fx(v, &o->commission); break;
            case 'T': i64(v, &o->trade_time); break;
            case 't': i64(v, &o->trade_id); break;
            case 'I': i64(v, &o->exec_id); break;
            case 'm':
                bad += v.get_bool().get(b) != 0;
                o->maker = b ? 1 : 0;
                break;
            case 'Z': fx(v, &o->cum_quote); break;
            default: break;
            }
        }
        return bad == 0;
    }

    void order(simdjson::ondemand::object ord, TradeUpdate *o)
    {
        for (auto f : ord) {
            std::string_view k;
            simdjson::ondemand::value v;
            if (!kv(f, k, v)) {
                bad++;
                continue;
            }
            if (k == "client_order_id")
                str(v, o->client_order_id, sizeof o->client_order_id);
            else if (k == "filled_avg_price")
                fx(v, &o->filled_avg_price);
            else if (k == "filled_qty")
                fx(v, &o->filled_qty);
            else if (k == "id")
                str(v, o->order_id, sizeof o->order_id);
            else if (k == "limit_price") {
                if (v.is_null())
                    o->limit_price = 0;
                else
                    fx(v, &o->limit_price);
            } else if (k == "order_type")
                o->ord_type = en(v, kATypes);
            else if (k == "qty")
                fx(v, &o->qty);
            else if (k == "side")
                o->side = en(v, kASides);
            else if (k == "status")
                o->status = en(v, kAStatuses);
            else if (k == "symbol")
                str(v, o->symbol, sizeof o->symbol);
            else if (k == "time_in_force")
                o->tif = en(v, kATifs);
        }
    }

    bool trade(const char *text, size_t len, TradeUpdate *o)
    {
        simdjson::ondemand::document doc;
        simdjson::ondemand::object obj;
        bad = 0;
        if (!load(text, len, doc) || doc.get_object().get(obj))
            return false;
        for (auto f : obj) {
            std::string_view k;
            simdjson::ondemand::value v;
            if (!kv(f, k, v)) {
                bad++;
                continue;
            }
            if (k == "stream") {
                bad += !is(v, "trade_updates");
                continue;
            }
            if (k != "data")
                continue;
            simdjson::ondemand::object d;
            if (v.get_object().get(d)) {
                bad++;
                continue;
            }
            for (auto g : d) {
                std::string_view dk;
                simdjson::ondemand::value dv;
                if (!kv(g, dk, dv)) {
                    bad++;
                    continue;
                }
                if (dk == "event")
                    o->event = en(dv, kAEvents);
                else if (dk == "execution_id")
                    str(dv, o->execution_id, sizeof o->execution_id);
                else if (dk == "order") {
                    simdjson::ondemand::object ord;
                    if (dv.get_object().get(ord))
                        bad++;
                    else
                        order(ord, o);
                } else if (dk == "position_qty")
                    fx(dv, &o->position_qty);
                else if (dk == "price")
                    fx(dv, &o->price);
                else if (dk == "qty")
                    fx(dv, &o->last_qty);
            }
        }
        return bad == 0;
    }
};

// ---- rows -------------------------------------------------------------------

template <class T> struct Msg;
template <> struct Msg<BookTicker> {
    static constexpr const char *text = kBookTicker;
    static constexpr size_t len = sizeof kBookTicker - 1;
    template <class D> static bool decode(D &d, BookTicker *o) { return d.book(text, len, o); }
};
template <> struct Msg<ExecReport> {
    static constexpr const char *text = kExecReport;
    static constexpr size_t len = sizeof kExecReport - 1;
    template <class D> static bool decode(D &d, ExecReport *o) { return d.exec(text, len, o); }
};
template <> struct Msg<TradeUpdate> {
    static constexpr const char *text = kTradeUpdate;
    static constexpr size_t len = sizeof kTradeUpdate - 1;
    template <class D> static bool decode(D &d, TradeUpdate *o) { return d.trade(text, len, o); }
};

template <class T, class D> void BM_Json(benchmark::State &st)
{
    D dec;
    T out, ref;
    DeskDecoder desk;
    memset(&out, 0, sizeof out);
    memset(&ref, 0, sizeof ref);
    // Same struct, bit for bit, from both decoders before anything is timed.
    if (!Msg<T>::decode(desk, &ref) || !Msg<T>::decode(dec, &out) ||
        memcmp(&out, &ref, sizeof out) != 0) {
        st.SkipWithError("decoders disagree or failed");
        return;
    }
    bk::run_batched(st, kBatch, [&](uint64_t k) {
        for (uint64_t i = 0; i < k; i++) {
            benchmark::DoNotOptimize(Msg<T>::decode(dec, &out));
            benchmark::ClobberMemory();
        }
    });
    st.SetBytesProcessed(st.iterations() * (int64_t)Msg<T>::len);
}

} // namespace

BENCHMARK(BM_Json<BookTicker, DeskDecoder>)->Name("Json/desk/bookTicker")->UseRealTime();
BENCHMARK(BM_Json<BookTicker, CJsonDecoder>)->Name("Json/cjson/bookTicker")->UseRealTime();
BENCHMARK(BM_Json<ExecReport, DeskDecoder>)->Name("Json/desk/executionReport")->UseRealTime();
BENCHMARK(BM_Json<ExecReport, CJsonDecoder>)->Name("Json/cjson/executionReport")->UseRealTime();
BENCHMARK(BM_Json<TradeUpdate, DeskDecoder>)->Name("Json/desk/trade_update")->UseRealTime();
BENCHMARK(BM_Json<TradeUpdate, CJsonDecoder>)->Name("Json/cjson/trade_update")->UseRealTime();
BENCHMARK(BM_Json<BookTicker, SimdDecoder>)
    ->Name("Json/simdjson_onepass/bookTicker")
    ->UseRealTime();
BENCHMARK(BM_Json<ExecReport, SimdDecoder>)
    ->Name("Json/simdjson_onepass/executionReport")
    ->UseRealTime();
BENCHMARK(BM_Json<TradeUpdate, SimdDecoder>)
    ->Name("Json/simdjson_onepass/trade_update")
    ->UseRealTime();

DESK_BENCH_MAIN()
