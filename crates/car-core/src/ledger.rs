//! The event ledger: `.codex-autorunner/events.jsonl`, one
//! [`EventEnvelope`] per line (`v`, `seq`, `ts`, `run_id`, then the event's
//! `type` and fields; see `docs/events.md`), for tools to read. It is only ever appended to; past `max_bytes` it is renamed
//! to `events.jsonl.1` (older files shift up, `keep` are kept) and a new file
//! starts. No file is rewritten in place.
//!
//! `seq` numbers the events of a repository from 1, without gaps, across
//! rotations: each append, under the ledger's lock, reads the last `seq` from
//! the tail of the live file (or of `events.jsonl.1` when the live file is
//! new) and writes the next. Lines written before `seq` existed have none.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::event::{EventEnvelope, LoopEvent, SinceFilter, parse_line};
use crate::fs_util::{PathError, open_append};

/// Appends events to one repository's ledger.
#[derive(Debug, Clone)]
pub(crate) struct Ledger {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
}

impl Ledger {
    /// Returns the ledger at `path` with the given rotation limits.
    pub(crate) fn new(path: PathBuf, max_bytes: u64, keep: u32) -> Self {
        Self {
            path,
            max_bytes,
            keep,
        }
    }

    /// The live file's path (`events.jsonl`).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event of run `run_id` (if any) and returns it as
    /// written: in its envelope, numbered.
    pub(crate) fn append(
        &self,
        run_id: Option<u64>,
        event: LoopEvent,
    ) -> Result<EventEnvelope, PathError> {
        self.append_after(run_id, event, || ())
    }

    /// [`append`](Self::append), with `first` run under the ledger's lock
    /// just before the event is written: whatever `first` does is done
    /// before anyone can read the event, and every event appended by
    /// another process after `first` comes after this one. (The runner
    /// lets its run lock go this way before `stopped`: a client that sees
    /// `stopped` can start a runner, whose `loop_started` comes after it.)
    /// `first` runs even when the lock cannot be taken.
    pub(crate) fn append_after(
        &self,
        run_id: Option<u64>,
        event: LoopEvent,
        first: impl FnOnce(),
    ) -> Result<EventEnvelope, PathError> {
        let mut envelope = EventEnvelope::now(run_id, event);
        // The runner and `car reply` may append at once: size check,
        // rotation and append happen under one flock, so a rotated file is
        // never overwritten and no event is lost.
        let locked = crate::fs_util::lock_exclusive(&lock_file(&self.path));
        first();
        let _lock = locked?;
        // Read before rotating: with `keep` 0 the old file is gone after.
        envelope.seq = Some(self.last_seq().map_or(1, |s| s + 1));
        self.rotate_if_needed()?;
        let mut line = envelope.to_json().into_bytes();
        line.push(b'\n');
        // One write of the whole line with O_APPEND: concurrent writers
        // (the runner and `car reply`) never interleave within a line.
        let mut f = open_append(&self.path)?;
        f.write_all(&line).map_err(|source| PathError {
            action: "cannot write",
            path: self.path.clone(),
            source,
        })?;
        Ok(envelope)
    }

    /// The `seq` of the last event written: from the live file, else (a
    /// new or empty live file, just rotated) from `events.jsonl.1`. `None`
    /// for a new ledger or one written before `seq` existed.
    pub(crate) fn last_seq(&self) -> Option<u64> {
        [self.path.clone(), rotated(&self.path, 1)]
            .iter()
            .find_map(|p| match std::fs::metadata(p) {
                Ok(m) if m.len() > 0 => Some(last_seq_in(p)),
                _ => None,
            })
            .flatten()
    }

    fn rotate_if_needed(&self) -> Result<(), PathError> {
        let len = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        if self.max_bytes == 0 || len < self.max_bytes {
            return Ok(());
        }
        for i in (1..self.keep.max(1)).rev() {
            let from = rotated(&self.path, i);
            if from.exists() {
                let _ = std::fs::rename(&from, rotated(&self.path, i + 1));
            }
        }
        if self.keep == 0 {
            let _ = std::fs::remove_file(&self.path);
            return Ok(());
        }
        std::fs::rename(&self.path, rotated(&self.path, 1)).map_err(|source| PathError {
            action: "cannot rotate",
            path: self.path.clone(),
            source,
        })
    }

