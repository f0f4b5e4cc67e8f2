/*
 * config.h - desk.toml, loaded once at start into plain C structs.
 *
 * The file is parsed by tomlplusplus behind a small C++ shim (toml_shim.cc);
 * this module walks the tree against desk's schema.  Rules:
 *   - an unknown key, a wrong type, or an out-of-range value is an error
 *     naming the key and its line ("desk.toml:12: unknown key 'strategy.maxqty'");
 *   - credentials are given only by reference, `{ env = "VAR" }` or
 *     `{ file = "/run/secrets/x" }`; any key whose name contains "key",
 *     "secret", "password", "passphrase" or "token" holding a literal string
 *     is refused, naming the key and its line;
 *   - a string longer than its field is an error, never a silent cut;
 *   - decimals (prices, sizes, money) are TOML strings ("0.01") or integers,
 *     converted exactly to fixed point (a float would already be rounded).
 * The reference of every key is desk.toml.example and README.md.
 *
 * Thread-safety: desk_config_load() is cold and single-threaded; the loaded
 * struct is immutable afterwards and may be read from any thread.
 */
#ifndef DESK_CONFIG_H
#define DESK_CONFIG_H

#include <stdint.h>
#include <sys/types.h>

#include "desk/connector.h"
#include "desk/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DESK_MAX_CONNECTORS 16
#define DESK_MAX_INSTRUMENTS 256
#define DESK_MAX_STRATEGIES 32
#define DESK_MAX_OPTS 32          /* options per connector */
#define DESK_OPT_VALUE_MAX 512    /* bytes incl. NUL of one option value */
#define DESK_PATH_MAX 512

/* How a thread waits when it has nothing to do. */
typedef enum desk_idle {
    DESK_IDLE_SPIN = 0,    /* busy poll with pause: lowest latency, one core */
    DESK_IDLE_YIELD = 1,   /* sched_yield between polls */
    DESK_IDLE_BACKOFF = 2, /* spin, then yield, then sleep up to idle_max_us */
} desk_idle_t;

/*
 * Risk limits.  0 means "no limit" for every field.  They are given globally
 * ([guard]), per strategy ([strategy.limits]) and per instrument
 * ([instrument.limits]); the guard applies the tightest that is set.
 */
typedef struct desk_limits {
    int64_t max_order_qty;         /* per order, 1e-8 */
    int64_t max_order_notional;    /* per order, money 1e-8 */
    int64_t max_position_qty;      /* |position| after a full fill, 1e-8 */
    int64_t max_position_notional; /* |position| * price after a full fill, money 1e-8 */
    int64_t daily_loss;            /* max loss (realized + unrealized), money 1e-8, > 0 */
    uint32_t collar_bps;           /* max distance of a limit from the quote mid, bps */
    uint32_t orders_per_sec;       /* throttle: sustained new+replace per second */
    uint32_t burst;                /* throttle: bucket depth (default = orders_per_sec) */
    uint32_t pad_;
} desk_limits_t;

typedef struct desk_opt_store {
    char key[DESK_NAME_MAX];          /* option name */
    char value[DESK_OPT_VALUE_MAX];   /* its text (resolved, for secrets) */
    int line;                         /* line in desk.toml */
    int secret;                       /* 1 if from { env } / { file } */
} desk_opt_store_t;

typedef struct desk_connector_conf {
    char name[DESK_NAME_MAX];   /* unique connector name */
    char type[DESK_NAME_MAX];   /* "paper" (built in) or "custom" */
    char path[DESK_PATH_MAX];   /* custom: the shared object to dlopen */
    uint8_t venue_type;         /* desk_venue_type_t */
    int cpu;                    /* CPU to pin its thread to, -1 = none */
    int thread;                 /* connectors with the same thread number share
                                   one connector thread; default: own thread */
    uint32_t nopts;             /* entries used in opts */
    desk_opt_store_t opts[DESK_MAX_OPTS]; /* [connector.options] */
    desk_opt_t optv[DESK_MAX_OPTS];       /* views of opts, for the ABI */
} desk_connector_conf_t;

typedef struct desk_instrument_conf {
    char symbol[DESK_SYMBOL_MAX]; /* venue symbol */
    char venue[DESK_NAME_MAX];    /* connector name */
    uint8_t asset_class;          /* desk_asset_class_t */
    int64_t tick_size;            /* 1e-8, > 0 */
    int64_t lot_size;             /* 1e-8, > 0 */
    int64_t min_notional;         /* money 1e-8, >= 0 */
    int32_t open_min, close_min;  /* "HH:MM-HH:MM" UTC hours, or -1/-1 = always */
    desk_limits_t limits;         /* per-instrument limits */
} desk_instrument_conf_t;

