//! Following a job's log (a task's output, a command's stdout or stderr) from a byte offset, as it is written,
//! until the task's turn is over.

use std::path::Path;

use super::record::{self, OUTPUT_FILE};
use super::tasks::effective_state;
use crate::error::Error;
use crate::follow::{Change, Feed, Follow, Tail, Wake, spawn_follower};

/// A piece of a job's log (a task's output, a command's stdout or stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOutput {
    /// Where `bytes` start in the log.
    pub offset: u64,
    /// The bytes, as the agent wrote them (not necessarily whole lines).
    pub bytes: Vec<u8>,
}

impl super::Tasks<'_> {
    /// Follows task `id`'s output log from `byte_offset`: what is there,
    /// then what is written, until its turn is over and all of it was
    /// delivered. Anyone can re-attach at the offset they had reached.
    pub fn follow_output(&self, id: &str, byte_offset: u64) -> Result<Follow<TaskOutput>, Error> {
        let dir = record::task_dir(self.paths(), id)?;
        Ok(spawn_follower("car-follow-task", move |feed| {
            let over = |d: &Path| record::load(d).map_or(true, |r| effective_state(&r).is_done());
            follow_log(&dir, OUTPUT_FILE, byte_offset, &over, &feed);
        }))
    }
}

/// Sends what the log `file` of the job in `dir` holds from `offset`, then
/// what is written to it, until `over(dir)` says the job ended and all of
/// it was delivered (or the reader went away).
pub(crate) fn follow_log(
    dir: &Path,
    file: &str,
    offset: u64,
    over: &dyn Fn(&Path) -> bool,
    feed: &Feed<TaskOutput>,
) {
    let mut wake = Wake::new();
    let mut tail = Tail::new(dir.join(file), offset);
    loop {
        wake.watch(&[dir]);
        // Seen before the last read, so the output written before the end
        // is all delivered.
        let over = over(dir);
        let mut sent = false;
        let alive = tail.read(&mut |c| match c {
            Change::Data { offset, bytes } => {
                sent = true;
                feed.send(TaskOutput { offset, bytes })
            }
            Change::Truncated | Change::Replaced => true,
        });
        if !alive || feed.closed() {
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
