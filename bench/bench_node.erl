%% bench_node: what the two benchmark drivers share, otpc_bench (bench/run) and
%% bench_daemon (bench/daemon_run), on the client node: the settings both read
%% from the environment; starting a server node (the C node, or a BEAM node
%% running the driver's Erlang twin of it) as a port, pinned to the server CPU,
%% recording its OS pid for the script's cleanup, waiting until it is ready and
%% stopping it; reading /proc; formatting the figures of the tables.
%%
%% A driver's config() holds the settings below plus its own. Its differences
%% are settings too: beam_module (the module `erl -s Module start_node Client`
%% starts on a BEAM server), ready (when a server counts as ready; by default
%% when its `echo' answers) and server_nofile (a lower open files limit for the
%% servers, set with prlimit; none by default). A spec's c_args are flags added to
%% the C node's command line (bench_sched's -schedulers N).
-module(bench_node).

-export([halt_after/1, config/0, env/2, env_number/2, server_specs/3,
         start/2, stop/1, echo_ready/2, deadline/1,
         proc_file/2, cpu_ticks/1,
         pinning/1, side_result/2, ratio/2, fmt/1, fmt_ratio/1]).
-export_type([config/0, spec/0, server/0]).

-type side() :: c | beam.
-type config() :: #{id := string(), only := string(), fake_c := boolean(),
                    c_exe := file:filename(), server_cpu := string(),
                    client_cpu := string(), pidfile := string(),
                    beam_flags := [string()], wait := number(),
                    ebin := file:filename(), clk_tck := pos_integer(),
                    beam_module => module(),
                    ready => fun((spec(), node()) -> true | term()),
                    server_nofile => string(),
                    atom() => term()}.
-type spec() :: #{side := side(), kind := side(), name := string(),
                  label := string(), c_args => [string()], atom() => term()}.
-type server() :: #{side := side(), kind := side(), name := string(),
                    label := string(), node := node(), owner := pid(),
                    os_pid := integer(), atom() => term()}.

%% Runs the benchmark and halts the node: 0 when it ran, 2 on a crash.
-spec halt_after(fun(() -> ok)) -> no_return().
halt_after(Run) ->
    Code = try Run() of
               ok -> 0
           catch Class:Reason:Stack ->
                   io:format(standard_error, "bench crashed: ~p:~p~n~p~n",
                             [Class, Reason, Stack]),
                   2
           end,
    erlang:halt(Code).

%%% Configuration

%% The settings both drivers read from the environment the script sets.
-spec config() -> config().
config() ->
    #{id => env("BENCH_ID", os:getpid()),
      only => env("BENCH_ONLY", ""),
      fake_c => env("BENCH_FAKE_C", "") =:= "1",
      c_exe => filename:absname(env("BENCH_C_NODE", "priv/otpc_node")),
      server_cpu => env("BENCH_SERVER_CPU", ""),
      client_cpu => env("BENCH_CLIENT_CPU", ""),
      pidfile => env("BENCH_PIDFILE", ""),
      beam_flags => string:lexemes(env("BENCH_BEAM_FLAGS", ""), " "),
      wait => env_number("BENCH_WAIT", 20),
      ebin => filename:dirname(code:which(?MODULE)),
      clk_tck => list_to_integer(string:trim(os:cmd("getconf CLK_TCK")))}.

%% The variable's value, Default when it is unset or empty.
-spec env(string(), Default) -> string() | Default.
env(Name, Default) ->
    case os:getenv(Name) of
        false -> Default;
        "" -> Default;
        Value -> Value
    end.

%% The variable as an integer or a float, Default when it is neither.
-spec env_number(string(), Default) -> number() | Default.
env_number(Name, Default) ->
    Text = env(Name, ""),
    case {string:to_integer(Text), string:to_float(Text)} of
        {{I, ""}, _} -> I;
        {_, {F, ""}} -> F;
        _ -> Default
    end.

%% The servers to run, C first, named Prefix ++ "c_" ++ Id and Prefix ++ "b_"
%% ++ Id: BENCH_FAKE_C puts a BEAM node in the C node's place, BENCH_ONLY keeps
%% one side.
-spec server_specs(string(), string(), config()) -> [spec()].
server_specs(Prefix, CLabel, #{only := Only, fake_c := Fake, id := Id}) ->
    All = [{c, #{side => c, kind => c_kind(Fake), name => Prefix ++ "c_" ++ Id,
                 label => c_label(Fake, CLabel)}},
           {beam, #{side => beam, kind => beam, name => Prefix ++ "b_" ++ Id,
                    label => "BEAM"}}],
    [Spec || {Side, Spec} <- All, Only =:= "" orelse Only =:= atom_to_list(Side)].

c_kind(true) -> beam;
c_kind(false) -> c.

c_label(true, _CLabel) -> "C (fake: BEAM)";
c_label(false, CLabel) -> CLabel.

%%% Starting and stopping server nodes

%% Starts the server node as a port and waits until it is ready (or exited, or
%% the `wait' seconds are up: then it is stopped and the reason printed).
-spec start(spec(), config()) -> {ok, server()} | {error, term()}.
start(Spec = #{name := Name, label := Label}, Cfg) ->
    Node = node_name(Name),
    {Exe, Args} = command(Spec, Cfg),
    Owner = start_owner(Name, Exe, Args),
    OsPid = receive {Owner, os_pid, P} -> P end,
    record_pid(OsPid, Cfg),
    Server = maps:merge(Spec, #{node => Node, owner => Owner, os_pid => OsPid}),
    Ready = maps:get(ready, Cfg, fun echo_ready/2),
    case wait_ready(Ready, Spec, Node, Owner, deadline(maps:get(wait, Cfg))) of
        ok ->
            {ok, Server#{os_pid := server_os_pid(Spec, Node, OsPid)}};
        {error, Why} ->
            io:format("~s (~s) not ready: ~p~n", [Label, Node, Why]),
            stop(Server),
            {error, Why}
    end.

node_name(Name) ->
    [_, Host] = string:split(atom_to_list(node()), "@"),
    list_to_atom(Name ++ "@" ++ Host).

%% The command line, pinned with taskset when the script chose a server CPU,
%% under prlimit when server_nofile asks for a lower open files limit (both
%% exec the program, so the port's OS pid stays the node's).
command(Spec, Cfg) ->
    {Exe, Args} = pinned(Spec, Cfg),
    case maps:get(server_nofile, Cfg, "") of
        "" -> {Exe, Args};
        N -> {os:find_executable("prlimit"), ["--nofile=" ++ N ++ ":" ++ N, Exe | Args]}
    end.

pinned(Spec, Cfg = #{server_cpu := ""}) ->
    unpinned(Spec, Cfg);
pinned(Spec, Cfg = #{server_cpu := Cpu}) ->
    {Exe, Args} = unpinned(Spec, Cfg),
    {os:find_executable("taskset"), ["-c", Cpu, Exe | Args]}.

unpinned(Spec = #{kind := c, name := Name}, #{c_exe := Exe}) ->
    {Exe, ["-sname", Name, "-setcookie", cookie(), "-watch_stdin",
           "-loglevel", "warning" | maps:get(c_args, Spec, [])]};
unpinned(#{kind := beam, name := Name},
         #{ebin := Ebin, beam_flags := Flags, beam_module := Module}) ->
    {os:find_executable("erl"),
     ["+B", "-sname", Name, "-setcookie", cookie(), "-noinput", "-pa", Ebin | Flags]
     ++ ["-s", atom_to_list(Module), "start_node", atom_to_list(node())]}.

cookie() ->
    atom_to_list(erlang:get_cookie()).

%% The port owner: forwards the program's output to our stderr, tells whether
%% it exited, and closes the port (the C node's stdin) when told to stop.
start_owner(Name, Exe, Args) ->
    Parent = self(),
    spawn_link(fun() ->
                       Port = open_port({spawn_executable, Exe},
                                        [{args, Args}, binary, exit_status,
                                         stderr_to_stdout, use_stdio]),
                       {os_pid, OsPid} = erlang:port_info(Port, os_pid),
                       Parent ! {self(), os_pid, OsPid},
                       owner_loop(Name, Port)
               end).

owner_loop(Name, Port) ->
    receive
        {Port, {data, Data}} ->
            io:format(standard_error, "[~s] ~s", [Name, Data]),
            owner_loop(Name, Port);
        {Port, {exit_status, Status}} ->
            exit_status_loop(Status);
        {stop, From} ->
            port_close(Port),
            From ! {self(), closed}
    end.

%% After the program exited: answer whoever asks, until told to stop.
exit_status_loop(Status) ->
    receive
        {status, From} -> From ! {self(), {exited, Status}}, exit_status_loop(Status);
        {stop, From} -> From ! {self(), closed}
    end.

record_pid(_OsPid, #{pidfile := ""}) ->
    ok;
record_pid(OsPid, #{pidfile := File}) ->
    ok = file:write_file(File, [integer_to_list(OsPid), "\n"], [append]).

%% The monotonic time in milliseconds, Seconds from now.
-spec deadline(number()) -> integer().
deadline(Seconds) ->
    erlang:monotonic_time(millisecond) + round(Seconds * 1000).

%% Asks Ready until the node is ready, the program exits or time is up.
wait_ready(Ready, Spec, Node, Owner, Deadline) ->
    case Ready(Spec, Node) of
        true -> ok;
        Other -> retry_ready(Ready, Spec, Node, Owner, Deadline, Other)
    end.

retry_ready(Ready, Spec, Node, Owner, Deadline, Last) ->
    Owner ! {status, self()},
    receive
        {Owner, {exited, Status}} -> {error, {exited, Status}}
    after 200 ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> {error, {timeout, Last}};
                false -> wait_ready(Ready, Spec, Node, Owner, Deadline)
            end
    end.

%% The default readiness test: `echo' on the node answers a call (the C node's
%% echo gen_server, or bench_echo's on a BEAM node). true, or what came instead.
-spec echo_ready(spec(), node()) -> true | term().
echo_ready(_Spec, Node) ->
    case catch gen_server:call({echo, Node}, ready, 1000) of
        ready -> true;
        Other -> Other
    end.

%% The BEAM node tells its own pid (the port's pid may be a wrapper's);
%% the C node is the port program itself (taskset and prlimit exec it).
server_os_pid(#{kind := beam}, Node, _PortPid) ->
    list_to_integer(erpc:call(Node, os, getpid, []));
server_os_pid(#{kind := c}, _Node, PortPid) ->
    PortPid.

%% Asks a BEAM node to halt, closes the port (stdin EOF stops the C node),
%% and kills the process if it is still there after 5 s.
-spec stop(server()) -> ok.
stop(#{kind := Kind, node := Node, owner := Owner, os_pid := OsPid}) ->
    Kind =:= beam andalso erpc:cast(Node, erlang, halt, [0]),
    Owner ! {stop, self()},
    receive {Owner, closed} -> ok after 5000 -> ok end,
    wait_gone(OsPid, deadline(5)).

wait_gone(OsPid, Deadline) ->
    case {alive(OsPid), erlang:monotonic_time(millisecond) > Deadline} of
        {false, _} -> ok;
        {true, true} -> os:cmd("kill -9 " ++ integer_to_list(OsPid)), ok;
        {true, false} -> timer:sleep(50), wait_gone(OsPid, Deadline)
    end.

alive(OsPid) ->
    case file:read_file(proc_file(OsPid, "stat")) of
        {ok, Stat} -> hd(stat_fields(Stat)) =/= <<"Z">>;
        {error, _} -> false
    end.

%%% /proc

%% "/proc/<OsPid>/<File>"
-spec proc_file(integer(), string()) -> string().
proc_file(OsPid, File) ->
    "/proc/" ++ integer_to_list(OsPid) ++ "/" ++ File.

%% {utime, stime} in clock ticks, fields 14 and 15 of /proc/<pid>/stat (counted
%% after the command name, which may hold spaces, so after its closing
%% parenthesis).
-spec cpu_ticks(integer()) -> {non_neg_integer(), non_neg_integer()}.
cpu_ticks(OsPid) ->
    {ok, Stat} = file:read_file(proc_file(OsPid, "stat")),
    Fields = stat_fields(Stat),
    {binary_to_integer(lists:nth(12, Fields)), binary_to_integer(lists:nth(13, Fields))}.

stat_fields(Stat) ->
    [_, Rest] = string:split(Stat, ")", trailing),
    string:lexemes(Rest, " \n").

%%% Report

%% Where the client and the servers run, for the header.
-spec pinning(config()) -> string().
pinning(#{server_cpu := "", client_cpu := ""}) ->
    "unpinned (no taskset or fewer than 2 CPUs): client and servers share CPUs";
pinning(#{server_cpu := S, client_cpu := C}) ->
    "pinned: client on CPU " ++ C ++ ", servers on CPU " ++ S.

%% The side's figures from [{Side, figures map | {error, Why}}], none without.
-spec side_result(side(), [{side(), map() | {error, term()}}]) -> map() | none.
side_result(Side, Results) ->
    case lists:keyfind(Side, 1, Results) of
        {Side, R} when is_map(R) -> R;
        _ -> none
    end.

%% C/BEAM, none unless both are numbers and BEAM's is above 0.
-spec ratio(number() | none, number() | none) -> float() | none.
ratio(C, B) when is_number(C), is_number(B), B > 0 -> C / B;
ratio(_, _) -> none.

%% A figure for the table: "-" for none, fewer decimals the larger it is.
-spec fmt(number() | none) -> string().
fmt(none) -> "-";
fmt(X) when is_integer(X) -> integer_to_list(X);
fmt(X) when X >= 1000 -> integer_to_list(round(X));
fmt(X) when X >= 10 -> float_to_list(X, [{decimals, 1}]);
fmt(X) -> float_to_list(X, [{decimals, 3}]).

-spec fmt_ratio(float() | none) -> string().
fmt_ratio(none) -> "-";
fmt_ratio(R) -> float_to_list(R, [{decimals, 2}]) ++ "x".
