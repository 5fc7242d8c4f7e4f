//! `car service print github-actions`: the workflow of the GitHub comment
//! bridge, for `.github/workflows/car-bridge.yml`. It runs on a
//! self-hosted runner (where car, the Codex CLI and this repository are),
//! only for issues and issue comments that mention `@codex`, with the
//! least permissions (read the contents, write issue comments). The
//! first step runs `car bridge github` without the GitHub token in its
//! environment (the tasks it starts inherit that environment) and out of
//! the runner's clean-up of the job's processes (`RUNNER_TRACKING_ID`
//! emptied: a spawned task outlives the job); the second posts the reply
//! with `gh`.

use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::Global;

/// A word quoted for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The workflow for the `car` at `car` acting on the repository at `root`.
/// The workflow running `car` for the repository at `root`, started only
/// for authors whose association is in `allowed` (the same list the bridge
/// checks: strangers do not even start a job on the runner).
pub(crate) fn workflow(car: &Path, root: &Path, allowed: &[String]) -> String {
    let car = sh_quote(&car.display().to_string());
    let root_q = sh_quote(&root.display().to_string());
    // A JSON list inside a YAML block scalar and a GitHub expression
    // string: associations are upper-case words (checked by the config).
    let allowed = serde_json::to_string(allowed).unwrap_or_else(|_| "[]".into());
    format!(
        r#"# .github/workflows/car-bridge.yml (from `car service print github-actions`)
# `@codex spawn "<prompt>" [cwd=<dir>]`, `@codex reply cid=<id> "<message>"`,
# `@codex abort cid=<id>` and `@codex status cid=<id>` on this repository's
# issues become Codex tasks of {root} on the self-hosted runner, for authors
# whose association is in github_bridge.allowed_associations (checked by the
# job's `if:` and again by car; print the workflow again after changing it); the reply is
# posted as a comment. The runner needs car, the Codex CLI (logged in), jq
# and gh. Pull request comments are not taken (that would need
# pull-requests: write).
name: car bridge
on:
  issue_comment:
    types: [created]
  issues:
    types: [opened, edited]
permissions:
  contents: read
  issues: write
concurrency:
  group: car-bridge-${{{{ github.event.issue.number }}}}
  cancel-in-progress: false
jobs:
  bridge:
    if: >-
      !github.event.issue.pull_request &&
      contains(fromJSON('{allowed}'), github.event.comment.author_association || github.event.issue.author_association) && (
      (github.event_name == 'issue_comment' && contains(github.event.comment.body, '@codex')) ||
      (github.event_name == 'issues' && contains(github.event.issue.body, '@codex')))
    runs-on: [self-hosted]
    timeout-minutes: 10
    steps:
      - name: Act on the @codex command
        env:
          # Spawned tasks outlive the job: the runner ends the processes
          # that carry its tracking id.
          RUNNER_TRACKING_ID: ""
        run: |
          set -eu
          {car} --repo {root_q} bridge github --event "$GITHUB_EVENT_PATH" > "$RUNNER_TEMP/car-reply.json"
          jq -r '.body // empty' "$RUNNER_TEMP/car-reply.json" > "$RUNNER_TEMP/car-reply.md"
      - name: Post the reply
        env:
          GH_TOKEN: ${{{{ github.token }}}}
          ISSUE: ${{{{ github.event.issue.number }}}}
        run: |
          set -eu
          if [ -s "$RUNNER_TEMP/car-reply.md" ]; then
            gh issue comment "$ISSUE" --repo "$GITHUB_REPOSITORY" --body-file "$RUNNER_TEMP/car-reply.md"
          fi
"#,
        root = root.display(),
    )
}

/// Prints the workflow for this repository.
pub(crate) fn print(g: &Global) -> Result<()> {
    let repo = super::load(g, &[])?;
    let root = std::fs::canonicalize(repo.root()).unwrap_or_else(|_| repo.root().to_path_buf());
    let car = std::env::current_exe().context("cannot find the car binary's path")?;
    let car = std::fs::canonicalize(&car).unwrap_or(car);
    let allowed = &repo.config().github_bridge.allowed_associations;
    out!("{}", workflow(&car, &root, allowed));
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn paths_are_quoted_for_the_shell() {
        let w = super::workflow(
            Path::new("/opt/car bin/car"),
            Path::new("/srv/it's"),
            &["OWNER".to_string(), "MEMBER".to_string()],
        );
        assert!(
            w.contains(r#"'/opt/car bin/car' --repo '/srv/it'\''s' bridge github"#),
            "{w}"
        );
        assert!(w.contains("group: car-bridge-${{ github.event.issue.number }}"));
        assert!(
            w.contains(r#"contains(fromJSON('["OWNER","MEMBER"]'), github.event.comment.author_association || github.event.issue.author_association)"#),
            "{w}"
        );
    }
}
