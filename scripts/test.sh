#!/usr/bin/env bash
# The project's test command: formatting, lints, and every test (unit,
# end-to-end and doc tests). CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# nextest runs each test in a process of its own; `cargo test` runs them as
# threads of one process, which is how a program embedding car-core runs
# several loops: both must pass.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
fi
cargo test --workspace --locked --no-fail-fast
cargo test --workspace --locked --doc
scripts/demo.sh >/dev/null
echo "all checks passed"
