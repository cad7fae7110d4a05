%% @doc The project's Erlang side: where its plug-in is, and a node that loads it.
-module(counter_app).

-export([plugin/0, start_node/1]).

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
