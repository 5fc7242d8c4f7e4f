//! `follow_many`: one stream of the ledger events of many repositories,
//! each event naming its repository, resumable from a [`ResumeToken`].
//!
//! Ordering: the events of one repository come in `seq` order, each once
//! (as [`Repo::follow_events`] gives them); events of different
//! repositories come in the order they reach the merging thread, which
//! takes from every repository in turn, so a busy one cannot hold back the
//! others. Each repository is followed by a follower of its own (a thread
//! and a file watcher on its `.codex-autorunner/` directory); one more
//! thread merges them.

use std::collections::BTreeMap;
use std::task::Poll;

use serde::{Deserialize, Serialize};

use super::stream::{Feed, Follow, spawn};
use crate::event::EventEnvelope;
use crate::repo::Repo;

/// Where a reader of [`follow_many`] stands: for each repository id, the
/// `seq` of the last event it has. It serialises to a small JSON object
/// (`{"alpha":12,"beta":7}`, see [`ResumeToken::encode`]), so a
/// server-sent-events stream can carry it as the event id and take it back
/// from `Last-Event-ID`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResumeToken(BTreeMap<String, u64>);

/// A resume token that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("the resume token is not a JSON object of repository id to event seq: {0}")]
pub struct ResumeTokenError(#[source] serde_json::Error);

impl ResumeToken {
    /// A token that has seen nothing: resuming from it replays every
    /// repository's whole ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `seq` of the last event of repository `id` the reader has.
    pub fn get(&self, id: &str) -> Option<u64> {
        self.0.get(id).copied()
    }

    /// Records that the reader has `event` (an item of [`follow_many`]:
    /// it names its repository). An event without a repository or `seq`
    /// changes nothing, nor does one older than what the token has.
    pub fn advance(&mut self, event: &EventEnvelope) {
        if let (Some(repo), Some(seq)) = (&event.repo, event.seq) {
            let last = self.0.entry(repo.clone()).or_insert(seq);
            *last = (*last).max(seq);
        }
    }

    /// The token as one line of JSON.
    pub fn encode(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }

    /// Reads a token made by [`ResumeToken::encode`].
    pub fn decode(text: &str) -> Result<Self, ResumeTokenError> {
        serde_json::from_str(text).map_err(ResumeTokenError)
    }
}

/// Follows the ledgers of `repos` as one stream; each event's
/// [`EventEnvelope::repo`] is the id given with its repository. With `since`
/// `None`, the events appended from now on; with a token, for each
/// repository every event after the token's `seq` for it (all of its ledger
/// when the token does not name it), then the new ones. See the module
/// docs for the ordering.
pub fn follow_many(
    repos: Vec<(String, Repo)>,
    since: Option<&ResumeToken>,
) -> Follow<EventEnvelope> {
    let follows = repos
        .into_iter()
        .map(|(id, repo)| {
            let from = since.map(|t| t.get(&id).map_or(0, |seq| seq + 1));
            let follow = repo.follow_events(from);
            (id, follow)
        })
        .collect();
    merge(follows)
}

/// Merges per-repository followers into one stream, naming each event's
/// repository.
pub(crate) fn merge(follows: Vec<(String, Follow<EventEnvelope>)>) -> Follow<EventEnvelope> {
    spawn("car-follow-many", move |feed| {
        let runtime = tokio::runtime::Builder::new_current_thread().build();
        match runtime {
            Ok(rt) => rt.block_on(run(follows, &feed)),
            Err(e) => tracing::warn!("follow: cannot start the merging runtime: {e}"),
        }
    })
}

async fn run(mut follows: Vec<(String, Follow<EventEnvelope>)>, feed: &Feed<EventEnvelope>) {
    // Where the next look starts, so every repository gets its turn.
    let mut start = 0usize;
    while !follows.is_empty() {
        let next = std::future::poll_fn(|cx| {
            let mut i = 0;
            while i < follows.len() {
                let k = (start + i) % follows.len();
                match follows[k].1.poll_next_item(cx) {
                    Poll::Ready(Some(mut event)) => {
                        start = (k + 1) % follows.len();
                        event.repo = Some(follows[k].0.clone());
                        return Poll::Ready(Some(event));
                    }
                    // That follower is gone (it could not start): drop it.
                    Poll::Ready(None) => {
                        follows.remove(k);
                        if follows.is_empty() {
                            return Poll::Ready(None);
                        }
                    }
                    Poll::Pending => i += 1,
                }
            }
            Poll::Pending
        });
        let event = tokio::select! {
            event = next => event,
            () = feed.gone() => None,
        };
        let Some(event) = event else {
            return;
        };
        if !feed.send_async(event).await {
            return;
        }
    }
}

#[cfg(test)]
#[path = "merged_tests.rs"]
mod tests;
