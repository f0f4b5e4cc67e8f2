/*
 * tls_test.c - TLS on memory BIOs (connectors/net/tls.h), alone and as
 * desk_conn's TLS over the io_uring loop against a blocking OpenSSL server
 * thread on 127.0.0.1.
 *
 * A CA, a server certificate for "localhost" / 127.0.0.1 signed by it, and
 * an unrelated second CA are generated at start with the OpenSSL API into a
 * temporary directory.  Then:
 *   - handshake + echo + our close_notify seen by the server (which also saw
 *     the server name as SNI), for TLS 1.2 and 1.3, with the loop's receive
 *     buffer at 1 byte (every record reaches OpenSSL split at every byte)
 *     and at 16 KiB;
 *   - verification fails, naming the cause, with the wrong CA, the system
 *     store (which does not know our CA), the wrong host name and the wrong
 *     IP; the right IP literal passes;
 *   - the server's close_notify reaches on_close as a clean close;
 *   - in memory, without sockets: a full handshake and data both ways with
 *     ciphertext moved ONE byte at a time in both directions, then
 *     close_notify both ways;
 *   - context errors: missing or garbage CA file, bad versions.
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

#define DRIVE(l, cond, ms)                                                              \
    do {                                                                                \
        uint64_t end_ = desk_now_ns() + (uint64_t)(ms) * 1000000u;                      \
        for (;;) {                                                                      \
            desk_loop_poll((l), desk_now_ns());                                         \
            if (cond)                                                                   \
                break;                                                                  \
            if (desk_now_ns() > end_)                                                   \
                fail_msg("timed out after %d ms waiting for %s", (int)(ms), #cond);     \
            desk_loop_wait((l), 2000000u);                                              \
        }                                                                               \
    } while (0)

/* ---- certificates, generated once ---- */

static char dir[64];
static char ca_pem[128], other_ca_pem[128], leaf_pem[128], leaf_key[128], junk_pem[128];

static void add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (e == NULL || !X509_add_ext(x, e, -1))
        fail_msg("extension %d=%s", nid, value);
    X509_EXTENSION_free(e);
}

/* A certificate for `key` named `cn`, signed by issuer (NULL: self-signed). */
static X509 *mkcert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int ca,
                    long serial)
{
    X509 *x = X509_new();
    X509V3_CTX ctx;

    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    add_ext(x, &ctx, NID_subject_key_identifier, "hash");
    if (ca) {
        add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, &ctx, NID_basic_constraints, "CA:FALSE");
        add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
        add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature");
        add_ext(x, &ctx, NID_ext_key_usage, "serverAuth");
        add_ext(x, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    }
    assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

static void write_cert(const char *path, X509 *x)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(PEM_write_X509(f, x));
    fclose(f);
}

static int make_certs(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/desk_tls_XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(ca_pem, sizeof ca_pem, "%s/ca.pem", dir);
    snprintf(other_ca_pem, sizeof other_ca_pem, "%s/other_ca.pem", dir);
    snprintf(leaf_pem, sizeof leaf_pem, "%s/leaf.pem", dir);
    snprintf(leaf_key, sizeof leaf_key, "%s/leaf.key", dir);
    snprintf(junk_pem, sizeof junk_pem, "%s/junk.pem", dir);
    EVP_PKEY *cak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ok = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *lk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!cak || !ok || !lk)
        return -1;
    X509 *ca = mkcert(cak, "desk test CA", NULL, NULL, 1, 1);
    X509 *other = mkcert(ok, "desk other CA", NULL, NULL, 1, 2);
    X509 *leaf = mkcert(lk, "localhost", ca, cak, 0, 3);
    write_cert(ca_pem, ca);
    write_cert(other_ca_pem, other);
    write_cert(leaf_pem, leaf);
    FILE *f = fopen(leaf_key, "w");
    if (f == NULL || !PEM_write_PrivateKey(f, lk, NULL, NULL, 0, NULL, NULL))
        return -1;
    fclose(f);
    f = fopen(junk_pem, "w");
    if (f == NULL)
        return -1;
    fputs("this is not a certificate\n", f);
    fclose(f);
    X509_free(ca);
    X509_free(other);
    X509_free(leaf);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(ok);
    EVP_PKEY_free(lk);
    return 0;
}

