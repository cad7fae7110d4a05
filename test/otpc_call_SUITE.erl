%% C processes calling gen_servers: otpc_call_async against real Erlang
%% servers over real distribution, and against C servers.
%%
%% The C side is a probe (see otpc_dist_SUITE for the protocol) with one more
%% command: {call, Dest, Req, Timeout} makes it call otpc_call_async, tell its
%% owner {called, P, Ref}, and the result arrives as the probe's message
%% {otpc_reply, Ref, Result}, which the owner gets as {probe_got, P, _}.
%% Absence of a message is checked after a barrier (a ping through the same
%% probe), never after a sleep.
-module(otpc_call_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([erlang_server_by_name/1, erlang_server_by_pid/1, c_server_local/1,
         noproc/1, timeout_and_late_reply/1, server_exits/1, noconnection/1,
         many_in_flight/1]).

-type config() :: [{atom(), term()}].

-define(TIMEOUT, 10000).
-include("otpc_ct.hrl").

-spec suite() -> [tuple()].
suite() ->
    [{timetrap, {minutes, 2}}].

-spec all() -> [atom()].
all() ->
    [erlang_server_by_name, erlang_server_by_pid, c_server_local, noproc,
     timeout_and_late_reply, server_exits, noconnection, many_in_flight].

-spec init_per_suite(config()) -> config() | {skip, string()}.
init_per_suite(Config) ->
    otpc_ct_node:init_per_suite(Config).

-spec end_per_suite(config()) -> ok.
end_per_suite(Config) ->
    otpc_ct_node:end_per_suite(Config).

-spec init_per_testcase(atom(), config()) -> config() | {fail, term()}.
init_per_testcase(Case, Config) ->
    case otpc_ct_node:start_case_node("c_", Case, ["-probe"]) of
        {ok, Node} -> [{node, Node} | Config];
        {fail, _} = Fail -> Fail
    end.

-spec end_per_testcase(atom(), config()) -> ok.
end_per_testcase(_Case, Config) ->
    case proplists:get_value(peer, Config) of
        undefined -> ok;
        Peer -> catch peer:stop(Peer)
    end,
    otpc_ct_node:stop_case_node(Config).

%%% ------------------------------------------------------------------

-spec erlang_server_by_name(config()) -> term().
erlang_server_by_name(Config) ->
    ct:comment("A C process calls an Erlang gen_server by {Name, Node} (net_kernel's "
               "is_auth) and gets {ok, Reply}."),
    P = probe(?config(node, Config)),
    {ok, yes} = call(P, {net_kernel, node()}, {is_auth, node()}, 5000).

-spec erlang_server_by_pid(config()) -> term().
erlang_server_by_pid(Config) ->
    ct:comment("By pid, with an infinite timeout; the server sees the call as "
               "gen_server does (a {Pid, Tag} from) and its reply comes back."),
    Server = spawn_link(fun() -> serve(fun(Req) -> {reply, {got, Req}} end) end),
    P = probe(?config(node, Config)),
    Req = [1, <<"two">>, #{3 => three}],
    {ok, {got, Req}} = call(P, Server, Req, infinity).

-spec c_server_local(config()) -> term().
c_server_local(Config) ->
    ct:comment("A C process calls a C gen_server of its own node by name and by "
               "pid: the stack pops what it was started with."),
    Node = ?config(node, Config),
    P = probe(Node),
    {ok, <<"hello">>} = call(P, stack, pop, 5000),
    gen_server:cast({stack, Node}, {push, <<"again">>}),
    Stack = erpc:call(Node, erlang, whereis, [stack]),
    {ok, <<"again">>} = call(P, Stack, pop, 5000).

-spec noproc(config()) -> term().
noproc(Config) ->
    ct:comment("No such name, here or there, and a dead pid: {error, noproc}."),
    P = probe(?config(node, Config)),
    {error, noproc} = call(P, {nobody_here, node()}, x, 5000),
    {error, noproc} = call(P, nobody_here, x, 5000),
    Dead = spawn(fun() -> ok end),
    Ref = monitor(process, Dead),
    receive {'DOWN', Ref, _, _, _} -> ok end,
    {error, noproc} = call(P, Dead, x, 5000).

-spec timeout_and_late_reply(config()) -> term().
timeout_and_late_reply(Config) ->
    ct:comment("No reply within the timeout is {error, timeout}; the reply the "
               "server sends later never reaches the caller."),
    Self = self(),
    Server = spawn_link(fun() ->
                                receive {'$gen_call', From, _} -> Self ! {held, From} end,
                                receive release -> ok end
                        end),
    P = probe(?config(node, Config)),
    {error, timeout} = call(P, Server, wait, 200),
    From = receive {held, F} -> F after ?TIMEOUT -> ct:fail(no_call) end,
    gen_server:reply(From, too_late),
    Server ! release,
    ok = barrier(P),
    ?refute({probe_got, P, _}).

-spec server_exits(config()) -> term().
server_exits(Config) ->
    ct:comment("A server that ends before replying: {error, {exit, Reason}}."),
    Server = spawn(fun() -> receive {'$gen_call', _, _} -> exit({shutdown, boom}) end end),
    P = probe(?config(node, Config)),
    {error, {exit, {shutdown, boom}}} = call(P, Server, die, 5000).

-spec noconnection(config()) -> term().
noconnection(Config) ->
    ct:comment("The server's node goes down while the call waits: "
               "{error, noconnection}."),
    {ok, Peer, PeerNode} = peer:start(#{name => peer:random_name("call"),
                                        args => ["-setcookie",
                                                 atom_to_list(erlang:get_cookie())]}),
    Server = erpc:call(PeerNode, erlang, spawn, [timer, sleep, [infinity]]),
    P = probe(?config(node, Config)),
    P ! {call, Server, hang, infinity},
    {called, P, Ref} = ?recv({called, P, _}),
    %% the C node is connected to the peer once the call is out: then cut it
    ok = wait_connected(P, PeerNode),
    peer:stop(Peer),
    {probe_got, P, {otpc_reply, Ref, {error, noconnection}}} =
        ?recv({probe_got, P, {otpc_reply, Ref, _}}).

-spec many_in_flight(config()) -> term().
many_in_flight(Config) ->
    ct:comment("1000 calls in flight from one process: each gets its own result, "
               "in whatever order they come."),
    Server = spawn_link(fun() -> serve(fun(N) -> {reply, N * 2} end) end),
    P = probe(?config(node, Config)),
    Refs = [begin
                P ! {call, Server, N, 10000},
                {called, P, Ref} = ?recv({called, P, _}),
                {Ref, N}
            end || N <- lists:seq(1, 1000)],
    Results = [receive
                   {probe_got, P, {otpc_reply, R, {ok, V}}} -> {R, V}
               after ?TIMEOUT -> ct:fail(missing_result)
               end || _ <- Refs],
    Expected = lists:sort([{R, N * 2} || {R, N} <- Refs]),
    Expected = lists:sort(Results).

%%% ------------------------------------------------------------------

probe(Node) ->
    {otpc_probe, Node} ! {spawn, self()},
    {spawned, P} = ?recv({spawned, _}),
    P.

call(P, Dest, Req, Timeout) ->
    P ! {call, Dest, Req, Timeout},
    {called, P, Ref} = ?recv({called, P, _}),
    true = is_reference(Ref),
    {probe_got, P, {otpc_reply, Ref, Result}} = ?recv({probe_got, P, {otpc_reply, Ref, _}}),
    Result.

barrier(P) ->
    P ! {ping, self()},
    {pong, P} = ?recv({pong, P}),
    ok.

%% Once the call went out the C node is connected to the peer: the peer's
%% own view shows it.
wait_connected(P, PeerNode) ->
    ok = barrier(P),
    case lists:member(node(P), erpc:call(PeerNode, erlang, nodes, [hidden])) of
        true -> ok;
        false -> timer:sleep(50), wait_connected(P, PeerNode)
    end.

%% A gen_server's loop by hand: Fun(Req) -> {reply, R}.
serve(Fun) ->
    receive
        {'$gen_call', From, Req} ->
            {reply, R} = Fun(Req),
            gen_server:reply(From, R),
            serve(Fun)
    end.
