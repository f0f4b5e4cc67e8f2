/*
 * alpaca_codec_test.c - the Alpaca codec (connectors/alpaca/codec.h).
 *
 * 1. Golden decodes of every Alpaca payload recorded in shared/PROTOCOLS.md
 *    sections 1 and 4.2, copied verbatim below (the Order doc example and the
 *    real CCXT order, the trade_updates fill, the stream control messages,
 *    position, account, every error body, latest quotes, the FILL activity,
 *    the clock).  The request-side examples are checked against the encoder
 *    (the recorded AUPH body) or must not decode as orders.
 * 2. Round trips: encode -> cJSON (an independent parser) -> the same
 *    values, over every side x type x tif and a set of quantities/prices;
 *    -ENOSPC for every buffer shorter than the body.
 * 3. Exactness (1e-8 and beyond), unknown enum strings, missing and mistyped
 *    fields, and the desk mapping: event table, fill deltas, dedup rule,
 *    catch-up fills on out-of-order terminal events.
 * 4. Recovery and reconciliation: an Order snapshot as CATCHUP fill and
 *    fate (desk_alpaca_recover_vevents, desk_alpaca_chain_cum), positions
 *    mapped onto instruments (desk_alpaca_positions_map).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <cmocka.h>

#include "connectors/alpaca/codec.h"
#include "core/fixed.h"

/* ---- verbatim payloads: shared/PROTOCOLS.md section 1 and 4.2 ---- */

static const char REQ_BRACKET[] =
    "{ \"side\": \"buy\", \"symbol\": \"SPY\", \"type\": \"market\", \"qty\": \"100\", \"time_in_force\": \"gtc\",\n"
    "  \"order_class\": \"bracket\",\n"
    "  \"take_profit\": { \"limit_price\": \"301\" },\n"
    "  \"stop_loss\":   { \"stop_price\": \"299\", \"limit_price\": \"298.5\" } }\n";

static const char REQ_OCO[] =
    "{ \"side\": \"sell\", \"symbol\": \"SPY\", \"type\": \"limit\", \"qty\": \"100\", \"time_in_force\": \"gtc\",\n"
    "  \"order_class\": \"oco\",\n"
    "  \"take_profit\": { \"limit_price\": \"301\" },\n"
    "  \"stop_loss\":   { \"stop_price\": \"299\", \"limit_price\": \"298.5\" } }\n";

static const char REQ_OTO[] =
    "{ \"side\": \"buy\", \"symbol\": \"SPY\", \"type\": \"market\", \"qty\": \"100\", \"time_in_force\": \"gtc\",\n"
    "  \"order_class\": \"oto\",\n"
    "  \"stop_loss\": { \"stop_price\": \"299\", \"limit_price\": \"298.5\" } }\n";

static const char REQ_AUPH_CURL[] =
    "curl https://api.alpaca.markets/v2/orders -H \"APCA-API-KEY-ID: $APCA_API_KEY_ID\" -H \"APCA-API-SECRET-KEY: $APCA_API_SECRET_KEY\" -d '\n"
    "{\"symbol\":\"AUPH\",\"side\":\"sell\",\"time_in_force\":\"day\",\"extended_hours\":true,\"qty\":\"2211\",\"type\":\"limit\",\"limit_price\":\"5.88\"}'\n";

static const char ORDER_DOC[] =
    "{\n"
    "  \"id\": \"61e69015-8549-4bfd-b9c3-01e75843f47d\",\n"
    "  \"client_order_id\": \"eb9e2aaa-f71a-4f51-b5b4-52a6c565dad4\",\n"
    "  \"created_at\": \"2021-03-16T18:38:01.942282Z\",\n"
    "  \"updated_at\": \"2021-03-16T18:38:01.942282Z\",\n"
    "  \"submitted_at\": \"2021-03-16T18:38:01.937734Z\",\n"
    "  \"filled_at\": null, \"expired_at\": null, \"canceled_at\": null, \"failed_at\": null,\n"
    "  \"replaced_at\": null, \"replaced_by\": null, \"replaces\": null,\n"
    "  \"asset_id\": \"b0b6dd9d-8b9b-48a9-ba46-b9d54906e415\",\n"
    "  \"symbol\": \"AAPL\", \"asset_class\": \"us_equity\",\n"
    "  \"notional\": \"500\", \"qty\": null, \"filled_qty\": \"0\", \"filled_avg_price\": null,\n"
    "  \"order_class\": \"\", \"order_type\": \"market\", \"type\": \"market\", \"side\": \"buy\",\n"
    "  \"time_in_force\": \"day\", \"limit_price\": null, \"stop_price\": null,\n"
    "  \"status\": \"accepted\", \"extended_hours\": false, \"legs\": null,\n"
    "  \"trail_percent\": null, \"trail_price\": null, \"hwm\": null\n"
    "}\n";

static const char ORDER_CCXT[] =
    "{\"id\":\"6ecfcc34-4bed-4b53-83ba-c564aa832a81\",\"client_order_id\":\"ccxt_1c6ceab0b5e84727b2f1c0394ba17560\",\"created_at\":\"2022-06-14T13:59:30.224037068Z\",\"updated_at\":\"2022-06-14T13:59:30.224037068Z\",\"submitted_at\":\"2022-06-14T13:59:30.221856828Z\",\"filled_at\":null,\"expired_at\":null,\"canceled_at\":null,\"failed_at\":null,\"replaced_at\":null,\"replaced_by\":null,\"replaces\":null,\"asset_id\":\"64bbff51-59d6-4b3c-9351-13ad85e3c752\",\"symbol\":\"BTCUSD\",\"asset_class\":\"crypto\",\"notional\":null,\"qty\":\"0.01\",\"filled_qty\":\"0\",\"filled_avg_price\":null,\"order_class\":\"\",\"order_type\":\"limit\",\"type\":\"limit\",\"side\":\"buy\",\"time_in_force\":\"day\",\"limit_price\":\"14000\",\"stop_price\":null,\"status\":\"accepted\",\"extended_hours\":false,\"legs\":null,\"trail_percent\":null,\"trail_price\":null,\"hwm\":null,\"commission\":\"0.42\",\"source\":null}\n";

static const char ORDER_OPTIONS_PARTIAL[] =
    "\"created_at\": \"2024-12-31T16:51:21.52544647Z\", \"updated_at\": \"2024-12-31T16:51:21.52549762Z\",\n"
    "\"submitted_at\": \"2024-12-31T16:51:21.494735782Z\", ... \"asset_class\": \"us_option\", \"notional\": null,\n"
    "\"qty\": \"1\", \"filled_qty\": \"0\", \"filled_avg_price\": null, \"order_class\": \"simple\",\n"
    "\"order_type\": \"market\", \"type\": \"market\", \"side\": \"buy\", \"position_intent\": \"buy_to_open\", ...\n";

static const char CANCEL_ALL_207[] =
    "  [ {\"id\": \"497f6eca-6276-4993-bfeb-53cbbbba6f08\", \"status\": 200},\n"
    "    {\"id\": \"72249bb6-6c89-4ea7-b8cf-73f1a140812b\", \"status\": 404,\n"
    "     \"body\": {\"code\": 40410000, \"message\": \"order not found\"}} ]\n";

static const char POSITION_DOC[] =
    "{ \"asset_id\": \"904837e3-3b76-47ec-b432-046db621571b\", \"symbol\": \"AAPL \", \"exchange\": \"NASDAQ\",\n"
    "  \"asset_class\": \"us_equity\", \"avg_entry_price\": \"100.0\", \"qty\": \"5\", \"qty_available\": \"4\",\n"
    "  \"side\": \"long\", \"market_value\": \"600.0\", \"cost_basis\": \"500.0\", \"unrealized_pl\": \"100.0\",\n"
    "  \"unrealized_plpc\": \"0.20\", \"unrealized_intraday_pl\": \"10.0\", \"unrealized_intraday_plpc\": \"0.0084\",\n"
    "  \"current_price\": \"120.0\", \"lastday_price\": \"119.0\", \"change_today\": \"0.0084\" }\n";

static const char ACCOUNT_RECORDED[] =
    "{\n"
    "  \"id\": \"43a01bee-67e3-4eb1-b2f1-65d1dc26ade5\",\n"
    "  \"admin_configurations\": { \"allow_instant_ach\": true, \"max_margin_multiplier\": \"4\" },\n"
    "  \"user_configurations\": { \"fractional_trading\": true, \"max_margin_multiplier\": \"4\" },\n"
    "  \"account_number\": \"744863727\", \"status\": \"ACTIVE\", \"crypto_status\": \"ACTIVE\", \"currency\": \"USD\",\n"
    "  \"buying_power\": \"5.92\", \"regt_buying_power\": \"5.92\", \"daytrading_buying_power\": \"0\",\n"
    "  \"effective_buying_power\": \"5.92\", \"non_marginable_buying_power\": \"5.92\", \"bod_dtbp\": \"0\",\n"
    "  \"cash\": \"5.92\", \"accrued_fees\": \"0\", \"portfolio_value\": \"48.61\", \"pattern_day_trader\": false,\n"
    "  \"trading_blocked\": false, \"transfers_blocked\": false, \"account_blocked\": false,\n"
    "  \"created_at\": \"2022-06-13T14:59:18.318096Z\", \"trade_suspended_by_user\": false, \"multiplier\": \"1\",\n"
    "  \"shorting_enabled\": false, \"equity\": \"48.61\", \"last_equity\": \"48.8014266\",\n"
    "  \"long_market_value\": \"42.69\", \"short_market_value\": \"0\", \"position_market_value\": \"42.69\",\n"
    "  \"initial_margin\": \"0\", \"maintenance_margin\": \"0\", \"last_maintenance_margin\": \"0\", \"sma\": \"5.92\",\n"
    "  \"daytrade_count\": \"0\", \"balance_asof\": \"2024-12-10\", \"crypto_tier\": \"1\",\n"
    "  \"intraday_adjustments\": \"0\", \"pending_reg_taf_fees\": \"0\"\n"
    "}\n";

static const char STREAM_AUTH_REQ[] =
    "{ \"action\": \"authenticate\", \"data\": { \"key_id\": \"{YOUR_API_KEY_ID}\", \"secret_key\": \"{YOUR_API_SECRET_KEY}\" } }\n";

