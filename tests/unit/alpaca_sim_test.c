/*
 * alpaca_sim_test.c - desk-alpaca-sim (tools/alpaca_sim) over real TLS on
 * loopback, with a minimal blocking OpenSSL client written here (HTTP/1.1
 * keep-alive and a WebSocket client), cJSON and the product's Alpaca codec
 * to read the replies.
 *
 * The test makes a self-signed certificate (OpenSSL API, SAN 127.0.0.1),
 * starts the simulator binary on the recorded LOBSTER AMZN day with manual
 * market data (--speed 0, stepped by POST /_sim/advance), and checks:
 * auth (403 {"message": "forbidden."}), the stream handshake (authorization,
 * listening, binary frames, ping/pong), order lifecycle (new -> fill by the
 * market data), cancel (204 then a canceled event), replace (new id, old one
 * "replaced"), 404/422/400/403 bodies, positions/account/quote, every fault
 * switch (the books faults phantom_fill/adjust_cash included), the rate
 * limit (a second simulator started with --rate-limit 5), /_sim/state
 * bookkeeping, and a clean exit on SIGTERM.  Every socket read
 * has a timeout and an alarm bounds the whole run.
 * Skips (77) with a reason when the simulator was not built or the recorded
 * data is absent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "connectors/alpaca/codec.h"
#include "core/fixed.h"

#ifndef DESK_ALPACA_SIM
#define DESK_ALPACA_SIM DESK_BINARY_DIR "/desk-alpaca-sim"
#endif
#define DATA DESK_SHARED_DATA "/marketdata/lobster_amzn_2012-06-21"
#define KEY_ID "test-key"
#define SECRET "test-secret"
#define S DESK_SCALE

extern char **environ;

/* A running simulator. */
typedef struct sim {
    pid_t pid; /* its process */
    int port;  /* its port */
} sim_t;

static char g_dir[64];      /* temp dir: cert, key, port files */
static SSL_CTX *g_cctx;     /* client TLS context trusting the test cert */
static sim_t g_sim;         /* the main simulator (manual md) */
static desk_json_t *J;      /* codec's JSON handle */
static uint64_t g_clid = 1000; /* client order ids: d1000, d1001, ... */

/* ------------------------------------------------------------ certificate */

static int make_cert(const char *certp, const char *keyp)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509V3_CTX v3;
    int ok = 0;

    if (pk == NULL || x == NULL)
        goto out;
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext =
        X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
    if (ext == NULL || !X509_add_ext(x, ext, -1)) {
        X509_EXTENSION_free(ext);
        goto out;
    }
    X509_EXTENSION_free(ext);
    if (!X509_sign(x, pk, EVP_sha256()))
        goto out;
    FILE *f = fopen(certp, "w");
    if (f == NULL)
        goto out;
    ok = PEM_write_X509(f, x);
    fclose(f);
    f = fopen(keyp, "w");
    if (f == NULL) {
        ok = 0;
        goto out;
    }
    ok = ok && PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
    fclose(f);
out:
    X509_free(x);
    EVP_PKEY_free(pk);
    return ok ? 0 : -1;
}

/* ------------------------------------------------------------- simulator */

static int sim_start(sim_t *s, const char *tag, const char *const *extra)
{
    char cert[128], key[128], pf[128];
    const char *argv[40];
    int a = 0;

    snprintf(cert, sizeof cert, "%s/cert.pem", g_dir);
    snprintf(key, sizeof key, "%s/key.pem", g_dir);
    snprintf(pf, sizeof pf, "%s/port.%s", g_dir, tag);
    unlink(pf);
    argv[a++] = DESK_ALPACA_SIM;
    argv[a++] = "--cert";
    argv[a++] = cert;
    argv[a++] = "--key";
    argv[a++] = key;
    argv[a++] = "--port-file";
    argv[a++] = pf;
    argv[a++] = "--data";
    argv[a++] = DATA;
    argv[a++] = "--key-id";
    argv[a++] = KEY_ID;
    argv[a++] = "--secret";
    argv[a++] = SECRET;
    for (int i = 0; extra && extra[i]; i++)
        argv[a++] = extra[i];
    argv[a] = NULL;
    if (posix_spawn(&s->pid, DESK_ALPACA_SIM, NULL, NULL, (char *const *)argv, environ) != 0)
        return -1;
    for (int i = 0; i < 300; i++) { /* up to 30 s (sanitizer builds load slowly) */
        FILE *f = fopen(pf, "r");
        if (f) {
            int ok = fscanf(f, "%d", &s->port) == 1;
            fclose(f);
            if (ok)
                return 0;
        }
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return -1;
        }
        usleep(100000);
    }
    return -1;
}

/* SIGTERM, then wait up to 10 s; returns the exit status or -1. */
static int sim_stop(sim_t *s)
{
    int st = 0;
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        usleep(100000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    s->pid = 0;
    return -1;
}

/* ---------------------------------------------------------------- client */

typedef struct cli {
    int fd;             /* socket */
    SSL *ssl;           /* TLS */
    char in[1 << 17];   /* read buffer */
    size_t pos, len;    /* unread bytes: in[pos..len) */
    long records;       /* TLS records received (msg callback) */
} cli_t;

/* Count every incoming TLS record (observes the split-writes fault). */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    (void)version;
    (void)buf;
    (void)len;
    (void)ssl;
    (void)arg;
    if (!write_p && content_type == SSL3_RT_HEADER) {
        cli_t *c = SSL_get_app_data(ssl);
        if (c)
            c->records++;
    }
}

static void cli_timeout(cli_t *c, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static cli_t *cli_open(int port)
{
    cli_t *c = calloc(1, sizeof *c);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

    if (c == NULL)
        return NULL;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    cli_timeout(c, 5000);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "connect: %s\n", strerror(errno));
        goto fail;
    }
    c->ssl = SSL_new(g_cctx);
    SSL_set_app_data(c->ssl, c);
    SSL_set_msg_callback(c->ssl, on_msg);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), "127.0.0.1");
    SSL_set_fd(c->ssl, c->fd);
    if (SSL_connect(c->ssl) != 1) {
        fprintf(stderr, "SSL_connect failed: %s\n", strerror(errno));
        ERR_print_errors_fp(stderr);
        goto fail;
    }
    return c;
fail:
    if (c->ssl)
        SSL_free(c->ssl);
    close(c->fd);
    free(c);
    return NULL;
}

