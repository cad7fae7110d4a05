%% @doc The otpc application callback module.
%%
%% Besides starting the top supervisor, it makes the nodes' log lines
%% visible. They are logged with `domain => [otpc]', and Kernel's default
%% handler drops every domain but `[otp | _]' and none; so a filter
%% `otpc' is added to that handler to let `[otpc | _]' through (the
%% levels still apply). `logger:remove_handler_filter(default, otpc)'
%% undoes it; stopping the application removes it too.
-module(otpc_app).
-behaviour(application).

-export([start/2, stop/1]).

-define(FILTER, otpc).

-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    %% No default handler (removed, or replaced by the user) or a filter
    %% left from an earlier start: both are fine as they are.
    _ = logger:add_handler_filter(default, ?FILTER,
                                  {fun logger_filters:domain/2,
                                   {log, sub, [otpc]}}),
    otpc_sup:start_link().

-spec stop(term()) -> ok.
stop(_State) ->
    _ = logger:remove_handler_filter(default, ?FILTER),
    ok.
