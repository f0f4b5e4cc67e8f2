/*
 * codec.c - Alpaca Trading API v2 JSON <-> desk structs (see codec.h).
 *
 * Encoding writes into the caller's buffer through a small writer that
 * records the first -ENOSPC and then ignores further output, so an encoder
 * reads as a straight list of fields and checks space once at the end.
 * Numbers are formatted by hand (integers) and by desk_fixed_format()
 * (decimals), which never calls printf.
 *
 * Decoding parses the document once with desk_json_parse() and then reads
 * fields by JSON pointer.  Pointers are built by copying a prefix ("",
 * "/data/order", "/3") and a field name into a stack buffer; nothing is
 * allocated and nothing is formatted.  Each getter's result is mapped to the
 * codec's documented codes by a handful of helpers (get_str, get_dec, ...)
 * that know whether a field is required, nullable or optional.
 */
#include "connectors/alpaca/codec.h"

#include <errno.h>
#include <string.h>

#include "core/fixed.h"

/* ------------------------------------------------------------- enum names */

/*
 * Wire names, indexed by the enum value.  The tables are sparse (index 0 is
 * unused except for DESK_DAY, and the tif values skip 2 and 5..9), so every
 * lookup goes through name_at()/name_find(), which skip NULL slots.  Lookups
 * are linear: at most 18 short strings, cheaper than hashing for this size,
 * and the comparison is exact (Alpaca's enums are lower case; "NEW" is not
 * "new" and is rejected rather than guessed at).
 */

static const char *const STATUS_NAMES[DESK_ALPACA_ST__COUNT] = {
    [DESK_ALPACA_ST_NEW] = "new",
    [DESK_ALPACA_ST_PARTIALLY_FILLED] = "partially_filled",
    [DESK_ALPACA_ST_FILLED] = "filled",
    [DESK_ALPACA_ST_DONE_FOR_DAY] = "done_for_day",
    [DESK_ALPACA_ST_CANCELED] = "canceled",
    [DESK_ALPACA_ST_EXPIRED] = "expired",
    [DESK_ALPACA_ST_REPLACED] = "replaced",
    [DESK_ALPACA_ST_PENDING_CANCEL] = "pending_cancel",
    [DESK_ALPACA_ST_PENDING_REPLACE] = "pending_replace",
    [DESK_ALPACA_ST_PENDING_REVIEW] = "pending_review",
    [DESK_ALPACA_ST_ACCEPTED] = "accepted",
    [DESK_ALPACA_ST_PENDING_NEW] = "pending_new",
    [DESK_ALPACA_ST_ACCEPTED_FOR_BIDDING] = "accepted_for_bidding",
    [DESK_ALPACA_ST_STOPPED] = "stopped",
    [DESK_ALPACA_ST_REJECTED] = "rejected",
    [DESK_ALPACA_ST_SUSPENDED] = "suspended",
    [DESK_ALPACA_ST_CALCULATED] = "calculated",
    [DESK_ALPACA_ST_HELD] = "held",
};

static const char *const EVENT_NAMES[DESK_ALPACA_EV__COUNT] = {
    [DESK_ALPACA_EV_NEW] = "new",
    [DESK_ALPACA_EV_FILL] = "fill",
    [DESK_ALPACA_EV_PARTIAL_FILL] = "partial_fill",
    [DESK_ALPACA_EV_CANCELED] = "canceled",
    [DESK_ALPACA_EV_EXPIRED] = "expired",
    [DESK_ALPACA_EV_DONE_FOR_DAY] = "done_for_day",
    [DESK_ALPACA_EV_REPLACED] = "replaced",
    [DESK_ALPACA_EV_REJECTED] = "rejected",
    [DESK_ALPACA_EV_PENDING_NEW] = "pending_new",
    [DESK_ALPACA_EV_STOPPED] = "stopped",
    [DESK_ALPACA_EV_PENDING_CANCEL] = "pending_cancel",
    [DESK_ALPACA_EV_PENDING_REPLACE] = "pending_replace",
    [DESK_ALPACA_EV_CALCULATED] = "calculated",
    [DESK_ALPACA_EV_SUSPENDED] = "suspended",
    [DESK_ALPACA_EV_ORDER_REPLACE_REJECTED] = "order_replace_rejected",
    [DESK_ALPACA_EV_ORDER_CANCEL_REJECTED] = "order_cancel_rejected",
    [DESK_ALPACA_EV_ACCEPTED] = "accepted",
    [DESK_ALPACA_EV_RESTATED] = "restated",
};

static const char *const TYPE_NAMES[] = {
    [DESK_ALPACA_MARKET] = "market",
    [DESK_ALPACA_LIMIT] = "limit",
    [DESK_ALPACA_STOP] = "stop",
    [DESK_ALPACA_STOP_LIMIT] = "stop_limit",
    [DESK_ALPACA_TRAILING_STOP] = "trailing_stop",
};

static const char *const TIF_NAMES[] = {
    [DESK_ALPACA_DAY] = "day", [DESK_ALPACA_GTC] = "gtc", [DESK_ALPACA_IOC] = "ioc",
    [DESK_ALPACA_FOK] = "fok", [DESK_ALPACA_OPG] = "opg", [DESK_ALPACA_CLS] = "cls",
    [DESK_ALPACA_GTX] = "gtx", [DESK_ALPACA_GTD] = "gtd",
};

static const char *const SIDE_NAMES[] = {[DESK_BUY] = "buy", [DESK_SELL] = "sell"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Name at index v of a sparse table, "" when out of range or unnamed. */
static const char *name_at(const char *const *tab, size_t n, unsigned v)
{
    return (v < n && tab[v] != NULL) ? tab[v] : "";
}

/* Index of s[0..len) in a sparse table (>= 0: DESK_DAY is 0), or -EBADMSG. */
static int name_find(const char *const *tab, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (tab[i] != NULL && strlen(tab[i]) == len && memcmp(tab[i], s, len) == 0)
            return (int)i;
    return -EBADMSG;
}

const char *desk_alpaca_status_name(unsigned status)
{
    return name_at(STATUS_NAMES, NELEM(STATUS_NAMES), status);
}

const char *desk_alpaca_event_name(unsigned event)
{
    return name_at(EVENT_NAMES, NELEM(EVENT_NAMES), event);
}

const char *desk_alpaca_type_name(unsigned type)
{
    return name_at(TYPE_NAMES, NELEM(TYPE_NAMES), type);
}

const char *desk_alpaca_tif_name(unsigned tif)
{
    return name_at(TIF_NAMES, NELEM(TIF_NAMES), tif);
}

const char *desk_alpaca_side_name(unsigned side)
{
    return name_at(SIDE_NAMES, NELEM(SIDE_NAMES), side);
}

int desk_alpaca_status_parse(const char *s, size_t len)
{
    return name_find(STATUS_NAMES, NELEM(STATUS_NAMES), s, len);
}

int desk_alpaca_event_parse(const char *s, size_t len)
{
    return name_find(EVENT_NAMES, NELEM(EVENT_NAMES), s, len);
}

/* ----------------------------------------------------------------- writer */

/*
 * The writer never writes past cap - 1 and never reports a partial result:
 * once one piece does not fit, err latches -ENOSPC, later pieces are
 * ignored, and w_end() returns the error.  This keeps each encoder a flat
 * sequence of appends with one check at the end, and guarantees the caller
 * never sends a truncated body (a truncated JSON body could still parse as a
 * different, valid order if it were cut between two members).
 */

/* Output cursor over the caller's buffer; err holds the first failure. */
typedef struct wbuf {
    char *p;    /* caller's buffer (borrowed) */
    size_t cap; /* its size in bytes, NUL included */
    size_t n;   /* bytes written so far */
    int err;    /* 0, or -ENOSPC once anything did not fit */
} wbuf_t;

static void w_bytes(wbuf_t *w, const char *s, size_t n)
{
    if (w->err)
        return;
    /* Keep one byte for the final NUL. */
    if (w->cap == 0 || n > w->cap - 1 - w->n) {
        w->err = -ENOSPC;
        return;
    }
    memcpy(w->p + w->n, s, n);
    w->n += n;
}

#define W_LIT(w, lit) w_bytes((w), (lit), sizeof(lit) - 1)

static void w_cstr(wbuf_t *w, const char *s)
{
    w_bytes(w, s, strlen(s));
}

/* Unsigned decimal, by hand: digits into a reversed scratch buffer. */
static void w_u64(wbuf_t *w, uint64_t v)
{
    char rev[20], out[20];
    size_t n = 0, k = 0;

    do {
        rev[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n != 0)
        out[k++] = rev[--n];
    w_bytes(w, out, k);
}

/* A fixed-point decimal as a JSON string: "223.82", "100". */
static void w_fixed_str(wbuf_t *w, int64_t v)
{
    char tmp[32];
    int n = desk_fixed_format(v, 0, tmp, sizeof tmp); /* 32 bytes always suffice */

    W_LIT(w, "\"");
    w_bytes(w, tmp, (size_t)n);
    W_LIT(w, "\"");
}

/* s as a JSON string with the mandatory escapes (quote, backslash, C0). */
static void w_json_str(wbuf_t *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    W_LIT(w, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"') {
            W_LIT(w, "\\\"");
        } else if (*c == '\\') {
            W_LIT(w, "\\\\");
        } else if (*c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[*c >> 4], hex[*c & 15]};
            w_bytes(w, e, sizeof e);
        } else {
            w_bytes(w, (const char *)c, 1);
        }
    }
    W_LIT(w, "\"");
}

