/*
 * journal_fuzz.c - libFuzzer target for the journal reader
 * (desk_journal_scan_fd: frame check, torn-tail versus corruption, repair).
 * It checks invariants, not outputs, with CHECK (which NDEBUG does not
 * remove).  The input is written to a memfd and read as a journal file.
 *
 * Two modes:
 *   raw         any input not starting with "\xffJS": the bytes ARE the file.
 *               The scan returns a count or -EBADMSG, nothing else; the
 *               callback saw exactly that many records at consecutive frame
 *               offsets; the numbers in desk_jscan_t add up; a repairing scan
 *               returns the same and leaves exactly the good prefix, which a
 *               third scan finds clean.
 *   structured  "\xffJS" op p0 p1, then records of 64 bytes: the target
 *               builds a valid journal (a FILE record, then those records
 *               with correct CRCs), damages it as `op` says (cut it, flip a
 *               byte, add zeros, or drop the FILE record) and checks the scan
 *               classifies the damage exactly: a cut or a damaged last frame
 *               is a torn tail of the right size, a damaged earlier frame is
 *               -EBADMSG at that frame's offset.
 *   recovery    "\xffJR", then records of 64 bytes (their first byte taken
 *               mod the record kinds, so every input is some record): each
 *               is replayed into a router (desk_router_replay) over a small
 *               order table, as deskd does at start, then the free list is
 *               rebuilt, the state published and a day snapshot taken.  Bad
 *               records may be refused (-EPROTO, and the replay stops, as
 *               deskd refuses to start); nothing crashes, and every live
 *               order keeps cum + leaves == qty with its instrument and
 *               strategy in range, and the live list is a list.
 * Under gcc, ctest replays corpus/journal/ through replay_main.c.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "core/err.h"
#include "core/journal.h"
#include "core/router.h"
#include "ring/shm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

#define CHECK(e) ((e) ? (void)0 : check_fail(#e, __LINE__))
#define FRAME DESK_JOURNAL_FRAME
#define MAX_RECS 256 /* structured mode: records at most */

static void check_fail(const char *what, int line)
{
    fprintf(stderr, "journal_fuzz.c:%d: invariant failed: %s\n  last message: %s\n", line, what,
            desk_errmsg());
    abort();
}

/* The callback's view: records at consecutive frame offsets. */
struct seen {
    uint64_t n;   /* records */
    uint64_t bad; /* offsets out of sequence */
};

static int seen_cb(const desk_jrec_t *rec, uint64_t off, void *ctx)
{
    struct seen *s = ctx;

    if (off != s->n * FRAME || (s->n == 0 && rec->head.kind != DESK_JREC_FILE))
        s->bad++;
    s->n++;
    return 0;
}

static int memfd(void)
{
    static int fd = -1;

    if (fd < 0)
        fd = memfd_create("journal_fuzz", MFD_CLOEXEC);
    CHECK(fd >= 0);
    return fd;
}

static void put_file(int fd, const void *b, size_t n)
{
    CHECK(ftruncate(fd, 0) == 0);
    CHECK(n == 0 || pwrite(fd, b, n, 0) == (ssize_t)n);
}

static uint64_t fd_size(int fd)
{
    off_t end = lseek(fd, 0, SEEK_END);
    CHECK(end >= 0);
    return (uint64_t)end;
}

/* Scan, check the invariants every result must satisfy, return rc. */
static int scan_checked(int fd, int repair, desk_jscan_t *in)
{
    struct seen s = {0};
    uint64_t size = fd_size(fd);
    int rc = desk_journal_scan_fd(fd, repair, seen_cb, &s, in);

    CHECK(rc >= 0 || rc == -EBADMSG);
    CHECK(s.bad == 0);
    CHECK(in->size == size);
    CHECK(in->records == s.n);
    CHECK(in->good_end == s.n * FRAME);
    CHECK(in->good_end <= in->size);
    if (rc >= 0) {
        CHECK((uint64_t)rc == in->records);
        CHECK(in->corrupt_off == UINT64_MAX);
        CHECK(in->torn_bytes == in->size - in->good_end);
        CHECK(in->truncated == (repair && in->torn_bytes ? 1u : 0u));
        CHECK(fd_size(fd) == (in->truncated ? in->good_end : size));
    } else {
        CHECK(in->corrupt_off == in->good_end); /* stopped at the bad frame */
        CHECK(in->corrupt_off < in->size);
        CHECK(in->truncated == 0);
        CHECK(fd_size(fd) == size); /* corruption is never cut */
        CHECK(desk_errmsg()[0] != '\0');
    }
    return rc;
}

