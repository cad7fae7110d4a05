/*
 * The node: configuration (name, host, cookie), start-up, the schedulers' run and stop.
 *
 * otpc_node_run() starts the I/O thread and then the schedulers (core/sched.c), the
 * calling thread being scheduler 0. Events the I/O thread queued are applied by the
 * poller (packets become mailbox items and signals); slices run the processes that
 * have work and write their output at once. A stop begins on the poller: callbacks on
 * other schedulers end first, then everything exits, alone.
 *
 * Start-up order matters: pids carry the creation epmd hands out, so on_start (which
 * spawns the boot processes) runs only after OTPC__EV_READY, and "ready" is logged after it.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/node_int.h"
#include "daemon/daemon_int.h"
#include "distribution/dist_int.h"
#include "otp/gen_server_int.h"
#include "proto/epmd.h"
#include "services/rpc.h"
#include "services/services.h"
#include "util/log.h"

#define DEFAULT_MAX_MESSAGE (256u << 20)
#define DEFAULT_BUSY_LIMIT (1u << 20) /* erl's dist_buf_busy_limit */
#define DEFAULT_MAX_HANDSHAKES 128

/* ---- the node's own state -------------------------------------------------------------- */

/* What only the node layer uses: how the run is stopped, how it started, the services
 * it boots. Kept in an ext slot like every layer's state. */
typedef struct {
    uv_async_t stop_async; /* otpc_node_stop from any thread */
    uv_signal_t sigterm, sigint, sighup;
    uv_poll_t stdin_poll;
    int ready_rc; /* 0 until OTPC__EV_READY (1) or OTPC__EV_FATAL (<0) */
    int (*on_start)(otpc_node_t *, void *);
    void *on_start_arg;
    otpc__vec_t services; /* of otpc_service_t, booted after the built-in ones */
} run_t;

static otpc__ext_key_t run_key;

static run_t *run_of(const otpc_node_t *n)
{
    return n->ext[atomic_load_explicit(&run_key.slot, memory_order_relaxed) - 1];
}

static void run_free(otpc_node_t *n, void *state)
{
    (void)n;
    run_t *R = state;
    free(R->services.items);
    free(R);
}

static int run_init(otpc_node_t *n)
{
    run_t *R = calloc(1, sizeof *R);
    if (!R)
        return OTPC_ENOMEM;
    int rc = otpc__ext_add(n, &run_key, R, run_free);
    if (rc)
        free(R);
    return rc;
}

int otpc_node_add_service(otpc_node_t *node, const otpc_service_t *svc)
{
    OTPC__ENTER(node);
    if (!svc || !svc->start || !svc->name)
        return OTPC_EINVAL;
    return otpc__vec_push(&run_of(node)->services, svc, sizeof *svc);
}

/* The built-in services, then the program's, then on_start. */
static int boot(otpc_node_t *n, run_t *R)
{
    size_t nb;
    const otpc_service_t *b = otpc__builtin_services(&nb);
    const otpc_service_t *mine = R->services.items;
    for (size_t i = 0; i < nb + R->services.len; i++) {
        const otpc_service_t *svc = i < nb ? &b[i] : &mine[i - nb];
        int rc = svc->start(n, svc->arg);
        if (rc) {
            OTPC__LOG_ERROR("node", "service %s did not start: %s", svc->name, otpc_strerror(rc));
            return rc;
        }
    }
    return R->on_start ? R->on_start(n, R->on_start_arg) : 0;
}

/* ---- configuration ---------------------------------------------------------------- */

/* ~/.erlang.cookie by erl's rules (kernel's auth.erl): an absent file is created with
 * 20 random capitals, mode 0400; an existing one must be a regular file that only its
 * owner may access (anyone who can read the cookie can run code on every node that
 * uses it), and the cookie is its printable characters (spaces kept, as erl keeps
 * them), followed by nothing but newlines and spaces. A refusal is logged with erl's
 * own reason and gives OTPC_ECOOKIE. */

#define COOKIE_FILE_MAX 1024

