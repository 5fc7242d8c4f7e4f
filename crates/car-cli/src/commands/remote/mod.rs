//! `car --server URL ...`: the loop and task commands against a remote
//! `car serve`, printing what the local commands print.

mod errors;
mod logs;
mod route;
mod starts;
mod target;
mod tasks;

pub(crate) use route::{Routed, route};
