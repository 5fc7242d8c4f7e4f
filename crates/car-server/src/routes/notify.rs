//! `POST /api/v1/repos/{id}/notify/test`: what `car notify test` does, a
//! test message through each configured notification provider (or one),
//! sent now, with each provider's result: sent (with the message id the
//! provider gave) or failed and why (HTTP status, timeout, not
//! configured). Secrets (topics, tokens, webhook URLs) are never in the
//! answer.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::blocking;
use super::repo_jobs::parse;
use crate::error::ApiError;
use crate::state::AppState;

/// The optional body of `POST .../notify/test`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyTestBody {
    /// Only this provider (`ntfy`, `discord`, `telegram` or `webhook`).
    pub provider: Option<String>,
}

/// One provider's result.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotifyTestResult {
    /// `ntfy`, `discord`, `telegram` or `webhook`.
    pub provider: String,
    /// Whether the provider took the message.
    pub sent: bool,
    /// The id the provider gave the message, when it gave one.
    pub message_id: Option<String>,
    /// Why it was not sent.
    pub error: Option<String>,
}

/// The results of a test notification.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotifyTestReport {
    /// Each provider's result; empty when none is configured.
    pub results: Vec<NotifyTestResult>,
    /// Whether there was at least one provider and every one took it.
    pub all_sent: bool,
    /// What to set when no provider is configured.
    pub hint: Option<String>,
}

/// What configures a provider, for the answer when none is.
const NO_PROVIDER: &str = "no notification provider is configured; set CAR_NTFY_TOPIC (ntfy), CAR_TELEGRAM_BOT_TOKEN and CAR_TELEGRAM_CHAT_ID, CAR_DISCORD_WEBHOOK_URL or CAR_WEBHOOK_URL in the server's environment";

/// Sends a test notification through each configured provider (or only
/// `provider`) and answers each result, once all have answered (each
/// within `notifications.timeout_seconds`).
#[utoipa::path(post, path = "/api/v1/repos/{id}/notify/test", tag = "repos",
    params(("id" = String, Path, description = "repository id")),
    request_body(content = Option<NotifyTestBody>, description = "optional"),
    responses((status = 200, body = NotifyTestReport),
              (status = 400, body = crate::ErrorBody, description = "a body that is not the options"),
              (status = 404, body = crate::ErrorBody, description = "no such repository")))]
pub(crate) async fn test(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<NotifyTestReport>, ApiError> {
    let opts: NotifyTestBody = parse(&body?, r#"{"provider"?: "NAME"}"#)?;
    let repo = state.repo(&id)?;
    let results = blocking(move || Ok(repo.notify_test(opts.provider.as_deref()))).await?;
    let results: Vec<NotifyTestResult> = results
        .into_iter()
        .map(|(provider, r)| match r {
            Ok(message_id) => NotifyTestResult {
                provider,
                sent: true,
                message_id,
                error: None,
            },
            Err(e) => NotifyTestResult {
                provider,
                sent: false,
                message_id: None,
                error: Some(e),
            },
        })
        .collect();
    Ok(Json(NotifyTestReport {
        all_sent: !results.is_empty() && results.iter().all(|r| r.sent),
        hint: results.is_empty().then(|| NO_PROVIDER.to_string()),
        results,
    }))
}
