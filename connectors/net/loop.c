/*
 * loop.c - the io_uring event loop (see loop.h for the contract).
 *
 * Life of a socket slot:
 *
 *   FREE --claim--> IDLE --connect--> CONNECTING --CQE ok--> OPEN
 *                     ^                   |                   |  \ close(FLUSH)
 *                     |                   | error/timeout     |   v
 *                     |                   v                   |  DRAINING --ring empty--+
 *                     +--finish-- CLOSING <-------------------+--------------------------+
 *
 * CLOSING waits until the slot's in-flight count is zero: every SQE it
 * prepared has produced its CQE, so no kernel operation still points into
 * its buffers.  Only then ("finish") is the fd closed, the generation bumped
 * and on_close() called.  That is what makes reuse of a slot safe; the
 * generation in user_data is the second line of defence (a forged or
 * otherwise unexpected CQE of an old generation is counted and ignored).
 *
 * Counting: every prepared SQE adds one to loop->inflight and, for socket
 * operations, to the slot's inflight; every reaped CQE subtracts one.  No
 * operation here is multishot and none uses CQE_SKIP_SUCCESS, so the counts
 * are exact.  The CQ is sized from them, so completions never overflow.
 *
 * Work that needs an SQE while the SQ is full is recorded as a "deferred"
 * flag on the slot and retried at the start of the next poll.  Calls made by
 * the owner (timer_add, sock_send, sock_connect) return -EBUSY instead, per
 * the house rule: the loop submits, the caller retries.
 */
#include "loop.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/err.h"

enum sock_state {
    S_FREE = 0,   /* not claimed */
    S_IDLE,       /* claimed, no connection */
    S_CONNECTING, /* connect (and its link timeout) in flight */
    S_OPEN,       /* connected: recv armed, sends allowed */
    S_DRAINING,   /* close(FLUSH): sending what is queued, receives ignored */
    S_CLOSING,    /* waiting for in-flight CQEs before finish */
};

/* desk_loop_sock.busy: operations in flight */
#define B_RECV 0x1u
#define B_SEND 0x2u

/* desk_loop_sock.dflags: work postponed to the next poll */
#define D_RECV 0x1u   /* arm the receive */
#define D_SEND 0x2u   /* arm a send */
#define D_FINISH 0x4u /* finish the close (nothing was in flight) */

/* loop->flags bits that are internal */
#define LF_FILES 0x100u /* a registered (sparse) file table is in use */

struct desk_loop_sock {
    int fd;                        /* the socket, -1 when none */
    uint32_t gen;                  /* generation: bumped when a connection finishes */
    uint8_t state;                 /* enum sock_state */
    uint8_t busy;                  /* B_*: receive / send in flight */
    uint8_t dflags;                /* D_*: postponed work */
    uint8_t pad_;                  /* zero */
    uint32_t inflight;             /* this slot's SQEs without a reaped CQE */
    int reason;                    /* first error (or close reason) of the generation */
    uint32_t shead;                /* send ring: first byte not yet completed (free-running) */
    uint32_t stail;                /* send ring: end of queued bytes (free-running) */
    uint32_t sflight;              /* bytes of the send in flight */
    uint8_t *rbuf;                 /* receive buffer [rbuf_size], in loop->mem */
    uint8_t *sbuf;                 /* send ring [sbuf_size], in loop->mem */
    struct __kernel_timespec cto;  /* connect timeout: read by the kernel at submit */
    struct sockaddr_storage addr;  /* peer address: read by the kernel while connecting */
    socklen_t addrlen;             /* bytes used in addr */
    const desk_loop_sock_cb_t *cb; /* callbacks (borrowed) */
    void *ctx;                     /* their context (borrowed) */
};

enum timer_state {
    T_FREE = 0, /* on the free list */
    T_ARMED,    /* IORING_OP_TIMEOUT in flight, callback due */
    T_CANCELED, /* in flight, callback suppressed */
};

struct desk_loop_timer {
    uint32_t gen;                 /* generation (never 0): part of the id */
    uint32_t next;                /* free list link */
    uint8_t state;                /* enum timer_state */
    uint8_t pad_[7];              /* zero */
    struct __kernel_timespec ts;  /* relative delay: read by the kernel at submit */
    desk_loop_timer_fn fn;        /* callback */
    void *ctx;                    /* its context (borrowed) */
};

#define NONE UINT32_MAX

static inline uint8_t ud_op(uint64_t ud)
{
    return (uint8_t)(ud >> 56);
}
static inline uint32_t ud_idx(uint64_t ud)
{
    return (uint32_t)(ud >> 32) & 0xffffffu;
}
static inline uint32_t ud_gen(uint64_t ud)
{
    return (uint32_t)ud;
}

