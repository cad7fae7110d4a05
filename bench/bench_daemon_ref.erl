%% bench_daemon_ref: the Erlang twin of the C node's daemon running the `echo'
%% module, so bench/daemon_run compares like with like. It speaks the daemon's
%% wire protocol (see src/otpc_client.erl): {packet, 4} frames of
%% term_to_binary terms.
%%
%%   server -> client  {otpc_hello, 1, ServerPid}    first, once (after the TLS handshake)
%%   client -> server  {call, Tag, Req}              answered by {reply, Tag, Req} (echo)
%%                     {cast, Req}                   only counted
%%
%% One listener per start/1, a pool of acceptor processes (as ranch does), and one
%% gen_server per connection that owns its socket (binary, {packet, 4},
%% {active, N}). For TLS the handshake runs in the connection's process, so a slow
%% handshake holds only its own connection.
%%
%% Runs on its own BEAM node, started by bench_daemon as
%% `erl ... -s bench_daemon_ref start_node ClientNode'; the client drives it with
%% erpc: start/1, info/1, stop/1.
-module(bench_daemon_ref).
-behaviour(gen_server).

-export([start_node/1, start/1, info/1, stop/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(ACCEPTORS, 10).
-define(ACTIVE_N, 100).
-define(HANDSHAKE_TIMEOUT, 10000).
-define(LISTEN_OPTS, [binary, {packet, 4}, {active, false}, {reuseaddr, true},
                      {nodelay, true}, {backlog, 4096}]).

%% counters indices
-define(ACCEPTED, 1).
-define(ACTIVE, 2).
-define(ENDED, 3).
-define(CALLS, 4).
-define(CASTS, 5).
-define(FAILED, 6).   % accept or TLS handshake failures

-type opts() :: #{transport => tcp | tls, port => inet:port_number(),
                  certfile => file:filename(), keyfile => file:filename(),
                  notify => pid()}.
%% `notify': a process that gets {bench_spawned, ConnPid, {Ip, Port}} per
%% connection (it may monitor ConnPid), to mimic the C daemon's
%% otpc_spawned messages to its owner. Off by default.

-record(conn, {mod :: gen_tcp | ssl,
               sock :: term(),
               counters :: counters:counters_ref()}).

%%% Node and listeners

%% Entry point for `erl -s bench_daemon_ref start_node ClientNode': registers
%% `bench_daemon_ref' (so the client can tell the node is ready) and halts this
%% node when ClientNode goes away, so a benchmark that dies leaves nothing behind.
-spec start_node([atom()]) -> ok.
start_node([Client]) ->
    {ok, _} = application:ensure_all_started(ssl),
    Pid = spawn(fun() -> watch(Client) end),
    true = register(?MODULE, Pid),
    ok.

watch(Client) ->
    erlang:monitor_node(Client, true),
    receive {nodedown, Client} -> erlang:halt(0) end.

%% Starts a listener with its acceptors; returns the port it listens on. The
%% listener is owned by a process of its own, not by the caller (an erpc call
%% runs in a process that ends with it).
-spec start(opts()) -> {ok, inet:port_number()} | {error, term()}.
start(Opts) ->
    Parent = self(),
    Ref = make_ref(),
    _ = spawn(fun() -> listener(Parent, Ref, Opts) end),
    receive {Ref, Result} -> Result end.

%% The counters of the listener on Port.
-spec info(inet:port_number()) -> #{atom() => non_neg_integer()}.
info(Port) ->
    {_Owner, C} = persistent_term:get({?MODULE, Port}),
    #{accepted => counters:get(C, ?ACCEPTED), active => counters:get(C, ?ACTIVE),
      ended => counters:get(C, ?ENDED), calls => counters:get(C, ?CALLS),
      casts => counters:get(C, ?CASTS), failed => counters:get(C, ?FAILED)}.

%% Closes the listener on Port (connections already made stay until their
%% clients close them).
-spec stop(inet:port_number()) -> ok.
stop(Port) ->
    {Owner, _C} = persistent_term:get({?MODULE, Port}),
    MRef = monitor(process, Owner),
    Owner ! stop,
    receive {'DOWN', MRef, process, Owner, _} -> ok end,
    _ = persistent_term:erase({?MODULE, Port}),
    ok.

listener(Parent, Ref, Opts) ->
    Transport = maps:get(transport, Opts, tcp),
    case listen(Transport, maps:get(port, Opts, 0), Opts) of
        {ok, Mod, LSock, Port} ->
            C = counters:new(6, [write_concurrency]),
            persistent_term:put({?MODULE, Port}, {self(), C}),
            Notify = maps:get(notify, Opts, undefined),
            [spawn_link(fun() -> acceptor(Transport, LSock, C, Notify) end)
             || _ <- lists:seq(1, ?ACCEPTORS)],
            Parent ! {Ref, {ok, Port}},
            process_flag(trap_exit, true),
            receive stop -> ok end,
            _ = Mod:close(LSock),
            exit(shutdown);
        {error, _} = Error ->
            Parent ! {Ref, Error}
    end.

listen(tcp, Port, _Opts) ->
    case gen_tcp:listen(Port, ?LISTEN_OPTS) of
        {ok, L} -> {ok, P} = inet:port(L), {ok, gen_tcp, L, P};
        {error, _} = Error -> Error
    end;
listen(tls, Port, Opts) ->
    TlsOpts = [{certfile, maps:get(certfile, Opts)}, {keyfile, maps:get(keyfile, Opts)}],
    case ssl:listen(Port, ?LISTEN_OPTS ++ TlsOpts) of
        {ok, L} -> {ok, {_, P}} = ssl:sockname(L), {ok, ssl, L, P};
        {error, _} = Error -> Error
    end.

