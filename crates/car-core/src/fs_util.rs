//! File helpers: errors that carry their path, and atomic writes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// An I/O error together with the path it happened on.
#[derive(Debug, Error)]
#[error("{action} {}", path.display())]
pub struct PathError {
    /// What was being done ("cannot read", "cannot write", ...).
    pub action: &'static str,
    /// The file or directory involved.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

/// Attaches a path and an action to an `io::Result`.
pub(crate) trait IoResultExt<T> {
    /// Converts the error into a [`PathError`] naming `path`.
    fn with_path(self, action: &'static str, path: &Path) -> Result<T, PathError>;
}

impl<T> IoResultExt<T> for io::Result<T> {
    fn with_path(self, action: &'static str, path: &Path) -> Result<T, PathError> {
        self.map_err(|source| PathError {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}

/// How much of a write must survive a crash of the machine (power loss);
/// a crash of car alone loses nothing either way (the data is in the OS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// The file's data and its name are on disk when the write returns
    /// (file and directory fsynced): for records that must not be lost.
    Durable,
    /// After a machine crash the file holds the old or the new content,
    /// never a torn or empty one (the data is synced before the rename), but
    /// the rename itself may be lost: for state that only matters while
    /// the runner lives.
    Consistent,
    /// No sync: for files whose loss in a machine crash costs nothing.
    None,
}

/// Writes `bytes` to `path` so that readers see either the old or the new
/// content, never a mix: a uniquely named temp file in the same directory is
/// written, fsynced and renamed over `path`, then the directory is fsynced.
///
/// When `path` is a symbolic link, the write goes through it: the file the
/// link points to (following every link of a chain) is replaced, in its own
/// directory, and the link stays a link.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PathError> {
    write_atomic_with(path, bytes, Durability::Durable)
}

/// [`write_atomic`] with the given durability. Errors name `path` (the
/// file being replaced), not the temp file.
pub(crate) fn write_atomic_with(
    path: &Path,
    bytes: &[u8],
    sync: Durability,
) -> Result<(), PathError> {
    let target = resolve_symlink(path)?;
    let path = target.as_path();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).with_path("cannot create directory", dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(
            ".{}.",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_path("cannot write", path)?;
    // Keep the permissions of the file being replaced (a user's doc may be
    // group-writable); new files get the umask default of tempfile (0600),
    // which we widen to the usual 0644.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)
            .map(|m| m.permissions().mode())
            .unwrap_or(0o644);
        let _ = fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode));
    }
    tmp.write_all(bytes).with_path("cannot write", path)?;
    if sync != Durability::None {
        tmp.as_file().sync_data().with_path("cannot write", path)?;
    }
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_path("cannot replace", path)?;
    if sync == Durability::Durable
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Links followed at most by [`resolve_symlink`] (the kernel's own limit).
const MAX_SYMLINK_HOPS: usize = 40;

/// Returns the file a chain of symbolic links at `path` ends at (which may
/// not exist yet), or `path` itself when it is not a link. Only the last
/// component is followed: a link among the parent directories is left to
/// the kernel, which resolves it the same way for the write.
pub(crate) fn resolve_symlink(path: &Path) -> Result<PathBuf, PathError> {
    let mut cur = path.to_path_buf();
    for _ in 0..MAX_SYMLINK_HOPS {
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                let next = fs::read_link(&cur).with_path("cannot read the symbolic link", &cur)?;
                cur = match cur.parent() {
                    Some(dir) if next.is_relative() => dir.join(next),
                    _ => next,
                };
            }
            _ => return Ok(cur),
        }
    }
    Err(PathError {
        action: "too many levels of symbolic links at",
        path: path.to_path_buf(),
        source: io::Error::other(format!("more than {MAX_SYMLINK_HOPS} links")),
    })
}

/// Reads a file to a string, returning `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, PathError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PathError {
            action: "cannot read",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Opens `path` for appending, creating it and its directory when needed.
pub(crate) fn open_append(path: &Path) -> Result<File, PathError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_path("cannot create directory", dir)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_path("cannot open", path)
}

/// An exclusive flock on a lock file, let go when dropped.
///
/// The lock is released explicitly (`LOCK_UN`), not by closing the file: a
/// flock belongs to the open file, and a child another thread is starting
/// right now holds a copy of every descriptor until it runs its program,
/// which would keep the lock held for as long as that takes.
#[derive(Debug)]
pub(crate) struct Locked(File);

impl Drop for Locked {
    fn drop(&mut self) {
        let _ = fs2::FileExt::unlock(&self.0);
    }
}

/// Takes the exclusive flock of `path` (created when missing, never
/// truncated), waiting for it.
pub(crate) fn lock_exclusive(path: &Path) -> Result<Locked, PathError> {
    let file = open_append(path)?;
    fs2::FileExt::lock_exclusive(&file).with_path("cannot lock", path)?;
    Ok(Locked(file))
}

/// Normalises `path` lexically (resolving `.` and `..` without touching the
/// file system) and joins it to `root` when relative.
pub(crate) fn normalize_under(root: &Path, path: &Path) -> PathBuf {
    use std::path::Component;
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_content_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "temp files left behind: {names:?}");
    }

    #[test]
    fn write_atomic_goes_through_symlinks_to_their_target() {
        let dir = tempfile::tempdir().unwrap();
        let real_dir = dir.path().join("shared");
        fs::create_dir(&real_dir).unwrap();
        let target = real_dir.join("TODO.md");
        fs::write(&target, "old").unwrap();
        // A relative link to a relative link: both must stay links.
        let hop = dir.path().join("hop.md");
        std::os::unix::fs::symlink("shared/TODO.md", &hop).unwrap();
        let link = dir.path().join("link.md");
        std::os::unix::fs::symlink("hop.md", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(fs::symlink_metadata(&hop).unwrap().file_type().is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"new");
        // The temp file lived in the target's directory and is gone.
        assert_eq!(fs::read_dir(&real_dir).unwrap().count(), 1);
        // A dangling link: the target is created.
        let dangling = dir.path().join("dangling.md");
        std::os::unix::fs::symlink("shared/NEW.md", &dangling).unwrap();
        write_atomic(&dangling, b"made").unwrap();
        assert_eq!(fs::read(real_dir.join("NEW.md")).unwrap(), b"made");
        // A loop is an error naming the link, not a hang.
        let a = dir.path().join("a");
        std::os::unix::fs::symlink("b", &a).unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("b")).unwrap();
        let e = write_atomic(&a, b"x").unwrap_err();
        assert!(e.to_string().contains("symbolic links"), "{e}");
    }

    #[test]
    fn normalize_resolves_parent_components() {
        let root = Path::new("/repo");
        assert_eq!(
            normalize_under(root, Path::new("a/../b.md")),
            PathBuf::from("/repo/b.md")
        );
        assert_eq!(
            normalize_under(root, Path::new("../x")),
            PathBuf::from("/x")
        );
    }
}
