/* The module table and plug-ins; see modules.h. */
#include "otp/modules.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "otp/gen_server_int.h"
#include "util/log.h"

typedef struct otpc__so {
    void *dl;
    char *file;    /* the path it was loaded from */
    unsigned refs; /* versions from it not gone yet */
} so_t;

struct otpc__modver {
    const otpc_gen_server_t *mod;
    so_t *so;         /* NULL: built in */
    unsigned running; /* servers on this version */
    int retired;      /* neither current nor old: goes when running reaches 0 */
};

typedef struct {
    char *name;
    otpc__modver_t *cur, *old;
    const otpc_gen_server_t **past; /* every version's pointer, ever: see modules.h */
    uint32_t npast;
} module_t;

struct otpc__modtab {
    module_t *m;
    uint32_t n;
    unsigned seq; /* private copies made */
};

static struct otpc__modtab *tab(otpc_node_t *n)
{
    otpc__otp_t *O = otpc__otp(n);
    if (!O->modtab)
        O->modtab = calloc(1, sizeof *O->modtab);
    return O->modtab;
}

static module_t *find(otpc_node_t *n, const char *name)
{
    struct otpc__modtab *t = tab(n);
    for (uint32_t i = 0; t && i < t->n; i++)
        if (strcmp(t->m[i].name, name) == 0)
            return &t->m[i];
    return NULL;
}

const otpc_gen_server_t *otpc__module_find(otpc_node_t *n, const char *name)
{
    module_t *m = find(n, name);
    return m ? m->cur->mod : NULL;
}

static void so_drop(so_t *so)
{
    if (!so || --so->refs)
        return;
    OTPC__LOG_INFO("modules", "unloading %s", so->file);
    dlclose(so->dl);
    free(so->file);
    free(so);
}

/* The version is no longer current or old: it goes now, or with its last server. */
static void retire(otpc__modver_t *v)
{
    if (!v)
        return;
    v->retired = 1;
    if (v->running)
        return;
    so_drop(v->so);
    free(v);
}

static int remember(module_t *m, const otpc_gen_server_t *mod)
{
    const otpc_gen_server_t **p = realloc(m->past, (m->npast + 1) * sizeof *p);
    if (!p)
        return OTPC_ENOMEM;
    p[m->npast++] = mod;
    m->past = p;
    return 0;
}

/* A new entry for a module never seen; NULL on ENOMEM. */
static module_t *add(otpc_node_t *n, otpc__modver_t *v)
{
    struct otpc__modtab *t = tab(n);
    if (!t)
        return NULL;
    module_t *m = realloc(t->m, (t->n + 1) * sizeof *m);
    if (!m)
        return NULL;
    t->m = m;
    m = &t->m[t->n];
    memset(m, 0, sizeof *m);
    if (!(m->name = strdup(v->mod->name)) || remember(m, v->mod)) {
        free(m->name);
        return NULL;
    }
    m->cur = v;
    t->n++;
    return m;
}

int otpc_gen_server_register(otpc_node_t *node, const otpc_gen_server_t *mod)
{
    OTPC__ENTER(node);
    if (!mod || !mod->name)
        return OTPC_EINVAL;
    if (find(node, mod->name))
        return OTPC_ENAMETAKEN;
    otpc__modver_t *v = calloc(1, sizeof *v);
    if (!v)
        return OTPC_ENOMEM;
    v->mod = mod;
    if (!add(node, v)) {
        free(v);
        return OTPC_ENOMEM;
    }
    return 0;
}

/* ---- versions and servers ------------------------------------------------------------ */

const otpc_gen_server_t *otpc__module_current(otpc_node_t *n, const otpc_gen_server_t *mod,
                                              otpc__modver_t **ver)
{
    struct otpc__modtab *t = otpc__otp(n)->modtab;
    *ver = NULL;
    for (uint32_t i = 0; t && i < t->n; i++)
        for (uint32_t k = 0; k < t->m[i].npast; k++)
            if (t->m[i].past[k] == mod) {
                *ver = t->m[i].cur;
                return t->m[i].cur->mod;
            }
    return mod;
}

void otpc__modver_hold(otpc__modver_t *ver)
{
    if (ver)
        ver->running++;
}

void otpc__modver_drop(otpc_node_t *n, otpc__modver_t *ver)
{
    (void)n;
    if (!ver)
        return;
    OTPC__ASSERT(ver->running > 0);
    if (--ver->running == 0 && ver->retired)
        retire(ver);
}

otpc__modver_t *otpc__modver_newer(otpc_node_t *n, otpc__modver_t *ver)
{
    if (!ver)
        return NULL;
    module_t *m = find(n, ver->mod->name);
    return m && m->old == ver ? m->cur : NULL;
}

const otpc_gen_server_t *otpc__modver_mod(const otpc__modver_t *ver)
{
    return ver->mod;
}

/* ---- loading ----------------------------------------------------------------------- */

