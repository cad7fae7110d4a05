/*
 * Blocking work off the scheduler: otpc_async and otpc_async_reply run a function on a
 * pool of threads of the node's own (files, a blocking C library, a long computation
 * that must not stall every other process), and bring its result back to the process
 * as a message, or to a caller as its reply.
 *
 * The pool is started at the first job (-async_threads threads, 4 by default) and
 * joined at otpc_node_free, after every queued job ran. Results travel back through
 * the otp layer's `replies` queue, the one otpc_reply_async uses: a message result is
 * built whole on the worker (the reference's bytes were encoded on the scheduler when
 * the job was queued) and delivered by the scheduler in its next turn.
 *
 * Invariants: a job's function runs exactly once, on a pool thread, never on the
 * scheduler; the scheduler never waits for the pool while the node runs; a result
 * whose node stopped is dropped, as a reply to a stopped node is.
 */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/node_int.h"
#include "otp/gen_server_int.h"

#define DEFAULT_THREADS 4
#define MAX_THREADS 1024

typedef struct job {
    struct job *next;
    otpc_work_fn fn;
    void *arg;
    otpc_node_t *n;
    otpc_pid_t to;              /* message result: the process that asked */
    otpc_reply_token_t *caller; /* reply result: the caller; NULL for a message */
    char ref[64];               /* the reference, encoded (no version) */
    int ref_len;
} job_t;

struct otpc__async {
    uv_mutex_t lock;
    uv_cond_t more;
    job_t *head, *tail;
    int stopping;
    unsigned nthreads;
    uv_thread_t *threads;
};

/* {error, Code}, without version. */
static int encode_error(ei_x_buff *x, int code)
{
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
           ei_x_encode_long(x, code);
}

/* The message {otpc_async, Ref, {ok, Result} | {error, Code}} to the process that
 * asked, from the worker; the scheduler delivers it. */
static void post_message(job_t *j, int rc, const ei_x_buff *res)
{
    ei_x_buff m;
    if (ei_x_new_with_version(&m))
        return;
    int bad = ei_x_encode_tuple_header(&m, 3) || ei_x_encode_atom(&m, "otpc_async") ||
              ei_x_append_buf(&m, j->ref, j->ref_len);
    if (!bad && rc)
        bad = encode_error(&m, rc);
    else if (!bad)
        bad = ei_x_encode_tuple_header(&m, 2) || ei_x_encode_atom(&m, "ok") ||
              ei_x_append_buf(&m, res->buff + 1, res->index - 1);
    otpc_pid_t *to = bad ? NULL : malloc(sizeof *to);
    if (to) {
        *to = j->to;
        if (otpc__replies_post(j->n, OTPC__ASYNC_MESSAGE, to, m.buff, (uint32_t)m.index))
            free(to);
    }
    ei_x_free(&m);
}

static void run_job(job_t *j)
{
    ei_x_buff res;
    int rc = ei_x_new_with_version(&res) ? OTPC_ENOMEM : j->fn(j->arg, &res);
    /* a function that wrote no term, or a malformed one, is an error, not garbage */
    if (!rc && otpc__check_term((otpc_term_t){res.buff, (size_t)res.index}))
        rc = OTPC_EBADARG;
    if (j->caller) {
        ei_x_buff e;
        if (!rc) {
            otpc_reply_async(j->caller, (otpc_term_t){res.buff, (size_t)res.index});
        } else if (!ei_x_new_with_version(&e) && !encode_error(&e, rc)) {
            otpc_reply_async(j->caller, otpc_term_x(&e));
            ei_x_free(&e);
        } else {
            otpc_reply_async(j->caller, (otpc_term_t){NULL, 0}); /* frees the token */
        }
    } else {
        post_message(j, rc, &res);
    }
    ei_x_free(&res);
    free(j);
}

static void worker(void *arg)
{
    struct otpc__async *A = arg;
    uv_mutex_lock(&A->lock);
    for (;;) {
        while (!A->head && !A->stopping)
            uv_cond_wait(&A->more, &A->lock);
        job_t *j = A->head;
        if (!j)
            break; /* stopping, and nothing left */
        A->head = j->next;
        if (!A->head)
            A->tail = NULL;
        uv_mutex_unlock(&A->lock);
        run_job(j);
        uv_mutex_lock(&A->lock);
    }
    uv_mutex_unlock(&A->lock);
}

