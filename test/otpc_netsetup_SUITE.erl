%% Network setups other than the default: distribution over IPv6
%% (`-proto_dist inet6_tcp') and without epmd (`-erl_epmd_port',
%% `-start_epmd false', `-no_epmd'), each against `erl' nodes set up the
%% same way.
%%
%% The erl nodes are `peer's controlled over their standard I/O, so that
%% they can run another protocol, naming scheme or epmd than this test node
%% (a short-name IPv4 node). Each case checks both directions:
%%
%%   * erl -> C: P1 pings the C node, calls its `echo', monitors it and sees
%%     the DOWN; P1 reports the address its connection went to.
%%   * C -> erl: P1 tells the C node's registered probe to send a message to
%%     a process on P2, which the C node has never talked to: the C node
%%     dials P2 (connect on demand); P2 reports the address the connection
%%     came from, which shows the family the C node dialled with (an IPv6
%%     node sees an IPv4 dialler as ::ffff:127.0.0.1).
%%
%% Without epmd, every node listens on the same port P on its own loopback
%% address (127.0.0.2, .3, .4, with `inet_dist_use_interface'): the setup of
%% one node per host, on one machine. $ERL_EPMD_PORT points every node, erl
%% and C, at a port where nothing listens, so no case touches the host's
%% epmd on 4369, which other runs share; and a node that started an epmd
%% there would be seen (`epmd_port_dead').
%%
%% No case sleeps to assert anything.
-module(otpc_netsetup_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, groups/0, suite/0,
         init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).

-export([inet6_short_names/1, inet6_long_name_address/1, inet6_long_name_fqdn/1,
         fixed_port_without_epmd/1, fixed_port_still_registers/1,
         no_epmd_never_registers/1, start_epmd_false/1, erl_epmd_port_env/1,
         no_epmd_needs_fixed_port/1, epmd_restarted/1]).

%% Run on the peers.
-export([erl_side/1, start_sink/0, sink_result/1, command_send/2]).

-type config() :: [{atom(), term()}].

-define(TIMEOUT, 10000).
-define(V6_LOOPBACK, {0, 0, 0, 0, 0, 0, 0, 1}).
-define(FQDN, "c6.otpc.test").


-spec suite() -> [tuple()].
suite() ->
    [{timetrap, {minutes, 2}}].

-spec all() -> [{group, atom()}].
all() ->
    [{group, inet6}, {group, no_epmd}].

-spec groups() -> [{atom(), list(), [atom()]}].
groups() ->
    [{inet6, [], [inet6_short_names, inet6_long_name_address, inet6_long_name_fqdn]},
     {no_epmd, [], [fixed_port_without_epmd, fixed_port_still_registers,
                    no_epmd_never_registers, start_epmd_false, erl_epmd_port_env,
                    no_epmd_needs_fixed_port, epmd_restarted]}].

-spec init_per_suite(config()) -> config() | {skip, string()}.
init_per_suite(Config) ->
    otpc_ct_node:init_per_suite(Config).

-spec end_per_suite(config()) -> ok.
end_per_suite(Config) ->
    otpc_ct_node:end_per_suite(Config).

-spec init_per_testcase(atom(), config()) -> config().
init_per_testcase(_Case, Config) ->
    Config.

%% The C nodes' servers are owned by the case's process and go with it; the
%% peers are stopped here; an epmd a case started is killed by the case.
-spec end_per_testcase(atom(), config()) -> ok.
end_per_testcase(_Case, _Config) ->
    _ = [(catch otpc:stop_node(Node)) || Node <- otpc:nodes()],
    ok.

%%% ------------------------------------------------------------------
%%% IPv6
%%% ------------------------------------------------------------------

-spec inet6_short_names(config()) -> term().
inet6_short_names(_Config) ->
    doc("erl -sname -proto_dist inet6_tcp and a C node started by otpc:start_node/1 with "
        "proto_dist => inet6_tcp: both directions over ::1; this IPv4 test node reaches "
        "it too (the start's ping), since :: takes IPv4 as well, as erl's listener does."),
    C = uniq("c6"),
    {ok, CNode} = otpc:start_node(#{name => C, proto_dist => inet6_tcp,
                                    args => ["-probe"]}),
    Args = ["-proto_dist", "inet6_tcp"],
    {P1, _} = start_peer(#{args => Args}),
    {P2, P2Node} = start_peer(#{args => Args}),
    {To, From} = both_ways(CNode, P1, P2, P2Node),
    {?V6_LOOPBACK, inet6} = To,
    {?V6_LOOPBACK, inet6} = From.

-spec inet6_long_name_address(config()) -> term().
inet6_long_name_address(_Config) ->
    doc("-name c@::1, as erl accepts an address for a host with long names: erl -name "
        "p@::1 -proto_dist inet6_tcp calls the C node, and the C node dials erl."),
    CNode = start_cnode(list_to_atom(atom_to_list(uniq("c6")) ++ "@::1"),
                        #{proto_dist => inet6_tcp}, #{}),
    Args = ["-proto_dist", "inet6_tcp"],
    {P1, _} = start_peer(#{host => "::1", longnames => true, args => Args}),
    {P2, P2Node} = start_peer(#{host => "::1", longnames => true, args => Args}),
    {To, From} = both_ways(CNode, P1, P2, P2Node),
    {?V6_LOOPBACK, inet6} = To,
    {?V6_LOOPBACK, inet6} = From.

-spec inet6_long_name_fqdn(config()) -> term().
inet6_long_name_fqdn(Config) ->
    doc("A fully qualified host that resolves to ::1 only (c6.otpc.test): erl finds it "
        "through an inetrc host entry, the C node through /etc/hosts, bound over in a "
        "mount namespace of its own (the host's file is not touched); both directions."),
    Priv = ?config(priv_dir, Config),
    case fqdn_wrapper(Priv) of
        {skip, _} = Skip ->
            Skip;
        Wrapper ->
            CNode = start_cnode(list_to_atom(atom_to_list(uniq("c6")) ++ "@" ++ ?FQDN),
                                #{proto_dist => inet6_tcp, executable => Wrapper}, #{}),
            Inetrc = filename:join(Priv, "inetrc"),
            ok = file:write_file(Inetrc, io_lib:format("~p.~n~p.~n",
                                                       [{host, ?V6_LOOPBACK, [?FQDN]},
                                                        {lookup, [file, native]}])),
            Args = ["-proto_dist", "inet6_tcp", "-kernel", "inetrc", "\"" ++ Inetrc ++ "\""],
            {P1, _} = start_peer(#{host => ?FQDN, longnames => true, args => Args}),
            {P2, P2Node} = start_peer(#{host => ?FQDN, longnames => true, args => Args}),
            {To, From} = both_ways(CNode, P1, P2, P2Node),
            {?V6_LOOPBACK, inet6} = To,
            {?V6_LOOPBACK, inet6} = From
    end.

%%% ------------------------------------------------------------------
%%% Without epmd
%%% ------------------------------------------------------------------

-spec fixed_port_without_epmd(config()) -> term().
fixed_port_without_epmd(_Config) ->
    doc("No epmd anywhere: the C node and two erl nodes, all -erl_epmd_port P -start_epmd "
        "false, each on its own address; erl calls the C node and the C node dials erl at "
        "P without asking an epmd; nobody started one."),
    Dead = free_port(),
    P = free_port(),
    CNode = start_cnode(ip_name("c", {127, 0, 0, 3}),
                        #{erl_epmd_port => P, start_epmd => false,
                          inet_dist_use_interface => {127, 0, 0, 3}},
                        #{epmd => Dead}),
    {P1, _} = start_fixed_peer({127, 0, 0, 2}, P, Dead),
    {P2, P2Node} = start_fixed_peer({127, 0, 0, 4}, P, Dead),
    {To, From} = both_ways(CNode, P1, P2, P2Node),
    {{127, 0, 0, 3}, inet} = To,
    %% outgoing connections leave from the kernel's choice of source (as
    %% erl's: inet_dist_use_interface is about listening)
    {_, inet} = From,
    epmd_port_dead(Dead).

-spec fixed_port_still_registers(config()) -> term().
fixed_port_still_registers(_Config) ->
    doc("-erl_epmd_port P with an epmd running: the node still registers (erl_epmd tries "
        "it too), on $ERL_EPMD_PORT's epmd; erl reaches it at P all the same."),
    E = free_port(),
    P = free_port(),
    ok = start_epmd(E),
    try
        CNode = start_cnode(ip_name("c", {127, 0, 0, 3}),
                            #{erl_epmd_port => P, start_epmd => false,
                              inet_dist_use_interface => {127, 0, 0, 3}},
                            #{epmd => E}),
        true = lists:member(alive(CNode), epmd_names(E)),
        {P1, _} = start_fixed_peer({127, 0, 0, 2}, P, E),
        {pong, _, _, _} = peer:call(P1, ?MODULE, erl_side, [CNode], ?TIMEOUT)
    after
        stop_nodes(),
        kill_epmd(E)
    end.

-spec no_epmd_never_registers(config()) -> term().
no_epmd_never_registers(_Config) ->
    doc("-no_epmd with -erl_epmd_port P: an epmd runs on $ERL_EPMD_PORT, yet the node "
        "never registers there; erl reaches it at P."),
    E = free_port(),
    P = free_port(),
    ok = start_epmd(E),
    try
        CNode = start_cnode(ip_name("c", {127, 0, 0, 3}),
                            #{erl_epmd_port => P, no_epmd => true,
                              inet_dist_use_interface => {127, 0, 0, 3}},
                            #{epmd => E}),
        {P1, _} = start_fixed_peer({127, 0, 0, 2}, P, E),
        {pong, _, _, _} = peer:call(P1, ?MODULE, erl_side, [CNode], ?TIMEOUT),
        false = lists:member(alive(CNode), epmd_names(E))
    after
        stop_nodes(),
        kill_epmd(E)
    end.

-spec start_epmd_false(config()) -> term().
start_epmd_false(_Config) ->
    doc("-start_epmd false without -erl_epmd_port and no epmd: the node cannot register, "
        "so it does not start (as erl's distribution does not), and it started no epmd."),
    Dead = free_port(),
    Name = uniq("c"),
    {error, {exit_status, 1, Lines}} =
        start_cnode_result(short_name(Name), #{start_epmd => false}, #{epmd => Dead}),
    true = lists:any(fun(L) -> string:find(L, "cannot reach epmd") =/= nomatch end,
                     [unicode:characters_to_list(L) || L <- Lines]),
    epmd_port_dead(Dead).

-spec erl_epmd_port_env(config()) -> term().
erl_epmd_port_env(_Config) ->
    doc("$ERL_EPMD_PORT names epmd's port, as for erl: with no epmd there, the node "
        "starts one on that port (as erlexec does) and registers with it."),
    E = free_port(),
    try
        CNode = start_cnode(short_name(uniq("c")), #{}, #{epmd => E}),
        true = lists:member(alive(CNode), epmd_names(E))
    after
        stop_nodes(),
        kill_epmd(E)
    end.

-spec no_epmd_needs_fixed_port(config()) -> term().
no_epmd_needs_fixed_port(_Config) ->
    doc("-no_epmd alone is a usage error (exit 2), as erlexec refuses -no_epmd without a "
        "-proto_dist that finds peers itself; start_node/1 refuses it too."),
    {error, {badopt, {no_epmd, true}}} = otpc:start_node(#{name => uniq("c"),
                                                           no_epmd => true}),
    {error, {exit_status, 2, _}} =
        start_cnode_result(short_name(uniq("c")), #{args => ["-no_epmd"]}, #{}).

-spec epmd_restarted(config()) -> term().
epmd_restarted(_Config) ->
    doc("epmd killed under a registered node and started again: the node keeps running "
        "and registers again (the retry used to crash the node)."),
    E = free_port(),
    Epmd1 = run_epmd(E),
    try
        CNode = start_cnode(short_name(uniq("c")), #{start_epmd => false}, #{epmd => E}),
        true = lists:member(alive(CNode), epmd_names(E)),
        ok = stop_epmd(Epmd1),
        Epmd2 = run_epmd(E),
        try
            ok = until_registered(E, alive(CNode), 200),
            receive {otpc_node_down, _, _} = Down -> ct:fail(Down) after 0 -> ok end
        after
            stop_nodes(),
            stop_epmd(Epmd2)
        end
    after
        stop_epmd(Epmd1)
    end.

%%% ------------------------------------------------------------------
%%% Both directions
%%% ------------------------------------------------------------------

%% P1 calls CNode (erl -> C), then has CNode send to a process on P2, which
%% CNode dials (C -> erl). Returns the address P1's connection went to and
%% the one P2's came from, as {Ip, Family}.
both_ways(CNode, P1, P2, P2Node) ->
    {pong, {hello, <<"net">>}, bye, To} = peer:call(P1, ?MODULE, erl_side, [CNode], ?TIMEOUT),
    ok = peer:call(P2, ?MODULE, start_sink, [], ?TIMEOUT),
    ok = peer:call(P1, ?MODULE, command_send, [CNode, {otpc_ct_sink, P2Node}], ?TIMEOUT),
    {hello, From} = peer:call(P2, ?MODULE, sink_result, [CNode], ?TIMEOUT),
    ct:log("erl -> C went to ~p; C -> erl came from ~p", [To, From]),
    {To, From}.

%% On P1: ping, a call, a monitor that fires (echo stops, its supervisor
%% restarts it), and the address of the connection.
-spec erl_side(node()) -> {pong | pang, term(), term(), term()}.
erl_side(CNode) ->
    Pong = net_adm:ping(CNode),
    Echo = gen_server:call({echo, CNode}, {hello, <<"net">>}, ?TIMEOUT),
    Ref = monitor(process, {echo, CNode}),
    ok = gen_server:call({echo, CNode}, {'$stop', bye}, ?TIMEOUT),
    Down = receive {'DOWN', Ref, process, _, Reason} -> Reason after ?TIMEOUT -> timeout end,
    {Pong, Echo, Down, address(CNode)}.

%% On P2: a registered process that hands `hello', once it has it, to whoever
%% asks.
-spec start_sink() -> ok.
start_sink() ->
    Pid = spawn(fun() -> receive {get, From} -> receive hello -> From ! {sink, hello} end end end),
    true = register(otpc_ct_sink, Pid),
    ok.

%% On P2: the message, once it came, and where CNode's connection came from.
-spec sink_result(node()) -> {term(), term()}.
sink_result(CNode) ->
    otpc_ct_sink ! {get, self()},
    receive {sink, Msg} -> {Msg, address(CNode)} after ?TIMEOUT - 1000 -> {timeout, nodes(hidden)} end.

%% On P1: the C node's probe sends `hello' to Target.
-spec command_send(node(), {atom(), node()}) -> ok.
command_send(CNode, Target) ->
    {otpc_probe, CNode} ! {send, Target, hello},
    ok.

address(Node) ->
    case net_kernel:node_info(Node, address) of
        {ok, {net_address, {Ip, _Port}, _Host, tcp, Family}} -> {Ip, Family};
        Other -> Other
    end.

%%% ------------------------------------------------------------------
%%% Nodes
%%% ------------------------------------------------------------------

uniq(Prefix) ->
    list_to_atom(lists:concat([Prefix, "_", erlang:unique_integer([positive]), "_",
                               os:getpid()])).

ip_name(Prefix, Ip) ->
    list_to_atom(atom_to_list(uniq(Prefix)) ++ "@" ++ inet:ntoa(Ip)).

short_name(Name) ->
    [_, Host] = string:split(atom_to_list(node()), "@"),
    list_to_atom(atom_to_list(Name) ++ "@" ++ Host).

alive(Node) ->
    hd(string:split(atom_to_list(Node), "@")).

%% A C node under any name (a long one too, which this short-name node
%% could not ping, so otpc:start_node/1 does not do), owned by the case's
%% process; ready once it logged so. Env: epmd => Port sets $ERL_EPMD_PORT.
start_cnode(Node, Opts, Env) ->
    {ok, Node} = start_cnode_result(Node, Opts, Env),
    Node.

start_cnode_result(Node, Opts, Env) ->
    [Alive, Host] = string:split(atom_to_list(Node), "@"),
    Long = lists:member($., Host) orelse lists:member($:, Host),
    %% `args' go in unchecked, after the checked options (-no_epmd alone,
    %% which start_node/1 refuses).
    Base = #{name => list_to_atom(Alive), args => ["-probe"],
             env => [{"ERL_EPMD_PORT", integer_to_list(P)} || P <- [maps:get(epmd, Env, none)],
                                                                P =/= none]},
    {ok, Config0} = otpc_node_opts:config(maps:merge(Base, maps:remove(args, Opts)),
                                          otpc_node_opts:context()),
    NameArgs = case Long of
                   true -> ["-name", atom_to_list(Node)];
                   false -> ["-sname", Alive]
               end,
    Config = Config0#{node => Node, name_args => NameArgs,
                      args => maps:get(args, Config0) ++ maps:get(args, Opts, [])},
    {ok, Server} = otpc_node:start_link(self(), Config),
    put(otpc_ct_cnodes, [Server | get_list(otpc_ct_cnodes)]),
    otpc_node:await_ready(Server).

%% Stops the C nodes start_cnode/3 and the peers start_peer/1 started
%% (before their epmd is killed: epmd refuses -kill while it has names).
stop_nodes() ->
    _ = [otpc_node:stop(S) || S <- get_list(otpc_ct_cnodes)],
    _ = [peer:stop(P) || P <- get_list(otpc_ct_peers)],
    _ = erase(otpc_ct_cnodes),
    _ = erase(otpc_ct_peers),
    ok.

get_list(Key) ->
    case get(Key) of
        undefined -> [];
        L -> L
    end.

%% An erl peer over standard I/O (so that it may speak what this node does
%% not), with this node's cookie and this suite's code.
start_peer(Opts) ->
    Args = maps:get(args, Opts, []),
    PeerOpts = maps:merge(#{name => peer:random_name("p"),
                            connection => standard_io,
                            wait_boot => 30000},
                          Opts#{args => ["-setcookie", atom_to_list(erlang:get_cookie()),
                                         "-pa", filename:dirname(code:which(?MODULE)) | Args]}),
    {ok, Peer, Node} = peer:start_link(PeerOpts),
    put(otpc_ct_peers, [Peer | get_list(otpc_ct_peers)]),
    {Peer, Node}.

%% An erl peer without epmd at Ip: -erl_epmd_port P -start_epmd false, and
%% $ERL_EPMD_PORT at Epmd.
start_fixed_peer(Ip, P, Epmd) ->
    start_peer(#{host => inet:ntoa(Ip), longnames => true,
                 env => [{"ERL_EPMD_PORT", integer_to_list(Epmd)}],
                 args => ["-erl_epmd_port", integer_to_list(P), "-start_epmd", "false",
                          "-kernel", "inet_dist_use_interface",
                          lists:flatten(io_lib:format("~w", [Ip]))]}).

%% A port nothing listens on now (the kernel's choice of a free one).
free_port() ->
    {ok, L} = gen_tcp:listen(0, [{reuseaddr, true}]),
    {ok, Port} = inet:port(L),
    ok = gen_tcp:close(L),
    Port.

%%% ------------------------------------------------------------------
%%% epmd
%%% ------------------------------------------------------------------

epmd_port_dead(Port) ->
    {error, econnrefused} = gen_tcp:connect({127, 0, 0, 1}, Port, [], ?TIMEOUT),
    ok.

start_epmd(Port) ->
    Epmd = os:find_executable("epmd"),
    [] = os:cmd(Epmd ++ " -daemon -port " ++ integer_to_list(Port)),
    wait_epmd(Port, 100).

wait_epmd(_Port, 0) ->
    {error, epmd_not_up};
wait_epmd(Port, N) ->
    case gen_tcp:connect({127, 0, 0, 1}, Port, [], ?TIMEOUT) of
        {ok, S} -> gen_tcp:close(S);
        {error, _} -> receive after 50 -> wait_epmd(Port, N - 1) end
    end.

%% An epmd of our own in the foreground (a port of the case's process), so
%% that it can be killed by its OS pid; up once it accepts connections.
run_epmd(Port) ->
    P = open_port({spawn_executable, os:find_executable("epmd")},
                  [{args, ["-port", integer_to_list(Port)]}, exit_status, stderr_to_stdout]),
    {os_pid, OsPid} = erlang:port_info(P, os_pid),
    ok = wait_epmd(Port, 100),
    {P, OsPid}.

stop_epmd({P, OsPid}) ->
    case erlang:port_info(P) of
        undefined ->
            ok;
        _ ->
            _ = os:cmd("kill " ++ integer_to_list(OsPid)),
            receive {P, {exit_status, _}} -> ok after ?TIMEOUT -> {error, epmd_alive} end
    end.

%% Polls epmd's names (the node retries every 300 ms) for at most N rounds.
until_registered(_Port, Name, 0) ->
    {error, {not_registered, Name}};
until_registered(Port, Name, N) ->
    case lists:member(Name, epmd_names(Port)) of
        true -> ok;
        false -> receive after 50 -> until_registered(Port, Name, N - 1) end
    end.

%% Only the epmd of this port: the host's, on 4369, is shared.
kill_epmd(Port) ->
    Out = os:cmd("ERL_EPMD_PORT=" ++ integer_to_list(Port) ++ " epmd -kill"),
    ct:log("epmd ~p -kill: ~ts", [Port, Out]),
    case Out of
        "Killed" ++ _ -> ok;
        _ -> ct:fail({epmd_not_killed, Port, Out})
    end.

%% NAMES_REQ to the epmd on Port: the names it has registered.
epmd_names(Port) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}], ?TIMEOUT),
    ok = gen_tcp:send(S, <<1:16, $n>>),
    Text = recv_all(S, <<>>),
    <<_EpmdPort:32, Lines/binary>> = Text,
    ct:log("epmd ~p: ~ts", [Port, Lines]),
    case re:run(Lines, "^name (\\S+) at port", [multiline, global,
                                                {capture, all_but_first, list}]) of
        {match, Names} -> [N || [N] <- Names];
        nomatch -> []
    end.

recv_all(S, Acc) ->
    case gen_tcp:recv(S, 0, ?TIMEOUT) of
        {ok, B} -> recv_all(S, <<Acc/binary, B/binary>>);
        {error, closed} -> Acc
    end.

doc(String) ->
    ct:comment(String).

%%% ------------------------------------------------------------------
%%% The FQDN case's wrapper
%%% ------------------------------------------------------------------

%% A script that runs the node program in a mount namespace where
%% /etc/hosts names ?FQDN on ::1 only; skip if namespaces are not ours.
fqdn_wrapper(Priv) ->
    Hosts = filename:join(Priv, "hosts"),
    ok = file:write_file(Hosts, ["127.0.0.1 localhost\n::1 " ?FQDN "\n"]),
    Exe = maps:get(executable, otpc_node_opts:context()),
    Wrapper = filename:join(Priv, "otpc_node_fqdn"),
    ok = file:write_file(Wrapper,
                         ["#!/bin/sh\n"
                          "exec unshare -m sh -c 'mount --bind \"$0\" /etc/hosts && exec \"$@\"' ",
                          Hosts, " ", Exe, " \"$@\"\n"]),
    ok = file:change_mode(Wrapper, 8#755),
    Probe = "unshare -m sh -c 'mount --bind " ++ Hosts ++
        " /etc/hosts && getent ahostsv6 " ?FQDN "' >/dev/null 2>&1 && echo yes",
    case os:cmd(Probe) of
        "yes\n" -> Wrapper;
        _ -> {skip, "no private mount namespace here (unshare -m): cannot name "
                    ?FQDN " for the C node"}
    end.
