%% otpc_bench: the measuring side of bench/run. Runs on the client node; starts
%% the server nodes (the C node and a BEAM node running bench_echo) as ports,
%% with bench_node, measures gen_server calls and casts against the `echo`
%% process on each, and prints a table of figures and C/BEAM ratios. Not a
%% test: nothing is asserted.
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
    bench_node:halt_after(fun() -> run(config()) end).

%%% Configuration

%% The settings bench_node reads, the BEAM server's module, and this bench's own.
config() ->
    maps:merge(bench_node:config(),
               #{beam_module => bench_echo,
                 seconds => bench_node:env_number("BENCH_SECONDS", 3),
                 seq_calls => bench_node:env_number("BENCH_CALLS", 20000),
                 casts => bench_node:env_number("BENCH_CASTS", 200000)}).

%%% The run

run(Cfg) ->
    print_header(Cfg),
    Specs = bench_node:server_specs("b", "C node", Cfg),
    Servers = [start_server(Spec, Cfg) || Spec <- Specs],
    try
        Results = [{Side, measure_side(S, Cfg)} || {Side, S} <- Servers],
        print_report(Results)
    after
        [bench_node:stop(S) || {_, S = #{owner := _}} <- Servers]
    end,
    ok.

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

%%% Starting server nodes

%% {Side, the server}, or {Side, {error, Why}} when it did not start: each
%% server's `echo` (the C node's, or bench_echo's) answers when it is ready.
start_server(Spec = #{side := Side}, Cfg) ->
    case bench_node:start(Spec, Cfg) of
        {ok, Server} -> {Side, Server};
        {error, Why} -> {Side, {error, Why}}
    end.

%%% Measurements

-spec measure(server(), map()) -> results().
measure(#{node := Node, os_pid := OsPid}, Cfg = #{seconds := Secs}) ->
    Dest = {echo, Node},
    Big = crypto:strong_rand_bytes(?BIG_SIZE),
    warm_up(Dest, Big),
    Seq = maps:get(seq_calls, Cfg),
    {{{P50, P99}, {Out, In}}, [SeqCpu]} =
        with_cpu([OsPid], Cfg,
                 fun() -> with_octets(Node, fun() -> latency(Dest, Seq) end) end),
    C1 = rate(call_run(Dest, ?SMALL, 1, Secs)),
    C8 = rate(call_run(Dest, ?SMALL, 8, Secs)),
    {Run64, Cpu} = with_cpu([OsPid, list_to_integer(os:getpid())], Cfg,
                            fun() -> call_run(Dest, ?SMALL, 64, Secs) end),
    {Casts, CastsOk} = casts(Dest, maps:get(casts, Cfg)),
    BigRate = rate(call_run(Dest, Big, 8, Secs)),
    maps:merge(#{p50 => P50, p99 => P99, c1 => C1, c8 => C8, c64 => rate(Run64),
                 cpu100k => cpu_per_100k(Cpu, Run64), per_core => per_core(Cpu, Run64),
                 casts => Casts,
                 casts_ok => CastsOk, big => BigRate,
                 bytes_out => per_call(Out, Seq), bytes_in => per_call(In, Seq),
                 seq_cpu => SeqCpu / Seq * 1.0e6},
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

%%% Bytes on the distribution connection

%% Runs Fun; returns its result and the bytes this node sent to and received from
%% Node over their connection meanwhile ({none, none} where the connection is not
%% a port, as with a -proto_dist of another kind). Ticks count too: a few bytes
%% every 15 s.
with_octets(Node, Fun) ->
    Before = octets(Node),
    Result = Fun(),
    After = octets(Node),
    {Result, octets_diff(After, Before)}.

octets(Node) ->
    case lists:keyfind(Node, 1, erlang:system_info(dist_ctrl)) of
        {Node, Port} when is_port(Port) ->
            case inet:getstat(Port, [send_oct, recv_oct]) of
                {ok, Stats} ->
                    {proplists:get_value(send_oct, Stats), proplists:get_value(recv_oct, Stats)};
                {error, _} ->
                    none
            end;
        _ ->
            none
    end.

octets_diff({S1, R1}, {S0, R0}) -> {S1 - S0, R1 - R0};
octets_diff(_, _) -> {none, none}.

per_call(none, _Calls) -> none;
per_call(Bytes, Calls) -> Bytes / Calls.

%%% CPU time from /proc

%% Runs Fun; returns its result and the CPU seconds each of OsPids used.
with_cpu(OsPids, #{clk_tck := Tck}, Fun) ->
    Before = [cpu_ticks(P) || P <- OsPids],
    Result = Fun(),
    After = [cpu_ticks(P) || P <- OsPids],
    {Result, [(A - B) / Tck || {A, B} <- lists:zip(After, Before)]}.

%% utime + stime
cpu_ticks(OsPid) ->
    {User, Sys} = bench_node:cpu_ticks(OsPid),
    User + Sys.

cpu_per_100k([ServerCpu, _ClientCpu], {Calls, _}) ->
    ServerCpu / Calls * 100000.

%% Calls/s one server core would do at 100 % if every call cost what these did.
per_core([ServerCpu, _ClientCpu], {Calls, _}) when ServerCpu > 0 ->
    Calls / ServerCpu;
per_core(_Cpu, _Run) ->
    none.

utilisation([ServerCpu, ClientCpu], {_, Secs}) ->
    #{server_util => 100 * ServerCpu / Secs, client_util => 100 * ClientCpu / Secs}.

%%% Report

print_header(Cfg = #{seconds := Secs}) ->
    io:format("otpc bench: ~s, OTP ~s, ~s s per concurrent run, ~b sequential calls, "
              "~b casts~n",
              [node(), erlang:system_info(otp_release), bench_node:fmt(Secs),
               maps:get(seq_calls, Cfg), maps:get(casts, Cfg)]),
    io:format("~s~n", [bench_node:pinning(Cfg)]).

%% {key, row label, goal} for each line; a goal is {Op, C/BEAM bound}.
rows() ->
    [{p50, "sequential call p50 (us)", {'=<', 0.7}},
     {p99, "sequential call p99 (us)", none},
     {bytes_out, "bytes per call, request", none},
     {bytes_in, "bytes per call, reply", none},
     {seq_cpu, "server CPU us/call, sequential", none},
     {c1, "calls/s, 1 caller", none},
     {c8, "calls/s, 8 callers", none},
     {c64, "calls/s, 64 callers", {'>=', 1.5}},
     {cpu100k, "server CPU s per 100k calls", {'=<', 0.1}},
     {per_core, "calls/s per server core, 64", none},
     {server_util, "server CPU %, 64 callers", none},
     {client_util, "client CPU %, 64 callers", none},
     {casts, "casts/s", {'>=', 1.0}},
     {big, "64 KiB calls/s, 8 callers", {'>=', 1.0}}].

print_report(Results) ->
    C = bench_node:side_result(c, Results),
    Beam = bench_node:side_result(beam, Results),
    io:format("~n~-30s ~12s ~12s ~8s  ~s~n",
              ["", column_label(c, Results), "BEAM", "C/BEAM", "goal"]),
    [print_row(Row, C, Beam) || Row <- rows()],
    print_cast_checks(Results),
    ok.

column_label(c, _Results) ->
    case os:getenv("BENCH_FAKE_C") of
        "1" -> "C (fake)";
        _ -> "C node"
    end.

print_row({Key, Label, Goal}, C, Beam) ->
    Cv = value(Key, C),
    Bv = value(Key, Beam),
    Ratio = bench_node:ratio(Cv, Bv),
    Line = io_lib:format("~-30s ~12s ~12s ~8s  ~s",
                         [Label, bench_node:fmt(Cv), bench_node:fmt(Bv),
                          bench_node:fmt_ratio(Ratio), fmt_goal(Goal, Ratio)]),
    io:format("~s~n", [string:trim(Line, trailing)]).

value(_Key, none) -> none;
value(Key, Results) -> maps:get(Key, Results).

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