static int remove_certs(void **state)
{
    (void)state;
    unlink(ca_pem);
    unlink(other_ca_pem);
    unlink(leaf_pem);
    unlink(leaf_key);
    unlink(junk_pem);
    rmdir(dir);
    return 0;
}

static SSL_CTX *server_ctx(void)
{
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    assert_non_null(c);
    assert_int_equal(SSL_CTX_use_certificate_file(c, leaf_pem, SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(c, leaf_key, SSL_FILETYPE_PEM), 1);
    return c;
}

/* ---- a blocking TLS server thread ---- */

enum { SRV_ECHO, SRV_BYE };

struct tsrv {
    SSL_CTX *ctx;
    int lfd;
    uint16_t port;
    int mode;               /* SRV_ECHO: echo until close_notify; SRV_BYE: say bye, close */
    int nconn;              /* connections to accept */
    int handshakes;         /* completed */
    int failed;             /* handshakes that failed */
    int got_close_notify;   /* peer's close_notify seen */
    size_t bytes;           /* plaintext echoed */
    char sni[64];           /* server name the last client sent ("" if none) */
    pthread_t th;
};

static void *tsrv_main(void *arg)
{
    struct tsrv *s = arg;
    uint8_t buf[16384];

    for (int k = 0; k < s->nconn; k++) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN};
        if (poll(&p, 1, 10000) != 1)
            break;
        int c = accept(s->lfd, NULL, NULL);
        if (c < 0)
            break;
        struct timeval tv = {.tv_sec = 10};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        SSL *ssl = SSL_new(s->ctx);
        SSL_set_fd(ssl, c);
        if (SSL_accept(ssl) != 1) {
            s->failed++;
            ERR_clear_error();
            SSL_free(ssl);
            close(c);
            continue;
        }
        s->handshakes++;
        const char *sn = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        snprintf(s->sni, sizeof s->sni, "%s", sn ? sn : "");
        if (s->mode == SRV_BYE) {
            SSL_write(ssl, "bye", 3);
            if (SSL_shutdown(ssl) == 0) { /* ours sent; wait for theirs */
                int n = SSL_read(ssl, buf, sizeof buf);
                if (n <= 0 && SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN)
                    s->got_close_notify++;
            }
        } else {
            for (;;) {
                int n = SSL_read(ssl, buf, sizeof buf);
                if (n <= 0) {
                    if (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN) {
                        s->got_close_notify++;
                        SSL_shutdown(ssl);
                    }
                    break;
                }
                s->bytes += (size_t)n;
                if (SSL_write(ssl, buf, n) != n)
                    break;
            }
        }
        ERR_clear_error();
        SSL_free(ssl);
        close(c);
    }
    return NULL;
}

static void tsrv_start(struct tsrv *s, int mode, int nconn)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;

    memset(s, 0, sizeof *s);
    s->ctx = server_ctx();
    s->mode = mode;
    s->nconn = nconn;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
    assert_int_equal(listen(s->lfd, 8), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->th, NULL, tsrv_main, s), 0);
}

static void tsrv_join(struct tsrv *s)
{
    pthread_join(s->th, NULL);
    close(s->lfd);
    SSL_CTX_free(s->ctx);
}

/* ---- the desk client ---- */

struct cli {
    int opens, closes, err;
    char why[DESK_CONN_WHYMAX];
    uint8_t in[65536];
    size_t nin;
};

static void c_open(desk_conn_t *c, void *ctx)
{
    (void)c;
    ((struct cli *)ctx)->opens++;
}

static void c_data(desk_conn_t *c, const uint8_t *d, size_t n, void *ctx)
{
    struct cli *k = ctx;
    (void)c;
    if (k->nin + n <= sizeof k->in)
        memcpy(k->in + k->nin, d, n);
    k->nin += n;
}

static void c_close(desk_conn_t *c, int err, const char *why, void *ctx)
{
    struct cli *k = ctx;
    (void)c;
    k->closes++;
    k->err = err;
    snprintf(k->why, sizeof k->why, "%s", why);
}

