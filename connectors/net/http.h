/*
 * http.h - HTTP/1.1 client codec: a request writer, a streaming response
 * parser (on Debian's http-parser 2.9) and a connection-pool bookkeeper.
 *
 * Transport-agnostic.  Nothing here opens a socket, reads a clock or knows
 * about TLS: the connection layer hands the parser "bytes that arrived" and
 * sends the bytes the writer produced.  Times are caller-provided `now_ns`.
 *
 * Request writer.  desk_http_req_write() serialises one request (request
 * line, Host, the caller's headers, Content-Length, Connection, body) into a
 * caller buffer.  It writes all of it or nothing (-ENOSPC), formats numbers
 * by hand (no printf) and refuses CR, LF and other control bytes in every
 * field, so a value from a venue or a config file cannot inject a header.
 *
 * Response parser.  desk_http_resp_feed() accepts arbitrary chunks (a split
 * at any byte is fine) and stops at the end of each response, so several
 * pipelined responses in one buffer come out one per call:
 *
 *     size_t off = 0, used;
 *     while (off < len) {
 *         int rc = desk_http_resp_feed(r, buf + off, len - off, &used);
 *         off += used;
 *         if (rc < 0) -> close the connection (rc says why)
 *         if (rc == 0) break;                          -> need more bytes
 *         handle(desk_http_resp_msg(r));               -> one full response
 *     }
 *
 * Status, headers and body are copied into fixed buffers sized once at
 * create (max headers, max header bytes, max body), so the caller may reuse
 * its receive buffer as soon as feed returns, and nothing is allocated per
 * message.  Header names are looked up case-insensitively; values have
 * surrounding blanks removed.  Content-Length and chunked bodies are
 * supported; a body without either ends at EOF (desk_http_resp_eof()).
 * 1xx, 204 and 304 responses never have a body (RFC 9110 6.4.1), even if
 * they carry Content-Length.
 *
 * Pool.  desk_http_pool_t is state only: which of N keep-alive connections
 * to a venue is down, idle or busy, which request each busy one carries and
 * when that request times out.  HTTP/1.1 without pipelining carries one
 * request per connection at a time, so a busy slot is exactly one request.
 *
 * Thread-safety: every object here belongs to one thread (the connector
 * thread that owns the connection); none is shared.  The pure functions
 * (desk_http_req_write, desk_http_msg_*) may be called from any thread.
 */
#ifndef DESK_HTTP_H
#define DESK_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/desk_compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One header: not NUL-terminated, lengths are authoritative. */
typedef struct desk_http_header {
    const char *name;  /* field name, e.g. "APCA-API-KEY-ID" (borrowed) */
    size_t name_len;   /* bytes of name */
    const char *value; /* field value without surrounding blanks (borrowed) */
    size_t value_len;  /* bytes of value */
} desk_http_header_t;

/* A header from two C strings (computes the lengths with strlen). */
#define DESK_HTTP_HDR(n, v)                                                                        \
    {                                                                                              \
        (n), strlen(n), (v), strlen(v)                                                             \
    }

/* ------------------------------------------------------------------------
 * Request writer
 * ------------------------------------------------------------------------ */

/* One request to serialise.  Every pointer is borrowed for the call only. */
typedef struct desk_http_req {
    const char *method;                /* "GET", "POST", "PATCH", "DELETE": a token */
    const char *host;                  /* Host value, e.g. "paper-api.alpaca.markets" */
    const char *path;                  /* origin-form path starting with '/' */
    const char *query;                 /* query string without '?', or NULL/"" for none */
    const desk_http_header_t *headers; /* extra headers (auth, Content-Type), or NULL */
    unsigned nheaders;                 /* entries in headers */
    const void *body;                  /* body bytes, or NULL when body_len is 0 */
    size_t body_len;                   /* bytes of body */
    const char *connection;            /* Connection value; NULL means "keep-alive" */
} desk_http_req_t;

/*
 * Write `req` into buf[0..cap) as an HTTP/1.1 request:
 *
 *     METHOD path[?query] HTTP/1.1\r\n
 *     Host: host\r\n
 *     <headers in the given order>
 *     Content-Length: n\r\n           (when body_len > 0, or for POST/PUT/PATCH)
 *     Connection: keep-alive\r\n      (or req->connection)
 *     \r\n
 *     body
 *
 * Nothing is NUL-terminated.  The caller must not pass Host, Content-Length,
 * Transfer-Encoding or Connection among `headers` (the writer owns them).
 *
 * Returns the number of bytes written (> 0); -ENOSPC if the request does not
 * fit in cap (buf may hold a partial write, which the caller must not send);
 * -EINVAL for a missing method/host/path, a path not starting with '/', a
 * method or header name that is not an RFC 9110 token, a control byte
 * (CR, LF, NUL, ...) or space in method/host/path/query, a control byte other
 * than TAB in a header value, a header the writer owns, or body == NULL with
 * body_len > 0.  Never allocates, never formats with printf; hot-path safe.
 * Any thread (pure function).
 */
