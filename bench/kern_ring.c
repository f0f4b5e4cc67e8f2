/*
 * kern_ring.c - the measured loops of the ring benchmarks, for desk's SPSC
 * ring and Concurrency Kit's ck_ring (see kern.h for why they are in C).
 *
 * Fairness.  Both rings carry the same 64-byte bk_msg_t by value:
 *   - desk: desk_spsc_push() copies 64 bytes into the slot, desk_spsc_pop()
 *     copies them out (the batch variant uses claim_n/commit and
 *     peek_n/release with the same copies);
 *   - ck: CK_RING_PROTOTYPE(bkmsg, bk_msg) generates
 *     ck_ring_enqueue_spsc_bkmsg()/ck_ring_dequeue_spsc_bkmsg(), which
 *     memcpy a whole struct bk_msg into and out of a ck buffer of struct
 *     bk_msg (ck 0.7.1's typed rings), instead of ck's usual void *.
 * Same capacity (slots), same wait (pause while full or empty), same check
 * of the sequence number on the consumer side.
 *
 * The producer's handle and the consumer's handle sit 128 bytes apart so the
 * two threads never write the same cache-line pair.
 */
#include "kern.h"

#include <ck_ring.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include "core/desk_compiler.h"
#include "ring/spsc.h"

DESK_STATIC_ASSERT(sizeof(bk_msg_t) == DESK_SPSC_SLOT);

CK_RING_PROTOTYPE(bkmsg, bk_msg)

#define BK_BATCH 32 /* messages per claim/peek in the batch variant */

struct bk_ring {
    bk_ring_kind_t kind;                        /* which ring */
    void *mem;                                  /* ring memory (owned) */
    _Alignas(DESK_FALSE_SHARING) desk_spsc_t p; /* desk: producer handle */
    _Alignas(DESK_FALSE_SHARING) desk_spsc_t c; /* desk: consumer handle */
    _Alignas(DESK_FALSE_SHARING) ck_ring_t ck;  /* ck: the ring (its own padding) */
    struct bk_msg *ckbuf;                       /* ck: slots (in mem) */
};

bk_ring_t *bk_ring_create(bk_ring_kind_t kind, uint32_t slots)
{
    bk_ring_t *r = aligned_alloc(DESK_FALSE_SHARING, sizeof *r);

    if (r == NULL)
        return NULL;
    memset(r, 0, sizeof *r);
    r->kind = kind;
    if (kind == BK_RING_CK) {
        size_t len = (size_t)slots * sizeof(struct bk_msg);
        r->mem = aligned_alloc(DESK_FALSE_SHARING, len);
        if (r->mem == NULL)
            goto fail;
        memset(r->mem, 0, len);
        r->ckbuf = r->mem;
        ck_ring_init(&r->ck, slots);
        return r;
    }
    size_t len = desk_spsc_bytes(slots);
    r->mem = aligned_alloc(DESK_FALSE_SHARING, len);
    if (r->mem == NULL)
        goto fail;
    memset(r->mem, 0, len);
    if (desk_spsc_init(r->mem, len, slots) < 0 ||
        desk_spsc_attach_producer(&r->p, r->mem, len) < 0 ||
        desk_spsc_attach_consumer(&r->c, r->mem, len) < 0)
        goto fail;
    return r;
fail:
    free(r->mem);
    free(r);
    return NULL;
}

void bk_ring_destroy(bk_ring_t *r)
{
    if (r == NULL)
        return;
    free(r->mem);
    free(r);
}

/* Push one message, spinning while full; returns 1 if it ever found it full. */
static inline uint64_t push_one(bk_ring_t *r, struct bk_msg *m)
{
    uint64_t full = 0;

    if (r->kind == BK_RING_CK) {
        while (!ck_ring_enqueue_spsc_bkmsg(&r->ck, r->ckbuf, m)) {
            full = 1;
            desk_cpu_relax();
        }
    } else {
        while (desk_spsc_push(&r->p, m) < 0) {
            full = 1;
            desk_cpu_relax();
        }
    }
    return full;
}

