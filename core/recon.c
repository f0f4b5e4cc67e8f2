/* recon.c - reconciliation of venue account reports with the UTA; see recon.h. */
#include "recon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "desk_compiler.h"
#include "fixed.h"
#include "log.h"

enum {
    HAVE_CASH = 1,   /* cand_cash holds a breaking difference */
    HAVE_BP = 2,     /* the last report's buying power was short */
    HAVE_ORDERS = 4, /* the last report had venue-only orders */
};

DESK_COLD int desk_recon_init(desk_recon_t *rc, struct desk_recon_shm *shm, int64_t cash_tolerance,
                              uint32_t bp_tolerance_bps)
{
    memset(rc, 0, sizeof *rc);
    rc->d = calloc(1, sizeof *rc->d);
    if (rc->d == NULL)
        return -ENOMEM;
    rc->shm = shm;
    rc->cash_tolerance = cash_tolerance < 0 ? 0 : cash_tolerance;
    rc->bp_tolerance_bps = bp_tolerance_bps;
    rc->dirty = 1;
    return 0;
}

DESK_COLD void desk_recon_fini(desk_recon_t *rc)
{
    free(rc->d);
    rc->d = NULL;
}

const char *desk_break_kind_name(unsigned kind)
{
    switch (kind) {
    case DESK_BREAK_POSITION:
        return "position";
    case DESK_BREAK_CASH:
        return "cash";
    case DESK_BREAK_BUYING_POWER:
        return "buying_power";
    case DESK_BREAK_ORDERS:
        return "orders";
    default:
        return "?";
    }
}

static int64_t abs64(int64_t v)
{
    return v == INT64_MIN ? INT64_MAX : v < 0 ? -v : v;
}

static int find_break(const struct desk_recon_data *d, uint8_t kind, uint16_t c, uint32_t instr)
{
    for (uint32_t k = 0; k < d->nbreaks; k++)
        if (d->open[k].kind == kind && d->open[k].connector == c && d->open[k].instrument == instr)
            return (int)k;
    return -1;
}

/* Collects what one comparison found. */
struct found {
    desk_recon_diff_t *out;
    uint32_t cap, n;
};

/* Record a transition: the log ring, the caller's list. */
static void transition(desk_recon_t *rc, struct found *f, uint8_t kind, uint8_t open, uint16_t c,
                       uint32_t instr, int64_t desk, int64_t venue)
{
    struct desk_recon_data *d = rc->d;
    struct desk_break_event *e = &d->log[d->tseq % DESK_SHM_BREAK_LOG];

    d->tseq++;
    *e = (struct desk_break_event){.seq = d->tseq, .kind = kind, .open = open, .connector = c,
                                   .instrument = instr, .desk = desk, .venue = venue};
    if (f->n < f->cap)
        f->out[f->n] = (desk_recon_diff_t){.kind = kind, .open = open, .connector = c,
                                           .instrument = instr, .desk = desk, .venue = venue};
    f->n++;
    rc->dirty = 1;
}

/*
 * One figure's verdict.  `bad`: this report differs; `confirmed`: the
 * previous report differed the same way; `changed`: an open break's
 * difference moved (for a new log line).  Opens, updates or clears the
 * break (kind, c, instr) accordingly.
 */
