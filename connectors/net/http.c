/*
 * http.c - HTTP/1.1 client codec (see http.h for the contract).
 *
 * The response parser wraps http-parser 2.9 (Debian libhttp-parser): that
 * library is a byte-at-a-time state machine that never allocates and calls
 * back with pieces of the status line, header names and values, and body.
 * A piece may be cut anywhere by the chunk boundaries of the input, so this
 * file copies every piece into the parser's fixed buffers:
 *
 *   - header names and values go into `hbuf` back to back; a header table
 *     entry points at its name and value there.  A name callback after a
 *     value callback starts a new header; consecutive name (or value)
 *     callbacks continue the same one (http-parser calls the value callback,
 *     possibly with length 0, between two names, even for an empty value);
 *   - body pieces (already de-chunked by http-parser) go into `body`.
 *
 * One response per feed: on_message_complete pauses the parser, so
 * http_parser_execute() returns just past the response's last byte and the
 * caller sees pipelined responses one at a time.  The next feed unpauses.
 *
 * Errors from our callbacks (limits) are kept in `cb_err` and win over the
 * generic HPE_CB_* code the parser reports; every error is sticky.
 */
#include "connectors/net/http.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "core/err.h"

/* Which header callback ran last: decides whether a piece starts a header. */
enum { LAST_NONE = 0, LAST_FIELD = 1, LAST_VALUE = 2 };

struct desk_http_resp {
    http_parser hp;           /* http-parser state; hp.data points back here */
    desk_http_limits_t lim;   /* capacities fixed at create */
    desk_http_msg_t msg;      /* the response being built, or the last complete one */
    desk_http_header_t *hdrs; /* lim.max_headers entries (inside the same allocation) */
    char *hbuf;               /* lim.max_header_bytes bytes of names and values */
    size_t hlen;              /* bytes used in hbuf by the current response */
    uint8_t *body;            /* lim.max_body bytes (NULL when max_body == 0) */
    int err;                  /* sticky error (0 while healthy) */
    int cb_err;               /* error raised by a callback during one execute */
    uint8_t last;             /* LAST_*: the previous header callback */
    bool in_msg;              /* a response has begun and is not complete */
    bool complete;            /* msg holds a complete response (cleared by feed) */
    bool head_next;           /* the next response answers a HEAD request */
    bool head_cur;            /* the current response answers a HEAD request */
    bool upgraded;            /* a 101 upgrade ended HTTP on this connection */
};

/* ------------------------------------------------------------------------
 * Small pure helpers
 * ------------------------------------------------------------------------ */

/* ASCII lower case, independent of the locale. */
static inline unsigned char lc(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* Case-insensitive ASCII equality of two byte strings. */
static bool ieq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++)
        if (lc((unsigned char)a[i]) != lc((unsigned char)b[i]))
            return false;
    return true;
}

/* RFC 9110 tchar: the characters of a method or a header name. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

/* A request-target or Host piece: no control byte, space, DEL or '#'. */
static bool is_target(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '#')
            return false;
    }
    return true;
}

