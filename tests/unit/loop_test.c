/*
 * loop_test.c - the io_uring event loop (connectors/net/loop.h) over
 * loopback TCP.
 *
 * Timers fire in deadline order and a cancelled one never fires; a TCP echo
 * of random-length messages comes back byte for byte (looped over buffer
 * sizes, registered buffers and registered files on/off); a graceful close
 * delivers every queued byte before FIN; connect to a port with no listener
 * fails fast with -ECONNREFUSED, and to a listener whose accept queue is full
 * (SYNs dropped) times out with -ETIMEDOUT after the configured time; CQEs of
 * an old generation and of a closing slot are counted and ignored, and the
 * slot is reused safely; a tiny SQ makes timer_add/sock_send/sock_connect
 * return -EBUSY with nothing done; desk_loop_fini with operations in flight
 * returns promptly (ASan checks nothing leaks or is touched after free).
 *
 * Every wait is bounded: a test that does not see its event in time fails.
 * Only 127.0.0.1 is used.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connectors/net/loop.h"
#include "core/clock.h"

/* Poll until `cond` holds, sleeping in the kernel between turns; fail after
 * 5 x ms (the head room a loaded, sanitized CI machine needs). */
#define DRIVE(l, cond, ms)                                                              \
    do {                                                                                \
        uint64_t end_ = desk_now_ns() + (uint64_t)(ms) * 5000000u;                      \
        for (;;) {                                                                      \
            desk_loop_poll((l), desk_now_ns());                                         \
            if (cond)                                                                   \
                break;                                                                  \
            if (desk_now_ns() > end_)                                                   \
                fail_msg("timed out after %d ms waiting for %s", 5 * (int)(ms), #cond); \
            desk_loop_wait((l), 2000000u);                                              \
        }                                                                               \
    } while (0)

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}
#define FNV0 0xcbf29ce484222325ull

/* ---- a blocking test server on 127.0.0.1 ---- */

enum srv_mode { SRV_ECHO, SRV_SINK };

struct srv {
    int lfd;          /* listening socket */
    uint16_t port;    /* its port */
    int mode;         /* enum srv_mode */
    int nconn;        /* connections to serve, one after the other */
    size_t bytes;     /* bytes received (all connections) */
    uint64_t sum;     /* FNV of them */
    int eof;          /* connections that ended with a clean EOF */
    pthread_t th;
};

static int listen_on(int backlog, uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int one = 1;

    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    if (backlog >= 0)
        assert_int_equal(listen(fd, backlog), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    uint8_t buf[65536];

    for (int k = 0; k < s->nconn; k++) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN};
        if (poll(&p, 1, 10000) != 1)
            return NULL;
        int c = accept(s->lfd, NULL, NULL);
        if (c < 0)
            return NULL;
        struct timeval tv = {.tv_sec = 10};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        for (;;) {
            ssize_t n = recv(c, buf, sizeof buf, 0);
            if (n == 0)
                s->eof++;
            if (n <= 0)
                break;
            s->bytes += (size_t)n;
            s->sum = fnv(s->sum, buf, (size_t)n);
            if (s->mode == SRV_ECHO && send(c, buf, (size_t)n, MSG_NOSIGNAL) != n)
                break;
        }
        close(c);
    }
    return NULL;
}

