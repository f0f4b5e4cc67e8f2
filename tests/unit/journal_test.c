/*
 * journal_test.c - the journal (core/journal.h) and CRC-32C (core/crc32c.h).
 *
 *   crc32c_vectors      RFC 3720 B.4 vectors and "123456789", table and
 *                       SSE4.2 paths, agreement on random buffers, chaining;
 *   policy_parse, day   the small pure helpers (day against gmtime_r);
 *   roundtrip           for every fsync policy x ring size: a producer thread
 *                       (the router's role) pushes N records through the
 *                       ring to the journal thread while a watcher thread
 *                       checks durable_seq never goes back nor past what was
 *                       pushed; replay gives back the N records, equal;
 *   policies            what each policy promises: `every` has synced_seq ==
 *                       durable_seq at every observation, `interval` syncs
 *                       by itself, `none` only at stop;
 *   torn_tail           the file cut at every byte offset of its last
 *                       record, a CRC-damaged last record, a zero-filled
 *                       tail: open cuts the tail, reports the bytes, replays
 *                       the rest and appends after it;
 *   mid_corruption      a damaged record (payload, length, CRC, FILE header)
 *                       followed by good ones: open and replay fail with
 *                       -EBADMSG and the exact offset, the file untouched;
 *   rollover            an injected clock crosses UTC midnight: two files,
 *                       each record's stamp on its file's day;
 *   eagain              a full ring: push -EAGAIN, room 0, counted; drained,
 *                       pushes work again;
 *   write_error         RLIMIT_FSIZE makes write(2) fail mid-batch: the
 *                       partial batch is cut, durable_seq does not move, the
 *                       error is reported; with the limit lifted it recovers;
 *   cli                 `desk journal` (the built binary) as JSON lines and
 *                       text, with filters (skipped if not built).
 *
 * The ring + thread tests are labelled "concurrency": CI runs them under
 * ThreadSanitizer too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/crc32c.h"
#include "core/err.h"
#include "core/journal.h"

#ifdef DESK_SANITIZED
#define NRECS 20000u
#else
#define NRECS 200000u
#endif

#define FRAME DESK_JOURNAL_FRAME

/* ---- helpers --------------------------------------------------------------- */

static char tmpdir[256];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/desk-journal-test-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    desk_errclear();
    return 0;
}