static const char STREAM_AUTH_REPLIES[] =
    "{ \"stream\": \"authorization\", \"data\": { \"status\": \"authorized\", \"action\": \"authenticate\" } }\n"
    "{ \"stream\": \"authorization\", \"data\": { \"status\": \"unauthorized\", \"action\": \"authenticate\" } }\n";

static const char STREAM_LISTEN_REQ[] =
    "{ \"action\": \"listen\", \"data\": { \"streams\": [\"trade_updates\"] } }\n";

static const char STREAM_LISTENING[] =
    "{ \"stream\": \"listening\", \"data\": { \"streams\": [\"trade_updates\"] } }\n";

static const char TRADE_UPDATE_FILL[] =
    "{\n"
    "  \"stream\": \"trade_updates\",\n"
    "  \"data\": {\n"
    "    \"event\": \"fill\",\n"
    "    \"execution_id\": \"2f63ea93-423d-4169-b3f6-3fdafc10c418\",\n"
    "    \"order\": {\n"
    "      \"asset_class\": \"crypto\",\n"
    "      \"asset_id\": \"1cf35270-99ee-44e2-a77f-6fab902c7f80\",\n"
    "      \"cancel_requested_at\": null,\n"
    "      \"canceled_at\": null,\n"
    "      \"client_order_id\": \"4642fd68-d59a-47d7-a9ac-e22f536828d1\",\n"
    "      \"created_at\": \"2022-04-19T13:45:04.981350886-04:00\",\n"
    "      \"expired_at\": null,\n"
    "      \"extended_hours\": false,\n"
    "      \"failed_at\": null,\n"
    "      \"filled_at\": \"2022-04-19T17:45:05.024916716Z\",\n"
    "      \"filled_avg_price\": \"105.8988475\",\n"
    "      \"filled_qty\": \"1790.86\",\n"
    "      \"hwm\": null,\n"
    "      \"id\": \"a5be8f5e-fdfa-41f5-a644-7a74fe947a8f\",\n"
    "      \"legs\": null,\n"
    "      \"limit_price\": null,\n"
    "      \"notional\": null,\n"
    "      \"order_class\": \"\",\n"
    "      \"order_type\": \"market\",\n"
    "      \"qty\": \"1790.86\",\n"
    "      \"replaced_at\": null,\n"
    "      \"replaced_by\": null,\n"
    "      \"replaces\": null,\n"
    "      \"side\": \"sell\",\n"
    "      \"status\": \"filled\",\n"
    "      \"stop_price\": null,\n"
    "      \"submitted_at\": \"2022-04-19T13:45:04.980944666-04:00\",\n"
    "      \"symbol\": \"SOLUSD\",\n"
    "      \"time_in_force\": \"gtc\",\n"
    "      \"trail_percent\": null,\n"
    "      \"trail_price\": null,\n"
    "      \"type\": \"market\",\n"
    "      \"updated_at\": \"2022-04-19T13:45:05.027690731-04:00\"\n"
    "    },\n"
    "    \"position_qty\": \"0\",\n"
    "    \"price\": \"105.8988475\",\n"
    "    \"qty\": \"1790.86\",\n"
    "    \"timestamp\": \"2022-04-19T17:45:05.024916716Z\"\n"
    "  }\n"
    "}\n";

static const char QUOTE_LATEST[] =
    "{\n"
    "  \"symbol\": \"AAPL\",\n"
    "  \"quote\": {\n"
    "    \"t\": \"2022-04-12T17:16:36.390749849Z\",\n"
    "    \"ax\": \"V\", \"ap\": 170.34, \"as\": 1,\n"
    "    \"bx\": \"V\", \"bp\": 165.5,  \"bs\": 1,\n"
    "    \"c\": [\"R\"],\n"
    "    \"z\": \"C\"\n"
    "  }\n"
    "}\n";

static const char ACTIVITIES_FILL[] =
    "[\n"
    "    {\n"
    "        \"id\": \"20221228071929579::ca2aafd0-1270-4b56-b0a9-85423b4a07c8\",\n"
    "        \"activity_type\": \"FILL\",\n"
    "        \"transaction_time\": \"2022-12-28T12:19:29.579352Z\",\n"
    "        \"type\": \"fill\",\n"
    "        \"price\": \"67.31\",\n"
    "        \"qty\": \"0.07\",\n"
    "        \"side\": \"sell\",\n"
    "        \"symbol\": \"LTC/USD\",\n"
    "        \"leaves_qty\": \"0\",\n"
    "        \"order_id\": \"82eebcf7-6e66-4b7e-93f8-be0df0e4f12e\",\n"
    "        \"cum_qty\": \"0.07\",\n"
    "        \"order_status\": \"filled\",\n"
    "        \"swap_rate\": \"1\"\n"
    "    }\n"
    "]\n";

static const char CLOCK[] =
    "{ \"timestamp\": \"2024-07-18T04:10:33.389152169-04:00\", \"is_open\": false, \"next_open\": \"2024-07-18T09:30:00-04:00\", \"next_close\": \"2024-07-18T16:00:00-04:00\" }\n";

static const char CRYPTO_LATEST_QUOTE[] =
    "\"latestQuote\": { \"ap\": 69737.5, \"as\": 0.674999, \"bp\": 69669.69, \"bs\": 1.34887, \"t\": \"2024-11-02T02:10:11.936226434Z\" }\n";

/* The 1.8 error bodies (inline in the table), verbatim. */
static const char *const ERROR_BODIES[] = {
    "{\"message\": \"forbidden.\"}",
    "{\"code\": 40110000, \"message\": \"request is not authorized\"}",
    "{\"buying_power\":\"176531.28\",\"code\":40310000,\"cost_basis\":\"48640000\","
    "\"message\":\"insufficient buying power\"}",
    "{\"available\":\"0\",\"balance\":\"0\",\"code\":40310000,\"message\":\"insufficient balance for "
    "USDT (requested: 221.63, available: 0)\",\"symbol\":\"USDT\"}",
    "{\"code\":40310000,\"message\":\"new orders are rejected by user request\"}",
    "{\"available_qty\":\"0\",\"code\":40310000,\"message\":\"insufficient underlying qty available "
    "for covered call (required: 200, available: 0)\",\"required_qty\":\"200\",\"symbol\":"
    "\"CLSK250110C00012000\",\"underlying_asset_id\":\"8f33ee14-9d35-490c-b33f-6fbb2d163c13\"}",
    "{\"code\":40010001,\"message\":\"invalid order type for crypto order\"}",
    "{\"code\":40010000,\"message\":\"request body format is invalid\"}",
    "{\"code\": 40410000, \"message\": \"order not found\"}",
    "{\"code\": 40410000, \"message\": \"order is not found.\"}",
    "{\"code\":42910000,\"message\":\"rate limit exceeded\"}",
    "{\"message\":\"Invalid format for parameter start: ...\"}",
    "{\"message\":\"Invalid symbol(s): BTC/USDdsda does not match ^[A-Z]+/[A-Z]+$\"}",
};
static const struct {
    int has_code;
    int64_t code;
    const char *message;
} ERROR_WANT[] = {
    {0, 0, "forbidden."},
    {1, 40110000, "request is not authorized"},
    {1, 40310000, "insufficient buying power"},
    {1, 40310000, "insufficient balance for USDT (requested: 221.63, available: 0)"},
    {1, 40310000, "new orders are rejected by user request"},
    {1, 40310000, "insufficient underlying qty available for covered call (required: 200, "
                  "available: 0)"},
    {1, 40010001, "invalid order type for crypto order"},
    {1, 40010000, "request body format is invalid"},
    {1, 40410000, "order not found"},
    {1, 40410000, "order is not found."},
    {1, 42910000, "rate limit exceeded"},
    {0, 0, "Invalid format for parameter start: ..."},
    {0, 0, "Invalid symbol(s): BTC/USDdsda does not match ^[A-Z]+/[A-Z]+$"},
};

/* Stream control messages of 1.9 (one JSON document each), verbatim. */
static const char AUTHORIZED[] =
    "{ \"stream\": \"authorization\", \"data\": { \"status\": \"authorized\", \"action\": "
    "\"authenticate\" } }";
static const char UNAUTHORIZED[] =
    "{ \"stream\": \"authorization\", \"data\": { \"status\": \"unauthorized\", \"action\": "
    "\"authenticate\" } }";
static const char UNAUTHORIZED_LISTEN[] =
    "{ \"stream\": \"authorization\", \"data\": { \"status\": \"unauthorized\", \"action\": "
    "\"listen\" } }";

/* The Go SDK's multi-symbol latest quote (1.10), verbatim. */
static const char QUOTES_GO[] =
    "{\"quotes\":{\"AAPL\":{\"t\": \"2021-04-20T13:01:57.822745906Z\",\"ax\": \"Q\",\"ap\": "
    "134.68,\"as\": 1,\"bx\": \"K\",\"bp\": 134.66,\"bs\": 29,\"c\": [\"R\"]}}}";

#define S (INT64_C(100000000)) /* DESK_SCALE, short */

static desk_json_t *J; /* one 64 KiB handle for every test */

static int setup(void **state)
{
    (void)state;
    return desk_json_create(65536, &J);
}

static int teardown(void **state)
{
    (void)state;
    desk_json_destroy(J);
    return 0;
}

/* A payload as decoders see it: the text without the fence's last newline. */
static size_t L(const char *s)
{
    return strlen(s);
}

/* ------------------------------------------------------------ golden: orders */

static void test_order_doc_example(void **state)
{
    desk_alpaca_order_t o;
    (void)state;

    assert_int_equal(desk_alpaca_order_decode(J, ORDER_DOC, L(ORDER_DOC), &o), 0);
    assert_string_equal(o.id, "61e69015-8549-4bfd-b9c3-01e75843f47d");
    assert_string_equal(o.client_order_id, "eb9e2aaa-f71a-4f51-b5b4-52a6c565dad4");
    assert_string_equal(o.symbol, "AAPL");
    assert_string_equal(o.replaced_by, "");
    assert_string_equal(o.replaces, "");
    assert_int_equal(o.status, DESK_ALPACA_ST_ACCEPTED);
    assert_int_equal(o.side, DESK_BUY);
    assert_int_equal(o.type, DESK_ALPACA_MARKET);
    assert_int_equal(o.tif, DESK_ALPACA_DAY);
    assert_int_equal(o.flags, DESK_ALPACA_HAS_NOTIONAL); /* qty, avg, limit, stop: null */
    assert_int_equal(o.notional, 500 * S);
    assert_int_equal(o.qty, 0);
    assert_int_equal(o.filled_qty, 0);
    assert_int_equal(o.filled_avg_price, 0);
    assert_int_equal(desk_alpaca_status_to_desk(&o), DESK_OS_PENDING_NEW);
}

