/*
 * session.c - the "alpaca" connector: Alpaca Trading API v2 over TLS on the
 * connector thread's io_uring loop.  Options and the summary are in
 * session.h; the wire format is connectors/alpaca/codec.h's job.
 *
 * Pieces (everything but create/bootstrap runs on the connector thread):
 *
 *   endpoints   "trade" (base_url: a pool of pool_size keep-alive HTTP/1.1
 *               connections, desk_http_pool_t for the bookkeeping) and
 *               "data" (data_url: one connection, latest quotes).  One
 *               request per connection at a time, each with a deadline
 *               (request_timeout_ms); a late connection is closed, never
 *               reused, so a late answer cannot be read as the next one's.
 *   stream      trade_updates over WebSocket (desk_ws_t over a desk_conn_t):
 *               authenticate, wait for "authorized", listen, wait for
 *               "listening"; JSON in text or binary frames.  Each (re)start
 *               of the stream is followed by a reconciliation: GET
 *               /v2/orders?status=open, then GET by client_order_id for
 *               every order desk thinks live that is not in that list.
 *   orders      two preallocated pools.  A "dord" is a desk order (order_id,
 *               its running cum qty, acked/done); an "aord" is one Alpaca
 *               order (one client_order_id): the original, and one more per
 *               replace (Alpaca's PATCH creates a new order).  Every Order
 *               object Alpaca sends carries client_order_id = "d<cl_ord_id>",
 *               so the map (desk__alpaca_map_t, cl_ord_id -> aord) is the
 *               only lookup; the aord keeps Alpaca's id for the DELETE/PATCH
 *               paths.  Finished dords are reused FIFO (like the router's
 *               order table): a late or duplicate update for an order done
 *               long ago finds nothing, or finds it done, and is ignored.
 *   worklist    aords with a request to make (POST, PATCH, DELETE, GET by
 *               client_order_id).  pump() walks it after every loop turn and
 *               sends what the pool, the rate limiter and the breaker allow.
 *   events      desk_host_emit(); on -EAGAIN events wait in order in a
 *               preallocated queue (never dropped).
 *   recovery    DESK_CMD_RECOVER after a deskd restart: orders of the
 *               earlier run, settled by GET by client_order_id
 *               (recover_settle()).
 *   reports     the venue's account for deskd's reconciliation
 *               (desk_host_account_report): venue-only open orders, cash,
 *               positions, after every stream start and every
 *               reconcile_interval_ms (rep_pump()).
 *
 * Fills are derived from order.filled_qty deltas per Alpaca order
 * (desk_alpaca_update_to_vevents with what this aord already applied), so a
 * duplicate or stale update adds nothing; the desk-level cum qty is the sum
 * of the deltas over the chain of Alpaca orders, which stays right across a
 * replace (where Alpaca's filled_qty restarts at 0).
 *
 * Ambiguous outcomes (desk__alpaca_next() is the table).  A POST or PATCH
 * that timed out, lost its connection, got a 5xx or an unreadable 2xx is
 * not a reject: the aord goes UNCERTAIN and GET
 * /v2/orders:by_client_order_id settles it: found -> live (ACK, fills, or
 * REPLACED); 404 -> sent again with the same client_order_id (the venue
 * refuses a duplicate, so at most one order per ClOrdID can exist), until
 * max_attempts, then REJECT (CANCEL_REJECT for a replace).  A 4xx to a
 * resend is settled the same way (it may be "client_order_id must be
 * unique").  A DELETE that gets anything but 2xx is settled by the same GET:
 * the order is canceled, done otherwise (CANCEL_REJECT), or still open (the
 * DELETE is sent again, up to max_attempts).  A 2xx DELETE waits for the
 * "canceled" update, and asks by GET after 3 s without one.
 *
 * Health.  Every trade request is counted into a circuit breaker (5xx,
 * timeouts, lost connections, failed connects and unreadable replies are
 * failures; other 4xx are answers; 429 backs off by Retry-After and counts
 * into the breaker).  An open breaker is DEGRADED; after breaker_cooldown_ms
 * the next request is the half-open probe, and its success closes it.  An
 * account heartbeat (account_interval_ms) keeps requests flowing so a silent
 * venue is noticed.  A stream that is down, or a reconciliation under way,
 * is DEGRADED too; before the first stream session it is DOWN.
 *
 * Allocation: all at create and connect (cold).  Per message: none in this
 * file; wslay copies the few messages we send on the stream (ws.h), and
 * OpenSSL's per-connection state is made per connection attempt (cold).
 */
#include "connectors/alpaca/session.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/alpaca/codec.h"
#include "connectors/net/conn.h"
#include "connectors/net/health.h"
#include "connectors/net/http.h"
#include "connectors/net/json.h"
#include "connectors/net/loop.h"
#include "connectors/net/tls.h"
#include "connectors/net/ws.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fixed.h"

#define NONE UINT32_MAX                   /* no index */
#define ALP_MAX_POOL 8u                   /* trade connections at most */
#define ALP_REQBUF 4096u                  /* one serialised request */
#define ALP_JSON_MAX (1u << 20)           /* largest JSON document read (open orders) */
#define ALP_BODY_TRADE (1u << 20)         /* largest trade response body */
#define ALP_BODY_DATA (64u << 10)         /* largest data response body */
#define ALP_WS_MAX_MSG (256u << 10)       /* largest stream message */
#define ALP_OLIST 500u                    /* GET /v2/orders?limit= */
#define ALP_MAX_POS 256u                  /* positions read at bootstrap */
#define ALP_RETRY_NS 200000000ull         /* pause before a settle or a resend: 200 ms */
#define ALP_REC_MAX_NS 5000000000ull      /* recovery: longest pause between asks: 5 s */
#define ALP_REC_LATE_NS 60000000000ull    /* recovery: pending this long: UP without it */
#define ALP_CANCEL_CHECK_NS 3000000000ull /* 2xx DELETE without an update: ask */
#define ALP_HOLDS 32u                     /* fill updates held back waiting for a missing one */
#define ALP_HOLD_NS 250000000ull          /* how long: 250 ms */
#define MS 1000000ull
#define ALP_SECRET_MAX 512u      /* bytes of a key id or secret, with the NUL */
#define ALP_HANDLED (-ECANCELED) /* process(): settled locally, nothing sent */

/* ---------------------------------------------------------------------- */
/* Pure helpers (exposed as desk__ for the unit test)                      */
/* ---------------------------------------------------------------------- */

size_t desk__alpaca_map_bytes(uint32_t cap)
{
    return (size_t)cap * (sizeof(uint64_t) + sizeof(uint32_t));
}

int desk__alpaca_map_init(desk__alpaca_map_t *m, void *mem, uint32_t cap)
{
    if (m == NULL || mem == NULL || cap < 2 || (cap & (cap - 1)) != 0)
        return -EINVAL;
    m->keys = mem;
    m->vals = (uint32_t *)(m->keys + cap);
    m->mask = cap - 1;
    m->n = 0;
    memset(m->keys, 0, (size_t)cap * sizeof *m->keys);
    return 0;
}

/* splitmix64's finaliser: cl_ord_ids are consecutive, so spread them. */
static inline uint32_t map_hash(uint64_t k)
{
    k ^= k >> 30;
    k *= 0xbf58476d1ce4e5b9ull;
    k ^= k >> 27;
    k *= 0x94d049bb133111ebull;
    k ^= k >> 31;
    return (uint32_t)k;
}

int desk__alpaca_map_put(desk__alpaca_map_t *m, uint64_t key, uint32_t val)
{
    if (key == 0)
        return -EINVAL;
    for (uint32_t i = map_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->keys[i] == key)
            return -EEXIST;
        if (m->keys[i] == 0) {
            if (m->n >= m->mask)
                return -ENOSPC; /* keep one empty cell: probes always end */
            m->keys[i] = key;
            m->vals[i] = val;
            m->n++;
            return 0;
        }
    }
}

uint32_t desk__alpaca_map_get(const desk__alpaca_map_t *m, uint64_t key)
{
    if (key == 0)
        return NONE;
    for (uint32_t i = map_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->keys[i] == key)
            return m->vals[i];
        if (m->keys[i] == 0)
            return NONE;
    }
}

int desk__alpaca_map_del(desk__alpaca_map_t *m, uint64_t key)
{
    uint32_t i;

    if (key == 0)
        return -ENOENT;
    for (i = map_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->keys[i] == key)
            break;
        if (m->keys[i] == 0)
            return -ENOENT;
    }
    /* Backward shift: move later members of the cluster into the hole when
     * their home slot does not lie cyclically in (hole, j]. */
    for (uint32_t j = (i + 1) & m->mask; m->keys[j] != 0; j = (j + 1) & m->mask) {
        uint32_t home = map_hash(m->keys[j]) & m->mask;
        int in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (in_range)
            continue;
        m->keys[i] = m->keys[j];
        m->vals[i] = m->vals[j];
        i = j;
    }
    m->keys[i] = 0;
    m->n--;
    return 0;
}

desk__alpaca_outcome_t desk__alpaca_classify(int status, int body_ok, int settle)
{
    if (settle && status == 404)
        return DESK__ALP_NOT_FOUND;
    if (status >= 200 && status < 300)
        return body_ok ? (settle ? DESK__ALP_FOUND : DESK__ALP_OK) : DESK__ALP_AMBIGUOUS;
    if (status == 429)
        return DESK__ALP_THROTTLED;
    if (status >= 400 && status < 500)
        return DESK__ALP_REFUSED;
    return DESK__ALP_AMBIGUOUS; /* 0 (no answer), 5xx, 1xx/3xx nonsense */
}

desk__alpaca_action_t desk__alpaca_next(desk__alpaca_outcome_t out, unsigned attempts,
                                        unsigned max_attempts)
{
    switch (out) {
    case DESK__ALP_OK:
    case DESK__ALP_FOUND:
        return DESK__ALP_LIVE;
    case DESK__ALP_REFUSED:
        return attempts <= 1 ? DESK__ALP_REJECT : DESK__ALP_SETTLE;
    case DESK__ALP_THROTTLED:
        return DESK__ALP_RESEND;
    case DESK__ALP_NOT_FOUND:
        return attempts < max_attempts ? DESK__ALP_RESEND : DESK__ALP_REJECT;
    case DESK__ALP_AMBIGUOUS:
    default:
        return DESK__ALP_SETTLE;
    }
}

/*
 * Recovery of an order with a cancel or replace in flight at the crash: 1
 * while the venue's answers say the request is still pending there, so
 * that no outcome may be told yet.  cur_status: the order's
 * desk_alpaca_status_t (it was found); repl_found: 1 if the replacement's
 * client_order_id was found, then repl_status is its status.  Pending: the
 * order is pending_replace or pending_cancel (whatever the replacement's
 * answer: a 404 may only mean "not yet"), or it is still open while the
 * replacement exists and is not final (accepted, pending_new, new: the
 * "replaced" update is still to come).  Pure; any thread.
 */
int desk__alpaca_rec_pending(unsigned cur_status, int repl_found, unsigned repl_status)
{
    if (cur_status == DESK_ALPACA_ST_PENDING_REPLACE || cur_status == DESK_ALPACA_ST_PENDING_CANCEL)
        return 1;
    if (desk_alpaca_status_is_final(cur_status)) /* replaced included: a final answer */
        return 0;
    return repl_found && !desk_alpaca_status_is_final(repl_status);
}

/* Recovery: the pause before asking again about a pending request, after
 * `tries` asks: 200 ms doubling, at most ALP_REC_MAX_NS.  Pure. */
uint64_t desk__alpaca_rec_backoff_ns(unsigned tries)
{
    uint64_t ns = ALP_RETRY_NS << (tries < 6 ? tries : 6);
    return ns < ALP_REC_MAX_NS ? ns : ALP_REC_MAX_NS;
}

int desk__alpaca_parse_url(const char *url, const char *scheme, char *host, size_t hcap,
                           uint16_t *port, char *path, size_t pcap)
{
    size_t sl = strlen(scheme);

    if (url == NULL || strncasecmp(url, scheme, sl) != 0 || strncmp(url + sl, "://", 3) != 0)
        return -EINVAL;
    const char *h = url + sl + 3, *he, *rest;
    if (*h == '[') {
        he = strchr(h, ']');
        if (he == NULL)
            return -EINVAL;
        h++;
        rest = he + 1;
    } else {
        he = h + strcspn(h, ":/?#");
        rest = he;
    }
    size_t hl = (size_t)(he - h);
    if (hl == 0 || hl >= hcap)
        return -EINVAL;
    for (size_t i = 0; i < hl; i++)
        if ((unsigned char)h[i] <= 0x20 || h[i] == 0x7f || h[i] == '@')
            return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = 443;
    if (*rest == ':') {
        unsigned long p = 0;
        const char *d = rest + 1;
        if (*d < '0' || *d > '9')
            return -EINVAL;
        while (*d >= '0' && *d <= '9') {
            p = p * 10 + (unsigned long)(*d - '0');
            if (p > 65535)
                return -EINVAL;
            d++;
        }
        if (p == 0)
            return -EINVAL;
        *port = (uint16_t)p;
        rest = d;
    }
    if (*rest != '\0' && *rest != '/')
        return -EINVAL;
    size_t pl = strlen(rest);
    if (pl == 1)
        pl = 0; /* "https://host/" is the root */
    if (pl >= pcap)
        return -EINVAL;
    for (size_t i = 0; i < pl; i++)
        if ((unsigned char)rest[i] <= 0x20 || rest[i] == 0x7f || rest[i] == '#' || rest[i] == '?')
            return -EINVAL;
    memcpy(path, rest, pl);
    path[pl] = '\0';
    return 0;
}

/* ---------------------------------------------------------------------- */
/* State                                                                   */
/* ---------------------------------------------------------------------- */

struct alp_opts {
    char base_host[DESK_CONN_HOSTMAX];   /* trading API host */
    uint16_t base_port;                  /* its port */
    char data_host[DESK_CONN_HOSTMAX];   /* market data host */
    uint16_t data_port;                  /* its port */
    char stream_host[DESK_CONN_HOSTMAX]; /* trade_updates host */
    uint16_t stream_port;                /* its port */
    char stream_path[256];               /* its path ("/stream") */
    char key_id[ALP_SECRET_MAX];         /* APCA-API-KEY-ID (secret: wiped at destroy) */
    char secret[ALP_SECRET_MAX];         /* APCA-API-SECRET-KEY (wiped at destroy) */
    char ca_file[1024];                  /* trusted CAs, "" for the system store */
    uint64_t connect_timeout_ns;         /* TCP + TLS handshake */
    uint64_t request_timeout_ns;         /* one REST request */
    uint64_t boot_timeout_ns;            /* bootstrap fetch */
    uint64_t rate_window_ns;             /* rate limit window */
    uint64_t quote_interval_ns;          /* 0: no quotes */
    uint64_t account_interval_ns;        /* 0: no heartbeat */
    uint64_t reconcile_interval_ns;      /* account reports; 0: at (re)connect only */
    uint64_t cooldown_ns;                /* breaker cool-down */
    uint64_t reconnect_ns;               /* first reconnect delay */
    uint64_t reconnect_max_ns;           /* largest reconnect delay */
    uint64_t ping_ns;                    /* WebSocket ping interval */
    uint64_t pong_ns;                    /* pong deadline */
    uint32_t rate_limit;                 /* requests per window */
    uint32_t pool_size;                  /* trade connections */
    uint32_t max_orders;                 /* desk orders tracked */
    uint32_t max_attempts;               /* POST/PATCH/DELETE sends */
    uint32_t breaker_failures;           /* failures that open the breaker */
};

/* Request kinds (one per REST call the connector makes). */
enum alp_kind {
    K_NONE = 0,
    K_POST,      /* POST /v2/orders (ref: aord) */
    K_PATCH,     /* PATCH /v2/orders/{old id} (ref: the replacement aord) */
    K_DELETE,    /* DELETE /v2/orders/{id} (ref: aord) */
    K_GET_CLID,  /* GET /v2/orders:by_client_order_id (ref: aord) */
    K_ORDERS,    /* GET /v2/orders?status=open (reconciliation) */
    K_ACCOUNT,   /* GET /v2/account */
    K_POSITIONS, /* GET /v2/positions */
    K_QUOTE,     /* GET /v2/stocks/{sym}/quotes/latest (ref: local instrument) */
};

/* The ref of K_ORDERS / K_ACCOUNT / K_POSITIONS: what the answer is for. */
#define REF_PLAIN 0u  /* stream-start reconciliation, heartbeat, bootstrap */
#define REF_REPORT 1u /* an account report (desk_host_account_report) */

/* alpaca.rep_phase: where the account report under way stands. */
enum alp_rp {
    RP_IDLE = 0, /* none: the next one at rep_at_ns */
    RP_ORDERS,   /* GET /v2/orders?status=open in flight (venue-only orders) */
    RP_SNAP,     /* GET /v2/account and GET /v2/positions to send or in flight */
};

/* aord.st: where one Alpaca order (one client_order_id) stands. */
enum alp_ast {
    AS_QUEUED = 0, /* POST/PATCH to send (first time or again) */
    AS_INFLIGHT,   /* POST/PATCH sent, no answer yet */
    AS_UNCERTAIN,  /* outcome unknown: GET by client_order_id settles it */
    AS_LIVE,       /* the venue has it (id known) */
    AS_FINAL,      /* done at the venue, or never there */
    AS_RECOVER,    /* recovered from deskd's journal: GET by client_order_id first */
};

/* aord.rec: the recovery question about one Alpaca order. */
enum alp_rec {
    REC_NONE = 0, /* not recovered (or settled) */
    REC_ASKING,   /* GET by client_order_id to send, or in flight */
    REC_FOUND,    /* the venue has it: v_* below hold its Order */
    REC_GONE,     /* 404: the venue never had it */
};