static void cli_close(cli_t *c)
{
    if (c == NULL)
        return;
    SSL_free(c->ssl);
    close(c->fd);
    free(c);
}

/* More bytes into the buffer; -1 on close, error or timeout. */
static int cli_fill(cli_t *c)
{
    if (c->pos == c->len)
        c->pos = c->len = 0;
    if (c->len == sizeof c->in)
        return -1;
    int n = SSL_read(c->ssl, c->in + c->len, (int)(sizeof c->in - c->len));
    if (n <= 0)
        return -1;
    c->len += (size_t)n;
    return 0;
}

static int cli_read(cli_t *c, void *out, size_t n)
{
    char *o = out;
    while (n > 0) {
        if (c->pos == c->len && cli_fill(c) != 0)
            return -1;
        size_t k = c->len - c->pos < n ? c->len - c->pos : n;
        memcpy(o, c->in + c->pos, k);
        c->pos += k;
        o += k;
        n -= k;
    }
    return 0;
}

static int cli_write(cli_t *c, const void *data, size_t n)
{
    return SSL_write(c->ssl, data, (int)n) == (int)n ? 0 : -1;
}

/* A line up to CRLF (without it) into out[cap]. */
static int cli_line(cli_t *c, char *out, size_t cap)
{
    size_t k = 0;
    for (;;) {
        char ch;
        if (cli_read(c, &ch, 1) != 0)
            return -1;
        if (ch == '\n')
            break;
        if (ch != '\r' && k + 1 < cap)
            out[k++] = ch;
    }
    out[k] = '\0';
    return 0;
}

typedef struct resp {
    int status;       /* HTTP status */
    char *body;       /* owned, NUL terminated */
    size_t n;         /* body length */
    int retry_after;  /* Retry-After, 0 if absent */
    int has_length;   /* Content-Length present */
} resp_t;

