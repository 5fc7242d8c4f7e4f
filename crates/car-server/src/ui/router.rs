//! The UI's routes: the pages (the API's credentials, or the sign-in
//! page), the fragments their scripts fetch, and the static files
//! (public: they hold no data).

use axum::Router;
use axum::routing::get;

use super::{assets, hub_page, repo_page, runs_page, tasks_page};
use crate::state::AppState;

/// Every UI route, to merge into the app under its base path.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(hub_page::hub))
        .route("/repos/{id}", get(repo_page::dashboard))
        .route("/repos/{id}/runs", get(runs_page::list))
        .route("/repos/{id}/runs/{n}", get(runs_page::detail))
        .route("/repos/{id}/tasks", get(tasks_page::tasks))
        .route("/repos/{id}/tasks/{task}", get(tasks_page::task))
        .route("/ui/fragments/repos", get(hub_page::fragment))
        .route("/ui/fragments/repos/{id}/runs", get(runs_page::fragment))
        .route("/ui/fragments/repos/{id}/tasks", get(tasks_page::fragment))
        .route("/ui/fragments/repos/{id}", get(repo_page::fragment))
        .route("/ui/assets/{file}", get(assets::asset))
        .route("/sw.js", get(assets::service_worker))
        .route("/manifest.webmanifest", get(assets::manifest))
}
