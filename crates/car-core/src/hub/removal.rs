//! Removing a worktree safely: refused while its loop runs; refused, unless
//! forced, while it holds uncommitted changes or commits that are on no
//! remote and not on the base repository's branch. When forced, what is
//! not elsewhere is archived first under the hub's
//! `.codex-autorunner/archive/<id>-<time>/`: `commits.bundle` (a git bundle
//! of the unmerged commits) and `uncommitted.patch` (every change of the
//! work tree against `HEAD`, untracked files included).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::HubError;
use super::manifest::RepoKind;
use super::registry::Hub;
use super::scan::current_branch;
use crate::fs_util::write_atomic;
use crate::git::{Git, QUERY_TIMEOUT, WRITE_TIMEOUT};
use crate::paths::CAR_DIR;

/// What is in a worktree and nowhere else.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AtRisk {
    /// Changed or untracked files (`git status --porcelain` lines), car's
    /// own untracked files under `.codex-autorunner/` left out.
    pub uncommitted: Vec<String>,
    /// Commits on no remote and not on the base branch.
    pub unpushed: u64,
    /// The base branch compared with.
    pub base_branch: Option<String>,
}

impl AtRisk {
    /// Whether nothing would be lost.
    pub fn is_empty(&self) -> bool {
        self.uncommitted.is_empty() && self.unpushed == 0
    }
}

/// What [`Hub::remove_worktree`] did.
#[derive(Debug, Clone, Serialize)]
pub struct WorktreeRemoval {
    /// The id removed.
    pub id: String,
    /// What was only there.
    pub at_risk: AtRisk,
    /// The archive directory, when something was archived.
    pub archive: Option<PathBuf>,
}

impl Hub {
    /// What a registered worktree holds that is nowhere else.
    pub fn at_risk(&self, id: &str) -> Result<AtRisk, HubError> {
        let entry = self.entry(id)?;
        let path = self.path_of(&entry);
        let base_branch = entry
            .worktree_of
            .as_deref()
            .and_then(|b| self.manifest().ok()?.get(b).cloned())
            .and_then(|b| current_branch(&self.path_of(&b)));
        at_risk(&path, base_branch)
    }

    /// Removes a registered worktree (see the module docs for the rules).
    pub fn remove_worktree(&self, id: &str, force: bool) -> Result<WorktreeRemoval, HubError> {
        let entry = self.entry(id)?;
        if entry.kind != RepoKind::Worktree {
            return Err(HubError::Refused(format!(
                "`{id}` is a base repository, not a worktree (use `car hub remove {id}`)"
            )));
        }
        let path = self.path_of(&entry);
        let base_path = entry
            .worktree_of
            .as_deref()
            .and_then(|b| self.manifest().ok()?.get(b).cloned())
            .map(|b| self.path_of(&b));
        let mut archive = None;
        let mut risk = AtRisk::default();
        if path.exists() {
            if Hub::loop_running(&path) {
                return Err(HubError::Refused(format!(
                    "the loop of `{id}` is running; stop it first (`car stop --repo {}`)",
                    path.display()
                )));
            }
            risk = self.at_risk(id)?;
            if !risk.is_empty() && !force {
                let mut what = Vec::new();
                if !risk.uncommitted.is_empty() {
                    what.push(format!("{} uncommitted change(s)", risk.uncommitted.len()));
                }
                if risk.unpushed > 0 {
                    what.push(format!(
                        "{} commit(s) on no remote and not on {}",
                        risk.unpushed,
                        risk.base_branch.as_deref().unwrap_or("the base branch")
                    ));
                }
                return Err(HubError::Refused(format!(
                    "the worktree `{id}` holds {}; push or commit them, or remove with --force (the work is archived first)",
                    what.join(" and ")
                )));
            }
            if !risk.is_empty() {
                archive = Some(self.archive(id, &path, &risk)?);
            }
            let git_dir = base_path.as_deref().filter(|p| p.exists()).unwrap_or(&path);
            let dest = path.to_string_lossy().into_owned();
            Git::new(WRITE_TIMEOUT).checked(git_dir, &["worktree", "remove", "--force", &dest])?;
        }
        self.update(|m| {
            m.repos.retain(|r| r.id != id);
            Ok(())
        })?;
        Ok(WorktreeRemoval {
            id: id.to_string(),
            at_risk: risk,
            archive,
        })
    }

