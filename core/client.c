/*
 * client.c - libdesk: attach to a desk, submit, poll, read quotes and the UTA.
 *
 * The per-process handle (struct desk_client) holds the mappings and the two
 * ring handles; shared memory holds only offsets (ring/shm.h).  Everything
 * after desk_attach() is hot: no syscall, no lock, no allocation.
 */
#include "desk/client.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "ring/seqlock.h"
#include "ring/shm.h"
#include "ring/spsc.h"

struct desk_client {
    desk_spsc_t orders;                  /* producer handle: strategy -> router */
    desk_spsc_t events;                  /* consumer handle: router -> strategy */
    const struct desk_main_hdr *main;    /* main segment, read-only */
    size_t main_len;                     /* its mapped length */
    struct desk_strat_hdr *strat;        /* strategy segment, read-write */
    size_t strat_len;                    /* its mapped length */
    const desk_instrument_t *instruments; /* table in the main segment */
    const struct desk_quote_slot *quotes; /* quote table in the main segment */
    const struct desk_uta_shm *uta;      /* UTA snapshot in the main segment */
    uint32_t ninstruments;               /* entries in the tables */
    uint32_t nconnectors;                /* connector blocks */
    uint64_t start_mono_ns;              /* deskd instance attached to */
};

const char *desk_client_errmsg(void)
{
    return desk_errmsg();
}

DESK_COLD int desk_attach(desk_client_t **out, const char *desk, const char *strategy)
{
    struct desk_client *c = calloc(1, sizeof *c);
    const struct desk_main_hdr *m = NULL;
    struct desk_strat_hdr *s = NULL;
    size_t mlen = 0, slen = 0;
    int rc;

    *out = NULL;
    if (c == NULL)
        return DESK_ERR(-ENOMEM, "out of memory");
    rc = desk_shm_main_attach(desk, &m, &mlen);
    if (rc < 0)
        goto fail;
    rc = desk_shm_strat_attach(desk, strategy, &s, &slen);
    if (rc < 0)
        goto fail;
    if (s->deskd_start_ns != m->start_mono_ns) {
        rc = DESK_ERR(-EPROTO, "strategy segment of '%s' belongs to another deskd instance",
                      strategy);
        goto fail;
    }
    /* One live process per strategy: a second producer would break SPSC. */
    int32_t pid = atomic_load_explicit(&s->pid, memory_order_acquire);
    if (pid != 0 && pid != getpid() && (kill(pid, 0) == 0 || errno == EPERM)) {
        rc = DESK_ERR(-EBUSY, "strategy '%s' is already attached by live pid %d", strategy,
                      (int)pid);
        goto fail;
    }
    rc = desk_spsc_attach_producer(&c->orders, (char *)s + s->off_order_ring,
                                   (size_t)s->order_ring_bytes);
    if (rc < 0)
        goto fail;
    rc = desk_spsc_attach_consumer(&c->events, (char *)s + s->off_event_ring,
                                   (size_t)s->event_ring_bytes);
    if (rc < 0)
        goto fail;
    c->main = m;
    c->main_len = mlen;
    c->strat = s;
    c->strat_len = slen;
    c->instruments = (const desk_instrument_t *)(const void *)((const char *)m + m->off_instruments);
    c->quotes = (const struct desk_quote_slot *)(const void *)((const char *)m + m->off_quotes);
    c->uta = (const struct desk_uta_shm *)(const void *)((const char *)m + m->off_uta);
    c->ninstruments = m->ninstruments;
    c->nconnectors = m->nconnectors;
    c->start_mono_ns = m->start_mono_ns;
    atomic_store_explicit(&s->heartbeat_ns, desk_now_ns(), memory_order_relaxed);
    atomic_fetch_add_explicit(&s->attach_epoch, 1, memory_order_relaxed);
    /* Release: deskd's control thread load-acquires pid, then trusts the
     * heartbeat it reads. */
    atomic_store_explicit(&s->pid, (int32_t)getpid(), memory_order_release);
    *out = c;
    return 0;
fail:
    if (s)
        desk_shm_unmap(s, slen);
    if (m)
        desk_shm_unmap(m, mlen);
    free(c);
    return rc;
}

DESK_COLD void desk_detach(desk_client_t *c)
{
    if (c == NULL)
        return;
    /* Release pairs with the control thread's acquire: it sees the detach. */
    atomic_store_explicit(&c->strat->pid, 0, memory_order_release);
    desk_shm_unmap(c->strat, c->strat_len);
    desk_shm_unmap(c->main, c->main_len);
    free(c);
}

DESK_COLD int desk_instrument_find(const desk_client_t *c, const char *symbol, const char *venue)
{
    const struct desk_conn_shm *conns =
        (const struct desk_conn_shm *)(const void *)((const char *)c->main + c->main->off_connectors);

    for (uint32_t i = 0; i < c->ninstruments; i++) {
        const desk_instrument_t *in = &c->instruments[i];
        if (strcmp(in->symbol, symbol) != 0)
            continue;
        if (venue && (in->connector >= c->nconnectors ||
                      strcmp(conns[in->connector].name, venue) != 0))
            continue;
        return (int)i;
    }
    return DESK_ERR(-ENOENT, "no instrument '%s'%s%s", symbol, venue ? " on " : "",
                    venue ? venue : "");
}

uint32_t desk_ninstruments(const desk_client_t *c)
{
    return c->ninstruments;
}

