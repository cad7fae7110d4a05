/*
 * Child specs for the supervisor: the ones C passes to otpc_supervisor_start and the
 * ones Erlang sends with supervisor:start_child/2, both kept as the terms
 * get_childspec/2 gives back.
 *
 * An Erlang spec is checked key by key in the order OTP's supervisor checks it, so the
 * first fault gets the same error term (missing_id, then missing_start, then the start
 * {M, F, A}, the restart type, significant, the type, the shutdown, the modules). Keys
 * it does not know are ignored, as OTP ignores them. Whether the start is one this
 * node can run ({otpc, start_link, [node(), Module, Arg, Opts]}) is a start error,
 * decided when the child starts (otpc__child_resolve), as OTP's would be.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "otp/sup_int.h"
#include "proto/term.h"

void otpc__child_free(otpc__child_t *c)
{
    ei_x_free(&c->id);
    ei_x_free(&c->start);
    ei_x_free(&c->mods);
    ei_x_free(&c->arg);
    free(c->label);
    free(c->name);
    memset(c, 0, sizeof *c);
}

/* ---- ids --------------------------------------------------------------------------- */

/* Atoms and integers re-encoded the one way ei encodes them; tuples and lists walked to
 * `depth` levels; anything else (and anything deeper) copied as it is. */
static int canon(otpc_term_t t, int *i, ei_x_buff *x, int depth)
{
    int type, size, n, j = *i;
    char name[MAXATOMLEN_UTF8];
    size_t len;
    long long v;
    if (ei_get_type(t.data, &j, &type, &size))
        return -1;
    switch (type) {
    case ERL_ATOM_EXT:
        if (otpc__decode_atom(t.data, i, name, &len))
            return -1;
        return ei_x_encode_atom_len_as(x, name, (int)len, ERLANG_UTF8, ERLANG_UTF8) ? -1 : 0;
    case ERL_SMALL_INTEGER_EXT:
    case ERL_INTEGER_EXT:
    case ERL_SMALL_BIG_EXT:
    case ERL_LARGE_BIG_EXT:
        if (ei_decode_longlong(t.data, &j, &v) == 0) {
            *i = j;
            return ei_x_encode_longlong(x, v) ? -1 : 0;
        }
        break;
    case ERL_SMALL_TUPLE_EXT:
    case ERL_LARGE_TUPLE_EXT:
        if (depth <= 0)
            break;
        if (ei_decode_tuple_header(t.data, i, &n) || ei_x_encode_tuple_header(x, n))
            return -1;
        while (n-- > 0)
            if (canon(t, i, x, depth - 1))
                return -1;
        return 0;
    case ERL_LIST_EXT:
        if (depth <= 0)
            break;
        if (ei_decode_list_header(t.data, i, &n) || ei_x_encode_list_header(x, n))
            return -1;
        for (int k = 0; k <= n; k++) /* the elements, then the tail */
            if (canon(t, i, x, depth - 1))
                return -1;
        return 0;
    default:
        break;
    }
    return otpc_x_append_subterm(x, t, i) ? -1 : 0;
}

int otpc__sup_canon_id(otpc_term_t t, int *i, ei_x_buff *x)
{
    return canon(t, i, x, 8);
}

/* The id as text for the log. */
static char *label_of(const ei_x_buff *id)
{
    char text[512];
    otpc__print_term(text, sizeof text, id->buff, (size_t)id->index);
    return strdup(text);
}

/* ---- specs from C ------------------------------------------------------------------ */

static int encode_shutdown(ei_x_buff *x, long shutdown)
{
    if (shutdown == OTPC__SHUT_BRUTAL)
        return ei_x_encode_atom(x, "brutal_kill");
    if (shutdown == OTPC__SHUT_INFINITY)
        return ei_x_encode_atom(x, "infinity");
    return ei_x_encode_long(x, shutdown);
}