static const desk_conn_cb_t cli_cb = {c_open, c_data, c_close};

static void assert_has(const char *s, const char *needle)
{
    if (strstr(s, needle) == NULL)
        fail_msg("\"%s\" lacks \"%s\"", s, needle);
}

static const struct tls_case {
    uint16_t version; /* client's only version */
    uint32_t rbuf;    /* loop receive buffer: 1 splits every record at every byte */
} tls_cases[] = {
    {DESK_TLS_1_3, 16384},
    {DESK_TLS_1_2, 16384},
    {DESK_TLS_1_3, 1},
    {DESK_TLS_1_2, 1},
};

/* Handshake, echo with checksum, our close_notify seen by the server. */
static void test_tls_echo(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof tls_cases / sizeof tls_cases[0]; k++) {
        const struct tls_case *tc = &tls_cases[k];
        desk_loop_t l;
        desk_loop_cfg_t lc = {.rbuf_size = tc->rbuf};
        desk_tls_ctx_t tctx;
        desk_tls_cfg_t tcfg = {.ca_file = ca_pem, .version_min = tc->version,
                               .version_max = tc->version};
        struct tsrv s;
        struct cli *k0 = calloc(1, sizeof *k0);
        desk_conn_t c;

        print_message("TLS %s, receive buffer %u\n", tc->version == DESK_TLS_1_3 ? "1.3" : "1.2",
                      tc->rbuf);
        assert_int_equal(desk_loop_init(&l, 1, &lc), 0);
        assert_int_equal(desk_tls_ctx_init(&tctx, &tcfg), 0);
        tsrv_start(&s, SRV_ECHO, 1);
        desk_conn_cfg_t cc = {.host = "127.0.0.1", .port = s.port, .tls = &tctx,
                              .server_name = "localhost", .connect_timeout_ns = 5000000000ull};
        assert_int_equal(desk_conn_init(&c, &l, &cc, &cli_cb, k0), 0);
        assert_int_equal(desk_conn_send(&c, "x", 1), -ENOTCONN);
        assert_int_equal(desk_conn_open(&c), 0);
        assert_int_equal(desk_conn_open(&c), -EALREADY);
        DRIVE(&l, k0->opens == 1 || k0->closes == 1, 10000);
        if (k0->closes)
            fail_msg("handshake failed: %s", k0->why);
        assert_int_equal(desk_conn_state(&c), DESK_CONN_OPEN);
        assert_int_equal(SSL_version(c.tls.ssl), tc->version);

        uint8_t msg[4000];
        size_t sent = 0;
        uint64_t seed = 7;
        uint64_t sum = 0;
        for (int i = 0; i < 20; i++) {
            seed = seed * 6364136223846793005ull + 1;
            size_t len = 1 + (size_t)(seed >> 33) % sizeof msg;
            for (size_t j = 0; j < len; j++)
                msg[j] = (uint8_t)(seed >> (j % 56));
            int rc;
            while ((rc = desk_conn_send(&c, msg, len)) == -ENOBUFS || rc == -EBUSY) {
                desk_loop_poll(&l, desk_now_ns());
                desk_loop_wait(&l, 1000000u);
            }
            assert_int_equal(rc, 0);
            for (size_t j = 0; j < len; j++)
                sum += (uint64_t)msg[j] * (sent + j + 1);
            sent += len;
            DRIVE(&l, k0->nin == sent, 10000);
        }
        assert_int_equal(c.stats.bytes_out, sent);
        assert_int_equal(c.stats.bytes_in, sent);
        /* Weighted checksum of everything received equals that of what we sent
         * (the buffer keeps the first 64 KiB, all of it here). */
        assert_true(sent <= sizeof k0->in);
        uint64_t rsum = 0;
        for (size_t j = 0; j < k0->nin; j++)
            rsum += (uint64_t)k0->in[j] * (j + 1);
        assert_int_equal(rsum, sum);

        assert_int_equal(desk_conn_close(&c), 0);
        DRIVE(&l, k0->closes == 1, 5000);
        assert_int_equal(k0->err, 0);
        assert_string_equal(k0->why, "closed locally");
        assert_int_equal(desk_conn_state(&c), DESK_CONN_IDLE);
        tsrv_join(&s);
        assert_int_equal(s.handshakes, 1);
        assert_string_equal(s.sni, "localhost"); /* SNI carries the server name */
        assert_int_equal(s.got_close_notify, 1);
        assert_int_equal(s.bytes, sent);
        assert_int_equal(desk_conn_fini(&c), 0);
        desk_tls_ctx_fini(&tctx);
        desk_loop_fini(&l);
        free(k0);
    }
}

