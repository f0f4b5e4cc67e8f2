/*
 * status.c - `desk status` and `desk halt|reduce|resume`.
 *
 * Both map only the main segment, read-only (desk_shm_main_attach), and
 * never write to it.  desk status takes one snapshot of everything it shows
 * (seqlocked blocks are copied with desk_seqlock_read, counters are relaxed
 * atomic loads) and renders it as text or as one line of JSON.  Fixed-point
 * values are printed exactly with desk_fixed_format: no floating point
 * touches money, prices or quantities.
 *
 * The kill-switch commands queue DESK_KILL_SIGNAL to deskd with the wanted
 * state and watch the header's kill field until deskd's control thread has
 * applied it.
 *
 * Everything here runs on the desk command's main thread; nothing is hot.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/fixed.h"
#include "core/hist.h"
#include "core/recon.h"
#include "ring/seqlock.h"

#define ST_STALE_NS UINT64_C(2000000000) /* router heartbeat older than this: STALE */
#define ST_SEQ_WAIT_MS 200               /* wait this long for a writer mid-write */
#define ST_WIDTH 100                     /* terminal columns the text aims at */
#define ST_KILL_WAIT_NS UINT64_C(3000000000) /* desk halt waits this long */

/* ---- small helpers -------------------------------------------------------- */

/* Set by SIGINT/SIGTERM while --watch runs. */
static volatile sig_atomic_t st_stop;

static void st_on_signal(int sig)
{
    (void)sig;
    st_stop = 1;
}

static void st_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000u), .tv_nsec = (long)(ms % 1000u) * 1000000L};

    nanosleep(&ts, NULL); /* EINTR ends the nap early, which is what --watch wants */
}

