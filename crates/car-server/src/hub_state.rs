//! The repositories of a hub, for a server started in one: the manifest
//! read again only when it changed (its inode, size and modification time
//! are compared on each request: one `stat`), each repository opened once
//! and kept while its manifest entry (id and path) stays. A repository
//! added by `car hub add` or `car worktree new` (from a terminal or this
//! server) is served from the next request on; a removed one is gone.
//! A repository whose configuration changes is opened again when the
//! manifest next changes (or the server restarts).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use car_core::Hub;
use car_core::hub::ManifestRepo;

use crate::state::RepoEntry;

/// One registered repository.
#[derive(Debug, Clone)]
pub(crate) struct HubRepo {
    /// Its manifest entry.
    pub(crate) entry: ManifestRepo,
    /// Its directory.
    pub(crate) root: PathBuf,
    /// The repository, or why it cannot be opened (missing, not initialised).
    pub(crate) repo: Result<car_core::Repo, String>,
}

/// The repositories as the manifest last read lists them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    /// Every entry, in manifest order.
    pub(crate) all: Arc<Vec<HubRepo>>,
    /// Those that could be opened, as served.
    pub(crate) served: Arc<Vec<RepoEntry>>,
    /// Why the manifest cannot be read, when it cannot.
    pub(crate) error: Option<String>,
}

/// What identifies one version of the manifest file.
type Stamp = Option<(u64, u64, i64, i64)>;

/// A hub and its cached repositories.
#[derive(Debug)]
pub(crate) struct HubRepos {
    hub: Hub,
    cache: Mutex<(Stamp, Snapshot)>,
}

impl HubRepos {
    /// The hub's repositories, read on first use.
    pub(crate) fn new(hub: Hub) -> Self {
        Self {
            hub,
            // A stamp no file has: the first request reads the manifest.
            cache: Mutex::new((Some((u64::MAX, 0, 0, 0)), Snapshot::default())),
        }
    }

    /// The hub.
    pub(crate) fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The repositories now (reading the manifest again if it changed).
    pub(crate) fn snapshot(&self) -> Snapshot {
        let stamp = stamp_of(self.hub.manifest_path());
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.0 != stamp {
            let snapshot = self.reload(&cache.1);
            *cache = (stamp, snapshot);
        }
        cache.1.clone()
    }

    /// Reads the manifest and opens the entries new since `old`.
    fn reload(&self, old: &Snapshot) -> Snapshot {
        let entries = match self.hub.repos() {
            Ok(e) => e,
            Err(e) => {
                return Snapshot {
                    error: Some(e.to_string()),
                    ..old.clone()
                };
            }
        };
        let kept: HashMap<(&str, &PathBuf), &HubRepo> = old
            .all
            .iter()
            .filter(|r| r.repo.is_ok())
            .map(|r| ((r.entry.id.as_str(), &r.root), r))
            .collect();
        let all: Vec<HubRepo> = entries
            .into_iter()
            .map(|entry| {
                let root = self.hub.path_of(&entry);
                let repo = match kept.get(&(entry.id.as_str(), &root)) {
                    Some(r) => r.repo.clone(),
                    None => self.hub.repo(&entry.id).map_err(|e| e.to_string()),
                };
                HubRepo { entry, root, repo }
            })
            .collect();
        let served = all
            .iter()
            .filter_map(|r| {
                Some(RepoEntry {
                    id: r.entry.id.clone(),
                    repo: r.repo.as_ref().ok()?.clone(),
                })
            })
            .collect();
        Snapshot {
            all: Arc::new(all),
            served: Arc::new(served),
            error: None,
        }
    }
}

/// The manifest's inode, size and modification time (`None`: no file).
fn stamp_of(path: &std::path::Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_manifest_is_read_again_and_an_unchanged_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        Hub::init(dir.path()).unwrap();
        let hub = Hub::open(dir.path()).unwrap();
        let repos = HubRepos::new(hub.clone());
        assert!(repos.snapshot().all.is_empty());
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        hub.update(|m| {
            m.repos
                .push(ManifestRepo::new("a", "a", car_core::hub::RepoKind::Base));
            Ok(())
        })
        .unwrap();
        let snap = repos.snapshot();
        assert_eq!(snap.all.len(), 1);
        // Not initialised: listed, not served, with the reason.
        assert!(snap.served.is_empty());
        assert!(snap.all[0].repo.is_err());
        // The same file: the same snapshot (no re-read).
        assert!(Arc::ptr_eq(&snap.all, &repos.snapshot().all));
    }
}
