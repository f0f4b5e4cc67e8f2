/* fixed.c - exact decimal <-> fixed point; see fixed.h. */
#include "fixed.h"

#include <errno.h>
#include <string.h>

int desk_fixed_parse(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    uint64_t ip = 0;   /* integer part */
    uint64_t fp = 0;   /* fractional part, in 1e-8 units */
    unsigned nfrac = 0;
    unsigned ndig = 0; /* digits seen, integer and fraction */
    int range = 0;     /* unrepresentable; reported only if the text is a decimal */

    if (len == 0)
        return -EBADMSG;
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i++;
    }
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, ndig++) {
        /* INT64_MAX / 1e8 = 92233720368: check before multiplying. */
        if (ip > (uint64_t)(INT64_MAX / DESK_SCALE) + 1)
            range = 1; /* keep scanning: malformed text wins over range */
        else
            ip = ip * 10 + (uint64_t)(s[i] - '0');
    }
    if (i < len && s[i] == '.') {
        i++;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, ndig++) {
            if (nfrac < 8) {
                fp = fp * 10 + (uint64_t)(s[i] - '0');
                nfrac++;
            } else if (s[i] != '0') {
                range = 1; /* would need more than 8 decimals */
            }
        }
    }
    if (i != len || ndig == 0)
        return -EBADMSG;
    if (range || ip > (uint64_t)(INT64_MAX / DESK_SCALE) + 1)
        return -ERANGE;
    static const uint64_t pow10[9] = {100000000, 10000000, 1000000, 100000, 10000,
                                      1000,      100,      10,      1};
    fp *= pow10[nfrac];
    /* Magnitude in 1e-8 units; INT64_MIN's magnitude is one more than MAX. */
    unsigned __int128 mag = (unsigned __int128)ip * (uint64_t)DESK_SCALE + fp;
    if (neg ? mag > (unsigned __int128)INT64_MAX + 1 : mag > (unsigned __int128)INT64_MAX)
        return -ERANGE;
    *out = neg ? (int64_t)(0 - (uint64_t)mag) : (int64_t)mag;
    return 0;
}

int desk_fixed_parse_cstr(const char *s, int64_t *out)
{
    return desk_fixed_parse(s, strlen(s), out);
}

int desk_fixed_format(int64_t v, unsigned min_frac, char *buf, size_t cap)
{
    char tmp[32];
    size_t n = 0;
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    uint64_t ip = mag / (uint64_t)DESK_SCALE;
    uint64_t fp = mag % (uint64_t)DESK_SCALE;
    char frac[8];
    unsigned nf = 8;

    if (min_frac > 8)
        min_frac = 8;
    for (int k = 7; k >= 0; k--) {
        frac[k] = (char)('0' + fp % 10);
        fp /= 10;
    }
    while (nf > min_frac && frac[nf - 1] == '0')
        nf--;
    /* Integer digits, reversed into tmp's tail. */
    char rev[24];
    size_t nr = 0;
    do {
        rev[nr++] = (char)('0' + ip % 10);
        ip /= 10;
    } while (ip);
    if (v < 0)
        tmp[n++] = '-';
    while (nr)
        tmp[n++] = rev[--nr];
    if (nf) {
        tmp[n++] = '.';
        memcpy(tmp + n, frac, nf);
        n += nf;
    }
    if (n + 1 > cap)
        return -ENOSPC;
    memcpy(buf, tmp, n);
    buf[n] = '\0';
    return (int)n;
}
