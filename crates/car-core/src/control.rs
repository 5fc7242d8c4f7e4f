//! Operations on a repository from outside the loop: `init`, `kill`, stop
//! requests and the status report (which also reconciles the state of a
//! runner that died without recording why).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde::Serialize;

use crate::config::{self, ConfigError, LoadOptions};
use crate::docs::{self, DocKind, TodoStatus};
use crate::fs_util::{PathError, read_optional, write_atomic};
use crate::lock::{self, LockInfo, LockStatus};
use crate::paths::RepoPaths;
use crate::process;
use crate::record::{self, RunRecord};
use crate::state::{State, StateError, StateStore, Status, StopReason};
use crate::{templates, time};

/// Errors of `car init`.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// No git repository and `--git-init` not given.
    #[error("no git repository at or above {}; rerun with --git-init to create one", path.display())]
    NoGit {
        /// Where init was asked to run.
        path: PathBuf,
    },
    /// `git init` failed.
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
    /// The existing configuration is broken (nothing was written).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file could not be written.
    #[error(transparent)]
    Io(#[from] PathError),
}

/// What `car init` should do.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Where to initialise (the git root at or above it is used).
    pub path: PathBuf,
    /// Run `git init` when there is no repository.
    pub git_init: bool,
    /// Overwrite existing files (each is backed up to `<name>.bak` first).
    pub force: bool,
    /// CAR_* environment for loading the config.
    pub load: LoadOptions,
}

/// What `car init` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InitReport {
    /// The repository root.
    pub root: PathBuf,
    /// Whether `git init` was run.
    pub git_initialized: bool,
    /// Files created.
    pub created: Vec<PathBuf>,
    /// Files replaced (with the backup's path).
    pub replaced: Vec<(PathBuf, PathBuf)>,
    /// Files left as they were.
    pub kept: Vec<PathBuf>,
}

/// The Python program's `.codex-autorunner/.gitignore` (ignores everything,
/// the work docs included, which made its git auto-commit a no-op).
const PYTHON_GITIGNORE: &str = "*";

/// Creates `.codex-autorunner/` with its config, docs and `.gitignore`.
/// Idempotent: existing files are kept unless `force`, which backs each up.
pub(crate) fn init(opts: &InitOptions) -> Result<InitReport, InitError> {
    let start = absolute(&opts.path);
    let mut report = InitReport::default();
    let (root, needs_git) = match start.ancestors().find(|d| d.join(".git").exists()) {
        Some(r) => (r.to_path_buf(), false),
        None if opts.git_init => (start.clone(), true),
        None => return Err(InitError::NoGit { path: start }),
    };
    let paths = RepoPaths::new(&root);
    // Validate what exists before writing anything (`git init` included).
    let resolved = config::load(&paths, &opts.load)?;
    if needs_git {
        std::fs::create_dir_all(&start).map_err(|source| PathError {
            action: "cannot create directory",
            path: start.clone(),
            source,
        })?;
        crate::git::init(&start)?;
        report.git_initialized = true;
    }
    let cfg = &resolved.config;
    report.root = root.clone();

    let mut put =
        |path: &Path, content: &str, replace_if: &dyn Fn(&str) -> bool| -> Result<(), PathError> {
            match read_optional(path)? {
                None => {
                    write_atomic(path, content.as_bytes())?;
                    report.created.push(path.to_path_buf());
                }
                Some(old) if opts.force || replace_if(&String::from_utf8_lossy(&old)) => {
                    if old == content.as_bytes() {
                        report.kept.push(path.to_path_buf());
                        return Ok(());
                    }
                    let bak = backup_path(path);
                    write_atomic(&bak, &old)?;
                    write_atomic(path, content.as_bytes())?;
                    report.replaced.push((path.to_path_buf(), bak));
                }
                Some(_) => report.kept.push(path.to_path_buf()),
            }
            Ok(())
        };
    let never = |_: &str| false;
    put(&paths.config_file(), templates::REPO_CONFIG, &never)?;
    put(&paths.gitignore(), templates::GITIGNORE, &|old| {
        old.trim() == PYTHON_GITIGNORE
    })?;
    for kind in DocKind::ALL {
        put(kind.path(&cfg.docs), templates::doc_template(kind), &never)?;
    }
    if !paths.state_file().exists() {
        StateStore::new(&paths)
            .update(|_| ())
            .map_err(|StateError::Io(e)| e)?;
        report.created.push(paths.state_file());
    }
    Ok(report)
}

