%% The C node against foreign (non-BEAM) nodes: OTP's Java library
%% (jinterface, Debian's erlang-jinterface) and an erl_interface C node, each
%% doing its own handshake. Neither announces DFLAG_DIST_MONITOR_NAME, and
%% jinterface not DFLAG_DIST_MONITOR either, so the C node must accept them
%% (ERTS requires neither) and degrade monitors as ERTS does: no MONITOR_P,
%% DEMONITOR_P or MONITOR_P_EXIT goes to them, and a monitor of one of their
%% processes fires `noconnection' when the connection goes. jinterface closes
%% the connection on a MONITOR_P ("Remote is sending garbage"), so a monitor
%% frame that slipped through shows as a lost message and a DOWN.
%%
%% The Java peer (otpc_foreign_SUITE_data/OtpcJavaPeer.java, compiled here
%% into the case's priv_dir) and the ei peer (c_src/test/foreign/ei_peer.c,
%% built by c_src/Makefile into c_src/build/ei_peer) are driven as ports: the
%% Java one by lines on its stdin, both print one line per event (the
%% protocols are at the top of their sources). The C node runs the probes
%% (`-probe'), whose protocol otpc_dist_SUITE lists.
%%
%% Nothing here depends on the OTP release of the test node, so the release
%% matrix (scripts/otp_ct.sh) does not run this suite: jinterface and ei come
%% from the host's OTP, whatever the matrix's erl.
-module(otpc_foreign_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, groups/0, suite/0,
         init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2,
         init_per_testcase/2, end_per_testcase/2]).

-export([java_ping_and_call/1, java_monitor_watches_connection/1,
         java_monitor_before_connecting/1, java_monitors_as_erts/1, java_links/1,
         ei_ping_and_call/1, ei_monitor_watches_connection/1]).

-type config() :: [{atom(), term()}].

-define(TIMEOUT, 10000).

%% ?recv, ?refute, mailbox/0, summary/1.
-include("otpc_ct.hrl").

%%% ------------------------------------------------------------------
%%% ct callbacks
%%% ------------------------------------------------------------------

-spec suite() -> [tuple()].
suite() ->
    [{timetrap, {minutes, 2}}].

-spec all() -> [{group, atom()}].
all() ->
    [{group, jinterface}, {group, ei}].

-spec groups() -> [{atom(), list(), [atom()]}].
groups() ->
    [{jinterface, [], [java_ping_and_call, java_monitor_watches_connection,
                       java_monitor_before_connecting, java_monitors_as_erts,
                       java_links]},
     {ei, [], [ei_ping_and_call, ei_monitor_watches_connection]}].

-spec init_per_suite(config()) -> config() | {skip, string()}.
init_per_suite(Config) ->
    otpc_ct_node:init_per_suite(Config).

-spec end_per_suite(config()) -> ok.
end_per_suite(Config) ->
    otpc_ct_node:end_per_suite(Config).

%% The Java peer is compiled once for the group; a missing JDK or
%% jinterface fails the group (scripts/deps.sh installs both).
-spec init_per_group(atom(), config()) -> config() | {fail, term()}.
init_per_group(jinterface, Config) ->
    Jar = jinterface_jar(),
    Javac = os:find_executable("javac"),
    Java = os:find_executable("java"),
    Dir = filename:join(?config(priv_dir, Config), "java"),
    Src = filename:join(?config(data_dir, Config), "OtpcJavaPeer.java"),
    case {Jar, Javac, Java} of
        {false, _, _} -> {fail, "no jinterface (OtpErlang.jar): make deps"};
        {_, false, _} -> {fail, "no javac: make deps"};
        {_, _, false} -> {fail, "no java: make deps"};
        _ ->
            ok = filelib:ensure_path(Dir),
            case run(Javac, ["-cp", Jar, "-d", Dir, Src]) of
                {0, _} -> [{java, Java}, {classpath, Jar ++ ":" ++ Dir} | Config];
                {Status, Out} -> {fail, {javac, Status, Out}}
            end
    end;