static void test_order_ccxt_recorded(void **state)
{
    desk_alpaca_order_t o;
    (void)state;

    assert_int_equal(desk_alpaca_order_decode(J, ORDER_CCXT, L(ORDER_CCXT), &o), 0);
    assert_string_equal(o.id, "6ecfcc34-4bed-4b53-83ba-c564aa832a81");
    assert_string_equal(o.client_order_id, "ccxt_1c6ceab0b5e84727b2f1c0394ba17560");
    assert_string_equal(o.symbol, "BTCUSD");
    assert_int_equal(o.status, DESK_ALPACA_ST_ACCEPTED);
    assert_int_equal(o.type, DESK_ALPACA_LIMIT);
    assert_int_equal(o.side, DESK_BUY);
    assert_int_equal(o.tif, DESK_ALPACA_DAY);
    assert_int_equal(o.flags, DESK_ALPACA_HAS_QTY | DESK_ALPACA_HAS_LIMIT);
    assert_int_equal(o.qty, 1000000); /* 0.01 */
    assert_int_equal(o.limit_price, 14000 * S);
    assert_int_equal(o.filled_qty, 0);
    assert_int_equal(o.stop_price, 0);
}

/* Payloads that are not Order objects must not decode as one. */
static void test_not_orders(void **state)
{
    desk_alpaca_order_t o, list[4];
    (void)state;

    /* Request bodies (no id, no status). */
    assert_int_equal(desk_alpaca_order_decode(J, REQ_BRACKET, L(REQ_BRACKET), &o), -EBADMSG);
    assert_int_equal(desk_alpaca_order_decode(J, REQ_OCO, L(REQ_OCO), &o), -EBADMSG);
    assert_int_equal(desk_alpaca_order_decode(J, REQ_OTO, L(REQ_OTO), &o), -EBADMSG);
    /* The partial options order is an excerpt with "...": not JSON. */
    assert_int_equal(
        desk_alpaca_order_decode(J, ORDER_OPTIONS_PARTIAL, L(ORDER_OPTIONS_PARTIAL), &o),
        -EBADMSG);
    /* The 207 cancel-all reply is an array of {id, status, body}: not orders. */
    assert_int_equal(desk_alpaca_orders_decode(J, CANCEL_ALL_207, L(CANCEL_ALL_207), list, 4),
                     -EBADMSG);
}

/* The 207 body's nested error is the 404 body; its status codes are numbers. */
static void test_cancel_all_207(void **state)
{
    cJSON *arr = cJSON_Parse(CANCEL_ALL_207);
    desk_alpaca_error_t e;
    (void)state;

    assert_non_null(arr);
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    cJSON *body = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, 1), "body");
    char *txt = cJSON_PrintUnformatted(body);
    assert_int_equal(desk_alpaca_error_decode(J, txt, strlen(txt), &e), 0);
    assert_int_equal(e.has_code, 1);
    assert_int_equal(e.code, 40410000);
    assert_string_equal(e.message, "order not found");
    free(txt);
    cJSON_Delete(arr);
}

static void test_orders_list(void **state)
{
    desk_alpaca_order_t list[3];
    char buf[4096];
    (void)state;

    int n = snprintf(buf, sizeof buf, "[%s,%s]", ORDER_DOC, ORDER_CCXT);
    assert_true(n > 0 && (size_t)n < sizeof buf);
    assert_int_equal(desk_alpaca_orders_decode(J, buf, (size_t)n, list, 3), 2);
    assert_string_equal(list[0].symbol, "AAPL");
    assert_string_equal(list[1].symbol, "BTCUSD");
    assert_int_equal(desk_alpaca_orders_decode(J, buf, (size_t)n, list, 1), -ENOSPC);
    assert_int_equal(desk_alpaca_orders_decode(J, "[]", 2, list, 0), 0);
    assert_int_equal(desk_alpaca_orders_decode(J, ORDER_DOC, L(ORDER_DOC), list, 3), -EBADMSG);
}

/* -------------------------------------------------------- golden: stream */

static void test_trade_update_fill(void **state)
{
    desk_alpaca_stream_t m;
    const desk_alpaca_update_t *u = &m.update;
    desk_vevent_t ev[2];
    (void)state;

    assert_int_equal(desk_alpaca_stream_decode(J, TRADE_UPDATE_FILL, L(TRADE_UPDATE_FILL), &m),
                     DESK_ALPACA_MSG_TRADE_UPDATE);
    assert_int_equal(m.kind, DESK_ALPACA_MSG_TRADE_UPDATE);
    assert_int_equal(u->event, DESK_ALPACA_EV_FILL);
    assert_int_equal(u->flags, DESK_ALPACA_UP_PRICE | DESK_ALPACA_UP_QTY | DESK_ALPACA_UP_POS_QTY |
                                   DESK_ALPACA_UP_TS | DESK_ALPACA_UP_EXEC);
    assert_string_equal(u->execution_id, "2f63ea93-423d-4169-b3f6-3fdafc10c418");
    assert_int_equal(u->price, INT64_C(10589884750)); /* 105.8988475 */
    assert_int_equal(u->qty, INT64_C(179086000000));  /* 1790.86 */
    assert_int_equal(u->position_qty, 0);
    assert_int_equal(u->timestamp_ns, INT64_C(1650390305024916716));
    assert_string_equal(u->order.id, "a5be8f5e-fdfa-41f5-a644-7a74fe947a8f");
    assert_string_equal(u->order.client_order_id, "4642fd68-d59a-47d7-a9ac-e22f536828d1");
    assert_string_equal(u->order.symbol, "SOLUSD");
    assert_int_equal(u->order.status, DESK_ALPACA_ST_FILLED);
    assert_int_equal(u->order.side, DESK_SELL);
    assert_int_equal(u->order.type, DESK_ALPACA_MARKET);
    assert_int_equal(u->order.tif, DESK_ALPACA_GTC);
    assert_int_equal(u->order.qty, INT64_C(179086000000));
    assert_int_equal(u->order.filled_qty, INT64_C(179086000000));
    assert_int_equal(u->order.filled_avg_price, INT64_C(10589884750));
    assert_int_equal(u->order.flags, DESK_ALPACA_HAS_QTY | DESK_ALPACA_HAS_AVG);

    /* Mapped onto desk: one FILL of the whole quantity at the exact price. */
    assert_int_equal(desk_alpaca_update_to_vevents(u, 0, 0, ev), 1);
    assert_int_equal(ev[0].type, DESK_EV_FILL);
    assert_int_equal(ev[0].last_qty, INT64_C(179086000000));
    assert_int_equal(ev[0].last_px, INT64_C(10589884750));
    assert_int_equal(ev[0].cum_qty, INT64_C(179086000000));
    assert_true(ev[0].exec_id != 0);
    assert_int_equal(ev[0].exec_id, desk_alpaca_exec_id(u->order.id, DESK_ALPACA_EV_FILL,
                                                        INT64_C(179086000000)));
    /* The same message again: a duplicate, nothing to apply. */
    assert_int_equal(desk_alpaca_update_to_vevents(u, INT64_C(179086000000), INT64_C(10589884750),
                                                   ev),
                     0);
}

static void test_stream_control(void **state)
{
    desk_alpaca_stream_t m;
    char line[512];
    (void)state;

    assert_int_equal(desk_alpaca_stream_decode(J, AUTHORIZED, L(AUTHORIZED), &m),
                     DESK_ALPACA_MSG_AUTHORIZATION);
    assert_int_equal(m.authorized, 1);
    assert_int_equal(m.action, DESK_ALPACA_ACT_AUTHENTICATE);
    assert_int_equal(desk_alpaca_stream_decode(J, UNAUTHORIZED, L(UNAUTHORIZED), &m),
                     DESK_ALPACA_MSG_AUTHORIZATION);
    assert_int_equal(m.authorized, 0);
    assert_int_equal(m.action, DESK_ALPACA_ACT_AUTHENTICATE);
    assert_int_equal(desk_alpaca_stream_decode(J, UNAUTHORIZED_LISTEN, L(UNAUTHORIZED_LISTEN), &m),
                     DESK_ALPACA_MSG_AUTHORIZATION);
    assert_int_equal(m.authorized, 0);
    assert_int_equal(m.action, DESK_ALPACA_ACT_LISTEN);

    /* The two replies as fenced in 1.9, one per line. */
    const char *nl = strchr(STREAM_AUTH_REPLIES, '\n');
    assert_non_null(nl);
    memcpy(line, STREAM_AUTH_REPLIES, (size_t)(nl - STREAM_AUTH_REPLIES));
    assert_int_equal(desk_alpaca_stream_decode(J, line, (size_t)(nl - STREAM_AUTH_REPLIES), &m),
                     DESK_ALPACA_MSG_AUTHORIZATION);
    assert_int_equal(m.authorized, 1);
    assert_int_equal(desk_alpaca_stream_decode(J, nl + 1, strlen(nl + 1), &m),
                     DESK_ALPACA_MSG_AUTHORIZATION);
    assert_int_equal(m.authorized, 0);

    assert_int_equal(desk_alpaca_stream_decode(J, STREAM_LISTENING, L(STREAM_LISTENING), &m),
                     DESK_ALPACA_MSG_LISTENING);
    assert_int_equal(m.nstreams, 1);
    assert_int_equal(m.streams, DESK_ALPACA_STREAM_TRADE_UPDATES);
    const char *empty = "{\"stream\":\"listening\",\"data\":{\"streams\":[]}}";
    assert_int_equal(desk_alpaca_stream_decode(J, empty, strlen(empty), &m),
                     DESK_ALPACA_MSG_LISTENING);
    assert_int_equal(m.nstreams, 0);
    assert_int_equal(m.streams, 0);

    /* Client-side messages are not server messages (no "stream"). */
    assert_int_equal(desk_alpaca_stream_decode(J, STREAM_AUTH_REQ, L(STREAM_AUTH_REQ), &m),
                     -EBADMSG);
    assert_int_equal(desk_alpaca_stream_decode(J, STREAM_LISTEN_REQ, L(STREAM_LISTEN_REQ), &m),
                     -EBADMSG);
    /* Another stream is reported, not an error; a bad authorization status is. */
    const char *other = "{\"stream\":\"trade_updates_v9\",\"data\":{}}";
    assert_int_equal(desk_alpaca_stream_decode(J, other, strlen(other), &m), DESK_ALPACA_MSG_OTHER);
    const char *bad = "{\"stream\":\"authorization\",\"data\":{\"status\":\"maybe\"}}";
    assert_int_equal(desk_alpaca_stream_decode(J, bad, strlen(bad), &m), -EBADMSG);
}

