/*
 * killswitch_test.c - deskd's control thread end to end: cancel-on-disconnect
 * for a strategy that stops polling, `desk halt --cancel-all`, and the
 * automatic HALT on the daily loss limit.
 *
 * Starts `desk up` on its own desk.toml: the paper venue replaying the
 * recorded Binance capture in a loop with a 10 bps taker fee, a desk-wide
 * daily_loss of 2 USDT, and two strategies: "s" (heartbeat_timeout_ms = 500)
 * and "t" (heartbeat off).  This test process is both strategies, through
 * libdesk:
 *   1. "s" rests two orders far from the touch, then stops calling
 *      desk_poll while its process lives: deskd must call its heartbeat
 *      stale, cancel both orders and mark it not alive; when it polls again
 *      it gets the two CANCELED events but stays disconnected (new orders
 *      refused with STRATEGY_GONE) until it attaches again;
 *   2. "t" rests two orders; a plain `desk halt` leaves them (halt_cancels_all
 *      is off), `desk halt --cancel-all` cancels them, and a new order is
 *      refused with KILL_SWITCH; `desk resume`;
 *   3. "t" crosses the spread back and forth (fees and the spread lose
 *      money) until deskd HALTs by itself; `desk status` shows HALTED and
 *      the log names the day PnL; after `desk resume` it does not HALT again
 *      while the PnL stays past the limit (the guard refuses new buys with
 *      DAILY_LOSS instead).
 * The SIGKILLed strategy case is e2e_test.c's test_cancel_on_disconnect.
 * Skips (77) only when the recorded data is not present, and says so.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "desk/client.h"
#include "desk/fixed.h"
#include "harness.h"

#define QTY_REST 100000  /* 0.001 BTC */
#define QTY_TAKE 2000000 /* 0.02 BTC: about 1,200 USDT, 1.2 USDT of fee a side */
#define MAX_ORDERS 256   /* ClOrdIDs tracked by this test */

static char g_name[32], g_dir[256], g_toml[300], g_log[300];
static pid_t g_deskd = -1;
static int g_inst = -1;

/* What this test knows of each of its orders, from the events alone. */
struct ord {
    uint64_t cl;  /* ClOrdID; 0 = free */
    int acked;    /* DESK_EV_ACK seen */
    int done;     /* canceled, rejected, expired or filled */
    int canceled; /* DESK_EV_CANCELED seen */
    int rejected; /* DESK_EV_REJECT seen */
    int reason;   /* its desk_reject_t */
    int64_t cum;  /* filled */
};
static struct ord g_ord[MAX_ORDERS];
static uint64_t g_next_cl = 1;

/* `desk CMD -n NAME [ARG]`; returns its exit code, its stdout in out.txt
 * and its stderr appended to err.txt. */
static int desk_cmd(const char *cmd, const char *arg)
{
    char out[300], err[300];
    snprintf(out, sizeof out, "%s/out.txt", g_dir);
    snprintf(err, sizeof err, "%s/err.txt", g_dir);
    char *argv[] = {DESK_CLI, (char *)cmd, "-n", g_name, (char *)arg, NULL};
    return desk_t_run(argv, out, err, O_TRUNC);
}

static cJSON *status_parse(const char *out)
{
    char *txt = slurp(out);
    cJSON *j = cJSON_Parse(txt);
    if (j == NULL)
        fail_msg("desk status --json is not JSON: %.200s", txt);
    free(txt);
    return j;
}

static cJSON *status_json(void)
{
    char out[300];
    snprintf(out, sizeof out, "%s/status.json", g_dir);
    char *argv[] = {DESK_CLI, "status", "-n", g_name, "--json", NULL};
    assert_int_equal(desk_t_run(argv, out, NULL, O_TRUNC), 0);
    return status_parse(out);
}

static const cJSON *strat_json(const cJSON *st, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(st, "strategies"), i);
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        fail_msg("'%s' is not a number", key);
    return v->valuedouble;
}

static int log_has(const char *needle)
{
    char *log = slurp(g_log);
    int has = log && strstr(log, needle) != NULL;
    free(log);
    return has;
}

