//! The bounded seed context a snapshot is made from: identity, a tree
//! outline, key files and excerpts, within byte and entry budgets, with
//! secrets kept out.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::redact::{is_secret_path, redact};
use crate::config::{Config, SnapshotConfig};
use crate::docs::DocKind;

/// Files listed (not read) when present, in this order.
const KEY_FILES: &[&str] = &[
    "README.md",
    "README.rst",
    "README.txt",
    "README",
    "Cargo.toml",
    "package.json",
    "pyproject.toml",
    "setup.py",
    "requirements.txt",
    "go.mod",
    "Gemfile",
    "pom.xml",
    "build.gradle",
    "CMakeLists.txt",
    "Makefile",
    "justfile",
    "Dockerfile",
    "docker-compose.yml",
    ".gitlab-ci.yml",
    ".ci/run",
    "codex-autorunner.yml",
];
/// Manifests of which the first one found is excerpted.
const MANIFESTS: &[&str] = &[
    "Cargo.toml",
    "package.json",
    "pyproject.toml",
    "go.mod",
    "setup.py",
    "pom.xml",
];
/// Without git, the walk stops after this many files.
const MAX_WALK: usize = 200_000;
/// Bytes looked at to tell binary files.
const SNIFF: usize = 2048;

/// Budgets actually used, and what was cut.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct SeedBudget {
    /// Bytes read from files.
    pub(crate) bytes_read: u64,
    /// The total byte budget.
    pub(crate) max_total_bytes: u64,
    /// The per-file byte cap.
    pub(crate) max_file_bytes: u64,
    /// Tree entries shown.
    pub(crate) tree_entries: usize,
    /// The tree entry cap.
    pub(crate) max_entries: usize,
    /// The tree depth cap.
    pub(crate) max_depth: usize,
}

/// The collected seed.
#[derive(Debug, Clone)]
pub(crate) struct Seed {
    /// The seed text given to the agent.
    pub(crate) text: String,
    /// Whether git was used.
    pub(crate) git: bool,
    /// `HEAD`, when there is one.
    pub(crate) head: Option<String>,
    /// The branch, when on one.
    pub(crate) branch: Option<String>,
    /// Files known (tracked, or found by the walk), secrets excluded.
    pub(crate) file_count: usize,
    /// FNV-1a 64 hash of each file read, by path.
    pub(crate) file_hashes: BTreeMap<String, String>,
    /// Without git: `size:mtime` of every listed file, to tell what changed.
    pub(crate) file_stamps: BTreeMap<String, String>,
    /// Budgets used.
    pub(crate) budget: SeedBudget,
    /// What was cut or skipped; empty when nothing was.
    pub(crate) truncations: Vec<String>,
}