/* The encoder's client messages equal 1.9's, compared as JSON by cJSON. */
static void test_stream_encode(void **state)
{
    char buf[256];
    (void)state;

    int n = desk_alpaca_auth_encode("{YOUR_API_KEY_ID}", "{YOUR_API_SECRET_KEY}", buf, sizeof buf);
    assert_true(n > 0);
    cJSON *a = cJSON_Parse(buf), *b = cJSON_Parse(STREAM_AUTH_REQ);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(cJSON_Compare(a, b, 1));
    cJSON_Delete(a);
    cJSON_Delete(b);
    n = desk_alpaca_listen_encode(buf, sizeof buf);
    assert_true(n > 0);
    a = cJSON_Parse(buf);
    b = cJSON_Parse(STREAM_LISTEN_REQ);
    assert_true(cJSON_Compare(a, b, 1));
    cJSON_Delete(a);
    cJSON_Delete(b);
    /* Escapes: a key with a quote, a backslash and a control byte. */
    n = desk_alpaca_auth_encode("k\"e\\y\x01", "s", buf, sizeof buf);
    assert_true(n > 0);
    a = cJSON_Parse(buf);
    assert_non_null(a);
    cJSON *kid = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(a, "data"),
                                                  "key_id");
    assert_string_equal(cJSON_GetStringValue(kid), "k\"e\\y\x01");
    cJSON_Delete(a);
    assert_int_equal(desk_alpaca_auth_encode("", "s", buf, sizeof buf), -EINVAL);
    assert_int_equal(desk_alpaca_listen_encode(buf, 10), -ENOSPC);
}

/* ------------------------------------------- golden: account and positions */

static void test_position_doc(void **state)
{
    desk_alpaca_position_t p[2];
    char buf[1024];
    (void)state;

    int n = snprintf(buf, sizeof buf, "[%s]", POSITION_DOC);
    assert_int_equal(desk_alpaca_positions_decode(J, buf, (size_t)n, p, 2), 1);
    assert_string_equal(p[0].symbol, "AAPL "); /* the trailing space is in the original */
    assert_int_equal(p[0].side, DESK_ALPACA_LONG);
    assert_int_equal(p[0].qty, 5 * S);
    assert_int_equal(p[0].avg_entry_price, 100 * S);
    assert_int_equal(p[0].market_value, 600 * S);
    assert_int_equal(p[0].cost_basis, 500 * S);
    assert_int_equal(p[0].unrealized_pl, 100 * S);
    assert_int_equal(p[0].current_price, 120 * S);
    assert_int_equal(desk_alpaca_positions_decode(J, buf, (size_t)n, p, 0), -ENOSPC);
    assert_int_equal(desk_alpaca_positions_decode(J, "[]", 2, p, 0), 0);
    /* A single object is not the array the endpoint returns. */
    assert_int_equal(desk_alpaca_positions_decode(J, POSITION_DOC, L(POSITION_DOC), p, 2),
                     -EBADMSG);
    /* Shorts are negative; a side contradicting the sign is malformed. */
    const char *sh = "[{\"symbol\":\"AMZN\",\"qty\":\"-7\",\"avg_entry_price\":\"223.82\","
                     "\"side\":\"short\"}]";
    assert_int_equal(desk_alpaca_positions_decode(J, sh, strlen(sh), p, 2), 1);
    assert_int_equal(p[0].qty, -7 * S);
    assert_int_equal(p[0].side, DESK_ALPACA_SHORT);
    const char *bad = "[{\"symbol\":\"AMZN\",\"qty\":\"-7\",\"avg_entry_price\":\"223.82\","
                      "\"side\":\"long\"}]";
    assert_int_equal(desk_alpaca_positions_decode(J, bad, strlen(bad), p, 2), -EBADMSG);
}

static void test_account_recorded(void **state)
{
    desk_alpaca_account_t a;
    (void)state;

    assert_int_equal(desk_alpaca_account_decode(J, ACCOUNT_RECORDED, L(ACCOUNT_RECORDED), &a), 0);
    assert_string_equal(a.id, "43a01bee-67e3-4eb1-b2f1-65d1dc26ade5");
    assert_string_equal(a.status, "ACTIVE");
    assert_int_equal(a.active, 1);
    assert_string_equal(a.currency, "USD");
    assert_int_equal(a.cash, 592000000);
    assert_int_equal(a.buying_power, 592000000);
    assert_int_equal(a.equity, 4861000000);
    assert_int_equal(a.last_equity, 4880142660); /* 48.8014266 */
    assert_int_equal(a.long_market_value, 4269000000);
    assert_int_equal(a.short_market_value, 0);
    assert_int_equal(a.initial_margin, 0);
    assert_int_equal(a.maintenance_margin, 0);
    assert_int_equal(a.multiplier, S);
    assert_int_equal(a.daytrade_count, 0); /* "0", a string in this capture */
    assert_int_equal(a.pattern_day_trader, 0);
    assert_int_equal(a.trading_blocked, 0);
    assert_int_equal(a.account_blocked, 0);
    assert_int_equal(a.shorting_enabled, 0);

    /* The live wire's numeric daytrade_count, and a missing required field. */
    const char *num = "{\"status\":\"ACTIVE\",\"cash\":\"1\",\"buying_power\":\"2\","
                      "\"equity\":\"3\",\"daytrade_count\":4}";
    assert_int_equal(desk_alpaca_account_decode(J, num, strlen(num), &a), 0);
    assert_int_equal(a.daytrade_count, 4);
    assert_int_equal(a.buying_power, 2 * S);
    const char *miss = "{\"status\":\"ACTIVE\",\"cash\":\"1\",\"equity\":\"3\"}";
    assert_int_equal(desk_alpaca_account_decode(J, miss, strlen(miss), &a), -EBADMSG);
    const char *badn = "{\"status\":\"ACTIVE\",\"cash\":\"1\",\"buying_power\":\"2\","
                       "\"equity\":\"3\",\"daytrade_count\":\"x\"}";
    assert_int_equal(desk_alpaca_account_decode(J, badn, strlen(badn), &a), -EBADMSG);
}

/* ------------------------------------------------------ golden: error bodies */

static void test_error_bodies(void **state)
{
    desk_alpaca_error_t e;
    (void)state;

    assert_int_equal(sizeof ERROR_BODIES / sizeof ERROR_BODIES[0],
                     sizeof ERROR_WANT / sizeof ERROR_WANT[0]);
    for (size_t i = 0; i < sizeof ERROR_BODIES / sizeof ERROR_BODIES[0]; i++) {
        assert_int_equal(desk_alpaca_error_decode(J, ERROR_BODIES[i], strlen(ERROR_BODIES[i]), &e),
                         0);
        assert_int_equal(e.has_code, ERROR_WANT[i].has_code);
        assert_int_equal(e.code, ERROR_WANT[i].code);
        assert_string_equal(e.message, ERROR_WANT[i].message);
        assert_int_equal(e.truncated, 0);
    }
    /* No message, a string code, not an object: malformed. */
    assert_int_equal(desk_alpaca_error_decode(J, "{\"code\":1}", 10, &e), -EBADMSG);
    assert_int_equal(desk_alpaca_error_decode(J, "{\"code\":\"1\",\"message\":\"x\"}", 26, &e),
                     -EBADMSG);
    assert_int_equal(desk_alpaca_error_decode(J, "[]", 2, &e), -EBADMSG);
    assert_int_equal(desk_alpaca_error_decode(J, "Internal Server Error", 21, &e), -EBADMSG);
    /* A long message is cut, NUL terminated and flagged. */
    char big[1024];
    int n = snprintf(big, sizeof big, "{\"message\":\"%0600d\"}", 7);
    assert_int_equal(desk_alpaca_error_decode(J, big, (size_t)n, &e), 0);
    assert_int_equal(e.truncated, 1);
    assert_int_equal(strlen(e.message), DESK_ALPACA_MSG_MAX - 1);
}

/* --------------------------------------------------------- golden: quotes */

static void test_quotes(void **state)
{
    desk_quote_t q;
    char buf[512];
    (void)state;

    assert_int_equal(desk_alpaca_quote_decode(J, QUOTE_LATEST, L(QUOTE_LATEST), NULL, &q), 0);
    assert_int_equal(q.ask_px, 17034000000);
    assert_int_equal(q.ask_qty, S);
    assert_int_equal(q.bid_px, 16550000000);
    assert_int_equal(q.bid_qty, S);
    assert_int_equal(q.venue_ts_ns, UINT64_C(1649783796390749849));
    assert_int_equal(q.last_px, 0);
    assert_int_equal(desk_alpaca_quote_decode(J, QUOTE_LATEST, L(QUOTE_LATEST), "AAPL", &q), 0);
    assert_int_equal(desk_alpaca_quote_decode(J, QUOTE_LATEST, L(QUOTE_LATEST), "TSLA", &q),
                     -EBADMSG);

    assert_int_equal(desk_alpaca_quote_decode(J, QUOTES_GO, L(QUOTES_GO), "AAPL", &q), 0);
    assert_int_equal(q.ask_px, 13468000000);
    assert_int_equal(q.ask_qty, S);
    assert_int_equal(q.bid_px, 13466000000);
    assert_int_equal(q.bid_qty, 29 * S);
    assert_int_equal(q.venue_ts_ns, UINT64_C(1618923717822745906));
    assert_int_equal(desk_alpaca_quote_decode(J, QUOTES_GO, L(QUOTES_GO), "TSLA", &q), -EBADMSG);
    assert_int_equal(desk_alpaca_quote_decode(J, QUOTES_GO, L(QUOTES_GO), NULL, &q), -EBADMSG);

    /* The crypto latestQuote of 4.2 (a fragment: wrapped, its text untouched). */
    const char *colon = strchr(CRYPTO_LATEST_QUOTE, ':');
    int n = snprintf(buf, sizeof buf, "{\"symbol\":\"BTC/USD\",\"quote\":%s}", colon + 1);
    assert_int_equal(desk_alpaca_quote_decode(J, buf, (size_t)n, "BTC/USD", &q), 0);
    assert_int_equal(q.ask_px, INT64_C(6973750000000));
    assert_int_equal(q.ask_qty, 67499900); /* 0.674999 */
    assert_int_equal(q.bid_px, INT64_C(6966969000000));
    assert_int_equal(q.bid_qty, 134887000);
    assert_int_equal(q.venue_ts_ns, UINT64_C(1730513411936226434));
    /* The same quote under a multi-symbol key with a '/': pointer escaping. */
    n = snprintf(buf, sizeof buf, "{\"quotes\":{\"BTC/USD\":%s}}", colon + 1);
    assert_int_equal(desk_alpaca_quote_decode(J, buf, (size_t)n, "BTC/USD", &q), 0);
    assert_int_equal(q.bid_qty, 134887000);
}

