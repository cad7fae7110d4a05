%% The README replay's parser and output normalisation (otpc_readme_SUITE).
-module(otpc_readme_tests).

-include_lib("eunit/include/eunit.hrl").

norm(Text) ->
    element(1, otpc_readme_SUITE:normalise(Text, #{})).

line_breaks_and_indentation_dropped_test() ->
    ?assertEqual(norm("{status,x,\n        [a,b]}"), norm("{status,x,[a,b]}")).

pids_refs_ports_numbered_in_order_test() ->
    ?assertEqual(<<"{ok,<pid1>,<pid2>,<pid1>,<ref1>,<port1>}">>,
                 norm("{ok,<9356.4.4>,<0.95.0>,<9356.4.4>,#Ref<9356.4.0.2>,41251}")),
    %% the same shape with other values normalises alike; a repeat must repeat
    ?assertEqual(norm("{<1.2.3>,<1.2.3>,7000}"), norm("{<4.5.6>,<4.5.6>,51234}")),
    ?assertNotEqual(norm("{<1.2.3>,<1.2.3>}"), norm("{<4.5.6>,<7.8.9>}")).

small_numbers_and_offsets_kept_test() ->
    ?assertEqual(<<"{echo,500,0000020,1023}">>, norm("{echo,500,0000020,1023}")),
    ?assertNotEqual(norm("{\"2\",20}"), norm("{\"2\",21}")).

numbering_carries_through_a_session_test() ->
    {_, Seen} = otpc_readme_SUITE:normalise("{ok,41251}", #{}),
    ?assertMatch({<<"port => <port1>">>, _},
                 otpc_readme_SUITE:normalise("port => 41251", Seen)).

logger_time_stamp_test() ->
    ?assertEqual(norm("=NOTICE REPORT==== 6-Dec-2026::04:23:45.662950 ==="),
                 norm("=NOTICE REPORT==== 1-Jan-2027::10:00:00.000001 ===")).

parse_markers_and_blocks_test() ->
    Text = <<"# t\n<!-- replay: file x.c -->\n```c\nint x;\n```\n"
             "```erlang\n$ erl\n1> a.\na\n```\n">>,
    ?assertEqual([{marker, 2, ["file", "x.c"]},
                  {block, 3, "c", ["int x;"]},
                  {block, 6, "erlang", ["$ erl", "1> a.", "a"]}],
                 otpc_readme_SUITE:parse(Text)).
