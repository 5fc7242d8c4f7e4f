//! Worktrees, the hub's jobs: `new` makes `<worktrees_root>/<base>--<name>`
//! with `git worktree add`, initialises car in it (the base's work docs and
//! config copied, templates for the rest), runs the setup commands and
//! registers it; `list` and `prune` (entries whose directory is gone).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::error::HubError;
use super::ids::{safe_branch, worktree_id};
use super::manifest::{ManifestRepo, RepoKind};
use super::registry::Hub;
use crate::fs_util::{IoResultExt, write_atomic};
use crate::git::{Git, WRITE_TIMEOUT};
use crate::paths::CAR_DIR;

/// Longest one setup command may run before it is stopped.
const SETUP_TIMEOUT: Duration = Duration::from_secs(1800);

/// What to make with [`Hub::new_worktree`].
#[derive(Debug, Clone)]
pub struct WorktreeRequest {
    /// The base repository's id.
    pub base: String,
    /// The job's name (the id is `<base>--<name>`).
    pub name: String,
    /// Where the new branch starts (default: the base's `HEAD`).
    pub from: Option<String>,
    /// The branch (default: `hub.worktree_branch_prefix` + the name made
    /// safe, see [`safe_branch`](super::safe_branch)).
    pub branch: Option<String>,
}

/// One setup command's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct SetupOutcome {
    /// The command line.
    pub command: String,
    /// Its exit code (`None`: killed, timed out or not started).
    pub code: Option<i32>,
    /// Whether it succeeded.
    pub ok: bool,
    /// The end of its output.
    pub output_tail: String,
}

/// What [`Hub::new_worktree`] made.
#[derive(Debug, Clone, Serialize)]
pub struct WorktreeCreated {
    /// The worktree's id.
    pub id: String,
    /// Its directory.
    pub path: PathBuf,
    /// Its branch.
    pub branch: String,
    /// Whether the branch was made by this call.
    pub new_branch: bool,
    /// Work docs copied from the base repository.
    pub copied: Vec<String>,
    /// The setup commands run, in order (the first failure ends them).
    pub setup: Vec<SetupOutcome>,
}

/// A registered worktree, for `list`.
#[derive(Debug, Clone, Serialize)]
pub struct WorktreeInfo {
    /// The manifest entry.
    #[serde(flatten)]
    pub entry: ManifestRepo,
    /// Its directory.
    pub abs_path: PathBuf,
    /// Whether the directory exists.
    pub present: bool,
}

