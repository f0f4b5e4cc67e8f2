/*
 * conn_test.c - client connections (connectors/net/conn.h) over loopback
 * TCP, plain and TLS, against blocking server threads on 127.0.0.1.
 *
 *   - reconnect: a server that drops every connection right after accept
 *     (plain: FIN; TLS: after the handshake, without close_notify) is
 *     reconnected to with delays that stay inside [d/2, d] for
 *     d = min(max, base * 2^k), never decrease before the cap, and are
 *     really waited (the next attempt is never early); a connection that
 *     stays open past stable_ns resets the step; desk_conn_close() in
 *     BACKOFF stops the retries.  Looped over plain TCP and TLS.
 *   - the backoff function alone: bounds, spread of the jitter, saturation
 *     without overflow, determinism per seed.
 *   - send buffer full: with no poll in between, sends fill the send ring
 *     and then return -ENOBUFS (exact byte counts for plain TCP); once the
 *     ring drains sends succeed again; the server receives exactly the
 *     accepted bytes (count and checksum): nothing dropped, nothing twice.
 *     A plain and a TLS connection share one loop.
 *   - garbage instead of a TLS handshake (an HTTP error page, random bytes,
 *     a reset, an EOF, silence): on_close with -EPROTO / -ECONNRESET /
 *     -ETIMEDOUT and a sentence naming the cause, never on_open, no crash
 *     (ASan); with reconnect on, the next attempt fails the same way.
 *     Looped over receive buffers of 1 byte and 64 KiB.
 *   - connect timeout (a listener whose accept queue is full drops SYNs):
 *     on_close(-ETIMEDOUT) after the configured time, then reconnect
 *     attempts on the backoff timer; desk_conn_close() mid-attempt reports
 *     "closed locally" and stops them.
 *   - argument errors.
 *
 * Every wait is bounded; the whole file runs in a few seconds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connectors/net/conn.h"
#include "connectors/net/loop.h"
#include "connectors/net/tls.h"
#include "core/clock.h"
#include "core/err.h"

#define MS(x) ((uint64_t)(x) * 1000000ull)

/* Poll until `cond` holds, sleeping in the kernel between turns; fail after ms. */
#define DRIVE(l, cond, ms)                                                              \
    do {                                                                                \
        uint64_t end_ = desk_now_ns() + MS(ms);                                         \
        for (;;) {                                                                      \
            desk_loop_poll((l), desk_now_ns());                                         \
            if (cond)                                                                   \
                break;                                                                  \
            if (desk_now_ns() > end_)                                                   \
                fail_msg("timed out after %d ms waiting for %s", (int)(ms), #cond);     \
            desk_loop_wait((l), 2000000u);                                              \
        }                                                                               \
    } while (0)

/* Poll for `ms` whatever happens. */
static void drive_for(desk_loop_t *l, uint64_t ms)
{
    uint64_t end = desk_now_ns() + MS(ms);

    while (desk_now_ns() < end) {
        desk_loop_poll(l, desk_now_ns());
        desk_loop_wait(l, 2000000u);
    }
    desk_loop_poll(l, desk_now_ns());
}

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

static void assert_has(const char *s, const char *needle)
{
    if (strstr(s, needle) == NULL)
        fail_msg("\"%s\" lacks \"%s\"", s, needle);
}

/* ---- a self-signed certificate for localhost / 127.0.0.1 ---- */

static char dir[64], cert_pem[128], key_pem[128];

static int make_cert(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/desk_conn_XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(cert_pem, sizeof cert_pem, "%s/cert.pem", dir);
    snprintf(key_pem, sizeof key_pem, "%s/key.pem", dir);
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    if (k == NULL || x == NULL)
        return -1;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, n);
    /* What `openssl req -x509` makes: its own trust anchor. */
    static const struct {
        int nid;
        const char *v;
    } ext[] = {
        {NID_subject_key_identifier, "hash"},
        {NID_authority_key_identifier, "keyid:always"},
        {NID_basic_constraints, "critical,CA:TRUE"},
        {NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"},
    };
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, ext[i].nid, ext[i].v);
        if (e == NULL || !X509_add_ext(x, e, -1))
            return -1;
        X509_EXTENSION_free(e);
    }
    if (X509_sign(x, k, EVP_sha256()) <= 0)
        return -1;
    FILE *f = fopen(cert_pem, "w");
    if (f == NULL || !PEM_write_X509(f, x))
        return -1;
    fclose(f);
    f = fopen(key_pem, "w");
    if (f == NULL || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL))
        return -1;
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
    return 0;
}

