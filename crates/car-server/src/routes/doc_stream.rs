//! `GET /api/v1/repos/{id}/docs/stream`: server-sent events telling each
//! work doc's version on disk: `event: doc`, `data: {"doc", "etag"}`,
//! once for every doc when the stream opens, then again whenever a doc's
//! bytes change (the agent, an editor or the API wrote it). The ETag is
//! the one `GET .../docs/{doc}` answers, so a client holding a doc
//! compares the two and fetches it again only when they differ. Followed
//! with file notifications (car-core's docs follower), not by reading the
//! docs again and again. A comment every 15 s keeps it open; it ends when
//! the server shuts down.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::response::sse::Event;
use car_core::{DocVersion, Follow};
use tokio::sync::watch;

use super::sse::{Tx, shut_down};
use crate::error::ApiError;
use crate::state::AppState;

/// The docs' versions, as they change.
#[utoipa::path(get, path = "/api/v1/repos/{id}/docs/stream", tag = "docs",
    params(("id" = String, Path, description = "repository id")),
    responses((status = 200, content_type = "text/event-stream",
               description = "`doc` events `{doc, etag}`: every doc at once, then each change"),
              (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let repo = state.repo(&id)?.clone();
    let follow = super::blocking(move || Ok(repo.follow_docs())).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(send(follow, tx, state.inner.shutdown.clone()));
    Ok(super::sse::respond(rx))
}

async fn send(mut follow: Follow<DocVersion>, tx: Tx, shutdown: watch::Receiver<bool>) {
    loop {
        let next = tokio::select! {
            () = tx.closed() => return,
            () = shut_down(shutdown.clone()) => return,
            v = follow.next() => v,
        };
        let Some(version) = next else { return };
        let data = serde_json::to_string(&version).unwrap_or_default();
        if tx
            .send(Ok(Event::default().event("doc").data(data)))
            .await
            .is_err()
        {
            return;
        }
    }
}
