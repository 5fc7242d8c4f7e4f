//! Repository ids, as the Python program makes them: a base repository's
//! id is its directory name with characters outside `[A-Za-z0-9._-]`
//! replaced by `-`; a worktree's is `<base>--<name>`, the name with
//! characters outside `[A-Za-z0-9._/-]` replaced by `-`, then `/` by `-`.

/// A base repository's id from a name (`repo` when nothing is left).
pub fn sanitize_repo_id(name: &str) -> String {
    let s = replace_runs(name.trim(), |c| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
    });
    let s = s.trim_matches('-');
    if s.is_empty() {
        "repo".into()
    } else {
        s.into()
    }
}

/// A name made safe for a branch: runs of characters outside
/// `[A-Za-z0-9._/-]` become `-` (`work` when nothing is left).
pub fn safe_branch(name: &str) -> String {
    let safe = replace_runs(name.trim(), |c| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-')
    });
    let safe = safe.trim_matches('-');
    if safe.is_empty() {
        "work".into()
    } else {
        safe.into()
    }
}

/// A worktree's id: `<base>--<name with unsafe characters replaced>`.
pub fn worktree_id(base: &str, name: &str) -> String {
    format!("{base}--{}", safe_branch(name).replace('/', "-"))
}

/// `base`, or `base-2`, `base-3`, ... the first not taken.
pub fn unique_id(base: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(base) {
        return base.to_string();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|c| !taken(c))
        .unwrap_or_else(|| base.to_string())
}

/// Replaces each run of characters not `keep` by one `-`.
fn replace_runs(s: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_run = false;
    for c in s.chars() {
        if keep(c) {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('-');
            in_run = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_python_rules() {
        assert_eq!(sanitize_repo_id("my repo!"), "my-repo");
        assert_eq!(sanitize_repo_id("  "), "repo");
        assert_eq!(worktree_id("alpha", "feat/x y"), "alpha--feat-x-y");
        assert_eq!(worktree_id("alpha", "a@@b"), "alpha--a-b");
        assert_eq!(worktree_id("alpha", "!!"), "alpha--work");
        assert_eq!(unique_id("a", |c| c == "a" || c == "a-2"), "a-3");
    }
}
