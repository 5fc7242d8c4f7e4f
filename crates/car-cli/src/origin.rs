//! Who started this runner: a systemd unit, a launchd job, cron, or a
//! terminal. Recorded in the state so `car status` can say it.

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
    let tty = std::fs::read_link("/proc/self/fd/0")
        .ok()
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
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
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
        if let Ok(comm) = std::fs::read_to_string(format!("/proc/{ppid}/comm")) {
            out.push(comm.trim().to_string());
        }
        pid = ppid;
    }
    out
}

fn parent_pid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