static int remove_cert(void **state)
{
    (void)state;
    unlink(cert_pem);
    unlink(key_pem);
    rmdir(dir);
    return 0;
}

/* ---- a scripted blocking server on 127.0.0.1 ---- */

enum act {
    A_DROP,          /* close right after accept (TLS: after the handshake, no close_notify) */
    A_HOLD,          /* stay open hold_ms (or until the peer closes), then close
                        (TLS: with close_notify) */
    A_SINK,          /* read and checksum everything until EOF / close_notify */
    A_GARBAGE_CLOSE, /* plain only: send an HTTP error page, close */
    A_GARBAGE_HOLD,  /* plain only: send 4 KiB of random bytes, wait for the peer to close */
    A_SILENT,        /* plain only: say nothing, wait for the peer to close */
    A_FIN,           /* plain only: FIN at once (shutdown), wait for the peer to close */
};

#define SRV_MAXCONN 16

struct srv {
    int lfd;               /* listening socket */
    uint16_t port;         /* its port */
    SSL_CTX *tls;          /* NULL: plain TCP */
    int nconn;             /* connections to serve, one after the other */
    int acts[SRV_MAXCONN]; /* enum act per connection */
    int hold_ms;           /* A_HOLD duration */
    _Atomic int accepted;  /* W: server thread; connections accepted so far */
    int handshakes;        /* TLS handshakes completed (read after join) */
    size_t bytes;          /* A_SINK: plaintext received (read after join) */
    uint64_t sum;          /* A_SINK: FNV of it */
    int clean_end;         /* A_SINK: EOF (plain) or close_notify (TLS) seen */
    pthread_t th;          /* the thread */
};

static SSL_CTX *server_ctx(void)
{
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());

    assert_non_null(c);
    assert_int_equal(SSL_CTX_use_certificate_file(c, cert_pem, SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(c, key_pem, SSL_FILETYPE_PEM), 1);
    return c;
}

/* Wait up to ms for the peer to close (or send), discarding what it sends. */
static void wait_peer(int fd, int ms)
{
    uint8_t buf[4096];
    uint64_t end = desk_now_ns() + MS(ms);

    while (desk_now_ns() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10) == 1 && recv(fd, buf, sizeof buf, 0) <= 0)
            return;
    }
}

static void serve_plain(struct srv *s, int c, int act)
{
    uint8_t buf[65536];

    switch (act) {
    case A_DROP:
        break;
    case A_HOLD:
        wait_peer(c, s->hold_ms);
        break;
    case A_SINK:
        for (;;) {
            ssize_t n = recv(c, buf, sizeof buf, 0);
            if (n == 0)
                s->clean_end++;
            if (n <= 0)
                break;
            s->bytes += (size_t)n;
            s->sum = fnv(s->sum, buf, (size_t)n);
        }
        break;
    case A_GARBAGE_CLOSE: {
        static const char page[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        (void)send(c, page, sizeof page - 1, MSG_NOSIGNAL);
        break;
    }
    case A_GARBAGE_HOLD: {
        uint64_t seed = 0xbadc0de;
        for (size_t i = 0; i < 4096; i++)
            buf[i] = (uint8_t)rnd(&seed);
        buf[0] = 0x17; /* application data record type: gets past the first check */
        (void)send(c, buf, 4096, MSG_NOSIGNAL);
        wait_peer(c, 10000);
        break;
    }
    case A_SILENT:
        wait_peer(c, 10000);
        break;
    case A_FIN:
        (void)shutdown(c, SHUT_WR);
        wait_peer(c, 10000);
        break;
    }
}

static void serve_tls(struct srv *s, int c, int act)
{
    uint8_t buf[16384];
    SSL *ssl = SSL_new(s->tls);

    SSL_set_fd(ssl, c);
    if (SSL_accept(ssl) != 1)
        goto out;
    s->handshakes++;
    switch (act) {
    case A_HOLD:
        wait_peer(c, s->hold_ms);
        (void)SSL_shutdown(ssl);
        break;
    case A_SINK:
        for (;;) {
            int n = SSL_read(ssl, buf, sizeof buf);
            if (n <= 0) {
                if (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN) {
                    s->clean_end++;
                    (void)SSL_shutdown(ssl);
                }
                break;
            }
            s->bytes += (size_t)n;
            s->sum = fnv(s->sum, buf, (size_t)n);
        }
        break;
    default: /* A_DROP */
        break;
    }
out:
    ERR_clear_error();
    SSL_free(ssl);
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;

    for (int k = 0; k < s->nconn; k++) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN};
        if (poll(&p, 1, 10000) != 1)
            return NULL;
        int c = accept(s->lfd, NULL, NULL);
        if (c < 0)
            return NULL;
        /* Release: the test thread only counts connections with it. */
        atomic_fetch_add_explicit(&s->accepted, 1, memory_order_release);
        struct timeval tv = {.tv_sec = 10};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (s->tls)
            serve_tls(s, c, s->acts[k]);
        else
            serve_plain(s, c, s->acts[k]);
        close(c);
    }
    return NULL;
}

