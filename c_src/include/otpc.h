/*
 * otpc.h -- the one public header of otpc: a C program that is an Erlang node.
 *
 * A node (otpc_node_t) speaks the Erlang distribution protocol, so any BEAM node can
 * ping it, send to its processes, link and monitor them. Inside, C code runs as
 * processes (otpc_proc_t): each has a pid, an optional registered name and a mailbox,
 * and its callbacks are never run re-entrantly. Callbacks run on the node's scheduler
 * threads (otpc_node_opts_t.schedulers, -schedulers; the thread that called
 * otpc_node_run() is one of them); socket I/O, handshakes and ticks run on a separate
 * I/O thread, so a slow callback never costs a connection.
 *
 * Threads, and what they ask of callback code:
 *  - One process's callbacks never overlap and see each other's writes: its own data
 *    (otpc_proc_data) needs no lock, whichever scheduler runs the next callback.
 *  - Callbacks of *different* processes may run at the same time on different
 *    schedulers. Data that several processes share (a global table, a C library's
 *    global state) needs a lock of yours, or one process owning it and the others
 *    asking it by message, as in Erlang; or -schedulers 1.
 *  - A callback that computes or blocks holds up only its own process (and those
 *    waiting on it), while another scheduler is free; work that blocks belongs on the
 *    pool (otpc_async), which keeps the schedulers for processes.
 *  - otpc functions are for callbacks (and on_start); from other threads only those
 *    marked "any thread" (otpc_reply_async, otpc_node_stop, the log functions).
 *
 * Conventions:
 *  - Functions returning int give 0 on success or a negative OTPC_E* code;
 *    otpc_strerror() names it.
 *  - Terms cross the API as ei external-format bytes *with* the leading version byte
 *    (what ei_x_new_with_version() starts with; otpc_match and otpc_x_format's ~t
 *    also take a term without it). An otpc_term_t is a borrowed view:
 *    the callee never keeps the pointer past the call, the caller keeps ownership.
 *  - Functions taking an otpc_proc_t *self may only be called from a callback of that
 *    process (on whichever scheduler runs it).
 *
 * Example: a process that answers {ping, From} with pong.
 *
 *     static void handle(otpc_proc_t *self, otpc_term_t msg) {
 *         int i = 0, arity; otpc_pid_t from; ei_x_buff x;
 *         if (ei_decode_version(msg.data, &i, NULL) || ei_decode_tuple_header(msg.data, &i, &arity)
 *             || arity != 2 || !otpc_decode_atom_is(msg.data, &i, "ping")
 *             || otpc_decode_pid(self, msg.data, &i, &from)) return;
 *         if (ei_x_new_with_version(&x) == 0 && ei_x_encode_atom(&x, "pong") == 0)
 *             otpc_send(self, &from, otpc_term_x(&x)); // else out of memory: not sent
 *         ei_x_free(&x);
 *     }
 *     static const otpc_proc_ops_t ops = { .name = "pinger", .handle = handle };
 *     static int boot(otpc_node_t *node, void *arg) {
 *         otpc_pid_t pid; int rc = otpc_spawn(node, &ops, NULL, &pid);
 *         return rc ? rc : otpc_register_pid(node, "pinger", &pid);
 *     }
 *     ... otpc_node_run(node, boot, NULL);
 */
#ifndef OTPC_H
#define OTPC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <ei.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define OTPC_WUR __attribute__((warn_unused_result))
#else
#define OTPC_WUR
#endif

/* ---- errors -------------------------------------------------------------------- */

#define OTPC_ERRNO_MAP(X)                                                               \
    X(NOMEM, -1, "out of memory")                                                       \
    X(INVAL, -2, "invalid argument")                                                    \
    X(BADARG, -3, "malformed term")                                                     \
    X(NOPROC, -4, "no such process")                                                    \
    X(NAMETAKEN, -5, "name already registered")                                         \
    X(TOOBIG, -6, "message exceeds the configured limit")                               \
    X(IO, -7, "I/O error")                                                              \
    X(PROTO, -8, "distribution protocol violation")                                     \
    X(EPMD, -9, "epmd refused or unreachable")                                          \
    X(COOKIE, -10, "no usable cookie: use -setcookie, OTPC_COOKIE or ~/.erlang.cookie") \
    X(STATE, -11, "not allowed in this state")                                          \
    X(STOPPED, -13, "the server stopped during init")                                   \
    X(BUSY, -14, "the connection's output is over its limit")

enum {
#define OTPC__E(name, code, text) OTPC_E##name = code,
    OTPC_ERRNO_MAP(OTPC__E)
#undef OTPC__E
};

/* Not an error: otpc_gen_server_start() when init returned ignore. */
#define OTPC_IGNORED 1

/* Static text for an OTPC_E* code (never NULL). */
const char *otpc_strerror(int err);

/* ---- logging ------------------------------------------------------------------- */

typedef enum {
    OTPC_LOG_DEBUG = 0,
    OTPC_LOG_INFO,
    OTPC_LOG_NOTICE,
    OTPC_LOG_WARNING,
    OTPC_LOG_ERROR
} otpc_log_level_t;

/* Lines go to stderr as "<level> <module>: <text>", one per event; the Erlang side
 * (otpc_node.erl) forwards them to logger. Thread-safe. */
void otpc_log_set_level(otpc_log_level_t level);
int otpc_log_level_parse(const char *name, otpc_log_level_t *out);

/* ---- terms --------------------------------------------------------------------- */

/* A borrowed, read-only view of one encoded term, starting with the version byte. */
typedef struct {
    const char *data;
    size_t size;
} otpc_term_t;

/* The term in an ei_x_buff built with ei_x_new_with_version(); borrows x->buff. */
static inline otpc_term_t otpc_term_x(const ei_x_buff *x)
{
    otpc_term_t t = {x->buff, (size_t)x->index};
    return t;
}

/* ---- node ---------------------------------------------------------------------- */

typedef struct otpc_node otpc_node_t;

/* One side of TLS distribution, as erl's `-ssl_dist_opt server_* / client_*` options
 * (or the `server` / `client` lists of an `-ssl_dist_optfile`). Strings are borrowed
 * for the node's life: the files are read at start and again at otpc_node_reload_tls. */
typedef struct {
    const char *certfile;     /* PEM certificate (chain); required on the server side */
    const char *keyfile;      /* PEM private key; NULL: in certfile */
    const char *cacertfile;   /* CAs the peer's certificate is verified against */
    int verify_peer;          /* verify the peer's certificate (client: also its host) */
    int fail_if_no_peer_cert; /* server: refuse a peer without one (mutual TLS) */
    unsigned versions;        /* OTPC_TLS_V12 | OTPC_TLS_V13; 0: both */
} otpc_tls_opts_t;

