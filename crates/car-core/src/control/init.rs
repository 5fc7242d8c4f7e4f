//! `car init`: creating `.codex-autorunner/` with its config, docs and
//! `.gitignore`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{self, ConfigError, LoadOptions};
use crate::docs::DocKind;
use crate::fs_util::{PathError, read_optional, write_atomic};
use crate::paths::RepoPaths;
use crate::state::{StateError, StateStore};
use crate::templates;

/// Errors of `car init`.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// No git repository and `--git-init` not given.
    #[error("no git repository at or above {}", path.display())]
    NoGit {
        /// Where init was asked to run.
        path: PathBuf,
    },
    /// `git init` failed.
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
    /// The existing configuration is broken (nothing was written).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file could not be written.
    #[error(transparent)]
    Io(#[from] PathError),
}

/// What `car init` should do.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Where to initialise (the git root at or above it is used).
    pub path: PathBuf,
    /// Run `git init` when there is no repository.
    pub git_init: bool,
    /// Overwrite existing files (each is backed up to `<name>.bak` first).
    pub force: bool,
    /// CAR_* environment for loading the config.
    pub load: LoadOptions,
}

/// What `car init` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InitReport {
    /// The repository root.
    pub root: PathBuf,
    /// Whether `git init` was run.
    pub git_initialized: bool,
    /// Files created.
    pub created: Vec<PathBuf>,
    /// Files replaced (with the backup's path).
    pub replaced: Vec<(PathBuf, PathBuf)>,
    /// Files left as they were.
    pub kept: Vec<PathBuf>,
}

/// The Python program's `.codex-autorunner/.gitignore` (ignores everything,
/// the work docs included, which made its git auto-commit a no-op).
const PYTHON_GITIGNORE: &str = "*";

/// Creates `.codex-autorunner/` with its config, docs and `.gitignore`.
/// Idempotent: existing files are kept unless `force`, which backs each up.
pub(crate) fn init(opts: &InitOptions) -> Result<InitReport, InitError> {
    let start = absolute(&opts.path);
    let mut report = InitReport::default();
    let (root, needs_git) = match start.ancestors().find(|d| d.join(".git").exists()) {
        Some(r) => (r.to_path_buf(), false),
        None if opts.git_init => (start.clone(), true),
        None => return Err(InitError::NoGit { path: start }),
    };
    let paths = RepoPaths::new(&root);
    // Validate what exists before writing anything (`git init` included).
    let resolved = config::load(&paths, &opts.load)?;
    if needs_git {
        std::fs::create_dir_all(&start).map_err(|source| PathError {
            action: "cannot create directory",
            path: start.clone(),
            source,
        })?;
        crate::git::init(&start)?;
        report.git_initialized = true;
    }
    let cfg = &resolved.config;
    report.root = root.clone();

    let mut put =
        |path: &Path, content: &str, replace_if: &dyn Fn(&str) -> bool| -> Result<(), PathError> {
            match read_optional(path)? {
                None => {
                    write_atomic(path, content.as_bytes())?;
                    report.created.push(path.to_path_buf());
                }
                Some(old) if opts.force || replace_if(&String::from_utf8_lossy(&old)) => {
                    if old == content.as_bytes() {
                        report.kept.push(path.to_path_buf());
                        return Ok(());
                    }
                    let bak = backup_path(path);
                    write_atomic(&bak, &old)?;
                    write_atomic(path, content.as_bytes())?;
                    report.replaced.push((path.to_path_buf(), bak));
                }
                Some(_) => report.kept.push(path.to_path_buf()),
            }
            Ok(())
        };
    let never = |_: &str| false;
    put(&paths.config_file(), templates::REPO_CONFIG, &never)?;
    put(&paths.gitignore(), templates::GITIGNORE, &|old| {
        old.trim() == PYTHON_GITIGNORE
    })?;
    for kind in DocKind::ALL {
        put(kind.path(&cfg.docs), templates::doc_template(kind), &never)?;
    }
    if !paths.state_file().exists() {
        StateStore::new(&paths)
            .update(|_| ())
            .map_err(|StateError::Io(e)| e)?;
        report.created.push(paths.state_file());
    }
    Ok(report)
}

fn absolute(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    std::fs::canonicalize(&abs)
        .unwrap_or_else(|_| crate::fs_util::normalize_under(Path::new("/"), &abs))
}

/// Returns `<path>.bak`, or `<path>.bak.N` when that exists already.
pub(crate) fn backup_path(path: &Path) -> PathBuf {
    let base = format!("{}.bak", path.display());
    let mut candidate = PathBuf::from(&base);
    let mut n = 1;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{base}.{n}"));
        n += 1;
    }
    candidate
}