/* NUL-terminate and return the length, or the first error. */
static int w_end(wbuf_t *w)
{
    if (w->err)
        return w->err;
    w->p[w->n] = '\0';
    return (int)w->n;
}

static void w_init(wbuf_t *w, char *buf, size_t cap)
{
    w->p = buf;
    w->cap = buf ? cap : 0;
    w->n = 0;
    w->err = 0;
}

/* ----------------------------------------------------------------- encode */

int desk_alpaca_clid_format(uint64_t cl_ord_id, char *buf, size_t cap)
{
    wbuf_t w;

    w_init(&w, buf, cap);
    W_LIT(&w, "d");
    w_u64(&w, cl_ord_id);
    return w_end(&w);
}

/*
 * Only the canonical spelling is accepted ("d" + digits, no leading zero), so
 * format(parse(s)) == s: two different strings can never map to the same
 * cl_ord_id, which keeps the dedup of venue messages by client_order_id sound.
 */
int desk_alpaca_clid_parse(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (s == NULL || len < 2 || len > 21 || s[0] != 'd')
        return -EINVAL;
    if (s[1] == '0' && len != 2)
        return -EINVAL; /* leading zero: not desk's spelling */
    for (size_t i = 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        if (__builtin_mul_overflow(v, 10u, &v) ||
            __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
            return -EINVAL;
    }
    *out = v;
    return 0;
}

/* 1 if s is a symbol desk may put in a JSON body: 1..SYM_MAX-1 printable bytes. */
static int symbol_ok(const char *s)
{
    size_t n;

    if (s == NULL)
        return 0;
    n = strnlen(s, DESK_ALPACA_SYM_MAX);
    if (n == 0 || n >= DESK_ALPACA_SYM_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

static int tif_ok(unsigned tif)
{
    return tif == DESK_DAY || tif == DESK_GTC || tif == DESK_IOC || tif == DESK_FOK;
}

static int has_limit(unsigned t)
{
    return t == DESK_LIMIT || t == DESK_STOP_LIMIT;
}

static int has_stop(unsigned t)
{
    return t == DESK_STOP || t == DESK_STOP_LIMIT;
}

/*
 * Everything is validated before the first byte is written, so a command the
 * venue would reject (or, worse, misread: a limit order without a price
 * would go out as a market order on some venues) never leaves the host.  The
 * member order follows Alpaca's documentation; the venue does not care.
 */
int desk_alpaca_order_encode(const desk_vcmd_t *cmd, const char *symbol, char *buf, size_t cap)
{
    wbuf_t w;

    if (cmd == NULL || cmd->type != DESK_CMD_NEW || !symbol_ok(symbol))
        return -EINVAL;
    if ((cmd->side != DESK_BUY && cmd->side != DESK_SELL) || cmd->ord_type < DESK_MARKET ||
        cmd->ord_type > DESK_STOP_LIMIT || !tif_ok(cmd->tif) || cmd->qty <= 0)
        return -EINVAL;
    if ((has_limit(cmd->ord_type) && cmd->px <= 0) || (has_stop(cmd->ord_type) && cmd->stop_px <= 0))
        return -EINVAL;

    w_init(&w, buf, cap);
    W_LIT(&w, "{\"symbol\":");
    w_json_str(&w, symbol);
    W_LIT(&w, ",\"qty\":");
    w_fixed_str(&w, cmd->qty);
    W_LIT(&w, ",\"side\":\"");
    w_cstr(&w, SIDE_NAMES[cmd->side]);
    W_LIT(&w, "\",\"type\":\"");
    w_cstr(&w, TYPE_NAMES[cmd->ord_type]);
    W_LIT(&w, "\",\"time_in_force\":\"");
    w_cstr(&w, TIF_NAMES[cmd->tif]);
    W_LIT(&w, "\"");
    if (has_limit(cmd->ord_type)) {
        W_LIT(&w, ",\"limit_price\":");
        w_fixed_str(&w, cmd->px);
    }
    if (has_stop(cmd->ord_type)) {
        W_LIT(&w, ",\"stop_price\":");
        w_fixed_str(&w, cmd->stop_px);
    }
    W_LIT(&w, ",\"client_order_id\":\"d");
    w_u64(&w, cmd->cl_ord_id);
    W_LIT(&w, "\"}");
    return w_end(&w);
}

/*
 * A PATCH creates a new Alpaca order for what is left to trade (codec.h,
 * "Replace"), hence qty - filled_qty; prices are sent only when the type has
 * them, since Alpaca rejects a limit_price on a market order.
 */
int desk_alpaca_replace_encode(const desk_vcmd_t *cmd, int64_t filled_qty, char *buf, size_t cap)
{
    wbuf_t w;

    if (cmd == NULL || cmd->type != DESK_CMD_REPLACE || filled_qty < 0 ||
        cmd->ord_type < DESK_MARKET || cmd->ord_type > DESK_STOP_LIMIT || cmd->px < 0 ||
        cmd->stop_px < 0 || cmd->qty <= filled_qty)
        return -EINVAL;

    w_init(&w, buf, cap);
    W_LIT(&w, "{\"qty\":");
    w_fixed_str(&w, cmd->qty - filled_qty);
    if (has_limit(cmd->ord_type) && cmd->px > 0) {
        W_LIT(&w, ",\"limit_price\":");
        w_fixed_str(&w, cmd->px);
    }
    if (has_stop(cmd->ord_type) && cmd->stop_px > 0) {
        W_LIT(&w, ",\"stop_price\":");
        w_fixed_str(&w, cmd->stop_px);
    }
    W_LIT(&w, ",\"client_order_id\":\"d");
    w_u64(&w, cmd->cl_ord_id);
    W_LIT(&w, "\"}");
    return w_end(&w);
}

int desk_alpaca_auth_encode(const char *key_id, const char *secret, char *buf, size_t cap)
{
    wbuf_t w;

    if (key_id == NULL || secret == NULL || key_id[0] == '\0' || secret[0] == '\0')
        return -EINVAL;
    w_init(&w, buf, cap);
    W_LIT(&w, "{\"action\":\"authenticate\",\"data\":{\"key_id\":");
    w_json_str(&w, key_id);
    W_LIT(&w, ",\"secret_key\":");
    w_json_str(&w, secret);
    W_LIT(&w, "}}");
    return w_end(&w);
}

int desk_alpaca_listen_encode(char *buf, size_t cap)
{
    wbuf_t w;

    w_init(&w, buf, cap);
    W_LIT(&w, "{\"action\":\"listen\",\"data\":{\"streams\":[\"trade_updates\"]}}");
    return w_end(&w);
}

/*
 * 1 if s is 1..max-1 bytes all in the set: alnum plus the extra characters.
 * Path segments are restricted instead of percent-encoded: ids are uuids and
 * symbols are tickers, so anything else is a caller bug, and refusing it
 * means no "/", "?" or "#" can ever change which resource a request hits.
 */
static int path_word_ok(const char *s, size_t max, const char *extra)
{
    size_t n;

    if (s == NULL)
        return 0;
    n = strnlen(s, max);
    if (n == 0 || n >= max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 strchr(extra, c) != NULL;
        if (!ok)
            return 0;
    }
    return 1;
}

int desk_alpaca_path_order(const char *id, char *buf, size_t cap)
{
    wbuf_t w;

    if (!path_word_ok(id, DESK_ALPACA_ID_MAX, "-"))
        return -EINVAL;
    w_init(&w, buf, cap);
    W_LIT(&w, "/v2/orders/");
    w_cstr(&w, id);
    return w_end(&w);
}

int desk_alpaca_path_by_clid(uint64_t cl_ord_id, char *buf, size_t cap)
{
    wbuf_t w;

    w_init(&w, buf, cap);
    W_LIT(&w, "/v2/orders:by_client_order_id?client_order_id=d");
    w_u64(&w, cl_ord_id);
    return w_end(&w);
}

int desk_alpaca_path_quote(const char *symbol, char *buf, size_t cap)
{
    wbuf_t w;

    if (!path_word_ok(symbol, DESK_ALPACA_SYM_MAX, "._-"))
        return -EINVAL;
    w_init(&w, buf, cap);
    W_LIT(&w, "/v2/stocks/");
    w_cstr(&w, symbol);
    W_LIT(&w, "/quotes/latest");
    return w_end(&w);
}

/* ------------------------------------------------------------------- time */

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* n decimal digits at s (all must be digits), or -1. */
static int64_t digits(const char *s, size_t n)
{
    int64_t v = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/*
 * A fixed-position parser: RFC 3339's date-time has a fixed layout up to the
 * seconds, so the fields are read at known offsets and range-checked (day
 * against the month, Feb 29 against leap years).  The optional fraction is
 * 1-9 digits (Alpaca sends up to nanoseconds; more would be silently lost, so
 * it is an error), and the offset is Z or +-HH:MM (Alpaca sends both, e.g.
 * "-04:00" on order timestamps).  The sum is done in __int128 so that an
 * absurd year cannot overflow before the range check.
 */
int desk_alpaca_time_parse(const char *s, size_t len, int64_t *ns)
{
    static const int mdays[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t y, mo, d, h, mi, sec, frac = 0, off = 0;
    size_t i = 19;

    if (s == NULL || len < 20)
        return -EBADMSG;
    if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return -EBADMSG;
    y = digits(s, 4);
    mo = digits(s + 5, 2);
    d = digits(s + 8, 2);
    h = digits(s + 11, 2);
    mi = digits(s + 14, 2);
    sec = digits(s + 17, 2);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo] || h > 23 || mi > 59 || sec > 60 ||
        h < 0 || mi < 0 || sec < 0)
        return -EBADMSG;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return -EBADMSG;
    if (s[i] == '.') {
        size_t nd = 0;
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (++nd > 9)
                return -EBADMSG;
            frac = frac * 10 + (s[i] - '0');
            i++;
        }
        if (nd == 0)
            return -EBADMSG;
        for (size_t k = nd; k < 9; k++)
            frac *= 10;
    }
    if (i >= len)
        return -EBADMSG;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        if (len - i < 6 || s[i + 3] != ':')
            return -EBADMSG;
        int64_t oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
        if (oh < 0 || om < 0 || oh > 23 || om > 59)
            return -EBADMSG;
        off = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
        i += 6;
    } else {
        return -EBADMSG;
    }
    if (i != len)
        return -EBADMSG;
    __int128 t = (__int128)(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off);
    t = t * 1000000000 + frac;
    if (t < 0 || t > INT64_MAX)
        return -EBADMSG;
    *ns = (int64_t)t;
    return 0;
}

/* ---------------------------------------------------------- decode helpers */

/*
 * Every field is read by JSON pointer from the validated document held by
 * the desk_json_t.  A decoder that reads an embedded object (data.order, the
 * i-th array element) sets a prefix once and appends field names to it, so
 * the same order_at() serves top-level orders, orders in arrays and orders in
 * trade updates.  The shim's getter codes are mapped here onto the codec's
 * two outcomes: -EBADMSG (shape) and -ERANGE (a decimal not exact at 1e-8).
 */

/* A JSON pointer under construction: a fixed prefix plus one suffix. */
typedef struct jptr {
    char s[DESK_JSON_PTR_MAX]; /* prefix, then the current suffix, NUL terminated */
    size_t plen;               /* prefix length */
} jptr_t;

/* Set the prefix (a pointer such as "/data/order", "" for the root). */
static int jp_init(jptr_t *p, const char *prefix, size_t n)
{
    if (n >= sizeof p->s)
        return -EBADMSG;
    memcpy(p->s, prefix, n);
    p->s[n] = '\0';
    p->plen = n;
    return 0;
}

/* The prefix followed by `suffix` ("/id"); suffixes are short constants. */
static const char *jp(jptr_t *p, const char *suffix)
{
    size_t n = strlen(suffix);

    if (n >= sizeof p->s - p->plen)
        n = sizeof p->s - p->plen - 1; /* unreachable with the codec's constants */
    memcpy(p->s + p->plen, suffix, n);
    p->s[p->plen + n] = '\0';
    return p->s;
}

/* The prefix followed by "/<index>". */
static const char *jp_index(jptr_t *p, size_t idx)
{
    wbuf_t w;

    w_init(&w, p->s + p->plen, sizeof p->s - p->plen);
    W_LIT(&w, "/");
    w_u64(&w, idx);
    if (w_end(&w) < 0)
        p->s[p->plen] = '\0';
    return p->s;
}

/*
 * Field presence rules.  REQ: must be present with the right type.
 * NULLABLE: present, possibly null.  OPTIONAL: may also be absent.  Alpaca
 * documents most order fields as nullable and adds fields over time, so the
 * decoders require only what desk cannot work without.
 */
enum { REQ = 0, NULLABLE = 1, OPTIONAL = 2 };

/* 1 if the value at ptr is JSON null. */
static int is_null(desk_json_t *j, const char *ptr)
{
    return desk_json_type(j, ptr) == DESK_JSON_NULL;
}

/*
 * Copy the string at ptr into dst[cap] (NUL terminated).  REQ: must be a
 * string; NULLABLE: a string or null ("" then); OPTIONAL: also absent.
 * Returns 1 if a string was copied, 0 for null/absent, or -EBADMSG.
 */
static int get_str(desk_json_t *j, const char *ptr, char *dst, size_t cap, int rule)
{
    const char *s;
    size_t n;
    int rc = desk_json_get_str(j, ptr, &s, &n);

    dst[0] = '\0';
    if (rc == -ENOENT)
        return rule == OPTIONAL ? 0 : -EBADMSG;
    if (rc == -EINVAL && rule != REQ && is_null(j, ptr))
        return 0;
    if (rc != 0)
        return -EBADMSG;
    if (n >= cap || memchr(s, '\0', n) != NULL)
        return -EBADMSG;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 1;
}

/* A string view at ptr, required. */
static int get_view(desk_json_t *j, const char *ptr, const char **s, size_t *n)
{
    return desk_json_get_str(j, ptr, s, n) == 0 ? 0 : -EBADMSG;
}

/*
 * The decimal at ptr into *out with the presence rule (0 when null/absent).
 * min: the smallest value accepted (0 for quantities, INT64_MIN for signed
 * money).  Returns 1 if present, 0 if null/absent, -EBADMSG or -ERANGE.
 */
static int get_dec(desk_json_t *j, const char *ptr, int64_t *out, int rule, int64_t min)
{
    int rc = desk_json_get_fixed(j, ptr, out);

    if (rc == 0)
        return *out >= min ? 1 : -EBADMSG;
    *out = 0;
    if (rc == -ENOENT)
        return rule == OPTIONAL ? 0 : -EBADMSG;
    if (rc == -ERANGE)
        return -ERANGE;
    if (rc == -EINVAL && rule != REQ && is_null(j, ptr))
        return 0;
    return -EBADMSG;
}

/* A boolean, optional (0 when absent or null). */
static int get_flag(desk_json_t *j, const char *ptr, uint8_t *out)
{
    int b = 0;
    int rc = desk_json_get_bool(j, ptr, &b);

    *out = 0;
    if (rc == 0) {
        *out = (uint8_t)(b != 0);
        return 0;
    }
    if (rc == -ENOENT || (rc == -EINVAL && is_null(j, ptr)))
        return 0;
    return -EBADMSG;
}

/* Enum string at ptr looked up in a table (required). */
static int get_enum(desk_json_t *j, const char *ptr, const char *const *tab, size_t n)
{
    const char *s;
    size_t len;

    if (get_view(j, ptr, &s, &len) != 0)
        return -EBADMSG;
    return name_find(tab, n, s, len);
}

/* Parse a whole document; NULL with length 0 is the empty (invalid) document. */
static int parse_json(desk_json_t *j, const char *buf, size_t len)
{
    if (j == NULL || (buf == NULL && len != 0))
        return -EBADMSG;
    return desk_json_parse(j, buf ? buf : "", len);
}

/* Propagate a negative result (an error code) from a helper. */
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ < 0)                                                                               \
            return rc_;                                                                            \
    } while (0)

