//! Codex tasks: spawn, reply, abort, read and their output.

use car_core::{TaskPage, TaskRecord};
use serde_json::json;

use crate::client::{Client, seg};
use crate::error::ClientError;
use crate::types::{OutputSlice, TaskDetail, TaskStarted};

/// The most tasks the server gives in one page.
const PAGE: usize = 500;

impl Client {
    /// Starts a task on `prompt` in repository `repo` (in `cwd`, a directory
    /// of the server's machine under it, relative to its root or absolute).
    pub fn task_spawn(
        &self,
        repo: &str,
        prompt: &str,
        cwd: Option<&str>,
        model: Option<&str>,
    ) -> Result<TaskStarted, ClientError> {
        let mut body = json!({ "prompt": prompt, "repo": repo });
        if let Some(c) = cwd {
            body["cwd"] = c.into();
        }
        if let Some(m) = model {
            body["model"] = m.into();
        }
        self.post("api/v1/tasks", &body)
    }

    /// Continues task `id`'s conversation with `message`.
    pub fn task_reply(&self, id: &str, message: &str) -> Result<TaskStarted, ClientError> {
        self.post(
            &format!("api/v1/tasks/{}/reply", seg(id)),
            &json!({ "message": message }),
        )
    }

    /// Cancels task `id`; answers once nothing of it runs.
    pub fn task_abort(&self, id: &str) -> Result<TaskRecord, ClientError> {
        self.delete(&format!("api/v1/tasks/{}", seg(id)))
    }

    /// Task `id`'s record and final output.
    pub fn task(&self, id: &str) -> Result<TaskDetail, ClientError> {
        self.get(&format!("api/v1/tasks/{}", seg(id)))
    }

    /// The tasks, newest first: `limit` of them after the `offset` newest.
    pub fn tasks(&self, offset: usize, limit: usize) -> Result<TaskPage, ClientError> {
        let mut tasks: Vec<TaskRecord> = Vec::new();
        loop {
            let want = (limit - tasks.len()).min(PAGE);
            let at = offset.saturating_add(tasks.len());
            let page: TaskPage = self.get(&format!("api/v1/tasks?offset={at}&limit={want}"))?;
            let got = page.tasks.len();
            tasks.extend(page.tasks);
            if got == 0 || got < want || tasks.len() >= limit {
                return Ok(TaskPage {
                    total: page.total,
                    tasks,
                });
            }
        }
    }

    /// Bytes of task `id`'s output log from `offset` (at most 1 MiB).
    pub fn task_output(&self, id: &str, offset: u64) -> Result<OutputSlice, ClientError> {
        self.get(&format!("api/v1/tasks/{}/output?offset={offset}", seg(id)))
    }

    /// The path of task `id`'s stream, from byte `offset` of its log.
    pub fn task_stream_path(&self, id: &str, offset: u64) -> String {
        format!("api/v1/tasks/{}/stream?offset={offset}", seg(id))
    }
}
