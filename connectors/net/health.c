/*
 * health.c - circuit breaker and token-bucket rate limiter (see health.h).
 *
 * Everything is integer arithmetic on caller-supplied times.  A time that
 * goes backwards (two threads' clocks, a test) is treated as "no time
 * passed", never as a huge unsigned interval.
 */
#include "health.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

static void set_reason(desk_breaker_t *b, const char *r)
{
    if (strncmp(b->reason, r, sizeof b->reason - 1) != 0) {
        snprintf(b->reason, sizeof b->reason, "%s", r);
        b->version++;
    }
}

static void open_breaker(desk_breaker_t *b, uint64_t now, uint64_t cooldown, uint8_t cause,
                         const char *reason)
{
    b->state = DESK_BREAKER_OPEN;
    b->cause = cause;
    b->probe_out = 0;
    b->open_until_ns = now + (cooldown ? cooldown : b->cfg.cooldown_ns);
    b->opens++;
    b->version++;
    if (b->link_up)
        set_reason(b, reason);
}

static void close_breaker(desk_breaker_t *b)
{
    b->state = DESK_BREAKER_CLOSED;
    b->cause = DESK_BREAKER_NONE;
    b->probe_out = 0;
    b->fails = 0;
    b->n429 = 0;
    b->version++;
    if (b->link_up)
        set_reason(b, "");
}

int desk_breaker_init(desk_breaker_t *b, const desk_breaker_cfg_t *cfg, uint64_t now_ns)
{
    memset(b, 0, sizeof *b);
    if (cfg)
        b->cfg = *cfg;
    if (b->cfg.fail_threshold == 0)
        b->cfg.fail_threshold = 5;
    if (b->cfg.ratelimit_threshold == 0)
        b->cfg.ratelimit_threshold = 3;
    if (b->cfg.cooldown_ns == 0)
        b->cfg.cooldown_ns = 30000000000ull;
    if (b->cfg.probe_timeout_ns == 0)
        b->cfg.probe_timeout_ns = b->cfg.cooldown_ns;
    b->last_hb_ns = now_ns;
    snprintf(b->reason, sizeof b->reason, "not connected");
    return 0;
}

void desk_breaker_link(desk_breaker_t *b, int up, uint64_t now_ns, const char *reason)
{
    if (up) {
        b->link_up = 1;
        b->last_hb_ns = now_ns;
        b->version++;
        if (b->state == DESK_BREAKER_CLOSED)
            set_reason(b, "");
        else
            set_reason(b, b->cause == DESK_BREAKER_HEARTBEAT ? "missed heartbeat"
                                                              : "circuit breaker open");
    } else {
        if (b->link_up)
            b->version++;
        b->link_up = 0;
        b->probe_out = 0; /* an outstanding probe died with the link */
        set_reason(b, reason ? reason : "not connected");
    }
}

int desk_breaker_allow(desk_breaker_t *b, uint64_t now_ns)
{
    if (!b->link_up)
        return 0;
    if (b->state == DESK_BREAKER_CLOSED)
        return 1;
    if (b->state == DESK_BREAKER_OPEN) {
        if (now_ns < b->open_until_ns)
            return 0;
        /* The first request after the cool-down is the probe. */
        b->state = DESK_BREAKER_HALF_OPEN;
        b->probe_out = 0;
        b->version++;
    }
    /* HALF_OPEN: one probe at a time. */
    if (b->probe_out)
        return 0;
    b->probe_out = 1;
    b->probe_ns = now_ns;
    return 1;
}

void desk_breaker_success(desk_breaker_t *b, uint64_t now_ns)
{
    (void)now_ns;
    b->fails = 0;
    b->n429 = 0;
    if (b->state == DESK_BREAKER_HALF_OPEN && b->probe_out)
        close_breaker(b);
}

void desk_breaker_release(desk_breaker_t *b)
{
    if (b->state == DESK_BREAKER_HALF_OPEN)
        b->probe_out = 0;
}

void desk_breaker_failure(desk_breaker_t *b, uint64_t now_ns, const char *reason)
{
    char r[DESK_HEALTH_REASON_MAX];

    if (b->fails < UINT32_MAX)
        b->fails++;
    if (b->state == DESK_BREAKER_HALF_OPEN && b->probe_out) {
        snprintf(r, sizeof r, "probe failed: %s", reason ? reason : "error");
        open_breaker(b, now_ns, 0, DESK_BREAKER_FAILURES, r);
    } else if (b->state == DESK_BREAKER_CLOSED && b->fails >= b->cfg.fail_threshold) {
        snprintf(r, sizeof r, "%u failures: %s", b->fails, reason ? reason : "error");
        open_breaker(b, now_ns, 0, DESK_BREAKER_FAILURES, r);
    }
}

void desk_breaker_ratelimited(desk_breaker_t *b, uint64_t now_ns)
{
    char r[DESK_HEALTH_REASON_MAX];

    if (b->n429 < UINT32_MAX)
        b->n429++;
    if (b->state == DESK_BREAKER_HALF_OPEN && b->probe_out) {
        open_breaker(b, now_ns, 0, DESK_BREAKER_RATELIMIT, "probe rate limited (429)");
    } else if (b->state == DESK_BREAKER_CLOSED && b->n429 >= b->cfg.ratelimit_threshold) {
        snprintf(r, sizeof r, "rate limited: %u consecutive 429s", b->n429);
        open_breaker(b, now_ns, 0, DESK_BREAKER_RATELIMIT, r);
    }
}

