//! `car remote up|down`, and the tunnel `--machine M` needs.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use car_core::machine::{Machine, TunnelPaths, TunnelState};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::Places;

/// The hidden subcommand of the supervisor.
const SUBCOMMAND: &str = "__tunnel";
/// How long `up` waits for a new tunnel (three first tries of ssh).
const UP_WITHIN: Duration = Duration::from_secs(90);

/// `car remote up NAME`: prints the local URL (the first tunnel event on stderr).
pub(crate) fn up(places: &Places, name: &str) -> Result<u8> {
    let machine = places.machine(name)?;
    if let Some(url) = machine.direct_url() {
        errln!("car: {name} is reached directly (direct_addr): no tunnel");
        outln!("{url}");
        return Ok(crate::EXIT_OK);
    }
    let paths = places.tunnel(name);
    let (state, started) = ensure_tunnel(&paths, &machine)?;
    if started {
        if let Some(line) = open_event(&paths.log, state.supervisor_pid) {
            errln!("{line}");
        }
    } else {
        errln!(
            "car: the tunnel to {name} is up already (supervisor pid {})",
            state.supervisor_pid
        );
    }
    outln!("{}", state.url);
    Ok(crate::EXIT_OK)
}

/// The URL of `machine`'s server: its direct address, or its tunnel's
/// local URL (the tunnel is started when none is up).
pub(crate) fn ensure_up(places: &Places, machine: &Machine) -> Result<String> {
    if let Some(url) = machine.direct_url() {
        return Ok(url);
    }
    let (state, _) = ensure_tunnel(&places.tunnel(&machine.name), machine)?;
    Ok(state.url)
}

/// A live tunnel's state, starting a supervisor when none runs; and
/// whether it was started now.
fn ensure_tunnel(paths: &TunnelPaths, machine: &Machine) -> Result<(TunnelState, bool)> {
    // Two `up`s (or `--machine` commands) at once start one tunnel.
    let _lock = paths.lock_start()?;
    if let Some(st) = paths.read()? {
        if supervisor_runs(st.supervisor_pid) {
            return Ok((wait_open(paths, st.supervisor_pid, machine)?, false));
        }
        clean_up(&st);
        paths.remove()?;
    }
    let program = crate::supervisor_program().context("cannot find the car binary's path")?;
    let pid = car_core::machine::spawn_supervisor(&program, SUBCOMMAND, machine)?;
    Ok((wait_open(paths, pid, machine)?, true))
}

/// Waits until supervisor `pid` records an open tunnel.
fn wait_open(paths: &TunnelPaths, pid: u32, machine: &Machine) -> Result<TunnelState> {
    let deadline = Instant::now() + UP_WITHIN;
    loop {
        if let Some(st) = paths.read()?
            && st.supervisor_pid == pid
            && st.open
        {
            return Ok(st);
        }
        if !alive(pid) {
            let why = last_error(&paths.log).unwrap_or_else(|| "it ended".into());
            return Err(anyhow!(
                "cannot open the tunnel to {} ({}): {why} (try `car remote check {}`; the \
                 tunnel's log: {})",
                machine.name,
                machine.ssh,
                machine.name,
                paths.log.display()
            ));
        }
        if Instant::now() >= deadline {
            return Err(anyhow!(
                "the tunnel to {} is not open after {} s; see {}",
                machine.name,
                UP_WITHIN.as_secs(),
                paths.log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// `car remote down NAME`: ends the supervisor and its ssh.
pub(crate) fn down(places: &Places, name: &str) -> Result<u8> {
    let paths = places.tunnel(name);
    let Some(st) = paths.read()? else {
        outln!("no tunnel to {name}");
        return Ok(crate::EXIT_OK);
    };
    if supervisor_runs(st.supervisor_pid) {
        let pid = Pid::from_raw(st.supervisor_pid as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let until = Instant::now() + Duration::from_secs(5);
        while alive(st.supervisor_pid) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        if alive(st.supervisor_pid) {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
    clean_up(&st);
    paths.remove()?;
    outln!("tunnel to {name} closed");
    Ok(crate::EXIT_OK)
}

/// Kills what a dead (or killed) supervisor left: its ssh.
fn clean_up(st: &TunnelState) {
    if let Some(t) = st.tunnel_pid
        && runs(t, "ssh")
    {
        let _ = kill(Pid::from_raw(t as i32), Signal::SIGKILL);
        let until = Instant::now() + Duration::from_secs(2);
        while alive(t) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn supervisor_runs(pid: u32) -> bool {
    runs(pid, SUBCOMMAND)
}

/// Whether `pid` is alive and (where /proc tells) its command line holds `needle`.
fn runs(pid: u32, needle: &str) -> bool {
    if !alive(pid) {
        return false;
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmd) => String::from_utf8_lossy(&cmd).contains(needle),
        Err(_) => !Path::new("/proc/self").exists(),
    }
}

/// Whether `pid` is a live process (not a zombie).
fn alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    raw > 0
        && kill(Pid::from_raw(raw), None).is_ok()
        && !car_core::procfs::stat(pid).is_some_and(|s| s.is_zombie())
}

/// The log's `open` event of supervisor `pid`.
fn open_event(log: &Path, pid: u32) -> Option<String> {
    events(log)
        .into_iter()
        .find(|v| v["event"] == "open" && v["supervisor_pid"].as_u64() == Some(u64::from(pid)))
        .map(|v| v.to_string())
}

/// The last error the log's events give, with ssh's last message.
fn last_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let said = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with('{'))
        .map(|l| format!(" (ssh: {})", l.trim()));
    events(log)
        .into_iter()
        .rev()
        .find_map(|v| v["error"].as_str().map(str::to_string))
        .map(|e| format!("{e}{}", said.unwrap_or_default()))
}

fn events(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("event").is_some())
        .collect()
}
