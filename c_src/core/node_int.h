/*
 * Internals of the scheduler side: the node, its processes, peers and atoms.
 * Everything here is touched only by the scheduler thread (the one in otpc_node_run),
 * except the event queue, which the I/O thread fills.
 */
#ifndef OTPC_PROC_NODE_INT_H
#define OTPC_PROC_NODE_INT_H

#include <ei.h>
#include <uv.h>

#include "proto/ctrl.h"
#include "proto/handshake.h"
#include "distribution/io.h"
#include "otpc.h"
#include "util/buf.h"
#include "util/mq.h"

/* A flush hook of the scheduler turn (core/sched.c). */
typedef void (*otpc__turn_hook_fn)(otpc_node_t *n);
#define OTPC__TURN_HOOKS_MAX 8

/* ---- atoms: interned names (node names, registered names) --------------------- */

typedef struct {
    char **names;    /* id -> NUL-terminated name; id 0 unused */
    uint32_t count;  /* ids in use, including 0 */
    uint32_t cap;
    uint32_t *slots; /* open addressing: id or 0 */
    uint32_t nslots;
} otpc__atoms_t;

uint32_t otpc__atom(otpc__atoms_t *t, const char *name, size_t len); /* 0 on ENOMEM */
/* Lookup only: 0 when the name was never interned. */
uint32_t otpc__atom_find(const otpc__atoms_t *t, const char *name, size_t len);
const char *otpc__atom_name(const otpc__atoms_t *t, uint32_t id);
void otpc__atoms_free(otpc__atoms_t *t);

/* ---- mailbox items --------------------------------------------------------------- */

typedef enum {
    M_MSG,       /* data: a message, with version byte */
    M_EXIT_LINK, /* exit signal through a link; data: reason without version byte */
    M_EXIT2,     /* exit/2 signal; data: reason without version byte */
    M_BEH        /* for the process's behaviour (beh->item): gen_server's {continue, C};
                  * data: a versioned term */
} otpc__msg_kind_t;

typedef struct otpc__msg {
    struct otpc__msg *next;
    otpc__msg_kind_t kind;
    uint32_t len;
    otpc_pid_t from;
    char data[];
} otpc__msg_t;

/* ---- links and monitors ----------------------------------------------------------- */

typedef struct {
    otpc_pid_t pid;
    uint64_t unlinking; /* nonzero: UNLINK_ID sent with this id, waiting for the ack */
} otpc__link_t;

typedef struct otpc__mon {
    otpc_ref_t ref;
    otpc_pid_t pid;  /* watcher (on monitors of me) or target (on monitors I hold) */
    uint32_t name;   /* by-name monitor: the registered name, else 0 */
    uint32_t name_node; /* monitors I hold by name: the target's node */
} otpc__mon_t;

typedef struct {
    void *items;
    uint32_t len, cap;
} otpc__vec_t;

/* The monitored object a MONITOR_P_EXIT names, as the watcher gave it: a pid, a
 * registered name (atom id), or a term the peer sent that was never interned (raw,
 * unversioned). The first set of raw, name, pid wins. */
typedef struct {
    const otpc_pid_t *pid;
    uint32_t name;
    const char *raw;
    size_t raw_len;
} otpc__mobj_t;

/* Signals to processes on other nodes. Core sends every signal that leaves the node
 * through this table, which the distribution layer installs at start-up
 * (distribution/dsig.c); core itself encodes no control message. `msg` of a send is
 * versioned, reasons are unversioned; each returns 0 or an OTPC_E* code. */
