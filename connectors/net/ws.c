/*
 * ws.c - WebSocket client codec on wslay (see ws.h for the contract).
 *
 * How bytes move.  wslay's event API pulls input through a recv callback
 * and pushes output through a send callback.  desk_ws_recv() points the
 * codec at the caller's bytes (in/in_len/in_off) and runs
 * wslay_event_recv(), whose recv callback copies from there until the bytes
 * run out and then reports WSLAY_ERR_WOULDBLOCK, so wslay returns with its
 * frame parser parked mid-frame if need be: a split at any byte is fine.
 * Output goes straight to the caller's send callback; what it does not take
 * stays queued inside wslay until desk_ws_flush().
 *
 * Reassembly.  wslay runs in no-buffering mode: it does not copy data
 * frames but reports each frame's start and payload chunks.  We copy the
 * chunks of text/binary frames into `msgbuf` (max_msg bytes, allocated at
 * create), check the running size at each frame start (before any byte of
 * an oversize frame is copied), and deliver the message when wslay reports
 * it complete.  Control frames (ping, pong, close) are still buffered by
 * wslay, which is what lets it answer pings and echo closes by itself; they
 * may arrive between the fragments of a data message, which is why
 * `in_ctrl` marks whose chunks are flowing.
 *
 * Errors.  wslay reacts to a protocol violation by queueing a close frame
 * (1002, 1007 or 1009) and disabling reads, and returns 0; we detect that
 * as "reads disabled without a close received" and fail with -EPROTO.  A
 * malformed frame header makes wslay_event_recv() itself fail.  The oversize
 * check is ours (wslay's own limit is switched off so that every oversize
 * message is reported the same way, as -EMSGSIZE).
 *
 * Close frames are handed to wslay whole.  wslay 1.1.1 checks the UTF-8
 * of a close reason chunk by chunk but skips the first two bytes (the
 * status code) of *every* chunk, so a close frame split across reads is
 * judged wrongly both ways: a valid "1000 + é" split inside the reason is
 * refused with 1007, and bad UTF-8 can slip through.  cb_recv therefore runs
 * a small frame-boundary scanner: bytes of other frames pass straight
 * through, while a close frame (at most 2 + 8 + 4 + 125 bytes) is collected
 * in `hold` and given to wslay in one piece, which then sees it in a single
 * chunk (wslay asks for >= 4088 bytes whenever it reads).
 *
 * Randomness.  RFC 6455 wants unpredictable masking keys and handshake
 * keys.  A 4 KiB pool filled by getrandom() serves both; it is refilled when
 * exhausted, i.e. one syscall per 1024 frames, none on the typical frame.
 */
#include "connectors/net/ws.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>
#include <wslay/wslay.h>

#include "core/err.h"

#define RNG_POOL 4096 /* bytes of randomness fetched per getrandom() */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* Handshake progress. */
enum { HS_NONE = 0, HS_SENT = 1, HS_DONE = 2 };

