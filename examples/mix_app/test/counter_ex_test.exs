defmodule CounterExTest do
  use ExUnit.Case

  setup do
    {:ok, node} = CounterEx.start_node(:counter_ex_c)
    on_exit(fn -> :otpc.stop_node(node) end)
    %{node: node}
  end

  test "GenServer.call reaches the C counter", %{node: node} do
    {:ok, pid} = :otpc.start(node, :counter, 41, name: :counter)
    assert GenServer.call({:counter, node}, :inc) == {~c"1", 42}
    assert GenServer.call(pid, :get) == {~c"1", 42}
    assert GenServer.call(pid, :what) == :badarg
  end
end
