%% The supervisor API on C supervisors, from a real Erlang node: each call of
%% the supervisor module, each of its error replies, the strategies and the
%% shutdown timeouts.
%%
%% Where OTP defines the answer, the case runs the same calls against an
%% Erlang supervisor (this module is its callback module) whose children are
%% the same C servers, started by otpc:start_link/4 on the C node, and
%% compares the two answers with pids blanked out.
%%
%% The test node (c_src/test/node/otpc_test_node.c) runs, besides `probe_sup',
%% three empty C supervisors to fill with start_child/2: `probe_sup_one',
%% `probe_sup_all' and `probe_sup_rest' (one_for_one, one_for_all,
%% rest_for_one; 3 restarts in 30 s). Children that must be seen ending are
%% gs_probe servers (c_src/test/node/gs_probe.c) reporting to the case; one
%% that ignores its shutdown is a trapping gs_probe told {linger, Ms}.
-module(otpc_supervisor_SUITE).
-behaviour(supervisor).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([init/1]).
-export([calls_as_otp/1, spec_errors_as_otp/1, start_errors/1,
         c_children_specs/1, any_term_ids/1,
         one_for_all_restarts_all/1, rest_for_one_restarts_later/1,
         one_for_one_restarts_one/1, stop_reply_leaves_with_the_exit/1,
         intensity_one_for_all/1,
         shutdown_timeout_kills/1, shutdown_waits_for_child/1,
         shutdown_infinity/1, shutdown_brutal_kill/1,
         intensity_shuts_down_with_timeouts/1, stopped_from_outside/1]).

-type config() :: [{atom(), term()}].

-define(TIMEOUT, 5000).

-include("otpc_ct.hrl").

-spec suite() -> [tuple()].
suite() ->
    [{timetrap, {minutes, 2}}].

-spec all() -> [atom()].
all() ->
    [calls_as_otp, spec_errors_as_otp, start_errors, c_children_specs, any_term_ids,
     one_for_all_restarts_all, rest_for_one_restarts_later, one_for_one_restarts_one,
     stop_reply_leaves_with_the_exit, intensity_one_for_all, shutdown_timeout_kills, shutdown_waits_for_child,
     shutdown_infinity, shutdown_brutal_kill, intensity_shuts_down_with_timeouts,
     stopped_from_outside].

-spec init_per_suite(config()) -> config() | {skip, string()}.
init_per_suite(Config) ->
    otpc_ct_node:init_per_suite(Config).

-spec end_per_suite(config()) -> ok.
end_per_suite(Config) ->
    otpc_ct_node:end_per_suite(Config).

