/*
 * loop.h - the io_uring event loop of a connector thread.
 *
 * Thread model.  One desk_loop_t (one io_uring) per connector thread, and
 * that thread alone calls it: every function here, and every callback,
 * which runs inside desk_loop_poll() on that thread.  Several connections,
 * and several connectors (on a 2-core machine every connector may share one
 * thread), share a loop; they are told apart by socket slot and by timer id,
 * never by locks, because nothing here is shared with another thread.  The
 * router thread never touches a loop: orders reach a connector through its
 * SPSC ring and the connector thread turns them into desk_loop_sock_send().
 * There is no wake-up fd: the connector thread polls its rings and its loop
 * in one idle loop (spin, yield or backoff, with desk_loop_wait() as the
 * sleep when everything is idle).
 *
 * No allocation.  desk_loop_init() reserves everything the loop will ever
 * use: the ring (SQ and a CQ sized so completions never overflow), the
 * socket slot table, the timer table and one mmap'ed region holding every
 * slot's receive buffer and send ring.  After init nothing on the loop
 * allocates, per message or otherwise: sends are copied into the slot's
 * preallocated send ring (full -> -ENOBUFS, never a drop), receives land in
 * the slot's receive buffer, timers take a preallocated slot (none free ->
 * -ENOSPC).  Starting a connection attempt and finishing one are cold and
 * make a few system calls (socket, setsockopt, the registered-file update,
 * shutdown, close); steady-state traffic makes only io_uring_enter.
 *
 * Sockets.  A socket slot is claimed once (desk_loop_sock_claim, cold) by the
 * object that will use it (a desk_conn_t) and is then reused by every
 * connection attempt of that object.  Each attempt is a "generation" of the
 * slot: desk_loop_sock_connect() starts one, and it always ends with exactly
 * one on_close() callback, whether the connect failed, timed out, the peer
 * hung up or the owner closed it.  Between on_open() and on_close() the loop
 * keeps a receive armed into the slot's preallocated receive buffer and sends
 * from the slot's preallocated send ring.
 *
 * Completions.  Every SQE carries user_data = (op, slot index, generation),
 * see DESK_LOOP_UDATA.  A slot is reused only after every CQE of its previous
 * generation has been reaped, so the kernel never writes into a buffer that
 * belongs to a newer connection; a CQE whose generation does not match its
 * slot is counted in stats.stale and otherwise ignored, and so is any CQE of
 * a slot that is closing (no callback after close was requested).
 *
 * Polling.  desk_loop_poll() never blocks: it submits pending SQEs (the
 * io_uring_enter syscall: this is the connector thread's I/O), reaps every
 * ready CQE, runs the callbacks and returns how many completions it handled.
 * desk_loop_wait() is the optional idle step: it sleeps in the kernel until a
 * completion arrives or a bound elapses, instead of spinning.
 *
 * Back-pressure.  A full submission queue makes the calls that need an SQE
 * return -EBUSY with nothing done; the next desk_loop_poll() (or
 * desk_loop_submit()) empties the SQ and the caller retries.  A full send
 * ring returns -ENOBUFS: bytes are never dropped silently.
 *
 * Threads: see "Thread model" above; desk_loop_init() may run on any thread
 * before the loop is handed to its connector thread.
 */
#ifndef DESK_LOOP_H
#define DESK_LOOP_H

#include <liburing.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/desk_compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* desk_loop_cfg.flags */
#define DESK_LOOP_F_FIXED_BUFS 0x1u     /* register the buffer region and receive with
                                           READ_FIXED (falls back if the kernel refuses) */
#define DESK_LOOP_F_NO_FIXED_FILES 0x2u /* do not use a registered file table */

/* desk_loop_sock_send() flags */
#define DESK_LOOP_SEND_DEFER 0x1u /* accept the bytes even when the SQ is full: the
                                     send is armed by the next desk_loop_poll() */

/* desk_loop_sock_close() flags */
#define DESK_LOOP_CLOSE_FLUSH 0x1u /* send what is queued first, then close */

/* Sizes of the loop; a zero field takes the default in brackets. */
typedef struct desk_loop_cfg {
    uint32_t sq_entries; /* SQ ring entries, 1..4096, rounded up to a power of two [256] */
    uint32_t max_timers; /* one-shot timer slots [64] */
    uint32_t rbuf_size;  /* per-socket receive buffer, 1..64 MiB [65536] */
    uint32_t sbuf_size;  /* per-socket send ring, 64..64 MiB, rounded up to a
                            power of two [65536] */
    uint32_t flags;      /* DESK_LOOP_F_* */
} desk_loop_cfg_t;

