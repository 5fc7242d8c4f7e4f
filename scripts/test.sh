#!/usr/bin/env bash
# The project's test command: formatting, lints, and every test (unit,
# end-to-end and doc tests). CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
cargo test --workspace --locked --doc
scripts/demo.sh >/dev/null
echo "all checks passed"
