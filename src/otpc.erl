%% @doc Public API of otpc: start, stop and find otpc C nodes.
%%
%% A node started here is a `priv/otpc_node' OS process run as a port by an
%% `otpc_node' server. The process that calls `start_node/1' owns the node:
%% the node is stopped when the owner dies, and the owner receives
%% `{otpc_node_down, Node, {exit_status, Status}}' if the node dies on its
%% own (or, should ERTS lose the port without an exit status,
%% `{otpc_node_down, Node, {port_exit, Reason}}'). To put a node in a
%% supervision tree of your own instead, use `child_spec/1' (or
%% `start_link_node/1'): the node's server is then the supervisor's child.
%% Every line the node logs goes to `logger' with the metadata
%% `#{otpc_node => Node, domain => [otpc]}'.
-module(otpc).

-export([start_node/1, stop_node/1, node_os_pid/1, nodes/0]).
-export([start_link_node/1, child_spec/1]).
-export([start/4, start_link/4]).
-export([start_daemon/4, daemon_port/1, daemon_info/1, stop_daemon/1, stop_daemon/2]).
-export([load_module/2, purge_module/2, soft_purge_module/2, which_modules/1]).
-export([reload_tls/1]).
-export_type([start_opts/0, server_opts/0, start_ret/0, daemon_opts/0]).

-compile({no_auto_import, [nodes/0]}).

-type start_opts() :: #{name := atom(),
                        cookie => atom(),
                        args => [string()],
                        load => [file:filename_all()],
                        env => [{string(), string()}],
                        timeout => pos_integer(),
                        executable => file:filename()}.
%% `name': the node's short name (no `@'); the host is the calling node's.
%% `cookie': defaults to `erlang:get_cookie()'.
%% `args': extra flags for the node program, e.g. `["-probe"]'.
%% `load': plug-ins (shared objects) the node loads before it starts anything;
%% one that cannot be loaded keeps the node from starting (see `load_module/2').
%% `env': extra environment variables for the node program (say
%% `ASAN_OPTIONS' for a sanitizer build).
%% `timeout': ms to wait for the node to report ready (default 10000).
%% `executable': the node program; default: the application environment key
%% `executable', else $OTPC_NODE_EXECUTABLE (e.g. a sanitizer build), else
%% `priv/otpc_node'.

-type server_opts() :: [{name, atom() | {global, term()}} | {timeout, timeout()}].
%% `name': register the server under this local name on its node (reached from
%% Erlang as `{Name, Node}'), or `{global, Name}': register it with `global' (the
%% node must be started `-visible'; reached as `{global, Name}', answered
%% `{error, {already_started, Pid}}' when the name is taken). `timeout': how long to wait for the node to answer
%% (default 5000 ms).

-type start_ret() :: {ok, pid()} | ignore | {error, {already_started, pid()}}
                   | {error, term()}.

-define(STARTER, otpc_starter).
-define(PING_WINDOW, 2000).   % ms to get a pong once the node is ready
-define(PING_INTERVAL, 100).

%% @doc Starts a node and returns its name once it answers a ping.
%%
%% Errors: `not_alive' if this node is not distributed;
%% `{badopt, Key}' / `{badopt, {Key, Value}}' for an unknown or bad option;
%% `{already_started, Node}' if this application already runs that name;
%% `{open_port, Posix, Executable}' if the node program cannot be spawned;
%% `{exit_status, Status, LastLines}' if the node exited before it was
%% ready (a name taken in epmd, say); `{timeout, LastLines}' if it was not
%% ready in time; `{no_pong, Node}' if it reported ready but did not answer
%% a ping (the node is stopped then).
-spec start_node(start_opts()) -> {ok, node()} | {error, term()}.
start_node(Opts) ->
    Start = fun(Config) -> otpc_node_sup:start_child(self(), Config) end,
    case start(Opts, Start) of
        {ok, _Server, Node} -> {ok, Node};
        {error, _} = Error -> Error
    end.

%% @doc Starts a node, as `start_node/1' does, and returns the pid of the
%% server that owns it, linked to the caller: for a supervisor (see
%% `child_spec/1'). Returns once the node answers a ping, with the errors
%% of `start_node/1'. A start that fails stops its server with reason
%% `normal', so a caller that does not trap exits is not taken down.
%%
%% Once started, the server and the node live and die together. When the
%% caller exits (a supervisor's `shutdown', say), the server stops the node
%% as `stop_node/1' does and exits with the same reason. When the node dies
%% on its own, the server exits with `{otpc_node_down, Node, Reason}' (no
%% message is sent), which a supervisor restarts as it sees fit: a restart
%% is a fresh OS process under the same name. `stop_node/1' stops the
%% server with reason `normal', which a `permanent' child is restarted
%% after; use `supervisor:terminate_child/2' to stop a supervised node.
-spec start_link_node(start_opts()) -> {ok, pid()} | {error, term()}.
start_link_node(Opts) ->
    case start(Opts, fun otpc_node:start_link/1) of
        {ok, Server, _Node} -> {ok, Server};
        {error, _} = Error -> Error
    end.

%% @doc A child specification for a node under a supervisor of the
%% caller's: started by `start_link_node(Opts)', `permanent', with id
%% `{otpc_node, Name}' and a `shutdown' long enough for the node's graceful
%% stop and the SIGKILL after it (15 s). Change any of these in the map as
%% usual. Fails with `{badopt, _}' for the options `start_node/1' refuses.
-spec child_spec(start_opts()) -> supervisor:child_spec().
child_spec(Opts) ->
    case otpc_node_opts:validate(Opts) of
        ok ->
            #{id => {otpc_node, maps:get(name, Opts)},
              start => {?MODULE, start_link_node, [Opts]},
              restart => permanent,
              shutdown => otpc_node:shutdown_timeout(),
              type => worker,
              modules => [otpc_node]};
        {error, Reason} ->
            erlang:error(Reason, [Opts])
    end.

