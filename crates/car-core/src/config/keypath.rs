//! Key paths: the dotted text of a key (`codex.args[1]`) and its steps.

use serde_yaml::Value;

/// The text of a mapping key (non-string keys as YAML).
pub(super) fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

pub(super) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else if key.starts_with('[') {
        format!("{prefix}{key}")
    } else {
        format!("{prefix}.{key}")
    }
}

/// One step of a key path: a mapping key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    Key(String),
    Index(usize),
}

/// Splits a dotted key path with `[i]` indexes into steps.
pub(super) fn steps(path: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        let mut indexes = Vec::new();
        while rest.starts_with('[') {
            let Some(i) = rest.find(']').and_then(|end| {
                let i = rest[1..end].parse().ok()?;
                rest = &rest[end + 1..];
                Some(i)
            }) else {
                break;
            };
            indexes.push(Step::Index(i));
        }
        if !name.is_empty() {
            out.push(Step::Key(name.to_string()));
        }
        out.extend(indexes);
        if !rest.is_empty() {
            // Not an index: a key that holds brackets (the text of a list
            // used as a key, say).
            out.push(Step::Key(rest.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_keys_and_indexes() {
        // Found by the fuzzer: a list as a key, whose text has brackets and
        // multi-byte characters, made the path splitter panic.
        assert_eq!(
            steps("runner[\"]ᱍ\"]"),
            vec![Step::Key("runner".into()), Step::Key("[\"]ᱍ\"]".into())]
        );
        assert_eq!(
            steps("a.b[2][0].c"),
            vec![
                Step::Key("a".into()),
                Step::Key("b".into()),
                Step::Index(2),
                Step::Index(0),
                Step::Key("c".into())
            ]
        );
    }

    #[test]
    fn joins_keys_and_indexes() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", "b"), "a.b");
        assert_eq!(join("a.b", "[2]"), "a.b[2]");
        assert_eq!(key_text(&Value::from(5)), "5");
        assert_eq!(key_text(&Value::Null), "null");
    }
}