static void resp_free(resp_t *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

static int http_send(cli_t *c, const char *method, const char *path, const char *body, int auth)
{
    char req[8192];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", method, path);
    if (auth)
        n += snprintf(req + n, sizeof req - (size_t)n,
                      "APCA-API-KEY-ID: %s\r\nAPCA-API-SECRET-KEY: %s\r\n",
                      auth == 1 ? KEY_ID : "wrong", auth == 1 ? SECRET : "wrong");
    if (body)
        n += snprintf(req + n, sizeof req - (size_t)n,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                      strlen(body), body);
    else
        n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    return cli_write(c, req, (size_t)n);
}

static int http_recv(cli_t *c, resp_t *r)
{
    char line[1024];
    size_t clen = 0;

    memset(r, 0, sizeof *r);
    if (cli_line(c, line, sizeof line) != 0 || sscanf(line, "HTTP/1.1 %d", &r->status) != 1)
        return -1;
    for (;;) {
        if (cli_line(c, line, sizeof line) != 0)
            return -1;
        if (line[0] == '\0')
            break;
        if (!strncasecmp(line, "Content-Length:", 15)) {
            clen = strtoul(line + 15, NULL, 10);
            r->has_length = 1;
        } else if (!strncasecmp(line, "Retry-After:", 12)) {
            r->retry_after = atoi(line + 12);
        }
    }
    r->body = calloc(1, clen + 1);
    r->n = clen;
    return cli_read(c, r->body, clen);
}

/* One request on a keep-alive connection; auth: 1 good keys, 2 bad, 0 none. */
static int http(cli_t *c, const char *method, const char *path, const char *body, int auth,
                resp_t *r)
{
    if (http_send(c, method, path, body, auth) != 0)
        return -1;
    return http_recv(c, r);
}

/* Request on a fresh connection to the main simulator, asserting success of I/O. */
static void call(const char *method, const char *path, const char *body, resp_t *r)
{
    cli_t *c = cli_open(g_sim.port);
    assert_non_null(c);
    assert_int_equal(http(c, method, path, body, 1, r), 0);
    cli_close(c);
}

static void control(const char *path, const char *body)
{
    resp_t r;
    call(body ? "POST" : "GET", path, body, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

/* ------------------------------------------------------------- websocket */

static int ws_send(cli_t *c, int op, const void *data, size_t len)
{
    unsigned char h[14], mask[4] = {0x12, 0x34, 0x56, 0x78};
    size_t hl = 2;
    h[0] = (unsigned char)(0x80 | op);
    if (len < 126) {
        h[1] = (unsigned char)(0x80 | len);
    } else {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        hl = 4;
    }
    memcpy(h + hl, mask, 4);
    hl += 4;
    unsigned char *buf = malloc(hl + len);
    memcpy(buf, h, hl);
    for (size_t i = 0; i < len; i++)
        buf[hl + i] = ((const unsigned char *)data)[i] ^ mask[i % 4];
    int rc = cli_write(c, buf, hl + len);
    free(buf);
    return rc;
}

/* One frame: *op and a malloc'd payload.  -1 on close/timeout. */
static int ws_recv(cli_t *c, int *op, char **data, size_t *len)
{
    unsigned char h[2];
    uint64_t n;

    if (cli_read(c, h, 2) != 0)
        return -1;
    *op = h[0] & 0x0f;
    n = h[1] & 0x7f;
    if (h[1] & 0x80)
        return -1; /* servers never mask */
    if (n == 126) {
        unsigned char e[2];
        if (cli_read(c, e, 2) != 0)
            return -1;
        n = (uint64_t)e[0] << 8 | e[1];
    } else if (n == 127) {
        unsigned char e[8];
        if (cli_read(c, e, 8) != 0)
            return -1;
        n = 0;
        for (int i = 0; i < 8; i++)
            n = n << 8 | e[i];
    }
    *data = calloc(1, (size_t)n + 1);
    *len = (size_t)n;
    return cli_read(c, *data, (size_t)n);
}

static cli_t *ws_open(int port)
{
    cli_t *c = cli_open(port);
    char line[512], want[64], in[128];
    unsigned char sha[SHA_DIGEST_LENGTH];
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    int got = 0;

    if (c == NULL)
        return NULL;
    snprintf(line, sizeof line,
             "GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: "
             "Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
             key);
    if (cli_write(c, line, strlen(line)) != 0 || cli_line(c, line, sizeof line) != 0 ||
        strncmp(line, "HTTP/1.1 101", 12) != 0)
        goto fail;
    snprintf(in, sizeof in, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    SHA1((unsigned char *)in, strlen(in), sha);
    EVP_EncodeBlock((unsigned char *)want, sha, SHA_DIGEST_LENGTH);
    for (;;) {
        if (cli_line(c, line, sizeof line) != 0)
            goto fail;
        if (line[0] == '\0')
            break;
        if (!strncasecmp(line, "Sec-WebSocket-Accept: ", 22))
            got = strcmp(line + 22, want) == 0;
    }
    if (!got)
        goto fail;
    return c;
fail:
    cli_close(c);
    return NULL;
}

/* Next stream message decoded by the codec (asserting a binary frame). */
static int ws_next(cli_t *c, desk_alpaca_stream_t *m)
{
    int op;
    char *d;
    size_t n;
    if (ws_recv(c, &op, &d, &n) != 0)
        return -1;
    assert_int_equal(op, 0x2); /* paper trade_updates: binary frames */
    int rc = desk_alpaca_stream_decode(J, d, n, m);
    free(d);
    return rc;
}

/* An authenticated stream listening to trade_updates. */
static cli_t *stream_open(void)
{
    desk_alpaca_stream_t m;
    char buf[256];
    cli_t *c = ws_open(g_sim.port);
    assert_non_null(c);
    int n = desk_alpaca_auth_encode(KEY_ID, SECRET, buf, sizeof buf);
    assert_int_equal(ws_send(c, 0x1, buf, (size_t)n), 0);
    assert_int_equal(ws_next(c, &m), DESK_ALPACA_MSG_AUTHORIZATION);
    assert_int_equal(m.authorized, 1);
    n = desk_alpaca_listen_encode(buf, sizeof buf);
    assert_int_equal(ws_send(c, 0x1, buf, (size_t)n), 0);
    assert_int_equal(ws_next(c, &m), DESK_ALPACA_MSG_LISTENING);
    assert_int_equal(m.streams, DESK_ALPACA_STREAM_TRADE_UPDATES);
    return c;
}

/* Next trade update on the stream, asserting its event. */
static void expect_update(cli_t *c, unsigned event, desk_alpaca_update_t *u)
{
    desk_alpaca_stream_t m;
    assert_int_equal(ws_next(c, &m), DESK_ALPACA_MSG_TRADE_UPDATE);
    if (m.update.event != event)
        fail_msg("expected %s, got %s", desk_alpaca_event_name(event),
                 desk_alpaca_event_name(m.update.event));
    if (u)
        *u = m.update;
}

/* ------------------------------------------------------------- helpers */

static void quote(desk_quote_t *q)
{
    resp_t r;
    call("GET", "/v2/stocks/AMZN/quotes/latest", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(desk_alpaca_quote_decode(J, r.body, r.n, "AMZN", q), 0);
    assert_true(q->bid_px > 0 && q->ask_px > q->bid_px);
    resp_free(&r);
}

/* POST an order through the codec's encoder; returns the HTTP status. */
static int place(uint8_t side, uint8_t type, uint8_t tif, int64_t qty, int64_t px,
                 desk_alpaca_order_t *o, uint64_t *clid)
{
    char body[256];
    resp_t r;
    desk_vcmd_t cmd = {.type = DESK_CMD_NEW, .side = side, .ord_type = type, .tif = tif,
                       .cl_ord_id = g_clid++, .qty = qty, .px = px};
    assert_true(desk_alpaca_order_encode(&cmd, "AMZN", body, sizeof body) > 0);
    call("POST", "/v2/orders", body, &r);
    if (r.status == 200) {
        assert_int_equal(desk_alpaca_order_decode(J, r.body, r.n, o), 0);
        char want[32];
        desk_alpaca_clid_format(cmd.cl_ord_id, want, sizeof want);
        assert_string_equal(o->client_order_id, want);
    }
    if (clid)
        *clid = cmd.cl_ord_id;
    int st = r.status;
    resp_free(&r);
    return st;
}

static void get_order(const char *id, desk_alpaca_order_t *o)
{
    char path[128];
    resp_t r;
    desk_alpaca_path_order(id, path, sizeof path);
    call("GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(desk_alpaca_order_decode(J, r.body, r.n, o), 0);
    resp_free(&r);
}

static void expect_error(const resp_t *r, int status, int64_t code)
{
    desk_alpaca_error_t e;
    assert_int_equal(r->status, status);
    assert_int_equal(desk_alpaca_error_decode(J, r->body, r->n, &e), 0);
    assert_int_equal(e.has_code, 1);
    assert_int_equal(e.code, code);
}

static cJSON *sim_state(void)
{
    resp_t r;
    call("GET", "/_sim/state", NULL, &r);
    assert_int_equal(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    assert_non_null(j);
    resp_free(&r);
    return j;
}

static int64_t jfixed(const cJSON *o, const char *k)
{
    int64_t v = 0;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsString(s));
    assert_int_equal(desk_fixed_parse_cstr(s->valuestring, &v), 0);
    return v;
}

/* ---------------------------------------------------------------- tests */

static void test_auth(void **state)
{
    resp_t r;
    desk_alpaca_account_t a;
    cli_t *c = cli_open(g_sim.port);
    (void)state;

    assert_non_null(c);
    assert_int_equal(http(c, "GET", "/v2/account", NULL, 0, &r), 0);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.body, "{\"message\": \"forbidden.\"}"); /* byte for byte */
    resp_free(&r);
    /* Same connection (keep-alive): wrong keys, then the right ones. */
    assert_int_equal(http(c, "GET", "/v2/account", NULL, 2, &r), 0);
    assert_int_equal(r.status, 403);
    resp_free(&r);
    assert_int_equal(http(c, "GET", "/v2/account", NULL, 1, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(desk_alpaca_account_decode(J, r.body, r.n, &a), 0);
    assert_int_equal(a.active, 1);
    assert_true(a.cash > 0 && a.buying_power <= a.cash);
    resp_free(&r);
    assert_int_equal(http(c, "GET", "/v2/nothing", NULL, 1, &r), 0);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    cli_close(c);
}

static void test_stream_handshake(void **state)
{
    desk_alpaca_stream_t m;
    char buf[256];
    int op;
    char *d;
    size_t n;
    (void)state;

    cli_t *c = ws_open(g_sim.port);
    assert_non_null(c);
    /* listen before authenticate: unauthorized, action listen. */
    int len = desk_alpaca_listen_encode(buf, sizeof buf);
    assert_int_equal(ws_send(c, 0x1, buf, (size_t)len), 0);
    assert_int_equal(ws_next(c, &m), DESK_ALPACA_MSG_AUTHORIZATION);
    assert_int_equal(m.authorized, 0);
    assert_int_equal(m.action, DESK_ALPACA_ACT_LISTEN);
    /* Wrong secret. */
    len = desk_alpaca_auth_encode(KEY_ID, "nope", buf, sizeof buf);
    assert_int_equal(ws_send(c, 0x1, buf, (size_t)len), 0);
    assert_int_equal(ws_next(c, &m), DESK_ALPACA_MSG_AUTHORIZATION);
    assert_int_equal(m.authorized, 0);
    assert_int_equal(m.action, DESK_ALPACA_ACT_AUTHENTICATE);
    /* Right keys, in a binary frame this time. */
    len = desk_alpaca_auth_encode(KEY_ID, SECRET, buf, sizeof buf);
    assert_int_equal(ws_send(c, 0x2, buf, (size_t)len), 0);
    assert_int_equal(ws_next(c, &m), DESK_ALPACA_MSG_AUTHORIZATION);
    assert_int_equal(m.authorized, 1);
    len = desk_alpaca_listen_encode(buf, sizeof buf);
    assert_int_equal(ws_send(c, 0x1, buf, (size_t)len), 0);
    assert_int_equal(ws_next(c, &m), DESK_ALPACA_MSG_LISTENING);
    assert_int_equal(m.streams, DESK_ALPACA_STREAM_TRADE_UPDATES);
    /* Ping: pong with the same payload. */
    assert_int_equal(ws_send(c, 0x9, "hb-42", 5), 0);
    assert_int_equal(ws_recv(c, &op, &d, &n), 0);
    assert_int_equal(op, 0xA);
    assert_int_equal(n, 5);
    assert_memory_equal(d, "hb-42", 5);
    free(d);
    /* Close: the server echoes a close frame. */
    assert_int_equal(ws_send(c, 0x8, "\x03\xe8", 2), 0);
    assert_int_equal(ws_recv(c, &op, &d, &n), 0);
    assert_int_equal(op, 0x8);
    free(d);
    cli_close(c);
}

static void test_order_lifecycle(void **state)
{
    desk_alpaca_order_t o, m;
    desk_alpaca_update_t u;
    desk_vevent_t ev[2];
    desk_quote_t q;
    (void)state;

    cli_t *st = stream_open();
    /* A market buy takes the current ask at once. */
    quote(&q);
    assert_int_equal(place(DESK_BUY, DESK_MARKET, DESK_DAY, 3 * S, 0, &m, NULL), 200);
    assert_int_equal(m.status, DESK_ALPACA_ST_NEW);
    assert_int_equal(m.filled_qty, 0);
    expect_update(st, DESK_ALPACA_EV_NEW, &u);
    assert_string_equal(u.order.id, m.id);
    expect_update(st, DESK_ALPACA_EV_FILL, &u);
    assert_int_equal(desk_alpaca_update_to_vevents(&u, 0, 0, ev), 1);
    assert_int_equal(ev[0].type, DESK_EV_FILL);
    assert_int_equal(ev[0].last_qty, 3 * S);
    assert_int_equal(ev[0].last_px, q.ask_px);
    assert_true(u.flags & DESK_ALPACA_UP_EXEC);
    assert_true(u.flags & DESK_ALPACA_UP_POS_QTY);

    /* A limit buy at the bid rests, then fills from later market data. */
    quote(&q);
    assert_int_equal(place(DESK_BUY, DESK_LIMIT, DESK_GTC, 2 * S, q.bid_px, &o, NULL), 200);
    assert_int_equal(o.status, DESK_ALPACA_ST_NEW);
    assert_int_equal(o.limit_price, q.bid_px);
    expect_update(st, DESK_ALPACA_EV_NEW, NULL);
    for (int i = 0; i < 200; i++) {
        control("/_sim/advance", "{\"events\":200}");
        get_order(o.id, &o);
        if (o.filled_qty > 0)
            break;
    }
    assert_true(o.filled_qty > 0);
    /* Collect the fill updates up to that quantity; each maps onto desk
     * fills that add up to it. */
    int64_t cum = 0, avg = 0;
    for (int i = 0; i < 200 && cum < o.filled_qty; i++) {
        desk_alpaca_stream_t sm;
        assert_int_equal(ws_next(st, &sm), DESK_ALPACA_MSG_TRADE_UPDATE);
        u = sm.update;
        assert_true(u.event == DESK_ALPACA_EV_FILL || u.event == DESK_ALPACA_EV_PARTIAL_FILL);
        assert_string_equal(u.order.id, o.id);
        int n = desk_alpaca_update_to_vevents(&u, cum, avg, ev);
        assert_int_equal(n, 1);
        assert_int_equal(ev[0].type, DESK_EV_FILL);
        assert_true(ev[0].last_px <= q.bid_px); /* a buy limit never pays above its limit */
        cum = ev[0].cum_qty;
        avg = u.order.filled_avg_price;
    }
    assert_int_equal(cum, o.filled_qty);
    cli_close(st);
}

static void test_cancel(void **state)
{
    desk_alpaca_order_t o;
    desk_alpaca_update_t u;
    desk_quote_t q;
    char path[160];
    resp_t r;
    uint64_t clid;
    (void)state;

    cli_t *st = stream_open();
    quote(&q);
    assert_int_equal(place(DESK_BUY, DESK_LIMIT, DESK_DAY, 1 * S, q.bid_px - 20 * S, &o, &clid),
                     200);
    expect_update(st, DESK_ALPACA_EV_NEW, NULL);
    /* Lookup by client order id (literal colon in the path). */
    desk_alpaca_path_by_clid(clid, path, sizeof path);
    call("GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    desk_alpaca_order_t byc;
    assert_int_equal(desk_alpaca_order_decode(J, r.body, r.n, &byc), 0);
    assert_string_equal(byc.id, o.id);
    resp_free(&r);
    call("GET", "/v2/orders:by_client_order_id?client_order_id=d999999999", NULL, &r);
    expect_error(&r, 404, 40410000);
    resp_free(&r);

    /* DELETE: 204 with no body, then the canceled event in a binary frame. */
    desk_alpaca_path_order(o.id, path, sizeof path);
    call("DELETE", path, NULL, &r);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.has_length, 0);
    resp_free(&r);
    expect_update(st, DESK_ALPACA_EV_CANCELED, &u);
    assert_string_equal(u.order.id, o.id);
    assert_int_equal(u.order.status, DESK_ALPACA_ST_CANCELED);
    get_order(o.id, &o);
    assert_int_equal(o.status, DESK_ALPACA_ST_CANCELED);
    /* Not cancelable any more: 422; unknown: 404 (DELETE and GET). */
    call("DELETE", path, NULL, &r);
    expect_error(&r, 422, 42210000);
    resp_free(&r);
    call("DELETE", "/v2/orders/00000000-0000-4000-8000-000000000000", NULL, &r);
    expect_error(&r, 404, 40410000);
    resp_free(&r);
    call("GET", "/v2/orders/00000000-0000-4000-8000-000000000000", NULL, &r);
    expect_error(&r, 404, 40410000);
    resp_free(&r);
    cli_close(st);
}

static void test_replace(void **state)
{
    desk_alpaca_order_t o, n, old;
    desk_alpaca_update_t u;
    desk_quote_t q;
    char path[160], body[256];
    resp_t r;
    (void)state;

    cli_t *st = stream_open();
    quote(&q);
    assert_int_equal(place(DESK_BUY, DESK_LIMIT, DESK_GTC, 5 * S, q.bid_px - 10 * S, &o, NULL), 200);
    expect_update(st, DESK_ALPACA_EV_NEW, NULL);
    desk_vcmd_t rep = {.type = DESK_CMD_REPLACE, .side = DESK_BUY, .ord_type = DESK_LIMIT,
                       .cl_ord_id = g_clid++, .qty = 3 * S, .px = q.bid_px - 11 * S};
    assert_true(desk_alpaca_replace_encode(&rep, 0, body, sizeof body) > 0);
    desk_alpaca_path_order(o.id, path, sizeof path);
    call("PATCH", path, body, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(desk_alpaca_order_decode(J, r.body, r.n, &n), 0);
    resp_free(&r);
    assert_string_not_equal(n.id, o.id);
    assert_string_equal(n.replaces, o.id);
    assert_int_equal(n.qty, 3 * S);
    assert_int_equal(n.limit_price, q.bid_px - 11 * S);
    assert_int_equal(n.status, DESK_ALPACA_ST_NEW);
    get_order(o.id, &old);
    assert_int_equal(old.status, DESK_ALPACA_ST_REPLACED);
    assert_string_equal(old.replaced_by, n.id);
    expect_update(st, DESK_ALPACA_EV_REPLACED, &u);
    assert_string_equal(u.order.id, o.id);
    desk_vevent_t ev[2];
    assert_int_equal(desk_alpaca_update_to_vevents(&u, 0, 0, ev), 1);
    assert_int_equal(ev[0].type, DESK_EV_REPLACED);
    expect_update(st, DESK_ALPACA_EV_NEW, &u);
    assert_string_equal(u.order.id, n.id);
    /* The replaced order cannot be replaced or canceled again. */
    call("PATCH", path, body, &r);
    expect_error(&r, 422, 42210000);
    resp_free(&r);
    call("PATCH", "/v2/orders/00000000-0000-4000-8000-000000000000", "{\"qty\":\"1\"}", &r);
    expect_error(&r, 404, 40410000);
    resp_free(&r);
    desk_alpaca_path_order(n.id, path, sizeof path);
    call("DELETE", path, NULL, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    expect_update(st, DESK_ALPACA_EV_CANCELED, NULL);
    cli_close(st);
}

static void test_validation(void **state)
{
    resp_t r;
    desk_alpaca_error_t e;
    (void)state;

    call("POST", "/v2/orders", "{not json", &r);
    expect_error(&r, 400, 40010000);
    resp_free(&r);
    call("POST", "/v2/orders",
         "{\"symbol\":\"NOPE\",\"qty\":\"1\",\"side\":\"buy\",\"type\":\"market\","
         "\"time_in_force\":\"day\"}",
         &r);
    expect_error(&r, 422, 40010001);
    resp_free(&r);
    call("POST", "/v2/orders",
         "{\"symbol\":\"AMZN\",\"qty\":\"0\",\"side\":\"buy\",\"type\":\"market\","
         "\"time_in_force\":\"day\"}",
         &r);
    expect_error(&r, 422, 40010001);
    resp_free(&r);
    call("POST", "/v2/orders",
         "{\"symbol\":\"AMZN\",\"qty\":\"1\",\"side\":\"buy\",\"type\":\"limit\","
         "\"time_in_force\":\"day\"}",
         &r);
    expect_error(&r, 422, 40010001);
    resp_free(&r);
    call("POST", "/v2/orders",
         "{\"symbol\":\"AMZN\",\"qty\":\"1\",\"side\":\"buy\",\"type\":\"limit\","
         "\"time_in_force\":\"day\",\"limit_price\":\"100.001\"}",
         &r);
    expect_error(&r, 422, 42210000);
    resp_free(&r);
    call("POST", "/v2/orders",
         "{\"symbol\":\"AMZN\",\"qty\":\"1\",\"side\":\"buy\",\"type\":\"market\","
         "\"time_in_force\":\"day\",\"extended_hours\":true}",
         &r);
    expect_error(&r, 422, 40010001);
    assert_int_equal(desk_alpaca_error_decode(J, r.body, r.n, &e), 0);
    assert_string_equal(e.message, "only type=\"limit\" is allowed for extended hours orders");
    resp_free(&r);
    /* More than the cash buys: 403 with the buying power context. */
    call("POST", "/v2/orders",
         "{\"symbol\":\"AMZN\",\"qty\":\"100000\",\"side\":\"buy\",\"type\":\"limit\","
         "\"time_in_force\":\"day\",\"limit_price\":\"100\"}",
         &r);
    expect_error(&r, 403, 40310000);
    cJSON *j = cJSON_Parse(r.body);
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "buying_power")));
    cJSON_Delete(j);
    resp_free(&r);
    /* Duplicate client_order_id. */
    const char *o1 = "{\"symbol\":\"AMZN\",\"qty\":\"1\",\"side\":\"buy\",\"type\":\"limit\","
                     "\"time_in_force\":\"day\",\"limit_price\":\"1\",\"client_order_id\":"
                     "\"dup-1\"}";
    call("POST", "/v2/orders", o1, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    call("POST", "/v2/orders", o1, &r);
    expect_error(&r, 422, 40010001);
    resp_free(&r);
    call("DELETE", "/v2/orders", NULL, &r); /* cancel all: 207 */
    assert_int_equal(r.status, 207);
    cJSON *arr = cJSON_Parse(r.body);
    assert_true(cJSON_IsArray(arr) && cJSON_GetArraySize(arr) >= 1);
    cJSON_Delete(arr);
    resp_free(&r);
}

static void test_positions_account_quote(void **state)
{
    resp_t r;
    desk_alpaca_position_t p[4];
    desk_alpaca_account_t a;
    desk_alpaca_order_t list[64];
    (void)state;

    cJSON *s = sim_state();
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(s, "position");
    int64_t qty = jfixed(pos, "qty");
    assert_int_equal(qty, jfixed(pos, "qty_from_fills"));
    /* The fills recorded by the simulator add up to its position. */
    int64_t sum = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(s, "fills")) sum += jfixed(f, "qty");
    assert_true(qty > 0);
    assert_int_equal(sum, qty); /* only buys so far */

    call("GET", "/v2/positions", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(desk_alpaca_positions_decode(J, r.body, r.n, p, 4), 1);
    assert_string_equal(p[0].symbol, "AMZN");
    assert_int_equal(p[0].qty, qty);
    assert_int_equal(p[0].side, DESK_ALPACA_LONG);
    resp_free(&r);
    call("GET", "/v2/account", NULL, &r);
    assert_int_equal(desk_alpaca_account_decode(J, r.body, r.n, &a), 0);
    assert_int_equal(a.cash, jfixed(s, "cash"));
    assert_true(a.cash < 100000 * S);
    resp_free(&r);
    /* Open orders list: every one is open; "all" holds every order. */
    call("GET", "/v2/orders?status=all&limit=500", NULL, &r);
    int n = desk_alpaca_orders_decode(J, r.body, r.n, list, 64);
    assert_int_equal(n, cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "orders")));
    resp_free(&r);
    call("GET", "/v2/orders", NULL, &r);
    n = desk_alpaca_orders_decode(J, r.body, r.n, list, 64);
    assert_true(n >= 0);
    for (int i = 0; i < n; i++)
        assert_false(desk_alpaca_status_is_final(list[i].status));
    resp_free(&r);
    call("GET", "/v2/stocks/quotes/latest?symbols=AMZN,MSFT", NULL, &r);
    desk_quote_t q;
    assert_int_equal(desk_alpaca_quote_decode(J, r.body, r.n, "AMZN", &q), 0);
    assert_true(q.bid_px > 0);
    resp_free(&r);
    cJSON_Delete(s);
}

/* The venue's view (account, positions) and its own state, for the books faults. */
static void books(int64_t *pos_qty, int64_t *cash, int64_t *bp, int64_t *state_qty,
                  int64_t *state_cash)
{
    resp_t r;
    desk_alpaca_position_t p[4];
    desk_alpaca_account_t a;

    call("GET", "/v2/positions", NULL, &r);
    assert_int_equal(r.status, 200);
    int n = desk_alpaca_positions_decode(J, r.body, r.n, p, 4);
    assert_true(n == 0 || n == 1);
    *pos_qty = n ? p[0].qty : 0;
    resp_free(&r);
    call("GET", "/v2/account", NULL, &r);
    assert_int_equal(desk_alpaca_account_decode(J, r.body, r.n, &a), 0);
    *cash = a.cash;
    *bp = a.buying_power;
    resp_free(&r);
    cJSON *s = sim_state();
    *state_qty = jfixed(cJSON_GetObjectItemCaseSensitive(s, "position"), "qty");
    *state_cash = jfixed(s, "cash");
    cJSON_Delete(s);
}

/* phantom_fill / adjust_cash change the books with no order and no
 * trade_update; they add up, survive reset, and undo with the opposite. */
static void test_books_faults(void **state)
{
    int64_t q0, c0, b0, sq0, sc0, q1, c1, b1, sq1, sc1;
    resp_t r;
    (void)state;

    books(&q0, &c0, &b0, &sq0, &sc0);
    cJSON *s = sim_state();
    double updates0 = cJSON_GetObjectItemCaseSensitive(
                          cJSON_GetObjectItemCaseSensitive(s, "counters"), "trade_updates")
                          ->valuedouble;
    int norders0 = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "orders"));
    cJSON_Delete(s);
    control("/_sim/faults", "{\"phantom_fill\":3,\"adjust_cash\":-250}");
    control("/_sim/faults", "{\"reset\":true}"); /* books faults stay: they happened */
    books(&q1, &c1, &b1, &sq1, &sc1);
    assert_true(q1 - q0 == 3 * S);
    assert_true(sq1 - sq0 == 3 * S);
    /* Three shares at the mark price (> 0) out of cash, 250 dollars more. */
    int64_t paid = c0 - c1 - 250 * S;
    assert_true(paid > 0 && paid % 3 == 0);
    assert_true(b0 - b1 == c0 - c1);
    assert_true(sc0 - sc1 == c0 - c1);
    s = sim_state();
    const cJSON *ph = cJSON_GetObjectItemCaseSensitive(s, "phantom");
    assert_true(jfixed(ph, "qty") == 3 * S);
    assert_true(jfixed(ph, "cash") == -(paid + 250 * S));
    /* Nobody was told: no order, no trade_update. */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "orders")), norders0);
    assert_true(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s, "counters"),
                                                 "trade_updates")
                    ->valuedouble == updates0);
    cJSON_Delete(s);
    /* Bad values are refused whole. */
    call("POST", "/_sim/faults", "{\"phantom_fill\":1.5}", &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    call("POST", "/_sim/faults", "{\"adjust_cash\":true}", &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    /* Undo (the mark has not moved): the books are back exactly. */
    control("/_sim/faults", "{\"phantom_fill\":-3,\"adjust_cash\":\"250\"}");
    books(&q1, &c1, &b1, &sq1, &sc1);
    assert_true(q1 == q0 && c1 == c0 && b1 == b0 && sq1 == sq0 && sc1 == sc0);
}

/* ---- fault switches ---- */

static int post_count(void)
{
    cJSON *s = sim_state();
    int n = (int)cJSON_GetObjectItemCaseSensitive(
                   cJSON_GetObjectItemCaseSensitive(s, "counters"), "post_orders")
                ->valuedouble;
    cJSON_Delete(s);
    return n;
}

static void test_fault_drop(void **state)
{
    resp_t r;
    char body[256], path[160];
    desk_quote_t q;
    (void)state;

    quote(&q);
    /* drop_before: the connection closes unanswered and nothing ran. */
    int before = post_count();
    control("/_sim/faults", "{\"drop_before\":1}");
    desk_vcmd_t cmd = {.type = DESK_CMD_NEW, .side = DESK_BUY, .ord_type = DESK_LIMIT,
                       .tif = DESK_DAY, .cl_ord_id = g_clid++, .qty = S, .px = q.bid_px - 30 * S};
    desk_alpaca_order_encode(&cmd, "AMZN", body, sizeof body);
    cli_t *c = cli_open(g_sim.port);
    assert_non_null(c);
    assert_int_equal(http(c, "POST", "/v2/orders", body, 1, &r), -1);
    resp_free(&r);
    cli_close(c);
    assert_int_equal(post_count(), before);
    desk_alpaca_path_by_clid(cmd.cl_ord_id, path, sizeof path);
    call("GET", path, NULL, &r);
    assert_int_equal(r.status, 404); /* never placed */
    resp_free(&r);
    /* drop_after: unanswered, but the order exists (a lost reply). */
    control("/_sim/faults", "{\"drop_after\":1}");
    c = cli_open(g_sim.port);
    assert_int_equal(http(c, "POST", "/v2/orders", body, 1, &r), -1);
    resp_free(&r);
    cli_close(c);
    assert_int_equal(post_count(), before + 1);
    call("GET", path, NULL, &r);
    assert_int_equal(r.status, 200); /* the client must look it up, not resend */
    resp_free(&r);
    /* Resending the same client_order_id is refused: never placed twice. */
    call("POST", "/v2/orders", body, &r);
    expect_error(&r, 422, 40010001);
    resp_free(&r);
}

static void test_fault_stall_delay(void **state)
{
    resp_t r;
    struct timespec t0, t1;
    (void)state;

    control("/_sim/faults", "{\"stall\":true}");
    cli_t *c = cli_open(g_sim.port);
    assert_non_null(c);
    cli_timeout(c, 400);
    assert_int_equal(http_send(c, "GET", "/v2/account", NULL, 1), 0);
    char ch;
    assert_int_equal(cli_read(c, &ch, 1), -1); /* no answer while stalled */
    control("/_sim/faults", "{\"stall\":false}");
    /* The stalled request is answered, on the same connection, once cleared. */
    cli_timeout(c, 5000);
    assert_int_equal(http_recv(c, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);

    control("/_sim/faults", "{\"delay_ms\":300}");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(http(c, "GET", "/v2/account", NULL, 1, &r), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 300);
    control("/_sim/faults", "{\"delay_ms\":0}");
    cli_close(c);
}

static void test_fault_status_codes(void **state)
{
    resp_t r;
    desk_alpaca_account_t a;
    (void)state;

    control("/_sim/faults", "{\"err_5xx\":1,\"status_5xx\":503}");
    call("GET", "/v2/account", NULL, &r);
    expect_error(&r, 503, 50300000);
    resp_free(&r);
    call("GET", "/v2/account", NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    control("/_sim/faults", "{\"err_429\":1}");
    call("GET", "/v2/account", NULL, &r);
    assert_int_equal(r.status, 429);
    assert_string_equal(r.body, "{\"code\":42910000,\"message\":\"rate limit exceeded\"}");
    assert_true(r.retry_after >= 1);
    resp_free(&r);
    control("/_sim/faults", "{\"malformed\":1}");
    call("GET", "/v2/account", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(desk_alpaca_account_decode(J, r.body, r.n, &a), -EBADMSG);
    resp_free(&r);
    call("GET", "/v2/account", NULL, &r);
    assert_int_equal(desk_alpaca_account_decode(J, r.body, r.n, &a), 0);
    resp_free(&r);
    call("POST", "/_sim/faults", "{\"no_such_fault\":1}", &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
}

static void test_fault_split_writes(void **state)
{
    resp_t r;
    desk_alpaca_account_t a;
    (void)state;

    cli_t *c = cli_open(g_sim.port);
    assert_non_null(c);
    long rec0 = c->records;
    assert_int_equal(http(c, "GET", "/v2/account", NULL, 1, &r), 0);
    long normal = c->records - rec0;
    size_t total = r.n;
    resp_free(&r);
    control("/_sim/faults", "{\"split_writes\":true}");
    rec0 = c->records;
    assert_int_equal(http(c, "GET", "/v2/account", NULL, 1, &r), 0);
    long split = c->records - rec0;
    assert_int_equal(r.status, 200);
    assert_int_equal(desk_alpaca_account_decode(J, r.body, r.n, &a), 0); /* intact */
    resp_free(&r);
    control("/_sim/faults", "{\"split_writes\":false}");
    assert_true(normal <= 4);
    assert_true(split >= (long)total); /* one TLS record per byte */
    cli_close(c);
}

static void test_fault_stream(void **state)
{
    desk_alpaca_update_t u;
    desk_alpaca_stream_t m;
    desk_alpaca_order_t o;
    desk_vevent_t ev[2];
    int op;
    char *d;
    size_t n;
    (void)state;

    cli_t *st = stream_open();
    /* Duplicates: each update twice; the second adds no fill. */
    control("/_sim/faults", "{\"dup_updates\":true}");
    assert_int_equal(place(DESK_BUY, DESK_MARKET, DESK_DAY, S, 0, &o, NULL), 200);
    expect_update(st, DESK_ALPACA_EV_NEW, NULL);
    expect_update(st, DESK_ALPACA_EV_NEW, NULL);
    expect_update(st, DESK_ALPACA_EV_FILL, &u);
    assert_int_equal(desk_alpaca_update_to_vevents(&u, 0, 0, ev), 1);
    expect_update(st, DESK_ALPACA_EV_FILL, &u);
    assert_int_equal(desk_alpaca_update_to_vevents(&u, S, u.order.filled_avg_price, ev), 0);
    control("/_sim/faults", "{\"dup_updates\":false}");

    /* Out of order: the fill arrives before the new. */
    control("/_sim/faults", "{\"reorder_updates\":true}");
    assert_int_equal(place(DESK_BUY, DESK_MARKET, DESK_DAY, S, 0, &o, NULL), 200);
    expect_update(st, DESK_ALPACA_EV_FILL, &u);
    assert_string_equal(u.order.id, o.id);
    expect_update(st, DESK_ALPACA_EV_NEW, &u);
    assert_string_equal(u.order.id, o.id);
    control("/_sim/faults", "{\"reorder_updates\":false}");

    /* Malformed: a cut frame, then the real update. */
    control("/_sim/faults", "{\"malformed_updates\":1}");
    assert_int_equal(place(DESK_BUY, DESK_MARKET, DESK_DAY, S, 0, &o, NULL), 200);
    assert_int_equal(ws_next(st, &m), -EBADMSG);
    expect_update(st, DESK_ALPACA_EV_NEW, NULL);
    expect_update(st, DESK_ALPACA_EV_FILL, NULL);

    /* Stalled stream: a fill from the market data is held until the stall
     * clears, then delivered. */
    desk_quote_t q;
    quote(&q);
    assert_int_equal(place(DESK_BUY, DESK_LIMIT, DESK_GTC, S, q.bid_px, &o, NULL), 200);
    expect_update(st, DESK_ALPACA_EV_NEW, NULL);
    control("/_sim/faults", "{\"stall\":true}");
    int filled = 0;
    for (int i = 0; i < 200 && !filled; i++) {
        control("/_sim/advance", "{\"events\":200}");
        cJSON *s = sim_state(); /* control endpoints answer while stalled */
        const cJSON *ord;
        cJSON_ArrayForEach(ord, cJSON_GetObjectItemCaseSensitive(s, "orders"))
        {
            if (!strcmp(cJSON_GetObjectItemCaseSensitive(ord, "id")->valuestring, o.id))
                filled = jfixed(ord, "filled_qty") > 0;
        }
        cJSON_Delete(s);
    }
    assert_true(filled);
    cli_timeout(st, 300);
    assert_int_equal(ws_recv(st, &op, &d, &n), -1); /* held back */
    control("/_sim/faults", "{\"stall\":false}");
    cli_timeout(st, 5000);
    assert_int_equal(ws_next(st, &m), DESK_ALPACA_MSG_TRADE_UPDATE);
    assert_true(m.update.event == DESK_ALPACA_EV_FILL ||
                m.update.event == DESK_ALPACA_EV_PARTIAL_FILL);
    assert_string_equal(m.update.order.id, o.id);

    /* drop_streams: the socket closes with no close frame. */
    control("/_sim/faults", "{\"drop_streams\":true}");
    cli_timeout(st, 3000);
    int rc = ws_recv(st, &op, &d, &n);
    if (rc == 0) {
        free(d);
        fail_msg("expected the stream to be dropped, got opcode %d", op);
    }
    cli_close(st);
}

static void test_rate_limit(void **state)
{
    sim_t s2 = {0};
    resp_t r;
    const char *extra[] = {"--rate-limit", "5", "--rate-window-ms", "5000", "--speed", "0", NULL};
    (void)state;

    assert_int_equal(sim_start(&s2, "rate", extra), 0);
    cli_t *c = cli_open(s2.port);
    assert_non_null(c);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(http(c, "GET", "/v2/account", NULL, 1, &r), 0);
        assert_int_equal(r.status, 200);
        resp_free(&r);
    }
    assert_int_equal(http(c, "GET", "/v2/account", NULL, 1, &r), 0);
    assert_int_equal(r.status, 429);
    assert_string_equal(r.body, "{\"code\":42910000,\"message\":\"rate limit exceeded\"}");
    /* Retry-After rounds up the wait until the oldest of the five leaves
     * the window (the window is long so that a loaded machine still sends
     * the five inside it). */
    assert_true(r.retry_after >= 1 && r.retry_after <= 5);
    int wait_s = r.retry_after;
    resp_free(&r);
    usleep((useconds_t)wait_s * 1000000 + 100000); /* the window slides past the oldest */
    assert_int_equal(http(c, "GET", "/v2/account", NULL, 1, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    cli_close(c);
    assert_int_equal(sim_stop(&s2), 0); /* clean exit on SIGTERM */
}

/* ------------------------------------------------------------------ main */

static int group_setup(void **state)
{
    (void)state;
    return desk_json_create(1 << 20, &J);
}

static int group_teardown(void **state)
{
    (void)state;
    desk_json_destroy(J);
    return 0;
}

int main(void)
{
    char cert[128], key[128];
    struct stat st;

    if (access(DESK_ALPACA_SIM, X_OK) != 0) {
        printf("SKIP: simulator not built at %s\n", DESK_ALPACA_SIM);
        return 77;
    }
    if (stat(DATA, &st) != 0) {
        printf("SKIP: recorded market data not found at %s (see shared/data/marketdata/README.md)\n",
               DATA);
        return 77;
    }
    alarm(240); /* the whole run is bounded */
    signal(SIGPIPE, SIG_IGN);
    snprintf(g_dir, sizeof g_dir, "/tmp/desk-alpaca-sim-test.XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return 1;
    snprintf(cert, sizeof cert, "%s/cert.pem", g_dir);
    snprintf(key, sizeof key, "%s/key.pem", g_dir);
    if (make_cert(cert, key) != 0) {
        fprintf(stderr, "cannot make a test certificate\n");
        return 1;
    }
    g_cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(g_cctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(g_cctx, cert, NULL) != 1)
        return 1;
    const char *extra[] = {"--speed", "0", "--rate-limit", "100000", NULL};
    if (sim_start(&g_sim, "main", extra) != 0) {
        fprintf(stderr, "desk-alpaca-sim did not start\n");
        return 1;
    }

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_stream_handshake),
        cmocka_unit_test(test_order_lifecycle),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_positions_account_quote),
        cmocka_unit_test(test_books_faults),
        cmocka_unit_test(test_fault_drop),
        cmocka_unit_test(test_fault_stall_delay),
        cmocka_unit_test(test_fault_status_codes),
        cmocka_unit_test(test_fault_split_writes),
        cmocka_unit_test(test_fault_stream),
        cmocka_unit_test(test_rate_limit),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    int st_exit = sim_stop(&g_sim);
    if (st_exit != 0) {
        fprintf(stderr, "desk-alpaca-sim did not exit cleanly on SIGTERM (%d)\n", st_exit);
        rc = rc ? rc : 1;
    }
    SSL_CTX_free(g_cctx);
    unlink(cert);
    unlink(key);
    char pf[128];
    snprintf(pf, sizeof pf, "%s/port.main", g_dir);
    unlink(pf);
    snprintf(pf, sizeof pf, "%s/port.rate", g_dir);
    unlink(pf);
    rmdir(g_dir);
    return rc;
}
