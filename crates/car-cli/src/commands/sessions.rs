//! `car sessions` and `car stop-session ID`: the repository's terminal
//! sessions (PTYs `car serve` runs the agent in) from their records, and
//! stopping one through its record and its process group, whether or not
//! the server that owns it still runs. Both first end the sessions of a
//! server that is gone (the PTY died with it).

use anyhow::Result;
use car_core::{TerminalRecord, TerminalStatus};
use chrono::{DateTime, Utc};

use super::hub_status::age_word;
use crate::cli::{Global, StopSessionArgs};

/// Seconds from `at` (RFC 3339) to now; 0 when unreadable or ahead.
fn since(at: &str, now: DateTime<Utc>) -> u64 {
    DateTime::parse_from_rfc3339(at)
        .ok()
        .and_then(|t| u64::try_from((now - t.with_timezone(&Utc)).num_seconds()).ok())
        .unwrap_or(0)
}

/// One line of the list: id, state, pid, age, idle, who.
fn line(rec: &TerminalRecord, now: DateTime<Utc>) -> String {
    let state = match (&rec.status, &rec.end) {
        (TerminalStatus::Running, _) => "running".to_string(),
        (TerminalStatus::Ended, Some(end)) => match (end.exit_code, &end.signal) {
            (Some(c), _) => format!("ended ({}, exit {c})", end.reason),
            (None, Some(s)) => format!("ended ({}, {s})", end.reason),
            (None, None) => format!("ended ({})", end.reason),
        },
        (TerminalStatus::Ended, None) => "ended".to_string(),
    };
    let idle = match rec.status {
        TerminalStatus::Running => age_word(since(&rec.last_activity, now)),
        TerminalStatus::Ended => "-".to_string(),
    };
    format!(
        "{:<22} {:<8} {:>5} {:>5}  {:<28} {}",
        rec.id,
        rec.pid,
        age_word(since(&rec.started_at, now)),
        idle,
        state,
        rec.started_by
    )
}

pub(crate) fn list(g: &Global, json: bool) -> Result<u8> {
    let repo = super::load(g, &[])?;
    let terminals = repo.terminals();
    terminals.sweep();
    let recs = terminals.list();
    if json {
        outln!("{}", serde_json::to_string_pretty(&recs)?);
        return Ok(crate::EXIT_OK);
    }
    if recs.is_empty() {
        outln!("car: no terminal sessions");
        return Ok(crate::EXIT_OK);
    }
    let now = Utc::now();
    outln!(
        "{:<22} {:<8} {:>5} {:>5}  {:<28} WHO",
        "ID",
        "PID",
        "AGE",
        "IDLE",
        "STATE"
    );
    for rec in &recs {
        outln!("{}", line(rec, now));
    }
    Ok(crate::EXIT_OK)
}

pub(crate) fn stop(g: &Global, args: &StopSessionArgs) -> Result<u8> {
    let repo = super::load(g, &[])?;
    let terminals = repo.terminals();
    terminals.sweep();
    let before = terminals.get(&args.id)?;
    let by = format!("car stop-session (pid {})", std::process::id());
    let rec = terminals.stop(&args.id, &by)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rec)?);
    } else if before.status == TerminalStatus::Ended {
        outln!("car: terminal session {} had already ended", rec.id);
    } else {
        outln!("car: stopped terminal session {} (pid {})", rec.id, rec.pid);
    }
    Ok(crate::EXIT_OK)
}
