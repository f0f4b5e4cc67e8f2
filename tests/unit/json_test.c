/*
 * json_test.c - the simdjson C shim (connectors/net/json.h).
 *
 * Golden decodes of the Binance payloads of shared/PROTOCOLS.md section 2
 * (bookTicker 2.10, a combined-stream trade line from the recorded capture,
 * the executionReport examples of 2.9.3), then every error path: missing
 * keys, wrong types, malformed JSON, oversize input, exact decimals, string
 * escapes and views, and zero allocations per parse after create.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connectors/net/json.h"
#include "core/err.h"

/* ---- allocation counter (interposes malloc; off under sanitizers) ---- */
#if !defined(DESK_SANITIZED)
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static long g_allocs; /* malloc/calloc/realloc calls since start */
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

static desk_json_t *J; /* one handle, 64 KiB, shared by the tests */

static int setup(void **state)
{
    (void)state;
    return desk_json_create(65536, &J);
}

static int teardown(void **state)
{
    (void)state;
    desk_json_destroy(J);
    J = NULL;
    return 0;
}

static int parse(const char *s)
{
    return desk_json_parse(J, s, strlen(s));
}

static void assert_str(const char *ptr, const char *want)
{
    const char *s = NULL;
    size_t n = 0;
    int rc = desk_json_get_str(J, ptr, &s, &n);
    if (rc != 0)
        fail_msg("%s: rc=%d", ptr, rc);
    if (n != strlen(want) || memcmp(s, want, n) != 0)
        fail_msg("%s: got '%.*s' want '%s'", ptr, (int)n, s, want);
}

static void assert_fixed(const char *ptr, int64_t want)
{
    int64_t v = -12345;
    int rc = desk_json_get_fixed(J, ptr, &v);
    if (rc != 0)
        fail_msg("%s: rc=%d", ptr, rc);
    if (v != want)
        fail_msg("%s: got %lld want %lld", ptr, (long long)v, (long long)want);
}

static void assert_i64(const char *ptr, int64_t want)
{
    int64_t v = -12345;
    int rc = desk_json_get_i64(J, ptr, &v);
    if (rc != 0)
        fail_msg("%s: rc=%d", ptr, rc);
    if (v != want)
        fail_msg("%s: got %lld want %lld", ptr, (long long)v, (long long)want);
}

static void assert_bool(const char *ptr, int want)
{
    int v = -1;
    assert_int_equal(desk_json_get_bool(J, ptr, &v), 0);
    assert_int_equal(v, want);
}

/* PROTOCOLS.md 2.10: the spot bookTicker payload, verbatim. */
static const char BOOK_TICKER[] = "{\n"
                                  "    \"u\": 400900217,\n"
                                  "    \"s\": \"BNBUSDT\",\n"
                                  "    \"b\": \"25.35190000\",\n"
                                  "    \"B\": \"31.21000000\",\n"
                                  "    \"a\": \"25.36520000\",\n"
                                  "    \"A\": \"40.66000000\"\n"
                                  "}";

static void test_book_ticker(void **state)
{
    (void)state;
    assert_int_equal(parse(BOOK_TICKER), 0);
    assert_i64("/u", 400900217);
    assert_str("/s", "BNBUSDT");
    assert_fixed("/b", 2535190000);
    assert_fixed("/B", 3121000000);
    assert_fixed("/a", 2536520000);
    assert_fixed("/A", 4066000000);
    /* Keys are case-sensitive: b and B are different fields. */
    int64_t v;
    assert_int_equal(desk_json_get_fixed(J, "/E", &v), -ENOENT);
    assert_int_equal(desk_json_count(J, ""), 6);
    assert_int_equal(desk_json_type(J, ""), DESK_JSON_OBJECT);
}

/* A combined-stream trade line of the recorded capture (README section 2). */
static const char TRADE[] =
    "{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":1723161255343,"
    "\"s\":\"BTCUSDT\",\"t\":3735683259,\"p\":\"61837.63000000\",\"q\":\"0.02000000\","
    "\"T\":1723161255342,\"m\":true,\"M\":true}}";

