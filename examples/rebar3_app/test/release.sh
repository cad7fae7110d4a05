#!/usr/bin/env bash
# The release of counter_app, run as docs/DEPLOY.md deploys it: built with
# `rebar3 as prod tar', unpacked in a scratch directory far from the build tree,
# started by its own script as a daemon, checked from outside (the script's ping and
# eval, and an Erlang node of its own that calls the C node and sees the release's
# supervisor restart it), stopped by its script; then no process of it may be left
# (run_erl, the BEAM, the C node program) and epmd must know neither node. Last, a VM
# killed with SIGKILL must take its C node (which watches its stdin) with it. Then the
# same release over TLS distribution: a TLS node gets in, a plain one does not, and
# the C node re-reads its certificates on SIGHUP.
#
#   test/release.sh [TAG]     TAG prefixes the node names (default: rel<pid>)
#
# Names, ports, the cookie ($HOME/.erlang.cookie of a scratch HOME) and run_erl's
# pipe are this run's own, so runs on one machine do not meet. Needs no terminal.
set -euo pipefail

cd "$(dirname "$0")/.."
tag=${1:-rel}$$
host=$(hostname | cut -d. -f1)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/counter_release.XXXXXX")
rel="$scratch/counter_app"

# Whatever is left of this run (a failed check leaves the release running) goes,
# found by the scratch path every one of its processes has in its command line.
cleanup() {
    local rc=$? pids
    pids=$(pgrep -f -- "$scratch" || true)
    if [ -n "$pids" ]; then
        echo "release.sh: killing what is left: $pids" >&2
        # shellcheck disable=SC2086 # one pid a word
        kill -9 $pids 2>/dev/null || true
    fi
    if [ $rc -ne 0 ] && [ -d "$rel/log" ]; then
        tail -n 50 "$rel"/log/erlang.log.* >&2 || true
    fi
    rm -rf "$scratch"
    exit $rc
}
trap cleanup EXIT

fail() { echo "release.sh: FAILED: $*" >&2; exit 1; }

free_port() {
    erl -noshell -eval '{ok, L} = gen_tcp:listen(0, []), {ok, P} = inet:port(L),
                        io:format("~b", [P]), halt().'
}

# Runs the release's script and compares its output.
expect() {
    local want=$1 got
    shift
    got=$("$rel/bin/counter_app" "$@") || fail "$*: exit $?"
    [ "$got" = "$want" ] || fail "$*: got $got, not $want"
}

