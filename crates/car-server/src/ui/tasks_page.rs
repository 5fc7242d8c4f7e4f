//! `GET /repos/{id}/tasks`: the task composer (prompt, repository, model)
//! and the repository's task history (`?offset=` pages through it);
//! `GET /repos/{id}/tasks/{task}`: the same with one task shown: its
//! status and turns, the tail of its output (its script follows `GET
//! /api/v1/tasks/{task}/stream` from there), its final message, cancel
//! while it works and a reply box once it is over. The script fetches the
//! task's head and the history again (`GET
//! /ui/fragments/repos/{id}/tasks?task=`, the same template) when the
//! repository's stream tells of a task.

use axum::extract::Path;
use axum::response::Response;
use minijinja::{Value, context};
use serde::Deserialize;

use super::access::{Fragment, Page, UiQuery};
use super::runs_page::repo_ctx;
use super::{run_views, task_views, views};
use crate::ApiError;
use crate::routes::{blocking, requester};
use crate::state::AppState;

/// `?offset=N` (the history from its N-th newest task) and, for the
/// fragment, `task=ID` (the task shown).
#[derive(Debug, Deserialize)]
pub(crate) struct TasksQuery {
    offset: Option<usize>,
    task: Option<String>,
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
    let (repo_id, repo, rec) =
        crate::routes::tasks::find(state, &axum::http::Extensions::new(), task).await?;
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

/// The composer and the history.
pub(crate) async fn tasks(
    ui: Page,
    Path(id): Path<String>,
    UiQuery(q): UiQuery<TasksQuery>,
) -> Result<Response, Response> {
    let c = page_ctx(&ui.state, &id, q.offset.unwrap_or(0), None)
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(ui.render("tasks.html", &format!("Tasks · {id}"), c))
}

/// One task, with the composer and the history.
pub(crate) async fn task(
    ui: Page,
    Path((id, task)): Path<(String, String)>,
    UiQuery(q): UiQuery<TasksQuery>,
) -> Result<Response, Response> {
    let c = page_ctx(&ui.state, &id, q.offset.unwrap_or(0), Some(&task))
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(ui.render("tasks.html", &format!("Task {task} · {id}"), c))
}

/// The task's head and the history alone, for the page's script.
pub(crate) async fn fragment(
    ui: Fragment,
    Path(id): Path<String>,
    UiQuery(q): UiQuery<TasksQuery>,
) -> Result<Response, Response> {
    let c = page_ctx(&ui.state, &id, q.offset.unwrap_or(0), q.task.as_deref())
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(ui.render("tasks_live.html", "", c))
}
