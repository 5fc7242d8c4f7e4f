//! The run's output log: agent lines tagged with time and stream, car's
//! notes, and Codex `--json` events stored raw and shown short.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::lines::Stream;
use crate::codex::{CodexRun, Parsed};
use crate::fs_util::PathError;

/// Size of one read from a pipe.
pub(super) const CHUNK: usize = 64 * 1024;

/// The run's output log: one line per output line, tagged with time and stream.
pub(crate) struct OutputLog {
    file: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
    pub(super) stamp: Stamp,
    codex: Option<CodexSink>,
    /// A line showing progress was written since the last `take_progress`.
    progress: bool,
}

/// Where Codex `--json` events go: parsed into a [`CodexRun`], stored raw.
struct CodexSink {
    run: CodexRun,
    file: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
}

impl OutputLog {
    /// Creates (or appends to) the log at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, PathError> {
        let file = crate::fs_util::open_append(path)?;
        Ok(Self {
            file: std::io::BufWriter::with_capacity(CHUNK, file),
            path: path.to_path_buf(),
            stamp: Stamp::default(),
            codex: None,
            progress: false,
        })
    }

    /// Treats stdout lines that are Codex `--json` events as events: they are
    /// stored raw in `events_path`, parsed, and shown in the log as one short
    /// `codex:` line each. Other lines stay plain output.
    pub(crate) fn parse_codex_events(&mut self, events_path: &Path) -> Result<(), PathError> {
        let file = crate::fs_util::open_append(events_path)?;
        self.codex = Some(CodexSink {
            run: CodexRun::default(),
            file: std::io::BufWriter::with_capacity(CHUNK, file),
            path: events_path.to_path_buf(),
        });
        Ok(())
    }

    /// Returns what the Codex events said, when parsing was on.
    pub(crate) fn take_codex(&mut self) -> Option<CodexRun> {
        self.codex.take().map(|s| s.run)
    }

    /// Returns whether the agent made progress since the last call, for the
    /// idle watchdog. Without Codex events (plain mode) any output counts.
    /// With them, progress is an event that moves the turn on (see
    /// [`crate::codex::is_progress`]) or a plain stdout line; retry notices
    /// and stderr (Codex's own logging) are not.
    pub(crate) fn take_progress(&mut self) -> bool {
        self.codex.is_none() || std::mem::take(&mut self.progress)
    }

    /// Writes a note from car itself (not agent output).
    pub(crate) fn note(&mut self, text: &str) -> Result<(), PathError> {
        let ts = self.stamp.get().to_string();
        self.write_raw(format!("[{ts}] car: {text}\n").as_bytes())
    }

    pub(super) fn line(&mut self, stream: Stream, bytes: &[u8]) -> Result<(), PathError> {
        if stream == Stream::Out
            && let Some(sink) = self.codex.as_mut()
            && let Parsed::Event {
                stored,
                shown,
                progress,
            } = sink.run.feed(bytes)
        {
            self.progress |= progress;
            let r = sink
                .file
                .write_all(&stored)
                .and_then(|()| sink.file.write_all(b"\n"));
            r.map_err(|source| PathError {
                action: "cannot write",
                path: sink.path.clone(),
                source,
            })?;
            if let Some(text) = shown {
                let ts = self.stamp.get().to_string();
                let mut line = format!("[{ts}] codex: ");
                line.push_str(&text.replace('\n', "\n    "));
                line.push('\n');
                self.write_raw(line.as_bytes())?;
            }
            return Ok(());
        }
        self.progress |= stream == Stream::Out;
        let tag: &[u8] = match stream {
            Stream::Out => b"] stdout: ",
            Stream::Err => b"] stderr: ",
        };
        let ts = self.stamp.cached();
        let r = (|| {
            self.file.write_all(b"[")?;
            self.file.write_all(ts.as_bytes())?;
            self.file.write_all(tag)?;
            write_lossy(&mut self.file, bytes)?;
            self.file.write_all(b"\n")
        })();
        r.map_err(|source| PathError {
            action: "cannot write",
            path: self.path.clone(),
            source,
        })
    }

    fn write_raw(&mut self, b: &[u8]) -> Result<(), PathError> {
        self.file.write_all(b).map_err(|source| PathError {
            action: "cannot write",
            path: self.path.clone(),
            source,
        })
    }

    /// Writes buffered lines to the file (no fsync).
    pub(crate) fn flush_to_os(&mut self) -> Result<(), PathError> {
        self.flush_impl(false)
    }

    /// Flushes buffered lines to disk.
    pub(crate) fn flush(&mut self) -> Result<(), PathError> {
        self.flush_impl(true)
    }

    fn flush_impl(&mut self, sync: bool) -> Result<(), PathError> {
        if let Some(sink) = self.codex.as_mut() {
            sink.file.flush().map_err(|source| PathError {
                action: "cannot write",
                path: sink.path.clone(),
                source,
            })?;
        }
        self.file
            .flush()
            .and_then(|()| {
                if sync {
                    self.file.get_ref().sync_data()
                } else {
                    Ok(())
                }
            })
            .map_err(|source| PathError {
                action: "cannot write",
                path: self.path.clone(),
                source,
            })
    }
}

/// Writes `bytes` as UTF-8, replacing invalid sequences with U+FFFD.
fn write_lossy(w: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    match std::str::from_utf8(bytes) {
        Ok(_) => w.write_all(bytes),
        Err(_) => w.write_all(String::from_utf8_lossy(bytes).as_bytes()),
    }
}

/// A cached `YYYY-MM-DDTHH:MM:SSZ` string, reformatted once per second.
#[derive(Default)]
pub(super) struct Stamp {
    second: i64,
    text: String,
}

impl Stamp {
    /// Reads the clock and reformats when the second changed.
    pub(super) fn refresh(&mut self) {
        let now = chrono::Utc::now();
        if now.timestamp() != self.second || self.text.is_empty() {
            self.second = now.timestamp();
            self.text = crate::time::iso_seconds(now);
        }
    }

    /// Returns the current stamp (as of the last refresh).
    fn cached(&self) -> &str {
        &self.text
    }

    /// Refreshes, then returns the stamp.
    fn get(&mut self) -> &str {
        self.refresh();
        &self.text
    }
}
