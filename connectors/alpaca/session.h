/*
 * session.h - the "alpaca" connector: Alpaca Trading API v2 over TLS on the
 * connector thread's io_uring loop (REST on a keep-alive pool, trade_updates
 * over WebSocket).  connectors/alpaca/README.md is the user's guide.
 *
 * desk.toml options ([connector.options] of a `type = "alpaca"` connector):
 *   base_url            https://host[:port] of the trading API
 *                       [https://paper-api.alpaca.markets]
 *   stream_url          wss://host[:port]/path of trade_updates [base_url's host, /stream]
 *   data_url            https://host[:port] of market data [https://data.alpaca.markets
 *                       for Alpaca's own hosts, else base_url]
 *   api_key_id          credential reference ({ env = ... } / { file = ... }), required
 *   api_secret_key      credential reference, required
 *   ca_file             PEM file of trusted CAs (a simulator's self-signed cert);
 *                       relative to desk.toml's directory [system store]
 *   connect_timeout_ms  TCP connect and TLS handshake [5000]
 *   request_timeout_ms  one REST request [5000]
 *   bootstrap_timeout_ms  the account/positions fetch before connect [10000]
 *   rate_limit          requests per rate_window_ms [200] (PROTOCOLS.md 1.2)
 *   rate_window_ms      [60000]
 *   pool_size           keep-alive trading connections, 1..8 [2]
 *   quote_interval_ms   one latest-quote request per interval, round robin over
 *                       the instruments; 0: no quotes [1000]
 *   account_interval_ms GET /v2/account heartbeat; 0: none [15000]
 *   reconcile_interval_ms  account report to deskd (open orders, account,
 *                       positions) this often; 0: only after each stream
 *                       (re)start [10000]
 *   max_orders          desk orders tracked at once, 64..1048576 [8192]
 *   max_attempts        sends of one POST/PATCH/DELETE before giving up, 1..20 [3]
 *   breaker_failures    consecutive failures that mark it DEGRADED [5]
 *   breaker_cooldown_ms DEGRADED this long before a probe [10000]
 *   reconnect_ms        first reconnect delay (doubles, with jitter) [250]
 *   reconnect_max_ms    largest reconnect delay [10000]
 *   ping_interval_ms    WebSocket ping interval; 0: none [10000]
 *   pong_timeout_ms     a pong must come this soon [5000]
 * Any other key makes create() fail with -EINVAL naming it.
 *
 * Behaviour in brief (the comment at the top of session.c has the detail):
 *  - get_buying_power()/get_positions() run before connect() on deskd's main
 *    thread; the first of them fetches GET /v2/account and GET /v2/positions
 *    synchronously over the connector's own loop, bounded by
 *    bootstrap_timeout_ms, and both return what was fetched.  A venue that
 *    cannot be reached gives -EAGAIN, -ECONNREFUSED or -ETIMEDOUT (bad keys:
 *    -EACCES) with desk_errmsg() naming the URL and the cause.
 *  - place/cancel/replace queue the request and try to send it at once; the
 *    rest happens in poll().  A POST or PATCH whose outcome is unknown
 *    (timeout, lost connection, 5xx, unreadable reply) is settled by
 *    GET /v2/orders:by_client_order_id; the order stays PendingNew (or
 *    PendingReplace) meanwhile, and every resend reuses its client_order_id.
 *  - Health: UP when the trade_updates stream listens, the post-reconnect
 *    reconciliation and any recovery are done and the circuit breaker is
 *    closed; DEGRADED otherwise (DOWN before the first stream session and
 *    after disconnect()).
 *  - Recovery: DESK_CMD_RECOVER (through place_order) adopts an order of an
 *    earlier run; GET by client_order_id (of the order, and of a replace or
 *    cancel in flight at the crash) settles it: CATCHUP fill with the
 *    venue's total, ACK / CANCELED / EXPIRED / REPLACED / CANCEL_REJECT as
 *    the venue says, REJECT on 404 (the POST never reached the venue).
 *  - Reconciliation: desk_host_account_report() with the venue's cash and
 *    buying power, positions in this connector's instruments and the count
 *    of open orders no desk order maps to, after every stream (re)start and
 *    every reconcile_interval_ms while the stream is live.
 *
 * Threads: create() and the bootstrap run on deskd's main thread before the
 * connector thread exists; every other op runs on the connector thread
 * (connector.h).
 */
#ifndef DESK_ALPACA_SESSION_H
#define DESK_ALPACA_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "desk/connector.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The alpaca connector's operations (type "alpaca").  Static; any thread. */
const desk_connector_ops_t *desk_alpaca_ops(void);

/* ---- internals exposed for tests/unit/alpaca_session_test.c (desk__) ---- */

/*
 * The ClOrdID map: client_order_id number -> entry index, open addressing
 * with linear probing over caller memory, deletion by backward shift (no
 * tombstones).  Key 0 marks an empty cell, so key 0 cannot be stored.
 */
typedef struct desk__alpaca_map {
    uint64_t *keys; /* [cap] (borrowed) */
    uint32_t *vals; /* [cap] (borrowed) */
    uint32_t mask;  /* cap - 1, cap a power of two */
    uint32_t n;     /* keys stored */
} desk__alpaca_map_t;

