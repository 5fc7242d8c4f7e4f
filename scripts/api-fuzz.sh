#!/usr/bin/env bash
# Fuzzes the HTTP API of `car serve` from its own OpenAPI document with
# schemathesis (pinned, installed from PyPI into a venv under target/):
# `car serve --port 0` runs in a scratch repository with a token, and every
# documented operation gets generated requests, valid and invalid. A run
# fails on any server error (5xx) and on an answer whose status, content
# type or body the document does not describe.
#
# The scratch repository's agent is `true` (it exits at once, doing
# nothing), commands find no shell to run them and a loop stops after one
# run, so the loops, tasks and jobs the fuzzer starts are harmless. The
# live streams (`.../stream`) never end and are left out. Bounded:
# FUZZ_EXAMPLES examples an operation (default 10), FUZZ_MAX_TIME seconds
# in all (default 120).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
examples="${FUZZ_EXAMPLES:-10}"
max_time="${FUZZ_MAX_TIME:-120}"
target="${CARGO_TARGET_DIR:-target}"
venv="$target/api-fuzz-venv"

if [ "$("$venv/bin/st" --version 2>/dev/null)" != "st, version $SCHEMATHESIS_VERSION" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build -q --locked -p car-cli --bin car
car="$(cd "$target/debug" && pwd)/car"

scratch="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  # Loops, tasks and jobs started by the fuzzer run in sessions of their
  # own: stop the loop, then wait for the rest to end before removing.
  "$car" --repo "$scratch/repo" kill >/dev/null 2>&1 || true
  for _ in $(seq 50); do
    pgrep -f -- "--repo $scratch/repo|$scratch/repo " >/dev/null || break
    sleep 0.2
  done
  rm -rf "$scratch"
}
trap cleanup EXIT

repo="$scratch/repo"
mkdir -p "$repo"
git -C "$repo" init -q
"$car" --repo "$repo" init >/dev/null
cat >"$repo/.codex-autorunner/config.yml" <<EOF
version: 2
mode: repo
codex:
  binary: $(command -v true)
  args: []
runner:
  sleep_seconds: 0
  stop_after_runs: 1
  kill_grace_seconds: 1
server:
  auth_token_env: CAR_FUZZ_TOKEN
  rate_limit_per_minute: 0
EOF
export CAR_FUZZ_TOKEN="fuzz-$RANDOM-$RANDOM-$$"

# The fuzzer's commands (`POST /api/v1/execs`) are random text run by
# `sh -c`: with no PATH to find `sh` (or anything else) in, none runs;
# the routes and records are exercised all the same.
(cd "$repo" && PATH=/nonexistent exec "$car" serve --port 0) >"$scratch/serve.out" 2>"$scratch/serve.err" &
server_pid=$!
url=""
for _ in $(seq 300); do
  line="$(head -n 1 "$scratch/serve.out")"
  if [ -n "$line" ]; then
    url="${line#car: listening on }"
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "api-fuzz: car serve did not start:" >&2
  cat "$scratch/serve.err" >&2
  exit 1
fi
echo "api-fuzz: fuzzing $url (schemathesis $SCHEMATHESIS_VERSION, $examples examples an operation)"

# Streams never end; the voice route's body is a recording (audio/*), which
# schemathesis cannot make (its answers are tested in tests/e2e/serve_voice.rs).
"$venv/bin/st" run "${url}api/v1/openapi.json" \
  --header "Authorization: Bearer $CAR_FUZZ_TOKEN" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --exclude-path-regex '/stream$|/voice/transcribe$' \
  --max-examples "$examples" \
  --max-time "$max_time" \
  --request-timeout 30 \
  --seed "${FUZZ_SEED:-1}" \
  --no-color \
  --warnings off

if grep -q "panicked" "$scratch/serve.err"; then
  echo "api-fuzz: the server panicked:" >&2
  cat "$scratch/serve.err" >&2
  exit 1
fi
echo "api-fuzz: no server error"
