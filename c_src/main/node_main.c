/*
 * The node program's body, shared by priv/otpc_node (main/otpc_node.c) and the test
 * suites' node program (test/node/, which adds the probes through otpc__program_t).
 * Flags follow erl's (-sname, -name, -setcookie, ...); see usage(). It runs one otpc
 * node until SIGTERM, SIGINT, or (with -watch_stdin) the end of its stdin, which is how
 * the Erlang side's port owner stops it; or until its supervisor otpc_sup ends, which
 * makes it exit 1.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>

#include "examples/examples.h"
#include "main/dist_opts.h"
#include "main/node_main.h"
#include "otp/gen_server_int.h"

typedef struct {
    const otpc__program_t *prog;
    const char *daemon_module; /* -daemon PORT:MODULE */
    uint16_t daemon_port;
    const char *daemon_ip; /* -daemon_ip IP */
    char dist_ip[48];      /* -kernel inet_dist_use_interface, as text */
    const char *load[64];  /* -load PATH, in order */
    int nload;
} boot_t;

static void usage(void)
{
    fprintf(stderr,
            "usage: otpc_node (-sname NAME | -name NAME[@HOST]) [-setcookie COOKIE]\n"
            "                 [-hidden | -visible] [-net_ticktime SECONDS] [-max_message BYTES]\n"
            "                 [-port PORT] [-loglevel debug|info|notice|warning|error]\n"
            "                 [-watch_stdin] [-daemon PORT:MODULE [-daemon_ip IP]]\n"
            "                 [-max_fds N] [-zdbbl KIB] [-max_handshakes N] [-load PLUGIN.so]...\n"
            "                 [-async_threads N] [-schedulers N] [-busy_wait_us US]\n"
            "                 [-no_atom_cache]\n"
            "                 [-proto_dist inet_tcp|inet6_tcp|inet_tls|inet6_tls]\n"
            "                 [-ssl_dist_opt server_certfile F client_verify verify_peer ...]\n"
            "                 [-ssl_dist_optfile FILE] [-erl_epmd_port PORT]\n"
            "                 [-start_epmd true|false] [-no_epmd]\n"
            "                 [-kernel inet_dist_use_interface {A,B,C,D}]\n"
            "It runs the example servers echo, stack and ch3 under otpc_sup. -load loads a\n"
            "plug-in's modules (startable by name, as the examples). -daemon listens on\n"
            "PORT (TCP, loopback unless -daemon_ip) with one MODULE server (an example or a\n"
            "plug-in's) per connection;\n"
            "stack servers start with \"hello,world\". -max_fds lowers the descriptor limit\n"
            "(RLIMIT_NOFILE), e.g. to see the daemon back off when it runs out.\n"
            "-zdbbl: output queued for one peer or daemon connection (KiB, default 1024)\n"
            "past which a sender waits, as erl's +zdbbl. -max_handshakes: incoming\n"
            "handshakes in progress at once (default 128); more are closed at once.\n"
            "-async_threads: threads for blocking work (otpc_async; default 4).\n"
            "-schedulers: threads running processes (default: $OTPC_SCHEDULERS, else the\n"
            "CPUs this process may use), as erl's +S; a callback computing on one holds\n"
            "up no other process.\n"
            "-busy_wait_us: how long an idle scheduler keeps looking for work before it\n"
            "sleeps while messages come one at a time (default 100; 0: never), as erl's\n"
            "+sbwt: a lone caller's round trip without a wake-up, for CPU otherwise idle.\n"
            "-no_atom_cache: do not use the distribution header atom cache (more bytes per\n"
            "message on the wire, less CPU per message here).\n"
            "The cookie may also come from $OTPC_COOKIE, else ~/.erlang.cookie.\n"
            "-proto_dist inet_tls: distribution over TLS, with erl's -ssl_dist_opt pairs\n"
            "or -ssl_dist_optfile (certificates are re-read on SIGHUP); inet6_tcp and\n"
            "inet6_tls: the same over IPv6. -erl_epmd_port: listen on PORT and reach\n"
            "every peer at PORT, without asking epmd (registering is still tried;\n"
            "failing is no error). -start_epmd false: never start epmd. -no_epmd: never\n"
            "contact epmd (with -erl_epmd_port). epmd's own port: $ERL_EPMD_PORT.\n");
}

