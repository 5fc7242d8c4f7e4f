//! `car snapshot`: a briefing of the repository (`SNAPSHOT.md`) that a person
//! pastes into another chat, written by the agent from a bounded seed
//! context. Incremental when a snapshot exists: the agent gets the previous
//! snapshot and what changed since.

pub(crate) mod redact;
pub(crate) mod seed;

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::fs_util::{read_optional, write_atomic};
use crate::job::{self, JobError};
use crate::paths::RepoPaths;
use crate::stop::StopHandle;
use seed::{SeedBudget, git_out};

/// What `snapshot_state.json` records.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SnapshotState {
    /// When (UTC).
    pub generated_at: String,
    /// `HEAD` at the time.
    pub head_sha: Option<String>,
    /// The branch.
    pub branch: Option<String>,
    /// Whether it was made from scratch (else incremental).
    pub from_scratch: bool,
    /// Hash of the seed text.
    pub seed_hash: String,
    /// Bytes read for the seed.
    pub seed_bytes_read: u64,
    /// Hash of each file read, by path.
    pub seed_file_hashes: BTreeMap<String, String>,
    /// Without git: `size:mtime` of every listed file.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub file_stamps: BTreeMap<String, String>,
    /// Budgets and caps used.
    #[serde(default)]
    pub budget: Option<SnapshotBudget>,
    /// Whether anything was cut or skipped.
    pub truncated: bool,
    /// What was cut or skipped.
    #[serde(default)]
    pub truncations: Vec<String>,
}

/// The budgets of a snapshot's seed, as recorded.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SnapshotBudget {
    /// Bytes read.
    pub bytes_read: u64,
    /// Total byte budget.
    pub max_total_bytes: u64,
    /// Per-file cap.
    pub max_file_bytes: u64,
    /// Tree entries shown.
    pub tree_entries: usize,
    /// Tree entry cap.
    pub max_entries: usize,
    /// Tree depth cap.
    pub max_depth: usize,
}

impl From<SeedBudget> for SnapshotBudget {
    fn from(b: SeedBudget) -> Self {
        Self {
            bytes_read: b.bytes_read,
            max_total_bytes: b.max_total_bytes,
            max_file_bytes: b.max_file_bytes,
            tree_entries: b.tree_entries,
            max_entries: b.max_entries,
            max_depth: b.max_depth,
        }
    }
}

/// Options of `car snapshot`.
#[derive(Debug, Clone, Default)]
pub struct SnapshotOptions {
    /// Ignore an existing snapshot.
    pub from_scratch: bool,
    /// Return the snapshot without writing SNAPSHOT.md.
    pub dry: bool,
    /// PATH for the agent.
    pub path_env: Option<std::ffi::OsString>,
    /// The program that answers `__supervise` (see [`crate::supervisor_main`]):
    /// the agent then runs under a per-run supervisor.
    pub supervisor: Option<std::path::PathBuf>,
}

/// What `car snapshot` did.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotReport {
    /// The snapshot text (redacted).
    pub content: String,
    /// Where it was written (None with `dry`).
    pub written_to: Option<std::path::PathBuf>,
    /// Whether the agent got a previous snapshot and a change summary.
    pub incremental: bool,
    /// Whether the seed was cut anywhere.
    pub truncated: bool,
    /// Milliseconds spent collecting the seed.
    pub seed_ms: f64,
    /// Files listed in the seed.
    pub files: usize,
}