static int teardown_dir(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[512];

    if (d) {
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(tmpdir);
    return 0;
}

/* An injectable UTC clock. */
static _Atomic uint64_t fake_now;

static uint64_t fake_clock(void *ctx)
{
    (void)ctx;
    return atomic_load_explicit(&fake_now, memory_order_relaxed);
}

#define T_20261121 (1795240228ull * 1000000000ull) /* 2026-11-21T05:50:28Z */
#define DAY_NS 86400000000000ull

static desk_journal_opts_t opts_for(desk_journal_policy_t pol, uint32_t nslots)
{
    desk_journal_opts_t o = {
        .dir = tmpdir,
        .desk = "test",
        .policy = pol,
        .nslots = nslots,
        .idle = DESK_IDLE_BACKOFF,
        .idle_max_us = 100,
        .wall_ns = fake_clock,
    };
    return o;
}

static void path_of(char *buf, size_t cap, uint32_t day)
{
    assert_true(desk_journal_path(buf, cap, tmpdir, "test", day) > 0);
}

static uint64_t file_size(const char *p)
{
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return (uint64_t)st.st_size;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Record i of a test stream: every kind the router pushes, fields from i. */
static void make_rec(uint64_t i, desk_jrec_t *r)
{
    uint64_t h = mix(i);

    memset(r, 0, sizeof *r);
    switch (i % 6) {
    case 0: {
        desk_order_t o = {0};
        o.order_id = h;
        o.side = DESK_BUY;
        o.ord_type = DESK_LIMIT;
        o.tif = DESK_GTC;
        o.strategy = (uint16_t)(i % 32);
        o.instrument = (uint32_t)(i % 256);
        o.stop_px = (int64_t)(h >> 40);
        desk_jrec_cmd_fill(r, DESK_CMD_NEW, &o, i + 1, h ^ 1, (int64_t)(i * 7), (int64_t)h >> 3);
        break;
    }
    case 1: {
        desk_cmd_t c = {.type = DESK_CMD_CANCEL,
                        .instrument = (uint32_t)(i % 100),
                        .cl_ord_id = i + 1,
                        .orig_cl_ord_id = i,
                        .qty = (int64_t)i};
        desk_jrec_reject_fill(r, &c, (uint32_t)(i % 7), DESK_REJ_UNKNOWN_ORDER, h);
        break;
    }
    case 2: {
        desk_vevent_t v = {.type = DESK_EV_FILL,
                           .flags = DESK_VEV_MAKER,
                           .instrument = 3,
                           .order_id = h,
                           .exec_id = i,
                           .last_px = (int64_t)(h >> 2),
                           .last_qty = (int64_t)i,
                           .fee = -(int64_t)i,
                           .cum_qty = (int64_t)(2 * i)};
        desk_jrec_event_fill(r, &v, DESK_JEV_APPLIED);
        break;
    }
    case 3:
        r->balance.kind = DESK_JREC_BALANCE;
        r->balance.what = DESK_JBAL_CASH;
        r->balance.source = DESK_JBAL_SEED;
        r->balance.connector = (uint16_t)(i % 16);
        r->balance.cash = (int64_t)h;
        r->balance.venue_bp = (int64_t)(h >> 1);
        break;
    case 4:
        r->name.kind = DESK_JREC_NAME;
        r->name.what = DESK_JNAME_STRATEGY;
        r->name.index = (uint32_t)(i % 32);
        snprintf(r->name.name, sizeof r->name.name, "strat-%llu", (unsigned long long)i);
        break;
    default:
        r->session.kind = DESK_JREC_SESSION;
        r->session.pid = (uint32_t)i;
        r->session.config_hash = h;
        r->session.venue_cl_base = i;
        break;
    }
}

/* Replay checker: record k (after the FILE record) must be make_rec(base + k). */
struct check {
    uint64_t n;        /* records seen, FILE included */
    uint64_t base;     /* make_rec index of the first non-FILE record */
    uint64_t bad;      /* mismatches */
    uint64_t files;    /* FILE records */
    uint32_t day;      /* expected day of every stamp, 0: any */
    uint64_t last_off; /* offset of the last record */
};

static int check_cb(const desk_jrec_t *rec, uint64_t off, void *ctx)
{
    struct check *c = ctx;

    c->last_off = off;
    if (off != c->n * FRAME)
        c->bad++;
    if (rec->head.ts_ns == 0 || (c->day && desk_journal_day(rec->head.ts_ns) != c->day))
        c->bad++;
    if (rec->head.kind == DESK_JREC_FILE) {
        c->files++;
        if (c->n != 0 || rec->file.magic != DESK_JOURNAL_MAGIC ||
            strcmp(rec->file.desk, "test") != 0 || (c->day && rec->file.day != c->day))
            c->bad++;
    } else {
        desk_jrec_t want, got = *rec;
        make_rec(c->base + c->n - c->files, &want);
        got.head.ts_ns = 0;
        if (memcmp(&want, &got, sizeof want) != 0)
            c->bad++;
    }
    c->n++;
    return 0;
}

/* ---- CRC-32C --------------------------------------------------------------- */

static void test_crc32c_vectors(void **state)
{
    (void)state;
    static const unsigned char pdu[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    unsigned char zeros[32], ones[32], inc[32], dec[32];
    uint32_t (*fn[2])(uint32_t, const void *, size_t) = {desk_crc32c, desk_crc32c_sw};

    memset(zeros, 0, sizeof zeros);
    memset(ones, 0xff, sizeof ones);
    for (int i = 0; i < 32; i++) {
        inc[i] = (unsigned char)i;
        dec[i] = (unsigned char)(31 - i);
    }
    printf("crc32c: SSE4.2 path %s\n", desk_crc32c_hw() ? "in use" : "not available");
    for (int k = 0; k < 2; k++) {
        /* RFC 3720 B.4 (the CRC bytes there are listed little-endian). */
        assert_int_equal(fn[k](0, zeros, 32), 0x8A9136AAu);
        assert_int_equal(fn[k](0, ones, 32), 0x62A8AB43u);
        assert_int_equal(fn[k](0, inc, 32), 0x46DD794Eu);
        assert_int_equal(fn[k](0, dec, 32), 0x113FDB5Cu);
        assert_int_equal(fn[k](0, pdu, 48), 0xD9963A56u);
        assert_int_equal(fn[k](0, "123456789", 9), 0xE3069283u);
        assert_int_equal(fn[k](0, NULL, 0), 0);
        assert_int_equal(fn[k](0x1234, NULL, 0), 0x1234);
    }
    /* Both paths agree on every length and alignment, and chaining works. */
    unsigned char buf[600];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)mix(i);
    for (size_t off = 0; off < 9; off++) {
        for (size_t len = 0; len + off <= 300; len++) {
            uint32_t a = desk_crc32c(0, buf + off, len), b = desk_crc32c_sw(0, buf + off, len);
            assert_int_equal(a, b);
            size_t cut = len / 3;
            assert_int_equal(
                desk_crc32c(desk_crc32c(0, buf + off, cut), buf + off + cut, len - cut), a);
        }
    }
}

/* ---- pure helpers --------------------------------------------------------- */

static void test_policy_parse(void **state)
{
    (void)state;
    desk_journal_policy_t p;
    static const char *bad[] = {"",
                                "interval",
                                "interval:",
                                "interval:0",
                                "interval:-1",
                                "interval:3600001",
                                "interval:1x",
                                "interval: 5",
                                "every ",
                                "None",
                                "sometimes",
                                "interval:99999999999"};

    assert_int_equal(desk_journal_policy_parse("none", &p), 0);
    assert_int_equal(p.fsync, DESK_FSYNC_NONE);
    assert_int_equal(desk_journal_policy_parse("every", &p), 0);
    assert_int_equal(p.fsync, DESK_FSYNC_EVERY);
    assert_int_equal(desk_journal_policy_parse("interval:10", &p), 0);
    assert_int_equal(p.fsync, DESK_FSYNC_INTERVAL);
    assert_int_equal(p.interval_ms, 10);
    assert_int_equal(desk_journal_policy_parse("interval:3600000", &p), 0);
    assert_int_equal(p.interval_ms, 3600000);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        desk_errclear();
        assert_int_equal(desk_journal_policy_parse(bad[i], &p), -EINVAL);
        assert_non_null(strstr(desk_errmsg(), "fsync policy"));
    }
    assert_int_equal(desk_journal_policy_parse(NULL, &p), -EINVAL);
}

static void test_day(void **state)
{
    (void)state;
    assert_int_equal(desk_journal_day(0), 19700101);
    assert_int_equal(desk_journal_day(T_20261121), 20261121);
    assert_int_equal(desk_journal_day(1709251199ull * 1000000000ull), 20240229);
    assert_int_equal(desk_journal_day(1709251200ull * 1000000000ull), 20240301);
    assert_int_equal(desk_journal_day(4107542400ull * 1000000000ull - 1), 21000228);
    assert_int_equal(desk_journal_day(4107542400ull * 1000000000ull), 21000301);
    for (uint64_t i = 0; i < 100000; i++) {
        time_t t = (time_t)(mix(i) % 7258118400ull); /* 1970 .. 2200 */
        struct tm tm;
        gmtime_r(&t, &tm);
        uint32_t want =
            (uint32_t)((tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday);
        assert_int_equal(desk_journal_day((uint64_t)t * 1000000000ull + 999999999ull), want);
    }
    char p[64];
    assert_int_equal(desk_journal_path(p, sizeof p, "/j", "d", 20261121),
                     (int)strlen("/j/desk-d-20261121.journal"));
    assert_string_equal(p, "/j/desk-d-20261121.journal");
    assert_int_equal(desk_journal_path(p, 10, "/j", "d", 20261121), -ENAMETOOLONG);
    assert_string_equal(desk_jrec_kind_name(DESK_JREC_EVENT), "event");
    assert_string_equal(desk_jrec_kind_name(0), "?");
    assert_string_equal(desk_jrec_kind_name(200), "?");
    assert_int_equal(desk_jrec_kind_parse("balance"), DESK_JREC_BALANCE);
    assert_int_equal(desk_jrec_kind_parse("bogus"), -EINVAL);
}

static void test_open_errors(void **state)
{
    (void)state;
    desk_journal_t *j = (desk_journal_t *)1;
    desk_journal_opts_t o = opts_for((desk_journal_policy_t){0}, 64);

    atomic_store(&fake_now, T_20261121);
    o.desk = "a/b";
    assert_int_equal(desk_journal_open(&j, &o, NULL), -EINVAL);
    assert_null(j);
    o = opts_for((desk_journal_policy_t){0}, 64);
    o.desk = "";
    assert_int_equal(desk_journal_open(&j, &o, NULL), -EINVAL);
    o = opts_for((desk_journal_policy_t){0}, 3);
    assert_int_equal(desk_journal_open(&j, &o, NULL), -EINVAL);
    o = opts_for((desk_journal_policy_t){.fsync = DESK_FSYNC_INTERVAL}, 64);
    assert_int_equal(desk_journal_open(&j, &o, NULL), -EINVAL);
    o = opts_for((desk_journal_policy_t){.fsync = 7}, 64);
    assert_int_equal(desk_journal_open(&j, &o, NULL), -EINVAL);
    o = opts_for((desk_journal_policy_t){0}, 64);
    o.dir = NULL;
    assert_int_equal(desk_journal_open(&j, &o, NULL), -EINVAL);

    /* Not a journal: a text file is refused and left untouched. */
    char p[512];
    path_of(p, sizeof p, 20261121);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    for (int i = 0; i < 100; i++)
        fputs("this is not a journal at all\n", f);
    fclose(f);
    uint64_t sz = file_size(p);
    desk_jscan_t scan;
    desk_journal_t *j2;
    o = opts_for((desk_journal_policy_t){0}, 64);
    assert_int_equal(desk_journal_open(&j2, &o, &scan), -EBADMSG);
    assert_int_equal(scan.corrupt_off, 0);
    assert_non_null(strstr(desk_errmsg(), "not a desk journal"));
    assert_int_equal(file_size(p), sz);

    /* A few bytes of anything (less than a frame) are a torn FILE record:
     * cut, and the file started afresh. */
    f = fopen(p, "w");
    assert_non_null(f);
    fputs("partial", f);
    fclose(f);
    assert_int_equal(desk_journal_open(&j2, &o, &scan), 0);
    assert_int_equal(scan.torn_bytes, 7);
    assert_int_equal(scan.truncated, 1);
    assert_int_equal(file_size(p), FRAME);
    desk_journal_close(j2);

    /* A valid frame whose record is not a FILE record: not a desk journal. */
    unsigned char fr[FRAME];
    desk_jrec_t r;
    make_rec(0, &r);
    memcpy(fr + 8, &r, 64);
    fr[0] = 64, fr[1] = fr[2] = fr[3] = 0;
    uint32_t crc = desk_crc32c(desk_crc32c(0, fr, 4), fr + 8, 64);
    memcpy(fr + 4, &crc, 4);
    f = fopen(p, "w");
    assert_non_null(f);
    fwrite(fr, 1, sizeof fr, f);
    fwrite(fr, 1, sizeof fr, f);
    fclose(f);
    assert_int_equal(desk_journal_open(&j2, &o, &scan), -EBADMSG);
    assert_int_equal(scan.corrupt_off, 0);
    assert_non_null(strstr(desk_errmsg(), "not a desk journal"));
    assert_int_equal(file_size(p), 2 * FRAME);
    assert_int_equal(desk_journal_replay(p, NULL, NULL), -EBADMSG);
    unlink(p);
    assert_int_equal(desk_journal_replay(p, NULL, NULL), -ENOENT);
}

/* ---- ring + thread round trip ---------------------------------------------- */

struct producer {
    desk_journal_t *j;       /* the journal (producer side is ours) */
    uint64_t n;              /* records to push */
    _Atomic uint64_t pushed; /* seq about to be pushed (>= desk_journal_pushed()) */
    _Atomic int done;        /* producer finished */
    uint64_t eagain;         /* pushes that found the ring full */
    uint64_t watch_bad;      /* watcher: durable went back or past pushed */
    uint64_t watch_reads;    /* watcher: observations */
    uint64_t sync_bad;       /* watcher (every): durable ahead of synced */
    int every;               /* the policy is `every` */
};

static void *producer_main(void *arg)
{
    struct producer *p = arg;
    desk_jrec_t r;

    for (uint64_t i = 0; i < p->n; i++) {
        make_rec(i, &r);
        /* The router's discipline: check room, then push (which then
         * cannot fail); a full ring is waited out, never dropped. */
        while (desk_journal_room(p->j, 1) == 0) {
            p->eagain++;
            sched_yield();
        }
        /* Announce before the push: the journal can make record i + 1
         * durable the moment it is pushed, and the watcher must never see
         * durable ahead of the announcement.  Release pairs with the
         * watcher's acquire; the chain through the ring's tail and durable
         * orders it before any durable value that counts this record. */
        atomic_store_explicit(&p->pushed, i + 1, memory_order_release);
        assert_int_equal(desk_journal_push(p->j, &r), 0);
        assert_int_equal(desk_journal_pushed(p->j), i + 1);
    }
    atomic_store_explicit(&p->done, 1, memory_order_release);
    return NULL;
}

static void *watcher_main(void *arg)
{
    struct producer *p = arg;
    uint64_t last = 0;

    while (!atomic_load_explicit(&p->done, memory_order_acquire) || last < p->n) {
        /* synced before durable: for `every`, durable <= synced must hold
         * at any instant, so a synced read first can only be smaller. */
        uint64_t s = desk_journal_synced_seq(p->j);
        uint64_t d = desk_journal_durable_seq(p->j);
        uint64_t s2 = desk_journal_synced_seq(p->j);
        uint64_t pushed = atomic_load_explicit(&p->pushed, memory_order_acquire);
        if (d < last || d > pushed)
            p->watch_bad++;
        if (p->every && (d > s2 || s > s2))
            p->sync_bad++;
        last = d;
        p->watch_reads++;
        if (atomic_load_explicit(&p->done, memory_order_acquire) && d == p->n)
            break;
        sched_yield();
    }
    return NULL;
}

static void roundtrip_one(desk_journal_policy_t pol, uint32_t nslots, uint64_t n)
{
    desk_journal_t *j;
    desk_journal_opts_t o = opts_for(pol, nslots);
    desk_jscan_t scan;
    struct producer p = {.n = n, .every = pol.fsync == DESK_FSYNC_EVERY};
    pthread_t pt, wt;
    char path[512];

    atomic_store(&fake_now, T_20261121);
    path_of(path, sizeof path, 20261121);
    unlink(path);
    assert_int_equal(desk_journal_open(&j, &o, &scan), 0);
    assert_int_equal(scan.records, 0); /* a new file */
    p.j = j;
    assert_int_equal(desk_journal_start(j), 0);
    assert_int_equal(desk_journal_start(j), -EINVAL);
    assert_int_equal(pthread_create(&pt, NULL, producer_main, &p), 0);
    assert_int_equal(pthread_create(&wt, NULL, watcher_main, &p), 0);
    pthread_join(pt, NULL);
    assert_int_equal(desk_journal_wait(j, n, 60000), 0);
    pthread_join(wt, NULL);
    assert_int_equal(p.watch_bad, 0);
    assert_int_equal(p.sync_bad, 0);
    assert_true(p.watch_reads > 0);
    assert_int_equal(desk_journal_durable_seq(j), n);
    assert_int_equal(desk_journal_written_seq(j), n);
    assert_int_equal(desk_journal_stop(j), 0);
    assert_int_equal(desk_journal_synced_seq(j), n); /* stop syncs whatever the policy */
    desk_journal_stats_t st;
    desk_journal_stats(j, &st);
    assert_int_equal(st.records, n + 1);
    assert_int_equal(st.bytes, (n + 1) * FRAME);
    assert_int_equal(st.error, 0);
    assert_int_equal(st.day, 20261121);
    if (pol.fsync == DESK_FSYNC_EVERY)
        assert_true(st.fsyncs >= st.batches); /* one per batch, + the one at stop */
    desk_journal_close(j);

    struct check c = {.day = 20261121};
    assert_int_equal(desk_journal_replay(path, check_cb, &c), (int)(n + 1));
    assert_int_equal(c.bad, 0);
    assert_int_equal(c.files, 1);
    assert_int_equal(c.n, n + 1);
    assert_int_equal(file_size(path), (n + 1) * FRAME);
    printf("roundtrip fsync=%u/%ums nslots=%u: %llu records, %llu batches, %llu fsyncs, "
           "%llu full\n",
           pol.fsync, pol.interval_ms, nslots, (unsigned long long)n,
           (unsigned long long)st.batches, (unsigned long long)st.fsyncs,
           (unsigned long long)p.eagain);
    unlink(path);
}

static void test_roundtrip(void **state)
{
    (void)state;
    static const desk_journal_policy_t pols[] = {
        {.fsync = DESK_FSYNC_NONE},
        {.fsync = DESK_FSYNC_INTERVAL, .interval_ms = 1},
        {.fsync = DESK_FSYNC_EVERY},
    };
    static const uint32_t sizes[] = {2, 64, 65536};

    for (size_t a = 0; a < 3; a++)
        for (size_t b = 0; b < 3; b++) {
            /* `every` fsyncs per batch: keep its count sane on slow disks. */
            uint64_t n = pols[a].fsync == DESK_FSYNC_EVERY || sizes[b] == 2 ? NRECS / 10 : NRECS;
            roundtrip_one(pols[a], sizes[b], n);
        }
}

/* What each policy promises about synced_seq, observed without a thread. */
static void test_policies(void **state)
{
    (void)state;
    desk_journal_t *j;
    desk_journal_opts_t o;
    desk_jrec_t r;
    desk_journal_stats_t st;
    char path[512];

    atomic_store(&fake_now, T_20261121);
    path_of(path, sizeof path, 20261121);

    /* none: written and durable move, synced stays until stop. */
    unlink(path);
    o = opts_for((desk_journal_policy_t){.fsync = DESK_FSYNC_NONE}, 64);
    assert_int_equal(desk_journal_open(&j, &o, NULL), 0);
    for (uint64_t i = 0; i < 10; i++) {
        make_rec(i, &r);
        assert_int_equal(desk_journal_push(j, &r), 0);
    }
    assert_int_equal(desk_journal_durable_seq(j), 0); /* nothing written yet */
    assert_int_equal(desk_journal_poll(j), 10);
    assert_int_equal(desk_journal_durable_seq(j), 10);
    assert_int_equal(desk_journal_synced_seq(j), 0);
    desk_journal_stats(j, &st);
    assert_int_equal(st.fsyncs, 0);
    assert_int_equal(desk_journal_poll(j), 0);
    assert_int_equal(desk_journal_stop(j), 0);
    assert_int_equal(desk_journal_synced_seq(j), 10);
    desk_journal_close(j);

    /* every: durable == synced after each batch, one fsync per batch. */
    unlink(path);
    o = opts_for((desk_journal_policy_t){.fsync = DESK_FSYNC_EVERY}, 64);
    assert_int_equal(desk_journal_open(&j, &o, NULL), 0);
    for (uint64_t b = 1; b <= 3; b++) {
        for (uint64_t i = 0; i < 5; i++) {
            make_rec(i, &r);
            assert_int_equal(desk_journal_push(j, &r), 0);
        }
        assert_int_equal(desk_journal_poll(j), 5);
        assert_int_equal(desk_journal_durable_seq(j), 5 * b);
        assert_int_equal(desk_journal_synced_seq(j), 5 * b);
        desk_journal_stats(j, &st);
        assert_int_equal(st.fsyncs, b);
        assert_int_equal(st.batches, b);
    }
    desk_journal_close(j);

    /* interval: durable moves at write; the sync comes by itself once the
     * interval has passed, even with nothing new to write. */
    unlink(path);
    /* A long interval, so that a preempted test (loaded CI) still polls
     * before it has passed. */
    o = opts_for((desk_journal_policy_t){.fsync = DESK_FSYNC_INTERVAL, .interval_ms = 1000}, 64);
    assert_int_equal(desk_journal_open(&j, &o, NULL), 0);
    make_rec(0, &r);
    assert_int_equal(desk_journal_push(j, &r), 0);
    assert_int_equal(desk_journal_poll(j), 1);
    assert_int_equal(desk_journal_durable_seq(j), 1);
    assert_int_equal(desk_journal_synced_seq(j), 0); /* opened < 1000 ms ago */
    struct timespec ts = {1, 100 * 1000000};
    nanosleep(&ts, NULL);
    assert_int_equal(desk_journal_poll(j), 0);
    assert_int_equal(desk_journal_synced_seq(j), 1);
    desk_journal_stats(j, &st);
    assert_int_equal(st.fsyncs, 1);
    desk_journal_close(j);

    /* The same with the thread: synced catches up within a few intervals. */
    unlink(path);
    o = opts_for((desk_journal_policy_t){.fsync = DESK_FSYNC_INTERVAL, .interval_ms = 20}, 64);
    assert_int_equal(desk_journal_open(&j, &o, NULL), 0);
    assert_int_equal(desk_journal_start(j), 0);
    assert_int_equal(desk_journal_push(j, &r), 0);
    assert_int_equal(desk_journal_wait(j, 1, 5000), 0);
    for (int i = 0; i < 5000 && desk_journal_synced_seq(j) < 1; i++) /* <= 10 s */
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    assert_int_equal(desk_journal_synced_seq(j), 1);
    desk_journal_close(j);
    unlink(path);
}

/* ---- torn tail and corruption ----------------------------------------------- */

/* Write a journal of FILE + k records (thread-less) at today's path. */
static void write_journal(const char *path, uint64_t k, uint64_t base)
{
    desk_journal_t *j;
    desk_journal_opts_t o = opts_for((desk_journal_policy_t){.fsync = DESK_FSYNC_NONE}, 64);
    desk_jrec_t r;

    unlink(path);
    assert_int_equal(desk_journal_open(&j, &o, NULL), 0);
    for (uint64_t i = 0; i < k; i++) {
        make_rec(base + i, &r);
        assert_int_equal(desk_journal_push(j, &r), 0);
        if (i % 32 == 31)
            assert_true(desk_journal_poll(j) > 0);
    }
    assert_int_equal(desk_journal_stop(j), 0);
    desk_journal_close(j);
    assert_int_equal(file_size(path), (k + 1) * FRAME);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void spit(const char *path, const unsigned char *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);
}

/* Open the damaged file at `path`; expect a torn tail of `torn` bytes cut
 * and `k` records kept; then append one more and replay all. */
static void expect_torn(const char *path, uint64_t k, uint64_t torn)
{
    desk_journal_t *j;
    desk_journal_opts_t o = opts_for((desk_journal_policy_t){.fsync = DESK_FSYNC_EVERY}, 64);
    desk_jscan_t scan;
    desk_jrec_t r;

    assert_int_equal(desk_journal_open(&j, &o, &scan), 0);
    assert_int_equal(scan.records, k + 1);
    assert_int_equal(scan.torn_bytes, torn);
    assert_int_equal(scan.truncated, torn ? 1 : 0);
    assert_int_equal(scan.good_end, (k + 1) * FRAME);
    assert_int_equal(scan.corrupt_off, UINT64_MAX);
    assert_int_equal(file_size(path), (k + 1) * FRAME);
    make_rec(k, &r);
    assert_int_equal(desk_journal_push(j, &r), 0);
    assert_int_equal(desk_journal_wait(j, 1, 5000), 0);
    desk_journal_close(j);

    struct check c = {.day = 20261121};
    assert_int_equal(desk_journal_replay(path, check_cb, &c), (int)(k + 2));
    assert_int_equal(c.bad, 0);
}

static void test_torn_tail(void **state)
{
    (void)state;
    const uint64_t k = 5;
    char path[512];
    size_t len;

    atomic_store(&fake_now, T_20261121);
    path_of(path, sizeof path, 20261121);
    write_journal(path, k, 0);
    unsigned char *full = slurp(path, &len);
    assert_int_equal(len, (k + 1) * FRAME);

    /* Cut at every byte offset of the last record (0: the whole record gone,
     * which is a clean file of k - 1 records). */
    for (size_t cut = 0; cut < FRAME; cut++) {
        spit(path, full, len - FRAME + cut);
        desk_jscan_t s;
        assert_int_equal(desk_journal_scan(path, 0, NULL, NULL, &s), (int)k);
        assert_int_equal(s.torn_bytes, cut);
        assert_int_equal(file_size(path), len - FRAME + cut); /* read-only scan */
        expect_torn(path, k - 1, cut);
    }
    /* A complete last frame with a bad CRC, a bad length, a flipped payload. */
    size_t where[] = {len - FRAME + 4, len - FRAME + 0, len - FRAME + 40, len - 1};
    for (size_t w = 0; w < sizeof where / sizeof where[0]; w++) {
        unsigned char *b = malloc(len);
        memcpy(b, full, len);
        b[where[w]] ^= 0x20;
        spit(path, b, len);
        free(b);
        expect_torn(path, k - 1, FRAME);
    }
    /* Zero-filled tail (blocks allocated, data never written): 3 frames and
     * a half of zeros after the good records. */
    {
        size_t zl = len + 3 * FRAME + FRAME / 2;
        unsigned char *b = calloc(1, zl);
        memcpy(b, full, len);
        spit(path, b, zl);
        free(b);
        expect_torn(path, k, zl - len);
    }
    /* Only a torn FILE record: the file is started afresh. */
    spit(path, full, 30);
    {
        desk_journal_t *j;
        desk_journal_opts_t o = opts_for((desk_journal_policy_t){0}, 64);
        desk_jscan_t s;
        assert_int_equal(desk_journal_open(&j, &o, &s), 0);
        assert_int_equal(s.records, 0);
        assert_int_equal(s.torn_bytes, 30);
        assert_int_equal(s.truncated, 1);
        assert_int_equal(file_size(path), FRAME);
        desk_journal_close(j);
        struct check c = {.day = 20261121};
        assert_int_equal(desk_journal_replay(path, check_cb, &c), 1);
        assert_int_equal(c.bad, 0);
        assert_int_equal(c.files, 1);
    }
    free(full);
    unlink(path);
}

struct stop_at {
    uint64_t n, stop;
};

static int count_cb(const desk_jrec_t *rec, uint64_t off, void *ctx)
{
    struct stop_at *s = ctx;
    (void)rec;
    (void)off;
    if (++s->n == s->stop)
        return -ECANCELED;
    return 0;
}

static void test_mid_corruption(void **state)
{
    (void)state;
    const uint64_t k = 10;
    char path[512], want[64];
    size_t len;

    atomic_store(&fake_now, T_20261121);
    path_of(path, sizeof path, 20261121);
    write_journal(path, k, 0);
    unsigned char *full = slurp(path, &len);

    /* Damage frame f (0 = the FILE record) at byte b of the frame. */
    for (uint64_t f = 0; f < k; f++) {
        size_t bytes[] = {0, 3, 4, 7, 8, 20, FRAME - 1};
        for (size_t bi = 0; bi < sizeof bytes / sizeof bytes[0]; bi++) {
            unsigned char *b = malloc(len);
            memcpy(b, full, len);
            b[f * FRAME + bytes[bi]] ^= 0x01;
            spit(path, b, len);
            free(b);

            desk_journal_t *j = NULL;
            desk_journal_opts_t o = opts_for((desk_journal_policy_t){0}, 64);
            desk_jscan_t s;
            desk_errclear();
            assert_int_equal(desk_journal_open(&j, &o, &s), -EBADMSG);
            assert_null(j);
            assert_int_equal(s.corrupt_off, f * FRAME);
            snprintf(want, sizeof want, "offset %llu", (unsigned long long)(f * FRAME));
            assert_non_null(strstr(desk_errmsg(), want));
            assert_int_equal(file_size(path), len); /* never truncated */

            struct check c = {.day = 20261121};
            assert_int_equal(desk_journal_replay(path, check_cb, &c), -EBADMSG);
            assert_int_equal(c.n, f); /* the records before it were delivered */
            assert_int_equal(c.bad, 0);
        }
    }
    /* Bytes lost in the middle: the frames after the hole are off their
     * boundaries, yet still valid, so it is corruption, not a torn tail. */
    for (size_t lost = 1; lost < FRAME; lost += 17) {
        unsigned char *b = malloc(len);
        memcpy(b, full, 3 * FRAME + 10);
        memcpy(b + 3 * FRAME + 10, full + 3 * FRAME + 10 + lost, len - 3 * FRAME - 10 - lost);
        spit(path, b, len - lost);
        free(b);
        desk_jscan_t s;
        assert_int_equal(desk_journal_scan(path, 1, NULL, NULL, &s), -EBADMSG);
        assert_int_equal(s.corrupt_off, 3 * FRAME);
        assert_int_equal(file_size(path), len - lost);
    }
    /* A callback can stop the scan; its code comes back. */
    spit(path, full, len);
    struct stop_at sa = {.stop = 4};
    assert_int_equal(desk_journal_replay(path, count_cb, &sa), -ECANCELED);
    assert_int_equal(sa.n, 4);
    free(full);
    unlink(path);
}

/* ---- day rollover ----------------------------------------------------------- */

static void test_rollover(void **state)
{
    (void)state;
    desk_journal_t *j;
    desk_journal_opts_t o = opts_for((desk_journal_policy_t){.fsync = DESK_FSYNC_NONE}, 1024);
    uint64_t midnight = (T_20261121 / DAY_NS + 1) * DAY_NS; /* 2026-11-22T00:00Z */
    char p1[512], p2[512];
    desk_jrec_t r;

    path_of(p1, sizeof p1, 20261121);
    path_of(p2, sizeof p2, 20261122);
    unlink(p1);
    unlink(p2);
    atomic_store(&fake_now, midnight - 1000000); /* 1 ms before midnight */
    assert_int_equal(desk_journal_open(&j, &o, NULL), 0);
    assert_int_equal(desk_journal_start(j), 0);
    for (uint64_t i = 0; i < 7; i++) {
        make_rec(i, &r);
        assert_int_equal(desk_journal_push(j, &r), 0);
    }
    assert_int_equal(desk_journal_wait(j, 7, 5000), 0);
    atomic_store(&fake_now, midnight + 1000000); /* 1 ms after */
    for (uint64_t i = 7; i < 12; i++) {
        make_rec(i, &r);
        assert_int_equal(desk_journal_push(j, &r), 0);
    }
    assert_int_equal(desk_journal_wait(j, 12, 5000), 0);
    /* The old file was synced at rollover, whatever the policy. */
    assert_true(desk_journal_synced_seq(j) >= 7);
    desk_journal_stats_t st;
    desk_journal_stats(j, &st);
    assert_int_equal(st.rollovers, 1);
    assert_int_equal(st.day, 20261122);
    assert_int_equal(st.records, 12 + 2);
    desk_journal_close(j);

    struct check c1 = {.day = 20261121, .base = 0}, c2 = {.day = 20261122, .base = 7};
    assert_int_equal(desk_journal_replay(p1, check_cb, &c1), 8);
    assert_int_equal(c1.bad, 0);
    assert_int_equal(desk_journal_replay(p2, check_cb, &c2), 6);
    assert_int_equal(c2.bad, 0);
    desk_jscan_t s;
    assert_int_equal(desk_journal_scan(p2, 0, NULL, NULL, &s), 6);
    assert_int_equal(s.day, 20261122);
    unlink(p1);
    unlink(p2);
}

/* ---- back-pressure ------------------------------------------------------------ */

static void test_eagain(void **state)
{
    (void)state;
    desk_journal_t *j;
    desk_journal_opts_t o = opts_for((desk_journal_policy_t){0}, 4);
    desk_journal_stats_t st;
    desk_jrec_t r;
    char path[512];

    atomic_store(&fake_now, T_20261121);
    path_of(path, sizeof path, 20261121);
    unlink(path);
    assert_int_equal(desk_journal_open(&j, &o, NULL), 0);
    make_rec(0, &r);
    assert_int_equal(desk_journal_room(j, 4), 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(desk_journal_push(j, &r), 0);
    assert_int_equal(desk_journal_room(j, 1), 0);
    assert_int_equal(desk_journal_push(j, &r), -EAGAIN);
    assert_int_equal(desk_journal_push(j, &r), -EAGAIN);
    assert_int_equal(desk_journal_pushed(j), 4); /* the refused ones got no seq */
    desk_journal_stats(j, &st);
    assert_int_equal(st.full, 3);
    assert_int_equal(desk_journal_poll(j), 4);
    assert_int_equal(desk_journal_room(j, 8), 4);
    assert_int_equal(desk_journal_push(j, &r), 0);
    assert_int_equal(desk_journal_pushed(j), 5);
    assert_int_equal(desk_journal_stop(j), 0);
    assert_int_equal(desk_journal_durable_seq(j), 5);
    desk_journal_close(j);
    assert_int_equal(desk_journal_replay(path, NULL, NULL), 6);
    unlink(path);
}

/* ---- I/O failure -------------------------------------------------------------- */

static void test_write_error(void **state)
{
    (void)state;
    desk_journal_t *j;
    desk_journal_opts_t o = opts_for((desk_journal_policy_t){.fsync = DESK_FSYNC_EVERY}, 64);
    struct rlimit old, lim;
    desk_jrec_t r;
    char path[512];

    atomic_store(&fake_now, T_20261121);
    path_of(path, sizeof path, 20261121);
    unlink(path);
    assert_int_equal(desk_journal_open(&j, &o, NULL), 0);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 10 * FRAME + 30; /* room for 9 records and part of a 10th */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    for (uint64_t i = 0; i < 20; i++) {
        make_rec(i, &r);
        assert_int_equal(desk_journal_push(j, &r), 0);
    }
    int rc = desk_journal_poll(j);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(rc, -EFBIG);
    assert_int_equal(desk_journal_error(j), -EFBIG);
    assert_int_equal(desk_journal_durable_seq(j), 0);
    assert_int_equal(desk_journal_written_seq(j), 0);
    assert_int_equal(file_size(path), FRAME);            /* the partial batch was cut */
    assert_int_equal(desk_journal_room(j, 64), 64 - 20); /* records kept */
    /* The limit is gone: the retry writes everything once. */
    assert_int_equal(desk_journal_poll(j), 20);
    assert_int_equal(desk_journal_error(j), 0);
    assert_int_equal(desk_journal_durable_seq(j), 20);
    desk_journal_close(j);
    struct check c = {.day = 20261121};
    assert_int_equal(desk_journal_replay(path, check_cb, &c), 21);
    assert_int_equal(c.bad, 0);
    unlink(path);
}

/* ---- record builders ------------------------------------------------------------ */

static void test_builders(void **state)
{
    (void)state;
    desk_order_t o = {.order_id = 0x500000003ull,
                      .instrument = 7,
                      .strategy = 2,
                      .side = DESK_SELL,
                      .ord_type = DESK_STOP_LIMIT,
                      .tif = DESK_DAY,
                      .stop_px = 99};
    desk_jrec_t r;

    memset(&r, 0xee, sizeof r);
    desk_jrec_cmd_fill(&r, DESK_CMD_REPLACE, &o, 42, 1000001, 5, 6);
    assert_int_equal(r.head.kind, DESK_JREC_CMD);
    assert_int_equal(r.head.ts_ns, 0);
    assert_int_equal(r.cmd.type, DESK_CMD_REPLACE);
    assert_int_equal(r.cmd.side, DESK_SELL);
    assert_int_equal(r.cmd.ord_type, DESK_STOP_LIMIT);
    assert_int_equal(r.cmd.strategy, 2);
    assert_int_equal(r.cmd.instrument, 7);
    assert_int_equal(r.cmd.cl_ord_id, 42);
    assert_int_equal(r.cmd.order_id, 0x500000003ull);
    assert_int_equal(r.cmd.venue_cl, 1000001);
    assert_int_equal(r.cmd.qty, 5);
    assert_int_equal(r.cmd.px, 6);
    assert_int_equal(r.cmd.stop_px, 99);

    desk_cmd_t c = {.type = DESK_CMD_NEW,
                    .side = DESK_BUY,
                    .ord_type = DESK_LIMIT,
                    .tif = DESK_IOC,
                    .instrument = 9,
                    .cl_ord_id = 77,
                    .qty = 1,
                    .px = 2};
    desk_jrec_reject_fill(&r, &c, 3, DESK_REJ_PRICE_COLLAR, 0);
    assert_int_equal(r.reject.kind, DESK_JREC_REJECT);
    assert_int_equal(r.reject.reason, DESK_REJ_PRICE_COLLAR);
    assert_int_equal(r.reject.strategy, 3);
    assert_int_equal(r.reject.cl_ord_id, 77);
    assert_int_equal(r.reject.tif, DESK_IOC);

    desk_vevent_t v = {.type = DESK_EV_REJECT,
                       .reason = DESK_REJ_VENUE,
                       .order_id = 5,
                       .exec_id = 6,
                       .cum_qty = 7};
    desk_jrec_event_fill(&r, &v, DESK_JEV_UNKNOWN_ORDER);
    assert_int_equal(r.event.kind, DESK_JREC_EVENT);
    assert_int_equal(r.event.type, DESK_EV_REJECT);
    assert_int_equal(r.event.reason, DESK_REJ_VENUE);
    assert_int_equal(r.event.result, DESK_JEV_UNKNOWN_ORDER);
    assert_int_equal(r.event.exec_id, 6);
    assert_int_equal(r.event.cum_qty, 7);
}

/* ---- desk journal (the CLI) --------------------------------------------------- */

/* Run `cmd`, return its stdout (malloc'd) and exit status. */
static char *run(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);

    assert_non_null(p);
    for (;;) {
        if (n + 4096 > cap)
            out = realloc(out, cap *= 2);
        size_t got = fread(out + n, 1, 4096, p);
        if (got == 0)
            break;
        n += got;
    }
    out[n] = '\0';
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

static void test_cli(void **state)
{
    (void)state;
    char bin[512], path[512], cmd[2048];
    int status;

    snprintf(bin, sizeof bin, "%s/desk", DESK_BINARY_DIR);
    if (access(bin, X_OK) != 0) {
        printf("skip: %s not built\n", bin);
        skip();
    }
    atomic_store(&fake_now, T_20261121);
    path_of(path, sizeof path, 20261121);
    unlink(path);

    /* A small day: names, a session, an order with its events, a reject. */
    desk_journal_t *j;
    desk_journal_opts_t o = opts_for((desk_journal_policy_t){0}, 64);
    desk_jrec_t r;
    assert_int_equal(desk_journal_open(&j, &o, NULL), 0);
    memset(&r, 0, sizeof r);
    r.session.kind = DESK_JREC_SESSION;
    r.session.config_hash = 0xabc;
    desk_journal_push(j, &r);
    memset(&r, 0, sizeof r);
    r.name.kind = DESK_JREC_NAME;
    r.name.what = DESK_JNAME_STRATEGY;
    r.name.index = 1;
    strcpy(r.name.name, "mm");
    desk_journal_push(j, &r);
    r.name.what = DESK_JNAME_INSTRUMENT;
    r.name.index = 4;
    strcpy(r.name.name, "BTCUSD");
    desk_journal_push(j, &r);
    desk_order_t ord = {.order_id = 0x100000002ull,
                        .instrument = 4,
                        .strategy = 1,
                        .side = DESK_BUY,
                        .ord_type = DESK_LIMIT,
                        .tif = DESK_GTC};
    desk_jrec_cmd_fill(&r, DESK_CMD_NEW, &ord, 17, 555, 150000000, 9987654321000);
    desk_journal_push(j, &r);
    desk_vevent_t v = {.type = DESK_EV_FILL,
                       .instrument = 4,
                       .order_id = 0x100000002ull,
                       .exec_id = 9,
                       .last_px = 9987654321000,
                       .last_qty = 50000000,
                       .fee = 12345,
                       .cum_qty = 50000000};
    desk_jrec_event_fill(&r, &v, DESK_JEV_APPLIED);
    desk_journal_push(j, &r);
    desk_cmd_t c = {.type = DESK_CMD_NEW,
                    .side = DESK_SELL,
                    .ord_type = DESK_MARKET,
                    .instrument = 4,
                    .cl_ord_id = 18,
                    .qty = 1};
    desk_jrec_reject_fill(&r, &c, 0, DESK_REJ_KILL_SWITCH, 0);
    desk_journal_push(j, &r);
    ord.strategy = 0;
    ord.order_id = 0x100000003ull;
    desk_jrec_cmd_fill(&r, DESK_CMD_NEW, &ord, 17, 556, 1, 1); /* strategy 0's own 17 */
    desk_journal_push(j, &r);
    assert_int_equal(desk_journal_stop(j), 0);
    desk_journal_close(j);

    /* Everything as JSON lines. */
    snprintf(cmd, sizeof cmd, "%s journal -f %s --json", bin, path);
    char *out = run(cmd, &status);
    assert_int_equal(status, 0);
    int lines = 0, fills = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *js = cJSON_Parse(line);
        assert_non_null(js);
        assert_true(cJSON_IsString(cJSON_GetObjectItem(js, "kind")));
        assert_true(cJSON_IsString(cJSON_GetObjectItem(js, "time")));
        const char *kind = cJSON_GetObjectItem(js, "kind")->valuestring;
        if (strcmp(kind, "event") == 0) {
            fills++;
            assert_string_equal(cJSON_GetObjectItem(js, "type")->valuestring, "FILL");
            assert_string_equal(cJSON_GetObjectItem(js, "last_px")->valuestring, "99876.54321");
            assert_string_equal(cJSON_GetObjectItem(js, "last_qty")->valuestring, "0.5");
            assert_string_equal(cJSON_GetObjectItem(js, "fee")->valuestring, "0.00012345");
            assert_string_equal(cJSON_GetObjectItem(js, "strategy")->valuestring, "mm");
            assert_string_equal(cJSON_GetObjectItem(js, "symbol")->valuestring, "BTCUSD");
        }
        lines++;
        cJSON_Delete(js);
    }
    free(out);
    assert_int_equal(lines, 8);
    assert_int_equal(fills, 1);

    /* --strategy mm --clordid 17: the order and its fill, not strategy 0's 17. */
    snprintf(cmd, sizeof cmd, "%s journal -f %s --json --strategy mm --clordid 17", bin, path);
    out = run(cmd, &status);
    assert_int_equal(status, 0);
    lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *js = cJSON_Parse(line);
        assert_non_null(js);
        const char *kind = cJSON_GetObjectItem(js, "kind")->valuestring;
        assert_true(strcmp(kind, "cmd") == 0 || strcmp(kind, "event") == 0);
        assert_true(cJSON_GetObjectItem(js, "order_id")->valuedouble == 4294967298.0);
        lines++;
        cJSON_Delete(js);
    }
    free(out);
    assert_int_equal(lines, 2);

    /* --kind reject, as text. */
    snprintf(cmd, sizeof cmd, "%s journal -f %s --kind reject", bin, path);
    out = run(cmd, &status);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "KILL_SWITCH"));
    assert_null(strstr(out, "FILL"));
    assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out)); /* one line */
    free(out);

    /* --since after every stamp: nothing; before: everything. */
    snprintf(cmd, sizeof cmd, "%s journal -f %s --since 2026-11-21T05:50:29Z", bin, path);
    out = run(cmd, &status);
    assert_int_equal(status, 0);
    assert_string_equal(out, "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s journal -f %s --since 05:50 --kind cmd,event", bin, path);
    out = run(cmd, &status);
    assert_int_equal(status, 0);
    int n = 0;
    for (char *s = out; (s = strchr(s, '\n')) != NULL; s++)
        n++;
    assert_int_equal(n, 3);
    free(out);

    /* -n DESK -d DIR --date finds the same file. */
    snprintf(cmd, sizeof cmd, "%s journal -n test -d %s --date 20261121 --kind session", bin,
             tmpdir);
    out = run(cmd, &status);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "SESSION"));
    free(out);

    /* Corruption: exit 2 after printing the records before it. */
    size_t len;
    unsigned char *b = slurp(path, &len);
    b[3 * FRAME + 20] ^= 1;
    spit(path, b, len);
    free(b);
    snprintf(cmd, sizeof cmd, "%s journal -f %s 2>/dev/null", bin, path);
    out = run(cmd, &status);
    assert_int_equal(status, 2);
    n = 0;
    for (char *s = out; (s = strchr(s, '\n')) != NULL; s++)
        n++;
    assert_int_equal(n, 3);
    free(out);

    /* Usage errors. */
    snprintf(cmd, sizeof cmd, "%s journal -f %s --kind nope 2>/dev/null", bin, path);
    free(run(cmd, &status));
    assert_int_equal(status, 2);
    snprintf(cmd, sizeof cmd, "%s journal -f /nonexistent/x.journal 2>/dev/null", bin);
    free(run(cmd, &status));
    assert_int_equal(status, 2);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors),
        cmocka_unit_test(test_policy_parse),
        cmocka_unit_test(test_day),
        cmocka_unit_test_setup_teardown(test_open_errors, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_roundtrip, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_policies, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_mid_corruption, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_rollover, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_eagain, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_write_error, setup_dir, teardown_dir),
        cmocka_unit_test(test_builders),
        cmocka_unit_test_setup_teardown(test_cli, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
