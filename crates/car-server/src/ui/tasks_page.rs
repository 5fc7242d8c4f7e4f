//! `GET /repos/{id}/tasks`: the task composer (prompt, repository, model)
//! and the repository's task history (`?offset=` pages through it);
//! `GET /repos/{id}/tasks/{task}`: the same with one task shown: its
//! status and turns, the tail of its output (its script follows `GET
//! /api/v1/tasks/{task}/stream` from there), its final message, cancel
//! while it works and a reply box once it is over. The script fetches the
//! task's head and the history again (`GET
//! /ui/fragments/repos/{id}/tasks?task=`, the same template) when the
//! repository's stream tells of a task.

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::{Value, context};
use serde::Deserialize;

use super::pages::{allowed, ctx, error_page, fragment_allowed};
use super::render::page;
use super::runs_page::repo_ctx;
use super::{run_views, task_views, views};
use crate::ApiError;
use crate::routes::login::BasePath;
use crate::routes::{blocking, requester};
use crate::state::AppState;

/// `?offset=N` (the history from its N-th newest task) and, for the
/// fragment, `task=ID` (the task shown).
#[derive(Debug, Deserialize)]
pub(crate) struct TasksQuery {
    offset: Option<usize>,
    task: Option<String>,
}

/// The query, or what is wrong with it.
fn query(q: Result<Query<TasksQuery>, QueryRejection>) -> Result<TasksQuery, String> {
    q.map(|Query(q)| q)
        .map_err(|e| format!("bad query: {}", e.body_text()))
}

/// The history of `id`'s tasks from `offset`, and the composer's choices.
async fn history(state: &AppState, id: &str, offset: usize) -> Result<Value, ApiError> {
    let repo = state.repo(id)?;
    let served: Vec<String> = state.repos().iter().map(|r| r.id.clone()).collect();
    let (page, model) = blocking(move || {
        let page = repo.tasks(requester(None)).list(offset, task_views::PAGE);
        Ok((page, repo.config().codex.model.clone()))
    })
    .await?;
    let rows: Vec<task_views::TaskRow> = page.tasks.iter().map(task_views::row).collect();
    let older = (offset + rows.len() < page.total).then_some(offset + rows.len());
    let newer = (offset > 0).then(|| offset.saturating_sub(task_views::PAGE));
    Ok(context! {
        history => context! {
            tasks => Value::from_serialize(&rows),
            total => page.total,
            offset => offset,
            older => older,
            newer => newer,
        },
        served => served,
        model => model,
    })
}

/// Task `task` of repository `id`: its record, output tail and final
/// message (404 when it is not one of this repository's tasks).
async fn selected(state: &AppState, id: &str, task: &str) -> Result<Value, ApiError> {
    let (repo_id, repo, rec) = crate::routes::tasks::find(state, task).await?;
    if repo_id != id {
        return Err(ApiError::not_found(format!(
            "task {task:?} belongs to repository {repo_id:?}, not {id:?}"
        )));
    }
    let task = task.to_string();
    let (output, final_output) = blocking(move || {
        let tasks = repo.tasks(requester(None));
        let output = views::tail(&tasks.output_log(&task)?, views::OUTPUT_TAIL).unwrap_or_default();
        Ok((output, tasks.final_output(&task)?))
    })
    .await?;
    Ok(context! {
        task => context! {
            row => Value::from_serialize(task_views::row(&rec)),
            turns => Value::from_serialize(task_views::turns(&rec)),
            prompt => rec.prompt,
            cwd => rec.cwd.display().to_string(),
            final_output => final_output.map(|t| {
                let (end, cut) = run_views::clip(t, run_views::FINAL_TAIL);
                context! { text => end, cut => cut }
            }),
            output => context! {
                lines => Value::from_serialize(&output.lines),
                start => output.start,
                end => output.end,
            },
        },
    })
}

async fn page_ctx(
    state: &AppState,
    id: &str,
    offset: usize,
    task: Option<&str>,
) -> Result<Value, ApiError> {
    let h = history(state, id, offset).await?;
    let t = match task {
        Some(t) => selected(state, id, t).await?,
        None => context! {},
    };
    Ok(repo_ctx(state, id, context! { ..t, ..h }))
}

fn answer(base: &str, name: &str, title: &str, made: Result<Value, ApiError>) -> Response {
    match made {
        Ok(c) => page(StatusCode::OK, name, ctx(base, title, c)),
        Err(e) => error_page(base, e.status(), e.message()),
    }
}

/// The composer and the history.
pub(crate) async fn tasks(
    State(state): State<AppState>,
    Extension(BasePath(base)): Extension<BasePath>,
    Path(id): Path<String>,
    q: Result<Query<TasksQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    if let Err(resp) = allowed(&state, &headers, &base).await {
        return resp;
    }
    let q = match query(q) {
        Ok(q) => q,
        Err(e) => return error_page(&base, StatusCode::BAD_REQUEST, &e),
    };
    let made = page_ctx(&state, &id, q.offset.unwrap_or(0), None).await;
    answer(&base, "tasks.html", &format!("Tasks · {id}"), made)
}

/// One task, with the composer and the history.
pub(crate) async fn task(
    State(state): State<AppState>,
    Extension(BasePath(base)): Extension<BasePath>,
    Path((id, task)): Path<(String, String)>,
    q: Result<Query<TasksQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    if let Err(resp) = allowed(&state, &headers, &base).await {
        return resp;
    }
    let q = match query(q) {
        Ok(q) => q,
        Err(e) => return error_page(&base, StatusCode::BAD_REQUEST, &e),
    };
    let made = page_ctx(&state, &id, q.offset.unwrap_or(0), Some(&task)).await;
    answer(&base, "tasks.html", &format!("Task {task} · {id}"), made)
}

/// The task's head and the history alone, for the page's script.
pub(crate) async fn fragment(
    State(state): State<AppState>,
    Extension(BasePath(base)): Extension<BasePath>,
    Path(id): Path<String>,
    q: Result<Query<TasksQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    if let Err(resp) = fragment_allowed(&state, &headers).await {
        return resp;
    }
    let q = match query(q) {
        Ok(q) => q,
        Err(e) => return error_page(&base, StatusCode::BAD_REQUEST, &e),
    };
    let made = page_ctx(&state, &id, q.offset.unwrap_or(0), q.task.as_deref()).await;
    answer(&base, "tasks_live.html", "", made)
}
