//! `car init --mode hub` and `car hub scan|add|remove|list`.

use std::path::Path;

use anyhow::Result;
use car_core::Hub;
use car_core::hub::{ManifestRepo, RepoKind};

use crate::cli::{Global, HubCommand};

/// Opens the hub at or above --repo (or the current directory).
pub(super) fn open(g: &Global) -> Result<Hub> {
    Ok(Hub::open_with(
        super::start_dir(g),
        &super::load_options(g, &[])?,
    )?)
}

/// `car init --mode hub [PATH]`.
pub(crate) fn init(path: &Path) -> Result<u8> {
    let report = Hub::init(path)?;
    for p in &report.created {
        outln!("  created  {}", rel(&report.root, p));
    }
    for p in &report.kept {
        outln!("  kept     {}", rel(&report.root, p));
    }
    outln!("Initialized a car hub in {}", report.root.display());
    outln!("Next: put repositories in it (or `car hub add URL`), then `car hub scan`.");
    Ok(crate::EXIT_OK)
}

pub(crate) fn run(g: &Global, cmd: HubCommand) -> Result<u8> {
    let hub = open(g)?;
    match cmd {
        HubCommand::Scan { init, json } => {
            let r = hub.scan(init)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(crate::EXIT_OK);
            }
            for id in &r.added {
                outln!("  added        {id}");
            }
            for id in &r.initialised {
                outln!("  initialised  {id}");
            }
            for id in &r.missing {
                outln!("  missing      {id} (registered, directory gone)");
            }
            outln!(
                "{} added, {} already registered, {} missing",
                r.added.len(),
                r.known.len(),
                r.missing.len()
            );
        }
        HubCommand::Add {
            source,
            id,
            init,
            json,
        } => {
            let r = hub.add(&source, id.as_deref(), init)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(crate::EXIT_OK);
            }
            let how = if r.cloned {
                "cloned and registered"
            } else {
                "registered"
            };
            outln!("{how} `{}` at {}", r.id, rel(hub.root(), &r.path));
            if r.initialised {
                outln!("  initialised car in it");
            }
        }
        HubCommand::Remove { id, force } => match hub.remove(&id, force)? {
            None => outln!("unregistered `{id}` (its files are left on disk)"),
            Some(r) => super::worktree::print_removal(&r),
        },
        HubCommand::Run { until_idle } => return super::hub_supervise::run(&hub, until_idle),
        HubCommand::Start { ids, all } => return super::hub_supervise::start(&hub, &ids, all),
        HubCommand::Stop { ids, all, now } => {
            return super::hub_supervise::stop(&hub, &ids, all, now);
        }
        HubCommand::List(a) => {
            let repos = hub.repos()?;
            if a.json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&list_json(&hub, &repos))?
                );
                return Ok(crate::EXIT_OK);
            }
            if repos.is_empty() {
                outln!("no repositories registered (try `car hub scan`)");
            }
            for r in &repos {
                outln!("{}", line(&hub, r));
            }
        }
        HubCommand::Status { wide, json } => return super::hub_watch::status(&hub, wide, json),
        HubCommand::Events { follow, json } => {
            return super::hub_watch::events(&hub, follow, json);
        }
    }
    Ok(crate::EXIT_OK)
}

fn line(hub: &Hub, r: &ManifestRepo) -> String {
    let kind = match r.kind {
        RepoKind::Base => "base".to_string(),
        RepoKind::Worktree => format!("wt of {}", r.worktree_of.as_deref().unwrap_or("?")),
    };
    let mut flags = Vec::new();
    if !r.enabled {
        flags.push("disabled");
    }
    if r.auto_run {
        flags.push("auto_run");
    }
    if !hub.path_of(r).exists() {
        flags.push("MISSING");
    }
    format!(
        "{:<24} {:<16} {}{}{}",
        r.id,
        kind,
        r.path.display(),
        r.branch
            .as_deref()
            .map(|b| format!(" [{b}]"))
            .unwrap_or_default(),
        if flags.is_empty() {
            String::new()
        } else {
            format!(" ({})", flags.join(", "))
        }
    )
}

fn list_json(hub: &Hub, repos: &[ManifestRepo]) -> serde_json::Value {
    let items: Vec<serde_json::Value> = repos
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["abs_path"] = serde_json::json!(hub.path_of(r));
            v["present"] = serde_json::json!(hub.path_of(r).exists());
            v
        })
        .collect();
    serde_json::json!({ "hub": hub.root(), "repos": items })
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}