/* ---------------------------------------------------------------- decoders */

/*
 * The Order object at p's prefix.  Fields are read roughly in the order
 * Alpaca sends them, since each getter walks the document from its start.
 * qty and notional are both nullable, but one of them must be a decimal: an
 * order with neither has no size and cannot be tracked.  "type" wins over the
 * deprecated "order_type"; the latter is used only when "type" is absent
 * (old payloads), never when "type" is present but unknown.
 */
static int order_at(desk_json_t *j, jptr_t *p, desk_alpaca_order_t *o)
{
    int rc;

    memset(o, 0, sizeof *o);
    if (desk_json_type(j, jp(p, "")) != DESK_JSON_OBJECT)
        return -EBADMSG;
    if ((rc = get_str(j, jp(p, "/id"), o->id, sizeof o->id, REQ)) < 0 || o->id[0] == '\0')
        return -EBADMSG;
    TRY(get_str(j, jp(p, "/client_order_id"), o->client_order_id, sizeof o->client_order_id, REQ));
    TRY(get_str(j, jp(p, "/replaced_by"), o->replaced_by, sizeof o->replaced_by, OPTIONAL));
    TRY(get_str(j, jp(p, "/replaces"), o->replaces, sizeof o->replaces, OPTIONAL));
    TRY(get_str(j, jp(p, "/symbol"), o->symbol, sizeof o->symbol, REQ));

    if ((rc = get_dec(j, jp(p, "/notional"), &o->notional, OPTIONAL, 0)) < 0)
        return rc;
    if (rc == 1)
        o->flags |= DESK_ALPACA_HAS_NOTIONAL;
    if ((rc = get_dec(j, jp(p, "/qty"), &o->qty, OPTIONAL, 0)) < 0)
        return rc;
    if (rc == 1)
        o->flags |= DESK_ALPACA_HAS_QTY;
    if (!(o->flags & (DESK_ALPACA_HAS_QTY | DESK_ALPACA_HAS_NOTIONAL)))
        return -EBADMSG; /* one of qty / notional must be given */
    TRY(get_dec(j, jp(p, "/filled_qty"), &o->filled_qty, REQ, 0));
    if ((rc = get_dec(j, jp(p, "/filled_avg_price"), &o->filled_avg_price, OPTIONAL, 0)) < 0)
        return rc;
    if (rc == 1)
        o->flags |= DESK_ALPACA_HAS_AVG;

    /* "type", or the deprecated duplicate "order_type" when type is absent. */
    rc = get_enum(j, jp(p, "/type"), TYPE_NAMES, NELEM(TYPE_NAMES));
    if (rc < 0 && desk_json_has(j, jp(p, "/type")) == 0)
        rc = get_enum(j, jp(p, "/order_type"), TYPE_NAMES, NELEM(TYPE_NAMES));
    TRY(rc);
    o->type = (uint8_t)rc;
    TRY(rc = get_enum(j, jp(p, "/side"), SIDE_NAMES, NELEM(SIDE_NAMES)));
    o->side = (uint8_t)rc;
    TRY(rc = get_enum(j, jp(p, "/time_in_force"), TIF_NAMES, NELEM(TIF_NAMES)));
    o->tif = (uint8_t)rc;

    if ((rc = get_dec(j, jp(p, "/limit_price"), &o->limit_price, OPTIONAL, 0)) < 0)
        return rc;
    if (rc == 1)
        o->flags |= DESK_ALPACA_HAS_LIMIT;
    if ((rc = get_dec(j, jp(p, "/stop_price"), &o->stop_price, OPTIONAL, 0)) < 0)
        return rc;
    if (rc == 1)
        o->flags |= DESK_ALPACA_HAS_STOP;
    TRY(rc = get_enum(j, jp(p, "/status"), STATUS_NAMES, NELEM(STATUS_NAMES)));
    o->status = (uint8_t)rc;
    return 0;
}

