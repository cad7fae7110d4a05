%% @doc The node program's output, line by line, as `logger' events.
%%
%% The node writes one line per event to stderr (which the port merges into
%% stdout): `<level> <module>: <text>', e.g. `notice node: ready c1@host'.
%% This module is pure but for `log/2': it reassembles lines the port
%% delivers in pieces, parses them, and says what to log. Invariants:
%%
%% <ul>
%% <li>A line longer than the port's line buffer arrives as `noeol' chunks
%%   and then an `eol' chunk; up to `?LOG_LINE_MAX' bytes of it are kept, the
%%   rest is dropped and the line ends in ` [truncated]'.</li>
%% <li>Lines come out as UTF-8; bytes that are not are read as Latin-1, so
%%   that `logger' never prints a format error instead of the line.</li>
%% <li>A line without a known level (a sanitizer report, say) is logged
%%   whole at `info'.</li>
%% <li>The last `?RECENT_MAX' lines, each cut to `?RECENT_LINE_MAX' bytes,
%%   are kept to explain a failed start.</li>
%% </ul>
-module(otpc_node_log).

-export([new/0, data/2, flush/1]).
-export([parse/1, ready/1, event/2, log/2]).
-export([remember/2, recent/1]).
-export_type([buf/0, recent/0, event/0]).

-define(LOG_LINE_MAX, 65536).     % longer reassembled lines are cut
-define(RECENT_MAX, 10).          % lines kept for a failed start's report
-define(RECENT_LINE_MAX, 1024).

-record(buf, {parts = [] :: [binary()],   % noeol chunks, newest first
              size = 0 :: non_neg_integer()}).

-opaque buf() :: #buf{}.
%% A line being reassembled from the port's `noeol' chunks.

-type recent() :: [binary()].
%% The last lines seen, newest first; `[]' to begin with.

-type event() :: {logger:level(), io:format(), [term()], logger:metadata()}.
%% What `logger:log/4' gets for one line.

%% ---------------------------------------------------------------------
%% Reassembly

%% @doc An empty line buffer.
-spec new() -> buf().
new() ->
    #buf{}.

%% @doc Takes one piece of port output (`{line, N}' mode) and returns the
%% lines it completes: none for a `noeol' chunk, one for an `eol' chunk.
-spec data({eol | noeol, binary()}, buf()) -> {[binary()], buf()}.
data({noeol, Chunk}, #buf{parts = Parts, size = Size} = B) ->
    case Size >= ?LOG_LINE_MAX of
        true -> {[], B};
        false -> {[], B#buf{parts = [Chunk | Parts],
                            size = Size + byte_size(Chunk)}}
    end;
data({eol, Chunk}, #buf{parts = Parts, size = Size}) ->
    Line = case Size >= ?LOG_LINE_MAX of
               true -> [lists:reverse(Parts), <<" [truncated]">>];
               false -> lists:reverse(Parts, [Chunk])
           end,
    {[to_utf8(iolist_to_binary(Line))], #buf{}}.

%% @doc Ends a pending partial line, as the port does not when the program
%% exits after writing a last line without a newline.
-spec flush(buf()) -> {[binary()], buf()}.
flush(#buf{parts = []} = B) ->
    {[], B};
flush(B) ->
    data({eol, <<>>}, B).

%% ---------------------------------------------------------------------
%% Parsing

%% @doc `<<"<level> <module>: <text>">>' -> `{Level, <<"<module>: <text>">>}';
%% a line without a known level -> `{info, Line}'.
-spec parse(binary()) -> {logger:level(), binary()}.
parse(Line) ->
    case binary:split(Line, <<" ">>) of
        [LevelName, Text] ->
            case level(LevelName) of
                undefined -> {info, Line};
                Level -> {Level, Text}
            end;
        [_] ->
            {info, Line}
    end.

%% @doc The name a `notice node: ready <name>' line reports, trimmed, or
%% `false' for any other line.
-spec ready(binary()) -> {ready, binary()} | false.
ready(Line) ->
    case parse(Line) of
        {notice, <<"node: ready ", Reported/binary>>} ->
            {ready, string:trim(Reported)};
        _ ->
            false
    end.

%% @doc The `logger' event for a line of node `Node': its level, the
%% format `"~ts: ~ts"' with the node and the text after the level, and the
%% metadata `#{otpc_node => Node, domain => [otpc]}'.
-spec event(node(), binary()) -> event().
event(Node, Line) ->
    {Level, Text} = parse(Line),
    {Level, "~ts: ~ts", [Node, Text], #{otpc_node => Node, domain => [otpc]}}.

%% @doc Logs a line of node `Node' (see `event/2').
-spec log(node(), binary()) -> ok.
log(Node, Line) ->
    {Level, Format, Args, Meta} = event(Node, Line),
    logger:log(Level, Format, Args, Meta).

level(<<"debug">>) -> debug;
level(<<"info">>) -> info;
level(<<"notice">>) -> notice;
level(<<"warning">>) -> warning;
level(<<"error">>) -> error;
level(_) -> undefined.

%% The node writes UTF-8; anything that is not is shown as Latin-1 rather
%% than making logger print a format error.
to_utf8(Bin) ->
    case unicode:characters_to_binary(Bin) of
        Utf8 when is_binary(Utf8) -> Utf8;
        _ -> unicode:characters_to_binary(Bin, latin1)
    end.

%% ---------------------------------------------------------------------
%% The last lines

%% @doc Adds a line to the last ones kept.
-spec remember(binary(), recent()) -> recent().
remember(Line, Recent) ->
    lists:sublist([shorten(Line) | Recent], ?RECENT_MAX).

%% @doc The lines kept, oldest first.
-spec recent(recent()) -> [binary()].
recent(Recent) ->
    lists:reverse(Recent).

shorten(<<Head:?RECENT_LINE_MAX/binary, _/binary>>) -> Head;
shorten(Line) -> Line.
