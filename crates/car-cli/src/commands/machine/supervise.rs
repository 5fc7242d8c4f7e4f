//! `car __tunnel MACHINE_JSON`: the supervisor of one machine's tunnel.
//!
//! It runs `ssh -N -L 127.0.0.1:LOCAL:127.0.0.1:REMOTE_PORT`, waits until
//! the machine's server answers `/health` through it, records the tunnel in
//! its state file, and when ssh ends (the network dropped, the process was
//! killed) opens it again on the same local port, after a backoff that
//! grows with failures in a row. Its stderr is the tunnel's log file: one
//! JSON line per event (`open`, `dropped`, `failed`, `closed`), and ssh's
//! own messages. SIGTERM (from `car remote down`) ends ssh, then it.
//! A first open that fails three times in a row ends it (`car remote up`
//! reports why); once the tunnel was open it retries for as long as it runs.
//! The log past 1 MiB moves to `NAME.log.1` (replacing the one before) and
//! a new one starts: a tunnel that fails for days fills no disk.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use car_core::machine::{Machine, TunnelPaths, TunnelState};
use car_core::{StopHandle, StopLevel};
use serde_json::json;

use super::{SSH, probe};

/// First opens that may fail before the supervisor gives up.
const FIRST_TRIES: u32 = 3;
/// How long ssh gets to set up the forward and the server to answer.
const OPEN_WITHIN: Duration = Duration::from_secs(20);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The size past which the log moves to `NAME.log.1`.
const LOG_LIMIT: u64 = 1024 * 1024;

/// Runs the supervisor of the machine in `spec` (JSON); returns when asked
/// to stop, or when the first open fails.
pub(crate) fn supervise(spec: &str) -> Result<u8> {
    let machine: Machine = serde_json::from_str(spec).context("__tunnel: not a machine")?;
    let paths = TunnelPaths::new(&super::tunnels_dir()?, &machine.name);
    if let Some(dir) = paths.log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let log = std::fs::File::create(&paths.log)
        .with_context(|| format!("cannot write {}", paths.log.display()))?;
    // From here on stderr is the log: the events, and ssh's messages.
    nix::unistd::dup2_stderr(&log).context("cannot make the log file stderr")?;
    let stop = StopHandle::new();
    let _routed = crate::signals::route_to_shutdown(stop.clone());
    let stopping = || stop.current().level != StopLevel::None;
    let mut sup = Supervisor {
        machine,
        paths,
        local_port: probe::free_port().context("cannot find a free local port")?,
        retry_count: 0,
    };
    let result = sup.run(&stopping);
    let _ = sup.paths.remove();
    sup.event(
        "closed",
        None,
        None,
        result.as_ref().err().map(String::as_str),
    );
    Ok(if result.is_ok() {
        crate::EXIT_OK
    } else {
        crate::EXIT_FAILURE
    })
}

struct Supervisor {
    machine: Machine,
    paths: TunnelPaths,
    local_port: u16,
    retry_count: u64,
}

impl Supervisor {
    fn url(&self) -> String {
        self.machine
            .url_at(&format!("127.0.0.1:{}", self.local_port))
    }

    /// Opens the tunnel again and again until `stopping`.
    fn run(&mut self, stopping: &dyn Fn() -> bool) -> Result<(), String> {
        let mut failures: u32 = 0;
        let mut was_open = false;
        loop {
            if stopping() {
                return Ok(());
            }
            let mut child = self.spawn_ssh()?;
            let pid = child.id();
            let addr = format!("127.0.0.1:{}", self.local_port);
            let health = self.machine.health_path();
            let opened = probe::wait_healthy(&addr, &health, OPEN_WITHIN, || {
                if stopping() {
                    return Some("stopping".into());
                }
                match child.try_wait() {
                    Ok(Some(st)) => Some(format!("ssh ended ({st}) before the tunnel answered")),
                    _ => None,
                }
            });
            match opened {
                Ok(h) => {
                    failures = 0;
                    was_open = true;
                    // The event first: `up` prints it once the state says open.
                    let latency = u64::try_from(h.latency.as_millis()).unwrap_or(u64::MAX);
                    self.event("open", Some(pid), Some(latency), None);
                    self.record(Some(pid), true);
                    let ended = wait_end(&mut child, stopping);
                    if stopping() {
                        return Ok(());
                    }
                    self.record(None, false);
                    self.event("dropped", Some(pid), None, Some(&ended));
                }
                Err(why) => {
                    end(&mut child);
                    if stopping() {
                        return Ok(());
                    }
                    failures += 1;
                    self.record(None, false);
                    self.event("failed", Some(pid), None, Some(&why));
                    if !was_open && failures >= FIRST_TRIES {
                        return Err(why);
                    }
                }
            }
            self.retry_count += 1;
            let backoff = if failures == 0 {
                Duration::from_millis(100)
            } else {
                (Duration::from_millis(250) * 2u32.saturating_pow(failures - 1)).min(MAX_BACKOFF)
            };
            let until = Instant::now() + backoff;
            while Instant::now() < until && !stopping() {
                std::thread::sleep(Duration::from_millis(25));
            }
        }
    }

