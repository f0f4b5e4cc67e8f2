/*
 * conn.c - one desk-alpaca-sim connection: TLS on a non-blocking socket,
 * HTTP/1.1 keep-alive requests parsed by http-parser (pipelining allowed),
 * and after "GET /stream" with an Upgrade the trade_updates WebSocket
 * (RFC 6455, server side, written here: frames are small and few).
 *
 * The thread owns its SSL object; it never closes the socket (main does,
 * after joining it), so main can always shut the fd down safely.  Fault
 * switches that act on the byte stream live here: 1-byte SSL_write calls,
 * stalls, delays, dropped connections and killed stream sessions.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <http_parser.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "sim.h"

#define CONN_BUF 65536                  /* read buffer, bytes */
#define CONN_BODY_MAX (1u << 20)        /* largest request body or WS message accepted */
#define CONN_IDLE_MS 300000             /* an idle keep-alive connection is closed after 5 min */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* One connection's state (the thread's stack). */
typedef struct conn {
    sim_conn_t *sc;    /* main's record: fd (borrowed) */
    SSL *ssl;          /* owned */
    sim_req_t req;     /* request being parsed */
    sim_buf_t hfield;  /* header name being parsed */
    sim_buf_t hval;    /* header value being parsed */
    int in_value;      /* last header callback was a value */
    int complete;      /* a whole request is parsed (parser paused) */
    int too_big;       /* body over CONN_BODY_MAX */
} conn_t;

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------- TLS I/O */

/* Wait for the socket as SSL_get_error() asks; 0 ok, -1 stop or timeout. */
static int tls_wait(conn_t *c, int err, int timeout_ms)
{
    struct pollfd p = {.fd = c->sc->fd, .events = err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN};
    int waited = 0;

    while (!SIM_STOPPING()) {
        int n = poll(&p, 1, 100);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
        waited += 100;
        if (timeout_ms >= 0 && waited >= timeout_ms)
            return -1;
    }
    return -1;
}

/* Write all of data; 1-byte SSL_write calls while the split fault is on. */
static int tls_write_all(conn_t *c, const void *data, size_t len)
{
    const char *p = data;
    size_t off = 0;
    int split;

    pthread_mutex_lock(&g_sim.mu);
    split = g_sim.faults.split_writes;
    pthread_mutex_unlock(&g_sim.mu);
    while (off < len) {
        int chunk = split ? 1 : (int)(len - off > 1u << 30 ? 1u << 30 : len - off);
        int n = SSL_write(c->ssl, p + off, chunk);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if ((e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) || tls_wait(c, e, 10000) != 0)
            return -1;
    }
    return 0;
}

/*
 * Read what is available (waiting up to timeout_ms, -1 forever) into buf.
 * Returns bytes read, 0 on timeout (only with timeout_ms >= 0), or -1 on
 * close, error or stop.
 */
static int tls_read(conn_t *c, char *buf, size_t cap, int timeout_ms)
{
    int waited = 0;

    for (;;) {
        int n = SSL_read(c->ssl, buf, (int)cap);
        if (n > 0)
            return n;
        int e = SSL_get_error(c->ssl, n);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            return -1;
        if (SIM_STOPPING())
            return -1;
        struct pollfd p = {.fd = c->sc->fd,
                           .events = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN};
        int r = poll(&p, 1, 100);
        if (r < 0 && errno != EINTR)
            return -1;
        if (r == 0) {
            waited += 100;
            if (timeout_ms >= 0 && waited >= timeout_ms)
                return 0;
        }
    }
}

/* ----------------------------------------------------------- HTTP parsing */

static conn_t *conn_of(http_parser *p)
{
    return p->data;
}

static void end_header(conn_t *c)
{
    const char *f = c->hfield.p ? c->hfield.p : "";
    const char *v = c->hval.p ? c->hval.p : "";

    if (!strcasecmp(f, "APCA-API-KEY-ID"))
        snprintf(c->req.key_id, sizeof c->req.key_id, "%s", v);
    else if (!strcasecmp(f, "APCA-API-SECRET-KEY"))
        snprintf(c->req.secret, sizeof c->req.secret, "%s", v);
    else if (!strcasecmp(f, "Sec-WebSocket-Key"))
        snprintf(c->req.ws_key, sizeof c->req.ws_key, "%s", v);
    else if (!strcasecmp(f, "Upgrade") && !strcasecmp(v, "websocket"))
        c->req.upgrade = 1;
    c->hfield.n = c->hval.n = 0;
    if (c->hfield.p)
        c->hfield.p[0] = '\0';
    if (c->hval.p)
        c->hval.p[0] = '\0';
    c->in_value = 0;
}

