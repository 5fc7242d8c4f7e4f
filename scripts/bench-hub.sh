#!/usr/bin/env bash
# The hub part of scripts/bench.sh: N loops (50 unless CAR_BENCH_HUB_LOOPS or
# --loops says otherwise) in one hub, each agent a fake agent that records
# when it started and then sleeps, hub.max_parallel_loops: N. Measures:
# - the time from `car hub start ID` to that loop's agent running, one
#   repository after the other (median and max over the N);
# - the hub supervisor's CPU (utime+stime from /proc/PID/stat) over
#   --cpu-seconds while every loop waits on its agent, as % of one core, and
#   the same for all the loops' car processes together;
# - the RSS (VmRSS) of the supervisor and of each loop: its `car run` and
#   the per-run `car __supervise` process (median and max), and with every
#   loop running what each really adds: the loops' PSS / N (the code they
#   all map from one binary counted once) and each one's private pages;
# - GET /api/v1/repos of `car serve --port 0` at the hub root, --requests
#   times on one keep-alive connection (curl's time per request; p50, p90)
#   once the server's git cache is filled (the steady state),
#   and the server's RSS after; "n/a" with the reason when car serve does
#   not serve the hub;
# - with --py (the Python codex-autorunner 2.2.3 `car`): a Python hub of the
#   same N repositories, its GET /hub/repos the same way (--py-requests
#   times) and its server's RSS. The Python figures this cannot measure (a
#   flow worker's RSS, its start time) are printed as quoted from issue 13.
# Prints one table with the goals (hub CPU < 1 % of a core, each loop
# <= 10 MB, start <= 100 ms, list <= 10 ms) and, with --out, adds the
# figures under the key "hub" of that JSON file. Every process it starts is
# stopped on exit, Ctrl-C included.
#
# Usage: scripts/bench-hub.sh --car BIN --fake-agent BIN [--py BIN] [--out JSON]
#          [--loops N] [--cpu-seconds S] [--requests N] [--py-requests N]
set -euo pipefail

car="" agent_bin="" py="" out=""
loops="${CAR_BENCH_HUB_LOOPS:-50}"
cpu_seconds=10 requests=200 py_requests=20
while [ $# -gt 0 ]; do
  case "$1" in
    --car) car="${2:?--car needs a path}" ;;
    --fake-agent) agent_bin="${2:?--fake-agent needs a path}" ;;
    --py) py="${2:?--py needs a path}" ;;
    --out) out="${2:?--out needs a path}" ;;
    --loops) loops="${2:?--loops needs a number}" ;;
    --cpu-seconds) cpu_seconds="${2:?--cpu-seconds needs a number}" ;;
    --requests) requests="${2:?--requests needs a number}" ;;
    --py-requests) py_requests="${2:?--py-requests needs a number}" ;;
    *)
      echo "bench-hub.sh: unknown option $1 (see the header of $0)" >&2
      exit 2
      ;;
  esac
  shift 2
done
if [ -z "$car" ] || [ -z "$agent_bin" ]; then
  echo "bench-hub.sh: --car and --fake-agent are required (see the header of $0)" >&2
  exit 2
fi
for n in "$loops" "$cpu_seconds" "$requests" "$py_requests"; do
  case "$n" in
    '' | *[!0-9]* | 0)
      echo "bench-hub.sh: counts and seconds are whole numbers above 0, not '$n'" >&2
      exit 2
      ;;
  esac
done
car=$(realpath "$car")
agent_bin=$(realpath "$agent_bin")
[ -z "$py" ] || py=$(realpath "$py")

work=$(mktemp -d "${TMPDIR:-/tmp}/car-bench-hub.XXXXXX")
hub="$work/hub"
starts="$work/starts"
script="$work/agent.script"
# Every process this script starts carries BENCH_HUB_TAG in its environment
# (car passes it on to its runners and agents): the cleanup finds them by it.
tag="$work"
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
unset CAR_LOG CAR_SERVER
serve_pid="" py_pid=""

