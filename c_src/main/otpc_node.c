/*
 * otpc_node: the node program (priv/otpc_node), with the example servers and nothing
 * else; see main/node_main.c.
 */
#include "main/node_main.h"

int main(int argc, char **argv)
{
    return otpc__node_main(argc, argv, NULL);
}