static void test_trade(void **state)
{
    (void)state;
    assert_int_equal(parse(TRADE), 0);
    assert_str("/stream", "btcusdt@trade");
    assert_str("/data/e", "trade");
    assert_i64("/data/E", 1723161255343);
    assert_str("/data/s", "BTCUSDT");
    assert_i64("/data/t", 3735683259);
    assert_fixed("/data/p", 6183763000000);
    assert_fixed("/data/q", 2000000);
    assert_i64("/data/T", 1723161255342);
    assert_bool("/data/m", 1);
    assert_bool("/data/M", 1);
    /* Fields read out of document order still resolve (each getter rewinds). */
    assert_fixed("/data/q", 2000000);
    assert_str("/stream", "btcusdt@trade");
}

/* PROTOCOLS.md 2.9.3: the WS-API wrapped executionReport DOC EXAMPLE. */
static const char EXEC_REPORT_WS[] = "{\n"
                                     "    \"subscriptionId\": 0,\n"
                                     "    \"event\": {\n"
                                     "        \"e\": \"executionReport\",\n"
                                     "        \"E\": 1499405658658,\n"
                                     "        \"s\": \"ETHBTC\",\n"
                                     "        \"c\": \"mUvoqJxFIILMdfAW5iGSOW\",\n"
                                     "        \"S\": \"BUY\",\n"
                                     "        \"o\": \"LIMIT\",\n"
                                     "        \"f\": \"GTC\",\n"
                                     "        \"q\": \"1.00000000\",\n"
                                     "        \"p\": \"0.10264410\",\n"
                                     "        \"P\": \"0.00000000\",\n"
                                     "        \"F\": \"0.00000000\",\n"
                                     "        \"g\": -1,\n"
                                     "        \"C\": \"\",\n"
                                     "        \"x\": \"NEW\",\n"
                                     "        \"X\": \"NEW\",\n"
                                     "        \"r\": \"NONE\",\n"
                                     "        \"i\": 4293153,\n"
                                     "        \"l\": \"0.00000000\",\n"
                                     "        \"z\": \"0.00000000\",\n"
                                     "        \"L\": \"0.00000000\",\n"
                                     "        \"n\": \"0\",\n"
                                     "        \"N\": null,\n"
                                     "        \"T\": 1499405658657,\n"
                                     "        \"t\": -1,\n"
                                     "        \"v\": 3,\n"
                                     "        \"I\": 8641984,\n"
                                     "        \"w\": true,\n"
                                     "        \"m\": false,\n"
                                     "        \"M\": false,\n"
                                     "        \"O\": 1499405658657,\n"
                                     "        \"Z\": \"0.00000000\",\n"
                                     "        \"Y\": \"0.00000000\",\n"
                                     "        \"Q\": \"0.00000000\",\n"
                                     "        \"W\": 1499405658657,\n"
                                     "        \"V\": \"NONE\"\n"
                                     "    }\n"
                                     "}";

static void test_execution_report_ws(void **state)
{
    (void)state;
    assert_int_equal(parse(EXEC_REPORT_WS), 0);
    assert_i64("/subscriptionId", 0);
    assert_str("/event/e", "executionReport");
    assert_i64("/event/E", 1499405658658);
    assert_str("/event/s", "ETHBTC");
    assert_str("/event/c", "mUvoqJxFIILMdfAW5iGSOW");
    assert_str("/event/C", ""); /* c and C are different keys */
    assert_str("/event/S", "BUY");
    assert_str("/event/o", "LIMIT");
    assert_str("/event/f", "GTC");
    assert_fixed("/event/q", 100000000);
    assert_fixed("/event/p", 10264410);
    assert_fixed("/event/P", 0);
    assert_i64("/event/g", -1);
    assert_str("/event/x", "NEW");
    assert_str("/event/X", "NEW");
    assert_str("/event/r", "NONE");
    assert_i64("/event/i", 4293153);
    assert_fixed("/event/n", 0);
    assert_int_equal(desk_json_type(J, "/event/N"), DESK_JSON_NULL);
    assert_int_equal(desk_json_has(J, "/event/N"), 1);
    const char *s;
    size_t n;
    assert_int_equal(desk_json_get_str(J, "/event/N", &s, &n), -EINVAL);
    assert_i64("/event/t", -1);
    assert_i64("/event/I", 8641984);
    assert_bool("/event/w", 1);
    assert_bool("/event/m", 0);
    assert_i64("/event/W", 1499405658657);
    assert_str("/event/V", "NONE");
    assert_int_equal(desk_json_count(J, "/event"), 35);
}

