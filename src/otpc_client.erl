%% @doc A client of an otpc daemon connection: one socket, one server process
%% on the C node behind it.
%%
%% The wire protocol (what `gen_tcp' calls `{packet, 4}' with
%% `term_to_binary/1'): every frame is a 4-byte big-endian length, then one
%% term in the external term format.
%%
%% ```
%% server -> client  {otpc_hello, 1, ServerPid}     first, once
%% client -> server  {call, Tag, Request}           answered by {reply, Tag, Reply}
%%                   {cast, Request}
%% server -> client  {reply, Tag, Reply}            in any order
%%                   {push, Term}                   -> owner ! {otpc_push, Client, Term}
%%                   {exit, Reason}                 then the server closes the socket
%% '''
%%
%% The process that calls `start_link/3' owns the client: it gets the pushes,
%% and it is linked to the client. Frames are decoded with
%% `binary_to_term(B, [safe])'.
%%
%% When the server ends, its owner gets `{otpc_exit, Client, Reason}' (the
%% `exit' frame's reason; `closed' when the socket closes without one,
%% `{socket_error, E}' when it breaks), and the client ends:
%%
%% <ul>
%% <li>`normal', `shutdown' or `{shutdown, _}' (the server stopped as it meant
%% to, its client closed, the daemon stopped): the client exits `normal',
%% quietly. Like a `gen_tcp' or `ssl' socket whose peer closes (`{tcp_closed, S}'
%% to the owner, which lives on), the end of the other side is news for the
%% owner, not a failure of its own: a shell or process that `start_link'ed the
%% client is not killed when, say, `otpc:stop_daemon/1' shuts the server down.
%% (Exiting with `shutdown' itself, as a gen_server may, would kill every linked
%% process that does not trap exits.)</li>
%% <li>any other reason (a crash, `closed', a socket error): the client exits
%% `{server_exit, Reason}', which gen_server logs as a crash and which kills a
%% linked owner that does not trap exits, as a crashed `start_link'ed
%% gen_server would.</li>
%% </ul>
%%
%% A frame that does not decode ends the client with `{bad_frame, Detail}'.
-module(otpc_client).
-behaviour(gen_server).

-export([start_link/3, call/2, call/3, cast/2, server_pid/1, stop/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).
-export_type([opts/0]).

-type opts() :: #{transport => tcp | tls,
                  tls => [ssl:tls_client_option()],
                  connect_timeout => timeout()}.
%% `transport': `tcp' (default) or `tls'. `tls': options for `ssl:connect/4'
%% (certificates, `verify', ...). `connect_timeout': for the connection, the
%% TLS handshake and the server's hello together (default 5000 ms).

-record(state, {owner :: pid(),
                mod :: gen_tcp | ssl,
                sock :: gen_tcp:socket() | ssl:sslsocket(),
                server :: pid(),
                next_tag = 0 :: non_neg_integer(),
                pending = #{} :: #{non_neg_integer() => gen_server:from()}}).

-define(DEFAULT_TIMEOUT, 5000).

%% @doc Connects, waits for the server's hello, and returns the client.
-spec start_link(inet:socket_address() | inet:hostname(), inet:port_number(), opts()) ->
          {ok, pid()} | {error, term()}.
start_link(Host, Port, Opts) when is_map(Opts) ->
    gen_server:start_link(?MODULE, {self(), Host, Port, Opts}, []).

%% @doc `call(C, Request, 5000)'.
-spec call(pid(), term()) -> term().
call(C, Request) ->
    call(C, Request, ?DEFAULT_TIMEOUT).

%% @doc Calls the connection's server: its `handle_call' gets `Request', and
%% the reply comes back here. Exits as `gen_server:call/3' does on timeout or
%% when the client ends.
-spec call(pid(), term(), timeout()) -> term().
call(C, Request, Timeout) ->
    gen_server:call(C, {call, Request}, Timeout).

%% @doc Casts to the connection's server (its `handle_cast').
-spec cast(pid(), term()) -> ok.
cast(C, Request) ->
    gen_server:cast(C, {cast, Request}).

%% @doc The pid of the server process on the C node, from its hello.
-spec server_pid(pid()) -> pid().
server_pid(C) ->
    gen_server:call(C, server_pid).

%% @doc Closes the connection (the server sees the socket close).
-spec stop(pid()) -> ok.
stop(C) ->
    gen_server:stop(C).

%%% gen_server

-spec init({pid(), term(), inet:port_number(), opts()}) ->
          {ok, #state{}} | {stop, term()}.
init({Owner, Host, Port, Opts}) ->
    Timeout = maps:get(connect_timeout, Opts, ?DEFAULT_TIMEOUT),
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    case connect(Host, Port, Opts, Timeout) of
        {ok, Mod, Sock} ->
            case hello(Mod, Sock, Deadline) of
                {ok, Server} ->
                    ok = setopts(Mod, Sock, [{active, once}]),
                    {ok, #state{owner = Owner, mod = Mod, sock = Sock, server = Server}};
                {error, Reason} ->
                    _ = Mod:close(Sock),
                    {stop, Reason}
            end;
        {error, Reason} ->
            {stop, Reason}
    end.

-spec handle_call(term(), gen_server:from(), #state{}) ->
          {noreply, #state{}} | {reply, term(), #state{}} | {stop, term(), #state{}}.
handle_call({call, Request}, From, #state{next_tag = Tag, pending = P} = S) ->
    case send(S, {call, Tag, Request}) of
        ok ->
            {noreply, S#state{next_tag = Tag + 1, pending = P#{Tag => From}}};
        {error, Reason} ->
            server_ended(Reason, S)
    end;
handle_call(server_pid, _From, #state{server = Server} = S) ->
    {reply, Server, S};
handle_call(_Other, _From, S) ->
    {reply, {error, badcall}, S}.

-spec handle_cast(term(), #state{}) -> {noreply, #state{}} | {stop, term(), #state{}}.
handle_cast({cast, Request}, S) ->
    case send(S, {cast, Request}) of
        ok -> {noreply, S};
        {error, Reason} -> server_ended(Reason, S)
    end;
handle_cast(_Other, S) ->
    {noreply, S}.

-spec handle_info(term(), #state{}) -> {noreply, #state{}} | {stop, term(), #state{}}.
handle_info({Tag, Sock, Data}, #state{sock = Sock} = S) when Tag =:= tcp; Tag =:= ssl ->
    case decode(Data) of
        {ok, Term} -> frame(Term, S);
        {error, Detail} -> {stop, {bad_frame, Detail}, S}
    end;
handle_info({Tag, Sock}, #state{sock = Sock} = S) when Tag =:= tcp_closed; Tag =:= ssl_closed ->
    server_ended(closed, S);
handle_info({Tag, Sock, Reason}, #state{sock = Sock} = S)
  when Tag =:= tcp_error; Tag =:= ssl_error ->
    server_ended({socket_error, Reason}, S);
handle_info(_Other, S) ->
    {noreply, S}.

-spec terminate(term(), #state{}) -> ok.
terminate(_Reason, #state{mod = Mod, sock = Sock}) ->
    _ = Mod:close(Sock),
    ok.

%%% internals

connect(Host, Port, Opts, Timeout) ->
    Common = [binary, {packet, 4}, {active, false}, {nodelay, true}],
    case maps:get(transport, Opts, tcp) of
        tcp ->
            tagged(gen_tcp, gen_tcp:connect(Host, Port, Common, Timeout));
        tls ->
            TlsOpts = maps:get(tls, Opts, []),
            tagged(ssl, ssl:connect(Host, Port, Common ++ TlsOpts, Timeout));
        Other ->
            {error, {badopt, {transport, Other}}}
    end.

tagged(Mod, {ok, Sock}) -> {ok, Mod, Sock};
tagged(_Mod, {error, _} = Error) -> Error.

hello(Mod, Sock, Deadline) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    case Mod:recv(Sock, 0, Left) of
        {ok, Data} ->
            case decode_hello(Data) of
                {ok, {otpc_hello, 1, Server}} when is_pid(Server) -> {ok, Server};
                {ok, {exit, Reason}} -> {error, {server_exit, Reason}};
                {ok, Other} -> {error, {bad_hello, Other}};
                {error, Detail} -> {error, {bad_frame, Detail}}
            end;
        {error, closed} ->
            {error, closed};
        {error, Reason} ->
            {error, Reason}
    end.

%% The hello carries a pid of the C node, whose name a client that is not
%% connected to that node by distribution has never seen: [safe] refuses it. The
%% name (only a name@host from a hello) is made an atom then, as connecting to
%% the node would, and the frame decoded again, still with [safe].
decode_hello(Data) ->
    case decode(Data) of
        {error, _} = Error -> decode_hello(Data, Error);
        Ok -> Ok
    end.

decode_hello(<<131, 104, 3, 119, 10, "otpc_hello", 97, 1, PidTag, Rest/binary>> = Data, Error)
  when PidTag =:= 88; PidTag =:= 103 ->
    case node_name(Rest) of
        {ok, Name} ->
            _ = binary_to_atom(Name, utf8),
            decode(Data);
        error ->
            Error
    end;
decode_hello(_Data, Error) ->
    Error.

node_name(<<119, Len, Name:Len/binary, _/binary>>) -> name_at_host(Name);
node_name(<<118, Len:16, Name:Len/binary, _/binary>>) -> name_at_host(Name);
node_name(_) -> error.

name_at_host(Name) when byte_size(Name) < 256 ->
    case binary:split(Name, <<"@">>) of
        [<<_, _/binary>>, <<_, _/binary>>] -> {ok, Name};
        _ -> error
    end;
name_at_host(_) ->
    error.

decode(Data) ->
    try
        {ok, binary_to_term(Data, [safe])}
    catch
        error:badarg -> {error, {undecodable, byte_size(Data)}}
    end.

frame({reply, Tag, Reply}, #state{pending = P} = S) ->
    case maps:take(Tag, P) of
        {From, P1} ->
            gen_server:reply(From, Reply),
            next(S#state{pending = P1});
        error ->
            next(S) % the caller gave up; nobody waits for it
    end;
frame({push, Term}, #state{owner = Owner} = S) ->
    Owner ! {otpc_push, self(), Term},
    next(S);
frame({exit, Reason}, S) ->
    server_ended(Reason, S);
frame(Other, S) ->
    {stop, {bad_frame, {unexpected, Other}}, S}.

%% The server ended (or the socket did): the owner is told, and the client ends
%% quietly if the server did (see the module doc).
server_ended(Reason, #state{owner = Owner} = S) ->
    Owner ! {otpc_exit, self(), Reason},
    case Reason of
        normal -> {stop, normal, S};
        shutdown -> {stop, normal, S};
        {shutdown, _} -> {stop, normal, S};
        _ -> {stop, {server_exit, Reason}, S}
    end.

next(#state{mod = Mod, sock = Sock} = S) ->
    %% On a socket closed meanwhile this fails, and tcp_closed / ssl_closed follows.
    _ = setopts(Mod, Sock, [{active, once}]),
    {noreply, S}.

setopts(gen_tcp, Sock, Opts) -> inet:setopts(Sock, Opts);
setopts(ssl, Sock, Opts) -> ssl:setopts(Sock, Opts).

send(#state{mod = Mod, sock = Sock}, Term) ->
    Mod:send(Sock, term_to_binary(Term)).
