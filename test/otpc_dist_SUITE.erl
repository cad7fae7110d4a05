%% The C node against a real Erlang node, over real distribution.
%%
%% Every case starts its own C node (`c_<case>_<ospid>`) running the probe
%% processes (`-probe`), so no state leaks from one case to the next; cases
%% that need a third node also start an Erlang `peer` in init_per_testcase.
%% Both are stopped in end_per_testcase, whatever the case did to them.
%%
%% A probe is a C process driven by plain messages (the `-probe` processes of
%% c_src/main/probe.c); cases always spawn a private probe owned by the test
%% process, so that the probe's replies come to us. The protocol, where P is
%% the probe and Owner the process that asked for it (the registered
%% `otpc_probe` has no owner, so its Owner replies go nowhere):
%%
%%   {ping, From}           From ! {pong, P}
%%   {echo, From, Term}     From ! {echo, P, Term}
%%   {spawn, NewOwner}      NewOwner ! {spawned, NewProbe}
%%   {exit, Reason}         P exits with Reason
%%   {link, Pid}            Owner ! {done, P, link}
%%   {unlink, Pid}          Owner ! {done, P, unlink}      (UNLINK_ID)
%%   {monitor, Target}      Owner ! {monitored, P, Ref}    (pid, {Name, Node}
%%                                                          or a local name)
%%   {demonitor, Ref}       Owner ! {done, P, demonitor}
%%   {trap_exit, Bool}      Owner ! {done, P, trap_exit}
%%   {exit_signal, Pid, R}  exit(Pid, R), Owner ! {done, P, exit_signal}
%%   {register, Name}       Owner ! {done, P, register}
%%   {send, Dest, Msg}      Dest ! Msg, Owner ! {done, P, send}
%%                          (connects to Dest's node if need be)
%%   {send_after_spin, To, TimerMs, SpinMs}
%%                          To ! timer after TimerMs, set by a callback that
%%                          computes SpinMs; then Owner ! {done, P, send_after_spin}
%%   {make_ref, From}       From ! {ref, P, Ref}, a reference of the C node
%%   {dist_ops, From}       From ! {dist_ops, P, [{Op, In, Out}]}: the control
%%                          messages the C node decoded from (In) and queued
%%                          for (Out) From's node, by op on the wire
%%   anything else          Owner ! {probe_got, P, Msg}, including the
%%                          'EXIT' and 'DOWN' messages P receives
%%
%% No case sleeps to assert anything. Absence of a signal is checked only after
%% a barrier (`sync/1`): a round trip through the same C node, which proves that
%% everything the node sent before the barrier has already been delivered.
-module(otpc_dist_SUITE).

-include_lib("common_test/include/ct.hrl").

%% ct callbacks
-export([all/0, groups/0, suite/0,
         init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).

%% messages
-export([atom_cache_bytes/1]).
-export([ping/1, net_kernel_calls/1, send_registered_and_pid/1, echo_terms/1, message_order/1,
         large_message_64mib/1, large_message_70mib/1, oversized_message/1]).
%% monitors
-export([monitor_pid/1, monitor_name/1, every_monitor_fires/1, demonitor/1,
         monitor_noproc_name/1, monitor_noproc_pid/1, c_monitors_erlang_pid/1,
         c_monitors_dead_erlang_pid/1, c_monitors_erlang_name/1,
         c_monitors_local_name/1, c_demonitors_erlang/1]).
%% links
-export([link_trapping_erlang/1, link_normal_exit/1, link_from_c_trapping/1,
         link_from_c_not_trapping/1, unlink_from_erlang/1, unlink_from_c/1]).
%% signals
-export([exit_kill/1, exit_normal_ignored/1, exit_trapped/1,
         exit_signal_from_c/1]).
%% ALTACT_SIG (OTP 28+) and ALIAS_SEND, by the release of this erl
-export([replies_by_release/1, altact_signals_in/1]).
%% connections
-export([noconnection_c_side/1, noconnection_after_kill/1,
         noconnection_after_disconnect/1, connect_on_demand/1,
         monitor_unreachable_node/1, wrong_cookie/1, wrong_cookie_outbound/1,
         idle_connection_ticks/1, busy_callback_keeps_connection/1, restart/1,
         frozen_peer_is_busy/1, frozen_peer_times_out/1]).

%% Run on peer nodes, so they must be exported.
-export([relay/2, idle_check/2, busy_check/2, sink/1, flood/3]).

-type config() :: [{atom(), term()}].

-define(TIMEOUT, 5000).
-define(LARGE_TIMEOUT, 60000).
-define(MIB, (1024 * 1024)).

%% ?recv, ?refute, mailbox/0, summary/1 (after the attributes: it defines functions).
-include("otpc_ct.hrl").

%%% ------------------------------------------------------------------
%%% ct callbacks
%%% ------------------------------------------------------------------

-spec suite() -> [tuple()].
suite() ->
    [{timetrap, {minutes, 3}}].

-spec all() -> [{group, atom()}].
all() ->
    [{group, messages}, {group, monitors}, {group, links},
     {group, signals}, {group, altact}, {group, connections}].

-spec groups() -> [{atom(), list(), [atom()]}].
groups() ->
    [{messages, [], [ping, net_kernel_calls, send_registered_and_pid, echo_terms,
                     message_order, large_message_64mib, large_message_70mib,
                     oversized_message, atom_cache_bytes]},
     {monitors, [], [monitor_pid, monitor_name, every_monitor_fires,
                     demonitor, monitor_noproc_name, monitor_noproc_pid,
                     c_monitors_erlang_pid, c_monitors_dead_erlang_pid,
                     c_monitors_erlang_name, c_monitors_local_name,
                     c_demonitors_erlang]},
     {links, [], [link_trapping_erlang, link_normal_exit,
                  link_from_c_trapping, link_from_c_not_trapping,
                  unlink_from_erlang, unlink_from_c]},
     {signals, [], [exit_kill, exit_normal_ignored, exit_trapped,
                    exit_signal_from_c]},
     {altact, [], [replies_by_release, altact_signals_in]},
     {connections, [], [noconnection_c_side, noconnection_after_kill,
                        noconnection_after_disconnect, connect_on_demand,
                        monitor_unreachable_node, wrong_cookie,
                        wrong_cookie_outbound, idle_connection_ticks,
                        busy_callback_keeps_connection,
                        restart, frozen_peer_is_busy, frozen_peer_times_out]}].

-spec init_per_suite(config()) -> config() | {skip, string()}.
init_per_suite(Config) ->
    otpc_ct_node:init_per_suite(Config).

-spec end_per_suite(config()) -> ok.
end_per_suite(Config) ->
    otpc_ct_node:end_per_suite(Config).

-spec init_per_testcase(atom(), config()) -> config() | {fail, term()}.
init_per_testcase(Case, Config) ->
    %% Our OS pid in the name lets several test runs share the host's epmd.
    Name = list_to_atom(lists:concat(["c_", Case, "_", os:getpid()])),
    case otpc:start_node(#{name => Name, args => node_args(Case)}) of
        {ok, Node} ->
            [{node, Node}, {node_name, Name} | start_peer(Case) ++ Config];
        Error ->
            {fail, {start_node, Name, Error}}
    end.

-spec end_per_testcase(atom(), config()) -> ok.
end_per_testcase(_Case, Config) ->
    case proplists:get_value(peer, Config) of
        undefined -> ok;
        Peer -> _ = (catch peer:stop(Peer))
    end,
    %% The node may already be gone: some cases kill it on purpose.
    _ = (catch otpc:stop_node(?config(node, Config))),
    _ = [(catch otpc:stop_node(Node)) || Node <- otpc:nodes()],
    _ = (catch unregister(otpc_ct_sink)),
    _ = (catch unregister(otpc_ct_target)),
    ok.

node_args(oversized_message) -> ["-probe", "-max_message", "1000000"];
node_args(idle_connection_ticks) -> ["-probe", "-net_ticktime", "4"];
node_args(busy_callback_keeps_connection) -> ["-probe", "-net_ticktime", "4"];
node_args(frozen_peer_times_out) -> ["-probe", "-net_ticktime", "4"];
node_args(_) -> ["-probe"].

%% Cases that need a third node. `dist` peers are connected to us and can
%% run this module's code; `stdio` peers are controlled over their standard
%% I/O only, so their distribution settings cannot disturb the ct node.
start_peer(noconnection_c_side) -> start_peer(noconnection_c_side, dist, []);
start_peer(connect_on_demand) -> start_peer(connect_on_demand, dist, []);
start_peer(wrong_cookie) ->
    start_peer(wrong_cookie, stdio, ["-setcookie", "wrong"]);
start_peer(wrong_cookie_outbound) ->
    start_peer(wrong_cookie_outbound, stdio, ["-setcookie", "wrong"]);
start_peer(Case) when Case =:= idle_connection_ticks;
                      Case =:= busy_callback_keeps_connection ->
    start_peer(Case, stdio,
               ["-setcookie", atom_to_list(erlang:get_cookie()),
                "-kernel", "net_ticktime", "4"]);
start_peer(_) -> [].

start_peer(Case, Kind, Args) ->
    Cookie = case lists:member("-setcookie", Args) of
                 true -> [];
                 false -> ["-setcookie", atom_to_list(erlang:get_cookie())]
             end,
    Opts0 = #{name => peer:random_name("p_" ++ atom_to_list(Case)),
              args => Cookie ++ Args ++ suite_code_path()},
    Opts = case Kind of
               dist -> Opts0;
               stdio -> Opts0#{connection => standard_io}
           end,
    {ok, Peer, PeerNode} = peer:start(Opts),
    [{peer, Peer}, {peer_node, PeerNode}].

suite_code_path() ->
    case code:which(?MODULE) of
        Path when is_list(Path) -> ["-pa", filename:dirname(Path)];
        _ -> []
    end.

%% The case's one-line statement of what it proves, shown in the ct log.
doc(String) ->
    ct:comment(String).

%%% ------------------------------------------------------------------
%%% messages
%%% ------------------------------------------------------------------

-spec ping(config()) -> term().
ping(Config) ->
    doc("The C node answers net_adm:ping and is a hidden node of ours."),
    Node = ?config(node, Config),
    pong = net_adm:ping(Node),
    true = lists:member(Node, nodes(hidden)).

-spec atom_cache_bytes(config()) -> term().
atom_cache_bytes(Config) ->
    doc("With the atom cache (the default) a small call costs fewer bytes on the "
        "wire, both ways, than with -no_atom_cache, where ERTS sends every atom "
        "whole: counted on this node's socket of each connection, 500 calls each."),
    Cached = bytes_per_call(?config(node, Config)),
    Name = list_to_atom("c_nac_" ++ os:getpid()),
    {ok, Plain} = otpc:start_node(#{name => Name, args => ["-no_atom_cache"]}),
    Uncached = try bytes_per_call(Plain) after otpc:stop_node(Plain) end,
    ct:comment("bytes per call out/in: cached ~p, uncached ~p", [Cached, Uncached]),
    {CachedOut, CachedIn} = Cached,
    {PlainOut, PlainIn} = Uncached,
    %% here ~290 bytes a call with the cache, ~390 without (202 + 91, 270 + 122)
    true = PlainOut > CachedOut + 40,
    true = PlainIn > CachedIn + 20.

bytes_per_call(Node) ->
    {ping, 1} = gen_server:call({echo, Node}, {ping, 1}),
    {Node, Port} = lists:keyfind(Node, 1, erlang:system_info(dist_ctrl)),
    Stat = fun() -> {ok, [{send_oct, O}, {recv_oct, I}]} =
                        inet:getstat(Port, [send_oct, recv_oct]),
                    {O, I}
           end,
    {O0, I0} = Stat(),
    N = 500,
    [{ping, K} = gen_server:call({echo, Node}, {ping, K}) || K <- lists:seq(1, N)],
    {O1, I1} = Stat(),
    {(O1 - O0) div N, (I1 - I0) div N}.

-spec net_kernel_calls(config()) -> term().
net_kernel_calls(Config) ->
    doc("The C node's net_kernel answers what OTP's answers (nodename, longnames, "
        "ticktime, is_auth) and, like OTP's, nothing to a call it does not know."),
    Node = ?config(node, Config),
    NK = {net_kernel, Node},
    Node = gen_server:call(NK, nodename),
    false = gen_server:call(NK, longnames),
    60 = gen_server:call(NK, ticktime),
    yes = gen_server:call(NK, {is_auth, node()}),
    {'EXIT', {timeout, _}} = (catch gen_server:call(NK, no_such_call, 300)),
    pong = net_adm:ping(Node).

-spec send_registered_and_pid(config()) -> term().
send_registered_and_pid(Config) ->
    doc("Messages reach C processes by registered name and by pid, and "
        "C processes reach Erlang ones by {Name, Node} and by pid."),
    Node = ?config(node, Config),
    {otpc_probe, Node} ! {ping, self()},
    {pong, Reg} = ?recv({pong, _}),
    Node = node(Reg),
    Reg ! {ping, self()},
    _ = ?recv({pong, Reg}),
    P = probe(Node),
    P ! {ping, self()},
    _ = ?recv({pong, P}),
    true = register(otpc_ct_sink, self()),
    ok = ask(P, {send, {otpc_ct_sink, node()}, hello_by_name}, send),
    _ = ?recv(hello_by_name),
    ok = ask(P, {send, self(), hello_by_pid}, send),
    _ = ?recv(hello_by_pid),
    ok.

-spec echo_terms(config()) -> term().
echo_terms(Config) ->
    doc("Terms of every external-format kind come back from a C "
        "process exactly equal."),
    P = probe(?config(node, Config)),
    Terms = sample_terms(P),
    case [#{sent => summary(T), got => summary(Got)}
          || T <- Terms, Got <- [echo(P, T)], Got =/= T] of
        [] -> ok;
        Bad -> ct:fail({changed_by_echo, Bad})
    end,
    %% And all of them at once, as one deep term.
    Whole = list_to_tuple(Terms),
    Whole = echo(P, Whole),
    ok.

-spec message_order(config()) -> term().
message_order(Config) ->
    doc("A burst of messages of mixed sizes, many to a read, comes back "
        "complete and in order."),
    P = probe(?config(node, Config)),
    N = 1000,
    _ = [P ! {echo, self(), {seq, I, padding(I)}} || I <- lists:seq(1, N)],
    expect_in_order(P, 1, N).

expect_in_order(_P, I, N) when I > N ->
    ok;
expect_in_order(P, I, N) ->
    Pad = padding(I),
    case ?recv({echo, P, {seq, _, _}}) of
        {echo, P, {seq, I, Pad}} -> expect_in_order(P, I + 1, N);
        {echo, P, {seq, J, _}} ->
            ct:fail({out_of_order, {expected, I}, {got, J}})
    end.

%% From nothing up to 60 KB, so that frames both share and straddle reads.
padding(I) ->
    binary:copy(<<I:8>>, (I rem 7) * 10000).

-spec large_message_64mib(config()) -> term().
large_message_64mib(Config) ->
    doc("A 64 MiB binary goes to a C process and back unchanged."),
    large_echo(?config(node, Config), 64 * ?MIB).

-spec large_message_70mib(config()) -> term().
large_message_70mib(Config) ->
    doc("A 70 MiB binary passes under the default -max_message."),
    large_echo(?config(node, Config), 70 * ?MIB).

-spec oversized_message(config()) -> term().
oversized_message(Config) ->
    doc("A message above -max_message drops only that connection; the "
        "C node lives on and serves a new connection."),
    Node = ?config(node, Config),
    pong = net_adm:ping(Node),
    P = probe(Node),
    [small] = echo(P, [small]),
    true = erlang:monitor_node(Node, true),
    P ! {echo, self(), binary:copy(<<16#5a>>, 2000000)},
    _ = ?recv({nodedown, Node}, 30000),
    pong = net_adm:ping(Node),
    P2 = probe(Node),
    Small = {small, <<"again">>, [1, 2, 3]},
    Small = echo(P2, Small),
    ?refute({echo, P, _}).

%%% ------------------------------------------------------------------
%%% monitors (Erlang monitors C, and C monitors Erlang)
%%% ------------------------------------------------------------------

-spec monitor_pid(config()) -> term().
monitor_pid(Config) ->
    doc("A monitor on a C pid gets DOWN with the exact exit reason."),
    P = probe(?config(node, Config)),
    Ref = erlang:monitor(process, P),
    P ! {exit, {my, reason, [1, 2, 3]}},
    _ = ?recv({'DOWN', Ref, process, P, {my, reason, [1, 2, 3]}}),
    ok.

-spec monitor_name(config()) -> term().
monitor_name(Config) ->
    doc("A monitor on {Name, CNode} gets DOWN naming {Name, CNode}."),
    Node = ?config(node, Config),
    P = probe(Node),
    ok = ask(P, {register, foo}, register),
    {foo, Node} ! {ping, self()},
    _ = ?recv({pong, P}),
    Ref = erlang:monitor(process, {foo, Node}),
    P ! {exit, {shutdown, {a, "b", 1.5}}},
    _ = ?recv({'DOWN', Ref, process, {foo, Node}, {shutdown, {a, "b", 1.5}}}),
    ok.

-spec every_monitor_fires(config()) -> term().
every_monitor_fires(Config) ->
    doc("Monitors from three Erlang processes plus two from one process "
        "all get DOWN."),
    P = probe(?config(node, Config)),
    Watchers = [watcher(P) || _ <- [1, 2, 3]],
    Ref1 = erlang:monitor(process, P),
    Ref2 = erlang:monitor(process, P),
    P ! {exit, everyone},
    _ = [?recv({watcher_saw, W, everyone}) || W <- Watchers],
    _ = ?recv({'DOWN', Ref1, process, P, everyone}),
    _ = ?recv({'DOWN', Ref2, process, P, everyone}),
    ok.

-spec demonitor(config()) -> term().
demonitor(Config) ->
    doc("After demonitor no DOWN arrives for that monitor; others "
        "still fire."),
    Node = ?config(node, Config),
    P = probe(Node),
    Gone = erlang:monitor(process, P),
    Kept = erlang:monitor(process, P),
    true = erlang:demonitor(Gone, [flush]),
    P ! {exit, bye},
    _ = ?recv({'DOWN', Kept, process, P, bye}),
    ok = sync(Node),
    ?refute({'DOWN', Gone, _, _, _}).

-spec monitor_noproc_name(config()) -> term().
monitor_noproc_name(Config) ->
    doc("Monitoring an unregistered name on the C node gives DOWN noproc."),
    Node = ?config(node, Config),
    Ref = erlang:monitor(process, {no_such_name, Node}),
    _ = ?recv({'DOWN', Ref, process, {no_such_name, Node}, noproc}),
    %% A name is all of its bytes: one that only starts like net_kernel (an atom may
    %% hold NUL) is not net_kernel, and a name beyond Latin-1 comes back as it was sent.
    [begin
         R = erlang:monitor(process, {Name, Node}),
         _ = ?recv({'DOWN', R, process, {Name, Node}, noproc})
     end || Name <- ['net_kernel\0x', 'net_kernel\0', list_to_atom("st\x{e5}ck\x{1F600}")]],
    {'EXIT', {noproc, _}} =
        (catch gen_server:call({'net_kernel\0', Node}, {is_auth, node()}, 5000)),
    ok.

-spec monitor_noproc_pid(config()) -> term().
monitor_noproc_pid(Config) ->
    doc("Monitoring a dead C pid gives DOWN noproc."),
    P = probe(?config(node, Config)),
    ok = stop_probe(P, done),
    Ref = erlang:monitor(process, P),
    _ = ?recv({'DOWN', Ref, process, P, noproc}),
    ok.

-spec c_monitors_erlang_pid(config()) -> term().
c_monitors_erlang_pid(Config) ->
    doc("A C process monitoring an Erlang pid gets DOWN with the "
        "exact reason."),
    P = probe(?config(node, Config)),
    H = helper(),
    {monitored, P, Ref} = ask_monitor(P, H),
    H ! {die, {x, y}},
    _ = ?recv({probe_got, P, {'DOWN', Ref, process, H, {x, y}}}),
    ok.

-spec c_monitors_dead_erlang_pid(config()) -> term().
c_monitors_dead_erlang_pid(Config) ->
    doc("A C process monitoring a dead Erlang pid gets DOWN noproc."),
    P = probe(?config(node, Config)),
    H = helper(),
    ok = kill_helper(H, dead),
    {monitored, P, Ref} = ask_monitor(P, H),
    _ = ?recv({probe_got, P, {'DOWN', Ref, process, H, noproc}}),
    ok.

-spec c_monitors_erlang_name(config()) -> term().
c_monitors_erlang_name(Config) ->
    doc("A C process monitoring {Name, ErlNode} gets DOWN naming "
        "{Name, ErlNode}."),
    P = probe(?config(node, Config)),
    H = helper(),
    ok = helper_do(H, register, otpc_ct_target),
    Me = node(),
    {monitored, P, Ref} = ask_monitor(P, {otpc_ct_target, Me}),
    H ! {die, {x, y}},
    _ = ?recv({probe_got, P,
               {'DOWN', Ref, process, {otpc_ct_target, Me}, {x, y}}}),
    ok.

-spec c_monitors_local_name(config()) -> term().
c_monitors_local_name(Config) ->
    doc("A C process monitoring a name registered on its own node gets "
        "DOWN naming {Name, CNode}, as erlang:monitor/2 does."),
    Node = ?config(node, Config),
    Named = probe(Node),
    ok = ask(Named, {register, bar}, register),
    P = probe(Node),
    {monitored, P, Ref} = ask_monitor(P, bar),
    Named ! {exit, {x, y}},
    _ = ?recv({probe_got, P, {'DOWN', Ref, process, {bar, Node}, {x, y}}}),
    ok.

-spec c_demonitors_erlang(config()) -> term().
c_demonitors_erlang(Config) ->
    doc("After a C process demonitors an Erlang pid, its exit sends "
        "the C process nothing."),
    Node = ?config(node, Config),
    P = probe(Node),
    H = helper(),
    {monitored, P, Ref} = ask_monitor(P, H),
    ok = ask(P, {demonitor, Ref}, demonitor),
    ok = kill_helper(H, unwatched),
    ok = ping_probe(P),
    ok = sync(Node),
    ?refute({probe_got, P, _}).

%%% ------------------------------------------------------------------
%%% links
%%% ------------------------------------------------------------------

-spec link_trapping_erlang(config()) -> term().
link_trapping_erlang(Config) ->
    doc("A trapping Erlang process linked to a C process gets "
        "{'EXIT', P, Reason} with the full reason term."),
    P = probe(?config(node, Config)),
    process_flag(trap_exit, true),
    true = link(P),
    Reason = {shutdown, {a, "b", 1.5}},
    P ! {exit, Reason},
    _ = ?recv({'EXIT', P, Reason}),
    ok.

-spec link_normal_exit(config()) -> term().
link_normal_exit(Config) ->
    doc("A C process exiting normal: a trapping linked process gets "
        "the EXIT, a non-trapping one survives."),
    Node = ?config(node, Config),
    P = probe(Node),
    process_flag(trap_exit, true),
    true = link(P),
    H = helper(),
    HRef = erlang:monitor(process, H),
    ok = helper_do(H, link, P),
    PRef = erlang:monitor(process, P),
    P ! {exit, normal},
    _ = ?recv({'DOWN', PRef, process, P, normal}),
    _ = ?recv({'EXIT', P, normal}),
    ok = sync(Node),
    H ! {ping, self()},
    _ = ?recv({helper_alive, H}),
    true = is_process_alive(H),
    ?refute({'DOWN', HRef, _, _, _}).

-spec link_from_c_trapping(config()) -> term().
link_from_c_trapping(Config) ->
    doc("A link made by a C process is real: the Erlang side sees it, "
        "and a trapping C process gets {'EXIT', ErlPid, Reason}."),
    P = trapping_probe(?config(node, Config)),
    H = helper(),
    ok = ask(P, {link, H}, link),
    {links, Links} = process_info(H, links),
    true = lists:member(P, Links),
    H ! {die, {boom, 1}},
    _ = ?recv({probe_got, P, {'EXIT', H, {boom, 1}}}),
    ok.

-spec link_from_c_not_trapping(config()) -> term().
link_from_c_not_trapping(Config) ->
    doc("A non-trapping C process linked to a dying Erlang process "
        "dies with the same reason."),
    P = probe(?config(node, Config)),
    H = helper(),
    ok = ask(P, {link, H}, link),
    Ref = erlang:monitor(process, P),
    H ! {die, {boom, 1}},
    _ = ?recv({'DOWN', Ref, process, P, {boom, 1}}),
    ok.

-spec unlink_from_erlang(config()) -> term().
unlink_from_erlang(Config) ->
    doc("After an Erlang unlink/1, exits no longer cross the former "
        "link in either direction."),
    Node = ?config(node, Config),
    process_flag(trap_exit, true),
    %% The C process dies: the unlinked Erlang side hears nothing.
    P1 = probe(Node),
    true = link(P1),
    true = unlink(P1),
    ok = stop_probe(P1, after_unlink),
    ok = sync(Node),
    ?refute({'EXIT', P1, _}),
    %% The Erlang process dies: the unlinked C side hears nothing.
    P2 = trapping_probe(Node),
    H = helper(),
    ok = helper_do(H, link, P2),
    ok = helper_do(H, unlink, P2),
    ok = kill_helper(H, after_unlink),
    ok = ping_probe(P2),
    ok = sync(Node),
    ?refute({probe_got, P2, _}).

-spec unlink_from_c(config()) -> term().
unlink_from_c(Config) ->
    doc("After a C process unlinks (UNLINK_ID), exits no longer cross "
        "the former link in either direction."),
    Node = ?config(node, Config),
    process_flag(trap_exit, true),
    %% The C process dies: the Erlang side it unlinked hears nothing.
    P1 = probe(Node),
    ok = ask(P1, {link, self()}, link),
    ok = ask(P1, {unlink, self()}, unlink),
    ok = stop_probe(P1, after_unlink),
    ok = sync(Node),
    ?refute({'EXIT', P1, _}),
    %% The Erlang process dies: the C side that unlinked hears nothing.
    P2 = trapping_probe(Node),
    H = helper(),
    ok = ask(P2, {link, H}, link),
    ok = ask(P2, {unlink, H}, unlink),
    {links, Links} = process_info(H, links),
    false = lists:member(P2, Links),
    ok = kill_helper(H, after_unlink),
    ok = ping_probe(P2),
    ok = sync(Node),
    ?refute({probe_got, P2, _}).

%%% ------------------------------------------------------------------
%%% exit signals
%%% ------------------------------------------------------------------

-spec exit_kill(config()) -> term().
exit_kill(Config) ->
    doc("exit(P, kill) kills even a trapping C process, reason killed."),
    P = trapping_probe(?config(node, Config)),
    Ref = erlang:monitor(process, P),
    true = exit(P, kill),
    _ = ?recv({'DOWN', Ref, process, P, killed}),
    ok.

-spec exit_normal_ignored(config()) -> term().
exit_normal_ignored(Config) ->
    doc("exit(P, normal) does not stop a non-trapping C process."),
    Node = ?config(node, Config),
    P = probe(Node),
    Ref = erlang:monitor(process, P),
    true = exit(P, normal),
    ok = ping_probe(P),
    ok = sync(Node),
    ?refute({'DOWN', Ref, _, _, _}).

-spec exit_trapped(config()) -> term().
exit_trapped(Config) ->
    doc("A trapping C process receives exit signals as "
        "{'EXIT', From, Reason} messages, normal included, and lives on."),
    P = trapping_probe(?config(node, Config)),
    Self = self(),
    true = exit(P, foo),
    _ = ?recv({probe_got, P, {'EXIT', Self, foo}}),
    true = exit(P, normal),
    _ = ?recv({probe_got, P, {'EXIT', Self, normal}}),
    ok = ping_probe(P).

-spec exit_signal_from_c(config()) -> term().
exit_signal_from_c(Config) ->
    doc("An exit signal sent by a C process reaches a trapping Erlang "
        "process as a message and kills a non-trapping one."),
    P = probe(?config(node, Config)),
    process_flag(trap_exit, true),
    ok = ask(P, {exit_signal, self(), bar}, exit_signal),
    _ = ?recv({'EXIT', P, bar}),
    H = helper(),
    Ref = erlang:monitor(process, H),
    ok = ask(P, {exit_signal, H, bar}, exit_signal),
    _ = ?recv({'DOWN', Ref, process, H, bar}),
    ok.

%%% ------------------------------------------------------------------
%%% ALTACT_SIG_SEND (op 37, OTP 28+) and ALIAS_SEND (op 33)
%%%
%%% Which op crossed the connection is read from the C node's own counts
%%% (`dist_ops`), taken at the decoder and at the encoder, so these cases
%%% check the wire, not only that calls still work. With OTP 28 or later
%%% (the matrix's sid root) this erl announces DFLAG_ALTACT_SIG; with the
%%% host's OTP 25 it does not.
%%% ------------------------------------------------------------------

-define(OP_PAYLOAD_EXIT2, 26).
-define(OP_ALIAS_SEND, 33).
-define(OP_ALTACT_SIG_SEND, 37).

-spec replies_by_release(config()) -> term().
replies_by_release(Config) ->
    doc("Replies of C gen_servers (net_kernel, echo, a late one after the caller "
        "gave up) go to the caller's alias as ALTACT_SIG_SEND (op 37) when this "
        "erl announces ALTACT_SIG (OTP 28+) and as ALIAS_SEND (op 33) when it "
        "does not, never the other; each call gets its answer and the late reply "
        "is dropped by ERTS."),
    Node = ?config(node, Config),
    P = probe(Node),
    Before = dist_ops(P),
    [Node = gen_server:call({net_kernel, Node}, nodename) || _ <- lists:seq(1, 5)],
    [{n, I} = gen_server:call({echo, Node}, {n, I}) || I <- lists:seq(1, 5)],
    {'EXIT', {timeout, _}} = (catch gen_server:call({echo, Node}, {'$sleep', 300, late}, 50)),
    %% echo's timers fire in deadline order: this answer comes after the late one
    after_late = gen_server:call({echo, Node}, {'$sleep', 300, after_late}),
    ?refute({_, late}),
    After = dist_ops(P),
    {Used, Unused} = case altact_release() of
                         true -> {?OP_ALTACT_SIG_SEND, ?OP_ALIAS_SEND};
                         false -> {?OP_ALIAS_SEND, ?OP_ALTACT_SIG_SEND}
                     end,
    ct:log("replies by op ~p (unused ~p); counts before ~p, after ~p",
           [Used, Unused, Before, After]),
    12 = ops_out(Used, After) - ops_out(Used, Before),
    0 = ops_out(Unused, After).

-spec altact_signals_in(config()) -> term().
altact_signals_in(Config) ->
    doc("What an OTP 28+ erl sends as ALTACT_SIG_SEND reaches C processes: "
        "priority messages to a pid and to a registered name, priority exit "
        "signals, and the same with a seq_trace token (a fifth element); messages "
        "and exit signals to an alias of the C node are dropped, as it makes none. "
        "Each crossed as op 37, none as the older ops. An erl without ALTACT_SIG "
        "sends an alias message as ALIAS_SEND."),
    Node = ?config(node, Config),
    P = trapping_probe(Node),
    ok = ask(P, {register, otpc_ct_altact}, register),
    P ! {make_ref, self()},
    {ref, P, Alias} = ?recv({ref, P, _}),
    Before = dist_ops(P),
    case altact_release() of
        true -> altact_signals(Node, P, Alias, Before);
        false -> alias_send_signals(Node, P, Alias, Before)
    end.

%% OTP 28+: one signal per form ERTS sends as op 37 (dist.c, erts_dsig_send_msg and
%% erts_dsig_send_exit2), each counted once.
altact_signals(Node, P, Alias, Before) ->
    Self = self(),
    Sent = [ok = erlang:send(P, to_pid, [priority]),                   % PRIO
            ok = erlang:send({otpc_ct_altact, Node}, to_name, [priority]), % PRIO|NAME
            Alias ! to_alias,                                          % ALIAS
            ok = erlang:send(Alias, to_alias_prio, [priority]),        % ALIAS|PRIO
            erlang:exit(P, prio_exit, [priority]),                     % EXIT|PRIO
            exit(Alias, alias_exit)],                                  % EXIT|ALIAS
    %% The same with a trace token: the TOKEN flag and a fifth element.
    _ = seq_trace:set_token(label, 37),
    Traced = [ok = erlang:send(P, to_pid_token, [priority]),
              Alias ! to_alias_token,
              erlang:exit(P, prio_exit_token, [priority])],
    _ = seq_trace:set_token([]),
    _ = ?recv({probe_got, P, to_pid}),
    _ = ?recv({probe_got, P, to_name}),
    _ = ?recv({probe_got, P, {'EXIT', Self, prio_exit}}),
    _ = ?recv({probe_got, P, to_pid_token}),
    _ = ?recv({probe_got, P, {'EXIT', Self, prio_exit_token}}),
    ok = sync(Node),
    ?refute({probe_got, P, _}),
    After = dist_ops(P),
    ct:log("counts before ~p, after ~p", [Before, After]),
    N = length(Sent) + length(Traced),
    N = ops_in(?OP_ALTACT_SIG_SEND, After) - ops_in(?OP_ALTACT_SIG_SEND, Before),
    %% The probe requests (dist_ops, sync's echo) come as SEND_SENDER / REG_SEND.
    [0 = ops_in(Op, After) - ops_in(Op, Before)
     || Op <- [?OP_ALIAS_SEND, ?OP_PAYLOAD_EXIT2]],
    %% and the probe is still alive and well
    ok = ping_probe(P).

%% Before OTP 28: an alias message is ALIAS_SEND (dropped by the node too).
alias_send_signals(Node, P, Alias, Before) ->
    Alias ! to_alias,
    ok = sync(Node),
    ?refute({probe_got, P, _}),
    After = dist_ops(P),
    ct:log("counts before ~p, after ~p", [Before, After]),
    1 = ops_in(?OP_ALIAS_SEND, After) - ops_in(?OP_ALIAS_SEND, Before),
    0 = ops_in(?OP_ALTACT_SIG_SEND, After),
    ok = ping_probe(P).

%% Does this erl announce DFLAG_ALTACT_SIG (OTP 28 and later)?
altact_release() ->
    list_to_integer(erlang:system_info(otp_release)) >= 28.

%% The C node's control-message counts with our node: [{Op, In, Out}].
dist_ops(P) ->
    P ! {dist_ops, self()},
    {dist_ops, P, Ops} = ?recv({dist_ops, P, _}),
    Ops.

ops_in(Op, Ops) ->
    case lists:keyfind(Op, 1, Ops) of
        {Op, In, _} -> In;
        false -> 0
    end.

ops_out(Op, Ops) ->
    case lists:keyfind(Op, 1, Ops) of
        {Op, _, Out} -> Out;
        false -> 0
    end.

%%% ------------------------------------------------------------------
%%% connections
%%% ------------------------------------------------------------------

-spec noconnection_c_side(config()) -> term().
noconnection_c_side(Config) ->
    doc("When a node the C node talks to goes away, the C process's "
        "monitor and link on it fire with noconnection."),
    Peer = ?config(peer, Config),
    R = start_relay(?config(peer_node, Config), otpc_ct_relay),
    P = trapping_probe(?config(node, Config)),
    %% Make sure the C node has its own connection to the peer first.
    ok = ask(P, {send, R, hello}, send),
    _ = ?recv({relayed, R, hello}),
    {monitored, P, Ref} = ask_monitor(P, R),
    ok = ask(P, {link, R}, link),
    ok = peer:stop(Peer),
    _ = ?recv({probe_got, P, {'DOWN', Ref, process, R, noconnection}}),
    _ = ?recv({probe_got, P, {'EXIT', R, noconnection}}),
    ok.

-spec noconnection_after_kill(config()) -> term().
noconnection_after_kill(Config) ->
    doc("When the C node is killed, Erlang monitors and links on its "
        "processes fire with noconnection."),
    Node = ?config(node, Config),
    P = probe(Node),
    process_flag(trap_exit, true),
    Ref = erlang:monitor(process, P),
    true = link(P),
    ok = ping_probe(P),
    {ok, OsPid} = otpc:node_os_pid(Node),
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    _ = ?recv({'DOWN', Ref, process, P, noconnection}),
    _ = ?recv({'EXIT', P, noconnection}),
    _ = ?recv({otpc_node_down, Node, {exit_status, _}}),
    ok.

-spec noconnection_after_disconnect(config()) -> term().
noconnection_after_disconnect(Config) ->
    doc("erlang:disconnect_node/1 fires Erlang monitors and links on "
        "C processes with noconnection; the C node then reconnects."),
    Node = ?config(node, Config),
    P = probe(Node),
    process_flag(trap_exit, true),
    Ref = erlang:monitor(process, P),
    true = link(P),
    ok = ping_probe(P),
    true = erlang:disconnect_node(Node),
    _ = ?recv({'DOWN', Ref, process, P, noconnection}),
    _ = ?recv({'EXIT', P, noconnection}),
    pong = net_adm:ping(Node),
    ok = ping_probe(probe(Node)).

-spec connect_on_demand(config()) -> term().
connect_on_demand(Config) ->
    doc("Sending to a node it is not connected to makes the C node "
        "connect out by itself; the message arrives."),
    Node = ?config(node, Config),
    PeerNode = ?config(peer_node, Config),
    R = start_relay(PeerNode, otpc_ct_relay),
    false = lists:member(Node, erpc:call(PeerNode, erlang, nodes, [hidden])),
    P = probe(Node),
    ok = ask(P, {send, {otpc_ct_relay, PeerNode}, hello}, send),
    _ = ?recv({relayed, R, hello}),
    true = lists:member(Node, erpc:call(PeerNode, erlang, nodes, [hidden])),
    ok = ask(P, {send, R, hello_again}, send),
    _ = ?recv({relayed, R, hello_again}),
    ok.

-spec monitor_unreachable_node(config()) -> term().
monitor_unreachable_node(Config) ->
    doc("A C process monitoring a name on a node that does not exist gets "
        "DOWN noconnection and the C node carries on."),
    Node = ?config(node, Config),
    [_, Host] = string:split(atom_to_list(node()), "@"),
    Nowhere = list_to_atom(lists:concat(["nowhere_", os:getpid(), "@", Host])),
    P = probe(Node),
    {monitored, P, Ref} = ask_monitor(P, {nobody, Nowhere}),
    _ = ?recv({probe_got, P,
               {'DOWN', Ref, process, {nobody, Nowhere}, noconnection}}),
    ok = ping_probe(P).

-spec wrong_cookie(config()) -> term().
wrong_cookie(Config) ->
    doc("A node with the wrong cookie is refused (pang), and the C node "
        "still serves the right one."),
    Node = ?config(node, Config),
    pang = peer:call(?config(peer, Config), net_adm, ping, [Node], 20000),
    pong = net_adm:ping(Node),
    P = probe(Node),
    [still, fine] = echo(P, [still, fine]),
    ok.

-spec wrong_cookie_outbound(config()) -> term().
wrong_cookie_outbound(Config) ->
    doc("The C node's own connection attempt to a node with another cookie "
        "fails cleanly: a monitor over it gets DOWN noconnection."),
    Node = ?config(node, Config),
    PeerNode = ?config(peer_node, Config),
    P = probe(Node),
    {monitored, P, Ref} = ask_monitor(P, {nobody, PeerNode}),
    _ = ?recv({probe_got, P,
               {'DOWN', Ref, process, {nobody, PeerNode}, noconnection}}),
    false = lists:member(Node, peer:call(?config(peer, Config), erlang, nodes,
                                         [hidden])),
    pong = net_adm:ping(Node),
    ok = ping_probe(P).

-spec idle_connection_ticks(config()) -> term().
idle_connection_ticks(Config) ->
    doc("With -net_ticktime 4 on both ends, an idle connection to the C "
        "node stays up for 10 s (2.5 tick times)."),
    %% Ticks are what keeps an idle connection alive, so the only way to
    %% see them is to wait through an idle period; the wait is not a timing
    %% assertion: with working ticks no nodedown can come at all.
    Node = ?config(node, Config),
    still_up = peer:call(?config(peer, Config), ?MODULE, idle_check,
                         [Node, 10000], 30000),
    ok.

-spec busy_callback_keeps_connection(config()) -> term().
busy_callback_keeps_connection(Config) ->
    doc("A callback that holds the scheduler for 9 s (over two tick times of 4 s) "
        "costs no connection: the I/O thread keeps ticking, and the peer's unread "
        "ticks count as life."),
    Node = ?config(node, Config),
    still_up = peer:call(?config(peer, Config), ?MODULE, busy_check,
                         [Node, 9000], 40000),
    ok.

-spec restart(config()) -> term().
restart(Config) ->
    doc("A C node restarted under the same name re-registers with epmd "
        "and answers; pids of the old instance stay dead."),
    Node = ?config(node, Config),
    Old = probe(Node),
    true = erlang:monitor_node(Node, true),
    ok = otpc:stop_node(Node),
    _ = ?recv({nodedown, Node}),
    {ok, Node} = otpc:start_node(#{name => ?config(node_name, Config),
                                   args => ["-probe"]}),
    pong = net_adm:ping(Node),
    New = probe(Node),
    true = Old =/= New,
    Ref = erlang:monitor(process, Old),
    {'DOWN', Ref, process, Old, Reason} = ?recv({'DOWN', Ref, process, Old, _}),
    true = lists:member(Reason, [noproc, noconnection]),
    %% A message to the old pid must not reach a process of the new one.
    Old ! {ping, self()},
    ok = ping_probe(New),
    ok = sync(Node),
    ?refute({pong, _}).

%% A peer that stops reading (SIGSTOP) must not make the node buffer without
%% bound: a C process flooding it is parked once 1 MiB waits (erl's
%% dist_buf_busy_limit), and resumes when the peer reads again, losing
%% nothing. A BEAM node floods the same frozen peer in the same window, for
%% comparison.
-define(FLOOD_BIN, 65536).
-define(FLOOD_COUNT, 2000). % 125 MiB each, far more than any buffer here

-spec frozen_peer_is_busy(config()) -> term().
frozen_peer_is_busy(Config) ->
    Node = ?config(node, Config),
    Args = ["-setcookie", atom_to_list(erlang:get_cookie()) | suite_code_path()],
    {ok, FPeer, F} = peer:start(#{name => peer:random_name("p_frozen"), args => Args}),
    {ok, BPeer, B} = peer:start(#{name => peer:random_name("p_beam"), args => Args}),
    FOs = rpc:call(F, os, getpid, []), % before it is stopped: the cleanup needs it
    try
        Sink = spawn(F, ?MODULE, sink, [0]),
        P = probe(Node),
        %% Both senders connect to F while it still answers.
        ok = ask(P, {flood, Sink, 16, 1}, flood),
        pong = rpc:call(B, net_adm, ping, [F]),
        1 = sink_count(Sink, 1),
        {ok, COs} = otpc:node_os_pid(Node),
        BOs = list_to_integer(rpc:call(B, os, getpid, [])),
        C0 = otpc_ct_os:rss_kib(COs),
        B0 = otpc_ct_os:rss_kib(BOs),
        [] = os:cmd("kill -STOP " ++ FOs),
        P ! {flood, Sink, ?FLOOD_BIN, ?FLOOD_COUNT},
        _ = rpc:call(B, erlang, spawn, [?MODULE, flood, [Sink, ?FLOOD_BIN, ?FLOOD_COUNT]]),
        timer:sleep(3000),
        C1 = otpc_ct_os:rss_kib(COs),
        B1 = otpc_ct_os:rss_kib(BOs),
        ?refute({done, P, flood}),
        [] = os:cmd("kill -CONT " ++ FOs),
        ct:comment("flooding a SIGSTOPped peer for 3 s with 64 KiB binaries: "
                   "C node RSS ~p -> ~p KiB (+~p), BEAM node ~p -> ~p KiB (+~p)",
                   [C0, C1, C1 - C0, B0, B1, B1 - B0]),
        true = C1 - C0 < rss_slack_kib(),
        _ = ?recv({done, P, flood}, ?LARGE_TIMEOUT),
        Total = 1 + 2 * ?FLOOD_COUNT,
        Total = sink_count(Sink, Total)
    after
        _ = os:cmd("kill -CONT " ++ FOs),
        _ = (catch peer:stop(BPeer)),
        _ = (catch peer:stop(FPeer))
    end.

%% The same flood, but the peer stays frozen past net_ticktime (4 s here): the
%% tick timeout still takes it down (the flooder's monitor says noconnection),
%% the flooder runs on, and connect-on-demand dials the frozen peer again; the
%% frames queued while that connection is being set up count against the limit
%% too, so memory stays flat through every cycle.
-spec frozen_peer_times_out(config()) -> term().
frozen_peer_times_out(Config) ->
    Node = ?config(node, Config),
    Args = ["-setcookie", atom_to_list(erlang:get_cookie()) | suite_code_path()],
    {ok, FPeer, F} = peer:start(#{name => peer:random_name("p_frozen"), args => Args}),
    FOs = rpc:call(F, os, getpid, []),
    %% our own connection to the node must not look silent to its 4 s ticktime
    Pinger = spawn_link(fun Loop() -> pong = net_adm:ping(Node), timer:sleep(500), Loop() end),
    try
        Sink = spawn(F, ?MODULE, sink, [0]),
        P = probe(Node),
        ok = ask(P, {flood, Sink, 16, 1}, flood),
        1 = sink_count(Sink, 1),
        _ = ask_monitor(P, Sink),
        {ok, COs} = otpc:node_os_pid(Node),
        C0 = otpc_ct_os:rss_kib(COs),
        [] = os:cmd("kill -STOP " ++ FOs),
        P ! {flood, Sink, ?FLOOD_BIN, 20000}, % 1.2 GiB if nothing held it back
        {probe_got, P, {'DOWN', _, process, Sink, noconnection}} =
            ?recv({probe_got, P, {'DOWN', _, process, Sink, _}}, 20000),
        %% a second connection attempt is under way, with its queue full
        Peak = lists:max([begin timer:sleep(500), otpc_ct_os:rss_kib(COs) end
                          || _ <- lists:seq(1, 10)]),
        ct:comment("C node RSS ~p KiB before, at most ~p KiB across a tick timeout "
                   "and a reconnect attempt (+~p)", [C0, Peak, Peak - C0]),
        true = Peak - C0 < rss_slack_kib(),
        ?refute({done, P, flood})
    after
        unlink(Pinger),
        exit(Pinger, kill),
        _ = os:cmd("kill -CONT " ++ FOs),
        _ = (catch peer:stop(FPeer))
    end.

%% How much a node's RSS may grow while a flood is held back: a few MiB, or
%% more under AddressSanitizer (make test-san-ct), whose quarantine keeps
%% freed buffers resident; either way far below what an unbounded queue takes.
rss_slack_kib() ->
    %% a sanitizer's own memory (ASan's quarantine, TSan's shadow of what is touched)
    case {os:getenv("ASAN_OPTIONS"), os:getenv("TSAN_OPTIONS")} of
        {false, false} -> 8 * 1024;
        _ -> 64 * 1024
    end.

%% Counts the binaries it receives; answers {count, N} to {count, From}.
-spec sink(non_neg_integer()) -> no_return().
sink(N) ->
    receive
        {count, From} -> From ! {count, self(), N}, sink(N);
        Bin when is_binary(Bin) -> sink(N + 1)
    end.

%% Sends Count binaries of Size bytes to To, as fast as ERTS lets it.
-spec flood(pid(), pos_integer(), non_neg_integer()) -> ok.
flood(To, Size, Count) ->
    Bin = binary:copy(<<0>>, Size),
    lists:foreach(fun(_) -> To ! Bin end, lists:seq(1, Count)).

%% The sink's count once it reaches Want (or what it is after 60 s).
sink_count(Sink, Want) ->
    sink_count(Sink, Want, erlang:monotonic_time(millisecond) + ?LARGE_TIMEOUT).

sink_count(Sink, Want, Deadline) ->
    Sink ! {count, self()},
    {count, Sink, N} = ?recv({count, Sink, _}, ?LARGE_TIMEOUT),
    case N >= Want orelse erlang:monotonic_time(millisecond) > Deadline of
        true -> N;
        false -> timer:sleep(50), sink_count(Sink, Want, Deadline)
    end.

%%% ------------------------------------------------------------------
%%% helpers: probes
%%% ------------------------------------------------------------------

%% A fresh probe process on Node, owned by the calling process.
probe(Node) ->
    {otpc_probe, Node} ! {spawn, self()},
    {spawned, P} = ?recv({spawned, _}),
    Node = node(P),
    P.

trapping_probe(Node) ->
    P = probe(Node),
    ok = ask(P, {trap_exit, true}, trap_exit),
    P.

%% Sends a request whose answer is {done, P, Tag}.
ask(P, Request, Tag) ->
    P ! Request,
    _ = ?recv({done, P, Tag}),
    ok.

ask_monitor(P, Target) ->
    P ! {monitor, Target},
    ?recv({monitored, P, _}).

ping_probe(P) ->
    P ! {ping, self()},
    _ = ?recv({pong, P}),
    ok.

echo(P, Term) ->
    P ! {echo, self(), Term},
    {echo, P, Got} = ?recv({echo, P, _}),
    Got.

%% Makes P exit and waits until it is dead.
stop_probe(P, Reason) ->
    Ref = erlang:monitor(process, P),
    P ! {exit, Reason},
    _ = ?recv({'DOWN', Ref, process, P, Reason}),
    ok.

%% A barrier: the registered probe's answer comes over the same connection
%% as, and after, everything the C node sent us before it.
sync(Node) ->
    Tag = make_ref(),
    {otpc_probe, Node} ! {echo, self(), {sync, Tag}},
    _ = ?recv({echo, _, {sync, Tag}}),
    ok.

large_echo(Node, Size) ->
    P = probe(Node),
    Bin = big_binary(Size),
    P ! {echo, self(), Bin},
    receive
        {echo, P, Bin} ->
            ok;
        {echo, P, Other} ->
            ct:fail({echo_mismatch, mismatch(Bin, Other)})
    after ?LARGE_TIMEOUT ->
            ct:fail({no_echo, Size, {mailbox, mailbox()}})
    end.

%% Size bytes in 64 KiB chunks, each starting with its index, so that a lost,
%% repeated or reordered chunk changes the binary.
big_binary(Size) ->
    Chunk = 65536,
    0 = Size rem Chunk,
    Block = rand:bytes(Chunk - 4),
    << <<I:32, Block/binary>> || I <- lists:seq(1, Size div Chunk) >>.

mismatch(Sent, Got) when is_binary(Got) ->
    #{sent_size => byte_size(Sent), got_size => byte_size(Got),
      first_difference_at => binary:longest_common_prefix([Sent, Got])};
mismatch(_Sent, Got) ->
    #{got => summary(Got)}.

%% Improper lists are on purpose: they are terms a node must carry too.
-dialyzer({no_improper_lists, sample_terms/1}).
sample_terms(P) ->
    Y = 42,
    Self = self(),
    Ref = make_ref(),
    [Port | _] = erlang:ports(),
    [%% atoms
     '', hello, 'with space', 'ünïcødé', '日本語',
     list_to_atom(lists:duplicate(255, $ж)),
     %% integers, small to bignum
     0, 255, 256, -1, 2147483647, -2147483648, 1 bsl 31, 1 bsl 64,
     -(1 bsl 64), 1 bsl 2000, -(1 bsl 4000),
     %% floats
     0.0, 3.141592653589793, -1.5e-300, 1.7976931348623157e308, 5.0e-324,
     %% binaries and bitstrings
     <<>>, <<"abc">>, binary:copy(<<1, 2, 3>>, 1000), <<1:1>>,
     <<1, 2, 3:5>>, <<"ünï"/utf8>>,
     %% lists and strings
     [], "abc", [1 | 2], [a, [b, [c | d]]], lists:seq(1, 300),
     lists:duplicate(70000, $a), "ünïcødé",
     %% tuples
     {}, {a}, {a, {b, {c, {}}}}, list_to_tuple(lists:seq(1, 300)),
     %% maps, small and large (hashed)
     #{}, #{a => 1, "b" => [2], {c} => #{d => e}},
     maps:from_list([{I, I * I} || I <- lists:seq(1, 100)]),
     %% identifiers: ours and the C node's
     Ref, Self, P, Port, [alias | Ref],
     %% funs: external, and local with an environment
     fun lists:reverse/1, fun(X) -> X + Y end, fun() -> {Self, Ref} end,
     %% nesting
     lists:foldl(fun(_, Acc) -> [Acc] end, [], lists:seq(1, 100)),
     {[#{k => {<<"v">>, [1.5, -7]}}], "s", Self}].

%%% ------------------------------------------------------------------
%%% helpers: Erlang processes on this node and on peers
%%% ------------------------------------------------------------------

%% A plain, non-trapping Erlang process, driven by messages, to stand on the
%% Erlang side of links and monitors.
helper() ->
    spawn(fun helper_loop/0).

helper_loop() ->
    receive
        {link, P, From} ->
            true = link(P),
            From ! {helper_done, self(), link},
            helper_loop();
        {unlink, P, From} ->
            true = unlink(P),
            From ! {helper_done, self(), unlink},
            helper_loop();
        {register, Name, From} ->
            true = register(Name, self()),
            From ! {helper_done, self(), register},
            helper_loop();
        {ping, From} ->
            From ! {helper_alive, self()},
            helper_loop();
        {die, Reason} ->
            exit(Reason)
    end.

helper_do(H, Op, Arg) ->
    H ! {Op, Arg, self()},
    _ = ?recv({helper_done, H, Op}),
    ok.

kill_helper(H, Reason) ->
    Ref = erlang:monitor(process, H),
    H ! {die, Reason},
    _ = ?recv({'DOWN', Ref, process, H, Reason}),
    ok.

%% An Erlang process monitoring Target; tells us what its DOWN said.
watcher(Target) ->
    Parent = self(),
    W = spawn(fun() ->
                      Ref = erlang:monitor(process, Target),
                      Parent ! {watching, self()},
                      receive
                          {'DOWN', Ref, process, Target, Reason} ->
                              Parent ! {watcher_saw, self(), Reason}
                      end
              end),
    _ = ?recv({watching, W}),
    W.

%% A registered process on PeerNode that forwards all it gets to us.
start_relay(PeerNode, Name) ->
    R = spawn(PeerNode, ?MODULE, relay, [Name, self()]),
    _ = ?recv({relay_ready, R}),
    R.

-spec relay(atom(), pid()) -> no_return().
relay(Name, To) ->
    true = register(Name, self()),
    To ! {relay_ready, self()},
    relay_loop(To).

relay_loop(To) ->
    receive
        Msg ->
            To ! {relayed, self(), Msg},
            relay_loop(To)
    end.

%% Runs on a peer: connects to Node, then reports whether the connection
%% survived IdleMs without traffic.
-spec idle_check(node(), timeout()) -> still_up | nodedown | pang.
%% On the peer: a gs_probe blocks the C node's scheduler for BusyMs inside a
%% call; the connection must still be there when the reply comes.
-spec busy_check(node(), pos_integer()) -> still_up | nodedown | pang.
busy_check(Node, BusyMs) ->
    case net_adm:ping(Node) of
        pong ->
            true = erlang:monitor_node(Node, true),
            {ok, Pid} = gen_server:call({otpc_starter, Node},
                                        {start, gs_probe, {none, ok, false}, undefined,
                                         false}),
            ok = gen_server:call(Pid, {block, BusyMs}, BusyMs + 20000),
            pong = net_adm:ping(Node),
            receive
                {nodedown, Node} -> nodedown
            after 0 ->
                    still_up
            end;
        pang ->
            pang
    end.

idle_check(Node, IdleMs) ->
    case net_adm:ping(Node) of
        pong ->
            true = erlang:monitor_node(Node, true),
            receive
                {nodedown, Node} -> nodedown
            after IdleMs ->
                    still_up
            end;
        pang ->
            pang
    end.

%%% ------------------------------------------------------------------
%%% helpers: failure reports
%%% ------------------------------------------------------------------