    /// Writes the bundle and the patch of what is at risk.
    fn archive(&self, id: &str, path: &Path, risk: &AtRisk) -> Result<PathBuf, HubError> {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let dir = self
            .root()
            .join(CAR_DIR)
            .join("archive")
            .join(format!("{id}-{stamp}"));
        std::fs::create_dir_all(&dir).map_err(|source| crate::PathError {
            action: "cannot create directory",
            path: dir.clone(),
            source,
        })?;
        let git = Git::new(WRITE_TIMEOUT);
        let head = git
            .checked(path, &["rev-parse", "HEAD"])
            .unwrap_or_default();
        let branch = current_branch(path);
        if risk.unpushed > 0 {
            let bundle = dir.join("commits.bundle").to_string_lossy().into_owned();
            let tip = branch
                .as_ref()
                .map(|b| format!("refs/heads/{b}"))
                .unwrap_or_else(|| "HEAD".into());
            let mut args = vec!["bundle", "create", "--quiet", bundle.as_str(), tip.as_str()];
            let base_ref = risk
                .base_branch
                .as_ref()
                .map(|b| format!("^refs/heads/{b}"));
            if let Some(b) = &base_ref {
                args.push(b);
            }
            args.extend(["--not", "--remotes"]);
            git.checked(path, &args)?;
        }
        if !risk.uncommitted.is_empty() {
            // A throwaway index: stage everything there, diff it to HEAD.
            let index = dir.join(".index");
            let index_text = index.to_string_lossy().into_owned();
            let env = [("GIT_INDEX_FILE", index_text.as_str())];
            let fail = |args: &[&str], out: crate::git::GitOutput| {
                HubError::Git(crate::git::GitError::Failed {
                    args: args.join(" "),
                    stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                })
            };
            for args in [&["read-tree", "HEAD"][..], &["add", "-A", "--", "."][..]] {
                let out = git.run_env(path, args, &env)?;
                if !out.status.success() {
                    return Err(fail(args, out));
                }
            }
            let args = ["diff", "--cached", "--binary", "HEAD"];
            let out = git.run_env(path, &args, &env)?;
            if !out.status.success() {
                return Err(fail(&args, out));
            }
            write_atomic(&dir.join("uncommitted.patch"), &out.stdout)?;
            let _ = std::fs::remove_file(&index);
        }
        let info = serde_json::json!({
            "id": id,
            "path": path,
            "branch": branch,
            "head": head,
            "base_branch": risk.base_branch,
            "unpushed_commits": risk.unpushed,
            "uncommitted": risk.uncommitted,
            "restore": "git fetch <bundle> <branch>:<branch>; git apply --index uncommitted.patch",
        });
        let text = serde_json::to_string_pretty(&info).unwrap_or_default();
        write_atomic(&dir.join("archive.json"), text.as_bytes())?;
        Ok(dir)
    }
}

fn at_risk(path: &Path, base_branch: Option<String>) -> Result<AtRisk, HubError> {
    let git = Git::new(QUERY_TIMEOUT);
    let status = git.checked(path, &["status", "--porcelain", "--untracked-files=all"])?;
    let car = format!("{CAR_DIR}/");
    let uncommitted = status
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !(l.starts_with("??") && l[3..].starts_with(&car)))
        .map(String::from)
        .collect();
    let base_ref = base_branch.as_ref().map(|b| format!("refs/heads/{b}"));
    let mut args = vec!["rev-list", "--count", "HEAD", "--not", "--remotes"];
    if let Some(b) = &base_ref {
        args.push(b);
    }
    let unpushed = git.checked(path, &args)?.trim().parse().unwrap_or(0);
    Ok(AtRisk {
        uncommitted,
        unpushed,
        base_branch,
    })
}