void desk_breaker_trip(desk_breaker_t *b, uint64_t now_ns, uint64_t cooldown_ns,
                       const char *reason)
{
    open_breaker(b, now_ns, cooldown_ns, DESK_BREAKER_TRIPPED, reason ? reason : "tripped");
}

void desk_breaker_heartbeat(desk_breaker_t *b, uint64_t now_ns)
{
    if (now_ns > b->last_hb_ns)
        b->last_hb_ns = now_ns;
    if (b->state == DESK_BREAKER_HALF_OPEN && b->cause == DESK_BREAKER_HEARTBEAT)
        close_breaker(b);
}

void desk_breaker_tick(desk_breaker_t *b, uint64_t now_ns)
{
    if (!b->link_up)
        return;
    if (b->state == DESK_BREAKER_CLOSED && b->cfg.heartbeat_ns && now_ns > b->last_hb_ns &&
        now_ns - b->last_hb_ns > b->cfg.heartbeat_ns) {
        open_breaker(b, now_ns, 0, DESK_BREAKER_HEARTBEAT, "missed heartbeat");
        return;
    }
    if (b->state == DESK_BREAKER_OPEN && now_ns >= b->open_until_ns) {
        b->state = DESK_BREAKER_HALF_OPEN;
        b->probe_out = 0;
        b->version++;
        return;
    }
    if (b->state == DESK_BREAKER_HALF_OPEN && b->probe_out && now_ns > b->probe_ns &&
        now_ns - b->probe_ns > b->cfg.probe_timeout_ns)
        open_breaker(b, now_ns, 0, DESK_BREAKER_FAILURES, "probe unanswered");
}

desk_health_t desk_breaker_health(const desk_breaker_t *b)
{
    if (!b->link_up)
        return DESK_DOWN;
    return b->state == DESK_BREAKER_CLOSED ? DESK_UP : DESK_DEGRADED;
}

/* ---- rate limiter ---- */

int desk_ratelimit_init(desk_ratelimit_t *rl, const desk_ratelimit_cfg_t *cfg,
                        desk_breaker_t *breaker, uint64_t now_ns)
{
    memset(rl, 0, sizeof *rl);
    if (cfg == NULL || cfg->requests == 0 || cfg->window_ns == 0)
        return DESK_ERR(-EINVAL, "ratelimit: requests and window must be > 0");
    uint64_t burst = cfg->burst ? cfg->burst : cfg->requests;
    if (cfg->window_ns > (UINT64_MAX >> 1) / burst)
        return DESK_ERR(-EINVAL, "ratelimit: burst %llu x window %llu ns overflows",
                        (unsigned long long)burst, (unsigned long long)cfg->window_ns);
    rl->window_ns = cfg->window_ns;
    rl->rate = cfg->requests;
    rl->cap_units = burst * cfg->window_ns;
    rl->units = rl->cap_units;
    rl->last_ns = now_ns;
    rl->default_backoff_ns = cfg->default_backoff_ns ? cfg->default_backoff_ns : 1000000000ull;
    rl->breaker = breaker;
    return 0;
}

/* Add the tokens earned since last_ns: `rate` units per ns, up to the cap.
 * The elapsed time is clamped first so elapsed * rate cannot overflow. */
static void refill(desk_ratelimit_t *rl, uint64_t now)
{
    if (now <= rl->last_ns)
        return;
    uint64_t el = now - rl->last_ns;
    uint64_t room = rl->cap_units - rl->units;
    if (el >= room / rl->rate + 1)
        rl->units = rl->cap_units;
    else
        rl->units += el * rl->rate;
    if (rl->units > rl->cap_units)
        rl->units = rl->cap_units;
    rl->last_ns = now;
}

int desk_ratelimit_take(desk_ratelimit_t *rl, uint64_t now_ns)
{
    refill(rl, now_ns);
    if (now_ns < rl->blocked_until_ns || rl->units < rl->window_ns) {
        rl->refused++;
        return -EAGAIN;
    }
    rl->units -= rl->window_ns;
    rl->taken++;
    return 0;
}

uint64_t desk_ratelimit_wait_ns(desk_ratelimit_t *rl, uint64_t now_ns)
{
    refill(rl, now_ns);
    uint64_t blocked = now_ns < rl->blocked_until_ns ? rl->blocked_until_ns - now_ns : 0;
    uint64_t fill = 0;
    if (rl->units < rl->window_ns)
        fill = (rl->window_ns - rl->units + rl->rate - 1) / rl->rate;
    /* Tokens keep accruing while blocked, so the wait is the longer one. */
    return blocked > fill ? blocked : fill;
}

void desk_ratelimit_backoff(desk_ratelimit_t *rl, uint32_t retry_after_s, uint64_t now_ns)
{
    uint64_t d = retry_after_s ? (uint64_t)retry_after_s * 1000000000ull : rl->default_backoff_ns;

    refill(rl, now_ns);
    if (now_ns + d > rl->blocked_until_ns)
        rl->blocked_until_ns = now_ns + d;
    rl->units = 0;
    rl->backoffs++;
    if (rl->breaker)
        desk_breaker_ratelimited(rl->breaker, now_ns);
}
