/*
 * Internals of the supervisor (supervisor.c): its child record, and the child specs
 * Erlang sends (sup_spec.c): checked as OTP's supervisor checks them, kept as terms,
 * encoded back for get_childspec and the error replies.
 *
 * Ids are terms. Every stored id and every id a call names goes through
 * otpc__sup_canon_id first, so two encodings of one term (an atom as ATOM_EXT or
 * SMALL_ATOM_UTF8_EXT, an integer as INTEGER_EXT or SMALL_BIG_EXT) compare equal
 * byte for byte. A C spec's string id is the atom of that name.
 */
#ifndef OTPC_OTP_SUP_INT_H
#define OTPC_OTP_SUP_INT_H

#include "otp/gen_server_int.h"

#define OTPC__SHUT_BRUTAL (-1L)
#define OTPC__SHUT_INFINITY (-2L)

typedef enum {
    OTPC__CH_STOPPED,
    OTPC__CH_RUNNING,
    OTPC__CH_TERMINATING,
    OTPC__CH_RESTARTING
} otpc__ch_state_t;

typedef struct {
    uint64_t serial; /* unique in its supervisor: names it in messages to itself */
    ei_x_buff id;    /* canonical, no version byte */
    ei_x_buff start; /* {otpc, start_link, [Node, Module, Arg, Opts]}, no version byte */
    ei_x_buff mods;  /* [Module, ...] or dynamic, no version byte */
    ei_x_buff arg;   /* versioned: what init gets */
    char *label;     /* the id as text, for the log */
    char *name;      /* registered name, or NULL */
    const otpc_gen_server_t *mod;
    otpc_restart_t restart;
    long shutdown;  /* ms, OTPC__SHUT_BRUTAL or OTPC__SHUT_INFINITY */
    int supervisor; /* type supervisor, else worker */
    otpc__ch_state_t state;
    otpc_pid_t pid;     /* RUNNING and TERMINATING */
    otpc_ref_t mref;    /* TERMINATING: the monitor whose DOWN ends it */
    otpc_timer_t timer; /* TERMINATING: the kill after `shutdown` ms (0: none) */
    uint64_t kill_gen;  /* which kill message is this termination's */
} otpc__child_t;

void otpc__child_free(otpc__child_t *c);

/* Append the canonical form of the term at *i in t to x and advance *i. 0 or -1. */
int otpc__sup_canon_id(otpc_term_t t, int *i, ei_x_buff *x);

/* A child from a C spec (checked by the caller): 0 or OTPC_ENOMEM; c is to be freed
 * with otpc__child_free either way. */
int otpc__child_from_c(otpc_node_t *n, const otpc_child_spec_t *sp, otpc__child_t *c);

/* The child spec at *i in req (a map or a 6-tuple) into c. 0, or 1 with the error term
 * (missing_id, {invalid_restart_type, R}, ...) appended to err, or OTPC_ENOMEM. */
int otpc__child_from_spec(otpc_term_t req, int i, otpc__child_t *c, ei_x_buff *err);

/* What start {otpc, start_link, [Node, Module, Arg, Opts]} asks for, checked on this
 * node: 0 with c->mod, c->arg and c->name set; 1 with the reason it cannot start
 * ({unsupported_start, MFA}, {not_this_node, Node}, {unknown_module, M},
 * {invalid_opts, Opts}) appended to why; or OTPC_ENOMEM. */
int otpc__child_resolve(otpc_node_t *n, otpc__child_t *c, ei_x_buff *why);

/* #{id, start, restart, significant, shutdown, type, modules} */
int otpc__child_encode_spec(ei_x_buff *x, const otpc__child_t *c);
/* OTP's child record in start errors: {child, undefined, Id, Start, Restart, false,
 * Shutdown, Type, Modules} */
int otpc__child_encode_record(ei_x_buff *x, const otpc__child_t *c);

/* which_children's list (newest first), count_children's proplist, and start_child's
 * {error, {Why, ChildRecord}}, appended to x. 0 or -1. */
int otpc__children_encode(otpc_proc_t *self, otpc__child_t *const *children, size_t n,
                          ei_x_buff *x);
int otpc__children_counts(otpc__child_t *const *children, size_t n, ei_x_buff *x);
int otpc__child_start_error(ei_x_buff *x, const ei_x_buff *why, const otpc__child_t *c);

/* sup_reaper.c: kill each of these children still there when its ms run out (v is
 * copied; nothing happens without memory). */
typedef struct {
    otpc_pid_t pid;
    unsigned ms;
} otpc__reap_t;
void otpc__sup_reaper(otpc_node_t *n, const otpc__reap_t *v, size_t len);

#endif
