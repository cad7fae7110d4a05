/*
 * Internals of the otp layer: the gen_server runtime (gen_server.c), its calls and
 * replies (gen_call.c, gen_from.c, gen_ret.c), system messages (gen_sys.c) and the
 * supervisor, for the layers above it too (daemon sessions, services).
 */
#ifndef OTPC_OTP_GEN_SERVER_INT_H
#define OTPC_OTP_GEN_SERVER_INT_H

#include "core/node_int.h"
#include "otp/modules.h"

/* gen_call.c: the call protocol shared by net_kernel and gen_server */
typedef struct {
    otpc_pid_t pid;
    otpc__span_t tag; /* raw bytes of the caller's tag, echoed byte for byte */
} otpc__from_t;
/* Decode {'$gen_call', {From, Tag}, Request}; *req_index points at Request. 1 if it is
 * a call, 0 if not. Spans point into msg. */
/* otpc_gen_server_start for otpc's own servers (rex, otpc_starter, supervisors): their
 * callbacks keep the node lock. */
int otpc__gen_server_start_sys(otpc_node_t *node, const otpc_gen_server_t *mod, otpc_term_t arg,
                               const otpc_start_opts_t *opts, otpc_pid_t *out);
int otpc__decode_call(otpc_proc_t *self, otpc_term_t msg, otpc__from_t *from, int *req_index);
/* Send {Tag, Reply} to the caller: to the alias when the tag is [alias | Ref] and the
 * caller's node takes alias messages (ALTACT_SIG_SEND or ALIAS_SEND, as its flags
 * allow: distribution/dsig.h), else to the caller's pid.
 * reply must be well formed; only the bytes after its first (version) byte are read. */
int otpc__gen_reply(otpc_proc_t *self, const otpc__from_t *from, otpc_term_t reply);
/* The same on behalf of `server`, which need not be running (or alive). */
int otpc__gen_reply_as(otpc_node_t *n, const otpc_pid_t *server, const otpc__from_t *from,
                       otpc_term_t reply);
/* The {From, Tag} at index i of msg (after the label of a `$gen_call` or `system`
 * message whose tuple the caller matched), then *req_index at the request. 1 or 0. */
int otpc__decode_from(otpc_proc_t *self, otpc_term_t msg, int i, otpc__from_t *from,
                      int *req_index);

/* The otp layer's state per node: the module table and the queue of replies from
 * other threads (the reused callback-return buffers and the pool of callers are each
 * scheduler thread's own: otpc__sched_local). */
typedef struct {
    struct otpc__modtab *modtab; /* modules startable by name, their versions (modules.c) */
    otpc__mq_t replies;          /* otpc_reply_async from any thread; lives until node_free */
    int replies_open;            /* under replies' lock: the scheduler runs, the wake is open */
    struct otpc__rels *rels;     /* callers' OTP releases (sys_release.c), once needed */
    struct otpc__async *async;   /* the blocking-work pool (async.c), from its first job */
} otpc__otp_t;

/* Records of `replies`: a reply (ptr: the token) or a message a pool thread built
 * (ptr: a malloc'd otpc_pid_t, the process it goes to). */
enum { OTPC__ASYNC_REPLY = 1, OTPC__ASYNC_MESSAGE = 2 };
/* Queue a record on `replies` from any thread and wake the scheduler: 0 when queued
 * (the scheduler takes ptr), 1 when the node has stopped (dropped: ptr stays the
 * caller's), or the queue's error (OTPC_ENOMEM). */
int otpc__replies_post(otpc_node_t *n, uint32_t type, void *ptr, const char *data, uint32_t len);
/* Stop the pool after the jobs queued ran, and join its threads (otpc_node_free). */
void otpc__async_free(struct otpc__async *A);

extern otpc__ext_key_t otpc__otp_key;

static inline otpc__otp_t *otpc__otp(const otpc_node_t *n)
{
    return (otpc__otp_t *)
        n->ext[atomic_load_explicit(&otpc__otp_key.slot, memory_order_relaxed) - 1];
}