static struct ord *find(uint64_t cl)
{
    for (int i = 0; i < MAX_ORDERS; i++)
        if (g_ord[i].cl == cl)
            return &g_ord[i];
    return NULL;
}

/* Take every pending event of c into g_ord.  Returns how many. */
static int pump(desk_client_t *c)
{
    desk_event_t ev[64];
    int n = desk_poll(c, ev, 64), total = n;
    while (n > 0) {
        for (int i = 0; i < n; i++) {
            struct ord *o = find(ev[i].cl_ord_id);
            if (o == NULL)
                continue;
            switch (ev[i].type) {
            case DESK_EV_ACK:
                o->acked = 1;
                break;
            case DESK_EV_FILL:
                o->cum = ev[i].cum_qty;
                o->done = ev[i].leaves_qty == 0;
                break;
            case DESK_EV_CANCELED:
                o->canceled = o->done = 1;
                break;
            case DESK_EV_EXPIRED:
                o->done = 1;
                break;
            case DESK_EV_REJECT:
                o->rejected = o->done = 1;
                o->reason = ev[i].reason;
                break;
            default:
                break;
            }
        }
        total += n = desk_poll(c, ev, 64);
    }
    return total;
}

/* Poll c until cond holds or ms pass; ok gets cond's last value. */
#define PUMP_UNTIL(ok, c, cond, ms)                                                                \
    do {                                                                                           \
        uint64_t end_ = now_ms() + (uint64_t)(ms);                                                 \
        while (pump(c), !((ok) = (cond)) && now_ms() < end_)                                       \
            msleep(2);                                                                             \
    } while (0)

/* desk status --json, polling c while the CLI runs: a sanitized CLI on a
 * loaded machine can take longer to start than "s"'s 500 ms heartbeat
 * timeout, and c must not go stale meanwhile.  Caller deletes. */
