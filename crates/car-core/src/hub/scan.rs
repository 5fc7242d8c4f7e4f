//! Registering repositories: `scan` (what is on disk), `add` (a path, or a
//! URL cloned into `repos_root`) and `remove`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::HubError;
use super::ids::{sanitize_repo_id, unique_id};
use super::manifest::{ManifestRepo, RepoKind};
use super::registry::{Hub, absolute};
use crate::control::InitOptions;
use crate::git::{Git, QUERY_TIMEOUT, WRITE_TIMEOUT};
use crate::paths::CAR_DIR;
use crate::repo::Repo;

/// What [`Hub::scan`] found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    /// Ids newly registered.
    pub added: Vec<String>,
    /// Ids already registered and still on disk.
    pub known: Vec<String>,
    /// Ids registered whose directory is gone.
    pub missing: Vec<String>,
    /// Ids in which `.codex-autorunner/` was created.
    pub initialised: Vec<String>,
}

/// What [`Hub::add`] did.
#[derive(Debug, Clone, Serialize)]
pub struct AddReport {
    /// The id registered.
    pub id: String,
    /// The repository's directory.
    pub path: PathBuf,
    /// Whether it was cloned from a URL.
    pub cloned: bool,
    /// Whether `.codex-autorunner/` was created in it.
    pub initialised: bool,
}

impl Hub {
    /// Registers the git repositories under `hub.repos_root` (to
    /// `hub.discover_depth` levels) and the worktrees directly under
    /// `hub.worktrees_root`; initialises car in them when
    /// `hub.auto_init_missing` or `init`.
    pub fn scan(&self, init: bool) -> Result<ScanReport, HubError> {
        let cfg = self.config();
        let mut found: Vec<(PathBuf, RepoKind)> = Vec::new();
        let skip = [cfg.worktrees_root.clone(), self.root().join(CAR_DIR)];
        find_repos(&cfg.repos_root, cfg.discover_depth, &skip, &mut found);
        if cfg.worktrees_root.is_dir() {
            let mut wts = Vec::new();
            find_repos(&cfg.worktrees_root, 1, &[], &mut wts);
            found.extend(wts.into_iter().map(|(p, _)| (p, RepoKind::Worktree)));
        }
        found.sort();
        let init = init || cfg.auto_init_missing;
        let mut report = ScanReport::default();
        let mut to_init = Vec::new();
        self.update(|m| {
            for (path, kind) in &found {
                let rel = self.relative(path)?;
                if let Some(e) = m.get_by_path(&rel) {
                    report.known.push(e.id.clone());
                    continue;
                }
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
                let base = sanitize_repo_id(name.as_deref().unwrap_or("repo"));
                let id = unique_id(&base, |c| m.get(c).is_some());
                let mut entry = ManifestRepo::new(&id, rel, *kind);
                if *kind == RepoKind::Base {
                    entry.display_name = name;
                } else {
                    entry.worktree_of = id
                        .split_once("--")
                        .map(|(b, _)| b.to_string())
                        .filter(|b| m.get(b).is_some());
                    entry.branch = current_branch(path);
                }
                report.added.push(id.clone());
                m.repos.push(entry);
            }
            for e in &m.repos {
                let p = self.path_of(e);
                if !p.exists() {
                    report.missing.push(e.id.clone());
                } else if init && !p.join(CAR_DIR).join("config.yml").is_file() {
                    to_init.push((e.id.clone(), p));
                }
            }
            Ok(())
        })?;
        for (id, path) in to_init {
            self.init_repo(&path)?;
            report.initialised.push(id);
        }
        Ok(report)
    }