/* Counters, for tests and desk status.  Written by the loop's thread only. */
typedef struct desk_loop_stats {
    uint64_t cqes;      /* completions reaped */
    uint64_t stale;     /* completions ignored: old generation or closing slot */
    uint64_t submits;   /* io_uring_submit calls that submitted something */
    uint64_t sq_full;   /* times an SQE was not available */
    uint64_t deferred;  /* re-arms postponed to the next poll for lack of an SQE */
    uint64_t submit_err; /* io_uring_submit failures other than -EBUSY/-EAGAIN */
} desk_loop_stats_t;

typedef struct desk_loop desk_loop_t;

/*
 * Socket callbacks.  The table is borrowed for the life of the claim.  All
 * run inside desk_loop_poll() on the loop's thread and may call any loop
 * function, including desk_loop_sock_close() and, from on_close(),
 * desk_loop_sock_connect() on the same slot.
 */
typedef struct desk_loop_sock_cb {
    /* The TCP connect succeeded; receives are armed and queued sends go out. */
    void (*on_open)(desk_loop_t *loop, uint32_t id, void *ctx);
    /* `len` (> 0) bytes arrived.  `data` is the slot's receive buffer,
     * borrowed for the call only: the next receive is armed after return. */
    void (*on_recv)(desk_loop_t *loop, uint32_t id, const uint8_t *data, size_t len, void *ctx);
    /* A send completed and freed space in the send ring (may be NULL). */
    void (*on_drain)(desk_loop_t *loop, uint32_t id, void *ctx);
    /* The generation ended and every one of its CQEs has been reaped; the
     * slot is idle again.  `err`: 0 peer closed in order (EOF) or closed by
     * desk_loop_sock_close() with reason 0; -ETIMEDOUT connect timeout;
     * -ECONNREFUSED, -ECONNRESET, -EPIPE, ... from the kernel; or the
     * reason passed to desk_loop_sock_close(). */
    void (*on_close)(desk_loop_t *loop, uint32_t id, int err, void *ctx);
} desk_loop_sock_cb_t;

/* One-shot timer callback; `id` is the id desk_loop_timer_add() returned. */
typedef void (*desk_loop_timer_fn)(desk_loop_t *loop, uint64_t id, void *ctx);

struct desk_loop_sock;  /* private: loop.c */
struct desk_loop_timer; /* private: loop.c */

/* The loop.  Caller-provided storage; the fields are private to loop.c. */
struct desk_loop {
    struct io_uring ring;           /* the ring; its memory is the kernel's mapping */
    struct desk_loop_sock *socks;   /* [nsocks] socket slots (owned, malloc at init) */
    struct desk_loop_timer *timers; /* [ntimers] timer slots (owned) */
    uint8_t *mem;                   /* receive buffers then send rings (owned, mmap) */
    size_t mem_len;                 /* bytes mapped at mem */
    uint32_t nsocks;                /* socket slots */
    uint32_t ntimers;               /* timer slots */
    uint32_t timer_free;            /* head of the free timer list, or UINT32_MAX */
    uint32_t rbuf_size;             /* receive buffer per slot */
    uint32_t sbuf_size;             /* send ring per slot (power of two) */
    uint32_t flags;                 /* DESK_LOOP_F_* actually in effect */
    uint32_t inflight;              /* SQEs prepared whose CQE is not reaped yet */
    uint32_t ndeferred;             /* slots with postponed work */
    uint32_t in_poll;               /* 1 while desk_loop_poll() dispatches */
    uint32_t pad_;                  /* zero */
    uint64_t now_ns;                /* now_ns given to the current/last poll */
    desk_loop_stats_t stats;        /* counters */
};

/*
 * user_data layout: op in bits 56..63, slot index in bits 32..55, generation
 * in bits 0..31.  Exposed for the tests' stale-CQE injection.
 */
#define DESK_LOOP_UDATA(op, idx, gen)                                                   \
    (((uint64_t)(op) << 56) | (((uint64_t)(idx) & 0xffffffu) << 32) | (uint64_t)(uint32_t)(gen))

/* Operation codes carried in user_data. */
enum desk_loop_op {
    DESK_LOOP_OP_NONE = 0,
    DESK_LOOP_OP_CONNECT = 1,   /* IORING_OP_CONNECT */
    DESK_LOOP_OP_CONNECT_TO = 2, /* its IORING_OP_LINK_TIMEOUT */
    DESK_LOOP_OP_RECV = 3,      /* IORING_OP_RECV or READ_FIXED */
    DESK_LOOP_OP_SEND = 4,      /* IORING_OP_SEND */
    DESK_LOOP_OP_CANCEL = 5,    /* IORING_OP_ASYNC_CANCEL of a closing slot */
    DESK_LOOP_OP_TIMER = 6,     /* IORING_OP_TIMEOUT */
    DESK_LOOP_OP_TIMER_DEL = 7, /* IORING_OP_TIMEOUT_REMOVE */
    DESK_LOOP_OP_NOP = 8,       /* IORING_OP_NOP (tests) */
    DESK_LOOP_OP_SHUTDOWN = 9,  /* the cancel-everything of desk_loop_fini */
};

