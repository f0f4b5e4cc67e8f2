/*
 * e2e_test.c - deskd, a strategy process and the paper venue, end to end.
 *
 * Starts `desk up` on a copy of desk.toml.example (its own desk name, a
 * faster replay of the real Binance capture), runs the example strategy
 * `desk-mm` against it as a separate process, then reads `desk status
 * --json` and checks that deskd's books agree exactly with the strategy's
 * own accounting: position, cash change, fees, fills.  Then exercises the
 * kill switch through `desk halt` / `desk resume`, stops deskd with SIGTERM
 * and checks that it exits cleanly and removes its segments.  The paper
 * venue's account reports agree with deskd throughout; after a restart on
 * the same journal (the in-process paper venue starts over) reconciliation
 * reports the breaks in desk status, the log and the journal.  Finally a
 * start on a new day carries the books over from the last day's journal.  Skips (77)
 * only when the recorded data is not present, and says so.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
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

#include "core/fixed.h"
#include "harness.h"

static char desk_name[32], dir[256], toml[300], deskd_log[300];
static int64_t last_cash, last_qty; /* the books when deskd last stopped */
static pid_t deskd = -1;

static int64_t fx(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int64_t x = 0;
    if (!cJSON_IsString(v) || desk_fixed_parse_cstr(v->valuestring, &x) != 0)
        fail_msg("'%s' is not an exact decimal string", key);
    return x;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        fail_msg("'%s' is not a number", key);
    return v->valuedouble;
}

static cJSON *status_json(void)
{
    char out[300];
    snprintf(out, sizeof out, "%s/status.json", dir);
    char *argv[] = {DESK_CLI, "status", "-n", desk_name, "--json", NULL};
    assert_int_equal(desk_t_run(argv, out, NULL, O_TRUNC), 0);
    char *txt = slurp(out);
    cJSON *j = cJSON_Parse(txt);
    if (j == NULL)
        fail_msg("desk status --json is not JSON: %.200s", txt);
    free(txt);
    return j;
}

/* Start `desk up` on the test's desk.toml, its log appended to deskd_log,
 * and wait until it answers desk status.  Returns 0 or -1. */
static int start_deskd(void)
{
    /* deskd's log is on stderr: appended to deskd_log. */
    char *argv[] = {DESK_CLI, "up", "-c", toml, NULL};
    deskd = desk_t_spawn(argv, NULL, deskd_log, 0);
    if (deskd <= 0)
        return -1;
    /* Wait until it is RUNNING (its segment answers desk status earlier,
     * while it is still starting; recovery and the replay's start take a
     * while under sanitizers on a loaded machine: up to 60 s). */
    char *sargv[] = {DESK_CLI, "status", "-n", desk_name, "--json", NULL};
    char out[300];
    snprintf(out, sizeof out, "%s/wait.txt", dir);
    for (uint64_t end = now_ms() + 60000; now_ms() < end; msleep(100)) {
        if (desk_t_run(sargv, out, NULL, O_TRUNC) == 0) {
            char *txt = slurp(out);
            int up = txt && strstr(txt, "\"run_state\":\"RUNNING\"") != NULL;
            free(txt);
            if (up)
                return 0;
        }
    }
    char *log = slurp(deskd_log);
    fprintf(stderr, "deskd did not come up:\n%s\n", log ? log : "");
    free(log);
    return -1;
}

static int setup(void **state)
{
    (void)state;
    desk_t_need_marketdata(DESK_SHARED_DATA "/marketdata");
    snprintf(desk_name, sizeof desk_name, "e2e%d", (int)getpid());
    snprintf(dir, sizeof dir, "/tmp/desk-e2e-%d", (int)getpid());
    mkdir(dir, 0700);
    /* desk.toml.example as a user would copy it: another name, faster replay. */
    char *ex = slurp(DESK_SOURCE_DIR "/desk.toml.example");
    assert_non_null(ex);
    snprintf(toml, sizeof toml, "%s/desk.toml", dir);
    FILE *f = fopen(toml, "w");
    assert_non_null(f);
    for (char *line = strtok(ex, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "name = \"demo\"", 13) == 0)
            fprintf(f, "name = \"%s\"%s\n", desk_name, line + 13);
        else if (strncmp(line, "speed = ", 8) == 0)
            fprintf(f, "speed = \"40\"\n");
        else if (strncmp(line, "reconcile_interval_ms = ", 24) == 0)
            fprintf(f, "reconcile_interval_ms = 300\n");
        else
            fprintf(f, "%s\n", line);
    }
    fclose(f);
    free(ex);
    snprintf(deskd_log, sizeof deskd_log, "%s/deskd.log", dir);
    return start_deskd();
}

