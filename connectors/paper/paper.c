/*
 * paper.c - the "paper" connector: glue between deskd's connector ABI, the
 * market-data replay (md.h) and the matching engine (engine.h).  See paper.h
 * for the options and the behaviour.
 *
 * Queues (both preallocated at create, single-threaded: everything runs on
 * the connector thread):
 *  - the delay queue holds commands until route time + latency_us;
 *  - the pending queue holds events desk_host_emit() refused with -EAGAIN.
 *    While it is not empty nothing new is fed to the engine, and a command is
 *    applied only when the queue has room for the events it can cause, so its
 *    capacity (3 * max_orders + 64) bounds everything: one md event causes at
 *    most two events per open order, one command at most three.
 */
#include "connectors/paper/paper.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/paper/engine.h"
#include "connectors/paper/md.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fixed.h"

#define PAPER_MD_BATCH 4096 /* md events + commands handled per poll at most */
#define PAPER_CMD_EVENTS 4  /* room a command needs in the pending queue */

/* A command waiting for its simulated latency. */
struct delayed {
    desk_vcmd_t cmd; /* the command (copied) */
    uint64_t due_ns; /* desk_now_ns() at which the venue sees it */
};

struct paper_opts {
    char data[DESK_MD_PATH_MAX]; /* the data option */
    int64_t speed;               /* replay speed, fixed 1e-8 (0: as fast as possible) */
    int64_t fee_bps;             /* taker fee, bps fixed 1e-8 */
    int64_t maker_fee_bps;       /* maker fee, bps fixed 1e-8 */
    int have_maker;              /* maker_fee_bps was given */
    uint64_t latency_ns;         /* simulated order latency */
    int64_t cash;                /* starting cash, 1e-8 */
    int have_cash;               /* cash was given */
    int loop;                    /* restart at the end of data */
    int allow_short;             /* sells need no inventory */
    uint32_t max_orders;         /* engine pool size */
    uint64_t report_ns;          /* reconcile_interval_ms, in ns (0: once) */
};

struct paper {
    desk_host_t *host;        /* deskd's side (borrowed) */
    uint32_t instrument;      /* the one instrument traded */
    struct paper_opts o;      /* parsed options */
    desk_md_t *md;            /* owned: the capture */
    desk_paper_engine_t *eng; /* owned: the matching engine */
    int connected;            /* between connect() and disconnect() */
    int started;              /* the replay clock is running */
    int ended;                /* end of data reached without loop */
    uint64_t t0_ns;           /* desk_now_ns() at the start of this pass */
    int64_t md0_ns;           /* md time of the first event of the data */
    size_t next;              /* next md event to feed */
    uint64_t passes;          /* completed passes over the data */
    struct delayed *dq;       /* owned: delay queue ring */
    uint32_t dq_cap;          /* its capacity */
    uint32_t dq_head;         /* oldest entry */
    uint32_t dq_n;            /* entries */
    desk_vevent_t *pq;        /* owned: pending event ring */
    uint32_t pq_cap;          /* its capacity */
    uint32_t pq_head;         /* oldest entry */
    uint32_t pq_n;            /* entries */
    uint64_t pq_overflow;     /* events that found the pending queue full (a bug) */
    uint64_t report_at_ns;    /* next account report (0: right away) */
    int reported;             /* an account report went out since connect */
};

/* ---------------------------------------------------------------------- */
/* Events out                                                              */
/* ---------------------------------------------------------------------- */

static void pq_push(struct paper *p, const desk_vevent_t *ev)
{
    if (p->pq_n == p->pq_cap) {
        /* Cannot happen: see the capacity argument at the top of the file. */
        p->pq_overflow++;
        return;
    }
    p->pq[(p->pq_head + p->pq_n) % p->pq_cap] = *ev;
    p->pq_n++;
}

/* Engine emit callback: stamp, send, or queue behind earlier events. */
static void paper_emit(const desk_vevent_t *ev, const desk_paper_fill_info_t *info, void *ctx)
{
    struct paper *p = ctx;
    desk_vevent_t e = *ev;

    (void)info;
    e.venue_ns = desk_now_ns();
    if (p->pq_n == 0 && desk_host_emit(p->host, &e) == 0)
        return;
    pq_push(p, &e);
}

