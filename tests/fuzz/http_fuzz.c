/*
 * http_fuzz.c - libFuzzer target for the HTTP/1.1 response parser
 * (connectors/net/http.h), plus the request writer's injection guard.
 *
 * Input: byte 0 picks the chunk size (1..32, or whole when its low 5 bits
 * are 0) and whether the first response answers a HEAD (bit 7); the rest is
 * fed as server bytes, then EOF.  Invariants (SQLite fuzzcheck style,
 * checked with abort() because RelWithDebInfo defines NDEBUG):
 *   - feed returns 1, 0, -EBADMSG, -EMSGSIZE, or -EINVAL only after an
 *     upgrade; *used <= the bytes offered, == them when it returns 0;
 *   - errors are sticky (the next feed returns the same code);
 *   - every complete response has status 100..599, HTTP/1.x, body_len <=
 *     max_body, body == NULL iff body_len == 0, nheaders <= max_headers,
 *     header bytes <= max_header_bytes, names that are non-empty tokens and
 *     can be found again by desk_http_msg_header(), and a body as long as
 *     Content-Length says when the message has a length-delimited body;
 *   - eof returns 1, 0, -EBADMSG or -EMSGSIZE;
 *   - chunked feeding gives the outcome of feeding everything at once:
 *     the same responses, and an error exactly when that run has one (the
 *     code may differ when two errors race, e.g. header count vs syntax);
 *   - desk_http_req_write() with the input as a header value either refuses
 *     it or writes a request whose head has exactly one CRLFCRLF.
 * Under gcc ctest replays the committed corpus (corpus/http/).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/net/http.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "http_fuzz: %s:%d: check failed: %s\n", __FILE__, __LINE__, #c);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const desk_http_limits_t LIM = {16, 1024, 4096};

/* What one run produced, for comparing two ways of feeding. */
struct outcome {
    int n;         /* complete responses */
    uint64_t hash; /* FNV-1a over status, body and header counts of each */
    int final_rc;  /* last non-1 result of feed, then of eof */
};

static uint64_t mix(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 0x100000001b3ull;
    }
    return h;
}

static bool tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void check_msg(const desk_http_msg_t *m, bool head, struct outcome *o)
{
    size_t hbytes = 0;

    CHECK(m->status >= 100 && m->status <= 599);
    CHECK(m->http_major == 1);
    CHECK(m->body_len <= LIM.max_body);
    CHECK((m->body == NULL) == (m->body_len == 0));
    CHECK(m->nheaders <= LIM.max_headers);
    for (unsigned i = 0; i < m->nheaders; i++) {
        const desk_http_header_t *h = &m->headers[i];
        char name[1100];
        CHECK(h->name_len >= 1 && h->name_len < sizeof name);
        for (size_t k = 0; k < h->name_len; k++)
            CHECK(tchar((unsigned char)h->name[k]));
        hbytes += h->name_len + h->value_len;
        memcpy(name, h->name, h->name_len);
        name[h->name_len] = '\0';
        CHECK(desk_http_msg_header(m, name, NULL, NULL) == 0);
        if (h->value_len > 0)
            CHECK(h->value[0] != ' ' && h->value[h->value_len - 1] != ' ');
    }
    CHECK(hbytes <= LIM.max_header_bytes);
    if (!head && !m->upgrade && !m->chunked && m->content_length >= 0 && m->status >= 200 &&
        m->status != 204 && m->status != 304)
        CHECK(m->body_len == (size_t)m->content_length);
    if (head || m->status < 200 || m->status == 204 || m->status == 304)
        CHECK(m->body_len == 0);
    o->n++;
    o->hash = mix(o->hash, (uint64_t)m->status);
    o->hash = mix(o->hash, m->body_len);
    o->hash = mix(o->hash, m->nheaders);
    o->hash = mix(o->hash, (uint64_t)m->keep_alive << 1 | m->chunked);
}

static struct outcome run(desk_http_resp_t *r, const uint8_t *d, size_t len, size_t step, bool head)
{
    struct outcome o = {0, 0xcbf29ce484222325ull, 0};
    bool head_pending = head, upgraded = false;
    size_t pos = 0;
    int rc = 0;

    desk_http_resp_reset(r);
    if (head)
        desk_http_resp_expect_head(r);
    while (pos < len) {
        size_t end = pos + step < len ? pos + step : len;
        while (pos < end) {
            size_t used = (size_t)-1;
            rc = desk_http_resp_feed(r, d + pos, end - pos, &used);
            CHECK(rc == 1 || rc == 0 || rc == -EBADMSG || rc == -EMSGSIZE ||
                  (rc == -EINVAL && upgraded));
            CHECK(used <= end - pos);
            pos += used;
            if (rc < 0) {
                int again;
                size_t u2;
                CHECK(used == 0 || rc != -EINVAL);
                again = desk_http_resp_feed(r, "x", 1, &u2);
                CHECK(again == rc && u2 == 0); /* sticky */
                o.final_rc = rc;
                return o;
            }
            if (rc == 0) {
                CHECK(pos == end);
                break;
            }
            check_msg(desk_http_resp_msg(r), head_pending, &o);
            head_pending = false;
            if (desk_http_resp_msg(r)->upgrade) {
                upgraded = true;
                o.final_rc = 2; /* the rest is another protocol */
                return o;
            }
        }
    }
    rc = desk_http_resp_eof(r);
    CHECK(rc == 1 || rc == 0 || rc == -EBADMSG || rc == -EMSGSIZE);
    if (rc == 1)
        check_msg(desk_http_resp_msg(r), head_pending, &o);
    o.final_rc = rc;
    return o;
}

/* The writer never lets CR or LF from a value through. */
static void check_writer(const uint8_t *d, size_t len)
{
    char buf[2048];
    desk_http_header_t h = {"X-Fuzz", 6, (const char *)d, len};
    desk_http_req_t req = {
        .method = "GET", .host = "h", .path = "/p", .headers = &h, .nheaders = 1};
    int n = desk_http_req_write(&req, buf, sizeof buf);

    CHECK(n == -EINVAL || n == -ENOSPC || n > 0);
    if (n > 0) {
        CHECK(memchr(d, '\r', len) == NULL && memchr(d, '\n', len) == NULL);
        char *end = memmem(buf, (size_t)n, "\r\n\r\n", 4);
        CHECK(end != NULL && end + 4 == buf + n); /* no body, one terminator */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static desk_http_resp_t *r;
    size_t step;
    bool head;

    if (len == 0)
        return 0;
    if (r == NULL)
        CHECK(desk_http_resp_create(&r, &LIM) == 0);
    step = data[0] & 0x1f;
    head = (data[0] & 0x80) != 0;
    data++;
    len--;
    struct outcome whole = run(r, data, len, len > 0 ? len : 1, head);
    if (step > 0) {
        struct outcome parts = run(r, data, len, step, head);
        CHECK(parts.n == whole.n && parts.hash == whole.hash);
        /* Which error wins may depend on the cuts (the 17th header's name
         * is over max_headers before its bad byte is seen), not whether. */
        CHECK((parts.final_rc < 0) == (whole.final_rc < 0));
        if (parts.final_rc >= 0)
            CHECK(parts.final_rc == whole.final_rc);
    }
    check_writer(data, len);
    return 0;
}