static cJSON *status_json_polling(desk_client_t *c)
{
    char out[300];
    snprintf(out, sizeof out, "%s/status.json", g_dir);
    char *argv[] = {DESK_CLI, "status", "-n", g_name, "--json", NULL};
    pid_t pid = desk_t_spawn(argv, out, NULL, O_TRUNC), w;
    int st = 0;
    assert_true(pid > 0);
    for (uint64_t end = now_ms() + 60000; (w = waitpid(pid, &st, WNOHANG)) == 0;) {
        if (now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fail_msg("desk status did not finish in 60 s");
        }
        pump(c);
        msleep(2);
    }
    assert_int_equal(w, pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return status_parse(out);
}

static struct ord *submit(desk_client_t *c, desk_side_t side, desk_tif_t tif, int64_t qty,
                          int64_t px)
{
    struct ord *o = find(0);
    assert_non_null(o);
    memset(o, 0, sizeof *o);
    o->cl = g_next_cl++;
    assert_int_equal(desk_submit_new(c, o->cl, (uint32_t)g_inst, side, DESK_LIMIT, tif, qty, px, 0),
                     0);
    return o;
}

static desk_quote_t quote(desk_client_t *c)
{
    desk_quote_t q;
    uint64_t end = now_ms() + 10000;
    while (desk_quote(c, (uint32_t)g_inst, &q) != 0 || q.bid_px <= 0 || q.ask_px <= 0) {
        if (now_ms() > end)
            fail_msg("no two-sided quote in 10 s");
        pump(c);
        msleep(5);
    }
    return q;
}

/* A buy price 5% under the bid, on the 0.01 tick: rests, never fills. */
static int64_t far_bid(desk_client_t *c)
{
    const int64_t tick = 1000000;
    return quote(c).bid_px / 100 * 95 / tick * tick;
}

static desk_client_t *attach(const char *strategy)
{
    desk_client_t *c = NULL;
    if (desk_attach(&c, g_name, strategy) != 0)
        fail_msg("attach %s: %s", strategy, desk_client_errmsg());
    if (g_inst < 0)
        g_inst = desk_instrument_find(c, "BTCUSDT", NULL);
    assert_true(g_inst >= 0);
    return c;
}

static int setup(void **state)
{
    (void)state;
    desk_t_need_marketdata(DESK_SHARED_DATA "/marketdata");
    snprintf(g_name, sizeof g_name, "ks%d", (int)getpid());
    snprintf(g_dir, sizeof g_dir, "/tmp/desk-ks-%d", (int)getpid());
    mkdir(g_dir, 0700);
    snprintf(g_toml, sizeof g_toml, "%s/desk.toml", g_dir);
    FILE *f = fopen(g_toml, "w");
    assert_non_null(f);
    fprintf(f,
            "[desk]\nname = \"%s\"\nstatus_interval_ms = 50\n\n"
            "[journal]\nfsync = \"none\"\n\n"
            "[guard]\ndaily_loss = \"2\"\n\n"
            "[[connector]]\nname = \"paper\"\ntype = \"paper\"\nvenue_type = \"crypto\"\n"
            "[connector.options]\n"
            "data = \"binance_spot_btcusdt_2024-08-08/btcusdt_20240808.gz\"\n"
            "speed = \"4\"\nloop = true\nfee_bps = \"10\"\nmaker_fee_bps = \"10\"\n"
            "latency_us = \"50\"\ncash = \"100000\"\n\n"
            "[[instrument]]\nsymbol = \"BTCUSDT\"\nvenue = \"paper\"\nasset_class = \"crypto\"\n"
            "tick_size = \"0.01\"\nlot_size = \"0.00001\"\n\n"
            "[[strategy]]\nname = \"s\"\nheartbeat_timeout_ms = 500\n\n"
            "[[strategy]]\nname = \"t\"\nheartbeat_timeout_ms = 0\n",
            g_name);
    fclose(f);
    snprintf(g_log, sizeof g_log, "%s/deskd.log", g_dir);
    char *argv[] = {DESK_CLI, "up", "-c", g_toml, NULL};
    g_deskd = desk_t_spawn(argv, NULL, g_log, 0);
    assert_true(g_deskd > 0);
    /* Wait until it is RUNNING: its segment answers desk status earlier,
     * while it is still starting.  Up to 60 s (sanitizers, loaded CI). */
    char out[300];
    snprintf(out, sizeof out, "%s/out.txt", g_dir);
    for (uint64_t end = now_ms() + 60000; now_ms() < end; msleep(100)) {
        if (desk_cmd("status", "--json") == 0) {
            char *txt = slurp(out);
            int up = txt && strstr(txt, "\"run_state\":\"RUNNING\"") != NULL;
            free(txt);
            if (up)
                return 0;
        }
    }
    char *log = slurp(g_log);
    fprintf(stderr, "deskd did not come up:\n%s\n", log ? log : "");
    free(log);
    return -1;
}

static int teardown(void **state)
{
    (void)state;
    if (g_deskd > 0) {
        kill(g_deskd, SIGKILL);
        waitpid(g_deskd, NULL, 0);
    }
    return 0;
}

/* 1. Alive pid, stale heartbeat: its orders are cancelled; polling again
 * brings it back. */
static void test_stale_heartbeat(void **state)
{
    (void)state;
    int ok = 0;
    desk_client_t *c = attach("s");
    int64_t px = far_bid(c);
    struct ord *a = submit(c, DESK_BUY, DESK_GTC, QTY_REST, px);
    struct ord *b = submit(c, DESK_BUY, DESK_GTC, QTY_REST, px - 1000000);
    PUMP_UNTIL(ok, c, a->acked && b->acked, 5000);
    assert_true(ok);
    assert_false(a->done || b->done);

    /* Stop polling: this process lives, its heartbeat ages past 500 ms.
     * deskd notices within a control-thread tick; up to 60 s on CI. */
    double open = 2;
    int alive = 1;
    for (uint64_t end = now_ms() + 60000; (open > 0 || alive) && now_ms() < end;) {
        msleep(100);
        cJSON *st = status_json();
        open = num(strat_json(st, 0), "open_orders");
        alive = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(strat_json(st, 0), "alive"));
        cJSON_Delete(st);
    }
    assert_true(open == 0);
    assert_false(alive);
    assert_true(log_has("strategy s: heartbeat stale for "));
    assert_true(log_has("strategy s: cancelling its open orders (cancel_on_disconnect)"));
    assert_false(log_has("strategy s: pid")); /* not taken for dead */

    /* Polling again: the cancels were delivered (its ring had room), but a
     * strategy declared disconnected stays so until it attaches again: its
     * books may have missed events.  A new order is refused. */
    PUMP_UNTIL(ok, c, a->canceled && b->canceled, 5000);
    assert_true(ok);
    for (uint64_t end = now_ms() + 30000;
         !log_has("strategy s: heartbeat resumed") && now_ms() < end;)
        PUMP_UNTIL(ok, c, 0, 100);
    assert_true(log_has("strategy s: heartbeat resumed"));
    struct ord *n = submit(c, DESK_BUY, DESK_GTC, QTY_REST, px);
    PUMP_UNTIL(ok, c, n->done, 5000);
    assert_true(ok);
    assert_true(n->rejected);
    assert_int_equal(n->reason, DESK_REJ_STRATEGY_GONE);
    cJSON *st = status_json();
    assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(strat_json(st, 0), "alive")));
    cJSON_Delete(st);
    /* Attached again: alive, and its orders go through.  Keep polling
     * while desk status runs (status_json_polling): "s" must not go stale
     * again here. */
    desk_detach(c);
    c = attach("s");
    for (uint64_t end = now_ms() + 60000; !alive && now_ms() < end;) {
        PUMP_UNTIL(ok, c, 0, 100);
        st = status_json_polling(c);
        alive = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(strat_json(st, 0), "alive"));
        cJSON_Delete(st);
    }
    assert_true(alive);
    struct ord *m = submit(c, DESK_BUY, DESK_GTC, QTY_REST, px);
    PUMP_UNTIL(ok, c, m->acked || m->done, 5000);
    assert_true(ok);
    assert_true(m->acked);
    desk_detach(c); /* cancel_on_disconnect cancels it */
}