/* One connection attempt that must fail verification, naming `cause`. */
static void expect_verify_failure(const char *ca, const char *server_name, const char *cause)
{
    desk_loop_t l;
    desk_tls_ctx_t tctx;
    desk_tls_cfg_t tcfg = {.ca_file = ca};
    struct tsrv s;
    struct cli *k = calloc(1, sizeof *k);
    desk_conn_t c;

    assert_int_equal(desk_loop_init(&l, 1, NULL), 0);
    assert_int_equal(desk_tls_ctx_init(&tctx, &tcfg), 0);
    tsrv_start(&s, SRV_ECHO, 1);
    desk_conn_cfg_t cc = {.host = "127.0.0.1", .port = s.port, .tls = &tctx,
                          .server_name = server_name, .connect_timeout_ns = 5000000000ull};
    assert_int_equal(desk_conn_init(&c, &l, &cc, &cli_cb, k), 0);
    assert_int_equal(desk_conn_open(&c), 0);
    DRIVE(&l, k->closes == 1, 10000);
    print_message("  %s / %s -> %s\n", ca ? strrchr(ca, '/') + 1 : "system store", server_name,
                  k->why);
    assert_int_equal(k->opens, 0);
    assert_int_equal(k->err, -EPROTO);
    assert_has(k->why, "certificate verification failed");
    assert_has(k->why, cause);
    assert_int_equal(desk_conn_state(&c), DESK_CONN_IDLE); /* no reconnect configured */
    tsrv_join(&s);
    assert_int_equal(s.handshakes, 0);
    assert_int_equal(desk_conn_fini(&c), 0);
    desk_tls_ctx_fini(&tctx);
    desk_loop_fini(&l);
    free(k);
}

static void test_tls_verify_failures(void **state)
{
    (void)state;
    expect_verify_failure(other_ca_pem, "localhost", "unable to get local issuer certificate");
    expect_verify_failure(NULL, "localhost", "unable to get local issuer certificate");
    expect_verify_failure(ca_pem, "wrong.example", "hostname mismatch");
    expect_verify_failure(ca_pem, "127.0.0.2", "IP address mismatch");
}

/* The right IP literal verifies (no SNI is sent for it). */
static void test_tls_ip_name(void **state)
{
    desk_loop_t l;
    desk_tls_ctx_t tctx;
    desk_tls_cfg_t tcfg = {.ca_file = ca_pem};
    struct tsrv s;
    struct cli *k = calloc(1, sizeof *k);
    desk_conn_t c;

    (void)state;
    assert_int_equal(desk_loop_init(&l, 1, NULL), 0);
    assert_int_equal(desk_tls_ctx_init(&tctx, &tcfg), 0);
    tsrv_start(&s, SRV_BYE, 1);
    desk_conn_cfg_t cc = {.host = "127.0.0.1", .port = s.port, .tls = &tctx};
    assert_int_equal(desk_conn_init(&c, &l, &cc, &cli_cb, k), 0);
    assert_int_equal(desk_conn_open(&c), 0);
    DRIVE(&l, k->closes == 1, 10000);
    assert_int_equal(k->opens, 1);
    /* The server said bye and sent close_notify: a clean close. */
    assert_int_equal(k->nin, 3);
    assert_memory_equal(k->in, "bye", 3);
    assert_int_equal(k->err, 0);
    assert_has(k->why, "close_notify");
    tsrv_join(&s);
    assert_int_equal(s.got_close_notify, 1); /* we answered with ours */
    assert_string_equal(s.sni, "");          /* no SNI for an IP literal */
    desk_conn_fini(&c);
    desk_tls_ctx_fini(&tctx);
    desk_loop_fini(&l);
    free(k);
}

