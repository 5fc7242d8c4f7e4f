//! What `snapshot_state.json` records of a snapshot: when, at which
//! commit, from which seed and within which budgets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::seed::SeedBudget;

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
