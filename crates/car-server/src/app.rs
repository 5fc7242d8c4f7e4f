//! The router: every route with its OpenAPI description (one list for
//! both, so no route is missing from `/api/v1/openapi.json`), and the
//! checks around them.

use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::audit;
use crate::disabled::refuse_disabled;
use crate::error::ApiError;
use crate::guard::{check_auth, check_host};
use crate::rate::rate_limit;
use crate::routes::{
    control, doc_chat, doc_stream, docs, events, exec_stream, execs, health, hub_control,
    hub_stream, login, machines, notify, repo_jobs, repo_list, repos, runs, sessions, stream,
    task_output, task_stream, tasks, terminal_ws, terminals, voice, worktrees, ws,
};
use crate::state::AppState;

/// The most bytes a request body may have.
pub const MAX_BODY: usize = 1 << 20;

#[derive(OpenApi)]
#[openapi(
    info(title = "car serve", description = "The HTTP API of codex-autorunner: a repository's loop, docs, runs and events, Codex tasks and commands."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(crate::ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = api.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

/// The API routes (token required) and their OpenAPI description.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(repo_list::list))
        .routes(routes!(machines::list))
        .routes(routes!(repos::status))
        .routes(routes!(repos::config))
        .routes(routes!(notify::test))
        .routes(routes!(voice::transcribe))
        .routes(routes!(doc_stream::stream))
        .routes(routes!(docs::get_doc, docs::put_doc))
        .routes(routes!(doc_chat::ask, doc_chat::latest))
        .routes(routes!(doc_chat::detail, doc_chat::discard))
        .routes(routes!(doc_chat::apply))
        .routes(routes!(control::loop_action))
        .routes(routes!(control::reply))
        .routes(routes!(runs::list))
        .routes(routes!(runs::detail))
        .routes(routes!(runs::output))
        .routes(routes!(events::list))
        .routes(routes!(stream::stream))
        .routes(routes!(hub_stream::stream))
        .routes(routes!(worktrees::create))
        .routes(routes!(worktrees::remove))
        .routes(routes!(hub_control::start))
        .routes(routes!(hub_control::stop))
        .routes(routes!(ws::ws))
        .routes(routes!(repo_jobs::snapshot))
        .routes(routes!(repo_jobs::ingest_spec))
        .routes(routes!(repo_jobs::result))
        .routes(routes!(tasks::spawn, tasks::list))
        .routes(routes!(tasks::detail, tasks::cancel))
        .routes(routes!(tasks::reply))
        .routes(routes!(task_stream::stream))
        .routes(routes!(execs::start, execs::list))
        .routes(routes!(execs::detail, execs::cancel))
        .routes(routes!(execs::logs))
        .routes(routes!(exec_stream::stream))
        .routes(routes!(task_output::output))
        .routes(routes!(terminals::open, terminals::list))
        .routes(routes!(terminals::stop))
        .routes(routes!(terminal_ws::ws))
        .routes(routes!(sessions::list))
        .routes(routes!(sessions::revoke))
        .routes(routes!(sessions::new_link))
        .routes(routes!(openapi_json))
}

/// The OpenAPI document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api_routes()
        .routes(routes!(health::health))
        .routes(routes!(login::link))
        .into_openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    crate::refusals::document_refusals(&mut doc);
    doc
}

static DOCUMENT: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();

/// This OpenAPI document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "server",
    responses((status = 200, body = Object, description = "the OpenAPI document")))]
async fn openapi_json() -> Json<serde_json::Value> {
    Json(
        DOCUMENT
            .get_or_init(|| serde_json::to_value(openapi()).unwrap_or_default())
            .clone(),
    )
}

/// The app: `/health` (public), the API under `/api/v1` (bearer token),
/// all under `base_path` (`""` or `/x`), `Host` checked on every request.
pub fn app(state: AppState, base_path: &str) -> Router {
    let (api, _) = api_routes()
        // The last layer runs first: the token, the rate, the audit, then
        // a hub's disabled repositories.
        .route_layer(from_fn_with_state(state.clone(), refuse_disabled))
        .route_layer(from_fn_with_state(state.clone(), audit))
        .route_layer(from_fn_with_state(state.clone(), rate_limit))
        .route_layer(from_fn_with_state(state.clone(), check_auth))
        .routes(routes!(health::health))
        .routes(routes!(login::link))
        .split_for_parts();
    let inner = api
        .merge(crate::ui::routes())
        .fallback(not_found)
        .layer(axum::Extension(login::BasePath(base_path.to_string())))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(from_fn_with_state(state.clone(), check_host))
        .with_state(state.clone());
    if base_path.is_empty() {
        inner
    } else {
        // `nest` answers `/x` but not `/x/`, where the one-time link lands:
        // the hub page is served at both.
        let hub = axum::routing::get(crate::ui::hub)
            .layer(axum::Extension(login::BasePath(base_path.to_string())))
            .with_state(state.clone());
        Router::new()
            .nest(base_path, inner)
            .route(&format!("{base_path}/"), hub)
            .fallback(not_found)
            .layer(from_fn_with_state(state, check_host))
    }
}

async fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route").into_response()
}
