/*
 * http_test.c - HTTP/1.1 client codec (connectors/net/http.h): the request
 * writer, the response parser and the pool bookkeeping.
 *
 * Golden responses follow shared/PROTOCOLS.md section 1 (Alpaca v2): 200
 * with the Order object of 1.4, 204 for DELETE, the error bodies of 1.8
 * (403/404/422), 429 with Retry-After.  Every golden stream is parsed in
 * every configuration: whole, cut in two at every byte position, and one
 * byte at a time, and must give the same responses each time (liburing's
 * "loop over every configuration").  Then chunked bodies, pipelining,
 * header case, limits (-EMSGSIZE) and garbage (-EBADMSG, sticky).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h> /* after the three it needs */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/net/http.h"

/* ---- golden wire data (PROTOCOLS.md 1.4 / 1.8) ---- */

#define ORDER_JSON                                                                                 \
    "{\"id\":\"61e69015-8549-4bfd-b9c3-01e75843f47d\",\"client_order_id\":"                        \
    "\"eb9e2aaa-f71a-4f51-b5b4-52a6c565dad4\",\"created_at\":\"2021-03-16T18:38:01.942282Z\","     \
    "\"updated_at\":\"2021-03-16T18:38:01.942282Z\",\"submitted_at\":"                             \
    "\"2021-03-16T18:38:01.937734Z\",\"filled_at\":null,\"expired_at\":null,\"canceled_at\":"      \
    "null,\"failed_at\":null,\"replaced_at\":null,\"replaced_by\":null,\"replaces\":null,"         \
    "\"asset_id\":\"b0b6dd9d-8b9b-48a9-ba46-b9d54906e415\",\"symbol\":\"AAPL\",\"asset_class\":"   \
    "\"us_equity\",\"notional\":\"500\",\"qty\":null,\"filled_qty\":\"0\",\"filled_avg_price\":"   \
    "null,\"order_class\":\"\",\"order_type\":\"market\",\"type\":\"market\",\"side\":\"buy\","    \
    "\"time_in_force\":\"day\",\"limit_price\":null,\"stop_price\":null,\"status\":"               \
    "\"accepted\",\"extended_hours\":false,\"legs\":null,\"trail_percent\":null,"                  \
    "\"trail_price\":null,\"hwm\":null}"

#define ERR404 "{\"code\": 40410000, \"message\": \"order not found\"}"
#define ERR422 "{\"code\":40010001,\"message\":\"invalid order type for crypto order\"}"
#define ERR403 "{\"message\": \"forbidden.\"}"
#define ERR429 "{\"code\":42910000,\"message\":\"rate limit exceeded\"}"

/* printf into a fresh heap string (test data with computed Content-Length). */
static char *fmt(const char *f, ...) DESK_PRINTF(1, 2);
static char *fmt(const char *f, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, f);
    assert_true(vasprintf(&s, f, ap) >= 0);
    va_end(ap);
    return s;
}

static char *resp_200_order(void)
{
    return fmt("HTTP/1.1 200 OK\r\nDate: Tue, 16 Mar 2021 18:38:01 GMT\r\n"
               "Content-Type: application/json; charset=UTF-8\r\nContent-Length: %zu\r\n"
               "Connection: keep-alive\r\nAccess-Control-Allow-Origin: *\r\n"
               "Vary: Origin\r\nX-Request-ID: 3f7c1e0b6a\r\n\r\n%s",
               strlen(ORDER_JSON), ORDER_JSON);
}

static char *resp_err(int status, const char *reason, const char *body)
{
    return fmt("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
               "\r\n%s",
               status, reason, strlen(body), body);
}

static const char RESP_204[] = "HTTP/1.1 204 No Content\r\nDate: Tue, 16 Mar 2021 18:38:02 GMT\r\n"
                               "Connection: keep-alive\r\n\r\n";

static char *resp_429(void)
{
    return fmt("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
               "Retry-After: 1\r\nX-RateLimit-Limit: 200\r\nX-RateLimit-Remaining: 0\r\n"
               "x-ratelimit-reset: 1615919941\r\nContent-Length: %zu\r\n\r\n%s",
               strlen(ERR429), ERR429);
}

/* The order JSON as three chunks, with a chunk extension and a trailer. */
static char *resp_chunked(void)
{
    const char *j = ORDER_JSON;
    size_t n = strlen(j), a = 100, b = 250;

    return fmt("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
               "Transfer-Encoding: chunked\r\n\r\n"
               "%zx\r\n%.*s\r\n%zX;ext=1\r\n%.*s\r\n%zx\r\n%s\r\n0\r\nX-Trailer: done\r\n\r\n",
               a, (int)a, j, b - a, (int)(b - a), j + a, n - b, j + b);
}