static void srv_start(struct srv *s, int tls, int nconn, const int *acts, int hold_ms)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;

    assert_true(nconn <= SRV_MAXCONN);
    memset(s, 0, sizeof *s);
    s->tls = tls ? server_ctx() : NULL;
    s->nconn = nconn;
    memcpy(s->acts, acts, (size_t)nconn * sizeof *acts);
    s->hold_ms = hold_ms;
    s->sum = FNV0;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->lfd >= 0);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void srv_join(struct srv *s)
{
    pthread_join(s->th, NULL);
    close(s->lfd);
    if (s->tls)
        SSL_CTX_free(s->tls);
}

static int srv_accepted(struct srv *s)
{
    /* Acquire pairs with the release in srv_main. */
    return atomic_load_explicit(&s->accepted, memory_order_acquire);
}

/* ---- a client that records every callback ---- */

#define MAXEV 32

struct cli {
    int opens, closes;          /* callbacks so far */
    int err[MAXEV];             /* on_close err, per close */
    char why[MAXEV][DESK_CONN_WHYMAX]; /* on_close sentence, per close */
    int state[MAXEV];           /* desk_conn_state() inside on_close */
    uint64_t delay[MAXEV];      /* stats.last_backoff_ns inside on_close (if BACKOFF) */
    uint64_t close_ns[MAXEV];   /* desk_now_ns() at on_close */
    uint64_t open_ns[MAXEV];    /* desk_now_ns() at on_open */
    size_t nin;                 /* plaintext bytes received */
};

static void c_open(desk_conn_t *c, void *ctx)
{
    struct cli *k = ctx;

    (void)c;
    if (k->opens < MAXEV)
        k->open_ns[k->opens] = desk_now_ns();
    k->opens++;
}

static void c_data(desk_conn_t *c, const uint8_t *d, size_t n, void *ctx)
{
    (void)c;
    (void)d;
    ((struct cli *)ctx)->nin += n;
}

static void c_close(desk_conn_t *c, int err, const char *why, void *ctx)
{
    struct cli *k = ctx;

    if (k->closes < MAXEV) {
        int i = k->closes;
        k->err[i] = err;
        snprintf(k->why[i], sizeof k->why[i], "%s", why);
        k->state[i] = (int)desk_conn_state(c);
        k->delay[i] = desk_conn_state(c) == DESK_CONN_BACKOFF ? c->stats.last_backoff_ns : 0;
        k->close_ns[i] = desk_now_ns();
    }
    k->closes++;
}

static const desk_conn_cb_t cli_cb = {c_open, c_data, c_close};

static uint64_t step(uint32_t k, uint64_t base, uint64_t max)
{
    uint64_t d = base;

    for (uint32_t i = 0; i < k && d < max; i++)
        d *= 2;
    return d < max ? d : max;
}

/* ---- reconnect with backoff ---- */

/* The server drops 6 connections at once, holds the 7th past stable_ns,
 * drops the 8th.  Steps k: 0 1 2 3 4 5, then 0 (the stable connection reset
 * it), then 1.  Every delay is in [d/2, d]; the first four never decrease;
 * the next attempt starts no earlier than the delay. */
