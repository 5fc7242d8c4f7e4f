//! Making a snapshot: seed, change summary, agent, redaction, atomic write.

use std::time::Instant;

use serde::Serialize;

use super::state::SnapshotState;
use super::{changes, prompt, redact, seed};
use crate::config::{Config, DocsConfig};
use crate::engine::unblock;
use crate::fs_util::{read_optional, write_atomic};
use crate::job::{self, JobError};
use crate::paths::RepoPaths;
use crate::stop::StopHandle;

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

impl From<crate::engine::Cancelled> for SnapshotError {
    fn from(e: crate::engine::Cancelled) -> Self {
        Self::Job(e.into())
    }
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
    let (owned, from_scratch) = (cfg.clone(), opts.from_scratch);
    let Prepared {
        seed,
        seed_ms,
        previous,
        prompt,
    } = unblock(move || prepare(&owned, from_scratch)).await??;
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
        let (docs, text) = (cfg.docs.clone(), content.clone());
        unblock(move || write(&docs, &text, &state)).await??;
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

/// What the agent's job starts from.
struct Prepared {
    seed: seed::Seed,
    seed_ms: f64,
    previous: Option<String>,
    prompt: String,
}

/// Collects the seed, reads the previous snapshot (unless `from_scratch`)
/// and its state, and renders the prompt (it reads files and runs git).
fn prepare(cfg: &Config, from_scratch: bool) -> Result<Prepared, SnapshotError> {
    let t = Instant::now();
    let seed = seed::collect(cfg);
    let seed_ms = t.elapsed().as_secs_f64() * 1000.0;
    let previous = if from_scratch {
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
        .map(|_| changes::change_summary(cfg, &seed, prev_state.as_ref()));
    let prompt = prompt::render_prompt(&seed.text, previous.as_deref(), changes.as_deref());
    Ok(Prepared {
        seed,
        seed_ms,
        previous,
        prompt,
    })
}

/// Writes SNAPSHOT.md, then its state, each atomically.
fn write(docs: &DocsConfig, content: &str, state: &SnapshotState) -> Result<(), SnapshotError> {
    write_atomic(&docs.snapshot, content.as_bytes())?;
    let mut json = serde_json::to_string_pretty(state).unwrap_or_default();
    json.push('\n');
    write_atomic(&docs.snapshot_state, json.as_bytes())?;
    Ok(())
}
