%% @doc The project's Erlang side: where its plug-in is, a node that loads it, and
%% the servers the application puts on the node it runs (see counter_app_sup).
-module(counter_app).

-export([plugin/0, start_node/1, c_node/0, start_servers/1]).

%% @doc The plug-in built from c_src/counter.c.
-spec plugin() -> file:filename().
plugin() ->
    filename:join(code:priv_dir(counter_app), "counter.so").

%% @doc A C node named `Name' on this host with the plug-in loaded, owned by the
%% caller (see otpc:start_node/1).
-spec start_node(atom()) -> {ok, node()} | {error, term()}.
start_node(Name) ->
    {ok, _} = application:ensure_all_started(otpc),
    otpc:start_node(#{name => Name, load => [plugin()]}).

%% @doc The full name of the C node the application runs (`{c_node, #{name =>
%% Name}}'), `undefined' if it runs none.
-spec c_node() -> node() | undefined.
c_node() ->
    case application:get_env(counter_app, c_node, none) of
        #{name := Name} -> full_name(Name);
        none -> undefined
    end.

%% @doc Starts the `counter' server (start value: the environment's `counter')
%% under the supervisor of the C node `Name', which the application's supervisor
%% has just started. Returns `ignore': the server is the C supervisor's child, and
%% this supervisor child is there only to run again after the node is restarted.
-spec start_servers(atom()) -> ignore | {error, term()}.
start_servers(Name) ->
    Node = full_name(Name),
    Start = application:get_env(counter_app, counter, 0),
    Spec = #{id => counter,
             start => {otpc, start_link, [Node, counter, Start, [{name, counter}]]}},
    case supervisor:start_child({otpc_sup, Node}, Spec) of
        {ok, _} -> ignore;
        {error, _} = Error -> Error
    end.

%% The C node takes this node's host, as otpc:start_node/1 does.
full_name(Name) ->
    [_, Host] = string:split(atom_to_list(node()), "@"),
    list_to_atom(atom_to_list(Name) ++ "@" ++ Host).