static inline uint32_t next_gen(uint32_t g)
{
    return g + 1 ? g + 1 : 1; /* 0 is never a valid generation */
}

/* An SQE, or NULL when the SQ is full.  `flush`: first try to empty the SQ
 * with a submit (only from poll context, where a syscall is expected). */
static struct io_uring_sqe *get_sqe(desk_loop_t *loop, int flush)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);

    if (sqe == NULL && flush) {
        (void)desk_loop_submit(loop);
        sqe = io_uring_get_sqe(&loop->ring);
    }
    if (sqe == NULL)
        loop->stats.sq_full++;
    return sqe;
}

/* Point an SQE's file at the slot's socket: the registered index or the fd. */
static void set_target(desk_loop_t *loop, struct io_uring_sqe *sqe, uint32_t idx)
{
    if (loop->flags & LF_FILES) {
        sqe->fd = (int32_t)idx;
        sqe->flags |= IOSQE_FIXED_FILE;
    } else {
        sqe->fd = loop->socks[idx].fd;
    }
}

static void defer(desk_loop_t *loop, struct desk_loop_sock *s, uint8_t flag)
{
    if (s->dflags == 0)
        loop->ndeferred++;
    s->dflags |= flag;
    loop->stats.deferred++;
}

static void undefer(desk_loop_t *loop, struct desk_loop_sock *s, uint8_t flag)
{
    if ((s->dflags & flag) == 0)
        return;
    s->dflags &= (uint8_t)~flag;
    if (s->dflags == 0)
        loop->ndeferred--;
}

static void arm_recv(desk_loop_t *loop, uint32_t idx, int flush)
{
    struct desk_loop_sock *s = &loop->socks[idx];
    struct io_uring_sqe *sqe = get_sqe(loop, flush);

    if (sqe == NULL) {
        defer(loop, s, D_RECV);
        return;
    }
    undefer(loop, s, D_RECV);
    if (loop->flags & DESK_LOOP_F_FIXED_BUFS)
        /* The whole buffer region is registered as buffer 0. */
        io_uring_prep_read_fixed(sqe, 0, s->rbuf, loop->rbuf_size, 0, 0);
    else
        io_uring_prep_recv(sqe, 0, s->rbuf, loop->rbuf_size, 0);
    set_target(loop, sqe, idx);
    io_uring_sqe_set_data64(sqe, DESK_LOOP_UDATA(DESK_LOOP_OP_RECV, idx, s->gen));
    s->busy |= B_RECV;
    s->inflight++;
    loop->inflight++;
}

/* Arm a send of the contiguous queued bytes at the ring's head, if any and
 * if none is in flight.  A wrapped ring goes out in two sends. */
