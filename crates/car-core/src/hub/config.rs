//! The hub's settings: the `hub:` mapping of `codex-autorunner.yml`,
//! `codex-autorunner.override.yml` and `.codex-autorunner/config.yml` at the
//! hub root (later files win, key by key). The keys are the Python
//! program's (`repos_root`, `worktrees_root`, `manifest`, `discover_depth`,
//! `auto_init_missing`) plus car's `worktree_branch_prefix` and
//! `worktree_setup_commands`.

use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use super::error::HubError;
use crate::fs_util::{normalize_under, read_optional};
use crate::paths::CAR_DIR;

/// The hub's settings, paths made absolute.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Where base repositories are looked for (`hub.repos_root`, `.`).
    pub repos_root: PathBuf,
    /// Where worktrees are made (`hub.worktrees_root`, `worktrees`).
    pub worktrees_root: PathBuf,
    /// The manifest (`hub.manifest`, `.codex-autorunner/manifest.yml`).
    pub manifest: PathBuf,
    /// How deep `scan` looks under `repos_root` (`hub.discover_depth`, 1).
    pub discover_depth: usize,
    /// Whether `scan` initialises car where it is missing
    /// (`hub.auto_init_missing`, true).
    pub auto_init_missing: bool,
    /// A new worktree's branch is this followed by its name
    /// (`hub.worktree_branch_prefix`, `job/`).
    pub worktree_branch_prefix: String,
    /// Commands run with `sh -c` in each new worktree
    /// (`hub.worktree_setup_commands`, none), unless the base repository's
    /// manifest entry lists its own.
    pub worktree_setup_commands: Vec<String>,
}

/// The files read, lowest precedence first.
pub(super) fn files(root: &Path) -> [PathBuf; 3] {
    [
        root.join("codex-autorunner.yml"),
        root.join("codex-autorunner.override.yml"),
        root.join(CAR_DIR).join("config.yml"),
    ]
}

impl HubConfig {
    /// Reads the hub settings of the hub at `root`.
    pub fn load(root: &Path) -> Result<Self, HubError> {
        let mut merged: Vec<(PathBuf, Mapping)> = Vec::new();
        for path in files(root) {
            let Some(bytes) = read_optional(&path)? else {
                continue;
            };
            let value: Value = serde_yaml::from_slice(&bytes).map_err(|e| HubError::Config {
                path: path.clone(),
                key: String::new(),
                message: format!("cannot be read: {e}"),
            })?;
            if let Some(Value::Mapping(m)) = value.get("hub") {
                merged.push((path, m.clone()));
            }
        }
        let find = |key: &str| -> Option<(&PathBuf, &Value)> {
            merged
                .iter()
                .rev()
                .find_map(|(p, m)| m.get(key).map(|v| (p, v)))
        };
        let bad = |p: &Path, key: &str, message: &str| HubError::Config {
            path: p.to_path_buf(),
            key: key.into(),
            message: message.into(),
        };
        let path_key = |key: &str, default: &str| -> Result<PathBuf, HubError> {
            match find(key) {
                None => Ok(normalize_under(root, Path::new(default))),
                Some((p, Value::String(s))) if !s.trim().is_empty() => {
                    let rel = Path::new(s.trim());
                    let abs = normalize_under(root, rel);
                    if rel.is_absolute() || !abs.starts_with(root) {
                        return Err(bad(p, key, "must be a path inside the hub root"));
                    }
                    Ok(abs)
                }
                Some((p, _)) => Err(bad(p, key, "must be a non-empty path")),
            }
        };
        let discover_depth = match find("discover_depth") {
            None => 1,
            Some((_, Value::Number(n))) if n.as_u64().is_some_and(|d| (1..=8).contains(&d)) => {
                n.as_u64().unwrap_or(1) as usize
            }
            Some((p, _)) => {
                return Err(bad(
                    p,
                    "discover_depth",
                    "must be a whole number from 1 to 8",
                ));
            }
        };
        let auto_init_missing = match find("auto_init_missing") {
            None => true,
            Some((_, Value::Bool(b))) => *b,
            Some((p, _)) => return Err(bad(p, "auto_init_missing", "must be true or false")),
        };
        let worktree_branch_prefix = match find("worktree_branch_prefix") {
            None => "job/".into(),
            Some((_, Value::Null)) => String::new(),
            Some((_, Value::String(s))) => s.trim().to_string(),
            Some((p, _)) => return Err(bad(p, "worktree_branch_prefix", "must be a string")),
        };
        let worktree_setup_commands = match find("worktree_setup_commands") {
            None | Some((_, Value::Null)) => Vec::new(),
            Some((p, Value::Sequence(s))) => s
                .iter()
                .map(|v| {
                    v.as_str().map(|s| s.trim().to_string()).ok_or_else(|| {
                        bad(
                            p,
                            "worktree_setup_commands",
                            "must be a list of command lines",
                        )
                    })
                })
                .filter(|r| r.as_ref().map_or(true, |s| !s.is_empty()))
                .collect::<Result<_, _>>()?,
            Some((p, _)) => {
                return Err(bad(
                    p,
                    "worktree_setup_commands",
                    "must be a list of command lines",
                ));
            }
        };
        Ok(Self {
            repos_root: path_key("repos_root", ".")?,
            worktrees_root: path_key("worktrees_root", "worktrees")?,
            manifest: path_key("manifest", ".codex-autorunner/manifest.yml")?,
            discover_depth,
            auto_init_missing,
            worktree_branch_prefix,
            worktree_setup_commands,
        })
    }
}
