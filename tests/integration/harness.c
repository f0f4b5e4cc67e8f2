/*
 * harness.c - helpers shared by the integration tests; see harness.h.
 */
#include "harness.h"

#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* In the forked child: descriptor `fd` becomes `path` opened with `flags`.
 * Async-signal-safe.  0 or -1. */
static int redirect(int fd, const char *path, int flags)
{
    int f = open(path, O_WRONLY | O_CREAT | flags, 0644);
    if (f < 0 || dup2(f, fd) < 0)
        return -1;
    if (f != fd) /* open may have given back fd itself if it was closed */
        close(f);
    return 0;
}

/* Child side of desk_t_spawn(): only async-signal-safe calls until exec,
 * since another thread of the test may have held a lock at the fork. */
static _Noreturn void spawn_child(char *const argv[], const char *out, const char *err,
                                  int out_flags, pid_t parent)
{
    /* Die with the test; if it already died before prctl took effect, the
     * child was reparented and nobody would kill it: go now. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(127);
    if ((out && redirect(1, out, out_flags) != 0) || (err && redirect(2, err, O_APPEND) != 0))
        _exit(127);
    execve(argv[0], argv, environ);
    _exit(127);
}

pid_t desk_t_spawn(char *const argv[], const char *out, const char *err, int out_flags)
{
    /* Output buffered here before the fork comes out before the child's. */
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        spawn_child(argv, out, err, out_flags, parent);
    return pid; /* -1: fork failed */
}

int desk_t_run(char *const argv[], const char *out, const char *err, int out_flags)
{
    int st = 0;
    pid_t pid = desk_t_spawn(argv, out, err, out_flags);
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *b = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (b = malloc((size_t)n + 1)) != NULL)
        b[fread(b, 1, (size_t)n, f)] = '\0'; /* a file cut meanwhile: what was read */
    fclose(f);
    return b;
}

int count_in(const char *path, const char *needle)
{
    char *t = slurp(path);
    int n = 0;
    for (const char *p = t ? t : ""; (p = strstr(p, needle)) != NULL; p++)
        n++;
    free(t);
    return n;
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

int desk_t_cleanup_dir(const char *dir, int failed)
{
    if (dir[0] == '\0')
        return failed;
    if (failed != 0 || getenv("DESK_TEST_KEEP") != NULL)
        printf("kept %s (%s)\n", dir, failed != 0 ? "a test failed" : "DESK_TEST_KEEP");
    else if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        printf("could not remove all of %s\n", dir);
    return failed;
}

void desk_t_need_marketdata(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        printf("skip: no recorded data at %s (run tools/fetch-data.sh)\n", dir);
        exit(77);
    }
    setenv("DESK_DATA_DIR", dir, 1);
}

void desk_t_unlink_segments(const char *desk_name)
{
    DIR *d = opendir("/dev/shm");
    struct dirent *e;
    char pre[64], p[300];
    snprintf(pre, sizeof pre, "desk.%s", desk_name);
    if (d == NULL)
        return;
    size_t n = strlen(pre);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, pre, n) == 0 && (e->d_name[n] == '\0' || e->d_name[n] == '.')) {
            snprintf(p, sizeof p, "/dev/shm/%s", e->d_name);
            unlink(p);
        }
    closedir(d);
}

uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}
