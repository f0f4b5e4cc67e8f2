/*
 * spsc.h - the single-producer/single-consumer ring every desk message rides.
 *
 * The ring lives in caller-owned memory (a shared-memory segment or a heap
 * block): desk_spsc_init() formats it once, and each side then builds its own
 * per-process handle with desk_spsc_attach().  The shared part holds no
 * pointers, only indices, so two processes may map it at different addresses.
 *
 * Slots are fixed at 64 bytes, one cache line, the size of desk_cmd and
 * desk_event.  Capacity is a power of two.  Indices are free-running 64-bit
 * counters (they do not wrap in the lifetime of the universe at 1e9 msg/s).
 *
 * Protocol
 *   (P) The producer fills slot[tail % n] (and the following ones of a batch),
 *       then store-releases tail += k.
 *   (C) The consumer load-acquires tail (pairs with P), reads the slots, then
 *       store-releases head += k.  The producer load-acquires head (pairs
 *       with C) before it reuses a slot.
 * Each side caches the other's index and touches the other side's cache line
 * only when its cache says full (producer) or empty (consumer): the steady
 * state costs one release store per batch and no cross-core read.
 *
 * A full ring is back-pressure, never a block and never a drop: claim returns
 * NULL / 0 and desk_spsc_push() returns -EAGAIN.
 *
 * Thread-safety: exactly one producer thread and one consumer thread per ring
 * (they may be in different processes); each uses only its own functions on
 * its own handle.  desk_spsc_depth() may be called from any thread.
 */
#ifndef DESK_SPSC_H
#define DESK_SPSC_H

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../core/desk_compiler.h"

#define DESK_SPSC_MAGIC 0x44534b52u /* "DSKR" */
#define DESK_SPSC_VERSION 1u
#define DESK_SPSC_SLOT 64u /* bytes per slot: one cache line */
#define DESK_SPSC_MAX_SLOTS (1u << 24)

/* Shared layout: in shm, ABI, append only.  Written by desk_spsc_init(). */
struct desk_spsc_hdr {
    _Atomic uint32_t magic; /* DESK_SPSC_MAGIC once initialised; W: init */
    uint32_t version;   /* DESK_SPSC_VERSION */
    uint32_t slot_size; /* DESK_SPSC_SLOT */
    uint32_t nslots;    /* capacity, a power of two */
    _Alignas(DESK_FALSE_SHARING) _Atomic uint64_t tail; /* W: producer (P) */
    _Alignas(DESK_FALSE_SHARING) _Atomic uint64_t head; /* W: consumer (C) */
    _Alignas(DESK_FALSE_SHARING) unsigned char slots[]; /* nslots * 64 bytes */
};

DESK_STATIC_ASSERT(offsetof(struct desk_spsc_hdr, tail) == DESK_FALSE_SHARING);
DESK_STATIC_ASSERT(offsetof(struct desk_spsc_hdr, head) == 2 * DESK_FALSE_SHARING);
DESK_STATIC_ASSERT(offsetof(struct desk_spsc_hdr, slots) == 3 * DESK_FALSE_SHARING);
DESK_STATIC_ASSERT(ATOMIC_LLONG_LOCK_FREE == 2); /* lock-free => address-free */

/* Per-process handle: pointers and caches live here, never in shm. */
typedef struct desk_spsc {
    struct desk_spsc_hdr *hdr; /* the shared ring (borrowed) */
    unsigned char *slots;      /* hdr->slots, cached */
    uint64_t mask;             /* nslots - 1 */
    uint64_t pos;    /* producer: next slot to fill; consumer: next to read */
    uint64_t cached; /* producer: last head seen; consumer: last tail seen */
} desk_spsc_t;

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of memory a ring of `nslots` needs (header plus slots). */
static inline size_t desk_spsc_bytes(uint32_t nslots)
{
    return sizeof(struct desk_spsc_hdr) + (size_t)nslots * DESK_SPSC_SLOT;
}

/*
 * Format `len` bytes at `mem` (128-byte aligned) as an empty ring of `nslots`.
 * Returns 0, or -EINVAL if nslots is not a power of two in [2, 2^24], mem is
 * misaligned, or len < desk_spsc_bytes(nslots).  Call once, before any
 * attach, from the process that owns the memory.  Cold.
 */
int desk_spsc_init(void *mem, size_t len, uint32_t nslots);

/*
 * Build a handle on a ring formatted by desk_spsc_init(): the producer's with
 * desk_spsc_attach_producer(), the consumer's with desk_spsc_attach_consumer().
 * `mem` is borrowed and must outlive the handle.  A handle starts at the
 * ring's current indices, so a side that re-attaches after a restart resumes
 * where the last one stopped.  Returns 0, or -EINVAL (bad magic, version,
 * slot size or capacity, or len too small; desk_errmsg() says which).  Cold.
 */