static int fail(otpc__load_err_t *e, const char *kind, int as, const char *detail)
{
    snprintf(e->kind, sizeof e->kind, "%s", kind);
    e->as = as;
    snprintf(e->detail, sizeof e->detail, "%s", detail ? detail : "");
    return OTPC_EINVAL;
}

static int fail_errno(otpc__load_err_t *e, int err)
{
    const char *kind = err == ENOENT ? "enoent" : err == EACCES ? "eacces" : "file";
    if (err == ENOENT || err == EACCES)
        return fail(e, kind, OTPC__LD_NONE, NULL);
    return fail(e, kind, OTPC__LD_STRING, strerror(err));
}

/* A private copy of the object (see modules.h): its path in out. 0 or an errno. */
static int private_copy(otpc_node_t *n, const char *path, char *out, size_t cap)
{
    int rc = 0, in = open(path, O_RDONLY | O_CLOEXEC), fd = -1;
    if (in < 0)
        return errno;
    const char *dir = getenv("TMPDIR");
    snprintf(out, cap, "%s/otpc-plugin-%d-%u.so", dir && *dir ? dir : "/tmp", (int)getpid(),
             ++tab(n)->seq);
    fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
    if (fd < 0) {
        rc = errno;
        goto out;
    }
    char buf[65536];
    ssize_t r;
    while ((r = read(in, buf, sizeof buf)) > 0)
        if (write(fd, buf, (size_t)r) != r) {
            rc = errno ? errno : EIO;
            goto out;
        }
    if (r < 0)
        rc = errno;
out:
    if (fd >= 0 && close(fd) && !rc)
        rc = errno;
    if (rc && fd >= 0)
        unlink(out);
    close(in);
    return rc;
}

/* Every module of the plug-in may be loaded: names valid and distinct, none built in,
 * none whose old version a server still runs. */
static int check(otpc_node_t *n, const otpc_plugin_t *pl, otpc__load_err_t *e)
{
    if (pl->abi != OTPC_PLUGIN_ABI) {
        snprintf(e->kind, sizeof e->kind, "abi");
        e->as = OTPC__LD_INT;
        snprintf(e->detail, sizeof e->detail, "%u", pl->abi);
        return OTPC_EINVAL;
    }
    if (!pl->nmodules || !pl->modules)
        return fail(e, "no_modules", OTPC__LD_NONE, NULL);
    for (uint32_t i = 0; i < pl->nmodules; i++) {
        const otpc_gen_server_t *mod = pl->modules[i];
        if (!mod || !mod->name || !*mod->name)
            return fail(e, "bad_module", OTPC__LD_NONE, NULL);
        for (uint32_t k = 0; k < i; k++)
            if (strcmp(pl->modules[k]->name, mod->name) == 0)
                return fail(e, "duplicate", OTPC__LD_ATOM, mod->name);
        module_t *m = find(n, mod->name);
        if (m && !m->cur->so)
            return fail(e, "builtin", OTPC__LD_ATOM, mod->name);
        if (m && m->old && m->old->running)
            return fail(e, "not_purged", OTPC__LD_ATOM, mod->name);
    }
    return 0;
}

/* Make the plug-in's modules current. 0 or OTPC_ENOMEM (nothing changed then). */
static int install(otpc_node_t *n, so_t *so, const otpc_plugin_t *pl)
{
    otpc__modver_t **v = calloc(pl->nmodules, sizeof *v);
    int rc = OTPC_ENOMEM;
    if (!v)
        return rc;
    for (uint32_t i = 0; i < pl->nmodules; i++) {
        if (!(v[i] = calloc(1, sizeof *v[i])))
            goto out;
        v[i]->mod = pl->modules[i];
        v[i]->so = so;
        module_t *m = find(n, pl->modules[i]->name);
        /* the growth that can fail comes before any change */
        if (m ? remember(m, v[i]->mod) : !add(n, v[i]))
            goto out;
        if (!m)
            v[i] = NULL; /* the new entry has it */
    }
    for (uint32_t i = 0; i < pl->nmodules; i++) {
        so->refs++;
        if (!v[i])
            continue;
        module_t *m = find(n, pl->modules[i]->name);
        retire(m->old); /* no server runs it: check() saw to that */
        m->old = m->cur;
        m->cur = v[i];
        v[i] = NULL;
        OTPC__LOG_INFO("modules", "%s: version %s from %s is current", m->name,
                       m->cur->mod->vsn ? m->cur->mod->vsn : "(none)", so->file);
    }
    rc = 0;
out:
    for (uint32_t i = 0; i < pl->nmodules; i++)
        free(v[i]);
    free(v);
    return rc;
}