static void raw(const uint8_t *data, size_t len)
{
    int fd = memfd();
    desk_jscan_t a, b, c;

    put_file(fd, data, len);
    int rc = scan_checked(fd, 0, &a);
    int rc2 = scan_checked(fd, 1, &b);
    CHECK(rc == rc2);
    CHECK(a.good_end == b.good_end && a.corrupt_off == b.corrupt_off);
    if (rc >= 0) {
        CHECK(scan_checked(fd, 0, &c) == rc);
        CHECK(c.torn_bytes == 0);
    }
}

static void frame_at(unsigned char *f, const void *rec)
{
    uint32_t len = DESK_JOURNAL_REC, crc;

    memcpy(f, &len, 4); /* little-endian host: the file's byte order */
    memcpy(f + 8, rec, DESK_JOURNAL_REC);
    crc = desk_crc32c(desk_crc32c(0, f, 4), f + 8, DESK_JOURNAL_REC);
    memcpy(f + 4, &crc, 4);
}

static void structured(const uint8_t *data, size_t len)
{
    static unsigned char file[(MAX_RECS + 1) * FRAME + 512];
    unsigned op = data[3], p = (unsigned)data[4] | (unsigned)data[5] << 8;
    size_t nrec = (len - 6) / DESK_JOURNAL_REC;
    desk_jrec_t r;
    desk_jscan_t in;
    int fd = memfd(), rc;

    if (nrec > MAX_RECS)
        nrec = MAX_RECS;
    memset(&r, 0, sizeof r);
    r.file.kind = DESK_JREC_FILE;
    r.file.version = DESK_JOURNAL_VERSION;
    r.file.frame = DESK_JOURNAL_FRAME;
    r.file.day = 20261121;
    r.file.magic = DESK_JOURNAL_MAGIC;
    frame_at(file, &r);
    for (size_t i = 0; i < nrec; i++)
        frame_at(file + (i + 1) * FRAME, data + 6 + i * DESK_JOURNAL_REC);
    size_t n = nrec + 1, size = n * FRAME;

    switch (op % 4) {
    case 0: { /* cut at any byte: a torn tail, never corruption */
        size_t cut = size - p % (size + 1);
        put_file(fd, file, cut);
        rc = scan_checked(fd, 1, &in);
        CHECK(rc == (int)(cut / FRAME));
        CHECK(in.torn_bytes == cut % FRAME);
        break;
    }
    case 1: { /* flip a byte of frame f */
        size_t at = p % size, f = at / FRAME;
        file[at] ^= (unsigned char)(data[4] | 1);
        put_file(fd, file, size);
        rc = scan_checked(fd, 1, &in);
        if (f == n - 1) { /* the last frame: torn */
            CHECK(rc == (int)f);
            CHECK(in.torn_bytes == FRAME);
        } else { /* an earlier frame, valid ones after: corruption there */
            CHECK(rc == -EBADMSG);
            CHECK(in.corrupt_off == f * FRAME);
        }
        break;
    }
    case 2: { /* zeros after the end: a torn tail of exactly those */
        size_t z = p % 512;
        memset(file + size, 0, z);
        put_file(fd, file, size + z);
        rc = scan_checked(fd, 1, &in);
        CHECK(rc == (int)n);
        CHECK(in.torn_bytes == z);
        break;
    }
    default: { /* the records without the FILE record */
        if (nrec == 0)
            break;
        put_file(fd, file + FRAME, size - FRAME);
        rc = scan_checked(fd, 0, &in);
        const desk_jrec_t *first = (const desk_jrec_t *)(const void *)(data + 6);
        desk_jrec_t f0;
        memcpy(&f0, first, sizeof f0);
        int is_file = f0.file.kind == DESK_JREC_FILE && f0.file.magic == DESK_JOURNAL_MAGIC &&
                      f0.file.version == DESK_JOURNAL_VERSION &&
                      f0.file.frame == DESK_JOURNAL_FRAME;
        CHECK(is_file ? rc == (int)nrec : rc == -EBADMSG && in.corrupt_off == 0);
        break;
    }
    }
}

