//! What started this process: a systemd unit, a launchd job, cron, or a
//! terminal. Recorded as the runner's origin and as the origin of a request
//! made from this process, so `car status` can say it.

use crate::procfs;

/// Describes what started this process, from its environment and parents.
pub(crate) fn started_by() -> String {
    if std::env::var_os("INVOCATION_ID").is_some()
        && let Some(unit) = systemd_unit()
    {
        return format!("systemd unit {unit}");
    }
    if let Ok(job) = std::env::var("XPC_SERVICE_NAME")
        && !job.is_empty()
        && job != "0"
    {
        return format!("launchd job {job}");
    }
    let parents = parent_commands();
    if parents.iter().any(|c| c == "cron" || c == "crond") {
        return "cron".to_string();
    }
    let tty = procfs::stdin_target()
        .map(|p| p.display().to_string())
        .filter(|p| p.starts_with("/dev/pts") || p.starts_with("/dev/tty"));
    match (tty, parents.first()) {
        (Some(t), Some(p)) => format!("{p} on {t}"),
        (Some(t), None) => format!("terminal {t}"),
        (None, Some(p)) => format!("{p} (pid {})", parent_pid(std::process::id()).unwrap_or(0)),
        (None, None) => "unknown".to_string(),
    }
}

/// The systemd unit of this process, from its cgroup (Linux).
fn systemd_unit() -> Option<String> {
    unit_of_cgroup(&procfs::self_cgroup()?)
}

/// The last `.service` or `.scope` name of a `/proc/<pid>/cgroup` text.
fn unit_of_cgroup(cgroup: &str) -> Option<String> {
    cgroup
        .lines()
        .filter_map(|l| l.rsplit('/').next())
        .find(|n| n.ends_with(".service") || n.ends_with(".scope"))
        .map(str::to_string)
}

/// Command names of the parent and grandparent (Linux).
fn parent_commands() -> Vec<String> {
    let mut out = Vec::new();
    let mut pid = std::process::id();
    for _ in 0..2 {
        let Some(ppid) = parent_pid(pid) else { break };
        if ppid <= 1 {
            break;
        }
        if let Some(comm) = procfs::comm(ppid) {
            out.push(comm);
        }
        pid = ppid;
    }
    out
}

fn parent_pid(pid: u32) -> Option<u32> {
    procfs::stat(pid).map(|s| s.ppid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_is_the_last_service_or_scope_of_the_cgroup() {
        let cgroup = "0::/system.slice/car-web.service\n";
        assert_eq!(unit_of_cgroup(cgroup).as_deref(), Some("car-web.service"));
        let user = "0::/user.slice/user-1000.slice/session-4.scope\n";
        assert_eq!(unit_of_cgroup(user).as_deref(), Some("session-4.scope"));
        assert_eq!(unit_of_cgroup("0::/\n"), None);
    }

    #[test]
    fn this_process_has_an_origin() {
        assert!(!started_by().is_empty());
        if cfg!(target_os = "linux") {
            assert!(parent_pid(std::process::id()).is_some());
        }
    }
}