static int on_begin(http_parser *p)
{
    conn_t *c = conn_of(p);
    sim_buf_free(&c->req.url);
    sim_buf_free(&c->req.body);
    memset(&c->req, 0, sizeof c->req);
    c->hfield.n = c->hval.n = 0;
    c->in_value = 0;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    sim_buf_put(&conn_of(p)->req.url, at, n);
    return 0;
}

static int on_hfield(http_parser *p, const char *at, size_t n)
{
    conn_t *c = conn_of(p);
    if (c->in_value)
        end_header(c);
    sim_buf_put(&c->hfield, at, n);
    return 0;
}

static int on_hvalue(http_parser *p, const char *at, size_t n)
{
    conn_t *c = conn_of(p);
    sim_buf_put(&c->hval, at, n);
    c->in_value = 1;
    return 0;
}

static int on_headers(http_parser *p)
{
    conn_t *c = conn_of(p);
    if (c->in_value || c->hfield.n)
        end_header(c);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    conn_t *c = conn_of(p);
    if (c->req.body.n + n > CONN_BODY_MAX) {
        c->too_big = 1;
        return 1;
    }
    sim_buf_put(&c->req.body, at, n);
    return 0;
}

static int on_complete(http_parser *p)
{
    conn_t *c = conn_of(p);
    snprintf(c->req.method, sizeof c->req.method, "%s", http_method_str(p->method));
    c->req.keep_alive = http_should_keep_alive(p);
    c->complete = 1;
    http_parser_pause(p, 1); /* one request at a time; resumed after the reply */
    return 0;
}

static const http_parser_settings SETTINGS = {
    .on_message_begin = on_begin,
    .on_url = on_url,
    .on_header_field = on_hfield,
    .on_header_value = on_hvalue,
    .on_headers_complete = on_headers,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

static const char *reason(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 204: return "No Content";
    case 207: return "Multi-Status";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

static int write_response(conn_t *c, const sim_resp_t *r, int keep_alive)
{
    sim_buf_t out = {0};
    char rid[40];

    sim_uuid(rid);
    sim_buf_printf(&out, "HTTP/1.1 %d %s\r\n", r->status, reason(r->status));
    if (r->status != 204)
        sim_buf_printf(&out,
                       "Content-Type: application/json; charset=UTF-8\r\nContent-Length: %zu\r\n",
                       r->body.n);
    if (r->retry_after > 0)
        sim_buf_printf(&out, "Retry-After: %d\r\n", r->retry_after);
    sim_buf_printf(&out, "X-Request-ID: %s\r\nConnection: %s\r\n\r\n", rid,
                   keep_alive ? "keep-alive" : "close");
    if (r->status != 204 && r->body.n)
        sim_buf_put(&out, r->body.p, r->body.n);
    int rc = tls_write_all(c, out.p, out.n);
    sim_buf_free(&out);
    return rc;
}

/* ------------------------------------------------------------- WebSocket */

/* Write one unmasked server frame. */
static int ws_send(conn_t *c, int opcode, const void *data, size_t len)
{
    unsigned char h[10];
    size_t hl = 2;
    sim_buf_t out = {0};

    h[0] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        h[1] = (unsigned char)len;
    } else if (len < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    sim_buf_put(&out, h, hl);
    sim_buf_put(&out, data, len);
    int rc = tls_write_all(c, out.p, out.n);
    sim_buf_free(&out);
    return rc;
}

static int ws_send_json(conn_t *c, const char *json)
{
    return ws_send(c, 0x2, json, strlen(json)); /* paper trade_updates: binary frames */
}

static int ws_close(conn_t *c, int code)
{
    unsigned char p[2] = {(unsigned char)(code >> 8), (unsigned char)code};
    return ws_send(c, 0x8, p, 2);
}

/* A client message (JSON in a text or binary frame). */
static int ws_dispatch(conn_t *c, sim_ws_t *w, const char *data, size_t len)
{
    cJSON *m = cJSON_ParseWithLength(data, len);
    const char *action = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "action"));
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "data");
    char reply[256];
    int rc = 0;

    if (action == NULL) {
        if (g_sim.cfg.verbose)
            fprintf(stderr, "desk-alpaca-sim: stream: ignored a message without action\n");
    } else if (!strcmp(action, "authenticate")) {
        const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "key_id"));
        const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "secret_key"));
        int ok = k && s && !strcmp(k, g_sim.cfg.key_id) && !strcmp(s, g_sim.cfg.secret);
        pthread_mutex_lock(&g_sim.mu);
        w->authed = ok;
        pthread_mutex_unlock(&g_sim.mu);
        snprintf(reply, sizeof reply,
                 "{\"stream\":\"authorization\",\"data\":{\"status\":\"%s\",\"action\":"
                 "\"authenticate\"}}",
                 ok ? "authorized" : "unauthorized");
        rc = ws_send_json(c, reply);
    } else if (!strcmp(action, "listen")) {
        int want = 0;
        const cJSON *s, *streams = cJSON_GetObjectItemCaseSensitive(d, "streams");
        cJSON_ArrayForEach(s, streams)
        {
            if (cJSON_IsString(s) && !strcmp(s->valuestring, "trade_updates"))
                want = 1;
        }
        pthread_mutex_lock(&g_sim.mu);
        int authed = w->authed;
        if (authed)
            w->listening = want; /* the list replaces the set listened to */
        pthread_mutex_unlock(&g_sim.mu);
        if (!authed)
            rc = ws_send_json(c, "{\"stream\":\"authorization\",\"data\":{\"status\":"
                                 "\"unauthorized\",\"action\":\"listen\"}}");
        else
            rc = ws_send_json(c, want ? "{\"stream\":\"listening\",\"data\":{\"streams\":"
                                        "[\"trade_updates\"]}}"
                                      : "{\"stream\":\"listening\",\"data\":{\"streams\":[]}}");
    } else if (g_sim.cfg.verbose) {
        fprintf(stderr, "desk-alpaca-sim: stream: ignored action %s\n", action);
    }
    cJSON_Delete(m);
    return rc;
}

