/*
 * conn.h - a client connection: TCP on the io_uring loop, optional TLS,
 * reconnect with exponential backoff and jitter.
 *
 * This is what the protocol layers (HTTP/1.1, WebSocket, FIX) and the venue
 * sessions sit on.  A desk_conn_t is a byte stream with three callbacks:
 *
 *   on_open(c)                 connected (and, with TLS, handshake done and the
 *                              peer's certificate verified): sends are allowed
 *   on_data(c, bytes, len)     plaintext arrived (any split: a codec must
 *                              buffer partial messages itself)
 *   on_close(c, err, why)      this connection (or connection attempt) ended;
 *                              `why` is a sentence naming the cause
 *
 * and two calls: desk_conn_send() (copies the bytes into the connection's
 * preallocated send buffer, or says -ENOBUFS: never a silent drop) and
 * desk_conn_close().
 *
 * Reconnect policy.  Off unless backoff_base_ns > 0.  When on, every end of
 * a connection or attempt that desk_conn_close() did not ask for (refused,
 * connect or handshake timeout, TLS failure, reset, peer EOF) is followed,
 * after its on_close, by a new attempt on a loop timer after
 *
 *     d = min(backoff_max_ns, backoff_base_ns * 2^k),  delay = uniform in [d/2, d]
 *
 * ("equal jitter": the delay never drops below half the step, so the delays
 * of consecutive failures never decrease until the cap, and many clients do
 * not reconnect in lockstep).  k is the number of consecutive attempts since
 * the backoff was last reset; it is reset by desk_conn_open() and by a
 * connection that stayed OPEN for at least stable_ns, so a peer that accepts
 * and drops at once (bad credentials, overload) is retried ever more slowly
 * rather than at the base rate.  Defaults: no reconnect (base 0), max 30 s,
 * stable 5 s, connect (and TLS handshake) timeout 10 s, jitter seed from the
 * clock.  The host is resolved once, at init: a reconnect reuses the address.
 *
 * Lifecycle: desk_conn_init (cold: resolves the host name with getaddrinfo,
 * which blocks, so do it at setup), desk_conn_open, ..., desk_conn_close,
 * wait for on_close, desk_conn_fini.
 *
 * Memory: init claims one socket slot of the loop (its receive buffer and
 * send ring) and allocates two 16.5 KiB scratch buffers (plaintext out of
 * TLS, ciphertext into the send ring); nothing is allocated per message.
 * The TLS session is created per connection attempt (cold).  A connection
 * uses at most one loop timer at a time (handshake timeout or backoff), but
 * a cancelled timer's slot comes back only with its CQE: size the loop's
 * max_timers at two per connection.
 *
 * Threads: the loop's thread only; the callbacks run inside
 * desk_loop_poll().  Callbacks may call desk_conn_send() and
 * desk_conn_close(); on_close() may also call desk_conn_open() or
 * desk_conn_fini() once the state is IDLE (call desk_conn_close() first to
 * cancel a scheduled reconnect).
 */
#ifndef DESK_CONN_H
#define DESK_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/desk_compiler.h"
#include "loop.h"
#include "tls.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct desk_conn desk_conn_t;

/* Callbacks; the table is copied by desk_conn_init.  Any may be NULL. */
typedef struct desk_conn_cb {
    /* Connected (TLS: handshake done, certificate verified). */
    void (*on_open)(desk_conn_t *c, void *ctx);
    /* `len` (> 0) plaintext bytes; `data` is borrowed for the call only. */
    void (*on_data)(desk_conn_t *c, const uint8_t *data, size_t len, void *ctx);
    /* The connection or attempt ended.  `err`: 0 for a clean close (ours,
     * or the peer's close_notify / EOF on plain TCP); -ETIMEDOUT (connect or
     * TLS handshake timeout); -ECONNREFUSED, -ECONNRESET, ... (TCP; with
     * TLS, a peer that closes TCP during the handshake or without
     * close_notify is -ECONNRESET); -EPROTO (TLS failure, including
     * certificate verification and non-TLS bytes from the peer; `why`
     * carries OpenSSL's reason or the verification result).  `why` is
     * borrowed for the call.  desk_conn_state() tells whether a reconnect
     * is scheduled (DESK_CONN_BACKOFF) or not (DESK_CONN_IDLE). */
    void (*on_close)(desk_conn_t *c, int err, const char *why, void *ctx);
} desk_conn_cb_t;

