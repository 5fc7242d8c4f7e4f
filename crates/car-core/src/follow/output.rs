//! `follow_output`: a run's output log as it is written, or the output of
//! whichever run is the latest, moving on to each new run.

use std::path::PathBuf;

use super::stream::{Feed, Follow, spawn};
use super::tail::{Change, Tail};
use super::wake::Wake;
use crate::lock;
use crate::paths::RepoPaths;
use crate::record::{self, OUTPUT_FILE, RECORD_FILE};

/// A piece of a run's output log (`runs/<id>/output.log`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    /// The run the output belongs to.
    pub run_id: u64,
    /// Where `bytes` start in the run's output log.
    pub offset: u64,
    /// The bytes, as the agent wrote them (not necessarily whole lines).
    pub bytes: Vec<u8>,
}

/// Which output [`follow_output`] follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputOf {
    /// One run's output. The stream ends once the run is over (its
    /// `run.json` exists, or no loop holds the run lock) and all its
    /// output was delivered.
    Run(u64),
    /// The latest run's output; when a newer run starts, the rest of the
    /// current one and then the new one's from its start. It never ends.
    Current,
}

/// Follows the output of `of` from `byte_offset` (of the first run followed;
/// later runs are followed from their start). A log that does not exist
/// yet is followed once it does; one truncated is read again from its start.
pub(crate) fn follow_output(
    paths: RepoPaths,
    of: OutputOf,
    byte_offset: u64,
) -> Follow<OutputChunk> {
    follow_output_with(paths, of, byte_offset, Wake::new)
}

/// [`follow_output`] with a chosen waker (tests use a polling one).
pub(crate) fn follow_output_with(
    paths: RepoPaths,
    of: OutputOf,
    byte_offset: u64,
    wake: impl FnOnce() -> Wake + Send + 'static,
) -> Follow<OutputChunk> {
    spawn("car-follow-output", move |feed| {
        let mut wake = wake();
        match of {
            OutputOf::Run(id) => follow_run(&paths, id, byte_offset, &mut wake, &feed),
            OutputOf::Current => follow_current(&paths, byte_offset, &mut wake, &feed),
        }
    })
}

fn log_path(paths: &RepoPaths, id: u64) -> PathBuf {
    record::output_log_path(paths, id).unwrap_or_else(|| paths.run_dir(id).join(OUTPUT_FILE))
}

/// Sends what is new in `tail`; returns (anything sent, reader still there).
fn send_new(tail: &mut Tail, run_id: u64, feed: &Feed<OutputChunk>) -> (bool, bool) {
    let mut sent = false;
    let alive = tail.read(&mut |c| match c {
        Change::Data { offset, bytes } => {
            sent = true;
            feed.send(OutputChunk {
                run_id,
                offset,
                bytes,
            })
        }
        Change::Truncated | Change::Replaced => true,
    });
    (sent, alive && !feed.closed())
}

fn follow_run(paths: &RepoPaths, id: u64, offset: u64, wake: &mut Wake, feed: &Feed<OutputChunk>) {
    let mut tail = Tail::new(log_path(paths, id), offset);
    loop {
        let run_dir = paths.run_dir(id);
        wake.watch(&[&paths.car_dir, &paths.runs_dir(), &run_dir]);
        // Seen before the last read, so the output written before the end
        // is all delivered.
        let over = run_dir.join(RECORD_FILE).exists() || !lock::is_held(paths);
        let (sent, alive) = send_new(&mut tail, id, feed);
        if !alive {
            return;
        }
        if sent {
            continue;
        }
        if over {
            return;
        }
        wake.wait();
    }
}

