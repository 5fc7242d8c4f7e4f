#!/usr/bin/env python3
"""Side-by-side benchmark of `car serve` against the Python codex-autorunner 2.2.3 server.

Run through `scripts/bench.sh` (all of it, or `--only server`), which installs the
Python program and builds car and the probes. Both servers run in the same session,
alternating, on loopback without a token:

- start to the first 200 on GET /health (median of N starts; polled every 0.5 ms);
- RSS (the server and its children, from /proc) 10 s after it is ready;
- RSS with 10 repositories, each one's state read once (the Python hub; car serves
  one repository per server until the hub lands);
- requests per second on one repository's state for a few seconds over a few
  keep-alive connections (the http-load probe), then the RSS after that load;
- latency from an agent printing `ts=<ns>` to an SSE client reading the line on
  car's /api/v1/repos/{id}/stream (p50, p90, p99), and, as the machine's own share,
  from the same agent to this script reading its pipe directly.

Prints one table (ratios: how many times better car is) and adds a "server" key to
the JSON file given with --out (creating it if missing).
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
CAR_REPO = "bench"      # the id car gives the repository: its directory name
PY_STATE = "/hub/read-models/repos/{id}/detail"  # 2.2.3's status/lock/last run of one repo
CAR_STATE = "/api/v1/repos/{id}"                 # what `car status --json` says

TS_AGENT = """#!{python}
# Prints `ts=<ns since the epoch>` every {gap} s, {lines} times, then exits.
import sys, time
sys.stdin.read()
start = time.monotonic()
for i in range({lines}):
    delay = start + i * {gap} - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    print(f"ts={{time.time_ns()}}", flush=True)
"""


def sh(cmd, cwd, env):
    r = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} (in {cwd}) failed:\n{r.stdout}")


def git_repo(path, env):
    path.mkdir(parents=True)
    sh(["git", "init", "-q"], path, env)
    (path / "README.md").write_text("# Bench repo\n")
    sh(["git", "add", "-A"], path, env)
    sh(["git", "commit", "-qm", "init"], path, env)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(port, method, path, body=None, timeout=30):
    """One request on a fresh connection; returns (status, body bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        data = body.encode() if body is not None else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
        s.sendall(head.encode() + data)
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
    raw = b"".join(chunks)
    head, _, rest = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest


def tree_rss_kib(pid):
    """VmRSS of pid and all its descendants, in KiB."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


class Server:
    """A server process started in a session of its own, ready once /health says 200."""

    def __init__(self, name, cmd, cwd, env, log):
        self.name, self.port = name, free_port()
        self.log = open(log, "ab")
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd + ["--port", str(self.port)], cwd=cwd, env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     start_new_session=True)
        self.ready_s = self._wait_health()

    def _wait_health(self, timeout=120):
        req = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nConnection: close\r\n\r\n".encode()
        while time.perf_counter() - self.t0 < timeout:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                    s.sendall(req)
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return time.perf_counter() - self.t0
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} server exited ({self.proc.returncode}); see {self.log.name}")
            time.sleep(0.0005)
        raise SystemExit(f"{self.name} server not ready in {timeout} s; see {self.log.name}")

    def rss_kib(self):
        return tree_rss_kib(self.proc.pid)

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass
        self.log.close()


def load(probe, port, path, seconds, conns):
    out = subprocess.run([probe, f"http://127.0.0.1:{port}{path}", str(seconds), str(conns)],
                         capture_output=True, text=True, check=True).stdout
    r = json.loads(out)
    if r["non_200"] or r["errors"]:
        raise SystemExit(f"http-load on {path}: {r}")
    return r


def sse_latency(port, lines, timeout):
    """Follows car's stream, starts one run of the ts agent, returns the deltas in ms."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(f"GET /api/v1/repos/{CAR_REPO}/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
              "Accept: text/event-stream\r\n\r\n".encode())
    f = s.makefile("rb", buffering=0)
    status = f.readline()
    if b" 200 " not in status:
        raise SystemExit(f"car stream: {status!r}")
    while f.readline() not in (b"\r\n", b"\n"):
        pass
    code, body = http(port, "POST", f"/api/v1/repos/{CAR_REPO}/loop/once", "{}")
    if code != 202:
        raise SystemExit(f"car loop/once: {code} {body[:300]!r}")
    deltas, event, deadline = [], None, time.monotonic() + timeout
    while len(deltas) < lines and time.monotonic() < deadline:
        raw = f.readline()
        if not raw:
            break
        now = time.time_ns()
        line = raw.rstrip(b"\r\n")
        if line.startswith(b"event:"):
            event = line[6:].strip()
        elif line.startswith(b"data:") and event == b"output":
            # The output log's line: `[<time>] stdout: ts=<ns>`.
            _, found, ts = json.loads(line[5:])["line"].rpartition("stdout: ts=")
            if found:
                deltas.append((now - int(ts)) / 1e6)
    s.close()
    wait_idle(port, timeout)
    if len(deltas) < lines:
        raise SystemExit(f"car stream: {len(deltas)} of {lines} agent lines arrived in {timeout} s")
    return deltas


