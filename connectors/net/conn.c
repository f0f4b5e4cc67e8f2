/*
 * conn.c - client connection over the loop, with TLS and reconnect (see
 * conn.h).
 *
 * States (desk_conn_state_t) and what moves them:
 *
 *   IDLE --open--> CONNECTING --TCP up--> HANDSHAKE (TLS) --done--> OPEN
 *                      |                     |  plain TCP: straight to OPEN
 *                      +----- error / timeout / close / peer EOF -----+
 *                                            v
 *                                  CLOSING --loop on_close--> BACKOFF --timer--> CONNECTING
 *                                                       \--> IDLE (closed, or no reconnect)
 *
 * The loop reports the end of the socket once every CQE is in, so on_close
 * here is the single place where a connection ends: it frees the TLS
 * session, picks the next state and calls the owner's on_close last (the
 * owner may then fini the connection: nothing here touches `c` after it).
 *
 * A failure of ours (TLS error, handshake timeout) records err/why first
 * and then asks the loop to close with that error; failures the loop sees
 * (connect refused, reset, EOF) get their sentence in on_close.
 *
 * Backoff: `attempt` (k) grows by one per scheduled reconnect and is reset
 * only by desk_conn_open() or by a connection that stayed OPEN for
 * stable_ns (measured on the loop's clock, desk_loop_now()), so a peer that
 * accepts and drops at once does not pin the delay at its base.
 */
#include "conn.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"

static void l_open(desk_loop_t *loop, uint32_t id, void *ctx);
static void l_recv(desk_loop_t *loop, uint32_t id, const uint8_t *data, size_t len, void *ctx);
static void l_drain(desk_loop_t *loop, uint32_t id, void *ctx);
static void l_close(desk_loop_t *loop, uint32_t id, int err, void *ctx);

/* The loop borrows this table for the life of each claim. */
static const desk_loop_sock_cb_t conn_sock_cb = {
    .on_open = l_open,
    .on_recv = l_recv,
    .on_drain = l_drain,
    .on_close = l_close,
};

