%% bench_frag: the measuring side of bench/frag_run. A small call's latency to
%% `echo` while 64 MiB messages stream over the same connection, against the C
%% node and a BEAM node running bench_echo, in one run; prints p50/p99 and the
%% C/BEAM ratios. Not a test: nothing is asserted.
%%
%% Three phases per server, each BENCH_FRAG_SECONDS long (default 5), with one
%% process making sequential small calls ({ping, 123}) and timing each:
%%   idle    nothing else on the connection (the baseline)
%%   in      another process casts 64 MiB binaries to `echo` in a loop (the
%%           sender is held back by the connection's busy limit, as any)
%%   both    another process calls `echo` with a 64 MiB binary in a loop (it
%%           comes back: 64 MiB each way per call)
%% With fragments (DFLAG_FRAGMENTS, both nodes announce it) a small call waits
%% behind a few 64 KiB fragments, not behind the whole 64 MiB.
-module(bench_frag).

-export([main/0]).

-define(CALL_TIMEOUT, 60000).
-define(SMALL, {ping, 123}).
-define(BIG_SIZE, (64 * 1024 * 1024)).
-define(WARMUP_CALLS, 2000).

%% Runs the benchmark and halts the node: 0 when it ran, 2 on a crash.
-spec main() -> no_return().
main() ->
    bench_node:halt_after(fun() -> run(config()) end).

config() ->
    maps:merge(bench_node:config(),
               #{beam_module => bench_echo,
                 seconds => bench_node:env_number("BENCH_FRAG_SECONDS", 5)}).

run(Cfg = #{seconds := Secs}) ->
    io:format("otpc frag bench: ~s, OTP ~s, ~s s per phase, 64 MiB messages~n",
              [node(), erlang:system_info(otp_release), bench_node:fmt(Secs)]),
    io:format("~s~n", [bench_node:pinning(Cfg)]),
    Specs = bench_node:server_specs("f", "C node", Cfg),
    Servers = [start_server(Spec, Cfg) || Spec <- Specs],
    try
        Results = [{Side, measure_side(S, Cfg)} || {Side, S} <- Servers],
        print_report(Results)
    after
        [bench_node:stop(S) || {_, S = #{owner := _}} <- Servers]
    end,
    ok.

start_server(Spec = #{side := Side}, Cfg) ->
    case bench_node:start(Spec, Cfg) of
        {ok, Server} -> {Side, Server};
        {error, Why} -> {Side, {error, Why}}
    end.

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

measure(#{node := Node}, #{seconds := Secs}) ->
    Dest = {echo, Node},
    Big = crypto:strong_rand_bytes(?BIG_SIZE),
    [gen_server:call(Dest, ?SMALL, ?CALL_TIMEOUT) || _ <- lists:seq(1, ?WARMUP_CALLS)],
    Big = gen_server:call(Dest, Big, ?CALL_TIMEOUT), %% checked once, byte for byte
    Idle = phase(Dest, Secs, none),
    In = phase(Dest, Secs, fun() -> gen_server:cast(Dest, Big) end),
    Both = phase(Dest, Secs, fun() -> Big = gen_server:call(Dest, Big, ?CALL_TIMEOUT) end),
    maps:from_list(lists:append([results(K, R) || {K, R} <- [{idle, Idle}, {in, In},
                                                               {both, Both}]])).

results(Key, {P50, P99, Calls, Larges}) ->
    [{{Key, p50}, P50}, {{Key, p99}, P99}, {{Key, calls}, Calls}, {{Key, large}, Larges}].

%% Sequential small calls for Secs seconds while Stream runs in a loop in another
%% process: {p50 us, p99 us, small calls, 64 MiB messages streamed}.
phase(Dest, Secs, Stream) ->
    Streamer = streamer(Stream),
    Deadline = erlang:monotonic_time(millisecond) + round(Secs * 1000),
    Times = lists:sort(small_calls(Dest, Deadline, [])),
    Larges = stop_streamer(Streamer),
    %% the server has taken what was cast before the next phase starts
    _ = gen_server:call(Dest, '$stats', ?CALL_TIMEOUT),
    {to_us(percentile(Times, 0.50)), to_us(percentile(Times, 0.99)), length(Times), Larges}.

streamer(none) ->
    none;
streamer(Stream) ->
    Self = self(),
    spawn_link(fun() -> stream_loop(Self, Stream, 0) end).

stream_loop(Owner, Stream, N) ->
    receive
        stop -> Owner ! {streamed, self(), N}
    after 0 ->
            Stream(),
            stream_loop(Owner, Stream, N + 1)
    end.

stop_streamer(none) ->
    0;
stop_streamer(Pid) ->
    Pid ! stop,
    receive {streamed, Pid, N} -> N after 4 * ?CALL_TIMEOUT -> exit(streamer_stuck) end.

small_calls(Dest, Deadline, Acc) ->
    case erlang:monotonic_time(millisecond) >= Deadline of
        true ->
            Acc;
        false ->
            T0 = erlang:monotonic_time(),
            _ = gen_server:call(Dest, ?SMALL, ?CALL_TIMEOUT),
            small_calls(Dest, Deadline, [erlang:monotonic_time() - T0 | Acc])
    end.

percentile([], _P) -> 0;
percentile(Sorted, P) -> lists:nth(max(1, ceil(P * length(Sorted))), Sorted).

to_us(Native) ->
    erlang:convert_time_unit(Native, native, nanosecond) / 1000.

%%% Report

rows() ->
    [{{idle, p50}, "idle: small call p50 (us)", none},
     {{idle, p99}, "idle: small call p99 (us)", none},
     {{in, p50}, "64 MiB in: small call p50 (us)", none},
     {{in, p99}, "64 MiB in: small call p99 (us)", {us, 10000}},
     {{in, calls}, "64 MiB in: small calls", none},
     {{in, large}, "64 MiB in: messages streamed", none},
     {{both, p50}, "64 MiB both: small call p50 (us)", none},
     {{both, p99}, "64 MiB both: small call p99 (us)", {us, 10000}},
     {{both, calls}, "64 MiB both: small calls", none},
     {{both, large}, "64 MiB both: messages streamed", none}].

print_report(Results) ->
    C = bench_node:side_result(c, Results),
    Beam = bench_node:side_result(beam, Results),
    io:format("~n~-34s ~12s ~12s ~8s  ~s~n", ["", "C node", "BEAM", "C/BEAM", "goal"]),
    [print_row(Row, C, Beam) || Row <- rows()],
    [io:format("~s: no figures (~P)~n", [Side, Why, 12])
     || {Side, {error, Why}} <- Results],
    ok.

print_row({Key, Label, Goal}, C, Beam) ->
    Cv = value(Key, C),
    Bv = value(Key, Beam),
    Line = io_lib:format("~-34s ~12s ~12s ~8s  ~s",
                         [Label, bench_node:fmt(Cv), bench_node:fmt(Bv),
                          bench_node:fmt_ratio(bench_node:ratio(Cv, Bv)),
                          goal(Goal, Cv)]),
    io:format("~s~n", [string:trim(Line, trailing)]).

value(_Key, none) -> none;
value(Key, Results) -> maps:get(Key, Results).

goal(none, _) -> "";
goal({us, Max}, none) -> io_lib:format("C <= ~b ms", [Max div 1000]);
goal({us, Max}, V) when V =< Max -> io_lib:format("C <= ~b ms  met", [Max div 1000]);
goal({us, Max}, _) -> io_lib:format("C <= ~b ms  NOT met", [Max div 1000]).