int desk_alpaca_order_decode(desk_json_t *j, const char *buf, size_t len, desk_alpaca_order_t *out)
{
    jptr_t p;

    TRY(parse_json(j, buf, len));
    jp_init(&p, "", 0);
    return order_at(j, &p, out);
}

int desk_alpaca_orders_decode(desk_json_t *j, const char *buf, size_t len, desk_alpaca_order_t *out,
                              size_t cap)
{
    jptr_t p, e;
    int n;

    TRY(parse_json(j, buf, len));
    if (desk_json_type(j, "") != DESK_JSON_ARRAY)
        return -EBADMSG;
    n = desk_json_count(j, "");
    if (n < 0)
        return -EBADMSG;
    if ((size_t)n > cap)
        return -ENOSPC;
    jp_init(&p, "", 0);
    for (int i = 0; i < n; i++) {
        const char *ptr = jp_index(&p, (size_t)i);
        TRY(jp_init(&e, ptr, strlen(ptr)));
        TRY(order_at(j, &e, &out[i]));
    }
    return n;
}

/*
 * data.* of a trade_updates message.  Only event and order are required:
 * Alpaca documents price/qty/position_qty/timestamp for some events only,
 * and the fill logic (desk_alpaca_fill_delta) relies on the order's
 * cumulative fields rather than on data.qty.  An unparsable timestamp is an
 * error rather than ignored, because it signals a corrupted message.
 */
