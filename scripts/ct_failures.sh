#!/usr/bin/env bash
# Prints, last, what each failed case of the newest common_test run of SNAME said:
# suite, group, case and the reason (its first 1,500 characters). CI keeps only the
# tail of a run's output, and rebar3 prints a failure where it happens, hundreds of
# lines earlier; this puts the reasons where the tail shows them.
# Usage: scripts/ct_failures.sh SNAME [LOGDIR]   (LOGDIR: _build/test/logs; SNAME may
# be a glob, as for the release matrix's otpc_ct_27, otpc_ct_29, ...)
set -u
sname=${1:?usage: ct_failures.sh SNAME [LOGDIR]}
logs=${2:-_build/test/logs}
# shellcheck disable=SC2086,SC2012 # SNAME is a glob on purpose; names are ours
run=$(ls -td "$logs"/ct_run.$sname@* 2>/dev/null | head -1)
if [ -z "$run" ]; then
    echo "ct_failures: no run of $sname under $logs"
    exit 0
fi
echo "===== failed cases of $run"
for log in "$run"/*/run.*/suite.log; do
    [ -f "$log" ] || continue
    awk '
        function new_case(l) {
            c = l; sub(/^=case +/, "", c)
            if (c == "ct_framework:end_per_group") g = ""
        }
        /^=case / { new_case($0) }
        /^=group_props / && c == "ct_framework:init_per_group" {
            g = $0; sub(/^=group_props +/, "", g)
        }
        /^=result +failed/ || /^=result +auto_skipped/ {
            r = $0; sub(/^=result +/, "", r)
            # the reason may run over several lines, up to the next =key
            while ((getline line) > 0 && line !~ /^=/) r = r " " line
            gsub(/[ \t]+/, " ", r)
            printf "%s %s\n    %s\n", c, g, substr(r, 1, 1500)
            if (line ~ /^=case /) new_case(line)
        }' "$log"
done
