/*
 * status_test.c - `desk status` rendering and the kill-switch client.
 *
 * The renderer is compiled in here (tools/status.c is included below), so
 * the test builds a fake main segment in plain memory with
 * desk_shm_main_layout(), fills every block the way deskd would (seqlocked
 * blocks through desk_seqlock_write), and checks:
 *   - the text: the figures, health strings, rejects by reason, "showing N
 *     of TOTAL", STALE, and that no line is wider than 100 columns;
 *   - the JSON: parsed with cJSON, exact fixed-point strings, counts, p99
 *     figures equal to desk_hist_quantile(), nulls for absent things;
 *   - a corrupt header is refused with -EPROTO, and a seqlock left odd by a
 *     dead writer does not hang the renderer;
 *   - desk_cli_status on a real segment (shm) with --json, with --watch
 *     --json until SIGINT (one object per line), and on no desk;
 *   - desk_cli_kill against this process standing in for deskd: confirmed,
 *     not confirmed within 3 s, deskd gone, no desk.
 */
/* gcc 12 at -O3 mistakes render()'s open_memstream buffer for a local and
 * warns of a dangling pointer that is not one. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>

#include "../../tools/status.c"

#define NOW UINT64_C(1000000000000000) /* a fixed desk_now_ns() for the fake segment */
#define SEC UINT64_C(1000000000)

/* ---- building a main segment ---------------------------------------------- */

static void put_quote(struct desk_main_hdr *h, uint32_t id, const desk_quote_t *q)
{
    struct desk_quote_slot *s = &desk_shm_quotes(h)[id];

    desk_seqlock_write(&s->lock, &s->q, q, sizeof *q);
}

static void put_health(struct desk_conn_shm *c, uint64_t state, uint64_t since, const char *why)
{
    struct desk_conn_health hl;

    memset(&hl, 0, sizeof hl);
    hl.state = state;
    hl.since_ns = since;
    snprintf(hl.reason, sizeof hl.reason, "%s", why);
    desk_seqlock_write(&c->hlock, &c->health, &hl, sizeof hl);
}

/*
 * Fill a laid-out, zeroed main segment: 2 connectors (paper UP, binance
 * DEGRADED), 2 instruments (BTCUSDT quoted, ETHUSDT not), 1 strategy, the
 * UTA, counters, rejects, histograms, and 2 of 5 open orders.  `now` is the
 * clock every age is relative to.
 */
