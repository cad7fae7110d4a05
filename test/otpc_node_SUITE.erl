%% Lifecycle of otpc C nodes as seen from Erlang: start, reach, stop, lose,
%% log. Each case drives the real priv/otpc_node (or the program named by
%% the environment variable OTPC_NODE_EXECUTABLE, e.g. a sanitizer build)
%% from this distributed test node; run with `rebar3 ct --sname otpc_ct'.
-module(otpc_node_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0]).
-export([init_per_suite/1, end_per_suite/1]).
-export([init_per_testcase/2, end_per_testcase/2]).
-export([log/2]).

-export([start_ping/1, cookie_not_in_argv/1, custom_cookie/1,
         stop_node/1, kill_reports_down/1, sigterm_reports_down/1,
         log_lines_reach_logger/1, long_and_odd_lines/1, start_timeout/1,
         owner_death_stops_node/1, duplicate_name/1,
         name_taken_by_other_node/1, not_alive/1, bad_options/1,
         world_readable_cookie/1, supervisor_gives_up_stops_node/1]).
-export([node_in_own_supervisor/1]).

-define(HANDLER, otpc_node_SUITE_h).

-spec doc(string()) -> ok.
doc(String) -> ct:comment(String).

-spec suite() -> [tuple()].
suite() ->
    [{timetrap, {seconds, 60}}].

-spec all() -> [atom()].
all() ->
    [start_ping, cookie_not_in_argv, custom_cookie, stop_node,
     kill_reports_down, sigterm_reports_down, log_lines_reach_logger,
     long_and_odd_lines, start_timeout, owner_death_stops_node,
     duplicate_name,
     name_taken_by_other_node, not_alive, bad_options,
     world_readable_cookie, supervisor_gives_up_stops_node,
     node_in_own_supervisor].

-spec init_per_suite(list()) -> list() | {skip, string()}.
init_per_suite(Config) ->
    otpc_ct_node:init_per_suite(Config).

-spec end_per_suite(list()) -> ok.
end_per_suite(Config) ->
    otpc_ct_node:end_per_suite(Config).

-spec init_per_testcase(atom(), list()) -> list().
init_per_testcase(_Case, Config) ->
    DefaultLevel = case logger:get_handler_config(default) of
                       {ok, #{level := Level}} -> Level;
                       {error, _} -> undefined
                   end,
    [{primary_level, maps:get(level, logger:get_primary_config())},
     {default_level, DefaultLevel} | Config].

-spec end_per_testcase(atom(), list()) -> ok.
end_per_testcase(_Case, Config) ->
    _ = logger:remove_handler(?HANDLER),
    ok = logger:set_primary_config(level, ?config(primary_level, Config)),
    case ?config(default_level, Config) of
        undefined -> ok;
        Level -> ok = logger:update_handler_config(default, level, Level)
    end,
    %% Stop whatever the case left running, ready or not.
    [ok = otpc:stop_node(Node) || Node <- otpc:nodes()],
    ok.

%% ---------------------------------------------------------------------
%% Cases

-spec start_ping(list()) -> term().
start_ping(_Config) ->
    doc("start_node/1 returns a node that answers a ping and is listed."),
    {ok, Node} = otpc:start_node(#{name => otpc_t_ping}),
    ?assertEqual(node_name(otpc_t_ping), Node),
    ?assertEqual(pong, net_adm:ping(Node)),
    ?assertEqual([Node], otpc:nodes()),
    {ok, OsPid} = otpc:node_os_pid(Node),
    ?assert(os_alive(OsPid)).

-spec cookie_not_in_argv(list()) -> term().
cookie_not_in_argv(_Config) ->
    doc("The cookie reaches the node through its environment, never argv."),
    Cookie = otpc_t_secret_cookie_4711,
    {ok, Node} = otpc:start_node(#{name => otpc_t_argv, cookie => Cookie}),
    {ok, OsPid} = otpc:node_os_pid(Node),
    {ok, Cmdline} = file:read_file(proc(OsPid, "cmdline")),
    Argv = binary:split(Cmdline, <<0>>, [global, trim_all]),
    ct:log("argv: ~p", [Argv]),
    ?assertEqual(nomatch, binary:match(Cmdline, atom_to_binary(Cookie))),
    ?assertNot(lists:member(<<"-setcookie">>, Argv)),
    ?assert(lists:member(<<"-watch_stdin">>, Argv)),
    {ok, Environ} = file:read_file(proc(OsPid, "environ")),
    ?assert(lists:member(<<"OTPC_COOKIE=otpc_t_secret_cookie_4711">>,
                         binary:split(Environ, <<0>>, [global, trim_all]))).

-spec custom_cookie(list()) -> term().
custom_cookie(_Config) ->
    doc("A node started with its own cookie is reachable with that cookie "
        "and refuses ours."),
    {ok, Node} = otpc:start_node(#{name => otpc_t_cookie,
                                   cookie => otpc_t_other_cookie}),
    ?assertEqual(pong, net_adm:ping(Node)),
    ok = otpc:stop_node(Node),
    %% Same name, our own cookie now: a new connection with a wrong cookie
    %% must be refused.
    {ok, Node} = otpc:start_node(#{name => otpc_t_cookie}),
    true = erlang:disconnect_node(Node),
    true = erlang:set_cookie(Node, otpc_t_wrong_cookie),
    ?assertEqual(pang, net_adm:ping(Node)),
    true = erlang:set_cookie(Node, erlang:get_cookie()),
    ?assertEqual(pong, net_adm:ping(Node)).

-spec stop_node(list()) -> term().
stop_node(_Config) ->
    doc("stop_node/1 stops the node through stdin EOF, well within the "
        "5 s before SIGKILL, and returns once the OS process is gone."),
    {ok, Node} = otpc:start_node(#{name => otpc_t_stop}),
    pong = net_adm:ping(Node),
    {ok, OsPid} = otpc:node_os_pid(Node),
    {Micros, ok} = timer:tc(otpc, stop_node, [Node]),
    ct:log("stop_node took ~b ms", [Micros div 1000]),
    ?assert(Micros < 4000000),
    ?assertNot(os_alive(OsPid)),
    ?assertEqual(pang, net_adm:ping(Node)),
    ?assertEqual([], otpc:nodes()),
    ?assertEqual({error, not_found}, otpc:node_os_pid(Node)),
    ?assertEqual({error, not_found}, otpc:stop_node(Node)).

-spec kill_reports_down(list()) -> term().
kill_reports_down(_Config) ->
    doc("SIGKILL of the OS process sends the owner otpc_node_down."),
    {ok, Node} = otpc:start_node(#{name => otpc_t_kill}),
    {ok, OsPid} = otpc:node_os_pid(Node),
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    receive
        {otpc_node_down, Node, {exit_status, Status}} ->
            ?assertEqual(128 + 9, Status)
    after 5000 ->
        ct:fail(no_otpc_node_down)
    end,
    %% The registry row goes before the message is sent.
    ?assertEqual([], otpc:nodes()),
    ?assertEqual({error, not_found}, otpc:stop_node(Node)).

-spec sigterm_reports_down(list()) -> term().
sigterm_reports_down(_Config) ->
    doc("SIGTERM stops the node gracefully (status 0); the owner is told."),
    {ok, Node} = otpc:start_node(#{name => otpc_t_term}),
    {ok, OsPid} = otpc:node_os_pid(Node),
    _ = os:cmd("kill -TERM " ++ integer_to_list(OsPid)),
    receive
        {otpc_node_down, Node, Reason} ->
            ?assertEqual({exit_status, 0}, Reason)
    after 5000 ->
        ct:fail(no_otpc_node_down)
    end.

-spec log_lines_reach_logger(list()) -> term().
log_lines_reach_logger(_Config) ->
    doc("The node's log lines reach logger with its level and metadata."),
    add_handler(),
    {ok, Node} = otpc:start_node(#{name => otpc_t_log}),
    Ready = iolist_to_binary(["node: ready ", atom_to_list(Node)]),
    #{level := notice, meta := Meta} = wait_log(Node, Ready),
    ?assertMatch(#{otpc_node := Node, domain := [otpc]}, Meta).

-spec long_and_odd_lines(list()) -> term().
long_and_odd_lines(Config) ->
    doc("Lines longer than the port's buffer arrive whole (up to 64 KiB, "
        "then cut), lines without a known level go to info, and a program "
        "that exits before ready fails the start with its status and last "
        "lines."),
    Script = filename:join(?config(priv_dir, Config), "odd_node.sh"),
    ok = file:write_file(Script,
                         "#!/bin/sh\n"
                         "printf 'debug long: '\n"
                         "head -c 40000 /dev/zero | tr '\\000' x\n"
                         "printf '\\n'\n"
                         "printf 'debug huge: '\n"
                         "head -c 100000 /dev/zero | tr '\\000' y\n"
                         "printf '\\n'\n"
                         "echo 'no level here'\n"
                         "echo 'warning odd: a warning'\n"
                         "printf 'error odd: no newline at exit'\n"
                         "exit 3\n"),
    ok = file:change_mode(Script, 8#755),
    add_handler(),
    {error, {exit_status, 3, Lines}} =
        otpc:start_node(#{name => otpc_t_odd, executable => Script}),
    ?assertEqual(<<"error odd: no newline at exit">>, lists:last(Lines)),
    Node = node_name(otpc_t_odd),
    Long = iolist_to_binary(["long: ", binary:copy(<<"x">>, 40000)]),
    #{level := debug} = wait_log(Node, Long),
    %% Kept: the first 64 KiB of the line, "debug huge: " included.
    Huge = iolist_to_binary(["huge: ", binary:copy(<<"y">>, 65536 - 12),
                             " [truncated]"]),
    #{level := debug} = wait_log(Node, Huge),
    #{level := info} = wait_log(Node, <<"no level here">>),
    #{level := warning} = wait_log(Node, <<"odd: a warning">>),
    #{level := error} = wait_log(Node, <<"odd: no newline at exit">>).

-spec start_timeout(list()) -> term().
start_timeout(Config) ->
    doc("A program that never reports ready fails the start after the "
        "timeout; one that also ignores stdin EOF is killed 5 s later."),
    Dir = ?config(priv_dir, Config),
    PidFile = filename:join(Dir, "stuck.pid"),
    Script = filename:join(Dir, "stuck_node.sh"),
    ok = file:write_file(Script,
                         ["#!/bin/sh\n"
                          "echo $$ >'", PidFile, "'\n"
                          "echo 'info stuck: not getting ready'\n"
                          "exec sleep 60\n"]),
    ok = file:change_mode(Script, 8#755),
    {Micros, Result} =
        timer:tc(otpc, start_node, [#{name => otpc_t_stuck, timeout => 300,
                                      executable => Script}]),
    ct:log("start_node took ~b ms", [Micros div 1000]),
    ?assertEqual({error, {timeout, [<<"info stuck: not getting ready">>]}},
                 Result),
    ?assert(Micros >= 5000000 andalso Micros < 9000000),
    {ok, PidText} = file:read_file(PidFile),
    ?assertNot(os_alive(binary_to_integer(string:trim(PidText)))),
    ?assertEqual({error, not_found},
                 otpc:node_os_pid(node_name(otpc_t_stuck))).

-spec owner_death_stops_node(list()) -> term().
owner_death_stops_node(_Config) ->
    doc("When the process that started a node dies, the node is stopped."),
    Self = self(),
    Owner = spawn(fun() ->
                      Result = otpc:start_node(#{name => otpc_t_owner}),
                      Self ! {started, Result},
                      receive never -> ok end
                  end),
    Node = receive
               {started, {ok, N}} -> N
           after 15000 -> ct:fail(no_start)
           end,
    {ok, OsPid} = otpc:node_os_pid(Node),
    exit(Owner, kill),
    ok = wait_until(fun() -> not os_alive(OsPid) end, 8000),
    ok = wait_until(fun() -> otpc:nodes() =:= [] end, 1000),
    ?assertEqual(pang, net_adm:ping(Node)).

-spec duplicate_name(list()) -> term().
duplicate_name(_Config) ->
    doc("A second start with a name in use fails at once and leaves the "
        "first node running."),
    {ok, Node} = otpc:start_node(#{name => otpc_t_dup}),
    {Micros, Result} = timer:tc(otpc, start_node, [#{name => otpc_t_dup}]),
    ?assertEqual({error, {already_started, Node}}, Result),
    ?assert(Micros < 1000000),
    ?assertEqual(pong, net_adm:ping(Node)),
    ?assertEqual([Node], otpc:nodes()).

-spec name_taken_by_other_node(list()) -> term().
name_taken_by_other_node(_Config) ->
    doc("A name already registered in epmd by an erl node makes the C node "
        "exit with an error line; start_node reports it without hanging."),
    {ok, Peer, _PeerNode} = peer:start_link(#{name => otpc_t_taken}),
    try
        {error, {exit_status, Status, Lines}} =
            otpc:start_node(#{name => otpc_t_taken, timeout => 10000}),
        ct:log("status ~p, lines ~p", [Status, Lines]),
        ?assertNotEqual(0, Status),
        ?assert(lists:any(fun(<<"error ", _/binary>>) -> true;
                             (_) -> false
                          end, Lines))
    after
        peer:stop(Peer)
    end.

-spec not_alive(list()) -> term().
not_alive(_Config) ->
    doc("On a node that is not distributed, start_node/1 says not_alive."),
    {ok, Peer, _} = peer:start_link(#{connection => standard_io}),
    try
        ok = peer:call(Peer, code, add_pathsz,
                       [[filename:dirname(code:which(otpc))]]),
        ?assertEqual(false, peer:call(Peer, erlang, is_alive, [])),
        ?assertEqual({error, not_alive},
                     peer:call(Peer, otpc, start_node, [#{name => otpc_t_na}]))
    after
        peer:stop(Peer)
    end.

-spec bad_options(list()) -> term().
bad_options(_Config) ->
    doc("Bad options are refused before anything is spawned."),
    {error, {badopt, {name, missing}}} = otpc:start_node(#{}),
    {error, {badopt, {name, 'a@b'}}} = otpc:start_node(#{name => 'a@b'}),
    {error, {badopt, {name, "x"}}} = otpc:start_node(#{name => "x"}),
    {error, {badopt, {timeout, 0}}} =
        otpc:start_node(#{name => x, timeout => 0}),
    {error, {badopt, {args, [x]}}} = otpc:start_node(#{name => x, args => [x]}),
    {error, {badopt, nmae}} = otpc:start_node(#{name => x, nmae => y}),
    {error, {open_port, enoent, "/nonexistent/otpc_node"}} =
        otpc:start_node(#{name => x, executable => "/nonexistent/otpc_node"}),
    ?assertEqual([], otpc:nodes()).

-spec world_readable_cookie(list()) -> term().
world_readable_cookie(Config) ->
    doc("Without a cookie given, the node reads ~/.erlang.cookie as erl "
        "does: a file that group or others may read makes it exit non-zero "
        "with erl's reason; a 0400 one is used."),
    Home = filename:join(?config(priv_dir, Config), "home_wrc"),
    ok = file:make_dir(Home),
    CookieFile = filename:join(Home, ".erlang.cookie"),
    ok = file:write_file(CookieFile, "otpc_t_file_cookie\n"),
    ok = file:change_mode(CookieFile, 8#644),
    Port = open_node_port(otpc_t_wrc, Home),
    {Status, Lines} = port_until_exit(Port, 10000),
    ct:log("status ~p, lines ~p", [Status, Lines]),
    ?assertNotEqual(0, Status),
    Refusal = iolist_to_binary(["error node: Cookie file ", CookieFile,
                                " must be accessible by owner only"]),
    ?assert(lists:member(Refusal, Lines)),
    %% The same file, owner only: the node starts with the file's cookie.
    ok = file:change_mode(CookieFile, 8#400),
    Port2 = open_node_port(otpc_t_wrc, Home),
    Node = node_name(otpc_t_wrc),
    try
        Ready = iolist_to_binary(["notice node: ready ", atom_to_list(Node)]),
        ok = port_until_line(Port2, Ready, 10000),
        true = erlang:set_cookie(Node, otpc_t_file_cookie),
        ?assertEqual(pong, net_adm:ping(Node))
    after
        true = erlang:set_cookie(Node, erlang:get_cookie()),
        close_node_port(Port2)
    end.

-spec supervisor_gives_up_stops_node(list()) -> term().
supervisor_gives_up_stops_node(_Config) ->
    doc("When otpc_sup gives up (11 restarts of stack within its 10 s "
        "period, intensity 10), the node exits non-zero with a logged "
        "reason, as erl halts when a permanent application stops."),
    add_handler(),
    {ok, Node} = otpc:start_node(#{name => otpc_t_giveup}),
    {ok, OsPid} = otpc:node_os_pid(Node),
    Sup = {otpc_sup, Node},
    %% Each of the first 10 kills is restarted before the next one.
    [begin
         Old = kill_stack(Sup),
         ok = wait_until(fun() -> restarted(Sup, Old) end, 5000)
     end || _ <- lists:seq(1, 10)],
    ?assertEqual(pong, net_adm:ping(Node)),
    _ = kill_stack(Sup),
    receive
        {otpc_node_down, Node, {exit_status, Status}} ->
            ?assertNotEqual(0, Status)
    after 5000 ->
        ct:fail(no_otpc_node_down)
    end,
    ?assertNot(os_alive(OsPid)),
    #{level := error} =
        wait_log(Node, <<"otpc_node: otpc_sup terminated (shutdown); "
                         "stopping the node">>),
    ?assertEqual([], otpc:nodes()).

kill_stack(Sup) ->
    {stack, Pid, worker, _} =
        lists:keyfind(stack, 1, supervisor:which_children(Sup)),
    true = exit(Pid, kill),
    Pid.

restarted(Sup, Old) ->
    case lists:keyfind(stack, 1, supervisor:which_children(Sup)) of
        {stack, Pid, _, _} when is_pid(Pid), Pid =/= Old -> true;
        _ -> false
    end.

%% The node program on a port, as otpc_node runs it but with HOME set and
%% no OTPC_COOKIE, so that it reads HOME/.erlang.cookie.
open_node_port(Name, Home) ->
    open_port({spawn_executable, node_executable()},
              [{args, ["-sname", atom_to_list(Name), "-watch_stdin"]},
               {env, [{"HOME", Home}, {"OTPC_COOKIE", false}]},
               {line, 16384}, stderr_to_stdout, exit_status, binary,
               use_stdio]).

%% Closing stdin stops the node; returns once its OS process is gone.
close_node_port(Port) ->
    case erlang:port_info(Port, os_pid) of
        {os_pid, OsPid} ->
            port_close(Port),
            ok = wait_until(fun() -> not os_alive(OsPid) end, 5000);
        undefined ->
            ok
    end.

%% The same executable otpc:start_node/1 picks.
node_executable() ->
    case {application:get_env(otpc, executable),
          os:getenv("OTPC_NODE_EXECUTABLE")} of
        {{ok, Path}, _} -> Path;
        {undefined, Env} when Env =/= false, Env =/= "" -> Env;
        {undefined, _} -> filename:join(code:priv_dir(otpc), "otpc_node")
    end.

port_until_exit(Port, Timeout) ->
    port_until_exit(Port, Timeout, []).

port_until_exit(Port, Timeout, Acc) ->
    receive
        {Port, {data, {_, Line}}} ->
            port_until_exit(Port, Timeout, [Line | Acc]);
        {Port, {exit_status, Status}} ->
            {Status, lists:reverse(Acc)}
    after Timeout ->
        ct:fail({no_exit, lists:reverse(Acc)})
    end.

port_until_line(Port, Line, Timeout) ->
    receive
        {Port, {data, {eol, Line}}} ->
            ok;
        {Port, {data, {_, Other}}} ->
            ct:log("~ts", [Other]),
            port_until_line(Port, Line, Timeout);
        {Port, {exit_status, Status}} ->
            ct:fail({exit_status, Status})
    after Timeout ->
        ct:fail({no_line, Line})
    end.

%% ---------------------------------------------------------------------
%% A logger handler that sends this process the otpc events.

-spec log(logger:log_event(), logger:handler_config()) -> ok.
log(Event, #{config := #{pid := Pid}}) ->
    Pid ! {otpc_log, Event},
    ok.

%% Lets debug events through to it, but not to the console.
add_handler() ->
    ok = logger:set_primary_config(level, all),
    _ = logger:update_handler_config(default, level, notice),
    ok = logger:add_handler(?HANDLER, ?MODULE,
                            #{level => all,
                              config => #{pid => self()},
                              filter_default => stop,
                              filters => [{otpc, {fun logger_filters:domain/2,
                                                  {log, sub, [otpc]}}}]}).

%% Waits for the event the node logged as Text (the part after the level).
wait_log(Node, Text) ->
    receive
        {otpc_log, #{msg := {"~ts: ~ts", [Node, Text]}} = Event} ->
            Event
    after 5000 ->
        ct:fail({no_log_event, Node, Text})
    end.

%% ---------------------------------------------------------------------

node_name(Name) ->
    [_, Host] = string:split(atom_to_list(node()), "@"),
    list_to_atom(atom_to_list(Name) ++ "@" ++ Host).

proc(OsPid, File) ->
    filename:join(["/proc", integer_to_list(OsPid), File]).

%% Alive: /proc has it and it is not a zombie.
os_alive(OsPid) ->
    case file:read_file(proc(OsPid, "stat")) of
        {ok, Stat} ->
            {Pos, Len} = lists:last(binary:matches(Stat, <<") ">>)),
            binary:at(Stat, Pos + Len) =/= $Z;
        {error, _} ->
            false
    end.

wait_until(Fun, Timeout) when Timeout =< 0 ->
    case Fun() of
        true -> ok;
        false -> ct:fail(wait_until_timeout)
    end;
wait_until(Fun, Timeout) ->
    case Fun() of
        true -> ok;
        false -> timer:sleep(50), wait_until(Fun, Timeout - 50)
    end.

%% ---------------------------------------------------------------------
%% A node in a supervision tree of the user's

-spec node_in_own_supervisor(list()) -> term().
node_in_own_supervisor(_Config) ->
    doc("A node under a supervisor of our own through otpc:child_spec/1: "
        "killing its OS process makes the supervisor start a fresh node "
        "under the same name, supervisor:terminate_child/2 stops the OS "
        "process, and so does the supervisor's own shutdown."),
    Id = {otpc_node, otpc_t_sup},
    Spec = otpc:child_spec(#{name => otpc_t_sup}),
    ?assertMatch(#{id := Id, start := {otpc, start_link_node, _},
                   restart := permanent, type := worker}, Spec),
    ?assertError({badopt, {name, missing}}, otpc:child_spec(#{})),
    {ok, Sup} = otpc_ct_sup:start_link(#{strategy => one_for_one,
                                         intensity => 5, period => 10},
                                       [Spec]),
    Node = node_name(otpc_t_sup),
    Server = child(Sup, Id),
    ?assertEqual(pong, net_adm:ping(Node)),
    ?assertEqual([Node], otpc:nodes()),
    {ok, OsPid} = otpc:node_os_pid(Node),
    %% A failed start_link_node is an error return; this process, linked
    %% to the failed server and not trapping exits, lives on.
    ?assertEqual({error, {already_started, Node}},
                 otpc:start_link_node(#{name => otpc_t_sup})),
    ?assertMatch({error, {open_port, enoent, _}},
                 otpc:start_link_node(#{name => otpc_t_sup2,
                                        executable => "/nonexistent/otpc_node"})),
    %% The server's exit, not a message, tells the supervisor.
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    ok = wait_until(fun() ->
                            Pid = child(Sup, Id),
                            is_pid(Pid) andalso Pid =/= Server
                    end, 15000),
    {ok, OsPid2} = otpc:node_os_pid(Node),
    ?assertNotEqual(OsPid, OsPid2),
    ?assertNot(os_alive(OsPid)),
    ?assertEqual(pong, net_adm:ping(Node)),
    receive
        {otpc_node_down, _, _} = Msg -> ct:fail({unexpected_message, Msg})
    after 0 ->
        ok
    end,
    %% terminate_child returns once the server is gone, and the server
    %% goes once the OS process is gone.
    ok = supervisor:terminate_child(Sup, Id),
    ?assertNot(os_alive(OsPid2)),
    ?assertEqual([], otpc:nodes()),
    ?assertEqual({error, not_found}, otpc:node_os_pid(Node)),
    ?assertEqual(pang, net_adm:ping(Node)),
    %% Started again, then the whole supervisor stopped.
    {ok, Server3} = supervisor:restart_child(Sup, Id),
    {ok, OsPid3} = otpc:node_os_pid(Node),
    ?assertEqual(pong, net_adm:ping(Node)),
    unlink(Sup),
    ok = gen_server:stop(Sup),
    ?assertNot(is_process_alive(Server3)),
    ?assertNot(os_alive(OsPid3)),
    ?assertEqual([], otpc:nodes()).

child(Sup, Id) ->
    {Id, Pid, worker, [otpc_node]} =
        lists:keyfind(Id, 1, supervisor:which_children(Sup)),
    Pid.
