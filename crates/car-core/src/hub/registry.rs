//! [`Hub`]: a directory of repositories and worktrees, listed in its
//! manifest. Reading never writes; every change of the manifest is made
//! under an exclusive lock (`.codex-autorunner/manifest.lock`) and written
//! atomically, so two `car` processes never lose each other's entries.

use std::fs::File;
use std::path::{Path, PathBuf};

use fs2::FileExt;
use serde::Serialize;

use super::config::{HubConfig, files};
use super::error::HubError;
use super::manifest::{Manifest, ManifestRepo};
use crate::config::LoadOptions;
use crate::fs_util::{IoResultExt, normalize_under, read_optional, write_atomic};
use crate::paths::{CAR_DIR, RepoPaths};
use crate::repo::Repo;

/// The config `car init --mode hub` writes.
const HUB_CONFIG: &str = "# codex-autorunner hub config: this directory holds repositories.\n\
version: 2\nmode: hub\n\n\
# hub:\n\
#   repos_root: .\n\
#   worktrees_root: worktrees\n\
#   discover_depth: 1\n\
#   auto_init_missing: true\n\
#   worktree_branch_prefix: job/\n\
#   worktree_setup_commands: []\n";

/// A hub: its root, settings and manifest.
#[derive(Debug, Clone)]
pub struct Hub {
    root: PathBuf,
    config: HubConfig,
    load: LoadOptions,
}

/// What [`Hub::init`] did.
#[derive(Debug, Clone, Serialize)]
pub struct HubInitReport {
    /// The hub root.
    pub root: PathBuf,
    /// Files created.
    pub created: Vec<PathBuf>,
    /// Files left as they were.
    pub kept: Vec<PathBuf>,
}

impl Hub {
    /// Opens the hub at or above `start` (the nearest directory whose
    /// `.codex-autorunner/` holds a manifest or a config with `mode: hub`).
    pub fn open(start: impl AsRef<Path>) -> Result<Self, HubError> {
        Self::open_with(start, &LoadOptions::default())
    }

    /// [`Hub::open`] with the `CAR_*` environment used to load the config of
    /// repositories the hub initialises.
    pub fn open_with(start: impl AsRef<Path>, load: &LoadOptions) -> Result<Self, HubError> {
        let start = absolute(start.as_ref());
        for dir in start.ancestors() {
            if is_hub(dir)? {
                return Ok(Self {
                    config: HubConfig::load(dir)?,
                    root: dir.to_path_buf(),
                    load: load.clone(),
                });
            }
        }
        Err(HubError::NotFound { start })
    }

    /// Makes `path` a hub (creating the directory): a config with
    /// `mode: hub` and an empty manifest. Existing files are kept.
    pub fn init(path: impl AsRef<Path>) -> Result<HubInitReport, HubError> {
        let root = absolute(path.as_ref());
        std::fs::create_dir_all(&root).with_path("cannot create directory", &root)?;
        let mut report = HubInitReport {
            root: root.clone(),
            created: Vec::new(),
            kept: Vec::new(),
        };
        let config = root.join(CAR_DIR).join("config.yml");
        if let Some(bytes) = read_optional(&config)? {
            if mode_of(&bytes).as_deref() != Some("hub") {
                return Err(HubError::Refused(format!(
                    "{} exists and is not a hub config (mode: hub); `car init --mode hub` leaves it alone",
                    config.display()
                )));
            }
            report.kept.push(config);
        } else {
            write_atomic(&config, HUB_CONFIG.as_bytes())?;
            report.created.push(config);
        }
        let cfg = HubConfig::load(&root)?;
        if cfg.manifest.exists() {
            report.kept.push(cfg.manifest);
        } else {
            write_atomic(&cfg.manifest, Manifest::empty().render().as_bytes())?;
            report.created.push(cfg.manifest);
        }
        Ok(report)
    }