static void arm_send(desk_loop_t *loop, uint32_t idx, int flush)
{
    struct desk_loop_sock *s = &loop->socks[idx];
    uint32_t queued = s->stail - s->shead;

    if (queued == 0 || (s->busy & B_SEND)) {
        undefer(loop, s, D_SEND);
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(loop, flush);
    if (sqe == NULL) {
        defer(loop, s, D_SEND);
        return;
    }
    undefer(loop, s, D_SEND);
    uint32_t off = s->shead & (loop->sbuf_size - 1);
    uint32_t n = loop->sbuf_size - off < queued ? loop->sbuf_size - off : queued;
    /* MSG_NOSIGNAL: a reset peer gives -EPIPE, never SIGPIPE.  The ring bytes
     * [off, off+n) are lent to the kernel until this send's CQE. */
    io_uring_prep_send(sqe, 0, s->sbuf + off, n, MSG_NOSIGNAL);
    set_target(loop, sqe, idx);
    io_uring_sqe_set_data64(sqe, DESK_LOOP_UDATA(DESK_LOOP_OP_SEND, idx, s->gen));
    s->sflight = n;
    s->busy |= B_SEND;
    s->inflight++;
    loop->inflight++;
}

/* Enter CLOSING: cancel what is in flight.  The cancel SQE is best effort;
 * shutdown() wakes a pending receive or send in any case, so closing never
 * depends on a free SQE.  The fd itself is closed only at finish. */
static void begin_close(desk_loop_t *loop, uint32_t idx, int reason)
{
    struct desk_loop_sock *s = &loop->socks[idx];

    if (s->state == S_CLOSING || s->state == S_IDLE || s->state == S_FREE)
        return;
    if (s->reason == 0)
        s->reason = reason;
    s->state = S_CLOSING;
    undefer(loop, s, D_RECV | D_SEND);
    if (s->inflight > 0) {
        struct io_uring_sqe *sqe = get_sqe(loop, (int)loop->in_poll);
        if (sqe != NULL) {
            unsigned fl = IORING_ASYNC_CANCEL_ALL;
            int target = s->fd;
            if (loop->flags & LF_FILES) {
                fl |= IORING_ASYNC_CANCEL_FD_FIXED;
                target = (int)idx;
            }
            io_uring_prep_cancel_fd(sqe, target, fl);
            io_uring_sqe_set_data64(sqe, DESK_LOOP_UDATA(DESK_LOOP_OP_CANCEL, idx, s->gen));
            s->inflight++;
            loop->inflight++;
        }
        (void)shutdown(s->fd, SHUT_RDWR);
    } else {
        defer(loop, s, D_FINISH);
    }
}

/* CLOSING and nothing in flight: release the fd, bump the generation and
 * tell the owner.  Runs in poll context only. */
static void finish(desk_loop_t *loop, uint32_t idx)
{
    struct desk_loop_sock *s = &loop->socks[idx];

    undefer(loop, s, D_RECV | D_SEND | D_FINISH);
    if (loop->flags & LF_FILES) {
        int none = -1;
        (void)io_uring_register_files_update(&loop->ring, idx, &none, 1);
    }
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    int reason = s->reason;
    s->state = S_IDLE;
    s->gen = next_gen(s->gen);
    s->busy = 0;
    s->reason = 0;
    s->shead = s->stail = s->sflight = 0;
    /* Last: on_close may start the next connection on this very slot. */
    if (s->cb && s->cb->on_close)
        s->cb->on_close(loop, idx, reason, s->ctx);
}

static void timer_free(desk_loop_t *loop, uint32_t idx)
{
    struct desk_loop_timer *t = &loop->timers[idx];

    t->state = T_FREE;
    t->gen = next_gen(t->gen);
    t->fn = NULL;
    t->ctx = NULL;
    t->next = loop->timer_free;
    loop->timer_free = idx;
}

static void on_timer_cqe(desk_loop_t *loop, uint64_t ud, int res)
{
    uint32_t idx = ud_idx(ud);

    if (idx >= loop->ntimers || loop->timers[idx].gen != ud_gen(ud) ||
        loop->timers[idx].state == T_FREE) {
        loop->stats.stale++;
        return;
    }
    struct desk_loop_timer *t = &loop->timers[idx];
    uint8_t st = t->state;
    desk_loop_timer_fn fn = t->fn;
    void *ctx = t->ctx;
    uint64_t id = ((uint64_t)t->gen << 32) | idx;
    /* Free first, so that the callback can arm the next timer in this slot. */
    timer_free(loop, idx);
    /* -ETIME: expired.  -ECANCELED: removed (or the loop is shutting down). */
    if (st == T_ARMED && (res == -ETIME || res == 0) && fn != NULL)
        fn(loop, id, ctx);
}

static void on_sock_cqe(desk_loop_t *loop, uint64_t ud, int res)
{
    uint8_t op = ud_op(ud);
    uint32_t idx = ud_idx(ud);

    if (idx >= loop->nsocks || loop->socks[idx].gen != ud_gen(ud) ||
        loop->socks[idx].inflight == 0) {
        loop->stats.stale++; /* an old generation: its slot has moved on */
        return;
    }
    struct desk_loop_sock *s = &loop->socks[idx];
    s->inflight--;
    switch (op) {
    case DESK_LOOP_OP_CONNECT:
        if (s->state != S_CONNECTING) {
            loop->stats.stale++;
            break;
        }
        if (res == 0) {
            s->state = S_OPEN;
            arm_recv(loop, idx, 1);
            arm_send(loop, idx, 1); /* bytes queued while connecting */
            if (s->cb && s->cb->on_open)
                s->cb->on_open(loop, idx, s->ctx);
        } else {
            /* The only canceller of a CONNECTING connect is its link timeout
             * (close moves the slot to CLOSING first). */
            begin_close(loop, idx, res == -ECANCELED || res == -ETIME ? -ETIMEDOUT : res);
        }
        break;
    case DESK_LOOP_OP_RECV:
        s->busy &= (uint8_t)~B_RECV;
        if (s->state != S_OPEN) {
            loop->stats.stale++; /* closing or draining: nothing after close */
            break;
        }
        if (res > 0) {
            if (s->cb && s->cb->on_recv)
                s->cb->on_recv(loop, idx, s->rbuf, (size_t)res, s->ctx);
            if (s->state == S_OPEN && !(s->busy & B_RECV))
                arm_recv(loop, idx, 1);
        } else if (res == 0) {
            begin_close(loop, idx, 0); /* orderly EOF */
        } else if (res == -EAGAIN || res == -EINTR || res == -ENOBUFS) {
            arm_recv(loop, idx, 1);
        } else {
            begin_close(loop, idx, res);
        }
        break;
    case DESK_LOOP_OP_SEND: {
        uint32_t n = s->sflight;
        s->busy &= (uint8_t)~B_SEND;
        s->sflight = 0;
        if (s->state != S_OPEN && s->state != S_DRAINING) {
            loop->stats.stale++;
            break;
        }
        if (res < 0) {
            if (res == -EAGAIN || res == -EINTR) {
                arm_send(loop, idx, 1);
                break;
            }
            begin_close(loop, idx, res);
            break;
        }
        /* A short send leaves the rest queued: send it next. */
        s->shead += (uint32_t)res <= n ? (uint32_t)res : n;
        arm_send(loop, idx, 1);
        if (s->state == S_DRAINING) {
            if (s->stail == s->shead)
                begin_close(loop, idx, s->reason);
        } else if (s->cb && s->cb->on_drain) {
            s->cb->on_drain(loop, idx, s->ctx);
        }
        break;
    }
    case DESK_LOOP_OP_CONNECT_TO: /* the link timeout's own CQE */
    case DESK_LOOP_OP_CANCEL:     /* the close's cancel */
    default:
        break;
    }
    /* The slot may have been finished and restarted by a callback above;
     * only a slot still closing with nothing left in flight finishes here. */
    if (s->state == S_CLOSING && s->inflight == 0)
        finish(loop, idx);
}

static void dispatch(desk_loop_t *loop, uint64_t ud, int res)
{
    loop->stats.cqes++;
    if (loop->inflight)
        loop->inflight--;
    switch (ud_op(ud)) {
    case DESK_LOOP_OP_TIMER:
        on_timer_cqe(loop, ud, res);
        break;
    case DESK_LOOP_OP_TIMER_DEL:
    case DESK_LOOP_OP_SHUTDOWN:
    case DESK_LOOP_OP_NONE:
        break;
    case DESK_LOOP_OP_NOP:
        loop->stats.stale++;
        break;
    default:
        on_sock_cqe(loop, ud, res);
        break;
    }
}

static void run_deferred(desk_loop_t *loop)
{
    for (uint32_t i = 0; i < loop->nsocks && loop->ndeferred > 0; i++) {
        struct desk_loop_sock *s = &loop->socks[i];
        if (s->dflags == 0)
            continue;
        if (s->dflags & D_FINISH) {
            undefer(loop, s, D_FINISH);
            if (s->state == S_CLOSING && s->inflight == 0) {
                finish(loop, i);
                continue;
            }
        }
        if ((s->dflags & D_RECV) && s->state == S_OPEN && !(s->busy & B_RECV))
            arm_recv(loop, i, 1);
        else
            undefer(loop, s, D_RECV);
        if ((s->dflags & D_SEND) && (s->state == S_OPEN || s->state == S_DRAINING))
            arm_send(loop, i, 1);
        else
            undefer(loop, s, D_SEND);
    }
}

static uint32_t pow2_at_least(uint64_t v)
{
    uint32_t p = 1;

    while (p < v && p < (1u << 30))
        p <<= 1;
    return p;
}

DESK_COLD int desk_loop_init(desk_loop_t *loop, uint32_t max_conns, const desk_loop_cfg_t *cfg)
{
    desk_loop_cfg_t c = {0};
    int rc;

    if (cfg)
        c = *cfg;
    memset(loop, 0, sizeof *loop);
    if (c.sq_entries == 0)
        c.sq_entries = 256;
    if (c.max_timers == 0)
        c.max_timers = 64;
    if (c.rbuf_size == 0)
        c.rbuf_size = 65536;
    if (c.sbuf_size == 0)
        c.sbuf_size = 65536;
    if (max_conns == 0 || max_conns > (1u << 24))
        return DESK_ERR(-EINVAL, "loop: max_conns=%u must be 1..16777216", max_conns);
    if (c.sq_entries > 4096)
        return DESK_ERR(-EINVAL, "loop: sq_entries=%u above 4096", c.sq_entries);
    if (c.max_timers > (1u << 24))
        return DESK_ERR(-EINVAL, "loop: max_timers=%u above 16777216", c.max_timers);
    if (c.rbuf_size > (64u << 20)) /* 1 is allowed: tests split every record */
        return DESK_ERR(-EINVAL, "loop: rbuf_size=%u above 64 MiB", c.rbuf_size);
    if (c.sbuf_size < 64 || c.sbuf_size > (64u << 20))
        return DESK_ERR(-EINVAL, "loop: sbuf_size=%u must be 64..64 MiB", c.sbuf_size);
    loop->nsocks = max_conns;
    loop->ntimers = c.max_timers;
    loop->rbuf_size = c.rbuf_size;
    loop->sbuf_size = pow2_at_least(c.sbuf_size);
    loop->timer_free = NONE;

    /* Everything the loop will ever touch, reserved now. */
    loop->socks = calloc(max_conns, sizeof *loop->socks);
    loop->timers = calloc(c.max_timers, sizeof *loop->timers);
    if (loop->socks == NULL || loop->timers == NULL) {
        rc = DESK_ERR(-ENOMEM, "loop: no memory for %u sockets and %u timers", max_conns,
                      c.max_timers);
        goto fail;
    }
    loop->mem_len = (size_t)max_conns * ((size_t)loop->rbuf_size + loop->sbuf_size);
    void *m = mmap(NULL, loop->mem_len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (m == MAP_FAILED) {
        rc = DESK_ERR(-ENOMEM, "loop: cannot map %zu bytes of socket buffers", loop->mem_len);
        loop->mem_len = 0;
        goto fail;
    }
    loop->mem = m;
    for (uint32_t i = 0; i < max_conns; i++) {
        struct desk_loop_sock *s = &loop->socks[i];
        s->fd = -1;
        s->gen = 1;
        s->rbuf = loop->mem + (size_t)i * loop->rbuf_size;
        s->sbuf = loop->mem + (size_t)max_conns * loop->rbuf_size + (size_t)i * loop->sbuf_size;
    }
    for (uint32_t i = c.max_timers; i-- > 0;) {
        loop->timers[i].gen = 1;
        loop->timers[i].next = loop->timer_free;
        loop->timer_free = i;
    }

    /* CQ: room for everything that can be in flight at once (per slot at
     * most connect + link timeout + cancel, or recv + send + cancel, plus one
     * forged NOP; per timer its timeout and a removal), so no overflow. */
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    uint64_t need = 4ull * max_conns + 2ull * c.max_timers + 2ull * c.sq_entries + 1;
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
    p.cq_entries = pow2_at_least(need < 65536 ? need : 65536);
    rc = io_uring_queue_init_params(c.sq_entries, &loop->ring, &p);
    if (rc == -EINVAL) { /* older kernel: no SUBMIT_ALL */
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = pow2_at_least(need < 65536 ? need : 65536);
        rc = io_uring_queue_init_params(c.sq_entries, &loop->ring, &p);
    }
    if (rc < 0) {
        rc = DESK_ERR(rc, "loop: io_uring_queue_init(%u): %s", c.sq_entries, strerror(-rc));
        goto fail;
    }
    if (!(p.features & IORING_FEAT_NODROP)) {
        io_uring_queue_exit(&loop->ring);
        rc = DESK_ERR(-EOPNOTSUPP, "loop: kernel io_uring too old (no IORING_FEAT_NODROP)");
        goto fail;
    }

    /* Registered files save a file-table lookup and refcount per operation. */
    if (!(c.flags & DESK_LOOP_F_NO_FIXED_FILES) &&
        io_uring_register_files_sparse(&loop->ring, max_conns) == 0)
        loop->flags |= LF_FILES;
    /* Registered buffers: receives use READ_FIXED into the pinned region.
     * (Sends stay IORING_OP_SEND: a fixed-buffer send needs SEND_ZC and its
     * second notification CQE, not worth it for small order messages.) */
    if (c.flags & DESK_LOOP_F_FIXED_BUFS) {
        struct iovec iov = {.iov_base = loop->mem, .iov_len = loop->mem_len};
        if (io_uring_register_buffers(&loop->ring, &iov, 1) == 0)
            loop->flags |= DESK_LOOP_F_FIXED_BUFS;
    }
    return 0;

fail:
    if (loop->mem)
        munmap(loop->mem, loop->mem_len);
    free(loop->timers);
    free(loop->socks);
    memset(loop, 0, sizeof *loop);
    return rc;
}

DESK_COLD void desk_loop_fini(desk_loop_t *loop)
{
    if (loop->socks == NULL)
        return;
    /* Stop every socket (shutdown wakes their pending operations) and ask the
     * kernel to cancel everything else, timers included. */
    for (uint32_t i = 0; i < loop->nsocks; i++) {
        struct desk_loop_sock *s = &loop->socks[i];
        if (s->fd >= 0)
            (void)shutdown(s->fd, SHUT_RDWR);
        s->cb = NULL; /* no callbacks from here on */
    }
    struct io_uring_sqe *sqe = get_sqe(loop, 1);
    if (sqe != NULL) {
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, DESK_LOOP_UDATA(DESK_LOOP_OP_SHUTDOWN, 0, 0));
        loop->inflight++;
    }
    uint64_t waited = 0;
    while (loop->inflight > 0 && waited < 1000000000ull) {
        struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 10000000};
        struct io_uring_cqe *cqe = NULL;
        int rc = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, &ts, NULL);
        if (rc == -ETIME || rc == -EINTR)
            waited += 10000000ull;
        else if (rc < 0 && rc != -EBUSY && rc != -EAGAIN)
            break;
        struct io_uring_cqe *cqes[64];
        unsigned n = io_uring_peek_batch_cqe(&loop->ring, cqes, 64);
        loop->inflight = n < loop->inflight ? loop->inflight - n : 0;
        io_uring_cq_advance(&loop->ring, n);
    }
    for (uint32_t i = 0; i < loop->nsocks; i++)
        if (loop->socks[i].fd >= 0)
            close(loop->socks[i].fd);
    io_uring_queue_exit(&loop->ring);
    /* If the kernel still had operations, leak their buffers rather than
     * free memory it may write into. */
    if (loop->inflight == 0 && loop->mem)
        munmap(loop->mem, loop->mem_len);
    free(loop->timers);
    free(loop->socks);
    memset(loop, 0, sizeof *loop);
}

