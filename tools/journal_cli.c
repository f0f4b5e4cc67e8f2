/*
 * journal_cli.c - `desk journal`: print and filter a journal for audits.
 *
 *   desk journal [-n DESK] [-d DIR] [--date YYYYMMDD] | -f FILE
 *                [--json] [--strategy S] [--clordid N] [--kind K[,K...]] [--since T]
 *
 * The file is DIR/desk-DESK-YYYYMMDD.journal (DIR: $DESK_JOURNAL_DIR, else
 * ./journal; DESK: $DESK_NAME, else demo; the date: today, UTC), or FILE.
 * It is read, never written, so a journal that deskd is appending to can be
 * read live; a torn tail (a write in progress, or a crash) ends the listing
 * with a note on stderr.  Corruption prints the records before it, then the
 * offset on stderr, and exits 2.
 *
 * One line per record, as text or as JSON objects (one per line, "JSON
 * lines").  Prices, quantities and money are exact decimals (JSON strings);
 * ids and counts are integers; the time is UTC ISO 8601 with nanoseconds.
 * The journal names its strategies, connectors and instruments (NAME
 * records, pushed at deskd start), so lines show names, not only indices.
 *
 * Filters (all must match):
 *   --strategy S  records of strategy S (a name from the NAME records, or an
 *                 index): its commands, its rejects and the venue events of
 *                 its orders (matched through the order id of their command);
 *   --clordid N   commands and rejects with ClOrdID N (or naming it as the
 *                 original), and everything about the orders they created:
 *                 cancels, replaces and venue events;
 *   --kind K      file, session, name, cmd, reject, event, balance, break,
 *                 snapshot, carry (a comma list);
 *   --since T     stamped at or after T: 2026-11-21T05:50:00[.123][Z],
 *                 05:50[:00] (on the journal's own day), or @EPOCH_SECONDS.
 * Main thread of the desk command; allocates freely (it is a CLI).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/journal.h"
#include "core/recon.h"
#include "desk/fixed.h"

#define NAME_SLOTS 256 /* names kept per table (strategy index is a u8) */

/* What is known about an order, from its commands. */
struct jc_order {
    uint64_t order_id; /* key */
    int16_t strategy;  /* strategy index of its NEW command */
    uint8_t used;      /* entry holds an order */
    uint8_t selected;  /* matched by --clordid */
};

struct jc {
    FILE *out;                                  /* stdout */
    int json;                                   /* --json */
    uint32_t kinds;                             /* bit k: show kind k; 0: all */
    const char *strat_arg;                      /* --strategy as given, NULL if none */
    int strat;                                  /* its index once known, -1 before */
    int have_clid;                              /* --clordid given */
    uint64_t clid;                              /* its value */
    int since_mode;                             /* 0 none, 1 absolute, 2 time of day */
    uint64_t since_ns;                          /* absolute: ns since the epoch */
    uint64_t since_tod_ns;                      /* time of day: ns after midnight UTC */
    uint32_t day;                               /* the journal's day (FILE record) */
    uint64_t index;                             /* record number in the file */
    char strat_name[NAME_SLOTS][DESK_NAME_MAX]; /* from NAME records */
    char conn_name[NAME_SLOTS][DESK_NAME_MAX];  /* from NAME records */
    char instr_name[NAME_SLOTS][DESK_NAME_MAX]; /* from NAME records */
    struct jc_order *orders;                    /* open-addressing table */
    size_t ocap, oused;                         /* its capacity (power of two), entries */
};

/* ---- small helpers ------------------------------------------------------- */

