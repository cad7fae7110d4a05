/*
 * Encoding and decoding of pids, refs and atoms for otpc's own interned forms.
 * Pids and refs are written directly in their external format (NEW_PID_EXT,
 * NEWER_REFERENCE_EXT with a SMALL_ATOM_UTF8_EXT node) rather than through ei's
 * erlang_pid, which would mean a 1 KiB struct and a string copy per pid.
 */
#include <string.h>

#include "proto/term.h"
#include "core/node_int.h"

const char otpc__t_normal[9] = OTPC__VATOM(6, 'n', 'o', 'r', 'm', 'a', 'l');
const char otpc__t_shutdown[11] = OTPC__VATOM(8, 's', 'h', 'u', 't', 'd', 'o', 'w', 'n');

int otpc__x_raw(ei_x_buff *x, const char *data, size_t len)
{
    return ei_x_append_buf(x, data, (int)len) ? OTPC_ENOMEM : 0;
}

static int put_atom(ei_x_buff *x, const char *s)
{
    size_t n = strlen(s);
    char hdr[3];
    if (n < 256) {
        hdr[0] = ERL_SMALL_ATOM_UTF8_EXT;
        hdr[1] = (char)n;
        return otpc__x_raw(x, hdr, 2) ? OTPC_ENOMEM : otpc__x_raw(x, s, n);
    }
    hdr[0] = ERL_ATOM_UTF8_EXT;
    otpc__put_u16(hdr + 1, (uint16_t)n);
    return otpc__x_raw(x, hdr, 3) ? OTPC_ENOMEM : otpc__x_raw(x, s, n);
}

int otpc__x_atom_id(otpc_node_t *n, ei_x_buff *x, uint32_t atom)
{
    return put_atom(x, otpc__atom_name(&n->atoms, atom));
}

int otpc__x_pid(otpc_node_t *n, ei_x_buff *x, const otpc_pid_t *pid)
{
    char tail[12];
    if (otpc__x_raw(x, "X", 1) || otpc__x_atom_id(n, x, pid->node))
        return OTPC_ENOMEM;
    otpc__put_u32(tail, pid->num);
    otpc__put_u32(tail + 4, pid->serial);
    otpc__put_u32(tail + 8, pid->creation);
    return otpc__x_raw(x, tail, 12);
}

int otpc__x_ref(otpc_node_t *n, ei_x_buff *x, const otpc_ref_t *ref)
{
    char b[4 + 20];
    b[0] = ERL_NEWER_REFERENCE_EXT;
    otpc__put_u16(b + 1, (uint16_t)ref->len);
    if (otpc__x_raw(x, b, 3) || otpc__x_atom_id(n, x, ref->node))
        return OTPC_ENOMEM;
    otpc__put_u32(b, ref->creation);
    for (uint32_t i = 0; i < ref->len; i++)
        otpc__put_u32(b + 4 + 4 * i, ref->n[i]);
    return otpc__x_raw(x, b, 4 + 4 * ref->len);
}

int otpc__x_proc_obj(otpc_node_t *n, ei_x_buff *x, const otpc_pid_t *pid, uint32_t name,
                     uint32_t name_node)
{
    if (!name)
        return otpc__x_pid(n, x, pid);
    if (ei_x_encode_tuple_header(x, 2) || otpc__x_atom_id(n, x, name) ||
        otpc__x_atom_id(n, x, name_node))
        return OTPC_ENOMEM;
    return 0;
}

otpc_pid_t otpc__pid_from_ei(otpc_node_t *n, const erlang_pid *e)
{
    otpc_pid_t p;
    p.node = otpc__atom(&n->atoms, e->node, strlen(e->node));
    p.num = e->num;
    p.serial = e->serial;
    p.creation = e->creation;
    return p;
}

int otpc__pid_known(otpc_node_t *n, const erlang_pid *e, otpc_pid_t *out)
{
    uint32_t a = otpc__atom_find(&n->atoms, e->node, strlen(e->node));
    *out = (otpc_pid_t){.node = a, .num = e->num, .serial = e->serial, .creation = e->creation};
    return a != 0;
}

int otpc__ref_known(otpc_node_t *n, const erlang_ref *e, otpc_ref_t *out)
{
    /* a known name is found, not added, by otpc__atom */
    return otpc__atom_find(&n->atoms, e->node, strlen(e->node)) &&
           otpc__ref_from_ei(n, e, out) == 0;
}

