%% Helpers shared by the real-node suites.

%% Waits for a message matching Pattern and returns it, or fails the case
%% with what the mailbox held instead. The fun keeps Msg__ out of the
%% caller's scope, while variables the caller already bound in Pattern are
%% still matched (a fun body sees the enclosing bindings). The including
%% module defines ?TIMEOUT.
-define(recv(Pattern), ?recv(Pattern, ?TIMEOUT)).
-define(recv(Pattern, Timeout),
        (fun() ->
                 receive
                     Pattern = Msg__ -> Msg__
                 after Timeout ->
                         ct:fail({no_message, ??Pattern, {line, ?LINE},
                                  {mailbox, mailbox()}})
                 end
         end)()).

%% Fails if a message matching Pattern is already in the mailbox. Only
%% meaningful after a barrier (a round trip that orders what came before).
-define(refute(Pattern),
        (fun() ->
                 receive
                     Pattern = Msg__ ->
                         ct:fail({unexpected_message, summary(Msg__),
                                  {line, ?LINE}})
                 after 0 ->
                         ok
                 end
         end)()).

%% What the mailbox holds, each message rendered by summary/1 (taken out).
mailbox() ->
    receive
        Msg -> [summary(Msg) | mailbox()]
    after 0 ->
            []
    end.

%% A bounded rendering: failure reports must stay readable even when the
%% term is a 64 MiB binary.
summary(Term) ->
    lists:flatten(io_lib:format("~tP", [Term, 12])).
