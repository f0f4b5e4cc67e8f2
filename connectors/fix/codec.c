/*
 * codec.c - FIX 4.4 tag=value <-> desk structs (see codec.h).
 *
 * Parsing is one forward pass: match the fixed prefix "8=FIX.4.4<SOH>9=",
 * read BodyLength, check that the trailer "10=ddd<SOH>" sits exactly where
 * BodyLength says, check the CheckSum, and only then index the fields.  A
 * message that fails a framing check is dropped up to the next place where a
 * message could start ("8=FIX.4.4<SOH>9=" anywhere in the buffer, as
 * QuickFIX's parser resynchronises on "8="), so one corrupt message never
 * costs the ones behind it.
 *
 * Encoding writes into the caller's buffer through a cursor (desk_fix_enc_t)
 * whose first error is sticky, so a message body reads as a straight list of
 * fields and the space is checked once, by finish.  The header's first two
 * fields are written last, right-aligned in front of the body, which is why
 * no byte is ever moved.  Integers, decimals and timestamps are formatted by
 * hand: printf is slow, locale-dependent and not allowed on the hot path.
 */
#include "connectors/fix/codec.h"

#include <errno.h>
#include <string.h>

#include "core/err.h"
#include "core/fixed.h"

/* Where a message can start: BeginString then the BodyLength tag. */
static const char PAT[] = "8=FIX.4.4\x01"
                          "9=";
#define PAT_LEN 12u /* strlen(PAT) */

#define NS_PER_SEC UINT64_C(1000000000)
#define SEC_PER_DAY UINT64_C(86400)
#define MAX_SEC (UINT64_MAX / NS_PER_SEC) /* last whole second a uint64_t ns holds */