/* PROTOCOLS.md 2.9.3: the RECORDED spot MARKET partial fill (legacy form). */
static const char EXEC_REPORT_FILL[] =
    "{\"e\":\"executionReport\",\"E\":1611063861489,\"s\":\"BNBUSDT\","
    "\"c\":\"m4M6AD5MF3b1ERe65l4SPq\",\"S\":\"BUY\",\"o\":\"MARKET\",\"f\":\"GTC\","
    "\"q\":\"2.00000000\",\"p\":\"0.00000000\",\"P\":\"0.00000000\",\"F\":\"0.00000000\","
    "\"g\":-1,\"C\":\"\",\"x\":\"TRADE\",\"X\":\"PARTIALLY_FILLED\",\"r\":\"NONE\","
    "\"i\":1296882607,\"l\":\"0.33200000\",\"z\":\"0.33200000\",\"L\":\"46.86600000\","
    "\"n\":\"0.00033200\",\"N\":\"BNB\",\"T\":1611063861488,\"t\":109747654,"
    "\"I\":2696953381,\"w\":false,\"m\":false,\"M\":true,\"O\":1611063861488,"
    "\"Z\":\"15.55951200\",\"Y\":\"15.55951200\",\"Q\":\"0.00000000\"}";

static void test_execution_report_fill(void **state)
{
    (void)state;
    assert_int_equal(parse(EXEC_REPORT_FILL), 0);
    assert_str("/x", "TRADE");
    assert_str("/X", "PARTIALLY_FILLED");
    assert_i64("/i", 1296882607);
    assert_fixed("/l", 33200000);
    assert_fixed("/z", 33200000);
    assert_fixed("/L", 4686600000);
    assert_fixed("/n", 33200);
    assert_str("/N", "BNB");
    assert_i64("/t", 109747654);
    assert_i64("/I", 2696953381);
    assert_fixed("/Z", 1555951200);
    assert_fixed("/Y", 1555951200);
    assert_bool("/w", 0);
    assert_bool("/M", 1);
    /* Y = L * l exactly (15.559512 = 46.866 * 0.332). */
    assert_int_equal((int64_t)((__int128)4686600000 * 33200000 / 100000000), 1555951200);
}

static void test_missing(void **state)
{
    (void)state;
    int64_t v;
    const char *s;
    size_t n;
    int b;

    assert_int_equal(parse(TRADE), 0);
    assert_int_equal(desk_json_get_fixed(J, "/data/x", &v), -ENOENT);
    assert_int_equal(desk_json_get_i64(J, "/nope", &v), -ENOENT);
    assert_int_equal(desk_json_get_str(J, "/data/e/deeper", &s, &n), -ENOENT);
    assert_int_equal(desk_json_get_bool(J, "/data/m/0", &b), -ENOENT);
    assert_int_equal(desk_json_has(J, "/data/x"), 0);
    assert_int_equal(desk_json_has(J, "/data/p"), 1);
    assert_int_equal(desk_json_has(J, ""), 1);
    assert_int_equal(desk_json_type(J, "/data/zz"), -ENOENT);
    /* Arrays: out of range, "-", leading zeros are not elements. */
    assert_int_equal(parse("{\"b\":[[\"1.5\",\"2\"],[\"3\",4]],\"e\":[]}"), 0);
    assert_fixed("/b/0/0", 150000000);
    assert_fixed("/b/1/0", 300000000);
    assert_fixed("/b/1/1", 400000000);
    assert_int_equal(desk_json_count(J, "/b"), 2);
    assert_int_equal(desk_json_count(J, "/b/0"), 2);
    assert_int_equal(desk_json_count(J, "/e"), 0);
    assert_int_equal(desk_json_get_fixed(J, "/b/2", &v), -ENOENT);
    assert_int_equal(desk_json_get_fixed(J, "/b/-", &v), -ENOENT);
    assert_int_equal(desk_json_get_fixed(J, "/b/01/0", &v), -ENOENT);
    assert_int_equal(desk_json_get_fixed(J, "/e/0", &v), -ENOENT);
    assert_int_equal(desk_json_type(J, "/b/0"), DESK_JSON_ARRAY);
}

