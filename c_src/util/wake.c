/* eventfd-based cross-thread wake-up; see wake.h. */
#include "util/wake.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "otpc.h"

static void on_readable(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    otpc__wake_t *w = p->data;
    uint64_t v;
    while (read(w->fd, &v, sizeof v) < 0 && errno == EINTR)
        ;
    w->cb(w);
}

int otpc__wake_init(otpc__wake_t *w, uv_loop_t *loop, void (*cb)(otpc__wake_t *w))
{
    w->cb = cb;
    w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->fd < 0)
        return OTPC_EIO;
    if (uv_poll_init(loop, &w->poll, w->fd)) {
        close(w->fd);
        w->fd = -1;
        return OTPC_EIO;
    }
    w->poll.data = w;
    uv_poll_start(&w->poll, UV_READABLE, on_readable);
    return 0;
}

void otpc__wake_send(otpc__wake_t *w)
{
    uint64_t one = 1;
    /* EAGAIN only when the counter is near overflow: a wake-up is pending anyway. */
    while (write(w->fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

static void on_closed(uv_handle_t *h)
{
    otpc__wake_t *w = h->data;
    close(w->fd);
    w->fd = -1;
}

void otpc__wake_close(otpc__wake_t *w)
{
    if (w->fd >= 0 && !uv_is_closing((uv_handle_t *)&w->poll))
        uv_close((uv_handle_t *)&w->poll, on_closed);
}
