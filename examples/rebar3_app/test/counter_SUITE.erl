%% The plug-in on a real C node, tested the way Erlang servers are: a node per case
%% (otpc_ct:start_node/2, like peer), gen_server calls from here, the node's log
%% and any sanitizer report collected by otpc_ct:stop_node/1.
-module(counter_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, init_per_testcase/2, end_per_testcase/2]).
-export([calls/1, upgrade/1]).

all() ->
    [calls, upgrade].

init_per_testcase(_Case, Config) ->
    otpc_ct:start_node(Config, #{name => counter_ct_c, load => [counter_app:plugin()]}).

end_per_testcase(_Case, Config) ->
    otpc_ct:stop_node(Config).

calls(Config) ->
    N = ?config(otpc_node, Config),
    {ok, P} = otpc:start(N, counter, 41, [{name, counter}]),
    {"1", 42} = gen_server:call({counter, N}, inc),
    {"1", 42} = gen_server:call(P, get),
    badarg = gen_server:call(P, what).

upgrade(Config) ->
    %% version 2 of the same source, built as the project's own build does
    N = ?config(otpc_node, Config),
    {ok, P} = otpc:start(N, counter, 1, []),
    V2 = filename:join(?config(priv_dir, Config), "counter_v2.so"),
    AppSrc = proplists:get_value(source, counter_app:module_info(compile)),
    Src = filename:join([filename:dirname(filename:dirname(AppSrc)), "c_src", "counter.c"]),
    Inc = [filename:join(code:priv_dir(otpc), "include"),
           filename:join(code:lib_dir(erl_interface), "include")],
    Cmd = lists:flatten(["cc -shared -fPIC -DVSN='\"2\"'", [[" -I", I] || I <- Inc],
                         " ", Src, " -o ", V2, " 2>&1"]),
    "" = os:cmd(Cmd),
    {ok, [counter]} = otpc:load_module(N, V2),
    ok = sys:suspend(P),
    ok = sys:change_code(P, counter, "1", []),
    ok = sys:resume(P),
    {"2", 10} = gen_server:call(P, get).