int otpc__ref_from_ei(otpc_node_t *n, const erlang_ref *e, otpc_ref_t *out)
{
    memset(out, 0, sizeof *out);
    out->node = otpc__atom(&n->atoms, e->node, strlen(e->node));
    out->creation = e->creation;
    out->len = e->len < 0 ? 0 : (uint32_t)(e->len > 5 ? 5 : e->len);
    for (uint32_t i = 0; i < out->len; i++)
        out->n[i] = e->n[i];
    return out->node ? 0 : OTPC_ENOMEM;
}

int otpc_ref_eq(const otpc_ref_t *a, const otpc_ref_t *b)
{
    if (a->node != b->node || a->creation != b->creation || a->len != b->len)
        return 0;
    return memcmp(a->n, b->n, a->len * sizeof a->n[0]) == 0;
}

/* ---- public helpers -------------------------------------------------------------- */

int otpc_x_encode_pid(otpc_proc_t *self, ei_x_buff *x, const otpc_pid_t *pid)
{
    OTPC__ENTER(self->node);
    return otpc__x_pid(self->node, x, pid);
}

int otpc_x_encode_ref(otpc_proc_t *self, ei_x_buff *x, const otpc_ref_t *ref)
{
    OTPC__ENTER(self->node);
    return otpc__x_ref(self->node, x, ref);
}

int otpc_decode_pid(otpc_proc_t *self, const char *buf, int *index, otpc_pid_t *out)
{
    erlang_pid e;
    if (ei_decode_pid(buf, index, &e))
        return OTPC_EBADARG;
    /* the node's name is looked up holding the process's domain; a name never seen
     * is interned holding all */
    otpc_node_t *n = self->node;
    OTPC__ENTER_DOM(n, self->home);
    if (otpc__pid_known(n, &e, out))
        return 0;
    OTPC__ENTER(n);
    *out = otpc__pid_from_ei(n, &e);
    return out->node ? 0 : OTPC_ENOMEM;
}

int otpc_decode_ref(otpc_proc_t *self, const char *buf, int *index, otpc_ref_t *out)
{
    erlang_ref e;
    if (ei_decode_ref(buf, index, &e))
        return OTPC_EBADARG;
    otpc_node_t *n = self->node;
    OTPC__ENTER_DOM(n, self->home);
    if (otpc__ref_known(n, &e, out))
        return 0;
    OTPC__ENTER(n); /* a node never seen: its name is interned holding all */
    return otpc__ref_from_ei(n, &e, out);
}

int otpc_skip_term(otpc_term_t t, int *index)
{
    size_t used;
    if (*index < 0 || (size_t)*index > t.size ||
        otpc__term_skip(t.data + *index, t.size - (size_t)*index, &used))
        return OTPC_EBADARG;
    *index += (int)used;
    return 0;
}

int otpc_decode_atom_is(const char *buf, int *index, const char *atom)
{
    char a[MAXATOMLEN_UTF8];
    size_t len;
    int i = *index;
    if (otpc__decode_atom(buf, &i, a, &len) || len != strlen(atom) || memcmp(a, atom, len) != 0)
        return 0;
    *index = i;
    return 1;
}

/* ---- request helpers (otpc.h) ------------------------------------------------------------------------ */

int otpc_term_is_atom(otpc_term_t t, const char *atom)
{
    int i = 1;
    return t.size > 1 && otpc_decode_atom_is(t.data, &i, atom) && (size_t)i == t.size;
}

int otpc_term_is_tagged(otpc_term_t t, const char *tag, int arity, int *index)
{
    int i = 0, n;
    if (ei_decode_version(t.data, &i, NULL) || ei_decode_tuple_header(t.data, &i, &n) ||
        n != arity || !otpc_decode_atom_is(t.data, &i, tag))
        return 0;
    *index = i;
    return 1;
}

int otpc_x_append_subterm(ei_x_buff *x, otpc_term_t t, int *index)
{
    int start = *index;
    if (otpc_skip_term(t, index))
        return OTPC_EBADARG;
    return ei_x_append_buf(x, t.data + start, *index - start) ? OTPC_ENOMEM : 0;
}

int otpc_x_append_term(ei_x_buff *x, otpc_term_t t)
{
    if (t.size < 1)
        return OTPC_EBADARG;
    return ei_x_append_buf(x, t.data + 1, (int)t.size - 1) ? OTPC_ENOMEM : 0;
}
