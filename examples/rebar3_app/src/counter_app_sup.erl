%% @doc The application's supervisor: the C node (its OS process, owned through
%% otpc_node), then the servers it runs.
%%
%% rest_for_one, because the servers live on the node: when the node dies and is
%% started afresh, the second child runs again and puts the `counter' server back on
%% the new node. The servers themselves are children of the C node's own supervisor
%% (`otpc_sup'), which restarts a crashed one on the spot without the node going
%% down. With `{c_node, none}' in the environment the supervisor runs nothing.
-module(counter_app_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

-spec start_link() -> supervisor:startlink_ret().
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    %% A node that cannot stay up (a crash loop) ends the application, which ends a
    %% release's VM: whatever runs the release (systemd) restarts it from scratch.
    Flags = #{strategy => rest_for_one, intensity => 5, period => 60},
    case application:get_env(counter_app, c_node, none) of
        none ->
            {ok, {Flags, []}};
        Opts when is_map(Opts) ->
            Name = maps:get(name, Opts),
            Node = otpc:child_spec(Opts#{load => [counter_app:plugin()]}),
            Servers = #{id => servers,
                        start => {counter_app, start_servers, [Name]},
                        restart => permanent,
                        type => worker,
                        modules => [counter_app]},
            {ok, {Flags, [Node, Servers]}}
    end.
