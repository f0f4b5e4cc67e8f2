/*
 * ws_test.c - WebSocket client codec (connectors/net/ws.h) against a
 * server: wslay in server mode inside the test, plus hand-built frames for
 * what a well-behaved server never sends.  Both directions run over an
 * in-memory pipe; time is simulated (now_ns is just a number).
 *
 * Covered: the opening handshake (accept, wrong accept key, refusals,
 * split at every byte), masked client frames (mask bit and key checked on
 * the wire, 1024+ frames to cross an RNG pool refill), text and binary
 * (Alpaca paper sends trade_updates JSON in BINARY frames), fragmented
 * messages with a ping in between, the max_msg limit, ping -> pong, our own
 * pings with missed-pong detection, the close handshake in both
 * directions, back-pressure from the send callback, protocol errors, and a
 * server stream split at every byte position.
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

#include <wslay/wslay.h>

#include "connectors/net/ws.h"

#define SEC 1000000000LL

/* Alpaca trade_updates "fill" (PROTOCOLS.md 1.9), compacted. */
static const char TRADE_UPDATE[] =
    "{\"stream\":\"trade_updates\",\"data\":{\"event\":\"fill\",\"execution_id\":"
    "\"2f63ea93-423d-4169-b3f6-3fdafc10c418\",\"order\":{\"asset_class\":\"crypto\","
    "\"asset_id\":\"1cf35270-99ee-44e2-a77f-6fab902c7f80\",\"cancel_requested_at\":null,"
    "\"canceled_at\":null,\"client_order_id\":\"4642fd68-d59a-47d7-a9ac-e22f536828d1\","
    "\"created_at\":\"2022-04-19T13:45:04.981350886-04:00\",\"expired_at\":null,"
    "\"extended_hours\":false,\"failed_at\":null,\"filled_at\":"
    "\"2022-04-19T17:45:05.024916716Z\",\"filled_avg_price\":\"105.8988475\",\"filled_qty\":"
    "\"1790.86\",\"hwm\":null,\"id\":\"a5be8f5e-fdfa-41f5-a644-7a74fe947a8f\",\"legs\":null,"
    "\"limit_price\":null,\"notional\":null,\"order_class\":\"\",\"order_type\":\"market\","
    "\"qty\":\"1790.86\",\"replaced_at\":null,\"replaced_by\":null,\"replaces\":null,\"side\":"
    "\"sell\",\"status\":\"filled\",\"stop_price\":null,\"submitted_at\":"
    "\"2022-04-19T13:45:04.980944666-04:00\",\"symbol\":\"SOLUSD\",\"time_in_force\":\"gtc\","
    "\"trail_percent\":null,\"trail_price\":null,\"type\":\"market\",\"updated_at\":"
    "\"2022-04-19T13:45:05.027690731-04:00\"},\"position_qty\":\"0\",\"price\":"
    "\"105.8988475\",\"qty\":\"1790.86\",\"timestamp\":\"2022-04-19T17:45:05.024916716Z\"}}";
static const char AUTH_OK[] = "{\"stream\":\"authorization\",\"data\":{\"status\":\"authorized\","
                              "\"action\":\"authenticate\"}}";

/* ---- fixture: pipe, recorded messages, a wslay server ---- */

struct pipebuf {
    uint8_t data[1 << 18]; /* bytes written */
    size_t len;            /* bytes in data */
    size_t off;            /* bytes already read by the other side */
};

struct msg {
    int op;             /* opcode (wslay numbering) */
    size_t len;         /* payload length */
    uint16_t code;      /* close status code */
    uint8_t data[4096]; /* payload (first 4096 bytes) */
};

#define MAXMSG 64

struct fx {
    desk_ws_t *ws;
    wslay_event_context_ptr srv;
    struct pipebuf c2s, s2c;
    size_t send_limit;     /* max bytes per client send call, 0 = any */
    long send_budget;      /* bytes the client may still send, < 0 = unlimited */
    int send_fail;         /* errno the client send callback returns, 0 = none */
    bool echo;             /* client on_msg replies with the same message */
    struct msg cm[MAXMSG]; /* messages delivered to the client */
    int ncm;               /* count (may exceed MAXMSG: only the first are kept) */
    struct msg sm[MAXMSG]; /* messages the server received (any opcode) */
    int nsm;               /* count */
};

static struct fx F;

static void record(struct msg *arr, int *n, int op, const uint8_t *d, size_t len, uint16_t code)
{
    if (*n < MAXMSG) {
        struct msg *m = &arr[*n];
        m->op = op;
        m->len = len;
        m->code = code;
        if (len > 0) /* wslay passes NULL for an empty payload */
            memcpy(m->data, d, len < sizeof m->data ? len : sizeof m->data);
    }
    (*n)++;
}

static int client_send(const void *buf, size_t len, void *ctx)
{
    struct fx *f = ctx;
    size_t n = len;

    if (f->send_fail != 0)
        return -f->send_fail;
    if (f->send_limit > 0 && n > f->send_limit)
        n = f->send_limit;
    if (f->send_budget >= 0 && n > (size_t)f->send_budget)
        n = (size_t)f->send_budget;
    if (n == 0)
        return -EAGAIN;
    assert_true(f->c2s.len + n <= sizeof f->c2s.data);
    memcpy(f->c2s.data + f->c2s.len, buf, n);
    f->c2s.len += n;
    if (f->send_budget >= 0)
        f->send_budget -= (long)n;
    return (int)n;
}

static void client_msg(desk_ws_opcode_t op, const uint8_t *d, size_t len, void *ctx)
{
    struct fx *f = ctx;

    record(f->cm, &f->ncm, (int)op, d, len, 0);
    if (f->echo)
        assert_int_equal(op == DESK_WS_TEXT ? desk_ws_send_text(f->ws, d, len)
                                            : desk_ws_send_binary(f->ws, d, len),
                         0);
}