/* A NUL-terminated copy of a fixed-size name field that might lack its NUL. */
static void st_name(char *dst, const char *src, size_t cap)
{
    size_t n = strnlen(src, cap - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

static const char *st_run_name(uint32_t s)
{
    static const char *const n[] = {"STARTING", "RUNNING", "STOPPING", "STOPPED"};
    return s < 4 ? n[s] : "?";
}

static const char *st_venue_name(uint32_t v)
{
    static const char *const n[] = {"?", "equities", "options", "crypto", "futures", "cash"};
    return v < 6 ? n[v] : "?";
}

static const char *st_side_name(unsigned s)
{
    return s == DESK_BUY ? "BUY" : s == DESK_SELL ? "SELL" : "?";
}

static const char *st_type_name(unsigned t)
{
    static const char *const n[] = {"?", "MARKET", "LIMIT", "STOP", "STOP_LIMIT"};
    return t < 5 ? n[t] : "?";
}

static const char *st_type_short(unsigned t)
{
    static const char *const n[] = {"?", "MKT", "LMT", "STP", "STL"};
    return t < 5 ? n[t] : "?";
}

static const char *st_tif_name(unsigned t)
{
    switch (t) {
    case DESK_DAY: return "DAY";
    case DESK_GTC: return "GTC";
    case DESK_IOC: return "IOC";
    case DESK_FOK: return "FOK";
    default: return "?";
    }
}

static const char *const st_stage_names[DESK_STAGE__COUNT] = {
    "submit->router", "guard", "submit->routed", "submit->ack", "submit->fill"};

/* Fixed-point text: a ring of buffers so one printf can take several. */
struct st_fx {
    char buf[24][32]; /* 32 bytes always suffice for desk_fixed_format */
    unsigned next;    /* next buffer to use */
};

static const char *st_fx(struct st_fx *r, int64_t v, unsigned min_frac)
{
    char *b = r->buf[r->next++ % 24];

    if (desk_fixed_format(v, min_frac, b, sizeof r->buf[0]) < 0)
        snprintf(b, sizeof r->buf[0], "?");
    return b;
}

/* A duration as short text: 850ns 12.3us 4.56ms 1.23s 12m03s 3h02m 2d03h. */
static const char *st_dur(struct st_fx *r, uint64_t ns)
{
    char *b = r->buf[r->next++ % 24];
    size_t cap = sizeof r->buf[0];

    if (ns < 1000u)
        snprintf(b, cap, "%" PRIu64 "ns", ns);
    else if (ns < UINT64_C(1000000))
        snprintf(b, cap, "%" PRIu64 ".%" PRIu64 "us", ns / 1000u, ns % 1000u / 100u);
    else if (ns < UINT64_C(1000000000))
        snprintf(b, cap, "%" PRIu64 ".%02" PRIu64 "ms", ns / 1000000u, ns % 1000000u / 10000u);
    else if (ns < UINT64_C(60000000000))
        snprintf(b, cap, "%" PRIu64 ".%02" PRIu64 "s", ns / 1000000000u,
                 ns % 1000000000u / 10000000u);
    else if (ns < UINT64_C(3600000000000))
        snprintf(b, cap, "%" PRIu64 "m%02" PRIu64 "s", ns / UINT64_C(60000000000),
                 ns / 1000000000u % 60u);
    else if (ns < UINT64_C(86400000000000))
        snprintf(b, cap, "%" PRIu64 "h%02" PRIu64 "m", ns / UINT64_C(3600000000000),
                 ns / UINT64_C(60000000000) % 60u);
    else
        snprintf(b, cap, "%" PRIu64 "d%02" PRIu64 "h", ns / UINT64_C(86400000000000),
                 ns / UINT64_C(3600000000000) % 24u);
    return b;
}

/* now - t, 0 if t is in the future (a fake segment, or a racing writer). */
static uint64_t st_age(uint64_t now, uint64_t t)
{
    return now > t ? now - t : 0;
}

/* 1 if a process with this pid exists (possibly another user's). */
static int st_pid_alive(int32_t pid)
{
    if (pid <= 0)
        return 0; /* kill(0 or -n, 0) would probe a process group */
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static uint64_t st_ld(const _Atomic uint64_t *p)
{
    /* Relaxed: monitoring counters, no data depends on them. */
    return atomic_load_explicit(p, memory_order_relaxed);
}

/*
 * desk_seqlock_read, but one that gives up if the writer stays mid-write for
 * ST_SEQ_WAIT_MS (a deskd that died inside a write would make the plain read
 * spin forever).  Returns the snapshot's sequence (0: never written), or
 * UINT64_MAX if it gave up.
 */
static uint64_t st_seq_read(const desk_seqlock_t *l, void *dst, const void *src, size_t n)
{
    for (int i = 0; i < ST_SEQ_WAIT_MS; i++) {
        /* Relaxed: only a hint; desk_seqlock_read does the ordered reads. */
        if ((atomic_load_explicit(&l->seq, memory_order_relaxed) & 1u) == 0)
            return desk_seqlock_read(l, dst, src, n);
        st_sleep_ms(1);
    }
    return UINT64_MAX;
}

/* ---- the snapshot --------------------------------------------------------- */

struct st_lat {
    uint64_t count, p50, p99, p999, max, mean; /* ns */
};

/* Everything one rendering shows, read once. */
struct st_snap {
    const struct desk_main_hdr *h;     /* the segment (borrowed) */
    struct desk_main_hdr *hw;          /* same, non-const for the shm.h views; never written */
    uint64_t now;                      /* desk_now_ns() of this snapshot */
    char name[DESK_NAME_MAX];          /* desk name */
    uint32_t ninst, nconn, nstrat;     /* counts from the header */
    int32_t pid;                       /* deskd's pid */
    int pid_alive;                     /* 1 if that process exists */
    uint32_t run_state, kill, kill_seq; /* header atomics */
    uint64_t hb;                       /* router heartbeat, desk_now_ns() */
    char conn_name[DESK_SHM_MAX_CONNECTORS][DESK_NAME_MAX]; /* connector names */
    char conn_type[DESK_SHM_MAX_CONNECTORS][DESK_NAME_MAX]; /* connector types */
    struct desk_conn_health health[DESK_SHM_MAX_CONNECTORS]; /* seqlocked copies */
    int health_ok[DESK_SHM_MAX_CONNECTORS];                  /* 0: writer stuck */
    struct st_lat dispatch[DESK_SHM_MAX_CONNECTORS];          /* per connector */
    desk_instrument_t inst[DESK_SHM_MAX_INSTRUMENTS];         /* instrument table */
    desk_quote_t quote[DESK_SHM_MAX_INSTRUMENTS];             /* seqlocked copies */
    int have_quote[DESK_SHM_MAX_INSTRUMENTS];                 /* 1 once published */
    struct desk_uta_shm uta;           /* seqlocked copy of t, venues, pos prefix */
    int have_uta;                      /* 1 once published */
    char strat_name[DESK_SHM_MAX_STRATEGIES][DESK_NAME_MAX]; /* strategy names */
    struct desk_orders_shm orders;     /* seqlocked copy of the open-order list */
    int have_orders;                   /* 1 once published */
    struct st_lat stage[DESK_STAGE__COUNT]; /* desk-wide latency */
    struct desk_recon_data recon;      /* seqlocked copy of the reconciliation block */
    int have_recon;                    /* 1 once published */
};

static void st_lat_read(struct st_lat *l, const desk_hist_t *h)
{
    l->count = atomic_load_explicit(&h->count, memory_order_acquire);
    l->p50 = desk_hist_quantile(h, 0.5);
    l->p99 = desk_hist_quantile(h, 0.99);
    l->p999 = desk_hist_quantile(h, 0.999);
    l->max = st_ld(&h->max);
    l->mean = l->count ? st_ld(&h->sum) / l->count : 0;
}

/* Check that the header's counts and offsets fit in total_size. */
static int st_check(const struct desk_main_hdr *h)
{
    uint64_t end = h->total_size;

    if (h->ninstruments > DESK_SHM_MAX_INSTRUMENTS || h->nconnectors > DESK_SHM_MAX_CONNECTORS ||
        h->nstrategies > DESK_SHM_MAX_STRATEGIES)
        return DESK_ERR(-EPROTO, "counts %u/%u/%u exceed the limits", h->ninstruments,
                        h->nconnectors, h->nstrategies);
#define ST_FITS(off, bytes) ((off) % 8u == 0 && (off) <= end && (bytes) <= end - (off))
    if (!ST_FITS(h->off_instruments, (uint64_t)h->ninstruments * sizeof(desk_instrument_t)) ||
        !ST_FITS(h->off_quotes, (uint64_t)h->ninstruments * sizeof(struct desk_quote_slot)) ||
        !ST_FITS(h->off_uta, sizeof(struct desk_uta_shm)) ||
        !ST_FITS(h->off_connectors, (uint64_t)h->nconnectors * sizeof(struct desk_conn_shm)) ||
        !ST_FITS(h->off_strategies, (uint64_t)h->nstrategies * sizeof(struct desk_strat_shm)) ||
        !ST_FITS(h->off_stats, sizeof(struct desk_stats_shm)) ||
        !ST_FITS(h->off_orders, sizeof(struct desk_orders_shm)) ||
        !ST_FITS(h->off_recon, sizeof(struct desk_recon_shm)))
        return DESK_ERR(-EPROTO, "segment offsets do not fit its %" PRIu64 " bytes", end);
#undef ST_FITS
    return 0;
}

/* Fill *s from the segment.  Returns 0 or -EPROTO. */
static int st_snap_take(struct st_snap *s, const struct desk_main_hdr *h, uint64_t now)
{
    int rc = st_check(h);

    if (rc < 0)
        return rc;
    memset(s, 0, sizeof *s);
    s->h = h;
    s->hw = (struct desk_main_hdr *)(uintptr_t)h; /* the views want non-const; we only read */
    s->now = now;
    st_name(s->name, h->name, sizeof s->name);
    s->ninst = h->ninstruments;
    s->nconn = h->nconnectors;
    s->nstrat = h->nstrategies;
    s->pid = h->router_pid;
    s->pid_alive = st_pid_alive(s->pid);
    /* Acquire pairs with the writers' releases; relaxed would do for display. */
    s->run_state = atomic_load_explicit(&h->run_state, memory_order_acquire);
    s->kill = atomic_load_explicit(&h->kill, memory_order_acquire);
    s->kill_seq = atomic_load_explicit(&h->kill_seq, memory_order_acquire);
    s->hb = st_ld(&h->heartbeat_ns);

    const struct desk_conn_shm *conn = desk_shm_conns(s->hw);
    for (uint32_t i = 0; i < s->nconn; i++) {
        st_name(s->conn_name[i], conn[i].name, DESK_NAME_MAX);
        st_name(s->conn_type[i], conn[i].type, DESK_NAME_MAX);
        s->health_ok[i] = st_seq_read(&conn[i].hlock, &s->health[i], &conn[i].health,
                                      sizeof s->health[i]) != UINT64_MAX;
        s->health[i].reason[sizeof s->health[i].reason - 1] = '\0';
        st_lat_read(&s->dispatch[i], &conn[i].dispatch);
    }
    memcpy(s->inst, desk_shm_instruments(s->hw), (size_t)s->ninst * sizeof s->inst[0]);
    const struct desk_quote_slot *q = desk_shm_quotes(s->hw);
    for (uint32_t i = 0; i < s->ninst; i++) {
        s->inst[i].symbol[DESK_SYMBOL_MAX - 1] = '\0';
        uint64_t seq = st_seq_read(&q[i].lock, &s->quote[i], &q[i].q, sizeof s->quote[i]);
        s->have_quote[i] = seq != 0 && seq != UINT64_MAX;
    }
    const struct desk_uta_shm *u = desk_shm_uta(s->hw);
    uint64_t useq = st_seq_read(&u->lock, &s->uta.t, &u->t, desk_shm_uta_bytes(s->nconn, s->ninst));
    s->have_uta = useq != 0 && useq != UINT64_MAX;
    const struct desk_strat_shm *st = desk_shm_strats(s->hw);
    for (uint32_t i = 0; i < s->nstrat; i++)
        st_name(s->strat_name[i], st[i].name, DESK_NAME_MAX);
    const struct desk_orders_shm *o = desk_shm_orders(s->hw);
    /* The whole list: n is inside the protected block, so it is copied with it. */
    uint64_t oseq = st_seq_read(&o->lock, &s->orders.total, &o->total,
                                sizeof *o - offsetof(struct desk_orders_shm, total));
    s->have_orders = oseq != 0 && oseq != UINT64_MAX;
    if (s->orders.n > DESK_SHM_OPEN_ORDERS)
        s->orders.n = DESK_SHM_OPEN_ORDERS;
    const struct desk_stats_shm *stats = desk_shm_stats(s->hw);
    for (unsigned i = 0; i < DESK_STAGE__COUNT; i++)
        st_lat_read(&s->stage[i], &stats->stage[i]);
    const struct desk_recon_shm *rb = desk_shm_recon(s->hw);
    uint64_t rseq = st_seq_read(&rb->lock, &s->recon, &rb->d, sizeof s->recon);
    s->have_recon = rseq != 0 && rseq != UINT64_MAX;
    if (s->recon.nbreaks > DESK_SHM_BREAKS)
        s->recon.nbreaks = DESK_SHM_BREAKS;
    return 0;
}

static const char *st_inst_symbol(const struct st_snap *s, uint32_t id)
{
    return id < s->ninst ? s->inst[id].symbol : "?";
}

static const char *st_inst_venue(const struct st_snap *s, uint32_t id)
{
    return id < s->ninst && s->inst[id].connector < s->nconn ? s->conn_name[s->inst[id].connector]
                                                              : "?";
}

static const char *st_strat(const struct st_snap *s, uint32_t idx)
{
    return idx < s->nstrat ? s->strat_name[idx] : "?";
}

/* Name of reject slot r, or "REJECT_<r>" in buf for a code this build lacks. */
static const char *st_reject_name(unsigned r, char *buf, size_t cap)
{
    const char *n = desk_reject_name(r);

    if (strcmp(n, "?") != 0)
        return n;
    snprintf(buf, cap, "REJECT_%u", r);
    return buf;
}

/* ---- text ----------------------------------------------------------------- */

/*
 * Tables sized to their content.  Exact fixed-point figures can be wide
 * ("-12345.67891234"), so each table measures its cells first; a table that
 * would be wider than ST_WIDTH is printed as one block of "header value"
 * items per row instead, wrapped at ST_WIDTH.
 */
#define ST_COLS 12 /* most columns of a table */
#define ST_CELL 40 /* bytes per cell: names are < 32, numbers < 24 */
#define ST_NOTE 64 /* bytes of a row's note line (a health reason) */
#define ST_GAP 2   /* spaces between columns */

struct st_tab {
    int ncols;                       /* columns in use */
    const char *hdr[ST_COLS];        /* headers; hdr[0] is the section title */
    unsigned right;                  /* bit i set: right-align column i */
    int nrows, cap;                  /* rows used and allocated */
    char (*cell)[ST_COLS][ST_CELL];  /* cell text (owned) */
    char (*note)[ST_NOTE];           /* an optional line under each row (owned) */
};

static void st_tab_init(struct st_tab *t, unsigned right, const char *const *hdr, int ncols)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols < ST_COLS ? ncols : ST_COLS;
    t->right = right;
    for (int i = 0; i < t->ncols; i++)
        t->hdr[i] = hdr[i];
}

/* A new empty row, or -1 if out of memory (the row is then left out). */
static int st_tab_row(struct st_tab *t)
{
    if (t->nrows == t->cap) {
        int cap = t->cap ? 2 * t->cap : 16;
        void *c = realloc(t->cell, (size_t)cap * sizeof t->cell[0]);
        if (c == NULL)
            return -1;
        t->cell = c;
        void *n = realloc(t->note, (size_t)cap * sizeof t->note[0]);
        if (n == NULL)
            return -1;
        t->note = n;
        t->cap = cap;
    }
    memset(t->cell[t->nrows], 0, sizeof t->cell[0]);
    t->note[t->nrows][0] = '\0';
    return t->nrows++;
}

static void st_tab_set(struct st_tab *t, int row, int col, const char *fmt, ...) DESK_PRINTF(4, 5);

static void st_tab_set(struct st_tab *t, int row, int col, const char *fmt, ...)
{
    va_list ap;

    if (row < 0 || col >= t->ncols)
        return;
    va_start(ap, fmt);
    vsnprintf(t->cell[row][col], ST_CELL, fmt, ap);
    va_end(ap);
}

static void st_tab_print(FILE *f, struct st_tab *t)
{
    int w[ST_COLS], total = 2 + ST_GAP * (t->ncols - 1);

    for (int c = 0; c < t->ncols; c++) {
        int h = (int)strlen(t->hdr[c]) - (c == 0 ? 2 : 0); /* the title sits in the indent */
        w[c] = h > 0 ? h : 0;
        for (int r = 0; r < t->nrows; r++) {
            int n = (int)strlen(t->cell[r][c]);
            w[c] = n > w[c] ? n : w[c];
        }
        total += w[c];
    }
    if (total <= ST_WIDTH) {
        for (int c = 0; c < t->ncols; c++) {
            int wc = c == 0 ? w[0] + 2 : w[c];
            int rc = (t->right >> c) & 1u;
            fprintf(f, "%*s", c ? ST_GAP : 0, "");
            fprintf(f, rc ? "%*s" : "%-*s", c == t->ncols - 1 && !rc ? 0 : wc, t->hdr[c]);
        }
        fputc('\n', f);
        for (int r = 0; r < t->nrows; r++) {
            fputs("  ", f);
            for (int c = 0; c < t->ncols; c++) {
                int rc = (t->right >> c) & 1u;
                fprintf(f, "%*s", c ? ST_GAP : 0, "");
                /* No padding after a left-aligned last column. */
                fprintf(f, rc ? "%*s" : "%-*s", c == t->ncols - 1 && !rc ? 0 : w[c],
                        t->cell[r][c]);
            }
            fputc('\n', f);
            if (t->note[r][0])
                fprintf(f, "    %s\n", t->note[r]);
        }
        return;
    }
    /* Too wide: one wrapped block per row. */
    fprintf(f, "%s\n", t->hdr[0]);
    for (int r = 0; r < t->nrows; r++) {
        int col = fprintf(f, "  %s", t->cell[r][0]);
        for (int c = 1; c < t->ncols; c++) {
            int n = (int)(strlen(t->hdr[c]) + strlen(t->cell[r][c])) + 3;
            if (col + n > ST_WIDTH) {
                fputs("\n   ", f);
                col = 3;
            }
            col += fprintf(f, "  %s %s", t->hdr[c], t->cell[r][c]);
        }
        fputc('\n', f);
        if (t->note[r][0])
            fprintf(f, "    %s\n", t->note[r]);
    }
}

static void st_tab_fini(struct st_tab *t)
{
    free(t->cell);
    free(t->note);
    memset(t, 0, sizeof *t);
}

/* Print "  key value" items after a title, wrapping before ST_WIDTH. */
struct st_wrap {
    FILE *f;    /* output */
    int col;    /* current column */
    int indent; /* continuation indent */
};

static void st_wrap_item(struct st_wrap *w, const char *key, const char *val)
{
    int n = (int)(strlen(key) + strlen(val)) + 3;

    if (w->col + n > ST_WIDTH) {
        fprintf(w->f, "\n%*s", w->indent, "");
        w->col = w->indent;
    }
    w->col += fprintf(w->f, "  %s %s", key, val);
}

static void st_wrap_u64(struct st_wrap *w, const char *key, uint64_t v)
{
    char b[24];

    snprintf(b, sizeof b, "%" PRIu64, v);
    st_wrap_item(w, key, b);
}

static void st_text_lat_row(struct st_tab *t, struct st_fx *r, const char *name,
                            const struct st_lat *l)
{
    int row = st_tab_row(t);

    st_tab_set(t, row, 0, "%s", name);
    st_tab_set(t, row, 1, "%" PRIu64, l->count);
    if (l->count == 0) {
        for (int c = 2; c <= 6; c++)
            st_tab_set(t, row, c, "-");
        return;
    }
    st_tab_set(t, row, 2, "%s", st_dur(r, l->p50));
    st_tab_set(t, row, 3, "%s", st_dur(r, l->p99));
    st_tab_set(t, row, 4, "%s", st_dur(r, l->p999));
    st_tab_set(t, row, 5, "%s", st_dur(r, l->max));
    st_tab_set(t, row, 6, "%s", st_dur(r, l->mean));
}

/* "positions+balance+orders": what a connector's reports carry. */
static const char *st_recon_checks(uint32_t flags, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s%s%s", (flags & DESK_REPORT_POSITIONS) ? "positions" : "",
             (flags & DESK_REPORT_POSITIONS) && (flags & ~DESK_REPORT_POSITIONS & 7u) ? "+" : "",
             (flags & DESK_REPORT_BALANCE) ? ((flags & DESK_REPORT_ORDERS) ? "balance+" : "balance")
                                           : "",
             (flags & DESK_REPORT_ORDERS) ? "orders" : "");
    return buf[0] ? buf : "-";
}

/* A break's figures as text: quantities and money in full, orders as a count. */
static void st_break_figs(struct st_fx *r, const struct desk_break *b, const char **dv,
                          const char **vv, char *nb, size_t cap)
{
    if (b->kind == DESK_BREAK_ORDERS) {
        snprintf(nb, cap, "%lld open", (long long)b->venue);
        *dv = "0";
        *vv = nb;
        return;
    }
    unsigned frac = b->kind == DESK_BREAK_POSITION ? 0 : 2;
    *dv = st_fx(r, b->desk, frac);
    *vv = st_fx(r, b->venue, frac);
}

static void st_text_recon(FILE *f, const struct st_snap *s, struct st_fx *r)
{
    struct st_tab t;
    char ck[40];

    if (!s->have_recon) {
        fprintf(f, "\nRECONCILIATION   no venue report yet\n");
        return;
    }
    fprintf(f, "\nRECONCILIATION   %llu open break(s)%s\n", (unsigned long long)s->recon.nbreaks,
            s->recon.dropped ? " (more than the table holds: see desk journal)" : "");
    static const char *const rh[] = {"  connector", "reports", "last", "checks", "breaks"};
    st_tab_init(&t, 0x12u, rh, 5);
    for (uint32_t i = 0; i < s->nconn; i++) {
        const struct desk_recon_row *w = &s->recon.conn[i];
        int row = st_tab_row(&t);
        st_tab_set(&t, row, 0, "%s", s->conn_name[i]);
        st_tab_set(&t, row, 1, "%" PRIu64, w->reports);
        if (w->reports)
            st_tab_set(&t, row, 2, "%s ago", st_dur(r, st_age(s->now, w->last_ns)));
        else
            st_tab_set(&t, row, 2, "never");
        st_tab_set(&t, row, 3, "%s", w->reports ? st_recon_checks(w->flags, ck, sizeof ck) : "-");
        st_tab_set(&t, row, 4, "%u", w->breaks);
    }
    st_tab_print(f, &t);
    st_tab_fini(&t);
    if (s->recon.nbreaks == 0)
        return;
    static const char *const bh[] = {"  BREAKS", "connector", "symbol", "desk", "venue", "since"};
    st_tab_init(&t, 0x38u, bh, 6);
    for (uint64_t k = 0; k < s->recon.nbreaks; k++) {
        const struct desk_break *b = &s->recon.open[k];
        const char *dv, *vv;
        char nb[32];
        int row = st_tab_row(&t);
        st_break_figs(r, b, &dv, &vv, nb, sizeof nb);
        st_tab_set(&t, row, 0, "%s", desk_break_kind_name(b->kind));
        st_tab_set(&t, row, 1, "%s", b->connector < s->nconn ? s->conn_name[b->connector] : "?");
        st_tab_set(&t, row, 2, "%s",
                   b->kind == DESK_BREAK_POSITION ? st_inst_symbol(s, b->instrument) : "-");
        st_tab_set(&t, row, 3, "%s", dv);
        st_tab_set(&t, row, 4, "%s", vv);
        st_tab_set(&t, row, 5, "%s ago", st_dur(r, st_age(s->now, b->since_ns)));
    }
    st_tab_print(f, &t);
    st_tab_fini(&t);
}

static void st_text(FILE *f, const struct st_snap *s)
{
    struct st_fx rb = {.next = 0};
    struct st_fx *r = &rb;
    struct st_tab t;

    /* Header. */
    char started[40] = "?";
    time_t secs = (time_t)(s->h->start_wall_ns / 1000000000u);
    struct tm tm;
    if (s->h->start_wall_ns && gmtime_r(&secs, &tm))
        strftime(started, sizeof started, "%Y-%m-%d %H:%M:%S UTC", &tm);
    fprintf(f, "desk %s   deskd pid %d%s   up %s   %s   kill switch %s\n", s->name, (int)s->pid,
            s->pid_alive ? "" : " (not running)", st_dur(r, st_age(s->now, s->h->start_mono_ns)),
            st_run_name(s->run_state), desk_kill_name(s->kill));
    if (s->hb == 0)
        fprintf(f, "router heartbeat never   started %s\n", started);
    else
        fprintf(f, "router heartbeat %s ago%s   started %s\n", st_dur(r, st_age(s->now, s->hb)),
                st_age(s->now, s->hb) > ST_STALE_NS ? " STALE" : "", started);

    /* Connectors: health, then flow. */
    const struct desk_conn_shm *conn = desk_shm_conns(s->hw);
    static const char *const ch[] = {"CONNECTORS", "type", "venue", "health", "for",
                                     "last quote", "quotes"};
    st_tab_init(&t, 0x70u, ch, 7);
    for (uint32_t i = 0; i < s->nconn; i++) {
        const struct desk_conn_health *hl = &s->health[i];
        uint64_t lq = st_ld(&conn[i].last_quote_ns);
        int row = st_tab_row(&t);
        st_tab_set(&t, row, 0, "%s", s->conn_name[i]);
        st_tab_set(&t, row, 1, "%s", s->conn_type[i]);
        st_tab_set(&t, row, 2, "%s", st_venue_name(conn[i].venue_type));
        st_tab_set(&t, row, 3, "%s",
                   s->health_ok[i] ? desk_health_name((unsigned)hl->state) : "?");
        st_tab_set(&t, row, 4, "%s", hl->since_ns ? st_dur(r, st_age(s->now, hl->since_ns)) : "-");
        st_tab_set(&t, row, 5, "%s", lq ? st_dur(r, st_age(s->now, lq)) : "never");
        st_tab_set(&t, row, 6, "%" PRIu64, st_ld(&conn[i].quotes));
        if (row >= 0 && hl->reason[0])
            snprintf(t.note[row], ST_NOTE, "reason: %s", hl->reason);
    }
    fputc('\n', f);
    st_tab_print(f, &t);
    st_tab_fini(&t);
    if (s->nconn) {
        static const char *const fh[] = {"  flow",  "cmds",    "events", "routed",
                                         "acks",    "fills",   "rejects", "backpr",
                                         "cmd ring", "ev ring"};
        st_tab_init(&t, 0x3feu, fh, 10);
        for (uint32_t i = 0; i < s->nconn; i++) {
            int row = st_tab_row(&t);
            st_tab_set(&t, row, 0, "%s", s->conn_name[i]);
            st_tab_set(&t, row, 1, "%" PRIu64, st_ld(&conn[i].cmds));
            st_tab_set(&t, row, 2, "%" PRIu64, st_ld(&conn[i].vevents));
            st_tab_set(&t, row, 3, "%" PRIu64, st_ld(&conn[i].routed));
            st_tab_set(&t, row, 4, "%" PRIu64, st_ld(&conn[i].acks));
            st_tab_set(&t, row, 5, "%" PRIu64, st_ld(&conn[i].fills));
            st_tab_set(&t, row, 6, "%" PRIu64, st_ld(&conn[i].rejects));
            st_tab_set(&t, row, 7, "%" PRIu64, st_ld(&conn[i].backpressure));
            st_tab_set(&t, row, 8, "%" PRIu64, st_ld(&conn[i].cmd_ring_depth));
            st_tab_set(&t, row, 9, "%" PRIu64, st_ld(&conn[i].event_ring_depth));
        }
        st_tab_print(f, &t);
        st_tab_fini(&t);
    }

    /* Quotes. */
    static const char *const qh[] = {"QUOTES", "venue", "bid", "size", "ask", "size", "last",
                                     "age"};
    st_tab_init(&t, 0xfcu, qh, 8);
    for (uint32_t i = 0; i < s->ninst; i++) {
        const desk_quote_t *q = &s->quote[i];
        int row = st_tab_row(&t);
        st_tab_set(&t, row, 0, "%s", s->inst[i].symbol);
        st_tab_set(&t, row, 1, "%s", st_inst_venue(s, i));
        if (!s->have_quote[i]) {
            for (int c = 2; c <= 6; c++)
                st_tab_set(&t, row, c, "-");
            st_tab_set(&t, row, 7, "no quote yet");
            continue;
        }
        st_tab_set(&t, row, 2, "%s", q->bid_px ? st_fx(r, q->bid_px, 0) : "-");
        st_tab_set(&t, row, 3, "%s", q->bid_px ? st_fx(r, q->bid_qty, 0) : "-");
        st_tab_set(&t, row, 4, "%s", q->ask_px ? st_fx(r, q->ask_px, 0) : "-");
        st_tab_set(&t, row, 5, "%s", q->ask_px ? st_fx(r, q->ask_qty, 0) : "-");
        st_tab_set(&t, row, 6, "%s", q->last_px ? st_fx(r, q->last_px, 0) : "-");
        st_tab_set(&t, row, 7, "%s", st_dur(r, st_age(s->now, q->recv_ns)));
    }
    fputc('\n', f);
    st_tab_print(f, &t);
    st_tab_fini(&t);

    /* The UTA. */
    if (!s->have_uta) {
        fprintf(f, "\nACCOUNT (UTA)   no snapshot yet\n");
    } else {
        const struct desk_uta_totals *u = &s->uta.t;
        fprintf(f, "\nACCOUNT (UTA)   updated %s ago\n", st_dur(r, st_age(s->now, u->updated_ns)));
        fprintf(f, "  %-13s %15s   %-13s %15s   %-13s %15s\n", "cash", st_fx(r, u->cash, 2),
                "reserved", st_fx(r, u->reserved, 2), "buying power",
                st_fx(r, u->buying_power, 2));
        fprintf(f, "  %-13s %15s   %-13s %15s   %-13s %15s\n", "NAV", st_fx(r, u->nav, 2),
                "realized PnL", st_fx(r, u->realized_pnl, 2), "unrealized",
                st_fx(r, u->unrealized_pnl, 2));
        fprintf(f, "  %-13s %15s\n", "fees", st_fx(r, u->fees, 2));
        static const char *const vh[] = {"  venue",  "cash",     "reserved",   "buying power",
                                         "equity",   "realized", "unrealized", "fees",
                                         "venue bp"};
        st_tab_init(&t, 0x1feu, vh, 9);
        for (uint32_t i = 0; i < s->nconn; i++) {
            const struct desk_uta_venue *v = &s->uta.venues[i];
            int row = st_tab_row(&t);
            st_tab_set(&t, row, 0, "%s", s->conn_name[i]);
            st_tab_set(&t, row, 1, "%s", st_fx(r, v->cash, 2));
            st_tab_set(&t, row, 2, "%s", st_fx(r, v->reserved, 2));
            st_tab_set(&t, row, 3, "%s", st_fx(r, v->buying_power, 2));
            st_tab_set(&t, row, 4, "%s", st_fx(r, v->equity, 2));
            st_tab_set(&t, row, 5, "%s", st_fx(r, v->realized_pnl, 2));
            st_tab_set(&t, row, 6, "%s", st_fx(r, v->unrealized_pnl, 2));
            st_tab_set(&t, row, 7, "%s", st_fx(r, v->fees, 2));
            st_tab_set(&t, row, 8, "%s", st_fx(r, v->venue_bp, 2));
        }
        st_tab_print(f, &t);
        st_tab_fini(&t);
        static const char *const ph[] = {"  POSITIONS", "venue",    "qty",      "avg px",
                                         "mark",        "unrealized", "realized", "open buy",
                                         "open sell"};
        st_tab_init(&t, 0x1fcu, ph, 9);
        for (uint32_t i = 0; i < s->ninst; i++) {
            const struct desk_uta_pos *p = &s->uta.pos[i];
            if (!p->qty && !p->realized_pnl && !p->open_buy_qty && !p->open_sell_qty)
                continue;
            int row = st_tab_row(&t);
            st_tab_set(&t, row, 0, "%s", s->inst[i].symbol);
            st_tab_set(&t, row, 1, "%s", st_inst_venue(s, i));
            st_tab_set(&t, row, 2, "%s", st_fx(r, p->qty, 0));
            st_tab_set(&t, row, 3, "%s", st_fx(r, p->avg_px, 0));
            st_tab_set(&t, row, 4, "%s", st_fx(r, p->mark_px, 0));
            st_tab_set(&t, row, 5, "%s", st_fx(r, p->unrealized_pnl, 2));
            st_tab_set(&t, row, 6, "%s", st_fx(r, p->realized_pnl, 2));
            st_tab_set(&t, row, 7, "%s", st_fx(r, p->open_buy_qty, 0));
            st_tab_set(&t, row, 8, "%s", st_fx(r, p->open_sell_qty, 0));
        }
        if (t.nrows)
            st_tab_print(f, &t);
        else
            fprintf(f, "  no positions\n");
        st_tab_fini(&t);
    }

    st_text_recon(f, s, r);

    /* Strategies. */
    const struct desk_strat_shm *st = desk_shm_strats(s->hw);
    static const char *const sh[] = {"STRATEGIES", "pid",  "alive", "cmds",  "orders", "fills",
                                     "rejects",    "open", "ord q", "ev q",  "full"};
    st_tab_init(&t, 0x7fau, sh, 11);
    for (uint32_t i = 0; i < s->nstrat; i++) {
        int row = st_tab_row(&t);
        st_tab_set(&t, row, 0, "%s", s->strat_name[i]);
        st_tab_set(&t, row, 1, "%d", (int)atomic_load_explicit(&st[i].pid, memory_order_relaxed));
        st_tab_set(&t, row, 2, "%s",
                   atomic_load_explicit(&st[i].alive, memory_order_relaxed) ? "yes" : "no");
        st_tab_set(&t, row, 3, "%" PRIu64, st_ld(&st[i].cmds));
        st_tab_set(&t, row, 4, "%" PRIu64, st_ld(&st[i].orders));
        st_tab_set(&t, row, 5, "%" PRIu64, st_ld(&st[i].fills));
        st_tab_set(&t, row, 6, "%" PRIu64, st_ld(&st[i].rejects));
        st_tab_set(&t, row, 7, "%" PRIu64, st_ld(&st[i].open_orders));
        st_tab_set(&t, row, 8, "%" PRIu64, st_ld(&st[i].order_ring_depth));
        st_tab_set(&t, row, 9, "%" PRIu64, st_ld(&st[i].event_ring_depth));
        st_tab_set(&t, row, 10, "%" PRIu64, st_ld(&st[i].event_ring_full));
    }
    fputc('\n', f);
    st_tab_print(f, &t);
    st_tab_fini(&t);

    /* Open orders. */
    if (!s->have_orders) {
        fprintf(f, "\nOPEN ORDERS   no snapshot yet\n");
    } else if (s->orders.total == 0 && s->orders.n == 0) {
        fprintf(f, "\nOPEN ORDERS   none\n");
    } else {
        if (s->orders.n < s->orders.total)
            fprintf(f, "\nOPEN ORDERS   showing %" PRIu64 " of %" PRIu64 "\n", s->orders.n,
                    s->orders.total);
        else
            fprintf(f, "\nOPEN ORDERS   %" PRIu64 "\n", s->orders.n);
        static const char *const oh[] = {"  strategy", "clordid", "symbol", "side",  "type",
                                         "status",     "qty",     "price",  "filled"};
        st_tab_init(&t, 0x1c2u, oh, 9);
        for (uint64_t i = 0; i < s->orders.n; i++) {
            const struct desk_open_order *o = &s->orders.o[i];
            int row = st_tab_row(&t);
            st_tab_set(&t, row, 0, "%s", st_strat(s, o->strategy));
            st_tab_set(&t, row, 1, "%" PRIu64, o->cl_ord_id);
            st_tab_set(&t, row, 2, "%s", st_inst_symbol(s, o->instrument));
            st_tab_set(&t, row, 3, "%s", st_side_name(o->side));
            st_tab_set(&t, row, 4, "%s/%s", st_type_short(o->ord_type), st_tif_name(o->tif));
            st_tab_set(&t, row, 5, "%s", desk_ord_status_name(o->status));
            st_tab_set(&t, row, 6, "%s", st_fx(r, o->qty, 0));
            st_tab_set(&t, row, 7, "%s", o->px ? st_fx(r, o->px, 0) : "MKT");
            st_tab_set(&t, row, 8, "%s", st_fx(r, o->cum_qty, 0));
        }
        st_tab_print(f, &t);
        st_tab_fini(&t);
    }

    /* Counters and rejects by reason. */
    const struct desk_stats_shm *x = desk_shm_stats(s->hw);
    struct st_wrap w = {.f = f, .indent = 8};
    fprintf(f, "\n");
    w.col = fprintf(f, "COUNTERS");
    st_wrap_u64(&w, "cmds", st_ld(&x->cmds));
    st_wrap_u64(&w, "orders", st_ld(&x->orders));
    st_wrap_u64(&w, "fills", st_ld(&x->fills));
    st_wrap_u64(&w, "cancels", st_ld(&x->cancels));
    st_wrap_u64(&w, "expired", st_ld(&x->expired));
    st_wrap_u64(&w, "replaced", st_ld(&x->replaced));
    st_wrap_u64(&w, "rejects", st_ld(&x->rejects));
    st_wrap_u64(&w, "invalid events", st_ld(&x->invalid_events));
    st_wrap_u64(&w, "duplicate exec ids", st_ld(&x->duplicate_execs));
    st_wrap_u64(&w, "loop turns", st_ld(&x->loop_turns));
    fprintf(f, "\n");
    w.col = fprintf(f, "REJECTS ");
    int any = 0;
    for (unsigned i = 0; i < DESK_SHM_REJECT_SLOTS; i++) {
        uint64_t n = st_ld(&x->reject_by_reason[i]);
        char nb[24];
        if (n == 0)
            continue;
        st_wrap_u64(&w, st_reject_name(i, nb, sizeof nb), n);
        any = 1;
    }
    fprintf(f, "%s\n", any ? "" : "  none");

    /* Latency. */
    static const char *const lh[] = {"LATENCY", "count", "p50", "p99", "p99.9", "max", "mean"};
    st_tab_init(&t, 0x7eu, lh, 7);
    for (unsigned i = 0; i < DESK_STAGE__COUNT; i++)
        st_text_lat_row(&t, r, st_stage_names[i], &s->stage[i]);
    for (uint32_t i = 0; i < s->nconn; i++) {
        char nm[DESK_NAME_MAX + 16];
        snprintf(nm, sizeof nm, "dispatch %s", s->conn_name[i]);
        st_text_lat_row(&t, r, nm, &s->dispatch[i]);
    }
    fputc('\n', f);
    st_tab_print(f, &t);
    st_tab_fini(&t);
}

/* ---- JSON ----------------------------------------------------------------- */

/* A tiny JSON writer: it tracks only whether a comma is due at each depth. */
struct st_json {
    FILE *f;            /* output */
    int depth;          /* open containers */
    char first[16];     /* 1 if nothing was written yet at that depth */
    struct st_fx r;     /* fixed-point buffers */
};

static void st_jstr_raw(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* Comma if due, then "key": when inside an object (key != NULL). */
static void st_jkey(struct st_json *j, const char *key)
{
    if (!j->first[j->depth])
        fputc(',', j->f);
    j->first[j->depth] = 0;
    if (key) {
        st_jstr_raw(j->f, key);
        fputc(':', j->f);
    }
}

static void st_jopen(struct st_json *j, const char *key, char c)
{
    st_jkey(j, key);
    fputc(c, j->f);
    j->first[++j->depth] = 1;
}

static void st_jclose(struct st_json *j, char c)
{
    fputc(c, j->f);
    j->depth--;
}

static void st_jstr(struct st_json *j, const char *key, const char *v)
{
    st_jkey(j, key);
    st_jstr_raw(j->f, v);
}

static void st_ju64(struct st_json *j, const char *key, uint64_t v)
{
    st_jkey(j, key);
    fprintf(j->f, "%" PRIu64, v);
}

static void st_ji64(struct st_json *j, const char *key, int64_t v)
{
    st_jkey(j, key);
    fprintf(j->f, "%" PRId64, v);
}

/* A fixed-point value as a string holding the exact decimal. */
static void st_jfx(struct st_json *j, const char *key, int64_t v)
{
    st_jstr(j, key, st_fx(&j->r, v, 0));
}

static void st_jbool(struct st_json *j, const char *key, int v)
{
    st_jkey(j, key);
    fputs(v ? "true" : "false", j->f);
}

static void st_jnull(struct st_json *j, const char *key)
{
    st_jkey(j, key);
    fputs("null", j->f);
}

static void st_jlat(struct st_json *j, const char *key, const struct st_lat *l)
{
    st_jopen(j, key, '{');
    st_ju64(j, "count", l->count);
    st_ju64(j, "p50_ns", l->p50);
    st_ju64(j, "p99_ns", l->p99);
    st_ju64(j, "p999_ns", l->p999);
    st_ju64(j, "max_ns", l->max);
    st_ju64(j, "mean_ns", l->mean);
    st_jclose(j, '}');
}

static void st_json(FILE *f, const struct st_snap *s)
{
    struct st_json jb = {.f = f, .first = {1}};
    struct st_json *j = &jb;

    st_jopen(j, NULL, '{');
    st_jstr(j, "desk", s->name);
    st_ji64(j, "pid", s->pid);
    st_jbool(j, "deskd_running", s->pid_alive);
    st_ju64(j, "start_wall_ns", s->h->start_wall_ns);
    st_ju64(j, "uptime_ns", st_age(s->now, s->h->start_mono_ns));
    st_jstr(j, "run_state", st_run_name(s->run_state));
    st_jstr(j, "kill", desk_kill_name(s->kill));
    st_ju64(j, "kill_seq", s->kill_seq);
    if (s->hb)
        st_ju64(j, "heartbeat_age_ns", st_age(s->now, s->hb));
    else
        st_jnull(j, "heartbeat_age_ns");
    st_jbool(j, "heartbeat_stale", s->hb == 0 || st_age(s->now, s->hb) > ST_STALE_NS);

    const struct desk_conn_shm *conn = desk_shm_conns(s->hw);
    st_jopen(j, "connectors", '[');
    for (uint32_t i = 0; i < s->nconn; i++) {
        const struct desk_conn_health *hl = &s->health[i];
        uint64_t lq = st_ld(&conn[i].last_quote_ns);
        st_jopen(j, NULL, '{');
        st_ju64(j, "index", i);
        st_jstr(j, "name", s->conn_name[i]);
        st_jstr(j, "type", s->conn_type[i]);
        st_jstr(j, "venue_type", st_venue_name(conn[i].venue_type));
        st_jstr(j, "health", s->health_ok[i] ? desk_health_name((unsigned)hl->state) : "?");
        st_jstr(j, "health_reason", hl->reason);
        if (hl->since_ns)
            st_ju64(j, "health_age_ns", st_age(s->now, hl->since_ns));
        else
            st_jnull(j, "health_age_ns");
        if (lq)
            st_ju64(j, "last_quote_age_ns", st_age(s->now, lq));
        else
            st_jnull(j, "last_quote_age_ns");
        st_ju64(j, "quotes", st_ld(&conn[i].quotes));
        st_ju64(j, "cmds", st_ld(&conn[i].cmds));
        st_ju64(j, "events", st_ld(&conn[i].vevents));
        st_ju64(j, "backpressure", st_ld(&conn[i].backpressure));
        st_ju64(j, "routed", st_ld(&conn[i].routed));
        st_ju64(j, "acks", st_ld(&conn[i].acks));
        st_ju64(j, "fills", st_ld(&conn[i].fills));
        st_ju64(j, "rejects", st_ld(&conn[i].rejects));
        st_ju64(j, "cmd_ring_depth", st_ld(&conn[i].cmd_ring_depth));
        st_ju64(j, "event_ring_depth", st_ld(&conn[i].event_ring_depth));
        st_jlat(j, "dispatch", &s->dispatch[i]);
        st_jclose(j, '}');
    }
    st_jclose(j, ']');

    st_jopen(j, "instruments", '[');
    for (uint32_t i = 0; i < s->ninst; i++) {
        const desk_quote_t *q = &s->quote[i];
        st_jopen(j, NULL, '{');
        st_ju64(j, "id", i);
        st_jstr(j, "symbol", s->inst[i].symbol);
        st_jstr(j, "venue", st_inst_venue(s, i));
        st_jbool(j, "tradable", s->inst[i].tradable);
        if (s->have_quote[i]) {
            st_jopen(j, "quote", '{');
            st_jfx(j, "bid_px", q->bid_px);
            st_jfx(j, "bid_qty", q->bid_qty);
            st_jfx(j, "ask_px", q->ask_px);
            st_jfx(j, "ask_qty", q->ask_qty);
            st_jfx(j, "last_px", q->last_px);
            st_jfx(j, "last_qty", q->last_qty);
            st_ju64(j, "age_ns", st_age(s->now, q->recv_ns));
            st_jclose(j, '}');
        } else {
            st_jnull(j, "quote");
        }
        st_jclose(j, '}');
    }
    st_jclose(j, ']');

    if (!s->have_uta) {
        st_jnull(j, "uta");
    } else {
        const struct desk_uta_totals *t = &s->uta.t;
        st_jopen(j, "uta", '{');
        st_jfx(j, "cash", t->cash);
        st_jfx(j, "reserved", t->reserved);
        st_jfx(j, "buying_power", t->buying_power);
        st_jfx(j, "nav", t->nav);
        st_jfx(j, "realized_pnl", t->realized_pnl);
        st_jfx(j, "unrealized_pnl", t->unrealized_pnl);
        st_jfx(j, "fees", t->fees);
        st_ju64(j, "age_ns", st_age(s->now, t->updated_ns));
        st_jopen(j, "venues", '[');
        for (uint32_t i = 0; i < s->nconn; i++) {
            const struct desk_uta_venue *v = &s->uta.venues[i];
            st_jopen(j, NULL, '{');
            st_jstr(j, "name", s->conn_name[i]);
            st_jfx(j, "cash", v->cash);
            st_jfx(j, "reserved", v->reserved);
            st_jfx(j, "buying_power", v->buying_power);
            st_jfx(j, "equity", v->equity);
            st_jfx(j, "realized_pnl", v->realized_pnl);
            st_jfx(j, "unrealized_pnl", v->unrealized_pnl);
            st_jfx(j, "fees", v->fees);
            st_jfx(j, "venue_buying_power", v->venue_bp);
            st_jclose(j, '}');
        }
        st_jclose(j, ']');
        st_jopen(j, "positions", '[');
        for (uint32_t i = 0; i < s->ninst; i++) {
            const struct desk_uta_pos *p = &s->uta.pos[i];
            st_jopen(j, NULL, '{');
            st_ju64(j, "id", i);
            st_jstr(j, "symbol", s->inst[i].symbol);
            st_jstr(j, "venue", st_inst_venue(s, i));
            st_jfx(j, "qty", p->qty);
            st_jfx(j, "avg_px", p->avg_px);
            st_jfx(j, "mark_px", p->mark_px);
            st_jfx(j, "unrealized_pnl", p->unrealized_pnl);
            st_jfx(j, "realized_pnl", p->realized_pnl);
            st_jfx(j, "open_buy_qty", p->open_buy_qty);
            st_jfx(j, "open_sell_qty", p->open_sell_qty);
            st_jclose(j, '}');
        }
        st_jclose(j, ']');
        st_jclose(j, '}');
    }

    const struct desk_strat_shm *st = desk_shm_strats(s->hw);
    st_jopen(j, "strategies", '[');
    for (uint32_t i = 0; i < s->nstrat; i++) {
        st_jopen(j, NULL, '{');
        st_ju64(j, "index", i);
        st_jstr(j, "name", s->strat_name[i]);
        st_ji64(j, "pid", atomic_load_explicit(&st[i].pid, memory_order_relaxed));
        st_jbool(j, "alive", atomic_load_explicit(&st[i].alive, memory_order_relaxed) != 0);
        st_ju64(j, "cmds", st_ld(&st[i].cmds));
        st_ju64(j, "orders", st_ld(&st[i].orders));
        st_ju64(j, "fills", st_ld(&st[i].fills));
        st_ju64(j, "rejects", st_ld(&st[i].rejects));
        st_ju64(j, "open_orders", st_ld(&st[i].open_orders));
        st_ju64(j, "order_ring_depth", st_ld(&st[i].order_ring_depth));
        st_ju64(j, "event_ring_depth", st_ld(&st[i].event_ring_depth));
        st_ju64(j, "event_ring_full", st_ld(&st[i].event_ring_full));
        st_jclose(j, '}');
    }
    st_jclose(j, ']');

    if (!s->have_orders) {
        st_jnull(j, "open_orders");
    } else {
        st_jopen(j, "open_orders", '{');
        st_ju64(j, "total", s->orders.total);
        st_ju64(j, "shown", s->orders.n);
        st_jopen(j, "orders", '[');
        for (uint64_t i = 0; i < s->orders.n; i++) {
            const struct desk_open_order *o = &s->orders.o[i];
            st_jopen(j, NULL, '{');
            st_ju64(j, "order_id", o->order_id);
            st_ju64(j, "cl_ord_id", o->cl_ord_id);
            st_jstr(j, "strategy", st_strat(s, o->strategy));
            st_jstr(j, "symbol", st_inst_symbol(s, o->instrument));
            st_jstr(j, "venue", st_inst_venue(s, o->instrument));
            st_jstr(j, "side", st_side_name(o->side));
            st_jstr(j, "ord_type", st_type_name(o->ord_type));
            st_jstr(j, "tif", st_tif_name(o->tif));
            st_jstr(j, "status", desk_ord_status_name(o->status));
            st_jfx(j, "qty", o->qty);
            st_jfx(j, "px", o->px);
            st_jfx(j, "cum_qty", o->cum_qty);
            st_jfx(j, "leaves_qty", o->leaves_qty);
            st_jclose(j, '}');
        }
        st_jclose(j, ']');
        st_jclose(j, '}');
    }

    if (!s->have_recon) {
        st_jnull(j, "reconciliation");
    } else {
        st_jopen(j, "reconciliation", '{');
        st_ju64(j, "open_breaks", s->recon.nbreaks);
        st_ju64(j, "dropped", s->recon.dropped);
        st_jopen(j, "connectors", '[');
        for (uint32_t i = 0; i < s->nconn; i++) {
            const struct desk_recon_row *w = &s->recon.conn[i];
            st_jopen(j, NULL, '{');
            st_jstr(j, "name", s->conn_name[i]);
            st_ju64(j, "reports", w->reports);
            if (w->reports)
                st_ju64(j, "age_ns", st_age(s->now, w->last_ns));
            else
                st_jnull(j, "age_ns");
            st_jbool(j, "positions", (w->flags & DESK_REPORT_POSITIONS) != 0);
            st_jbool(j, "balance", (w->flags & DESK_REPORT_BALANCE) != 0);
            st_jbool(j, "orders", (w->flags & DESK_REPORT_ORDERS) != 0);
            if (w->flags & DESK_REPORT_BALANCE) {
                st_jfx(j, "venue_cash", w->venue_cash);
                st_jfx(j, "venue_buying_power", w->venue_bp);
            }
            if (w->flags & DESK_REPORT_ORDERS)
                st_ju64(j, "venue_only_orders", w->venue_orders);
            st_ju64(j, "breaks", w->breaks);
            st_jclose(j, '}');
        }
        st_jclose(j, ']');
        st_jopen(j, "breaks", '[');
        for (uint64_t k = 0; k < s->recon.nbreaks; k++) {
            const struct desk_break *b = &s->recon.open[k];
            st_jopen(j, NULL, '{');
            st_jstr(j, "what", desk_break_kind_name(b->kind));
            st_jstr(j, "connector", b->connector < s->nconn ? s->conn_name[b->connector] : "?");
            if (b->kind == DESK_BREAK_POSITION)
                st_jstr(j, "symbol", st_inst_symbol(s, b->instrument));
            if (b->kind == DESK_BREAK_ORDERS) {
                st_ju64(j, "venue_only_orders", (uint64_t)b->venue);
            } else {
                st_jfx(j, "desk", b->desk);
                st_jfx(j, "venue", b->venue);
            }
            st_ju64(j, "age_ns", st_age(s->now, b->since_ns));
            st_jclose(j, '}');
        }
        st_jclose(j, ']');
        st_jclose(j, '}');
    }

    const struct desk_stats_shm *x = desk_shm_stats(s->hw);
    st_jopen(j, "counters", '{');
    st_ju64(j, "cmds", st_ld(&x->cmds));
    st_ju64(j, "orders", st_ld(&x->orders));
    st_ju64(j, "fills", st_ld(&x->fills));
    st_ju64(j, "cancels", st_ld(&x->cancels));
    st_ju64(j, "expired", st_ld(&x->expired));
    st_ju64(j, "replaced", st_ld(&x->replaced));
    st_ju64(j, "rejects", st_ld(&x->rejects));
    st_ju64(j, "invalid_events", st_ld(&x->invalid_events));
    st_ju64(j, "duplicate_execs", st_ld(&x->duplicate_execs));
    st_ju64(j, "loop_turns", st_ld(&x->loop_turns));
    st_jopen(j, "rejects_by_reason", '{');
    for (unsigned i = 0; i < DESK_SHM_REJECT_SLOTS; i++) {
        uint64_t n = st_ld(&x->reject_by_reason[i]);
        char nb[24];
        if (n)
            st_ju64(j, st_reject_name(i, nb, sizeof nb), n);
    }
    st_jclose(j, '}');
    st_jclose(j, '}');

    st_jopen(j, "latency", '{');
    for (unsigned i = 0; i < DESK_STAGE__COUNT; i++)
        st_jlat(j, st_stage_names[i], &s->stage[i]);
    st_jclose(j, '}');
    st_jclose(j, '}');
    fputc('\n', f);
}

/* ---- the renderers -------------------------------------------------------- */

static int st_render(FILE *out, const struct desk_main_hdr *h, uint64_t now_ns, int json)
{
    struct st_snap *s = malloc(sizeof *s);
    int rc;

    if (s == NULL)
        return DESK_ERR(-ENOMEM, "out of memory for the status snapshot");
    rc = st_snap_take(s, h, now_ns);
    if (rc == 0) {
        if (json)
            st_json(out, s);
        else
            st_text(out, s);
        if (ferror(out))
            rc = DESK_ERR(-EIO, "write error");
    }
    free(s);
    return rc;
}

/* See cli.h.  Any thread. */
int desk_status_render(FILE *out, const struct desk_main_hdr *h, uint64_t now_ns)
{
    return st_render(out, h, now_ns, 0);
}

/* See cli.h.  Any thread. */
int desk_status_render_json(FILE *out, const struct desk_main_hdr *h, uint64_t now_ns)
{
    return st_render(out, h, now_ns, 1);
}

/* ---- the subcommands ------------------------------------------------------ */

/* Print why attaching to `desk` failed (rc from desk_shm_main_attach). */
static void st_attach_error(const char *desk, int rc)
{
    if (rc == -ENOENT)
        fprintf(stderr, "desk: no desk '%s' (is deskd running?)\n", desk);
    else if (rc == -EACCES || rc == -EPERM)
        fprintf(stderr, "desk: desk '%s': permission denied (%s)\n", desk, desk_errmsg());
    else
        fprintf(stderr, "desk: desk '%s': %s (%s)\n", desk, strerror(-rc), desk_errmsg());
}

static const char *st_default_desk(void)
{
    const char *e = getenv("DESK_NAME");

    return e && *e ? e : "demo";
}

static void st_status_usage(FILE *f)
{
    fprintf(f, "usage: desk status [-n DESK] [--json] [--watch [--interval MS]]\n"
               "  -n, --name DESK     desk name (default $DESK_NAME, else demo)\n"
               "  -j, --json          one JSON object (one line; with --watch, one per line)\n"
               "  -w, --watch         redraw until Ctrl-C\n"
               "  -i, --interval MS   --watch period in milliseconds (default 1000)\n");
}

/* Render once from a fresh or kept mapping.  Returns 0 or 2. */
static int st_status_once(FILE *out, const struct desk_main_hdr *h, int json, int watch)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    int rc;

    if (m == NULL) {
        fprintf(stderr, "desk: out of memory\n");
        return DESK_CLI_ERROR;
    }
    /* Render into memory first so --watch replaces the screen in one write. */
    rc = json ? desk_status_render_json(m, h, desk_now_ns())
              : desk_status_render(m, h, desk_now_ns());
    fclose(m);
    if (rc < 0) {
        fprintf(stderr, "desk: cannot show desk status: %s\n", desk_errmsg());
        free(buf);
        return DESK_CLI_ERROR;
    }
    if (watch && !json)
        fputs("\033[H\033[2J", out); /* cursor home, clear screen */
    fwrite(buf, 1, len, out);
    fflush(out);
    free(buf);
    return ferror(out) ? DESK_CLI_ERROR : DESK_CLI_OK;
}

/* See cli.h.  Main thread. */
int desk_cli_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},     {"json", no_argument, NULL, 'j'},
        {"watch", no_argument, NULL, 'w'},          {"interval", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    const char *desk = st_default_desk();
    int json = 0, watch = 0, c;
    unsigned interval = 1000;

    optind = 0; /* glibc: full reinitialisation, argv[0] is the subcommand */
    while ((c = getopt_long(argc, argv, "n:jwi:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': desk = optarg; break;
        case 'j': json = 1; break;
        case 'w': watch = 1; break;
        case 'i': {
            char *end;
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 50 || v > 3600000) {
                fprintf(stderr, "desk status: --interval wants 50..3600000 ms, not '%s'\n",
                        optarg);
                return DESK_CLI_ERROR;
            }
            interval = (unsigned)v;
            break;
        }
        case 'h': st_status_usage(stdout); return DESK_CLI_OK;
        default: st_status_usage(stderr); return DESK_CLI_ERROR;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "desk status: unexpected argument '%s'\n", argv[optind]);
        st_status_usage(stderr);
        return DESK_CLI_ERROR;
    }

    const struct desk_main_hdr *h = NULL;
    size_t len = 0;
    int rc = desk_shm_main_attach(desk, &h, &len);
    if (rc < 0) {
        st_attach_error(desk, rc);
        return DESK_CLI_ERROR;
    }
    if (!watch) {
        rc = st_status_once(stdout, h, json, 0);
        desk_shm_unmap(h, len);
        return rc;
    }

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = st_on_signal; /* no SA_RESTART: the nap ends at once */
    sigemptyset(&sa.sa_mask);
    st_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rc = DESK_CLI_OK;
    while (!st_stop) {
        /* A deskd that stopped or died leaves its segment behind (or a new
         * deskd made a new one): map again, and wait while there is none. */
        if (h && (atomic_load_explicit(&h->run_state, memory_order_acquire) == DESK_RUN_STOPPED ||
                  !st_pid_alive(h->router_pid))) {
            desk_shm_unmap(h, len);
            h = NULL;
        }
        if (h == NULL && desk_shm_main_attach(desk, &h, &len) < 0)
            h = NULL;
        if (h) {
            rc = st_status_once(stdout, h, json, 1);
            if (rc != DESK_CLI_OK)
                break;
        } else if (json) {
            printf("{\"desk\":");
            st_jstr_raw(stdout, desk);
            printf(",\"error\":\"no desk (is deskd running?)\"}\n");
            fflush(stdout);
        } else {
            printf("\033[H\033[2Jno desk '%s' (is deskd running?): waiting\n", desk);
            fflush(stdout);
        }
        st_sleep_ms(interval);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (h)
        desk_shm_unmap(h, len);
    return rc;
}

/* See cli.h.  Main thread. */
int desk_cli_kill(int argc, char **argv, desk_kill_t want)
{
    static const struct option opts[] = {{"name", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cmd = argc > 0 && argv[0] ? argv[0] : "kill";
    const char *desk = st_default_desk();
    int c;

    optind = 0;
    while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': desk = optarg; break;
        case 'h':
            printf("usage: desk %s [-n DESK]\n", cmd);
            return DESK_CLI_OK;
        default:
            fprintf(stderr, "usage: desk %s [-n DESK]\n", cmd);
            return DESK_CLI_ERROR;
        }
    }
    if (optind < argc || (unsigned)want > DESK_KILL_HALTED) {
        fprintf(stderr, "usage: desk %s [-n DESK]\n", cmd);
        return DESK_CLI_ERROR;
    }

    const struct desk_main_hdr *h = NULL;
    size_t len = 0;
    int rc = desk_shm_main_attach(desk, &h, &len);
    if (rc < 0) {
        st_attach_error(desk, rc);
        return DESK_CLI_ERROR;
    }
    int32_t pid = h->router_pid;
    uint32_t seq0 = atomic_load_explicit(&h->kill_seq, memory_order_acquire);
    uint32_t run = atomic_load_explicit(&h->run_state, memory_order_acquire);
    rc = DESK_CLI_ERROR;
    /* Only a RUNNING deskd is known to handle the signal (a STARTING one may
     * not have blocked it yet, and its default action would kill deskd). */
    if (pid <= 0 || run != DESK_RUN_RUNNING) {
        fprintf(stderr, "desk: desk '%s' is not running (deskd pid %d is %s)%s\n", desk, (int)pid,
                st_run_name(run), run == DESK_RUN_STARTING ? ": try again in a moment" : "");
        goto out;
    }
    if (sigqueue((pid_t)pid, DESK_KILL_SIGNAL, (union sigval){.sival_int = (int)want}) < 0) {
        if (errno == ESRCH)
            fprintf(stderr, "desk: desk '%s': deskd (pid %d) is not running\n", desk, (int)pid);
        else if (errno == EPERM)
            fprintf(stderr, "desk: desk '%s': permission denied signalling deskd (pid %d): "
                            "run as deskd's user or root\n", desk, (int)pid);
        else
            fprintf(stderr, "desk: desk '%s': sigqueue(%d): %s\n", desk, (int)pid,
                    strerror(errno));
        goto out;
    }
    /* deskd's control thread stores kill (release) after applying it. */
    uint64_t deadline = desk_now_ns() + ST_KILL_WAIT_NS;
    for (;;) {
        /* Acquire pairs with the control thread's release store of kill. */
        uint32_t k = atomic_load_explicit(&h->kill, memory_order_acquire);
        if (k == (uint32_t)want) {
            printf("desk %s: %s\n", desk, desk_kill_name(k));
            rc = DESK_CLI_OK;
            break;
        }
        if (desk_now_ns() >= deadline) {
            uint32_t seq = atomic_load_explicit(&h->kill_seq, memory_order_acquire);
            fprintf(stderr, "desk: desk '%s': deskd (pid %d) did not confirm %s within 3 s "
                            "(kill switch is %s%s)\n", desk, (int)pid, desk_kill_name(want),
                    desk_kill_name(k), seq != seq0 ? ", changed meanwhile" : "");
            break;
        }
        st_sleep_ms(5);
    }
out:
    desk_shm_unmap(h, len);
    return rc;
}
