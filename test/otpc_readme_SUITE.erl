%% The README, replayed: every shell command and every erl/iex session in it runs
%% for real, in order, and its output is compared with the output the README shows,
%% so the README cannot rot. Also `make install' into a DESTDIR, and uninstall.
%%
%% In scope (README.md, top to bottom):
%%   ```sh blocks        with `$ ' prompts: a transcript, each command's output compared;
%%                       without: a script, each command must succeed (output logged)
%%   ```erlang/elixir    with prompt lines (`1> ', `iex(...)1> '): a session; its first
%%                       line is `$ erl ...' / `$ iex ...', the shell it runs in
%%   <!-- replay: file NAME -->        the next block is written to NAME
%%   <!-- replay: start NODE CMD -->   CMD runs in the background until NODE answers
%%                                     a ping; `make run' stands for the node program
%%                                     command `make -n run' prints
%%   <!-- replay: stop NODE -->        and it is killed
%%   <!-- replay: skip REASON -->      the next block is not replayed
%% Other blocks (C, Erlang code without prompts, indented make lines) are not run.
%%
%% Everything runs in a scratch directory holding links to the checkout's top-level
%% entries (so `c_src/include', `_build/default/lib/otpc/ebin', `make' work as in the
%% checkout, and files the README writes land in the scratch directory), in one bash
%% for all shell blocks (variables and descriptors carry over, as in a terminal).
%%
%% Substituted in the README text before it runs (commands and outputs alike), so
%% that runs on one machine do not meet: `<host>' -> this host; node names `c1' and
%% the shells' `a' and `b' -> unique ones; port 7000 -> a free port; `~/.local' ->
%% a prefix in the scratch directory.
%% Normalised in outputs before comparing (both sides): line breaks and the
%% indentation after them are dropped (the shell wraps terms at 80 columns, and pids,
%% host names and ports change their lengths); pids, references and numbers from
%% 1024 to 65535 (ports) become numbered placeholders in order of first appearance
%% in a session, so the same one must recur where the README repeats it; a logger
%% report's time stamp is `<time>'; a shell's
%% prompt `(name@host)N> ' is `N> ', and N must be the README's.
-module(otpc_readme_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1]).
-export([readme/1, install_destdir/1]).
%% for otpc_readme_tests (eunit)
-export([parse/1, normalise/2]).

-type config() :: [{atom(), term()}].

-define(PROMPT_TIMEOUT, 60000).

-spec suite() -> [tuple()].
suite() ->
    [{timetrap, {minutes, 6}}].

-spec all() -> [atom()].
all() ->
    [readme, install_destdir].

-spec init_per_suite(config()) -> config() | {skip, string()}.
init_per_suite(Config) ->
    case otpc_ct_node:init_per_suite(Config) of
        {skip, _} = Skip -> Skip;
        Config1 -> [{root, root()} | Config1]
    end.

-spec end_per_suite(config()) -> term().
end_per_suite(Config) ->
    otpc_ct_node:end_per_suite(Config).

root() ->
    filename:absname(filename:join([code:lib_dir(otpc), "..", "..", "..", ".."])).

%% ---- the cases ----------------------------------------------------------------

-spec readme(config()) -> ok.
readme(Config) ->
    doc("Every shell command and erl/iex session of README.md runs and prints what "
        "the README shows."),
    Root = ?config(root, Config),
    Scratch = scratch(Root, ?config(priv_dir, Config)),
    {ok, Text} = file:read_file(filename:join(Root, "README.md")),
    Ctx = context(Scratch),
    Bash = bash(Scratch),
    St0 = #{ctx => Ctx, root => Root, scratch => Scratch, bash => Bash, bg => #{},
            failures => [], replayed => 0, next => none},
    St = lists:foldl(fun step/2, St0, parse(Text)),
    _ = [stop_bg(Node, St) || Node <- maps:keys(maps:get(bg, St))],
    catch port_close(Bash),
    ct:log("replayed ~b blocks", [maps:get(replayed, St)]),
    case lists:reverse(maps:get(failures, St)) of
        [] -> ok;
        Failures -> ct:fail({readme_differs, Failures})
    end.

