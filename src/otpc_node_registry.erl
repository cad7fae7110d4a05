%% @doc Which `otpc_node' server runs which node name.
%%
%% A named public ETS table, created by `otpc_node_sup' (which owns it, so
%% that it goes with the servers it describes), with one row per name:
%% `{Node, Server, OsPid | undefined, Ready}'. Every server writes its own
%% row only; anyone may read. Invariants:
%%
%% <ul>
%% <li>A name has at most one live server: `claim/1' refuses a name
%%   whose server is alive and takes over a row left by a server that was
%%   killed without cleaning up.</li>
%% <li>A server removes its row before anyone is told that its node is
%%   gone, so a new start with the same name never races with it.</li>
%% <li>Without the table (the application not started, or stopping) reads
%%   find nothing and removals do nothing.</li>
%% </ul>
-module(otpc_node_registry).

-export([init/0, claim/1, release/1, set_os_pid/2, set_ready/1]).
-export([lookup/1, running/0]).

-define(TABLE, otpc_registry).

%% @doc Creates the table, owned by the caller.
-spec init() -> ok.
init() ->
    ?TABLE = ets:new(?TABLE, [named_table, public, set,
                              {read_concurrency, true}]),
    ok.

%% @doc Claims `Node' for the calling server.
-spec claim(node()) -> ok | {error, already_started}.
claim(Node) ->
    case ets:insert_new(?TABLE, {Node, self(), undefined, false}) of
        true ->
            ok;
        false ->
            case ets:lookup(?TABLE, Node) of
                [{Node, Pid, _, _} = Row] when Pid =/= self() ->
                    case is_process_alive(Pid) of
                        true ->
                            {error, already_started};
                        false ->
                            true = ets:delete_object(?TABLE, Row),
                            claim(Node)
                    end;
                [] ->
                    claim(Node)
            end
    end.

%% @doc Removes the caller's row for `Node' only: the name may already
%% belong to a new server.
-spec release(node()) -> ok.
release(Node) ->
    try ets:match_delete(?TABLE, {Node, self(), '_', '_'}) of
        true -> ok
    catch
        error:badarg -> ok              % the table went with its owner
    end.

%% @doc Records the OS pid of the caller's node.
-spec set_os_pid(node(), non_neg_integer() | undefined) -> ok.
set_os_pid(Node, OsPid) ->
    true = ets:update_element(?TABLE, Node, {3, OsPid}),
    ok.

%% @doc Marks the caller's node ready.
-spec set_ready(node()) -> ok.
set_ready(Node) ->
    true = ets:update_element(?TABLE, Node, {4, true}),
    ok.

%% @doc The server and OS pid of a node.
-spec lookup(node()) -> {ok, pid(), non_neg_integer() | undefined} | error.
lookup(Node) ->
    try ets:lookup(?TABLE, Node) of
        [{Node, Pid, OsPid, _Ready}] -> {ok, Pid, OsPid};
        [] -> error
    catch
        error:badarg -> error           % application not started
    end.

%% @doc The nodes that have reported ready and not stopped.
-spec running() -> [node()].
running() ->
    try
        ets:select(?TABLE, [{{'$1', '_', '_', true}, [], ['$1']}])
    catch
        error:badarg -> []
    end.