/* aord.cx: the cancel of an Alpaca order. */
enum alp_cx {
    CX_NONE = 0, /* none asked */
    CX_WANT,     /* DELETE to send (once the order is live) */
    CX_INFLIGHT, /* DELETE sent */
    CX_SENT,     /* 2xx: waiting for the "canceled" update */
    CX_CHECK,    /* outcome unknown: GET by client_order_id */
};

/* One Alpaca order. */
struct aord {
    uint64_t clid;               /* its client_order_id number (map key); 0: free */
    char id[DESK_ALPACA_ID_MAX]; /* Alpaca's order id, "" until known */
    int64_t filled;              /* order.filled_qty applied so far */
    int64_t avg;                 /* order.filled_avg_price at that point */
    int64_t new_qty;             /* replacement: desk's new total quantity */
    int64_t new_px;              /* replacement: the new limit price */
    uint64_t not_before_ns;      /* no request about it before this */
    uint32_t dord;               /* its desk order */
    uint32_t prev;               /* replacement: the aord it replaces, else NONE */
    uint32_t chain;              /* next aord of the same desk order (freeing) */
    uint32_t epoch;              /* last reconciliation that listed it */
    uint8_t st;                  /* enum alp_ast */
    uint8_t cx;                  /* enum alp_cx */
    uint8_t is_repl;             /* 1: made by a replace (PATCH) */
    uint8_t busy;                /* 1: a request about it is in flight */
    uint8_t in_work;             /* 1: on the worklist */
    uint8_t need_get;            /* 1: refresh by GET by client_order_id */
    uint8_t attempts;            /* POST/PATCH sends so far */
    uint8_t cx_attempts;         /* DELETE sends so far */
    uint8_t rec;                 /* enum alp_rec (AS_RECOVER) */
    uint8_t rec_tries;           /* recovery: times asked again (request pending) */
    uint8_t rec_late;            /* recovery: pending past ALP_REC_LATE_NS: not in nrecover */
    uint64_t rec_t0_ns;          /* recovery: when the request was first seen pending */
    uint8_t v_status;            /* REC_FOUND: the Order's desk_alpaca_status_t */
    uint8_t v_flags;             /* REC_FOUND: its DESK_ALPACA_HAS_* */
    int64_t v_qty;               /* REC_FOUND: its qty (filled/avg: the fields above) */
};

/* One desk order. */
struct dord {
    uint64_t order_id;   /* deskd's order id */
    int64_t qty;         /* desk's total quantity (after replaces) */
    int64_t px;          /* limit price */
    int64_t stop_px;     /* stop price */
    int64_t cum;         /* fills emitted (sum over its Alpaca orders) */
    uint32_t instrument; /* instrument id */
    uint32_t cur;        /* the Alpaca order that stands for it now */
    uint32_t repl;       /* a replacement in progress, else NONE */
    uint32_t chain;      /* its newest aord (list through aord.chain) */
    uint32_t next_free;  /* free FIFO link */
    uint8_t side;        /* desk_side_t */
    uint8_t ord_type;    /* desk_ord_type_t */
    uint8_t tif;         /* desk_tif_t */
    uint8_t in_use;      /* allocated (done orders stay findable until reuse) */
    uint8_t acked;       /* ACK emitted */
    uint8_t done;        /* a terminal event emitted (or FILLED) */
    uint8_t rejected;    /* done by a REJECT */
    uint8_t cancel_req;  /* a CANCEL is pending: answer it exactly once */
};

/* What a pool slot's request is about. */
struct inflight {
    uint8_t kind;  /* enum alp_kind */
    uint32_t ref;  /* aord or local instrument index */
    uint64_t clid; /* the aord's clid when sent (staleness check) */
};

/* A fill update that skipped an execution, held until the missing update
 * arrives (then both apply with their own prices) or ALP_HOLD_NS passes. */
struct hold {
    uint32_t aord;          /* its Alpaca order, NONE when the slot is free */
    uint64_t clid;          /* that aord's clid (staleness check) */
    uint64_t until_ns;      /* apply it anyway at this time */
    desk_alpaca_update_t u; /* the update */
};

struct alpaca;
struct ep;

/* Callback context of one endpoint connection. */
struct epconn {
    struct ep *ep; /* its endpoint */
    uint32_t i;    /* its slot */
};

/* An HTTPS endpoint: n keep-alive connections to one host. */
struct ep {
    struct alpaca *a;                     /* owner */
    const char *what;                     /* "trade" or "data", for messages */
    char host[DESK_CONN_HOSTMAX];         /* host */
    char hosthdr[DESK_CONN_HOSTMAX + 8];  /* Host header ("h:port" unless 443) */
    uint16_t port;                        /* port */
    uint32_t n;                           /* connections */
    uint32_t ninit;                       /* connections initialised */
    desk_conn_t conn[ALP_MAX_POOL];       /* the connections */
    desk_http_resp_t *resp[ALP_MAX_POOL]; /* their response parsers (owned) */
    desk_http_slot_t slot[ALP_MAX_POOL];  /* pool slots */
    desk_http_pool_t pool;                /* pool bookkeeping */
    struct inflight fl[ALP_MAX_POOL];     /* what each busy slot carries */
    struct epconn cc[ALP_MAX_POOL];       /* callback contexts */
    uint8_t was_open[ALP_MAX_POOL];       /* the current attempt reached on_open */
    desk_breaker_t *br;                   /* breaker (borrowed) */
    desk_ratelimit_t *rl;                 /* rate limiter (borrowed) */
    uint32_t health;                      /* 1: counts into the health breaker */
    uint64_t fails;                       /* failed requests */
};

/* Stream phases. */
enum alp_sp { SP_DOWN = 0, SP_HANDSHAKE, SP_AUTH, SP_LISTEN, SP_LIVE };

struct stream {
    desk_conn_t conn;                    /* TLS connection */
    desk_ws_t *ws;                       /* WebSocket codec (owned) */
    int conn_ok;                         /* conn initialised */
    uint8_t phase;                       /* enum alp_sp */
    uint8_t ever_live;                   /* reached SP_LIVE once */
    char hosthdr[DESK_CONN_HOSTMAX + 8]; /* Host header */
    char why[48];                        /* why it is not live (health reason) */
    uint64_t reopen_at_ns;               /* after we closed it: reconnect no earlier */
    uint64_t phase_ns;                   /* when the session opened (handshake deadline) */
    uint64_t rng;                        /* jitter state for that delay */
    uint32_t fails;                      /* sessions in a row that never went live */
    uint64_t msgs;                       /* messages decoded */
    uint64_t bad;                        /* messages that did not decode */
    uint64_t sessions;                   /* sessions that reached LIVE */
};

struct alpaca {
    desk_host_t *host;        /* deskd's side (borrowed) */
    char name[DESK_NAME_MAX]; /* connector name */
    struct alp_opts o;        /* parsed options */
    desk_loop_t loop;         /* the connector's io_uring loop */
    int loop_ok;              /* loop initialised */
    desk_tls_ctx_t tls;       /* TLS context */
    int tls_ok;               /* tls initialised */
    int net_ok;               /* endpoints and stream initialised */
    desk_json_t *json;        /* JSON handle (owned) */
    struct ep trade;          /* trading endpoint */
    struct ep data;           /* market data endpoint */
    struct stream st;         /* trade_updates */
    desk_breaker_t br;        /* health breaker (trading) */
    desk_breaker_t dbr;       /* data breaker (quotes only; not health) */
    desk_ratelimit_t rl;      /* trading rate limiter */
    desk_ratelimit_t drl;     /* data rate limiter (when another host) */
    /* orders */
    struct dord *d;          /* [nd] desk orders (owned) */
    uint32_t nd;             /* their count */
    uint32_t d_head, d_tail; /* free FIFO */
    struct aord *ao;         /* [na] Alpaca orders (owned) */
    uint32_t na;             /* their count */
    uint32_t a_free;         /* free stack through aord.chain */
    desk__alpaca_map_t map;  /* clid -> aord */
    void *map_mem;           /* its memory (owned) */
    uint32_t *work;          /* worklist ring [na] (owned) */
    uint32_t w_head, w_n;    /* ring head and count */
    uint8_t work_dirty;      /* something changed: walk the worklist */
    uint64_t pump_at_ns;     /* walk it no later than this */
    /* events waiting for the router's ring */
    desk_vevent_t *evq;                /* [evq_cap] (owned) */
    uint32_t evq_cap, evq_head, evq_n; /* ring */
    /* instruments and quotes */
    uint32_t ninst;         /* this connector's instruments */
    uint32_t *inst_id;      /* [ninst] their ids (owned) */
    desk_quote_t *quote;    /* [ninst] latest quotes (owned) */
    uint8_t *have_quote;    /* [ninst] (owned) */
    uint32_t quote_rr;      /* next instrument to ask */
    uint64_t quote_at_ns;   /* next quote request */
    uint8_t quote_busy;     /* a quote request is in flight */
    uint64_t account_at_ns; /* next account heartbeat */
    uint8_t account_busy;   /* account request in flight */
    /* reconciliation */
    uint8_t recon_want;         /* a reconciliation is due */
    uint8_t recon_busy;         /* GET /v2/orders in flight */
    uint32_t epoch;             /* reconciliation counter */
    desk_alpaca_order_t *olist; /* [ALP_OLIST] decode buffer (owned) */
    uint32_t nrecover;          /* aords in AS_RECOVER (health: not UP meanwhile) */
    /* account reports (desk_host_account_report) */
    const char **inst_sym;        /* [ninst] symbols (borrowed: the instrument table) */
    desk_position_t *rep_pos;     /* [ninst] positions of the report (owned) */
    desk_balance_t rep_bal;       /* GET /v2/account of the report */
    uint64_t rep_at_ns;           /* next report (periodic, or a retry) */
    uint64_t rep_snap_at_ns;      /* RP_SNAP: ask no earlier than this */
    uint64_t news;                /* trade updates received + events emitted, ever */
    uint64_t rep_news0;           /* news when the snapshot's first request went out */
    uint64_t reports;             /* reports handed to deskd */
    uint64_t reports_busy;        /* reports deskd had no room for (-EBUSY) */
    uint32_t rep_npos;            /* entries in rep_pos */
    uint32_t rep_venue_only;      /* open orders at the venue no desk order maps to */
    uint32_t rep_unmapped;        /* venue positions in symbols desk does not trade */
    uint32_t rep_unmapped_logged; /* the count last logged (log on change) */
    uint8_t rep_phase;            /* enum alp_rp */
    uint8_t rep_owed;             /* a start/reconnect report is owed: retry in 1 s */
    uint8_t rep_acct_busy;        /* its GET /v2/account is in flight */
    uint8_t rep_pos_busy;         /* its GET /v2/positions is in flight */
    uint8_t rep_have_acct;        /* the account answer is in */
    uint8_t rep_have_pos;         /* the positions answer is in (rep_pos_ok: usable) */
    uint8_t rep_pos_ok;           /* positions decoded and mapped */
    uint8_t rep_orders_ok;        /* rep_venue_only counts a complete open-orders list */
    uint8_t rep_tries;            /* snapshots taken again because news came meanwhile */
    /* bootstrap */
    int boot_rc;                              /* 1: not run; 0 ok; <0 error */
    uint8_t booting;                          /* bootstrap running on the main thread */
    uint8_t boot_acct, boot_pos;              /* fetched */
    int boot_err;                             /* a definitive error (403, ...) */
    char boot_why[160];                       /* last failure, for the message */
    desk_balance_t bal;                       /* account at bootstrap (then heartbeats) */
    desk_position_t pos[ALP_MAX_POS];         /* positions at bootstrap */
    desk_alpaca_position_t apos[ALP_MAX_POS]; /* GET /v2/positions decode buffer */
    int npos;                                 /* their count (or -ENOSPC) */
    /* the rest */
    int connected;               /* between connect() and disconnect() */
    desk_health_t h_state;       /* last health published */
    char h_why[48];              /* and its reason */
    int h_init;                  /* published once */
    char reqbuf[ALP_REQBUF];     /* serialised request */
    char body[512];              /* request body */
    desk_alpaca_stream_t smsg;   /* decoded stream message */
    struct hold hold[ALP_HOLDS]; /* out-of-order fill updates held back */
    uint32_t nhold;              /* slots in use */
    uint64_t held;               /* updates ever held */
    desk_alpaca_order_t ord;     /* decoded Order */
    uint64_t anomalies;          /* updates that did not fit (logged) */
    uint64_t logged;             /* log lines written about anomalies */
};

/* ---------------------------------------------------------------------- */
/* Small utilities                                                         */
/* ---------------------------------------------------------------------- */

/* Log, but at most a few hundred anomaly lines over the connector's life. */
#define ALP_LOG_BUDGET 400u
#define alog(a, ...)                                                                               \
    do {                                                                                           \
        if ((a)->logged < ALP_LOG_BUDGET) {                                                        \
            (a)->logged++;                                                                         \
            desk_host_log((a)->host, __VA_ARGS__);                                                 \
        }                                                                                          \
    } while (0)

/* The current desk_errmsg(), copied: DESK_ERR() formats into that very
 * buffer, so it must never be passed to DESK_ERR() as an argument. */
static const char *prev_err(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", desk_errmsg());
    return buf;
}

static inline uint64_t umin(uint64_t x, uint64_t y)
{
    return x < y ? x : y;
}

/* The error body's message, for logs ("" if none). */
static const char *err_text(struct alpaca *a, const desk_http_msg_t *m, char *buf, size_t cap)
{
    desk_alpaca_error_t e;

    buf[0] = '\0';
    if (m == NULL || m->body_len == 0)
        return buf;
    if (desk_alpaca_error_decode(a->json, (const char *)m->body, m->body_len, &e) == 0)
        snprintf(buf, cap, "%.*s", (int)(cap - 1), e.message);
    else
        snprintf(buf, cap, "%.*s", (int)(m->body_len < 80 ? m->body_len : 80),
                 (const char *)m->body);
    return buf;
}

/* ---------------------------------------------------------------------- */
/* Events out                                                              */
/* ---------------------------------------------------------------------- */

static void emit(struct alpaca *a, desk_vevent_t *ev)
{
    ev->venue_ns = desk_now_ns();
    a->news++; /* an account snapshot taken across this is retaken */
    if (a->evq_n == 0 && desk_host_emit(a->host, ev) == 0)
        return;
    if (a->evq_n == a->evq_cap) {
        a->anomalies++;
        alog(a, "alpaca: event queue full: an event was lost (a bug)");
        return;
    }
    a->evq[(a->evq_head + a->evq_n) % a->evq_cap] = *ev;
    a->evq_n++;
}

static int evq_drain(struct alpaca *a)
{
    int n = 0;

    while (a->evq_n > 0 && desk_host_emit(a->host, &a->evq[a->evq_head]) == 0) {
        a->evq_head = (a->evq_head + 1) % a->evq_cap;
        a->evq_n--;
        n++;
    }
    return n;
}

static void ev_simple(struct alpaca *a, const struct dord *D, uint8_t type, uint64_t exec_id)
{
    desk_vevent_t ev;

    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.instrument = D->instrument;
    ev.order_id = D->order_id;
    ev.exec_id = exec_id;
    ev.cum_qty = D->cum;
    if (type == DESK_EV_REJECT || type == DESK_EV_CANCEL_REJECT)
        ev.reason = DESK_REJ_VENUE;
    emit(a, &ev);
}

/* ---------------------------------------------------------------------- */
/* Order pools                                                             */
/* ---------------------------------------------------------------------- */

static void work_add(struct alpaca *a, uint32_t i)
{
    struct aord *A = &a->ao[i];

    a->work_dirty = 1;
    if (A->in_work)
        return;
    A->in_work = 1;
    a->work[(a->w_head + a->w_n) % a->na] = i; /* at most na entries: never full */
    a->w_n++;
}

/* Give back a finished desk order's aords (at reuse, see dord_alloc). */
static void dord_release_aords(struct alpaca *a, struct dord *D)
{
    for (uint32_t i = D->chain; i != NONE;) {
        struct aord *A = &a->ao[i];
        uint32_t next = A->chain;
        if (A->clid)
            (void)desk__alpaca_map_del(&a->map, A->clid);
        A->clid = 0;
        A->chain = a->a_free;
        a->a_free = i;
        i = next;
    }
    D->chain = NONE;
}

/* A desk order that is done goes to the tail of the free FIFO. */
static void dord_finish(struct alpaca *a, struct dord *D)
{
    uint32_t di = (uint32_t)(D - a->d);

    if (!D->done)
        return;
    D->next_free = NONE;
    if (a->d_tail == NONE)
        a->d_head = di;
    else
        a->d[a->d_tail].next_free = di;
    a->d_tail = di;
}

static uint32_t dord_alloc(struct alpaca *a)
{
    uint32_t di = a->d_head;

    if (di == NONE)
        return NONE;
    struct dord *D = &a->d[di];
    a->d_head = D->next_free;
    if (a->d_head == NONE)
        a->d_tail = NONE;
    if (D->in_use)
        dord_release_aords(a, D);
    memset(D, 0, sizeof *D);
    D->in_use = 1;
    D->cur = D->repl = D->chain = D->next_free = NONE;
    return di;
}

/* Undo a dord_alloc that found no aord: straight back to the FIFO head. */
static void dord_unalloc(struct alpaca *a, uint32_t di)
{
    struct dord *D = &a->d[di];

    D->in_use = 0;
    D->next_free = a->d_head;
    a->d_head = di;
    if (a->d_tail == NONE)
        a->d_tail = di;
}

