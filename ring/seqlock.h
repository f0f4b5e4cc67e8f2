/*
 * seqlock.h - one writer, any number of readers, no reader ever blocks it.
 *
 * Used for the quote table and the UTA snapshot in the main segment: the
 * writer (a connector thread, or the router) never waits; a reader retries
 * while a write is in progress.
 *
 * Protocol (Boehm, "Can seqlocks get along with programming language memory
 * models?", 2012):
 *   (W1) writer stores seq = s+1 (odd: write in progress), then a release
 *        fence, then the data words (relaxed atomic stores);
 *   (W2) writer store-releases seq = s+2 (even: stable).
 *   (R1) reader load-acquires seq (pairs with W2); odd means retry;
 *   (R2) reader copies the data words (relaxed atomic loads), then an acquire
 *        fence (pairs with W1's release fence), then reloads seq: unchanged
 *        means the copy is consistent.
 * The data are copied as 8-byte words with relaxed atomic accesses, so a
 * torn read is a detected retry rather than a data race (and ThreadSanitizer
 * agrees).  Protected structs must be 8-byte aligned, multiples of 8 bytes.
 *
 * The seq counter and data may live in shared memory: lock-free 64-bit
 * atomics are address-free.  Thread-safety: one writer thread per seqlock.
 */
#ifndef DESK_SEQLOCK_H
#define DESK_SEQLOCK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/desk_compiler.h"

typedef struct desk_seqlock {
    _Atomic uint64_t seq; /* even: stable; odd: write in progress. W: writer */
} desk_seqlock_t;

#ifdef __cplusplus
extern "C" {
#endif

/* Relaxed word copy; the GCC builtins are the one place desk uses atomics on
 * plain memory, because the protected structs are ordinary C structs. */
static inline void desk__seq_store_words(void *dst, const void *src, size_t n)
{
    uint64_t *d = (uint64_t *)dst;
    const uint64_t *s = (const uint64_t *)src;

    for (size_t i = 0; i < n / 8; i++)
        __atomic_store_n(&d[i], s[i], __ATOMIC_RELAXED);
}

static inline void desk__seq_load_words(void *dst, const void *src, size_t n)
{
    uint64_t *d = (uint64_t *)dst;
    const uint64_t *s = (const uint64_t *)src;

    for (size_t i = 0; i < n / 8; i++)
        d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

/* Open a write: readers that overlap will retry.  Writer only. */
static inline void desk_seqlock_write_begin(desk_seqlock_t *l)
{
    uint64_t s = atomic_load_explicit(&l->seq, memory_order_relaxed);

    atomic_store_explicit(&l->seq, s + 1, memory_order_relaxed);
    /* (W1) Release fence: the odd seq is ordered before the data stores
     * that follow; pairs with the reader's acquire fence in (R2). */
    atomic_thread_fence(memory_order_release);
}

/* Close a write opened by desk_seqlock_write_begin().  Writer only. */
static inline void desk_seqlock_write_end(desk_seqlock_t *l)
{
    uint64_t s = atomic_load_explicit(&l->seq, memory_order_relaxed);

    /* (W2) Release: the data stores happen-before a reader's (R1). */
    atomic_store_explicit(&l->seq, s + 1, memory_order_release);
}

/* Publish `n` bytes (a multiple of 8) from src into the protected dst. */
static inline void desk_seqlock_write(desk_seqlock_t *l, void *dst, const void *src, size_t n)
{
    desk_seqlock_write_begin(l);
    desk__seq_store_words(dst, src, n);
    desk_seqlock_write_end(l);
}

/*
 * Copy a consistent snapshot of `n` bytes (a multiple of 8) from the
 * protected src into dst.  Spins while a write is in progress; returns the
 * (even) sequence number of the snapshot, so callers can tell whether
 * anything changed since the last read.  Never 0 once written: 0 means the
 * writer never published.  No syscall, no allocation.
 */
static inline uint64_t desk_seqlock_read(const desk_seqlock_t *l, void *dst, const void *src,
                                         size_t n)
{
    for (;;) {
        /* (R1) Acquire pairs with (W2). */
        uint64_t s1 = atomic_load_explicit(&l->seq, memory_order_acquire);

        if (s1 & 1) {
            desk_cpu_relax();
            continue;
        }
        desk__seq_load_words(dst, src, n);
        /* (R2) Acquire fence pairs with the release fence of (W1): if any
         * word came from a newer write, the reload below sees its odd seq. */
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&l->seq, memory_order_relaxed) == s1)
            return s1;
        desk_cpu_relax();
    }
}

#ifdef __cplusplus
}
#endif

#endif /* DESK_SEQLOCK_H */