/* A router over a private main segment: 2 connectors, 3 instruments, 2
 * strategies, 64 orders.  Built once; the router is made anew per input. */
static struct desk_main_hdr *fake_main(desk_config_t **cfgp)
{
    static struct desk_main_hdr *h;
    static desk_config_t *cfg;

    if (h == NULL) {
        struct desk_main_hdr lay;
        memset(&lay, 0, sizeof lay);
        desk_shm_main_layout(&lay, 3, 2, 2);
        h = aligned_alloc(128, (size_t)lay.total_size);
        cfg = calloc(1, sizeof *cfg);
        CHECK(h != NULL && cfg != NULL);
        memset(h, 0, (size_t)lay.total_size);
        desk_shm_main_layout(h, 3, 2, 2);
        desk_instrument_t *in = desk_shm_instruments(h);
        for (uint32_t i = 0; i < 3; i++) {
            in[i].id = i;
            in[i].connector = (uint16_t)(i % 2);
            in[i].tick_size = DESK_SCALE / 100;
            in[i].lot_size = DESK_SCALE / 1000;
            snprintf(in[i].symbol, sizeof in[i].symbol, "S%u", i);
        }
        cfg->order_capacity = 64;
        cfg->clordids_per_day = 256;
        cfg->nconnectors = 2;
        cfg->ninstruments = 3;
        cfg->nstrategies = 2;
        cfg->status_interval_ms = 100;
    }
    *cfgp = cfg;
    return h;
}

static void recovery(const uint8_t *data, size_t len)
{
    static desk_router_t r;
    desk_config_t *cfg;
    struct desk_main_hdr *h = fake_main(&cfg);
    size_t nrec = (len - 3) / DESK_JOURNAL_REC;

    CHECK(desk_router_init(&r, cfg, h) == 0);
    r.replaying = 1;
    for (size_t i = 0; i < nrec && i < MAX_RECS; i++) {
        desk_jrec_t rec;
        memcpy(&rec, data + 3 + i * DESK_JOURNAL_REC, sizeof rec);
        rec.head.kind = (uint8_t)(1 + (uint8_t)(rec.head.kind - 1) % (DESK_JREC__COUNT - 1));
        int rc = desk_router_replay(&r, &rec);
        CHECK(rc == 0 || rc == -EPROTO);
        if (rc < 0)
            break; /* deskd refuses to start on it */
    }
    desk_router_replay_done(&r);
    r.replaying = 0;
    uint32_t live = 0;
    for (const desk_order_t *o = desk_orders_live_first(&r.orders); o;
         o = desk_orders_live_next(&r.orders, o)) {
        CHECK(++live <= r.orders.capacity); /* a list, not a loop */
        CHECK(o->instrument < r.ninstr && o->strategy < r.nstrat);
        CHECK(desk_order_invariant(o));
    }
    CHECK(live == r.orders.live);
    desk_router_publish(&r, 1);
    CHECK(desk_router_new_day(&r, 20261122) == 0); /* no journal: figures only */
    desk_router_fini(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len >= 3 && memcmp(data, "\xffJR", 3) == 0)
        recovery(data, len);
    else if (len >= 6 && memcmp(data, "\xffJS", 3) == 0)
        structured(data, len);
    else
        raw(data, len);
    desk_errclear();
    return 0;
}
