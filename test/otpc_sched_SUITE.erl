%% Several scheduler threads (`-schedulers N'): callbacks of different
%% processes run in parallel, so a server that computes for a second holds
%% one scheduler, not the node; one process still never runs on two threads.
%%
%% echo's {'$spin', Ms, Reply} burns Ms ms of CPU (thread CPU time, so the
%% same work on a busy machine) inside handle_call. While it spins, the cases
%% call other servers and time them: with two schedulers they answer at once,
%% with one they wait behind the spin (one_scheduler_waits, which shows the
%% timing assertions can fail). "While it spins" is shown by time, not only
%% by order: the spinner cannot answer before Ms ms of wall time, so whatever
%% finished within Ms ms of sending the spin finished while it ran.
%%
%% The latency bound is generous (500 ms; the goal is 50 ms, bench/sched_run
%% measures it) so that sanitizer builds and a loaded machine pass.
-module(otpc_sched_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([spin_does_not_block_others/1, one_scheduler_waits/1,
         two_spinners_in_parallel/1, cross_scheduler_signals/1,
         schedulers_flag_errors/1, one_scheduler_timers_and_streams/1,
         timer_set_by_a_long_callback/1, busy_wait_flag/1,
         dist_calls_take_no_shared_lock/1, calls_across_domains_take_no_shared_lock/1,
         timers_take_no_shared_lock/1, timers_across_domains/1]).

-type config() :: [{atom(), term()}].

-define(TIMEOUT, 10000).
-include("otpc_ct.hrl").

%% echo's spin while ch3 is called, and the bound on each of those calls.
-define(SPIN_MS, 1500).
-define(CALLS, 20).
-define(MAX_LATENCY_MS, 500).

-spec suite() -> [tuple()].
suite() ->
    [{timetrap, {minutes, 2}}].

-spec all() -> [atom()].
all() ->
    [spin_does_not_block_others, one_scheduler_waits, two_spinners_in_parallel,
     cross_scheduler_signals, schedulers_flag_errors, one_scheduler_timers_and_streams,
     timer_set_by_a_long_callback, busy_wait_flag, dist_calls_take_no_shared_lock,
     calls_across_domains_take_no_shared_lock, timers_take_no_shared_lock,
     timers_across_domains].

-spec init_per_suite(config()) -> config() | {skip, string()}.
init_per_suite(Config) ->
    otpc_ct_node:init_per_suite(Config).

-spec end_per_suite(config()) -> ok.
end_per_suite(Config) ->
    otpc_ct_node:end_per_suite(Config).

-spec init_per_testcase(atom(), config()) -> config() | {fail, term()}.
init_per_testcase(schedulers_flag_errors, Config) ->
    Config;
init_per_testcase(busy_wait_flag, Config) ->
    Config;
init_per_testcase(Case, Config) ->
    Args = ["-probe", "-schedulers", integer_to_list(schedulers(Case))],
    case otpc_ct_node:start_case_node("c_", Case, Args) of
        {ok, Node} -> [{node, Node} | Config];
        {fail, _} = Fail -> Fail
    end.

-spec end_per_testcase(atom(), config()) -> ok.
end_per_testcase(_Case, Config) ->
    otpc_ct_node:stop_case_node(Config).

schedulers(one_scheduler_waits) -> 1;
schedulers(one_scheduler_timers_and_streams) -> 1;
schedulers(cross_scheduler_signals) -> 4;
schedulers(calls_across_domains_take_no_shared_lock) -> 3;
schedulers(timers_across_domains) -> 3;
schedulers(_) -> 2.

%%% ------------------------------------------------------------------

-spec timer_set_by_a_long_callback(config()) -> term().
timer_set_by_a_long_callback(Config) ->
    ct:comment("-schedulers 2: a probe sets a 50 ms timer for us, then computes for "
               "1.5 s in the same callback; the timer's message comes long before the "
               "callback ends (it once waited for the callback's slice to end)."),
    Node = ?config(node, Config),
    {otpc_probe, Node} ! {spawn, self()},
    {spawned, P} = ?recv({spawned, _}),
    T0 = now_ms(),
    P ! {send_after_spin, self(), 50, 1500},
    timer = ?recv(timer),
    Fired = now_ms() - T0,
    {done, P, send_after_spin} = ?recv({done, P, _}),
    Done = now_ms() - T0,
    ct:log("timer after ~b ms, callback done after ~b ms", [Fired, Done]),
    %% lower bounds a little below: this node's clock and the C node's may run
    %% apart by Erlang's time correction (up to 1 %; 1499 ms was seen for 1500)
    true = Fired >= 45 andalso Done >= 1450,
    Fired < 1000 orelse ct:fail({timer_held_up, Fired}).

-spec one_scheduler_timers_and_streams(config()) -> term().
one_scheduler_timers_and_streams(Config) ->
    ct:comment("-schedulers 1, nothing else on the connection: a send_after timer's "
               "message is handled and answered at once (not at the next tick), and a "
               "64 MiB reply streams out in fragments turn after turn (it once waited "
               "15 s for a tick at every step: work a timer or an idle callback made "
               "was left until the loop next woke)."),
    Node = ?config(node, Config),
    T0 = now_ms(),
    woke = gen_server:call({echo, Node}, {'$sleep', 200, woke}),
    Slept = now_ms() - T0,
    ct:log("a 200 ms timer answered after ~b ms", [Slept]),
    true = Slept >= 195 andalso Slept < 2000, % 195: see timer_set_by_a_long_callback
    Big = binary:copy(<<"x">>, 64 bsl 20),
    T1 = now_ms(),
    Big = gen_server:call({echo, Node}, Big, 60000),
    Echoed = now_ms() - T1,
    ct:log("64 MiB echoed in ~b ms", [Echoed]),
    Echoed < 10000 orelse ct:fail({slow_stream, Echoed}).

-spec spin_does_not_block_others(config()) -> term().
spin_does_not_block_others(Config) ->
    ct:comment("-schedulers 2: while echo spins 1.5 s in handle_call, 20 sequential "
               "calls to ch3 each answer within 500 ms (goal: 50 ms), all before the "
               "spin could have ended; then the spinner gets its reply."),
    Node = ?config(node, Config),
    {Spinner, Sent} = start_spinner(Node, echo, ?SPIN_MS, done),
    timer:sleep(100),
    Times = ch3_calls(Node, ?CALLS),
    Done = now_ms(),
    ct:log("ch3 latencies (ms): ~p~nmax ~.1f ms, all done ~b ms after the spin was sent",
           [[round1(T) || T <- Times], lists:max(Times), Done - Sent]),
    Slow = [T || T <- Times, T >= ?MAX_LATENCY_MS],
    [] =/= Slow andalso ct:fail({calls_waited, [round1(T) || T <- Times]}),
    %% finished while the spin ran: it cannot answer before SPIN_MS ms
    Done - Sent < ?SPIN_MS orelse ct:fail({calls_too_slow, Done - Sent}),
    ?refute({spun, Spinner, _, _}),
    {spun, Spinner, done, SpinMs} = ?recv({spun, Spinner, _, _}),
    ct:log("the spin answered after ~b ms", [SpinMs]),
    true = SpinMs >= ?SPIN_MS - 50. % the two nodes' clocks: see timer_set_by_a_long_callback

-spec one_scheduler_waits(config()) -> term().
one_scheduler_waits(Config) ->
    ct:comment("-schedulers 1: the same calls wait behind echo's spin, the first one "
               "for about the rest of the 1.5 s (at least 1 s): what "
               "spin_does_not_block_others asserts can fail."),
    Node = ?config(node, Config),
    {Spinner, _Sent} = start_spinner(Node, echo, ?SPIN_MS, done),
    timer:sleep(100),
    [First | _] = Times = ch3_calls(Node, ?CALLS),
    ct:log("ch3 latencies (ms): ~p", [[round1(T) || T <- Times]]),
    First >= 1000 orelse ct:fail({first_call_did_not_wait, round1(First)}),
    {spun, Spinner, done, _} = ?recv({spun, Spinner, _, _}),
    ok.

-spec two_spinners_in_parallel(config()) -> term().
two_spinners_in_parallel(Config) ->
    ct:comment("-schedulers 2: echo and a second echo started with otpc:start/4 each "
               "spin 1 s of CPU for their own caller at the same time; they answer "
               "within 0.5 s of each other (one after the other, the second would "
               "answer at least 1 s after the first, however busy the machine)."),
    Node = ?config(node, Config),
    {ok, Echo2} = otpc:start(Node, echo, [], [{name, echo2}]),
    true = is_pid(Echo2),
    T0 = now_ms(),
    {S1, _} = start_spinner(Node, echo, 1000, one),
    {S2, _} = start_spinner(Node, echo2, 1000, two),
    {spun, S1, one, Ms1} = ?recv({spun, S1, _, _}),
    {spun, S2, two, Ms2} = ?recv({spun, S2, _, _}),
    %% the wall time is logged, not checked: it needs both CPUs free of other work
    ct:log("echo ~b ms, echo2 ~b ms, both ~b ms", [Ms1, Ms2, now_ms() - T0]),
    true = Ms1 >= 950 andalso Ms2 >= 950, % clocks: see timer_set_by_a_long_callback
    abs(Ms1 - Ms2) < 500 orelse ct:fail({one_after_the_other, Ms1, Ms2}).

-spec cross_scheduler_signals(config()) -> term().
cross_scheduler_signals(Config) ->
    ct:comment("-schedulers 4, while echo spins 4 s: casts and calls to stack, "
               "sys:get_state, a monitor by name firing with the crash reason, a "
               "registered-name send, a timer, a link and a monitor seeing a stop "
               "reason, kill; then echo itself, monitored once it spins, is killed "
               "mid-spin and its DOWN says killed."),
    Node = ?config(node, Config),
    Echo = erpc:call(Node, erlang, whereis, [echo]),
    {Spinner, Sent} = start_spinner(Node, echo, 4000, spun),
    timer:sleep(100),
    EchoMon = erlang:monitor(process, Echo),
    stack_signals(Node),
    name_send_and_timer(Node),
    link_and_exits(Node),
    Spent = now_ms() - Sent,
    ct:log("all done ~b ms after the spin was sent", [Spent]),
    %% with room left for the kill below to land while echo still spins
    Spent < 3500 orelse ct:fail({not_while_spinning, Spent}),
    ?refute({spun, Spinner, _, _}),
    %% killed while it spins: the kill takes effect when the callback returns
    %% (it may answer first, as a BEAM process may reply before the kill lands)
    Kill = now_ms(),
    true = exit(Echo, kill),
    killed = down(EchoMon),
    ct:log("echo's DOWN came ~b ms after the kill", [now_ms() - Kill]),
    {spun, Spinner, Result, _} = ?recv({spun, Spinner, _, _}),
    ct:log("the spinner got ~p", [Result]),
    case Result of
        spun -> ok;
        {exit, {killed, _}} -> ok;
        Other -> ct:fail({spinner_got, Other})
    end,
    %% the supervisor starts a fresh echo, which answers
    ok = wait_for_new(Node, echo, Echo),
    hi = gen_server:call({echo, Node}, hi).

-spec schedulers_flag_errors(config()) -> term().
schedulers_flag_errors(_Config) ->
    ct:comment("-schedulers 0, x, -1, empty, 2x and a missing value are usage errors: "
               "the node program exits 2 and otpc:start_node/1 says so; -schedulers 2 "
               "starts, so the refusals are about the values, not an unknown flag."),
    Bad = [["-schedulers", "0"], ["-schedulers", "x"], ["-schedulers", "-1"],
           ["-schedulers", ""], ["-schedulers", "2x"], ["-schedulers"]],
    [refused(Args) || Args <- Bad],
    {ok, Node} = otpc_ct_node:start_case_node("c_", schedulers_ok, ["-schedulers", "2"]),
    try
        hi = gen_server:call({echo, Node}, hi)
    after
        otpc:stop_node(Node)
    end.

-spec busy_wait_flag(config()) -> term().
busy_wait_flag(_Config) ->
    ct:comment("-busy_wait_us x, -1, above 1 s and a missing value are usage errors; "
               "with 0 (never) and 1000 (a long look) a lone caller's conversation, "
               "calls in a row and several callers at once, is answered in full"),
    Bad = [["-busy_wait_us", "x"], ["-busy_wait_us", "-1"], ["-busy_wait_us", "1000001"],
           ["-busy_wait_us"]],
    [refused(Args) || Args <- Bad],
    [conversation(Us, Scheds) || Us <- ["0", "1000"], Scheds <- ["1", "2"]].

conversation(Us, Scheds) ->
    Args = ["-busy_wait_us", Us, "-schedulers", Scheds],
    {ok, Node} = otpc_ct_node:start_case_node("c_", busy_wait_flag, Args),
    try
        Echo = {echo, Node},
        [{N} = gen_server:call(Echo, {N}) || N <- lists:seq(1, 500)],
        Self = self(),
        Callers = [spawn_link(fun() ->
                                      [{I, N} = gen_server:call(Echo, {I, N})
                                       || N <- lists:seq(1, 200)],
                                      Self ! {done, I}
                              end)
                   || I <- lists:seq(1, 8)],
        [receive {done, I} -> ok after 30000 -> ct:fail({caller_stuck, Args, I}) end
         || I <- lists:seq(1, length(Callers))],
        %% quiet for a while (the look ended, the scheduler sleeps), then woken
        timer:sleep(200),
        after_quiet = gen_server:call(Echo, after_quiet)
    after
        otpc:stop_node(Node)
    end.

%%% ------------------------------------------------------------------

%% A usage error, as netsetup's no_epmd_needs_fixed_port asserts one: exit 2
%% (the error line naming the value goes to logger; Lines holds the usage text
%% that follows it).
refused(Args) ->
    Name = list_to_atom("c_sched_bad_" ++ os:getpid()),
    case otpc:start_node(#{name => Name, args => Args}) of
        {error, {exit_status, 2, _Lines}} ->
            ok;
        {ok, Node} ->
            otpc:stop_node(Node),
            ct:fail({started_with, Args});
        Other ->
            ct:fail({refused_otherwise, Args, Other})
    end.

%% A process that calls Name on Node with {'$spin', Ms, Reply} and tells us
%% {spun, Pid, Result, WallMs}; Result is the reply or {exit, Reason}.
%% Returns its pid and when the call was made.
start_spinner(Node, Name, Ms, Reply) ->
    Self = self(),
    Sent = now_ms(),
    Pid = spawn_link(fun() ->
                             T0 = now_ms(),
                             Result = try gen_server:call({Name, Node}, {'$spin', Ms, Reply},
                                                          ?TIMEOUT)
                                      catch exit:Why -> {exit, Why}
                                      end,
                             Self ! {spun, self(), Result, now_ms() - T0}
                     end),
    {Pid, Sent}.

%% N sequential ch3 allocs, each timed (ms, as floats); a fresh ch3 answers
%% the channels 1..N in turn.
ch3_calls(Node, N) ->
    [begin
         T0 = erlang:monotonic_time(),
         K = gen_server:call({ch3, Node}, alloc, ?TIMEOUT),
         erlang:convert_time_unit(erlang:monotonic_time() - T0, native, microsecond) / 1000
     end || K <- lists:seq(1, N)].

%% Through stack: a cast and a call, its state, and a monitor by name that fires
%% with the reason of the crash that popping an empty stack causes.
stack_signals(Node) ->
    Stack = {stack, Node},
    ok = gen_server:cast(Stack, {push, <<"sched">>}),
    <<"sched">> = gen_server:call(Stack, pop),
    [<<"hello">>, <<"world">>] = sys:get_state(Stack),
    MRef = erlang:monitor(process, Stack),
    <<"hello">> = gen_server:call(Stack, pop),
    <<"world">> = gen_server:call(Stack, pop),
    try gen_server:call(Stack, pop) of
        Popped -> ct:fail({popped_empty_stack, Popped})
    catch exit:{{badmatch, []}, {gen_server, call, _}} -> ok
    end,
    {'DOWN', MRef, process, Stack, {badmatch, []}} =
        ?recv({'DOWN', MRef, process, Stack, _}).

%% A second echo: a message sent to its registered name is counted, a call it
%% answers from a timer (send_after) comes back no sooner than the timer.
name_send_and_timer(Node) ->
    {ok, _} = otpc:start(Node, echo, [], [{name, echo_sig}]),
    {echo_sig, Node} ! not_a_call,
    #{infos := 1} = gen_server:call({echo_sig, Node}, '$stats'),
    T0 = now_ms(),
    woke = gen_server:call({echo_sig, Node}, {'$sleep', 200, woke}),
    Slept = now_ms() - T0,
    %% never early, as ERTS's timers (they once were, by up to a millisecond:
    %% libuv's truncated loop clock; core's never_early test pins that down):
    %% 195, as this node's clock may run up to 1 % apart from the C node's
    Slept >= 195 orelse ct:fail({timer_early, Slept}).

%% A process of ours that traps exits and links to a server sees the server's
%% stop reason as an EXIT, as a monitor sees it as a DOWN; exit/2 with a reason
%% ends a server that does not trap exits with that reason, kill with killed.
link_and_exits(Node) ->
    {ok, Linked} = otpc:start(Node, echo, [], []),
    Self = self(),
    Trapper = spawn_link(fun() ->
                                 process_flag(trap_exit, true),
                                 link(Linked),
                                 Self ! {linked, self()},
                                 receive
                                     {'EXIT', Linked, Why} -> Self ! {trapped, self(), Why}
                                 end
                         end),
    {linked, Trapper} = ?recv({linked, Trapper}),
    LMon = erlang:monitor(process, Linked),
    ok = gen_server:call(Linked, {'$stop', {shutdown, sched}}),
    {trapped, Trapper, {shutdown, sched}} = ?recv({trapped, Trapper, _}),
    {shutdown, sched} = down(LMon),
    [begin
         {ok, Pid} = otpc:start(Node, echo, [], []),
         MRef = erlang:monitor(process, Pid),
         true = exit(Pid, Reason),
         Expected = down(MRef)
     end || {Reason, Expected} <- [{sched_exit, sched_exit}, {kill, killed}]],
    ok.

down(MRef) ->
    {'DOWN', MRef, process, _, Reason} = ?recv({'DOWN', MRef, process, _, _}),
    Reason.

%% Waits until Name on Node is a process other than Old.
wait_for_new(Node, Name, Old) ->
    wait_for_new(Node, Name, Old, now_ms() + ?TIMEOUT).

wait_for_new(Node, Name, Old, Deadline) ->
    case erpc:call(Node, erlang, whereis, [Name]) of
        Pid when is_pid(Pid), Pid =/= Old ->
            ok;
        _ ->
            now_ms() < Deadline orelse ct:fail({not_restarted, Name}),
            timer:sleep(20),
            wait_for_new(Node, Name, Old, Deadline)
    end.

now_ms() ->
    erlang:monotonic_time(millisecond).

round1(X) ->
    round(X * 10) / 10.

%% -schedulers 2: our connection and echo both live on scheduler 1, so a
%% gen_server:call from here (a monitor, the request, the reply, the demonitor) is
%% read, run and answered holding that scheduler's lock only: a thousand calls take
%% every scheduler's lock a handful of times (ticks, the stats calls), where one node
%% lock would be taken for each read and each slice (see the daemon suite's
%% calls_take_no_shared_lock for what a slow build adds).
-spec dist_calls_take_no_shared_lock(config()) -> term().
dist_calls_take_no_shared_lock(Config) ->
    Node = ?config(node, Config),
    2 = lock_stat(Node, schedulers),
    warm = gen_server:call({echo, Node}, warm),
    Before = lock_stat(Node, all_locks),
    N = 1000,
    [{I} = gen_server:call({echo, Node}, {I}) || I <- lists:seq(1, N)],
    Taken = lock_stat(Node, all_locks) - Before,
    ct:comment("~b calls over distribution, -schedulers 2: every lock taken ~b times",
               [N, Taken]),
    true = Taken < N div 4.

%% -schedulers 3: servers started from here go to schedulers 1 and 2 in turn, and our
%% connection to one of them, so calls to at least one server cross domains: the
%% request goes into the server's domain's inbox, the reply into the connection's.
%% Neither takes every lock: a thousand calls take them a handful of times.
-spec calls_across_domains_take_no_shared_lock(config()) -> term().
calls_across_domains_take_no_shared_lock(Config) ->
    Node = ?config(node, Config),
    3 = lock_stat(Node, schedulers),
    Servers = [begin {ok, P} = otpc:start(Node, echo, undefined, []), P end || _ <- [1, 2]],
    [warm = gen_server:call(S, warm) || S <- Servers],
    Before = lock_stat(Node, all_locks),
    N = 500,
    [{I} = gen_server:call(S, {I}) || I <- lists:seq(1, N), S <- Servers],
    Taken = lock_stat(Node, all_locks) - Before,
    ct:comment("~b calls to two servers on two schedulers, -schedulers 3: every lock "
               "taken ~b times", [2 * N, Taken]),
    [ok = gen_server:stop(S) || S <- Servers],
    true = Taken < N div 2.

%% -schedulers 2: a server started from here lives on scheduler 1. Each call
%% arms a timer in that scheduler's domain: a gen_server timeout with the reply
%% (the next call cancels it), or a send_after that is cancelled and another set
%% for later. Timers are the domain's own, so none of it takes every lock (with
%% one heap for the node, each call took them at least once). The last timeout
%% is let run out: it still comes.
-spec timers_take_no_shared_lock(config()) -> term().
timers_take_no_shared_lock(Config) ->
    Node = ?config(node, Config),
    2 = lock_stat(Node, schedulers),
    {ok, P} = otpc:start(Node, gs_probe, {none, ok, false}, []),
    warm = gen_server:call(P, {reply, warm}),
    Before = lock_stat(Node, all_locks),
    N = 500,
    [begin
         {I} = gen_server:call(P, {reply, {I}, {timeout, 60000}}),
         {1, 0} = gen_server:call(P, {cancel_timer, 60000})
     end || I <- lists:seq(1, N)],
    Taken = lock_stat(Node, all_locks) - Before,
    ct:comment("~b calls each setting a timeout or a send_after on scheduler 1, "
               "-schedulers 2: every lock taken ~b times", [2 * N, Taken]),
    ok = gen_server:call(P, {observe, self()}),
    done = gen_server:call(P, {reply, done, {timeout, 50}}),
    ?recv({gs_probe, P, handle_info, timeout}),
    ok = gen_server:stop(P),
    true = Taken < N div 2.

%% -schedulers 3: servers A and B started from here live on schedulers 1 and 2.
%% A's timers are in A's domain: one for B fires there and reaches B through B's
%% domain's inbox, in the order they were set; one for this node's process is
%% domain 0's (it leaves over distribution). Then A sets a timer for B and holds
%% its scheduler for 1.5 s in the same callback: the scheduler that looks in on
%% A's domain fires it long before that callback ends.
-spec timers_across_domains(config()) -> term().
timers_across_domains(Config) ->
    Node = ?config(node, Config),
    3 = lock_stat(Node, schedulers),
    {ok, A} = otpc:start(Node, gs_probe, {none, ok, false}, []),
    {ok, B} = otpc:start(Node, gs_probe, {self(), ok, false}, []),
    ?recv({gs_probe, B, init, _}),
    Ks = lists:seq(1, 20),
    [ok = gen_server:call(A, {send_after, 20, B, {m, K}}) || K <- Ks],
    [ok = gen_server:call(A, {send_after, 20, self(), {direct, K}}) || K <- Ks],
    [?recv({gs_probe, B, handle_info, {m, K}}) || K <- Ks],
    [?recv({direct, K}) || K <- Ks],
    T0 = now_ms(),
    Self = self(),
    Blocker = spawn_link(fun() ->
                                 R = gen_server:call(A, {send_after, 50, B, late, 1500}, 10000),
                                 Self ! {blocked, R, now_ms() - T0}
                         end),
    ?recv({gs_probe, B, handle_info, late}),
    Fired = now_ms() - T0,
    {blocked, ok, Blocked} = ?recv({blocked, _, _}),
    unlink(Blocker),
    ct:comment("A's timer for B fired after ~b ms while A's callback held its "
               "scheduler ~b ms", [Fired, Blocked]),
    [ok = gen_server:stop(S) || S <- [A, B]],
    true = Fired >= 45 andalso Blocked >= 1450, % see timer_set_by_a_long_callback
    Fired < 1000 orelse ct:fail({timer_held_up, Fired}).

lock_stat(Node, Key) ->
    {Key, V} = lists:keyfind(Key, 1, rpc:call(Node, otpc_node, lock_stats, [])),
    V.
