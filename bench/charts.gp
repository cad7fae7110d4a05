# bench/charts.gp: the server bench's charts, from the data bench_server writes.
#   gnuplot -e "dir='bench/charts'; note='...'" bench/charts.gp
# dir holds dist.dat, daemon_d1.dat and daemon_d8.dat (columns: the x value, then
# rate per_core us_per_call p50_us p90_us p99_us p999_us for C, then the same for
# BEAM); note (what run this was) goes under every title. A missing file or figure
# ("-") leaves its lines out.
if (!exists("dir")) dir = 'bench/charts'
if (!exists("note")) note = ''
sub = "shared 2-CPU VM, noisy: one run, read ratios loosely\n" . note

set terminal pngcairo size 900,560 font "sans,10" noenhanced
set datafile missing "-"
set grid
set key inside left top
set logscale x 2
set style line 1 lc rgb "#1f5fbf" lw 2 pt 7 ps 0.8
set style line 2 lc rgb "#d9731a" lw 2 pt 5 ps 0.8
set style line 3 lc rgb "#1f5fbf" lw 2 pt 7 ps 0.8 dt 2
set style line 4 lc rgb "#d9731a" lw 2 pt 5 ps 0.8 dt 2
set style line 5 lc rgb "#1f5fbf" lw 1 pt 6 ps 0.8 dt 3
set style line 6 lc rgb "#d9731a" lw 1 pt 4 ps 0.8 dt 3
set format y "%.0s%c"

dist = dir . '/dist.dat'
d1 = dir . '/daemon_d1.dat'
d8 = dir . '/daemon_d8.dat'
exists_file(f) = system("test -r '" . f . "' && echo 1 || echo 0") + 0

if (exists_file(dist)) {
    set output dir . '/dist_throughput.png'
    set title "Distribution: calls/s, C client node -> {echo, Node}\n" . sub
    set xlabel "callers (C processes, one call in flight each)"
    set ylabel "calls/s"
    set yrange [0:*]
    plot dist u 1:2 w lp ls 1 t "C node", \
         dist u 1:9 w lp ls 2 t "BEAM", \
         dist u 1:3 w lp ls 3 t "C node, per server core", \
         dist u 1:10 w lp ls 4 t "BEAM, per server core"

    set output dir . '/dist_latency.png'
    set title "Distribution: call latency, C client node -> {echo, Node}\n" . sub
    set ylabel "latency (us)"
    set logscale y 10
    set yrange [*:*]
    set format y "%.0f"
    plot dist u 1:5 w lp ls 1 t "C node p50", \
         dist u 1:12 w lp ls 2 t "BEAM p50", \
         dist u 1:7 w lp ls 3 t "C node p99", \
         dist u 1:14 w lp ls 4 t "BEAM p99", \
         dist u 1:8 w lp ls 5 t "C node p99.9", \
         dist u 1:15 w lp ls 6 t "BEAM p99.9"
    unset logscale y
    set format y "%.0s%c"
}

if (exists_file(d1) && exists_file(d8)) {
    set logscale x 10
    set xlabel "connections"
    set yrange [0:*]
    set output dir . '/daemon_throughput.png'
    set title "Daemon: calls/s, C load generator, echo per connection\n" . sub
    set ylabel "calls/s"
    plot d1 u 1:2 w lp ls 1 t "C daemon, 1 in flight", \
         d1 u 1:9 w lp ls 2 t "Erlang daemon, 1 in flight", \
         d8 u 1:2 w lp ls 3 t "C daemon, 8 in flight", \
         d8 u 1:9 w lp ls 4 t "Erlang daemon, 8 in flight"

    set output dir . '/daemon_capacity.png'
    set title "Daemon: calls/s per fully used server core (calls / server CPU s)\n" . sub
    set ylabel "calls/s per server core"
    plot d1 u 1:3 w lp ls 1 t "C daemon, 1 in flight", \
         d1 u 1:10 w lp ls 2 t "Erlang daemon, 1 in flight", \
         d8 u 1:3 w lp ls 3 t "C daemon, 8 in flight", \
         d8 u 1:10 w lp ls 4 t "Erlang daemon, 8 in flight"

    set output dir . '/daemon_latency.png'
    set terminal pngcairo size 1200,560 font "sans,10" noenhanced
    set logscale y 10
    set yrange [*:*]
    set format y "%.0f"
    set ylabel "latency (us)"
    set key inside left top
    set multiplot layout 1,2 title "Daemon: call latency, C load generator\n" . sub
    set title "1 call in flight per connection"
    plot d1 u 1:5 w lp ls 1 t "C p50", d1 u 1:12 w lp ls 2 t "Erlang p50", \
         d1 u 1:7 w lp ls 3 t "C p99", d1 u 1:14 w lp ls 4 t "Erlang p99", \
         d1 u 1:8 w lp ls 5 t "C p99.9", d1 u 1:15 w lp ls 6 t "Erlang p99.9"
    set title "8 calls in flight per connection"
    plot d8 u 1:5 w lp ls 1 t "C p50", d8 u 1:12 w lp ls 2 t "Erlang p50", \
         d8 u 1:7 w lp ls 3 t "C p99", d8 u 1:14 w lp ls 4 t "Erlang p99", \
         d8 u 1:8 w lp ls 5 t "C p99.9", d8 u 1:15 w lp ls 6 t "Erlang p99.9"
    unset multiplot
}
