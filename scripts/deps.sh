#!/usr/bin/env bash
# Installs the Debian packages that otpc's build and tests need, and only
# those that are missing, so a machine that has them all is left alone (and
# needs no network). Non-interactive; uses sudo when not run as root.
# With arguments it installs those packages instead: make bench asks for
# gnuplot-nox, which only the benchmark's charts need.
set -euo pipefail

packages=(
    erlang-nox erlang-dev erlang-common-test erlang-eunit erlang-dialyzer
    erlang-proper erlang-proper-dev erlang-tools rebar3
    libssl-dev libcmocka-dev libuv1-dev pkg-config
    make gcc clang clang-format libclang-rt-14-dev
    elixir
    debootstrap
    default-jdk-headless erlang-jinterface
    procps openssl
)
# default-jdk-headless and erlang-jinterface are otpc_foreign_SUITE's Java peer: on a
# fresh Debian 12 they add 52 packages, 143 MB to fetch, about 18 s to install.
# procps (pgrep, ps) is for the release and unit tests of make test-examples, which
# look for the processes a release leaves; openssl makes the certificates of the TLS
# suites and of the release test. Minimal Debian images lack both.
if [ $# -gt 0 ]; then packages=("$@"); fi

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#packages[@]} packages installed"
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi

echo "deps: installing ${missing[*]}"
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y)
"${apt[@]}" update
"${apt[@]}" install "${missing[@]}"