static void verdict(desk_recon_t *rc, struct found *f, uint8_t kind, uint16_t c, uint32_t instr,
                    int64_t desk, int64_t venue, int bad, int confirmed, uint64_t now)
{
    struct desk_recon_data *d = rc->d;
    int k = find_break(d, kind, c, instr);

    if (!bad) {
        if (k < 0)
            return;
        transition(rc, f, kind, 0, c, instr, desk, venue);
        d->open[k] = d->open[d->nbreaks - 1];
        d->nbreaks--;
        return;
    }
    if (!confirmed)
        return; /* one report is not enough: a fill may still be on the wire */
    if (k < 0) {
        transition(rc, f, kind, 1, c, instr, desk, venue);
        if (d->nbreaks == DESK_SHM_BREAKS) {
            d->dropped++; /* journaled and logged; the table is full */
            return;
        }
        d->open[d->nbreaks++] = (struct desk_break){
            .kind = kind, .connector = c, .instrument = instr, .desk = desk, .venue = venue,
            .since_ns = now};
        return;
    }
    struct desk_break *b = &d->open[k];
    int64_t was = desk_sat_sub(b->venue, b->desk), is = desk_sat_sub(venue, desk);
    int64_t tol = kind == DESK_BREAK_POSITION || kind == DESK_BREAK_ORDERS ? 0 : rc->cash_tolerance;
    int moved = kind != DESK_BREAK_BUYING_POWER && abs64(desk_sat_sub(was, is)) > tol;
    if (b->desk != desk || b->venue != venue)
        rc->dirty = 1;
    b->desk = desk;
    b->venue = venue;
    if (moved)
        transition(rc, f, kind, 1, c, instr, desk, venue);
}

uint32_t desk_recon_compare(desk_recon_t *rc, uint32_t c, const struct desk_recon_box *box,
                            const desk_uta_t *uta, const desk_instrument_t *instr,
                            uint32_t ninstr, uint64_t now_ns, desk_recon_diff_t *out,
                            uint32_t cap)
{
    struct desk_recon_conn *rcc = &rc->conn[c];
    struct desk_recon_row *row = &rc->d->conn[c];
    struct found f = {.out = out, .cap = cap, .n = 0};
    uint16_t cx = (uint16_t)c;

    if (box->flags & DESK_REPORT_POSITIONS) {
        for (uint32_t i = 0; i < ninstr && i < DESK_SHM_MAX_INSTRUMENTS; i++) {
            if (instr[i].connector != c)
                continue;
            int64_t venue = 0, desk = uta->pos[i].qty, diff;
            for (uint32_t k = 0; k < box->npos; k++)
                if (box->pos[k].instrument == i)
                    venue = box->pos[k].qty;
            if (__builtin_sub_overflow(venue, desk, &diff))
                diff = INT64_MAX;
            int confirmed = rc->have_pos[i] && rc->cand_pos[i] == diff;
            rc->have_pos[i] = diff != 0;
            rc->cand_pos[i] = diff;
            verdict(rc, &f, DESK_BREAK_POSITION, cx, i, desk, venue, diff != 0, confirmed, now_ns);
        }
    }
    if (box->flags & DESK_REPORT_BALANCE) {
        const desk_uta_venue_state_t *v = &uta->venue[c];
        int64_t diff, tol = rc->cash_tolerance;
        if (__builtin_sub_overflow(box->balance.cash, v->cash, &diff))
            diff = INT64_MAX;
        int bad = abs64(diff) > tol;
        int confirmed = (rcc->have & HAVE_CASH) && abs64(desk_sat_sub(rcc->cand_cash, diff)) <= tol;
        rcc->have = (uint8_t)(bad ? rcc->have | HAVE_CASH : rcc->have & ~HAVE_CASH);
        rcc->cand_cash = diff;
        verdict(rc, &f, DESK_BREAK_CASH, cx, UINT32_MAX, v->cash, box->balance.cash, bad,
                confirmed, now_ns);

        /* Buying power: only the dangerous side (the desk's above the
         * venue's), with room for a venue that reserves a little more for
         * open buys (their fees). */
        int64_t desk_bp = desk_sat_sub(v->cash, v->reserved), room = 0, excess;
        (void)desk_fixed_muldiv(v->reserved > 0 ? v->reserved : 0, rc->bp_tolerance_bps, 10000,
                                &room);
        if (__builtin_sub_overflow(desk_bp, box->balance.buying_power, &excess))
            excess = INT64_MAX;
        bad = excess > desk_sat_add(tol, room);
        confirmed = (rcc->have & HAVE_BP) != 0;
        rcc->have = (uint8_t)(bad ? rcc->have | HAVE_BP : rcc->have & ~HAVE_BP);
        verdict(rc, &f, DESK_BREAK_BUYING_POWER, cx, UINT32_MAX, desk_bp,
                box->balance.buying_power, bad, confirmed, now_ns);
        row->venue_cash = box->balance.cash;
        row->venue_bp = box->balance.buying_power;
    }
    if (box->flags & DESK_REPORT_ORDERS) {
        uint32_t n = box->venue_only_orders;
        int confirmed = (rcc->have & HAVE_ORDERS) && rcc->cand_orders == n;
        rcc->have = (uint8_t)(n ? rcc->have | HAVE_ORDERS : rcc->have & ~HAVE_ORDERS);
        rcc->cand_orders = n;
        verdict(rc, &f, DESK_BREAK_ORDERS, cx, UINT32_MAX, 0, (int64_t)n, n > 0, confirmed, now_ns);
        row->venue_orders = n;
    }
    rcc->reports++;
    row->reports = rcc->reports;
    row->last_ns = now_ns;
    row->flags = box->flags;
    uint32_t nb = 0;
    for (uint32_t k = 0; k < rc->d->nbreaks; k++)
        nb += rc->d->open[k].connector == c;
    row->breaks = nb;
    rc->dirty = 1;
    return f.n;
}