static void fill(struct desk_main_hdr *h, uint64_t now)
{
    h->magic = DESK_MAIN_MAGIC;
    h->abi_version = DESK_ABI_VERSION;
    h->layout_hash = desk_shm_layout_hash();
    snprintf(h->name, sizeof h->name, "demo");
    h->router_pid = (int32_t)getpid();
    h->start_wall_ns = UINT64_C(1723075200) * SEC; /* 2024-08-08 00:00:00 UTC */
    h->start_mono_ns = now - 3723 * SEC;           /* up 1h02m03s */
    atomic_store(&h->heartbeat_ns, now - 1500000); /* 1.50 ms ago */
    atomic_store(&h->run_state, DESK_RUN_RUNNING);
    atomic_store(&h->kill, DESK_KILL_REDUCING);
    atomic_store(&h->kill_seq, 2);

    struct desk_conn_shm *c = desk_shm_conns(h);
    snprintf(c[0].name, sizeof c[0].name, "paper");
    snprintf(c[0].type, sizeof c[0].type, "paper");
    c[0].venue_type = DESK_VENUE_CRYPTO;
    put_health(&c[0], DESK_UP, now - 12 * SEC, "connected");
    atomic_store(&c[0].last_quote_ns, now - 3100000); /* 3.10 ms */
    atomic_store(&c[0].quotes, 123456);
    atomic_store(&c[0].cmds, 40);
    atomic_store(&c[0].routed, 41);
    atomic_store(&c[0].acks, 38);
    atomic_store(&c[0].fills, 17);
    atomic_store(&c[0].rejects, 2);
    atomic_store(&c[0].cmd_ring_depth, 3);
    for (uint64_t v = 1; v <= 100; v++)
        desk_hist_record(&c[0].dispatch, v * 1000);
    snprintf(c[1].name, sizeof c[1].name, "binance");
    snprintf(c[1].type, sizeof c[1].type, "binance");
    c[1].venue_type = DESK_VENUE_CRYPTO;
    c[1].index = 1;
    put_health(&c[1], DESK_DEGRADED, now - 75 * SEC, "heartbeat missed: \"pong\" late");

    desk_instrument_t *in = desk_shm_instruments(h);
    in[0] = (desk_instrument_t){.id = 0, .connector = 0, .asset_class = DESK_ASSET_CRYPTO,
                                .tradable = 1, .symbol = "BTCUSDT", .tick_size = 1000000,
                                .lot_size = 1000};
    in[1] = (desk_instrument_t){.id = 1, .connector = 1, .asset_class = DESK_ASSET_CRYPTO,
                                .tradable = 1, .symbol = "ETHUSDT", .tick_size = 1000000,
                                .lot_size = 1000};
    desk_quote_t q = {.bid_px = INT64_C(6701253000000), .bid_qty = 12345000,
                      .ask_px = INT64_C(6701254000000), .ask_qty = 120000000,
                      .last_px = INT64_C(6701250000000), .last_qty = 100000,
                      .recv_ns = now - 3100000};
    put_quote(h, 0, &q);

    struct desk_uta_shm *u = desk_shm_uta(h);
    struct desk_uta_shm ucopy;
    memset(&ucopy, 0, sizeof ucopy);
    ucopy.t.cash = INT64_C(10000000000000);        /* 100000 */
    ucopy.t.reserved = INT64_C(12345679000);       /* 123.45679 */
    ucopy.t.buying_power = INT64_C(9987654321000); /* 99876.54321 */
    ucopy.t.nav = INT64_C(10001012000000);         /* 100010.12 */
    ucopy.t.realized_pnl = INT64_C(-1250000000);   /* -12.5 */
    ucopy.t.unrealized_pnl = INT64_C(300000000);   /* 3 */
    ucopy.t.fees = 12000000;                       /* 0.12 */
    ucopy.t.updated_ns = now - 2 * 1000000;
    ucopy.venues[0].cash = ucopy.t.cash;
    ucopy.venues[0].buying_power = ucopy.t.buying_power;
    ucopy.venues[0].venue_bp = INT64_C(5000000000000); /* 50000 */
    ucopy.pos[0].qty = 300000;                         /* 0.003 */
    ucopy.pos[0].avg_px = INT64_C(6000050000000);      /* 60000.5 */
    ucopy.pos[0].mark_px = INT64_C(6701253500000);     /* 67012.535 */
    ucopy.pos[0].open_buy_qty = 100000;
    desk_seqlock_write(&u->lock, &u->t, &ucopy.t, desk_shm_uta_bytes(h->nconnectors,
                                                                        h->ninstruments));

    struct desk_strat_shm *st = desk_shm_strats(h);
    snprintf(st[0].name, sizeof st[0].name, "mm");
    atomic_store(&st[0].pid, 4343);
    atomic_store(&st[0].alive, 1);
    atomic_store(&st[0].cmds, 44);
    atomic_store(&st[0].orders, 40);
    atomic_store(&st[0].fills, 17);
    atomic_store(&st[0].rejects, 4);
    atomic_store(&st[0].open_orders, 5);
    atomic_store(&st[0].event_ring_full, 7);

    struct desk_stats_shm *x = desk_shm_stats(h);
    atomic_store(&x->cmds, 44);
    atomic_store(&x->orders, 40);
    atomic_store(&x->rejects, 4);
    atomic_store(&x->fills, 17);
    atomic_store(&x->cancels, 9);
    atomic_store(&x->duplicate_execs, 1);
    atomic_store(&x->reject_by_reason[DESK_REJ_PRICE_COLLAR], 3);
    atomic_store(&x->reject_by_reason[DESK_REJ_BUYING_POWER], 1);
    for (uint64_t v = 1; v <= 1000; v++)
        desk_hist_record(&x->stage[DESK_STAGE_SUBMIT_ACK], v * 100); /* 100 ns .. 100 us */
    desk_hist_record(&x->stage[DESK_STAGE_GUARD], 250);

    struct desk_orders_shm *o = desk_shm_orders(h);
    struct desk_orders_shm *oc = calloc(1, sizeof *oc);
    assert_non_null(oc);
    oc->total = 5;
    oc->n = 2;
    oc->o[0] = (struct desk_open_order){.order_id = (UINT64_C(3) << 32) | 7,
                                        .cl_ord_id = UINT64_C(1723075200000001),
                                        .instrument = 0, .strategy = 0, .side = DESK_BUY,
                                        .status = DESK_OS_PARTIALLY_FILLED,
                                        .ord_type = DESK_LIMIT, .tif = DESK_GTC,
                                        .qty = 100000, .px = INT64_C(6700050000000),
                                        .cum_qty = 40000, .leaves_qty = 60000};
    oc->o[1] = (struct desk_open_order){.order_id = 8, .cl_ord_id = 42, .instrument = 0,
                                        .side = DESK_SELL, .status = DESK_OS_NEW,
                                        .ord_type = DESK_LIMIT, .tif = DESK_DAY,
                                        .qty = 100000, .px = INT64_C(6702000000000),
                                        .leaves_qty = 100000};
    desk_seqlock_write(&o->lock, &o->total, &oc->total,
                       sizeof *o - offsetof(struct desk_orders_shm, total));
    free(oc);

    /* Reconciliation: paper agrees (3 reports), binance has a position and
     * an orders break. */
    struct desk_recon_shm *rs = desk_shm_recon(h);
    struct desk_recon_data *rd = calloc(1, sizeof *rd);
    assert_non_null(rd);
    rd->conn[0] = (struct desk_recon_row){.reports = 3, .last_ns = now - 2 * SEC,
                                          .flags = DESK_REPORT_POSITIONS | DESK_REPORT_BALANCE,
                                          .venue_cash = INT64_C(10000000000000),
                                          .venue_bp = INT64_C(9987654321000)};
    rd->conn[1] = (struct desk_recon_row){.reports = 7, .last_ns = now - 500000000,
                                          .flags = DESK_REPORT_POSITIONS | DESK_REPORT_ORDERS,
                                          .breaks = 2, .venue_orders = 1};
    rd->nbreaks = 2;
    rd->open[0] = (struct desk_break){.kind = DESK_BREAK_POSITION, .connector = 1,
                                      .instrument = 1, .desk = 0, .venue = 250000000,
                                      .since_ns = now - 90 * SEC};
    rd->open[1] = (struct desk_break){.kind = DESK_BREAK_ORDERS, .connector = 1,
                                      .instrument = UINT32_MAX, .venue = 1,
                                      .since_ns = now - 3 * SEC};
    rd->tseq = 2;
    desk_seqlock_write(&rs->lock, &rs->d, rd, sizeof *rd);
    free(rd);
}

