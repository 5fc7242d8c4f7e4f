//! The runs: `GET .../runs?before=&limit=` (newest first), `GET
//! .../runs/{n}` (record, prompt, final output) and `GET
//! .../runs/{n}/output?offset=&limit=` (the output log, by bytes).

use std::io::{Read, Seek, SeekFrom};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{blocking, to_json};
use crate::error::ApiError;
use crate::state::AppState;

/// Most runs in one answer.
const MAX_RUNS: usize = 500;
/// Most output bytes in one answer.
const MAX_OUTPUT: u64 = 1 << 20;

/// A page of runs.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunsQuery {
    /// Only runs with a smaller id.
    before: Option<u64>,
    /// How many (default 50, at most 500).
    limit: Option<usize>,
}

/// A run in the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunItem {
    /// Its id.
    pub id: u64,
    /// Its `run.json` (`null` while it runs, or when it was lost).
    #[schema(value_type = Object)]
    pub record: Option<serde_json::Value>,
}

/// One run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunDetail {
    /// Its id.
    pub id: u64,
    /// Its `run.json` (`null` while it runs); it holds the doc diffs.
    #[schema(value_type = Object)]
    pub record: Option<serde_json::Value>,
    /// The prompt the agent got.
    pub prompt: Option<String>,
    /// The final output (fed to the next prompt).
    pub final_output: Option<String>,
}

/// A slice of a run's output log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutputQuery {
    /// The first byte (default 0).
    offset: Option<u64>,
    /// How many bytes at most (default and most 1 MiB).
    limit: Option<u64>,
}

/// Bytes of a run's output log, as text (invalid UTF-8 replaced).
#[derive(Debug, Serialize, ToSchema)]
pub struct OutputSlice {
    /// The run.
    pub run_id: u64,
    /// Where `text` starts.
    pub offset: u64,
    /// Where the next slice starts.
    pub next_offset: u64,
    /// The log's size now.
    pub size: u64,
    /// The bytes.
    pub text: String,
}

fn run_id(n: &str) -> Result<u64, ApiError> {
    n.parse()
        .map_err(|_| ApiError::bad_request(format!("{n:?} is not a run id")))
}

/// The runs, newest first.
#[utoipa::path(get, path = "/api/v1/repos/{id}/runs", tag = "runs",
    params(("id" = String, Path, description = "repository id"), RunsQuery),
    responses((status = 200, body = Vec<RunItem>), (status = 400, body = crate::ErrorBody),
              (status = 404, body = crate::ErrorBody, description = "no such repository")))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<RunsQuery>, QueryRejection>,
) -> Result<Json<Vec<RunItem>>, ApiError> {
    let Query(q) = query?;
    let repo = state.repo(&id)?.clone();
    let limit = q.limit.unwrap_or(50).min(MAX_RUNS);
    let items = blocking(move || {
        let mut ids = repo.run_ids();
        ids.retain(|&n| q.before.is_none_or(|b| n < b));
        ids.reverse();
        ids.truncate(limit);
        ids.into_iter()
            .map(|n| {
                let record = repo.run_record(n).map(|r| to_json(&r)).transpose()?;
                Ok(RunItem { id: n, record })
            })
            .collect()
    })
    .await?;
    Ok(Json(items))
}

/// One run: its record, prompt and final output.
#[utoipa::path(get, path = "/api/v1/repos/{id}/runs/{n}", tag = "runs",
    params(("id" = String, Path, description = "repository id"), ("n" = u64, Path, description = "run id")),
    responses((status = 200, body = RunDetail), (status = 404, body = crate::ErrorBody),
              (status = 400, body = crate::ErrorBody, description = "n is not a run id")))]
pub(crate) async fn detail(
    State(state): State<AppState>,
    Path((id, n)): Path<(String, String)>,
) -> Result<Json<RunDetail>, ApiError> {
    let n = run_id(&n)?;
    let repo = state.repo(&id)?.clone();
    let detail = blocking(move || {
        let dir = repo.runs_dir().join(n.to_string());
        if !dir.is_dir() && repo.output_log(n).is_none() {
            return Err(ApiError::not_found(format!("no run {n}")));
        }
        let text = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
        Ok(RunDetail {
            id: n,
            record: repo.run_record(n).map(|r| to_json(&r)).transpose()?,
            prompt: text("prompt.md"),
            final_output: text("final_output.md"),
        })
    })
    .await?;
    Ok(Json(detail))
}

/// A slice of a run's output log.
#[utoipa::path(get, path = "/api/v1/repos/{id}/runs/{n}/output", tag = "runs",
    params(("id" = String, Path, description = "repository id"), ("n" = u64, Path, description = "run id"), OutputQuery),
    responses((status = 200, body = OutputSlice), (status = 404, body = crate::ErrorBody),
              (status = 400, body = crate::ErrorBody, description = "n is not a run id, a bad query")))]
pub(crate) async fn output(
    State(state): State<AppState>,
    Path((id, n)): Path<(String, String)>,
    query: Result<Query<OutputQuery>, QueryRejection>,
) -> Result<Json<OutputSlice>, ApiError> {
    let Query(q) = query?;
    let n = run_id(&n)?;
    let repo = state.repo(&id)?.clone();
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(MAX_OUTPUT).min(MAX_OUTPUT);
    let slice = blocking(move || {
        let path = repo
            .output_log(n)
            .ok_or_else(|| ApiError::not_found(format!("run {n} has no output log")))?;
        let io = |e: std::io::Error| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "io",
                format!("cannot read {}: {e}", path.display()),
            )
        };
        let mut file = std::fs::File::open(&path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        let start = offset.min(size);
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(limit).read_to_end(&mut bytes).map_err(io)?;
        Ok(OutputSlice {
            run_id: n,
            offset: start,
            next_offset: start + bytes.len() as u64,
            size,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        })
    })
    .await?;
    Ok(Json(slice))
}
