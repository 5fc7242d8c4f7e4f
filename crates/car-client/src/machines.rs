//! Other machines' repositories, for a hub's listing: each configured
//! machine's server is asked `GET /api/v1/repos` through the tunnel `car
//! remote up` keeps open (or at its `direct_addr`), every machine at once,
//! each within a short timeout, so that one slow machine delays the
//! listing by that timeout at most. No tunnel is opened here: a machine
//! whose tunnel is down is listed with that error.

use std::path::Path;
use std::time::{Duration, Instant};

use car_core::machine::{Machine, Machines, TunnelPaths};
use car_core::{GitSummary, RunSummary};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Client, ClientError};

/// How long one machine may take to answer the listing.
pub const MACHINE_TIMEOUT: Duration = Duration::from_secs(3);

/// A repository of another machine, as its server lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MachineRepo {
    /// Its id on that machine's server.
    pub id: String,
    /// A name for people (the manifest's `display_name`).
    #[serde(default)]
    pub display_name: Option<String>,
    /// `base` or `worktree`.
    #[serde(default)]
    pub kind: Option<String>,
    /// The base repository's id, for a worktree.
    #[serde(default)]
    pub worktree_of: Option<String>,
    /// `idle`, `running`, `waiting_for_input`, `stopped`, `queued`,
    /// `restarting`, or `unavailable` (see `error`).
    pub state: String,
    /// Why the loop last stopped (`completed`, `needs_input`, ...).
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// Checked TODO items.
    #[serde(default)]
    pub todo_done: Option<usize>,
    /// All TODO items.
    #[serde(default)]
    pub todo_total: Option<usize>,
    /// The last run started: `{id, started_at, age_seconds, in_progress}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub run: Option<RunSummary>,
    /// The agent's open question (one line).
    #[serde(default)]
    pub question: Option<String>,
    /// The git position as that server last cached it.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub git: Option<GitSummary>,
    /// Why that server cannot open the repository.
    #[serde(default)]
    pub error: Option<String>,
}

/// One machine in the listing: where its server is, whether it answered,
/// and its repositories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MachineListing {
    /// The machine's name (its key under `machines`).
    pub name: String,
    /// Its server's URL: the direct address or the tunnel's local URL
    /// (none when its tunnel is down).
    pub url: Option<String>,
    /// Whether its server answered (with the list or with an error such as
    /// 401).
    pub reachable: bool,
    /// How long the answer took, in milliseconds.
    pub latency_ms: Option<u64>,
    /// Why its repositories are not listed, in a sentence (tunnel down,
    /// unreachable, wrong token, token variable unset, ...).
    pub error: Option<String>,
    /// Its repositories, as its server lists them.
    pub repos: Vec<MachineRepo>,
}

/// The URL of `machine`'s server: its direct address, or the local URL of
/// the tunnel whose supervisor runs; otherwise the sentence saying why
/// there is none.
pub fn machine_url(machine: &Machine, tunnels: &Path) -> Result<String, String> {
    if let Some(url) = machine.direct_url() {
        return Ok(url);
    }
    let name = &machine.name;
    match TunnelPaths::new(tunnels, name).read() {
        Ok(Some(st)) if st.supervisor_alive() => Ok(st.url),
        Ok(_) => Err(format!("tunnel down — `car remote up {name}`")),
        Err(e) => Err(format!(
            "tunnel state unreadable ({e}) — `car remote down {name}` then `car remote up {name}`"
        )),
    }
}

/// Every machine of `machines`, in name order, its server asked for its
/// repositories; all at once, each within `timeout`. `token` gives the
/// value of a token variable (`token_env`), `None` when it is unset.
pub fn list_machines(
    machines: &Machines,
    tunnels: &Path,
    token: &(dyn Fn(&str) -> Option<String> + Sync),
    timeout: Duration,
) -> Vec<MachineListing> {
    std::thread::scope(|s| {
        let asks: Vec<_> = machines
            .by_name
            .values()
            .map(|m| {
                let handle = s.spawn(move || list_one(m, tunnels, token(&m.token_env), timeout));
                (m, handle)
            })
            .collect();
        asks.into_iter()
            .map(|(m, handle)| {
                handle.join().unwrap_or_else(|_| MachineListing {
                    error: Some("the listing of this machine failed (a bug of car)".into()),
                    ..empty(m)
                })
            })
            .collect()
    })
}

fn empty(m: &Machine) -> MachineListing {
    MachineListing {
        name: m.name.clone(),
        url: None,
        reachable: false,
        latency_ms: None,
        error: None,
        repos: Vec::new(),
    }
}

/// One machine's listing.
fn list_one(
    m: &Machine,
    tunnels: &Path,
    token: Option<String>,
    timeout: Duration,
) -> MachineListing {
    let mut out = empty(m);
    let url = match machine_url(m, tunnels) {
        Ok(u) => u,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    out.url = Some(url.clone());
    let token = token.filter(|t| !t.is_empty());
    let has_token = token.is_some();
    let client = match Client::new(&url, token) {
        Ok(c) => c.with_timeout(timeout),
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    let started = Instant::now();
    let answer = client.get::<Vec<MachineRepo>>("api/v1/repos");
    let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match answer {
        Ok(repos) => {
            out.reachable = true;
            out.latency_ms = Some(took);
            out.repos = repos;
        }
        Err(e) => {
            out.reachable = matches!(e, ClientError::Api { .. } | ClientError::Protocol { .. });
            if out.reachable {
                out.latency_ms = Some(took);
            }
            let timed_out = started.elapsed() >= timeout.mul_f32(0.9);
            out.error = Some(explain(&e, m, has_token, timed_out.then_some(timeout)));
        }
    }
    out
}

/// Why a machine's list could not be read, in a sentence.
fn explain(e: &ClientError, m: &Machine, has_token: bool, timed_out: Option<Duration>) -> String {
    let env = &m.token_env;
    match e {
        ClientError::Api { status: 401, .. } if !has_token => format!(
            "401: the server wants a token and {env} is not set (machine {}'s token_env)",
            m.name
        ),
        ClientError::Api { status: 401, .. } => {
            format!("401 wrong token: the server refused the token in {env}")
        }
        ClientError::Api {
            status, message, ..
        } => format!("the server answered {status}: {message}"),
        ClientError::Unreachable { url, .. } if timed_out.is_some() => format!(
            "unreachable: no answer from {url} within {} s",
            timed_out.unwrap_or_default().as_secs_f32()
        ),
        ClientError::Unreachable { reason, .. } => format!("unreachable: {reason}"),
        ClientError::Protocol { reason, .. } => format!("not a car server's answer: {reason}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[path = "machines_tests.rs"]
mod tests;
