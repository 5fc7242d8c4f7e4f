//! Followers: the ledger's events, the runs' output and the work docs as they are written,
//! for any process (a loop is observed through its files, never its memory).

mod doc_chats;
mod docs;
mod events;
mod merged;
mod output;
mod stream;
mod tail;
mod wake;

pub use doc_chats::ChatStatus;
pub(crate) use doc_chats::follow_doc_chats;
pub use docs::DocVersion;
pub(crate) use docs::follow_docs;
pub(crate) use events::follow_events;
pub use merged::{ResumeToken, ResumeTokenError, follow_many};
pub(crate) use output::follow_output;
pub use output::{OutputChunk, OutputOf};
pub use stream::Follow;
// For the other followers of the crate (a task's output).
pub(crate) use stream::{Feed, spawn as spawn_follower};
pub(crate) use tail::{Change, Tail};
pub(crate) use wake::Wake;