static void srv_start(struct srv *s, int mode, int nconn)
{
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->nconn = nconn;
    s->sum = FNV0;
    s->lfd = listen_on(16, &s->port);
    assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void srv_join(struct srv *s)
{
    pthread_join(s->th, NULL);
    close(s->lfd);
}

static struct sockaddr_in lo(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return a;
}

/* ---- socket callbacks that record what happened ---- */

struct rec {
    int opens;              /* on_open calls */
    int closes;             /* on_close calls */
    int err;                /* on_close's err */
    int drains;             /* on_drain calls */
    int closed_by_us;       /* desk_loop_sock_close was called */
    int recv_after_close;   /* on_recv after close: must stay 0 */
    uint8_t *in;            /* received bytes */
    size_t nin, cap;        /* used, capacity */
    uint64_t open_ns, close_ns; /* when */
};

static void r_open(desk_loop_t *l, uint32_t id, void *ctx)
{
    struct rec *r = ctx;
    (void)id;
    r->opens++;
    r->open_ns = desk_loop_now(l);
}

static void r_recv(desk_loop_t *l, uint32_t id, const uint8_t *d, size_t n, void *ctx)
{
    struct rec *r = ctx;
    (void)l;
    (void)id;
    if (r->closed_by_us)
        r->recv_after_close++;
    if (r->in && r->nin + n <= r->cap)
        memcpy(r->in + r->nin, d, n);
    r->nin += n;
}

static void r_drain(desk_loop_t *l, uint32_t id, void *ctx)
{
    (void)l;
    (void)id;
    ((struct rec *)ctx)->drains++;
}

static void r_close(desk_loop_t *l, uint32_t id, int err, void *ctx)
{
    struct rec *r = ctx;
    (void)id;
    r->closes++;
    r->err = err;
    r->close_ns = desk_loop_now(l);
}

static const desk_loop_sock_cb_t rec_cb = {r_open, r_recv, r_drain, r_close};

/* ---- timers ---- */

struct tfire {
    int order[16]; /* tags in firing order */
    int n;         /* fired so far */
    uint64_t start;
    uint64_t early; /* fired before its delay: must stay 0 */
};

struct ttag {
    struct tfire *f;
    int tag;        /* delay in ms */
};

static void t_fire(desk_loop_t *l, uint64_t id, void *ctx)
{
    struct ttag *t = ctx;
    (void)id;
    if (desk_now_ns() < t->f->start + (uint64_t)t->tag * 1000000u)
        t->f->early++;
    (void)l;
    t->f->order[t->f->n++] = t->tag;
}

static int add_retry(desk_loop_t *l, uint64_t ns, desk_loop_timer_fn fn, void *ctx, uint64_t *id)
{
    int rc = desk_loop_timer_add(l, ns, fn, ctx, id);
    if (rc == -EBUSY) {
        desk_loop_submit(l);
        rc = desk_loop_timer_add(l, ns, fn, ctx, id);
    }
    return rc;
}

/* Deadline order regardless of insertion order; a cancelled timer never
 * fires; ids are single-use; slots are reused.  Looped over SQ sizes. */
static void test_timers(void **state)
{
    static const uint32_t sq[] = {4, 256};

    (void)state;
    for (size_t k = 0; k < 2; k++) {
        desk_loop_t l;
        desk_loop_cfg_t cfg = {.sq_entries = sq[k], .max_timers = 8};
        assert_int_equal(desk_loop_init(&l, 1, &cfg), 0);
        for (int round = 0; round < 3; round++) {
            static const int delays[] = {30, 10, 50, 20, 40};
            struct tfire f = {.start = desk_now_ns()};
            struct ttag tags[6];
            uint64_t ids[6];
            for (int i = 0; i < 5; i++) {
                tags[i] = (struct ttag){&f, delays[i]};
                assert_int_equal(add_retry(&l, (uint64_t)delays[i] * 1000000u, t_fire, &tags[i],
                                           &ids[i]), 0);
                assert_true(ids[i] != 0);
            }
            tags[5] = (struct ttag){&f, 15};
            assert_int_equal(add_retry(&l, 15000000u, t_fire, &tags[5], &ids[5]), 0);
            desk_loop_poll(&l, desk_now_ns());
            assert_int_equal(desk_loop_timer_cancel(&l, ids[5]), 0);
            assert_int_equal(desk_loop_timer_cancel(&l, ids[5]), -ENOENT);
            DRIVE(&l, f.n == 5, 2000);
            static const int want[] = {10, 20, 30, 40, 50};
            for (int i = 0; i < 5; i++)
                assert_int_equal(f.order[i], want[i]);
            assert_int_equal(f.early, 0);
            /* Fired ids are dead; a bogus id is refused. */
            assert_int_equal(desk_loop_timer_cancel(&l, ids[0]), -ENOENT);
            assert_int_equal(desk_loop_timer_cancel(&l, 0xdead00000003ull), -ENOENT);
            /* Let the cancelled timer's CQEs come back, then check no extra fire. */
            DRIVE(&l, l.inflight == 0, 1000);
            assert_int_equal(f.n, 5);
        }
        /* All 8 slots, then -ENOSPC. */
        struct tfire f = {.start = desk_now_ns()};
        struct ttag tg = {&f, 1};
        uint64_t id;
        for (int i = 0; i < 8; i++)
            assert_int_equal(add_retry(&l, 1000000u, t_fire, &tg, &id), 0);
        assert_int_equal(desk_loop_timer_add(&l, 1000000u, t_fire, &tg, &id), -ENOSPC);
        DRIVE(&l, f.n == 8, 2000);
        desk_loop_fini(&l);
    }
}

/* ---- TCP echo ---- */

static const struct echo_cfg {
    uint32_t rbuf, sbuf, flags;
} echo_cfgs[] = {
    {1, 64, 0},
    {1000, 4096, DESK_LOOP_F_FIXED_BUFS},
    {65536, 65536, DESK_LOOP_F_NO_FIXED_FILES},
    {4096, 1024, DESK_LOOP_F_FIXED_BUFS | DESK_LOOP_F_NO_FIXED_FILES},
};

/* N messages of random length and content; the echo comes back identical
 * (byte comparison and checksum); sends queued while connecting go out at
 * open; close(FLUSH) ends with err 0 and the server sees EOF. */
static void test_tcp_echo(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof echo_cfgs / sizeof echo_cfgs[0]; k++) {
        const struct echo_cfg *ec = &echo_cfgs[k];
        desk_loop_t l;
        desk_loop_cfg_t cfg = {.sq_entries = 32, .rbuf_size = ec->rbuf, .sbuf_size = ec->sbuf,
                               .flags = ec->flags};
        struct srv s;
        enum { N = 300 };
        size_t cap = (size_t)N * 3000;
        uint8_t *out = malloc(cap);
        struct rec r = {.in = malloc(cap), .cap = cap};
        uint64_t seed = 0x1234567 + k, sum = FNV0;
        size_t nout = 0;

        assert_non_null(out);
        assert_non_null(r.in);
        assert_int_equal(desk_loop_init(&l, 2, &cfg), 0);
        print_message("echo rbuf=%u sbuf=%u fixed_bufs=%s fixed_files=%s\n", ec->rbuf, ec->sbuf,
                      (l.flags & DESK_LOOP_F_FIXED_BUFS) ? "on" : "off",
                      (ec->flags & DESK_LOOP_F_NO_FIXED_FILES) ? "off" : "on");
        srv_start(&s, SRV_ECHO, 1);
        int id = desk_loop_sock_claim(&l, &rec_cb, &r);
        assert_true(id >= 0);
        struct sockaddr_in a = lo(s.port);
        assert_int_equal(desk_loop_sock_connect(&l, (uint32_t)id, (struct sockaddr *)&a, sizeof a,
                                                2000000000u), 0);
        /* Queued while connecting. */
        static const char hello[] = "hello";
        assert_int_equal(desk_loop_sock_send(&l, (uint32_t)id, hello, 5, 0), 0);
        memcpy(out, hello, 5);
        nout = 5;
        sum = fnv(sum, (const uint8_t *)hello, 5);
        DRIVE(&l, r.opens == 1, 2000);
        size_t maxlen = ec->sbuf < 3000 ? ec->sbuf : 3000;
        for (int i = 0; i < N; i++) {
            size_t len = 1 + rnd(&seed) % maxlen;
            uint8_t *m = out + nout;
            for (size_t j = 0; j < len; j++)
                m[j] = (uint8_t)rnd(&seed);
            int rc;
            uint64_t end = desk_now_ns() + 5000000000ull;
            while ((rc = desk_loop_sock_send(&l, (uint32_t)id, m, len, 0)) == -ENOBUFS ||
                   rc == -EBUSY) {
                assert_true(desk_now_ns() < end);
                desk_loop_poll(&l, desk_now_ns());
                if (desk_loop_sock_space(&l, (uint32_t)id) < len)
                    desk_loop_wait(&l, 1000000u);
            }
            assert_int_equal(rc, 0);
            nout += len;
            sum = fnv(sum, m, len);
            desk_loop_poll(&l, desk_now_ns());
        }
        assert_int_equal(desk_loop_sock_send(&l, (uint32_t)id, out, ec->sbuf + 1, 0), -EMSGSIZE);
        DRIVE(&l, r.nin >= nout, 10000);
        assert_int_equal(r.nin, nout);
        assert_memory_equal(r.in, out, nout);
        assert_int_equal(fnv(FNV0, r.in, r.nin), sum);
        assert_true(r.drains > 0);
        assert_int_equal(desk_loop_sock_close(&l, (uint32_t)id, 0, DESK_LOOP_CLOSE_FLUSH), 0);
        assert_int_equal(desk_loop_sock_close(&l, (uint32_t)id, 0, 0), -ENOTCONN);
        assert_int_equal(desk_loop_sock_send(&l, (uint32_t)id, hello, 5, 0), -ENOTCONN);
        DRIVE(&l, r.closes == 1, 2000);
        assert_int_equal(r.err, 0);
        assert_int_equal(r.opens, 1);
        srv_join(&s);
        assert_int_equal(s.bytes, nout);
        assert_int_equal(s.sum, sum);
        assert_int_equal(s.eof, 1);
        assert_int_equal(desk_loop_sock_release(&l, (uint32_t)id), 0);
        desk_loop_fini(&l);
        free(out);
        free(r.in);
    }
}

