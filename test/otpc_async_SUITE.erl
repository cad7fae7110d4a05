%% Blocking work off the scheduler: otpc_async (a message back) and
%% otpc_async_reply (a caller's reply), against a real C node.
%%
%% echo's {'$blocking', Ms, Reply} sleeps on the node's pool and then answers;
%% the probe's {async, Ms, Term} (see otpc_dist_SUITE for the probe protocol)
%% runs otpc_async and tells its owner {async_ref, P, Ref}; the result comes
%% as {otpc_async, Ref, _}, which the owner gets as {probe_got, P, _}. No case
%% asserts a duration: "meanwhile" is shown by order (answers that arrive
%% while a job is known to be still sleeping, because its result has not).
-module(otpc_async_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([blocking_reply_leaves_server_free/1, message_result/1, error_result/1,
         more_jobs_than_threads/1, spin_answers/1]).

-type config() :: [{atom(), term()}].

-define(TIMEOUT, 20000).
-include("otpc_ct.hrl").

-spec suite() -> [tuple()].
suite() ->
    [{timetrap, {minutes, 2}}].

-spec all() -> [atom()].
all() ->
    [blocking_reply_leaves_server_free, message_result, error_result,
     more_jobs_than_threads, spin_answers].

-spec init_per_suite(config()) -> config() | {skip, string()}.
init_per_suite(Config) ->
    otpc_ct_node:init_per_suite(Config).

-spec end_per_suite(config()) -> ok.
end_per_suite(Config) ->
    otpc_ct_node:end_per_suite(Config).

-spec init_per_testcase(atom(), config()) -> config() | {fail, term()}.
init_per_testcase(Case, Config) ->
    case otpc_ct_node:start_case_node("c_", Case, ["-probe", "-async_threads", "2"]) of
        {ok, Node} -> [{node, Node} | Config];
        {fail, _} = Fail -> Fail
    end.

-spec end_per_testcase(atom(), config()) -> ok.
end_per_testcase(_Case, Config) ->
    otpc_ct_node:stop_case_node(Config).

%%% ------------------------------------------------------------------

-spec blocking_reply_leaves_server_free(config()) -> term().
blocking_reply_leaves_server_free(Config) ->
    ct:comment("While echo's caller waits for a job that sleeps 3 s on the pool, "
               "echo answers 50 other calls; then the first caller gets its reply."),
    Echo = {echo, ?config(node, Config)},
    %% sent before the calls below, from this process: echo takes it first
    Slow = gen_server:send_request(Echo, {'$blocking', 3000, slow_done}),
    [N = gen_server:call(Echo, N) || N <- lists:seq(1, 50)],
    timeout = gen_server:wait_response(Slow, 0), %% wait_: the request stays open
    {reply, slow_done} = gen_server:receive_response(Slow, ?TIMEOUT).

-spec message_result(config()) -> term().
message_result(Config) ->
    ct:comment("otpc_async: the job's term comes back to the process as "
               "{otpc_async, Ref, {ok, Term}}, and the process answers pings "
               "while its job sleeps."),
    P = probe(?config(node, Config)),
    Term = {result, [1, 2.5, <<"three">>]},
    P ! {async, 1500, Term},
    {async_ref, P, Ref} = ?recv({async_ref, P, _}),
    true = is_reference(Ref),
    P ! {ping, self()},
    {pong, P} = ?recv({pong, P}),
    ?refute({probe_got, P, {otpc_async, Ref, _}}),
    {probe_got, P, {otpc_async, Ref, {ok, Term}}} =
        ?recv({probe_got, P, {otpc_async, Ref, _}}).

-spec error_result(config()) -> term().
error_result(Config) ->
    ct:comment("A job that returns an error code: {otpc_async, Ref, {error, Code}}."),
    P = probe(?config(node, Config)),
    P ! {async, 0, fail},
    {async_ref, P, Ref} = ?recv({async_ref, P, _}),
    {probe_got, P, {otpc_async, Ref, {error, 42}}} =
        ?recv({probe_got, P, {otpc_async, Ref, _}}).

-spec more_jobs_than_threads(config()) -> term().
more_jobs_than_threads(Config) ->
    ct:comment("Ten jobs on a pool of two threads (-async_threads 2): every one "
               "runs once and answers its own caller."),
    Echo = {echo, ?config(node, Config)},
    Self = self(),
    [spawn_link(fun() -> Self ! {done, N, gen_server:call(Echo, {'$blocking', 200, N},
                                                          ?TIMEOUT)}
                end) || N <- lists:seq(1, 10)],
    [{done, N, N} = ?recv({done, N, _}) || N <- lists:seq(1, 10)],
    ok.

-spec spin_answers(config()) -> term().
spin_answers(Config) ->
    ct:comment("echo's {'$spin', Ms, Reply} computes inside the callback and "
               "answers Reply."),
    {spun, 1} = gen_server:call({echo, ?config(node, Config)}, {'$spin', 100, {spun, 1}}).

%%% ------------------------------------------------------------------

probe(Node) ->
    {otpc_probe, Node} ! {spawn, self()},
    {spawned, P} = ?recv({spawned, _}),
    P.
