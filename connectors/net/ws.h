/*
 * ws.h - WebSocket (RFC 6455) client codec on wslay, transport-agnostic.
 *
 * The codec sees only bytes.  The connection layer (TCP/TLS, io_uring)
 * passes what arrived to desk_ws_handshake_read() and then desk_ws_recv();
 * the codec hands bytes to send to the `send` callback of its config.
 * Times are caller-provided `now_ns` (any monotonic clock, the same one for
 * every call).
 *
 * Life of a connection:
 *
 *     desk_ws_create(&ws, &cfg)                       once (cold)
 *     n = desk_ws_handshake_write(ws, host, path, hdrs, nh, buf, cap)
 *         -> send buf[0..n) (the GET Upgrade request, random Sec-WebSocket-Key)
 *     desk_ws_handshake_read(ws, bytes, len, &used, now)   until it returns 1
 *         -> 101 + Upgrade + Connection + Sec-WebSocket-Accept verified;
 *            bytes past `used` are already frames: pass them to desk_ws_recv()
 *     desk_ws_recv(ws, bytes, len, now)               every read; messages come
 *                                                     out through cfg.on_msg
 *     desk_ws_send_text/_binary(ws, ...)              queue + flush to cfg.send
 *     desk_ws_tick(ws, now)                           on a timer: our pings, and
 *                                                     -ETIMEDOUT on a missed pong
 *     desk_ws_close(ws, 1000, "bye")                  close handshake
 *     desk_ws_state(ws) == DESK_WS_CLOSED/FAILED      -> close the socket
 *     desk_ws_reset(ws)                               before reconnecting
 *
 * Framing.  Client frames are masked (wslay does it; the 4-byte keys come
 * from a 4 KiB pool filled by getrandom(), refilled after 1024 frames, so
 * there is no syscall per frame).  Text and binary messages are both
 * delivered (Alpaca's paper trade_updates stream sends JSON in BINARY
 * frames).  Fragmented messages are reassembled into a buffer of
 * cfg.max_msg bytes allocated at create; a larger message fails with
 * -EMSGSIZE and a close frame with code 1009.  A ping from the peer is
 * answered by a pong automatically.  Protocol violations (a masked server
 * frame, an unknown opcode, RSV bits, a bad continuation, an oversize or
 * fragmented control frame, invalid UTF-8 in text, a bad close code) fail
 * with -EPROTO, send a close frame (1002 or 1007) and leave a reason string
 * in desk_ws_reason().
 *
 * wslay quirks handled or documented here.  wslay 1.1.1 validates a close
 * frame's UTF-8 reason per received chunk and skips two bytes of every
 * chunk, so a close frame split across reads was judged wrongly; the codec
 * therefore hands wslay each close frame in one piece.  When a close is
 * queued, wslay discards pongs still waiting in its queue (a ping and a
 * close arriving in the same read get no pong; RFC 6455 allows this).
 *
 * Allocation, honestly.  This layer allocates only in create/reset (the
 * wslay context, the reassembly buffer, the handshake parser).  wslay itself
 * allocates on the heap: for every message queued for sending (a message
 * struct plus a copy of the payload, freed once sent), and for every control
 * frame received (ping, pong, close: a chunk plus a flattened copy).  Data
 * frames received are not buffered by wslay (its no-buffering mode): their
 * bytes go straight into our reassembly buffer.  A hot path that must not
 * touch malloc at all cannot send through wslay's event API.
 *
 * Thread-safety: a desk_ws_t belongs to one thread (the connector thread);
 * callbacks run on that thread, inside the desk_ws_* call that caused them.
 */
#ifndef DESK_WS_H
#define DESK_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "connectors/net/http.h"
#include "core/desk_compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DESK_WS_KEY_LEN 24           /* base64 of 16 random bytes */
#define DESK_WS_ACCEPT_LEN 28        /* base64 of a SHA-1 digest */
#define DESK_WS_MAX_EXTRA_HEADERS 16 /* extra handshake headers accepted */

/* Opcodes of the data messages delivered to on_msg. */
typedef enum desk_ws_opcode {
    DESK_WS_TEXT = 1,   /* UTF-8 text (validated by wslay) */
    DESK_WS_BINARY = 2, /* binary (Alpaca paper trade_updates JSON) */
} desk_ws_opcode_t;

/* Where the connection is; the socket should be closed in CLOSED and FAILED. */
typedef enum desk_ws_state {
    DESK_WS_CONNECTING = 0, /* handshake not finished */
    DESK_WS_OPEN = 1,       /* data flows both ways */
    DESK_WS_CLOSING = 2,    /* one side's close frame is out, the other's not yet */
    DESK_WS_CLOSED = 3,     /* close frames sent and received: close the socket */
    DESK_WS_FAILED = 4,     /* handshake, protocol or transport error: close the socket */
} desk_ws_state_t;

/*
 * Send callback: take up to len bytes of `buf` for the wire.  Returns the
 * number of bytes taken (1..len), 0 or -EAGAIN if it cannot take any now
 * (the codec keeps the rest; call desk_ws_flush() when writable), or another
 * negative errno for a fatal transport error (the codec goes FAILED and
 * returns that errno).  `buf` is borrowed for the call only: copy it.
 */