/* A field value: visible ASCII, SP, HTAB and obs-text; no CR, LF, NUL, DEL. */
static bool is_field_value(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------------
 * Request writer
 * ------------------------------------------------------------------------ */

/* An output cursor that remembers overflow instead of checking every call. */
struct wcur {
    char *p;       /* next byte to write */
    char *end;     /* one past the buffer */
    bool overflow; /* a write did not fit: the result is -ENOSPC */
};

static void put(struct wcur *w, const void *s, size_t n)
{
    if (w->overflow || (size_t)(w->end - w->p) < n) {
        w->overflow = true;
        return;
    }
    if (n > 0)
        memcpy(w->p, s, n);
    w->p += n;
}

static void put_str(struct wcur *w, const char *s)
{
    put(w, s, strlen(s));
}

/* Decimal of v without printf. */
static void put_u64(struct wcur *w, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    put(w, tmp + i, sizeof tmp - i);
}

/* Methods whose requests carry Content-Length even with an empty body. */
static bool method_wants_length(const char *m)
{
    return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

/* Header names the writer emits itself and refuses from the caller. */
static bool owned_header(const char *n, size_t len)
{
    return ieq(n, len, "host", 4) || ieq(n, len, "content-length", 14) ||
           ieq(n, len, "transfer-encoding", 17) || ieq(n, len, "connection", 10);
}

int desk_http_req_write(const desk_http_req_t *req, char *buf, size_t cap)
{
    struct wcur w = {buf, buf + cap, false};
    const char *conn;
    size_t mlen, hlen, plen, qlen, clen;

    if (req == NULL || buf == NULL || req->method == NULL || req->host == NULL ||
        req->path == NULL || (req->nheaders > 0 && req->headers == NULL) ||
        (req->body == NULL && req->body_len > 0))
        return -EINVAL;
    /* Validate everything before writing anything: a refused request leaves
     * no half-written bytes the caller might be tempted to send. */
    conn = req->connection != NULL ? req->connection : "keep-alive";
    mlen = strlen(req->method);
    hlen = strlen(req->host);
    plen = strlen(req->path);
    qlen = req->query != NULL ? strlen(req->query) : 0;
    clen = strlen(conn);
    if (!is_token(req->method, mlen) || hlen == 0 || !is_target(req->host, hlen) || plen == 0 ||
        req->path[0] != '/' || !is_target(req->path, plen) || !is_target(req->query, qlen) ||
        clen == 0 || !is_field_value(conn, clen))
        return -EINVAL;
    for (unsigned i = 0; i < req->nheaders; i++) {
        const desk_http_header_t *h = &req->headers[i];
        if (h->name == NULL || (h->value == NULL && h->value_len > 0) ||
            !is_token(h->name, h->name_len) || owned_header(h->name, h->name_len) ||
            !is_field_value(h->value, h->value_len))
            return -EINVAL;
    }

    /* Request line, then Host first (RFC 9112 3.2 recommends it early). */
    put(&w, req->method, mlen);
    put(&w, " ", 1);
    put(&w, req->path, plen);
    if (qlen > 0) {
        put(&w, "?", 1);
        put(&w, req->query, qlen);
    }
    put_str(&w, " HTTP/1.1\r\nHost: ");
    put(&w, req->host, hlen);
    put(&w, "\r\n", 2);
    for (unsigned i = 0; i < req->nheaders; i++) {
        const desk_http_header_t *h = &req->headers[i];
        put(&w, h->name, h->name_len);
        put(&w, ": ", 2);
        put(&w, h->value, h->value_len);
        put(&w, "\r\n", 2);
    }
    /* Content-Length, never chunked: bodies are small JSON documents
     * built in full before the request is written. */
    if (req->body_len > 0 || method_wants_length(req->method)) {
        put_str(&w, "Content-Length: ");
        put_u64(&w, req->body_len);
        put(&w, "\r\n", 2);
    }
    put_str(&w, "Connection: ");
    put(&w, conn, clen);
    put(&w, "\r\n\r\n", 4);
    put(&w, req->body, req->body_len);
    if (w.overflow) /* the caller sizes its buffer for the largest request */
        return -ENOSPC;
    if (w.p - buf > INT_MAX)
        return -ENOSPC; /* the count must fit the int result */
    return (int)(w.p - buf);
}

/* ------------------------------------------------------------------------
 * Response parser: http-parser callbacks
 * ------------------------------------------------------------------------ */

/* Strip blanks around the value of the last header (http-parser keeps trailing ones). */
static void finish_value(struct desk_http_resp *r)
{
    desk_http_header_t *h;

    if (r->msg.nheaders == 0 || r->last == LAST_NONE)
        return;
    h = &r->hdrs[r->msg.nheaders - 1];
    while (h->value_len > 0 && (h->value[0] == ' ' || h->value[0] == '\t')) {
        h->value++;
        h->value_len--;
    }
    while (h->value_len > 0 &&
           (h->value[h->value_len - 1] == ' ' || h->value[h->value_len - 1] == '\t'))
        h->value_len--;
    r->last = LAST_NONE;
}

/* Append a piece to hbuf; -EMSGSIZE past max_header_bytes. */
static int hbuf_put(struct desk_http_resp *r, const char *at, size_t len)
{
    if (len > r->lim.max_header_bytes - r->hlen)
        return -EMSGSIZE;
    memcpy(r->hbuf + r->hlen, at, len);
    r->hlen += len;
    return 0;
}

static int on_message_begin(http_parser *hp)
{
    struct desk_http_resp *r = hp->data;

    memset(&r->msg, 0, sizeof r->msg);
    r->msg.headers = r->hdrs;
    r->msg.content_length = -1;
    r->hlen = 0;
    r->last = LAST_NONE;
    r->in_msg = true;
    r->complete = false;
    r->head_cur = r->head_next;
    r->head_next = false;
    return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
    struct desk_http_resp *r = hp->data;
    desk_http_header_t *h;

    if (r->last != LAST_FIELD) {
        finish_value(r);
        if (r->msg.nheaders == r->lim.max_headers) {
            r->cb_err = -EMSGSIZE;
            return -1;
        }
        h = &r->hdrs[r->msg.nheaders++];
        h->name = r->hbuf + r->hlen;
        h->name_len = 0;
        h->value = r->hbuf + r->hlen; /* empty until a value piece arrives */
        h->value_len = 0;
        r->last = LAST_FIELD;
    }
    h = &r->hdrs[r->msg.nheaders - 1];
    /* http-parser (non-strict build) lets spaces and other non-token bytes
     * into names; RFC 9112 5.1 says reject them. */
    for (size_t i = 0; i < len; i++) {
        if (!is_tchar((unsigned char)at[i])) {
            r->cb_err = -EBADMSG;
            return -1;
        }
    }
    if ((r->cb_err = hbuf_put(r, at, len)) != 0)
        return -1;
    h->name_len += len;
    return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
    struct desk_http_resp *r = hp->data;
    desk_http_header_t *h;

    if (r->msg.nheaders == 0) { /* cannot happen: http-parser sends a name first */
        r->cb_err = -EBADMSG;
        return -1;
    }
    h = &r->hdrs[r->msg.nheaders - 1];
    if (r->last != LAST_VALUE) {
        h->value = r->hbuf + r->hlen;
        h->value_len = 0;
        r->last = LAST_VALUE;
    }
    if ((r->cb_err = hbuf_put(r, at, len)) != 0)
        return -1;
    h->value_len += len;
    return 0;
}

/* Responses that never carry a body (RFC 9110 6.4.1). */
static bool status_has_no_body(unsigned s)
{
    return s < 200 || s == 204 || s == 304;
}

static int on_headers_complete(http_parser *hp)
{
    struct desk_http_resp *r = hp->data;

    finish_value(r);
    if (hp->status_code < 100 || hp->status_code > 599 || hp->http_major != 1) {
        r->cb_err = -EBADMSG;
        return -1;
    }
    r->msg.status = (int)hp->status_code;
    r->msg.http_major = hp->http_major;
    r->msg.http_minor = hp->http_minor;
    r->msg.chunked = (hp->flags & F_CHUNKED) != 0;
    if (hp->content_length != ULLONG_MAX) {
        if (hp->content_length > (uint64_t)INT64_MAX) {
            r->cb_err = -EMSGSIZE;
            return -1;
        }
        r->msg.content_length = (int64_t)hp->content_length;
        /* Refuse an announced oversize body before reading any of it. */
        if (!r->head_cur && !status_has_no_body(hp->status_code) &&
            hp->content_length > r->lim.max_body) {
            r->cb_err = -EMSGSIZE;
            return -1;
        }
    }
    /* 1 skips the body: a HEAD answer, and 1xx/204/304, which never carry one
     * whatever Content-Length says (http-parser would read one). */
    return (r->head_cur || status_has_no_body(hp->status_code)) ? 1 : 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    struct desk_http_resp *r = hp->data;

    if (len > r->lim.max_body - r->msg.body_len) {
        r->cb_err = -EMSGSIZE;
        return -1;
    }
    if (len == 0)
        return 0;
    memcpy(r->body + r->msg.body_len, at, len);
    r->msg.body_len += len;
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    struct desk_http_resp *r = hp->data;

    finish_value(r); /* the last trailer, if any */
    r->msg.keep_alive = http_should_keep_alive(hp) != 0;
    r->msg.upgrade = hp->upgrade != 0;
    r->msg.body = r->msg.body_len > 0 ? r->body : NULL;
    r->in_msg = false;
    r->complete = true;
    /* Stop execute() right after this byte: one response per feed. */
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ------------------------------------------------------------------------
 * Response parser: public API
 * ------------------------------------------------------------------------ */

DESK_COLD int desk_http_resp_create(desk_http_resp_t **out, const desk_http_limits_t *lim)
{
    struct desk_http_resp *r;
    size_t hdr_off, hbuf_off, body_off, total;

    if (out == NULL || lim == NULL)
        return DESK_ERR(-EINVAL, "desk_http_resp_create: NULL argument");
    *out = NULL;
    if (lim->max_headers == 0 || lim->max_header_bytes == 0)
        return DESK_ERR(-EINVAL, "HTTP parser limits need max_headers and max_header_bytes > 0");
    if (lim->max_headers > (1u << 20) || lim->max_header_bytes > ((size_t)1 << 30) ||
        lim->max_body > ((size_t)1 << 34))
        return DESK_ERR(-EINVAL, "HTTP parser limits are implausibly large");
    /* One block: struct | header table | header bytes | body. */
    hdr_off = (sizeof *r + 15) & ~(size_t)15;
    hbuf_off = hdr_off + (size_t)lim->max_headers * sizeof(desk_http_header_t);
    body_off = hbuf_off + ((lim->max_header_bytes + 15) & ~(size_t)15);
    total = body_off + lim->max_body;
    r = calloc(1, total);
    if (r == NULL)
        return DESK_ERR(-ENOMEM, "HTTP parser: cannot allocate %zu bytes", total);
    r->lim = *lim;
    r->hdrs = (desk_http_header_t *)(void *)((char *)r + hdr_off);
    r->hbuf = (char *)r + hbuf_off;
    r->body = lim->max_body > 0 ? (uint8_t *)r + body_off : NULL;
    desk_http_resp_reset(r);
    *out = r;
    return 0;
}

DESK_COLD void desk_http_resp_destroy(desk_http_resp_t *r)
{
    free(r);
}

void desk_http_resp_reset(desk_http_resp_t *r)
{
    http_parser_init(&r->hp, HTTP_RESPONSE);
    r->hp.data = r;
    memset(&r->msg, 0, sizeof r->msg);
    r->msg.headers = r->hdrs;
    r->msg.content_length = -1;
    r->hlen = 0;
    r->err = 0;
    r->cb_err = 0;
    r->last = LAST_NONE;
    r->in_msg = false;
    r->complete = false;
    r->head_next = false;
    r->head_cur = false;
    r->upgraded = false;
}

void desk_http_resp_expect_head(desk_http_resp_t *r)
{
    r->head_next = true;
}

/* Map an http-parser error to our codes (a callback's own code wins). */
static int parse_error(struct desk_http_resp *r, enum http_errno e)
{
    if (r->cb_err != 0)
        return r->cb_err;
    if (e == HPE_HEADER_OVERFLOW)
        return -EMSGSIZE; /* http-parser's own 80 KiB header cap */
    return -EBADMSG;
}

int desk_http_resp_feed(desk_http_resp_t *r, const void *buf, size_t len, size_t *used)
{
    size_t n;
    enum http_errno e;

    if (used != NULL)
        *used = 0;
    if (r == NULL || used == NULL || (buf == NULL && len > 0))
        return -EINVAL;
    if (r->err != 0)
        return r->err;
    if (r->upgraded)
        return -EINVAL;
    /* The previous response's view dies here (its buffers get reused). */
    r->complete = false;
    /* Resume after the pause that ended the previous response. */
    if (HTTP_PARSER_ERRNO(&r->hp) == HPE_PAUSED)
        http_parser_pause(&r->hp, 0);
    if (len == 0)
        return 0; /* execute() with 0 bytes would mean EOF */
    r->cb_err = 0;
    n = http_parser_execute(&r->hp, &settings, buf, len);
    e = HTTP_PARSER_ERRNO(&r->hp);
    *used = n;
    /* Paused by on_message_complete, or (upgrade) returned right after it. */
    if (e == HPE_PAUSED || (e == HPE_OK && r->complete)) {
        if (r->msg.upgrade)
            r->upgraded = true;
        return 1;
    }
    if (e != HPE_OK)
        return r->err = parse_error(r, e);
    return 0;
}

int desk_http_resp_eof(desk_http_resp_t *r)
{
    enum http_errno e;

    if (r == NULL)
        return -EINVAL;
    if (r->err != 0)
        return r->err;
    r->complete = false;
    if (r->upgraded || !r->in_msg)
        return 0;
    if (HTTP_PARSER_ERRNO(&r->hp) == HPE_PAUSED)
        http_parser_pause(&r->hp, 0);
    r->cb_err = 0;
    http_parser_execute(&r->hp, &settings, NULL, 0);
    e = HTTP_PARSER_ERRNO(&r->hp);
    if (r->complete)
        return 1;
    if (e == HPE_OK || e == HPE_PAUSED)
        e = HPE_INVALID_EOF_STATE; /* a response was in progress and did not end */
    return r->err = parse_error(r, e);
}

const desk_http_msg_t *desk_http_resp_msg(const desk_http_resp_t *r)
{
    return &r->msg;
}

int desk_http_msg_header(const desk_http_msg_t *m, const char *name, const char **val, size_t *len)
{
    size_t nlen = strlen(name);

    for (unsigned i = 0; i < m->nheaders; i++) {
        const desk_http_header_t *h = &m->headers[i];
        if (ieq(h->name, h->name_len, name, nlen)) {
            if (val != NULL)
                *val = h->value;
            if (len != NULL)
                *len = h->value_len;
            return 0;
        }
    }
    return -ENOENT;
}

int desk_http_msg_header_i64(const desk_http_msg_t *m, const char *name, int64_t *out)
{
    const char *v;
    size_t n;
    uint64_t acc = 0;
    int rc = desk_http_msg_header(m, name, &v, &n);

    if (rc != 0)
        return rc;
    if (n == 0)
        return -EBADMSG;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)((unsigned char)v[i] - '0');
        if (d > 9)
            return -EBADMSG;
        if (acc > ((uint64_t)INT64_MAX - d) / 10)
            return -ERANGE;
        acc = acc * 10 + d;
    }
    *out = (int64_t)acc;
    return 0;
}

bool desk_http_msg_has_token(const desk_http_msg_t *m, const char *name, const char *token)
{
    size_t nlen = strlen(name), tlen = strlen(token);

    for (unsigned i = 0; i < m->nheaders; i++) {
        const desk_http_header_t *h = &m->headers[i];
        size_t p = 0;

        if (!ieq(h->name, h->name_len, name, nlen))
            continue;
        /* Walk the comma-separated elements, trimming optional whitespace. */
        while (p <= h->value_len) {
            size_t s = p, e;
            while (p < h->value_len && h->value[p] != ',')
                p++;
            e = p;
            while (s < e && (h->value[s] == ' ' || h->value[s] == '\t'))
                s++;
            while (e > s && (h->value[e - 1] == ' ' || h->value[e - 1] == '\t'))
                e--;
            if (ieq(h->value + s, e - s, token, tlen))
                return true;
            p++; /* skip the comma (or step past the end) */
        }
    }
    return false;
}

/* ------------------------------------------------------------------------
 * Pool
 * ------------------------------------------------------------------------ */

/*
 * The pool is plain bookkeeping for one thread: no atomics, no clock.  The
 * invariant is busy == number of slots in BUSY, kept by every transition
 * below; acquire starts its search after the slot it used last so load is
 * spread over the connections and each stays warm (TLS session, TCP window).
 */
int desk_http_pool_init(desk_http_pool_t *p, desk_http_slot_t *slots, unsigned n)
{
    if (p == NULL || slots == NULL || n == 0)
        return -EINVAL;
    memset(slots, 0, (size_t)n * sizeof *slots);
    p->slots = slots;
    p->n = n;
    p->next = 0;
    p->busy = 0;
    return 0;
}

int desk_http_pool_up(desk_http_pool_t *p, unsigned i)
{
    if (i >= p->n || p->slots[i].state != DESK_HTTP_SLOT_DOWN)
        return -EINVAL;
    p->slots[i].state = DESK_HTTP_SLOT_IDLE;
    p->slots[i].nreq = 0;
    return 0;
}

int desk_http_pool_down(desk_http_pool_t *p, unsigned i, uint64_t *req_id)
{
    desk_http_slot_t *s;

    if (i >= p->n)
        return -EINVAL;
    s = &p->slots[i];
    if (s->state == DESK_HTTP_SLOT_BUSY) {
        if (req_id != NULL)
            *req_id = s->req_id;
        s->state = DESK_HTTP_SLOT_DOWN;
        p->busy--;
        return 1;
    }
    s->state = DESK_HTTP_SLOT_DOWN;
    return 0;
}

int desk_http_pool_acquire(desk_http_pool_t *p, uint64_t req_id, int64_t now_ns, int64_t timeout_ns)
{
    bool any_up = false;

    if (timeout_ns <= 0)
        return -EINVAL;
    for (unsigned k = 0; k < p->n; k++) {
        unsigned i = (p->next + k) % p->n;
        desk_http_slot_t *s = &p->slots[i];

        if (s->state == DESK_HTTP_SLOT_BUSY)
            any_up = true;
        if (s->state != DESK_HTTP_SLOT_IDLE)
            continue;
        s->state = DESK_HTTP_SLOT_BUSY;
        s->req_id = req_id;
        s->sent_ns = now_ns;
        /* Saturate instead of overflowing on absurd timeouts. */
        s->deadline_ns = now_ns > INT64_MAX - timeout_ns ? INT64_MAX : now_ns + timeout_ns;
        p->busy++;
        p->next = (i + 1) % p->n;
        return (int)i;
    }
    return any_up ? -EBUSY : -ENOTCONN;
}

int desk_http_pool_release(desk_http_pool_t *p, unsigned i, uint64_t *req_id)
{
    desk_http_slot_t *s;

    if (i >= p->n || p->slots[i].state != DESK_HTTP_SLOT_BUSY)
        return -EINVAL;
    s = &p->slots[i];
    if (req_id != NULL)
        *req_id = s->req_id;
    s->state = DESK_HTTP_SLOT_IDLE;
    s->nreq++;
    p->busy--;
    return 0;
}

int desk_http_pool_expired(desk_http_pool_t *p, int64_t now_ns, desk_http_expired_t *out,
                           unsigned max)
{
    unsigned got = 0;

    if (p->busy == 0) /* the common case on every timer tick: O(1) */
        return 0;
    for (unsigned i = 0; i < p->n && got < max; i++) {
        desk_http_slot_t *s = &p->slots[i];

        if (s->state != DESK_HTTP_SLOT_BUSY || s->deadline_ns > now_ns)
            continue;
        out[got].slot = i;
        out[got].req_id = s->req_id;
        out[got].late_ns = now_ns - s->deadline_ns;
        got++;
        /* DOWN, not IDLE: the late response may still arrive on this
         * connection and would be taken for the next request's answer. */
        s->state = DESK_HTTP_SLOT_DOWN;
        p->busy--;
    }
    return (int)got;
}

int desk_http_pool_next_deadline(const desk_http_pool_t *p, int64_t *deadline_ns)
{
    bool found = false;
    int64_t best = INT64_MAX;

    for (unsigned i = 0; i < p->n; i++) {
        const desk_http_slot_t *s = &p->slots[i];
        if (s->state == DESK_HTTP_SLOT_BUSY && (!found || s->deadline_ns < best)) {
            best = s->deadline_ns;
            found = true;
        }
    }
    if (!found)
        return -ENOENT;
    *deadline_ns = best;
    return 0;
}
