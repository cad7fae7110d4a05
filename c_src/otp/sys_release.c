/*
 * The answer to sys:get_state in the form the caller's OTP release expects: OTP 26
 * and later match {ok, State} (sys.erl: `{ok, State} -> State`, anything else is a
 * case_clause in the caller), OTP 25 and earlier return whatever is not {error, _}, so
 * they want the bare State. The request {system, From, get_state} is the same on every
 * release, and so are the handshake flags of OTP 25 and 27, so the node asks: the
 * first time a caller on node N (incarnation: creation C) needs the answer, an asker
 * process monitors {rex, N} and sends rex the call erl_call makes,
 * {call, erlang, system_info, [otp_release], user}, answered {Tag, "27"} by rex's
 * handle_call({call, M, F, A, GL}, ...) on OTP 25 to 29.
 *
 * Until the release is known, the server does not wait: the state is encoded at once
 * (it is the state the request saw), and only the reply waits here, on `pending`; the
 * server carries on with its other messages. The rule:
 *  - a local caller (a C process, a daemon client): {ok, State};
 *  - a known release below 26: State; 26 and later: {ok, State};
 *  - no usable answer (rex not registered, not a BEAM node, no answer within ASK_MS,
 *    anything but a string of digits): {ok, State}, the form of every current release.
 *
 * Invariants:
 *  - One entry per node name; it holds one incarnation (a restarted node has another
 *    creation, and may run another release: its entry is replaced) and lives while the
 *    connection does: the monitor of {rex, N} stays after the answer, and its
 *    noconnection removes the entry.
 *  - Every pending reply is sent exactly once (answer, DOWN, timeout, its server's end,
 *    the asker's end), except when the caller's connection went down (noconnection):
 *    the caller has given up, and sending would only dial its node again.
 *  - Replies leave in the order the requests came, per node; at most PENDING_MAX wait,
 *    more are answered at once in the newest form.
 */
#include <stdlib.h>
#include <string.h>

#include "otp/gen_server_int.h"
#include "util/log.h"

#define ASK_MS 2000 /* far below sys's 5 s default, far above a rex round trip */
#define PENDING_MAX 1024
#define FIRST_OK_RELEASE 26 /* sys:get_state matches {ok, State} from this release on */

typedef struct {
    uint32_t node, creation;
    int release;     /* 0: asking; > 0: the answer; -1: no usable answer */
    int asked;       /* the question is out (the asker sends it, in its own turn) */
    int monitored;   /* mref is a live monitor of {rex, node} */
    otpc_ref_t tag;  /* of the rex call */
    otpc_ref_t mref; /* of the monitor */
    otpc_timer_t timer;
} rel_t;

typedef struct pend {
    struct pend *next;
    uint32_t node, creation;
    otpc_pid_t server, caller;
    uint32_t tag_len, reply_len, state_off; /* the state's first byte in the reply */
    char data[];                            /* the caller's tag, then {ok, State} (versioned) */
} pend_t;

struct otpc__rels {
    otpc_pid_t asker;
    int asker_up;
    otpc__vec_t nodes; /* of rel_t */
    pend_t *head, *tail;
    uint32_t npending;
};

static const char ASK[] = OTPC__VATOM(3, 'a', 's', 'k');

/* ---- the rule ---------------------------------------------------------------------- */

int otpc__sys_release_parse(const char *s)
{
    long v = 0;
    int digits = 0;
    for (; *s >= '0' && *s <= '9' && digits < 6; s++, digits++)
        v = v * 10 + (*s - '0');
    return digits && !*s && v > 0 ? (int)v : -1;
}

int otpc__sys_bare_state(int release)
{
    return release > 0 && release < FIRST_OK_RELEASE;
}

/* reply is {ok, State}, versioned; the bare form is a view of State inside it, with the
 * byte before it standing for the version byte (only the bytes after it are read). */
static otpc_term_t form(int release, const char *reply, size_t len, size_t state_off)
{
    otpc_term_t t = {reply, len};
    if (otpc__sys_bare_state(release)) {
        t.data = reply + state_off - 1;
        t.size = len - state_off + 1;
    }
    return t;
}

/* ---- entries and pending replies --------------------------------------------------- */

static rel_t *find_node(struct otpc__rels *R, uint32_t node)
{
    rel_t *v = R->nodes.items;
    for (uint32_t i = 0; i < R->nodes.len; i++)
        if (v[i].node == node)
            return &v[i];
    return NULL;
}

