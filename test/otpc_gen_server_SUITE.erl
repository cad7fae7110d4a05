%% C gen_servers called from a real Erlang node: every callback and return form,
%% the call protocol's edge cases, sys messages, supervision, remote start, and
%% interoperation (multi_call across two C nodes, a PropEr echo property, Elixir).
%%
%% Each case starts its own C node (`g_<case>_<ospid>`, with `-probe`). Most
%% cases drive `gs_probe` (c_src/main/gs_probe.c), a C gen_server whose every
%% return is chosen by the request and which reports each callback to its
%% observer as {gs_probe, Pid, Callback, Arg}:
%%
%%   init({Observer, InitAction, TrapExit})
%%   handle_call  {reply, R} | {reply, R, Post} | {noreply, Post} | {stop, Reason}
%%                | {stop, Reason, R} | {defer, Ms, R} | {stop_reply_in_terminate, Reason}
%%                | bad_return
%%   handle_cast / handle_info / handle_continue:
%%                {noreply, Post} | {stop, Reason} | bad_return
%%   Post: none | hibernate | {timeout, Ms} | {continue, C}
%%
%% No case sleeps to assert that something did not happen: absence is checked
%% after a barrier, a later deferred reply (`{defer, Ms, _}`) or a call to the
%% same server, which orders everything the server sent before it.
-module(otpc_gen_server_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("proper/include/proper.hrl").

-export([log/2]).
-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
%% examples
-export([stack_pop/1, stack_push_pop/1, stack_empty_stops_and_comes_back/1,
         echo_echoes/1, echo_sleep_does_not_block/1, echo_stop/1, echo_stats/1,
         ch3_alloc_free/1]).
%% calls
-export([call_unregistered_name_noproc/1, call_dead_pid_noproc/1,
         call_stop_without_reply/1, call_stop_with_reply/1,
         reply_from_terminate/1, deferred_reply/1, late_reply_dropped/1,
         reply_from_another_thread/1, cancel_timer/1,
         reply_with_timeout/1, timeout_cancelled_by_message/1,
         reply_hibernate/1, reply_continue/1, continue_chain_and_stop/1,
         cast_and_info/1, cast_stop/1, info_stop/1, bad_return_stops/1,
         abnormal_exit_reason_exact/1]).
%% start
-export([start_ok_and_name/1, start_already_started/1, start_unknown_module/1,
         init_ignore/1, init_stop/1, init_stop_start_link/1, init_bad_return/1,
         init_timeout/1, init_continue/1, start_link_links/1,
         parent_exit_runs_terminate/1, node_shutdown_runs_terminate/1]).
%% sys
-export([sys_get_state/1, sys_get_state_fresh_connection/1,
         sys_get_state_form_by_release/1, sys_get_state_no_release/1,
         sys_get_state_asks_per_connection/1, sys_get_state_reply_before_down/1,
         sys_get_state_local_caller/1, sys_get_status/1, sys_suspend_resume/1,
         sys_log_and_statistics/1, sys_trace_and_log_to_file/1, sys_debug_refusals/1,
         sys_change_code/1, sys_replace_state_refused/1, gen_server_stop/1,
         gen_server_stop_reason/1]).
%% run on peer nodes
-export([fake_rex/2]).
%% supervision
-export([sup_restarts_permanent/1, sup_which_and_count_children/1,
         sup_transient_and_temporary/1, sup_intensity/1]).
%% interop
-export([multi_call_and_abcast/1, echo_property/1, elixir_call/1]).

-type config() :: [{atom(), term()}].

-define(TIMEOUT, 5000).

%% ?recv, ?refute, mailbox/0, summary/1 (after the attributes: it defines functions).
-include("otpc_ct.hrl").

%%% ------------------------------------------------------------------
%%% ct callbacks
%%% ------------------------------------------------------------------

-spec suite() -> [tuple()].
suite() ->
    [{timetrap, {minutes, 2}}].

-spec all() -> [{group, atom()}].
all() ->
    [{group, examples}, {group, calls}, {group, start}, {group, sys},
     {group, supervision}, {group, interop}].

-spec groups() -> [{atom(), list(), [atom()]}].
groups() ->
    [{examples, [], [stack_pop, stack_push_pop, stack_empty_stops_and_comes_back,
                     echo_echoes, echo_sleep_does_not_block, echo_stop,
                     echo_stats, ch3_alloc_free]},
     {calls, [], [call_unregistered_name_noproc, call_dead_pid_noproc,
                  call_stop_without_reply, call_stop_with_reply,
                  reply_from_terminate, deferred_reply, late_reply_dropped,
                  reply_from_another_thread, cancel_timer,
                  reply_with_timeout, timeout_cancelled_by_message,
                  reply_hibernate, reply_continue, continue_chain_and_stop,
                  cast_and_info, cast_stop, info_stop, bad_return_stops,
                  abnormal_exit_reason_exact]},
     {start, [], [start_ok_and_name, start_already_started, start_unknown_module,
                  init_ignore, init_stop, init_stop_start_link, init_bad_return,
                  init_timeout, init_continue, start_link_links,
                  parent_exit_runs_terminate, node_shutdown_runs_terminate]},
     {sys, [], [sys_get_state, sys_get_state_fresh_connection,
                sys_get_state_form_by_release, sys_get_state_no_release,
                sys_get_state_asks_per_connection, sys_get_state_reply_before_down,
                sys_get_state_local_caller, sys_get_status, sys_suspend_resume,
                sys_log_and_statistics, sys_trace_and_log_to_file, sys_debug_refusals,
                sys_change_code, sys_replace_state_refused, gen_server_stop,
                gen_server_stop_reason]},
     {supervision, [], [sup_restarts_permanent, sup_which_and_count_children,
                        sup_transient_and_temporary, sup_intensity]},
     {interop, [], [multi_call_and_abcast, echo_property, elixir_call]}].

-spec init_per_suite(config()) -> config() | {skip, string()}.
init_per_suite(Config) ->
    otpc_ct_node:init_per_suite(Config).

-spec end_per_suite(config()) -> ok.
end_per_suite(Config) ->
    otpc_ct_node:end_per_suite(Config).

-spec init_per_testcase(atom(), config()) -> config() | {fail, term()}.
init_per_testcase(Case, Config) ->
    process_flag(trap_exit, false),
    case start_c_node(Case) of
        {ok, Node} -> [{node, Node} | Config];
        Error -> {fail, {start_node, Case, Error}}
    end.

-spec end_per_testcase(atom(), config()) -> ok | {fail, term()}.
end_per_testcase(_Case, _Config) ->
    _ = [(catch otpc:stop_node(Node)) || Node <- otpc:nodes()],
    %% No case here kills its node: one that died on its own (a crash after
    %% the case's last assertion, say) fails the case.
    receive
        {otpc_node_down, Node, Reason} -> {fail, {node_died, Node, Reason}}
    after 0 ->
            ok
    end.

start_c_node(Tag) ->
    Name = list_to_atom(lists:concat(["g_", Tag, "_", os:getpid()])),
    otpc:start_node(#{name => Name, args => ["-probe"]}).

doc(String) ->
    ct:comment(String).

%% A gs_probe reporting to us, unlinked; returns its pid.
probe(Node) ->
    probe(Node, ok, false).

probe(Node, InitAction, Trap) ->
    {ok, Pid} = otpc:start(Node, gs_probe, {self(), InitAction, Trap}, []),
    ?recv({gs_probe, Pid, init, _}),
    Pid.

%% Waits for the DOWN of a monitor on Pid and returns its reason.
down(MRef) ->
    {'DOWN', MRef, process, _, Reason} = ?recv({'DOWN', MRef, process, _, _}),
    Reason.


%%% ------------------------------------------------------------------
%%% examples
%%% ------------------------------------------------------------------

-spec stack_pop(config()) -> term().
stack_pop(Config) ->
    doc("gen_server:call({stack, Node}, pop) answers <<\"hello\">>, then <<\"world\">>."),
    Node = ?config(node, Config),
    <<"hello">> = gen_server:call({stack, Node}, pop),
    <<"world">> = gen_server:call({stack, Node}, pop).

-spec stack_push_pop(config()) -> term().
stack_push_pop(Config) ->
    doc("A pushed element (any term) comes back from the next pop."),
    Node = ?config(node, Config),
    ok = gen_server:cast({stack, Node}, {push, <<"pushed">>}),
    <<"pushed">> = gen_server:call({stack, Node}, pop),
    ok = gen_server:cast({stack, Node}, {push, {any, [term], 1.5}}),
    {any, [term], 1.5} = gen_server:call({stack, Node}, pop),
    <<"hello">> = gen_server:call({stack, Node}, pop).

-spec stack_empty_stops_and_comes_back(config()) -> term().
stack_empty_stops_and_comes_back(Config) ->
    doc("pop on an empty stack stops it with {badmatch, []}; the caller exits "
        "with that reason, and the supervisor restarts it with \"hello,world\"."),
    Node = ?config(node, Config),
    Old = rpc_whereis(Node, stack),
    MRef = erlang:monitor(process, Old),
    _ = [gen_server:call({stack, Node}, pop) || _ <- [1, 2]],
    {{badmatch, []}, {gen_server, call, _}} =
        catch_exit(fun() -> gen_server:call({stack, Node}, pop) end),
    {badmatch, []} = down(MRef),
    New = wait_for_name(Node, stack, Old),
    true = New =/= Old,
    <<"hello">> = gen_server:call({stack, Node}, pop).

-spec echo_echoes(config()) -> term().
echo_echoes(Config) ->
    doc("echo answers every request unchanged."),
    Node = ?config(node, Config),
    Terms = [a, 1, -1, 1 bsl 200, 3.14, <<"bin">>, <<1:3>>, "string", [],
             {}, #{k => v}, self(), make_ref(), fun lists:map/2,
             'ünïcødé', {deep, [[[[{x}]]]]}],
    [T = gen_server:call({echo, Node}, T) || T <- Terms],
    ok.

-spec echo_sleep_does_not_block(config()) -> term().
echo_sleep_does_not_block(Config) ->
    doc("{'$sleep', Ms, Reply} answers Reply later, and other callers are served "
        "meanwhile (the deferred reply is answered from a timer)."),
    Node = ?config(node, Config),
    Self = self(),
    Sleeper = spawn_link(fun() ->
                                 R = gen_server:call({echo, Node}, {'$sleep', 2000, slept}, 10000),
                                 Self ! {slept, R}
                         end),
    %% While the sleeper waits, other calls come back; the sleeper's answer
    %% comes last.
    _ = gen_server:call({echo, Node}, warmup),
    [fast = gen_server:call({echo, Node}, fast) || _ <- lists:seq(1, 100)],
    ?refute({slept, _}),
    {slept, slept} = ?recv({slept, _}, 10000),
    unlink(Sleeper).

-spec echo_stop(config()) -> term().
echo_stop(Config) ->
    doc("{'$stop', Reason} answers ok and the server exits with Reason."),
    Node = ?config(node, Config),
    Pid = rpc_whereis(Node, echo),
    MRef = erlang:monitor(process, Pid),
    ok = gen_server:call({echo, Node}, {'$stop', {custom, reason}}),
    {custom, reason} = down(MRef).

-spec echo_stats(config()) -> term().
echo_stats(Config) ->
    doc("echo counts casts and infos; '$stats' returns the counts."),
    Node = ?config(node, Config),
    #{casts := C0, infos := I0} = gen_server:call({echo, Node}, '$stats'),
    _ = [gen_server:cast({echo, Node}, {c, N}) || N <- lists:seq(1, 10)],
    _ = [{echo, Node} ! {i, N} || N <- lists:seq(1, 5)],
    #{casts := C1, infos := I1} = gen_server:call({echo, Node}, '$stats'),
    {10, 5} = {C1 - C0, I1 - I0}.

-spec ch3_alloc_free(config()) -> term().
ch3_alloc_free(Config) ->
    doc("ch3 allocates the lowest free channel and takes freed ones back."),
    Node = ?config(node, Config),
    [1, 2, 3] = [gen_server:call({ch3, Node}, alloc) || _ <- [1, 2, 3]],
    ok = gen_server:cast({ch3, Node}, {free, 2}),
    2 = gen_server:call({ch3, Node}, alloc),
    4 = gen_server:call({ch3, Node}, alloc).

%%% ------------------------------------------------------------------
%%% calls
%%% ------------------------------------------------------------------

-spec call_unregistered_name_noproc(config()) -> term().
call_unregistered_name_noproc(Config) ->
    doc("A call to a name that is not registered exits with noproc at once "
        "(with an infinite timeout: only the DOWN can end it)."),
    Node = ?config(node, Config),
    {noproc, {gen_server, call, _}} =
        catch_exit(fun() -> gen_server:call({no_such_name, Node}, hello, infinity) end).

-spec call_dead_pid_noproc(config()) -> term().
call_dead_pid_noproc(Config) ->
    doc("A call to a pid that is gone exits with noproc at once."),
    Pid = probe(?config(node, Config)),
    MRef = erlang:monitor(process, Pid),
    ok = gen_server:stop(Pid),
    normal = down(MRef),
    {noproc, {gen_server, call, _}} =
        catch_exit(fun() -> gen_server:call(Pid, {reply, x}, infinity) end).

-spec call_stop_without_reply(config()) -> term().
call_stop_without_reply(Config) ->
    doc("A server that stops without replying makes the call exit with its "
        "reason; terminate runs with it first."),
    Pid = probe(?config(node, Config)),
    {{my, reason}, {gen_server, call, _}} =
        catch_exit(fun() -> gen_server:call(Pid, {stop, {my, reason}}, infinity) end),
    ?recv({gs_probe, Pid, terminate, {my, reason}}).

-spec call_stop_with_reply(config()) -> term().
call_stop_with_reply(Config) ->
    doc("{stop, Reason, Reply}: terminate runs, the caller gets Reply, monitors "
        "get Reason."),
    Pid = probe(?config(node, Config)),
    MRef = erlang:monitor(process, Pid),
    bye = gen_server:call(Pid, {stop, normal, bye}),
    ?recv({gs_probe, Pid, terminate, normal}),
    normal = down(MRef).

-spec reply_from_terminate(config()) -> term().
reply_from_terminate(Config) ->
    doc("A caller kept by a server that stops can still be answered from terminate."),
    Pid = probe(?config(node, Config)),
    terminated = gen_server:call(Pid, {stop_reply_in_terminate, normal}).

-spec deferred_reply(config()) -> term().
deferred_reply(Config) ->
    doc("noreply now, otpc_reply later (from a timer message): the caller gets it."),
    Pid = probe(?config(node, Config)),
    later = gen_server:call(Pid, {defer, 20, later}),
    %% Several outstanding at once, answered in timer order.
    Self = self(),
    _ = [spawn_link(fun() -> Self ! {N, gen_server:call(Pid, {defer, 300 - N * 50, N})} end)
         || N <- [1, 2, 3]],
    [?recv({N, N}) || N <- [3, 2, 1]],
    ok.

-spec cancel_timer(config()) -> term().
cancel_timer(Config) ->
    doc("otpc_cancel_timer: true for a pending timer, false once it is gone, and the "
        "cancelled message never comes (a later timer arrives alone)."),
    Pid = probe(?config(node, Config)),
    {1, 0} = gen_server:call(Pid, {cancel_timer, 50}),
    ?recv({gs_probe, Pid, handle_info, after_cancel}),
    ?refute({gs_probe, Pid, handle_info, cancelled_timer}).

-spec reply_from_another_thread(config()) -> term().
reply_from_another_thread(Config) ->
    doc("otpc_from_detach + otpc_reply_async: worker OS threads answer; fifty at once "
        "each get their own reply while the server goes on serving."),
    Pid = probe(?config(node, Config)),
    hello = gen_server:call(Pid, {thread_reply, 10, hello}),
    Self = self(),
    _ = [spawn_link(fun() ->
                            Self ! {N, gen_server:call(Pid, {thread_reply, 50, {r, N}})}
                    end) || N <- lists:seq(1, 50)],
    fast = gen_server:call(Pid, {reply, fast}),
    [?recv({N, {r, N}}) || N <- lists:seq(1, 50)],
    ok.

-spec late_reply_dropped(config()) -> term().
late_reply_dropped(Config) ->
    doc("A reply that arrives after the caller's timeout is dropped (it went to "
        "the call's alias), as between BEAM nodes."),
    Pid = probe(?config(node, Config)),
    {timeout, _} = catch_exit(fun() -> gen_server:call(Pid, {defer, 300, late}, 50) end),
    %% Due after the first: when it is answered, the late reply has come too.
    done = gen_server:call(Pid, {defer, 500, done}),
    ?refute({_, late}).

-spec reply_with_timeout(config()) -> term().
reply_with_timeout(Config) ->
    doc("{reply, R, S, Timeout}: handle_info(timeout) after Timeout without messages."),
    Pid = probe(?config(node, Config)),
    ok = gen_server:call(Pid, {reply, ok, {timeout, 50}}),
    ?recv({gs_probe, Pid, handle_info, timeout}).

-spec timeout_cancelled_by_message(config()) -> term().
timeout_cancelled_by_message(Config) ->
    doc("A message before the timeout cancels it."),
    Pid = probe(?config(node, Config)),
    ok = gen_server:call(Pid, {reply, ok, {timeout, 200}}),
    ok = gen_server:cast(Pid, {noreply, none}),
    ?recv({gs_probe, Pid, handle_cast, _}),
    x = gen_server:call(Pid, {defer, 600, x}),
    ?refute({gs_probe, Pid, handle_info, timeout}).

-spec reply_hibernate(config()) -> term().
reply_hibernate(Config) ->
    doc("{reply, R, S, hibernate} and {noreply, S, hibernate} keep the server serving."),
    Pid = probe(?config(node, Config)),
    a = gen_server:call(Pid, {reply, a, hibernate}),
    ok = gen_server:cast(Pid, {noreply, hibernate}),
    b = gen_server:call(Pid, {reply, b}).

-spec reply_continue(config()) -> term().
reply_continue(Config) ->
    doc("{reply, R, S, {continue, C}}: handle_continue(C) runs before any other "
        "message, even one queued before it."),
    Pid = probe(?config(node, Config)),
    %% Suspended, the server holds the call and the cast; resumed, it finds
    %% both queued, and the continue must still come between them.
    ok = sys:suspend(Pid),
    ReqId = gen_server:send_request(Pid, {reply, ok, {continue, c1}}),
    ok = gen_server:cast(Pid, after_continue),
    ok = sys:resume(Pid),
    {reply, ok} = gen_server:wait_response(ReqId, ?TIMEOUT),
    ?recv({gs_probe, Pid, handle_call, _}),
    {gs_probe, Pid, Next, _} = ?recv({gs_probe, Pid, _, _}),
    handle_continue = Next,
    ?recv({gs_probe, Pid, handle_cast, after_continue}).

-spec continue_chain_and_stop(config()) -> term().
continue_chain_and_stop(Config) ->
    doc("handle_continue may continue again and may stop."),
    Pid = probe(?config(node, Config)),
    MRef = erlang:monitor(process, Pid),
    C2 = {stop, from_continue},
    ok = gen_server:cast(Pid, {noreply, {continue, {noreply, {continue, C2}}}}),
    ?recv({gs_probe, Pid, handle_continue, {noreply, {continue, C2}}}),
    ?recv({gs_probe, Pid, handle_continue, C2}),
    from_continue = down(MRef).

-spec cast_and_info(config()) -> term().
cast_and_info(Config) ->
    doc("Casts reach handle_cast, other messages handle_info, in order."),
    Pid = probe(?config(node, Config)),
    ok = gen_server:cast(Pid, {noreply, none}),
    Pid ! {noreply, none},
    Pid ! plain,
    ?recv({gs_probe, Pid, handle_cast, {noreply, none}}),
    ?recv({gs_probe, Pid, handle_info, {noreply, none}}),
    ?recv({gs_probe, Pid, handle_info, plain}).

-spec cast_stop(config()) -> term().
cast_stop(Config) ->
    doc("{stop, Reason, S} from handle_cast: terminate, then exit with Reason."),
    Pid = probe(?config(node, Config)),
    MRef = erlang:monitor(process, Pid),
    ok = gen_server:cast(Pid, {stop, {shutdown, cast}}),
    ?recv({gs_probe, Pid, terminate, {shutdown, cast}}),
    {shutdown, cast} = down(MRef).

-spec info_stop(config()) -> term().
info_stop(Config) ->
    doc("{stop, Reason, S} from handle_info."),
    Pid = probe(?config(node, Config)),
    MRef = erlang:monitor(process, Pid),
    Pid ! {stop, info_reason},
    ?recv({gs_probe, Pid, terminate, info_reason}),
    info_reason = down(MRef).

-spec bad_return_stops(config()) -> term().
bad_return_stops(Config) ->
    doc("A return that makes no sense for the callback stops the server with "
        "{bad_return_value, Action}, as gen_server does."),
    Node = ?config(node, Config),
    P1 = probe(Node),
    M1 = erlang:monitor(process, P1),
    ok = gen_server:cast(P1, bad_return),
    {bad_return_value, reply} = down(M1),
    P2 = probe(Node),
    M2 = erlang:monitor(process, P2),
    {{bad_return_value, ok}, _} = catch_exit(fun() -> gen_server:call(P2, bad_return) end),
    {bad_return_value, ok} = down(M2).

-spec abnormal_exit_reason_exact(config()) -> term().
abnormal_exit_reason_exact(Config) ->
    doc("The stop reason reaches links and monitors as the exact term."),
    Pid = probe(?config(node, Config)),
    Reason = {error, [1.5, <<"bin">>, self(), #{a => {b}}], 'ünï'},
    MRef = erlang:monitor(process, Pid),
    process_flag(trap_exit, true),
    true = link(Pid),
    ok = gen_server:cast(Pid, {stop, Reason}),
    Reason = down(MRef),
    {'EXIT', Pid, Reason} = ?recv({'EXIT', Pid, _}),
    process_flag(trap_exit, false).

%%% ------------------------------------------------------------------
%%% start
%%% ------------------------------------------------------------------

-spec start_ok_and_name(config()) -> term().
start_ok_and_name(Config) ->
    doc("otpc:start/4 with {name, N}: the server is reachable as {N, Node}."),
    Node = ?config(node, Config),
    {ok, Pid} = otpc:start(Node, gs_probe, {self(), ok, false}, [{name, my_probe}]),
    Node = node(Pid),
    hi = gen_server:call({my_probe, Node}, {reply, hi}),
    Pid = rpc_whereis(Node, my_probe).

-spec start_already_started(config()) -> term().
start_already_started(Config) ->
    doc("A second start with the same name: {error, {already_started, Pid}}."),
    Node = ?config(node, Config),
    {ok, Pid} = otpc:start(Node, gs_probe, {self(), ok, false}, [{name, twice}]),
    {error, {already_started, Pid}} =
        otpc:start(Node, gs_probe, {self(), ok, false}, [{name, twice}]),
    {error, {already_started, _}} = otpc:start(Node, echo, x, [{name, echo}]).

-spec start_unknown_module(config()) -> term().
start_unknown_module(Config) ->
    doc("An unknown module and a node that is not an otpc node give clear errors."),
    {error, {unknown_module, nope}} = otpc:start(?config(node, Config), nope, x, []),
    {error, noproc} = otpc:start(node(), echo, x, []).

-spec init_ignore(config()) -> term().
init_ignore(Config) ->
    doc("init returning ignore: start returns ignore."),
    ignore = otpc:start(?config(node, Config), gs_probe, {self(), ignore, false}, []).

-spec init_stop(config()) -> term().
init_stop(Config) ->
    doc("init returning {stop, Reason}: {error, Reason}, the name is free again."),
    Node = ?config(node, Config),
    {error, {no, way}} =
        otpc:start(Node, gs_probe, {self(), {stop, {no, way}}, false}, [{name, ns}]),
    {ok, _} = otpc:start(Node, gs_probe, {self(), ok, false}, [{name, ns}]).

-spec init_stop_start_link(config()) -> term().
init_stop_start_link(Config) ->
    doc("start_link and init stop: {error, Reason} and the exit signal Reason, "
        "as gen_server:start_link gives on OTP 25."),
    process_flag(trap_exit, true),
    {error, failing} =
        otpc:start_link(?config(node, Config), gs_probe, {self(), {stop, failing}, false}, []),
    {'EXIT', _, failing} = ?recv({'EXIT', _, failing}),
    process_flag(trap_exit, false).

-spec init_bad_return(config()) -> term().
init_bad_return(Config) ->
    doc("init returning an action that init cannot return."),
    {error, {bad_return_value, noreply}} =
        otpc:start(?config(node, Config), gs_probe, {self(), bad_return, false}, []).

-spec init_timeout(config()) -> term().
init_timeout(Config) ->
    doc("init returning {ok, S, Timeout}."),
    Pid = probe(?config(node, Config), {timeout, 30}, false),
    ?recv({gs_probe, Pid, handle_info, timeout}).

-spec init_continue(config()) -> term().
init_continue(Config) ->
    doc("init returning {ok, S, {continue, C}}: handle_continue runs first."),
    Pid = probe(?config(node, Config), {continue, boot}, false),
    ?recv({gs_probe, Pid, handle_continue, boot}).

-spec start_link_links(config()) -> term().
start_link_links(Config) ->
    doc("start_link links the server to the caller: the caller's exit takes a "
        "server that does not trap exits with it."),
    Node = ?config(node, Config),
    Self = self(),
    Starter = spawn(fun() ->
                            {ok, Pid} = otpc:start_link(Node, gs_probe, {Self, ok, false}, []),
                            Self ! {started, Pid},
                            receive go -> exit(starter_quits) end
                    end),
    {started, Pid} = ?recv({started, _}),
    {links, Links} = process_info(Starter, links),
    true = lists:member(Pid, Links),
    MRef = erlang:monitor(process, Pid),
    Starter ! go,
    starter_quits = down(MRef),
    ?refute({gs_probe, Pid, terminate, _}).

-spec parent_exit_runs_terminate(config()) -> term().
parent_exit_runs_terminate(Config) ->
    doc("A trapping server whose parent exits runs terminate with the parent's reason."),
    Node = ?config(node, Config),
    Self = self(),
    Parent = spawn(fun() ->
                           {ok, Pid} = otpc:start_link(Node, gs_probe, {Self, ok, true}, []),
                           Self ! {started, Pid},
                           receive go -> exit(parent_gone) end
                   end),
    {started, Pid} = ?recv({started, _}),
    MRef = erlang:monitor(process, Pid),
    Parent ! go,
    ?recv({gs_probe, Pid, terminate, parent_gone}),
    parent_gone = down(MRef).

-spec node_shutdown_runs_terminate(config()) -> term().
node_shutdown_runs_terminate(Config) ->
    doc("Stopping the node runs terminate(shutdown) in trapping servers."),
    Node = ?config(node, Config),
    Pid = probe(Node, ok, true),
    ok = otpc:stop_node(Node),
    ?recv({gs_probe, Pid, terminate, shutdown}).

%%% ------------------------------------------------------------------
%%% sys
%%% ------------------------------------------------------------------

-spec sys_get_state(config()) -> term().
sys_get_state(Config) ->
    doc("sys:get_state/1,2 return what format_status encodes, with this node's "
        "OTP release (bare state to OTP 25, {ok, State} to 26 and later)."),
    Node = ?config(node, Config),
    Pid = probe(Node),
    Self = self(),
    {gs_probe_state, Self, 1} = sys:get_state(Pid),
    {gs_probe_state, Self, 1} = sys:get_state(Pid, 5000),
    {echo, _, _, _} = sys:get_state({echo, Node}),
    [<<"hello">>, <<"world">>] = sys:get_state({stack, Node}, infinity),
    %% The form matches this release's sys.erl, seen without sys.erl.
    {ok, Raw} = gen:call({stack, Node}, system, get_state),
    case list_to_integer(erlang:system_info(otp_release)) of
        R when R >= 26 -> {ok, [<<"hello">>, <<"world">>]} = Raw;
        _ -> [<<"hello">>, <<"world">>] = Raw
    end.

-spec sys_get_state_fresh_connection(config()) -> term().
sys_get_state_fresh_connection(Config) ->
    doc("sys:get_state as the first request of a fresh connection (it dials the "
        "node) and of a node the C node never saw returns the state."),
    Node = ?config(node, Config),
    true = erlang:monitor_node(Node, true),
    true = erlang:disconnect_node(Node),
    ?recv({nodedown, Node}),
    ct:log("connected after the nodedown: ~p", [nodes(connected)]),
    [<<"hello">>, <<"world">>] = sys:get_state({stack, Node}),
    {Peer, PeerNode} = start_peer(real),
    try
        false = lists:member(Node, erpc:call(PeerNode, erlang, nodes, [connected])),
        [<<"hello">>, <<"world">>] =
            erpc:call(PeerNode, sys, get_state, [{stack, Node}])
    after
        peer:stop(Peer)
    end.

-spec sys_get_state_form_by_release(config()) -> term().
sys_get_state_form_by_release(Config) ->
    doc("The answer's form follows the release the caller's rex gives: the bare "
        "state below OTP 26, {ok, State} from 26 on; asked once per node."),
    Node = ?config(node, Config),
    State = [<<"hello">>, <<"world">>],
    Bare = fun(S) -> S end,
    Ok = fun(S) -> {ok, S} end,
    lists:foreach(
      fun({Release, Form}) ->
              {Peer, PeerNode} = start_peer({answer, Release}),
              try
                  Expect = Form(State),
                  {ok, Expect} = raw_get_state(PeerNode, {stack, Node}),
                  {ok, Expect} = raw_get_state(PeerNode, {stack, Node}),
                  {ok, Echo} = raw_get_state(PeerNode, {echo, Node}),
                  {echo, _, _, _} = case Form of Ok -> {ok, E} = Echo, E; Bare -> Echo end,
                  ?recv({rex_asked, PeerNode}),
                  %% Barrier: the peer's calls are answered, so any second
                  %% question is in our mailbox by now.
                  ?refute({rex_asked, PeerNode})
              after
                  peer:stop(Peer)
              end
      end,
      [{"24", Bare}, {"25", Bare}, {"26", Ok}, {"27", Ok}, {"29", Ok}]).

-spec sys_get_state_no_release(config()) -> term().
sys_get_state_no_release(Config) ->
    doc("No usable release (rex not registered, answering something else, or "
        "silent): {ok, State}, the newest form; silence costs one wait of 2 s."),
    Node = ?config(node, Config),
    State = [<<"hello">>, <<"world">>],
    lists:foreach(
      fun({Rex, MaxMs}) ->
              {Peer, PeerNode} = start_peer(Rex),
              try
                  T0 = erlang:monotonic_time(millisecond),
                  {ok, {ok, State}} = raw_get_state(PeerNode, {stack, Node}),
                  T1 = erlang:monotonic_time(millisecond),
                  {ok, {ok, State}} = raw_get_state(PeerNode, {stack, Node}),
                  T2 = erlang:monotonic_time(millisecond),
                  ct:log("~p: ~p ms, then ~p ms", [Rex, T1 - T0, T2 - T1]),
                  true = T1 - T0 < MaxMs,
                  true = T2 - T1 < 1000
              after
                  peer:stop(Peer)
              end
      end,
      [{none, 1000}, {{answer, {badrpc, nodedown}}, 1000}, {{answer, "R16B"}, 1000},
       {silent, 4000}]).

-spec sys_get_state_asks_per_connection(config()) -> term().
sys_get_state_asks_per_connection(Config) ->
    doc("The release is asked again after the connection went down (the node at "
        "the other end may have restarted with another release)."),
    Node = ?config(node, Config),
    {Peer, PeerNode} = start_peer({answer, "25"}),
    try
        {ok, [<<"hello">>, <<"world">>]} = raw_get_state(PeerNode, {stack, Node}),
        ?recv({rex_asked, PeerNode}),
        true = erpc:call(PeerNode, erlang, disconnect_node, [Node]),
        {ok, [<<"hello">>, <<"world">>]} = raw_get_state(PeerNode, {stack, Node}),
        ?recv({rex_asked, PeerNode})
    after
        peer:stop(Peer)
    end.

-spec sys_get_state_reply_before_down(config()) -> term().
sys_get_state_reply_before_down(Config) ->
    doc("A server that stops while its get_state reply waits for the caller's "
        "release sends it first ({ok, State}), so the caller gets the state, "
        "not the DOWN."),
    Node = ?config(node, Config),
    Pid = probe(Node),
    {Peer, PeerNode} = start_peer(silent),
    Self = self(),
    try
        _ = erpc:call(PeerNode, erlang, spawn,
                      [fun() -> Self ! {got, catch gen:call(Pid, system, get_state)} end]),
        ?recv({rex_asked, PeerNode}),
        ok = gen_server:stop(Pid),
        {got, {ok, {ok, {gs_probe_state, Self, 1}}}} = ?recv({got, _}, 1000)
    after
        peer:stop(Peer)
    end.

-spec sys_get_state_local_caller(config()) -> term().
sys_get_state_local_caller(Config) ->
    doc("A C process calling sys:get_state on a C server gets {ok, State}, the "
        "modern form, at once."),
    Node = ?config(node, Config),
    {otpc_probe, Node} ! {spawn, self()},
    {spawned, P} = ?recv({spawned, _}),
    Tag = make_ref(),
    P ! {send, {stack, Node}, {system, {P, Tag}, get_state}},
    ?recv({done, P, send}),
    ?recv({probe_got, P, {Tag, {ok, [<<"hello">>, <<"world">>]}}}).

-spec sys_get_status(config()) -> term().
sys_get_status(Config) ->
    doc("sys:get_status/1 answers in gen_server's shape."),
    Node = ?config(node, Config),
    {status, Pid, {module, gen_server}, [PDict, running, Parent, [], Fmt]} =
        sys:get_status({echo, Node}),
    Node = node(Pid),
    {echo, init, 1} = proplists:get_value('$initial_call', PDict),
    Parent = rpc_whereis(Node, otpc_sup),
    [{header, "Status for generic server echo"},
     {data, [{"Status", running}, {"Parent", Parent}, {"Logged events", []}]},
     {data, [{"State", {echo, _, _, _}}]}] = Fmt.

-spec sys_log_and_statistics(config()) -> term().
sys_log_and_statistics(Config) ->
    doc("sys:log/2 keeps gen_server's events, sys:statistics/2 counts messages, "
        "get_status shows both, no_debug clears them."),
    Node = ?config(node, Config),
    {ok, P} = otpc:start(Node, echo, undefined, []),
    ok = sys:log(P, true),
    ok = sys:statistics(P, true),
    ping = gen_server:call(P, ping),
    ok = gen_server:cast(P, hello),
    {two, 2} = gen_server:call(P, {two, 2}),
    Self = self(),
    {ok, [{in, {'$gen_call', {Self, _}, ping}},
          {out, ping, {Self, _}, {echo, 1, 0, 0}},
          {in, {'$gen_cast', hello}},
          {noreply, {echo, 1, 1, 0}},
          {in, {'$gen_call', {Self, _}, {two, 2}}},
          {out, {two, 2}, {Self, _}, {echo, 2, 1, 0}}]} = sys:log(P, get),
    {ok, [{start_time, {{_, _, _}, {_, _, _}}}, {current_time, _}, {reductions, _},
          {messages_in, 3}, {messages_out, 2}]} = sys:statistics(P, get),
    {status, P, _, [_, running, _, Debug, _]} = sys:get_status(P),
    {10, [_ | _]} = proplists:get_value(log, Debug),
    {_, 3, 2} = proplists:get_value(statistics, Debug),
    ok = sys:log(P, {true, 2}),
    x = gen_server:call(P, x),
    {ok, [{in, _}, {out, x, _, _}]} = sys:log(P, get),
    ok = sys:no_debug(P),
    {ok, []} = sys:log(P, get),
    {ok, no_statistics} = sys:statistics(P, get),
    {status, P, _, [_, running, _, [], _]} = sys:get_status(P),
    ok = gen_server:stop(P).

-spec sys_trace_and_log_to_file(config()) -> term().
sys_trace_and_log_to_file(Config) ->
    doc("sys:trace/2 prints each event through the node's log (to this node's "
        "logger); sys:log_to_file/2 writes them to a file on the node's machine."),
    Node = ?config(node, Config),
    {ok, P} = otpc:start(Node, echo, undefined, [{name, traced_echo}]),
    ok = logger:add_handler(dbg_catch, ?MODULE, #{config => self()}),
    ok = sys:trace(P, true),
    ping = gen_server:call(P, ping),
    _ = ?recv({dbg_line, "*DBG* traced_echo got call ping from " ++ _}),
    _ = ?recv({dbg_line, "*DBG* traced_echo sent ping to " ++ _}),
    ok = sys:trace(P, false),
    File = filename:join(?config(priv_dir, Config), "sys_log_to_file.txt"),
    ok = sys:log_to_file(P, File),
    ok = gen_server:cast(P, hi),
    pong = gen_server:call(P, pong),
    ok = sys:log_to_file(P, false),
    {ok, Text} = file:read_file(File),
    [<<"*DBG* traced_echo got cast hi">>, <<"*DBG* traced_echo new state ", _/binary>>,
     <<"*DBG* traced_echo got call pong from ", _/binary>>,
     <<"*DBG* traced_echo sent pong to ", _/binary>>] =
        binary:split(Text, <<"\n">>, [global, trim]),
    {error, open_file} = sys:log_to_file(P, "/nonexistent/dir/x.txt"),
    ok = logger:remove_handler(dbg_catch),
    ok = gen_server:stop(P).

-spec sys_debug_refusals(config()) -> term().
sys_debug_refusals(Config) ->
    doc("sys:install/2 of an Erlang fun is refused with a clear error."),
    Node = ?config(node, Config),
    {ok, P} = otpc:start(Node, echo, undefined, []),
    {error, {not_supported, install}} = sys:install(P, {fun(S, _, _) -> S end, []}),
    {error, {not_supported, remove}} = sys:remove(P, fun(S, _, _) -> S end),
    ok = gen_server:stop(P).

%% logger handler callback for sys_trace_and_log_to_file: *DBG* lines to the case.
-spec log(logger:log_event(), logger:handler_config()) -> ok.
log(#{msg := {Format, Args}}, #{config := Pid}) when is_list(Format) ->
    Line = lists:flatten(io_lib:format(Format, Args)),
    case string:find(Line, "*DBG*") of
        nomatch -> ok;
        Dbg -> Pid ! {dbg_line, Dbg}, ok
    end;
log(_, _) ->
    ok.

-spec sys_suspend_resume(config()) -> term().
sys_suspend_resume(Config) ->
    doc("A suspended server answers only system messages; held messages are "
        "handled in order on resume."),
    Pid = probe(?config(node, Config)),
    ok = sys:suspend(Pid),
    Self = self(),
    spawn_link(fun() ->
                       R = gen_server:call(Pid, {reply, held}),
                       Self ! {caller, R}
               end),
    ok = gen_server:cast(Pid, {noreply, none}),
    %% A system message is still answered; the call and cast are not.
    {status, Pid, _, [_, suspended | _]} = sys:get_status(Pid),
    ?refute({caller, _}),
    ?refute({gs_probe, Pid, handle_cast, _}),
    ok = sys:resume(Pid),
    {caller, held} = ?recv({caller, _}),
    ?recv({gs_probe, Pid, handle_cast, {noreply, none}}).

-spec sys_change_code(config()) -> term().
sys_change_code(Config) ->
    doc("sys:change_code/4 on a suspended server runs code_change."),
    Pid = probe(?config(node, Config)),
    ok = sys:suspend(Pid),
    ok = sys:change_code(Pid, gs_probe, "1", extra),
    ?recv({gs_probe, Pid, code_change, {"1", extra}}),
    ok = sys:resume(Pid).

-spec sys_replace_state_refused(config()) -> term().
sys_replace_state_refused(Config) ->
    doc("sys:replace_state/2 cannot run an Erlang fun on a C state: a clear error."),
    Pid = probe(?config(node, Config)),
    {'EXIT', {{callback_failed, {gs_probe, system_replace_state},
               {error, c_state_has_no_erlang_form}}, _}} =
        (catch sys:replace_state(Pid, fun(S) -> S end)),
    {'EXIT', {{callback_failed, {gs_probe, system_replace_state}, _}, _}} =
        (catch sys:replace_state(Pid, fun(S) -> S end, 5000)),
    %% ... and the server carries on.
    still = gen_server:call(Pid, {reply, still}).

-spec gen_server_stop(config()) -> term().
gen_server_stop(Config) ->
    doc("gen_server:stop/1 stops a C server: terminate(normal), then ok."),
    Pid = probe(?config(node, Config)),
    ok = gen_server:stop(Pid),
    ?recv({gs_probe, Pid, terminate, normal}),
    false = is_process_alive_remote(Pid).

-spec gen_server_stop_reason(config()) -> term().
gen_server_stop_reason(Config) ->
    doc("gen_server:stop/3 with a reason, by registered name."),
    Node = ?config(node, Config),
    {ok, Pid} = otpc:start(Node, gs_probe, {self(), ok, false}, [{name, to_stop}]),
    ok = gen_server:stop({to_stop, Node}, {shutdown, bye}, 5000),
    ?recv({gs_probe, Pid, terminate, {shutdown, bye}}).

%%% ------------------------------------------------------------------
%%% supervision
%%% ------------------------------------------------------------------

-spec sup_restarts_permanent(config()) -> term().
sup_restarts_permanent(Config) ->
    doc("A killed permanent child comes back with its initial argument."),
    Node = ?config(node, Config),
    <<"hello">> = gen_server:call({stack, Node}, pop),
    Old = rpc_whereis(Node, stack),
    exit(Old, kill),
    New = wait_for_name(Node, stack, Old),
    <<"hello">> = gen_server:call(New, pop).

-spec sup_which_and_count_children(config()) -> term().
sup_which_and_count_children(Config) ->
    doc("supervisor:which_children/1 and count_children/1 work on the C supervisor."),
    Node = ?config(node, Config),
    [{echo, E, worker, [echo]}, {stack, S, worker, [stack]}, {ch3, C, worker, [ch3]}] =
        supervisor:which_children({otpc_sup, Node}),
    [E, S, C] = [rpc_whereis(Node, N) || N <- [echo, stack, ch3]],
    [{specs, 3}, {active, 3}, {supervisors, 0}, {workers, 3}] =
        supervisor:count_children({otpc_sup, Node}),
    [{specs, 4}, {active, 4}, {supervisors, 0}, {workers, 4}] =
        supervisor:count_children({probe_sup, Node}).

-spec sup_transient_and_temporary(config()) -> term().
sup_transient_and_temporary(Config) ->
    doc("transient: restarted after an abnormal exit only; temporary: never."),
    Node = ?config(node, Config),
    Temp = rpc_whereis(Node, p_temp),
    MT = erlang:monitor(process, Temp),
    exit(Temp, kill),
    killed = down(MT),
    Trans = rpc_whereis(Node, p_trans),
    exit(Trans, kill),
    Trans2 = wait_for_name(Node, p_trans, Trans),
    M2 = erlang:monitor(process, Trans2),
    ok = gen_server:stop(Trans2),
    normal = down(M2),
    %% A barrier through the supervisor: it has handled both exits by now.
    Children = supervisor:which_children({probe_sup, Node}),
    {p_trans, undefined, worker, [echo]} = lists:keyfind(p_trans, 1, Children),
    {p_temp, undefined, worker, [echo]} = lists:keyfind(p_temp, 1, Children),
    {p_perm, P, worker, [echo]} = lists:keyfind(p_perm, 1, Children),
    true = is_pid(P).

-spec sup_intensity(config()) -> term().
sup_intensity(Config) ->
    doc("More than `intensity` restarts within `period` make the supervisor shut "
        "down its children and exit with shutdown; a trapping child runs "
        "terminate(shutdown)."),
    Node = ?config(node, Config),
    ok = gen_server:call({p_trap, Node}, {observe, self()}),
    Trap = rpc_whereis(Node, p_trap),
    Sup = rpc_whereis(Node, probe_sup),
    MS = erlang:monitor(process, Sup),
    P1 = rpc_whereis(Node, p_perm),
    exit(P1, kill),
    P2 = wait_for_name(Node, p_perm, P1),
    exit(P2, kill),
    P3 = wait_for_name(Node, p_perm, P2),
    Trans = rpc_whereis(Node, p_trans),
    MT = erlang:monitor(process, Trans),
    exit(P3, kill),
    shutdown = down(MS),
    shutdown = down(MT),
    ?recv({gs_probe, Trap, terminate, shutdown}),
    %% The node's own supervisor is untouched.
    <<"hello">> = gen_server:call({stack, Node}, pop).

%%% ------------------------------------------------------------------
%%% interop
%%% ------------------------------------------------------------------

-spec multi_call_and_abcast(config()) -> term().
multi_call_and_abcast(Config) ->
    doc("gen_server:multi_call/abcast across two C nodes (tags {Ref, Node})."),
    N1 = ?config(node, Config),
    {ok, N2} = start_c_node(multi_call_and_abcast_2),
    {Replies, []} = gen_server:multi_call([N1, N2], echo, hello),
    Expected = lists:sort([{N1, hello}, {N2, hello}]),
    Expected = lists:sort(Replies),
    abcast = gen_server:abcast([N1, N2], echo, counted),
    [#{casts := 1} = gen_server:call({echo, N}, '$stats') || N <- [N1, N2]],
    ok.

-spec echo_property(config()) -> term().
echo_property(Config) ->
    doc("PropEr: random terms of every type come back from echo equal."),
    Node = ?config(node, Config),
    Prop = ?FORALL(T, term_gen(),
                   gen_server:call({echo, Node}, T) =:= T),
    true = proper:quickcheck(Prop, [{numtests, 300}, {max_size, 40},
                                    {on_output, fun ct:pal/2}]).

-spec elixir_call(config()) -> term().
elixir_call(Config) ->
    doc("Elixir: GenServer.call({:stack, node}, :pop) and :sys.get_state from a "
        "real elixir node."),
    Node = ?config(node, Config),
    Elixir = os:find_executable("elixir"),
    true = is_list(Elixir),
    Name = lists:concat(["ex_", os:getpid()]),
    Script = lists:flatten(io_lib:format(
                             "IO.inspect(GenServer.call({:stack, :\"~s\"}, :pop)); "
                             "IO.inspect(:sys.get_state({:stack, :\"~s\"}))",
                             [Node, Node])),
    %% stdout only: Elixir warns on stderr when the locale is not UTF-8.
    Port = open_port({spawn_executable, Elixir},
                     [{args, ["--sname", Name, "--cookie", atom_to_list(erlang:get_cookie()),
                              "-e", Script]},
                      {env, [{"LANG", "C.UTF-8"}]}, exit_status, binary]),
    {Out, 0} = collect_output(Port, <<>>),
    ct:log("elixir said: ~s", [Out]),
    <<"\"hello\"\n[\"world\"]\n">> = Out.

%%% ------------------------------------------------------------------
%%% helpers
%%% ------------------------------------------------------------------

collect_output(Port, Acc) ->
    receive
        {Port, {data, D}} -> collect_output(Port, <<Acc/binary, D/binary>>);
        {Port, {exit_status, S}} -> {Acc, S}
    after 60000 -> ct:fail({elixir_timeout, Acc})
    end.

catch_exit(F) ->
    try F() of
        V -> ct:fail({no_exit, V})
    catch
        exit:Reason -> Reason
    end.

%% A peer node of this node's release (a fresh incarnation, not connected to
%% the C node) whose rex is Rex: real, or a fake that tells us {rex_asked,
%% PeerNode} of each release question and answers it {answer, Term}, or not at
%% all (silent), or no rex (none).
start_peer(Rex) ->
    Name = list_to_atom(lists:concat(["sysrel_", erlang:unique_integer([positive]),
                                      "_", os:getpid()])),
    {ok, Peer, PeerNode} =
        peer:start_link(#{name => Name,
                          args => ["-setcookie", atom_to_list(erlang:get_cookie()),
                                   "-pa", filename:dirname(code:which(?MODULE))]}),
    ok = erpc:call(PeerNode, ?MODULE, fake_rex, [Rex, self()]),
    {Peer, PeerNode}.

-spec fake_rex(real | none | silent | {answer, term()}, pid()) -> ok.
fake_rex(real, _Observer) ->
    ok;
fake_rex(none, _Observer) ->
    true = unregister(rex),
    ok;
fake_rex(Rex, Observer) ->
    true = unregister(rex),
    Pid = spawn(fun() -> fake_rex_loop(Rex, Observer) end),
    true = register(rex, Pid),
    ok.

fake_rex_loop(Rex, Observer) ->
    receive
        {'$gen_call', From, {call, erlang, system_info, [otp_release], user}} ->
            Observer ! {rex_asked, node()},
            case Rex of
                {answer, A} -> gen_server:reply(From, A);
                silent -> ok
            end;
        _ ->
            ok
    end,
    fake_rex_loop(Rex, Observer).

%% gen:call's result, {ok, Answer}, for sys:get_state from a process on PeerNode:
%% the raw answer, whatever that node's sys.erl would make of it.
raw_get_state(PeerNode, Server) ->
    erpc:call(PeerNode, gen, call, [Server, system, get_state]).

%% The pid registered as Name on the C node: C servers answer sys:get_status.
rpc_whereis(Node, Name) ->
    {status, Pid, _, _} = sys:get_status({Name, Node}),
    Pid.

%% Waits until Name is registered by a process other than Old.
wait_for_name(Node, Name, Old) ->
    wait_for_name(Node, Name, Old, 200).

wait_for_name(_Node, Name, _Old, 0) ->
    ct:fail({not_restarted, Name});
wait_for_name(Node, Name, Old, N) ->
    case catch rpc_whereis(Node, Name) of
        Pid when is_pid(Pid), Pid =/= Old -> Pid;
        _ -> timer:sleep(10), wait_for_name(Node, Name, Old, N - 1)
    end.

is_process_alive_remote(Pid) ->
    MRef = erlang:monitor(process, Pid),
    receive
        {'DOWN', MRef, process, Pid, noproc} -> false;
        {'DOWN', MRef, process, Pid, _} -> false
    after 1000 ->
            erlang:demonitor(MRef, [flush]),
            true
    end.

%% Terms of every type, including deep nesting.
term_gen() ->
    ?SIZED(S, term_gen(S)).

term_gen(S) when S =< 1 ->
    leaf();
term_gen(S) ->
    frequency([{4, leaf()},
               {1, ?LAZY(list(term_gen(S div 3)))},
               {1, ?LAZY(?LET(L, list(term_gen(S div 3)), list_to_tuple(L)))},
               {1, ?LAZY(?LET(KVs, list({term_gen(S div 4), term_gen(S div 4)}),
                              maps:from_list(KVs)))},
               {1, ?LAZY(?LET({H, T}, {term_gen(S div 2), leaf()}, [H | T]))},
               {1, ?LAZY(?LET({N, T}, {range(1, 3000), leaf()}, nest(N, T)))}]).

leaf() ->
    oneof([integer(), big_int(), float(), unicode_atom(), binary(), bitstring(),
           utf8_binary(), list(range(0, 255)),
           exactly(self()), exactly(make_ref()), exactly(hd(erlang:ports())),
           exactly(fun lists:map/2), closure()]).

big_int() ->
    ?LET({I, E}, {integer(), range(60, 3000)}, (I + 1) * (1 bsl E)).

unicode_atom() ->
    ?LET(Cs, list(oneof([range($a, $z), range(16#C0, 16#24F), range(16#4E00, 16#4E80),
                         range(16#1F600, 16#1F640)])),
         list_to_atom(lists:sublist(Cs, 255))).

utf8_binary() ->
    ?LET(Cs, list(oneof([range(0, 16#D7FF), range(16#E000, 16#10FFFF)])),
         unicode:characters_to_binary(Cs)).

closure() ->
    ?LET(X, integer(), fun(Y) -> X + Y end).

nest(0, T) -> T;
nest(N, T) -> nest(N - 1, {T}).