/*
 * Create the ring and reserve everything: `max_conns` socket slots, each with
 * a receive buffer and a send ring, and cfg->max_timers timers.  `cfg` may be
 * NULL for the defaults; it is read only during the call.  The CQ is sized
 * so that every operation the slots and timers can have in flight fits, so
 * completions never overflow.
 *
 * Returns 0; -EINVAL (max_conns 0 or above 2^24, sizes out of range);
 * -ENOMEM (memory; the only place the loop can fail for memory); or the
 * error of io_uring_queue_init (-EPERM when io_uring is disabled, ...), each
 * with desk_errmsg().  On failure nothing is left allocated.  Cold; any
 * thread, then the loop belongs to the thread that polls it.
 */
DESK_COLD int desk_loop_init(desk_loop_t *loop, uint32_t max_conns, const desk_loop_cfg_t *cfg);

/*
 * Clean shutdown: cancel everything in flight (sockets, timers), wait up to
 * one second for the CQEs, close every socket and free the memory.  Runs no
 * callback: close connections (and see their on_close) before, if the
 * owners need to know.  If the kernel has not completed every operation in
 * time, the buffers are leaked rather than freed under it.  Safe on a
 * zeroed loop and twice.  Cold; the loop's thread.
 */
DESK_COLD void desk_loop_fini(desk_loop_t *loop);

/*
 * One turn: run postponed work, submit pending SQEs, reap every ready CQE
 * without waiting and dispatch the callbacks, then submit what the callbacks
 * queued.  `now_ns` (desk_now_ns()) is what desk_loop_now() returns during
 * the callbacks.  Never blocks, never allocates.  Returns the number of
 * completions handled (0 when idle); it cannot fail (submission errors are
 * retried next turn and counted in stats).  The loop's thread; not from a
 * callback.
 */
int desk_loop_poll(desk_loop_t *loop, uint64_t now_ns);

/*
 * Idle step: submit, then sleep in the kernel until at least one completion
 * is ready or `timeout_ns` elapsed.  Returns 0 when a completion is ready,
 * -ETIME on timeout, -EINTR on a signal.  Call desk_loop_poll() afterwards.
 * The loop's thread; not from a callback.
 */
int desk_loop_wait(desk_loop_t *loop, uint64_t timeout_ns);

/*
 * Submit the prepared SQEs now (io_uring_submit).  For a caller that got
 * -EBUSY outside desk_loop_poll() and wants to retry at once.  Returns the
 * number submitted, or -EBUSY/-EAGAIN when the kernel pushes back (retry
 * after a poll).  The loop's thread.
 */
int desk_loop_submit(desk_loop_t *loop);

/* The now_ns of the current (or last) desk_loop_poll(). */
static inline uint64_t desk_loop_now(const desk_loop_t *loop)
{
    return loop->now_ns;
}

/* ---- timers ---- */

/*
 * Arm a one-shot timer that calls `fn(loop, id, ctx)` from desk_loop_poll()
 * once `delay_ns` has elapsed (IORING_OP_TIMEOUT, relative, CLOCK_MONOTONIC).
 * `ctx` is borrowed until the timer fires or is cancelled.  Stores the
 * timer's id (never 0) in *id.
 * Returns 0; -ENOSPC when every timer slot is in use; -EBUSY when the SQ is
 * full (nothing armed: poll and retry).  The loop's thread.
 */
int desk_loop_timer_add(desk_loop_t *loop, uint64_t delay_ns, desk_loop_timer_fn fn, void *ctx,
                        uint64_t *id);

/*
 * Cancel a timer.  After 0 is returned its callback will not run, even if
 * the kernel already fired it and the CQE is still on the ring; the slot is
 * reused once the timer's CQE is reaped.  Returns 0, or -ENOENT if `id` is
 * not an armed timer (it fired, was cancelled, or never existed).  Never
 * needs to fail for a full SQ (the removal is then left to the expiry).  The
 * loop's thread, callbacks included.
 */
int desk_loop_timer_cancel(desk_loop_t *loop, uint64_t id);

/* ---- sockets ---- */