/* Settings of one connection.  Strings are copied by desk_conn_init. */
typedef struct desk_conn_cfg {
    const char *host;            /* DNS name or IP literal */
    uint16_t port;               /* TCP port */
    const desk_tls_ctx_t *tls;   /* NULL: plain TCP; else TLS with this context
                                    (borrowed for the connection's life) */
    const char *server_name;     /* name the certificate must match and SNI;
                                    NULL: host */
    uint64_t connect_timeout_ns; /* TCP connect, and TLS handshake, each [10 s] */
    uint64_t backoff_base_ns;    /* first reconnect delay; 0: never reconnect */
    uint64_t backoff_max_ns;     /* largest delay [30 s] */
    uint64_t seed;               /* jitter PRNG seed; 0: from the clock */
    uint64_t stable_ns;          /* OPEN at least this long resets the backoff [5 s] */
} desk_conn_cfg_t;

/* desk_conn.state */
typedef enum desk_conn_state {
    DESK_CONN_IDLE = 0,  /* no connection and none scheduled */
    DESK_CONN_CONNECTING, /* TCP connect in flight */
    DESK_CONN_HANDSHAKE, /* TLS handshake in progress */
    DESK_CONN_OPEN,      /* on_open delivered: desk_conn_send allowed */
    DESK_CONN_CLOSING,   /* closing; on_close follows */
    DESK_CONN_BACKOFF,   /* waiting to reconnect */
} desk_conn_state_t;

/* Counters (the loop's thread writes them). */
typedef struct desk_conn_stats {
    uint64_t attempts;        /* connection attempts started */
    uint64_t opens;           /* on_open delivered */
    uint64_t closes;          /* on_close delivered */
    uint64_t bytes_in;        /* plaintext bytes delivered to on_data */
    uint64_t bytes_out;       /* plaintext bytes accepted by desk_conn_send */
    uint64_t last_backoff_ns; /* delay chosen for the latest reconnect */
} desk_conn_stats_t;

#define DESK_CONN_HOSTMAX 256 /* host/server name bytes, with the NUL */
#define DESK_CONN_WHYMAX 224  /* bytes of the on_close sentence */

/* A connection.  Caller-provided storage; fields are private to conn.c. */
struct desk_conn {
    desk_loop_t *loop;               /* the loop (borrowed) */
    uint32_t sock;                   /* the loop socket slot this connection owns */
    uint8_t state;                   /* desk_conn_state_t */
    uint8_t want;                    /* 1 between desk_conn_open and desk_conn_close */
    uint8_t pad_[2];                 /* zero */
    const desk_tls_ctx_t *tls_ctx;   /* TLS context, NULL for plain TCP (borrowed) */
    desk_tls_t tls;                  /* the current TLS session */
    struct sockaddr_storage addr;    /* resolved peer address */
    socklen_t addrlen;               /* its length */
    uint16_t port;                   /* peer port (for messages) */
    char host[DESK_CONN_HOSTMAX];    /* host as configured (for messages) */
    char name[DESK_CONN_HOSTMAX];    /* TLS server name */
    uint64_t connect_timeout_ns;     /* per connect and per handshake */
    uint64_t backoff_base_ns;        /* 0: no reconnect */
    uint64_t backoff_max_ns;         /* cap on the delay */
    uint64_t rng;                    /* xorshift state for the jitter */
    uint64_t stable_ns;              /* OPEN this long resets `attempt` */
    uint64_t open_ns;                /* loop time of this connection's on_open, 0 if none */
    uint32_t attempt;                /* k: attempts since the backoff was last reset */
    uint32_t pad2_;                  /* zero */
    uint64_t timer;                  /* backoff or handshake timer id, 0 if none */
    uint8_t *rx;                     /* plaintext out of TLS [DESK_CONN_SCRATCH] (owned) */
    uint8_t *tx;                     /* ciphertext staging [DESK_CONN_SCRATCH] (owned) */
    int err;                         /* error of the ending connection */
    char why[DESK_CONN_WHYMAX];      /* its sentence */
    desk_conn_cb_t cb;               /* callbacks (copy) */
    void *ctx;                       /* their context (borrowed) */
    desk_conn_stats_t stats;         /* counters */
};

