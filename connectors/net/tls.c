/*
 * tls.c - TLS client on memory BIOs (see tls.h).
 *
 * The read BIO returns "retry" (not EOF) when it is empty, so OpenSSL
 * reports SSL_ERROR_WANT_READ and waits for the next desk_tls_feed(): that
 * is what turns the handshake and record layer into a state machine driven
 * by whatever byte counts the socket delivers.  TCP EOF is the owner's
 * business (desk_conn tells a clean close_notify from a truncation).
 *
 * OpenSSL's error queue is per thread and sticky: every call that can fail
 * starts with ERR_clear_error() so that an error is attributed to the call
 * that raised it, and fail() drains the queue after reading it.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"

/* Record why the session failed: the certificate verification result when
 * the peer's certificate was refused, else OpenSSL's first queued reason. */
static int fail(desk_tls_t *t, const char *what, int ssl_err)
{
    long vr = t->ssl ? SSL_get_verify_result(t->ssl) : X509_V_OK;
    unsigned long e = ERR_peek_error();

    if (vr != X509_V_OK) {
        snprintf(t->err, sizeof t->err, "%s: certificate verification failed: %s", what,
                 X509_verify_cert_error_string(vr));
    } else if (e != 0) {
        const char *r = ERR_reason_error_string(e);
        char buf[128];
        if (r == NULL) {
            ERR_error_string_n(e, buf, sizeof buf);
            r = buf;
        }
        snprintf(t->err, sizeof t->err, "%s: %s", what, r);
    } else {
        snprintf(t->err, sizeof t->err, "%s: SSL error %d", what, ssl_err);
    }
    ERR_clear_error();
    t->state = DESK_TLS_FAILED;
    return -EPROTO;
}

DESK_COLD int desk_tls_ctx_init(desk_tls_ctx_t *t, const desk_tls_cfg_t *cfg)
{
    desk_tls_cfg_t c = {0};
    int rc;

    if (cfg)
        c = *cfg;
    memset(t, 0, sizeof *t);
    if (c.version_min == 0)
        c.version_min = DESK_TLS_1_2;
    if ((c.version_min != DESK_TLS_1_2 && c.version_min != DESK_TLS_1_3) ||
        (c.version_max != 0 && c.version_max != DESK_TLS_1_2 && c.version_max != DESK_TLS_1_3) ||
        (c.version_max != 0 && c.version_max < c.version_min))
        return DESK_ERR(-EINVAL, "tls: versions min=%#x max=%#x: use TLS 1.2 or 1.3",
                        c.version_min, c.version_max);
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        return DESK_ERR(-ENOMEM, "tls: SSL_CTX_new failed");
    if (!SSL_CTX_set_min_proto_version(ctx, c.version_min) ||
        (c.version_max && !SSL_CTX_set_max_proto_version(ctx, c.version_max))) {
        rc = DESK_ERR(-EINVAL, "tls: cannot set protocol versions");
        goto fail;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    if (c.insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        t->insecure = 1;
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (c.ca_file != NULL) {
            if (access(c.ca_file, R_OK) != 0) {
                rc = DESK_ERR(-ENOENT, "tls: CA file %s: %s", c.ca_file, strerror(errno));
                goto fail;
            }
            if (!SSL_CTX_load_verify_locations(ctx, c.ca_file, NULL)) {
                const char *r = ERR_reason_error_string(ERR_peek_error());
                rc = DESK_ERR(-EPROTO, "tls: CA file %s cannot be loaded: %s", c.ca_file,
                              r ? r : "no certificate");
                goto fail;
            }
        } else if (!SSL_CTX_set_default_verify_paths(ctx)) {
            rc = DESK_ERR(-EPROTO, "tls: the system CA store cannot be loaded");
            goto fail;
        }
    }
    t->ctx = ctx;
    ERR_clear_error();
    return 0;

fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return rc;
}

DESK_COLD void desk_tls_ctx_fini(desk_tls_ctx_t *t)
{
    if (t->ctx)
        SSL_CTX_free(t->ctx);
    t->ctx = NULL;
}

DESK_COLD int desk_tls_init(desk_tls_t *t, const desk_tls_ctx_t *ctx, const char *server_name)
{
    memset(t, 0, sizeof *t);
    if (server_name == NULL || server_name[0] == '\0')
        return DESK_ERR(-EINVAL, "tls: empty server name");
    if (ctx == NULL || ctx->ctx == NULL)
        return DESK_ERR(-EINVAL, "tls: context not initialised");
    ERR_clear_error();
    SSL *ssl = SSL_new(ctx->ctx);
    BIO *rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new(BIO_s_mem());
    if (ssl == NULL || rbio == NULL || wbio == NULL) {
        BIO_free(rbio);
        BIO_free(wbio);
        SSL_free(ssl);
        ERR_clear_error();
        return DESK_ERR(-ENOMEM, "tls: no memory for a session");
    }
    /* Empty BIO = "try again", never EOF. */
    BIO_set_mem_eof_return(rbio, -1);
    BIO_set_mem_eof_return(wbio, -1);
    SSL_set_bio(ssl, rbio, wbio); /* ssl owns both from here */
    SSL_set_connect_state(ssl);
    t->ssl = ssl;
    t->rbio = rbio;
    t->wbio = wbio;

    unsigned char ip[16];
    int is_ip =
        inet_pton(AF_INET, server_name, ip) == 1 || inet_pton(AF_INET6, server_name, ip) == 1;
    /* SNI carries DNS names only (RFC 6066 s3). */
    if (!is_ip && !SSL_set_tlsext_host_name(ssl, server_name))
        goto nomem;
    if (!ctx->insecure) {
        if (is_ip) {
            if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name))
                goto nomem;
        } else {
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (!SSL_set1_host(ssl, server_name))
                goto nomem;
        }
    }
    t->state = DESK_TLS_HANDSHAKE;
    ERR_clear_error();
    return 0;

