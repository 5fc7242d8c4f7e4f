//! A repository's agent jobs: `POST .../snapshot` and `POST
//! .../ingest-spec` start `car snapshot` or `car ingest-spec` as a
//! command of the repository (an exec, as `car exec start` runs one): a
//! process of its own in a session of its own, with its record, stdout
//! and stderr under `.codex-autorunner/jobs/<id>/`, so it outlives the
//! server, and the ledger records its start and end with who asked.
//! `GET .../jobs/{job}` reads a job's result: its state, exit code, times
//! and both outputs.

use std::path::{Path as FsPath, PathBuf};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use car_core::{ExecError, ExecRequest, ExecStream};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{blocking, requester, requester_of, to_json};
use crate::error::ApiError;
use crate::state::AppState;

/// The optional body of `POST .../snapshot` (`car snapshot`'s options).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotBody {
    /// Ignore the existing snapshot and write a fresh one
    /// (`--from-scratch`).
    #[serde(default)]
    pub from_scratch: bool,
    /// Put the snapshot in the job's stdout instead of writing
    /// `SNAPSHOT.md` (`--stdout`).
    #[serde(default)]
    pub stdout: bool,
}

/// The optional body of `POST .../ingest-spec` (`car ingest-spec`'s
/// options).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestBody {
    /// The spec to read, relative to the repository's root or absolute,
    /// inside the repository (default: `docs.spec`).
    pub spec: Option<String>,
    /// Overwrite TODO, PROGRESS and OPINIONS that hold content, each
    /// backed up first (`--force`).
    #[serde(default)]
    pub force: bool,
}

/// The answer to a job's start.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobStarted {
    /// The job's id: read its result at `.../jobs/{job_id}`.
    pub job_id: String,
    /// `queued`: its process is starting.
    pub status: String,
    /// `snapshot` or `ingest-spec`.
    pub kind: String,
}

/// The body as `T`, the default when it is empty.
pub(super) fn parse<T: DeserializeOwned + Default>(
    body: &[u8],
    shape: &str,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let bad = |e: String| ApiError::bad_request(format!("the body must be empty or {shape}: {e}"));
    // An array would fill a struct's fields in order.
    match serde_json::from_slice(body) {
        Ok(value @ serde_json::Value::Object(_)) => {
            serde_json::from_value(value).map_err(|e| bad(e.to_string()))
        }
        Ok(_) => Err(bad("not an object".to_string())),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// `text` quoted for `sh`.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// `path` as text for a command line; a path that is not UTF-8 cannot be
/// put in one.
fn path_text(path: &FsPath) -> Result<&str, ApiError> {
    path.to_str().ok_or_else(|| {
        ApiError::bad_request(format!(
            "{} is not UTF-8: it cannot be passed to a job",
            path.display()
        ))
    })
}

/// The spec `asked` (relative to `root`), resolved: a file inside the
/// repository.
fn spec_path(root: &FsPath, asked: &str) -> Result<PathBuf, ApiError> {
    let joined = root.join(asked);
    let resolved = std::fs::canonicalize(&joined)
        .ok()
        .filter(|p| p.is_file())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "spec: no file {} in the repository",
                joined.display()
            ))
        })?;
    let inside = std::fs::canonicalize(root).is_ok_and(|r| resolved.starts_with(r));
    if !inside {
        return Err(ApiError::bad_request(format!(
            "spec: {} is outside the repository",
            resolved.display()
        )));
    }
    Ok(resolved)
}

/// Starts `car --repo ROOT <args>` as a job of repository `id`: 202 with
/// its id, queued.
async fn start(
    state: AppState,
    id: String,
    ext: &Extensions,
    kind: &'static str,
    args: impl FnOnce(&FsPath) -> Result<Vec<String>, ApiError> + Send + 'static,
) -> Result<Response, ApiError> {
    let repo = state.repo(&id)?.clone();
    let by = requester_of(ext);
    let program = state.inner.program.clone();
    let rec = blocking(move || {
        // The command line names the binary itself: `/proc/self/exe`
        // would name `sh` there.
        let car = std::fs::canonicalize(&program).unwrap_or_else(|_| program.clone());
        let root = repo.root();
        let mut cmd = vec![
            "exec".to_string(),
            sh_quote(path_text(&car)?),
            "--repo".to_string(),
            sh_quote(path_text(root)?),
            kind.to_string(),
        ];
        cmd.extend(args(root)?);
        let req = ExecRequest {
            cmd: cmd.join(" "),
            cwd: None,
        };
        Ok(repo.execs(by).start(&program, req)?)
    })
    .await?;
    let body = JobStarted {
        job_id: rec.id,
        status: rec.state.as_str().to_string(),
        kind: kind.to_string(),
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// Starts `car snapshot`: the agent writes `SNAPSHOT.md`, a briefing of
/// the repository (or, with `stdout`, puts it in the job's stdout).
#[utoipa::path(post, path = "/api/v1/repos/{id}/snapshot", tag = "jobs",
    params(("id" = String, Path, description = "repository id")),
    request_body(content = Option<SnapshotBody>, description = "optional"),
    responses((status = 202, body = JobStarted),
              (status = 400, body = crate::ErrorBody, description = "a body that is not the options"),
              (status = 404, body = crate::ErrorBody, description = "no such repository")))]