#define OTPC_TLS_V12 1u
#define OTPC_TLS_V13 2u

typedef struct {
    const char *name;           /* "c1" (short name) or "c1@host" (with longnames) */
    int longnames;              /* -name instead of -sname */
    const char *cookie;         /* NULL: $OTPC_COOKIE, then ~/.erlang.cookie */
    int published;              /* 0: hidden node (the default for a C node) */
    unsigned net_ticktime;      /* seconds; 0 means 60, as in erl */
    size_t max_message;         /* largest accepted packet; 0 means 256 MiB */
    size_t busy_limit;          /* output queued for one peer or daemon connection past
                                  * which it is busy (erl's +zdbbl); 0 means 1 MiB */
    unsigned max_handshakes;    /* incoming handshakes in progress at once; 0 means 128 */
    uint16_t listen_port;       /* 0: any free port */
    int watch_stdin;            /* stop when stdin reaches EOF (run under an Erlang port) */
    int tls_dist;               /* distribution over TLS (erl's -proto_dist inet_tls) */
    otpc_tls_opts_t tls_server; /* with tls_dist: connections peers make to us */
    otpc_tls_opts_t tls_client; /* with tls_dist: connections we make */
    unsigned async_threads;     /* threads of the blocking-work pool (otpc_async); 0: 4 */
    /* Scheduler threads running processes (erl's +S); 0: the CPUs this process may use.
     * See "Threads" in docs/ARCHITECTURE.md for what callbacks may then assume. */
    unsigned schedulers;
    /* Microseconds a scheduler with nothing to do keeps looking for work before it
     * sleeps, as erl's +sbwt, while messages come one or a few at a time (a
     * conversation: the next one often comes sooner than a sleeping thread wakes);
     * never between batches under load. 0: OTPC_BUSY_WAIT_DEFAULT_US;
     * OTPC_BUSY_WAIT_NONE: never (a shared machine where idle CPU matters more). */
    unsigned busy_wait_us;
    /* Do not announce the distribution header atom cache (DFLAG_DIST_HDR_ATOM_CACHE),
     * which ERTS always uses: a small call then takes ~390 bytes on the wire instead
     * of ~290, and ~0.6 us less CPU here (the references written out on the way in,
     * put in on the way out). For fast local networks where CPU is scarcer. */
    int no_atom_cache;
    /* Distribution over IPv6 (erl's -proto_dist inet6_tcp): listen on ::, register
     * with epmd at ::1, resolve peers' hosts to IPv6 addresses. */
    int inet6;
    /* Without epmd, as erl's -erl_epmd_port: listen on this port and dial every peer
     * at it, never asking an epmd for a port; registering with epmd is still tried,
     * and its failure tolerated (the creation is then random). 0: ask epmd. */
    uint16_t erl_epmd_port;
    int no_start_epmd;   /* erl's -start_epmd false: never spawn epmd if none runs */
    int no_epmd;         /* erl's -no_epmd: never contact epmd; needs erl_epmd_port */
    uint16_t epmd_port;  /* epmd's own port; 0: $ERL_EPMD_PORT, else 4369 */
    const char *dist_ip; /* address the listener binds (erl's inet_dist_use_interface),
                          * an IPv4 or IPv6 literal, borrowed until the node is
                          * freed; NULL: every address of the family */
} otpc_node_opts_t;

#define OTPC_BUSY_WAIT_DEFAULT_US 100u
#define OTPC_BUSY_WAIT_NONE 0xffffffffu

/* Create a node: resolves the host name and the cookie; nothing listens yet.
 * *out is owned by the caller and freed with otpc_node_free(). */
OTPC_WUR int otpc_node_new(otpc_node_t **out, const otpc_node_opts_t *opts);

/* A service: something the node starts once it is registered with epmd (pids carry
 * the creation epmd hands out), after the built-in ones (`net_kernel`,
 * `otpc_starter`) and before on_start, in the order added. start runs on a
 * scheduler thread and returns 0 or an OTPC_E* code, which stops the node.
 *
 *     static int start_sup(otpc_node_t *node, void *arg) { ... otpc_supervisor_start ... }
 *     otpc_service_t sup = {"my_sup", start_sup, NULL};
 *     rc = otpc_node_add_service(node, &sup);                                      */
typedef struct {
    const char *name; /* for the log; borrowed until the node is freed */
    int (*start)(otpc_node_t *node, void *arg);
    void *arg; /* borrowed until the node is freed */
} otpc_service_t;

/* Add a service (copied) before otpc_node_run. 0, OTPC_EINVAL or OTPC_ENOMEM. */
int otpc_node_add_service(otpc_node_t *node, const otpc_service_t *svc);

/* Listen, register with epmd (starting it if it is not running, unless no_start_epmd;
 * not at all with no_epmd), then run the schedulers (the calling thread is one) until
 * otpc_node_stop(). on_start (may be NULL) runs on a scheduler thread once the node
 * is registered -- pids carry the creation epmd hands out (or the random one of
 * erl_epmd_port and no_epmd), so this is where boot processes are spawned; a negative
 * return stops the node with that error. Returns 0 after a clean stop, else an
 * OTPC_E* code. */
OTPC_WUR int otpc_node_run(otpc_node_t *node, int (*on_start)(otpc_node_t *node, void *arg),
                           void *arg);

/* Ask a running node to stop: every process exits with reason `shutdown`, connections
 * close, epmd forgets the name. Safe from any thread and from signal handlers' threads. */
void otpc_node_stop(otpc_node_t *node);

/* Read the certificate, key and CA files of TLS distribution and of every TLS daemon
 * again (certificates rotated; the node program does it on SIGHUP, Erlang with
 * otpc:reload_tls/1): connections made from now on use them, those up keep theirs.
 * 0, or OTPC_EINVAL with a one-line reason in err (a file missing or bad: that user
 * keeps what it had, the others still reload). On a scheduler thread (a callback),
 * while the node runs. */
int otpc_node_reload_tls(otpc_node_t *node, char *err, size_t errcap);

/* Free a node that is not running. Takes NULL. */
void otpc_node_free(otpc_node_t *node);

/* "name@host"; owned by the node. */
const char *otpc_node_name(const otpc_node_t *node);

/* ---- processes ----------------------------------------------------------------- */

typedef struct otpc_proc otpc_proc_t;

/* A process identifier. `node` is an interned node name, meaningful only inside the
 * node that produced it; compare pids with otpc_pid_eq(). */
