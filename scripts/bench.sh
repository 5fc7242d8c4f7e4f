#!/usr/bin/env bash
# Benchmarks car against the Python codex-autorunner, side by side:
# - the CLI (scripts/bench.py) against 0.1.0, the last version with the same
#   loop commands;
# - the server (scripts/bench_server.py) against 2.2.3's hub server;
# - the hub (scripts/bench-hub.sh): 50 sleeping loops in one hub (start
#   latency, supervisor CPU, RSS, `car serve`'s repo list), against 2.2.3's
#   hub repo list (and its figures quoted in issue 13 for the rest).
# Installs each Python program from PyPI into a virtualenv of its own (cached
# under target/bench/), builds car and the probes in release mode, prints one
# table per part and writes the figures to target/bench/bench.json (the server
# part under the key "server", the hub part under "hub").
#
# Usage: scripts/bench.sh [--only cli|server|hub] [--runs N] [--stream-bytes BYTES]
#                         [--server-runs N] [--load-seconds S] [--sse-lines N]
#                         [--hub-loops N]
# --runs and --stream-bytes are the CLI part's; --server-runs (server starts of
# each program), --load-seconds and --sse-lines the server part's; --hub-loops
# (default $CAR_BENCH_HUB_LOOPS or 50) the hub part's.
# Not part of the test command; it takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
only=all
cli_args=()
server_args=()
hub_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --only)
      only="${2:?--only needs cli, server or hub}"
      shift 2
      ;;
    --runs | --stream-bytes)
      cli_args+=("$1" "${2:?$1 needs a value}")
      shift 2
      ;;
    --server-runs)
      server_args+=(--runs "${2:?$1 needs a value}")
      shift 2
      ;;
    --load-seconds | --sse-lines)
      server_args+=("$1" "${2:?$1 needs a value}")
      shift 2
      ;;
    --hub-loops)
      hub_args+=(--loops "${2:?$1 needs a value}")
      shift 2
      ;;
    *)
      echo "bench.sh: unknown option $1 (see the header of $0)" >&2
      exit 2
      ;;
  esac
done
case "$only" in
  all | cli | server | hub) ;;
  *)
    echo "bench.sh: --only takes cli, server or hub, not $only" >&2
    exit 2
    ;;
esac
bench_dir=target/bench
mkdir -p "$bench_dir"

# venv DIR VERSION: codex-autorunner==VERSION in DIR, installed once.
venv() {
  if [ ! -x "$1/bin/car" ]; then
    python3 -m venv "$1"
    "$1/bin/pip" install --quiet "codex-autorunner==$2"
  fi
}

cargo build --quiet --release -p car-cli --bin car
cargo build --quiet --release -p car-e2e --bin fake-agent --bin rss-probe --bin http-load
if [ "$only" = all ] || [ "$only" = cli ]; then
  venv "$bench_dir/py-venv" 0.1.0
  python3 scripts/bench.py --car target/release/car --py "$bench_dir/py-venv/bin/car" \
    --flood-agent target/release/fake-agent --rss-probe target/release/rss-probe \
    --out "$bench_dir/bench.json" ${cli_args[@]+"${cli_args[@]}"}
fi
if [ "$only" = all ] || [ "$only" = server ]; then
  venv "$bench_dir/py223-venv" 2.2.3
  python3 scripts/bench_server.py --car target/release/car --py "$bench_dir/py223-venv/bin/car" \
    --http-load target/release/http-load --out "$bench_dir/bench.json" \
    ${server_args[@]+"${server_args[@]}"}
fi
if [ "$only" = all ] || [ "$only" = hub ]; then
  venv "$bench_dir/py223-venv" 2.2.3
  scripts/bench-hub.sh --car target/release/car --fake-agent target/release/fake-agent \
    --py "$bench_dir/py223-venv/bin/car" --out "$bench_dir/bench.json" \
    ${hub_args[@]+"${hub_args[@]}"}
fi