/* close(FLUSH) right after queueing a full ring: every byte reaches the
 * peer before FIN, and on_close reports 0. */
static void test_close_flush(void **state)
{
    static const uint32_t sbufs[] = {4096, 65536};

    (void)state;
    for (size_t k = 0; k < 2; k++) {
        desk_loop_t l;
        desk_loop_cfg_t cfg = {.sbuf_size = sbufs[k]};
        struct srv s;
        struct rec r = {0};
        uint8_t *m = malloc(sbufs[k]);
        uint64_t seed = 99;

        assert_int_equal(desk_loop_init(&l, 1, &cfg), 0);
        srv_start(&s, SRV_SINK, 1);
        int id = desk_loop_sock_claim(&l, &rec_cb, &r);
        struct sockaddr_in a = lo(s.port);
        assert_int_equal(desk_loop_sock_connect(&l, (uint32_t)id, (struct sockaddr *)&a, sizeof a,
                                                0), 0);
        DRIVE(&l, r.opens == 1, 2000);
        for (size_t j = 0; j < sbufs[k]; j++)
            m[j] = (uint8_t)rnd(&seed);
        assert_int_equal(desk_loop_sock_send(&l, (uint32_t)id, m, sbufs[k], 0), 0);
        assert_int_equal(desk_loop_sock_space(&l, (uint32_t)id), 0);
        assert_int_equal(desk_loop_sock_send(&l, (uint32_t)id, m, 1, 0), -ENOBUFS);
        assert_int_equal(desk_loop_sock_close(&l, (uint32_t)id, 0, DESK_LOOP_CLOSE_FLUSH), 0);
        assert_int_equal(desk_loop_sock_is_open(&l, (uint32_t)id), 0);
        DRIVE(&l, r.closes == 1, 5000);
        assert_int_equal(r.err, 0);
        srv_join(&s);
        assert_int_equal(s.bytes, sbufs[k]);
        assert_int_equal(s.sum, fnv(FNV0, m, sbufs[k]));
        assert_int_equal(s.eof, 1);
        desk_loop_fini(&l);
        free(m);
    }
}