static int teardown(void **state)
{
    (void)state;
    if (deskd > 0) {
        kill(deskd, SIGKILL);
        waitpid(deskd, NULL, 0);
    }
    return 0;
}

/* The paper venue's account reports taken so far (0 before the first). */
static double recon_reports(const cJSON *st)
{
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(st, "reconciliation");
    const cJSON *rconn = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rec, "connectors"), 0);
    return rconn ? num(rconn, "reports") : 0;
}

/* desk status once the paper venue has sent at least `more` account reports
 * after this call (every reconcile_interval_ms, 300 ms in this test's
 * desk.toml): what deskd publishes then was compared with the venue's
 * account after everything before the call.  Caller deletes; fails after
 * 60 s (a loaded sanitized CI machine). */
static cJSON *status_after_reports(double more)
{
    cJSON *st = status_json();
    double want = recon_reports(st) + more;
    for (uint64_t end = now_ms() + 60000; recon_reports(st) < want; msleep(100)) {
        if (now_ms() > end) {
            char *log = slurp(deskd_log);
            fail_msg("the paper venue sent no account report in 60 s; deskd log:\n%s",
                     log ? log : "");
        }
        cJSON_Delete(st);
        st = status_json();
    }
    return st;
}

static void test_strategy_and_status_agree(void **state)
{
    (void)state;
    char out[300];
    snprintf(out, sizeof out, "%s/mm.json", dir);
    char *argv[] = {DESK_MM, "-n", desk_name, "--seconds", "6", "--take-every", "10", "--json",
                    NULL};
    assert_int_equal(desk_t_run(argv, out, NULL, O_TRUNC), 0);
    char *txt = slurp(out);
    cJSON *mm = cJSON_Parse(txt);
    if (mm == NULL)
        fail_msg("desk-mm --json is not JSON: %.300s", txt);
    free(txt);
    /* It traded: orders out, fills back. */
    assert_true(num(mm, "orders_sent") > 0);
    assert_true(num(mm, "fills") > 0);
    assert_true(num(mm, "open_orders_left") == 0);

    /* desk-mm has seen every event of its orders, so deskd has booked them;
     * wait until the venue's reports have come in on those books (two
     * after desk-mm exited), then compare. */
    cJSON *st = status_after_reports(2);
    const cJSON *uta = cJSON_GetObjectItemCaseSensitive(st, "uta");
    const cJSON *pos = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(uta, "positions"), 0);
    const cJSON *strat =
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(st, "strategies"), 0);
    assert_non_null(pos);
    assert_non_null(strat);
    int64_t start_cash = 0;
    desk_fixed_parse_cstr("100000", &start_cash); /* desk.toml.example's paper cash */
    assert_true(fx(pos, "qty") == fx(mm, "position"));
    assert_true(fx(uta, "cash") - start_cash == fx(mm, "cash_change"));
    assert_true(fx(uta, "fees") == fx(mm, "fees"));
    assert_true(num(strat, "fills") == num(mm, "fills"));
    assert_true(num(strat, "open_orders") == 0);
    /* NAV is cash plus the position marked at the published mark. */
    int64_t value = 0;
    assert_int_equal(desk_fixed_mul(fx(pos, "mark_px"), fx(pos, "qty"), &value), 0);
    assert_true(fx(uta, "nav") == fx(uta, "cash") + value);
    /* The paper venue's own account agrees with deskd's: its reports (every
     * 300 ms here) were compared and found no break, not even while the
     * strategy traded. */
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(st, "reconciliation");
    const cJSON *rconn = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rec, "connectors"), 0);
    assert_non_null(rconn);
    double reports0 = num(rconn, "reports");
    assert_true(reports0 >= 2);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rconn, "positions")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rconn, "balance")));
    assert_true(num(rec, "open_breaks") == 0);
    assert_true(fx(rconn, "venue_cash") == fx(uta, "cash"));
    printf("e2e: %g orders, %g fills, position %s, cash change %s\n", num(mm, "orders_sent"),
           num(mm, "fills"), cJSON_GetObjectItemCaseSensitive(mm, "position")->valuestring,
           cJSON_GetObjectItemCaseSensitive(mm, "cash_change")->valuestring);
    cJSON_Delete(st);
    cJSON_Delete(mm);
}

