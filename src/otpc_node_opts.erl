%% @doc The options of `otpc:start_node/1' checked and turned into what the
%% node program is run with.
%%
%% Everything here is pure but `context/0', which gathers the facts about
%% the calling node that the rest takes as an argument. Invariants:
%%
%% <ul>
%% <li>Nothing is spawned for options that fail `validate/1'; an unknown key
%%   is `{badopt, Key}', a bad value `{badopt, {Key, Value}}'.</li>
%% <li>The node takes the host of the calling node: with short names erl and
%%   the C node agree on it (both cut gethostname() at the first dot); with
%%   long names it is given in full.</li>
%% <li>The cookie goes to the node's environment (`OTPC_COOKIE'), never to
%%   its argv, where any local user could read it from `/proc'.</li>
%% <li>The node always runs with `-watch_stdin': closing its port stops
%%   it.</li>
%% <li>The node speaks the calling node's distribution: a caller run with
%%   `-proto_dist inet_tls' passes it on, with its `-ssl_dist_optfile' or
%%   `-ssl_dist_opt' arguments, unless the options' `args' name a
%%   `-proto_dist' of their own (a node that could not reach its starter
%%   would never answer the ping that confirms its start).</li>
%% </ul>
-module(otpc_node_opts).

-export([validate/1, config/2, context/0, port_args/1, port_env/1]).
-export_type([config/0, context/0]).

-type config() :: #{node := node(),
                    name_args := [string()],
                    cookie := atom(),
                    args := [string()],
                    env := [{string(), string()}],
                    timeout := pos_integer(),
                    executable := file:filename_all()}.
%% What `otpc_node' gets once the user's options are checked.
%% `name_args' is `["-sname", Name]' or `["-name", Name ++ "@" ++ Host]'.

-type context() :: #{node := node(),
                     longnames := boolean(),
                     cookie := atom(),
                     executable := file:filename_all(),
                     dist_args => [string()]}.
%% The calling node: its name, whether it uses long names, its cookie, the
%% node program to run when the options name none, and the arguments that
%% select its distribution carrier (`[]' for the default, plain TCP).

-define(DEFAULT_TIMEOUT, 10000).

%% @doc Checks the user's options (see `otpc:start_opts()') without
%% building anything.
-spec validate(term()) -> ok | {error, {badopt, term()}}.
validate(Opts) when is_map(Opts) ->
    case maps:is_key(name, Opts) of
        false -> {error, {badopt, {name, missing}}};
        true -> check(maps:to_list(Opts))
    end;
validate(Opts) ->
    {error, {badopt, Opts}}.

%% @doc The checked options as an `otpc_node' config, with the defaults
%% (cookie and executable from `Context', args `[]', timeout 10000 ms)
%% filled in.
-spec config(term(), context()) -> {ok, config()} | {error, {badopt, term()}}.
config(Opts, Context) ->
    case validate(Opts) of
        ok -> {ok, build(Opts, Context)};
        {error, _} = Error -> Error
    end.

%% @doc The facts about the calling node that `config/2' needs. The default
%% executable is the application environment key `executable', else
%% $OTPC_NODE_EXECUTABLE (a sanitizer build, say), else `priv/otpc_node';
%% so call this once the application is loaded.
-spec context() -> context().
context() ->
    Exe = case {application:get_env(otpc, executable),
                os:getenv("OTPC_NODE_EXECUTABLE")} of
              {{ok, Path}, _} -> Path;
              {undefined, Env} when Env =/= false, Env =/= "" -> Env;
              {undefined, _} -> filename:join(code:priv_dir(otpc), "otpc_node")
          end,
    #{node => node(),
      longnames => net_kernel:longnames() =:= true,
      cookie => erlang:get_cookie(),
      executable => Exe,
      dist_args => dist_args()}.

%% The carriers the node program speaks, as erl names them; a caller on
%% another (its own module, say) passes nothing on.
dist_args() ->
    case init:get_argument(proto_dist) of
        {ok, [[Proto]]} when Proto =:= "inet_tls"; Proto =:= "inet6_tls" ->
            ["-proto_dist", Proto] ++ ssl_dist_args();
        {ok, [[Proto]]} when Proto =:= "inet6_tcp" ->
            ["-proto_dist", Proto];
        _ ->
            []
    end.

ssl_dist_args() ->
    File = case init:get_argument(ssl_dist_optfile) of
               {ok, [[F]]} -> ["-ssl_dist_optfile", F];
               _ -> []
           end,
    Opts = case init:get_argument(ssl_dist_opt) of
               {ok, Lists} -> ["-ssl_dist_opt" | lists:append(Lists)];
               error -> []
           end,
    File ++ Opts.

%% @doc The node program's argv (after its name).
-spec port_args(config()) -> [string()].
port_args(#{name_args := NameArgs, args := Args}) ->
    NameArgs ++ ["-watch_stdin" | Args].

%% @doc The node program's environment additions.
-spec port_env(config()) -> [{string(), string()}].
port_env(#{cookie := Cookie} = Config) ->
    maps:get(env, Config, []) ++ [{"OTPC_COOKIE", atom_to_list(Cookie)}].

%% ---------------------------------------------------------------------

check([]) ->
    ok;
check([{Key, Value} | Rest]) ->
    case valid(Key, Value) of
        true -> check(Rest);
        false -> {error, {badopt, {Key, Value}}};
        unknown -> {error, {badopt, Key}}
    end.

valid(name, Name) ->
    is_atom(Name) andalso Name =/= '' andalso
        not lists:member($@, atom_to_list(Name));
valid(cookie, Cookie) ->
    is_atom(Cookie);
valid(args, Args) ->
    is_list(Args) andalso lists:all(fun io_lib:char_list/1, Args);
valid(env, Env) ->
    is_list(Env) andalso
        lists:all(fun({K, V}) -> io_lib:char_list(K) andalso io_lib:char_list(V);
                     (_) -> false
                  end, Env);
valid(load, Paths) ->
    is_list(Paths) andalso lists:all(fun(P) -> io_lib:char_list(P) orelse is_binary(P) end,
                                     Paths);
valid(timeout, Timeout) ->
    is_integer(Timeout) andalso Timeout > 0;
valid(executable, default) ->
    true;
valid(executable, Exe) ->
    io_lib:char_list(Exe) orelse is_binary(Exe);
valid(_Key, _Value) ->
    unknown.

build(#{name := Name} = Opts, #{node := Self, longnames := Longnames} = Context) ->
    [_, Host] = string:split(atom_to_list(Self), "@"),
    NodeName = atom_to_list(Name) ++ "@" ++ Host,
    NameArgs = case Longnames of
                   true -> ["-name", NodeName];
                   false -> ["-sname", atom_to_list(Name)]
               end,
    Exe = case maps:get(executable, Opts, default) of
              default -> maps:get(executable, Context);
              Given -> Given
          end,
    Args = maps:get(args, Opts, []),
    Dist = case lists:member("-proto_dist", Args) of
               true -> [];
               false -> maps:get(dist_args, Context, [])
           end,
    #{node => list_to_atom(NodeName),
      name_args => NameArgs,
      cookie => maps:get(cookie, Opts, maps:get(cookie, Context)),
      args => Dist ++ [A || P <- maps:get(load, Opts, []),
                            A <- ["-load", unicode:characters_to_list(P)]] ++ Args,
      env => maps:get(env, Opts, []),
      timeout => maps:get(timeout, Opts, ?DEFAULT_TIMEOUT),
      executable => Exe}.