static uint64_t jc_hash(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

/* The entry of order_id, created if `create`; NULL if absent (or no memory). */
static struct jc_order *jc_order(struct jc *c, uint64_t id, int create)
{
    if (create && (c->oused + 1) * 2 > c->ocap) {
        size_t ncap = c->ocap ? c->ocap * 2 : 1024;
        struct jc_order *n = calloc(ncap, sizeof *n);
        if (n == NULL)
            return NULL;
        for (size_t i = 0; i < c->ocap; i++) {
            if (!c->orders[i].used)
                continue;
            size_t k = jc_hash(c->orders[i].order_id) & (ncap - 1);
            while (n[k].used)
                k = (k + 1) & (ncap - 1);
            n[k] = c->orders[i];
        }
        free(c->orders);
        c->orders = n;
        c->ocap = ncap;
    }
    if (c->ocap == 0)
        return NULL;
    size_t k = jc_hash(id) & (c->ocap - 1);
    while (c->orders[k].used) {
        if (c->orders[k].order_id == id)
            return &c->orders[k];
        k = (k + 1) & (c->ocap - 1);
    }
    if (!create)
        return NULL;
    c->orders[k] = (struct jc_order){.order_id = id, .strategy = -1, .used = 1};
    c->oused++;
    return &c->orders[k];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static uint64_t day_start_ns(uint32_t day)
{
    int64_t d = days_from_civil(day / 10000, day / 100 % 100, day % 100);
    return d > 0 ? (uint64_t)d * 86400000000000ull : 0;
}

/* Parse exactly `n` digits at *p into *v; advance. */
static int digits(const char **p, int n, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        *v = *v * 10 + (unsigned)(**p - '0');
    }
    return 0;
}

/* "HH:MM[:SS[.frac]]" at *p: ns after midnight.  0 or -1. */
static int parse_tod(const char **p, uint64_t *ns)
{
    unsigned h, m, s = 0;
    uint64_t frac = 0, scale = 100000000;

    if (digits(p, 2, &h) || **p != ':' || (++*p, digits(p, 2, &m)) || h > 23 || m > 59)
        return -1;
    if (**p == ':') {
        ++*p;
        if (digits(p, 2, &s) || s > 60)
            return -1;
        if (**p == '.') {
            ++*p;
            if (**p < '0' || **p > '9')
                return -1;
            for (; **p >= '0' && **p <= '9'; ++*p) {
                frac += (uint64_t)(**p - '0') * scale;
                scale /= 10;
            }
        }
    }
    *ns = ((uint64_t)h * 3600 + m * 60 + s) * 1000000000ull + frac;
    return 0;
}

/* --since: see the top of the file.  0 or -1. */
static int parse_since(struct jc *c, const char *s)
{
    const char *p = s;

    if (*p == '@') {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p + 1, &end, 10);
        if (errno || end == p + 1 || *end || v > 18000000000ull)
            return -1;
        c->since_mode = 1;
        c->since_ns = v * 1000000000ull;
        return 0;
    }
    if (strlen(s) >= 10 && s[4] == '-') {
        unsigned y, mo, d;
        uint64_t tod = 0;
        if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
            digits(&p, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1970)
            return -1;
        if (*p == 'T' || *p == ' ') {
            p++;
            if (parse_tod(&p, &tod))
                return -1;
        }
        if (*p == 'Z')
            p++;
        if (*p)
            return -1;
        c->since_mode = 1;
        c->since_ns = day_start_ns(y * 10000 + mo * 100 + d) + tod;
        return 0;
    }
    if (parse_tod(&p, &c->since_tod_ns))
        return -1;
    if (*p == 'Z')
        p++;
    if (*p)
        return -1;
    c->since_mode = 2;
    return 0;
}

/* ISO 8601 UTC with nanoseconds. */
static void fmt_time(uint64_t ns, char *buf, size_t cap)
{
    uint32_t day = desk_journal_day(ns);
    uint64_t tod = ns - day_start_ns(day);
    uint64_t s = tod / 1000000000ull;

    snprintf(buf, cap, "%04u-%02u-%02uT%02u:%02u:%02u.%09uZ", day / 10000, day / 100 % 100,
             day % 100, (unsigned)(s / 3600), (unsigned)(s / 60 % 60), (unsigned)(s % 60),
             (unsigned)(tod % 1000000000ull));
}

