%% Fragments (DFLAG_FRAGMENTS) between a real erl and the C node: large messages
%% go as fragments both ways, so small calls of other processes complete while a
%% 64 MiB message crosses the same connection, the large message arrives byte for
%% byte, and a process's exit signals never overtake its large messages.
%%
%% Nothing is timed: the cases count the small calls that completed between the
%% large message's send and its arrival. Without fragments those calls wait behind
%% the whole message in the connection (a few at most complete, before it starts).
%%
%% The probe protocol is otpc_dist_SUITE's, with two commands for large messages:
%%   {adler32, From, Bin}   From ! {adler32, P, {byte_size(Bin), erlang:adler32(Bin)}}
%%   {big, From, Size}      From ! {big, P, big(Size)} (made by the C node)
-module(otpc_frag_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([large_in_while_small_calls/1, large_out_while_small_calls/1,
         large_echo_while_small_calls/1, exit_after_large_message/1,
         several_senders_interleave/1]).

-define(TIMEOUT, 10000).
-define(LARGE_TIMEOUT, 120000).
-define(MIB, (1024 * 1024)).
%% Small calls that must complete during one large transfer: far more than the
%% two or so that sneak in before a whole 64 MiB message blocks the line (14-100
%% with fragments on the development VM).
-define(MIN_DURING, 8).

-include("otpc_ct.hrl").

-type config() :: [{atom(), term()}].

-spec all() -> [atom()].
all() ->
    [large_in_while_small_calls, large_out_while_small_calls,
     large_echo_while_small_calls, exit_after_large_message,
     several_senders_interleave].

-spec init_per_suite(config()) -> config() | {skip, string()}.
init_per_suite(Config) ->
    otpc_ct_node:init_per_suite(Config).

-spec end_per_suite(config()) -> ok.
end_per_suite(Config) ->
    otpc_ct_node:end_per_suite(Config).

-spec init_per_testcase(atom(), config()) -> config() | {fail, term()}.
init_per_testcase(Case, Config) ->
    case otpc_ct_node:start_case_node("cfrag_", Case, ["-probe"]) of
        {ok, Node} -> [{node, Node} | Config];
        {fail, _} = Fail -> Fail
    end.

-spec end_per_testcase(atom(), config()) -> ok.
end_per_testcase(_Case, Config) ->
    otpc_ct_node:stop_case_node(Config).

%% --- cases ---------------------------------------------------------------------

-spec large_in_while_small_calls(config()) -> term().
large_in_while_small_calls(Config) ->
    doc("64 MiB from erl to a C process (ERTS cuts it, the node reassembles it) "
        "arrives byte for byte while small calls of other processes complete."),
    Node = ?config(node, Config),
    P = probe(Node),
    Bin = rand:bytes(64 * ?MIB),
    Want = {byte_size(Bin), erlang:adler32(Bin)},
    during(Node, fun() ->
                         P ! {adler32, self(), Bin},
                         {adler32, P, Got} = ?recv({adler32, P, _}, ?LARGE_TIMEOUT),
                         ?assertEqual(Want, Got)
                 end).

-spec large_out_while_small_calls(config()) -> term().
large_out_while_small_calls(Config) ->
    doc("64 MiB made by a C process goes to erl as fragments, byte for byte, "
        "while small calls of other processes complete."),
    Node = ?config(node, Config),
    P = probe(Node),
    Want = big(64 * ?MIB),
    during(Node, fun() ->
                         P ! {big, self(), 64 * ?MIB},
                         {big, P, Got} = ?recv({big, P, _}, ?LARGE_TIMEOUT),
                         same(Want, Got)
                 end).

-spec large_echo_while_small_calls(config()) -> term().
large_echo_while_small_calls(Config) ->
    doc("64 MiB to a C process and back, byte for byte, while small calls of "
        "other processes complete."),
    Node = ?config(node, Config),
    P = probe(Node),
    Bin = rand:bytes(64 * ?MIB),
    during(Node, fun() ->
                         P ! {echo, self(), Bin},
                         {echo, P, Got} = ?recv({echo, P, _}, ?LARGE_TIMEOUT),
                         same(Bin, Got)
                 end).

-spec exit_after_large_message(config()) -> term().
exit_after_large_message(Config) ->
    doc("A C process sends 16 MiB, then exits: the DOWN of a monitor and the "
        "EXIT of a link (trapped) arrive after the large message, never before."),
    Node = ?config(node, Config),
    P = probe(Node),
    Self = self(),
    Linked = spawn_link(fun() ->
                                process_flag(trap_exit, true),
                                link(P),
                                Self ! linked,
                                Big = receive {big, P, B} -> B after ?LARGE_TIMEOUT -> none end,
                                Exit = receive {'EXIT', P, R} -> R after ?TIMEOUT -> none end,
                                Self ! {linked_got, byte_size_of(Big), Exit}
                        end),
    linked = ?recv(linked),
    sync(P),
    Ref = erlang:monitor(process, P),
    P ! {big, Linked, 16 * ?MIB},
    P ! {big, self(), 16 * ?MIB},
    P ! {exit, bye},
    %% the very next message here is the large one, then the DOWN
    First = receive M1 -> M1 after ?LARGE_TIMEOUT -> ct:fail(nothing) end,
    ?assertMatch({big, P, _}, First),
    {big, P, Bin} = First,
    same(big(16 * ?MIB), Bin),
    {'DOWN', Ref, process, P, bye} = ?recv({'DOWN', Ref, process, P, _}),
    {linked_got, Size, bye} = ?recv({linked_got, _, _}),
    ?assertEqual(16 * ?MIB, Size).

-spec several_senders_interleave(config()) -> term().
several_senders_interleave(Config) ->
    doc("Three C processes send 16 MiB each at once; each message arrives whole "
        "and in order with a small message its sender sent after it."),
    Node = ?config(node, Config),
    Ps = [probe(Node) || _ <- [1, 2, 3]],
    [begin
         P ! {big, self(), 16 * ?MIB},
         P ! {echo, self(), {after_big, P}}
     end || P <- Ps],
    Want = big(16 * ?MIB),
    [begin
         %% the first of P's messages in the mailbox is the large one
         First = receive
                     {big, P, _} = M -> M;
                     {echo, P, _} = M -> M
                 after ?LARGE_TIMEOUT -> ct:fail({nothing_from, P})
                 end,
         {big, P, Bin} = First,
         same(Want, Bin),
         {echo, P, {after_big, P}} = ?recv({echo, P, {after_big, P}})
     end || P <- Ps],
    ok.

%% --- helpers -------------------------------------------------------------------

doc(_) -> ok.

probe(Node) ->
    {otpc_probe, Node} ! {spawn, self()},
    {spawned, P} = ?recv({spawned, _}),
    Node = node(P),
    P.

sync(P) ->
    Tag = make_ref(),
    P ! {echo, self(), Tag},
    _ = ?recv({echo, P, Tag}),
    ok.

%% Run Large while two other processes make small calls (an echo each, to probes
%% of their own on the same node, so over the same connection); the calls that
%% completed while Large ran must be at least ?MIN_DURING.
during(Node, Large) ->
    Count = counters:new(1, []),
    Self = self(),
    Callers = [spawn_link(fun() -> small_caller(Node, Count, Self) end) || _ <- [1, 2]],
    [receive {ready, C} -> ok after ?TIMEOUT -> ct:fail(caller_not_ready) end
     || C <- Callers],
    Before = counters:get(Count, 1),
    Large(),
    During = counters:get(Count, 1) - Before,
    [C ! stop || C <- Callers],
    [receive {stopped, C} -> ok after ?TIMEOUT -> ct:fail(caller_not_stopped) end
     || C <- Callers],
    ct:comment("~b small calls completed during the large transfer", [During]),
    ?assert(During >= ?MIN_DURING).

small_caller(Node, Count, Owner) ->
    P = probe(Node),
    sync(P),
    Owner ! {ready, self()},
    small_loop(P, Count, Owner, 0).

small_loop(P, Count, Owner, I) ->
    receive
        stop -> Owner ! {stopped, self()}
    after 0 ->
            P ! {echo, self(), {small, I}},
            receive {echo, P, {small, I}} -> ok
            after ?LARGE_TIMEOUT -> exit({small_call_lost, I})
            end,
            counters:add(Count, 1, 1),
            small_loop(P, Count, Owner, I + 1)
    end.

%% What {big, From, Size} makes in the C node (c_src/test/node/probe.c).
big(Size) ->
    << <<K:32, (binary:copy(<<(K band 255)>>, 65532))/binary>>
       || K <- lists:seq(1, Size div 65536) >>.

same(Want, Got) when Want =:= Got ->
    ok;
same(Want, Got) when is_binary(Got) ->
    ct:fail(#{want_size => byte_size(Want), got_size => byte_size(Got),
              first_difference_at => binary:longest_common_prefix([Want, Got])});
same(_Want, Got) ->
    ct:fail({not_a_binary, summary(Got)}).

byte_size_of(B) when is_binary(B) -> byte_size(B);
byte_size_of(Other) -> Other.
