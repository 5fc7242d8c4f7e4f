//! Asking the scheduler about an installed unit, and telling it to start
//! or restart one: `systemctl --user` for systemd, `launchctl` for launchd.
//! car never talks to them but through these commands, so what it reports
//! is what they say.

use std::path::Path;
use std::process::Command;

use crate::cli::InstallKind;

/// What the scheduler says of a unit.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct SchedState {
    /// systemd's `ActiveState/SubState` (`active/running`, `failed/failed`,
    /// `inactive/dead`...), or launchd's `running` / `loaded` / `not loaded`.
    pub(crate) state: String,
    /// The main process, when one runs.
    pub(crate) pid: Option<u32>,
    /// How often systemd restarted it (systemd only).
    pub(crate) restarts: Option<u32>,
    /// The exit status of its last run (launchd only).
    pub(crate) last_exit: Option<i32>,
}

/// The scheduler's program for `kind`.
fn program(kind: InstallKind) -> &'static str {
    match kind {
        InstallKind::Launchd => "launchctl",
        _ => "systemctl",
    }
}

/// Runs the scheduler's `args`; its stdout, or a sentence saying why not.
fn call(kind: InstallKind, args: &[&str]) -> Result<String, String> {
    let prog = program(kind);
    let mut cmd = Command::new(prog);
    if kind == InstallKind::Systemd {
        cmd.arg("--user");
    }
    let out = cmd.args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("{prog} is not on PATH: this system has no {kind:?} to ask")
        } else {
            format!("cannot run {prog}: {e}")
        }
    })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let shown = if kind == InstallKind::Systemd {
        format!("systemctl --user {}", args.join(" "))
    } else {
        format!("launchctl {}", args.join(" "))
    };
    Err(format!(
        "`{shown}` failed ({}): {}",
        out.status,
        err.trim().lines().last().unwrap_or("no message")
    ))
}

/// The user's id, for launchd's `gui/UID` domain.
fn uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// What the scheduler says of unit `name` (systemd: `NAME.service`;
/// launchd: the label).
pub(crate) fn query(kind: InstallKind, name: &str) -> Result<SchedState, String> {
    match kind {
        InstallKind::Systemd => {
            let out = call(
                kind,
                &[
                    "show",
                    &format!("{name}.service"),
                    "--property=ActiveState,SubState,MainPID,NRestarts",
                ],
            )?;
            Ok(parse_systemd_show(&out))
        }
        InstallKind::Launchd => match call(kind, &["list", name]) {
            Ok(out) => Ok(parse_launchctl_list(&out)),
            // `launchctl list LABEL` fails for a label not loaded.
            Err(e) if e.contains("failed") => Ok(SchedState {
                state: "not loaded".into(),
                ..SchedState::default()
            }),
            Err(e) => Err(e),
        },
        other => Err(format!("{other:?} keeps no state car can ask")),
    }
}

/// Loads and starts an installed unit: systemd `daemon-reload` then
/// `enable --now` (the timer of a periodic loop); launchd `bootstrap` of
/// the plist (after a `bootout` of what was loaded before).
pub(crate) fn start(kind: InstallKind, name: &str, unit: &str, plist: &Path) -> Result<(), String> {
    match kind {
        InstallKind::Systemd => {
            call(kind, &["daemon-reload"])?;
            call(kind, &["enable", "--now", unit]).map(drop)
        }
        InstallKind::Launchd => {
            let domain = format!("gui/{}", uid());
            let _ = call(kind, &["bootout", &format!("{domain}/{name}")]);
            call(kind, &["bootstrap", &domain, &plist.display().to_string()]).map(drop)
        }
        other => Err(format!("{other:?} units are not started by car")),
    }
}

/// Restarts a loaded unit's process (what an upgrade needs after the
/// binary was replaced): systemd `restart`, launchd `kickstart -k`.
pub(crate) fn restart(kind: InstallKind, name: &str) -> Result<(), String> {
    match kind {
        InstallKind::Systemd => {
            call(kind, &["daemon-reload"])?;
            call(kind, &["restart", &format!("{name}.service")]).map(drop)
        }
        InstallKind::Launchd => {
            call(kind, &["kickstart", "-k", &format!("gui/{}/{name}", uid())]).map(drop)
        }
        other => Err(format!("{other:?} units are not restarted by car")),
    }
}

/// `systemctl show --property=...` output: `Key=Value` lines.
fn parse_systemd_show(out: &str) -> SchedState {
    let mut st = SchedState::default();
    let (mut active, mut sub) = (String::new(), String::new());
    for line in out.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k {
            "ActiveState" => active = v.to_string(),
            "SubState" => sub = v.to_string(),
            "MainPID" => st.pid = v.parse().ok().filter(|&p: &u32| p > 0),
            "NRestarts" => st.restarts = v.parse().ok(),
            _ => {}
        }
    }
    st.state = match (active.is_empty(), sub.is_empty()) {
        (true, _) => "unknown".into(),
        (false, true) => active,
        (false, false) => format!("{active}/{sub}"),
    };
    st
}

/// `launchctl list LABEL` output: a dictionary with `"PID" = 123;` while
/// it runs and `"LastExitStatus" = 0;`.
fn parse_launchctl_list(out: &str) -> SchedState {
    let field = |key: &str| {
        out.lines().find_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix(&format!("\"{key}\" = "))?;
            rest.trim_end_matches(';').trim().parse::<i64>().ok()
        })
    };
    let pid = field("PID").and_then(|p| u32::try_from(p).ok());
    SchedState {
        state: if pid.is_some() { "running" } else { "loaded" }.into(),
        pid,
        restarts: None,
        last_exit: field("LastExitStatus").and_then(|s| i32::try_from(s).ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_show_gives_state_pid_and_restarts() {
        let st =
            parse_systemd_show("ActiveState=active\nSubState=running\nMainPID=4242\nNRestarts=2\n");
        assert_eq!(
            st,
            SchedState {
                state: "active/running".into(),
                pid: Some(4242),
                restarts: Some(2),
                last_exit: None
            }
        );
        let dead = parse_systemd_show("ActiveState=inactive\nSubState=dead\nMainPID=0\n");
        assert_eq!((dead.state.as_str(), dead.pid), ("inactive/dead", None));
    }

    #[test]
    fn launchctl_list_gives_pid_and_last_exit() {
        let out = "{\n\t\"LimitLoadToSessionType\" = \"Aqua\";\n\t\"Label\" = \"com.codex-autorunner.car-serve-x\";\n\t\"LastExitStatus\" = 256;\n\t\"PID\" = 913;\n};\n";
        let st = parse_launchctl_list(out);
        assert_eq!(
            (st.state.as_str(), st.pid, st.last_exit),
            ("running", Some(913), Some(256))
        );
        let idle = parse_launchctl_list("{\n\t\"LastExitStatus\" = 0;\n};\n");
        assert_eq!((idle.state.as_str(), idle.pid), ("loaded", None));
    }
}
