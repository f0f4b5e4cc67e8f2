/*
 * seqlock_test.c - the seqlock of ring/seqlock.h: single-thread contract and
 * a writer/reader stress test that must never see a mixed snapshot.
 *
 * Each test loops over protected-struct sizes (one word, one cache line,
 * several lines), like liburing's FOR_ALL_TEST_CONFIGS.  The stress test is
 * labelled "concurrency" and runs under ThreadSanitizer in CI: every data
 * word is copied with relaxed atomics, so a torn read shows up as a
 * consistency failure here, never as a TSan data race.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ring/seqlock.h"

#define MAX_WORDS 32 /* 256 bytes: four cache lines */
static const size_t word_counts[] = {1, 8, MAX_WORDS};
#define NCFG (sizeof word_counts / sizeof word_counts[0])
#define FOR_ALL_SIZES(w) for (size_t cfg_ = 0; cfg_ < NCFG && ((w) = word_counts[cfg_], 1); cfg_++)

#ifdef DESK_SANITIZED
#define WRITES 300000ull
#else
#define WRITES 3000000ull
#endif

/* The protected data, with the lock on its own line as in the main segment. */
struct shared {
    desk_seqlock_t lock;                                 /* W: writer */
    _Alignas(DESK_CACHELINE) uint64_t data[MAX_WORDS];   /* protected by lock */
};

static uint64_t seq_now(const desk_seqlock_t *l)
{
    return atomic_load_explicit(&l->seq, memory_order_relaxed);
}

/* Round trip: what is written is read back, the returned sequence is even,
 * starts at 0 before any write and grows by 2 per write. */
static void test_round_trip(void **state)
{
    size_t w;

    (void)state;
    FOR_ALL_SIZES(w) {
        struct shared s;
        uint64_t in[MAX_WORDS], out[MAX_WORDS];
        uint64_t prev;

        memset(&s, 0, sizeof s);
        memset(out, 0xff, sizeof out);
        prev = desk_seqlock_read(&s.lock, out, s.data, w * 8);
        assert_int_equal(prev, 0); /* 0: never published */
        for (size_t i = 0; i < w; i++)
            assert_int_equal(out[i], 0);
        for (uint64_t round = 1; round <= 100; round++) {
            for (size_t i = 0; i < w; i++)
                in[i] = round * 1000003u + i * 7919u;
            desk_seqlock_write(&s.lock, s.data, in, w * 8);
            memset(out, 0, sizeof out);
            uint64_t seq = desk_seqlock_read(&s.lock, out, s.data, w * 8);
            assert_int_equal(seq & 1, 0);
            assert_true(seq > prev);
            assert_int_equal(seq, 2 * round);
            assert_memory_equal(out, in, w * 8);
            /* Reading again without a write gives the same sequence. */
            assert_int_equal(desk_seqlock_read(&s.lock, out, s.data, w * 8), seq);
            prev = seq;
        }
        /* Only the first w words are touched. */
        for (size_t i = w; i < MAX_WORDS; i++)
            assert_int_equal(s.data[i], 0);
    }
}

/* write_begin makes the sequence odd, write_end even again. */
static void test_begin_end(void **state)
{
    desk_seqlock_t l;

    (void)state;
    atomic_init(&l.seq, 0);
    for (uint64_t i = 0; i < 10; i++) {
        assert_int_equal(seq_now(&l), 2 * i);
        desk_seqlock_write_begin(&l);
        assert_int_equal(seq_now(&l), 2 * i + 1);
        desk_seqlock_write_end(&l);
        assert_int_equal(seq_now(&l), 2 * i + 2);
    }
}

/* ---- writer/reader stress ------------------------------------------------ */

struct stress {
    struct shared s;        /* the seqlock and its data */
    size_t words;           /* words per snapshot */
    _Atomic int reader_up;  /* reader started; W: reader */
    _Atomic int done;       /* writer finished; W: writer */
};

/* Publish WRITES snapshots whose every word is the write number. */
static void *writer(void *p)
{
    struct stress *st = p;
    uint64_t buf[MAX_WORDS];

    /* Start once the reader runs, so that the two overlap. */
    while (!atomic_load_explicit(&st->reader_up, memory_order_acquire))
        sched_yield();
    for (uint64_t c = 1; c <= WRITES; c++) {
        for (size_t i = 0; i < st->words; i++)
            buf[i] = c;
        desk_seqlock_write(&st->s.lock, st->s.data, buf, st->words * 8);
        if ((c & 4095) == 0)
            sched_yield(); /* 2 shared cores: let the reader in */
    }
    atomic_store_explicit(&st->done, 1, memory_order_release);
    return NULL;
}

/* Reader: every snapshot is whole (all words equal, equal to seq / 2) and
 * neither the sequence nor the value ever goes back. */
static void test_writer_reader(void **state)
{
    size_t w;

    (void)state;
    FOR_ALL_SIZES(w) {
        static struct stress st;
        pthread_t t;
        uint64_t buf[MAX_WORDS];
        uint64_t prev = 0, reads = 0, changes = 0;
        int bad = 0;
        uint64_t bad_seq = 0, bad_word = 0, bad_val = 0;

        memset(&st, 0, sizeof st);
        st.words = w;
        assert_int_equal(pthread_create(&t, NULL, writer, &st), 0);
        atomic_store_explicit(&st.reader_up, 1, memory_order_release);
        for (;;) {
            int last = atomic_load_explicit(&st.done, memory_order_acquire);
            uint64_t seq = desk_seqlock_read(&st.s.lock, buf, st.s.data, w * 8);

            reads++;
            if ((seq & 1) || seq < prev) {
                bad = 1;
                bad_seq = seq;
                break;
            }
            for (size_t i = 0; i < w; i++) {
                if (buf[i] != seq / 2) {
                    bad = 2;
                    bad_seq = seq;
                    bad_word = i;
                    bad_val = buf[i];
                    break;
                }
            }
            if (bad)
                break;
            changes += seq != prev;
            prev = seq;
            if (last)
                break; /* this read started after the final write */
        }
        assert_int_equal(pthread_join(t, NULL), 0);
        if (bad == 1)
            fail_msg("%zu words: sequence %llu after %llu", w, (unsigned long long)bad_seq,
                     (unsigned long long)prev);
        if (bad == 2)
            fail_msg("%zu words: mixed snapshot at seq %llu: word %llu is %llu, expected %llu", w,
                     (unsigned long long)bad_seq, (unsigned long long)bad_word,
                     (unsigned long long)bad_val, (unsigned long long)(bad_seq / 2));
        assert_int_equal(prev, 2 * WRITES); /* the last read saw the last write */
        assert_int_equal(buf[0], WRITES);
        print_message("%2zu words: %llu reads, %llu distinct snapshots seen\n", w,
                      (unsigned long long)reads, (unsigned long long)changes);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_begin_end),
        cmocka_unit_test(test_writer_reader),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