int otpc__child_from_c(otpc_node_t *n, const otpc_child_spec_t *sp, otpc__child_t *c)
{
    const char *id = sp->id ? sp->id : sp->module->name;
    const char *mod = sp->module->name;
    static const char UNDEFINED[] = {(char)ERL_VERSION_MAGIC,
                                     ERL_SMALL_ATOM_UTF8_EXT,
                                     9,
                                     'u',
                                     'n',
                                     'd',
                                     'e',
                                     'f',
                                     'i',
                                     'n',
                                     'e',
                                     'd'};
    otpc_term_t arg = sp->arg.size ? sp->arg : OTPC__TERM(UNDEFINED);
    c->mod = sp->module;
    c->restart = sp->restart;
    c->shutdown = sp->shutdown == 0 ? 5000 : sp->shutdown;
    c->name = sp->name ? strdup(sp->name) : NULL;
    if ((sp->name && !c->name) || ei_x_new(&c->id) || ei_x_new(&c->start) || ei_x_new(&c->mods) ||
        ei_x_new_with_version(&c->arg) ||
        ei_x_encode_atom_len_as(&c->id, id, (int)strlen(id), ERLANG_UTF8, ERLANG_UTF8) ||
        ei_x_encode_list_header(&c->mods, 1) || ei_x_encode_atom(&c->mods, mod) ||
        ei_x_encode_empty_list(&c->mods) || otpc_x_append_term(&c->arg, arg))
        return OTPC_ENOMEM;
    /* {otpc, start_link, [Node, Module, Arg, Opts]}, as if Erlang had sent it */
    ei_x_buff *x = &c->start;
    if (ei_x_encode_tuple_header(x, 3) || ei_x_encode_atom(x, "otpc") ||
        ei_x_encode_atom(x, "start_link") || ei_x_encode_list_header(x, 4) ||
        ei_x_encode_atom(x, n->name) || ei_x_encode_atom(x, mod) || otpc_x_append_term(x, arg) ||
        (sp->name ? ei_x_encode_list_header(x, 1) || ei_x_encode_tuple_header(x, 2) ||
                        ei_x_encode_atom(x, "name") || ei_x_encode_atom(x, sp->name)
                  : 0) ||
        ei_x_encode_empty_list(x) || ei_x_encode_empty_list(x))
        return OTPC_ENOMEM;
    c->label = label_of(&c->id);
    return c->label ? 0 : OTPC_ENOMEM;
}

/* ---- specs from Erlang ------------------------------------------------------------- */

/* Where each key's value is in the request; -1: absent. */
typedef struct {
    int id, start, restart, significant, shutdown, type, mods;
} at_t;

static int atom_at(otpc_term_t t, int i, char *name)
{
    size_t len;
    return i >= 0 && otpc__decode_atom(t.data, &i, name, &len) == 0 && len == strlen(name);
}

static int is_atom_named(otpc_term_t t, int i, const char *want)
{
    char name[MAXATOMLEN_UTF8];
    return atom_at(t, i, name) && strcmp(name, want) == 0;
}

/* {Tag, Term at i} appended to err: 1, or OTPC_ENOMEM. */
static int fault(ei_x_buff *err, const char *tag, otpc_term_t t, int i)
{
    if (ei_x_encode_tuple_header(err, 2) || ei_x_encode_atom(err, tag) ||
        otpc_x_append_subterm(err, t, &i))
        return OTPC_ENOMEM;
    return 1;
}