/* 2. desk halt leaves resting orders; desk halt --cancel-all cancels them;
 * new orders are refused with KILL_SWITCH. */
static void test_halt_cancel_all(void **state)
{
    (void)state;
    int ok = 0;
    desk_client_t *c = attach("t");
    int64_t px = far_bid(c);
    struct ord *a = submit(c, DESK_BUY, DESK_GTC, QTY_REST, px);
    struct ord *b = submit(c, DESK_BUY, DESK_GTC, QTY_REST, px - 2000000);
    PUMP_UNTIL(ok, c, a->acked && b->acked, 5000);
    assert_true(ok);

    /* halt_cancels_all is off: a plain halt leaves them resting. */
    assert_int_equal(desk_cmd("halt", NULL), 0);
    assert_int_equal(desk_kill_state(c), DESK_KILL_HALTED);
    PUMP_UNTIL(ok, c, a->done || b->done, 500); /* ten status intervals */
    assert_false(ok);

    assert_int_equal(desk_cmd("halt", "--cancel-all"), 0);
    char path[300];
    snprintf(path, sizeof path, "%s/out.txt", g_dir);
    char *out = slurp(path);
    assert_non_null(out);
    assert_non_null(strstr(out, "HALTED; cancelling every open order"));
    free(out);
    PUMP_UNTIL(ok, c, a->canceled && b->canceled, 5000);
    assert_true(ok);
    assert_true(log_has("--cancel-all); cancelling every open order"));

    /* New orders are refused while HALTED. */
    struct ord *n = submit(c, DESK_BUY, DESK_GTC, QTY_REST, px);
    PUMP_UNTIL(ok, c, n->done, 5000);
    assert_true(ok);
    assert_true(n->rejected);
    assert_int_equal(n->reason, DESK_REJ_KILL_SWITCH);

    cJSON *st = status_json();
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(st, "kill")->valuestring, "HALTED");
    assert_true(num(strat_json(st, 1), "open_orders") == 0);
    cJSON_Delete(st);

    /* --cancel-all is for halt only. */
    assert_int_not_equal(desk_cmd("resume", "--cancel-all"), 0);
    assert_int_equal(desk_cmd("resume", NULL), 0);
    assert_int_equal(desk_kill_state(c), DESK_KILL_ACTIVE);
    desk_detach(c);
}