static void test_wrong_types(void **state)
{
    (void)state;
    int64_t v = 77;
    const char *s;
    size_t n;
    int b;

    assert_int_equal(parse("{\"s\":\"12\",\"f\":1.5,\"e\":1e3,\"t\":true,\"o\":{},"
                           "\"a\":[1],\"x\":\"abc\",\"big\":9223372036854775808,"
                           "\"min\":-9223372036854775808,\"z\":null}"),
                     0);
    assert_int_equal(desk_json_get_i64(J, "/s", &v), -EINVAL); /* strings are not ints */
    assert_int_equal(desk_json_get_i64(J, "/f", &v), -EINVAL);
    assert_int_equal(desk_json_get_i64(J, "/e", &v), -EINVAL);
    assert_int_equal(desk_json_get_i64(J, "/t", &v), -EINVAL);
    assert_int_equal(desk_json_get_i64(J, "/big", &v), -ERANGE);
    assert_int_equal(v, 77); /* untouched on error */
    assert_i64("/min", INT64_MIN);
    assert_int_equal(desk_json_get_fixed(J, "/t", &v), -EINVAL);
    assert_int_equal(desk_json_get_fixed(J, "/o", &v), -EINVAL);
    assert_int_equal(desk_json_get_fixed(J, "/z", &v), -EINVAL);
    assert_int_equal(desk_json_get_fixed(J, "/x", &v), -EINVAL);
    assert_fixed("/s", 1200000000);
    assert_fixed("/e", 100000000000);
    assert_int_equal(desk_json_get_bool(J, "/s", &b), -EINVAL);
    assert_int_equal(desk_json_get_bool(J, "/z", &b), -EINVAL);
    assert_int_equal(desk_json_get_str(J, "/f", &s, &n), -EINVAL);
    assert_int_equal(desk_json_get_str(J, "/a", &s, &n), -EINVAL);
    assert_int_equal(desk_json_count(J, "/t"), -EINVAL);
    assert_int_equal(desk_json_count(J, "/o"), 0);
    assert_int_equal(desk_json_type(J, "/e"), DESK_JSON_NUMBER);
    assert_int_equal(desk_json_type(J, "/t"), DESK_JSON_BOOL);
    assert_int_equal(desk_json_type(J, "/s"), DESK_JSON_STRING);
    /* Bad pointers. */
    assert_int_equal(desk_json_get_i64(J, "s", &v), -EINVAL);
    assert_int_equal(desk_json_get_i64(J, "/a~2", &v), -EINVAL);
    assert_int_equal(desk_json_get_i64(J, NULL, &v), -EINVAL);
    assert_int_equal(desk_json_get_i64(J, "/s", NULL), -EINVAL);
    char longptr[DESK_JSON_PTR_MAX + 8];
    memset(longptr, 'a', sizeof longptr);
    longptr[0] = '/';
    longptr[sizeof longptr - 1] = '\0';
    assert_int_equal(desk_json_has(J, longptr), -EINVAL);
}

