//! Which hub a repository or worktree belongs to: the nearest directory
//! above it that is a hub and whose manifest lists it. Loading a config asks
//! this at every command, so it costs a few `stat`s per parent directory and
//! one read of the manifest when a hub is found.

use std::path::{Path, PathBuf};

use super::config::HubConfig;
use super::manifest::Manifest;
use super::registry::is_hub;
use crate::fs_util::{normalize_under, read_optional};

/// A repository's place in a hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubMembership {
    /// The hub root.
    pub root: PathBuf,
    /// The repository's id in the manifest (`demo--fix-login`).
    pub id: String,
    /// Its `display_name` in the manifest, when set.
    pub display_name: Option<String>,
}

impl HubMembership {
    /// The hub that lists the repository rooted at `repo_root`, if any: the
    /// nearest hub above it, and only when its manifest lists the repository
    /// (a directory merely inside a hub is not one of its repositories). A
    /// hub whose manifest cannot be read counts as not listing it.
    pub fn find(repo_root: &Path) -> Option<Self> {
        let repo = std::fs::canonicalize(repo_root).unwrap_or_else(|_| repo_root.to_path_buf());
        let hub = repo
            .ancestors()
            .skip(1)
            .find(|dir| is_hub(dir).unwrap_or(false))?;
        let manifest = manifest_path(hub);
        let text = read_optional(&manifest).ok()??;
        let manifest = match Manifest::parse(&String::from_utf8_lossy(&text), &manifest) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "the hub manifest cannot be read; hub-wide settings are left out");
                return None;
            }
        };
        let listed = |entry_path: &Path| {
            let abs = normalize_under(hub, entry_path);
            abs == repo || std::fs::canonicalize(&abs).is_ok_and(|c| c == repo)
        };
        let entry = manifest
            .repos
            .iter()
            .find(|e| normalize_under(hub, &e.path) == repo)
            .or_else(|| manifest.repos.iter().find(|e| listed(&e.path)))?;
        Some(Self {
            root: hub.to_path_buf(),
            id: entry.id.clone(),
            display_name: entry.display_name.clone().filter(|n| !n.trim().is_empty()),
        })
    }

    /// The name people see in notifications: the display name, else the id.
    pub fn name(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.id)
    }
}

/// The manifest of the hub at `root`: the usual place, unless the hub's
/// settings move it (`hub.manifest`).
fn manifest_path(root: &Path) -> PathBuf {
    let usual = root.join(crate::paths::CAR_DIR).join("manifest.yml");
    if usual.is_file() {
        return usual;
    }
    HubConfig::load(root).map_or(usual, |c| c.manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub_with(entries: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let car = dir.path().join(".codex-autorunner");
        std::fs::create_dir_all(&car).unwrap();
        std::fs::write(
            car.join("manifest.yml"),
            format!("version: 3\nrepos:\n{entries}"),
        )
        .unwrap();
        for d in ["demo", "worktrees/demo--fix-login", "loose"] {
            std::fs::create_dir_all(dir.path().join(d).join(".codex-autorunner")).unwrap();
        }
        dir
    }

    #[test]
    fn a_listed_repository_or_worktree_finds_its_hub_id_and_name() {
        let dir = hub_with(
            "- id: demo\n  path: demo\n  kind: base\n- id: demo--fix-login\n  path: worktrees/demo--fix-login\n  kind: worktree\n  worktree_of: demo\n  display_name: Fix login\n",
        );
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let base = HubMembership::find(&dir.path().join("demo")).unwrap();
        assert_eq!(base.root, root);
        assert_eq!((base.id.as_str(), base.name()), ("demo", "demo"));
        let wt = HubMembership::find(&dir.path().join("worktrees/demo--fix-login")).unwrap();
        assert_eq!(wt.id, "demo--fix-login");
        assert_eq!(wt.name(), "Fix login");
    }

    #[test]
    fn a_directory_the_manifest_does_not_list_is_in_no_hub() {
        let dir = hub_with("- id: demo\n  path: demo\n  kind: base\n");
        assert_eq!(HubMembership::find(&dir.path().join("loose")), None);
        assert_eq!(HubMembership::find(dir.path()), None, "the hub itself");
        let outside = tempfile::tempdir().unwrap();
        assert_eq!(HubMembership::find(outside.path()), None);
    }
}
