/*
 * The distribution layer's life on a node: its state, the I/O thread's start and
 * stop, and the events the I/O thread posts (connections up, down, failed, drained;
 * registration done or impossible), dispatched to the peers on the scheduler thread.
 * What the node does once registered, or when registration fails, is its own affair:
 * it passes those two callbacks in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distribution/dist_int.h"
#include "distribution/dsig.h"
#include "distribution/dstats.h"
#include "util/log.h"

otpc__ext_key_t otpc__dist_key;

static void dist_free(otpc_node_t *n, void *state)
{
    otpc__dist_t *d = state;
    otpc__peers_free(n);
    otpc__dstats_free(n);
    free(d);
}

int otpc__dist_init(otpc_node_t *n)
{
    otpc__dist_t *d = calloc(1, sizeof *d);
    if (!d)
        return OTPC_ENOMEM;
    int rc = otpc__ext_add(n, &otpc__dist_key, d, dist_free);
    if (rc) {
        free(d);
        return rc;
    }
    n->remote = &otpc__dsig_remote;
    otpc__dsig_install(n);
    return 0;
}

static void tls_conf(otpc__tls_conf_t *c, const otpc_tls_opts_t *o, int client)
{
    *c = (otpc__tls_conf_t){.certfile = o->certfile,
                            .keyfile = o->keyfile,
                            .cacertfile = o->cacertfile,
                            .verify_peer = o->verify_peer,
                            .fail_if_no_peer_cert = o->fail_if_no_peer_cert,
                            .client = client,
                            .versions = o->versions};
}

int otpc__dist_uses_tls(const otpc_node_t *n)
{
    return n->opts.tls_dist;
}

int otpc__dist_reload_tls(otpc_node_t *n, char *err, size_t cap)
{
    otpc__dist_t *d = otpc__dist(n);
    if (!d->io) {
        snprintf(err, cap, "the node is not running");
        return OTPC_EINVAL;
    }
    return otpc__io_reload_tls(d->io, err, cap);
}

int otpc__dist_start(otpc_node_t *n, otpc__dist_ready_fn ready, otpc__dist_fatal_fn fatal)
{
    otpc__dist_t *d = otpc__dist(n);
    d->ready = ready;
    d->fatal = fatal;
    if (otpc__mq_init(&d->events, &n->wake))
        return OTPC_ENOMEM;
    /* packets (and their -max_message bound) are the scheduler's: peer_read.c */
    otpc__io_cfg_t cfg = {.node_name = n->name,
                          .alive = n->alive,
                          .cookie = n->cookie,
                          .published = n->opts.published,
                          .no_atom_cache = n->opts.no_atom_cache,
                          .ticktime_ms = n->opts.net_ticktime * 1000u,
                          .port = n->opts.listen_port,
                          .max_handshakes = n->opts.max_handshakes,
                          .busy_limit = n->opts.busy_limit,
                          .events = &d->events,
                          .inet6 = n->opts.inet6,
                          .erl_epmd_port = n->opts.erl_epmd_port,
                          .start_epmd = !n->opts.no_start_epmd,
                          .no_epmd = n->opts.no_epmd,
                          .epmd_port = n->opts.epmd_port,
                          .dist_ip = n->opts.dist_ip};
    if (n->opts.tls_dist) {
        tls_conf(&d->tls_server, &n->opts.tls_server, 0);
        tls_conf(&d->tls_client, &n->opts.tls_client, 1);
        cfg.tls_server = &d->tls_server;
        cfg.tls_client = &d->tls_client;
    }
    int rc = otpc__io_start(&d->io, &cfg);
    if (rc)
        otpc__mq_destroy(&d->events);
    return rc;
}

void otpc__dist_events(otpc_node_t *n)
{
    otpc__dist_t *d = otpc__dist(n);
    const otpc__rec_t *r;
    const char *data;
    otpc__mq_take(&d->events);
    while ((r = otpc__mq_next(&d->events, &data)) != NULL) {
        switch (r->type) {
        case OTPC__EV_UP:
            otpc__peer_up(n, r->ptr, r->arg, data, r->len);
            break;
        case OTPC__EV_DOWN:
            otpc__peer_down(n, r->ptr, data);
            break;
        case OTPC__EV_FAILED:
            otpc__peer_failed(n, data, data + strlen(data) + 1);
            break;
        case OTPC__EV_DRAINED:
            otpc__peer_drained(n, r->ptr);
            break;
        case OTPC__EV_READY:
            d->ready(n, (uint32_t)r->arg);
            break;
        case OTPC__EV_FATAL:
            d->fatal(n, data, r->len);
            break;
        }
    }
}

void otpc__dist_stop(otpc_node_t *n)
{
    otpc__peers_stop_reading(n); /* before OTPC__CMD_STOP: the I/O thread then closes the fds */
    otpc__dist_t *d = otpc__dist(n);
    if (d->emit_idle_init) /* no more turns for streams: n->stopping is set */
        uv_close((uv_handle_t *)&d->emit_idle, NULL);
    otpc__io_command(otpc__dist(n)->io, OTPC__CMD_STOP, NULL, NULL, 0);
}

/* After the I/O thread has ended: give back the references its last events carried.
 * Every connection is closed by now, so an OTPC__EV_UP here is always followed by its OTPC__EV_DOWN,
 * which drops the reference OTPC__EV_UP gave (releasing it at OTPC__EV_UP would leave OTPC__EV_DOWN with
 * a freed connection). */
void otpc__dist_join(otpc_node_t *n)
{
    otpc__dist_t *d = otpc__dist(n);
    const otpc__rec_t *r;
    const char *data;
    otpc__io_join(d->io);
    d->io = NULL;
    otpc__mq_take(&d->events);
    while ((r = otpc__mq_next(&d->events, &data)) != NULL)
        if (r->type == OTPC__EV_DOWN)
            otpc__peer_down(n, r->ptr, data);
    otpc__peers_free(n);
    otpc__mq_destroy(&d->events);
}
