/*
 * tls.h - TLS client on memory BIOs (OpenSSL 3), so io_uring does the I/O.
 *
 * OpenSSL never touches a socket here: the owner feeds the ciphertext it
 * received into desk_tls_feed(), takes plaintext out with desk_tls_read(),
 * writes plaintext with desk_tls_write() and takes the ciphertext to send
 * with desk_tls_take().  The handshake is a state machine driven by those
 * bytes (desk_tls_handshake() after every feed until it returns 1), and
 * works with records split anywhere, down to one byte per feed.
 *
 * Verification is on unless a test turns it off: the peer's chain must lead
 * to the system CA store (SSL_CTX_set_default_verify_paths) or to the CA
 * file given in the config, and its certificate must match the server name
 * (SSL_set1_host; an IP literal is checked as an IP address).  The name is
 * also sent as SNI unless it is an IP literal.  Failures name their cause:
 * "certificate verification failed: hostname mismatch", "... unable to get
 * local issuer certificate", "wrong version number", ...
 *
 * Memory: the SSL and its two memory BIOs are allocated per connection
 * (desk_tls_init, cold: once per connection attempt).  After the handshake
 * OpenSSL reuses its record buffers and the BIOs keep their capacity, so
 * steady-state traffic does not allocate per message.  kTLS is not used.
 *
 * Threads: a desk_tls_t belongs to one thread (the connector thread).  A
 * desk_tls_ctx_t is read-only after init and may be shared by the
 * connections of several threads (OpenSSL's SSL_CTX is thread-safe for
 * SSL_new).
 */
#ifndef DESK_TLS_H
#define DESK_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "core/desk_compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ssl_ctx_st desk__ssl_ctx;
typedef struct ssl_st desk__ssl;
typedef struct bio_st desk__bio;

/* desk_tls_cfg.version_min / version_max */
#define DESK_TLS_1_2 0x0303 /* TLS1_2_VERSION */
#define DESK_TLS_1_3 0x0304 /* TLS1_3_VERSION */

/* How a TLS context is set up.  Strings are read during init only. */
typedef struct desk_tls_cfg {
    const char *ca_file;  /* PEM file of trusted CAs; NULL: the system store */
    int insecure;         /* 1: do not verify the peer (never in production) */
    uint16_t version_min; /* DESK_TLS_1_2 (default, 0) or DESK_TLS_1_3 */
    uint16_t version_max; /* 0: the newest OpenSSL supports */
} desk_tls_cfg_t;

/* A client TLS context (one SSL_CTX), shared by connections. */
typedef struct desk_tls_ctx {
    desk__ssl_ctx *ctx; /* the SSL_CTX (owned) */
    int insecure;       /* verification off */
} desk_tls_ctx_t;

/* desk_tls.state */
enum desk_tls_state {
    DESK_TLS_NONE = 0,  /* not initialised */
    DESK_TLS_HANDSHAKE, /* handshake in progress */
    DESK_TLS_OPEN,      /* application data flows */
    DESK_TLS_CLOSED,    /* close_notify received (reads end) */
    DESK_TLS_FAILED,    /* fatal error: see desk_tls_errmsg() */
};

#define DESK_TLS_ERRMAX 192 /* bytes of the error sentence */

/* One TLS client connection. */
typedef struct desk_tls {
    desk__ssl *ssl;            /* the SSL (owned) */
    desk__bio *rbio;           /* ciphertext in: we write, OpenSSL reads (owned by ssl) */
    desk__bio *wbio;           /* ciphertext out: OpenSSL writes, we read (owned by ssl) */
    uint8_t state;             /* enum desk_tls_state */
    uint8_t sent_close;        /* our close_notify is queued */
    uint8_t pad_[6];           /* zero */
    char err[DESK_TLS_ERRMAX]; /* why it failed, a sentence ("" if it did not) */
} desk_tls_t;

/*
 * Create a client context: protocol versions, verification mode, trust
 * store.  Returns 0; -EINVAL (bad version); -ENOENT/-EPROTO (the CA file
 * cannot be loaded, desk_errmsg() names it and OpenSSL's reason); -ENOMEM.
 * Cold; any thread.
 */
DESK_COLD int desk_tls_ctx_init(desk_tls_ctx_t *t, const desk_tls_cfg_t *cfg);

/* Free the context (after every desk_tls_t made from it).  Safe twice. */
DESK_COLD void desk_tls_ctx_fini(desk_tls_ctx_t *t);

/*
 * Start a client session for `server_name` (copied; a DNS name or an IP
 * literal, the name the certificate must match): SSL_new with two memory
 * BIOs, SNI, host check.  The first desk_tls_handshake() produces the
 * ClientHello.  `ctx` is borrowed for the session's life.  Returns 0,
 * -EINVAL (empty name), -ENOMEM.  Cold (once per connection attempt).
 */
DESK_COLD int desk_tls_init(desk_tls_t *t, const desk_tls_ctx_t *ctx, const char *server_name);

/* Free the session.  Safe on a zeroed or finished desk_tls_t. */
void desk_tls_fini(desk_tls_t *t);

/*
 * Hand `len` bytes of received ciphertext (borrowed, copied) to OpenSSL.
 * Returns 0, or -ENOMEM if the memory BIO cannot grow.
 */
int desk_tls_feed(desk_tls_t *t, const void *data, size_t len);

/*
 * Advance the handshake with the bytes fed so far.  Returns 1 when it is
 * complete (state OPEN), 0 when more peer bytes are needed (check
 * desk_tls_pending(): there may be bytes to send first), or -EPROTO when it
 * failed (state FAILED; desk_tls_errmsg() says why: the verification result
 * string when the certificate was refused, else OpenSSL's reason).
 */
int desk_tls_handshake(desk_tls_t *t);

/*
 * Decrypt into out[0..cap).  Returns the number of plaintext bytes (> 0); 0
 * when a whole record is not there yet; -ESHUTDOWN when the peer sent
 * close_notify (state CLOSED); -EPROTO on a fatal error (state FAILED,
 * desk_tls_errmsg()); -ENOTCONN before the handshake completed.
 */
int desk_tls_read(desk_tls_t *t, void *out, size_t cap);

/*
 * Encrypt `len` bytes (borrowed): the records land in the outgoing BIO,
 * take them with desk_tls_take().  All or nothing.  Returns 0; -ENOTCONN
 * (handshake not done, or closed); -EPROTO (fatal error).
 */
int desk_tls_write(desk_tls_t *t, const void *data, size_t len);

/* Bytes of ciphertext waiting to be sent. */
size_t desk_tls_pending(const desk_tls_t *t);

/* Move up to `cap` bytes of ciphertext to out.  Returns how many (>= 0). */
size_t desk_tls_take(desk_tls_t *t, void *out, size_t cap);

/*
 * Queue our close_notify (send the pending bytes, then close the socket).
 * Returns 0, or -ENOTCONN if the session was never open or is failed.
 */
int desk_tls_close(desk_tls_t *t);

/* The upper bound of ciphertext bytes that encrypting `len` bytes adds
 * (record headers, nonces, tags, CBC padding), for send-space checks. */
static inline size_t desk_tls_overhead(size_t len)
{
    return (len / 16384 + 1) * 352;
}

/* Why the session failed ("" if it has not). */
static inline const char *desk_tls_errmsg(const desk_tls_t *t)
{
    return t->err;
}

#ifdef __cplusplus
}
#endif

#endif /* DESK_TLS_H */