int desk_spsc_attach_producer(desk_spsc_t *q, void *mem, size_t len);
int desk_spsc_attach_consumer(desk_spsc_t *q, void *mem, size_t len);

/* ---- producer side ------------------------------------------------------ */

/*
 * Up to `want` free slots starting at the producer position: returns how
 * many (0 when full).  Fill them with desk_spsc_slot(q, 0..k-1), then publish
 * with desk_spsc_commit(q, k).  No syscall, no allocation, never blocks.
 */
static inline uint32_t desk_spsc_claim_n(desk_spsc_t *q, uint32_t want)
{
    uint64_t size = q->mask + 1;
    uint64_t free_ = size - (q->pos - q->cached);

    if (free_ < want) {
        /* Acquire pairs with the release in desk_spsc_release() (C): the
         * consumer has finished reading every slot below head. */
        q->cached = atomic_load_explicit(&q->hdr->head, memory_order_acquire);
        free_ = size - (q->pos - q->cached);
    }
    return (uint32_t)(free_ < want ? free_ : want);
}

/* The i-th slot of a claim (producer) or of a peek (consumer). */
static inline void *desk_spsc_slot(const desk_spsc_t *q, uint32_t i)
{
    return q->slots + ((q->pos + i) & q->mask) * DESK_SPSC_SLOT;
}

/* One free slot to fill, or NULL if the ring is full.  Producer only. */
static inline void *desk_spsc_claim(desk_spsc_t *q)
{
    return desk_spsc_claim_n(q, 1) ? desk_spsc_slot(q, 0) : NULL;
}

/* Publish the first `n` claimed slots to the consumer.  Producer only. */
static inline void desk_spsc_commit(desk_spsc_t *q, uint32_t n)
{
    q->pos += n;
    /* Release (P): the slot stores above happen-before the consumer's
     * acquire of tail in desk_spsc_peek_n(). */
    atomic_store_explicit(&q->hdr->tail, q->pos, memory_order_release);
}

/*
 * Copy one 64-byte message in and publish it.  Returns 0, or -EAGAIN if the
 * ring is full (nothing written; retry later).  Producer only.
 */
static inline int desk_spsc_push(desk_spsc_t *q, const void *msg)
{
    void *slot = desk_spsc_claim(q);

    if (DESK_UNLIKELY(slot == NULL))
        return -EAGAIN;
    memcpy(slot, msg, DESK_SPSC_SLOT);
    desk_spsc_commit(q, 1);
    return 0;
}

/* ---- consumer side ------------------------------------------------------ */

/*
 * How many published slots can be read, at most `max` (0 when empty).  Read
 * them with desk_spsc_slot(q, 0..k-1), then give them back with
 * desk_spsc_release(q, k).  Consumer only.
 */
static inline uint32_t desk_spsc_peek_n(desk_spsc_t *q, uint32_t max)
{
    uint64_t avail = q->cached - q->pos;

    if (avail < max) {
        /* Acquire pairs with the release in desk_spsc_commit() (P): the
         * producer's slot stores are visible once we see its tail. */
        q->cached = atomic_load_explicit(&q->hdr->tail, memory_order_acquire);
        avail = q->cached - q->pos;
    }
    return (uint32_t)(avail < max ? avail : max);
}

/* The next message, or NULL if the ring is empty.  Consumer only. */
static inline const void *desk_spsc_peek(desk_spsc_t *q)
{
    return desk_spsc_peek_n(q, 1) ? desk_spsc_slot(q, 0) : NULL;
}

/* Give `n` read slots back to the producer.  Consumer only. */
static inline void desk_spsc_release(desk_spsc_t *q, uint32_t n)
{
    q->pos += n;
    /* Release (C): our reads of those slots happen-before the producer's
     * acquire of head in desk_spsc_claim_n(), so it cannot overwrite a slot
     * we are still reading. */
    atomic_store_explicit(&q->hdr->head, q->pos, memory_order_release);
}

/*
 * Copy the next message out and release it.  Returns 0, or -EAGAIN if the
 * ring is empty.  Consumer only.
 */
static inline int desk_spsc_pop(desk_spsc_t *q, void *msg)
{
    const void *slot = desk_spsc_peek(q);

    if (slot == NULL)
        return -EAGAIN;
    memcpy(msg, slot, DESK_SPSC_SLOT);
    desk_spsc_release(q, 1);
    return 0;
}

/*
 * Messages published and not yet released, read from the shared indices.
 * Any thread; a snapshot that may be stale by the time it returns.
 */
static inline uint64_t desk_spsc_depth(const struct desk_spsc_hdr *h)
{
    /* Relaxed: a monitoring estimate; read head first so depth never looks
     * negative when the consumer races ahead between the two loads. */
    uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&h->tail, memory_order_relaxed);

    return tail >= head ? tail - head : 0;
}

#ifdef __cplusplus
}
#endif

#endif /* DESK_SPSC_H */
