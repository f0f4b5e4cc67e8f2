/*
 * config_test.c - desk.toml loading: the example file, every error class
 * (each message must name the key and the right line), credential
 * references, decimals, hours, ring sizes, owners and defaults.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/err.h"

static desk_config_t *g_cfg; /* about 350 KB: allocated once */

#define HDR "[desk]\nname = \"t\"\n" /* lines 1-2 */
#define CONN                                                                                  \
    "[[connector]]\nname = \"paper\"\ntype = \"paper\"\nvenue_type = \"crypto\"\n" /* 4 lines */
#define INST                                                                                  \
    "[[instrument]]\nsymbol = \"BTCUSDT\"\nvenue = \"paper\"\nasset_class = \"crypto\"\n"       \
    "tick_size = \"0.01\"\nlot_size = \"0.00001\"\n" /* 6 lines */

static int load(const char *text)
{
    desk_errclear();
    return desk_config_load_string(g_cfg, text, strlen(text), "desk.toml");
}

/* Loading `text` must succeed; print the message if it does not. */
#define expect_ok(text)                                                                       \
    do {                                                                                      \
        int rc_ = load(text);                                                                 \
        if (rc_ != 0)                                                                         \
            print_error("unexpected rc=%d: %s\n", rc_, desk_errmsg());                       \
        assert_int_equal(rc_, 0);                                                             \
    } while (0)

/*
 * Loading `text` must fail with `want` and a message holding "desk.toml:LINE:"
 * and `needle` (which names the key).
 */
static void expect_fail_at(const char *text, int want, int line, const char *needle,
                           const char *file, int srcline)
{
    char at[32];
    int rc = load(text);
    const char *msg = desk_errmsg();

    snprintf(at, sizeof at, "desk.toml:%d:", line);
    if (rc != want || strstr(msg, at) == NULL || strstr(msg, needle) == NULL) {
        print_error("%s:%d: rc=%d (want %d)\n  message: %s\n  wanted: '%s' and '%s'\n", file,
                    srcline, rc, want, msg, at, needle);
        fail();
    }
    /* A failed load leaves nothing behind (resolved secrets included). */
    assert_int_equal(g_cfg->name[0], 0);
    assert_int_equal(g_cfg->nconnectors, 0);
}
#define expect_fail(text, want, line, needle)                                                 \
    expect_fail_at((text), (want), (line), (needle), __FILE__, __LINE__)

static int setup(void **state)
{
    (void)state;
    g_cfg = malloc(sizeof *g_cfg);
    return g_cfg == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    free(g_cfg);
    return 0;
}

static const desk_opt_t *opt(const desk_connector_conf_t *cc, const char *key)
{
    for (uint32_t i = 0; i < cc->nopts; i++)
        if (strcmp(cc->optv[i].key, key) == 0)
            return &cc->optv[i];
    return NULL;
}

/* ---- the example file ---- */

