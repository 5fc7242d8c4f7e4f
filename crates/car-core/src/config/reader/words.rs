//! Values in YAML words, for messages: "`soon` (a string)", "a list".

use serde_yaml::Value;

use crate::config::keypath::key_text;

/// "item 2 " for a list item, "" for the key itself.
pub(super) fn item_label(key: &str, item: &str) -> String {
    match item.strip_prefix(key).and_then(|r| r.strip_prefix('[')) {
        Some(rest) => {
            let n: usize = rest.trim_end_matches(']').parse().unwrap_or(0);
            format!("item {} ", n + 1)
        }
        None => String::new(),
    }
}

/// A value in YAML words: "`soon` (a string)", "a list", "a mapping".
pub(in crate::config) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("{b} (true/false)"),
        Value::Number(_) => format!("{} (a number)", scalar(v)),
        Value::String(_) => format!("{} (a string)", scalar(v)),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => describe(&t.value),
    }
}

/// A scalar as written, cut to 40 characters.
pub(super) fn scalar(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => key_text(other),
    };
    let mut short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        short.push_str("...");
    }
    format!("`{}`", short.escape_debug())
}