typedef struct {
    uint32_t node;
    uint32_t num;
    uint32_t serial;
    uint32_t creation;
} otpc_pid_t;

static inline int otpc_pid_eq(const otpc_pid_t *a, const otpc_pid_t *b)
{
    return a->node == b->node && a->num == b->num && a->serial == b->serial &&
           a->creation == b->creation;
}

/* A reference (monitor reference or make_ref()). */
typedef struct {
    uint32_t node;
    uint32_t creation;
    uint32_t len;
    uint32_t n[5];
} otpc_ref_t;

int otpc_ref_eq(const otpc_ref_t *a, const otpc_ref_t *b);

/* Callbacks of a process. All optional except handle.
 *
 * init runs inside otpc_spawn() with the spawn argument; a negative return aborts the
 * spawn (otpc_spawn returns it). handle gets each message in arrival order; the term is
 * borrowed for the call. terminate runs once when the process exits, with the exit
 * reason (borrowed); it must free the process's own data. */
typedef struct {
    const char *name;
    int (*init)(otpc_proc_t *self, void *arg);
    void (*handle)(otpc_proc_t *self, otpc_term_t msg);
    void (*terminate)(otpc_proc_t *self, otpc_term_t reason);
} otpc_proc_ops_t;

/* Start a process. From on_start or a callback only (a scheduler thread); from a
 * callback pass the caller's node (otpc_proc_node(self)). */
OTPC_WUR int otpc_spawn(otpc_node_t *node, const otpc_proc_ops_t *ops, void *arg, otpc_pid_t *out);

/* Register a local name for a pid; OTPC_ENAMETAKEN if taken, OTPC_ENOPROC if dead. */
OTPC_WUR int otpc_register_pid(otpc_node_t *node, const char *name, const otpc_pid_t *pid);

otpc_node_t *otpc_proc_node(otpc_proc_t *self);
otpc_pid_t otpc_self(const otpc_proc_t *self);
void *otpc_proc_data(const otpc_proc_t *self);
void otpc_proc_set_data(otpc_proc_t *self, void *data);

/* Send a message (asynchronous, never blocks; to a remote pid it may open the
 * connection). Sending to a dead or unreachable process is not an error, as in Erlang. */
int otpc_send(otpc_proc_t *self, const otpc_pid_t *to, otpc_term_t msg);
/* Send to a registered name; node NULL or this node's name means local. */
int otpc_send_name(otpc_proc_t *self, const char *name, const char *node, otpc_term_t msg);

/* Links and monitors, with Erlang's semantics (links use the UNLINK_ID protocol). */
int otpc_link(otpc_proc_t *self, const otpc_pid_t *pid);
int otpc_unlink(otpc_proc_t *self, const otpc_pid_t *pid);
int otpc_monitor(otpc_proc_t *self, const otpc_pid_t *pid, otpc_ref_t *out);
int otpc_monitor_name(otpc_proc_t *self, const char *name, const char *node, otpc_ref_t *out);
int otpc_demonitor(otpc_proc_t *self, const otpc_ref_t *ref);
/* Turn exit signals into {'EXIT', From, Reason} messages (process_flag(trap_exit, On)). */
void otpc_trap_exit(otpc_proc_t *self, int on);
/* exit(Pid, Reason): send an exit signal. */
int otpc_exit_signal(otpc_proc_t *self, const otpc_pid_t *pid, otpc_term_t reason);
/* End the calling process with Reason once the current callback returns. */
void otpc_exit(otpc_proc_t *self, otpc_term_t reason);
int otpc_register(otpc_proc_t *self, const char *name);
int otpc_make_ref(otpc_proc_t *self, otpc_ref_t *out);
/* net_kernel:monitor_nodes(On): while on, self gets {nodeup, Node} when a connection
 * to another node comes up and {nodedown, Node} when it goes (hidden nodes included).
 * 0 or OTPC_ENOMEM. */
int otpc_monitor_nodes(otpc_proc_t *self, int on);

/* ---- encoding helpers ---------------------------------------------------------- */

int otpc_x_encode_pid(otpc_proc_t *self, ei_x_buff *x, const otpc_pid_t *pid);
int otpc_x_encode_ref(otpc_proc_t *self, ei_x_buff *x, const otpc_ref_t *ref);
int otpc_decode_pid(otpc_proc_t *self, const char *buf, int *index, otpc_pid_t *out);
int otpc_decode_ref(otpc_proc_t *self, const char *buf, int *index, otpc_ref_t *out);
/* Skip the term at *index inside t, like ei_skip_term but bounded by t.size and without
 * recursion: use it instead of ei_skip_term on anything that came from another node,
 * which may nest terms deeper than the C stack. 0, or OTPC_EBADARG (index kept). */
int otpc_skip_term(otpc_term_t t, int *index);
/* 1 and advances *index if the term at *index is the atom `atom`; else 0, index kept. */
int otpc_decode_atom_is(const char *buf, int *index, const char *atom);

/* Is t exactly the atom `atom`? */
int otpc_term_is_atom(otpc_term_t t, const char *atom);
/* Is t a tuple of `arity` elements whose first is the atom `tag`? On 1, *index points
 * at the second element (decode the rest with ei_decode_* or otpc_* on t.data). */
int otpc_term_is_tagged(otpc_term_t t, const char *tag, int arity, int *index);
/* Append a copy of the term at *index in t (bounded, no recursion) to x and advance
 * *index: the way to put part of a request into a reply. 0 or OTPC_EBADARG. */
int otpc_x_append_subterm(ei_x_buff *x, otpc_term_t t, int *index);
/* Append the whole of t (without its version byte) to x. */
int otpc_x_append_term(ei_x_buff *x, otpc_term_t t);