/* The map's keys, or the six elements of the tuple form. 0, or 1 with the error. */
static int locate(otpc_term_t t, int i, at_t *at, ei_x_buff *err)
{
    int type, size, n, j = i;
    memset(at, -1, sizeof *at);
    if (ei_get_type(t.data, &j, &type, &size))
        return OTPC_EBADARG;
    if (type == ERL_MAP_EXT && ei_decode_map_header(t.data, &j, &n) == 0) {
        char key[MAXATOMLEN_UTF8];
        static const char *const keys[] = {"id",       "start", "restart", "significant",
                                           "shutdown", "type",  "modules"};
        int *slots[] = {&at->id,       &at->start, &at->restart, &at->significant,
                        &at->shutdown, &at->type,  &at->mods};
        while (n-- > 0) {
            int is_key = atom_at(t, j, key);
            if (otpc_skip_term(t, &j))
                return OTPC_EBADARG;
            for (int k = 0; is_key && k < 7; k++)
                if (strcmp(key, keys[k]) == 0)
                    *slots[k] = j;
            if (otpc_skip_term(t, &j))
                return OTPC_EBADARG;
        }
        return 0;
    }
    if ((type == ERL_SMALL_TUPLE_EXT || type == ERL_LARGE_TUPLE_EXT) &&
        ei_decode_tuple_header(t.data, &j, &n) == 0 && n == 6) {
        int *slots[] = {&at->id, &at->start, &at->restart, &at->shutdown, &at->type, &at->mods};
        for (int k = 0; k < 6; k++) {
            *slots[k] = j;
            if (otpc_skip_term(t, &j))
                return OTPC_EBADARG;
        }
        return 0;
    }
    return fault(err, "invalid_child_spec", t, i);
}

/* {M, F, A}: atoms and a list; *m at M. */
static int valid_mfa(otpc_term_t t, int i, int *m)
{
    int n, type, size;
    char name[MAXATOMLEN_UTF8];
    size_t len;
    if (ei_decode_tuple_header(t.data, &i, &n) || n != 3)
        return 0;
    *m = i;
    if (otpc__decode_atom(t.data, &i, name, &len) || otpc__decode_atom(t.data, &i, name, &len) ||
        ei_get_type(t.data, &i, &type, &size))
        return 0;
    return type == ERL_LIST_EXT || type == ERL_NIL_EXT || type == ERL_STRING_EXT;
}

static int check_restart(otpc_term_t t, int i, otpc__child_t *c)
{
    static const char *const names[] = {"permanent", "transient", "temporary"};
    static const otpc_restart_t types[] = {OTPC_PERMANENT, OTPC_TRANSIENT, OTPC_TEMPORARY};
    c->restart = OTPC_PERMANENT;
    for (int k = 0; i >= 0 && k < 3; k++)
        if (is_atom_named(t, i, names[k])) {
            c->restart = types[k];
            return 0;
        }
    return i >= 0;
}

/* integer >= 0 (ms), brutal_kill or infinity; absent: by type */
static int check_shutdown(otpc_term_t t, int i, otpc__child_t *c)
{
    unsigned long long ms;
    int type, size, j = i;
    if (i < 0) {
        c->shutdown = c->supervisor ? OTPC__SHUT_INFINITY : 5000;
        return 0;
    }
    if (is_atom_named(t, i, "brutal_kill") || is_atom_named(t, i, "infinity")) {
        c->shutdown = is_atom_named(t, i, "infinity") ? OTPC__SHUT_INFINITY : OTPC__SHUT_BRUTAL;
        return 0;
    }
    if (ei_decode_ulonglong(t.data, &j, &ms) == 0) {
        c->shutdown = ms > UINT_MAX ? OTPC__SHUT_INFINITY : (long)ms;
        return 0;
    }
    j = i; /* a non-negative bignum too large for 64 bits: as good as infinity */
    if (ei_get_type(t.data, &j, &type, &size) == 0 &&
        (type == ERL_SMALL_BIG_EXT || type == ERL_LARGE_BIG_EXT) &&
        t.data[i + (type == ERL_SMALL_BIG_EXT ? 2 : 5)] == 0) {
        c->shutdown = OTPC__SHUT_INFINITY;
        return 0;
    }
    return 1;
}