/* A zeroed, laid-out fake segment in plain memory (free() it). */
static struct desk_main_hdr *fake_new(void)
{
    struct desk_main_hdr lay;

    memset(&lay, 0, sizeof lay);
    desk_shm_main_layout(&lay, 2, 2, 1);
    assert_true(lay.total_size % 128 == 0);
    struct desk_main_hdr *h = aligned_alloc(128, (size_t)lay.total_size);
    assert_non_null(h);
    memset(h, 0, (size_t)lay.total_size);
    desk_shm_main_layout(h, 2, 2, 1);
    return h;
}

/* Render into a malloc'd string; asserts the return code. */
static char *render(const struct desk_main_hdr *h, uint64_t now, int json, int want_rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);

    assert_non_null(m);
    int rc = json ? desk_status_render_json(m, h, now) : desk_status_render(m, h, now);
    fclose(m);
    assert_int_equal(rc, want_rc);
    return buf;
}

static void assert_has(const char *text, const char *needle)
{
    if (strstr(text, needle) == NULL)
        fail_msg("missing \"%s\" in:\n%s", needle, text);
}

/* Some line of text, with runs of spaces collapsed and the indent removed,
 * starts with `want` (a table row's cells in order, whatever the widths). */
static void assert_row(const char *text, const char *want)
{
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        char buf[512];
        size_t k = 0;
        for (size_t i = 0; i < n && k + 1 < sizeof buf; i++) {
            if (line[i] == ' ' && (k == 0 || buf[k - 1] == ' '))
                continue;
            buf[k++] = line[i];
        }
        buf[k] = '\0';
        if (strncmp(buf, want, strlen(want)) == 0)
            return;
        line = nl ? nl + 1 : line + n;
    }
    fail_msg("no row \"%s\" in:\n%s", want, text);
}

static const cJSON *jget(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (v == NULL)
        fail_msg("JSON key \"%s\" missing", key);
    return v;
}

static void assert_jstr(const cJSON *o, const char *key, const char *want)
{
    const cJSON *v = jget(o, key);

    assert_true(cJSON_IsString(v));
    assert_string_equal(v->valuestring, want);
}

static void assert_jnum(const cJSON *o, const char *key, double want)
{
    const cJSON *v = jget(o, key);

    assert_true(cJSON_IsNumber(v));
    if (v->valuedouble != want)
        fail_msg("%s: %.0f != %.0f", key, v->valuedouble, want);
}

/* ---- text ----------------------------------------------------------------- */

/* Every line of text fits in 100 columns. */
static void assert_width(const char *text)
{
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if (n > 100)
            fail_msg("line of %zu columns: %.*s", n, (int)n, line);
        line = nl ? nl + 1 : line + n;
    }
}

static void test_text(void **state)
{
    (void)state;
    struct desk_main_hdr *h = fake_new();
    fill(h, NOW);
    char *t = render(h, NOW, 0, 0);

    assert_row(t, "desk demo deskd pid");
    assert_has(t, "up 1h02m");
    assert_has(t, "RUNNING");
    assert_has(t, "kill switch REDUCING");
    assert_row(t, "router heartbeat 1.50ms ago started 2024-08-08 00:00:00 UTC");
    assert_null(strstr(t, "STALE"));
    assert_null(strstr(t, "not running"));
    /* connectors: health, age, last quote, reason, flow */
    assert_row(t, "paper paper crypto UP 12.00s 3.10ms 123456");
    assert_row(t, "reason: connected");
    assert_row(t, "binance binance crypto DEGRADED 1m15s never 0");
    assert_row(t, "reason: heartbeat missed: \"pong\" late");
    assert_row(t, "flow cmds events routed acks fills rejects backpr cmd ring ev ring");
    assert_row(t, "paper 40 0 41 38 17 2 0 3 0");
    /* quotes, exact */
    assert_row(t, "BTCUSDT paper 67012.53 0.12345 67012.54 1.2 67012.5 3.10ms");
    assert_row(t, "ETHUSDT binance - - - - - no quote yet");
    /* UTA, exact */
    assert_row(t, "ACCOUNT (UTA) updated 2.00ms ago");
    assert_row(t, "cash 100000.00 reserved 123.45679 buying power 99876.54321");
    assert_row(t, "NAV 100010.12 realized PnL -12.50 unrealized 3.00");
    assert_row(t, "fees 0.12");
    assert_row(t, "paper 100000.00 0.00 99876.54321 0.00 0.00 0.00 0.00 50000.00");
    assert_row(t, "BTCUSDT paper 0.003 60000.5 67012.535 0.00 0.00 0.001 0");
    assert_null(strstr(t, "ETHUSDT binance 0 ")); /* flat positions are left out */
    /* reconciliation: per connector, then the open breaks */
    assert_row(t, "RECONCILIATION 2 open break(s)");
    assert_row(t, "paper 3 2.00s ago positions+balance 0");
    assert_row(t, "binance 7 500.00ms ago positions+orders 2");
    assert_row(t, "position binance ETHUSDT 0 2.5 1m30s ago");
    assert_row(t, "orders binance - 0 1 open 3.00s ago");
    /* strategies */
    assert_row(t, "mm 4343 yes 44 40 17 4 5 0 0 7");
    /* open orders, capped */
    assert_row(t, "OPEN ORDERS showing 2 of 5");
    assert_row(t, "mm 1723075200000001 BTCUSDT BUY LMT/GTC PartiallyFilled 0.001 67000.5 0.0004");
    assert_row(t, "mm 42 BTCUSDT SELL LMT/DAY New 0.001 67020 0");
    /* counters and rejects by reason: only the nonzero ones */
    assert_has(t, "cancels 9");
    assert_has(t, "duplicate exec ids 1");
    assert_row(t, "REJECTS PRICE_COLLAR 3 BUYING_POWER 1");
    assert_null(strstr(t, "NO_QUOTE"));
    assert_null(strstr(t, "KILL_SWITCH"));
    /* latency rows for every stage and each connector's dispatch */
    assert_row(t, "LATENCY count p50 p99 p99.9 max mean");
    for (unsigned i = 0; i < DESK_STAGE__COUNT; i++)
        assert_has(t, st_stage_names[i]);
    assert_row(t, "guard 1 250ns 250ns 250ns 250ns 250ns");
    assert_row(t, "submit->fill 0 - - - - -");
    assert_row(t, "dispatch paper 100 ");
    assert_row(t, "dispatch binance 0 - - - - -");
    /* submit->ack: 1000 samples of 100 ns .. 100 us: p50 ~50us, p99 and max 100us */
    const char *row = strstr(t, "  submit->ack");
    assert_non_null(row);
    unsigned long long cnt = 0;
    char p50[16], p99[16], p999[16], mx[16], mean[16];
    assert_int_equal(sscanf(row, " submit->ack %llu %15s %15s %15s %15s %15s", &cnt, p50, p99,
                            p999, mx, mean),
                     6);
    assert_int_equal(cnt, 1000);
    assert_true(strncmp(p50, "50.", 3) == 0 || strncmp(p50, "51.", 3) == 0);
    assert_true(strncmp(p99, "99.", 3) == 0 || strncmp(p99, "100.", 4) == 0);
    assert_string_equal(mx, "100.0us");
    assert_string_equal(mean, "50.0us");
    assert_width(t);
    free(t);
    free(h);
}