/* ---- harness ---- */

/* What one response in a stream must look like. */
struct expect {
    int status;         /* status code */
    const char *body;   /* exact body ("" for none) */
    int keep_alive;     /* 1/0 */
    int chunked;        /* 1/0 */
    const char *hname;  /* a header to look up (any case), or NULL */
    const char *hvalue; /* its expected value */
};

static const desk_http_limits_t LIM = {32, 4096, 16384};

static void check_msg(const desk_http_msg_t *m, const struct expect *e, const char *mode,
                      size_t cut)
{
    size_t blen = strlen(e->body);

    if (m->status != e->status)
        fail_msg("%s cut=%zu: status %d, expected %d", mode, cut, m->status, e->status);
    if (m->body_len != blen || (blen > 0 && memcmp(m->body, e->body, blen) != 0))
        fail_msg("%s cut=%zu: body (%zu bytes) differs from the expected %zu bytes", mode, cut,
                 m->body_len, blen);
    if (blen == 0)
        assert_null(m->body);
    assert_int_equal(m->keep_alive, e->keep_alive);
    assert_int_equal(m->chunked, e->chunked);
    assert_true(m->status >= 100 && m->status <= 599);
    if (e->hname != NULL) {
        const char *v;
        size_t vl;
        if (desk_http_msg_header(m, e->hname, &v, &vl) != 0)
            fail_msg("%s cut=%zu: header %s missing", mode, cut, e->hname);
        if (vl != strlen(e->hvalue) || memcmp(v, e->hvalue, vl) != 0)
            fail_msg("%s cut=%zu: header %s = '%.*s', expected '%s'", mode, cut, e->hname, (int)vl,
                     v, e->hvalue);
    }
}

/*
 * Feed wire[0..len) to r as the pieces [0,cut) and [cut,len) (cut == 0:
 * whole; cut == SIZE_MAX: one byte at a time), checking each completed
 * response against e[].  Returns the number of responses seen; *last_rc is
 * the last feed result.
 */
static int run_stream(desk_http_resp_t *r, const char *wire, size_t len, size_t cut,
                      const struct expect *e, int ne, int *last_rc)
{
    int seen = 0, rc = 0;
    size_t pos = 0;
    const char *mode = cut == SIZE_MAX ? "bytewise" : cut == 0 ? "whole" : "split";

    desk_http_resp_reset(r);
    while (pos < len) {
        size_t end = cut == SIZE_MAX ? pos + 1 : (cut > pos && cut < len) ? cut : len;
        size_t off = pos;
        while (off < end) {
            size_t used = 0;
            rc = desk_http_resp_feed(r, wire + off, end - off, &used);
            assert_true(used <= end - off);
            off += used;
            if (rc < 0) {
                *last_rc = rc;
                return seen;
            }
            if (rc == 0) {
                assert_int_equal(used, end - (off - used));
                break;
            }
            if (seen >= ne)
                fail_msg("%s cut=%zu: more responses than the %d expected", mode, cut, ne);
            check_msg(desk_http_resp_msg(r), &e[seen], mode, cut);
            seen++;
        }
        pos = end;
    }
    *last_rc = rc;
    return seen;
}

/* Every configuration gives exactly the expected responses. */
static void check_all_splits(const char *wire, const struct expect *e, int ne)
{
    desk_http_resp_t *r;
    size_t len = strlen(wire);
    int rc;

    assert_int_equal(desk_http_resp_create(&r, &LIM), 0);
    assert_int_equal(run_stream(r, wire, len, 0, e, ne, &rc), ne);
    assert_int_equal(rc, 1);
    for (size_t cut = 1; cut < len; cut++) {
        int n = run_stream(r, wire, len, cut, e, ne, &rc);
        if (n != ne)
            fail_msg("split at %zu: %d responses (rc %d), expected %d", cut, n, rc, ne);
        assert_true(rc >= 0);
    }
    assert_int_equal(run_stream(r, wire, len, SIZE_MAX, e, ne, &rc), ne);
    assert_int_equal(rc, 1);
    desk_http_resp_destroy(r);
}

/* ---- golden responses ---- */