# Stops the release with its script; then none of its processes may be left (the
# BEAM's children by pid: erl_child_setup has no path in its command line) and epmd
# must know neither node.
stop_release() {
    local beam kids
    beam=$("$rel/bin/counter_app" pid)
    kids=$(pgrep -P "$beam" | tr '\n' ' ')
    "$rel/bin/counter_app" stop
    # stop returns once the BEAM is gone; the C node goes before it (the supervisor's
    # shutdown), run_erl right after it.
    gone_all "after stop"
    for p in $beam $kids; do
        ! alive "$p" || fail "$p still there: $(ps -o args= -p "$p")"
    done
    ! epmd -names | grep -q "name ${tag}_" || fail "still in epmd: $(epmd -names)"
}
# Waits up to 10 s for every process with the scratch path in its command line to go.
gone_all() {
    local left
    for _ in $(seq 100); do
        left=$(pgrep -f -- "$scratch" || true)
        [ -z "$left" ] && return 0
        sleep 0.1
    done
    fail "processes left $1: $(ps -o pid=,args= -p "${left//$'\n'/,}")"
}
# Waits up to 5 s for a line in a log (logger writes files a moment later): c_node.log
# unless a file is named.
in_log() {
    for _ in $(seq 50); do
        grep -q "$1" "${2:-$rel/log/c_node.log}" && return 0
        sleep 0.1
    done
    return 1
}
# The start script returns once the VM runs, and the VM answers a ping before its
# applications have started: waits up to 10 s for counter_app (its supervisor's init
# starts the C node and puts `counter' on it) to be among the started ones.
wait_started() {
    for _ in $(seq 100); do
        [ "$("$rel/bin/counter_app" eval \
                 'lists:keymember(counter_app, 1, application:which_applications()).' \
                 2>/dev/null)" = true ] && return 0
        sleep 0.1
    done
    fail "counter_app not started after 10 s"
}
# A zombie has exited: whether anything reaps it is up to PID 1, not the release.
alive() { local st; st=$(ps -o stat= -p "$1") || return 1; [[ $st != Z* ]]; }

echo "== rebar3 as prod tar"
rebar3 as prod tar
mkdir -p "$rel"
tar -xzf _build/prod/rel/counter_app/counter_app-0.1.0.tar.gz -C "$rel"

# The deployment's settings (config/vm.args.src, config/sys.config.src).
export NODE_SNAME=${tag}_r C_NODE_SNAME=${tag}_c
export DIST_PORT C_NODE_PORT
DIST_PORT=$(free_port)
C_NODE_PORT=$(free_port)
export LOG_DIR="$rel/log" PIPE_DIR="$scratch/pipe/"
export HOME="$scratch/home"
mkdir -p "$HOME"
(umask 277 && od -An -N10 -tx1 /dev/urandom | tr -d ' \n' >"$HOME/.erlang.cookie")
r=$NODE_SNAME@$host
c=$C_NODE_SNAME@$host

echo "== bin/counter_app daemon ($r, C node $c)"
"$rel/bin/counter_app" daemon
[ "$("$rel/bin/counter_app" ping)" = pong ] || fail "ping"
wait_started

# The fixed ports are the ones epmd hands out.
epmd -names | grep -qx "name $NODE_SNAME at port $DIST_PORT" || fail "release node not on $DIST_PORT"
epmd -names | grep -qx "name $C_NODE_SNAME at port $C_NODE_PORT" || fail "C node not on $C_NODE_PORT"

# The commands docs/DEPLOY.md shows, with its outputs. eval and rpc run in the
# release's node (through erl_call), which calls the C node; the C node is hidden.
expect '{"1", 1}' eval 'gen_server:call({counter, counter_app:c_node()}, inc).'
expect "$c" rpc counter_app c_node
expect true eval 'lists:member(counter_app:c_node(), nodes(hidden)).'
expect '[]' rpc erlang nodes

# The C node's lines reach the release's logger: the journal's stream (here
# run_erl's log) and the file of the otpc domain alone.
in_log "notice $c: node: ready $c" "$rel/log/erlang.log.1" || fail "no ready line in erlang.log.1"
in_log "notice $c: node: ready $c" || fail "no ready line in c_node.log"

echo "== from another node: calls, a crash and a stop of the C node, both restarted"
escript test/release_remote.escript "${tag}_x" "$r" "$c"

echo "== bin/counter_app stop"
stop_release

echo "== a VM killed (SIGKILL) takes its C node with it"
"$rel/bin/counter_app" daemon
beam=$("$rel/bin/counter_app" pid)
kill -9 "$beam"
gone_all "after SIGKILL"

# TLS distribution (DEPLOY.md, section 3): a CA and a certificate for this host, one
# options file, the -proto_dist line in vm.args (otpc passes it on to the C node), the
# script's commands through nodetool. A TLS node gets in, a plain one does not, and
# SIGHUP makes the C node read its certificates again.
echo "== the same release over TLS"
tls="$scratch/tls"
mkdir -p "$tls"
(
    cd "$tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -subj "/CN=otpc cluster CA" -keyout ca.key -out ca.pem
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -subj "/CN=$host" -addext "subjectAltName=DNS:$host" -keyout node.key -out node.csr
    openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
        -copy_extensions copy -out node.pem
    openssl verify -CAfile ca.pem node.pem
) 2>&1 | sed 's/^/  /'
cat >"$tls/ssl_dist.conf" <<EOF
[{server, [{certfile, "$tls/node.pem"},
           {keyfile, "$tls/node.key"},
           {cacertfile, "$tls/ca.pem"},
           {verify, verify_peer},
           {fail_if_no_peer_cert, true}]},
 {client, [{certfile, "$tls/node.pem"},
           {keyfile, "$tls/node.key"},
           {cacertfile, "$tls/ca.pem"},
           {verify, verify_peer}]}].
EOF
echo "-proto_dist inet_tls -ssl_dist_optfile $tls/ssl_dist.conf" >>"$rel/releases/0.1.0/vm.args.src"
export USE_NODETOOL=1
"$rel/bin/counter_app" daemon
expect pong ping
wait_started
expect '{"1",1}' eval 'gen_server:call({counter, counter_app:c_node()}, inc).'
cnode=$(pgrep -f -- "-sname $C_NODE_SNAME ") || fail "no C node"
tr '\0' ' ' <"/proc/$cnode/cmdline" |
    grep -qF -- "-proto_dist inet_tls -ssl_dist_optfile $tls/ssl_dist.conf" ||
    fail "the C node runs without the TLS flags"
got=$(erl -noshell -proto_dist inet_tls -ssl_dist_optfile "$tls/ssl_dist.conf" -sname "${tag}_t" \
          -eval "io:format(\"~p ~p\", [net_adm:ping('$c'), gen_server:call({counter, '$c'}, inc)]), halt().")
[ "$got" = 'pong {"1",2}' ] || fail "a TLS node: $got"
got=$(erl -noshell -sname "${tag}_p" -eval "io:format(\"~p\", [net_adm:ping('$c')]), halt().")
[ "$got" = pang ] || fail "a plain TCP node got in: $got"
in_log "warning $c: dist: TLS connection from .* refused" || fail "no refusal logged"
kill -HUP "$cnode"
in_log "notice $c: dist: TLS certificates and keys re-read" || fail "SIGHUP: not re-read"
expect ok eval 'otpc:reload_tls(counter_app:c_node()).'
expect '{"1",3}' eval 'gen_server:call({counter, counter_app:c_node()}, inc).'
stop_release
echo "release.sh: OK"
