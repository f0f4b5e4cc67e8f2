/*
 * shm.c - create, attach and remove desk's shared-memory segments; see shm.h.
 *
 * Everything here is cold: deskd calls the create functions once at start,
 * strategies and `desk status` call the attach functions once at start, and
 * the unlink functions run at shutdown.  Each function unwinds with one
 * `goto fail` in reverse acquisition order and attaches a sentence to its
 * -errno with DESK_ERR().
 *
 * Publication of a header: a segment is zero when ftruncate() creates it, so
 * a reader that maps it early sees magic == 0 and refuses it.  The creator
 * fills every header field and formats the rings first, then stores the
 * magic with a release store; attach load-acquires the magic (pairs with
 * that store), so a reader that sees the right magic sees a complete header.
 * The magic is a plain uint64_t in the shared struct (its layout is ABI), so
 * the GCC __atomic builtins do the release/acquire on it.
 */
#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/clock.h"
#include "../core/err.h"

#define SHM_ALIGN ((uint64_t)DESK_FALSE_SHARING) /* every region starts on 128 B */
#define SHM_NAME_CAP 128                         /* "/desk.<32>.<32>" fits easily */

static uint64_t shm_align(uint64_t v)
{
    return (v + SHM_ALIGN - 1) & ~(SHM_ALIGN - 1);
}

/* ---- layout hash ---------------------------------------------------------- */

/* FNV-1a, 32-bit, over the 8 little-endian bytes of one number. */
static uint32_t fnv_mix(uint32_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (uint32_t)(v & 0xffu);
        h *= 16777619u;
        v >>= 8;
    }
    return h;
}

#define HASH_SIZE(T) h = fnv_mix(h, sizeof(T))
#define HASH_OFF(T, f) h = fnv_mix(h, offsetof(T, f))

/*
 * FNV-1a over the size of every shared struct and the offset of every field
 * a reader depends on, plus the constants that size the tables.  Two builds
 * that disagree on any of them disagree on the hash, and attach says so.
 * Pure; any thread.
 */
