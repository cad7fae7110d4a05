%% A common_test hook for the release matrix (`make test-otp`, issue 12): the
%% cases test/otp_known_failures.config lists as failing on the OTP release
%% under test still run, but a failure of one of them is reported as a skip
%% that gives the listed reason and the error, so the matrix stays green on
%% what is known and red on anything new. A listed case that passes is
%% logged ("passes now: take it off the list"). scripts/otp_ct.sh installs it
%% with the file and the release; `make test' on the host does not use it.
%%
%% Each entry of the file is `{Since, Suite, Case, Why}': the case fails on
%% OTP `Since' and later. `Case' is a case name, or `{Group, Case}' to match
%% it in that group only.
-module(otpc_ct_known).

-export([id/1, init/2, post_end_per_testcase/5, terminate/1]).

-type opts() :: #{file := file:filename(), otp_release := string()}.
-type entry() :: {Since :: pos_integer(), Suite :: module(),
                  Case :: atom() | {atom(), atom()}, Why :: string()}.
-record(state, {known :: [entry()], otp :: pos_integer(),
                skipped = [] :: [term()], passed = [] :: [term()]}).

-spec id(opts()) -> atom().
id(_Opts) ->
    ?MODULE.

%% @doc Reads the list and keeps the entries for this release.
-spec init(atom(), opts()) -> {ok, #state{}}.
init(_Id, #{file := File, otp_release := Release}) ->
    Otp = list_to_integer(Release),
    {ok, Entries} = file:consult(File),
    ok = lists:foreach(fun check_entry/1, Entries),
    Known = [E || {Since, _, _, _} = E <- Entries, Otp >= Since],
    {ok, #state{known = Known, otp = Otp}}.

%% @doc A listed case's failure becomes a skip; anything else is left alone.
-spec post_end_per_testcase(module(), atom(), list(), term(), #state{}) ->
          {term(), #state{}}.
post_end_per_testcase(Suite, Case, Config, Result, #state{} = S) ->
    Group = group(Config),
    case lookup(Suite, Group, Case, S#state.known) of
        false ->
            {Result, S};
        {ok, Why} ->
            Id = {Suite, Group, Case},
            case failed(Result) of
                false ->
                    ct:pal("known failure ~p passes now on OTP ~b: take it off "
                           "test/otp_known_failures.config", [Id, S#state.otp]),
                    {Result, S#state{passed = [Id | S#state.passed]}};
                true ->
                    Text = io_lib:format("known failure on OTP ~b (issue 12): ~ts; "
                                         "it failed with ~0tP",
                                         [S#state.otp, Why, Result, 12]),
                    {{skip, lists:flatten(Text)},
                     S#state{skipped = [Id | S#state.skipped]}}
            end
    end.

%% @doc A summary at the end of the run, on the console (ct's own logs are
%% closed by now).
-spec terminate(#state{}) -> ok.
terminate(#state{otp = Otp, skipped = Skipped, passed = Passed}) ->
    io:format(user, "known failures on OTP ~b: ~b failed as listed ~p; "
              "~b listed but passed ~p~n",
              [Otp, length(Skipped), lists:reverse(Skipped),
               length(Passed), lists:reverse(Passed)]).

group(Config) ->
    case proplists:get_value(tc_group_properties, Config, []) of
        [] -> undefined;
        Props -> proplists:get_value(name, Props)
    end.

lookup(_Suite, _Group, _Case, []) ->
    false;
lookup(Suite, _Group, Case, [{_, Suite, Case, Why} | _]) ->
    {ok, Why};
lookup(Suite, Group, Case, [{_, Suite, {Group, Case}, Why} | _]) ->
    {ok, Why};
lookup(Suite, Group, Case, [_ | Rest]) ->
    lookup(Suite, Group, Case, Rest).

%% What test_server hands the hook for a case that passed, was skipped or
%% saved its config; anything else ({'EXIT', _}, {failed, _}, {fail, _},
%% {error, _}, a timetrap) is a failure.
failed(ok) -> false;
failed({skip, _}) -> false;
failed({skipped, _}) -> false;
failed({save_config, _}) -> false;
failed({skip_and_save, _, _}) -> false;
failed(L) when is_list(L) -> false;
failed(_) -> true.

check_entry({Since, Suite, Case, Why} = E) ->
    ok = case is_integer(Since) andalso is_atom(Suite) andalso io_lib:printable_list(Why)
                 andalso (is_atom(Case) orelse
                          (is_tuple(Case) andalso tuple_size(Case) =:= 2)) of
             true -> ok;
             false -> error({bad_known_failure_entry, E})
         end;
check_entry(E) ->
    error({bad_known_failure_entry, E}).
