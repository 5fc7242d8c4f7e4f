//! A repository's loop: its status, starting and stopping it, the answer
//! to its question, its runs' output and its ledger.

use car_core::{
    EventEnvelope, KillReport, LaunchReport, ReplyReport, ResumeReport, StatusReport, StopReport,
};
use serde_json::json;

use crate::client::{Client, seg};
use crate::error::ClientError;
use crate::types::{EventPage, OutputSlice, RunDetail, RunItem};

impl Client {
    /// What `car status --json` says of repository `repo`.
    pub fn status(&self, repo: &str) -> Result<StatusReport, ClientError> {
        self.get(&format!("api/v1/repos/{}", seg(repo)))
    }

    /// Starts the loop (`car run`), at most `max_runs` runs when given.
    pub fn run(&self, repo: &str, max_runs: Option<u64>) -> Result<LaunchReport, ClientError> {
        let body = match max_runs {
            Some(n) => json!({ "max_runs": n }),
            None => json!({}),
        };
        self.post(&self.loop_path(repo, "run"), &body)
    }

    /// Starts one run (`car once`).
    pub fn once(&self, repo: &str) -> Result<LaunchReport, ClientError> {
        self.post(&self.loop_path(repo, "once"), &json!({}))
    }

    /// Continues after a stop (`car resume`).
    pub fn resume(&self, repo: &str) -> Result<ResumeReport, ClientError> {
        self.post(&self.loop_path(repo, "resume"), &json!({}))
    }

    /// Asks the runner to stop after its current run (`car stop`).
    pub fn stop(&self, repo: &str) -> Result<StopReport, ClientError> {
        self.post(&self.loop_path(repo, "stop"), &json!({}))
    }

    /// Stops the runner now and waits for it (`car kill`).
    pub fn kill(&self, repo: &str) -> Result<KillReport, ClientError> {
        self.post(&self.loop_path(repo, "kill"), &json!({}))
    }

    /// Answers the agent's question (`car reply`).
    pub fn reply(&self, repo: &str, text: &str) -> Result<ReplyReport, ClientError> {
        self.post(
            &format!("api/v1/repos/{}/reply", seg(repo)),
            &json!({ "text": text }),
        )
    }

    /// The id of the latest run, when there is one.
    pub fn latest_run(&self, repo: &str) -> Result<Option<u64>, ClientError> {
        let runs: Vec<RunItem> = self.get(&format!("api/v1/repos/{}/runs?limit=1", seg(repo)))?;
        Ok(runs.first().map(|r| r.id))
    }

    /// Run `n`: its record (none while it runs), prompt and final output.
    pub fn run_detail(&self, repo: &str, n: u64) -> Result<RunDetail, ClientError> {
        self.get(&format!("api/v1/repos/{}/runs/{n}", seg(repo)))
    }

    /// Bytes of run `n`'s output log from `offset` (at most 1 MiB).
    pub fn run_output(&self, repo: &str, n: u64, offset: u64) -> Result<OutputSlice, ClientError> {
        self.get(&format!(
            "api/v1/repos/{}/runs/{n}/output?offset={offset}",
            seg(repo)
        ))
    }

    /// Every ledger event of repository `repo`, oldest first.
    pub fn events(&self, repo: &str) -> Result<Vec<EventEnvelope>, ClientError> {
        let mut all = Vec::new();
        let mut since = Some(1);
        while let Some(s) = since {
            let url = format!("api/v1/repos/{}/events?since={s}&limit=1000", seg(repo));
            let page: EventPage = self.get(&url)?;
            for v in page.events {
                let env = serde_json::from_value(v.clone())
                    .ok()
                    .or_else(|| car_core::parse_event_line(&v.to_string()))
                    .ok_or_else(|| ClientError::Protocol {
                        url: url.clone(),
                        reason: format!("not a ledger event: {v}"),
                    })?;
                all.push(env);
            }
            since = page.next;
        }
        Ok(all)
    }

    /// The path of repository `repo`'s stream (what follows `since`, when
    /// given; what is appended from now on otherwise), for [`Client::follow`].
    pub fn stream_path(&self, repo: &str, since: Option<u64>) -> String {
        match since {
            Some(s) => format!("api/v1/repos/{}/stream?since={s}", seg(repo)),
            None => format!("api/v1/repos/{}/stream", seg(repo)),
        }
    }

    fn loop_path(&self, repo: &str, action: &str) -> String {
        format!("api/v1/repos/{}/loop/{action}", seg(repo))
    }
}