typedef struct {
    int (*send)(otpc_node_t *n, const otpc_pid_t *to, const char *msg, size_t len);
    int (*reg_send)(otpc_node_t *n, const otpc_pid_t *from, uint32_t node, const char *name,
                    const char *msg, size_t len);
    int (*link)(otpc_node_t *n, const otpc_pid_t *from, const otpc_pid_t *to);
    int (*unlink_id)(otpc_node_t *n, uint64_t id, const otpc_pid_t *from, const otpc_pid_t *to,
                     int ack);
    int (*exit)(otpc_node_t *n, const otpc_pid_t *from, const otpc_pid_t *to,
                const char *reason, size_t len, int via_link);
    int (*monitor)(otpc_node_t *n, const otpc_pid_t *watcher, const struct otpc__mon *m,
                   int demonitor);
    int (*monitor_exit)(otpc_node_t *n, const otpc__mobj_t *obj, const otpc_pid_t *watcher,
                        const otpc_ref_t *ref, const char *reason, size_t len);
} otpc__remote_t;

/* ---- processes ------------------------------------------------------------------ */

/* A process that stands for a socket (a daemon connection, daemon/session.c): gen
 * replies addressed to it and pushes from its server are written to the socket by
 * this hook instead of going through its mailbox. tag: the caller's tag bytes, or NULL
 * for a push; body: one term without version byte, borrowed. 0 or an OTPC_E* code. */
typedef int (*otpc__wire_fn)(otpc_proc_t *conn, const otpc__span_t *tag, const char *body,
                             size_t len);

/* What a behaviour adds to a plain process: gen_server (otp/gen_server.c) or a daemon
 * connection (daemon/session.c). Core calls these for what it queued on the
 * behaviour's behalf, so it names nothing above it. Any may be NULL. */
typedef struct {
    void (*item)(otpc_proc_t *p, otpc_term_t item);    /* an M_BEH mailbox item */
    void (*timeout)(otpc_proc_t *p, otpc_timer_t ref); /* its OTPC__TIMER_BEH fired */
    otpc__wire_fn wire; /* gen replies to this process (and pushes) skip its mailbox */
} otpc__beh_t;

struct otpc_proc {
    otpc_node_t *node;
    otpc_pid_t pid;
    uint32_t name;
    const otpc_proc_ops_t *ops;
    void *data;
    otpc__msg_t *mhead, *mtail;
    int trap_exit;
    int in_runq;
    int running;  /* inside run_one: an exit must not free it */
    int exiting;  /* otpc_exit() was called: exit after the current callback */
    otpc__buf_t reason; /* the exit reason, without version byte, once exiting */
    struct otpc_proc *rq_next;
    otpc__vec_t links;    /* of otpc__link_t */
    otpc__vec_t mons_in;  /* of otpc__mon_t: monitors others hold on me */
    otpc__vec_t mons_out; /* of otpc__mon_t: monitors I hold */
    uint32_t parked;      /* nonzero: not run until otpc__proc_unpark(.., parked); set by
                           * the layer that holds it back (distribution: a busy peer) */
    const otpc__beh_t *beh; /* its behaviour, or NULL for a plain process */
    void *beh_data;       /* the behaviour's state */
};

/* ---- timers ------------------------------------------------------------------------ */

enum { OTPC__TIMER_SEND = 1, OTPC__TIMER_BEH /* calls beh->timeout */ };

typedef struct {
    uint64_t due;  /* uv_now() milliseconds */
    uint64_t seq;
    uint32_t gen;
    uint32_t pos;  /* heap index, or UINT32_MAX when free */
    uint32_t next_free;
    int kind;
    otpc_pid_t to;
    struct otpc__msg *msg; /* send timers: the message, owned */
} otpc__timer_slot_t;

typedef struct {
    otpc__timer_slot_t *slots;
    uint32_t *heap; /* slot numbers */
    uint32_t len, cap;
    uint32_t free_head; /* slot + 1; 0: none */
    uint64_t seq;
} otpc__timers_t;

/* ---- peers (the scheduler's view of other nodes) ---------------------------------- */

typedef struct {
    uv_poll_t poll; /* first: the close callback gets it as the whole */
    int tfd;        /* timerfd */
} otpc__nap_t;