/* A strategy that dies with resting orders has them cancelled by deskd
 * (cancel_on_disconnect, the default). */
static void test_cancel_on_disconnect(void **state)
{
    (void)state;
    char out[300];
    snprintf(out, sizeof out, "%s/mm-killed.json", dir);
    char *argv[] = {DESK_MM, "-n", desk_name, "--seconds", "60", "--json", NULL};
    pid_t mm = desk_t_spawn(argv, out, NULL, O_TRUNC);
    assert_true(mm > 0);
    /* Wait until it has orders resting at the venue. */
    double open = 0;
    for (uint64_t t0 = now_ms(); now_ms() - t0 < 60000 && open == 0;) {
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
        cJSON *st = status_json();
        open = num(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(st, "strategies"), 0),
                   "open_orders");
        cJSON_Delete(st);
    }
    assert_true(open > 0);
    assert_int_equal(kill(mm, SIGKILL), 0);
    waitpid(mm, NULL, 0);
    /* The control thread notices within 100 ms; the venue answers the
     * cancels; give it a few status intervals (bounded for a loaded machine). */
    for (uint64_t t0 = now_ms(); now_ms() - t0 < 30000 && open > 0;) {
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
        cJSON *st = status_json();
        open = num(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(st, "strategies"), 0),
                   "open_orders");
        cJSON_Delete(st);
    }
    assert_true(open == 0);
    cJSON *st = status_json();
    const cJSON *strat = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(st, "strategies"), 0);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(strat, "alive")));
    const cJSON *uta = cJSON_GetObjectItemCaseSensitive(st, "uta");
    assert_true(fx(uta, "reserved") == 0);
    cJSON_Delete(st);
    char *log = slurp(deskd_log);
    assert_non_null(strstr(log, "cancelling its open orders"));
    free(log);
}

static void test_kill_switch(void **state)
{
    (void)state;
    char out[300];
    snprintf(out, sizeof out, "%s/kill.txt", dir);
    char *halt[] = {DESK_CLI, "halt", "-n", desk_name, NULL};
    char *resume[] = {DESK_CLI, "resume", "-n", desk_name, NULL};
    assert_int_equal(desk_t_run(halt, out, NULL, O_TRUNC), 0);
    cJSON *st = status_json();
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(st, "kill")->valuestring, "HALTED");
    cJSON_Delete(st);
    /* A strategy run while HALTED gets every new order refused. */
    char mmout[300];
    snprintf(mmout, sizeof mmout, "%s/mm-halted.json", dir);
    char *argv[] = {DESK_MM, "-n", desk_name, "--seconds", "2", "--json", NULL};
    assert_int_equal(desk_t_run(argv, mmout, NULL, O_TRUNC), 0);
    char *txt = slurp(mmout);
    cJSON *mm = cJSON_Parse(txt);
    free(txt);
    assert_non_null(mm);
    assert_true(num(mm, "fills") == 0);
    const cJSON *why = cJSON_GetObjectItemCaseSensitive(mm, "rejects_by_reason");
    if (num(mm, "orders_sent") > 0)
        assert_true(num(why, "KILL_SWITCH") == num(mm, "rejects"));
    cJSON_Delete(mm);
    assert_int_equal(desk_t_run(resume, out, NULL, O_TRUNC), 0);
    st = status_json();
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(st, "kill")->valuestring, "ACTIVE");
    cJSON_Delete(st);
}