/* dynamic or a list of atoms: 0; 1 with the error; absent: [M] */
static int check_mods(otpc_term_t t, int i, int m, otpc__child_t *c, ei_x_buff *err)
{
    int n, type, size, j = i;
    if (i < 0)
        return ei_x_encode_list_header(&c->mods, 1) || otpc_x_append_subterm(&c->mods, t, &m) ||
                       ei_x_encode_empty_list(&c->mods)
                   ? OTPC_ENOMEM
                   : 0;
    if (!is_atom_named(t, i, "dynamic")) {
        if (ei_get_type(t.data, &j, &type, &size) ||
            (type != ERL_LIST_EXT && type != ERL_NIL_EXT && type != ERL_STRING_EXT))
            return fault(err, "invalid_modules", t, i);
        if (type == ERL_STRING_EXT) { /* a list of small integers: the first is the fault */
            unsigned char first = (unsigned char)t.data[i + 3];
            return ei_x_encode_tuple_header(err, 2) || ei_x_encode_atom(err, "invalid_module") ||
                           ei_x_encode_long(err, first)
                       ? OTPC_ENOMEM
                       : 1;
        }
        if (type == ERL_LIST_EXT) {
            ei_decode_list_header(t.data, &j, &n);
            for (int k = 0; k < n; k++) {
                char name[MAXATOMLEN_UTF8];
                size_t len;
                int e = j;
                if (otpc__decode_atom(t.data, &j, name, &len))
                    return fault(err, "invalid_module", t, e);
            }
            if (t.data[j] != ERL_NIL_EXT)
                return fault(err, "invalid_modules", t, i); /* an improper list */
        }
    }
    return otpc_x_append_subterm(&c->mods, t, &i) ? OTPC_ENOMEM : 0;
}

/* Check in OTP's order; on 0 c has id, start, restart, shutdown, type and modules. */
static int check(otpc_term_t t, const at_t *at, otpc__child_t *c, ei_x_buff *err)
{
    int m = -1, j;
    if (at->id < 0)
        return ei_x_encode_atom(err, "missing_id") ? OTPC_ENOMEM : 1;
    if (at->start < 0)
        return ei_x_encode_atom(err, "missing_start") ? OTPC_ENOMEM : 1;
    if (!valid_mfa(t, at->start, &m))
        return fault(err, "invalid_mfa", t, at->start);
    if (check_restart(t, at->restart, c))
        return fault(err, "invalid_restart_type", t, at->restart);
    if (at->significant >= 0 && !is_atom_named(t, at->significant, "false")) {
        if (!is_atom_named(t, at->significant, "true"))
            return fault(err, "invalid_significant", t, at->significant);
        /* this supervisor's auto_shutdown is never, as OTP's default */
        return ei_x_encode_tuple_header(err, 2) || ei_x_encode_atom(err, "bad_combination") ||
                       ei_x_encode_list_header(err, 2) || ei_x_encode_tuple_header(err, 2) ||
                       ei_x_encode_atom(err, "auto_shutdown") || ei_x_encode_atom(err, "never") ||
                       ei_x_encode_tuple_header(err, 2) || ei_x_encode_atom(err, "significant") ||
                       ei_x_encode_boolean(err, 1) || ei_x_encode_empty_list(err)
                   ? OTPC_ENOMEM
                   : 1;
    }
    c->supervisor = at->type >= 0 && is_atom_named(t, at->type, "supervisor");
    if (at->type >= 0 && !c->supervisor && !is_atom_named(t, at->type, "worker"))
        return fault(err, "invalid_child_type", t, at->type);
    if (check_shutdown(t, at->shutdown, c))
        return fault(err, "invalid_shutdown", t, at->shutdown);
    int rc = check_mods(t, at->mods, m, c, err);
    if (rc)
        return rc;
    j = at->id;
    if (otpc__sup_canon_id(t, &j, &c->id))
        return OTPC_ENOMEM;
    j = at->start;
    return otpc_x_append_subterm(&c->start, t, &j) ? OTPC_ENOMEM : 0;
}