static const char *side_name(unsigned v)
{
    return v == DESK_BUY ? "BUY" : v == DESK_SELL ? "SELL" : "?";
}

static const char *type_name(unsigned v)
{
    static const char *const n[] = {"?", "MARKET", "LIMIT", "STOP", "STOP_LIMIT"};
    return v < 5 ? n[v] : "?";
}

static const char *tif_name(unsigned v)
{
    static const char *const n[] = {"DAY", "GTC", "?", "IOC", "FOK"};
    return v < 5 ? n[v] : "?";
}

static const char *cmd_name(unsigned v)
{
    static const char *const n[] = {"?", "NEW", "CANCEL", "REPLACE"};
    return v < 4 ? n[v] : "?";
}

static const char *result_name(unsigned v)
{
    static const char *const n[] = {"APPLIED", "INVALID", "DUPLICATE", "UNKNOWN_ORDER"};
    return v < 4 ? n[v] : "?";
}

static const char *jname_what(unsigned v)
{
    return v == DESK_JNAME_STRATEGY     ? "strategy"
           : v == DESK_JNAME_CONNECTOR  ? "connector"
           : v == DESK_JNAME_INSTRUMENT ? "instrument"
                                        : "?";
}

/* A name from a table, or "" when unknown. */
static const char *nm(char (*tab)[DESK_NAME_MAX], unsigned i)
{
    return i < NAME_SLOTS ? tab[i] : "";
}

/* ---- output --------------------------------------------------------------- */

/* One line being built: text fields separated by spaces, or JSON members. */
struct line {
    struct jc *c; /* the run */
    int first;    /* no member written yet (JSON) */
};

static void put_key(struct line *l, const char *key)
{
    if (l->c->json)
        fprintf(l->c->out, "%s\"%s\":", l->first ? "" : ",", key);
    else
        fprintf(l->c->out, " %s=", key);
    l->first = 0;
}

static void put_str(struct line *l, const char *key, const char *v, size_t max)
{
    size_t n = strnlen(v, max);

    put_key(l, key);
    if (!l->c->json) {
        fprintf(l->c->out, "%.*s", (int)n, v);
        return;
    }
    fputc('"', l->c->out);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch == '"' || ch == '\\')
            fprintf(l->c->out, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            fprintf(l->c->out, "\\u%04x", ch);
        else
            fputc(ch, l->c->out);
    }
    fputc('"', l->c->out);
}

static void put_u64(struct line *l, const char *key, uint64_t v)
{
    put_key(l, key);
    fprintf(l->c->out, "%" PRIu64, v);
}

static void put_hex(struct line *l, const char *key, uint64_t v)
{
    put_key(l, key);
    fprintf(l->c->out, l->c->json ? "\"0x%" PRIx64 "\"" : "0x%" PRIx64, v);
}

static void put_fixed(struct line *l, const char *key, int64_t v)
{
    char b[40];

    if (desk_fixed_format(v, 0, b, sizeof b) < 0)
        snprintf(b, sizeof b, "?");
    put_key(l, key);
    fprintf(l->c->out, l->c->json ? "\"%s\"" : "%s", b);
}

/* A name field: the name when known, else the index (as JSON: both). */
static void put_named(struct line *l, const char *key, const char *idx_key, unsigned idx,
                      const char *name)
{
    if (l->c->json) {
        put_u64(l, idx_key, idx);
        if (name[0])
            put_str(l, key, name, DESK_NAME_MAX);
    } else if (name[0]) {
        put_str(l, key, name, DESK_NAME_MAX);
    } else {
        put_u64(l, idx_key, idx);
    }
}

static void put_enum(struct line *l, const char *key, const char *v)
{
    if (l->c->json)
        put_str(l, key, v, 64);
    else
        fprintf(l->c->out, " %s", v);
    l->first = 0;
}

