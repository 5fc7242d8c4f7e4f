//! The git positions in `GET /api/v1/repos` (branch, ahead/behind, dirty),
//! kept off the request path: asking git costs a few milliseconds a
//! repository (a process started), so a list of 50 would take far longer
//! than reading the loops' files. A thread of the server looks every
//! [`TICK`] at each served repository's git files (the modification times
//! of `HEAD`, the index, the reflogs, the refs of its git directory and of
//! the shared one for a worktree, and of the work tree's top directory:
//! a dozen `stat`s) and asks git again when one changed (a commit, a
//! checkout, a fetch, a `git add`); and, while lists are asked for (one in
//! the last [`WANTED_FOR`]), when its answer is older than [`MAX_AGE`],
//! which is what catches an edit of a tracked file below the top directory.
//! Each list item says when its git position was taken (`git_checked_at`);
//! until the first look it has none.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use car_core::hub::RepoKind;
use car_core::{GitSummary, Repo, SummaryOptions};
use chrono::{DateTime, Utc};

use crate::state::{AppState, Inner, Served};

/// How often the git files are looked at.
pub(crate) const TICK: Duration = Duration::from_secs(1);
/// The oldest a git position gets while lists are asked for.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(10);
/// How long after a list request positions are kept younger than [`MAX_AGE`].
pub(crate) const WANTED_FOR: Duration = Duration::from_secs(120);

/// A repository's git position and when it was taken.
#[derive(Debug, Clone)]
pub(crate) struct GitEntry {
    /// The position (`None`: not a git work tree, or git failed).
    pub(crate) git: Option<GitSummary>,
    /// When git was asked.
    pub(crate) checked_at: DateTime<Utc>,
    at: Instant,
    files: Vec<Option<SystemTime>>,
    base: Option<String>,
}

/// The positions of the served repositories, by root.
#[derive(Debug, Default)]
pub(crate) struct GitCache {
    entries: Mutex<HashMap<PathBuf, GitEntry>>,
    wanted_at: Mutex<Option<Instant>>,
}

impl GitCache {
    /// The position of the repository at `root`, if taken yet.
    pub(crate) fn get(&self, root: &Path) -> Option<GitEntry> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(root).cloned()
    }

    /// Notes that a list was asked for now.
    pub(crate) fn wanted(&self) {
        *self
            .wanted_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    fn is_wanted(&self) -> bool {
        self.wanted_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|t| t.elapsed() < WANTED_FOR)
    }
}

/// One repository to look at.
struct Job {
    id: String,
    repo: Repo,
    /// The base repository's id, for a worktree.
    base_of: Option<String>,
    /// The branch the manifest records for it.
    branch: Option<String>,
}

/// Starts the thread that keeps `state`'s git positions fresh; it ends
/// when the server shuts down or its state is dropped.
pub(crate) fn start_refresher(state: &AppState) {
    let weak = Arc::downgrade(&state.inner);
    let spawned = std::thread::Builder::new()
        .name("car-serve-git".into())
        .spawn(move || {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                if *inner.shutdown.borrow() {
                    return;
                }
                refresh(&inner);
                drop(inner);
                std::thread::sleep(TICK);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the git refresher: {e}; lists carry no git position");
    }
}

/// One look at every served repository.
fn refresh(inner: &Inner) {
    let jobs = jobs(inner);
    let cache = &inner.git;
    let wanted = cache.is_wanted();
    let mut branches: HashMap<String, Option<String>> = HashMap::new();
    // Bases first: a worktree compares with its base's branch.
    for job in jobs.iter().filter(|j| j.base_of.is_none()) {
        let e = refresh_one(cache, job, None, wanted);
        branches.insert(
            job.id.clone(),
            e.and_then(|g| g.branch).or(job.branch.clone()),
        );
    }
    for job in jobs.iter().filter(|j| j.base_of.is_some()) {
        let base = job
            .base_of
            .as_ref()
            .and_then(|b| branches.get(b).cloned().flatten());
        refresh_one(cache, job, base, wanted);
    }
    let roots: Vec<PathBuf> = jobs.iter().map(|j| j.repo.root().to_path_buf()).collect();
    cache
        .entries
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|root, _| roots.contains(root));
}