impl Hub {
    /// Creates, initialises, sets up and registers a worktree.
    pub fn new_worktree(&self, req: &WorktreeRequest) -> Result<WorktreeCreated, HubError> {
        let base = self.entry(&req.base)?;
        if base.kind != RepoKind::Base {
            return Err(HubError::Refused(format!(
                "`{}` is a worktree; a worktree is made from a base repository",
                req.base
            )));
        }
        let base_path = self.path_of(&base);
        if !base_path.exists() {
            return Err(HubError::Refused(format!(
                "the base repository `{}` is missing on disk ({})",
                base.id,
                base_path.display()
            )));
        }
        let name = req.name.trim();
        if name.is_empty() {
            return Err(HubError::Refused("a worktree needs a name".into()));
        }
        let id = worktree_id(&base.id, name);
        let path = self.config().worktrees_root.join(&id);
        if self.manifest()?.get(&id).is_some() {
            return Err(HubError::Refused(format!(
                "the worktree `{id}` exists already"
            )));
        }
        if path.exists() {
            return Err(HubError::Refused(format!(
                "{} exists already",
                path.display()
            )));
        }
        let branch = req
            .branch
            .clone()
            .map(|b| b.trim().to_string())
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| {
                format!(
                    "{}{}",
                    self.config().worktree_branch_prefix,
                    safe_branch(name)
                )
            });
        let git = Git::new(WRITE_TIMEOUT);
        git.checked(&base_path, &["check-ref-format", "--branch", &branch])
            .map_err(|_| HubError::Refused(format!("`{branch}` is not a valid branch name")))?;
        let exists = git
            .run(
                &base_path,
                &[
                    "show-ref",
                    "--verify",
                    "--quiet",
                    &format!("refs/heads/{branch}"),
                ],
            )?
            .status
            .success();
        std::fs::create_dir_all(&self.config().worktrees_root)
            .with_path("cannot create directory", &self.config().worktrees_root)?;
        let dest = path.to_string_lossy().into_owned();
        if exists {
            if req.from.is_some() {
                return Err(HubError::Refused(format!(
                    "the branch `{branch}` exists already; --from only applies to a new branch"
                )));
            }
            git.checked(&base_path, &["worktree", "add", "--quiet", &dest, &branch])?;
        } else {
            let mut args = vec!["worktree", "add", "--quiet", "-b", &branch, &dest];
            if let Some(from) = req.from.as_deref() {
                args.push(from);
            }
            git.checked(&base_path, &args)?;
        }
        let copied = copy_docs(&base_path, &path)?;
        self.init_repo(&path)?;
        self.update(|m| {
            let mut e = ManifestRepo::new(&id, self.relative(&path)?, RepoKind::Worktree);
            e.worktree_of = Some(base.id.clone());
            e.branch = Some(branch.clone());
            m.repos.push(e);
            Ok(())
        })?;
        let commands = base
            .setup_commands()
            .unwrap_or_else(|| self.config().worktree_setup_commands.clone());
        let setup = run_setup(&path, &commands)?;
        Ok(WorktreeCreated {
            id,
            path,
            branch,
            new_branch: !exists,
            copied,
            setup,
        })
    }

    /// The registered worktrees.
    pub fn worktrees(&self) -> Result<Vec<WorktreeInfo>, HubError> {
        Ok(self
            .repos()?
            .into_iter()
            .filter(|r| r.kind == RepoKind::Worktree)
            .map(|entry| {
                let abs_path = self.path_of(&entry);
                WorktreeInfo {
                    present: abs_path.exists(),
                    abs_path,
                    entry,
                }
            })
            .collect())
    }

    /// Unregisters worktrees whose directory is gone and runs
    /// `git worktree prune` in every base repository; returns the ids.
    pub fn prune_worktrees(&self) -> Result<Vec<String>, HubError> {
        let pruned = self.update(|m| {
            let gone: Vec<String> = m
                .repos
                .iter()
                .filter(|r| r.kind == RepoKind::Worktree && !self.path_of(r).exists())
                .map(|r| r.id.clone())
                .collect();
            m.repos.retain(|r| !gone.contains(&r.id));
            Ok(gone)
        })?;
        let git = Git::new(WRITE_TIMEOUT);
        for base in self.repos()?.iter().filter(|r| r.kind == RepoKind::Base) {
            let p = self.path_of(base);
            if p.exists() {
                git.checked(&p, &["worktree", "prune"])?;
            }
        }
        Ok(pruned)
    }
}

/// Copies the base's work docs and config into the new worktree where the
/// checkout did not bring them (they are often not committed).
fn copy_docs(base: &Path, wt: &Path) -> Result<Vec<String>, HubError> {
    let from = base.join(CAR_DIR);
    let to = wt.join(CAR_DIR);
    let mut copied = Vec::new();
    let Ok(entries) = std::fs::read_dir(&from) else {
        return Ok(copied);
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let wanted = name.ends_with(".md") || name == "config.yml" || name == "prompt.txt";
        let src = e.path();
        let dst = to.join(&name);
        if !wanted || !src.is_file() || dst.exists() {
            continue;
        }
        let bytes = std::fs::read(&src).with_path("cannot read", &src)?;
        write_atomic(&dst, &bytes)?;
        copied.push(name);
    }
    copied.sort();
    Ok(copied)
}

/// Runs each command with `sh -c` in `dir` until one fails; its output
/// goes to `.codex-autorunner/logs/worktree-setup.log`.
fn run_setup(dir: &Path, commands: &[String]) -> Result<Vec<SetupOutcome>, HubError> {
    let mut out = Vec::new();
    if commands.is_empty() {
        return Ok(out);
    }
    let log = dir.join(CAR_DIR).join("logs").join("worktree-setup.log");
    let mut text = String::new();
    for command in commands {
        let (code, output) = run_one(dir, command);
        text.push_str(&format!("$ {command}\n{output}\n[exit {code:?}]\n"));
        let ok = code == Some(0);
        let tail: String = output
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        out.push(SetupOutcome {
            command: command.clone(),
            code,
            ok,
            output_tail: tail,
        });
        if !ok {
            break;
        }
    }
    write_atomic(&log, text.as_bytes())?;
    Ok(out)
}

/// One setup command: its exit code and its output (stdout then stderr).
fn run_one(dir: &Path, command: &str) -> (Option<i32>, String) {
    let child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return (None, format!("cannot start sh: {e}")),
    };
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut r| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    })
    .collect();
    let deadline = Instant::now() + SETUP_TIMEOUT;
    let code = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.code(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let pid = nix::unistd::Pid::from_raw(-(child.id() as i32));
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                break None;
            }
        }
    };
    let mut output = String::new();
    for r in readers {
        output.push_str(&String::from_utf8_lossy(&r.join().unwrap_or_default()));
    }
    (code, output)
}
