//! A full disk: telling it from other errors, and a reserve of space so
//! that the loop can still record why it stopped when nothing else fits.

use std::io::Write;
use std::path::PathBuf;

use crate::paths::RepoPaths;

/// Bytes the reserve holds: room for the final `state.json` (a few KiB, in
/// a temp file beside the old one) and the last ledger lines.
const RESERVE_BYTES: usize = 256 * 1024;

/// Returns whether `e` (or any error it wraps) is an I/O error saying there
/// is no room: no space (`ENOSPC`), no quota (`EDQUOT`), or the file size
/// limit (`EFBIG`, `RLIMIT_FSIZE`).
pub(crate) fn is_disk_full(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io_is_disk_full(io)
        {
            return true;
        }
        cur = err.source();
    }
    false
}

fn io_is_disk_full(e: &std::io::Error) -> bool {
    use nix::errno::Errno;
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || e.kind() == std::io::ErrorKind::FileTooLarge
        || e.raw_os_error().is_some_and(|c| {
            [Errno::ENOSPC, Errno::EDQUOT, Errno::EFBIG]
                .iter()
                .any(|&n| n as i32 == c)
        })
}

/// A file of [`RESERVE_BYTES`] in `.codex-autorunner/`, written when the
/// loop starts and deleted when it ends. When a write fails for space, the
/// loop deletes it first, so that the stop can still be recorded.
#[derive(Debug)]
pub(crate) struct DiskReserve {
    path: PathBuf,
    held: bool,
}

impl DiskReserve {
    /// Writes the reserve file. A disk already too full for it gets no
    /// reserve (the loop will stop on the first write that fails anyway).
    pub(crate) fn take(paths: &RepoPaths) -> Self {
        let path = paths.disk_reserve_file();
        let written = std::fs::File::create(&path).and_then(|mut f| f.write_all(&filler()));
        let held = match written {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "cannot write the disk space reserve");
                let _ = std::fs::remove_file(&path);
                false
            }
        };
        Self { path, held }
    }

    /// Deletes the reserve, giving its space back; returns whether there was
    /// one to give.
    pub(crate) fn release(&mut self) -> bool {
        let had = std::mem::replace(&mut self.held, false);
        had && std::fs::remove_file(&self.path).is_ok()
    }
}

impl Drop for DiskReserve {
    fn drop(&mut self) {
        self.release();
    }
}

/// Bytes that a compressing file system (btrfs, ZFS) cannot shrink, so the
/// reserve really holds its size on disk.
fn filler() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut v = Vec::with_capacity(RESERVE_BYTES);
    while v.len() < RESERVE_BYTES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(RESERVE_BYTES);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs_util::PathError;

    #[test]
    fn disk_full_is_found_through_wrapping_errors() {
        let io = std::io::Error::from_raw_os_error(nix::errno::Errno::ENOSPC as i32);
        let e = PathError {
            action: "cannot write",
            path: "/r/runs/1/output.log".into(),
            source: io,
        };
        let wrapped = crate::Error::Io(e);
        assert!(is_disk_full(&wrapped));
        let other = crate::Error::Io(PathError {
            action: "cannot write",
            path: "/r/x".into(),
            source: std::io::Error::from_raw_os_error(nix::errno::Errno::EACCES as i32),
        });
        assert!(!is_disk_full(&other));
        let big = std::io::Error::from_raw_os_error(nix::errno::Errno::EFBIG as i32);
        assert!(is_disk_full(&big));
    }

    #[test]
    fn the_reserve_is_written_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(dir.path());
        std::fs::create_dir_all(&paths.car_dir).unwrap();
        let mut r = DiskReserve::take(&paths);
        let len = std::fs::metadata(paths.disk_reserve_file()).unwrap().len();
        assert_eq!(len, RESERVE_BYTES as u64);
        assert!(r.release());
        assert!(!paths.disk_reserve_file().exists());
        assert!(!r.release(), "released once");
        drop(DiskReserve::take(&paths));
        assert!(!paths.disk_reserve_file().exists(), "dropped, released");
    }
}