/// Errors of `car snapshot`.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The agent job failed.
    #[error(transparent)]
    Job(#[from] JobError),
    /// The agent answered with nothing.
    #[error("the agent's answer was empty; nothing was written")]
    Empty,
    /// A file could not be written.
    #[error(transparent)]
    Io(#[from] crate::fs_util::PathError),
}

/// The seed collection alone (what the benchmark measures).
pub(crate) fn collect_seed(cfg: &Config) -> seed::Seed {
    seed::collect(cfg)
}

/// Makes a snapshot: seed, change summary, agent, redaction, atomic write.
pub(crate) async fn generate(
    cfg: &Config,
    paths: &RepoPaths,
    opts: &SnapshotOptions,
    stop: &StopHandle,
) -> Result<SnapshotReport, SnapshotError> {
    let t = Instant::now();
    let seed = seed::collect(cfg);
    let seed_ms = t.elapsed().as_secs_f64() * 1000.0;
    let previous = if opts.from_scratch {
        None
    } else {
        read_optional(&cfg.docs.snapshot)?
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .filter(|s| !s.trim().is_empty())
    };
    let prev_state: Option<SnapshotState> =
        read_optional(&cfg.docs.snapshot_state)?.and_then(|b| serde_json::from_slice(&b).ok());
    let changes = previous
        .as_ref()
        .map(|_| change_summary(cfg, &seed, prev_state.as_ref()));
    let prompt = render_prompt(&seed.text, previous.as_deref(), changes.as_deref());
    let model = cfg.codex.models_large.as_deref();
    let out = job::run_job(
        cfg,
        paths,
        job::JobSpec {
            name: "snapshot",
            prompt: &prompt,
            model,
            timeout: cfg.snapshot.timeout,
            path_env: opts.path_env.as_ref(),
            supervisor: opts.supervisor.as_deref(),
        },
        stop,
    )
    .await?;
    let content = redact::redact(out.text.trim());
    if content.is_empty() {
        return Err(SnapshotError::Empty);
    }
    let content = format!("{content}\n");
    let truncated = !seed.truncations.is_empty();
    let written_to = if opts.dry {
        None
    } else {
        write_atomic(&cfg.docs.snapshot, content.as_bytes())?;
        let state = SnapshotState {
            generated_at: crate::time::iso_seconds(crate::time::now()),
            head_sha: seed.head.clone(),
            branch: seed.branch.clone(),
            from_scratch: previous.is_none(),
            seed_hash: format!("{:016x}", seed::fnv1a(seed.text.as_bytes())),
            seed_bytes_read: seed.budget.bytes_read,
            seed_file_hashes: seed.file_hashes.clone(),
            file_stamps: seed.file_stamps.clone(),
            budget: Some(seed.budget.clone().into()),
            truncated,
            truncations: seed.truncations.clone(),
        };
        let mut json = serde_json::to_string_pretty(&state).unwrap_or_default();
        json.push('\n');
        write_atomic(&cfg.docs.snapshot_state, json.as_bytes())?;
        Some(cfg.docs.snapshot.clone())
    };
    Ok(SnapshotReport {
        content,
        written_to,
        incremental: previous.is_some(),
        truncated,
        seed_ms,
        files: seed.file_count,
    })
}

/// What changed since the previous snapshot: commits since its HEAD and the
/// working tree's status (git), else the seed files whose hash changed.
/// Secret paths never appear.
fn change_summary(cfg: &Config, seed: &seed::Seed, prev: Option<&SnapshotState>) -> String {
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

fn render_prompt(seed: &str, previous: Option<&str>, changes: Option<&str>) -> String {
    let mut p = String::from(crate::templates::SNAPSHOT_PROMPT);
    p.push_str("\n<SEED_CONTEXT>\n");
    p.push_str(seed);
    p.push_str("</SEED_CONTEXT>\n");
    match (previous, changes) {
        (Some(prev), Some(ch)) => {
            p.push_str("\n<PREVIOUS_SNAPSHOT>\n");
            p.push_str(prev.trim_end());
            p.push_str("\n</PREVIOUS_SNAPSHOT>\n\n<CHANGES_SINCE_LAST_SNAPSHOT>\n");
            p.push_str(ch);
            p.push_str("</CHANGES_SINCE_LAST_SNAPSHOT>\n\nUpdate the previous snapshot: keep what is still true, change what the changes affect, and remove what is no longer true. Answer with the whole updated snapshot.\n");
        }
        _ => p.push_str(
            "\nWrite a fresh snapshot from the seed context. Answer with the snapshot only.\n",
        ),
    }
    p
}