typedef struct otpc__peer {
    otpc_node_t *n;
    uint32_t node;        /* atom */
    otpc__conn_t *conn;   /* NULL while the connection is being set up */
    uv_poll_t *poll;      /* reading the socket, from EV_UP until EV_DOWN or a close */
    otpc__nap_t *nap;     /* the coalescing timer, once used */
    int napping;          /* the socket's poll is stopped while the timer runs */
    uint64_t senders[4];  /* distinct message senders lately (pid numbers mod 256) */
    int naps_in_window;
    int fd;
    otpc__buf_t rbuf;     /* reassembly of incoming packets */
    uint64_t flags;
    otpc__buf_t obuf;     /* frames not yet handed to the I/O thread */
    otpc__vec_t waiters;  /* of otpc_pid_t: processes parked until this peer drains */
    int dirty;
    struct otpc__peer *dirty_next;
} otpc__peer_t;

/* ---- the node --------------------------------------------------------------------- */

struct otpc_node {
    otpc_node_opts_t opts;
    char name[OTPC__NODE_NAME_MAX + 1];
    char alive[OTPC__NODE_NAME_MAX + 1];
    char cookie[256];
    uint32_t self_atom;
    uint32_t creation;
    int running, stopping;

    uv_loop_t loop;
    otpc__wake_t wake;     /* events from the I/O thread */
    uv_async_t stop_async; /* otpc_node_stop from any thread */
    uv_idle_t idle;        /* runs the run queue while it is not empty */
    uv_poll_t stdin_poll;
    uv_timer_t timer;      /* the earliest of `timers` */
    uint64_t timer_due;    /* what `timer` is armed for; 0: not armed */
    otpc__timers_t timers;
    uv_signal_t sigterm, sigint;
    otpc__mq_t events;
    otpc__mq_t replies;    /* otpc_reply_async from any thread; lives until node_free */
    int replies_open;      /* under replies' lock: the scheduler runs, `wake` is open */
    int replies_ready;     /* `replies` was initialised */
    otpc__io_t *io;
    int ready_rc; /* 0 until EV_READY (1) or EV_FATAL (<0) */
    int (*on_start)(otpc_node_t *, void *);
    void *on_start_arg;

    otpc__atoms_t atoms;
    otpc_proc_t **procs; /* by pid number */
    uint32_t nprocs_cap;
    uint32_t next_num;
    uint32_t serial;
    uint32_t live;
    otpc_proc_t **names; /* by atom id */
    uint32_t names_cap;
    otpc__peer_t **peers; /* by atom id */
    uint32_t peers_cap;
    otpc__peer_t *dirty;
    otpc_proc_t *rq_head, *rq_tail;
    otpc_proc_t *current; /* the process whose callback runs now, else NULL */
    otpc__turn_hook_fn hooks[OTPC__TURN_HOOKS_MAX]; /* core/sched.c */
    unsigned nhooks;
    uint64_t ref_counter;
    uint32_t ref_salt;
    uint64_t unlink_counter;
    otpc__msg_t *msg_pool;
    uint32_t msg_pool_len;
    const otpc__remote_t *remote; /* signals to other nodes (distribution/dsig.c) */
    ei_x_buff dsig_ctl; /* distribution/dsig.c: control messages under construction */
    ei_x_buff scratch2; /* messages built by otpc itself (DOWN, EXIT) */
    ei_x_buff trap_buf; /* {'EXIT', From, Reason} handed to a trapping process */

    /* gen_server runtime (gen_server.c) */
    struct otpc_ret **rets; /* one per nesting level of callbacks */
    uint32_t nrets, ret_depth;
    struct otpc_from *from_pool;
    uint32_t from_pool_len;
    const otpc_gen_server_t **modules; /* startable by name from Erlang */
    uint32_t nmodules;

    /* daemon connections (daemon/session.c) with output to write at the end of the turn */
    struct otpc__session *sess_dirty;
    otpc__buf_t sess_in; /* TLS plaintext, consumed as soon as it is decrypted */
};

