%% eunit tests of otpc_node_log: the node program's output lines
%% reassembled, parsed into logger events, and the last ones kept.
-module(otpc_node_log_tests).

-include_lib("eunit/include/eunit.hrl").

%% Feeds port output ({eol | noeol, Chunk}) and returns the lines it made.
feed(Pieces) ->
    {Lines, _Buf} = feed(Pieces, otpc_node_log:new()),
    Lines.

feed(Pieces, Buf0) ->
    lists:foldl(fun(Piece, {Acc, Buf}) ->
                        {Lines, Buf1} = otpc_node_log:data(Piece, Buf),
                        {Acc ++ Lines, Buf1}
                end, {[], Buf0}, Pieces).

parse_test_() ->
    P = fun otpc_node_log:parse/1,
    [?_assertEqual({debug, <<"dist: hello">>}, P(<<"debug dist: hello">>)),
     ?_assertEqual({info, <<"node: x y z">>}, P(<<"info node: x y z">>)),
     ?_assertEqual({notice, <<"node: ready c1@h">>}, P(<<"notice node: ready c1@h">>)),
     ?_assertEqual({warning, <<"a: b">>}, P(<<"warning a: b">>)),
     ?_assertEqual({error, <<"a: b">>}, P(<<"error a: b">>)),
     %% No known level: the whole line at info.
     ?_assertEqual({info, <<"no level here">>}, P(<<"no level here">>)),
     ?_assertEqual({info, <<"critical a: b">>}, P(<<"critical a: b">>)),
     ?_assertEqual({info, <<"ERROR a: b">>}, P(<<"ERROR a: b">>)),
     ?_assertEqual({info, <<"error">>}, P(<<"error">>)),
     ?_assertEqual({info, <<>>}, P(<<>>)),
     ?_assertEqual({error, <<>>}, P(<<"error ">>))].

ready_test_() ->
    R = fun otpc_node_log:ready/1,
    [?_assertEqual({ready, <<"c1@h">>}, R(<<"notice node: ready c1@h">>)),
     ?_assertEqual({ready, <<"c1@h">>}, R(<<"notice node: ready c1@h  ">>)),
     ?_assertEqual(false, R(<<"info node: ready c1@h">>)),
     ?_assertEqual(false, R(<<"notice dist: ready c1@h">>)),
     ?_assertEqual(false, R(<<"notice node: readying">>)),
     ?_assertEqual(false, R(<<"node: ready c1@h">>))].

event_test() ->
    ?assertEqual({warning, "~ts: ~ts", ['c1@h', <<"dist: slow peer">>],
                  #{otpc_node => 'c1@h', domain => [otpc]}},
                 otpc_node_log:event('c1@h', <<"warning dist: slow peer">>)),
    ?assertMatch({info, _, ['c1@h', <<"==1== ERROR: AddressSanitizer">>], _},
                 otpc_node_log:event('c1@h', <<"==1== ERROR: AddressSanitizer">>)).

whole_lines_test() ->
    ?assertEqual([<<"info a: 1">>, <<"info a: 2">>],
                 feed([{eol, <<"info a: 1">>}, {eol, <<"info a: 2">>}])).

pieces_test() ->
    ?assertEqual([<<"debug long: xxxyyyzz">>, <<"next">>],
                 feed([{noeol, <<"debug long: xxx">>}, {noeol, <<"yyy">>},
                       {eol, <<"zz">>}, {eol, <<"next">>}])).

truncated_test() ->
    Chunk = binary:copy(<<"y">>, 16384),
    %% 5 chunks of 16 KiB: the first 4 make 64 KiB, the rest is dropped.
    [Line, Next] = feed([{noeol, Chunk} || _ <- lists:seq(1, 5)] ++
                            [{eol, <<"tail">>}, {eol, <<"next">>}]),
    ?assertEqual(iolist_to_binary([binary:copy(<<"y">>, 65536), " [truncated]"]),
                 Line),
    ?assertEqual(<<"next">>, Next).

flush_test() ->
    {[<<"a">>], Buf} = feed([{eol, <<"a">>}, {noeol, <<"error odd: no newline">>}],
                            otpc_node_log:new()),
    {Lines, Buf1} = otpc_node_log:flush(Buf),
    ?assertEqual([<<"error odd: no newline">>], Lines),
    ?assertEqual({[], Buf1}, otpc_node_log:flush(Buf1)),
    ?assertMatch({[], _}, otpc_node_log:flush(otpc_node_log:new())).

not_utf8_test() ->
    %% UTF-8 stays as it is; an invalid byte makes the line Latin-1.
    ?assertEqual([<<"info a: caf", 16#c3, 16#a9>>],
                 feed([{eol, <<"info a: caf", 16#c3, 16#a9>>}])),
    ?assertEqual([<<"info a: caf", 16#c3, 16#a9>>],
                 feed([{eol, <<"info a: caf", 16#e9>>}])).

recent_test() ->
    Lines = [integer_to_binary(N) || N <- lists:seq(1, 12)],
    Recent = lists:foldl(fun otpc_node_log:remember/2, [], Lines),
    ?assertEqual(lists:nthtail(2, Lines), otpc_node_log:recent(Recent)),
    Long = otpc_node_log:remember(binary:copy(<<"z">>, 5000), []),
    ?assertEqual([binary:copy(<<"z">>, 1024)], otpc_node_log:recent(Long)).