int otpc__modules_load(otpc_node_t *n, const char *path, otpc__load_err_t *e, ei_x_buff *x)
{
    char copy[512];
    struct stat st;
    if (!tab(n))
        return OTPC_ENOMEM;
    if (stat(path, &st))
        return fail_errno(e, errno);
    if (!S_ISREG(st.st_mode))
        return fail(e, "not_a_file", OTPC__LD_NONE, NULL);
    int err = private_copy(n, path, copy, sizeof copy);
    if (err)
        return fail_errno(e, err);
    void *dl = dlopen(copy, RTLD_NOW | RTLD_LOCAL);
    unlink(copy); /* mapped now (or not at all): the name is no longer needed */
    if (!dl)
        return fail(e, "dlopen", OTPC__LD_STRING, dlerror());
    const otpc_plugin_t *pl = dlsym(dl, "otpc_plugin");
    int rc = pl ? check(n, pl, e) : fail(e, "not_a_plugin", OTPC__LD_NONE, NULL);
    so_t *so = rc ? NULL : calloc(1, sizeof *so);
    if (!rc && (!so || !(so->file = strdup(path)) || install(n, so, pl)))
        rc = OTPC_ENOMEM;
    if (rc) {
        if (so)
            free(so->file);
        free(so);
        dlclose(dl);
        return rc;
    }
    so->dl = dl;
    if (!x)
        return 0;
    for (uint32_t i = 0; i < pl->nmodules; i++)
        if (ei_x_encode_list_header(x, 1) || ei_x_encode_atom(x, pl->modules[i]->name))
            return OTPC_ENOMEM;
    return ei_x_encode_empty_list(x) ? OTPC_ENOMEM : 0;
}

/* ---- purging ----------------------------------------------------------------------- */

static const char KILLED[] = {ERL_SMALL_ATOM_UTF8_EXT, 6, 'k', 'i', 'l', 'l', 'e', 'd'};

int otpc__modules_purge(otpc_node_t *n, const char *name, int soft)
{
    module_t *m = find(n, name);
    if (!m || !m->old)
        return soft; /* code:purge says false, code:soft_purge true */
    otpc__modver_t *old = m->old;
    if (old->running && soft)
        return 0;
    /* code:purge kills what runs old code. One in a callback on another scheduler ends
     * when that callback returns; its hold keeps the code loaded until then. */
    for (uint32_t i = 0; old->running && i < n->nprocs_cap; i++) {
        otpc_proc_t *p = n->procs[i];
        if (p && !p->exiting && otpc__gs(p) && otpc__gs(p)->ver == old)
            otpc__proc_exit_now(p, KILLED, sizeof KILLED);
    }
    m->old = NULL;
    retire(old);
    return 1;
}

int otpc__modules_encode(otpc_node_t *n, ei_x_buff *x)
{
    struct otpc__modtab *t = tab(n);
    for (uint32_t i = 0; t && i < t->n; i++) {
        const module_t *m = &t->m[i];
        const char *vsn = m->cur->mod->vsn, *old = m->old ? m->old->mod->vsn : NULL;
        int err = ei_x_encode_list_header(x, 1) || ei_x_encode_map_header(x, 4) ||
                  ei_x_encode_atom(x, "module") || ei_x_encode_atom(x, m->name) ||
                  ei_x_encode_atom(x, "vsn") ||
                  (vsn ? ei_x_encode_binary(x, vsn, (long)strlen(vsn))
                       : ei_x_encode_atom(x, "undefined")) ||
                  ei_x_encode_atom(x, "file") ||
                  (m->cur->so ? ei_x_encode_string(x, m->cur->so->file)
                              : ei_x_encode_atom(x, "built_in")) ||
                  ei_x_encode_atom(x, "old") ||
                  (!m->old ? ei_x_encode_atom(x, "none")
                   : old   ? ei_x_encode_binary(x, old, (long)strlen(old))
                           : ei_x_encode_atom(x, "undefined"));
        if (err)
            return OTPC_ENOMEM;
    }
    return ei_x_encode_empty_list(x) ? OTPC_ENOMEM : 0;
}

void otpc__modules_free(otpc_node_t *n)
{
    otpc__otp_t *O = otpc__otp(n);
    struct otpc__modtab *t = O->modtab;
    if (!t)
        return;
    /* the servers are gone by now (the node's processes are freed first) */
    for (uint32_t i = 0; i < t->n; i++) {
        module_t *m = &t->m[i];
        if (m->old)
            m->old->running = 0;
        m->cur->running = 0;
        retire(m->old);
        retire(m->cur);
        free(m->past);
        free(m->name);
    }
    free(t->m);
    free(t);
    O->modtab = NULL;
}

int otpc_node_load(otpc_node_t *node, const char *path, char *err, size_t errcap)
{
    OTPC__ENTER(node);
    otpc__load_err_t e = {0};
    int rc = otpc__modules_load(node, path, &e, NULL);
    if (rc == OTPC_EINVAL && err && errcap)
        snprintf(err, errcap, "%s%s%s", e.kind, e.as != OTPC__LD_NONE ? ": " : "", e.detail);
    else if (rc && err && errcap)
        snprintf(err, errcap, "%s", otpc_strerror(rc));
    return rc;
}