static void test_clean_stop(void **state)
{
    (void)state;
    int status = 0;
    char seg[64];

    assert_int_equal(kill(deskd, SIGTERM), 0);
    assert_int_equal(waitpid(deskd, &status, 0), deskd);
    deskd = -1;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    snprintf(seg, sizeof seg, "/dev/shm/desk.%s", desk_name);
    assert_int_not_equal(access(seg, F_OK), 0);
    snprintf(seg, sizeof seg, "/dev/shm/desk.%s.mm", desk_name);
    assert_int_not_equal(access(seg, F_OK), 0);
}

/* The breaks a restart must raise, from the books deskd recovered: cash,
 * and the position too if it is not flat.  0 while the books are not
 * published yet. */
static double breaks_expected(const cJSON *st)
{
    const cJSON *uta = cJSON_GetObjectItemCaseSensitive(st, "uta");
    const cJSON *pos = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(uta, "positions"), 0);
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(pos, "qty")))
        return 0;
    return fx(pos, "qty") != 0 ? 2 : 1;
}

/* Wait until `desk status --json` shows every break breaks_expected() names
 * (reconciliation: the venue's first report, then the router's compare);
 * returns the status (caller deletes) or fails after `ms`. */
static cJSON *wait_breaks(int ms)
{
    for (uint64_t end = now_ms() + (uint64_t)ms;; msleep(100)) {
        cJSON *st = status_json();
        const cJSON *rec = cJSON_GetObjectItemCaseSensitive(st, "reconciliation");
        double want = breaks_expected(st);
        if (want > 0 && cJSON_IsObject(rec) && num(rec, "open_breaks") >= want)
            return st;
        cJSON_Delete(st);
        if (now_ms() > end) {
            char *log = slurp(deskd_log);
            fail_msg("no reconciliation break after %d ms; deskd log:\n%s", ms, log ? log : "");
        }
    }
}

static const cJSON *find_break(const cJSON *st, const char *what)
{
    const cJSON *b;
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(st, "reconciliation");
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(rec, "breaks"))
    {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(b, "what");
        if (cJSON_IsString(w) && strcmp(w->valuestring, what) == 0)
            return b;
    }
    return NULL;
}

/* deskd restarts on the same journal: it recovers the day's cash and
 * position, but the paper venue lives inside deskd and starts over with its
 * configured cash and no position.  Reconciliation must say so: a cash break
 * (and a position break if the strategy ended with one) in desk status, in
 * the log and in the journal, with the desk's and the venue's figures. */
static void test_restart_reports_breaks(void **state)
{
    (void)state;
    assert_int_equal(start_deskd(), 0);
    cJSON *st = wait_breaks(60000);
    const cJSON *uta = cJSON_GetObjectItemCaseSensitive(st, "uta");
    const cJSON *pos = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(uta, "positions"), 0);
    int64_t start_cash = 0;
    desk_fixed_parse_cstr("100000", &start_cash);
    last_cash = fx(uta, "cash");
    last_qty = fx(pos, "qty");
    const cJSON *cash = find_break(st, "cash");
    assert_non_null(cash);
    assert_true(fx(cash, "desk") == fx(uta, "cash"));
    assert_true(fx(cash, "venue") == start_cash);
    assert_true(fx(cash, "desk") != start_cash);
    const cJSON *pb = find_break(st, "position");
    if (fx(pos, "qty") != 0) {
        assert_non_null(pb);
        assert_true(fx(pb, "desk") == fx(pos, "qty"));
        assert_true(fx(pb, "venue") == 0);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(pb, "symbol")->valuestring,
                            "BTCUSDT");
    } else {
        assert_null(pb);
    }
    cJSON_Delete(st);
    /* The control thread logs it soon after the router publishes it (100 ms
     * nominal; up to 30 s on a loaded CI machine). */
    char *log = NULL;
    for (uint64_t end = now_ms() + 30000; now_ms() < end; msleep(100)) {
        free(log);
        log = slurp(deskd_log);
        if (strstr(log, "reconcile: BREAK: connector paper: cash: desk "))
            break;
    }
    assert_non_null(strstr(log, "reconcile: BREAK: connector paper: cash: desk "));
    free(log);
    /* The journal holds it (written by the journal thread, maybe after the
     * log line: read it again until it shows, up to 30 s). */
    static const char jbreak[] = "\"what\":\"cash\",\"state\":\"open\",\"connector_index\":0,"
                                 "\"connector\":\"paper\"";
    char out[300], jdir[300];
    snprintf(out, sizeof out, "%s/breaks.json", dir);
    snprintf(jdir, sizeof jdir, "%s/journal", dir);
    char *jargv[] = {DESK_CLI, "journal", "-n", desk_name, "-d", jdir, "--kind", "break",
                     "--json", NULL};
    char *txt = NULL;
    for (uint64_t end = now_ms() + 30000; now_ms() < end; msleep(100)) {
        free(txt);
        assert_int_equal(desk_t_run(jargv, out, NULL, O_TRUNC), 0);
        txt = slurp(out);
        if (txt && strstr(txt, jbreak))
            break;
    }
    assert_non_null(txt);
    assert_non_null(strstr(txt, jbreak));
    free(txt);
    int status = 0;
    assert_int_equal(kill(deskd, SIGTERM), 0);
    assert_int_equal(waitpid(deskd, &status, 0), deskd);
    deskd = -1;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Stop deskd with SIGTERM and check it exits 0. */
