/*
 * config_fuzz.c - libFuzzer target for desk.toml loading (TOML parser and
 * schema walk).  It checks invariants, not outputs, with CHECK (which NDEBUG
 * does not remove): the loader returns 0 or one of its documented errors,
 * sets a message naming the source on failure and leaves *cfg zeroed; on
 * success every count is within its DESK_MAX_* bound, every string is
 * NUL-terminated inside its field, names are unique, instruments name a
 * connector and every option view points into the option store.  Under gcc,
 * ctest replays corpus/config/ through replay_main.c.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

/* CHECK() that survives NDEBUG (release builds replay the corpus too). */
#define CHECK(e) ((e) ? (void)0 : check_fail(#e, __LINE__))

static void check_fail(const char *what, int line)
{
    fprintf(stderr, "config_fuzz.c:%d: invariant failed: %s\n  last message: %s\n", line,
            what, desk_errmsg());
    abort();
}

/* True if s[0..cap) holds a NUL. */
static int terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return 0;
    return 1;
}

static void check_limits(const desk_limits_t *l)
{
    CHECK(l->max_order_qty >= 0 && l->max_order_notional >= 0);
    CHECK(l->max_position_qty >= 0 && l->max_position_notional >= 0);
    CHECK(l->daily_loss >= 0);
}

static void check_ok(const desk_config_t *c)
{
    CHECK(terminated(c->path, sizeof c->path) && terminated(c->dir, sizeof c->dir));
    CHECK(terminated(c->name, sizeof c->name) && c->name[0] != '\0');
    CHECK(c->idle <= DESK_IDLE_BACKOFF);
    CHECK(c->idle_max_us >= 1 && c->idle_max_us <= 1000000);
    CHECK(c->order_capacity >= 1024 && (c->order_capacity & (c->order_capacity - 1)) == 0);
    CHECK(c->status_interval_ms >= 10 && c->status_interval_ms <= 10000);
    CHECK(c->router_cpu >= -1);
    check_limits(&c->limits);

    CHECK(c->nconnectors <= DESK_MAX_CONNECTORS);
    for (uint32_t i = 0; i < c->nconnectors; i++) {
        const desk_connector_conf_t *cc = &c->connectors[i];
        CHECK(terminated(cc->name, sizeof cc->name) && cc->name[0] != '\0');
        CHECK(terminated(cc->type, sizeof cc->type));
        CHECK(terminated(cc->path, sizeof cc->path));
        CHECK(strcmp(cc->type, "paper") == 0 || strcmp(cc->type, "custom") == 0);
        CHECK(cc->venue_type >= DESK_VENUE_EQUITIES && cc->venue_type <= DESK_VENUE_CASH);
        CHECK(cc->thread >= 0 && cc->thread < DESK_MAX_CONNECTORS);
        CHECK(cc->nopts <= DESK_MAX_OPTS);
        for (uint32_t j = 0; j < i; j++)
            CHECK(strcmp(c->connectors[j].name, cc->name) != 0);
        for (uint32_t j = 0; j < cc->nopts; j++) {
            const desk_opt_store_t *o = &cc->opts[j];
            CHECK(terminated(o->key, sizeof o->key) && o->key[0] != '\0');
            CHECK(terminated(o->value, sizeof o->value));
            CHECK(o->line > 0);
            CHECK(cc->optv[j].key == o->key && cc->optv[j].value == o->value);
            CHECK(cc->optv[j].line == o->line && cc->optv[j].secret == o->secret);
        }
    }
    CHECK(c->ninstruments <= DESK_MAX_INSTRUMENTS);
    for (uint32_t i = 0; i < c->ninstruments; i++) {
        const desk_instrument_conf_t *ic = &c->instruments[i];
        uint32_t v = 0;
        CHECK(terminated(ic->symbol, sizeof ic->symbol) && ic->symbol[0] != '\0');
        CHECK(terminated(ic->venue, sizeof ic->venue));
        while (v < c->nconnectors && strcmp(c->connectors[v].name, ic->venue) != 0)
            v++;
        CHECK(v < c->nconnectors); /* names a connector */
        CHECK(ic->tick_size > 0 && ic->lot_size > 0 && ic->min_notional >= 0);
        CHECK(ic->asset_class >= DESK_ASSET_EQUITY && ic->asset_class <= DESK_ASSET_CASH);
        CHECK((ic->open_min == -1 && ic->close_min == -1) ||
               (ic->open_min >= 0 && ic->open_min < 1440 && ic->close_min >= 0 &&
                ic->close_min < 1440 && ic->open_min != ic->close_min));
        check_limits(&ic->limits);
    }
    CHECK(c->nstrategies <= DESK_MAX_STRATEGIES);
    for (uint32_t i = 0; i < c->nstrategies; i++) {
        const desk_strategy_conf_t *sc = &c->strategies[i];
        CHECK(terminated(sc->name, sizeof sc->name) && sc->name[0] != '\0');
        CHECK((sc->mode & ~0777u) == 0);
        CHECK(sc->order_ring >= 64 && (sc->order_ring & (sc->order_ring - 1)) == 0);
        CHECK(sc->event_ring >= 64 && (sc->event_ring & (sc->event_ring - 1)) == 0);
        CHECK(sc->cancel_on_disconnect == 0 || sc->cancel_on_disconnect == 1);
        for (uint32_t j = 0; j < i; j++)
            CHECK(strcmp(c->strategies[j].name, sc->name) != 0);
        check_limits(&sc->limits);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static desk_config_t *cfg; /* large: allocated once, reused */

    if (cfg == NULL) {
        cfg = malloc(sizeof *cfg);
        CHECK(cfg != NULL);
    }
    desk_errclear();
    int rc = desk_config_load_string(cfg, (const char *)data, len, "fuzz.toml");

    if (rc == 0) {
        check_ok(cfg);
    } else {
        CHECK(rc == -EBADMSG || rc == -EINVAL || rc == -ENOMEM || rc == -ERANGE);
        CHECK(desk_errmsg()[0] != '\0');
        CHECK(strstr(desk_errmsg(), "fuzz.toml") != NULL);
        CHECK(all_zero(cfg, sizeof *cfg));
    }
    return 0;
}
