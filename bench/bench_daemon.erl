%% bench_daemon: the measuring side of bench/daemon_run. Runs on the client node;
%% starts one server node at a time (the C node, then a BEAM node running
%% bench_daemon_ref) as a port, starts a TCP and a TLS daemon on it, and measures
%% both with the same raw gen_tcp / ssl clients of the daemon wire protocol:
%% connections accepted per second (TCP and TLS), calls per second over many
%% connections, and server memory per idle connection. Prints a table of figures
%% and C/BEAM ratios. Not a test: nothing is asserted. The server nodes are
%% started and stopped with bench_node.
%%
%% Configured from the environment that bench/daemon_run sets (see bench/README.md).
-module(bench_daemon).

-export([main/0]).
%% For bench_server, which drives the same daemons with the C load generator.
-export([ready/2, start_daemon/3, stop_daemon/1, await_drained/1]).

-import(bench_node, [env/2, env_number/2]).

-define(HOST, {127, 0, 0, 1}).
-define(TIMEOUT, 10000).
-define(HELLO_TIMEOUT, 5000).
-define(REQ, {ping, 123}).
-define(CONN_OPTS, [binary, {packet, 4}, {active, false}, {nodelay, true}]).
-define(IDLE_OPENERS, 16).
-define(FD_RESERVE, 64).
-define(CALL_WARMUP, 20).

%% Runs the benchmark and halts the node: 0 when it ran, 2 on a crash.
-spec main() -> no_return().
main() ->
    bench_node:halt_after(fun() -> run(config()) end).

%%% Configuration

%% The settings bench_node reads, what differs in its servers (the BEAM
%% server's module, when it is ready, a lower open files limit), and this
%% bench's own.
config() ->
    maps:merge(bench_node:config(),
               #{beam_module => bench_daemon_ref,
                 ready => fun ready/2,
                 server_nofile => env("BENCH_SERVER_NOFILE", ""),
                 seconds => env_number("BENCH_SECONDS", 5),
                 ref_notify => env("BENCH_REF_NOTIFY", "") =:= "1",
                 tests => string:lexemes(env("BENCH_TESTS", "idle,conn,tls,calls"), ", "),
                 connectors => env_number("BENCH_CONNECTORS", 16),
                 conns => [list_to_integer(N)
                           || N <- string:lexemes(env("BENCH_CONNS", "100,1000"), ", ")],
                 pipeline => env_number("BENCH_PIPELINE", 1),
                 idle => env_number("BENCH_IDLE", 19000),
                 idle_tls => env_number("BENCH_IDLE_TLS", 2000),
                 tls_key => env("BENCH_TLS_KEY", "ec"),
                 tmp => env("BENCH_TMP", "/tmp")}).

