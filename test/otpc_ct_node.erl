%% The suite setup every otpc common_test suite shares: the suites drive real
%% C nodes, which need this test node to be distributed (run them with
%% `rebar3 ct --sname otpc_ct') and the otpc application running (it owns
%% the nodes' servers and registry). A suite calls these from its own
%% init_per_suite/end_per_suite and adds its own setup around them.
%%
%% The suites' nodes run the test node program (c_src/build/otpc_test_node:
%% priv/otpc_node plus the probes, which the shipped program does not carry),
%% unless $OTPC_NODE_EXECUTABLE names another (a sanitizer build, say), which
%% otpc:start_node/1 honours by itself; the program is logged here.
-module(otpc_ct_node).

-export([init_per_suite/1, init_per_suite/2, end_per_suite/1]).
-export([start_case_node/3, stop_case_node/1]).

-type config() :: [{atom(), term()}].
-type opts() :: #{distributed => boolean()}.
%% `distributed' (default true): skip the suite unless this node is
%% distributed. A suite that starts no C node (otpc_client_SUITE plays the
%% server itself) says false.

%% @doc `init_per_suite(Config, #{})'.
-spec init_per_suite(config()) -> config() | {skip, string()}.
init_per_suite(Config) ->
    init_per_suite(Config, #{}).

%% @doc Skips the suite if it needs a distributed node and this one is not;
%% otherwise starts otpc and returns `Config'.
-spec init_per_suite(config(), opts()) -> config() | {skip, string()}.
init_per_suite(Config, Opts) ->
    case maps:get(distributed, Opts, true) andalso not is_alive() of
        true ->
            {skip, "needs a distributed test node: rebar3 ct --sname otpc_ct"};
        false ->
            ok = use_test_node(),
            {ok, _} = application:ensure_all_started(otpc),
            ct:log("node program: ~ts",
                   [maps:get(executable, otpc_node_opts:context())]),
            Config
    end.

%% @doc Stops otpc, and with it every node a case left running.
-spec end_per_suite(config()) -> ok.
end_per_suite(_Config) ->
    case application:stop(otpc) of
        ok -> ok;
        {error, {not_started, otpc}} -> ok
    end.

%% $OTPC_NODE_EXECUTABLE, unless set: the test node program of this checkout
%% (rebar3 runs the suites from _build/test/lib/otpc, four levels below it).
use_test_node() ->
    case os:getenv("OTPC_NODE_EXECUTABLE") of
        false ->
            Root = filename:join([code:lib_dir(otpc), "..", "..", "..", ".."]),
            Exe = filename:absname(filename:join([Root, "c_src", "build", "otpc_test_node"])),
            case filelib:is_regular(Exe) of
                true -> true = os:putenv("OTPC_NODE_EXECUTABLE", Exe), ok;
                false -> error({no_test_node_program, Exe, "run make -C c_src first"})
            end;
        _ ->
            ok
    end.

%% @doc A C node for one case, named `<Prefix><Case>_<os pid>' (the OS pid lets test
%% runs share the host's epmd) and started with `Args': `{ok, Node}', or the
%% `{fail, ...}' for init_per_testcase to return.
-spec start_case_node(string(), atom(), [string()]) -> {ok, node()} | {fail, term()}.
start_case_node(Prefix, Case, Args) ->
    Name = list_to_atom(lists:concat([Prefix, Case, "_", os:getpid()])),
    case otpc:start_node(#{name => Name, args => Args}) of
        {ok, Node} -> {ok, Node};
        Error -> {fail, {start_node, Name, Error}}
    end.

%% @doc Stops the case's node, which a case may already have stopped or killed.
-spec stop_case_node(config()) -> ok.
stop_case_node(Config) ->
    _ = (catch otpc:stop_node(proplists:get_value(node, Config))),
    ok.