int desk_loop_submit(desk_loop_t *loop)
{
    if (io_uring_sq_ready(&loop->ring) == 0)
        return 0;
    int rc = io_uring_submit(&loop->ring);
    if (rc > 0)
        loop->stats.submits++;
    else if (rc < 0 && rc != -EBUSY && rc != -EAGAIN)
        loop->stats.submit_err++;
    return rc;
}

int desk_loop_poll(desk_loop_t *loop, uint64_t now_ns)
{
    struct io_uring_cqe *cqes[64];
    uint64_t ud[64];
    int res[64];
    int total = 0;

    loop->now_ns = now_ns;
    loop->in_poll = 1;
    if (loop->ndeferred)
        run_deferred(loop);
    (void)desk_loop_submit(loop);
    /* Reap what is ready, in batches, bounded so one busy turn cannot starve
     * the rest of the connector thread. */
    for (int round = 0; round < 16; round++) {
        unsigned n = io_uring_peek_batch_cqe(&loop->ring, cqes, 64);
        if (n == 0)
            break;
        /* Copy out and release the CQ slots before any callback runs. */
        for (unsigned i = 0; i < n; i++) {
            ud[i] = io_uring_cqe_get_data64(cqes[i]);
            res[i] = cqes[i]->res;
        }
        io_uring_cq_advance(&loop->ring, n);
        for (unsigned i = 0; i < n; i++)
            dispatch(loop, ud[i], res[i]);
        total += (int)n;
    }
    if (loop->ndeferred)
        run_deferred(loop);
    (void)desk_loop_submit(loop); /* what the callbacks queued goes out now */
    loop->in_poll = 0;
    return total;
}

