/*
 * desk.c - the `desk` command.
 *
 *   desk up [-c desk.toml]                run deskd in the foreground
 *   desk status [-n DESK] [--json] [--watch [--interval MS]]
 *   desk halt | reduce | resume [-n DESK] the kill switch
 *   desk halt --cancel-all [-n DESK]      HALTED, and cancel every open order
 *   desk journal [-n DESK | -f FILE] ...  print and filter a journal
 *   desk check [-c desk.toml]             load and validate desk.toml only
 *   desk connect equities --name N --env-prefix P [-c desk.toml]
 *                                         add an alpaca connector to desk.toml
 *
 * Exit codes: 0 success, 1 usage, 2 error (a message on stderr says what).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/control.h"
#include "core/deskd.h"
#include "core/err.h"
#include "ring/shm.h"

static void usage(FILE *f)
{
    fputs("usage: desk up [-c desk.toml]\n"
          "       desk status [-n DESK] [--json] [--watch [--interval MS]]\n"
          "       desk halt|reduce|resume [-n DESK]\n"
          "       desk halt --cancel-all [-n DESK]\n"
          "       desk journal [-n DESK | -f FILE] [--json] [--strategy S] [--clordid N] ...\n"
          "       desk check [-c desk.toml]\n"
          "       desk connect equities --name NAME --env-prefix PFX [-c desk.toml]\n",
          f);
}

static const char *config_arg(int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
            return argv[i + 1];
        if (strcmp(argv[i], "-c") == 0 || argv[i][0] == '-') {
            fprintf(stderr, "desk: unknown or incomplete option '%s'\n", argv[i]);
            return NULL;
        }
    }
    return "desk.toml";
}

static int load(desk_config_t **cfg, const char *path)
{
    *cfg = calloc(1, sizeof **cfg);
    if (*cfg == NULL) {
        fprintf(stderr, "desk: out of memory\n");
        return 2;
    }
    if (desk_config_load(*cfg, path) < 0) {
        fprintf(stderr, "desk: %s\n", desk_errmsg());
        free(*cfg);
        *cfg = NULL;
        return 2;
    }
    return 0;
}

/* True if the subcommand's arguments ask for --cancel-all. */
static int wants_cancel_all(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--cancel-all") == 0)
            return 1;
    return 0;
}

/*
 * `desk halt --cancel-all [-n DESK]`: send DESK_KILL_SIGNAL with HALTED |
 * DESK_KILL_CANCEL_ALL (core/control.h) to deskd, which sets the kill switch
 * to HALTED, asks the router to cancel every strategy's open orders, and
 * then bumps kill_seq.  Waits up to 3 s for kill_seq to move with the switch
 * HALTED: the cancels are then requested (the venues answer them after).
 * Returns 0, or 2 (usage, no desk, not running, permission, no
 * confirmation).  Main thread.
 */
