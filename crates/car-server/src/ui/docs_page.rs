//! `GET /repos/{id}/docs/{doc}`: a work doc (TODO, PROGRESS, OPINIONS,
//! SPEC, SUMMARY) in an editor beside its preview, saved through the
//! API's `PUT` with `If-Match` (a conflict shows both versions), and the
//! composer that asks the agent to change it (`.../docs/{doc}/chat`),
//! with the latest proposal. The preview is rendered here
//! (`POST /ui/fragments/repos/{id}/preview` for the script's updates).

use axum::body::Bytes;
use axum::extract::Path;
use axum::response::Response;
use car_core::{ChatState, DocKind};
use minijinja::{Value, context};

use super::access::{Fragment, Page};
use super::markdown;
use crate::routes::blocking;
use crate::routes::docs::{kind_of, read_doc};

/// The most text a preview renders (a doc larger than this shows cut).
const MAX_PREVIEW: usize = 2 * 1024 * 1024;

/// `GET /repos/{id}/docs`: the TODO.
pub(crate) async fn todo(ui: Page, Path(id): Path<String>) -> Result<Response, Response> {
    docs(ui, Path((id, "todo".to_string()))).await
}

/// `GET /repos/{id}/docs/{doc}`: the page of one doc.
pub(crate) async fn docs(
    ui: Page,
    Path((id, doc)): Path<(String, String)>,
) -> Result<Response, Response> {
    let repo = ui.state.repo(&id).map_err(|e| ui.fail(e))?;
    let kind = kind_of(&doc).map_err(|e| ui.fail(e))?;
    let head = ui.head(&id).await?;
    let path = repo.doc_path(kind).to_path_buf();
    let file = path
        .strip_prefix(repo.root())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let (current, (chat, chat_error), preview) = blocking(move || {
        let current = read_doc(&path, kind)?;
        let chat = chat_of(&repo, kind);
        let preview = markdown::render(cut(&current.text));
        Ok((current, chat, preview))
    })
    .await
    .map_err(|e| ui.fail(e))?;
    let docs: Vec<(&str, String)> = DocKind::ALL
        .iter()
        .map(|k| (k.name(), k.name().to_uppercase()))
        .collect();
    Ok(ui.render(
        "docs.html",
        &format!("{} · {}", kind.name().to_uppercase(), head.title),
        context! {
            doc => kind.name(),
            doc_label => kind.name().to_uppercase(),
            docs => docs,
            file => file,
            current => Value::from_serialize(&current),
            preview => Value::from_safe_string(preview),
            chat => Value::from_serialize(&chat),
            chat_error => chat_error,
            ..head.ctx
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
    ui: Fragment,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Response> {
    ui.state.repo(&id).map_err(|e| ui.fail(e))?;
    let text = String::from_utf8_lossy(&body).into_owned();
    let html = blocking(move || Ok(markdown::render(cut(&text))))
        .await
        .unwrap_or_default();
    Ok(ui.render(
        "docs_preview.html",
        "",
        context! { preview => Value::from_safe_string(html) },
    ))
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
    ui: Fragment,
    Path((id, doc)): Path<(String, String)>,
) -> Result<Response, Response> {
    let repo = ui.state.repo(&id).map_err(|e| ui.fail(e))?;
    let kind = kind_of(&doc).map_err(|e| ui.fail(e))?;
    let (chat, chat_error) = blocking(move || Ok(chat_of(&repo, kind)))
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(ui.render(
        "docs_chat.html",
        "",
        context! { chat => Value::from_serialize(&chat), chat_error => chat_error },
    ))
}