/// The repositories served, each with its base when it is a worktree.
fn jobs(inner: &Inner) -> Vec<Job> {
    match &inner.served {
        Served::Repos(r) => r
            .iter()
            .map(|e| Job {
                id: e.id.clone(),
                repo: e.repo.clone(),
                base_of: None,
                branch: None,
            })
            .collect(),
        Served::Hub(h) => h
            .snapshot()
            .all
            .iter()
            .filter_map(|r| {
                Some(Job {
                    id: r.entry.id.clone(),
                    repo: r.repo.as_ref().ok()?.clone(),
                    base_of: (r.entry.kind == RepoKind::Worktree)
                        .then(|| r.entry.worktree_of.clone())
                        .flatten(),
                    branch: r.entry.branch.clone(),
                })
            })
            .collect(),
    }
}

/// Asks git about `job` when its files changed, its base changed, it was
/// never asked, or (while `wanted`) its answer is old; returns the position.
fn refresh_one(
    cache: &GitCache,
    job: &Job,
    base: Option<String>,
    wanted: bool,
) -> Option<GitSummary> {
    let root = job.repo.root();
    let files = git_files(root);
    let old = cache.get(root);
    let fresh = old.as_ref().is_some_and(|o| {
        o.files == files && o.base == base && (!wanted || o.at.elapsed() < MAX_AGE)
    });
    if fresh {
        return old.and_then(|o| o.git);
    }
    let git = car_core::summarize(&job.id, &job.repo, &SummaryOptions::with_git(base.clone())).git;
    let entry = GitEntry {
        git: git.clone(),
        checked_at: Utc::now(),
        at: Instant::now(),
        files,
        base,
    };
    cache
        .entries
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(root.to_path_buf(), entry);
    git
}

/// The modification times of the files git changes when the position
/// changes (see the module docs).
fn git_files(root: &Path) -> Vec<Option<SystemTime>> {
    let dot = root.join(".git");
    let git_dir = if dot.is_file() {
        std::fs::read_to_string(&dot)
            .ok()
            .and_then(|t| Some(root.join(t.trim().strip_prefix("gitdir:")?.trim())))
            .unwrap_or(dot)
    } else {
        dot
    };
    let common = std::fs::read_to_string(git_dir.join("commondir"))
        .map(|t| git_dir.join(t.trim()))
        .unwrap_or_else(|_| git_dir.clone());
    let mut paths = vec![
        git_dir.join("HEAD"),
        git_dir.join("index"),
        git_dir.join("logs/HEAD"),
        common.join("logs/HEAD"),
        common.join("packed-refs"),
        common.join("refs/heads"),
        root.to_path_buf(),
    ];
    // Branches with a `/` (`job/x`) live in directories of their own.
    if let Ok(dirs) = std::fs::read_dir(common.join("refs/heads")) {
        paths.extend(dirs.flatten().map(|d| d.path()).filter(|p| p.is_dir()));
    }
    paths
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(root: &Path, args: &[&str]) {
        let ok = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(root)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn a_commit_changes_the_git_files_looked_at() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q", "-b", "main"]);
        git(root, &["commit", "-q", "--allow-empty", "-m", "one"]);
        let before = git_files(root);
        assert!(before.iter().filter(|t| t.is_some()).count() >= 4);
        std::thread::sleep(Duration::from_millis(20));
        git(root, &["commit", "-q", "--allow-empty", "-m", "two"]);
        assert_ne!(git_files(root), before);
        // A worktree's files are found through its `.git` file.
        let wt = root.join("wt");
        git(root, &["worktree", "add", "-q", "-b", "job/x", "wt"]);
        let wt_before = git_files(&wt);
        assert!(wt_before[0].is_some(), "{wt_before:?}");
        std::thread::sleep(Duration::from_millis(20));
        git(&wt, &["commit", "-q", "--allow-empty", "-m", "three"]);
        assert_ne!(git_files(&wt), wt_before);
    }
}