/*
 * Claim an idle socket slot for `cb`/`ctx` (both borrowed until
 * desk_loop_sock_release()).  Returns the slot index (>= 0), or -ENOSPC when
 * all max_conns slots are claimed.  Cold; the loop's thread.
 */
DESK_COLD int desk_loop_sock_claim(desk_loop_t *loop, const desk_loop_sock_cb_t *cb, void *ctx);

/*
 * Give a claimed slot back.  Returns 0, -EINVAL for a bad index, or -EBUSY if
 * a connection of the slot is still live (close it and wait for on_close).
 * Cold; the loop's thread.
 */
DESK_COLD int desk_loop_sock_release(desk_loop_t *loop, uint32_t id);

/*
 * Start a TCP connection of slot `id` to `addr` (copied): a non-blocking
 * socket with TCP_NODELAY, and IORING_OP_CONNECT linked to a link timeout of
 * `timeout_ns` (0: no timeout).  The outcome is on_open(), or on_close() with
 * -ETIMEDOUT or the connect error.  Creating the socket is a syscall: cold
 * path (once per connection attempt).
 * Returns 0; -EINVAL (bad index, slot not claimed, address too long);
 * -EALREADY (a connection of this slot is live); -EBUSY (fewer than two free
 * SQEs: nothing started); or the socket() error, with desk_errmsg().  The
 * loop's thread, callbacks included (on_close of this slot too).
 */
int desk_loop_sock_connect(desk_loop_t *loop, uint32_t id, const struct sockaddr *addr,
                           socklen_t addrlen, uint64_t timeout_ns);

/*
 * Queue `len` bytes (copied into the slot's send ring) and arm a send if
 * none is in flight.  All or nothing: on any error no byte was queued.
 * Allowed while connecting (the bytes go out at on_open) and while open.
 * Returns 0; -ENOTCONN (no live connection, or it is closing); -EMSGSIZE
 * (len exceeds the whole ring: can never fit); -ENOBUFS (not enough free
 * space now: wait for on_drain); -EBUSY (a send must be armed and the SQ is
 * full: poll and retry), unless DESK_LOOP_SEND_DEFER in `flags`, which
 * accepts the bytes and arms the send at the next poll.  No allocation, no
 * syscall.  The loop's thread, callbacks included.
 */
int desk_loop_sock_send(desk_loop_t *loop, uint32_t id, const void *data, size_t len,
                        unsigned flags);

/*
 * What desk_loop_sock_send(loop, id, <len bytes>, 0) would return right now,
 * without queueing anything.  For a caller that must know a send will
 * succeed before it produces the bytes (TLS encryption).  Returns 0 or the
 * same errors.  The loop's thread.
 */
int desk_loop_sock_check(const desk_loop_t *loop, uint32_t id, size_t len);

/* Free bytes in the slot's send ring (0 for a bad index).  The loop's thread. */
size_t desk_loop_sock_space(const desk_loop_t *loop, uint32_t id);

/* Bytes queued in the slot's send ring and not yet completed (0 for a bad
 * index).  The loop's thread. */
size_t desk_loop_sock_queued(const desk_loop_t *loop, uint32_t id);

/*
 * Close the live connection of slot `id`.  Receives stop at once: no
 * on_recv() runs after this call.  With DESK_LOOP_CLOSE_FLUSH the bytes
 * already queued are sent first (the peer sees them, then FIN); otherwise
 * in-flight operations are cancelled.  `reason` (0 or -errno) is what
 * on_close() reports, unless an error was already recorded.  on_close()
 * always runs later, from desk_loop_poll(), never inside this call.
 * Returns 0, -EINVAL (bad index) or -ENOTCONN (nothing live, or already
 * closing: idempotent).  Never fails for a full SQ.  The loop's thread.
 */
int desk_loop_sock_close(desk_loop_t *loop, uint32_t id, int reason, unsigned flags);

/* 1 if slot `id` has a live connection that is open (connected, not
 * closing), else 0.  The loop's thread. */
int desk_loop_sock_is_open(const desk_loop_t *loop, uint32_t id);

/* ---- test hooks (desk__: internal) ---- */

/* The current generation of slot `id` (0 for a bad index). */
uint32_t desk__loop_sock_gen(const desk_loop_t *loop, uint32_t id);

/* Queue an IORING_OP_NOP (result 0) carrying user_data (op, idx, gen), to
 * deliver a forged completion.  Returns 0 or -EBUSY. */
int desk__loop_nop(desk_loop_t *loop, uint8_t op, uint32_t idx, uint32_t gen);

#ifdef __cplusplus
}
#endif

#endif /* DESK_LOOP_H */