static void test_reconnect_backoff(void **state)
{
    static const int acts[] = {A_DROP, A_DROP, A_DROP, A_DROP,
                               A_DROP, A_DROP, A_HOLD, A_DROP};
    static const uint32_t want_k[] = {0, 1, 2, 3, 4, 5, 0, 1};
    enum { N = 8 };
    const uint64_t base = MS(20), max = MS(160);

    (void)state;
    for (int tls = 0; tls < 2; tls++) {
        desk_loop_t l;
        desk_tls_ctx_t tctx;
        struct srv s;
        struct cli *k = calloc(1, sizeof *k);
        desk_conn_t c;

        print_message("reconnect over %s\n", tls ? "TLS" : "plain TCP");
        assert_non_null(k);
        assert_int_equal(desk_loop_init(&l, 1, NULL), 0);
        assert_int_equal(desk_tls_ctx_init(&tctx, &(desk_tls_cfg_t){.ca_file = cert_pem}), 0);
        srv_start(&s, tls, N, acts, 3000); /* A_HOLD outlasts stable_ns by 2 s (slow handshakes) */
        desk_conn_cfg_t cc = {.host = "127.0.0.1", .port = s.port,
                              .tls = tls ? &tctx : NULL, .server_name = "localhost",
                              .connect_timeout_ns = MS(10000), .backoff_base_ns = base,
                              .backoff_max_ns = max, .stable_ns = MS(1000), .seed = 42};
        assert_int_equal(desk_conn_init(&c, &l, &cc, &cli_cb, k), 0);
        assert_int_equal(desk_conn_open(&c), 0);
        DRIVE(&l, k->closes == N, 40000);

        assert_int_equal(k->opens, N);
        assert_int_equal(c.stats.attempts, N); /* the 9th is waiting for its timer */
        for (int i = 0; i < N; i++) {
            uint64_t d = step(want_k[i], base, max);
            print_message("  close %d: k=%u delay %.1f ms of [%.1f, %.1f]: %s\n", i, want_k[i],
                          (double)k->delay[i] / 1e6, (double)d / 2e6, (double)d / 1e6,
                          k->why[i]);
            assert_int_equal(k->state[i], DESK_CONN_BACKOFF);
            if (acts[i] == A_HOLD) { /* a clean end: EOF, or close_notify with TLS */
                assert_int_equal(k->err[i], 0);
                assert_has(k->why[i], tls ? "close_notify" : "closed the connection");
            } else if (tls) {     /* TCP closed under TLS: a truncation */
                assert_int_equal(k->err[i], -ECONNRESET);
            } else {
                assert_int_equal(k->err[i], 0);
                assert_has(k->why[i], "closed the connection");
            }
            assert_true(k->delay[i] >= d / 2);
            assert_true(k->delay[i] <= d);
            if (i > 0 && i < 4)
                assert_true(k->delay[i] >= k->delay[i - 1]); /* growing */
            if (i + 1 < N) {
                /* The next attempt waited its delay (the timer starts after
                 * on_close), and not absurdly longer. */
                uint64_t waited = k->open_ns[i + 1] - k->close_ns[i];
                assert_true(waited >= k->delay[i]);
                assert_true(waited < k->delay[i] + MS(2000));
            }
        }
        /* Jitter: the draws are not simply the upper bounds. */
        int at_bound = 0;
        for (int i = 0; i < N; i++)
            at_bound += k->delay[i] == step(want_k[i], base, max);
        assert_true(at_bound < N);

        /* Close during the backoff: no on_close (already delivered), no more
         * attempts. */
        assert_int_equal(desk_conn_state(&c), DESK_CONN_BACKOFF);
        assert_int_equal(desk_conn_fini(&c), -EBUSY);
        assert_int_equal(desk_conn_send(&c, "x", 1), -ENOTCONN);
        assert_int_equal(desk_conn_close(&c), 0);
        assert_int_equal(desk_conn_state(&c), DESK_CONN_IDLE);
        drive_for(&l, 2 * max / 1000000u);
        assert_int_equal(c.stats.attempts, N);
        assert_int_equal(k->closes, N);
        srv_join(&s);
        assert_int_equal(srv_accepted(&s), N);
        if (tls)
            assert_int_equal(s.handshakes, N);
        assert_int_equal(desk_conn_fini(&c), 0);
        desk_tls_ctx_fini(&tctx);
        desk_loop_fini(&l);
        free(k);
    }
}

