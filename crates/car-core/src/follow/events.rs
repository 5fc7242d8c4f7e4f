//! `follow_events`: the ledger's events as they are appended, across
//! rotations, optionally from a `seq` on.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::stream::{Feed, Follow, spawn};
use super::tail::{Change, Tail};
use super::wake::Wake;
use crate::ledger::{Ledger, last_seq_in, parse_line, seq_of};

/// Follows `ledger`: with `since_seq` `None`, the events appended from now
/// on; with `Some(n)`, first every stored event whose `seq` is `n` or more
/// (oldest rotated file first; lines written before `seq` existed count as
/// `seq` 0), then the new ones. An event is never delivered twice, even when
/// the ledger rotates while it is read.
pub(crate) fn follow_events(ledger: Ledger, since_seq: Option<u64>) -> Follow<Value> {
    follow_events_with(ledger, since_seq, Wake::new)
}

/// [`follow_events`] with a chosen waker (tests use a polling one).
pub(crate) fn follow_events_with(
    ledger: Ledger,
    since_seq: Option<u64>,
    wake: impl FnOnce() -> Wake + Send + 'static,
) -> Follow<Value> {
    // Opened now, so "from now on" means from this call. With `since_seq`,
    // the live file is opened before the rotated ones are read: if it is
    // rotated meanwhile, it is read (again) as `.1`, and then through this
    // handle, where its events are known by their seq and skipped.
    let (tail, lines) = match since_seq {
        None => (
            Tail::at_end(ledger.path()),
            Lines::new(0, false, ledger.last_seq()),
        ),
        Some(n) => (Tail::new(ledger.path(), 0), Lines::new(n, n == 0, None)),
    };
    spawn("car-follow-events", move |feed| {
        run(
            &ledger,
            tail,
            lines,
            since_seq.is_some(),
            &mut wake(),
            &feed,
        );
    })
}

fn run(
    ledger: &Ledger,
    mut tail: Tail,
    mut lines: Lines,
    replay: bool,
    wake: &mut Wake,
    feed: &Feed<Value>,
) {
    let dir = ledger.path().parent().unwrap_or(Path::new("."));
    wake.watch(&[dir]);
    if replay && !catch_up(ledger, &mut lines, feed) {
        return;
    }
    loop {
        let more = tail.read(&mut |c| match c {
            Change::Data { bytes, .. } => lines.push(&bytes, feed),
            Change::Truncated => {
                lines.partial.clear();
                true
            }
            // The ledger rotated, maybe more than once since the last look:
            // the files between the one read and the new one come first.
            Change::Replaced => catch_up(ledger, &mut lines, feed),
        });
        if !more || feed.closed() {
            return;
        }
        wake.watch(&[dir]);
        wake.wait();
    }
}

/// Delivers the events of the rotated files not delivered yet, oldest
/// first: those of the newest files whose last `seq` is one still wanted
/// (all of them, when nothing was delivered yet: lines without `seq` may
/// be wanted). False when the reader is gone.
fn catch_up(ledger: &Ledger, lines: &mut Lines, feed: &Feed<Value>) -> bool {
    let live = ledger.path();
    let mut todo: Vec<PathBuf> = Vec::new();
    for f in ledger.files().into_iter().rev().filter(|f| f != live) {
        let wanted = match (lines.last_seq, last_seq_in(&f)) {
            (None, _) => true,
            (Some(last), Some(s)) => s > last,
            (Some(_), None) => false,
        };
        if !wanted {
            break;
        }
        todo.push(f);
    }
    for f in todo.iter().rev() {
        lines.partial.clear();
        if let Ok(bytes) = std::fs::read(f)
            && !lines.push(&bytes, feed)
        {
            return false;
        }
    }
    lines.partial.clear();
    true
}

/// Splits bytes into ledger lines and delivers the events kept.
struct Lines {
    partial: Vec<u8>,
    /// The first `seq` wanted.
    since: u64,
    /// Whether lines without `seq` (older than `seq`) are wanted.
    legacy: bool,
    /// The `seq` of the last event delivered.
    last_seq: Option<u64>,
}

impl Lines {
    fn new(since: u64, legacy: bool, last_seq: Option<u64>) -> Self {
        Self {
            partial: Vec::new(),
            since,
            legacy,
            last_seq,
        }
    }

