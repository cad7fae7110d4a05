#!/usr/bin/env bash
# Runs the real-node suites with another OTP release's erl (the release matrix,
# `make test-otp`, issue 12), in the root scripts/otp_root.sh built, against the
# node program built on the host (c_src/build/otpc_test_node).
#
#   scripts/otp_ct.sh RELEASE                 the real-node suites, as `make test` runs them
#   scripts/otp_ct.sh RELEASE CT_ARG...       rebar3 ct with these instead of the suites,
#                                             e.g. --suite test/otpc_dist_SUITE --case ping
#   scripts/otp_ct.sh RELEASE --run CMD ARG.. any command in the same setting, e.g.
#                                             --run erl -sname x   or   --run bash
#
# How it fits together:
# * The root is entered with chroot in a private mount namespace (nothing we
#   mount there is seen by the host, and it all goes when the command ends), with
#   /proc, /dev and /sys, and this work tree bound at the same path, so file
#   names mean the same inside and out. The network is the host's: the root's
#   erl, the host's epmd (started here first) and the node program meet on
#   loopback.
# * The node program links Debian 12's libraries, which the root lacks or has
#   in other versions (OpenSSL 3.5 against 3.0, say). The host's / is bound
#   read-only at /run/host, and the suites run the program through a wrapper,
#   $OTPC_NODE_EXECUTABLE, that starts it with the host's own dynamic loader and
#   libraries (ld.so --library-path): the very program `make test` tests, in the
#   environment it was built for; only the Erlang side changes release.
#   Rejected: running it on the root's own libraries (it would test OpenSSL 3.5
#   instead of 3.0, needs libuv added to the root, and stops loading once sid's
#   sonames move on); a static build (a second build of c_src/, and glibc's
#   static NSS); running the ct node outside the root with the root's loader
#   (erl execs erlexec, beam, epmd, erl_child_setup, peers and elixir, each of
#   which would need it).
# * rebar3 compiles with the erl running it, so the app and the suites are
#   compiled by the root's rebar3 into _build/otp-RELEASE (REBAR_BASE_DIR), never
#   into the host's _build/test. It reads _build/otp-RELEASE/rebar.config: the
#   project's rebar.config less its hooks (they would rebuild c_src/ with the
#   root's compiler) and with test/otpc_ct_known.erl as a ct hook, which turns
#   the failures test/otp_known_failures.config lists for that release into
#   skips that say why.
# * The test node is otpc_ct_OTP (otpc_ct_27, otpc_ct_29, ...), distinct from
#   the host's otpc_ct and otpc_ct_san, since epmd is shared; $OTPC_CT_SNAME
#   replaces the otpc_ct part (work trees testing at once on one machine).
set -euo pipefail

cd "$(dirname "$0")/.."
release=${1:?usage: scripts/otp_ct.sh RELEASE [CT_ARG... | --run CMD ARG...]}
shift
top=$(pwd)
root=$top/_build/roots/$release
base=$top/_build/otp-$release
exe=$top/c_src/build/otpc_test_node
suites=test/otpc_dist_SUITE,test/otpc_badinput_SUITE,test/otpc_gen_server_SUITE
suites=$suites,test/otpc_daemon_SUITE,test/otpc_client_SUITE,test/otpc_rpc_SUITE
suites=$suites,test/otpc_pg_SUITE,test/otpc_global_SUITE,test/otpc_supervisor_SUITE
suites=$suites,test/otpc_tls_dist_SUITE,test/otpc_call_SUITE,test/otpc_async_SUITE
suites=$suites,test/otpc_netsetup_SUITE,test/otpc_frag_SUITE,test/otpc_sched_SUITE

[ -f "$root/.otpc-root" ] || { echo "otp_ct: no root: run scripts/otp_root.sh $release" >&2; exit 1; }
[ -x "$exe" ] || { echo "otp_ct: no $exe: run make build first" >&2; exit 1; }
otp=$(sed -n 's/^OTP \([0-9]*\).*/\1/p' "$root/etc/otpc-otp-release")
mkdir -p "$base"

# The wrapper: the host's loader (the program's PT_INTERP, symlinks resolved on
# the host, since absolute links would point into the root) and the host
# directories ldd finds its libraries in, all seen through /run/host.
interp=$(readelf -l "$exe" | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
[ -n "$interp" ] || { echo "otp_ct: $exe names no dynamic loader" >&2; exit 1; }
libdirs=$(ldd "$exe" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' |
          xargs -r -n1 dirname | xargs -r -n1 readlink -f | sort -u |
          sed 's|^|/run/host|' | paste -sd:)
cat >"$base/otpc_test_node" <<EOF
#!/bin/sh
# Written by scripts/otp_ct.sh: the host's node program, run inside the
# $release root with the host's dynamic loader and libraries.
exec /run/host$(readlink -f "$interp") --library-path $libdirs --argv0 $exe $exe "\$@"
EOF
chmod +x "$base/otpc_test_node"

# rebar.config less the hooks, plus the known-failures hook for this release.
# OTP 29 deprecates `catch Expr`, which three suites use (15 times); with
# warnings_as_errors they would not compile, so the matrix silences that one
# warning (older compilers ignore the option) and issue 12 decides whether to
# rewrite them with try.
erl -noshell -eval '
    [Out, Known, Otp] = init:get_plain_arguments(),
    {ok, Terms} = file:consult("rebar.config"),
    Hook = {otpc_ct_known, #{file => Known, otp_release => Otp}},
    Kept = [case T of
                {ct_opts, O} -> {ct_opts, O ++ [{ct_hooks, [Hook]}]};
                {erl_opts, O} -> {erl_opts, O ++ [nowarn_deprecated_catch]};
                _ -> T
            end || T <- Terms, not lists:member(element(1, T), [pre_hooks, post_hooks])],
    Text = ["%% Written by scripts/otp_ct.sh from rebar.config.\n"
            | [io_lib:format("~tp.~n", [T]) || T <- Kept]],
    ok = file:write_file(Out, Text),
    halt().' -extra "$base/rebar.config" "$top/test/otp_known_failures.config" "$otp"

# The host's epmd, so that no epmd is left running inside the root.
epmd -daemon

if [ "${1:-}" = --run ]; then
    shift
    [ $# -gt 0 ] || set -- bash
    cmd=("$@")
else
    [ $# -gt 0 ] || set -- --suite "$suites"
    cmd=(rebar3 ct --sname "${OTPC_CT_SNAME:-otpc_ct}_$otp" "$@")
fi

echo "otp_ct: $release: $(cat "$root/etc/otpc-otp-release"); ${cmd[*]}"
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
exec "${sudo[@]}" unshare --mount --propagation private bash -c '
    set -e
    root=$1 top=$2 base=$3; shift 3
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount --rbind -o ro /sys "$root/sys"
    mkdir -p "$root/run/host" "$root$top"
    mount --bind -o ro / "$root/run/host"
    mount --bind "$top" "$root$top"
    cp /etc/resolv.conf /etc/hosts "$root/etc/"
    exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
        PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
        ${CI:+CI=$CI} REBAR_COLOR=${REBAR_COLOR:-none} \
        REBAR_CONFIG="$base/rebar.config" REBAR_BASE_DIR="$base" \
        OTPC_NODE_EXECUTABLE="$base/otpc_test_node" \
        sh -c "cd \"\$0\" && exec \"\$@\"" "$top" "$@"
' otp_ct "$root" "$top" "$base" "${cmd[@]}"