    fn spawn_ssh(&self) -> Result<Child, String> {
        Command::new(SSH)
            .args(self.machine.forward_args(self.local_port))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {SSH}: {e}"))
    }

    fn record(&self, tunnel_pid: Option<u32>, open: bool) {
        let state = TunnelState {
            machine: self.machine.name.clone(),
            local_port: self.local_port,
            url: self.url(),
            supervisor_pid: std::process::id(),
            tunnel_pid,
            open,
            retry_count: self.retry_count,
            updated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        if let Err(e) = self.paths.write(&state) {
            errln!("car: cannot record the tunnel: {e}");
        }
    }

    /// One JSON line on stderr (the log).
    fn event(
        &self,
        what: &str,
        tunnel_pid: Option<u32>,
        latency_ms: Option<u64>,
        error: Option<&str>,
    ) {
        let mut line = json!({
            "ts": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "event": what,
            "machine": self.machine.name,
            "local_port": self.local_port,
            "url": self.url(),
            "tunnel_pid": tunnel_pid,
            "supervisor_pid": std::process::id(),
            "health_latency_ms": latency_ms,
            "retry_count": self.retry_count,
        });
        if let Some(e) = error {
            line["error"] = e.into();
        }
        match rotated(&self.paths.log, LOG_LIMIT) {
            Ok(Some(log)) => {
                // ssh started from now on writes there too (it inherits stderr).
                let _ = nix::unistd::dup2_stderr(&log);
            }
            Ok(None) => {}
            Err(e) => errln!("car: cannot rotate {}: {e}", self.paths.log.display()),
        }
        errln!("{line}");
    }
}

/// When the log at `path` is past `limit` bytes: moves it to `PATH.1`
/// (replacing the one before) and returns a new, empty log in its place.
fn rotated(path: &std::path::Path, limit: u64) -> std::io::Result<Option<std::fs::File>> {
    if std::fs::metadata(path).map_or(0, |m| m.len()) <= limit {
        return Ok(None);
    }
    let mut old = path.as_os_str().to_owned();
    old.push(".1");
    std::fs::rename(path, &old)?;
    std::fs::File::create(path).map(Some)
}

/// Waits until ssh ends (returns how) or `stopping`.
fn wait_end(child: &mut Child, stopping: &dyn Fn() -> bool) -> String {
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return format!("ssh ended ({st})"),
            Ok(None) if stopping() => {
                end(child);
                return "stopped".into();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(25)),
            Err(e) => {
                end(child);
                return format!("cannot wait for ssh: {e}");
            }
        }
    }
}

/// Ends ssh: SIGTERM, then SIGKILL after a second; reaps it.
fn end(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::rotated;

    #[test]
    fn a_log_past_its_limit_moves_aside_and_starts_again() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("gpu.log");
        std::fs::write(&log, "0123456789").unwrap();
        assert!(rotated(&log, 10).unwrap().is_none(), "at the limit: kept");
        std::fs::write(dir.path().join("gpu.log.1"), "older").unwrap();
        std::fs::write(&log, "0123456789A").unwrap();
        let new = rotated(&log, 10).unwrap().expect("rotated");
        drop(new);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("gpu.log.1")).unwrap(),
            "0123456789A"
        );
    }
}
