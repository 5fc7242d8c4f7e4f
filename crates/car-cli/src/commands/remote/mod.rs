//! `car --server URL ...`: the loop, task and exec commands against a remote
//! `car serve`, printing what the local commands print.

mod errors;
mod execs;
mod logs;
mod route;
mod starts;
mod target;
mod tasks;

pub(crate) use route::{Routed, route};