uint32_t desk_shm_layout_hash(void)
{
    uint32_t h = 2166136261u; /* FNV offset basis */

    h = fnv_mix(h, DESK_ABI_VERSION);
    h = fnv_mix(h, DESK_SHM_MAX_CONNECTORS);
    h = fnv_mix(h, DESK_SHM_MAX_INSTRUMENTS);
    h = fnv_mix(h, DESK_SHM_MAX_STRATEGIES);
    h = fnv_mix(h, DESK_SHM_OPEN_ORDERS);
    h = fnv_mix(h, DESK_SHM_REJECT_SLOTS);
    h = fnv_mix(h, DESK_HIST_NBUCKETS);
    h = fnv_mix(h, DESK_NAME_MAX);
    h = fnv_mix(h, DESK_SYMBOL_MAX);
    h = fnv_mix(h, DESK_SPSC_SLOT);

    /* Main header. */
    HASH_SIZE(struct desk_main_hdr);
    HASH_OFF(struct desk_main_hdr, magic);
    HASH_OFF(struct desk_main_hdr, abi_version);
    HASH_OFF(struct desk_main_hdr, layout_hash);
    HASH_OFF(struct desk_main_hdr, name);
    HASH_OFF(struct desk_main_hdr, router_pid);
    HASH_OFF(struct desk_main_hdr, ninstruments);
    HASH_OFF(struct desk_main_hdr, nconnectors);
    HASH_OFF(struct desk_main_hdr, nstrategies);
    HASH_OFF(struct desk_main_hdr, start_wall_ns);
    HASH_OFF(struct desk_main_hdr, start_mono_ns);
    HASH_OFF(struct desk_main_hdr, total_size);
    HASH_OFF(struct desk_main_hdr, off_instruments);
    HASH_OFF(struct desk_main_hdr, off_quotes);
    HASH_OFF(struct desk_main_hdr, off_uta);
    HASH_OFF(struct desk_main_hdr, off_connectors);
    HASH_OFF(struct desk_main_hdr, off_strategies);
    HASH_OFF(struct desk_main_hdr, off_stats);
    HASH_OFF(struct desk_main_hdr, off_orders);
    HASH_OFF(struct desk_main_hdr, off_recon);
    HASH_OFF(struct desk_main_hdr, heartbeat_ns);
    HASH_OFF(struct desk_main_hdr, run_state);
    HASH_OFF(struct desk_main_hdr, kill);
    HASH_OFF(struct desk_main_hdr, kill_seq);

    /* Instrument table and quotes (connector.h). */
    HASH_SIZE(desk_instrument_t);
    HASH_OFF(desk_instrument_t, id);
    HASH_OFF(desk_instrument_t, connector);
    HASH_OFF(desk_instrument_t, asset_class);
    HASH_OFF(desk_instrument_t, tradable);
    HASH_OFF(desk_instrument_t, symbol);
    HASH_OFF(desk_instrument_t, tick_size);
    HASH_OFF(desk_instrument_t, lot_size);
    HASH_OFF(desk_instrument_t, min_notional);
    HASH_OFF(desk_instrument_t, open_min);
    HASH_OFF(desk_instrument_t, close_min);
    HASH_SIZE(desk_quote_t);
    HASH_OFF(desk_quote_t, bid_px);
    HASH_OFF(desk_quote_t, bid_qty);
    HASH_OFF(desk_quote_t, ask_px);
    HASH_OFF(desk_quote_t, ask_qty);
    HASH_OFF(desk_quote_t, last_px);
    HASH_OFF(desk_quote_t, last_qty);
    HASH_OFF(desk_quote_t, venue_ts_ns);
    HASH_OFF(desk_quote_t, recv_ns);
    HASH_SIZE(struct desk_quote_slot);
    HASH_OFF(struct desk_quote_slot, lock);
    HASH_OFF(struct desk_quote_slot, q);

    /* UTA. */
    HASH_SIZE(struct desk_uta_venue);
    HASH_OFF(struct desk_uta_venue, cash);
    HASH_OFF(struct desk_uta_venue, reserved);
    HASH_OFF(struct desk_uta_venue, buying_power);
    HASH_OFF(struct desk_uta_venue, equity);
    HASH_OFF(struct desk_uta_venue, realized_pnl);
    HASH_OFF(struct desk_uta_venue, unrealized_pnl);
    HASH_OFF(struct desk_uta_venue, fees);
    HASH_OFF(struct desk_uta_venue, venue_bp);
    HASH_SIZE(struct desk_uta_pos);
    HASH_OFF(struct desk_uta_pos, qty);
    HASH_OFF(struct desk_uta_pos, avg_px);
    HASH_OFF(struct desk_uta_pos, mark_px);
    HASH_OFF(struct desk_uta_pos, realized_pnl);
    HASH_OFF(struct desk_uta_pos, unrealized_pnl);
    HASH_OFF(struct desk_uta_pos, open_buy_qty);
    HASH_OFF(struct desk_uta_pos, open_sell_qty);
    HASH_SIZE(struct desk_uta_totals);
    HASH_OFF(struct desk_uta_totals, cash);
    HASH_OFF(struct desk_uta_totals, reserved);
    HASH_OFF(struct desk_uta_totals, buying_power);
    HASH_OFF(struct desk_uta_totals, nav);
    HASH_OFF(struct desk_uta_totals, realized_pnl);
    HASH_OFF(struct desk_uta_totals, unrealized_pnl);
    HASH_OFF(struct desk_uta_totals, fees);
    HASH_OFF(struct desk_uta_totals, updated_ns);
    HASH_SIZE(struct desk_uta_shm);
    HASH_OFF(struct desk_uta_shm, lock);
    HASH_OFF(struct desk_uta_shm, t);
    HASH_OFF(struct desk_uta_shm, venues);
    HASH_OFF(struct desk_uta_shm, pos);

    /* Connectors. */
    HASH_SIZE(struct desk_conn_health);
    HASH_OFF(struct desk_conn_health, state);
    HASH_OFF(struct desk_conn_health, since_ns);
    HASH_OFF(struct desk_conn_health, reason);
    HASH_SIZE(struct desk_conn_shm);
    HASH_OFF(struct desk_conn_shm, name);
    HASH_OFF(struct desk_conn_shm, type);
    HASH_OFF(struct desk_conn_shm, venue_type);
    HASH_OFF(struct desk_conn_shm, index);
    HASH_OFF(struct desk_conn_shm, hlock);
    HASH_OFF(struct desk_conn_shm, health);
    HASH_OFF(struct desk_conn_shm, last_quote_ns);
    HASH_OFF(struct desk_conn_shm, quotes);
    HASH_OFF(struct desk_conn_shm, cmds);
    HASH_OFF(struct desk_conn_shm, vevents);
    HASH_OFF(struct desk_conn_shm, backpressure);
    HASH_OFF(struct desk_conn_shm, routed);
    HASH_OFF(struct desk_conn_shm, acks);
    HASH_OFF(struct desk_conn_shm, fills);
    HASH_OFF(struct desk_conn_shm, rejects);
    HASH_OFF(struct desk_conn_shm, cmd_ring_depth);
    HASH_OFF(struct desk_conn_shm, event_ring_depth);
    HASH_OFF(struct desk_conn_shm, dispatch);

    /* Histograms (hist.h). */
    HASH_SIZE(desk_hist_t);
    HASH_OFF(desk_hist_t, count);
    HASH_OFF(desk_hist_t, sum);
    HASH_OFF(desk_hist_t, max);
    HASH_OFF(desk_hist_t, bucket);

    /* Strategies, stats, open orders. */
    HASH_SIZE(struct desk_strat_shm);
    HASH_OFF(struct desk_strat_shm, name);
    HASH_OFF(struct desk_strat_shm, pid);
    HASH_OFF(struct desk_strat_shm, alive);
    HASH_OFF(struct desk_strat_shm, cmds);
    HASH_OFF(struct desk_strat_shm, orders);
    HASH_OFF(struct desk_strat_shm, rejects);
    HASH_OFF(struct desk_strat_shm, fills);
    HASH_OFF(struct desk_strat_shm, open_orders);
    HASH_OFF(struct desk_strat_shm, order_ring_depth);
    HASH_OFF(struct desk_strat_shm, event_ring_depth);
    HASH_OFF(struct desk_strat_shm, event_ring_full);
    HASH_SIZE(struct desk_stats_shm);
    HASH_OFF(struct desk_stats_shm, cmds);
    HASH_OFF(struct desk_stats_shm, orders);
    HASH_OFF(struct desk_stats_shm, rejects);
    HASH_OFF(struct desk_stats_shm, fills);
    HASH_OFF(struct desk_stats_shm, cancels);
    HASH_OFF(struct desk_stats_shm, expired);
    HASH_OFF(struct desk_stats_shm, replaced);
    HASH_OFF(struct desk_stats_shm, invalid_events);
    HASH_OFF(struct desk_stats_shm, duplicate_execs);
    HASH_OFF(struct desk_stats_shm, loop_turns);
    HASH_OFF(struct desk_stats_shm, reject_by_reason);
    HASH_OFF(struct desk_stats_shm, stage);
    HASH_SIZE(struct desk_open_order);
    HASH_OFF(struct desk_open_order, order_id);
    HASH_OFF(struct desk_open_order, cl_ord_id);
    HASH_OFF(struct desk_open_order, instrument);
    HASH_OFF(struct desk_open_order, strategy);
    HASH_OFF(struct desk_open_order, side);
    HASH_OFF(struct desk_open_order, status);
    HASH_OFF(struct desk_open_order, ord_type);
    HASH_OFF(struct desk_open_order, tif);
    HASH_OFF(struct desk_open_order, qty);
    HASH_OFF(struct desk_open_order, px);
    HASH_OFF(struct desk_open_order, cum_qty);
    HASH_OFF(struct desk_open_order, leaves_qty);
    HASH_SIZE(struct desk_orders_shm);
    HASH_OFF(struct desk_orders_shm, lock);
    HASH_OFF(struct desk_orders_shm, total);
    HASH_OFF(struct desk_orders_shm, n);
    HASH_OFF(struct desk_orders_shm, o);
    HASH_SIZE(struct desk_break);
    HASH_OFF(struct desk_break, kind);
    HASH_OFF(struct desk_break, connector);
    HASH_OFF(struct desk_break, instrument);
    HASH_OFF(struct desk_break, desk);
    HASH_OFF(struct desk_break, venue);
    HASH_OFF(struct desk_break, since_ns);
    HASH_SIZE(struct desk_break_event);
    HASH_OFF(struct desk_break_event, seq);
    HASH_OFF(struct desk_break_event, open);
    HASH_OFF(struct desk_break_event, instrument);
    HASH_OFF(struct desk_break_event, venue);
    HASH_SIZE(struct desk_recon_row);
    HASH_OFF(struct desk_recon_row, last_ns);
    HASH_OFF(struct desk_recon_row, breaks);
    HASH_OFF(struct desk_recon_row, venue_bp);
    HASH_OFF(struct desk_recon_row, venue_orders);
    HASH_SIZE(struct desk_recon_shm);
    HASH_OFF(struct desk_recon_shm, lock);
    HASH_OFF(struct desk_recon_shm, d);
    HASH_OFF(struct desk_recon_data, tseq);
    HASH_OFF(struct desk_recon_data, conn);
    HASH_OFF(struct desk_recon_data, open);
    HASH_OFF(struct desk_recon_data, log);

    /* Strategy segment header and its rings. */
    HASH_SIZE(struct desk_strat_hdr);
    HASH_OFF(struct desk_strat_hdr, magic);
    HASH_OFF(struct desk_strat_hdr, abi_version);
    HASH_OFF(struct desk_strat_hdr, layout_hash);
    HASH_OFF(struct desk_strat_hdr, desk);
    HASH_OFF(struct desk_strat_hdr, name);
    HASH_OFF(struct desk_strat_hdr, index);
    HASH_OFF(struct desk_strat_hdr, deskd_start_ns);
    HASH_OFF(struct desk_strat_hdr, off_order_ring);
    HASH_OFF(struct desk_strat_hdr, off_event_ring);
    HASH_OFF(struct desk_strat_hdr, order_ring_bytes);
    HASH_OFF(struct desk_strat_hdr, event_ring_bytes);
    HASH_OFF(struct desk_strat_hdr, total_size);
    HASH_OFF(struct desk_strat_hdr, pid);
    HASH_OFF(struct desk_strat_hdr, attach_epoch);
    HASH_OFF(struct desk_strat_hdr, heartbeat_ns);
    HASH_SIZE(struct desk_spsc_hdr);
    HASH_OFF(struct desk_spsc_hdr, magic);
    HASH_OFF(struct desk_spsc_hdr, version);
    HASH_OFF(struct desk_spsc_hdr, slot_size);
    HASH_OFF(struct desk_spsc_hdr, nslots);
    HASH_OFF(struct desk_spsc_hdr, tail);
    HASH_OFF(struct desk_spsc_hdr, head);
    HASH_OFF(struct desk_spsc_hdr, slots);

    /* Ring messages (types.h, connector.h). */
    HASH_SIZE(desk_cmd_t);
    HASH_OFF(desk_cmd_t, type);
    HASH_OFF(desk_cmd_t, side);
    HASH_OFF(desk_cmd_t, ord_type);
    HASH_OFF(desk_cmd_t, tif);
    HASH_OFF(desk_cmd_t, instrument);
    HASH_OFF(desk_cmd_t, cl_ord_id);
    HASH_OFF(desk_cmd_t, orig_cl_ord_id);
    HASH_OFF(desk_cmd_t, qty);
    HASH_OFF(desk_cmd_t, px);
    HASH_OFF(desk_cmd_t, stop_px);
    HASH_OFF(desk_cmd_t, submit_ns);
    HASH_OFF(desk_cmd_t, user);
    HASH_SIZE(desk_event_t);
    HASH_OFF(desk_event_t, type);
    HASH_OFF(desk_event_t, ord_status);
    HASH_OFF(desk_event_t, reason);
    HASH_OFF(desk_event_t, instrument);
    HASH_OFF(desk_event_t, cl_ord_id);
    HASH_OFF(desk_event_t, ref);
    HASH_OFF(desk_event_t, last_px);
    HASH_OFF(desk_event_t, last_qty);
    HASH_OFF(desk_event_t, cum_qty);
    HASH_OFF(desk_event_t, leaves_qty);
    HASH_OFF(desk_event_t, fee);
    return h;
}

