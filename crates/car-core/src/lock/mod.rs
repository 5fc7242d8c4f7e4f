//! The run lock: an exclusive `flock` on the `.codex-autorunner` directory
//! itself, held for the whole invocation of `car run`/`once`/`resume`.
//!
//! The directory is what excludes because nothing that cleans ignored files
//! (`git clean -fdX`) removes it: a lock on a file in it could be deleted
//! under a live runner, letting a second one start beside it. The OS drops
//! the flock when the holder dies, so a killed runner never blocks.
//!
//! `.codex-autorunner/lock` names the holder (pid, host, start time,
//! command) for people and tools; the holder writes it when it starts,
//! writes it again if it is deleted, and removes it when it ends. It also
//! holds a flock on that file, which is all an older car looked at. Where
//! the file is missing, the holder is the runner `state.json` names, when
//! it is alive, or (Linux) the process `/proc/locks` shows holding the lock.

mod holder;
mod info;
mod record;
mod run_lock;
#[cfg(test)]
mod tests;

pub use holder::LockStatus;
pub(crate) use holder::{is_held, probe};
pub use info::LockInfo;
pub use run_lock::LockError;
pub(crate) use run_lock::RunLock;