/* The pure backoff function: bounds, spread, saturation, determinism. */
static void test_backoff_function(void **state)
{
    (void)state;
    for (uint32_t kk = 0; kk < 8; kk++) {
        uint64_t rng = 1234 + kk, d = step(kk, MS(100), MS(5000));
        uint64_t lo = UINT64_MAX, hi = 0, sum = 0;
        enum { DRAWS = 10000 };
        for (int i = 0; i < DRAWS; i++) {
            uint64_t v = desk_conn_backoff_ns(kk, MS(100), MS(5000), &rng);
            assert_true(v >= d / 2 && v <= d);
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            sum += v;
        }
        /* Uniform on [d/2, d]: the extremes are approached and the mean is
         * 3d/4 (10000 draws: within 2%). */
        assert_true(lo < d / 2 + d / 50);
        assert_true(hi > d - d / 50);
        uint64_t mean = sum / DRAWS;
        assert_true(mean > 3 * d / 4 - d / 50 && mean < 3 * d / 4 + d / 50);
    }
    /* Saturates at max with huge k and huge values, never overflows. */
    uint64_t rng = 7;
    for (uint32_t kk = 60; kk < 70; kk++) {
        uint64_t v = desk_conn_backoff_ns(kk, MS(100), MS(30000), &rng);
        assert_true(v >= MS(15000) && v <= MS(30000));
    }
    uint64_t big = UINT64_MAX / 3;
    uint64_t v = desk_conn_backoff_ns(UINT32_MAX, big, UINT64_MAX - 1, &rng);
    assert_true(v >= (UINT64_MAX - 1) / 2);
    /* Same seed, same sequence; another seed, another one. */
    uint64_t r1 = 99, r2 = 99, r3 = 100;
    int differ = 0;
    for (uint32_t kk = 0; kk < 6; kk++) {
        uint64_t a = desk_conn_backoff_ns(kk, MS(10), MS(1000), &r1);
        assert_int_equal(a, desk_conn_backoff_ns(kk, MS(10), MS(1000), &r2));
        differ += a != desk_conn_backoff_ns(kk, MS(10), MS(1000), &r3);
    }
    assert_true(differ > 0);
}

/* ---- send buffer full ---- */

/* Fill the send ring of `c` with no poll in between, until -ENOBUFS.
 * Appends what was accepted to sum/total.  Returns chunks accepted. */
static int fill(desk_conn_t *c, size_t chunk, uint64_t *seed, uint64_t *sum, size_t *total)
{
    uint8_t m[1000];
    int n = 0;

    assert_true(chunk <= sizeof m);
    for (int i = 0; i < 64; i++) {
        for (size_t j = 0; j < chunk; j++)
            m[j] = (uint8_t)rnd(seed);
        int rc = desk_conn_send(c, m, chunk);
        if (rc == -ENOBUFS)
            return n;
        assert_int_equal(rc, 0);
        *sum = fnv(*sum, m, chunk);
        *total += chunk;
        n++;
    }
    fail_msg("the send ring never filled");
    return n;
}

