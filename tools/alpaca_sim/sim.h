/*
 * sim.h - desk-alpaca-sim internals: an Alpaca Trading API v2 venue on
 * loopback (README.md in this folder describes its flags and endpoints).
 *
 * Threads.
 *   main       parses flags, loads market data, accepts TLS connections and
 *              shuts everything down on SIGTERM/SIGINT (main.c);
 *   md         replays the recorded market data into the paper matching
 *              engine at the configured speed (venue.c);
 *   one per connection: TLS, HTTP/1.1 keep-alive requests (api.c), and after
 *              an upgrade on /stream the trade_updates WebSocket (conn.c).
 * One mutex, g_sim.mu, guards the whole venue: engine, orders, fills,
 * stream sessions' queues, faults, rate-limit windows and counters.  The
 * engine's emit callback runs under it and only touches venue state (it
 * queues trade_updates; the connection threads write them).  TLS objects are
 * touched only by their connection's thread.
 *
 * This is a test tool, not desk's hot path: it allocates, blocks, formats
 * with printf and parses requests with cJSON, so that nothing in it shares
 * code with the product's Alpaca codec it is meant to test.
 */
#ifndef DESK_ALPACA_SIM_H
#define DESK_ALPACA_SIM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "connectors/paper/engine.h"
#include "connectors/paper/md.h"

/* ---------------------------------------------------------------- strings */

/* A growable byte buffer (sim only: allocation failure aborts). */
typedef struct sim_buf {
    char *p;    /* owned, NUL terminated when n > 0 */
    size_t n;   /* bytes used */
    size_t cap; /* bytes allocated */
} sim_buf_t;

