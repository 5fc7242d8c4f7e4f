#!/usr/bin/env bash
# Runs a whole car loop offline: a sample repository with three TODO items,
# and the scripted fake agent (tests/src/bin/fake-agent.rs) in place of
# Codex. It ends with the loop `completed` and prints the status and a log.
#
# Usage: scripts/demo.sh [DIR]   (default: a new temporary directory)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
cargo build --quiet --bin car --bin fake-agent
target="${CARGO_TARGET_DIR:-$here/target}"
car="$target/debug/car"
agent="$target/debug/fake-agent"

demo=${1:-$(mktemp -d "${TMPDIR:-/tmp}/car-demo.XXXXXX")}
mkdir -p "$demo/repo"
cd "$demo/repo"
export GIT_AUTHOR_NAME=car-demo GIT_AUTHOR_EMAIL=demo@example.com
export GIT_COMMITTER_NAME=car-demo GIT_COMMITTER_EMAIL=demo@example.com

echo "== car init in $demo/repo"
"$car" init --git-init

cat > .codex-autorunner/TODO.md <<'TODO'
# TODO

- [ ] Write hello.txt
- [ ] Add a second line to hello.txt
- [ ] Record the result in PROGRESS
TODO

# The scripted agent: each section is one run; the last section is the
# final summary run.
script="$demo/agent-script"
cat > "$script" <<'SCRIPT'
out Reading the TODO; working on: Write hello.txt
write hello.txt Hello from the car demo
check-todo
progress Wrote hello.txt (checked with cat)
out Done: wrote hello.txt
---
out Working on: Add a second line to hello.txt
append hello.txt Second line
check-todo
progress Added the second line
out Done: added a line
---
out Working on: Record the result in PROGRESS
progress hello.txt has two lines
check-todo
out Done: all items checked
---
out Writing the final summary
write .codex-autorunner/SUMMARY.md # Summary: the demo wrote hello.txt with two lines.
out Summary written
SCRIPT
export FAKE_AGENT_SCRIPT="$script"
rm -f "$script.count"

cat > .codex-autorunner/config.yml <<CONFIG
version: 2
mode: repo
codex:
  binary: $agent
  args: []
runner:
  sleep_seconds: 0
git:
  auto_commit: true
CONFIG
git add -A && git commit -qm "demo: initial docs"

echo
echo "== car run"
"$car" run
echo
echo "== car status"
"$car" status
echo
echo "== car log --run 1"
"$car" log --run 1
echo
echo "== git log"
git log --oneline
state=$(grep -o '"stop_reason": *"[a-z_]*"' .codex-autorunner/state.json)
echo
echo "== $state"
case "$state" in
  *'"completed"') echo "demo finished: the loop completed" ;;
  *) echo "demo FAILED: the loop did not complete" >&2; exit 1 ;;
esac