#define DESK_CONN_SCRATCH (16384 + 512) /* one TLS record and its overhead */
#define DESK_CONN_TLS_RESERVE 128       /* send-ring bytes kept for a TLS alert */

/*
 * Prepare a connection on `loop`: resolve cfg->host (getaddrinfo: blocking,
 * so setup only), claim a socket slot, allocate the scratch buffers.  No
 * network traffic yet.  `cb` is copied, `ctx` borrowed.
 * Returns 0; -EINVAL (no host, port 0, name too long); -ENOENT (the host
 * does not resolve; desk_errmsg() has getaddrinfo's reason); -ENOSPC (no free
 * socket slot in the loop); -ENOMEM.  Cold; the loop's thread.
 */
DESK_COLD int desk_conn_init(desk_conn_t *c, desk_loop_t *loop, const desk_conn_cfg_t *cfg,
                             const desk_conn_cb_t *cb, void *ctx);

/*
 * Free what init took.  The connection must be IDLE (never opened, or
 * closed and its on_close delivered): returns 0, or -EBUSY otherwise
 * (nothing freed).  Cold; the loop's thread (also from on_close).
 */
DESK_COLD int desk_conn_fini(desk_conn_t *c);

/*
 * Start connecting (and keep reconnecting if configured).  Non-blocking: the
 * outcome is on_open or on_close.  Returns 0; -EALREADY if not IDLE; -EBUSY
 * (SQ full: nothing started, poll and retry); -ENOMEM (TLS session); or the
 * socket error.  Cold (once per connection); the loop's thread.
 */
int desk_conn_open(desk_conn_t *c);

/*
 * Send `len` bytes (borrowed; copied, and with TLS encrypted, into the
 * connection's send ring before the call returns).  All or nothing.  With
 * TLS the room needed is len plus a bound on the record overhead plus
 * DESK_CONN_TLS_RESERVE bytes kept free for our close_notify.
 * Returns 0; -ENOTCONN (not OPEN); -ENOBUFS (the send ring has no room now:
 * retry after the ring drains, e.g. next poll); -EMSGSIZE (larger than the
 * ring can ever hold); -EBUSY (SQ full: poll and retry); -EPROTO (TLS
 * failed: the connection is closing).  No allocation, no syscall.  The
 * loop's thread.
 */
int desk_conn_send(desk_conn_t *c, const void *data, size_t len);

/*
 * Close and stop reconnecting.  From OPEN: bytes already accepted are sent
 * first, then (TLS) our close_notify, then FIN.  From CONNECTING/HANDSHAKE:
 * the attempt is cancelled.  on_close(c, 0, "closed locally") follows from
 * the loop, except from BACKOFF (the pending reconnect is just cancelled:
 * its on_close was already delivered) and IDLE (nothing to do).  Returns 0.
 * The loop's thread, callbacks included.
 */
int desk_conn_close(desk_conn_t *c);

/* The state (desk_conn_state_t). */
static inline desk_conn_state_t desk_conn_state(const desk_conn_t *c)
{
    return (desk_conn_state_t)c->state;
}

/* Bytes accepted by desk_conn_send and not yet completed by the kernel
 * (plus, with TLS, ciphertext not yet moved to the send ring).  The loop's
 * thread. */
size_t desk_conn_queued(const desk_conn_t *c);

/*
 * The reconnect delay for step k (0 for the first retry): d = min(max,
 * base * 2^k) without overflow, then a uniform draw in [d/2, d] from the
 * xorshift state *rng (updated).  Pure; any thread (with its own *rng);
 * exported for tests and for other retry loops.  Returns the delay in ns.
 */
uint64_t desk_conn_backoff_ns(uint32_t k, uint64_t base_ns, uint64_t max_ns, uint64_t *rng);

/* Static name of a state ("OPEN", ...; "?" if out of range).  Any thread. */
const char *desk_conn_state_name(unsigned s);

#ifdef __cplusplus
}
#endif

#endif /* DESK_CONN_H */
