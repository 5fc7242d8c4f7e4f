//! `GET /repos/{id}/docs/{doc}`: a work doc (TODO, PROGRESS, OPINIONS,
//! SPEC, SUMMARY) in an editor beside its preview, saved through the
//! API's `PUT` with `If-Match` (a conflict shows both versions), and the
//! composer that asks the agent to change it (`.../docs/{doc}/chat`),
//! with the latest proposal. The preview is rendered here
//! (`POST /ui/fragments/repos/{id}/preview` for the script's updates).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use car_core::{ChatState, DocKind};
use minijinja::{Value, context};

use super::markdown;
use super::pages::{allowed, ctx, error_page, fragment_allowed};
use super::render::page;
use crate::routes::blocking;
use crate::routes::docs::{kind_of, read_doc};
use crate::routes::login::BasePath;
use crate::state::AppState;

/// The most text a preview renders (a doc larger than this shows cut).
const MAX_PREVIEW: usize = 2 * 1024 * 1024;

/// `GET /repos/{id}/docs`: the TODO.
pub(crate) async fn todo(
    state: State<AppState>,
    base: Extension<BasePath>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    docs(state, base, Path((id, "todo".to_string())), headers).await
}

/// `GET /repos/{id}/docs/{doc}`: the page of one doc.
pub(crate) async fn docs(
    State(state): State<AppState>,
    Extension(BasePath(base)): Extension<BasePath>,
    Path((id, doc)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(resp) = allowed(&state, &headers, &base).await {
        return resp;
    }
    match load(&state, &id, &doc).await {
        Ok((title, extra)) => page(StatusCode::OK, "docs.html", ctx(&base, &title, extra)),
        Err(e) => error_page(&base, e.status(), e.message()),
    }
}

async fn load(state: &AppState, id: &str, doc: &str) -> Result<(String, Value), crate::ApiError> {
    let repo = state.repo(id)?;
    let kind = kind_of(doc)?;
    let all = crate::routes::repo_list::list(State(state.clone()))
        .await?
        .0;
    let multi = all.len() > 1;
    let summary = all
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| crate::ApiError::not_found(format!("no repository with id {id:?}")))?;
    let path = repo.doc_path(kind).to_path_buf();
    let (current, chat, preview) = blocking(move || {
        let current = read_doc(&path, kind)?;
        let chat = chat_of(&repo, kind);
        let preview = markdown::render(cut(&current.text));
        Ok((current, chat, preview))
    })
    .await?;
    let (chat, chat_error) = chat;
    let title = format!(
        "{} · {}",
        kind.name().to_uppercase(),
        summary
            .display_name
            .clone()
            .unwrap_or_else(|| id.to_string())
    );
    let docs: Vec<(&str, String)> = DocKind::ALL
        .iter()
        .map(|k| (k.name(), k.name().to_uppercase()))
        .collect();
    let file = state
        .repo(id)?
        .doc_path(kind)
        .strip_prefix(state.repo(id)?.root())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    Ok((
        title,
        context! {
            repo => Value::from_serialize(&summary),
            multi => multi,
            voice => super::pages::voice_on(state, id),
            doc => kind.name(),
            doc_label => kind.name().to_uppercase(),
            docs => docs,
            file => file,
            current => Value::from_serialize(&current),
            preview => Value::from_safe_string(preview),
            chat => Value::from_serialize(&chat),
            chat_error => chat_error,
        },
    ))
}

fn cut(text: &str) -> &str {
    if text.len() <= MAX_PREVIEW {
        return text;
    }
    let mut end = MAX_PREVIEW;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `POST /ui/fragments/repos/{id}/preview`: the body (Markdown) as the
/// preview's HTML.
pub(crate) async fn preview(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(resp) = fragment_allowed(&state, &headers).await {
        return resp;
    }
    if let Err(e) = state.repo(&id) {
        return error_page("", e.status(), e.message());
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    let html = blocking(move || Ok(markdown::render(cut(&text))))
        .await
        .unwrap_or_default();
    page(
        StatusCode::OK,
        "docs_preview.html",
        context! { preview => Value::from_safe_string(html) },
    )
}

/// The latest request about `kind` still to show (not applied or
/// discarded), or why its record cannot be read.
fn chat_of(repo: &car_core::Repo, kind: DocKind) -> (Option<crate::ChatJob>, Option<String>) {
    match repo.doc_chat_latest(kind) {
        Ok(c) => (
            c.filter(|c| !matches!(c.state, ChatState::Applied | ChatState::Discarded))
                .map(crate::ChatJob::from),
            None,
        ),
        Err(e) => (None, Some(e.to_string())),
    }
}

/// `GET /ui/fragments/repos/{id}/docs/{doc}/chat`: the latest request
/// to the agent, for the page's script.
pub(crate) async fn chat(
    State(state): State<AppState>,
    Path((id, doc)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(resp) = fragment_allowed(&state, &headers).await {
        return resp;
    }
    let (repo, kind) = match state.repo(&id).and_then(|r| Ok((r, kind_of(&doc)?))) {
        Ok(x) => x,
        Err(e) => return error_page("", e.status(), e.message()),
    };
    match blocking(move || Ok(chat_of(&repo, kind))).await {
        Ok((chat, chat_error)) => page(
            StatusCode::OK,
            "docs_chat.html",
            context! { chat => Value::from_serialize(&chat), chat_error => chat_error },
        ),
        Err(e) => error_page("", e.status(), e.message()),
    }
}
