%% @doc One running otpc C node, owned through a port.
%%
%% Each server spawns `priv/otpc_node' as a port program and is the only
%% thing that talks to it. Roles and invariants:
%%
%% <ul>
%% <li>The node always runs with `-watch_stdin', so closing the port (or this
%%   server or the whole VM dying) gives it stdin EOF and it stops by itself.
%%   No orphan C node survives its server.</li>
%% <li>The cookie reaches the node in the environment (`OTPC_COOKIE'), never
%%   in argv, where any local user could read it from `/proc'.</li>
%% <li>Every line the node writes is forwarded to `logger' at the level the
%%   line names; the last few are kept to explain a failed start.</li>
%% <li>The owner (the process that called `otpc:start_node/1') is monitored:
%%   when it dies the node is stopped. When the node dies on its own, the
%%   owner gets `{otpc_node_down, Node, Reason}' and this server stops.</li>
%% <li>The registry row of a node is removed before anyone is told that the
%%   node is gone, so a new start with the same name never races with it.</li>
%% </ul>
%%
%% Starting is asynchronous: `init/1' opens the port and returns at once,
%% and `await_ready/1' waits for the node's `notice node: ready' line (or
%% its failure, or the start timeout), so a slow node never blocks the
%% supervisor.
-module(otpc_node).
-behaviour(gen_server).

-include_lib("kernel/include/logger.hrl").

-export([start_link/2, await_ready/1, stop/1]).
-export([init_registry/0, lookup/1, running/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).
-export_type([config/0]).

-type config() :: #{node := node(),
                    name_args := [string()],
                    cookie := atom(),
                    args := [string()],
                    timeout := pos_integer(),
                    executable := file:filename()}.
%% What `otpc' hands over once it has checked the user's options.
%% `name_args' is `["-sname", Name]' or `["-name", Name ++ "@" ++ Host]'.

-define(REGISTRY, otpc_registry).
%% Registry rows: {Node, ServerPid, OsPid | undefined, Ready :: boolean()}.

-define(LINE_MAX, 16384).     % the port's line buffer
-define(LOG_LINE_MAX, 65536). % longer reassembled lines are cut
-define(RECENT_MAX, 10).      % lines kept for a failed start's report
-define(RECENT_LINE_MAX, 1024).
-define(STOP_GRACE, 5000).    % ms from stdin EOF to SIGKILL
-define(KILL_WAIT, 5000).     % ms to wait for the process after SIGKILL
-define(POLL_INTERVAL, 20).

-record(state, {
    node :: node(),
    owner :: pid(),
    owner_mon :: reference(),
    port :: port() | undefined,          % undefined once closed or exited
    exit_status :: non_neg_integer() | undefined,
    os_pid :: non_neg_integer() | undefined,
    phase = starting :: starting | ready | {failed, term()},
    waiter :: gen_server:from() | undefined,
    timer :: reference() | undefined,
    partial = [] :: [binary()],          % noeol chunks, newest first
    partial_size = 0 :: non_neg_integer(),
    recent = [] :: [binary()]            % newest first
}).
-type state() :: #state{}.

%% ---------------------------------------------------------------------
%% API

%% @doc Starts a server that spawns the node described by `Config' and is
%% owned by `Owner'. Returns once the OS process is spawned, not when the
%% node is ready: call `await_ready/1' next. A name already held by a
%% running server fails with `{error, {shutdown, {already_started, Node}}}';
%% an executable that cannot be spawned with
%% `{error, {shutdown, {open_port, Reason, Executable}}}'. (The `shutdown'
%% wrapper keeps these expected failures out of the crash reports.)
-spec start_link(pid(), config()) -> {ok, pid()} | {error, term()}.
start_link(Owner, Config) ->
    gen_server:start_link(?MODULE, {Owner, Config}, []).

%% @doc Waits until the node is ready and returns its name, or returns why
%% it never got there: `{exit_status, Status, LastLines}' if it exited,
%% `{timeout, LastLines}' if the start timeout passed (the node is then
%% stopped), `{node_mismatch, Expected, Reported}' if it came up under
%% another name, `stopped' if `stop/1' came first. A failed server stops.
-spec await_ready(pid()) -> {ok, node()} | {error, term()}.
await_ready(Server) ->
    %% The server's own start timer guarantees an answer, so no timeout
    %% here; the call's monitor covers the server crashing.
    try
        gen_server:call(Server, await_ready, infinity)
    catch
        exit:{Reason, {gen_server, call, _}} -> {error, {server_down, Reason}}
    end.

