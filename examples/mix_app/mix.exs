# An Elixir project whose C server lives in a plug-in built with the project:
# c_src/counter.c -> priv/counter.so, by the compiler step below (make, no hex).
defmodule CounterEx.MixProject do
  use Mix.Project

  def project do
    [
      app: :counter_ex,
      version: "0.1.0",
      elixir: "~> 1.14",
      compilers: [:counter_c] ++ Mix.compilers(),
      deps: deps()
    ]
  end

  def application do
    [extra_applications: [:logger]]
  end

  # otpc is this repository (a rebar3 project); from git it would be
  #   {:otpc, git: "https://.../otpc.git", branch: "main", manager: :rebar3}
  defp deps do
    [{:otpc, path: "../..", manager: :rebar3}]
  end
end

defmodule Mix.Tasks.Compile.CounterC do
  @moduledoc "Builds priv/counter.so with make (c_src/Makefile), against otpc's header."
  use Mix.Task.Compiler

  @impl true
  def run(_args) do
    otpc_priv = Path.join(Mix.Project.build_path(), "lib/otpc/priv")

    case System.cmd("make", ["-C", "c_src", "OTPC_PRIV=#{otpc_priv}"], stderr_to_stdout: true) do
      {_, 0} -> {:ok, []}
      {out, _} -> Mix.raise("make -C c_src failed:\n" <> out)
    end
  end
end