static void test_pointer_escapes(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"a/b\":{\"m~n\":5,\"\":{\"k\":6}}}"), 0);
    assert_i64("/a~1b/m~0n", 5);
    assert_i64("/a~1b//k", 6);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "   ",
        "{",
        "{\"a\":1",
        "{\"a\":1}}",
        "{} []",
        "[1,]",
        "[1 2]",
        "{\"a\" 1}",
        "{\"a\":1 \"b\":2}",
        "{\"a\":1,}",
        "{1:2}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":-}",
        "{\"a\":1e}",
        "{\"a\":12abc}",
        "{\"a\":tru}",
        "{\"a\":truex}",
        "{\"a\":nul}",
        "{\"a\":\"x\\q\"}",
        "{\"a\":\"\x01\"}",
        "{\"a\":\"\xff\xfe\"}",
        "{\"a\":\"open}",
        "\"abc",
        "1 2",
        "nulls",
        "{\"stream\":\"btcusdt@bookTicker\",\"data\":{\"u\":1,\"b\":\"1\"",
        "{\"data\":{\"b\":\"1\"}",
    };
    int64_t v;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(bad[i]);
        if (rc != -EBADMSG)
            fail_msg("case %zu '%s': rc=%d, want -EBADMSG", i, bad[i], rc);
        /* After a failed parse nothing can be read. */
        assert_int_equal(desk_json_get_i64(J, "/a", &v), -EBADMSG);
        assert_int_equal(desk_json_has(J, ""), -EBADMSG);
    }
    /* Scalar documents are valid JSON, and "" names them. */
    assert_int_equal(parse(" 42 "), 0);
    assert_i64("", 42);
    assert_int_equal(parse("\"x\\ty\""), 0);
    assert_str("", "x\ty");
    assert_int_equal(parse("null"), 0);
    assert_int_equal(desk_json_type(J, ""), DESK_JSON_NULL);
    assert_int_equal(desk_json_get_i64(J, "/a", &v), -ENOENT);
    /* Nesting: DESK_JSON_MAX_DEPTH levels pass, one more does not. */
    char deep[2 * (DESK_JSON_MAX_DEPTH + 1) + 1];
    for (int d = DESK_JSON_MAX_DEPTH; d <= DESK_JSON_MAX_DEPTH + 1; d++) {
        for (int k = 0; k < d; k++) {
            deep[k] = '[';
            deep[2 * d - 1 - k] = ']';
        }
        deep[2 * d] = '\0';
        assert_int_equal(parse(deep), d <= DESK_JSON_MAX_DEPTH ? 0 : -EBADMSG);
    }
}