static void test_200_order(void **state)
{
    (void)state;
    char *w = resp_200_order();
    struct expect e[] = {
        {200, ORDER_JSON, 1, 0, "content-type", "application/json; charset=UTF-8"}};
    check_all_splits(w, e, 1);

    /* The view: header table, Content-Length, HTTP version. */
    desk_http_resp_t *r;
    size_t used;
    int64_t cl;
    assert_int_equal(desk_http_resp_create(&r, &LIM), 0);
    assert_int_equal(desk_http_resp_feed(r, w, strlen(w), &used), 1);
    assert_int_equal(used, strlen(w));
    const desk_http_msg_t *m = desk_http_resp_msg(r);
    assert_int_equal(m->nheaders, 7);
    assert_int_equal(m->http_major, 1);
    assert_int_equal(m->http_minor, 1);
    assert_int_equal(m->content_length, (int64_t)strlen(ORDER_JSON));
    assert_int_equal(desk_http_msg_header_i64(m, "Content-Length", &cl), 0);
    assert_int_equal(cl, (int64_t)strlen(ORDER_JSON));
    assert_memory_equal(m->headers[0].name, "Date", 4);
    assert_int_equal(m->headers[6].value_len, 10);
    assert_memory_equal(m->headers[6].value, "3f7c1e0b6a", 10);
    assert_false(m->upgrade);
    desk_http_resp_destroy(r);
    free(w);
}

static void test_204_delete(void **state)
{
    (void)state;
    struct expect e[] = {{204, "", 1, 0, "Connection", "keep-alive"}};
    check_all_splits(RESP_204, e, 1);
}

static void test_error_bodies(void **state)
{
    (void)state;
    char *w404 = resp_err(404, "Not Found", ERR404);
    char *w422 = resp_err(422, "Unprocessable Entity", ERR422);
    char *w403 = resp_err(403, "Forbidden", ERR403);
    struct expect e404[] = {{404, ERR404, 1, 0, "Content-Type", "application/json"}};
    struct expect e422[] = {{422, ERR422, 1, 0, NULL, NULL}};
    struct expect e403[] = {{403, ERR403, 1, 0, NULL, NULL}};

    check_all_splits(w404, e404, 1);
    check_all_splits(w422, e422, 1);
    check_all_splits(w403, e403, 1);
    free(w404);
    free(w422);
    free(w403);
}

