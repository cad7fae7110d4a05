%% bench_echo: the Erlang twin of the C node's `echo` gen_server, so the
%% benchmark compares like with like.
%%
%%   call Req                  -> Req (any term)
%%   call '$stats'             -> #{calls => C, casts => N, infos => I}
%%   call {'$sleep', Ms, Reply}-> Reply after Ms ms, without blocking other callers
%%   call {'$stop', Reason}    -> ok, then stops with Reason
%%   cast / plain message      -> only counted
-module(bench_echo).
-behaviour(gen_server).

-export([start/0, start_node/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-record(st, {calls = 0 :: non_neg_integer(),
             casts = 0 :: non_neg_integer(),
             infos = 0 :: non_neg_integer()}).

%% Starts the server registered as `echo`, not linked to the caller.
-spec start() -> {ok, pid()} | {error, term()}.
start() ->
    gen_server:start({local, echo}, ?MODULE, [], []).

%% Entry point for `erl -s bench_echo start_node ClientNode`: starts `echo`
%% and halts this node when ClientNode goes away, so a benchmark that dies
%% without cleaning up leaves no server node behind.
-spec start_node([atom()]) -> ok.
start_node([Client]) ->
    {ok, _} = start(),
    _ = spawn(fun() -> watch(Client) end),
    ok.

watch(Client) ->
    erlang:monitor_node(Client, true),
    receive {nodedown, Client} -> erlang:halt(0) end.

-spec init([]) -> {ok, #st{}}.
init([]) ->
    {ok, #st{}}.

-spec handle_call(term(), gen_server:from(), #st{}) ->
          {reply, term(), #st{}} | {noreply, #st{}} | {stop, term(), ok, #st{}}.
handle_call('$stats', _From, St = #st{calls = C, casts = N, infos = I}) ->
    {reply, #{calls => C, casts => N, infos => I}, count_call(St)};
handle_call({'$sleep', Ms, Reply}, From, St) when is_integer(Ms), Ms >= 0 ->
    _ = timer:apply_after(Ms, gen_server, reply, [From, Reply]),
    {noreply, count_call(St)};
handle_call({'$stop', Reason}, _From, St) ->
    {stop, Reason, ok, count_call(St)};
handle_call(Req, _From, St) ->
    {reply, Req, count_call(St)}.

-spec handle_cast(term(), #st{}) -> {noreply, #st{}}.
handle_cast(_Msg, St = #st{casts = N}) ->
    {noreply, St#st{casts = N + 1}}.

-spec handle_info(term(), #st{}) -> {noreply, #st{}}.
handle_info(_Msg, St = #st{infos = I}) ->
    {noreply, St#st{infos = I + 1}}.

count_call(St = #st{calls = C}) ->
    St#st{calls = C + 1}.