struct desk_ws {
    desk_ws_config_t cfg;                /* copy of the caller's config */
    wslay_event_context_ptr wc;          /* wslay client context (owned) */
    desk_http_resp_t *hs;                /* parser for the handshake response (owned) */
    uint8_t *msgbuf;                     /* cfg.max_msg bytes: the message being reassembled */
    size_t msglen;                       /* bytes in msgbuf */
    uint8_t msgop;                       /* opcode of the message in msgbuf */
    bool in_ctrl;                        /* the frame being received is a control frame */
    bool drop;                           /* the current message went over max_msg: ignore it */
    bool in_recv;                        /* inside wslay_event_recv(): queue, do not flush */
    const uint8_t *in;                   /* input of the running desk_ws_recv() (borrowed) */
    size_t in_len;                       /* bytes at in */
    size_t in_off;                       /* bytes of in already given to wslay */
    int64_t now_ns;                      /* now of the running desk_ws_recv() */
    int send_err;                        /* fatal errno returned by the send callback, or 0 */
    int err;                             /* error raised inside a wslay callback, or 0 */
    uint8_t hs_state;                    /* HS_*: handshake progress */
    bool hs_have_msg;                    /* hs holds a complete handshake response */
    bool failed;                         /* FAILED: the socket must be closed */
    const char *reason;                  /* static sentence: why FAILED/CLOSED, or "" */
    char key[DESK_WS_KEY_LEN + 1];       /* Sec-WebSocket-Key we sent */
    char accept[DESK_WS_ACCEPT_LEN + 1]; /* the Sec-WebSocket-Accept we expect */
    uint16_t close_code;                 /* the peer's close code (1005: none given), 0 if none */
    char close_reason[124];              /* the peer's close reason, NUL-terminated */
    bool ping_out;                       /* our ping awaits its pong */
    bool ping_missed;                    /* that ping's deadline passed (counted once) */
    uint64_t ping_seq;                   /* payload of our last ping */
    int64_t ping_sent_ns;                /* when our last ping was queued */
    int64_t next_ping_ns;                /* when the next ping is due */
    bool sc_payload;                     /* scanner: inside the current frame's payload */
    bool sc_hold;                        /* scanner: the current frame is a close frame, held */
    uint8_t sc_hlen;                     /* scanner: header bytes of the current frame seen */
    uint8_t sc_need;                     /* scanner: header length (2 until byte 1 is seen) */
    uint8_t sc_hdr[14];                  /* scanner: the current frame's header */
    uint64_t sc_rem;                     /* scanner: payload bytes left in the current frame */
    bool hold_ready;                     /* hold holds bytes to give to wslay before any input */
    size_t hold_len;                     /* bytes in hold */
    size_t hold_off;                     /* bytes of hold already given to wslay */
    uint8_t hold[2 + 8 + 4 + 125];       /* a close frame (or a bad header) collected whole */
    desk_ws_stats_t st;                  /* counters */
    size_t rng_off;                      /* next unused byte of rng */
    uint8_t rng[RNG_POOL];               /* getrandom() pool for masks and keys */
};

/* ------------------------------------------------------------------------
 * Randomness
 * ------------------------------------------------------------------------ */

/* Fill the pool from the kernel RNG (blocks only before boot-time seeding). */
static int rng_refill(struct desk_ws *ws)
{
    size_t got = 0;

    while (got < sizeof ws->rng) {
        ssize_t r = getrandom(ws->rng + got, sizeof ws->rng - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)r;
    }
    ws->rng_off = 0;
    return 0;
}

/* Take n (<= RNG_POOL) fresh random bytes; each pool byte is used once. */
static int rng_take(struct desk_ws *ws, uint8_t *out, size_t n)
{
    if (n > sizeof ws->rng - ws->rng_off) {
        int rc = rng_refill(ws);
        if (rc != 0)
            return rc;
    }
    memcpy(out, ws->rng + ws->rng_off, n);
    ws->rng_off += n;
    return 0;
}

/* ------------------------------------------------------------------------
 * wslay callbacks
 * ------------------------------------------------------------------------ */

/*
 * Scanner step: consume input (at least one byte; there is some) and
 * return how many bytes it wrote to out[0..room) for wslay.  Header bytes
 * go one at a time; payload in bulk; a close frame goes into hold instead.
 */
static size_t scan(struct desk_ws *ws, uint8_t *out, size_t room)
{
    const uint8_t *p = ws->in + ws->in_off;
    size_t k = ws->in_len - ws->in_off;

    if (!ws->sc_payload) {
        uint8_t b = p[0];
        bool held;

        if (ws->sc_hlen == 0) { /* first byte of a frame: the opcode decides */
            ws->sc_hold = (b & 0x0f) == WSLAY_CONNECTION_CLOSE;
            ws->sc_need = 2;
        }
        ws->sc_hdr[ws->sc_hlen++] = b;
        ws->in_off++;
        held = ws->sc_hold;
        if (held)
            ws->hold[ws->hold_len++] = b;
        else
            out[0] = b;
        if (ws->sc_hlen == 2) {
            unsigned l7 = b & 0x7fu;
            ws->sc_need = (uint8_t)(2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + (b & 0x80 ? 4 : 0));
            if (ws->sc_hold && l7 > 125) { /* invalid close: wslay rejects the header */
                ws->sc_hold = false;
                ws->hold_ready = true;
            }
        }
        if (ws->sc_hlen == ws->sc_need) {
            unsigned l7 = ws->sc_hdr[1] & 0x7fu;
            uint64_t plen = l7;
            if (l7 >= 126) {
                plen = 0;
                for (unsigned i = 0; i < (l7 == 126 ? 2u : 8u); i++)
                    plen = plen << 8 | ws->sc_hdr[2 + i];
            }
            ws->sc_hlen = 0;
            ws->sc_rem = plen;
            ws->sc_payload = plen > 0;
            if (plen == 0 && ws->sc_hold)
                ws->hold_ready = true;
        }
        return held ? 0 : 1;
    }
    if (k > ws->sc_rem)
        k = (size_t)ws->sc_rem;
    if (ws->sc_hold) {
        memcpy(ws->hold + ws->hold_len, p, k); /* fits: a held payload is <= 125 */
        ws->hold_len += k;
    } else {
        if (k > room)
            k = room;
        memcpy(out, p, k);
    }
    ws->in_off += k;
    ws->sc_rem -= k;
    if (ws->sc_rem == 0) {
        ws->sc_payload = false;
        if (ws->sc_hold)
            ws->hold_ready = true;
    }
    return ws->sc_hold ? 0 : k;
}

