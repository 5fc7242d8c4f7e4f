//! Parsing one YAML text into a value within the limits.
//!
//! The value is built by a visitor of our own instead of the parser's
//! `Value`, so that it can count values (aliases expanded: no "billion
//! laughs"), bound the nesting, and drop tags (`!tag {...}` is read as the
//! mapping it tags, and reported).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_yaml::{Mapping, Value};

use super::ConfigError;
use super::keypath::{join, key_text};
use super::limits::{MAX_DEPTH, MAX_VALUES, flow_too_deep};

/// A parsed config text.
#[derive(Debug)]
pub(super) struct Parsed {
    /// The value (null for an empty text).
    pub(super) value: Value,
    /// Tags that were dropped: `(dotted key path, tag)`.
    pub(super) tags: Vec<(String, String)>,
}

/// Why the visitor stopped; the parser adds the line.
const TOO_DEEP: &str = "car: nesting limit";
const TOO_MANY: &str = "car: value limit";

/// Parses `text` (the content of `path`) within the limits.
pub(super) fn parse(text: &str, path: &Path) -> Result<Parsed, ConfigError> {
    if let Some(line) = flow_too_deep(text) {
        return Err(ConfigError::TooDeep {
            path: path.to_path_buf(),
            line,
        });
    }
    let budget = Budget {
        values: Cell::new(0),
        tags: RefCell::new(Vec::new()),
    };
    let de = serde_yaml::Deserializer::from_str(text);
    let result = Node {
        budget: &budget,
        depth: 0,
        path: String::new(),
        seen: None,
    }
    .deserialize(de);
    match result {
        Ok(value) => Ok(Parsed {
            value,
            tags: budget.tags.into_inner(),
        }),
        Err(e) => {
            let line = e.location().map_or(0, |l| l.line());
            let message = e.to_string();
            if message.contains(TOO_DEEP) || message.contains("recursion limit exceeded") {
                Err(ConfigError::TooDeep {
                    path: path.to_path_buf(),
                    line,
                })
            } else if message.contains(TOO_MANY) || message.contains("repetition limit exceeded") {
                Err(ConfigError::TooManyValues {
                    path: path.to_path_buf(),
                    line,
                })
            } else {
                let column = e.location().map_or(0, |l| l.column());
                Err(ConfigError::Syntax {
                    path: path.to_path_buf(),
                    line,
                    column,
                    message: strip_location(&message),
                })
            }
        }
    }
}

/// Removes the " at line L column C" suffix the parser adds, since the error
/// prints the location itself.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[derive(Default)]
struct Budget {
    values: Cell<usize>,
    tags: RefCell<Vec<(String, String)>>,
}

/// Builds one value at `path`, `depth` collections deep.
struct Node<'b> {
    budget: &'b Budget,
    depth: usize,
    path: String,
    /// For a mapping key: the keys before it (a repeated key is an error).
    seen: Option<&'b Mapping>,
}

impl<'b> Node<'b> {
    /// A node that is not part of a document's value (a key being compared).
    fn detached(budget: &'b Budget) -> Self {
        Node {
            budget,
            depth: 0,
            path: String::new(),
            seen: None,
        }
    }

    fn count<E: de::Error>(&self) -> Result<(), E> {
        let n = self.budget.values.get() + 1;
        self.budget.values.set(n);
        if n > MAX_VALUES {
            return Err(E::custom(TOO_MANY));
        }
        Ok(())
    }

