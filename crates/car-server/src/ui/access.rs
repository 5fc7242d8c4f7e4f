//! What every page and fragment handler starts with, as extractors: the
//! caller's credentials are checked before the handler runs ([`Page`]
//! answers the sign-in page instead, [`Fragment`] a 401 its script turns
//! into a reload), the base path is at hand, and a query that does not
//! parse is a 400 page ([`UiQuery`]). Handlers return
//! `Result<Response, Response>`, so `?` turns any failure into the error
//! page with the failure's status.

use std::ops::Deref;

use axum::extract::{FromRequestParts, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use minijinja::Value;
use serde::de::DeserializeOwned;

use super::pages::{RepoHead, allowed, ctx, error_page, fragment_allowed, repo_head};
use super::render::page;
use crate::ApiError;
use crate::routes::login::BasePath;
use crate::state::AppState;

/// A request that may see the UI: the server's state and the base path.
pub(crate) struct Ui {
    pub(crate) state: AppState,
    pub(crate) base: String,
}

impl Ui {
    fn from_parts(parts: &Parts, state: &AppState) -> Self {
        Self {
            state: state.clone(),
            base: base_path(parts),
        }
    }

    /// The error page for `e`, with its status.
    pub(crate) fn fail(&self, e: ApiError) -> Response {
        error_page(&self.base, e.status(), e.message())
    }

    /// Template `name` with the base context, title `title` and `extra`.
    pub(crate) fn render(&self, name: &str, title: &str, extra: Value) -> Response {
        page(StatusCode::OK, name, ctx(&self.base, title, extra))
    }

    /// The head of repository `id`'s pages (the error page when there is
    /// no such repository).
    pub(crate) async fn head(&self, id: &str) -> Result<RepoHead, Response> {
        repo_head(&self.state, &self.base, id).await
    }
}

fn base_path(parts: &Parts) -> String {
    parts
        .extensions
        .get::<BasePath>()
        .map(|b| b.0.clone())
        .unwrap_or_default()
}

/// A whole page: signed-out callers get the sign-in page.
pub(crate) struct Page(Ui);

impl Deref for Page {
    type Target = Ui;
    fn deref(&self) -> &Ui {
        &self.0
    }
}

impl FromRequestParts<AppState> for Page {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let ui = Ui::from_parts(parts, state);
        allowed(state, &parts.headers, &ui.base).await?;
        Ok(Self(ui))
    }
}

/// A part of a page fetched by its script: signed-out callers get 401.
pub(crate) struct Fragment(Ui);

impl Deref for Fragment {
    type Target = Ui;
    fn deref(&self) -> &Ui {
        &self.0
    }
}

impl FromRequestParts<AppState> for Fragment {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        fragment_allowed(state, &parts.headers).await?;
        Ok(Self(Ui::from_parts(parts, state)))
    }
}

/// The query of a page's address; one that does not parse is a 400 page
/// saying why. (Put it after [`Page`]/[`Fragment`] in a handler's
/// arguments, so a signed-out caller sees the sign-in page first.)
pub(crate) struct UiQuery<T>(pub(crate) T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for UiQuery<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(q)) => Ok(Self(q)),
            Err(e) => Err(error_page(
                &base_path(parts),
                StatusCode::BAD_REQUEST,
                &format!("bad query: {}", e.body_text()),
            )),
        }
    }
}
