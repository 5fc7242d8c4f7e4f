//! Who holds (or held) the run lock: the record in `.codex-autorunner/lock`,
//! and reading it back.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::process;

/// Who holds (or held) the lock, as written in the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The runner's pid.
    pub pid: u32,
    /// When it started (UTC, RFC 3339).
    #[serde(default)]
    pub started_at: Option<String>,
    /// The host it runs on.
    #[serde(default)]
    pub host: Option<String>,
    /// The command (`run`, `once`, `resume`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The process start time in clock ticks (Linux), to detect pid reuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
}

impl LockInfo {
    /// Parses lock content: car's or the Python program's JSON, or a bare pid.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        if let Ok(pid) = t.parse::<u32>() {
            return Some(Self {
                pid,
                started_at: None,
                host: None,
                command: None,
                pid_start: None,
            });
        }
        serde_json::from_str(t).ok()
    }

    /// Describes the holder for people: `pid 12 on host since <time>`.
    pub fn describe(&self) -> String {
        let mut s = format!("pid {}", self.pid);
        if let Some(h) = &self.host {
            s.push_str(&format!(" on {h}"));
        }
        if let Some(t) = &self.started_at {
            s.push_str(&format!(" since {t}"));
        }
        s
    }

    /// Returns whether the named process is alive on this host (and is the
    /// same process, when the start time was recorded).
    pub fn is_alive_here(&self) -> bool {
        if self
            .host
            .as_deref()
            .is_some_and(|h| h != process::hostname())
        {
            return false;
        }
        if !process::is_alive(self.pid) {
            return false;
        }
        match (self.pid_start, process::start_time(self.pid)) {
            (Some(recorded), Some(now)) => recorded == now,
            _ => true,
        }
    }
}

/// Reads the lock file at `path`, when it holds a record.
pub(super) fn read_lock_file(path: &Path) -> Option<LockInfo> {
    File::open(path).ok().and_then(|mut f| read_info(&mut f))
}

/// Reads the record in an open lock file, from its start.
pub(super) fn read_info(file: &mut File) -> Option<LockInfo> {
    let mut s = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut s).ok()?;
    LockInfo::parse(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_python_and_legacy_content() {
        let p =
            LockInfo::parse(r#"{"pid": 7083, "started_at": "2026-11-21T11:01:56Z", "host": "vm"}"#)
                .unwrap();
        assert_eq!((p.pid, p.host.as_deref()), (7083, Some("vm")));
        assert_eq!(LockInfo::parse("12345\n").unwrap().pid, 12345);
        assert!(LockInfo::parse("garbage").is_none());
    }
}
