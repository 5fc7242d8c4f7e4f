//! The arguments of `car ledger ...` (the ledger published to a git
//! branch) and `car bridge ...` (the GitHub comment bridge).

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub(crate) enum LedgerCommand {
    /// Commit the event ledger (this repository's, or every repository's of a hub with --hub)
    /// to a branch of its own and push it, every --interval: git plumbing only, the checkout,
    /// index, HEAD and stash are never touched. Questions are left out and secrets redacted.
    Publish(PublishArgs),
    /// Print the last event per loop, task and command, from the local ledger(s).
    Status(LedgerStatusArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    /// The branch the ledger is committed to.
    #[arg(long, value_name = "NAME", default_value = "car-ledger")]
    pub(crate) branch: String,
    /// The remote it is pushed to (a remote's name, a URL or a path).
    #[arg(long, value_name = "NAME|URL", default_value = "origin")]
    pub(crate) remote: String,
    /// Time between rounds: `15s`, `2m`, `500ms` or seconds.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_interval)]
    pub(crate) interval: std::time::Duration,
    /// Publish every repository and worktree of the hub (into the hub's git repository).
    #[arg(long)]
    pub(crate) hub: bool,
    /// One round, then exit (1 when the push failed).
    #[arg(long)]
    pub(crate) once: bool,
    /// Keep the agent's questions in the published lines, and add each task's prompt to
    /// status.json (secrets are redacted anyway).
    #[arg(long)]
    pub(crate) include_prompts: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LedgerStatusArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// Every repository and worktree of the hub.
    #[arg(long)]
    pub(crate) hub: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BridgeCommand {
    /// Act on an `@codex ...` issue comment (a GitHub Actions event payload) and print the
    /// reply as `{"body": ...}` (`{}` when there is nothing to say); see
    /// `car service print github-actions`.
    Github {
        /// The event payload (in a workflow: $GITHUB_EVENT_PATH).
        #[arg(long, value_name = "PATH")]
        event: PathBuf,
    },
}

/// Parses `15s`, `2m`, `1h`, `500ms` or a number of seconds.
pub(crate) fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}` is not a duration; expected e.g. 15s, 2m, 500ms"))?;
    let d = match unit {
        "" | "s" => std::time::Duration::from_secs(n),
        "ms" => std::time::Duration::from_millis(n),
        "m" => std::time::Duration::from_secs(n * 60),
        "h" => std::time::Duration::from_secs(n * 3600),
        _ => {
            return Err(format!(
                "`{s}`: unknown unit `{unit}`; expected ms, s, m or h"
            ));
        }
    };
    if d < std::time::Duration::from_millis(100) {
        return Err(format!("`{s}` is too short; at least 100ms"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn intervals() {
        let p = super::parse_interval;
        assert_eq!(p("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(p("20"), Ok(Duration::from_secs(20)));
        assert_eq!(p("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(p("500ms"), Ok(Duration::from_millis(500)));
        assert!(p("0").is_err_and(|e| e.contains("too short")));
        assert!(p("5x").is_err_and(|e| e.contains("unknown unit")));
        assert!(p("soon").is_err());
    }
}