    /// Registers a repository: `source` is a directory under the hub root
    /// holding a git work tree, or a URL (or a bare repository) cloned
    /// into `hub.repos_root`. `init` creates `.codex-autorunner/` in it
    /// (as does `hub.auto_init_missing`).
    pub fn add(&self, source: &str, id: Option<&str>, init: bool) -> Result<AddReport, HubError> {
        let local = absolute(Path::new(source));
        let (path, cloned) = if local.join(".git").exists() {
            (local, false)
        } else if is_url(source) || is_bare(&local) {
            let name = clone_name(source);
            let dest = self
                .config()
                .repos_root
                .join(sanitize_repo_id(id.unwrap_or(&name)));
            if dest.exists() {
                return Err(HubError::Refused(format!(
                    "cannot clone {source}: {} exists already",
                    dest.display()
                )));
            }
            let parent = dest.parent().unwrap_or(self.root());
            std::fs::create_dir_all(parent).map_err(|source| crate::PathError {
                action: "cannot create directory",
                path: parent.to_path_buf(),
                source,
            })?;
            let dest_text = dest.to_string_lossy().into_owned();
            Git::new(WRITE_TIMEOUT).checked(parent, &["clone", "--quiet", source, &dest_text])?;
            (dest, true)
        } else if local.exists() {
            return Err(HubError::Refused(format!(
                "{} is not a git repository (no .git); give a repository or a URL to clone",
                local.display()
            )));
        } else {
            return Err(HubError::Refused(format!(
                "{source} is neither a directory nor a git URL"
            )));
        };
        let rel = self.relative(&path)?;
        let entry = self.update(|m| {
            if let Some(e) = m.get_by_path(&rel) {
                return Err(HubError::Refused(format!(
                    "{} is registered already as `{}`",
                    rel.display(),
                    e.id
                )));
            }
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let wanted = sanitize_repo_id(id.or(name.as_deref()).unwrap_or("repo"));
            if id.is_some() && m.get(&wanted).is_some() {
                return Err(HubError::Refused(format!("the id `{wanted}` is taken")));
            }
            let id = unique_id(&wanted, |c| m.get(c).is_some());
            let mut entry = ManifestRepo::new(&id, rel.clone(), RepoKind::Base);
            entry.display_name = name;
            m.repos.push(entry.clone());
            Ok(entry)
        })?;
        let needs_init = !path.join(CAR_DIR).join("config.yml").is_file();
        let initialised = needs_init && (init || self.config().auto_init_missing);
        if initialised {
            self.init_repo(&path)?;
        }
        Ok(AddReport {
            id: entry.id,
            path,
            cloned,
            initialised,
        })
    }

    /// Unregisters a base repository (its files stay on disk); a worktree
    /// goes through [`Hub::remove_worktree`]. Refused while its loop runs,
    /// or while worktrees of it are registered.
    pub fn remove(
        &self,
        id: &str,
        force: bool,
    ) -> Result<Option<super::WorktreeRemoval>, HubError> {
        let entry = self.entry(id)?;
        if entry.kind == RepoKind::Worktree {
            return self.remove_worktree(id, force).map(Some);
        }
        let path = self.path_of(&entry);
        if Hub::loop_running(&path) {
            return Err(HubError::Refused(format!(
                "the loop of `{id}` is running; stop it first (`car stop --repo {}`)",
                path.display()
            )));
        }
        self.update(|m| {
            let children: Vec<&str> = m
                .repos
                .iter()
                .filter(|r| r.worktree_of.as_deref() == Some(id))
                .map(|r| r.id.as_str())
                .collect();
            if !children.is_empty() {
                return Err(HubError::Refused(format!(
                    "`{id}` has worktrees ({}); remove them first",
                    children.join(", ")
                )));
            }
            m.repos.retain(|r| r.id != id);
            Ok(())
        })?;
        Ok(None)
    }

    /// Creates `.codex-autorunner/` in a repository (existing files kept).
    pub(super) fn init_repo(&self, path: &Path) -> Result<(), HubError> {
        Repo::init(&InitOptions {
            path: path.to_path_buf(),
            git_init: false,
            force: false,
            load: self.load_options().clone(),
        })
        .map(|_| ())
        .map_err(|e| HubError::Init {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
    }
}

/// Directories holding `.git` under `dir`, `depth` levels down at most
/// (not below a repository, nor into hidden directories or `skip`).
fn find_repos(dir: &Path, depth: usize, skip: &[PathBuf], out: &mut Vec<(PathBuf, RepoKind)>) {
    if depth == 0 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let hidden = e.file_name().to_string_lossy().starts_with('.');
        if hidden || !p.is_dir() || skip.iter().any(|s| s == &p) {
            continue;
        }
        if p.join(".git").exists() {
            out.push((p, RepoKind::Base));
        } else {
            find_repos(&p, depth - 1, skip, out);
        }
    }
}

/// The branch checked out in `path`, if any.
pub(super) fn current_branch(path: &Path) -> Option<String> {
    let out = Git::new(QUERY_TIMEOUT)
        .checked(path, &["rev-parse", "--abbrev-ref", "HEAD"])
        .ok()?;
    let b = out.trim();
    (!b.is_empty() && b != "HEAD").then(|| b.to_string())
}

/// Whether `s` names a remote repository (`scheme://...` or `user@host:path`).
fn is_url(s: &str) -> bool {
    s.contains("://") || (s.contains('@') && s.contains(':') && !s.starts_with('/'))
}

/// Whether `p` is a bare git repository.
fn is_bare(p: &Path) -> bool {
    p.join("HEAD").is_file() && p.join("objects").is_dir() && p.join("refs").is_dir()
}

/// The directory name a clone of `source` gets (`x` for `.../x.git`).
fn clone_name(source: &str) -> String {
    let last = source
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("repo");
    last.strip_suffix(".git").unwrap_or(last).to_string()
}
