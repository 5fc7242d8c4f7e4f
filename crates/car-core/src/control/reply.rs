//! A person's answer to the agent's question.

use serde::{Deserialize, Serialize};

use crate::event::LoopEvent;
use crate::paths::RepoPaths;
use crate::state::{StateError, StateStore};
use crate::stop::Requester;
use crate::time;

/// What `car reply` recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplyReport {
    /// The question answered, when one was open.
    pub question: Option<PendingQuestionView>,
}

/// The open question, for reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingQuestionView {
    /// The run that asked.
    pub run_id: u64,
    /// The question.
    pub question: String,
}

/// Records a person's answer: the next run's prompt carries it (as
/// `USER_REPLY`), and the open question is closed.
pub(crate) fn reply(
    paths: &RepoPaths,
    ledger: &crate::ledger::Ledger,
    text: &str,
    by: &Requester,
) -> Result<ReplyReport, StateError> {
    let now = time::iso_seconds(time::now());
    let (_, question) = StateStore::new(paths).update(|s| {
        let q = s.pending_question.take();
        // A second reply replaces the first but keeps the question it answers.
        let earlier = s.user_reply.take().and_then(|r| r.question);
        s.user_reply = Some(crate::state::UserReply {
            text: text.to_string(),
            replied_at: now.clone(),
            question: q.as_ref().map(|q| q.question.clone()).or(earlier),
        });
        q
    })?;
    let run_id = question.as_ref().map(|q| q.run_id);
    let replied = LoopEvent::Reply {
        question: question.as_ref().map(|q| q.question.clone()),
        chars: text.chars().count(),
        requested_by: Some(by.requested_by),
        origin: by.origin.clone(),
    };
    if let Err(e) = ledger.append(run_id, replied) {
        tracing::warn!(error = %e, "cannot append to the event ledger");
    }
    Ok(ReplyReport {
        question: question.map(|q| PendingQuestionView {
            run_id: q.run_id,
            question: q.question,
        }),
    })
}
