#!/usr/bin/env bash
# Benchmarks car against the Python codex-autorunner 0.1.0, side by side.
# Installs the Python program from PyPI into a virtualenv (cached under
# target/bench/), builds car in release mode, then runs scripts/bench.py,
# which prints one table and writes target/bench/bench.json.
#
# Usage: scripts/bench.sh [--runs N] [--stream-bytes BYTES]
# Not part of the test command; it takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
bench_dir=target/bench
mkdir -p "$bench_dir"
venv="$bench_dir/py-venv"
if [ ! -x "$venv/bin/car" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet codex-autorunner==0.1.0
fi
cargo build --quiet --release -p car-cli --bin car
cargo build --quiet --release -p car-e2e --bin fake-agent --bin rss-probe
python3 scripts/bench.py --car target/release/car --py "$venv/bin/car" \
  --flood-agent target/release/fake-agent --rss-probe target/release/rss-probe \
  --out "$bench_dir/bench.json" "$@"