/* Give wslay the next bytes of the running desk_ws_recv(), then WOULDBLOCK. */
static ssize_t cb_recv(wslay_event_context_ptr wc, uint8_t *buf, size_t len, int flags, void *user)
{
    struct desk_ws *ws = user;
    size_t n = 0;

    (void)flags;
    while (n < len) {
        if (ws->hold_ready) {
            size_t k = ws->hold_len - ws->hold_off;
            if (k > len - n && n > 0)
                break; /* next call: wslay then asks for >= 4088 bytes */
            if (k > len - n)
                k = len - n; /* not reached (see above); never deadlock */
            memcpy(buf + n, ws->hold + ws->hold_off, k);
            n += k;
            ws->hold_off += k;
            if (ws->hold_off == ws->hold_len) {
                ws->hold_ready = false;
                ws->hold_len = ws->hold_off = 0;
            }
            continue;
        }
        if (ws->in_off == ws->in_len)
            break;
        n += scan(ws, buf + n, len - n);
    }
    if (n == 0) {
        wslay_event_set_error(wc, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    return (ssize_t)n;
}

/* Hand bytes to the caller's send callback. */
static ssize_t cb_send(wslay_event_context_ptr wc, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    struct desk_ws *ws = user;
    int r;

    (void)flags;
    r = ws->cfg.send(data, len, ws->cfg.ctx);
    if (r > 0 && (size_t)r <= len)
        return r;
    if (r == 0 || r == -EAGAIN) {
        wslay_event_set_error(wc, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    ws->send_err = r < 0 ? r : -EINVAL; /* r > len: a broken callback */
    wslay_event_set_error(wc, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

/* Masking keys for client frames, from the pool. */
static int cb_genmask(wslay_event_context_ptr wc, uint8_t *buf, size_t len, void *user)
{
    struct desk_ws *ws = user;

    (void)wc;
    if (rng_take(ws, buf, len) != 0) {
        ws->send_err = -EIO;
        return -1;
    }
    return 0;
}

/* Record an error raised inside a callback; desk_ws_recv() returns it. */
static void fail_in_cb(struct desk_ws *ws, int err, const char *reason)
{
    if (ws->err == 0) {
        ws->err = err;
        ws->reason = reason;
    }
}

static void cb_frame_start(wslay_event_context_ptr wc,
                           const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
    struct desk_ws *ws = user;

    ws->in_ctrl = wslay_is_ctrl_frame(arg->opcode) != 0;
    if (ws->in_ctrl || ws->drop)
        return;
    if (arg->opcode != WSLAY_CONTINUATION_FRAME) { /* first frame of a message */
        ws->msglen = 0;
        ws->msgop = arg->opcode;
    }
    if (arg->payload_length > ws->cfg.max_msg - ws->msglen) {
        static const char why[] = "message too big";
        ws->drop = true;
        fail_in_cb(ws, -EMSGSIZE, "message larger than max_msg");
        /* Close 1009 and stop reading: the rest of the stream is unusable. */
        (void)wslay_event_queue_close(wc, WSLAY_CODE_MESSAGE_TOO_BIG, (const uint8_t *)why,
                                      sizeof why - 1);
        wslay_event_shutdown_read(wc);
    }
}

static void cb_frame_chunk(wslay_event_context_ptr wc,
                           const struct wslay_event_on_frame_recv_chunk_arg *arg, void *user)
{
    struct desk_ws *ws = user;

    (void)wc;
    if (ws->in_ctrl || ws->drop || arg->data_length == 0)
        return;
    if (arg->data_length > ws->cfg.max_msg - ws->msglen) { /* cannot happen: checked at start */
        ws->drop = true;
        fail_in_cb(ws, -EMSGSIZE, "message larger than max_msg");
        return;
    }
    memcpy(ws->msgbuf + ws->msglen, arg->data, arg->data_length);
    ws->msglen += arg->data_length;
}

static void cb_frame_end(wslay_event_context_ptr wc, void *user)
{
    struct desk_ws *ws = user;

    (void)wc;
    ws->in_ctrl = false;
}

/* Our ping payload: the sequence number, big-endian. */
static void seq_bytes(uint64_t seq, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)seq;
        seq >>= 8;
    }
}

static void cb_msg(wslay_event_context_ptr wc, const struct wslay_event_on_msg_recv_arg *arg,
                   void *user)
{
    struct desk_ws *ws = user;

    (void)wc;
    switch (arg->opcode) {
    case WSLAY_TEXT_FRAME:
    case WSLAY_BINARY_FRAME:
        if (ws->drop || ws->err != 0)
            return;
        ws->st.msgs_in++;
        ws->st.bytes_in += ws->msglen;
        ws->cfg.on_msg(arg->opcode == WSLAY_TEXT_FRAME ? DESK_WS_TEXT : DESK_WS_BINARY, ws->msgbuf,
                       ws->msglen, ws->cfg.ctx);
        ws->msglen = 0;
        break;
    case WSLAY_PING:
        ws->st.pings_in++; /* wslay has queued the pong already */
        break;
    case WSLAY_PONG: {
        uint8_t want[8];
        ws->st.pongs_in++;
        seq_bytes(ws->ping_seq, want);
        if (ws->ping_out && arg->msg_length == 8 && memcmp(arg->msg, want, 8) == 0) {
            ws->ping_out = false;
            ws->ping_missed = false;
            ws->st.last_rtt_ns = ws->now_ns - ws->ping_sent_ns;
        }
        break;
    }
    case WSLAY_CONNECTION_CLOSE: {
        size_t n = arg->msg_length > 2 ? arg->msg_length - 2 : 0;
        ws->close_code = arg->status_code != 0 ? arg->status_code : WSLAY_CODE_NO_STATUS_RCVD;
        if (n > sizeof ws->close_reason - 1)
            n = sizeof ws->close_reason - 1;
        if (n > 0)
            memcpy(ws->close_reason, arg->msg + 2, n);
        ws->close_reason[n] = '\0';
        if (ws->reason[0] == '\0')
            ws->reason = "closed by the peer";
        break;
    }
    default:
        break;
    }
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = cb_recv,
    .send_callback = cb_send,
    .genmask_callback = cb_genmask,
    .on_frame_recv_start_callback = cb_frame_start,
    .on_frame_recv_chunk_callback = cb_frame_chunk,
    .on_frame_recv_end_callback = cb_frame_end,
    .on_msg_recv_callback = cb_msg,
};

/* ------------------------------------------------------------------------
 * Internal helpers
 * ------------------------------------------------------------------------ */

/* Move to FAILED with `err` and a static reason; returns err. */
static int ws_fail(struct desk_ws *ws, int err, const char *reason)
{
    if (!ws->failed) {
        ws->failed = true;
        ws->reason = reason;
    }
    return err;
}

/* Run wslay_event_send(); map its failure to an errno and FAILED. */
static int do_flush(struct desk_ws *ws)
{
    int r;

    if (ws->send_err != 0)
        return ws->send_err;
    r = wslay_event_send(ws->wc);
    if (r == 0)
        return 0;
    if (r == WSLAY_ERR_NOMEM)
        return ws_fail(ws, -ENOMEM, "out of memory in wslay");
    if (ws->send_err == 0)
        ws->send_err = -EIO; /* wslay refused to frame: treat the transport as dead */
    return ws_fail(ws, ws->send_err, "send callback failed");
}

/* New wslay context in no-buffering mode with our limit only. */
DESK_COLD static int new_wslay(struct desk_ws *ws)
{
    if (wslay_event_context_client_init(&ws->wc, &callbacks, ws) != 0) {
        ws->wc = NULL;
        return -ENOMEM;
    }
    wslay_event_config_set_no_buffering(ws->wc, 1);
    /* Our cb_frame_start enforces max_msg; wslay's check would hide the cause. */
    wslay_event_config_set_max_recv_msg_length(ws->wc, UINT64_MAX);
    return 0;
}

/* Per-connection fields back to their initial values. */
static void clear_conn(struct desk_ws *ws)
{
    ws->msglen = 0;
    ws->msgop = 0;
    ws->in_ctrl = false;
    ws->drop = false;
    ws->in_recv = false;
    ws->in = NULL;
    ws->in_len = ws->in_off = 0;
    ws->send_err = 0;
    ws->err = 0;
    ws->hs_state = HS_NONE;
    ws->hs_have_msg = false;
    ws->failed = false;
    ws->reason = "";
    ws->key[0] = '\0';
    ws->accept[0] = '\0';
    ws->close_code = 0;
    ws->close_reason[0] = '\0';
    ws->sc_payload = false;
    ws->sc_hold = false;
    ws->sc_hlen = 0;
    ws->sc_need = 2;
    ws->sc_rem = 0;
    ws->hold_ready = false;
    ws->hold_len = ws->hold_off = 0;
    ws->ping_out = false;
    ws->ping_missed = false;
    ws->ping_sent_ns = 0;
    ws->next_ping_ns = 0;
}

/* ------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------ */

DESK_COLD int desk_ws_create(desk_ws_t **out, const desk_ws_config_t *cfg)
{
    static const desk_http_limits_t hs_lim = {32, 8192, 4096};
    struct desk_ws *ws;
    int rc;

    if (out == NULL || cfg == NULL)
        return DESK_ERR(-EINVAL, "desk_ws_create: NULL argument");
    *out = NULL;
    if (cfg->max_msg == 0 || cfg->send == NULL || cfg->on_msg == NULL ||
        cfg->ping_interval_ns < 0 || (cfg->ping_interval_ns > 0 && cfg->pong_timeout_ns <= 0))
        return DESK_ERR(-EINVAL, "WebSocket config needs max_msg > 0, send and on_msg "
                                 "callbacks, and a pong timeout when pinging");
    ws = calloc(1, sizeof *ws);
    if (ws == NULL)
        return DESK_ERR(-ENOMEM, "WebSocket: cannot allocate the codec");
    ws->cfg = *cfg;
    ws->st.last_rtt_ns = -1;
    clear_conn(ws);
    ws->msgbuf = malloc(cfg->max_msg);
    if (ws->msgbuf == NULL) {
        rc = DESK_ERR(-ENOMEM, "WebSocket: cannot allocate %zu bytes for messages", cfg->max_msg);
        goto fail;
    }
    if ((rc = desk_http_resp_create(&ws->hs, &hs_lim)) != 0)
        goto fail;
    if ((rc = rng_refill(ws)) != 0) {
        rc = DESK_ERR(rc, "WebSocket: getrandom() failed");
        goto fail;
    }
    if ((rc = new_wslay(ws)) != 0) {
        rc = DESK_ERR(rc, "WebSocket: cannot create the wslay context");
        goto fail;
    }
    *out = ws;
    return 0;
fail:
    desk_http_resp_destroy(ws->hs);
    free(ws->msgbuf);
    free(ws);
    return rc;
}

DESK_COLD void desk_ws_destroy(desk_ws_t *ws)
{
    if (ws == NULL)
        return;
    if (ws->wc != NULL)
        wslay_event_context_free(ws->wc);
    desk_http_resp_destroy(ws->hs);
    free(ws->msgbuf);
    free(ws);
}

DESK_COLD int desk_ws_reset(desk_ws_t *ws)
{
    if (ws->wc != NULL)
        wslay_event_context_free(ws->wc);
    ws->wc = NULL;
    clear_conn(ws);
    desk_http_resp_reset(ws->hs);
    if (new_wslay(ws) != 0) {
        ws->failed = true;
        ws->reason = "out of memory creating the wslay context";
        return DESK_ERR(-ENOMEM, "WebSocket: cannot create the wslay context");
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Handshake
 * ------------------------------------------------------------------------ */

int desk_ws_accept_key(const char *key, size_t key_len, char out[DESK_WS_ACCEPT_LEN + 1])
{
    unsigned char in[64 + sizeof WS_GUID];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (key == NULL || out == NULL || key_len > 64)
        return -EINVAL;
    memcpy(in, key, key_len);
    memcpy(in + key_len, WS_GUID, sizeof WS_GUID - 1);
    if (EVP_Digest(in, key_len + sizeof WS_GUID - 1, md, &mdlen, EVP_sha1(), NULL) != 1 ||
        mdlen != 20)
        return -EINVAL;
    /* 20 bytes -> 28 base64 characters plus the NUL EVP_EncodeBlock writes. */
    if (EVP_EncodeBlock((unsigned char *)out, md, 20) != DESK_WS_ACCEPT_LEN)
        return -EINVAL;
    return 0;
}

/* Header names the handshake writer owns (besides those http.c owns). */
static bool ws_owned_header(const desk_http_header_t *h)
{
    static const char *const owned[] = {"upgrade", "sec-websocket-key", "sec-websocket-version"};

    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
        size_t n = strlen(owned[i]);
        if (h->name_len != n)
            continue;
        size_t k = 0;
        while (k < n && (h->name[k] | 0x20) == owned[i][k])
            k++;
        if (k == n)
            return true;
    }
    return false;
}

int desk_ws_handshake_write(desk_ws_t *ws, const char *host, const char *path,
                            const desk_http_header_t *extra, unsigned n, char *buf, size_t cap)
{
    desk_http_header_t hdrs[3 + DESK_WS_MAX_EXTRA_HEADERS];
    desk_http_req_t req;
    uint8_t raw[16];
    int rc;

    if (ws == NULL || ws->hs_state == HS_DONE || ws->failed || n > DESK_WS_MAX_EXTRA_HEADERS ||
        (n > 0 && extra == NULL))
        return -EINVAL;
    for (unsigned i = 0; i < n; i++)
        if (extra[i].name == NULL || ws_owned_header(&extra[i]))
            return -EINVAL;
    if ((rc = rng_take(ws, raw, sizeof raw)) != 0)
        return DESK_ERR(rc, "WebSocket: getrandom() failed");
    if (EVP_EncodeBlock((unsigned char *)ws->key, raw, sizeof raw) != DESK_WS_KEY_LEN)
        return -EINVAL;
    if ((rc = desk_ws_accept_key(ws->key, DESK_WS_KEY_LEN, ws->accept)) != 0)
        return rc;
    hdrs[0] = (desk_http_header_t){"Upgrade", 7, "websocket", 9};
    hdrs[1] = (desk_http_header_t){"Sec-WebSocket-Key", 17, ws->key, DESK_WS_KEY_LEN};
    hdrs[2] = (desk_http_header_t){"Sec-WebSocket-Version", 21, "13", 2};
    for (unsigned i = 0; i < n; i++)
        hdrs[3 + i] = extra[i];
    memset(&req, 0, sizeof req);
    req.method = "GET";
    req.host = host;
    req.path = path;
    req.headers = hdrs;
    req.nheaders = 3 + n;
    req.connection = "Upgrade";
    rc = desk_http_req_write(&req, buf, cap);
    if (rc > 0) {
        ws->hs_state = HS_SENT;
        ws->hs_have_msg = false;
        desk_http_resp_reset(ws->hs);
    }
    return rc;
}

/* Refuse the handshake: FAILED, a reason and a detailed desk_errmsg(). */
DESK_COLD static int hs_refuse(struct desk_ws *ws, int err, const char *reason, int status)
{
    ws_fail(ws, err, reason);
    return DESK_ERR(err, "WebSocket handshake failed: %s (HTTP status %d)", reason, status);
}

int desk_ws_handshake_read(desk_ws_t *ws, const void *buf, size_t len, size_t *used, int64_t now_ns)
{
    const desk_http_msg_t *m;
    const char *acc;
    size_t acc_len;
    int rc;

    if (used != NULL)
        *used = 0;
    if (ws == NULL || used == NULL || ws->hs_state != HS_SENT || ws->failed)
        return -EINVAL;
    rc = desk_http_resp_feed(ws->hs, buf, len, used);
    if (rc == 0)
        return 0;
    if (rc < 0)
        return hs_refuse(
            ws, rc,
            rc == -EMSGSIZE ? "handshake response too large" : "malformed handshake response", 0);
    ws->hs_have_msg = true;
    m = desk_http_resp_msg(ws->hs);
    if (m->status != 101)
        return hs_refuse(ws, -EPROTO, "handshake refused: status is not 101", m->status);
    if (!desk_http_msg_has_token(m, "Upgrade", "websocket"))
        return hs_refuse(ws, -EPROTO, "handshake: no Upgrade: websocket", m->status);
    if (!desk_http_msg_has_token(m, "Connection", "upgrade"))
        return hs_refuse(ws, -EPROTO, "handshake: no Connection: upgrade", m->status);
    if (desk_http_msg_header(m, "Sec-WebSocket-Accept", &acc, &acc_len) != 0 ||
        acc_len != DESK_WS_ACCEPT_LEN || memcmp(acc, ws->accept, DESK_WS_ACCEPT_LEN) != 0)
        return hs_refuse(ws, -EPROTO, "handshake: wrong Sec-WebSocket-Accept", m->status);
    if (desk_http_msg_header(m, "Sec-WebSocket-Extensions", NULL, NULL) == 0 ||
        desk_http_msg_header(m, "Sec-WebSocket-Protocol", NULL, NULL) == 0)
        return hs_refuse(ws, -EPROTO, "handshake: extension or subprotocol not offered", m->status);
    ws->hs_state = HS_DONE;
    ws->next_ping_ns = now_ns + ws->cfg.ping_interval_ns;
    return 1;
}

const desk_http_msg_t *desk_ws_handshake_msg(const desk_ws_t *ws)
{
    return ws->hs_have_msg ? desk_http_resp_msg(ws->hs) : NULL;
}

/* ------------------------------------------------------------------------
 * Data path
 * ------------------------------------------------------------------------ */

int desk_ws_recv(desk_ws_t *ws, const void *buf, size_t len, int64_t now_ns)
{
    int r, rc;

    if (ws == NULL || (buf == NULL && len > 0) || ws->hs_state != HS_DONE)
        return -EINVAL;
    if (ws->failed || !wslay_event_get_read_enabled(ws->wc))
        return -EPIPE;
    ws->in = buf;
    ws->in_len = len;
    ws->in_off = 0;
    ws->now_ns = now_ns;
    ws->in_recv = true;
    r = wslay_event_recv(ws->wc);
    ws->in_recv = false;
    ws->in = NULL;
    ws->in_len = ws->in_off = 0;

    if (r == WSLAY_ERR_NOMEM) {
        rc = ws_fail(ws, -ENOMEM, "out of memory in wslay");
    } else if (r != 0) {
        /* wslay_frame_recv() rejected a header: a control frame over 125
         * bytes or fragmented, or a non-minimal extended length. */
        rc = ws_fail(ws, -EPROTO, "malformed frame header");
    } else if (ws->err != 0) {
        rc = ws_fail(ws, ws->err, ws->reason);
    } else if (!wslay_event_get_read_enabled(ws->wc) && !wslay_event_get_close_received(ws->wc)) {
        rc = ws_fail(ws, -EPROTO, "protocol error");
    } else {
        return do_flush(ws); /* pongs and a close echo owed to the peer */
    }
    (void)do_flush(ws); /* best effort: the close frame wslay queued */
    if (rc == -EPROTO && wslay_event_get_close_sent(ws->wc)) {
        uint16_t code = wslay_event_get_status_code_sent(ws->wc);
        if (code == WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA)
            ws->reason = "invalid UTF-8 in a text message or close reason";
        else if (code == WSLAY_CODE_PROTOCOL_ERROR && r == 0)
            ws->reason = "protocol violation: masked server frame, reserved opcode or RSV "
                         "bit, bad continuation, or bad close code";
    }
    return rc;
}

/* Queue one message of `opcode`; flush unless inside desk_ws_recv(). */
static int queue_msg(struct desk_ws *ws, uint8_t opcode, const void *data, size_t len)
{
    struct wslay_event_msg m = {opcode, data, len};
    int r;

    if (ws->failed || wslay_event_get_close_sent(ws->wc) || wslay_event_get_close_received(ws->wc))
        return -EPIPE;
    r = wslay_event_queue_msg(ws->wc, &m);
    if (r == WSLAY_ERR_NO_MORE_MSG)
        return -EPIPE;
    if (r == WSLAY_ERR_NOMEM)
        return -ENOMEM;
    if (r != 0)
        return -EINVAL;
    return ws->in_recv ? 0 : do_flush(ws);
}

static int send_data(desk_ws_t *ws, uint8_t opcode, const void *data, size_t len)
{
    int rc;

    if (ws == NULL || ws->hs_state != HS_DONE || (data == NULL && len > 0))
        return -EINVAL;
    rc = queue_msg(ws, opcode, data, len);
    if (rc == 0)
        ws->st.msgs_out++;
    return rc;
}

int desk_ws_send_text(desk_ws_t *ws, const void *data, size_t len)
{
    return send_data(ws, WSLAY_TEXT_FRAME, data, len);
}

int desk_ws_send_binary(desk_ws_t *ws, const void *data, size_t len)
{
    return send_data(ws, WSLAY_BINARY_FRAME, data, len);
}

/* Close codes an endpoint may send (RFC 6455 7.4), as wslay accepts them. */
static bool close_code_ok(uint16_t c)
{
    return (c >= 1000 && c <= 1011 && c != 1004 && c != 1005 && c != 1006) ||
           (c >= 3000 && c <= 4999);
}

int desk_ws_close(desk_ws_t *ws, uint16_t code, const char *reason)
{
    size_t rlen = reason != NULL ? strlen(reason) : 0;
    int r;

    if (ws == NULL || ws->hs_state != HS_DONE || !close_code_ok(code) || rlen > 123)
        return -EINVAL;
    if (ws->failed)
        return -EPIPE;
    r = wslay_event_queue_close(ws->wc, code, (const uint8_t *)reason, rlen);
    if (r == WSLAY_ERR_NO_MORE_MSG)
        return -EPIPE;
    if (r == WSLAY_ERR_NOMEM)
        return -ENOMEM;
    if (r != 0)
        return -EINVAL;
    if (ws->reason[0] == '\0')
        ws->reason = "closed by us";
    return ws->in_recv ? 0 : do_flush(ws);
}

int desk_ws_flush(desk_ws_t *ws)
{
    if (ws == NULL || ws->hs_state != HS_DONE)
        return -EINVAL;
    if (ws->in_recv)
        return 0;
    return do_flush(ws);
}

bool desk_ws_want_write(const desk_ws_t *ws)
{
    return ws->wc != NULL && ws->send_err == 0 && wslay_event_want_write(ws->wc) != 0;
}

int desk_ws_tick(desk_ws_t *ws, int64_t now_ns)
{
    uint8_t payload[8];
    struct wslay_event_msg m;
    int r;

    if (ws->cfg.ping_interval_ns == 0 || desk_ws_state(ws) != DESK_WS_OPEN)
        return 0;
    if (ws->ping_out) {
        if (now_ns - ws->ping_sent_ns < ws->cfg.pong_timeout_ns)
            return 0;
        if (!ws->ping_missed) {
            ws->ping_missed = true;
            ws->st.missed_pongs++;
        }
        return -ETIMEDOUT;
    }
    if (now_ns < ws->next_ping_ns)
        return 0;
    seq_bytes(++ws->ping_seq, payload);
    m = (struct wslay_event_msg){WSLAY_PING, payload, sizeof payload};
    r = wslay_event_queue_msg(ws->wc, &m);
    if (r == WSLAY_ERR_NOMEM)
        return -ENOMEM;
    if (r != 0)
        return 0; /* closing: no more pings */
    ws->ping_out = true;
    ws->ping_missed = false;
    ws->ping_sent_ns = now_ns;
    ws->next_ping_ns = now_ns + ws->cfg.ping_interval_ns;
    ws->st.pings_out++;
    return ws->in_recv ? 0 : do_flush(ws);
}

int desk_ws_next_timer(const desk_ws_t *ws, int64_t *when_ns)
{
    if (ws->cfg.ping_interval_ns == 0 || desk_ws_state(ws) != DESK_WS_OPEN)
        return -ENOENT;
    *when_ns = ws->ping_out ? ws->ping_sent_ns + ws->cfg.pong_timeout_ns : ws->next_ping_ns;
    return 0;
}

desk_ws_state_t desk_ws_state(const desk_ws_t *ws)
{
    bool sent, rcvd;

    if (ws->failed || ws->wc == NULL)
        return DESK_WS_FAILED;
    if (ws->hs_state != HS_DONE)
        return DESK_WS_CONNECTING;
    sent = wslay_event_get_close_sent(ws->wc) != 0;
    rcvd = wslay_event_get_close_received(ws->wc) != 0;
    if (sent && rcvd)
        return DESK_WS_CLOSED;
    if (sent || rcvd)
        return DESK_WS_CLOSING;
    return DESK_WS_OPEN;
}

const char *desk_ws_reason(const desk_ws_t *ws)
{
    return ws->reason;
}

uint16_t desk_ws_close_code(const desk_ws_t *ws)
{
    return ws->close_code;
}

const char *desk_ws_close_reason(const desk_ws_t *ws)
{
    return ws->close_reason;
}

const desk_ws_stats_t *desk_ws_stats(const desk_ws_t *ws)
{
    return &ws->st;
}

const char *desk_ws_key(const desk_ws_t *ws)
{
    return ws->key;
}