%% @doc Stops a node started by `start_node/1' or `start_link_node/1': its
%% stdin is closed, which makes it stop; after 5 s it is killed. Returns
%% once the OS process is gone.
-spec stop_node(node()) -> ok | {error, not_found}.
stop_node(Node) ->
    case otpc_node_registry:lookup(Node) of
        {ok, Server, _OsPid} -> otpc_node:stop(Server);
        error -> {error, not_found}
    end.

%% @doc The OS pid of a node started by this application.
-spec node_os_pid(node()) -> {ok, non_neg_integer()} | {error, not_found}.
node_os_pid(Node) ->
    case otpc_node_registry:lookup(Node) of
        {ok, _Server, OsPid} when is_integer(OsPid) -> {ok, OsPid};
        _ -> {error, not_found}
    end.

%% @doc Starts an instance of the C gen_server module `Module' compiled into the
%% otpc node `Node', like `gen_server:start/4': init runs with `Arg' before this
%% returns. The results are gen_server's; `{error, {unknown_module, Module}}' if the
%% node has no such module, `{error, noproc}' if `Node' is not an otpc node and
%% `{error, {nodedown, Node}}' if it cannot be reached.
-spec start(node(), atom(), term(), server_opts()) -> start_ret().
start(Node, Module, Arg, Opts) ->
    do_start(Node, Module, Arg, Opts, false).

%% @doc Like `start/4', but the new server is linked to the caller before its init
%% runs, as `gen_server:start_link/4' does: if init stops with `Reason', the caller
%% gets `{error, Reason}' and the exit signal `Reason'.
-spec start_link(node(), atom(), term(), server_opts()) -> start_ret().
start_link(Node, Module, Arg, Opts) ->
    do_start(Node, Module, Arg, Opts, true).

do_start(Node, Module, Arg, Opts, Link) when is_atom(Node), is_atom(Module), is_list(Opts) ->
    case proplists:get_value(name, Opts, undefined) of
        {global, GName} ->
            Local = lists:keydelete(name, 1, Opts),
            case do_start(Node, Module, Arg, Local, Link) of
                {ok, Pid} -> register_global(GName, Pid, Link);
                Other -> Other
            end;
        _ ->
            do_start_local(Node, Module, Arg, Opts, Link)
    end.

%% global:register_name/2 from here: this node's global locks and registers the
%% name on every node it knows, the C node included (its global_name_server takes
%% part). A name taken already ends the new server, as gen_server:start/4 would not
%% have started it.
register_global(GName, Pid, Link) ->
    case global:register_name(GName, Pid) of
        yes ->
            {ok, Pid};
        no ->
            Link andalso unlink(Pid),
            exit(Pid, kill),
            {error, {already_started, global:whereis_name(GName)}}
    end.

do_start_local(Node, Module, Arg, Opts, Link) ->
    Name = proplists:get_value(name, Opts, undefined),
    Timeout = proplists:get_value(timeout, Opts, 5000),
    true = is_atom(Name),
    try
        gen_server:call({?STARTER, Node}, {start, Module, Arg, Name, Link}, Timeout)
    catch
        exit:{Reason, {gen_server, call, _}} -> {error, Reason}
    end.

