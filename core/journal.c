/*
 * journal.c - the journal's files, its consumer thread and its reader; see
 * journal.h for the format, the policies and the threads.
 *
 * Everything here is cold or runs on the journal thread: it may allocate
 * (the scan's read buffer), make system calls and sleep.  The router's side
 * is the inline code in journal.h.
 *
 * Protocol (the journal's own publish points; the ring's are in spsc.h)
 *   (W) desk_journal_poll() stores written, durable and synced with release
 *       after the write(2) or fdatasync(2) they describe returned, so a
 *       reader that load-acquires seq s may rely on record s being in the
 *       file (page cache or disk, as the field says).
 *   (S) desk_journal_stop() stores stop with release; the thread's acquire
 *       load pairs with it, so every push made before stop() is visible to
 *       the drain that follows.
 */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "crc32c.h"
#include "err.h"
#include "router.h"

#define SCAN_FRAMES 1024u    /* frames per read(2) when scanning */
#define RETRY_NS 10000000ull /* the thread's pause after a failed write */

/* ---- frames --------------------------------------------------------------- */

static inline void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static inline uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* CRC of a frame: its 4 length bytes, then its 64 record bytes. */
static inline uint32_t frame_crc(const unsigned char *f)
{
    return desk_crc32c(desk_crc32c(0, f, 4), f + 8, DESK_JOURNAL_REC);
}

/* Build the frame of `rec` at f[0..72). */
static inline void frame_put(unsigned char *f, const void *rec)
{
    put_le32(f, DESK_JOURNAL_REC);
    memcpy(f + 8, rec, DESK_JOURNAL_REC);
    put_le32(f + 4, frame_crc(f));
}

/* 1 if f[0..72) is a well-formed frame: the length and the CRC match. */
static inline int frame_ok(const unsigned char *f)
{
    return get_le32(f) == DESK_JOURNAL_REC && get_le32(f + 4) == frame_crc(f);
}

/* ---- small pure helpers ------------------------------------------------- */

/* See journal.h.  Pure.  Civil-from-days (H. Hinnant), proleptic Gregorian. */
uint32_t desk_journal_day(uint64_t wall_ns)
{
    int64_t z = (int64_t)(wall_ns / 86400000000000ull) + 719468;
    int64_t era = z / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);

    return (uint32_t)(y * 10000 + m * 100 + d);
}

/* See journal.h.  Any thread. */
int desk_journal_path(char *buf, size_t cap, const char *dir, const char *desk, uint32_t day)
{
    int n = snprintf(buf, cap, "%s/desk-%s-%08u.journal", dir, desk, day);

    if (n < 0 || (size_t)n >= cap)
        return DESK_ERR(-ENAMETOOLONG, "journal path '%s/desk-%s-%08u.journal' is too long", dir,
                        desk, day);
    return n;
}

/* See journal.h.  Any thread. */
int desk_journal_prev_day(const char *dir, const char *desk, uint32_t before, uint32_t *day)
{
    char pre[DESK_NAME_MAX + 8];
    int pl = snprintf(pre, sizeof pre, "desk-%s-", desk);
    DIR *dp = opendir(dir);
    uint32_t best = 0;

    if (pl < 0 || (size_t)pl >= sizeof pre)
        return DESK_ERR(-ENAMETOOLONG, "desk name '%s' is too long", desk);
    if (dp == NULL)
        return errno == ENOENT ? 0 : DESK_ERR(-errno, "journal dir %s: %s", dir, strerror(errno));
    for (struct dirent *e; (e = readdir(dp)) != NULL;) {
        const char *n = e->d_name;
        uint32_t d = 0;
        int k;
        if (strncmp(n, pre, (size_t)pl) != 0)
            continue;
        for (k = 0; k < 8 && n[pl + k] >= '0' && n[pl + k] <= '9'; k++)
            d = d * 10 + (uint32_t)(n[pl + k] - '0');
        if (k != 8 || strcmp(n + pl + 8, ".journal") != 0)
            continue; /* another desk's name that starts like ours, or a moved-aside file */
        if (d < before && d > best)
            best = d;
    }
    closedir(dp);
    *day = best;
    return best ? 1 : 0;
}