/* Print one record. */
static void print_rec(struct jc *c, const desk_jrec_t *r, uint64_t off, int strategy)
{
    struct line l = {.c = c, .first = 1};
    char t[48];
    unsigned kind = r->head.kind;

    fmt_time(r->head.ts_ns, t, sizeof t);
    if (c->json) {
        fputc('{', c->out);
        put_str(&l, "time", t, sizeof t);
        put_u64(&l, "ts_ns", r->head.ts_ns);
        put_u64(&l, "record", c->index);
        put_u64(&l, "offset", off);
        put_str(&l, "kind", desk_jrec_kind_name(kind), 16);
    } else {
        char up[16];
        const char *k = desk_jrec_kind_name(kind);
        size_t i = 0;
        for (; k[i] && i < sizeof up - 1; i++)
            up[i] = (char)(k[i] >= 'a' && k[i] <= 'z' ? k[i] - 32 : k[i]);
        up[i] = '\0';
        fprintf(c->out, "%s #%" PRIu64 " %s", t, c->index, up);
        l.first = 0;
    }
    switch (kind) {
    case DESK_JREC_FILE:
        put_str(&l, "desk", r->file.desk, sizeof r->file.desk);
        put_u64(&l, "day", r->file.day);
        put_u64(&l, "version", r->file.version);
        break;
    case DESK_JREC_SESSION:
        put_u64(&l, "pid", r->session.pid);
        put_hex(&l, "config_hash", r->session.config_hash);
        put_u64(&l, "venue_cl_base", r->session.venue_cl_base);
        put_u64(&l, "connectors", r->session.nconnectors);
        put_u64(&l, "instruments", r->session.ninstruments);
        put_u64(&l, "strategies", r->session.nstrategies);
        put_u64(&l, "abi", r->session.abi);
        break;
    case DESK_JREC_NAME:
        put_enum(&l, "what", jname_what(r->name.what));
        put_u64(&l, "index", r->name.index);
        put_str(&l, "name", r->name.name, sizeof r->name.name);
        if (r->name.what == DESK_JNAME_INSTRUMENT)
            put_named(&l, "connector", "connector_index", r->name.connector,
                      nm(c->conn_name, r->name.connector));
        break;
    case DESK_JREC_CMD:
        put_enum(&l, "type", cmd_name(r->cmd.type));
        put_named(&l, "strategy", "strategy_index", r->cmd.strategy,
                  nm(c->strat_name, r->cmd.strategy));
        put_u64(&l, "cl_ord_id", r->cmd.cl_ord_id);
        put_u64(&l, "order_id", r->cmd.order_id);
        put_u64(&l, "venue_cl", r->cmd.venue_cl);
        put_named(&l, "symbol", "instrument", r->cmd.instrument,
                  nm(c->instr_name, r->cmd.instrument));
        put_enum(&l, "side", side_name(r->cmd.side));
        put_enum(&l, "ord_type", type_name(r->cmd.ord_type));
        put_enum(&l, "tif", tif_name(r->cmd.tif));
        put_fixed(&l, "qty", r->cmd.qty);
        put_fixed(&l, "px", r->cmd.px);
        if (r->cmd.stop_px || c->json)
            put_fixed(&l, "stop_px", r->cmd.stop_px);
        break;
    case DESK_JREC_REJECT:
        put_enum(&l, "type", cmd_name(r->reject.type));
        put_named(&l, "strategy", "strategy_index", r->reject.strategy,
                  nm(c->strat_name, r->reject.strategy));
        put_u64(&l, "cl_ord_id", r->reject.cl_ord_id);
        if (r->reject.orig_cl_ord_id || c->json)
            put_u64(&l, "orig_cl_ord_id", r->reject.orig_cl_ord_id);
        if (r->reject.order_id || c->json)
            put_u64(&l, "order_id", r->reject.order_id);
        put_named(&l, "symbol", "instrument", r->reject.instrument,
                  nm(c->instr_name, r->reject.instrument));
        put_enum(&l, "side", side_name(r->reject.side));
        put_enum(&l, "ord_type", type_name(r->reject.ord_type));
        put_enum(&l, "tif", tif_name(r->reject.tif));
        put_fixed(&l, "qty", r->reject.qty);
        put_fixed(&l, "px", r->reject.px);
        put_str(&l, "reason", desk_reject_name(r->reject.reason), 64);
        break;
    case DESK_JREC_EVENT:
        put_enum(&l, "type", desk_event_type_name(r->event.type));
        put_u64(&l, "order_id", r->event.order_id);
        if (strategy >= 0)
            put_named(&l, "strategy", "strategy_index", (unsigned)strategy,
                      nm(c->strat_name, (unsigned)strategy));
        put_u64(&l, "exec_id", r->event.exec_id);
        put_named(&l, "symbol", "instrument", r->event.instrument,
                  nm(c->instr_name, r->event.instrument));
        if (r->event.type == DESK_EV_FILL || c->json) {
            put_fixed(&l, "last_px", r->event.last_px);
            put_fixed(&l, "last_qty", r->event.last_qty);
            put_fixed(&l, "fee", r->event.fee);
        }
        put_fixed(&l, "cum_qty", r->event.cum_qty);
        if (r->event.reason || c->json)
            put_str(&l, "reason", desk_reject_name(r->event.reason), 64);
        if (c->json)
            put_u64(&l, "maker", (r->event.flags & DESK_VEV_MAKER) ? 1 : 0);
        else if (r->event.flags & DESK_VEV_MAKER)
            fputs(" maker", c->out);
        put_str(&l, "result", result_name(r->event.result), 32);
        break;
    case DESK_JREC_BALANCE:
        put_enum(&l, "what",
                 r->balance.what == DESK_JBAL_CASH       ? "CASH"
                 : r->balance.what == DESK_JBAL_POSITION ? "POSITION"
                                                         : "?");
        put_enum(&l, "source",
                 r->balance.source == DESK_JBAL_SEED        ? "seed"
                 : r->balance.source == DESK_JBAL_RECONCILE ? "reconcile"
                 : r->balance.source == DESK_JBAL_SNAPSHOT  ? "snapshot"
                                                            : "?");
        put_named(&l, "connector", "connector_index", r->balance.connector,
                  nm(c->conn_name, r->balance.connector));
        if (r->balance.what == DESK_JBAL_POSITION) {
            put_named(&l, "symbol", "instrument", r->balance.instrument,
                      nm(c->instr_name, r->balance.instrument));
            put_fixed(&l, "qty", r->balance.qty);
            put_fixed(&l, "avg_px", r->balance.avg_px);
        } else {
            put_fixed(&l, "cash", r->balance.cash);
            put_fixed(&l, "venue_bp", r->balance.venue_bp);
        }
        break;
    case DESK_JREC_SNAPSHOT:
        put_enum(&l, "what", r->snap.what == DESK_JSNAP_BEGIN ? "BEGIN"
                             : r->snap.what == DESK_JSNAP_END ? "END"
                                                              : "?");
        put_u64(&l, "day", r->snap.day);
        put_u64(&l, "from_day", r->snap.from_day);
        put_u64(&l, "live_orders", r->snap.nlive);
        if (r->snap.what == DESK_JSNAP_BEGIN) {
            put_u64(&l, "next_venue_cl", r->snap.next_venue_cl);
            put_u64(&l, "generation", r->snap.generation);
        }
        break;
    case DESK_JREC_CARRY:
        put_u64(&l, "part", r->carry.part);
        put_u64(&l, "order_id", r->carry.order_id);
        if (r->carry.part == 1) {
            put_named(&l, "strategy", "strategy_index", r->carry.strategy,
                      nm(c->strat_name, r->carry.strategy));
            put_u64(&l, "cl_ord_id", r->carry.a);
            put_u64(&l, "venue_cl", r->carry.b);
            put_named(&l, "symbol", "instrument", (unsigned)r->carry.c,
                      nm(c->instr_name, (unsigned)r->carry.c));
            put_enum(&l, "side", side_name(r->carry.side));
            put_enum(&l, "ord_type", type_name(r->carry.ord_type));
            put_enum(&l, "tif", tif_name(r->carry.tif));
            put_enum(&l, "status", desk_ord_status_name(r->carry.status));
        } else if (r->carry.part == 2) {
            put_fixed(&l, "qty", (int64_t)r->carry.a);
            put_fixed(&l, "px", (int64_t)r->carry.b);
            if (r->carry.c || c->json)
                put_fixed(&l, "stop_px", (int64_t)r->carry.c);
            put_fixed(&l, "cum_qty", (int64_t)r->carry.d);
        } else if (r->carry.a || r->carry.b || c->json) {
            put_u64(&l, "req_cl_ord_id", r->carry.a);
            put_u64(&l, "req_venue_cl", r->carry.b);
            put_fixed(&l, "new_qty", (int64_t)r->carry.c);
            put_fixed(&l, "new_px", (int64_t)r->carry.d);
        }
        break;
    case DESK_JREC_BREAK:
        put_enum(&l, "what", desk_break_kind_name(r->brk.what));
        put_enum(&l, "state", r->brk.open ? "open" : "cleared");
        put_named(&l, "connector", "connector_index", r->brk.connector,
                  nm(c->conn_name, r->brk.connector));
        if (r->brk.what == DESK_BREAK_POSITION)
            put_named(&l, "symbol", "instrument", r->brk.instrument,
                      nm(c->instr_name, r->brk.instrument));
        if (r->brk.what == DESK_BREAK_ORDERS) {
            put_u64(&l, "venue_only_orders", (uint64_t)r->brk.venue);
        } else {
            put_fixed(&l, "desk", r->brk.desk);
            put_fixed(&l, "venue", r->brk.venue);
        }
        break;
    default:
        put_u64(&l, "kind_code", kind);
        break;
    }
    fputs(c->json ? "}\n" : "\n", c->out);
}