/* Attach the layer's state to a new node (its reply queue wakes n->wake). */
int otpc__otp_init(otpc_node_t *n);
/* otpc_reply_async may wake the loop only while open (the scheduler runs). */
void otpc__otp_replies_open(otpc_node_t *n, int open);
/* The replies otpc_reply_async() queued: sent now. */
void otpc__async_replies(otpc_node_t *n);
/* At node_free: the tokens of replies never sent go, and the queue. */
void otpc__async_drop(otpc__mq_t *q);

typedef enum { POST_NONE, POST_TIMEOUT, POST_HIBERNATE, POST_CONTINUE } otpc__post_t;

struct otpc_ret {
    ei_x_buff reply, reason, cont; /* each versioned once touched */
    int has_reply, has_reason;
    /* Sticky: something the runtime built into r (a buffer's version byte, a
     * shortcut's reply or reason) ran out of memory. Whatever the callback returns,
     * the server then stops with enomem (gen_server.c), so a corrupt term never
     * leaves and a shortcut's result may be ignored. */
    int enomem;
    /* otpc_reply_term() of a term inside the message being handled: no copy; only the
     * bytes after reply_ref.data[0] are used (that byte may be a view's borrowed one) */
    otpc_term_t reply_ref;
    const char *msg_lo, *msg_hi; /* the message being handled, for that test */
    otpc__post_t post;
    unsigned timeout_ms;
};

struct otpc_from {
    struct otpc_from *next, *prev; /* in the owner's list of unanswered callers */
    otpc_proc_t *owner;
    otpc_pid_t pid;
    otpc__buf_t tag; /* the caller's tag, bytes as received */
};

typedef struct otpc__gs {
    const otpc_gen_server_t *mod;
    struct otpc__modver *ver;     /* mod's record in the module table (NULL: not in it) */
    struct otpc__gs_debug *debug; /* sys debug options in force (gen_debug.c), or NULL */
    otpc_pid_t parent;            /* the process itself when started without a link */
    otpc_timer_t timeout;         /* pending handle_info(timeout); 0: none */
    unsigned timeout_ms;          /* to re-arm it after a system message */
    int timeout_on;
    otpc_from_t *froms; /* callers not answered yet, owned */
    otpc_from_t *cur;   /* the caller of the running handle_call */
    int cur_answered;   /* otpc_reply(cur) already ran in this callback */
    int suspended, hibernated, terminated;
    int user; /* handle_* run without the node lock (otpc's own servers keep it) */
    otpc__msg_t *saved, *saved_tail; /* messages held back while suspended */
} otpc__gs_t;

/* The behaviour that makes a process a gen_server (gen_server.c). */
extern const otpc__beh_t otpc__gs_beh;

/* The gen_server state of p, or NULL when p is not a gen_server. */
static inline otpc__gs_t *otpc__gs(const otpc_proc_t *p)
{
    return p->beh == &otpc__gs_beh ? (otpc__gs_t *)p->beh_data : NULL;
}

static inline otpc_term_t otpc__x_term(const ei_x_buff *x)
{
    otpc_term_t t = {x->buff, (size_t)x->index};
    return t;
}

/* gen_ret.c */
otpc_ret_t *otpc__ret_begin(otpc_node_t *n);
void otpc__ret_end(otpc_node_t *n);
/* Append {Tag, Atom}, e.g. {error, badarg}: 0 or OTPC_ENOMEM (x is then to be
 * dropped: part of the term may be in it). */
int otpc__x_tag_atom(ei_x_buff *x, const char *tag, const char *atom);

/* gen_from.c */
/* A caller of a call now being handled, on the server's list; NULL on ENOMEM. */
otpc_from_t *otpc__from_new(otpc_proc_t *p, const otpc__from_t *f);
/* Off the server's list and back to the pool. */
void otpc__from_release(otpc_node_t *n, otpc__gs_t *g, otpc_from_t *fr);
/* Send {Tag, Reply} to a caller (reply versioned, already validated). */
int otpc__from_send(otpc_proc_t *self, const otpc_from_t *from, otpc_term_t reply);

