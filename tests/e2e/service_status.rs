//! `car service install --start`, `status` and `restart` with the server's
//! unit under a stand-in for launchd (a `launchctl` on PATH that starts the
//! unit's wrapper as launchd does and answers `list` as it does): the
//! health check after install, the status of a running unit, and the
//! upgrade path — the binary replaced, status telling so, a restart onto
//! the new binary while a loop the server started goes on and completes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::common::{FAKE_AGENT, Run, TestEnv, alive};
use crate::remote_local::{KillOnDrop, json};

/// launchd as far as car uses it: `bootstrap` starts the wrapper named in
/// the plist, `bootout` stops it, `kickstart -k` restarts it, `list` tells
/// its pid. A zombie counts as gone.
const FAKE_LAUNCHCTL: &str = r#"#!/bin/sh
state="$FAKE_LAUNCHD_STATE"; mkdir -p "$state"
alive() { [ -e "/proc/$1" ] && ! grep -q ') Z ' "/proc/$1/stat"; }
start() { setsid "$(cat "$state/$1.wrapper")" </dev/null >/dev/null 2>&1 & echo $! > "$state/$1.pid"; }
cmd="$1"; shift
echo "$cmd $*" >> "$state/calls"
case "$cmd" in
  bootstrap)
    label=$(basename "$2" .plist)
    sed -n 's:.*<string>\(.*\.sh\)</string>.*:\1:p' "$2" | head -n1 > "$state/$label.wrapper"
    start "$label" ;;
  bootout)
    label="${1##*/}"; [ -f "$state/$label.pid" ] || exit 3
    kill "$(cat "$state/$label.pid")" 2>/dev/null; rm -f "$state/$label.pid" ;;
  kickstart)
    label="${2##*/}"; pid=$(cat "$state/$label.pid")
    kill "$pid"; while alive "$pid"; do sleep 0.05; done
    start "$label" ;;
  list)
    [ -f "$state/$1.wrapper" ] || { echo "Could not find service \"$1\" in domain for port" >&2; exit 113; }
    printf '{\n'; pid=$(cat "$state/$1.pid" 2>/dev/null)
    if [ -n "$pid" ] && alive "$pid"; then printf '\t"PID" = %s;\n' "$pid"; fi
    printf '\t"LastExitStatus" = 0;\n\t"Label" = "%s";\n};\n' "$1" ;;
  *) echo "fake launchctl: $cmd" >&2; exit 64 ;;
esac
"#;

/// systemd's user manager as far as car uses it: `enable --now` and
/// `restart` start the unit's ExecStart in its WorkingDirectory with its
/// EnvironmentFile, `show` tells the state and the main pid.
const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
[ "$1" = "--user" ] && shift
state="$FAKE_SYSTEMD_STATE"; mkdir -p "$state"
units="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"
alive() { [ -e "/proc/$1" ] && ! grep -q ') Z ' "/proc/$1/stat"; }
start() {
  f="$units/$1"; [ -f "$f" ] || { echo "Unit $1 not found." >&2; exit 5; }
  envf=$(sed -n 's/^EnvironmentFile=//p' "$f"); wd=$(sed -n 's/^WorkingDirectory=//p' "$f")
  exe=$(sed -n 's/^ExecStart=//p' "$f")
  (cd "$wd" && set -a && . "$envf" && set +a && exec setsid sh -c "exec $exe") </dev/null >/dev/null 2>&1 &
  echo $! > "$state/$1.pid"; echo 0 > "$state/$1.restarts"
}
echo "$*" >> "$state/calls"
case "$1" in
  daemon-reload) ;;
  enable) [ "$2" = "--now" ] && start "$3" ;;
  restart)
    pid=$(cat "$state/$2.pid"); kill "$pid"; while alive "$pid"; do sleep 0.05; done
    start "$2" ;;
  show)
    pid=$(cat "$state/$2.pid" 2>/dev/null)
    if [ -n "$pid" ] && alive "$pid"; then
      printf 'MainPID=%s\nActiveState=active\nSubState=running\nNRestarts=0\n' "$pid"
    else
      printf 'MainPID=0\nActiveState=inactive\nSubState=dead\nNRestarts=0\n'
    fi ;;
  *) echo "fake systemctl: $*" >&2; exit 64 ;;
esac
"#;

struct Launchd {
    state: PathBuf,
}