%% @doc Loads a plug-in (a shared object built against `otpc.h' that lists its
%% modules with `OTPC_MODULES') into a running node, as `code:load_file/1' does:
%% its modules become current, new servers start on them, running servers keep
%% their code until `sys:change_code/4' (while suspended) moves them. The path is
%% the node's (the node program's working directory for a relative one).
%%
%% Errors: `enoent', `eacces', `not_a_file', `{dlopen, Text}' (not loadable,
%% an undefined symbol, ...), `not_a_plugin' (no `OTPC_MODULES'), `{abi, Found}'
%% (built with another `otpc.h'), `no_modules', `{duplicate, Module}',
%% `{builtin, Module}' (a module the node program has built in),
%% `{not_purged, Module}' (its old version still runs: purge it first).
-spec load_module(node(), file:filename_all()) -> {ok, [atom()]} | {error, term()}.
load_module(Node, Path) when is_atom(Node) ->
    starter_call(Node, {load_module, unicode:characters_to_binary(Path)}).

%% @doc `code:purge/1' on a C node: servers running the old version of `Module'
%% are killed, and the old version is unloaded. `true' if there was one.
-spec purge_module(node(), atom()) -> boolean() | {error, term()}.
purge_module(Node, Module) when is_atom(Node), is_atom(Module) ->
    starter_call(Node, {purge_module, Module}).

%% @doc `code:soft_purge/1' on a C node: the old version of `Module' is unloaded
%% unless a server still runs it (`false' then).
-spec soft_purge_module(node(), atom()) -> boolean() | {error, term()}.
soft_purge_module(Node, Module) when is_atom(Node), is_atom(Module) ->
    starter_call(Node, {soft_purge_module, Module}).

%% @doc The modules a node can start by name: built in or from plug-ins, each
%% with its version (`vsn', a binary or `undefined'), where it came from (`file':
%% the plug-in's path or `built_in') and its old version (`old': `none' if
%% there is none).
-spec which_modules(node()) -> [#{module := atom(), vsn := binary() | undefined,
                                   file := string() | built_in,
                                   old := none | binary() | undefined}]
                                 | {error, term()}.
which_modules(Node) when is_atom(Node) ->
    starter_call(Node, {which_modules}).

%% @doc Makes the C node read its TLS certificate, key and CA files again:
%% those of TLS distribution and of every TLS daemon (certificates rotated;
%% SIGHUP to the node program does the same). Connections made from then on
%% use them; those already up keep theirs. `{error, Reason}' names a file
%% that could not be used: its user keeps what it had, the others reload.
-spec reload_tls(node()) -> ok | {error, term()}.
reload_tls(Node) when is_atom(Node) ->
    starter_call(Node, {reload_tls}).

starter_call(Node, Req) ->
    try
        gen_server:call({?STARTER, Node}, Req, 10000)
    catch
        exit:{Reason, {gen_server, call, _}} -> {error, Reason}
    end.

%% @doc The nodes started by this application that are up.
-spec nodes() -> [node()].
nodes() ->
    otpc_node_registry:running().

%%% Daemons ------------------------------------------------------------

-type daemon_opts() :: #{port => inet:port_number(),
                         ip => inet:ip_address() | any | loopback,
                         transport => tcp | tls,
                         tls => [{certfile | keyfile | cacertfile, file:filename()}
                                 | {verify, verify_peer | verify_none}
                                 | {fail_if_no_peer_cert, boolean()}],
                         max_connections => pos_integer() | infinity,
                         max_frame => pos_integer(),
                         max_input => pos_integer(),
                         handshake_timeout => pos_integer(),
                         idle_timeout => pos_integer() | infinity,
                         grace => non_neg_integer(),
                         pg_group => term(),
                         pg_scope => atom(),
                         timeout => timeout()}.
%% `port' (0: any free port, see `daemon_port/1'); `ip' (default loopback; `any'
%% listens on every IPv4 interface, an IPv6 tuple such as `{0,0,0,0,0,0,0,0}' on
%% IPv6); `transport' (default `tcp'); `tls': the server's certificate and key
%% (required with `tls'), the CAs for client certificates, `{verify, verify_peer}'
%% to verify a client certificate and `{fail_if_no_peer_cert, true}' to require
%% one; `max_connections' (default `infinity': at the limit accepting pauses until a
%% server ends); `max_frame' in bytes (default 16 MiB; a larger frame ends its
%% connection with `{shutdown, {frame_too_large, Size}}'); `max_input' in bytes:
%% partial frames all connections may hold at once (default 64 MiB; the connection
%% whose frame would pass it ends with `{shutdown, input_budget}'); `handshake_timeout' ms
%% for TLS (default 5000); `idle_timeout' ms without a frame from the client
%% (default `infinity'); `grace' ms live connections get on stop (default 5000);
%% `timeout' ms to wait for the node to answer (default 5000).
%% `pg_group': each connection's server joins this `pg' group (in scope
%% `pg_scope', default `pg') for as long as it lives, so that
%% `[gen_server:cast(P, Msg) || P <- pg:get_members(Scope, Group)]' reaches every
%% connected client's server; the group's term_to_binary must fit in 1 KiB.

%% @doc Starts a daemon on `Node': a process listening on a TCP (or TLS) port
%% that starts one gen_server of the C module `Module' with `Arg' for every
%% connection it accepts. The caller owns it: it receives
%% `{otpc_spawned, Daemon, ServerPid, MRef, {PeerIp, PeerPort}}' for every
%% connection and `{'DOWN', MRef, process, ServerPid, Reason}' once when that
%% server ends; the daemon stops when the caller exits. The wire protocol is in
%% the README (and `otpc_client' speaks it).
%%
%% Errors: `{badopt, Key}', `{unknown_module, Module}', `{listen, Posix}' (e.g.
%% `eaddrinuse'), `{tls, Why}' (a certificate or key that does not load), plus
%% `noproc' and `{nodedown, Node}' as for `start/4'.
-spec start_daemon(node(), atom(), term(), daemon_opts()) -> {ok, pid()} | {error, term()}.
start_daemon(Node, Module, Arg, Opts) when is_atom(Node), is_atom(Module), is_map(Opts) ->
    case daemon_opts(maps:to_list(Opts), []) of
        {ok, List} ->
            Timeout = maps:get(timeout, Opts, 5000),
            try
                gen_server:call({?STARTER, Node}, {start_daemon, Module, Arg, List}, Timeout)
            catch
                exit:{Reason, {gen_server, call, _}} -> {error, Reason}
            end;
        {error, _} = Error ->
            Error
    end.

%% @doc The port a daemon listens on.
-spec daemon_port(pid()) -> {ok, inet:port_number()}.
daemon_port(Daemon) ->
    gen_server:call(Daemon, port).

%% @doc Counters and settings of a daemon: `accepted', `active', `refused'
%% (connections closed without a server: its init stopped or ignored),
%% `ended', `emfile' (accepts that failed for want of file descriptors),
%% `max_connections', `port', `transport' and `accepting' (false while paused
%% at `max_connections', backing off, or stopping).
-spec daemon_info(pid()) -> #{atom() => term()}.
daemon_info(Daemon) ->
    gen_server:call(Daemon, info).

%% @doc Stops a daemon: it closes its listener at once, lets live connections
%% run for its `grace' time, then shuts the rest down (their servers end with
%% `shutdown'). Returns once every server is down and its `DOWN' went to the
%% owner.
-spec stop_daemon(pid()) -> ok.
stop_daemon(Daemon) ->
    stop_daemon(Daemon, infinity).

%% @doc `stop_daemon/1' waiting at most `Timeout' ms.
-spec stop_daemon(pid(), timeout()) -> ok.
stop_daemon(Daemon, Timeout) ->
    gen_server:call(Daemon, stop, Timeout).

daemon_opts([], Acc) ->
    {ok, Acc};
daemon_opts([{timeout, T} | Rest], Acc) when T =:= infinity; is_integer(T), T >= 0 ->
    daemon_opts(Rest, Acc);
daemon_opts([{port, P} | Rest], Acc) when is_integer(P), P >= 0, P =< 65535 ->
    daemon_opts(Rest, [{port, P} | Acc]);
daemon_opts([{ip, any} | Rest], Acc) ->
    daemon_opts(Rest, [{ip, <<"0.0.0.0">>} | Acc]);
daemon_opts([{ip, loopback} | Rest], Acc) ->
    daemon_opts(Rest, [{ip, <<"127.0.0.1">>} | Acc]);
daemon_opts([{ip, Ip} = Opt | Rest], Acc) when is_tuple(Ip) ->
    case inet:ntoa(Ip) of
        {error, _} -> {error, {badopt, Opt}};
        Text -> daemon_opts(Rest, [{ip, list_to_binary(Text)} | Acc])
    end;
daemon_opts([{transport, tcp} | Rest], Acc) ->
    daemon_opts(Rest, Acc);
daemon_opts([{transport, tls} | Rest], Acc) ->
    daemon_opts(Rest, [{tls, true} | Acc]);
daemon_opts([{tls, L} = Opt | Rest], Acc) when is_list(L) ->
    case tls_opts(L, Acc) of
        {ok, Acc1} -> daemon_opts(Rest, Acc1);
        error -> {error, {badopt, Opt}}
    end;
daemon_opts([{Key, infinity} | Rest], Acc)
  when Key =:= max_connections; Key =:= idle_timeout ->
    daemon_opts(Rest, Acc);
daemon_opts([{max_input, N} | Rest], Acc)
  when is_integer(N), N > 0, N =< 16#ffffffffffff ->
    daemon_opts(Rest, [{max_input, N} | Acc]);
daemon_opts([{Key, N} | Rest], Acc)
  when (Key =:= max_connections orelse Key =:= max_frame orelse Key =:= handshake_timeout
        orelse Key =:= idle_timeout), is_integer(N), N > 0, N =< 16#ffffffff ->
    daemon_opts(Rest, [{Key, N} | Acc]);
daemon_opts([{grace, 0} | Rest], Acc) ->
    daemon_opts(Rest, [{grace, -1} | Acc]);
daemon_opts([{grace, N} | Rest], Acc) when is_integer(N), N > 0, N =< 16#7fffffff ->
    daemon_opts(Rest, [{grace, N} | Acc]);
daemon_opts([{pg_group, G} = Opt | Rest], Acc) ->
    case term_to_binary(G, [{minor_version, 2}]) of
        Bin when byte_size(Bin) =< 1024 -> daemon_opts(Rest, [{pg_group, Bin} | Acc]);
        _ -> {error, {badopt, Opt}}
    end;
daemon_opts([{pg_scope, S} | Rest], Acc) when is_atom(S), S =/= '' ->
    daemon_opts(Rest, [{pg_scope, S} | Acc]);
daemon_opts([Opt | _], _Acc) ->
    {error, {badopt, Opt}}.

tls_opts([], Acc) ->
    {ok, Acc};
tls_opts([{Key, File} | Rest], Acc)
  when Key =:= certfile; Key =:= keyfile; Key =:= cacertfile ->
    try unicode:characters_to_binary(File) of
        Bin when is_binary(Bin), byte_size(Bin) < 1024 -> tls_opts(Rest, [{Key, Bin} | Acc]);
        _ -> error
    catch
        error:_ -> error
    end;
tls_opts([{verify, verify_peer} | Rest], Acc) ->
    tls_opts(Rest, [{verify_peer, true} | Acc]);
tls_opts([{verify, verify_none} | Rest], Acc) ->
    tls_opts(Rest, Acc);
tls_opts([{fail_if_no_peer_cert, B} | Rest], Acc) when is_boolean(B) ->
    tls_opts(Rest, [{fail_if_no_peer_cert, B} | Acc]);
tls_opts(_, _Acc) ->
    error.

%% ---------------------------------------------------------------------

%% Checks the options, starts the application (the registry lives in it)
%% and the node's server with Start, and waits for the node to answer a
%% ping.
start(Opts, _Start) when not is_map(Opts) ->
    {error, {badopt, Opts}};
start(Opts, Start) ->
    case is_alive() of
        false ->
            {error, not_alive};
        true ->
            case otpc_node_opts:validate(Opts) of
                ok -> start_checked(Opts, Start);
                {error, _} = Error -> Error
            end
    end.

%% The default executable is resolved once the application is loaded.
start_checked(Opts, Start) ->
    case application:ensure_all_started(otpc) of
        {ok, _} ->
            {ok, Config} = otpc_node_opts:config(Opts, otpc_node_opts:context()),
            case Start(Config) of
                {ok, Server} -> confirm(Server, Config);
                {error, _} = Error -> Error
            end;
        {error, Reason} ->
            {error, {otpc_not_started, Reason}}
    end.

%% The ready line says the node is registered and accepting; a ping proves
%% that this node can reach it under that name with that cookie.
confirm(Server, #{node := Node, cookie := Cookie}) ->
    case otpc_node:await_ready(Server) of
        {ok, Node} ->
            %% For a cookie other than ours, the connection needs to know it.
            true = erlang:set_cookie(Node, Cookie),
            Deadline = erlang:monotonic_time(millisecond) + ?PING_WINDOW,
            case ping(Node, Deadline) of
                pong ->
                    {ok, Server, Node};
                pang ->
                    _ = otpc_node:stop(Server),
                    {error, {no_pong, Node}}
            end;
        {error, _} = Error ->
            Error
    end.

ping(Node, Deadline) ->
    case net_adm:ping(Node) of
        pong ->
            pong;
        pang ->
            case erlang:monotonic_time(millisecond) >= Deadline of
                true ->
                    pang;
                false ->
                    timer:sleep(?PING_INTERVAL),
                    ping(Node, Deadline)
            end
    end.
