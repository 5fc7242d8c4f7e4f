//! Small helpers the handlers share.

use std::net::SocketAddr;

use car_core::{RequestedBy, Requester};

use crate::error::ApiError;

/// Runs file work (state, locks, docs) on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("a request's work ended abnormally: {e}"),
        )
    })?
}

/// A value as JSON.
pub(crate) fn to_json(value: &impl serde::Serialize) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("cannot encode the answer: {e}"),
        )
    })
}

/// Who asks, for the ledger, `car status` and a task's or command's
/// owner: the api, from `http <peer>`, as the user of a user token.
pub(crate) fn requester_of(ext: &axum::http::Extensions) -> Requester {
    let peer = ext
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let user = crate::user_auth::caller_of(ext)
        .user()
        .map(|u| u.name.clone());
    requester(peer).as_user(user)
}

/// Who asks, for the ledger and `car status`: the api, from `http <peer>`.
pub(crate) fn requester(peer: Option<SocketAddr>) -> Requester {
    let origin = peer.map_or_else(|| "http".to_string(), |p| format!("http {p}"));
    Requester::new(RequestedBy::Api, origin)
}
