/*
 * config.c - desk.toml into desk_config_t; see config.h.
 *
 * Two passes over the tree that toml_shim.cc parsed:
 *   1. a scan of every key anywhere for literal secrets (a key whose name
 *      says it holds a credential, given a literal value), so that a secret
 *      written into the file is reported even inside a table that is
 *      otherwise wrong;
 *   2. the schema walk: each table's entries in file order, every key known,
 *      typed and range-checked, then the cross-checks (unique names, an
 *      instrument's venue naming a connector, default thread numbers).
 * Every error is -EINVAL with "FILE:LINE: what" naming the dotted key
 * (connector[0].options.api_key); on any failure *cfg is zeroed, which also
 * wipes credentials that were already resolved.
 *
 * Everything here is cold and single-threaded; nothing is kept between calls.
 */
#include "core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/fixed.h"
#include "core/toml_shim.h"

#define CFG_KV_CAP 64           /* entries listed per table; no schema table has more */
#define CFG_PATH_CAP 192        /* a dotted key path, for messages */
#define CFG_FILE_MAX (16 << 20) /* desk.toml larger than this is refused */
#define CFG_DEPTH_MAX 64        /* nesting scanned for secrets (the parser caps it too) */
#define CFG_CPU_MAX 1023        /* largest CPU number (CPU_SETSIZE - 1) */
#define CFG_NO_THREAD (-1)      /* connector thread not given in the file */

/* Load state: the output and what the cross-checks need. */
typedef struct cfg_ctx {
    desk_config_t *cfg;                   /* output (caller storage) */
    const char *file;                     /* source name for messages */
    int conn_line[DESK_MAX_CONNECTORS];   /* line of each connector's name */
    int inst_line[DESK_MAX_INSTRUMENTS];  /* line of each instrument's symbol */
    int strat_line[DESK_MAX_STRATEGIES];  /* line of each strategy's name */
} cfg_ctx_t;

/* ------------------------------------------------------------------ */
/* Messages                                                             */
/* ------------------------------------------------------------------ */

/* Record "FILE:LINE: <fmt>" as the error and return -EINVAL. */
DESK_PRINTF(3, 4) static int cfg_fail(const cfg_ctx_t *c, int line, const char *fmt, ...)
{
    char msg[448];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return DESK_ERR(-EINVAL, "%s:%d: %s", c->file, line > 0 ? line : 1, msg);
}

/* out = prefix.key (or key alone at the root); cut keys are for messages only. */
static void cfg_path(char *out, const char *prefix, const char *key, size_t keylen)
{
    int klen = keylen > 96 ? 96 : (int)keylen;

    if (prefix[0] == '\0')
        snprintf(out, CFG_PATH_CAP, "%.*s", klen, key);
    else
        snprintf(out, CFG_PATH_CAP, "%.120s.%.*s", prefix, klen, key);
}

/* True if the key's bytes are exactly the C string `s`. */
static int key_is(const desk_toml_kv_t *kv, const char *s)
{
    size_t n = strlen(s);

    return kv->keylen == n && memcmp(kv->key, s, n) == 0;
}

/* "a string" / "an integer": the article for a type name in messages. */
static const char *cfg_a(desk_toml_type_t t)
{
    return (t == DESK_TOML_INT || t == DESK_TOML_ARRAY) ? "an" : "a";
}

static int cfg_type_err(const cfg_ctx_t *c, int line, const char *path, const char *want,
                        desk_toml_type_t got)
{
    return cfg_fail(c, line, "'%s' must be %s, not %s %s", path, want, cfg_a(got),
                    desk_toml_type_name(got));
}

static int cfg_unknown(const cfg_ctx_t *c, const desk_toml_kv_t *kv, const char *path)
{
    return cfg_fail(c, kv->line, "unknown key '%s'", path);
}

static int cfg_missing(const cfg_ctx_t *c, int line, const char *prefix, const char *key)
{
    if (prefix[0] == '\0')
        return cfg_fail(c, line, "missing required key '%s'", key);
    return cfg_fail(c, line, "missing required key '%s.%s'", prefix, key);
}

/* List a table's entries in file order.  Returns the count (maybe > CFG_KV_CAP). */
static int cfg_entries(const cfg_ctx_t *c, const desk_toml_node_t *t, desk_toml_kv_t *kv)
{
    int n = desk_toml_table_entries(t, kv, CFG_KV_CAP);

    if (n == -ENOMEM)
        return DESK_ERR(-ENOMEM, "%s: out of memory", c->file);
    return n;
}

/* Entries actually written to kv[] by cfg_entries(). */
static int cfg_listed(int n)
{
    return n > CFG_KV_CAP ? CFG_KV_CAP : n;
}

/* ------------------------------------------------------------------ */
/* Pass 1: literal secrets anywhere                                     */
/* ------------------------------------------------------------------ */

/* True if the lower-cased key contains a word that marks a credential. */
static int cfg_secret_name(const char *key, size_t len)
{
    static const char *const words[] = {"key", "secret", "password", "passphrase", "token"};
    char low[128];

    if (len >= sizeof low)
        len = sizeof low - 1; /* a word past 127 bytes of key is not worth finding */
    for (size_t i = 0; i < len; i++) {
        char ch = key[i];
        low[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
        if (low[i] == '\0')
            low[i] = ' '; /* keep strstr going past a NUL inside the key */
    }
    low[len] = '\0';
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++)
        if (strstr(low, words[w]) != NULL)
            return 1;
    return 0;
}