static void send_pending(otpc_node_t *n, pend_t *pd, int release)
{
    otpc__from_t f = {pd->caller, {pd->data, pd->tag_len}};
    otpc_term_t r = form(release, pd->data + pd->tag_len, pd->reply_len, pd->state_off);
    if (otpc__gen_reply_as(n, &pd->server, &f, r))
        OTPC__LOG_ERROR("gen_server", "could not send a sys:get_state reply");
}

/* Every pending reply that `match` selects leaves: in `release`'s form when send, else
 * dropped. Order kept. */
static void take_pending(otpc_node_t *n, struct otpc__rels *R, int (*match)(const pend_t *, void *),
                         void *arg, int send, int release)
{
    pend_t **pp = &R->head, *prev = NULL;
    while (*pp) {
        pend_t *pd = *pp;
        if (!match(pd, arg)) {
            prev = pd;
            pp = &pd->next;
            continue;
        }
        *pp = pd->next;
        if (R->tail == pd)
            R->tail = prev;
        R->npending--;
        if (send)
            send_pending(n, pd, release);
        free(pd);
    }
}

static int of_rel(const pend_t *pd, void *arg)
{
    const rel_t *e = arg;
    return pd->node == e->node && pd->creation == e->creation;
}

static int of_server(const pend_t *pd, void *arg)
{
    return otpc_pid_eq(&pd->server, arg);
}

static int any(const pend_t *pd, void *arg)
{
    (void)pd;
    (void)arg;
    return 1;
}

static void settle(otpc_node_t *n, struct otpc__rels *R, rel_t *e, int release)
{
    e->release = release;
    take_pending(n, R, of_rel, e, 1, release);
}

static void forget(struct otpc__rels *R, rel_t *e)
{
    otpc__vec_del(&R->nodes, (uint32_t)(e - (rel_t *)R->nodes.items), sizeof *e);
}

/* ---- the asker --------------------------------------------------------------------- */

/* {'$gen_call', {Self, Tag}, {call, erlang, system_info, [otp_release], user}} to
 * {rex, N}, after a monitor of it; then the timeout. */
static int ask(otpc_proc_t *self, rel_t *e, ei_x_buff *x)
{
    const char *node = otpc__atom_name(&self->node->atoms, e->node);
    x->index = 0;
    int rc = otpc_make_ref(self, &e->tag);
    if (!rc && !e->monitored && (rc = otpc_monitor_name(self, "rex", node, &e->mref)) == 0)
        e->monitored = 1;
    if (rc || ei_x_encode_version(x) || ei_x_encode_tuple_header(x, 3) ||
        ei_x_encode_atom(x, "$gen_call") || ei_x_encode_tuple_header(x, 2) ||
        otpc_x_encode_pid(self, x, &self->pid) || otpc_x_encode_ref(self, x, &e->tag) ||
        ei_x_encode_tuple_header(x, 5) || ei_x_encode_atom(x, "call") ||
        ei_x_encode_atom(x, "erlang") || ei_x_encode_atom(x, "system_info") ||
        ei_x_encode_list_header(x, 1) || ei_x_encode_atom(x, "otp_release") ||
        ei_x_encode_empty_list(x) || ei_x_encode_atom(x, "user"))
        return OTPC_ENOMEM;
    if ((rc = otpc_send_name(self, "rex", node, otpc_term_x(x))) != 0)
        return rc;
    x->index = 0;
    if (ei_x_encode_version(x) || ei_x_encode_tuple_header(x, 2) ||
        ei_x_encode_atom(x, "timeout") || otpc_x_encode_ref(self, x, &e->tag))
        return OTPC_ENOMEM;
    return otpc_send_after(self, ASK_MS, &self->pid, otpc_term_x(x), &e->timer);
}

static void ask_all(otpc_proc_t *self, struct otpc__rels *R)
{
    ei_x_buff x;
    int nomem = ei_x_new(&x) != 0;
    for (uint32_t i = 0; i < R->nodes.len; i++) {
        rel_t *e = (rel_t *)R->nodes.items + i;
        if (e->asked)
            continue;
        e->asked = 1;
        if (nomem || ask(self, e, &x)) {
            OTPC__LOG_WARN("gen_server",
                           "could not ask %s its release; sys:get_state "
                           "answers it {ok, State}",
                           otpc__atom_name(&self->node->atoms, e->node));
            settle(self->node, R, e, -1);
        }
    }
    ei_x_free(&x);
}