/* otpc_sup is the node program's permanent application. When it ends (it gave up after
 * more restarts than its intensity, or anything else), the node stops and main() exits
 * 1, as erl halts when a permanent application exits: whoever owns the node can then
 * restart it, instead of a node that runs on with no servers. A process monitors
 * otpc_sup for this. On a stop for any other reason (signal, stdin EOF) every process
 * exits at once, the watcher with them, so its DOWN handler never runs then. */
static int sup_ended;

static int watch_init(otpc_proc_t *self, void *arg)
{
    otpc_ref_t ref;
    return otpc_monitor(self, arg, &ref);
}

static void watch_handle(otpc_proc_t *self, otpc_term_t msg)
{
    int i;
    char *reason = NULL;
    if (!otpc_term_is_tagged(msg, "DOWN", 5, &i) || otpc_skip_term(msg, &i) ||
        otpc_skip_term(msg, &i) || otpc_skip_term(msg, &i))
        return; /* nothing else is sent to it; {'DOWN', Ref, process, Pid, Reason} */
    if (ei_s_print_term(&reason, msg.data, &i) < 0) {
        free(reason);
        reason = NULL;
    }
    fprintf(stderr, "error otpc_node: otpc_sup terminated (%.800s); stopping the node\n",
            reason ? reason : "?");
    free(reason);
    sup_ended = 1;
    otpc_node_stop(otpc_proc_node(self));
}

static const otpc_proc_ops_t watch_ops = {
    .name = "otpc_sup_watch", .init = watch_init, .handle = watch_handle};

/* The example servers under the node's root supervisor, `otpc_sup`: echo, stack (with
 * "hello,world") and ch3, permanent, so a crashed one comes back with its argument.
 * The node boots it as a service. */
static int start_examples(otpc_node_t *node, void *arg)
{
    (void)arg;
    ei_x_buff words;
    int rc;
    if (ei_x_new_with_version(&words) || ei_x_encode_string(&words, "hello,world"))
        return OTPC_ENOMEM;
    otpc_term_t none = {NULL, 0};
    otpc_child_spec_t children[] = {
        {"echo", &otpc_example_echo, none, "echo", OTPC_PERMANENT, 0},
        {"stack", &otpc_example_stack, otpc_term_x(&words), "stack", OTPC_PERMANENT, 0},
        {"ch3", &otpc_example_ch3, none, "ch3", OTPC_PERMANENT, 0},
    };
    otpc_sup_flags_t flags = {.intensity = 10, .period = 10};
    otpc_pid_t sup;
    rc = otpc_supervisor_start(node, "otpc_sup", &flags, children, 3, &sup);
    ei_x_free(&words);
    otpc_pid_t watcher;
    return rc ? rc : otpc_spawn(node, &watch_ops, &sup, &watcher);
}

static const otpc_gen_server_t *const examples[] = {&otpc_example_echo, &otpc_example_stack,
                                                    &otpc_example_ch3};

/* -daemon: a per-connection server of a module (an example, the program's own or a
 * plug-in's), with no owner. */
static int start_daemon(otpc_node_t *node, const boot_t *b)
{
    const otpc_gen_server_t *mod = NULL;
    for (size_t i = 0; i < sizeof examples / sizeof *examples; i++)
        if (!strcmp(examples[i]->name, b->daemon_module))
            mod = examples[i];
    if (!mod) /* a module of the program's own, or of a plug-in */
        mod = otpc__module_find(node, b->daemon_module);
    if (!mod) {
        fprintf(stderr, "error otpc_node: -daemon: no module %s\n", b->daemon_module);
        return OTPC_EINVAL;
    }
    ei_x_buff words;
    if (ei_x_new_with_version(&words) || ei_x_encode_string(&words, "hello,world"))
        return OTPC_ENOMEM;
    otpc_daemon_opts_t o = {.ip = b->daemon_ip, .port = b->daemon_port};
    otpc_pid_t pid;
    char err[200];
    int rc = otpc_daemon_start(node, mod, otpc_term_x(&words), &o, NULL, &pid, err, sizeof err);
    ei_x_free(&words);
    if (rc)
        fprintf(stderr, "error otpc_node: -daemon: %s\n", err);
    return rc;
}