int otpc__child_from_spec(otpc_term_t req, int i, otpc__child_t *c, ei_x_buff *err)
{
    at_t at;
    if (ei_x_new(&c->id) || ei_x_new(&c->start) || ei_x_new(&c->mods) ||
        ei_x_new_with_version(&c->arg))
        return OTPC_ENOMEM;
    int rc = locate(req, i, &at, err);
    if (rc == 0)
        rc = check(req, &at, c, err);
    if (rc == 0 && !(c->label = label_of(&c->id)))
        rc = OTPC_ENOMEM;
    return rc;
}

/* ---- what the start asks for ----------------------------------------------------- */

/* {Tag, the term at i of buf} into why: 1 or OTPC_ENOMEM */
static int why_at(ei_x_buff *why, const char *tag, const ei_x_buff *buf, int i)
{
    otpc_term_t t = {buf->buff, (size_t)buf->index};
    if (ei_x_encode_tuple_header(why, 2) || ei_x_encode_atom(why, tag) ||
        otpc_x_append_subterm(why, t, &i))
        return OTPC_ENOMEM;
    return 1;
}

/* Opts: a list in which the first {name, Atom} names the server (undefined: none);
 * other entries are otpc:start_link's to ignore. 0, 1 if it is no such list, or
 * OTPC_ENOMEM. */
static int opts_name(otpc_term_t t, int i, otpc__child_t *c)
{
    int n, type, size, arity;
    char name[MAXATOMLEN_UTF8];
    if (ei_get_type(t.data, &i, &type, &size))
        return 1;
    if (type == ERL_NIL_EXT || type == ERL_STRING_EXT)
        return 0;
    if (type != ERL_LIST_EXT || ei_decode_list_header(t.data, &i, &n))
        return 1;
    for (; n > 0; n--) {
        int j = i;
        if (otpc_skip_term(t, &i))
            return 1;
        if (c->name || ei_decode_tuple_header(t.data, &j, &arity) || arity != 2 ||
            !is_atom_named(t, j, "name"))
            continue;
        otpc_skip_term(t, &j);
        if (!atom_at(t, j, name))
            return 1;
        if (strcmp(name, "undefined") && !(c->name = strdup(name)))
            return OTPC_ENOMEM;
    }
    return 0;
}

int otpc__child_resolve(otpc_node_t *n, otpc__child_t *c, ei_x_buff *why)
{
    otpc_term_t t = {c->start.buff, (size_t)c->start.index};
    char name[MAXATOMLEN_UTF8];
    int i = 0, arity, len, type, size;
    if (ei_decode_tuple_header(t.data, &i, &arity) || !is_atom_named(t, i, "otpc") ||
        otpc_skip_term(t, &i) || !is_atom_named(t, i, "start_link") || otpc_skip_term(t, &i) ||
        ei_get_type(t.data, &i, &type, &size) || type != ERL_LIST_EXT ||
        ei_decode_list_header(t.data, &i, &len) || len != 4)
        return why_at(why, "unsupported_start", &c->start, 0);
    int node = i;
    if (!atom_at(t, node, name) || strcmp(name, n->name))
        return why_at(why, "not_this_node", &c->start, node);
    otpc_skip_term(t, &i);
    int mod = i;
    if (!atom_at(t, mod, name) || !(c->mod = otpc__module_find(n, name)))
        return why_at(why, "unknown_module", &c->start, mod);
    otpc_skip_term(t, &i);
    int arg = i;
    otpc_skip_term(t, &i);
    int opts = i;
    if (otpc_skip_term(t, &i) || t.data[i] != ERL_NIL_EXT) /* [N, M, A, O | Tail] */
        return why_at(why, "unsupported_start", &c->start, 0);
    int rc = opts_name(t, opts, c);
    if (rc == OTPC_ENOMEM)
        return rc;
    if (rc)
        return why_at(why, "invalid_opts", &c->start, opts);
    c->arg.index = 1;
    return otpc_x_append_subterm(&c->arg, t, &arg) ? OTPC_ENOMEM : 0;
}