int desk_loop_wait(desk_loop_t *loop, uint64_t timeout_ns)
{
    struct __kernel_timespec ts = {.tv_sec = (long long)(timeout_ns / 1000000000u),
                                   .tv_nsec = (long long)(timeout_ns % 1000000000u)};
    struct io_uring_cqe *cqe = NULL;

    if (loop->ndeferred)
        return 0; /* postponed work: poll at once */
    int rc = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, &ts, NULL);
    if (rc == -ETIME || rc == -EINTR)
        return rc;
    return 0;
}

/* ---- timers ---- */

int desk_loop_timer_add(desk_loop_t *loop, uint64_t delay_ns, desk_loop_timer_fn fn, void *ctx,
                        uint64_t *id)
{
    if (loop->timer_free == NONE)
        return -ENOSPC;
    struct io_uring_sqe *sqe = get_sqe(loop, 0);
    if (sqe == NULL)
        return -EBUSY;
    uint32_t idx = loop->timer_free;
    struct desk_loop_timer *t = &loop->timers[idx];
    loop->timer_free = t->next;
    t->next = NONE;
    t->state = T_ARMED;
    t->fn = fn;
    t->ctx = ctx;
    t->ts.tv_sec = (long long)(delay_ns / 1000000000u);
    t->ts.tv_nsec = (long long)(delay_ns % 1000000000u);
    /* count 0: a pure timer.  The kernel copies t->ts when it takes the SQE. */
    io_uring_prep_timeout(sqe, &t->ts, 0, 0);
    io_uring_sqe_set_data64(sqe, DESK_LOOP_UDATA(DESK_LOOP_OP_TIMER, idx, t->gen));
    loop->inflight++;
    *id = ((uint64_t)t->gen << 32) | idx;
    return 0;
}

