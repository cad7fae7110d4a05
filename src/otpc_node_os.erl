%% @doc The node program as an OS process: its pid, whether it is gone, and
%% making sure it goes.
%%
%% A port that was closed sends no exit status, so after closing it the
%% process is watched through `/proc/<pid>/stat' instead. A zombie counts as
%% gone: it has exited, and ERTS's child reaper collects it. Killing is the
%% last resort, after the node had `?STOP_GRACE' ms to act on its stdin EOF.
-module(otpc_node_os).

-include_lib("kernel/include/logger.hrl").

-export([os_pid/1, await_exit/2, gone/1, stat_state/1]).

-define(STOP_GRACE, 5000).    % ms from stdin EOF to SIGKILL
-define(KILL_WAIT, 5000).     % ms to wait for the process after SIGKILL
-define(POLL_INTERVAL, 20).

%% @doc The OS pid of a port's program, `undefined' if the port is gone.
-spec os_pid(port()) -> non_neg_integer() | undefined.
os_pid(Port) ->
    case erlang:port_info(Port, os_pid) of
        {os_pid, OsPid} -> OsPid;
        undefined -> undefined
    end.

%% @doc Waits for the process of node `Node', whose stdin was just closed,
%% to exit; SIGKILLs it after 5 s and waits 5 s more. Both cases are
%% logged. Returns once the process is gone or given up on.
-spec await_exit(node(), non_neg_integer() | undefined) -> ok.
await_exit(Node, OsPid) ->
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
    end.

%% @doc Whether the process has exited: no `/proc' entry, or a zombie.
-spec gone(non_neg_integer() | undefined) -> boolean().
gone(undefined) ->
    true;
gone(OsPid) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/stat") of
        {ok, Stat} -> stat_state(Stat) =:= $Z;
        {error, _} -> true
    end.

%% @doc The state letter of a `/proc/<pid>/stat' line, `undefined' if the
%% line has none. The line is `pid (comm) S ...' and the command may hold
%% spaces and parentheses, so the state follows the last `") "'.
-spec stat_state(binary()) -> char() | undefined.
stat_state(Stat) ->
    case binary:matches(Stat, <<") ">>) of
        [] ->
            undefined;
        Matches ->
            {Pos, Len} = lists:last(Matches),
            case Stat of
                <<_:(Pos + Len)/binary, State, _/binary>> -> State;
                _ -> undefined
            end
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
