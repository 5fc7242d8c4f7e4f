//! The event ledger: `.codex-autorunner/events.jsonl`, one JSON object per
//! line (`v`, `seq`, `ts`, `type`, `run_id`, then the event's fields), for
//! tools to read. It is only ever appended to; past `max_bytes` it is renamed
//! to `events.jsonl.1` (older files shift up, `keep` are kept) and a new file
//! starts. No file is rewritten in place.
//!
//! `seq` numbers the events of a repository from 1, without gaps, across
//! rotations: each append, under the ledger's lock, reads the last `seq` from
//! the tail of the live file (or of `events.jsonl.1` when the live file is
//! new) and writes the next. Lines written before `seq` existed have none.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::fs_util::{PathError, open_append};

/// The ledger format version (`v`).
pub(crate) const LEDGER_VERSION: u32 = 1;

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

    /// Appends one event. `fields` must serialise to a JSON object.
    pub(crate) fn append(
        &self,
        kind: &str,
        run_id: Option<u64>,
        fields: impl Serialize,
    ) -> Result<(), PathError> {
        let mut obj = Map::new();
        obj.insert("v".into(), LEDGER_VERSION.into());
        // Replaced under the lock, once the last seq is known.
        obj.insert("seq".into(), Value::Null);
        obj.insert(
            "ts".into(),
            crate::time::iso_millis(crate::time::now()).into(),
        );
        obj.insert("type".into(), kind.into());
        obj.insert("run_id".into(), run_id.map_or(Value::Null, Value::from));
        if let Ok(Value::Object(extra)) = serde_json::to_value(fields) {
            for (k, v) in extra {
                obj.entry(k).or_insert(v);
            }
        }
        // The runner and `car reply` may append at once: size check,
        // rotation and append happen under one flock, so a rotated file is
        // never overwritten and no event is lost.
        let lock_path = PathBuf::from(format!("{}.lock", self.path.display()));
        let lock = open_append(&lock_path)?;
        fs2::FileExt::lock_exclusive(&lock).map_err(|source| PathError {
            action: "cannot lock",
            path: lock_path.clone(),
            source,
        })?;
        // Read before rotating: with `keep` 0 the old file is gone after.
        let seq = self.last_seq().map_or(1, |s| s + 1);
        self.rotate_if_needed()?;
        obj.insert("seq".into(), seq.into());
        let mut line = serde_json::to_vec(&Value::Object(obj)).unwrap_or_default();
        line.push(b'\n');
        // One write of the whole line with O_APPEND: concurrent writers
        // (the runner and `car reply`) never interleave within a line.
        let mut f = open_append(&self.path)?;
        f.write_all(&line).map_err(|source| PathError {
            action: "cannot write",
            path: self.path.clone(),
            source,
        })
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

/// Returns an event's `seq`, `None` for a line written before `seq` existed.
pub(crate) fn seq_of(event: &Value) -> Option<u64> {
    event.get("seq").and_then(Value::as_u64)
}

/// Reads every event of the ledger files (oldest first), skipping lines
/// that are not JSON objects, keeping those `filter` keeps (it remembers
/// what it saw, for a `--follow` that goes on from here).
pub(crate) fn read_all(ledger: &Ledger, filter: &mut SinceFilter) -> Vec<Value> {
    let mut out = Vec::new();
    for f in ledger.files() {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        out.extend(
            text.lines()
                .filter_map(parse_line)
                .filter(|v| filter.keep(v)),
        );
    }
    out
}

/// Parses one ledger line: `None` when it is not a JSON object.
pub fn parse_line(line: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(line).ok()?;
    v.is_object().then_some(v)
}

/// `car events --since RUN`: keeps the events of run RUN and later, and the
/// events without a run id (`loop_started`, ...) once run RUN or a later one
/// has appeared. Feed it the events in ledger order.
#[derive(Debug, Clone, Copy)]
pub struct SinceFilter {
    since: Option<u64>,
    reached: bool,
}

impl SinceFilter {
    /// A filter from run `since` on (`None`: keeps everything).
    pub fn new(since: Option<u64>) -> Self {
        Self {
            since,
            reached: since.is_none(),
        }
    }

    /// Returns whether `event` is kept.
    pub fn keep(&mut self, event: &Value) -> bool {
        match (self.since, event.get("run_id").and_then(Value::as_u64)) {
            (None, _) => true,
            (Some(min), Some(id)) => {
                self.reached |= id >= min;
                id >= min
            }
            (Some(_), None) => self.reached,
        }
    }
}

/// Renders one event as a line of text for people.
pub fn render(v: &Value) -> String {
    let ts = v.get("ts").and_then(Value::as_str).unwrap_or("");
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("?");
    let mut s = format!("{ts} {kind}");
    if let Some(id) = v.get("run_id").and_then(Value::as_u64) {
        s.push_str(&format!(" run={id}"));
    }
    if let Some(obj) = v.as_object() {
        for (k, val) in obj {
            if matches!(k.as_str(), "v" | "seq" | "ts" | "type" | "run_id") || val.is_null() {
                continue;
            }
            let text = match val {
                Value::String(t) => {
                    if t.contains(' ') {
                        format!("{t:?}")
                    } else {
                        t.clone()
                    }
                }
                other => other.to_string(),
            };
            s.push_str(&format!(" {k}={text}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_keeps_run_less_events_only_from_that_run_on() {
        let events: Vec<Value> = [
            r#"{"type":"loop_started","run_id":null}"#,
            r#"{"type":"run_started","run_id":1}"#,
            r#"{"type":"stopped","run_id":1}"#,
            r#"{"type":"loop_started","run_id":null}"#,
            r#"{"type":"run_started","run_id":2}"#,
            r#"{"type":"stopped","run_id":2}"#,
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
                .filter(|v| f.keep(v))
                .map(|v| format!("{}:{}", v["type"].as_str().unwrap(), v["run_id"]))
                .collect::<Vec<_>>()
        };
        assert_eq!(kept(None).len(), 7);
        assert_eq!(
            kept(Some(2)),
            ["run_started:2", "stopped:2", "loop_started:null"]
        );
        assert!(kept(Some(3)).is_empty(), "{:?}", kept(Some(3)));
    }

    #[test]
    fn appends_lines_and_rotates_without_rewriting() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path().join("events.jsonl"), 300, 2);
        for i in 0..20 {
            l.append("run_started", Some(i), serde_json::json!({"n": i}))
                .unwrap();
        }
        let files = l.files();
        assert!(files.len() >= 2 && files.len() <= 3, "{files:?}");
        let mut last = None;
        for f in &files {
            for line in std::fs::read_to_string(f).unwrap().lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                assert_eq!(v["v"], 1);
                assert_eq!(v["type"], "run_started");
                let id = v["run_id"].as_u64().unwrap();
                if let Some(p) = last {
                    assert_eq!(id, p + 1, "events stay in order across files");
                }
                last = Some(id);
            }
        }
        assert_eq!(last, Some(19));
    }

    fn seqs(l: &Ledger) -> Vec<Option<u64>> {
        l.files()
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .map(|line| seq_of(&parse_line(line).unwrap()))
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
            l.append("run_started", Some(i), serde_json::json!({"n": i}))
                .unwrap();
        }
        assert!(l.files().len() > 5, "{:?}", l.files());
        let want: Vec<Option<u64>> = (1..=40).map(Some).collect();
        assert_eq!(seqs(&l), want);
        // Keeping no rotated file: the count still goes on.
        let none_kept = Ledger::new(dir.path().join("other.jsonl"), 150, 0);
        for i in 0..10 {
            none_kept
                .append("run_started", Some(i), serde_json::json!({}))
                .unwrap();
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
        l.append("run_started", Some(1), serde_json::json!({}))
            .unwrap();
        l.append("stopped", Some(1), serde_json::json!({})).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let got: Vec<_> = text
            .lines()
            .filter_map(parse_line)
            .map(|v| seq_of(&v))
            .collect();
        assert_eq!(got, [None, Some(1), Some(2)]);
        // A long last line: the tail window grows until it holds one whole.
        let big = "x".repeat(20_000);
        l.append("note", None, serde_json::json!({ "text": big }))
            .unwrap();
        assert_eq!(last_seq_in(&path), Some(3));
        l.append("note", None, serde_json::json!({})).unwrap();
        assert_eq!(last_seq_in(&path), Some(4));
        assert_eq!(
            render(
                &parse_line(r#"{"v":1,"seq":9,"ts":"t","type":"x","run_id":2,"a":"b"}"#).unwrap()
            ),
            "t x run=2 a=b",
            "people see no seq"
        );
    }
}
