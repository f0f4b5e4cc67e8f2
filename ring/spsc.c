/* spsc.c - cold-path setup of the SPSC ring; the hot path is in spsc.h. */
#include "spsc.h"

#include "../core/err.h"

DESK_COLD int desk_spsc_init(void *mem, size_t len, uint32_t nslots)
{
    struct desk_spsc_hdr *h = mem;

    if (nslots < 2 || nslots > DESK_SPSC_MAX_SLOTS || (nslots & (nslots - 1)))
        return DESK_ERR(-EINVAL, "nslots=%u is not a power of two in [2, 2^24]", nslots);
    if (mem == NULL || (uintptr_t)mem % DESK_FALSE_SHARING)
        return DESK_ERR(-EINVAL, "ring memory %p is not 128-byte aligned", mem);
    if (len < desk_spsc_bytes(nslots))
        return DESK_ERR(-EINVAL, "ring of %u slots needs %zu bytes, got %zu", nslots,
                        desk_spsc_bytes(nslots), len);
    memset(h, 0, sizeof *h);
    h->version = DESK_SPSC_VERSION;
    h->slot_size = DESK_SPSC_SLOT;
    h->nslots = nslots;
    atomic_store_explicit(&h->tail, 0, memory_order_relaxed);
    atomic_store_explicit(&h->head, 0, memory_order_relaxed);
    /* Release: a process that sees the magic sees a formatted header. */
    atomic_store_explicit(&h->magic, DESK_SPSC_MAGIC, memory_order_release);
    return 0;
}

static int spsc_attach(desk_spsc_t *q, void *mem, size_t len)
{
    struct desk_spsc_hdr *h = mem;

    memset(q, 0, sizeof *q);
    if (len < sizeof *h)
        return DESK_ERR(-EINVAL, "ring memory of %zu bytes is smaller than its header", len);
    /* Acquire pairs with the release of magic in desk_spsc_init(). */
    uint32_t magic = atomic_load_explicit(&h->magic, memory_order_acquire);
    if (magic != DESK_SPSC_MAGIC)
        return DESK_ERR(-EINVAL, "ring magic 0x%08x, expected 0x%08x", magic, DESK_SPSC_MAGIC);
    if (h->version != DESK_SPSC_VERSION)
        return DESK_ERR(-EINVAL, "ring version %u, expected %u", h->version, DESK_SPSC_VERSION);
    if (h->slot_size != DESK_SPSC_SLOT)
        return DESK_ERR(-EINVAL, "ring slot size %u, expected %u", h->slot_size, DESK_SPSC_SLOT);
    if (h->nslots < 2 || (h->nslots & (h->nslots - 1)) || len < desk_spsc_bytes(h->nslots))
        return DESK_ERR(-EINVAL, "ring capacity %u does not fit %zu bytes", h->nslots, len);
    q->hdr = h;
    q->slots = h->slots;
    q->mask = h->nslots - 1;
    /* A handle is used by one side only: a producer needs tail and a cached
     * head, a consumer head and a cached tail.  Load both acquire so either
     * side starts from a consistent view. */
    uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&h->tail, memory_order_acquire);
    q->pos = tail;
    q->cached = head;
    return 0;
}

DESK_COLD int desk_spsc_attach_producer(desk_spsc_t *q, void *mem, size_t len)
{
    return spsc_attach(q, mem, len); /* pos = tail, cached = head */
}

DESK_COLD int desk_spsc_attach_consumer(desk_spsc_t *q, void *mem, size_t len)
{
    int rc = spsc_attach(q, mem, len);

    if (rc < 0)
        return rc;
    uint64_t tail = q->pos;
    q->pos = q->cached; /* pos = head */
    q->cached = tail;   /* cached = tail */
    return 0;
}