pub(crate) async fn snapshot(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ext: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let opts: SnapshotBody = parse(&body?, r#"{"from_scratch"?: bool, "stdout"?: bool}"#)?;
    start(state, id, &ext, "snapshot", move |_| {
        let flags = [
            (opts.from_scratch, "--from-scratch"),
            (opts.stdout, "--stdout"),
        ];
        Ok(flags
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, flag)| flag.to_string())
            .collect())
    })
    .await
}

/// Starts `car ingest-spec`: the agent turns the spec into TODO, PROGRESS
/// and OPINIONS.
#[utoipa::path(post, path = "/api/v1/repos/{id}/ingest-spec", tag = "jobs",
    params(("id" = String, Path, description = "repository id")),
    request_body(content = Option<IngestBody>, description = "optional"),
    responses((status = 202, body = JobStarted),
              (status = 400, body = crate::ErrorBody, description = "a spec that is no file in the repository"),
              (status = 404, body = crate::ErrorBody, description = "no such repository")))]
pub(crate) async fn ingest_spec(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ext: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let opts: IngestBody = parse(&body?, r#"{"spec"?: "PATH", "force"?: bool}"#)?;
    start(state, id, &ext, "ingest-spec", move |root| {
        let mut args = Vec::new();
        if let Some(asked) = &opts.spec {
            args.push("--spec".to_string());
            args.push(sh_quote(path_text(&spec_path(root, asked)?)?));
        }
        if opts.force {
            args.push("--force".to_string());
        }
        Ok(args)
    })
    .await
}

/// A job's result: its record (`cmd`, `cwd`, `state`: queued, running,
/// succeeded, failed or cancelled; `exit_code`, `signal`, `error`, the
/// times, who asked) with its `stdout` and `stderr` so far (UTF-8, bad
/// bytes replaced). A job is a command of the repository: any command's
/// id is read here too (for a user token below the scope `admin`, only
/// its user's: another's answers 404, as at `/api/v1/execs/{id}`).
#[utoipa::path(get, path = "/api/v1/repos/{id}/jobs/{job}", tag = "jobs",
    params(("id" = String, Path, description = "repository id"),
           ("job" = String, Path, description = "job id")),
    responses((status = 200, body = Object, description = "the job's record, stdout and stderr"),
              (status = 404, body = crate::ErrorBody, description = "no such repository or job")))]
pub(crate) async fn result(
    State(state): State<AppState>,
    ext: Extensions,
    Path((id, job)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let repo = state.repo(&id)?.clone();
    let caller = crate::user_auth::caller_of(&ext);
    let (rec, stdout, stderr) = blocking(move || {
        let execs = repo.execs(requester(None));
        let rec = match execs.status(&job) {
            Ok(rec) if !caller.may_see(rec.requested_by.user.as_deref(), &id) => {
                return Err(ApiError::not_found(format!("no job {job:?}")));
            }
            Err(car_core::Error::Exec(ExecError::NotFound { .. })) => {
                return Err(ApiError::not_found(format!("no job {job:?}")));
            }
            other => other?,
        };
        let stdout = execs.read_log(&job, ExecStream::Stdout, None)?;
        let stderr = execs.read_log(&job, ExecStream::Stderr, None)?;
        Ok((rec, stdout, stderr))
    })
    .await?;
    let mut value = to_json(&rec)?;
    if let Some(obj) = value.as_object_mut() {
        let text = |out: car_core::TaskOutput| String::from_utf8_lossy(&out.bytes).into_owned();
        obj.insert("job_id".into(), rec.id.clone().into());
        obj.insert("stdout".into(), text(stdout).into());
        obj.insert("stderr".into(), text(stderr).into());
    }
    Ok(Json(value))
}

#[cfg(test)]
mod tests {
    use super::sh_quote;

    #[test]
    fn a_quoted_word_reaches_the_command_unchanged() {
        for word in ["plain", "with space", "it's", "'", "$HOME `x` \"q\"", ""] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", sh_quote(word)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), word);
        }
    }
}
