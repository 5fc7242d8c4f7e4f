//! `GET /repos/{id}/snapshot`: the repository's `SNAPSHOT.md` (as text,
//! with its age) and the buttons that make it with the agent: Generate or
//! Update (incremental when one exists), Regenerate from scratch; Copy.
//! Its script starts `POST /api/v1/repos/{id}/snapshot` (a job), follows
//! `GET .../jobs/{job}` until it ends (`?job=<id>` in the address, so a
//! reload goes on following it), then fetches the snapshot again from
//! `GET /ui/fragments/repos/{id}/snapshot` (the same template).

use std::time::SystemTime;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{Value, context};
use serde::Serialize;

use super::access::{Fragment, Page};
use crate::routes::blocking;
use crate::state::AppState;

/// The most of a snapshot a page shows (a snapshot is a few KB; one
/// grown past this is cut, saying so).
const MAX_SHOWN: usize = 512 * 1024;

/// `SNAPSHOT.md` as the page shows it.
#[derive(Debug, Serialize)]
struct Snapshot {
    /// Its path relative to the root.
    path: String,
    /// Its text (`None`: there is none yet).
    text: Option<String>,
    /// Whether the text was cut at [`MAX_SHOWN`].
    cut: bool,
    /// Seconds since it was written.
    age: Option<u64>,
    lines: usize,
    /// The text as HTML to read (safe: see `markdown`).
    html: Option<String>,
}

fn read(repo: &car_core::Repo) -> Result<Snapshot, crate::ApiError> {
    let file = repo.config().docs.snapshot.clone();
    let path = file
        .strip_prefix(repo.root())
        .unwrap_or(&file)
        .display()
        .to_string();
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Snapshot {
                path,
                text: None,
                cut: false,
                age: None,
                lines: 0,
                html: None,
            });
        }
        Err(e) => {
            return Err(crate::ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "io",
                format!("{} cannot be read: {e}", file.display()),
            ));
        }
    };
    let age = std::fs::metadata(&file)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map(|d| d.as_secs());
    let cut = bytes.len() > MAX_SHOWN;
    let mut text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_SHOWN)]).into_owned();
    if cut {
        // A cut in the middle of a character was replaced: drop it.
        text.truncate(text.trim_end_matches('\u{fffd}').len());
    }
    Ok(Snapshot {
        path,
        lines: text.lines().count(),
        html: Some(super::markdown::render_read_only(&text)),
        text: Some(text),
        cut,
        age,
    })
}

async fn snapshot(state: &AppState, id: &str) -> Result<Snapshot, crate::ApiError> {
    let repo = state.repo(id)?;
    blocking(move || read(&repo)).await
}

/// The page.
pub(crate) async fn snapshot_page(ui: Page, Path(id): Path<String>) -> Result<Response, Response> {
    let head = ui.head(&id).await?;
    let s = snapshot(&ui.state, &id).await.map_err(|e| ui.fail(e))?;
    Ok(ui.render(
        "snapshot.html",
        &format!("{} · snapshot", head.title),
        context! { snapshot => Value::from_serialize(&s), name => head.title.clone(), ..head.ctx },
    ))
}

/// The snapshot alone, for the page's script.
pub(crate) async fn fragment(ui: Fragment, Path(id): Path<String>) -> Result<Response, Response> {
    let s = snapshot(&ui.state, &id).await.map_err(|e| ui.fail(e))?;
    Ok(ui.render(
        "snapshot_view.html",
        "",
        context! { snapshot => Value::from_serialize(&s) },
    ))
}
