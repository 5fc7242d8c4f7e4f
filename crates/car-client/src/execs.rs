//! Commands (`sh -c CMD`) on the server: start, result, logs (read, or
//! followed from a byte offset), cancel and list.

use std::io::Read;

use car_core::ExecStream;
use serde_json::json;

use crate::client::{Client, seg};
use crate::error::ClientError;
use crate::types::{ExecDetail, ExecList, ExecStarted, LogPiece};

/// The header of `GET .../logs` giving the byte offset where its body
/// starts in the log.
const OFFSET_HEADER: &str = "x-log-offset";
/// The most a log read takes in memory: more is a protocol error.
const MAX_LOG_READ: u64 = 256 * 1024 * 1024;

impl Client {
    /// Starts `sh -c cmd` on the server, in `cwd` (a directory of the
    /// server's machine: relative to the repository's root, or absolute)
    /// of repository `repo` (the server picks one when none is given).
    pub fn exec_start(
        &self,
        cmd: &str,
        cwd: Option<&str>,
        repo: Option<&str>,
    ) -> Result<ExecStarted, ClientError> {
        let mut body = json!({ "cmd": cmd });
        if let Some(c) = cwd {
            body["cwd"] = c.into();
        }
        if let Some(r) = repo {
            body["repo"] = r.into();
        }
        self.post("api/v1/execs", &body)
    }

    /// Command `id`'s record, with its repository.
    pub fn exec(&self, id: &str) -> Result<ExecDetail, ClientError> {
        self.get(&self.exec_path(id, ""))
    }

    /// Cancels command `id` (SIGTERM to its process group, SIGKILL after
    /// the server's grace period); answers once nothing of it runs, with
    /// its record (one already over is left as it is).
    pub fn exec_cancel(&self, id: &str) -> Result<ExecDetail, ClientError> {
        self.delete(&self.exec_path(id, ""))
    }

    /// The commands of every repository served, newest first: `limit` of
    /// them after the `offset` newest (the server gives at most 500).
    pub fn execs(&self, offset: usize, limit: usize) -> Result<ExecList, ClientError> {
        self.get(&format!("api/v1/execs?offset={offset}&limit={limit}"))
    }

    /// Command `id`'s `stream` as written so far, byte for byte: all of it,
    /// or its last `tail` lines (a last line without its newline counts).
    pub fn exec_logs(
        &self,
        id: &str,
        stream: ExecStream,
        tail: Option<usize>,
    ) -> Result<LogPiece, ClientError> {
        let mut path = self.exec_path(id, &format!("/logs?stream={stream}"));
        if let Some(n) = tail {
            path.push_str(&format!("&tail={n}"));
        }
        let (resp, url) = self.get_raw(&path)?;
        let protocol = |reason: String| ClientError::Protocol {
            url: url.clone(),
            reason,
        };
        let offset = resp
            .header(OFFSET_HEADER)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| protocol(format!("no {OFFSET_HEADER} header in the answer")))?;
        let mut bytes = Vec::new();
        resp.into_reader()
            .take(MAX_LOG_READ)
            .read_to_end(&mut bytes)
            .map_err(|e| protocol(format!("cannot read the log: {e}")))?;
        Ok(LogPiece { offset, bytes })
    }

    /// The size in bytes of command `id`'s `stream` so far.
    pub fn exec_log_size(&self, id: &str, stream: ExecStream) -> Result<u64, ClientError> {
        // The last 0 lines start at the end.
        Ok(self.exec_logs(id, stream, Some(0))?.offset)
    }

    /// The path of command `id`'s `stream` as server-sent events, from
    /// byte `offset` (a line's start), for [`Client::follow`]: `log`
    /// events `{line, ts, stream}` whose id is the byte offset where the
    /// next line starts, then `done` `{state, exit_code, signal}`.
    pub fn exec_stream_path(&self, id: &str, stream: ExecStream, offset: u64) -> String {
        self.exec_path(id, &format!("/logs/stream?stream={stream}&offset={offset}"))
    }

    fn exec_path(&self, id: &str, rest: &str) -> String {
        format!("api/v1/execs/{}{rest}", seg(id))
    }
}
