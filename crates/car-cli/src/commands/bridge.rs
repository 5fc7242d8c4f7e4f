//! `car bridge github --event PATH`: one `@codex` comment of a GitHub
//! Actions event acted on (see `car_core::bridge`); the reply printed as
//! `{"body": "..."}` for the workflow to post, `{}` when there is none.

use anyhow::{Context, Result};
use car_core::bridge::{self, GithubEvent};

use crate::cli::{BridgeCommand, Global};

pub(crate) fn run(g: &Global, cmd: BridgeCommand) -> Result<u8> {
    let BridgeCommand::Github { event } = cmd;
    let event = GithubEvent::read(&event)?;
    let repo = super::load(g, &[])?;
    let program =
        crate::supervisor_program().context("cannot find the car program to start tasks with")?;
    let reply = match bridge::handle(&repo, &event, &program) {
        Some(body) => serde_json::json!({ "body": body }),
        None => serde_json::json!({}),
    };
    outln!("{reply}");
    Ok(crate::EXIT_OK)
}