/* The modules otpc:start/4 can start: the examples and the program's own. */
static int register_modules(otpc_node_t *node, const otpc__program_t *prog)
{
    int rc;
    for (size_t i = 0; i < sizeof examples / sizeof *examples; i++)
        if ((rc = otpc_gen_server_register(node, examples[i])) != 0)
            return rc;
    for (size_t i = 0; prog && i < prog->nmodules; i++)
        if ((rc = otpc_gen_server_register(node, prog->modules[i])) != 0)
            return rc;
    return 0;
}

/* -load: the plug-ins, before anything starts (a -daemon module may be one). */
static int load_plugins(otpc_node_t *node, const boot_t *b)
{
    for (int i = 0; i < b->nload; i++) {
        char err[300];
        int rc = otpc_node_load(node, b->load[i], err, sizeof err);
        if (rc) {
            fprintf(stderr, "error otpc_node: -load %s: %s\n", b->load[i], err);
            return rc;
        }
    }
    return 0;
}

/* on_start: after the built-in services and otpc_sup. */
static int boot(otpc_node_t *node, void *arg)
{
    boot_t *b = arg;
    int rc = 0;
    if (b->daemon_module && (rc = start_daemon(node, b)) != 0)
        return rc;
    if (b->prog && b->prog->boot)
        rc = b->prog->boot(node);
    return rc;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

/* -proto_dist: erl's carriers by module name, over IPv4 or IPv6. */
static int proto_dist(const char *val, otpc_node_opts_t *o)
{
    static const struct {
        const char *name;
        int tls, inet6;
    } protos[] = {{"inet_tcp", 0, 0}, {"inet6_tcp", 0, 1}, {"inet_tls", 1, 0}, {"inet6_tls", 1, 1}};
    for (size_t i = 0; i < sizeof protos / sizeof *protos; i++)
        if (!strcmp(val, protos[i].name)) {
            o->tls_dist = protos[i].tls;
            o->inet6 = protos[i].inet6;
            return 0;
        }
    fprintf(stderr,
            "error otpc_node: -proto_dist %s is not supported (inet_tcp, inet6_tcp, inet_tls, "
            "inet6_tls)\n",
            val);
    return -1;
}

/* -ssl_dist_opt Key Value [Key Value ...], up to the next flag, as erl reads it. */
static int ssl_dist_opts(int argc, char **argv, int *i, otpc_node_opts_t *o)
{
    char err[300];
    int n = 0;
    while (*i + 1 < argc && argv[*i + 1][0] != '-') {
        if (*i + 2 >= argc || argv[*i + 2][0] == '-') {
            fprintf(stderr, "error otpc_node: -ssl_dist_opt %s has no value\n", argv[*i + 1]);
            return -1;
        }
        if (otpc__ssl_dist_opt(o, argv[*i + 1], argv[*i + 2], err, sizeof err)) {
            fprintf(stderr, "error otpc_node: %s\n", err);
            return -1;
        }
        *i += 2;
        n++;
    }
    if (!n) {
        fprintf(stderr, "error otpc_node: -ssl_dist_opt needs Key Value pairs\n");
        return -1;
    }
    return 0;
}

/* erl's `-kernel inet_dist_use_interface {127,0,0,1}` (8 elements for IPv6), as the
 * textual address the listener binds. */
static int parse_ip_tuple(const char *t, char *out, size_t cap)
{
    unsigned long e[8];
    int n = 0;
    const char *p = t;
    if (*p++ != '{')
        return -1;
    for (;;) {
        char *end;
        if (n == 8 || *p < '0' || *p > '9')
            return -1;
        e[n++] = strtoul(p, &end, 10);
        p = end;
        if (*p == '}' && !p[1])
            break;
        if (*p++ != ',')
            return -1;
    }
    if (n == 4 && e[0] < 256 && e[1] < 256 && e[2] < 256 && e[3] < 256) {
        snprintf(out, cap, "%lu.%lu.%lu.%lu", e[0], e[1], e[2], e[3]);
        return 0;
    }
    if (n != 8)
        return -1;
    size_t len = 0;
    for (int i = 0; i < 8 && len < cap; i++) {
        if (e[i] > 0xffff)
            return -1;
        len += (size_t)snprintf(out + len, cap - len, i ? ":%lx" : "%lx", e[i]);
    }
    return len < cap ? 0 : -1;
}

/* Returns 0, or 2 (bad usage) after printing why. */
static int parse(int argc, char **argv, otpc_node_opts_t *o, boot_t *b)
{
    unsigned long long v;
    /* the default for -schedulers, as ERL_FLAGS can carry erl's +S: set where the
     * command line is out of reach (a release's, the test runs' nodes) */
    const char *env = getenv("OTPC_SCHEDULERS");
    if (env && *env) {
        if (parse_uint(env, 1024, &v) || v < 1) {
            fprintf(stderr, "error otpc_node: bad OTPC_SCHEDULERS: %.20s\n", env);
            return -1;
        }
        o->schedulers = (unsigned)v;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-hidden")) {
            o->published = 0;
        } else if (!strcmp(a, "-visible")) {
            o->published = 1;
        } else if (b->prog && b->prog->flag && b->prog->flag(a)) {
            /* the program's own bare flag */
        } else if (!strcmp(a, "-watch_stdin")) {
            o->watch_stdin = 1;
        } else if (!strcmp(a, "-no_epmd")) {
            o->no_epmd = 1;
        } else if (!strcmp(a, "-no_atom_cache")) {
            o->no_atom_cache = 1;
        } else if (!val) {
            fprintf(stderr, "error otpc_node: unknown flag or missing value: %s\n", a);
            return 2;
        } else if (!strcmp(a, "-ssl_dist_opt")) {
            if (ssl_dist_opts(argc, argv, &i, o))
                return 2;
        } else if (!strcmp(a, "-proto_dist")) {
            if (proto_dist(val, o))
                return 2;
            i++;
        } else if (!strcmp(a, "-ssl_dist_optfile")) {
            char err[300];
            if (otpc__ssl_dist_optfile(o, val, err, sizeof err)) {
                fprintf(stderr, "error otpc_node: -ssl_dist_optfile %s: %s\n", val, err);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "-sname") || !strcmp(a, "-name")) {
            o->name = val;
            o->longnames = a[1] == 'n';
            i++;
        } else if (!strcmp(a, "-setcookie")) {
            o->cookie = val;
            i++;
        } else if (!strcmp(a, "-net_ticktime") && !parse_uint(val, 3600, &v) && v > 0) {
            o->net_ticktime = (unsigned)v;
            i++;
        } else if (!strcmp(a, "-max_message") && !parse_uint(val, 1ULL << 32, &v) && v > 0) {
            o->max_message = (size_t)v;
            i++;
        } else if (!strcmp(a, "-zdbbl") && !parse_uint(val, 2097151, &v) && v >= 1) {
            o->busy_limit = (size_t)v * 1024; /* KiB, as erl's +zdbbl */
            i++;
        } else if (!strcmp(a, "-async_threads") && !parse_uint(val, 1024, &v) && v >= 1) {
            o->async_threads = (unsigned)v;
            i++;
        } else if (!strcmp(a, "-schedulers") && !parse_uint(val, 1024, &v) && v >= 1) {
            o->schedulers = (unsigned)v;
            i++;
        } else if (!strcmp(a, "-busy_wait_us") && !parse_uint(val, 1000000, &v)) {
            o->busy_wait_us = v ? (unsigned)v : OTPC_BUSY_WAIT_NONE;
            i++;
        } else if (!strcmp(a, "-max_handshakes") && !parse_uint(val, 1 << 20, &v) && v >= 1) {
            o->max_handshakes = (unsigned)v;
            i++;
        } else if (!strcmp(a, "-port") && !parse_uint(val, 65535, &v)) {
            o->listen_port = (uint16_t)v;
            i++;
        } else if (!strcmp(a, "-daemon") && strchr(val, ':') &&
                   !parse_uint(strndupa(val, (size_t)(strchr(val, ':') - val)), 65535, &v)) {
            b->daemon_port = (uint16_t)v;
            b->daemon_module = strchr(val, ':') + 1;
            i++;
        } else if (!strcmp(a, "-max_fds") && !parse_uint(val, 1 << 20, &v) && v >= 16) {
            struct rlimit rl;
            getrlimit(RLIMIT_NOFILE, &rl);
            rl.rlim_cur = (rlim_t)v < rl.rlim_max ? (rlim_t)v : rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            i++;
        } else if (!strcmp(a, "-erl_epmd_port") && !parse_uint(val, 65535, &v) && v >= 1) {
            o->erl_epmd_port = (uint16_t)v;
            i++;
        } else if (!strcmp(a, "-start_epmd") && (!strcmp(val, "true") || !strcmp(val, "false"))) {
            o->no_start_epmd = val[0] == 'f';
            i++;
        } else if (!strcmp(a, "-kernel") && i + 2 < argc &&
                   !strcmp(val, "inet_dist_use_interface") &&
                   parse_ip_tuple(argv[i + 2], b->dist_ip, sizeof b->dist_ip) == 0) {
            o->dist_ip = b->dist_ip;
            i += 2;
        } else if (!strcmp(a, "-daemon_ip")) {
            b->daemon_ip = val;
            i++;
        } else if (!strcmp(a, "-load") && b->nload < (int)(sizeof b->load / sizeof *b->load)) {
            b->load[b->nload++] = val;
            i++;
        } else if (!strcmp(a, "-loglevel")) {
            otpc_log_level_t l;
            if (otpc_log_level_parse(val, &l)) {
                fprintf(stderr, "error otpc_node: bad -loglevel %s\n", val);
                return 2;
            }
            otpc_log_set_level(l);
            i++;
        } else {
            fprintf(stderr, "error otpc_node: bad flag or value: %s %s\n", a, val);
            return 2;
        }
    }
    if (!o->name) {
        fprintf(stderr, "error otpc_node: -sname or -name is required\n");
        return 2;
    }
    if (o->no_epmd && !o->erl_epmd_port) {
        /* erlexec refuses -no_epmd without a -proto_dist that finds peers itself; ours
         * finds them only at a fixed port */
        fprintf(stderr, "error otpc_node: -no_epmd needs -erl_epmd_port\n");
        return 2;
    }
    char err[300];
    if (otpc__dist_opts_check(o, err, sizeof err)) {
        fprintf(stderr, "error otpc_node: %s\n", err);
        return 2;
    }
    return 0;
}

int otpc__node_main(int argc, char **argv, const otpc__program_t *prog)
{
    otpc_node_opts_t opts = {0};
    boot_t b = {.prog = prog};
    otpc_node_t *node = NULL;
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stderr, NULL, _IOLBF, 0);
    if (parse(argc, argv, &opts, &b)) {
        usage();
        return 2;
    }
    int rc = otpc_node_new(&node, &opts);
    if (rc) {
        fprintf(stderr, "error otpc_node: %s\n", otpc_strerror(rc));
        return 1;
    }
    otpc_service_t sup = {"otpc_sup", start_examples, NULL};
    if ((rc = register_modules(node, prog)) == 0 && (rc = load_plugins(node, &b)) == 0 &&
        (rc = otpc_node_add_service(node, &sup)) == 0)
        rc = otpc_node_run(node, boot, &b);
    otpc_node_free(node);
    if (rc) {
        fprintf(stderr, "error otpc_node: %s\n", otpc_strerror(rc));
        return 1;
    }
    return sup_ended ? 1 : 0;
}
