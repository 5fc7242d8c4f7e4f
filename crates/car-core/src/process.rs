//! Process helpers: liveness of a pid, signalling a process group.

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
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // The state follows the command name, which is in parentheses
            // and may itself contain spaces or parentheses.
            let after = &s[s.rfind(')')? + 1..];
            after.split_whitespace().next().map(|st| st == "Z")
        })
        .unwrap_or(false)
}

/// Returns the start time of `pid` in clock ticks since boot (Linux), used to
/// tell a reused pid from the process that wrote a lock.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &s[s.rfind(')')? + 1..];
    // Field 22 overall is starttime; after the name, the state is field 3,
    // so starttime is the 20th whitespace-separated field here.
    after.split_whitespace().nth(19)?.parse().ok()
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
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    entries.filter_map(Result::ok).any(|e| {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            return false;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        let Some(close) = stat.rfind(')') else {
            return false;
        };
        let mut fields = stat[close + 1..].split_whitespace();
        let state = fields.next();
        let _ppid = fields.next();
        let pgrp = fields.next().and_then(|p| p.parse::<u32>().ok());
        pgrp == Some(pgid) && state != Some("Z")
    })
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
/// up as car's to stop, instead of init's.
pub(crate) fn become_subreaper() {
    #[cfg(target_os = "linux")]
    {
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
}

/// Kills and reaps the descendants that were re-parented to this process
/// and live outside its own process group: what an agent left running in a
/// session or group of its own (`setsid cmd &`). Returns how many.
pub(crate) fn reap_orphans() -> usize {
    if !cfg!(target_os = "linux") {
        return 0;
    }
    let me = std::process::id();
    let my_group = u32::try_from(nix::unistd::getpgrp().as_raw()).unwrap_or(0);
    let mut total = 0;
    // Killing an orphan re-parents its own children to us: a few rounds.
    for _ in 0..5 {
        let orphans: Vec<u32> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| {
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    return false;
                };
                let Some(close) = stat.rfind(')') else {
                    return false;
                };
                let mut f = stat[close + 1..].split_whitespace();
                let _state = f.next();
                let ppid = f.next().and_then(|p| p.parse::<u32>().ok());
                let pgrp = f.next().and_then(|p| p.parse::<u32>().ok());
                ppid == Some(me) && pgrp != Some(my_group)
            })
            .collect();
        if orphans.is_empty() {
            break;
        }
        for pid in &orphans {
            if let Ok(raw) = i32::try_from(*pid) {
                let _ = signal::kill(Pid::from_raw(raw), Signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(Pid::from_raw(raw), None);
            }
        }
        total += orphans.len();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    total
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
