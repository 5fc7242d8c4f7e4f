//! Chat with a doc: a person asks the agent to change one work doc; the
//! agent gets the doc's text and the request and answers with the whole
//! new doc as its final message. The doc itself is never touched here:
//! the answer is kept as a proposal, with a diff against the version the
//! request started from, until the person applies it (a write based on
//! that version) or discards it.
//!
//! One request at a time per doc. Its record is
//! `.codex-autorunner/jobs/chat-<doc>.json` (replaced by the next request
//! for that doc), the agent's job files `jobs/chat-<doc>/` (prompt and
//! output log), as for the other jobs.

mod diff;
mod prompt;
mod record;

use std::path::PathBuf;

pub use diff::{DiffLine, line_diff};
pub use record::{ChatRecord, ChatState};

use crate::config::Config;
use crate::docs::DocKind;
use crate::engine::unblock;
use crate::fs_util::PathError;
use crate::job::{self, JobError};
use crate::paths::RepoPaths;
use crate::stop::StopHandle;

/// The longest request accepted, in bytes.
pub(crate) const MAX_REQUEST: usize = 16 * 1024;

/// Errors of a chat with a doc.
#[derive(Debug, thiserror::Error)]
pub enum DocChatError {
    /// The request is empty or too long.
    #[error("the request {0}")]
    BadRequest(String),
    /// A request for this doc is still with the agent.
    #[error(
        "the agent is still working on a request for {doc} (job {id}); wait for it or discard it"
    )]
    Busy {
        /// The doc.
        doc: DocKind,
        /// The running request.
        id: String,
    },
    /// No request with this id for this doc.
    #[error("no chat request {id:?} for {doc} (a later request replaces an earlier one)")]
    NotFound {
        /// The doc.
        doc: DocKind,
        /// The id asked for.
        id: String,
    },
    /// The request is not in the state the action needs.
    #[error("chat request {id} is {state}: {action}")]
    WrongState {
        /// The request.
        id: String,
        /// Its state.
        state: ChatState,
        /// What cannot be done.
        action: &'static str,
    },
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] PathError),
    /// A record that is not JSON of a chat request.
    #[error("{} is not a chat record: {source}", path.display())]
    BadRecord {
        /// The record.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// The work was not done: the async runtime is shutting down.
    #[error(transparent)]
    Cancelled(#[from] crate::engine::Cancelled),
}

/// The version tag of a doc's bytes (`"none"` when it does not exist):
/// its length and FNV-1a hash, quoted (what `ETag` carries).
pub fn doc_etag(exists: bool, bytes: &[u8]) -> String {
    if !exists {
        return "\"none\"".to_string();
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{:x}-{h:016x}\"", bytes.len())
}

/// Records a new request for `doc` (its current text is the base) and
/// returns it, running; [`DocChatError::Busy`] while another one for the
/// doc runs.
pub(crate) fn begin(
    cfg: &Config,
    paths: &RepoPaths,
    doc: DocKind,
    request: &str,
) -> Result<ChatRecord, DocChatError> {
    let request = request.trim();
    if request.is_empty() {
        return Err(DocChatError::BadRequest("is empty".into()));
    }
    if request.len() > MAX_REQUEST {
        return Err(DocChatError::BadRequest(format!(
            "is {} bytes long; at most {MAX_REQUEST} are accepted",
            request.len()
        )));
    }
    if let Some(rec) = record::load(paths, doc)?
        && rec.state == ChatState::Running
    {
        return Err(DocChatError::Busy { doc, id: rec.id });
    }
    let path = doc.path(&cfg.docs);
    let bytes = crate::fs_util::read_optional(path)?;
    let rec = ChatRecord::new(doc, request, bytes);
    record::store(paths, &rec)?;
    Ok(rec)
}

/// Runs the agent on a request recorded by [`begin`] and records its
/// answer: `ready` with the proposal and its diff, or `failed` with what
/// went wrong. A request discarded meanwhile stays discarded.
pub(crate) async fn run(
    cfg: &Config,
    paths: &RepoPaths,
    rec: ChatRecord,
    supervisor: Option<&std::path::Path>,
    stop: &StopHandle,
) -> Result<ChatRecord, DocChatError> {
    let prompt = prompt::render(&rec);
    let name = format!("chat-{}", rec.doc.name());
    let out = job::run_job(
        cfg,
        paths,
        job::JobSpec {
            name: &name,
            prompt: &prompt,
            model: None,
            timeout: cfg.snapshot.timeout,
            path_env: None,
            supervisor,
        },
        stop,
    )
    .await;
    let mut done = rec;
    match out {
        Ok(out) => match prompt::extract(&out.text) {
            Some(text) => done.ready(text),
            None => done.fail("the agent's answer was empty: it proposed no text".into()),
        },
        Err(JobError::Cancelled(c)) => return Err(c.into()),
        Err(e) => done.fail(e.to_string()),
    }
    let paths = paths.clone();
    unblock(move || {
        // A discard while the agent worked wins.
        if let Some(now) = record::load(&paths, done.doc)?
            && (now.id != done.id || now.state != ChatState::Running)
        {
            return Ok(now);
        }
        record::store(&paths, &done)?;
        Ok(done)
    })
    .await?
}

/// The latest request for `doc`, if any (a running one whose process is
/// gone reads as failed).
pub(crate) fn latest(paths: &RepoPaths, doc: DocKind) -> Result<Option<ChatRecord>, DocChatError> {
    record::load(paths, doc)
}

/// Request `id` of `doc`.
pub(crate) fn get(paths: &RepoPaths, doc: DocKind, id: &str) -> Result<ChatRecord, DocChatError> {
    match record::load(paths, doc)? {
        Some(rec) if rec.id == id => Ok(rec),
        _ => Err(DocChatError::NotFound {
            doc,
            id: id.to_string(),
        }),
    }
}

/// Marks request `id` of `doc` closed (`applied` or `discarded`); a
/// running one can be discarded only (its answer is then dropped).
pub(crate) fn close(
    paths: &RepoPaths,
    doc: DocKind,
    id: &str,
    how: ChatState,
) -> Result<ChatRecord, DocChatError> {
    let mut rec = get(paths, doc, id)?;
    let allowed = match how {
        ChatState::Applied => rec.state == ChatState::Ready,
        ChatState::Discarded => rec.state != ChatState::Applied,
        _ => false,
    };
    if !allowed {
        return Err(DocChatError::WrongState {
            id: rec.id,
            state: rec.state,
            action: if how == ChatState::Applied {
                "only a ready proposal can be applied"
            } else {
                "an applied proposal cannot be discarded"
            },
        });
    }
    rec.close(how);
    record::store(paths, &rec)?;
    Ok(rec)
}

#[cfg(test)]
mod tests;
