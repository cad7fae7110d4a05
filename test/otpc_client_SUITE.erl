%% otpc_client against the wire protocol, with the server side played by this
%% suite over real sockets (TCP, and TLS with certificates generated here).
%% The C daemon's own tests exercise the same client against C servers; these
%% pin down the client's behaviour frame by frame: replies out of order,
%% pushes, the server's exit reason, a close without one, an undecodable frame,
%% and how the client ends: quietly (exit `normal', no crash report, a linked
%% owner lives on) when the server ended for an expected reason (`normal',
%% `shutdown', `{shutdown, _}'), as `{server_exit, Reason}' otherwise.
%%
%% The scripted server (serve/2) answers:
%%   {call, Tag, {echo, X}}        {reply, Tag, X}
%%   {call, Tag, {later, Ms, X}}   {reply, Tag, X} after Ms, others meanwhile
%%   {cast, {push, T}}             {push, T}
%%   {cast, {exit, R}}             {exit, R}, then close
%%   {cast, close}                 close
%%   {cast, garbage}               a frame that is not a term
-module(otpc_client_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, groups/0, init_per_group/2, end_per_group/2]).
-export([init_per_suite/1, end_per_suite/1]).
-export([call_reply/1, replies_out_of_order/1, push_to_owner/1, server_exit/1,
         expected_exit_is_quiet/1, closed_without_exit/1, bad_frame/1, bad_hello/1,
         connect_refused/1]).
%% A logger handler (this module) that forwards reports to the case.
-export([log/2]).

-define(TIMEOUT, 5000).

-type config() :: [{atom(), term()}].

-spec all() -> [{group, atom()}].
all() ->
    [{group, tcp}, {group, tls}].

-spec groups() -> [{atom(), list(), [atom()]}].
groups() ->
    Cases = [call_reply, replies_out_of_order, push_to_owner, server_exit,
             expected_exit_is_quiet, closed_without_exit, bad_frame, bad_hello],
    [{tcp, [], Cases ++ [connect_refused]}, {tls, [], Cases}].

