//! The UI's routes: the pages (the API's credentials, or the sign-in
//! page), the fragments their scripts fetch, and the static files
//! (public: they hold no data).

use axum::Router;
use axum::routing::{get, post};

use super::{
    assets, docs_page, hub_page, repo_page, runs_page, settings_page, snapshot_page, tasks_page,
    terminal_page,
};
use crate::state::AppState;

/// Every UI route, to merge into the app under its base path.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(hub_page::hub))
        .route("/repos/{id}", get(repo_page::dashboard))
        .route("/repos/{id}/docs", get(docs_page::todo))
        .route("/repos/{id}/docs/{doc}", get(docs_page::docs))
        .route("/ui/fragments/repos/{id}/preview", post(docs_page::preview))
        .route(
            "/ui/fragments/repos/{id}/docs/{doc}/chat",
            get(docs_page::chat),
        )
        .route("/ui/fragments/repos", get(hub_page::fragment))
        .route("/ui/fragments/machines", get(hub_page::machines))
        .route("/repos/{id}/terminal", get(terminal_page::terminal))
        .route("/repos/{id}/snapshot", get(snapshot_page::snapshot_page))
        .route("/repos/{id}/settings", get(settings_page::settings))
        .route("/repos/{id}/runs", get(runs_page::list))
        .route("/repos/{id}/runs/{n}", get(runs_page::detail))
        .route("/repos/{id}/tasks", get(tasks_page::tasks))
        .route("/repos/{id}/tasks/{task}", get(tasks_page::task))
        .route("/ui/fragments/repos/{id}/runs", get(runs_page::fragment))
        .route("/ui/fragments/repos/{id}/tasks", get(tasks_page::fragment))
        .route("/ui/fragments/repos/{id}", get(repo_page::fragment))
        .route(
            "/ui/fragments/repos/{id}/terminals",
            get(terminal_page::fragment),
        )
        .route(
            "/ui/fragments/repos/{id}/snapshot",
            get(snapshot_page::fragment),
        )
        .route("/ui/assets/{file}", get(assets::asset))
        .route("/sw.js", get(assets::service_worker))
        .route("/manifest.webmanifest", get(assets::manifest))
}