int desk_http_req_write(const desk_http_req_t *req, char *buf, size_t cap);

/* ------------------------------------------------------------------------
 * Response parser
 * ------------------------------------------------------------------------ */

/* Fixed capacities of one parser, chosen at create. */
typedef struct desk_http_limits {
    unsigned max_headers;    /* header (and trailer) lines kept; more is -EMSGSIZE */
    size_t max_header_bytes; /* bytes of names + values kept; more is -EMSGSIZE */
    size_t max_body;         /* body bytes kept (after de-chunking); more is -EMSGSIZE */
} desk_http_limits_t;

/*
 * One parsed response.  Valid from a desk_http_resp_feed() that returned 1
 * until the next feed/eof/reset/destroy on the same parser: pointers point
 * into the parser's own buffers.
 */
typedef struct desk_http_msg {
    int status;                        /* 100..599 */
    unsigned http_major;               /* 1 */
    unsigned http_minor;               /* 0 or 1 */
    bool keep_alive;                   /* connection may carry another request */
    bool chunked;                      /* body came with Transfer-Encoding: chunked */
    bool upgrade;                      /* 101 with Upgrade: the parser stops here */
    int64_t content_length;            /* Content-Length header value, -1 if absent */
    const desk_http_header_t *headers; /* nheaders entries, in wire order (trailers last) */
    unsigned nheaders;                 /* headers kept */
    const uint8_t *body;               /* body bytes (de-chunked); NULL if none */
    size_t body_len;                   /* bytes of body */
} desk_http_msg_t;

typedef struct desk_http_resp desk_http_resp_t;

/*
 * Create a response parser with the given limits (cold: one allocation for
 * the parser, the header table, the header bytes and the body buffer).
 * Returns 0 and *out; -EINVAL for NULL arguments, max_headers == 0 or
 * max_header_bytes == 0 (max_body may be 0: any body is then -EMSGSIZE);
 * -ENOMEM.  Any thread; the parser then belongs to the caller's thread.
 */
DESK_COLD int desk_http_resp_create(desk_http_resp_t **out, const desk_http_limits_t *lim);

/* Free a parser (NULL is a no-op).  Owner thread. */
DESK_COLD void desk_http_resp_destroy(desk_http_resp_t *r);

/*
 * Forget all state (partial response, sticky error, upgrade) so the parser
 * can serve a new connection.  Never fails; owner thread.
 */
void desk_http_resp_reset(desk_http_resp_t *r);

/*
 * Declare that the next response answers a HEAD request (headers only, no
 * body even if Content-Length says otherwise).  Applies to one response.
 */
void desk_http_resp_expect_head(desk_http_resp_t *r);

/*
 * Feed `len` bytes that arrived on the connection.  *used receives the
 * number of bytes consumed; bytes past *used belong to the next response
 * and must be fed again (pipelining).
 *
 * Returns:
 *   1          one response is complete: read it with desk_http_resp_msg();
 *              *used <= len.
 *   0          all bytes consumed (*used == len), response not complete yet.
 *   -EBADMSG   malformed bytes: bad status line, header syntax (a header name
 *              that is not a token), chunk size,
 *              status outside 100..599, an HTTP version other than 1.x,
 *              both Content-Length and chunked,
 *              bytes after a "Connection: close" response.
 *   -EMSGSIZE  the response exceeds a limit (body, header count, header
 *              bytes); a declared Content-Length above max_body fails at
 *              the end of the headers, before any body byte is read.
 *   -EINVAL    NULL arguments, or the parser already stopped after an
 *              upgrade (101) response.
 * Errors are sticky: every later feed returns the same error until
 * desk_http_resp_reset(); the connection must be closed.  No allocation,
 * no syscall.  Owner thread.
 */
int desk_http_resp_feed(desk_http_resp_t *r, const void *buf, size_t len, size_t *used);

/*
 * The peer closed the connection.  Returns 1 if that completed a response
 * whose body runs until EOF (no Content-Length, not chunked); 0 if no
 * response was in progress; -EBADMSG if a response was cut short; or the
 * sticky error.  Owner thread.
 */
int desk_http_resp_eof(desk_http_resp_t *r);

/* The last complete response (see desk_http_msg_t for its lifetime). */
const desk_http_msg_t *desk_http_resp_msg(const desk_http_resp_t *r);

/*
 * Find header `name` (NUL-terminated, compared case-insensitively in ASCII)
 * in `m`.  Returns 0 and the first match's value in *val and *len (either may be
 * NULL); -ENOENT if absent.  Pure function.
 */
int desk_http_msg_header(const desk_http_msg_t *m, const char *name, const char **val, size_t *len);

/*
 * Header `name` as a non-negative decimal integer (Retry-After in seconds,
 * Content-Length, X-RateLimit-Remaining, X-MBX-USED-WEIGHT-1M ...).
 * Returns 0 and *out; -ENOENT if absent; -EBADMSG if the value is not all
 * digits (an HTTP-date Retry-After is -EBADMSG); -ERANGE above INT64_MAX.
 */