static void test_429_retry_after(void **state)
{
    (void)state;
    char *w = resp_429();
    struct expect e[] = {{429, ERR429, 1, 0, "retry-after", "1"}};
    check_all_splits(w, e, 1);

    desk_http_resp_t *r;
    size_t used;
    int64_t v;
    assert_int_equal(desk_http_resp_create(&r, &LIM), 0);
    assert_int_equal(desk_http_resp_feed(r, w, strlen(w), &used), 1);
    const desk_http_msg_t *m = desk_http_resp_msg(r);
    assert_int_equal(desk_http_msg_header_i64(m, "Retry-After", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(desk_http_msg_header_i64(m, "X-RATELIMIT-LIMIT", &v), 0);
    assert_int_equal(v, 200);
    assert_int_equal(desk_http_msg_header_i64(m, "X-RateLimit-Remaining", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(desk_http_msg_header_i64(m, "X-RateLimit-Reset", &v), 0);
    assert_int_equal(v, 1615919941);
    assert_int_equal(desk_http_msg_header_i64(m, "X-Missing", &v), -ENOENT);
    assert_int_equal(desk_http_msg_header_i64(m, "Content-Type", &v), -EBADMSG);
    desk_http_resp_destroy(r);
    free(w);

    /* Retry-After as an HTTP-date is not a number; a huge one is -ERANGE. */
    const char *d = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT"
                    "\r\nX-Big: 99999999999999999999\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(desk_http_resp_create(&r, &LIM), 0);
    assert_int_equal(desk_http_resp_feed(r, d, strlen(d), &used), 1);
    m = desk_http_resp_msg(r);
    assert_int_equal(desk_http_msg_header_i64(m, "Retry-After", &v), -EBADMSG);
    assert_int_equal(desk_http_msg_header_i64(m, "X-Big", &v), -ERANGE);
    assert_int_equal(desk_http_msg_header_i64(m, "X-Empty", &v), -EBADMSG);
    desk_http_resp_destroy(r);
}

static void test_chunked(void **state)
{
    (void)state;
    char *w = resp_chunked();
    struct expect e[] = {{200, ORDER_JSON, 1, 1, "x-trailer", "done"}};
    check_all_splits(w, e, 1);

    desk_http_resp_t *r;
    size_t used;
    assert_int_equal(desk_http_resp_create(&r, &LIM), 0);
    assert_int_equal(desk_http_resp_feed(r, w, strlen(w), &used), 1);
    const desk_http_msg_t *m = desk_http_resp_msg(r);
    assert_int_equal(m->content_length, -1);
    assert_true(desk_http_msg_has_token(m, "Transfer-Encoding", "CHUNKED"));
    /* The trailer comes after the headers in the table. */
    assert_memory_equal(m->headers[m->nheaders - 1].name, "X-Trailer", 9);
    desk_http_resp_destroy(r);
    free(w);
}

static void test_pipelined(void **state)
{
    (void)state;
    char *a = resp_200_order(), *c = resp_429(), *d = resp_chunked();
    char *e404 = resp_err(404, "Not Found", ERR404);
    char *w = fmt("%s%s%s%s%s", a, RESP_204, c, d, e404);
    struct expect e[] = {
        {200, ORDER_JSON, 1, 0, "X-Request-ID", "3f7c1e0b6a"},
        {204, "", 1, 0, NULL, NULL},
        {429, ERR429, 1, 0, "Retry-After", "1"},
        {200, ORDER_JSON, 1, 1, NULL, NULL},
        {404, ERR404, 1, 0, NULL, NULL},
    };
    check_all_splits(w, e, 5);
    free(a);
    free(c);
    free(d);
    free(e404);
    free(w);
}

static void test_header_case(void **state)
{
    (void)state;
    const char *w = "HTTP/1.1 200 OK\r\ncOnTeNt-TyPe:   application/json  \r\n"
                    "CONTENT-LENGTH: 2\r\nConnection: Keep-Alive, Upgrade\r\n"
                    "X-Empty:\r\nx-ratelimit-remaining: 199\r\n\r\n{}";
    struct expect e[] = {{200, "{}", 1, 0, "Content-Type", "application/json"}};
    check_all_splits(w, e, 1);

    desk_http_resp_t *r;
    size_t used, vl = 99;
    const char *v;
    int64_t n;
    assert_int_equal(desk_http_resp_create(&r, &LIM), 0);
    assert_int_equal(desk_http_resp_feed(r, w, strlen(w), &used), 1);
    const desk_http_msg_t *m = desk_http_resp_msg(r);
    assert_int_equal(desk_http_msg_header(m, "content-length", &v, &vl), 0);
    assert_int_equal(vl, 1);
    assert_int_equal(desk_http_msg_header(m, "X-EMPTY", &v, &vl), 0);
    assert_int_equal(vl, 0);
    assert_int_equal(desk_http_msg_header(m, "X-Empt", NULL, NULL), -ENOENT);
    assert_int_equal(desk_http_msg_header(m, "X-Emptyy", NULL, NULL), -ENOENT);
    assert_int_equal(desk_http_msg_header_i64(m, "X-RateLimit-Remaining", &n), 0);
    assert_int_equal(n, 199);
    assert_true(desk_http_msg_has_token(m, "connection", "upgrade"));
    assert_true(desk_http_msg_has_token(m, "connection", "keep-alive"));
    assert_false(desk_http_msg_has_token(m, "connection", "close"));
    assert_false(desk_http_msg_has_token(m, "connection", "keep"));
    desk_http_resp_destroy(r);
}

/* ---- connection semantics ---- */

static void test_keepalive_close_eof(void **state)
{
    (void)state;
    desk_http_resp_t *r;
    size_t used;
    const desk_http_msg_t *m;

    assert_int_equal(desk_http_resp_create(&r, &LIM), 0);
    /* Connection: close -> not keep-alive; bytes after it are an error. */
    const char *c = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nokX";
    assert_int_equal(desk_http_resp_feed(r, c, strlen(c), &used), 1);
    assert_int_equal(used, strlen(c) - 1);
    assert_false(desk_http_resp_msg(r)->keep_alive);
    assert_int_equal(desk_http_resp_feed(r, c + used, 1, &used), -EBADMSG);

    /* HTTP/1.0 without keep-alive closes; body until EOF completes at eof(). */
    desk_http_resp_reset(r);
    const char *e = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end";
    assert_int_equal(desk_http_resp_feed(r, e, strlen(e), &used), 0);
    assert_int_equal(used, strlen(e));
    assert_int_equal(desk_http_resp_eof(r), 1);
    m = desk_http_resp_msg(r);
    assert_int_equal(m->status, 200);
    assert_false(m->keep_alive);
    assert_int_equal(m->body_len, 13);
    assert_memory_equal(m->body, "until the end", 13);

    /* EOF between responses is fine; EOF inside one is -EBADMSG, and sticky. */
    desk_http_resp_reset(r);
    assert_int_equal(desk_http_resp_eof(r), 0);
    const char *t = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort";
    assert_int_equal(desk_http_resp_feed(r, t, strlen(t), &used), 0);
    assert_int_equal(desk_http_resp_eof(r), -EBADMSG);
    assert_int_equal(desk_http_resp_feed(r, "x", 1, &used), -EBADMSG);
    assert_int_equal(used, 0);
    desk_http_resp_destroy(r);
}

static void test_head_and_interim(void **state)
{
    (void)state;
    desk_http_resp_t *r;
    size_t used;
    const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";

    assert_int_equal(desk_http_resp_create(&r, &LIM), 0);
    desk_http_resp_expect_head(r);
    assert_int_equal(desk_http_resp_feed(r, h, strlen(h), &used), 1);
    assert_int_equal(desk_http_resp_msg(r)->content_length, 100000); /* > max_body: fine */
    assert_int_equal(desk_http_resp_msg(r)->body_len, 0);
    size_t off = used;
    assert_int_equal(desk_http_resp_feed(r, h + off, strlen(h) - off, &used), 1);
    assert_int_equal(desk_http_resp_msg(r)->body_len, 2);

    /* 100 Continue comes out as its own response, then the real one. */
    desk_http_resp_reset(r);
    const char *c =
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(desk_http_resp_feed(r, c, strlen(c), &used), 1);
    assert_int_equal(desk_http_resp_msg(r)->status, 100);
    off = used;
    assert_int_equal(desk_http_resp_feed(r, c + off, strlen(c) - off, &used), 1);
    assert_int_equal(desk_http_resp_msg(r)->status, 201);
    assert_int_equal(off + used, strlen(c));

    /* 204 and 304 have no body even with Content-Length (RFC 9110 6.4.1). */
    desk_http_resp_reset(r);
    const char *nb = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
                     "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    off = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(desk_http_resp_feed(r, nb + off, strlen(nb) - off, &used), 1);
        off += used;
        assert_int_equal(desk_http_resp_msg(r)->body_len, i == 2 ? 2 : 0);
    }
    assert_int_equal(off, strlen(nb));

    /* An upgrade stops the parser right after the headers. */
    desk_http_resp_reset(r);
    const char *u = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\n\r\n\x82\x02{}";
    assert_int_equal(desk_http_resp_feed(r, u, strlen(u), &used), 1);
    assert_true(desk_http_resp_msg(r)->upgrade);
    assert_int_equal(used, strlen(u) - 4);
    assert_int_equal(desk_http_resp_feed(r, u + used, 4, &used), -EINVAL);
    desk_http_resp_destroy(r);
}

/* ---- limits and garbage ---- */

static void expect_error(const desk_http_limits_t *lim, const char *wire, size_t len, int want)
{
    desk_http_resp_t *r;
    size_t used;
    int rc = 0, n;

    assert_int_equal(desk_http_resp_create(&r, lim), 0);
    /* Whole, then every split: the same error every time. */
    rc = desk_http_resp_feed(r, wire, len, &used);
    if (rc != want)
        fail_msg("whole: rc %d, expected %d for '%.40s'", rc, want, wire);
    assert_int_equal(desk_http_resp_feed(r, "H", 1, &used), want); /* sticky */
    for (size_t cut = 1; cut < len; cut++) {
        n = run_stream(r, wire, len, cut, NULL, 0, &rc);
        assert_int_equal(n, 0);
        if (rc != want)
            fail_msg("cut %zu: rc %d, expected %d", cut, rc, want);
    }
    n = run_stream(r, wire, len, SIZE_MAX, NULL, 0, &rc);
    assert_int_equal(rc, want);
    desk_http_resp_destroy(r);
}

static void test_oversize(void **state)
{
    (void)state;
    desk_http_limits_t small = {4, 64, 16};
    char big[256];

    /* Declared Content-Length over max_body fails before the body. */
    const char *cl = "HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n";
    expect_error(&small, cl, strlen(cl), -EMSGSIZE);
    /* Exactly max_body is fine. */
    desk_http_resp_t *r;
    size_t used;
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n0123456789abcdef";
    assert_int_equal(desk_http_resp_create(&r, &small), 0);
    assert_int_equal(desk_http_resp_feed(r, ok, strlen(ok), &used), 1);
    assert_int_equal(desk_http_resp_msg(r)->body_len, 16);
    desk_http_resp_destroy(r);
    /* Chunked bodies are counted as they arrive. */
    const char *ch = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "8\r\n01234567\r\n9\r\n012345678\r\n0\r\n\r\n";
    expect_error(&small, ch, strlen(ch), -EMSGSIZE);
    /* Body until EOF too. */
    const char *eof = "HTTP/1.0 200 OK\r\n\r\n0123456789abcdefXYZ";
    expect_error(&small, eof, strlen(eof), -EMSGSIZE);
    /* Too many headers. */
    const char *nh = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n";
    expect_error(&small, nh, strlen(nh), -EMSGSIZE);
    /* Too many header bytes. */
    snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\nX-Long: %070d\r\n\r\n", 7);
    expect_error(&small, big, strlen(big), -EMSGSIZE);
    /* max_body 0: any body is too big, an empty one is fine. */
    desk_http_limits_t none = {4, 64, 0};
    expect_error(&none, ok, strlen(ok), -EMSGSIZE);
    assert_int_equal(desk_http_resp_create(&r, &none), 0);
    assert_int_equal(desk_http_resp_feed(r, RESP_204, strlen(RESP_204), &used), 1);
    desk_http_resp_destroy(r);
}

static void test_garbage(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "HELLO WORLD\r\n\r\n",
        "HTTP/1.1 999 Nope\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",
        "HTTP/9.9 200 OK\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", /* a TLS ClientHello: wrong port */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(&LIM, bad[i], strlen(bad[i]), -EBADMSG);

    /* reset() recovers from a sticky error. */
    desk_http_resp_t *r;
    size_t used;
    assert_int_equal(desk_http_resp_create(&r, &LIM), 0);
    assert_int_equal(desk_http_resp_feed(r, bad[0], strlen(bad[0]), &used), -EBADMSG);
    desk_http_resp_reset(r);
    assert_int_equal(desk_http_resp_feed(r, RESP_204, strlen(RESP_204), &used), 1);
    assert_int_equal(desk_http_resp_msg(r)->status, 204);
    /* Bad arguments. */
    assert_int_equal(desk_http_resp_feed(r, NULL, 1, &used), -EINVAL);
    assert_int_equal(desk_http_resp_feed(r, "x", 1, NULL), -EINVAL);
    assert_int_equal(desk_http_resp_feed(r, "", 0, &used), 0);
    desk_http_resp_destroy(r);
    desk_http_limits_t zero = {0, 10, 10};
    assert_int_equal(desk_http_resp_create(&r, &zero), -EINVAL);
    assert_null(r);
}

/* ---- request writer ---- */

static void test_req_write_post(void **state)
{
    (void)state;
    const char *body = "{\"symbol\":\"AUPH\",\"side\":\"sell\",\"time_in_force\":\"day\","
                       "\"extended_hours\":true,\"qty\":\"2211\",\"type\":\"limit\","
                       "\"limit_price\":\"5.88\"}";
    desk_http_header_t h[] = {
        DESK_HTTP_HDR("APCA-API-KEY-ID", "PKTEST1234"),
        DESK_HTTP_HDR("APCA-API-SECRET-KEY", "secret/abc+def"),
        DESK_HTTP_HDR("Content-Type", "application/json"),
    };
    desk_http_req_t req = {.method = "POST",
                           .host = "paper-api.alpaca.markets",
                           .path = "/v2/orders",
                           .headers = h,
                           .nheaders = 3,
                           .body = body,
                           .body_len = strlen(body)};
    char *want = fmt("POST /v2/orders HTTP/1.1\r\nHost: paper-api.alpaca.markets\r\n"
                     "APCA-API-KEY-ID: PKTEST1234\r\nAPCA-API-SECRET-KEY: secret/abc+def\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: keep-alive\r\n\r\n%s",
                     strlen(body), body);
    size_t n = strlen(want);
    char buf[1024];

    assert_int_equal(desk_http_req_write(&req, buf, sizeof buf), (int)n);
    assert_memory_equal(buf, want, n);
    /* Exact fit works; one byte less is -ENOSPC, at every size. */
    assert_int_equal(desk_http_req_write(&req, buf, n), (int)n);
    for (size_t cap = 0; cap < n; cap++)
        assert_int_equal(desk_http_req_write(&req, buf, cap), -ENOSPC);
    free(want);

    /* POST without a body still says Content-Length: 0. */
    req.body = NULL;
    req.body_len = 0;
    req.nheaders = 0;
    int k = desk_http_req_write(&req, buf, sizeof buf);
    assert_true(k > 0);
    assert_non_null(memmem(buf, (size_t)k, "\r\nContent-Length: 0\r\n", 21));
}

static void test_req_write_get_delete(void **state)
{
    (void)state;
    char buf[512];
    desk_http_req_t g = {.method = "GET",
                         .host = "paper-api.alpaca.markets",
                         .path = "/v2/orders:by_client_order_id",
                         .query = "client_order_id=eb9e2aaa-f71a"};
    const char *want = "GET /v2/orders:by_client_order_id?client_order_id=eb9e2aaa-f71a "
                       "HTTP/1.1\r\nHost: paper-api.alpaca.markets\r\n"
                       "Connection: keep-alive\r\n\r\n";
    int n = desk_http_req_write(&g, buf, sizeof buf);
    assert_int_equal(n, (int)strlen(want));
    assert_memory_equal(buf, want, strlen(want));

    desk_http_req_t d = {.method = "DELETE",
                         .host = "h",
                         .path = "/v2/orders/61e69015",
                         .query = "",
                         .connection = "close"};
    const char *wd = "DELETE /v2/orders/61e69015 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    n = desk_http_req_write(&d, buf, sizeof buf);
    assert_int_equal(n, (int)strlen(wd));
    assert_memory_equal(buf, wd, strlen(wd));
}

static void test_req_write_invalid(void **state)
{
    (void)state;
    char buf[512];
    desk_http_header_t inj = DESK_HTTP_HDR("X-A", "v\r\nX-Injected: 1");
    desk_http_header_t lf = DESK_HTTP_HDR("X-A", "v\nw");
    desk_http_header_t colon = DESK_HTTP_HDR("X:A", "v");
    desk_http_header_t host = DESK_HTTP_HDR("hOsT", "evil");
    desk_http_header_t clen = DESK_HTTP_HDR("Content-Length", "5");
    desk_http_header_t te = DESK_HTTP_HDR("Transfer-Encoding", "chunked");
    desk_http_header_t conn = DESK_HTTP_HDR("Connection", "close");
    desk_http_header_t tab = DESK_HTTP_HDR("X-Tab", "a\tb");
    desk_http_req_t base = {.method = "GET", .host = "h", .path = "/p"};
    desk_http_req_t r;

#define BAD(field, val)                                                                            \
    do {                                                                                           \
        r = base;                                                                                  \
        r.field = val;                                                                             \
        assert_int_equal(desk_http_req_write(&r, buf, sizeof buf), -EINVAL);                       \
    } while (0)
    BAD(method, NULL);
    BAD(method, "");
    BAD(method, "GE T");
    BAD(method, "GET\r\n");
    BAD(host, NULL);
    BAD(host, "");
    BAD(host, "a b");
    BAD(host, "h\r\nX: y");
    BAD(path, NULL);
    BAD(path, "v2/orders");
    BAD(path, "/a b");
    BAD(path, "/a\r\n");
    BAD(path, "/a#frag");
    BAD(query, "a=b c");
    BAD(query, "a=\n");
    BAD(connection, "close\r\nX: y");
    BAD(connection, "");
#undef BAD
    desk_http_header_t *hs[] = {&inj, &lf, &colon, &host, &clen, &te, &conn};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
        r = base;
        r.headers = hs[i];
        r.nheaders = 1;
        assert_int_equal(desk_http_req_write(&r, buf, sizeof buf), -EINVAL);
    }
    r = base;
    r.body_len = 3; /* body NULL */
    assert_int_equal(desk_http_req_write(&r, buf, sizeof buf), -EINVAL);
    r = base;
    r.nheaders = 1; /* headers NULL */
    assert_int_equal(desk_http_req_write(&r, buf, sizeof buf), -EINVAL);
    /* A TAB inside a value is legal. */
    r = base;
    r.headers = &tab;
    r.nheaders = 1;
    assert_true(desk_http_req_write(&r, buf, sizeof buf) > 0);
}

/* Framing: the first CRLFCRLF ends the head and the body follows verbatim. */
static void test_req_write_framing(void **state)
{
    (void)state;
    char buf[256];
    const char body[] = "a\r\n\r\nb"; /* CRLFs inside a body are just bytes */
    desk_http_req_t r = {.method = "PATCH",
                         .host = "h",
                         .path = "/v2/orders/1",
                         .body = body,
                         .body_len = sizeof body - 1};
    int n = desk_http_req_write(&r, buf, sizeof buf);
    assert_true(n > 0);
    char *hdr_end = memmem(buf, (size_t)n, "\r\n\r\n", 4);
    assert_non_null(hdr_end);
    assert_int_equal((size_t)(buf + n - (hdr_end + 4)), sizeof body - 1);
    assert_memory_equal(hdr_end + 4, body, sizeof body - 1);
    assert_non_null(memmem(buf, (size_t)n, "Content-Length: 6\r\n", 19));
}

/* ---- pool ---- */

static void test_pool(void **state)
{
    (void)state;
    desk_http_slot_t slots[3];
    desk_http_pool_t p;
    desk_http_expired_t ex[4];
    uint64_t id = 0;
    int64_t dl = 0;
    const int64_t MS = 1000000;

    assert_int_equal(desk_http_pool_init(&p, slots, 0), -EINVAL);
    assert_int_equal(desk_http_pool_init(&p, slots, 3), 0);
    assert_int_equal(desk_http_pool_acquire(&p, 1, 0, MS), -ENOTCONN);
    assert_int_equal(desk_http_pool_next_deadline(&p, &dl), -ENOENT);
    assert_int_equal(desk_http_pool_up(&p, 0), 0);
    assert_int_equal(desk_http_pool_up(&p, 0), -EINVAL); /* already up */
    assert_int_equal(desk_http_pool_up(&p, 1), 0);
    assert_int_equal(desk_http_pool_up(&p, 3), -EINVAL);
    assert_int_equal(desk_http_pool_acquire(&p, 1, 0, 0), -EINVAL);

    /* Two connections up: two requests in flight, the third waits. */
    int a = desk_http_pool_acquire(&p, 101, 1000 * MS, 100 * MS);
    int b = desk_http_pool_acquire(&p, 102, 1010 * MS, 50 * MS);
    assert_true(a >= 0 && b >= 0 && a != b);
    assert_int_equal(desk_http_pool_acquire(&p, 103, 1020 * MS, MS), -EBUSY);
    assert_int_equal(desk_http_pool_next_deadline(&p, &dl), 0);
    assert_int_equal(dl, 1060 * MS);

    /* Nothing expired yet; at 1060 ms request 102 has. */
    assert_int_equal(desk_http_pool_expired(&p, 1059 * MS, ex, 4), 0);
    assert_int_equal(desk_http_pool_expired(&p, 1065 * MS, ex, 4), 1);
    assert_int_equal(ex[0].slot, (unsigned)b);
    assert_int_equal(ex[0].req_id, 102);
    assert_int_equal(ex[0].late_ns, 5 * MS);
    assert_int_equal(slots[b].state, DESK_HTTP_SLOT_DOWN); /* must reconnect */
    assert_int_equal(desk_http_pool_release(&p, (unsigned)b, &id), -EINVAL);

    /* Request 101 completes: back to idle, reused round-robin. */
    assert_int_equal(desk_http_pool_release(&p, (unsigned)a, &id), 0);
    assert_int_equal(id, 101);
    assert_int_equal(slots[a].nreq, 1);
    assert_int_equal(desk_http_pool_release(&p, (unsigned)a, &id), -EINVAL);
    int c = desk_http_pool_acquire(&p, 104, 2000 * MS, 10 * MS);
    assert_int_equal(c, a);

    /* Losing a busy connection hands back its request. */
    assert_int_equal(desk_http_pool_down(&p, (unsigned)c, &id), 1);
    assert_int_equal(id, 104);
    assert_int_equal(desk_http_pool_down(&p, (unsigned)c, &id), 0);
    assert_int_equal(desk_http_pool_acquire(&p, 105, 0, MS), -ENOTCONN);
    assert_int_equal(desk_http_pool_up(&p, (unsigned)b), 0);
    assert_int_equal(desk_http_pool_acquire(&p, 105, 0, MS), b);
    assert_int_equal(p.busy, 1);

    /* max limits the expired report; the rest waits for the next call. */
    assert_int_equal(desk_http_pool_up(&p, 2), 0);
    assert_int_equal(desk_http_pool_acquire(&p, 106, 0, MS), 2);
    assert_int_equal(desk_http_pool_expired(&p, 10 * MS, ex, 1), 1);
    assert_int_equal(desk_http_pool_expired(&p, 10 * MS, ex, 1), 1);
    assert_int_equal(desk_http_pool_expired(&p, 10 * MS, ex, 1), 0);
    assert_int_equal(p.busy, 0);
    /* A huge timeout saturates instead of overflowing. */
    assert_int_equal(desk_http_pool_up(&p, 2), 0);
    assert_int_equal(desk_http_pool_acquire(&p, 107, INT64_MAX - 5, INT64_MAX), 2);
    assert_int_equal(slots[2].deadline_ns, INT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_200_order),
        cmocka_unit_test(test_204_delete),
        cmocka_unit_test(test_error_bodies),
        cmocka_unit_test(test_429_retry_after),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_header_case),
        cmocka_unit_test(test_keepalive_close_eof),
        cmocka_unit_test(test_head_and_interim),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_req_write_post),
        cmocka_unit_test(test_req_write_get_delete),
        cmocka_unit_test(test_req_write_invalid),
        cmocka_unit_test(test_req_write_framing),
        cmocka_unit_test(test_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
