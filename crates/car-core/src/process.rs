//! Process helpers: liveness of a pid, signalling a process group.

use crate::procfs;

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

/// Returns whether a process with `pid` exists and is not a zombie.
pub(crate) fn is_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    match signal::kill(Pid::from_raw(raw), None) {
        Ok(()) | Err(Errno::EPERM) => !is_zombie(pid),
        Err(_) => false,
    }
}

/// Returns whether `/proc/<pid>/stat` says the process is a zombie (Linux;
/// elsewhere always false).
fn is_zombie(pid: u32) -> bool {
    procfs::stat(pid).is_some_and(|s| s.is_zombie())
}

/// Returns the start time of `pid` in clock ticks since boot (Linux), used to
/// tell a reused pid from the process that wrote a lock.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    procfs::stat(pid).map(|s| s.start_time)
}

/// Sends `sig` to every process in the group `pgid`. Returns false when the
/// group no longer exists.
pub(crate) fn signal_group(pgid: u32, sig: Signal) -> bool {
    let Ok(raw) = i32::try_from(pgid) else {
        return false;
    };
    raw > 1 && signal::killpg(Pid::from_raw(raw), sig).is_ok()
}

/// Returns whether any live (non-zombie) process of group `pgid` remains.
///
/// Zombies count as gone: a grandchild re-parented to an init that is slow
/// to reap (common in containers) is dead even though `killpg(pgid, 0)`
/// still succeeds for it.
pub(crate) fn group_exists(pgid: u32) -> bool {
    let Ok(raw) = i32::try_from(pgid) else {
        return false;
    };
    if raw <= 1
        || !matches!(
            signal::killpg(Pid::from_raw(raw), None),
            Ok(()) | Err(Errno::EPERM)
        )
    {
        return false;
    }
    if !cfg!(target_os = "linux") {
        return true;
    }
    procfs::all()
        .iter()
        .any(|s| s.pgrp == pgid && !s.is_zombie())
}

/// Returns whether `pid` is alive and, when `start` is known, is the same
/// process that was recorded (its start time matches: the pid was not reused).
pub(crate) fn same_process(pid: u32, start: Option<u64>) -> bool {
    is_alive(pid) && (start.is_none() || start_time(pid) == start)
}

/// Returns whether the process group `pgid` still has live members and is
/// the group that was recorded: if its leader still exists, its start time
/// must match `leader_start`. (A group id cannot be reused while any member
/// lives, so a group whose leader is gone is still the recorded one.)
pub(crate) fn group_is_ours(pgid: u32, leader_start: Option<u64>) -> bool {
    if !group_exists(pgid) {
        return false;
    }
    match (start_time(pgid), leader_start) {
        (Some(now), Some(recorded)) => now == recorded,
        _ => true,
    }
}

/// Sends `sig` to one process. Returns false when it does not exist.
pub(crate) fn signal_pid(pid: u32, sig: Signal) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    raw > 1 && signal::kill(Pid::from_raw(raw), sig).is_ok()
}

/// Returns this machine's host name.
pub(crate) fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Makes this process the reaper of its orphaned descendants (Linux), so a
/// process the agent started in a session or group of its own still ends
/// up as this process's to stop, instead of init's. Only the per-run
/// supervisor calls this: it has no other children to confuse them with.
pub(crate) fn become_subreaper() {
    #[cfg(target_os = "linux")]
    {
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_pid_is_alive_and_has_a_start_time() {
        assert!(is_alive(std::process::id()));
        if cfg!(target_os = "linux") {
            assert!(start_time(std::process::id()).is_some());
        }
        assert!(!is_alive(0));
    }
}