const char *desk_conn_state_name(unsigned s)
{
    static const char *const names[] = {"IDLE", "CONNECTING", "HANDSHAKE",
                                        "OPEN", "CLOSING",    "BACKOFF"};
    return s < sizeof names / sizeof names[0] ? names[s] : "?";
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

uint64_t desk_conn_backoff_ns(uint32_t k, uint64_t base_ns, uint64_t max_ns, uint64_t *rng)
{
    uint64_t d = base_ns;

    /* base * 2^k, saturating at max without overflowing. */
    for (uint32_t i = 0; i < k && d < max_ns; i++)
        d = d > max_ns / 2 ? max_ns : d * 2;
    if (d > max_ns)
        d = max_ns;
    uint64_t half = d / 2;
    return half + xorshift(rng) % (d - half + 1);
}

static void cancel_timer(desk_conn_t *c)
{
    if (c->timer) {
        (void)desk_loop_timer_cancel(c->loop, c->timer);
        c->timer = 0;
    }
}

/* Move pending TLS ciphertext into the socket's send ring, as far as it
 * fits; the rest goes on the next on_drain.  DEFER: the bytes are already
 * out of OpenSSL, so the ring must take them even when the SQ is full. */
static void flush(desk_conn_t *c)
{
    if (c->tls_ctx == NULL)
        return;
    for (;;) {
        size_t pending = desk_tls_pending(&c->tls);
        size_t space = desk_loop_sock_space(c->loop, c->sock);
        size_t n = pending < space ? pending : space;
        if (n > DESK_CONN_SCRATCH)
            n = DESK_CONN_SCRATCH;
        if (n == 0)
            return;
        n = desk_tls_take(&c->tls, c->tx, n);
        if (n == 0 || desk_loop_sock_send(c->loop, c->sock, c->tx, n, DESK_LOOP_SEND_DEFER) < 0)
            return; /* socket already closing: the bytes have nowhere to go */
    }
}

/* Our side decided the connection is over: record why, then close. */
static void fail_close(desk_conn_t *c, int err, const char *why)
{
    if (c->state == DESK_CONN_CLOSING || c->state == DESK_CONN_IDLE ||
        c->state == DESK_CONN_BACKOFF)
        return;
    if (c->err == 0 && c->why[0] == '\0') {
        c->err = err;
        snprintf(c->why, sizeof c->why, "%s", why);
    }
    cancel_timer(c);
    c->state = DESK_CONN_CLOSING;
    (void)desk_loop_sock_close(c->loop, c->sock, err, 0);
}

/* TLS failed (handshake, verification, record layer): close with -EPROTO
 * and OpenSSL's reason, naming the peer. */
static void tls_fail(desk_conn_t *c)
{
    char why[DESK_CONN_WHYMAX];

    snprintf(why, sizeof why, "%.140s (peer %.64s:%u)", desk_tls_errmsg(&c->tls), c->host,
             (unsigned)c->port);
    fail_close(c, -EPROTO, why);
}

static void on_timer(desk_loop_t *loop, uint64_t id, void *ctx);

/* Start one connection attempt.  Returns 0 or -errno (nothing started). */
static int start(desk_conn_t *c)
{
    int rc;

    c->err = 0;
    c->why[0] = '\0';
    if (c->tls_ctx) {
        rc = desk_tls_init(&c->tls, c->tls_ctx, c->name);
        if (rc < 0)
            return rc;
    }
    rc = desk_loop_sock_connect(c->loop, c->sock, (const struct sockaddr *)&c->addr, c->addrlen,
                                c->connect_timeout_ns);
    if (rc == -EBUSY) { /* SQ full: submit what is there and try once more */
        (void)desk_loop_submit(c->loop);
        rc = desk_loop_sock_connect(c->loop, c->sock, (const struct sockaddr *)&c->addr,
                                    c->addrlen, c->connect_timeout_ns);
    }
    if (rc < 0) {
        desk_tls_fini(&c->tls);
        return rc;
    }
    c->state = DESK_CONN_CONNECTING;
    c->stats.attempts++;
    return 0;
}

static int add_timer(desk_conn_t *c, uint64_t delay_ns)
{
    int rc = desk_loop_timer_add(c->loop, delay_ns, on_timer, c, &c->timer);

    if (rc == -EBUSY) {
        (void)desk_loop_submit(c->loop);
        rc = desk_loop_timer_add(c->loop, delay_ns, on_timer, c, &c->timer);
    }
    if (rc < 0)
        c->timer = 0;
    return rc;
}

/* After an attempt ended: schedule the next one if we should.  Returns 1 if
 * a reconnect is scheduled. */
static int schedule(desk_conn_t *c)
{
    if (!c->want || c->backoff_base_ns == 0)
        return 0;
    uint64_t d = desk_conn_backoff_ns(c->attempt, c->backoff_base_ns, c->backoff_max_ns, &c->rng);
    if (c->attempt < UINT32_MAX)
        c->attempt++;
    c->stats.last_backoff_ns = d;
    if (add_timer(c, d) < 0) {
        /* No timer slot (or no SQE twice over): give up rather than spin.
         * The owner sees state IDLE in on_close and may open again. */
        c->want = 0;
        (void)DESK_ERR(-ENOSPC, "conn %.64s:%u: no loop timer for the reconnect", c->host,
                       (unsigned)c->port);
        return 0;
    }
    c->state = DESK_CONN_BACKOFF;
    return 1;
}

static void opened(desk_conn_t *c)
{
    c->state = DESK_CONN_OPEN;
    c->open_ns = desk_loop_now(c->loop);
    if (c->open_ns == 0)
        c->open_ns = 1; /* 0 means "never opened" */
    c->stats.opens++;
    if (c->cb.on_open)
        c->cb.on_open(c, c->ctx);
}

static void on_timer(desk_loop_t *loop, uint64_t id, void *ctx)
{
    desk_conn_t *c = ctx;

    (void)loop;
    if (id != c->timer)
        return;
    c->timer = 0;
    if (c->state == DESK_CONN_HANDSHAKE) {
        char why[DESK_CONN_WHYMAX];
        snprintf(why, sizeof why, "TLS handshake with %.64s:%u timed out after %llu ms", c->host,
                 (unsigned)c->port, (unsigned long long)(c->connect_timeout_ns / 1000000u));
        fail_close(c, -ETIMEDOUT, why);
    } else if (c->state == DESK_CONN_BACKOFF) {
        int rc = start(c);
        if (rc < 0) {
            /* Could not even start: report it like a failed attempt. */
            int err = rc;
            c->state = DESK_CONN_IDLE;
            snprintf(c->why, sizeof c->why, "reconnect to %.64s:%u could not start: %s", c->host,
                     (unsigned)c->port, strerror(-rc));
            c->stats.closes++;
            schedule(c);
            if (c->cb.on_close)
                c->cb.on_close(c, err, c->why, c->ctx);
        }
    }
}

static void l_open(desk_loop_t *loop, uint32_t id, void *ctx)
{
    desk_conn_t *c = ctx;

    (void)loop;
    (void)id;
    if (c->state != DESK_CONN_CONNECTING)
        return;
    if (c->tls_ctx == NULL) {
        opened(c);
        return;
    }
    c->state = DESK_CONN_HANDSHAKE;
    if (c->connect_timeout_ns)
        (void)add_timer(c, c->connect_timeout_ns); /* without a free timer: no limit */
    int rc = desk_tls_handshake(&c->tls); /* writes the ClientHello */
    flush(c);
    if (rc < 0)
        tls_fail(c);
}

static void l_recv(desk_loop_t *loop, uint32_t id, const uint8_t *data, size_t len, void *ctx)
{
    desk_conn_t *c = ctx;

    (void)loop;
    (void)id;
    if (c->tls_ctx == NULL) {
        if (c->state != DESK_CONN_OPEN)
            return;
        c->stats.bytes_in += len;
        if (c->cb.on_data)
            c->cb.on_data(c, data, len, c->ctx);
        return;
    }
    if (c->state != DESK_CONN_HANDSHAKE && c->state != DESK_CONN_OPEN)
        return;
    if (desk_tls_feed(&c->tls, data, len) < 0) {
        fail_close(c, -ENOMEM, "TLS: no memory for received records");
        return;
    }
    if (c->state == DESK_CONN_HANDSHAKE) {
        int rc = desk_tls_handshake(&c->tls);
        flush(c);
        if (rc < 0) {
            tls_fail(c);
            return;
        }
        if (rc == 0)
            return; /* more handshake bytes to come */
        cancel_timer(c);
        opened(c);
    }
    /* Deliver every whole record; the owner may close from on_data. */
    while (c->state == DESK_CONN_OPEN) {
        int n = desk_tls_read(&c->tls, c->rx, DESK_CONN_SCRATCH);
        if (n > 0) {
            c->stats.bytes_in += (uint64_t)n;
            if (c->cb.on_data)
                c->cb.on_data(c, c->rx, (size_t)n, c->ctx);
        } else if (n == 0) {
            break;
        } else if (n == -ESHUTDOWN) {
            /* The peer's close_notify: answer with ours, then close. */
            c->err = 0;
            snprintf(c->why, sizeof c->why, "peer %.64s:%u sent TLS close_notify", c->host,
                     (unsigned)c->port);
            (void)desk_tls_close(&c->tls);
            flush(c);
            c->state = DESK_CONN_CLOSING;
            (void)desk_loop_sock_close(c->loop, c->sock, 0, DESK_LOOP_CLOSE_FLUSH);
            break;
        } else {
            tls_fail(c);
            break;
        }
    }
    flush(c); /* post-handshake messages, key updates, alerts */
}

static void l_drain(desk_loop_t *loop, uint32_t id, void *ctx)
{
    (void)loop;
    (void)id;
    flush(ctx);
}

static void l_close(desk_loop_t *loop, uint32_t id, int err, void *ctx)
{
    desk_conn_t *c = ctx;
    uint8_t was = c->state;

    (void)id;
    cancel_timer(c);
    if (c->why[0] == '\0') {
        /* The loop saw it end: name the cause. */
        c->err = err;
        if (err == 0 && was == DESK_CONN_HANDSHAKE) {
            /* EOF before the handshake finished: the peer refused us (or is
             * not a TLS server that says so); never a clean close. */
            c->err = -ECONNRESET;
            snprintf(c->why, sizeof c->why,
                     "peer %.64s:%u closed the connection during the TLS handshake", c->host,
                     (unsigned)c->port);
        } else if (err == 0 && c->tls_ctx && was == DESK_CONN_OPEN &&
                   c->tls.state != DESK_TLS_CLOSED) {
            c->err = -ECONNRESET;
            snprintf(c->why, sizeof c->why,
                     "peer %.64s:%u closed the TCP connection without TLS close_notify", c->host,
                     (unsigned)c->port);
        } else if (err == 0) {
            snprintf(c->why, sizeof c->why, "peer %.64s:%u closed the connection", c->host,
                     (unsigned)c->port);
        } else if (was == DESK_CONN_CONNECTING && err == -ETIMEDOUT) {
            snprintf(c->why, sizeof c->why, "connect to %.64s:%u timed out after %llu ms", c->host,
                     (unsigned)c->port, (unsigned long long)(c->connect_timeout_ns / 1000000u));
        } else if (was == DESK_CONN_CONNECTING) {
            snprintf(c->why, sizeof c->why, "connect to %.64s:%u failed: %s", c->host,
                     (unsigned)c->port, strerror(-err));
        } else if (was == DESK_CONN_HANDSHAKE) {
            snprintf(c->why, sizeof c->why,
                     "connection to %.64s:%u lost during the TLS handshake: %s", c->host,
                     (unsigned)c->port, strerror(-err));
        } else {
            snprintf(c->why, sizeof c->why, "connection to %.64s:%u lost: %s", c->host,
                     (unsigned)c->port, strerror(-err));
        }
    }
    desk_tls_fini(&c->tls);
    c->stats.closes++;
    c->state = DESK_CONN_IDLE;
    /* A connection that lasted resets the backoff; one dropped right after
     * on_open keeps growing it. */
    uint64_t now = desk_loop_now(loop);
    if (c->open_ns != 0 && now >= c->open_ns && now - c->open_ns >= c->stable_ns)
        c->attempt = 0;
    c->open_ns = 0;
    schedule(c);
    /* Last: the owner may fini `c` here. */
    if (c->cb.on_close)
        c->cb.on_close(c, c->err, c->why, c->ctx);
}

DESK_COLD int desk_conn_init(desk_conn_t *c, desk_loop_t *loop, const desk_conn_cfg_t *cfg,
                             const desk_conn_cb_t *cb, void *ctx)
{
    int rc;

    memset(c, 0, sizeof *c);
    if (cfg == NULL || cfg->host == NULL || cfg->host[0] == '\0' || cfg->port == 0)
        return DESK_ERR(-EINVAL, "conn: host and port are required");
    const char *name = cfg->server_name ? cfg->server_name : cfg->host;
    if (strlen(cfg->host) >= DESK_CONN_HOSTMAX || strlen(name) >= DESK_CONN_HOSTMAX)
        return DESK_ERR(-EINVAL, "conn: host name longer than %d bytes", DESK_CONN_HOSTMAX - 1);
    snprintf(c->host, sizeof c->host, "%s", cfg->host);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->port = cfg->port;

    /* Resolve once, here: getaddrinfo blocks. */
    struct addrinfo hints, *res = NULL;
    char port[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(port, sizeof port, "%u", (unsigned)cfg->port);
    int g = getaddrinfo(cfg->host, port, &hints, &res);
    if (g != 0 || res == NULL)
        return DESK_ERR(-ENOENT, "conn: cannot resolve %s: %s", cfg->host,
                        g ? gai_strerror(g) : "no address");
    if (res->ai_addrlen > sizeof c->addr) {
        freeaddrinfo(res);
        return DESK_ERR(-EINVAL, "conn: address of %s too long", cfg->host);
    }
    memcpy(&c->addr, res->ai_addr, res->ai_addrlen);
    c->addrlen = res->ai_addrlen;
    freeaddrinfo(res);

    c->loop = loop;
    c->tls_ctx = cfg->tls;
    c->connect_timeout_ns = cfg->connect_timeout_ns ? cfg->connect_timeout_ns : 10000000000ull;
    c->backoff_base_ns = cfg->backoff_base_ns;
    c->backoff_max_ns = cfg->backoff_max_ns ? cfg->backoff_max_ns : 30000000000ull;
    if (c->backoff_max_ns < c->backoff_base_ns)
        c->backoff_max_ns = c->backoff_base_ns;
    c->stable_ns = cfg->stable_ns ? cfg->stable_ns : 5000000000ull;
    c->rng = cfg->seed ? cfg->seed : desk_now_ns() ^ (uint64_t)(uintptr_t)c;
    if (cb)
        c->cb = *cb;
    c->ctx = ctx;
    c->rx = malloc(DESK_CONN_SCRATCH);
    c->tx = malloc(DESK_CONN_SCRATCH);
    if (c->rx == NULL || c->tx == NULL) {
        rc = DESK_ERR(-ENOMEM, "conn: no memory for buffers");
        goto fail;
    }
    rc = desk_loop_sock_claim(loop, &conn_sock_cb, c);
    if (rc < 0)
        goto fail;
    c->sock = (uint32_t)rc;
    return 0;

fail:
    free(c->tx);
    free(c->rx);
    memset(c, 0, sizeof *c);
    return rc;
}

DESK_COLD int desk_conn_fini(desk_conn_t *c)
{
    if (c->loop == NULL)
        return 0;
    if (c->state != DESK_CONN_IDLE)
        return -EBUSY;
    cancel_timer(c);
    (void)desk_loop_sock_release(c->loop, c->sock);
    desk_tls_fini(&c->tls);
    free(c->tx);
    free(c->rx);
    memset(c, 0, sizeof *c);
    return 0;
}

int desk_conn_open(desk_conn_t *c)
{
    if (c->state != DESK_CONN_IDLE)
        return -EALREADY;
    c->want = 1;
    c->attempt = 0;
    c->open_ns = 0;
    int rc = start(c);
    if (rc < 0)
        c->want = 0;
    return rc;
}

int desk_conn_send(desk_conn_t *c, const void *data, size_t len)
{
    if (c->state != DESK_CONN_OPEN)
        return -ENOTCONN;
    if (c->tls_ctx == NULL) {
        int rc = desk_loop_sock_send(c->loop, c->sock, data, len, 0);
        if (rc == 0)
            c->stats.bytes_out += len;
        return rc;
    }
    if (len == 0)
        return 0;
    /* Make sure the ciphertext will fit before OpenSSL consumes anything,
     * leaving room for the close_notify that desk_conn_close() queues. */
    size_t need = len + desk_tls_overhead(len) + DESK_CONN_TLS_RESERVE;
    int rc = desk_loop_sock_check(c->loop, c->sock, need); /* -EMSGSIZE: never fits */
    if (rc < 0)
        return rc;
    size_t pend = desk_tls_pending(&c->tls); /* ciphertext still waiting for the ring */
    if (pend > 0 && desk_loop_sock_space(c->loop, c->sock) < need + pend)
        return -ENOBUFS;
    rc = desk_tls_write(&c->tls, data, len);
    if (rc < 0) {
        if (rc == -EPROTO) /* fatal: the session cannot carry anything more */
            tls_fail(c);
        return rc;
    }
    flush(c);
    c->stats.bytes_out += len;
    return 0;
}

int desk_conn_close(desk_conn_t *c)
{
    c->want = 0;
    switch (c->state) {
    case DESK_CONN_BACKOFF:
        cancel_timer(c);
        c->state = DESK_CONN_IDLE;
        return 0;
    case DESK_CONN_CONNECTING:
    case DESK_CONN_HANDSHAKE:
        fail_close(c, 0, "closed locally");
        return 0;
    case DESK_CONN_OPEN:
        c->err = 0;
        snprintf(c->why, sizeof c->why, "closed locally");
        if (c->tls_ctx) {
            (void)desk_tls_close(&c->tls);
            flush(c);
        }
        c->state = DESK_CONN_CLOSING;
        (void)desk_loop_sock_close(c->loop, c->sock, 0, DESK_LOOP_CLOSE_FLUSH);
        return 0;
    default: /* IDLE, CLOSING */
        return 0;
    }
}

size_t desk_conn_queued(const desk_conn_t *c)
{
    size_t n = c->loop ? desk_loop_sock_queued(c->loop, c->sock) : 0;

    return n + (c->tls_ctx ? desk_tls_pending(&c->tls) : 0);
}