#undef HASH_SIZE
#undef HASH_OFF

/* ---- names ---------------------------------------------------------------- */

/*
 * Check one name part.  `what` names it in the message.  A desk name may not
 * hold a '.', because "/desk.a.b" would then be both the main segment of
 * desk "a.b" and the segment of strategy "b" of desk "a".
 */
static int shm_name_check(const char *s, const char *what, int allow_dot)
{
    if (s == NULL || s[0] == '\0')
        return DESK_ERR(-EINVAL, "%s name is empty", what);
    size_t n = strnlen(s, DESK_NAME_MAX);
    if (n >= DESK_NAME_MAX)
        return DESK_ERR(-ENAMETOOLONG, "%s name '%.*s...' is longer than %d bytes", what,
                        DESK_NAME_MAX - 1, s, DESK_NAME_MAX - 1);
    if (strchr(s, '/') != NULL)
        return DESK_ERR(-EINVAL, "%s name '%s' contains '/'", what, s);
    if (!allow_dot && strchr(s, '.') != NULL)
        return DESK_ERR(-EINVAL, "%s name '%s' contains '.'", what, s);
    return 0;
}

/*
 * "/desk.<desk>" into buf[cap].  Returns its length, -EINVAL (empty name,
 * '/' or '.' in it) or -ENAMETOOLONG (name over DESK_NAME_MAX - 1 bytes, or
 * buf too small).  Any thread.
 */