nomem:
    desk_tls_fini(t);
    ERR_clear_error();
    return DESK_ERR(-ENOMEM, "tls: cannot set server name %s", server_name);
}

void desk_tls_fini(desk_tls_t *t)
{
    if (t->ssl)
        SSL_free(t->ssl); /* frees both BIOs */
    t->ssl = NULL;
    t->rbio = t->wbio = NULL;
    t->state = DESK_TLS_NONE;
}

int desk_tls_feed(desk_tls_t *t, const void *data, size_t len)
{
    const uint8_t *p = data;

    if (t->rbio == NULL)
        return -ENOTCONN;
    while (len > 0) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        int w = BIO_write(t->rbio, p, n);
        if (w <= 0) {
            ERR_clear_error();
            return -ENOMEM;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int desk_tls_handshake(desk_tls_t *t)
{
    if (t->state == DESK_TLS_OPEN)
        return 1;
    if (t->state != DESK_TLS_HANDSHAKE)
        return -EPROTO;
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        t->state = DESK_TLS_OPEN;
        return 1;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    return fail(t, "TLS handshake", e);
}

int desk_tls_read(desk_tls_t *t, void *out, size_t cap)
{
    size_t got = 0;

    if (t->state == DESK_TLS_CLOSED)
        return -ESHUTDOWN;
    if (t->state == DESK_TLS_FAILED)
        return -EPROTO;
    if (t->state != DESK_TLS_OPEN)
        return -ENOTCONN;
    if (cap > INT_MAX)
        cap = INT_MAX;
    ERR_clear_error();
    if (SSL_read_ex(t->ssl, out, cap, &got) == 1)
        return (int)got;
    int e = SSL_get_error(t->ssl, 0);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0; /* no whole record yet (or a ticket / key update was consumed) */
    if (e == SSL_ERROR_ZERO_RETURN) {
        t->state = DESK_TLS_CLOSED;
        return -ESHUTDOWN;
    }
    return fail(t, "TLS read", e);
}

int desk_tls_write(desk_tls_t *t, const void *data, size_t len)
{
    size_t done = 0;

    if (t->state != DESK_TLS_OPEN || t->sent_close)
        return t->state == DESK_TLS_FAILED ? -EPROTO : -ENOTCONN;
    if (len == 0)
        return 0;
    ERR_clear_error();
    /* A memory BIO takes everything, so the write is never partial. */
    if (SSL_write_ex(t->ssl, data, len, &done) == 1 && done == len)
        return 0;
    return fail(t, "TLS write", SSL_get_error(t->ssl, 0));
}

size_t desk_tls_pending(const desk_tls_t *t)
{
    return t->wbio ? BIO_ctrl_pending(t->wbio) : 0;
}

size_t desk_tls_take(desk_tls_t *t, void *out, size_t cap)
{
    if (t->wbio == NULL || cap == 0)
        return 0;
    int n = BIO_read(t->wbio, out, cap > INT_MAX ? INT_MAX : (int)cap);
    return n > 0 ? (size_t)n : 0;
}

int desk_tls_close(desk_tls_t *t)
{
    if (t->state != DESK_TLS_OPEN && t->state != DESK_TLS_CLOSED)
        return -ENOTCONN;
    if (t->sent_close)
        return 0;
    ERR_clear_error();
    /* 0: our close_notify is written, the peer's not yet seen; 1: both. */
    (void)SSL_shutdown(t->ssl);
    ERR_clear_error();
    t->sent_close = 1;
    return 0;
}
