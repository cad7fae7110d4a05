%% @doc One running otpc C node, owned through a port.
%%
%% Each server spawns the node program as a port program, is the only thing
%% that talks to it, and runs its start as a state machine: `starting' until
%% the node's `notice node: ready <name>' line, then `ready'; or
%% `{failed, Reason}' if it exited, reported another name or missed the
%% start timeout. The other jobs are delegated: `otpc_node_opts' builds the
%% argv and environment, `otpc_node_log' turns the output into `logger'
%% events, `otpc_node_os' makes sure the OS process is gone, and
%% `otpc_node_registry' maps the name to this server. Invariants:
%%
%% <ul>
%% <li>The node always runs with `-watch_stdin', so closing the port (or this
%%   server or the whole VM dying) gives it stdin EOF and it stops by itself.
%%   No orphan C node survives its server.</li>
%% <li>Every line the node writes is forwarded to `logger' at the level the
%%   line names; the last few are kept to explain a failed start.</li>
%% <li>The owner is monitored: when it dies the node is stopped. The owner
%%   learns of the node's death in one of two ways. Started by
%%   `start_link/2' (for `otpc:start_node/1', under `otpc_node_sup'), the
%%   owner gets `{otpc_node_down, Node, Reason}' and this server stops
%%   normally. Started by `start_link/1' (for `otpc:start_link_node/1', in
%%   the caller's own supervision tree), the caller is owner and parent, and
%%   this server exits with `{otpc_node_down, Node, Reason}', an abnormal
%%   reason, so that a supervisor restarts it.</li>
%% <li>Every way a start fails (the name taken, the program not spawned, the
%%   node exiting, the timeout) is answered by `await_ready/1', after which
%%   the server exits `normal': a linked caller that does not trap exits
%%   survives a failed start.</li>
%% <li>The registry row of a node is removed before anyone is told that the
%%   node is gone, so a new start with the same name never races with it.</li>
%% </ul>
%%
%% Starting is asynchronous: `init/1' opens the port and returns at once,
%% and `await_ready/1' waits for the node's ready line (or its failure, or
%% the start timeout), so a slow node never blocks the supervisor.
-module(otpc_node).
-behaviour(gen_server).

-include_lib("kernel/include/logger.hrl").

-export([start_link/1, start_link/2, await_ready/1, stop/1,
         shutdown_timeout/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(LINE_MAX, 16384).     % the port's line buffer
%% Long enough for the graceful stop (5 s) plus the SIGKILL fallback (5 s)
%% in otpc_node_os, with time to spare.
-define(SHUTDOWN_TIMEOUT, 15000).

-record(state, {
    node :: node(),
    owner :: pid(),
    owner_mon :: reference(),
    notify :: notify(),
    port :: port() | undefined,          % undefined once closed or exited
    exit_status :: non_neg_integer() | undefined,
    os_pid :: non_neg_integer() | undefined,
    phase = starting :: starting | ready | {failed, term()},
    waiter :: gen_server:from() | undefined,
    timer :: reference() | undefined,
    buf = otpc_node_log:new() :: otpc_node_log:buf(),
    recent = [] :: otpc_node_log:recent()
}).
-type state() :: #state{}.
-type notify() :: message | exit.
%% How the owner learns that a ready node died: a message, or this
%% server's exit reason.

%% ---------------------------------------------------------------------
%% API

%% @doc Starts a server, linked to the caller, that spawns the node
%% described by `Config' and is owned by `Owner', who is sent
%% `{otpc_node_down, Node, Reason}' if the node dies once ready. Returns
%% once the OS process is spawned, not when the node is ready: call
%% `await_ready/1' next, which also reports a start that failed at once
%% (`{already_started, Node}' for a name held by a running server,
%% `{open_port, Reason, Executable}' for a program that cannot be spawned).
-spec start_link(pid(), otpc_node_opts:config()) -> {ok, pid()} | {error, term()}.
start_link(Owner, Config) ->
    gen_server:start_link(?MODULE, {Owner, message, Config}, []).

%% @doc Like `start_link/2' with the caller as the owner, except that the
%% death of a ready node is not a message but this server's exit, with
%% reason `{otpc_node_down, Node, Reason}'; meant for a supervisor.
-spec start_link(otpc_node_opts:config()) -> {ok, pid()} | {error, term()}.
start_link(Config) ->
    gen_server:start_link(?MODULE, {self(), exit, Config}, []).

%% @doc Waits until the node is ready and returns its name, or returns why
%% it never got there: `{already_started, Node}' or
%% `{open_port, Reason, Executable}' if it was never spawned,
%% `{exit_status, Status, LastLines}' if it exited,
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
        exit:{noproc, _} ->
            {error, not_found};
        exit:{_Reason, {gen_server, call, _}} ->
            %% The server was already stopping for another reason (owner
            %% death, node exit: `normal', `shutdown', `{otpc_node_down,
            %% ...}', a parent's reason); it stops the OS process before it
            %% exits.
            ok
    end.

%% @doc The `shutdown' a supervisor should give a server: time for the
%% node to stop on stdin EOF, and for the SIGKILL after it.
-spec shutdown_timeout() -> pos_integer().
shutdown_timeout() ->
    ?SHUTDOWN_TIMEOUT.

%% ---------------------------------------------------------------------
%% gen_server callbacks

-spec init({pid(), notify(), otpc_node_opts:config()}) -> {ok, state()}.
init({Owner, Notify, #{node := Node} = Config}) ->
    %% Trap exits so that a supervisor shutdown (or, for start_link/1, the
    %% parent's exit) runs terminate/2, which stops the OS process before
    %% this server goes.
    process_flag(trap_exit, true),
    S = #state{node = Node,
               owner = Owner,
               owner_mon = monitor(process, Owner),
               notify = Notify},
    case otpc_node_registry:claim(Node) of
        ok ->
            {ok, open(Config, S)};
        {error, already_started} ->
            %% Kept for await_ready/1, like any other failed start.
            {ok, S#state{phase = {failed, {already_started, Node}}}}
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
          {noreply, state()} | {stop, term(), state()}.
handle_info({Port, {data, Data}}, #state{port = Port} = S) ->
    {Lines, Buf} = otpc_node_log:data(Data, S#state.buf),
    lines(Lines, S#state{buf = Buf});
handle_info({Port, {exit_status, Status}}, #state{port = Port} = S) ->
    %% The OS process is gone, but a last line without a newline is
    %% delivered after the exit status: wait for the port's 'EXIT'.
    {noreply, S#state{exit_status = Status}};
handle_info({'EXIT', Port, Reason}, #state{port = Port} = S) ->
    case S#state.exit_status of
        undefined ->
            %% The port died without an exit status (an ERTS-level
            %% failure): make sure the OS process is gone.
            exited({port_exit, Reason}, flush(shutdown_os(S)));
        Status ->
            exited({exit_status, Status}, flush(S#state{port = undefined}))
    end;
handle_info(ready_timeout, #state{phase = starting} = S) ->
    S1 = shutdown_os(S),
    fail({timeout, recent(S1)}, S1);
handle_info({'DOWN', Ref, process, _, _}, #state{owner_mon = Ref} = S) ->
    {stop, normal, shutdown_os(S)};
handle_info(_Msg, S) ->
    %% Stale timers, the port's 'EXIT' after its exit status, and output
    %% of a port we already closed.
    {noreply, S}.

-spec terminate(term(), state()) -> ok.
terminate(_Reason, #state{node = Node, waiter = Waiter} = S) ->
    _ = shutdown_os(S),
    otpc_node_registry:release(Node),
    case Waiter of
        undefined -> ok;
        From -> gen_server:reply(From, {error, stopped})
    end.

%% ---------------------------------------------------------------------
%% Starting

open(#{node := Node, timeout := Timeout, executable := Exe} = Config, S) ->
    PortOpts = [{args, otpc_node_opts:port_args(Config)},
                {env, otpc_node_opts:port_env(Config)},
                {line, ?LINE_MAX},
                stderr_to_stdout, exit_status, binary, use_stdio],
    try open_port({spawn_executable, Exe}, PortOpts) of
        Port ->
            OsPid = otpc_node_os:os_pid(Port),
            ok = otpc_node_registry:set_os_pid(Node, OsPid),
            S#state{port = Port,
                    os_pid = OsPid,
                    timer = erlang:send_after(Timeout, self(), ready_timeout)}
    catch
        error:Reason ->
            %% enoent, eacces, ... from spawning the executable.
            otpc_node_registry:release(Node),
            S#state{phase = {failed, {open_port, Reason, Exe}}}
    end.

ready(#state{node = Node, waiter = Waiter, timer = Timer} = S) ->
    _ = erlang:cancel_timer(Timer),
    ok = otpc_node_registry:set_ready(Node),
    case Waiter of
        undefined -> ok;
        From -> gen_server:reply(From, {ok, Node})
    end,
    {noreply, S#state{phase = ready, waiter = undefined, timer = undefined}}.

%% A start that failed: answer the waiter and stop, or, if await_ready/1
%% has not been called yet, keep the answer for it.
fail(Reason, #state{node = Node, waiter = Waiter} = S) ->
    otpc_node_registry:release(Node),
    case Waiter of
        undefined ->
            {noreply, S#state{phase = {failed, Reason}}};
        From ->
            gen_server:reply(From, {error, Reason}),
            {stop, normal, S#state{waiter = undefined}}
    end.

%% The OS process is gone (port = undefined by now) without stop/1.
exited({exit_status, Status}, #state{phase = starting} = S) ->
    fail({exit_status, Status, recent(S)}, S);
exited(Reason, #state{phase = starting} = S) ->
    fail(Reason, S);
exited(_Reason, #state{phase = {failed, _}} = S) ->
    %% Already failed (e.g. a name mismatch); nothing more to report.
    {noreply, S};
exited(Reason, #state{phase = ready, node = Node} = S) ->
    otpc_node_registry:release(Node),
    ?LOG_ERROR("~ts: node process died: ~0p; last lines: ~0p",
               [Node, Reason, recent(S)],
               #{otpc_node => Node, domain => [otpc]}),
    Down = {otpc_node_down, Node, Reason},
    case S#state.notify of
        message ->
            S#state.owner ! Down,
            {stop, normal, S};
        exit ->
            {stop, Down, S}
    end.

%% ---------------------------------------------------------------------
%% Output of the node

%% Logs the lines; the first ready line of a starting node makes it ready.
lines([], S) ->
    {noreply, S};
lines([Line | Rest], S) ->
    S1 = log_line(Line, S),
    case {S1#state.phase, otpc_node_log:ready(Line)} of
        {starting, {ready, Reported}} ->
            case ready_line(Reported, S1) of
                {noreply, S2} -> lines(Rest, S2);
                Stop -> Stop
            end;
        _ ->
            lines(Rest, S1)
    end.

log_line(Line, #state{node = Node, recent = Recent} = S) ->
    ok = otpc_node_log:log(Node, Line),
    S#state{recent = otpc_node_log:remember(Line, Recent)}.

%% Logs what is left of a line the node did not end.
flush(#state{buf = Buf} = S) ->
    {Lines, Buf1} = otpc_node_log:flush(Buf),
    lists:foldl(fun log_line/2, S#state{buf = Buf1}, Lines).

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

recent(#state{recent = Recent}) ->
    otpc_node_log:recent(Recent).

%% ---------------------------------------------------------------------
%% Stopping the OS process

%% Closes the node's stdin, which makes it stop, and waits for the OS
%% process to go (see otpc_node_os:await_exit/2 for the SIGKILL fallback).
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
    ok = otpc_node_os:await_exit(Node, OsPid),
    S1#state{port = undefined}.

%% Only logs: a ready line seen while stopping changes nothing.
drain(#state{port = Port} = S) ->
    receive
        {Port, {data, Data}} ->
            {Lines, Buf} = otpc_node_log:data(Data, S#state.buf),
            drain(lists:foldl(fun log_line/2, S#state{buf = Buf}, Lines))
    after 0 ->
        S
    end.