DESK_COLD int desk_shm_main_name(char *buf, size_t cap, const char *desk)
{
    int rc = shm_name_check(desk, "desk", 0);

    if (rc < 0)
        return rc;
    int n = snprintf(buf, cap, "/desk.%s", desk);
    if (n < 0 || (size_t)n >= cap)
        return DESK_ERR(-ENAMETOOLONG, "shm name for desk '%s' does not fit %zu bytes", desk,
                        cap);
    return n;
}

/*
 * "/desk.<desk>.<strategy>" into buf[cap].  Returns its length, -EINVAL or
 * -ENAMETOOLONG (as desk_shm_main_name(); the strategy may hold a '.').
 * Any thread.
 */
DESK_COLD int desk_shm_strat_name(char *buf, size_t cap, const char *desk, const char *strategy)
{
    int rc = shm_name_check(desk, "desk", 0);

    if (rc < 0)
        return rc;
    rc = shm_name_check(strategy, "strategy", 1);
    if (rc < 0)
        return rc;
    int n = snprintf(buf, cap, "/desk.%s.%s", desk, strategy);
    if (n < 0 || (size_t)n >= cap)
        return DESK_ERR(-ENAMETOOLONG,
                        "shm name for strategy '%s' of desk '%s' does not fit %zu bytes",
                        strategy, desk, cap);
    return n;
}

/* ---- main segment --------------------------------------------------------- */

/*
 * Regions in this order, each on a 128-byte boundary: header, instruments,
 * quotes, UTA, connectors, strategies, stats, open orders, reconciliation.
 * Fills the counts,
 * the offsets and total_size of hdr; touches nothing else.  Pure.
 */
DESK_COLD void desk_shm_main_layout(struct desk_main_hdr *hdr, uint32_t ninstruments,
                                    uint32_t nconnectors, uint32_t nstrategies)
{
    uint64_t off = shm_align(sizeof *hdr);

    hdr->ninstruments = ninstruments;
    hdr->nconnectors = nconnectors;
    hdr->nstrategies = nstrategies;
    hdr->off_instruments = off;
    off = shm_align(off + (uint64_t)ninstruments * sizeof(desk_instrument_t));
    hdr->off_quotes = off;
    off = shm_align(off + (uint64_t)ninstruments * sizeof(struct desk_quote_slot));
    hdr->off_uta = off;
    off = shm_align(off + sizeof(struct desk_uta_shm));
    hdr->off_connectors = off;
    off = shm_align(off + (uint64_t)nconnectors * sizeof(struct desk_conn_shm));
    hdr->off_strategies = off;
    off = shm_align(off + (uint64_t)nstrategies * sizeof(struct desk_strat_shm));
    hdr->off_stats = off;
    off = shm_align(off + sizeof(struct desk_stats_shm));
    hdr->off_orders = off;
    off = shm_align(off + sizeof(struct desk_orders_shm));
    hdr->off_recon = off;
    off = shm_align(off + sizeof(struct desk_recon_shm));
    hdr->total_size = off;
}

