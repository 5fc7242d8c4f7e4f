//! `car bridge github --event PATH`: one `@codex` comment of a GitHub
//! Actions event acted on (see `car_core::bridge`); the reply printed as
//! `{"body": "..."}` for the workflow to post, `{}` when there is none.

use anyhow::{Context, Result};
use car_core::bridge::{self, GithubEvent};

use crate::cli::{BridgeCommand, Global};
use crate::report::UsageError;

pub(crate) fn run(g: &Global, cmd: BridgeCommand) -> Result<u8> {
    let BridgeCommand::Github { event } = cmd;
    // A payload that cannot be read is how it was asked: exit 2.
    let event = GithubEvent::read(&event).map_err(|e| {
        let mut text = e.to_string();
        if let Some(cause) = std::error::Error::source(&e) {
            text.push_str(&format!(": {cause}"));
        }
        UsageError(text)
    })?;
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
