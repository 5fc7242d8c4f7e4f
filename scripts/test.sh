#!/usr/bin/env bash
# The project's test command: formatting, lints, and every test (unit,
# end-to-end and doc tests). CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Some tests signal car (SIGINT, SIGHUP) and car keeps a signal ignored when
# it started ignored (nohup; `cmd &` in a script ignores SIGINT): run the
# tests with the default dispositions, however this script was started.
run_tests() {
  if env --default-signal=INT true 2>/dev/null; then
    env --default-signal=INT,HUP,QUIT,TERM "$@"
  else
    "$@"
  fi
}

# The web UI's browser tests (tests/e2e/browser.rs) need Debian's chromium
# and the pinned npm packages of tests/browser; without them they skip.
if [ ! -x /usr/bin/chromium ] || [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "note: the browser tests will skip: install them with" >&2
  echo "  apt-get install chromium && npm ci --prefix tests/browser" >&2
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# nextest runs each test in a process of its own; `cargo test` runs them as
# threads of one process, which is how a program embedding car-core runs
# several loops: both must pass.
if cargo nextest --version >/dev/null 2>&1; then
  run_tests cargo nextest run --workspace --locked --no-fail-fast
fi
run_tests cargo test --workspace --locked --no-fail-fast
run_tests cargo test --workspace --locked --doc
run_tests scripts/demo.sh >/dev/null
echo "all checks passed"