impl Drop for Launchd {
    /// Stops what the test left running.
    fn drop(&mut self) {
        for e in std::fs::read_dir(&self.state)
            .into_iter()
            .flatten()
            .flatten()
        {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "pid")
                && let Ok(t) = std::fs::read_to_string(&p)
            {
                let _ = Command::new("kill").arg(t.trim()).status();
            }
        }
    }
}

/// A copy of car in `home/bin` (the binary the unit runs, replaced by the
/// upgrade), the fake launchctl before it on PATH.
fn setup(env: &TestEnv) -> (PathBuf, Launchd, String) {
    let bin = env.home.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let car = bin.join("car");
    std::fs::copy(crate::common::CAR, &car).unwrap();
    for (name, text) in [("launchctl", FAKE_LAUNCHCTL), ("systemctl", FAKE_SYSTEMCTL)] {
        let p = bin.join(name);
        std::fs::write(&p, text).unwrap();
        make_executable(&p);
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let state = env.home.join("launchd-state");
    (car, Launchd { state }, path)
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn car(env: &TestEnv, car: &Path, path: &str, state: &Path, args: &[&str]) -> Run {
    let mut c = env.car_at(car, args);
    c.env("PATH", path)
        .env("FAKE_LAUNCHD_STATE", state)
        .env("FAKE_SYSTEMD_STATE", state);
    Run(c.output().unwrap())
}

fn status(env: &TestEnv, bin: &Path, path: &str, state: &Path) -> (i32, Value) {
    status_of(env, bin, path, state, "launchd")
}

/// `car service status KIND --what serve --json`: its exit code and report.
fn status_of(env: &TestEnv, bin: &Path, path: &str, state: &Path, kind: &str) -> (i32, Value) {
    let run = car(
        env,
        bin,
        path,
        state,
        &["service", "status", kind, "--what", "serve", "--json"],
    );
    (run.code(), json(&run.stdout()))
}

#[test]
fn install_start_checks_health_and_restart_upgrades_the_server_while_its_loop_goes_on() {
    let env = TestEnv::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    // The agent finds its script without the test's environment (the
    // server's comes from the unit's environment file alone).
    let agent = env.home.join("agent.sh");
    std::fs::write(
        &agent,
        format!(
            "#!/bin/sh\nFAKE_AGENT_SCRIPT='{}' exec '{FAKE_AGENT}' \"$@\"\n",
            env.script.display()
        ),
    )
    .unwrap();
    make_executable(&agent);
    env.config(&format!(
        "server:\n  port: {port}\ncodex:\n  binary: {}\n",
        agent.display()
    ));
    env.todo("- [ ] a\n");
    env.script(
        "out one\nwait-file go 120\ncheck-todo\n---\nwrite .codex-autorunner/SUMMARY.md done\n",
    );
    let (bin, launchd, path) = setup(&env);
    let state = launchd.state.clone();

    // Nothing installed: status says so, exit 1.
    let (code, s) = status(&env, &bin, &path, &state);
    assert_eq!(code, 1, "{s}");
    assert_eq!(s["units"], Value::Array(vec![]), "{s}");

    let run = car(
        &env,
        &bin,
        &path,
        &state,
        &[
            "service", "install", "launchd", "--what", "serve", "--start",
        ],
    );
    run.expect_code(0);
    assert!(
        run.stdout().contains("car: health ok: http://127.0.0.1:")
            && run.stdout().contains("/health answers: car "),
        "{}",
        run.stdout()
    );
    let (code, s) = status(&env, &bin, &path, &state);
    assert_eq!(code, 0, "{s}");
    let unit = &s["units"][0];
    assert_eq!(
        (
            &unit["kind"],
            &unit["scheduler"]["state"],
            &unit["binary_replaced"]
        ),
        (&"launchd".into(), &"running".into(), &false.into()),
        "{s}"
    );
    let first = unit["scheduler"]["pid"].as_i64().unwrap() as i32;
    assert_eq!(s["health"]["ok"], true, "{s}");

    // A loop started through the server: a process of its own.
    let url = format!("http://127.0.0.1:{port}/");
    // (`run` follows the loop to its end: it stays in the background.)
    let _follower = KillOnDrop(
        env.car_at(&bin, &["--server", &url, "run"])
            .env("PATH", &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    env.wait_for("the agent's first run", Duration::from_secs(30), || {
        std::fs::read_to_string(env.path(".codex-autorunner/runs/1/output.log"))
            .is_ok_and(|t| t.contains("one"))
    });
    let report = json(&env.run(&["status", "--json"]).stdout());
    let runner = report["lock_holder"]["pid"].as_i64().unwrap() as i32;

    // The upgrade: a new binary renamed over the old one, as installers do.
    let new = bin.with_file_name("car.new");
    std::fs::copy(crate::common::CAR, &new).unwrap();
    std::fs::rename(&new, &bin).unwrap();
    let text = car(
        &env,
        &bin,
        &path,
        &state,
        &["service", "status", "--what", "serve"],
    );
    assert!(
        text.stdout().contains("replaced since the process started"),
        "{}",
        text.stdout()
    );
    assert_eq!(
        status(&env, &bin, &path, &state).1["units"][0]["binary_replaced"],
        true
    );

    let run = car(
        &env,
        &bin,
        &path,
        &state,
        &["service", "restart", "--what", "serve"],
    );
    run.expect_code(0);
    assert!(run.stdout().contains("car: health ok:"), "{}", run.stdout());
    let (code, s) = status(&env, &bin, &path, &state);
    assert_eq!(code, 0, "{s}");
    let second = s["units"][0]["scheduler"]["pid"].as_i64().unwrap() as i32;
    assert_ne!(second, first, "the server was not restarted");
    assert!(!alive(first), "the old server runs on");
    assert_eq!(s["units"][0]["binary_replaced"], false, "{s}");

    // The loop went on through the restart, and completes.
    assert!(alive(runner), "the loop ended with its server");
    std::fs::write(env.path("go"), "").unwrap();
    env.wait_for("the loop to complete", Duration::from_secs(60), || {
        !alive(runner)
    });
    let report = json(&env.run(&["status", "--json"]).stdout());
    assert_eq!(report["state"]["stop_reason"], "completed", "{report}");
    drop(launchd);
}

#[test]
fn under_systemd_install_start_waits_for_health_and_restart_gives_a_new_process() {
    let env = TestEnv::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    env.config(&format!("server:\n  port: {port}\n  base_path: /car\n"));
    let (bin, launchd, path) = setup(&env);
    let state = launchd.state.clone();
    let run = car(
        &env,
        &bin,
        &path,
        &state,
        &[
            "service", "install", "systemd", "--what", "serve", "--start",
        ],
    );
    run.expect_code(0);
    assert!(
        run.stdout().contains(&format!(
            "car: health ok: http://127.0.0.1:{port}/car/health answers"
        )),
        "{}",
        run.stdout()
    );
    let calls = std::fs::read_to_string(state.join("calls")).unwrap();
    assert!(
        calls.starts_with("daemon-reload\nenable --now car-serve-repo-"),
        "{calls}"
    );
    let text = car(
        &env,
        &bin,
        &path,
        &state,
        &["service", "status", "systemd", "--what", "serve"],
    );
    text.expect_code(0);
    assert!(
        text.stdout().contains("scheduler: active/running, pid ")
            && text.stdout().contains("health:    ok: "),
        "{}",
        text.stdout()
    );
    let (_, s) = status_of(&env, &bin, &path, &state, "systemd");
    let first = s["units"][0]["scheduler"]["pid"].as_i64().unwrap() as i32;

    car(
        &env,
        &bin,
        &path,
        &state,
        &["service", "restart", "--what", "serve"],
    )
    .expect_code(0);
    let (code, s) = status_of(&env, &bin, &path, &state, "systemd");
    assert_eq!(code, 0, "{s}");
    let second = s["units"][0]["scheduler"]["pid"].as_i64().unwrap() as i32;
    assert!(second != first && !alive(first), "{first} -> {second}");

    // The server gone (killed outside systemd): status says so, exit 1.
    let _ = Command::new("kill").arg(second.to_string()).status();
    env.wait_for("the server to end", Duration::from_secs(10), || {
        !alive(second)
    });
    let (code, s) = status_of(&env, &bin, &path, &state, "systemd");
    assert_eq!(
        (
            code,
            &s["units"][0]["scheduler"]["state"],
            &s["health"]["ok"]
        ),
        (1, &"inactive/dead".into(), &false.into()),
        "{s}"
    );
}
