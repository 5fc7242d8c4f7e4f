//! `car --server URL ...`: the loop, task and exec commands against a remote
//! `car serve`, printing what the local commands print; and `car remote
//! exec ...`, the commands on a server as JSON for an agent.

mod agent;
mod agent_logs;
mod errors;
mod execs;
mod logs;
mod route;
mod starts;
mod target;
mod tasks;

pub(crate) use agent::run as agent;
pub(crate) use route::{Routed, route};
