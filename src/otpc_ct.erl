%% @doc Common Test support for projects that test their own C servers: start
%% a C node that loads their plug-ins, as `peer' starts an Erlang one, and at
%% the end stop it and check what it left behind.
%%
%% ```
%% init_per_testcase(_Case, Config) ->
%%     Plugin = filename:join(code:priv_dir(my_app), "counter.so"),
%%     otpc_ct:start_node(Config, #{name => c1, load => [Plugin]}).
%%
%% end_per_testcase(_Case, Config) ->
%%     otpc_ct:stop_node(Config).
%% '''
%%
%% The node is `?config(otpc_node, Config)'. Every line it logs goes to
%% `<name>.log' in the case's (or suite's) `priv_dir', so the common_test
%% logs keep it. A node program built with a sanitizer (`executable' option,
%% or `$OTPC_NODE_EXECUTABLE') writes its reports into the same directory
%% (ASAN_OPTIONS / UBSAN_OPTIONS `log_path'); `stop_node/1' returns
%% `{fail, {sanitizer_reports, Files}}' if there are any, which common_test
%% turns into a failed case. Needs a distributed test node
%% (`rebar3 ct --sname ct').
-module(otpc_ct).

-export([start_node/2, stop_node/1]).

-type config() :: [{atom(), term()}].

%% @doc Starts otpc (if needed) and a node with `Opts' (`otpc:start_opts()'),
%% its log and sanitizer reports going to `priv_dir'. Returns `Config' with
%% `{otpc_node, Node}' and `{otpc_node_dir, PrivDir}', or `{fail, Reason}'.
-spec start_node(config(), otpc:start_opts()) -> config() | {fail, term()}.
start_node(Config, #{name := Name} = Opts) ->
    Dir = proplists:get_value(priv_dir, Config),
    {ok, _} = application:ensure_all_started(otpc),
    San = filename:join(Dir, atom_to_list(Name) ++ ".san"),
    Env = [{"ASAN_OPTIONS", "detect_leaks=0:log_path=" ++ San},
           {"UBSAN_OPTIONS", "print_stacktrace=1:log_path=" ++ San}],
    Handler = handler(Name),
    Log = filename:join(Dir, atom_to_list(Name) ++ ".log"),
    _ = logger:remove_handler(Handler),
    ok = logger:add_handler(Handler, logger_std_h,
                            #{config => #{file => Log},
                              filter_default => stop,
                              filters => [{node, {fun only_node/2, Name}}],
                              formatter => {logger_formatter,
                                            #{single_line => true,
                                              template => [time, " ", level, " ", msg, "\n"]}}}),
    case otpc:start_node(Opts#{env => maps:get(env, Opts, []) ++ Env}) of
        {ok, Node} ->
            [{otpc_node, Node}, {otpc_node_dir, Dir} | Config];
        {error, Reason} ->
            _ = logger:remove_handler(Handler),
            {fail, {otpc_start_node, Name, Reason}}
    end.

%% @doc Stops the node of `start_node/2' and looks for sanitizer reports.
-spec stop_node(config()) -> ok | {fail, term()}.
stop_node(Config) ->
    Node = proplists:get_value(otpc_node, Config),
    Dir = proplists:get_value(otpc_node_dir, Config),
    _ = otpc:stop_node(Node),
    [Name | _] = string:split(atom_to_list(Node), "@"),
    _ = logger:remove_handler(handler(list_to_atom(Name))),
    case filelib:wildcard(Name ++ ".san*", Dir) of
        [] -> ok;
        Reports -> {fail, {sanitizer_reports, [filename:join(Dir, R) || R <- Reports]}}
    end.

handler(Name) ->
    list_to_atom("otpc_ct_" ++ atom_to_list(Name)).

%% Only the lines of the node Name@Host.
only_node(#{meta := #{otpc_node := Node}} = Event, Name) ->
    [N | _] = string:split(atom_to_list(Node), "@"),
    case N =:= atom_to_list(Name) of
        true -> Event;
        false -> stop
    end;
only_node(_Event, _Name) ->
    stop.