int desk_loop_timer_cancel(desk_loop_t *loop, uint64_t id)
{
    uint32_t idx = (uint32_t)id;
    uint32_t gen = (uint32_t)(id >> 32);

    if (idx >= loop->ntimers || loop->timers[idx].gen != gen ||
        loop->timers[idx].state != T_ARMED)
        return -ENOENT;
    struct desk_loop_timer *t = &loop->timers[idx];
    t->state = T_CANCELED; /* from now on its CQE runs no callback */
    struct io_uring_sqe *sqe = get_sqe(loop, 0);
    if (sqe != NULL) {
        io_uring_prep_timeout_remove(sqe, DESK_LOOP_UDATA(DESK_LOOP_OP_TIMER, idx, gen), 0);
        io_uring_sqe_set_data64(sqe, DESK_LOOP_UDATA(DESK_LOOP_OP_TIMER_DEL, idx, gen));
        loop->inflight++;
    }
    return 0;
}

/* ---- sockets ---- */

DESK_COLD int desk_loop_sock_claim(desk_loop_t *loop, const desk_loop_sock_cb_t *cb, void *ctx)
{
    for (uint32_t i = 0; i < loop->nsocks; i++) {
        struct desk_loop_sock *s = &loop->socks[i];
        if (s->state == S_FREE) {
            s->state = S_IDLE;
            s->cb = cb;
            s->ctx = ctx;
            return (int)i;
        }
    }
    return DESK_ERR(-ENOSPC, "loop: all %u socket slots are in use", loop->nsocks);
}

