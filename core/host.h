/*
 * host.h - deskd's side of a connector (the desk_host_t of connector.h) and
 * the connector threads that drive connectors.
 *
 * A host owns the connector's two in-process rings (router -> connector
 * commands, connector -> router events), its status block in the main
 * segment and the quote slots of its instruments.  A connector thread runs
 * one or more hosts (connectors sharing a `thread` number in desk.toml):
 *
 *     for each host: take commands -> place/cancel/replace (a refusal by the
 *                    op becomes a REJECT / CANCEL_REJECT event: nothing lost)
 *                    poll(now)
 *     idle strategy when no host did any work
 *
 * Everything here but setup and teardown runs on the connector thread.
 */
#ifndef DESK_HOST_H
#define DESK_HOST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "../ring/shm.h"
#include "../ring/spsc.h"
#include "config.h"
#include "desk/connector.h"
#include "recon.h"

#define DESK_HOST_CMD_SLOTS 4096    /* router -> connector ring */
#define DESK_HOST_EVENT_SLOTS 16384 /* connector -> router ring */
#define DESK_HOST_DRAIN_NS 300000000ull /* after disconnect at stop: polls for 300 ms */

struct desk_host {
    uint16_t index;                    /* connector index */
    char name[DESK_NAME_MAX];          /* connector name (log prefix) */
    desk_connector_cfg_t cfg;          /* what create() got */
    const desk_connector_ops_t *ops;   /* the implementation */
    void *self;                        /* its state */
    void *dl;                          /* dlopen handle of a custom connector */
    void *cmd_mem;                     /* command ring memory (owned) */
    void *ev_mem;                      /* event ring memory (owned) */
    size_t cmd_len, ev_len;            /* their sizes */
    desk_spsc_t cmdq;                  /* consumer: router -> connector */
    desk_spsc_t evq;                   /* producer: connector -> router */
    struct desk_conn_shm *shm;         /* status block (W: this thread) */
    struct desk_quote_slot *quotes;    /* the quote table */
    const desk_instrument_t *instr;    /* the instrument table */
    uint32_t ninstr_all;               /* entries in the instrument table */
    uint32_t nmine;                    /* instruments of this connector */
    uint32_t mine[DESK_SHM_MAX_INSTRUMENTS]; /* their ids */
    struct desk_recon_box *recon;      /* account reports to the router (owned) */
    uint8_t connected;                 /* connect() succeeded */
};

/* A connector thread and the hosts it drives. */
typedef struct desk_conn_thread {
    pthread_t tid;                     /* the thread */
    struct desk_host *hosts[DESK_SHM_MAX_CONNECTORS]; /* borrowed */
    uint32_t nhosts;                   /* how many */
    int cpu;                           /* pin to this CPU, -1 = none */
    uint32_t idle;                     /* desk_idle_t */
    uint64_t idle_max_ns;              /* backoff bound */
    _Atomic uint32_t stop;             /* 1: leave the loop; W: main thread */
    uint8_t started;                   /* thread was created */
} desk_conn_thread_t;

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Set up host `index` for connector config `cc` over the main segment:
 * allocate and format its rings, find its ops ("paper" built in, "custom"
 * from cc->path via dlopen and desk_connector_entry), and call ops->create.
 * Returns 0 or -errno with desk_errmsg() naming the connector.  Cold.
 */
int desk_host_init(struct desk_host *h, uint16_t index, const desk_connector_conf_t *cc,
                   const char *config_dir, struct desk_main_hdr *main);

/* Disconnect (if connected), destroy the connector, free the rings. Cold. */
void desk_host_fini(struct desk_host *h);

/* Start / stop a connector thread over its hosts.  Cold. */
int desk_conn_thread_start(desk_conn_thread_t *t);
void desk_conn_thread_stop(desk_conn_thread_t *t);

/* One turn over a thread's hosts (tests drive it directly).  Returns the
 * work done.  Connector thread only. */
int desk_conn_thread_poll(desk_conn_thread_t *t, uint64_t now_ns);

/* The built-in connector types. */
const desk_connector_ops_t *desk_connector_builtin(const char *type);

#ifdef __cplusplus
}
#endif

#endif /* DESK_HOST_H */