/// Collects the seed context of the repository of `cfg`.
pub(crate) fn collect(cfg: &Config) -> Seed {
    let limits = &cfg.snapshot;
    let root = &cfg.root;
    let git = root.join(".git").exists();
    let (head, branch) = if git {
        (
            git_out(root, &["rev-parse", "HEAD"]),
            git_out(root, &["rev-parse", "--abbrev-ref", "HEAD"]).filter(|b| b != "HEAD"),
        )
    } else {
        (None, None)
    };
    let mut files = if git {
        crate::git::tracked_files(root)
    } else {
        None
    }
    .unwrap_or_else(|| walk_files(root));
    files.retain(|f| !is_secret_path(f) && !f.starts_with(".codex-autorunner/"));
    files.sort_unstable();
    files.dedup();

    let mut seed = Seed {
        text: String::new(),
        git,
        head: head.clone(),
        branch: branch.clone(),
        file_count: files.len(),
        file_hashes: BTreeMap::new(),
        file_stamps: if git {
            BTreeMap::new()
        } else {
            stamps(root, &files)
        },
        budget: SeedBudget {
            max_total_bytes: limits.max_total_bytes,
            max_file_bytes: limits.max_file_bytes,
            max_entries: limits.max_entries,
            max_depth: limits.max_depth,
            ..SeedBudget::default()
        },
        truncations: Vec::new(),
    };
    let mut t = String::from("# Seed context (bounded)\n\n## Repo identity\n");
    let _ = writeln!(t, "- Root: {}", root.display());
    let _ = writeln!(
        t,
        "- VCS: {}",
        if git {
            "git"
        } else {
            "none (files found by a walk that honours .gitignore)"
        }
    );
    let _ = writeln!(t, "- Branch: {}", branch.as_deref().unwrap_or("(none)"));
    let _ = writeln!(t, "- HEAD: {}", head.as_deref().unwrap_or("(none)"));
    let _ = writeln!(t, "- Files: {}", files.len());

    let _ = writeln!(
        t,
        "\n## Tree outline\n_Max depth {}, max entries {}_",
        limits.max_depth, limits.max_entries
    );
    tree_outline(&files, limits, &mut t, &mut seed);

    t.push_str("\n## Key files\n");
    let set: std::collections::HashSet<&str> = files.iter().map(String::as_str).collect();
    let mut any = false;
    for k in KEY_FILES {
        if set.contains(k) {
            let size = std::fs::metadata(root.join(k))
                .map(|m| m.len())
                .unwrap_or(0);
            let _ = writeln!(t, "- `{k}` ({size} bytes)");
            any = true;
        }
    }
    let workflows: Vec<&String> = files
        .iter()
        .filter(|f| f.starts_with(".github/workflows/"))
        .collect();
    for w in &workflows {
        let _ = writeln!(t, "- `{w}`");
        any = true;
    }
    if !any {
        t.push_str("- (none found)\n");
    }

    t.push_str("\n## Work docs excerpts\n");
    for kind in DocKind::ALL {
        let path = kind.path(&cfg.docs);
        let rel = cfg.display_path(path);
        let _ = writeln!(t, "\n### {} (`{rel}`)", kind.name().to_uppercase());
        excerpt(path, &rel, limits.excerpt_chars, &mut t, &mut seed);
    }
    if let Some(readme) = ["README.md", "README.rst", "README.txt", "README"]
        .iter()
        .find(|r| set.contains(**r))
    {
        let _ = writeln!(t, "\n## README excerpt (`{readme}`)");
        excerpt(
            &root.join(readme),
            readme,
            limits.readme_chars,
            &mut t,
            &mut seed,
        );
    }
    if let Some(m) = MANIFESTS.iter().find(|m| set.contains(**m)) {
        let _ = writeln!(t, "\n## Manifest excerpt (`{m}`)");
        excerpt(&root.join(m), m, limits.readme_chars, &mut t, &mut seed);
    }
    seed.text = t;
    seed
}

fn tree_outline(files: &[String], limits: &SnapshotConfig, t: &mut String, seed: &mut Seed) {
    let mut prev: Vec<&str> = Vec::new();
    let mut shown = 0usize;
    for f in files {
        let parts: Vec<&str> = f.split('/').collect();
        let cut = parts.len() > limits.max_depth;
        let parts = &parts[..parts.len().min(limits.max_depth)];
        let common = prev
            .iter()
            .zip(parts.iter())
            .take_while(|(a, b)| a == b)
            .count();
        if common == parts.len() && cut {
            continue; // deeper files of a directory already shown with "/…"
        }
        for (depth, part) in parts.iter().enumerate().skip(common) {
            if shown >= limits.max_entries {
                let _ = writeln!(t, "- … (truncated after {shown} entries)");
                seed.truncations
                    .push(format!("tree outline cut after {shown} entries"));
                seed.budget.tree_entries = shown;
                return;
            }
            let last = depth + 1 == parts.len();
            let _ = writeln!(
                t,
                "{}- {part}{}",
                "  ".repeat(depth),
                if last && cut { "/…" } else { "" }
            );
            shown += 1;
        }
        if cut && !seed.truncations.iter().any(|x| x.starts_with("tree depth")) {
            seed.truncations
                .push(format!("tree depth cut at {}", limits.max_depth));
        }
        prev = parts.to_vec();
    }
    seed.budget.tree_entries = shown;
}

