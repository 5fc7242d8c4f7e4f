//! What every page shares: who may see it (the API's credentials: a
//! session cookie from the one-time link, the bearer token, or anyone
//! local when the server has no token), the sign-in page shown instead
//! (200, no data: never a redirect loop, never a 401 in JSON), the base
//! context of the templates and the "not found" page.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::{Value, context};

use super::assets::assets;
use super::render::page;
use crate::state::AppState;

/// Whether this request may see the pages: `Err` is the answer instead
/// (the sign-in page, or an error page when sessions cannot be read).
pub(crate) async fn allowed(
    state: &AppState,
    headers: &HeaderMap,
    base: &str,
) -> Result<(), Response> {
    match crate::guard::caller(state, headers).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(signin_page(base, StatusCode::OK, false)),
        Err(e) => Err(error_page(
            base,
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("the sessions cannot be checked: {}", e.message()),
        )),
    }
}

/// The sign-in page, with `status`; `link_refused` says a one-time link
/// was used, expired or unknown (what a browser gets for one).
pub(crate) fn signin_page(base: &str, status: StatusCode, link_refused: bool) -> Response {
    page(
        status,
        "signin.html",
        ctx(base, "Sign in", context! { link_refused => link_refused }),
    )
}

/// Whether this request may see a fragment (a part of a page, fetched by
/// its script): `Err` is 401 with a short text (the script reloads the
/// page, which then shows the sign-in page).
pub(crate) async fn fragment_allowed(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(), Response> {
    match crate::guard::caller(state, headers).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(error_page("", StatusCode::UNAUTHORIZED, "signed out")),
        Err(e) => Err(error_page(
            "",
            StatusCode::INTERNAL_SERVER_ERROR,
            e.message(),
        )),
    }
}

/// The base context: the base path, the assets' URLs and the title,
/// merged with `extra`.
pub(crate) fn ctx(base: &str, title: &str, extra: Value) -> Value {
    context! {
        base => base,
        assets => Value::from_serialize(assets().urls(base)),
        title => title,
        ..extra
    }
}

/// A page that says what went wrong, with `status`.
pub(crate) fn error_page(base: &str, status: StatusCode, message: &str) -> Response {
    page(
        status,
        "error.html",
        ctx(base, "Error", context! { message => message }),
    )
}

/// Whether repository `id`'s pages show the microphone in their
/// composers: voice input is on and its key variable is set.
pub(crate) fn voice_on(state: &AppState, id: &str) -> bool {
    state
        .repo(id)
        .is_ok_and(|r| crate::voice::available(&r.config().voice))
}

/// What every page of one repository shows around its own part: the
/// repository (for the tab bar) and whether the server serves several
/// (a link back to the hub). `Err` is the error page.
pub(crate) struct RepoHead {
    pub(crate) title: String,
    pub(crate) ctx: Value,
}

/// The head of repository `id`'s pages.
pub(crate) async fn repo_head(
    state: &AppState,
    base: &str,
    id: &str,
) -> Result<RepoHead, Response> {
    let all = crate::routes::repo_list::list(
        axum::extract::State(state.clone()),
        axum::http::Extensions::new(),
    )
    .await
    .map_err(|e| error_page(base, e.status(), e.message()))?
    .0;
    let multi = all.len() > 1;
    let Some(summary) = all.into_iter().find(|r| r.id == id) else {
        return Err(error_page(
            base,
            StatusCode::NOT_FOUND,
            &format!("no repository with id {id:?}"),
        ));
    };
    Ok(RepoHead {
        title: summary
            .display_name
            .clone()
            .unwrap_or_else(|| id.to_string()),
        ctx: context! {
            repo => Value::from_serialize(&summary),
            multi => multi,
            voice => voice_on(state, id),
        },
    })
}