static void test_send_enobufs(void **state)
{
    enum { SBUF = 4096 };
    desk_loop_t l;
    desk_loop_cfg_t lc = {.sbuf_size = SBUF};
    desk_tls_ctx_t tctx;
    struct srv sp, st;
    struct cli *kp = calloc(1, sizeof *kp), *kt = calloc(1, sizeof *kt);
    desk_conn_t cp, ct;
    static const int sink[] = {A_SINK};
    uint64_t seed = 5, sum_p = FNV0, sum_t = FNV0;
    size_t tot_p = 0, tot_t = 0;

    (void)state;
    assert_non_null(kp);
    assert_non_null(kt);
    /* Two connections, plain and TLS, on one loop. */
    assert_int_equal(desk_loop_init(&l, 2, &lc), 0);
    assert_int_equal(desk_tls_ctx_init(&tctx, &(desk_tls_cfg_t){.ca_file = cert_pem}), 0);
    srv_start(&sp, 0, 1, sink, 0);
    srv_start(&st, 1, 1, sink, 0);
    desk_conn_cfg_t pcfg = {.host = "127.0.0.1", .port = sp.port};
    desk_conn_cfg_t tcfg = {.host = "127.0.0.1", .port = st.port, .tls = &tctx,
                            .server_name = "localhost"};
    assert_int_equal(desk_conn_init(&cp, &l, &pcfg, &cli_cb, kp), 0);
    assert_int_equal(desk_conn_init(&ct, &l, &tcfg, &cli_cb, kt), 0);
    assert_int_equal(desk_conn_open(&cp), 0);
    assert_int_equal(desk_conn_open(&ct), 0);
    DRIVE(&l, kp->opens == 1 && kt->opens == 1, 5000);

    /* Plain: exact.  4 x 1000 fit in 4096, the 5th does not; 96 more fit,
     * then not one byte. */
    assert_int_equal(fill(&cp, 1000, &seed, &sum_p, &tot_p), 4);
    assert_int_equal(desk_conn_queued(&cp), 4000);
    uint8_t tail[96];
    memset(tail, 'z', sizeof tail);
    assert_int_equal(desk_conn_send(&cp, tail, sizeof tail), 0);
    sum_p = fnv(sum_p, tail, sizeof tail);
    tot_p += sizeof tail;
    assert_int_equal(desk_conn_send(&cp, "!", 1), -ENOBUFS);
    assert_int_equal(desk_conn_queued(&cp), SBUF);
    uint8_t *huge = calloc(1, SBUF + 1);
    assert_non_null(huge);
    assert_int_equal(desk_conn_send(&cp, huge, SBUF + 1), -EMSGSIZE);

    /* TLS: the ciphertext bound is checked before anything is encrypted. */
    int nt = fill(&ct, 1000, &seed, &sum_t, &tot_t);
    print_message("TLS: %d x 1000 bytes fit in a %d-byte ring\n", nt, SBUF);
    assert_true(nt >= 1 && nt <= 4);
    assert_true(desk_conn_queued(&ct) <= SBUF);
    assert_int_equal(desk_conn_send(&ct, huge, SBUF), -EMSGSIZE);
    assert_int_equal(ct.stats.bytes_out, tot_t);
    free(huge);

    /* The rings drain; sends succeed again; repeat a few rounds. */
    for (int round = 0; round < 3; round++) {
        DRIVE(&l, desk_conn_queued(&cp) == 0 && desk_conn_queued(&ct) == 0, 5000);
        assert_int_equal(fill(&cp, 700, &seed, &sum_p, &tot_p), 5);
        assert_true(fill(&ct, 700, &seed, &sum_t, &tot_t) >= 1);
    }
    assert_int_equal(cp.stats.bytes_out, tot_p);
    assert_int_equal(ct.stats.bytes_out, tot_t);

    /* Close: what was accepted is flushed before FIN / close_notify. */
    assert_int_equal(desk_conn_close(&cp), 0);
    assert_int_equal(desk_conn_close(&ct), 0);
    DRIVE(&l, kp->closes == 1 && kt->closes == 1, 5000);
    assert_int_equal(kp->err[0], 0);
    assert_int_equal(kt->err[0], 0);
    assert_string_equal(kp->why[0], "closed locally");
    assert_int_equal(kp->state[0], DESK_CONN_IDLE); /* closed by us: no reconnect */
    srv_join(&sp);
    srv_join(&st);
    assert_int_equal(sp.bytes, tot_p);
    assert_int_equal(sp.sum, sum_p);
    assert_int_equal(sp.clean_end, 1);
    assert_int_equal(st.bytes, tot_t);
    assert_int_equal(st.sum, sum_t);
    assert_int_equal(st.clean_end, 1); /* our close_notify got through */
    assert_int_equal(desk_conn_fini(&cp), 0);
    assert_int_equal(desk_conn_fini(&ct), 0);
    desk_tls_ctx_fini(&tctx);
    desk_loop_fini(&l);
    free(kp);
    free(kt);
}

/* ---- garbage instead of a TLS handshake ---- */