DESK_COLD int desk_loop_sock_release(desk_loop_t *loop, uint32_t id)
{
    if (id >= loop->nsocks || loop->socks[id].state == S_FREE)
        return -EINVAL;
    if (loop->socks[id].state != S_IDLE)
        return -EBUSY;
    loop->socks[id].state = S_FREE;
    loop->socks[id].cb = NULL;
    loop->socks[id].ctx = NULL;
    return 0;
}

int desk_loop_sock_connect(desk_loop_t *loop, uint32_t id, const struct sockaddr *addr,
                           socklen_t addrlen, uint64_t timeout_ns)
{
    if (id >= loop->nsocks || loop->socks[id].state == S_FREE)
        return DESK_ERR(-EINVAL, "loop: socket slot %u is not claimed", id);
    struct desk_loop_sock *s = &loop->socks[id];
    if (s->state != S_IDLE)
        return -EALREADY;
    if (addrlen == 0 || addrlen > sizeof s->addr)
        return DESK_ERR(-EINVAL, "loop: address length %u", (unsigned)addrlen);
    if (io_uring_sq_space_left(&loop->ring) < (timeout_ns ? 2u : 1u)) {
        loop->stats.sq_full++;
        return -EBUSY;
    }
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return DESK_ERR(-errno, "loop: socket(): %s", strerror(errno));
    if (addr->sa_family == AF_INET || addr->sa_family == AF_INET6) {
        int one = 1; /* orders are small: never wait for Nagle */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (loop->flags & LF_FILES) {
        int rc = io_uring_register_files_update(&loop->ring, id, &fd, 1);
        if (rc < 0) {
            close(fd);
            return DESK_ERR(rc, "loop: registering socket %u: %s", id, strerror(-rc));
        }
    }
    s->fd = fd;
    memcpy(&s->addr, addr, addrlen);
    s->addrlen = addrlen;
    s->reason = 0;
    s->busy = 0;
    s->shead = s->stail = s->sflight = 0;
    s->state = S_CONNECTING;

    /* Space for both SQEs was checked above; the NULL tests are for the
     * compiler (and would catch a broken invariant). */
    struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);
    if (sqe == NULL)
        goto nosqe;
    io_uring_prep_connect(sqe, 0, (struct sockaddr *)&s->addr, s->addrlen);
    set_target(loop, sqe, id);
    io_uring_sqe_set_data64(sqe, DESK_LOOP_UDATA(DESK_LOOP_OP_CONNECT, id, s->gen));
    s->inflight++;
    loop->inflight++;
    if (timeout_ns) {
        /* The link timeout cancels the connect (-ECANCELED) if it fires first;
         * both CQEs always arrive. */
        sqe->flags |= IOSQE_IO_LINK;
        s->cto.tv_sec = (long long)(timeout_ns / 1000000000u);
        s->cto.tv_nsec = (long long)(timeout_ns % 1000000000u);
        sqe = io_uring_get_sqe(&loop->ring);
        if (sqe == NULL) { /* cannot happen: two were free */
            s->state = S_CLOSING;
            s->reason = -EBUSY;
            (void)shutdown(fd, SHUT_RDWR);
            return 0; /* the connect completes with an error; on_close follows */
        }
        io_uring_prep_link_timeout(sqe, &s->cto, 0);
        io_uring_sqe_set_data64(sqe, DESK_LOOP_UDATA(DESK_LOOP_OP_CONNECT_TO, id, s->gen));
        s->inflight++;
        loop->inflight++;
    }
    return 0;

nosqe:
    if (loop->flags & LF_FILES) {
        int none = -1;
        (void)io_uring_register_files_update(&loop->ring, id, &none, 1);
    }
    close(fd);
    s->fd = -1;
    s->state = S_IDLE;
    return -EBUSY;
}