static uint32_t aord_alloc(struct alpaca *a, uint32_t di, uint64_t clid)
{
    uint32_t i = a->a_free;

    if (i == NONE)
        return NONE;
    if (desk__alpaca_map_put(&a->map, clid, i) != 0)
        return NONE;
    struct aord *A = &a->ao[i];
    a->a_free = A->chain;
    uint8_t in_work = A->in_work;
    memset(A, 0, sizeof *A);
    A->in_work = in_work; /* its stale worklist entry (if any) now serves it */
    A->clid = clid;
    A->dord = di;
    A->prev = NONE;
    A->chain = a->d[di].chain;
    a->d[di].chain = i;
    return i;
}

/* The aord of a client_order_id string, or NONE (not desk's, or forgotten). */
static uint32_t aord_by_clid_str(struct alpaca *a, const char *s)
{
    uint64_t clid;

    if (desk_alpaca_clid_parse(s, strlen(s), &clid) != 0)
        return NONE;
    return desk__alpaca_map_get(&a->map, clid);
}

/* ---------------------------------------------------------------------- */
/* Applying what the venue says                                            */
/* ---------------------------------------------------------------------- */

static void ack_if_needed(struct alpaca *a, struct dord *D)
{
    if (D->acked || D->done)
        return;
    D->acked = 1;
    ev_simple(a, D, DESK_EV_ACK, 0);
}

static void set_id(struct aord *A, const char *id)
{
    if (A->id[0] == '\0' && id[0] != '\0')
        snprintf(A->id, sizeof A->id, "%s", id);
}

/* Terminal for the desk order (CANCELED, EXPIRED or REJECT). */
static void finish_order(struct alpaca *a, struct dord *D, uint8_t type, uint64_t exec_id)
{
    if (D->done)
        return;
    if (type == DESK_EV_REJECT)
        D->rejected = 1;
    else
        ack_if_needed(a, D);
    ev_simple(a, D, type, exec_id);
    D->done = 1;
    D->cancel_req = 0; /* a CANCELED/REJECT answers a pending cancel too */
    a->ao[D->cur].cx = CX_NONE;
    a->ao[D->cur].st = AS_FINAL;
    if (D->repl != NONE) {
        a->ao[D->repl].st = AS_FINAL;
        D->repl = NONE;
    }
    dord_finish(a, D);
}

/* A cancel request of D is refused (or lost the race): answer it once. */
static void cancel_reject(struct alpaca *a, struct dord *D)
{
    if (!D->cancel_req)
        return;
    D->cancel_req = 0;
    if (D->cur != NONE)
        a->ao[D->cur].cx = CX_NONE;
    ev_simple(a, D, DESK_EV_CANCEL_REJECT, 0);
}

/* The replace in progress did not happen. */
static void replace_refused(struct alpaca *a, struct dord *D, uint32_t ri)
{
    a->ao[ri].st = AS_FINAL;
    if (D->repl != ri)
        return;
    D->repl = NONE;
    if (!D->done)
        ev_simple(a, D, DESK_EV_CANCEL_REJECT, 0);
}

/* The replace in progress happened: the replacement stands for D now. */
static void replace_done(struct alpaca *a, struct dord *D, uint32_t ri, const char *new_id)
{
    struct aord *R = &a->ao[ri];

    if (new_id)
        set_id(R, new_id);
    if (D->repl != ri || D->done)
        return;
    ack_if_needed(a, D);
    uint32_t old = D->cur;
    D->qty = R->new_qty;
    D->px = R->new_px;
    D->cur = ri;
    D->repl = NONE;
    a->ao[old].st = AS_FINAL;
    if (R->id[0]) {
        R->st = AS_LIVE;
    } else {
        R->st = AS_LIVE;
        R->need_get = 1; /* learn its id */
        work_add(a, ri);
    }
    ev_simple(a, D, DESK_EV_REPLACED,
              desk_alpaca_exec_id(a->ao[old].id, DESK_ALPACA_EV_REPLACED, a->ao[old].filled));
}

/* An update (stream, or a snapshot made from an Order) for Alpaca order i. */
static void apply_update(struct alpaca *a, uint32_t i, const desk_alpaca_update_t *u)
{
    struct aord *A = &a->ao[i];
    struct dord *D = &a->d[A->dord];
    const desk_alpaca_order_t *o = &u->order;
    int final = desk_alpaca_status_is_final(o->status);
    int rejected = o->status == DESK_ALPACA_ST_REJECTED;

    set_id(A, o->id);
    if (A->st != AS_FINAL) /* the venue has it (or had it), whatever we were doing */
        A->st = final || rejected ? AS_FINAL : AS_LIVE;

    if (D->done) {
        if (D->rejected && !final && !rejected && A->cx == CX_NONE) {
            /* desk said REJECT (settled by 404 after max_attempts) but the
             * venue has it after all: cancel it, and say so loudly. */
            a->anomalies++;
            alog(a,
                 "alpaca: order %s (%s) exists at the venue although desk rejected it: "
                 "cancelling it",
                 o->client_order_id, o->id);
            A->st = AS_LIVE;
            A->cx = CX_WANT;
            work_add(a, i);
        }
        if (D->rejected && o->filled_qty > A->filled) {
            a->anomalies++;
            alog(a, "alpaca: fill of %s after desk rejected it: position break",
                 o->client_order_id);
            A->filled = o->filled_qty;
        }
        return;
    }
    /* A replacement that exists at the venue means the replace happened. */
    if (A->is_repl && D->repl == i) {
        if (rejected) {
            replace_refused(a, D, i);
            return;
        }
        replace_done(a, D, i, o->id);
    }

    desk_vevent_t ev[2];
    int n = desk_alpaca_update_to_vevents(u, A->filled, A->avg, ev);
    if (n < 0) {
        a->anomalies++;
        alog(a, "alpaca: update '%s' for %s does not fit (%s): ignored",
             desk_alpaca_event_name(u->event), o->client_order_id, strerror(-n));
        return;
    }
    for (int k = 0; k < n && !D->done; k++) {
        desk_vevent_t *e = &ev[k];
        e->order_id = D->order_id;
        e->instrument = D->instrument;
        switch (e->type) {
        case DESK_EV_ACK:
            if (!A->is_repl)
                ack_if_needed(a, D);
            break;
        case DESK_EV_FILL:
            A->filled = o->filled_qty;
            A->avg = o->filled_avg_price;
            if (e->last_qty > D->qty - D->cum) {
                a->anomalies++;
                alog(a, "alpaca: fill of %s for %s exceeds what desk has open: not applied",
                     o->client_order_id, o->id);
                break;
            }
            ack_if_needed(a, D);
            D->cum += e->last_qty;
            e->cum_qty = D->cum;
            emit(a, e);
            if (D->cum == D->qty) {
                D->done = 1; /* FILLED */
                a->ao[D->cur].st = AS_FINAL;
                if (D->repl != NONE) {
                    a->ao[D->repl].st = AS_FINAL;
                    D->repl = NONE; /* the router refuses a replace of a filled order */
                }
                if (D->cancel_req)
                    work_add(a, D->cur); /* answer it once the DELETE settles */
                dord_finish(a, D);
            }
            break;
        case DESK_EV_CANCELED:
        case DESK_EV_EXPIRED:
            if (i != D->cur)
                break; /* an older Alpaca order of the chain */
            finish_order(a, D, e->type, e->exec_id);
            break;
        case DESK_EV_REPLACED:
            A->st = AS_FINAL;
            if (D->repl != NONE && i == D->cur) {
                replace_done(a, D, D->repl, o->replaced_by[0] ? o->replaced_by : NULL);
            } else if (i == D->cur) {
                /* Replaced by someone else (the dashboard): desk cannot follow. */
                a->anomalies++;
                alog(a, "alpaca: order %s was replaced outside desk: treated as canceled",
                     o->client_order_id);
                finish_order(a, D, DESK_EV_CANCELED, e->exec_id);
            }
            break;
        case DESK_EV_REJECT:
            if (A->is_repl)
                replace_refused(a, D, i);
            else if (!D->acked)
                finish_order(a, D, DESK_EV_REJECT, e->exec_id);
            else {
                a->anomalies++;
                alog(a, "alpaca: order %s rejected after it was accepted: ignored",
                     o->client_order_id);
            }
            break;
        case DESK_EV_CANCEL_REJECT:
            if (u->event == DESK_ALPACA_EV_ORDER_REPLACE_REJECTED && D->repl != NONE)
                replace_refused(a, D, D->repl);
            else if (D->cancel_req && A->cx != CX_INFLIGHT)
                cancel_reject(a, D);
            break;
        default:
            break;
        }
    }
}

/* The event an Order snapshot (REST) stands for, as if it came on the stream. */
static void snapshot_update(const desk_alpaca_order_t *o, desk_alpaca_update_t *u)
{
    memset(u, 0, offsetof(desk_alpaca_update_t, order));
    u->order = *o;
    switch (o->status) {
    case DESK_ALPACA_ST_FILLED:
        u->event = DESK_ALPACA_EV_FILL;
        break;
    case DESK_ALPACA_ST_CANCELED:
        u->event = DESK_ALPACA_EV_CANCELED;
        break;
    case DESK_ALPACA_ST_EXPIRED:
        u->event = DESK_ALPACA_EV_EXPIRED;
        break;
    case DESK_ALPACA_ST_DONE_FOR_DAY:
        u->event = DESK_ALPACA_EV_DONE_FOR_DAY;
        break;
    case DESK_ALPACA_ST_REPLACED:
        u->event = DESK_ALPACA_EV_REPLACED;
        break;
    case DESK_ALPACA_ST_REJECTED:
        u->event = DESK_ALPACA_EV_REJECTED;
        break;
    default: /* open in one form or another */
        u->event = o->filled_qty > 0 ? DESK_ALPACA_EV_PARTIAL_FILL : DESK_ALPACA_EV_NEW;
        break;
    }
}

/* ---- out-of-order fills (stream only) ----
 *
 * Fills are derived from order.filled_qty, so a fill update that arrives
 * before an earlier one of the same order (the stream reordered them) would
 * cover both executions with one price implied by filled_avg_price, which
 * the venue rounds.  Such an update (data.qty below the filled_qty delta)
 * is held for up to ALP_HOLD_NS: when the missing update comes, it applies
 * first and the held one then has its own exact data.price.  Any other
 * update of the order, a snapshot, or the deadline releases the hold.
 */
static int hold_find(const struct alpaca *a, uint32_t i)
{
    for (uint32_t k = 0; k < ALP_HOLDS; k++)
        if (a->hold[k].aord == i && a->ao[i].clid == a->hold[k].clid)
            return (int)k;
    return -1;
}

static void hold_release(struct alpaca *a, int k)
{
    struct hold *h = &a->hold[k];
    uint32_t i = h->aord;
    int live = a->ao[i].clid == h->clid;

    h->aord = NONE;
    a->nhold--;
    if (live)
        apply_update(a, i, &h->u);
}

/* 1 if u is a fill that skips an execution desk has not seen. */
static int has_gap(const struct aord *A, const desk_alpaca_update_t *u)
{
    if (u->event != DESK_ALPACA_EV_FILL && u->event != DESK_ALPACA_EV_PARTIAL_FILL)
        return 0;
    return (u->flags & DESK_ALPACA_UP_QTY) && u->order.filled_qty - A->filled > u->qty;
}

static void hold_expire(struct alpaca *a, uint64_t now)
{
    for (uint32_t k = 0; k < ALP_HOLDS && a->nhold; k++)
        if (a->hold[k].aord != NONE && now >= a->hold[k].until_ns)
            hold_release(a, (int)k);
}

static void apply_order(struct alpaca *a, uint32_t i, const desk_alpaca_order_t *o)
{
    desk_alpaca_update_t u;
    int k = hold_find(a, i);

    if (k >= 0)
        hold_release(a, k);
    snapshot_update(o, &u);
    apply_update(a, i, &u);
}

/* ---- recovery (DESK_CMD_RECOVER) ----
 *
 * After a crash deskd hands over every order its journal says is live (and
 * every order that ended with the venue reporting more filled than deskd
 * saw) as DESK_CMD_RECOVER: order id, venue ClOrdID (cl_ord_id), a cancel
 * or replace in flight (orig_cl_ord_id), total qty.  Not its cum qty: the
 * connector states what the venue has filled as a CATCHUP fill (the venue's
 * total) and the router fills the part it missed.  Each client_order_id is
 * asked with GET /v2/orders:by_client_order_id, never guessed; once the
 * order's answers are in (both, with a request in flight), recover_settle()
 * emits the venue's facts and the order goes on as any other.
 */

/* The Order a recovered aord's answer described (the fields desk keeps). */
static void rec_order(const struct aord *A, desk_alpaca_order_t *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->id, sizeof o->id, "%s", A->id);
    o->status = A->v_status;
    o->flags = A->v_flags;
    o->qty = A->v_qty;
    o->filled_qty = A->filled;
    o->filled_avg_price = A->avg;
}

/* Aord A leaves recovery for state st. */
static void rec_leave(struct alpaca *a, struct aord *A, uint8_t st)
{
    if (A->st == AS_RECOVER && !A->rec_late && a->nrecover > 0)
        a->nrecover--;
    A->st = st;
    A->rec = REC_NONE;
    A->rec_late = 0;
}

/* Aord A stops holding the connector DOWN: still asked, not counted. */
static void rec_uncount(struct alpaca *a, struct aord *A)
{
    if (A->st == AS_RECOVER && !A->rec_late && a->nrecover > 0)
        a->nrecover--;
    A->rec_late = 1;
}

/*
 * D's request in flight is still pending at the venue: ask about both
 * orders again after a backoff.  Never a guess: past ALP_REC_LATE_NS the
 * order stays pending (asked every ALP_REC_MAX_NS until the venue
 * settles), but no longer keeps the connector from coming UP.
 */
static void rec_ask_again(struct alpaca *a, struct dord *D, uint64_t now)
{
    struct aord *A = &a->ao[D->cur], *R = &a->ao[D->repl];

    if (A->rec_tries == 0)
        A->rec_t0_ns = now;
    uint64_t at = now + desk__alpaca_rec_backoff_ns(A->rec_tries);
    if (A->rec_tries < UINT8_MAX)
        A->rec_tries++;
    if (!A->rec_late && now - A->rec_t0_ns >= ALP_REC_LATE_NS) {
        a->anomalies++;
        alog(a,
             "alpaca: recovery: ALERT d%llu: its request d%llu is still pending at the venue "
             "(%s / %s) after %llu s: left pending, still asked, connector no longer waits",
             (unsigned long long)A->clid, (unsigned long long)R->clid,
             desk_alpaca_status_name(A->v_status),
             R->rec == REC_FOUND ? desk_alpaca_status_name(R->v_status) : "not found",
             (unsigned long long)((now - A->rec_t0_ns) / 1000000000ull));
        rec_uncount(a, A);
        rec_uncount(a, R);
    }
    A->rec = R->rec = REC_ASKING;
    A->not_before_ns = R->not_before_ns = at;
    work_add(a, D->cur);
    work_add(a, D->repl);
}

/* Emit the recovery events of aord i (see desk_alpaca_recover_vevents).
 * Returns the venue's filled qty for D so far (chain + this order's). */
static int64_t rec_emit(struct alpaca *a, struct dord *D, uint32_t i, int64_t chain, int want_ack)
{
    desk_alpaca_order_t o;
    desk_vevent_t ev[2];

    rec_order(&a->ao[i], &o);
    int n = desk_alpaca_recover_vevents(&o, chain, want_ack, ev);
    if (n < 0) {
        a->anomalies++;
        alog(a, "alpaca: recovery: d%llu (%s): the venue's order does not fit (%s)",
             (unsigned long long)a->ao[i].clid, o.id, strerror(-n));
        return chain;
    }
    for (int k = 0; k < n; k++) {
        ev[k].order_id = D->order_id;
        ev[k].instrument = D->instrument;
        emit(a, &ev[k]);
    }
    return chain + o.filled_qty;
}

/*
 * Both answers about D are in (D->cur, and D->repl for a request in flight
 * at the crash): tell the router what the venue has.
 *   cur 404            -> REJECT: the POST never reached the venue.
 *   cur replaced, repl found (not rejected)
 *                      -> its fills, REPLACED, then the replacement's.
 *   cur found, repl 404 or rejected
 *                      -> its facts, then CANCEL_REJECT for the request if
 *                         the order is still open or filled (a cancel, or a
 *                         replace that never landed); a canceled order's
 *                         CANCELED answers it.
 *   cur pending_replace or pending_cancel, or cur open with repl found and
 *                      not final: the request is pending at the venue: ask
 *                         both again (rec_ask_again: backoff, never a guess).
 *   cur replaced with no replacement of desk's: replaced outside desk ->
 *                         CANCELED.
 */
