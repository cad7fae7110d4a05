%% @doc Top supervisor of the otpc application.
%%
%% Its only child today is `otpc_node_sup', which holds one `otpc_node'
%% server per running C node. If that supervisor dies, every server under
%% it dies with it, which closes their ports and so stops their C nodes
%% (they run with `-watch_stdin'); restarting it then gives a clean slate.
-module(otpc_sup).
-behaviour(supervisor).

-export([start_link/0]).
-export([init/1]).

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    Flags = #{strategy => one_for_one, intensity => 5, period => 10},
    NodeSup = #{id => otpc_node_sup,
                start => {otpc_node_sup, start_link, []},
                restart => permanent,
                shutdown => infinity,
                type => supervisor},
    {ok, {Flags, [NodeSup]}}.
