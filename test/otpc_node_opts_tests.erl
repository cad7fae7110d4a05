%% eunit tests of otpc_node_opts: the start options checked and turned into
%% the node program's config, argv and environment, without a running node
%% (the calling node's facts are a literal context).
-module(otpc_node_opts_tests).

-include_lib("eunit/include/eunit.hrl").

-define(EXE, "/opt/otpc/priv/otpc_node").

short() ->
    #{node => 'ct@myhost', longnames => false, cookie => ctcookie,
      executable => ?EXE}.

long() ->
    #{node => 'ct@myhost.example.com', longnames => true, cookie => ctcookie,
      executable => ?EXE}.

bad(Opts) ->
    {error, Reason} = otpc_node_opts:validate(Opts),
    %% config/2 refuses the same, with the same reason.
    ?assertEqual({error, Reason}, otpc_node_opts:config(Opts, short())),
    Reason.

refused_test_() ->
    [?_assertEqual({badopt, {name, missing}}, bad(#{})),
     ?_assertEqual({badopt, {name, missing}}, bad(#{cookie => c})),
     ?_assertEqual({badopt, [{name, x}]}, bad([{name, x}])),
     ?_assertEqual({badopt, {name, 'a@b'}}, bad(#{name => 'a@b'})),
     ?_assertEqual({badopt, {name, ''}}, bad(#{name => ''})),
     ?_assertEqual({badopt, {name, "x"}}, bad(#{name => "x"})),
     ?_assertEqual({badopt, {cookie, "c"}}, bad(#{name => x, cookie => "c"})),
     ?_assertEqual({badopt, {args, [x]}}, bad(#{name => x, args => [x]})),
     ?_assertEqual({badopt, {args, "-probe"}},
                   bad(#{name => x, args => "-probe"})),
     ?_assertEqual({badopt, {timeout, 0}}, bad(#{name => x, timeout => 0})),
     ?_assertEqual({badopt, {timeout, infinity}},
                   bad(#{name => x, timeout => infinity})),
     ?_assertEqual({badopt, {executable, 42}},
                   bad(#{name => x, executable => 42})),
     ?_assertEqual({badopt, nmae}, bad(#{name => x, nmae => y}))].

defaults_short_names_test() ->
    ?assertEqual(ok, otpc_node_opts:validate(#{name => c1})),
    ?assertEqual({ok, #{node => 'c1@myhost',
                        name_args => ["-sname", "c1"],
                        cookie => ctcookie,
                        args => [],
                        env => [],
                        timeout => 10000,
                        executable => ?EXE}},
                 otpc_node_opts:config(#{name => c1}, short())).

tls_dist_inherited_test() ->
    Tls = ["-proto_dist", "inet_tls", "-ssl_dist_optfile", "/etc/otpc/dist.conf"],
    Ctx = (short())#{dist_args => Tls},
    {ok, C} = otpc_node_opts:config(#{name => c1, args => ["-probe"]}, Ctx),
    ?assertEqual(Tls ++ ["-probe"], maps:get(args, C)),
    %% A -proto_dist of the caller's own replaces the inherited one whole.
    Own = ["-proto_dist", "inet_tcp"],
    {ok, C2} = otpc_node_opts:config(#{name => c1, args => Own}, Ctx),
    ?assertEqual(Own, maps:get(args, C2)).

load_and_env_test() ->
    {ok, C} = otpc_node_opts:config(#{name => c1, load => ["a.so", <<"b.so">>],
                                      args => ["-probe"],
                                      env => [{"ASAN_OPTIONS", "x=1"}]}, short()),
    ?assertEqual(["-load", "a.so", "-load", "b.so", "-probe"], maps:get(args, C)),
    ?assertEqual([{"ASAN_OPTIONS", "x=1"}, {"OTPC_COOKIE", "ctcookie"}],
                 otpc_node_opts:port_env(C)),
    ?assertEqual({error, {badopt, {load, "a.so"}}},
                 otpc_node_opts:validate(#{name => c1, load => "a.so"})),
    ?assertEqual({error, {badopt, {env, [{"A", 1}]}}},
                 otpc_node_opts:validate(#{name => c1, env => [{"A", 1}]})).

long_names_test() ->
    {ok, Config} = otpc_node_opts:config(#{name => c1}, long()),
    ?assertMatch(#{node := 'c1@myhost.example.com',
                   name_args := ["-name", "c1@myhost.example.com"]}, Config).

given_options_test_() ->
    Opts = #{name => c2, cookie => other, args => ["-probe", "-loglevel", "debug"],
             timeout => 300, executable => <<"/tmp/node.sh">>},
    {ok, Config} = otpc_node_opts:config(Opts, short()),
    [?_assertMatch(#{node := 'c2@myhost', cookie := other, timeout := 300,
                     args := ["-probe", "-loglevel", "debug"],
                     executable := <<"/tmp/node.sh">>}, Config),
     ?_assertMatch({ok, #{executable := ?EXE}},
                   otpc_node_opts:config(#{name => c2, executable => default},
                                         short()))].

port_args_test() ->
    {ok, Config} = otpc_node_opts:config(#{name => c3, cookie => sekrit,
                                           args => ["-probe"]}, short()),
    Args = otpc_node_opts:port_args(Config),
    ?assertEqual(["-sname", "c3", "-watch_stdin", "-probe"], Args),
    %% The cookie is in the environment only.
    ?assertNot(lists:member("sekrit", Args)),
    ?assertEqual([{"OTPC_COOKIE", "sekrit"}], otpc_node_opts:port_env(Config)).

long_names_port_args_test() ->
    {ok, Config} = otpc_node_opts:config(#{name => c4}, long()),
    ?assertEqual(["-name", "c4@myhost.example.com", "-watch_stdin"],
                 otpc_node_opts:port_args(Config)).
