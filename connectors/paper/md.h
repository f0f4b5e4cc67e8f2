/*
 * md.h - recorded market data for the paper venue, loaded whole at start.
 *
 * A capture becomes one array of desk_md_event_t in time order: QUOTE (top of
 * book) and TRADE events, prices and sizes in fixed point at 1e-8, times in
 * ns since the Unix epoch (UTC).  Loading is cold (it allocates and reads
 * files); the replay afterwards only indexes the array.
 *
 * Formats (shared/data/marketdata/README.md describes both):
 *  - Binance combined-stream capture: gzip (or plain) text, one message per
 *    line, `<local_ts_ns> <json>`.  btcusdt@bookTicker -> QUOTE (b, B, a, A);
 *    btcusdt@trade -> TRADE (p, q; m = true means the buyer was the maker, so
 *    the aggressor SOLD).  Both use local_ts_ns, the collector's one clock.
 *    depthUpdate lines and the REST snapshot line are validated, counted and
 *    skipped; other streams are counted and skipped.  Every line is decoded
 *    with the simdjson shim (connectors/net/json.h); a malformed line stops
 *    the load with an error naming its line number: nothing is skipped
 *    silently.
 *  - LOBSTER (message_N.csv + orderbook_N.csv, row k of each together): each
 *    row gives a QUOTE from the orderbook row (prices dollars * 10000, sizes
 *    in shares); message types 4 and 5 (executions) also give a TRADE just
 *    before that QUOTE (direction -1 = a resting sell was hit, so the
 *    aggressor BOUGHT).  Time is seconds after midnight New York time on the
 *    date in the file name (EDT/EST by the US daylight-saving rules).
 *
 * Thread-safety: loading is cold and single-threaded; a loaded desk_md_t is
 * immutable and may be read from any thread.
 */
#ifndef DESK_PAPER_MD_H
#define DESK_PAPER_MD_H

#include <stddef.h>
#include <stdint.h>

#include "connectors/net/json.h"
#include "core/desk_compiler.h"
#include "desk/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DESK_MD_LINE_MAX (1u << 20) /* longest Binance capture line accepted, bytes */
#define DESK_MD_PATH_MAX 1024       /* longest data path, bytes incl. NUL */

/* Kinds of market-data events. */
typedef enum desk_md_kind {
    DESK_MD_QUOTE = 1, /* top of book: bid/ask price and size */
    DESK_MD_TRADE = 2, /* a print: px, qty, aggressor side */
} desk_md_kind_t;

/* One market-data event, one cache line. */
typedef struct desk_md_event {
    int64_t ts_ns;     /* event time, ns since the Unix epoch (UTC) */
    uint8_t kind;      /* desk_md_kind_t */
    uint8_t aggressor; /* TRADE: desk_side_t of the taker; QUOTE: 0 */
    uint8_t pad_[6];   /* zero */
    int64_t bid_px;    /* QUOTE: best bid, 1e-8 (0: no bid); TRADE: 0 */
    int64_t bid_qty;   /* QUOTE: size at the best bid, 1e-8 */
    int64_t ask_px;    /* QUOTE: best ask, 1e-8 (0: no ask); TRADE: 0 */
    int64_t ask_qty;   /* QUOTE: size at the best ask, 1e-8 */
    int64_t px;        /* TRADE: price, 1e-8; QUOTE: 0 */
    int64_t qty;       /* TRADE: size, 1e-8; QUOTE: 0 */
} desk_md_event_t;

DESK_STATIC_ASSERT(sizeof(desk_md_event_t) == 64);

/* File formats. */
typedef enum desk_md_format {
    DESK_MD_BINANCE = 1, /* `<local_ts_ns> <json>` lines, gzip or plain */
    DESK_MD_LOBSTER = 2, /* LOBSTER message + orderbook CSV pair */
} desk_md_format_t;

/* What desk_md_binance_line() found on a line (values > 0). */
typedef enum desk_md_line {
    DESK_MD_LINE_QUOTE = 1,    /* bookTicker: *ev is a QUOTE */
    DESK_MD_LINE_TRADE = 2,    /* trade: *ev is a TRADE */
    DESK_MD_LINE_DEPTH = 3,    /* depthUpdate: valid JSON, skipped */
    DESK_MD_LINE_SNAPSHOT = 4, /* REST depth snapshot (no "stream"): skipped */
    DESK_MD_LINE_OTHER = 5,    /* another stream: skipped */
} desk_md_line_t;

