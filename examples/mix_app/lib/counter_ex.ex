defmodule CounterEx do
  @moduledoc "The project's Elixir side: where its plug-in is, and a node that loads it."

  @doc "The plug-in built from c_src/counter.c."
  def plugin, do: Path.join(:code.priv_dir(:counter_ex), "counter.so")

  @doc "A C node named `name` on this host with the plug-in loaded, owned by the caller."
  def start_node(name) do
    {:ok, _} = Application.ensure_all_started(:otpc)
    :otpc.start_node(%{name: name, load: [String.to_charlist(plugin())]})
  end
end
