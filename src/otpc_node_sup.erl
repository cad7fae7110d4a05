%% @doc Supervisor of the `otpc_node' servers, one per running C node.
%%
%% The children are temporary: a C node that died is reported to its owner,
%% never restarted behind the owner's back.
%%
%% This supervisor also owns the registry, a named public ETS table mapping
%% each node name to its server (see `otpc_node_registry'). Owning it here
%% ties the table's lifetime to the servers it describes: if this supervisor
%% dies, its children and the table go together and a restart starts both
%% empty.
-module(otpc_node_sup).
-behaviour(supervisor).

-export([start_link/0, start_child/2]).
-export([init/1]).

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

%% @doc Starts an `otpc_node' server owned by `Owner'. See
%% `otpc_node:start_link/2' for `Config'.
-spec start_child(pid(), otpc_node_opts:config()) ->
          {ok, pid()} | {error, term()}.
start_child(Owner, Config) ->
    case supervisor:start_child(?MODULE, [Owner, Config]) of
        {ok, Pid} -> {ok, Pid};
        {ok, Pid, _Info} -> {ok, Pid};
        {error, Reason} -> {error, Reason}
    end.

-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    ok = otpc_node_registry:init(),
    Flags = #{strategy => simple_one_for_one, intensity => 5, period => 10},
    Child = #{id => otpc_node,
              start => {otpc_node, start_link, []},
              restart => temporary,
              %% The servers trap exits, so a shutdown runs their stop.
              shutdown => otpc_node:shutdown_timeout(),
              type => worker,
              modules => [otpc_node]},
    {ok, {Flags, [Child]}}.
