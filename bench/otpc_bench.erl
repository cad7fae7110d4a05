%% otpc_bench: the measuring side of bench/run. Runs on the client node; starts
%% the server nodes (the C node and a BEAM node running bench_echo) as ports,
%% measures gen_server calls and casts against the `echo` process on each, and
%% prints a table of figures and C/BEAM ratios. Not a test: nothing is asserted.
%%
%% Configured from the environment that bench/run sets (see bench/README.md).
-module(otpc_bench).

-export([main/0]).

-define(CALL_TIMEOUT, 10000).
-define(SMALL, {ping, 123}).
-define(BIG_SIZE, 65536).
-define(WARMUP_CALLS, 2000).
-define(CAST_SENDERS, 4).

-type side() :: c | beam.
-type server() :: #{side := side(), label := string(), node := node(),
                    owner := pid(), os_pid := integer()}.
-type results() :: #{atom() => number() | boolean()}.

%% Runs the benchmark and halts the node: 0 when it ran, 2 on a crash.
-spec main() -> no_return().
main() ->
    Code = try run(config()) of
               ok -> 0
           catch Class:Reason:Stack ->
                   io:format(standard_error, "bench crashed: ~p:~p~n~p~n",
                             [Class, Reason, Stack]),
                   2
           end,
    erlang:halt(Code).

%%% Configuration

config() ->
    Id = env("BENCH_ID", os:getpid()),
    #{id => Id,
      seconds => env_number("BENCH_SECONDS", 3),
      only => env("BENCH_ONLY", ""),
      fake_c => env("BENCH_FAKE_C", "") =:= "1",
      c_exe => filename:absname(env("BENCH_C_NODE", "priv/otpc_node")),
      server_cpu => env("BENCH_SERVER_CPU", ""),
      client_cpu => env("BENCH_CLIENT_CPU", ""),
      pidfile => env("BENCH_PIDFILE", ""),
      beam_flags => string:lexemes(env("BENCH_BEAM_FLAGS", ""), " "),
      wait => env_number("BENCH_WAIT", 20),
      seq_calls => env_number("BENCH_CALLS", 20000),
      casts => env_number("BENCH_CASTS", 200000),
      ebin => filename:dirname(code:which(?MODULE)),
      clk_tck => list_to_integer(string:trim(os:cmd("getconf CLK_TCK")))}.

env(Name, Default) ->
    case os:getenv(Name) of
        false -> Default;
        Value -> Value
    end.

env_number(Name, Default) ->
    Text = env(Name, ""),
    case {string:to_integer(Text), string:to_float(Text)} of
        {{I, ""}, _} -> I;
        {_, {F, ""}} -> F;
        _ -> Default
    end.

%%% The run