typedef int (*desk_ws_send_fn)(const void *buf, size_t len, void *ctx);

/*
 * Message callback: one complete (reassembled) text or binary message.
 * `data` is borrowed until the callback returns.  It may call
 * desk_ws_send_*() (the reply is queued and flushed when desk_ws_recv()
 * returns) but must not call desk_ws_recv(), reset or destroy.
 */
typedef void (*desk_ws_msg_fn)(desk_ws_opcode_t op, const uint8_t *data, size_t len, void *ctx);

/* Configuration, copied at create. */
typedef struct desk_ws_config {
    size_t max_msg;           /* largest reassembled message, bytes (>= 1) */
    int64_t ping_interval_ns; /* send our ping this long after the last one; 0: never */
    int64_t pong_timeout_ns;  /* a pong must arrive this long after our ping */
    desk_ws_send_fn send;     /* bytes to the wire (required) */
    desk_ws_msg_fn on_msg;    /* complete messages (required) */
    void *ctx;                /* passed to send and on_msg */
} desk_ws_config_t;

/* Counters, for desk status and tests. */
typedef struct desk_ws_stats {
    uint64_t msgs_in;      /* text/binary messages delivered */
    uint64_t bytes_in;     /* payload bytes of those messages */
    uint64_t msgs_out;     /* text/binary messages queued */
    uint64_t pings_in;     /* pings received (each answered by wslay) */
    uint64_t pongs_in;     /* pongs received (matching ours or not) */
    uint64_t pings_out;    /* our pings sent */
    uint64_t missed_pongs; /* pings whose pong deadline passed */
    int64_t last_rtt_ns;   /* ping -> matching pong of the last answered ping, -1 if none */
} desk_ws_stats_t;

typedef struct desk_ws desk_ws_t;

/*
 * Create a client codec (cold: allocates the reassembly buffer of
 * cfg->max_msg bytes, the wslay context and a small HTTP parser for the
 * handshake; fills the RNG pool with getrandom()).  Returns 0 and *out;
 * -EINVAL for NULL, max_msg == 0, missing callbacks, a negative interval, or
 * ping_interval_ns > 0 with pong_timeout_ns <= 0; -ENOMEM; the getrandom()
 * errno if the kernel RNG fails.  Any thread; then owned by the caller's.
 */
DESK_COLD int desk_ws_create(desk_ws_t **out, const desk_ws_config_t *cfg);

/* Free everything (NULL is a no-op).  Owner thread. */
DESK_COLD void desk_ws_destroy(desk_ws_t *ws);

/*
 * Back to CONNECTING for a new connection: a fresh wslay context (cold:
 * allocates), counters kept.  Returns 0 or -ENOMEM (then the codec stays
 * FAILED).  Owner thread.
 */
DESK_COLD int desk_ws_reset(desk_ws_t *ws);

/*
 * Write the opening handshake into buf[0..cap): GET path HTTP/1.1 with
 * Host, Upgrade: websocket, Connection: Upgrade, a fresh random
 * Sec-WebSocket-Key, Sec-WebSocket-Version: 13, then the `n` extra headers
 * (e.g. Content-Type: application/msgpack; borrowed).  Returns the byte
 * count; -ENOSPC if it does not fit; -EINVAL for a bad host/path/header (as
 * desk_http_req_write()), n > DESK_WS_MAX_EXTRA_HEADERS, or a state other
 * than CONNECTING.  Owner thread.
 */
int desk_ws_handshake_write(desk_ws_t *ws, const char *host, const char *path,
                            const desk_http_header_t *extra, unsigned n, char *buf, size_t cap);

/*
 * Feed the server's handshake response.  *used receives the bytes consumed;
 * anything after them is WebSocket data for desk_ws_recv().
 * Returns 1 when the handshake succeeded (state OPEN, the ping clock starts
 * at now_ns); 0 if more bytes are needed (*used == len); -EPROTO if the
 * server refused or answered wrongly: status other than 101 (see
 * desk_ws_handshake_msg() for the status and body), no "Upgrade: websocket",
 * no "Connection: upgrade", a wrong or missing Sec-WebSocket-Accept, or an
 * extension/subprotocol we did not offer; -EBADMSG for malformed HTTP;
 * -EMSGSIZE for an oversize response; -EINVAL if called out of order
 * (before handshake_write, or after the handshake).  Every failure moves to
 * FAILED and sets desk_errmsg() and desk_ws_reason().  Owner thread.
 */
int desk_ws_handshake_read(desk_ws_t *ws, const void *buf, size_t len, size_t *used,
                           int64_t now_ns);

/*
 * The handshake response (status, headers, body), valid after
 * desk_ws_handshake_read() returned 1 or -EPROTO, until reset/destroy;
 * NULL otherwise.
 */
const desk_http_msg_t *desk_ws_handshake_msg(const desk_ws_t *ws);