/* Send queued events in order; returns how many went out. */
static int pq_drain(struct paper *p)
{
    int n = 0;

    while (p->pq_n > 0) {
        if (desk_host_emit(p->host, &p->pq[p->pq_head]) != 0)
            break; /* -EAGAIN: the router's ring is full, retry next poll */
        p->pq_head = (p->pq_head + 1) % p->pq_cap;
        p->pq_n--;
        n++;
    }
    return n;
}

static int pq_room(const struct paper *p, uint32_t need)
{
    return p->pq_cap - p->pq_n >= need;
}

/* ---------------------------------------------------------------------- */
/* Options                                                                 */
/* ---------------------------------------------------------------------- */

static int parse_bool(const char *v, int *out)
{
    if (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcasecmp(v, "yes") == 0)
        *out = 1;
    else if (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcasecmp(v, "no") == 0)
        *out = 0;
    else
        return -EINVAL;
    return 0;
}

static DESK_COLD int parse_opts(const desk_connector_cfg_t *cfg, struct paper_opts *o)
{
    memset(o, 0, sizeof *o);
    o->speed = DESK_SCALE;
    o->max_orders = 65536;
    o->report_ns = 5000000000ull;
    for (uint32_t i = 0; i < cfg->nopts; i++) {
        const desk_opt_t *opt = &cfg->opts[i];
        const char *k = opt->key, *v = opt->value ? opt->value : "";
        int64_t x = 0;
        int rc = 0;

        if (strcmp(k, "data") == 0) {
            if (v[0] == '\0' || strlen(v) >= sizeof o->data)
                rc = -EINVAL;
            else
                strcpy(o->data, v);
        } else if (strcmp(k, "speed") == 0) {
            rc = desk_fixed_parse_cstr(v, &o->speed);
            if (rc == 0 && o->speed < 0)
                rc = -EINVAL;
        } else if (strcmp(k, "fee_bps") == 0) {
            rc = desk_fixed_parse_cstr(v, &o->fee_bps);
            if (rc == 0 && (o->fee_bps < 0 || o->fee_bps > 10000 * DESK_SCALE))
                rc = -EINVAL;
        } else if (strcmp(k, "maker_fee_bps") == 0) {
            rc = desk_fixed_parse_cstr(v, &o->maker_fee_bps);
            if (rc == 0 &&
                (o->maker_fee_bps < -10000 * DESK_SCALE || o->maker_fee_bps > 10000 * DESK_SCALE))
                rc = -EINVAL;
            o->have_maker = 1;
        } else if (strcmp(k, "latency_us") == 0) {
            rc = desk_fixed_parse_cstr(v, &x);
            /* at most 60 s; kept in ns (finer digits are dropped) */
            if (rc == 0 && (x < 0 || x > INT64_C(60000000) * DESK_SCALE))
                rc = -EINVAL;
            o->latency_ns = (uint64_t)(x / (DESK_SCALE / 1000));
        } else if (strcmp(k, "cash") == 0) {
            rc = desk_fixed_parse_cstr(v, &o->cash);
            if (rc == 0 && o->cash < 0)
                rc = -EINVAL;
            o->have_cash = 1;
        } else if (strcmp(k, "loop") == 0) {
            rc = parse_bool(v, &o->loop);
        } else if (strcmp(k, "allow_short") == 0) {
            rc = parse_bool(v, &o->allow_short);
        } else if (strcmp(k, "reconcile_interval_ms") == 0) {
            rc = desk_fixed_parse_cstr(v, &x);
            if (rc == 0 && (x % DESK_SCALE != 0 || x < 0 || x > INT64_C(86400000) * DESK_SCALE))
                rc = -EINVAL;
            o->report_ns = (uint64_t)(x / DESK_SCALE) * 1000000ull;
        } else if (strcmp(k, "max_orders") == 0) {
            rc = desk_fixed_parse_cstr(v, &x);
            if (rc == 0 &&
                (x % DESK_SCALE != 0 || x < DESK_SCALE || x > (INT64_C(1) << 24) * DESK_SCALE))
                rc = -EINVAL;
            o->max_orders = (uint32_t)(x / DESK_SCALE);
        } else {
            return DESK_ERR(-EINVAL, "desk.toml:%d: connector '%s': unknown paper option '%s'",
                            opt->line, cfg->name ? cfg->name : "?", k);
        }
        if (rc != 0)
            return DESK_ERR(-EINVAL,
                            "desk.toml:%d: connector '%s': bad value for paper option "
                            "'%s'",
                            opt->line, cfg->name ? cfg->name : "?", k);
    }
    if (o->data[0] == '\0')
        return DESK_ERR(-EINVAL, "connector '%s': paper option 'data' is required",
                        cfg->name ? cfg->name : "?");
    if (!o->have_cash)
        return DESK_ERR(-EINVAL, "connector '%s': paper option 'cash' is required",
                        cfg->name ? cfg->name : "?");
    if (!o->have_maker)
        o->maker_fee_bps = o->fee_bps;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Ops                                                                     */
/* ---------------------------------------------------------------------- */

static void paper_destroy(void *self);

static DESK_COLD int paper_create(const desk_connector_cfg_t *cfg, desk_host_t *host, void **self)
{
    struct paper *p;
    char path[DESK_MD_PATH_MAX];
    int rc;

    if (cfg == NULL || self == NULL)
        return DESK_ERR(-EINVAL, "cfg or self is NULL");
    *self = NULL;
    p = calloc(1, sizeof *p);
    if (p == NULL)
        return DESK_ERR(-ENOMEM, "no memory for the paper connector");
    p->host = host;
    if ((rc = parse_opts(cfg, &p->o)) != 0)
        goto fail;

    uint32_t ninst = desk_host_ninstruments(host);
    const desk_instrument_t *inst = ninst == 1 ? desk_host_instrument_at(host, 0) : NULL;
    if (inst == NULL) {
        rc = DESK_ERR(-EINVAL,
                      "connector '%s': a paper connector trades exactly one instrument "
                      "(%u configured)",
                      cfg->name ? cfg->name : "?", ninst);
        goto fail;
    }
    p->instrument = inst->id;

    if ((rc = desk_md_resolve(p->o.data, cfg->config_dir, path, sizeof path)) != 0)
        goto fail;
    if ((rc = desk_md_load(path, &p->md)) != 0)
        goto fail;
    if (strcasecmp(p->md->symbol, inst->symbol) != 0) {
        rc = DESK_ERR(-EINVAL, "connector '%s': data %s is for %s, but the instrument is %s",
                      cfg->name ? cfg->name : "?", path, p->md->symbol, inst->symbol);
        goto fail;
    }

    desk_paper_engine_cfg_t ec = {
        .instrument = p->instrument,
        .max_orders = p->o.max_orders,
        .fee_bps = p->o.fee_bps,
        .maker_fee_bps = p->o.maker_fee_bps,
        .cash = p->o.cash,
        .allow_short = p->o.allow_short,
        .emit = paper_emit,
        .ctx = p,
    };
    if ((rc = desk_paper_engine_create(&ec, &p->eng)) != 0)
        goto fail;
    p->dq_cap = p->o.max_orders < 1024 ? 1024 : p->o.max_orders;
    p->pq_cap = 3 * p->o.max_orders + 64;
    p->dq = calloc(p->dq_cap, sizeof *p->dq);
    p->pq = calloc(p->pq_cap, sizeof *p->pq);
    if (p->dq == NULL || p->pq == NULL) {
        rc = DESK_ERR(-ENOMEM, "no memory for the paper queues");
        goto fail;
    }
    p->md0_ns = p->md->ev[0].ts_ns;
    desk_host_log(host,
                  "paper: %s: %s, %llu lines: %llu quotes, %llu trades; skipped %llu depth, "
                  "%llu snapshot, %llu other",
                  path, p->md->symbol, (unsigned long long)p->md->lines,
                  (unsigned long long)p->md->quotes, (unsigned long long)p->md->trades,
                  (unsigned long long)p->md->depth, (unsigned long long)p->md->snapshot,
                  (unsigned long long)p->md->other);
    *self = p;
    return 0;

fail:
    paper_destroy(p);
    return rc;
}

static DESK_COLD void paper_destroy(void *self)
{
    struct paper *p = self;

    if (p == NULL)
        return;
    free(p->dq);
    free(p->pq);
    desk_paper_engine_destroy(p->eng);
    desk_md_destroy(p->md);
    free(p);
}

static DESK_COLD int paper_connect(void *self)
{
    struct paper *p = self;
    char reason[48];
    char speed[32];

    p->connected = 1;
    p->started = 0;
    p->reported = 0;
    p->report_at_ns = 0;
    if (p->o.speed == 0)
        snprintf(speed, sizeof speed, "max");
    else if (desk_fixed_format(p->o.speed, 0, speed + 1, sizeof speed - 1) >= 0)
        speed[0] = 'x';
    /* Health reasons are 47 bytes: symbol (<= 15) and speed fit with room. */
    snprintf(reason, sizeof reason, "replaying %.15s %.20s", p->md->symbol, speed);
    desk_host_health(p->host, DESK_UP, p->ended ? "end of data" : reason);
    return 0;
}

static DESK_COLD int paper_disconnect(void *self)
{
    struct paper *p = self;

    p->connected = 0;
    desk_host_health(p->host, DESK_DOWN, "disconnected");
    return 0;
}

/* Feed md event p->next to the engine and publish the quote. */
static void feed_md(struct paper *p)
{
    desk_quote_t q;

    desk_paper_engine_on_md(p->eng, p->next, &p->md->ev[p->next]);
    p->next++;
    if (desk_paper_engine_quote(p->eng, &q) == 0)
        desk_host_quote(p->host, p->instrument, &q);
}

/* The end of the data: close the session, then loop or stop. */
static void end_of_data(struct paper *p, uint64_t now)
{
    desk_paper_engine_end_session(p->eng);
    p->passes++;
    if (p->o.loop) {
        p->next = 0;
        p->t0_ns = now;
    } else {
        p->ended = 1;
        desk_host_health(p->host, DESK_UP, "end of data");
    }
}

/*
 * Report the engine's account for reconciliation: only when no event waits
 * in the pending queue, so the report matches what deskd has been told.
 * The paper venue is exact, so any break it shows is deskd's own error.
 */
static void report_account(struct paper *p, uint64_t now)
{
    desk_position_t pos;
    desk_account_report_t r = {.flags = DESK_REPORT_BALANCE | DESK_REPORT_POSITIONS};

    if (p->pq_n > 0 || now < p->report_at_ns || (p->reported && p->o.report_ns == 0))
        return;
    desk_paper_engine_position(p->eng, &pos);
    desk_paper_engine_balance(p->eng, &r.balance);
    pos.instrument = p->instrument;
    r.npos = pos.qty != 0;
    r.pos = &pos;
    if (desk_host_account_report(p->host, &r) == 0) {
        p->reported = 1;
        p->report_at_ns = now + p->o.report_ns;
    } else {
        p->report_at_ns = now + 100000000ull; /* deskd has not taken the last one */
    }
}

static int apply_cmd(struct paper *p, const desk_vcmd_t *cmd)
{
    return desk_paper_engine_cmd(p->eng, cmd);
}

static int paper_poll(void *self, uint64_t now)
{
    struct paper *p = self;
    int work = 0;

    if (p->pq_n > 0) {
        work += pq_drain(p);
        if (p->pq_n > 0)
            return work; /* back-pressure: market data waits for the router */
    }
    if (!p->connected)
        return work;
    if (!p->started) {
        p->started = 1;
        p->t0_ns = now;
    }
    /* md time now: md0 + elapsed wall time * speed (exact, in __int128). */
    int64_t md_now = INT64_MAX;
    if (p->o.speed > 0) {
        __int128 el = (__int128)(now - p->t0_ns) * p->o.speed / DESK_SCALE;
        md_now = el > INT64_MAX - p->md0_ns ? INT64_MAX : p->md0_ns + (int64_t)el;
    }
    for (int budget = PAPER_MD_BATCH; budget > 0 && p->pq_n == 0; budget--) {
        int cmd_due =
            p->dq_n > 0 && p->dq[p->dq_head].due_ns <= now && pq_room(p, PAPER_CMD_EVENTS);
        int md_due = !p->ended && p->next < p->md->n && p->md->ev[p->next].ts_ns <= md_now;

        if (cmd_due && md_due && p->o.speed > 0) {
            /* Both are due: the one earlier in md time goes first. */
            const struct delayed *d = &p->dq[p->dq_head];
            if (d->due_ns >= p->t0_ns) {
                __int128 at = (__int128)(d->due_ns - p->t0_ns) * p->o.speed / DESK_SCALE;
                if (p->md->ev[p->next].ts_ns <= p->md0_ns + at)
                    cmd_due = 0;
            }
        }
        if (cmd_due) {
            apply_cmd(p, &p->dq[p->dq_head].cmd);
            p->dq_head = (p->dq_head + 1) % p->dq_cap;
            p->dq_n--;
        } else if (md_due) {
            feed_md(p);
            if (p->next == p->md->n)
                end_of_data(p, now);
        } else {
            break;
        }
        work++;
    }
    report_account(p, now);
    return work;
}

/* Queue a command for its latency, or apply it now when there is none. */
static int submit(struct paper *p, const desk_vcmd_t *cmd, uint8_t type)
{
    desk_vcmd_t c = *cmd;

    c.type = type;
    if (p->o.latency_ns == 0 && p->dq_n == 0 && pq_room(p, PAPER_CMD_EVENTS))
        return apply_cmd(p, &c) == 0 ? 0 : -EINVAL;
    if (p->dq_n == p->dq_cap)
        return -EBUSY; /* the router retries */
    struct delayed *d = &p->dq[(p->dq_head + p->dq_n) % p->dq_cap];
    d->cmd = c;
    d->due_ns = desk_now_ns() + p->o.latency_ns;
    p->dq_n++;
    return 0;
}

static int paper_place(void *self, const desk_vcmd_t *cmd)
{
    return submit(self, cmd, DESK_CMD_NEW);
}

static int paper_cancel(void *self, const desk_vcmd_t *cmd)
{
    return submit(self, cmd, DESK_CMD_CANCEL);
}

static int paper_replace(void *self, const desk_vcmd_t *cmd)
{
    return submit(self, cmd, DESK_CMD_REPLACE);
}

static int paper_get_quote(void *self, uint32_t instrument, desk_quote_t *out)
{
    struct paper *p = self;

    if (instrument != p->instrument)
        return -ENOENT;
    return desk_paper_engine_quote(p->eng, out);
}

static int paper_get_positions(void *self, desk_position_t *out, size_t cap)
{
    struct paper *p = self;
    desk_position_t pos;

    desk_paper_engine_position(p->eng, &pos);
    if (pos.qty == 0)
        return 0;
    if (cap < 1)
        return -ENOSPC;
    out[0] = pos;
    return 1;
}

static int paper_get_buying_power(void *self, desk_balance_t *out)
{
    struct paper *p = self;

    desk_paper_engine_balance(p->eng, out);
    return 0;
}

static const desk_connector_ops_t paper_ops = {
    .abi = DESK_CONNECTOR_ABI,
    .type = "paper",
    .create = paper_create,
    .destroy = paper_destroy,
    .connect = paper_connect,
    .disconnect = paper_disconnect,
    .poll = paper_poll,
    .place_order = paper_place,
    .cancel_order = paper_cancel,
    .replace_order = paper_replace,
    .get_quote = paper_get_quote,
    .get_positions = paper_get_positions,
    .get_buying_power = paper_get_buying_power,
};

const desk_connector_ops_t *desk_paper_ops(void)
{
    return &paper_ops;
}