/* 1 if a process with this pid exists (possibly another user's). */
static int shm_pid_alive(int32_t pid)
{
    if (pid <= 0)
        return 0; /* kill(0 or -n, 0) would probe a process group */
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/*
 * An existing segment of this name blocks O_EXCL: read its header and say
 * whether its deskd is still alive.  Returns 0 if it is stale (the caller
 * unlinks it), -EEXIST if a live deskd owns it, or -errno.
 */
static int shm_main_probe(const char *name, const char *desk)
{
    int fd = shm_open(name, O_RDONLY, 0);
    struct stat st;
    int32_t pid = 0;

    if (fd < 0) {
        if (errno == ENOENT)
            return 0; /* gone in the meantime: nothing to replace */
        return DESK_ERR(-errno, "cannot open existing segment %s: %s", name, strerror(errno));
    }
    if (fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(struct desk_main_hdr)) {
        void *p = mmap(NULL, sizeof(struct desk_main_hdr), PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
            const struct desk_main_hdr *h = p;
            pid = h->router_pid;
            munmap(p, sizeof(struct desk_main_hdr));
        }
    }
    close(fd);
    if (shm_pid_alive(pid))
        return DESK_ERR(-EEXIST, "desk '%s' is already running: deskd pid %d owns %s", desk,
                        (int)pid, name);
    return 0;
}

/*
 * See shm.h.  deskd's main thread, once at start.  Returns 0 and *out, *len,
 * -EINVAL (bad name or counts over the DESK_SHM_MAX_* limits),
 * -ENAMETOOLONG, -EEXIST (a live deskd owns the desk), or -errno of
 * shm_open/ftruncate/fchmod/mmap, each with desk_errmsg().  On failure nothing
 * is left behind.
 */
DESK_COLD int desk_shm_main_create(const char *desk, uint32_t ninstruments, uint32_t nconnectors,
                                   uint32_t nstrategies, mode_t mode, struct desk_main_hdr **out,
                                   size_t *len)
{
    char name[SHM_NAME_CAP];
    struct desk_main_hdr lay;
    void *p = MAP_FAILED;
    int fd = -1;
    int rc = desk_shm_main_name(name, sizeof name, desk);

    if (rc < 0)
        return rc;
    if (out == NULL || len == NULL)
        return DESK_ERR(-EINVAL, "out and len must not be NULL");
    if (ninstruments > DESK_SHM_MAX_INSTRUMENTS || nconnectors > DESK_SHM_MAX_CONNECTORS ||
        nstrategies > DESK_SHM_MAX_STRATEGIES)
        return DESK_ERR(-EINVAL, "desk '%s': %u instruments, %u connectors, %u strategies "
                        "exceed the limits %d, %d, %d", desk, ninstruments, nconnectors,
                        nstrategies, DESK_SHM_MAX_INSTRUMENTS, DESK_SHM_MAX_CONNECTORS,
                        DESK_SHM_MAX_STRATEGIES);
    memset(&lay, 0, sizeof lay);
    desk_shm_main_layout(&lay, ninstruments, nconnectors, nstrategies);

    fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, mode);
    if (fd < 0 && errno == EEXIST) {
        /* A segment is there: refuse if its deskd lives, else replace it. */
        rc = shm_main_probe(name, desk);
        if (rc < 0)
            return rc;
        if (shm_unlink(name) < 0 && errno != ENOENT)
            return DESK_ERR(-errno, "cannot remove stale segment %s: %s", name, strerror(errno));
        fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, mode);
    }
    if (fd < 0)
        return DESK_ERR(-errno, "shm_open(%s): %s", name, strerror(errno));
    /* From here on the segment is ours: failure unlinks it. */
    if (fchmod(fd, mode) < 0) { /* shm_open applied the umask */
        rc = DESK_ERR(-errno, "fchmod(%s, %04o): %s", name, (unsigned)mode, strerror(errno));
        goto fail;
    }
    if (ftruncate(fd, (off_t)lay.total_size) < 0) {
        rc = DESK_ERR(-errno, "ftruncate(%s, %llu): %s", name,
                      (unsigned long long)lay.total_size, strerror(errno));
        goto fail;
    }
    p = mmap(NULL, (size_t)lay.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        rc = DESK_ERR(-errno, "mmap(%s, %llu bytes): %s", name,
                      (unsigned long long)lay.total_size, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;

    /* The new object is zero-filled: only the header needs writing. */
    struct desk_main_hdr *h = p;
    h->router_pid = (int32_t)getpid(); /* first, so a racing deskd sees us */
    desk_shm_main_layout(h, ninstruments, nconnectors, nstrategies);
    h->abi_version = DESK_ABI_VERSION;
    h->layout_hash = desk_shm_layout_hash();
    snprintf(h->name, sizeof h->name, "%s", desk);
    h->start_wall_ns = desk_wall_ns();
    h->start_mono_ns = desk_now_ns();
    atomic_store_explicit(&h->run_state, DESK_RUN_STARTING, memory_order_relaxed);
    /* Release: every header store above happens-before an attacher's acquire
     * load of magic in desk_shm_main_attach() (pairs with it). */
    __atomic_store_n(&h->magic, DESK_MAIN_MAGIC, __ATOMIC_RELEASE);
    *out = h;
    *len = (size_t)lay.total_size;
    return 0;

fail:
    if (p != MAP_FAILED)
        munmap(p, (size_t)lay.total_size);
    if (fd >= 0)
        close(fd);
    shm_unlink(name);
    return rc;
}

/* Say which header field of segment `name` mismatched: -EPROTO. */
#define SHM_MISMATCH(name, field, fmt, expected, found)                                         \
    DESK_ERR(-EPROTO, "%s: %s mismatch: expected " fmt ", found " fmt, (name), (field),        \
             (expected), (found))

/*
 * Check a mapped main header against this build.  `size` is the size of the
 * object.  Returns 0 or -EPROTO naming the first field that differs.
 */
static int shm_main_check(const struct desk_main_hdr *h, size_t size, const char *name)
{
    struct desk_main_hdr lay;
    /* Acquire pairs with the release store of magic in desk_shm_main_create():
     * the header fields read below are complete once the magic is seen. */
    uint64_t magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);

    if (magic != DESK_MAIN_MAGIC)
        return DESK_ERR(-EPROTO, "%s: magic mismatch: expected 0x%016llx, found 0x%016llx%s",
                        name, (unsigned long long)DESK_MAIN_MAGIC, (unsigned long long)magic,
                        magic == 0 ? " (deskd still starting, or not a desk segment)" : "");
    if (h->abi_version != DESK_ABI_VERSION)
        return SHM_MISMATCH(name, "abi_version", "%u", DESK_ABI_VERSION, h->abi_version);
    if (h->layout_hash != desk_shm_layout_hash())
        return SHM_MISMATCH(name, "layout_hash", "0x%08x", desk_shm_layout_hash(),
                            h->layout_hash);
    if (h->ninstruments > DESK_SHM_MAX_INSTRUMENTS || h->nconnectors > DESK_SHM_MAX_CONNECTORS ||
        h->nstrategies > DESK_SHM_MAX_STRATEGIES)
        return DESK_ERR(-EPROTO, "%s: counts %u instruments, %u connectors, %u strategies "
                        "exceed the limits", name, h->ninstruments, h->nconnectors,
                        h->nstrategies);
    /* Same layout hash, same counts: the offsets must be the ones we compute. */
    memset(&lay, 0, sizeof lay);
    desk_shm_main_layout(&lay, h->ninstruments, h->nconnectors, h->nstrategies);
    if (h->total_size != lay.total_size)
        return SHM_MISMATCH(name, "total_size", "%llu", (unsigned long long)lay.total_size,
                            (unsigned long long)h->total_size);
    if (h->total_size > size)
        return DESK_ERR(-EPROTO, "%s: total_size %llu exceeds the segment's %zu bytes", name,
                        (unsigned long long)h->total_size, size);
#define SHM_CHECK_OFF(f)                                                                        \
    if (h->f != lay.f)                                                                          \
        return SHM_MISMATCH(name, #f, "%llu", (unsigned long long)lay.f,                        \
                            (unsigned long long)h->f);
    SHM_CHECK_OFF(off_instruments)
    SHM_CHECK_OFF(off_quotes)
    SHM_CHECK_OFF(off_uta)
    SHM_CHECK_OFF(off_connectors)
    SHM_CHECK_OFF(off_strategies)
    SHM_CHECK_OFF(off_stats)
    SHM_CHECK_OFF(off_orders)
    SHM_CHECK_OFF(off_recon)
#undef SHM_CHECK_OFF
    return 0;
}