static ssize_t srv_recv(wslay_event_context_ptr c, uint8_t *buf, size_t len, int flags, void *u)
{
    struct fx *f = u;
    size_t n = f->c2s.len - f->c2s.off;

    (void)flags;
    if (n == 0) {
        wslay_event_set_error(c, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (n > len)
        n = len;
    memcpy(buf, f->c2s.data + f->c2s.off, n);
    f->c2s.off += n;
    return (ssize_t)n;
}

static ssize_t srv_send(wslay_event_context_ptr c, const uint8_t *d, size_t len, int flags, void *u)
{
    struct fx *f = u;

    (void)c;
    (void)flags;
    assert_true(f->s2c.len + len <= sizeof f->s2c.data);
    memcpy(f->s2c.data + f->s2c.len, d, len);
    f->s2c.len += len;
    return (ssize_t)len;
}

static int srv_genmask(wslay_event_context_ptr c, uint8_t *buf, size_t len, void *u)
{
    (void)c;
    (void)u;
    memset(buf, 0, len);
    return 0;
}

static void srv_msg(wslay_event_context_ptr c, const struct wslay_event_on_msg_recv_arg *a, void *u)
{
    struct fx *f = u;

    (void)c;
    record(f->sm, &f->nsm, a->opcode, a->msg, a->msg_length, a->status_code);
}

static const struct wslay_event_callbacks srv_cbs = {
    .recv_callback = srv_recv,
    .send_callback = srv_send,
    .genmask_callback = srv_genmask,
    .on_msg_recv_callback = srv_msg,
};

static void fx_open(size_t max_msg, int64_t ping_ns, int64_t pong_ns)
{
    desk_ws_config_t cfg = {max_msg, ping_ns, pong_ns, client_send, client_msg, &F};

    memset(&F, 0, sizeof F);
    F.send_budget = -1;
    assert_int_equal(desk_ws_create(&F.ws, &cfg), 0);
    assert_int_equal(wslay_event_context_server_init(&F.srv, &srv_cbs, &F), 0);
}

static int teardown(void **state)
{
    (void)state;
    desk_ws_destroy(F.ws);
    if (F.srv != NULL)
        wslay_event_context_free(F.srv);
    F.ws = NULL;
    F.srv = NULL;
    return 0;
}

/* Server reads what the client sent and writes what it queued. */
static void srv_pump(void)
{
    assert_int_equal(wslay_event_recv(F.srv), 0);
    assert_int_equal(wslay_event_send(F.srv), 0);
}

/* Client reads everything the server wrote since the last call. */
static int cli_pump(int64_t now)
{
    size_t n = F.s2c.len - F.s2c.off;
    int rc = desk_ws_recv(F.ws, F.s2c.data + F.s2c.off, n, now);

    F.s2c.off = F.s2c.len;
    return rc;
}

/* Append raw bytes to the server -> client direction. */
static void s2c_put(const void *d, size_t n)
{
    memcpy(F.s2c.data + F.s2c.len, d, n);
    F.s2c.len += n;
}

/* Build a server (unmasked) frame; returns its length. */
static size_t mkframe(uint8_t *o, int fin, int op, const void *p, size_t n)
{
    size_t h = 0;

    o[h++] = (uint8_t)((fin ? 0x80 : 0) | op);
    if (n < 126) {
        o[h++] = (uint8_t)n;
    } else if (n < 65536) {
        o[h++] = 126;
        o[h++] = (uint8_t)(n >> 8);
        o[h++] = (uint8_t)n;
    } else {
        o[h++] = 127;
        for (int i = 7; i >= 0; i--)
            o[h++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    if (n > 0)
        memcpy(o + h, p, n);
    return h + n;
}

static void s2c_frame(int fin, int op, const void *p, size_t n)
{
    uint8_t tmp[8192];
    assert_true(n + 14 <= sizeof tmp);
    s2c_put(tmp, mkframe(tmp, fin, op, p, n));
}

/* The handshake request the client wrote: check it and return its key. */
static void check_request(const char *req, size_t n, char key[DESK_WS_KEY_LEN + 1])
{
    const char *k;
    char copy[2048];

    assert_true(n < sizeof copy);
    memcpy(copy, req, n);
    copy[n] = '\0';
    assert_non_null(strstr(copy, "GET /stream HTTP/1.1\r\n"));
    assert_non_null(strstr(copy, "\r\nHost: paper-api.alpaca.markets\r\n"));
    assert_non_null(strstr(copy, "\r\nUpgrade: websocket\r\n"));
    assert_non_null(strstr(copy, "\r\nConnection: Upgrade\r\n"));
    assert_non_null(strstr(copy, "\r\nSec-WebSocket-Version: 13\r\n"));
    assert_non_null(strstr(copy, "\r\n\r\n"));
    k = strstr(copy, "\r\nSec-WebSocket-Key: ");
    assert_non_null(k);
    k += 21;
    memcpy(key, k, DESK_WS_KEY_LEN);
    key[DESK_WS_KEY_LEN] = '\0';
    assert_memory_equal(k + DESK_WS_KEY_LEN, "\r\n", 2);
    assert_string_equal(key, desk_ws_key(F.ws));
    assert_int_equal(key[22], '='); /* 16 bytes -> 22 chars + "==" */
    assert_int_equal(key[23], '=');
}

/* A 101 response for `key` with the given accept value (NULL: correct). */
static size_t mk101(char *out, size_t cap, const char *key, const char *accept)
{
    char acc[DESK_WS_ACCEPT_LEN + 1];

    assert_int_equal(desk_ws_accept_key(key, strlen(key), acc), 0);
    return (size_t)snprintf(out, cap,
                            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                            accept != NULL ? accept : acc);
}

/* Full handshake at time `now`; the request bytes are not put on the pipe. */
static void handshake(int64_t now)
{
    char req[1024], resp[512], key[DESK_WS_KEY_LEN + 1];
    int n = desk_ws_handshake_write(F.ws, "paper-api.alpaca.markets", "/stream", NULL, 0, req,
                                    sizeof req);
    size_t used;

    assert_true(n > 0);
    check_request(req, (size_t)n, key);
    size_t rl = mk101(resp, sizeof resp, key, NULL);
    assert_int_equal(desk_ws_handshake_read(F.ws, resp, rl, &used, now), 1);
    assert_int_equal(used, rl);
    assert_int_equal(desk_ws_state(F.ws), DESK_WS_OPEN);
}

/* ---- handshake ---- */

static void test_accept_key_rfc(void **state)
{
    (void)state;
    char out[DESK_WS_ACCEPT_LEN + 1];
    /* RFC 6455 section 1.3's example. */
    assert_int_equal(desk_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(desk_ws_accept_key(NULL, 0, out), -EINVAL);
}

static void test_handshake_ok_split(void **state)
{
    (void)state;
    char req[1024], resp[1024], key[DESK_WS_KEY_LEN + 1], prev[DESK_WS_KEY_LEN + 1] = "";
    uint8_t fr[64];

    fx_open(4096, 0, 0);
    /* The response followed by one binary frame that arrived in the same read. */
    for (size_t cut = 0;; cut++) {
        assert_int_equal(desk_ws_reset(F.ws), 0);
        assert_int_equal(desk_ws_state(F.ws), DESK_WS_CONNECTING);
        int n = desk_ws_handshake_write(F.ws, "paper-api.alpaca.markets", "/stream", NULL, 0, req,
                                        sizeof req);
        assert_true(n > 0);
        check_request(req, (size_t)n, key);
        assert_string_not_equal(key, prev); /* a fresh key every time */
        strcpy(prev, key);
        size_t rl = mk101(resp, sizeof resp, key, NULL);
        size_t fl = mkframe(fr, 1, WSLAY_BINARY_FRAME, "{}", 2);
        memcpy(resp + rl, fr, fl);
        size_t total = rl + fl, used = 0, off = 0;
        if (cut > rl)
            break;
        int rc = 0;
        if (cut > 0) {
            rc = desk_ws_handshake_read(F.ws, resp, cut, &used, 0);
            assert_int_equal(rc, cut == rl ? 1 : 0);
            off = used;
        }
        if (rc == 0) {
            rc = desk_ws_handshake_read(F.ws, resp + off, total - off, &used, 0);
            assert_int_equal(rc, 1);
            off += used;
        }
        assert_int_equal(off, rl);
        F.ncm = 0;
        assert_int_equal(desk_ws_recv(F.ws, resp + off, total - off, 0), 0);
        assert_int_equal(F.ncm, 1);
        assert_int_equal(F.cm[0].op, DESK_WS_BINARY);
        assert_memory_equal(F.cm[0].data, "{}", 2);
        assert_int_equal(desk_ws_handshake_msg(F.ws)->status, 101);
    }
    /* Extra headers pass through; owned ones are refused. */
    assert_int_equal(desk_ws_reset(F.ws), 0);
    desk_http_header_t mp = DESK_HTTP_HDR("Content-Type", "application/msgpack");
    int n = desk_ws_handshake_write(F.ws, "h", "/stream", &mp, 1, req, sizeof req);
    assert_true(n > 0);
    assert_non_null(memmem(req, (size_t)n, "\r\nContent-Type: application/msgpack\r\n", 37));
    desk_http_header_t up = DESK_HTTP_HDR("upgrade", "h2c");
    assert_int_equal(desk_ws_handshake_write(F.ws, "h", "/stream", &up, 1, req, sizeof req),
                     -EINVAL);
    assert_int_equal(desk_ws_handshake_write(F.ws, "h", "/stream", NULL, 0, req, 40), -ENOSPC);
}

/* One refused handshake: rc, FAILED, a reason, no recv afterwards. */
static void expect_refused(const char *resp, int want)
{
    char req[1024];
    size_t used;

    assert_int_equal(desk_ws_reset(F.ws), 0);
    assert_true(desk_ws_handshake_write(F.ws, "h", "/stream", NULL, 0, req, sizeof req) > 0);
    int rc = desk_ws_handshake_read(F.ws, resp, strlen(resp), &used, 0);
    if (rc != want)
        fail_msg("handshake rc %d, expected %d for:\n%s", rc, want, resp);
    assert_int_equal(desk_ws_state(F.ws), DESK_WS_FAILED);
    assert_true(strlen(desk_ws_reason(F.ws)) > 0);
    assert_int_equal(desk_ws_recv(F.ws, "x", 1, 0), -EINVAL);
    assert_int_equal(desk_ws_send_text(F.ws, "x", 1), -EINVAL);
}

static void test_handshake_rejected(void **state)
{
    (void)state;
    char resp[1024], key[DESK_WS_KEY_LEN + 1], req[1024];
    size_t used;

    fx_open(4096, 0, 0);
    /* Out of order. */
    assert_int_equal(desk_ws_handshake_read(F.ws, "HTTP/1.1", 8, &used, 0), -EINVAL);
    assert_int_equal(desk_ws_recv(F.ws, "x", 1, 0), -EINVAL);
    assert_null(desk_ws_handshake_msg(F.ws));

    /* Wrong accept key: computed for another key. */
    assert_int_equal(desk_ws_reset(F.ws), 0);
    int n = desk_ws_handshake_write(F.ws, "paper-api.alpaca.markets", "/stream", NULL, 0, req,
                                    sizeof req);
    check_request(req, (size_t)n, key);
    key[0] = key[0] == 'A' ? 'B' : 'A';
    size_t rl = mk101(resp, sizeof resp, key, NULL);
    assert_int_equal(desk_ws_handshake_read(F.ws, resp, rl, &used, 0), -EPROTO);
    assert_int_equal(desk_ws_state(F.ws), DESK_WS_FAILED);
    assert_non_null(strstr(desk_ws_reason(F.ws), "Accept"));

    /* The same with a syntactically wrong accept, and with none. */
    expect_refused("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: nope\r\n\r\n",
                   -EPROTO);
    expect_refused("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\n\r\n",
                   -EPROTO);
    /* A refusal with a body: status and body are visible. */
    expect_refused("HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
                   "Content-Length: 25\r\n\r\n{\"message\": \"forbidden.\"}",
                   -EPROTO);
    const desk_http_msg_t *m = desk_ws_handshake_msg(F.ws);
    assert_non_null(m);
    assert_int_equal(m->status, 401);
    assert_int_equal(m->body_len, 25);
    /* Missing Upgrade / Connection, an extension we did not offer, garbage. */
    expect_refused("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                   -EPROTO);
    expect_refused("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                   -EPROTO);
    expect_refused("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", -EPROTO);
    expect_refused("SSH-2.0-OpenSSH_9.2\r\n\r\n", -EBADMSG);

    /* A correct accept plus an unoffered extension. */
    assert_int_equal(desk_ws_reset(F.ws), 0);
    n = desk_ws_handshake_write(F.ws, "paper-api.alpaca.markets", "/stream", NULL, 0, req,
                                sizeof req);
    check_request(req, (size_t)n, key);
    char acc[DESK_WS_ACCEPT_LEN + 1];
    desk_ws_accept_key(key, DESK_WS_KEY_LEN, acc);
    rl = (size_t)snprintf(resp, sizeof resp,
                          "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n"
                          "connection: keep-alive, upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                          "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
                          acc);
    assert_int_equal(desk_ws_handshake_read(F.ws, resp, rl, &used, 0), -EPROTO);
    /* Without the extension, mixed-case tokens are accepted. */
    assert_int_equal(desk_ws_reset(F.ws), 0);
    n = desk_ws_handshake_write(F.ws, "h", "/stream", NULL, 0, req, sizeof req);
    assert_true(n > 0);
    desk_ws_accept_key(desk_ws_key(F.ws), DESK_WS_KEY_LEN, acc);
    rl = (size_t)snprintf(resp, sizeof resp,
                          "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n"
                          "connection: keep-alive, upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                          acc);
    assert_int_equal(desk_ws_handshake_read(F.ws, resp, rl, &used, 0), 1);
    /* After the handshake, handshake calls are out of order. */
    assert_int_equal(desk_ws_handshake_read(F.ws, resp, rl, &used, 0), -EINVAL);
    assert_int_equal(desk_ws_handshake_write(F.ws, "h", "/s", NULL, 0, req, sizeof req), -EINVAL);
}

/* ---- frames ---- */

/* Parse one client frame at c2s.data+off: check the mask, unmask, return its size. */
static size_t client_frame(size_t off, int *op, uint8_t *payload, size_t *plen, uint8_t key[4])
{
    const uint8_t *p = F.c2s.data + off;
    size_t h = 2, n = p[1] & 0x7f;

    assert_true(p[1] & 0x80); /* MASK bit: every client frame is masked */
    assert_int_equal(p[0] & 0x70, 0);
    *op = p[0] & 0x0f;
    if (n == 126) {
        n = (size_t)p[2] << 8 | p[3];
        h = 4;
    } else if (n == 127) {
        n = 0;
        for (int i = 0; i < 8; i++)
            n = n << 8 | p[2 + i];
        h = 10;
    }
    memcpy(key, p + h, 4);
    for (size_t i = 0; i < n; i++)
        payload[i] = p[h + 4 + i] ^ key[i % 4];
    *plen = n;
    return h + 4 + n;
}

static void test_masked_client_frames(void **state)
{
    (void)state;
    uint8_t pl[4096], k1[4], k2[4], big[300];
    size_t plen, off = 0;
    int op;

    fx_open(4096, 0, 0);
    handshake(0);
    assert_int_equal(desk_ws_send_text(F.ws, "hello", 5), 0);
    assert_int_equal(F.c2s.data[0], 0x81); /* FIN | text */
    assert_int_equal(F.c2s.data[1], 0x80 | 5);
    off += client_frame(off, &op, pl, &plen, k1);
    assert_int_equal(op, WSLAY_TEXT_FRAME);
    assert_int_equal(plen, 5);
    assert_memory_equal(pl, "hello", 5);

    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)i;
    assert_int_equal(desk_ws_send_binary(F.ws, big, sizeof big), 0);
    assert_int_equal(F.c2s.data[off], 0x82);
    assert_int_equal(F.c2s.data[off + 1], 0x80 | 126); /* 16-bit length */
    off += client_frame(off, &op, pl, &plen, k2);
    assert_int_equal(plen, sizeof big);
    assert_memory_equal(pl, big, sizeof big);
    assert_int_equal(off, F.c2s.len);
    assert_memory_not_equal(k1, k2, 4); /* fresh keys (fails with p = 2^-32) */

    /* The authenticate message the Alpaca client sends first. */
    const char *auth =
        "{\"action\":\"authenticate\",\"data\":{\"key_id\":\"PK\",\"secret_key\":\"S\"}}";
    assert_int_equal(desk_ws_send_text(F.ws, auth, strlen(auth)), 0);
    assert_int_equal(desk_ws_send_binary(F.ws, NULL, 0), 0);
    srv_pump();
    assert_int_equal(F.nsm, 4);
    assert_int_equal(F.sm[0].op, WSLAY_TEXT_FRAME);
    assert_int_equal(F.sm[1].op, WSLAY_BINARY_FRAME);
    assert_int_equal(F.sm[1].len, sizeof big);
    assert_memory_equal(F.sm[1].data, big, sizeof big);
    assert_int_equal(F.sm[2].len, strlen(auth));
    assert_int_equal(F.sm[3].len, 0);
    assert_int_equal(desk_ws_stats(F.ws)->msgs_out, 4);
    assert_false(desk_ws_want_write(F.ws));
}

static void test_many_frames_rng_refill(void **state)
{
    (void)state;
    uint8_t pl[64], key[4];
    uint32_t *keys = calloc(2000, sizeof *keys);
    size_t plen, off = 0;
    int op, distinct = 0;

    fx_open(4096, 0, 0);
    handshake(0);
    /* 2000 frames use 8000 mask bytes: the 4 KiB pool refills at least once. */
    for (int i = 0; i < 2000; i++) {
        char s[16];
        int n = snprintf(s, sizeof s, "m%d", i);
        assert_int_equal(desk_ws_send_text(F.ws, s, (size_t)n), 0);
        off += client_frame(off, &op, pl, &plen, key);
        assert_int_equal(plen, (size_t)n);
        assert_memory_equal(pl, s, plen);
        memcpy(&keys[i], key, 4);
    }
    srv_pump();
    assert_int_equal(F.nsm, 2000);
    for (int i = 0; i < 2000; i++) {
        int dup = 0;
        for (int j = 0; j < i && !dup; j++)
            dup = keys[j] == keys[i];
        distinct += !dup;
    }
    assert_true(distinct >= 1995); /* birthday collisions in 2^32: ~0.0005 expected */
    free(keys);
}

static void test_server_text_binary(void **state)
{
    (void)state;
    struct wslay_event_msg a = {WSLAY_TEXT_FRAME, (const uint8_t *)AUTH_OK, strlen(AUTH_OK)};
    struct wslay_event_msg t = {WSLAY_BINARY_FRAME, (const uint8_t *)TRADE_UPDATE,
                                strlen(TRADE_UPDATE)};

    fx_open(4096, 0, 0);
    handshake(0);
    assert_int_equal(wslay_event_queue_msg(F.srv, &a), 0);
    assert_int_equal(wslay_event_queue_msg(F.srv, &t), 0);
    srv_pump();
    assert_int_equal(cli_pump(1), 0);
    assert_int_equal(F.ncm, 2);
    assert_int_equal(F.cm[0].op, DESK_WS_TEXT);
    assert_int_equal(F.cm[0].len, strlen(AUTH_OK));
    assert_memory_equal(F.cm[0].data, AUTH_OK, strlen(AUTH_OK));
    assert_int_equal(F.cm[1].op, DESK_WS_BINARY);
    assert_int_equal(F.cm[1].len, strlen(TRADE_UPDATE));
    assert_memory_equal(F.cm[1].data, TRADE_UPDATE, strlen(TRADE_UPDATE));
    assert_int_equal(desk_ws_stats(F.ws)->msgs_in, 2);
    assert_int_equal(desk_ws_stats(F.ws)->bytes_in, strlen(AUTH_OK) + strlen(TRADE_UPDATE));

    /* A reply from inside on_msg is queued and flushed when recv returns. */
    F.echo = true;
    assert_int_equal(wslay_event_queue_msg(F.srv, &t), 0);
    srv_pump();
    assert_int_equal(cli_pump(2), 0);
    srv_pump();
    assert_int_equal(F.nsm, 1);
    assert_int_equal(F.sm[0].op, WSLAY_BINARY_FRAME);
    assert_int_equal(F.sm[0].len, strlen(TRADE_UPDATE));
}

static void test_fragmented_with_ping(void **state)
{
    (void)state;
    fx_open(4096, 0, 0);
    handshake(0);
    s2c_frame(0, WSLAY_TEXT_FRAME, "Hel", 3);
    s2c_frame(1, WSLAY_PING, "p1", 2); /* control frame between fragments */
    s2c_frame(0, WSLAY_CONTINUATION_FRAME, "lo ", 3);
    s2c_frame(0, WSLAY_CONTINUATION_FRAME, "", 0);
    s2c_frame(1, WSLAY_CONTINUATION_FRAME, "World", 5);
    s2c_frame(0, WSLAY_BINARY_FRAME, TRADE_UPDATE, 100);
    s2c_frame(1, WSLAY_CONTINUATION_FRAME, TRADE_UPDATE + 100, strlen(TRADE_UPDATE) - 100);
    assert_int_equal(cli_pump(0), 0);
    assert_int_equal(F.ncm, 2);
    assert_int_equal(F.cm[0].op, DESK_WS_TEXT);
    assert_int_equal(F.cm[0].len, 11);
    assert_memory_equal(F.cm[0].data, "Hello World", 11);
    assert_int_equal(F.cm[1].op, DESK_WS_BINARY);
    assert_int_equal(F.cm[1].len, strlen(TRADE_UPDATE));
    assert_memory_equal(F.cm[1].data, TRADE_UPDATE, strlen(TRADE_UPDATE));
    /* The ping was answered with a pong carrying its payload. */
    srv_pump();
    assert_int_equal(F.nsm, 1);
    assert_int_equal(F.sm[0].op, WSLAY_PONG);
    assert_int_equal(F.sm[0].len, 2);
    assert_memory_equal(F.sm[0].data, "p1", 2);
    assert_int_equal(desk_ws_stats(F.ws)->pings_in, 1);
}

static void test_max_msg(void **state)
{
    (void)state;
    uint8_t b[128];

    memset(b, 'x', sizeof b);
    /* Exactly max_msg (64) in three fragments is delivered. */
    fx_open(64, 0, 0);
    handshake(0);
    s2c_frame(0, WSLAY_BINARY_FRAME, b, 30);
    s2c_frame(0, WSLAY_CONTINUATION_FRAME, b, 30);
    s2c_frame(1, WSLAY_CONTINUATION_FRAME, b, 4);
    assert_int_equal(cli_pump(0), 0);
    assert_int_equal(F.ncm, 1);
    assert_int_equal(F.cm[0].len, 64);
    /* One byte more: -EMSGSIZE, close 1009 to the server, FAILED. */
    s2c_frame(0, WSLAY_BINARY_FRAME, b, 30);
    s2c_frame(0, WSLAY_CONTINUATION_FRAME, b, 30);
    s2c_frame(1, WSLAY_CONTINUATION_FRAME, b, 5);
    assert_int_equal(cli_pump(1), -EMSGSIZE);
    assert_int_equal(F.ncm, 1);
    assert_int_equal(desk_ws_state(F.ws), DESK_WS_FAILED);
    assert_non_null(strstr(desk_ws_reason(F.ws), "max_msg"));
    srv_pump();
    assert_int_equal(F.nsm, 1);
    assert_int_equal(F.sm[0].op, WSLAY_CONNECTION_CLOSE);
    assert_int_equal(F.sm[0].code, 1009);
    assert_int_equal(desk_ws_recv(F.ws, "x", 1, 2), -EPIPE);
    assert_int_equal(desk_ws_send_text(F.ws, "x", 1), -EPIPE);
    teardown(NULL);

    /* A single frame announcing 2^40 bytes fails on its header alone. */
    fx_open(64, 0, 0);
    handshake(0);
    const uint8_t huge[] = {0x82, 127, 0, 0, 1, 0, 0, 0, 0, 0, 'x'};
    s2c_put(huge, sizeof huge);
    assert_int_equal(cli_pump(0), -EMSGSIZE);
    assert_int_equal(F.ncm, 0);
}

static void test_ping_pong(void **state)
{
    (void)state;
    struct wslay_event_msg p = {WSLAY_PING, (const uint8_t *)"abc", 3};

    fx_open(4096, 0, 0);
    handshake(0);
    assert_int_equal(wslay_event_queue_msg(F.srv, &p), 0);
    srv_pump();
    assert_int_equal(cli_pump(0), 0);
    assert_int_equal(F.ncm, 0); /* control frames are not messages */
    srv_pump();
    assert_int_equal(F.nsm, 1);
    assert_int_equal(F.sm[0].op, WSLAY_PONG);
    assert_int_equal(F.sm[0].len, 3);
    assert_memory_equal(F.sm[0].data, "abc", 3);
    assert_int_equal(desk_ws_stats(F.ws)->pings_in, 1);
    /* An empty ping gets an empty pong. */
    s2c_frame(1, WSLAY_PING, "", 0);
    assert_int_equal(cli_pump(0), 0);
    srv_pump();
    assert_int_equal(F.nsm, 2);
    assert_int_equal(F.sm[1].op, WSLAY_PONG);
    assert_int_equal(F.sm[1].len, 0);
}

static void test_own_ping_missed_pong(void **state)
{
    (void)state;
    int64_t t;
    uint8_t pl[64], key[4];
    size_t plen;
    int op;

    fx_open(4096, 10 * SEC, 5 * SEC);
    handshake(0);
    assert_int_equal(desk_ws_next_timer(F.ws, &t), 0);
    assert_int_equal(t, 10 * SEC);
    assert_int_equal(desk_ws_tick(F.ws, 5 * SEC), 0);
    assert_int_equal(F.c2s.len, 0); /* not due yet */
    assert_int_equal(desk_ws_tick(F.ws, 10 * SEC), 0);
    client_frame(0, &op, pl, &plen, key);
    assert_int_equal(op, WSLAY_PING);
    assert_int_equal(plen, 8);
    assert_int_equal(desk_ws_stats(F.ws)->pings_out, 1);
    /* The server answers; the RTT is measured with our clock. */
    srv_pump();
    assert_int_equal(cli_pump(10 * SEC + 200000000), 0);
    assert_int_equal(desk_ws_stats(F.ws)->last_rtt_ns, 200000000);
    assert_int_equal(desk_ws_tick(F.ws, 15 * SEC + 1), 0);
    assert_int_equal(desk_ws_stats(F.ws)->missed_pongs, 0);

    /* Second ping at 20 s; the server stays silent. */
    assert_int_equal(desk_ws_tick(F.ws, 20 * SEC), 0);
    assert_int_equal(desk_ws_stats(F.ws)->pings_out, 2);
    assert_int_equal(desk_ws_next_timer(F.ws, &t), 0);
    assert_int_equal(t, 25 * SEC);
    assert_int_equal(desk_ws_tick(F.ws, 25 * SEC - 1), 0);
    assert_int_equal(desk_ws_tick(F.ws, 25 * SEC), -ETIMEDOUT);
    assert_int_equal(desk_ws_stats(F.ws)->missed_pongs, 1);
    assert_int_equal(desk_ws_tick(F.ws, 26 * SEC), -ETIMEDOUT);
    assert_int_equal(desk_ws_stats(F.ws)->missed_pongs, 1); /* counted once */
    assert_int_equal(desk_ws_stats(F.ws)->pings_out, 2);    /* no ping while one is out */
    /* A pong with the wrong payload does not count. */
    s2c_frame(1, WSLAY_PONG, "stale", 5);
    assert_int_equal(cli_pump(26 * SEC), 0);
    assert_int_equal(desk_ws_tick(F.ws, 26 * SEC), -ETIMEDOUT);
    assert_int_equal(desk_ws_stats(F.ws)->pongs_in, 2);
    /* The late real pong clears it; still OPEN (DEGRADED is the caller's call). */
    srv_pump();
    assert_int_equal(cli_pump(27 * SEC), 0);
    assert_int_equal(desk_ws_tick(F.ws, 27 * SEC), 0);
    assert_int_equal(desk_ws_state(F.ws), DESK_WS_OPEN);
    assert_int_equal(desk_ws_stats(F.ws)->last_rtt_ns, 7 * SEC);
    /* The next ping is due 10 s after the previous one was sent. */
    assert_int_equal(desk_ws_next_timer(F.ws, &t), 0);
    assert_int_equal(t, 30 * SEC);
}

/* ---- close handshake ---- */

static void test_close_by_client(void **state)
{
    (void)state;
    fx_open(4096, 10 * SEC, 5 * SEC);
    handshake(0);
    assert_int_equal(desk_ws_close(F.ws, 999, NULL), -EINVAL);
    assert_int_equal(desk_ws_close(F.ws, 1005, NULL), -EINVAL);
    assert_int_equal(desk_ws_close(F.ws, 1000, "bye"), 0);
    assert_int_equal(desk_ws_state(F.ws), DESK_WS_CLOSING);
    assert_int_equal(desk_ws_send_text(F.ws, "late", 4), -EPIPE);
    assert_int_equal(desk_ws_close(F.ws, 1000, NULL), -EPIPE);
    assert_int_equal(desk_ws_tick(F.ws, 100 * SEC), 0); /* no pings while closing */
    assert_int_equal(desk_ws_next_timer(F.ws, &(int64_t){0}), -ENOENT);
    srv_pump(); /* the server sees our close and echoes it */
    assert_int_equal(F.nsm, 1);
    assert_int_equal(F.sm[0].op, WSLAY_CONNECTION_CLOSE);
    assert_int_equal(F.sm[0].code, 1000);
    assert_memory_equal(F.sm[0].data + 2, "bye", 3);
    assert_int_equal(cli_pump(1), 0);
    assert_int_equal(desk_ws_state(F.ws), DESK_WS_CLOSED);
    assert_int_equal(desk_ws_close_code(F.ws), 1000);
    assert_string_equal(desk_ws_close_reason(F.ws), "bye");
    assert_int_equal(desk_ws_recv(F.ws, "x", 1, 2), -EPIPE);

    /* reset() makes the codec reusable for a reconnect. */
    assert_int_equal(desk_ws_reset(F.ws), 0);
    assert_int_equal(desk_ws_state(F.ws), DESK_WS_CONNECTING);
    assert_int_equal(desk_ws_close_code(F.ws), 0);
    wslay_event_context_free(F.srv);
    assert_int_equal(wslay_event_context_server_init(&F.srv, &srv_cbs, &F), 0);
    handshake(3);
    assert_int_equal(desk_ws_send_text(F.ws, "again", 5), 0);
}

static void test_close_by_server(void **state)
{
    (void)state;
    fx_open(4096, 0, 0);
    handshake(0);
    assert_int_equal(wslay_event_queue_close(F.srv, 1001, (const uint8_t *)"going away", 10), 0);
    srv_pump();
    assert_int_equal(cli_pump(0), 0);
    /* Our echo went out at once: closed both ways. */
    assert_int_equal(desk_ws_state(F.ws), DESK_WS_CLOSED);
    assert_int_equal(desk_ws_close_code(F.ws), 1001);
    assert_string_equal(desk_ws_close_reason(F.ws), "going away");
    assert_string_equal(desk_ws_reason(F.ws), "closed by the peer");
    assert_int_equal(desk_ws_send_text(F.ws, "x", 1), -EPIPE);
    assert_int_equal(wslay_event_recv(F.srv), 0);
    assert_int_equal(F.nsm, 1);
    assert_int_equal(F.sm[0].op, WSLAY_CONNECTION_CLOSE);
    assert_int_equal(F.sm[0].code, 1001);
    teardown(NULL);

    /* A close without a code, while the send side is blocked. */
    fx_open(4096, 0, 0);
    handshake(0);
    F.send_budget = 0;
    s2c_frame(1, WSLAY_CONNECTION_CLOSE, "", 0);
    assert_int_equal(cli_pump(0), 0);
    assert_int_equal(desk_ws_state(F.ws), DESK_WS_CLOSING); /* echo still queued */
    assert_true(desk_ws_want_write(F.ws));
    assert_int_equal(desk_ws_close_code(F.ws), 1005);
    F.send_budget = 3;
    assert_int_equal(desk_ws_flush(F.ws), 0);
    assert_true(desk_ws_want_write(F.ws)); /* partially sent */
    F.send_budget = -1;
    assert_int_equal(desk_ws_flush(F.ws), 0);
    assert_false(desk_ws_want_write(F.ws));
    assert_int_equal(desk_ws_state(F.ws), DESK_WS_CLOSED);
}

/* ---- back-pressure and transport errors ---- */

static void test_backpressure(void **state)
{
    (void)state;
    uint8_t big[3000];

    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    fx_open(4096, 0, 0);
    handshake(0);
    F.send_limit = 7;
    F.send_budget = 50;
    assert_int_equal(desk_ws_send_binary(F.ws, big, sizeof big), 0);
    assert_true(desk_ws_want_write(F.ws));
    assert_int_equal(desk_ws_send_text(F.ws, "after", 5), 0); /* queued behind */
    int rounds = 0;
    while (desk_ws_want_write(F.ws)) {
        F.send_budget = 50;
        assert_int_equal(desk_ws_flush(F.ws), 0);
        srv_pump(); /* the server reads whatever partial frames arrived */
        assert_true(++rounds < 1000);
    }
    srv_pump();
    assert_int_equal(F.nsm, 2);
    assert_int_equal(F.sm[0].len, sizeof big);
    assert_memory_equal(F.sm[0].data, big, sizeof big);
    assert_memory_equal(F.sm[1].data, "after", 5);

    /* A fatal transport error surfaces and the codec fails. */
    F.send_limit = 0;
    F.send_budget = -1;
    F.send_fail = ECONNRESET;
    assert_int_equal(desk_ws_send_text(F.ws, "x", 1), -ECONNRESET);
    assert_int_equal(desk_ws_state(F.ws), DESK_WS_FAILED);
    assert_int_equal(desk_ws_send_text(F.ws, "x", 1), -EPIPE);
}

/* ---- protocol errors ---- */

static void expect_proto(const uint8_t *bytes, size_t n, uint16_t want_code)
{
    fx_open(4096, 0, 0);
    handshake(0);
    s2c_put(bytes, n);
    int rc = cli_pump(0);
    if (rc != -EPROTO)
        fail_msg("rc %d, expected -EPROTO for frame %02x %02x", rc, bytes[0], bytes[1]);
    assert_int_equal(desk_ws_state(F.ws), DESK_WS_FAILED);
    assert_true(strlen(desk_ws_reason(F.ws)) > 0);
    assert_int_equal(desk_ws_recv(F.ws, "x", 1, 0), -EPIPE);
    if (want_code != 0) { /* the close frame the client sent says why */
        srv_pump();
        assert_true(F.nsm >= 1);
        assert_int_equal(F.sm[F.nsm - 1].op, WSLAY_CONNECTION_CLOSE);
        assert_int_equal(F.sm[F.nsm - 1].code, want_code);
    }
    teardown(NULL);
}

static void test_protocol_errors(void **state)
{
    (void)state;
    /* A masked server frame. */
    const uint8_t masked[] = {0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2};
    expect_proto(masked, sizeof masked, 1002);
    /* Reserved opcodes 3 and 0xB. */
    const uint8_t op3[] = {0x83, 0x00};
    expect_proto(op3, sizeof op3, 1002);
    const uint8_t opb[] = {0x8b, 0x00};
    expect_proto(opb, sizeof opb, 1002);
    /* A continuation with nothing to continue. */
    const uint8_t cont[] = {0x80, 0x01, 'x'};
    expect_proto(cont, sizeof cont, 1002);
    /* A new text frame while a fragmented one is open. */
    const uint8_t twice[] = {0x01, 0x01, 'a', 0x81, 0x01, 'b'};
    expect_proto(twice, sizeof twice, 1002);
    /* RSV1 without a negotiated extension. */
    const uint8_t rsv[] = {0xc1, 0x01, 'x'};
    expect_proto(rsv, sizeof rsv, 1002);
    /* Invalid UTF-8 in text: 1007. */
    const uint8_t utf[] = {0x81, 0x02, 0xc3, 0x28};
    expect_proto(utf, sizeof utf, 1007);
    /* A close code that may not be sent. */
    const uint8_t badclose[] = {0x88, 0x02, 0x03, 0xe7}; /* 999 */
    expect_proto(badclose, sizeof badclose, 1002);
    /* Frame-header errors: a 126-byte ping, a fragmented ping, a
     * non-minimal 16-bit length. */
    uint8_t longping[2 + 2 + 126] = {0x89, 126, 0, 126};
    expect_proto(longping, sizeof longping, 0);
    const uint8_t fragping[] = {0x09, 0x00};
    expect_proto(fragping, sizeof fragping, 0);
    const uint8_t nonmin[] = {0x82, 126, 0x00, 0x05, 'a', 'b', 'c', 'd', 'e'};
    expect_proto(nonmin, sizeof nonmin, 0);
}

/* A close reason with bad UTF-8 is a protocol error however it is split. */
static void test_bad_close_reason_split(void **state)
{
    (void)state;
    const uint8_t fr[] = {0x88, 0x06, 0x03, 0xe8, 'o', 'k', 0xc3, 0x28};

    for (size_t cut = 0; cut < sizeof fr; cut++) {
        fx_open(4096, 0, 0);
        handshake(0);
        int rc = 0;
        if (cut > 0)
            rc = desk_ws_recv(F.ws, fr, cut, 0);
        if (rc == 0)
            rc = desk_ws_recv(F.ws, fr + cut, sizeof fr - cut, 0);
        if (rc != -EPROTO)
            fail_msg("cut %zu: rc %d, expected -EPROTO", cut, rc);
        srv_pump();
        assert_int_equal(F.nsm, 1);
        assert_int_equal(F.sm[0].code, 1007);
        teardown(NULL);
    }
}

/* ---- every byte split of a realistic server stream ---- */

static void build_stream(void)
{
    s2c_frame(1, WSLAY_TEXT_FRAME, AUTH_OK, strlen(AUTH_OK));
    s2c_frame(1, WSLAY_BINARY_FRAME, TRADE_UPDATE, strlen(TRADE_UPDATE)); /* 16-bit length */
    s2c_frame(1, WSLAY_PING, "hb", 2);
    s2c_frame(0, WSLAY_TEXT_FRAME, "{\"stream\":", 10);
    s2c_frame(1, WSLAY_PONG, "x", 1); /* unsolicited pong: ignored */
    s2c_frame(1, WSLAY_CONTINUATION_FRAME, "\"listening\"}", 12);
    s2c_frame(1, WSLAY_BINARY_FRAME, "", 0);
    /* A close whose reason has multi-byte UTF-8 (wslay 1.1.1 misjudges
     * such a frame when it arrives in pieces; the codec holds it whole). */
    static const char bye[] = "\x03\xe8"
                              "au revoir \xc3\xa9"
                              "t\xc3\xa9";
    s2c_frame(1, WSLAY_CONNECTION_CLOSE, bye, sizeof bye - 1);
}

static void test_split_every_byte(void **state)
{
    (void)state;
    static uint8_t stream[8192];
    size_t len;
    struct msg ref[4];
    const int nref = 4;

    fx_open(4096, 0, 0);
    handshake(0);
    build_stream();
    len = F.s2c.len;
    memcpy(stream, F.s2c.data, len);
    assert_int_equal(cli_pump(0), 0);
    assert_int_equal(F.ncm, nref);
    memcpy(ref, F.cm, sizeof ref);
    assert_int_equal(ref[2].len, 22);
    assert_memory_equal(ref[2].data, "{\"stream\":\"listening\"}", 22);
    assert_int_equal(ref[3].op, DESK_WS_BINARY);
    assert_int_equal(ref[3].len, 0);
    teardown(NULL);

    /* cut == len + 1 means one byte at a time.  The stream ends with the close. */
    for (size_t cut = 1; cut <= len + 1; cut++) {
        fx_open(4096, 0, 0);
        handshake(0);
        if (cut <= len) {
            assert_int_equal(desk_ws_recv(F.ws, stream, cut, 0), 0);
            if (cut < len) /* after the peer's close, reading is over (-EPIPE) */
                assert_int_equal(desk_ws_recv(F.ws, stream + cut, len - cut, 0), 0);
        } else {
            for (size_t i = 0; i < len; i++)
                assert_int_equal(desk_ws_recv(F.ws, stream + i, 1, 0), 0);
        }
        if (F.ncm != nref)
            fail_msg("cut %zu: %d messages, expected %d", cut, F.ncm, nref);
        for (int i = 0; i < nref; i++) {
            assert_int_equal(F.cm[i].op, ref[i].op);
            assert_int_equal(F.cm[i].len, ref[i].len);
            assert_memory_equal(F.cm[i].data, ref[i].data, ref[i].len);
        }
        assert_int_equal(desk_ws_state(F.ws), DESK_WS_CLOSED);
        assert_int_equal(desk_ws_close_code(F.ws), 1000);
        assert_string_equal(desk_ws_close_reason(F.ws), "au revoir \xc3\xa9t\xc3\xa9");
        /* The server gets the close echo last.  Before it, the pong "hb" if
         * the ping and the close arrived in different reads: wslay drops a
         * queued pong once a close is queued with it (RFC 6455 allows it). */
        srv_pump();
        assert_true(F.nsm == 1 || F.nsm == 2);
        if (F.nsm == 2) {
            assert_int_equal(F.sm[0].op, WSLAY_PONG);
            assert_memory_equal(F.sm[0].data, "hb", 2);
        }
        assert_int_equal(F.sm[F.nsm - 1].op, WSLAY_CONNECTION_CLOSE);
        assert_int_equal(F.sm[F.nsm - 1].code, 1000);
        teardown(NULL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_accept_key_rfc, teardown),
        cmocka_unit_test_teardown(test_handshake_ok_split, teardown),
        cmocka_unit_test_teardown(test_handshake_rejected, teardown),
        cmocka_unit_test_teardown(test_masked_client_frames, teardown),
        cmocka_unit_test_teardown(test_many_frames_rng_refill, teardown),
        cmocka_unit_test_teardown(test_server_text_binary, teardown),
        cmocka_unit_test_teardown(test_fragmented_with_ping, teardown),
        cmocka_unit_test_teardown(test_max_msg, teardown),
        cmocka_unit_test_teardown(test_ping_pong, teardown),
        cmocka_unit_test_teardown(test_own_ping_missed_pong, teardown),
        cmocka_unit_test_teardown(test_close_by_client, teardown),
        cmocka_unit_test_teardown(test_close_by_server, teardown),
        cmocka_unit_test_teardown(test_backpressure, teardown),
        cmocka_unit_test_teardown(test_protocol_errors, teardown),
        cmocka_unit_test_teardown(test_bad_close_reason_split, teardown),
        cmocka_unit_test_teardown(test_split_every_byte, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