/*
 * Parse and handle complete frames in buf[0..*have).  Returns 0 to go on,
 * 1 when the session is over (close handshake or protocol error).
 */
static int ws_frames(conn_t *c, sim_ws_t *w, unsigned char *buf, size_t *have, sim_buf_t *msg)
{
    size_t off = 0;

    while (*have - off >= 2) {
        unsigned char *f = buf + off;
        int fin = f[0] & 0x80, op = f[0] & 0x0f, masked = f[1] & 0x80;
        uint64_t len = f[1] & 0x7f;
        size_t hl = 2;

        if (len == 126) {
            if (*have - off < 4)
                break;
            len = (uint64_t)f[2] << 8 | f[3];
            hl = 4;
        } else if (len == 127) {
            if (*have - off < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | f[2 + i];
            hl = 10;
        }
        if (!masked) {
            ws_close(c, 1002); /* clients must mask */
            return 1;
        }
        if (len > CONN_BODY_MAX) {
            ws_close(c, 1009);
            return 1;
        }
        if (*have - off < hl + 4 + len)
            break;
        unsigned char *key = f + hl, *pay = f + hl + 4;
        for (uint64_t i = 0; i < len; i++)
            pay[i] ^= key[i % 4];
        off += hl + 4 + (size_t)len;
        switch (op) {
        case 0x0: /* continuation */
        case 0x1: /* text */
        case 0x2: /* binary */
            if (op != 0x0)
                msg->n = 0;
            if (msg->n + len > CONN_BODY_MAX) {
                ws_close(c, 1009);
                return 1;
            }
            sim_buf_put(msg, pay, (size_t)len);
            if (fin) {
                if (ws_dispatch(c, w, msg->p ? msg->p : "", msg->n) != 0)
                    return 1;
                msg->n = 0;
            }
            break;
        case 0x8: /* close: echo the code and end */
            ws_send(c, 0x8, pay, len >= 2 ? 2 : 0);
            return 1;
        case 0x9: /* ping -> pong with the same payload */
            if (ws_send(c, 0xA, pay, (size_t)len) != 0)
                return 1;
            break;
        case 0xA: /* pong */
            break;
        default:
            ws_close(c, 1002);
            return 1;
        }
    }
    memmove(buf, buf + off, *have - off);
    *have -= off;
    return 0;
}

/* Sec-WebSocket-Accept for a client key. */
static void ws_accept_key(const char *key, char out[64])
{
    unsigned char sha[SHA_DIGEST_LENGTH];
    char in[128];

    snprintf(in, sizeof in, "%s%s", key, WS_GUID);
    SHA1((const unsigned char *)in, strlen(in), sha);
    EVP_EncodeBlock((unsigned char *)out, sha, SHA_DIGEST_LENGTH);
}

/* The trade_updates session after the 101; leftover: bytes already read. */
static void ws_run(conn_t *c, const char *leftover, size_t nleft)
{
    sim_ws_t *w = calloc(1, sizeof *w);
    unsigned char *buf = malloc(CONN_BODY_MAX + 16);
    size_t have = 0, cap = CONN_BODY_MAX + 16;
    sim_buf_t msg = {0};
    char accept[64], head[256];

    if (w == NULL || buf == NULL)
        abort();
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ws_accept_key(c->req.ws_key, accept);
    snprintf(head, sizeof head,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\n\r\n",
             accept);
    if (w->efd < 0 || tls_write_all(c, head, strlen(head)) != 0)
        goto out;
    pthread_mutex_lock(&g_sim.mu);
    w->next = g_sim.ws;
    g_sim.ws = w;
    pthread_mutex_unlock(&g_sim.mu);

    if (nleft > cap)
        nleft = cap;
    memcpy(buf, leftover, nleft);
    have = nleft;
    for (;;) {
        if (ws_frames(c, w, buf, &have, &msg) != 0)
            break;
        if (SIM_STOPPING()) {
            ws_close(c, 1001);
            break;
        }
        /* Outgoing: take the queue unless stalled. */
        pthread_mutex_lock(&g_sim.mu);
        int kill = w->kill;
        sim_msg_t *out = NULL;
        sim_ws_flush_held(w);
        if (!g_sim.faults.stall) {
            out = w->head;
            w->head = w->tail = NULL;
        }
        pthread_mutex_unlock(&g_sim.mu);
        if (kill) {
            while (out) {
                sim_msg_t *n = out->next;
                free(out);
                out = n;
            }
            break; /* dropped: no close frame, no TLS close_notify */
        }
        int bad = 0;
        while (out) {
            sim_msg_t *n = out->next;
            if (!bad && ws_send(c, 0x2, out->data, out->len) != 0)
                bad = 1;
            free(out);
            out = n;
        }
        if (bad)
            break;
        /* Incoming: wait for bytes or a queued message. */
        if (SSL_pending(c->ssl) == 0) {
            struct pollfd p[2] = {{.fd = c->sc->fd, .events = POLLIN}, {.fd = w->efd, .events = POLLIN}};
            int r = poll(p, 2, 50);
            if (r < 0 && errno != EINTR)
                break;
            if (p[1].revents & POLLIN) {
                uint64_t v;
                if (read(w->efd, &v, sizeof v) < 0) {
                    /* EAGAIN: already drained */
                }
            }
            if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
        }
        if (have == cap) {
            ws_close(c, 1009);
            break;
        }
        int n = SSL_read(c->ssl, buf + have, (int)(cap - have));
        if (n > 0) {
            have += (size_t)n;
        } else {
            int e = SSL_get_error(c->ssl, n);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                break;
        }
    }
    pthread_mutex_lock(&g_sim.mu);
    for (sim_ws_t **pp = &g_sim.ws; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    sim_ws_free_queue(w);
    pthread_mutex_unlock(&g_sim.mu);
out:
    if (w->efd >= 0)
        close(w->efd);
    free(w);
    free(buf);
    sim_buf_free(&msg);
}

/* --------------------------------------------------------------- the loop */

static int is_sim_path(const sim_req_t *r)
{
    return r->url.p && strncmp(r->url.p, "/_sim/", 6) == 0;
}

/* Handle one parsed request; returns 0 to keep the connection, -1 to close,
 * -2 to drop it abruptly. */
static int serve(conn_t *c)
{
    sim_resp_t r = {0};
    int rc, ctl = is_sim_path(&c->req);

    if (g_sim.cfg.verbose)
        fprintf(stderr, "desk-alpaca-sim: %s %s\n", c->req.method, c->req.url.p ? c->req.url.p : "");
    /* Stall: hold the request until the fault is cleared (or shutdown). */
    while (!ctl && !SIM_STOPPING()) {
        pthread_mutex_lock(&g_sim.mu);
        int stall = g_sim.faults.stall;
        pthread_mutex_unlock(&g_sim.mu);
        if (!stall)
            break;
        msleep(10);
    }
    if (SIM_STOPPING())
        return -2;
    sim_api_handle(&c->req, &r);
    if (r.drop) {
        sim_buf_free(&r.body);
        return -2;
    }
    if (!ctl) {
        pthread_mutex_lock(&g_sim.mu);
        int delay = g_sim.faults.delay_ms;
        pthread_mutex_unlock(&g_sim.mu);
        if (delay > 0)
            msleep(delay);
    }
    rc = write_response(c, &r, c->req.keep_alive);
    sim_buf_free(&r.body);
    return rc != 0 ? -2 : c->req.keep_alive ? 0 : -1;
}

static void bad_request(conn_t *c, int status, const char *msg)
{
    sim_resp_t r = {.status = status};
    sim_buf_printf(&r.body, "{\"message\":\"%s\"}", msg);
    write_response(c, &r, 0);
    sim_buf_free(&r.body);
}

void *sim_conn_thread(void *arg)
{
    sim_conn_t *sc = arg;
    conn_t c = {.sc = sc};
    http_parser hp;
    char *buf = malloc(CONN_BUF);
    size_t have = 0;
    int graceful = 0;

    if (buf == NULL)
        abort();
    c.ssl = SSL_new(sc->ctx);
    if (c.ssl == NULL || SSL_set_fd(c.ssl, sc->fd) != 1)
        goto out;
    for (;;) { /* handshake, non-blocking */
        int n = SSL_accept(c.ssl);
        if (n == 1)
            break;
        int e = SSL_get_error(c.ssl, n);
        if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || tls_wait(&c, e, 10000) != 0)
            goto out;
    }
    http_parser_init(&hp, HTTP_REQUEST);
    hp.data = &c;
    for (;;) {
        if (have > 0) {
            size_t n = http_parser_execute(&hp, &SETTINGS, buf, have);
            enum http_errno he = HTTP_PARSER_ERRNO(&hp);
            if (c.complete) {
                int upgrade = hp.upgrade;
                memmove(buf, buf + n, have - n);
                have -= n;
                c.complete = 0;
                if (upgrade) {
                    if (strcmp(c.req.method, "GET") != 0 || c.req.url.p == NULL ||
                        strcmp(c.req.url.p, "/stream") != 0 || c.req.ws_key[0] == '\0' ||
                        !c.req.upgrade) {
                        bad_request(&c, 400, "bad websocket upgrade");
                    } else {
                        ws_run(&c, buf, have);
                    }
                    break;
                }
                int rc = serve(&c);
                if (rc == -2)
                    break;
                if (rc == -1) {
                    graceful = 1;
                    break;
                }
                http_parser_pause(&hp, 0);
                continue;
            }
            if (he != HPE_OK) {
                bad_request(&c, c.too_big ? 413 : 400, http_errno_name(he));
                break;
            }
            have = 0; /* all consumed; the parser keeps the partial request */
        }
        int n = tls_read(&c, buf + have, CONN_BUF - have, CONN_IDLE_MS);
        if (n <= 0) {
            graceful = n == 0;
            break;
        }
        have += (size_t)n;
    }
out:
    if (c.ssl) {
        if (graceful)
            SSL_shutdown(c.ssl); /* best effort close_notify */
        SSL_free(c.ssl);
    }
    shutdown(sc->fd, SHUT_RDWR);
    sim_buf_free(&c.req.url);
    sim_buf_free(&c.req.body);
    sim_buf_free(&c.hfield);
    sim_buf_free(&c.hval);
    free(buf);
    ERR_clear_error();
    atomic_store_explicit(&sc->done, 1, memory_order_release); /* pairs with main's acquire */
    return NULL;
}