/* ---- in memory, one byte at a time ---- */

/* Move at most one byte of ciphertext each way; returns bytes moved. */
static int pump1(desk_tls_t *cl, BIO *s_in, BIO *s_out)
{
    uint8_t b;
    int moved = 0;

    if (desk_tls_take(cl, &b, 1) == 1) {
        assert_int_equal(BIO_write(s_in, &b, 1), 1);
        moved++;
    }
    if (BIO_read(s_out, &b, 1) == 1) {
        assert_int_equal(desk_tls_feed(cl, &b, 1), 0);
        moved++;
    }
    return moved;
}

static void test_tls_split_every_byte(void **state)
{
    static const uint16_t versions[] = {DESK_TLS_1_3, DESK_TLS_1_2};

    (void)state;
    for (size_t v = 0; v < 2; v++) {
        desk_tls_ctx_t tctx;
        desk_tls_cfg_t tcfg = {.ca_file = ca_pem, .version_min = versions[v],
                               .version_max = versions[v]};
        desk_tls_t cl;
        SSL_CTX *sctx = server_ctx();
        SSL *srv = SSL_new(sctx);
        BIO *s_in = BIO_new(BIO_s_mem()), *s_out = BIO_new(BIO_s_mem());

        BIO_set_mem_eof_return(s_in, -1);
        BIO_set_mem_eof_return(s_out, -1);
        SSL_set_bio(srv, s_in, s_out);
        SSL_set_accept_state(srv);
        assert_int_equal(desk_tls_ctx_init(&tctx, &tcfg), 0);
        assert_int_equal(desk_tls_init(&cl, &tctx, "localhost"), 0);

        int cdone = 0, sdone = 0, feeds = 0;
        for (int i = 0; i < 200000 && !(cdone && sdone); i++) {
            if (!cdone) {
                int rc = desk_tls_handshake(&cl);
                if (rc < 0)
                    fail_msg("client: %s", desk_tls_errmsg(&cl));
                cdone = rc == 1;
            }
            if (!sdone) {
                int rc = SSL_do_handshake(srv);
                if (rc == 1)
                    sdone = 1;
                else if (SSL_get_error(srv, rc) != SSL_ERROR_WANT_READ)
                    fail_msg("server handshake failed");
            }
            feeds += pump1(&cl, s_in, s_out);
        }
        assert_true(cdone && sdone);
        assert_true(feeds > 500); /* it really went byte by byte */

        /* Server -> client: two records, delivered a byte at a time. */
        char big[3000];
        for (size_t j = 0; j < sizeof big; j++)
            big[j] = (char)('a' + j % 26);
        assert_int_equal(SSL_write(srv, "hello", 5), 5);
        assert_int_equal(SSL_write(srv, big, (int)sizeof big), (int)sizeof big);
        char got[4000];
        size_t ngot = 0;
        int partial_reads = 0;
        for (int i = 0; i < 100000 && ngot < 5 + sizeof big; i++) {
            pump1(&cl, s_in, s_out);
            int n = desk_tls_read(&cl, got + ngot, sizeof got - ngot);
            assert_true(n >= 0);
            if (n == 0)
                partial_reads++;
            ngot += (size_t)n;
        }
        assert_int_equal(ngot, 5 + sizeof big);
        assert_memory_equal(got, "hello", 5);
        assert_memory_equal(got + 5, big, sizeof big);
        assert_true(partial_reads > 1000); /* most feeds completed no record */

        /* Client -> server, a byte at a time. */
        assert_int_equal(desk_tls_write(&cl, big, sizeof big), 0);
        size_t sgot = 0;
        for (int i = 0; i < 100000 && sgot < sizeof big; i++) {
            pump1(&cl, s_in, s_out);
            int n = SSL_read(srv, got + sgot, (int)(sizeof got - sgot));
            if (n > 0)
                sgot += (size_t)n;
        }
        assert_int_equal(sgot, sizeof big);
        assert_memory_equal(got, big, sizeof big);

        /* Our close_notify reaches the server; the server's reaches us. */
        assert_int_equal(desk_tls_close(&cl), 0);
        int zero = 0;
        for (int i = 0; i < 1000 && !zero; i++) {
            pump1(&cl, s_in, s_out);
            int n = SSL_read(srv, got, 1);
            zero = n <= 0 && SSL_get_error(srv, n) == SSL_ERROR_ZERO_RETURN;
        }
        assert_true(zero);
        SSL_shutdown(srv);
        int rc = 0;
        for (int i = 0; i < 1000 && rc == 0; i++) {
            pump1(&cl, s_in, s_out);
            rc = desk_tls_read(&cl, got, sizeof got);
        }
        assert_int_equal(rc, -ESHUTDOWN);
        assert_int_equal(cl.state, DESK_TLS_CLOSED);
        assert_int_equal(desk_tls_write(&cl, "x", 1), -ENOTCONN);

        desk_tls_fini(&cl);
        desk_tls_fini(&cl); /* twice is fine */
        SSL_free(srv);
        SSL_CTX_free(sctx);
        desk_tls_ctx_fini(&tctx);
    }
}

