//! What can go wrong with the sessions as a whole (what goes wrong in a
//! turn is told in its chat).

use std::path::PathBuf;

/// Errors of starting the sessions or keeping their state.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The state file exists but cannot be read.
    #[error("cannot read the sessions' state {}", path.display())]
    StateRead {
        /// The state file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not a state this program wrote.
    #[error("the sessions' state {} cannot be used: {message}", path.display())]
    StateCorrupt {
        /// The state file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The state file cannot be written.
    #[error("cannot save the sessions' state: {0}")]
    StateWrite(#[source] car_core::PathError),
}
