//! The little git the loop needs: is this a repository, and commit the
//! work tree after a run.

use std::path::Path;
use std::process::{Command, Stdio};

/// Errors running git.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// git could not be started.
    #[error("cannot run git")]
    Spawn(#[source] std::io::Error),
    /// A git command failed.
    #[error("`git {args}` failed: {stderr}")]
    Failed {
        /// The arguments.
        args: String,
        /// Its stderr.
        stderr: String,
    },
}

/// Returns whether `root` is (inside) a git work tree, without running git.
pub(crate) fn is_repo(root: &Path) -> bool {
    root.ancestors().any(|d| d.join(".git").exists())
}

fn git(root: &Path, args: &[&str]) -> Result<String, GitError> {
    // gc in the foreground: a detached `git gc --auto` would be re-parented
    // to car (a subreaper) and ended with the agent's leftovers.
    let out = Command::new("git")
        .args(["-c", "gc.autoDetach=false"])
        .args(args)
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .map_err(GitError::Spawn)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(GitError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Stages every change of the work tree (honouring .gitignore) and commits
/// it with `message`. Returns the new commit id, or `None` when there was
/// nothing to commit.
pub(crate) fn commit_all(root: &Path, message: &str) -> Result<Option<String>, GitError> {
    git(root, &["add", "--all"])?;
    let staged = Command::new("git")
        .args(["diff", "--cached", "--quiet"])
        .current_dir(root)
        .stdin(Stdio::null())
        .status()
        .map_err(GitError::Spawn)?;
    if staged.success() {
        return Ok(None);
    }
    git(root, &["commit", "--quiet", "--no-verify", "-m", message])?;
    git(root, &["rev-parse", "HEAD"]).map(Some)
}

/// Runs `git init` in `root`.
pub(crate) fn init(root: &Path) -> Result<(), GitError> {
    git(root, &["init", "--quiet"]).map(|_| ())
}
