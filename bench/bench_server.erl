%% bench_server: the measuring side of bench/server_run, the benchmarks whose client
%% is C, so that they measure the server and not a BEAM client. Runs on a client node
%% that only starts things and waits: the servers (the C node and its BEAM twin) are
%% started as ports with bench_node, pinned to the server CPU, one at a time; the
%% clients are the C programs of bench/c/, pinned to the client CPU:
%%
%%   distribution  distclient, a C node whose K processes call {echo, Node} (the C
%%                 node's echo, or bench_echo on BEAM), for each K of BENCH_CALLERS
%%   daemon        loadgen, N connections with D calls in flight each, against the C
%%                 daemon serving echo and bench_daemon_ref, for each N of BENCH_CONNS
%%                 and D of BENCH_DEPTHS
%%
%% Each point reports calls/s, latency percentiles, and the server's CPU time from
%% /proc: per call, and as calls/s per fully used server core (calls / CPU seconds).
%% Prints the tables, the issue's goals with the measured ratios, writes the figures
%% as gnuplot data (BENCH_CHARTS, default bench/charts) and draws the charts with
%% bench/charts.gp when gnuplot is there. Not a test: nothing is asserted.
-module(bench_server).

-export([main/0]).

-import(bench_node, [env/2, env_number/2, fmt/1, fmt_ratio/1, ratio/2]).

%% Runs the benchmark and halts the node: 0 when it ran, 2 on a crash.
-spec main() -> no_return().
main() ->
    bench_node:halt_after(fun() -> run(config()) end).

%%% Configuration

config() ->
    Root = filename:absname(""),
    maps:merge(bench_node:config(),
               #{seconds => env_number("BENCH_SECONDS", 3),
                 warmup => env_number("BENCH_WARMUP", 0.5),
                 tests => string:lexemes(env("BENCH_TESTS", "dist,daemon"), ", "),
                 callers => int_list("BENCH_CALLERS", "1,4,16,64,256"),
                 conns => int_list("BENCH_CONNS", "1,10,100,1000"),
                 depths => int_list("BENCH_DEPTHS", "1,8"),
                 loadgen => filename:join(Root, env("BENCH_LOADGEN", "c_src/build/bench/loadgen")),
                 distclient => filename:join(Root, env("BENCH_DISTCLIENT",
                                                       "c_src/build/bench/distclient")),
                 charts => env("BENCH_CHARTS", "bench/charts"),
                 tls => none,
                 ref_notify => false}).

int_list(Name, Default) ->
    [list_to_integer(N) || N <- string:lexemes(env(Name, Default), ", ")].