/* A loaded capture (read-only after load). */
typedef struct desk_md {
    desk_md_event_t *ev;          /* owned: n events, ts_ns non-decreasing */
    size_t n;                     /* number of events */
    uint8_t format;               /* desk_md_format_t */
    char symbol[DESK_SYMBOL_MAX]; /* venue symbol of the data ("BTCUSDT", "AMZN") */
    char path[DESK_MD_PATH_MAX];  /* file loaded (LOBSTER: the message file) */
    uint64_t lines;               /* lines (Binance) or rows (LOBSTER) read */
    uint64_t quotes;              /* QUOTE events */
    uint64_t trades;              /* TRADE events */
    uint64_t depth;               /* Binance depthUpdate lines skipped */
    uint64_t snapshot;            /* Binance snapshot lines skipped */
    uint64_t other;               /* Binance lines of other streams skipped */
} desk_md_t;

/*
 * Find the data named by the connector's `data` option.  An absolute path is
 * used as it is; a relative one is tried, in order, as
 *     $DESK_DATA_DIR/<data>                       (when DESK_DATA_DIR is set)
 *     <config_dir>/../shared/data/marketdata/<data>
 *     <config_dir>/.cache/marketdata/<data>       (where tools/fetch-data.sh puts it)
 * (config_dir NULL means "."), and the first that exists is written to
 * out[cap].  Returns 0, -EINVAL (empty data or NULL out), -ENAMETOOLONG, or
 * -ENOENT with a desk_errmsg() that lists every path tried and says to run
 * tools/fetch-data.sh: synthetic data is never substituted.  Cold; any thread.
 */
int desk_md_resolve(const char *data, const char *config_dir, char *out, size_t cap);

/*
 * Load the capture at `path`: a directory or a *.csv file is LOBSTER (a
 * directory must hold exactly one *_message_*.csv; its orderbook file is the
 * same name with _orderbook_), anything else is a Binance capture.  On
 * success *out owns a new desk_md_t (free with desk_md_destroy()).  Returns
 * 0 or the error of desk_md_load_binance() / desk_md_load_lobster().  Cold.
 */
int desk_md_load(const char *path, desk_md_t **out);

/*
 * Load a Binance capture (gzip or plain text; see the file comment).
 * Returns 0, -ENOENT/-EIO (cannot open or read, or a corrupt gzip stream),
 * -EBADMSG (a malformed line, a line over DESK_MD_LINE_MAX, a time going
 * backwards, a second symbol, or no QUOTE at all), -ERANGE (a decimal that
 * is not exact at 1e-8) or -ENOMEM.  Every error names the file and line
 * through desk_errmsg().  Cold.
 */
int desk_md_load_binance(const char *path, desk_md_t **out);

/*
 * Load a LOBSTER pair from a directory or a message file (see
 * desk_md_load()).  Returns 0, -ENOENT/-EIO (files), -EINVAL (a file name
 * that does not say symbol and date, or a directory without exactly one
 * message file), -EBADMSG (a malformed row, row counts that differ, time
 * going backwards), or -ENOMEM; desk_errmsg() names file and row.  Cold.
 */
int desk_md_load_lobster(const char *path, desk_md_t **out);

/* Free a desk_md_t from a loader.  NULL is a no-op.  Cold. */
void desk_md_destroy(desk_md_t *md);

/*
 * Decode one Binance capture line (`<local_ts_ns> <json>`, a trailing "\n" or
 * "\r\n" allowed) with the JSON handle j (which must accept len bytes).  On
 * DESK_MD_LINE_QUOTE or DESK_MD_LINE_TRADE, *ev is the event (sizes >= 0,
 * prices > 0) and symbol[] holds the data's symbol, NUL terminated; other
 * results leave both untouched.  Returns a desk_md_line_t (> 0), or
 * -EBADMSG (no timestamp, bad JSON, a missing or mistyped field, a
 * non-positive price, a negative size, a symbol of 16+ bytes), -ERANGE (a
 * decimal finer than 1e-8 or too large) or -EMSGSIZE (the JSON is longer
 * than j accepts).  No allocation; the thread that owns j.
 */
int desk_md_binance_line(desk_json_t *j, const char *line, size_t len, desk_md_event_t *ev,
                         char symbol[DESK_SYMBOL_MAX]);

/*
 * Seconds to add to New York local time to get UTC on the civil date
 * y-m-d: 14400 (EDT) or 18000 (EST), by the US rules in force that year
 * (since 2007: second Sunday of March to first Sunday of November; before:
 * first Sunday of April to last Sunday of October).  Pure; any thread.
 */
int desk_md_ny_utc_offset(int y, int m, int d);

/* Days from 1970-01-01 to the civil (proleptic Gregorian) date y-m-d. */
int64_t desk_md_days_from_civil(int y, int m, int d);

#ifdef __cplusplus
}
#endif

#endif /* DESK_PAPER_MD_H */
