# otpc top-level build.
#
#   make deps     install the Debian packages the build and tests need
#   make          (= make build) deps, then rebar3 compile (runs make -C c_src)
#   make test     the layering, format and encode checks (no ei_x_encode_* or other
#                 encoder result dropped: scripts/check_encodes.sh), C unit tests, the
#                 same under ASan/UBSan, eunit, common_test (also against an ASan/UBSan
#                 node program), dialyzer, then test-otp
#   make test-otp the real-node suites with the erl and elixir of each Debian release in
#                 OTP_RELEASES (default "trixie sid": OTP 27 and the newest; empty: none)
#   make install  install libotpc.a, libotpc.so, otpc.h, the node program (bin/otpc_node)
#                 and otpc.pc (pkg-config) under DESTDIR PREFIX (default /usr/local);
#                 make uninstall removes them
#   make run      start node c1 (with the example servers, and a daemon serving one
#                 stack per connection on DAEMON_PORT, default 7000) in the
#                 foreground; ARGS=... adds flags, e.g. ARGS="-loglevel debug"
#   make bench    the C echo against the same server on BEAM (bench/run), then the
#                 daemon against a gen_tcp daemon on BEAM (bench/daemon_run), both from a
#                 BEAM client; then both again from C clients, with PNG charts in
#                 bench/charts/ (bench/server_run; installs gnuplot-nox if missing); then a
#                 small call's latency while 64 MiB messages stream (bench/frag_run); then
#                 CPU-bound calls/s and a call's latency beside a long callback with
#                 -schedulers 1 and 2 (bench/sched_run); not tests
#   make bench-build  the C benchmark clients (bench/c/: loadgen, distclient) into
#                 c_src/build/bench/; make test builds them too, so they keep compiling
#   make fuzz     build the libFuzzer targets and run each FUZZ_TIME seconds (default 60)
#   make fuzz-ci  the same from the committed corpus only, FUZZ_CI_TIME seconds each
#                 (default 30); fails if any target finds a crash
#   make clean

REBAR     ?= rebar3
ARGS      ?=
DAEMON_PORT ?= 7000
FUZZ_TIME ?= 60
FUZZ_CI_TIME ?= 30
# Debian releases whose OTP and Elixir the real-node suites also run with (make
# test-otp; `make test OTP_RELEASES=` skips them, OTP_RELEASES=sid picks one).
OTP_RELEASES ?= trixie sid
# The common_test node's name (-sname); the sanitizer run adds _san, the release
# matrix _OTP (otpc_ct_27, ...). Work trees testing at once on one machine (one
# epmd) each pick their own: make test CT_SNAME=otpc_ct_mine.
CT_SNAME  ?= otpc_ct
# The host part erl -sname uses: gethostname() up to the first dot.
HOST      := $(shell hostname | cut -d. -f1)
COOKIE    := $(HOME)/.erlang.cookie

.PHONY: all build deps test test-san-ct test-tsan-ct test-otp test-examples run bench bench-build fuzz fuzz-ci clean \
        cookie install uninstall

all: build

deps:
	scripts/deps.sh

build: deps
	$(REBAR) compile

test: build bench-build
	scripts/check_layers.sh
	cd c_src && clang-format --style=file --dry-run --Werror $$(git ls-files '*.c' '*.h')
	clang-format --style=file:c_src/.clang-format --dry-run --Werror $$(git ls-files 'bench/c/*.[ch]')
	scripts/check_encodes.sh
	$(MAKE) -C c_src test
	$(MAKE) -C c_src SANITIZE=address,undefined test
	$(REBAR) eunit
	$(REBAR) ct --sname $(CT_SNAME) || { scripts/ct_failures.sh $(CT_SNAME); exit 1; }
	$(MAKE) test-san-ct
	$(MAKE) test-tsan-ct
	$(REBAR) dialyzer
	$(MAKE) test-examples
	$(MAKE) test-otp

