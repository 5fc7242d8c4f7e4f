//! `car service status`, `car service install --start` and `car service
//! restart`: what the scheduler says of the installed units, and whether
//! what they run answers — the server's `/health`, the bot's or the
//! ledger publisher's process, the loop's lock — with a warning when the process runs a binary replaced
//! since it started (the upgrade path: replace the binary, then `restart`;
//! the loops a server or bot started are processes of their own and go on).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;
use car_core::Config;
use serde::Serialize;

use super::service_sched::{self, SchedState};
use super::service_units::UnitSpec;
use crate::cli::{InstallKind, ServiceWhat};

/// How long a start or restart may take to answer.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long the bot's (or the ledger publisher's) process must stay up to
/// count as started (a bad token or configuration ends it at once).
const BOT_SETTLE: Duration = Duration::from_secs(2);

/// One installed unit, as the scheduler sees it.
#[derive(Debug, Serialize)]
pub(crate) struct UnitStatus {
    /// `systemd`, `launchd` or `cron`.
    kind: &'static str,
    /// Its file.
    path: PathBuf,
    /// What the scheduler says (`None` when it could not be asked).
    scheduler: Option<SchedState>,
    /// Why the scheduler could not be asked.
    scheduler_error: Option<String>,
    /// Whether its process runs a binary replaced since it started.
    binary_replaced: Option<bool>,
}

/// Whether what the unit runs answers.
#[derive(Debug, Serialize)]
pub(crate) struct Health {
    pub(crate) ok: bool,
    pub(crate) detail: String,
    /// The server's car version (the server only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    what: &'static str,
    root: PathBuf,
    units: Vec<UnitStatus>,
    health: Health,
}

pub(crate) fn kind_name(kind: InstallKind) -> &'static str {
    match kind {
        InstallKind::Systemd => "systemd",
        InstallKind::Launchd => "launchd",
        InstallKind::Cron => "cron",
        InstallKind::Kubernetes => "kubernetes",
    }
}

/// The unit file of `kind` for `spec` (cron: its wrapper).
pub(crate) fn unit_path(kind: InstallKind, spec: &UnitSpec) -> Result<PathBuf> {
    Ok(match kind {
        InstallKind::Systemd => {
            super::service::systemd_dir()?.join(format!("{}.service", spec.name()))
        }
        InstallKind::Launchd => {
            super::service::launchd_dir()?.join(format!("{}.plist", spec.label()))
        }
        _ => spec.wrapper.clone(),
    })
}

/// The scheduler's name of the unit: systemd's unit name, launchd's label.
fn sched_name(kind: InstallKind, spec: &UnitSpec) -> String {
    match kind {
        InstallKind::Launchd => spec.label(),
        _ => spec.name(),
    }
}

/// Whether process `pid` runs a program file replaced (or removed) since it
/// started: Linux marks its `/proc/PID/exe` link ` (deleted)`. `None` where
/// that cannot be told.
fn binary_replaced(pid: u32) -> Option<bool> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    Some(exe.to_string_lossy().ends_with(" (deleted)"))
}

fn unit_status(kind: InstallKind, spec: &UnitSpec) -> Result<UnitStatus> {
    let path = unit_path(kind, spec)?;
    let (scheduler, scheduler_error) = if kind == InstallKind::Cron {
        (None, None)
    } else {
        match service_sched::query(kind, &sched_name(kind, spec)) {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e)),
        }
    };
    let binary_replaced = scheduler
        .as_ref()
        .and_then(|s| s.pid)
        .and_then(binary_replaced);
    Ok(UnitStatus {
        kind: kind_name(kind),
        path,
        scheduler,
        scheduler_error,
        binary_replaced,
    })
}

/// Whether what `spec` runs answers now; `pid` is the unit's process when
/// the scheduler named one.
pub(crate) fn health(cfg: &Config, spec: &UnitSpec, pid: Option<u32>) -> Health {
    match spec.what {
        ServiceWhat::Serve => {
            let (addr, path) = health_addr(cfg);
            match super::machine::probe::health_at(&addr, &path, Duration::from_secs(3)) {
                Ok(h) => {
                    let ours = env!("CARGO_PKG_VERSION");
                    let mut detail = format!(
                        "http://{addr}{path} answers: car {} ({} ms)",
                        h.version,
                        h.latency.as_millis()
                    );
                    if h.version != ours {
                        detail.push_str(&format!(
                            "; this car is {ours}: `car service restart --what serve` runs it"
                        ));
                    }
                    Health {
                        ok: true,
                        detail,
                        version: Some(h.version),
                    }
                }
                Err(e) => Health {
                    ok: false,
                    detail: e,
                    version: None,
                },
            }
        }
        ServiceWhat::Telegram | ServiceWhat::Ledger => match pid {
            Some(p) if alive(p) => Health {
                ok: true,
                detail: format!("the {}'s process runs (pid {p})", spec.what.label()),
                version: None,
            },
            _ => Health {
                ok: false,
                detail: format!(
                    "the {}'s process does not run: see {}",
                    spec.what.label(),
                    spec.logs().display()
                ),
                version: None,
            },
        },
        ServiceWhat::Loop => loop_health(&spec.root),
    }
}

