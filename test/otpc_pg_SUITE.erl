%% pg across a BEAM node and a C node: no scope runs on the C node until asked
%% (as on BEAM); C processes joined on the C node (through pg's functions over
%% erpc, which run the node's otpc_pg_* calls) are seen by
%% BEAM's pg:get_members/1,2, in the default scope and in a named one; BEAM
%% processes joined on this node are seen by the C node; leaving, a member's
%% death and the C node's end take members away on both sides; a daemon's
%% pg_group option puts each connection's server in a group, so a broadcast
%% from Erlang reaches every client.
-module(otpc_pg_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([beam_sees_c_members/1, c_sees_beam_members/1, leave_and_death/1,
         named_scope/1, node_down/1, daemon_broadcast/1, visible_node/1, bad_calls/1,
         late_beam_scope/1]).

-type config() :: [{atom(), term()}].

-define(TIMEOUT, 10000).
-define(SCOPE, otpc_pg_scope).

-include("otpc_ct.hrl").

-spec suite() -> [tuple()].
suite() ->
    [{timetrap, {minutes, 2}}].

-spec all() -> [atom()].
all() ->
    [beam_sees_c_members, c_sees_beam_members, leave_and_death, named_scope, node_down,
     daemon_broadcast, visible_node, bad_calls, late_beam_scope].

-spec init_per_suite(config()) -> config() | {skip, string()}.
init_per_suite(Config) ->
    case otpc_ct_node:init_per_suite(Config) of
        {skip, _} = Skip ->
            Skip;
        Config1 ->
            %% the scopes run here before any C node connects (as kernel's would
            %% with start_pg); they outlive the cases
            Scopes = [begin
                          {ok, P} = pg:start(S),
                          unlink(P),
                          P
                      end || S <- [pg, ?SCOPE], whereis(S) =:= undefined],
            [{scopes, Scopes} | Config1]
    end.

-spec end_per_suite(config()) -> term().
end_per_suite(Config) ->
    [exit(P, kill) || P <- ?config(scopes, Config)],
    otpc_ct_node:end_per_suite(Config).

-spec init_per_testcase(atom(), config()) -> config() | {fail, term()}.
init_per_testcase(Case, Config) ->
    Name = list_to_atom("cpg_" ++ atom_to_list(Case)),
    Args = case Case of visible_node -> ["-visible"]; _ -> [] end,
    case otpc:start_node(#{name => Name, args => Args}) of
        {ok, Node} -> [{node, Node} | Config];
        Error -> {fail, {start_node, Name, Error}}
    end.

-spec end_per_testcase(atom(), config()) -> term().
end_per_testcase(_Case, Config) ->
    otpc:stop_node(?config(node, Config)).

%% ---- the cases ----------------------------------------------------------------

-spec beam_sees_c_members(config()) -> ok.
beam_sees_c_members(Config) ->
    doc("A C server joined in the default scope is in pg:get_members/1 here and in "
        "the C node's own answer; joining twice counts twice, as in pg."),
    N = ?config(node, Config),
    {ok, E} = otpc:start(N, echo, undefined, []),
    ok = erpc:call(N, pg, join, [room, E]),
    [E] = wait_members(pg, room, 1),
    [E] = erpc:call(N, pg, get_members, [room]),
    [E] = erpc:call(N, pg, get_local_members, [room]),
    [E] = pg:get_members(pg, room),
    true = lists:member(room, pg:which_groups()),
    true = lists:member(room, erpc:call(N, pg, which_groups, [])),
    ok = erpc:call(N, pg, join, [room, [E]]),
    [E, E] = wait_members(pg, room, 2),
    ok = erpc:call(N, pg, leave, [room, E]),
    [E] = wait_members(pg, room, 1),
    ok = erpc:call(N, pg, leave, [room, E]),
    [] = wait_members(pg, room, 0),
    ok = gen_server:stop(E).

-spec c_sees_beam_members(config()) -> ok.
c_sees_beam_members(Config) ->
    doc("BEAM processes joined here (before and after the C node came up) are in "
        "the C node's get_members; one that exits is gone from it."),
    N = ?config(node, Config),
    [] = erpc:call(N, pg, get_members, [lobby]), % no scope runs yet: nothing known
    {ok, Scope} = erpc:call(N, pg, start, [pg]),
    Scope = erpc:call(N, erlang, whereis, [pg]),
    {ok, Scope} = erpc:call(N, pg, start, [pg]),
    P1 = spawn_member(pg, lobby),
    wait_c_members(N, pg, lobby, 1),
    P2 = spawn_member(pg, lobby),
    Both = lists:sort([P1, P2]),
    Both = lists:sort(wait_c_members(N, pg, lobby, 2)),
    [] = erpc:call(N, pg, get_local_members, [lobby]),
    exit(P1, kill),
    [P2] = wait_c_members(N, pg, lobby, 1),
    exit(P2, kill),
    [] = wait_c_members(N, pg, lobby, 0),
    ok.

-spec leave_and_death(config()) -> ok.
leave_and_death(Config) ->
    doc("A C member that leaves, or dies (killed, stopped), disappears from "
        "pg:get_members here; leaving a group one is not in is not_joined."),
    N = ?config(node, Config),
    {ok, E1} = otpc:start(N, echo, undefined, []),
    {ok, E2} = otpc:start(N, echo, undefined, []),
    ok = erpc:call(N, pg, join, [chat, [E1, E2]]),
    ok = erpc:call(N, pg, join, [other, E1]),
    2 = length(wait_members(pg, chat, 2)),
    not_joined = erpc:call(N, pg, leave, [nowhere, E1]),
    exit(E1, kill),
    [E2] = wait_members(pg, chat, 1),
    [] = wait_members(pg, other, 0),
    [E2] = erpc:call(N, pg, get_members, [chat]),
    ok = gen_server:stop(E2),
    [] = wait_members(pg, chat, 0),
    [] = erpc:call(N, pg, get_members, [chat]),
    ok.

-spec named_scope(config()) -> ok.
named_scope(Config) ->
    doc("A named scope on the C node (started by its first join) meets the same "
        "scope here; the default scope does not see its groups."),
    N = ?config(node, Config),
    {ok, E} = otpc:start(N, echo, undefined, []),
    ok = erpc:call(N, pg, join, [?SCOPE, {game, 1}, E]),
    [E] = wait_members(?SCOPE, {game, 1}, 1),
    [] = pg:get_members({game, 1}),
    P = spawn_member(?SCOPE, {game, 1}),
    2 = length(wait_c_members(N, ?SCOPE, {game, 1}, 2)),
    [E] = erpc:call(N, pg, get_local_members, [?SCOPE, {game, 1}]),
    ok = erpc:call(N, pg, leave, [?SCOPE, {game, 1}, E]),
    [P] = wait_members(?SCOPE, {game, 1}, 1),
    exit(P, kill),
    ok = gen_server:stop(E).

-spec node_down(config()) -> ok.
node_down(Config) ->
    doc("When the C node goes, its members leave every group here."),
    N = ?config(node, Config),
    {ok, E} = otpc:start(N, echo, undefined, []),
    ok = erpc:call(N, pg, join, [gone, E]),
    [E] = wait_members(pg, gone, 1),
    ok = otpc:stop_node(N),
    [] = wait_members(pg, gone, 0),
    ok.

-spec daemon_broadcast(config()) -> ok.
daemon_broadcast(Config) ->
    doc("Each connection's server of a daemon started with pg_group joins that "
        "group: a cast to every member reaches every client; a closed connection "
        "leaves the group."),
    N = ?config(node, Config),
    {ok, D} = otpc:start_daemon(N, echo, undefined,
                                #{pg_group => {chat, <<"room">>}, pg_scope => ?SCOPE}),
    {ok, Port} = otpc:daemon_port(D),
    Clients = [begin
                   {ok, C} = otpc_client:start_link("localhost", Port, #{}),
                   C
               end || _ <- lists:seq(1, 5)],
    Servers = lists:sort([otpc_client:server_pid(C) || C <- Clients]),
    Servers = lists:sort(wait_members(?SCOPE, {chat, <<"room">>}, 5)),
    [gen_server:cast(S, {'$push', hello}) || S <- pg:get_members(?SCOPE, {chat, <<"room">>})],
    [?recv({otpc_push, C, hello}) || C <- Clients],
    [C1 | Rest] = Clients,
    unlink(C1),
    ok = otpc_client:stop(C1),
    4 = length(wait_members(?SCOPE, {chat, <<"room">>}, 4)),
    {error, {badopt, {pg_scope, "x"}}} =
        otpc:start_daemon(N, echo, undefined, #{pg_scope => "x"}),
    [begin unlink(C), otpc_client:stop(C) end || C <- Rest],
    ok = otpc:stop_daemon(D).

-spec visible_node(config()) -> ok.
visible_node(Config) ->
    doc("A -visible C node takes part in pg as a hidden one does."),
    N = ?config(node, Config),
    true = lists:member(N, nodes()),
    {ok, E} = otpc:start(N, echo, undefined, []),
    ok = erpc:call(N, pg, join, [seen, E]),
    [E] = wait_members(pg, seen, 1),
    ok = gen_server:stop(E),
    [] = wait_members(pg, seen, 0),
    ok.

-spec bad_calls(config()) -> ok.
bad_calls(Config) ->
    doc("Only the C node's own pids join there ({nolocal, Pid}, as pg raises); "
        "the scope's join_local call answers as a BEAM scope does."),
    N = ?config(node, Config),
    Self = self(),
    {'EXIT', {{exception, {nolocal, Self}, _}, _}} =
        (catch erpc:call(N, pg, join, [g, Self])),
    {ok, _} = erpc:call(N, pg, start, [pg]),
    {ok, E} = otpc:start(N, echo, undefined, []),
    ok = gen_server:call({pg, N}, {join_local, direct, [E]}),
    [E] = wait_members(pg, direct, 1),
    ok = gen_server:call({pg, N}, {leave_local, direct, E}),
    not_joined = gen_server:call({pg, N}, {leave_local, direct, E}),
    [] = wait_members(pg, direct, 0),
    ok = gen_server:stop(E).

-spec late_beam_scope(config()) -> ok.
late_beam_scope(Config) ->
    doc("A scope started here after the hidden C node connected (it announces itself "
        "to visible nodes only) still meets the C node's: the C scope looks again "
        "every 5 s."),
    N = ?config(node, Config),
    {ok, E} = otpc:start(N, echo, undefined, []),
    ok = erpc:call(N, pg, join, [late_scope, g, E]),
    {ok, S} = pg:start(late_scope),
    try
        [E] = wait(fun() -> pg:get_members(late_scope, g) end, 1, 200)
    after
        unlink(S),
        exit(S, kill),
        gen_server:stop(E)
    end,
    ok.

%% ---- helpers ------------------------------------------------------------------

doc(_Text) ->
    ok.

%% A process here that joins Group in Scope and waits to be killed.
spawn_member(Scope, Group) ->
    Parent = self(),
    P = spawn(fun() ->
                      ok = pg:join(Scope, Group, self()),
                      Parent ! {joined, self()},
                      receive stop -> ok end
              end),
    ?recv({joined, P}),
    P.

wait_members(Scope, Group, Count) ->
    wait(fun() -> pg:get_members(Scope, Group) end, Count, 100).

wait_c_members(N, Scope, Group, Count) ->
    wait(fun() -> erpc:call(N, pg, get_members, [Scope, Group]) end, Count, 100).

wait(F, Count, 0) ->
    ct:fail({members, Count, F()});
wait(F, Count, Tries) ->
    case F() of
        L when length(L) =:= Count -> L;
        _ -> timer:sleep(50), wait(F, Count, Tries - 1)
    end.
