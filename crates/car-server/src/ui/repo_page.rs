//! `GET /repos/{id}`: a repository's dashboard: its state and why it last
//! stopped, TODO progress, the current run with its live output, the event
//! timeline, token use, the loop's controls, and the agent's question
//! with an answer box. Rendered here for a first paint with data; its
//! script follows `GET /api/v1/repos/{id}/stream` (output lines are added
//! as they come; on events the state and the timeline are fetched again
//! from `GET /ui/fragments/repos/{id}`, the same template).

use axum::extract::{Path, State};
use axum::response::Response;
use minijinja::{Value, context};

use super::access::{Fragment, Page};
use super::views;
use crate::RepoSummary;
use crate::routes::blocking;
use crate::state::AppState;

/// What both the page and its fragment show.
struct Live {
    summary: RepoSummary,
    rows: Vec<views::EventRow>,
    tokens: Option<views::Tokens>,
    output: Option<views::Output>,
    /// How many repositories the server serves (a link back to the hub
    /// when more than one).
    served: usize,
    /// Whether the answer box has the microphone.
    voice: bool,
}

async fn live(state: &AppState, id: &str, with_output: bool) -> Result<Live, crate::ApiError> {
    let repo = state.repo(id)?;
    let all = crate::routes::repo_list::list(State(state.clone()), axum::http::Extensions::new())
        .await?
        .0;
    let served = all.len();
    let summary = all
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| crate::ApiError::not_found(format!("no repository with id {id:?}")))?;
    let (rows, tokens, output) = blocking(move || {
        let (rows, tokens) = views::timeline(&repo);
        let output = with_output.then(|| views::output(&repo));
        Ok((rows, tokens, output))
    })
    .await?;
    Ok(Live {
        summary,
        rows,
        tokens,
        output,
        served,
        voice: super::pages::voice_on(state, id),
    })
}

fn live_ctx(live: &Live) -> Value {
    context! {
        repo => Value::from_serialize(&live.summary),
        events => Value::from_serialize(&live.rows),
        tokens => Value::from_serialize(&live.tokens),
        output => Value::from_serialize(&live.output),
        multi => live.served > 1,
        voice => live.voice,
    }
}

/// The dashboard.
pub(crate) async fn dashboard(ui: Page, Path(id): Path<String>) -> Result<Response, Response> {
    let l = live(&ui.state, &id, true).await.map_err(|e| ui.fail(e))?;
    let title = l.summary.display_name.clone().unwrap_or_else(|| id.clone());
    Ok(ui.render("repo.html", &title, live_ctx(&l)))
}

/// The state and timeline of the dashboard alone, for its script.
pub(crate) async fn fragment(ui: Fragment, Path(id): Path<String>) -> Result<Response, Response> {
    let l = live(&ui.state, &id, false).await.map_err(|e| ui.fail(e))?;
    Ok(ui.render("repo_live.html", "", live_ctx(&l)))
}