def pipe_latency(agent, lines):
    """The same agent read straight from its pipe: the machine's own share of the delay."""
    proc = subprocess.Popen([str(agent)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    deltas = []
    for raw in proc.stdout:
        now = time.time_ns()
        deltas.append((now - int(raw.split(b"=")[1])) / 1e6)
    proc.wait()
    if len(deltas) != lines:
        raise SystemExit(f"ts agent alone: {len(deltas)} of {lines} lines")
    return deltas


def latency_stats(d, **extra):
    return dict({"p50": pct(d, 0.5), "p90": pct(d, 0.9), "p99": pct(d, 0.99), "max": max(d),
                 "lines": len(d)}, **extra)


def wait_idle(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code, body = http(port, "GET", CAR_STATE.format(id=CAR_REPO))
        if code == 200 and not json.loads(body)["running"]:
            return
        time.sleep(0.1)
    http(port, "POST", f"/api/v1/repos/{CAR_REPO}/loop/kill", "{}")
    raise SystemExit("car: the benchmark's run did not end")


def pct(v, p):
    v = sorted(v)
    return v[round((len(v) - 1) * p)]


def setup(work, car, py, env, sse_lines, sse_gap):
    """car's repository (its agent prints timestamps) and two Python hubs: 1 and 10 repos."""
    agent = work / "ts-agent"
    agent.write_text(TS_AGENT.format(python=sys.executable, gap=sse_gap, lines=sse_lines))
    agent.chmod(0o755)
    repo = work / CAR_REPO
    git_repo(repo, env)
    sh([car, "init"], repo, env)
    (repo / ".codex-autorunner" / "config.yml").write_text(
        f"version: 2\nmode: repo\ncodex:\n  binary: {agent}\n  args: []\n"
        "runner:\n  sleep_seconds: 0\n  no_progress_runs: 0\n")
    (repo / ".codex-autorunner" / "TODO.md").write_text("# TODO\n\n- [ ] first\n")
    hubs = {}
    for n in (1, 10):
        hub = work / f"py-hub-{n}"
        hub.mkdir()
        sh([py, "init", "--mode", "hub"], hub, env)
        for i in range(n):
            git_repo(hub / f"r{i}", env)
        sh([py, "hub", "scan"], hub, env)
        hubs[n] = hub
    return repo, hubs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--car", required=True)
    ap.add_argument("--py", required=True, help="the 2.2.3 `car` entry point")
    ap.add_argument("--http-load", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=7, help="server starts of each program")
    ap.add_argument("--load-seconds", type=float, default=5)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--sse-lines", type=int, default=300)
    ap.add_argument("--sse-gap", type=float, default=0.05)
    a = ap.parse_args()
    car, py, probe = (os.path.abspath(p) for p in (a.car, a.py, a.http_load))
    env = dict(os.environ, **GIT_ENV)
    for k in ("CAR_LOG", "CAR_SERVER"):
        env.pop(k, None)
    work = Path(tempfile.mkdtemp(prefix="car-bench-server-"))
    print("server: setting up (the Python hubs take a minute)", flush=True)
    repo, hubs = setup(work, car, py, env, a.sse_lines, a.sse_gap)
    log = work / "server.log"
    car_cmd = [car, "serve"]
    py_cmd = lambda hub: [py, "serve", "--path", str(hub)]  # noqa: E731
    res = {"python": {}, "car": {}, "load_average": os.getloadavg()[0]}

    # 1. Start to the first 200 on /health, alternating (one warm-up each).
    starts = {"python": [], "car": []}
    for i in range(a.runs + 1):
        for name, cmd, cwd in (("python", py_cmd(hubs[1]), hubs[1]), ("car", car_cmd, repo)):
            print(f"server: start {i}/{a.runs} {name}", flush=True)
            srv = Server(name, cmd, cwd, env, log)
            srv.stop()
            if i:
                starts[name].append(srv.ready_s * 1000)
    for name, v in starts.items():
        res[name]["start_to_health_ms"] = {"median": statistics.median(v), "min": min(v),
                                           "max": max(v), "runs": len(v)}

    # 2. Idle RSS, the state GET under load, RSS after it; car's SSE latency.
    for name, cmd, cwd, path in (("python", py_cmd(hubs[1]), hubs[1], PY_STATE.format(id="r0")),
                                 ("car", car_cmd, repo, CAR_STATE.format(id=CAR_REPO))):
        print(f"server: idle, load and stream, {name}", flush=True)
        srv = Server(name, cmd, cwd, env, log)
        try:
            time.sleep(10)
            res[name]["idle_rss_kib"] = srv.rss_kib()
            code, _ = http(srv.port, "GET", path)
            if code != 200:
                raise SystemExit(f"{name}: GET {path}: {code}")
            res[name]["state_get"] = dict(load(probe, srv.port, path, a.load_seconds, a.connections),
                                          path=path, connections=a.connections)
            res[name]["rss_after_load_kib"] = srv.rss_kib()
            if name == "car":
                d = sse_latency(srv.port, a.sse_lines, timeout=a.sse_lines * a.sse_gap + 60)
                res[name]["sse_latency_ms"] = latency_stats(d, gap_s=a.sse_gap)
                d = pipe_latency(repo.parent / "ts-agent", a.sse_lines)
                res[name]["pipe_latency_ms"] = latency_stats(d, gap_s=a.sse_gap)
        finally:
            srv.stop()

    # 3. The Python hub with 10 repositories, each one's state read once.
    print("server: 10 repos, python", flush=True)
    srv = Server("python", py_cmd(hubs[10]), hubs[10], env, log)
    try:
        for i in range(10):
            for path in (PY_STATE.format(id=f"r{i}"), f"/repos/r{i}/api/repo/health"):
                code, _ = http(srv.port, "GET", path)
                if code != 200:
                    raise SystemExit(f"python: GET {path}: {code}")
        time.sleep(10)
        res["python"]["rss_10_repos_kib"] = srv.rss_kib()
    finally:
        srv.stop()

    print_table(res, a)
    out = Path(a.out)
    doc = json.loads(out.read_text()) if out.exists() else {}
    doc["server"] = res
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nJSON: {out} (key \"server\")")
    subprocess.run(["rm", "-rf", str(work)], check=False)


def print_table(res, a):
    p, c = res["python"], res["car"]
    mb = lambda kib: f"{kib / 1024:.1f} MB"  # noqa: E731
    ps, cs = p["start_to_health_ms"], c["start_to_health_ms"]
    pg, cg = p["state_get"], c["state_get"]
    sse, pipe = c["sse_latency_ms"], c["pipe_latency_ms"]
    rows = [
        ("start to first 200 /health", f"{ps['median']:.0f} ms", f"{cs['median']:.1f} ms",
         ps["median"] / cs["median"], f"median of {cs['runs']}; car min {cs['min']:.1f} ms"),
        ("idle RSS, 10 s after ready", mb(p["idle_rss_kib"]), mb(c["idle_rss_kib"]),
         p["idle_rss_kib"] / c["idle_rss_kib"], "1 repository"),
        ("RSS with 10 repos", mb(p["rss_10_repos_kib"]), "-", None,
         "Python: hub of 10, each repo app built; car serves 1 repo until the hub lands"),
        (f"repo state GET, {a.connections} conns", f"{pg['rps']:.0f} req/s", f"{cg['rps']:.0f} req/s",
         cg["rps"] / pg["rps"],
         f"p50 {pg['p50_ms']:.1f} / {cg['p50_ms']:.2f} ms, p99 {pg['p99_ms']:.1f} / {cg['p99_ms']:.2f} ms"),
        ("RSS after that load", mb(p["rss_after_load_kib"]), mb(c["rss_after_load_kib"]),
         p["rss_after_load_kib"] / c["rss_after_load_kib"], "1 repository"),
        ("agent line -> SSE, p50", "-", f"{sse['p50']:.2f} ms", None,
         f"{sse['lines']} lines every {sse['gap_s'] * 1000:.0f} ms; Python: see below"),
        ("agent line -> SSE, p90", "-", f"{sse['p90']:.2f} ms", None,
         f"the agent read from a pipe (no car): p50 {pipe['p50']:.2f}, p90 {pipe['p90']:.2f} ms"),
        ("agent line -> SSE, p99", "-", f"{sse['p99']:.2f} ms", None,
         f"max {sse['max']:.2f} ms; from a pipe: p99 {pipe['p99']:.2f}, max {pipe['max']:.2f} ms"),
    ]
    print(f"\nServer: car serve vs Python codex-autorunner 2.2.3 (1-min load average at the start "
          f"{res['load_average']:.1f})\n")
    print(f"{'measure':<30} {'Python 2.2.3':>14} {'car':>12} {'ratio':>7}  note")
    for name, pv, cv, ratio, note in rows:
        r = f"{ratio:.0f}x" if ratio else "-"
        print(f"{name:<30} {pv:>14} {cv:>12} {r:>7}  {note}")
    print("\nratio: how many times better car is (faster, smaller, more requests).")
    print("Python's SSE: 2.2.3 streams run output only as ticket-flow events, which need a\n"
          "codex app-server (JSON-RPC) to drive; not measured here.")


if __name__ == "__main__":
    sys.exit(main())