static int update_at(desk_json_t *j, desk_alpaca_update_t *u)
{
    jptr_t p;
    const char *s;
    size_t n;
    int rc;

    memset(u, 0, sizeof *u);
    if (desk_json_type(j, "/data") != DESK_JSON_OBJECT)
        return -EBADMSG;
    TRY(rc = get_enum(j, "/data/event", EVENT_NAMES, NELEM(EVENT_NAMES)));
    u->event = (uint8_t)rc;
    TRY(rc = get_str(j, "/data/execution_id", u->execution_id, sizeof u->execution_id, OPTIONAL));
    if (rc == 1)
        u->flags |= DESK_ALPACA_UP_EXEC;
    TRY(rc = get_dec(j, "/data/position_qty", &u->position_qty, OPTIONAL, INT64_MIN));
    if (rc == 1)
        u->flags |= DESK_ALPACA_UP_POS_QTY;
    TRY(rc = get_dec(j, "/data/price", &u->price, OPTIONAL, 0));
    if (rc == 1)
        u->flags |= DESK_ALPACA_UP_PRICE;
    TRY(rc = get_dec(j, "/data/qty", &u->qty, OPTIONAL, 0));
    if (rc == 1)
        u->flags |= DESK_ALPACA_UP_QTY;
    rc = desk_json_get_str(j, "/data/timestamp", &s, &n);
    if (rc == 0) {
        TRY(desk_alpaca_time_parse(s, n, &u->timestamp_ns));
        u->flags |= DESK_ALPACA_UP_TS;
    } else if (rc != -ENOENT && !is_null(j, "/data/timestamp")) {
        return -EBADMSG;
    }
    jp_init(&p, "/data/order", sizeof "/data/order" - 1);
    return order_at(j, &p, &u->order);
}

/* Bits for data.streams of a listening message; at most 32 entries. */
static int listening_at(desk_json_t *j, desk_alpaca_stream_t *m)
{
    jptr_t p;
    int n;

    if (desk_json_type(j, "/data/streams") != DESK_JSON_ARRAY)
        return -EBADMSG;
    n = desk_json_count(j, "/data/streams");
    if (n < 0 || n > 32)
        return -EBADMSG;
    m->nstreams = (uint32_t)n;
    jp_init(&p, "/data/streams", sizeof "/data/streams" - 1);
    for (int i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if (get_view(j, jp_index(&p, (size_t)i), &s, &len) != 0)
            return -EBADMSG;
        if (len == 13 && memcmp(s, "trade_updates", 13) == 0)
            m->streams |= DESK_ALPACA_STREAM_TRADE_UPDATES;
    }
    return 0;
}

/*
 * Dispatch on "stream".  Unknown streams are reported as OTHER rather than as
 * errors: Alpaca adds streams, and a connector must not drop its session over
 * a message it did not subscribe to.  Unknown values inside a known stream
 * (an authorization status, a trade event) are errors, since guessing would
 * change desk's order state.
 */
int desk_alpaca_stream_decode(desk_json_t *j, const char *buf, size_t len,
                              desk_alpaca_stream_t *out)
{
    const char *s;
    size_t n;

    memset(out, 0, sizeof *out);
    TRY(parse_json(j, buf, len));
    if (desk_json_type(j, "") != DESK_JSON_OBJECT || get_view(j, "/stream", &s, &n) != 0)
        return -EBADMSG;
    if (n == 13 && memcmp(s, "trade_updates", 13) == 0) {
        TRY(update_at(j, &out->update));
        out->kind = DESK_ALPACA_MSG_TRADE_UPDATE;
    } else if (n == 13 && memcmp(s, "authorization", 13) == 0) {
        if (desk_json_type(j, "/data") != DESK_JSON_OBJECT ||
            get_view(j, "/data/status", &s, &n) != 0)
            return -EBADMSG;
        if (n == 10 && memcmp(s, "authorized", 10) == 0)
            out->authorized = 1;
        else if (!(n == 12 && memcmp(s, "unauthorized", 12) == 0))
            return -EBADMSG;
        int rc = desk_json_get_str(j, "/data/action", &s, &n);
        if (rc == 0)
            out->action = (n == 12 && memcmp(s, "authenticate", 12) == 0) ? DESK_ALPACA_ACT_AUTHENTICATE
                          : (n == 6 && memcmp(s, "listen", 6) == 0)       ? DESK_ALPACA_ACT_LISTEN
                                                                          : DESK_ALPACA_ACT_OTHER;
        else if (rc != -ENOENT)
            return -EBADMSG;
        out->kind = DESK_ALPACA_MSG_AUTHORIZATION;
    } else if (n == 9 && memcmp(s, "listening", 9) == 0) {
        TRY(listening_at(j, out));
        out->kind = DESK_ALPACA_MSG_LISTENING;
    } else {
        out->kind = DESK_ALPACA_MSG_OTHER;
    }
    return out->kind;
}

/*
 * Money fields are signed (cash goes negative on margin); the flags default
 * to 0 when absent, which is Alpaca's own default for every one of them.
 */
int desk_alpaca_account_decode(desk_json_t *j, const char *buf, size_t len,
                               desk_alpaca_account_t *out)
{
    int rc;
    const char *s;
    size_t n;

    memset(out, 0, sizeof *out);
    TRY(parse_json(j, buf, len));
    if (desk_json_type(j, "") != DESK_JSON_OBJECT)
        return -EBADMSG;
    TRY(get_str(j, "/id", out->id, sizeof out->id, OPTIONAL));
    TRY(get_str(j, "/status", out->status, sizeof out->status, REQ));
    out->active = strcmp(out->status, "ACTIVE") == 0;
    TRY(get_str(j, "/currency", out->currency, sizeof out->currency, OPTIONAL));
    TRY(get_dec(j, "/buying_power", &out->buying_power, REQ, INT64_MIN));
    TRY(get_dec(j, "/cash", &out->cash, REQ, INT64_MIN));
    TRY(get_flag(j, "/pattern_day_trader", &out->pattern_day_trader));
    TRY(get_flag(j, "/trading_blocked", &out->trading_blocked));
    TRY(get_flag(j, "/account_blocked", &out->account_blocked));
    TRY(get_dec(j, "/multiplier", &out->multiplier, OPTIONAL, 0));
    TRY(get_flag(j, "/shorting_enabled", &out->shorting_enabled));
    TRY(get_dec(j, "/equity", &out->equity, REQ, INT64_MIN));
    TRY(get_dec(j, "/last_equity", &out->last_equity, OPTIONAL, INT64_MIN));
    TRY(get_dec(j, "/long_market_value", &out->long_market_value, OPTIONAL, INT64_MIN));
    TRY(get_dec(j, "/short_market_value", &out->short_market_value, OPTIONAL, INT64_MIN));
    TRY(get_dec(j, "/initial_margin", &out->initial_margin, OPTIONAL, INT64_MIN));
    TRY(get_dec(j, "/maintenance_margin", &out->maintenance_margin, OPTIONAL, INT64_MIN));

    /* daytrade_count: a JSON integer on the live wire, a string in some captures. */
    rc = desk_json_get_i64(j, "/daytrade_count", &out->daytrade_count);
    if (rc == -EINVAL && desk_json_get_str(j, "/daytrade_count", &s, &n) == 0) {
        int64_t v = 0;
        if (n == 0 || n > 18)
            return -EBADMSG;
        for (size_t i = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return -EBADMSG;
            v = v * 10 + (s[i] - '0');
        }
        out->daytrade_count = v;
    } else if (rc == -EINVAL && is_null(j, "/daytrade_count")) {
        out->daytrade_count = 0;
    } else if (rc != 0 && rc != -ENOENT) {
        return -EBADMSG;
    }
    return 0;
}

/*
 * The element count is checked against cap before anything is decoded, so a
 * huge array costs one count, not cap walks.  side must agree with the sign
 * of qty: a "long" with a negative qty means one of the two is corrupt, and
 * desk would otherwise reconcile the wrong direction.
 */