/* ---- the scan callback: learn, filter, print -------------------------------- */

static int jc_cb(const desk_jrec_t *r, uint64_t off, void *ctx)
{
    struct jc *c = ctx;
    unsigned kind = r->head.kind;
    int strategy = -1, match = 1;

    /* Learn first, so the filters and the names apply to this very record. */
    if (kind == DESK_JREC_FILE) {
        c->day = r->file.day;
        if (c->since_mode == 2)
            c->since_ns = day_start_ns(c->day) + c->since_tod_ns;
    } else if (kind == DESK_JREC_NAME && r->name.index < NAME_SLOTS) {
        char(*tab)[DESK_NAME_MAX] = r->name.what == DESK_JNAME_STRATEGY     ? c->strat_name
                                    : r->name.what == DESK_JNAME_CONNECTOR  ? c->conn_name
                                    : r->name.what == DESK_JNAME_INSTRUMENT ? c->instr_name
                                                                            : NULL;
        if (tab) {
            memcpy(tab[r->name.index], r->name.name, DESK_NAME_MAX);
            tab[r->name.index][DESK_NAME_MAX - 1] = '\0';
        }
        if (r->name.what == DESK_JNAME_STRATEGY && c->strat_arg &&
            strcmp(c->strat_arg, c->strat_name[r->name.index]) == 0)
            c->strat = (int)r->name.index;
    }
    if (kind == DESK_JREC_CMD || kind == DESK_JREC_REJECT || kind == DESK_JREC_EVENT ||
        kind == DESK_JREC_CARRY) {
        uint64_t oid = kind == DESK_JREC_CMD      ? r->cmd.order_id
                       : kind == DESK_JREC_REJECT ? r->reject.order_id
                       : kind == DESK_JREC_CARRY  ? r->carry.order_id
                                                  : r->event.order_id;
        int creates = kind == DESK_JREC_CMD || (kind == DESK_JREC_CARRY && r->carry.part == 1);
        struct jc_order *o = oid ? jc_order(c, oid, creates) : NULL;
        if (kind == DESK_JREC_CMD || (kind == DESK_JREC_CARRY && r->carry.part == 1)) {
            strategy = kind == DESK_JREC_CMD ? r->cmd.strategy : r->carry.strategy;
            if (o && o->strategy < 0)
                o->strategy = (int16_t)strategy;
        } else if (kind == DESK_JREC_REJECT) {
            strategy = r->reject.strategy;
        } else {
            strategy = o ? o->strategy : -1;
        }
        if (c->strat_arg && strategy != c->strat)
            match = 0;
        if (c->have_clid) {
            int hit = kind == DESK_JREC_CMD ? r->cmd.cl_ord_id == c->clid
                      : kind == DESK_JREC_REJECT
                          ? r->reject.cl_ord_id == c->clid || r->reject.orig_cl_ord_id == c->clid
                      : kind == DESK_JREC_CARRY
                          ? (r->carry.part == 1 || r->carry.part == 3) && r->carry.a == c->clid
                          : 0;
            if (hit && match && o)
                o->selected = 1;
            if (!hit && !(o && o->selected))
                match = 0;
        }
    } else if (c->strat_arg || c->have_clid) {
        match = 0; /* session, names, balances belong to no strategy or order */
    }
    if (c->kinds && (kind >= 32 || !(c->kinds & (1u << kind))))
        match = 0;
    if (c->since_mode && r->head.ts_ns < c->since_ns)
        match = 0;
    if (match)
        print_rec(c, r, off, strategy);
    c->index++;
    return ferror(c->out) ? -EIO : 0;
}