# tagged [SUFFIX]: pids of the processes whose BENCH_HUB_TAG is $tag$SUFFIX
# (any suffix when none is given).
tagged() {
  local opt=-lzx
  [ $# -gt 0 ] || opt=-lz
  grep "$opt" -F "BENCH_HUB_TAG=$tag${1:-}" /proc/[0-9]*/environ 2>/dev/null |
    sed 's|/proc/\([0-9]*\)/environ|\1|' | grep -vx "$$" || true
}

cleanup() {
  local code=$?
  trap - EXIT INT TERM
  if [ -f "$hub/.codex-autorunner/manifest.yml" ]; then
    "$car" --repo "$hub" hub stop --all --now >/dev/null 2>&1 || true
  fi
  local pids i
  for i in $(seq 50); do
    pids=$(tagged)
    [ -n "$pids" ] || break
    # The loops stop by themselves; the rest (servers, the supervisor) is told.
    [ "$i" -ne 10 ] || kill -TERM $pids 2>/dev/null || true
    [ "$i" -ne 40 ] || kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  pids=$(tagged)
  [ -z "$pids" ] || echo "bench-hub.sh: processes left running: $pids" >&2
  rm -rf "$work"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

c() { BENCH_HUB_TAG="$tag" FAKE_AGENT_SCRIPT="$script" "$car" "$@"; }
p() { BENCH_HUB_TAG="$tag.py" "$py" "$@"; }
quiet() {
  local log="$work/cmd.log"
  if ! "$@" >"$log" 2>&1; then
    echo "bench-hub.sh: $* failed:" >&2
    cat "$log" >&2
    exit 1
  fi
}
now_us() { echo "${EPOCHREALTIME/./}"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# pss_kib PID / uss_kib PID: the process's proportional set (each shared
# page split among the processes mapping it) and its private pages.
pss_kib() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
uss_kib() {
  awk '/^Private_(Clean|Dirty):/ { t += $2 } END { print t + 0 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0
}
cpu_ticks() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || {
    echo 0
    return
  }
  set -- ${stat##*) }
  echo $((${12} + ${13}))
}
# stats FILE: "median max p50 p90" of the numbers in FILE, one a line.
stats() {
  sort -g "$1" | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "nan nan nan nan"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    print m, v[NR], v[int((NR - 1) * 0.5 + 1.5)], v[int((NR - 1) * 0.9 + 1.5)] }'
}
git_repo() {
  mkdir -p "$1"
  (cd "$1" && git init -q && echo "# bench repo" >README.md && git add -A && git commit -qm init)
}
# first_line FILE PID SECS: waits for FILE's first line while PID lives.
first_line() {
  local i
  for i in $(seq $(($3 * 100))); do
    if [ -s "$1" ] && [ "$(wc -l <"$1")" -ge 1 ]; then
      head -n 1 "$1"
      return 0
    fi
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.01
  done
  return 1
}
# git_cached URL SECS: waits until every item of the list has its git
# position (the server's cache fills off the request path after the first
# list; the lists timed after are the steady state, not that one-off fill).
git_cached() {
  local i
  for i in $(seq $(($2 * 10))); do
    curl -s --max-time 10 "$1" | python3 -c '
import json, sys
sys.exit(0 if all(r.get("git_checked_at") for r in json.load(sys.stdin)) else 1)' && return 0
    sleep 0.1
  done
  return 1
}
# time_get URL COUNT FILE: COUNT GETs on one keep-alive connection; each
# one's time in ms to FILE; fails unless every answer is a 200.
time_get() {
  local args=() i
  for i in $(seq "$2"); do args+=(-o /dev/null "$1"); done
  curl -s --max-time 600 -w '%{http_code} %{time_total}\n' "${args[@]}" >"$3.raw" || return 1
  awk '$1 != 200 { bad = 1 } { print $2 * 1000 }  END { exit bad }' "$3.raw" >"$3"
}

echo "hub: setting up $loops repositories" >&2
printf 'sh date +%%s%%N > %s/$(basename "$PWD")\nsleep 3600\n' "$starts" >"$script"
mkdir -p "$starts"
quiet c init --mode hub "$hub"
printf 'hub:\n  max_parallel_loops: %s\n' "$loops" >>"$hub/.codex-autorunner/config.yml"
ids=()
for i in $(seq -f '%02g' 0 $((loops - 1))); do
  ids+=("r$i")
  git_repo "$hub/r$i" >/dev/null
done
quiet c --repo "$hub" hub scan
for id in "${ids[@]}"; do
  printf 'version: 2\nmode: repo\ncodex:\n  binary: %s\n  args: []\nrunner:\n  sleep_seconds: 0\n' \
    "$agent_bin" >"$hub/$id/.codex-autorunner/config.yml"
  printf '# TODO\n\n- [ ] wait for the benchmark\n' >"$hub/$id/.codex-autorunner/TODO.md"
done

# 1. Start to agent running, one repository after the other.
echo "hub: starting $loops loops, one \`car hub start ID\` each" >&2
: >"$work/start_ms"
for id in "${ids[@]}"; do
  t0=$(now_us)
  quiet c --repo "$hub" hub start "$id"
  for _ in $(seq 3000); do
    [ -s "$starts/$id" ] && break
    sleep 0.01
  done
  [ -s "$starts/$id" ] || {
    echo "bench-hub.sh: the agent of $id did not start in 30 s" >&2
    exit 1
  }
  awk -v t0="$t0" '{ printf "%.3f\n", ($1 / 1000 - t0) / 1000 }' "$starts/$id" >>"$work/start_ms"
done
read -r start_med start_max _ _ < <(stats "$work/start_ms")
sup=$(cat "$hub/.codex-autorunner/hub/supervisor.lock")
kill -0 "$sup" 2>/dev/null || {
  echo "bench-hub.sh: no hub supervisor runs (lock says '$sup')" >&2
  exit 1
}

# 2. CPU while every loop waits on its agent; RSS.
loop_pids=()
: >"$work/loop_kib"
: >"$work/runner_kib"
for id in "${ids[@]}"; do
  st="$hub/$id/.codex-autorunner/state.json"
  runner=$(sed -n 's/.*"runner_pid": \([0-9]*\).*/\1/p' "$st")
  asup=$(sed -n 's/.*"agent_supervisor_pid": \([0-9]*\).*/\1/p' "$st")
  [ -n "$runner" ] && [ -n "$asup" ] || {
    echo "bench-hub.sh: $id: no runner_pid or agent_supervisor_pid in $st" >&2
    exit 1
  }
  loop_pids+=("$runner" "$asup")
  r=$(rss_kib "$runner")
  echo "$r" >>"$work/runner_kib"
  echo $((r + $(rss_kib "$asup"))) >>"$work/loop_kib"
done
echo "hub: all $loops agents running; CPU over ${cpu_seconds} s" >&2
sleep 2
tck=$(getconf CLK_TCK)
loops_ticks() {
  local t=0 pid
  for pid in "${loop_pids[@]}"; do t=$((t + $(cpu_ticks "$pid"))); done
  echo "$t"
}
s0=$(cpu_ticks "$sup") l0=$(loops_ticks) t0=$(now_us)
sleep "$cpu_seconds"
s1=$(cpu_ticks "$sup") l1=$(loops_ticks) t1=$(now_us)
sup_cpu=$(awk -v d=$((s1 - s0)) -v hz="$tck" -v us=$((t1 - t0)) 'BEGIN { printf "%.2f", 100 * d / hz / (us / 1e6) }')
loops_cpu=$(awk -v d=$((l1 - l0)) -v hz="$tck" -v us=$((t1 - t0)) 'BEGIN { printf "%.2f", 100 * d / hz / (us / 1e6) }')
sup_kib=$(rss_kib "$sup")
read -r loop_med loop_max _ _ < <(stats "$work/loop_kib")
read -r runner_med runner_max _ _ < <(stats "$work/runner_kib")
# With every loop running: what each loop really adds (its own pages, and
# its share of the code all loops map from the same binary).
pss_total=0
: >"$work/uss_kib"
for i in $(seq 0 2 $((${#loop_pids[@]} - 1))); do
  a=${loop_pids[$i]} b=${loop_pids[$((i + 1))]}
  pss_total=$((pss_total + $(pss_kib "$a") + $(pss_kib "$b")))
  echo $(($(uss_kib "$a") + $(uss_kib "$b"))) >>"$work/uss_kib"
done
pss_each=$((pss_total / loops))
read -r uss_med uss_max _ _ < <(stats "$work/uss_kib")
alive=$(for pid in "${loop_pids[@]}"; do kill -0 "$pid" 2>/dev/null && echo; done | wc -l)
[ "$alive" -eq $((2 * loops)) ] || {
  echo "bench-hub.sh: only $alive of $((2 * loops)) loop processes still run after the CPU window" >&2
  exit 1
}

# 3. car serve at the hub root: GET /api/v1/repos.
echo "hub: car serve at the hub root, GET /api/v1/repos x $requests" >&2
list_na="" list_p50="" list_p90="" serve_kib=""
(cd "$hub" && exec env BENCH_HUB_TAG="$tag" "$car" serve --port 0) >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
if ! line=$(first_line "$work/serve.out" "$serve_pid" 20); then
  list_na="car serve does not serve a hub: $(head -c 200 "$work/serve.err" | head -n 1)"
elif ! url=$(echo "$line" | sed -n 's|^car: listening on \(http://[^ ]*\)/$|\1|p') || [ -z "$url" ]; then
  list_na="car serve printed '$line', not 'car: listening on http://HOST:PORT/'"
else
  body=$(curl -s --max-time 30 -w '\n%{http_code}' "$url/api/v1/repos" || true)
  n=$(printf '%s' "$body" | python3 -c '
import json, sys
text = sys.stdin.read()
body, _, code = text.rpartition("\n")
try:
    v = json.loads(body)
    print(len(v) if code == "200" and isinstance(v, list) else "no:" + code)
except ValueError:
    print("no:" + code)
')
  if [ "$n" != "$loops" ]; then
    list_na="car serve does not serve a hub (GET /api/v1/repos: ${n#no:}, not a list of $loops)"
  elif ! git_cached "$url/api/v1/repos" 60; then
    list_na="the server's git cache did not fill within 60 s"
  elif ! time_get "$url/api/v1/repos" "$requests" "$work/list_ms"; then
    list_na="GET /api/v1/repos failed during the $requests requests"
  else
    read -r _ _ list_p50 list_p90 < <(stats "$work/list_ms")
    serve_kib=$(rss_kib "$serve_pid")
  fi
fi
kill -TERM "$serve_pid" 2>/dev/null || true
wait "$serve_pid" 2>/dev/null || true

# 4. The Python hub of as many repositories.
py_p50="" py_p90="" py_kib="" py_na="not run (no --py)"
if [ -n "$py" ]; then
  echo "hub: Python 2.2.3 hub of $loops repositories (its scan takes a while)" >&2
  pyhub="$work/py-hub"
  mkdir -p "$pyhub"
  (cd "$pyhub" && quiet p init --mode hub)
  for id in "${ids[@]}"; do git_repo "$pyhub/$id" >/dev/null; done
  (cd "$pyhub" && quiet p hub scan)
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  (cd "$pyhub" && exec env BENCH_HUB_TAG="$tag.py" "$py" serve --path "$pyhub" --port "$port") \
    >"$work/py-serve.log" 2>&1 &
  py_pid=$!
  py_na="its server did not answer /health in 120 s (log: py-serve.log)"
  for _ in $(seq 1200); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health" || true)" = 200 ]; then
      py_na=""
      break
    fi
    kill -0 "$py_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$py_na" ]; then
    echo "hub: Python GET /hub/repos x $py_requests" >&2
    if time_get "http://127.0.0.1:$port/hub/repos" 1 "$work/py_warm" &&
      time_get "http://127.0.0.1:$port/hub/repos" "$py_requests" "$work/py_ms"; then
      read -r _ _ py_p50 py_p90 < <(stats "$work/py_ms")
      py_kib=0
      for pid in $(tagged .py); do py_kib=$((py_kib + $(rss_kib "$pid"))); done
    else
      py_na="GET /hub/repos did not answer 200"
    fi
  fi
  kill -TERM $(tagged .py) 2>/dev/null || true
  wait "$py_pid" 2>/dev/null || true
fi

# 5. The table.
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
ms() { awk -v v="$1" 'BEGIN { printf (v < 10 ? "%.2f ms" : "%.0f ms"), v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.0fx", a / b; else printf "-" }'; }
goal() { awk -v v="$1" -v g="$2" -v lt="${3:-}" 'BEGIN { ok = lt ? v < g : v <= g; printf ok ? "met" : "MISSED" }'; }
row() { printf '%-34s %16s %12s %7s %7s  %s\n' "$@"; }
load=$(cut -d' ' -f1 /proc/loadavg)
echo
echo "Hub: $loops loops in one hub, each agent sleeping (1-min load average at the end $load)"
echo
row measure "Python 2.2.3" car ratio goal note
row "start request -> agent, median" "~6 s (quoted)" "$(ms "$start_med")" "$(ratio 6000 "$start_med")" \
  "$(goal "$start_med" 100)" "goal <= 100 ms; max $(ms "$start_max") (the first one starts the supervisor)"
row "hub supervisor CPU, loops waiting" "-" "$sup_cpu %" "-" "$(goal "$sup_cpu" 1 lt)" \
  "goal < 1 % of a core, over ${cpu_seconds} s; all loops' car processes together: $loops_cpu %"
row "hub supervisor RSS" "-" "$(mb "$sup_kib")" "-" "-" "one process for the whole hub"
row "RSS of each loop, median" "118 MB (quoted)" "$(mb "$loop_med")" "$(ratio $((118 * 1024)) "$loop_med")" \
  "$(goal "$loop_med" 10240)" "goal <= 10 MB; car run + its per-run supervisor; Python: a flow worker"
row "RSS of each loop, max" "-" "$(mb "$loop_max")" "-" "$(goal "$loop_max" 10240)" \
  "car run alone: median $(mb "$runner_med"), max $(mb "$runner_max")"
row "memory of each loop, PSS" "-" "$(mb "$pss_each")" "-" "$(goal "$pss_each" 10240)" \
  "all $loops loops' PSS / $loops: the binary's code, mapped by every loop, counted once"
row "private memory of each loop" "-" "$(mb "$uss_med")" "-" "-" \
  "median (max $(mb "$uss_max")): pages no other process shares"
if [ -n "$py_p50" ]; then
  py_list="$(ms "$py_p50")" py_list90="$(ms "$py_p90")" py_note="Python GET /hub/repos x $py_requests, $loops repos"
else
  py_list="216 ms (quoted)" py_list90="-" py_note="Python: 3 repos, quoted from issue 13 ($py_na)"
fi
if [ -n "$list_p50" ]; then
  row "GET /api/v1/repos, p50" "$py_list" "$(ms "$list_p50")" "$(ratio "${py_p50:-216}" "$list_p50")" \
    "$(goal "$list_p50" 10)" "goal <= 10 ms; $requests requests, one connection; $py_note"
  row "GET /api/v1/repos, p90" "$py_list90" "$(ms "$list_p90")" "$(ratio "${py_p90:-0}" "$list_p90")" \
    "$(goal "$list_p90" 10)" ""
else
  row "GET /api/v1/repos, p50" "$py_list" "n/a" "-" "-" "$list_na; $py_note"
  [ -z "$py_p90" ] || row "GET /api/v1/repos, p90" "$py_list90" "n/a" "-" "-" ""
fi
or_na() { if [ -n "$1" ]; then mb "$1"; else echo "$2"; fi; }
row "server RSS after the list" "$(or_na "$py_kib" -)" "$(or_na "$serve_kib" n/a)" \
  "$(ratio "${py_kib:-0}" "${serve_kib:-0}")" "-" \
  "$loops repos; Python: its server and children"
echo
echo "ratio: how many times better car is; (quoted): the issue's figure for Python 2.2.3, not measured here."

if [ -n "$out" ]; then
  num() { [ -n "$1" ] && echo "$1" || echo null; }
  str() { [ -n "$1" ] && python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1" || echo null; }
  json=$(
    cat <<EOF
{"loops": $loops, "load_average": $load,
 "start_to_agent_ms": {"median": $start_med, "max": $start_max},
 "supervisor_cpu_percent": $sup_cpu, "loops_cpu_percent": $loops_cpu, "cpu_seconds": $cpu_seconds,
 "supervisor_rss_kib": $sup_kib,
 "loop_rss_kib": {"median": $loop_med, "max": $loop_max},
 "runner_rss_kib": {"median": $runner_med, "max": $runner_max},
 "loop_pss_kib": $pss_each,
 "loop_private_kib": {"median": $uss_med, "max": $uss_max},
 "repo_list_ms": {"p50": $(num "$list_p50"), "p90": $(num "$list_p90"), "requests": $requests,
                  "not_measured": $(str "$list_na")},
 "serve_rss_kib": $(num "$serve_kib"),
 "python": {"repo_list_ms": {"p50": $(num "$py_p50"), "p90": $(num "$py_p90"), "requests": $py_requests},
            "server_rss_kib": $(num "$py_kib"), "not_measured": $(str "$py_na"),
            "quoted_from_issue": {"flow_worker_rss_mb": 118, "start_s": 6, "repo_list_ms_3_repos": 216}}}
EOF
  )
  python3 - "$out" "$json" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
doc = json.loads(out.read_text()) if out.exists() else {}
doc["hub"] = json.loads(sys.argv[2])
out.write_text(json.dumps(doc, indent=2) + "\n")
EOF
  echo "JSON: $out (key \"hub\")"
fi
