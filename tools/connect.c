/*
 * connect.c - `desk connect TYPE --name NAME --env-prefix PFX [-c desk.toml]
 * [--base-url URL]`: append a [[connector]] block for a venue account to
 * desk.toml, with credentials by reference only.
 *
 * TYPE is a venue type; today `equities`, served by the built-in alpaca
 * connector.  The block written is
 *
 *     [[connector]]
 *     name = "NAME"
 *     type = "alpaca"
 *     venue_type = "equities"
 *
 *     [connector.options]
 *     base_url = "https://paper-api.alpaca.markets"
 *     api_key_id = { env = "PFX_API_KEY_ID" }
 *     api_secret_key = { env = "PFX_API_SECRET_KEY" }
 *
 * The file is never edited in place: the result goes to a temporary file
 * next to it (same mode), is loaded with desk_config_load() (the same
 * validation as `desk up`; unset PFX_* variables are given placeholders
 * for this check only, in this process), and only then renamed over
 * desk.toml.  A connector name already in the file is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "core/config.h"
#include "core/err.h"

#define PAPER_URL "https://paper-api.alpaca.markets"

static void connect_usage(FILE *f)
{
    fputs("usage: desk connect equities --name NAME --env-prefix PFX [-c desk.toml]\n"
          "                              [--base-url https://host[:port]]\n"
          "  Appends an alpaca connector (venue_type equities) to desk.toml that reads its\n"
          "  credentials from $PFX_API_KEY_ID and $PFX_API_SECRET_KEY.  Default endpoint:\n"
          "  Alpaca paper trading, " PAPER_URL ".\n",
          f);
}

/* 1..DESK_NAME_MAX-1 of [A-Za-z0-9_-], as desk.toml wants for names. */
static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= DESK_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* An environment variable prefix: [A-Z_][A-Z0-9_]*, at most 64 bytes. */
static int valid_prefix(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* A base URL we can write into a TOML string as is. */
static int valid_url(const char *s)
{
    if (strncmp(s, "https://", 8) != 0 || s[8] == '\0' || strlen(s) > 256)
        return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == '"' || *p == '\\' || (unsigned char)*p >= 0x7f)
            return 0;
    return 1;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    size_t cap = 0, n = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        if (n + 4096 > cap) {
            char *nb = realloc(b, cap = cap ? cap * 2 : 65536);
            if (nb == NULL) {
                free(b);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            b = nb;
        }
        size_t r = fread(b + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(b);
        errno = EIO;
        return NULL;
    }
    b[n] = '\0';
    *len = n;
    return b;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int desk_cli_connect(int argc, char **argv)
{
    const char *type = NULL, *name = NULL, *prefix = NULL, *path = "desk.toml";
    const char *url = PAPER_URL;
    char tmp[4096], var_id[96], var_secret[96], block[1024];
    desk_config_t *cfg = NULL;
    char *text = NULL;
    size_t len = 0;
    int fd = -1, rc = DESK_CLI_ERROR;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            connect_usage(stdout);
            return 0;
        }
        if (strcmp(a, "--name") == 0)
            dst = &name;
        else if (strcmp(a, "--env-prefix") == 0)
            dst = &prefix;
        else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0)
            dst = &path;
        else if (strcmp(a, "--base-url") == 0)
            dst = &url;
        if (dst) {
            if (i + 1 >= argc) {
                fprintf(stderr, "desk connect: %s needs a value\n", a);
                connect_usage(stderr);
                return 1;
            }
            *dst = argv[++i];
        } else if (a[0] != '-' && type == NULL) {
            type = a;
        } else {
            fprintf(stderr, "desk connect: unknown argument '%s'\n", a);
            connect_usage(stderr);
            return 1;
        }
    }
    if (type == NULL || name == NULL || prefix == NULL) {
        connect_usage(stderr);
        return 1;
    }
    if (strcmp(type, "equities") != 0) {
        fprintf(stderr,
                "desk connect: venue type '%s' has no built-in connector yet; "
                "'equities' (alpaca) is supported\n",
                type);
        return 1;
    }
    if (!valid_name(name)) {
        fprintf(stderr, "desk connect: --name '%s': use 1..%d letters, digits, '_' or '-'\n", name,
                DESK_NAME_MAX - 1);
        return 1;
    }
    if (!valid_prefix(prefix)) {
        fprintf(stderr,
                "desk connect: --env-prefix '%s': use an environment variable prefix "
                "(A-Z, 0-9, '_'; not starting with a digit)\n",
                prefix);
        return 1;
    }
    if (!valid_url(url)) {
        fprintf(stderr, "desk connect: --base-url '%s' is not an https:// URL\n", url);
        return 1;
    }
    snprintf(var_id, sizeof var_id, "%s_API_KEY_ID", prefix);
    snprintf(var_secret, sizeof var_secret, "%s_API_SECRET_KEY", prefix);

    struct stat st;
    text = read_file(path, &len);
    if (text == NULL || stat(path, &st) != 0) {
        fprintf(stderr, "desk connect: cannot read %s: %s\n", path, strerror(errno));
        goto out;
    }
    cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL) {
        fprintf(stderr, "desk connect: out of memory\n");
        goto out;
    }
    /* The checks below resolve credential references: give our two
     * variables a placeholder if they are not set (this process only). */
    setenv(var_id, "desk-connect-placeholder", 0);
    setenv(var_secret, "desk-connect-placeholder", 0);
    /* A duplicate name, said plainly when the current file loads. */
    if (desk_config_load(cfg, path) == 0) {
        for (uint32_t i = 0; i < cfg->nconnectors; i++)
            if (strcmp(cfg->connectors[i].name, name) == 0) {
                fprintf(stderr, "desk connect: %s already has a connector named '%s'\n", path,
                        name);
                goto out;
            }
    }
    int bl = snprintf(block, sizeof block,
                      "%s\n# Added by `desk connect equities --name %s --env-prefix %s`.\n"
                      "[[connector]]\n"
                      "name = \"%s\"\n"
                      "type = \"alpaca\"\n"
                      "venue_type = \"equities\"\n"
                      "\n"
                      "[connector.options]\n"
                      "base_url = \"%s\"\n"
                      "api_key_id = { env = \"%s\" }\n"
                      "api_secret_key = { env = \"%s\" }\n",
                      len > 0 && text[len - 1] != '\n' ? "\n" : "", name, prefix, name, url, var_id,
                      var_secret);
    if (bl < 0 || (size_t)bl >= sizeof block) {
        fprintf(stderr, "desk connect: arguments too long\n");
        goto out;
    }
    if (snprintf(tmp, sizeof tmp, "%s.connect-%d.tmp", path, (int)getpid()) >= (int)sizeof tmp) {
        fprintf(stderr, "desk connect: path too long\n");
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777);
    if (fd < 0) {
        fprintf(stderr, "desk connect: cannot create %s: %s\n", tmp, strerror(errno));
        goto out;
    }
    int w = write_all(fd, text, len);
    if (w == 0)
        w = write_all(fd, block, (size_t)bl);
    if (w == 0 && fsync(fd) != 0)
        w = -errno;
    if (close(fd) != 0 && w == 0)
        w = -errno;
    fd = -1;
    if (w != 0) {
        fprintf(stderr, "desk connect: cannot write %s: %s\n", tmp, strerror(-w));
        unlink(tmp);
        goto out;
    }
    /* Validate the result exactly as `desk up` would load it. */
    if (desk_config_load(cfg, tmp) != 0) {
        fprintf(stderr, "desk connect: the result would not load, %s left unchanged:\n  %s\n", path,
                desk_errmsg());
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "desk connect: cannot replace %s: %s\n", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    printf("%s: added connector '%s' (alpaca, equities) at %s\n"
           "  credentials: $%s and $%s (set them before `desk up`)\n"
           "  next: add [[instrument]] blocks with venue = \"%s\" (asset_class = \"equity\")\n",
           path, name, url, var_id, var_secret, name);
    rc = 0;
out:
    free(text);
    free(cfg);
    return rc;
}
