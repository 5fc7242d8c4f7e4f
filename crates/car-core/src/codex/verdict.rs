//! What the agent's final message says beyond its text: a structured
//! verdict (`codex.structured_verdict`) or a `NEED_INPUT:` question.

use serde::{Deserialize, Serialize};

/// A line the agent prints to ask a person (the convention of the seed docs).
pub(crate) const NEED_INPUT_PREFIX: &str = "NEED_INPUT:";

/// The agent's verdict with `codex.structured_verdict`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// `continue`, `done`, `needs_input` or `blocked`.
    pub status: String,
    /// What was done.
    #[serde(default)]
    pub summary: String,
    /// The question for a person.
    #[serde(default)]
    pub question: String,
}

/// The JSON schema passed to `codex exec --output-schema`.
pub(crate) const VERDICT_SCHEMA: &str = r#"{
  "type": "object",
  "properties": {
    "status": {"type": "string", "enum": ["continue", "done", "needs_input", "blocked"]},
    "summary": {"type": "string"},
    "question": {"type": "string"}
  },
  "required": ["status", "summary", "question"],
  "additionalProperties": false
}
"#;

/// Parses a structured verdict from a final message.
pub(crate) fn parse_verdict(text: &str) -> Option<Verdict> {
    let t = text.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .unwrap_or(t);
    let t = t.strip_suffix("```").unwrap_or(t).trim();
    let v: Verdict = serde_json::from_str(t).ok()?;
    ["continue", "done", "needs_input", "blocked"]
        .contains(&v.status.as_str())
        .then_some(v)
}

/// Returns the question of the last `NEED_INPUT: ...` line of a message.
pub(crate) fn need_input_question(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| {
            l.trim()
                .trim_start_matches(['*', '`', '>', ' '])
                .strip_prefix(NEED_INPUT_PREFIX)
        })
        .map(|q| q.trim().trim_end_matches(['*', '`']).trim().to_string())
        .rfind(|q| !q.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn need_input_and_verdicts() {
        assert_eq!(
            need_input_question("Did X.\nNEED_INPUT: Which database should I use?\n").as_deref(),
            Some("Which database should I use?")
        );
        assert_eq!(
            need_input_question("**NEED_INPUT: bold?**").as_deref(),
            Some("bold?")
        );
        assert!(need_input_question("no marker here").is_none());
        let v = parse_verdict(r#"{"status":"needs_input","summary":"s","question":"q?"}"#).unwrap();
        assert_eq!(
            (v.status.as_str(), v.question.as_str()),
            ("needs_input", "q?")
        );
        assert!(parse_verdict(r#"{"status":"maybe","summary":"","question":""}"#).is_none());
        assert!(parse_verdict("not json").is_none());
    }
}