/* ----------------------------------------------- golden: activities, clock */

static void test_activities_and_clock(void **state)
{
    desk_alpaca_activity_t a[2];
    desk_alpaca_clock_t c;
    (void)state;

    assert_int_equal(desk_alpaca_activities_decode(J, ACTIVITIES_FILL, L(ACTIVITIES_FILL), a, 2),
                     1);
    assert_string_equal(a[0].id, "20221228071929579::ca2aafd0-1270-4b56-b0a9-85423b4a07c8");
    assert_string_equal(a[0].order_id, "82eebcf7-6e66-4b7e-93f8-be0df0e4f12e");
    assert_string_equal(a[0].symbol, "LTC/USD");
    assert_int_equal(a[0].side, DESK_SELL);
    assert_int_equal(a[0].partial, 0);
    assert_int_equal(a[0].order_status, DESK_ALPACA_ST_FILLED);
    assert_int_equal(a[0].price, 6731000000);
    assert_int_equal(a[0].qty, 7000000);
    assert_int_equal(a[0].cum_qty, 7000000);
    assert_int_equal(a[0].leaves_qty, 0);
    assert_int_equal(a[0].transaction_time_ns, INT64_C(1672229969579352000));
    assert_int_equal(desk_alpaca_activities_decode(J, ACTIVITIES_FILL, L(ACTIVITIES_FILL), a, 0),
                     -ENOSPC);

    assert_int_equal(desk_alpaca_clock_decode(J, CLOCK, L(CLOCK), &c), 0);
    assert_int_equal(c.timestamp_ns, INT64_C(1721290233389152169));
    assert_int_equal(c.is_open, 0);
    assert_int_equal(c.next_open_ns, INT64_C(1721309400000000000));
    assert_int_equal(c.next_close_ns, INT64_C(1721332800000000000));
}

/* ---------------------------------------------------------------- encode */

/* The recorded AUPH request (1.3) and desk's body for the same order carry
 * the same order fields (desk sends no extended_hours, adds its ClOrdID). */
static void test_encode_matches_recorded_request(void **state)
{
    desk_vcmd_t c = {.type = DESK_CMD_NEW, .side = DESK_SELL, .ord_type = DESK_LIMIT,
                     .tif = DESK_DAY, .cl_ord_id = 42, .qty = 2211 * S, .px = 588000000};
    char buf[256];
    (void)state;

    int n = desk_alpaca_order_encode(&c, "AUPH", buf, sizeof buf);
    assert_true(n > 0);
    const char *rec = strchr(REQ_AUPH_CURL, '{');
    char body[256];
    size_t bl = (size_t)(strrchr(REQ_AUPH_CURL, '}') - rec) + 1;
    memcpy(body, rec, bl);
    body[bl] = '\0';
    cJSON *a = cJSON_Parse(buf), *b = cJSON_Parse(body);
    assert_non_null(a);
    assert_non_null(b);
    const char *keys[] = {"symbol", "side", "time_in_force", "qty", "type", "limit_price"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        cJSON *x = cJSON_GetObjectItemCaseSensitive(a, keys[i]);
        cJSON *y = cJSON_GetObjectItemCaseSensitive(b, keys[i]);
        assert_non_null(x);
        assert_non_null(y);
        assert_true(cJSON_IsString(x));
        assert_string_equal(x->valuestring, y->valuestring);
    }
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(a, "client_order_id")->valuestring,
                        "d42");
    assert_null(cJSON_GetObjectItemCaseSensitive(a, "stop_price"));
    cJSON_Delete(a);
    cJSON_Delete(b);
}

/* Every side x type x tif x value set: encode, parse with cJSON, compare. */
static void test_encode_roundtrip(void **state)
{
    static const int64_t qtys[] = {1, S, 2211 * S, 179086000000, INT64_MAX, 12345678};
    static const int64_t pxs[] = {1, 588000000, 10589884750, 14000 * S, INT64_MAX};
    static const uint64_t ids[] = {0, 1, UINT64_C(1795242037926470), UINT64_MAX};
    static const uint8_t tifs[] = {DESK_DAY, DESK_GTC, DESK_IOC, DESK_FOK};
    char buf[256], want[32];
    unsigned cases = 0;
    (void)state;

    for (uint8_t side = DESK_BUY; side <= DESK_SELL; side++)
        for (uint8_t t = DESK_MARKET; t <= DESK_STOP_LIMIT; t++)
            for (size_t f = 0; f < 4; f++)
                for (size_t k = 0; k < 6; k++) {
                    desk_vcmd_t c = {.type = DESK_CMD_NEW, .side = side, .ord_type = t,
                                     .tif = tifs[f], .cl_ord_id = ids[k % 4], .qty = qtys[k],
                                     .px = pxs[k % 5], .stop_px = pxs[(k + 2) % 5]};
                    int n = desk_alpaca_order_encode(&c, "BRK.B", buf, sizeof buf);
                    assert_true(n > 0);
                    assert_int_equal((size_t)n, strlen(buf));
                    cJSON *o = cJSON_Parse(buf);
                    assert_non_null(o);
                    int64_t v;
                    const char *qs = cJSON_GetObjectItemCaseSensitive(o, "qty")->valuestring;
                    assert_int_equal(desk_fixed_parse_cstr(qs, &v), 0);
                    assert_int_equal(v, c.qty);
                    assert_string_equal(
                        cJSON_GetObjectItemCaseSensitive(o, "symbol")->valuestring, "BRK.B");
                    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "side")->valuestring,
                                        side == DESK_BUY ? "buy" : "sell");
                    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "type")->valuestring,
                                        desk_alpaca_type_name(t));
                    assert_string_equal(
                        cJSON_GetObjectItemCaseSensitive(o, "time_in_force")->valuestring,
                        desk_alpaca_tif_name(tifs[f]));
                    cJSON *lp = cJSON_GetObjectItemCaseSensitive(o, "limit_price");
                    cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "stop_price");
                    if (t == DESK_LIMIT || t == DESK_STOP_LIMIT) {
                        assert_int_equal(desk_fixed_parse_cstr(lp->valuestring, &v), 0);
                        assert_int_equal(v, c.px);
                    } else {
                        assert_null(lp);
                    }
                    if (t == DESK_STOP || t == DESK_STOP_LIMIT) {
                        assert_int_equal(desk_fixed_parse_cstr(sp->valuestring, &v), 0);
                        assert_int_equal(v, c.stop_px);
                    } else {
                        assert_null(sp);
                    }
                    snprintf(want, sizeof want, "d%llu", (unsigned long long)c.cl_ord_id);
                    const char *cl =
                        cJSON_GetObjectItemCaseSensitive(o, "client_order_id")->valuestring;
                    assert_string_equal(cl, want);
                    uint64_t back;
                    assert_int_equal(desk_alpaca_clid_parse(cl, strlen(cl), &back), 0);
                    assert_true(back == c.cl_ord_id);
                    cJSON_Delete(o);
                    /* Every shorter buffer is -ENOSPC, never a truncated body. */
                    for (size_t cap = 0; cap <= (size_t)n; cap++) {
                        char small[256];
                        memset(small, 'x', sizeof small);
                        assert_int_equal(desk_alpaca_order_encode(&c, "BRK.B", small, cap),
                                         -ENOSPC);
                    }
                    cases++;
                }
    assert_int_equal(cases, 2 * 4 * 4 * 6);
}