typedef struct desk_strategy_conf {
    char name[DESK_NAME_MAX]; /* strategy name: segment desk.<desk>.<name> */
    uid_t uid;                /* owner of its segment (default: deskd's uid) */
    gid_t gid;                /* group of its segment (default: deskd's gid) */
    uint32_t mode;            /* permission bits of its segment, default 0600 */
    int cancel_on_disconnect; /* cancel its open orders if it dies, detaches or stops
                                 heartbeating (default 1) */
    uint32_t heartbeat_timeout_ms; /* a live process whose heartbeat (written by
                                      desk_poll) is older than this is treated as
                                      disconnected; 0 = off (default 5000; 0 or
                                      100..86400000) */
    uint32_t order_ring;      /* order ring slots, power of two (default 4096) */
    uint32_t event_ring;      /* event ring slots, power of two (default 16384) */
    desk_limits_t limits;     /* per-strategy limits */
} desk_strategy_conf_t;

typedef struct desk_config {
    char path[DESK_PATH_MAX];        /* the file loaded */
    char dir[DESK_PATH_MAX];         /* its directory */
    char name[DESK_NAME_MAX];        /* [desk] name: segments are /dev/shm/desk.<name> */
    uint8_t idle;                    /* desk_idle_t for router and connectors */
    uint32_t idle_max_us;            /* backoff: longest sleep, microseconds (default 200) */
    int router_cpu;                  /* CPU to pin the router thread to, -1 = none */
    uint32_t order_capacity;         /* order table size, power of two (default 65536) */
    uint64_t clordids_per_day;       /* ClOrdIDs remembered per day (default 3 * order_capacity;
                                        16 bytes * 4/3 each) */
    uint32_t status_interval_ms;     /* how often deskd refreshes status blocks (default 100) */
    desk_limits_t limits;            /* [guard] global limits */
    int halt_cancels_all;            /* [guard] halt_cancels_all: every change of the kill
                                        switch to HALTED (desk halt, the daily loss limit, a
                                        journal failure) also cancels every open order
                                        (default 0) */
    char journal_dir[DESK_PATH_MAX]; /* [journal] dir as written (default "journal");
                                        relative to dir */
    uint8_t journal_fsync;           /* [journal] fsync: 0 none, 1 interval, 2 every
                                        (desk_fsync_t; default interval) */
    uint32_t journal_interval_ms;    /* [journal] fsync = "interval:MS" (default 10) */
    int64_t recon_cash_tolerance;    /* [reconcile] cash_tolerance: venue and desk cash may
                                        differ by this much, money 1e-8 (default 0.01) */
    uint32_t recon_bp_tolerance_bps; /* [reconcile] buying_power_tolerance_bps: the venue's
                                        buying power may be below the desk's by this share
                                        of the desk's reservations (default 100 = 1%) */
    uint32_t nconnectors;
    desk_connector_conf_t connectors[DESK_MAX_CONNECTORS];
    uint32_t ninstruments;
    desk_instrument_conf_t instruments[DESK_MAX_INSTRUMENTS];
    uint32_t nstrategies;
    desk_strategy_conf_t strategies[DESK_MAX_STRATEGIES];
} desk_config_t;

/*
 * Load and validate `path` into *cfg (caller storage; about 1 MB, so
 * allocate it, do not put it on a small stack).  Returns 0, or:
 *   -ENOENT / -EACCES  the file cannot be read;
 *   -EBADMSG           TOML syntax error (message has the line and column);
 *   -EISDIR / -EFBIG / -ENAMETOOLONG  a directory, a file too large, a path
 *                      too long;
 *   -EINVAL            a schema error: unknown key, wrong type, bad value,
 *                      literal secret, duplicate name, unresolvable
 *                      credential reference, not a regular file; the message
 *                      names the key and the line;
 *   -ENOMEM.
 * desk_errmsg() holds the message.  On failure *cfg is zeroed (credentials
 * already resolved are wiped).  connectors[i].optv points into *cfg itself:
 * never copy or move a loaded desk_config_t.  Cold; not thread-safe.
 */
int desk_config_load(desk_config_t *cfg, const char *path);

/*
 * The same from a string already in memory; `name` is used in messages
 * (and its directory as cfg->dir).  Used by tests and the fuzz target.
 */
int desk_config_load_string(desk_config_t *cfg, const char *text, size_t len, const char *name);

/* Parse "spin" / "yield" / "backoff"; -EINVAL otherwise. */
int desk_idle_parse(const char *s, desk_idle_t *out);

#ifdef __cplusplus
}
#endif

#endif /* DESK_CONFIG_H */
