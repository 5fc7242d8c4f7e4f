//! `docs/events.md` cannot drift from the schema: every example line in it
//! is read as a [`LoopEvent`] in its envelope and written back unchanged,
//! and every type has an example.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{EventEnvelope, LoopEvent};

fn example_lines() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/events.md");
    let doc = std::fs::read_to_string(path).expect("docs/events.md");
    let mut in_json = false;
    let mut lines = Vec::new();
    for line in doc.lines() {
        match line.trim() {
            "```json" => in_json = true,
            "```" => in_json = false,
            l if in_json && l.starts_with('{') => lines.push(l.to_string()),
            _ => {}
        }
    }
    lines
}

/// Every variant, by name: a new variant fails to compile here until it
/// is named (and then needs an example in the doc).
fn variant_name(e: &LoopEvent) -> &'static str {
    match e {
        LoopEvent::LoopStarted { .. } => "loop_started",
        LoopEvent::RunStarted { .. } => "run_started",
        LoopEvent::RunFinished(_) => "run_finished",
        LoopEvent::Sleeping { .. } => "sleeping",
        LoopEvent::Retry { .. } => "retry",
        LoopEvent::WaitingForQuota { .. } => "waiting_for_quota",
        LoopEvent::NeedsInput { .. } => "needs_input",
        LoopEvent::Warning { .. } => "warning",
        LoopEvent::Stopped { .. } => "stopped",
        LoopEvent::Reply { .. } => "reply",
        LoopEvent::Notification { .. } => "notification",
        LoopEvent::TaskSpawned { .. } => "task_spawned",
        LoopEvent::TaskReply { .. } => "task_reply",
        LoopEvent::TaskAborted { .. } => "task_aborted",
        LoopEvent::TaskDone { .. } => "task_done",
        LoopEvent::ExecStarted { .. } => "exec_started",
        LoopEvent::ExecCancelled { .. } => "exec_cancelled",
        LoopEvent::ExecDone { .. } => "exec_done",
        LoopEvent::Audit { .. } => "audit",
        LoopEvent::Unknown(_) => "unknown",
    }
}

#[test]
fn every_example_line_of_the_doc_is_an_event_written_back_unchanged() {
    let lines = example_lines();
    assert!(lines.len() >= LoopEvent::KINDS.len(), "{lines:?}");
    let mut documented = BTreeSet::new();
    for line in &lines {
        let parsed: EventEnvelope =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let name = variant_name(&parsed.event);
        assert_ne!(name, "unknown", "not a known type: {line}");
        assert_eq!(name, parsed.event.kind(), "{line}");
        assert!(parsed.seq.is_some() && parsed.ts.ends_with('Z'), "{line}");
        let back = serde_json::to_value(&parsed).unwrap();
        let original: Value = serde_json::from_str(line).unwrap();
        assert_eq!(back, original, "a field is lost or added: {line}");
        documented.insert(name);
    }
    let kinds: BTreeSet<&str> = LoopEvent::KINDS.iter().copied().collect();
    assert_eq!(documented, kinds, "every type has an example, and no other");
}

#[test]
fn old_lines_and_unknown_types_stay_readable() {
    // A line from before `seq` and the newer fields.
    let old = r#"{"v":1,"ts":"2026-01-02T03:04:05.678Z","type":"run_finished","run_id":1,"kind":"loop","outcome":"ok","exit_code":0,"signal":null,"duration_ms":12,"tokens":null,"error":null,"error_class":null}"#;
    let e = super::parse_line(old).unwrap();
    assert_eq!(e.seq, None);
    let LoopEvent::RunFinished(run) = &e.event else {
        panic!("{e:?}")
    };
    assert_eq!(run.outcome.as_str(), "ok");
    assert_eq!(run.todo_after, None);
    // Earlier versions of car called the summary run `final summary`.
    let summary = r#"{"v":1,"ts":"t","type":"run_started","run_id":5,"kind":"final summary"}"#;
    let e = super::parse_line(summary).unwrap();
    assert!(
        matches!(&e.event, LoopEvent::RunStarted { kind, .. } if *kind == crate::RunKind::Summary),
        "{e:?}"
    );
    // A run that ended before it was recorded.
    let unrecorded = r#"{"v":1,"seq":3,"ts":"t","type":"run_finished","run_id":2,"kind":"loop","outcome":"error","error":"disk full"}"#;
    let e = super::parse_line(unrecorded).unwrap();
    assert!(matches!(&e.event, LoopEvent::RunFinished(r) if r.outcome.as_str() == "error"));
    // A type from a newer car: kept whole, its fields readable.
    let newer = r#"{"v":1,"seq":4,"ts":"t","type":"hub_joined","run_id":null,"hub":"h1"}"#;
    let e = super::parse_line(newer).unwrap();
    assert_eq!(e.seq, Some(4));
    assert_eq!(e.event.kind(), "hub_joined");
    let LoopEvent::Unknown(fields) = &e.event else {
        panic!("{e:?}")
    };
    assert_eq!(fields["hub"], "h1");
    // Not an event at all.
    assert!(super::parse_line("not json").is_none());
    assert!(super::parse_line(r#"{"no_type":1}"#).is_none());
}
