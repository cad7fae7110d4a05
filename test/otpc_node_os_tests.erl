%% eunit tests of otpc_node_os: the /proc stat line read for the process
%% state, and this VM's own process seen as not gone.
-module(otpc_node_os_tests).

-include_lib("eunit/include/eunit.hrl").

stat_state_test_() ->
    S = fun otpc_node_os:stat_state/1,
    [?_assertEqual($S, S(<<"42 (otpc_node) S 1 42 42 0 -1">>)),
     ?_assertEqual($Z, S(<<"42 (otpc_node) Z 1 42 42 0 -1">>)),
     %% The command may hold ") ": the state follows the last one.
     ?_assertEqual($R, S(<<"42 (a) Z (b) R 1 42">>)),
     ?_assertEqual(undefined, S(<<"42 (otpc_node)">>)),
     ?_assertEqual(undefined, S(<<"42 (otpc_node) ">>)),
     ?_assertEqual(undefined, S(<<>>))].

gone_test() ->
    ?assertNot(otpc_node_os:gone(list_to_integer(os:getpid()))),
    ?assert(otpc_node_os:gone(undefined)).
