/*
 * harness.h - helpers shared by the integration tests (tests/integration):
 * starting desk's programs as child processes, reading their output files,
 * and the monotonic clock the tests' waits are bounded by.
 *
 * Built as the static library desk_t_harness; every function is for the
 * test's main thread unless it says otherwise.  slurp, count_in, now_ms and
 * msleep keep the names the tests gave their own copies, so that the many
 * places that call them read as before.
 */
#ifndef DESK_T_HARNESS_H
#define DESK_T_HARNESS_H

#include <fcntl.h> /* O_TRUNC, O_APPEND for desk_t_spawn's out_flags */
#include <stdint.h>
#include <sys/types.h>

/*
 * Start argv[0] (a path: no PATH search) with argv and this process's
 * environment.  `out`: NULL, stdout is ours; else stdout is that file,
 * created 0644 and opened O_WRONLY | O_CREAT | `out_flags` (O_TRUNC to start
 * it empty, O_APPEND to add to it).  `err`: NULL, stderr is ours; else stderr
 * is appended to that file (created 0644).  `out` and `err` may name the same
 * file (both should then append).  `out_flags` is ignored when out is NULL.
 *
 * The child is killed (SIGKILL, PR_SET_PDEATHSIG) when the test dies - a
 * failed assertion, an alarm, ctest's timeout - so no deskd, peer or CLI
 * outlives a failed run; a parent that died before the prctl took effect is
 * caught by a getppid() check.  PR_SET_PDEATHSIG follows the thread that
 * forks, so call from the test's main thread.  stdio is flushed before the
 * fork; between fork and exec the child makes only async-signal-safe calls,
 * so other threads (a TLS relay) may run meanwhile.  A child that cannot set
 * itself up (prctl, open, dup2) or exec exits 127.
 *
 * Returns the child's pid (the caller reaps it: waitpid), or -1 with errno
 * set when fork fails.
 */
pid_t desk_t_spawn(char *const argv[], const char *out, const char *err, int out_flags);

/*
 * desk_t_spawn(argv, out, err, out_flags), then wait for the child without
 * a bound.  Returns its exit code, 128 + the signal that killed it, or -1
 * when it could not be started or waited for.
 */
int desk_t_run(char *const argv[], const char *out, const char *err, int out_flags);

/*
 * The whole file at `path` as a NUL-terminated string the caller frees;
 * NULL when it cannot be opened or read.  Bytes after a NUL in the file are
 * there but hidden from string functions.
 */
char *slurp(const char *path);

/* Occurrences of `needle` (non-empty) in the file at `path`, overlapping
 * ones counted; 0 when the file cannot be read. */
int count_in(const char *path, const char *needle);

/*
 * The end of a test program's scratch folder `dir`, called from main()
 * after the run with the number of tests that failed (what
 * cmocka_run_group_tests() returned).  When every test passed it is removed
 * with everything in it (no symlink followed); when one failed, or
 * DESK_TEST_KEEP is set in the environment, it is kept (deskd's log, the
 * journal, the venue's log) and its path printed.  An empty `dir` (the run
 * stopped before making it) is left alone.  Returns `failed`, so that main
 * can return desk_t_cleanup_dir(dir, cmocka_run_group_tests(...)).
 */
int desk_t_cleanup_dir(const char *dir, int failed);

/*
 * The recorded market data at `dir` (../shared/data/marketdata), or skip:
 * prints where no data was found and exits 77 (ctest's SKIP_RETURN_CODE).
 * Sets DESK_DATA_DIR to `dir` for deskd and the strategies.
 */
void desk_t_need_marketdata(const char *dir);

/* Remove the shared-memory segments (/dev/shm/desk.NAME and
 * desk.NAME.*) a SIGKILLed deskd named `desk_name` left behind. */
void desk_t_unlink_segments(const char *desk_name);

/* CLOCK_MONOTONIC in milliseconds (desk_now()'s clock). */
uint64_t now_ms(void);

/* Sleep `ms` milliseconds (0..INT_MAX); a signal may cut it short. */
void msleep(int ms);

#endif /* DESK_T_HARNESS_H */