static void test_encode_errors_and_paths(void **state)
{
    desk_vcmd_t c = {.type = DESK_CMD_NEW, .side = DESK_BUY, .ord_type = DESK_LIMIT,
                     .tif = DESK_DAY, .cl_ord_id = 7, .qty = S, .px = S};
    char buf[256];
    (void)state;

    assert_true(desk_alpaca_order_encode(&c, "AMZN", buf, sizeof buf) > 0);
    assert_int_equal(desk_alpaca_order_encode(&c, "", buf, sizeof buf), -EINVAL);
    assert_int_equal(desk_alpaca_order_encode(&c, "AM\nZN", buf, sizeof buf), -EINVAL);
    assert_int_equal(desk_alpaca_order_encode(&c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", buf, 256),
                     -EINVAL);
    desk_vcmd_t b = c;
    b.px = 0;
    assert_int_equal(desk_alpaca_order_encode(&b, "AMZN", buf, sizeof buf), -EINVAL);
    b = c;
    b.qty = 0;
    assert_int_equal(desk_alpaca_order_encode(&b, "AMZN", buf, sizeof buf), -EINVAL);
    b = c;
    b.tif = 2;
    assert_int_equal(desk_alpaca_order_encode(&b, "AMZN", buf, sizeof buf), -EINVAL);
    b = c;
    b.ord_type = DESK_STOP;
    assert_int_equal(desk_alpaca_order_encode(&b, "AMZN", buf, sizeof buf), -EINVAL);
    b = c;
    b.side = 3;
    assert_int_equal(desk_alpaca_order_encode(&b, "AMZN", buf, sizeof buf), -EINVAL);
    b = c;
    b.type = DESK_CMD_REPLACE;
    assert_int_equal(desk_alpaca_order_encode(&b, "AMZN", buf, sizeof buf), -EINVAL);

    /* Replace: qty is what is left to trade on the new Alpaca order. */
    desk_vcmd_t r = {.type = DESK_CMD_REPLACE, .side = DESK_BUY, .ord_type = DESK_STOP_LIMIT,
                     .cl_ord_id = 43, .qty = 100 * S, .px = 22382000000, .stop_px = 22300000000};
    int n = desk_alpaca_replace_encode(&r, 30 * S, buf, sizeof buf);
    assert_true(n > 0);
    cJSON *o = cJSON_Parse(buf);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "qty")->valuestring, "70");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "limit_price")->valuestring, "223.82");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "stop_price")->valuestring, "223");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "client_order_id")->valuestring,
                        "d43");
    assert_int_equal(cJSON_GetArraySize(o), 4);
    cJSON_Delete(o);
    assert_int_equal(desk_alpaca_replace_encode(&r, 100 * S, buf, sizeof buf), -EINVAL);
    assert_int_equal(desk_alpaca_replace_encode(&r, -1, buf, sizeof buf), -EINVAL);
    assert_int_equal(desk_alpaca_replace_encode(&c, 0, buf, sizeof buf), -EINVAL);
    for (size_t cap = 0; cap <= (size_t)n; cap++)
        assert_int_equal(desk_alpaca_replace_encode(&r, 30 * S, buf, cap), -ENOSPC);

    assert_int_equal(desk_alpaca_path_order("61e69015-8549-4bfd-b9c3-01e75843f47d", buf, 256), 47);
    assert_string_equal(buf, "/v2/orders/61e69015-8549-4bfd-b9c3-01e75843f47d");
    assert_int_equal(desk_alpaca_path_order("../x", buf, 256), -EINVAL);
    assert_int_equal(desk_alpaca_path_order("", buf, 256), -EINVAL);
    assert_int_equal(desk_alpaca_path_order("abc", buf, 14), -ENOSPC);
    assert_true(desk_alpaca_path_by_clid(UINT64_C(1795242037926470), buf, 256) > 0);
    assert_string_equal(buf, "/v2/orders:by_client_order_id?client_order_id=d1795242037926470");
    assert_true(desk_alpaca_path_quote("AMZN", buf, 256) > 0);
    assert_string_equal(buf, "/v2/stocks/AMZN/quotes/latest");
    assert_int_equal(desk_alpaca_path_quote("A?B", buf, 256), -EINVAL);

    assert_int_equal(desk_alpaca_clid_format(UINT64_C(1795242037926470), buf, 256), 17);
    assert_string_equal(buf, "d1795242037926470");
    assert_int_equal(desk_alpaca_clid_format(UINT64_MAX, buf, DESK_ALPACA_CLID_FMT_MAX), 21);
    assert_int_equal(desk_alpaca_clid_format(1, buf, 2), -ENOSPC);
    uint64_t v;
    assert_int_equal(desk_alpaca_clid_parse("d18446744073709551616", 21, &v), -EINVAL);
    assert_int_equal(desk_alpaca_clid_parse("d01", 3, &v), -EINVAL);
    assert_int_equal(desk_alpaca_clid_parse("x1", 2, &v), -EINVAL);
    assert_int_equal(desk_alpaca_clid_parse("d", 1, &v), -EINVAL);
    assert_int_equal(desk_alpaca_clid_parse("eb9e2aaa-f71a", 13, &v), -EINVAL);
    assert_int_equal(desk_alpaca_clid_parse("d0", 2, &v), 0);
    assert_true(v == 0);
}

/* ------------------------------------------------- exactness and shape */

/* The CCXT order with one field's text replaced. */
static int decode_with(const char *field, const char *value, desk_alpaca_order_t *o)
{
    char buf[4096], key[64];
    snprintf(key, sizeof key, "\"%s\":", field);
    const char *at = strstr(ORDER_CCXT, key);
    if (at == NULL)
        return -999;
    const char *vs = at + strlen(key);
    const char *ve = vs;
    if (*ve == '"') {
        ve = strchr(ve + 1, '"') + 1;
    } else {
        while (*ve != ',' && *ve != '}')
            ve++;
    }
    int n = snprintf(buf, sizeof buf, "%.*s%s%s", (int)(vs - ORDER_CCXT), ORDER_CCXT, value, ve);
    return desk_alpaca_order_decode(J, buf, (size_t)n, o);
}

static void test_decimal_exactness(void **state)
{
    desk_alpaca_order_t o;
    (void)state;

    assert_int_equal(decode_with("qty", "\"0.12345678\"", &o), 0);
    assert_int_equal(o.qty, 12345678);
    assert_int_equal(decode_with("qty", "\"0.123456789\"", &o), -ERANGE);
    assert_int_equal(decode_with("qty", "\"1.000000000000\"", &o), 0);
    assert_int_equal(o.qty, S);
    assert_int_equal(decode_with("qty", "\"92233720368.54775807\"", &o), 0);
    assert_int_equal(o.qty, INT64_MAX);
    assert_int_equal(decode_with("qty", "\"92233720368.54775808\"", &o), -ERANGE);
    assert_int_equal(decode_with("qty", "\"-1\"", &o), -EBADMSG);
    assert_int_equal(decode_with("qty", "\"1e3\"", &o), -EBADMSG);
    assert_int_equal(decode_with("qty", "\"\"", &o), -EBADMSG);
    assert_int_equal(decode_with("qty", "true", &o), -EBADMSG);
    assert_int_equal(decode_with("limit_price", "\"14000.000000001\"", &o), -ERANGE);
    assert_int_equal(decode_with("limit_price", "\"0.00000001\"", &o), 0);
    assert_int_equal(o.limit_price, 1);
    assert_int_equal(decode_with("limit_price", "\"-5\"", &o), -EBADMSG);
    assert_int_equal(decode_with("filled_avg_price", "\"223.8266666666\"", &o), -ERANGE);
    assert_int_equal(decode_with("filled_avg_price", "\"223.82666666\"", &o), 0);
    assert_int_equal(o.filled_avg_price, 22382666666);
    assert_true(o.flags & DESK_ALPACA_HAS_AVG);
    assert_int_equal(decode_with("filled_qty", "null", &o), -EBADMSG);
}

static void test_enums_and_missing(void **state)
{
    desk_alpaca_order_t o;
    (void)state;

    /* Every status of PROTOCOLS.md 1.4 decodes; anything else is malformed. */
    for (unsigned s = 1; s < DESK_ALPACA_ST__COUNT; s++) {
        char v[64];
        snprintf(v, sizeof v, "\"%s\"", desk_alpaca_status_name(s));
        assert_int_equal(decode_with("status", v, &o), 0);
        assert_int_equal(o.status, s);
        assert_true(desk_alpaca_status_to_desk(&o) >= 0);
    }
    assert_int_equal(decode_with("status", "\"bogus\"", &o), -EBADMSG);
    assert_int_equal(decode_with("status", "\"NEW\"", &o), -EBADMSG);
    assert_int_equal(decode_with("status", "null", &o), -EBADMSG);
    assert_int_equal(decode_with("side", "\"short\"", &o), -EBADMSG);
    assert_int_equal(decode_with("type", "\"trailing_stop\"", &o), 0);
    assert_int_equal(o.type, DESK_ALPACA_TRAILING_STOP);
    assert_int_equal(decode_with("type", "\"iceberg\"", &o), -EBADMSG);
    assert_int_equal(decode_with("time_in_force", "\"opg\"", &o), 0);
    assert_int_equal(o.tif, DESK_ALPACA_OPG);
    assert_int_equal(decode_with("time_in_force", "\"forever\"", &o), -EBADMSG);
    assert_int_equal(decode_with("id", "\"\"", &o), -EBADMSG);
    assert_int_equal(decode_with("id", "42", &o), -EBADMSG);
    assert_int_equal(decode_with("replaced_by", "\"9f1d3c52-0000-4000-8000-000000000001\"", &o), 0);
    assert_string_equal(o.replaced_by, "9f1d3c52-0000-4000-8000-000000000001");
    /* An id too long for its array is an error, never truncated. */
    assert_int_equal(decode_with("id", "\"0123456789012345678901234567890123456789012345678901234"
                                       "567890123\"",
                                 &o),
                     -EBADMSG);
    assert_int_equal(decode_with("client_order_id", "\"a\\u0000b\"", &o), -EBADMSG);

    /* Remove each required field in turn. */
    static const char *const req[] = {"id",     "client_order_id", "symbol", "status",
                                      "side",   "time_in_force",   "filled_qty"};
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        char buf[4096], key[64];
        snprintf(key, sizeof key, "\"%s\":", req[i]);
        snprintf(buf, sizeof buf, "%s", ORDER_CCXT);
        char *at = strstr(buf, key);
        assert_non_null(at);
        at[1] = 'X'; /* rename the key */
        assert_int_equal(desk_alpaca_order_decode(J, buf, strlen(buf), &o), -EBADMSG);
    }
    /* type falls back to the deprecated order_type; with neither it fails. */
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", ORDER_CCXT);
    char *t = strstr(buf, "\"type\":");
    t[1] = 'X';
    assert_int_equal(desk_alpaca_order_decode(J, buf, strlen(buf), &o), 0);
    assert_int_equal(o.type, DESK_ALPACA_LIMIT);
    t = strstr(buf, "\"order_type\":");
    t[1] = 'X';
    assert_int_equal(desk_alpaca_order_decode(J, buf, strlen(buf), &o), -EBADMSG);
    /* qty and notional both null. */
    assert_int_equal(decode_with("qty", "null", &o), -EBADMSG);
    /* Truncated and empty documents. */
    assert_int_equal(desk_alpaca_order_decode(J, ORDER_CCXT, 100, &o), -EBADMSG);
    assert_int_equal(desk_alpaca_order_decode(J, "", 0, &o), -EBADMSG);
    assert_int_equal(desk_alpaca_order_decode(J, NULL, 0, &o), -EBADMSG);
}