/* A bound port with no listener refuses at once: on_close(-ECONNREFUSED),
 * never on_open, well before the connect timeout. */
static void test_connect_refused(void **state)
{
    desk_loop_t l;
    struct rec r = {0};
    uint16_t port;

    (void)state;
    int fd = listen_on(-1, &port); /* bound, not listening: the port is ours, closed */
    assert_int_equal(desk_loop_init(&l, 1, NULL), 0);
    int id = desk_loop_sock_claim(&l, &rec_cb, &r);
    struct sockaddr_in a = lo(port);
    uint64_t t0 = desk_now_ns();
    assert_int_equal(desk_loop_sock_connect(&l, (uint32_t)id, (struct sockaddr *)&a, sizeof a,
                                            5000000000ull), 0);
    DRIVE(&l, r.closes == 1, 3000);
    assert_int_equal(r.err, -ECONNREFUSED);
    assert_int_equal(r.opens, 0);
    assert_true(desk_now_ns() - t0 < 2000000000ull);
    /* The slot is reusable at once. */
    assert_int_equal(desk_loop_sock_connect(&l, (uint32_t)id, (struct sockaddr *)&a, sizeof a,
                                            0), 0);
    DRIVE(&l, r.closes == 2, 3000);
    assert_int_equal(r.err, -ECONNREFUSED);
    desk_loop_fini(&l);
    close(fd);
}

