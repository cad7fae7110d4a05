%% Bad input over real distribution: a hand-rolled distribution client (gen_tcp,
%% a real version-6 handshake with the MD5 challenge) connects to a C node and sends
%% what no ERTS would send. Each case checks that only that connection is closed and
%% that the node, and a normal erl connection to it, carry on.
-module(otpc_badinput_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([garbage_packet/1, unknown_operation/1, truncated_term/1,
         oversized_length/1, handshake_garbage/1, missing_mandatory_flags/1,
         wrong_cookie_raw/1, ticks_and_silent_peer/1,
         simultaneous_connect/1, deep_nesting/1,
         alive_without_cookie_keeps_connection/1, alive_with_cookie_replaces/1,
         handshake_cap/1, oversized_handshake_message/1,
         altact_reply_forms/1, altact_forms_accepted/1, altact_malformed/1,
         fragments_accepted/1, fragments_malformed/1, fragments_over_max_message/1,
         atom_cache_accepted/1, atom_cache_malformed/1]).
-export([log/2]).

%% Flags a raw client announces: OTP 25 + 26 mandatory, DIST_MONITOR, MONITOR_NAME.
-define(FLAGS, (16#4 bor 16#8 bor 16#10 bor 16#20 bor 16#80 bor 16#100 bor 16#200
                bor 16#400 bor 16#800 bor 16#10000 bor 16#20000 bor 16#40000
                bor 16#1000000 bor 16#2000000 bor (4 bsl 32))).
-define(UNLINK_ID, 16#2000000).
-define(ALIAS, (16#8 bsl 32)).
-define(ALTACT_SIG, (16#20 bsl 32)).
-define(FRAGMENTS, 16#800000).
-define(ATOM_CACHE, 16#2000). % DIST_HDR_ATOM_CACHE
-define(LOG_HANDLER, otpc_badinput_log).
%% ALTACT_SIG_SEND's flag bits (ERTS dist.h, ERTS_DOP_ALTACT_SIG_FLG_*)
-define(A_PRIO, 1).
-define(A_TOKEN, 2).
-define(A_ALIAS, 4).
-define(A_NAME, 8).
-define(A_EXIT, 16).
-define(RAW_NAME, <<"raw_client@nohost">>).

all() ->
    [garbage_packet, unknown_operation, truncated_term, oversized_length,
     handshake_garbage, missing_mandatory_flags, wrong_cookie_raw,
     ticks_and_silent_peer, simultaneous_connect, deep_nesting,
     alive_without_cookie_keeps_connection, alive_with_cookie_replaces,
     handshake_cap, oversized_handshake_message,
     altact_reply_forms, altact_forms_accepted, altact_malformed,
     fragments_accepted, fragments_malformed, fragments_over_max_message,
     atom_cache_accepted, atom_cache_malformed].

init_per_suite(Config) ->
    otpc_ct_node:init_per_suite(Config).

end_per_suite(Config) ->
    otpc_ct_node:end_per_suite(Config).

init_per_testcase(Case, Config) ->
    %% Our OS pid in the name lets several test runs share the host's epmd.
    Name = list_to_atom(lists:concat(["cbad_", Case, "_", os:getpid()])),
    Args = case Case of
               ticks_and_silent_peer -> ["-probe", "-net_ticktime", "2"];
               handshake_cap -> ["-probe", "-max_handshakes", "4"];
               fragments_over_max_message -> ["-probe", "-max_message", "100000"];
               _ -> ["-probe"]
           end,
    {ok, Node} = otpc:start_node(#{name => Name, args => Args}),
    [{cnode, Node} | Config].

end_per_testcase(_Case, Config) ->
    _ = logger:remove_handler(?LOG_HANDLER),
    otpc:stop_node(?config(cnode, Config)),
    ok.

%% --- cases ---------------------------------------------------------------------

%% A connected peer sending a packet that is not a control message loses its
%% connection; the node keeps serving others.
garbage_packet(Config) ->
    bad_packet(Config, <<"this is not a distribution packet">>).

%% A well-formed control tuple with an operation that does not exist.
unknown_operation(Config) ->
    bad_packet(Config, <<$p, (term_to_binary({99, foo, bar}))/binary>>).

%% A term cut short: the length fields promise more than is there.
truncated_term(Config) ->
    Full = term_to_binary({2, '', self()}),
    bad_packet(Config, <<$p, (binary:part(Full, 0, byte_size(Full) - 3))/binary>>).

%% A 4-byte length far above -max_message is refused before it is allocated.
oversized_length(Config) ->
    Sock = connect_raw(Config, ?FLAGS, erlang:get_cookie()),
    ok = gen_tcp:send(Sock, <<16#7fffffff:32, "x">>),
    closed = wait_closed(Sock),
    node_still_fine(Config).

%% Garbage instead of a handshake name message.
handshake_garbage(Config) ->
    {ok, Sock} = gen_tcp:connect("127.0.0.1", port_of(Config),
                                 [binary, {packet, 2}, {active, false}]),
    ok = gen_tcp:send(Sock, <<"hello, world">>),
    closed = wait_closed(Sock),
    node_still_fine(Config).

%% A peer that lacks UNLINK_ID (mandatory from OTP 26) is refused with status
%% not_allowed, and the node logs why.
missing_mandatory_flags(Config) ->
    {ok, Sock} = gen_tcp:connect("127.0.0.1", port_of(Config),
                                 [binary, {packet, 2}, {active, false}]),
    ok = gen_tcp:send(Sock, send_name(?FLAGS band bnot ?UNLINK_ID)),
    ?assertEqual({ok, <<"snot_allowed">>}, gen_tcp:recv(Sock, 0, 5000)),
    closed = wait_closed(Sock),
    node_still_fine(Config).

%% A wrong digest is refused; the node keeps running.
wrong_cookie_raw(Config) ->
    {error, closed} = handshake(Config, ?FLAGS, 'not-the-cookie'),
    node_still_fine(Config).

%% The node ticks an idle connection (a zero-length packet) and drops a peer that
%% stays silent for net_ticktime.
ticks_and_silent_peer(Config) ->
    Sock = connect_raw(Config, ?FLAGS, erlang:get_cookie()),
    ?assertEqual({ok, <<0:32>>}, gen_tcp:recv(Sock, 4, 5000)),
    closed = wait_closed(Sock),
    %% Our erl keeps its 60 s ticktime (a tick every 15 s), so the node drops our
    %% own connection too, in the same sweep as the raw one ("no data from the
    %% peer for net_ticktime (2 s)"). A ping sent before this erl has seen that
    %% close went down with it (pang, now and then); check on a fresh connection.
    _ = erlang:disconnect_node(?config(cnode, Config)),
    node_still_fine(Config).

%% Two C nodes that have never met send to each other at the same instant, so each
%% dials the other while the other dials it; one connection must win and both
%% messages arrive. Ten rounds with fresh nodes, to meet the race more than once.
simultaneous_connect(Config) ->
    lists:foreach(fun(Round) -> simultaneous_round(Config, Round) end, lists:seq(1, 10)).

simultaneous_round(_Config, Round) ->
    Names = [list_to_atom(lists:concat(["csim_", X, Round, "_", os:getpid()]))
             || X <- ["a", "b"]],
    [A, B] = [begin {ok, N} = otpc:start_node(#{name => Nm, args => ["-probe"]}), N end
              || Nm <- Names],
    try
        [Pa, Pb] = [probe(N) || N <- [A, B]],
        [P ! {register, box} || P <- [Pa, Pb]],
        [receive {done, P, register} -> ok after 5000 -> ct:fail(no_register) end
         || P <- [Pa, Pb]],
        Pa ! {send, {box, B}, {hello_from, A}},
        Pb ! {send, {box, A}, {hello_from, B}},
        receive {probe_got, Pb, {hello_from, A}} -> ok after 10000 -> ct:fail({lost, A, Round}) end,
        receive {probe_got, Pa, {hello_from, B}} -> ok after 10000 -> ct:fail({lost, B, Round}) end
    after
        [otpc:stop_node(N) || N <- [A, B]]
    end.

probe(Node) ->
    {otpc_probe, Node} ! {spawn, self()},
    receive {spawned, P} -> P after 5000 -> ct:fail(no_probe) end.

%% A term nested a million levels deep (legal Erlang, 2 MB encoded) goes through the
%% node and back: nothing on the way recurses per level, so nothing overflows.
deep_nesting(Config) ->
    Node = ?config(cnode, Config),
    Deep = lists:foldl(fun(_, Acc) -> {Acc} end, [], lists:seq(1, 1000000)),
    {otpc_probe, Node} ! {echo, self(), Deep},
    receive {echo, _, Back} -> ?assert(Back =:= Deep)
    after 20000 -> ct:fail(no_echo)
    end,
    node_still_fine(Config).

%% Someone who knows only our node name dials the C node under it, is told
%% `alive` (the node has a connection to us) and answers `true` ("I have none,
%% replace it"). Without the cookie that must change nothing: our connection,
%% and the monitors across it, stay up, as on BEAM.
alive_without_cookie_keeps_connection(Config) ->
    Node = ?config(cnode, Config),
    P = probe(Node),
    true = erlang:monitor_node(Node, true),
    MRef = erlang:monitor(process, P),
    lists:foreach(
      fun(Ending) ->
              Sock = alive_true(Config),
              case Ending of
                  wrong_digest ->
                      ok = gen_tcp:send(Sock, <<$r, 1:32, (digest(1, 'not-the-cookie'))/binary>>);
                  give_up ->
                      ok
              end,
              gen_tcp:close(Sock)
      end, [give_up, wrong_digest, give_up, wrong_digest]),
    %% A barrier over the same connection: whatever the node did before it,
    %% we have heard by now.
    {otpc_probe, Node} ! {ping, self()},
    receive {pong, _} -> ok after 5000 -> ct:fail(no_pong) end,
    pong = net_adm:ping(Node),
    receive
        {nodedown, Node} -> ct:fail(connection_replaced_without_cookie);
        {'DOWN', MRef, _, _, Why} -> ct:fail({monitor_fired, Why})
    after 0 -> ok
    end,
    P ! {ping, self()},
    receive {pong, P} -> ok after 5000 -> ct:fail(no_pong_from_probe) end,
    true = erlang:demonitor(MRef, [flush]),
    true = erlang:monitor_node(Node, false).

%% The same with the cookie (a node that really restarted): the new connection
%% replaces ours, and only once it has proved the cookie.
alive_with_cookie_replaces(Config) ->
    Node = ?config(cnode, Config),
    true = erlang:monitor_node(Node, true),
    Sock = alive_true(Config),
    receive {nodedown, Node} -> ct:fail(replaced_before_the_digest)
    after 200 -> ok
    end,
    {ok, Sock} = finish_handshake(Sock, erlang:get_cookie()),
    receive {nodedown, Node} -> ok after 5000 -> ct:fail(not_replaced) end,
    gen_tcp:close(Sock),
    node_still_fine(Config).

%% At most -max_handshakes (4 here) incoming handshakes may be in progress: a
%% fifth silent connection is closed at once, the first four wait for the
%% setup timeout, and once they are gone a real peer gets in.
handshake_cap(Config) ->
    Stalled = [begin
                   {ok, S} = gen_tcp:connect("127.0.0.1", port_of(Config),
                                             [binary, {active, false}]),
                   S
               end || _ <- lists:seq(1, 10)],
    Closed = [S || S <- Stalled, gen_tcp:recv(S, 0, 1000) =:= {error, closed}],
    ?assertEqual(6, length(Closed)),
    [gen_tcp:close(S) || S <- Stalled],
    node_still_fine(Config).

%% A handshake message announcing more than any real one needs is refused when
%% its length arrives, not buffered until the setup timeout.
oversized_handshake_message(Config) ->
    {ok, Sock} = gen_tcp:connect("127.0.0.1", port_of(Config),
                                 [binary, {active, false}]),
    ok = gen_tcp:send(Sock, <<60000:16, 0:8000>>),
    ?assertEqual({error, closed}, gen_tcp:recv(Sock, 0, 2000)),
    node_still_fine(Config).

%% The node announces ALTACT_SIG, and answers a gen_server call from a raw peer in
%% the form the peer's flags allow: {37, ALIAS, Server, Alias} to one announcing
%% ALTACT_SIG, {33, Server, Alias} to one announcing only ALIAS, and a SEND to the
%% caller's pid to one announcing neither. The reply is {[alias | Ref], Reply}.
altact_reply_forms(Config) ->
    Node = ?config(cnode, Config),
    lists:foreach(
      fun({Flags, Want, Name}) ->
              {Sock, NodeFlags} = connect_raw_flags(Config, Flags, Name),
              ?assertEqual(?ALTACT_SIG bor ?ALIAS, NodeFlags band (?ALTACT_SIG bor ?ALIAS)),
              Caller = raw_pid(Name, 1),
              Alias = raw_ref(Name),
              Call = {'$gen_call', {Caller, [alias | Alias]}, {asked, Want}},
              ok = send_packet(Sock, {6, Caller, '', echo}, Call),
              {Ctl, Msg} = recv_packet(Sock),
              ?assertEqual({[alias | Alias], {asked, Want}}, Msg),
              case Want of
                  altact ->
                      {37, ?A_ALIAS, Server, Alias} = Ctl,
                      ?assertEqual(Node, node(Server));
                  alias_send ->
                      {33, Server, Alias} = Ctl,
                      ?assertEqual(Node, node(Server));
                  send ->
                      ?assertEqual({2, '', Caller}, Ctl)
              end,
              gen_tcp:close(Sock)
      end,
      [{?FLAGS bor ?ALIAS bor ?ALTACT_SIG, altact, <<"raw_altact@nohost">>},
       {?FLAGS bor ?ALIAS, alias_send, <<"raw_alias@nohost">>},
       {?FLAGS, send, <<"raw_plain@nohost">>}]),
    node_still_fine(Config).

%% Op 37 as later releases may send it is taken as ERTS takes it: flags as a bignum
%% with bits unknown today, elements after the ones the flags call for; to a pid, a
%% registered name (with a token) or an alias (dropped: the node makes none); an
%% exit signal to a pid and to a name. A trapping probe sees each in order, then
%% answers a ping sent last on the same connection, which the node would not read
%% had it refused anything before.
altact_forms_accepted(Config) ->
    Node = ?config(cnode, Config),
    P = probe(Node),
    P ! {trap_exit, true},
    P ! {register, raw_box},
    receive {done, P, register} -> ok after 5000 -> ct:fail(no_register) end,
    Name = <<"raw_forms@nohost">>,
    From = raw_pid(Name, 2),
    Token = {0, 37, 1, From, 0},
    {Sock, _} = connect_raw_flags(Config, ?FLAGS bor ?ALIAS bor ?ALTACT_SIG, Name),
    Signals = [{{37, (1 bsl 70) bor 16#e0 bor ?A_PRIO, From, P}, m_pid},
               {{37, (1 bsl 40) bor ?A_NAME bor ?A_TOKEN, From, raw_box, Token, extra, [1]}, m_name},
               {{37, ?A_ALIAS, From, raw_ref(Name)}, m_alias},
               {{37, ?A_ALIAS bor ?A_EXIT, From, raw_ref(Name)}, alias_exit},
               {{37, ?A_EXIT, From, P}, {shutdown, to_pid}},
               {{37, ?A_EXIT bor ?A_NAME bor ?A_PRIO, From, raw_box, future}, {shutdown, to_name}},
               {{37, ?A_PRIO, From, P}, {ping, self()}}],
    [ok = send_packet(Sock, Ctl, Payload) || {Ctl, Payload} <- Signals],
    Got = [receive {probe_got, P, M} -> M after 5000 -> ct:fail({missing, Want}) end
           || Want <- [m_pid, m_name, exit_pid, exit_name]],
    ?assertEqual([m_pid, m_name, {'EXIT', From, {shutdown, to_pid}},
                  {'EXIT', From, {shutdown, to_name}}], Got),
    receive {pong, P} -> ok after 5000 -> ct:fail(no_pong) end,
    receive {probe_got, P, Stray} -> ct:fail({delivered, Stray}) after 0 -> ok end,
    gen_tcp:close(Sock),
    node_still_fine(Config).

%% What ERTS refuses in op 37 closes the connection: negative flags (small and
%% bignum), flags that are not an integer, ALIAS with NAME, TOKEN without a fifth
%% element, a To that is not what the flags say, fewer than four elements.
altact_malformed(Config) ->
    P = probe(?config(cnode, Config)),
    From = raw_pid(?RAW_NAME, 3),
    Bad = [{37, -1, From, P},
           {37, -(1 bsl 70), From, P},
           {37, prio, From, P},
           {37, ?A_ALIAS bor ?A_NAME, From, raw_ref(?RAW_NAME)},
           {37, ?A_TOKEN, From, P},
           {37, ?A_ALIAS, From, P},
           {37, ?A_NAME, From, P},
           {37, 0, From, raw_box},
           {37, 0, From}],
    %% A name per connection: the node may not be done with the last one yet.
    lists:foreach(
      fun({I, Ctl}) ->
              Name = iolist_to_binary(["raw_bad", integer_to_list(I), "@nohost"]),
              {Sock, _} = connect_raw_flags(Config, ?FLAGS bor ?ALTACT_SIG, Name),
              ok = send_packet(Sock, Ctl, hello),
              closed = wait_closed(Sock)
      end, lists:enumerate(Bad)),
    node_still_fine(Config).

%% --- helpers --------------------------------------------------------------------

%% Dial the node under our own node name: it has a connection from us, so it
%% answers `alive`; we say `true` and get its challenge.
alive_true(Config) ->
    {ok, Sock} = gen_tcp:connect("127.0.0.1", port_of(Config),
                                 [binary, {packet, 2}, {active, false}]),
    ok = gen_tcp:send(Sock, send_name(?FLAGS, atom_to_binary(node()))),
    {ok, <<"salive">>} = gen_tcp:recv(Sock, 0, 5000),
    ok = gen_tcp:send(Sock, <<"strue">>),
    Sock.

%% With FRAGMENTS agreed every packet has a distribution header, both ways: a
%% message cut into four fragments (interleaved with a tick, a whole message and
%% another sequence) reaches the probe, and its 200 KB echo comes back to the raw
%% client as fragments (131 69, then 131 70 with ids counting down to 1, one
%% sequence id, no atom cache references) whose bytes are the message.
fragments_accepted(Config) ->
    Node = ?config(cnode, Config),
    Name = <<"raw_frag@nohost">>,
    {Sock, NodeFlags} = connect_raw_flags(Config, ?FLAGS bor ?FRAGMENTS, Name),
    ?assertEqual(?FRAGMENTS, NodeFlags band ?FRAGMENTS),
    Me = raw_pid(Name, 1),
    Big = rand:bytes(200000),
    Body = frag_body({6, Me, '', otpc_probe}, {echo, Me, Big}),
    Small = frag_body({6, Me, '', otpc_probe}, {echo, Me, small}),
    {B1, R1} = split_binary(Body, 1000),
    {B2, R2} = split_binary(R1, 70000),
    {B3, B4} = split_binary(R2, 60000),
    ok = gen_tcp:send(Sock, frag_first(7, 4, B1)),
    ok = gen_tcp:send(Sock, <<>>),
    ok = gen_tcp:send(Sock, frag_cont(7, 3, B2)),
    %% the first fragment holds the whole control message, and a bit more
    {S1, S2} = split_binary(Small, byte_size(term_to_binary({6, Me, '', otpc_probe})) + 2),
    ok = gen_tcp:send(Sock, frag_first(8, 2, S1)),
    ok = gen_tcp:send(Sock, <<131, 68, 0, Small/binary>>),
    ok = gen_tcp:send(Sock, frag_cont(7, 2, B3)),
    ok = gen_tcp:send(Sock, frag_cont(8, 1, S2)),
    ok = gen_tcp:send(Sock, frag_cont(7, 1, B4)),
    %% the small ones first (they were whole before the big one was), then the echo
    {{2, '', Me}, {echo, _, small}} = recv_hdr_message(Sock),
    {{2, '', Me}, {echo, _, small}} = recv_hdr_message(Sock),
    {{2, '', Me}, {echo, P, Big}} = recv_hdr_message(Sock),
    Node = node(P),
    node_still_fine(Config).

%% Every malformed header or fragment closes that connection with the node
%% carrying on: a fragment of an unknown sequence, out of order or repeated, a
%% sequence id already in progress, fragment id 0, a first fragment without its
%% whole control message, atom cache references (not agreed), a 'p' packet (no
%% header), a reassembled payload that is not a term, more sequences in progress
%% than the node takes (64).
fragments_malformed(Config) ->
    Name = <<"raw_frag@nohost">>,
    Me = raw_pid(Name, 1),
    Body = frag_body({6, Me, '', otpc_probe}, {echo, Me, rand:bytes(1000)}),
    {B1, R1} = split_binary(Body, 100),
    {B2, B3} = split_binary(R1, 400),
    Cases =
        [{unknown_sequence, [frag_cont(5, 1, B1)]},
         {out_of_order, [frag_first(5, 3, B1), frag_cont(5, 1, B2)]},
         {repeated, [frag_first(5, 3, B1), frag_cont(5, 2, B2), frag_cont(5, 2, B2)]},
         {sequence_in_progress, [frag_first(5, 3, B1), frag_first(5, 3, B1)]},
         {fragment_id_0, [frag_first(5, 0, B1)]},
         {control_cut, [frag_first(5, 2, binary:part(B1, 0, 10))]},
         {atom_cache_refs, [<<131, 68, 1, 16#08, 0, 1, $a, Body/binary>>]},
         {pass_through, [<<$p, (term_to_binary({6, Me, '', otpc_probe}))/binary,
                           (term_to_binary(hello))/binary>>]},
         {bad_payload, [frag_first(5, 2, B1), frag_cont(5, 1, <<255, 255>>)]},
         {too_many_sequences,
          [frag_first(S, 2, B1) || S <- lists:seq(1, 65)] ++ [frag_cont(1, 1, B3)]}],
    lists:foreach(
      fun({Why, Packets}) ->
              ct:log("~p", [Why]),
              Own = <<"raw_", (atom_to_binary(Why))/binary, "@nohost">>,
              {Sock, _} = connect_raw_flags(Config, ?FLAGS bor ?FRAGMENTS, Own),
              %% the node may close before the last ones are sent
              [_ = gen_tcp:send(Sock, P) || P <- Packets],
              closed = wait_closed(Sock),
              node_still_fine(Config)
      end, Cases).

%% A fragmented message longer than -max_message (100000 here) closes the
%% connection at the fragment that takes it past the limit, before its bytes are
%% kept; one just within the limit arrives.
fragments_over_max_message(Config) ->
    Name = <<"raw_frag@nohost">>,
    Me = raw_pid(Name, 1),
    Fits = frag_body({6, Me, '', otpc_probe}, {echo, Me, binary:copy(<<7>>, 90000)}),
    {F1, F2} = split_binary(Fits, 50000),
    {Sock, _} = connect_raw_flags(Config, ?FLAGS bor ?FRAGMENTS, Name),
    ok = gen_tcp:send(Sock, frag_first(1, 2, F1)),
    ok = gen_tcp:send(Sock, frag_cont(1, 1, F2)),
    {{2, '', Me}, {echo, _, <<7, _/binary>>}} = recv_hdr_message(Sock),
    Over = frag_body({6, Me, '', otpc_probe}, {echo, Me, binary:copy(<<7>>, 120000)}),
    {O1, R} = split_binary(Over, 60000),
    {O2, O3} = split_binary(R, 30000),
    ok = gen_tcp:send(Sock, frag_first(2, 3, O1)),
    ok = gen_tcp:send(Sock, frag_cont(2, 2, O2)),
    _ = gen_tcp:send(Sock, frag_cont(2, 1, O3)),
    closed = wait_closed(Sock),
    node_still_fine(Config).

%% With DIST_HDR_ATOM_CACHE agreed, headers carry atom cache references both ways. The
%% node takes new entries in every segment, references to them in any order, a
%% fragmented message whose first fragment's references name an entry that a whole
%% message between its fragments sets to another atom (each message keeps its own),
%% and answers with references of its own: new entries the first time, references
%% only when the same atoms come again.
atom_cache_accepted(Config) ->
    Name = <<"raw_cache@nohost">>,
    {Sock, NodeFlags} = connect_raw_flags(Config, ?FLAGS bor ?FRAGMENTS bor ?ATOM_CACHE, Name),
    ?assertEqual(?ATOM_CACHE, NodeFlags band ?ATOM_CACHE),
    Me = raw_pid(Name, 1),
    Ctl = {6, Me, '', otpc_probe},
    Atoms = ['', otpc_probe, echo, hello, binary_to_atom(Name)],
    Ixs = [16#000, 16#101, 16#342, 16#7ff, 16#123],
    New = hdr_refs([{new, Ix, A} || {Ix, A} <- lists:zip(Ixs, Atoms)]),
    Body = refs_body([Ctl, {echo, Me, hello}], Atoms),
    ok = gen_tcp:send(Sock, <<131, 68, New/binary, Body/binary>>),
    {{2, '', Me}, {echo, P, hello}, New1, C1} = recv_cached(Sock, #{}),
    ?assertEqual(4, New1), % my node's name, echo, its node's name, hello
    Order = lists:reverse(lists:zip(Ixs, Atoms)),
    Old = hdr_refs([{old, Ix} || {Ix, _} <- Order]),
    Body2 = refs_body([Ctl, {echo, Me, hello}], [A || {_, A} <- Order]),
    ok = gen_tcp:send(Sock, <<131, 68, Old/binary, Body2/binary>>),
    {{2, '', Me}, {echo, P, hello}, 0, C2} = recv_cached(Sock, C1),
    %% 16#7ff (hello's) names frag_atom for the sequence, other_atom for the message
    %% between its fragments
    Olds = [{old, 16#101}, {old, 16#342}, {old, 16#000}, {old, 16#123}],
    Rest = [otpc_probe, echo, '', binary_to_atom(Name)],
    SeqBody = refs_body([Ctl, {echo, Me, frag_atom}], [frag_atom | Rest]),
    CtlSize = byte_size(refs_body([Ctl], [frag_atom | Rest])),
    {F1, F2} = split_binary(SeqBody, CtlSize + 3),
    SeqRefs = hdr_refs([{new, 16#7ff, frag_atom} | Olds]),
    ok = gen_tcp:send(Sock, <<131, 69, 9:64, 2:64, SeqRefs/binary, F1/binary>>),
    Between = hdr_refs([{new, 16#7ff, other_atom} | Olds]),
    BetweenBody = refs_body([Ctl, {echo, Me, other_atom}], [other_atom | Rest]),
    ok = gen_tcp:send(Sock, <<131, 68, Between/binary, BetweenBody/binary>>),
    ok = gen_tcp:send(Sock, frag_cont(9, 1, F2)),
    {{2, '', Me}, {echo, P, other_atom}, _, C3} = recv_cached(Sock, C2),
    {{2, '', Me}, {echo, P, frag_atom}, _, _} = recv_cached(Sock, C3),
    node_still_fine(Config).

%% A malformed atom cache header or reference closes only that connection, and the
%% node logs why: a reference to an entry never set, an ATOM_CACHE_REF beyond the
%% header's references (in the control message, in the payload), a header cut short
%% (whole and in a first fragment), an entry's text that is not UTF-8.
atom_cache_malformed(Config) ->
    Node = ?config(cnode, Config),
    add_log_handler(),
    Name = <<"raw_cache@nohost">>,
    Me = raw_pid(Name, 1),
    Ctl = {6, Me, '', otpc_probe},
    One = hdr_refs([{new, 16#10, ''}]),
    Cases =
        [{never_set, <<131, 68, (hdr_refs([{old, 16#055}]))/binary,
                       (refs_body([Ctl, {echo, Me, x}], ['']))/binary>>,
          <<"reference to an atom cache entry never set">>},
         {ref_beyond_header, <<131, 68, One/binary,
                               (refs_body([Ctl, {echo, Me, x}], ['', otpc_probe]))/binary>>,
          <<"malformed control message term">>},
         {ref_beyond_header_payload,
          <<131, 68, One/binary, (refs_body([Ctl], ['']))/binary,
            (refs_body([{echo, Me, x}], [a, b, echo]))/binary>>,
          <<"malformed payload term">>},
         {truncated, <<131, 68, 2, 16#88, 0>>, <<"truncated atom cache references">>},
         {truncated_first_fragment, <<131, 69, 5:64, 2:64, 1, 16#08>>,
          <<"truncated atom cache references">>},
         {not_utf8, <<131, 68, 1, 16#08, 0, 1, 255, (refs_body([Ctl], ['']))/binary>>,
          <<"atom cache entry not UTF-8">>}],
    lists:foreach(
      fun({Why, Packet, Reason}) ->
              ct:log("~p", [Why]),
              Own = <<"raw_", (atom_to_binary(Why))/binary, "@nohost">>,
              {Sock, _} = connect_raw_flags(Config, ?FLAGS bor ?FRAGMENTS bor ?ATOM_CACHE, Own),
              ok = gen_tcp:send(Sock, Packet),
              closed = wait_closed(Sock),
              wait_log(Node, <<"malformed packet from ", Own/binary, ": ", Reason/binary>>),
              node_still_fine(Config)
      end, Cases).

%% The references section of a header: N, the flags, then each reference
%% ({new, Index, Atom} or {old, Index}); no LongAtoms.
hdr_refs(Refs) ->
    Halves = [case R of
                  {new, Ix, _} -> 8 bor (Ix bsr 8);
                  {old, Ix} -> Ix bsr 8
              end || R <- Refs] ++ [0],
    Entries = << <<(case R of
                        {new, Ix, A} ->
                            T = atom_to_binary(A),
                            <<(Ix band 255), (byte_size(T)), T/binary>>;
                        {old, Ix} ->
                            <<(Ix band 255)>>
                    end)/binary>> || R <- Refs >>,
    <<(length(Refs)), (flag_bytes(Halves))/binary, Entries/binary>>.

flag_bytes([Lo, Hi | Rest]) -> <<Hi:4, Lo:4, (flag_bytes(Rest))/binary>>;
flag_bytes([Lo]) -> <<0:4, Lo:4>>;
flag_bytes([]) -> <<>>.

%% Terms as they follow a header with references: unversioned, each atom of Atoms
%% written as ATOM_CACHE_REF with its position in the list.
refs_body(Terms, Atoms) ->
    iolist_to_binary([refs_term(T, Atoms) || T <- Terms]).

refs_term(Term, Atoms) ->
    <<131, Bin/binary>> = term_to_binary(Term, [{minor_version, 2}]),
    {_, Out} = lists:foldl(
                 fun(A, {I, Acc}) ->
                         T = atom_to_binary(A),
                         {I + 1, binary:replace(Acc, <<119, (byte_size(T)), T/binary>>,
                                                <<82, I>>, [global])}
                 end, {0, Bin}, Atoms),
    Out.

%% The next message from the node to a raw peer with the atom cache agreed, its
%% references resolved with Cache (the node's entries as this side saw them):
%% {Ctl, Payload, how many new entries its header set, Cache after it}.
recv_cached(Sock, Cache) ->
    case gen_tcp:recv(Sock, 0, 10000) of
        {ok, <<>>} ->
            recv_cached(Sock, Cache);
        {ok, <<131, 68, N, Rest/binary>>} ->
            {Atoms, New, Cache1, Terms} = read_refs(N, Rest, Cache),
            Used = term_size(Terms),
            <<C:Used/binary, P/binary>> = Terms,
            Tab = list_to_tuple(Atoms),
            {erts_debug:dist_ext_to_term(Tab, <<131, C/binary>>),
             erts_debug:dist_ext_to_term(Tab, <<131, P/binary>>), New, Cache1};
        Other ->
            ct:fail({no_hdr_packet, Other})
    end.

read_refs(0, Rest, Cache) ->
    {[], 0, Cache, Rest};
read_refs(N, Rest, Cache) ->
    FB = N div 2 + 1,
    <<Flags:FB/binary, Entries/binary>> = Rest,
    Halves = halves(Flags),
    Long = lists:nth(N + 1, Halves) band 1 =:= 1,
    read_entries(lists:sublist(Halves, N), Long, Entries, Cache, [], 0).

halves(<<Hi:4, Lo:4, Rest/binary>>) -> [Lo, Hi | halves(Rest)];
halves(<<>>) -> [].

read_entries([], _Long, Rest, Cache, Acc, New) ->
    {lists:reverse(Acc), New, Cache, Rest};
read_entries([F | Fs], Long, <<Lo, Rest/binary>>, Cache, Acc, New) ->
    Ix = (F band 7) bsl 8 bor Lo,
    case F band 8 of
        8 ->
            {Len, Rest1} = case Long of
                               true -> <<L:16, R/binary>> = Rest, {L, R};
                               false -> <<L, R/binary>> = Rest, {L, R}
                           end,
            <<Text:Len/binary, Rest2/binary>> = Rest1,
            A = binary_to_atom(Text),
            read_entries(Fs, Long, Rest2, Cache#{Ix => A}, [A | Acc], New + 1);
        0 ->
            read_entries(Fs, Long, Rest, Cache, [maps:get(Ix, Cache) | Acc], New)
    end.

%% The size of the (unversioned) term at the head of Bin, references allowed: the
%% tags the node sends here.
term_size(Bin) ->
    term_size(1, Bin, 0).

term_size(0, _Bin, Used) ->
    Used;
term_size(N, <<Tag, Rest/binary>>, Used) ->
    {Own, More} = tag_size(Tag, Rest),
    <<_:Own/binary, Next/binary>> = Rest,
    term_size(N - 1 + More, Next, Used + 1 + Own).

tag_size(97, _) -> {1, 0};
tag_size(98, _) -> {4, 0};
tag_size(82, _) -> {1, 0};
tag_size(119, <<L, _/binary>>) -> {1 + L, 0};
tag_size(118, <<L:16, _/binary>>) -> {2 + L, 0};
tag_size(106, _) -> {0, 0};
tag_size(104, <<A, _/binary>>) -> {1, A};
tag_size(108, <<L:32, _/binary>>) -> {4, L + 1};
tag_size(107, <<L:16, _/binary>>) -> {2 + L, 0};
tag_size(109, <<L:32, _/binary>>) -> {4 + L, 0};
tag_size(88, Rest) -> {atom_size(Rest) + 12, 0};
tag_size(90, <<N:16, Rest/binary>>) -> {2 + atom_size(Rest) + 4 + 4 * N, 0}.

atom_size(<<82, _, _/binary>>) -> 2;
atom_size(<<119, L, _/binary>>) -> 2 + L;
atom_size(<<118, L:16, _/binary>>) -> 3 + L.

%% The node's log lines, as logger events sent to this process.
-spec log(logger:log_event(), logger:handler_config()) -> ok.
log(Event, #{config := #{pid := Pid}}) ->
    Pid ! {otpc_log, Event},
    ok.

add_log_handler() ->
    ok = logger:add_handler(?LOG_HANDLER, ?MODULE,
                            #{level => all, config => #{pid => self()},
                              filter_default => stop,
                              filters => [{otpc, {fun logger_filters:domain/2,
                                                  {log, sub, [otpc]}}}]}).

%% Waits for the node's log line that holds Text.
wait_log(Node, Text) ->
    receive
        {otpc_log, #{msg := {"~ts: ~ts", [Node, Line]}}} when is_binary(Line) ->
            case binary:match(Line, Text) of
                nomatch -> wait_log(Node, Text);
                _ -> ok
            end
    after 5000 ->
        ct:fail({no_log_line, Node, Text})
    end.

%% What follows a distribution header: the terms without their version bytes.
frag_body(Ctl, Payload) ->
    <<_:8, C/binary>> = term_to_binary(Ctl),
    <<_:8, M/binary>> = term_to_binary(Payload),
    <<C/binary, M/binary>>.

frag_first(Seq, Frag, Data) -> <<131, 69, Seq:64, Frag:64, 0, Data/binary>>.

frag_cont(Seq, Frag, Data) -> <<131, 70, Seq:64, Frag:64, Data/binary>>.

%% The next message of a connection with fragments agreed, reassembled if it
%% came in fragments (which must then be one sequence, in order): {Ctl, Payload}.
recv_hdr_message(Sock) ->
    case gen_tcp:recv(Sock, 0, 10000) of
        {ok, <<>>} ->
            recv_hdr_message(Sock);
        {ok, <<131, 68, 0, Rest/binary>>} ->
            hdr_terms(Rest);
        {ok, <<131, 69, Seq:64, N:64, 0, Rest/binary>>} when N > 1 ->
            recv_fragments(Sock, Seq, N - 1, [Rest]);
        Other ->
            ct:fail({no_hdr_packet, Other})
    end.

recv_fragments(_Sock, _Seq, 0, Acc) ->
    hdr_terms(iolist_to_binary(lists:reverse(Acc)));
recv_fragments(Sock, Seq, N, Acc) ->
    case gen_tcp:recv(Sock, 0, 10000) of
        {ok, <<>>} -> recv_fragments(Sock, Seq, N, Acc);
        {ok, <<131, 70, Seq:64, N:64, Rest/binary>>} ->
            recv_fragments(Sock, Seq, N - 1, [Rest | Acc]);
        Other -> ct:fail({no_fragment, Seq, N, Other})
    end.

hdr_terms(Bin) ->
    {Ctl, Used} = binary_to_term(<<131, Bin/binary>>, [used]),
    {Ctl, binary_to_term(<<131, (binary:part(Bin, Used - 1, byte_size(Bin) - Used + 1))/binary>>)}.

bad_packet(Config, Packet) ->
    Sock = connect_raw(Config, ?FLAGS, erlang:get_cookie()),
    ok = gen_tcp:send(Sock, <<(byte_size(Packet)):32, Packet/binary>>),
    closed = wait_closed(Sock),
    node_still_fine(Config).

%% The node answers pings and messages over the normal connection, and a fresh raw
%% connection can still complete a handshake.
node_still_fine(Config) ->
    Node = ?config(cnode, Config),
    pong = net_adm:ping(Node),
    {otpc_probe, Node} ! {ping, self()},
    receive {pong, P} when node(P) =:= Node -> ok
    after 5000 -> ct:fail(no_pong)
    end,
    Sock = connect_raw(Config, ?FLAGS, erlang:get_cookie()),
    gen_tcp:close(Sock).

port_of(Config) ->
    [Name, Host] = string:split(atom_to_list(?config(cnode, Config)), "@"),
    {port, Port, _} = erl_epmd:port_please(Name, Host),
    Port.

connect_raw(Config, Flags, Cookie) ->
    {ok, Sock} = handshake(Config, Flags, Cookie),
    ok = inet:setopts(Sock, [{packet, raw}]),
    Sock.

send_name(Flags) ->
    send_name(Flags, <<"raw_client@nohost">>).

send_name(Flags, Name) ->
    <<$N, Flags:64, 1:32, (byte_size(Name)):16, Name/binary>>.

%% The initiator's side of the version-6 handshake.
handshake(Config, Flags, Cookie) ->
    {ok, Sock} = gen_tcp:connect("127.0.0.1", port_of(Config),
                                 [binary, {packet, 2}, {active, false}]),
    ok = gen_tcp:send(Sock, send_name(Flags)),
    {ok, <<"sok">>} = gen_tcp:recv(Sock, 0, 5000),
    finish_handshake(Sock, Cookie).

%% From the challenge on.
finish_handshake(Sock, Cookie) ->
    case finish_handshake_flags(Sock, Cookie) of
        {ok, Sock, _NodeFlags} -> {ok, Sock};
        Error -> Error
    end.

%% The same, also giving the flags the node announced.
finish_handshake_flags(Sock, Cookie) ->
    {ok, <<$N, NodeFlags:64, Challenge:32, _Creation:32, NLen:16,
           _PeerName:NLen/binary>>} = gen_tcp:recv(Sock, 0, 5000),
    Mine = rand:uniform(16#ffffffff),
    ok = gen_tcp:send(Sock, <<$r, Mine:32, (digest(Challenge, Cookie))/binary>>),
    case gen_tcp:recv(Sock, 0, 5000) of
        {ok, <<$a, Digest:16/binary>>} ->
            ?assertEqual(digest(Mine, Cookie), Digest),
            {ok, Sock, NodeFlags};
        {error, _} = Error ->
            Error
    end.

%% A raw connection as Name with 4-byte packets (ticks are empty ones), and the
%% node's flags. A name of its own per connection: the node may not have seen the
%% last one close yet, and would answer `alive`.
connect_raw_flags(Config, Flags, Name) ->
    {ok, Sock} = gen_tcp:connect("127.0.0.1", port_of(Config),
                                 [binary, {packet, 2}, {active, false}]),
    ok = gen_tcp:send(Sock, send_name(Flags, Name)),
    {ok, <<"sok">>} = gen_tcp:recv(Sock, 0, 5000),
    {ok, Sock, NodeFlags} = finish_handshake_flags(Sock, erlang:get_cookie()),
    ok = inet:setopts(Sock, [{packet, 4}]),
    {Sock, NodeFlags}.

%% A pid and a reference of a raw client's node (creation 1, as send_name says).
raw_pid(Name, Num) ->
    binary_to_term(<<131, 88, 119, (byte_size(Name)), Name/binary, Num:32, 0:32, 1:32>>).

raw_ref(Name) ->
    binary_to_term(<<131, 90, 3:16, 119, (byte_size(Name)), Name/binary,
                     1:32, 7:32, 8:32, 9:32>>).

%% 'p', the control tuple, the payload: one packet of a {packet, 4} socket.
send_packet(Sock, Ctl, Payload) ->
    gen_tcp:send(Sock, [$p, term_to_binary(Ctl), term_to_binary(Payload)]).

%% The next packet that is not a tick: {Ctl, Payload}.
recv_packet(Sock) ->
    case gen_tcp:recv(Sock, 0, 5000) of
        {ok, <<>>} ->
            recv_packet(Sock);
        {ok, <<$p, Rest/binary>>} ->
            {Ctl, Used} = binary_to_term(Rest, [used]),
            {Ctl, binary_to_term(binary:part(Rest, Used, byte_size(Rest) - Used))};
        Other ->
            ct:fail({no_packet, Other})
    end.

digest(Challenge, Cookie) ->
    erlang:md5([atom_to_list(Cookie), integer_to_list(Challenge)]).

wait_closed(Sock) ->
    case gen_tcp:recv(Sock, 0, 10000) of
        {error, closed} -> closed;
        {ok, _Data} -> wait_closed(Sock);
        {error, Other} -> ct:fail({expected_close, Other})
    end.