static void recover_settle(struct alpaca *a, struct dord *D, uint64_t now)
{
    uint32_t ci = D->cur, ri = D->repl;
    struct aord *A = &a->ao[ci], *R = ri != NONE ? &a->ao[ri] : NULL;

    if (A->rec == REC_ASKING || (R && R->rec == REC_ASKING))
        return; /* the other answer is still to come */
    int r_live = R && R->rec == REC_FOUND && R->v_status != DESK_ALPACA_ST_REJECTED;
    if (R && A->rec == REC_FOUND &&
        desk__alpaca_rec_pending(A->v_status, R->rec == REC_FOUND, R->v_status)) {
        rec_ask_again(a, D, now); /* no outcome yet: settling now would guess */
        return;
    }
    if (A->rec == REC_GONE) {
        alog(a, "alpaca: recovery: d%llu is not at the venue: REJECT (it never reached it)",
             (unsigned long long)A->clid);
        rec_leave(a, A, AS_FINAL);
        if (R)
            rec_leave(a, R, AS_FINAL);
        finish_order(a, D, DESK_EV_REJECT, 0);
        return;
    }
    D->acked = 1; /* the events below say it was live */
    desk_alpaca_order_t o;
    rec_order(A, &o);
    int64_t chain = desk_alpaca_chain_cum(D->qty, &o);
    if (chain < 0) {
        a->anomalies++;
        alog(a, "alpaca: recovery: d%llu: venue qty above desk's: taken as never replaced",
             (unsigned long long)A->clid);
        chain = 0;
    }
    D->cum = rec_emit(a, D, ci, chain, 1);
    rec_leave(a, A, AS_LIVE);
    if (A->v_status == DESK_ALPACA_ST_REPLACED && r_live) {
        /* The replace happened while deskd was down (or its answer was lost). */
        D->qty = D->cum + R->v_qty;
        D->cur = ri;
        D->repl = NONE;
        A->st = AS_FINAL;
        ev_simple(a, D, DESK_EV_REPLACED,
                  desk_alpaca_exec_id(A->id, DESK_ALPACA_EV_REPLACED, A->filled));
        D->cum = rec_emit(a, D, ri, D->cum, 0);
        rec_leave(a, R, AS_LIVE);
        R = NULL;
    } else if (R) {
        rec_leave(a, R, AS_FINAL);
        D->repl = NONE;
        if (A->v_status != DESK_ALPACA_ST_CANCELED && A->v_status != DESK_ALPACA_ST_EXPIRED &&
            A->v_status != DESK_ALPACA_ST_DONE_FOR_DAY && A->v_status != DESK_ALPACA_ST_REJECTED &&
            A->v_status != DESK_ALPACA_ST_REPLACED)
            ev_simple(a, D, DESK_EV_CANCEL_REJECT, 0); /* the request did not happen */
    }
    struct aord *C = &a->ao[D->cur];
    if (C->v_status == DESK_ALPACA_ST_REPLACED) {
        a->anomalies++;
        alog(a, "alpaca: recovery: d%llu was replaced outside desk: treated as canceled",
             (unsigned long long)C->clid);
        finish_order(a, D, DESK_EV_CANCELED, 0);
    } else if (desk_alpaca_status_is_final(C->v_status)) {
        D->done = 1;
        C->st = AS_FINAL;
        dord_finish(a, D);
    }
    alog(a, "alpaca: recovery: d%llu settled: %s at the venue, filled %lld.%08lld of %lld.%08lld",
         (unsigned long long)C->clid, desk_alpaca_status_name(C->v_status),
         (long long)(D->cum / DESK_SCALE), (long long)(D->cum % DESK_SCALE),
         (long long)(D->qty / DESK_SCALE), (long long)(D->qty % DESK_SCALE));
    work_add(a, D->cur); /* a cancel asked meanwhile, or updates that came (need_get) */
}

/* The answer to a recovered aord's GET: o is the Order, or NULL for 404. */
static void recover_answer(struct alpaca *a, uint32_t i, const desk_alpaca_order_t *o, uint64_t now)
{
    struct aord *A = &a->ao[i];

    A->rec = o ? REC_FOUND : REC_GONE;
    if (o) {
        set_id(A, o->id);
        A->filled = o->filled_qty;
        A->avg = o->filled_avg_price;
        A->v_qty = o->qty;
        A->v_status = o->status;
        A->v_flags = o->flags;
    }
    recover_settle(a, &a->d[A->dord], now);
}

/* ---------------------------------------------------------------------- */
/* Endpoints: connections, requests, answers                               */
/* ---------------------------------------------------------------------- */

static void answer(struct alpaca *a, struct ep *ep, const struct inflight *f, int status,
                   const desk_http_msg_t *m, const char *why, uint64_t now);

static void ep_on_open(desk_conn_t *c, void *ctx)
{
    struct epconn *cc = ctx;
    struct ep *ep = cc->ep;

    (void)c;
    ep->was_open[cc->i] = 1;
    desk_http_resp_reset(ep->resp[cc->i]);
    (void)desk_http_pool_up(&ep->pool, cc->i);
    ep->a->work_dirty = 1;
}

/* A request ended without an answer (timeout, lost connection). */
static void lost(struct ep *ep, uint32_t i, const char *why, uint64_t now)
{
    struct inflight f = ep->fl[i];

    ep->fl[i].kind = K_NONE;
    if (f.kind != K_NONE)
        answer(ep->a, ep, &f, 0, NULL, why, now);
}

static void ep_on_data(desk_conn_t *c, const uint8_t *data, size_t len, void *ctx)
{
    struct epconn *cc = ctx;
    struct ep *ep = cc->ep;
    struct alpaca *a = ep->a;
    uint32_t i = cc->i;
    uint64_t now = a->booting ? desk_now_ns() : desk_loop_now(&a->loop);
    size_t off = 0;

    while (off < len) {
        size_t used = 0;
        int rc = desk_http_resp_feed(ep->resp[i], data + off, len - off, &used);
        off += used;
        if (rc < 0 || (rc == 1 && ep->slot[i].state != DESK_HTTP_SLOT_BUSY)) {
            /* Bad bytes, or an answer nobody asked for: drop the connection. */
            char why[64];
            snprintf(why, sizeof why, "%s reply: %s", rc < 0 ? "malformed HTTP" : "unexpected",
                     rc < 0 ? strerror(-rc) : "no request in flight");
            int busy = desk_http_pool_down(&ep->pool, i, NULL) == 1;
            desk_conn_close(c);
            if (busy)
                lost(ep, i, why, now);
            return;
        }
        if (rc == 0)
            break;
        const desk_http_msg_t *m = desk_http_resp_msg(ep->resp[i]);
        struct inflight f = ep->fl[i];
        ep->fl[i].kind = K_NONE;
        if (m->keep_alive) {
            (void)desk_http_pool_release(&ep->pool, i, NULL);
        } else {
            (void)desk_http_pool_down(&ep->pool, i, NULL);
            desk_conn_close(c);
        }
        a->work_dirty = 1;
        answer(a, ep, &f, m->status, m, NULL, now);
        if (!m->keep_alive)
            return;
    }
}

static void ep_on_close(desk_conn_t *c, int err, const char *why, void *ctx)
{
    struct epconn *cc = ctx;
    struct ep *ep = cc->ep;
    struct alpaca *a = ep->a;
    uint32_t i = cc->i;
    uint64_t now = a->booting ? desk_now_ns() : desk_loop_now(&a->loop);
    int was_open = ep->was_open[i];

    ep->was_open[i] = 0;
    desk_http_resp_reset(ep->resp[i]);
    int busy = desk_http_pool_down(&ep->pool, i, NULL) == 1;
    if (a->booting)
        snprintf(a->boot_why, sizeof a->boot_why, "%s", why);
    if (busy) {
        lost(ep, i, why, now);
    } else if (!was_open && err != 0 && a->connected) {
        /* The connect (or TLS handshake) failed: the venue is unreachable. */
        ep->fails++;
        if (ep->health && ep->fails <= 3)
            alog(a, "alpaca: %s connection: %s", ep->what, why);
        desk_breaker_failure(ep->br, now, "cannot connect");
    }
    (void)c;
    a->work_dirty = 1;
}

static const desk_conn_cb_t ep_cb = {
    .on_open = ep_on_open,
    .on_data = ep_on_data,
    .on_close = ep_on_close,
};

static DESK_COLD int ep_init(struct alpaca *a, struct ep *ep, const char *what, const char *host,
                             uint16_t port, uint32_t n, uint64_t max_body)
{
    char eb[256];

    ep->a = a;
    ep->what = what;
    snprintf(ep->host, sizeof ep->host, "%s", host);
    ep->port = port;
    if (port == 443)
        snprintf(ep->hosthdr, sizeof ep->hosthdr, "%s", host);
    else if (strchr(host, ':'))
        snprintf(ep->hosthdr, sizeof ep->hosthdr, "[%s]:%u", host, (unsigned)port);
    else
        snprintf(ep->hosthdr, sizeof ep->hosthdr, "%s:%u", host, (unsigned)port);
    ep->n = n;
    if (desk_http_pool_init(&ep->pool, ep->slot, n) != 0)
        return DESK_ERR(-EINVAL, "alpaca: bad pool size %u", n);
    desk_http_limits_t lim = {.max_headers = 64, .max_header_bytes = 8192, .max_body = max_body};
    desk_conn_cfg_t cc = {
        .host = host,
        .port = port,
        .tls = &a->tls,
        .connect_timeout_ns = a->o.connect_timeout_ns,
        .backoff_base_ns = a->o.reconnect_ns,
        .backoff_max_ns = a->o.reconnect_max_ns,
    };
    for (uint32_t i = 0; i < n; i++) {
        int rc = desk_http_resp_create(&ep->resp[i], &lim);
        if (rc < 0)
            return DESK_ERR(rc, "alpaca: no memory for the HTTP parser");
        ep->cc[i].ep = ep;
        ep->cc[i].i = i;
        rc = desk_conn_init(&ep->conn[i], &a->loop, &cc, &ep_cb, &ep->cc[i]);
        if (rc < 0)
            return DESK_ERR(rc, "connector '%s': %s endpoint https://%s:%u: %s", a->name, what,
                            host, (unsigned)port, prev_err(eb, sizeof eb));
        ep->ninit = i + 1;
    }
    return 0;
}

/* Open every connection that is idle (first time, or after we closed it). */
static void ep_open(struct ep *ep, uint32_t upto)
{
    for (uint32_t i = 0; i < ep->ninit && i < upto; i++)
        if (desk_conn_state(&ep->conn[i]) == DESK_CONN_IDLE)
            (void)desk_conn_open(&ep->conn[i]); /* -EBUSY: next poll */
}

/* Requests past their deadline: close their connections. */
static void ep_expire(struct ep *ep, uint64_t now)
{
    desk_http_expired_t x[ALP_MAX_POOL];
    int n = desk_http_pool_expired(&ep->pool, (int64_t)now, x, ALP_MAX_POOL);

    for (int k = 0; k < n; k++) {
        desk_conn_close(&ep->conn[x[k].slot]);
        lost(ep, x[k].slot, "request timed out", now);
    }
}

static int ep_has_idle(const struct ep *ep)
{
    for (uint32_t i = 0; i < ep->ninit; i++)
        if (ep->slot[i].state == DESK_HTTP_SLOT_IDLE &&
            desk_conn_state(&ep->conn[i]) == DESK_CONN_OPEN)
            return 1;
    return 0;
}

/*
 * Send one request on an idle connection of ep.  Returns 0 (sent), or
 * -EAGAIN with *wait_ns (when to try again) if a connection, the rate
 * limiter or the breaker does not allow it now, or -EINVAL if the request
 * cannot be written (never sent).
 */
static int ep_send(struct alpaca *a, struct ep *ep, uint8_t kind, uint32_t ref, uint64_t clid,
                   const char *method, const char *path, const char *query, const char *body,
                   size_t blen, uint64_t now, uint64_t *wait_ns)
{
    *wait_ns = 0;
    if (!ep_has_idle(ep)) {
        *wait_ns = 5 * MS; /* an answer or a connection frees one (work_dirty) */
        return -EAGAIN;
    }
    uint64_t w = desk_ratelimit_wait_ns(ep->rl, now);
    if (w > 0) {
        *wait_ns = w;
        return -EAGAIN;
    }
    if (!a->booting && !desk_breaker_allow(ep->br, now)) {
        *wait_ns = 10 * MS;
        return -EAGAIN;
    }
    int s = desk_http_pool_acquire(&ep->pool, now, (int64_t)now, (int64_t)a->o.request_timeout_ns);
    if (s < 0) {
        if (!a->booting)
            desk_breaker_release(ep->br); /* nothing went out: hand the grant back */
        *wait_ns = 5 * MS;
        return -EAGAIN;
    }
    (void)desk_ratelimit_take(ep->rl, now);
    desk_http_header_t h[3] = {
        {"APCA-API-KEY-ID", 15, a->o.key_id, strlen(a->o.key_id)},
        {"APCA-API-SECRET-KEY", 19, a->o.secret, strlen(a->o.secret)},
        {"Content-Type", 12, "application/json", 16},
    };
    desk_http_req_t rq = {
        .method = method,
        .host = ep->hosthdr,
        .path = path,
        .query = query,
        .headers = h,
        .nheaders = body ? 3 : 2,
        .body = body,
        .body_len = blen,
    };
    int n = desk_http_req_write(&rq, a->reqbuf, sizeof a->reqbuf);
    int rc = n > 0 ? desk_conn_send(&ep->conn[s], a->reqbuf, (size_t)n) : n;
    if (rc < 0) {
        (void)desk_http_pool_down(&ep->pool, (unsigned)s, NULL);
        desk_conn_close(&ep->conn[s]);
        if (!a->booting)
            desk_breaker_failure(ep->br, now, "send failed");
        alog(a, "alpaca: %s %s%s%s: cannot send: %s", method, path, query ? "?" : "",
             query ? query : "", strerror(-rc));
        *wait_ns = 5 * MS;
        return n > 0 ? -EAGAIN : -EINVAL;
    }
    ep->fl[s].kind = kind;
    ep->fl[s].ref = ref;
    ep->fl[s].clid = clid;
    return 0;
}

/* Count an answer into the endpoint's breaker and rate limiter.  `usable`:
 * a 2xx whose body we could read (or one without a body we need). */
static void account_answer(struct alpaca *a, struct ep *ep, int status, int usable,
                           const desk_http_msg_t *m, const char *why, uint64_t now)
{
    char r[48];

    if (a->booting)
        return;
    if (status == 429 || status == 418) {
        int64_t ra = 0;
        if (m == NULL || desk_http_msg_header_i64(m, "Retry-After", &ra) != 0 || ra < 0)
            ra = 0;
        desk_ratelimit_backoff(ep->rl, (uint32_t)(ra > 3600 ? 3600 : ra), now);
        return;
    }
    if ((status >= 200 && status < 300 && usable) || (status >= 400 && status < 500)) {
        desk_breaker_success(ep->br, now);
        return;
    }
    ep->fails++;
    if (status == 0)
        snprintf(r, sizeof r, "%.47s", why ? why : "no answer");
    else if (status >= 200 && status < 300)
        snprintf(r, sizeof r, "unreadable reply (HTTP %d)", status);
    else
        snprintf(r, sizeof r, "HTTP %d", status);
    desk_breaker_failure(ep->br, now, r);
}

/* ---- per-request answers ---- */

static int decode_order(struct alpaca *a, const desk_http_msg_t *m, uint64_t want_clid)
{
    uint64_t clid;

    if (m == NULL || m->body_len == 0 ||
        desk_alpaca_order_decode(a->json, (const char *)m->body, m->body_len, &a->ord) != 0)
        return 0;
    if (desk_alpaca_clid_parse(a->ord.client_order_id, strlen(a->ord.client_order_id), &clid) !=
            0 ||
        clid != want_clid)
        return 0;
    return 1;
}

static void on_post_or_patch(struct alpaca *a, struct ep *ep, uint32_t i, int is_patch, int status,
                             const desk_http_msg_t *m, const char *why, uint64_t now)
{
    struct aord *A = &a->ao[i];
    struct dord *D = &a->d[A->dord];
    int ok = status >= 200 && status < 300 && decode_order(a, m, A->clid);
    desk__alpaca_outcome_t out = desk__alpaca_classify(status, ok, 0);
    char msg[160];

    account_answer(a, ep, status, ok, m, why, now);
    A->busy = 0;
    if (A->st == AS_LIVE || A->st == AS_FINAL) {
        /* The stream told us first.  A usable body still carries news. */
        if (ok)
            apply_order(a, i, &a->ord);
        work_add(a, i);
        return;
    }
    switch (desk__alpaca_next(out, A->attempts, a->o.max_attempts)) {
    case DESK__ALP_LIVE:
        A->st = AS_LIVE;
        set_id(A, a->ord.id);
        if (is_patch)
            replace_done(a, D, i, a->ord.id);
        else
            ack_if_needed(a, D);
        apply_order(a, i, &a->ord);
        break;
    case DESK__ALP_REJECT:
        alog(a, "alpaca: %s d%llu refused: HTTP %d %s", is_patch ? "replace" : "order",
             (unsigned long long)A->clid, status, err_text(a, m, msg, sizeof msg));
        if (is_patch)
            replace_refused(a, D, i);
        else {
            A->st = AS_FINAL;
            finish_order(a, D, DESK_EV_REJECT, 0);
        }
        break;
    case DESK__ALP_RESEND:
        A->st = AS_QUEUED;
        A->not_before_ns = now + (status == 429 ? 0 : ALP_RETRY_NS);
        break;
    case DESK__ALP_SETTLE:
    default:
        if (status == 0 || status >= 500 || !ok)
            alog(a, "alpaca: %s d%llu: outcome unknown (%s%s): asking the venue",
                 is_patch ? "replace" : "order", (unsigned long long)A->clid, status ? "HTTP " : "",
                 status ? (status >= 500 ? "5xx" : "unreadable") : why);
        A->st = AS_UNCERTAIN;
        A->not_before_ns = now + ALP_RETRY_NS;
        break;
    }
    work_add(a, i);
}