static int halt_cancel_all(int argc, char **argv)
{
    static const struct option opts[] = {{"name", required_argument, NULL, 'n'},
                                         {"cancel-all", no_argument, NULL, 'a'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *env = getenv("DESK_NAME");
    const char *desk = env && *env ? env : "demo";
    int c;

    optind = 0;
    while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
        if (c == 'n')
            desk = optarg;
        else if (c == 'h') {
            printf("usage: desk halt [--cancel-all] [-n DESK]\n");
            return DESK_CLI_OK;
        } else if (c != 'a') {
            fprintf(stderr, "usage: desk halt [--cancel-all] [-n DESK]\n");
            return DESK_CLI_ERROR;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "usage: desk halt [--cancel-all] [-n DESK]\n");
        return DESK_CLI_ERROR;
    }
    const struct desk_main_hdr *h = NULL;
    size_t len = 0;
    int rc = desk_shm_main_attach(desk, &h, &len);
    if (rc < 0) {
        fprintf(stderr, "desk: desk '%s': %s\n", desk,
                rc == -ENOENT ? "no such desk (is deskd running?)" : desk_errmsg());
        return DESK_CLI_ERROR;
    }
    int32_t pid = h->router_pid;
    /* Acquire pairs with the control thread's release bump of kill_seq. */
    uint32_t seq0 = atomic_load_explicit(&h->kill_seq, memory_order_acquire);
    uint32_t run = atomic_load_explicit(&h->run_state, memory_order_acquire);
    int value = desk_control_kill_encode(DESK_KILL_HALTED, DESK_KILL_CANCEL_ALL);
    rc = DESK_CLI_ERROR;
    /* Only a RUNNING deskd is known to have blocked the signal. */
    if (pid <= 0 || run != DESK_RUN_RUNNING) {
        fprintf(stderr, "desk: desk '%s' is not running (deskd pid %d)\n", desk, (int)pid);
        goto out;
    }
    if (sigqueue((pid_t)pid, DESK_KILL_SIGNAL, (union sigval){.sival_int = value}) < 0) {
        fprintf(stderr, "desk: desk '%s': signalling deskd (pid %d): %s\n", desk, (int)pid,
                strerror(errno));
        goto out;
    }
    for (uint64_t deadline = desk_now_ns() + UINT64_C(3000000000);;) {
        /* Acquire pairs with the control thread's release bump of kill_seq,
         * made after its cancel requests. */
        uint32_t seq = atomic_load_explicit(&h->kill_seq, memory_order_acquire);
        uint32_t k = atomic_load_explicit(&h->kill, memory_order_acquire);
        if (seq != seq0 && k == DESK_KILL_HALTED) {
            printf("desk %s: HALTED; cancelling every open order\n", desk);
            rc = DESK_CLI_OK;
            break;
        }
        if (desk_now_ns() >= deadline) {
            fprintf(stderr, "desk: desk '%s': deskd (pid %d) did not confirm HALTED with "
                            "--cancel-all within 3 s (kill switch is %s)\n",
                    desk, (int)pid, desk_kill_name(k));
            break;
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
out:
    desk_shm_unmap(h, len);
    return rc;
}

int main(int argc, char **argv)
{
    desk_config_t *cfg;
    const char *path;
    int rc;

    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "up") == 0 || strcmp(cmd, "check") == 0) {
        if ((path = config_arg(argc, argv)) == NULL)
            return 1;
        if ((rc = load(&cfg, path)) != 0)
            return rc;
        if (strcmp(cmd, "check") == 0) {
            printf("%s: ok (desk %s: %u connector(s), %u instrument(s), %u strateg%s)\n", path,
                   cfg->name, cfg->nconnectors, cfg->ninstruments, cfg->nstrategies,
                   cfg->nstrategies == 1 ? "y" : "ies");
            free(cfg);
            return 0;
        }
        rc = desk_deskd_run(cfg, NULL);
        if (rc < 0)
            fprintf(stderr, "desk up: %s\n", desk_errmsg());
        free(cfg);
        return rc < 0 ? 2 : 0;
    }
    if (strcmp(cmd, "status") == 0)
        return desk_cli_status(argc - 1, argv + 1);
    if (strcmp(cmd, "connect") == 0)
        return desk_cli_connect(argc - 1, argv + 1);
    if (strcmp(cmd, "journal") == 0)
        return desk_cli_journal(argc - 1, argv + 1);
    if (strcmp(cmd, "halt") == 0 && wants_cancel_all(argc - 1, argv + 1))
        return halt_cancel_all(argc - 1, argv + 1);
    if (strcmp(cmd, "halt") == 0)
        return desk_cli_kill(argc - 1, argv + 1, DESK_KILL_HALTED);
    if (strcmp(cmd, "reduce") == 0)
        return desk_cli_kill(argc - 1, argv + 1, DESK_KILL_REDUCING);
    if (strcmp(cmd, "resume") == 0)
        return desk_cli_kill(argc - 1, argv + 1, DESK_KILL_ACTIVE);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "desk: unknown command '%s'\n", cmd);
    usage(stderr);
    return 1;
}