    /// Delivers the whole lines of `partial` + `bytes`; false when the
    /// reader is gone.
    fn push(&mut self, bytes: &[u8], feed: &Feed<Value>) -> bool {
        self.partial.extend_from_slice(bytes);
        let Some(end) = memchr::memrchr(b'\n', &self.partial) else {
            return true;
        };
        let rest = self.partial.split_off(end + 1);
        let whole = std::mem::replace(&mut self.partial, rest);
        for line in whole.split(|&b| b == b'\n') {
            let Some(v) = std::str::from_utf8(line).ok().and_then(parse_line) else {
                continue;
            };
            if self.keep(&v) && !feed.send(v) {
                return false;
            }
        }
        true
    }

    fn keep(&mut self, v: &Value) -> bool {
        match seq_of(v) {
            None => self.legacy && self.last_seq.is_none(),
            Some(s) if s < self.since || self.last_seq.is_some_and(|l| s <= l) => false,
            Some(s) => {
                self.last_seq = Some(s);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::follow::stream::next_within;

    fn ledger(dir: &Path, max_bytes: u64) -> Ledger {
        Ledger::new(dir.join("events.jsonl"), max_bytes, 100)
    }

    fn append(l: &Ledger, n: u64) {
        l.append("run_started", Some(n), serde_json::json!({ "n": n }))
            .unwrap();
    }

    /// The next `count` events' seqs, failing after 5 s without one.
    fn take(f: &mut Follow<Value>, count: usize) -> Vec<Option<u64>> {
        (0..count)
            .map(|_| seq_of(&next_within(f).expect("the stream goes on")))
            .collect()
    }

    fn seqs(r: std::ops::RangeInclusive<u64>) -> Vec<Option<u64>> {
        r.map(Some).collect()
    }

    #[test]
    fn since_seq_replays_across_rotated_files_then_follows_rotations() {
        for polling in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let l = ledger(dir.path(), 200);
            for n in 1..=10 {
                append(&l, n);
            }
            assert!(l.files().len() > 2, "rotated: {:?}", l.files());
            let mut f = if polling {
                follow_events_with(l.clone(), Some(4), Wake::polling)
            } else {
                follow_events(l.clone(), Some(4))
            };
            assert_eq!(take(&mut f, 7), seqs(4..=10), "polling: {polling}");
            // New events, with rotations between them, arrive in order once.
            for n in 11..=30 {
                append(&l, n);
            }
            assert_eq!(take(&mut f, 20), seqs(11..=30), "polling: {polling}");
        }
    }

    #[test]
    fn from_now_skips_the_past_and_waits_for_a_ledger_not_made_yet() {
        let dir = tempfile::tempdir().unwrap();
        let l = ledger(dir.path(), 0);
        let mut f = follow_events(l.clone(), None);
        std::thread::sleep(Duration::from_millis(50));
        append(&l, 1);
        append(&l, 2);
        assert_eq!(take(&mut f, 2), seqs(1..=2));
        let mut later = follow_events(l.clone(), None);
        append(&l, 3);
        assert_eq!(take(&mut later, 1), seqs(3..=3));
    }

    #[test]
    fn old_lines_without_seq_come_only_from_seq_zero() {
        let dir = tempfile::tempdir().unwrap();
        let l = ledger(dir.path(), 0);
        std::fs::write(
            l.path(),
            "{\"v\":1,\"type\":\"loop_started\",\"run_id\":null}\n",
        )
        .unwrap();
        append(&l, 1);
        assert_eq!(
            take(&mut follow_events(l.clone(), Some(0)), 2),
            [None, Some(1)]
        );
        let mut from_one = follow_events(l.clone(), Some(1));
        append(&l, 2);
        assert_eq!(take(&mut from_one, 2), seqs(1..=2));
    }

    #[test]
    fn a_truncated_ledger_is_read_again_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let l = ledger(dir.path(), 0);
        append(&l, 1);
        let mut f = follow_events(l.clone(), Some(0));
        assert_eq!(take(&mut f, 1), seqs(1..=1));
        // A shorter file with a later seq (restored by hand, say).
        std::fs::write(l.path(), "{\"seq\":7,\"type\":\"x\"}\n").unwrap();
        assert_eq!(take(&mut f, 1), seqs(7..=7));
    }
}
