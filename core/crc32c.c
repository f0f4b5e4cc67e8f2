/*
 * crc32c.c - CRC-32C: SSE4.2 instruction with a slicing-by-8 table fallback.
 *
 * Slicing-by-8 (Intel, Kounavis and Berry 2005): table[0] is the classic
 * byte-at-a-time table of the reflected polynomial; table[k][n] is the CRC
 * of byte n followed by k zero bytes, so eight lookups, one per byte of a
 * 64-bit word, advance the register by eight bytes at once.  The word is
 * loaded little-endian; on a big-endian host the byte loop is used alone.
 *
 * The hardware path is compiled with a per-function target attribute, so
 * the rest of the binary needs no -msse4.2 and runs on any x86-64; cpuid
 * decides at the first call.
 */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#define DESK_CRC32C_X86 1
#else
#define DESK_CRC32C_X86 0
#endif

#define POLY 0x82F63B78u /* 0x1EDC6F41 bit-reversed */

static uint32_t table[8][256]; /* slicing-by-8 tables; W: once, then read-only */
static int use_hw;             /* 1: SSE4.2 path; W: once */
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Build the tables and probe the CPU.  Runs once, under pthread_once, whose
 * return happens-before every caller's use of the tables. */
static void crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int k = 1; k < 8; k++)
            table[k][n] = (table[k - 1][n] >> 8) ^ table[0][table[k - 1][n] & 0xffu];
#if DESK_CRC32C_X86
    __builtin_cpu_init();
    use_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
}

/* The table path on the inverted register `c`. */
static uint32_t crc_sw(uint32_t c, const unsigned char *p, size_t len)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8); /* unaligned-safe load; one mov on x86 */
        w ^= c;
        c = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
            table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
            table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
        p += 8;
        len -= 8;
    }
#endif
    while (len--)
        c = (c >> 8) ^ table[0][(c ^ *p++) & 0xffu];
    return c;
}

#if DESK_CRC32C_X86
/* The SSE4.2 path on the inverted register `c`: 8 bytes per crc32q. */
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c, const unsigned char *p,
                                                         size_t len)
{
    uint64_t c64 = c;

    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c64 = _mm_crc32_u64(c64, w);
        p += 8;
        len -= 8;
    }
    c = (uint32_t)c64;
    while (len--)
        c = _mm_crc32_u8(c, *p++);
    return c;
}
#endif

/* See crc32c.h.  Any thread. */
uint32_t desk_crc32c(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&once, crc_init);
    if (len == 0)
        return crc;
#if DESK_CRC32C_X86
    if (use_hw)
        return ~crc_hw(~crc, buf, len);
#endif
    return ~crc_sw(~crc, buf, len);
}

/* See crc32c.h.  Any thread. */
uint32_t desk_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&once, crc_init);
    if (len == 0)
        return crc;
    return ~crc_sw(~crc, buf, len);
}

/* See crc32c.h.  Any thread. */
int desk_crc32c_hw(void)
{
    pthread_once(&once, crc_init);
    return use_hw;
}