static struct otpc__async *pool_start(otpc_node_t *n)
{
    unsigned want = n->opts.async_threads ? n->opts.async_threads : DEFAULT_THREADS;
    struct otpc__async *A = calloc(1, sizeof *A);
    if (!A)
        return NULL;
    A->threads = calloc(want, sizeof *A->threads);
    if (!A->threads || uv_mutex_init(&A->lock)) {
        free(A->threads);
        free(A);
        return NULL;
    }
    if (uv_cond_init(&A->more)) {
        uv_mutex_destroy(&A->lock);
        free(A->threads);
        free(A);
        return NULL;
    }
    for (; A->nthreads < want; A->nthreads++)
        if (uv_thread_create(&A->threads[A->nthreads], worker, A))
            break; /* fewer threads, still a pool; none at all is refused below */
    if (!A->nthreads) {
        otpc__async_free(A);
        return NULL;
    }
    return A;
}

void otpc__async_free(struct otpc__async *A)
{
    if (!A)
        return;
    uv_mutex_lock(&A->lock);
    A->stopping = 1;
    uv_cond_broadcast(&A->more);
    uv_mutex_unlock(&A->lock);
    for (unsigned i = 0; i < A->nthreads; i++)
        uv_thread_join(&A->threads[i]);
    uv_cond_destroy(&A->more);
    uv_mutex_destroy(&A->lock);
    free(A->threads);
    free(A);
}

static struct otpc__async *pool(otpc_proc_t *self)
{
    otpc__otp_t *O = otpc__otp(otpc_proc_node(self));
    if (!O->async)
        O->async = pool_start(otpc_proc_node(self));
    return O->async;
}

static void submit(struct otpc__async *A, job_t *j)
{
    uv_mutex_lock(&A->lock);
    if (A->tail)
        A->tail->next = j;
    else
        A->head = j;
    A->tail = j;
    uv_cond_signal(&A->more);
    uv_mutex_unlock(&A->lock);
}

static job_t *job_new(otpc_proc_t *self, otpc_work_fn fn, void *arg)
{
    job_t *j = fn ? calloc(1, sizeof *j) : NULL;
    if (!j)
        return NULL;
    j->fn = fn;
    j->arg = arg;
    j->n = otpc_proc_node(self);
    j->to = otpc_self(self);
    return j;
}

int otpc_async(otpc_proc_t *self, otpc_work_fn fn, void *arg, otpc_ref_t *ref)
{
    OTPC__ENTER(self->node);
    if (!self || !fn || !ref)
        return OTPC_EINVAL;
    struct otpc__async *A = pool(self);
    job_t *j = A ? job_new(self, fn, arg) : NULL;
    if (!j)
        return OTPC_ENOMEM;
    ei_x_buff x;
    int rc = otpc_make_ref(self, ref);
    if (!rc && !(rc = ei_x_new(&x) ? OTPC_ENOMEM : 0)) {
        rc = otpc_x_encode_ref(self, &x, ref) || x.index > (int)sizeof j->ref ? OTPC_ENOMEM : 0;
        if (!rc) {
            memcpy(j->ref, x.buff, (size_t)x.index);
            j->ref_len = x.index;
        }
        ei_x_free(&x);
    }
    if (rc) {
        free(j);
        return rc;
    }
    submit(A, j);
    return 0;
}

int otpc_async_reply(otpc_proc_t *self, otpc_from_t *from, otpc_work_fn fn, void *arg)
{
    OTPC__ENTER(self->node);
    if (!self || !from || !fn)
        return OTPC_EINVAL;
    struct otpc__async *A = pool(self);
    job_t *j = A ? job_new(self, fn, arg) : NULL;
    if (!j)
        return OTPC_ENOMEM;
    /* the last step that can fail: from here the caller is the job's to answer */
    if (!(j->caller = otpc_from_detach(self, from))) {
        free(j);
        return OTPC_ENOMEM;
    }
    submit(A, j);
    return 0;
}