test(Name, #{tests := Tests}) ->
    lists:member(Name, Tests).

%%% The run

run(Cfg) ->
    print_header(Cfg),
    Dist = [{Side, dist_side(Spec, Cfg)}
            || test("dist", Cfg), Spec = #{side := Side} <- specs(Cfg)],
    Daemon = [{Side, daemon_side(Spec, Cfg)}
              || test("daemon", Cfg), Spec = #{side := Side} <- specs(Cfg)],
    io:format("~n~s at the end~n", [load()]),
    [print_dist(Dist) || Dist =/= []],
    [print_daemon(Daemon, D) || Daemon =/= [], D <- maps:get(depths, Cfg)],
    print_goals(Dist, Daemon),
    charts(Dist, Daemon, Cfg),
    ok.

%% C first, then BEAM; the C node is notified of daemon connections as in
%% bench/daemon_run (a fake C node is asked to do the same).
specs(Cfg) ->
    [case Spec of
         #{side := c} -> Spec#{notify => true};
         _ -> Spec
     end || Spec <- bench_node:server_specs("s", "C node", Cfg)].

%%% Distribution: distclient against {echo, Node}

dist_side(Spec = #{label := Label}, Cfg0) ->
    Cfg = Cfg0#{beam_module => bench_echo},
    case bench_node:start(Spec, Cfg) of
        {ok, Server = #{node := Node, os_pid := OsPid}} ->
            io:format("~s, distribution: ~s, os pid ~b~n", [Label, Node, OsPid]),
            try
                #{callers := Ks, seconds := Secs, warmup := Warm, id := Id} = Cfg,
                Args = ["-sname", "scl_" ++ Id, "-setcookie", atom_to_list(erlang:get_cookie()),
                        "-server", atom_to_list(Node), "-s", integer_to_list(OsPid),
                        "-k", lists:join(",", [integer_to_list(K) || K <- Ks]),
                        "-t", num(Secs), "-w", num(Warm), "-watch_stdin"],
                client(maps:get(distclient, Cfg), Args, length(Ks) * (Secs + Warm) + 30, Cfg)
            after
                bench_node:stop(Server)
            end;
        {error, Why} ->
            {error, Why}
    end.

%%% Daemon: loadgen against the C daemon and bench_daemon_ref

daemon_side(Spec = #{label := Label}, Cfg0) ->
    Cfg = Cfg0#{beam_module => bench_daemon_ref, ready => fun bench_daemon:ready/2},
    case bench_node:start(Spec, Cfg) of
        {ok, Server = #{node := Node, os_pid := OsPid}} ->
            io:format("~s, daemon: ~s, os pid ~b~n", [Label, Node, OsPid]),
            try bench_daemon:start_daemon(Server, tcp, Cfg) of
                {error, Why} ->
                    {error, Why};
                D ->
                    try daemon_points(D, OsPid, Cfg)
                    after bench_daemon:stop_daemon(D)
                    end
            after
                bench_node:stop(Server)
            end;
        {error, Why} ->
            {error, Why}
    end.

daemon_points(D = #{port := Port}, OsPid, Cfg) ->
    #{conns := Ns, depths := Ds, seconds := Secs, warmup := Warm, id := Id} = Cfg,
    lists:append(
      [begin
           Args = ["-p", integer_to_list(Port), "-c", integer_to_list(N),
                   "-d", integer_to_list(Depth), "-t", num(Secs), "-w", num(Warm),
                   "-s", integer_to_list(OsPid), "-l", "sbench_" ++ Id],
           R = client(maps:get(loadgen, Cfg), Args, Secs + Warm + 60, Cfg),
           %% the next point does not pay for this one's closing connections
           bench_daemon:await_drained(D),
           case R of
               {error, Why} -> [#{conns => N, depth => Depth, error => Why}];
               Points -> Points
           end
       end || Depth <- Ds, N <- Ns]).

%%% Running a C client

%% Runs Exe pinned to the client CPU, echoes its lines, and returns the RESULT lines
%% as maps, or {error, Why} when it failed or outlived TimeoutSecs (then it is killed).
client(Exe, Args, TimeoutSecs, Cfg) ->
    {Cmd, CmdArgs} = case maps:get(client_cpu, Cfg) of
                         "" -> {Exe, Args};
                         Cpu -> {os:find_executable("taskset"), ["-c", Cpu, Exe | Args]}
                     end,
    Port = open_port({spawn_executable, Cmd},
                     [{args, CmdArgs}, {line, 4096}, binary, exit_status, stderr_to_stdout,
                      use_stdio]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    record_pid(OsPid, Cfg),
    collect(Port, OsPid, bench_node:deadline(TimeoutSecs), []).

collect(Port, OsPid, Deadline, Acc) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {Port, {data, {eol, <<"RESULT ", Line/binary>>}}} ->
            collect(Port, OsPid, Deadline, [parse_result(Line) | Acc]);
        {Port, {data, {_, Line}}} ->
            io:format("  ~s~n", [Line]),
            collect(Port, OsPid, Deadline, Acc);
        {Port, {exit_status, 0}} ->
            lists:reverse(Acc);
        {Port, {exit_status, Status}} ->
            {error, {exit_status, Status}}
    after Left ->
            os:cmd("kill -9 " ++ integer_to_list(OsPid)),
            catch port_close(Port),
            {error, timeout}
    end.

%% "callers=64 secs=3.000 rate=1234.5 ..." -> #{callers => 64, secs => 3.0, ...}
parse_result(Line) ->
    maps:from_list([begin
                        [K, V] = string:split(Field, "="),
                        {binary_to_atom(K), number(binary_to_list(V))}
                    end || Field <- string:lexemes(Line, " ")]).

number(Text) ->
    try list_to_integer(Text)
    catch error:badarg -> list_to_float(Text)
    end.

num(X) when is_integer(X) -> integer_to_list(X);
num(X) -> float_to_list(float(X), [{decimals, 3}]).

record_pid(_OsPid, #{pidfile := ""}) ->
    ok;
record_pid(OsPid, #{pidfile := File}) ->
    ok = file:write_file(File, [integer_to_list(OsPid), "\n"], [append]).

%%% Report

print_header(Cfg = #{seconds := Secs, warmup := Warm}) ->
    io:format("otpc server bench (C clients): ~s, OTP ~s, ~s s per point after ~s s of "
              "warm-up~n",
              [node(), erlang:system_info(otp_release), fmt(Secs), fmt(Warm)]),
    io:format("~s; ~s~n", [bench_node:pinning(Cfg), load()]).

load() ->
    case file:read_file("/proc/loadavg") of
        {ok, Text} ->
            [One | _] = string:lexemes(Text, " "),
            io_lib:format("load average ~s on ~b CPUs",
                          [One, erlang:system_info(logical_processors)]);
        {error, _} ->
            "load average ?"
    end.

%% The points of a side: [] when it has none.
points(Side, Results) ->
    case lists:keyfind(Side, 1, Results) of
        {Side, Points} when is_list(Points) -> Points;
        _ -> []
    end.

point(Key, Points) ->
    case [P || P <- Points, maps:with(maps:keys(Key), P) =:= Key, not is_map_key(error, P)] of
        [P | _] -> P;
        [] -> none
    end.

value(_Field, none) -> none;
value(Field, P) -> maps:get(Field, P, none).

%% {field, heading, whether C/BEAM is printed}
columns() ->
    [{rate, "calls/s", true}, {per_core, "calls/s/core", true},
     {us_per_call, "CPU us/call", true}, {server_util, "srv CPU %", false},
     {client_util, "cli CPU %", false},
     {p50_us, "p50 us", true}, {p99_us, "p99 us", true}, {p999_us, "p99.9 us", false},
     {errors, "errors", false}].

print_dist(Results) ->
    io:format("~nDistribution, C client node (distclient) -> {echo, Node}:~n"),
    print_table("callers", [#{callers => K} || K <- keys(callers, Results)], Results).

print_daemon(Results, Depth) ->
    io:format("~nDaemon, C load generator (loadgen), ~b call(s) in flight per connection:~n",
              [Depth]),
    print_table("conns", [#{conns => N, depth => Depth}
                          || N <- keys(conns, Results)], Results),
    [io:format("~s: ~p~n", [Side, P]) || {Side, Ps} <- Results, is_list(Ps),
                                        P = #{error := _} <- Ps],
    [io:format("~s: no figures (~0P)~n", [Side, Why, 12]) || {Side, {error, Why}} <- Results],
    ok.

keys(Field, Results) ->
    lists:usort([maps:get(Field, P) || {_, Ps} <- Results, is_list(Ps), P <- Ps]).

print_table(KeyName, Keys, Results) ->
    C = points(c, Results),
    B = points(beam, Results),
    io:format("~-8s ~-6s~s~n",
              [KeyName, "", [io_lib:format("~13s", [H]) || {_, H, _} <- columns()]]),
    [begin
         Pc = point(K, C),
         Pb = point(K, B),
         Label = integer_to_list(maps:get(hd(maps:keys(maps:remove(depth, K))), K)),
         row(Label, "C", [fmt(value(F, Pc)) || {F, _, _} <- columns()]),
         row("", "BEAM", [fmt(value(F, Pb)) || {F, _, _} <- columns()]),
         row("", "C/BEAM", [case R of
                                true -> fmt_ratio(ratio(value(F, Pc), value(F, Pb)));
                                false -> ""
                            end || {F, _, R} <- columns()])
     end || K <- Keys],
    ok.

row(Label, Side, Cells) ->
    Line = io_lib:format("~-8s ~-6s~s", [Label, Side, [io_lib:format("~13s", [X]) || X <- Cells]]),
    io:format("~s~n", [string:trim(Line, trailing)]).

%%% Goals (issue 16)

print_goals(Dist, Daemon) ->
    io:format("~nGoals (issue 16; ratios from this run, on a shared machine: noisy):~n"),
    io:format("- While echo spins for 1.5 s, 20 calls to ch3 each return in under 50 ms; with "
              "2 schedulers a CPU-bound server handles >= 1.8x one scheduler's calls/s: "
              "not measured here (bench/sched_run)~n"),
    Pipe = fun(Depth, Bound) ->
                   K = #{conns => 1000, depth => Depth},
                   goal(ratio(value(rate, point(K, points(c, Daemon))),
                              value(rate, point(K, points(beam, Daemon)))),
                        '>=', Bound,
                        ratio(value(per_core, point(K, points(c, Daemon))),
                              value(per_core, point(K, points(beam, Daemon)))))
           end,
    io:format("- Daemon over 1,000 connections: >= 2x the Erlang daemon unpipelined: ~s~n",
              [Pipe(1, 2.0)]),
    io:format("  ... >= 5x pipelined 8-deep: ~s~n", [Pipe(8, 5.0)]),
    C64 = point(#{callers => 64}, points(c, Dist)),
    B64 = point(#{callers => 64}, points(beam, Dist)),
    C1 = point(#{callers => 1}, points(c, Dist)),
    B1 = point(#{callers => 1}, points(beam, Dist)),
    io:format("- Distribution: server CPU per call <= 0.1x BEAM at 64 callers: ~s~n",
              [goal(ratio(value(us_per_call, C64), value(us_per_call, B64)), '=<', 0.1, none)]),
    io:format("  ... p50 <= 0.7x BEAM (1 caller): ~s~n",
              [goal(ratio(value(p50_us, C1), value(p50_us, B1)), '=<', 0.7, none)]),
    io:format("- A small call's p99 while 64 MiB messages stream on the same connection "
              "<= 10 ms: not measured here (bench/frag_run)~n").

goal(none, _Op, _Bound, _PerCore) ->
    "not measured (a side or the point is missing)";
goal(Ratio, Op, Bound, PerCore) ->
    Met = case Op of
              '>=' -> Ratio >= Bound;
              '=<' -> Ratio =< Bound
          end,
    Extra = case PerCore of
                none -> "";
                _ -> io_lib:format(" (calls/s per server core: ~s)", [fmt_ratio(PerCore)])
            end,
    io_lib:format("~s~s, ~s", [fmt_ratio(Ratio), Extra,
                               case Met of true -> "holds"; false -> "does NOT hold" end]).

%%% Charts

%% One data file per chart family (gnuplot's format: a header comment, then one line
%% per point, "-" where a side has no figure), then bench/charts.gp draws the PNGs.
charts(Dist, Daemon, Cfg = #{charts := Dir}) ->
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Fields = [rate, per_core, us_per_call, p50_us, p90_us, p99_us, p999_us],
    Dist =/= [] andalso
        write_data(filename:join(Dir, "dist.dat"), callers,
                   [#{callers => K} || K <- keys(callers, Dist)], Dist, Fields),
    [write_data(filename:join(Dir, "daemon_d" ++ integer_to_list(D) ++ ".dat"), conns,
                [#{conns => N, depth => D} || N <- keys(conns, Daemon)], Daemon, Fields)
     || Daemon =/= [], D <- maps:get(depths, Cfg)],
    draw(Dir, Cfg).

write_data(File, KeyName, Keys, Results, Fields) ->
    Head = ["# ", atom_to_list(KeyName),
            [[" c_", atom_to_list(F)] || F <- Fields],
            [[" beam_", atom_to_list(F)] || F <- Fields], "\n"],
    Lines = [[integer_to_list(maps:get(KeyName, K)),
              [[" ", datum(value(F, point(K, points(Side, Results))))]
               || Side <- [c, beam], F <- Fields], "\n"] || K <- Keys],
    ok = file:write_file(File, [Head | Lines]).

datum(none) -> "-";
datum(X) when is_integer(X) -> integer_to_list(X);
datum(X) -> float_to_list(float(X), [{decimals, 2}]).

draw(Dir, Cfg) ->
    case os:find_executable("gnuplot") of
        false ->
            io:format("~ngnuplot not found: no charts (the data is in ~s)~n", [Dir]);
        Gnuplot ->
            Note = io_lib:format("~s s per point; ~s; ~s", [fmt(maps:get(seconds, Cfg)),
                                                            load(), stamp()]),
            Script = filename:join(filename:dirname(code:which(?MODULE)), "charts.gp"),
            Cmd = io_lib:format("~s -e \"dir='~s'; note='~s'\" ~s 2>&1",
                                [Gnuplot, Dir, Note, script_path(Script)]),
            Out = os:cmd(lists:flatten(Cmd)),
            io:format("~ncharts: ~s~s~n",
                      [Dir, case Out of "" -> ""; _ -> "\n" ++ Out end])
    end.

%% charts.gp sits in bench/, beside this module's source; the module may be compiled
%% elsewhere (a temporary ebin), so fall back to bench/charts.gp under the cwd.
script_path(Script) ->
    case filelib:is_file(Script) of
        true -> Script;
        false -> "bench/charts.gp"
    end.

stamp() ->
    {{Y, Mo, D}, _} = calendar:universal_time(),
    io_lib:format("~4..0b-~2..0b-~2..0b", [Y, Mo, D]).
