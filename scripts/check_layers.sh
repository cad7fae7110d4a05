#!/usr/bin/env bash
# Checks that the folders of c_src/ form a strict order: no folder may depend on
# a folder above it, neither by #include nor by a symbol its objects use (read
# from the build with nm, so a function declared in a shared header cannot hide
# the dependency). Usage: scripts/check_layers.sh [BUILD_DIR] (default c_src/build).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-c_src/build}
# bottom to top; a folder may use its own and any folder listed before it
layers=(util proto core transport distribution otp daemon services node examples main)
declare -A rank
for i in "${!layers[@]}"; do rank[${layers[$i]}]=$i; done
[ -d "$build" ] || { echo "check_layers: no $build (build first)" >&2; exit 2; }

bad=0
# 1. includes
while IFS=: read -r file inc; do
    from=${file#c_src/}; from=${from%%/*}
    to=${inc%%/*}
    [ -n "${rank[$from]:-}" ] || continue
    [ -n "${rank[$to]:-}" ] || continue
    if [ "${rank[$to]}" -gt "${rank[$from]}" ]; then
        echo "layering: $file includes $inc ($from may not use $to)"; bad=1
    fi
done < <(grep -rHo --include='*.[ch]' '^#include "[a-z_]*/[a-z_0-9]*\.h"' c_src |
         sed 's/#include "//; s/"$//' | grep -v '^c_src/\(test\|fuzz\|include\)/')
# 2. symbols, from the objects
declare -A owner
while read -r obj sym; do owner[$sym]=$obj; done < <(
    for o in $(find "$build" -name '*.o'); do
        nm --defined-only -g "$o" | awk -v o="$o" 'NF==3 {print o, $3}'
    done)
for o in $(find "$build" -name '*.o'); do
    rel=${o#"$build"/}; from=${rel%%/*}
    [ -n "${rank[$from]:-}" ] || continue
    for sym in $(nm -u "$o" | awk '{print $2}'); do
        d=${owner[$sym]:-}; [ -n "$d" ] || continue
        drel=${d#"$build"/}; to=${drel%%/*}
        [ -n "${rank[$to]:-}" ] || continue
        if [ "${rank[$to]}" -gt "${rank[$from]}" ]; then
            echo "layering: $rel uses $sym from $drel ($from may not use $to)"; bad=1
        fi
    done
done
if [ $bad -eq 0 ]; then echo "layering: ${layers[*]}: ok"; fi
exit $bad
