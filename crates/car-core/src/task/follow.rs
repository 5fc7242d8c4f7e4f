//! Following a task's output log from a byte offset, as it is written,
//! until the task's turn is over.

use std::path::PathBuf;

use super::record::{self, OUTPUT_FILE};
use super::tasks::effective_state;
use crate::error::Error;
use crate::follow::{Change, Feed, Follow, Tail, Wake, spawn_follower};

/// A piece of a task's output log.
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
            follow(dir, byte_offset, &mut Wake::new(), &feed);
        }))
    }
}

fn follow(dir: PathBuf, offset: u64, wake: &mut Wake, feed: &Feed<TaskOutput>) {
    let mut tail = Tail::new(dir.join(OUTPUT_FILE), offset);
    loop {
        wake.watch(&[&dir]);
        // Seen before the last read, so the output written before the end
        // is all delivered.
        let over = record::load(&dir).map_or(true, |r| effective_state(&r).is_done());
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
