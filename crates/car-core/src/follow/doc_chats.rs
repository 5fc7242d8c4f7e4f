//! Following the docs' chat requests: each doc's latest request (its id
//! and state) once at the start, then again whenever it changes — a new
//! request, the agent's proposal ready, a failure, applied or discarded.
//! A page waiting for a proposal learns it is there without asking again
//! and again. A request whose agent process has gone reads as failed
//! (seen at the follower's safety look, as no file changes then).

use std::collections::HashMap;

use serde::Serialize;

use super::stream::{Follow, spawn};
use super::wake::Wake;
use crate::doc_chat::ChatState;
use crate::docs::DocKind;
use crate::paths::RepoPaths;

/// A doc's latest chat request, as it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatStatus {
    /// Which doc.
    pub doc: DocKind,
    /// The request's id (`GET .../docs/{doc}/chat/{job}`).
    pub job: String,
    /// Where it is.
    pub state: ChatState,
}

/// Follows the chat records of every doc of the repository at `paths`.
pub(crate) fn follow_doc_chats(paths: RepoPaths) -> Follow<ChatStatus> {
    spawn("car-follow-chats", move |feed| {
        let mut wake = Wake::new();
        let jobs = paths.car_dir.join("jobs");
        let mut seen: HashMap<DocKind, (String, ChatState)> = HashMap::new();
        loop {
            // The repository's directory too: it tells when `jobs/` appears.
            wake.watch(&[&jobs, &paths.car_dir]);
            for doc in DocKind::ALL {
                let Ok(Some(rec)) = crate::doc_chat::latest(&paths, doc) else {
                    continue;
                };
                let now = (rec.id, rec.state);
                if seen.get(&doc) == Some(&now) {
                    continue;
                }
                seen.insert(doc, now.clone());
                let (job, state) = now;
                if !feed.send(ChatStatus { doc, job, state }) {
                    return;
                }
            }
            if feed.closed() {
                return;
            }
            wake.wait();
        }
    })
}
