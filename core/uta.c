/* uta.c - the Unified Trading Account; see uta.h. */
#include "uta.h"

#include <errno.h>
#include <string.h>

#include "fixed.h"

void desk_uta_init(desk_uta_t *u, uint32_t nvenues, uint32_t ninstruments)
{
    memset(u, 0, sizeof *u);
    u->nvenues = nvenues;
    u->ninstruments = ninstruments;
}

int desk_uta_fill(desk_uta_t *u, uint32_t instrument, uint8_t side, int64_t px, int64_t qty,
                  int64_t fee)
{
    desk_uta_pos_state_t *p = &u->pos[instrument];
    desk_uta_venue_state_t *v = &u->venue[p->venue];
    int64_t notional, signed_qty = side == DESK_BUY ? qty : -qty;
    int64_t new_qty, new_avg = p->avg_px, realized = 0;

    if (desk_fixed_mul(px, qty, &notional) < 0 || __builtin_add_overflow(p->qty, signed_qty, &new_qty))
        return -ERANGE;
    if (p->qty == 0 || (p->qty > 0) == (signed_qty > 0)) {
        /* Opening or adding: the average is the quantity-weighted price. */
        __int128 cost = (__int128)p->avg_px * (p->qty < 0 ? -p->qty : p->qty) + (__int128)px * qty;
        __int128 aq = (__int128)(new_qty < 0 ? -new_qty : new_qty);
        new_avg = (int64_t)(cost / aq);
    } else {
        /* Reducing (maybe through zero): the closed part realizes PnL. */
        int64_t held = p->qty < 0 ? -p->qty : p->qty;
        int64_t closed = qty < held ? qty : held;
        int64_t diff;
        if ((p->qty > 0 ? __builtin_sub_overflow(px, p->avg_px, &diff)
                        : __builtin_sub_overflow(p->avg_px, px, &diff)) ||
            desk_fixed_mul(diff, closed, &realized) < 0)
            return -ERANGE;
        if (new_qty == 0)
            new_avg = 0;
        else if ((new_qty > 0) != (p->qty > 0))
            new_avg = px; /* flipped: the remainder opened at this price */
    }
    /* Every sum checked before anything changes: -ERANGE leaves the books
     * as they were. */
    int64_t cash, fees, vr, pr;
    if ((side == DESK_BUY ? __builtin_sub_overflow(v->cash, notional, &cash)
                          : __builtin_add_overflow(v->cash, notional, &cash)) ||
        __builtin_sub_overflow(cash, fee, &cash) || __builtin_add_overflow(v->fees, fee, &fees) ||
        __builtin_add_overflow(v->realized_pnl, realized, &vr) ||
        __builtin_add_overflow(p->realized_pnl, realized, &pr))
        return -ERANGE;
    v->cash = cash;
    v->fees = fees;
    v->realized_pnl = vr;
    p->realized_pnl = pr;
    p->qty = new_qty;
    p->avg_px = new_avg;
    if (p->mark_px == 0)
        p->mark_px = px;
    return 0;
}

int64_t desk_uta_buying_power(const desk_uta_t *u)
{
    int64_t bp = 0;

    for (uint32_t i = 0; i < u->nvenues; i++)
        bp = desk_sat_add(bp, desk_uta_venue_bp(u, (uint16_t)i));
    return bp;
}

int64_t desk_uta_unrealized(const desk_uta_t *u, uint32_t instrument)
{
    const desk_uta_pos_state_t *p = &u->pos[instrument];
    int64_t un = 0;

    if (p->qty == 0 || p->mark_px == 0)
        return 0;
    (void)desk_fixed_mul(desk_sat_sub(p->mark_px, p->avg_px), p->qty, &un);
    return un;
}

int64_t desk_uta_day_pnl(const desk_uta_t *u)
{
    int64_t pnl = 0;

    for (uint32_t i = 0; i < u->nvenues; i++)
        pnl = desk_sat_add(pnl, desk_sat_sub(u->venue[i].realized_pnl, u->venue[i].fees));
    for (uint32_t i = 0; i < u->ninstruments; i++)
        pnl = desk_sat_add(pnl, desk_uta_unrealized(u, i));
    return pnl;
}

void desk_uta_publish(const desk_uta_t *u, struct desk_uta_shm *shm, uint64_t now_ns)
{
    /* Build the snapshot privately, then copy it under the seqlock. */
    static _Thread_local struct desk_uta_shm snap;
    struct desk_uta_totals *t = &snap.t;

    memset(t, 0, sizeof *t);
    for (uint32_t i = 0; i < u->nvenues; i++) {
        const desk_uta_venue_state_t *v = &u->venue[i];
        struct desk_uta_venue *o = &snap.venues[i];
        o->cash = v->cash;
        o->reserved = v->reserved;
        o->buying_power = desk_sat_sub(v->cash, v->reserved);
        o->equity = v->cash;
        o->realized_pnl = desk_sat_sub(v->realized_pnl, v->fees);
        o->unrealized_pnl = 0;
        o->fees = v->fees;
        o->venue_bp = v->venue_bp;
    }
    for (uint32_t i = 0; i < u->ninstruments; i++) {
        const desk_uta_pos_state_t *p = &u->pos[i];
        struct desk_uta_pos *o = &snap.pos[i];
        int64_t un = desk_uta_unrealized(u, i), value = 0;
        (void)desk_fixed_mul(p->mark_px, p->qty, &value);
        o->qty = p->qty;
        o->avg_px = p->avg_px;
        o->mark_px = p->mark_px;
        o->realized_pnl = p->realized_pnl;
        o->unrealized_pnl = un;
        o->open_buy_qty = p->open_buy;
        o->open_sell_qty = p->open_sell;
        struct desk_uta_venue *pv = &snap.venues[p->venue];
        pv->equity = desk_sat_add(pv->equity, value);
        pv->unrealized_pnl = desk_sat_add(pv->unrealized_pnl, un);
        t->nav = desk_sat_add(t->nav, value);
        t->unrealized_pnl = desk_sat_add(t->unrealized_pnl, un);
    }
    for (uint32_t i = 0; i < u->nvenues; i++) {
        t->cash = desk_sat_add(t->cash, snap.venues[i].cash);
        t->reserved = desk_sat_add(t->reserved, snap.venues[i].reserved);
        t->buying_power = desk_sat_add(t->buying_power, snap.venues[i].buying_power);
        t->realized_pnl = desk_sat_add(t->realized_pnl, snap.venues[i].realized_pnl);
        t->fees = desk_sat_add(t->fees, snap.venues[i].fees);
    }
    t->nav = desk_sat_add(t->nav, t->cash);
    t->updated_ns = now_ns;
    desk_seqlock_write(&shm->lock, &shm->t, t, desk_shm_uta_bytes(u->nvenues, u->ninstruments));
}
