/*
 * otpc_test_node: the node program the test suites run (c_src/build/otpc_test_node):
 * priv/otpc_node plus the test processes, which the shipped program does not carry:
 * the probe `otpc_probe` (probe.c), the scriptable gen_server `gs_probe` (gs_probe.c)
 * the supervisor `probe_sup` and the rpc functions of `probe_rpc` (rpc_probe.c). It
 * accepts -probe, which the suites pass, and ignores it: the probes are always there.
 * -escalate_pause makes every move from one domain's lock to all of them pause 2 ms
 * in between, where the node holds neither (otpc_supervisor_SUITE shows with it that
 * a reply does not leave before the server's exit).
 */
#include <string.h>
#include <unistd.h>

#include "core/node_int.h"
#include "examples/examples.h"
#include "main/node_main.h"
#include "test/node/probe.h"

/* For the supervisor tests: one echo of each restart type under `probe_sup`, which
 * gives up after more than 2 restarts in 30 s, and a trapping gs_probe, `p_trap`,
 * started first so that it is shut down last; and `probe_sup_one`, `probe_sup_all`
 * and `probe_sup_rest`, empty supervisors of each strategy (3 restarts in 30 s). */
static int start_probe_sup(otpc_node_t *node)
{
    otpc_term_t none = {NULL, 0};
    ei_x_buff trap;
    if (ei_x_new_with_version(&trap) || ei_x_encode_tuple_header(&trap, 3) ||
        ei_x_encode_atom(&trap, "none") || ei_x_encode_atom(&trap, "ok") ||
        ei_x_encode_boolean(&trap, 1))
        return OTPC_ENOMEM;
    otpc_child_spec_t children[] = {
        {"p_trap", &otpc_gs_probe, otpc_term_x(&trap), "p_trap", OTPC_PERMANENT, 0},
        {"p_perm", &otpc_example_echo, none, "p_perm", OTPC_PERMANENT, 0},
        {"p_trans", &otpc_example_echo, none, "p_trans", OTPC_TRANSIENT, 0},
        {"p_temp", &otpc_example_echo, none, "p_temp", OTPC_TEMPORARY, OTPC_SHUTDOWN_BRUTAL_KILL},
    };
    otpc_sup_flags_t flags = {.intensity = 2, .period = 30};
    otpc_pid_t sup;
    int rc = otpc_supervisor_start(node, "probe_sup", &flags, children, 4, &sup);
    ei_x_free(&trap);
    if (rc)
        return rc;
    /* Empty, for the tests to fill with supervisor:start_child/2: one of each strategy. */
    otpc_sup_flags_t all = {.intensity = 3, .period = 30, .strategy = OTPC_ONE_FOR_ALL};
    otpc_sup_flags_t rest = {.intensity = 3, .period = 30, .strategy = OTPC_REST_FOR_ONE};
    otpc_sup_flags_t one = {.intensity = 3, .period = 30, .strategy = OTPC_ONE_FOR_ONE};
    if ((rc = otpc_supervisor_start(node, "probe_sup_all", &all, NULL, 0, &sup)) ||
        (rc = otpc_supervisor_start(node, "probe_sup_rest", &rest, NULL, 0, &sup)))
        return rc;
    return otpc_supervisor_start(node, "probe_sup_one", &one, NULL, 0, &sup);
}

static int boot(otpc_node_t *node)
{
    otpc_pid_t pid;
    int rc = otpc_rpc_probe_register(node);
    if (rc || (rc = otpc_spawn(node, &otpc_probe_ops, NULL, &pid)) ||
        (rc = otpc_register_pid(node, "otpc_probe", &pid)))
        return rc;
    return start_probe_sup(node);
}

static void escalate_pause(void)
{
    usleep(2000);
}

static int flag(const char *f)
{
    if (strcmp(f, "-escalate_pause") == 0) {
        otpc__escalate_hook = escalate_pause;
        return 1;
    }
    return strcmp(f, "-probe") == 0;
}

int main(int argc, char **argv)
{
    static const otpc_gen_server_t *const modules[] = {&otpc_gs_probe};
    otpc__program_t prog = {modules, 1, flag, boot};
    return otpc__node_main(argc, argv, &prog);
}