fn follow_current(paths: &RepoPaths, offset: u64, wake: &mut Wake, feed: &Feed<OutputChunk>) {
    let mut offset = Some(offset);
    let mut current: Option<(u64, Tail)> = None;
    loop {
        let runs = paths.runs_dir();
        wake.watch(&[&paths.car_dir, &runs]);
        // Seen before the current run's last read: a run starts only after
        // the one before has written all its output.
        let latest = record::run_ids(paths).last().copied();
        if let Some((id, tail)) = current.as_mut() {
            let (_, alive) = send_new(tail, *id, feed);
            if !alive {
                return;
            }
        }
        // Before the first run there is nothing to send: look whether the
        // reader is gone here, or this thread would outlive it.
        if current.is_none() && feed.closed() {
            return;
        }
        let newer = latest.filter(|l| current.as_ref().is_none_or(|(id, _)| l > id));
        if let Some(next) = newer {
            if let Some((old, _)) = current.take() {
                wake.unwatch(&paths.run_dir(old));
            }
            wake.watch(&[&paths.run_dir(next)]);
            let tail = Tail::new(log_path(paths, next), offset.take().unwrap_or(0));
            current = Some((next, tail));
            continue;
        }
        wake.wait();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::follow::stream::{ends_within, take_within};

    fn take(f: &mut Follow<OutputChunk>, want: usize) -> Vec<(u64, String)> {
        // Chunks may split or join writes: collect until `want` bytes.
        let mut got: Vec<(u64, String)> = Vec::new();
        while got.iter().map(|(_, s)| s.len()).sum::<usize>() < want {
            let Some(c) = take_within(f, 1).pop() else {
                break;
            };
            let text = String::from_utf8(c.bytes).unwrap();
            match got.last_mut() {
                Some((id, s)) if *id == c.run_id => s.push_str(&text),
                _ => got.push((c.run_id, text)),
            }
        }
        got
    }

    fn append(paths: &RepoPaths, id: u64, text: &str) {
        let p = paths.run_dir(id).join(OUTPUT_FILE);
        let mut f = crate::fs_util::open_append(&p).unwrap();
        std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
    }

    fn paths() -> (tempfile::TempDir, RepoPaths) {
        let dir = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(dir.path());
        std::fs::create_dir_all(&paths.car_dir).unwrap();
        (dir, paths)
    }

    #[test]
    fn current_waits_for_the_first_run_then_moves_to_each_new_one() {
        for polling in [false, true] {
            let (_dir, paths) = paths();
            let mut f = if polling {
                follow_output_with(paths.clone(), OutputOf::Current, 0, Wake::polling)
            } else {
                follow_output(paths.clone(), OutputOf::Current, 0)
            };
            std::thread::sleep(Duration::from_millis(50));
            append(&paths, 1, "one\n");
            assert_eq!(take(&mut f, 4), [(1, "one\n".into())]);
            append(&paths, 1, "more\n");
            append(&paths, 2, "two\n");
            assert_eq!(
                take(&mut f, 9),
                [(1, "more\n".into()), (2, "two\n".into())],
                "polling: {polling}"
            );
        }
    }

    #[test]
    fn current_ends_once_its_reader_is_gone_even_before_any_run() {
        let (_dir, paths) = paths();
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        drop(rx);
        let feed = Feed::for_test(tx);
        let (done_tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            follow_current(&paths, 0, &mut Wake::polling(), &feed);
            let _ = done_tx.send(());
        });
        assert!(
            done.recv_timeout(Duration::from_secs(5)).is_ok(),
            "the follower's thread ends when its Follow is dropped"
        );
    }

    #[test]
    fn a_run_from_an_offset_across_truncation_ends_when_the_run_is_over() {
        let (_dir, paths) = paths();
        append(&paths, 3, "skip:kept\n");
        let mut f = follow_output(paths.clone(), OutputOf::Run(3), 5);
        // No loop holds the lock: the stream ends after what is there.
        assert_eq!(take(&mut f, 5), [(3, "kept\n".into())]);
        assert!(ends_within(&mut f));
    }

    #[test]
    fn a_run_under_a_live_loop_is_followed_until_its_record_appears() {
        let (_dir, paths) = paths();
        let _lock = crate::lock::RunLock::acquire(&paths, "run").unwrap();
        let mut f = follow_output(paths.clone(), OutputOf::Run(1), 0);
        std::thread::sleep(Duration::from_millis(50));
        append(&paths, 1, "late\n");
        assert_eq!(take(&mut f, 5), [(1, "late\n".into())]);
        std::fs::write(paths.run_dir(1).join(OUTPUT_FILE), "x\n").unwrap();
        assert_eq!(take(&mut f, 2), [(1, "x\n".into())], "truncated: from 0");
        std::fs::write(paths.run_dir(1).join(RECORD_FILE), "{}").unwrap();
        assert!(ends_within(&mut f), "the run is over");
    }
}