/* ---- the subcommand ------------------------------------------------------------ */

static void jc_usage(FILE *f)
{
    fprintf(f, "usage: desk journal [-n DESK] [-d DIR] [--date YYYYMMDD] | -f FILE\n"
               "                    [--json] [--strategy S] [--clordid N] [--kind K[,K...]]"
               " [--since T]\n"
               "  -n, --name DESK     desk name (default $DESK_NAME, else demo)\n"
               "  -d, --dir DIR       journal directory (default $DESK_JOURNAL_DIR, else journal)\n"
               "      --date YYYYMMDD the trading day (UTC; default today)\n"
               "  -f, --file FILE     read FILE instead\n"
               "  -j, --json          one JSON object per line\n"
               "  -s, --strategy S    only strategy S (name or index)\n"
               "  -c, --clordid N     only ClOrdID N and the order it names\n"
               "  -k, --kind K        file, session, name, cmd, reject, event, balance,\n"
               "                      break, snapshot, carry\n"
               "      --since T       2026-11-21T05:50:00Z, 05:50[:00] or @EPOCH_SECONDS\n");
}

static int parse_kinds(struct jc *c, const char *arg)
{
    char buf[256];
    char *save = NULL;

    if (strlen(arg) >= sizeof buf)
        return -1;
    memcpy(buf, arg, strlen(arg) + 1);
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int k = desk_jrec_kind_parse(t);
        if (k < 0)
            return -1;
        c->kinds |= 1u << k;
    }
    return c->kinds ? 0 : -1;
}