init_per_group(ei, Config) ->
    Exe = filename:join([repo_root(), "c_src", "build", "ei_peer"]),
    case filelib:is_regular(Exe) of
        true -> [{ei_peer, Exe} | Config];
        false -> {fail, {no_ei_peer, Exe, "run make -C c_src first"}}
    end.

-spec end_per_group(atom(), config()) -> ok.
end_per_group(_Group, _Config) ->
    ok.

-spec init_per_testcase(atom(), config()) -> config() | {fail, term()}.
init_per_testcase(Case, Config) ->
    Name = list_to_atom(lists:concat(["c_", Case, "_", os:getpid()])),
    case otpc:start_node(#{name => Name, args => ["-probe"]}) of
        {ok, Node} -> [{node, Node}, {case_name, Case} | Config];
        Error -> {fail, {start_node, Name, Error}}
    end.

-spec end_per_testcase(atom(), config()) -> ok.
end_per_testcase(_Case, Config) ->
    _ = [catch port_close(P) || P <- erlang:ports(),
                                erlang:port_info(P, connected) =:= {connected, self()}],
    _ = (catch otpc:stop_node(?config(node, Config))),
    _ = (catch unregister(otpc_ct_foreign)),
    ok.

doc(String) ->
    ct:comment(String).

%%% ------------------------------------------------------------------
%%% jinterface
%%% ------------------------------------------------------------------

java_ping_and_call(Config) ->
    doc("A jinterface node (no DIST_MONITOR, no DIST_MONITOR_NAME) is accepted: "
        "it pings the C node and gets echo's gen_server reply."),
    Node = ?config(node, Config),
    J = java_start(Config),
    java_cmd(J, "ping ~s", [Node], "ping pong"),
    java_cmd(J, "call ~s echo", [Node], "call ok"),
    java_cmd(J, "call ~s echo", [Node], "call ok"),
    java_quit(J, [Node]).

java_monitor_watches_connection(Config) ->
    doc("A C process's monitors of a jinterface process, by pid or by name, send "
        "nothing (jinterface would drop the connection): messages behind them "
        "arrive, a demonitored one never fires, the others fire noconnection "
        "when the connection goes."),
    Node = ?config(node, Config),
    J = java_start(Config),
    java_cmd(J, "call ~s echo", [Node], "call ok"),
    JPid = java_pid(J),
    JNode = node(JPid),
    P = probe(Node),
    {monitored, P, R1} = ask_monitor(P, JPid),
    {monitored, P, R2} = ask_monitor(P, JPid),
    {monitored, P, R3} = ask_monitor(P, {otpc_java, JNode}),
    ok = ask(P, {send, JPid, after_monitors}, send),
    _ = java_expect(J, "got after_monitors", [Node]),
    ok = ask(P, {demonitor, R1}, demonitor),
    ok = ask(P, {send, JPid, after_demonitor}, send),
    _ = java_expect(J, "got after_demonitor", [Node]),
    java_cmd(J, "call ~s echo", [Node], "call ok"),
    sync(Node),
    ?refute({probe_got, P, {'DOWN', _, _, _, _}}),
    java_quit(J, []),
    _ = ?recv({probe_got, P, {'DOWN', R2, process, JPid, noconnection}}),
    _ = ?recv({probe_got, P, {'DOWN', R3, process, {otpc_java, JNode}, noconnection}}),
    sync(Node),
    ?refute({probe_got, P, {'DOWN', R1, _, _, _}}).

java_monitor_before_connecting(Config) ->
    doc("A monitor of a jinterface process made before the C node is connected "
        "to it is queued as for any peer and dropped once the handshake shows "
        "the peer has no monitors: the message queued after it arrives."),
    Node = ?config(node, Config),
    J = java_start(Config),
    JPid = java_pid(J), %% the Java node is connected to us only
    P = probe(Node),
    P ! {monitor, JPid},
    P ! {send, JPid, behind_the_monitor},
    {monitored, P, R} = ?recv({monitored, P, _}),
    _ = ?recv({done, P, send}),
    _ = java_expect(J, "got behind_the_monitor", [Node]),
    java_cmd(J, "call ~s echo", [Node], "call ok"),
    sync(Node),
    ?refute({probe_got, P, {'DOWN', _, _, _, _}}),
    java_quit(J, []),
    _ = ?recv({probe_got, P, {'DOWN', R, process, JPid, noconnection}}).

java_monitors_as_erts(Config) ->
    doc("A C process's monitor of a jinterface process gives what this node's own "
        "ERTS monitor of it gives: nothing when that process ends (its mailbox "
        "closed, the node up), noconnection when the node goes."),
    Node = ?config(node, Config),
    J = java_start(Config),
    %% The Java node dials the C node before anything makes the C node dial
    %% it: jinterface refuses the ok_simultaneous status, so connections that
    %% cross fail (as they would against an ERTS node).
    java_cmd(J, "call ~s echo", [Node], "call ok"),
    JPid = java_pid(J),
    ErtsRef = erlang:monitor(process, JPid),
    P = probe(Node),
    {monitored, P, CRef} = ask_monitor(P, JPid),
    java_cmd(J, "close", [], "closed"),
    %% Round trips over both connections of the Java node: whatever it was
    %% going to send about the closed mailbox has arrived.
    java_cmd(J, "ping ~s", [node()], "ping pong"),
    java_cmd(J, "ping ~s", [Node], "ping pong"),
    sync(Node),
    ?refute({'DOWN', ErtsRef, _, _, _}),
    ?refute({probe_got, P, {'DOWN', CRef, _, _, _}}),
    java_quit(J, []),
    _ = ?recv({'DOWN', ErtsRef, process, JPid, noconnection}),
    _ = ?recv({probe_got, P, {'DOWN', CRef, process, JPid, noconnection}}).

java_links(Config) ->
    doc("Links work both ways with jinterface (LINK, EXIT): its mailbox learns "
        "of a linked C process's exit reason, and a trapping C process gets "
        "noconnection from the jinterface node when it goes."),
    Node = ?config(node, Config),
    J = java_start(Config),
    JPid = java_pid(J),
    P = probe(Node),
    JPid ! {link, P},
    _ = java_expect(J, "linked " ++ pid_text(P), [Node]),
    %% jinterface says "linked" once its LINK is sent; the exit below goes over
    %% another connection and must not overtake it
    ok = wait_linked(Node, P, JPid, 100),
    P ! {exit, {shutdown, bye}},
    _ = java_expect(J, "exit {shutdown,bye}", [Node]),
    T = probe(Node),
    ok = ask(T, {trap_exit, true}, trap_exit),
    ok = ask(T, {link, JPid}, link),
    ok = ask(T, {send, JPid, after_link}, send),
    _ = java_expect(J, "got after_link", [Node]),
    java_quit(J, []),
    _ = ?recv({probe_got, T, {'EXIT', JPid, noconnection}}).

wait_linked(_Node, P, JPid, 0) ->
    ct:fail({link_not_seen, P, JPid});
wait_linked(Node, P, JPid, N) ->
    case rpc:call(Node, erlang, process_info, [P, links]) of
        {links, Links} when is_list(Links) ->
            case lists:member(JPid, Links) of
                true -> ok;
                false -> timer:sleep(50), wait_linked(Node, P, JPid, N - 1)
            end;
        _ -> timer:sleep(50), wait_linked(Node, P, JPid, N - 1)
    end.

%%% ------------------------------------------------------------------
%%% erl_interface
%%% ------------------------------------------------------------------

ei_ping_and_call(Config) ->
    doc("An erl_interface node (ei_connect; DIST_MONITOR without "
        "DIST_MONITOR_NAME) pings the C node and gets echo's gen_server reply; "
        "a 1 MiB reply comes whole (ei announces no DFLAG_FRAGMENTS)."),
    Node = ?config(node, Config),
    Lines = ei_run(Config, [atom_to_list(Node)]),
    ["connected", "ping pong", "call ok", "big ok", "bye"] = Lines.

ei_monitor_watches_connection(Config) ->
    doc("A C process's monitor of an ei process sends it no MONITOR_P (ERTS "
        "sends none to a peer without DIST_MONITOR_NAME): the ei node sees only "
        "the messages, and the monitor fires noconnection when it disconnects."),
    Node = ?config(node, Config),
    true = register(otpc_ct_foreign, self()),
    Port = ei_open(Config, [atom_to_list(Node), atom_to_list(node()),
                            "otpc_ct_foreign"]),
    {ei, EPid} = ?recv({ei, _}),
    P = probe(Node),
    {monitored, P, R} = ask_monitor(P, EPid),
    ok = ask(P, {send, EPid, after_monitor}, send),
    ok = ask(P, {send, EPid, quit}, send),
    Lines = port_lines(Port, []),
    ct:log("ei_peer: ~p", [Lines]),
    ["connected", "ping pong", "call ok", "told" | Rest] = Lines,
    %% Each message is "msg 2" (SEND) then "got ...": nothing else came.
    ["msg 2", "got after_monitor", "msg 2", "got quit", "bye"] = Rest,
    _ = ?recv({probe_got, P, {'DOWN', R, process, EPid, noconnection}}).

%%% ------------------------------------------------------------------
%%% helpers: the Java peer
%%% ------------------------------------------------------------------

jinterface_jar() ->
    Candidates = [filename:join(Dir, "OtpErlang.jar")
                  || Dir <- [code:priv_dir(jinterface), "/usr/share/java"],
                     is_list(Dir)],
    case [J || J <- Candidates, filelib:is_regular(J)] of
        [Jar | _] -> Jar;
        [] -> false
    end.

%% A Java peer named j_<case>_<ospid>@<our host>, with our cookie.
java_start(Config) ->
    Name = lists:concat(["j_", ?config(case_name, Config), "_", os:getpid(),
                         "@", host()]),
    Port = open_port({spawn_executable, ?config(java, Config)},
                     [{args, ["-cp", ?config(classpath, Config), "OtpcJavaPeer",
                              Name, atom_to_list(erlang:get_cookie())]},
                      {line, 4096}, use_stdio, stderr_to_stdout, exit_status]),
    _ = java_expect(Port, "ready " ++ Name, []),
    Port.

%% Sends one command line and waits for the line it must print.
java_cmd(Port, Fmt, Args, Wanted) ->
    true = port_command(Port, io_lib:format(Fmt ++ "~n", Args)),
    _ = java_expect(Port, Wanted, [Node || Node <- Args, is_atom(Node)]),
    ok.

%% The Java node's main mailbox pid, sent to us over its own connection to
%% this node (not to the C node).
java_pid(Port) ->
    true = register(otpc_ct_foreign, self()),
    java_cmd(Port, "tell ~s otpc_ct_foreign", [node()], "told"),
    {java, JPid} = ?recv({java, _}),
    true = unregister(otpc_ct_foreign),
    JPid.

%% Waits for the line Wanted, and returns the lines before it; fails on a
%% "down NODE" line for any of Nodes (a connection that must stay up) and
%% on the program's exit.
java_expect(Port, Wanted, Nodes) ->
    Downs = ["down " ++ atom_to_list(N) || N <- Nodes],
    java_expect(Port, Wanted, Downs, []).

java_expect(Port, Wanted, Downs, Seen) ->
    receive
        {Port, {data, {eol, Wanted}}} ->
            lists:reverse(Seen);
        {Port, {data, {eol, Line}}} ->
            lists:member(Line, Downs) andalso
                ct:fail({connection_lost, Line, {before, Wanted},
                         lists:reverse(Seen)}),
            java_expect(Port, Wanted, Downs, [Line | Seen]);
        {Port, {data, {noeol, Part}}} ->
            java_expect(Port, Wanted, Downs, [Part | Seen]);
        {Port, {exit_status, Status}} ->
            ct:fail({java_exited, Status, {waiting_for, Wanted},
                     lists:reverse(Seen)})
    after ?TIMEOUT ->
            ct:fail({no_line, Wanted, lists:reverse(Seen), {mailbox, mailbox()}})
    end.

%% quit, then the program's exit; no "down" for Nodes before "bye".
java_quit(Port, Nodes) ->
    true = port_command(Port, "quit\n"),
    _ = java_expect(Port, "bye", Nodes),
    receive
        {Port, {exit_status, 0}} -> ok;
        {Port, {exit_status, Status}} -> ct:fail({java_exit_status, Status})
    after ?TIMEOUT ->
            ct:fail(java_did_not_exit)
    end.

pid_text(Pid) ->
    %% jinterface prints a pid as #Pid<Node.Id.Serial> (OtpErlangPid.toString).
    <<"<", Rest/binary>> = list_to_binary(pid_to_list(Pid)),
    [_NodeIx, Id, Serial] = binary:split(binary:part(Rest, 0, byte_size(Rest) - 1),
                                         <<".">>, [global]),
    lists:concat(["#Pid<", node(Pid), ".", binary_to_list(Id), ".",
                  binary_to_list(Serial), ">"]).

%%% ------------------------------------------------------------------
%%% helpers: the ei peer
%%% ------------------------------------------------------------------

%% ei_peer e_<case>_<ospid>@<our host> Cookie Args...: its port.
ei_open(Config, Args) ->
    Name = lists:concat(["e_", ?config(case_name, Config), "_", os:getpid(),
                         "@", host()]),
    open_port({spawn_executable, ?config(ei_peer, Config)},
              [{args, [Name, atom_to_list(erlang:get_cookie()) | Args]},
               {line, 4096}, use_stdio, stderr_to_stdout, exit_status]).

%% Runs ei_peer to its end; its lines, after checking it exited 0.
ei_run(Config, Args) ->
    port_lines(ei_open(Config, Args), []).

port_lines(Port, Acc) ->
    receive
        {Port, {data, {eol, Line}}} -> port_lines(Port, [Line | Acc]);
        {Port, {data, {noeol, Part}}} -> port_lines(Port, [Part | Acc]);
        {Port, {exit_status, 0}} -> lists:reverse(Acc);
        {Port, {exit_status, Status}} ->
            ct:fail({ei_peer_exited, Status, lists:reverse(Acc)})
    after ?TIMEOUT ->
            ct:fail({ei_peer_silent, lists:reverse(Acc)})
    end.

%%% ------------------------------------------------------------------
%%% helpers: probes and the rest
%%% ------------------------------------------------------------------

probe(Node) ->
    {otpc_probe, Node} ! {spawn, self()},
    {spawned, P} = ?recv({spawned, _}),
    P.

ask(P, Request, Tag) ->
    P ! Request,
    _ = ?recv({done, P, Tag}),
    ok.

ask_monitor(P, Target) ->
    P ! {monitor, Target},
    ?recv({monitored, P, _}).

%% A barrier: everything the C node sent us before it has arrived.
sync(Node) ->
    Tag = make_ref(),
    {otpc_probe, Node} ! {echo, self(), {sync, Tag}},
    _ = ?recv({echo, _, {sync, Tag}}),
    ok.

host() ->
    [_, Host] = string:split(atom_to_list(node()), "@"),
    Host.

repo_root() ->
    filename:join([code:lib_dir(otpc), "..", "..", "..", ".."]).

%% Runs Exe with Args to its end: {ExitStatus, Output}.
run(Exe, Args) ->
    Port = open_port({spawn_executable, Exe},
                     [{args, Args}, stderr_to_stdout, exit_status, binary]),
    run_collect(Port, <<>>).

run_collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> run_collect(Port, <<Acc/binary, D/binary>>);
        {Port, {exit_status, S}} -> {S, Acc}
    after 120000 ->
            {timeout, Acc}
    end.