/* Garbage where the ServerHello should be: -EPROTO naming OpenSSL's reason. */
static void test_tls_garbage_in_memory(void **state)
{
    desk_tls_ctx_t tctx;
    desk_tls_t cl;
    static const char junk[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";

    (void)state;
    assert_int_equal(desk_tls_ctx_init(&tctx, &(desk_tls_cfg_t){.ca_file = ca_pem}), 0);
    assert_int_equal(desk_tls_init(&cl, &tctx, "localhost"), 0);
    assert_int_equal(desk_tls_handshake(&cl), 0);
    assert_true(desk_tls_pending(&cl) > 0); /* the ClientHello */
    assert_int_equal(desk_tls_read(&cl, (char[8]){0}, 8), -ENOTCONN);
    assert_int_equal(desk_tls_feed(&cl, junk, sizeof junk - 1), 0);
    assert_int_equal(desk_tls_handshake(&cl), -EPROTO);
    assert_int_equal(cl.state, DESK_TLS_FAILED);
    assert_has(desk_tls_errmsg(&cl), "wrong version number");
    assert_int_equal(desk_tls_handshake(&cl), -EPROTO);
    assert_int_equal(desk_tls_write(&cl, "x", 1), -EPROTO);
    desk_tls_fini(&cl);
    desk_tls_ctx_fini(&tctx);
}

static void test_tls_ctx_errors(void **state)
{
    desk_tls_ctx_t t;
    char missing[160];

    (void)state;
    snprintf(missing, sizeof missing, "%s/nope.pem", dir);
    desk_tls_cfg_t c1 = {.ca_file = missing};
    assert_int_equal(desk_tls_ctx_init(&t, &c1), -ENOENT);
    assert_has(desk_errmsg(), "nope.pem");
    desk_tls_cfg_t c2 = {.ca_file = junk_pem};
    assert_int_equal(desk_tls_ctx_init(&t, &c2), -EPROTO);
    assert_has(desk_errmsg(), "junk.pem");
    desk_tls_cfg_t c3 = {.version_min = 0x0301};
    assert_int_equal(desk_tls_ctx_init(&t, &c3), -EINVAL);
    desk_tls_cfg_t c4 = {.version_min = DESK_TLS_1_3, .version_max = DESK_TLS_1_2};
    assert_int_equal(desk_tls_ctx_init(&t, &c4), -EINVAL);
    assert_int_equal(desk_tls_ctx_init(&t, NULL), 0); /* system store, defaults */
    desk_tls_t cl;
    assert_int_equal(desk_tls_init(&cl, &t, ""), -EINVAL);
    desk_tls_ctx_fini(&t);
    desk_tls_ctx_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_ctx_errors),
        cmocka_unit_test(test_tls_split_every_byte),
        cmocka_unit_test(test_tls_garbage_in_memory),
        cmocka_unit_test(test_tls_echo),
        cmocka_unit_test(test_tls_verify_failures),
        cmocka_unit_test(test_tls_ip_name),
    };
    signal(SIGPIPE, SIG_IGN); /* the blocking server writes to closed sockets */
    return cmocka_run_group_tests(tests, make_certs, remove_certs);
}