/* sched.c: the turn (run queue, flush hooks, timer) */
/* Run after the run queue in every turn, in the order added. From start-up only. */
int otpc__turn_hook_add(otpc_node_t *n, otpc__turn_hook_fn fn);
void otpc__sched_init(otpc_node_t *n);
void otpc__turn(otpc_node_t *n);
/* Shutdown: everything runnable, then the hooks once more (no timers, no idle). */
void otpc__turn_final(otpc_node_t *n);

/* daemon/session.c: write what daemon connections queued in this turn */
void otpc__sessions_flush(otpc_node_t *n);

/* proc.c */
otpc_proc_t *otpc__proc_lookup(otpc_node_t *n, const otpc_pid_t *pid);
otpc_proc_t *otpc__proc_by_name(otpc_node_t *n, uint32_t name);
int otpc__pid_is_local(const otpc_node_t *n, const otpc_pid_t *pid);
otpc__msg_t *otpc__msg_new(otpc_node_t *n, otpc__msg_kind_t kind, const otpc_pid_t *from,
                           const char *data, size_t len);
void otpc__deliver(otpc_node_t *n, otpc_proc_t *p, otpc__msg_t *m);
/* Copy data (one versioned, well-formed term) into the mailbox of the local pid `to`;
 * a dead one drops it. */
int otpc__send_local(otpc_node_t *n, const otpc_pid_t *from, const otpc_pid_t *to,
                     const char *data, size_t len);
/* Put the chain head..tail in front of the mailbox (continue, resumed messages). */
void otpc__deliver_front(otpc_node_t *n, otpc_proc_t *p, otpc__msg_t *head, otpc__msg_t *tail);
void otpc__msg_free(otpc_node_t *n, otpc__msg_t *m);
/* 0 if msg is exactly one well-formed versioned term, else OTPC_EBADARG. */
int otpc__check_term(otpc_term_t msg);
void otpc__run_queue(otpc_node_t *n, int budget);
/* The process `pid`, if it is still parked with `key`, may run again. */
void otpc__proc_unpark(otpc_node_t *n, const otpc_pid_t *pid, uint32_t key);
void otpc__proc_exit_now(otpc_proc_t *p, const char *reason, size_t len);
void otpc__vec_del(otpc__vec_t *v, uint32_t i, size_t size);
int otpc__vec_push(otpc__vec_t *v, const void *item, size_t size);
otpc_pid_t otpc__pid_from_ei(otpc_node_t *n, const erlang_pid *e);
int otpc__ref_from_ei(otpc_node_t *n, const erlang_ref *e, otpc_ref_t *out);

/* term.c (proc): encoding pieces, all into an ei_x_buff */
int otpc__x_pid(otpc_node_t *n, ei_x_buff *x, const otpc_pid_t *pid);
int otpc__x_ref(otpc_node_t *n, ei_x_buff *x, const otpc_ref_t *ref);
int otpc__x_atom_id(otpc_node_t *n, ei_x_buff *x, uint32_t atom);
int otpc__x_raw(ei_x_buff *x, const char *data, size_t len);
/* {Name, Node}, or the pid when name is 0 */
int otpc__x_proc_obj(otpc_node_t *n, ei_x_buff *x, const otpc_pid_t *pid, uint32_t name,
                     uint32_t name_node);

/* signal.c: links, monitors, exits, local and remote */
void otpc__signal_exit_all(otpc_proc_t *p);
void otpc__node_lost(otpc_node_t *n, uint32_t node_atom);
void otpc__handle_ctrl(otpc_node_t *n, otpc__peer_t *peer, const otpc__ctrl_t *c);
int otpc__monitor_down(otpc_node_t *n, otpc_proc_t *watcher, const otpc_ref_t *ref,
                       const otpc_pid_t *obj, uint32_t name, uint32_t name_node,
                       const char *reason, size_t len);
void otpc__apply_exit_signal(otpc_proc_t *p, otpc__msg_t *m);