static void stop_deskd(void)
{
    int status = 0;
    assert_int_equal(kill(deskd, SIGTERM), 0);
    assert_int_equal(waitpid(deskd, &status, 0), deskd);
    deskd = -1;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The books deskd publishes equal the last run's, and the day's figures
 * start over. */
static void expect_carried_books(void)
{
    cJSON *st = status_json();
    const cJSON *uta = cJSON_GetObjectItemCaseSensitive(st, "uta");
    const cJSON *pos = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(uta, "positions"), 0);
    assert_true(fx(uta, "cash") == last_cash);
    assert_true(fx(pos, "qty") == last_qty);
    assert_true(fx(uta, "realized_pnl") == 0);
    assert_true(fx(uta, "fees") == 0);
    cJSON_Delete(st);
}

/* deskd was down at midnight: today has no journal yet, the last one is an
 * earlier day's.  deskd carries what it left (cash, positions, open orders)
 * into a snapshot at the head of today's file, the day's realized PnL and
 * fees start over, and today's file then replays on its own. */
static void test_new_day_carries(void **state)
{
    (void)state;
    char jdir[300], from[700], to[680];
    snprintf(jdir, sizeof jdir, "%s/journal", dir);
    DIR *dp = opendir(jdir);
    assert_non_null(dp);
    int n = 0;
    for (struct dirent *e; (e = readdir(dp)) != NULL;)
        if (strstr(e->d_name, ".journal")) {
            snprintf(from, sizeof from, "%s/%s", jdir, e->d_name);
            n++;
        }
    closedir(dp);
    assert_int_equal(n, 1);
    snprintf(to, sizeof to, "%s/desk-%s-20000101.journal", jdir, desk_name);
    assert_int_equal(rename(from, to), 0);

    assert_int_equal(start_deskd(), 0);
    char *log = slurp(deskd_log);
    int carried = strstr(log, "journal: a new day: carried 0 open order(s), cash and "
                              "positions from ") != NULL;
    free(log);
    assert_true(carried);
    expect_carried_books();
    stop_deskd();
    /* Today's file alone (the old day's is moved away) gives the same books. */
    snprintf(from, sizeof from, "%s.aside", to);
    assert_int_equal(rename(to, from), 0);
    assert_int_equal(start_deskd(), 0);
    expect_carried_books();
    stop_deskd();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strategy_and_status_agree),
        cmocka_unit_test(test_cancel_on_disconnect),
        cmocka_unit_test(test_kill_switch),
        cmocka_unit_test(test_clean_stop),
        cmocka_unit_test(test_restart_reports_breaks),
        cmocka_unit_test(test_new_day_carries),
    };
    /* A failed run keeps its folder for a look; a passing one removes it. */
    return desk_t_cleanup_dir(dir, cmocka_run_group_tests(tests, setup, teardown));
}