/* ---- terms with a format ------------------------------------------------------- *
 *
 * Match a term against a pattern and build one from a template, written as Erlang
 * terms with ~ conversions for the C values going in or out:
 *
 *     long k;
 *     if (otpc_match(req, "{add, ~l}", &k)) ...            // req is {add, K}
 *     rc = otpc_x_format(x, "{ok, ~l, ~s}", n, "text");   // appends {ok, N, "text"}
 *     return otpc_reply_format(r, "{ok, ~l}", n);         // in handle_call
 *
 * The language (spaces and newlines anywhere between the parts):
 *   ok  'quoted atom'  true       atoms (UTF-8; escapes \\ \' \" \n \r \t)
 *   42  -7                        integers (those of a long; no float literals)
 *   "text"                        a string: a list of characters (UTF-8 in the format)
 *   <<"bytes">>  <<>>             a binary
 *   {A, B}  [A, B]  [A, B | T]    tuples, lists, a list with a tail (match: T is _)
 *   #{K => V}  #{K := V}          maps (build: =>, keys that differ; match: either,
 *                                 K a literal)
 *   _  _Name                      match only: anything
 *
 *   conv  otpc_x_format takes          otpc_match takes (output; NULL: only check)
 *   ~a    const char * (UTF-8)         char *, room for MAXATOMLEN_UTF8 bytes: an atom
 *                                      as UTF-8 with a NUL (one holding NUL, or whose
 *                                      text is not UTF-8: no match)
 *   ~s    const char * (UTF-8)         char *buf, size_t cap: a list of characters
 *                                      ([] too) as UTF-8 with a NUL; one that does not
 *                                      fit in cap, or holds NUL: no match
 *   ~b    const void *, size_t         const char **, size_t *: a binary, borrowed from t
 *                                      (not NUL-terminated)
 *   ~l    long                         long *   an integer that fits
 *   ~u    unsigned long                unsigned long *
 *   ~i    int                          int *
 *   ~d    double (finite)              double * a float (an integer does not match)
 *   ~p    otpc_proc_t *self,           otpc_proc_t *self, otpc_pid_t *: a pid
 *         const otpc_pid_t *
 *   ~r    otpc_proc_t *self,           otpc_proc_t *self, otpc_ref_t *: a reference
 *         const otpc_ref_t *
 *   ~t    otpc_term_t: a whole term,   otpc_term_t *: any term, a view of it inside t
 *         with or without its version  *without* a version byte (see below)
 *         byte
 *
 * Matching follows Erlang's: a literal matches an equal term whatever its encoding (a
 * string sent as bytes or as a list, atoms in any of their forms, big integers that fit),
 * a tuple or list only one of the same length, a map one that has at least the keys
 * given. ~p and ~r need self (pids and refs name their node by an id of self's node,
 * and a match adds the node's name there, as otpc_decode_pid does): only those two tie
 * a call to a scheduler thread; the rest may run on any thread. A string is built as
 * term_to_binary does: bytes when every character fits in one, else a list.
 *
 * Ownership: fmt and the arguments are only read during the call; x belongs to the
 * caller, who frees it (or, for otpc_ret_reply(r), the runtime).
 *
 * A view from ~t, like one from ~b, borrows from t and lives as long as t does (for an
 * element of a list that was sent as bytes, static storage). It has no version byte, so
 * it is not a term to hand to otpc_send or otpc_reply_term: match it again
 * (otpc_match takes a term with or without the version byte), or put it into a term
 * with ~t, e.g. otpc_reply_format(r, "~t", v).
 *
 * Varargs are not type-checked: each conversion must get exactly the types above, in
 * the order of the format (a match takes every conversion's arguments, matched or not). */

/* 1 if t matches fmt, with the outputs filled; 0 if it does not (some outputs may have
 * been written then), if t is not one well-formed term (checked whole and bounded:
 * bytes from the network are fine), or if fmt is malformed. A malformed format never
 * matches and is logged as an error, so `if (otpc_match(...))` is always safe. t may
 * start with the version byte or not. */
OTPC_WUR int otpc_match(otpc_term_t t, const char *fmt, ...);
OTPC_WUR int otpc_vmatch(otpc_term_t t, const char *fmt, va_list ap);

/* Append the term fmt describes to x, without a version byte: the way to fill
 * otpc_ret_reply(r) or a buffer from ei_x_new_with_version(). 0, OTPC_EINVAL (fmt
 * malformed, or an argument: invalid UTF-8, a NULL string, an atom over 255
 * characters, a ~t that is not one term, a double that is not finite) or OTPC_ENOMEM.
 * On an error x is as it was: nothing of the term stays in it. */
OTPC_WUR int otpc_x_format(ei_x_buff *x, const char *fmt, ...);
OTPC_WUR int otpc_x_vformat(ei_x_buff *x, const char *fmt, va_list ap);

/* ---- timers -------------------------------------------------------------------- */

/* A timer reference; 0 is never a valid one. */
typedef uint64_t otpc_timer_t;

/* erlang:send_after/3: send msg (copied) to `to` after ms milliseconds. The timer
 * outlives the caller, as in Erlang; *out (may be NULL) is for otpc_cancel_timer. */
int otpc_send_after(otpc_proc_t *self, unsigned ms, const otpc_pid_t *to, otpc_term_t msg,
                    otpc_timer_t *out);
/* 1 if the timer was cancelled before it fired, 0 if it had fired or never existed. */
int otpc_cancel_timer(otpc_proc_t *self, otpc_timer_t t);

/* ---- gen_server ---------------------------------------------------------------- */

/* What a callback returns; details (the reply, the stop reason, a timeout, hibernate,
 * a continue term) go into the otpc_ret_t the callback receives.
 *
 *   OTP / Elixir return                      C
 *   {ok, S}                  (init)          OTPC_OK
 *   ignore                   (init)          OTPC_IGNORE
 *   {reply, R, S}                            fill otpc_ret_reply(r); OTPC_REPLY
 *   {noreply, S}                             OTPC_NOREPLY
 *   {stop, Reason, S}                        fill otpc_ret_reason(r); OTPC_STOP
 *   {stop, Reason, R, S}                     fill both; OTPC_STOP_REPLY
 *   ..., Timeout / hibernate / {continue, C} otpc_ret_timeout(r, ms) /
 *                                            otpc_ret_hibernate(r) / otpc_ret_continue(r)
 *
 * A stop from init is {stop, Reason}. A return that makes no sense for the callback
 * (OTPC_REPLY from handle_cast, ...) stops the server with {bad_return_value, Action}
 * where Action is the action's name, as gen_server does. */
typedef enum {
    OTPC_OK = 0,
    OTPC_REPLY,
    OTPC_NOREPLY,
    OTPC_STOP,
    OTPC_STOP_REPLY,
    OTPC_IGNORE
} otpc_action_t;

/* Where a callback puts the details of its return. Owned by the node and reused:
 * valid only during the callback. */
typedef struct otpc_ret otpc_ret_t;
/* A caller waiting for a reply. */
typedef struct otpc_from otpc_from_t;

