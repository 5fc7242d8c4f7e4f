//! `GET /api/v1/repos/{id}/docs/stream`: server-sent events telling each
//! work doc's version on disk: `event: doc`, `data: {"doc", "etag"}`,
//! once for every doc when the stream opens, then again whenever a doc's
//! bytes change (the agent, an editor or the API wrote it). The ETag is
//! the one `GET .../docs/{doc}` answers, so a client holding a doc
//! compares the two and fetches it again only when they differ. Also
//! `event: chat`, `data: {"doc", "job", "state"}`: each doc's latest chat
//! request once when the stream opens, then again when its state changes
//! (`running`, `ready`: its proposal is there, `failed`, `applied`,
//! `discarded`). Followed with file notifications (car-core's docs and
//! chat followers), not by reading the files again and again. A comment
//! every 15 s keeps it open; it ends when the server shuts down.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::response::sse::Event;
use car_core::{ChatStatus, DocVersion, Follow};
use tokio::sync::watch;

use super::sse::{Tx, shut_down};
use crate::error::ApiError;
use crate::state::AppState;

/// The docs' versions and their chat requests' states, as they change.
#[utoipa::path(get, path = "/api/v1/repos/{id}/docs/stream", tag = "docs",
    params(("id" = String, Path, description = "repository id")),
    responses((status = 200, content_type = "text/event-stream",
               description = "`doc` events `{doc, etag}` and `chat` events `{doc, job, state}`: every doc's at once, then each change"),
              (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let repo = state.repo(&id)?.clone();
    let follows =
        super::blocking(move || Ok((repo.follow_docs(), repo.follow_doc_chats()))).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(send(follows, tx, state.inner.shutdown.clone()));
    Ok(super::sse::respond(rx))
}

async fn send(
    (mut docs, mut chats): (Follow<DocVersion>, Follow<ChatStatus>),
    tx: Tx,
    shutdown: watch::Receiver<bool>,
) {
    loop {
        let (event, data) = tokio::select! {
            () = tx.closed() => return,
            () = shut_down(shutdown.clone()) => return,
            v = docs.next() => match v {
                Some(v) => ("doc", serde_json::to_string(&v)),
                None => return,
            },
            c = chats.next() => match c {
                Some(c) => ("chat", serde_json::to_string(&c)),
                None => return,
            },
        };
        let data = data.unwrap_or_default();
        if tx
            .send(Ok(Event::default().event(event).data(data)))
            .await
            .is_err()
        {
            return;
        }
    }
}