test(Name, #{tests := Tests}) ->
    lists:member(Name, Tests).

%%% The run

run(Cfg0) ->
    {ok, _} = application:ensure_all_started(ssl),
    Cfg = Cfg0#{tls => make_certs(Cfg0)},
    print_header(Cfg),
    Results = [{Side, side(Spec, Cfg)} || Spec = #{side := Side} <- server_specs(Cfg)],
    print_report(Results, Cfg),
    ok.

server_specs(Cfg) ->
    %% notify: a fake C node sends otpc_spawned-like messages, as the C daemon does
    [case Spec of
         #{side := c} -> Spec#{notify => true};
         #{side := beam} -> Spec
     end || Spec <- bench_node:server_specs("d", "C daemon", Cfg)].

%% One side, in phases, each on a freshly started server node: the idle TCP
%% connections, the idle TLS connections, then the timed runs. A fresh node per
%% idle test, because memory freed by an earlier test stays in the process (malloc
%% arenas, BEAM carriers) and would be reused by the next one, hiding its cost.
%% Only one server node runs at a time, so the two sides never share the server
%% CPU. A side that cannot run at all is carried as {error, Why} and reported.
side(Spec = #{label := Label}, Cfg) ->
    case c_api_missing(Spec) of
        true ->
            io:format("~s: skipped: otpc:start_daemon/4 is not in the code path "
                      "(not implemented yet, or src/ did not compile)~n", [Label]),
            {error, no_start_daemon};
        false ->
            Results = [phase(Spec, Phase, Cfg) || Phase <- phases(Cfg)],
            case [R || R <- Results, is_map(R)] of
                [] when Results =/= [] -> hd(Results);
                Maps -> maps:merge(lists:foldl(fun maps:merge/2, #{}, Maps),
                                   #{failed => [E || {error, E} <- Results]})
            end
    end.

c_api_missing(#{kind := c}) ->
    _ = code:ensure_loaded(otpc),
    not erlang:function_exported(otpc, start_daemon, 4);
c_api_missing(_) ->
    false.

%% {label, the daemons it needs, what it runs}
phases(Cfg = #{idle := Idle, idle_tls := IdleTls, conns := Conns}) ->
    Timed = [T || T <- ["conn", "tls", "calls"], test(T, Cfg)],
    [{"idle TCP", [tcp],
      fun(Ds) -> step("idle", tcp, Ds, Cfg, #{}, fun(D) -> idle(D, Idle) end) end}
     || test("idle", Cfg), Idle > 0] ++
    [{"idle TLS", [tls],
      fun(Ds) -> step("idle", tls, Ds, Cfg, #{}, fun(D) -> idle(D, IdleTls) end) end}
     || test("idle", Cfg), IdleTls > 0] ++
    [{"timed runs", [tcp || test("conn", Cfg) orelse test("calls", Cfg)]
                    ++ [tls || test("tls", Cfg)],
      fun(Ds) ->
              R1 = step("conn", tcp, Ds, Cfg, #{}, fun(D) -> conn_run(D, Cfg) end),
              R2 = step("tls", tls, Ds, Cfg, R1, fun(D) -> conn_run(D, Cfg) end),
              lists:foldl(fun(N, R) ->
                                  step("calls", tcp, Ds, Cfg, R,
                                       fun(D) -> call_run(D, N, Cfg) end)
                          end, R2, Conns)
      end} || Timed =/= []].

step(Test, Transport, Ds, Cfg, Acc, Fun) ->
    case {test(Test, Cfg), maps:get(Transport, Ds, {error, not_started})} of
        {false, _} -> Acc;
        {true, {error, _}} -> Acc;
        {true, D} -> maps:merge(Acc, Fun(D))
    end.

%% Starts the server node and the daemons, runs, stops them all. A daemon that
%% does not start costs only the tests that need it.
phase(Spec = #{label := Label}, {Name, Transports, Fun}, Cfg) ->
    case bench_node:start(Spec, Cfg) of
        {ok, Server = #{node := Node, os_pid := OsPid}} ->
            io:format("~s, ~s: ~s, os pid ~b, max open files ~s~n",
                      [Label, Name, Node, OsPid, max_open_files(OsPid)]),
            try
                Ds = maps:from_list([{T, start_daemon(Server, T, Cfg)} || T <- Transports]),
                try Fun(Ds)
                after [stop_daemon(D) || D <- maps:values(Ds)]
                end
            catch Class:Reason:Stack ->
                    io:format("  ~s, ~s failed: ~p:~P~n  ~P~n",
                              [Label, Name, Class, Reason, 30, Stack, 30]),
                    {error, {Name, Reason}}
            after
                bench_node:stop(Server)
            end;
        {error, Why} ->
            {error, {Name, Why}}
    end.

%%% Certificates

%% A root and a server certificate, generated for this run and written as PEM
%% files (the C daemon reads files); the client trusts the root. The digest is
%% given: pkix_test_data's default (SHA-1) is refused by OpenSSL's default
%% security level ("ca md too weak").
make_certs(#{tmp := Tmp, tls_key := KeyKind}) ->
    Key = case KeyKind of
              "rsa" -> [{key, {rsa, 2048, 65537}}, {digest, sha256}];
              _ -> [{key, {namedCurve, secp256r1}}, {digest, sha256}]
          end,
    Chain = #{root => Key, intermediates => [], peer => Key},
    #{server_config := Server, client_config := Client} =
        public_key:pkix_test_data(#{server_chain => Chain, client_chain => Chain}),
    {cert, Cert} = lists:keyfind(cert, 1, Server),
    {key, {KeyType, KeyDer}} = lists:keyfind(key, 1, Server),
    {cacerts, CaCerts} = lists:keyfind(cacerts, 1, Client),
    Dir = filename:join(Tmp, "certs"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    CertFile = filename:join(Dir, "server.pem"),
    KeyFile = filename:join(Dir, "server.key"),
    ok = file:write_file(CertFile, public_key:pem_encode([{'Certificate', Cert, not_encrypted}])),
    ok = file:write_file(KeyFile, public_key:pem_encode([{KeyType, KeyDer, not_encrypted}])),
    ok = file:change_mode(KeyFile, 8#600),
    #{certfile => CertFile, keyfile => KeyFile, key => KeyKind,
      client => [{verify, verify_peer}, {cacerts, CaCerts},
                 {server_name_indication, disable}, {reuse_sessions, false}]}.

%%% Server nodes

%% Whether the node is ready (bench_node:start/2 asks until it is): the C node
%% when its `echo' answers, the BEAM node when it has registered
%% bench_daemon_ref. true, or what came instead.
ready(Spec = #{kind := c}, Node) ->
    bench_node:echo_ready(Spec, Node);
ready(#{kind := beam}, Node) ->
    case net_adm:ping(Node) of
        pong -> catch is_pid(erpc:call(Node, erlang, whereis, [bench_daemon_ref], 1000));
        pang -> pang
    end.

%%% Daemons
%%
%% Each daemon is started, asked and stopped by a sink process of its own: the
%% C daemon sends the process that started it {otpc_spawned, ...} and a 'DOWN'
%% per connection, which must not pile up in a measuring process. The sink
%% counts them. With the BEAM reference the sink gets the same traffic only when
%% asked (notify), as bench_spawned messages it monitors.

start_daemon(Server = #{label := Label}, Transport, Cfg) ->
    Parent = self(),
    Sink = spawn_link(fun() -> sink_init(Parent, Server, Transport, Cfg) end),
    receive
        {Sink, {ok, Port}} ->
            #{sink => Sink, transport => Transport, port => Port, server => Server,
              tls => maps:get(tls, Cfg)};
        {Sink, {error, Why}} ->
            io:format("  ~s: the ~s daemon did not start: ~0P~n", [Label, Transport, Why, 20]),
            {error, Why}
    end.

stop_daemon({error, _}) ->
    ok;
stop_daemon(D = #{sink := Sink, transport := T, server := #{label := Label}}) ->
    print_trouble(Label, T, daemon_info(D)),
    Sink ! {stop, self()},
    receive {Sink, stopped} -> ok after 15000 -> ok end.

%% Counters that tell of connections the daemon failed or refused, if any.
print_trouble(Label, T, Info) ->
    case [{K, V} || K <- [refused, emfile, failed, error],
                    V <- [maps:get(K, Info, 0)], V =/= 0] of
        [] -> ok;
        Bad -> io:format("  ~s, ~s daemon: ~0P~n", [Label, T, Bad, 20])
    end.

%% The daemon's counters (accepted, active, ...).
daemon_info(#{sink := Sink}) ->
    Sink ! {info, self()},
    receive {Sink, info, Info} -> Info after 15000 -> #{} end.

sink_init(Parent, Server, Transport, Cfg) ->
    Opts = daemon_opts(Transport, maps:get(tls, Cfg)),
    Notify = maps:get(notify, Server, false) orelse maps:get(ref_notify, Cfg),
    case catch sink_start(Server, Opts, Notify) of
        {ok, Handle, Port} ->
            Parent ! {self(), {ok, Port}},
            sink_loop(Server, Handle, 0, 0);
        {error, Why} ->
            Parent ! {self(), {error, Why}};
        Other ->
            Parent ! {self(), {error, Other}}
    end.

daemon_opts(tcp, _Tls) ->
    #{port => 0, transport => tcp};
daemon_opts(tls, #{certfile := C, keyfile := K}) ->
    #{port => 0, transport => tls, tls => [{certfile, C}, {keyfile, K}]}.

sink_start(#{kind := c, node := Node}, Opts, _Notify) ->
    case otpc:start_daemon(Node, echo, undefined, Opts) of
        {ok, Daemon} ->
            {ok, Port} = otpc:daemon_port(Daemon),
            {ok, Daemon, Port};
        {error, _} = Error ->
            Error
    end;
sink_start(#{kind := beam, node := Node}, Opts, Notify) ->
    RefOpts0 = maps:remove(tls, Opts),
    RefOpts1 = case Opts of
                   #{tls := Tls} -> RefOpts0#{certfile => proplists:get_value(certfile, Tls),
                                              keyfile => proplists:get_value(keyfile, Tls)};
                   _ -> RefOpts0
               end,
    RefOpts = case Notify of
                  true -> RefOpts1#{notify => self()};
                  false -> RefOpts1
              end,
    case erpc:call(Node, bench_daemon_ref, start, [RefOpts]) of
        {ok, Port} -> {ok, Port, Port};
        {error, _} = Error -> Error
    end.

sink_loop(Server, Handle, Spawned, Down) ->
    receive
        {otpc_spawned, _Daemon, _Pid, _MRef, _Peer} ->
            sink_loop(Server, Handle, Spawned + 1, Down);
        {bench_spawned, Pid, _Peer} ->
            _ = monitor(process, Pid),
            sink_loop(Server, Handle, Spawned + 1, Down);
        {'DOWN', _, process, _, _} ->
            sink_loop(Server, Handle, Spawned, Down + 1);
        {info, From} ->
            Info = catch sink_info(Server, Handle),
            From ! {self(), info, info_map(Info, Spawned, Down)},
            sink_loop(Server, Handle, Spawned, Down);
        {stop, From} ->
            _ = catch sink_stop(Server, Handle),
            From ! {self(), stopped};
        _Other ->
            sink_loop(Server, Handle, Spawned, Down)
    end.

info_map(Info, Spawned, Down) when is_map(Info) ->
    Info#{sink_spawned => Spawned, sink_down => Down};
info_map(Other, Spawned, Down) ->
    #{error => Other, sink_spawned => Spawned, sink_down => Down}.

sink_info(#{kind := c}, Daemon) ->
    otpc:daemon_info(Daemon);
sink_info(#{kind := beam, node := Node}, Port) ->
    erpc:call(Node, bench_daemon_ref, info, [Port], 10000).

sink_stop(#{kind := c}, Daemon) ->
    otpc:stop_daemon(Daemon);
sink_stop(#{kind := beam, node := Node}, Port) ->
    erpc:call(Node, bench_daemon_ref, stop, [Port], 10000).

%% Waits until the daemon counts no open connection (after a test closed its
%% own), so that a test does not pay for the previous one's teardown.
await_drained(D) ->
    await_drained(D, bench_node:deadline(15)).

await_drained(D, Deadline) ->
    case daemon_info(D) of
        #{active := 0} ->
            ok;
        Info ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true ->
                    io:format("  warning: daemon still reports ~P~n", [Info, 20]);
                false ->
                    timer:sleep(50),
                    await_drained(D, Deadline)
            end
    end.

%%% The client side of the wire protocol (raw sockets, no otpc_client)

connect(#{transport := tcp, port := Port}) ->
    case gen_tcp:connect(?HOST, Port, ?CONN_OPTS, ?TIMEOUT) of
        {ok, S} -> hello(gen_tcp, S);
        {error, Why} -> {error, {connect, Why}}
    end;
connect(#{transport := tls, port := Port, tls := #{client := TlsOpts}}) ->
    case ssl:connect(?HOST, Port, ?CONN_OPTS ++ TlsOpts, ?TIMEOUT) of
        {ok, S} -> hello(ssl, S);
        {error, Why} -> {error, {connect, Why}}
    end.

hello(Mod, S) ->
    case Mod:recv(S, 0, ?HELLO_TIMEOUT) of
        {ok, Data} ->
            case catch binary_to_term(Data) of
                {otpc_hello, 1, Pid} when is_pid(Pid) ->
                    {ok, {Mod, S}};
                Other ->
                    _ = Mod:close(S),
                    {error, {bad_hello, Other}}
            end;
        {error, Why} ->
            _ = Mod:close(S),
            {error, {hello, Why}}
    end.

close({Mod, S}) ->
    _ = Mod:close(S),
    ok.

%% One call: {reply, Tag, Req} for {call, Tag, Req}.
send_call({Mod, S}, Tag) ->
    ok = Mod:send(S, term_to_binary({call, Tag, ?REQ})).

%% The callers' sockets are in active mode (cheaper for the client than a recv
%% per reply): a reply is a message.
recv_reply({gen_tcp, S}) ->
    receive
        {tcp, S, Data} -> {reply, _Tag, ?REQ} = binary_to_term(Data), ok;
        {tcp_closed, S} -> error(closed);
        {tcp_error, S, Why} -> error(Why)
    after ?TIMEOUT -> error(timeout)
    end;
recv_reply({ssl, S}) ->
    receive
        {ssl, S, Data} -> {reply, _Tag, ?REQ} = binary_to_term(Data), ok;
        {ssl_closed, S} -> error(closed);
        {ssl_error, S, Why} -> error(Why)
    after ?TIMEOUT -> error(timeout)
    end.

active({gen_tcp, S}) -> ok = inet:setopts(S, [{active, true}]);
active({ssl, S}) -> ok = ssl:setopts(S, [{active, true}]).

%% Protocol and cipher of a TLS connection, for the report.
tls_info(#{transport := tls} = D) ->
    case connect(D) of
        {ok, {ssl, S} = Conn} ->
            Info = ssl:connection_information(S, [protocol, selected_cipher_suite]),
            close(Conn),
            case Info of
                {ok, [{protocol, P}, {selected_cipher_suite, #{cipher := C}}]} ->
                    io_lib:format("~s ~s", [P, C]);
                {ok, Other} ->
                    io_lib:format("~p", [Other]);
                {error, Why} ->
                    io_lib:format("? (~p)", [Why])
            end;
        {error, Why} ->
            io_lib:format("? (~p)", [Why])
    end.

%%% (a), (b): connections per second

%% `connectors' processes connect, wait for the hello and close, in a loop, for
%% `seconds'. Accepted connections / elapsed time; the server's and the client's
%% CPU over the run.
conn_run(D = #{transport := T}, Cfg = #{connectors := K, seconds := Secs}) ->
    Name = case T of tcp -> conn_tcp; tls -> conn_tls end,
    _ = conn_loop(D, 100, 0, undefined),   % warm-up
    await_drained(D),
    Info = case T of tls -> #{tls_info => lists:flatten(tls_info(D))}; tcp -> #{} end,
    await_drained(D),
    {{Ok, Errors, FirstError, Elapsed}, Cpu} =
        with_cpu(D, Cfg, fun() -> parallel(K, Secs, fun(Deadline) -> conn_worker(D, Deadline) end) end),
    await_drained(D),
    io:format("  ~s: ~b connections in ~.2f s, ~b errors~n", [Name, Ok, Elapsed, Errors]),
    maps:merge(maps:merge(Info, cpu_figures(Name, Cpu, Elapsed)),
               #{Name => Ok / Elapsed,
                 {Name, cpu} => per(maps:get(server, Cpu) * 1000, Ok, 1000),
                 {Name, errors} => {Errors, FirstError}}).

conn_worker(D, Deadline) ->
    conn_until(D, Deadline, 0, 0, undefined).

conn_until(D, Deadline, Ok, Errors, First) ->
    case erlang:monotonic_time() < Deadline of
        false ->
            {Ok, Errors, First};
        true ->
            case connect(D) of
                {ok, Conn} ->
                    close(Conn),
                    conn_until(D, Deadline, Ok + 1, Errors, First);
                {error, Why} ->
                    timer:sleep(10),
                    conn_until(D, Deadline, Ok, Errors + 1, first(First, Why))
            end
    end.

%% N connections, one after the other (warm-up).
conn_loop(_D, 0, Errors, First) ->
    {Errors, First};
conn_loop(D, N, Errors, First) ->
    case connect(D) of
        {ok, Conn} -> close(Conn), conn_loop(D, N - 1, Errors, First);
        {error, Why} -> conn_loop(D, N - 1, Errors + 1, first(First, Why))
    end.

first(undefined, Why) -> Why;
first(First, _Why) -> First.

%% K processes run Fun(Deadline) for Secs seconds, each returning
%% {Ok, Errors, FirstError}: the sums, the first error, and the elapsed seconds
%% until the last one finished.
parallel(K, Secs, Fun) ->
    Parent = self(),
    Pids = [spawn_link(fun() ->
                               receive {go, Deadline} -> ok end,
                               R = Fun(Deadline),
                               Parent ! {done, self(), R, erlang:monotonic_time()}
                       end) || _ <- lists:seq(1, K)],
    Start = erlang:monotonic_time(),
    Deadline = Start + erlang:convert_time_unit(round(Secs * 1000), millisecond, native),
    [Pid ! {go, Deadline} || Pid <- Pids],
    collect(Pids, Start, {0, 0, undefined}, Start).

collect([], Start, {Ok, Errors, First}, End) ->
    {Ok, Errors, First, seconds(End - Start)};
collect(Pids, Start, {Ok, Errors, First}, End) ->
    receive
        {done, Pid, {O, E, F}, T} ->
            collect(lists:delete(Pid, Pids), Start,
                    {Ok + O, Errors + E, first(First, F)}, max(End, T))
    end.

seconds(Native) ->
    erlang:convert_time_unit(Native, native, microsecond) / 1.0e6.

%%% (c): calls per second over N connections

%% N processes, each with a connection of its own, call in a loop for
%% `seconds' (`pipeline' calls sent, then their replies read).
call_run(D, N, Cfg = #{seconds := Secs, pipeline := Depth}) ->
    Name = {calls, N},
    Parent = self(),
    Pids = [spawn_link(fun() -> caller(Parent, D, Depth) end) || _ <- lists:seq(1, N)],
    {Ready, Failed, FirstFail} = await_callers(Pids, [], 0, undefined),
    Start = erlang:monotonic_time(),
    Deadline = Start + erlang:convert_time_unit(round(Secs * 1000), millisecond, native),
    {{Calls, Errors, FirstError, Elapsed}, Cpu} =
        with_cpu(D, Cfg, fun() ->
                                 [Pid ! {go, Deadline} || Pid <- Ready],
                                 collect(Ready, Start, {0, 0, undefined}, Start)
                         end),
    [Pid ! close || Pid <- Ready],
    await_drained(D),
    io:format("  calls over ~b connections (~b opened): ~b calls in ~.2f s, ~b errors~n",
              [N, length(Ready), Calls, Elapsed, Errors + Failed]),
    maps:merge(cpu_figures(Name, Cpu, Elapsed),
               #{Name => Calls / Elapsed,
                 {Name, cpu} => per(maps:get(server, Cpu), Calls, 100000),
                 {Name, per_core} => per_core(Calls, maps:get(server, Cpu)),
                 {Name, errors} => {Errors + Failed, first(FirstFail, FirstError)}}).

await_callers([], Ready, Failed, First) ->
    {Ready, Failed, First};
await_callers(Pids, Ready, Failed, First) ->
    receive
        {ready, Pid} ->
            await_callers(lists:delete(Pid, Pids), [Pid | Ready], Failed, First);
        {failed, Pid, Why} ->
            await_callers(lists:delete(Pid, Pids), Ready, Failed + 1, first(First, Why))
    end.

caller(Parent, D, Depth) ->
    case connect(D) of
        {ok, Conn} ->
            try
                active(Conn),
                [begin send_call(Conn, T), recv_reply(Conn) end
                 || T <- lists:seq(1, ?CALL_WARMUP)]
            catch _:WarmUp ->
                    Parent ! {failed, self(), {warm_up, WarmUp}},
                    exit(normal)
            end,
            Parent ! {ready, self()},
            receive {go, Deadline} -> ok end,
            R = try call_loop(Conn, Depth, Deadline, 0) of
                    Calls -> {Calls, 0, undefined}
                catch _:Why -> {0, 1, Why}
                end,
            Parent ! {done, self(), R, erlang:monotonic_time()},
            receive close -> close(Conn) end;
        {error, Why} ->
            Parent ! {failed, self(), Why}
    end.

call_loop(Conn, Depth, Deadline, N) ->
    case erlang:monotonic_time() < Deadline of
        true ->
            [send_call(Conn, N + I) || I <- lists:seq(1, Depth)],
            [recv_reply(Conn) || _ <- lists:seq(1, Depth)],
            call_loop(Conn, Depth, Deadline, N + Depth);
        false ->
            N
    end.

%%% (d): memory per idle connection

%% Opens up to Target connections (each has had its hello) and holds them; stops
%% at the first error (EMFILE on either side, typically). The server's VmRSS
%% before, with them open, and after they were closed.
idle(D = #{transport := T, server := #{os_pid := OsPid}}, Target0) ->
    Name = case T of tcp -> idle_tcp; tls -> idle_tls end,
    _ = conn_loop(D, min(200, max(10, Target0 div 10)), 0, undefined),   % warm-up
    await_drained(D),
    %% This node keeps a few descriptors free: without them it could not read
    %% /proc, load a module or talk to a new node once the sockets are open.
    Target = case fd_room() of
                 Room when Room < Target0 ->
                     io:format("  ~s: ~b connections asked, this node has room for ~b~n",
                               [Name, Target0, Room]),
                     Room;
                 _ ->
                     Target0
             end,
    timer:sleep(500),
    Before = rss(OsPid),
    Stop = atomics:new(1, []),
    K = min(?IDLE_OPENERS, Target),
    Parent = self(),
    Shares = [Target div K + (case I =< Target rem K of true -> 1; false -> 0 end)
              || I <- lists:seq(1, K)],
    T0 = erlang:monotonic_time(),
    Openers = [spawn_link(fun() -> opener(Parent, D, Share, Stop) end) || Share <- Shares],
    {Count, FirstError} = await_openers(Openers, 0, undefined),
    OpenSecs = seconds(erlang:monotonic_time() - T0),
    timer:sleep(1000),
    With = rss(OsPid),
    ServerSees = maps:get(active, daemon_info(D), undefined),
    [Pid ! {close, self()} || Pid <- Openers],
    [receive {closed, Pid} -> ok end || Pid <- Openers],
    await_drained(D),
    timer:sleep(500),
    After = rss(OsPid),
    io:format("  ~s: ~b of ~b connections opened in ~.2f s (server counted ~p)~s~n",
              [Name, Count, Target, OpenSecs, ServerSees,
               case FirstError of
                   undefined -> "";
                   Why -> io_lib:format(", stopped by ~0P", [Why, 12])
               end]),
    #{{Name, count} => Count,
      {Name, rss_before} => Before / 1048576,
      {Name, rss_with} => With / 1048576,
      {Name, rss_after} => After / 1048576,
      {Name, bytes} => per(With - Before, Count, 1),
      {Name, errors} => {case FirstError of undefined -> 0; _ -> 1 end, FirstError}}.

opener(Parent, D, Share, Stop) ->
    {Conns, Error} = open_idle(D, Share, Stop, []),
    Parent ! {opened, self(), length(Conns), Error},
    receive {close, From} -> ok end,
    [close(C) || C <- Conns],
    From ! {closed, self()}.

open_idle(_D, 0, _Stop, Acc) ->
    {Acc, undefined};
open_idle(D, N, Stop, Acc) ->
    case atomics:get(Stop, 1) of
        1 ->
            {Acc, undefined};
        0 ->
            case connect(D) of
                {ok, Conn} ->
                    open_idle(D, N - 1, Stop, [Conn | Acc]);
                {error, Why} ->
                    atomics:put(Stop, 1, 1),
                    {Acc, Why}
            end
    end.

await_openers([], Count, First) ->
    {Count, First};
await_openers(Pids, Count, First) ->
    receive
        {opened, Pid, N, Error} ->
            await_openers(lists:delete(Pid, Pids), Count + N, first(First, Error))
    end.

%% VmRSS in bytes.
rss(OsPid) ->
    {ok, Status} = file:read_file(bench_node:proc_file(OsPid, "status")),
    [Line] = [L || L <- binary:split(Status, <<"\n">>, [global]),
                   binary:part(L, 0, min(6, byte_size(L))) =:= <<"VmRSS:">>],
    [_, Kb, <<"kB">>] = string:lexemes(Line, " \t"),
    binary_to_integer(Kb) * 1024.

%% How many more descriptors this node may open, less ?FD_RESERVE.
fd_room() ->
    case string:to_integer(max_open_files(list_to_integer(os:getpid()))) of
        {Limit, <<>>} ->
            {ok, Open} = file:list_dir("/proc/self/fd"),
            max(0, Limit - length(Open) - ?FD_RESERVE);
        _ ->
            infinity
    end.

max_open_files(OsPid) ->
    case file:read_file(bench_node:proc_file(OsPid, "limits")) of
        {ok, Limits} ->
            case [L || L <- binary:split(Limits, <<"\n">>, [global]),
                       string:prefix(L, <<"Max open files">>) =/= nomatch] of
                [Line] -> lists:nth(4, string:lexemes(Line, " "));
                _ -> "?"
            end;
        {error, _} ->
            "?"
    end.

%%% CPU time from /proc

%% Runs Fun; returns its result and the CPU seconds the server (in all, and in
%% the kernel) and this node used.
with_cpu(#{server := #{os_pid := Server}}, #{clk_tck := Tck}, Fun) ->
    Client = list_to_integer(os:getpid()),
    {SU0, SS0} = bench_node:cpu_ticks(Server),
    {CU0, CS0} = bench_node:cpu_ticks(Client),
    Result = Fun(),
    {SU1, SS1} = bench_node:cpu_ticks(Server),
    {CU1, CS1} = bench_node:cpu_ticks(Client),
    {Result, #{server => (SU1 - SU0 + SS1 - SS0) / Tck,
               server_sys => (SS1 - SS0) / Tck,
               client => (CU1 - CU0 + CS1 - CS0) / Tck}}.

%% Use of the server's and the client's CPU, and the server's share in the kernel.
cpu_figures(Name, #{server := S, server_sys := Sys, client := C}, Elapsed) ->
    #{{Name, server_util} => 100 * S / Elapsed,
      {Name, server_sys} => case S > 0 of true -> 100 * Sys / S; false -> none end,
      {Name, client_util} => 100 * C / Elapsed}.

%% Calls/s one server core would do at 100 % if every call cost what these did.
per_core(Calls, ServerCpu) when ServerCpu > 0 -> Calls / ServerCpu;
per_core(_Calls, _ServerCpu) -> none.

%% X per Unit of N (none when nothing was done).
per(_X, 0, _Unit) -> none;
per(X, N, Unit) -> X / N * Unit.

%%% Report

print_header(Cfg = #{seconds := Secs, tls := #{key := Key}}) ->
    io:format("otpc daemon bench: ~s, OTP ~s, ~s s per timed run, ~b connectors, "
              "pipeline ~b, TLS key ~s~n",
              [node(), erlang:system_info(otp_release), bench_node:fmt(Secs),
               maps:get(connectors, Cfg), maps:get(pipeline, Cfg), tls_key_label(Key)]),
    io:format("~s; client max open files ~s; ~s~n",
              [bench_node:pinning(Cfg), max_open_files(list_to_integer(os:getpid())), load()]).

%% Other work on the machine moves every figure here; the load average and CPU
%% count are printed (at the start and the end) so a reader can tell.
load() ->
    case file:read_file("/proc/loadavg") of
        {ok, Text} ->
            [One | _] = string:lexemes(Text, " "),
            io_lib:format("load average ~s on ~b CPUs", [One, erlang:system_info(logical_processors)]);
        {error, _} ->
            "load average ?"
    end.

tls_key_label("rsa") -> "RSA 2048";
tls_key_label(_) -> "ECDSA P-256".

%% {key, label, whether a C/BEAM ratio makes sense}
rows(Cfg = #{connectors := K, idle := Idle, idle_tls := IdleTls}) ->
    Conn = fun(Key, What) ->
                   [{Key, io_lib:format("~s/s, ~b connectors", [What, K]), true},
                    {{Key, cpu}, "  server CPU ms per 1k conns", true},
                    {{Key, server_util}, "  server CPU %", false},
                    {{Key, server_sys}, "  server CPU: % of it in kernel", false},
                    {{Key, client_util}, "  client CPU %", false}]
           end,
    Calls = fun(N) ->
                    [{{calls, N}, io_lib:format("calls/s, ~b connections", [N]), true},
                     {{{calls, N}, cpu}, "  server CPU s per 100k calls", true},
                     {{{calls, N}, per_core}, "  calls/s per server core", true},
                     {{{calls, N}, server_util}, "  server CPU %", false},
                     {{{calls, N}, server_sys}, "  server CPU: % of it in kernel", false},
                     {{{calls, N}, client_util}, "  client CPU %", false}]
            end,
    Idle1 = fun(Key, What, Target) ->
                    [{{Key, count}, io_lib:format("idle ~s conns held (of ~b)", [What, Target]),
                      true},
                     {{Key, rss_before}, "  server RSS before, MiB", true},
                     {{Key, rss_with}, "  server RSS holding them, MiB", true},
                     {{Key, rss_after}, "  server RSS after close, MiB", true},
                     {{Key, bytes}, io_lib:format("  bytes per idle ~s conn", [What]), true}]
            end,
    lists:append(
      [[R || test("conn", Cfg), R <- Conn(conn_tcp, "TCP connections")],
       [R || test("tls", Cfg), R <- Conn(conn_tls, "TLS connections")],
       [R || test("calls", Cfg), N <- maps:get(conns, Cfg), R <- Calls(N)],
       [R || test("idle", Cfg), Idle > 0, R <- Idle1(idle_tcp, "TCP", Idle)],
       [R || test("idle", Cfg), IdleTls > 0, R <- Idle1(idle_tls, "TLS", IdleTls)]]).

print_report(Results, Cfg) ->
    C = bench_node:side_result(c, Results),
    Beam = bench_node:side_result(beam, Results),
    io:format("~n~-40s ~12s ~12s ~8s~n", ["", column_label(Cfg), "BEAM", "C/BEAM"]),
    [print_row(Row, C, Beam) || Row <- rows(Cfg)],
    io:format("~n~s at the end~n", [load()]),
    [io:format("TLS negotiated, ~s: ~s~n", [side_label(Side, Cfg), Info])
     || {Side, #{tls_info := Info}} <- Results],
    [print_errors(Side, R, Cfg) || {Side, R} <- Results, is_map(R)],
    [io:format("~s: no figures (~0P)~n", [side_label(Side, Cfg), Why, 12])
     || {Side, {error, Why}} <- Results],
    [io:format("~s: ~s failed (~0P)~n", [side_label(Side, Cfg), Phase, Why, 12])
     || {Side, #{failed := Failed}} <- Results, {Phase, Why} <- Failed],
    ok.

column_label(#{fake_c := true}) -> "C (fake)";
column_label(_) -> "C daemon".

side_label(c, Cfg) -> column_label(Cfg);
side_label(beam, _) -> "BEAM".

print_row({Key, Label, WithRatio}, C, Beam) ->
    Cv = value(Key, C),
    Bv = value(Key, Beam),
    Ratio = case WithRatio of
                true -> bench_node:ratio(Cv, Bv);
                false -> none
            end,
    io:format("~-40s ~12s ~12s ~8s~n",
              [Label, bench_node:fmt(Cv), bench_node:fmt(Bv), bench_node:fmt_ratio(Ratio)]).

print_errors(Side, R, Cfg) ->
    [io:format("~s, ~s: ~b error(s), first: ~0P~n",
               [side_label(Side, Cfg), test_label(Test), N, First, 12])
     || {{Test, errors}, {N, First}} <- lists:sort(maps:to_list(R)), N > 0],
    ok.

test_label({calls, N}) -> io_lib:format("calls over ~b connections", [N]);
test_label(conn_tcp) -> "TCP connections";
test_label(conn_tls) -> "TLS connections";
test_label(idle_tcp) -> "idle TCP connections (stopped there)";
test_label(idle_tls) -> "idle TLS connections (stopped there)".

value(_Key, none) -> none;
value(Key, Results) -> maps:get(Key, Results, none).
