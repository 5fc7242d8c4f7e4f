//! The hub: a directory of repositories and git worktrees, listed in the
//! Python program's manifest (`.codex-autorunner/manifest.yml`), so an
//! existing Python hub opens unchanged. [`Hub`] opens one, reads and
//! changes its registry (scan, add, remove) and makes, lists and removes
//! worktrees safely.

mod config;
mod error;
mod ids;
mod manifest;
mod member;
mod registry;
mod removal;
mod scan;
mod supervisor;
mod worktree;

pub use config::HubConfig;
pub use error::HubError;
pub use ids::{safe_branch, sanitize_repo_id, unique_id, worktree_id};
pub use manifest::{MANIFEST_VERSION, Manifest, ManifestRepo, RepoKind};
pub use member::HubMembership;
pub use registry::{Hub, HubInitReport};
pub use removal::{AtRisk, WorktreeRemoval};
pub use scan::{AddReport, ScanReport};
pub use supervisor::{
    HubEvent, Phase, Queue, StartRequest, SuperviseOptions, SupervisorLock, SupervisorSettings,
    Wish,
};
pub use worktree::{SetupOutcome, WorktreeCreated, WorktreeInfo, WorktreeRequest};