/// Appends a fenced, capped, redacted excerpt of `path` to `t`.
fn excerpt(path: &Path, rel: &str, max_chars: usize, t: &mut String, seed: &mut Seed) {
    let Ok(meta) = std::fs::metadata(path) else {
        t.push_str("_(missing)_\n");
        return;
    };
    let b = &mut seed.budget;
    if meta.len() > b.max_file_bytes {
        let _ = writeln!(
            t,
            "_Skipped: {} bytes, over the per-file cap of {}_",
            meta.len(),
            b.max_file_bytes
        );
        seed.truncations.push(format!(
            "{rel}: skipped, {} bytes > {}",
            meta.len(),
            b.max_file_bytes
        ));
        return;
    }
    let left = b.max_total_bytes.saturating_sub(b.bytes_read);
    if left == 0 {
        t.push_str("_Skipped: the total byte budget is used up_\n");
        seed.truncations
            .push(format!("{rel}: skipped, total budget used up"));
        return;
    }
    let mut bytes = Vec::new();
    if std::fs::File::open(path)
        .and_then(|f| f.take(left).read_to_end(&mut bytes))
        .is_err()
    {
        t.push_str("_(unreadable)_\n");
        return;
    }
    b.bytes_read += bytes.len() as u64;
    if (bytes.len() as u64) < meta.len() {
        seed.truncations.push(format!(
            "{rel}: read {} of {} bytes (total budget)",
            bytes.len(),
            meta.len()
        ));
    }
    seed.file_hashes
        .insert(rel.to_string(), format!("{:016x}", fnv1a(&bytes)));
    if is_binary(&bytes) {
        let _ = writeln!(t, "_Skipped: binary file_");
        return;
    }
    // Redact the whole text first: a cut through a token would leave a
    // piece too short to be recognised.
    let text =
        redact(&crate::docs::strip_bom(&String::from_utf8_lossy(&bytes)).replace("\r\n", "\n"));
    let cut: String = text.chars().take(max_chars).collect();
    if cut.len() < text.len() {
        seed.truncations
            .push(format!("{rel}: excerpt cut at {max_chars} characters"));
    }
    let body = cut.trim_end().to_string();
    let fence = if body.contains("```") { "````" } else { "```" };
    let _ = writeln!(t, "{fence}text\n{body}\n{fence}");
}

fn is_binary(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(SNIFF)];
    if head.contains(&0) {
        return true;
    }
    let control = head
        .iter()
        .filter(|&&c| c < 0x20 && !matches!(c, b'\n' | b'\r' | b'\t' | 0x0c))
        .count();
    !head.is_empty() && control * 10 > head.len() * 3
}

/// FNV-1a 64: a fast, stable hash for telling whether a file changed.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A read-only git query's output (see [`crate::git::query`]).
pub(crate) fn git_out(root: &Path, args: &[&str]) -> Option<String> {
    crate::git::query(root, args)
}

fn walk_files(root: &Path) -> Vec<String> {
    ignore::WalkBuilder::new(root)
        .hidden(false)
        .require_git(false)
        .filter_entry(|e| e.file_name() != ".git")
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .filter_map(|e| {
            e.path()
                .strip_prefix(root)
                .ok()
                .map(|p| p.to_string_lossy().into_owned())
        })
        .take(MAX_WALK)
        .collect()
}

/// `size:mtime` of each file (without git there is no cheaper way to see
/// what changed).
fn stamps(root: &Path, files: &[String]) -> BTreeMap<String, String> {
    files
        .iter()
        .filter_map(|f| {
            let m = std::fs::metadata(root.join(f)).ok()?;
            let mtime = m
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_nanos();
            Some((f.clone(), format!("{}:{mtime}", m.len())))
        })
        .collect()
}
