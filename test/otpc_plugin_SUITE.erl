%% Plug-ins and hot code upgrade on a real C node: shared objects built here
%% with `cc' from otpc_plugin_SUITE_data (nothing but otpc.h and ei.h), loaded at
%% start (`load' option, the node program's `-load') and while the node runs
%% (`otpc:load_module/2'), with every refusal's reason; two versions of a module
%% with OTP's rules (new servers on the current one, running servers moved by
%% `sys:change_code/4' with the state converted by `code_change', an error keeping
%% the old code, `not_purged', `purge_module'/`soft_purge_module'); the object
%% unmapped (read from /proc/PID/maps) only once no version from it is left; a
%% daemon whose module is upgraded serves new connections with the new code.
-module(otpc_plugin_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([load_at_start/1, load_refusals/1, hot_upgrade/1,
         code_change_error_keeps_old_code/1, not_purged_and_purge/1,
         daemon_upgrade/1]).

-type config() :: [{atom(), term()}].

-define(TIMEOUT, 10000).

-include("otpc_ct.hrl").

-spec suite() -> [tuple()].
suite() ->
    [{timetrap, {minutes, 2}}].

-spec all() -> [atom()].
all() ->
    [load_at_start, load_refusals, hot_upgrade, code_change_error_keeps_old_code,
     not_purged_and_purge, daemon_upgrade].

-spec init_per_suite(config()) -> config() | {skip, string()}.
init_per_suite(Config) ->
    case otpc_ct_node:init_per_suite(Config) of
        {skip, _} = Skip -> Skip;
        Config1 -> build_plugins(Config1)
    end.

-spec end_per_suite(config()) -> term().
end_per_suite(Config) ->
    otpc_ct_node:end_per_suite(Config).

-spec init_per_testcase(atom(), config()) -> config() | {fail, term()}.
init_per_testcase(Case, Config) ->
    Name = list_to_atom("cplug_" ++ atom_to_list(Case)),
    Load = case Case of
               load_at_start -> [so(Config, counter1)];
               _ -> []
           end,
    case otpc:start_node(#{name => Name, load => Load}) of
        {ok, Node} -> [{node, Node} | Config];
        Error -> {fail, {start_node, Name, Error}}
    end.

-spec end_per_testcase(atom(), config()) -> term().
end_per_testcase(_Case, Config) ->
    otpc:stop_node(?config(node, Config)).

%% ---- the cases ----------------------------------------------------------------

-spec load_at_start(config()) -> ok.
load_at_start(Config) ->
    doc("A plug-in given at start is loaded before anything starts; its module "
        "starts by name like a built-in one."),
    N = ?config(node, Config),
    V1 = so(Config, counter1),
    [#{vsn := <<"1">>, file := V1, old := none}] =
        [M || #{module := counter} = M <- otpc:which_modules(N)],
    #{file := built_in} = hd([M || #{module := echo} = M <- otpc:which_modules(N)]),
    {ok, P} = otpc:start(N, counter, 41, []),
    ok = gen_server:call(P, inc),
    42 = gen_server:call(P, get),
    <<"1">> = gen_server:call(P, vsn),
    %% and a node whose plug-in cannot be loaded does not start, saying why
    {error, {exit_status, _, Lines}} =
        otpc:start_node(#{name => cplug_bad_load, load => ["/nonexistent/x.so"]}),
    true = lists:any(fun(L) -> string:find(L, "-load /nonexistent/x.so: enoent") =/= nomatch end,
                     Lines),
    ok.

-spec load_refusals(config()) -> ok.
load_refusals(Config) ->
    doc("Every refusal says why, and leaves the node as it was."),
    N = ?config(node, Config),
    Before = otpc:which_modules(N),
    {error, enoent} = otpc:load_module(N, "/nonexistent/counter.so"),
    {error, not_a_file} = otpc:load_module(N, "/tmp"),
    {error, not_a_plugin} = otpc:load_module(N, so(Config, notplugin)),
    {error, {abi, 999}} = otpc:load_module(N, so(Config, badabi)),
    {error, {builtin, echo}} = otpc:load_module(N, so(Config, clash)),
    {error, {dlopen, Why}} = otpc:load_module(N, so(Config, undef)),
    true = nomatch =/= string:find(Why, "otpc_test_no_such_function"),
    {error, {dlopen, _}} = otpc:load_module(N, ?config(data_dir, Config) ++ "counter.c"),
    Before = otpc:which_modules(N),
    {error, {unknown_module, undef}} = otpc:start(N, undef, 1, []),
    ok.

-spec hot_upgrade(config()) -> ok.
hot_upgrade(Config) ->
    doc("Version 2 becomes current: new servers run it, a running server keeps "
        "version 1 until suspend, change_code (its state converted), resume."),
    N = ?config(node, Config),
    {ok, [counter]} = otpc:load_module(N, so(Config, counter1)),
    {ok, P1} = otpc:start(N, counter, 5, []),
    ok = gen_server:call(P1, inc),
    {ok, [counter]} = otpc:load_module(N, so(Config, counter2)),
    [#{vsn := <<"2">>, old := <<"1">>}] = [M || #{module := counter} = M <- otpc:which_modules(N)],
    {ok, P2} = otpc:start(N, counter, 7, []),
    <<"2">> = gen_server:call(P2, vsn),
    <<"1">> = gen_server:call(P1, vsn),
    6 = gen_server:call(P1, get),
    %% the release handler's steps
    ok = sys:suspend(P1),
    ok = sys:change_code(P1, counter, "1", []),
    ok = sys:resume(P1),
    <<"2">> = gen_server:call(P1, vsn),
    60 = gen_server:call(P1, get),
    %% nobody runs version 1 any more: a soft purge takes it
    true = otpc:soft_purge_module(N, counter),
    [#{vsn := <<"2">>, old := none}] = [M || #{module := counter} = M <- otpc:which_modules(N)],
    7 = gen_server:call(P2, get),
    ok.

-spec code_change_error_keeps_old_code(config()) -> ok.
code_change_error_keeps_old_code(Config) ->
    doc("A code_change that fails keeps the server on its old code and state, "
        "and sys:change_code returns the error."),
    N = ?config(node, Config),
    {ok, [counter]} = otpc:load_module(N, so(Config, counter1)),
    {ok, P} = otpc:start(N, counter, 3, []),
    {ok, [counter]} = otpc:load_module(N, so(Config, counter3)),
    ok = sys:suspend(P),
    {error, _} = sys:change_code(P, counter, "1", []),
    ok = sys:resume(P),
    <<"1">> = gen_server:call(P, vsn),
    3 = gen_server:call(P, get),
    ok.

-spec not_purged_and_purge(config()) -> ok.
not_purged_and_purge(Config) ->
    doc("A third version while a server runs the old one is refused (not_purged); "
        "soft_purge leaves a running old version alone, purge kills its servers; "
        "an object is unmapped once no version from it is left."),
    N = ?config(node, Config),
    {ok, OsPid} = otpc:node_os_pid(N),
    0 = mapped(OsPid),
    {ok, [counter]} = otpc:load_module(N, so(Config, counter1)),
    1 = mapped(OsPid),
    {ok, Old} = otpc:start(N, counter, 1, []),
    {ok, [counter]} = otpc:load_module(N, so(Config, counter2)),
    2 = mapped(OsPid),
    {error, {not_purged, counter}} = otpc:load_module(N, so(Config, counter3)),
    2 = mapped(OsPid),
    false = otpc:soft_purge_module(N, counter),
    <<"1">> = gen_server:call(Old, vsn),
    MRef = erlang:monitor(process, Old),
    true = otpc:purge_module(N, counter),
    _ = ?recv({'DOWN', MRef, process, Old, killed}),
    1 = mapped(OsPid),
    false = otpc:purge_module(N, counter),
    true = otpc:soft_purge_module(N, counter),
    {ok, [counter]} = otpc:load_module(N, so(Config, counter3)),
    {ok, New} = otpc:start(N, counter, 1, []),
    <<"3">> = gen_server:call(New, vsn),
    false = otpc:purge_module(N, no_such_module),
    ok.

-spec daemon_upgrade(config()) -> ok.
daemon_upgrade(Config) ->
    doc("A daemon of a plug-in module serves each new connection with the module's "
        "current version; a connection made before keeps its server's code."),
    N = ?config(node, Config),
    {ok, [counter]} = otpc:load_module(N, so(Config, counter1)),
    {ok, D} = otpc:start_daemon(N, counter, 10, #{port => 0}),
    {ok, Port} = otpc:daemon_port(D),
    {ok, C1} = otpc_client:start_link("localhost", Port, #{}),
    <<"1">> = otpc_client:call(C1, vsn),
    {ok, [counter]} = otpc:load_module(N, so(Config, counter2)),
    {ok, C2} = otpc_client:start_link("localhost", Port, #{}),
    <<"2">> = otpc_client:call(C2, vsn),
    <<"1">> = otpc_client:call(C1, vsn),
    ok = otpc_client:stop(C1),
    ok = otpc_client:stop(C2),
    ok = otpc:stop_daemon(D),
    ok.

%% ---- helpers ------------------------------------------------------------------

doc(Text) ->
    ct:comment("~ts", [Text]).

%% The plug-ins, built as a user would: cc, otpc.h and ei.h, nothing else.
build_plugins(Config) ->
    Data = ?config(data_dir, Config),
    Priv = ?config(priv_dir, Config),
    Root = filename:join([code:lib_dir(otpc), "..", "..", "..", ".."]),
    Inc = ["-I", filename:join([Root, "c_src", "include"]),
           "-I", filename:join(code:lib_dir(erl_interface), "include")],
    Builds = [{counter1, "counter.c", ["-DVSN=1"]}, {counter2, "counter.c", ["-DVSN=2"]},
              {counter3, "counter.c", ["-DVSN=3"]}, {clash, "clash.c", []},
              {notplugin, "notplugin.c", []}, {badabi, "badabi.c", []},
              {undef, "undef.c", []}],
    lists:foreach(
      fun({Name, Src, Defs}) ->
              Out = filename:join(Priv, atom_to_list(Name) ++ ".so"),
              Args = ["-shared", "-fPIC", "-Wall", "-Wextra", "-Werror"] ++ Inc ++ Defs ++
                  [filename:join(Data, Src), "-o", Out],
              {0, _} = run(os:find_executable("cc"), Args)
      end, Builds),
    [{plugins, Priv} | Config].

so(Config, Name) ->
    filename:join(?config(plugins, Config), atom_to_list(Name) ++ ".so").

run(Exe, Args) ->
    Port = open_port({spawn_executable, Exe},
                     [{args, Args}, exit_status, stderr_to_stdout, binary]),
    collect(Port, <<>>).

collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> collect(Port, <<Acc/binary, D/binary>>);
        {Port, {exit_status, 0}} -> {0, Acc};
        {Port, {exit_status, S}} -> ct:fail({cc_failed, S, Acc})
    end.

%% Private copies of plug-ins the node has mapped now.
mapped(OsPid) ->
    {ok, Maps} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/maps"),
    case re:run(Maps, "otpc-plugin-[0-9]+-[0-9]+\\.so", [global, {capture, all, binary}]) of
        nomatch -> 0;
        {match, Ms} -> length(lists:usort(Ms))
    end.
