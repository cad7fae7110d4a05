%% rpc, erpc, rex and erl_call against a real C node: the built-in functions
%% answer as BEAM's would, a registered C function's every result form reaches
%% erpc:call and rpc:call as a BEAM node's would (value, throw, exit, error with
%% its stack, undef for a function the node lacks, badarg), spawn requests other
%% than erpc's are refused with notsup, the spawned process links and monitors as
%% asked, rex answers gen_server calls, raw `{From, {call, ...}}' messages and
%% features requests, and OTP's own erl_call gets its answer.
-module(otpc_rpc_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([builtins/1, process_info_items/1, erpc_results/1, rpc_results/1,
         casts_and_multicalls/1, other_spawns_refused/1, spawn_links_and_monitors/1,
         rex/1, erl_call/1, init_stop/1]).

-type config() :: [{atom(), term()}].

-define(TIMEOUT, 10000).

-include("otpc_ct.hrl").

-spec suite() -> [tuple()].
suite() ->
    [{timetrap, {minutes, 2}}].

-spec all() -> [atom()].
all() ->
    [builtins, process_info_items, erpc_results, rpc_results, casts_and_multicalls,
     other_spawns_refused, spawn_links_and_monitors, rex, erl_call, init_stop].

-spec init_per_suite(config()) -> config() | {skip, string()}.
init_per_suite(Config) ->
    otpc_ct_node:init_per_suite(Config).

-spec end_per_suite(config()) -> term().
end_per_suite(Config) ->
    otpc_ct_node:end_per_suite(Config).

-spec init_per_testcase(atom(), config()) -> config() | {fail, term()}.
init_per_testcase(Case, Config) ->
    Name = list_to_atom("crpc_" ++ atom_to_list(Case)),
    case otpc:start_node(#{name => Name, args => ["-probe"]}) of
        {ok, Node} -> [{node, Node} | Config];
        Error -> {fail, {start_node, Name, Error}}
    end.

-spec end_per_testcase(atom(), config()) -> term().
end_per_testcase(_Case, Config) ->
    otpc:stop_node(?config(node, Config)).

%% ---- the cases ----------------------------------------------------------------

-spec builtins(config()) -> ok.
builtins(Config) ->
    doc("erlang:node/0, nodes/0, registered/0, whereis/1, processes/0, "
        "is_process_alive/1, memory/0, system_info/1 over rpc and erpc."),
    N = ?config(node, Config),
    N = rpc:call(N, erlang, node, []),
    N = erpc:call(N, erlang, node, []),
    true = lists:member(node(), rpc:call(N, erlang, nodes, [])),
    Names = rpc:call(N, erlang, registered, []),
    [true = lists:member(R, Names) || R <- [net_kernel, rex, otpc_starter, echo, stack]],
    Echo = rpc:call(N, erlang, whereis, [echo]),
    true = is_pid(Echo) andalso node(Echo) =:= N,
    undefined = rpc:call(N, erlang, whereis, [no_such_name]),
    true = lists:member(Echo, rpc:call(N, erlang, processes, [])),
    true = rpc:call(N, erlang, is_process_alive, [Echo]),
    {ok, Tmp} = otpc:start(N, echo, undefined, []),
    ok = gen_server:stop(Tmp),
    false = rpc:call(N, erlang, is_process_alive, [Tmp]),
    Mem = rpc:call(N, erlang, memory, []),
    [true = is_integer(proplists:get_value(K, Mem)) || K <- [total, processes, system, atom]],
    true = proplists:get_value(total, Mem) > 1000000,
    Count = rpc:call(N, erlang, system_info, [process_count]),
    true = Count >= length(Names),
    {badrpc, {'EXIT', {badarg, _}}} = rpc:call(N, erlang, system_info, [no_such_item]),
    {badrpc, {'EXIT', {badarg, _}}} = rpc:call(N, erlang, whereis, [<<"echo">>]),
    ok.

-spec process_info_items(config()) -> ok.
process_info_items(Config) ->
    doc("process_info/1,2 for the items a C process has; undefined for a dead one."),
    N = ?config(node, Config),
    Echo = rpc:call(N, erlang, whereis, [echo]),
    Sup = rpc:call(N, erlang, whereis, [otpc_sup]),
    Info = rpc:call(N, erlang, process_info, [Echo]),
    echo = proplists:get_value(registered_name, Info),
    waiting = proplists:get_value(status, Info),
    0 = proplists:get_value(message_queue_len, Info),
    [] = proplists:get_value(dictionary, Info),
    true = lists:member(Sup, proplists:get_value(links, Info)),
    {message_queue_len, 0} = rpc:call(N, erlang, process_info, [Echo, message_queue_len]),
    [{registered_name, echo}, {trap_exit, _}] =
        rpc:call(N, erlang, process_info, [Echo, [registered_name, trap_exit]]),
    %% the monitor this node holds shows on the C side
    MRef = erlang:monitor(process, Echo),
    {monitored_by, By} = rpc:call(N, erlang, process_info, [Echo, monitored_by]),
    true = lists:member(self(), By),
    true = erlang:demonitor(MRef),
    {badrpc, {'EXIT', {badarg, _}}} = rpc:call(N, erlang, process_info, [Echo, no_such_item]),
    {ok, Tmp} = otpc:start(N, echo, undefined, []),
    ok = gen_server:stop(Tmp),
    undefined = rpc:call(N, erlang, process_info, [Tmp]),
    undefined = rpc:call(N, erlang, process_info, [Tmp, status]),
    ok.

-spec erpc_results(config()) -> ok.
erpc_results(Config) ->
    doc("Every result form of a C function reaches erpc:call as from a BEAM node."),
    N = ?config(node, Config),
    Term = {a, [1, <<"two">>], #{3 => "three"}},
    Term = erpc:call(N, probe_rpc, echo, [Term]),
    3 = erpc:call(N, probe_rpc, add, [1, 2]),
    val = erpc:call(N, probe_rpc, raise, [return, val]),
    thrown = try erpc:call(N, probe_rpc, raise, [throw, oops]) catch throw:oops -> thrown end,
    {exception, bye} = try erpc:call(N, probe_rpc, raise, [exit, bye]) catch exit:E1 -> E1 end,
    {exception, boom, [{probe_rpc, raise, [error, boom], []}]} =
        try erpc:call(N, probe_rpc, raise, [error, boom]) catch error:E2 -> E2 end,
    {exception, badarg, [{probe_rpc, add, [1, a], []}]} =
        try erpc:call(N, probe_rpc, add, [1, a]) catch error:E3 -> E3 end,
    {exception, undef, [{no_such_mod, f, [1], []}]} =
        try erpc:call(N, no_such_mod, f, [1]) catch error:E4 -> E4 end,
    {exception, undef, [{probe_rpc, add, [1], []}]} =
        try erpc:call(N, probe_rpc, add, [1]) catch error:E5 -> E5 end,
    {exception, {bad_return, nothing}, _} =
        try erpc:call(N, probe_rpc, nothing, []) catch error:E6 -> E6 end,
    {erpc, notsup} = try erpc:call(N, fun() -> ok end) catch error:E7 -> E7 end,
    ok.

-spec rpc_results(config()) -> ok.
rpc_results(Config) ->
    doc("rpc:call/4,5 returns what it returns against a BEAM node."),
    N = ?config(node, Config),
    3 = rpc:call(N, probe_rpc, add, [1, 2]),
    3 = rpc:call(N, probe_rpc, add, [1, 2], 5000),
    oops = rpc:call(N, probe_rpc, raise, [throw, oops]),
    {badrpc, {'EXIT', bye}} = rpc:call(N, probe_rpc, raise, [exit, bye]),
    {badrpc, {'EXIT', {boom, [{probe_rpc, raise, [error, boom], []}]}}} =
        rpc:call(N, probe_rpc, raise, [error, boom]),
    {badrpc, {'EXIT', {undef, [{no_such_mod, f, [], []}]}}} = rpc:call(N, no_such_mod, f, []),
    {badrpc, notsup} = rpc:call(N, erlang, apply, [fun() -> ok end, []]),
    ok.

-spec casts_and_multicalls(config()) -> ok.
casts_and_multicalls(Config) ->
    doc("rpc:cast, erpc:cast and the multicalls, the C node beside this one."),
    N = ?config(node, Config),
    Me = node(),
    true = rpc:cast(N, probe_rpc, add, [1, 2]),
    ok = erpc:cast(N, probe_rpc, add, [1, 2]),
    {[N, Me], []} = rpc:multicall([N, Me], erlang, node, []),
    [{ok, 3}, {error, {exception, undef, _}}] =
        erpc:multicall([N, Me], probe_rpc, add, [1, 2]),
    %% the casts ran and ended: nothing of them is left on the node
    ok = wait_until(fun() -> length(rpc:call(N, erlang, processes, [])) =:=
                                 length(rpc:call(N, erlang, processes, [])) end),
    ok.

-spec other_spawns_refused(config()) -> ok.
other_spawns_refused(Config) ->
    doc("A spawn of anything but erpc's entry points is refused with notsup: "
        "spawn_request says so, spawn/4 gives the caller's usual crasher, "
        "never a pid on the C node."),
    N = ?config(node, Config),
    Ref = spawn_request(N, io, format, ["x"], []),
    _ = ?recv({spawn_reply, Ref, error, notsup}),
    Ref2 = spawn_request(N, erpc, execute_call, [not_enough_args], []),
    _ = ?recv({spawn_reply, Ref2, error, notsup}),
    P = spawn(N, io, format, ["x"]),
    true = node(P) =:= node(),
    ok.

-spec spawn_links_and_monitors(config()) -> ok.
spawn_links_and_monitors(Config) ->
    doc("The process a spawn request gets is real: linked and monitored as asked, "
        "its exit reason erpc's result form."),
    N = ?config(node, Config),
    process_flag(trap_exit, true),
    Res = make_ref(),
    Ref = spawn_request(N, erpc, execute_call, [Res, probe_rpc, add, [2, 3]],
                        [link, monitor, {reply, yes}]),
    {spawn_reply, Ref, ok, Pid} = ?recv({spawn_reply, Ref, ok, _}),
    N = node(Pid),
    _ = ?recv({'DOWN', Ref, process, Pid, {Res, return, 5}}),
    _ = ?recv({'EXIT', Pid, {Res, return, 5}}),
    process_flag(trap_exit, false),
    ok.

-spec rex(config()) -> ok.
rex(Config) ->
    doc("rex: gen_server calls, the raw {From, {call, ...}} of ei_rpc, features."),
    N = ?config(node, Config),
    N = gen_server:call({rex, N}, {call, erlang, node, [], user}),
    5 = gen_server:call({rex, N}, {call, probe_rpc, add, [2, 3], user}),
    {badrpc, {'EXIT', {undef, [{no, such, [], []}]}}} =
        gen_server:call({rex, N}, {call, no, such, [], user}),
    {rex, N} ! {self(), {call, erlang, node, [], user}},
    _ = ?recv({rex, N}),
    {rex, N} ! {self(), features_request},
    _ = ?recv({features_reply, N, [erpc]}),
    ok.

-spec erl_call(config()) -> ok | {skip, string()}.
erl_call(Config) ->
    doc("OTP's erl_call (an ei C node) gets its answer from rex."),
    Exe = filename:join([code:lib_dir(erl_interface), "bin", "erl_call"]),
    case filelib:is_regular(Exe) of
        true -> erl_call(Config, Exe);
        false -> {skip, "no erl_call in this OTP installation"}
    end.

erl_call(Config, Exe) ->
    N = ?config(node, Config),
    [Short | _] = string:split(atom_to_list(N), "@"),
    Cookie = atom_to_list(erlang:get_cookie()),
    Run = fun(Apply) ->
                  Port = open_port({spawn_executable, Exe},
                                   [{args, ["-sname", Short, "-c", Cookie, "-a", Apply]},
                                    exit_status, stderr_to_stdout, binary]),
                  collect(Port, <<>>)
          end,
    {0, Node} = Run("erlang node"),
    Node = atom_to_binary(N),
    {0, <<"5">>} = Run("probe_rpc add [2,3]"),
    {0, <<"{badrpc, {'EXIT', {undef, [{no, such, [], []}]}}}">>} = Run("no such"),
    ok.

-spec init_stop(config()) -> ok.
init_stop(Config) ->
    doc("init:stop/0 answers ok, then the node stops."),
    N = ?config(node, Config),
    true = erlang:monitor_node(N, true),
    ok = rpc:call(N, init, stop, []),
    _ = ?recv({nodedown, N}),
    ok.

%% ---- helpers ------------------------------------------------------------------

doc(Text) ->
    ct:comment("~ts", [Text]).

collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> collect(Port, <<Acc/binary, D/binary>>);
        {Port, {exit_status, S}} -> {S, string:trim(Acc)}
    after ?TIMEOUT -> ct:fail({erl_call_timeout, Acc})
    end.

wait_until(F) ->
    wait_until(F, 50).
wait_until(F, 0) ->
    F() orelse ct:fail(wait_until_timed_out),
    ok;
wait_until(F, N) ->
    case F() of
        true -> ok;
        false -> timer:sleep(100), wait_until(F, N - 1)
    end.
