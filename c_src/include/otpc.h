/*
 * otpc.h -- the one public header of otpc: a C program that is an Erlang node.
 *
 * A node (otpc_node_t) speaks the Erlang distribution protocol, so any BEAM node can
 * ping it, send to its processes, link and monitor them. Inside, C code runs as
 * processes (otpc_proc_t): each has a pid, an optional registered name and a mailbox,
 * and its callbacks are never run re-entrantly. All callbacks run on the node's
 * scheduler thread (the thread that called otpc_node_run()); socket I/O, handshakes
 * and ticks run on a separate I/O thread, so a slow callback never costs a connection.
 *
 * Conventions:
 *  - Functions returning int give 0 on success or a negative OTPC_E* code;
 *    otpc_strerror() names it.
 *  - Terms cross the API as ei external-format bytes *with* the leading version byte
 *    (what ei_x_new_with_version() starts with). An otpc_term_t is a borrowed view:
 *    the callee never keeps the pointer past the call, the caller keeps ownership.
 *  - Functions taking an otpc_proc_t *self may only be called from a callback of that
 *    process, on the scheduler thread.
 *
 * Example: a process that answers {ping, From} with pong.
 *
 *     static void handle(otpc_proc_t *self, otpc_term_t msg) {
 *         int i = 0, arity; otpc_pid_t from; ei_x_buff x;
 *         if (ei_decode_version(msg.data, &i, NULL) || ei_decode_tuple_header(msg.data, &i, &arity)
 *             || arity != 2 || !otpc_decode_atom_is(msg.data, &i, "ping")
 *             || otpc_decode_pid(self, msg.data, &i, &from)) return;
 *         ei_x_new_with_version(&x); ei_x_encode_atom(&x, "pong");
 *         otpc_send(self, &from, otpc_term_x(&x));
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

#define OTPC_ERRNO_MAP(X)                                              \
    X(NOMEM, -1, "out of memory")                                      \
    X(INVAL, -2, "invalid argument")                                   \
    X(BADARG, -3, "malformed term")                                    \
    X(NOPROC, -4, "no such process")                                   \
    X(NAMETAKEN, -5, "name already registered")                        \
    X(TOOBIG, -6, "message exceeds the configured limit")              \
    X(IO, -7, "I/O error")                                             \
    X(PROTO, -8, "distribution protocol violation")                    \
    X(EPMD, -9, "epmd refused or unreachable")                         \
    X(COOKIE, -10, "no cookie: use -setcookie, OTPC_COOKIE or ~/.erlang.cookie") \
    X(STATE, -11, "not allowed in this state")                         \
    X(NOTSUP, -12, "not supported")

enum {
#define OTPC__E(name, code, text) OTPC_E##name = code,
    OTPC_ERRNO_MAP(OTPC__E)
#undef OTPC__E
};

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

typedef struct {
    const char *name;         /* "c1" (short name) or "c1@host" (with longnames) */
    int longnames;            /* -name instead of -sname */
    const char *cookie;       /* NULL: $OTPC_COOKIE, then ~/.erlang.cookie */
    int published;            /* 0: hidden node (the default for a C node) */
    unsigned net_ticktime;    /* seconds; 0 means 60, as in erl */
    size_t max_message;       /* largest accepted packet; 0 means 256 MiB */
    uint16_t listen_port;     /* 0: any free port */
    int watch_stdin;          /* stop when stdin reaches EOF (run under an Erlang port) */
} otpc_node_opts_t;

/* Create a node: resolves the host name and the cookie; nothing listens yet.
 * *out is owned by the caller and freed with otpc_node_free(). */
OTPC_WUR int otpc_node_new(otpc_node_t **out, const otpc_node_opts_t *opts);

/* Listen, register with epmd (starting it if it is not running), then run the
 * scheduler on the calling thread until otpc_node_stop(). on_start (may be NULL) runs
 * on the scheduler thread once the node is registered -- pids carry the creation epmd
 * hands out, so this is where boot processes are spawned; a negative return stops the
 * node with that error. Returns 0 after a clean stop, else an OTPC_E* code. */
OTPC_WUR int otpc_node_run(otpc_node_t *node, int (*on_start)(otpc_node_t *node, void *arg),
                           void *arg);

/* Ask a running node to stop: every process exits with reason `shutdown`, connections
 * close, epmd forgets the name. Safe from any thread and from signal handlers' threads. */
void otpc_node_stop(otpc_node_t *node);

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

/* Start a process. From on_start or a callback only (the scheduler thread); from a
 * callback pass the caller's node (otpc_proc_node(self)). */
OTPC_WUR int otpc_spawn(otpc_node_t *node, const otpc_proc_ops_t *ops, void *arg,
                        otpc_pid_t *out);

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

#ifdef __cplusplus
}
#endif
#endif /* OTPC_H */
