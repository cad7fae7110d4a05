%% Distribution over TLS (`-proto_dist inet_tls`) against real Erlang nodes
%% running OTP's inet_tls_dist, with certificates made for the run.
%%
%% The ct node itself speaks plain TCP, so the TLS side of every case is an
%% Erlang `peer` started with `-proto_dist inet_tls` and controlled over its
%% standard I/O; the case's functions run inside it (`in/3`: the peer loads
%% this module from the test directory). The C node is the suites' node
%% program with the probes (see otpc_dist_SUITE for the probe protocol),
%% given erl's own TLS flags, so the same certificates and options serve both.
%%
%% Certificates: a CA, and a node certificate it signs for this host (as a
%% name, as localhost and as 127.0.0.1), used as server and as client
%% certificate by every node; a rogue CA with a certificate of its own for
%% the refusals. Verification is mutual (verify_peer both ways,
%% fail_if_no_peer_cert on the server side).
-module(otpc_tls_dist_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([ping_calls_and_big_messages/1, monitors_and_links/1,
         c_node_dials_out/1, wrong_certificate_refused/1,
         missing_certificate_refused/1, plain_tcp_peer_refused/1,
         stalled_and_garbage_tls/1, certificates_rotate_on_sighup/1,
         options_file/1, bad_options_stop_the_node/1, started_by_tls_node/1,
         tls13_key_updates/1, inet6_tls/1]).
%% run inside the TLS peers
-export([call_checks/1, monitor_and_link/1, recv_one/1, ping/1,
         flood_then_ping/2, start_and_check/1]).

-type config() :: [{atom(), term()}].

-define(TIMEOUT, 20000).

-spec suite() -> [tuple()].
suite() ->
    [{timetrap, {minutes, 3}}].

-spec all() -> [atom()].
all() ->
    [ping_calls_and_big_messages, monitors_and_links, c_node_dials_out,
     wrong_certificate_refused, missing_certificate_refused,
     plain_tcp_peer_refused, stalled_and_garbage_tls,
     certificates_rotate_on_sighup, options_file, bad_options_stop_the_node,
     started_by_tls_node, tls13_key_updates, inet6_tls].

-spec init_per_suite(config()) -> config() | {skip, string()}.
init_per_suite(Config0) ->
    case otpc_ct_node:init_per_suite(Config0) of
        {skip, _} = Skip ->
            Skip;
        Config ->
            Dir = filename:join(?config(priv_dir, Config), "pki"),
            ok = filelib:ensure_dir(filename:join(Dir, "x")),
            Host = host(),
            ok = make_ca(Dir, "ca"),
            ok = make_cert(Dir, "ca", "node", Host),
            ok = make_ca(Dir, "rogue_ca"),
            ok = make_cert(Dir, "rogue_ca", "rogue", Host),
            [{pki, Dir}, {host, Host} | Config]
    end.

-spec end_per_suite(config()) -> ok.
end_per_suite(Config) ->
    otpc_ct_node:end_per_suite(Config).

-spec init_per_testcase(atom(), config()) -> config().
init_per_testcase(Case, Config) ->
    [{case_name, Case} | Config].

-spec end_per_testcase(atom(), config()) -> ok.
end_per_testcase(_Case, Config) ->
    [catch peer:stop(P) || {peer, P} <- Config],
    [catch peer:stop(P) || P <- get_peers()],
    ok.

%%% ------------------------------------------------------------------
%%% cases
%%% ------------------------------------------------------------------

-spec ping_calls_and_big_messages(config()) -> term().
ping_calls_and_big_messages(Config) ->
    ct:comment("An inet_tls_dist node with mutual verification pings the C "
               "node, calls its servers and echoes 4 MiB both ways."),
    CNode = start_c(Config),
    Peer = start_peer(Config, "good"),
    ok = in(Peer, call_checks, [CNode]).

-spec monitors_and_links(config()) -> term().
monitors_and_links(Config) ->
    ct:comment("Monitors and links across TLS: DOWN and EXIT with the real "
               "reasons, both for a C process and for the connection."),
    CNode = start_c(Config),
    Peer = start_peer(Config, "good"),
    ok = in(Peer, monitor_and_link, [CNode]).

-spec c_node_dials_out(config()) -> term().
c_node_dials_out(Config) ->
    ct:comment("The C node connects on demand to a TLS node it has never "
               "met (client side, verifying the server's certificate and "
               "host), and the message arrives."),
    CNode = start_c(Config),
    Driver = start_peer(Config, "good"),
    Target = start_peer(Config, "good"),
    TargetNode = peer_node(Target),
    Self = self(),
    Waiter = spawn_link(fun() -> Self ! {got, in(Target, recv_one, [tls_sink])} end),
    ok = wait_registered(Target, tls_sink),
    ok = in(Driver, ping, [CNode]),
    _ = in(Driver, erlang, send,
           [{otpc_probe, CNode}, {send, {tls_sink, TargetNode}, from_c}]),
    receive
        {got, {from_c, Nodes}} -> true = lists:member(CNode, Nodes)
    after ?TIMEOUT -> ct:fail({no_message, Waiter})
    end.

-spec inet6_tls(config()) -> term().
inet6_tls(Config) ->
    ct:comment("TLS over IPv6 (-proto_dist inet6_tls, both sides): an inet6_tls_dist node "
               "calls the C node over ::1, and the C node dials another over ::1."),
    CNode = start_c_args(Config, ["-proto_dist", "inet6_tls" | ssl_flags(?config(pki, Config))]),
    Driver = start_peer(Config, "good", "inet6_tls"),
    Target = start_peer(Config, "good", "inet6_tls"),
    TargetNode = peer_node(Target),
    Self = self(),
    Waiter = spawn_link(fun() -> Self ! {got, in(Target, recv_one, [tls_sink])} end),
    ok = wait_registered(Target, tls_sink),
    ok = in(Driver, call_checks, [CNode]),
    %% (OTP 25's inet6_tls_dist names the family inet in its records: the
    %% address is what tells)
    {ok, {net_address, {{0, 0, 0, 0, 0, 0, 0, 1}, _}, _, _, _}} =
        in(Driver, net_kernel, node_info, [CNode, address]),
    _ = in(Driver, erlang, send,
           [{otpc_probe, CNode}, {send, {tls_sink, TargetNode}, from_c}]),
    receive
        {got, {from_c, Nodes}} -> true = lists:member(CNode, Nodes)
    after ?TIMEOUT -> ct:fail({no_message, Waiter})
    end,
    %% the C node's own connection, dialled over IPv6 (not ::ffff:127.0.0.1)
    {ok, {net_address, {{0, 0, 0, 0, 0, 0, 0, 1}, _}, _, _, _}} =
        in(Target, net_kernel, node_info, [CNode, address]).

-spec wrong_certificate_refused(config()) -> term().
wrong_certificate_refused(Config) ->
    ct:comment("A peer whose certificate the C node's CA did not sign is "
               "refused, with the reason in the C node's log, while a good "
               "peer is served."),
    CNode = start_c(Config),
    Rogue = start_peer(Config, "rogue"),
    pang = in(Rogue, net_adm, ping, [CNode]),
    wait_log(<<"warning dist: TLS connection from 127.0.0.1 refused">>),
    Good = start_peer(Config, "good"),
    ok = in(Good, ping, [CNode]).

-spec missing_certificate_refused(config()) -> term().
missing_certificate_refused(Config) ->
    ct:comment("A peer without a client certificate is refused "
               "(server_fail_if_no_peer_cert true) with a logged reason."),
    CNode = start_c(Config),
    NoCert = start_peer(Config, "nocert"),
    pang = in(NoCert, net_adm, ping, [CNode]),
    wait_log(<<"warning dist: TLS connection from 127.0.0.1 refused">>),
    Good = start_peer(Config, "good"),
    ok = in(Good, ping, [CNode]).

-spec plain_tcp_peer_refused(config()) -> term().
plain_tcp_peer_refused(Config) ->
    ct:comment("A plain-TCP node (the ct node itself) cannot get in, while "
               "a TLS peer keeps its connection and its calls."),
    CNode = start_c(Config),
    Good = start_peer(Config, "good"),
    ok = in(Good, ping, [CNode]),
    pang = net_adm:ping(CNode),
    ok = in(Good, call_checks, [CNode]).

-spec stalled_and_garbage_tls(config()) -> term().
stalled_and_garbage_tls(Config) ->
    ct:comment("Clients that open TLS and stall, or send garbage records, "
               "each hold one handshake slot at most until the setup time "
               "(7 s) and never stop a TLS peer from getting in."),
    CNode = start_c(Config),
    {ok, Port} = port_of(CNode),
    Silent = [connect(Port) || _ <- lists:seq(1, 20)],
    Half = [begin
                S = connect(Port),
                ok = gen_tcp:send(S, half_client_hello()),
                S
            end || _ <- lists:seq(1, 20)],
    Garbage = connect(Port),
    ok = gen_tcp:send(Garbage, <<22, 3, 3, 0, 5, "xxxxx", 23, 3, 3, 255, 255>>),
    %% Garbage is refused at once (an alert, then the close) ...
    closed = drain(Garbage, 5000),
    Good = start_peer(Config, "good"),
    ok = in(Good, flood_then_ping, [CNode, 50]),
    %% ... the stalled ones when their setup time ends.
    [closed = drain(S, 15000) || S <- Silent ++ Half],
    ok = in(Good, ping, [CNode]).

-spec certificates_rotate_on_sighup(config()) -> term().
certificates_rotate_on_sighup(Config) ->
    ct:comment("The C node re-reads its certificate files on SIGHUP: a "
               "peer that trusts only the new CA gets in after the signal, "
               "not before, and the connection already up stays."),
    Dir = filename:join(?config(priv_dir, Config), "rotate"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Pki = ?config(pki, Config),
    [{ok, _} = file:copy(filename:join(Pki, F), filename:join(Dir, F))
     || F <- ["node.pem", "node.key", "ca.pem"]],
    CNode = start_c(Config, Dir),
    Old = start_peer(Config, "good"),
    ok = in(Old, ping, [CNode]),
    %% A second CA and a node certificate from it, for both sides.
    ok = make_ca(Dir, "ca2"),
    ok = make_cert(Dir, "ca2", "node2", ?config(host, Config)),
    New = start_peer(Config, write_opts(Config, "new", Dir, "node2", "ca2")),
    pang = in(New, net_adm, ping, [CNode]),
    [{ok, _} = file:copy(filename:join(Dir, From), filename:join(Dir, To))
     || {From, To} <- [{"node2.pem", "node.pem"}, {"node2.key", "node.key"},
                       {"ca2.pem", "ca.pem"}]],
    _ = os:cmd("kill -HUP " ++ integer_to_list(c_os_pid())),
    ok = wait_until(fun() -> in(New, net_adm, ping, [CNode]) =:= pong end, 10000),
    %% The old connection was made before: it carries on.
    ok = in(Old, call_checks, [CNode]).

-spec options_file(config()) -> term().
options_file(Config) ->
    ct:comment("The C node reads the same -ssl_dist_optfile as the BEAM "
               "nodes."),
    File = filename:join(?config(pki, Config), "good.conf"),
    ok = write_optfile(File, ?config(pki, Config), "node", "ca", true),
    CNode = start_c_args(Config, ["-ssl_dist_optfile", File]),
    Peer = start_peer(Config, "good"),
    ok = in(Peer, call_checks, [CNode]).

-spec bad_options_stop_the_node(config()) -> term().
bad_options_stop_the_node(Config) ->
    ct:comment("A missing certificate file, a verify_fun, or verify_peer "
               "without CAs stop the node program at start with the reason, "
               "instead of a node that checks less than it was told."),
    Pki = ?config(pki, Config),
    Missing = ["-ssl_dist_opt", "server_certfile", filename:join(Pki, "nope.pem")],
    {error, {exit_status, _, Lines1}} = start_c_raw(Config, bad1, Missing),
    true = mentions(Lines1, "certfile"),
    Fun = ["-ssl_dist_opt", "server_certfile", filename:join(Pki, "node.pem"),
           "server_verify_fun", "{m,f,s}"],
    {error, {exit_status, 2, Lines2}} = start_c_raw(Config, bad2, Fun),
    true = mentions(Lines2, "verify_fun is not supported"),
    NoCa = ["-ssl_dist_opt", "server_certfile", filename:join(Pki, "node.pem"),
            "server_verify", "verify_peer"],
    {error, {exit_status, 2, Lines3}} = start_c_raw(Config, bad3, NoCa),
    true = mentions(Lines3, "needs server_cacertfile"),
    %% options files: OTP's syntax errors and what this node does not speak
    Broken = filename:join(?config(priv_dir, Config), "broken.conf"),
    ok = file:write_file(Broken, "[{server, [{certfile, \"x\"}]}\n,{client, [}].\n"),
    {error, {exit_status, 2, Lines4}} =
        start_c_raw(Config, bad4, ["-ssl_dist_optfile", Broken]),
    true = mentions(Lines4, "line 2:"),
    Old = filename:join(?config(priv_dir, Config), "old.conf"),
    ok = file:write_file(Old, "[{client, [{versions, ['tlsv1.1']}]}].\n"),
    {error, {exit_status, 2, Lines5}} = start_c_raw(Config, bad5, ["-ssl_dist_optfile", Old]),
    true = mentions(Lines5, "tlsv1.1 is not supported").

-spec started_by_tls_node(config()) -> term().
started_by_tls_node(Config) ->
    ct:comment("otpc:start_node/1 on a node run with -proto_dist inet_tls "
               "starts a C node that speaks TLS too (the caller's "
               "-ssl_dist_optfile passed on), confirmed by a ping over TLS."),
    Peer = start_peer(Config, "good"),
    Name = list_to_atom("started_" ++ os:getpid()),
    %% in one process of the peer: a node started so is its caller's
    ok = in(Peer, start_and_check, [Name]).

-spec tls13_key_updates(config()) -> term().
tls13_key_updates(Config) ->
    ct:comment("A peer limited to TLS 1.3 that updates its keys every 64 KiB "
               "(key_update_at): 4 MiB messages both ways, the C node "
               "answering every update while the I/O thread sends ticks."),
    File = filename:join(?config(priv_dir, Config), "tls13.conf"),
    Pki = ?config(pki, Config),
    F = fun(N) -> filename:join(Pki, N) end,
    Common = [{certfile, F("node.pem")}, {keyfile, F("node.key")},
              {cacertfile, F("ca.pem")}, {verify, verify_peer},
              {versions, ['tlsv1.3']}, {key_update_at, 65536}],
    ok = file:write_file(File, io_lib:format("~p.~n", [[{server, [{fail_if_no_peer_cert, true} | Common]},
                                                         {client, Common}]])),
    %% the same file for the C node: versions limits it, key_update_at is OTP's own
    CNode = start_c_args(Config, ["-ssl_dist_optfile", File]),
    Peer = start_peer(Config, File),
    ok = in(Peer, call_checks, [CNode]),
    ok = in(Peer, call_checks, [CNode]).

%%% ------------------------------------------------------------------
%%% inside the TLS peers
%%% ------------------------------------------------------------------

-spec call_checks(node()) -> ok.
call_checks(CNode) ->
    pong = net_adm:ping(CNode),
    hello = gen_server:call({echo, CNode}, hello),
    Big = crypto:strong_rand_bytes(4 bsl 20),
    Big = gen_server:call({echo, CNode}, Big, ?TIMEOUT),
    [Big, x] = gen_server:call({echo, CNode}, [Big, x], ?TIMEOUT),
    true = lists:member(CNode, nodes(hidden)),
    ok.

-spec start_and_check(atom()) -> ok.
start_and_check(Name) ->
    {ok, CNode} = otpc:start_node(#{name => Name, args => ["-probe"]}),
    ok = call_checks(CNode),
    otpc:stop_node(CNode).

-spec monitor_and_link(node()) -> ok.
monitor_and_link(CNode) ->
    P = probe(CNode),
    Ref = erlang:monitor(process, P),
    P ! {exit, {tls, down_reason}},
    receive {'DOWN', Ref, process, P, {tls, down_reason}} -> ok
    after ?TIMEOUT -> exit(no_down)
    end,
    process_flag(trap_exit, true),
    P2 = probe(CNode),
    true = link(P2),
    P2 ! {ping, self()},
    receive {pong, P2} -> ok after ?TIMEOUT -> exit(no_pong) end,
    P2 ! {exit, link_reason},
    receive {'EXIT', P2, link_reason} -> ok
    after ?TIMEOUT -> exit(no_exit)
    end,
    %% A monitor of a C process fires noconnection when the link goes.
    P3 = probe(CNode),
    Ref3 = erlang:monitor(process, P3),
    true = erlang:disconnect_node(CNode),
    receive {'DOWN', Ref3, process, P3, noconnection} -> ok
    after ?TIMEOUT -> exit(no_noconnection)
    end.

-spec recv_one(atom()) -> {term(), [node()]}.
recv_one(Name) ->
    register(Name, self()),
    receive M -> {M, nodes(hidden)} after ?TIMEOUT -> timeout end.

-spec ping(node()) -> ok.
ping(CNode) ->
    pong = net_adm:ping(CNode),
    ok.

-spec flood_then_ping(node(), pos_integer()) -> ok.
flood_then_ping(CNode, N) ->
    [hello = gen_server:call({echo, CNode}, hello) || _ <- lists:seq(1, N)],
    ping(CNode).

probe(CNode) ->
    {otpc_probe, CNode} ! {spawn, self()},
    receive {spawned, P} -> P after ?TIMEOUT -> exit(no_probe) end.

%%% ------------------------------------------------------------------
%%% nodes
%%% ------------------------------------------------------------------

start_c(Config) ->
    start_c(Config, ?config(pki, Config)).

start_c(Config, Dir) ->
    start_c_args(Config, ssl_flags(Dir)).

ssl_flags(Dir) ->
    F = fun(N) -> filename:join(Dir, N) end,
    ["-ssl_dist_opt",
     "server_certfile", F("node.pem"), "server_keyfile", F("node.key"),
     "server_cacertfile", F("ca.pem"), "server_verify", "verify_peer",
     "server_fail_if_no_peer_cert", "true",
     "client_certfile", F("node.pem"), "client_keyfile", F("node.key"),
     "client_cacertfile", F("ca.pem"), "client_verify", "verify_peer"].

start_c_args(Config, Args) ->
    {ok, Node} = start_c_raw(Config, c, Args),
    Node.

%% The ct node speaks plain TCP and so cannot ping a TLS node, which is what
%% otpc:start_node/1 does to confirm a start: the node program runs under a
%% port of the case's process instead (-watch_stdin: it stops with the case),
%% and its log lines come to the case as port messages. Returns {ok, Node}
%% once the node logged ready, or {error, {exit_status, S, Lines}}.
start_c_raw(Config, Tag, Args) ->
    Name = lists:concat([Tag, "_", ?config(case_name, Config), "_", os:getpid()]),
    Exe = os:getenv("OTPC_NODE_EXECUTABLE"),
    Port = open_port({spawn_executable, Exe},
                     [{args, ["-sname", Name, "-setcookie", atom_to_list(erlang:get_cookie()),
                              "-watch_stdin", "-probe", "-proto_dist", "inet_tls" | Args]},
                      {line, 4096}, exit_status, stderr_to_stdout, binary]),
    Node = list_to_atom(Name ++ "@" ++ host()),
    put(c_port, Port),
    await_ready(Port, Node, []).

await_ready(Port, Node, Lines) ->
    Ready = iolist_to_binary(["node: ready ", atom_to_list(Node)]),
    receive
        {Port, {data, {eol, Line}}} ->
            case binary:match(Line, Ready) of
                nomatch -> await_ready(Port, Node, [Line | Lines]);
                _ -> {ok, Node}
            end;
        {Port, {exit_status, S}} ->
            {error, {exit_status, S, lists:reverse(Lines)}}
    after ?TIMEOUT ->
        {error, {timeout, lists:reverse(Lines)}}
    end.

c_os_pid() ->
    {os_pid, OsPid} = erlang:port_info(get(c_port), os_pid),
    OsPid.

%% Kind: "good", "rogue", "nocert", or an options file's path.
start_peer(Config, Kind) ->
    start_peer(Config, Kind, "inet_tls").

start_peer(Config, Kind, Proto) ->
    File = case Kind of
               "good" -> opts(Config, "good", "node", "ca", true);
               "rogue" -> opts(Config, "rogue", "rogue", "ca", true);
               "nocert" -> opts(Config, "nocert", none, "ca", true);
               Path -> Path
           end,
    Name = peer:random_name("tls_" ++ atom_to_list(?config(case_name, Config))),
    {ok, Peer, _Node} =
        peer:start(#{name => Name, connection => standard_io,
                     args => ["-proto_dist", Proto, "-ssl_dist_optfile", File,
                              "-setcookie", atom_to_list(erlang:get_cookie()),
                              "-pa", filename:dirname(code:which(?MODULE)),
                              "-pa", filename:dirname(code:which(otpc))]}),
    put_peer(Peer),
    Peer.

opts(Config, Tag, Cert, Ca, Verify) ->
    File = filename:join(?config(priv_dir, Config), Tag ++ ".conf"),
    ok = write_optfile(File, ?config(pki, Config), Cert, Ca, Verify),
    File.

write_opts(Config, Tag, Dir, Cert, Ca) ->
    File = filename:join(?config(priv_dir, Config), Tag ++ ".conf"),
    ok = write_optfile(File, Dir, Cert, Ca, true),
    File.

%% OTP's -ssl_dist_optfile format, mutual verification.
write_optfile(File, Dir, Cert, Ca, Verify) ->
    F = fun(N) -> filename:join(Dir, N) end,
    Id = case Cert of
             none -> [];
             _ -> [{certfile, F(Cert ++ ".pem")}, {keyfile, F(Cert ++ ".key")}]
         end,
    V = case Verify of true -> verify_peer; false -> verify_none end,
    Server = Id ++ [{cacertfile, F(Ca ++ ".pem")}, {verify, V},
                    {fail_if_no_peer_cert, Verify}],
    Client = Id ++ [{cacertfile, F(Ca ++ ".pem")}, {verify, V}],
    file:write_file(File, io_lib:format("~p.~n", [[{server, Server}, {client, Client}]])).

peer_node(Peer) ->
    in(Peer, erlang, node, []).

in(Peer, F, A) ->
    in(Peer, ?MODULE, F, A).

in(Peer, M, F, A) ->
    peer:call(Peer, M, F, A, 60000).

put_peer(P) ->
    put(tls_peers, [P | get_peers()]).

get_peers() ->
    case get(tls_peers) of
        undefined -> [];
        L -> L
    end.

wait_registered(Peer, Name) ->
    wait_until(fun() -> in(Peer, erlang, whereis, [Name]) =/= undefined end, 10000).

port_of(CNode) ->
    [Name, _] = string:split(atom_to_list(CNode), "@"),
    case erl_epmd:port_please(Name, "127.0.0.1") of
        {port, Port, _} -> {ok, Port};
        Other -> {error, Other}
    end.

connect(Port) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    S.

%% Reads until the node closes the socket.
drain(S, Timeout) ->
    case gen_tcp:recv(S, 0, Timeout) of
        {ok, _} -> drain(S, Timeout);
        {error, closed} -> closed;
        {error, Other} -> Other
    end.

%% The first 40 bytes of a TLS 1.2 ClientHello record announcing 200 bytes.
half_client_hello() ->
    <<22, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3, 0:(32 * 8)>>.

wait_until(Fun, Timeout) ->
    case Fun() of
        true -> ok;
        false when Timeout =< 0 -> timeout;
        false ->
            timer:sleep(200),
            wait_until(Fun, Timeout - 200)
    end.

mentions(Lines, Text) ->
    lists:any(fun(L) -> string:find(L, Text) =/= nomatch end, Lines).

host() ->
    [_, Host] = string:split(atom_to_list(node()), "@"),
    Host.

%%% ------------------------------------------------------------------
%%% certificates (openssl)
%%% ------------------------------------------------------------------

make_ca(Dir, Name) ->
    openssl(Dir, ["req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                  " -days 2 -subj /CN=otpc-test-", Name,
                  " -keyout ", Name, ".key -out ", Name, ".pem"]).

make_cert(Dir, Ca, Name, Host) ->
    Ext = filename:join(Dir, Name ++ ".ext"),
    ok = file:write_file(Ext, ["subjectAltName=DNS:", Host,
                               ",DNS:localhost,IP:127.0.0.1\n"
                               "extendedKeyUsage=serverAuth,clientAuth\n"]),
    ok = openssl(Dir, ["req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                       " -subj /CN=", Host, " -keyout ", Name, ".key -out ",
                       Name, ".csr"]),
    openssl(Dir, ["x509 -req -days 2 -in ", Name, ".csr -CA ", Ca, ".pem -CAkey ",
                  Ca, ".key -CAcreateserial -out ", Name, ".pem -extfile ", Ext]).

openssl(Dir, Args) ->
    Cmd = lists:flatten(["cd '", Dir, "' && openssl ", Args, " 2>&1; echo \"rc=$?\""]),
    Out = os:cmd(Cmd),
    case string:find(Out, "rc=0") of
        nomatch -> {error, {openssl, Cmd, Out}};
        _ -> ok
    end.

%%% ------------------------------------------------------------------
%%% the C node's log: its lines, from the port
%%% ------------------------------------------------------------------

%% Waits for a line of the C node's log that contains Text.
wait_log(Text) ->
    Port = get(c_port),
    receive
        {Port, {data, {eol, Line}}} ->
            case binary:match(Line, Text) of
                nomatch -> wait_log(Text);
                _ -> ok
            end
    after ?TIMEOUT ->
        ct:fail({no_log_line, Text})
    end.
