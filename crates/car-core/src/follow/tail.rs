//! Reads what is appended to a file from a byte offset on, through an open
//! handle, across the changes a follower must survive: the file does not
//! exist yet, it is truncated, or it is renamed away and a new file takes
//! its path (ledger rotation).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// What one look at the file found, in order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Bytes read at `offset`.
    Data {
        /// Where `bytes` start in the file.
        offset: u64,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// The file became shorter than what was read: reading starts over at 0.
    Truncated,
    /// Another file took the path: reading goes on at its start.
    Replaced,
}

/// Follows one path.
#[derive(Debug)]
pub(crate) struct Tail {
    path: PathBuf,
    file: Option<File>,
    ino: Option<u64>,
    pos: u64,
}

/// The most read at once, so a huge backlog arrives in pieces.
const CHUNK: u64 = 1 << 20;

impl Tail {
    /// Follows `path` from byte `offset` (of the file there now, or of the
    /// first file made there). The file is opened now when it exists.
    pub(crate) fn new(path: impl Into<PathBuf>, offset: u64) -> Self {
        let mut t = Self {
            path: path.into(),
            file: None,
            ino: None,
            pos: offset,
        };
        t.open();
        t
    }

    /// Follows `path` from its current end.
    pub(crate) fn at_end(path: impl Into<PathBuf>) -> Self {
        let mut t = Self::new(path, 0);
        t.pos = t
            .file
            .as_ref()
            .map_or(0, |f| f.metadata().map_or(0, |m| m.len()));
        t
    }

    fn open(&mut self) {
        if let Ok(f) = File::open(&self.path) {
            self.ino = f.metadata().ok().map(|m| m.ino());
            self.file = Some(f);
        }
    }

    /// Reads everything new, calling `each` for each change in order;
    /// stops early (returning false) when `each` returns false.
    pub(crate) fn read(&mut self, each: &mut dyn FnMut(Change) -> bool) -> bool {
        loop {
            if self.file.is_none() {
                self.open();
                if self.file.is_none() {
                    return true;
                }
            }
            if !self.drain(each) {
                return false;
            }
            let now = std::fs::metadata(&self.path).ok().map(|m| m.ino());
            if now.is_none() || now == self.ino {
                return true;
            }
            // Renamed away: what the old file got before the rename is read
            // above; go on with the new file from its start. It is opened
            // before `Replaced` is told, so whatever went between the two
            // files is in the rotated ones by then.
            if !self.drain(each) {
                return false;
            }
            self.file = None;
            self.pos = 0;
            self.open();
            if !each(Change::Replaced) {
                return false;
            }
        }
    }

    fn drain(&mut self, each: &mut dyn FnMut(Change) -> bool) -> bool {
        let Some(f) = self.file.as_mut() else {
            return true;
        };
        loop {
            let Ok(len) = f.metadata().map(|m| m.len()) else {
                return true;
            };
            if len < self.pos {
                self.pos = 0;
                if !each(Change::Truncated) {
                    return false;
                }
            }
            if len == self.pos {
                return true;
            }
            let want = (len - self.pos).min(CHUNK);
            let mut bytes = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
            let read = f
                .seek(SeekFrom::Start(self.pos))
                .and_then(|_| f.take(want).read_to_end(&mut bytes));
            if read.is_err() || bytes.is_empty() {
                return true;
            }
            let offset = self.pos;
            self.pos += bytes.len() as u64;
            if !each(Change::Data { offset, bytes }) {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(t: &mut Tail) -> Vec<Change> {
        let mut v = Vec::new();
        t.read(&mut |c| {
            v.push(c);
            true
        });
        v
    }

    fn data(offset: u64, s: &str) -> Change {
        Change::Data {
            offset,
            bytes: s.as_bytes().to_vec(),
        }
    }

    #[test]
    fn follows_late_creation_truncation_and_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut t = Tail::new(&p, 0);
        assert!(look(&mut t).is_empty(), "no file yet");
        std::fs::write(&p, "ab").unwrap();
        assert_eq!(look(&mut t), [data(0, "ab")]);
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        std::io::Write::write_all(&mut f, b"cd").unwrap();
        assert_eq!(look(&mut t), [data(2, "cd")]);
        std::fs::write(&p, "x").unwrap();
        assert_eq!(look(&mut t), [Change::Truncated, data(0, "x")]);
        // Rotation: the old file gets a last write, then a new one comes.
        std::io::Write::write_all(&mut f, b"y").unwrap();
        std::fs::rename(&p, dir.path().join("f.1")).unwrap();
        assert_eq!(
            look(&mut t),
            [data(1, "y")],
            "the old file, read to its end"
        );
        std::fs::write(&p, "new").unwrap();
        assert_eq!(look(&mut t), [Change::Replaced, data(0, "new")]);
    }

    #[test]
    fn starts_at_an_offset_or_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "hello").unwrap();
        assert_eq!(look(&mut Tail::new(&p, 3)), [data(3, "lo")]);
        let mut end = Tail::at_end(&p);
        assert!(look(&mut end).is_empty());
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        std::io::Write::write_all(&mut f, b"!").unwrap();
        assert_eq!(look(&mut end), [data(5, "!")]);
    }
}