static const struct garbage_case {
    int act;            /* what the plain server does */
    int err;            /* on_close err */
    const char *cause;  /* in the sentence */
} garbage_cases[] = {
    {A_GARBAGE_CLOSE, -EPROTO, "wrong version number"},
    {A_GARBAGE_HOLD, -EPROTO, "TLS handshake"},
    {A_DROP, -ECONNRESET, "during the TLS handshake"}, /* RST (ClientHello unread) */
    {A_FIN, -ECONNRESET, "closed the connection during the TLS handshake"}, /* EOF */
    {A_SILENT, -ETIMEDOUT, "timed out"},
};

static void test_tls_garbage(void **state)
{
    static const uint32_t rbufs[] = {1, 65536};

    (void)state;
    for (size_t r = 0; r < 2; r++) {
        for (size_t g = 0; g < sizeof garbage_cases / sizeof garbage_cases[0]; g++) {
            const struct garbage_case *gc = &garbage_cases[g];
            desk_loop_t l;
            desk_loop_cfg_t lc = {.rbuf_size = rbufs[r]};
            desk_tls_ctx_t tctx;
            struct srv s;
            struct cli *k = calloc(1, sizeof *k);
            desk_conn_t c;
            const int acts[] = {gc->act, gc->act};

            assert_non_null(k);
            assert_int_equal(desk_loop_init(&l, 1, &lc), 0);
            assert_int_equal(desk_tls_ctx_init(&tctx, &(desk_tls_cfg_t){.ca_file = cert_pem}),
                             0);
            srv_start(&s, 0, 2, acts, 0);
            desk_conn_cfg_t cc = {.host = "127.0.0.1", .port = s.port, .tls = &tctx,
                                  .server_name = "localhost", .connect_timeout_ns = MS(150),
                                  .backoff_base_ns = MS(10), .seed = 3};
            assert_int_equal(desk_conn_init(&c, &l, &cc, &cli_cb, k), 0);
            assert_int_equal(desk_conn_open(&c), 0);
            /* Two attempts, both failing the same way: the first is followed
             * by a reconnect. */
            DRIVE(&l, k->closes == 2, 5000);
            print_message("rbuf %u: %s\n", rbufs[r], k->why[0]);
            assert_int_equal(k->opens, 0);
            for (int i = 0; i < 2; i++) {
                assert_int_equal(k->err[i], gc->err);
                assert_has(k->why[i], gc->cause);
                assert_int_equal(k->state[i], DESK_CONN_BACKOFF);
            }
            assert_int_equal(c.stats.attempts, 2); /* the third waits for its timer */
            assert_int_equal(desk_conn_close(&c), 0);
            assert_int_equal(desk_conn_state(&c), DESK_CONN_IDLE);
            srv_join(&s);
            assert_int_equal(srv_accepted(&s), 2);
            assert_int_equal(desk_conn_fini(&c), 0);
            desk_tls_ctx_fini(&tctx);
            desk_loop_fini(&l);
            free(k);
        }
    }
}

/* ---- connect timeout, then reconnect attempts ---- */

