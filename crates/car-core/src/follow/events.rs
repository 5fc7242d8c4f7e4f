//! `follow_events`: the ledger's events as they are appended, across
//! rotations, optionally from a `seq` on.

use std::path::{Path, PathBuf};

use super::stream::{Feed, Follow, spawn};
use super::tail::{Change, Tail};
use super::wake::Wake;
use crate::event::{EventEnvelope, parse_line};
use crate::ledger::{Ledger, last_seq_in};

/// Follows `ledger`: with `since_seq` `None`, the events appended from now
/// on; with `Some(n)`, first every stored event whose `seq` is `n` or more
/// (oldest rotated file first; lines written before `seq` existed count as
/// `seq` 0), then the new ones. An event is never delivered twice, even when
/// the ledger rotates while it is read. Lines that are not events (not JSON
/// objects with a `type`) are skipped; a type this version does not know
/// comes as [`LoopEvent::Unknown`](crate::event::LoopEvent::Unknown).
pub(crate) fn follow_events(ledger: Ledger, since_seq: Option<u64>) -> Follow<EventEnvelope> {
    follow_events_with(ledger, since_seq, Wake::new)
}

/// [`follow_events`] with a chosen waker (tests use a polling one).
pub(crate) fn follow_events_with(
    ledger: Ledger,
    since_seq: Option<u64>,
    wake: impl FnOnce() -> Wake + Send + 'static,
) -> Follow<EventEnvelope> {
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
    feed: &Feed<EventEnvelope>,
) {
    let dir = ledger.path().parent().unwrap_or(Path::new("."));
    wake.watch(&[dir]);
    if replay && !lines.catch_up(ledger, feed) {
        return;
    }
    loop {
        let more = tail.read(&mut |c| match c {
            Change::Data { bytes, .. } => lines.push(ledger, &bytes, feed),
            Change::Truncated => {
                lines.partial.clear();
                true
            }
            // The ledger rotated, maybe more than once since the last look:
            // the files between the one read and the new one come first.
            Change::Replaced => {
                lines.partial.clear();
                lines.catch_up(ledger, feed)
            }
        });
        if !more || feed.closed() {
            return;
        }
        wake.watch(&[dir]);
        wake.wait();
    }
}

/// Splits the live file into lines and delivers the events wanted, each
/// once, in `seq` order.
struct Lines {
    /// The live file's last line, until it is whole.
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

    /// Delivers the whole lines of `partial` + `bytes` (from the live
    /// file); false when the reader is gone.
    fn push(&mut self, ledger: &Ledger, bytes: &[u8], feed: &Feed<EventEnvelope>) -> bool {
        self.partial.extend_from_slice(bytes);
        let Some(end) = memchr::memrchr(b'\n', &self.partial) else {
            return true;
        };
        let rest = self.partial.split_off(end + 1);
        let whole = std::mem::replace(&mut self.partial, rest);
        for v in whole.split(|&b| b == b'\n').filter_map(parse) {
            // A gap: rotations went by faster than this follower looked
            // (or while it opened the new file); the rotated files have
            // the events missed.
            let gap = matches!((self.last_seq, v.seq), (Some(l), Some(s)) if s > l + 1);
            if gap && !self.catch_up(ledger, feed) {
                return false;
            }
            if !self.deliver(v, feed) {
                return false;
            }
        }
        true
    }

    /// Delivers the events of the rotated files not delivered yet, oldest
    /// first: the files, newest first, whose last `seq` is still wanted
    /// (all of them when nothing was delivered yet, since lines without
    /// `seq` may be wanted). False when the reader is gone.
    fn catch_up(&mut self, ledger: &Ledger, feed: &Feed<EventEnvelope>) -> bool {
        // A rotation while the files are read shifts their names: a gap in
        // what was read says so, and the files are listed again.
        // A writer rotating fast can shift the names several times while a
        // slow reader (a loaded machine) reads: try again, a moment later
        // each time. The last try delivers across a gap: events rotated out
        // of the kept files are gone for good.
        const TRIES: u32 = 20;
        for attempt in (0..TRIES).rev() {
            match self.catch_up_once(ledger, feed, attempt == 0) {
                CatchUp::Done => return true,
                CatchUp::Gone => return false,
                CatchUp::Gap => {
                    std::thread::sleep(std::time::Duration::from_millis(u64::from(
                        TRIES - attempt,
                    )));
                }
            }
        }
        true
    }

    fn catch_up_once(
        &mut self,
        ledger: &Ledger,
        feed: &Feed<EventEnvelope>,
        across_gaps: bool,
    ) -> CatchUp {
        let live = ledger.path();
        let mut todo: Vec<PathBuf> = Vec::new();
        for f in ledger.files().into_iter().rev().filter(|f| f != live) {
            let wanted = match (self.last_seq, last_seq_in(&f)) {
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
            let Ok(bytes) = std::fs::read(f) else {
                continue;
            };
            for v in bytes.split(|&b| b == b'\n').filter_map(parse) {
                let gap = matches!((self.last_seq, v.seq), (Some(l), Some(s)) if s > l + 1);
                if gap && !across_gaps {
                    return CatchUp::Gap;
                }
                if !self.deliver(v, feed) {
                    return CatchUp::Gone;
                }
            }
        }
        CatchUp::Done
    }

    /// Sends `v` when it is wanted and new; false when the reader is gone.
    fn deliver(&mut self, v: EventEnvelope, feed: &Feed<EventEnvelope>) -> bool {
        let wanted = match v.seq {
            None => self.legacy && self.last_seq.is_none(),
            Some(s) if s < self.since || self.last_seq.is_some_and(|l| s <= l) => false,
            Some(s) => {
                self.last_seq = Some(s);
                true
            }
        };
        !wanted || feed.send(v)
    }
}

enum CatchUp {
    Done,
    Gap,
    /// The reader is gone.
    Gone,
}

fn parse(line: &[u8]) -> Option<EventEnvelope> {
    std::str::from_utf8(line).ok().and_then(parse_line)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::follow::stream::take_within;

    fn ledger(dir: &Path, max_bytes: u64) -> Ledger {
        Ledger::new(dir.join("events.jsonl"), max_bytes, 100)
    }

    fn append(l: &Ledger, n: u64) {
        let event = crate::event::LoopEvent::RunStarted {
            kind: crate::record::RunKind::Loop,
            todo: None,
        };
        l.append(Some(n), event).unwrap();
    }

    /// The next `count` events' seqs, failing after 5 s without one.
    fn take(f: &mut Follow<EventEnvelope>, count: usize) -> Vec<Option<u64>> {
        take_within(f, count).iter().map(|e| e.seq).collect()
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

    #[test]
    fn events_rotated_out_of_the_kept_files_leave_a_gap_not_a_stall() {
        let dir = tempfile::tempdir().unwrap();
        let l = ledger(dir.path(), 0);
        let line = |seq: u64| format!("{{\"seq\":{seq},\"type\":\"x\"}}\n");
        let live = l.path().to_path_buf();
        std::fs::write(dir.path().join("events.jsonl.2"), line(1) + &line(2)).unwrap();
        // Seqs 3 and 4 were in a file no longer kept.
        std::fs::write(dir.path().join("events.jsonl.1"), line(5) + &line(6)).unwrap();
        std::fs::write(&live, line(7)).unwrap();
        let mut f = follow_events(l.clone(), Some(0));
        assert_eq!(take(&mut f, 5), [1, 2, 5, 6, 7].map(Some));
        append(&l, 8);
        assert_eq!(take(&mut f, 1), seqs(8..=8));
    }
}
