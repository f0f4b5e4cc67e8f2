/*
 * fix_fuzz.c - libFuzzer target for the FIX 4.4 codec (connectors/fix/codec.h).
 *
 * Input: the low 5 bits of byte 0 pick the chunk size of the second run
 * (1..31 bytes; 0 means one byte at a time); the rest is the byte stream a
 * venue might send.  Invariants (SQLite fuzzcheck style, checked with
 * abort() because RelWithDebInfo defines NDEBUG):
 *   - desk_fix_parse returns 0, -EAGAIN, -EBADMSG or -EMSGSIZE; -EAGAIN
 *     consumes nothing, every other result consumes at least one byte and
 *     no more than it was given, so a receive loop always makes progress;
 *   - a parsed message starts "8=FIX.4.4", is exactly as long as consumed,
 *     has BodyLength equal to its body, a CheckSum equal to the byte sum,
 *     fields 8, 9, 35 first and 10 last, and every field value inside the
 *     message and followed by SOH;
 *   - what -EAGAIN leaves is at most a prefix-length tail that starts like
 *     a message ("8=FIX.4.4<SOH>9=..." as far as it goes);
 *   - feeding the stream in chunks yields the same good messages (count and
 *     bytes) and the same leftover as feeding it whole;
 *   - the header, ExecutionReport, OrderCancelReject and account-answer
 *     (AO, AP, BA, BG) decoders and the getters return only their
 *     documented codes, and a decoded fill has a positive quantity;
 *   - the input used as a Logout's Text either is refused (-EINVAL: empty,
 *     SOH or NUL in it; -ENOSPC: too long) or encodes to a message that
 *     parses back whole with the same Text;
 *   - a timestamp that parses formats and parses back to the same ms.
 * Under gcc ctest replays the committed corpus (corpus/fix/), seeded from
 * the examples of shared/PROTOCOLS.md section 3.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/fix/codec.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fix_fuzz: %s:%d: check failed: %s\n", __FILE__, __LINE__, #c);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_IN 70000 /* inputs longer than this are cut (DESK_FIX_MAX_BODY + slack) */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static desk_fix_field_t FIELDS[64];

/* What one run produced, for comparing two ways of feeding. */
struct outcome {
    int good;      /* messages parsed */
    uint64_t hash; /* FNV-1a over the bytes of each good message, in order */
    size_t left;   /* bytes left unconsumed at the end (an -EAGAIN tail) */
};