/*
 * See shm.h.  Any thread of any process, at start.  Returns 0 and a
 * read-only mapping in *out and *len, -EINVAL (bad name or NULL out),
 * -ENAMETOOLONG, -ENOENT (no such desk), -EACCES (mode forbids reading),
 * -EPROTO (not a desk segment of this build: the message names the field,
 * the expected and the found value), or -errno of fstat/mmap.
 */
DESK_COLD int desk_shm_main_attach(const char *desk, const struct desk_main_hdr **out, size_t *len)
{
    char name[SHM_NAME_CAP];
    struct stat st;
    void *p = MAP_FAILED;
    size_t size = 0;
    int fd;
    int rc = desk_shm_main_name(name, sizeof name, desk);

    if (rc < 0)
        return rc;
    if (out == NULL || len == NULL)
        return DESK_ERR(-EINVAL, "out and len must not be NULL");
    fd = shm_open(name, O_RDONLY, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return DESK_ERR(-ENOENT, "no desk '%s' (is deskd running?)", desk);
        return DESK_ERR(-errno, "cannot open %s of desk '%s': %s", name, desk, strerror(errno));
    }
    if (fstat(fd, &st) < 0) {
        rc = DESK_ERR(-errno, "fstat(%s): %s", name, strerror(errno));
        goto fail;
    }
    size = (size_t)st.st_size;
    if (size < sizeof(struct desk_main_hdr)) {
        rc = DESK_ERR(-EPROTO, "%s: %zu bytes, smaller than the %zu-byte header%s", name, size,
                      sizeof(struct desk_main_hdr), size == 0 ? " (deskd still starting?)" : "");
        goto fail;
    }
    p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        rc = DESK_ERR(-errno, "mmap(%s, %zu bytes): %s", name, size, strerror(errno));
        goto fail;
    }
    rc = shm_main_check(p, size, name);
    if (rc < 0)
        goto fail;
    close(fd);
    *out = p;
    *len = size;
    return 0;

fail:
    if (p != MAP_FAILED)
        munmap(p, size);
    close(fd);
    return rc;
}

/* ---- strategy segment ----------------------------------------------------- */

/*
 * See shm.h.  deskd's main thread, once per [[strategy]] at start.  The
 * order ring (strategy -> router) and the event ring (router -> strategy)
 * follow the header, each on a 128-byte boundary.  A segment of that name
 * left by an earlier deskd is replaced: the caller already holds the main
 * segment (desk_shm_main_create() refused a live deskd), so no live deskd
 * owns it; a strategy still mapping the old object sees the restart through
 * deskd_start_ns.  Returns 0 and the mapping, -EINVAL (bad name, index or
 * ring size), -ENAMETOOLONG, -EPERM (chown refused: deskd must run as root
 * to give segments to other users), or -errno, with desk_errmsg().  On
 * failure nothing is left behind.
 */
DESK_COLD int desk_shm_strat_create(const char *desk, const char *strategy, uint32_t index,
                                    uint64_t deskd_start_ns, uint32_t order_slots,
                                    uint32_t event_slots, uid_t uid, gid_t gid, mode_t mode,
                                    struct desk_strat_hdr **out, size_t *len)
{
    char name[SHM_NAME_CAP];
    void *p = MAP_FAILED;
    int fd = -1;
    int rc = desk_shm_strat_name(name, sizeof name, desk, strategy);