static void test_time_parse(void **state)
{
    int64_t ns;
    (void)state;

    assert_int_equal(desk_alpaca_time_parse("2022-04-19T13:45:04.981350886-04:00", 35, &ns), 0);
    assert_int_equal(ns, INT64_C(1650390304981350886));
    assert_int_equal(desk_alpaca_time_parse("1970-01-01T00:00:00Z", 20, &ns), 0);
    assert_int_equal(ns, 0);
    assert_int_equal(desk_alpaca_time_parse("2024-02-29T00:00:00.5+00:00", 27, &ns), 0);
    assert_int_equal(ns % 1000000000, 500000000);
    assert_int_equal(desk_alpaca_time_parse("2023-02-29T00:00:00Z", 20, &ns), -EBADMSG);
    assert_int_equal(desk_alpaca_time_parse("2022-04-19T13:45:04.1234567890Z", 31, &ns), -EBADMSG);
    assert_int_equal(desk_alpaca_time_parse("2022-04-19T13:45:04.Z", 21, &ns), -EBADMSG);
    assert_int_equal(desk_alpaca_time_parse("2022-04-19T13:45:04", 19, &ns), -EBADMSG);
    assert_int_equal(desk_alpaca_time_parse("2022-13-19T13:45:04Z", 20, &ns), -EBADMSG);
    assert_int_equal(desk_alpaca_time_parse("2022-04-19T24:45:04Z", 20, &ns), -EBADMSG);
    assert_int_equal(desk_alpaca_time_parse("2022-04-19T13:45:04+0400", 24, &ns), -EBADMSG);
    assert_int_equal(desk_alpaca_time_parse("1969-12-31T23:59:59Z", 20, &ns), -EBADMSG);
    assert_int_equal(desk_alpaca_time_parse("2263-01-01T00:00:00Z", 20, &ns), -EBADMSG);
    assert_int_equal(desk_alpaca_time_parse("2022-04-19T13:45:04ZZ", 21, &ns), -EBADMSG);
}

/* ------------------------------------------------------------ desk mapping */

static void test_event_table(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int desk;
    } tab[] = {
        {"new", DESK_EV_ACK},
        {"fill", DESK_EV_FILL},
        {"partial_fill", DESK_EV_FILL},
        {"canceled", DESK_EV_CANCELED},
        {"expired", DESK_EV_EXPIRED},
        {"done_for_day", DESK_EV_EXPIRED},
        {"replaced", DESK_EV_REPLACED},
        {"rejected", DESK_EV_REJECT},
        {"pending_new", 0},
        {"pending_cancel", 0},
        {"pending_replace", 0},
        {"stopped", 0},
        {"calculated", 0},
        {"suspended", 0},
        {"order_replace_rejected", DESK_EV_CANCEL_REJECT},
        {"order_cancel_rejected", DESK_EV_CANCEL_REJECT},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        int ev = desk_alpaca_event_parse(tab[i].name, strlen(tab[i].name));
        assert_true(ev > 0);
        assert_string_equal(desk_alpaca_event_name((unsigned)ev), tab[i].name);
        assert_int_equal(desk_alpaca_event_to_desk((unsigned)ev), tab[i].desk);
    }
    assert_int_equal(desk_alpaca_event_parse("Fill", 4), -EBADMSG);
    assert_int_equal(desk_alpaca_event_to_desk(0), -EINVAL);
    assert_int_equal(desk_alpaca_event_to_desk(DESK_ALPACA_EV__COUNT), -EINVAL);
}

/* A synthetic trade update on the recorded fill's order. */
static void mk_update(desk_alpaca_update_t *u, unsigned ev, int64_t qty, int64_t cum, int64_t avg,
                      int64_t px, int64_t lq)
{
    memset(u, 0, sizeof *u);
    u->event = (uint8_t)ev;
    snprintf(u->order.id, sizeof u->order.id, "a5be8f5e-fdfa-41f5-a644-7a74fe947a8f");
    u->order.flags = DESK_ALPACA_HAS_QTY | (avg ? DESK_ALPACA_HAS_AVG : 0);
    u->order.qty = qty;
    u->order.filled_qty = cum;
    u->order.filled_avg_price = avg;
    if (lq) {
        u->flags = DESK_ALPACA_UP_PRICE | DESK_ALPACA_UP_QTY;
        u->price = px;
        u->qty = lq;
    }
}

static void test_fills_dedup_and_order(void **state)
{
    desk_alpaca_update_t u;
    desk_vevent_t ev[2];
    int64_t lq, lp;
    (void)state;

    /* Three fills of 1 @ 223.82, 2 @ 223.83 (avg 223.82666666: not exact),
     * 1 @ 223.80: each derived exactly from data.price and the deltas. */
    mk_update(&u, DESK_ALPACA_EV_PARTIAL_FILL, 4 * S, 1 * S, 22382000000, 22382000000, S);
    assert_int_equal(desk_alpaca_update_to_vevents(&u, 0, 0, ev), 1);
    assert_int_equal(ev[0].last_qty, S);
    assert_int_equal(ev[0].last_px, 22382000000);
    mk_update(&u, DESK_ALPACA_EV_PARTIAL_FILL, 4 * S, 3 * S, 22382666666, 22383000000, 2 * S);
    assert_int_equal(desk_alpaca_update_to_vevents(&u, S, 22382000000, ev), 1);
    assert_int_equal(ev[0].last_qty, 2 * S);
    assert_int_equal(ev[0].last_px, 22383000000);
    assert_int_equal(ev[0].cum_qty, 3 * S);
    uint64_t id3 = ev[0].exec_id;
    /* Without data.price/qty the averages give the price to the nearest 1e-8. */
    mk_update(&u, DESK_ALPACA_EV_PARTIAL_FILL, 4 * S, 3 * S, 22382666666, 0, 0);
    assert_int_equal(desk_alpaca_fill_delta(&u, S, 22382000000, &lq, &lp), 1);
    assert_int_equal(lq, 2 * S);
    assert_int_equal(lp, 22382999999); /* (223.82666666*3 - 223.82)/2, rounded */
    /* A price that disagrees with the averages (a running average) is not used. */
    mk_update(&u, DESK_ALPACA_EV_PARTIAL_FILL, 4 * S, 3 * S, 22382666666, 22382666666, 2 * S);
    assert_int_equal(desk_alpaca_fill_delta(&u, S, 22382000000, &lq, &lp), 1);
    assert_int_equal(lp, 22382999999);

    /* Duplicate of the second fill, then a stale first fill: nothing. */
    mk_update(&u, DESK_ALPACA_EV_PARTIAL_FILL, 4 * S, 3 * S, 22382666666, 22383000000, 2 * S);
    assert_int_equal(desk_alpaca_update_to_vevents(&u, 3 * S, 22382666666, ev), 0);
    mk_update(&u, DESK_ALPACA_EV_PARTIAL_FILL, 4 * S, 1 * S, 22382000000, 22382000000, S);
    assert_int_equal(desk_alpaca_update_to_vevents(&u, 3 * S, 22382666666, ev), 0);

    /* canceled arrives before the last fill's update: catch-up FILL first,
     * with the exec_id the fill update will have, then CANCELED. */
    mk_update(&u, DESK_ALPACA_EV_CANCELED, 4 * S, 3 * S, 22382666666, 0, 0);
    assert_int_equal(desk_alpaca_update_to_vevents(&u, S, 22382000000, ev), 2);
    assert_int_equal(ev[0].type, DESK_EV_FILL);
    assert_int_equal(ev[0].last_qty, 2 * S);
    assert_int_equal(ev[0].exec_id, id3);
    assert_int_equal(ev[1].type, DESK_EV_CANCELED);
    assert_int_equal(ev[1].cum_qty, 3 * S);
    assert_true(ev[1].exec_id != id3);
    /* The same canceled twice: the same exec_id (the router drops the copy). */
    desk_vevent_t ev2[2];
    assert_int_equal(desk_alpaca_update_to_vevents(&u, 3 * S, 22382666666, ev2), 1);
    assert_int_equal(ev2[0].exec_id, ev[1].exec_id);
    /* done_for_day and expired are one fact. */
    mk_update(&u, DESK_ALPACA_EV_DONE_FOR_DAY, 4 * S, 0, 0, 0, 0);
    assert_int_equal(desk_alpaca_update_to_vevents(&u, 0, 0, ev), 1);
    mk_update(&u, DESK_ALPACA_EV_EXPIRED, 4 * S, 0, 0, 0, 0);
    assert_int_equal(desk_alpaca_update_to_vevents(&u, 0, 0, ev2), 1);
    assert_int_equal(ev[0].type, DESK_EV_EXPIRED);
    assert_int_equal(ev[0].exec_id, ev2[0].exec_id);

    /* Rejects carry a reason; informational events give nothing. */
    mk_update(&u, DESK_ALPACA_EV_ORDER_CANCEL_REJECTED, 4 * S, 0, 0, 0, 0);
    assert_int_equal(desk_alpaca_update_to_vevents(&u, 0, 0, ev), 1);
    assert_int_equal(ev[0].type, DESK_EV_CANCEL_REJECT);
    assert_int_equal(ev[0].reason, DESK_REJ_VENUE);
    mk_update(&u, DESK_ALPACA_EV_PENDING_CANCEL, 4 * S, 0, 0, 0, 0);
    assert_int_equal(desk_alpaca_update_to_vevents(&u, 0, 0, ev), 0);
    mk_update(&u, DESK_ALPACA_EV_NEW, 4 * S, 0, 0, 0, 0);
    assert_int_equal(desk_alpaca_update_to_vevents(&u, 0, 0, ev), 1);
    assert_int_equal(ev[0].type, DESK_EV_ACK);

    /* Broken venue facts: over-fill, a fill with no average. */
    mk_update(&u, DESK_ALPACA_EV_FILL, 4 * S, 5 * S, 22382000000, 0, 0);
    assert_int_equal(desk_alpaca_update_to_vevents(&u, 0, 0, ev), -EPROTO);
    mk_update(&u, DESK_ALPACA_EV_FILL, 4 * S, 4 * S, 0, 0, 0);
    assert_int_equal(desk_alpaca_update_to_vevents(&u, 0, 0, ev), -EPROTO);
    u.event = 0;
    assert_int_equal(desk_alpaca_update_to_vevents(&u, 0, 0, ev), -EINVAL);
}

