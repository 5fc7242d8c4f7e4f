//! One event as a line of text for people (`car events`):
//! `<ts> <type> run=<id> key=value ...`, keys in name order, nulls left out.

use serde_json::Value;

use super::EventEnvelope;

/// Renders one event as a line of text for people.
pub fn render(e: &EventEnvelope) -> String {
    let mut s = format!("{} {}", e.ts, e.event.kind());
    if let Some(id) = e.run_id {
        s.push_str(&format!(" run={id}"));
    }
    let Ok(Value::Object(fields)) = serde_json::to_value(&e.event) else {
        return s;
    };
    for (k, val) in &fields {
        if matches!(k.as_str(), "v" | "seq" | "ts" | "type" | "run_id" | "repo") || val.is_null() {
            continue;
        }
        let text = match val {
            Value::String(t) if t.contains(' ') => format!("{t:?}"),
            Value::String(t) => t.clone(),
            other => other.to_string(),
        };
        s.push_str(&format!(" {k}={text}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse_line;

    #[test]
    fn people_see_type_run_and_fields_but_no_seq() {
        let line = r#"{"v":1,"seq":9,"ts":"t","type":"stopped","run_id":2,"reason":"completed","detail":"all done","runs":2,"requested_by":null}"#;
        assert_eq!(
            render(&parse_line(line).unwrap()),
            r#"t stopped run=2 detail="all done" reason=completed runs=2"#
        );
        let unknown = r#"{"v":1,"ts":"t","type":"from_the_future","run_id":null,"a":"b"}"#;
        assert_eq!(
            render(&parse_line(unknown).unwrap()),
            "t from_the_future a=b"
        );
    }
}