/// The loop's health: whether a runner holds its lock (none between the
/// runs of a periodic unit is no fault).
fn loop_health(root: &Path) -> Health {
    let report = match car_core::Repo::open(root) {
        Ok(repo) => repo.status(),
        Err(e) => Err(e),
    };
    let (ok, detail) = match report {
        Ok(r) if r.running => (true, "a runner holds the loop's lock".to_string()),
        Ok(r) => (
            true,
            format!(
                "no runner now (status {}): the unit starts one when it runs",
                r.state.status.as_str()
            ),
        ),
        Err(e) => (false, e.to_string()),
    };
    Health {
        ok,
        detail,
        version: None,
    }
}

/// Whether process `pid` exists.
fn alive(pid: u32) -> bool {
    i32::try_from(pid)
        .is_ok_and(|p| nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok())
}

/// The server's address (an unspecified host asked on loopback) and the
/// path of its `/health`.
fn health_addr(cfg: &Config) -> (String, String) {
    let s = &cfg.server;
    let host = s.host.trim_start_matches('[').trim_end_matches(']');
    let host = match host {
        "" | "0.0.0.0" => "127.0.0.1".to_string(),
        "::" => "[::1]".to_string(),
        h if h.contains(':') => format!("[{h}]"),
        h => h.to_string(),
    };
    let base = s.base_path.trim_matches('/');
    let path = if base.is_empty() {
        "/health".to_string()
    } else {
        format!("/{base}/health")
    };
    (format!("{host}:{}", s.port), path)
}

/// The kinds installed for `spec` (their unit file exists), or `only`.
fn installed(spec: &UnitSpec, only: Option<InstallKind>) -> Result<Vec<InstallKind>> {
    let mut out = Vec::new();
    for kind in [
        InstallKind::Systemd,
        InstallKind::Launchd,
        InstallKind::Cron,
    ] {
        if only.is_some_and(|o| o != kind) {
            continue;
        }
        if kind == InstallKind::Cron && spec.what.long_running() {
            continue;
        }
        if unit_path(kind, spec)?.exists() {
            out.push(kind);
        }
    }
    Ok(out)
}

/// `car service status`: exit 0 when a unit is installed, its process
/// runs (for the bot and the server) and what it runs answers.
pub(crate) fn status(
    cfg: &Config,
    spec: &UnitSpec,
    only: Option<InstallKind>,
    json: bool,
) -> Result<u8> {
    let kinds = installed(spec, only)?;
    let units = kinds
        .iter()
        .map(|&k| unit_status(k, spec))
        .collect::<Result<Vec<_>>>()?;
    let pid = units
        .iter()
        .find_map(|u| u.scheduler.as_ref().and_then(|s| s.pid));
    let health = health(cfg, spec, pid);
    let running = !spec.what.long_running() || pid.is_some();
    let ok = !units.is_empty() && running && health.ok;
    let report = Report {
        what: spec.what.flag(),
        root: spec.root.clone(),
        units,
        health,
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print(&report, spec);
    }
    Ok(if ok {
        crate::EXIT_OK
    } else {
        crate::EXIT_FAILURE
    })
}

