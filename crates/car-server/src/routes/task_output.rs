//! `GET /api/v1/tasks/{id}/output?offset=&limit=`: a task's output log
//! (every turn's) by bytes, as `car task logs ID` prints it: what a client
//! shows unchanged (the stream's `log` events carry lines without their
//! `[ts] stream: ` prefix).

use std::io::{Read, Seek, SeekFrom};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{blocking, requester};
use crate::error::ApiError;
use crate::state::AppState;

/// Most bytes in one answer.
const MAX_OUTPUT: u64 = 1 << 20;

/// A slice of a task's output log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskOutputQuery {
    /// The first byte (default 0).
    offset: Option<u64>,
    /// How many bytes at most (default and most 1 MiB).
    limit: Option<u64>,
}

/// Bytes of a task's output log, as text (invalid UTF-8 replaced).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaskOutputSlice {
    /// The task.
    pub(crate) task_id: String,
    /// Where `text` starts.
    pub(crate) offset: u64,
    /// Where the next slice starts.
    pub(crate) next_offset: u64,
    /// The log's size now (0 before the task's process wrote anything).
    pub(crate) size: u64,
    /// The bytes.
    pub(crate) text: String,
}

/// A slice of a task's output log.
#[utoipa::path(get, path = "/api/v1/tasks/{id}/output", tag = "tasks",
    params(("id" = String, Path, description = "task id"), TaskOutputQuery),
    responses((status = 200, body = TaskOutputSlice), (status = 404, body = crate::ErrorBody)))]
pub(crate) async fn output(
    State(state): State<AppState>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
    query: Result<Query<TaskOutputQuery>, QueryRejection>,
) -> Result<Json<TaskOutputSlice>, ApiError> {
    let Query(q) = query?;
    let (_, repo, _) = super::tasks::find(&state, &ext, &id).await?;
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(MAX_OUTPUT).min(MAX_OUTPUT);
    let slice = blocking(move || {
        let path = repo.tasks(requester(None)).output_log(&id)?;
        let io = |e: std::io::Error| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "io",
                format!("cannot read {}: {e}", path.display()),
            )
        };
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            // Its process has not written anything yet.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(TaskOutputSlice {
                    task_id: id,
                    offset: 0,
                    next_offset: 0,
                    size: 0,
                    text: String::new(),
                });
            }
            Err(e) => return Err(io(e)),
        };
        let size = file.metadata().map_err(io)?.len();
        let start = offset.min(size);
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(limit).read_to_end(&mut bytes).map_err(io)?;
        Ok(TaskOutputSlice {
            task_id: id,
            offset: start,
            next_offset: start + bytes.len() as u64,
            size,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        })
    })
    .await?;
    Ok(Json(slice))
}
