//! What the pages show, made from the loop's files: ledger events as
//! timeline rows, the tail of a run's output log as lines, and the token
//! use of recent runs.

use std::io::{Read, Seek, SeekFrom};

use car_core::{Repo, SinceFilter};
use serde::Serialize;
use serde_json::Value;

/// The most timeline rows a dashboard shows.
pub(crate) const TIMELINE: usize = 60;

/// How much of the current run's output a dashboard starts with.
pub(crate) const OUTPUT_TAIL: u64 = 48 * 1024;

/// One row of the event timeline.
#[derive(Debug, Serialize)]
pub(crate) struct EventRow {
    pub(crate) seq: Option<u64>,
    pub(crate) ts: String,
    pub(crate) kind: String,
    pub(crate) run_id: Option<u64>,
    pub(crate) detail: String,
    /// `ok`, `warn`, `err` or empty: the row's colour.
    pub(crate) tone: &'static str,
}

/// Tokens of the runs in the ledger.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Tokens {
    /// The last finished run's input and output tokens.
    pub(crate) last_input: u64,
    pub(crate) last_output: u64,
    /// All runs' (in the events read).
    pub(crate) total_input: u64,
    pub(crate) total_output: u64,
    pub(crate) runs: u64,
}

/// A line of output: `out`, `err`, `agent` (what car shows of the
/// agent's events) or `mark` (`=== run N ... ===`).
#[derive(Debug, Serialize)]
pub(crate) struct Line {
    pub(crate) kind: &'static str,
    pub(crate) text: String,
}

/// The current run's output: its id, its lines and where they end.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Output {
    pub(crate) run_id: Option<u64>,
    pub(crate) lines: Vec<Line>,
    /// Where the first line shown starts (0: the log is shown whole).
    pub(crate) start: u64,
    /// The byte offset after the last line shown (live lines go on there).
    pub(crate) end: u64,
    /// The log's size when read.
    pub(crate) size: u64,
}

/// The timeline (newest first) and the token use, from the ledger.
pub(crate) fn timeline(repo: &Repo) -> (Vec<EventRow>, Option<Tokens>) {
    let all: Vec<Value> = repo
        .events(&mut SinceFilter::new(None))
        .iter()
        .filter_map(|e| serde_json::to_value(e).ok())
        .collect();
    let mut tokens: Option<Tokens> = None;
    for v in all.iter().filter(|v| v["type"] == "run_finished") {
        if v["tokens"].is_object() {
            let t = tokens.get_or_insert_with(Tokens::default);
            let (i, o) = (num(&v["tokens"]["input"]), num(&v["tokens"]["output"]));
            t.last_input = i;
            t.last_output = o;
            t.total_input += i;
            t.total_output += o;
            t.runs += 1;
        }
    }
    let rows = all
        .iter()
        .rev()
        .filter(|v| v["type"] != "audit")
        .take(TIMELINE)
        .map(row)
        .collect();
    (rows, tokens)
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// A ledger event as a row: its type and what matters about it.
pub(crate) fn row(v: &Value) -> EventRow {
    let kind = text(&v["type"]).to_string();
    let (detail, tone) = match kind.as_str() {
        "loop_started" => (
            format!("{} (pid {})", text(&v["command"]), num(&v["pid"])),
            "",
        ),
        "run_started" => (format!("{} run", text(&v["kind"])), ""),
        "run_finished" => finished(v),
        "stopped" => {
            let mut d = text(&v["reason"]).replace('_', " ");
            if let Some(detail) = v["detail"].as_str() {
                d.push_str(&format!(": {detail}"));
            }
            if let Some(by) = v["requested_by"].as_str() {
                d.push_str(&format!(" (asked by {by})"));
            }
            let tone = match text(&v["reason"]) {
                "completed" => "ok",
                "crashed" | "error" | "failed" | "stalled" | "todo_invalid" | "disk_full" => "err",
                _ => "warn",
            };
            (d, tone)
        }
        "needs_input" => (text(&v["question"]).to_string(), "warn"),
        "reply" => (format!("answered ({} characters)", num(&v["chars"])), "ok"),
        "warning" => (text(&v["message"]).to_string(), "warn"),
        "retry" => (
            format!(
                "attempt {} of {}: {}",
                num(&v["attempt"]),
                num(&v["of"]),
                text(&v["reason"])
            ),
            "warn",
        ),
        "waiting_for_quota" => (format!("until {}", text(&v["until"])), "warn"),
        "sleeping" => (format!("{} ms", num(&v["duration_ms"])), ""),
        "notification" => (
            format!("{} {}", text(&v["provider"]), text(&v["class"])),
            "",
        ),
        _ => (String::new(), ""),
    };
    EventRow {
        seq: v["seq"].as_u64(),
        ts: text(&v["ts"]).to_string(),
        kind: kind.replace('_', " "),
        run_id: v["run_id"].as_u64(),
        detail,
        tone,
    }
}

fn finished(v: &Value) -> (String, &'static str) {
    let outcome = text(&v["outcome"]);
    let mut d = format!(
        "{outcome} in {:.1} s",
        num(&v["duration_ms"]) as f64 / 1000.0
    );
    if let Some(code) = v["exit_code"].as_i64() {
        d.push_str(&format!(", exit {code}"));
    }
    if v["tokens"].is_object() {
        d.push_str(&format!(
            ", {} in / {} out tokens",
            num(&v["tokens"]["input"]),
            num(&v["tokens"]["output"])
        ));
    }
    if let Some(e) = v["error"].as_str() {
        d.push_str(&format!(": {e}"));
    }
    (d, if outcome == "ok" { "ok" } else { "err" })
}

/// The tail of the latest run's output log, as lines.
pub(crate) fn output(repo: &Repo) -> Output {
    let Some(run_id) = repo.run_ids().last().copied() else {
        return Output::default();
    };
    run_output(repo, run_id, OUTPUT_TAIL)
}

/// The last `max` bytes (whole lines) of run `run_id`'s output log.
pub(crate) fn run_output(repo: &Repo, run_id: u64, max: u64) -> Output {
    let tail = repo
        .output_log(run_id)
        .and_then(|path| tail(&path, max).ok())
        .unwrap_or_default();
    Output {
        run_id: Some(run_id),
        lines: tail.lines,
        start: tail.start,
        end: tail.end,
        size: tail.size,
    }
}

/// The end of a log: its whole lines in the last `max` bytes.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    pub(crate) lines: Vec<Line>,
    /// Where the first line shown starts.
    pub(crate) start: u64,
    /// The byte offset after the last line shown.
    pub(crate) end: u64,
    /// The log's size.
    pub(crate) size: u64,
}

