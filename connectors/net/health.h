/*
 * health.h - connection health: a circuit breaker and a token-bucket rate
 * limiter.  Pure logic: no I/O, no clock reads (every call takes `now_ns`
 * from the caller, so tests run on simulated time), no allocation.
 *
 * Circuit breaker.  The connector reports what happens (link up/down,
 * request success/failure, 429s, heartbeats, bans) and reads the resulting
 * desk_health_t for desk_host_health():
 *
 *   DOWN      the link is down (not connected), whatever the breaker says
 *   UP        link up and breaker CLOSED: the router may route
 *   DEGRADED  link up and breaker OPEN or HALF_OPEN: the router routes nothing
 *
 *   CLOSED --N consecutive failures | M consecutive 429s | missed heartbeat | trip--> OPEN
 *   OPEN --cool-down elapsed (tick or allow)--> HALF_OPEN
 *   HALF_OPEN: allow() grants exactly one probe request;
 *       probe success (or, when a missed heartbeat opened it, a heartbeat) --> CLOSED
 *       probe failure, or no answer within probe_timeout_ns --> OPEN (cool-down again)
 *
 * Rate limiter.  A token bucket sized from the venue's published limit (e.g.
 * 200 requests per 60 s, burst 200), in exact integer arithmetic.  A 429
 * (or 418) answer calls desk_ratelimit_backoff(): no request is allowed
 * until Retry-After has passed, the bucket is emptied (the venue says we
 * are over), and the 429 is counted into the linked breaker, which opens
 * after ratelimit_threshold consecutive 429s.
 *
 * Threads: each object belongs to the thread that updates it (the connector
 * thread).  Publishing the state to other threads is desk_host_health()'s
 * job.
 */
#ifndef DESK_HEALTH_H
#define DESK_HEALTH_H

#include <stdint.h>

#include "core/desk_compiler.h"
#include "desk/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DESK_HEALTH_REASON_MAX 48 /* bytes, with the NUL (desk_host_health keeps 47) */

/* Breaker settings; a zero field takes the default in brackets. */
typedef struct desk_breaker_cfg {
    uint32_t fail_threshold;      /* consecutive failures that open it [5] */
    uint32_t ratelimit_threshold; /* consecutive 429s that open it [3] */
    uint64_t cooldown_ns;         /* OPEN before a half-open probe [30 s] */
    uint64_t heartbeat_ns;        /* longest silence while the link is up; 0: not
                                     watched */
    uint64_t probe_timeout_ns;    /* a probe unanswered this long failed [cooldown] */
} desk_breaker_cfg_t;

/* Breaker states. */
typedef enum desk_breaker_state {
    DESK_BREAKER_CLOSED = 0,    /* healthy: everything allowed */
    DESK_BREAKER_OPEN = 1,      /* failing: nothing allowed until the cool-down ends */
    DESK_BREAKER_HALF_OPEN = 2, /* one probe allowed */
} desk_breaker_state_t;

/* Why the breaker opened. */
typedef enum desk_breaker_cause {
    DESK_BREAKER_NONE = 0,      /* closed */
    DESK_BREAKER_FAILURES = 1,  /* consecutive failures */
    DESK_BREAKER_HEARTBEAT = 2, /* missed heartbeat */
    DESK_BREAKER_RATELIMIT = 3, /* consecutive 429s */
    DESK_BREAKER_TRIPPED = 4,   /* desk_breaker_trip (ban, ...) */
} desk_breaker_cause_t;

typedef struct desk_breaker {
    desk_breaker_cfg_t cfg;              /* settings, defaults applied */
    uint8_t link_up;                     /* 1 between link(up) and link(down) */
    uint8_t state;                       /* desk_breaker_state_t */
    uint8_t cause;                       /* desk_breaker_cause_t of the last opening */
    uint8_t probe_out;                   /* HALF_OPEN: the probe was granted */
    uint32_t fails;                      /* consecutive failures */
    uint32_t n429;                       /* consecutive 429s */
    uint32_t version;                    /* bumped on every change of health or reason */
    uint64_t open_until_ns;              /* OPEN: end of the cool-down */
    uint64_t probe_ns;                   /* HALF_OPEN: when the probe was granted */
    uint64_t last_hb_ns;                 /* last heartbeat (or link up) */
    uint64_t opens;                      /* times it opened */
    char reason[DESK_HEALTH_REASON_MAX]; /* why it is not UP ("" when UP) */
} desk_breaker_t;

/*
 * Set up a breaker: CLOSED, link down (DOWN, "not connected").  `cfg` may be
 * NULL (defaults); it is copied, and every zero field takes its default.
 * Returns 0 (there is no invalid setting).  Any thread, before use.
 */
int desk_breaker_init(desk_breaker_t *b, const desk_breaker_cfg_t *cfg, uint64_t now_ns);

/* The link came up (up=1: starts the heartbeat clock) or went down (up=0,
 * health DOWN with `reason`, copied and cut to 47 bytes; NULL: "not
 * connected").  The breaker state survives: a link that comes back while
 * the breaker is open is DEGRADED until a probe succeeds. */
void desk_breaker_link(desk_breaker_t *b, int up, uint64_t now_ns, const char *reason);