/* Bytes of caller memory for a map of `cap` cells (a power of two). */
size_t desk__alpaca_map_bytes(uint32_t cap);

/* Set up an empty map over mem (desk__alpaca_map_bytes(cap) bytes, 8-byte
 * aligned).  Returns 0, or -EINVAL if cap is not a power of two >= 2.
 * Owner thread. */
int desk__alpaca_map_init(desk__alpaca_map_t *m, void *mem, uint32_t cap);

/* Insert key -> val.  Returns 0; -EEXIST if key is present (unchanged, full
 * or not); -ENOSPC if the map is full (one cell always stays free); -EINVAL
 * for key 0.  Owner thread; no allocation. */
int desk__alpaca_map_put(desk__alpaca_map_t *m, uint64_t key, uint32_t val);

/* The value of key, or UINT32_MAX if absent.  No allocation; hot path. */
uint32_t desk__alpaca_map_get(const desk__alpaca_map_t *m, uint64_t key);

/* Remove key.  Returns 0, or -ENOENT if absent. */
int desk__alpaca_map_del(desk__alpaca_map_t *m, uint64_t key);

/* How one REST answer is classified for the order state machine. */
typedef enum desk__alpaca_outcome {
    DESK__ALP_OK = 1,        /* 2xx with a usable body: the venue did it */
    DESK__ALP_REFUSED = 2,   /* 4xx other than 429: the venue answered "no" */
    DESK__ALP_THROTTLED = 3, /* 429: not run; retry after Retry-After */
    DESK__ALP_AMBIGUOUS = 4, /* 5xx, timeout, lost connection, unreadable 2xx */
    DESK__ALP_FOUND = 5,     /* settle GET: 200, the order exists */
    DESK__ALP_NOT_FOUND = 6, /* settle GET: 404, the venue has no such order */
} desk__alpaca_outcome_t;

/* What to do next with a POST (new order) or PATCH (replace). */
typedef enum desk__alpaca_action {
    DESK__ALP_LIVE = 1,   /* the order (or replacement) exists at the venue */
    DESK__ALP_REJECT = 2, /* definitive refusal: REJECT (or CANCEL_REJECT) */
    DESK__ALP_RESEND = 3, /* send the same request again, same client_order_id */
    DESK__ALP_SETTLE = 4, /* ask GET /v2/orders:by_client_order_id */
} desk__alpaca_action_t;

/*
 * Classify an answer: `status` is the HTTP status (0 when the request got
 * no answer: timeout or lost connection), `body_ok` 1 if a 2xx body decoded.
 * `settle` 1 for a GET by client_order_id.  Pure; any thread.
 */
desk__alpaca_outcome_t desk__alpaca_classify(int status, int body_ok, int settle);

/*
 * Recovery of an order with a cancel or replace in flight at the crash: 1
 * while the venue's answers say the request is still pending there (no
 * outcome may be told yet).  cur_status: the order's desk_alpaca_status_t;
 * repl_found: 1 if the replacement's client_order_id was found, then
 * repl_status is its status.  Pending: the order is pending_replace or
 * pending_cancel, or it is still open while the replacement exists and is
 * not final.  Pure; any thread.
 */
int desk__alpaca_rec_pending(unsigned cur_status, int repl_found, unsigned repl_status);

/* Recovery: the pause before asking again about a pending request after
 * `tries` asks: 200 ms doubling, at most 5 s.  Pure; any thread. */
uint64_t desk__alpaca_rec_backoff_ns(unsigned tries);

/*
 * The ambiguous-outcome state machine of a POST/PATCH: given the outcome of
 * the latest request and how many times the POST/PATCH was sent
 * (`attempts` >= 1) out of `max_attempts`:
 *   OK, FOUND                         -> LIVE
 *   REFUSED on the first attempt      -> REJECT (the venue refused it)
 *   REFUSED on a resend               -> SETTLE (an earlier attempt may have
 *                                        landed: "client_order_id must be unique")
 *   THROTTLED                         -> RESEND (it was not run)
 *   AMBIGUOUS                         -> SETTLE (never a reject)
 *   NOT_FOUND, attempts < max         -> RESEND (same client_order_id)
 *   NOT_FOUND, attempts >= max        -> REJECT
 * Pure; any thread.
 */
desk__alpaca_action_t desk__alpaca_next(desk__alpaca_outcome_t out, unsigned attempts,
                                        unsigned max_attempts);

/*
 * Split "https://host[:port][/path]" (scheme `scheme`, e.g. "https" or
 * "wss") into host (NUL-terminated, brackets of an IPv6 literal removed),
 * port (default 443) and path ("" when absent).  Returns 0, or -EINVAL
 * (wrong scheme, empty host, bad port, a field too long).  Pure.
 */
int desk__alpaca_parse_url(const char *url, const char *scheme, char *host, size_t hcap,
                           uint16_t *port, char *path, size_t pcap);

#ifdef __cplusplus
}
#endif

#endif /* DESK_ALPACA_SESSION_H */