/* peer.c: the scheduler's side of connections, and outgoing control messages */
/* uv_close callback for a handle that is its own malloc'd block. */
void otpc__free_handle(uv_handle_t *h);
otpc__peer_t *otpc__peer_get(otpc_node_t *n, uint32_t node_atom, int connect);
/* EV_UP: data is "peer\0bytes read past the handshake". */
void otpc__peer_up(otpc_node_t *n, otpc__conn_t *conn, uint64_t flags, const char *data,
                   size_t len);
/* Stop polling every socket (the node is stopping). */
void otpc__peers_stop_reading(otpc_node_t *n);
void otpc__peer_down(otpc_node_t *n, otpc__conn_t *conn, const char *reason);
void otpc__peer_failed(otpc_node_t *n, const char *node, const char *reason);
/* EV_DRAINED: the connection's queued output fell below the busy limit. */
void otpc__peer_drained(otpc_node_t *n, otpc__conn_t *conn);
void otpc__peer_flush(otpc_node_t *n);
void otpc__peer_close(otpc_node_t *n, otpc__peer_t *p, const char *reason);
void otpc__peers_free(otpc_node_t *n);
otpc__peer_t *otpc__peer_of_conn(otpc_node_t *n, otpc__conn_t *conn);
/* Queue a control message (versioned, built by distribution/dsig.c) plus an optional payload term
 * (versioned) to the node of `to`. */
int otpc__peer_send(otpc_node_t *n, uint32_t node_atom, const ei_x_buff *ctl,
                    const char *payload, size_t plen);
/* The same with the payload in two pieces (a prefix built here, a body that lives
 * elsewhere), so a large reply is copied once, into the frame. */
int otpc__peer_send2(otpc_node_t *n, uint32_t node_atom, const ei_x_buff *ctl,
                     const char *payload, size_t plen, const char *tail, size_t tlen);

/* gen_call.c: the call protocol shared by net_kernel and gen_server */
typedef struct {
    otpc_pid_t pid;
    otpc__span_t tag; /* raw bytes of the caller's tag, echoed byte for byte */
} otpc__from_t;
/* Decode {'$gen_call', {From, Tag}, Request}; *req_index points at Request. 1 if it is
 * a call, 0 if not. Spans point into msg. */
int otpc__decode_call(otpc_proc_t *self, otpc_term_t msg, otpc__from_t *from, int *req_index);
/* Send {Tag, Reply} to the caller: through ALIAS_SEND to the alias when the tag is
 * [alias | Ref] and the caller's node supports aliases, else to the caller's pid.
 * reply must be well formed; only the bytes after its first (version) byte are read. */
int otpc__gen_reply(otpc_proc_t *self, const otpc__from_t *from, otpc_term_t reply);
/* The same on behalf of `server`, which need not be running (or alive). */
int otpc__gen_reply_as(otpc_node_t *n, const otpc_pid_t *server, const otpc__from_t *from,
                       otpc_term_t reply);
/* gen_server.c: the replies otpc_reply_async() queued */
void otpc__async_replies(otpc_node_t *n);
int otpc__net_kernel_start(otpc_node_t *n);
/* The {From, Tag} at index i of msg (after the label of a `$gen_call` or `system`
 * message whose tuple the caller matched), then *req_index at the request. 1 or 0. */
int otpc__decode_from(otpc_proc_t *self, otpc_term_t msg, int i, otpc__from_t *from,
                      int *req_index);

/* timer.c */
int otpc__timer_add(otpc_node_t *n, unsigned ms, int kind, const otpc_pid_t *to,
                    otpc__msg_t *msg, otpc_timer_t *out);
int otpc__timer_cancel(otpc_node_t *n, otpc_timer_t ref);
void otpc__timers_run(otpc_node_t *n);
int64_t otpc__timers_next(otpc_node_t *n);
void otpc__timers_free(otpc_node_t *n);

/* gen_server.c: hooks the process layer and timers call */
void otpc__gs_node_free(otpc_node_t *n);
/* starter.c: the `otpc_starter` process behind otpc:start/4 */
int otpc__starter_start(otpc_node_t *n);

#endif