/* See journal.h.  Any thread. */
int desk_journal_policy_parse(const char *s, desk_journal_policy_t *out)
{
    if (s == NULL)
        return DESK_ERR(-EINVAL, "fsync policy missing");
    if (strcmp(s, "none") == 0) {
        *out = (desk_journal_policy_t){.fsync = DESK_FSYNC_NONE};
        return 0;
    }
    if (strcmp(s, "every") == 0) {
        *out = (desk_journal_policy_t){.fsync = DESK_FSYNC_EVERY};
        return 0;
    }
    if (strncmp(s, "interval:", 9) == 0) {
        const char *p = s + 9;
        uint64_t v = 0;
        if (*p == '\0')
            goto bad;
        for (; *p; p++) {
            if (*p < '0' || *p > '9' || v > 3600000)
                goto bad;
            v = v * 10 + (uint64_t)(*p - '0');
        }
        if (v < 1 || v > 3600000)
            goto bad;
        *out = (desk_journal_policy_t){.fsync = DESK_FSYNC_INTERVAL, .interval_ms = (uint32_t)v};
        return 0;
    }
bad:
    return DESK_ERR(-EINVAL,
                    "fsync policy '%s': want \"none\", \"every\" or \"interval:MS\" "
                    "(MS 1..3600000)",
                    s);
}

static const char *const kind_names[DESK_JREC__COUNT] = {
    [DESK_JREC_FILE] = "file",       [DESK_JREC_SESSION] = "session", [DESK_JREC_NAME] = "name",
    [DESK_JREC_CMD] = "cmd",         [DESK_JREC_REJECT] = "reject",   [DESK_JREC_EVENT] = "event",
    [DESK_JREC_BALANCE] = "balance",
    [DESK_JREC_BREAK] = "break",     [DESK_JREC_SNAPSHOT] = "snapshot", [DESK_JREC_CARRY] = "carry",
};

/* See journal.h.  Any thread. */
const char *desk_jrec_kind_name(unsigned kind)
{
    return kind < DESK_JREC__COUNT && kind_names[kind] ? kind_names[kind] : "?";
}

/* See journal.h.  Any thread. */
int desk_jrec_kind_parse(const char *s)
{
    for (unsigned k = 1; k < DESK_JREC__COUNT; k++)
        if (strcmp(s, kind_names[k]) == 0)
            return (int)k;
    return -EINVAL;
}

/* ---- reading ------------------------------------------------------------- */

/* pread until len bytes or EOF; *got says how many.  0 or -errno. */
static int read_at(int fd, unsigned char *b, size_t len, uint64_t off, size_t *got)
{
    size_t g = 0;

    while (g < len) {
        ssize_t r = pread(fd, b + g, len - g, (off_t)(off + g));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return DESK_ERR(-errno, "journal read at offset %llu: %s",
                            (unsigned long long)(off + g), strerror(errno));
        }
        if (r == 0)
            break;
        g += (size_t)r;
    }
    *got = g;
    return 0;
}

/*
 * Look at the bytes [bad, size) after the first bad frame: *valid = 1 if a
 * valid frame starts at any byte offset after `bad` (on a frame boundary or
 * not: data shifted by a lost or inserted byte counts too), *nonzero = 1 if
 * any byte is nonzero.  0 or -errno.  This is what separates a torn tail
 * (no valid frame after the bad one) from corruption.
 */
static int scan_tail(int fd, unsigned char *buf, size_t cap, uint64_t bad, uint64_t size,
                     int *valid, int *nonzero)
{
    uint64_t from = bad;

    *valid = *nonzero = 0;
    while (from < size) {
        uint64_t left = size - from;
        size_t want = left < cap ? (size_t)left : cap, got = 0;
        int rc = read_at(fd, buf, want, from, &got);
        if (rc < 0)
            return rc;
        for (size_t p = 0; p < got && !*nonzero; p++)
            *nonzero = buf[p] != 0;
        for (size_t p = from == bad ? 1 : 0; p + DESK_JOURNAL_FRAME <= got; p++) {
            /* The length word first: four compares rule out most offsets. */
            if (buf[p] == DESK_JOURNAL_REC && buf[p + 1] == 0 && buf[p + 2] == 0 &&
                buf[p + 3] == 0 && frame_ok(buf + p)) {
                *valid = 1;
                return 0;
            }
        }
        if (got < DESK_JOURNAL_FRAME)
            break;
        /* The next window overlaps this one by a frame less one byte, so a
         * frame across the seam is seen whole. */
        from += got - (DESK_JOURNAL_FRAME - 1);
    }
    return 0;
}