/* Figures too wide for a table: each row becomes a wrapped block, and every
 * figure is still exact and every line fits. */
static void test_text_wide(void **state)
{
    (void)state;
    struct desk_main_hdr *h = fake_new();
    fill(h, NOW);
    struct desk_uta_shm *u = desk_shm_uta(h);
    struct desk_uta_shm *c = calloc(1, sizeof *c);
    assert_non_null(c);
    desk_seqlock_read(&u->lock, &c->t, &u->t, desk_shm_uta_bytes(2, 2));
    c->venues[0].cash = INT64_C(1234567890112345678);     /* 12345678901.12345678 */
    c->venues[0].equity = INT64_C(-1234567890112345678);
    c->venues[0].buying_power = INT64_C(1234567890112345677);
    c->venues[0].realized_pnl = INT64_C(-123456789012345);
    c->venues[0].unrealized_pnl = INT64_C(-123456789012346);
    c->venues[0].fees = INT64_C(123456789012347);
    c->venues[0].reserved = INT64_C(123456789012348);
    c->pos[0].qty = INT64_C(-12345678912345678);
    c->pos[0].avg_px = INT64_C(12345678912345679);
    c->pos[0].mark_px = INT64_C(12345678912345671);
    c->pos[0].unrealized_pnl = INT64_C(-123456789123456712);
    c->pos[0].realized_pnl = INT64_C(123456789123456713);
    desk_seqlock_write(&u->lock, &u->t, &c->t, desk_shm_uta_bytes(2, 2));
    free(c);
    char *t = render(h, NOW, 0, 0);
    assert_width(t);
    assert_row(t, "venue"); /* the title, alone on its line */
    assert_row(t, "paper cash 12345678901.12345678 reserved 1234567.89012348");
    assert_has(t, "equity -12345678901.12345678");
    assert_has(t, "venue bp 50000.00");
    assert_row(t, "POSITIONS");
    assert_row(t, "BTCUSDT venue paper qty -123456789.12345678 avg px 123456789.12345679");
    assert_has(t, "realized 1234567891.23456713");
    /* the narrow tables stay tables */
    assert_row(t, "mm 4343 yes 44 40 17 4 5 0 0 7");
    free(t);
    free(h);
}

static void test_text_stale_and_empty(void **state)
{
    (void)state;
    struct desk_main_hdr *h = fake_new();
    fill(h, NOW);
    /* Heartbeat 3 s old: STALE.  And a never-published UTA and order list. */
    atomic_store(&h->heartbeat_ns, NOW - 3 * SEC);
    atomic_store(&h->kill, DESK_KILL_HALTED);
    atomic_store(&desk_shm_uta(h)->lock.seq, 0);
    atomic_store(&desk_shm_orders(h)->lock.seq, 0);
    atomic_store(&desk_shm_recon(h)->lock.seq, 0);
    memset(desk_shm_stats(h)->reject_by_reason, 0, sizeof desk_shm_stats(h)->reject_by_reason);
    char *t = render(h, NOW, 0, 0);
    assert_has(t, "router heartbeat 3.00s ago STALE");
    assert_has(t, "kill switch HALTED");
    assert_has(t, "ACCOUNT (UTA)   no snapshot yet");
    assert_has(t, "OPEN ORDERS   no snapshot yet");
    assert_has(t, "RECONCILIATION   no venue report yet");
    assert_has(t, "REJECTS   none");
    free(t);

    char *j = render(h, NOW, 1, 0);
    cJSON *root = cJSON_Parse(j);
    assert_non_null(root);
    assert_true(cJSON_IsTrue(jget(root, "heartbeat_stale")));
    assert_jnum(root, "heartbeat_age_ns", (double)(3 * SEC));
    assert_jstr(root, "kill", "HALTED");
    assert_true(cJSON_IsNull(jget(root, "uta")));
    assert_true(cJSON_IsNull(jget(root, "open_orders")));
    assert_true(cJSON_IsNull(jget(root, "reconciliation")));
    assert_int_equal(cJSON_GetArraySize(jget(jget(root, "counters"), "rejects_by_reason")), 0);
    cJSON_Delete(root);
    free(j);
    free(h);
}

