#!/usr/bin/env bash
# Runs every libFuzzer target built by `make -C c_src fuzz` (c_src/build-fuzz/fuzz_NAME)
# for SECONDS each, one after the other, from a scratch corpus
# (c_src/build-fuzz/SCRATCH/NAME, where new inputs go) seeded by the committed one
# (c_src/fuzz/corpus/NAME). Every target runs even after one failed; the script fails
# if any of them crashed, leaked, hung (25 s on one input) or broke an invariant. The
# input that did it is c_src/build-fuzz/NAME-crash-* (or -leak-, -timeout-); replay
# it with c_src/build-fuzz/fuzz_NAME FILE.
#
#   scripts/fuzz.sh SECONDS [SCRATCH]     SCRATCH defaults to corpus
set -uo pipefail

cd "$(dirname "$0")/.."
secs=${1:?usage: scripts/fuzz.sh SECONDS [SCRATCH]}
scratch=c_src/build-fuzz/${2:-corpus}
failed=()
for src in c_src/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    name=${name#fuzz_}
    echo "== fuzz_$name: $secs s"
    mkdir -p "$scratch/$name"
    if ! c_src/build-fuzz/fuzz_"$name" -max_total_time="$secs" -timeout=25 \
            -print_final_stats=1 -artifact_prefix=c_src/build-fuzz/"$name"- \
            "$scratch/$name" c_src/fuzz/corpus/"$name"; then
        failed+=("$name")
    fi
done
if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzz targets that failed: ${failed[*]}"
    exit 1
fi
echo "fuzz: every target ran $secs s without a failure"