/* Empty buffers holding the version byte, to encode the reply / stop reason / continue
 * term into. Owned by r; do not free. otpc_ret_continue also selects {continue, C}.
 * ei_x_encode_* fail only when memory runs out, but a later one then succeeds and the
 * term is silently corrupt: check each, and on a failure return
 * otpc_stop_atom(r, "enomem") (the caller is not answered; the server stops).
 *
 *     ei_x_buff *x = otpc_ret_reply(r);
 *     if (ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "ok") ||
 *         ei_x_encode_long(x, n))
 *         return otpc_stop_atom(r, "enomem");
 *     return OTPC_REPLY;
 *
 * (the same as return otpc_reply_format(r, "{ok, ~l}", n), below).                */
ei_x_buff *otpc_ret_reply(otpc_ret_t *r);
ei_x_buff *otpc_ret_reason(otpc_ret_t *r);
ei_x_buff *otpc_ret_continue(otpc_ret_t *r);
/* handle_info(timeout) after ms milliseconds without a message. */
void otpc_ret_timeout(otpc_ret_t *r, unsigned ms);
/* Accepted for parity; a C server has no heap to compact, so it only marks the status. */
void otpc_ret_hibernate(otpc_ret_t *r);

/* Shortcuts: fill the reply or reason and return the action, e.g.
 *     return otpc_reply_atom(r, "ok");
 *     return otpc_stop_atom(r, "normal");
 * One that runs out of memory marks r, and the server stops with enomem whatever
 * the callback returns: their results need no check.                             */
otpc_action_t otpc_reply_atom(otpc_ret_t *r, const char *atom);
otpc_action_t otpc_reply_term(otpc_ret_t *r, otpc_term_t reply);
otpc_action_t otpc_stop_atom(otpc_ret_t *r, const char *reason);
otpc_action_t otpc_stop_term(otpc_ret_t *r, otpc_term_t reason);
/* The same with a term built by otpc_x_format (see "terms with a format"):
 *     return otpc_reply_format(r, "{ok, ~l}", n);
 *     return otpc_stop_format(r, "{shutdown, ~a}", why);
 * Out of memory marks r, as above. A malformed format (or argument) is logged and
 * leaves the reply or reason empty: the server then stops with
 * {bad_return_value, malformed_term}. */
otpc_action_t otpc_reply_format(otpc_ret_t *r, const char *fmt, ...);
otpc_action_t otpc_stop_format(otpc_ret_t *r, const char *fmt, ...);

/* A gen_server "module": a static table of callbacks. Only `name` is required.
 * The server's own state is otpc_proc_data(self) / otpc_proc_set_data(); terms passed
 * in are borrowed for the call.
 *
 *  init(self, arg, r)           OTPC_OK, OTPC_IGNORE or OTPC_STOP (reason in r)
 *  handle_call(self, req, from, r)
 *                               default: stop with {bad_call, Req}, as Elixir's
 *  handle_cast(self, req, r)    default: stop with {bad_cast, Req}
 *  handle_info(self, msg, r)    default: log and ignore
 *  handle_continue(self, c, r)  required if a callback returns a continue
 *  terminate(self, reason)      on stop, on a trapped exit from the parent and on a
 *                               supervisor or node shutdown (when trapping exits)
 *  code_change(self, old, extra) for sys:change_code; 0 or an OTPC_E* code
 *  format_status(self, x)       encode the state (one term, no version byte) for
 *                               sys:get_state/get_status; default {Module, self()}
 *  release(self)                always last, even after kill: free the state
 *
 * from: the caller of handle_call. Returning OTPC_REPLY answers it. Returning
 * OTPC_NOREPLY (or OTPC_STOP) leaves it to you: keep the pointer and answer later,
 * from any callback of this server, with otpc_reply() or drop it with otpc_from_drop();
 * it stays valid until then or until the server ends. */
typedef struct {
    const char *name;
    otpc_action_t (*init)(otpc_proc_t *self, otpc_term_t arg, otpc_ret_t *r);
    otpc_action_t (*handle_call)(otpc_proc_t *self, otpc_term_t req, otpc_from_t *from,
                                 otpc_ret_t *r);
    otpc_action_t (*handle_cast)(otpc_proc_t *self, otpc_term_t req, otpc_ret_t *r);
    otpc_action_t (*handle_info)(otpc_proc_t *self, otpc_term_t msg, otpc_ret_t *r);
    otpc_action_t (*handle_continue)(otpc_proc_t *self, otpc_term_t cont, otpc_ret_t *r);
    void (*terminate)(otpc_proc_t *self, otpc_term_t reason);
    int (*code_change)(otpc_proc_t *self, otpc_term_t old_vsn, otpc_term_t extra);
    int (*format_status)(otpc_proc_t *self, ei_x_buff *x);
    void (*release)(otpc_proc_t *self);
    /* The version, as a module's -vsn: shown by otpc:which_modules/1 and sys:get_status,
     * and what sys:change_code's OldVsn names. NULL: undefined. */
    const char *vsn;
} otpc_gen_server_t;

/* gen_server:reply/2. Consumes from. Callable from any callback of the server that
 * received the call. */
int otpc_reply(otpc_proc_t *self, otpc_from_t *from, otpc_term_t reply);
/* The calling process of a call. */
otpc_pid_t otpc_from_pid(const otpc_from_t *from);

/* A caller handed over to another OS thread. */
typedef struct otpc_reply_token otpc_reply_token_t;

/* Take a caller out of the server so that any thread may answer it with
 * otpc_reply_async(). Consumes from. NULL when out of memory (from is dropped then).
 * The token is owned by whoever holds it, until otpc_reply_async() frees it. */
otpc_reply_token_t *otpc_from_detach(otpc_proc_t *self, otpc_from_t *from);
/* From any thread, while the node exists (until otpc_node_free): answer the caller and
 * free the token, whatever the outcome. reply is copied. The reply leaves on the
 * schedulers' next turn, through the caller's alias as otpc_reply() does; a
 * node that has stopped drops it. 0, OTPC_EBADARG (malformed reply) or OTPC_ENOMEM.
 *
 *     otpc_reply_token_t *t = otpc_from_detach(self, from);  // in handle_call
 *     ... hand t to a worker thread, return OTPC_NOREPLY ...
 *     otpc_reply_async(t, otpc_term_x(&result));               // on the worker */
int otpc_reply_async(otpc_reply_token_t *token, otpc_term_t reply);
/* Forget a caller without answering (it will time out or see the server's exit). */
void otpc_from_drop(otpc_proc_t *self, otpc_from_t *from);

typedef struct {
    const char *name;       /* register the server under this local name; NULL: none */
    const otpc_pid_t *link; /* link to this process before init, as start_link does */
    ei_x_buff *reason;      /* if not NULL: receives the reason when init stops */
} otpc_start_opts_t;

