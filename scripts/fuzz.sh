#!/usr/bin/env bash
# Long fuzz session of the parsers of untrusted input (config loader, TODO
# parser, Codex event parser): the property tests of crates/car-core/src/fuzz/
# with many cases, in a release build. Not part of the default test command,
# which runs the same tests with a few cases each.
#
#   scripts/fuzz.sh            # 100000 cases per strategy
#   scripts/fuzz.sh 5000       # fewer
#
# Prints the executions and failures of each target; a failure prints the
# smallest input found (add it to crates/car-core/fuzz-corpus/<target>/ and as
# a named regression test). Exits 1 when any target failed.
set -uo pipefail
cd "$(dirname "$0")/.."

cases="${1:-${CAR_FUZZ_CASES:-100000}}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

echo "fuzzing with $cases cases per strategy (release build)..."
start=$(date +%s)
CAR_FUZZ_CASES="$cases" CAR_FUZZ_TIMING=1 \
  cargo test --release -p car-core --lib fuzz:: -- --nocapture --test-threads=3 >"$log" 2>&1
status=$?
end=$(date +%s)

grep -E 'panicked|smallest input|failed:' "$log" || true
echo "--- fuzz summary ($((end - start)) s)"
grep -E '^fuzz [a-z]+(/[a-z ]+)?: ' "$log"
total=$(grep -E '^fuzz [a-z]+: [0-9]+ executions' "$log" | awk '{s += $3} END {print s + 0}')
failures=$(grep -E '^fuzz [a-z]+: [0-9]+ executions' "$log" | awk '{s += $5} END {print s + 0}')
echo "total: $total executions, $failures failures"
if [ "$status" -ne 0 ]; then
  tail -n 30 "$log"
  exit 1
fi