const desk_instrument_t *desk_instrument(const desk_client_t *c, uint32_t id)
{
    return id < c->ninstruments ? &c->instruments[id] : NULL;
}

int desk_quote(const desk_client_t *c, uint32_t id, desk_quote_t *out)
{
    if (DESK_UNLIKELY(id >= c->ninstruments))
        return -EINVAL;
    const struct desk_quote_slot *q = &c->quotes[id];
    if (desk_seqlock_read(&q->lock, out, &q->q, sizeof *out) == 0)
        return -ENOENT; /* never published */
    return 0;
}

int desk_account(const desk_client_t *c, desk_account_t *out)
{
    struct desk_uta_totals t;

    if (desk_seqlock_read(&c->uta->lock, &t, &c->uta->t, sizeof t) == 0)
        return -ENOENT;
    out->cash = t.cash;
    out->reserved = t.reserved;
    out->buying_power = t.buying_power;
    out->nav = t.nav;
    out->realized_pnl = t.realized_pnl;
    out->unrealized_pnl = t.unrealized_pnl;
    out->fees = t.fees;
    out->updated_ns = t.updated_ns;
    return 0;
}

int desk_position(const desk_client_t *c, uint32_t id, desk_pos_t *out)
{
    struct desk_uta_pos p;

    if (DESK_UNLIKELY(id >= c->ninstruments))
        return -EINVAL;
    if (desk_seqlock_read(&c->uta->lock, &p, &c->uta->pos[id], sizeof p) == 0)
        return -ENOENT;
    out->qty = p.qty;
    out->avg_px = p.avg_px;
    out->mark_px = p.mark_px;
    out->realized_pnl = p.realized_pnl;
    out->unrealized_pnl = p.unrealized_pnl;
    return 0;
}

desk_kill_t desk_kill_state(const desk_client_t *c)
{
    /* Acquire pairs with the control thread's release when it flips it. */
    return (desk_kill_t)atomic_load_explicit(&((struct desk_main_hdr *)c->main)->kill,
                                             memory_order_acquire);
}

int desk_submit(desk_client_t *c, const desk_cmd_t *cmd)
{
    if (DESK_UNLIKELY(cmd->type < DESK_CMD_NEW || cmd->type > DESK_CMD_REPLACE ||
                      cmd->cl_ord_id == 0))
        return -EINVAL;
    desk_cmd_t *slot = desk_spsc_claim(&c->orders);
    if (DESK_UNLIKELY(slot == NULL))
        return -EAGAIN;
    *slot = *cmd;
    slot->submit_ns = desk_now_ns();
    desk_spsc_commit(&c->orders, 1);
    return 0;
}

int desk_submit_new(desk_client_t *c, uint64_t cl_ord_id, uint32_t instrument, desk_side_t side,
                    desk_ord_type_t type, desk_tif_t tif, int64_t qty, int64_t px,
                    int64_t stop_px)
{
    desk_cmd_t cmd = {.type = DESK_CMD_NEW,
                      .side = (uint8_t)side,
                      .ord_type = (uint8_t)type,
                      .tif = (uint8_t)tif,
                      .instrument = instrument,
                      .cl_ord_id = cl_ord_id,
                      .qty = qty,
                      .px = px,
                      .stop_px = stop_px};
    return desk_submit(c, &cmd);
}

int desk_submit_cancel(desk_client_t *c, uint64_t cl_ord_id, uint64_t orig_cl_ord_id)
{
    desk_cmd_t cmd = {.type = DESK_CMD_CANCEL, .cl_ord_id = cl_ord_id,
                      .orig_cl_ord_id = orig_cl_ord_id};
    return desk_submit(c, &cmd);
}

int desk_submit_replace(desk_client_t *c, uint64_t cl_ord_id, uint64_t orig_cl_ord_id,
                        int64_t qty, int64_t px)
{
    desk_cmd_t cmd = {.type = DESK_CMD_REPLACE, .cl_ord_id = cl_ord_id,
                      .orig_cl_ord_id = orig_cl_ord_id, .qty = qty, .px = px};
    return desk_submit(c, &cmd);
}

int desk_poll(desk_client_t *c, desk_event_t *out, int max)
{
    uint32_t n = desk_spsc_peek_n(&c->events, max > 0 ? (uint32_t)max : 0);

    for (uint32_t i = 0; i < n; i++)
        memcpy(&out[i], desk_spsc_slot(&c->events, i), sizeof out[i]);
    if (n)
        desk_spsc_release(&c->events, n);
    /* Relaxed: a liveness hint for the control thread, no data depends on it. */
    atomic_store_explicit(&c->strat->heartbeat_ns, desk_now_ns(), memory_order_relaxed);
    return (int)n;
}

int desk_alive(const desk_client_t *c, uint64_t max_age_ns)
{
    struct desk_main_hdr *m = (struct desk_main_hdr *)c->main;
    uint32_t st = atomic_load_explicit(&m->run_state, memory_order_acquire);
    uint64_t hb = atomic_load_explicit(&m->heartbeat_ns, memory_order_relaxed);
    uint64_t now = desk_now_ns();

    if (st != DESK_RUN_RUNNING || m->start_mono_ns != c->start_mono_ns)
        return 0;
    return hb + max_age_ns >= now;
}

uint64_t desk_now(void)
{
    return desk_now_ns();
}