int desk_alpaca_positions_decode(desk_json_t *j, const char *buf, size_t len,
                                 desk_alpaca_position_t *out, size_t cap)
{
    jptr_t p, e;
    int n;

    TRY(parse_json(j, buf, len));
    if (desk_json_type(j, "") != DESK_JSON_ARRAY)
        return -EBADMSG;
    n = desk_json_count(j, "");
    if (n < 0)
        return -EBADMSG;
    if ((size_t)n > cap)
        return -ENOSPC;
    jp_init(&p, "", 0);
    for (int i = 0; i < n; i++) {
        desk_alpaca_position_t *o = &out[i];
        const char *ptr = jp_index(&p, (size_t)i);
        const char *s;
        size_t len2;

        memset(o, 0, sizeof *o);
        TRY(jp_init(&e, ptr, strlen(ptr)));
        if (desk_json_type(j, jp(&e, "")) != DESK_JSON_OBJECT)
            return -EBADMSG;
        TRY(get_str(j, jp(&e, "/symbol"), o->symbol, sizeof o->symbol, REQ));
        TRY(get_dec(j, jp(&e, "/avg_entry_price"), &o->avg_entry_price, REQ, 0));
        TRY(get_dec(j, jp(&e, "/qty"), &o->qty, REQ, INT64_MIN));
        if (get_view(j, jp(&e, "/side"), &s, &len2) != 0)
            return -EBADMSG;
        if (len2 == 4 && memcmp(s, "long", 4) == 0 && o->qty >= 0)
            o->side = DESK_ALPACA_LONG;
        else if (len2 == 5 && memcmp(s, "short", 5) == 0 && o->qty <= 0)
            o->side = DESK_ALPACA_SHORT;
        else
            return -EBADMSG; /* unknown side, or a side that contradicts qty's sign */
        TRY(get_dec(j, jp(&e, "/market_value"), &o->market_value, OPTIONAL, INT64_MIN));
        TRY(get_dec(j, jp(&e, "/cost_basis"), &o->cost_basis, OPTIONAL, INT64_MIN));
        TRY(get_dec(j, jp(&e, "/unrealized_pl"), &o->unrealized_pl, OPTIONAL, INT64_MIN));
        TRY(get_dec(j, jp(&e, "/current_price"), &o->current_price, OPTIONAL, 0));
    }
    return n;
}

/*
 * The message is human text for logs: it is the one string the codec cuts
 * (and flags) instead of rejecting, and an embedded NUL ends it early.  A
 * "code" that is not an integer means the body is not Alpaca's error shape.
 */
int desk_alpaca_error_decode(desk_json_t *j, const char *buf, size_t len, desk_alpaca_error_t *out)
{
    const char *s;
    size_t n, k;
    int rc;

    memset(out, 0, sizeof *out);
    TRY(parse_json(j, buf, len));
    if (desk_json_type(j, "") != DESK_JSON_OBJECT)
        return -EBADMSG;
    rc = desk_json_get_i64(j, "/code", &out->code);
    if (rc == 0)
        out->has_code = 1;
    else if (rc != -ENOENT && !(rc == -EINVAL && is_null(j, "/code")))
        return -EBADMSG;
    if (get_view(j, "/message", &s, &n) != 0)
        return -EBADMSG;
    k = n < sizeof out->message - 1 ? n : sizeof out->message - 1;
    const char *nul = memchr(s, '\0', k);
    if (nul != NULL)
        k = (size_t)(nul - s);
    memcpy(out->message, s, k);
    out->message[k] = '\0';
    out->truncated = k != n;
    return 0;
}

/*
 * Quote prices are JSON numbers on Alpaca's market-data API; the shim turns
 * the number's own text into fixed point, so 170.34 is exact (no double in
 * between).  The multi-symbol form needs the symbol as a pointer token, with
 * RFC 6901 escapes for crypto pairs such as "BTC/USD".
 */
int desk_alpaca_quote_decode(desk_json_t *j, const char *buf, size_t len, const char *symbol,
                             desk_quote_t *out)
{
    jptr_t p;
    const char *s;
    size_t n;

    memset(out, 0, sizeof *out);
    TRY(parse_json(j, buf, len));
    if (desk_json_type(j, "") != DESK_JSON_OBJECT)
        return -EBADMSG;
    if (desk_json_type(j, "/quote") == DESK_JSON_OBJECT) {
        jp_init(&p, "/quote", 6);
        /* A single-symbol reply for another symbol is not this symbol's quote. */
        if (symbol != NULL && desk_json_get_str(j, "/symbol", &s, &n) == 0 &&
            !(strlen(symbol) == n && memcmp(symbol, s, n) == 0))
            return -EBADMSG;
    } else if (symbol != NULL && desk_json_type(j, "/quotes") == DESK_JSON_OBJECT) {
        /* "/quotes/<symbol>" with RFC 6901 escapes: "~" -> "~0", "/" -> "~1". */
        size_t k = 8;
        memcpy(p.s, "/quotes/", 8);
        for (const char *c = symbol; *c; c++) {
            if (k + 3 >= sizeof p.s - 16)
                return -EBADMSG;
            if (*c == '~' || *c == '/') {
                p.s[k++] = '~';
                p.s[k++] = *c == '~' ? '0' : '1';
            } else {
                p.s[k++] = *c;
            }
        }
        p.s[k] = '\0';
        p.plen = k;
        if (desk_json_type(j, jp(&p, "")) != DESK_JSON_OBJECT)
            return -EBADMSG;
    } else {
        return -EBADMSG;
    }
    TRY(get_dec(j, jp(&p, "/ap"), &out->ask_px, REQ, 0));
    TRY(get_dec(j, jp(&p, "/as"), &out->ask_qty, REQ, 0));
    TRY(get_dec(j, jp(&p, "/bp"), &out->bid_px, REQ, 0));
    TRY(get_dec(j, jp(&p, "/bs"), &out->bid_qty, REQ, 0));
    if (get_view(j, jp(&p, "/t"), &s, &n) != 0)
        return -EBADMSG;
    int64_t t;
    TRY(desk_alpaca_time_parse(s, n, &t));
    out->venue_ts_ns = (uint64_t)t;
    return 0;
}

/* An RFC 3339 string field (required) as ns since the epoch. */
static int get_time(desk_json_t *j, const char *ptr, int64_t *ns)
{
    const char *s;
    size_t n;

    if (get_view(j, ptr, &s, &n) != 0)
        return -EBADMSG;
    return desk_alpaca_time_parse(s, n, ns);
}

int desk_alpaca_activities_decode(desk_json_t *j, const char *buf, size_t len,
                                  desk_alpaca_activity_t *out, size_t cap)
{
    jptr_t p, e;
    int n, rc;

    TRY(parse_json(j, buf, len));
    if (desk_json_type(j, "") != DESK_JSON_ARRAY)
        return -EBADMSG;
    n = desk_json_count(j, "");
    if (n < 0)
        return -EBADMSG;
    if ((size_t)n > cap)
        return -ENOSPC;
    jp_init(&p, "", 0);
    for (int i = 0; i < n; i++) {
        desk_alpaca_activity_t *a = &out[i];
        const char *ptr = jp_index(&p, (size_t)i);
        const char *s;
        size_t sl;

        memset(a, 0, sizeof *a);
        TRY(jp_init(&e, ptr, strlen(ptr)));
        if (desk_json_type(j, jp(&e, "")) != DESK_JSON_OBJECT)
            return -EBADMSG;
        TRY(get_str(j, jp(&e, "/id"), a->id, sizeof a->id, REQ));
        rc = desk_json_get_str(j, jp(&e, "/activity_type"), &s, &sl);
        if (rc == 0 && !(sl == 4 && memcmp(s, "FILL", 4) == 0))
            return -EBADMSG;
        if (rc != 0 && rc != -ENOENT)
            return -EBADMSG;
        TRY(get_time(j, jp(&e, "/transaction_time"), &a->transaction_time_ns));
        if (get_view(j, jp(&e, "/type"), &s, &sl) != 0)
            return -EBADMSG;
        if (sl == 12 && memcmp(s, "partial_fill", 12) == 0)
            a->partial = 1;
        else if (!(sl == 4 && memcmp(s, "fill", 4) == 0))
            return -EBADMSG;
        TRY(get_dec(j, jp(&e, "/price"), &a->price, REQ, 0));
        TRY(get_dec(j, jp(&e, "/qty"), &a->qty, REQ, 0));
        TRY(rc = get_enum(j, jp(&e, "/side"), SIDE_NAMES, NELEM(SIDE_NAMES)));
        a->side = (uint8_t)rc;
        TRY(get_str(j, jp(&e, "/symbol"), a->symbol, sizeof a->symbol, REQ));
        TRY(get_dec(j, jp(&e, "/leaves_qty"), &a->leaves_qty, REQ, 0));
        TRY(get_str(j, jp(&e, "/order_id"), a->order_id, sizeof a->order_id, REQ));
        TRY(get_dec(j, jp(&e, "/cum_qty"), &a->cum_qty, REQ, 0));
        TRY(rc = get_enum(j, jp(&e, "/order_status"), STATUS_NAMES, NELEM(STATUS_NAMES)));
        a->order_status = (uint8_t)rc;
    }
    return n;
}