/* 1 if `r` is a FILE record this code can read. */
static int file_rec_ok(const desk_jrec_t *r)
{
    return r->file.kind == DESK_JREC_FILE && r->file.magic == DESK_JOURNAL_MAGIC &&
           r->file.version == DESK_JOURNAL_VERSION && r->file.frame == DESK_JOURNAL_FRAME;
}

/* See journal.h.  Any thread. */
int desk_journal_scan_fd(int fd, int repair, desk_journal_cb *cb, void *ctx, desk_jscan_t *info)
{
    const size_t cap = (size_t)SCAN_FRAMES * DESK_JOURNAL_FRAME;
    desk_jscan_t in = {.corrupt_off = UINT64_MAX};
    uint64_t off = 0, bad = UINT64_MAX;
    unsigned char *buf = NULL;
    struct stat st;
    int rc = 0;

    if (fstat(fd, &st) < 0) {
        rc = DESK_ERR(-errno, "journal fstat: %s", strerror(errno));
        goto out;
    }
    in.size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
    buf = malloc(cap);
    if (buf == NULL) {
        rc = DESK_ERR(-ENOMEM, "journal scan buffer");
        goto out;
    }
    while (off < in.size && bad == UINT64_MAX) {
        uint64_t left = in.size - off;
        size_t want = left < cap ? (size_t)left : cap, got = 0, p;
        if ((rc = read_at(fd, buf, want, off, &got)) < 0)
            goto out;
        if (got < want)
            in.size = off + got; /* the file shrank while we read: EOF is here */
        for (p = 0; p + DESK_JOURNAL_FRAME <= got; p += DESK_JOURNAL_FRAME) {
            desk_jrec_t rec;
            if (!frame_ok(buf + p)) {
                bad = off + p;
                break;
            }
            memcpy(&rec, buf + p + 8, sizeof rec);
            if (off + p == 0) {
                if (!file_rec_ok(&rec)) {
                    in.corrupt_off = 0;
                    rc = DESK_ERR(-EBADMSG,
                                  "not a desk journal of format %u (first record: kind %u, "
                                  "version %u)",
                                  DESK_JOURNAL_VERSION, rec.file.kind, rec.file.version);
                    goto out;
                }
                in.day = rec.file.day;
            }
            in.records++;
            in.good_end = off + p + DESK_JOURNAL_FRAME;
            if (cb && (rc = cb(&rec, off + p, ctx)) < 0)
                goto out;
        }
        if (bad == UINT64_MAX && p < got)
            bad = off + p; /* a partial frame at the end of the file */
        off += p;
    }
    rc = 0;
    if (bad != UINT64_MAX) {
        int valid, nonzero;
        if ((rc = scan_tail(fd, buf, cap, bad, in.size, &valid, &nonzero)) < 0)
            goto out;
        if (valid) {
            in.corrupt_off = bad;
            rc = DESK_ERR(-EBADMSG,
                          "corrupt frame at offset %llu (record %llu): valid frames follow it",
                          (unsigned long long)bad, (unsigned long long)in.records);
            goto out;
        }
        /* No FILE record, and more than a torn one of data that is not
         * zeros: someone else's file; never cut it. */
        if (in.good_end == 0 && in.size > DESK_JOURNAL_FRAME && nonzero) {
            in.corrupt_off = 0;
            rc = DESK_ERR(-EBADMSG, "not a desk journal (no valid first record in %llu bytes)",
                          (unsigned long long)in.size);
            goto out;
        }
    }
    in.torn_bytes = in.size - in.good_end;
    if (repair && in.torn_bytes) {
        if (ftruncate(fd, (off_t)in.good_end) < 0 || fdatasync(fd) < 0) {
            rc = DESK_ERR(-errno, "cannot cut the torn journal tail at %llu: %s",
                          (unsigned long long)in.good_end, strerror(errno));
            goto out;
        }
        in.truncated = 1;
    }
out:
    free(buf);
    if (info)
        *info = in;
    if (rc < 0)
        return rc;
    return in.records > INT_MAX ? INT_MAX : (int)in.records;
}

