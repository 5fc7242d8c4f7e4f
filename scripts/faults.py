#!/usr/bin/env python3
"""Fault injection for car: kill it at random instants and check what is left.

Run through scripts/faults.sh, which builds car and the fake agent first.
Each trial makes a fresh git repository with `car init`, starts `car run`
with the scripted fake agent (tests/src/bin/fake-agent.rs), whose agent
starts a grandchild, a double-forked orphan and a setsid daemon, then
injects one fault:

  kill9            SIGKILL of car at a random instant after it is spawned
                   (a fifth of them at once, before car's main even runs)
  agent-kills-car  the agent's first step is `kill -9` of car
  kill-frozen      car frozen with SIGSTOP, then `car kill` (its force path)
  sigint3          three SIGINTs, 150 ms apart

Then it runs `car status` and checks, for that trial:
  - leftover processes: every process carrying the trial's token (in its
    environment, or in the argv of the agent's sleeps) must be gone within
    a few seconds; leftovers are listed with their ps line, then killed;
  - corrupt files: state.json parses, every line of events.jsonl (and its
    rotations) parses, every runs/*/run.json parses;
  - the docs (TODO, PROGRESS, OPINIONS, SPEC, SUMMARY) are byte-identical
    to before the trial (the faulty agent writes no doc);
  - the stop is recorded: state.json no longer says running, and three
    SIGINTs leave `interrupted`, `car kill` leaves `killed`;
  - `car resume --once` with a quick agent (checks one TODO item) exits 0
    and leaves no process behind either.

It prints a summary and exits 1 when any trial failed a check. Every
command has a timeout; the default run (100 kill9 trials plus 5 of each
other variant, two trials at a time) takes about four minutes.
"""

import argparse
import concurrent.futures
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOCS = ["TODO.md", "PROGRESS.md", "OPINIONS.md", "SPEC.md", "SUMMARY.md"]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "faults",
    "GIT_AUTHOR_EMAIL": "faults@example.com",
    "GIT_COMMITTER_NAME": "faults",
    "GIT_COMMITTER_EMAIL": "faults@example.com",
}
# How long a trial's processes may take to end after the fault and `car status`.
GRACE = 1.0
CMD_TIMEOUT = 30


class Trial:
    def __init__(self, index, variant, nonce):
        self.index = index
        self.variant = variant
        self.token = f"faults-{nonce}-{index}"
        # The agent's sleeps carry the token in their argv too (300.<digits>
        # seconds), for a process that would clear its environment.
        self.secs = f"300.{nonce}{index:04d}"
        self.delay = None
        self.agent_started = False
        self.leftovers = []
        self.corrupt = []
        self.docs_changed = []
        self.resume_error = None
        self.record_error = None
        self.notes = []

    def failed(self):
        return bool(self.leftovers or self.corrupt or self.docs_changed or self.resume_error
                    or self.record_error)

    def label(self):
        at = f" at {self.delay * 1000:.0f} ms" if self.delay is not None else ""
        return f"trial {self.index} ({self.variant}{at})"