int desk_alpaca_clock_decode(desk_json_t *j, const char *buf, size_t len, desk_alpaca_clock_t *out)
{
    int b = 0;

    memset(out, 0, sizeof *out);
    TRY(parse_json(j, buf, len));
    if (desk_json_type(j, "") != DESK_JSON_OBJECT)
        return -EBADMSG;
    TRY(get_time(j, "/timestamp", &out->timestamp_ns));
    if (desk_json_get_bool(j, "/is_open", &b) != 0)
        return -EBADMSG;
    out->is_open = (uint8_t)(b != 0);
    TRY(get_time(j, "/next_open", &out->next_open_ns));
    TRY(get_time(j, "/next_close", &out->next_close_ns));
    return 0;
}

/* --------------------------------------------------------- mapping to desk */

/*
 * The table of codec.h.  pending_* and the other informational events change
 * nothing desk tracks: desk's own state already says PendingCancel when it
 * sent a cancel, and the final outcome arrives as its own event.
 */
int desk_alpaca_event_to_desk(unsigned event)
{
    switch (event) {
    case DESK_ALPACA_EV_NEW:
        return DESK_EV_ACK;
    case DESK_ALPACA_EV_FILL:
    case DESK_ALPACA_EV_PARTIAL_FILL:
        return DESK_EV_FILL;
    case DESK_ALPACA_EV_CANCELED:
        return DESK_EV_CANCELED;
    case DESK_ALPACA_EV_EXPIRED:
    case DESK_ALPACA_EV_DONE_FOR_DAY:
        return DESK_EV_EXPIRED;
    case DESK_ALPACA_EV_REPLACED:
        return DESK_EV_REPLACED;
    case DESK_ALPACA_EV_REJECTED:
        return DESK_EV_REJECT;
    case DESK_ALPACA_EV_ORDER_REPLACE_REJECTED:
    case DESK_ALPACA_EV_ORDER_CANCEL_REJECTED:
        return DESK_EV_CANCEL_REJECT;
    case DESK_ALPACA_EV_PENDING_NEW:
    case DESK_ALPACA_EV_STOPPED:
    case DESK_ALPACA_EV_PENDING_CANCEL:
    case DESK_ALPACA_EV_PENDING_REPLACE:
    case DESK_ALPACA_EV_CALCULATED:
    case DESK_ALPACA_EV_SUSPENDED:
    case DESK_ALPACA_EV_ACCEPTED:
    case DESK_ALPACA_EV_RESTATED:
        return 0;
    default:
        return -EINVAL;
    }
}

int desk_alpaca_status_to_desk(const desk_alpaca_order_t *o)
{
    switch (o->status) {
    case DESK_ALPACA_ST_NEW:
        return DESK_OS_NEW;
    case DESK_ALPACA_ST_PARTIALLY_FILLED:
        return DESK_OS_PARTIALLY_FILLED;
    case DESK_ALPACA_ST_FILLED:
        return DESK_OS_FILLED;
    case DESK_ALPACA_ST_CANCELED:
        return DESK_OS_CANCELED;
    case DESK_ALPACA_ST_EXPIRED:
    case DESK_ALPACA_ST_DONE_FOR_DAY:
        return DESK_OS_EXPIRED;
    case DESK_ALPACA_ST_REPLACED:
        return DESK_OS_REPLACED;
    case DESK_ALPACA_ST_PENDING_CANCEL:
        return DESK_OS_PENDING_CANCEL;
    case DESK_ALPACA_ST_PENDING_REPLACE:
        return DESK_OS_PENDING_REPLACE;
    case DESK_ALPACA_ST_REJECTED:
        return DESK_OS_REJECTED;
    case DESK_ALPACA_ST_ACCEPTED:
    case DESK_ALPACA_ST_PENDING_NEW:
    case DESK_ALPACA_ST_PENDING_REVIEW:
    case DESK_ALPACA_ST_ACCEPTED_FOR_BIDDING:
        return DESK_OS_PENDING_NEW;
    case DESK_ALPACA_ST_STOPPED:
    case DESK_ALPACA_ST_SUSPENDED:
    case DESK_ALPACA_ST_CALCULATED:
    case DESK_ALPACA_ST_HELD:
        return o->filled_qty > 0 ? DESK_OS_PARTIALLY_FILLED : DESK_OS_NEW;
    default:
        return -EINVAL;
    }
}

int desk_alpaca_status_is_final(unsigned status)
{
    return status == DESK_ALPACA_ST_FILLED || status == DESK_ALPACA_ST_CANCELED ||
           status == DESK_ALPACA_ST_EXPIRED || status == DESK_ALPACA_ST_REPLACED ||
           status == DESK_ALPACA_ST_REJECTED || status == DESK_ALPACA_ST_DONE_FOR_DAY;
}

/*
 * The exec_id is derived from the venue fact, not from Alpaca's execution_id:
 * the same fill can reach desk as a fill update, as the catch-up of a later
 * canceled/expired update, or twice (duplicates), and each path must produce
 * the same exec_id for the router's dedup to work.  (order id, event kind,
 * cumulative qty) identifies the fact: cum qty strictly grows with each fill.
 */
uint64_t desk_alpaca_exec_id(const char *order_id, unsigned event, int64_t filled_qty)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 offset basis */
    const uint64_t prime = 0x100000001b3ull;
    uint64_t q = (uint64_t)filled_qty;

    for (const unsigned char *c = (const unsigned char *)order_id; c && *c; c++)
        h = (h ^ *c) * prime;
    h = (h ^ 0xffu) * prime; /* separator: no id byte is 0xff in practice */
    h = (h ^ (event & 0xffu)) * prime;
    for (int i = 0; i < 8; i++, q >>= 8)
        h = (h ^ (q & 0xffu)) * prime;
    return h != 0 ? h : 1;
}

