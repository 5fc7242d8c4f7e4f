//! The environment marker every agent process carries, and the sweeps that
//! use it.
//!
//! Each agent run's processes (its supervisor, the agent, and everything
//! they start, unless it clears its environment) carry
//! `CAR_RUN=<repo id>:<run>:<owner pid>:<owner start>`:
//!
//! * `repo id`: 16 hex digits, the FNV-1a hash of the canonical repository
//!   root (stable for a repository, different between repositories);
//! * `run`: the run id (`12`), or the job's name (`snapshot`, `ingest-spec`);
//! * `owner pid` and `owner start`: the car process that started the run and
//!   its start time in clock ticks since boot (`0` when unknown).
//!
//! A marked process whose owner is gone (the pid is dead, or now belongs to
//! a process with another start time) is a stray: its run can never be
//! recorded or stopped by anyone else, so any later car command of the same
//! repository that reconciles (`status`, `run`, `once`, `resume`, `kill`)
//! kills it. A process whose owner lives is never touched by another car: the
//! owner stops its own run's processes. Nor is the repository's live runner,
//! or anything below it, whatever marker it inherited.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::{process, procfs};

/// The name of the marker variable.
pub const MARKER_VAR: &str = "CAR_RUN";

/// How long a stray supervisor gets to stop its own tree before it and the
/// rest are killed outright.
const SUPERVISOR_PATIENCE: Duration = Duration::from_secs(2);
/// How long the processes killed get to finish exiting (a process with
/// much memory, or on a loaded machine, takes a while to release it).
const EXIT_PATIENCE: Duration = Duration::from_secs(5);
/// Rounds of SIGKILL before giving up on a process that will not die
/// (uninterruptible sleep).
const KILL_ROUNDS: usize = 100;

/// One run's marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunMarker {
    /// The repository's id.
    pub repo: String,
    /// The run id or the job's name.
    pub run: String,
    /// The car process that owns the run.
    pub owner_pid: u32,
    /// Its start time (clock ticks since boot; 0 = unknown).
    pub owner_start: u64,
}

impl RunMarker {
    /// The marker of run `run` of the repository at `root`, owned by this process.
    pub(crate) fn new(root: &Path, run: &str) -> Self {
        let me = std::process::id();
        Self {
            repo: repo_id(root),
            run: run.replace(':', "_"),
            owner_pid: me,
            owner_start: process::start_time(me).unwrap_or(0),
        }
    }

    /// The variable's value.
    pub(crate) fn value(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.repo, self.run, self.owner_pid, self.owner_start
        )
    }

    /// Parses a value; `None` when it is not a marker.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        let mut f = value.split(':');
        let (repo, run, pid, start) = (f.next()?, f.next()?, f.next()?, f.next()?);
        if f.next().is_some() || repo.is_empty() {
            return None;
        }
        Some(Self {
            repo: repo.to_string(),
            run: run.to_string(),
            owner_pid: pid.parse().ok()?,
            owner_start: start.parse().ok()?,
        })
    }

    /// Whether the car process that owns this run is still alive.
    fn owner_alive(&self) -> bool {
        process::same_process(
            self.owner_pid,
            (self.owner_start != 0).then_some(self.owner_start),
        )
    }
}

