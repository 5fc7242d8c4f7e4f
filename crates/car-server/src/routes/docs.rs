//! The work docs: `GET`/`PUT /api/v1/repos/{id}/docs/{doc}` with `ETag`
//! and `If-Match`. A write must name the version it is based on
//! (`If-Match: "<etag>"`, or `*` to overwrite whatever is there); a write
//! based on an old version gets 409 and the current text, so no update is
//! lost (the agent edits these files too). Writes are atomic (a temporary
//! file renamed over the doc).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use car_core::DocKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::blocking;
use crate::error::ApiError;
use crate::state::AppState;

/// A work doc and its version.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Doc {
    /// Which doc (`todo`, `progress`, `opinions`, `spec`, `summary`).
    pub doc: String,
    /// Its text (empty when the file does not exist).
    pub text: String,
    /// Its version, as in the `ETag` header (quoted).
    pub etag: String,
    /// Whether the file exists.
    pub exists: bool,
}

/// The body of a doc write.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocWrite {
    /// The new text.
    pub text: String,
}

pub(crate) fn kind_of(name: &str) -> Result<DocKind, ApiError> {
    DocKind::ALL
        .into_iter()
        .find(|k| k.name() == name)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no doc {name:?}: the docs are todo, progress, opinions, spec and summary"
            ))
        })
}

/// The version of `text`: its length and FNV-1a hash, quoted.
pub(crate) fn etag_of(exists: bool, bytes: &[u8]) -> String {
    car_core::doc_etag(exists, bytes)
}

pub(crate) fn read_doc(path: &std::path::Path, kind: DocKind) -> Result<Doc, ApiError> {
    let (exists, bytes) = match std::fs::read(path) {
        Ok(b) => (true, b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (false, Vec::new()),
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "io",
                format!("cannot read {}: {e}", path.display()),
            ));
        }
    };
    Ok(Doc {
        doc: kind.name().to_string(),
        etag: etag_of(exists, &bytes),
        text: String::from_utf8_lossy(&bytes).into_owned(),
        exists,
    })
}

pub(crate) fn with_etag(status: StatusCode, doc: Doc) -> Response {
    let etag = HeaderValue::from_str(&doc.etag).ok();
    let mut resp = (status, Json(doc)).into_response();
    if let Some(e) = etag {
        resp.headers_mut().insert(header::ETAG, e);
    }
    resp
}

/// A work doc, with its version in `ETag`.
#[utoipa::path(get, path = "/api/v1/repos/{id}/docs/{doc}", tag = "docs",
    params(("id" = String, Path, description = "repository id"),
           ("doc" = String, Path, description = "todo, progress, opinions, spec or summary")),
    responses((status = 200, body = Doc, headers(("ETag" = String))), (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn get_doc(
    State(state): State<AppState>,
    Path((id, doc)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let repo = state.repo(&id)?;
    let kind = kind_of(&doc)?;
    let path = repo.doc_path(kind).to_path_buf();
    let doc = blocking(move || read_doc(&path, kind)).await?;
    Ok(with_etag(StatusCode::OK, doc))
}

/// Writes a work doc if it is still at the version named by `If-Match`
/// (`*`: any); otherwise 409 with the current doc in `current`.
#[utoipa::path(put, path = "/api/v1/repos/{id}/docs/{doc}", tag = "docs",
    params(("id" = String, Path, description = "repository id"),
           ("doc" = String, Path, description = "todo, progress, opinions, spec or summary"),
           ("If-Match" = String, Header, description = "the ETag the write is based on, or *")),
    request_body = DocWrite,
    responses((status = 200, body = Doc, headers(("ETag" = String))),
              (status = 409, body = crate::ErrorBody, description = "the doc changed: `current` holds it"),
              (status = 428, body = crate::ErrorBody, description = "no If-Match"),
              (status = 400, body = crate::ErrorBody, description = "a body that is not {text}"),
              (status = 404, body = crate::ErrorBody, description = "no such repository or doc")))]
pub(crate) async fn put_doc(
    State(state): State<AppState>,
    Path((id, doc)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let repo = state.repo(&id)?;
    let kind = kind_of(&doc)?;
    let write: DocWrite = serde_json::from_slice(&body?)
        .map_err(|e| ApiError::bad_request(format!("the body must be {{\"text\": ...}}: {e}")))?;
    let Some(if_match) = headers.get(header::IF_MATCH) else {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition_required",
            "a doc write needs If-Match: the ETag it is based on (or * to overwrite)",
        ));
    };
    let if_match = if_match
        .to_str()
        .map_err(|_| ApiError::bad_request("If-Match is not text"))?
        .trim()
        .to_string();
    let path = repo.doc_path(kind).to_path_buf();
    let written = write_if_match(&state, path, kind, if_match, write.text).await?;
    Ok(with_etag(StatusCode::OK, written))
}

/// Writes `text` to the doc at `path` if it is still at the version
/// `if_match` names (`*`: any); otherwise 409 with the current doc.
pub(crate) async fn write_if_match(
    state: &AppState,
    path: std::path::PathBuf,
    kind: DocKind,
    if_match: String,
    text: String,
) -> Result<Doc, ApiError> {
    let _guard = state.inner.doc_write.lock().await;
    blocking(move || {
        let current = read_doc(&path, kind)?;
        let matches = if_match == "*"
            || if_match
                .split(',')
                .any(|t| t.trim().trim_start_matches("W/") == current.etag);
        if !matches {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!(
                    "{} changed since the version this write is based on",
                    kind.name()
                ),
            )
            .with_current(current));
        }
        car_core::write_atomic(&path, text.as_bytes())
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "io", e.to_string()))?;
        read_doc(&path, kind)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::etag_of;

    #[test]
    fn the_etag_changes_with_the_text_and_tells_a_missing_file() {
        assert_eq!(etag_of(true, b"a"), etag_of(true, b"a"));
        assert_ne!(etag_of(true, b"a"), etag_of(true, b"b"));
        assert_ne!(etag_of(true, b""), etag_of(false, b""));
        assert!(etag_of(true, b"x").starts_with('"'));
    }
}
