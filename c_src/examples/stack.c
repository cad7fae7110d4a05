/*
 * stack: the stack server of Elixir's GenServer documentation, in C.
 *   init("hello,world")   the comma-separated elements, as binaries (the argument may be
 *                         an Erlang string or a binary)
 *   pop (call)            answers the top element; on an empty stack the server stops
 *                         with {badmatch, []}, as `[head | tail] = []` would crash
 *   {push, Elem} (cast)   pushes Elem (any term)
 * Elements are kept as encoded terms, so pop answers exactly what was pushed.
 */
#include <stdlib.h>
#include <string.h>

#include "examples/examples.h"

typedef struct {
    char *bytes; /* one encoded term, no version byte */
    size_t len;
} elem_t;

typedef struct {
    elem_t *items; /* items[n - 1] is the top */
    size_t n, cap;
} stk_t;

static int push(stk_t *s, const char *bytes, size_t len)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        elem_t *v = realloc(s->items, cap * sizeof *v);
        if (!v)
            return -1;
        s->items = v;
        s->cap = cap;
    }
    char *b = malloc(len ? len : 1);
    if (!b)
        return -1;
    memcpy(b, bytes, len);
    s->items[s->n++] = (elem_t){b, len};
    return 0;
}

static int push_binary(stk_t *s, const char *text, size_t len)
{
    ei_x_buff x;
    int rc = -1;
    if (ei_x_new(&x) == 0 && ei_x_encode_binary(&x, text, (long)len) == 0)
        rc = push(s, x.buff, (size_t)x.index);
    ei_x_free(&x);
    return rc;
}

/* The argument as UTF-8 text: a binary, a latin-1 string, or a list of code points. */
static int arg_text(otpc_term_t arg, char **out, size_t *len)
{
    int i = 1, type, size;
    if (ei_get_type(arg.data, &i, &type, &size))
        return -1;
    char *t = malloc((size_t)size * 4 + 1);
    if (!t)
        return -1;
    long blen;
    if (type == ERL_BINARY_EXT && ei_decode_binary(arg.data, &i, t, &blen) == 0) {
        *len = (size_t)blen;
    } else if (type == ERL_STRING_EXT && ei_decode_string(arg.data, &i, t) == 0) {
        *len = strlen(t);
    } else if (type == ERL_NIL_EXT) {
        *len = 0;
    } else if (type == ERL_LIST_EXT && ei_decode_list_header(arg.data, &i, &size) == 0) {
        size_t k = 0;
        for (int e = 0; e < size; e++) {
            long cp;
            if (ei_decode_long(arg.data, &i, &cp) || cp < 0 || cp > 0x10ffff)
                goto bad;
            if (cp < 0x80) {
                t[k++] = (char)cp;
            } else if (cp < 0x800) {
                t[k++] = (char)(0xc0 | (cp >> 6));
                t[k++] = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                t[k++] = (char)(0xe0 | (cp >> 12));
                t[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                t[k++] = (char)(0x80 | (cp & 0x3f));
            } else {
                t[k++] = (char)(0xf0 | (cp >> 18));
                t[k++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                t[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                t[k++] = (char)(0x80 | (cp & 0x3f));
            }
        }
        *len = k;
    } else {
        goto bad;
    }
    *out = t;
    return 0;
bad:
    free(t);
    return -1;
}

static otpc_action_t stack_init(otpc_proc_t *self, otpc_term_t arg, otpc_ret_t *r)
{
    char *text = NULL;
    size_t len;
    if (arg_text(arg, &text, &len))
        return otpc_stop_atom(r, "badarg");
    stk_t *s = calloc(1, sizeof *s);
    if (!s) {
        free(text);
        return otpc_stop_atom(r, "enomem");
    }
    otpc_proc_set_data(self, s);
    /* "hello,world" -> pop gives "hello" first: push from the last element back */
    size_t end = len;
    for (size_t k = len + 1; len && k-- > 0;) {
        if (k == 0 || text[k - 1] == ',') {
            if (push_binary(s, text + k, end - k)) {
                free(text);
                return otpc_stop_atom(r, "enomem");
            }
            end = k ? k - 1 : 0;
        }
    }
    free(text);
    return OTPC_OK;
}

static otpc_action_t stack_call(otpc_proc_t *self, otpc_term_t req, otpc_from_t *from,
                                otpc_ret_t *r)
{
    (void)from;
    stk_t *s = otpc_proc_data(self);
    if (!otpc_match(req, "pop"))
        return otpc_reply_atom(r, "unknown_call");
    if (s->n == 0)
        return otpc_stop_format(r, "{badmatch, []}");
    /* out of memory stops the server (see otpc.h): what is left of the stack is moot */
    elem_t *top = &s->items[--s->n];
    otpc_action_t a = otpc_reply_format(r, "~t", (otpc_term_t){top->bytes, top->len});
    free(top->bytes);
    return a;
}

static otpc_action_t stack_cast(otpc_proc_t *self, otpc_term_t req, otpc_ret_t *r)
{
    otpc_term_t elem;
    if (otpc_match(req, "{push, ~t}", &elem) && push(otpc_proc_data(self), elem.data, elem.size))
        return otpc_stop_atom(r, "enomem");
    return OTPC_NOREPLY;
}

static int stack_format_status(otpc_proc_t *self, ei_x_buff *x)
{
    stk_t *s = otpc_proc_data(self);
    if (s->n && ei_x_encode_list_header(x, (long)s->n))
        return -1;
    for (size_t k = s->n; k-- > 0;)
        if (ei_x_append_buf(x, s->items[k].bytes, (int)s->items[k].len))
            return -1;
    return ei_x_encode_empty_list(x);
}

static void stack_release(otpc_proc_t *self)
{
    stk_t *s = otpc_proc_data(self);
    if (!s)
        return;
    for (size_t k = 0; k < s->n; k++)
        free(s->items[k].bytes);
    free(s->items);
    free(s);
}

const otpc_gen_server_t otpc_example_stack = {
    .name = "stack",
    .init = stack_init,
    .handle_call = stack_call,
    .handle_cast = stack_cast,
    .format_status = stack_format_status,
    .release = stack_release,
};