/* gen_server:start/start_link on this node, from on_start or a callback. Returns 0
 * with *out the new server; OTPC_IGNORED (positive) if init returned ignore;
 * OTPC_ENAMETAKEN with *out the holder of the name; OTPC_ESTOPPED if init stopped
 * (the reason in opts->reason, versioned; OTPC_ENOMEM if it could not be copied
 * there). opts may be NULL. */
OTPC_WUR int otpc_gen_server_start(otpc_node_t *node, const otpc_gen_server_t *mod, otpc_term_t arg,
                                   const otpc_start_opts_t *opts, otpc_pid_t *out);

/* Make mod startable from Erlang by its name: otpc:start(Node, Name, Arg, Opts). The
 * table is borrowed for the node's lifetime. A built-in module: no plug-in may replace
 * it. */
int otpc_gen_server_register(otpc_node_t *node, const otpc_gen_server_t *mod);

/* ---- plug-ins ------------------------------------------------------------------------
 *
 * A plug-in is a shared object with gen_server modules that a running node loads
 * (priv/otpc_node -load PATH, otpc:load_module(Node, Path)). It names its modules once,
 * at file scope:
 *
 *     static const otpc_gen_server_t counter = {.name = "counter", .vsn = "1", ...};
 *     OTPC_MODULES(&counter);
 *
 * and needs nothing but this header and ei's to build:
 *
 *     cc -shared -fPIC -Ic_src/include -I$EI/include counter.c -o counter.so
 *     cc -shared -fPIC $(pkg-config --cflags otpc) counter.c -o counter.so   (installed)
 *
 * (the node program exports the otpc_* and ei_* functions). Loading a module that is
 * loaded already makes the new one current, as code:load_file/1 does; servers keep
 * their code until sys:change_code moves them. See README "Bring your own C". */
#define OTPC_PLUGIN_ABI 1u

typedef struct {
    unsigned abi; /* OTPC_PLUGIN_ABI of the header the plug-in was built with */
    unsigned nmodules;
    const otpc_gen_server_t *const *modules;
} otpc_plugin_t;

#define OTPC_MODULES(...)                                                                          \
    static const otpc_gen_server_t *const otpc__plugin_modules[] = {__VA_ARGS__};                  \
    extern __attribute__((visibility("default"))) const otpc_plugin_t otpc_plugin;                 \
    const otpc_plugin_t otpc_plugin = {OTPC_PLUGIN_ABI,                                            \
                                       sizeof otpc__plugin_modules / sizeof *otpc__plugin_modules, \
                                       otpc__plugin_modules}

/* ---- functions for rpc and erpc -----------------------------------------------------
 *
 * rpc:call(Node, Module, Function, Args), erpc:call/4,5, rpc:cast, the multicalls and
 * erl_call reach the C function registered for {Module, Function, length(Args)}. It
 * runs in a process of its own (spawned for the call, as erpc spawns one on a BEAM
 * node), gets the argument list (versioned) and fills out with one term (no version
 * byte), whose meaning the return value gives:
 *   OTPC_RPC_RETURN  the value: what rpc:call and erpc:call return
 *   OTPC_RPC_ERROR   an error reason, as erlang:error/1 raises it: erpc:call raises
 *                    error:{exception, Reason, [{M, F, Args, []}]}, rpc:call returns
 *                    {badrpc, {'EXIT', {Reason, Stack}}} (badarg for bad arguments)
 *   OTPC_RPC_THROW   a thrown term;  OTPC_RPC_EXIT  an exit reason
 *   OTPC_RPC_NOMEM   out could not be built (the caller gets enomem)
 * A function that is not registered is undef, as on BEAM. Built in: erlang:node/0,
 * nodes/0, registered/0, whereis/1, processes/0, process_info/1,2, is_process_alive/1,
 * memory/0, system_info/1 and init:stop/0.
 *
 *     static otpc_rpc_result_t add(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out,
 *                                  void *arg) {
 *         long a, b; int i = 1, n;
 *         if (ei_decode_list_header(args.data, &i, &n) || ei_decode_long(args.data, &i, &a) ||
 *             ei_decode_long(args.data, &i, &b))
 *             return ei_x_encode_atom(out, "badarg") ? OTPC_RPC_NOMEM : OTPC_RPC_ERROR;
 *         return ei_x_encode_long(out, a + b) ? OTPC_RPC_NOMEM : OTPC_RPC_RETURN;
 *     }
 *     otpc_rpc_register(node, "calc", "add", 2, add, NULL);   // rpc:call(N, calc, add, [1, 2])
 */
typedef enum {
    OTPC_RPC_RETURN,
    OTPC_RPC_THROW,
    OTPC_RPC_EXIT,
    OTPC_RPC_ERROR,
    OTPC_RPC_NOMEM,
} otpc_rpc_result_t;

typedef otpc_rpc_result_t (*otpc_rpc_fn)(otpc_proc_t *self, otpc_term_t args, ei_x_buff *out,
                                         void *arg);

/* Make fn callable as Module:Function/Arity (names copied; arg borrowed, passed to every
 * call). Before or while the node runs (on a scheduler thread once it runs). 0,
 * OTPC_ENAMETAKEN (that function exists), OTPC_EINVAL or OTPC_ENOMEM. */
int otpc_rpc_register(otpc_node_t *node, const char *module, const char *function, unsigned arity,
                      otpc_rpc_fn fn, void *arg);

/* Load a plug-in into a node (before or while it runs; on a scheduler thread once it
 * runs). 0, or OTPC_EINVAL with a one-line reason in err (errcap bytes), OTPC_ENOMEM. */
int otpc_node_load(otpc_node_t *node, const char *path, char *err, size_t errcap);

/* ---- pg: process groups shared with BEAM nodes ------------------------------------
 *
 * A scope (`pg`, the default, or one named like the Erlang side's pg:start_link(Scope))
 * is a process registered under its name, started by the first otpc_pg_start or
 * otpc_pg_join that names it (start it at on_start to follow groups this node does
 * not join: a node runs no scope until asked, as BEAM without start_pg), that speaks
 * kernel's pg protocol with the same scope on every connected node: BEAM's
 * pg:get_members/1,2 sees the C processes joined here, and these calls see the BEAM
 * processes joined there. A group is any term (versioned, as ei_x_new_with_version
 * builds it). Only processes of this node join; a process that exits leaves all its
 * groups. scope NULL means `pg`. All from a scheduler thread (on_start, callbacks).
 *
 *     ei_x_buff g; ei_x_new_with_version(&g); ei_x_encode_atom(&g, "room");
 *     otpc_pid_t me = otpc_self(self), m[64];
 *     otpc_pg_join(otpc_proc_node(self), NULL, otpc_term_x(&g), &me);
 *     long k = otpc_pg_members(otpc_proc_node(self), NULL, otpc_term_x(&g), 0, m, 64);
 */