%% @doc Stops the node: closes its stdin, waits up to 5 s for the OS process
%% to go, then SIGKILLs it. Returns once the OS process is gone.
-spec stop(pid()) -> ok | {error, not_found}.
stop(Server) ->
    try
        gen_server:call(Server, stop, infinity)
    catch
        %% The server was already stopping for another reason (owner death,
        %% node exit); it only exits once the OS process is gone.
        exit:{noproc, _} -> {error, not_found};
        exit:{normal, _} -> ok;
        exit:{shutdown, _} -> ok;
        exit:{{shutdown, _}, _} -> ok
    end.

%% @doc Creates the registry. Called by `otpc_node_sup', which owns it.
-spec init_registry() -> ok.
init_registry() ->
    ?REGISTRY = ets:new(?REGISTRY, [named_table, public, set,
                                    {read_concurrency, true}]),
    ok.

%% @doc The server and OS pid of a node started by this application.
-spec lookup(node()) -> {ok, pid(), non_neg_integer() | undefined} | error.
lookup(Node) ->
    try ets:lookup(?REGISTRY, Node) of
        [{Node, Pid, OsPid, _Ready}] -> {ok, Pid, OsPid};
        [] -> error
    catch
        error:badarg -> error           % application not started
    end.

%% @doc The nodes started by this application that have reported ready and
%% not stopped.
-spec running() -> [node()].
running() ->
    try
        ets:select(?REGISTRY, [{{'$1', '_', '_', true}, [], ['$1']}])
    catch
        error:badarg -> []
    end.

%% ---------------------------------------------------------------------
%% gen_server callbacks

-spec init({pid(), config()}) -> {ok, state()} | {stop, term()}.
init({Owner, #{node := Node} = Config}) ->
    %% Trap exits so that a supervisor shutdown runs terminate/2, which
    %% stops the OS process before this server goes.
    process_flag(trap_exit, true),
    case register_node(Node) of
        ok ->
            open(Owner, Config);
        {error, already_started} ->
            {stop, {shutdown, {already_started, Node}}}
    end.

-spec handle_call(term(), gen_server:from(), state()) ->
          {reply, term(), state()} | {noreply, state()} |
          {stop, normal, term(), state()}.
handle_call(await_ready, _From, #state{phase = ready, node = Node} = S) ->
    {reply, {ok, Node}, S};
handle_call(await_ready, _From, #state{phase = {failed, Reason}} = S) ->
    {stop, normal, {error, Reason}, S};
handle_call(await_ready, From, #state{phase = starting} = S) ->
    {noreply, S#state{waiter = From}};
handle_call(stop, _From, S) ->
    {stop, normal, ok, shutdown_os(S)};
handle_call(_Request, _From, S) ->
    {reply, {error, badcall}, S}.

-spec handle_cast(term(), state()) -> {noreply, state()}.
handle_cast(_Msg, S) ->
    {noreply, S}.

-spec handle_info(term(), state()) ->
          {noreply, state()} | {stop, normal, state()}.
handle_info({Port, {data, Data}}, #state{port = Port} = S) ->
    {Lines, S1} = data(Data, S),
    lines(Lines, S1);
handle_info({Port, {exit_status, Status}}, #state{port = Port} = S) ->
    %% The OS process is gone, but a last line without a newline is
    %% delivered after the exit status: wait for the port's 'EXIT'.
    {noreply, S#state{exit_status = Status}};
handle_info({'EXIT', Port, Reason}, #state{port = Port} = S) ->
    case S#state.exit_status of
        undefined ->
            %% The port died without an exit status (an ERTS-level
            %% failure): make sure the OS process is gone.
            exited({port_exit, Reason}, flush_partial(shutdown_os(S)));
        Status ->
            exited({exit_status, Status},
                   flush_partial(S#state{port = undefined}))
    end;
handle_info(ready_timeout, #state{phase = starting} = S) ->
    S1 = shutdown_os(S),
    fail({timeout, recent_lines(S1)}, S1);
handle_info({'DOWN', Ref, process, _, _}, #state{owner_mon = Ref} = S) ->
    {stop, normal, shutdown_os(S)};
handle_info(_Msg, S) ->
    %% Stale timers, the port's 'EXIT' after its exit status, and output
    %% of a port we already closed.
    {noreply, S}.

-spec terminate(term(), state()) -> ok.
terminate(_Reason, #state{node = Node, waiter = Waiter} = S) ->
    _ = shutdown_os(S),
    unregister_node(Node),
    case Waiter of
        undefined -> ok;
        From -> gen_server:reply(From, {error, stopped})
    end.

%% ---------------------------------------------------------------------
%% Starting

open(Owner, #{node := Node, name_args := NameArgs, cookie := Cookie,
              args := Args, timeout := Timeout, executable := Exe}) ->
    PortOpts = [{args, NameArgs ++ ["-watch_stdin" | Args]},
                {env, [{"OTPC_COOKIE", atom_to_list(Cookie)}]},
                {line, ?LINE_MAX},
                stderr_to_stdout, exit_status, binary, use_stdio],
    try open_port({spawn_executable, Exe}, PortOpts) of
        Port ->
            OsPid = case erlang:port_info(Port, os_pid) of
                        {os_pid, P} -> P;
                        undefined -> undefined
                    end,
            true = ets:update_element(?REGISTRY, Node, {3, OsPid}),
            {ok, #state{node = Node,
                        owner = Owner,
                        owner_mon = monitor(process, Owner),
                        port = Port,
                        os_pid = OsPid,
                        timer = erlang:send_after(Timeout, self(),
                                                  ready_timeout)}}
    catch
        error:Reason ->
            %% enoent, eacces, ... from spawning the executable.
            unregister_node(Node),
            {stop, {shutdown, {open_port, Reason, Exe}}}
    end.

%% Claims Node in the registry. A row left by a server that was killed
%% without running terminate/2 is taken over.
register_node(Node) ->
    case ets:insert_new(?REGISTRY, {Node, self(), undefined, false}) of
        true ->
            ok;
        false ->
            case ets:lookup(?REGISTRY, Node) of
                [{Node, Pid, _, _} = Row] when Pid =/= self() ->
                    case is_process_alive(Pid) of
                        true ->
                            {error, already_started};
                        false ->
                            true = ets:delete_object(?REGISTRY, Row),
                            register_node(Node)
                    end;
                [] ->
                    register_node(Node)
            end
    end.

%% Removes our own row only: the name may already belong to a new server.
unregister_node(Node) ->
    try ets:match_delete(?REGISTRY, {Node, self(), '_', '_'}) of
        true -> ok
    catch
        error:badarg -> ok              % the table went with its owner
    end.

ready(#state{node = Node, waiter = Waiter, timer = Timer} = S) ->
    _ = erlang:cancel_timer(Timer),
    true = ets:update_element(?REGISTRY, Node, {4, true}),
    case Waiter of
        undefined -> ok;
        From -> gen_server:reply(From, {ok, Node})
    end,
    {noreply, S#state{phase = ready, waiter = undefined, timer = undefined}}.

%% A start that failed: answer the waiter and stop, or, if await_ready/1
%% has not been called yet, keep the answer for it.
fail(Reason, #state{node = Node, waiter = Waiter} = S) ->
    unregister_node(Node),
    case Waiter of
        undefined ->
            {noreply, S#state{phase = {failed, Reason}}};
        From ->
            gen_server:reply(From, {error, Reason}),
            {stop, normal, S#state{waiter = undefined}}
    end.

%% The OS process is gone (port = undefined by now) without stop/1.
exited({exit_status, Status}, #state{phase = starting} = S) ->
    fail({exit_status, Status, recent_lines(S)}, S);
exited(Reason, #state{phase = starting} = S) ->
    fail(Reason, S);
exited(_Reason, #state{phase = {failed, _}} = S) ->
    %% Already failed (e.g. a name mismatch); nothing more to report.
    {noreply, S};
exited(Reason, #state{phase = ready, node = Node, owner = Owner} = S) ->
    unregister_node(Node),
    ?LOG_ERROR("~ts: node process died: ~0p; last lines: ~0p",
               [Node, Reason, recent_lines(S)],
               #{otpc_node => Node, domain => [otpc]}),
    Owner ! {otpc_node_down, Node, Reason},
    {stop, normal, S}.

%% ---------------------------------------------------------------------
%% Output of the node

%% Takes one piece of port output and returns the lines it completes (none
%% or one). A line longer than the port's buffer arrives in pieces; up to
%% ?LOG_LINE_MAX bytes of it are kept and the rest is dropped.
data({noeol, Chunk}, #state{partial = Partial, partial_size = Size} = S) ->
    case Size >= ?LOG_LINE_MAX of
        true -> {[], S};
        false -> {[], S#state{partial = [Chunk | Partial],
                              partial_size = Size + byte_size(Chunk)}}
    end;
data({eol, Chunk}, #state{partial = Partial, partial_size = Size} = S) ->
    Line = case Size >= ?LOG_LINE_MAX of
               true -> [lists:reverse(Partial), <<" [truncated]">>];
               false -> lists:reverse(Partial, [Chunk])
           end,
    {[to_utf8(iolist_to_binary(Line))],
     S#state{partial = [], partial_size = 0}}.

%% Logs the lines; the first ready line of a starting node makes it ready.
lines([], S) ->
    {noreply, S};
lines([Line | Rest], S) ->
    {Level, Text} = parse_line(Line),
    S1 = log_line(Line, S),
    case {S1#state.phase, Level, Text} of
        {starting, notice, <<"node: ready ", Reported/binary>>} ->
            case ready_line(string:trim(Reported), S1) of
                {noreply, S2} -> lines(Rest, S2);
                Stop -> Stop
            end;
        _ ->
            lines(Rest, S1)
    end.

log_line(Line, #state{node = Node, recent = Recent} = S) ->
    {Level, Text} = parse_line(Line),
    logger:log(Level, "~ts: ~ts", [Node, Text],
               #{otpc_node => Node, domain => [otpc]}),
    S#state{recent = lists:sublist([shorten(Line) | Recent], ?RECENT_MAX)}.

flush_partial(#state{partial = []} = S) ->
    S;
flush_partial(S) ->
    {Lines, S1} = data({eol, <<>>}, S),
    lists:foldl(fun log_line/2, S1, Lines).

ready_line(Reported, #state{node = Node} = S) ->
    case atom_to_binary(Node, utf8) of
        Reported ->
            ready(S);
        _ ->
            %% The node's idea of its host differs from ours: pinging the
            %% name we computed would fail, so say so plainly.
            S1 = shutdown_os(S),
            fail({node_mismatch, Node, Reported}, S1)
    end.

%% "<level> <module>: <text>" -> {Level, "<module>: <text>"}; anything else
%% (a sanitizer report, say) is logged whole at info.
-spec parse_line(binary()) -> {logger:level(), binary()}.
parse_line(Line) ->
    case binary:split(Line, <<" ">>) of
        [LevelName, Text] ->
            case level(LevelName) of
                undefined -> {info, Line};
                Level -> {Level, Text}
            end;
        [_] ->
            {info, Line}
    end.

level(<<"debug">>) -> debug;
level(<<"info">>) -> info;
level(<<"notice">>) -> notice;
level(<<"warning">>) -> warning;
level(<<"error">>) -> error;
level(_) -> undefined.

%% The node writes UTF-8; anything that is not is shown as Latin-1 rather
%% than making logger print a format error.
to_utf8(Bin) ->
    case unicode:characters_to_binary(Bin) of
        Utf8 when is_binary(Utf8) -> Utf8;
        _ -> unicode:characters_to_binary(Bin, latin1)
    end.

shorten(<<Head:?RECENT_LINE_MAX/binary, _/binary>>) -> Head;
shorten(Line) -> Line.

recent_lines(#state{recent = Recent}) ->
    lists:reverse(Recent).

%% ---------------------------------------------------------------------
%% Stopping the OS process

%% Closes the node's stdin, which makes it stop, and waits for the OS
%% process to go; SIGKILL after ?STOP_GRACE. A closed port sends no exit
%% status, so the process is watched through /proc instead.
shutdown_os(#state{port = undefined} = S) ->
    S;
shutdown_os(#state{port = Port, os_pid = OsPid, node = Node} = S) ->
    %% Lines already received still go to logger.
    S1 = drain(S),
    try
        erlang:port_close(Port)
    catch
        error:badarg -> ok              % it closed itself meanwhile
    end,
    case wait_gone(OsPid, ?STOP_GRACE) of
        true ->
            ok;
        false ->
            ?LOG_WARNING("~ts: no exit ~b ms after stdin EOF, killing OS "
                         "pid ~b", [Node, ?STOP_GRACE, OsPid],
                         #{otpc_node => Node, domain => [otpc]}),
            _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
            case wait_gone(OsPid, ?KILL_WAIT) of
                true ->
                    ok;
                false ->
                    ?LOG_ERROR("~ts: OS pid ~b still there after SIGKILL",
                               [Node, OsPid],
                               #{otpc_node => Node, domain => [otpc]})
            end
    end,
    S1#state{port = undefined}.

%% Only logs: a ready line seen while stopping changes nothing.
drain(#state{port = Port} = S) ->
    receive
        {Port, {data, Data}} ->
            {Lines, S1} = data(Data, S),
            drain(lists:foldl(fun log_line/2, S1, Lines))
    after 0 ->
        S
    end.

wait_gone(OsPid, Timeout) ->
    wait_gone(OsPid, erlang:monotonic_time(millisecond) + Timeout, gone(OsPid)).

wait_gone(_OsPid, _Deadline, true) ->
    true;
wait_gone(OsPid, Deadline, false) ->
    case erlang:monotonic_time(millisecond) >= Deadline of
        true ->
            false;
        false ->
            timer:sleep(?POLL_INTERVAL),
            wait_gone(OsPid, Deadline, gone(OsPid))
    end.

%% A zombie counts as gone: it has exited, and ERTS's child reaper
%% collects it.
gone(undefined) ->
    true;
gone(OsPid) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/stat") of
        {ok, Stat} ->
            %% "pid (comm) S ...": the command may hold spaces and
            %% parentheses, the state follows the last ") ".
            case binary:matches(Stat, <<") ">>) of
                [] ->
                    false;
                Matches ->
                    {Pos, Len} = lists:last(Matches),
                    binary:at(Stat, Pos + Len) =:= $Z
            end;
        {error, _} ->
            true
    end.
