%% A supervisor for suites to put children under, as a user's own
%% supervision tree would: otpc_ct_sup:start_link(Flags, ChildSpecs).
-module(otpc_ct_sup).
-behaviour(supervisor).

-export([start_link/2]).
-export([init/1]).

-spec start_link(supervisor:sup_flags(), [supervisor:child_spec()]) ->
          {ok, pid()} | {error, term()}.
start_link(Flags, Specs) ->
    supervisor:start_link(?MODULE, {Flags, Specs}).

-spec init({supervisor:sup_flags(), [supervisor:child_spec()]}) ->
          {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init({Flags, Specs}) ->
    {ok, {Flags, Specs}}.
