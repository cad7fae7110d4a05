#!/usr/bin/env bash
# Builds a minimal Debian root with another OTP release, for the release matrix
# (`make test-otp`, issue 12): `debootstrap --variant=minbase RELEASE`, then the
# release's own erlang, common_test, rebar3 and elixir packages. The suites run
# in it through scripts/otp_ct.sh, against the node program built on the host.
#
#   scripts/otp_root.sh RELEASE        RELEASE: a Debian suite, e.g. trixie or sid
#
# The root is _build/roots/RELEASE. It is reused while its stamp file says it
# was built by this script with the same package list; otherwise (or if a build
# was interrupted) it is built afresh in RELEASE.new and moved into place only
# when complete. Nothing in it is needed between CI runs: a fresh machine builds
# it again from Debian's mirror (OTP_ROOT_MIRROR, default deb.debian.org).
#
# Why so few packages: erlang-common-test pulls erlang-debugger, which pulls
# erlang-wx and with it GTK and WebKit (some 300 packages). No suite opens a
# window, so the root gets an empty package of the same name and version
# instead, pinned so that apt never replaces it with the real one.
set -euo pipefail

cd "$(dirname "$0")/.."
release=${1:?usage: scripts/otp_root.sh RELEASE (e.g. trixie or sid)}
case $release in
    *[!a-z0-9-]* | "") echo "otp_root: bad release name '$release'" >&2; exit 2 ;;
esac
mirror=${OTP_ROOT_MIRROR:-http://deb.debian.org/debian}

# What the suites need: erl, common_test, ssl (the TLS daemon cases), eunit's
# header (test/*_tests.erl are compiled with the suites), PropEr's header and
# app, rebar3 to compile and run them as `make test` does, and elixir for the
# Elixir cases, openssl to make the TLS distribution suite's certificates.
# systemd-standalone-sysusers satisfies newer erlang-base's
# "systemd | systemd-standalone-sysusers" without systemd itself.
packages=(erlang-base erlang-common-test erlang-ssl erlang-eunit erlang-proper-dev
          rebar3 elixir openssl systemd-standalone-sysusers)

roots=_build/roots
dir=$roots/$release
new=$dir.new
stamp_name=.otpc-root
stamp="otpc root v1: $release ${packages[*]}"

if [ -f "$dir/$stamp_name" ] && [ "$(cat "$dir/$stamp_name")" = "$stamp" ]; then
    echo "otp_root: $dir is complete: $(cat "$dir/etc/otpc-otp-release")"
    exit 0
fi

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)

# rm -rf of a root with something mounted inside would follow the mount (the
# work tree is bound into it while suites run). Every mount of ours lives in a
# private mount namespace and dies with it, but refuse if one is visible here.
remove_root() {
    local d=$1
    [ -e "$d" ] || return 0
    if findmnt -rn -o TARGET | grep -q "^$(realpath "$d")/"; then
        echo "otp_root: something is mounted under $d; not removing it" >&2
        exit 1
    fi
    "${sudo[@]}" rm -rf --one-file-system "$d"
}

mkdir -p "$roots"
exec 9>"$roots/.$release.lock"
flock 9

remove_root "$new"
echo "otp_root: debootstrap --variant=minbase $release $new ($mirror)"
# In a mount namespace of its own, so that the /proc and /sys debootstrap mounts
# in the target cannot outlive it, even if it is killed.
"${sudo[@]}" unshare --mount --propagation private \
    debootstrap --variant=minbase "$release" "$new" "$mirror"

# apt runs inside the root. sid's Release file may be older than its
# Valid-Until when the mirror is a frozen snapshot; the root is a throwaway
# test fixture, so the date check is off there.
in_root() {
    "${sudo[@]}" unshare --mount --propagation private bash -c '
        set -e; r=$1; shift
        mount -t proc proc "$r/proc"
        mount --rbind /dev "$r/dev"
        cp /etc/resolv.conf "$r/etc/resolv.conf"
        exec chroot "$r" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
            PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"
    ' in_root "$new" "$@"
}
echo 'Acquire::Check-Valid-Until "false";' |
    "${sudo[@]}" tee "$new/etc/apt/apt.conf.d/99otpc-no-valid-until" >/dev/null
printf 'Package: erlang-wx\nPin: release o=Debian\nPin-Priority: -1\n' |
    "${sudo[@]}" tee "$new/etc/apt/preferences.d/otpc-no-wx" >/dev/null
in_root apt-get -q update
in_root sh -ec '
    v=$(apt-cache policy erlang-base | sed -n "s/^ *Candidate: //p")
    d=$(mktemp -d)
    mkdir "$d/DEBIAN"
    printf "%s\n" "Package: erlang-wx" "Version: $v" "Architecture: $(dpkg --print-architecture)" \
        "Maintainer: otpc <otpc@localhost>" \
        "Description: empty stand-in: otpc test roots need no GUI" >"$d/DEBIAN/control"
    dpkg-deb --build "$d" /tmp/erlang-wx.deb >/dev/null
    dpkg -i /tmp/erlang-wx.deb >/dev/null
    rm -rf "$d" /tmp/erlang-wx.deb'
in_root apt-get -q -y --no-install-recommends install "${packages[@]}"
in_root apt-get clean
in_root erl -noshell -eval '
    io:format("OTP ~s (erts ~s)~n", [erlang:system_info(otp_release), erlang:system_info(version)]),
    halt().' | "${sudo[@]}" tee "$new/etc/otpc-otp-release"
echo "$stamp" | "${sudo[@]}" tee "$new/$stamp_name" >/dev/null

remove_root "$dir"
mv "$new" "$dir"
echo "otp_root: $dir is ready"