/* 3. Losing money past [guard] daily_loss HALTs the desk by itself, once. */
static void test_daily_loss_halt(void **state)
{
    (void)state;
    int ok = 0;
    desk_client_t *c = attach("t");
    int64_t pos = 0;
    int orders = 0;
    const int64_t tick = 1000000;

    /* Cross the spread back and forth: every leg pays a 10 bps fee (about
     * 1.2 USDT on 0.02 BTC) and the spread, so the loss passes 2 USDT on the
     * second leg, a sell (flat: the day PnL is then all realized).  Buy 20
     * ticks through the ask, sell 20 under the bid: each IOC fills against
     * the book. */
    while (desk_kill_state(c) != DESK_KILL_HALTED && orders < 60) {
        desk_quote_t q = quote(c);
        struct ord *o = pos == 0 ? submit(c, DESK_BUY, DESK_IOC, QTY_TAKE, q.ask_px + 20 * tick)
                                 : submit(c, DESK_SELL, DESK_IOC, pos, q.bid_px - 20 * tick);
        orders++;
        PUMP_UNTIL(ok, c, o->done, 5000);
        assert_true(ok);
        if (o->rejected) {
            /* Past the limit before the control thread's next look: the
             * guard's own daily_loss check refuses new buys. */
            assert_true(o->reason == DESK_REJ_DAILY_LOSS || o->reason == DESK_REJ_KILL_SWITCH);
            PUMP_UNTIL(ok, c, desk_kill_state(c) == DESK_KILL_HALTED, 1000);
            continue;
        }
        pos += pos == 0 ? o->cum : -o->cum;
    }
    assert_int_equal(desk_kill_state(c), DESK_KILL_HALTED);

    cJSON *st = status_json();
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(st, "kill")->valuestring, "HALTED");
    cJSON_Delete(st);
    char *log = slurp(g_log);
    assert_non_null(log);
    const char *at = strstr(log, "kill switch: HALTED automatically: day PnL ");
    if (at == NULL)
        fail_msg("no automatic HALT in the log:\n%s", log);
    /* The PnL it names is at or past the limit. */
    char pnl[40] = "";
    assert_int_equal(sscanf(at, "kill switch: HALTED automatically: day PnL %39s", pnl), 1);
    int64_t v = 0;
    assert_int_equal(desk_fixed_parse_cstr(pnl, &v), 0);
    assert_true(v <= -200000000);
    assert_non_null(strstr(at, "<= -daily loss limit 2.00"));
    free(log);

    /* After the operator resumes, it does not HALT again while the PnL
     * stays past the limit (that would need a recovery, then a new fall);
     * the guard still refuses a buy (DAILY_LOSS). */
    assert_int_equal(desk_cmd("resume", NULL), 0);
    desk_quote_t q = quote(c);
    struct ord *o = submit(c, DESK_BUY, DESK_IOC, QTY_TAKE, q.ask_px + 20 * tick);
    PUMP_UNTIL(ok, c, o->done, 5000);
    assert_true(ok);
    assert_true(o->rejected);
    assert_int_equal(o->reason, DESK_REJ_DAILY_LOSS);
    PUMP_UNTIL(ok, c, 0, 500); /* five control-thread checks */
    assert_int_equal(desk_kill_state(c), DESK_KILL_ACTIVE);
    log = slurp(g_log);
    const char *first = strstr(log, "HALTED automatically");
    assert_non_null(first);
    assert_null(strstr(first + 1, "HALTED automatically"));
    free(log);
    desk_detach(c);
}

static void test_clean_stop(void **state)
{
    (void)state;
    int status = 0;
    assert_int_equal(kill(g_deskd, SIGTERM), 0);
    assert_int_equal(waitpid(g_deskd, &status, 0), g_deskd);
    g_deskd = -1;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stale_heartbeat),
        cmocka_unit_test(test_halt_cancel_all),
        cmocka_unit_test(test_daily_loss_halt),
        cmocka_unit_test(test_clean_stop),
    };
    /* A failed run keeps its folder for a look; a passing one removes it. */
    return desk_t_cleanup_dir(g_dir, cmocka_run_group_tests(tests, setup, teardown));
}
