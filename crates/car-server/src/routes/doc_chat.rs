//! Chat with a doc: `POST /api/v1/repos/{id}/docs/{doc}/chat` asks the
//! agent to change one work doc. The agent runs in the server (a job of
//! car-core, its files under `.codex-autorunner/jobs/`) and answers with
//! the whole new doc; the doc itself is not written. `GET .../chat`
//! (the latest request) and `GET .../chat/{job}` give its state and,
//! once ready, the proposal with its diff against the version it started
//! from. `POST .../chat/{job}/apply` writes the proposal if the doc is
//! still at that version (409 with the current doc otherwise, as a doc
//! write); `DELETE .../chat/{job}` discards it (stopping the agent when
//! it still runs). One request at a time per doc.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use car_core::{
    ChatRecord, ChatState, DocChatError, DocKind, Repo, StopCause, StopHandle, StopLevel,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::blocking;
use super::docs::{Doc, kind_of, with_etag, write_if_match};
use crate::error::ApiError;
use crate::state::AppState;

/// The body of a chat request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatAsk {
    /// What the agent should change in the doc.
    pub request: String,
}

/// One line of a proposal's diff.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatDiffLine {
    /// `same`, `add` or `del`.
    pub tag: String,
    /// The line.
    pub text: String,
}

/// A chat request and what came of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatJob {
    /// The request's id.
    pub job_id: String,
    /// The doc.
    pub doc: String,
    /// `running`, `ready`, `failed`, `applied` or `discarded`.
    pub state: String,
    /// What was asked.
    pub request: String,
    /// The version of the doc the request started from (an `ETag`).
    pub base_etag: String,
    /// The agent's new doc (once ready).
    pub proposal: Option<String>,
    /// The proposal against the base version, line by line.
    pub diff: Vec<ChatDiffLine>,
    /// What went wrong (when failed).
    pub error: Option<String>,
    /// When it was asked.
    pub started_at: String,
    /// When it was answered or closed.
    pub finished_at: Option<String>,
}

impl From<ChatRecord> for ChatJob {
    fn from(r: ChatRecord) -> Self {
        Self {
            job_id: r.id,
            doc: r.doc.name().to_string(),
            state: r.state.as_str().to_string(),
            request: r.request,
            base_etag: r.base_etag,
            proposal: r.proposal,
            diff: r
                .diff
                .into_iter()
                .map(|l| ChatDiffLine {
                    tag: l.tag,
                    text: l.text,
                })
                .collect(),
            error: r.error,
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}

impl From<DocChatError> for ApiError {
    fn from(e: DocChatError) -> Self {
        let msg = e.to_string();
        match e {
            DocChatError::BadRequest(_) => ApiError::bad_request(msg),
            DocChatError::Busy { .. } => ApiError::busy(msg),
            DocChatError::NotFound { .. } => ApiError::not_found(msg),
            DocChatError::WrongState { .. } => ApiError::new(StatusCode::CONFLICT, "state", msg),
            _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "io", msg),
        }
    }
}

fn key(id: &str, job: &str) -> String {
    format!("{id}/{job}")
}

/// Runs the agent on `rec` in the background: stopped by the server's
/// shutdown or a discard.
fn spawn(state: &AppState, repo_id: &str, repo: Repo, rec: ChatRecord) {
    let stop = StopHandle::new();
    let k = key(repo_id, &rec.id);
    if let Ok(mut m) = state.inner.doc_chats.lock() {
        m.insert(k.clone(), stop.clone());
    }
    let state = state.clone();
    tokio::spawn(async move {
        let mut shutdown = state.inner.shutdown.clone();
        // Under the per-run supervisor: a server killed outright leaves no
        // agent behind.
        let program = state.inner.program.clone();
        let run = repo.doc_chat_run(rec, Some(&program), &stop);
        tokio::pin!(run);
        loop {
            tokio::select! {
                _ = &mut run => break,
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        stop.request(StopLevel::Graceful, StopCause::Killed);
                        let _ = (&mut run).await;
                        break;
                    }
                }
            }
        }
        if let Ok(mut m) = state.inner.doc_chats.lock() {
            m.remove(&k);
        }
    });
}

/// Asks the agent to change a doc: 202 with the request, running. Its
/// proposal comes at `.../chat/{job}`; the doc is not written.
#[utoipa::path(post, path = "/api/v1/repos/{id}/docs/{doc}/chat", tag = "docs",
    params(("id" = String, Path, description = "repository id"),
           ("doc" = String, Path, description = "todo, progress, opinions, spec or summary")),
    request_body = ChatAsk,
    responses((status = 202, body = ChatJob),
              (status = 400, body = crate::ErrorBody, description = "an empty or too long request"),
              (status = 404, body = crate::ErrorBody, description = "no such repository or doc"),
              (status = 409, body = crate::ErrorBody, description = "a request for this doc still runs")))]