void sim_buf_put(sim_buf_t *b, const void *s, size_t n);
void sim_buf_puts(sim_buf_t *b, const char *s);
void sim_buf_printf(sim_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_buf_json_str(sim_buf_t *b, const char *s); /* "s", JSON-escaped */
void sim_buf_fixed(sim_buf_t *b, int64_t v);        /* "223.82" (a JSON string) */
void sim_buf_fixed_num(sim_buf_t *b, int64_t v);    /* 223.82 (a JSON number) */
void sim_buf_time(sim_buf_t *b, int64_t ns);        /* "2024-...T...123456789Z" or null if 0 */
void sim_buf_free(sim_buf_t *b);

/* 1 once SIGTERM/SIGINT asked every thread to stop. */
#define SIM_STOPPING() atomic_load_explicit(&g_sim.stop, memory_order_relaxed)

/* ----------------------------------------------------------------- config */

typedef struct sim_cfg {
    const char *host;      /* listen address (loopback only) */
    int port;              /* listen port (0: any; see port_file) */
    const char *port_file; /* write the bound port here once listening */
    const char *cert;      /* PEM certificate */
    const char *key;       /* PEM private key */
    const char *key_id;    /* APCA-API-KEY-ID accepted */
    const char *secret;    /* APCA-API-SECRET-KEY accepted */
    const char *data;      /* market data (desk_md_load path) */
    const char *symbol;    /* symbol served (default: the data's) */
    double speed;          /* replay speed vs wall clock; 0: manual (/_sim/advance) */
    int loop;              /* 1: restart the data at its end (next day) */
    uint64_t md_skip;      /* start replay at this md event index */
    int64_t cash;          /* starting cash, 1e-8 */
    int allow_short;       /* 1: sells need no position */
    int rate_limit;        /* requests per window per key (Alpaca: 200) */
    int rate_window_ms;    /* window length (Alpaca: 60000) */
    int verbose;           /* log every request to stderr */
} sim_cfg_t;

/* ------------------------------------------------------------------ state */

/* Fault switches (POST /_sim/faults; README.md).  Counts are "next N". */
typedef struct sim_faults {
    int drop_before;       /* next N requests: connection closed, request not run */
    int drop_after;        /* next N requests: run, then connection closed unanswered */
    int stall;             /* 1: requests and stream messages wait until cleared */
    int delay_ms;          /* every reply waits this long */
    int err_5xx;           /* next N requests: 5xx, not run */
    int status_5xx;        /* the 5xx status (500, 502, 503 or 504) */
    int err_429;           /* next N requests: 429 + Retry-After, not run */
    int malformed;         /* next N replies with a body: JSON cut in half */
    int malformed_updates; /* next N trade_updates: a cut frame first */
    int split_writes;      /* 1: every TLS write is 1-byte SSL_write calls */
    int dup_updates;       /* 1: every trade_update is sent twice */
    int reorder_updates;   /* 1: trade_updates are delivered pairwise swapped */
} sim_faults_t;

/* One queued stream message. */
typedef struct sim_msg {
    struct sim_msg *next; /* FIFO link */
    int64_t at_ns;        /* CLOCK_MONOTONIC when queued */
    size_t len;           /* payload bytes */
    char data[];          /* payload */
} sim_msg_t;

/* A trade_updates WebSocket session (owned by its connection thread; linked
 * into g_sim.ws under the mutex). */
typedef struct sim_ws {
    struct sim_ws *next; /* g_sim.ws list */
    int efd;             /* eventfd: "queue has messages" */
    int authed;          /* authenticate succeeded */
    int listening;       /* listening to trade_updates */
    int kill;            /* drop the connection now (fault) */
    sim_msg_t *head;     /* outgoing queue */
    sim_msg_t *tail;     /* its last element */
    sim_msg_t *held;     /* reorder fault: message held back */
} sim_ws_t;

/* Order lifecycle as the simulator tracks it. */
typedef struct sim_order {
    char id[40];          /* uuid v4 */
    char clid[64];        /* client_order_id */
    uint8_t side;         /* desk_side_t */
    uint8_t type;         /* desk_ord_type_t */
    uint8_t tif;          /* desk_tif_t */
    uint8_t ext_hours;    /* extended_hours */
    const char *status;   /* Alpaca status string (static) */
    int64_t qty;          /* order qty, 1e-8 */
    int64_t filled_qty;   /* filled on this Alpaca order, 1e-8 */
    __int128 filled_val;  /* sum of px * qty (1e-16 units) for the average */
    int64_t limit_px;     /* 0: none */
    int64_t stop_px;      /* 0: none */
    uint64_t eng_id;      /* paper engine order id */
    int64_t base_cum;     /* engine cum qty when this order took over (replace) */
    int replaced_by;      /* order index or -1 */
    int replaces;         /* order index or -1 */
    int64_t created_ns, updated_ns, submitted_ns, filled_ns; /* wall clock; 0: null */
    int64_t canceled_ns, expired_ns, replaced_ns, failed_ns; /* ditto */
} sim_order_t;

/* One fill, as recorded for /_sim/state. */
typedef struct sim_fill {
    int order;          /* order index */
    char exec_id[40];   /* execution_id sent on the stream */
    int64_t qty, px;    /* 1e-8 */
    int64_t pos_after;  /* position after the fill */
} sim_fill_t;

/* Outcome of one engine command, gathered by the emit callback. */
typedef struct sim_cmd_result {
    int ack, reject, replaced, cancel_reject, canceled; /* events seen */
    uint16_t reason;                                    /* REJECT/CANCEL_REJECT reason */
    sim_buf_t snap;                                     /* order JSON at ACK/REPLACED */
    int snap_order;                                     /* index whose snapshot is wanted */
} sim_cmd_result_t;

typedef struct sim {
    sim_cfg_t cfg;                /* flags */
    pthread_mutex_t mu;           /* guards everything below */
    desk_md_t *md;                /* loaded market data (immutable) */
    desk_paper_engine_t *eng;     /* the matching engine */
    uint64_t md_idx;              /* next md event to feed */
    uint64_t md_loops;            /* completed passes over the data */
    int64_t md_offset;            /* ns added to md times (loops) */
    int64_t md_t0;                /* data time at replay start */
    int64_t wall_t0;              /* CLOCK_MONOTONIC at replay start */
    int64_t last_quote_ns;        /* data time of the last QUOTE fed */
    char symbol[DESK_SYMBOL_MAX]; /* symbol served */
    char asset_id[40];            /* fixed uuid for the symbol */
    sim_order_t *orders;          /* all orders, in creation order */
    int norders, cap_orders;      /* used / allocated */
    int *eng_map;                 /* engine order id -> order index */
    uint64_t next_eng_id;         /* engine order ids: 1, 2, ... */
    uint64_t next_eng_clid;       /* engine ClOrdIDs: 1, 2, ... */
    sim_fill_t *fills;            /* every fill */
    int nfills, cap_fills;        /* used / allocated */
    int64_t pos_qty;              /* position, from fills */
    int64_t phantom_qty;          /* books fault: position moved with no order or update */
    int64_t phantom_cash;         /* books fault: cash moved likewise (1e-8) */
    sim_cmd_result_t res;         /* current command's outcome */
    sim_ws_t *ws;                 /* stream sessions */
    sim_faults_t faults;          /* fault switches */
    int64_t *rate_ts;             /* ring of request times (ms) for the key */
    int rate_n, rate_head;        /* entries used / next slot */
    uint64_t n_requests, n_post_orders, n_trade_updates, n_rate_limited, n_forbidden;
    _Atomic int stop;             /* set on SIGTERM; read by every thread (relaxed:
                                     a flag, all data it guards is under mu) */
} sim_t;

extern sim_t g_sim;

/* ---------------------------------------------------------------- venue.c */

int sim_venue_init(void);               /* engine, md, first quote; 0 or -1 */
void sim_venue_fini(void);              /* free engine, md, orders */
void *sim_md_thread(void *arg);         /* replay loop until g_sim.stop */
int sim_md_advance(uint64_t n);         /* feed n md events now (locked by caller) */
int64_t sim_now_wall(void);             /* CLOCK_REALTIME ns */
int64_t sim_now_mono(void);             /* CLOCK_MONOTONIC ns */
void sim_uuid(char out[40]);            /* random uuid v4 */
void sim_order_json(sim_buf_t *b, int idx); /* the Order object */
int sim_order_is_final(const sim_order_t *o);
int sim_order_find(const char *id);     /* index or -1 */
int sim_order_find_clid(const char *clid);
int sim_order_new(void);                /* append a zeroed order, return its index */
void sim_order_pop(void);               /* drop the last order (a refused tentative one) */
int sim_engine_cmd(const desk_vcmd_t *cmd, int snap_order); /* run under mu; fills g_sim.res */
void sim_ws_queue(sim_ws_t *w, const char *data, size_t len); /* under mu */
void sim_ws_free_queue(sim_ws_t *w);
void sim_ws_flush_held(sim_ws_t *w); /* under mu: release a held update older than 200 ms */
void sim_faults_json(sim_buf_t *b);

/* ------------------------------------------------------------------ api.c */

/* One parsed HTTP request. */
typedef struct sim_req {
    char method[16];       /* "GET", ... */
    sim_buf_t url;         /* request target */
    sim_buf_t body;        /* body bytes */
    char key_id[128];      /* APCA-API-KEY-ID, "" if absent */
    char secret[128];      /* APCA-API-SECRET-KEY, "" if absent */
    char ws_key[64];       /* Sec-WebSocket-Key */
    int upgrade;           /* Upgrade: websocket */
    int keep_alive;        /* http_should_keep_alive() */
} sim_req_t;

/* A reply to write. */
typedef struct sim_resp {
    int status;          /* HTTP status */
    sim_buf_t body;      /* JSON body (empty for 204) */
    int retry_after;     /* seconds, > 0 adds Retry-After */
    int drop;            /* close the connection without answering */
} sim_resp_t;

void sim_api_handle(const sim_req_t *req, sim_resp_t *resp);

/* ----------------------------------------------------------------- conn.c */

void *sim_conn_thread(void *arg); /* arg: struct sim_conn * (owned) */

/* A connection handed from the accept loop to its thread. */
typedef struct sim_conn {
    struct sim_conn *next; /* main's list, for shutdown */
    int fd;                /* socket (non-blocking) */
    SSL_CTX *ctx;          /* shared context (borrowed) */
    pthread_t tid;         /* its thread */
    _Atomic int done;      /* thread finished: set by it, read by main to reap */
} sim_conn_t;

#endif /* DESK_ALPACA_SIM_H */