/* gen_server.c */
/* normal, shutdown and {shutdown, _}: a quiet end, as in OTP (no log, no transient
 * restart). reason is versioned. */
int otpc__quiet_reason(otpc_term_t reason);
/* Run terminate (once) and exit with reason (versioned); logs abnormal reasons. */
void otpc__gs_stop(otpc_proc_t *p, otpc_term_t reason, otpc_term_t last);
/* gen_ret.c: a versioned view of the subterm at index inside a mailbox item we own:
 * borrows the byte before it for the version magic; otpc__view_end puts it back. */
otpc_term_t otpc__view_begin(otpc_term_t msg, int index, char *saved);
void otpc__view_end(otpc_term_t msg, int index, char saved);

/* gen_sys.c: {system, From, Request} */
/* msg is {system, From, Req}; i is at From. */
void otpc__gs_system(otpc_proc_t *p, otpc_term_t msg, int i);
/* A term (unversioned, len bytes, walked already) as text for the log: ei's printer,
 * for terms up to 2 KiB only (it recurses: a hostile term nested a million deep must
 * not reach it), else "<term of N bytes>". */
void otpc__print_term(char *out, size_t cap, const char *term, size_t len);
/* The state as sys:get_state shows it (format_status, else {Module, self()}). */
int otpc__gs_encode_state(otpc_proc_t *p, ei_x_buff *x);

/* gen_debug.c: sys debugging (trace, log, log_to_file, statistics) */
typedef struct otpc__gs_debug otpc__gs_debug_t;
/* {in, Msg}: a message the server takes (msg versioned). */
void otpc__gs_debug_in(otpc_proc_t *p, otpc_term_t msg);
/* {out, Reply, From, State} (reply versioned), or {noreply, State} when reply.size is 0. */
void otpc__gs_debug_out(otpc_proc_t *p, otpc_term_t reply, const otpc_from_t *from);
/* {debug, Cmd} at req[i]: the reply appended to x; 0 or -1. */
int otpc__gs_debug_cmd(otpc_proc_t *p, otpc_term_t req, int i, ei_x_buff *x);
/* The options in force, as sys:get_status/1's Debug list; 0 or -1. */
int otpc__gs_debug_options(otpc_proc_t *p, ei_x_buff *x);
void otpc__gs_debug_free(otpc__gs_t *g);
/* The module registered under name, or NULL. */
const otpc_gen_server_t *otpc__module_find(otpc_node_t *n, const char *name);

/* sys_release.c: sys:get_state's answer in the form of the caller's OTP release */
/* Send reply ({ok, State}, versioned, State at byte state_off) to the caller of
 * get_state, in the form its node's release expects: {ok, State} from OTP 26 on and
 * for local callers, State before. A remote caller whose release is not known yet
 * waits (not the server) until its node's rex told it; reply is copied. */
int otpc__sys_state_reply(otpc_proc_t *server, const otpc__from_t *f, otpc_term_t reply,
                          size_t state_off);
/* The server ends: its waiting replies leave now, in the newest form (they would have
 * reached the callers before its DOWN). */
void otpc__sys_server_gone(otpc_proc_t *server);
/* At node free. Takes NULL. */
void otpc__sys_release_free(struct otpc__rels *R);
/* The release in a string from erlang:system_info(otp_release): "27" is 27; anything
 * but digits is -1. */
int otpc__sys_release_parse(const char *s);
/* The OTP release of the caller's node as far as known: > 0; 0 while unknown (the
 * question goes out now, once per node incarnation, for the next time) or for a
 * local caller; -1 when that node gave no usable answer. For answers whose form
 * changed between releases (sys:get_state, supervisor:start_child). */
int otpc__caller_release(otpc_proc_t *server, const otpc_pid_t *caller);
/* Does a caller on that release (-1: unknown, 0: local) expect the bare state? */
int otpc__sys_bare_state(int release);

#endif
