//! `GET /api/v1/repos`: every repository served, each at a glance (its
//! loop's state, TODO progress, current run, open question, and its git
//! position from the cache of `git_cache.rs`, never from git itself: the
//! list reads a few small files per repository). In a hub, every entry of
//! the manifest, in its order, with its kind, base and `enabled`; one that
//! cannot be opened is listed with `state: unavailable` and the reason.

use axum::Json;
use axum::extract::State;
use car_core::hub::RepoKind;
use car_core::{GitSummary, LoopState, Repo, RunSummary, StopReason, SummaryOptions};
use serde::Serialize;
use utoipa::ToSchema;

use super::blocking;
use crate::error::ApiError;
use crate::state::AppState;

/// A repository in the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepoSummary {
    /// Its id in URLs: the manifest id in a hub, else the directory name
    /// made safe (see `repo_id`).
    pub id: String,
    /// Its root directory.
    pub root: String,
    /// Whether a runner is active now.
    pub running: bool,
    /// The status in `state.json` (`idle`, `running`, ...).
    pub status: String,
    /// `base`, or `worktree` (of the repository `worktree_of`).
    pub kind: String,
    /// The base repository's id, for a worktree.
    pub worktree_of: Option<String>,
    /// A name for people (the manifest's `display_name`).
    pub display_name: Option<String>,
    /// The manifest's `enabled` (always true outside a hub); a disabled
    /// repository is listed but refuses every change (409).
    pub enabled: bool,
    /// `idle`, `running`, `waiting_for_input`, `stopped`, in a hub
    /// `queued` (waiting for a slot) or `restarting` (after a crash), or
    /// `unavailable` (it cannot be opened: see `error`).
    pub state: String,
    /// Why the loop last stopped (`completed`, `needs_input`, `crashed`, ...).
    #[schema(value_type = Option<String>)]
    pub stop_reason: Option<StopReason>,
    /// Checked TODO items.
    pub todo_done: Option<usize>,
    /// All TODO items.
    pub todo_total: Option<usize>,
    /// The last run started: `{id, started_at, age_seconds, in_progress}`.
    #[schema(value_type = Option<Object>)]
    pub run: Option<RunSummary>,
    /// The agent's open question (at most 200 characters, one line).
    pub question: Option<String>,
    /// The git position: `{branch, compared_with, ahead, behind, dirty}`;
    /// a worktree without an upstream is compared with its base's branch.
    #[schema(value_type = Option<Object>)]
    pub git: Option<GitSummary>,
    /// When `git` was taken (RFC 3339); `None` until the first look.
    pub git_checked_at: Option<String>,
    /// Why the repository cannot be opened (with `state: unavailable`).
    pub error: Option<String>,
}

/// What a list item is made from.
struct Source {
    id: String,
    root: std::path::PathBuf,
    kind: RepoKind,
    worktree_of: Option<String>,
    display_name: Option<String>,
    enabled: bool,
    repo: Result<Repo, String>,
}

/// The repositories served, each at a glance (see the module docs).
#[utoipa::path(get, path = "/api/v1/repos", tag = "repos",
    responses((status = 200, body = Vec<RepoSummary>), (status = 401, body = crate::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    ext: axum::http::Extensions,
) -> Result<Json<Vec<RepoSummary>>, ApiError> {
    state.inner.git.wanted();
    let mut sources = sources(&state)?;
    // A user token confined to a repository sees that one alone.
    if let Some(only) = crate::user_auth::caller_of(&ext)
        .user()
        .and_then(|u| u.repo.clone())
    {
        sources.retain(|s| s.id == only);
    }
    let st = state.clone();
    let list = blocking(move || {
        // In a hub, a loop waiting for a slot or a restart says so.
        let queue = st.hub().and_then(|h| h.hub().queue().ok());
        Ok(sources
            .into_iter()
            .map(|s| item(&st, queue.as_ref(), s))
            .collect())
    })
    .await?;
    Ok(Json(list))
}

fn sources(state: &AppState) -> Result<Vec<Source>, ApiError> {
    let Some(hub) = state.hub() else {
        return Ok(state
            .repos()
            .iter()
            .map(|e| Source {
                id: e.id.clone(),
                root: e.repo.root().to_path_buf(),
                kind: RepoKind::Base,
                worktree_of: None,
                display_name: None,
                enabled: true,
                repo: Ok(e.repo.clone()),
            })
            .collect());
    };
    let snap = hub.snapshot();
    if let Some(e) = &snap.error {
        if snap.all.is_empty() {
            return Err(ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "config",
                e.clone(),
            ));
        }
        tracing::warn!("the manifest cannot be read; listing it as last read: {e}");
    }
    Ok(snap
        .all
        .iter()
        .map(|r| Source {
            id: r.entry.id.clone(),
            root: r.root.clone(),
            kind: r.entry.kind,
            worktree_of: r.entry.worktree_of.clone(),
            display_name: r.entry.display_name.clone(),
            enabled: r.entry.enabled,
            repo: r.repo.clone(),
        })
        .collect())
}

/// One item: the loop's files now, git as last cached.
fn item(state: &AppState, queue: Option<&car_core::hub::Queue>, s: Source) -> RepoSummary {
    let cached = state.inner.git.get(&s.root);
    let mut out = RepoSummary {
        id: s.id,
        root: s.root.display().to_string(),
        running: false,
        status: "unknown".into(),
        kind: s.kind.as_str().into(),
        worktree_of: s.worktree_of,
        display_name: s.display_name,
        enabled: s.enabled,
        state: "unavailable".into(),
        stop_reason: None,
        todo_done: None,
        todo_total: None,
        run: None,
        question: None,
        git: cached.as_ref().and_then(|c| c.git.clone()),
        git_checked_at: cached.map(|c| {
            c.checked_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        }),
        error: None,
    };
    let repo = match s.repo {
        Ok(r) => r,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let mut sum = car_core::summarize(&out.id, &repo, &SummaryOptions::files_only());
    if let Some(q) = queue {
        q.mark(&mut sum);
    }
    out.running = sum.state == LoopState::Running;
    out.status = sum.status.as_str().to_string();
    out.state = sum.state.as_str().into();
    out.stop_reason = sum.stop_reason;
    out.todo_done = sum.todo_done;
    out.todo_total = sum.todo_total;
    out.run = sum.run;
    out.question = sum.question;
    out
}