static void on_delete(struct alpaca *a, struct ep *ep, uint32_t i, int status,
                      const desk_http_msg_t *m, const char *why, uint64_t now)
{
    struct aord *A = &a->ao[i];

    account_answer(a, ep, status, 1, m, why, now);
    A->busy = 0;
    if (A->cx != CX_INFLIGHT) {
        work_add(a, i);
        return; /* settled meanwhile (the "canceled" update came first) */
    }
    if (status >= 200 && status < 300) {
        A->cx = CX_SENT;
        A->not_before_ns = now + ALP_CANCEL_CHECK_NS;
    } else if (status == 429) {
        A->cx = CX_WANT;
    } else {
        A->cx = CX_CHECK; /* 404/422/5xx/no answer: ask what the order is */
        A->not_before_ns = now + (status >= 400 && status < 500 ? 0 : ALP_RETRY_NS);
    }
    work_add(a, i);
}

static void on_get_clid(struct alpaca *a, struct ep *ep, uint32_t i, int status,
                        const desk_http_msg_t *m, const char *why, uint64_t now)
{
    struct aord *A = &a->ao[i];
    struct dord *D = &a->d[A->dord];
    int ok = status == 200 && decode_order(a, m, A->clid);
    desk__alpaca_outcome_t out = desk__alpaca_classify(status, ok, 1);

    account_answer(a, ep, status, ok || status == 404, m, why, now);
    A->busy = 0;
    if (out != DESK__ALP_FOUND && out != DESK__ALP_NOT_FOUND) {
        A->not_before_ns = now + ALP_RETRY_NS; /* no answer: ask again */
        work_add(a, i);
        return;
    }
    if (A->st == AS_RECOVER) {
        recover_answer(a, i, out == DESK__ALP_FOUND ? &a->ord : NULL, now);
        return;
    }
    if (A->st == AS_UNCERTAIN) {
        switch (desk__alpaca_next(out, A->attempts, a->o.max_attempts)) {
        case DESK__ALP_LIVE:
            alog(a, "alpaca: d%llu settled: the venue has it (%s)", (unsigned long long)A->clid,
                 desk_alpaca_status_name(a->ord.status));
            A->st = AS_LIVE;
            set_id(A, a->ord.id);
            if (A->is_repl)
                replace_done(a, D, i, a->ord.id);
            apply_order(a, i, &a->ord);
            break;
        case DESK__ALP_RESEND:
            alog(a, "alpaca: d%llu settled: not at the venue: sending it again",
                 (unsigned long long)A->clid);
            A->st = AS_QUEUED;
            A->not_before_ns = now;
            break;
        case DESK__ALP_REJECT:
        default:
            alog(a, "alpaca: d%llu settled: not at the venue after %u attempts: rejected",
                 (unsigned long long)A->clid, (unsigned)A->attempts);
            if (A->is_repl)
                replace_refused(a, D, i);
            else {
                A->st = AS_FINAL;
                finish_order(a, D, DESK_EV_REJECT, 0);
            }
            break;
        }
        work_add(a, i);
        return;
    }
    A->need_get = 0;
    if (out == DESK__ALP_FOUND) {
        apply_order(a, i, &a->ord);
    } else if (A->st == AS_LIVE) {
        a->anomalies++;
        alog(a, "alpaca: d%llu (%s) is unknown to the venue although it was live",
             (unsigned long long)A->clid, A->id);
    }
    if (A->cx == CX_CHECK || A->cx == CX_SENT) {
        if (D->done)
            cancel_reject(a, D); /* no-op when it ended canceled */
        else if (A->cx_attempts < a->o.max_attempts && A->st == AS_LIVE)
            A->cx = CX_WANT;
        else
            cancel_reject(a, D);
    }
    work_add(a, i);
}

static void rep_retry(struct alpaca *a, uint64_t now);

/*
 * GET /v2/orders?status=open: after a stream (re)start (ref REF_PLAIN, the
 * reconciliation that health waits for) or for an account report
 * (REF_REPORT).  Either way the snapshots are applied (fills missed on the
 * stream come back), live orders missing from the list are asked about, and
 * the open orders that map to no desk order are counted for the report.
 */
static void on_orders(struct alpaca *a, struct ep *ep, uint32_t ref, int status,
                      const desk_http_msg_t *m, const char *why, uint64_t now)
{
    int n = -1;
    uint32_t foreign = 0;

    if (status == 200 && m)
        n = desk_alpaca_orders_decode(a->json, (const char *)m->body, m->body_len, a->olist,
                                      ALP_OLIST);
    account_answer(a, ep, status, n >= 0, m, why, now);
    if (ref == REF_REPORT && a->rep_phase == RP_ORDERS && n < 0 && n != -ENOSPC) {
        rep_retry(a, now);
        return;
    }
    if (ref == REF_PLAIN)
        a->recon_busy = 0;
    if (n < 0) {
        if (n == -ENOSPC)
            n = (int)ALP_OLIST; /* cannot happen with limit=500; GETs cover the rest */
        else
            return; /* recon_want stays: asked again */
    }
    uint32_t epoch = ++a->epoch;
    for (int k = 0; k < n && k < (int)ALP_OLIST; k++) {
        uint32_t i = aord_by_clid_str(a, a->olist[k].client_order_id);
        if (i == NONE) {
            foreign++; /* placed by someone else, or an order desk forgot */
            continue;
        }
        a->ao[i].epoch = epoch;
        if (a->ao[i].st == AS_RECOVER) {
            a->ao[i].need_get = 1; /* settled by its own GET, then refreshed */
            continue;
        }
        apply_order(a, i, &a->olist[k]);
    }
    /* A full page may hide more: the count is then not the venue's. */
    a->rep_orders_ok = n < (int)ALP_OLIST;
    a->rep_venue_only = foreign;
    if (a->rep_phase != RP_SNAP) {
        a->rep_phase = RP_SNAP; /* the account and positions next */
        a->rep_tries = 0;
        a->rep_snap_at_ns = now;
        a->rep_have_acct = a->rep_have_pos = 0;
        if (ref == REF_PLAIN)
            a->rep_owed = 1; /* every (re)connect ends with a report */
    }
    /* Live orders missing from the open list finished meanwhile: ask each. */
    uint32_t asked = 0;
    for (uint32_t di = 0; di < a->nd; di++) {
        struct dord *D = &a->d[di];
        if (!D->in_use || D->done || D->cur == NONE)
            continue;
        struct aord *A = &a->ao[D->cur];
        if (A->st == AS_LIVE && A->epoch != epoch) {
            A->need_get = 1;
            work_add(a, D->cur);
            asked++;
        }
    }
    if (ref != REF_PLAIN)
        return;
    a->recon_want = 0;
    alog(a, "alpaca: reconciled after stream start: %d open at the venue, %u to check", n, asked);
}

/* ---- account reports (desk_host_account_report) ----
 *
 * A report is the venue's account at one moment: its open orders that no
 * desk order maps to (GET /v2/orders?status=open, on_orders), then cash and
 * buying power (GET /v2/account) and positions (GET /v2/positions), the two
 * sent together on two pool connections when they are free.  The report
 * waits until the connector is quiet (no recovery, no event waiting for the
 * router's ring, no fill update held back), and the snapshot is taken again
 * (up to 3 times) if a trade update came or an event went out between its
 * first request and its last answer, so that the two answers and desk's
 * books describe the same moment as far as the wire allows.  deskd compares
 * a report only after applying every event emitted before it.
 */

/* The report under way failed or could not be delivered: the next one at
 * the next period, or in 1 s when a start/reconnect report is owed. */
static void rep_retry(struct alpaca *a, uint64_t now)
{
    a->rep_phase = RP_IDLE;
    a->rep_have_acct = a->rep_have_pos = 0;
    if (a->rep_owed || a->o.reconcile_interval_ns == 0)
        a->rep_at_ns = now + 1000 * MS;
    else
        a->rep_at_ns = now + a->o.reconcile_interval_ns;
}

/* Both answers are in: hand the report to deskd (or take the snapshot again). */
static void rep_finish(struct alpaca *a, uint64_t now)
{
    if ((a->news != a->rep_news0 || a->evq_n > 0 || a->nhold > 0) && a->rep_tries < 3) {
        a->rep_tries++;
        a->rep_have_acct = a->rep_have_pos = 0;
        a->rep_snap_at_ns = now + 100 * MS; /* let the news settle first */
        return;
    }
    desk_account_report_t r;
    memset(&r, 0, sizeof r);
    r.flags = DESK_REPORT_BALANCE;
    r.balance = a->rep_bal;
    if (a->rep_pos_ok) {
        r.flags |= DESK_REPORT_POSITIONS;
        r.npos = a->rep_npos;
        r.pos = a->rep_pos;
    }
    if (a->rep_orders_ok) {
        r.flags |= DESK_REPORT_ORDERS;
        r.venue_only_orders = a->rep_venue_only;
    }
    int rc = desk_host_account_report(a->host, &r);
    if (rc == -EBUSY) {
        /* deskd has not compared the previous one yet: next period. */
        if (++a->reports_busy <= 3)
            alog(a, "alpaca: reconcile: deskd busy with the previous account report: next period");
        a->rep_owed = a->o.reconcile_interval_ns == 0;
        rep_retry(a, now);
        return;
    }
    if (rc < 0) {
        a->anomalies++;
        alog(a, "alpaca: reconcile: account report refused: %s", strerror(-rc));
    } else if (a->reports++ == 0) {
        desk_host_log(a->host,
                      "alpaca: reconcile: first account report: cash %lld.%08lld, %u position(s), "
                      "%u open order(s) at the venue not desk's",
                      (long long)(r.balance.cash / DESK_SCALE),
                      (long long)(r.balance.cash % DESK_SCALE), r.npos, r.venue_only_orders);
    }
    a->rep_owed = 0;
    a->rep_phase = RP_IDLE;
    a->rep_have_acct = a->rep_have_pos = 0;
    a->rep_at_ns = now + a->o.reconcile_interval_ns;
}

static void on_account(struct alpaca *a, struct ep *ep, uint32_t ref, int status,
                       const desk_http_msg_t *m, const char *why, uint64_t now)
{
    desk_alpaca_account_t acct;
    int ok = status == 200 && m &&
             desk_alpaca_account_decode(a->json, (const char *)m->body, m->body_len, &acct) == 0;
    char msg[160];

    account_answer(a, ep, status, ok, m, why, now);
    if (ref == REF_REPORT) {
        a->rep_acct_busy = 0;
        if (a->rep_phase != RP_SNAP)
            return;
        if (!ok) {
            rep_retry(a, now);
            return;
        }
        a->rep_bal.cash = acct.cash;
        a->rep_bal.buying_power = acct.buying_power;
        a->rep_have_acct = 1;
        if (a->rep_have_pos)
            rep_finish(a, now);
        return;
    }
    a->account_busy = 0;
    if (ok) {
        a->bal.cash = acct.cash;
        a->bal.buying_power = acct.buying_power;
        a->boot_acct = 1;
    } else if (a->booting && (status == 401 || status == 403)) {
        a->boot_err = -EACCES;
        snprintf(a->boot_why, sizeof a->boot_why, "GET /v2/account: HTTP %d %s (check the API key)",
                 status, err_text(a, m, msg, sizeof msg));
    } else if (a->booting) {
        snprintf(a->boot_why, sizeof a->boot_why, "GET /v2/account: %s%d %s", status ? "HTTP " : "",
                 status, status ? err_text(a, m, msg, sizeof msg) : why);
    }
}

/* The report's positions: mapped onto this connector's instruments; the
 * ones in symbols desk does not trade are counted and logged, not reported. */
static void rep_positions(struct alpaca *a, int n, uint64_t now)
{
    uint32_t unmapped = 0;
    int got = n < 0 ? n
                    : desk_alpaca_positions_map(a->apos, (size_t)n, a->inst_sym, a->inst_id,
                                                a->ninst, a->rep_pos, a->ninst, &unmapped);

    a->rep_pos_busy = 0;
    if (a->rep_phase != RP_SNAP)
        return;
    a->rep_pos_ok = got >= 0;
    a->rep_npos = got >= 0 ? (uint32_t)got : 0;
    if (got >= 0 && unmapped != a->rep_unmapped_logged) {
        a->rep_unmapped_logged = unmapped;
        desk_host_log(a->host,
                      "alpaca: reconcile: %u position(s) at the venue in symbols desk does not "
                      "trade (not reported)",
                      unmapped);
    }
    a->rep_unmapped = unmapped;
    a->rep_have_pos = 1;
    if (a->rep_have_acct)
        rep_finish(a, now);
}

static void on_positions(struct alpaca *a, struct ep *ep, uint32_t ref, int status,
                         const desk_http_msg_t *m, const char *why, uint64_t now)
{
    desk_alpaca_position_t *ap = a->apos;
    int n = -1;
    char msg[160];

    if (status == 200 && m)
        n = desk_alpaca_positions_decode(a->json, (const char *)m->body, m->body_len, ap,
                                         ALP_MAX_POS);
    account_answer(a, ep, status, n >= 0 || n == -ENOSPC, m, why, now);
    if (ref == REF_REPORT) {
        if (n < 0 && n != -ENOSPC) {
            a->rep_pos_busy = 0;
            if (a->rep_phase == RP_SNAP)
                rep_retry(a, now);
            return;
        }
        rep_positions(a, n, now); /* -ENOSPC: a report without positions */
        return;
    }
    a->account_busy = 0; /* positions share the account request's flag */
    if (n == -ENOSPC) {
        a->npos = -ENOSPC;
        a->boot_pos = 1;
        return;
    }
    if (n < 0) {
        if (status == 401 || status == 403)
            a->boot_err = -EACCES;
        snprintf(a->boot_why, sizeof a->boot_why, "GET /v2/positions: %s%d %s",
                 status ? "HTTP " : "", status, status ? err_text(a, m, msg, sizeof msg) : why);
        return;
    }
    a->npos = 0;
    for (int k = 0; k < n; k++) {
        /* Alpaca's documented example has "AAPL ": ignore trailing blanks. */
        size_t sl = strlen(ap[k].symbol);
        while (sl > 0 && ap[k].symbol[sl - 1] == ' ')
            sl--;
        uint32_t j;
        for (j = 0; j < a->ninst; j++) {
            const desk_instrument_t *in = desk_host_instrument(a->host, a->inst_id[j]);
            if (in && strlen(in->symbol) == sl && strncmp(in->symbol, ap[k].symbol, sl) == 0)
                break;
        }
        if (j == a->ninst) {
            desk_host_log(a->host, "alpaca: position in %s (%lld shares) is not a desk instrument",
                          ap[k].symbol, (long long)(ap[k].qty / DESK_SCALE));
            continue;
        }
        desk_position_t *p = &a->pos[a->npos++];
        p->instrument = a->inst_id[j];
        p->pad_ = 0;
        p->qty = ap[k].qty;
        p->avg_px = ap[k].avg_entry_price;
    }
    a->boot_pos = 1;
}

static void on_quote(struct alpaca *a, struct ep *ep, uint32_t j, int status,
                     const desk_http_msg_t *m, const char *why, uint64_t now)
{
    desk_quote_t q;
    int ok = status == 200 && m && j < a->ninst &&
             desk_alpaca_quote_decode(a->json, (const char *)m->body, m->body_len, NULL, &q) == 0;

    account_answer(a, ep, status, ok, m, why, now);
    a->quote_busy = 0;
    if (!ok)
        return;
    a->quote[j] = q;
    a->have_quote[j] = 1;
    (void)desk_host_quote(a->host, a->inst_id[j], &q);
}

static void answer(struct alpaca *a, struct ep *ep, const struct inflight *f, int status,
                   const desk_http_msg_t *m, const char *why, uint64_t now)
{
    int aord_kind =
        f->kind == K_POST || f->kind == K_PATCH || f->kind == K_DELETE || f->kind == K_GET_CLID;

    if (aord_kind && (f->ref >= a->na || a->ao[f->ref].clid != f->clid)) {
        account_answer(a, ep, status, 1, m, why, now);
        return; /* its order was forgotten meanwhile */
    }
    switch (f->kind) {
    case K_POST:
        on_post_or_patch(a, ep, f->ref, 0, status, m, why, now);
        break;
    case K_PATCH:
        on_post_or_patch(a, ep, f->ref, 1, status, m, why, now);
        break;
    case K_DELETE:
        on_delete(a, ep, f->ref, status, m, why, now);
        break;
    case K_GET_CLID:
        on_get_clid(a, ep, f->ref, status, m, why, now);
        break;
    case K_ORDERS:
        on_orders(a, ep, f->ref, status, m, why, now);
        break;
    case K_ACCOUNT:
        on_account(a, ep, f->ref, status, m, why, now);
        break;
    case K_POSITIONS:
        on_positions(a, ep, f->ref, status, m, why, now);
        break;
    case K_QUOTE:
        on_quote(a, ep, f->ref, status, m, why, now);
        break;
    default:
        break;
    }
}

/* ---------------------------------------------------------------------- */
/* The worklist                                                            */
/* ---------------------------------------------------------------------- */

static int send_post(struct alpaca *a, uint32_t i, uint64_t now, uint64_t *wait)
{
    struct aord *A = &a->ao[i];
    struct dord *D = &a->d[A->dord];
    const desk_instrument_t *in = desk_host_instrument(a->host, D->instrument);
    desk_vcmd_t c;

    memset(&c, 0, sizeof c);
    c.type = DESK_CMD_NEW;
    c.side = D->side;
    c.ord_type = D->ord_type;
    c.tif = D->tif;
    c.instrument = D->instrument;
    c.cl_ord_id = A->clid;
    c.qty = D->qty;
    c.px = D->px;
    c.stop_px = D->stop_px;
    int n = in ? desk_alpaca_order_encode(&c, in->symbol, a->body, sizeof a->body) : -EINVAL;
    if (n < 0) {
        A->st = AS_FINAL;
        finish_order(a, D, DESK_EV_REJECT, 0);
        return ALP_HANDLED;
    }
    int rc = ep_send(a, &a->trade, K_POST, i, A->clid, "POST", "/v2/orders", NULL, a->body,
                     (size_t)n, now, wait);
    if (rc == 0) {
        A->st = AS_INFLIGHT;
        A->busy = 1;
        A->attempts++;
    }
    return rc;
}