    /// Returns the ledger files, oldest first.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = (1..=self.keep.max(1))
            .rev()
            .map(|i| rotated(&self.path, i))
            .filter(|p| p.exists())
            .collect();
        if self.path.exists() {
            v.push(self.path.clone());
        }
        v
    }
}

/// The file whose flock guards the ledger at `path` (`events.jsonl.lock`).
fn lock_file(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.lock", path.display()))
}

/// Waits until no append to the ledger at `path` is under way: one begun
/// before (such as a runner's `stopped`, written just after it let its run
/// lock go) is then on disk.
pub(crate) fn wait_for_appends(path: &Path) {
    let _ = crate::fs_util::lock_exclusive(&lock_file(path));
}

/// Returns the `i`th rotated file of the ledger at `path` (`events.jsonl.i`).
pub(crate) fn rotated(path: &Path, i: u32) -> PathBuf {
    PathBuf::from(format!("{}.{i}", path.display()))
}

/// Reads the `seq` of the last line that has one, from the file's tail
/// (growing the window until a whole line with a `seq` is found).
pub(crate) fn last_seq_in(path: &Path) -> Option<u64> {
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let mut window: u64 = 4096;
    loop {
        let start = len.saturating_sub(window);
        f.seek(SeekFrom::Start(start)).ok()?;
        let mut buf = Vec::new();
        (&mut f).take(len - start).read_to_end(&mut buf).ok()?;
        // The first line of a partial window may be cut: skip it.
        let whole = if start == 0 {
            &buf[..]
        } else {
            let cut = memchr::memchr(b'\n', &buf).map_or(buf.len(), |i| i + 1);
            &buf[cut..]
        };
        let found = whole
            .split(|&b| b == b'\n')
            .rev()
            .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
            .find_map(|v| v.get("seq").and_then(Value::as_u64));
        if found.is_some() || start == 0 {
            return found;
        }
        window = window.saturating_mul(4);
    }
}