/*
 * Feed bytes that arrived after the handshake.  Complete messages go to
 * cfg.on_msg before this returns; pongs owed to the peer and close replies
 * are flushed to cfg.send.  All bytes are consumed, except those after the
 * peer's close frame or after an error (they are dropped).
 * Returns 0 (check desk_ws_state(): the peer may have closed, in which case
 * desk_ws_close_code() says how); -EMSGSIZE for a message over max_msg
 * (close 1009 sent); -EPROTO for a protocol violation (close 1002/1007
 * sent, reason in desk_ws_reason()); -EPIPE if reading is over (the peer's
 * close frame was already received, or the connection FAILED); -EINVAL
 * before the handshake; -ENOMEM if wslay's malloc
 * failed; or the send callback's fatal errno.  Errors move to FAILED.
 * No syscall; wslay mallocs per control frame (see the top).  Owner thread.
 */
int desk_ws_recv(desk_ws_t *ws, const void *buf, size_t len, int64_t now_ns);

/*
 * Queue one text (UTF-8, not checked here) or binary message and flush what
 * the send callback takes.  `data` is copied (by wslay: one malloc).
 * Returns 0 (queued; desk_ws_want_write() says if bytes remain); -EPIPE if
 * the connection is not OPEN (closing, closed or failed); -EINVAL before the
 * handshake or for data == NULL with len > 0; -ENOMEM; or the send
 * callback's fatal errno.  Owner thread.
 */
int desk_ws_send_text(desk_ws_t *ws, const void *data, size_t len);
int desk_ws_send_binary(desk_ws_t *ws, const void *data, size_t len);

/*
 * Start the close handshake: queue a close frame with `code` (1000..4999,
 * not 1004-1006, 1015) and an optional reason (NULL or up to 123 bytes),
 * then flush.  The state becomes CLOSING, then CLOSED when the peer's close
 * arrives through desk_ws_recv().  Returns 0; -EINVAL for a bad code or
 * reason, or before the handshake; -EPIPE if a close was already sent or the
 * connection failed; -ENOMEM; or the send callback's fatal errno.
 */
int desk_ws_close(desk_ws_t *ws, uint16_t code, const char *reason);

/*
 * Push queued bytes to the send callback until it stops taking them.  Also
 * works in FAILED, so the close frame queued by a protocol error can still
 * go out.  Returns 0 (check desk_ws_want_write()); -EINVAL before the
 * handshake; -ENOMEM; or the send callback's fatal errno (FAILED; every
 * later flush returns it again).  Owner thread.
 */
int desk_ws_flush(desk_ws_t *ws);

/* True while queued bytes wait for the send callback to take them. */
bool desk_ws_want_write(const desk_ws_t *ws);

/*
 * Timer work.  When OPEN and no ping is outstanding and now_ns has reached
 * the next ping time, send a ping (8-byte sequence payload).  When a ping
 * is outstanding past its pong deadline, count one missed pong (first time
 * only) and return -ETIMEDOUT: the caller marks the connection DEGRADED
 * (and usually reconnects).  -ETIMEDOUT repeats on every tick until a
 * matching pong arrives.  Returns 0 otherwise, or the send callback's fatal
 * errno.  No-op (0) when ping_interval_ns is 0 or the state is not OPEN.
 */
int desk_ws_tick(desk_ws_t *ws, int64_t now_ns);

/*
 * The earliest time desk_ws_tick() has work (next ping or pong deadline),
 * for arming a timer.  Returns 0 and *when_ns; -ENOENT if none.
 */
int desk_ws_next_timer(const desk_ws_t *ws, int64_t *when_ns);

/* Current state (see desk_ws_state_t).  Owner thread. */
desk_ws_state_t desk_ws_state(const desk_ws_t *ws);

/*
 * Why the connection failed or closed, as a static sentence ("" while
 * healthy).  Valid until the next desk_ws_* call.  Owner thread.
 */
const char *desk_ws_reason(const desk_ws_t *ws);

/*
 * The close code the peer sent: 1000.. as received, 1005 if its close frame
 * had none, 0 if no close frame was received.  The peer's reason text, up
 * to 123 bytes, NUL-terminated, in desk_ws_close_reason().
 */
uint16_t desk_ws_close_code(const desk_ws_t *ws);
const char *desk_ws_close_reason(const desk_ws_t *ws);

/* Counters since create. */
const desk_ws_stats_t *desk_ws_stats(const desk_ws_t *ws);

/* The Sec-WebSocket-Key of the last handshake_write (NUL-terminated), or "". */
const char *desk_ws_key(const desk_ws_t *ws);

/*
 * Compute Sec-WebSocket-Accept for `key` (RFC 6455 4.2.2: base64 of
 * SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) into out, NUL-
 * terminated.  Returns 0; -EINVAL for NULL or key_len > 64.  Pure function
 * (used by servers, simulators and tests too).
 */
int desk_ws_accept_key(const char *key, size_t key_len, char out[DESK_WS_ACCEPT_LEN + 1]);

#ifdef __cplusplus
}
#endif

#endif /* DESK_WS_H */