static int create_cookie_file(const char *path, char *out)
{
    unsigned char rnd[20];
    int rc = uv_random(NULL, NULL, rnd, sizeof rnd, 0, NULL);
    if (rc) {
        OTPC__LOG_ERROR("node", "Failed to create cookie file '%s': no random bytes: %s", path,
                        uv_strerror(rc));
        return OTPC_ECOOKIE;
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        out[i] = (char)('A' + rnd[i] % 26);
    out[sizeof rnd] = 0;
    memset(rnd, 0, sizeof rnd);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
    if (fd < 0) {
        OTPC__LOG_ERROR("node", "Failed to create cookie file '%s': %s", path, strerror(errno));
        goto fail;
    }
    int err = 0;
    ssize_t w = write(fd, out, sizeof rnd);
    if (w != (ssize_t)sizeof rnd)
        err = w < 0 ? errno : EIO; /* a short write sets no errno */
    if (close(fd) != 0 && !err)
        err = errno;
    if (!err)
        return 0;
    OTPC__LOG_ERROR("node", "Failed to write to cookie file '%s': %s", path, strerror(err));
    unlink(path); /* a partial cookie must not be read back at the next start */
fail:
    memset(out, 0, sizeof rnd);
    return OTPC_ECOOKIE;
}

/* erl's file_info type names, for what is not a regular file. */
static const char *file_type(mode_t mode)
{
    if (S_ISDIR(mode))
        return "directory";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "device";
    return "other";
}

/* The checks run on the opened descriptor, so the file checked is the file read. */
static int read_cookie_fd(int fd, const char *path, char *out, size_t cap)
{
    struct stat st;
    char buf[COOKIE_FILE_MAX];
    size_t n = 0;
    int rc = OTPC_ECOOKIE;
    if (fstat(fd, &st) != 0) {
        OTPC__LOG_ERROR("node", "Error when reading %s: %s", path, strerror(errno));
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        OTPC__LOG_ERROR("node", "Cookie file %s is of type %s", path, file_type(st.st_mode));
        return rc;
    }
    if (st.st_mode & 077) {
        OTPC__LOG_ERROR("node", "Cookie file %s must be accessible by owner only", path);
        return rc;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            OTPC__LOG_ERROR("node", "Error when reading %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0 || (n += (size_t)r) == sizeof buf)
            break;
    }
    size_t len = 0;
    while (len < n && buf[len] >= ' ' && buf[len] <= '~')
        len++;
    for (size_t i = len; i < n; i++)
        if (buf[i] != '\n' && buf[i] != '\r' && buf[i] != ' ') {
            OTPC__LOG_ERROR("node", "Bad characters in cookie file %s", path);
            goto out;
        }
    if (!len || len >= cap) {
        OTPC__LOG_ERROR("node", "Cookie in %s is %s", path, len ? "too long" : "empty");
        goto out;
    }
    memcpy(out, buf, len);
    out[len] = 0;
    rc = 0;
out:
    memset(buf, 0, sizeof buf);
    return rc;
}

static int read_cookie_file(char *out, size_t cap)
{
    const char *home = getenv("HOME");
    char path[1024];
    if (!home || !*home) {
        OTPC__LOG_ERROR("node", "No home for cookie file");
        return OTPC_ECOOKIE;
    }
    if ((size_t)snprintf(path, sizeof path, "%s/.erlang.cookie", home) >= sizeof path) {
        OTPC__LOG_ERROR("node", "No home for cookie file: $HOME is too long");
        return OTPC_ECOOKIE;
    }
    /* O_NONBLOCK: a FIFO in the cookie's place must be refused, not waited on. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return create_cookie_file(path, out);
    if (fd < 0) {
        OTPC__LOG_ERROR("node", "Error when reading %s: %s", path, strerror(errno));
        return OTPC_ECOOKIE;
    }
    int rc = read_cookie_fd(fd, path, out, cap);
    close(fd);
    return rc;
}

static int resolve_cookie(otpc_node_t *n, const char *given)
{
    const char *env = getenv("OTPC_COOKIE");
    const char *c = given && *given ? given : env && *env ? env : NULL;
    if (!c)
        return read_cookie_file(n->cookie, sizeof n->cookie);
    if (strlen(c) >= sizeof n->cookie)
        return OTPC_EINVAL;
    snprintf(n->cookie, sizeof n->cookie, "%s", c);
    return 0;
}

/* name@host as erl builds it: the short host for -sname, the full one for -name. */
static int resolve_name(otpc_node_t *n, const char *name, int longnames)
{
    char host[256] = "";
    const char *at = strchr(name, '@');
    size_t alen = at ? (size_t)(at - name) : strlen(name);
    if (alen == 0 || alen > 200)
        return OTPC_EINVAL;
    if (at) {
        snprintf(host, sizeof host, "%s", at + 1);
    } else {
        if (gethostname(host, sizeof host) != 0)
            return OTPC_EIO;
        host[sizeof host - 1] = 0;
        if (longnames && !strchr(host, '.')) {
            struct addrinfo hints = {0}, *res = NULL;
            hints.ai_flags = AI_CANONNAME;
            /* Start-up, before any loop runs: a blocking lookup blocks nobody. */
            if (getaddrinfo(host, NULL, &hints, &res) == 0 && res && res->ai_canonname)
                snprintf(host, sizeof host, "%s", res->ai_canonname);
            if (res)
                freeaddrinfo(res);
        }
    }
    if (!longnames) {
        char *dot = strchr(host, '.');
        if (dot)
            *dot = 0;
    }
    if (!host[0])
        return OTPC_EINVAL;
    if (alen + 1 + strlen(host) > OTPC__NODE_NAME_MAX)
        return OTPC_EINVAL;
    memcpy(n->alive, name, alen);
    n->alive[alen] = 0;
    memcpy(n->name, name, alen);
    n->name[alen] = '@';
    strcpy(n->name + alen + 1, host);
    return 0;
}

/* epmd's port as erl finds it: the option, else $ERL_EPMD_PORT (erlexec passes it on
 * as -epmd_port), else 4369. */
static int resolve_epmd(otpc_node_opts_t *o)
{
    const char *env = getenv("ERL_EPMD_PORT");
    if (o->no_epmd && !o->erl_epmd_port) {
        OTPC__LOG_ERROR("node", "no_epmd needs erl_epmd_port: no other way to find peers");
        return OTPC_EINVAL;
    }
    if (o->epmd_port)
        return 0;
    if (!env || !*env) {
        o->epmd_port = OTPC__EPMD_PORT;
        return 0;
    }
    char *end;
    unsigned long v = strtoul(env, &end, 10);
    if (*end || v == 0 || v > 65535) {
        OTPC__LOG_ERROR("node", "bad ERL_EPMD_PORT: %.20s", env);
        return OTPC_EINVAL;
    }
    o->epmd_port = (uint16_t)v;
    return 0;
}

int otpc_node_new(otpc_node_t **out, const otpc_node_opts_t *opts)
{
    int rc;
    otpc_node_t *n = calloc(1, sizeof *n);
    if (!n)
        return OTPC_ENOMEM;
    n->opts = *opts;
    if (!n->opts.net_ticktime)
        n->opts.net_ticktime = 60;
    if (!n->opts.max_message)
        n->opts.max_message = DEFAULT_MAX_MESSAGE;
    if (!n->opts.busy_limit)
        n->opts.busy_limit = DEFAULT_BUSY_LIMIT;
    if (!n->opts.max_handshakes)
        n->opts.max_handshakes = DEFAULT_MAX_HANDSHAKES;
    if (!opts->name || (rc = resolve_name(n, opts->name, opts->longnames)) != 0) {
        rc = OTPC_EINVAL;
        goto fail;
    }
    if ((rc = resolve_epmd(&n->opts)) != 0 || (rc = resolve_cookie(n, opts->cookie)) != 0)
        goto fail;
    n->opts.name = n->name;
    n->opts.cookie = n->cookie;
    n->self_atom = otpc__atom(&n->atoms, n->name, strlen(n->name));
    if (!n->self_atom) {
        rc = OTPC_ENOMEM;
        goto fail;
    }
    if ((rc = otpc__scheds_new(n, n->opts.schedulers)) != 0)
        goto fail;
    n->opts.schedulers = n->nscheds;
    if (!n->opts.busy_wait_us)
        n->opts.busy_wait_us = OTPC_BUSY_WAIT_DEFAULT_US;
    n->busy_wait_ns =
        n->opts.busy_wait_us == OTPC_BUSY_WAIT_NONE ? 0 : n->opts.busy_wait_us * 1000ull;
    /* References must not be guessable: without random bytes there is no node. */
    if ((rc = uv_random(NULL, NULL, &n->ref_salt, sizeof n->ref_salt, 0, NULL)) != 0) {
        OTPC__LOG_ERROR("node", "no random bytes for references: %s", uv_strerror(rc));
        rc = OTPC_EIO;
        goto fail;
    }
    n->wake.fd = -1;
    n->stop = otpc_node_stop; /* for services that stop the node (init:stop/0) */
    /* the layers, bottom up; each keeps its state in a slot of the node */
    if ((rc = otpc__transport_init(n)) != 0 || (rc = otpc__dist_init(n)) != 0 ||
        (rc = otpc__otp_init(n)) != 0 || (rc = otpc__rpc_init(n)) != 0 || (rc = run_init(n)) != 0)
        goto fail;
    *out = n;
    return 0;
fail:
    otpc_node_free(n);
    return rc;
}

const char *otpc_node_name(const otpc_node_t *node)
{
    return node->name;
}

/* ---- the scheduler turn ------------------------------------------------------------ */

static void begin_stop(otpc_node_t *n);

static void on_ready(otpc_node_t *n, uint32_t creation)
{
    run_t *R = run_of(n);
    n->creation = creation;
    int rc = boot(n, R);
    if (rc < 0) {
        OTPC__LOG_ERROR("node", "start-up failed: %s", otpc_strerror(rc));
        R->ready_rc = rc;
        begin_stop(n);
        return;
    }
    R->ready_rc = 1;
    OTPC__LOG_NOTICE("node", "ready %s", n->name);
}

static void on_fatal(otpc_node_t *n, const char *reason, size_t len)
{
    run_t *R = run_of(n);
    OTPC__LOG_ERROR("node", "%.*s", (int)len, reason);
    R->ready_rc = OTPC_EEPMD;
    begin_stop(n);
}

static void on_wake(otpc__wake_t *w)
{
    otpc_node_t *n = w->data;
    otpc__dist_events(n);
    otpc__async_replies(n);
    otpc__turn(n); /* outside the scheduler loop (a stop's end): at once */
}

/* ---- stopping ---------------------------------------------------------------------- */

static void begin_stop(otpc_node_t *n)
{
    run_t *R = run_of(n);
    if (n->stopping)
        return;
    n->stopping = 1;
    OTPC__LOG_NOTICE("node", "stopping %s", n->name);
    otpc__sched_quiesce(n); /* callbacks on other schedulers end first */
    /* Every process exits with `shutdown`; their links and monitors hear of it before
     * the connections close (the I/O thread flushes before closing on OTPC__CMD_STOP). */
    for (uint32_t s = 1; s < n->nprocs_cap; s++) {
        otpc_proc_t *p = n->procs[s];
        if (p && !p->exiting)
            otpc__proc_exit_now(p, otpc__t_shutdown + 1, sizeof otpc__t_shutdown - 1);
    }
    otpc__turn_final(n);
    otpc__dist_stop(n);
    if (n->scheds[0].timer_ready) /* (the others close with their loops) */
        uv_close((uv_handle_t *)&n->scheds[0].timer, NULL);
    uv_close((uv_handle_t *)&R->stop_async, NULL);
    uv_close((uv_handle_t *)&R->sigterm, NULL);
    uv_close((uv_handle_t *)&R->sigint, NULL);
    uv_close((uv_handle_t *)&R->sighup, NULL);
    if (n->opts.watch_stdin && !uv_is_closing((uv_handle_t *)&R->stdin_poll))
        uv_close((uv_handle_t *)&R->stdin_poll, NULL);
    /* `wake` stays open until the I/O thread is joined: it may still post events. */
    uv_stop(&n->loop);
}

static void on_stop_async(uv_async_t *a)
{
    begin_stop(a->data);
}

static void on_signal(uv_signal_t *s, int signum)
{
    OTPC__LOG_NOTICE("node", "got signal %d", signum);
    begin_stop(s->data);
}

/* Certificates rotate without a restart, as daemons reload their configuration. */
static void on_sighup(uv_signal_t *s, int signum)
{
    (void)signum;
    char err[300];
    OTPC__LOG_NOTICE("node", "SIGHUP: re-reading TLS certificates");
    (void)otpc_node_reload_tls(s->data, err, sizeof err); /* failures are logged */
}

int otpc_node_reload_tls(otpc_node_t *node, char *err, size_t errcap)
{
    OTPC__ENTER(node);
    return otpc__reload_tls(node, err, errcap);
}

static void on_stdin(uv_poll_t *h, int status, int events)
{
    (void)events;
    otpc_node_t *n = h->data;
    char buf[256];
    ssize_t r = status < 0 ? 0 : read(0, buf, sizeof buf);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        OTPC__LOG_INFO("node", "stdin closed");
        uv_poll_stop(h);
        begin_stop(n);
    }
}

void otpc_node_stop(otpc_node_t *node)
{
    uv_async_send(&run_of(node)->stop_async);
}

/* ---- run ------------------------------------------------------------------------------ */

static int setup_loop(otpc_node_t *n)
{
    run_t *R = run_of(n);
    if (uv_loop_init(&n->loop))
        return OTPC_EIO;
    n->wake.data = n;
    if (otpc__wake_init(&n->wake, &n->loop, on_wake))
        return OTPC_EIO;
    otpc__otp_replies_open(n, 1);
    uv_async_init(&n->loop, &R->stop_async, on_stop_async);
    if (otpc__sched_init(n))
        return OTPC_EIO;
    /* every endpoint (peers and daemon sessions) writes its output once per turn */
    if (otpc__turn_hook_add(n, otpc__transport_flush))
        return OTPC_ENOMEM;
    uv_signal_init(&n->loop, &R->sigterm);
    uv_signal_init(&n->loop, &R->sigint);
    uv_signal_init(&n->loop, &R->sighup);
    R->stop_async.data = R->sigterm.data = R->sigint.data = R->sighup.data = n;
    uv_signal_start(&R->sigterm, on_signal, SIGTERM);
    uv_signal_start(&R->sigint, on_signal, SIGINT);
    uv_signal_start(&R->sighup, on_sighup, SIGHUP);
    if (n->opts.watch_stdin) {
        if (uv_poll_init(&n->loop, &R->stdin_poll, 0) == 0) {
            R->stdin_poll.data = n;
            uv_poll_start(&R->stdin_poll, UV_READABLE | UV_DISCONNECT, on_stdin);
        } else {
            n->opts.watch_stdin = 0;
            OTPC__LOG_WARN("node", "cannot watch stdin; -watch_stdin ignored");
        }
    }
    return 0;
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int otpc_node_run(otpc_node_t *n, int (*on_start)(otpc_node_t *, void *), void *arg)
{
    run_t *R = run_of(n);
    R->on_start = on_start;
    R->on_start_arg = arg;
    int rc = setup_loop(n);
    if (rc == 0)
        rc = otpc__dist_start(n, on_ready, on_fatal);
    if (rc) {
        otpc__otp_replies_open(n, 0);
        otpc__wake_close(&n->wake);
        otpc__sched_loops_close(n);
        uv_walk(&n->loop, close_handle, NULL);
        uv_run(&n->loop, UV_RUN_DEFAULT);
        uv_loop_close(&n->loop);
        return rc;
    }
    n->multi = n->nscheds > 1;
    otpc__enter(n);
    n->sched_set = 1;
    rc = otpc__sched_run(n);
    if (rc) {
        OTPC__LOG_ERROR("node", "cannot start the schedulers: %s", otpc_strerror(rc));
        R->ready_rc = rc;
        begin_stop(n);
    }
    otpc__dist_join(n);
    otpc__otp_replies_open(n, 0);
    otpc__wake_close(&n->wake);
    otpc__sched_loops_close(n); /* the endpoints homed there end their closes */
    uv_run(&n->loop, UV_RUN_DEFAULT);
    uv_loop_close(&n->loop);
    n->sched_set = 0;
    otpc__leave(n);
    return R->ready_rc < 0 ? R->ready_rc : 0;
}

void otpc_node_free(otpc_node_t *n)
{
    if (!n)
        return;
    otpc__ext_free_all(n); /* the layers' state, top down */
    for (uint32_t s = 0; s < n->nprocs_cap; s++)
        free(n->procs[s]);
    free(n->procs);
    free(n->names);
    free(n->node_watchers.items);
    otpc__timers_free(n); /* (their messages go back to the schedulers' pools) */
    otpc__scheds_free(n);
    otpc__atoms_free(&n->atoms);
    memset(n->cookie, 0, sizeof n->cookie);
    free(n);
}
