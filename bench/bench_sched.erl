%% bench_sched: the measuring side of bench/sched_run. The C node's scheduler
%% threads (-schedulers N): one node started with -schedulers 1, then one with
%% -schedulers 2, each measured the same way:
%%
%%   throughput  BENCH_SCHED_SERVERS echo servers (the node's `echo' and more
%%               started with otpc:start/4: echo is one process, and one
%%               process runs on one thread at a time), each called in a loop
%%               by a caller of its own with {'$spin', BENCH_SCHED_SPIN_MS, ok}
%%               (CPU burnt inside handle_call) for BENCH_SCHED_SECONDS;
%%               completed calls / elapsed time, and the node's CPU meanwhile
%%   latency     while `echo' spins 1.5 s for one caller, 20 sequential calls
%%               to `ch3' (alloc, then the channel freed by a cast), each timed:
%%               p50 and max in ms
%%
%% Prints the figures and the goals: calls/s with 2 schedulers >= 1.8x those
%% with 1, and ch3's max (and p50) < 50 ms with 2. Not a test: nothing is
%% asserted.
-module(bench_sched).

-export([main/0]).

-define(CALL_TIMEOUT, 60000).
-define(LATENCY_SPIN_MS, 1500).
-define(LATENCY_CALLS, 20).

%% Runs the benchmark and halts the node: 0 when it ran, 2 on a crash.
-spec main() -> no_return().
main() ->
    bench_node:halt_after(fun() -> run(config()) end).

config() ->
    maps:merge(bench_node:config(),
               #{seconds => bench_node:env_number("BENCH_SCHED_SECONDS", 5),
                 servers => bench_node:env_number("BENCH_SCHED_SERVERS", 4),
                 spin_ms => bench_node:env_number("BENCH_SCHED_SPIN_MS", 2)}).