/* Start the scope (registered as `scope`) unless it runs; *out (may be NULL): its pid.
 * 0, OTPC_ENAMETAKEN (another process has the name), OTPC_EINVAL, OTPC_ENOMEM. */
int otpc_pg_start(otpc_node_t *node, const char *scope, otpc_pid_t *out);
/* pg:join(Scope, Group, Pid): pid (of this node) joins group, once more if it is a
 * member already; starts the scope if it does not run. 0, OTPC_EINVAL (a pid of
 * another node, or group is no term), OTPC_ENOMEM. */
int otpc_pg_join(otpc_node_t *node, const char *scope, otpc_term_t group, const otpc_pid_t *pid);
/* pg:leave: one membership of pid in group goes. 0, OTPC_ENOPROC if pid was not a
 * member (pg's not_joined), OTPC_EINVAL. */
int otpc_pg_leave(otpc_node_t *node, const char *scope, otpc_term_t group, const otpc_pid_t *pid);
/* pg:get_members (local_only: get_local_members): the members of group on every node
 * (duplicates as joined), the first cap of them copied to out. Returns how many there
 * are (may exceed cap; 0 for an unknown group or scope), or OTPC_EINVAL. */
long otpc_pg_members(otpc_node_t *node, const char *scope, otpc_term_t group, int local_only,
                     otpc_pid_t *out, size_t cap);

/* ---- blocking work off the scheduler --------------------------------------------- */

/* Work for the pool: runs on a pool thread, may block (files, a blocking library, a
 * long computation). It owns arg and must not touch otpc state except through the
 * functions marked "any thread". It encodes its result into out (made with
 * ei_x_new_with_version: append one term) and returns 0, or a nonzero code for an
 * error (a malformed or missing term is OTPC_EBADARG). */
typedef int (*otpc_work_fn)(void *arg, ei_x_buff *out);

/* Run fn(arg) on the node's pool (otpc_node_opts_t.async_threads, the node program's
 * -async_threads, default 4), so the scheduler and every other process carry on.
 * When it returns, self gets {otpc_async, Ref, {ok, Result}} or
 * {otpc_async, Ref, {error, Code}}, Ref = *ref. 0: fn runs exactly once (it owns arg
 * from then); an error (OTPC_EINVAL, OTPC_ENOMEM): it never runs. otpc_node_free waits
 * for queued work. From a callback. */
int otpc_async(otpc_proc_t *self, otpc_work_fn fn, void *arg, otpc_ref_t *ref);

/* The same for a caller: in handle_call, hand the work to the pool and return
 * OTPC_NOREPLY; the caller's reply is the Result fn encoded (or {error, Code}). 0: from
 * is the job's; OTPC_EINVAL: from is untouched; OTPC_ENOMEM: from may be gone (dropped
 * as otpc_from_detach drops it), so stop or carry on, but do not use it.
 *
 *     static int read_file(void *arg, ei_x_buff *out) { ... blocking read ...; }
 *     ...in handle_call:
 *     if (otpc_async_reply(self, from, read_file, path) == 0) return OTPC_NOREPLY; */
int otpc_async_reply(otpc_proc_t *self, otpc_from_t *from, otpc_work_fn fn, void *arg);

/* ---- calling gen_servers from C ------------------------------------------------- */

/* Where a call goes: a pid, or a registered name on a node (node NULL: this one). */
typedef struct {
    const otpc_pid_t *pid; /* else name/node */
    const char *name;
    const char *node;
} otpc_dest_t;

#define OTPC_INFINITY 0xFFFFFFFFu /* a timeout that never fires */

/* gen_server:call without waiting: sends Req to the server (an Erlang or a C
 * gen_server, anywhere) and returns at once with *ref set. The result comes to self
 * later as one message {otpc_reply, Ref, Result}, Ref being *ref:
 *
 *   {ok, Reply}                  the server's reply
 *   {error, noproc}              no such process or name
 *   {error, noconnection}        its node is unreachable, or went down meanwhile
 *   {error, timeout}             no reply within timeout_ms (OTPC_INFINITY: wait)
 *   {error, {exit, Reason}}      the server ended before replying
 *
 * A late reply is dropped, never delivered. Each call runs in a small process of its
 * own (monitor, tag, timer); req is copied. From a callback. 0, OTPC_EINVAL,
 * OTPC_ENOMEM.
 *
 *     otpc_dest_t kv = {.name = "kv", .node = "store@host"};
 *     rc = otpc_call_async(self, &kv, otpc_term_x(&req), 5000, &st->pending);
 *     ...in handle_info:  otpc_match(msg, "{otpc_reply, ~r, {ok, ~t}}", self, &ref,
 *                                 &reply) */
int otpc_call_async(otpc_proc_t *self, const otpc_dest_t *to, otpc_term_t req, unsigned timeout_ms,
                    otpc_ref_t *ref);

/* ---- global: cluster-wide names -------------------------------------------------
 *
 * A node started published (-visible) takes part in kernel's global protocol: BEAM
 * nodes' global:sync/0 returns with it in the cluster, and names registered anywhere
 * (global:register_name/2, otpc:start/4 with {name, {global, Name}}) are known here.
 * It holds no locks of its own: registering from C asks a connected BEAM node's
 * global to do it. Names are terms (versioned). From a scheduler thread (a callback). */

/* global:whereis_name: 0 with *out, or OTPC_ENOPROC (not registered), OTPC_EINVAL. */
int otpc_global_whereis(otpc_node_t *node, otpc_term_t name, otpc_pid_t *out);
/* global:register_name(Name, Pid) for a process of this node, asked of a BEAM node in
 * sync with this one (it locks and registers on every node of the cluster). The
 * answer comes as the message {otpc_global, Name, yes | no | {badrpc, Reason}} to
 * reply_to (NULL: self). 0, OTPC_ENOPROC (no BEAM node in sync to ask: is the node
 * -visible?), OTPC_EINVAL (a pid of another node), OTPC_ENOMEM. */
int otpc_global_register(otpc_proc_t *self, otpc_term_t name, const otpc_pid_t *pid,
                         const otpc_pid_t *reply_to);

/* ---- supervisor ------------------------------------------------------------------ */

typedef enum { OTPC_PERMANENT, OTPC_TRANSIENT, OTPC_TEMPORARY } otpc_restart_t;