-spec install_destdir(config()) -> ok.
install_destdir(Config) ->
    doc("make install honours DESTDIR and PREFIX (otpc.pc names PREFIX, the shared "
        "library has its soname) and make uninstall removes what it installed."),
    Root = ?config(root, Config),
    Dest = filename:join(?config(priv_dir, Config), "destdir"),
    Make = "make -s -C " ++ Root ++ " DESTDIR=" ++ Dest ++ " PREFIX=/opt/otpc ",
    {0, _} = sh(Make ++ "install", Root),
    Files = lists:sort(filelib:wildcard("**", Dest)),
    ct:log("~p", [Files]),
    Want = ["opt/otpc/bin/otpc_node", "opt/otpc/include/otpc.h", "opt/otpc/lib/libotpc.a",
            "opt/otpc/lib/libotpc.so", "opt/otpc/lib/libotpc.so.0",
            "opt/otpc/lib/pkgconfig/otpc.pc"],
    [] = Want -- Files,
    {ok, Pc} = file:read_file(filename:join(Dest, "opt/otpc/lib/pkgconfig/otpc.pc")),
    {match, _} = re:run(Pc, "^prefix=/opt/otpc$", [multiline]),
    {0, Dyn} = sh("readelf -d " ++ filename:join(Dest, "opt/otpc/lib/libotpc.so"), Root),
    {match, _} = re:run(Dyn, "SONAME.*\\[libotpc\\.so\\.0\\]"),
    {0, _} = sh(Make ++ "uninstall", Root),
    [] = [F || F <- filelib:wildcard("**", Dest), not filelib:is_dir(filename:join(Dest, F))],
    ok.

%% ---- parsing ------------------------------------------------------------------

%% The README as markers and fenced blocks, in order:
%% {marker, Line, Words} | {block, Line, Lang, [Line]}.
-spec parse(binary()) -> [tuple()].
parse(Text) ->
    Lines = string:split(Text, "\n", all),
    parse(lists:zip(lists:seq(1, length(Lines)), Lines), []).

parse([], Acc) ->
    lists:reverse(Acc);
parse([{N, L} | Rest], Acc) ->
    case re:run(L, "^<!-- replay: (.*) -->\\s*$", [{capture, all_but_first, list}, unicode]) of
        {match, [Words]} ->
            parse(Rest, [{marker, N, string:lexemes(Words, " ")} | Acc]);
        nomatch ->
            case re:run(L, "^```(\\w+)\\s*$", [{capture, all_but_first, list}]) of
                {match, [Lang]} ->
                    {Body, Rest1} = lists:splitwith(
                                      fun({_, B}) -> string:trim(B, trailing) =/= <<"```">> end,
                                      Rest),
                    Block = {block, N, Lang, [unicode:characters_to_list(B) || {_, B} <- Body]},
                    parse(tl_or_empty(Rest1), [Block | Acc]);
                nomatch ->
                    parse(Rest, Acc)
            end
    end.

tl_or_empty([]) -> [];
tl_or_empty([_ | T]) -> T.

%% ---- the replay, one item at a time ----------------------------------------------

step({marker, N, ["file", Name]}, St) ->
    St#{next => {file, N, Name}};
step({marker, N, ["skip" | Why]}, St) when Why =/= [] ->
    St#{next => {skip, N}};
step({marker, N, ["start", Node | Cmd]}, St) ->
    start_bg(N, Node, Cmd, St);
step({marker, _N, ["stop", Node]}, St) ->
    stop_bg(Node, St);
step({marker, N, Words}, _St) ->
    ct:fail({bad_replay_marker, {line, N}, Words});
