//! Errors of the hub: the manifest, the registry and worktrees.

use std::path::PathBuf;

use crate::fs_util::PathError;
use crate::git::GitError;

/// Errors of the hub.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// No hub at or above a directory.
    #[error(
        "no hub at or above {} (a hub holds .codex-autorunner/manifest.yml or a config with `mode: hub`; create one with `car init --mode hub`)",
        start.display()
    )]
    NotFound {
        /// Where the search started.
        start: PathBuf,
    },
    /// The manifest cannot be parsed or holds a bad entry.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// The line of the bad entry, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// The hub's config is invalid.
    #[error("{}: `hub.{key}` {message}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// The key under `hub.`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// No repository with this id in the manifest.
    #[error("no repository `{id}` in {} (see `car hub list`)", manifest.display())]
    UnknownRepo {
        /// The id asked for.
        id: String,
        /// The manifest searched.
        manifest: PathBuf,
    },
    /// The request cannot be done as asked.
    #[error("{0}")]
    Refused(String),
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] PathError),
    /// git failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// A registered repository cannot be opened.
    #[error("cannot open the repository `{id}` at {}: {source}", path.display())]
    Open {
        /// Its id.
        id: String,
        /// Its directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<crate::Error>,
    },
    /// Initialising car in a repository failed.
    #[error("cannot initialise car in {}: {source}", path.display())]
    Init {
        /// The repository.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<crate::Error>,
    },
}
