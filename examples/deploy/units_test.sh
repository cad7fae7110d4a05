#!/usr/bin/env bash
# The systemd units of docs/DEPLOY.md, checked without systemd as PID 1: each is
# verified by `systemd-analyze verify' (when systemd is installed) against a scratch
# root holding what it names (the release in /opt/counter_app, `make install' in
# /usr/local), then its ExecStart runs by hand with the unit's Environment= (paths
# moved into the scratch root, names and ports made this run's own), answers from
# outside, gets SIGTERM as systemd would stop it, must exit 0 and leave nothing.
#
#   examples/deploy/units_test.sh [TAG]     (after examples/rebar3_app's release is
#                                           built: rebar3 as prod tar)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
tag=${1:-units}$$
host=$(hostname | cut -d. -f1)
tarball="$top/examples/rebar3_app/_build/prod/rel/counter_app/counter_app-0.1.0.tar.gz"
root=$(mktemp -d "${TMPDIR:-/tmp}/otpc_units.XXXXXX")

cleanup() {
    local rc=$? pids
    pids=$(pgrep -f -- "$root" || true)
    # shellcheck disable=SC2086 # one pid a word
    [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
    rm -rf "$root"
    exit $rc
}
trap cleanup EXIT
fail() { echo "units_test.sh: FAILED: $*" >&2; exit 1; }
free_port() {
    erl -noshell -eval '{ok, L} = gen_tcp:listen(0, []), {ok, P} = inet:port(L),
                        io:format("~b", [P]), halt().'
}
# The unit's Environment= assignments, one NAME=VALUE a line, absolute paths moved
# into the scratch root.
unit_env() {
    sed -n 's/^Environment=//p' "$1" | tr ' ' '\n' | sed "s|=/|=$root/|"
}
# The unit's ExecStart, its program moved into the scratch root.
unit_exec() {
    sed -n "s|^ExecStart=/|$root/|p" "$1"
}
# Waits for the process of $pid to end after SIGTERM; its exit status must be 0.
term_and_wait() {
    kill -TERM "$pid"
    local rc=0
    wait "$pid" || rc=$?
    pid=
    [ $rc -eq 0 ] || fail "$1 exited $rc after SIGTERM"
}
no_process_left() {
    local left
    for _ in $(seq 50); do
        left=$(pgrep -f -- "$root" || true)
        [ -z "$left" ] && break
        sleep 0.1
    done
    [ -z "$left" ] || fail "$1: processes left: $(ps -o pid=,args= -p "${left//$'\n'/,}")"
    ! epmd -names | grep -q "name ${tag}" || fail "$1: still in epmd: $(epmd -names)"
}

# What the units name, where they name it.
[ -f "$tarball" ] || (cd "$top/examples/rebar3_app" && rebar3 as prod tar)
mkdir -p "$root/opt/counter_app" "$root/usr/local/lib/otpc" "$root/etc/systemd/system"
tar -xzf "$tarball" -C "$root/opt/counter_app"
make -s -C "$top" install DESTDIR="$root" PREFIX=/usr/local >/dev/null
cp "$top/examples/rebar3_app/priv/counter.so" "$root/usr/local/lib/otpc/"
cp "$here"/*.service "$root/etc/systemd/system/"
# otpc-node.service's ExecReload (/bin/kill), laid out as Debian's merged /usr has it
mkdir -p "$root/usr/bin"
cp /bin/kill "$root/usr/bin/"
ln -s usr/bin "$root/bin"

if command -v systemd-analyze >/dev/null; then
    # verify needs the units the services pull in (sysinit.target, ...) in the root
    mkdir -p "$root/usr/lib/systemd"
    cp -a /lib/systemd/system "$root/usr/lib/systemd/"
    echo "== systemd-analyze verify"
    systemd-analyze verify --root="$root" /etc/systemd/system/counter_app.service \
        /etc/systemd/system/otpc-node.service
else
    echo "== systemd-analyze not installed: units not verified, only run by hand"
fi

echo "== counter_app.service's ExecStart, by hand"
(
    while IFS= read -r kv; do export "${kv?}"; done < <(unit_env "$here/counter_app.service")
    export NODE_SNAME=${tag}_r C_NODE_SNAME=${tag}_c DIST_PORT C_NODE_PORT
    DIST_PORT=$(free_port)
    C_NODE_PORT=$(free_port)
    mkdir -p "$HOME" "$RELX_OUT_FILE_PATH" "$LOG_DIR"
    (umask 277 && od -An -N10 -tx1 /dev/urandom | tr -d ' \n' >"$HOME/.erlang.cookie")
    cmd=$(unit_exec "$here/counter_app.service")
    # shellcheck disable=SC2086 # the unit's command line, split into words as systemd does
    $cmd </dev/null >"$root/counter_app.out" 2>&1 &
    pid=$!
    app="$root/opt/counter_app/bin/counter_app"
    # The VM answers a ping before its applications have started: wait for counter_app
    # (its supervisor starts the C node and puts counter on it) among the started ones.
    for _ in $(seq 100); do
        [ "$("$app" eval 'lists:keymember(counter_app, 1, application:which_applications()).' \
              2>/dev/null)" = true ] && break
        sleep 0.2
    done
    got=$("$app" eval 'gen_server:call({counter, counter_app:c_node()}, get).')
    [ "$got" = '{"1", 0}' ] || fail "counter_app: eval: $got"
    grep -q "notice ${tag}_c@$host: node: ready" "$LOG_DIR/c_node.log" ||
        fail "counter_app: no ready line in $LOG_DIR/c_node.log"
    term_and_wait counter_app
)
no_process_left counter_app

echo "== otpc-node.service's ExecStart, by hand"
(
    while IFS= read -r kv; do export "${kv?}"; done < <(unit_env "$here/otpc-node.service")
    mkdir -p "$HOME"
    (umask 277 && od -An -N10 -tx1 /dev/urandom | tr -d ' \n' >"$HOME/.erlang.cookie")
    port=$(free_port)
    # the unit's line with this run's name and port
    cmd=$(unit_exec "$here/otpc-node.service" |
          sed -e "s/-sname c1/-sname ${tag}_n/" -e "s/-port 9101/-port $port/" -e "s|=/|=$root/|" \
              -e "s| /usr/local/lib| $root/usr/local/lib|")
    # shellcheck disable=SC2086 # the unit's command line, split into words as systemd does
    $cmd </dev/null >"$root/otpc_node.out" 2>&1 &
    pid=$!
    epmd_ok=
    for _ in $(seq 100); do
        if epmd -names | grep -qx "name ${tag}_n at port $port"; then epmd_ok=1; break; fi
        sleep 0.1
    done
    [ -n "$epmd_ok" ] || fail "otpc-node: not in epmd on port $port: $(cat "$root/otpc_node.out")"
    erl -noshell -sname "${tag}_x" -pa "$top/_build/default/lib/otpc/ebin" -eval "
        C = '${tag}_n@$host',
        pong = net_adm:ping(C),
        {ok, P} = otpc:start(C, counter, 41, []),
        {\"1\", 42} = gen_server:call(P, inc),
        halt()." || fail "otpc-node: calls from erl"
    # ExecReload's signal: logged, and the node carries on
    kill -HUP "$pid"
    for _ in $(seq 50); do
        grep -q "SIGHUP: re-reading TLS certificates" "$root/otpc_node.out" && break
        sleep 0.1
    done
    grep -q "SIGHUP: re-reading TLS certificates" "$root/otpc_node.out" || fail "otpc-node: SIGHUP"
    [ "$(epmd -names | grep -c "name ${tag}_n ")" = 1 ] || fail "otpc-node: gone after SIGHUP"
    term_and_wait otpc_node
)
no_process_left otpc-node
echo "units_test.sh: OK"