# The real-erl suites again, against the node program built with ASan+UBSan: memory
# errors in connection, signal and large-message paths fail the run.
# Reports go to files, not only to the node's stderr: a node that fails after a case's
# last assertion (or while stopping) must still fail the run. Its nodes run one
# scheduler (OTPC_SCHEDULERS, unless a case says otherwise), the ThreadSanitizer run's
# four, whatever this machine's CPUs: both paths are covered everywhere.
SAN_LOG := $(CURDIR)/_build/san-logs
# The suites that run a real C node, for the sanitizer runs.
NODE_SUITES := test/otpc_dist_SUITE,test/otpc_frag_SUITE,test/otpc_badinput_SUITE,test/otpc_gen_server_SUITE,test/otpc_daemon_SUITE,test/otpc_foreign_SUITE,test/otpc_plugin_SUITE,test/otpc_rpc_SUITE,test/otpc_supervisor_SUITE,test/otpc_pg_SUITE,test/otpc_global_SUITE,test/otpc_tls_dist_SUITE,test/otpc_call_SUITE,test/otpc_async_SUITE,test/otpc_sched_SUITE,test/otpc_netsetup_SUITE
test-san-ct:
	$(MAKE) -C c_src SANITIZE=address,undefined build-san/otpc_test_node
	rm -rf $(SAN_LOG) && mkdir -p $(SAN_LOG)
	OTPC_NODE_EXECUTABLE=$(CURDIR)/c_src/build-san/otpc_test_node OTPC_SCHEDULERS=1 \
	ASAN_OPTIONS=detect_leaks=0:log_path=$(SAN_LOG)/asan \
	UBSAN_OPTIONS=print_stacktrace=1:log_path=$(SAN_LOG)/ubsan \
	    $(REBAR) ct --sname $(CT_SNAME)_san --suite $(NODE_SUITES); rc=$$?; \
	if [ -n "$$(ls -A $(SAN_LOG))" ]; then \
	    echo "sanitizer reports from the node program:"; cat $(SAN_LOG)/*; rc=1; fi; \
	[ $$rc -eq 0 ] || scripts/ct_failures.sh $(CT_SNAME)_san; exit $$rc

# The same suites against a ThreadSanitizer build of the node program: data races
# between the scheduler, the I/O thread, the blocking-work pool and threads that
# answer callers (otpc_reply_async) fail the run.
TSAN_LOG := $(CURDIR)/_build/tsan-logs
test-tsan-ct:
	$(MAKE) -C c_src SANITIZE=thread build-tsan/otpc_test_node
	rm -rf $(TSAN_LOG) && mkdir -p $(TSAN_LOG)
	OTPC_NODE_EXECUTABLE=$(CURDIR)/c_src/build-tsan/otpc_test_node OTPC_SCHEDULERS=4 \
	TSAN_OPTIONS=halt_on_error=0:log_path=$(TSAN_LOG)/tsan \
	    $(REBAR) ct --sname $(CT_SNAME)_tsan --suite $(NODE_SUITES); rc=$$?; \
	if [ -n "$$(ls -A $(TSAN_LOG))" ]; then \
	    echo "ThreadSanitizer reports from the node program:"; cat $(TSAN_LOG)/*; rc=1; fi; \
	[ $$rc -eq 0 ] || scripts/ct_failures.sh $(CT_SNAME)_tsan; exit $$rc

# The release matrix (issue 12): for each release, a minimal Debian root with its
# erlang, rebar3 and elixir (scripts/otp_root.sh, _build/roots/RELEASE, reused while
# complete), then the real-node suites compiled and run by that release against the
# node program built here (scripts/otp_ct.sh). Cases listed in
# test/otp_known_failures.config run, and show as skipped with their reason if they
# fail. Each release prints what it cost.
# The example projects that depend on otpc (examples/): each builds its plug-in with
# its own build tool and passes its own tests against a real node;
# rebar3_app's release (docs/DEPLOY.md) is built, started by its own script, checked
# from outside and stopped by test/release.sh; the systemd units of examples/deploy
# are verified and their ExecStart run by hand (units_test.sh).
test-examples: build
	cd examples/rebar3_app && $(REBAR) ct --sname $(CT_SNAME)_r3
	cd examples/rebar3_app && test/release.sh $(CT_SNAME)_rel
	examples/deploy/units_test.sh $(CT_SNAME)_units
	cd examples/mix_app && MIX_REBAR3=$$(command -v rebar3) MIX_ENV=test \
	    elixir --sname $(CT_SNAME)_mix -S mix test

test-otp: build $(addprefix test-otp-,$(OTP_RELEASES))
	@[ -n "$(strip $(OTP_RELEASES))" ] || echo "test-otp: OTP_RELEASES is empty, nothing to run"

test-otp-%: build
	@t0=$$(date +%s); scripts/otp_root.sh $* || exit 1; t1=$$(date +%s); \
	OTPC_CT_SNAME=$(CT_SNAME) scripts/otp_ct.sh $*; rc=$$?; t2=$$(date +%s); \
	[ $$rc -eq 0 ] || scripts/ct_failures.sh '$(CT_SNAME)_*' _build/otp-$*/test/logs; \
	echo "test-otp $*: root $$((t1 - t0)) s, suites $$((t2 - t1)) s (exit $$rc)"; exit $$rc