/* A listener whose accept queue is full drops SYNs: the connect hangs and
 * its link timeout ends it with -ETIMEDOUT after the configured time. */
static void test_connect_timeout(void **state)
{
    static const uint64_t timeouts_ms[] = {50, 200};
    uint16_t port;
    int fillers[4], nfill = 0, hanging = 0;

    (void)state;
    int lfd = listen_on(0, &port);
    struct sockaddr_in a = lo(port);
    /* Fill the queue (backlog 0 holds one): stop at the first connect that
     * does not complete, which proves SYNs are being dropped. */
    for (; nfill < 4; nfill++) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        fillers[nfill] = c;
        (void)connect(c, (struct sockaddr *)&a, sizeof a);
        struct pollfd p = {.fd = c, .events = POLLOUT};
        if (poll(&p, 1, 300) == 0) {
            hanging = 1;
            nfill++;
            break;
        }
    }
    assert_true(hanging); /* the kernel drops SYNs to a full queue */
    for (size_t k = 0; k < 2; k++) {
        desk_loop_t l;
        struct rec r = {0};
        assert_int_equal(desk_loop_init(&l, 1, NULL), 0);
        int id = desk_loop_sock_claim(&l, &rec_cb, &r);
        uint64_t t0 = desk_now_ns();
        assert_int_equal(desk_loop_sock_connect(&l, (uint32_t)id, (struct sockaddr *)&a,
                                                sizeof a, timeouts_ms[k] * 1000000u), 0);
        DRIVE(&l, r.closes == 1, 5000);
        uint64_t el = desk_now_ns() - t0;
        assert_int_equal(r.err, -ETIMEDOUT);
        assert_int_equal(r.opens, 0);
        assert_true(el >= timeouts_ms[k] * 1000000u);
        /* It fired on its own timer, not seconds later (5 s head room for a
         * loaded, sanitized machine). */
        assert_true(el < timeouts_ms[k] * 1000000u + 5000000000u);
        desk_loop_fini(&l);
    }
    for (int i = 0; i < nfill; i++)
        close(fillers[i]);
    close(lfd);
}

/* Stale completions: a forged CQE of an old generation, and the receive
 * completing after close, run no callback; the slot is then reused. */
static void test_stale_cqe(void **state)
{
    desk_loop_t l;
    struct srv s;
    struct rec r = {0};
    uint8_t buf[64];

    (void)state;
    assert_int_equal(desk_loop_init(&l, 1, NULL), 0);
    srv_start(&s, SRV_ECHO, 2);
    int id = desk_loop_sock_claim(&l, &rec_cb, &r);
    struct sockaddr_in a = lo(s.port);
    assert_int_equal(desk_loop_sock_connect(&l, (uint32_t)id, (struct sockaddr *)&a, sizeof a,
                                            0), 0);
    DRIVE(&l, r.opens == 1, 2000);
    uint32_t gen = desk__loop_sock_gen(&l, (uint32_t)id);

    /* A forged receive completion (result 0 = EOF) of an older generation. */
    uint64_t stale0 = l.stats.stale;
    assert_int_equal(desk__loop_nop(&l, DESK_LOOP_OP_RECV, (uint32_t)id, gen - 1), 0);
    DRIVE(&l, l.stats.stale == stale0 + 1, 1000);
    assert_int_equal(r.closes, 0); /* not taken as EOF */
    assert_true(desk_loop_sock_is_open(&l, (uint32_t)id));

    /* The echo of these bytes arrives after the close: never delivered. */
    memset(buf, 'x', sizeof buf);
    assert_int_equal(desk_loop_sock_send(&l, (uint32_t)id, buf, sizeof buf, 0), 0);
    desk_loop_poll(&l, desk_now_ns());
    usleep(20000); /* the echo is now in our socket */
    r.closed_by_us = 1;
    stale0 = l.stats.stale;
    assert_int_equal(desk_loop_sock_close(&l, (uint32_t)id, -ECONNABORTED, 0), 0);
    DRIVE(&l, r.closes == 1, 2000);
    assert_true(l.stats.stale > stale0); /* the receive's CQE came and was dropped */
    assert_int_equal(r.err, -ECONNABORTED);
    assert_int_equal(r.recv_after_close, 0);
    uint32_t gen2 = desk__loop_sock_gen(&l, (uint32_t)id);
    assert_true(gen2 != gen);
    stale0 = l.stats.stale;
    assert_int_equal(desk__loop_nop(&l, DESK_LOOP_OP_SEND, (uint32_t)id, gen), 0);
    DRIVE(&l, l.stats.stale == stale0 + 1, 1000);
    assert_int_equal(r.closes, 1);
    assert_int_equal(r.drains, 1); /* only the real send drained */

    /* Reuse the slot: a new generation echoes normally. */
    r.closed_by_us = 0;
    r.nin = 0;
    assert_int_equal(desk_loop_sock_connect(&l, (uint32_t)id, (struct sockaddr *)&a, sizeof a,
                                            0), 0);
    DRIVE(&l, r.opens == 2, 2000);
    assert_int_equal(desk_loop_sock_send(&l, (uint32_t)id, "ping", 4, 0), 0);
    DRIVE(&l, r.nin == 4, 2000);
    assert_int_equal(desk_loop_sock_close(&l, (uint32_t)id, 0, 0), 0);
    DRIVE(&l, r.closes == 2, 2000);
    srv_join(&s);
    desk_loop_fini(&l);
}

