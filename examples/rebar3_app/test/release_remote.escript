#!/usr/bin/env escript
%% The other machine's side of test/release.sh: an Erlang node that is not the
%% release's, reaching the C node the release runs and watching the release's
%% supervisor bring it back (docs/DEPLOY.md, "Restarts").
%%
%%   release_remote.escript SELF RELEASE_NODE C_NODE
%%
%% Exits 0 when every check held, 1 (with the failed match printed) otherwise.
-mode(compile).

main([Self, Rel0, C0]) ->
    {ok, _} = net_kernel:start([list_to_atom(Self), shortnames]),
    Rel = list_to_atom(Rel0),
    C = list_to_atom(C0),
    try
        checks(Rel, C),
        io:format("remote checks passed~n")
    catch
        Class:Reason:Stack ->
            io:format("remote check failed: ~p:~p~n~p~n", [Class, Reason, Stack]),
            halt(1)
    end.

checks(Rel, C) ->
    %% The C node is there, with the plug-in's server the release put on it.
    pong = net_adm:ping(C),
    {"1", N} = gen_server:call({counter, C}, get),
    {"1", N1} = gen_server:call({counter, C}, inc),
    N1 = N + 1,
    [counter] = [Id || {Id, _, _, _} <- supervisor:which_children({otpc_sup, C}),
                       Id =:= counter],
    %% A crash of the C node (SIGKILL): the release's supervisor starts a fresh one
    %% under the same name, with the counter back at its start value.
    {ok, Os1} = erpc:call(Rel, otpc, node_os_pid, [C]),
    down_and_back(C, fun() -> os:cmd("kill -9 " ++ integer_to_list(Os1)) end),
    ok = counter_back(C, 100),
    {ok, Os2} = erpc:call(Rel, otpc, node_os_pid, [C]),
    true = Os2 =/= Os1,
    {"1", 1} = gen_server:call({counter, C}, inc),
    %% Stopped from here (init:stop/0 on the C node, as an operator would): it exits
    %% 0, and the supervisor brings it back as well (a permanent child).
    down_and_back(C, fun() -> catch erpc:call(C, init, stop, []) end),
    ok = counter_back(C, 100),
    {ok, Os3} = erpc:call(Rel, otpc, node_os_pid, [C]),
    true = Os3 =/= Os2,
    {"1", 1} = gen_server:call({counter, C}, inc),
    %% The release's supervisor, asked from here.
    [{servers, undefined, worker, _}, {{otpc_node, _}, P, worker, [otpc_node]}] =
        supervisor:which_children({counter_app_sup, Rel}),
    true = is_pid(P),
    ok.

%% Watches C with monitor_node/2 (the way a node on another machine learns of it),
%% does Act, waits for the nodedown, then pings until the restarted node answers.
down_and_back(C, Act) ->
    true = erlang:monitor_node(C, true),
    _ = Act(),
    receive {nodedown, C} -> ok after 10000 -> error({no_nodedown, C}) end,
    pong = ping_until(C, 100).

%% The release's `servers' child puts `counter' back on the fresh node once that node
%% is up, so the node may answer a ping a moment before `counter' is there: wait for it
%% in the C node's own supervisor, as any caller that holds no pids would.
counter_back(C, 0) ->
    error({no_counter, C});
counter_back(C, N) ->
    Ids = try [Id || {Id, P, _, _} <- supervisor:which_children({otpc_sup, C}), is_pid(P)]
          catch exit:_ -> []
          end,
    case lists:member(counter, Ids) of
        true -> ok;
        false -> timer:sleep(100), counter_back(C, N - 1)
    end.

ping_until(C, 0) ->
    error({no_pong, C});
ping_until(C, N) ->
    case net_adm:ping(C) of
        pong -> pong;
        pang -> timer:sleep(100), ping_until(C, N - 1)
    end.