static uint64_t mix(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static int is_doc_code(int rc, int a, int b, int c)
{
    return rc == 0 || rc == a || rc == b || rc == c;
}

/* Every invariant of one parsed message. */
static void check_message(const desk_fix_msg_t *m)
{
    const char *b = m->buf;
    uint32_t n = m->len;

    CHECK(n >= 12 + 1 + 1 + 5 + 7);
    CHECK(memcmp(b,
                 "8=FIX.4.4\x01"
                 "9=",
                 12) == 0);
    CHECK(m->nfields >= 4 && m->nfields <= m->cap);
    CHECK(m->fields[0].tag == 8 && m->fields[1].tag == 9 && m->fields[2].tag == 35);
    CHECK(m->fields[m->nfields - 1].tag == 10 && m->fields[m->nfields - 1].len == 3);
    CHECK(m->fields[2].len >= 1);
    for (uint32_t i = 0; i < m->nfields; i++) {
        const desk_fix_field_t *f = &m->fields[i];
        CHECK(f->tag >= 1);
        CHECK(f->off >= 2 && f->off + f->len < n);
        CHECK(b[f->off - 1] == '=');
        CHECK(b[f->off + f->len] == '\x01');
    }
    /* BodyLength and CheckSum, recomputed here. */
    uint32_t body = m->fields[2].off - 3; /* "35=" */
    uint32_t end = n - 7;                 /* "10=" */
    int64_t bl = -1;
    CHECK(desk_fix_get_int(m, DESK_FIX_BodyLength, &bl) == 0);
    CHECK(bl == (int64_t)(end - body));
    unsigned sum = 0;
    for (uint32_t i = 0; i < end; i++)
        sum += (unsigned char)b[i];
    CHECK((unsigned)((b[end + 3] - '0') * 100 + (b[end + 4] - '0') * 10 + (b[end + 5] - '0')) ==
          sum % 256);
    CHECK(desk_fix_checksum(b, end) == sum % 256);

    /* Decoders and getters: documented codes only. */
    desk_fix_hdr_t h;
    CHECK(is_doc_code(desk_fix_hdr_decode(m, &h), -EBADMSG, -EBADMSG, -EBADMSG));
    desk_fix_exec_t x;
    int rc = desk_fix_exec_decode(m, &x);
    CHECK(is_doc_code(rc, -EINVAL, -EBADMSG, -ERANGE));
    CHECK((rc == -EINVAL) == !desk_fix_msg_is(m, "8"));
    if (rc == 0) {
        desk_vevent_t ev;
        int r = desk_fix_exec_to_vevent(&x, 1, 2, 3, &ev);
        CHECK(r == 0 || r == 1 || r == -EBADMSG);
        CHECK(x.leaves_qty >= 0 && x.cum_qty >= 0);
        if (r == 1 && ev.type == DESK_EV_FILL)
            CHECK(ev.last_qty > 0);
    }
    desk_fix_cxlrej_t cr;
    rc = desk_fix_cxlrej_decode(m, &cr);
    CHECK(is_doc_code(rc, -EINVAL, -EBADMSG, -EBADMSG));
    /* The account answers (reconciliation): documented codes, and each
     * refuses every other MsgType with -EINVAL. */
    desk_fix_posack_t pa;
    rc = desk_fix_posack_decode(m, &pa);
    CHECK(is_doc_code(rc, -EINVAL, -EBADMSG, -EBADMSG));
    CHECK((rc == -EINVAL) == !desk_fix_msg_is(m, "AO"));
    desk_fix_posrpt_t pr;
    rc = desk_fix_posrpt_decode(m, &pr);
    CHECK(is_doc_code(rc, -EINVAL, -EBADMSG, -ERANGE));
    CHECK((rc == -EINVAL) == !desk_fix_msg_is(m, "AP"));
    desk_fix_collrpt_t co;
    rc = desk_fix_collrpt_decode(m, &co);
    CHECK(is_doc_code(rc, -EINVAL, -EBADMSG, -ERANGE));
    CHECK((rc == -EINVAL) == !desk_fix_msg_is(m, "BA"));
    desk_fix_collack_t ca;
    rc = desk_fix_collack_decode(m, &ca);
    CHECK(is_doc_code(rc, -EINVAL, -EBADMSG, -EBADMSG));
    CHECK((rc == -EINVAL) == !desk_fix_msg_is(m, "BG"));
    for (uint32_t i = 0; i < m->nfields; i++) {
        uint32_t tag = m->fields[i].tag;
        int64_t v;
        char c;
        int bo;
        uint64_t t;
        CHECK(is_doc_code(desk_fix_get_int(m, tag, &v), -EBADMSG, -ERANGE, -ERANGE));
        CHECK(is_doc_code(desk_fix_get_fixed(m, tag, &v), -EBADMSG, -ERANGE, -ERANGE));
        CHECK(is_doc_code(desk_fix_get_char(m, tag, &c), -EBADMSG, -EBADMSG, -EBADMSG));
        CHECK(is_doc_code(desk_fix_get_bool(m, tag, &bo), -EBADMSG, -EBADMSG, -EBADMSG));
        CHECK(is_doc_code(desk_fix_get_time(m, tag, &t), -EBADMSG, -EBADMSG, -EBADMSG));
        CHECK(desk_fix_find(m, tag) >= 0 && (uint32_t)desk_fix_find(m, tag) <= i);
    }
}

/*
 * Run a receive loop over in[0..len), offering at most `chunk` new bytes at a
 * time (0: all at once), and record what it produced.
 */
static struct outcome run(const char *in, size_t len, size_t chunk, char *rx)
{
    struct outcome o = {0, UINT64_C(0xcbf29ce484222325), 0};
    desk_fix_msg_t m;
    size_t have = 0, fed = 0;

    CHECK(desk_fix_msg_init(&m, FIELDS, sizeof FIELDS / sizeof FIELDS[0]) == 0);
    do {
        size_t c = chunk == 0 || len - fed < chunk ? len - fed : chunk;
        memcpy(rx + have, in + fed, c);
        have += c;
        fed += c;
        for (;;) {
            size_t used = 12345;
            int rc = desk_fix_parse(rx, have, &m, &used);
            CHECK(rc == 0 || rc == -EAGAIN || rc == -EBADMSG || rc == -EMSGSIZE);
            CHECK(used <= have);
            if (rc == -EAGAIN) {
                CHECK(used == 0);
                CHECK(m.nfields == 0);
                /* The tail starts the way a message does, as far as it goes. */
                size_t k = have < 12 ? have : 12;
                CHECK(memcmp(rx,
                             "8=FIX.4.4\x01"
                             "9=",
                             k) == 0);
                break;
            }
            CHECK(used >= 1);
            if (rc == 0) {
                CHECK(used == m.len && m.buf == rx);
                check_message(&m);
                o.good++;
                o.hash = mix(o.hash, rx, used);
            } else {
                CHECK(m.nfields == 0);
            }
            memmove(rx, rx + used, have - used);
            have -= used;
        }
    } while (fed < len);
    o.left = have;
    return o;
}

/* The input as a Logout's Text: refused, or round-tripped exactly. */
static void check_encode(const char *in, size_t len)
{
    static char buf[MAX_IN + 128];
    static desk_fix_field_t f[16];
    desk_fix_tmpl_t t;
    desk_fix_enc_t e;
    desk_fix_msg_t m;
    const char *msg = NULL;

    CHECK(desk_fix_tmpl_init(&t, "CLIENT1", "SIMVENUE") == 0);
    desk_fix_enc_begin(&e, &t, buf, sizeof buf, "5", 7, UINT64_C(1735741800000000000));
    desk_fix_put_logout(&e, in, len);
    int n = desk_fix_enc_finish(&e, &msg);
    /* A Logout body is 62 bytes plus the text ("35=5|" 5, CompIDs 23, "34=7|"
     * 5, SendingTime 25, "58=" and SOH 4). */
    if (len > 0 && (memchr(in, '\x01', len) != NULL || memchr(in, '\0', len) != NULL ||
                    len > DESK_FIX_MAX_BODY)) {
        CHECK(n == -EINVAL);
        return;
    }
    CHECK((n == -ENOSPC) == (len + 62 > DESK_FIX_MAX_BODY));
    if (n == -ENOSPC)
        return;
    CHECK(n > 0);
    size_t used = 0;
    CHECK(desk_fix_msg_init(&m, f, 16) == 0);
    CHECK(desk_fix_parse(msg, (size_t)n, &m, &used) == 0);
    CHECK(used == (size_t)n);
    desk_fix_sv_t v;
    if (len == 0) {
        CHECK(desk_fix_get_str(&m, DESK_FIX_Text, &v) == -ENOENT);
    } else {
        CHECK(desk_fix_get_str(&m, DESK_FIX_Text, &v) == 0);
        CHECK(v.len == len && memcmp(v.p, in, len) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static char rx[MAX_IN];

    if (len < 1)
        return 0;
    size_t chunk = data[0] & 31u;
    const char *in = (const char *)data + 1;
    size_t n = len - 1 > MAX_IN ? MAX_IN : len - 1;

    struct outcome whole = run(in, n, 0, rx);
    struct outcome parts = run(in, n, chunk == 0 ? 1 : chunk, rx);
    CHECK(whole.good == parts.good);
    CHECK(whole.hash == parts.hash);
    CHECK(whole.left == parts.left);

    check_encode(in, n);

    uint64_t ns;
    if (desk_fix_time_parse(in, n, &ns) == 0) {
        char out[DESK_FIX_TIME_LEN];
        uint64_t back = 0;
        CHECK(desk_fix_time_format(ns, out) == DESK_FIX_TIME_LEN);
        CHECK(desk_fix_time_parse(out, sizeof out, &back) == 0);
        CHECK(back == ns / 1000000 * 1000000);
    }
    return 0;
}
