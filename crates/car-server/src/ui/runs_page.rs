//! `GET /repos/{id}/runs`: a repository's runs, newest first, a page of
//! [`run_views::PAGE`] at a time (`?before=N` for older ones: only the
//! records of the runs shown are read, so hundreds of runs stay fast);
//! its script follows the repository's stream and fetches the list again
//! (`GET /ui/fragments/repos/{id}/runs`, the same template) when a run
//! starts or ends. `GET /repos/{id}/runs/{n}`: one run: its figures,
//! prompt, the tail of its output (the rest on demand), final message
//! and the doc diffs it made.

use axum::extract::Path;
use axum::response::Response;
use minijinja::{Value, context};
use serde::Deserialize;

use super::access::{Fragment, Page, UiQuery};
use super::{run_views, views};
use crate::ApiError;
use crate::routes::blocking;
use crate::state::AppState;

/// `?before=N`: the runs older than run N.
#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    before: Option<u64>,
}

/// The base context of a repository's page: its id and whether the
/// server serves others (a link back to the hub).
pub(crate) fn repo_ctx(state: &AppState, id: &str, extra: Value) -> Value {
    context! {
        repo => context! { id => id },
        multi => state.repos().len() > 1,
        voice => super::pages::voice_on(state, id),
        ..extra
    }
}

async fn list_ctx(state: &AppState, id: &str, before: Option<u64>) -> Result<Value, ApiError> {
    let repo = state.repo(id)?;
    let page = blocking(move || Ok(run_views::page(&repo, before))).await?;
    Ok(repo_ctx(
        state,
        id,
        context! { runs => Value::from_serialize(&page), before => before },
    ))
}

/// The list of runs.
pub(crate) async fn list(
    ui: Page,
    Path(id): Path<String>,
    UiQuery(q): UiQuery<ListQuery>,
) -> Result<Response, Response> {
    let c = list_ctx(&ui.state, &id, q.before)
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(ui.render("runs.html", &format!("Runs · {id}"), c))
}

/// The list alone, for its script.
pub(crate) async fn fragment(
    ui: Fragment,
    Path(id): Path<String>,
    UiQuery(q): UiQuery<ListQuery>,
) -> Result<Response, Response> {
    let c = list_ctx(&ui.state, &id, q.before)
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(ui.render("runs_list.html", "", c))
}

/// One run.
pub(crate) async fn detail(
    ui: Page,
    Path((id, n)): Path<(String, String)>,
) -> Result<Response, Response> {
    let Ok(n) = n.parse::<u64>() else {
        return Err(ui.fail(ApiError::not_found(format!("{n:?} is not a run id"))));
    };
    let repo = ui.state.repo(&id).map_err(|e| ui.fail(e))?;
    let extra = blocking(move || {
        let dir = repo.runs_dir().join(n.to_string());
        if !dir.is_dir() && repo.output_log(n).is_none() {
            return Err(ApiError::not_found(format!(
                "no run {n} in this repository"
            )));
        }
        let text = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
        let rec = repo.run_record(n);
        let diffs = rec.as_ref().map(run_views::diffs).unwrap_or_default();
        let tokens = rec.as_ref().and_then(|r| r.tokens);
        let git_commit = rec.as_ref().and_then(|r| r.git_commit.clone());
        let error = rec.as_ref().and_then(|r| r.error.clone());
        let finished_at = rec.as_ref().map(|r| r.finished_at.clone());
        let ids = repo.run_ids();
        Ok(context! {
            run => Value::from_serialize(run_views::row(n, rec)),
            finished_at => finished_at,
            tokens => Value::from_serialize(tokens),
            git_commit => git_commit,
            error => error,
            diffs => Value::from_serialize(diffs),
            prompt => text("prompt.md"),
            final_output => text("final_output.md").map(|t| {
                let (end, cut) = run_views::clip(t, run_views::FINAL_TAIL);
                context! { text => end, cut => cut }
            }),
            output => Value::from_serialize(views::run_output(&repo, n, views::OUTPUT_TAIL)),
            prev => ids.iter().copied().filter(|&i| i < n).max(),
            next => ids.iter().copied().find(|&i| i > n),
        })
    })
    .await
    .map_err(|e| ui.fail(e))?;
    Ok(ui.render(
        "run.html",
        &format!("Run #{n} · {id}"),
        repo_ctx(&ui.state, &id, extra),
    ))
}