    if (rc < 0)
        return rc;
    if (out == NULL || len == NULL)
        return DESK_ERR(-EINVAL, "out and len must not be NULL");
    if (index >= DESK_SHM_MAX_STRATEGIES)
        return DESK_ERR(-EINVAL, "strategy '%s' index %u is not below %d", strategy, index,
                        DESK_SHM_MAX_STRATEGIES);
    for (int r = 0; r < 2; r++) {
        uint32_t n = r ? event_slots : order_slots;
        if (n < 2 || n > DESK_SPSC_MAX_SLOTS || (n & (n - 1)))
            return DESK_ERR(-EINVAL, "strategy '%s': %s ring of %u slots is not a power of two "
                            "in [2, 2^24]", strategy, r ? "event" : "order", n);
    }
    uint64_t off_order = shm_align(sizeof(struct desk_strat_hdr));
    uint64_t order_bytes = desk_spsc_bytes(order_slots);
    uint64_t off_event = shm_align(off_order + order_bytes);
    uint64_t event_bytes = desk_spsc_bytes(event_slots);
    uint64_t total = shm_align(off_event + event_bytes);

    fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, mode);
    if (fd < 0 && errno == EEXIST) {
        if (shm_unlink(name) < 0 && errno != ENOENT)
            return DESK_ERR(-errno, "cannot remove old segment %s: %s", name, strerror(errno));
        fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, mode);
    }
    if (fd < 0)
        return DESK_ERR(-errno, "shm_open(%s): %s", name, strerror(errno));
    if (uid != geteuid() || gid != getegid()) {
        if (fchown(fd, uid, gid) < 0) {
            int e = errno;
            if (e == EPERM)
                rc = DESK_ERR(-EPERM, "cannot give %s to uid %u gid %u: deskd runs as uid %u "
                              "and must be root (CAP_CHOWN) to give segments to other users",
                              name, (unsigned)uid, (unsigned)gid, (unsigned)geteuid());
            else
                rc = DESK_ERR(-e, "fchown(%s, %u, %u): %s", name, (unsigned)uid, (unsigned)gid,
                              strerror(e));
            goto fail;
        }
    }
    /* shm_open applied the umask to mode: set it exactly.  After fchown,
     * which may clear set-id bits. */
    if (fchmod(fd, mode) < 0) {
        rc = DESK_ERR(-errno, "fchmod(%s, %04o): %s", name, (unsigned)mode, strerror(errno));
        goto fail;
    }
    if (ftruncate(fd, (off_t)total) < 0) {
        rc = DESK_ERR(-errno, "ftruncate(%s, %llu): %s", name, (unsigned long long)total,
                      strerror(errno));
        goto fail;
    }
    p = mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        rc = DESK_ERR(-errno, "mmap(%s, %llu bytes): %s", name, (unsigned long long)total,
                      strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;

    struct desk_strat_hdr *h = p;
    h->abi_version = DESK_ABI_VERSION;
    h->layout_hash = desk_shm_layout_hash();
    snprintf(h->desk, sizeof h->desk, "%s", desk);
    snprintf(h->name, sizeof h->name, "%s", strategy);
    h->index = index;
    h->deskd_start_ns = deskd_start_ns;
    h->off_order_ring = off_order;
    h->off_event_ring = off_event;
    h->order_ring_bytes = order_bytes;
    h->event_ring_bytes = event_bytes;
    h->total_size = total;
    rc = desk_spsc_init((char *)p + off_order, (size_t)order_bytes, order_slots);
    if (rc == 0)
        rc = desk_spsc_init((char *)p + off_event, (size_t)event_bytes, event_slots);
    if (rc < 0)
        goto fail; /* desk_spsc_init() said why */
    /* Release: the header and both formatted rings happen-before a
     * strategy's acquire load of magic in desk_shm_strat_attach(). */
    __atomic_store_n(&h->magic, DESK_STRAT_MAGIC, __ATOMIC_RELEASE);
    *out = h;
    *len = (size_t)total;
    return 0;

fail:
    if (p != MAP_FAILED)
        munmap(p, (size_t)total);
    if (fd >= 0)
        close(fd);
    shm_unlink(name);
    return rc;
}

