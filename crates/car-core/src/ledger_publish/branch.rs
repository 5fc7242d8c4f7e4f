//! The ledger branch, written with git's plumbing only: blobs
//! (`hash-object -w`), a tree built in a throw-away index
//! (`GIT_INDEX_FILE`, `update-index --cacheinfo`, `write-tree`), a commit
//! (`commit-tree`) and a compare-and-swap of the branch (`update-ref NEW
//! OLD`). The user's checkout, index, HEAD and stash are never read nor
//! written, none of the repository's hooks runs (`core.hooksPath` is
//! `/dev/null` for these commands), and the branch is checked again before
//! each move: once someone checks it out, it is left alone (an error
//! names the worktree). Pushing runs `git push --no-verify REMOTE B:B`; a rejected push
//! fetches the remote's branch into `refs/car/ledger-remote/REMOTE/B`, and
//! the next commit has it as a second parent, so the push after goes
//! through and nothing of either side is lost.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::git::{Git, GitError};

use super::PublishError;

/// The author and committer of the ledger's commits.
const IDENTITY: [(&str, &str); 4] = [
    ("GIT_AUTHOR_NAME", "car ledger"),
    ("GIT_AUTHOR_EMAIL", "car-ledger@localhost"),
    ("GIT_COMMITTER_NAME", "car ledger"),
    ("GIT_COMMITTER_EMAIL", "car-ledger@localhost"),
];

/// The branch `name` of the repository at `root`, pushed to `remote`.
#[derive(Debug, Clone)]
pub(crate) struct Branch {
    root: PathBuf,
    name: String,
    remote: String,
    git: Git,
}

/// One file of the branch's tree.
pub(crate) struct File {
    /// Its path in the tree (`/`-separated).
    pub(crate) path: String,
    /// Its bytes.
    pub(crate) bytes: Vec<u8>,
}

impl Branch {
    /// Checks that `root` is in a git repository, that `name` is a valid
    /// branch name checked out nowhere, and that `remote` is a remote of
    /// the repository or a URL or path.
    pub(crate) fn open(root: &Path, name: &str, remote: &str) -> Result<Self, PublishError> {
        let git = Git::new(Duration::from_secs(120)).without_hooks();
        let b = Self {
            root: root.to_path_buf(),
            name: name.to_string(),
            remote: remote.to_string(),
            git,
        };
        if b.git.checked(root, &["rev-parse", "--git-dir"]).is_err() {
            return Err(PublishError::NotARepository(root.to_path_buf()));
        }
        if b.git
            .checked(root, &["check-ref-format", "--branch", name])
            .is_err()
            || name.starts_with('-')
        {
            return Err(PublishError::BadBranch(name.to_string()));
        }
        b.not_checked_out()?;
        let looks_like_url = remote.contains(':') || remote.contains('/');
        if !looks_like_url
            && b.git
                .checked(root, &["remote", "get-url", "--", remote])
                .is_err()
        {
            return Err(PublishError::NoRemote {
                remote: remote.to_string(),
                root: root.to_path_buf(),
            });
        }
        Ok(b)
    }

    /// An error naming the worktree where the branch is checked out, if it
    /// is (moving it then would change that worktree's HEAD under its user).
    fn not_checked_out(&self) -> Result<(), PublishError> {
        let worktrees = self
            .git
            .checked(&self.root, &["worktree", "list", "--porcelain"])?;
        let mut path = String::new();
        for line in worktrees.lines() {
            if let Some(p) = line.strip_prefix("worktree ") {
                path = p.to_string();
            }
            if line.strip_prefix("branch ") == Some(self.full_ref().as_str()) {
                return Err(PublishError::CheckedOut {
                    branch: self.name.clone(),
                    worktree: PathBuf::from(&path),
                });
            }
        }
        Ok(())
    }

    fn full_ref(&self) -> String {
        format!("refs/heads/{}", self.name)
    }

    fn remote_ref(&self) -> String {
        let remote: String = self
            .remote
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("refs/car/ledger-remote/{remote}/{}", self.name)
    }

    fn resolve(&self, rev: &str) -> Result<Option<String>, PublishError> {
        let out = self
            .git
            .run(&self.root, &["rev-parse", "--verify", "-q", rev])?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
    }

    /// The branch's commit, when it exists.
    pub(crate) fn tip(&self) -> Result<Option<String>, PublishError> {
        self.resolve(&format!("{}^{{commit}}", self.full_ref()))
    }