static int send_patch(struct alpaca *a, uint32_t i, uint64_t now, uint64_t *wait)
{
    struct aord *R = &a->ao[i];
    struct dord *D = &a->d[R->dord];
    struct aord *P = &a->ao[R->prev];
    char path[96];
    desk_vcmd_t c;

    memset(&c, 0, sizeof c);
    c.type = DESK_CMD_REPLACE;
    c.side = D->side;
    c.ord_type = D->ord_type;
    c.tif = D->tif;
    c.instrument = D->instrument;
    c.cl_ord_id = R->clid;
    c.orig_cl_ord_id = P->clid;
    c.qty = R->new_qty;
    c.px = R->new_px;
    c.stop_px = D->stop_px;
    int n = desk_alpaca_replace_encode(&c, D->cum, a->body, sizeof a->body);
    if (n < 0 || desk_alpaca_path_order(P->id, path, sizeof path) < 0) {
        replace_refused(a, D, i);
        return ALP_HANDLED;
    }
    int rc = ep_send(a, &a->trade, K_PATCH, i, R->clid, "PATCH", path, NULL, a->body, (size_t)n,
                     now, wait);
    if (rc == 0) {
        R->st = AS_INFLIGHT;
        R->busy = 1;
        R->attempts++;
    }
    return rc;
}

static int send_delete(struct alpaca *a, uint32_t i, uint64_t now, uint64_t *wait)
{
    struct aord *A = &a->ao[i];
    char path[96];

    if (desk_alpaca_path_order(A->id, path, sizeof path) < 0) {
        A->cx = CX_CHECK; /* no usable id: ask by client_order_id */
        *wait = 1;
        return -EAGAIN;
    }
    int rc = ep_send(a, &a->trade, K_DELETE, i, A->clid, "DELETE", path, NULL, NULL, 0, now, wait);
    if (rc == 0) {
        A->cx = CX_INFLIGHT;
        A->busy = 1;
        A->cx_attempts++;
    }
    return rc;
}

static int send_get_clid(struct alpaca *a, uint32_t i, uint64_t now, uint64_t *wait)
{
    struct aord *A = &a->ao[i];
    char path[96];

    if (desk_alpaca_path_by_clid(A->clid, path, sizeof path) < 0)
        return ALP_HANDLED; /* cannot happen: a nonzero uint64 always fits */
    char *q = strchr(path, '?');
    *q = '\0';
    int rc = ep_send(a, &a->trade, K_GET_CLID, i, A->clid, "GET", path, q + 1, NULL, 0, now, wait);
    if (rc == 0)
        A->busy = 1;
    return rc;
}

/*
 * Do what aord i needs next.  Returns 1 if it stays on the worklist (with
 * *wake: when to look again), 0 if it has nothing more to do for now.
 * Sets *sent when a request went out.
 */
static int process(struct alpaca *a, uint32_t i, uint64_t now, uint64_t *wake, int *sent)
{
    struct aord *A = &a->ao[i];
    uint64_t wait = 0;
    int rc;

    if (A->clid == 0 || A->busy)
        return 0; /* freed, or an answer will put it back */
    struct dord *D = &a->d[A->dord];
    if (now < A->not_before_ns) {
        *wake = umin(*wake, A->not_before_ns);
        return 1;
    }
    switch (A->st) {
    case AS_QUEUED:
        if (A->is_repl) {
            if (D->done || D->repl != i) {
                A->st = AS_FINAL;
                return 0;
            }
            struct aord *P = &a->ao[A->prev];
            if (P->st == AS_FINAL) {
                replace_refused(a, D, i); /* the order ended before the PATCH went out */
                return 0;
            }
            if (P->st != AS_LIVE || P->id[0] == '\0') {
                *wake = umin(*wake, now + 10 * MS); /* wait for the original to settle */
                return 1;
            }
            rc = send_patch(a, i, now, &wait);
        } else {
            if (D->done) {
                A->st = AS_FINAL;
                return 0;
            }
            if (D->cancel_req && A->attempts == 0) {
                /* Never sent: cancel it here, the venue never saw it. */
                A->st = AS_FINAL;
                finish_order(a, D, DESK_EV_CANCELED, 0);
                return 0;
            }
            rc = send_post(a, i, now, &wait);
        }
        break;
    case AS_UNCERTAIN:
        rc = send_get_clid(a, i, now, &wait);
        break;
    case AS_RECOVER:
        if (A->rec != REC_ASKING)
            return 0; /* answered: waits for the other half of its order */
        rc = send_get_clid(a, i, now, &wait);
        break;
    case AS_LIVE:
        if (A->cx == CX_WANT) {
            rc = send_delete(a, i, now, &wait);
        } else if (A->cx == CX_CHECK || A->need_get) {
            rc = send_get_clid(a, i, now, &wait);
        } else if (A->cx == CX_SENT) {
            A->cx = CX_CHECK; /* no "canceled" update in time: ask */
            rc = send_get_clid(a, i, now, &wait);
        } else {
            return 0;
        }
        break;
    case AS_FINAL:
    default:
        if (D->cancel_req && D->done && D->cur == i)
            cancel_reject(a, D); /* it ended (filled) before the cancel landed */
        return 0;
    case AS_INFLIGHT:
        return 0;
    }
    if (rc == 0) {
        *sent += 1;
        return A->busy ? 0 : 1;
    }
    if (rc == -EAGAIN) {
        *wake = umin(*wake, now + (wait ? wait : MS));
        return 1;
    }
    return 0; /* ALP_HANDLED, or a request that can never be written */
}

/* The account report's requests (the comment above rep_retry()).  Returns
 * requests sent; lowers *wake to when it wants to look again. */
static int rep_pump(struct alpaca *a, uint64_t now, uint64_t *wake)
{
    uint64_t w = 0;
    int sent = 0;
    int live = a->st.phase == SP_LIVE && !a->recon_want && !a->recon_busy;

    if (a->rep_phase == RP_IDLE) {
        if (!live || (a->o.reconcile_interval_ns == 0 && !a->rep_owed))
            return 0;
        if (now < a->rep_at_ns) {
            *wake = umin(*wake, a->rep_at_ns);
            return 0;
        }
        if (ep_send(a, &a->trade, K_ORDERS, REF_REPORT, 0, "GET", "/v2/orders",
                    "status=open&limit=500&direction=desc", NULL, 0, now, &w) == 0) {
            a->rep_phase = RP_ORDERS;
            return 1;
        }
        *wake = umin(*wake, now + (w ? w : MS));
        return 0;
    }
    if (a->rep_phase != RP_SNAP)
        return 0;
    /* Quiet: nothing the desk knows is still on its way to the router. */
    int quiet = live && a->nrecover == 0 && a->evq_n == 0 && a->nhold == 0;
    if (!quiet || now < a->rep_snap_at_ns) {
        *wake = umin(*wake, quiet ? a->rep_snap_at_ns : now + 10 * MS);
        return 0;
    }
    int first = !a->rep_acct_busy && !a->rep_pos_busy && !a->rep_have_acct && !a->rep_have_pos;
    if (!a->rep_have_acct && !a->rep_acct_busy) {
        if (ep_send(a, &a->trade, K_ACCOUNT, REF_REPORT, 0, "GET", "/v2/account", NULL, NULL, 0,
                    now, &w) == 0) {
            a->rep_acct_busy = 1;
            sent++;
        } else {
            *wake = umin(*wake, now + (w ? w : MS));
        }
    }
    if (!a->rep_have_pos && !a->rep_pos_busy) {
        if (ep_send(a, &a->trade, K_POSITIONS, REF_REPORT, 0, "GET", "/v2/positions", NULL, NULL, 0,
                    now, &w) == 0) {
            a->rep_pos_busy = 1;
            sent++;
        } else {
            *wake = umin(*wake, now + (w ? w : MS));
        }
    }
    if (first && sent)
        a->rep_news0 = a->news;
    return sent;
}

/* Walk the worklist; then the connector-wide requests.  Returns requests sent. */
static int pump(struct alpaca *a, uint64_t now)
{
    int sent = 0;
    uint64_t wake = now + 50 * MS;

    if (!a->work_dirty && now < a->pump_at_ns)
        return 0;
    a->work_dirty = 0;
    for (uint32_t n = a->w_n; n > 0; n--) {
        uint32_t i = a->work[a->w_head];
        a->w_head = (a->w_head + 1) % a->na;
        a->w_n--;
        if (process(a, i, now, &wake, &sent)) {
            a->work[(a->w_head + a->w_n) % a->na] = i;
            a->w_n++;
        } else {
            a->ao[i].in_work = 0;
        }
    }
    uint64_t w = 0;
    if (a->booting) {
        if (!a->boot_acct && !a->account_busy &&
            ep_send(a, &a->trade, K_ACCOUNT, 0, 0, "GET", "/v2/account", NULL, NULL, 0, now, &w) ==
                0)
            a->account_busy = 1;
        else if (a->boot_acct && !a->boot_pos && !a->account_busy &&
                 ep_send(a, &a->trade, K_POSITIONS, 0, 0, "GET", "/v2/positions", NULL, NULL, 0,
                         now, &w) == 0)
            a->account_busy = 1;
        a->pump_at_ns = now + MS;
        return 1;
    }
    if (a->recon_want && !a->recon_busy) {
        if (ep_send(a, &a->trade, K_ORDERS, 0, 0, "GET", "/v2/orders",
                    "status=open&limit=500&direction=desc", NULL, 0, now, &w) == 0) {
            a->recon_busy = 1;
            sent++;
        } else {
            wake = umin(wake, now + (w ? w : MS));
        }
    }
    sent += rep_pump(a, now, &wake);
    if (a->o.account_interval_ns && !a->account_busy && now >= a->account_at_ns) {
        if (ep_send(a, &a->trade, K_ACCOUNT, 0, 0, "GET", "/v2/account", NULL, NULL, 0, now, &w) ==
            0) {
            a->account_busy = 1;
            a->account_at_ns = now + a->o.account_interval_ns;
            sent++;
        }
    }
    if (a->o.account_interval_ns)
        wake = umin(wake, a->account_at_ns > now ? a->account_at_ns : now + 10 * MS);
    if (a->o.quote_interval_ns && a->ninst && !a->quote_busy && now >= a->quote_at_ns) {
        char path[96];
        uint32_t j = a->quote_rr % a->ninst;
        const desk_instrument_t *in = desk_host_instrument(a->host, a->inst_id[j]);
        if (in && desk_alpaca_path_quote(in->symbol, path, sizeof path) > 0 &&
            ep_send(a, &a->data, K_QUOTE, j, 0, "GET", path, NULL, NULL, 0, now, &w) == 0) {
            a->quote_busy = 1;
            a->quote_rr++;
            a->quote_at_ns = now + a->o.quote_interval_ns / a->ninst;
            sent++;
        }
    }
    if (a->o.quote_interval_ns && a->ninst)
        wake = umin(wake, a->quote_at_ns > now ? a->quote_at_ns : now + 10 * MS);
    a->pump_at_ns = wake;
    return sent;
}

/* ---------------------------------------------------------------------- */
/* The trade_updates stream                                                */
/* ---------------------------------------------------------------------- */

/* We end the stream session (bad auth, protocol error, no pong): close;
 * poll() reconnects after a growing delay. */
static void stream_down(struct alpaca *a, const char *why)
{
    struct stream *s = &a->st;

    if (s->phase == SP_DOWN)
        return;
    s->phase = SP_DOWN;
    snprintf(s->why, sizeof s->why, "%.47s", why);
    desk_conn_close(&s->conn);
}

static void on_update(struct alpaca *a, const desk_alpaca_update_t *u, uint64_t now)
{
    uint32_t i = aord_by_clid_str(a, u->order.client_order_id);

    if (i == NONE)
        return; /* not desk's order, or forgotten long ago */
    struct aord *A = &a->ao[i];
    if (A->st == AS_RECOVER) {
        A->need_get = 1; /* its answer may predate this: ask again once settled */
        return;
    }
    int k = hold_find(a, i);
    if (k < 0) {
        if (has_gap(A, u) && a->nhold < ALP_HOLDS && !a->d[A->dord].done) {
            for (k = 0; a->hold[k].aord != NONE; k++)
                ;
            a->hold[k].aord = i;
            a->hold[k].clid = A->clid;
            a->hold[k].until_ns = now + ALP_HOLD_NS;
            a->hold[k].u = *u;
            a->nhold++;
            a->held++;
            return;
        }
        apply_update(a, i, u);
        return;
    }
    if (u->order.filled_qty < a->hold[k].u.order.filled_qty) {
        /* An earlier update: it goes first; the held one waits on if a gap
         * remains. */
        apply_update(a, i, u);
        if (!has_gap(A, &a->hold[k].u) || a->hold[k].u.order.filled_qty <= A->filled)
            hold_release(a, k);
        return;
    }
    hold_release(a, k);
    apply_update(a, i, u);
}

static void ws_on_msg(desk_ws_opcode_t op, const uint8_t *data, size_t len, void *ctx)
{
    struct alpaca *a = ctx;
    struct stream *s = &a->st;
    char buf[DESK_ALPACA_MSG_MAX];
    int kind = desk_alpaca_stream_decode(a->json, (const char *)data, len, &a->smsg);

    (void)op;
    if (s->phase == SP_DOWN)
        return; /* the rest of a session we are closing */
    if (kind < 0) {
        s->bad++;
        if (s->bad <= 5)
            alog(a, "alpaca: stream: unreadable message (%s), %zu bytes: ignored", strerror(-kind),
                 len);
        return;
    }
    s->msgs++;
    switch (kind) {
    case DESK_ALPACA_MSG_AUTHORIZATION:
        if (!a->smsg.authorized) {
            alog(a, "alpaca: stream: unauthorized (check api_key_id / api_secret_key)");
            stream_down(a, "trade_updates: unauthorized");
            return;
        }
        if (s->phase == SP_AUTH) {
            int n = desk_alpaca_listen_encode(buf, sizeof buf);
            if (n < 0 || desk_ws_send_text(s->ws, buf, (size_t)n) != 0) {
                stream_down(a, "trade_updates: cannot send listen");
                return;
            }
            s->phase = SP_LISTEN;
        }
        break;
    case DESK_ALPACA_MSG_LISTENING:
        if (s->phase == SP_LISTEN && (a->smsg.streams & DESK_ALPACA_STREAM_TRADE_UPDATES)) {
            s->phase = SP_LIVE;
            s->ever_live = 1;
            s->fails = 0;
            s->sessions++;
            s->why[0] = '\0';
            a->recon_want = 1; /* whatever happened while we were away */
            a->work_dirty = 1;
            desk_host_log(a->host, "alpaca: trade_updates stream live (session %llu)",
                          (unsigned long long)s->sessions);
        }
        break;
    case DESK_ALPACA_MSG_TRADE_UPDATE:
        a->news++;
        on_update(a, &a->smsg.update, desk_loop_now(&a->loop));
        break;
    default:
        break;
    }
}

static int ws_send_cb(const void *buf, size_t len, void *ctx)
{
    struct alpaca *a = ctx;

    if (len > (1u << 20))
        len = 1u << 20;
    int rc = desk_conn_send(&a->st.conn, buf, len);
    if (rc == 0)
        return (int)len;
    if (rc == -ENOBUFS || rc == -EBUSY)
        return 0;
    return rc;
}

static void st_on_open(desk_conn_t *c, void *ctx)
{
    struct alpaca *a = ctx;
    struct stream *s = &a->st;
    char buf[1024];

    if (desk_ws_state(s->ws) != DESK_WS_CONNECTING)
        (void)desk_ws_reset(s->ws);
    s->phase = SP_HANDSHAKE;
    s->phase_ns = desk_loop_now(&a->loop);
    int n = desk_ws_handshake_write(s->ws, s->hosthdr, a->o.stream_path, NULL, 0, buf, sizeof buf);
    if (n < 0 || desk_conn_send(c, buf, (size_t)n) != 0)
        stream_down(a, "trade_updates: cannot start the handshake");
}

static void st_after_recv(struct alpaca *a)
{
    desk_ws_state_t ws = desk_ws_state(a->st.ws);

    if (ws == DESK_WS_CLOSED || ws == DESK_WS_FAILED) {
        char why[48];
        snprintf(why, sizeof why, "trade_updates: %.32s", desk_ws_reason(a->st.ws));
        stream_down(a, why);
    }
}

static void st_on_data(desk_conn_t *c, const uint8_t *data, size_t len, void *ctx)
{
    struct alpaca *a = ctx;
    struct stream *s = &a->st;
    int64_t now = (int64_t)desk_loop_now(&a->loop);

    (void)c;
    if (s->phase == SP_HANDSHAKE) {
        size_t used = 0;
        int rc = desk_ws_handshake_read(s->ws, data, len, &used, now);
        if (rc < 0) {
            alog(a, "alpaca: stream: WebSocket handshake failed: %s", desk_ws_reason(s->ws));
            stream_down(a, "trade_updates: handshake failed");
            return;
        }
        if (rc == 0)
            return;
        /* Open: authenticate first (the secret passes through buf: wipe it). */
        char buf[2 * ALP_SECRET_MAX + 128];
        int n = desk_alpaca_auth_encode(a->o.key_id, a->o.secret, buf, sizeof buf);
        int sr = n > 0 ? desk_ws_send_text(s->ws, buf, (size_t)n) : n;
        explicit_bzero(buf, sizeof buf);
        if (sr != 0) {
            stream_down(a, "trade_updates: cannot authenticate");
            return;
        }
        s->phase = SP_AUTH;
        data += used;
        len -= used;
        if (len == 0)
            return;
    }
    if (s->phase == SP_DOWN)
        return;
    if (desk_ws_recv(s->ws, data, len, now) < 0 && s->phase != SP_DOWN) {
        char why[48];
        snprintf(why, sizeof why, "trade_updates: %.32s", desk_ws_reason(s->ws));
        stream_down(a, why);
        return;
    }
    st_after_recv(a);
}