/* Is e (decoded from a message) our ref `ours`? Compared without interning e's node
 * name: anyone may send the asker refs naming any node. */
static int same_ref(const otpc_node_t *n, const erlang_ref *e, const otpc_ref_t *ours)
{
    if (strcmp(e->node, n->name) != 0 || e->creation != ours->creation || e->len < 0 ||
        (uint32_t)e->len != ours->len)
        return 0;
    for (uint32_t i = 0; i < ours->len; i++)
        if (e->n[i] != ours->n[i])
            return 0;
    return 1;
}

/* The entry whose call tag (mon: whose monitor) is the ref at *i in b. */
static rel_t *find_ref(const otpc_node_t *n, struct otpc__rels *R, const char *b, int *i, int mon)
{
    erlang_ref r;
    if (ei_decode_ref(b, i, &r))
        return NULL;
    rel_t *v = R->nodes.items;
    for (uint32_t k = 0; k < R->nodes.len; k++)
        if (mon ? v[k].monitored && same_ref(n, &r, &v[k].mref)
                : v[k].asked && same_ref(n, &r, &v[k].tag))
            return &v[k];
    return NULL;
}

/* {Tag, "27"} from rex (late ones too: they still tell the release). */
static void answered(otpc_proc_t *self, struct otpc__rels *R, otpc_term_t msg)
{
    const char *b = msg.data;
    int i = 1, arity, type, size;
    char s[16];
    rel_t *e;
    if (ei_decode_tuple_header(b, &i, &arity) || arity != 2 ||
        !(e = find_ref(self->node, R, b, &i, 0)))
        return;
    int release = -1;
    if (ei_get_type(b, &i, &type, &size) == 0 && type == ERL_STRING_EXT &&
        (size_t)size < sizeof s && ei_decode_string(b, &i, s) == 0)
        release = otpc__sys_release_parse(s);
    otpc_cancel_timer(self, e->timer);
    OTPC__LOG_DEBUG("gen_server", "%s runs OTP %d", otpc__atom_name(&self->node->atoms, e->node),
                    release);
    settle(self->node, R, e, release);
}

/* {'DOWN', MRef, process, {rex, N}, Reason}: the connection went (the callers with it),
 * or rex is not there. */
static void down(otpc_proc_t *self, struct otpc__rels *R, otpc_term_t msg, int i)
{
    rel_t *e = find_ref(self->node, R, msg.data, &i, 1);
    if (!e)
        return;
    e->monitored = 0;
    if (otpc_skip_term(msg, &i) || otpc_skip_term(msg, &i))
        return;
    if (otpc_decode_atom_is(msg.data, &i, "noconnection")) {
        otpc_cancel_timer(self, e->timer);
        take_pending(self->node, R, of_rel, e, 0, 0);
        forget(R, e);
    } else if (!e->release) {
        otpc_cancel_timer(self, e->timer);
        settle(self->node, R, e, -1);
    }
}

static void asker_handle(otpc_proc_t *self, otpc_term_t msg)
{
    struct otpc__rels *R = otpc__otp(self->node)->rels;
    int i;
    rel_t *e;
    if (!R)
        return;
    if (OTPC__MSG_IS(msg, ASK)) {
        ask_all(self, R);
    } else if (otpc_term_is_tagged(msg, "DOWN", 5, &i)) {
        down(self, R, msg, i);
    } else if (otpc_term_is_tagged(msg, "timeout", 2, &i)) {
        if ((e = find_ref(self->node, R, msg.data, &i, 0)) && !e->release) {
            OTPC__LOG_INFO("gen_server",
                           "%s did not tell its release; sys:get_state answers "
                           "it {ok, State}",
                           otpc__atom_name(&self->node->atoms, e->node));
            settle(self->node, R, e, -1);
        }
    } else {
        answered(self, R, msg);
    }
}

/* The asker ends with the node (or killed): what waits is sent in the newest form, and
 * what it knew goes, since its monitors went with it. */
static void asker_terminate(otpc_proc_t *self, otpc_term_t reason)
{
    (void)reason;
    struct otpc__rels *R = otpc__otp(self->node)->rels;
    if (!R)
        return;
    R->asker_up = 0;
    take_pending(self->node, R, any, NULL, 1, -1);
    R->nodes.len = 0;
}

