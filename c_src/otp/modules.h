/*
 * The module table: gen_server modules startable by name (otpc:start/4, supervisors,
 * daemons), built in or loaded from plug-ins, with OTP's two versions per module.
 *
 * A plug-in is a shared object that lists its modules with OTPC_MODULES (otpc.h). It is
 * copied to a private file before dlopen(), so a rebuilt plug-in at the same path is new
 * code (the dynamic loader would hand back the copy it has), and the copy is unlinked at
 * once. Loading makes its modules current; the version they replace becomes old, and
 * servers running it keep it until sys:change_code moves them to the current one.
 *
 * Invariants: at most a current and an old version per module; a load that would need
 * a third while a server still runs the old one is refused whole (not_purged), as is a
 * load naming a built-in module; a version's code stays mapped while any server runs it
 * or it is current or old, and dlclose() comes only when no version from that object
 * is left; a module pointer that was ever a version of a name keeps resolving to that
 * name's current version, so a supervisor or daemon holding an old pointer starts the
 * current code (as Erlang calls the current module) and never touches unmapped memory.
 */
#ifndef OTPC_OTP_MODULES_H
#define OTPC_OTP_MODULES_H

#include "core/node_int.h"

typedef struct otpc__modver otpc__modver_t;

/* Why a load failed: {error, Kind} or {error, {Kind, Detail}}. */
typedef struct {
    char kind[24];    /* enoent, eacces, dlopen, not_a_plugin, abi, builtin, not_purged, ... */
    char detail[256]; /* an atom (module), a string (dlerror) or a number (abi), per `as` */
    enum { OTPC__LD_NONE, OTPC__LD_ATOM, OTPC__LD_STRING, OTPC__LD_INT } as;
} otpc__load_err_t;

/* Load the plug-in at path. 0 with the list of its module names encoded in x (if not
 * NULL), OTPC_EINVAL with e filled, or OTPC_ENOMEM. */
int otpc__modules_load(otpc_node_t *n, const char *path, otpc__load_err_t *e, ei_x_buff *x);

/* code:purge/1: servers on the old version are killed, the old version goes; 1 if there
 * was one. code:soft_purge/1: the old version goes only if no server runs it; 0 if one
 * does, else 1. */
int otpc__modules_purge(otpc_node_t *n, const char *name, int soft);

/* The table as Erlang sees it: [#{module, vsn, file, old_vsn}] appended to x. 0 or
 * OTPC_ENOMEM. */
int otpc__modules_encode(otpc_node_t *n, ei_x_buff *x);

/* The current version of whatever mod is a version of (mod itself if it is no table
 * module's), and its table record (NULL for a module outside the table). */
const otpc_gen_server_t *otpc__module_current(otpc_node_t *n, const otpc_gen_server_t *mod,
                                              otpc__modver_t **ver);
/* A server starts / stops running a version (ver may be NULL). */
void otpc__modver_hold(otpc__modver_t *ver);
void otpc__modver_drop(otpc_node_t *n, otpc__modver_t *ver);
/* sys:change_code for a server on ver: the version it should move to (NULL: none newer). */
otpc__modver_t *otpc__modver_newer(otpc_node_t *n, otpc__modver_t *ver);
const otpc_gen_server_t *otpc__modver_mod(const otpc__modver_t *ver);

/* At node_free: every version, every object. */
void otpc__modules_free(otpc_node_t *n);

#endif