pub(crate) async fn ask(
    State(state): State<AppState>,
    Path((id, doc)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let repo = state.repo(&id)?;
    let kind = kind_of(&doc)?;
    let ask: ChatAsk = serde_json::from_slice(&body?).map_err(|e| {
        ApiError::bad_request(format!("the body must be {{\"request\": ...}}: {e}"))
    })?;
    let rec = {
        let _guard = state.inner.doc_write.lock().await;
        // A discarded request's agent may still be stopping: its job
        // files are where the next request's go.
        let prefix = key(&id, &format!("{}-", kind.name()));
        let stopping: Vec<String> = state
            .inner
            .doc_chats
            .lock()
            .map(|m| {
                m.keys()
                    .filter(|k| k.starts_with(&prefix))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let r = repo.clone();
        blocking(move || {
            let running = r
                .doc_chat_latest(kind)?
                .is_some_and(|c| c.state == ChatState::Running);
            if !running && !stopping.is_empty() {
                return Err(ApiError::busy(format!(
                    "the agent of the previous request for {} is still stopping; ask again in a moment",
                    kind.name()
                )));
            }
            Ok(r.doc_chat_begin(kind, &ask.request)?)
        })
        .await?
    };
    spawn(&state, &id, repo, rec.clone());
    Ok((StatusCode::ACCEPTED, Json(ChatJob::from(rec))).into_response())
}

async fn with_repo<T: Send + 'static>(
    state: &AppState,
    id: &str,
    doc: &str,
    f: impl FnOnce(Repo, DocKind) -> Result<T, DocChatError> + Send + 'static,
) -> Result<T, ApiError> {
    let repo = state.repo(id)?;
    let kind = kind_of(doc)?;
    blocking(move || Ok(f(repo, kind)?)).await
}

/// The latest chat request for a doc (404 when there was none).
#[utoipa::path(get, path = "/api/v1/repos/{id}/docs/{doc}/chat", tag = "docs",
    params(("id" = String, Path, description = "repository id"),
           ("doc" = String, Path, description = "todo, progress, opinions, spec or summary")),
    responses((status = 200, body = ChatJob),
              (status = 404, body = crate::ErrorBody, description = "no such repository or doc, or no request yet")))]
pub(crate) async fn latest(
    State(state): State<AppState>,
    Path((id, doc)): Path<(String, String)>,
) -> Result<Json<ChatJob>, ApiError> {
    let name = doc.clone();
    with_repo(&state, &id, &doc, move |repo, kind| {
        repo.doc_chat_latest(kind)
    })
    .await?
    .map(|r| Json(r.into()))
    .ok_or_else(|| ApiError::not_found(format!("no chat request for {name} yet")))
}

/// A chat request: its state and, once ready, the proposal and its diff.
#[utoipa::path(get, path = "/api/v1/repos/{id}/docs/{doc}/chat/{job}", tag = "docs",
    params(("id" = String, Path, description = "repository id"),
           ("doc" = String, Path, description = "todo, progress, opinions, spec or summary"),
           ("job" = String, Path, description = "the request's id")),
    responses((status = 200, body = ChatJob),
              (status = 404, body = crate::ErrorBody, description = "no such repository, doc or request")))]
pub(crate) async fn detail(
    State(state): State<AppState>,
    Path((id, doc, job)): Path<(String, String, String)>,
) -> Result<Json<ChatJob>, ApiError> {
    let rec = with_repo(&state, &id, &doc, move |repo, kind| {
        repo.doc_chat_get(kind, &job)
    })
    .await?;
    Ok(Json(rec.into()))
}

/// Writes a ready proposal to the doc if the doc is still at the version
/// the request started from; 409 with the current doc otherwise (nothing
/// is written, the proposal stays ready).
#[utoipa::path(post, path = "/api/v1/repos/{id}/docs/{doc}/chat/{job}/apply", tag = "docs",
    params(("id" = String, Path, description = "repository id"),
           ("doc" = String, Path, description = "todo, progress, opinions, spec or summary"),
           ("job" = String, Path, description = "the request's id")),
    responses((status = 200, body = Doc, headers(("ETag" = String))),
              (status = 404, body = crate::ErrorBody, description = "no such repository, doc or request"),
              (status = 409, body = crate::ErrorBody, description = "the doc changed (`current` holds it), or the request is not ready")))]
pub(crate) async fn apply(
    State(state): State<AppState>,
    Path((id, doc, job)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let j = job.clone();
    let rec = with_repo(&state, &id, &doc, move |repo, kind| {
        repo.doc_chat_get(kind, &j)
    })
    .await?;
    let Some(text) = rec
        .proposal
        .clone()
        .filter(|_| rec.state == ChatState::Ready)
    else {
        return Err(DocChatError::WrongState {
            id: rec.id,
            state: rec.state,
            action: "only a ready proposal can be applied",
        }
        .into());
    };
    let repo = state.repo(&id)?;
    let kind = rec.doc;
    let path = repo.doc_path(kind).to_path_buf();
    let written = write_if_match(&state, path, kind, rec.base_etag.clone(), text).await?;
    with_repo(&state, &id, &doc, move |repo, kind| {
        repo.doc_chat_close(kind, &job, ChatState::Applied)
    })
    .await?;
    Ok(with_etag(StatusCode::OK, written))
}

/// Discards a chat request (stopping its agent when it still runs).
#[utoipa::path(delete, path = "/api/v1/repos/{id}/docs/{doc}/chat/{job}", tag = "docs",
    params(("id" = String, Path, description = "repository id"),
           ("doc" = String, Path, description = "todo, progress, opinions, spec or summary"),
           ("job" = String, Path, description = "the request's id")),
    responses((status = 200, body = ChatJob),
              (status = 404, body = crate::ErrorBody, description = "no such repository, doc or request"),
              (status = 409, body = crate::ErrorBody, description = "the proposal was applied already")))]
pub(crate) async fn discard(
    State(state): State<AppState>,
    Path((id, doc, job)): Path<(String, String, String)>,
) -> Result<Json<ChatJob>, ApiError> {
    let k = key(&id, &job);
    let rec = with_repo(&state, &id, &doc, move |repo, kind| {
        repo.doc_chat_close(kind, &job, ChatState::Discarded)
    })
    .await?;
    if let Ok(m) = state.inner.doc_chats.lock()
        && let Some(stop) = m.get(&k)
    {
        stop.request(StopLevel::Graceful, StopCause::Killed);
    }
    Ok(Json(rec.into()))
}