/* See cli.h.  Main thread. */
int desk_cli_journal(int argc, char **argv)
{
    enum { OPT_DATE = 256, OPT_SINCE };
    static const struct option opts[] = {{"name", required_argument, NULL, 'n'},
                                         {"dir", required_argument, NULL, 'd'},
                                         {"date", required_argument, NULL, OPT_DATE},
                                         {"file", required_argument, NULL, 'f'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"strategy", required_argument, NULL, 's'},
                                         {"clordid", required_argument, NULL, 'c'},
                                         {"kind", required_argument, NULL, 'k'},
                                         {"since", required_argument, NULL, OPT_SINCE},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *e = getenv("DESK_NAME");
    const char *desk = e && *e ? e : "demo";
    const char *dir = getenv("DESK_JOURNAL_DIR");
    const char *file = NULL;
    uint32_t day = 0;
    char path[DESK_PATH_MAX * 2];
    struct jc *c = calloc(1, sizeof *c);
    int opt, rc = DESK_CLI_ERROR;

    if (c == NULL) {
        fprintf(stderr, "desk journal: out of memory\n");
        return DESK_CLI_ERROR;
    }
    c->out = stdout;
    c->strat = -1;
    if (dir == NULL || *dir == '\0')
        dir = "journal";
    optind = 0; /* glibc: full reinitialisation, argv[0] is the subcommand */
    while ((opt = getopt_long(argc, argv, "n:d:f:js:c:k:h", opts, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'n':
            desk = optarg;
            break;
        case 'd':
            dir = optarg;
            break;
        case 'f':
            file = optarg;
            break;
        case 'j':
            c->json = 1;
            break;
        case 's':
            c->strat_arg = optarg;
            errno = 0;
            unsigned long si = strtoul(optarg, &end, 10);
            if (!errno && end != optarg && *end == '\0' && si < NAME_SLOTS)
                c->strat = (int)si; /* an index; a name is resolved by NAME records */
            break;
        case 'c':
            errno = 0;
            c->clid = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-') {
                fprintf(stderr, "desk journal: --clordid wants a number, not '%s'\n", optarg);
                goto out;
            }
            c->have_clid = 1;
            break;
        case 'k':
            if (parse_kinds(c, optarg) < 0) {
                fprintf(stderr,
                        "desk journal: --kind wants file, session, name, cmd, reject, event "
                        "or balance (a comma list), not '%s'\n",
                        optarg);
                goto out;
            }
            break;
        case OPT_DATE: {
            errno = 0;
            unsigned long d = strtoul(optarg, &end, 10);
            if (errno || end != optarg + 8 || *end || d / 100 % 100 < 1 || d / 100 % 100 > 12 ||
                d % 100 < 1 || d % 100 > 31 || d < 19700101) {
                fprintf(stderr, "desk journal: --date wants YYYYMMDD, not '%s'\n", optarg);
                goto out;
            }
            day = (uint32_t)d;
            break;
        }
        case OPT_SINCE:
            if (parse_since(c, optarg) < 0) {
                fprintf(stderr,
                        "desk journal: --since wants 2026-11-21T05:50:00Z, 05:50[:00] or "
                        "@EPOCH_SECONDS, not '%s'\n",
                        optarg);
                goto out;
            }
            break;
        case 'h':
            jc_usage(stdout);
            rc = DESK_CLI_OK;
            goto out;
        default:
            jc_usage(stderr);
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "desk journal: unexpected argument '%s'\n", argv[optind]);
        jc_usage(stderr);
        goto out;
    }
    if (file == NULL) {
        if (day == 0)
            day = desk_journal_day(desk_wall_ns());
        if (desk_journal_path(path, sizeof path, dir, desk, day) < 0) {
            fprintf(stderr, "desk journal: %s\n", desk_errmsg());
            goto out;
        }
        file = path;
    }

    desk_jscan_t info;
    int n = desk_journal_scan(file, 0, jc_cb, c, &info);
    fflush(c->out);
    if (n == -EIO && ferror(c->out)) {
        fprintf(stderr, "desk journal: write error\n");
        goto out;
    }
    if (n < 0) {
        fprintf(stderr, "desk journal: %s: %s\n", file, desk_errmsg());
        goto out;
    }
    if (info.torn_bytes)
        fprintf(stderr,
                "desk journal: %s: %" PRIu64 " byte(s) of torn tail at offset %" PRIu64
                " (a write in progress, or a crash; deskd cuts it at start)\n",
                file, info.torn_bytes, info.good_end);
    rc = ferror(c->out) ? DESK_CLI_ERROR : DESK_CLI_OK;
out:
    free(c->orders);
    free(c);
    return rc;
}
