%% global in a cluster of two BEAM nodes (this one and a peer) and a -visible C
%% node: global:sync/0 returns on both BEAM nodes with the C node in the cluster,
%% names registered on a BEAM node are known everywhere (the C node included) and
%% go when unregistered or when their process dies, a C server started with
%% {name, {global, Name}} is reachable as {global, Name} from every node, a name
%% registered from C (otpc_global_register) is seen by every node, and the C
%% node's end takes its names away.
-module(otpc_global_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([sync_returns/1, beam_names_everywhere/1, c_server_global_name/1,
         register_from_c/1, node_down/1, hidden_node/1]).

-type config() :: [{atom(), term()}].

-define(TIMEOUT, 10000).

-include("otpc_ct.hrl").

-spec suite() -> [tuple()].
suite() ->
    [{timetrap, {minutes, 2}}].

-spec all() -> [atom()].
all() ->
    [sync_returns, beam_names_everywhere, c_server_global_name, register_from_c, node_down,
     hidden_node].

-spec init_per_suite(config()) -> config() | {skip, string()}.
init_per_suite(Config) ->
    otpc_ct_node:init_per_suite(Config).

-spec end_per_suite(config()) -> term().
end_per_suite(Config) ->
    otpc_ct_node:end_per_suite(Config).

-spec init_per_testcase(atom(), config()) -> config() | {fail, term()}.
init_per_testcase(Case, Config) ->
    Args = ["-setcookie", atom_to_list(erlang:get_cookie())],
    {ok, Peer, PeerNode} = peer:start(#{name => peer:random_name("pg_" ++ atom_to_list(Case)),
                                        args => Args}),
    ok = sync_within(node(), 5000),
    Name = list_to_atom(lists:concat(["cglobal_", Case, "_", os:getpid()])),
    Flags = case Case of hidden_node -> []; _ -> ["-visible"] end,
    case otpc:start_node(#{name => Name, args => Flags}) of
        {ok, Node} -> [{node, Node}, {peer, Peer}, {peer_node, PeerNode} | Config];
        Error -> peer:stop(Peer), {fail, {start_node, Name, Error}}
    end.

-spec end_per_testcase(atom(), config()) -> term().
end_per_testcase(_Case, Config) ->
    _ = otpc:stop_node(?config(node, Config)),
    peer:stop(?config(peer, Config)).

%% ---- the cases ----------------------------------------------------------------

-spec sync_returns(config()) -> ok.
sync_returns(Config) ->
    doc("global:sync/0 returns on both BEAM nodes with the -visible C node in the "
        "cluster, and the C node counts both as synced."),
    N = ?config(node, Config),
    P = ?config(peer_node, Config),
    true = lists:member(N, nodes()),
    ok = sync_within(node(), 5000),
    ok = sync_within(P, 5000),
    wait(fun() -> lists:sort(gen_server:call({global_name_server, N}, get_synced)) end,
         lists:sort([node(), P])),
    true = lists:member(N, erpc:call(P, erlang, nodes, [])),
    ok.

-spec beam_names_everywhere(config()) -> ok.
beam_names_everywhere(Config) ->
    doc("A name registered here is seen on the peer and on the C node; "
        "unregistering, or the process's death, removes it everywhere."),
    N = ?config(node, Config),
    P = ?config(peer_node, Config),
    ok = sync_within(node(), 5000),
    Pid = spawn(fun() -> receive stop -> ok end end),
    yes = global:register_name(beam_name, Pid),
    no = global:register_name(beam_name, self()),
    Pid = erpc:call(P, global, whereis_name, [beam_name]),
    Pid = erpc:call(N, global, whereis_name, [beam_name]),
    _ = global:unregister_name(beam_name),
    undefined = erpc:call(N, global, whereis_name, [beam_name]),
    PeerPid = erpc:call(P, erlang, spawn, [timer, sleep, [infinity]]),
    yes = erpc:call(P, global, register_name, [{peer, name}, PeerPid]),
    PeerPid = global:whereis_name({peer, name}),
    wait(fun() -> erpc:call(N, global, whereis_name, [{peer, name}]) end, PeerPid),
    exit(PeerPid, kill),
    wait(fun() -> erpc:call(N, global, whereis_name, [{peer, name}]) end, undefined),
    wait(fun() -> global:whereis_name({peer, name}) end, undefined),
    exit(Pid, kill),
    ok.

-spec c_server_global_name(config()) -> ok.
c_server_global_name(Config) ->
    doc("otpc:start/4 with {name, {global, Name}}: the C server is reachable as "
        "{global, Name} from both BEAM nodes; a second start is already_started; "
        "the server's death frees the name."),
    N = ?config(node, Config),
    P = ?config(peer_node, Config),
    ok = sync_within(node(), 5000),
    {ok, E} = otpc:start(N, echo, undefined, [{name, {global, c_echo}}]),
    E = global:whereis_name(c_echo),
    E = erpc:call(P, global, whereis_name, [c_echo]),
    E = erpc:call(N, global, whereis_name, [c_echo]),
    hello = gen_server:call({global, c_echo}, hello),
    hi = erpc:call(P, gen_server, call, [{global, c_echo}, hi]),
    {error, {already_started, E}} = otpc:start(N, echo, undefined, [{name, {global, c_echo}}]),
    exit(E, kill),
    wait(fun() -> global:whereis_name(c_echo) end, undefined),
    wait(fun() -> erpc:call(P, global, whereis_name, [c_echo]) end, undefined),
    wait(fun() -> erpc:call(N, global, whereis_name, [c_echo]) end, undefined),
    ok.

-spec register_from_c(config()) -> ok.
register_from_c(Config) ->
    doc("otpc_global_register from C: a BEAM node registers the name cluster-wide, "
        "the asker gets {otpc_global, Name, yes}; a taken name gets no."),
    N = ?config(node, Config),
    P = ?config(peer_node, Config),
    ok = sync_within(node(), 5000),
    wait(fun() -> gen_server:call({global_name_server, N}, get_synced) =/= [] end, true),
    {ok, E} = otpc:start(N, echo, undefined, []),
    ok = erpc:call(N, otpc_global, register_name, [{from_c, 1}, E, self()]),
    ?recv({otpc_global, {from_c, 1}, yes}),
    E = global:whereis_name({from_c, 1}),
    E = erpc:call(P, global, whereis_name, [{from_c, 1}]),
    E = erpc:call(N, global, whereis_name, [{from_c, 1}]),
    {ok, E2} = otpc:start(N, echo, undefined, []),
    ok = erpc:call(N, otpc_global, register_name, [{from_c, 1}, E2, self()]),
    ?recv({otpc_global, {from_c, 1}, no}),
    {'EXIT', {{exception, badarg, _}, _}} =
        (catch erpc:call(N, otpc_global, register_name, [x, self(), self()])),
    ok = gen_server:stop(E),
    ok = gen_server:stop(E2).

-spec node_down(config()) -> ok.
node_down(Config) ->
    doc("When the C node goes, the names of its processes go on every BEAM node, "
        "and global:sync/0 still returns."),
    N = ?config(node, Config),
    P = ?config(peer_node, Config),
    ok = sync_within(node(), 5000),
    {ok, E} = otpc:start(N, echo, undefined, [{name, {global, doomed}}]),
    E = erpc:call(P, global, whereis_name, [doomed]),
    ok = otpc:stop_node(N),
    wait(fun() -> global:whereis_name(doomed) end, undefined),
    wait(fun() -> erpc:call(P, global, whereis_name, [doomed]) end, undefined),
    ok = sync_within(node(), 5000),
    ok = sync_within(P, 5000).

-spec hidden_node(config()) -> ok.
hidden_node(Config) ->
    doc("A hidden C node stays out of global (as a hidden BEAM node does): sync "
        "returns, and a global name for its server is refused with the reason."),
    N = ?config(node, Config),
    false = lists:member(N, nodes()),
    ok = sync_within(node(), 5000),
    {ok, E} = otpc:start(N, echo, undefined, []),
    {'EXIT', {{exception, noproc, _}, _}} =
        (catch erpc:call(N, otpc_global, register_name, [hidden, E, self()])),
    ok = gen_server:stop(E).

%% ---- helpers ------------------------------------------------------------------

doc(Text) ->
    ct:comment("~ts", [Text]).

sync_within(Node, Ms) ->
    Self = self(),
    Ref = make_ref(),
    Pid = spawn(fun() -> Self ! {Ref, erpc:call(Node, global, sync, [])} end),
    receive
        {Ref, ok} -> ok
    after Ms ->
            exit(Pid, kill),
            ct:fail({global_sync_hangs, Node})
    end.

wait(F, Want) ->
    wait(F, Want, 100).

wait(F, Want, 0) ->
    ct:fail({waited_for, Want, got, F()});
wait(F, Want, Tries) ->
    case F() of
        Want -> Want;
        _ -> timer:sleep(50), wait(F, Want, Tries - 1)
    end.