fn print(r: &Report, spec: &UnitSpec) {
    outln!("{} of {}", capital(spec.what.label()), r.root.display());
    if r.units.is_empty() {
        outln!(
            "  no unit installed: `car service install systemd{}` writes one",
            what_flag(spec.what)
        );
    }
    for u in &r.units {
        outln!("  {}: {}", u.kind, u.path.display());
        match (&u.scheduler, &u.scheduler_error) {
            (Some(s), _) => {
                let mut line = format!("    scheduler: {}", s.state);
                if let Some(p) = s.pid {
                    line.push_str(&format!(", pid {p}"));
                }
                if let Some(n) = s.restarts {
                    line.push_str(&format!(", {n} restarts"));
                }
                if let Some(e) = s.last_exit {
                    line.push_str(&format!(", last exit {e}"));
                }
                outln!("{line}");
            }
            (None, Some(e)) => outln!("    scheduler: unknown ({e})"),
            (None, None) => outln!("    scheduler: cron (`crontab -l` lists its line)"),
        }
        if u.binary_replaced == Some(true) {
            outln!(
                "    binary:    replaced since the process started: `car service restart{}` runs the new one",
                what_flag(spec.what)
            );
        }
    }
    let mark = if r.health.ok { "ok" } else { "FAILED" };
    outln!("  health:    {mark}: {}", r.health.detail);
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

pub(crate) fn what_flag(what: ServiceWhat) -> String {
    match what {
        ServiceWhat::Loop => String::new(),
        w => format!(" --what {}", w.flag()),
    }
}

/// Waits until what `spec` runs answers after a start or restart: the
/// scheduler names a process other than `old_pid` (the bot and the
/// server), and the server's `/health` answers (the bot: its process stays
/// up for a moment). The health found, or why not within the time allowed.
pub(crate) fn wait_ready(
    cfg: &Config,
    spec: &UnitSpec,
    kind: InstallKind,
    old_pid: Option<u32>,
) -> std::result::Result<Health, String> {
    let deadline = Instant::now() + READY_WITHIN;
    let name = sched_name(kind, spec);
    let mut last = String::from("no answer yet");
    let mut settled_since: Option<(u32, Instant)> = None;
    while Instant::now() < deadline {
        let sched = service_sched::query(kind, &name)?;
        let pid = sched.pid.filter(|p| Some(*p) != old_pid);
        match (spec.what, pid) {
            (ServiceWhat::Loop, _) => return Ok(health(cfg, spec, pid)),
            (_, None) => last = format!("the scheduler says {}", sched.state),
            (ServiceWhat::Serve, Some(p)) => {
                let h = health(cfg, spec, Some(p));
                if h.ok {
                    return Ok(h);
                }
                last = h.detail;
            }
            (ServiceWhat::Telegram | ServiceWhat::Ledger, Some(p)) => {
                let since = match settled_since {
                    Some((q, t)) if q == p => t,
                    _ => {
                        settled_since = Some((p, Instant::now()));
                        Instant::now()
                    }
                };
                let h = health(cfg, spec, Some(p));
                if h.ok && since.elapsed() >= BOT_SETTLE {
                    return Ok(h);
                }
                last = h.detail;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!(
        "not ready within {} s: {last}; see {}",
        READY_WITHIN.as_secs(),
        spec.logs().display()
    ))
}

/// The pid the scheduler names for the unit now, if any.
pub(crate) fn current_pid(kind: InstallKind, spec: &UnitSpec) -> Option<u32> {
    service_sched::query(kind, &sched_name(kind, spec))
        .ok()
        .and_then(|s| s.pid)
}

/// Starts an installed unit and waits for it to answer (`install --start`).
pub(crate) fn start(
    cfg: &Config,
    spec: &UnitSpec,
    kind: InstallKind,
    unit: &str,
    file: &Path,
) -> Result<u8> {
    service_sched::start(kind, &sched_name(kind, spec), unit, file).map_err(anyhow::Error::msg)?;
    outln!("car: started {unit}");
    ready(cfg, spec, kind, None)
}

/// Restarts the installed units of `spec` (the upgrade path) and waits for
/// each to answer again on a new process.
pub(crate) fn restart(cfg: &Config, spec: &UnitSpec, only: Option<InstallKind>) -> Result<u8> {
    let kinds: Vec<InstallKind> = installed(spec, only)?
        .into_iter()
        .filter(|k| *k != InstallKind::Cron)
        .collect();
    if kinds.is_empty() {
        anyhow::bail!(crate::report::UsageError(format!(
            "no systemd or launchd unit of the {} of {} is installed (`car service install systemd{}`)",
            spec.what.label(),
            spec.root.display(),
            what_flag(spec.what)
        )));
    }
    let mut code = crate::EXIT_OK;
    for kind in kinds {
        let old = current_pid(kind, spec);
        service_sched::restart(kind, &sched_name(kind, spec)).map_err(anyhow::Error::msg)?;
        outln!(
            "car: restarted the {} unit {}",
            kind_name(kind),
            sched_name(kind, spec)
        );
        code = code.max(ready(
            cfg,
            spec,
            kind,
            old.filter(|_| spec.what.long_running()),
        )?);
    }
    Ok(code)
}

fn ready(cfg: &Config, spec: &UnitSpec, kind: InstallKind, old: Option<u32>) -> Result<u8> {
    match wait_ready(cfg, spec, kind, old) {
        Ok(h) => {
            outln!("car: health ok: {}", h.detail);
            Ok(crate::EXIT_OK)
        }
        Err(e) => {
            errln!("car: error: the {} {e}", spec.what.label());
            Ok(crate::EXIT_FAILURE)
        }
    }
}