# The C side only (c_src builds what is missing): `sudo make install' after `make'
# compiles nothing as root. PREFIX and DESTDIR reach c_src/Makefile by themselves.
install:
	$(MAKE) -C c_src install

uninstall:
	$(MAKE) -C c_src uninstall

# erl and the node both read ~/.erlang.cookie; create it the way erl would
# (20 random capitals, no newline, mode 0400) so they agree from the start.
cookie:
	@if [ ! -f "$(COOKIE)" ]; then \
	    tmp="$(COOKIE).$$$$"; \
	    (umask 277; LC_ALL=C tr -dc 'A-Z' </dev/urandom | head -c 20 >"$$tmp") && \
	    mv "$$tmp" "$(COOKIE)" && echo "created $(COOKIE)"; \
	fi

run: build cookie
	@echo "Starting c1@$(HOST). From another terminal:"
	@echo '  erl -sname a -pa _build/default/lib/otpc/ebin   (reads ~/.erlang.cookie, as the node does)'
	@echo "  1> net_adm:ping('c1@$(HOST)')."
	@echo "  2> gen_server:call({stack, 'c1@$(HOST)'}, pop)."
	@echo "  3> sys:get_status({echo, 'c1@$(HOST)'})."
	@echo '  or: iex --sname b --cookie "$$(cat ~/.erlang.cookie)"'
	@echo "  iex> GenServer.call({:stack, :\"c1@$(HOST)\"}, :pop)"
	@echo "A stack of its own per TCP connection on port $(DAEMON_PORT):"
	@echo '  erl -pa _build/default/lib/otpc/ebin'
	@echo '  1> {ok, C} = otpc_client:start_link("localhost", $(DAEMON_PORT), #{}), otpc_client:call(C, pop).'
	@printf '%s\n' "  or raw frames: exec 3<>/dev/tcp/127.0.0.1/$(DAEMON_PORT); printf '\0\0\0\020\203h\003w\004calla\001w\003pop' >&3; timeout 1 cat <&3 | tail -c 26 | od -c"
	@echo "Stop it with Ctrl-C."
	exec priv/otpc_node -sname c1 -daemon $(DAEMON_PORT):stack $(ARGS)

# Built, never run, by make test: a bench that no longer compiles shows at once.
bench-build: build
	$(MAKE) -C c_src bench

bench: build bench-build
	scripts/deps.sh gnuplot-nox
	bench/run
	bench/daemon_run
	bench/server_run
	bench/frag_run
	bench/sched_run

# scripts/fuzz.sh runs every target in turn; new inputs go to a scratch corpus that the
# committed one (c_src/fuzz/corpus/NAME) seeds. fuzz-ci starts from the committed
# corpus alone and fails if any target finds a crash, a leak, a hang or a broken
# invariant.
fuzz: deps
	$(MAKE) -C c_src fuzz
	scripts/fuzz.sh $(FUZZ_TIME)

fuzz-ci: deps
	$(MAKE) -C c_src fuzz
	rm -rf c_src/build-fuzz/ci-corpus
	scripts/fuzz.sh $(FUZZ_CI_TIME) ci-corpus

clean:
	-$(REBAR) clean
	$(MAKE) -C c_src clean