/// The whole lines in the last `max` bytes of the log at `path` (a line
/// still being written is left for the live stream).
pub(crate) fn tail(path: &std::path::Path, max: u64) -> std::io::Result<Tail> {
    let mut f = std::fs::File::open(path)?;
    let size = f.metadata()?.len();
    let start = size.saturating_sub(max);
    f.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    f.take(size - start).read_to_end(&mut bytes)?;
    // Whole lines only: from after the first newline when cut, up to the
    // last newline.
    let from = if start > 0 {
        bytes
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| i + 1)
    } else {
        0
    };
    let to = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let text = String::from_utf8_lossy(bytes.get(from..to.max(from)).unwrap_or_default());
    Ok(Tail {
        lines: text.lines().map(parse_line).collect(),
        start: start + from as u64,
        end: start + to.max(from) as u64,
        size,
    })
}

/// A line of an output log: `[ts] stdout: text` (`stderr`, or `codex:`
/// for what car shows of the agent's JSON events, `car:` for car's own
/// marks; `[ts] run=N stdout:` in the Python program's logs), or a
/// `=== run N ... ===` mark.
pub(crate) fn parse_line(line: &str) -> Line {
    if line.starts_with("=== run ") {
        return Line {
            kind: "mark",
            text: line.to_string(),
        };
    }
    let plain = || Line {
        kind: "out",
        text: line.to_string(),
    };
    let Some(rest) = line.strip_prefix('[').and_then(|l| l.split_once("] ")) else {
        return plain();
    };
    let mut rest = rest.1;
    if let Some(after) = rest.strip_prefix("run=") {
        rest = after
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start();
    }
    for (tag, kind) in [
        ("stdout: ", "out"),
        ("stderr: ", "err"),
        ("codex: ", "agent"),
        ("car: ", "mark"),
    ] {
        if let Some(text) = rest.strip_prefix(tag) {
            return Line {
                kind,
                text: text.to_string(),
            };
        }
    }
    plain()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_lines_lose_their_prefix_and_keep_their_stream() {
        let l = parse_line("[2026-01-01T00:00:00Z] run=3 stderr: oops: bad");
        assert_eq!((l.kind, l.text.as_str()), ("err", "oops: bad"));
        let l = parse_line("[t] stdout: hello ] stderr: x");
        assert_eq!((l.kind, l.text.as_str()), ("out", "hello ] stderr: x"));
        let l = parse_line("[t] codex: ran `ls`");
        assert_eq!((l.kind, l.text.as_str()), ("agent", "ran `ls`"));
        assert_eq!(parse_line("=== run 3 start ===").kind, "mark");
        assert_eq!(parse_line("plain").text, "plain");
    }

    #[test]
    fn a_finished_run_says_its_outcome_and_tokens() {
        let v = serde_json::json!({"type": "run_finished", "seq": 4, "ts": "t", "run_id": 2,
            "outcome": "ok", "exit_code": 0, "duration_ms": 1500,
            "tokens": {"input": 10, "cached": 0, "output": 5, "reasoning": 0}});
        let r = row(&v);
        assert_eq!(r.kind, "run finished");
        assert_eq!(r.detail, "ok in 1.5 s, exit 0, 10 in / 5 out tokens");
        assert_eq!(r.tone, "ok");
        let s = row(
            &serde_json::json!({"type": "stopped", "reason": "needs_input",
            "requested_by": "api"}),
        );
        assert_eq!(
            (s.detail.as_str(), s.tone),
            ("needs input (asked by api)", "warn")
        );
    }
}