void desk_recon_publish(desk_recon_t *rc)
{
    if (!rc->dirty || rc->shm == NULL)
        return;
    desk_seqlock_write(&rc->shm->lock, &rc->shm->d, rc->d, sizeof *rc->d);
    rc->dirty = 0;
}

DESK_COLD void desk_recon_log(struct desk_main_hdr *m, uint64_t *last)
{
    static struct desk_recon_data snap; /* control thread only */
    struct desk_recon_shm *rs = desk_shm_recon(m);
    const desk_instrument_t *instr = desk_shm_instruments(m);
    struct desk_conn_shm *conns = desk_shm_conns(m);
    char dv[32], vv[32];

    desk_seqlock_read(&rs->lock, &snap, &rs->d, sizeof snap);
    if (snap.tseq <= *last)
        return;
    uint64_t from = *last + 1;
    if (snap.tseq - *last > DESK_SHM_BREAK_LOG) {
        from = snap.tseq - DESK_SHM_BREAK_LOG + 1;
        desk_log("reconcile: %llu break transition(s) not logged (too many at once); "
                 "desk journal has them all",
                 (unsigned long long)(from - *last - 1));
    }
    for (uint64_t q = from; q <= snap.tseq; q++) {
        const struct desk_break_event *e = &snap.log[(q - 1) % DESK_SHM_BREAK_LOG];
        const char *cn = e->connector < m->nconnectors ? conns[e->connector].name : "?";
        if (e->kind == DESK_BREAK_ORDERS) {
            desk_log("reconcile: %s: connector %s: orders: %lld open order(s) at the venue "
                     "that no desk order maps to",
                     e->open ? "BREAK" : "cleared", cn, (long long)e->venue);
            continue;
        }
        desk_fixed_format(e->desk, 2, dv, sizeof dv);
        desk_fixed_format(e->venue, 2, vv, sizeof vv);
        if (e->kind == DESK_BREAK_POSITION)
            desk_log("reconcile: %s: connector %s: position %s: desk %s, venue %s",
                     e->open ? "BREAK" : "cleared", cn,
                     e->instrument < m->ninstruments ? instr[e->instrument].symbol : "?", dv, vv);
        else
            desk_log("reconcile: %s: connector %s: %s: desk %s, venue %s",
                     e->open ? "BREAK" : "cleared", cn, desk_break_kind_name(e->kind), dv, vv);
    }
    *last = snap.tseq;
}