    /// Writes `files` as a tree and returns its id.
    fn write_tree(&self, files: &[File]) -> Result<String, PublishError> {
        let tmp = tempfile::tempdir().map_err(PublishError::Temp)?;
        let mut paths = Vec::new();
        for (i, f) in files.iter().enumerate() {
            let p = tmp.path().join(format!("blob{i}"));
            crate::fs_util::write_atomic(&p, &f.bytes)?;
            paths.push(p.display().to_string());
        }
        let mut args = vec!["hash-object", "-w", "--no-filters", "--"];
        args.extend(paths.iter().map(String::as_str));
        let ids = self.git.checked(&self.root, &args)?;
        let index = tmp.path().join("index");
        let index = index.display().to_string();
        let env = [("GIT_INDEX_FILE", index.as_str())];
        let cacheinfo: Vec<String> = ids
            .lines()
            .zip(files)
            .map(|(id, f)| format!("100644,{id},{}", f.path))
            .collect();
        let mut args = vec!["update-index", "--add"];
        for c in &cacheinfo {
            args.push("--cacheinfo");
            args.push(c);
        }
        self.checked_env(&args, &env)?;
        self.checked_env(&["write-tree"], &env)
    }

    fn checked_env(&self, args: &[&str], env: &[(&str, &str)]) -> Result<String, PublishError> {
        let out = self.git.run_env(&self.root, args, env)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(GitError::Failed {
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            }
            .into())
        }
    }

    /// Commits `files` on the branch when its tree differs from the tip's
    /// (or the remote's branch, last fetched, is not in its history yet).
    /// Returns the new commit, or `None` when nothing changed.
    pub(crate) fn commit(
        &self,
        files: &[File],
        message: &str,
    ) -> Result<Option<String>, PublishError> {
        let tree = self.write_tree(files)?;
        let tip = self.tip()?;
        let old_tree = match &tip {
            Some(t) => self.resolve(&format!("{t}^{{tree}}"))?,
            None => None,
        };
        let remote_tip = self.resolve(&format!("{}^{{commit}}", self.remote_ref()))?;
        let merge = match (&remote_tip, &tip) {
            (Some(r), Some(t)) => {
                let out = self
                    .git
                    .run(&self.root, &["merge-base", "--is-ancestor", r, t])?;
                (!out.status.success()).then(|| r.clone())
            }
            (Some(r), None) => Some(r.clone()),
            (None, _) => None,
        };
        if old_tree.as_deref() == Some(tree.as_str()) && merge.is_none() {
            return Ok(None);
        }
        // Unattended: never signed (commit-tree does not read commit.gpgSign;
        // the flag keeps it so).
        let mut args = vec!["commit-tree", "--no-gpg-sign", tree.as_str(), "-m", message];
        for p in tip.iter().chain(merge.iter()) {
            args.push("-p");
            args.push(p);
        }
        let commit = self.checked_env(&args, &IDENTITY)?;
        self.not_checked_out()?;
        let old = tip.unwrap_or_default();
        let full = self.full_ref();
        self.checked_env(
            &[
                "update-ref",
                "-m",
                "car ledger publish",
                &full,
                &commit,
                &old,
            ],
            &[],
        )?;
        Ok(Some(commit))
    }

    /// Pushes the branch; `false` when the remote had it already. On a
    /// rejection the remote's branch is fetched, for the next commit to
    /// merge.
    pub(crate) fn push(&self) -> Result<bool, PublishError> {
        let spec = format!("{0}:{0}", self.full_ref());
        let out = self.git.run(
            &self.root,
            &[
                "push",
                "--no-verify",
                "--porcelain",
                "--",
                &self.remote,
                &spec,
            ],
        )?;
        if out.status.success() {
            let said = String::from_utf8_lossy(&out.stdout);
            return Ok(!said.contains("[up to date]"));
        }
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let rejected = text.contains("[rejected]") || text.contains("[remote rejected]");
        let reason = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && *l != "Done" && !l.starts_with("To "))
            .collect::<Vec<_>>()
            .join("; ");
        if rejected {
            let fetch = format!("+{}:{}", self.full_ref(), self.remote_ref());
            let fetched = self.git.run(
                &self.root,
                &[
                    "fetch",
                    "--no-write-fetch-head",
                    "--no-tags",
                    "--",
                    &self.remote,
                    &fetch,
                ],
            )?;
            return Err(PublishError::Rejected {
                remote: self.remote.clone(),
                branch: self.name.clone(),
                reason,
                merge_next: fetched.status.success(),
            });
        }
        Err(PublishError::PushFailed {
            remote: self.remote.clone(),
            branch: self.name.clone(),
            reason,
        })
    }
}