/* An Order as a GET by client_order_id returns it, for the recovery tests. */
static void mk_order(desk_alpaca_order_t *o, unsigned status, int64_t qty, int64_t filled,
                     int64_t avg)
{
    memset(o, 0, sizeof *o);
    snprintf(o->id, sizeof o->id, "61e69015-8549-4bfd-b9c3-01e75843f47d");
    snprintf(o->client_order_id, sizeof o->client_order_id, "d42");
    o->status = (uint8_t)status;
    o->qty = qty;
    o->filled_qty = filled;
    o->filled_avg_price = avg;
    o->flags = DESK_ALPACA_HAS_QTY | (avg > 0 ? DESK_ALPACA_HAS_AVG : 0);
}

/* Recovery after a restart: the venue's Order becomes a CATCHUP fill (the
 * venue's total over the replace chain) and the order's fate, with the
 * stream's exec_ids. */
static void test_recover_vevents(void **state)
{
    desk_alpaca_order_t o;
    desk_alpaca_update_t u;
    desk_vevent_t ev[2], sv[2];
    (void)state;

    /* Open, nothing filled: an ACK only when asked for (a replacement after
     * REPLACED needs none). */
    mk_order(&o, DESK_ALPACA_ST_NEW, 10 * S, 0, 0);
    assert_int_equal(desk_alpaca_recover_vevents(&o, 0, 1, ev), 1);
    assert_int_equal(ev[0].type, DESK_EV_ACK);
    assert_int_equal(ev[0].flags, DESK_VEV_STATUS); /* a repeat if deskd had it acked */
    assert_int_equal(ev[0].cum_qty, 0);
    assert_int_equal(desk_alpaca_recover_vevents(&o, 0, 0, ev), 0);
    mk_order(&o, DESK_ALPACA_ST_ACCEPTED, 10 * S, 0, 0);
    assert_int_equal(desk_alpaca_recover_vevents(&o, 0, 1, ev), 1);
    assert_int_equal(ev[0].type, DESK_EV_ACK);

    /* Partly filled: one CATCHUP fill with the total, no ACK (the fill says
     * it is live); the chain's earlier fills are part of the total. */
    mk_order(&o, DESK_ALPACA_ST_PARTIALLY_FILLED, 10 * S, 4 * S, 22382500000);
    assert_int_equal(desk_alpaca_recover_vevents(&o, 3 * S, 1, ev), 1);
    assert_int_equal(ev[0].type, DESK_EV_FILL);
    assert_int_equal(ev[0].flags, DESK_VEV_CATCHUP);
    assert_int_equal(ev[0].cum_qty, 7 * S);
    assert_int_equal(ev[0].last_qty, 4 * S);
    assert_int_equal(ev[0].last_px, 22382500000);
    /* Its exec_id is the one the stream's fill update to 4 had. */
    memset(&u, 0, sizeof u);
    u.event = DESK_ALPACA_EV_PARTIAL_FILL;
    u.order = o;
    assert_int_equal(desk_alpaca_update_to_vevents(&u, 3 * S, 22382000000, sv), 1);
    assert_int_equal(ev[0].exec_id, sv[0].exec_id);

    /* Filled: the fill alone.  Canceled / expired / done_for_day: the fill,
     * then the end, with the stream's exec_ids for those facts. */
    mk_order(&o, DESK_ALPACA_ST_FILLED, 10 * S, 10 * S, 22382500000);
    assert_int_equal(desk_alpaca_recover_vevents(&o, 0, 1, ev), 1);
    assert_int_equal(ev[0].cum_qty, 10 * S);
    mk_order(&o, DESK_ALPACA_ST_CANCELED, 10 * S, 2 * S, 22382500000);
    assert_int_equal(desk_alpaca_recover_vevents(&o, 0, 1, ev), 2);
    assert_int_equal(ev[0].type, DESK_EV_FILL);
    assert_int_equal(ev[1].type, DESK_EV_CANCELED);
    assert_int_equal(ev[1].flags, 0);
    assert_int_equal(ev[1].cum_qty, 2 * S);
    u.event = DESK_ALPACA_EV_CANCELED;
    u.order = o;
    assert_int_equal(desk_alpaca_update_to_vevents(&u, 2 * S, 22382500000, sv), 1);
    assert_int_equal(ev[1].exec_id, sv[0].exec_id);
    mk_order(&o, DESK_ALPACA_ST_DONE_FOR_DAY, 10 * S, 0, 0);
    assert_int_equal(desk_alpaca_recover_vevents(&o, 0, 1, ev), 1);
    assert_int_equal(ev[0].type, DESK_EV_EXPIRED);
    mk_order(&o, DESK_ALPACA_ST_EXPIRED, 10 * S, 0, 0);
    assert_int_equal(desk_alpaca_recover_vevents(&o, 0, 1, sv), 1);
    assert_int_equal(sv[0].exec_id, ev[0].exec_id); /* one fact */
    mk_order(&o, DESK_ALPACA_ST_REJECTED, 10 * S, 0, 0);
    assert_int_equal(desk_alpaca_recover_vevents(&o, 0, 1, ev), 1);
    assert_int_equal(ev[0].type, DESK_EV_REJECT);
    assert_int_equal(ev[0].reason, DESK_REJ_VENUE);
    /* Replaced: its fills only; the caller follows the chain. */
    mk_order(&o, DESK_ALPACA_ST_REPLACED, 10 * S, 1 * S, 22382500000);
    assert_int_equal(desk_alpaca_recover_vevents(&o, 0, 1, ev), 1);
    assert_int_equal(ev[0].type, DESK_EV_FILL);
    mk_order(&o, DESK_ALPACA_ST_REPLACED, 10 * S, 0, 0);
    assert_int_equal(desk_alpaca_recover_vevents(&o, 0, 1, ev), 0);

    /* Broken facts: over-filled, a fill without an average, a negative
     * chain, an unknown status. */
    mk_order(&o, DESK_ALPACA_ST_FILLED, 10 * S, 11 * S, 22382500000);
    assert_int_equal(desk_alpaca_recover_vevents(&o, 0, 1, ev), -EPROTO);
    mk_order(&o, DESK_ALPACA_ST_FILLED, 10 * S, 10 * S, 0);
    assert_int_equal(desk_alpaca_recover_vevents(&o, 0, 1, ev), -EPROTO);
    mk_order(&o, DESK_ALPACA_ST_NEW, 10 * S, 0, 0);
    assert_int_equal(desk_alpaca_recover_vevents(&o, -1, 1, ev), -EPROTO);
    o.status = 0;
    assert_int_equal(desk_alpaca_recover_vevents(&o, 0, 1, ev), -EINVAL);
    o.status = DESK_ALPACA_ST__COUNT;
    assert_int_equal(desk_alpaca_recover_vevents(&o, 0, 1, ev), -EINVAL);

    /* The chain's fills from desk's total: desk asked 10, the replacement
     * was sent for the 6 left, so 4 filled before it; never replaced: 0. */
    mk_order(&o, DESK_ALPACA_ST_NEW, 6 * S, 0, 0);
    assert_int_equal(desk_alpaca_chain_cum(10 * S, &o), 4 * S);
    assert_int_equal(desk_alpaca_chain_cum(6 * S, &o), 0);
    assert_int_equal(desk_alpaca_chain_cum(5 * S, &o), -EPROTO); /* more than desk's total */
    o.flags = 0;                                                  /* a notional order */
    assert_int_equal(desk_alpaca_chain_cum(10 * S, &o), -EPROTO);
}

/* Positions onto desk instruments: exact symbols after trailing blanks,
 * the others counted. */
static void test_positions_map(void **state)
{
    desk_alpaca_position_t ap[4];
    desk_position_t out[2];
    const char *syms[] = {"AMZN", "AAPL"};
    const uint32_t ids[] = {7, 3};
    uint32_t unmapped = 99;
    (void)state;

    memset(ap, 0, sizeof ap);
    snprintf(ap[0].symbol, sizeof ap[0].symbol, "AAPL "); /* PROTOCOLS.md 1.6's example */
    ap[0].qty = 5 * S;
    ap[0].avg_entry_price = 100 * S;
    snprintf(ap[1].symbol, sizeof ap[1].symbol, "TSLA");
    ap[1].qty = 2 * S;
    snprintf(ap[2].symbol, sizeof ap[2].symbol, "AMZ"); /* a prefix is another symbol */
    ap[2].qty = 1 * S;
    snprintf(ap[3].symbol, sizeof ap[3].symbol, "AMZN");
    ap[3].qty = -7 * S;
    ap[3].avg_entry_price = 22382000000;
    assert_int_equal(desk_alpaca_positions_map(ap, 4, syms, ids, 2, out, 2, &unmapped), 2);
    assert_int_equal(unmapped, 2);
    assert_int_equal(out[0].instrument, 3);
    assert_int_equal(out[0].qty, 5 * S);
    assert_int_equal(out[0].avg_px, 100 * S);
    assert_int_equal(out[1].instrument, 7);
    assert_int_equal(out[1].qty, -7 * S);
    assert_int_equal(out[1].avg_px, 22382000000);
    assert_int_equal(desk_alpaca_positions_map(ap, 4, syms, ids, 2, out, 1, &unmapped), -ENOSPC);
    assert_int_equal(desk_alpaca_positions_map(ap, 0, syms, ids, 2, out, 2, &unmapped), 0);
    assert_int_equal(unmapped, 0);
    assert_int_equal(desk_alpaca_positions_map(ap, 4, syms, ids, 0, out, 2, &unmapped), 0);
    assert_int_equal(unmapped, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_doc_example),
        cmocka_unit_test(test_order_ccxt_recorded),
        cmocka_unit_test(test_not_orders),
        cmocka_unit_test(test_cancel_all_207),
        cmocka_unit_test(test_orders_list),
        cmocka_unit_test(test_trade_update_fill),
        cmocka_unit_test(test_stream_control),
        cmocka_unit_test(test_stream_encode),
        cmocka_unit_test(test_position_doc),
        cmocka_unit_test(test_account_recorded),
        cmocka_unit_test(test_error_bodies),
        cmocka_unit_test(test_quotes),
        cmocka_unit_test(test_activities_and_clock),
        cmocka_unit_test(test_encode_matches_recorded_request),
        cmocka_unit_test(test_encode_roundtrip),
        cmocka_unit_test(test_encode_errors_and_paths),
        cmocka_unit_test(test_decimal_exactness),
        cmocka_unit_test(test_enums_and_missing),
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_event_table),
        cmocka_unit_test(test_fills_dedup_and_order),
        cmocka_unit_test(test_recover_vevents),
        cmocka_unit_test(test_positions_map),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