/* ---- JSON ----------------------------------------------------------------- */

static void test_json(void **state)
{
    (void)state;
    struct desk_main_hdr *h = fake_new();
    fill(h, NOW);
    char *j = render(h, NOW, 1, 0);

    /* One object on one line. */
    size_t len = strlen(j);
    assert_true(len > 2 && j[len - 1] == '\n');
    assert_null(memchr(j, '\n', len - 1));
    cJSON *root = cJSON_Parse(j);
    if (root == NULL)
        fail_msg("invalid JSON near: %.60s", cJSON_GetErrorPtr());

    assert_jstr(root, "desk", "demo");
    assert_jnum(root, "pid", getpid());
    assert_true(cJSON_IsTrue(jget(root, "deskd_running")));
    assert_jnum(root, "uptime_ns", (double)(3723 * SEC));
    assert_jstr(root, "run_state", "RUNNING");
    assert_jstr(root, "kill", "REDUCING");
    assert_jnum(root, "kill_seq", 2);
    assert_jnum(root, "heartbeat_age_ns", 1500000);
    assert_true(cJSON_IsFalse(jget(root, "heartbeat_stale")));

    const cJSON *conns = jget(root, "connectors");
    assert_int_equal(cJSON_GetArraySize(conns), 2);
    const cJSON *c0 = cJSON_GetArrayItem(conns, 0), *c1 = cJSON_GetArrayItem(conns, 1);
    assert_jstr(c0, "name", "paper");
    assert_jstr(c0, "venue_type", "crypto");
    assert_jstr(c0, "health", "UP");
    assert_jstr(c0, "health_reason", "connected");
    assert_jnum(c0, "health_age_ns", (double)(12 * SEC));
    assert_jnum(c0, "last_quote_age_ns", 3100000);
    assert_jnum(c0, "quotes", 123456);
    assert_jnum(c0, "routed", 41);
    assert_jnum(c0, "cmd_ring_depth", 3);
    assert_jnum(jget(c0, "dispatch"), "count", 100);
    assert_jnum(jget(c0, "dispatch"), "max_ns", 100000);
    assert_jnum(jget(c0, "dispatch"), "p99_ns",
                (double)desk_hist_quantile(&desk_shm_conns(h)[0].dispatch, 0.99));
    assert_jstr(c1, "health", "DEGRADED");
    assert_jstr(c1, "health_reason", "heartbeat missed: \"pong\" late"); /* escaped */
    assert_true(cJSON_IsNull(jget(c1, "last_quote_age_ns")));

    const cJSON *ins = jget(root, "instruments");
    assert_int_equal(cJSON_GetArraySize(ins), 2);
    const cJSON *q = jget(cJSON_GetArrayItem(ins, 0), "quote");
    assert_jstr(q, "bid_px", "67012.53");
    assert_jstr(q, "bid_qty", "0.12345");
    assert_jstr(q, "ask_px", "67012.54");
    assert_jstr(q, "ask_qty", "1.2");
    assert_jstr(q, "last_qty", "0.001");
    assert_jnum(q, "age_ns", 3100000);
    assert_jstr(cJSON_GetArrayItem(ins, 1), "venue", "binance");
    assert_true(cJSON_IsNull(jget(cJSON_GetArrayItem(ins, 1), "quote")));

    const cJSON *uta = jget(root, "uta");
    assert_jstr(uta, "buying_power", "99876.54321");
    assert_jstr(uta, "cash", "100000");
    assert_jstr(uta, "reserved", "123.45679");
    assert_jstr(uta, "nav", "100010.12");
    assert_jstr(uta, "realized_pnl", "-12.5");
    assert_jstr(uta, "unrealized_pnl", "3");
    assert_jstr(uta, "fees", "0.12");
    assert_jnum(uta, "age_ns", 2000000);
    const cJSON *v0 = cJSON_GetArrayItem(jget(uta, "venues"), 0);
    assert_jstr(v0, "name", "paper");
    assert_jstr(v0, "venue_buying_power", "50000");
    const cJSON *p0 = cJSON_GetArrayItem(jget(uta, "positions"), 0);
    assert_jstr(p0, "symbol", "BTCUSDT");
    assert_jstr(p0, "qty", "0.003");
    assert_jstr(p0, "avg_px", "60000.5");
    assert_jstr(p0, "mark_px", "67012.535");
    assert_jstr(p0, "open_buy_qty", "0.001");
    assert_jstr(cJSON_GetArrayItem(jget(uta, "positions"), 1), "qty", "0");

    const cJSON *s0 = cJSON_GetArrayItem(jget(root, "strategies"), 0);
    assert_jstr(s0, "name", "mm");
    assert_jnum(s0, "pid", 4343);
    assert_true(cJSON_IsTrue(jget(s0, "alive")));
    assert_jnum(s0, "open_orders", 5);
    assert_jnum(s0, "event_ring_full", 7);

    const cJSON *oo = jget(root, "open_orders");
    assert_jnum(oo, "total", 5);
    assert_jnum(oo, "shown", 2);
    const cJSON *list = jget(oo, "orders");
    assert_int_equal(cJSON_GetArraySize(list), 2);
    const cJSON *o0 = cJSON_GetArrayItem(list, 0);
    assert_jnum(o0, "order_id", (double)((UINT64_C(3) << 32) | 7));
    assert_jnum(o0, "cl_ord_id", 1723075200000001.0);
    assert_jstr(o0, "strategy", "mm");
    assert_jstr(o0, "symbol", "BTCUSDT");
    assert_jstr(o0, "side", "BUY");
    assert_jstr(o0, "ord_type", "LIMIT");
    assert_jstr(o0, "tif", "GTC");
    assert_jstr(o0, "status", "PartiallyFilled");
    assert_jstr(o0, "px", "67000.5");
    assert_jstr(o0, "cum_qty", "0.0004");
    assert_jstr(o0, "leaves_qty", "0.0006");
    assert_jstr(cJSON_GetArrayItem(list, 1), "side", "SELL");
    assert_jstr(cJSON_GetArrayItem(list, 1), "tif", "DAY");

    const cJSON *rec = jget(root, "reconciliation");
    assert_jnum(rec, "open_breaks", 2);
    const cJSON *rc0 = cJSON_GetArrayItem(jget(rec, "connectors"), 0);
    const cJSON *rc1 = cJSON_GetArrayItem(jget(rec, "connectors"), 1);
    assert_jstr(rc0, "name", "paper");
    assert_jnum(rc0, "reports", 3);
    assert_jnum(rc0, "age_ns", (double)(2 * SEC));
    assert_true(cJSON_IsTrue(jget(rc0, "positions")));
    assert_true(cJSON_IsFalse(jget(rc0, "orders")));
    assert_jstr(rc0, "venue_cash", "100000");
    assert_jstr(rc0, "venue_buying_power", "99876.54321");
    assert_jnum(rc0, "breaks", 0);
    assert_null(cJSON_GetObjectItemCaseSensitive(rc1, "venue_cash")); /* no balance reported */
    assert_jnum(rc1, "venue_only_orders", 1);
    assert_jnum(rc1, "breaks", 2);
    const cJSON *b0 = cJSON_GetArrayItem(jget(rec, "breaks"), 0);
    const cJSON *b1 = cJSON_GetArrayItem(jget(rec, "breaks"), 1);
    assert_jstr(b0, "what", "position");
    assert_jstr(b0, "connector", "binance");
    assert_jstr(b0, "symbol", "ETHUSDT");
    assert_jstr(b0, "desk", "0");
    assert_jstr(b0, "venue", "2.5");
    assert_jnum(b0, "age_ns", (double)(90 * SEC));
    assert_jstr(b1, "what", "orders");
    assert_jnum(b1, "venue_only_orders", 1);
    assert_null(cJSON_GetObjectItemCaseSensitive(b1, "symbol"));

    const cJSON *cnt = jget(root, "counters");
    assert_jnum(cnt, "cmds", 44);
    assert_jnum(cnt, "rejects", 4);
    assert_jnum(cnt, "cancels", 9);
    assert_jnum(cnt, "duplicate_execs", 1);
    const cJSON *rbr = jget(cnt, "rejects_by_reason");
    assert_int_equal(cJSON_GetArraySize(rbr), 2);
    assert_jnum(rbr, "PRICE_COLLAR", 3);
    assert_jnum(rbr, "BUYING_POWER", 1);

    const cJSON *lat = jget(root, "latency");
    assert_int_equal(cJSON_GetArraySize(lat), DESK_STAGE__COUNT);
    const cJSON *ack = jget(lat, "submit->ack");
    const desk_hist_t *ah = &desk_shm_stats(h)->stage[DESK_STAGE_SUBMIT_ACK];
    assert_jnum(ack, "count", 1000);
    assert_jnum(ack, "max_ns", 100000);
    assert_jnum(ack, "mean_ns", 50050);
    assert_jnum(ack, "p50_ns", (double)desk_hist_quantile(ah, 0.5));
    assert_jnum(ack, "p99_ns", (double)desk_hist_quantile(ah, 0.99));
    assert_jnum(ack, "p999_ns", (double)desk_hist_quantile(ah, 0.999));
    /* p99 of 100..100000 step 100 is 99000, within the histogram's 3.1% */
    double p99 = jget(ack, "p99_ns")->valuedouble;
    assert_true(p99 >= 99000 && p99 <= 99000 * 1.032);
    assert_jnum(jget(lat, "guard"), "p50_ns", 250); /* one sample: capped at max */
    assert_jnum(jget(lat, "submit->fill"), "count", 0);
    assert_jnum(jget(lat, "submit->fill"), "p99_ns", 0);

    cJSON_Delete(root);
    free(j);
    free(h);
}