%% No C node here, so no distribution needed.
-spec init_per_suite(config()) -> config() | {skip, string()}.
init_per_suite(Config) ->
    otpc_ct_node:init_per_suite(Config, #{distributed => false}).

-spec end_per_suite(config()) -> ok.
end_per_suite(Config) ->
    otpc_ct_node:end_per_suite(Config).

-spec init_per_group(atom(), config()) -> config().
init_per_group(tcp, Config) ->
    [{transport, tcp} | Config];
init_per_group(tls, Config) ->
    {ok, _} = application:ensure_all_started(ssl),
    %% SHA-256 signatures: pkix_test_data signs with SHA-1 unless told, and since
    %% OTP 26 ssl refuses SHA-1 certificates (unable_to_supply_acceptable_cert).
    Key = [{key, {namedCurve, secp256r1}}, {digest, sha256}],
    #{server_config := Srv, client_config := Cli} =
        public_key:pkix_test_data(#{server_chain => #{root => Key, peer => Key},
                                    client_chain => #{root => Key, peer => Key}}),
    [{transport, tls}, {server_tls, Srv}, {client_tls, Cli} | Config].

-spec end_per_group(atom(), config()) -> ok.
end_per_group(_Group, _Config) ->
    ok.

%%% cases

-spec call_reply(config()) -> term().
call_reply(Config) ->
    C = client(Config, hello),
    {echoed, [1, <<"two">>]} = otpc_client:call(C, {echo, {echoed, [1, <<"two">>]}}),
    true = is_pid(otpc_client:server_pid(C)),
    ok = otpc_client:stop(C).

-spec replies_out_of_order(config()) -> term().
replies_out_of_order(Config) ->
    C = client(Config, hello),
    Self = self(),
    spawn_link(fun() -> Self ! {slow, otpc_client:call(C, {later, 300, slow})} end),
    fast = otpc_client:call(C, {echo, fast}),
    receive {slow, slow} -> ok after ?TIMEOUT -> ct:fail(no_slow_reply) end,
    ok = otpc_client:stop(C).

-spec push_to_owner(config()) -> term().
push_to_owner(Config) ->
    C = client(Config, hello),
    ok = otpc_client:cast(C, {push, {news, 1}}),
    receive {otpc_push, C, {news, 1}} -> ok after ?TIMEOUT -> ct:fail(no_push) end,
    ok = otpc_client:stop(C).

-spec server_exit(config()) -> term().
server_exit(Config) ->
    process_flag(trap_exit, true),
    C = client(Config, hello),
    ok = otpc_client:cast(C, {exit, {custom, crash}}),
    receive {otpc_exit, C, {custom, crash}} -> ok after ?TIMEOUT -> ct:fail(no_otpc_exit) end,
    receive {'EXIT', C, {server_exit, {custom, crash}}} -> ok
    after ?TIMEOUT -> ct:fail(no_exit)
    end.

%% OTP's conventions: a gen_server that stops with normal, shutdown or
%% {shutdown, _} gets no crash report; and, like a gen_tcp socket whose peer
%% closes, the server's end is a message to the owner, which is not killed.
-spec expected_exit_is_quiet(config()) -> term().
expected_exit_is_quiet(Config) ->
    ok = logger:add_handler(?MODULE, ?MODULE, #{config => #{pid => self()}}),
    try
        lists:foreach(fun(Reason) -> quiet_end(Config, Reason) end,
                      [normal, shutdown, {shutdown, closed}]),
        %% while a crash still reports, through the same handler
        Self = self(),
        {Owner, Mon} = spawn_monitor(fun() -> process_flag(trap_exit, true),
                                               C = client(Config, hello),
                                               ok = otpc_client:cast(C, {exit, boom}),
                                               receive {'EXIT', C, R} -> Self ! {exit, R} end
                                      end),
        receive {exit, {server_exit, boom}} -> ok after ?TIMEOUT -> ct:fail(no_crash) end,
        receive {'DOWN', Mon, process, Owner, normal} -> ok after ?TIMEOUT -> ct:fail(Owner) end,
        receive {logged, _} -> ok after ?TIMEOUT -> ct:fail(no_crash_report) end
    after
        ok = logger:remove_handler(?MODULE)
    end.

%% An owner that does not trap exits, linked to its client, outlives it, and
%% learns why the server ended; the client's own exit reason is normal.
quiet_end(Config, Reason) ->
    Self = self(),
    {Owner, Mon} =
        spawn_monitor(fun() ->
                              C = client(Config, hello),
                              CMon = erlang:monitor(process, C),
                              ok = otpc_client:cast(C, {exit, Reason}),
                              Got = receive {otpc_exit, C, R} -> R end,
                              Down = receive {'DOWN', CMon, process, C, D} -> D end,
                              Self ! {ended, Got, Down},
                              receive go_on -> ok end
                      end),
    receive {ended, Reason, normal} -> ok
    after ?TIMEOUT -> ct:fail({no_quiet_end, Reason})
    end,
    true = is_process_alive(Owner),
    Owner ! go_on,
    receive {'DOWN', Mon, process, Owner, normal} -> ok after ?TIMEOUT -> ct:fail(Owner) end,
    receive {logged, Report} -> ct:fail({report, Reason, Report}) after 100 -> ok end.

-spec log(logger:log_event(), logger:handler_config()) -> term().
log(#{level := Level} = Event, #{config := #{pid := Pid}}) when Level =:= error ->
    Pid ! {logged, Event};
log(_Event, _Config) ->
    ok.

-spec closed_without_exit(config()) -> term().
closed_without_exit(Config) ->
    process_flag(trap_exit, true),
    C = client(Config, hello),
    ok = otpc_client:cast(C, close),
    receive {'EXIT', C, {server_exit, closed}} -> ok after ?TIMEOUT -> ct:fail(no_exit) end.

-spec bad_frame(config()) -> term().
bad_frame(Config) ->
    process_flag(trap_exit, true),
    C = client(Config, hello),
    ok = otpc_client:cast(C, garbage),
    receive {'EXIT', C, {bad_frame, {undecodable, _}}} -> ok
    after ?TIMEOUT -> ct:fail(no_exit)
    end.

-spec bad_hello(config()) -> term().
bad_hello(Config) ->
    process_flag(trap_exit, true),
    {error, {bad_hello, {hi, there}}} = start(Config, {hi, there}).

-spec connect_refused(config()) -> term().
connect_refused(_Config) ->
    {ok, L} = gen_tcp:listen(0, [{ip, loopback}]),
    {ok, Port} = inet:port(L),
    ok = gen_tcp:close(L),
    process_flag(trap_exit, true),
    {error, econnrefused} = otpc_client:start_link({127, 0, 0, 1}, Port, #{}).

%%% the scripted server

client(Config, Hello) ->
    {ok, C} = start(Config, Hello),
    C.

start(Config, Hello) ->
    Transport = ?config(transport, Config),
    {Mod, L} = listen(Transport, Config),
    Port = port(Mod, L),
    Self = self(),
    spawn_link(fun() -> accept(Mod, L, Hello, Self) end),
    Opts = case Transport of
               tcp -> #{};
               %% The server's certificate names this host (pkix_test_data's
               %% default); since OTP 26 ssl checks a literal IP address against
               %% it too, so the client asks for the name while dialling the IP.
               tls -> #{transport => tls,
                        tls => [{server_name_indication, net_adm:localhost()}
                                | ?config(client_tls, Config)]}
           end,
    otpc_client:start_link({127, 0, 0, 1}, Port, Opts).

listen(tcp, _Config) ->
    {ok, L} = gen_tcp:listen(0, [binary, {packet, 4}, {active, false}, {ip, loopback}]),
    {gen_tcp, L};
listen(tls, Config) ->
    {ok, L} = ssl:listen(0, [binary, {packet, 4}, {active, false}, {ip, loopback}
                             | ?config(server_tls, Config)]),
    {ssl, L}.

port(gen_tcp, L) -> {ok, P} = inet:port(L), P;
port(ssl, L) -> {ok, {_, P}} = ssl:sockname(L), P.

accept(gen_tcp, L, Hello, _Test) ->
    {ok, S} = gen_tcp:accept(L),
    serve(gen_tcp, S, Hello);
accept(ssl, L, Hello, _Test) ->
    {ok, T} = ssl:transport_accept(L),
    {ok, S} = ssl:handshake(T),
    serve(ssl, S, Hello).

serve(Mod, S, hello) ->
    serve(Mod, S, {otpc_hello, 1, self()});
serve(Mod, S, Hello) ->
    ok = Mod:send(S, term_to_binary(Hello)),
    loop(Mod, S).

loop(Mod, S) ->
    case Mod:recv(S, 0) of
        {ok, Data} -> handle(Mod, S, binary_to_term(Data));
        {error, _} -> ok
    end.

handle(Mod, S, {call, Tag, {echo, X}}) ->
    ok = Mod:send(S, term_to_binary({reply, Tag, X})),
    loop(Mod, S);
handle(Mod, S, {call, Tag, {later, Ms, X}}) ->
    Self = self(),
    _ = spawn(fun() -> timer:sleep(Ms), Self ! {later, Tag, X} end),
    later(Mod, S);
handle(Mod, S, {cast, {push, T}}) ->
    ok = Mod:send(S, term_to_binary({push, T})),
    loop(Mod, S);
handle(Mod, S, {cast, {exit, R}}) ->
    ok = Mod:send(S, term_to_binary({exit, R})),
    Mod:close(S);
handle(Mod, S, {cast, close}) ->
    Mod:close(S);
handle(Mod, S, {cast, garbage}) ->
    ok = Mod:send(S, <<"this is not a term">>),
    loop(Mod, S).

%% A call answered later: go on serving (the fast call), then send the late reply.
later(Mod, S) ->
    case Mod:recv(S, 0, 50) of
        {ok, Data} ->
            {call, Tag, {echo, X}} = binary_to_term(Data),
            ok = Mod:send(S, term_to_binary({reply, Tag, X})),
            later(Mod, S);
        {error, timeout} ->
            receive
                {later, Tag, X} ->
                    ok = Mod:send(S, term_to_binary({reply, Tag, X})),
                    loop(Mod, S)
            after 0 ->
                    later(Mod, S)
            end;
        {error, _} ->
            ok
    end.
