#!/usr/bin/env python3
"""Side-by-side benchmark of car against the Python codex-autorunner 0.1.0.

Run through scripts/bench.sh, which installs the Python program and builds car.
Both programs run in the same session, alternating, on identical repositories,
with an agent that exits at once (or, for streaming, floods its pipes).
Wall times are medians of repeated runs; peak RSS comes from wait4(2).
Prints one table and writes the same figures as JSON.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}


PROBE = None  # set in main(): the rss-probe binary


def run_once(cmd, cwd, env, timeout=None):
    """Runs cmd; returns (seconds, peak RSS in KiB, exit code), or None on timeout.

    The time is the command's own (a blocking wait, no polling); the peak RSS
    is measured in a separate run through rss-probe (see its header)."""
    start = time.perf_counter()
    try:
        r = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    elapsed = time.perf_counter() - start
    return elapsed, None, r.returncode


def peak_rss(cmd, cwd, env, timeout=None):
    """Peak RSS (KiB) of one run of cmd, through rss-probe."""
    try:
        r = subprocess.run([PROBE] + cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    for line in r.stderr.splitlines():
        if line.startswith("rss-probe: maxrss_kib="):
            return int(line.split("=")[1].split()[0])
    return None


def measure(pairs, runs, warmup=2, rss_runs=3):
    """pairs: {name: (cmd, cwd, env)}; runs them alternately; returns {name: stats}."""
    samples = {name: [] for name in pairs}
    for i in range(warmup + runs):
        for name, (cmd, cwd, env) in pairs.items():
            r = run_once(cmd, cwd, env)
            if r is None or r[2] != 0:
                raise SystemExit(f"{name}: {' '.join(map(str, cmd))} failed: {r}")
            if i >= warmup:
                samples[name].append(r[0])
    rss = {name: statistics.median(peak_rss(cmd, cwd, env) or 0 for _ in range(rss_runs))
           for name, (cmd, cwd, env) in pairs.items()}
    return {name: {"median_ms": statistics.median(v) * 1000, "min_ms": min(v) * 1000,
                   "rss_kib": rss[name], "runs": len(v)} for name, v in samples.items()}


def sh(cmd, cwd, env=None):
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_repo(path, env, files=0):
    path.mkdir(parents=True)
    sh(["git", "init", "-q"], path, env)
    (path / "README.md").write_text("# Bench repo\n\nA repository for benchmarks.\n")
    for i in range(files):
        d = path / f"pkg{i // 100:03d}"
        d.mkdir(exist_ok=True)
        (d / f"mod{i % 100:03d}.py").write_text(f"def f{i}():\n    return {i}\n")
    sh(["git", "add", "-A"], path, env)
    sh(["git", "commit", "-qm", "init"], path, env)


def init_python(repo, py, agent, env):
    sh([py, "init"], repo, env)
    cfg = repo / ".codex-autorunner" / "config.yml"
    text = cfg.read_text().replace("binary: codex\n", f"binary: {agent}\n", 1)
    text = text.replace("sleep_seconds: 5", "sleep_seconds: 0")
    cfg.write_text(text)
    (repo / ".codex-autorunner" / "TODO.md").write_text("# TODO\n\n- [ ] first\n- [ ] second\n")


def init_car(repo, car, agent, env):
    sh([car, "init"], repo, env)
    (repo / ".codex-autorunner" / "config.yml").write_text(
        f"version: 2\nmode: repo\ncodex:\n  binary: {agent}\nrunner:\n  sleep_seconds: 0\n  no_progress_runs: 0\n")
    (repo / ".codex-autorunner" / "TODO.md").write_text("# TODO\n\n- [ ] first\n- [ ] second\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--car", required=True)
    ap.add_argument("--py", required=True)
    ap.add_argument("--flood-agent", required=True)
    ap.add_argument("--rss-probe", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--stream-bytes", type=int, default=1_000_000_000)
    ap.add_argument("--python-stream-timeout", type=float, default=150)
    a = ap.parse_args()
    car, py = os.path.abspath(a.car), os.path.abspath(a.py)
    global PROBE
    PROBE = os.path.abspath(a.rss_probe)
    work = Path(tempfile.mkdtemp(prefix="car-bench-"))
    env = dict(os.environ, **GIT_ENV)
    env.pop("CAR_LOG", None)
    bin_dir = work / "bin"
    bin_dir.mkdir()
    instant = bin_dir / "instant-agent"
    instant.write_text("#!/bin/sh\nexit 0\n")
    snap = bin_dir / "snapshot-agent"
    snap.write_text("#!/bin/sh\ncat > /dev/null\nprintf '# Repo snapshot\\n\\n## What this repo is\\n- bench\\n'\n")
    for f in (instant, snap):
        f.chmod(0o755)
    rows, results = [], {"machine": machine(), "python": {}, "car": {}}

    def row(name, p, c, note=""):
        ratio = p["median_ms"] / c["median_ms"] if p and c else None
        rows.append((name, p, c, ratio, note))
        results["python"][name], results["car"][name] = p, c

    # 1. --help and status.
    pyr, carr = work / "py-small", work / "car-small"
    make_repo(pyr, env)
    make_repo(carr, env)
    init_python(pyr, py, instant, env)
    init_car(carr, car, instant, env)
    for cmd in (["--help"], ["status"]):
        m = measure({"py": ([py] + cmd, pyr, env), "car": ([car] + cmd, carr, env)}, a.runs)
        row(" ".join(cmd), m["py"], m["car"])

    # 2. once with the instant agent, and car's own share of it.
    m = measure({"py": ([py, "once"], pyr, env), "car": ([car, "once"], carr, env)}, a.runs)
    agent_alone = measure({"agent": ([str(instant)], carr, env)}, a.runs)["agent"]
    overhead = m["car"]["median_ms"] - agent_alone["median_ms"]
    row("once (instant agent)", m["py"], m["car"], f"car overhead {overhead:.1f} ms (agent alone {agent_alone['median_ms']:.2f} ms)")
    results["car"]["once_overhead_ms"] = overhead

    # 3. snapshot on a repository of 20,000 tracked files.
    big = work / "big"
    make_repo(big, env, files=20_000)
    pyb, carb = work / "py-big", work / "car-big"
    sh(["git", "clone", "-q", str(big), str(pyb)], work, env)
    sh(["git", "clone", "-q", str(big), str(carb)], work, env)
    init_python(pyb, py, snap, env)
    init_car(carb, car, snap, env)
    (carb / ".codex-autorunner" / "config.yml").write_text(
        f"version: 2\nmode: repo\ncodex:\n  binary: {snap}\n  args: []\n")
    m = measure({"py": ([py, "snapshot"], pyb, env),
                 "car": ([car, "snapshot", "--from-scratch"], carb, env)}, max(5, a.runs // 2), warmup=1)
    seed_ms = []
    for _ in range(5):
        out = subprocess.run([car, "snapshot", "--from-scratch"], cwd=carb, env=env, capture_output=True, text=True).stdout
        seed_ms.append(float(out.split(" files in ")[1].split(" ms")[0]))
    seed = statistics.median(seed_ms)
    row("snapshot, 20,000 files", m["py"], m["car"], f"car seed collection {seed:.1f} ms")
    results["car"]["snapshot_seed_ms"] = seed

    # 4. Streaming: an agent that writes mixed stdout/stderr lines.
    n = a.stream_bytes
    script = work / "flood-script"
    script.write_text(f"flood {n} 100\n")
    fenv = dict(env, FAKE_AGENT_SCRIPT=str(script))
    flood = os.path.abspath(a.flood_agent)
    pys, cars = work / "py-stream", work / "car-stream"
    make_repo(pys, env)
    make_repo(cars, env)
    init_python(pys, py, flood, env)
    init_car(cars, car, flood, env)
    (cars / ".codex-autorunner" / "config.yml").write_text(
        f"version: 2\nmode: repo\ncodex:\n  binary: {flood}\n  args: []\n")
    alone = run_once([flood], cars, fenv)
    c = run_once([car, "once"], cars, fenv)
    car_rss = peak_rss([car, "once"], cars, fenv)
    car_stream = {"median_ms": c[0] * 1000, "min_ms": c[0] * 1000, "rss_kib": car_rss, "runs": 1}
    mb_s = n / 1e6 / c[0]
    p = run_once([py, "once"], pys, fenv, timeout=a.python_stream_timeout)
    py_stream = None
    if p is not None:
        py_rss = peak_rss([py, "once"], pys, fenv, timeout=a.python_stream_timeout)
        py_stream = {"median_ms": p[0] * 1000, "min_ms": p[0] * 1000, "rss_kib": py_rss, "runs": 1}
    note = f"{n / 1e9:.1f} GB: car {mb_s:.0f} MB/s; agent alone {alone[0] * 1000:.0f} ms"
    if p is None:
        note += f"; Python did not finish in {a.python_stream_timeout:.0f} s"
    row("stream 1 GB stdout+stderr", py_stream, car_stream, note)
    results["car"]["stream_mb_per_s"] = mb_s

    print(f"\nMachine: {results['machine']}\n")
    print(f"{'command':<28} {'Python median':>14} {'car median':>11} {'ratio':>8} {'Python RSS':>11} {'car RSS':>9}  note")
    for name, p, c, ratio, note in rows:
        pm = f"{p['median_ms']:.1f} ms" if p else "-"
        cm = f"{c['median_ms']:.2f} ms" if c else "-"
        r = f"{ratio:.0f}x" if ratio else "-"
        prss = f"{p['rss_kib'] / 1024:.1f} MB" if p and p['rss_kib'] else "-"
        crss = f"{c['rss_kib'] / 1024:.1f} MB" if c and c['rss_kib'] else "-"
        print(f"{name:<28} {pm:>14} {cm:>11} {r:>8} {prss:>11} {crss:>9}  {note}")
    Path(a.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nJSON: {a.out}")
    shutil.rmtree(work, ignore_errors=True)


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU ({cpu}), {platform.system()} {platform.release()}, Python {platform.python_version()}"


if __name__ == "__main__":
    sys.exit(main())