step({block, N, Lang, Lines}, #{next := Next} = St0) ->
    St = St0#{next => none},
    case Next of
        {file, _, Name} ->
            Path = filename:join(maps:get(scratch, St), Name),
            ok = file:write_file(Path, [[subst(L, St), "\n"] || L <- Lines]),
            St;
        {skip, _} ->
            ct:log("line ~b: ~s block skipped", [N, Lang]),
            St;
        none ->
            block(N, Lang, Lines, St)
    end.

block(N, Lang, Lines, St) when Lang =:= "sh"; Lang =:= "shell"; Lang =:= "bash" ->
    counted(sh_block(N, [subst(L, St) || L <- Lines], St));
block(N, Lang, Lines, St) when Lang =:= "erlang"; Lang =:= "elixir" ->
    case lists:any(fun(L) -> prompt(Lang, L) =/= none end, Lines) of
        true -> counted(session(N, Lang, [subst(L, St) || L <- Lines], St));
        false -> St
    end;
block(_N, _Lang, _Lines, St) ->
    St.

counted(#{replayed := R} = St) -> St#{replayed => R + 1}.

fail(N, What, St) ->
    ct:log("line ~b DIFFERS: ~p", [N, What]),
    St#{failures => [{{line, N}, What} | maps:get(failures, St)]}.

%% ---- shell blocks ---------------------------------------------------------------

sh_block(N, Lines, St) ->
    case lists:any(fun(L) -> lists:prefix("$ ", L) end, Lines) of
        true -> transcript(N, Lines, St);
        false -> script(N, join_continued(Lines), St)
    end.

script(_N, [], St) ->
    St;
script(N, [L | Rest], St) ->
    case string:trim(L) of
        "" -> script(N, Rest, St);
        "#" ++ _ -> script(N, Rest, St);
        Cmd ->
            {Status, Out} = run(Cmd, St),
            ct:log("$ ~ts~n~ts(exit ~b)", [Cmd, Out, Status]),
            case Status of
                0 -> script(N, Rest, St);
                _ -> fail(N, {command_failed, Cmd, Status, Out}, St)
            end
    end.

transcript(N, Lines, St) ->
    Steps = split_steps(Lines),
    {St1, _} = lists:foldl(
                 fun({Cmd, Want}, {S, Norm}) ->
                         {Status, Out} = run(Cmd, S),
                         ct:log("$ ~ts~n~ts(exit ~b)", [Cmd, Out, Status]),
                         {Same, Norm1} = same(Want, Out, Norm),
                         S1 = case Same andalso Status =:= 0 of
                                  true -> S;
                                  false -> fail(N, {Cmd, {status, Status},
                                                    {readme, Want}, {got, Out}}, S)
                              end,
                         {S1, Norm1}
                 end, {St, norm_state()}, Steps),
    St1.

split_steps([]) ->
    [];
split_steps(["$ " ++ Cmd | Rest]) ->
    {Out, Rest1} = lists:splitwith(fun(L) -> not lists:prefix("$ ", L) end, Rest),
    [{Cmd, lists:flatten(lists:join("\n", Out))} | split_steps(Rest1)].

join_continued([]) -> [];
join_continued([L | Rest]) ->
    case lists:suffix("\\", L) of
        true ->
            case join_continued(Rest) of
                [Next | Tail] -> [lists:droplast(L) ++ Next | Tail];
                [] -> [L]
            end;
        false -> [L | join_continued(Rest)]
    end.

bash(Scratch) ->
    open_port({spawn_executable, "/bin/bash"},
              [{args, ["--norc", "--noprofile"]}, {cd, Scratch}, binary, stream,
               stderr_to_stdout, use_stdio, exit_status, env()]).

%% The node program the README's erl starts is the one `make' built, not the suites'.
env() ->
    {env, [{"OTPC_NODE_EXECUTABLE", false}]}.

%% A command in the one bash, stdin from /dev/null (so nothing it runs eats the
%% commands that follow): {ExitStatus, Output}.
run(Cmd, #{bash := Bash}) ->
    true = port_command(Bash, ["{ ", Cmd, "\n} </dev/null 2>&1; echo \"@@replay:$?@@\"\n"]),
    {match, [Out, Status]} = read_until(Bash, "@@replay:(\\d+)@@\n$", <<>>, ?PROMPT_TIMEOUT),
    {binary_to_integer(Status), unicode:characters_to_list(Out)}.

%% Reads from Port until Buf matches Re at its end: the text before the match and
%% the match's first group.
read_until(Port, Re, Buf, Timeout) ->
    case re:run(Buf, "^(.*?)" ++ Re, [dotall, {capture, all_but_first, binary}]) of
        {match, [Before, Group | _]} ->
            {match, [Before, Group]};
        nomatch ->
            receive
                {Port, {data, Data}} ->
                    read_until(Port, Re, <<Buf/binary, Data/binary>>, Timeout);
                {Port, {exit_status, S}} ->
                    ct:fail({exited, S, Buf})
            after Timeout ->
                    ct:fail({timeout, Re, Buf})
            end
    end.

%% ---- background nodes -------------------------------------------------------------

start_bg(N, Node0, Cmd0, #{ctx := Ctx} = St) ->
    Cmd = case Cmd0 of
              ["make", "run" | Vars] -> make_run_command(lists:join(" ", Vars), St);
              _ -> subst(lists:join(" ", Cmd0), St)
          end,
    Node = subst(Node0, St),
    %% a node of that name that a session started may still be on its way out
    ok = wait_unregistered(Node, 100),
    Log = Node ++ ".log",
    {0, Pid} = run(["{ ", Cmd, " >", Log, " 2>&1 </dev/null & } 2>/dev/null; echo $!"], St),
    Full = list_to_atom(Node ++ "@" ++ maps:get(host, Ctx)),
    ct:log("line ~b: started ~ts (~ts, pid ~ts)", [N, Cmd, Full, string:trim(Pid)]),
    case wait_ping(Full, 100) of
        ok -> St#{bg => (maps:get(bg, St))#{Node0 => string:trim(Pid)}};
        timeout -> fail(N, {no_node, Full, Cmd}, St)
    end.

%% What `make run' runs in the end (its last command, `exec priv/otpc_node ...'),
%% with the free port for 7000.
%% What `make run [VAR=...]' would exec, with the test's daemon port.
make_run_command(Vars, #{root := Root, ctx := #{port := Port}} = St) ->
    {0, Out} = sh(lists:flatten(["make -n -s run DAEMON_PORT=", integer_to_list(Port), " ", Vars]),
                  Root),
    "exec " ++ Cmd = lists:last(string:lexemes(Out, "\n")),
    subst(string:trim(Cmd), St).

stop_bg(Node, #{bg := Bg} = St) ->
    case maps:take(Node, Bg) of
        {Pid, Bg1} ->
            {_, Log} = run(["kill ", Pid, "; wait ", Pid, "; cat ", subst(Node, St), ".log"], St),
            ct:log("stopped ~ts; its output:~n~ts", [Node, Log]),
            St#{bg => Bg1};
        error ->
            St
    end.

wait_unregistered(Name, N) ->
    {ok, Names} = net_adm:names(),
    case lists:keymember(Name, 1, Names) of
        false -> ok;
        true when N > 0 -> timer:sleep(100), wait_unregistered(Name, N - 1);
        true -> ct:fail({still_registered, Name})
    end.

wait_ping(_Node, 0) ->
    timeout;
wait_ping(Node, N) ->
    case net_adm:ping(Node) of
        pong -> ok;
        pang -> timer:sleep(200), wait_ping(Node, N - 1)
    end.

%% ---- erl and iex sessions -------------------------------------------------------

prompt("erlang", L) ->
    case re:run(L, "^(\\d+)> (.*)$", [{capture, all_but_first, list}, unicode]) of
        {match, [Num, Cmd]} -> {list_to_integer(Num), Cmd};
        nomatch -> none
    end;
prompt("elixir", L) ->
    case re:run(L, "^iex\\([^)]*\\)(\\d+)> (.*)$", [{capture, all_but_first, list}, unicode]) of
        {match, [Num, Cmd]} -> {list_to_integer(Num), Cmd};
        nomatch -> none
    end.

%% The shell's prompt at the end of its output: its number.
prompt_re("erlang") -> "(?:\\([^)]*\\))?(\\d+)> $";
prompt_re("elixir") -> "iex\\([^)]*\\)(\\d+)> $".

session(N, Lang, ["$ " ++ Shell | Lines], #{scratch := Scratch} = St) ->
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", "exec " ++ Shell]}, {cd, Scratch}, binary, stream,
                      stderr_to_stdout, use_stdio, exit_status, env()]),
    {match, [Banner, First]} = read_until(Port, prompt_re(Lang), <<>>, ?PROMPT_TIMEOUT),
    ct:log("$ ~ts~n~ts", [Shell, Banner]),
    Steps = session_steps(Lang, Lines),
    {St1, _, _} =
        lists:foldl(
          fun({Num, Cmd, Want}, {S, Shown, Norm}) ->
                  true = port_command(Port, [Cmd, "\n"]),
                  {match, [Out0, Next]} = read_until(Port, prompt_re(Lang), <<>>,
                                                     ?PROMPT_TIMEOUT),
                  Out = unicode:characters_to_list(Out0),
                  ct:log("~b> ~ts~n~ts", [Num, Cmd, Out]),
                  {Same, Norm1} = same(Want, Out, Norm),
                  S1 = case {Same, binary_to_integer(Shown)} of
                           {true, Num} -> S;
                           {_, Got} -> fail(N, {Num, Cmd, {prompt, Got},
                                                {readme, Want}, {got, Out}}, S)
                       end,
                  {S1, Next, Norm1}
          end, {St, First, norm_state()}, Steps),
    quit(Port),
    St1;
session(N, _Lang, _Lines, St) ->
    fail(N, session_without_shell_line, St).

session_steps(_Lang, []) ->
    [];
session_steps(Lang, [L | Rest]) ->
    case prompt(Lang, L) of
        {Num, Cmd} ->
            {Out, Rest1} = lists:splitwith(fun(O) -> prompt(Lang, O) =:= none end, Rest),
            [{Num, Cmd, lists:flatten(lists:join("\n", Out))} | session_steps(Lang, Rest1)];
        none ->
            ct:fail({text_before_first_prompt, L})
    end.

%% End of input ends the shell; a shell that lingers is killed.
quit(Port) ->
    {os_pid, Os} = erlang:port_info(Port, os_pid),
    port_close(Port),
    timer:sleep(200),
    _ = os:cmd("kill -9 " ++ integer_to_list(Os) ++ " 2>/dev/null"),
    ok.

%% ---- comparing ----------------------------------------------------------------------

norm_state() ->
    {#{}, #{}}.

same(Want, Got, {WantMap, GotMap}) ->
    {W, WantMap1} = normalise(Want, WantMap),
    {G, GotMap1} = normalise(Got, GotMap),
    {W =:= G, {WantMap1, GotMap1}}.

%% Output without line breaks and the indentation after them, pids, refs and port
%% numbers replaced by placeholders numbered in order of first appearance (Seen
%% carries the numbering through a session).
-spec normalise(unicode:chardata(), map()) -> {binary(), map()}.
normalise(Text, Seen) ->
    Flat0 = re:replace(string:trim(Text), "[ \t]*\r?\n[ \t]*", "", [global, unicode, {return, binary}]),
    %% a logger report's time stamp
    Flat = re:replace(Flat0, "\\d+-\\w+-\\d+::\\d+:\\d+:\\d+\\.\\d+", "<time>",
                      [global, {return, binary}]),
    Tokens = "#PID<[0-9.]+>|<\\d+\\.\\d+\\.\\d+>|#Ref<[0-9.]+>|#Reference<[0-9.]+>"
             "|#Port<[0-9.]+>|\\b[1-9]\\d{3,4}\\b",
    case re:run(Flat, Tokens, [global, {capture, first, index}]) of
        nomatch -> {Flat, Seen};
        {match, Ms} -> placeholders(Flat, [M || [M] <- Ms], 0, Seen, [])
    end.

placeholders(Flat, [], At, Seen, Acc) ->
    {iolist_to_binary(lists:reverse(Acc, [binary:part(Flat, At, byte_size(Flat) - At)])), Seen};
placeholders(Flat, [{Start, Len} | Ms], At, Seen, Acc) ->
    Tok = binary:part(Flat, Start, Len),
    Kind = kind(Tok),
    case Kind =:= port andalso binary_to_integer(Tok) < 1024 of
        true ->
            placeholders(Flat, Ms, At, Seen, Acc);
        false ->
            {Id, Seen1} = case Seen of
                              #{Tok := I} ->
                                  {I, Seen};
                              _ ->
                                  I = maps:get(Kind, Seen, 0) + 1,
                                  {I, Seen#{Tok => I, Kind => I}}
                          end,
            Ph = io_lib:format("<~s~b>", [Kind, Id]),
            placeholders(Flat, Ms, Start + Len, Seen1,
                         [Ph, binary:part(Flat, At, Start - At) | Acc])
    end.

kind(<<"#Ref", _/binary>>) -> ref;
kind(<<"#Reference", _/binary>>) -> ref;
kind(<<"#Port", _/binary>>) -> port_id;
kind(<<"#PID", _/binary>>) -> pid;
kind(<<"<", _/binary>>) -> pid;
kind(_) -> port.

%% ---- substitutions ----------------------------------------------------------------

context(Scratch) ->
    Host = lists:takewhile(fun(C) -> C =/= $. end, net_adm:localhost()),
    Tag = "rp" ++ os:getpid() ++ "_",
    #{host => Host, tag => Tag, port => free_port(),
      prefix => filename:join(Scratch, "local"), scratch => Scratch}.

subst(Text, #{ctx := #{host := Host, tag := Tag, port := Port, prefix := Prefix}}) ->
    Rules = [{"<host>", Host},
             {"\\b(c[12])\\b", Tag ++ "\\1"},
             {"(--?sname )(a|b)\\b", "\\1" ++ Tag ++ "\\2"},
             {"\\b(a|b)@", Tag ++ "\\1@"},
             {"\\b7000\\b", integer_to_list(Port)},
             {"~/\\.local", Prefix}],
    lists:foldl(fun({Re, To}, T) -> re:replace(T, Re, To, [global, unicode, {return, list}]) end,
                unicode:characters_to_list(Text), Rules).

free_port() ->
    {ok, L} = gen_tcp:listen(0, [{ip, loopback}]),
    {ok, P} = inet:port(L),
    ok = gen_tcp:close(L),
    P.

%% A directory with links to the checkout's top-level entries.
scratch(Root, PrivDir) ->
    Dir = filename:join(PrivDir, "readme"),
    ok = filelib:ensure_path(Dir),
    {ok, Names} = file:list_dir(Root),
    _ = [ok = file:make_symlink(filename:join(Root, Name), filename:join(Dir, Name))
         || Name <- Names, Name =/= ".git", Name =/= "README.md"],
    Dir.

sh(Cmd, Dir) ->
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", Cmd]}, {cd, Dir}, binary, stream, stderr_to_stdout,
                      exit_status, env()]),
    sh_collect(Port, <<>>).

sh_collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> sh_collect(Port, <<Acc/binary, D/binary>>);
        {Port, {exit_status, S}} -> {S, unicode:characters_to_list(Acc)}
    after 120000 -> ct:fail({sh_timeout, Acc})
    end.

doc(Text) ->
    ct:comment(Text).
