/* control.c - the control thread's pure decisions; see control.h. */
#include "control.h"

#include <errno.h>

int desk_control_kill_encode(desk_kill_t want, uint32_t flags)
{
    if ((unsigned)want > DESK_KILL_HALTED || (flags & ~DESK_KILL_CANCEL_ALL) != 0)
        return -EINVAL;
    /* Cancelling everything while orders may still flow would be undone at
     * once: the flag only means something with HALTED. */
    if ((flags & DESK_KILL_CANCEL_ALL) && want != DESK_KILL_HALTED)
        return -EINVAL;
    return (int)((uint32_t)want | flags);
}

int desk_control_kill_decode(int value, desk_kill_t *want, uint32_t *flags)
{
    if (value < 0)
        return -EINVAL;
    uint32_t v = (uint32_t)value;
    uint32_t state = v & DESK_KILL_STATE_MASK;
    uint32_t f = v & ~DESK_KILL_STATE_MASK;

    /* The same rules as encode: decode(encode(x)) == x and nothing else. */
    if (desk_control_kill_encode((desk_kill_t)state, f) < 0)
        return -EINVAL;
    *want = (desk_kill_t)state;
    *flags = f;
    return 0;
}

uint64_t desk_control_hb_stale_ms(uint64_t now_ns, uint64_t hb_ns, uint32_t timeout_ms)
{
    if (timeout_ms == 0 || hb_ns >= now_ns)
        return 0;
    uint64_t age_ns = now_ns - hb_ns;
    if (age_ns <= (uint64_t)timeout_ms * 1000000u)
        return 0;
    return age_ns / 1000000u; /* > timeout_ms >= 1 */
}

int desk_control_loss_check(desk_loss_trip_t *t, int64_t day_pnl, int64_t limit)
{
    if (limit <= 0) {
        t->below = 0; /* no limit: armed for when one is set */
        return 0;
    }
    int below = day_pnl <= -limit; /* limit > 0: -limit cannot overflow */
    int trip = below && !t->below;
    t->below = (uint8_t)below;
    return trip;
}

int64_t desk_control_day_pnl(const struct desk_uta_totals *t)
{
    int64_t sum;

    if (__builtin_add_overflow(t->realized_pnl, t->unrealized_pnl, &sum))
        return t->realized_pnl < 0 ? INT64_MIN : INT64_MAX;
    return sum;
}