int desk_alpaca_fill_delta(const desk_alpaca_update_t *u, int64_t prev_cum, int64_t prev_avg_px,
                           int64_t *last_qty, int64_t *last_px)
{
    const desk_alpaca_order_t *o = &u->order;
    int64_t cum = o->filled_qty, avg = o->filled_avg_price, delta, px;

    if (prev_cum < 0 || prev_avg_px < 0)
        return -EPROTO;
    if (cum <= prev_cum)
        return 0; /* nothing new: duplicate or stale (out of order) */
    if ((o->flags & DESK_ALPACA_HAS_QTY) && cum > o->qty)
        return -EPROTO;
    if (!(o->flags & DESK_ALPACA_HAS_AVG) || avg <= 0)
        return -EPROTO;
    delta = cum - prev_cum;

    /* The price implied by the running averages, rounded to nearest. */
    __int128 num = (__int128)avg * cum - (__int128)prev_avg_px * prev_cum;
    __int128 q = num / delta, r = num % delta;
    if (r * 2 >= delta)
        q++;
    if (q <= 0 || q > INT64_MAX)
        return -EPROTO;
    px = (int64_t)q;
    /*
     * data.price is this execution's price when data.qty is this delta and
     * the price agrees with the averages within their rounding (each average
     * is off by < 1e-8, scaled by cum/delta): use it, since it is exact.
     * Otherwise (price is a running average, or updates were lost) keep the
     * implied price.
     */
    if ((u->flags & (DESK_ALPACA_UP_PRICE | DESK_ALPACA_UP_QTY)) ==
            (DESK_ALPACA_UP_PRICE | DESK_ALPACA_UP_QTY) &&
        u->qty == delta && u->price > 0) {
        __int128 tol = ((__int128)cum + prev_cum) / delta + 2;
        __int128 diff = (__int128)u->price - px;
        if (diff <= tol && -diff <= tol)
            px = u->price;
    }
    *last_qty = delta;
    *last_px = px;
    return 1;
}

/*
 * Final events carry the order's final filled_qty.  If desk has seen less,
 * a fill update was lost or is still in flight behind this one (Alpaca does
 * not promise order across events), so the missing quantity is applied as a
 * catch-up FILL before the final event; when the real fill update arrives
 * later it adds nothing (its cum is not above what desk applied).
 */
int desk_alpaca_update_to_vevents(const desk_alpaca_update_t *u, int64_t prev_cum,
                                  int64_t prev_avg_px, desk_vevent_t out[2])
{
    int t = desk_alpaca_event_to_desk(u->event);
    int n = 0, rc;
    int64_t lq = 0, lp = 0;

    if (t < 0)
        return -EINVAL;
    if (t == 0)
        return 0; /* informational */
    if (t == DESK_EV_FILL || t == DESK_EV_CANCELED || t == DESK_EV_EXPIRED ||
        t == DESK_EV_REPLACED) {
        rc = desk_alpaca_fill_delta(u, prev_cum, prev_avg_px, &lq, &lp);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            memset(&out[n], 0, sizeof out[n]);
            out[n].type = DESK_EV_FILL;
            out[n].exec_id = desk_alpaca_exec_id(u->order.id, DESK_ALPACA_EV_FILL,
                                                 u->order.filled_qty);
            out[n].last_px = lp;
            out[n].last_qty = lq;
            out[n].cum_qty = u->order.filled_qty;
            n++;
        }
        if (t == DESK_EV_FILL)
            return n;
    }
    /* done_for_day and expired are one desk fact: one exec_id for both. */
    unsigned fact = u->event == DESK_ALPACA_EV_DONE_FOR_DAY ? DESK_ALPACA_EV_EXPIRED : u->event;
    memset(&out[n], 0, sizeof out[n]);
    out[n].type = (uint8_t)t;
    out[n].exec_id = desk_alpaca_exec_id(u->order.id, fact, u->order.filled_qty);
    out[n].cum_qty = u->order.filled_qty;
    if (t == DESK_EV_REJECT || t == DESK_EV_CANCEL_REJECT)
        out[n].reason = DESK_REJ_VENUE;
    return n + 1;
}

/* ------------------------------------------------ recovery, reconciliation */

int64_t desk_alpaca_chain_cum(int64_t desk_qty, const desk_alpaca_order_t *o)
{
    if (!(o->flags & DESK_ALPACA_HAS_QTY) || o->qty <= 0 || o->qty > desk_qty)
        return -EPROTO;
    return desk_qty - o->qty;
}

/*
 * The connector lost its memory of the order with the crash; deskd kept the
 * cum qty in its journal.  So the fill is stated as the venue's total
 * (CATCHUP) and the router works out the part it missed, rather than the
 * connector guessing a delta.
 */
int desk_alpaca_recover_vevents(const desk_alpaca_order_t *o, int64_t chain_cum, int want_ack,
                                desk_vevent_t out[2])
{
    int n = 0, t;

    if (chain_cum < 0 || o->filled_qty < 0 || o->filled_qty > INT64_MAX - chain_cum)
        return -EPROTO;
    if ((o->flags & DESK_ALPACA_HAS_QTY) && o->filled_qty > o->qty)
        return -EPROTO;
    switch (o->status) {
    case DESK_ALPACA_ST_FILLED:
    case DESK_ALPACA_ST_REPLACED:
        t = 0;
        break;
    case DESK_ALPACA_ST_CANCELED:
        t = DESK_EV_CANCELED;
        break;
    case DESK_ALPACA_ST_EXPIRED:
    case DESK_ALPACA_ST_DONE_FOR_DAY:
        t = DESK_EV_EXPIRED;
        break;
    case DESK_ALPACA_ST_REJECTED:
        t = DESK_EV_REJECT;
        break;
    default:
        if (o->status == 0 || o->status >= DESK_ALPACA_ST__COUNT)
            return -EINVAL;
        t = o->filled_qty == 0 && want_ack ? DESK_EV_ACK : 0; /* open */
        break;
    }
    if (o->filled_qty > 0) {
        if (!(o->flags & DESK_ALPACA_HAS_AVG) || o->filled_avg_price <= 0)
            return -EPROTO;
        memset(&out[n], 0, sizeof out[n]);
        out[n].type = DESK_EV_FILL;
        out[n].flags = DESK_VEV_CATCHUP;
        out[n].exec_id = desk_alpaca_exec_id(o->id, DESK_ALPACA_EV_FILL, o->filled_qty);
        out[n].last_px = o->filled_avg_price;
        out[n].last_qty = o->filled_qty;
        out[n].cum_qty = chain_cum + o->filled_qty;
        n++;
    }
    if (t == 0)
        return n;
    /* The same exec_ids as the stream's events for these facts. */
    unsigned fact = t == DESK_EV_CANCELED  ? DESK_ALPACA_EV_CANCELED
                    : t == DESK_EV_EXPIRED ? DESK_ALPACA_EV_EXPIRED
                    : t == DESK_EV_REJECT  ? DESK_ALPACA_EV_REJECTED
                                           : DESK_ALPACA_EV_NEW;
    memset(&out[n], 0, sizeof out[n]);
    out[n].type = (uint8_t)t;
    out[n].exec_id = desk_alpaca_exec_id(o->id, fact, o->filled_qty);
    out[n].cum_qty = chain_cum + o->filled_qty;
    if (t == DESK_EV_REJECT)
        out[n].reason = DESK_REJ_VENUE;
    if (t == DESK_EV_ACK)
        out[n].flags = DESK_VEV_STATUS; /* deskd may have had it acked already */
    return n + 1;
}

int desk_alpaca_positions_map(const desk_alpaca_position_t *ap, size_t n, const char *const *syms,
                              const uint32_t *ids, uint32_t ninst, desk_position_t *out, size_t cap,
                              uint32_t *unmapped)
{
    size_t got = 0;

    *unmapped = 0;
    for (size_t k = 0; k < n; k++) {
        size_t sl = strlen(ap[k].symbol);
        while (sl > 0 && ap[k].symbol[sl - 1] == ' ')
            sl--;
        uint32_t j;
        for (j = 0; j < ninst; j++)
            if (syms[j] && strlen(syms[j]) == sl && memcmp(syms[j], ap[k].symbol, sl) == 0)
                break;
        if (j == ninst) {
            (*unmapped)++;
            continue;
        }
        if (got == cap)
            return -ENOSPC;
        memset(&out[got], 0, sizeof out[got]);
        out[got].instrument = ids[j];
        out[got].qty = ap[k].qty;
        out[got].avg_px = ap[k].avg_entry_price;
        got++;
    }
    return (int)got;
}
