%% What the suites read of an OS process: its resident memory and its open
%% descriptors, from /proc. One copy for every suite that measures a node.
-module(otpc_ct_os).

-export([rss_kib/1, fd_count/1]).

%% Resident set size of the OS process, in KiB.
-spec rss_kib(non_neg_integer()) -> non_neg_integer().
rss_kib(OsPid) ->
    {ok, Status} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/status"),
    {match, [Kib]} = re:run(Status, "VmRSS:\\s+(\\d+) kB",
                            [{capture, all_but_first, list}]),
    list_to_integer(Kib).

%% Open file descriptors of the OS process.
-spec fd_count(non_neg_integer()) -> non_neg_integer().
fd_count(OsPid) ->
    {ok, Fds} = file:list_dir("/proc/" ++ integer_to_list(OsPid) ++ "/fd"),
    length(Fds).