    fn child(&self, key: &str) -> Node<'_> {
        Node {
            budget: self.budget,
            depth: self.depth + 1,
            path: join(&self.path, key),
            seen: None,
        }
    }

    /// The node of a key of a mapping whose keys so far are `seen`.
    fn key<'s>(&'s self, seen: &'s Mapping) -> Node<'s> {
        Node {
            seen: Some(seen),
            ..self.child("?")
        }
    }

    /// Returns the built value, refusing a repeated mapping key (raised
    /// here, so the parser reports the key's own line).
    fn done<E: de::Error>(&self, v: Value) -> Result<Value, E> {
        if self.seen.is_some_and(|m| m.contains_key(&v)) {
            return Err(E::custom(format!("duplicate key `{}`", key_text(&v))));
        }
        Ok(v)
    }

    fn enter<E: de::Error>(&self) -> Result<(), E> {
        self.count()?;
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(TOO_DEEP));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.count()?;
        self.done(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.count()?;
        self.done(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.count()?;
        self.done(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.count()?;
        self.done(Value::from(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        self.count()?;
        self.done(wide_int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        self.count()?;
        self.done(wide_uint(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.count()?;
        self.done(Value::String(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.count()?;
        self.done(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.count()?;
        self.done(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.enter()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self.child(&format!("[{}]", out.len())))? {
            out.push(v);
        }
        self.done(Value::Sequence(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.enter()?;
        let mut out = Mapping::new();
        while let Some(k) = map.next_key_seed(self.key(&out))? {
            let v = map.next_value_seed(self.child(&key_text(&k)))?;
            out.insert(k, v);
        }
        self.done(Value::Mapping(out))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        // A tagged value (`!tag x`): keep the value, report the tag.
        let (tag, contents) = data.variant::<String>()?;
        self.budget
            .tags
            .borrow_mut()
            .push((self.path.clone(), format!("!{tag}")));
        de::VariantAccess::newtype_variant_seed(contents, self)
    }
}

/// Reads a mapping key that is a list, as a value is read (to compare it).
pub(super) fn seq_key<'de, A: SeqAccess<'de>>(seq: A) -> Result<Value, A::Error> {
    Node::detached(&Budget::default()).visit_seq(seq)
}

/// Reads a mapping key that is a mapping, as a value is read (to compare it).
pub(super) fn map_key<'de, A: MapAccess<'de>>(map: A) -> Result<Value, A::Error> {
    Node::detached(&Budget::default()).visit_map(map)
}

/// A signed integer as a value: past 64 bits (`-9223372036854775809`) it
/// becomes a float, so a key that wants a number says it is out of range.
#[allow(clippy::cast_precision_loss, reason = "only its size matters then")]
pub(super) fn wide_int(v: i128) -> Value {
    i64::try_from(v).map_or_else(|_| Value::from(v as f64), Value::from)
}

/// An unsigned integer as a value: past 64 bits (`18446744073709551616`)
/// it becomes a float, so a key that wants a number says it is out of range.
#[allow(clippy::cast_precision_loss, reason = "only its size matters then")]
pub(super) fn wide_uint(v: u128) -> Value {
    u64::try_from(v).map_or_else(|_| Value::from(v as f64), Value::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Parsed, ConfigError> {
        parse(text, Path::new("/r/c.yml"))
    }

    #[test]
    fn parses_like_the_parser_and_drops_tags() {
        let text = "a: 1\nb: [x, 2.5, null, true]\nc: !tag {d: e}\n";
        let v = p(text).unwrap();
        let plain: Value =
            serde_yaml::from_str("a: 1\nb: [x, 2.5, null, true]\nc: {d: e}\n").expect("valid YAML");
        assert_eq!(v.value, plain);
        assert_eq!(v.tags, vec![("c".to_string(), "!tag".to_string())]);
        assert!(p("").unwrap().value.is_null());
    }

    #[test]
    fn nesting_and_alias_bombs_are_refused_with_the_line() {
        let deep = format!("a: 1\nb:\n{}x\n", "  - ".repeat(MAX_DEPTH + 2));
        assert!(matches!(
            p(&deep),
            Err(ConfigError::TooDeep { line: 3, .. })
        ));
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let prev = if i == 1 {
                "a".to_string()
            } else {
                format!("a{}", i - 1)
            };
            bomb.push_str(&format!(
                "a{i}: &a{i} [{}]\n",
                vec![format!("*{prev}"); 10].join(", ")
            ));
        }
        let e = p(&bomb).unwrap_err();
        assert!(matches!(e, ConfigError::TooManyValues { .. }), "{e}");
    }

    /// Found by the fuzzer (corpus seed regression-huge-durations.yml):
    /// an integer past 64 bits was a syntax error in Rust words ("invalid
    /// type: integer as u128").
    #[test]
    fn integers_past_64_bits_are_numbers() {
        let v = p("a: 18446744073709551616\nb: -9223372036854775809\nc: 5\n").unwrap();
        let a = v.value.get("a").and_then(Value::as_f64).unwrap();
        assert!(a > 1.8e19, "{a}");
        assert!(v.value.get("b").and_then(Value::as_f64).unwrap() < -9.2e18);
        assert_eq!(v.value.get("c").and_then(Value::as_u64), Some(5));
    }

    #[test]
    fn a_repeated_key_is_an_error_at_its_line() {
        let e = p("a: 1\nb:\n  c: 1\n  c: 2\n").unwrap_err();
        assert!(
            matches!(&e, ConfigError::Syntax { line: 4, message, .. } if message.contains("duplicate key `c`")),
            "{e}"
        );
    }

    #[test]
    fn syntax_errors_keep_line_and_column() {
        let e = p("a: [1\nb: 2\n").unwrap_err();
        assert!(
            matches!(e, ConfigError::Syntax { line, .. } if line > 0),
            "{e}"
        );
    }
}