/* ---- encoding back ------------------------------------------------------------------ */

static int append(ei_x_buff *x, const ei_x_buff *term)
{
    return ei_x_append_buf(x, term->buff, term->index);
}

static const char *restart_name(otpc_restart_t r)
{
    return r == OTPC_PERMANENT ? "permanent" : r == OTPC_TRANSIENT ? "transient" : "temporary";
}

int otpc__child_encode_spec(ei_x_buff *x, const otpc__child_t *c)
{
    return ei_x_encode_map_header(x, 7) || ei_x_encode_atom(x, "id") || append(x, &c->id) ||
           ei_x_encode_atom(x, "start") || append(x, &c->start) || ei_x_encode_atom(x, "restart") ||
           ei_x_encode_atom(x, restart_name(c->restart)) || ei_x_encode_atom(x, "significant") ||
           ei_x_encode_boolean(x, 0) || ei_x_encode_atom(x, "shutdown") ||
           encode_shutdown(x, c->shutdown) || ei_x_encode_atom(x, "type") ||
           ei_x_encode_atom(x, c->supervisor ? "supervisor" : "worker") ||
           ei_x_encode_atom(x, "modules") || append(x, &c->mods);
}

int otpc__child_encode_record(ei_x_buff *x, const otpc__child_t *c)
{
    return ei_x_encode_tuple_header(x, 9) || ei_x_encode_atom(x, "child") ||
           ei_x_encode_atom(x, "undefined") || append(x, &c->id) || append(x, &c->start) ||
           ei_x_encode_atom(x, restart_name(c->restart)) || ei_x_encode_boolean(x, 0) ||
           encode_shutdown(x, c->shutdown) ||
           ei_x_encode_atom(x, c->supervisor ? "supervisor" : "worker") || append(x, &c->mods);
}

/* ---- children, for which_children, count_children and start errors ---------------- */

int otpc__children_encode(otpc_proc_t *self, otpc__child_t *const *children, size_t n, ei_x_buff *x)
{
    for (size_t i = n; i-- > 0;) {
        const otpc__child_t *c = children[i];
        int running = c->state == OTPC__CH_RUNNING || c->state == OTPC__CH_TERMINATING;
        if (ei_x_encode_list_header(x, 1) || ei_x_encode_tuple_header(x, 4) ||
            ei_x_append_buf(x, c->id.buff, c->id.index) ||
            (running ? otpc_x_encode_pid(self, x, &c->pid)
                     : ei_x_encode_atom(x, c->state == OTPC__CH_RESTARTING ? "restarting"
                                                                           : "undefined")) ||
            ei_x_encode_atom(x, c->supervisor ? "supervisor" : "worker") ||
            ei_x_append_buf(x, c->mods.buff, c->mods.index))
            return -1;
    }
    return ei_x_encode_empty_list(x);
}

int otpc__children_counts(otpc__child_t *const *children, size_t n, ei_x_buff *x)
{
    long active = 0, sups = 0;
    for (size_t i = 0; i < n; i++) {
        active += children[i]->state == OTPC__CH_RUNNING;
        sups += children[i]->supervisor;
    }
    const char *keys[] = {"specs", "active", "supervisors", "workers"};
    long vals[] = {(long)n, active, sups, (long)n - sups};
    for (int k = 0; k < 4; k++)
        if (ei_x_encode_list_header(x, 1) || ei_x_encode_tuple_header(x, 2) ||
            ei_x_encode_atom(x, keys[k]) || ei_x_encode_long(x, vals[k]))
            return -1;
    return ei_x_encode_empty_list(x);
}

/* {error, {Why, ChildRecord}}: how start_child reports a child that did not start */
int otpc__child_start_error(ei_x_buff *x, const ei_x_buff *why, const otpc__child_t *c)
{
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
           ei_x_encode_tuple_header(x, 2) || ei_x_append_buf(x, why->buff, why->index) ||
           otpc__child_encode_record(x, c);
}