/* Refuse a literal value under a secret-looking key in `n` and below. */
static int cfg_scan_secrets(const cfg_ctx_t *c, const desk_toml_node_t *n, const char *path,
                            int depth)
{
    desk_toml_kv_t kv[CFG_KV_CAP];
    char sub[CFG_PATH_CAP];

    if (depth > CFG_DEPTH_MAX)
        return cfg_fail(c, desk_toml_line(n), "'%s' is nested too deeply", path);
    if (desk_toml_type(n) == DESK_TOML_ARRAY) {
        size_t na = desk_toml_array_size(n);
        for (size_t i = 0; i < na; i++) {
            const desk_toml_node_t *e = desk_toml_array_at(n, i);
            desk_toml_type_t et = desk_toml_type(e);
            if (et != DESK_TOML_TABLE && et != DESK_TOML_ARRAY)
                continue;
            snprintf(sub, sizeof sub, "%.160s[%zu]", path, i);
            int rc = cfg_scan_secrets(c, e, sub, depth + 1);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    if (desk_toml_type(n) != DESK_TOML_TABLE)
        return 0;
    int n_all = cfg_entries(c, n, kv);
    if (n_all < 0)
        return n_all;
    /* A table with more than CFG_KV_CAP keys fails the schema walk anyway;
     * its first CFG_KV_CAP keys (in file order) are scanned. */
    for (int i = 0; i < cfg_listed(n_all); i++) {
        desk_toml_type_t t = desk_toml_type(kv[i].val);
        cfg_path(sub, path, kv[i].key, kv[i].keylen);
        if (cfg_secret_name(kv[i].key, kv[i].keylen) &&
            (t == DESK_TOML_STRING || t == DESK_TOML_INT || t == DESK_TOML_FLOAT ||
             t == DESK_TOML_ARRAY))
            return cfg_fail(c, kv[i].line,
                            "'%s' is a literal secret: use { env = \"VAR\" } or "
                            "{ file = \"/path\" }",
                            sub);
        if (t == DESK_TOML_TABLE || t == DESK_TOML_ARRAY) {
            int rc = cfg_scan_secrets(c, kv[i].val, sub, depth + 1);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Typed getters: each names the key and its line on error              */
/* ------------------------------------------------------------------ */

/* A string without NUL bytes (borrowed from the document). */
static int cfg_strv(const cfg_ctx_t *c, const desk_toml_kv_t *kv, const char *path,
                    const char **s, size_t *len)
{
    desk_toml_type_t t = desk_toml_type(kv->val);

    if (desk_toml_get_string(kv->val, s, len) < 0)
        return cfg_type_err(c, kv->line, path, "a string", t);
    if (memchr(*s, '\0', *len) != NULL)
        return cfg_fail(c, kv->line, "'%s' contains a NUL character", path);
    return 0;
}

/* Copy a string into dst[cap]; too long is an error, never a cut. */
static int cfg_str(const cfg_ctx_t *c, const desk_toml_kv_t *kv, const char *path, char *dst,
                   size_t cap)
{
    const char *s;
    size_t len;
    int rc = cfg_strv(c, kv, path, &s, &len);

    if (rc < 0)
        return rc;
    if (len >= cap)
        return cfg_fail(c, kv->line, "'%s' is too long: %zu bytes (at most %zu)", path, len,
                        cap - 1);
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

/* A name: [A-Za-z0-9_-]{1,31}, as it becomes part of a /dev/shm name. */
static int cfg_name(const cfg_ctx_t *c, const desk_toml_kv_t *kv, const char *path, char *dst)
{
    int rc = cfg_str(c, kv, path, dst, DESK_NAME_MAX);

    if (rc < 0)
        return rc;
    if (dst[0] == '\0')
        return cfg_fail(c, kv->line, "'%s' is empty", path);
    for (const char *p = dst; *p != '\0'; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return cfg_fail(c, kv->line, "'%s' = \"%s\": use only letters, digits, '_' and '-'",
                            path, dst);
    }
    return 0;
}

/* An integer in [lo, hi]. */
static int cfg_int(const cfg_ctx_t *c, const desk_toml_kv_t *kv, const char *path, int64_t lo,
                   int64_t hi, int64_t *out)
{
    int64_t v = 0;

    if (desk_toml_get_int(kv->val, &v) < 0)
        return cfg_type_err(c, kv->line, path, "an integer", desk_toml_type(kv->val));
    if (v < lo || v > hi)
        return cfg_fail(c, kv->line, "'%s' = %lld is out of range (%lld..%lld)", path,
                        (long long)v, (long long)lo, (long long)hi);
    *out = v;
    return 0;
}

/* An unsigned 32-bit integer in [lo, hi]. */
static int cfg_u32(const cfg_ctx_t *c, const desk_toml_kv_t *kv, const char *path, uint32_t lo,
                   uint32_t hi, uint32_t *out)
{
    int64_t v = 0;
    int rc = cfg_int(c, kv, path, lo, hi, &v);

    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

/* A power of two in [lo, hi]. */
static int cfg_pow2(const cfg_ctx_t *c, const desk_toml_kv_t *kv, const char *path, uint32_t lo,
                    uint32_t hi, uint32_t *out)
{
    uint32_t v = 0;
    int rc = cfg_u32(c, kv, path, lo, hi, &v);

    if (rc < 0)
        return rc;
    if ((v & (v - 1)) != 0)
        return cfg_fail(c, kv->line, "'%s' = %u is not a power of two", path, v);
    *out = v;
    return 0;
}

/* A CPU number, or -1 for "not pinned". */
static int cfg_cpu(const cfg_ctx_t *c, const desk_toml_kv_t *kv, const char *path, int *out)
{
    int64_t v = 0;
    int rc = cfg_int(c, kv, path, -1, CFG_CPU_MAX, &v);

    if (rc == 0)
        *out = (int)v;
    return rc;
}

static int cfg_bool(const cfg_ctx_t *c, const desk_toml_kv_t *kv, const char *path, int *out)
{
    if (desk_toml_get_bool(kv->val, out) < 0)
        return cfg_type_err(c, kv->line, path, "true or false", desk_toml_type(kv->val));
    return 0;
}

/*
 * A decimal: a string for desk_fixed_parse() or an integer scaled by 1e8.
 * A float is refused, since it was already rounded when it was written.
 * The value must be >= 0, or > 0 when `strict` is set.
 */
static int cfg_decimal(const cfg_ctx_t *c, const desk_toml_kv_t *kv, const char *path,
                       int strict, int64_t *out)
{
    desk_toml_type_t t = desk_toml_type(kv->val);
    int64_t v, iv;
    double d;
    const char *s;
    size_t len;

    if (desk_toml_get_float(kv->val, &d) == 0)
        return cfg_fail(c, kv->line,
                        "'%s' is a float: write it as a string: \"%.15g\" (decimals must be exact)",
                        path, d);
    if (desk_toml_get_int(kv->val, &iv) == 0) {
        if (__builtin_mul_overflow(iv, DESK_SCALE, &v))
            return cfg_fail(c, kv->line, "'%s' = %lld is too large", path, (long long)iv);
    } else if (desk_toml_get_string(kv->val, &s, &len) == 0) {
        int rc = desk_fixed_parse(s, len, &v);
        if (rc == -ERANGE)
            return cfg_fail(c, kv->line,
                            "'%s' = \"%.40s\" cannot be represented exactly (8 decimals, "
                            "about 92 billion at most)",
                            path, s);
        if (rc < 0)
            return cfg_fail(c, kv->line, "'%s' = \"%.40s\" is not a decimal number", path, s);
    } else {
        return cfg_type_err(c, kv->line, path, "a decimal string such as \"0.01\"", t);
    }
    if (strict ? v <= 0 : v < 0)
        return cfg_fail(c, kv->line, "'%s' must be %s", path, strict ? "> 0" : ">= 0");
    *out = v;
    return 0;
}

/* A table value (or a type error naming the key). */
static int cfg_want_table(const cfg_ctx_t *c, const desk_toml_kv_t *kv, const char *path)
{
    desk_toml_type_t t = desk_toml_type(kv->val);

    if (t != DESK_TOML_TABLE)
        return cfg_type_err(c, kv->line, path, "a table", t);
    return 0;
}

/* Map `s` to an enum value through a table of names; -1 if not found. */
static int cfg_lookup(const char *s, const char *const *names, const int *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return values[i];
    return -1;
}

/* ------------------------------------------------------------------ */
/* Limits: [guard], [strategy.limits], [instrument.limits]              */
/* ------------------------------------------------------------------ */

/* `halt_cancels_all` is non-NULL for [guard] only: the one key there that is
 * not a limit (the kill switch's option, desk_config_t.halt_cancels_all). */
static int cfg_limits(const cfg_ctx_t *c, const desk_toml_node_t *t, const char *prefix,
                      desk_limits_t *l, int *halt_cancels_all)
{
    desk_toml_kv_t kv[CFG_KV_CAP];
    char path[CFG_PATH_CAP];
    int burst_set = 0;
    int n = cfg_entries(c, t, kv);

    if (n < 0)
        return n;
    for (int i = 0; i < cfg_listed(n); i++) {
        const desk_toml_kv_t *e = &kv[i];
        int rc;

        cfg_path(path, prefix, e->key, e->keylen);
        if (key_is(e, "max_order_qty"))
            rc = cfg_decimal(c, e, path, 0, &l->max_order_qty);
        else if (key_is(e, "max_order_notional"))
            rc = cfg_decimal(c, e, path, 0, &l->max_order_notional);
        else if (key_is(e, "max_position_qty"))
            rc = cfg_decimal(c, e, path, 0, &l->max_position_qty);
        else if (key_is(e, "max_position_notional"))
            rc = cfg_decimal(c, e, path, 0, &l->max_position_notional);
        else if (key_is(e, "daily_loss"))
            rc = cfg_decimal(c, e, path, 0, &l->daily_loss);
        else if (key_is(e, "collar_bps"))
            rc = cfg_u32(c, e, path, 0, UINT32_MAX, &l->collar_bps);
        else if (key_is(e, "orders_per_sec"))
            rc = cfg_u32(c, e, path, 0, UINT32_MAX, &l->orders_per_sec);
        else if (key_is(e, "burst")) {
            rc = cfg_u32(c, e, path, 0, UINT32_MAX, &l->burst);
            burst_set = 1;
        } else if (halt_cancels_all != NULL && key_is(e, "halt_cancels_all"))
            rc = cfg_bool(c, e, path, halt_cancels_all);
        else
            rc = cfg_unknown(c, e, path);
        if (rc < 0)
            return rc;
    }
    if (!burst_set)
        l->burst = l->orders_per_sec; /* a bucket one second deep */
    return 0;
}

/* ------------------------------------------------------------------ */
/* [desk]                                                               */
/* ------------------------------------------------------------------ */

static int cfg_desk(cfg_ctx_t *c, const desk_toml_node_t *t)
{
    desk_config_t *cfg = c->cfg;
    desk_toml_kv_t kv[CFG_KV_CAP];
    char path[CFG_PATH_CAP];
    int have_name = 0;
    int n = cfg_entries(c, t, kv);

    if (n < 0)
        return n;
    for (int i = 0; i < cfg_listed(n); i++) {
        const desk_toml_kv_t *e = &kv[i];
        int rc;

        cfg_path(path, "desk", e->key, e->keylen);
        if (key_is(e, "name")) {
            rc = cfg_name(c, e, path, cfg->name);
            have_name = 1;
        } else if (key_is(e, "idle")) {
            char word[16];
            desk_idle_t idle;
            rc = cfg_str(c, e, path, word, sizeof word);
            if (rc == 0 && desk_idle_parse(word, &idle) < 0)
                rc = cfg_fail(c, e->line, "'%s' = \"%s\": use spin, yield or backoff", path, word);
            if (rc == 0)
                cfg->idle = (uint8_t)idle;
        } else if (key_is(e, "idle_max_us"))
            rc = cfg_u32(c, e, path, 1, 1000000, &cfg->idle_max_us);
        else if (key_is(e, "router_cpu"))
            rc = cfg_cpu(c, e, path, &cfg->router_cpu);
        else if (key_is(e, "order_capacity"))
            rc = cfg_pow2(c, e, path, 1024, 4194304, &cfg->order_capacity);
        else if (key_is(e, "status_interval_ms"))
            rc = cfg_u32(c, e, path, 10, 10000, &cfg->status_interval_ms);
        else if (key_is(e, "clordids_per_day")) {
            int64_t v = 0;
            rc = cfg_int(c, e, path, 1024, 1 << 30, &v);
            if (rc == 0)
                cfg->clordids_per_day = (uint64_t)v;
        }
        else
            rc = cfg_unknown(c, e, path);
        if (rc < 0)
            return rc;
    }
    if (!have_name)
        return cfg_missing(c, desk_toml_line(t), "desk", "name");
    return 0;
}

/* ------------------------------------------------------------------ */
/* [[connector]] and its [connector.options]                            */
/* ------------------------------------------------------------------ */

/* Read a credential file (relative paths are relative to desk.toml's directory). */
static int cfg_read_secret(const cfg_ctx_t *c, int line, const char *path, const char *file,
                           char *out, size_t cap, size_t *outlen)
{
    char full[DESK_PATH_MAX * 2 + 2];
    struct stat st;
    size_t got = 0;
    int fd;

    if (file[0] == '/')
        snprintf(full, sizeof full, "%s", file);
    else
        snprintf(full, sizeof full, "%s/%s", c->cfg->dir, file);
    fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return cfg_fail(c, line, "'%s': cannot read credential file %s: %s", path, full,
                        strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cfg_fail(c, line, "'%s': credential file %s is not a regular file", path, full);
    }
    /* Read one byte more than fits, to tell "too long" from "exactly full". */
    while (got < cap) {
        ssize_t r = read(fd, out + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return cfg_fail(c, line, "'%s': cannot read credential file %s: %s", path, full,
                            strerror(e));
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    *outlen = got;
    return 0;
}

/*
 * Resolve a credential reference { env = "VAR" } or { file = "/path" } into
 * o->value; the trailing newline of a file is dropped.
 */
static int cfg_credential(const cfg_ctx_t *c, const desk_toml_kv_t *kv, const char *path,
                          desk_opt_store_t *o)
{
    desk_toml_kv_t ref[CFG_KV_CAP];
    char sub[CFG_PATH_CAP];
    char buf[DESK_OPT_VALUE_MAX + 1];
    const char *what;
    size_t len = 0;
    int n = cfg_entries(c, kv->val, ref);

    if (n < 0)
        return n;
    if (n != 1 || !(key_is(&ref[0], "env") || key_is(&ref[0], "file")))
        return cfg_fail(c, kv->line,
                        "'%s' must be { env = \"VAR\" } or { file = \"/path\" } (one key)", path);
    cfg_path(sub, path, ref[0].key, ref[0].keylen);
    int rc = cfg_strv(c, &ref[0], sub, &what, &len);
    if (rc < 0)
        return rc;
    if (len == 0 || len >= DESK_PATH_MAX)
        return cfg_fail(c, ref[0].line, "'%s' must be 1..%d bytes", sub, DESK_PATH_MAX - 1);
    if (key_is(&ref[0], "env")) {
        const char *v = getenv(what);
        if (v == NULL)
            return cfg_fail(c, kv->line, "'%s': environment variable %s is not set", path, what);
        len = strlen(v);
        if (len >= DESK_OPT_VALUE_MAX)
            return cfg_fail(c, kv->line, "'%s': environment variable %s is too long (max %d)",
                            path, what, DESK_OPT_VALUE_MAX - 1);
        memcpy(buf, v, len);
    } else {
        rc = cfg_read_secret(c, kv->line, path, what, buf, DESK_OPT_VALUE_MAX, &len);
        if (rc < 0)
            return rc;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            len--;
        if (len >= DESK_OPT_VALUE_MAX || memchr(buf, '\0', len) != NULL) {
            explicit_bzero(buf, sizeof buf);
            return cfg_fail(c, kv->line, "'%s': credential file %s is %s", path, what,
                            len >= DESK_OPT_VALUE_MAX ? "too long" : "binary (has a NUL byte)");
        }
    }
    if (len == 0)
        return cfg_fail(c, kv->line, "'%s': credential %s %s is empty", path,
                        key_is(&ref[0], "env") ? "variable" : "file", what);
    memcpy(o->value, buf, len);
    o->value[len] = '\0';
    o->secret = 1;
    explicit_bzero(buf, sizeof buf);
    return 0;
}

static int cfg_options(cfg_ctx_t *c, const desk_toml_kv_t *okv, const char *prefix,
                       desk_connector_conf_t *cc)
{
    desk_toml_kv_t kv[CFG_KV_CAP];
    char path[CFG_PATH_CAP];
    int n = cfg_entries(c, okv->val, kv);

    if (n < 0)
        return n;
    if (n > DESK_MAX_OPTS)
        return cfg_fail(c, okv->line, "'%s' has %d options (at most %d)", prefix, n,
                        DESK_MAX_OPTS);
    for (int i = 0; i < n; i++) {
        const desk_toml_kv_t *e = &kv[i];
        desk_opt_store_t *o = &cc->opts[cc->nopts];
        desk_toml_type_t t = desk_toml_type(e->val);
        int64_t iv;
        int bv;
        int rc = 0;

        cfg_path(path, prefix, e->key, e->keylen);
        if (e->keylen == 0 || e->keylen >= DESK_NAME_MAX || memchr(e->key, '\0', e->keylen))
            return cfg_fail(c, e->line, "'%s': option names are 1..%d bytes", path,
                            DESK_NAME_MAX - 1);
        memcpy(o->key, e->key, e->keylen);
        o->key[e->keylen] = '\0';
        o->line = e->line;
        switch (t) {
        case DESK_TOML_STRING:
            rc = cfg_str(c, e, path, o->value, sizeof o->value);
            break;
        case DESK_TOML_INT:
            desk_toml_get_int(e->val, &iv);
            snprintf(o->value, sizeof o->value, "%lld", (long long)iv);
            break;
        case DESK_TOML_BOOL:
            desk_toml_get_bool(e->val, &bv);
            snprintf(o->value, sizeof o->value, "%s", bv ? "true" : "false");
            break;
        case DESK_TOML_FLOAT:
            rc = cfg_fail(c, e->line,
                          "'%s' is a float: write decimals as strings: they must be exact", path);
            break;
        case DESK_TOML_TABLE:
            rc = cfg_credential(c, e, path, o);
            break;
        default:
            rc = cfg_type_err(c, e->line, path,
                              "a string, an integer, a boolean or { env = \"VAR\" }", t);
            break;
        }
        if (rc < 0)
            return rc;
        cc->nopts++;
    }
    return 0;
}

static int cfg_connector(cfg_ctx_t *c, const desk_toml_node_t *t, uint32_t idx)
{
    static const char *const vt_names[] = {"equities", "options", "crypto", "futures", "cash"};
    static const int vt_values[] = {DESK_VENUE_EQUITIES, DESK_VENUE_OPTIONS, DESK_VENUE_CRYPTO,
                                    DESK_VENUE_FUTURES, DESK_VENUE_CASH};
    desk_connector_conf_t *cc = &c->cfg->connectors[idx];
    desk_toml_kv_t kv[CFG_KV_CAP];
    char prefix[CFG_PATH_CAP];
    char path[CFG_PATH_CAP];
    int have_name = 0, have_type = 0, have_vt = 0, path_line = 0;
    int n = cfg_entries(c, t, kv);

    if (n < 0)
        return n;
    snprintf(prefix, sizeof prefix, "connector[%u]", idx);
    cc->cpu = -1;
    cc->thread = CFG_NO_THREAD;
    for (int i = 0; i < cfg_listed(n); i++) {
        const desk_toml_kv_t *e = &kv[i];
        int rc;

        cfg_path(path, prefix, e->key, e->keylen);
        if (key_is(e, "name")) {
            rc = cfg_name(c, e, path, cc->name);
            have_name = 1;
            c->conn_line[idx] = e->line;
            for (uint32_t j = 0; rc == 0 && j < idx; j++)
                if (strcmp(c->cfg->connectors[j].name, cc->name) == 0)
                    rc = cfg_fail(c, e->line,
                                  "'%s' = \"%s\": duplicate connector name (first at line %d)",
                                  path, cc->name, c->conn_line[j]);
        } else if (key_is(e, "type")) {
            rc = cfg_str(c, e, path, cc->type, sizeof cc->type);
            if (rc == 0 && strcmp(cc->type, "paper") != 0 && strcmp(cc->type, "custom") != 0 &&
                strcmp(cc->type, "alpaca") != 0 && strcmp(cc->type, "fix") != 0)
                rc = cfg_fail(c, e->line,
                              "'%s' = \"%s\": use \"paper\", \"alpaca\", \"fix\" or \"custom\"",
                              path, cc->type);
            have_type = 1;
        } else if (key_is(e, "path")) {
            rc = cfg_str(c, e, path, cc->path, sizeof cc->path);
            if (rc == 0 && cc->path[0] == '\0')
                rc = cfg_fail(c, e->line, "'%s' is empty", path);
            path_line = e->line;
        } else if (key_is(e, "venue_type")) {
            char word[16];
            rc = cfg_str(c, e, path, word, sizeof word);
            int v = rc == 0 ? cfg_lookup(word, vt_names, vt_values, 5) : 0;
            if (v < 0)
                rc = cfg_fail(c, e->line,
                              "'%s' = \"%s\": use equities, options, crypto, futures or cash",
                              path, word);
            cc->venue_type = (uint8_t)(v > 0 ? v : 0);
            have_vt = 1;
        } else if (key_is(e, "cpu")) {
            rc = cfg_cpu(c, e, path, &cc->cpu);
        } else if (key_is(e, "thread")) {
            int64_t v = 0;
            rc = cfg_int(c, e, path, 0, DESK_MAX_CONNECTORS - 1, &v);
            if (rc == 0)
                cc->thread = (int)v;
        } else if (key_is(e, "options")) {
            rc = cfg_want_table(c, e, path);
            if (rc == 0)
                rc = cfg_options(c, e, path, cc);
        } else {
            rc = cfg_unknown(c, e, path);
        }
        if (rc < 0)
            return rc;
    }
    int line = desk_toml_line(t);
    if (!have_name)
        return cfg_missing(c, line, prefix, "name");
    if (!have_type)
        return cfg_missing(c, line, prefix, "type");
    if (!have_vt)
        return cfg_missing(c, line, prefix, "venue_type");
    if (strcmp(cc->type, "custom") == 0 && cc->path[0] == '\0')
        return cfg_fail(c, line, "missing required key '%s.path' (type = \"custom\")", prefix);
    if (strcmp(cc->type, "custom") != 0 && path_line != 0)
        return cfg_fail(c, path_line, "'%s.path' is only for type = \"custom\"", prefix);
    return 0;
}

/* Give each connector without `thread` a number of its own (unused by any other). */
static void cfg_assign_threads(desk_config_t *cfg)
{
    int used[DESK_MAX_CONNECTORS] = {0};

    for (uint32_t i = 0; i < cfg->nconnectors; i++)
        if (cfg->connectors[i].thread != CFG_NO_THREAD)
            used[cfg->connectors[i].thread] = 1;
    for (uint32_t i = 0; i < cfg->nconnectors; i++) {
        if (cfg->connectors[i].thread != CFG_NO_THREAD)
            continue;
        /* At most DESK_MAX_CONNECTORS connectors, so a free number always exists. */
        int k = 0;
        while (k < DESK_MAX_CONNECTORS - 1 && used[k])
            k++;
        used[k] = 1;
        cfg->connectors[i].thread = k;
    }
}

/* ------------------------------------------------------------------ */
/* [[instrument]]                                                       */
/* ------------------------------------------------------------------ */

/* Parse two digits at s into 0..max; -1 if not. */
static int cfg_2dig(const char *s, int max)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -1;
    int v = (s[0] - '0') * 10 + (s[1] - '0');
    return v <= max ? v : -1;
}

/* "always" -> -1/-1; "HH:MM-HH:MM" -> minutes of the UTC day. */
static int cfg_hours(const cfg_ctx_t *c, const desk_toml_kv_t *kv, const char *path,
                     desk_instrument_conf_t *ic)
{
    char h[16];
    int rc = cfg_str(c, kv, path, h, sizeof h);

    if (rc < 0)
        return rc;
    if (strcmp(h, "always") == 0) {
        ic->open_min = ic->close_min = -1;
        return 0;
    }
    int oh = -1, om = -1, ch = -1, cm = -1;
    if (strlen(h) == 11 && h[2] == ':' && h[5] == '-' && h[8] == ':') {
        oh = cfg_2dig(h, 23);
        om = cfg_2dig(h + 3, 59);
        ch = cfg_2dig(h + 6, 23);
        cm = cfg_2dig(h + 9, 59);
    }
    if (oh < 0 || om < 0 || ch < 0 || cm < 0)
        return cfg_fail(c, kv->line, "'%s' = \"%s\": use \"HH:MM-HH:MM\" (UTC) or \"always\"",
                        path, h);
    ic->open_min = oh * 60 + om;
    ic->close_min = ch * 60 + cm;
    if (ic->open_min == ic->close_min)
        return cfg_fail(c, kv->line, "'%s' = \"%s\" opens and closes at once: use \"always\"",
                        path, h);
    return 0;
}

static int cfg_instrument(cfg_ctx_t *c, const desk_toml_node_t *t, uint32_t idx)
{
    static const char *const ac_names[] = {"equity", "option", "crypto", "future", "cash"};
    static const int ac_values[] = {DESK_ASSET_EQUITY, DESK_ASSET_OPTION, DESK_ASSET_CRYPTO,
                                    DESK_ASSET_FUTURE, DESK_ASSET_CASH};
    desk_config_t *cfg = c->cfg;
    desk_instrument_conf_t *ic = &cfg->instruments[idx];
    desk_toml_kv_t kv[CFG_KV_CAP];
    char prefix[CFG_PATH_CAP];
    char path[CFG_PATH_CAP];
    int have_sym = 0, have_venue = 0, have_ac = 0, have_tick = 0, have_lot = 0;
    int venue_line = 0;
    int n = cfg_entries(c, t, kv);

    if (n < 0)
        return n;
    snprintf(prefix, sizeof prefix, "instrument[%u]", idx);
    ic->open_min = ic->close_min = -1;
    for (int i = 0; i < cfg_listed(n); i++) {
        const desk_toml_kv_t *e = &kv[i];
        int rc;

        cfg_path(path, prefix, e->key, e->keylen);
        if (key_is(e, "symbol")) {
            rc = cfg_str(c, e, path, ic->symbol, sizeof ic->symbol);
            for (const char *p = ic->symbol; rc == 0 && *p != '\0'; p++)
                if (*p <= ' ' || *p > '~')
                    rc = cfg_fail(c, e->line, "'%s' = \"%s\": printable ASCII, no spaces", path,
                                  ic->symbol);
            if (rc == 0 && ic->symbol[0] == '\0')
                rc = cfg_fail(c, e->line, "'%s' is empty", path);
            c->inst_line[idx] = e->line;
            have_sym = 1;
        } else if (key_is(e, "venue")) {
            rc = cfg_str(c, e, path, ic->venue, sizeof ic->venue);
            venue_line = e->line;
            have_venue = 1;
        } else if (key_is(e, "asset_class")) {
            char word[16];
            rc = cfg_str(c, e, path, word, sizeof word);
            int v = rc == 0 ? cfg_lookup(word, ac_names, ac_values, 5) : 0;
            if (v < 0)
                rc = cfg_fail(c, e->line,
                              "'%s' = \"%s\": use equity, option, crypto, future or cash", path,
                              word);
            ic->asset_class = (uint8_t)(v > 0 ? v : 0);
            have_ac = 1;
        } else if (key_is(e, "tick_size")) {
            rc = cfg_decimal(c, e, path, 1, &ic->tick_size);
            have_tick = 1;
        } else if (key_is(e, "lot_size")) {
            rc = cfg_decimal(c, e, path, 1, &ic->lot_size);
            have_lot = 1;
        } else if (key_is(e, "min_notional")) {
            rc = cfg_decimal(c, e, path, 0, &ic->min_notional);
        } else if (key_is(e, "hours")) {
            rc = cfg_hours(c, e, path, ic);
        } else if (key_is(e, "limits")) {
            rc = cfg_want_table(c, e, path);
            if (rc == 0)
                rc = cfg_limits(c, e->val, path, &ic->limits, NULL);
        } else {
            rc = cfg_unknown(c, e, path);
        }
        if (rc < 0)
            return rc;
    }
    int line = desk_toml_line(t);
    if (!have_sym)
        return cfg_missing(c, line, prefix, "symbol");
    if (!have_venue)
        return cfg_missing(c, line, prefix, "venue");
    if (!have_ac)
        return cfg_missing(c, line, prefix, "asset_class");
    if (!have_tick)
        return cfg_missing(c, line, prefix, "tick_size");
    if (!have_lot)
        return cfg_missing(c, line, prefix, "lot_size");
    uint32_t v = 0;
    while (v < cfg->nconnectors && strcmp(cfg->connectors[v].name, ic->venue) != 0)
        v++;
    if (v == cfg->nconnectors)
        return cfg_fail(c, venue_line, "'%s.venue' = \"%s\" names no [[connector]]", prefix,
                        ic->venue);
    for (uint32_t j = 0; j < idx; j++)
        if (strcmp(cfg->instruments[j].symbol, ic->symbol) == 0 &&
            strcmp(cfg->instruments[j].venue, ic->venue) == 0)
            return cfg_fail(c, c->inst_line[idx],
                            "'%s.symbol' = \"%s\": duplicate instrument on venue '%s' "
                            "(first at line %d)",
                            prefix, ic->symbol, ic->venue, c->inst_line[j]);
    return 0;
}

/* ------------------------------------------------------------------ */
/* [[strategy]]                                                         */
/* ------------------------------------------------------------------ */

/* A numeric id given as a string of digits: 1 and *out set, else 0. */
static int cfg_numeric_id(const char *s, int64_t *out)
{
    int64_t v = 0;

    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > 0xfffffffe / 10)
            return 0;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 1;
}

/* owner / group: a name (passwd / group database) or a number. */
static int cfg_ident(const cfg_ctx_t *c, const desk_toml_kv_t *kv, const char *path, int group,
                     uint32_t *out)
{
    char name[256];
    int64_t id = 0;
    int rc;

    if (desk_toml_type(kv->val) == DESK_TOML_INT) {
        rc = cfg_int(c, kv, path, 0, 0xfffffffe, &id); /* (uid_t)-1 means "none" */
        if (rc == 0)
            *out = (uint32_t)id;
        return rc;
    }
    if (desk_toml_type(kv->val) != DESK_TOML_STRING)
        return cfg_type_err(c, kv->line, path, group ? "a group name or gid" : "a user name or uid",
                            desk_toml_type(kv->val));
    rc = cfg_str(c, kv, path, name, sizeof name);
    if (rc < 0)
        return rc;
    if (cfg_numeric_id(name, &id)) {
        *out = (uint32_t)id;
        return 0;
    }
    if (name[0] == '\0')
        return cfg_fail(c, kv->line, "'%s' is empty", path);

    /* getpw/grnam_r want a buffer; grow it while the entry does not fit. */
    size_t cap = 16384;
    for (;;) {
        char *buf = malloc(cap);
        int found = 0, err;
        if (buf == NULL)
            return DESK_ERR(-ENOMEM, "%s: out of memory", c->file);
        if (group) {
            struct group gr, *res = NULL;
            err = getgrnam_r(name, &gr, buf, cap, &res);
            if (err == 0 && res != NULL) {
                *out = (uint32_t)res->gr_gid;
                found = 1;
            }
        } else {
            struct passwd pw, *res = NULL;
            err = getpwnam_r(name, &pw, buf, cap, &res);
            if (err == 0 && res != NULL) {
                *out = (uint32_t)res->pw_uid;
                found = 1;
            }
        }
        free(buf);
        if (found)
            return 0;
        if (err == ERANGE && cap < (1u << 20)) {
            cap *= 2;
            continue;
        }
        /* 0, ENOENT, ESRCH, EBADF, EPERM all mean "no such entry" to us. */
        if (err != 0 && err != ENOENT && err != ESRCH && err != EBADF && err != EPERM)
            return cfg_fail(c, kv->line, "'%s' = \"%s\": cannot look it up: %s", path, name,
                            strerror(err));
        return cfg_fail(c, kv->line, "'%s' = \"%s\": no such %s", path, name,
                        group ? "group" : "user");
    }
}

/* mode: an octal string ("0600"), permission bits only. */
static int cfg_mode(const cfg_ctx_t *c, const desk_toml_kv_t *kv, const char *path,
                    uint32_t *out)
{
    char s[8];
    uint32_t v = 0;
    int rc;

    if (desk_toml_type(kv->val) == DESK_TOML_INT)
        return cfg_fail(c, kv->line, "'%s' must be an octal string such as \"0600\"", path);
    rc = cfg_str(c, kv, path, s, sizeof s);
    if (rc < 0)
        return rc;
    if (s[0] == '\0')
        return cfg_fail(c, kv->line, "'%s' is empty: use an octal string such as \"0600\"", path);
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '7')
            return cfg_fail(c, kv->line, "'%s' = \"%s\" is not octal (\"0600\")", path, s);
        v = v * 8 + (uint32_t)(*p - '0');
    }
    if (v > 0777)
        return cfg_fail(c, kv->line, "'%s' = \"%s\": only permission bits (at most 0777)", path,
                        s);
    *out = v;
    return 0;
}

static int cfg_strategy(cfg_ctx_t *c, const desk_toml_node_t *t, uint32_t idx)
{
    desk_config_t *cfg = c->cfg;
    desk_strategy_conf_t *sc = &cfg->strategies[idx];
    desk_toml_kv_t kv[CFG_KV_CAP];
    char prefix[CFG_PATH_CAP];
    char path[CFG_PATH_CAP];
    int have_name = 0;
    int n = cfg_entries(c, t, kv);

    if (n < 0)
        return n;
    snprintf(prefix, sizeof prefix, "strategy[%u]", idx);
    sc->uid = geteuid();
    sc->gid = getegid();
    sc->mode = 0600;
    sc->cancel_on_disconnect = 1;
    sc->heartbeat_timeout_ms = 5000;
    sc->order_ring = 4096;
    sc->event_ring = 16384;
    for (int i = 0; i < cfg_listed(n); i++) {
        const desk_toml_kv_t *e = &kv[i];
        uint32_t id = 0;
        int rc;

        cfg_path(path, prefix, e->key, e->keylen);
        if (key_is(e, "name")) {
            rc = cfg_name(c, e, path, sc->name);
            have_name = 1;
            c->strat_line[idx] = e->line;
            for (uint32_t j = 0; rc == 0 && j < idx; j++)
                if (strcmp(cfg->strategies[j].name, sc->name) == 0)
                    rc = cfg_fail(c, e->line,
                                  "'%s' = \"%s\": duplicate strategy name (first at line %d)",
                                  path, sc->name, c->strat_line[j]);
        } else if (key_is(e, "owner")) {
            rc = cfg_ident(c, e, path, 0, &id);
            sc->uid = (uid_t)id;
        } else if (key_is(e, "group")) {
            rc = cfg_ident(c, e, path, 1, &id);
            sc->gid = (gid_t)id;
        } else if (key_is(e, "mode"))
            rc = cfg_mode(c, e, path, &sc->mode);
        else if (key_is(e, "cancel_on_disconnect"))
            rc = cfg_bool(c, e, path, &sc->cancel_on_disconnect);
        else if (key_is(e, "heartbeat_timeout_ms")) {
            rc = cfg_u32(c, e, path, 0, 86400000, &sc->heartbeat_timeout_ms);
            /* The control thread looks every 100 ms: a shorter timeout would
             * flag a strategy that polls often but not in step with it. */
            if (rc == 0 && sc->heartbeat_timeout_ms > 0 && sc->heartbeat_timeout_ms < 100)
                rc = cfg_fail(c, e->line, "'%s' = %u: must be 0 (off) or at least 100 ms", path,
                              sc->heartbeat_timeout_ms);
        } else if (key_is(e, "order_ring"))
            rc = cfg_pow2(c, e, path, 64, 1048576, &sc->order_ring);
        else if (key_is(e, "event_ring"))
            rc = cfg_pow2(c, e, path, 64, 1048576, &sc->event_ring);
        else if (key_is(e, "limits")) {
            rc = cfg_want_table(c, e, path);
            if (rc == 0)
                rc = cfg_limits(c, e->val, path, &sc->limits, NULL);
        } else
            rc = cfg_unknown(c, e, path);
        if (rc < 0)
            return rc;
    }
    if (!have_name)
        return cfg_missing(c, desk_toml_line(t), prefix, "name");
    return 0;
}

/* ------------------------------------------------------------------ */
/* The document                                                         */
/* ------------------------------------------------------------------ */

/*
 * Walk an array of tables ([[connector]] ...): check the type and the count,
 * then call fn on each element.
 */
static int cfg_array(cfg_ctx_t *c, const desk_toml_kv_t *kv, const char *what, uint32_t max,
                     uint32_t *count, int (*fn)(cfg_ctx_t *, const desk_toml_node_t *, uint32_t,
                                                 void *),
                     void *arg)
{
    char path[CFG_PATH_CAP];
    size_t n = desk_toml_array_size(kv->val);

    if (desk_toml_type(kv->val) != DESK_TOML_ARRAY)
        return cfg_fail(c, kv->line, "'%s' must be an array of tables ([[%s]]), not %s %s", what,
                        what, cfg_a(desk_toml_type(kv->val)),
                        desk_toml_type_name(desk_toml_type(kv->val)));
    for (size_t i = 0; i < n; i++) {
        const desk_toml_node_t *e = desk_toml_array_at(kv->val, i);
        if (i >= max)
            return cfg_fail(c, desk_toml_line(e), "too many [[%s]]: at most %u", what, max);
        snprintf(path, sizeof path, "%s[%zu]", what, i);
        if (desk_toml_type(e) != DESK_TOML_TABLE)
            return cfg_type_err(c, desk_toml_line(e) > 0 ? desk_toml_line(e) : kv->line, path,
                                "a table", desk_toml_type(e));
        int rc = fn(c, e, (uint32_t)i, arg);
        if (rc < 0)
            return rc;
        *count = (uint32_t)i + 1;
    }
    return 0;
}

static int cfg_connector_cb(cfg_ctx_t *c, const desk_toml_node_t *t, uint32_t i, void *arg)
{
    (void)arg;
    return cfg_connector(c, t, i);
}

static int cfg_instrument_cb(cfg_ctx_t *c, const desk_toml_node_t *t, uint32_t i, void *arg)
{
    (void)arg;
    return cfg_instrument(c, t, i);
}

static int cfg_strategy_cb(cfg_ctx_t *c, const desk_toml_node_t *t, uint32_t i, void *arg)
{
    (void)arg;
    return cfg_strategy(c, t, i);
}

/* ------------------------------------------------------------------ */
/* [journal]                                                            */
/* ------------------------------------------------------------------ */

static int cfg_journal(cfg_ctx_t *c, const desk_toml_node_t *t)
{
    desk_config_t *cfg = c->cfg;
    desk_toml_kv_t kv[CFG_KV_CAP];
    char path[CFG_PATH_CAP];
    int n = cfg_entries(c, t, kv);

    if (n < 0)
        return n;
    for (int i = 0; i < cfg_listed(n); i++) {
        const desk_toml_kv_t *e = &kv[i];
        int rc;

        cfg_path(path, "journal", e->key, e->keylen);
        if (key_is(e, "dir")) {
            rc = cfg_str(c, e, path, cfg->journal_dir, sizeof cfg->journal_dir);
            if (rc == 0 && cfg->journal_dir[0] == '\0')
                rc = cfg_fail(c, e->line, "'%s' is empty", path);
        } else if (key_is(e, "fsync")) {
            char w[32];
            rc = cfg_str(c, e, path, w, sizeof w);
            if (rc == 0) {
                char *end = NULL;
                unsigned long ms = 0;
                if (strcmp(w, "none") == 0)
                    cfg->journal_fsync = 0;
                else if (strcmp(w, "every") == 0)
                    cfg->journal_fsync = 2;
                else if (strncmp(w, "interval:", 9) == 0 && w[9] >= '0' && w[9] <= '9' &&
                         (ms = strtoul(w + 9, &end, 10)) >= 1 && ms <= 3600000 && *end == '\0') {
                    cfg->journal_fsync = 1;
                    cfg->journal_interval_ms = (uint32_t)ms;
                } else
                    rc = cfg_fail(c, e->line,
                                  "'%s' = \"%s\": use none, every or interval:MS (1..3600000)",
                                  path, w);
            }
        } else
            rc = cfg_unknown(c, e, path);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* [reconcile]                                                          */
/* ------------------------------------------------------------------ */

static int cfg_reconcile(cfg_ctx_t *c, const desk_toml_node_t *t)
{
    desk_config_t *cfg = c->cfg;
    desk_toml_kv_t kv[CFG_KV_CAP];
    char path[CFG_PATH_CAP];
    int n = cfg_entries(c, t, kv);

    if (n < 0)
        return n;
    for (int i = 0; i < cfg_listed(n); i++) {
        const desk_toml_kv_t *e = &kv[i];
        int rc;

        cfg_path(path, "reconcile", e->key, e->keylen);
        if (key_is(e, "cash_tolerance"))
            rc = cfg_decimal(c, e, path, 0, &cfg->recon_cash_tolerance);
        else if (key_is(e, "buying_power_tolerance_bps"))
            rc = cfg_u32(c, e, path, 0, 10000, &cfg->recon_bp_tolerance_bps);
        else
            rc = cfg_unknown(c, e, path);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int cfg_document(cfg_ctx_t *c, const desk_toml_node_t *root)
{
    desk_config_t *cfg = c->cfg;
    desk_toml_kv_t kv[CFG_KV_CAP];
    const desk_toml_kv_t *desk = NULL, *guard = NULL, *conn = NULL, *inst = NULL, *strat = NULL;
    const desk_toml_kv_t *journal = NULL, *recon = NULL;
    int rc = cfg_scan_secrets(c, root, "", 0);

    if (rc < 0)
        return rc;
    int n = cfg_entries(c, root, kv);
    if (n < 0)
        return n;
    for (int i = 0; i < cfg_listed(n); i++) {
        if (key_is(&kv[i], "desk"))
            desk = &kv[i];
        else if (key_is(&kv[i], "guard"))
            guard = &kv[i];
        else if (key_is(&kv[i], "journal"))
            journal = &kv[i];
        else if (key_is(&kv[i], "reconcile"))
            recon = &kv[i];
        else if (key_is(&kv[i], "connector"))
            conn = &kv[i];
        else if (key_is(&kv[i], "instrument"))
            inst = &kv[i];
        else if (key_is(&kv[i], "strategy"))
            strat = &kv[i];
        else {
            char path[CFG_PATH_CAP];
            cfg_path(path, "", kv[i].key, kv[i].keylen);
            return cfg_unknown(c, &kv[i], path);
        }
    }

    /* Defaults, then the tables in dependency order (instruments name connectors). */
    cfg->idle = DESK_IDLE_BACKOFF;
    cfg->idle_max_us = 200;
    cfg->router_cpu = -1;
    cfg->order_capacity = 65536;
    cfg->status_interval_ms = 100;
    snprintf(cfg->journal_dir, sizeof cfg->journal_dir, "journal");
    cfg->journal_fsync = 1;
    cfg->journal_interval_ms = 10;
    if (journal != NULL && ((rc = cfg_want_table(c, journal, "journal")) < 0 ||
                            (rc = cfg_journal(c, journal->val)) < 0))
        return rc;
    cfg->recon_cash_tolerance = DESK_SCALE / 100; /* 0.01 */
    cfg->recon_bp_tolerance_bps = 100;
    if (recon != NULL && ((rc = cfg_want_table(c, recon, "reconcile")) < 0 ||
                          (rc = cfg_reconcile(c, recon->val)) < 0))
        return rc;
    if (desk == NULL)
        return cfg_fail(c, 1, "missing required key 'desk.name' (no [desk] table)");
    if ((rc = cfg_want_table(c, desk, "desk")) < 0 || (rc = cfg_desk(c, desk->val)) < 0)
        return rc;
    if (guard != NULL && ((rc = cfg_want_table(c, guard, "guard")) < 0 ||
                          (rc = cfg_limits(c, guard->val, "guard", &cfg->limits,
                                            &cfg->halt_cancels_all)) < 0))
        return rc;
    if (conn != NULL && (rc = cfg_array(c, conn, "connector", DESK_MAX_CONNECTORS,
                                        &cfg->nconnectors, cfg_connector_cb, NULL)) < 0)
        return rc;
    if (inst != NULL && (rc = cfg_array(c, inst, "instrument", DESK_MAX_INSTRUMENTS,
                                        &cfg->ninstruments, cfg_instrument_cb, NULL)) < 0)
        return rc;
    if (strat != NULL && (rc = cfg_array(c, strat, "strategy", DESK_MAX_STRATEGIES,
                                         &cfg->nstrategies, cfg_strategy_cb, NULL)) < 0)
        return rc;
    cfg_assign_threads(cfg);

    /* The ABI views: they point into cfg itself, so cfg must not be moved. */
    for (uint32_t i = 0; i < cfg->nconnectors; i++) {
        desk_connector_conf_t *cc = &cfg->connectors[i];
        for (uint32_t j = 0; j < cc->nopts; j++) {
            cc->optv[j].key = cc->opts[j].key;
            cc->optv[j].value = cc->opts[j].value;
            cc->optv[j].line = cc->opts[j].line;
            cc->optv[j].secret = cc->opts[j].secret;
        }
    }
    return 0;
}

/* Set cfg->path and cfg->dir from the source name. */
static int cfg_set_path(desk_config_t *cfg, const char *name)
{
    size_t len = strlen(name);
    const char *slash = strrchr(name, '/');

    if (len >= sizeof cfg->path)
        return DESK_ERR(-ENAMETOOLONG, "%.100s...: path longer than %d bytes", name,
                        DESK_PATH_MAX - 1);
    memcpy(cfg->path, name, len + 1);
    if (slash == NULL) {
        strcpy(cfg->dir, ".");
    } else if (slash == name) {
        strcpy(cfg->dir, "/");
    } else {
        memcpy(cfg->dir, name, (size_t)(slash - name));
        cfg->dir[slash - name] = '\0';
    }
    return 0;
}

/* Parse and walk text; on failure zero *cfg (it may hold resolved secrets). */
static int cfg_load_text(desk_config_t *cfg, const char *text, size_t len, const char *name)
{
    cfg_ctx_t *c = calloc(1, sizeof *c);
    desk_toml_t *doc = NULL;
    int rc;

    memset(cfg, 0, sizeof *cfg);
    if (c == NULL)
        return DESK_ERR(-ENOMEM, "%s: out of memory", name);
    c->cfg = cfg;
    c->file = name;
    rc = cfg_set_path(cfg, name);
    if (rc == 0)
        rc = desk_toml_parse(text, len, name, &doc);
    if (rc == 0)
        rc = cfg_document(c, desk_toml_root(doc));
    desk_toml_free(doc);
    free(c);
    if (rc < 0)
        explicit_bzero(cfg, sizeof *cfg);
    return rc;
}

DESK_COLD int desk_config_load_string(desk_config_t *cfg, const char *text, size_t len,
                                      const char *name)
{
    return cfg_load_text(cfg, text, len, name != NULL ? name : "<string>");
}

DESK_COLD int desk_config_load(desk_config_t *cfg, const char *path)
{
    struct stat st;
    char *buf;
    size_t got = 0;
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        rc = -errno;
        memset(cfg, 0, sizeof *cfg);
        return DESK_ERR(rc, "%s: cannot open: %s", path, strerror(-rc));
    }
    if (fstat(fd, &st) < 0)
        st.st_mode = 0;
    if (!S_ISREG(st.st_mode) || st.st_size > CFG_FILE_MAX) {
        rc = S_ISDIR(st.st_mode) ? -EISDIR : S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
        close(fd);
        memset(cfg, 0, sizeof *cfg);
        return DESK_ERR(rc, "%s: not a regular file of at most %d bytes", path, CFG_FILE_MAX);
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        memset(cfg, 0, sizeof *cfg);
        return DESK_ERR(-ENOMEM, "%s: out of memory", path);
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            close(fd);
            free(buf);
            memset(cfg, 0, sizeof *cfg);
            return DESK_ERR(rc, "%s: cannot read: %s", path, strerror(-rc));
        }
        if (r == 0)
            break; /* shrank while reading: parse what is there */
        got += (size_t)r;
    }
    close(fd);
    rc = cfg_load_text(cfg, buf, got, path);
    free(buf);
    return rc;
}

int desk_idle_parse(const char *s, desk_idle_t *out)
{
    if (strcmp(s, "spin") == 0)
        *out = DESK_IDLE_SPIN;
    else if (strcmp(s, "yield") == 0)
        *out = DESK_IDLE_YIELD;
    else if (strcmp(s, "backoff") == 0)
        *out = DESK_IDLE_BACKOFF;
    else
        return DESK_ERR(-EINVAL, "idle '%.32s': use spin, yield or backoff", s);
    return 0;
}
