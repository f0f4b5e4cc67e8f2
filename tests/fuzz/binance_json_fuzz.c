/*
 * binance_json_fuzz.c - arbitrary bytes into the Binance capture line decoder
 * (desk_md_binance_line(), connectors/paper/md.h) and the simdjson shim
 * behind it (connectors/net/json.h).
 *
 * Invariants, checked with abort() so they hold in release builds too:
 *  - the line decoder returns a desk_md_line_t or one of its documented
 *    errors (-EBADMSG, -ERANGE, -EMSGSIZE);
 *  - a QUOTE has prices > 0, sizes >= 0, a time > 0 and a 1..15 byte symbol;
 *    a TRADE has px > 0, qty >= 0 and a buy or sell aggressor;
 *  - the input parsed as a whole JSON document, and each getter on a few
 *    pointers, returns only its documented codes, and a string view lies
 *    inside the handle's memory (checked by reading it: ASan catches it).
 * Seed corpus: tests/fuzz/corpus/binance_json/ (real capture lines, the
 * snapshot line, and malformed variants).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/net/json.h"
#include "connectors/paper/md.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static int is_getter_rc(int rc)
{
    return rc == 0 || rc == -ENOENT || rc == -EINVAL || rc == -ERANGE || rc == -ENOBUFS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static desk_json_t *j;
    desk_md_event_t ev;
    char sym[DESK_SYMBOL_MAX];

    if (j == NULL && desk_json_create(DESK_MD_LINE_MAX, &j) != 0)
        abort();
    memset(&ev, 0, sizeof ev);
    memset(sym, 0, sizeof sym);
    int rc = desk_md_binance_line(j, (const char *)data, len, &ev, sym);
    switch (rc) {
    case DESK_MD_LINE_QUOTE:
        FUZZ_CHECK(ev.kind == DESK_MD_QUOTE);
        FUZZ_CHECK(ev.ts_ns > 0);
        FUZZ_CHECK(ev.bid_px > 0 && ev.ask_px > 0);
        FUZZ_CHECK(ev.bid_qty >= 0 && ev.ask_qty >= 0);
        FUZZ_CHECK(ev.px == 0 && ev.qty == 0);
        FUZZ_CHECK(sym[0] != '\0' && memchr(sym, '\0', sizeof sym) != NULL);
        break;
    case DESK_MD_LINE_TRADE:
        FUZZ_CHECK(ev.kind == DESK_MD_TRADE);
        FUZZ_CHECK(ev.ts_ns > 0);
        FUZZ_CHECK(ev.px > 0 && ev.qty >= 0);
        FUZZ_CHECK(ev.aggressor == DESK_BUY || ev.aggressor == DESK_SELL);
        FUZZ_CHECK(sym[0] != '\0' && memchr(sym, '\0', sizeof sym) != NULL);
        break;
    case DESK_MD_LINE_DEPTH:
    case DESK_MD_LINE_SNAPSHOT:
    case DESK_MD_LINE_OTHER:
        FUZZ_CHECK(ev.kind == 0); /* untouched */
        break;
    default:
        FUZZ_CHECK(rc == -EBADMSG || rc == -ERANGE || rc == -EMSGSIZE);
        break;
    }

    /* The whole input as one JSON document, then the getters. */
    rc = desk_json_parse(j, (const char *)data, len);
    FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -EMSGSIZE);
    static const char *const ptrs[] = {"",   "/stream",   "/data", "/data/b", "/data/m",
                                       "/0", "/bids/0/1", "/a~1b", "/x/0/y"};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) {
        const char *s;
        size_t n;
        int64_t v;
        int b;
        int g = desk_json_get_str(j, ptrs[i], &s, &n);
        if (rc != 0) {
            FUZZ_CHECK(g == -EBADMSG);
            continue;
        }
        FUZZ_CHECK(is_getter_rc(g));
        if (g == 0) {
            volatile char sink = 0;
            for (size_t k = 0; k < n; k++)
                sink ^= s[k]; /* the view must be readable memory */
            (void)sink;
            FUZZ_CHECK(n <= len);
        }
        FUZZ_CHECK(is_getter_rc(desk_json_get_i64(j, ptrs[i], &v)));
        FUZZ_CHECK(is_getter_rc(desk_json_get_fixed(j, ptrs[i], &v)));
        FUZZ_CHECK(is_getter_rc(desk_json_get_bool(j, ptrs[i], &b)));
        int h = desk_json_has(j, ptrs[i]);
        int t = desk_json_type(j, ptrs[i]);
        FUZZ_CHECK(h == 0 || h == 1);
        FUZZ_CHECK(h == 1 ? (t >= DESK_JSON_OBJECT && t <= DESK_JSON_NULL) : t == -ENOENT);
        int c = desk_json_count(j, ptrs[i]);
        FUZZ_CHECK(c >= 0 || c == -ENOENT || c == -EINVAL);
    }
    return 0;
}