/*
 * May a request go out now?  CLOSED: 1.  OPEN: 0, or, once the cool-down
 * has elapsed, the breaker turns HALF_OPEN and grants the probe: 1.
 * HALF_OPEN: 1 for the one probe, 0 while it is outstanding.  Returns 0 when
 * the link is down.  Every request that got 1 must be answered by
 * desk_breaker_success or desk_breaker_failure (or desk_ratelimit_backoff).
 */
int desk_breaker_allow(desk_breaker_t *b, uint64_t now_ns);

/* A request succeeded: consecutive counts reset; HALF_OPEN -> CLOSED (UP).
 * In OPEN it changes nothing else (only the probe may close the breaker). */
void desk_breaker_success(desk_breaker_t *b, uint64_t now_ns);

/* A grant from desk_breaker_allow was not used (nothing went out): an
 * outstanding HALF_OPEN probe is handed back so the next request may probe.
 * Consecutive failure and 429 counts are left alone: nothing was answered. */
void desk_breaker_release(desk_breaker_t *b);

/* A request failed (`reason` copied, cut to 47 bytes): CLOSED opens after
 * fail_threshold in a row; a failed probe re-opens at once. */
void desk_breaker_failure(desk_breaker_t *b, uint64_t now_ns, const char *reason);

/* A 429 (rate limited): CLOSED opens after ratelimit_threshold in a row; a
 * 429 to the probe re-opens.  desk_ratelimit_backoff() calls this. */
void desk_breaker_ratelimited(desk_breaker_t *b, uint64_t now_ns);

/* Open now (a ban, an operator's order) with `reason`, for `cooldown_ns`
 * (0: the configured cool-down). */
void desk_breaker_trip(desk_breaker_t *b, uint64_t now_ns, uint64_t cooldown_ns,
                       const char *reason);

/* A heartbeat (any sign of life the protocol defines) arrived.  In
 * HALF_OPEN after a missed-heartbeat opening it closes the breaker. */
void desk_breaker_heartbeat(desk_breaker_t *b, uint64_t now_ns);

/* Time passes: open on a missed heartbeat, OPEN -> HALF_OPEN after the
 * cool-down, an unanswered probe counts as a failure.  Call every poll. */
void desk_breaker_tick(desk_breaker_t *b, uint64_t now_ns);

/* The health to publish: DESK_DOWN, DESK_UP or DESK_DEGRADED. */
desk_health_t desk_breaker_health(const desk_breaker_t *b);

/* Why it is not UP ("" when UP).  Valid until the next call on `b`. */
static inline const char *desk_breaker_reason(const desk_breaker_t *b)
{
    return b->reason;
}

/* ---- rate limiter ---- */

/* Limiter settings. */
typedef struct desk_ratelimit_cfg {
    uint32_t requests;           /* the venue's limit: requests per window (> 0) */
    uint64_t window_ns;          /* its window, e.g. 60 s (> 0) */
    uint32_t burst;              /* bucket capacity [requests] */
    uint64_t default_backoff_ns; /* a 429 without Retry-After blocks this long [1 s] */
} desk_ratelimit_cfg_t;

typedef struct desk_ratelimit {
    uint64_t units;            /* tokens x window_ns: one token is window_ns units */
    uint64_t cap_units;        /* burst x window_ns */
    uint64_t rate;             /* units added per ns (= requests) */
    uint64_t window_ns;        /* units per token */
    uint64_t last_ns;          /* time of the last refill */
    uint64_t blocked_until_ns; /* no request before this (Retry-After) */
    uint64_t default_backoff_ns; /* see cfg */
    uint64_t taken;            /* requests allowed */
    uint64_t refused;          /* requests refused */
    uint64_t backoffs;         /* 429s reported */
    desk_breaker_t *breaker;   /* 429s are counted here (borrowed; NULL: none) */
} desk_ratelimit_t;

/*
 * Set up a full bucket at `now_ns`.  `breaker` (borrowed, may be NULL)
 * receives every 429.  Returns 0, or -EINVAL (no cfg, requests or window 0,
 * or burst x window above 2^63; desk_errmsg() says which).  Any thread,
 * before use.
 */
int desk_ratelimit_init(desk_ratelimit_t *rl, const desk_ratelimit_cfg_t *cfg,
                        desk_breaker_t *breaker, uint64_t now_ns);

/* Take one token.  Returns 0, or -EAGAIN (bucket empty, or backing off
 * after a 429: see desk_ratelimit_wait_ns).  No syscall. */
int desk_ratelimit_take(desk_ratelimit_t *rl, uint64_t now_ns);

/* Nanoseconds until desk_ratelimit_take() can succeed (0: now). */
uint64_t desk_ratelimit_wait_ns(desk_ratelimit_t *rl, uint64_t now_ns);

/*
 * The venue answered 429 (or 418): block every request for `retry_after_s`
 * seconds (0: the default back-off), empty the bucket, and count the 429
 * into the breaker.  A later, shorter Retry-After never shortens a block.
 */
void desk_ratelimit_backoff(desk_ratelimit_t *rl, uint32_t retry_after_s, uint64_t now_ns);

#ifdef __cplusplus
}
#endif

#endif /* DESK_HEALTH_H */
