/*
 * crc32c.h - CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78),
 * the checksum of iSCSI (RFC 3720 B.4), ext4 metadata and the journal frames.
 *
 * Two implementations compute the same function:
 *   - the SSE4.2 `crc32` instruction, 8 bytes per step, on x86-64 CPUs that
 *     have it (checked once at run time with cpuid, never assumed from the
 *     build flags, so one binary runs on any x86-64);
 *   - a portable slicing-by-8 table (8 x 256 words, 8 KiB, built once on
 *     first use), the fallback everywhere else.
 * desk_crc32c() picks the first that the CPU supports; desk_crc32c_sw()
 * always uses the table, so tests can check that both agree.
 *
 * Convention (the usual one, as in RFC 3720 and zlib's crc32): the register
 * is preset to all ones and the result is complemented, both inside the
 * function, so a whole-buffer CRC starts from 0 and a CRC can be continued:
 *   desk_crc32c(desk_crc32c(0, a, n), b, m) == desk_crc32c(0, a || b, n + m)
 * and desk_crc32c(0, "123456789", 9) == 0xE3069283.
 *
 * Thread-safety: any thread.  The first call builds the table under
 * pthread_once (cold, about 10 us); every later call is pure, allocation-
 * and syscall-free.
 */
#ifndef DESK_CRC32C_H
#define DESK_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * CRC-32C of buf[0..len) continued from `crc` (0 to start).  `buf` is
 * borrowed and may be NULL when len is 0.  Uses the SSE4.2 instruction when
 * the CPU has it, else the table.  Returns the CRC.  Any thread.
 */
uint32_t desk_crc32c(uint32_t crc, const void *buf, size_t len);

/* The same function, always through the slicing-by-8 table.  Any thread. */
uint32_t desk_crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* 1 if desk_crc32c() uses the SSE4.2 instruction on this CPU, else 0. */
int desk_crc32c_hw(void);

#ifdef __cplusplus
}
#endif

#endif /* DESK_CRC32C_H */
