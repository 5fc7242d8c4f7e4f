//! The git part of a summary: branch, ahead/behind, dirty, from
//! `git status --porcelain=v2 --branch` (and `git rev-list` against a base
//! when the branch has no upstream).

use std::path::Path;
use std::time::Duration;

use crate::git::Git;

use super::model::GitSummary;

/// Longest one git query of a summary may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The git position of the work tree at `root`; `None` when it is not one
/// (or git fails or times out). `base` is compared with when the branch has
/// no upstream.
pub(super) fn git_summary(root: &Path, base: Option<&str>) -> Option<GitSummary> {
    let git = Git::new(TIMEOUT);
    let out = git.query_bytes(
        root,
        &[
            "status",
            "--porcelain=v2",
            "--branch",
            "--untracked-files=normal",
        ],
    )?;
    let mut summary = parse_status(&String::from_utf8_lossy(&out));
    if summary.compared_with.is_none()
        && let Some(base) = base
    {
        let range = format!("{base}...HEAD");
        if let Some(out) = git.query_bytes(root, &["rev-list", "--left-right", "--count", &range])
            && let Some((behind, ahead)) = parse_left_right(&String::from_utf8_lossy(&out))
        {
            summary.compared_with = Some(base.to_string());
            summary.ahead = Some(ahead);
            summary.behind = Some(behind);
        }
    }
    Some(summary)
}

/// Reads `git status --porcelain=v2 --branch`: the `# branch.*` headers,
/// and any other line means a change.
pub(super) fn parse_status(text: &str) -> GitSummary {
    let mut s = GitSummary::default();
    for line in text.lines() {
        if let Some(head) = line.strip_prefix("# branch.head ") {
            s.branch = (head != "(detached)").then(|| head.to_string());
        } else if let Some(up) = line.strip_prefix("# branch.upstream ") {
            s.compared_with = Some(up.to_string());
        } else if let Some(ab) = line.strip_prefix("# branch.ab ") {
            let mut parts = ab.split_whitespace();
            s.ahead = parts.next().and_then(|a| a.strip_prefix('+')?.parse().ok());
            s.behind = parts.next().and_then(|b| b.strip_prefix('-')?.parse().ok());
        } else if !line.starts_with('#') && !line.is_empty() {
            s.dirty = true;
        }
    }
    // An upstream that is gone has no `branch.ab`: nothing to compare with.
    if s.ahead.is_none() {
        s.compared_with = None;
    }
    s
}

/// Reads `git rev-list --left-right --count BASE...HEAD`: `(behind, ahead)`.
fn parse_left_right(text: &str) -> Option<(u64, u64)> {
    let mut parts = text.split_whitespace();
    let left = parts.next()?.parse().ok()?;
    let right = parts.next()?.parse().ok()?;
    Some((left, right))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_headers_give_branch_upstream_and_divergence() {
        let s = parse_status(
            "# branch.oid 0123\n# branch.head job/a\n# branch.upstream origin/job/a\n# branch.ab +2 -1\n",
        );
        assert_eq!(s.branch.as_deref(), Some("job/a"));
        assert_eq!(s.compared_with.as_deref(), Some("origin/job/a"));
        assert_eq!((s.ahead, s.behind), (Some(2), Some(1)));
        assert!(!s.dirty);
    }

    #[test]
    fn a_change_line_makes_it_dirty_and_detached_has_no_branch() {
        let s = parse_status("# branch.oid 0123\n# branch.head (detached)\n? new.txt\n");
        assert_eq!(s.branch, None);
        assert_eq!(s.compared_with, None);
        assert!(s.dirty);
    }

    #[test]
    fn a_real_work_tree_against_a_base_branch() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let git = |args: &[&str]| {
            let ok = std::process::Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args(args)
                .current_dir(root)
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q", "-b", "main"]);
        git(&["commit", "-q", "--allow-empty", "-m", "one"]);
        git(&["checkout", "-q", "-b", "job/x"]);
        git(&["commit", "-q", "--allow-empty", "-m", "two"]);
        git(&["commit", "-q", "--allow-empty", "-m", "three"]);
        let s = git_summary(root, Some("main")).unwrap();
        assert_eq!(s.branch.as_deref(), Some("job/x"));
        assert_eq!(s.compared_with.as_deref(), Some("main"));
        assert_eq!((s.ahead, s.behind), (Some(2), Some(0)));
        assert!(!s.dirty);
        std::fs::write(root.join("f.txt"), "x").unwrap();
        let s = git_summary(root, None).unwrap();
        assert!(s.dirty);
        assert_eq!(s.compared_with, None);
        assert!(git_summary(&root.join("missing"), None).is_none());
    }
}