/* A child's shutdown (otpc_child_spec_t.shutdown): milliseconds it gets to end after
 * exit(Child, shutdown) before it is killed; 0 means 5000, OTP's default for a worker. */
#define OTPC_SHUTDOWN_BRUTAL_KILL (-1) /* exit(Child, kill) at once */
#define OTPC_SHUTDOWN_INFINITY (-2)    /* wait as long as it takes */

typedef struct {
    const char *id; /* the child's id, the atom of that name in Erlang; NULL: the module's name */
    const otpc_gen_server_t *module;
    otpc_term_t arg;  /* copied; every restart gets it again */
    const char *name; /* registered name, or NULL */
    otpc_restart_t restart;
    int shutdown; /* ms, 0 (5000), OTPC_SHUTDOWN_BRUTAL_KILL or OTPC_SHUTDOWN_INFINITY */
} otpc_child_spec_t;

/* What a supervisor does when a child that must be restarted ends, as in OTP:
 * restart that child; end every other child (in reverse start order) and restart them
 * all (in start order); or do that for the children started after it. */
typedef enum { OTPC_ONE_FOR_ONE = 0, OTPC_ONE_FOR_ALL, OTPC_REST_FOR_ONE } otpc_strategy_t;

typedef struct {
    unsigned intensity; /* restarts allowed within period; default 1 */
    unsigned period;    /* seconds; 0 means 5 */
    otpc_strategy_t strategy;
} otpc_sup_flags_t;

/* Start a supervisor (registered as `name` if not NULL) with children started in
 * order. A child that exits is restarted per its restart type and the strategy; more
 * than `intensity` restarts within `period` seconds make the supervisor shut its
 * children down and exit with `shutdown`. Shutting a child down never blocks the
 * node: it gets exit(Child, shutdown), and a kill when its shutdown time runs out.
 *
 * From Erlang it is a supervisor: which_children/1, count_children/1,
 * start_child/2 (a child spec map or tuple whose start is
 * {otpc, start_link, [node(), Module, Arg, Opts]}, Module a C module of this node),
 * terminate_child/2, restart_child/2, delete_child/2 and get_childspec/2 answer as
 * OTP's supervisor does (README "Supervising C servers from Erlang"). Specs are
 * copied. OTPC_EINVAL for a spec without a module, a bad shutdown or strategy, or two
 * children with one id. */
OTPC_WUR int otpc_supervisor_start(otpc_node_t *node, const char *name,
                                   const otpc_sup_flags_t *flags, const otpc_child_spec_t *children,
                                   size_t nchildren, otpc_pid_t *out);

/* ---- daemon: a TCP/TLS listener with one gen_server per connection ------------- */

/* Options of otpc_daemon_start(); zero means the default everywhere.
 * The wire protocol is gen_tcp's {packet, 4} with term_to_binary (see the README). */
typedef struct {
    const char *ip;             /* address to listen on; NULL: "127.0.0.1"; "::" or
                                    "0.0.0.0" for every interface */
    uint16_t port;              /* 0: any free port (otpc_daemon_port tells which) */
    int tls;                    /* 0: plain TCP */
    const char *certfile;       /* TLS: PEM certificate (chain); required with tls */
    const char *keyfile;        /* TLS: PEM key; NULL: in certfile */
    const char *cacertfile;     /* TLS: CAs for client certificates */
    int verify_peer;            /* TLS: verify a client certificate if one is sent */
    int fail_if_no_peer_cert;   /* TLS: require one (mutual TLS) */
    unsigned max_connections;   /* 0: no limit; at the limit accepting pauses */
    size_t max_frame;           /* largest frame from a client; 0: 16 MiB */
    size_t max_input;           /* bytes of partial frames all its connections may
                                    hold at once; 0: 64 MiB. A connection whose frame
                                    would go past it ends {shutdown, input_budget} */
    unsigned handshake_timeout; /* ms for the TLS handshake; 0: 5000 */
    unsigned idle_timeout;      /* ms without a frame from the client; 0: none */
    int grace;                  /* ms live connections get on stop; 0: 5000;
                                    negative: shut them down at once */
    otpc_term_t pg_group;       /* size 0: none; else (a versioned term) each
                                    connection's server joins this pg group */
    const char *pg_scope;       /* the group's scope; NULL: pg */
} otpc_daemon_opts_t;

/* Start a daemon process that listens (before this returns) and, for each accepted
 * connection, starts a gen_server of `mod` with `arg` (copied) whose replies and
 * otpc_push() go to that socket. `owner` (NULL: none) receives
 * {otpc_spawned, Daemon, Server, MRef, {PeerIp, PeerPort}} per connection and
 * {'DOWN', MRef, process, Server, Reason} once per server end; the daemon stops when
 * the owner exits. opts and its strings are only read during the call; mod is
 * borrowed for the daemon's life. 0 with *out the daemon's pid, or an OTPC_E* code
 * with a one-line reason written to err (errcap bytes; err may be NULL). From
 * on_start or a callback (a scheduler thread).
 *
 *     otpc_daemon_opts_t o = {.port = 7000, .max_connections = 1000};
 *     otpc_pid_t d;
 *     rc = otpc_daemon_start(node, &my_module, no_arg, &o, NULL, &d, err, sizeof err); */
OTPC_WUR int otpc_daemon_start(otpc_node_t *node, const otpc_gen_server_t *mod, otpc_term_t arg,
                               const otpc_daemon_opts_t *opts, const otpc_pid_t *owner,
                               otpc_pid_t *out, char *err, size_t errcap);

/* The port a running daemon listens on; OTPC_ENOPROC if it is not a daemon. */
int otpc_daemon_port(otpc_node_t *node, const otpc_pid_t *daemon, uint16_t *port);

/* Ask a daemon to stop: it closes its listener at once, gives live connections its
 * grace time, then shuts the rest down and exits normally. */
int otpc_daemon_stop(otpc_node_t *node, const otpc_pid_t *daemon);

/* From a daemon connection's server: send {push, Term} down its socket (term is
 * copied). OTPC_ENOPROC when self is not a daemon connection's server or its socket
 * is gone; OTPC_EBUSY, and nothing queued, while the output waiting for the client
 * is at the node's busy limit (-zdbbl, 1 MiB): a client that stops reading cannot
 * make pushes pile up. Drop the push, retry later (a timer), or end the connection.
 * Replies are never refused: the socket is not read while output waits, so a client
 * gets no more replies than it has calls in flight. */
int otpc_push(otpc_proc_t *self, otpc_term_t term);

#ifdef __cplusplus
}
#endif
#endif /* OTPC_H */
