/*
 * main.c - desk-alpaca-sim: flags, TLS context, the listening socket, the
 * accept loop, and a clean shutdown on SIGTERM/SIGINT (every connection
 * thread and the replay thread are joined and everything is freed, so the
 * sanitizers see no leak).  See README.md for the flags.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "core/err.h"
#include "core/fixed.h"
#include "sim.h"

static void on_signal(int sig)
{
    (void)sig;
    /* Lock-free atomic: async-signal-safe.  Read relaxed by SIM_STOPPING(). */
    atomic_store_explicit(&g_sim.stop, 1, memory_order_relaxed);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: desk-alpaca-sim --cert PEM --key PEM [options]\n"
            "  --host ADDR          listen address, loopback only (127.0.0.1)\n"
            "  --port N             listen port, 0 for any (0)\n"
            "  --port-file PATH     write the bound port here once listening\n"
            "  --key-id ID          APCA-API-KEY-ID accepted (desk-sim-key)\n"
            "  --secret S           APCA-API-SECRET-KEY accepted (desk-sim-secret)\n"
            "  --data PATH          market data: LOBSTER dir/csv or Binance capture\n"
            "                       (lobster_amzn_2012-06-21, resolved like desk.toml's data)\n"
            "  --symbol SYM         symbol to serve the data as (the data's own)\n"
            "  --speed X            replay speed vs wall clock; 0 = only POST /_sim/advance (1)\n"
            "  --no-loop            stop at the end of the data instead of replaying it again\n"
            "  --md-skip N          start the replay at md event N (0)\n"
            "  --cash X             starting cash in USD (100000)\n"
            "  --allow-short        sells need no position\n"
            "  --rate-limit N       requests per window per key, 0 = off (200)\n"
            "  --rate-window-ms N   rate-limit window (60000)\n"
            "  --faults JSON        initial faults, as POST /_sim/faults takes them\n"
            "  --verbose            log every request\n");
}

/* 1 if host resolves to a loopback address only. */
static int loopback_addr(const char *host, struct sockaddr_storage *ss, socklen_t *len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST},
                    *ai;
    int ok = 0;

    if (getaddrinfo(host, NULL, &hints, &ai) != 0)
        return 0;
    if (ai->ai_family == AF_INET && ai->ai_addrlen == sizeof(struct sockaddr_in)) {
        struct sockaddr_in a; /* copied: ai_addr is not aligned for the cast */
        memcpy(&a, ai->ai_addr, sizeof a);
        ok = (ntohl(a.sin_addr.s_addr) >> 24) == 127;
    } else if (ai->ai_family == AF_INET6 && ai->ai_addrlen == sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 a;
        memcpy(&a, ai->ai_addr, sizeof a);
        ok = IN6_IS_ADDR_LOOPBACK(&a.sin6_addr);
    }
    if (ok) {
        memcpy(ss, ai->ai_addr, ai->ai_addrlen);
        *len = ai->ai_addrlen;
    }
    freeaddrinfo(ai);
    return ok;
}

static int write_port_file(const char *path, int port)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path); /* atomic: readers never see a partial file */
}

/* Apply a --faults JSON through the same code as POST /_sim/faults. */
static int initial_faults(const char *json)
{
    sim_req_t req = {0};
    sim_resp_t resp = {0};

    snprintf(req.method, sizeof req.method, "POST");
    sim_buf_puts(&req.url, "/_sim/faults");
    sim_buf_puts(&req.body, json);
    sim_api_handle(&req, &resp);
    if (resp.status != 200)
        fprintf(stderr, "desk-alpaca-sim: --faults: %s\n", resp.body.p ? resp.body.p : "");
    int rc = resp.status == 200 ? 0 : -1;
    sim_buf_free(&req.url);
    sim_buf_free(&req.body);
    sim_buf_free(&resp.body);
    return rc;
}