/* ---- defensive reads ------------------------------------------------------ */

static void test_bad_header(void **state)
{
    (void)state;
    struct desk_main_hdr *h = fake_new();
    fill(h, NOW);
    uint64_t keep = h->off_orders;
    h->off_orders = h->total_size - 64; /* the order list would run past the end */
    char *t = render(h, NOW, 0, -EPROTO);
    assert_string_equal(t, ""); /* nothing printed */
    free(t);
    h->off_orders = keep;
    h->nconnectors = DESK_SHM_MAX_CONNECTORS + 1;
    t = render(h, NOW, 1, -EPROTO);
    free(t);
    free(h);
}

static void test_stuck_writer(void **state)
{
    (void)state;
    struct desk_main_hdr *h = fake_new();
    fill(h, NOW);
    /* A writer that died mid-write leaves seq odd: the renderer gives up on
     * that block after a short wait instead of spinning forever. */
    desk_seqlock_write_begin(&desk_shm_conns(h)[1].hlock);
    desk_seqlock_write_begin(&desk_shm_quotes(h)[0].lock);
    uint64_t t0 = desk_now_ns();
    char *j = render(h, NOW, 1, 0);
    assert_true(desk_now_ns() - t0 < 5 * SEC);
    cJSON *root = cJSON_Parse(j);
    assert_non_null(root);
    const cJSON *conns = jget(root, "connectors");
    assert_jstr(cJSON_GetArrayItem(conns, 0), "health", "UP");
    assert_jstr(cJSON_GetArrayItem(conns, 1), "health", "?");
    assert_true(cJSON_IsNull(jget(cJSON_GetArrayItem(jget(root, "instruments"), 0), "quote")));
    cJSON_Delete(root);
    free(j);
    free(h);
}

