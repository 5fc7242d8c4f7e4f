//! Watching a hub: `car hub status [--wide] [--json]` (the other
//! machines' repositories too, see `hub_machines.rs`), `car hub events [-f]
//! [--json]`, and `car attach ID` picking a hub's repository.

use std::io::Write;

use anyhow::Result;
use car_core::hub::{ManifestRepo, RepoKind};
use car_core::{EventEnvelope, Hub, Repo, ResumeToken, SinceFilter, SummaryOptions};

use super::hub_status::Width;
use crate::report::UsageError;

/// A registered repository, opened.
type Opened = (ManifestRepo, Repo);

/// The hub's enabled repositories that can be opened, in manifest order;
/// and a line for each that cannot (missing, not initialised).
fn open_repos(hub: &Hub) -> Result<(Vec<Opened>, Vec<String>)> {
    let mut open = Vec::new();
    let mut broken = Vec::new();
    for entry in hub.repos()? {
        if !entry.enabled {
            continue;
        }
        match hub.repo(&entry.id) {
            Ok(repo) => open.push((entry, repo)),
            Err(e) => broken.push(format!("{}: {e}", entry.id)),
        }
    }
    Ok((open, broken))
}

/// `car hub status`: one line per repository (≤ 60 columns unless `wide`).
pub(crate) fn status(hub: &Hub, wide: bool, json: bool) -> Result<u8> {
    let (repos, broken) = open_repos(hub)?;
    let branches: Vec<(String, Option<String>)> = repos
        .iter()
        .map(|(e, _)| (e.id.clone(), e.branch.clone()))
        .collect();
    // A loop waiting for a slot, or for its restart, says so.
    let queue = hub.queue()?;
    let summaries: Vec<_> = repos
        .iter()
        .map(|(entry, repo)| {
            let opts = if wide || json {
                // A worktree is compared with its base's branch.
                let base = (entry.kind == RepoKind::Worktree)
                    .then_some(entry.worktree_of.as_deref())
                    .flatten()
                    .and_then(|b| branches.iter().find(|(id, _)| id == b))
                    .and_then(|(_, branch)| branch.clone());
                SummaryOptions::with_git(base)
            } else {
                SummaryOptions::files_only()
            };
            let mut s = car_core::summarize(&entry.id, repo, &opts);
            queue.mark(&mut s);
            s
        })
        .collect();
    // The other machines' repositories, through their servers.
    let remote = super::hub_machines::ask(hub.root());
    if json {
        let value = serde_json::json!({
            "hub": hub.root(),
            "repos": summaries,
            "unavailable": broken,
            "machines": remote.machines,
            "machines_error": remote.error,
        });
        outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(crate::EXIT_OK);
    }
    if summaries.is_empty() && broken.is_empty() {
        outln!("no repositories registered (try `car hub scan`)");
    }
    let width = if wide { Width::Wide } else { Width::Narrow };
    let (local, machines) = super::hub_machines::lines(&summaries, &remote, width);
    for line in local {
        outln!("{line}");
    }
    for b in &broken {
        outln!("! {b}");
    }
    for line in machines {
        outln!("{line}");
    }
    Ok(crate::EXIT_OK)
}

/// `car hub events [-f] [--json]`: every repository's ledger, each event
/// naming its repository; with `follow`, then each new event as it comes.
pub(crate) fn events(hub: &Hub, follow: bool, json: bool) -> Result<u8> {
    let (repos, broken) = open_repos(hub)?;
    for b in &broken {
        tracing::warn!("{b}");
    }
    let mut out = std::io::stdout().lock();
    let mut print = |e: &EventEnvelope| -> bool {
        let line = if json {
            e.to_json()
        } else {
            format!(
                "{:<20} {}",
                e.repo.as_deref().unwrap_or("?"),
                car_core::render_event(e)
            )
        };
        writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
    };
    if !follow {
        // Merged by time; each repository's events keep their order.
        let mut all: Vec<EventEnvelope> = Vec::new();
        for (entry, repo) in &repos {
            for mut e in repo.events(&mut SinceFilter::new(None)) {
                e.repo = Some(entry.id.clone());
                all.push(e);
            }
        }
        all.sort_by(|a, b| a.ts.cmp(&b.ts));
        for e in &all {
            if !print(e) {
                break;
            }
        }
        return Ok(crate::EXIT_OK);
    }
    let list = repos
        .into_iter()
        .map(|(entry, repo)| (entry.id, repo))
        .collect();
    // Every stored event first (an empty token names no repository), then
    // the new ones, across rotations.
    let mut events = car_core::follow_many(list, Some(&ResumeToken::new()));
    while let Some(e) = events.next_blocking() {
        if !print(&e) {
            break; // the reader went away (broken pipe)
        }
    }
    Ok(crate::EXIT_OK)
}

/// The repository `id` names in `hub`, for `car attach ID`.
pub(crate) fn resolve(hub: &Hub, id: Option<&str>) -> Result<(String, Repo)> {
    let Some(id) = id else {
        let ids: Vec<String> = hub.repos()?.into_iter().map(|r| r.id).collect();
        return Err(UsageError(format!(
            "name the repository to attach to: `car attach ID`, one of: {}",
            ids.join(", ")
        ))
        .into());
    };
    Ok((id.to_string(), hub.repo(id)?))
}