/* Pop one message, spinning while empty. */
static inline void pop_one(bk_ring_t *r, struct bk_msg *m)
{
    if (r->kind == BK_RING_CK) {
        while (!ck_ring_dequeue_spsc_bkmsg(&r->ck, r->ckbuf, m))
            desk_cpu_relax();
    } else {
        while (desk_spsc_pop(&r->c, m) < 0)
            desk_cpu_relax();
    }
}

uint64_t bk_ring_produce(bk_ring_t *r, uint64_t seq0, uint64_t n)
{
    struct bk_msg m = {.seq = seq0};
    uint64_t full = 0;

    if (r->kind == BK_RING_DESK_BATCH) {
        uint64_t left = n;
        while (left) {
            uint32_t want = left < BK_BATCH ? (uint32_t)left : BK_BATCH;
            uint32_t k = desk_spsc_claim_n(&r->p, want);
            if (k == 0) {
                full++;
                desk_cpu_relax();
                continue;
            }
            for (uint32_t i = 0; i < k; i++) {
                memcpy(desk_spsc_slot(&r->p, i), &m, sizeof m);
                m.seq++;
            }
            desk_spsc_commit(&r->p, k);
            left -= k;
        }
        return full;
    }
    /* The seq store is the per-message work every ring sees. */
    for (uint64_t i = 0; i < n; i++, m.seq++)
        full += push_one(r, &m);
    return full;
}

void bk_ring_stop(bk_ring_t *r)
{
    struct bk_msg m = {.seq = BK_STOP};

    (void)push_one(r, &m);
}

uint64_t bk_ring_consume(bk_ring_t *r, uint64_t *errors)
{
    struct bk_msg m;
    uint64_t got = 0, expect = UINT64_MAX, bad = 0;

    if (r->kind == BK_RING_DESK_BATCH) {
        for (;;) {
            uint32_t k = desk_spsc_peek_n(&r->c, BK_BATCH);
            if (k == 0) {
                desk_cpu_relax();
                continue;
            }
            for (uint32_t i = 0; i < k; i++) {
                memcpy(&m, desk_spsc_slot(&r->c, i), sizeof m);
                if (m.seq == BK_STOP) {
                    desk_spsc_release(&r->c, i + 1);
                    *errors = bad;
                    return got;
                }
                bad += expect != UINT64_MAX && m.seq != expect;
                expect = m.seq + 1;
                got++;
            }
            desk_spsc_release(&r->c, k);
        }
    }
    for (;;) {
        pop_one(r, &m);
        if (m.seq == BK_STOP)
            break;
        /* The first message of a run sets the expectation (runs restart
         * their numbering); every later one must follow it. */
        bad += expect != UINT64_MAX && m.seq != expect;
        expect = m.seq + 1;
        got++;
    }
    *errors = bad;
    return got;
}

uint64_t bk_ring_ping(bk_ring_t *out, bk_ring_t *in, uint64_t seq0, uint64_t n, uint64_t *ticks)
{
    struct bk_msg m = {.seq = seq0}, back;
    uint64_t bad = 0, prev = __rdtsc();

    for (uint64_t i = 0; i < n; i++, m.seq++) {
        (void)push_one(out, &m);
        pop_one(in, &back);
        bad += back.seq != m.seq;
        uint64_t now = __rdtsc();
        ticks[i] = now - prev;
        prev = now;
    }
    return bad;
}

uint64_t bk_ring_echo(bk_ring_t *in, bk_ring_t *out)
{
    struct bk_msg m;
    uint64_t n = 0;

    for (;;) {
        pop_one(in, &m);
        (void)push_one(out, &m);
        if (m.seq == BK_STOP)
            return n;
        n++;
    }
}
