/*
 * `net_kernel`: the calls other nodes' kernels and shells make to a node's net_kernel,
 * answered as OTP's net_kernel answers them (kernel/src/net_kernel.erl), from a table.
 * A call it does not know gets no answer, exactly as from OTP's net_kernel (its
 * catch-all clause is {noreply, State}); it is logged at debug level.
 */
#include <string.h>

#include "core/node_int.h"
#include "otp/gen_server_int.h"
#include "services/services.h"
#include "util/log.h"

typedef struct {
    const char *tag; /* the request's atom, or its first element's */
    int arity;       /* 0: the request is the bare atom; else the tuple's arity */
    /* Encode the reply into x (versioned); 0, or no reply when nonzero. */
    int (*answer)(otpc_proc_t *self, ei_x_buff *x);
} nk_call_t;

/* {is_auth, Node}: the call came through a connection, so the peer passed the cookie
 * check (net_adm:ping/1 is this call). */
static int is_auth(otpc_proc_t *self, ei_x_buff *x)
{
    (void)self;
    return ei_x_encode_atom(x, "yes");
}

static int nodename(otpc_proc_t *self, ei_x_buff *x)
{
    return ei_x_encode_atom(x, otpc_proc_node(self)->name);
}

static int longnames(otpc_proc_t *self, ei_x_buff *x)
{
    return ei_x_encode_boolean(x, otpc_proc_node(self)->opts.longnames);
}

static int ticktime(otpc_proc_t *self, ei_x_buff *x)
{
    return ei_x_encode_ulong(x, otpc_proc_node(self)->opts.net_ticktime);
}

/* {apply, M, F, A}: OTP answers not_implemented (to local callers; a remote one is
 * ignored, which a C node cannot tell apart usefully). */
static int not_implemented(otpc_proc_t *self, ei_x_buff *x)
{
    (void)self;
    return ei_x_encode_atom(x, "not_implemented");
}

static const nk_call_t calls[] = {
    {"is_auth", 2, is_auth},   {"nodename", 0, nodename},     {"longnames", 0, longnames},
    {"ticktime", 0, ticktime}, {"apply", 4, not_implemented},
};

static const nk_call_t *find(otpc_term_t req)
{
    int i;
    for (size_t k = 0; k < sizeof calls / sizeof *calls; k++) {
        const nk_call_t *c = &calls[k];
        if (c->arity ? otpc_term_is_tagged(req, c->tag, c->arity, &i)
                     : otpc_term_is_atom(req, c->tag))
            return c;
    }
    return NULL;
}

static void net_kernel_handle(otpc_proc_t *self, otpc_term_t msg)
{
    otpc__from_t from;
    int i;
    if (!otpc__decode_call(self, msg, &from, &i))
        return;
    char saved;
    otpc_term_t req = otpc__view_begin(msg, i, &saved);
    const nk_call_t *c = find(req);
    otpc__view_end(msg, i, saved);
    if (!c) {
        OTPC__LOG_DEBUG("net_kernel", "no answer to an unknown call, as OTP's net_kernel");
        return;
    }
    ei_x_buff x;
    if (ei_x_new_with_version(&x))
        return;
    if (c->answer(self, &x) == 0)
        otpc__gen_reply(self, &from, otpc_term_x(&x));
    ei_x_free(&x);
}

static const otpc_proc_ops_t net_kernel_ops = {.name = "net_kernel", .handle = net_kernel_handle};

int otpc__net_kernel_start(otpc_node_t *n, void *arg)
{
    (void)arg;
    otpc_pid_t pid;
    int rc = otpc__spawn_sys(n, &net_kernel_ops, NULL, &pid);
    return rc ? rc : otpc_register_pid(n, "net_kernel", &pid);
}