/* A 2-entry SQ: calls that need an SQE return -EBUSY and do nothing until a
 * submit frees the SQ; DEFER accepts bytes and arms at the next poll. */
static void test_sq_full(void **state)
{
    desk_loop_t l;
    desk_loop_cfg_t cfg = {.sq_entries = 2, .max_timers = 8};
    struct srv s;
    struct rec r = {0};
    struct tfire f = {.start = desk_now_ns()};
    struct ttag tg = {&f, 0};
    uint64_t id1, id2, id3;

    (void)state;
    assert_int_equal(desk_loop_init(&l, 1, &cfg), 0);
    assert_int_equal(desk_loop_timer_add(&l, 1000000u, t_fire, &tg, &id1), 0);
    assert_int_equal(desk_loop_timer_add(&l, 1000000u, t_fire, &tg, &id2), 0);
    uint64_t full0 = l.stats.sq_full;
    assert_int_equal(desk_loop_timer_add(&l, 1000000u, t_fire, &tg, &id3), -EBUSY);
    assert_true(l.stats.sq_full > full0);
    assert_true(desk_loop_submit(&l) == 2);
    assert_int_equal(desk_loop_timer_add(&l, 1000000u, t_fire, &tg, &id3), 0);
    DRIVE(&l, f.n == 3, 2000);

    srv_start(&s, SRV_ECHO, 1);
    int id = desk_loop_sock_claim(&l, &rec_cb, &r);
    struct sockaddr_in a = lo(s.port);
    /* connect needs two SQEs (connect + link timeout). */
    assert_int_equal(desk_loop_timer_add(&l, 1000000u, t_fire, &tg, &id1), 0);
    assert_int_equal(desk_loop_sock_connect(&l, (uint32_t)id, (struct sockaddr *)&a, sizeof a,
                                            1000000000u), -EBUSY);
    desk_loop_submit(&l);
    assert_int_equal(desk_loop_sock_connect(&l, (uint32_t)id, (struct sockaddr *)&a, sizeof a,
                                            1000000000u), 0);
    DRIVE(&l, r.opens == 1 && f.n == 4, 2000);
    DRIVE(&l, l.inflight == 1, 2000); /* only the receive remains */

    /* Fill the SQ, then a send that must arm: -EBUSY, nothing queued. */
    assert_int_equal(desk_loop_timer_add(&l, 1000000u, t_fire, &tg, &id1), 0);
    assert_int_equal(desk_loop_timer_add(&l, 1000000u, t_fire, &tg, &id2), 0);
    assert_int_equal(desk_loop_sock_check(&l, (uint32_t)id, 3), -EBUSY);
    assert_int_equal(desk_loop_sock_send(&l, (uint32_t)id, "abc", 3, 0), -EBUSY);
    assert_int_equal(desk_loop_sock_queued(&l, (uint32_t)id), 0);
    /* DEFER: accepted now, sent after the next poll's submit. */
    assert_int_equal(desk_loop_sock_send(&l, (uint32_t)id, "abc", 3, DESK_LOOP_SEND_DEFER), 0);
    assert_int_equal(desk_loop_sock_queued(&l, (uint32_t)id), 3);
    assert_int_equal(l.ndeferred, 1);
    DRIVE(&l, r.nin == 3 && f.n == 6, 2000);
    /* Close never needs a free SQE. */
    assert_int_equal(desk_loop_timer_add(&l, 1000000u, t_fire, &tg, &id1), 0);
    assert_int_equal(desk_loop_timer_add(&l, 1000000u, t_fire, &tg, &id2), 0);
    assert_int_equal(desk_loop_sock_close(&l, (uint32_t)id, 0, 0), 0);
    DRIVE(&l, r.closes == 1 && f.n == 8, 2000);
    srv_join(&s);
    desk_loop_fini(&l);
}