-spec init_per_testcase(atom(), config()) -> config() | {fail, term()}.
init_per_testcase(Case, Config) ->
    Name = list_to_atom(lists:concat(["s_", Case, "_", os:getpid()])),
    case otpc:start_node(#{name => Name, args => ["-probe" | node_args(Case)]}) of
        {ok, Node} -> [{node, Node} | Config];
        Error -> {fail, {start_node, Name, Error}}
    end.

%% Three schedulers, so that a child and the connection to us may live on
%% different ones; every move from one scheduler's lock to all of them pauses
%% 2 ms where the node holds neither (see stop_reply_leaves_with_the_exit).
node_args(stop_reply_leaves_with_the_exit) -> ["-schedulers", "3", "-escalate_pause"];
node_args(_) -> [].

-spec end_per_testcase(atom(), config()) -> ok | {fail, term()}.
end_per_testcase(_Case, Config) ->
    _ = (catch otpc:stop_node(?config(node, Config))),
    receive
        {otpc_node_down, Node, Reason} -> {fail, {node_died, Node, Reason}}
    after 0 ->
            ok
    end.

%% The reference: an Erlang supervisor of the given strategy, no children.
-spec init(atom()) -> {ok, {supervisor:sup_flags(), []}}.
init(Strategy) ->
    {ok, {#{strategy => Strategy, intensity => 3, period => 30}, []}}.

doc(String) ->
    ct:comment(String).

erlang_sup(Strategy) ->
    {ok, Sup} = supervisor:start_link(?MODULE, Strategy),
    unlink(Sup),
    Sup.

%% Pids blanked: the two supervisors' children are different processes.
blank(P) when is_pid(P) -> pid;
blank(A) when A =:= named_erl; A =:= named_c -> named;
blank(A) when A =:= other_erl; A =:= other_c -> other;
blank(T) when is_tuple(T) -> list_to_tuple(blank(tuple_to_list(T)));
blank([H | T]) -> [blank(H) | blank(T)];
blank(M) when is_map(M) -> maps:map(fun(_, V) -> blank(V) end, M);
blank(X) -> X.

start(Node, Module, Arg) ->
    {otpc, start_link, [Node, Module, Arg, []]}.

start(Node, Module, Arg, Opts) ->
    {otpc, start_link, [Node, Module, Arg, Opts]}.

%% A gs_probe child reporting to the case, trapping exits.
probe_spec(Node, Id, Extra) ->
    maps:merge(#{id => Id, start => start(Node, gs_probe, {self(), ok, true})}, Extra).

started({ok, Pid}) when is_pid(Pid) ->
    ?recv({gs_probe, Pid, init, _}),
    Pid.

down(MRef) ->
    {'DOWN', MRef, process, _, Reason} = ?recv({'DOWN', MRef, process, _, _}),
    Reason.

children(Sup) ->
    [{Id, Pid} || {Id, Pid, _, _} <- supervisor:which_children(Sup)].

%%% ------------------------------------------------------------------
%%% the calls, compared with OTP's
%%% ------------------------------------------------------------------

%% Every call and every reply of the supervisor API, against Sup; Tag keeps
%% the registered names of the two runs apart.
script(Sup, Node, Tag) ->
    Echo = start(Node, echo, undefined),
    Named = list_to_atom("named_" ++ Tag),
    Other = list_to_atom("other_" ++ Tag),
    AnyId = {any, "term", <<"id">>, 1},
    [supervisor:start_child(Sup, #{id => a, start => Echo}),
     supervisor:start_child(Sup, #{id => a, start => Echo}),
     supervisor:start_child(Sup, {b, Echo, transient, brutal_kill, worker, dynamic}),
     supervisor:which_children(Sup),
     count(Sup),
     supervisor:get_childspec(Sup, a),
     supervisor:get_childspec(Sup, b),
     supervisor:get_childspec(Sup, nope),
     supervisor:terminate_child(Sup, a),
     supervisor:terminate_child(Sup, a),
     supervisor:terminate_child(Sup, nope),
     supervisor:start_child(Sup, #{id => a, start => Echo}),
     supervisor:which_children(Sup),
     count(Sup),
     supervisor:restart_child(Sup, a),
     supervisor:restart_child(Sup, a),
     supervisor:restart_child(Sup, nope),
     supervisor:delete_child(Sup, a),
     supervisor:delete_child(Sup, nope),
     supervisor:terminate_child(Sup, a),
     supervisor:delete_child(Sup, a),
     supervisor:restart_child(Sup, a),
     supervisor:get_childspec(Sup, a),
     supervisor:start_child(Sup, #{id => t, start => Echo, restart => temporary}),
     supervisor:terminate_child(Sup, t),
     supervisor:get_childspec(Sup, t),
     supervisor:start_child(Sup, #{id => AnyId, start => Echo, shutdown => infinity,
                                   modules => [echo]}),
     supervisor:get_childspec(Sup, AnyId),
     supervisor:terminate_child(Sup, AnyId),
     %% a pid is no id (for a supervisor that is not simple_one_for_one)
     begin
         [{b, B, _, _}] = [C || {b, _, _, _} = C <- supervisor:which_children(Sup)],
         supervisor:terminate_child(Sup, B)
     end,
     %% init returning ignore: kept without a pid, unless temporary
     supervisor:start_child(Sup, #{id => ig, start => start(Node, gs_probe, {none, ignore, false})}),
     supervisor:start_child(Sup, #{id => ig_temp, restart => temporary,
                                   start => start(Node, gs_probe, {none, ignore, false})}),
     supervisor:restart_child(Sup, ig),
     %% init stopping, an unknown module, a name already taken
     supervisor:start_child(Sup, #{id => st, start => start(Node, gs_probe, {none, {stop, because}, false})}),
     supervisor:start_child(Sup, #{id => um, start => start(Node, nope, [])}),
     supervisor:start_child(Sup, #{id => n1, start => start(Node, echo, undefined, [{name, Named}])}),
     supervisor:start_child(Sup, #{id => n2, start => start(Node, echo, undefined, [{name, Named}])}),
     supervisor:terminate_child(Sup, n1),
     {ok, _} = otpc:start(Node, echo, undefined, [{name, Other}]),
     supervisor:restart_child(Sup, n1),
     supervisor:start_child(Sup, #{id => n3, start => start(Node, echo, undefined, [{name, Other}])}),
     supervisor:which_children(Sup),
     count(Sup)].

%% count_children/1: an Erlang supervisor of remote children cannot answer it
%% (it asks is_process_alive/1 of a remote pid), so for it the case counts
%% what which_children/1 shows, as it would count local children.
count(Sup) when is_pid(Sup) ->
    Children = supervisor:which_children(Sup),
    N = length(Children),
    [{specs, N}, {active, length([P || {_, P, _, _} <- Children, is_pid(P)])},
     {supervisors, 0}, {workers, N}];
count(Sup) ->
    supervisor:count_children(Sup).

-spec calls_as_otp(config()) -> term().
calls_as_otp(Config) ->
    doc("start_child (map and tuple), terminate_child, restart_child, delete_child, "
        "get_childspec, which_children and count_children answer as an Erlang "
        "supervisor does, in every case, errors included."),
    Node = ?config(node, Config),
    Ref = blank(script(erlang_sup(one_for_one), Node, "erl")),
    C = blank(script({probe_sup_one, Node}, Node, "c")),
    ct:log("OTP: ~p~nC:   ~p", [Ref, C]),
    [{N, R, X} || {N, R, X} <- lists:zip3(lists:seq(1, length(Ref)), Ref, C), R =/= X] =:= []
        orelse ct:fail({differ, [{N, R, X} || {N, R, X} <- lists:zip3(lists:seq(1, length(Ref)),
                                                                       Ref, C), R =/= X]}),
    %% and the children are really there: echo answers under its name
    hello = gen_server:call({named_c, Node}, hello).

-spec spec_errors_as_otp(config()) -> term().
spec_errors_as_otp(Config) ->
    doc("Each fault in a child spec gets OTP's error term, the first fault in OTP's "
        "order of checks."),
    Node = ?config(node, Config),
    S = start(Node, echo, undefined),
    Bad = [foo, #{start => S}, #{id => x}, #{id => x, start => foo},
           #{id => x, start => {otpc, start_link, notalist}},
           #{id => x, start => S, restart => sometimes},
           #{id => x, start => S, restart => sometimes, type => boss},
           #{id => x, start => S, significant => true},
           #{id => x, start => S, restart => temporary, significant => true},
           #{id => x, start => S, significant => 3},
           #{id => x, start => S, type => boss},
           #{id => x, start => S, shutdown => -1},
           #{id => x, start => S, shutdown => soon},
           #{id => x, start => S, modules => echo},
           #{id => x, start => S, modules => [echo, 1]},
           #{id => x, start => S, modules => "ab"},
           {x, S, permanent, 5000, worker},
           {x, S, forever, 5000, worker, []},
           {x, S, permanent, 5000, worker, [1]},
           {x, S, permanent, brutal, worker, []}],
    Ref = [supervisor:start_child(erlang_sup(one_for_one), B) || B <- Bad],
    C = [supervisor:start_child({probe_sup_one, Node}, B) || B <- Bad],
    ct:log("OTP: ~p~nC:   ~p", [Ref, C]),
    Ref = C,
    %% valid specs with keys OTP does not know, a large shutdown, a supervisor type
    {ok, _} = supervisor:start_child({probe_sup_one, Node},
                                     #{id => y, start => S, extra => ignored,
                                       shutdown => 1 bsl 70}),
    {ok, #{shutdown := infinity}} = supervisor:get_childspec({probe_sup_one, Node}, y),
    {ok, _} = supervisor:start_child({probe_sup_one, Node},
                                     #{id => z, start => S, type => supervisor}),
    {ok, #{shutdown := infinity, type := supervisor}} =
        supervisor:get_childspec({probe_sup_one, Node}, z),
    [{specs, 2}, {active, 2}, {supervisors, 1}, {workers, 1}] =
        supervisor:count_children({probe_sup_one, Node}).

-spec start_errors(config()) -> term().
start_errors(Config) ->
    doc("A start a C supervisor cannot run is a start error naming why, with "
        "OTP's child record: not otpc:start_link/4, another node, bad options."),
    Node = ?config(node, Config),
    Sup = {probe_sup_one, Node},
    Rec = fun(Id, Start, Mods) ->
                  {child, undefined, Id, Start, permanent, false, 5000, worker, Mods}
          end,
    F1 = {erlang, self, []},
    {error, {{unsupported_start, F1}, R1}} = supervisor:start_child(Sup, #{id => x, start => F1}),
    R1 = Rec(x, F1, [erlang]),
    F2 = {otpc, start_link, [Node, echo, undefined]},
    {error, {{unsupported_start, F2}, _}} = supervisor:start_child(Sup, #{id => x, start => F2}),
    F3 = start('other@nowhere', echo, undefined),
    {error, {{not_this_node, 'other@nowhere'}, R3}} =
        supervisor:start_child(Sup, #{id => x, start => F3}),
    R3 = Rec(x, F3, [otpc]),
    F4 = start(Node, echo, undefined, notalist),
    {error, {{invalid_opts, notalist}, _}} = supervisor:start_child(Sup, #{id => x, start => F4}),
    F5 = start(Node, echo, undefined, [{name, "str"}]),
    {error, {{invalid_opts, [{name, "str"}]}, _}} =
        supervisor:start_child(Sup, #{id => x, start => F5}),
    [] = supervisor:which_children(Sup),
    %% a call the supervisor module does not make
    {error, not_supported} = gen_server:call(Sup, what).

-spec c_children_specs(config()) -> term().
c_children_specs(Config) ->
    doc("Children from C specs have ids as atoms and specs whose start is the "
        "otpc:start_link/4 that would start them, with their shutdown."),
    Node = ?config(node, Config),
    {ok, #{id := p_perm, start := {otpc, start_link, [Node, echo, undefined, [{name, p_perm}]]},
           restart := permanent, shutdown := 5000, type := worker, modules := [echo],
           significant := false}} = supervisor:get_childspec({probe_sup, Node}, p_perm),
    {ok, #{restart := temporary, shutdown := brutal_kill}} =
        supervisor:get_childspec({probe_sup, Node}, p_temp),
    {ok, #{start := {otpc, start_link, [Node, stack, "hello,world", [{name, stack}]]}}} =
        supervisor:get_childspec({otpc_sup, Node}, stack),
    %% restart_child of a C child, after terminate_child: the same arg again
    <<"hello">> = gen_server:call({stack, Node}, pop),
    ok = supervisor:terminate_child({otpc_sup, Node}, stack),
    {error, running} = supervisor:restart_child({otpc_sup, Node}, echo),
    {ok, S} = supervisor:restart_child({otpc_sup, Node}, stack),
    <<"hello">> = gen_server:call(S, pop),
    %% a C spec as a template: the spec it gives back starts the same child
    {ok, Spec} = supervisor:get_childspec({otpc_sup, Node}, echo),
    {error, {already_started, _}} = supervisor:start_child({otpc_sup, Node}, Spec),
    {ok, E2} = supervisor:start_child({probe_sup_one, Node},
                                      Spec#{start := start(Node, echo, undefined)}),
    hi = gen_server:call(E2, hi).

-spec any_term_ids(config()) -> term().
any_term_ids(Config) ->
    doc("Ids are any term: each call finds a child by an equal term."),
    Node = ?config(node, Config),
    Sup = {probe_sup_one, Node},
    Ids = [{a, 1}, "str", <<"bin">>, 123456789012, -1, [x | y], #{k => v}, 'ünïcode', 1.5],
    [{ok, _} = supervisor:start_child(Sup, #{id => Id, start => start(Node, echo, undefined)})
     || Id <- Ids],
    Listed = [Id || {Id, _, _, _} <- supervisor:which_children(Sup)],
    Listed = lists:reverse(Ids),
    [{ok, #{id := Id}} = supervisor:get_childspec(Sup, Id) || Id <- Ids],
    [ok = supervisor:terminate_child(Sup, Id) || Id <- Ids],
    [ok = supervisor:delete_child(Sup, Id) || Id <- Ids],
    [] = supervisor:which_children(Sup).

%%% ------------------------------------------------------------------
%%% strategies
%%% ------------------------------------------------------------------

%% Three trapping gs_probe children a, b, c (in that start order).
three(Sup, Node) ->
    [started(supervisor:start_child(Sup, probe_spec(Node, Id, #{}))) || Id <- [a, b, c]].

-spec one_for_all_restarts_all(config()) -> term().
one_for_all_restarts_all(Config) ->
    doc("one_for_all: a child's crash shuts the others down, newest first, and "
        "starts them all again in start order."),
    Node = ?config(node, Config),
    Sup = {probe_sup_all, Node},
    [A, B, C] = three(Sup, Node),
    exit(B, kill),
    {gs_probe, C, terminate, shutdown} = ?recv({gs_probe, _, terminate, _}),
    {gs_probe, A, terminate, shutdown} = ?recv({gs_probe, _, terminate, _}),
    A2 = ?recv({gs_probe, _, init, _}),
    B2 = ?recv({gs_probe, _, init, _}),
    C2 = ?recv({gs_probe, _, init, _}),
    [{c, C3}, {b, B3}, {a, A3}] = children(Sup),
    [A3, B3, C3] = [element(2, M) || M <- [A2, B2, C2]],
    [false, false, false] = [lists:member(P, [A, B, C]) || P <- [A3, B3, C3]].

-spec rest_for_one_restarts_later(config()) -> term().
rest_for_one_restarts_later(Config) ->
    doc("rest_for_one: the children started after the crashed one are shut down "
        "and restarted with it; those before are untouched."),
    Node = ?config(node, Config),
    Sup = {probe_sup_rest, Node},
    [A, B, C] = three(Sup, Node),
    exit(B, kill),
    ?recv({gs_probe, C, terminate, shutdown}),
    {gs_probe, B2, init, _} = ?recv({gs_probe, _, init, _}),
    {gs_probe, C2, init, _} = ?recv({gs_probe, _, init, _}),
    [{c, C2}, {b, B2}, {a, A}] = children(Sup),
    %% the first child's crash takes them all
    exit(A, kill),
    {gs_probe, C2, terminate, shutdown} = ?recv({gs_probe, _, terminate, _}),
    {gs_probe, B2, terminate, shutdown} = ?recv({gs_probe, _, terminate, _}),
    [_, _, _] = [?recv({gs_probe, _, init, _}) || _ <- [a, b, c]],
    ?refute({gs_probe, _, terminate, _}),
    false = lists:member(A, [P || {_, P} <- children(Sup)]).

-spec one_for_one_restarts_one(config()) -> term().
one_for_one_restarts_one(Config) ->
    doc("one_for_one, for children added from Erlang: only the crashed one comes "
        "back; a transient child that ends normally stays down."),
    Node = ?config(node, Config),
    Sup = {probe_sup_one, Node},
    [A, B, C] = three(Sup, Node),
    exit(B, kill),
    {gs_probe, B2, init, _} = ?recv({gs_probe, _, init, _}),
    [{c, C}, {b, B2}, {a, A}] = children(Sup),
    {ok, T} = supervisor:start_child(Sup, probe_spec(Node, t, #{restart => transient})),
    ?recv({gs_probe, T, init, _}),
    ok = gen_server:call(T, {stop, normal, ok}),
    [{t, undefined}, {c, C}, {b, B2}, {a, A}] = children(Sup),
    ?refute({gs_probe, _, init, _}).

%% The reply of {stop, normal, Reply} goes out with the server's exit, never
%% before it: a caller that has the reply and asks the supervisor at once finds
%% the child gone. It once left early, seen now and then under ThreadSanitizer:
%% the server's thread let go of its scheduler's lock to take every lock for the
%% exit, and meanwhile another thread wrote that scheduler's output (or the
%% connection's scheduler wrote a reply queued for it). The node pauses in that
%% window (-escalate_pause), so the early reply would show every time.
-spec stop_reply_leaves_with_the_exit(config()) -> term().
stop_reply_leaves_with_the_exit(Config) ->
    doc("200 transient children each stop with {stop, normal, ok}: right after "
        "the reply, which_children shows every one of them gone."),
    Node = ?config(node, Config),
    Sup = {probe_sup_one, Node},
    Spec = #{id => t, restart => transient,
             start => start(Node, gs_probe, {none, ok, true})},
    Early = [I || I <- lists:seq(1, 200), early =:= stop_once(Sup, Spec)],
    ct:log("replies that came before their server's exit: ~p", [Early]),
    [] = Early.

stop_once(Sup, Spec) ->
    {ok, T} = supervisor:start_child(Sup, Spec),
    ok = gen_server:call(T, {stop, normal, ok}),
    Seen = case children(Sup) of
               [{t, undefined}] -> ok;
               [{t, T}] -> early
           end,
    gone(Sup, 100),
    ok = supervisor:delete_child(Sup, t),
    Seen.

gone(Sup, Tries) ->
    case children(Sup) of
        [{t, undefined}] -> ok;
        _ when Tries > 0 -> timer:sleep(10), gone(Sup, Tries - 1)
    end.

-spec intensity_one_for_all(config()) -> term().
intensity_one_for_all(Config) ->
    doc("More than `intensity` restarts within `period` stop a one_for_all "
        "supervisor too: its children shut down, it exits with shutdown."),
    Node = ?config(node, Config),
    Sup = {probe_sup_all, Node},
    [A, _, _] = three(Sup, Node),
    SupPid = sup_pid(Node, probe_sup_all),
    MS = erlang:monitor(process, SupPid),
    kill_first(Sup, A, 3),
    [{a, Last} | _] = lists:reverse(children(Sup)),
    exit(Last, kill),
    shutdown = down(MS).

kill_first(_Sup, _A, 0) ->
    ok;
kill_first(Sup, A, N) ->
    exit(A, kill),
    [_, _, _] = [?recv({gs_probe, _, init, _}) || _ <- [a, b, c]],
    [{a, A2} | _] = lists:reverse(children(Sup)),
    kill_first(Sup, A2, N - 1).

sup_pid(Node, Name) ->
    {status, Pid, _, _} = sys:get_status({Name, Node}),
    Pid.

%%% ------------------------------------------------------------------
%%% shutdown
%%% ------------------------------------------------------------------

%% A lingering child (it ignores its supervisor's exit signal for Linger ms,
%% then ends with its reason) with the given shutdown; terminate_child from
%% another process. Returns {Reason the child ended with, ms terminate_child
%% took}, having checked that the node answered meanwhile.
terminate_lingering(Node, Shutdown, Linger) ->
    Sup = {probe_sup_one, Node},
    P = started(supervisor:start_child(Sup, probe_spec(Node, l, #{shutdown => Shutdown}))),
    ok = gen_server:call(P, {linger, Linger}),
    M = erlang:monitor(process, P),
    Self = self(),
    T0 = erlang:monotonic_time(millisecond),
    spawn_link(fun() -> Self ! {terminated, supervisor:terminate_child(Sup, l)} end),
    %% the child sees the signal as a message, and the node does not wait on it
    ?recv({gs_probe, P, handle_info, {'EXIT', _, shutdown}}),
    hello = gen_server:call({echo, Node}, hello),
    {terminated, ok} = ?recv({terminated, _}, 10000),
    Took = erlang:monotonic_time(millisecond) - T0,
    Reason = down(M),
    [{l, undefined}] = children(Sup),
    {Reason, Took}.

-spec shutdown_timeout_kills(config()) -> term().
shutdown_timeout_kills(Config) ->
    doc("A child still there when its shutdown time runs out is killed; "
        "terminate_child answers once it is gone, the node working meanwhile."),
    Node = ?config(node, Config),
    {killed, Took} = terminate_lingering(Node, 300, infinity),
    true = Took >= 300.

-spec shutdown_waits_for_child(config()) -> term().
shutdown_waits_for_child(Config) ->
    doc("A child that ends within its shutdown time is not killed: the supervisor "
        "waits for it."),
    Node = ?config(node, Config),
    {shutdown, Took} = terminate_lingering(Node, 5000, 300),
    true = Took >= 300 andalso Took < 5000.

-spec shutdown_infinity(config()) -> term().
shutdown_infinity(Config) ->
    doc("shutdown => infinity waits as long as the child takes."),
    Node = ?config(node, Config),
    {shutdown, Took} = terminate_lingering(Node, infinity, 600),
    true = Took >= 600.

-spec shutdown_brutal_kill(config()) -> term().
shutdown_brutal_kill(Config) ->
    doc("brutal_kill: killed at once, even a trapping child; terminate does not run."),
    Node = ?config(node, Config),
    Sup = {probe_sup_one, Node},
    P = started(supervisor:start_child(Sup, probe_spec(Node, b, #{shutdown => brutal_kill}))),
    M = erlang:monitor(process, P),
    ok = supervisor:terminate_child(Sup, b),
    killed = down(M),
    ?refute({gs_probe, P, terminate, _}).

-spec intensity_shuts_down_with_timeouts(config()) -> term().
intensity_shuts_down_with_timeouts(Config) ->
    doc("When the intensity is exceeded the supervisor shuts its children down "
        "one by one, newest first, each with its shutdown (a lingering one killed "
        "after its time), before it exits."),
    Node = ?config(node, Config),
    Sup = {probe_sup_one, Node},
    L = started(supervisor:start_child(Sup, probe_spec(Node, l, #{shutdown => 300}))),
    ok = gen_server:call(L, {linger, infinity}),
    W = started(supervisor:start_child(Sup, probe_spec(Node, w, #{}))),
    SupPid = sup_pid(Node, probe_sup_one),
    [ML, MW, MS] = [erlang:monitor(process, P) || P <- [L, W, SupPid]],
    K = started(supervisor:start_child(Sup, probe_spec(Node, k, #{}))),
    kill_k(Sup, K, 4),
    ?recv({gs_probe, W, terminate, shutdown}),
    shutdown = down(MW),
    ?recv({gs_probe, L, handle_info, {'EXIT', SupPid, shutdown}}),
    killed = down(ML),
    shutdown = down(MS).

kill_k(_Sup, K, 1) ->
    exit(K, kill);
kill_k(Sup, K, N) ->
    exit(K, kill),
    {gs_probe, K2, init, _} = ?recv({gs_probe, _, init, _}),
    kill_k(Sup, K2, N - 1).

-spec stopped_from_outside(config()) -> term().
stopped_from_outside(Config) ->
    doc("A supervisor stopped by gen_server:stop/1 signals its children at once "
        "and cannot wait, but one still there when its shutdown time runs out is "
        "killed all the same."),
    Node = ?config(node, Config),
    Sup = {probe_sup_one, Node},
    L = started(supervisor:start_child(Sup, probe_spec(Node, l, #{shutdown => 300}))),
    ok = gen_server:call(L, {linger, infinity}),
    W = started(supervisor:start_child(Sup, probe_spec(Node, w, #{}))),
    [ML, MW] = [erlang:monitor(process, P) || P <- [L, W]],
    T0 = erlang:monotonic_time(millisecond),
    ok = gen_server:stop(Sup),
    shutdown = down(MW),
    killed = down(ML),
    true = erlang:monotonic_time(millisecond) - T0 >= 300,
    hello = gen_server:call({echo, Node}, hello).
