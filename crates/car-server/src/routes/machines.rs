//! `GET /api/v1/machines`: the other machines' repositories, beside the
//! local ones of `GET /api/v1/repos`. The machines are those of the
//! `machines` sections of the user's car config
//! (`$XDG_CONFIG_HOME/car/config.yml`) and of the served root's
//! `codex-autorunner.yml`; each one's server is asked for its list through
//! the tunnel `car remote up NAME` keeps open (the server opens none) or at
//! its `direct_addr`, with the token in the server's variable `token_env`,
//! all at once, each within [`car_client::MACHINE_TIMEOUT`].

use std::path::{Path, PathBuf};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use car_client::MachineListing;
use car_core::machine::Machines;

use super::blocking;
use crate::error::ApiError;
use crate::state::AppState;

fn var_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The machines configured, and the directory of their tunnels' states
/// (none when no machine is configured: nothing then needs HOME).
fn configured_machines(state: &AppState) -> Result<(Machines, PathBuf), String> {
    let home = var_path("HOME");
    // Without HOME (nor XDG_CONFIG_HOME), the served root's file alone.
    let user_file = car_core::machine::user_config_file(
        var_path("XDG_CONFIG_HOME").as_deref(),
        home.as_deref(),
    )
    .ok();
    let root = match state.hub() {
        Some(h) => Some(h.hub().root().to_path_buf()),
        None => state.repos().first().map(|e| e.repo.root().to_path_buf()),
    };
    let files = match (user_file, root) {
        (Some(u), Some(r)) => car_core::machine::machine_files(&u, &r),
        (None, Some(r)) => car_core::machine::machine_files(Path::new(""), &r)
            .into_iter()
            .skip(1)
            .collect(),
        (Some(u), None) => vec![u],
        (None, None) => Vec::new(),
    };
    let machines = Machines::load(&files).map_err(|e| e.to_string())?;
    if machines.by_name.is_empty() {
        return Ok((machines, PathBuf::new()));
    }
    let tunnels =
        car_core::machine::tunnels_dir(var_path("XDG_STATE_HOME").as_deref(), home.as_deref())
            .map_err(|e| e.to_string())?;
    Ok((machines, tunnels))
}

/// The names of the machines configured (read from the files, nothing
/// asked), for the hub page's first paint; the error names the file and key.
pub(crate) fn configured(state: &AppState) -> Result<Vec<String>, String> {
    let (machines, _) = configured_machines(state)?;
    Ok(machines.by_name.into_keys().collect())
}

/// Every machine's listing (see the module docs).
pub(crate) async fn listing(state: &AppState) -> Result<Vec<MachineListing>, ApiError> {
    let state = state.clone();
    blocking(move || {
        let (machines, tunnels) = configured_machines(&state)
            .map_err(|m| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "config", m))?;
        let token = |var: &str| std::env::var(var).ok();
        Ok(car_client::list_machines(
            &machines,
            &tunnels,
            &token,
            car_client::MACHINE_TIMEOUT,
        ))
    })
    .await
}

/// The machines configured, each with its server's URL, whether it
/// answered (and how fast), the error in a sentence when it did not (its
/// tunnel down, unreachable, a wrong token, the token's variable unset),
/// and its repositories as its server lists them. Machines are asked at
/// once, each for 3 s at most; an empty list when none is configured.
#[utoipa::path(get, path = "/api/v1/machines", tag = "repos",
    responses((status = 200, body = Vec<MachineListing>), (status = 401, body = crate::ErrorBody),
        (status = 500, description = "the machines config cannot be read (the error names the file and key)", body = crate::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
) -> Result<Json<Vec<MachineListing>>, ApiError> {
    Ok(Json(listing(&state).await?))
}