run(Cfg) ->
    print_header(Cfg),
    Specs = server_specs(Cfg),
    Servers = [start_server(Spec, Cfg) || Spec <- Specs],
    try
        Results = [{Side, measure_side(S, Cfg)} || {Side, S} <- Servers],
        print_report(Results)
    after
        [stop_server(S) || {_, S = #{owner := _}} <- Servers]
    end,
    ok.

server_specs(#{only := Only, fake_c := Fake, id := Id}) ->
    All = [{c, #{side => c, kind => c_kind(Fake), name => "bc_" ++ Id,
                 label => c_label(Fake)}},
           {beam, #{side => beam, kind => beam, name => "bb_" ++ Id, label => "BEAM"}}],
    [Spec || {Side, Spec} <- All, Only =:= "" orelse Only =:= atom_to_list(Side)].

c_kind(true) -> beam;
c_kind(false) -> c.

c_label(true) -> "C (fake: BEAM)";
c_label(false) -> "C node".

%% A server that failed to start is carried as {error, Why} and reported.
measure_side({error, Why}, _Cfg) ->
    {error, Why};
measure_side(Server = #{label := Label}, Cfg) ->
    io:format("measuring ~s (~s, os pid ~b)...~n",
              [Label, maps:get(node, Server), maps:get(os_pid, Server)]),
    try measure(Server, Cfg)
    catch Class:Reason ->
            io:format("  ~s failed: ~p:~P~n", [Label, Class, Reason, 20]),
            {error, Reason}
    end.

%%% Starting and stopping server nodes

start_server(Spec = #{side := Side, name := Name}, Cfg) ->
    Node = node_name(Name),
    {Exe, Args} = command(Spec, Cfg),
    Owner = start_owner(Name, Exe, Args),
    OsPid = receive {Owner, os_pid, P} -> P end,
    record_pid(OsPid, Cfg),
    Server = maps:merge(Spec, #{node => Node, owner => Owner, os_pid => OsPid}),
    case wait_ready(Node, Owner, deadline(maps:get(wait, Cfg))) of
        ok -> {Side, Server#{os_pid := server_os_pid(Spec, Node, OsPid)}};
        {error, Why} ->
            io:format("~s (~s) not ready: ~p~n", [maps:get(label, Spec), Node, Why]),
            stop_server(Server),
            {Side, {error, Why}}
    end.

node_name(Name) ->
    [_, Host] = string:split(atom_to_list(node()), "@"),
    list_to_atom(Name ++ "@" ++ Host).

%% The command line, pinned with taskset when bench/run chose a server CPU.
command(Spec, Cfg = #{server_cpu := ""}) ->
    unpinned(Spec, Cfg);
command(Spec, Cfg = #{server_cpu := Cpu}) ->
    {Exe, Args} = unpinned(Spec, Cfg),
    {os:find_executable("taskset"), ["-c", Cpu, Exe | Args]}.

unpinned(#{kind := c, name := Name}, #{c_exe := Exe}) ->
    {Exe, ["-sname", Name, "-setcookie", cookie(), "-watch_stdin",
           "-loglevel", "warning"]};
unpinned(#{kind := beam, name := Name}, #{ebin := Ebin, beam_flags := Flags}) ->
    {os:find_executable("erl"),
     ["+B", "-sname", Name, "-setcookie", cookie(), "-noinput", "-pa", Ebin | Flags]
     ++ ["-s", "bench_echo", "start_node", atom_to_list(node())]}.

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

deadline(Seconds) ->
    erlang:monotonic_time(millisecond) + round(Seconds * 1000).

%% Polls `echo` on Node until it answers, the program exits or time is up.
wait_ready(Node, Owner, Deadline) ->
    case catch gen_server:call({echo, Node}, ready, 1000) of
        ready -> ok;
        Other -> retry_ready(Node, Owner, Deadline, Other)
    end.

retry_ready(Node, Owner, Deadline, Last) ->
    Owner ! {status, self()},
    receive
        {Owner, {exited, Status}} -> {error, {exited, Status}}
    after 200 ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> {error, {timeout, Last}};
                false -> wait_ready(Node, Owner, Deadline)
            end
    end.

%% The BEAM node tells its own pid (the port's pid may be a wrapper's);
%% the C node is the port program itself (taskset execs it).
server_os_pid(#{kind := beam}, Node, _PortPid) ->
    list_to_integer(rpc:call(Node, os, getpid, []));
server_os_pid(#{kind := c}, _Node, PortPid) ->
    PortPid.

%% Asks a BEAM node to halt, closes the port (stdin EOF stops the C node),
%% and kills the process if it is still there after 5 s.
stop_server(#{kind := Kind, node := Node, owner := Owner, os_pid := OsPid}) ->
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
    case file:read_file(stat_path(OsPid)) of
        {ok, Stat} -> stat_state(Stat) =/= <<"Z">>;
        {error, _} -> false
    end.

%%% Measurements

-spec measure(server(), map()) -> results().
measure(#{node := Node, os_pid := OsPid}, Cfg = #{seconds := Secs}) ->
    Dest = {echo, Node},
    Big = crypto:strong_rand_bytes(?BIG_SIZE),
    warm_up(Dest, Big),
    {P50, P99} = latency(Dest, maps:get(seq_calls, Cfg)),
    C1 = rate(call_run(Dest, ?SMALL, 1, Secs)),
    C8 = rate(call_run(Dest, ?SMALL, 8, Secs)),
    {Run64, Cpu} = with_cpu([OsPid, list_to_integer(os:getpid())], Cfg,
                            fun() -> call_run(Dest, ?SMALL, 64, Secs) end),
    {Casts, CastsOk} = casts(Dest, maps:get(casts, Cfg)),
    BigRate = rate(call_run(Dest, Big, 8, Secs)),
    maps:merge(#{p50 => P50, p99 => P99, c1 => C1, c8 => C8, c64 => rate(Run64),
                 cpu100k => cpu_per_100k(Cpu, Run64), casts => Casts,
                 casts_ok => CastsOk, big => BigRate},
               utilisation(Cpu, Run64)).

warm_up(Dest, Big) ->
    [gen_server:call(Dest, ?SMALL, ?CALL_TIMEOUT) || _ <- lists:seq(1, ?WARMUP_CALLS)],
    case gen_server:call(Dest, Big, ?CALL_TIMEOUT) of
        Big -> ok;
        _ -> io:format("  warning: the 64 KiB reply differs from the request~n")
    end.

%% Sequential calls, one at a time: {p50, p99} in microseconds.
latency(Dest, N) ->
    Times = lists:sort([time_call(Dest) || _ <- lists:seq(1, N)]),
    {to_us(percentile(Times, 0.50)), to_us(percentile(Times, 0.99))}.

time_call(Dest) ->
    T0 = erlang:monotonic_time(),
    _ = gen_server:call(Dest, ?SMALL, ?CALL_TIMEOUT),
    erlang:monotonic_time() - T0.

percentile(Sorted, P) ->
    lists:nth(max(1, ceil(P * length(Sorted))), Sorted).

to_us(Native) ->
    erlang:convert_time_unit(Native, native, nanosecond) / 1000.

%% Callers processes calling in a loop for Secs seconds:
%% {completed calls, elapsed seconds until the last caller finished}.
call_run(Dest, Req, Callers, Secs) ->
    Pids = [spawn_link(caller(self(), Dest, Req)) || _ <- lists:seq(1, Callers)],
    Start = erlang:monotonic_time(),
    Deadline = Start + erlang:convert_time_unit(round(Secs * 1000), millisecond, native),
    [Pid ! {go, Deadline} || Pid <- Pids],
    collect(Pids, Start, 0, Start).

caller(Parent, Dest, Req) ->
    fun() ->
            receive {go, Deadline} -> ok end,
            N = call_loop(Dest, Req, Deadline, 0),
            Parent ! {done, self(), N, erlang:monotonic_time()}
    end.

call_loop(Dest, Req, Deadline, N) ->
    case erlang:monotonic_time() < Deadline of
        true ->
            _ = gen_server:call(Dest, Req, ?CALL_TIMEOUT),
            call_loop(Dest, Req, Deadline, N + 1);
        false ->
            N
    end.

collect([], Start, Total, End) ->
    {Total, seconds(End - Start)};
collect(Pids, Start, Total, End) ->
    receive
        {done, Pid, N, T} ->
            collect(lists:delete(Pid, Pids), Start, Total + N, max(End, T))
    end.

seconds(Native) ->
    erlang:convert_time_unit(Native, native, microsecond) / 1.0e6.

rate({Calls, Secs}) ->
    Calls / Secs.

%% N casts from ?CAST_SENDERS processes; each then calls '$stats', which
%% returns only after its casts were handled (same connection, in order).
%% {casts/s, whether the server's cast count grew by exactly N}.
casts(Dest, N) ->
    Before = cast_count(Dest),
    Per = N div ?CAST_SENDERS,
    Pids = [spawn_link(cast_sender(self(), Dest, Per)) || _ <- lists:seq(1, ?CAST_SENDERS)],
    Start = erlang:monotonic_time(),
    [Pid ! {go, Start} || Pid <- Pids],
    {Sent, Secs} = collect(Pids, Start, 0, Start),
    Grew = cast_count(Dest) - Before,
    Grew =:= Sent orelse io:format("  warning: sent ~b casts, server counted ~b~n",
                                   [Sent, Grew]),
    {Sent / Secs, Grew =:= Sent}.

cast_sender(Parent, Dest, N) ->
    fun() ->
            receive {go, _} -> ok end,
            cast_loop(Dest, N),
            _ = gen_server:call(Dest, '$stats', ?CALL_TIMEOUT),
            Parent ! {done, self(), N, erlang:monotonic_time()}
    end.

cast_loop(_Dest, 0) ->
    ok;
cast_loop(Dest, N) ->
    gen_server:cast(Dest, ?SMALL),
    cast_loop(Dest, N - 1).

cast_count(Dest) ->
    #{casts := N} = gen_server:call(Dest, '$stats', ?CALL_TIMEOUT),
    N.

%%% CPU time from /proc

%% Runs Fun; returns its result and the CPU seconds each of OsPids used.
with_cpu(OsPids, #{clk_tck := Tck}, Fun) ->
    Before = [cpu_ticks(P) || P <- OsPids],
    Result = Fun(),
    After = [cpu_ticks(P) || P <- OsPids],
    {Result, [(A - B) / Tck || {A, B} <- lists:zip(After, Before)]}.

%% utime + stime, fields 14 and 15 of /proc/<pid>/stat (counted after the
%% command name, which may hold spaces, so after its closing parenthesis).
cpu_ticks(OsPid) ->
    {ok, Stat} = file:read_file(stat_path(OsPid)),
    Fields = stat_fields(Stat),
    binary_to_integer(lists:nth(12, Fields)) + binary_to_integer(lists:nth(13, Fields)).

stat_path(OsPid) ->
    "/proc/" ++ integer_to_list(OsPid) ++ "/stat".

stat_fields(Stat) ->
    [_, Rest] = string:split(Stat, ")", trailing),
    string:lexemes(Rest, " \n").

stat_state(Stat) ->
    hd(stat_fields(Stat)).

cpu_per_100k([ServerCpu, _ClientCpu], {Calls, _}) ->
    ServerCpu / Calls * 100000.

utilisation([ServerCpu, ClientCpu], {_, Secs}) ->
    #{server_util => 100 * ServerCpu / Secs, client_util => 100 * ClientCpu / Secs}.

%%% Report

print_header(Cfg = #{seconds := Secs}) ->
    io:format("otpc bench: ~s, OTP ~s, ~s s per concurrent run, ~b sequential calls, "
              "~b casts~n",
              [node(), erlang:system_info(otp_release), fmt(Secs),
               maps:get(seq_calls, Cfg), maps:get(casts, Cfg)]),
    io:format("~s~n", [pinning(Cfg)]).

pinning(#{server_cpu := "", client_cpu := ""}) ->
    "unpinned (no taskset or fewer than 2 CPUs): client and servers share CPUs";
pinning(#{server_cpu := S, client_cpu := C}) ->
    "pinned: client on CPU " ++ C ++ ", servers on CPU " ++ S.

%% {key, row label, goal} for each line; a goal is {Op, C/BEAM bound}.
rows() ->
    [{p50, "sequential call p50 (us)", {'=<', 0.7}},
     {p99, "sequential call p99 (us)", none},
     {c1, "calls/s, 1 caller", none},
     {c8, "calls/s, 8 callers", none},
     {c64, "calls/s, 64 callers", {'>=', 1.5}},
     {cpu100k, "server CPU s per 100k calls", {'=<', 0.1}},
     {server_util, "server CPU %, 64 callers", none},
     {client_util, "client CPU %, 64 callers", none},
     {casts, "casts/s", {'>=', 1.0}},
     {big, "64 KiB calls/s, 8 callers", {'>=', 1.0}}].

print_report(Results) ->
    C = side_result(c, Results),
    Beam = side_result(beam, Results),
    io:format("~n~-30s ~12s ~12s ~8s  ~s~n",
              ["", column_label(c, Results), "BEAM", "C/BEAM", "goal"]),
    [print_row(Row, C, Beam) || Row <- rows()],
    print_cast_checks(Results),
    ok.

side_result(Side, Results) ->
    case lists:keyfind(Side, 1, Results) of
        {Side, R} when is_map(R) -> R;
        _ -> none
    end.

column_label(c, _Results) ->
    case os:getenv("BENCH_FAKE_C") of
        "1" -> "C (fake)";
        _ -> "C node"
    end.

print_row({Key, Label, Goal}, C, Beam) ->
    Cv = value(Key, C),
    Bv = value(Key, Beam),
    Ratio = ratio(Cv, Bv),
    Line = io_lib:format("~-30s ~12s ~12s ~8s  ~s",
                         [Label, fmt(Cv), fmt(Bv), fmt_ratio(Ratio), fmt_goal(Goal, Ratio)]),
    io:format("~s~n", [string:trim(Line, trailing)]).

value(_Key, none) -> none;
value(Key, Results) -> maps:get(Key, Results).

ratio(C, B) when is_number(C), is_number(B), B > 0 -> C / B;
ratio(_, _) -> none.

fmt(none) -> "-";
fmt(X) when is_integer(X) -> integer_to_list(X);
fmt(X) when X >= 1000 -> integer_to_list(round(X));
fmt(X) when X >= 10 -> float_to_list(X, [{decimals, 1}]);
fmt(X) -> float_to_list(X, [{decimals, 3}]).

fmt_ratio(none) -> "-";
fmt_ratio(R) -> float_to_list(R, [{decimals, 2}]) ++ "x".

fmt_goal(none, _Ratio) -> "";
fmt_goal({Op, Bound}, Ratio) ->
    Goal = io_lib:format("~s ~.1fx", [op(Op), Bound]),
    [Goal | met(Op, Bound, Ratio)].

op('=<') -> "<=";
op('>=') -> ">=".

met(_Op, _Bound, none) -> "";
met('=<', Bound, Ratio) when Ratio =< Bound -> "  met";
met('>=', Bound, Ratio) when Ratio >= Bound -> "  met";
met(_Op, _Bound, _Ratio) -> "  NOT met".

print_cast_checks(Results) ->
    [io:format("~s: cast count check failed (see warning above)~n", [Side])
     || {Side, #{casts_ok := false}} <- Results],
    [io:format("~s: no figures (~P)~n", [Side, Why, 12])
     || {Side, {error, Why}} <- Results],
    ok.
