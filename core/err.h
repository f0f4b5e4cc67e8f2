/*
 * err.h - error detail for cold paths (after Aeron's thread-local error).
 *
 * Every desk function returns int: >= 0 on success, -errno on failure.  A
 * cold-path failure may attach a human-readable sentence with DESK_ERR();
 * the caller reads it with desk_errmsg() on the same thread.  Hot paths never
 * format strings: they return the bare -errno or a verdict value.
 */
#ifndef DESK_ERR_H
#define DESK_ERR_H

#include "desk_compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Record `fmt` as this thread's last error message (a sentence that stands
 * alone: it reaches users as is), and return `err` unchanged so that callers can write
 * `return DESK_ERR(-EINVAL, "...")`.  Thread-safe (thread-local storage);
 * never allocates; messages longer than 511 bytes are cut with "...".
 */
int desk__err_set(int err, const char *func, int line, const char *fmt, ...) DESK_PRINTF(4, 5);

#define DESK_ERR(err, ...) desk__err_set((err), __func__, __LINE__, __VA_ARGS__)

/*
 * The last message recorded by DESK_ERR() on this thread, or "" if none.
 * The pointer stays valid until the next DESK_ERR() on this thread.
 */
const char *desk_errmsg(void);

/* Forget this thread's last message (tests use it between cases). */
void desk_errclear(void);

#ifdef __cplusplus
}
#endif

#endif /* DESK_ERR_H */