/// Reads every event of the ledger files (oldest first), skipping lines
/// that are not events, keeping those `filter` keeps (it remembers what it
/// saw, for a `--follow` that goes on from here).
pub(crate) fn read_all(ledger: &Ledger, filter: &mut SinceFilter) -> Vec<EventEnvelope> {
    let mut out = Vec::new();
    for f in ledger.files() {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        out.extend(
            text.lines()
                .filter_map(parse_line)
                .filter(|e| filter.keep(e)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RunKind;

    fn started() -> LoopEvent {
        LoopEvent::RunStarted {
            kind: RunKind::Loop,
            todo: None,
        }
    }

    fn warning(text: &str) -> LoopEvent {
        LoopEvent::Warning {
            message: text.to_string(),
        }
    }

    #[test]
    fn since_keeps_run_less_events_only_from_that_run_on() {
        let events: Vec<EventEnvelope> = [
            r#"{"type":"loop_started","run_id":null}"#,
            r#"{"type":"run_started","run_id":1,"kind":"loop"}"#,
            r#"{"type":"stopped","run_id":1,"reason":"completed"}"#,
            r#"{"type":"loop_started","run_id":null}"#,
            r#"{"type":"run_started","run_id":2,"kind":"loop"}"#,
            r#"{"type":"stopped","run_id":2,"reason":"completed"}"#,
            r#"{"type":"loop_started","run_id":null}"#,
            "not json",
        ]
        .iter()
        .filter_map(|l| parse_line(l))
        .collect();
        assert_eq!(events.len(), 7);
        let kept = |since| {
            let mut f = SinceFilter::new(since);
            events
                .iter()
                .filter(|e| f.keep(e))
                .map(|e| format!("{}:{:?}", e.event.kind(), e.run_id))
                .collect::<Vec<_>>()
        };
        assert_eq!(kept(None).len(), 7);
        assert_eq!(
            kept(Some(2)),
            [
                "run_started:Some(2)",
                "stopped:Some(2)",
                "loop_started:None"
            ]
        );
        assert!(kept(Some(3)).is_empty(), "{:?}", kept(Some(3)));
    }

    #[test]
    fn appends_lines_and_rotates_without_rewriting() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path().join("events.jsonl"), 300, 2);
        for i in 0..20 {
            let written = l.append(Some(i), started()).unwrap();
            assert_eq!(written.run_id, Some(i));
        }
        let files = l.files();
        assert!(files.len() >= 2 && files.len() <= 3, "{files:?}");
        let mut last = None;
        for f in &files {
            for line in std::fs::read_to_string(f).unwrap().lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                assert_eq!(v["v"], 1);
                assert_eq!(v["type"], "run_started");
                assert_eq!(v["kind"], "loop");
                let id = v["run_id"].as_u64().unwrap();
                if let Some(p) = last {
                    assert_eq!(id, p + 1, "events stay in order across files");
                }
                last = Some(id);
            }
        }
        assert_eq!(last, Some(19));
    }

    #[test]
    fn what_runs_before_an_append_is_done_before_any_later_append() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path().join("events.jsonl"), 1 << 20, 2);
        let other = l.clone();
        let mut appender = None;
        l.append_after(None, warning("first"), || {
            // Another writer that starts now (a next runner's
            // `loop_started`) waits for this append.
            appender = Some(std::thread::spawn(move || {
                other.append(None, warning("second")).unwrap()
            }));
            std::thread::sleep(std::time::Duration::from_millis(200));
        })
        .unwrap();
        let second = appender.unwrap().join().unwrap();
        assert_eq!(second.seq, Some(2));
        let text = std::fs::read_to_string(l.path()).unwrap();
        let messages: Vec<String> = text
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap()["message"].to_string())
            .collect();
        assert_eq!(messages, ["\"first\"", "\"second\""]);
        // Nothing is under way any more.
        wait_for_appends(l.path());
    }

    fn seqs(l: &Ledger) -> Vec<Option<u64>> {
        l.files()
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .map(|line| parse_line(line).unwrap().seq)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn seq_counts_from_one_without_gaps_across_rotations() {
        let dir = tempfile::tempdir().unwrap();
        // Small files: most appends rotate, some into an empty live file.
        let l = Ledger::new(dir.path().join("events.jsonl"), 150, 50);
        for i in 0..40 {
            let written = l.append(Some(i), started()).unwrap();
            assert_eq!(written.seq, Some(i + 1), "the caller learns the seq");
        }
        assert!(l.files().len() > 5, "{:?}", l.files());
        let want: Vec<Option<u64>> = (1..=40).map(Some).collect();
        assert_eq!(seqs(&l), want);
        // Keeping no rotated file: the count still goes on.
        let none_kept = Ledger::new(dir.path().join("other.jsonl"), 150, 0);
        for i in 0..10 {
            none_kept.append(Some(i), started()).unwrap();
        }
        assert_eq!(seqs(&none_kept).last(), Some(&Some(10)));
    }

    #[test]
    fn seq_goes_on_after_old_lines_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(
            &path,
            "{\"v\":1,\"type\":\"loop_started\",\"run_id\":null}\nnot json\n",
        )
        .unwrap();
        let l = Ledger::new(path.clone(), 0, 3);
        l.append(Some(1), started()).unwrap();
        l.append(Some(1), warning("w")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let got: Vec<_> = text.lines().filter_map(parse_line).map(|e| e.seq).collect();
        assert_eq!(got, [None, Some(1), Some(2)]);
        // A long last line: the tail window grows until it holds one whole.
        l.append(None, warning(&"x".repeat(20_000))).unwrap();
        assert_eq!(last_seq_in(&path), Some(3));
        l.append(None, warning("")).unwrap();
        assert_eq!(last_seq_in(&path), Some(4));
    }

    #[test]
    fn the_last_seq_is_read_from_the_tail_past_a_partial_line_and_after_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let l = Ledger::new(path.clone(), 1 << 20, 2);
        assert_eq!(l.last_seq(), None);
        let mut text = String::new();
        for seq in 1..=500 {
            text.push_str(&format!(
                "{{\"v\":2,\"seq\":{seq},\"type\":\"x\",\"pad\":\"{}\"}}\n",
                "p".repeat(40)
            ));
        }
        text.push_str("{\"v\":2,\"se");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(l.last_seq(), Some(500));
        // An empty live file (just rotated): the rotated one says.
        std::fs::rename(&path, rotated(&path, 1)).unwrap();
        std::fs::write(&path, "").unwrap();
        assert_eq!(l.last_seq(), Some(500));
    }
}
