/*
 * desk.c - the `desk` command.
 *
 *   desk up [-c desk.toml]                run deskd in the foreground
 *   desk status [-n DESK] [--json] [--watch [--interval MS]]
 *   desk halt | reduce | resume [-n DESK] the kill switch
 *   desk journal [-n DESK | -f FILE] ...  print and filter a journal
 *   desk check [-c desk.toml]             load and validate desk.toml only
 *   desk connect equities --name N --env-prefix P [-c desk.toml]
 *                                         add an alpaca connector to desk.toml
 *
 * Exit codes: 0 success, 1 usage, 2 error (a message on stderr says what).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/config.h"
#include "core/deskd.h"
#include "core/err.h"

static void usage(FILE *f)
{
    fputs("usage: desk up [-c desk.toml]\n"
          "       desk status [-n DESK] [--json] [--watch [--interval MS]]\n"
          "       desk halt|reduce|resume [-n DESK]\n"
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
