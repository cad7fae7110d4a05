/*
 * Unit tests of otpc__dsig_peer_up (distribution/dsig.c): when a connection comes up,
 * the frames queued for it before the handshake lose exactly the monitor control
 * messages (MONITOR_P, DEMONITOR_P, MONITOR_P_EXIT) if the peer lacks DIST_MONITOR or
 * DIST_MONITOR_NAME, as ERTS drops them for such a peer; every other frame stays, whole
 * and in order, and a peer with both flags keeps everything. Frames are built the way
 * distribution/peer.c queues them: a 4-byte length, 'p', the versioned control tuple,
 * then any payload.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "distribution/dsig.h"
#include "proto/ctrl.h"
#include "proto/flags.h"

#define JINTERFACE_FLAGS 0x407070f94ULL /* neither monitor flag */
#define EI_FLAGS 0x407074f9cULL         /* DIST_MONITOR only */

/* {Op, a, b[, c]} as a queued frame, plus a payload term when `payload`. */
static void frame(otpc__buf_t *out, long op, int arity, int payload)
{
    ei_x_buff x;
    char hdr[5];
    assert_int_equal(ei_x_new_with_version(&x), 0);
    assert_int_equal(ei_x_encode_tuple_header(&x, arity), 0);
    assert_int_equal(ei_x_encode_long(&x, op), 0);
    for (int i = 1; i < arity; i++)
        assert_int_equal(ei_x_encode_atom(&x, i == 1 ? "a" : "elem"), 0);
    if (payload)
        assert_int_equal(ei_x_encode_version(&x) || ei_x_encode_atom(&x, "payload"), 0);
    otpc__put_u32(hdr, (uint32_t)(1 + x.index));
    hdr[4] = 'p';
    assert_int_equal(otpc__buf_append(out, hdr, 5), 0);
    assert_int_equal(otpc__buf_append(out, x.buff, (size_t)x.index), 0);
    ei_x_free(&x);
}

/* The queue every case starts from: monitor frames between and around the others. */
static void queue(otpc__buf_t *all, otpc__buf_t *kept)
{
    frame(all, OTPC__DOP_MONITOR_P, 4, 0);
    frame(all, OTPC__DOP_SEND, 3, 1);
    frame(kept, OTPC__DOP_SEND, 3, 1);
    frame(all, OTPC__DOP_DEMONITOR_P, 4, 0);
    frame(all, OTPC__DOP_MONITOR_P_EXIT, 5, 0);
    frame(all, OTPC__DOP_LINK, 3, 0);
    frame(kept, OTPC__DOP_LINK, 3, 0);
    frame(all, OTPC__DOP_REG_SEND, 4, 1);
    frame(kept, OTPC__DOP_REG_SEND, 4, 1);
    frame(all, OTPC__DOP_MONITOR_P, 4, 0);
}

static void assert_same(const otpc__buf_t *a, const otpc__buf_t *b)
{
    assert_int_equal(a->len, b->len);
    assert_memory_equal(a->data, b->data, a->len);
}

static void foreign_peer_loses_monitor_frames(void **state)
{
    (void)state;
    const uint64_t foreign[] = {JINTERFACE_FLAGS, EI_FLAGS,
                                OTPC__DF_OURS & ~OTPC__DF_DIST_MONITOR_NAME};
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
        otpc__buf_t all = {0}, kept = {0};
        queue(&all, &kept);
        otpc__dsig_peer_up(foreign[i], &all);
        assert_same(&all, &kept);
        otpc__buf_free(&all);
        otpc__buf_free(&kept);
    }
}

static void monitoring_peer_keeps_everything(void **state)
{
    (void)state;
    otpc__buf_t all = {0}, kept = {0}, copy = {0};
    queue(&all, &kept);
    assert_int_equal(otpc__buf_append(&copy, all.data, all.len), 0);
    otpc__dsig_peer_up(OTPC__DF_OURS, &all);
    assert_same(&all, &copy);
    otpc__dsig_peer_up(OTPC__DF_REQUIRED | OTPC__DF_MONITORS, &all);
    assert_same(&all, &copy);
    otpc__buf_free(&all);
    otpc__buf_free(&kept);
    otpc__buf_free(&copy);
}

/* Only monitor frames, or nothing queued: the queue ends empty, never negative. */
static void only_monitor_frames_or_none(void **state)
{
    (void)state;
    otpc__buf_t b = {0};
    otpc__dsig_peer_up(JINTERFACE_FLAGS, &b);
    assert_int_equal(b.len, 0);
    frame(&b, OTPC__DOP_MONITOR_P, 4, 0);
    frame(&b, OTPC__DOP_DEMONITOR_P, 4, 0);
    otpc__dsig_peer_up(JINTERFACE_FLAGS, &b);
    assert_int_equal(b.len, 0);
    otpc__buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(foreign_peer_loses_monitor_frames),
        cmocka_unit_test(monitoring_peer_keeps_everything),
        cmocka_unit_test(only_monitor_frames_or_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