run(Cfg = #{seconds := Secs, servers := K, spin_ms := Spin}) ->
    io:format("otpc sched bench: ~s, OTP ~s, ~s s per run, ~b echo servers spinning "
              "~b ms per call, ~b CPUs online~n",
              [node(), erlang:system_info(otp_release), bench_node:fmt(Secs), K, Spin,
               erlang:system_info(logical_processors_online)]),
    io:format("~s~n", [pinning(Cfg)]),
    Results = [{N, measure_node(N, Cfg)} || N <- [1, 2]],
    print_report(Results, Cfg).

pinning(#{server_cpu := S, client_cpu := C}) ->
    "client " ++ cpus(C) ++ ", C node " ++ cpus(S).

cpus("") -> "unpinned";
cpus(List) -> "on CPU " ++ List.

%% A C node with -schedulers N, measured and stopped: a figures map or {error, Why}.
measure_node(N, Cfg = #{id := Id}) ->
    Label = "-schedulers " ++ integer_to_list(N),
    Spec = #{side => c, kind => c, name => "s" ++ integer_to_list(N) ++ "c_" ++ Id,
             label => Label, c_args => ["-schedulers", integer_to_list(N)]},
    case bench_node:start(Spec, Cfg) of
        {ok, Server} ->
            io:format("measuring ~s (~s, os pid ~b)...~n",
                      [Label, maps:get(node, Server), maps:get(os_pid, Server)]),
            try measure(Server, Cfg)
            catch Class:Reason ->
                    io:format("  ~s failed: ~p:~P~n", [Label, Class, Reason, 20]),
                    {error, Reason}
            after
                bench_node:stop(Server)
            end;
        {error, Why} ->
            {error, Why}
    end.

measure(Server = #{node := Node}, Cfg = #{servers := K, spin_ms := Spin}) ->
    Names = [echo | [start_echo(Node, I) || I <- lists:seq(2, K)]],
    [ok = gen_server:call({Name, Node}, {'$spin', Spin, ok}, ?CALL_TIMEOUT) || Name <- Names],
    {Rate, Cpu} = throughput(Server, Names, Cfg),
    {P50, Max} = latency(Node),
    #{rate => Rate, cpu => Cpu, p50 => P50, max => Max}.

start_echo(Node, I) ->
    Name = list_to_atom("sched_echo_" ++ integer_to_list(I)),
    {ok, _} = otpc:start(Node, echo, [], [{name, Name}]),
    Name.

%% One caller per server, each calling in a loop until the deadline:
%% {calls/s, the node's CPU in % of one core}.
throughput(#{node := Node, os_pid := OsPid}, Names,
           #{seconds := Secs, spin_ms := Spin, clk_tck := Hz}) ->
    Self = self(),
    {U0, S0} = bench_node:cpu_ticks(OsPid),
    T0 = erlang:monotonic_time(),
    Deadline = bench_node:deadline(Secs),
    Callers = [spawn_link(fun() -> Self ! {calls, self(), spin_loop({Name, Node}, Spin,
                                                                     Deadline, 0)}
                          end) || Name <- Names],
    Calls = lists:sum([receive {calls, C, Count} -> Count end || C <- Callers]),
    Elapsed = erlang:convert_time_unit(erlang:monotonic_time() - T0, native, microsecond)
        / 1.0e6,
    {U1, S1} = bench_node:cpu_ticks(OsPid),
    {Calls / Elapsed, 100 * ((U1 - U0) + (S1 - S0)) / Hz / Elapsed}.

spin_loop(Dest, Spin, Deadline, N) ->
    case erlang:monotonic_time(millisecond) >= Deadline of
        true ->
            N;
        false ->
            ok = gen_server:call(Dest, {'$spin', Spin, ok}, ?CALL_TIMEOUT),
            spin_loop(Dest, Spin, Deadline, N + 1)
    end.

%% ch3's latency while echo spins for another caller: {p50 ms, max ms}.
latency(Node) ->
    Self = self(),
    Spinner = spawn_link(fun() ->
                                 done = gen_server:call({echo, Node},
                                                        {'$spin', ?LATENCY_SPIN_MS, done},
                                                        ?CALL_TIMEOUT),
                                 Self ! {spun, self()}
                         end),
    timer:sleep(100),
    Times = lists:sort([ch3_call(Node) || _ <- lists:seq(1, ?LATENCY_CALLS)]),
    receive {spun, Spinner} -> ok end,
    {lists:nth(?LATENCY_CALLS div 2, Times), lists:last(Times)}.

ch3_call(Node) ->
    T0 = erlang:monotonic_time(),
    Ch = gen_server:call({ch3, Node}, alloc, ?CALL_TIMEOUT),
    T = erlang:monotonic_time() - T0,
    true = is_integer(Ch),
    ok = gen_server:cast({ch3, Node}, {free, Ch}),
    erlang:convert_time_unit(T, native, microsecond) / 1000.

%%% Report

rows(K) ->
    [{rate, lists:flatten(io_lib:format("calls/s, ~b spinning servers", [K])),
      {ratio, 1.8}},
     {cpu, "node CPU % (of one core)", none},
     {p50, "ch3 p50 while echo spins (ms)", {ms, 50}},
     {max, "ch3 max while echo spins (ms)", {ms, 50}}].

print_report(Results, #{servers := K}) ->
    One = side(1, Results),
    Two = side(2, Results),
    io:format("~n~-34s ~14s ~14s ~8s  ~s~n",
              ["", "-schedulers 1", "-schedulers 2", "2/1", "goal"]),
    [print_row(Row, One, Two) || Row <- rows(K)],
    [io:format("-schedulers ~b: no figures (~P)~n", [N, Why, 12])
     || {N, {error, Why}} <- Results],
    ok.

side(N, Results) ->
    case lists:keyfind(N, 1, Results) of
        {N, R} when is_map(R) -> R;
        _ -> none
    end.

print_row({Key, Label, Goal}, One, Two) ->
    V1 = value(Key, One),
    V2 = value(Key, Two),
    %% 2/1 of a latency says nothing: one scheduler's max is the spin itself
    Ratio = case Goal of
                {ms, _} -> none;
                _ -> bench_node:ratio(V2, V1)
            end,
    Line = io_lib:format("~-34s ~14s ~14s ~8s  ~s",
                         [Label, bench_node:fmt(V1), bench_node:fmt(V2),
                          bench_node:fmt_ratio(Ratio), goal(Goal, Ratio, V2)]),
    io:format("~s~n", [string:trim(Line, trailing)]).

value(_Key, none) -> none;
value(Key, Results) -> maps:get(Key, Results).

%% The goals hold for the -schedulers 2 column: a ratio to -schedulers 1, or a
%% bound in ms.
goal(none, _Ratio, _V2) -> "";
goal({ratio, Min}, none, _V2) -> io_lib:format(">= ~.1fx", [Min]);
goal({ratio, Min}, R, _V2) when R >= Min -> io_lib:format(">= ~.1fx  met", [Min]);
goal({ratio, Min}, _R, _V2) -> io_lib:format(">= ~.1fx  NOT met", [Min]);
goal({ms, Max}, _Ratio, none) -> io_lib:format("2: < ~b ms", [Max]);
goal({ms, Max}, _Ratio, V2) when V2 < Max -> io_lib:format("2: < ~b ms  met", [Max]);
goal({ms, Max}, _Ratio, _V2) -> io_lib:format("2: < ~b ms  NOT met", [Max]).
