/*
 * md.c - load recorded market data into memory; see md.h.
 *
 * Everything here is cold: it runs once when the paper connector is created.
 * It still has to be quick (the 41k-line Binance capture loads in tens of
 * milliseconds), so lines are decoded with the simdjson shim into a growing
 * array and the CSV reader converts digits itself rather than through
 * strtod, which could not be exact anyway.
 */
#include "connectors/paper/md.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/err.h"
#include "core/fixed.h"

/* ---------------------------------------------------------------------- */
/* Dates                                                                   */
/* ---------------------------------------------------------------------- */

int64_t desk_md_days_from_civil(int y, int m, int d)
{
    /* Howard Hinnant's days_from_civil: exact for the proleptic Gregorian
     * calendar, no tables, no time zone database. */
    int64_t yy = (int64_t)y - (m <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t mp = (m + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}

/* 0 = Sunday ... 6 = Saturday; 1970-01-01 was a Thursday. */
static int weekday(int64_t days)
{
    return (int)(((days % 7) + 11) % 7);
}

/* Day of month of the n-th (1-based) Sunday of y-m, or the last if n == 0. */
static int nth_sunday(int y, int m, int n)
{
    if (n == 0) {
        int mdays = (int)(desk_md_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) -
                          desk_md_days_from_civil(y, m, 1));
        int64_t last = desk_md_days_from_civil(y, m, mdays);
        return mdays - weekday(last);
    }
    int64_t first = desk_md_days_from_civil(y, m, 1);
    int to_sun = (7 - weekday(first)) % 7;
    return 1 + to_sun + 7 * (n - 1);
}

int desk_md_ny_utc_offset(int y, int m, int d)
{
    int sm, sd, em, ed; /* DST from sm/sd (inclusive) to em/ed (exclusive) */

    if (y >= 2007) {
        sm = 3, sd = nth_sunday(y, 3, 2);
        em = 11, ed = nth_sunday(y, 11, 1);
    } else {
        sm = 4, sd = nth_sunday(y, 4, 1);
        em = 10, ed = nth_sunday(y, 10, 0);
    }
    int key = m * 100 + d;
    int dst = key >= sm * 100 + sd && key < em * 100 + ed;
    return dst ? 4 * 3600 : 5 * 3600;
}

/* ---------------------------------------------------------------------- */
/* Locating data                                                           */
/* ---------------------------------------------------------------------- */

DESK_COLD int desk_md_resolve(const char *data, const char *config_dir, char *out, size_t cap)
{
    char tried[3][DESK_MD_PATH_MAX];
    int ntried = 0;
    struct stat st;
    const char *env = getenv("DESK_DATA_DIR");

    if (data == NULL || data[0] == '\0' || out == NULL || cap == 0)
        return DESK_ERR(-EINVAL, "no data path given");
    if (config_dir == NULL || config_dir[0] == '\0')
        config_dir = ".";
    if (data[0] == '/') {
        if (stat(data, &st) != 0)
            return DESK_ERR(-ENOENT, "market data %s not found (run tools/fetch-data.sh)", data);
        if (strlen(data) >= cap)
            return DESK_ERR(-ENAMETOOLONG, "data path too long: %s", data);
        strcpy(out, data);
        return 0;
    }
    if (env != NULL && env[0] != '\0')
        snprintf(tried[ntried++], DESK_MD_PATH_MAX, "%s/%s", env, data);
    snprintf(tried[ntried++], DESK_MD_PATH_MAX, "%s/../shared/data/marketdata/%s", config_dir,
             data);
    snprintf(tried[ntried++], DESK_MD_PATH_MAX, "%s/.cache/marketdata/%s", config_dir, data);
    for (int i = 0; i < ntried; i++) {
        if (stat(tried[i], &st) == 0) {
            if (strlen(tried[i]) >= cap)
                return DESK_ERR(-ENAMETOOLONG, "data path too long: %s", tried[i]);
            strcpy(out, tried[i]);
            return 0;
        }
    }
    return DESK_ERR(-ENOENT,
                    "market data '%s' not found; tried %s%s%s%s%s; run tools/fetch-data.sh "
                    "to fetch it",
                    data, tried[0], ntried > 1 ? ", " : "", ntried > 1 ? tried[1] : "",
                    ntried > 2 ? ", " : "", ntried > 2 ? tried[2] : "");
}

/* ---------------------------------------------------------------------- */
/* Event array                                                             */
/* ---------------------------------------------------------------------- */

static DESK_COLD int md_new(const char *path, desk_md_format_t fmt, desk_md_t **out)
{
    desk_md_t *md = calloc(1, sizeof *md);

    if (md == NULL)
        return DESK_ERR(-ENOMEM, "no memory for market data");
    md->format = (uint8_t)fmt;
    snprintf(md->path, sizeof md->path, "%s", path);
    *out = md;
    return 0;
}

/* Append ev, growing the array geometrically (cold: load time only). */
static int md_push(desk_md_t *md, size_t *cap, const desk_md_event_t *ev)
{
    if (md->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4096;
        desk_md_event_t *p = realloc(md->ev, ncap * sizeof *p);
        if (p == NULL)
            return DESK_ERR(-ENOMEM, "no memory for %zu market-data events", ncap);
        md->ev = p;
        *cap = ncap;
    }
    md->ev[md->n++] = *ev;
    if (ev->kind == DESK_MD_QUOTE)
        md->quotes++;
    else
        md->trades++;
    return 0;
}

DESK_COLD void desk_md_destroy(desk_md_t *md)
{
    if (md == NULL)
        return;
    free(md->ev);
    free(md);
}

/* ---------------------------------------------------------------------- */
/* Binance                                                                 */
/* ---------------------------------------------------------------------- */

/* Read the decimal at ptr; missing or mistyped fields are malformed lines. */
static int get_dec(desk_json_t *j, const char *ptr, int64_t *out)
{
    int rc = desk_json_get_fixed(j, ptr, out);

    if (rc == -ERANGE)
        return -ERANGE;
    return rc == 0 ? 0 : -EBADMSG;
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);

    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static int get_symbol(desk_json_t *j, char symbol[DESK_SYMBOL_MAX])
{
    const char *s;
    size_t n;

    if (desk_json_get_str(j, "/data/s", &s, &n) != 0 || n == 0 || n >= DESK_SYMBOL_MAX ||
        memchr(s, '\0', n) != NULL)
        return -EBADMSG;
    memcpy(symbol, s, n);
    symbol[n] = '\0';
    return 0;
}

int desk_md_binance_line(desk_json_t *j, const char *line, size_t len, desk_md_event_t *ev,
                         char symbol[DESK_SYMBOL_MAX])
{
    size_t i = 0;
    uint64_t ts = 0;
    int rc;

    if (j == NULL || (line == NULL && len > 0) || ev == NULL || symbol == NULL)
        return -EINVAL;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    /* <local_ts_ns>: 1..19 digits, positive, within int64, then one space. */
    for (; i < len && line[i] >= '0' && line[i] <= '9'; i++) {
        if (i >= 19)
            return -EBADMSG;
        ts = ts * 10 + (uint64_t)(line[i] - '0');
    }
    if (i == 0 || i >= len || line[i] != ' ' || ts == 0 || ts > (uint64_t)INT64_MAX)
        return -EBADMSG;
    i++;
    rc = desk_json_parse(j, line + i, len - i);
    if (rc != 0)
        return rc == -EMSGSIZE ? -EMSGSIZE : -EBADMSG;

    const char *stream;
    size_t sn;
    rc = desk_json_get_str(j, "/stream", &stream, &sn);
    if (rc == -ENOENT) {
        /* The REST depth snapshot: {"lastUpdateId":N,"bids":[...],"asks":[...]}. */
        int64_t id;
        if (desk_json_get_i64(j, "/lastUpdateId", &id) != 0 ||
            desk_json_type(j, "/bids") != DESK_JSON_ARRAY ||
            desk_json_type(j, "/asks") != DESK_JSON_ARRAY)
            return -EBADMSG;
        return DESK_MD_LINE_SNAPSHOT;
    }
    if (rc != 0 || desk_json_type(j, "/data") != DESK_JSON_OBJECT)
        return -EBADMSG;

    desk_md_event_t e;
    char sym[DESK_SYMBOL_MAX];
    memset(&e, 0, sizeof e);
    e.ts_ns = (int64_t)ts;
    if (ends_with(stream, sn, "@bookTicker")) {
        if (get_symbol(j, sym) != 0)
            return -EBADMSG;
        if ((rc = get_dec(j, "/data/b", &e.bid_px)) != 0 ||
            (rc = get_dec(j, "/data/B", &e.bid_qty)) != 0 ||
            (rc = get_dec(j, "/data/a", &e.ask_px)) != 0 ||
            (rc = get_dec(j, "/data/A", &e.ask_qty)) != 0)
            return rc;
        if (e.bid_px <= 0 || e.ask_px <= 0 || e.bid_qty < 0 || e.ask_qty < 0)
            return -EBADMSG;
        e.kind = DESK_MD_QUOTE;
        *ev = e;
        memcpy(symbol, sym, DESK_SYMBOL_MAX);
        return DESK_MD_LINE_QUOTE;
    }
    if (ends_with(stream, sn, "@trade")) {
        int maker;
        if (get_symbol(j, sym) != 0)
            return -EBADMSG;
        if ((rc = get_dec(j, "/data/p", &e.px)) != 0 || (rc = get_dec(j, "/data/q", &e.qty)) != 0)
            return rc;
        if (desk_json_get_bool(j, "/data/m", &maker) != 0)
            return -EBADMSG;
        if (e.px <= 0 || e.qty < 0)
            return -EBADMSG;
        e.kind = DESK_MD_TRADE;
        /* m: "is the buyer the market maker?"  Then the seller took liquidity. */
        e.aggressor = (uint8_t)(maker ? DESK_SELL : DESK_BUY);
        *ev = e;
        memcpy(symbol, sym, DESK_SYMBOL_MAX);
        return DESK_MD_LINE_TRADE;
    }
    if (memmem(stream, sn, "@depth", 6) != NULL)
        return DESK_MD_LINE_DEPTH;
    return DESK_MD_LINE_OTHER;
}

DESK_COLD int desk_md_load_binance(const char *path, desk_md_t **out)
{
    desk_md_t *md = NULL;
    desk_json_t *j = NULL;
    gzFile gz = NULL;
    char *line = NULL;
    size_t cap = 0;
    uint64_t lineno = 0;
    int64_t last_ts = 0;
    int rc;

    if (path == NULL || out == NULL)
        return DESK_ERR(-EINVAL, "path or out is NULL");
    *out = NULL;
    gz = gzopen(path, "rb");
    if (gz == NULL) {
        rc = errno ? -errno : -EIO;
        return DESK_ERR(rc, "cannot open market data %s: %s", path, strerror(-rc));
    }
    gzbuffer(gz, 1u << 18);
    if ((rc = md_new(path, DESK_MD_BINANCE, &md)) != 0)
        goto fail;
    if ((rc = desk_json_create(DESK_MD_LINE_MAX, &j)) != 0)
        goto fail;
    line = malloc(DESK_MD_LINE_MAX + 2);
    if (line == NULL) {
        rc = DESK_ERR(-ENOMEM, "no memory for a line buffer");
        goto fail;
    }
    for (;;) {
        desk_md_event_t ev;
        char sym[DESK_SYMBOL_MAX];

        if (gzgets(gz, line, DESK_MD_LINE_MAX + 2) == NULL)
            break;
        lineno++;
        size_t len = strlen(line);
        if (len == DESK_MD_LINE_MAX + 1 && line[len - 1] != '\n') {
            rc = DESK_ERR(-EBADMSG, "%s:%llu: line longer than %u bytes", path,
                          (unsigned long long)lineno, DESK_MD_LINE_MAX);
            goto fail;
        }
        rc = desk_md_binance_line(j, line, len, &ev, sym);
        if (rc < 0) {
            rc =
                DESK_ERR(rc == -ERANGE ? -ERANGE : -EBADMSG, "%s:%llu: malformed line (%s): %.80s",
                         path, (unsigned long long)lineno,
                         rc == -ERANGE ? "a decimal not exact at 1e-8" : "bad JSON or field", line);
            goto fail;
        }
        switch (rc) {
        case DESK_MD_LINE_QUOTE:
        case DESK_MD_LINE_TRADE:
            if (md->symbol[0] == '\0') {
                memcpy(md->symbol, sym, sizeof md->symbol);
            } else if (strcmp(md->symbol, sym) != 0) {
                rc = DESK_ERR(-EBADMSG, "%s:%llu: symbol %s after %s: one symbol per capture", path,
                              (unsigned long long)lineno, sym, md->symbol);
                goto fail;
            }
            if (ev.ts_ns < last_ts) {
                rc = DESK_ERR(-EBADMSG, "%s:%llu: time goes backwards (%lld < %lld)", path,
                              (unsigned long long)lineno, (long long)ev.ts_ns, (long long)last_ts);
                goto fail;
            }
            last_ts = ev.ts_ns;
            if ((rc = md_push(md, &cap, &ev)) != 0)
                goto fail;
            break;
        case DESK_MD_LINE_DEPTH:
            md->depth++;
            break;
        case DESK_MD_LINE_SNAPSHOT:
            md->snapshot++;
            break;
        default:
            md->other++;
            break;
        }
    }
    int zerr = Z_OK;
    const char *zmsg = gzerror(gz, &zerr);
    if (zerr != Z_OK && zerr != Z_STREAM_END) {
        rc = DESK_ERR(-EIO, "%s: read error after line %llu: %s", path, (unsigned long long)lineno,
                      zmsg);
        goto fail;
    }
    md->lines = lineno;
    if (md->quotes == 0) {
        rc = DESK_ERR(-EBADMSG, "%s: no bookTicker quote in %llu lines", path,
                      (unsigned long long)lineno);
        goto fail;
    }
    free(line);
    desk_json_destroy(j);
    gzclose(gz);
    *out = md;
    return 0;

fail:
    free(line);
    desk_json_destroy(j);
    desk_md_destroy(md);
    gzclose(gz);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* LOBSTER                                                                 */
/* ---------------------------------------------------------------------- */

/* Read a whole file into a NUL-terminated buffer (owned by the caller). */
static DESK_COLD int read_all(const char *path, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p = NULL;
    size_t cap = 0, n = 0;

    if (f == NULL) {
        int rc = -errno;
        return DESK_ERR(rc, "cannot open %s: %s", path, strerror(errno));
    }
    for (;;) {
        if (cap - n < 65536) {
            size_t ncap = cap ? cap * 2 : 1u << 20;
            char *q = realloc(p, ncap + 1);
            if (q == NULL) {
                free(p);
                fclose(f);
                return DESK_ERR(-ENOMEM, "no memory to read %s", path);
            }
            p = q;
            cap = ncap;
        }
        size_t got = fread(p + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(p);
        return DESK_ERR(-EIO, "read error on %s", path);
    }
    p[n] = '\0';
    *buf = p;
    *len = n;
    return 0;
}

/* A CSV cursor over one line: fields end at ',' or at the end of line. */
struct csv {
    const char *p;   /* next unread byte */
    const char *eol; /* end of this row's text (before any "\r\n" or "\n") */
    const char *nl;  /* this line's '\n', or the buffer end */
};

/* Parse a signed integer field; false if the field is not one. */
static int csv_int(struct csv *c, int64_t *out)
{
    const char *p = c->p;
    int neg = 0;
    uint64_t v = 0;
    int nd = 0;

    if (p < c->eol && (*p == '-' || *p == '+'))
        neg = *p++ == '-';
    for (; p < c->eol && *p >= '0' && *p <= '9'; p++, nd++) {
        if (nd >= 18)
            return 0;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (nd == 0 || (p < c->eol && *p != ','))
        return 0;
    c->p = p < c->eol ? p + 1 : p;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 1;
}

/* Parse "seconds[.fraction]" (up to 9 decimals) as ns; false if malformed. */
static int csv_time_ns(struct csv *c, int64_t *out)
{
    const char *p = c->p;
    int64_t sec = 0, frac = 0;
    int nd = 0, nf = 0;

    for (; p < c->eol && *p >= '0' && *p <= '9'; p++, nd++) {
        if (nd >= 6)
            return 0; /* more than 999999 s after midnight */
        sec = sec * 10 + (*p - '0');
    }
    if (nd == 0)
        return 0;
    if (p < c->eol && *p == '.') {
        for (p++; p < c->eol && *p >= '0' && *p <= '9'; p++, nf++) {
            if (nf >= 9)
                return 0;
            frac = frac * 10 + (*p - '0');
        }
        if (nf == 0)
            return 0;
    }
    if (p < c->eol && *p != ',')
        return 0;
    for (int k = nf; k < 9; k++)
        frac *= 10;
    c->p = p < c->eol ? p + 1 : p;
    *out = sec * 1000000000 + frac;
    return 1;
}

/* Point the cursor at the line starting at p (p < end). */
static void csv_line_at(struct csv *c, const char *p, const char *end)
{
    c->p = p;
    c->nl = memchr(p, '\n', (size_t)(end - p));
    if (c->nl == NULL)
        c->nl = end;
    c->eol = c->nl;
    if (c->eol > p && c->eol[-1] == '\r')
        c->eol--; /* tolerate CRLF files */
}

/* Move to the next line; false at the end of the buffer (a final newline
 * does not start another row). */
static int csv_next_line(struct csv *c, const char *end)
{
    if (c->nl >= end || c->nl + 1 >= end)
        return 0;
    csv_line_at(c, c->nl + 1, end);
    return 1;
}

/* LOBSTER dummy prices for an empty side are +-9999999999. */
#define LOBSTER_DUMMY_PX INT64_C(9999999999)

DESK_COLD int desk_md_load_lobster(const char *path, desk_md_t **out)
{
    char msg_path[DESK_MD_PATH_MAX], book_path[DESK_MD_PATH_MAX];
    char *mbuf = NULL, *bbuf = NULL;
    size_t mlen = 0, blen = 0, cap = 0;
    desk_md_t *md = NULL;
    struct stat st;
    int rc;

    if (path == NULL || out == NULL)
        return DESK_ERR(-EINVAL, "path or out is NULL");
    *out = NULL;
    if (stat(path, &st) != 0)
        return DESK_ERR(-ENOENT, "LOBSTER data %s not found", path);
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        int found = 0;
        if (d == NULL)
            return DESK_ERR(-errno, "cannot open directory %s", path);
        while ((de = readdir(d)) != NULL) {
            size_t n = strlen(de->d_name);
            if (strstr(de->d_name, "_message_") != NULL && n > 4 &&
                strcmp(de->d_name + n - 4, ".csv") == 0) {
                found++;
                snprintf(msg_path, sizeof msg_path, "%s/%s", path, de->d_name);
            }
        }
        closedir(d);
        if (found != 1)
            return DESK_ERR(-EINVAL, "%s holds %d *_message_*.csv files; need exactly one", path,
                            found);
    } else {
        if (strlen(path) >= sizeof msg_path)
            return DESK_ERR(-ENAMETOOLONG, "path too long: %s", path);
        strcpy(msg_path, path);
    }
    /* <SYM>_<YYYY-MM-DD>_<start>_<end>_message_<level>.csv */
    const char *base = strrchr(msg_path, '/');
    base = base ? base + 1 : msg_path;
    const char *us = strchr(base, '_');
    const char *mm = strstr(base, "_message_");
    int y, mo, da;
    if (us == NULL || mm == NULL || us == base || (size_t)(us - base) >= DESK_SYMBOL_MAX ||
        sscanf(us + 1, "%4d-%2d-%2d", &y, &mo, &da) != 3 || mo < 1 || mo > 12 || da < 1 || da > 31)
        return DESK_ERR(-EINVAL, "%s: LOBSTER file names are SYM_YYYY-MM-DD_..._message_N.csv",
                        msg_path);
    size_t pre = (size_t)(mm - msg_path);
    if (snprintf(book_path, sizeof book_path, "%.*s_orderbook_%s", (int)pre, msg_path,
                 mm + strlen("_message_")) >= (int)sizeof book_path)
        return DESK_ERR(-ENAMETOOLONG, "path too long: %s", msg_path);

    if ((rc = md_new(msg_path, DESK_MD_LOBSTER, &md)) != 0)
        return rc;
    memcpy(md->symbol, base, (size_t)(us - base));
    md->symbol[us - base] = '\0';
    if ((rc = read_all(msg_path, &mbuf, &mlen)) != 0 ||
        (rc = read_all(book_path, &bbuf, &blen)) != 0)
        goto fail;

    /* Local midnight in UTC: 00:00 New York is 04:00 or 05:00 UTC. */
    int64_t midnight_ns =
        (desk_md_days_from_civil(y, mo, da) * 86400 + desk_md_ny_utc_offset(y, mo, da)) *
        INT64_C(1000000000);
    struct csv m, b;
    const char *mend = mbuf + mlen, *bend = bbuf + blen;
    uint64_t row = 0;
    int64_t last_ts = 0;
    int mmore = mlen > 0, bmore = blen > 0;
    if (mmore)
        csv_line_at(&m, mbuf, mend);
    if (bmore)
        csv_line_at(&b, bbuf, bend);
    while (mmore && bmore) {
        int64_t t, type, oid, size, px, dir;
        int64_t apx, aq, bpx, bq;
        desk_md_event_t ev;

        row++;
        if (!csv_time_ns(&m, &t) || !csv_int(&m, &type) || !csv_int(&m, &oid) ||
            !csv_int(&m, &size) || !csv_int(&m, &px) || !csv_int(&m, &dir)) {
            rc = DESK_ERR(-EBADMSG, "%s:%llu: malformed message row", msg_path,
                          (unsigned long long)row);
            goto fail;
        }
        if (!csv_int(&b, &apx) || !csv_int(&b, &aq) || !csv_int(&b, &bpx) || !csv_int(&b, &bq) ||
            aq < 0 || bq < 0) {
            rc = DESK_ERR(-EBADMSG, "%s:%llu: malformed orderbook row", book_path,
                          (unsigned long long)row);
            goto fail;
        }
        int64_t ts = midnight_ns + t;
        if (ts < last_ts) {
            rc = DESK_ERR(-EBADMSG, "%s:%llu: time goes backwards", msg_path,
                          (unsigned long long)row);
            goto fail;
        }
        last_ts = ts;
        if (type == 4 || type == 5) {
            if (size <= 0 || px <= 0 || (dir != 1 && dir != -1) || size > INT64_C(90000000000) ||
                px > LOBSTER_DUMMY_PX) {
                rc = DESK_ERR(-EBADMSG, "%s:%llu: bad execution (size %lld, price %lld, dir %lld)",
                              msg_path, (unsigned long long)row, (long long)size, (long long)px,
                              (long long)dir);
                goto fail;
            }
            memset(&ev, 0, sizeof ev);
            ev.ts_ns = ts;
            ev.kind = DESK_MD_TRADE;
            ev.px = px * 10000; /* dollars*1e4 -> 1e-8 */
            ev.qty = size * DESK_SCALE;
            /* -1: the resting order was a sell, so the aggressor bought. */
            ev.aggressor = (uint8_t)(dir == -1 ? DESK_BUY : DESK_SELL);
            if ((rc = md_push(md, &cap, &ev)) != 0)
                goto fail;
        }
        memset(&ev, 0, sizeof ev);
        ev.ts_ns = ts;
        ev.kind = DESK_MD_QUOTE;
        if (apx < LOBSTER_DUMMY_PX && apx > 0 && aq <= INT64_C(90000000000)) {
            ev.ask_px = apx * 10000;
            ev.ask_qty = aq * DESK_SCALE;
        }
        if (bpx > -LOBSTER_DUMMY_PX && bpx > 0 && bpx < LOBSTER_DUMMY_PX &&
            bq <= INT64_C(90000000000)) {
            ev.bid_px = bpx * 10000;
            ev.bid_qty = bq * DESK_SCALE;
        }
        if ((rc = md_push(md, &cap, &ev)) != 0)
            goto fail;
        mmore = csv_next_line(&m, mend);
        bmore = csv_next_line(&b, bend);
    }
    if (mmore != bmore) {
        rc =
            DESK_ERR(-EBADMSG, "%s and %s have different row counts (%s ends first at row %llu)",
                     msg_path, book_path, mmore ? "orderbook" : "message", (unsigned long long)row);
        goto fail;
    }
    md->lines = row;
    if (md->quotes == 0) {
        rc = DESK_ERR(-EBADMSG, "%s: no rows", msg_path);
        goto fail;
    }
    free(mbuf);
    free(bbuf);
    *out = md;
    return 0;

fail:
    free(mbuf);
    free(bbuf);
    desk_md_destroy(md);
    return rc;
}

DESK_COLD int desk_md_load(const char *path, desk_md_t **out)
{
    struct stat st;
    size_t n;

    if (path == NULL || out == NULL)
        return DESK_ERR(-EINVAL, "path or out is NULL");
    n = strlen(path);
    if ((stat(path, &st) == 0 && S_ISDIR(st.st_mode)) ||
        (n > 4 && strcmp(path + n - 4, ".csv") == 0))
        return desk_md_load_lobster(path, out);
    return desk_md_load_binance(path, out);
}