/* ------------------------------------------------------------ small helpers */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Decimal digits of v written at out (no NUL); returns how many (1..20). */
static uint32_t put_u64(char *out, uint64_t v)
{
    char tmp[20];
    uint32_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (uint32_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* Two digits of v (0..99) at out. */
static void put2(char *out, unsigned v)
{
    out[0] = (char)('0' + v / 10);
    out[1] = (char)('0' + v % 10);
}

/*
 * The offset in buf[from..len) of the next "8=FIX.4.4<SOH>9=", or, when none
 * is complete, of the longest tail that could still become one (so those
 * bytes are kept for the next call), or len.  from >= 1, so the result is
 * always >= 1: a drop always makes progress.
 */
static size_t resync(const char *buf, size_t len, size_t from)
{
    const char *hit = memmem(buf + from, len - from, PAT, PAT_LEN);

    if (hit != NULL)
        return (size_t)(hit - buf);
    size_t tail = len - from < PAT_LEN - 1 ? len - from : PAT_LEN - 1;
    for (; tail > 0; tail--)
        if (memcmp(buf + len - tail, PAT, tail) == 0)
            return len - tail;
    return len;
}

/*
 * DATA fields (may contain SOH) and the LENGTH field that must precede each,
 * from FIX44.xml: Signature(89)/SignatureLength(93), SecureData(91)/
 * SecureDataLen(90), RawData(96)/RawDataLength(95), XmlData(213)/
 * XmlDataLen(212), and the Encoded*(349..365, 446, 619, 622) texts.
 * Returns the length tag, or 0 when `tag` is not a DATA field.
 */
static uint32_t data_len_tag(uint32_t tag)
{
    /* clang-format off */
    switch (tag) {
    case 89: return 93;
    case 91: return 90;
    case 96: return 95;
    case 213: return 212;
    case 349: case 351: case 353: case 355: case 357: case 359: case 361: case 363: case 365:
        return tag - 1;
    case 446: return 445;
    case 619: return 618;
    case 622: return 621;
    default: return 0;
    }
    /* clang-format on */
}

/* Unsigned decimal p[0..n) (n >= 1, only digits) into *out; -ERANGE on overflow. */
static int parse_u64(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0)
        return -EBADMSG;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return -EBADMSG;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* ------------------------------------------------------------------ parsing */

int desk_fix_msg_init(desk_fix_msg_t *m, desk_fix_field_t *fields, uint32_t cap)
{
    if (m == NULL || fields == NULL || cap < 4)
        return DESK_ERR(-EINVAL, "FIX field index needs at least 4 entries, got %u", cap);
    m->buf = NULL;
    m->len = 0;
    m->nfields = 0;
    m->cap = cap;
    m->fields = fields;
    return 0;
}

unsigned desk_fix_checksum(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint32_t sum = 0;

    /* Unsigned chars, as QuickFIX does: the spec's fragment sums plain char,
     * which is signed on x86 and wrong for bytes >= 0x80 (PROTOCOLS.md 3.2). */
    for (size_t i = 0; i < n; i++)
        sum += b[i];
    return sum & 0xffu;
}

/*
 * Index the fields of a framed message whose body is buf[body..end) (end is
 * the offset of "10=").  Returns 0, -EBADMSG (field syntax) or -EMSGSIZE.
 */
/*
 * Tags are 1..9 digits without a leading zero ("035" is not 35: QuickFIX
 * would read it as 35, but no engine sends it, and accepting two spellings
 * of one tag would let a duplicate slip past a first-occurrence lookup).
 */
static int index_fields(const char *buf, uint32_t body, uint32_t end, desk_fix_msg_t *m)
{
    uint32_t p = body;
    uint32_t n = 2; /* fields[0] and [1] are 8 and 9 */

    while (p < end) {
        uint32_t tag = 0, nd = 0;

        if (buf[p] == '0')
            return -EBADMSG; /* tag 0 or a leading zero: not a tag */
        while (p < end && is_digit(buf[p])) {
            if (++nd > 9)
                return -EBADMSG;
            tag = tag * 10 + (uint32_t)(buf[p] - '0');
            p++;
        }
        if (nd == 0 || p >= end || buf[p] != '=')
            return -EBADMSG;
        p++;
        uint32_t v = p, vlen;
        uint32_t lt = data_len_tag(tag);
        if (lt != 0 && n > 2 && m->fields[n - 1].tag == lt) {
            /* DATA: its length is the previous field's value. */
            uint64_t dl;
            const desk_fix_field_t *lf = &m->fields[n - 1];
            if (parse_u64(buf + lf->off, lf->len, &dl) != 0 || dl >= end - v ||
                buf[v + dl] != DESK_FIX_SOH)
                return -EBADMSG;
            vlen = (uint32_t)dl;
        } else {
            /* buf[end - 1] is SOH (checked by the framer): memchr finds one. */
            const char *soh = memchr(buf + v, DESK_FIX_SOH, end - v);
            vlen = (uint32_t)(soh - (buf + v));
        }
        if (n + 1 >= m->cap)
            return -EMSGSIZE; /* keep one slot for the CheckSum field */
        m->fields[n].tag = tag;
        m->fields[n].off = v;
        m->fields[n].len = vlen;
        n++;
        p = v + vlen + 1;
    }
    /* 35 MsgType must be the third field and not empty (PROTOCOLS.md 3.1). */
    if (n < 3 || m->fields[2].tag != DESK_FIX_MsgType || m->fields[2].len == 0)
        return -EBADMSG;
    m->fields[n].tag = DESK_FIX_CheckSum;
    m->fields[n].off = end + 3;
    m->fields[n].len = 3;
    m->nfields = n + 1;
    return 0;
}

/*
 * The order of the checks matters.  Framing (prefix, BodyLength, trailer) is
 * decided only from bytes that are present, so a message split anywhere
 * gives -EAGAIN and the same answer once whole.  CheckSum comes before the
 * field index so a corrupt message is never indexed.  A framing failure
 * drops only up to the next possible start (resync); a checksum or syntax
 * failure inside a sound frame drops exactly that frame.
 */
int desk_fix_parse(const char *buf, size_t len, desk_fix_msg_t *m, size_t *used)
{
    size_t i = PAT_LEN, nd = 0;
    uint64_t blen = 0;

    *used = 0;
    m->nfields = 0;
    if (len == 0)
        return -EAGAIN;
    if (memcmp(buf, PAT, len < PAT_LEN ? len : PAT_LEN) != 0)
        goto garbage;
    if (len < PAT_LEN)
        return -EAGAIN; /* a prefix of "8=FIX.4.4<SOH>9=" */

    /* 9 BodyLength: digits, possibly zero-padded ("9=0000113"). */
    while (i < len && is_digit(buf[i])) {
        if (++nd > 10)
            goto garbage;
        blen = blen * 10 + (uint64_t)(buf[i] - '0');
        i++;
    }
    if (i == len)
        return -EAGAIN;
    /* The smallest body is "35=X<SOH>": five bytes. */
    if (nd == 0 || buf[i] != DESK_FIX_SOH || blen < 5 || blen > DESK_FIX_MAX_BODY)
        goto garbage;
    size_t body = i + 1;
    size_t end = body + (size_t)blen; /* where "10=" must start */
    if (len < end + DESK_FIX_TRAILER_LEN)
        return -EAGAIN;
    if (buf[end - 1] != DESK_FIX_SOH || memcmp(buf + end, "10=", 3) != 0 ||
        !is_digit(buf[end + 3]) || !is_digit(buf[end + 4]) || !is_digit(buf[end + 5]) ||
        buf[end + 6] != DESK_FIX_SOH)
        goto garbage; /* BodyLength does not point at the trailer */

    size_t frame = end + DESK_FIX_TRAILER_LEN;
    unsigned want = (unsigned)(buf[end + 3] - '0') * 100 + (unsigned)(buf[end + 4] - '0') * 10 +
                    (unsigned)(buf[end + 5] - '0');
    *used = frame;
    if (desk_fix_checksum(buf, end) != want)
        return -EBADMSG;

    m->fields[0].tag = DESK_FIX_BeginString;
    m->fields[0].off = 2;
    m->fields[0].len = 7;
    m->fields[1].tag = DESK_FIX_BodyLength;
    m->fields[1].off = PAT_LEN;
    m->fields[1].len = (uint32_t)nd;
    int rc = index_fields(buf, (uint32_t)body, (uint32_t)end, m);
    if (rc != 0) {
        m->nfields = 0;
        return rc;
    }
    m->buf = buf;
    m->len = (uint32_t)frame;
    return 0;

garbage:
    *used = resync(buf, len, 1);
    return -EBADMSG;
}

desk_fix_sv_t desk_fix_msg_type(const desk_fix_msg_t *m)
{
    desk_fix_sv_t sv = {NULL, 0};

    if (m->nfields >= 3) {
        sv.p = m->buf + m->fields[2].off;
        sv.len = m->fields[2].len;
    }
    return sv;
}

int desk_fix_msg_is(const desk_fix_msg_t *m, const char *type)
{
    desk_fix_sv_t t = desk_fix_msg_type(m);
    size_t n = strlen(type);

    return t.len == n && n > 0 && memcmp(t.p, type, n) == 0;
}

int desk_fix_find(const desk_fix_msg_t *m, uint32_t tag)
{
    for (uint32_t i = 0; i < m->nfields; i++)
        if (m->fields[i].tag == tag)
            return (int)i;
    return -ENOENT;
}

/* The value of field f of m as a view. */
static desk_fix_sv_t fv(const desk_fix_msg_t *m, const desk_fix_field_t *f)
{
    desk_fix_sv_t sv = {m->buf + f->off, f->len};
    return sv;
}

/* Signed decimal integer: [-]digits.  0, -EBADMSG or -ERANGE. */
static int sv_int(desk_fix_sv_t v, int64_t *out)
{
    int neg = v.len > 0 && v.p[0] == '-';
    uint64_t u;
    int rc = parse_u64(v.p + neg, v.len - (uint32_t)neg, &u);

    if (rc != 0)
        return rc;
    if (neg) {
        if (u > (uint64_t)INT64_MAX + 1)
            return -ERANGE;
        *out = (int64_t)(0 - u);
    } else {
        if (u > (uint64_t)INT64_MAX)
            return -ERANGE;
        *out = (int64_t)u;
    }
    return 0;
}

static int sv_fixed(desk_fix_sv_t v, int64_t *out)
{
    if (v.len == 0)
        return -EBADMSG;
    return desk_fixed_parse(v.p, v.len, out);
}

static int sv_char(desk_fix_sv_t v, char *out)
{
    if (v.len != 1)
        return -EBADMSG;
    *out = v.p[0];
    return 0;
}

static int sv_bool(desk_fix_sv_t v, int *out)
{
    if (v.len != 1 || (v.p[0] != 'Y' && v.p[0] != 'N'))
        return -EBADMSG;
    *out = v.p[0] == 'Y';
    return 0;
}

int desk_fix_get_str(const desk_fix_msg_t *m, uint32_t tag, desk_fix_sv_t *out)
{
    int i = desk_fix_find(m, tag);

    if (i < 0) {
        out->p = NULL;
        out->len = 0;
        return -ENOENT;
    }
    *out = fv(m, &m->fields[i]);
    return 0;
}

int desk_fix_get_int(const desk_fix_msg_t *m, uint32_t tag, int64_t *out)
{
    desk_fix_sv_t v;
    int rc = desk_fix_get_str(m, tag, &v);

    return rc != 0 ? rc : sv_int(v, out);
}

int desk_fix_get_fixed(const desk_fix_msg_t *m, uint32_t tag, int64_t *out)
{
    desk_fix_sv_t v;
    int rc = desk_fix_get_str(m, tag, &v);

    return rc != 0 ? rc : sv_fixed(v, out);
}

int desk_fix_get_char(const desk_fix_msg_t *m, uint32_t tag, char *out)
{
    desk_fix_sv_t v;
    int rc = desk_fix_get_str(m, tag, &v);

    return rc != 0 ? rc : sv_char(v, out);
}

int desk_fix_get_bool(const desk_fix_msg_t *m, uint32_t tag, int *out)
{
    desk_fix_sv_t v;
    int rc = desk_fix_get_str(m, tag, &v);

    return rc != 0 ? rc : sv_bool(v, out);
}

int desk_fix_get_time(const desk_fix_msg_t *m, uint32_t tag, uint64_t *ns)
{
    desk_fix_sv_t v;
    int rc = desk_fix_get_str(m, tag, &v);

    return rc != 0 ? rc : desk_fix_time_parse(v.p, v.len, ns);
}

/* --------------------------------------------------------------- timestamps */

/*
 * Days since 1970-01-01 of a proleptic Gregorian date, and back (Howard
 * Hinnant's public-domain algorithms, for dates on or after 1970 only).
 */
static uint64_t days_from_civil(unsigned y, unsigned m, unsigned d)
{
    y -= m <= 2 ? 1u : 0u;
    unsigned era = y / 400;
    unsigned yoe = y - era * 400;
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (uint64_t)era * 146097 + doe - 719468;
}

static void civil_from_days(uint64_t z, unsigned *y, unsigned *m, unsigned *d)
{
    z += 719468;
    uint64_t era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (unsigned)(yoe + era * 400) + (*m <= 2 ? 1u : 0u);
}

/* Value of n digits at s, or -1 if any is not a digit. */
static int num(const char *s, unsigned n)
{
    int v = 0;

    for (unsigned i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/*
 * Fixed positions, no sscanf: the 17 leading characters are checked digit
 * by digit and range by range (Feb 29 only in leap years), and the fraction
 * is scaled to ns whatever its width, so ".5" is 500 ms.
 */
int desk_fix_time_parse(const char *s, size_t len, uint64_t *ns)
{
    static const unsigned char mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (len < 17 || s[8] != '-' || s[11] != ':' || s[14] != ':')
        return -EBADMSG;
    int y = num(s, 4), mo = num(s + 4, 2), d = num(s + 6, 2);
    int h = num(s + 9, 2), mi = num(s + 12, 2), se = num(s + 15, 2);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || se < 0 || se > 60)
        return -EBADMSG;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return -EBADMSG;
    if (se == 60)
        se = 59; /* a leap second: FIX allows it, POSIX time has no room for it */

    uint64_t frac = 0;
    if (len > 17) {
        size_t nf = len - 18;
        if (s[17] != '.' || nf < 1 || nf > 9)
            return -EBADMSG;
        for (size_t i = 0; i < 9; i++) {
            frac *= 10;
            if (i < nf) {
                if (!is_digit(s[18 + i]))
                    return -EBADMSG;
                frac += (uint64_t)(s[18 + i] - '0');
            }
        }
    }
    uint64_t sec = days_from_civil((unsigned)y, (unsigned)mo, (unsigned)d) * SEC_PER_DAY +
                   (uint64_t)h * 3600 + (uint64_t)mi * 60 + (uint64_t)se;
    if (sec > MAX_SEC || sec * NS_PER_SEC > UINT64_MAX - frac)
        return -EBADMSG;
    *ns = sec * NS_PER_SEC + frac;
    return 0;
}

/* "YYYYMMDD-HH:MM:SS" of Unix second sec at out (17 bytes). */
static void sec_text(uint64_t sec, char *out)
{
    unsigned y, m, d;
    uint64_t sod = sec % SEC_PER_DAY;

    civil_from_days(sec / SEC_PER_DAY, &y, &m, &d);
    put2(out, y / 100);
    put2(out + 2, y % 100);
    put2(out + 4, m);
    put2(out + 6, d);
    out[8] = '-';
    put2(out + 9, (unsigned)(sod / 3600));
    out[11] = ':';
    put2(out + 12, (unsigned)(sod / 60 % 60));
    out[14] = ':';
    put2(out + 15, (unsigned)(sod % 60));
}

/* ".sss" of ns at out (4 bytes). */
static void ms_text(uint64_t ns, char *out)
{
    unsigned ms = (unsigned)(ns / 1000000 % 1000);

    out[0] = '.';
    out[1] = (char)('0' + ms / 100);
    put2(out + 2, ms % 100);
}

int desk_fix_time_format(uint64_t ns, char out[DESK_FIX_TIME_LEN])
{
    sec_text(ns / NS_PER_SEC, out);
    ms_text(ns, out + 17);
    return DESK_FIX_TIME_LEN;
}

/* ------------------------------------------------------ numbers and ids */

/*
 * Exact: integer part and 8 fractional digits from integer division, then
 * trailing zeros trimmed (FIX decimals have no fixed width: "150.25" and
 * "150.2500" are equal).  The magnitude is taken in uint64_t so INT64_MIN
 * works.
 */
int desk_fix_fixed_format(int64_t v, char out[21])
{
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t ip = u / (uint64_t)DESK_SCALE, fp = u % (uint64_t)DESK_SCALE;
    uint32_t n = 0;

    if (v < 0)
        out[n++] = '-';
    n += put_u64(out + n, ip);
    if (fp != 0) {
        char f[8];
        uint32_t nf = 8;
        for (int i = 7; i >= 0; i--) {
            f[i] = (char)('0' + fp % 10);
            fp /= 10;
        }
        while (f[nf - 1] == '0')
            nf--; /* fp != 0, so a nonzero digit stops this */
        out[n++] = '.';
        memcpy(out + n, f, nf);
        n += nf;
    }
    return (int)n;
}

int desk_fix_clid_format(uint64_t cl_ord_id, char *out, size_t cap)
{
    char tmp[DESK_FIX_CLID_MAX];
    uint32_t n = 1;

    tmp[0] = 'd';
    n += put_u64(tmp + 1, cl_ord_id);
    if (cap < (size_t)n + 1)
        return -ENOSPC;
    memcpy(out, tmp, n);
    out[n] = '\0';
    return (int)n;
}

/*
 * Strict inverse of desk_fix_clid_format: one spelling per number (no
 * leading zero, no sign), so a ClOrdID desk did not write is never mistaken
 * for one of its own.
 */
int desk_fix_clid_parse(const char *s, size_t len, uint64_t *out)
{
    uint64_t v;

    if (len < 2 || len > 21 || s[0] != 'd' || s[1] == '0')
        return -EBADMSG;
    if (parse_u64(s + 1, len - 1, &v) != 0)
        return -EBADMSG;
    *out = v;
    return 0;
}

/*
 * Numeric ExecIDs without a leading zero map to themselves so logs and
 * journals stay readable; "007" and "7" are different ExecIDs, so a leading
 * zero sends the string down the hash path instead of aliasing "7".
 */
uint64_t desk_fix_exec_id(const char *s, size_t len)
{
    if (len >= 1 && len <= 18 && s[0] != '0') {
        uint64_t v = 0;
        size_t i = 0;
        for (; i < len && is_digit(s[i]); i++)
            v = v * 10 + (uint64_t)(s[i] - '0');
        if (i == len)
            return v; /* < 10^18 < 2^63 */
    }
    uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a 64 */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h | (UINT64_C(1) << 63);
}

/* --------------------------------------------------------------- decoding */

/*
 * The session needs these before anything else (sequence checks, PossDup
 * handling, the latency of SendingTime), so they are decoded together; the
 * getters' linear scans are fine for five fields at the front of a message.
 */
int desk_fix_hdr_decode(const desk_fix_msg_t *m, desk_fix_hdr_t *h)
{
    desk_fix_sv_t v;
    int64_t seq;
    int b;

    memset(h, 0, sizeof *h);
    h->msg_type = desk_fix_msg_type(m);
    if (h->msg_type.len == 0)
        return -EBADMSG;
    if (desk_fix_get_str(m, DESK_FIX_SenderCompID, &h->sender) != 0 || h->sender.len == 0 ||
        desk_fix_get_str(m, DESK_FIX_TargetCompID, &h->target) != 0 || h->target.len == 0)
        return -EBADMSG;
    /* 34 may be 0 only in a SequenceReset-Reset, whose 34 is ignored (3.4). */
    if (desk_fix_get_int(m, DESK_FIX_MsgSeqNum, &seq) != 0 || seq < 0)
        return -EBADMSG;
    h->seq = (uint64_t)seq;
    if (desk_fix_get_time(m, DESK_FIX_SendingTime, &h->sending_ns) != 0)
        return -EBADMSG;
    if (desk_fix_get_str(m, DESK_FIX_PossDupFlag, &v) == 0) {
        if (sv_bool(v, &b) != 0)
            return -EBADMSG;
        h->poss_dup = (uint8_t)b;
    }
    if (desk_fix_get_str(m, DESK_FIX_PossResend, &v) == 0) {
        if (sv_bool(v, &b) != 0)
            return -EBADMSG;
        h->poss_resend = (uint8_t)b;
    }
    if (desk_fix_get_str(m, DESK_FIX_OrigSendingTime, &v) == 0 &&
        desk_fix_time_parse(v.p, v.len, &h->orig_sending_ns) != 0)
        return -EBADMSG;
    return 0;
}

/*
 * The fields an ExecutionReport or OrderCancelReject decoder reads: one pass
 * over the message records the index of each one's first occurrence.
 */
/* clang-format off */
enum {
    S_ORDER_ID, S_CLID, S_ORIG_CLID, S_EXEC_ID, S_EXEC_TYPE, S_ORD_STATUS, S_SYMBOL, S_SIDE,
    S_LEAVES, S_CUM, S_AVG_PX, S_LAST_PX, S_LAST_QTY, S_TEXT, S_REJ_REASON, S_ORDER_QTY,
    S_COMMISSION, S_CXL_REASON, S_RESPONSE_TO, S__COUNT
};

/* The slot of a tag, or -1: a switch, which the compiler turns into a jump
 * table or a binary search, since this runs once per field of every report. */
static int slot_of(uint32_t tag)
{
    switch (tag) {
    case DESK_FIX_OrderID: return S_ORDER_ID;
    case DESK_FIX_ClOrdID: return S_CLID;
    case DESK_FIX_OrigClOrdID: return S_ORIG_CLID;
    case DESK_FIX_ExecID: return S_EXEC_ID;
    case DESK_FIX_ExecType: return S_EXEC_TYPE;
    case DESK_FIX_OrdStatus: return S_ORD_STATUS;
    case DESK_FIX_Symbol: return S_SYMBOL;
    case DESK_FIX_Side: return S_SIDE;
    case DESK_FIX_LeavesQty: return S_LEAVES;
    case DESK_FIX_CumQty: return S_CUM;
    case DESK_FIX_AvgPx: return S_AVG_PX;
    case DESK_FIX_LastPx: return S_LAST_PX;
    case DESK_FIX_LastQty: return S_LAST_QTY;
    case DESK_FIX_Text: return S_TEXT;
    case DESK_FIX_OrdRejReason: return S_REJ_REASON;
    case DESK_FIX_OrderQty: return S_ORDER_QTY;
    case DESK_FIX_Commission: return S_COMMISSION;
    case DESK_FIX_CxlRejReason: return S_CXL_REASON;
    case DESK_FIX_CxlRejResponseTo: return S_RESPONSE_TO;
    default: return -1;
    }
}
/* clang-format on */

/* Views of the slot fields of m; absent ones are {NULL, 0} with have[s] 0. */
static void collect(const desk_fix_msg_t *m, desk_fix_sv_t sv[S__COUNT], uint8_t have[S__COUNT])
{
    memset(have, 0, S__COUNT);
    for (int s = 0; s < S__COUNT; s++) {
        sv[s].p = NULL;
        sv[s].len = 0;
    }
    /* Skip 8, 9, 35 and the trailer: none of them is a slot field. */
    for (uint32_t i = 3; i + 1 < m->nfields; i++) {
        int s = slot_of(m->fields[i].tag);
        if (s >= 0 && !have[s]) {
            have[s] = 1;
            sv[s] = fv(m, &m->fields[i]);
        }
    }
}

/* A required non-empty string slot. */
static int need(const uint8_t *have, const desk_fix_sv_t *sv, int s)
{
    return have[s] && sv[s].len > 0 ? 0 : -EBADMSG;
}

/* A required quantity (>= 0) or, when !is_qty, a price. */
static int need_fixed(const uint8_t *have, const desk_fix_sv_t *sv, int s, int is_qty, int64_t *out)
{
    if (!have[s])
        return -EBADMSG;
    int rc = sv_fixed(sv[s], out);
    if (rc != 0)
        return rc;
    return is_qty && *out < 0 ? -EBADMSG : 0;
}

/* ClOrdID slot: keep the text, and desk's number when it is desk's format. */
static uint64_t clid_of(desk_fix_sv_t v)
{
    uint64_t id = 0;

    if (v.len == 0 || desk_fix_clid_parse(v.p, v.len, &id) != 0)
        return 0;
    return id;
}

/* Optional INT slot into *out (-1 when absent). */
static int opt_int(const uint8_t *have, const desk_fix_sv_t *sv, int s, int32_t *out)
{
    int64_t v;

    *out = -1;
    if (!have[s])
        return 0;
    if (sv_int(sv[s], &v) != 0 || v < 0 || v > INT32_MAX)
        return -EBADMSG;
    *out = (int32_t)v;
    return 0;
}

/*
 * One pass over the fields (collect) instead of one scan per field: an
 * ExecutionReport has 20-30 fields and this runs for every ack and fill.
 * Required fields follow PROTOCOLS.md 3.6 (FIX44.xml marks them required);
 * 55 Symbol is required as real venues send it.  Quantities must not be
 * negative: a negative LeavesQty or CumQty would corrupt the order's
 * cum_qty + leaves_qty == order_qty invariant downstream.
 */
int desk_fix_exec_decode(const desk_fix_msg_t *m, desk_fix_exec_t *x)
{
    desk_fix_sv_t sv[S__COUNT];
    uint8_t have[S__COUNT];
    int rc;

    if (!desk_fix_msg_is(m, "8"))
        return -EINVAL;
    memset(x, 0, sizeof *x);
    collect(m, sv, have);
    if ((rc = need(have, sv, S_ORDER_ID)) != 0 || (rc = need(have, sv, S_EXEC_ID)) != 0 ||
        (rc = need(have, sv, S_SYMBOL)) != 0)
        return rc;
    x->order_id = sv[S_ORDER_ID];
    x->exec_id = sv[S_EXEC_ID];
    x->symbol = sv[S_SYMBOL];
    x->cl_ord_id_s = sv[S_CLID];
    x->orig_cl_ord_s = sv[S_ORIG_CLID];
    x->text = sv[S_TEXT];
    x->cl_ord_id = clid_of(sv[S_CLID]);
    x->orig_cl_ord_id = clid_of(sv[S_ORIG_CLID]);
    if (!have[S_EXEC_TYPE] || sv_char(sv[S_EXEC_TYPE], &x->exec_type) != 0 || !have[S_ORD_STATUS] ||
        sv_char(sv[S_ORD_STATUS], &x->ord_status) != 0 || !have[S_SIDE] ||
        sv_char(sv[S_SIDE], &x->side) != 0)
        return -EBADMSG;
    if ((rc = need_fixed(have, sv, S_LEAVES, 1, &x->leaves_qty)) != 0 ||
        (rc = need_fixed(have, sv, S_CUM, 1, &x->cum_qty)) != 0 ||
        (rc = need_fixed(have, sv, S_AVG_PX, 0, &x->avg_px)) != 0)
        return rc;
    if (x->exec_type == 'F') {
        /* A Trade must say what traded (PROTOCOLS.md 3.6). */
        if ((rc = need_fixed(have, sv, S_LAST_QTY, 1, &x->last_qty)) != 0 ||
            (rc = need_fixed(have, sv, S_LAST_PX, 0, &x->last_px)) != 0)
            return rc;
        if (x->last_qty == 0)
            return -EBADMSG;
    }
    if (have[S_ORDER_QTY] && (rc = need_fixed(have, sv, S_ORDER_QTY, 1, &x->order_qty)) != 0)
        return rc;
    if (have[S_COMMISSION] && (rc = sv_fixed(sv[S_COMMISSION], &x->commission)) != 0)
        return rc;
    return opt_int(have, sv, S_REJ_REASON, &x->ord_rej_reason);
}

int desk_fix_cxlrej_decode(const desk_fix_msg_t *m, desk_fix_cxlrej_t *x)
{
    desk_fix_sv_t sv[S__COUNT];
    uint8_t have[S__COUNT];

    if (!desk_fix_msg_is(m, "9"))
        return -EINVAL;
    memset(x, 0, sizeof *x);
    collect(m, sv, have);
    if (need(have, sv, S_ORDER_ID) != 0 || need(have, sv, S_CLID) != 0 ||
        need(have, sv, S_ORIG_CLID) != 0)
        return -EBADMSG;
    if (!have[S_ORD_STATUS] || sv_char(sv[S_ORD_STATUS], &x->ord_status) != 0 ||
        !have[S_RESPONSE_TO] || sv_char(sv[S_RESPONSE_TO], &x->response_to) != 0 ||
        (x->response_to != '1' && x->response_to != '2'))
        return -EBADMSG;
    x->order_id = sv[S_ORDER_ID];
    x->cl_ord_id_s = sv[S_CLID];
    x->orig_cl_ord_s = sv[S_ORIG_CLID];
    x->text = sv[S_TEXT];
    x->cl_ord_id = clid_of(sv[S_CLID]);
    x->orig_cl_ord_id = clid_of(sv[S_ORIG_CLID]);
    return opt_int(have, sv, S_CXL_REASON, &x->cxl_rej_reason);
}

/* ------------------------------------------------------ account messages */

/* An INT field that must be present; -EBADMSG otherwise. */
static int req_i32(const desk_fix_msg_t *m, uint32_t tag, int32_t *out)
{
    int64_t v;

    if (desk_fix_get_int(m, tag, &v) != 0 || v < INT32_MIN || v > INT32_MAX)
        return -EBADMSG;
    *out = (int32_t)v;
    return 0;
}

/* An optional INT field (-1 when absent); -EBADMSG when present and bad. */
static int opt_i32(const desk_fix_msg_t *m, uint32_t tag, int32_t *out)
{
    *out = -1;
    if (desk_fix_find(m, tag) < 0)
        return 0;
    return req_i32(m, tag, out);
}

/* An optional AMT/PRICE field into *out, *have = 1 when present. */
static int opt_fixed(const desk_fix_msg_t *m, uint32_t tag, int64_t *out, uint8_t *have)
{
    int rc = desk_fix_get_fixed(m, tag, out);

    *have = rc == 0;
    if (rc == -ENOENT) {
        *out = 0;
        return 0;
    }
    return rc == -EBADMSG || rc == -ERANGE ? rc : 0;
}

int desk_fix_posack_decode(const desk_fix_msg_t *m, desk_fix_posack_t *x)
{
    int rc;

    if (!desk_fix_msg_is(m, "AO"))
        return -EINVAL;
    memset(x, 0, sizeof *x);
    (void)desk_fix_get_str(m, DESK_FIX_PosReqID, &x->pos_req_id);
    (void)desk_fix_get_str(m, DESK_FIX_Text, &x->text);
    if ((rc = req_i32(m, DESK_FIX_PosReqResult, &x->result)) != 0 ||
        (rc = req_i32(m, DESK_FIX_PosReqStatus, &x->status)) != 0)
        return rc;
    return opt_i32(m, DESK_FIX_TotalNumPosReports, &x->total);
}

/* PositionQty entry kinds: what desk adds up (see desk_fix_posrpt_t.qty). */
enum { PQ_NONE, PQ_SUM, PQ_FIN, PQ_OTHER };

static int pos_kind(desk_fix_sv_t t)
{
    if ((t.len == 3 && memcmp(t.p, "SOD", 3) == 0) || (t.len == 2 && memcmp(t.p, "TQ", 2) == 0))
        return PQ_SUM;
    if (t.len == 3 && memcmp(t.p, "FIN", 3) == 0)
        return PQ_FIN;
    return PQ_OTHER;
}

/*
 * The PositionQty group is read flat, in wire order: 703 opens an entry and
 * 704/705 fill it.  Current position = SOD + TQ (start of day plus today's
 * transactions, both LongQty - ShortQty), unless the venue sends the final
 * figure (FIN), which then stands alone.
 */
int desk_fix_posrpt_decode(const desk_fix_msg_t *m, desk_fix_posrpt_t *x)
{
    int kind = PQ_NONE, rc;
    int64_t sum = 0, fin = 0;

    if (!desk_fix_msg_is(m, "AP"))
        return -EINVAL;
    memset(x, 0, sizeof *x);
    (void)desk_fix_get_str(m, DESK_FIX_PosReqID, &x->pos_req_id);
    (void)desk_fix_get_str(m, DESK_FIX_Account, &x->account);
    if (desk_fix_get_str(m, DESK_FIX_Symbol, &x->symbol) != 0 || x->symbol.len == 0)
        return -EBADMSG;
    if ((rc = req_i32(m, DESK_FIX_PosReqResult, &x->result)) != 0 ||
        (rc = opt_i32(m, DESK_FIX_TotalNumPosReports, &x->total)) != 0)
        return rc;
    int u = 0;
    if (desk_fix_get_bool(m, DESK_FIX_UnsolicitedIndicator, &u) == 0)
        x->unsolicited = (uint8_t)u;
    uint8_t have_px = 0;
    if ((rc = opt_fixed(m, DESK_FIX_SettlPrice, &x->settl_px, &have_px)) != 0)
        return rc;
    for (uint32_t i = 3; i + 1 < m->nfields; i++) {
        const desk_fix_field_t *f = &m->fields[i];
        desk_fix_sv_t v = fv(m, f);
        int64_t q;
        if (f->tag == DESK_FIX_PosType) {
            kind = pos_kind(v);
            if (x->npos < 255)
                x->npos++;
            if (kind == PQ_FIN)
                x->have_fin = 1;
            continue;
        }
        if (f->tag != DESK_FIX_LongQty && f->tag != DESK_FIX_ShortQty)
            continue;
        if (kind == PQ_NONE)
            return -EBADMSG; /* a quantity outside an entry */
        if ((rc = sv_fixed(v, &q)) != 0)
            return rc;
        if (q < 0)
            return -EBADMSG;
        int64_t *acc = kind == PQ_FIN ? &fin : kind == PQ_SUM ? &sum : NULL;
        if (acc && (f->tag == DESK_FIX_LongQty ? desk_fixed_add(*acc, q, acc)
                                               : desk_fixed_add(*acc, -q, acc)) != 0)
            return -ERANGE;
    }
    x->qty = x->have_fin ? fin : sum;
    return 0;
}

int desk_fix_collrpt_decode(const desk_fix_msg_t *m, desk_fix_collrpt_t *x)
{
    int rc;

    if (!desk_fix_msg_is(m, "BA"))
        return -EINVAL;
    memset(x, 0, sizeof *x);
    if (desk_fix_get_str(m, DESK_FIX_CollRptID, &x->coll_rpt_id) != 0 || x->coll_rpt_id.len == 0)
        return -EBADMSG;
    (void)desk_fix_get_str(m, DESK_FIX_CollInquiryID, &x->inquiry_id);
    (void)desk_fix_get_str(m, DESK_FIX_Currency, &x->currency);
    if ((rc = req_i32(m, DESK_FIX_CollStatus, &x->status)) != 0 ||
        (rc = opt_i32(m, DESK_FIX_TotNumReports, &x->total)) != 0 ||
        (rc = opt_fixed(m, DESK_FIX_CashOutstanding, &x->cash, &x->have_cash)) != 0 ||
        (rc = opt_fixed(m, DESK_FIX_MarginExcess, &x->margin_excess, &x->have_excess)) != 0)
        return rc;
    return opt_fixed(m, DESK_FIX_TotalNetValue, &x->net_value, &x->have_net);
}

int desk_fix_collack_decode(const desk_fix_msg_t *m, desk_fix_collack_t *x)
{
    int rc;

    if (!desk_fix_msg_is(m, "BG"))
        return -EINVAL;
    memset(x, 0, sizeof *x);
    if (desk_fix_get_str(m, DESK_FIX_CollInquiryID, &x->inquiry_id) != 0 || x->inquiry_id.len == 0)
        return -EBADMSG;
    (void)desk_fix_get_str(m, DESK_FIX_Text, &x->text);
    if ((rc = req_i32(m, DESK_FIX_CollInquiryStatus, &x->status)) != 0)
        return rc;
    return opt_i32(m, DESK_FIX_CollInquiryResult, &x->result);
}

/* desk_reject_t for an OrdRejReason (103). */
static uint16_t rej_reason(int32_t r)
{
    /* clang-format off */
    switch (r) {
    case 0: return DESK_REJ_VENUE_CASH;          /* Broker credit */
    case 1: return DESK_REJ_UNKNOWN_INSTRUMENT;  /* Unknown symbol */
    case 5: return DESK_REJ_UNKNOWN_ORDER;       /* Unknown order */
    case 6: return DESK_REJ_DUPLICATE_CLORDID;   /* Duplicate order */
    case 13: return DESK_REJ_BAD_QTY;            /* Incorrect quantity */
    default: return DESK_REJ_VENUE;              /* the venue's own reason: see its log */
    }
    /* clang-format on */
}

int desk_fix_exec_to_vevent(const desk_fix_exec_t *x, uint64_t order_id, uint32_t instrument,
                            uint64_t now_ns, desk_vevent_t *ev)
{
    uint8_t type;

    /*
     * FIX 4.4 reports every execution as 150=F (Trade); 39 tells partial
     * from full.  4.2's 150=1/2 are gone in 4.4 (PROTOCOLS.md 3.6), so a
     * venue sending them is not speaking 4.4: -EBADMSG, not a guess.
     */
    /* clang-format off */
    switch (x->exec_type) {
    case '0': type = DESK_EV_ACK; break;          /* New */
    case 'F': type = DESK_EV_FILL; break;         /* Trade */
    case '4': type = DESK_EV_CANCELED; break;     /* Canceled */
    case '5': type = DESK_EV_REPLACED; break;     /* Replaced */
    case '8': type = DESK_EV_REJECT; break;       /* Rejected */
    case 'C':                                     /* Expired */
    case '3': type = DESK_EV_EXPIRED; break;      /* Done for day: no more trading today */
    case '6': case 'E': case 'A':                 /* PendingCancel/Replace/New */
    case '7': case '9': case 'B': case 'D':       /* Stopped, Suspended, Calculated, Restated */
    case 'G': case 'H': case 'I':                 /* TradeCorrect/Cancel, OrderStatus */
        return 0;                                 /* informational: no desk event */
    default:
        return -EBADMSG;
    }
    /* clang-format on */
    memset(ev, 0, sizeof *ev);
    ev->type = type;
    ev->instrument = instrument;
    ev->order_id = order_id;
    ev->exec_id = desk_fix_exec_id(x->exec_id.p, x->exec_id.len);
    ev->cum_qty = x->cum_qty;
    ev->venue_ns = now_ns;
    if (type == DESK_EV_FILL) {
        ev->last_px = x->last_px;
        ev->last_qty = x->last_qty;
        ev->fee = x->commission;
    } else if (type == DESK_EV_REJECT) {
        ev->reason = rej_reason(x->ord_rej_reason);
    }
    return 1;
}

int desk_fix_cxlrej_to_vevent(const desk_fix_cxlrej_t *x, uint64_t order_id, uint32_t instrument,
                              uint64_t now_ns, desk_vevent_t *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->type = DESK_EV_CANCEL_REJECT;
    ev->instrument = instrument;
    ev->order_id = order_id;
    ev->venue_ns = now_ns;
    switch (x->cxl_rej_reason) {
    case 0:
        ev->reason = DESK_REJ_ORDER_NOT_OPEN;
        break; /* Too late to cancel */
    case 1:
        ev->reason = DESK_REJ_UNKNOWN_ORDER;
        break; /* Unknown order */
    case 3:
        ev->reason = DESK_REJ_PENDING;
        break; /* Already pending */
    default:
        ev->reason = DESK_REJ_VENUE;
        break;
    }
    return 1;
}

/* --------------------------------------------------------------- encoding */

int desk_fix_tmpl_init(desk_fix_tmpl_t *t, const char *sender, const char *target)
{
    const char *ids[2] = {sender, target};
    uint32_t n = 0;

    memset(t, 0, sizeof *t);
    for (int k = 0; k < 2; k++) {
        const char *s = ids[k];
        size_t len = s != NULL ? strlen(s) : 0;
        if (len == 0 || len > DESK_FIX_COMPID_MAX)
            return DESK_ERR(-EINVAL, "FIX %s must be 1 to %d characters",
                            k == 0 ? "SenderCompID" : "TargetCompID", DESK_FIX_COMPID_MAX);
        for (size_t i = 0; i < len; i++)
            if (s[i] < 0x21 || s[i] > 0x7e)
                return DESK_ERR(-EINVAL, "FIX %s \"%s\" has a byte that is not printable ASCII",
                                k == 0 ? "SenderCompID" : "TargetCompID", s);
        memcpy(t->comp + n, k == 0 ? "49=" : "56=", 3);
        n += 3;
        memcpy(t->comp + n, s, len);
        n += (uint32_t)len;
        t->comp[n++] = DESK_FIX_SOH;
    }
    t->comp_len = n;
    t->cached_sec = UINT64_MAX;
    return 0;
}

/* n bytes of room at the cursor, or NULL (and the sticky error) if none. */
static char *room(desk_fix_enc_t *e, uint32_t n)
{
    if (e->err != 0)
        return NULL;
    if (n > e->cap - e->pos) {
        e->err = -ENOSPC;
        return NULL;
    }
    char *p = e->buf + e->pos;
    e->pos += n;
    return p;
}

static void fail(desk_fix_enc_t *e, int err)
{
    if (e->err == 0)
        e->err = err;
}

/* "tag=" at the cursor; returns 0 or -1 (error recorded). */
static int put_tag(desk_fix_enc_t *e, uint32_t tag)
{
    char tmp[12];
    uint32_t n = put_u64(tmp, tag);

    tmp[n++] = '=';
    char *p = room(e, n);
    if (p == NULL)
        return -1;
    memcpy(p, tmp, n);
    return 0;
}

static void put_soh(desk_fix_enc_t *e)
{
    char *p = room(e, 1);

    if (p != NULL)
        *p = DESK_FIX_SOH;
}

/* Raw bytes at the cursor. */
static void put_raw(desk_fix_enc_t *e, const char *s, uint32_t n)
{
    char *p = room(e, n);

    if (p != NULL)
        memcpy(p, s, n);
}

/* SendingTime-style text of ns, through the template's per-second cache. */
/*
 * Converting seconds to a civil date costs a few divisions; SendingTime and
 * TransactTime of one message (and most messages of one second) share the
 * second, so the "YYYYMMDD-HH:MM:SS" part is cached in the template and only
 * the milliseconds are written each time.
 */
static void put_time_text(desk_fix_enc_t *e, uint64_t ns)
{
    desk_fix_tmpl_t *t = e->tmpl;
    uint64_t sec = ns / NS_PER_SEC;
    char *p = room(e, DESK_FIX_TIME_LEN);

    if (p == NULL)
        return;
    if (sec != t->cached_sec) {
        sec_text(sec, t->sec_text);
        t->cached_sec = sec;
    }
    memcpy(p, t->sec_text, 17);
    ms_text(ns, p + 17);
}

/*
 * The header is written from the 18th byte on; the first 18 are a gap for
 * "8=FIX.4.4<SOH>9=<BodyLength><SOH>", whose width is known only at finish.
 * CompIDs come from the template in one memcpy: the header fields 49/56
 * never change during a session.  Field order is 35, 49, 56, 34, 52, as in
 * PROTOCOLS.md's worked examples (any order after 35 is legal).
 */
void desk_fix_enc_begin(desk_fix_enc_t *e, desk_fix_tmpl_t *t, char *buf, size_t cap,
                        const char *type, uint64_t seq, uint64_t now_ns)
{
    size_t tl = type != NULL ? strnlen(type, 3) : 0;

    e->buf = buf;
    e->cap = cap > UINT32_MAX ? 0 : (uint32_t)cap;
    e->pos = 0;
    e->body = DESK_FIX_HDR_RESERVE;
    e->err = 0;
    e->msg_type = 0;
    memset(e->msg_type2, 0, sizeof e->msg_type2);
    e->tmpl = t;
    if (cap > UINT32_MAX || buf == NULL || t == NULL || tl == 0 || tl > 2) {
        e->err = -EINVAL;
        return;
    }
    for (size_t i = 0; i < tl; i++)
        if (type[i] < 0x21 || type[i] > 0x7e || type[i] == '=')
            e->err = -EINVAL;
    if (room(e, DESK_FIX_HDR_RESERVE) == NULL)
        return;
    e->msg_type = tl == 1 ? type[0] : 0;
    if (tl == 2)
        memcpy(e->msg_type2, type, 2);
    put_raw(e, "35=", 3);
    put_raw(e, type, (uint32_t)tl);
    put_soh(e);
    put_raw(e, t->comp, t->comp_len);
    desk_fix_enc_int(e, DESK_FIX_MsgSeqNum, (int64_t)(seq > INT64_MAX ? 0 : seq));
    if (seq > INT64_MAX)
        fail(e, -EINVAL);
    if (put_tag(e, DESK_FIX_SendingTime) == 0) {
        put_time_text(e, now_ns);
        put_soh(e);
    }
}

void desk_fix_enc_possdup(desk_fix_enc_t *e, uint64_t orig_ns)
{
    desk_fix_enc_char(e, DESK_FIX_PossDupFlag, 'Y');
    desk_fix_enc_time(e, DESK_FIX_OrigSendingTime, orig_ns);
}

void desk_fix_enc_str(desk_fix_enc_t *e, uint32_t tag, const char *s, size_t n)
{
    if (s == NULL || n == 0 || n > DESK_FIX_MAX_BODY || memchr(s, DESK_FIX_SOH, n) != NULL ||
        memchr(s, '\0', n) != NULL) {
        fail(e, -EINVAL);
        return;
    }
    if (put_tag(e, tag) == 0) {
        put_raw(e, s, (uint32_t)n);
        put_soh(e);
    }
}

void desk_fix_enc_int(desk_fix_enc_t *e, uint32_t tag, int64_t v)
{
    char tmp[21];
    uint32_t n = 0;

    if (v < 0)
        tmp[n++] = '-';
    n += put_u64(tmp + n, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
    if (put_tag(e, tag) == 0) {
        put_raw(e, tmp, n);
        put_soh(e);
    }
}

void desk_fix_enc_fixed(desk_fix_enc_t *e, uint32_t tag, int64_t v)
{
    char tmp[21];
    int n = desk_fix_fixed_format(v, tmp);

    if (put_tag(e, tag) == 0) {
        put_raw(e, tmp, (uint32_t)n);
        put_soh(e);
    }
}

void desk_fix_enc_char(desk_fix_enc_t *e, uint32_t tag, char c)
{
    if (c < 0x21 || c > 0x7e) {
        fail(e, -EINVAL);
        return;
    }
    if (put_tag(e, tag) == 0) {
        put_raw(e, &c, 1);
        put_soh(e);
    }
}

void desk_fix_enc_time(desk_fix_enc_t *e, uint32_t tag, uint64_t ns)
{
    if (put_tag(e, tag) == 0) {
        put_time_text(e, ns);
        put_soh(e);
    }
}

/*
 * BodyLength is written right-aligned against the body, so the message
 * starts 0..4 bytes into the buffer (5 - digits) and nothing is moved.  The
 * checksum is one pass over the finished bytes: cheaper to reason about than
 * a running sum through every writer, and a few hundred bytes at most.
 */
int desk_fix_enc_finish(desk_fix_enc_t *e, const char **msg)
{
    if (e->err != 0)
        return e->err;
    uint32_t blen = e->pos - e->body;
    if (blen > DESK_FIX_MAX_BODY)
        return e->err = -ENOSPC;
    char digits[5];
    uint32_t nd = put_u64(digits, blen); /* 1..5 digits */
    uint32_t start = e->body - (PAT_LEN + nd + 1);

    memcpy(e->buf + start, PAT, PAT_LEN);
    memcpy(e->buf + start + PAT_LEN, digits, nd);
    e->buf[e->body - 1] = DESK_FIX_SOH;
    unsigned cks = desk_fix_checksum(e->buf + start, e->pos - start);
    char *p = room(e, DESK_FIX_TRAILER_LEN);
    if (p == NULL)
        return e->err;
    memcpy(p, "10=", 3);
    p[3] = (char)('0' + cks / 100);
    put2(p + 4, cks % 100);
    p[6] = DESK_FIX_SOH;
    *msg = e->buf + start;
    return (int)(e->pos - start);
}

/* ------------------------------------------------------------------ bodies */

/* -EINVAL unless the message was begun with one-byte MsgType `type`. */
static int body_of(desk_fix_enc_t *e, char type)
{
    if (e->err != 0)
        return -1;
    if (e->msg_type != type) {
        fail(e, -EINVAL);
        return -1;
    }
    return 0;
}

static int side_ok(uint8_t s)
{
    return s == DESK_BUY || s == DESK_SELL;
}

static int type_ok(uint8_t t)
{
    return t >= DESK_MARKET && t <= DESK_STOP_LIMIT;
}

static int tif_ok(uint8_t t)
{
    return t == DESK_DAY || t == DESK_GTC || t == DESK_IOC || t == DESK_FOK;
}

/* "d<id>" as field `tag`. */
static void put_clid(desk_fix_enc_t *e, uint32_t tag, uint64_t id)
{
    char tmp[DESK_FIX_CLID_MAX];
    int n = desk_fix_clid_format(id, tmp, sizeof tmp);

    desk_fix_enc_str(e, tag, tmp, (size_t)n);
}

/* 44 Price and 99 StopPx as the order type needs them; -EINVAL if missing. */
static void put_prices(desk_fix_enc_t *e, const desk_vcmd_t *c)
{
    int lim = c->ord_type == DESK_LIMIT || c->ord_type == DESK_STOP_LIMIT;
    int stp = c->ord_type == DESK_STOP || c->ord_type == DESK_STOP_LIMIT;

    if ((lim && c->px <= 0) || (stp && c->stop_px <= 0)) {
        fail(e, -EINVAL);
        return;
    }
    if (lim)
        desk_fix_enc_fixed(e, DESK_FIX_Price, c->px);
    if (stp)
        desk_fix_enc_fixed(e, DESK_FIX_StopPx, c->stop_px);
}

/* 55 Symbol, 54 Side, 60 TransactTime, 38 OrderQty: common to D, F and G. */
static void put_sym_side_time_qty(desk_fix_enc_t *e, const desk_vcmd_t *c, const char *sym,
                                  size_t sym_len, uint64_t now_ns)
{
    if (!side_ok(c->side) || c->qty <= 0) {
        fail(e, -EINVAL);
        return;
    }
    desk_fix_enc_str(e, DESK_FIX_Symbol, sym, sym_len);
    desk_fix_enc_char(e, DESK_FIX_Side, (char)('0' + c->side));
    desk_fix_enc_time(e, DESK_FIX_TransactTime, now_ns);
    desk_fix_enc_fixed(e, DESK_FIX_OrderQty, c->qty);
}

void desk_fix_put_new_order(desk_fix_enc_t *e, const desk_vcmd_t *cmd, const char *sym,
                            size_t sym_len, uint64_t now_ns)
{
    if (body_of(e, 'D') != 0)
        return;
    if (!type_ok(cmd->ord_type) || !tif_ok(cmd->tif)) {
        fail(e, -EINVAL);
        return;
    }
    put_clid(e, DESK_FIX_ClOrdID, cmd->cl_ord_id);
    put_sym_side_time_qty(e, cmd, sym, sym_len, now_ns);
    desk_fix_enc_char(e, DESK_FIX_OrdType, (char)('0' + cmd->ord_type));
    put_prices(e, cmd);
    desk_fix_enc_char(e, DESK_FIX_TimeInForce, (char)('0' + cmd->tif));
}

void desk_fix_put_cancel(desk_fix_enc_t *e, const desk_vcmd_t *cmd, const char *sym, size_t sym_len,
                         uint64_t now_ns)
{
    if (body_of(e, 'F') != 0)
        return;
    put_clid(e, DESK_FIX_OrigClOrdID, cmd->orig_cl_ord_id);
    put_clid(e, DESK_FIX_ClOrdID, cmd->cl_ord_id);
    put_sym_side_time_qty(e, cmd, sym, sym_len, now_ns);
}

void desk_fix_put_status(desk_fix_enc_t *e, const desk_vcmd_t *cmd, const char *sym, size_t sym_len)
{
    if (body_of(e, 'H') != 0)
        return;
    if (!side_ok(cmd->side)) {
        fail(e, -EINVAL);
        return;
    }
    put_clid(e, DESK_FIX_ClOrdID, cmd->cl_ord_id);
    desk_fix_enc_str(e, DESK_FIX_Symbol, sym, sym_len);
    desk_fix_enc_char(e, DESK_FIX_Side, (char)('0' + cmd->side));
}

void desk_fix_put_replace(desk_fix_enc_t *e, const desk_vcmd_t *cmd, const char *sym,
                          size_t sym_len, uint64_t now_ns)
{
    if (body_of(e, 'G') != 0)
        return;
    if (!type_ok(cmd->ord_type) || !tif_ok(cmd->tif)) {
        fail(e, -EINVAL);
        return;
    }
    put_clid(e, DESK_FIX_OrigClOrdID, cmd->orig_cl_ord_id);
    put_clid(e, DESK_FIX_ClOrdID, cmd->cl_ord_id);
    put_sym_side_time_qty(e, cmd, sym, sym_len, now_ns);
    desk_fix_enc_char(e, DESK_FIX_OrdType, (char)('0' + cmd->ord_type));
    put_prices(e, cmd);
    desk_fix_enc_char(e, DESK_FIX_TimeInForce, (char)('0' + cmd->tif));
}

void desk_fix_put_logon(desk_fix_enc_t *e, uint32_t heartbeat_s, int reset_seq)
{
    if (body_of(e, 'A') != 0)
        return;
    if (heartbeat_s > 65535) {
        fail(e, -EINVAL);
        return;
    }
    desk_fix_enc_int(e, DESK_FIX_EncryptMethod, 0);
    desk_fix_enc_int(e, DESK_FIX_HeartBtInt, heartbeat_s);
    if (reset_seq)
        desk_fix_enc_char(e, DESK_FIX_ResetSeqNumFlag, 'Y');
}

void desk_fix_put_heartbeat(desk_fix_enc_t *e, const char *id, size_t n)
{
    if (body_of(e, '0') != 0)
        return;
    if (n > 0)
        desk_fix_enc_str(e, DESK_FIX_TestReqID, id, n);
}

void desk_fix_put_test_request(desk_fix_enc_t *e, const char *id, size_t n)
{
    if (body_of(e, '1') != 0)
        return;
    desk_fix_enc_str(e, DESK_FIX_TestReqID, id, n); /* n == 0 is -EINVAL */
}

void desk_fix_put_resend_request(desk_fix_enc_t *e, uint64_t begin, uint64_t end)
{
    if (body_of(e, '2') != 0)
        return;
    if (begin == 0 || begin > INT64_MAX || end > INT64_MAX || (end != 0 && end < begin)) {
        fail(e, -EINVAL);
        return;
    }
    desk_fix_enc_int(e, DESK_FIX_BeginSeqNo, (int64_t)begin);
    desk_fix_enc_int(e, DESK_FIX_EndSeqNo, (int64_t)end);
}

void desk_fix_put_seq_reset(desk_fix_enc_t *e, int gap_fill, uint64_t new_seq)
{
    if (body_of(e, '4') != 0)
        return;
    if (new_seq == 0 || new_seq > INT64_MAX) {
        fail(e, -EINVAL);
        return;
    }
    if (gap_fill)
        desk_fix_enc_char(e, DESK_FIX_GapFillFlag, 'Y');
    desk_fix_enc_int(e, DESK_FIX_NewSeqNo, (int64_t)new_seq);
}

void desk_fix_put_reject(desk_fix_enc_t *e, uint64_t ref_seq, uint32_t ref_tag,
                         const char *ref_type, int reason, const char *text, size_t text_len)
{
    if (body_of(e, '3') != 0)
        return;
    if (ref_seq > INT64_MAX) {
        fail(e, -EINVAL);
        return;
    }
    desk_fix_enc_int(e, DESK_FIX_RefSeqNum, (int64_t)ref_seq);
    if (ref_tag > 0)
        desk_fix_enc_int(e, DESK_FIX_RefTagID, ref_tag);
    if (ref_type != NULL && ref_type[0] != '\0')
        desk_fix_enc_str(e, DESK_FIX_RefMsgType, ref_type, strlen(ref_type));
    if (reason >= 0)
        desk_fix_enc_int(e, DESK_FIX_SessionRejectReason, reason);
    if (text_len > 0)
        desk_fix_enc_str(e, DESK_FIX_Text, text, text_len);
}

void desk_fix_put_logout(desk_fix_enc_t *e, const char *text, size_t n)
{
    if (body_of(e, '5') != 0)
        return;
    if (n > 0)
        desk_fix_enc_str(e, DESK_FIX_Text, text, n);
}

/* -EINVAL unless the message was begun with two-byte MsgType `type`. */
static int body_of2(desk_fix_enc_t *e, const char *type)
{
    if (e->err != 0)
        return -1;
    if (e->msg_type2[0] != type[0] || e->msg_type2[1] != type[1]) {
        fail(e, -EINVAL);
        return -1;
    }
    return 0;
}

void desk_fix_put_position_request(desk_fix_enc_t *e, const char *id, size_t n, const char *acct,
                                   size_t acct_len, uint64_t now_ns)
{
    char day[17];

    if (body_of2(e, "AN") != 0)
        return;
    sec_text(now_ns / NS_PER_SEC, day); /* LOCALMKTDATE: the first 8 bytes */
    desk_fix_enc_str(e, DESK_FIX_PosReqID, id, n);
    desk_fix_enc_int(e, DESK_FIX_PosReqType, 0);
    desk_fix_enc_char(e, DESK_FIX_SubscriptionRequestType, '0');
    desk_fix_enc_str(e, DESK_FIX_Account, acct, acct_len);
    desk_fix_enc_int(e, DESK_FIX_AccountType, 1);
    desk_fix_enc_str(e, DESK_FIX_ClearingBusinessDate, day, 8);
    desk_fix_enc_time(e, DESK_FIX_TransactTime, now_ns);
}

void desk_fix_put_collateral_inquiry(desk_fix_enc_t *e, const char *id, size_t n, const char *acct,
                                     size_t acct_len)
{
    if (body_of2(e, "BB") != 0)
        return;
    desk_fix_enc_str(e, DESK_FIX_CollInquiryID, id, n);
    desk_fix_enc_char(e, DESK_FIX_SubscriptionRequestType, '0');
    desk_fix_enc_str(e, DESK_FIX_Account, acct, acct_len);
}