/* ---- the subcommands on a real segment ------------------------------------ */

static char g_desk[DESK_NAME_MAX];
static struct desk_main_hdr *g_seg;
static size_t g_seg_len;

/* Run fn with stdout captured; returns what it printed (free it). */
static char *capture(int (*fn)(int, char **), int argc, char **argv, int *rc)
{
    char path[] = "/tmp/status_test.XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(STDOUT_FILENO);

    assert_true(fd >= 0 && saved >= 0);
    unlink(path);
    fflush(stdout);
    dup2(fd, STDOUT_FILENO);
    *rc = fn(argc, argv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    off_t n = lseek(fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, (size_t)n, 0), n);
    close(fd);
    return buf;
}

static int seg_setup(void **state)
{
    (void)state;
    snprintf(g_desk, sizeof g_desk, "sttest-%d", (int)getpid());
    int rc = desk_shm_main_create(g_desk, 2, 2, 1, 0600, &g_seg, &g_seg_len);
    if (rc < 0) {
        printf("status_test: cannot create a segment (%s): skipping the shm cases\n",
               desk_errmsg());
        g_seg = NULL;
        return 0;
    }
    fill(g_seg, desk_now_ns());
    snprintf(g_seg->name, sizeof g_seg->name, "%s", g_desk);
    return 0;
}

static int seg_teardown(void **state)
{
    (void)state;
    if (g_seg) {
        desk_shm_unmap(g_seg, g_seg_len);
        desk_shm_unlink_main(g_desk);
    }
    return 0;
}

static void test_cli_status(void **state)
{
    (void)state;
    if (g_seg == NULL)
        skip();
    char *argv[] = {"status", "-n", g_desk, "--json", NULL};
    int rc = -1;
    char *out = capture(desk_cli_status, 4, argv, &rc);
    assert_int_equal(rc, 0);
    cJSON *root = cJSON_Parse(out);
    assert_non_null(root);
    assert_jstr(root, "desk", g_desk);
    assert_jstr(jget(root, "uta"), "buying_power", "99876.54321");
    assert_jnum(jget(jget(root, "counters"), "rejects_by_reason"), "PRICE_COLLAR", 3);
    cJSON_Delete(root);
    free(out);

    char *argv2[] = {"status", "-n", g_desk, NULL};
    out = capture(desk_cli_status, 3, argv2, &rc);
    assert_int_equal(rc, 0);
    assert_row(out, "cash 100000.00 reserved 123.45679 buying power 99876.54321");
    free(out);

    char *argv3[] = {"status", "--interval", "5", NULL}; /* out of range */
    out = capture(desk_cli_status, 3, argv3, &rc);
    assert_int_equal(rc, DESK_CLI_ERROR);
    free(out);
}

/* Interrupts the main thread's --watch loop 1 s after the loop has put
 * its SIGINT handler in place (before that, SIGINT would kill the test). */
static void *interrupter(void *arg)
{
    struct timespec tick = {0, 2000000}, run = {1, 0};
    struct sigaction sa;

    for (int i = 0; i < 10000; i++) { /* <= 20 s */
        sigaction(SIGINT, NULL, &sa);
        if (sa.sa_handler != SIG_DFL)
            break;
        nanosleep(&tick, NULL);
    }
    nanosleep(&run, NULL);
    pthread_kill(*(pthread_t *)arg, SIGINT);
    return NULL;
}

static void test_cli_watch_json(void **state)
{
    (void)state;
    if (g_seg == NULL)
        skip();
    pthread_t self = pthread_self(), th;
    char *argv[] = {"status", "-n", g_desk, "--watch", "--json", "--interval", "50", NULL};
    int rc = -1;
    assert_int_equal(pthread_create(&th, NULL, interrupter, &self), 0);
    uint64_t t0 = desk_now_ns();
    char *out = capture(desk_cli_status, 7, argv, &rc);
    uint64_t ran_ms = (desk_now_ns() - t0) / 1000000u;
    pthread_join(th, NULL);
    assert_int_equal(rc, 0);
    /* One JSON object per line, several lines, no screen clearing. */
    int lines = 0;
    assert_null(strchr(out, '\033'));
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        cJSON *root = cJSON_Parse(line);
        assert_non_null(root);
        assert_jstr(root, "desk", g_desk);
        cJSON_Delete(root);
    }
    /* About 20 frames at 50 ms in 1 s; fewer on a loaded machine, never
     * more than one per interval of the time it ran (plus the first). */
    assert_true(lines >= 2);
    assert_true((uint64_t)lines <= ran_ms / 50 + 1);
    free(out);
    /* SIGINT's disposition is back to what it was. */
    struct sigaction sa;
    sigaction(SIGINT, NULL, &sa);
    assert_true(sa.sa_handler == SIG_DFL);
}

