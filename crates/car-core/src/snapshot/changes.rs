//! What changed since the previous snapshot, for an incremental one.

use super::redact;
use super::seed::{self, git_out};
use super::state::SnapshotState;
use crate::config::Config;

/// What changed since the previous snapshot: commits since its HEAD and the
/// working tree's status (git), else the seed files whose hash changed.
/// Secret paths never appear.
pub(super) fn change_summary(
    cfg: &Config,
    seed: &seed::Seed,
    prev: Option<&SnapshotState>,
) -> String {
    let limit = cfg.snapshot.change_lines;
    let mut lines: Vec<String> = Vec::new();
    let mut out = String::new();
    let root = &cfg.root;
    let clean = |l: &str| -> bool {
        // name-status and porcelain lines end with the path(s)
        !l.split(['\t', ' ']).skip(1).any(|p| {
            let p = p.trim_matches('"');
            redact::is_secret_path(p) || p.starts_with(".codex-autorunner/")
        })
    };
    if seed.git {
        match prev.and_then(|p| p.head_sha.as_deref()) {
            Some(old) if Some(old) != seed.head.as_deref() => {
                let range = format!("{old}..HEAD");
                match git_out(root, &["diff", "--name-status", &range]) {
                    Some(d) => {
                        out.push_str(&format!(
                            "Committed changes since the last snapshot ({old:.12}..HEAD):\n"
                        ));
                        lines.extend(d.lines().filter(|l| clean(l)).map(str::to_string));
                    }
                    None => out.push_str("The last snapshot's HEAD is no longer in the history.\n"),
                }
            }
            Some(_) => out.push_str("No commits since the last snapshot.\n"),
            None => out.push_str("The last snapshot recorded no HEAD.\n"),
        }
        if let Some(st) = git_out(root, &["status", "--porcelain", "--untracked-files=normal"]) {
            let st: Vec<String> = st
                .lines()
                .filter(|l| clean(l))
                .map(str::to_string)
                .collect();
            if !st.is_empty() {
                lines.push("Working tree (git status --porcelain):".to_string());
                lines.extend(st);
            }
        }
    } else {
        // Every listed file by size and mtime, the excerpted ones by content.
        out.push_str("Files changed since the last snapshot (no git):\n");
        let mut changed = std::collections::BTreeMap::new();
        for (now, old) in [
            (&seed.file_stamps, prev.map(|p| &p.file_stamps)),
            (&seed.file_hashes, prev.map(|p| &p.seed_file_hashes)),
        ] {
            // A previous snapshot without this record cannot tell additions.
            let known = old.is_some_and(|o| !o.is_empty());
            for (path, v) in now {
                match old.and_then(|o| o.get(path)) {
                    Some(h) if h == v => {}
                    Some(_) => {
                        changed.insert(path.clone(), 'M');
                    }
                    None if known => {
                        changed.entry(path.clone()).or_insert('A');
                    }
                    None => {}
                }
            }
            if let Some(o) = old {
                for k in o.keys().filter(|k| !now.contains_key(*k)) {
                    changed.insert(k.clone(), 'D');
                }
            }
        }
        lines.extend(changed.into_iter().map(|(p, c)| format!("{c}\t{p}")));
    }
    if lines.is_empty() {
        out.push_str("No changes detected.\n");
    }
    let total = lines.len();
    for l in lines.into_iter().take(limit) {
        out.push_str(&l);
        out.push('\n');
    }
    if total > limit {
        out.push_str(&format!("… ({} more lines)\n", total - limit));
    }
    out
}