    /// The hub root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The hub's settings.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    pub(super) fn load_options(&self) -> &LoadOptions {
        &self.load
    }

    /// The manifest file.
    pub fn manifest_path(&self) -> &Path {
        &self.config.manifest
    }

    /// Reads the manifest (an empty one when the file does not exist yet).
    pub fn manifest(&self) -> Result<Manifest, HubError> {
        match read_optional(&self.config.manifest)? {
            None => Ok(Manifest::empty()),
            Some(bytes) => Manifest::parse(&String::from_utf8_lossy(&bytes), &self.config.manifest),
        }
    }

    /// Every registered repository and worktree, in manifest order.
    pub fn repos(&self) -> Result<Vec<ManifestRepo>, HubError> {
        Ok(self.manifest()?.repos)
    }

    /// The manifest entry with this id.
    pub fn entry(&self, id: &str) -> Result<ManifestRepo, HubError> {
        self.manifest()?
            .get(id)
            .cloned()
            .ok_or_else(|| self.unknown(id))
    }

    /// Opens the registered repository with this id.
    pub fn repo(&self, id: &str) -> Result<Repo, HubError> {
        let entry = self.entry(id)?;
        let path = self.path_of(&entry);
        Repo::open_with(&path, &self.load).map_err(|e| HubError::Open {
            id: id.to_string(),
            path,
            source: Box::new(e),
        })
    }

    /// The absolute path of an entry.
    pub fn path_of(&self, entry: &ManifestRepo) -> PathBuf {
        normalize_under(&self.root, &entry.path)
    }

    /// `path` relative to the hub root, refused when it is outside.
    pub fn relative(&self, path: &Path) -> Result<PathBuf, HubError> {
        let abs = absolute(path);
        abs.strip_prefix(&self.root)
            .map(Path::to_path_buf)
            .map_err(|_| {
                HubError::Refused(format!(
                    "{} is outside the hub {}; a hub registers only what is under its root",
                    abs.display(),
                    self.root.display()
                ))
            })
    }

    /// Whether a loop runs in the repository at `path` (its run lock is held).
    pub fn loop_running(path: &Path) -> bool {
        crate::lock::is_held(&RepoPaths::new(path))
    }

    /// Reads the manifest, lets `change` edit it and writes it back, all
    /// under the manifest lock. Nothing is written when `change` fails.
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut Manifest) -> Result<T, HubError>,
    ) -> Result<T, HubError> {
        let lock_path = self.config.manifest.with_extension("lock");
        if let Some(dir) = lock_path.parent() {
            std::fs::create_dir_all(dir).with_path("cannot create directory", dir)?;
        }
        let lock = File::create(&lock_path).with_path("cannot open", &lock_path)?;
        lock.lock_exclusive().with_path("cannot lock", &lock_path)?;
        let mut manifest = self.manifest()?;
        let out = change(&mut manifest)?;
        write_atomic(&self.config.manifest, manifest.render().as_bytes())?;
        let _ = FileExt::unlock(&lock);
        Ok(out)
    }

    pub(super) fn unknown(&self, id: &str) -> HubError {
        HubError::UnknownRepo {
            id: id.to_string(),
            manifest: self.config.manifest.clone(),
        }
    }
}

/// Whether `dir` is a hub root.
pub(super) fn is_hub(dir: &Path) -> Result<bool, HubError> {
    let car = dir.join(CAR_DIR);
    if !car.is_dir() {
        return Ok(false);
    }
    if car.join("manifest.yml").is_file() {
        return Ok(true);
    }
    for f in files(dir) {
        if let Some(bytes) = read_optional(&f)?
            && let Some(mode) = mode_of(&bytes)
        {
            return Ok(mode == "hub");
        }
    }
    Ok(false)
}

/// The top-level `mode` of a config file, when it says.
fn mode_of(bytes: &[u8]) -> Option<String> {
    let v: serde_yaml::Value = serde_yaml::from_slice(bytes).ok()?;
    v.get("mode")?.as_str().map(String::from)
}

/// `p` made absolute (from the current directory) and canonical where it exists.
pub(super) fn absolute(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    std::fs::canonicalize(&abs).unwrap_or_else(|_| normalize_under(Path::new("/"), &abs))
}
