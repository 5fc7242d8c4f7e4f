//! The other machines in `car hub status`: each configured machine's
//! server asked for its repositories (through the tunnel `car remote up`
//! keeps open, or at its `direct_addr`; none is opened here), all at once,
//! each within 3 s. Their repositories are listed after the local ones,
//! their ids prefixed `NAME:`; a machine whose list cannot be read is one
//! entry with its error.

use std::path::{Path, PathBuf};

use car_client::{MachineListing, MachineRepo};
use car_core::machine::Machines;
use car_core::{LoopState, RepoSummary, StopReason};

use super::hub_status::{NARROW_COLUMNS, Width, render_status_lines};

/// The machines asked, or why their config cannot be read.
pub(crate) struct Remote {
    /// One per machine, in name order.
    pub(crate) machines: Vec<MachineListing>,
    /// The config error (naming the file and key), when there is one.
    pub(crate) error: Option<String>,
}

fn var_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Asks every machine configured in the user's config and in the hub's
/// root file (the tokens from this process's environment).
pub(crate) fn ask(hub_root: &Path) -> Remote {
    let load = || -> Result<(Machines, PathBuf), String> {
        // Without HOME (nor XDG_CONFIG_HOME), the hub's root file alone.
        let user = car_core::machine::user_config_file(
            var_path("XDG_CONFIG_HOME").as_deref(),
            var_path("HOME").as_deref(),
        );
        let files = match user {
            Ok(u) => car_core::machine::machine_files(&u, hub_root),
            Err(_) => car_core::machine::machine_files(Path::new(""), hub_root)
                .into_iter()
                .skip(1)
                .collect(),
        };
        let machines = Machines::load(&files).map_err(|e| e.to_string())?;
        if machines.by_name.is_empty() {
            return Ok((machines, PathBuf::new()));
        }
        let tunnels = super::machine::tunnels_dir().map_err(|e| e.to_string())?;
        Ok((machines, tunnels))
    };
    match load() {
        Ok((machines, tunnels)) => Remote {
            machines: car_client::list_machines(
                &machines,
                &tunnels,
                &|var| std::env::var(var).ok(),
                car_client::MACHINE_TIMEOUT,
            ),
            error: None,
        },
        Err(e) => Remote {
            machines: Vec::new(),
            error: Some(e),
        },
    }
}

/// The status lines of the local `summaries` and then of the machines'
/// repositories (columns aligned across both), each machine's error, and
/// the config error; in `Width::Narrow`, an error longer than the bound
/// goes on indented lines of its own.
pub(crate) fn lines(
    local: &[RepoSummary],
    remote: &Remote,
    width: Width,
) -> (Vec<String>, Vec<String>) {
    let mut all = local.to_vec();
    let mut owners = Vec::new(); // per remote summary: its machine's index
    let mut odd = Vec::new(); // (machine index, line) of repos without a loop state
    for (i, m) in remote.machines.iter().enumerate() {
        for r in &m.repos {
            match summary(&m.name, r) {
                Some(s) => {
                    all.push(s);
                    owners.push(i);
                }
                None => odd.push((i, format!("! {}:{}: {}", m.name, r.id, repo_error(r)))),
            }
        }
    }
    let rendered = render_status_lines(&all, width);
    let (local_lines, remote_lines) = rendered.split_at(local.len());
    let mut out = Vec::new();
    for (i, m) in remote.machines.iter().enumerate() {
        if let Some(e) = &m.error {
            out.extend(wrap(&format!("{}: ! {e}", m.name), width));
            continue;
        }
        out.extend(
            owners
                .iter()
                .zip(remote_lines)
                .filter(|(o, _)| **o == i)
                .map(|(_, l)| l.clone()),
        );
        out.extend(
            odd.iter()
                .filter(|(o, _)| *o == i)
                .flat_map(|(_, l)| wrap(l, width)),
        );
        if m.repos.is_empty() {
            out.push(format!("{}: no repositories", m.name));
        }
    }
    if let Some(e) = &remote.error {
        out.extend(wrap(&format!("! machines: {e}"), width));
    }
    (local_lines.to_vec(), out)
}

fn repo_error(r: &MachineRepo) -> String {
    r.error
        .clone()
        .unwrap_or_else(|| format!("state {}", r.state))
}

/// A machine's repository as a local summary (its id `NAME:ID`); `None`
/// when its state is not a loop's (`unavailable`, or one this car does
/// not know).
fn summary(machine: &str, r: &MachineRepo) -> Option<RepoSummary> {
    let word = |s: &str| serde_json::Value::String(s.to_string());
    let state: LoopState = serde_json::from_value(word(&r.state)).ok()?;
    let stop_reason: Option<StopReason> = r
        .stop_reason
        .as_deref()
        .and_then(|s| serde_json::from_value(word(s)).ok());
    Some(RepoSummary {
        id: format!("{machine}:{}", r.id),
        root: PathBuf::new(),
        state,
        status: car_core::Status::Idle,
        stop_reason,
        todo_done: r.todo_done,
        todo_total: r.todo_total,
        run: r.run.clone(),
        question: r.question.clone(),
        git: r.git.clone(),
    })
}

/// `line` whole when wide or short enough; else cut at spaces into lines
/// of at most [`NARROW_COLUMNS`], the next ones indented.
fn wrap(line: &str, width: Width) -> Vec<String> {
    if width == Width::Wide || line.chars().count() <= NARROW_COLUMNS {
        return vec![line.to_string()];
    }
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in line.split(' ') {
        let indent = if out.is_empty() { "" } else { "    " };
        let room = NARROW_COLUMNS - indent.len();
        let len = cur.chars().count();
        if len > 0 && len + 1 + word.chars().count() > room {
            out.push(format!("{indent}{cur}"));
            cur.clear();
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        let indent = if out.is_empty() { "" } else { "    " };
        out.push(format!("{indent}{cur}"));
    }
    // A word longer than the line is cut.
    out.into_iter()
        .map(|l| {
            if l.chars().count() > NARROW_COLUMNS {
                let mut c: String = l.chars().take(NARROW_COLUMNS - 1).collect();
                c.push('…');
                c
            } else {
                l
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "hub_machines_tests.rs"]
mod tests;