static const otpc_proc_ops_t asker_ops = {
    .name = "sys_release", .handle = asker_handle, .terminate = asker_terminate};

/* ---- for gen_sys.c and gen_server.c -------------------------------------------------- */

/* The entry for the caller's node incarnation, new (to ask) if need be; NULL on
 * ENOMEM or when no asker can run. */
static rel_t *entry(otpc_node_t *n, struct otpc__rels *R, const otpc_pid_t *caller, int *fresh)
{
    rel_t *e = find_node(R, caller->node);
    *fresh = 0;
    if (e && e->creation == caller->creation)
        return e;
    if (n->stopping)
        return NULL;
    if (!R->asker_up) {
        if (otpc__spawn_sys(n, &asker_ops, NULL, &R->asker))
            return NULL;
        R->asker_up = 1;
    }
    if (e) { /* another incarnation of that node: its monitor, if any, will not match */
        take_pending(n, R, of_rel, e, 1, e->release);
        forget(R, e);
    }
    rel_t ne = {0};
    ne.node = caller->node;
    ne.creation = caller->creation;
    if (otpc__vec_push(&R->nodes, &ne, sizeof ne))
        return NULL;
    *fresh = 1;
    return (rel_t *)R->nodes.items + R->nodes.len - 1;
}

static struct otpc__rels *rels(otpc_node_t *n)
{
    otpc__otp_t *O = otpc__otp(n);
    if (!O->rels)
        O->rels = calloc(1, sizeof *O->rels);
    return O->rels;
}

/* The entry of a remote caller's node incarnation, the question sent if it is new;
 * NULL for a local caller (or on ENOMEM). */
static rel_t *caller_entry(otpc_proc_t *server, const otpc_pid_t *caller, struct otpc__rels **out)
{
    otpc_node_t *n = server->node;
    struct otpc__rels *R;
    int fresh = 0;
    if (otpc__pid_is_local(n, caller) || !(R = rels(n)))
        return NULL;
    rel_t *e = entry(n, R, caller, &fresh);
    if (fresh && otpc__send_local(n, &server->pid, &R->asker, ASK, sizeof ASK)) {
        e->release = -1; /* the asker cannot be told: never asked */
        e->asked = 1;
    }
    *out = R;
    return e;
}

int otpc__sys_state_reply(otpc_proc_t *server, const otpc__from_t *f, otpc_term_t reply,
                          size_t state_off)
{
    struct otpc__rels *R = NULL;
    rel_t *e = caller_entry(server, &f->pid, &R);
    pend_t *pd = NULL;
    if (e && !e->release && R->npending < PENDING_MAX)
        pd = malloc(sizeof *pd + f->tag.size + reply.size);
    if (!pd)
        return otpc__gen_reply(server, f,
                               form(e ? e->release : -1, reply.data, reply.size, state_off));
    pd->next = NULL;
    pd->node = e->node;
    pd->creation = e->creation;
    pd->server = server->pid;
    pd->caller = f->pid;
    pd->tag_len = (uint32_t)f->tag.size;
    pd->reply_len = (uint32_t)reply.size;
    pd->state_off = (uint32_t)state_off;
    memcpy(pd->data, f->tag.data, f->tag.size);
    memcpy(pd->data + f->tag.size, reply.data, reply.size);
    if (R->tail)
        R->tail->next = pd;
    else
        R->head = pd;
    R->tail = pd;
    R->npending++;
    return 0;
}

int otpc__caller_release(otpc_proc_t *server, const otpc_pid_t *caller)
{
    struct otpc__rels *R = NULL;
    if (otpc__pid_is_local(server->node, caller))
        return 0;
    rel_t *e = caller_entry(server, caller, &R);
    return e ? e->release : -1;
}

void otpc__sys_server_gone(otpc_proc_t *server)
{
    struct otpc__rels *R = otpc__otp(server->node)->rels;
    if (R && R->npending)
        take_pending(server->node, R, of_server, &server->pid, 1, -1);
}

void otpc__sys_release_free(struct otpc__rels *R)
{
    if (!R)
        return;
    for (pend_t *pd = R->head, *next; pd; pd = next) {
        next = pd->next;
        free(pd);
    }
    free(R->nodes.items);
    free(R);
}
