/*
 * desk/fixed.h - fixed-point numbers at 1e-8 (DESK_SCALE), exactly.
 *
 * Public: strategies use the same parser and formatter as deskd (in libdesk).
 *
 * Venue decimal strings ("187.2500", "0.00100000", "-3") become int64_t
 * scaled by 1e8 with no floating point and no rounding: a string with a
 * nonzero digit past the 8th decimal place, or a magnitude beyond
 * INT64_MAX / 1e8 (about 92 billion), is an error, never a silent rounding.
 * Products (notional = px * qty) are computed in __int128 and checked.
 *
 * All functions are pure, thread-safe, allocation- and syscall-free; they
 * are fit for the hot path.
 */
#ifndef DESK_PUBLIC_FIXED_H
#define DESK_PUBLIC_FIXED_H

#include <stddef.h>
#include <stdint.h>

#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Parse the decimal in s[0..len) into *out (1e-8 units).  Grammar:
 * [+-]? digits [. digits]? or [+-]? . digits; no exponent, no spaces, no
 * thousands separators.  Trailing zeros past the 8th decimal are allowed
 * ("1.000000000" is 1).  Returns 0, -EBADMSG if the text is not a decimal,
 * or -ERANGE if it cannot be represented (too large, or a nonzero digit past
 * 1e-8).  *out is untouched on error.
 */
int desk_fixed_parse(const char *s, size_t len, int64_t *out);

/* desk_fixed_parse() of a NUL-terminated string. */
int desk_fixed_parse_cstr(const char *s, int64_t *out);

/*
 * Write v as a decimal with `min_frac` to 8 fractional digits (trailing
 * zeros past min_frac are trimmed; min_frac 0 gives "187.25", "1"), NUL
 * terminated.  Returns the length written (without the NUL), or -ENOSPC if
 * buf[cap] is too small (32 bytes always suffice).
 */
int desk_fixed_format(int64_t v, unsigned min_frac, char *buf, size_t cap);

/*
 * a * b / DESK_SCALE, the notional of price a and quantity b, rounded toward
 * zero.  Returns 0, or -ERANGE if the result does not fit in int64_t.
 */
static inline int desk_fixed_mul(int64_t a, int64_t b, int64_t *out)
{
    __int128 p = (__int128)a * b / DESK_SCALE;

    if (p > INT64_MAX || p < INT64_MIN)
        return -34; /* -ERANGE, spelled out so this header needs no errno.h */
    *out = (int64_t)p;
    return 0;
}

/*
 * a * b / c rounded toward zero; c must be nonzero.  Returns 0, -EINVAL for
 * c == 0, or -ERANGE if the result does not fit.  Used for fees (notional *
 * bps / 10000) and average prices.
 */
static inline int desk_fixed_muldiv(int64_t a, int64_t b, int64_t c, int64_t *out)
{
    if (c == 0)
        return -22; /* -EINVAL */
    __int128 p = (__int128)a * b / c;

    if (p > INT64_MAX || p < INT64_MIN)
        return -34; /* -ERANGE */
    *out = (int64_t)p;
    return 0;
}

/* a + b, checked.  Returns 0 or -ERANGE. */
static inline int desk_fixed_add(int64_t a, int64_t b, int64_t *out)
{
    return __builtin_add_overflow(a, b, out) ? -34 : 0;
}

#ifdef __cplusplus
}
#endif

#endif /* DESK_PUBLIC_FIXED_H */