static void test_connect_timeout_reconnect(void **state)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int fillers[4], nfill = 0, hanging = 0;
    const uint64_t cto = MS(60);

    (void)state;
    /* A listener with a full accept queue (backlog 0 holds one): the kernel
     * drops further SYNs, so connects hang until their timeout. */
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
    assert_int_equal(listen(lfd, 0), 0);
    for (; nfill < 4; nfill++) {
        int f = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        fillers[nfill] = f;
        (void)connect(f, (struct sockaddr *)&a, sizeof a);
        struct pollfd p = {.fd = f, .events = POLLOUT};
        if (poll(&p, 1, 300) == 0) {
            hanging = 1;
            nfill++;
            break;
        }
    }
    assert_true(hanging);

    desk_loop_t l;
    struct cli *k = calloc(1, sizeof *k);
    desk_conn_t c;
    assert_non_null(k);
    assert_int_equal(desk_loop_init(&l, 1, NULL), 0);
    desk_conn_cfg_t cc = {.host = "127.0.0.1", .port = ntohs(a.sin_port),
                          .connect_timeout_ns = cto, .backoff_base_ns = MS(20),
                          .backoff_max_ns = MS(40), .seed = 11};
    assert_int_equal(desk_conn_init(&c, &l, &cc, &cli_cb, k), 0);
    uint64_t t0 = desk_now_ns();
    assert_int_equal(desk_conn_open(&c), 0);
    assert_int_equal(desk_conn_state(&c), DESK_CONN_CONNECTING);
    DRIVE(&l, k->closes == 3, 5000);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(k->err[i], -ETIMEDOUT);
        assert_has(k->why[i], "timed out after 60 ms");
        assert_int_equal(k->state[i], DESK_CONN_BACKOFF);
        /* Each attempt lasted its timeout: from open (or the previous
         * attempt's start, at least close + delay) to its on_close. */
        uint64_t start = i == 0 ? t0 : k->close_ns[i - 1] + k->delay[i - 1];
        assert_true(k->close_ns[i] - start >= cto);
        assert_true(k->delay[i] >= MS(10) && k->delay[i] <= MS(40));
    }
    assert_int_equal(k->opens, 0);
    assert_true(c.stats.attempts >= 3);

    /* Catch it mid-attempt: desk_conn_close() cancels the connect and
     * reports "closed locally"; no attempt after that. */
    DRIVE(&l, desk_conn_state(&c) == DESK_CONN_CONNECTING, 2000);
    assert_int_equal(desk_conn_close(&c), 0);
    assert_int_equal(desk_conn_state(&c), DESK_CONN_CLOSING);
    DRIVE(&l, k->closes == 4, 2000);
    assert_int_equal(k->err[3], 0);
    assert_string_equal(k->why[3], "closed locally");
    assert_int_equal(k->state[3], DESK_CONN_IDLE);
    uint64_t attempts = c.stats.attempts;
    drive_for(&l, 150);
    assert_int_equal(c.stats.attempts, attempts);
    assert_int_equal(k->closes, 4);
    assert_int_equal(desk_conn_fini(&c), 0);
    desk_loop_fini(&l);
    free(k);
    for (int i = 0; i < nfill; i++)
        close(fillers[i]);
    close(lfd);
}

/* ---- arguments ---- */

static void test_init_errors(void **state)
{
    desk_loop_t l;
    desk_conn_t c, c2;
    struct cli k = {0};
    char lng[300];

    (void)state;
    assert_int_equal(desk_loop_init(&l, 1, NULL), 0);
    desk_conn_cfg_t nohost = {.port = 1};
    assert_int_equal(desk_conn_init(&c, &l, &nohost, &cli_cb, &k), -EINVAL);
    desk_conn_cfg_t noport = {.host = "127.0.0.1"};
    assert_int_equal(desk_conn_init(&c, &l, &noport, &cli_cb, &k), -EINVAL);
    memset(lng, 'a', sizeof lng - 1);
    lng[sizeof lng - 1] = '\0';
    desk_conn_cfg_t longname = {.host = "127.0.0.1", .port = 1, .server_name = lng};
    assert_int_equal(desk_conn_init(&c, &l, &longname, &cli_cb, &k), -EINVAL);
    assert_has(desk_errmsg(), "longer");
    desk_conn_cfg_t ok = {.host = "127.0.0.1", .port = 1};
    assert_int_equal(desk_conn_init(&c, &l, &ok, &cli_cb, &k), 0);
    /* The loop has one socket slot: a second connection does not fit. */
    assert_int_equal(desk_conn_init(&c2, &l, &ok, &cli_cb, &k), -ENOSPC);
    assert_int_equal(desk_conn_send(&c, "x", 1), -ENOTCONN);
    assert_int_equal(desk_conn_close(&c), 0); /* IDLE: nothing to do */
    assert_int_equal(desk_conn_fini(&c), 0);
    assert_int_equal(desk_conn_fini(&c), 0); /* twice is fine */
    assert_string_equal(desk_conn_state_name(DESK_CONN_BACKOFF), "BACKOFF");
    assert_string_equal(desk_conn_state_name(99), "?");
    desk_loop_fini(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_errors),
        cmocka_unit_test(test_backoff_function),
        cmocka_unit_test(test_reconnect_backoff),
        cmocka_unit_test(test_send_enobufs),
        cmocka_unit_test(test_tls_garbage),
        cmocka_unit_test(test_connect_timeout_reconnect),
    };
    signal(SIGPIPE, SIG_IGN); /* the blocking servers write to closed sockets */
    return cmocka_run_group_tests(tests, make_cert, remove_cert);
}
