/*
 * The reaper of a supervisor stopped from outside (gen_server:stop, the node's
 * shutdown): the supervisor cannot wait for its children in a callback, so a small
 * process does. It monitors the children that have a shutdown time, kills any still
 * there when its time runs out, and exits once all are gone.
 *
 * Invariants: each child is killed at most once, and only while its monitor has not
 * fired; the reaper owns its list from init to terminate.
 */
#include <stdlib.h>

#include "otp/sup_int.h"

typedef struct {
    size_t n, left;
    struct reap {
        otpc_pid_t pid;
        otpc_ref_t mref;
        unsigned ms;
        int gone;
    } * v;
} reaper_t;

static int reaper_init(otpc_proc_t *self, void *arg)
{
    reaper_t *rp = arg;
    otpc_pid_t me = otpc_self(self);
    for (size_t k = 0; k < rp->n; k++) {
        ei_x_buff x;
        if (otpc_monitor(self, &rp->v[k].pid, &rp->v[k].mref) || ei_x_new_with_version(&x))
            return OTPC_ENOMEM;
        int rc = ei_x_encode_tuple_header(&x, 2) || ei_x_encode_atom(&x, "reap") ||
                 ei_x_encode_ulong(&x, (unsigned long)k) ||
                 otpc_send_after(self, rp->v[k].ms, &me, otpc_term_x(&x), NULL);
        ei_x_free(&x);
        if (rc)
            return OTPC_ENOMEM;
    }
    otpc_proc_set_data(self, rp);
    return 0;
}

static void reaper_handle(otpc_proc_t *self, otpc_term_t msg)
{
    static const char KILL[] = {
        (char)ERL_VERSION_MAGIC, ERL_SMALL_ATOM_UTF8_EXT, 4, 'k', 'i', 'l', 'l'};
    reaper_t *rp = otpc_proc_data(self);
    otpc_ref_t ref;
    unsigned long k;
    int i;
    if (otpc_term_is_tagged(msg, "reap", 2, &i) && ei_decode_ulong(msg.data, &i, &k) == 0 &&
        k < rp->n && !rp->v[k].gone)
        otpc_exit_signal(self, &rp->v[k].pid, OTPC__TERM(KILL));
    else if (otpc_term_is_tagged(msg, "DOWN", 5, &i) &&
             otpc_decode_ref(self, msg.data, &i, &ref) == 0)
        for (k = 0; k < rp->n; k++)
            if (!rp->v[k].gone && otpc_ref_eq(&rp->v[k].mref, &ref)) {
                rp->v[k].gone = 1;
                rp->left--;
            }
    if (rp->left == 0)
        otpc_exit(self, OTPC__TERM(otpc__t_normal));
}

static void reaper_terminate(otpc_proc_t *self, otpc_term_t reason)
{
    (void)reason;
    reaper_t *rp = otpc_proc_data(self);
    if (rp)
        free(rp->v);
    free(rp);
}

static const otpc_proc_ops_t reaper_ops = {.name = "supervisor_reaper",
                                           .init = reaper_init,
                                           .handle = reaper_handle,
                                           .terminate = reaper_terminate};

void otpc__sup_reaper(otpc_node_t *n, const otpc__reap_t *v, size_t len)
{
    reaper_t *rp = len ? calloc(1, sizeof *rp) : NULL;
    if (!rp || !(rp->v = calloc(len, sizeof *rp->v))) {
        free(rp);
        return; /* the children are on their own, as they would be without memory */
    }
    for (size_t k = 0; k < len; k++)
        rp->v[k] = (struct reap){v[k].pid, {0}, v[k].ms, 0};
    rp->n = rp->left = len;
    otpc_pid_t pid;
    if (otpc__spawn_sys(n, &reaper_ops, rp, &pid)) {
        free(rp->v);
        free(rp);
    }
}