static void st_on_close(desk_conn_t *c, int err, const char *why, void *ctx)
{
    struct alpaca *a = ctx;
    struct stream *s = &a->st;

    (void)err;
    if (s->phase == SP_LIVE)
        desk_host_log(a->host, "alpaca: trade_updates stream lost: %s", why);
    if (s->phase != SP_DOWN || s->why[0] == '\0')
        snprintf(s->why, sizeof s->why, "trade_updates: %.32s", why);
    s->phase = SP_DOWN;
    (void)desk_ws_reset(s->ws);
    if (desk_conn_state(c) == DESK_CONN_IDLE) {
        /* We closed it: reconnect from poll() after a delay that grows
         * while sessions keep failing before they go live. */
        uint64_t now = desk_loop_now(&a->loop);
        s->reopen_at_ns =
            now + desk_conn_backoff_ns(s->fails, a->o.reconnect_ns, a->o.reconnect_max_ns, &s->rng);
    }
    if (s->fails < 30)
        s->fails++;
}

static const desk_conn_cb_t st_cb = {
    .on_open = st_on_open,
    .on_data = st_on_data,
    .on_close = st_on_close,
};

static void stream_tick(struct alpaca *a, uint64_t now)
{
    struct stream *s = &a->st;

    if (s->phase == SP_DOWN)
        return;
    if (s->phase != SP_LIVE && now - s->phase_ns > a->o.connect_timeout_ns) {
        /* Upgrade, authorization or listening never answered. */
        alog(a, "alpaca: stream: no %s within %llu ms: reconnecting",
             s->phase == SP_HANDSHAKE ? "WebSocket upgrade"
             : s->phase == SP_AUTH    ? "authorization"
                                      : "listening",
             (unsigned long long)(a->o.connect_timeout_ns / MS));
        stream_down(a, "trade_updates: no answer to authenticate");
        return;
    }
    if (s->phase == SP_HANDSHAKE)
        return;
    if (desk_ws_want_write(s->ws))
        (void)desk_ws_flush(s->ws);
    if (desk_ws_tick(s->ws, (int64_t)now) == -ETIMEDOUT) {
        alog(a, "alpaca: stream: no pong within %llu ms: reconnecting",
             (unsigned long long)(a->o.pong_ns / MS));
        stream_down(a, "trade_updates: no pong");
    }
}

/* ---------------------------------------------------------------------- */
/* Health                                                                  */
/* ---------------------------------------------------------------------- */

static void health(struct alpaca *a)
{
    desk_health_t st;
    const char *why;

    if (!a->connected) {
        st = DESK_DOWN;
        why = "disconnected";
    } else if (desk_breaker_health(&a->br) != DESK_UP) {
        st = desk_breaker_health(&a->br);
        why = desk_breaker_reason(&a->br);
    } else if (a->st.phase != SP_LIVE) {
        st = a->st.ever_live ? DESK_DEGRADED : DESK_DOWN;
        why = a->st.why[0] ? a->st.why : "connecting";
    } else if (a->recon_want || a->recon_busy) {
        st = a->st.sessions > 1 ? DESK_DEGRADED : DESK_DOWN; /* first session: still starting */
        why = "reconciling open orders";
    } else if (a->nrecover > 0) {
        st = a->st.sessions > 1 ? DESK_DEGRADED : DESK_DOWN;
        why = "recovering orders"; /* asking the venue about deskd's journal */
    } else {
        st = DESK_UP;
        why = "trade_updates live";
    }
    if (a->h_init && st == a->h_state && strcmp(why, a->h_why) == 0)
        return;
    a->h_init = 1;
    a->h_state = st;
    snprintf(a->h_why, sizeof a->h_why, "%s", why);
    desk_host_health(a->host, st, why);
}

/* ---------------------------------------------------------------------- */
/* Options                                                                 */
/* ---------------------------------------------------------------------- */

static int opt_u64(const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
    uint64_t x = 0;

    if (v == NULL || *v == '\0')
        return -EINVAL;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9' || x > (UINT64_MAX - 9) / 10)
            return -EINVAL;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    if (x < lo || x > hi)
        return -EINVAL;
    *out = x;
    return 0;
}