fn absolute(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    std::fs::canonicalize(&abs)
        .unwrap_or_else(|_| crate::fs_util::normalize_under(Path::new("/"), &abs))
}

/// Returns `<path>.bak`, or `<path>.bak.N` when that exists already.
pub(crate) fn backup_path(path: &Path) -> PathBuf {
    let base = format!("{}.bak", path.display());
    let mut candidate = PathBuf::from(&base);
    let mut n = 1;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{base}.{n}"));
        n += 1;
    }
    candidate
}

/// Asks a running loop to stop after its current run (writes the stop file).
pub(crate) fn request_stop(paths: &RepoPaths) -> Result<(), PathError> {
    write_atomic(
        &paths.stop_file(),
        format!("{}\n", time::iso_seconds(time::now())).as_bytes(),
    )
}

/// The result of `car kill`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum KillReport {
    /// No runner was active.
    NotRunning {
        /// A stale state or lock that was cleaned up, if any.
        cleaned: Option<String>,
    },
    /// The runner stopped after SIGTERM and recorded the kill itself.
    Stopped {
        /// Its pid.
        pid: u32,
        /// How long it took.
        waited_ms: u64,
    },
    /// The runner did not stop in time and was killed with SIGKILL (its
    /// agent's group too); the state was written on its behalf.
    ForceKilled {
        /// Its pid.
        pid: u32,
    },
}

