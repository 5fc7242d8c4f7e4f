//! `car ledger publish`: the event ledger committed to a branch of its own
//! and pushed, every interval, until SIGTERM or Ctrl-C (the round under way
//! is finished). `car ledger status`: the last event per loop, task and
//! command, from the local ledger(s).
//!
//! At a hub root (or with `--hub`) every registered repository and
//! worktree is published, into the hub's git repository.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use car_core::ledger_publish::{PublishError, PublishOptions, Publisher, RoundReport, Source};
use car_core::{Hub, StopHandle, StopLevel};

use crate::cli::{Global, LedgerCommand};
use crate::cli_pub::{LedgerStatusArgs, PublishArgs};
use crate::report::UsageError;

pub(crate) fn run(g: &Global, cmd: LedgerCommand) -> Result<u8> {
    match cmd {
        LedgerCommand::Publish(a) => publish(g, &a),
        LedgerCommand::Status(a) => status(g, &a),
    }
}

/// What is published: one repository, or a hub's.
enum Scope {
    Repo(PathBuf),
    Hub(Box<Hub>),
}

impl Scope {
    fn open(g: &Global, hub: bool) -> Result<Self> {
        if hub {
            let opts = super::load_options(g, &[])?;
            return Ok(Self::Hub(Box::new(Hub::open_with(
                super::start_dir(g),
                &opts,
            )?)));
        }
        Ok(match super::serve::open(g)? {
            (_, Some(hub)) => Self::Hub(Box::new(hub)),
            (repo, None) => Self::Repo(repo.root().to_path_buf()),
        })
    }

    /// The repository whose git holds the branch.
    fn git_root(&self) -> PathBuf {
        match self {
            Self::Repo(root) => root.clone(),
            Self::Hub(hub) => hub.root().to_path_buf(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Repo(root) => format!("the repository {}", root.display()),
            Self::Hub(hub) => format!("the hub {}", hub.root().display()),
        }
    }

    /// The ledgers, read afresh each round (a hub's repositories come and
    /// go). A repository that cannot be opened is skipped, said once.
    fn sources(
        &self,
        g: &Global,
        with_prompts: bool,
        warned: &mut BTreeSet<String>,
    ) -> Result<Vec<Source>> {
        match self {
            Self::Repo(root) => {
                let opts = super::load_options(g, &[])?;
                let repo = car_core::Repo::open_with(root, &opts)?;
                Ok(vec![Source {
                    id: None,
                    files: repo.event_files(),
                    prompts: prompts(&repo, with_prompts),
                }])
            }
            Self::Hub(hub) => {
                let mut out = Vec::new();
                for entry in hub.repos()? {
                    match hub.repo(&entry.id) {
                        Ok(repo) => out.push(Source {
                            id: Some(entry.id.clone()),
                            files: repo.event_files(),
                            prompts: prompts(&repo, with_prompts),
                        }),
                        Err(e) => {
                            if warned.insert(entry.id.clone()) {
                                errln!("car: warning: {} is left out: {e:#}", entry.id);
                            }
                        }
                    }
                }
                Ok(out)
            }
        }
    }
}

/// The prompts of the repository's tasks, when they are published.
fn prompts(repo: &car_core::Repo, with_prompts: bool) -> BTreeMap<String, String> {
    if !with_prompts {
        return BTreeMap::new();
    }
    repo.tasks(crate::origin::requester())
        .list(0, usize::MAX)
        .tasks
        .into_iter()
        .map(|t| (t.id, t.prompt))
        .collect()
}

fn publish(g: &Global, a: &PublishArgs) -> Result<u8> {
    let scope = Scope::open(g, a.hub)?;
    let opts = PublishOptions {
        branch: a.branch.clone(),
        remote: a.remote.clone(),
        include_prompts: a.include_prompts,
    };
    let hub = matches!(scope, Scope::Hub(_));
    let mut publisher = Publisher::new(&scope.git_root(), hub, &opts).map_err(|e| match e {
        // How it was asked: a usage error (exit 2).
        PublishError::NotARepository(_)
        | PublishError::BadBranch(_)
        | PublishError::CheckedOut { .. }
        | PublishError::NoRemote { .. } => anyhow::Error::from(UsageError(e.to_string())),
        e => e.into(),
    })?;
    let stop = StopHandle::new();
    let _routed = crate::signals::route_to_shutdown(stop.clone());
    if !a.once {
        outln!(
            "car: publishing the ledger of {} to {} of {} every {:?} (Ctrl-C stops)",
            scope.describe(),
            a.branch,
            a.remote,
            a.interval
        );
    }
    let mut warned = BTreeSet::new();
    let mut report = RoundReport::default();
    loop {
        let result = scope
            .sources(g, a.include_prompts, &mut warned)
            .and_then(|s| Ok(publisher.round(&s, &mut report)?));
        let ok = match result {
            Ok(()) => {
                say(&report, a, a.once);
                true
            }
            Err(e) => {
                // What was committed stays on the branch; the next round
                // pushes it.
                if let Some(c) = &report.committed {
                    outln!(
                        "car: ledger: committed {} ({} events)",
                        short(c),
                        report.events
                    );
                }
                errln!("car: ledger: {e:#}");
                false
            }
        };
        if a.once {
            return Ok(if ok {
                crate::EXIT_OK
            } else {
                crate::EXIT_FAILURE
            });
        }
        let until = Instant::now() + a.interval;
        while Instant::now() < until {
            if stop.current().level != StopLevel::None {
                outln!("car: ledger: stopped");
                return Ok(crate::EXIT_OK);
            }
            std::thread::sleep(Duration::from_millis(100).min(a.interval));
        }
    }
}

fn say(r: &RoundReport, a: &PublishArgs, always: bool) {
    if let Some(c) = &r.committed {
        outln!("car: ledger: committed {} ({} events)", short(c), r.events);
    }
    if let Some(p) = &r.pushed {
        outln!(
            "car: ledger: pushed {} to {} {}",
            short(p),
            a.remote,
            a.branch
        );
    }
    if always && r.committed.is_none() && r.pushed.is_none() {
        outln!("car: ledger: nothing new ({} events)", r.events);
    }
}

fn short(oid: &str) -> &str {
    &oid[..oid.len().min(12)]
}

fn status(g: &Global, a: &LedgerStatusArgs) -> Result<u8> {
    let scope = Scope::open(g, a.hub)?;
    let sources = scope.sources(g, false, &mut BTreeSet::new())?;
    let last = car_core::ledger_publish::last_events(&sources, true);
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&last).context("cannot write JSON")?
        );
        return Ok(crate::EXIT_OK);
    }
    if last.is_empty() {
        outln!("car: no events recorded yet");
    }
    for e in &last {
        outln!("{}", car_core::ledger_publish::describe(e));
    }
    Ok(crate::EXIT_OK)
}
