//! Who started this process or asks from it: a systemd unit, a launchd
//! job, cron, or a terminal (the library reads it from `/proc` and the
//! environment). Recorded in the state so `car status` can say it.

use car_core::{RequestedBy, Requester};

/// Describes what started this process.
pub(crate) fn started_by() -> String {
    requester().origin.unwrap_or_else(|| "unknown".to_string())
}

/// A person at the command line, from where this process runs.
pub(crate) fn requester() -> Requester {
    Requester::this_process(RequestedBy::Cli)
}