/// Stops the runner of this repository: SIGTERM (it forwards the stop to
/// its agent), then SIGKILL to the runner and the agent's group if it is
/// still there after `grace` plus a margin.
pub(crate) fn kill(paths: &RepoPaths, grace: Duration) -> Result<KillReport, StateError> {
    let store = StateStore::new(paths);
    let holder = match lock::probe(paths) {
        LockStatus::Held(Some(info)) => info,
        LockStatus::Held(None) => {
            // Held but unreadable: fall back to the state's pid.
            match store.load()?.state.runner_pid {
                Some(pid) => LockInfo {
                    pid,
                    started_at: None,
                    host: None,
                    command: None,
                    pid_start: None,
                },
                None => return Ok(KillReport::NotRunning { cleaned: None }),
            }
        }
        LockStatus::Free | LockStatus::Stale(_) => {
            let cleaned = reconcile(paths)?;
            return Ok(KillReport::NotRunning { cleaned });
        }
    };
    let started = Instant::now();
    process::signal_pid(holder.pid, Signal::SIGTERM);
    // The runner needs the grace period to stop its agent, then a moment to
    // write its records.
    let patience = grace + Duration::from_secs(5);
    while started.elapsed() < patience {
        if !matches!(lock::probe(paths), LockStatus::Held(_)) {
            return Ok(KillReport::Stopped {
                pid: holder.pid,
                waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    process::signal_pid(holder.pid, Signal::SIGKILL);
    let state = store.load()?.state;
    if let Some(pgid) = state
        .agent_pgid
        .filter(|&g| process::group_is_ours(g, state.agent_pgid_start))
    {
        process::signal_group(pgid, Signal::SIGKILL);
    }
    // The runner is gone: its supervisor (which also saw the control pipe
    // close) ends the agent's tree, and every process still carrying the
    // run's marker is killed.
    wait_until_dead(holder.pid);
    crate::marker::kill_strays(&paths.root);
    store.update(|s| {
        // Only for the runner killed here (a new one may have started since).
        if s.runner_pid.is_none_or(|p| p == holder.pid) {
            s.record_stop(
                StopReason::Killed,
                Some(format!(
                    "runner pid {} did not stop after SIGTERM and was killed with SIGKILL",
                    holder.pid
                )),
            );
        }
    })?;
    Ok(KillReport::ForceKilled { pid: holder.pid })
}

/// Waits (a few seconds at most) until `pid` is gone after a SIGKILL.
fn wait_until_dead(pid: u32) {
    let until = Instant::now() + Duration::from_secs(3);
    while process::is_alive(pid) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Fixes a state that says `running` while no runner holds the lock (the
/// runner was killed with SIGKILL, or the machine rebooted). Returns what
/// was fixed.
pub(crate) fn reconcile(paths: &RepoPaths) -> Result<Option<String>, StateError> {
    let store = StateStore::new(paths);
    let state = store.load()?.state;
    // Agent processes whose car process is gone, whatever the state says
    // (a live runner's processes are never among them).
    let supervisor = state
        .agent_supervisor_pid
        .filter(|&p| process::same_process(p, state.agent_supervisor_start));
    let strays = crate::marker::kill_strays(&paths.root);
    let strays_note = (strays > 0).then(|| {
        format!(
            "{strays} agent process(es) left running by a car process that is gone were stopped{}",
            supervisor
                .filter(|&p| !process::is_alive(p))
                .map(|p| format!(" (supervisor pid {p})"))
                .unwrap_or_default()
        )
    });
    let active = matches!(state.status, Status::Running | Status::WaitingForQuota);
    if !active || matches!(lock::probe(paths), LockStatus::Held(_)) {
        return Ok(strays_note);
    }
    // The runner may be alive with its lock file deleted (by hand, or by a
    // tool that cleans ignored files): never touch a live runner's state.
    let here = state
        .runner_host
        .as_deref()
        .is_none_or(|h| h == process::hostname());
    if let Some(pid) = state.runner_pid
        && here
        && process::same_process(pid, state.runner_pid_start)
    {
        tracing::warn!(pid, "the runner is alive but its lock file is missing");
        return Ok(strays_note);
    }
    let examined = RunnerId::of(&state);
    let orphan = state
        .agent_pgid
        .filter(|&g| process::group_is_ours(g, state.agent_pgid_start));
    let what = format!(
        "runner{} died without recording a stop{}{}",
        state
            .runner_pid
            .map(|p| format!(" pid {p}"))
            .unwrap_or_default(),
        orphan
            .map(|g| format!("; its agent group {g} was killed"))
            .unwrap_or_default(),
        strays_note.map(|n| format!("; {n}")).unwrap_or_default()
    );
    between_examine_and_record();
    // Record the crash only for the runner examined above: a runner that
    // started since (`car resume` racing this `car status`) is alive.
    let (_, recorded) = store.update(|s| {
        let same = matches!(s.status, Status::Running | Status::WaitingForQuota)
            && RunnerId::of(s) == examined;
        if same {
            s.record_stop(StopReason::Crashed, Some(what.clone()));
        }
        same
    })?;
    if !recorded {
        return Ok(None);
    }
    if let Some(pgid) = orphan {
        process::signal_group(pgid, Signal::SIGKILL);
    }
    Ok(Some(what))
}

/// What tells one runner's loop from another's in the state.
#[derive(Debug, PartialEq, Eq)]
struct RunnerId {
    pid: Option<u32>,
    pid_start: Option<u64>,
    host: Option<String>,
    loop_started_at: Option<String>,
}

impl RunnerId {
    fn of(s: &State) -> Self {
        Self {
            pid: s.runner_pid,
            pid_start: s.runner_pid_start,
            host: s.runner_host.clone(),
            loop_started_at: s.loop_started_at.clone(),
        }
    }
}

/// A test hook: runs between reading the state and recording a crash.
#[cfg(test)]
fn between_examine_and_record() {
    if let Some(f) = tests::BETWEEN.with(|b| b.borrow_mut().take()) {
        f();
    }
}

#[cfg(not(test))]
fn between_examine_and_record() {}

/// Everything `car status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// The repository root.
    pub root: PathBuf,
    /// The state (after reconciliation).
    pub state: State,
    /// Whether a runner is active now.
    pub running: bool,
    /// The lock holder, when held.
    pub lock_holder: Option<LockInfo>,
    /// A stale lock file's content, when one is left.
    pub stale_lock: Option<LockInfo>,
    /// The TODO counts (None when it cannot be read).
    pub todo: Option<TodoStatus>,
    /// Why the TODO could not be read.
    pub todo_error: Option<String>,
    /// The last run's record.
    pub last_run: Option<RunRecord>,
    /// What reconciliation fixed.
    pub reconciled: Option<String>,
    /// Set when state.json was corrupt.
    pub state_warning: Option<String>,
    /// Whether a stop request is pending.
    pub stop_requested: bool,
}

/// Builds the status report, reconciling a dead runner's state first.
pub(crate) fn status(
    paths: &RepoPaths,
    docs_cfg: &crate::config::DocsConfig,
) -> Result<StatusReport, StateError> {
    let reconciled = reconcile(paths)?;
    let loaded = StateStore::new(paths).load()?;
    let (lock_holder, stale_lock) = match lock::probe(paths) {
        LockStatus::Held(i) => (i, None),
        LockStatus::Stale(i) => (None, i),
        LockStatus::Free => (None, None),
    };
    let running = lock_holder.is_some() || matches!(lock::probe(paths), LockStatus::Held(_));
    let (todo, todo_error) = match read_optional(&docs_cfg.todo) {
        Ok(Some(b)) => match String::from_utf8(b) {
            Ok(t) => (Some(docs::parse_todo(&t)), None),
            Err(_) => (
                None,
                Some(format!("{} is not UTF-8 text", docs_cfg.todo.display())),
            ),
        },
        Ok(None) => (
            None,
            Some(format!("{} does not exist", docs_cfg.todo.display())),
        ),
        Err(e) => (None, Some(crate::engine::error_chain(&e))),
    };
    let last_run = loaded
        .state
        .last_run_id
        .and_then(|id| record::load_record(paths, id));
    Ok(StatusReport {
        root: paths.root.clone(),
        state: loaded.state,
        running,
        lock_holder,
        stale_lock,
        todo,
        todo_error,
        last_run,
        reconciled,
        state_warning: loaded.corrupt,
        stop_requested: paths.stop_file().exists(),
    })
}

/// What `car reply` recorded.
#[derive(Debug, Clone, Serialize)]
pub struct ReplyReport {
    /// The question answered, when one was open.
    pub question: Option<PendingQuestionView>,
}

/// The open question, for reports.
#[derive(Debug, Clone, Serialize)]
pub struct PendingQuestionView {
    /// The run that asked.
    pub run_id: u64,
    /// The question.
    pub question: String,
}

/// Records a person's answer: the next run's prompt carries it (as
/// `USER_REPLY`), and the open question is closed.
pub(crate) fn reply(
    paths: &RepoPaths,
    ledger: &crate::ledger::Ledger,
    text: &str,
) -> Result<ReplyReport, StateError> {
    let now = time::iso_seconds(time::now());
    let (_, question) = StateStore::new(paths).update(|s| {
        let q = s.pending_question.take();
        // A second reply replaces the first but keeps the question it answers.
        let earlier = s.user_reply.take().and_then(|r| r.question);
        s.user_reply = Some(crate::state::UserReply {
            text: text.to_string(),
            replied_at: now.clone(),
            question: q.as_ref().map(|q| q.question.clone()).or(earlier),
        });
        q
    })?;
    let run_id = question.as_ref().map(|q| q.run_id);
    let fields = serde_json::json!({
        "question": question.as_ref().map(|q| q.question.clone()),
        "chars": text.chars().count(),
    });
    if let Err(e) = ledger.append("reply", run_id, fields) {
        tracing::warn!(error = %e, "cannot append to the event ledger");
    }
    Ok(ReplyReport {
        question: question.map(|q| PendingQuestionView {
            run_id: q.run_id,
            question: q.question,
        }),
    })
}

/// What `clear_docs` did: each doc reset, with its backup.
#[derive(Debug, Clone, Serialize)]
pub struct ClearReport {
    /// `(doc, backup)` for every doc reset; no backup when it was empty.
    pub reset: Vec<(PathBuf, Option<PathBuf>)>,
}

/// Resets TODO, PROGRESS and OPINIONS to their templates, backing up each
/// one that held content. Refused while a runner holds the lock.
pub(crate) fn clear_docs(
    paths: &RepoPaths,
    docs: &crate::config::DocsConfig,
) -> Result<ClearReport, crate::error::Error> {
    let _lock = crate::lock::RunLock::acquire(paths, "clear-docs")?;
    let mut reset = Vec::new();
    for kind in [DocKind::Todo, DocKind::Progress, DocKind::Opinions] {
        let path = kind.path(docs);
        let old = read_optional(path)?;
        let backup = match old.filter(|b| !b.iter().all(u8::is_ascii_whitespace)) {
            Some(b) => {
                let bak = backup_path(path);
                write_atomic(&bak, &b)?;
                Some(bak)
            }
            None => None,
        };
        write_atomic(path, templates::doc_template(kind).as_bytes())?;
        reset.push((path.to_path_buf(), backup));
    }
    Ok(ClearReport { reset })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    thread_local! {
        /// Run by `reconcile` between reading the state and recording.
        pub(super) static BETWEEN: RefCell<Option<Box<dyn FnOnce()>>> = RefCell::new(None);
    }

    /// A repo whose state says a runner (now dead) is running.
    fn crashed_repo() -> (tempfile::TempDir, RepoPaths, u32) {
        let dir = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(dir.path());
        std::fs::create_dir_all(&paths.car_dir).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        StateStore::new(&paths)
            .update(|s| {
                s.status = Status::Running;
                s.runner_pid = Some(dead);
                s.runner_pid_start = Some(1);
                s.loop_started_at = Some("2026-01-01T00:00:00Z".into());
            })
            .unwrap();
        (dir, paths, dead)
    }

    #[test]
    fn reconcile_records_the_crash_of_a_dead_runner() {
        let (_dir, paths, dead) = crashed_repo();
        let what = reconcile(&paths).unwrap().unwrap();
        assert!(what.contains(&format!("pid {dead}")), "{what}");
        let s = StateStore::new(&paths).load().unwrap().state;
        assert_eq!(s.stop_reason, Some(StopReason::Crashed));
        assert_eq!(s.runner_pid, None);
        assert_eq!(reconcile(&paths).unwrap(), None, "only once");
    }

    #[test]
    fn reconcile_never_records_a_crash_for_a_runner_that_started_meanwhile() {
        let (_dir, paths, _dead) = crashed_repo();
        let me = std::process::id();
        let store = StateStore::new(&paths);
        // `car resume` starts between the examination and the record.
        let resumed = store.clone();
        BETWEEN.with(|b| {
            *b.borrow_mut() = Some(Box::new(move || {
                resumed
                    .update(|s| {
                        s.status = Status::Running;
                        s.runner_pid = Some(me);
                        s.runner_pid_start = process::start_time(me);
                        s.loop_started_at = Some("2026-01-01T00:00:05Z".into());
                        s.stop_reason = None;
                    })
                    .unwrap();
            }));
        });
        assert_eq!(reconcile(&paths).unwrap(), None);
        let s = store.load().unwrap().state;
        assert_eq!(s.status, Status::Running);
        assert_eq!(s.runner_pid, Some(me), "the live runner lost its pid");
        assert_eq!(s.stop_reason, None);
    }
}