int desk_http_msg_header_i64(const desk_http_msg_t *m, const char *name, int64_t *out);

/*
 * True if some `name` header holds `token` as one of its comma-separated
 * elements, case-insensitively ("Connection: keep-alive, Upgrade" holds
 * "upgrade").  Pure function.
 */
bool desk_http_msg_has_token(const desk_http_msg_t *m, const char *name, const char *token);

/* ------------------------------------------------------------------------
 * Connection pool bookkeeping (state only, no I/O)
 * ------------------------------------------------------------------------ */

/* State of one pooled connection. */
typedef enum desk_http_slot_state {
    DESK_HTTP_SLOT_DOWN = 0, /* not connected (initial, lost, or timed out) */
    DESK_HTTP_SLOT_IDLE = 1, /* connected, no request in flight */
    DESK_HTTP_SLOT_BUSY = 2, /* connected, one request in flight */
} desk_http_slot_state_t;

/* One pooled connection.  Written only through desk_http_pool_*(). */
typedef struct desk_http_slot {
    uint64_t req_id;     /* caller's id of the request in flight (BUSY) or last one */
    int64_t sent_ns;     /* when the in-flight request was acquired */
    int64_t deadline_ns; /* sent_ns + timeout: past it the request has timed out */
    uint64_t nreq;       /* requests completed on this connection since it came up */
    uint8_t state;       /* desk_http_slot_state_t */
} desk_http_slot_t;

/* A pool of N connections to one venue (caller-provided slot array). */
typedef struct desk_http_pool {
    desk_http_slot_t *slots; /* n slots, lent until the pool is no longer used */
    unsigned n;              /* number of slots */
    unsigned next;           /* where the round-robin search for an idle slot starts */
    unsigned busy;           /* slots in BUSY */
} desk_http_pool_t;

/* A request that timed out, as reported by desk_http_pool_expired(). */
typedef struct desk_http_expired {
    unsigned slot;   /* connection it was on (now DOWN: close and reopen it) */
    uint64_t req_id; /* caller's id of the request */
    int64_t late_ns; /* now - deadline, >= 0 */
} desk_http_expired_t;

/*
 * Initialise `p` over `slots[0..n)` (lent to the pool), all DOWN.
 * Returns 0; -EINVAL for NULL or n == 0.  Owner thread.
 */
int desk_http_pool_init(desk_http_pool_t *p, desk_http_slot_t *slots, unsigned n);

/*
 * Connection `i` is (re)established: DOWN -> IDLE.  Returns 0; -EINVAL if i
 * is out of range or the slot is not DOWN.
 */
int desk_http_pool_up(desk_http_pool_t *p, unsigned i);

/*
 * Connection `i` was lost or closed: -> DOWN.  Returns 1 and the in-flight
 * request's id in *req_id (may be NULL) if the slot was BUSY (the caller
 * fails or retries that request); 0 if it was IDLE or DOWN; -EINVAL if i is
 * out of range.
 */
int desk_http_pool_down(desk_http_pool_t *p, unsigned i, uint64_t *req_id);

/*
 * Take an idle connection for request `req_id`, which times out at
 * now_ns + timeout_ns.  Returns the slot index (>= 0), now BUSY; -EBUSY if
 * every connected slot is busy; -ENOTCONN if no slot is connected at all;
 * -EINVAL if timeout_ns <= 0.  Round-robin over idle slots.  O(n).
 */
int desk_http_pool_acquire(desk_http_pool_t *p, uint64_t req_id, int64_t now_ns,
                           int64_t timeout_ns);

/*
 * The response to slot i's request is complete and the connection stays
 * open (keep-alive): BUSY -> IDLE.  Returns 0 and the request id in *req_id
 * (may be NULL); -EINVAL if i is out of range or not BUSY.  If the response
 * said "Connection: close", call desk_http_pool_down() instead.
 */
int desk_http_pool_release(desk_http_pool_t *p, unsigned i, uint64_t *req_id);

/*
 * Collect up to `max` requests whose deadline is <= now_ns into out[].  Each
 * one's slot goes DOWN: a late response could otherwise be read as the
 * answer to the next request, so the caller must close that connection and
 * reconnect (then desk_http_pool_up()).  Returns the number written (0 if
 * none); further expired requests stay for the next call.  O(n).
 */
int desk_http_pool_expired(desk_http_pool_t *p, int64_t now_ns, desk_http_expired_t *out,
                           unsigned max);

/*
 * The earliest deadline among busy slots, for arming a timer.  Returns 0 and
 * *deadline_ns; -ENOENT if nothing is in flight.
 */
int desk_http_pool_next_deadline(const desk_http_pool_t *p, int64_t *deadline_ns);

#ifdef __cplusplus
}
#endif

#endif /* DESK_HTTP_H */
