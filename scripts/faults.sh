#!/usr/bin/env bash
# Fault injection: kills car at random instants and checks that nothing is
# left running, no file is corrupt, the docs are untouched and `car resume`
# works afterwards. Builds car and the fake agent, then runs
# scripts/faults.py (Python 3 standard library only; Linux, it reads /proc).
#
# Usage: scripts/faults.sh [-n TRIALS] [--variant-trials N] [--only VARIANT]
#                          [-j JOBS] [--seed S] [--json FILE] [--release]
#   -n TRIALS           kill -9 trials (default 100)
#   --variant-trials N  trials of each other variant (default 5): the agent
#                       kills car first thing, `car kill` of a frozen runner,
#                       three SIGINTs
#   --only VARIANT      only kill9, agent-kills-car, kill-frozen or sigint3
#   -j JOBS             trials run at once (default 2)
#   --seed S            replay the random instants of an earlier run
#   --json FILE         also write the results as JSON
#   --release           test release builds (default: debug)
#
# Prints one line per trial, then a summary: trials, trials that left a
# process (with their ps lines), corrupt files, changed docs, failed
# resumes. Exits 1 if any trial failed a check. Every step has a timeout;
# the default run takes about four minutes. Not part of the test command.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=debug
args=()
for a in "$@"; do
  if [ "$a" = "--release" ]; then profile=release; else args+=("$a"); fi
done
build=(cargo build --quiet -p car-cli --bin car -p car-e2e --bin fake-agent)
if [ "$profile" = release ]; then build+=(--release); fi
"${build[@]}"
exec python3 scripts/faults.py --car "target/$profile/car" \
  --agent "target/$profile/fake-agent" ${args[@]+"${args[@]}"}