static void test_cli_no_desk(void **state)
{
    (void)state;
    char *argv[] = {"status", "-n", "no-such-desk-xyz", NULL};
    int rc = -1;
    char *out = capture(desk_cli_status, 3, argv, &rc);
    assert_int_equal(rc, DESK_CLI_ERROR);
    assert_string_equal(out, "");
    free(out);
    char *kargv[] = {"halt", "-n", "no-such-desk-xyz", NULL};
    assert_int_equal(desk_cli_kill(3, kargv, DESK_KILL_HALTED), DESK_CLI_ERROR);
}

/* This process plays deskd's control thread: it takes DESK_KILL_SIGNAL with
 * sigtimedwait and, when `g_confirm`, stores the wanted state. */
static atomic_int g_confirm, g_stop, g_seen;

static void *control_thread(void *arg)
{
    sigset_t set;

    (void)arg;
    sigemptyset(&set);
    sigaddset(&set, DESK_KILL_SIGNAL);
    while (!atomic_load(&g_stop)) {
        struct timespec ts = {0, 20000000};
        siginfo_t si;
        if (sigtimedwait(&set, &si, &ts) != DESK_KILL_SIGNAL)
            continue;
        atomic_fetch_add(&g_seen, 1);
        if (atomic_load(&g_confirm)) {
            atomic_store_explicit(&g_seg->kill, (uint32_t)si.si_value.sival_int,
                                  memory_order_release);
            atomic_fetch_add_explicit(&g_seg->kill_seq, 1, memory_order_release);
        }
    }
    return NULL;
}

static int kill_halt(int argc, char **argv)
{
    return desk_cli_kill(argc, argv, DESK_KILL_HALTED);
}

static int kill_resume(int argc, char **argv)
{
    return desk_cli_kill(argc, argv, DESK_KILL_ACTIVE);
}

static void test_cli_kill(void **state)
{
    (void)state;
    if (g_seg == NULL)
        skip();
    sigset_t set, old;
    pthread_t th;
    sigemptyset(&set);
    sigaddset(&set, DESK_KILL_SIGNAL);
    /* Blocked here before the thread starts, so every thread blocks it and
     * only the control thread's sigtimedwait takes it. */
    pthread_sigmask(SIG_BLOCK, &set, &old);
    atomic_store(&g_stop, 0);
    atomic_store(&g_seen, 0);
    atomic_store(&g_confirm, 1);
    assert_int_equal(pthread_create(&th, NULL, control_thread, NULL), 0);

    g_seg->router_pid = (int32_t)getpid();
    atomic_store(&g_seg->kill, DESK_KILL_ACTIVE);
    uint32_t seq0 = atomic_load(&g_seg->kill_seq);
    char *argv[] = {"halt", "-n", g_desk, NULL};
    int rc = -1;
    char *out = capture(kill_halt, 3, argv, &rc);
    assert_int_equal(rc, DESK_CLI_OK);
    char want[80];
    snprintf(want, sizeof want, "desk %s: HALTED\n", g_desk);
    assert_string_equal(out, want);
    free(out);
    /* The header says HALTED and the control thread saw one request. */
    assert_int_equal(atomic_load(&g_seg->kill), DESK_KILL_HALTED);
    assert_int_equal(atomic_load(&g_seg->kill_seq), seq0 + 1);
    assert_int_equal(atomic_load(&g_seen), 1);

    /* A deskd that takes the signal but never applies it: error after 3 s. */
    atomic_store(&g_confirm, 0);
    char *rargv[] = {"resume", "-n", g_desk, NULL};
    uint64_t t0 = desk_now_ns();
    out = capture(kill_resume, 3, rargv, &rc);
    uint64_t waited = desk_now_ns() - t0;
    assert_int_equal(rc, DESK_CLI_ERROR);
    assert_true(waited >= 3 * SEC && waited < 6 * SEC);
    assert_int_equal(atomic_load(&g_seg->kill), DESK_KILL_HALTED);
    assert_int_equal(atomic_load(&g_seen), 2);
    free(out);

    /* Confirmed again: resume. */
    atomic_store(&g_confirm, 1);
    out = capture(kill_resume, 3, rargv, &rc);
    assert_int_equal(rc, DESK_CLI_OK);
    assert_int_equal(atomic_load(&g_seg->kill), DESK_KILL_ACTIVE);
    free(out);

    atomic_store(&g_stop, 1);
    pthread_join(th, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    /* deskd gone: its pid no longer exists. */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    g_seg->router_pid = (int32_t)child;
    out = capture(kill_halt, 3, argv, &rc);
    assert_int_equal(rc, DESK_CLI_ERROR);
    free(out);
    /* Stopped deskd: refused without signalling (else the default action of
     * the signal would end this test). */
    g_seg->router_pid = (int32_t)getpid();
    atomic_store(&g_seg->run_state, DESK_RUN_STOPPED);
    out = capture(kill_halt, 3, argv, &rc);
    assert_int_equal(rc, DESK_CLI_ERROR);
    free(out);
    /* Starting deskd: refused too (it may not handle the signal yet). */
    atomic_store(&g_seg->run_state, DESK_RUN_STARTING);
    out = capture(kill_halt, 3, argv, &rc);
    assert_int_equal(rc, DESK_CLI_ERROR);
    atomic_store(&g_seg->run_state, DESK_RUN_RUNNING);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_text_wide),
        cmocka_unit_test(test_text_stale_and_empty),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_stuck_writer),
        cmocka_unit_test(test_cli_status),
        cmocka_unit_test(test_cli_watch_json),
        cmocka_unit_test(test_cli_no_desk),
        cmocka_unit_test(test_cli_kill),
    };
    return cmocka_run_group_tests(tests, seg_setup, seg_teardown);
}