/* The checks of desk_loop_sock_send, shared with desk_loop_sock_check. */
static int send_check(const desk_loop_t *loop, uint32_t id, size_t len, unsigned flags)
{
    if (id >= loop->nsocks)
        return -ENOTCONN;
    const struct desk_loop_sock *s = &loop->socks[id];
    if (s->state != S_OPEN && s->state != S_CONNECTING)
        return -ENOTCONN;
    if (len > loop->sbuf_size)
        return -EMSGSIZE;
    if (len > loop->sbuf_size - (s->stail - s->shead))
        return -ENOBUFS;
    /* A new SQE is needed only when no send is in flight or pending. */
    int need_sqe = s->state == S_OPEN && !(s->busy & B_SEND) && !(s->dflags & D_SEND) && len > 0;
    if (need_sqe && !(flags & DESK_LOOP_SEND_DEFER) &&
        io_uring_sq_space_left(&loop->ring) == 0)
        return -EBUSY;
    return 0;
}

int desk_loop_sock_check(const desk_loop_t *loop, uint32_t id, size_t len)
{
    return send_check(loop, id, len, 0);
}

int desk_loop_sock_send(desk_loop_t *loop, uint32_t id, const void *data, size_t len,
                        unsigned flags)
{
    int rc = send_check(loop, id, len, flags);

    if (rc < 0) {
        if (rc == -EBUSY)
            loop->stats.sq_full++;
        return rc;
    }
    if (len == 0)
        return 0;
    struct desk_loop_sock *s = &loop->socks[id];
    uint32_t off = s->stail & (loop->sbuf_size - 1);
    uint32_t first = loop->sbuf_size - off;
    if (first >= len) {
        memcpy(s->sbuf + off, data, len);
    } else {
        memcpy(s->sbuf + off, data, first);
        memcpy(s->sbuf, (const uint8_t *)data + first, len - first);
    }
    s->stail += (uint32_t)len;
    if (s->state == S_OPEN)
        arm_send(loop, id, 0); /* defers (DEFER flag) if the SQ is full */
    return 0;
}

size_t desk_loop_sock_space(const desk_loop_t *loop, uint32_t id)
{
    if (id >= loop->nsocks)
        return 0;
    const struct desk_loop_sock *s = &loop->socks[id];
    return loop->sbuf_size - (s->stail - s->shead);
}

size_t desk_loop_sock_queued(const desk_loop_t *loop, uint32_t id)
{
    if (id >= loop->nsocks)
        return 0;
    return loop->socks[id].stail - loop->socks[id].shead;
}

int desk_loop_sock_close(desk_loop_t *loop, uint32_t id, int reason, unsigned flags)
{
    if (id >= loop->nsocks || loop->socks[id].state == S_FREE)
        return -EINVAL;
    struct desk_loop_sock *s = &loop->socks[id];
    if (s->state == S_IDLE || s->state == S_CLOSING)
        return -ENOTCONN;
    if (s->state == S_DRAINING) {
        if (!(flags & DESK_LOOP_CLOSE_FLUSH))
            begin_close(loop, id, reason); /* hard close overrides the drain */
        return 0;
    }
    if ((flags & DESK_LOOP_CLOSE_FLUSH) && s->state == S_OPEN && s->stail != s->shead) {
        /* Keep sending; the send CQE that empties the ring closes the slot.
         * The armed receive completes into nothing (no on_recv after close). */
        s->state = S_DRAINING;
        if (s->reason == 0)
            s->reason = reason;
        return 0;
    }
    begin_close(loop, id, reason);
    return 0;
}

int desk_loop_sock_is_open(const desk_loop_t *loop, uint32_t id)
{
    return id < loop->nsocks && loop->socks[id].state == S_OPEN;
}

uint32_t desk__loop_sock_gen(const desk_loop_t *loop, uint32_t id)
{
    return id < loop->nsocks ? loop->socks[id].gen : 0;
}

int desk__loop_nop(desk_loop_t *loop, uint8_t op, uint32_t idx, uint32_t gen)
{
    struct io_uring_sqe *sqe = get_sqe(loop, 0);

    if (sqe == NULL)
        return -EBUSY;
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, DESK_LOOP_UDATA(op, idx, gen));
    loop->inflight++;
    return 0;
}