/* See journal.h.  Any thread. */
int desk_journal_scan(const char *path, int repair, desk_journal_cb *cb, void *ctx,
                      desk_jscan_t *info)
{
    int fd = open(path, (repair ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    int rc;

    if (fd < 0) {
        rc = -errno;
        if (info)
            *info = (desk_jscan_t){.corrupt_off = UINT64_MAX};
        return DESK_ERR(rc, "cannot open journal %s: %s", path, strerror(-rc));
    }
    rc = desk_journal_scan_fd(fd, repair, cb, ctx, info);
    close(fd);
    return rc;
}

/* See journal.h.  Any thread. */
int desk_journal_replay(const char *path, desk_journal_cb *cb, void *ctx)
{
    return desk_journal_scan(path, 0, cb, ctx, NULL);
}

/* ---- writing (consumer) ------------------------------------------------- */

static uint64_t wall_default(void *ctx)
{
    (void)ctx;
    return desk_wall_ns();
}

static inline uint64_t jwall(desk_journal_t *j)
{
    return j->opts.wall_ns(j->opts.clock_ctx);
}

/* Relaxed single-writer counter bump (stats). */
static inline void jbump(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* 1 once an fdatasync failed (sticky). */
static inline uint32_t sync_failed(desk_journal_t *j)
{
    /* Acquire pairs with the release in jsync(): the error code is set. */
    return atomic_load_explicit(&j->sync_failed, memory_order_acquire);
}

static inline void jset_error(desk_journal_t *j, int err)
{
    /* Relaxed: a status flag; no data is published through it. */
    atomic_store_explicit(&j->error, err, memory_order_relaxed);
}

/* write(2) all of b[0..len); 0 or -errno. */
static int write_all(int fd, const unsigned char *b, size_t len)
{
    while (len) {
        ssize_t w = write(fd, b, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        b += w;
        len -= (size_t)w;
    }
    return 0;
}

/* fdatasync the open file and publish synced_seq.  A failure is sticky. */
static int jsync(desk_journal_t *j)
{
    if (j->fd < 0)
        return 0;
    if (fdatasync(j->fd) < 0) {
        int rc = -errno;
        jset_error(j, rc);
        /* Release pairs with the acquire in sync_failed(): whoever sees the
         * flag also sees the error code stored above. */
        atomic_store_explicit(&j->sync_failed, 1, memory_order_release);
        return rc;
    }
    jbump(&j->fsyncs, 1);
    j->last_sync_ns = desk_now_ns();
    /* Release (W): the fdatasync above happened before any reader's
     * acquire of synced sees this value. */
    atomic_store_explicit(&j->synced, j->done, memory_order_release);
    if (j->opts.policy.fsync == DESK_FSYNC_EVERY)
        atomic_store_explicit(&j->durable, j->done, memory_order_release); /* (W) */
    return 0;
}

/* fsync the directory so that a new file's entry survives a power loss. */
static void sync_dir(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
}

/* Open (or create) the file of `day`: check it, cut a torn tail, write the
 * FILE record into an empty file.  Consumer (or control before start). */
static int jfile_open(desk_journal_t *j, uint32_t day, uint64_t wall, desk_jscan_t *scan)
{
    char path[sizeof j->path];
    desk_jscan_t info;
    int created = 1, fd, rc;

    if ((rc = desk_journal_path(path, sizeof path, j->dir, j->desk, day)) < 0)
        return rc;
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0 && errno == EEXIST) {
        created = 0;
        fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
    }
    if (fd < 0) {
        rc = -errno;
        if (scan)
            *scan = (desk_jscan_t){.corrupt_off = UINT64_MAX};
        return DESK_ERR(rc, "cannot open journal %s: %s", path, strerror(-rc));
    }
    rc = desk_journal_scan_fd(fd, 1, NULL, NULL, &info);
    if (scan)
        *scan = info;
    if (rc < 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", desk_errmsg());
        close(fd);
        return DESK_ERR(rc, "journal %s: %s", path, msg);
    }
    if (info.good_end == 0) {
        desk_jrec_t r;
        unsigned char f[DESK_JOURNAL_FRAME];
        memset(&r, 0, sizeof r);
        r.file.kind = DESK_JREC_FILE;
        r.file.version = DESK_JOURNAL_VERSION;
        r.file.frame = DESK_JOURNAL_FRAME;
        r.file.day = day;
        r.file.ts_ns = wall;
        r.file.magic = DESK_JOURNAL_MAGIC;
        memcpy(r.file.desk, j->desk, sizeof r.file.desk);
        frame_put(f, &r);
        if ((rc = write_all(fd, f, sizeof f)) < 0 || (created && fdatasync(fd) < 0)) {
            rc = rc < 0 ? rc : -errno;
            (void)ftruncate(fd, 0);
            close(fd);
            return DESK_ERR(rc, "cannot write journal %s: %s", path, strerror(-rc));
        }
        jbump(&j->records, 1);
        jbump(&j->bytes, sizeof f);
        info.good_end = sizeof f;
    }
    if (created)
        sync_dir(j->dir);
    j->fd = fd;
    j->file_off = info.good_end;
    j->file_day = day;
    memcpy(j->path, path, sizeof path);
    atomic_store_explicit(&j->day, day, memory_order_relaxed);
    return 0;
}

/* Close the day's file: fdatasync it whatever the policy. */
static int jfile_close(desk_journal_t *j)
{
    int rc = 0;

    if (j->fd < 0)
        return 0;
    if (!sync_failed(j))
        rc = jsync(j);
    close(j->fd);
    j->fd = -1;
    return rc;
}

/* See journal.h.  Consumer only. */
int desk_journal_poll(desk_journal_t *j)
{
    if (sync_failed(j))
        return atomic_load_explicit(&j->error, memory_order_relaxed);

    uint32_t n = desk_spsc_peek_n(&j->cons, DESK_JOURNAL_BATCH);
    uint64_t mono = desk_now_ns();
    const desk_journal_policy_t *pol = &j->opts.policy;
    int rc;

    if (n == 0) {
        if (pol->fsync == DESK_FSYNC_INTERVAL &&
            atomic_load_explicit(&j->synced, memory_order_relaxed) < j->done &&
            mono - j->last_sync_ns >= (uint64_t)pol->interval_ms * 1000000u)
            return jsync(j);
        return 0;
    }
    uint64_t wall = jwall(j);
    uint32_t day = desk_journal_day(wall);
    if (day != j->file_day || j->fd < 0) {
        /* Day rollover: the old file is closed durably, the new one opened;
         * the whole batch (stamped with `wall`) goes to the new day. */
        if ((rc = jfile_close(j)) < 0)
            return rc;
        if ((rc = jfile_open(j, day, wall, NULL)) < 0) {
            jset_error(j, rc);
            return rc;
        }
        jbump(&j->rollovers, 1);
    }
    for (uint32_t i = 0; i < n; i++) {
        unsigned char *f = j->buf + (size_t)i * DESK_JOURNAL_FRAME;
        desk_jrec_t r;
        memcpy(&r, desk_spsc_slot(&j->cons, i), sizeof r);
        r.head.ts_ns = wall;
        frame_put(f, &r);
    }
    size_t len = (size_t)n * DESK_JOURNAL_FRAME;
    if ((rc = write_all(j->fd, j->buf, len)) < 0) {
        /* Cut whatever part of the batch got in, so the file ends on a frame
         * boundary and the retry appends whole frames. */
        if (ftruncate(j->fd, (off_t)j->file_off) < 0 && rc == 0)
            rc = -errno;
        jset_error(j, rc);
        return rc;
    }
    j->file_off += len;
    j->done += n;
    desk_spsc_release(&j->cons, n);
    jbump(&j->records, n);
    jbump(&j->bytes, len);
    jbump(&j->batches, 1);
    /* Release (W): the write(2) above returned before this store. */
    atomic_store_explicit(&j->written, j->done, memory_order_release);
    if (pol->fsync == DESK_FSYNC_EVERY) {
        if ((rc = jsync(j)) < 0) /* publishes durable */
            return rc;
    } else {
        atomic_store_explicit(&j->durable, j->done, memory_order_release); /* (W) */
        if (pol->fsync == DESK_FSYNC_INTERVAL &&
            mono - j->last_sync_ns >= (uint64_t)pol->interval_ms * 1000000u && (rc = jsync(j)) < 0)
            return rc;
    }
    if (atomic_load_explicit(&j->error, memory_order_relaxed))
        jset_error(j, 0); /* a write worked again */
    return (int)n;
}

/* ---- setup and teardown (cold) -------------------------------------------- */

static int opts_check(const desk_journal_opts_t *o)
{
    if (o == NULL)
        return DESK_ERR(-EINVAL, "journal options missing");
    if (o->dir == NULL || o->dir[0] == '\0' || strlen(o->dir) >= DESK_PATH_MAX)
        return DESK_ERR(-EINVAL, "journal dir must be 1..%d bytes", DESK_PATH_MAX - 1);
    if (o->desk == NULL || o->desk[0] == '\0' || strlen(o->desk) >= DESK_NAME_MAX ||
        strchr(o->desk, '/'))
        return DESK_ERR(-EINVAL, "journal desk name must be 1..%d bytes without '/'",
                        DESK_NAME_MAX - 1);
    if (o->nslots &&
        (o->nslots < 2 || o->nslots > DESK_SPSC_MAX_SLOTS || (o->nslots & (o->nslots - 1))))
        return DESK_ERR(-EINVAL, "journal nslots=%u not a power of two in [2, 2^24]", o->nslots);
    if (o->policy.fsync > DESK_FSYNC_EVERY)
        return DESK_ERR(-EINVAL, "journal fsync policy %u unknown", o->policy.fsync);
    if (o->policy.fsync == DESK_FSYNC_INTERVAL &&
        (o->policy.interval_ms < 1 || o->policy.interval_ms > 3600000))
        return DESK_ERR(-EINVAL, "journal fsync interval %u ms not in 1..3600000",
                        o->policy.interval_ms);
    if (o->idle > DESK_IDLE_BACKOFF)
        return DESK_ERR(-EINVAL, "journal idle strategy %u unknown", o->idle);
    return 0;
}

/* See journal.h.  Cold; control thread. */
DESK_COLD int desk_journal_open(desk_journal_t **out, const desk_journal_opts_t *o,
                                desk_jscan_t *scan)
{
    desk_journal_t *j = NULL;
    void *mem = NULL;
    int rc;

    *out = NULL;
    if (scan)
        *scan = (desk_jscan_t){.corrupt_off = UINT64_MAX};
    if ((rc = opts_check(o)) < 0)
        return rc;
    if (posix_memalign(&mem, DESK_FALSE_SHARING, sizeof *j) != 0)
        return DESK_ERR(-ENOMEM, "journal handle");
    j = mem;
    memset(j, 0, sizeof *j);
    j->fd = -1;
    j->opts = *o;
    memcpy(j->dir, o->dir, strlen(o->dir) + 1);
    memcpy(j->desk, o->desk, strlen(o->desk) + 1);
    j->opts.dir = j->dir;
    j->opts.desk = j->desk;
    if (j->opts.nslots == 0)
        j->opts.nslots = DESK_JOURNAL_SLOTS;
    if (j->opts.idle_max_us == 0)
        j->opts.idle_max_us = 200;
    if (j->opts.wall_ns == NULL)
        j->opts.wall_ns = wall_default;
    j->ring_len = desk_spsc_bytes(j->opts.nslots);
    if (posix_memalign(&j->ring, DESK_FALSE_SHARING, j->ring_len) != 0) {
        j->ring = NULL;
        rc = DESK_ERR(-ENOMEM, "journal ring of %u slots", j->opts.nslots);
        goto fail;
    }
    j->buf = malloc((size_t)DESK_JOURNAL_BATCH * DESK_JOURNAL_FRAME);
    if (j->buf == NULL) {
        rc = DESK_ERR(-ENOMEM, "journal write buffer");
        goto fail;
    }
    /* Touch every page now (cold), so that the router never takes a page
     * fault on its first pass over the ring. */
    memset(j->ring, 0, j->ring_len);
    if ((rc = desk_spsc_init(j->ring, j->ring_len, j->opts.nslots)) < 0 ||
        (rc = desk_spsc_attach_producer(&j->prod, j->ring, j->ring_len)) < 0 ||
        (rc = desk_spsc_attach_consumer(&j->cons, j->ring, j->ring_len)) < 0)
        goto fail;
    if (mkdir(j->dir, 0750) < 0 && errno != EEXIST) {
        rc = DESK_ERR(-errno, "cannot create journal dir %s: %s", j->dir, strerror(errno));
        goto fail;
    }
    uint64_t wall = jwall(j);
    if ((rc = jfile_open(j, desk_journal_day(wall), wall, scan)) < 0)
        goto fail;
    j->last_sync_ns = desk_now_ns();
    *out = j;
    return 0;
fail:
    free(j->buf);
    free(j->ring);
    free(j);
    return rc;
}

static void *journal_main(void *arg)
{
    desk_journal_t *j = arg;
    uint64_t max_ns = (uint64_t)j->opts.idle_max_us * 1000u;
    uint32_t turns = 0;

    desk_idle_prepare(j->opts.idle);
    for (;;) {
        /* Acquire (S) pairs with the release in desk_journal_stop(): every
         * record pushed before it is visible to the polls below. */
        uint32_t stop = atomic_load_explicit(&j->stop, memory_order_acquire);
        int n = desk_journal_poll(j);
        if (n > 0) {
            turns = 0;
            continue;
        }
        if (stop)
            break; /* drained (n == 0), or failing (n < 0): give up */
        if (n < 0) {
            struct timespec ts = {0, (long)RETRY_NS};
            nanosleep(&ts, NULL); /* a failed write: retry shortly */
            continue;
        }
        desk_idle_wait(j->opts.idle, max_ns, turns);
        if (turns < UINT32_MAX)
            turns++;
    }
    if (!sync_failed(j))
        (void)jsync(j); /* at stop, whatever the policy */
    return NULL;
}

/* See journal.h.  Cold; control thread. */
DESK_COLD int desk_journal_start(desk_journal_t *j)
{
    int rc;

    if (j->started)
        return DESK_ERR(-EINVAL, "journal thread already started");
    rc = pthread_create(&j->tid, NULL, journal_main, j);
    if (rc != 0)
        return DESK_ERR(-rc, "cannot start the journal thread: %s", strerror(rc));
    j->started = 1;
    pthread_setname_np(j->tid, "desk-journal");
    return 0;
}

/* See journal.h.  Cold; control thread. */
DESK_COLD int desk_journal_wait(desk_journal_t *j, uint64_t seq, uint32_t timeout_ms)
{
    uint64_t deadline = desk_now_ns() + (uint64_t)timeout_ms * 1000000u;

    while (desk_journal_durable_seq(j) < seq) {
        if (sync_failed(j))
            return atomic_load_explicit(&j->error, memory_order_relaxed);
        if (!j->started && desk_journal_poll(j) > 0)
            continue;
        if (desk_now_ns() >= deadline)
            return DESK_ERR(-ETIMEDOUT, "journal: seq %llu not durable after %u ms",
                            (unsigned long long)seq, timeout_ms);
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* See journal.h.  Cold; control thread. */
DESK_COLD int desk_journal_stop(desk_journal_t *j)
{
    if (j->started) {
        /* Release (S) pairs with the thread's acquire of stop. */
        atomic_store_explicit(&j->stop, 1, memory_order_release);
        pthread_join(j->tid, NULL);
        j->started = 0;
    } else {
        while (desk_journal_poll(j) > 0)
            ;
        if (!sync_failed(j))
            (void)jsync(j);
    }
    return desk_journal_error(j);
}

/* See journal.h.  Cold; control thread. */
DESK_COLD void desk_journal_close(desk_journal_t *j)
{
    if (j == NULL)
        return;
    (void)desk_journal_stop(j);
    if (j->fd >= 0)
        close(j->fd);
    free(j->buf);
    free(j->ring);
    free(j);
}

/* See journal.h.  Any thread. */
int desk_journal_error(desk_journal_t *j)
{
    return atomic_load_explicit(&j->error, memory_order_relaxed);
}

/* See journal.h.  Any thread. */
void desk_journal_stats(desk_journal_t *j, desk_journal_stats_t *st)
{
    st->records = atomic_load_explicit(&j->records, memory_order_relaxed);
    st->bytes = atomic_load_explicit(&j->bytes, memory_order_relaxed);
    st->batches = atomic_load_explicit(&j->batches, memory_order_relaxed);
    st->fsyncs = atomic_load_explicit(&j->fsyncs, memory_order_relaxed);
    st->rollovers = atomic_load_explicit(&j->rollovers, memory_order_relaxed);
    st->full = atomic_load_explicit(&j->full, memory_order_relaxed);
    st->written = atomic_load_explicit(&j->written, memory_order_relaxed);
    st->synced = atomic_load_explicit(&j->synced, memory_order_relaxed);
    st->durable = atomic_load_explicit(&j->durable, memory_order_relaxed);
    st->day = atomic_load_explicit(&j->day, memory_order_relaxed);
    st->error = atomic_load_explicit(&j->error, memory_order_relaxed);
}
