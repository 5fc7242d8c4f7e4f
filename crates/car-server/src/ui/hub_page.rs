//! `GET /`: the hub page, every repository and worktree served (one in a
//! server started in a repository) with its state, TODO progress, current
//! run and its age, a badge when a question waits, start and stop; in a
//! hub, a form that makes a worktree. Rendered here from what `GET
//! /api/v1/repos` answers, for a first paint with data; its script then
//! follows `GET /api/v1/stream` and fetches the list again
//! (`GET /ui/fragments/repos`, the same template) when events come.
//!
//! Below, the other machines' repositories (`GET /api/v1/machines`): the
//! first paint names the machines configured only (asking them may take
//! seconds); the script fetches `GET /ui/fragments/machines` at once, then
//! every 30 s.

use axum::extract::State;
use axum::response::Response;
use minijinja::{Value, context};

use super::access::{Fragment, Page};
use crate::RepoSummary;
use crate::state::AppState;

async fn list(state: &AppState) -> Result<Vec<RepoSummary>, crate::ApiError> {
    crate::routes::repo_list::list(State(state.clone()), axum::http::Extensions::new())
        .await
        .map(|j| j.0)
}

fn list_ctx(state: &AppState, repos: &[RepoSummary]) -> Value {
    let bases: Vec<&str> = repos
        .iter()
        .filter(|r| r.kind == "base" && r.enabled)
        .map(|r| r.id.as_str())
        .collect();
    let waiting = repos.iter().filter(|r| r.question.is_some()).count();
    let running = repos.iter().filter(|r| r.running).count();
    context! {
        repos => Value::from_serialize(repos),
        hub => state.hub().is_some(),
        bases => bases,
        waiting => waiting,
        running => running,
    }
}

/// The hub page.
pub(crate) async fn hub(ui: Page) -> Result<Response, Response> {
    let repos = list(&ui.state).await.map_err(|e| ui.fail(e))?;
    let title = if ui.state.hub().is_some() {
        "Hub"
    } else {
        "Repository"
    };
    let mut ctx = list_ctx(&ui.state, &repos);
    let machines = match crate::routes::machines::configured(&ui.state) {
        Ok(names) => context! {
            machines => names
                .iter()
                .map(|n| context! { name => n, checking => true })
                .collect::<Vec<_>>(),
        },
        Err(e) => context! { machines_error => e },
    };
    ctx = context! { ..ctx, ..machines };
    Ok(ui.render("hub.html", title, ctx))
}

/// The machines section alone, each machine asked, for the page's script.
pub(crate) async fn machines(ui: Fragment) -> Result<Response, Response> {
    let ctx = match crate::routes::machines::listing(&ui.state).await {
        Ok(list) => context! { machines => Value::from_serialize(&list) },
        Err(e) => context! { machines_error => e.message() },
    };
    Ok(ui.render("hub_machines.html", "", ctx))
}

/// The list of the hub page alone, for its script.
pub(crate) async fn fragment(ui: Fragment) -> Result<Response, Response> {
    let repos = list(&ui.state).await.map_err(|e| ui.fail(e))?;
    Ok(ui.render("hub_list.html", "", list_ctx(&ui.state, &repos)))
}