static void test_example(void **state)
{
    const char *path = DESK_SOURCE_DIR "/desk.toml.example";
    desk_config_t *c = g_cfg;
    (void)state;

    int rc = desk_config_load(c, path);
    if (rc != 0)
        print_error("%s\n", desk_errmsg());
    assert_int_equal(rc, 0);
    assert_string_equal(c->path, path);
    assert_string_equal(c->dir, DESK_SOURCE_DIR);
    assert_string_equal(c->name, "demo");
    assert_int_equal(c->idle, DESK_IDLE_BACKOFF);
    assert_int_equal(c->idle_max_us, 200);
    assert_int_equal(c->router_cpu, -1);
    assert_int_equal(c->order_capacity, 65536);
    assert_int_equal(c->status_interval_ms, 100);
    assert_int_equal(c->recon_cash_tolerance, DESK_SCALE / 100); /* 0.01 */
    assert_int_equal(c->recon_bp_tolerance_bps, 100);

    assert_int_equal(c->limits.max_order_qty, 50000000);               /* 0.5 */
    assert_int_equal(c->limits.max_order_notional, 5000000000000LL);   /* 50000 */
    assert_int_equal(c->limits.max_position_qty, 200000000);           /* 2 */
    assert_int_equal(c->limits.max_position_notional, 15000000000000LL); /* 150000 */
    assert_int_equal(c->limits.daily_loss, 500000000000LL);            /* 5000 */
    assert_int_equal(c->limits.collar_bps, 200);
    assert_int_equal(c->limits.orders_per_sec, 500);
    assert_int_equal(c->limits.burst, 1000);

    assert_int_equal(c->nconnectors, 1);
    const desk_connector_conf_t *cc = &c->connectors[0];
    assert_string_equal(cc->name, "paper");
    assert_string_equal(cc->type, "paper");
    assert_string_equal(cc->path, "");
    assert_int_equal(cc->venue_type, DESK_VENUE_CRYPTO);
    assert_int_equal(cc->cpu, -1);
    assert_int_equal(cc->thread, 0);
    assert_int_equal(cc->nopts, 8);
    static const char *const kv[][2] = {
        {"data", "binance_spot_btcusdt_2024-08-08/btcusdt_20240808.gz"},
        {"speed", "15"},
        {"fee_bps", "1"},
        {"maker_fee_bps", "0"},
        {"latency_us", "50"},
        {"cash", "100000"},
        {"loop", "false"},
        {"reconcile_interval_ms", "5000"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        const desk_opt_t *o = opt(cc, kv[i][0]);
        assert_non_null(o);
        assert_string_equal(o->value, kv[i][1]);
        assert_int_equal(o->secret, 0);
        assert_true(o->line > 0);
    }
    /* Options keep their file order. */
    assert_string_equal(cc->optv[0].key, "data");
    assert_string_equal(cc->optv[6].key, "loop");
    assert_true(cc->optv[0].line < cc->optv[6].line);
    assert_ptr_equal(cc->optv[0].value, cc->opts[0].value);

    assert_int_equal(c->ninstruments, 1);
    const desk_instrument_conf_t *ic = &c->instruments[0];
    assert_string_equal(ic->symbol, "BTCUSDT");
    assert_string_equal(ic->venue, "paper");
    assert_int_equal(ic->asset_class, DESK_ASSET_CRYPTO);
    assert_int_equal(ic->tick_size, 1000000);
    assert_int_equal(ic->lot_size, 1000);
    assert_int_equal(ic->min_notional, 500000000);
    assert_int_equal(ic->open_min, -1);
    assert_int_equal(ic->close_min, -1);

    assert_int_equal(c->nstrategies, 1);
    const desk_strategy_conf_t *sc = &c->strategies[0];
    assert_string_equal(sc->name, "mm");
    assert_int_equal(sc->uid, geteuid());
    assert_int_equal(sc->gid, getegid());
    assert_int_equal(sc->mode, 0600);
    assert_int_equal(sc->cancel_on_disconnect, 1);
    assert_int_equal(sc->order_ring, 4096);
    assert_int_equal(sc->event_ring, 16384);
    assert_int_equal(sc->limits.max_order_qty, 5000000);     /* 0.05 */
    assert_int_equal(sc->limits.max_position_qty, 50000000); /* 0.5 */
    assert_int_equal(sc->limits.orders_per_sec, 200);
    assert_int_equal(sc->limits.burst, 200); /* defaults to orders_per_sec */
    assert_int_equal(sc->limits.max_order_notional, 0);
}

/* ---- defaults and small valid files ---- */

static void test_minimal_defaults(void **state)
{
    (void)state;
    expect_ok(HDR);
    assert_string_equal(g_cfg->name, "t");
    assert_int_equal(g_cfg->idle, DESK_IDLE_BACKOFF);
    assert_int_equal(g_cfg->idle_max_us, 200);
    assert_int_equal(g_cfg->order_capacity, 65536);
    assert_int_equal(g_cfg->status_interval_ms, 100);
    assert_int_equal(g_cfg->router_cpu, -1);
    assert_int_equal(g_cfg->recon_cash_tolerance, DESK_SCALE / 100);
    assert_int_equal(g_cfg->recon_bp_tolerance_bps, 100);
    assert_int_equal(g_cfg->nconnectors + g_cfg->ninstruments + g_cfg->nstrategies, 0);
    assert_string_equal(g_cfg->path, "desk.toml");
    assert_string_equal(g_cfg->dir, ".");

    assert_int_equal(desk_config_load_string(g_cfg, HDR, strlen(HDR), "/etc/desk/x.toml"), 0);
    assert_string_equal(g_cfg->dir, "/etc/desk");
    assert_int_equal(desk_config_load_string(g_cfg, HDR, strlen(HDR), "/x.toml"), 0);
    assert_string_equal(g_cfg->dir, "/");

    expect_ok("[desk]\nname = \"a-B_9\"\nidle = \"spin\"\nidle_max_us = 1000000\n"
              "router_cpu = 3\norder_capacity = 1024\nstatus_interval_ms = 10000\n");
    assert_int_equal(g_cfg->idle, DESK_IDLE_SPIN);
    assert_int_equal(g_cfg->router_cpu, 3);
    assert_int_equal(g_cfg->order_capacity, 1024);
    assert_int_equal(g_cfg->status_interval_ms, 10000);

    expect_ok(HDR "[reconcile]\ncash_tolerance = \"0.5\"\nbuying_power_tolerance_bps = 0\n");
    assert_int_equal(g_cfg->recon_cash_tolerance, DESK_SCALE / 2);
    assert_int_equal(g_cfg->recon_bp_tolerance_bps, 0);
}

static void test_idle_parse(void **state)
{
    desk_idle_t i;
    (void)state;
    assert_int_equal(desk_idle_parse("spin", &i), 0);
    assert_int_equal(i, DESK_IDLE_SPIN);
    assert_int_equal(desk_idle_parse("yield", &i), 0);
    assert_int_equal(i, DESK_IDLE_YIELD);
    assert_int_equal(desk_idle_parse("backoff", &i), 0);
    assert_int_equal(i, DESK_IDLE_BACKOFF);
    assert_int_equal(desk_idle_parse("Spin", &i), -EINVAL);
    assert_int_equal(desk_idle_parse("", &i), -EINVAL);
    expect_fail("[desk]\nname = \"t\"\nidle = \"sleep\"\n", -EINVAL, 3, "'desk.idle'");
}

static void test_file_errors(void **state)
{
    (void)state;
    assert_int_equal(desk_config_load(g_cfg, "/nonexistent/desk.toml"), -ENOENT);
    assert_non_null(strstr(desk_errmsg(), "/nonexistent/desk.toml"));
    assert_int_equal(desk_config_load(g_cfg, DESK_SOURCE_DIR), -EISDIR);
}

static void test_syntax_error(void **state)
{
    (void)state;
    /* Line 3, with a column. */
    expect_fail(HDR "idle = = 3\n", -EBADMSG, 3, "desk.toml:3:");
    expect_fail("[desk]\nname = \"unterminated\n", -EBADMSG, 2, "desk.toml:2:");
    /* Duplicate keys are a TOML error. */
    expect_fail(HDR "name = \"u\"\n", -EBADMSG, 3, "desk.toml:3:");
}

/* ---- unknown keys at every level ---- */

static void test_unknown_keys(void **state)
{
    (void)state;
    expect_fail(HDR "[desks]\nx = 1\n", -EINVAL, 3, "unknown key 'desks'");
    expect_fail(HDR "nmae = \"x\"\n", -EINVAL, 3, "unknown key 'desk.nmae'");
    expect_fail(HDR "[guard]\nmax_qty = \"1\"\n", -EINVAL, 4, "unknown key 'guard.max_qty'");
    expect_fail(HDR "[reconcile]\ncash_tol = \"1\"\n", -EINVAL, 4,
                "unknown key 'reconcile.cash_tol'");
    expect_fail(HDR CONN "optionz = 1\n", -EINVAL, 7, "unknown key 'connector[0].optionz'");
    expect_fail(HDR CONN INST "limit = 3\n", -EINVAL, 13, "unknown key 'instrument[0].limit'");
    expect_fail(HDR CONN INST "[instrument.limits]\nmax_qty = 1\n", -EINVAL, 14,
                "unknown key 'instrument[0].limits.max_qty'");
    expect_fail(HDR "[[strategy]]\nname = \"s\"\nmaxqty = 1\n", -EINVAL, 5,
                "unknown key 'strategy[0].maxqty'");
    expect_fail(HDR "[[strategy]]\nname = \"s\"\n[strategy.limits]\nburts = 1\n", -EINVAL, 6,
                "unknown key 'strategy[0].limits.burts'");
    /* A second element: the index says which. */
    expect_fail(HDR "[[strategy]]\nname = \"s\"\n[[strategy]]\nname = \"u\"\nfoo = true\n",
                -EINVAL, 7, "unknown key 'strategy[1].foo'");
    /* Credential references take exactly one of env / file. */
    expect_fail(HDR CONN "[connector.options]\nuser = { env = \"A\", x = 1 }\n", -EINVAL, 8,
                "'connector[0].options.user' must be { env");
}

/* ---- wrong types ---- */

static void test_wrong_types(void **state)
{
    (void)state;
    expect_fail("[desk]\nname = 5\n", -EINVAL, 2, "'desk.name' must be a string, not an integer");
    expect_fail("desk = 3\n", -EINVAL, 1, "'desk' must be a table");
    expect_fail(HDR "idle_max_us = \"200\"\n", -EINVAL, 3, "'desk.idle_max_us' must be an integer");
    expect_fail(HDR "[connector]\nname = \"p\"\n", -EINVAL, 3,
                "'connector' must be an array of tables ([[connector]])");
    expect_fail(HDR "[[strategy]]\nname = \"s\"\ncancel_on_disconnect = 1\n", -EINVAL, 5,
                "'strategy[0].cancel_on_disconnect' must be true or false");
    expect_fail(HDR "[[strategy]]\nname = \"s\"\nlimits = 5\n", -EINVAL, 5,
                "'strategy[0].limits' must be a table");
    expect_fail(HDR CONN "[connector.options]\nlist = [1, 2]\n", -EINVAL, 8,
                "'connector[0].options.list' must be a string");
    expect_fail(HDR "[guard]\ncollar_bps = \"200\"\n", -EINVAL, 4, "'guard.collar_bps'");
    expect_fail(HDR "[guard]\nmax_order_qty = true\n", -EINVAL, 4, "'guard.max_order_qty'");
    expect_fail("strategy = [1]\n" HDR, -EINVAL, 1, "'strategy[0]' must be a table");
    /* A NUL inside a string would cut it silently in C. */
    expect_fail("[desk]\nname = \"a\\u0000b\"\n", -EINVAL, 2, "'desk.name' contains a NUL");
}

/* ---- out of range ---- */

static void test_out_of_range(void **state)
{
    (void)state;
    expect_fail(HDR "idle_max_us = 0\n", -EINVAL, 3, "'desk.idle_max_us' = 0 is out of range");
    expect_fail(HDR "idle_max_us = 1000001\n", -EINVAL, 3, "'desk.idle_max_us'");
    expect_fail(HDR "router_cpu = -2\n", -EINVAL, 3, "'desk.router_cpu' = -2 is out of range");
    expect_fail(HDR "status_interval_ms = 9\n", -EINVAL, 3, "'desk.status_interval_ms'");
    expect_fail(HDR "order_capacity = 512\n", -EINVAL, 3, "'desk.order_capacity' = 512");
    expect_fail(HDR "order_capacity = 3000\n", -EINVAL, 3,
                "'desk.order_capacity' = 3000 is not a power of two");
    expect_fail(HDR "[guard]\ncollar_bps = -1\n", -EINVAL, 4, "'guard.collar_bps' = -1");
    expect_fail(HDR "[guard]\norders_per_sec = 4294967296\n", -EINVAL, 4,
                "'guard.orders_per_sec'");
    expect_fail(HDR "[guard]\ndaily_loss = \"-5\"\n", -EINVAL, 4,
                "'guard.daily_loss' must be >= 0");
    expect_fail(HDR "[reconcile]\ncash_tolerance = \"-0.01\"\n", -EINVAL, 4,
                "'reconcile.cash_tolerance' must be >= 0");
    expect_fail(HDR "[reconcile]\nbuying_power_tolerance_bps = 10001\n", -EINVAL, 4,
                "'reconcile.buying_power_tolerance_bps'");
    expect_fail(HDR CONN "cpu = 5000\n", -EINVAL, 7, "'connector[0].cpu'");
    expect_fail(HDR CONN "thread = -1\n", -EINVAL, 7, "'connector[0].thread'");
    expect_fail("[desk]\nname = \"has space\"\n", -EINVAL, 2, "'desk.name'");
    expect_fail("[desk]\nname = \"\"\n", -EINVAL, 2, "'desk.name' is empty");
    expect_fail(HDR "[[connector]]\nname = \"p\"\ntype = \"kraken\"\nvenue_type = \"crypto\"\n",
                -EINVAL, 5, "'connector[0].type' = \"kraken\"");
    expect_fail(HDR "[[connector]]\nname = \"p\"\ntype = \"paper\"\nvenue_type = \"stocks\"\n",
                -EINVAL, 6, "'connector[0].venue_type' = \"stocks\"");
    expect_fail(HDR CONN "[[instrument]]\nsymbol = \"X\"\nvenue = \"paper\"\n"
                         "asset_class = \"bond\"\n",
                -EINVAL, 10, "'instrument[0].asset_class' = \"bond\"");
    expect_fail(HDR CONN INST "min_notional = \"-1\"\n", -EINVAL, 13,
                "'instrument[0].min_notional' must be >= 0");
    expect_fail(HDR CONN "[[instrument]]\nsymbol = \"X\"\nvenue = \"paper\"\n"
                         "asset_class = \"crypto\"\ntick_size = \"0\"\n",
                -EINVAL, 11, "'instrument[0].tick_size' must be > 0");
    expect_fail(HDR CONN INST "min_notional = \"0.000000001\"\n", -EINVAL, 13,
                "'instrument[0].min_notional' = \"0.000000001\" cannot be represented");
}

/* ---- strings too long for their field ---- */

static void test_too_long(void **state)
{
    char buf[2048];
    char big[600];
    (void)state;

    expect_fail("[desk]\nname = \"abcdefghijabcdefghijabcdefghij12\"\n", -EINVAL, 2,
                "'desk.name' is too long: 32 bytes (at most 31)");
    expect_ok("[desk]\nname = \"abcdefghijabcdefghijabcdefghij1\"\n"); /* 31 fits */
    expect_fail(HDR CONN INST "[[instrument]]\nsymbol = \"ABCDEFGHIJKLMNOP\"\n", -EINVAL, 14,
                "'instrument[1].symbol' is too long: 16 bytes (at most 15)");
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(buf, sizeof buf, HDR CONN "[connector.options]\nurl = \"%s\"\n", big);
    expect_fail(buf, -EINVAL, 8, "'connector[0].options.url' is too long: 599 bytes");
    big[511] = '\0'; /* 511 bytes + NUL fits DESK_OPT_VALUE_MAX */
    snprintf(buf, sizeof buf, HDR CONN "[connector.options]\nurl = \"%s\"\n", big);
    expect_ok(buf);
    assert_int_equal(strlen(g_cfg->connectors[0].opts[0].value), 511);
    expect_fail(HDR CONN "[connector.options]\nabcdefghijabcdefghijabcdefghij123 = 1\n", -EINVAL,
                8, "option names are 1..31 bytes");
}

/* ---- missing required keys: reported at the line of their table ---- */

static void test_missing_required(void **state)
{
    (void)state;
    expect_fail("[guard]\ncollar_bps = 1\n", -EINVAL, 1, "missing required key 'desk.name'");
    expect_fail("# comment\n[desk]\nidle = \"spin\"\n", -EINVAL, 2,
                "missing required key 'desk.name'");
    expect_fail(HDR "[[connector]]\nname = \"p\"\nvenue_type = \"crypto\"\n", -EINVAL, 3,
                "missing required key 'connector[0].type'");
    expect_fail(HDR "[[connector]]\ntype = \"paper\"\nvenue_type = \"crypto\"\n", -EINVAL, 3,
                "missing required key 'connector[0].name'");
    expect_fail(HDR "[[connector]]\nname = \"p\"\ntype = \"paper\"\n", -EINVAL, 3,
                "missing required key 'connector[0].venue_type'");
    expect_fail(HDR "[[connector]]\nname = \"p\"\ntype = \"custom\"\nvenue_type = \"crypto\"\n",
                -EINVAL, 3, "missing required key 'connector[0].path'");
    expect_fail(HDR CONN "path = \"/x.so\"\n", -EINVAL, 7,
                "'connector[0].path' is only for type = \"custom\"");
    expect_fail(HDR CONN "\n[[instrument]]\nsymbol = \"X\"\nvenue = \"paper\"\n"
                         "asset_class = \"crypto\"\nlot_size = \"1\"\n",
                -EINVAL, 8, "missing required key 'instrument[0].tick_size'");
    expect_fail(HDR "[[strategy]]\nmode = \"0600\"\n", -EINVAL, 3,
                "missing required key 'strategy[0].name'");

    expect_ok(HDR "[[connector]]\nname = \"c\"\ntype = \"custom\"\npath = \"/opt/c.so\"\n"
                  "venue_type = \"futures\"\n");
    assert_string_equal(g_cfg->connectors[0].path, "/opt/c.so");
    assert_int_equal(g_cfg->connectors[0].venue_type, DESK_VENUE_FUTURES);
}

/* ---- duplicate names and unknown venues ---- */

static void test_duplicates_and_venue(void **state)
{
    (void)state;
    expect_fail(HDR CONN CONN, -EINVAL, 8,
                "'connector[1].name' = \"paper\": duplicate connector name (first at line 4)");
    expect_fail(HDR "[[strategy]]\nname = \"s\"\n[[strategy]]\nname = \"s\"\n", -EINVAL, 6,
                "'strategy[1].name' = \"s\": duplicate strategy name (first at line 4)");
    expect_fail(HDR CONN INST INST, -EINVAL, 14,
                "'instrument[1].symbol' = \"BTCUSDT\": duplicate instrument on venue 'paper' "
                "(first at line 8)");
    /* The same symbol on two venues is two instruments. */
    expect_ok(HDR CONN "[[connector]]\nname = \"p2\"\ntype = \"paper\"\nvenue_type = \"crypto\"\n"
              INST "[[instrument]]\nsymbol = \"BTCUSDT\"\nvenue = \"p2\"\n"
              "asset_class = \"crypto\"\n"
              "tick_size = \"0.01\"\nlot_size = 1\n");
    assert_int_equal(g_cfg->ninstruments, 2);
    assert_int_equal(g_cfg->instruments[1].lot_size, 100000000);
    /* An instrument must name a connector. */
    expect_fail(HDR CONN "[[instrument]]\nsymbol = \"X\"\nvenue = \"binance\"\n"
                         "asset_class = \"crypto\"\ntick_size = \"1\"\nlot_size = \"1\"\n",
                -EINVAL, 9, "'instrument[0].venue' = \"binance\" names no [[connector]]");
}

/* ---- counts above DESK_MAX_* ---- */

static void test_counts(void **state)
{
    char *buf = malloc(64 * 1024);
    size_t n = 0;
    (void)state;
    assert_non_null(buf);

    n += (size_t)sprintf(buf + n, HDR);
    for (int i = 0; i <= DESK_MAX_CONNECTORS; i++)
        n += (size_t)sprintf(buf + n,
                             "[[connector]]\nname = \"c%d\"\ntype = \"paper\"\n"
                             "venue_type = \"crypto\"\n",
                             i);
    /* The 17th [[connector]] starts at line 3 + 16 * 4. */
    expect_fail(buf, -EINVAL, 3 + DESK_MAX_CONNECTORS * 4, "too many [[connector]]: at most 16");

    n = (size_t)sprintf(buf, HDR CONN "[connector.options]\n");
    for (int i = 0; i <= DESK_MAX_OPTS; i++)
        n += (size_t)sprintf(buf + n, "o%d = %d\n", i, i);
    expect_fail(buf, -EINVAL, 7, "'connector[0].options' has 33 options (at most 32)");

    n = (size_t)sprintf(buf, HDR);
    for (int i = 0; i <= DESK_MAX_STRATEGIES; i++)
        n += (size_t)sprintf(buf + n, "[[strategy]]\nname = \"s%d\"\n", i);
    expect_fail(buf, -EINVAL, 3 + DESK_MAX_STRATEGIES * 2, "too many [[strategy]]: at most 32");
    buf[n - strlen("[[strategy]]\nname = \"s32\"\n")] = '\0'; /* exactly 32 loads */
    expect_ok(buf);
    assert_int_equal(g_cfg->nstrategies, DESK_MAX_STRATEGIES);
    free(buf);
}

/* ---- credentials ---- */

static void test_literal_secret(void **state)
{
    (void)state;
    expect_fail(HDR CONN "[connector.options]\napi_key = \"AKIA123\"\n", -EINVAL, 8,
                "'connector[0].options.api_key' is a literal secret: use { env = \"VAR\" } or "
                "{ file = \"/path\" }");
    expect_fail(HDR CONN "[connector.options]\nAPI_SECRET = 12345\n", -EINVAL, 8,
                "'connector[0].options.API_SECRET' is a literal secret");
    expect_fail(HDR CONN "[connector.options]\nlogin = { password = \"x\" }\n", -EINVAL, 8,
                "'connector[0].options.login.password' is a literal secret");
    /* Anywhere, even where the key itself is unknown. */
    expect_fail(HDR "passphrase = \"hunter2\"\n", -EINVAL, 3,
                "'desk.passphrase' is a literal secret");
    expect_fail("auth_token = \"abc\"\n" HDR, -EINVAL, 1, "'auth_token' is a literal secret");
    /* A boolean is not a secret; a credential reference is fine. */
    expect_fail(HDR CONN "[connector.options]\nuse_token = true\napi_key = { env = \"DESK_NOPE_"
                         "UNSET\" }\n",
                -EINVAL, 9, "DESK_NOPE_UNSET");
}

static void test_env_credential(void **state)
{
    const desk_opt_t *o;
    (void)state;

    assert_int_equal(setenv("DESK_TEST_KEY_ID", "AK-test-123", 1), 0);
    expect_ok(HDR CONN "[connector.options]\nbase = \"https://x\"\napi_key_id = { env = "
                       "\"DESK_TEST_KEY_ID\" }\nport = 443\n");
    assert_int_equal(g_cfg->connectors[0].nopts, 3);
    o = opt(&g_cfg->connectors[0], "api_key_id");
    assert_non_null(o);
    assert_string_equal(o->value, "AK-test-123");
    assert_int_equal(o->secret, 1);
    assert_int_equal(o->line, 9);
    o = opt(&g_cfg->connectors[0], "base");
    assert_int_equal(o->secret, 0);
    o = opt(&g_cfg->connectors[0], "port");
    assert_string_equal(o->value, "443");

    unsetenv("DESK_TEST_MISSING_VAR");
    expect_fail(HDR CONN "[connector.options]\n\ntoken = { env = \"DESK_TEST_MISSING_VAR\" }\n",
                -EINVAL, 9,
                "'connector[0].options.token': environment variable DESK_TEST_MISSING_VAR is "
                "not set");
    /* The failed load wiped the earlier success; nothing secret is left. */
    assert_int_equal(g_cfg->connectors[0].nopts, 0);
    assert_int_equal(g_cfg->connectors[0].opts[0].value[0], 0);
    unsetenv("DESK_TEST_KEY_ID");
}

static void test_file_credential(void **state)
{
    char dir[] = "/tmp/desk_config_test.XXXXXX";
    char file[256], name[256], text[1024];
    FILE *f;
    const desk_opt_t *o;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/secret", dir);
    f = fopen(file, "w");
    assert_non_null(f);
    fputs("s3cr3t-value\n", f);
    fclose(f);

    /* Absolute path. */
    snprintf(text, sizeof text, HDR CONN "[connector.options]\napi_secret = { file = \"%s\" }\n",
             file);
    expect_ok(text);
    o = opt(&g_cfg->connectors[0], "api_secret");
    assert_non_null(o);
    assert_string_equal(o->value, "s3cr3t-value"); /* trailing newline stripped */
    assert_int_equal(o->secret, 1);

    /* Relative to the directory of desk.toml. */
    snprintf(name, sizeof name, "%s/desk.toml", dir);
    const char *rel = HDR CONN "[connector.options]\napi_secret = { file = \"secret\" }\n";
    assert_int_equal(desk_config_load_string(g_cfg, rel, strlen(rel), name), 0);
    assert_string_equal(g_cfg->dir, dir);
    assert_string_equal(g_cfg->connectors[0].opts[0].value, "s3cr3t-value");

    /* An unreadable file names the key, the line and the path. */
    snprintf(text, sizeof text,
             HDR CONN "[connector.options]\napi_secret = { file = \"%s/nope\" }\n", dir);
    expect_fail(text, -EINVAL, 8, "'connector[0].options.api_secret': cannot read credential file");
    assert_non_null(strstr(desk_errmsg(), "/nope"));

    /* An empty secret is refused. */
    f = fopen(file, "w");
    assert_non_null(f);
    fputs("\n", f);
    fclose(f);
    snprintf(text, sizeof text, HDR CONN "[connector.options]\napi_secret = { file = \"%s\" }\n",
             file);
    expect_fail(text, -EINVAL, 8, "is empty");

    unlink(file);
    rmdir(dir);
}

/* ---- decimals ---- */

static void test_decimals(void **state)
{
    (void)state;
    expect_fail(HDR CONN "[[instrument]]\nsymbol = \"X\"\nvenue = \"paper\"\n"
                         "asset_class = \"crypto\"\ntick_size = 0.01\n",
                -EINVAL, 11,
                "'instrument[0].tick_size' is a float: write it as a string: \"0.01\"");
    expect_fail(HDR "[guard]\nmax_order_qty = 1.5\n", -EINVAL, 4,
                "'guard.max_order_qty' is a float: write it as a string: \"1.5\"");
    expect_fail(HDR CONN "[connector.options]\nfee = 0.1\n", -EINVAL, 8,
                "'connector[0].options.fee' is a float: write decimals as strings");
    expect_fail(HDR "[guard]\nmax_order_qty = \"1,5\"\n", -EINVAL, 4,
                "'guard.max_order_qty' = \"1,5\" is not a decimal");
    expect_fail(HDR "[guard]\nmax_order_qty = \"0.000000001\"\n", -EINVAL, 4,
                "'guard.max_order_qty' = \"0.000000001\" cannot be represented exactly");
    expect_fail(HDR "[guard]\nmax_order_notional = 92233720369\n", -EINVAL, 4,
                "'guard.max_order_notional' = 92233720369 is too large");

    /* Integers are scaled by 1e8; strings are exact. */
    expect_ok(HDR "[guard]\nmax_order_qty = 3\nmax_order_notional = 92233720368\n"
                  "daily_loss = \"0.00000001\"\nmax_position_qty = \"10.5\"\n");
    assert_int_equal(g_cfg->limits.max_order_qty, 300000000);
    assert_int_equal(g_cfg->limits.max_order_notional, 9223372036800000000LL);
    assert_int_equal(g_cfg->limits.daily_loss, 1);
    assert_int_equal(g_cfg->limits.max_position_qty, 1050000000);
    assert_int_equal(g_cfg->limits.burst, 0);

    expect_ok(HDR "[guard]\norders_per_sec = 50\nburst = 7\n");
    assert_int_equal(g_cfg->limits.orders_per_sec, 50);
    assert_int_equal(g_cfg->limits.burst, 7);
}

/* ---- trading hours ---- */

static void test_hours(void **state)
{
    (void)state;
    expect_ok(HDR CONN INST "hours = \"13:30-20:00\"\n");
    assert_int_equal(g_cfg->instruments[0].open_min, 13 * 60 + 30);
    assert_int_equal(g_cfg->instruments[0].close_min, 20 * 60);
    expect_ok(HDR CONN INST "hours = \"22:00-06:15\"\n"); /* spans midnight */
    assert_int_equal(g_cfg->instruments[0].open_min, 22 * 60);
    assert_int_equal(g_cfg->instruments[0].close_min, 6 * 60 + 15);
    expect_ok(HDR CONN INST "hours = \"always\"\n");
    assert_int_equal(g_cfg->instruments[0].open_min, -1);
    assert_int_equal(g_cfg->instruments[0].close_min, -1);
    expect_ok(HDR CONN INST);
    assert_int_equal(g_cfg->instruments[0].open_min, -1);
    assert_int_equal(g_cfg->instruments[0].close_min, -1);

    static const char *const bad[] = {"9:30-16:00", "24:00-01:00", "09:60-16:00", "09:30-16:00x",
                                      "09:30 16:00", "",           "10:00-10:00", "Always"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[512];
        snprintf(buf, sizeof buf, HDR CONN INST "hours = \"%s\"\n", bad[i]);
        expect_fail(buf, -EINVAL, 13, "'instrument[0].hours'");
    }
}

/* ---- strategies: rings, owner, group, mode ---- */

static void test_rings(void **state)
{
    (void)state;
    expect_fail(HDR "[[strategy]]\nname = \"s\"\norder_ring = 1000\n", -EINVAL, 5,
                "'strategy[0].order_ring' = 1000 is not a power of two");
    expect_fail(HDR "[[strategy]]\nname = \"s\"\nevent_ring = 24576\n", -EINVAL, 5,
                "'strategy[0].event_ring' = 24576 is not a power of two");
    expect_fail(HDR "[[strategy]]\nname = \"s\"\norder_ring = 32\n", -EINVAL, 5,
                "'strategy[0].order_ring' = 32 is out of range (64..1048576)");
    expect_fail(HDR "[[strategy]]\nname = \"s\"\nevent_ring = 2097152\n", -EINVAL, 5,
                "'strategy[0].event_ring' = 2097152 is out of range");
    expect_ok(HDR "[[strategy]]\nname = \"s\"\norder_ring = 64\nevent_ring = 1048576\n"
                  "cancel_on_disconnect = false\n");
    assert_int_equal(g_cfg->strategies[0].order_ring, 64);
    assert_int_equal(g_cfg->strategies[0].event_ring, 1048576);
    assert_int_equal(g_cfg->strategies[0].cancel_on_disconnect, 0);
}

static void test_owner_group_mode(void **state)
{
    (void)state;
    expect_ok(HDR "[[strategy]]\nname = \"s\"\nowner = \"root\"\ngroup = \"root\"\n"
                  "mode = \"0660\"\n");
    assert_int_equal(g_cfg->strategies[0].uid, 0);
    assert_int_equal(g_cfg->strategies[0].gid, 0);
    assert_int_equal(g_cfg->strategies[0].mode, 0660);

    expect_ok(HDR "[[strategy]]\nname = \"s\"\nowner = 1234\ngroup = \"4321\"\nmode = \"640\"\n");
    assert_int_equal(g_cfg->strategies[0].uid, 1234);
    assert_int_equal(g_cfg->strategies[0].gid, 4321);
    assert_int_equal(g_cfg->strategies[0].mode, 0640);

    expect_ok(HDR "[[strategy]]\nname = \"s\"\nowner = \"5678\"\ngroup = 0\n");
    assert_int_equal(g_cfg->strategies[0].uid, 5678);
    assert_int_equal(g_cfg->strategies[0].gid, 0);
    assert_int_equal(g_cfg->strategies[0].mode, 0600);

    expect_fail(HDR "[[strategy]]\nname = \"s\"\nowner = \"no_such_user_desk\"\n", -EINVAL, 5,
                "'strategy[0].owner' = \"no_such_user_desk\": no such user");
    expect_fail(HDR "[[strategy]]\nname = \"s\"\ngroup = \"no_such_group_desk\"\n", -EINVAL, 5,
                "'strategy[0].group' = \"no_such_group_desk\": no such group");
    expect_fail(HDR "[[strategy]]\nname = \"s\"\nowner = -1\n", -EINVAL, 5,
                "'strategy[0].owner' = -1 is out of range");
    expect_fail(HDR "[[strategy]]\nname = \"s\"\nmode = 600\n", -EINVAL, 5,
                "'strategy[0].mode' must be an octal string");
    expect_fail(HDR "[[strategy]]\nname = \"s\"\nmode = \"0800\"\n", -EINVAL, 5,
                "'strategy[0].mode' = \"0800\" is not octal");
    expect_fail(HDR "[[strategy]]\nname = \"s\"\nmode = \"4755\"\n", -EINVAL, 5,
                "'strategy[0].mode' = \"4755\": only permission bits");
}

/* ---- connector threads ---- */

static void test_threads(void **state)
{
    (void)state;
    expect_ok(HDR "[[connector]]\nname = \"a\"\ntype = \"paper\"\nvenue_type = \"crypto\"\n"
                  "[[connector]]\nname = \"b\"\ntype = \"paper\"\nvenue_type = \"cash\"\n"
                  "thread = 0\n"
                  "[[connector]]\nname = \"c\"\ntype = \"paper\"\nvenue_type = \"options\"\n"
                  "[[connector]]\nname = \"d\"\ntype = \"paper\"\nvenue_type = \"equities\"\n"
                  "thread = 0\ncpu = 1\n");
    const desk_connector_conf_t *cc = g_cfg->connectors;
    assert_int_equal(g_cfg->nconnectors, 4);
    assert_int_equal(cc[1].thread, 0);
    assert_int_equal(cc[3].thread, 0); /* b and d share thread 0 */
    assert_int_equal(cc[3].cpu, 1);
    assert_int_not_equal(cc[0].thread, 0);
    assert_int_not_equal(cc[2].thread, 0);
    assert_int_not_equal(cc[0].thread, cc[2].thread);
    assert_int_equal(cc[0].venue_type, DESK_VENUE_CRYPTO);
    assert_int_equal(cc[1].venue_type, DESK_VENUE_CASH);
    assert_int_equal(cc[2].venue_type, DESK_VENUE_OPTIONS);
    assert_int_equal(cc[3].venue_type, DESK_VENUE_EQUITIES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_idle_parse),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_duplicates_and_venue),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_literal_secret),
        cmocka_unit_test(test_env_credential),
        cmocka_unit_test(test_file_credential),
        cmocka_unit_test(test_decimals),
        cmocka_unit_test(test_hours),
        cmocka_unit_test(test_rings),
        cmocka_unit_test(test_owner_group_mode),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