/// The id of the repository at `root`: FNV-1a 64 of its canonical path.
pub(crate) fn repo_id(root: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let canonical = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in canonical.as_os_str().as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The processes (other than this one) whose marker satisfies `pick`.
fn marked(pick: &dyn Fn(&RunMarker) -> bool) -> Vec<(u32, RunMarker)> {
    let me = std::process::id();
    procfs::pids()
        .into_iter()
        .filter(|&pid| pid != me)
        .filter_map(|pid| {
            let m = RunMarker::parse(&procfs::environ_var(pid, MARKER_VAR)?)?;
            pick(&m).then_some((pid, m))
        })
        .filter(|(pid, _)| procfs::stat(*pid).is_some_and(|s| !s.is_zombie()))
        .collect()
}

/// Kills (SIGKILL) every process carrying exactly `marker`, round after
/// round until none is left. Returns how many were killed.
pub(crate) fn kill_marked(marker: &RunMarker) -> usize {
    kill_rounds(&|m| m == marker)
}

/// Kills the strays of the repository at `root`: marked processes whose
/// owning car process is gone. A stray supervisor first gets SIGTERM and a
/// moment to stop its own tree (it also reaches processes that cleared
/// their environment); whatever is left is killed. Returns how many
/// processes were found.
pub(crate) fn kill_strays(root: &Path) -> usize {
    let repo = repo_id(root);
    let is_stray = |m: &RunMarker| m.repo == repo && !m.owner_alive();
    // Never the live runner or what it started, whatever marker they
    // inherited (a runner started from a shell an agent had opened carries
    // that agent's marker; its owner may be long gone).
    let mut found = marked(&is_stray);
    if !found.is_empty() {
        let spared = protected(root);
        found.retain(|(pid, _)| !spared.contains(pid));
    }
    if found.is_empty() {
        return 0;
    }
    let supervisors: Vec<u32> = found
        .iter()
        .map(|(pid, _)| *pid)
        .filter(|&pid| procfs::arg(pid, 1).as_deref() == Some(crate::supervisor::SUBCOMMAND))
        .collect();
    for &pid in &supervisors {
        process::signal_pid(pid, Signal::SIGTERM);
    }
    let until = Instant::now() + SUPERVISOR_PATIENCE;
    while Instant::now() < until && supervisors.iter().any(|&p| process::is_alive(p)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = kill_rounds_sparing(&is_stray, &|| protected(root));
    tracing::info!(
        found = found.len(),
        killed,
        "stopped agent processes whose car process is gone"
    );
    found.len().max(killed)
}

fn kill_rounds(pick: &dyn Fn(&RunMarker) -> bool) -> usize {
    kill_rounds_sparing(pick, &Vec::new)
}

/// [`kill_rounds`], sparing the pids `spared` returns (asked each round).
fn kill_rounds_sparing(pick: &dyn Fn(&RunMarker) -> bool, spared: &dyn Fn() -> Vec<u32>) -> usize {
    let mut total = 0;
    // Every process signalled, with its start time: a killed process stops
    // showing its environment as soon as it starts to exit, well before it
    // is gone, so the rounds end early; its end is waited for below.
    let mut signalled: Vec<(u32, Option<u64>)> = Vec::new();
    for _ in 0..KILL_ROUNDS {
        let mut found = marked(pick);
        if !found.is_empty() {
            let spared = spared();
            found.retain(|(pid, _)| !spared.contains(pid));
        }
        if found.is_empty() {
            break;
        }
        for (pid, _) in &found {
            let start = procfs::stat(*pid).map(|s| s.start_time);
            process::signal_pid(*pid, Signal::SIGKILL);
            if !signalled.iter().any(|s| s.0 == *pid) {
                signalled.push((*pid, start));
            }
        }
        total += found.len();
        std::thread::sleep(Duration::from_millis(10));
    }
    let until = Instant::now() + EXIT_PATIENCE;
    while Instant::now() < until && signalled.iter().any(|&(pid, start)| exiting(pid, start)) {
        std::thread::sleep(Duration::from_millis(5));
    }
    total
}

/// Whether process `pid` (started at `start`) still exists and is not yet
/// a zombie: killed, but still releasing what it held.
fn exiting(pid: u32, start: Option<u64>) -> bool {
    procfs::stat(pid).is_some_and(|s| !s.is_zombie() && start.is_none_or(|t| t == s.start_time))
}

/// The processes a stray sweep of the repository at `root` never touches:
/// this process, the repository's live runner (the one `state.json` names,
/// when it is that same process, and the run lock's holder), and every
/// process below them.
fn protected(root: &Path) -> Vec<u32> {
    let paths = crate::paths::RepoPaths::new(root);
    let mut roots = vec![std::process::id()];
    if let Ok(loaded) = crate::state::StateStore::new(&paths).load()
        && let Some(pid) = loaded.state.runner_pid
        && process::same_process(pid, loaded.state.runner_pid_start)
    {
        roots.push(pid);
    }
    if let crate::lock::LockStatus::Held(Some(holder)) = crate::lock::probe(&paths)
        && holder.is_alive_here()
    {
        roots.push(holder.pid);
    }
    let mut out = roots.clone();
    for r in roots {
        out.extend(procfs::descendants(r).into_iter().map(|s| s.pid));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_round_trips_and_names_its_repository() {
        let dir = tempfile::tempdir().unwrap();
        let m = RunMarker::new(dir.path(), "7");
        assert_eq!(RunMarker::parse(&m.value()), Some(m.clone()));
        assert_eq!(m.repo.len(), 16);
        assert_ne!(m.repo, repo_id(&dir.path().join("other")));
        assert!(m.owner_alive());
        assert_eq!(RunMarker::parse("abc:1:2"), None);
        assert_eq!(RunMarker::parse(":1:2:3"), None);
    }

    #[test]
    fn a_dead_owner_makes_a_stray() {
        let m = RunMarker {
            repo: "r".into(),
            run: "1".into(),
            owner_pid: std::process::id(),
            owner_start: 1,
        };
        assert!(!m.owner_alive(), "another start time is another process");
    }
}