static void test_oversize(void **state)
{
    (void)state;
    desk_json_t *small = NULL;
    char buf[80];
    int64_t v;

    assert_int_equal(desk_json_create(0, &small), -EINVAL);
    assert_int_equal(desk_json_create(64, &small), 0);
    /* Exactly 64 bytes parse; 65 are refused whole, never cut. */
    memset(buf, ' ', sizeof buf);
    memcpy(buf, "{\"a\":7}", 7);
    assert_int_equal(desk_json_parse(small, buf, 64), 0);
    assert_int_equal(desk_json_get_i64(small, "/a", &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(desk_json_parse(small, buf, 65), -EMSGSIZE);
    assert_int_equal(desk_json_get_i64(small, "/a", &v), -EBADMSG);
    desk_json_destroy(small);
}

static void test_decimal_exact(void **state)
{
    (void)state;
    int64_t v = 99;

    assert_int_equal(parse("{\"a\":\"0.00000001\",\"b\":\"92233720368.54775807\","
                           "\"c\":\"92233720368.54775808\",\"d\":\"0.000000001\","
                           "\"e\":\"1.000000000\",\"f\":\"-3\",\"g\":\".5\",\"h\":\"1e3\","
                           "\"i\":0.1,\"j\":1.5e-3,\"k\":1e-8,\"l\":1e-9,\"m\":12E+2,"
                           "\"n\":-0.5,\"o\":1.0000000000000000000000000000000000e0,"
                           "\"p\":0e500,\"q\":123456789012,\"r\":92233720368.54775807,"
                           "\"s\":0.00012345678e4,\"t\":\"\",\"u\":\"1 \"}"),
                     0);
    assert_fixed("/a", 1);
    assert_fixed("/b", INT64_MAX);
    assert_int_equal(desk_json_get_fixed(J, "/c", &v), -ERANGE);
    assert_int_equal(desk_json_get_fixed(J, "/d", &v), -ERANGE);
    assert_int_equal(v, 99);
    assert_fixed("/e", 100000000);
    assert_fixed("/f", -300000000);
    assert_fixed("/g", 50000000);
    assert_int_equal(desk_json_get_fixed(J, "/h", &v), -EINVAL); /* strings: plain decimals */
    assert_fixed("/i", 10000000); /* 0.1 exactly, no binary double in between */
    assert_fixed("/j", 150000);
    assert_fixed("/k", 1);
    assert_int_equal(desk_json_get_fixed(J, "/l", &v), -ERANGE);
    assert_fixed("/m", 120000000000);
    assert_fixed("/n", -50000000);
    assert_fixed("/o", 100000000);
    assert_fixed("/p", 0);
    assert_int_equal(desk_json_get_fixed(J, "/q", &v), -ERANGE);
    assert_fixed("/r", INT64_MAX);
    assert_fixed("/s", 123456780);
    assert_int_equal(desk_json_get_fixed(J, "/t", &v), -EINVAL);
    assert_int_equal(desk_json_get_fixed(J, "/u", &v), -EINVAL);
    /* The number converter alone. */
    assert_int_equal(desk_json_number_to_fixed("abc", 3, &v), -EINVAL);
    assert_int_equal(desk_json_number_to_fixed("1e999999999999999", 17, &v), -ERANGE);
    assert_int_equal(desk_json_number_to_fixed("1e-999999999999999", 18, &v), -ERANGE);
    assert_int_equal(desk_json_number_to_fixed("-25e-9", 6, &v), -ERANGE);
    assert_int_equal(desk_json_number_to_fixed("-25e-8", 6, &v), 0);
    assert_int_equal(v, -25);
    assert_int_equal(desk_json_number_to_fixed("9.2233720368547758070e10", 24, &v), 0);
    assert_int_equal(v, INT64_MAX);
}

static void test_string_views(void **state)
{
    (void)state;
    const char *a, *b, *c;
    size_t na, nb, nc;

    assert_int_equal(parse("{\"a\":\"x\\\"y\\\\z\\u0041\\u00e9\",\"b\":\"plain\","
                           "\"c\":\"tab\\tend\"}"),
                     0);
    assert_int_equal(desk_json_get_str(J, "/a", &a, &na), 0);
    assert_int_equal(desk_json_get_str(J, "/b", &b, &nb), 0);
    assert_int_equal(desk_json_get_str(J, "/c", &c, &nc), 0);
    /* All three views are still valid after the later getters. */
    assert_int_equal(na, 8);
    assert_memory_equal(a, "x\"y\\zA\xc3\xa9", 8);
    assert_int_equal(nb, 5);
    assert_memory_equal(b, "plain", 5);
    assert_int_equal(nc, 7);
    assert_memory_equal(c, "tab\tend", 7);
}

static void test_no_alloc_per_message(void **state)
{
    (void)state;
#ifdef COUNT_ALLOCS
    long before = g_allocs;
    int64_t v;
    const char *s;
    size_t n;
    int b;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(parse(TRADE), 0);
        assert_int_equal(desk_json_get_fixed(J, "/data/p", &v), 0);
        assert_int_equal(desk_json_get_str(J, "/data/s", &s, &n), 0);
        assert_int_equal(desk_json_get_bool(J, "/data/m", &b), 0);
        assert_int_equal(desk_json_get_i64(J, "/data/T", &v), 0);
        assert_int_equal(parse("{\"a\":\"esc\\\"aped\",\"k~\":[1,2,{\"x\":null}]}"), 0);
        assert_int_equal(desk_json_get_str(J, "/a", &s, &n), 0);
        assert_int_equal(desk_json_count(J, "/k~0/2"), 1);
        assert_int_equal(parse("{\"broken\":"), -EBADMSG);
    }
    assert_int_equal(g_allocs - before, 0);
    /* The counter does see allocations: create makes some. */
    desk_json_t *tmp = NULL;
    before = g_allocs;
    assert_int_equal(desk_json_create(128, &tmp), 0);
    assert_true(g_allocs - before >= 3);
    desk_json_destroy(tmp);
#else
    print_message("allocation count not checked under sanitizers\n");
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_book_ticker),
        cmocka_unit_test(test_trade),
        cmocka_unit_test(test_execution_report_ws),
        cmocka_unit_test(test_execution_report_fill),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_pointer_escapes),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_decimal_exact),
        cmocka_unit_test(test_string_views),
        cmocka_unit_test(test_no_alloc_per_message),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
