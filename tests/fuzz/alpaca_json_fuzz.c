/*
 * alpaca_json_fuzz.c - arbitrary bytes into every decoder of the Alpaca codec
 * (connectors/alpaca/codec.h), and the first bytes as a desk_vcmd_t into the
 * encoders.
 *
 * Invariants, checked with abort() so they hold in release builds too:
 *  - each decoder returns success or one of its documented errors (-EBADMSG,
 *    -ERANGE, -EMSGSIZE; list decoders also -ENOSPC);
 *  - on success every string field is NUL-terminated inside its array,
 *    quantities and prices are >= 0 (position qty agrees with its side), the
 *    enums hold known values, and a trade update maps onto at most two desk
 *    events whose fills have last_qty > 0 and last_px > 0;
 *  - an encoder either fails with -EINVAL/-ENOSPC or writes a NUL-terminated
 *    body of exactly the length it returns, within the buffer.
 * Seed corpus: tests/fuzz/corpus/alpaca_json/ (the recorded payloads of
 * shared/PROTOCOLS.md sections 1 and 4.2, simulator messages, and broken
 * variants).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/alpaca/codec.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define TERMINATED(a) (memchr((a), '\0', sizeof(a)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static int is_decode_rc(int rc)
{
    return rc == -EBADMSG || rc == -ERANGE || rc == -EMSGSIZE;
}

static void check_order(const desk_alpaca_order_t *o)
{
    FUZZ_CHECK(TERMINATED(o->id) && o->id[0] != '\0');
    FUZZ_CHECK(TERMINATED(o->client_order_id) && TERMINATED(o->symbol));
    FUZZ_CHECK(TERMINATED(o->replaced_by) && TERMINATED(o->replaces));
    FUZZ_CHECK(o->status >= 1 && o->status < DESK_ALPACA_ST__COUNT);
    FUZZ_CHECK(o->side == DESK_BUY || o->side == DESK_SELL);
    FUZZ_CHECK(desk_alpaca_type_name(o->type)[0] != '\0');
    FUZZ_CHECK(desk_alpaca_tif_name(o->tif)[0] != '\0');
    FUZZ_CHECK(o->qty >= 0 && o->notional >= 0 && o->filled_qty >= 0);
    FUZZ_CHECK(o->filled_avg_price >= 0 && o->limit_price >= 0 && o->stop_price >= 0);
    FUZZ_CHECK(o->flags & (DESK_ALPACA_HAS_QTY | DESK_ALPACA_HAS_NOTIONAL));
    FUZZ_CHECK(desk_alpaca_status_to_desk(o) >= 0);
}

static void fuzz_encoders(const uint8_t *data, size_t len)
{
    desk_vcmd_t c;
    char buf[512];
    char sym[DESK_ALPACA_SYM_MAX + 8];

    if (len < sizeof c)
        return;
    memcpy(&c, data, sizeof c);
    size_t sl = len - sizeof c < sizeof sym - 1 ? len - sizeof c : sizeof sym - 1;
    memcpy(sym, data + sizeof c, sl);
    sym[sl] = '\0';
    size_t cap = (size_t)(data[0] ^ data[len - 1]) * 2 % sizeof buf;
    int n = desk_alpaca_order_encode(&c, sym, buf, cap);
    FUZZ_CHECK(n == -EINVAL || n == -ENOSPC || (n > 0 && (size_t)n < cap && buf[n] == '\0' &&
                                                 strlen(buf) == (size_t)n));
    n = desk_alpaca_replace_encode(&c, c.stop_px, buf, cap);
    FUZZ_CHECK(n == -EINVAL || n == -ENOSPC || (n > 0 && (size_t)n < cap && buf[n] == '\0' &&
                                                 strlen(buf) == (size_t)n));
    n = desk_alpaca_path_quote(sym, buf, cap);
    FUZZ_CHECK(n == -EINVAL || n == -ENOSPC || (n > 0 && (size_t)n < cap && buf[n] == '\0'));
    n = desk_alpaca_path_order(sym, buf, cap);
    FUZZ_CHECK(n == -EINVAL || n == -ENOSPC || (n > 0 && (size_t)n < cap && buf[n] == '\0'));
    if (sym[0] != '\0') {
        n = desk_alpaca_auth_encode(sym, sym, buf, cap);
        FUZZ_CHECK(n == -ENOSPC || (n > 0 && (size_t)n < cap && buf[n] == '\0'));
    }
    uint64_t id;
    if (desk_alpaca_clid_parse(sym, sl, &id) == 0) {
        n = desk_alpaca_clid_format(id, buf, sizeof buf);
        FUZZ_CHECK(n == (int)sl && memcmp(buf, sym, sl) == 0); /* canonical round trip */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static desk_json_t *j;
    static desk_alpaca_order_t orders[8];
    static desk_alpaca_position_t pos[8];
    static desk_alpaca_activity_t acts[8];
    desk_alpaca_order_t o;
    desk_alpaca_stream_t m;
    desk_alpaca_account_t a;
    desk_alpaca_error_t e;
    desk_alpaca_clock_t clk;
    desk_quote_t q;
    const char *s = (const char *)data;
    int rc;

    if (j == NULL && desk_json_create(1u << 20, &j) != 0)
        abort();

    rc = desk_alpaca_order_decode(j, s, len, &o);
    FUZZ_CHECK(rc == 0 || is_decode_rc(rc));
    if (rc == 0)
        check_order(&o);

    rc = desk_alpaca_orders_decode(j, s, len, orders, 8);
    FUZZ_CHECK((rc >= 0 && rc <= 8) || rc == -ENOSPC || is_decode_rc(rc));
    for (int i = 0; i < rc; i++)
        check_order(&orders[i]);

    rc = desk_alpaca_stream_decode(j, s, len, &m);
    FUZZ_CHECK((rc >= DESK_ALPACA_MSG_AUTHORIZATION && rc <= DESK_ALPACA_MSG_OTHER) ||
               is_decode_rc(rc));
    if (rc > 0)
        FUZZ_CHECK(m.kind == rc);
    if (rc == DESK_ALPACA_MSG_LISTENING)
        FUZZ_CHECK(m.nstreams <= 32 && (m.streams & ~DESK_ALPACA_STREAM_TRADE_UPDATES) == 0);
    if (rc == DESK_ALPACA_MSG_TRADE_UPDATE) {
        const desk_alpaca_update_t *u = &m.update;
        desk_vevent_t ev[2];
        check_order(&u->order);
        FUZZ_CHECK(TERMINATED(u->execution_id));
        FUZZ_CHECK(u->event >= 1 && u->event < DESK_ALPACA_EV__COUNT);
        FUZZ_CHECK(u->price >= 0 && u->qty >= 0 && u->timestamp_ns >= 0);
        int n = desk_alpaca_update_to_vevents(u, 0, 0, ev);
        FUZZ_CHECK((n >= 0 && n <= 2) || n == -EPROTO);
        for (int i = 0; i < n; i++) {
            FUZZ_CHECK(ev[i].type >= DESK_EV_ACK && ev[i].type <= DESK_EV_CANCEL_REJECT);
            FUZZ_CHECK(ev[i].exec_id != 0 && ev[i].cum_qty == u->order.filled_qty);
            if (ev[i].type == DESK_EV_FILL)
                FUZZ_CHECK(ev[i].last_qty > 0 && ev[i].last_px > 0 &&
                           ev[i].last_qty == u->order.filled_qty);
        }
        /* The same update again, with its cum applied: nothing new. */
        n = desk_alpaca_update_to_vevents(u, u->order.filled_qty, u->order.filled_avg_price, ev);
        FUZZ_CHECK(n >= 0 && n <= 1);
        FUZZ_CHECK(n == 0 || ev[0].type != DESK_EV_FILL);
    }

    rc = desk_alpaca_account_decode(j, s, len, &a);
    FUZZ_CHECK(rc == 0 || is_decode_rc(rc));
    if (rc == 0)
        FUZZ_CHECK(TERMINATED(a.id) && TERMINATED(a.status) && TERMINATED(a.currency) &&
                   a.multiplier >= 0);

    rc = desk_alpaca_positions_decode(j, s, len, pos, 8);
    FUZZ_CHECK((rc >= 0 && rc <= 8) || rc == -ENOSPC || is_decode_rc(rc));
    for (int i = 0; i < rc; i++) {
        FUZZ_CHECK(TERMINATED(pos[i].symbol) && pos[i].avg_entry_price >= 0);
        FUZZ_CHECK((pos[i].side == DESK_ALPACA_LONG && pos[i].qty >= 0) ||
                   (pos[i].side == DESK_ALPACA_SHORT && pos[i].qty <= 0));
    }

    rc = desk_alpaca_activities_decode(j, s, len, acts, 8);
    FUZZ_CHECK((rc >= 0 && rc <= 8) || rc == -ENOSPC || is_decode_rc(rc));
    for (int i = 0; i < rc; i++)
        FUZZ_CHECK(TERMINATED(acts[i].id) && TERMINATED(acts[i].order_id) &&
                   TERMINATED(acts[i].symbol) && acts[i].qty >= 0 && acts[i].price >= 0 &&
                   acts[i].cum_qty >= 0 && acts[i].leaves_qty >= 0);

    rc = desk_alpaca_error_decode(j, s, len, &e);
    FUZZ_CHECK(rc == 0 || is_decode_rc(rc));
    if (rc == 0)
        FUZZ_CHECK(TERMINATED(e.message) && (e.has_code || e.code == 0));

    rc = desk_alpaca_clock_decode(j, s, len, &clk);
    FUZZ_CHECK(rc == 0 || is_decode_rc(rc));

    rc = desk_alpaca_quote_decode(j, s, len, NULL, &q);
    FUZZ_CHECK(rc == 0 || is_decode_rc(rc));
    rc = desk_alpaca_quote_decode(j, s, len, "AMZN", &q);
    FUZZ_CHECK(rc == 0 || is_decode_rc(rc));
    if (rc == 0)
        FUZZ_CHECK(q.bid_px >= 0 && q.ask_px >= 0 && q.bid_qty >= 0 && q.ask_qty >= 0);

    int64_t ns;
    rc = desk_alpaca_time_parse(s, len, &ns);
    FUZZ_CHECK((rc == 0 && ns >= 0) || rc == -EBADMSG);

    fuzz_encoders(data, len);
    return 0;
}
