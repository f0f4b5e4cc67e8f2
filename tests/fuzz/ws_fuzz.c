/*
 * ws_fuzz.c - libFuzzer target for the WebSocket client codec
 * (connectors/net/ws.h): server -> client bytes after a real, successful
 * opening handshake (the 101 is built from the codec's own random key).
 *
 * Input: byte 0 picks the chunk size (1..32, or whole when its low 5 bits
 * are 0) and, in bit 7, a send callback that takes at most 5 bytes per call
 * and refuses every other call (back-pressure); the rest are frames.
 * Between chunks the simulated clock advances 3 s and desk_ws_tick() runs
 * (10 s pings, 5 s pong deadline), and now and then the client sends.
 * Invariants, checked with abort() (RelWithDebInfo defines NDEBUG):
 *   - desk_ws_recv() returns 0, -EPROTO, -EMSGSIZE, or -EPIPE once reading
 *     is over; -EPROTO/-EMSGSIZE leave FAILED with a non-empty reason, and
 *     every later recv is -EPIPE;
 *   - on_msg sees only TEXT/BINARY messages of at most max_msg bytes;
 *   - desk_ws_tick() returns 0 or -ETIMEDOUT; sends return 0 or -EPIPE;
 *   - the state is always one of the five, and CLOSED only after a close
 *     code was received;
 *   - chunked feeding delivers exactly what feeding all at once delivers
 *     (same messages, same first error) when the sender never blocks.
 * Under gcc ctest replays the committed corpus (corpus/ws/).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/net/ws.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "ws_fuzz: %s:%d: check failed: %s\n", __FILE__, __LINE__, #c);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_MSG 4096
#define SEC 1000000000LL

struct run {
    bool choppy;    /* the send callback applies back-pressure */
    unsigned calls; /* send callback calls */
    int nmsg;       /* messages delivered */
    uint64_t hash;  /* FNV-1a over opcodes and payloads */
    int first_err;  /* first non-zero recv result */
};

static int fuzz_send(const void *buf, size_t len, void *ctx)
{
    struct run *r = ctx;

    (void)buf;
    CHECK(len > 0);
    if (!r->choppy)
        return (int)(len > 1u << 20 ? 1u << 20 : len);
    if (r->calls++ % 2 == 1)
        return -EAGAIN;
    return (int)(len < 5 ? len : 5);
}

static void fuzz_msg(desk_ws_opcode_t op, const uint8_t *d, size_t len, void *ctx)
{
    struct run *r = ctx;

    CHECK(op == DESK_WS_TEXT || op == DESK_WS_BINARY);
    CHECK(len <= MAX_MSG);
    CHECK(d != NULL || len == 0);
    r->nmsg++;
    r->hash ^= (uint64_t)op;
    r->hash *= 0x100000001b3ull;
    for (size_t i = 0; i < len; i++) {
        r->hash ^= d[i];
        r->hash *= 0x100000001b3ull;
    }
}

static void check_state(desk_ws_t *ws)
{
    desk_ws_state_t s = desk_ws_state(ws);

    CHECK(s == DESK_WS_OPEN || s == DESK_WS_CLOSING || s == DESK_WS_CLOSED || s == DESK_WS_FAILED);
    if (s == DESK_WS_CLOSED)
        CHECK(desk_ws_close_code(ws) != 0);
    if (s == DESK_WS_FAILED)
        CHECK(desk_ws_reason(ws)[0] != '\0');
}

static void run(const uint8_t *d, size_t len, size_t step, struct run *r)
{
    desk_ws_config_t cfg = {MAX_MSG, 10 * SEC, 5 * SEC, fuzz_send, fuzz_msg, r};
    desk_ws_t *ws;
    char req[512], resp[256], acc[DESK_WS_ACCEPT_LEN + 1];
    size_t used, pos = 0;
    int64_t now = 0;
    int n, rl, k = 0;

    r->hash = 0xcbf29ce484222325ull;
    CHECK(desk_ws_create(&ws, &cfg) == 0);
    n = desk_ws_handshake_write(ws, "paper-api.alpaca.markets", "/stream", NULL, 0, req,
                                sizeof req);
    CHECK(n > 0);
    CHECK(desk_ws_accept_key(desk_ws_key(ws), DESK_WS_KEY_LEN, acc) == 0);
    rl = snprintf(resp, sizeof resp,
                  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                  acc);
    CHECK(desk_ws_handshake_read(ws, resp, (size_t)rl, &used, now) == 1);
    CHECK(used == (size_t)rl && desk_ws_state(ws) == DESK_WS_OPEN);

    while (pos < len) {
        size_t end = pos + step < len ? pos + step : len;
        int rc = desk_ws_recv(ws, d + pos, end - pos, now);

        CHECK(rc == 0 || rc == -EPROTO || rc == -EMSGSIZE || rc == -EPIPE);
        if (rc != 0 && r->first_err == 0)
            r->first_err = rc;
        if (rc == -EPROTO || rc == -EMSGSIZE) {
            CHECK(desk_ws_state(ws) == DESK_WS_FAILED);
            CHECK(desk_ws_recv(ws, d, 1, now) == -EPIPE);
        }
        if (rc == -EPIPE)
            CHECK(desk_ws_state(ws) != DESK_WS_OPEN);
        check_state(ws);
        pos = end;
        now += 3 * SEC;
        rc = desk_ws_tick(ws, now);
        CHECK(rc == 0 || rc == -ETIMEDOUT);
        if (++k % 4 == 0) {
            rc = desk_ws_send_text(ws, "{\"action\":\"listen\"}", 19);
            CHECK(rc == 0 || rc == -EPIPE);
        }
        rc = desk_ws_flush(ws);
        CHECK(rc == 0);
    }
    check_state(ws);
    desk_ws_destroy(ws);
}

/* -EPIPE (reading over after the peer's close) counts as no error. */
static int norm(int rc)
{
    return rc == -EPIPE ? 0 : rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    struct run whole = {0}, parts = {0};
    size_t step;

    if (len == 0)
        return 0;
    step = data[0] & 0x1f;
    whole.choppy = parts.choppy = (data[0] & 0x80) != 0;
    data++;
    len--;
    run(data, len, len > 0 ? len : 1, &whole);
    if (step > 0) {
        run(data, len, step, &parts);
        /* Ticks and sends differ between the two runs, but they only change
         * what the client sends, never what it receives.  A chunk after the
         * peer's close is -EPIPE where the whole run just dropped it. */
        CHECK(parts.nmsg == whole.nmsg && parts.hash == whole.hash);
        CHECK(norm(parts.first_err) == norm(whole.first_err));
    }
    return 0;
}