%% Accepts, starts the connection's gen_server, hands it the socket.
acceptor(Transport, LSock, C, Notify) ->
    Accepted = case Transport of
                   tcp -> gen_tcp:accept(LSock);
                   tls -> ssl:transport_accept(LSock)
               end,
    case Accepted of
        {ok, Sock} ->
            {ok, Pid} = gen_server:start(?MODULE, {Transport, C}, []),
            ok = controlling_process(Transport, Sock, Pid),
            Pid ! {shoot, Sock, Notify},
            acceptor(Transport, LSock, C, Notify);
        {error, closed} ->
            ok;
        {error, _} ->
            %% emfile and the like: count, and do not spin (ranch waits too).
            %% Not timer:sleep/1: without a free descriptor no module loads.
            counters:add(C, ?FAILED, 1),
            receive after 10 -> ok end,
            acceptor(Transport, LSock, C, Notify)
    end.

controlling_process(tcp, Sock, Pid) -> gen_tcp:controlling_process(Sock, Pid);
controlling_process(tls, Sock, Pid) -> ssl:controlling_process(Sock, Pid).

%%% One connection

-spec init({tcp | tls, counters:counters_ref()}) -> {ok, {waiting, tcp | tls, term()}}.
init({Transport, C}) ->
    {ok, {waiting, Transport, C}}.

-spec handle_call(term(), gen_server:from(), term()) -> {reply, term(), term()}.
handle_call(_Req, _From, St) ->
    {reply, {error, badcall}, St}.

-spec handle_cast(term(), term()) -> {noreply, term()}.
handle_cast(_Msg, St) ->
    {noreply, St}.

-spec handle_info(term(), term()) -> {noreply, term()} | {stop, term(), term()}.
handle_info({shoot, Sock0, Notify}, {waiting, Transport, C}) ->
    case handshake(Transport, Sock0) of
        {ok, Mod, Sock} ->
            counters:add(C, ?ACCEPTED, 1),
            counters:add(C, ?ACTIVE, 1),
            notify(Notify, Mod, Sock),
            St = #conn{mod = Mod, sock = Sock, counters = C},
            case Mod:send(Sock, term_to_binary({otpc_hello, 1, self()})) of
                ok ->
                    _ = setopts(Mod, Sock, [{active, ?ACTIVE_N}]),
                    {noreply, St};
                {error, _} ->
                    {stop, normal, ended(St)}
            end;
        {error, _} ->
            counters:add(C, ?FAILED, 1),
            {stop, normal, {waiting, Transport, C}}
    end;
handle_info({Tag, Sock, Data}, St = #conn{sock = Sock}) when Tag =:= tcp; Tag =:= ssl ->
    frame(decode(Data), St);
handle_info({Tag, Sock}, St = #conn{mod = Mod, sock = Sock})
  when Tag =:= tcp_passive; Tag =:= ssl_passive ->
    _ = setopts(Mod, Sock, [{active, ?ACTIVE_N}]),
    {noreply, St};
handle_info({Tag, Sock}, St = #conn{sock = Sock}) when Tag =:= tcp_closed; Tag =:= ssl_closed ->
    {stop, normal, ended(St)};
handle_info({Tag, Sock, _Reason}, St = #conn{sock = Sock})
  when Tag =:= tcp_error; Tag =:= ssl_error ->
    {stop, normal, ended(St)};
handle_info(_Other, St) ->
    {noreply, St}.

handshake(tcp, Sock) ->
    {ok, gen_tcp, Sock};
handshake(tls, TSock) ->
    case ssl:handshake(TSock, ?HANDSHAKE_TIMEOUT) of
        {ok, Sock} -> {ok, ssl, Sock};
        {error, _} = Error -> _ = ssl:close(TSock), Error
    end.

notify(undefined, _Mod, _Sock) ->
    ok;
notify(Pid, Mod, Sock) ->
    Peer = case peername(Mod, Sock) of
               {ok, P} -> P;
               {error, _} -> undefined
           end,
    Pid ! {bench_spawned, self(), Peer},
    ok.

peername(gen_tcp, Sock) -> inet:peername(Sock);
peername(ssl, Sock) -> ssl:peername(Sock).

frame({call, Tag, Req}, St = #conn{mod = Mod, sock = Sock, counters = C}) ->
    counters:add(C, ?CALLS, 1),
    case Mod:send(Sock, term_to_binary({reply, Tag, Req})) of
        ok -> {noreply, St};
        {error, _} -> {stop, normal, ended(St)}
    end;
frame({cast, _Req}, St = #conn{counters = C}) ->
    counters:add(C, ?CASTS, 1),
    {noreply, St};
frame(_Other, St = #conn{mod = Mod, sock = Sock}) ->
    _ = Mod:send(Sock, term_to_binary({exit, bad_frame})),
    _ = Mod:close(Sock),
    {stop, normal, ended(St)}.

decode(Data) ->
    try binary_to_term(Data, [safe])
    catch error:badarg -> undecodable
    end.

ended(St = #conn{mod = Mod, sock = Sock, counters = C}) ->
    _ = Mod:close(Sock),
    counters:sub(C, ?ACTIVE, 1),
    counters:add(C, ?ENDED, 1),
    St.

setopts(gen_tcp, Sock, Opts) -> inet:setopts(Sock, Opts);
setopts(ssl, Sock, Opts) -> ssl:setopts(Sock, Opts).
