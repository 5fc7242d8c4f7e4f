//! Driving the loop: `POST .../loop/{run|once|stop|kill|resume}` and
//! `POST .../reply`, through the library's launch and control API, as the
//! api from `http <peer address>`. A loop started here is a `car run`
//! process of its own: stopping the server never stops it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use car_core::{LaunchReport, LoopCommand, ResumeReport};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{blocking, requester_of, to_json};
use crate::error::ApiError;
use crate::state::AppState;

/// The body of a reply.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// The answer to the agent's question; the next run's prompt carries it.
    pub text: String,
}

/// The optional body of `POST .../loop/run`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoopBody {
    /// `run` only: stop after this many runs (overrides
    /// `runner.stop_after_runs`).
    pub max_runs: Option<u64>,
}

fn busy(pid: u32) -> ApiError {
    ApiError::busy(format!("a runner is active already (pid {pid})"))
}

/// Starts (`run`, `once`, `resume`), stops after the current run (`stop`),
/// stops now without waiting (`stop_now`: the runner ends its agent within
/// `runner.kill_grace_seconds` and records the stop) or stops now and
/// waits, killing what does not end in time (`kill`) the repository's
/// loop. A start answers
/// 202 with the runner's pid, or 409 when a runner is active. The body
/// may be empty.
#[utoipa::path(post, path = "/api/v1/repos/{id}/loop/{action}", tag = "loop",
    params(("id" = String, Path, description = "repository id"),
           ("action" = String, Path, description = "run, once, stop, stop_now, kill or resume")),
    request_body(content = Option<LoopBody>, description = "optional"),
    responses((status = 202, body = Object, description = "a runner was started: {result, pid}"),
              (status = 200, body = Object, description = "stop, stop_now or kill: what was found"),
              (status = 400, body = crate::ErrorBody, description = "a body that is not {max_runs}"),
              (status = 409, body = crate::ErrorBody, description = "a runner is active"),
              (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn loop_action(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    ext: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let repo = state.repo(&id)?.clone();
    let body = body?;
    let opts: LoopBody = if body.iter().all(u8::is_ascii_whitespace) {
        LoopBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body must be empty or {{\"max_runs\": N}}: {e}"
            ))
        })?
    };
    if opts.max_runs == Some(0) {
        return Err(ApiError::bad_request("max_runs must be at least 1"));
    }
    let control = repo.control(requester_of(&ext));
    let program = state.inner.program.clone();
    let launch = |cmd: LoopCommand| async move {
        match blocking(move || Ok(repo.launch(&program, cmd)?)).await? {
            LaunchReport::AlreadyRunning { pid } => Err(busy(pid)),
            started => Ok((StatusCode::ACCEPTED, Json(to_json(&started)?)).into_response()),
        }
    };
    match action.as_str() {
        "run" => {
            launch(LoopCommand::Run {
                max_runs: opts.max_runs,
            })
            .await
        }
        "once" => launch(LoopCommand::Once).await,
        "resume" => {
            let program = state.inner.program.clone();
            match blocking(move || Ok(control.resume(&program)?)).await? {
                ResumeReport::AlreadyRunning { pid } => Err(busy(pid)),
                started => Ok((StatusCode::ACCEPTED, Json(to_json(&started)?)).into_response()),
            }
        }
        "stop" => {
            let report = blocking(move || Ok(control.stop_after_run()?)).await?;
            Ok(Json(to_json(&report)?).into_response())
        }
        "stop_now" => {
            let report = blocking(move || Ok(control.stop_now()?)).await?;
            Ok(Json(to_json(&report)?).into_response())
        }
        "kill" => {
            let report = blocking(move || Ok(control.kill()?)).await?;
            Ok(Json(to_json(&report)?).into_response())
        }
        other => Err(ApiError::not_found(format!(
            "no loop action {other:?}: the actions are run, once, stop, stop_now, kill and resume"
        ))),
    }
}

/// Answers the agent's question; the next run's prompt carries the answer.
#[utoipa::path(post, path = "/api/v1/repos/{id}/reply", tag = "loop",
    params(("id" = String, Path, description = "repository id")),
    request_body = ReplyBody,
    responses((status = 200, body = Object, description = "the question answered, if one was open"),
              (status = 400, body = crate::ErrorBody),
              (status = 404, body = crate::ErrorBody, description = "no such repository")))]
pub(crate) async fn reply(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ext: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let repo = state.repo(&id)?.clone();
    let body: ReplyBody = serde_json::from_slice(&body?)
        .map_err(|e| ApiError::bad_request(format!("the body must be {{\"text\": ...}}: {e}")))?;
    if body.text.trim().is_empty() {
        return Err(ApiError::bad_request("the reply is empty"));
    }
    let control = repo.control(requester_of(&ext));
    let report = blocking(move || Ok(control.reply(&body.text)?)).await?;
    Ok(Json(to_json(&report)?).into_response())
}
