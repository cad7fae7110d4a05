# The C node is a distribution peer: run the tests from a distributed node,
#   elixir --sname counter_ex_test -S mix test
unless Node.alive?(), do: raise("run: elixir --sname counter_ex_test -S mix test")
ExUnit.start()