def proc_info(pid):
    """(state, ppid, pgid, sid, cmdline, environ) of a live pid, or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        close = stat.rindex(")")
        fields = stat[close + 2:].split()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except (OSError, ValueError):
        return None
    return fields[0], int(fields[1]), int(fields[2]), int(fields[3]), cmdline, environ


def tagged(token, secs):
    """Live (non-zombie) processes carrying the token; [(pid, ps line)]."""
    needle = f"FAULTS_TOKEN={token}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid == os.getpid():
            continue
        info = proc_info(pid)
        if info is None:
            continue
        state, ppid, pgid, sid, cmdline, environ = info
        if state == "Z":
            continue
        if needle in environ.split(b"\0") or secs in cmdline:
            found.append((pid, f"pid={pid} ppid={ppid} pgid={pgid} sid={sid} state={state} {cmdline}"))
    return found


def wait_gone(token, secs, limit):
    end = time.monotonic() + limit
    while True:
        left = tagged(token, secs)
        if not left or time.monotonic() >= end:
            return left
        time.sleep(0.05)


def kill_all(procs):
    for pid, _ in procs:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def run(cmd, cwd, env, timeout=CMD_TIMEOUT):
    try:
        return subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(cmd, -999, e.stdout or b"", (e.stderr or b"") + b"\n(timed out)")


def make_repo(base, car, agent, env):
    root = base / "repo"
    root.mkdir()
    run(["git", "init", "-q"], root, env)
    r = run([car, "init"], root, env)
    if r.returncode != 0:
        raise SystemExit(f"car init failed: {r.stderr.decode(errors='replace')}")
    cfg = root / ".codex-autorunner" / "config.yml"
    cfg.write_text(
        "version: 2\nmode: repo\n"
        f"codex:\n  binary: {agent}\n  args: []\n"
        "runner:\n  sleep_seconds: 0\n  kill_grace_seconds: 1\n"
    )
    (root / ".codex-autorunner" / "TODO.md").write_text("- [ ] first\n- [ ] second\n")
    return root


def snapshot_docs(root):
    out = {}
    for d in DOCS:
        p = root / ".codex-autorunner" / d
        out[d] = p.read_bytes() if p.exists() else None
    return out


def check_files(root, trial):
    car_dir = root / ".codex-autorunner"
    state = car_dir / "state.json"
    if state.exists():
        try:
            json.loads(state.read_bytes())
        except ValueError as e:
            trial.corrupt.append(f"{state}: {e}")
    for ledger in sorted(glob.glob(str(car_dir / "events.jsonl*"))):
        if ledger.endswith(".lock"):
            continue
        for n, line in enumerate(Path(ledger).read_bytes().splitlines(), 1):
            if not line.strip():
                continue
            try:
                json.loads(line)
            except ValueError as e:
                trial.corrupt.append(f"{ledger}:{n}: {e}")
    for rec in sorted(glob.glob(str(car_dir / "runs" / "*" / "run.json"))):
        try:
            json.loads(Path(rec).read_bytes())
        except ValueError as e:
            trial.corrupt.append(f"{rec}: {e}")


# The stop each variant must leave recorded (after `car status`).
EXPECTED_STOP = {"sigint3": "interrupted", "kill-frozen": "killed"}


def check_record(root, trial):
    """After the fault and `car status`, no state may claim a live runner,
    and a stop car was asked for must be recorded as such."""
    try:
        state = json.loads((root / ".codex-autorunner" / "state.json").read_bytes())
    except (OSError, ValueError):
        return  # no state yet (car died before its loop), or reported as corrupt
    if state.get("status") in ("running", "waiting_for_quota"):
        trial.record_error = f"state still says {state.get('status')} after `car status`"
    want = EXPECTED_STOP.get(trial.variant)
    if want and state.get("stop_reason") != want:
        trial.record_error = f"stop_reason is {state.get('stop_reason')!r}, expected {want!r}"


def agent_script(trial, root, first=""):
    """The faulty agent: optional first step, then a grandchild, a double
    fork, a setsid daemon, and a long sleep."""
    s = trial.secs
    return (
        first
        + f"write-pid {root}/agent.pid\n"
        + f"spawn-grandchild {root}/grandchild.pid {s}\n"
        + f"sh (sleep {s} &) ; true\n"
        + f"sh setsid sleep {s} </dev/null >/dev/null 2>&1 &\n"
        + f"write {root}/children-started yes\n"
        + "out working\n"
        + f"sleep {s}\n"
    )


def wait_for(path, limit):
    end = time.monotonic() + limit
    while not path.exists():
        if time.monotonic() >= end:
            return False
        time.sleep(0.01)
    return True


def inject(trial, car, root, env, rng):
    """Starts `car run` and injects the trial's fault; returns car's Popen."""
    started = root / "children-started"
    if trial.variant == "agent-kills-car":
        # After exec the shell's pid is car's: the agent learns it from the
        # environment and kills it before anything else.
        cmd = ["sh", "-c", 'FAULTS_CAR_PID=$$ exec "$0" "$@"', car, "run"]
    else:
        cmd = [car, "run"]
    p = subprocess.Popen(cmd, cwd=root, env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if trial.variant == "kill9":
        trial.delay = 0.0 if rng.random() < 0.2 else rng.uniform(0.0, 0.8)
        if trial.delay:
            time.sleep(trial.delay)
        trial.agent_started = (root / "agent.pid").exists()
        p.kill()
    elif trial.variant == "agent-kills-car":
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        # Let an unsupervised agent go on to start its children.
        time.sleep(0.3)
        trial.agent_started = (root / "agent.pid").exists()
    elif trial.variant == "kill-frozen":
        trial.agent_started = wait_for(started, 10)
        os.kill(p.pid, signal.SIGSTOP)
        r = run([car, "kill"], root, env)
        if r.returncode != 0:
            trial.notes.append(f"car kill exited {r.returncode}: {r.stderr.decode(errors='replace').strip()}")
    elif trial.variant == "sigint3":
        trial.agent_started = wait_for(started, 10)
        for _ in range(3):
            try:
                os.kill(p.pid, signal.SIGINT)
            except OSError:
                break
            time.sleep(0.15)
    try:
        p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        trial.notes.append("car did not exit after the fault; killed it")
        p.kill()
        p.wait()
    if trial.variant == "sigint3" and p.returncode != 130:
        trial.notes.append(f"car exited {p.returncode} after three SIGINTs (expected 130)")
    p.stderr.close()
    return p


def one_trial(trial, car, agent, base_env, rng):
    base = Path(tempfile.mkdtemp(prefix=f"car-faults-{trial.index}-"))
    try:
        home = base / "home"
        home.mkdir()
        env = dict(base_env, HOME=str(home), FAULTS_TOKEN=trial.token, **GIT_ENV)
        root = make_repo(base, car, agent, env)
        script = base / "agent-script"
        first = "sh kill -9 $FAULTS_CAR_PID\n" if trial.variant == "agent-kills-car" else ""
        script.write_text(agent_script(trial, root, first))
        env["FAKE_AGENT_SCRIPT"] = str(script)
        before = snapshot_docs(root)

        inject(trial, car, root, env, rng)
        st = run([car, "status"], root, env)
        if st.returncode not in (0, 1):
            trial.notes.append(f"car status exited {st.returncode}: {st.stderr.decode(errors='replace').strip()}")
        left = wait_gone(trial.token, trial.secs, GRACE)
        if left:
            trial.leftovers = [line for _, line in left]
            kill_all(left)
        check_files(root, trial)
        check_record(root, trial)
        after = snapshot_docs(root)
        trial.docs_changed = [d for d in DOCS if before[d] != after[d]]

        # The next car works: a quick agent ticks one item.
        quick = base / "quick-script"
        quick.write_text("check-todo\n")
        env["FAKE_AGENT_SCRIPT"] = str(quick)
        env["FAULTS_TOKEN"] = trial.token + "-resume"
        r = run([car, "resume", "--once"], root, env)
        if r.returncode != 0:
            trial.resume_error = f"exit {r.returncode}: {r.stderr.decode(errors='replace').strip()[-400:]}"
        left = wait_gone(trial.token + "-resume", trial.secs, GRACE)
        if left:
            trial.leftovers += ["(after resume) " + line for _, line in left]
            kill_all(left)
        check_files(root, trial)
    finally:
        # Whatever still carries the token goes before the directory does.
        kill_all(tagged(trial.token, trial.secs))
        shutil.rmtree(base, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--car", required=True)
    ap.add_argument("--agent", required=True, help="the fake-agent binary")
    ap.add_argument("-n", "--trials", type=int, default=100, help="kill9 trials (default 100)")
    ap.add_argument("--variant-trials", type=int, default=5,
                    help="trials of each other variant (default 5; 0 to skip)")
    ap.add_argument("--only", choices=["kill9", "agent-kills-car", "kill-frozen", "sigint3"],
                    help="run only this variant (--trials of it)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="trials run at once (default 2)")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()

    seed = args.seed if args.seed is not None else int(time.time())
    nonce = f"{random.Random(seed).randrange(10000):04d}"
    if args.only:
        plan = [args.only] * args.trials
    else:
        plan = ["kill9"] * args.trials
        for v in ["agent-kills-car", "kill-frozen", "sigint3"]:
            plan += [v] * args.variant_trials
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CAR_")}
    car = os.path.abspath(args.car)
    agent = os.path.abspath(args.agent)

    started = time.monotonic()

    def trial(i, variant):
        t = Trial(i, variant, nonce)
        # Each trial has its own generator: a seed replays every instant,
        # whatever order the trials finish in.
        one_trial(t, car, agent, base_env, random.Random(seed * 100003 + i))
        return t

    trials = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(trial, i, v) for i, v in enumerate(plan, 1)]
        for f in concurrent.futures.as_completed(futures):
            t = f.result()
            trials.append(t)
            mark = "FAIL" if t.failed() else "ok"
            print(f"{t.label()}: {mark}{' (agent had started)' if t.agent_started else ''}", flush=True)
            for n in t.notes:
                print(f"    note: {n}", flush=True)
    trials.sort(key=lambda t: t.index)

    elapsed = time.monotonic() - started
    by_variant = {}
    for t in trials:
        v = by_variant.setdefault(t.variant, {"trials": 0, "left_a_process": 0, "corrupt": 0,
                                               "docs_changed": 0, "stop_not_recorded": 0,
                                               "failed_resumes": 0})
        v["trials"] += 1
        v["left_a_process"] += bool(t.leftovers)
        v["corrupt"] += bool(t.corrupt)
        v["docs_changed"] += bool(t.docs_changed)
        v["stop_not_recorded"] += bool(t.record_error)
        v["failed_resumes"] += bool(t.resume_error)

    print()
    print(f"faults: {len(trials)} trials in {elapsed:.0f}s (seed {seed})")
    for name, v in by_variant.items():
        print(f"  {name:<16} {v['trials']:>4} trials; left a process: {v['left_a_process']}; "
              f"corrupt files: {v['corrupt']}; docs changed: {v['docs_changed']}; "
              f"stop not recorded: {v['stop_not_recorded']}; failed resumes: {v['failed_resumes']}")
    for t in trials:
        if not t.failed():
            continue
        print(f"{t.label()}:")
        for line in t.leftovers:
            print(f"    left running: {line}")
        for c in t.corrupt:
            print(f"    corrupt: {c}")
        for d in t.docs_changed:
            print(f"    doc changed: {d}")
        if t.record_error:
            print(f"    stop not recorded: {t.record_error}")
        if t.resume_error:
            print(f"    resume failed: {t.resume_error}")
    totals = {k: sum(v[k] for v in by_variant.values())
              for k in ["left_a_process", "corrupt", "docs_changed", "stop_not_recorded",
                        "failed_resumes"]}
    print(f"total: {len(trials)} trials; left a process: {totals['left_a_process']}; "
          f"corrupt files: {totals['corrupt']}; docs changed: {totals['docs_changed']}; "
          f"stop not recorded: {totals['stop_not_recorded']}; failed resumes: {totals['failed_resumes']}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "seed": seed, "seconds": round(elapsed, 1), "by_variant": by_variant, "totals": totals,
            "failures": [{"trial": t.index, "variant": t.variant, "delay": t.delay,
                          "leftovers": t.leftovers, "corrupt": t.corrupt,
                          "docs_changed": t.docs_changed, "record_error": t.record_error,
                          "resume_error": t.resume_error}
                         for t in trials if t.failed()],
        }, indent=2) + "\n")
    return 1 if any(t.failed() for t in trials) else 0


if __name__ == "__main__":
    sys.exit(main())
