/*
 * Outgoing distribution signals: the one module that encodes control messages (as
 * ERTS's erts_dsig_send_* functions do). Each function builds one control message for
 * the node of its destination and queues it on that peer (distribution/peer.c), which
 * connects on demand and applies the busy limit.
 *
 * Forms: until a connection is up its flags are unknown, so frames must be valid for
 * any peer: SEND without a sender, EXIT/EXIT2 with the reason in the control tuple.
 * Where the peer's flags matter they are consulted: a gen reply goes to the caller's
 * alias as ALTACT_SIG_SEND to a peer that announced DFLAG_ALTACT_SIG (OTP 28+), as
 * ALIAS_SEND to one that announced only DFLAG_ALIAS (OTP 24-27); MONITOR_P, DEMONITOR_P
 * and MONITOR_P_EXIT go only to a peer that announced DIST_MONITOR and
 * DIST_MONITOR_NAME (to any other they are dropped, as ERTS drops them: see dsig.c).
 * Every message queued is counted per peer and op (dstats.h).
 *
 * Terms are borrowed for the call; `msg` of a send is versioned, reasons and objects
 * are unversioned. Every function returns 0 or an OTPC_E* code (ENOMEM when an
 * encoding failed: nothing is queued then).
 */
#ifndef OTPC_DISTRIBUTION_DSIG_H
#define OTPC_DISTRIBUTION_DSIG_H

#include "core/node_int.h"

/* The table core sends remote signals through (otpc_node_t.remote). */
extern const otpc__remote_t otpc__dsig_remote;

int otpc__dsig_send(otpc_node_t *n, const otpc_pid_t *from, const otpc_pid_t *to, const char *msg,
                    size_t len);
int otpc__dsig_reg_send(otpc_node_t *n, const otpc_pid_t *from, uint32_t node, const char *name,
                        const char *msg, size_t len);
int otpc__dsig_link(otpc_node_t *n, const otpc_pid_t *from, const otpc_pid_t *to);
int otpc__dsig_unlink_id(otpc_node_t *n, uint64_t id, const otpc_pid_t *from, const otpc_pid_t *to,
                         int ack);
int otpc__dsig_exit(otpc_node_t *n, const otpc_pid_t *from, const otpc_pid_t *to,
                    const char *reason, size_t len, int via_link);
int otpc__dsig_monitor(otpc_node_t *n, const otpc_pid_t *watcher, const otpc__mon_t *m,
                       int demonitor);
int otpc__dsig_spawn_reply(otpc_node_t *n, const otpc_ref_t *req, const otpc_pid_t *to, int flags,
                           const otpc_pid_t *pid, const char *error);
int otpc__dsig_monitor_exit(otpc_node_t *n, const otpc__mobj_t *obj, const otpc_pid_t *watcher,
                            const otpc_ref_t *ref, const char *reason, size_t len);
/* A connection is up with `flags`: drop from the frames queued for it before the
 * handshake (`queued`, whole frames) the monitor control messages it may not get. */
void otpc__dsig_peer_up(uint64_t flags, otpc__buf_t *queued);
/* otpc__dsig_reply from any domain: at once when the caller's connection is read here
 * (or every lock is held), else through the inbox of the domain that reads it, else
 * taking every lock. */
int otpc__dsig_reply_any(otpc_node_t *n, const otpc_pid_t *server, const otpc_pid_t *caller,
                         const otpc_ref_t *alias, const char *prefix, size_t plen, const char *body,
                         size_t blen);
/* At the layer's start: the inbox applies replies queued for peers (n->inbox_upper). */
void otpc__dsig_install(otpc_node_t *n);
/* Whether this thread may queue a message of `len` bytes for `node` holding only the
 * domain's lock it holds (else it must take all): the connection is up, read by this
 * domain, and the message goes whole, behind no stream. */
int otpc__dsig_here(otpc_node_t *n, uint32_t node, size_t len);
/* {Tag, Reply} to a remote caller from `server`: to the call's alias when the tag is
 * [alias | Ref] and the caller's node takes alias messages (a late reply is then
 * dropped by ERTS): ALTACT_SIG_SEND {37, ALIAS, Server, Alias} if it has ALTACT_SIG,
 * else ALIAS_SEND if it has ALIAS; otherwise SEND to the caller's pid. `prefix` is
 * "{Tag, " (versioned),
 * `body` the reply's unversioned bytes; each is copied once, into the frame. */
int otpc__dsig_reply(otpc_node_t *n, const otpc_pid_t *server, const otpc_pid_t *caller,
                     const otpc_ref_t *alias, const char *prefix, size_t plen, const char *body,
                     size_t blen);

#endif