/* fini with a live connection, a pending receive and far-away timers:
 * returns within the second it allows (5 s asserted: head room for a loaded
 * machine; the timers are 60 s away), with every CQE reaped. */
static void test_fini_inflight(void **state)
{
    desk_loop_t l;
    struct srv s;
    struct rec r = {0};
    struct tfire f = {.start = desk_now_ns()};
    struct ttag tg = {&f, 0};
    uint64_t tid;

    (void)state;
    assert_int_equal(desk_loop_init(&l, 2, NULL), 0);
    srv_start(&s, SRV_ECHO, 1);
    int id = desk_loop_sock_claim(&l, &rec_cb, &r);
    struct sockaddr_in a = lo(s.port);
    assert_int_equal(desk_loop_sock_connect(&l, (uint32_t)id, (struct sockaddr *)&a, sizeof a,
                                            0), 0);
    DRIVE(&l, r.opens == 1, 2000);
    for (int i = 0; i < 4; i++)
        assert_int_equal(desk_loop_timer_add(&l, 60000000000ull, t_fire, &tg, &tid), 0);
    desk_loop_poll(&l, desk_now_ns());
    assert_true(l.inflight >= 5);
    uint64_t t0 = desk_now_ns();
    desk_loop_fini(&l);
    assert_true(desk_now_ns() - t0 < 5000000000ull); /* not the 60 s timers; 1 s + head room */
    assert_null(l.socks); /* zeroed: memory was freed, not leaked */
    assert_int_equal(f.n, 0);
    assert_int_equal(r.closes, 0); /* fini runs no callbacks */
    desk_loop_fini(&l);            /* twice is fine */
    srv_join(&s);
    assert_int_equal(s.eof, 1);
}

/* Bad arguments are refused with -EINVAL and a message. */
static void test_init_errors(void **state)
{
    desk_loop_t l;
    desk_loop_cfg_t big = {.sq_entries = 8192};

    (void)state;
    assert_int_equal(desk_loop_init(&l, 0, NULL), -EINVAL);
    assert_int_equal(desk_loop_init(&l, 1, &big), -EINVAL);
    desk_loop_cfg_t small = {.sbuf_size = 32};
    assert_int_equal(desk_loop_init(&l, 1, &small), -EINVAL);
    assert_int_equal(desk_loop_init(&l, 1, NULL), 0);
    struct rec r = {0};
    assert_true(desk_loop_sock_claim(&l, &rec_cb, &r) == 0);
    assert_int_equal(desk_loop_sock_claim(&l, &rec_cb, &r), -ENOSPC);
    assert_int_equal(desk_loop_sock_release(&l, 5), -EINVAL);
    assert_int_equal(desk_loop_sock_close(&l, 0, 0, 0), -ENOTCONN);
    desk_loop_fini(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_errors),
        cmocka_unit_test(test_timers),
        cmocka_unit_test(test_tcp_echo),
        cmocka_unit_test(test_close_flush),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_stale_cqe),
        cmocka_unit_test(test_sq_full),
        cmocka_unit_test(test_fini_inflight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