/* Check a mapped strategy header against this build and its name. */
static int shm_strat_check(const struct desk_strat_hdr *h, size_t size, const char *name,
                           const char *desk, const char *strategy)
{
    /* Acquire pairs with the release store of magic in desk_shm_strat_create(). */
    uint64_t magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);

    if (magic != DESK_STRAT_MAGIC)
        return DESK_ERR(-EPROTO, "%s: magic mismatch: expected 0x%016llx, found 0x%016llx%s",
                        name, (unsigned long long)DESK_STRAT_MAGIC, (unsigned long long)magic,
                        magic == 0 ? " (deskd still starting, or not a desk segment)" : "");
    if (h->abi_version != DESK_ABI_VERSION)
        return SHM_MISMATCH(name, "abi_version", "%u", DESK_ABI_VERSION, h->abi_version);
    if (h->layout_hash != desk_shm_layout_hash())
        return SHM_MISMATCH(name, "layout_hash", "0x%08x", desk_shm_layout_hash(),
                            h->layout_hash);
    if (strncmp(h->desk, desk, sizeof h->desk) != 0 ||
        strncmp(h->name, strategy, sizeof h->name) != 0)
        return DESK_ERR(-EPROTO, "%s: holds desk '%.*s' strategy '%.*s'", name,
                        (int)sizeof h->desk, h->desk, (int)sizeof h->name, h->name);
    if (h->total_size > size)
        return DESK_ERR(-EPROTO, "%s: total_size %llu exceeds the segment's %zu bytes", name,
                        (unsigned long long)h->total_size, size);
    /* Each ring must start on 128 bytes after the header and end inside. */
    const uint64_t off[2] = {h->off_order_ring, h->off_event_ring};
    const uint64_t len[2] = {h->order_ring_bytes, h->event_ring_bytes};
    for (int r = 0; r < 2; r++) {
        if (off[r] % SHM_ALIGN || off[r] < sizeof *h || len[r] > h->total_size ||
            off[r] > h->total_size - len[r])
            return DESK_ERR(-EPROTO, "%s: %s ring at offset %llu, %llu bytes, does not fit "
                            "the %llu-byte segment", name, r ? "event" : "order",
                            (unsigned long long)off[r], (unsigned long long)len[r],
                            (unsigned long long)h->total_size);
    }
    return 0;
}

/*
 * See shm.h.  A strategy process (libdesk), once at start.  Returns 0 and a
 * read-write mapping, -EINVAL, -ENAMETOOLONG, -ENOENT (no such segment),
 * -EACCES (its mode or owner forbid this user: the message names the
 * segment, its mode and owner), -EPROTO (header mismatch, naming the field),
 * or -errno of fstat/mmap.  Does not touch the rings or the pid/heartbeat:
 * the caller attaches to the rings with desk_spsc_attach_*().
 */
DESK_COLD int desk_shm_strat_attach(const char *desk, const char *strategy,
                                    struct desk_strat_hdr **out, size_t *len)
{
    char name[SHM_NAME_CAP];
    struct stat st;
    void *p = MAP_FAILED;
    size_t size = 0;
    int fd;
    int rc = desk_shm_strat_name(name, sizeof name, desk, strategy);

    if (rc < 0)
        return rc;
    if (out == NULL || len == NULL)
        return DESK_ERR(-EINVAL, "out and len must not be NULL");
    fd = shm_open(name, O_RDWR, 0);
    if (fd < 0) {
        int e = errno;
        char path[SHM_NAME_CAP + 16];
        if (e == ENOENT)
            return DESK_ERR(-ENOENT, "no segment %s for strategy '%s' of desk '%s' (is deskd "
                            "running and the strategy declared in desk.toml?)", name, strategy,
                            desk);
        /* shm_open names map to /dev/shm on Linux: report mode and owner. */
        snprintf(path, sizeof path, "/dev/shm%s", name);
        if (e == EACCES && stat(path, &st) == 0)
            return DESK_ERR(-EACCES, "segment %s (mode %04o, owner uid %u gid %u) is not "
                            "writable by uid %u: run the strategy as its owner in desk.toml",
                            name, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
                            (unsigned)st.st_gid, (unsigned)geteuid());
        return DESK_ERR(-e, "cannot open %s: %s", name, strerror(e));
    }
    if (fstat(fd, &st) < 0) {
        rc = DESK_ERR(-errno, "fstat(%s): %s", name, strerror(errno));
        goto fail;
    }
    size = (size_t)st.st_size;
    if (size < sizeof(struct desk_strat_hdr)) {
        rc = DESK_ERR(-EPROTO, "%s: %zu bytes, smaller than the %zu-byte header", name, size,
                      sizeof(struct desk_strat_hdr));
        goto fail;
    }
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        rc = DESK_ERR(-errno, "mmap(%s, %zu bytes): %s", name, size, strerror(errno));
        goto fail;
    }
    rc = shm_strat_check(p, size, name, desk, strategy);
    if (rc < 0)
        goto fail;
    close(fd);
    *out = p;
    *len = size;
    return 0;

fail:
    if (p != MAP_FAILED)
        munmap(p, size);
    close(fd);
    return rc;
}

/* ---- teardown ------------------------------------------------------------- */

/* Unmap a segment mapped by any function above; NULL is ignored.  Cold. */
DESK_COLD void desk_shm_unmap(const void *p, size_t len)
{
    if (p != NULL && len > 0)
        munmap((void *)(uintptr_t)p, len);
}

/*
 * Remove the name of desk's main segment (mappings stay valid until
 * unmapped).  Returns 0, -ENOENT, -EINVAL/-ENAMETOOLONG (bad name), or
 * -errno of shm_unlink.  Cold.
 */
DESK_COLD int desk_shm_unlink_main(const char *desk)
{
    char name[SHM_NAME_CAP];
    int rc = desk_shm_main_name(name, sizeof name, desk);

    if (rc < 0)
        return rc;
    if (shm_unlink(name) < 0)
        return DESK_ERR(-errno, "shm_unlink(%s): %s", name, strerror(errno));
    return 0;
}

/* As desk_shm_unlink_main(), for a strategy segment.  Cold. */
DESK_COLD int desk_shm_unlink_strat(const char *desk, const char *strategy)
{
    char name[SHM_NAME_CAP];
    int rc = desk_shm_strat_name(name, sizeof name, desk, strategy);

    if (rc < 0)
        return rc;
    if (shm_unlink(name) < 0)
        return DESK_ERR(-errno, "shm_unlink(%s): %s", name, strerror(errno));
    return 0;
}
