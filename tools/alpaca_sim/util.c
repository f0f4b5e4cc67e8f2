/*
 * util.c - desk-alpaca-sim helpers: growable buffers, JSON output pieces,
 * clocks, RFC 3339 times and uuids.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "core/fixed.h"
#include "sim.h"

/* Make room for n more bytes plus a NUL; the simulator aborts on OOM. */
static void buf_reserve(sim_buf_t *b, size_t n)
{
    if (b->n + n + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        fprintf(stderr, "desk-alpaca-sim: out of memory\n");
        abort();
    }
    b->p = p;
    b->cap = cap;
}

void sim_buf_put(sim_buf_t *b, const void *s, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void sim_buf_puts(sim_buf_t *b, const char *s)
{
    sim_buf_put(b, s, strlen(s));
}

void sim_buf_printf(sim_buf_t *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n > 0) {
        buf_reserve(b, (size_t)n);
        vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap2);
        b->n += (size_t)n;
    }
    va_end(ap2);
}

void sim_buf_json_str(sim_buf_t *b, const char *s)
{
    sim_buf_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            char e[2] = {'\\', (char)*c};
            sim_buf_put(b, e, 2);
        } else if (*c < 0x20) {
            sim_buf_printf(b, "\\u%04x", *c);
        } else {
            sim_buf_put(b, c, 1);
        }
    }
    sim_buf_put(b, "\"", 1);
}

void sim_buf_fixed_num(sim_buf_t *b, int64_t v)
{
    char tmp[32];
    int n = desk_fixed_format(v, 0, tmp, sizeof tmp);
    sim_buf_put(b, tmp, n > 0 ? (size_t)n : 0);
}

void sim_buf_fixed(sim_buf_t *b, int64_t v)
{
    sim_buf_put(b, "\"", 1);
    sim_buf_fixed_num(b, v);
    sim_buf_put(b, "\"", 1);
}

void sim_buf_time(sim_buf_t *b, int64_t ns)
{
    struct tm tm;
    time_t s = (time_t)(ns / 1000000000);

    if (ns <= 0) {
        sim_buf_puts(b, "null");
        return;
    }
    gmtime_r(&s, &tm);
    sim_buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)(ns % 1000000000));
}

void sim_buf_free(sim_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t sim_now_wall(void)
{
    return clock_ns(CLOCK_REALTIME);
}

int64_t sim_now_mono(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

void sim_uuid(char out[40])
{
    unsigned char r[16];

    if (RAND_bytes(r, sizeof r) != 1) {
        fprintf(stderr, "desk-alpaca-sim: RAND_bytes failed\n");
        abort();
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 40,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
             r[15]);
}
