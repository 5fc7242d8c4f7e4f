//! Fuzzing the Codex event parser: any bytes, mutated real event lines and
//! random JSON events go through `CodexRun::feed` (and the failure message
//! through `classify`), never a panic, with consistent counts.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

use super::{Tally, corpus, mutated, token_text};
use crate::codex::{CodexRun, Parsed, classify, parse_reset};

const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"type\":",
    b"\"thread.started\"",
    b"\"turn.completed\"",
    b"\"turn.failed\"",
    b"\"error\"",
    b"\"item.completed\"",
    b"\"item\":",
    b"\"message\":",
    b"\"usage\":",
    b"\"input_tokens\":",
    b"18446744073709551616",
    b"-1",
    b"1e308",
    b"null",
    b"\"command_execution\"",
    b"\"file_change\"",
    b"\"agent_message\"",
    b"\"changes\":",
    b"\"exit_code\":",
    b"\"text\":",
    b",",
    b":",
    b"\"",
    b"\\u0000",
    b"\\ud800",
    b"\n",
    b"usage limit",
    b"try again at ",
    b"Mar 5th, 2026 3:45 PM",
    b"12:00 PM",
    b"99:99",
    b"Dec 31st, 9999 11:59 PM",
    b"exceeded retry limit, last status: ",
    b"\xff",
    b" ",
];

/// Feeds every line of `bytes` to one run and checks what it says.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let mut run = CodexRun::default();
    let mut fed = 0u64;
    for line in bytes.split(|&b| b == b'\n') {
        fed += 1;
        if let Parsed::Event { stored, .. } = run.feed(line) {
            prop_assert!(!stored.is_empty() || line.is_empty());
        }
        prop_assert!(run.events <= fed);
    }
    prop_assert!(run.agent_messages.len() <= 64);
    let now = chrono::Local::now();
    if let Some(msg) = run.failure_message() {
        let _ = classify(msg, now);
        let _ = parse_reset(msg, now);
    }
    let text = String::from_utf8_lossy(bytes);
    let _ = classify(&text, now);
    if let Some(t) = parse_reset(&text, now) {
        prop_assert!(t >= now, "a reset in the past: {t}");
    }
    Ok(())
}

/// A random JSON event of a known or unknown type.
fn event() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => Just(Value::Null),
        4 => any::<bool>().prop_map(Value::from),
        4 => any::<i64>().prop_map(Value::from),
        4 => any::<u64>().prop_map(Value::from),
        4 => any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        8 => any::<String>().prop_map(Value::from),
        // Past the stored-event limit (256 KiB), rarely: it is slow.
        1 => prop::sample::select(vec![0, 70_000, 270_000]).prop_map(|n| Value::from("x".repeat(n))),
    ];
    let any_json = leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let kind = prop::sample::select(vec![
        "thread.started",
        "turn.started",
        "turn.completed",
        "turn.failed",
        "error",
        "item.started",
        "item.completed",
        "other",
    ]);
    let item_type = prop::sample::select(vec![
        "command_execution",
        "file_change",
        "agent_message",
        "error",
        "reasoning",
    ]);
    (kind, item_type, any_json.clone(), any_json).prop_map(|(kind, item_type, a, b)| {
        json!({
            "type": kind,
            "thread_id": a.clone(),
            "usage": a.clone(),
            "message": b.clone(),
            "error": {"message": b.clone()},
            "item": {"type": item_type, "command": a.clone(), "exit_code": b.clone(),
                     "changes": [a.clone(), {"path": b.clone(), "kind": a.clone()}],
                     "text": b, "message": a},
        })
    })
}

#[test]
fn fuzz_codex_event_parser() {
    let tally = Tally::new("codex");
    tally.replay(|_, bytes| check(bytes));
    tally.run("bytes", prop::collection::vec(any::<u8>(), 0..512), |b| {
        check(&b)
    });
    tally.run("tokens", token_text(TOKENS, 80), |b| check(&b));
    tally.run("mutated", mutated("codex", TOKENS), |b| check(&b));
    // Single real lines, mutated: every field reachable.
    let lines: Vec<Vec<u8>> = corpus("codex")
        .into_iter()
        .flat_map(|(_, b)| {
            b.split(|&c| c == b'\n')
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
        })
        .filter(|l| !l.is_empty())
        .collect();
    tally.run(
        "mutated lines",
        (
            prop::sample::select(lines),
            prop::collection::vec(super::edit(), 1..6),
        ),
        |(line, edits)| check(&super::apply(line, &edits, TOKENS)),
    );
    // Well-formed events of every type: each one is counted once.
    tally.run("events", prop::collection::vec(event(), 1..6), |events| {
        let mut run = CodexRun::default();
        for (i, e) in events.iter().enumerate() {
            let line = serde_json::to_vec(e).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let is_event = matches!(run.feed(&line), Parsed::Event { .. });
            prop_assert!(is_event, "not taken as an event");
            prop_assert_eq!(run.events, i as u64 + 1);
        }
        let now = chrono::Local::now();
        if let Some(msg) = run.failure_message() {
            let _ = classify(msg, now);
        }
        Ok(())
    });
}