/* Join finished connection threads (all of them when `all`). */
static void reap(sim_conn_t **list, int all)
{
    for (sim_conn_t **pp = list; *pp;) {
        sim_conn_t *c = *pp;
        /* Acquire pairs with the release store at the end of sim_conn_thread(). */
        if (all || atomic_load_explicit(&c->done, memory_order_acquire)) {
            if (all)
                shutdown(c->fd, SHUT_RDWR); /* wake a thread blocked on the socket */
            pthread_join(c->tid, NULL);
            close(c->fd);
            *pp = c->next;
            free(c);
        } else {
            pp = &c->next;
        }
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", required_argument, 0, 'h'},         {"port", required_argument, 0, 'p'},
        {"port-file", required_argument, 0, 'P'},    {"cert", required_argument, 0, 'c'},
        {"key", required_argument, 0, 'k'},          {"key-id", required_argument, 0, 'i'},
        {"secret", required_argument, 0, 's'},       {"data", required_argument, 0, 'd'},
        {"symbol", required_argument, 0, 'y'},       {"speed", required_argument, 0, 'x'},
        {"no-loop", no_argument, 0, 'L'},            {"md-skip", required_argument, 0, 'K'},
        {"cash", required_argument, 0, 'C'},         {"allow-short", no_argument, 0, 'S'},
        {"rate-limit", required_argument, 0, 'r'},   {"rate-window-ms", required_argument, 0, 'w'},
        {"faults", required_argument, 0, 'f'},       {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'H'},               {0, 0, 0, 0},
    };
    sim_cfg_t *cfg = &g_sim.cfg;
    const char *faults = NULL, *data = "lobster_amzn_2012-06-21";
    char data_path[DESK_MD_PATH_MAX];
    sim_conn_t *conns = NULL;
    SSL_CTX *ctx = NULL;
    pthread_t md_tid;
    int lfd = -1, md_started = 0, rc = 1, o;

    cfg->host = "127.0.0.1";
    cfg->key_id = "desk-sim-key";
    cfg->secret = "desk-sim-secret";
    cfg->speed = 1.0;
    cfg->loop = 1;
    cfg->cash = 100000 * DESK_SCALE;
    cfg->rate_limit = 200;
    cfg->rate_window_ms = 60000;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'h': cfg->host = optarg; break;
        case 'p': cfg->port = atoi(optarg); break;
        case 'P': cfg->port_file = optarg; break;
        case 'c': cfg->cert = optarg; break;
        case 'k': cfg->key = optarg; break;
        case 'i': cfg->key_id = optarg; break;
        case 's': cfg->secret = optarg; break;
        case 'd': data = optarg; break;
        case 'y': cfg->symbol = optarg; break;
        case 'x': cfg->speed = atof(optarg); break;
        case 'L': cfg->loop = 0; break;
        case 'K': cfg->md_skip = strtoull(optarg, NULL, 10); break;
        case 'C':
            if (desk_fixed_parse_cstr(optarg, &cfg->cash) != 0 || cfg->cash < 0) {
                fprintf(stderr, "desk-alpaca-sim: bad --cash %s\n", optarg);
                return 2;
            }
            break;
        case 'S': cfg->allow_short = 1; break;
        case 'r': cfg->rate_limit = atoi(optarg); break;
        case 'w': cfg->rate_window_ms = atoi(optarg); break;
        case 'f': faults = optarg; break;
        case 'v': cfg->verbose = 1; break;
        case 'H': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (cfg->cert == NULL || cfg->key == NULL || cfg->speed < 0 || cfg->rate_window_ms <= 0 ||
        cfg->rate_limit < 0 || (cfg->symbol && strlen(cfg->symbol) >= DESK_SYMBOL_MAX)) {
        usage(stderr);
        return 2;
    }
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    if (!loopback_addr(cfg->host, &ss, &sl)) {
        fprintf(stderr, "desk-alpaca-sim: --host %s is not a loopback address\n", cfg->host);
        return 2;
    }
    if (desk_md_resolve(data, NULL, data_path, sizeof data_path) != 0) {
        fprintf(stderr, "desk-alpaca-sim: %s\n", desk_errmsg());
        return 2;
    }
    cfg->data = data_path;

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_mutex_init(&g_sim.mu, NULL);

    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, cfg->cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, cfg->key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        fprintf(stderr, "desk-alpaca-sim: TLS setup failed (cert %s, key %s)\n", cfg->cert,
                cfg->key);
        ERR_print_errors_fp(stderr);
        goto out;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    if (sim_venue_init() != 0)
        goto out;
    if (faults && initial_faults(faults) != 0)
        goto out;

    lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)cfg->port);
    else
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)cfg->port);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&ss, sl) != 0 || listen(lfd, 64) != 0) {
        fprintf(stderr, "desk-alpaca-sim: cannot listen on %s:%d: %s\n", cfg->host, cfg->port,
                strerror(errno));
        goto out;
    }
    sl = sizeof ss;
    getsockname(lfd, (struct sockaddr *)&ss, &sl);
    int port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                             : ((struct sockaddr_in6 *)&ss)->sin6_port);
    if (pthread_create(&md_tid, NULL, sim_md_thread, NULL) != 0)
        goto out;
    md_started = 1;
    if (cfg->port_file && write_port_file(cfg->port_file, port) != 0) {
        fprintf(stderr, "desk-alpaca-sim: cannot write %s\n", cfg->port_file);
        goto out;
    }
    fprintf(stderr, "desk-alpaca-sim: listening on %s:%d (%s, %zu md events from %s, speed %g)\n",
            cfg->host, port, g_sim.symbol, g_sim.md->n, cfg->data, cfg->speed);

    while (!SIM_STOPPING()) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        reap(&conns, 0);
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        sim_conn_t *c = calloc(1, sizeof *c);
        if (c == NULL) {
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* replies are small */
        c->fd = fd;
        c->ctx = ctx;
        if (pthread_create(&c->tid, NULL, sim_conn_thread, c) != 0) {
            close(fd);
            free(c);
            continue;
        }
        c->next = conns;
        conns = c;
    }
    fprintf(stderr, "desk-alpaca-sim: shutting down\n");
    rc = 0;
out:
    atomic_store_explicit(&g_sim.stop, 1, memory_order_relaxed);
    if (lfd >= 0)
        close(lfd);
    reap(&conns, 1);
    if (md_started)
        pthread_join(md_tid, NULL);
    sim_venue_fini();
    SSL_CTX_free(ctx);
    pthread_mutex_destroy(&g_sim.mu);
    return rc;
}