static DESK_COLD int parse_opts(struct alpaca *a, const desk_connector_cfg_t *cfg)
{
    struct alp_opts *o = &a->o;
    const char *name = cfg->name ? cfg->name : "?";
    const char *base = "https://paper-api.alpaca.markets", *stream = NULL, *data = NULL;
    int base_line = 0, stream_line = 0, data_line = 0;
    char path[256];

    memset(o, 0, sizeof *o);
    o->connect_timeout_ns = 5000 * MS;
    o->request_timeout_ns = 5000 * MS;
    o->boot_timeout_ns = 10000 * MS;
    o->rate_limit = 200;
    o->rate_window_ns = 60000 * MS;
    o->pool_size = 2;
    o->quote_interval_ns = 1000 * MS;
    o->account_interval_ns = 15000 * MS;
    o->reconcile_interval_ns = 10000 * MS;
    o->max_orders = 8192;
    o->max_attempts = 3;
    o->breaker_failures = 5;
    o->cooldown_ns = 10000 * MS;
    o->reconnect_ns = 250 * MS;
    o->reconnect_max_ns = 10000 * MS;
    o->ping_ns = 10000 * MS;
    o->pong_ns = 5000 * MS;
    for (uint32_t i = 0; i < cfg->nopts; i++) {
        const desk_opt_t *opt = &cfg->opts[i];
        const char *k = opt->key, *v = opt->value ? opt->value : "";
        uint64_t x = 0;
        int rc = 0;

#define MS_OPT(key, lo, hi, field)                                                                 \
    else if (strcmp(k, key) == 0)                                                                  \
    {                                                                                              \
        rc = opt_u64(v, lo, hi, &x);                                                               \
        o->field = x * MS;                                                                         \
    }
#define U32_OPT(key, lo, hi, field)                                                                \
    else if (strcmp(k, key) == 0)                                                                  \
    {                                                                                              \
        rc = opt_u64(v, lo, hi, &x);                                                               \
        o->field = (uint32_t)x;                                                                    \
    }
        if (strcmp(k, "base_url") == 0) {
            base = v;
            base_line = opt->line;
        } else if (strcmp(k, "stream_url") == 0) {
            stream = v;
            stream_line = opt->line;
        } else if (strcmp(k, "data_url") == 0) {
            data = v;
            data_line = opt->line;
        } else if (strcmp(k, "api_key_id") == 0) {
            if (!opt->secret)
                return DESK_ERR(-EINVAL,
                                "desk.toml:%d: connector '%s': api_key_id must be a credential "
                                "reference ({ env = \"...\" } or { file = \"...\" })",
                                opt->line, name);
            if (v[0] == '\0' || strlen(v) >= sizeof o->key_id)
                rc = -EINVAL;
            else
                snprintf(o->key_id, sizeof o->key_id, "%s", v);
        } else if (strcmp(k, "api_secret_key") == 0) {
            if (!opt->secret)
                return DESK_ERR(-EINVAL,
                                "desk.toml:%d: connector '%s': api_secret_key must be a credential "
                                "reference ({ env = \"...\" } or { file = \"...\" })",
                                opt->line, name);
            if (v[0] == '\0' || strlen(v) >= sizeof o->secret)
                rc = -EINVAL;
            else
                snprintf(o->secret, sizeof o->secret, "%s", v);
        } else if (strcmp(k, "ca_file") == 0) {
            int w = v[0] == '/' || cfg->config_dir == NULL || cfg->config_dir[0] == '\0'
                        ? snprintf(o->ca_file, sizeof o->ca_file, "%s", v)
                        : snprintf(o->ca_file, sizeof o->ca_file, "%s/%s", cfg->config_dir, v);
            if (v[0] == '\0' || w < 0 || (size_t)w >= sizeof o->ca_file)
                rc = -EINVAL;
        }
        MS_OPT("connect_timeout_ms", 1, 600000, connect_timeout_ns)
        MS_OPT("request_timeout_ms", 1, 600000, request_timeout_ns)
        MS_OPT("bootstrap_timeout_ms", 1, 600000, boot_timeout_ns)
        MS_OPT("rate_window_ms", 1, 86400000, rate_window_ns)
        MS_OPT("quote_interval_ms", 0, 86400000, quote_interval_ns)
        MS_OPT("account_interval_ms", 0, 86400000, account_interval_ns)
        MS_OPT("reconcile_interval_ms", 0, 86400000, reconcile_interval_ns)
        MS_OPT("breaker_cooldown_ms", 1, 3600000, cooldown_ns)
        MS_OPT("reconnect_ms", 1, 600000, reconnect_ns)
        MS_OPT("reconnect_max_ms", 1, 3600000, reconnect_max_ns)
        MS_OPT("ping_interval_ms", 0, 3600000, ping_ns)
        MS_OPT("pong_timeout_ms", 1, 3600000, pong_ns)
        U32_OPT("rate_limit", 1, 1000000, rate_limit)
        U32_OPT("pool_size", 1, ALP_MAX_POOL, pool_size)
        U32_OPT("max_orders", 64, 1048576, max_orders)
        U32_OPT("max_attempts", 1, 20, max_attempts)
        U32_OPT("breaker_failures", 1, 1000, breaker_failures)
        else return DESK_ERR(-EINVAL, "desk.toml:%d: connector '%s': unknown alpaca option '%s'",
                             opt->line, name, k);
#undef MS_OPT
#undef U32_OPT
        if (rc != 0)
            return DESK_ERR(-EINVAL,
                            "desk.toml:%d: connector '%s': bad value for alpaca option '%s'",
                            opt->line, name, k);
    }
    if (o->key_id[0] == '\0' || o->secret[0] == '\0')
        return DESK_ERR(-EINVAL,
                        "connector '%s': alpaca options 'api_key_id' and 'api_secret_key' are "
                        "required (as { env = \"...\" } references)",
                        name);
    if (desk__alpaca_parse_url(base, "https", o->base_host, sizeof o->base_host, &o->base_port,
                               path, sizeof path) != 0 ||
        path[0] != '\0')
        return DESK_ERR(-EINVAL,
                        "desk.toml:%d: connector '%s': base_url '%s' is not https://host[:port]",
                        base_line, name, base);
    if (data == NULL) {
        size_t hl = strlen(o->base_host);
        int alpaca_host = hl >= 15 && strcmp(o->base_host + hl - 15, ".alpaca.markets") == 0;
        snprintf(o->data_host, sizeof o->data_host, "%s",
                 alpaca_host ? "data.alpaca.markets" : o->base_host);
        o->data_port = alpaca_host ? 443 : o->base_port;
    } else if (desk__alpaca_parse_url(data, "https", o->data_host, sizeof o->data_host,
                                      &o->data_port, path, sizeof path) != 0 ||
               path[0] != '\0') {
        return DESK_ERR(-EINVAL,
                        "desk.toml:%d: connector '%s': data_url '%s' is not https://host[:port]",
                        data_line, name, data);
    }
    if (stream == NULL) {
        snprintf(o->stream_host, sizeof o->stream_host, "%s", o->base_host);
        o->stream_port = o->base_port;
        snprintf(o->stream_path, sizeof o->stream_path, "/stream");
    } else if (desk__alpaca_parse_url(stream, "wss", o->stream_host, sizeof o->stream_host,
                                      &o->stream_port, o->stream_path,
                                      sizeof o->stream_path) != 0) {
        return DESK_ERR(
            -EINVAL, "desk.toml:%d: connector '%s': stream_url '%s' is not wss://host[:port]/path",
            stream_line, name, stream);
    }
    if (o->stream_path[0] == '\0')
        snprintf(o->stream_path, sizeof o->stream_path, "/");
    if (o->reconnect_max_ns < o->reconnect_ns)
        o->reconnect_max_ns = o->reconnect_ns;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Ops                                                                     */
/* ---------------------------------------------------------------------- */

static void alp_destroy(void *self);

static DESK_COLD int alp_create(const desk_connector_cfg_t *cfg, desk_host_t *host, void **self)
{
    struct alpaca *a;
    char eb[256];
    int rc;

    if (cfg == NULL || self == NULL)
        return DESK_ERR(-EINVAL, "cfg or self is NULL");
    *self = NULL;
    a = calloc(1, sizeof *a);
    if (a == NULL)
        return DESK_ERR(-ENOMEM, "no memory for the alpaca connector");
    a->host = host;
    a->boot_rc = 1;
    a->npos = 0;
    snprintf(a->name, sizeof a->name, "%s", cfg->name ? cfg->name : "?");
    if ((rc = parse_opts(a, cfg)) != 0)
        goto fail;
    if (cfg->venue_type != DESK_VENUE_EQUITIES) {
        rc = DESK_ERR(-EINVAL, "connector '%s': an alpaca connector is venue_type = \"equities\"",
                      a->name);
        goto fail;
    }

    /* Orders: pools, map, worklist, event queue. */
    a->nd = a->o.max_orders;
    a->na = 2 * a->nd;
    uint32_t cap = 4;
    while (cap < 2 * a->na)
        cap <<= 1;
    a->d = calloc(a->nd, sizeof *a->d);
    a->ao = calloc(a->na, sizeof *a->ao);
    a->work = calloc(a->na, sizeof *a->work);
    a->map_mem = aligned_alloc(8, desk__alpaca_map_bytes(cap));
    a->evq_cap = 4 * a->nd + 1024;
    a->evq = calloc(a->evq_cap, sizeof *a->evq);
    a->olist = calloc(ALP_OLIST, sizeof *a->olist);
    if (!a->d || !a->ao || !a->work || !a->map_mem || !a->evq || !a->olist) {
        rc = DESK_ERR(-ENOMEM, "connector '%s': no memory for %u orders", a->name, a->nd);
        goto fail;
    }
    (void)desk__alpaca_map_init(&a->map, a->map_mem, cap);
    for (uint32_t i = 0; i < a->nd; i++) {
        a->d[i].next_free = i + 1 < a->nd ? i + 1 : NONE;
        a->d[i].cur = a->d[i].repl = a->d[i].chain = NONE;
    }
    a->d_head = 0;
    a->d_tail = a->nd - 1;
    for (uint32_t i = 0; i < a->na; i++) {
        a->ao[i].chain = i + 1 < a->na ? i + 1 : NONE;
        a->ao[i].prev = NONE;
    }
    a->a_free = 0;

    /* Instruments. */
    a->ninst = desk_host_ninstruments(host);
    a->inst_id = calloc(a->ninst ? a->ninst : 1, sizeof *a->inst_id);
    a->quote = calloc(a->ninst ? a->ninst : 1, sizeof *a->quote);
    a->have_quote = calloc(a->ninst ? a->ninst : 1, 1);
    a->inst_sym = calloc(a->ninst ? a->ninst : 1, sizeof *a->inst_sym);
    a->rep_pos = calloc(a->ninst ? a->ninst : 1, sizeof *a->rep_pos);
    if (!a->inst_id || !a->quote || !a->have_quote || !a->inst_sym || !a->rep_pos) {
        rc = DESK_ERR(-ENOMEM, "connector '%s': no memory", a->name);
        goto fail;
    }
    for (uint32_t j = 0; j < a->ninst; j++) {
        a->inst_id[j] = desk_host_instrument_at(host, j)->id;
        a->inst_sym[j] = desk_host_instrument_at(host, j)->symbol;
    }

    if ((rc = desk_json_create(ALP_JSON_MAX, &a->json)) != 0)
        goto fail;
    desk_breaker_cfg_t bc = {.fail_threshold = a->o.breaker_failures,
                             .cooldown_ns = a->o.cooldown_ns,
                             .probe_timeout_ns = a->o.request_timeout_ns + 1000 * MS};
    uint64_t now = desk_now_ns();
    desk_breaker_init(&a->br, &bc, now);
    desk_breaker_init(&a->dbr, &bc, now);
    desk_ratelimit_cfg_t rc_ = {.requests = a->o.rate_limit, .window_ns = a->o.rate_window_ns};
    if ((rc = desk_ratelimit_init(&a->rl, &rc_, &a->br, now)) != 0 ||
        (rc = desk_ratelimit_init(&a->drl, &rc_, &a->dbr, now)) != 0) {
        rc = DESK_ERR(-EINVAL, "connector '%s': rate limit: %s", a->name, prev_err(eb, sizeof eb));
        goto fail;
    }
    a->h_state = DESK_DOWN;
    a->st.rng = now ^ (uint64_t)(uintptr_t)a;
    for (uint32_t k = 0; k < ALP_HOLDS; k++)
        a->hold[k].aord = NONE;
    *self = a;
    return 0;
fail:
    alp_destroy(a);
    return rc;
}

/* Set up the loop, TLS and the connections (no traffic yet).  Cold: it
 * resolves host names (getaddrinfo blocks). */
static DESK_COLD int net_start(struct alpaca *a)
{
    char eb[256];
    int rc;

    if (a->net_ok)
        return 0;
    desk_loop_cfg_t lc = {.max_timers = 8 * (a->o.pool_size + 2) + 16};
    if (!a->loop_ok) {
        if ((rc = desk_loop_init(&a->loop, a->o.pool_size + 2, &lc)) != 0)
            return DESK_ERR(rc, "connector '%s': io_uring loop: %s", a->name,
                            prev_err(eb, sizeof eb));
        a->loop_ok = 1;
    }
    if (!a->tls_ok) {
        desk_tls_cfg_t tc = {.ca_file = a->o.ca_file[0] ? a->o.ca_file : NULL};
        if ((rc = desk_tls_ctx_init(&a->tls, &tc)) != 0)
            return DESK_ERR(rc, "connector '%s': TLS: %s", a->name, prev_err(eb, sizeof eb));
        a->tls_ok = 1;
    }
    int same = strcmp(a->o.data_host, a->o.base_host) == 0 && a->o.data_port == a->o.base_port;
    a->trade.br = &a->br;
    a->trade.rl = &a->rl;
    a->trade.health = 1;
    a->data.br = same ? &a->br : &a->dbr;
    a->data.rl = same ? &a->rl : &a->drl;
    a->data.health = (uint32_t)same;
    if ((rc = ep_init(a, &a->trade, "trade", a->o.base_host, a->o.base_port, a->o.pool_size,
                      ALP_BODY_TRADE)) != 0)
        return rc;
    if ((rc = ep_init(a, &a->data, "data", a->o.data_host, a->o.data_port, 1, ALP_BODY_DATA)) != 0)
        return rc;
    struct stream *s = &a->st;
    desk_ws_config_t wc = {
        .max_msg = ALP_WS_MAX_MSG,
        .ping_interval_ns = (int64_t)a->o.ping_ns,
        .pong_timeout_ns = (int64_t)a->o.pong_ns,
        .send = ws_send_cb,
        .on_msg = ws_on_msg,
        .ctx = a,
    };
    if ((rc = desk_ws_create(&s->ws, &wc)) != 0)
        return DESK_ERR(rc, "connector '%s': WebSocket: %s", a->name, prev_err(eb, sizeof eb));
    if (a->o.stream_port == 443)
        snprintf(s->hosthdr, sizeof s->hosthdr, "%s", a->o.stream_host);
    else
        snprintf(s->hosthdr, sizeof s->hosthdr, strchr(a->o.stream_host, ':') ? "[%s]:%u" : "%s:%u",
                 a->o.stream_host, (unsigned)a->o.stream_port);
    desk_conn_cfg_t cc = {
        .host = a->o.stream_host,
        .port = a->o.stream_port,
        .tls = &a->tls,
        .connect_timeout_ns = a->o.connect_timeout_ns,
        .backoff_base_ns = a->o.reconnect_ns,
        .backoff_max_ns = a->o.reconnect_max_ns,
    };
    if ((rc = desk_conn_init(&s->conn, &a->loop, &cc, &st_cb, a)) != 0)
        return DESK_ERR(rc, "connector '%s': stream %s:%u: %s", a->name, a->o.stream_host,
                        (unsigned)a->o.stream_port, prev_err(eb, sizeof eb));
    s->conn_ok = 1;
    a->net_ok = 1;
    return 0;
}

/* Close everything and let the loop deliver the closes (bounded). */
static DESK_COLD void net_quiesce(struct alpaca *a)
{
    if (!a->loop_ok)
        return;
    if (a->st.conn_ok) {
        if (a->st.phase >= SP_AUTH && a->st.ws)
            (void)desk_ws_close(a->st.ws, 1000, "bye");
        desk_conn_close(&a->st.conn);
    }
    for (uint32_t i = 0; i < a->trade.ninit; i++)
        desk_conn_close(&a->trade.conn[i]);
    for (uint32_t i = 0; i < a->data.ninit; i++)
        desk_conn_close(&a->data.conn[i]);
    uint64_t end = desk_now_ns() + 1000 * MS;
    for (;;) {
        int busy = a->st.conn_ok && desk_conn_state(&a->st.conn) != DESK_CONN_IDLE;
        for (uint32_t i = 0; i < a->trade.ninit; i++)
            busy |= desk_conn_state(&a->trade.conn[i]) != DESK_CONN_IDLE;
        for (uint32_t i = 0; i < a->data.ninit; i++)
            busy |= desk_conn_state(&a->data.conn[i]) != DESK_CONN_IDLE;
        if (!busy || desk_now_ns() > end)
            break;
        (void)desk_loop_wait(&a->loop, 10 * MS);
        (void)desk_loop_poll(&a->loop, desk_now_ns());
    }
}

static DESK_COLD void alp_destroy(void *self)
{
    struct alpaca *a = self;

    if (a == NULL)
        return;
    int saved = a->connected;
    a->connected = 0;
    (void)saved;
    net_quiesce(a);
    for (uint32_t i = 0; i < a->trade.ninit; i++)
        (void)desk_conn_fini(&a->trade.conn[i]);
    for (uint32_t i = 0; i < a->data.ninit; i++)
        (void)desk_conn_fini(&a->data.conn[i]);
    for (uint32_t i = 0; i < ALP_MAX_POOL; i++) {
        desk_http_resp_destroy(a->trade.resp[i]);
        desk_http_resp_destroy(a->data.resp[i]);
    }
    if (a->st.conn_ok)
        (void)desk_conn_fini(&a->st.conn);
    desk_ws_destroy(a->st.ws);
    if (a->loop_ok)
        desk_loop_fini(&a->loop);
    if (a->tls_ok)
        desk_tls_ctx_fini(&a->tls);
    desk_json_destroy(a->json);
    free(a->d);
    free(a->ao);
    free(a->work);
    free(a->map_mem);
    free(a->evq);
    free(a->olist);
    free(a->inst_id);
    free(a->quote);
    free(a->have_quote);
    free(a->inst_sym);
    free(a->rep_pos);
    explicit_bzero(&a->o, sizeof a->o); /* the credentials */
    free(a);
}

/*
 * The account and positions, fetched once, synchronously, over the
 * connector's own loop (deskd's main thread, before connect()).  Bounded by
 * bootstrap_timeout_ms.  Returns 0 or -errno with desk_errmsg().
 */
static DESK_COLD int bootstrap(struct alpaca *a)
{
    int rc;

    if (a->boot_rc != 1)
        return a->boot_rc;
    if ((rc = net_start(a)) != 0) {
        a->boot_rc = rc;
        return rc;
    }
    a->booting = 1;
    a->boot_acct = a->boot_pos = 0;
    a->boot_err = 0;
    a->boot_why[0] = '\0';
    uint64_t t0 = desk_now_ns(), now = t0, deadline = t0 + a->o.boot_timeout_ns;
    ep_open(&a->trade, 1);
    while (now < deadline && !(a->boot_acct && a->boot_pos) && a->boot_err == 0) {
        (void)desk_loop_poll(&a->loop, now);
        ep_expire(&a->trade, now);
        ep_open(&a->trade, 1);
        a->work_dirty = 1;
        (void)pump(a, now);
        (void)desk_loop_wait(&a->loop, 5 * MS);
        now = desk_now_ns();
    }
    a->booting = 0;
    if (a->boot_acct && a->boot_pos) {
        a->boot_rc = 0;
        desk_host_log(a->host,
                      "alpaca: https://%s:%u: cash %lld.%08lld, buying power %lld.%08lld, "
                      "%d position(s)",
                      a->o.base_host, (unsigned)a->o.base_port,
                      (long long)(a->bal.cash / DESK_SCALE), (long long)(a->bal.cash % DESK_SCALE),
                      (long long)(a->bal.buying_power / DESK_SCALE),
                      (long long)(a->bal.buying_power % DESK_SCALE), a->npos);
        return 0;
    }
    if (a->boot_err)
        rc = a->boot_err;
    else if (strstr(a->boot_why, "refused"))
        rc = -ECONNREFUSED;
    else if (a->boot_why[0] == '\0' || strstr(a->boot_why, "timed out"))
        rc = -ETIMEDOUT;
    else
        rc = -EAGAIN;
    /* Not cached: a later call (deskd retrying) tries again. */
    return DESK_ERR(rc, "alpaca venue https://%s:%u not usable after %llu ms: %s%s", a->o.base_host,
                    (unsigned)a->o.base_port, (unsigned long long)((now - t0) / MS),
                    a->boot_why[0] ? a->boot_why : "no answer",
                    rc == -EACCES ? "" : " (retry `desk up` once the venue answers)");
}

static DESK_COLD int alp_get_buying_power(void *self, desk_balance_t *out)
{
    struct alpaca *a = self;
    int rc = bootstrap(a);

    if (rc != 0)
        return rc;
    *out = a->bal;
    return 0;
}

static DESK_COLD int alp_get_positions(void *self, desk_position_t *out, size_t cap)
{
    struct alpaca *a = self;
    int rc = bootstrap(a);

    if (rc != 0)
        return rc;
    if (a->npos < 0)
        return DESK_ERR(-ENOSPC, "alpaca: more than %u positions at the venue", ALP_MAX_POS);
    if ((size_t)a->npos > cap)
        return DESK_ERR(-ENOSPC, "alpaca: %d positions, room for %zu", a->npos, cap);
    memcpy(out, a->pos, (size_t)a->npos * sizeof *out);
    return a->npos;
}

static DESK_COLD int alp_connect(void *self)
{
    struct alpaca *a = self;
    int rc = net_start(a);

    if (rc != 0)
        return rc;
    uint64_t now = desk_now_ns();
    a->connected = 1;
    desk_breaker_link(&a->br, 1, now, NULL);
    desk_breaker_link(&a->dbr, 1, now, NULL);
    ep_open(&a->trade, a->trade.ninit);
    ep_open(&a->data, a->data.ninit);
    if (desk_conn_state(&a->st.conn) == DESK_CONN_IDLE)
        (void)desk_conn_open(&a->st.conn);
    a->account_at_ns = now + a->o.account_interval_ns;
    a->quote_at_ns = now;
    a->work_dirty = 1;
    health(a);
    return 0;
}

static DESK_COLD int alp_disconnect(void *self)
{
    struct alpaca *a = self;

    a->connected = 0;
    net_quiesce(a);
    desk_breaker_link(&a->br, 0, desk_now_ns(), "disconnected");
    health(a);
    return 0;
}

static int alp_poll(void *self, uint64_t now)
{
    struct alpaca *a = self;
    int work = 0;

    if (a->loop_ok)
        work += desk_loop_poll(&a->loop, now);
    work += evq_drain(a);
    if (!a->connected)
        return work;
    ep_expire(&a->trade, now);
    ep_expire(&a->data, now);
    ep_open(&a->trade, a->trade.ninit);
    ep_open(&a->data, a->data.ninit);
    if (desk_conn_state(&a->st.conn) == DESK_CONN_IDLE && now >= a->st.reopen_at_ns)
        (void)desk_conn_open(&a->st.conn);
    stream_tick(a, now);
    if (a->nhold)
        hold_expire(a, now);
    desk_breaker_tick(&a->br, now);
    desk_breaker_tick(&a->dbr, now);
    work += pump(a, now);
    health(a);
    return work;
}

/* Take a desk order and its first Alpaca order for `cmd` (its fields
 * copied, cur set).  Returns the Alpaca order's index, or NONE when either
 * table is full (then nothing is taken).  No allocation. */
static uint32_t order_take(struct alpaca *a, const desk_vcmd_t *cmd)
{
    uint32_t di = dord_alloc(a);
    if (di == NONE)
        return NONE;
    uint32_t i = aord_alloc(a, di, cmd->cl_ord_id);
    if (i == NONE) {
        dord_unalloc(a, di);
        return NONE;
    }
    struct dord *D = &a->d[di];
    D->order_id = cmd->order_id;
    D->instrument = cmd->instrument;
    D->side = cmd->side;
    D->ord_type = cmd->ord_type;
    D->tif = cmd->tif;
    D->qty = cmd->qty;
    D->px = cmd->px;
    D->stop_px = cmd->stop_px;
    D->cur = i;
    return i;
}

/*
 * DESK_CMD_RECOVER (through place_order, core/host.c): adopt an order of an
 * earlier run, asking the venue about its client_order_id and about the
 * request in flight at the crash (orig_cl_ord_id: a replace's new
 * client_order_id, or a cancel's number, which the venue never saw).
 * Nothing is sent but GETs (recover_settle() says what follows).  Returns
 * 0, -EINVAL (unknown instrument, ClOrdID 0 or already known) or -ENOSPC.
 * Connector thread; cold (recovery only).
 */
static DESK_COLD int alp_recover(struct alpaca *a, const desk_vcmd_t *cmd)
{
    const desk_instrument_t *in = desk_host_instrument(a->host, cmd->instrument);

    if (in == NULL || cmd->cl_ord_id == 0 || desk__alpaca_map_get(&a->map, cmd->cl_ord_id) != NONE)
        return -EINVAL;
    uint32_t i = order_take(a, cmd);
    if (i == NONE)
        return -ENOSPC;
    uint32_t di = a->ao[i].dord;
    struct dord *D = &a->d[di];
    a->ao[i].st = AS_RECOVER;
    a->ao[i].rec = REC_ASKING;
    a->nrecover++;
    work_add(a, i);
    if (cmd->orig_cl_ord_id && desk__alpaca_map_get(&a->map, cmd->orig_cl_ord_id) == NONE) {
        uint32_t ri = aord_alloc(a, di, cmd->orig_cl_ord_id);
        if (ri == NONE) {
            alog(a, "alpaca: recovery: no room for the request d%llu of d%llu: not asked",
                 (unsigned long long)cmd->orig_cl_ord_id, (unsigned long long)cmd->cl_ord_id);
        } else {
            struct aord *R = &a->ao[ri];
            R->is_repl = 1;
            R->prev = i;
            R->st = AS_RECOVER;
            R->rec = REC_ASKING;
            D->repl = ri;
            a->nrecover++;
            work_add(a, ri);
        }
    }
    a->work_dirty = 1;
    return 0;
}

/* place/cancel/replace: queue, then try to send at once (hot path: no
 * allocation, no syscall; io_uring submits from the next loop turn). */
static int alp_place(void *self, const desk_vcmd_t *cmd)
{
    struct alpaca *a = self;
    const desk_instrument_t *in = desk_host_instrument(a->host, cmd->instrument);

    if (!a->connected)
        return -ENOTCONN;
    if (cmd->type == DESK_CMD_RECOVER)
        return alp_recover(a, cmd);
    if (in == NULL || desk__alpaca_map_get(&a->map, cmd->cl_ord_id) != NONE)
        return -EINVAL; /* unknown instrument, or a ClOrdID already used: never twice */
    if (desk_alpaca_order_encode(cmd, in->symbol, a->body, sizeof a->body) < 0)
        return -EINVAL; /* the venue could not take it: REJECT */
    uint32_t i = order_take(a, cmd);
    if (i == NONE)
        return -ENOSPC;
    a->ao[i].st = AS_QUEUED;
    work_add(a, i);
    (void)pump(a, desk_now_ns());
    return 0;
}

static int alp_cancel(void *self, const desk_vcmd_t *cmd)
{
    struct alpaca *a = self;
    uint32_t i = desk__alpaca_map_get(&a->map, cmd->orig_cl_ord_id);

    if (i == NONE)
        return -ENOENT; /* CANCEL_REJECT */
    struct dord *D = &a->d[a->ao[i].dord];
    if (D->order_id != cmd->order_id || D->done || D->cancel_req || D->repl != NONE)
        return -EINVAL;
    D->cancel_req = 1;
    struct aord *A = &a->ao[D->cur];
    if (A->cx == CX_NONE)
        A->cx = CX_WANT;
    A->cx_attempts = 0;
    work_add(a, D->cur);
    (void)pump(a, desk_now_ns());
    return 0;
}

static int alp_replace(void *self, const desk_vcmd_t *cmd)
{
    struct alpaca *a = self;
    uint32_t i = desk__alpaca_map_get(&a->map, cmd->orig_cl_ord_id);

    if (i == NONE)
        return -ENOENT;
    uint32_t di = a->ao[i].dord;
    struct dord *D = &a->d[di];
    if (D->order_id != cmd->order_id || D->done || D->cancel_req || D->repl != NONE ||
        cmd->qty <= D->cum || desk__alpaca_map_get(&a->map, cmd->cl_ord_id) != NONE)
        return -EINVAL;
    uint32_t ri = aord_alloc(a, di, cmd->cl_ord_id);
    if (ri == NONE)
        return -ENOSPC;
    struct aord *R = &a->ao[ri];
    R->is_repl = 1;
    R->prev = D->cur;
    R->new_qty = cmd->qty;
    R->new_px = cmd->px;
    R->st = AS_QUEUED;
    D->repl = ri;
    work_add(a, ri);
    (void)pump(a, desk_now_ns());
    return 0;
}

static int alp_get_quote(void *self, uint32_t instrument, desk_quote_t *out)
{
    struct alpaca *a = self;

    for (uint32_t j = 0; j < a->ninst; j++)
        if (a->inst_id[j] == instrument) {
            if (!a->have_quote[j])
                return -ENOENT;
            *out = a->quote[j];
            return 0;
        }
    return -ENOENT;
}

static const desk_connector_ops_t alpaca_ops = {
    .abi = DESK_CONNECTOR_ABI,
    .type = "alpaca",
    .create = alp_create,
    .destroy = alp_destroy,
    .connect = alp_connect,
    .disconnect = alp_disconnect,
    .poll = alp_poll,
    .place_order = alp_place,
    .cancel_order = alp_cancel,
    .replace_order = alp_replace,
    .get_quote = alp_get_quote,
    .get_positions = alp_get_positions,
    .get_buying_power = alp_get_buying_power,
};

const desk_connector_ops_t *desk_alpaca_ops(void)
{
    return &alpaca_ops;
}
