//! Finding the line of a key in a config text: the YAML is read again by a
//! visitor that stops with an error at the key, whose position the parser
//! reports.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_yaml::Value;

use super::keypath::{Step, key_text, steps};
use super::limits::flow_too_deep;
use super::source::ConfigSource;
use super::yaml::{map_key, seq_key, wide_int, wide_uint};

/// The error a search raises at the key it looks for.
const FOUND: &str = "car: found the key";

/// The line of `key` in the file it came from, if it came from a file.
pub(super) fn line_in(
    files: &BTreeMap<PathBuf, String>,
    source: &ConfigSource,
    key: &str,
) -> Option<usize> {
    let (path, sectioned) = match source {
        ConfigSource::HubFile(p) | ConfigSource::RootFile(p) | ConfigSource::OverrideFile(p) => {
            (p, true)
        }
        ConfigSource::RepoFile(p) => (p, false),
        _ => return None,
    };
    let text = files.get(path)?;
    let steps = steps(key);
    if sectioned {
        let mut in_repo = vec![Step::Key("repo".into())];
        in_repo.extend(steps.iter().cloned());
        if let Some(line) = line_of(text, &in_repo) {
            return Some(line);
        }
    }
    line_of(text, &steps)
}

/// Returns the 1-based line of the key (or list item) at `path` in `text`,
/// if the text holds it. It reads the text again with a visitor that stops
/// with an error at the key, whose position the parser reports.
pub(super) fn line_of(text: &str, path: &[Step]) -> Option<usize> {
    if path.is_empty() || flow_too_deep(text).is_some() {
        return None;
    }
    let de = serde_yaml::Deserializer::from_str(text);
    match (Find { path }).deserialize(de) {
        Ok(()) => None,
        Err(e) if e.to_string().contains(FOUND) => e.location().map(|l| l.line()),
        Err(_) => None,
    }
}

struct Find<'p> {
    path: &'p [Step],
}

impl<'de> DeserializeSeed<'de> for Find<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Find<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.here()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.here()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.here()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.here()
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.here()
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.here()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.here()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.here()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.here()
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Step::Index(want), rest)) = self.path.split_first() else {
            return self.here();
        };
        let mut i = 0;
        loop {
            if i == *want {
                return seq.next_element_seed(Find { path: rest }).map(|_| ());
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Step::Key(want), rest)) = self.path.split_first() else {
            return self.here();
        };
        while let Some(hit) = map.next_key_seed(KeyIs {
            want,
            last: rest.is_empty(),
        })? {
            if hit {
                return map.next_value_seed(Find { path: rest });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let (_, contents) = data.variant::<IgnoredAny>()?;
        de::VariantAccess::newtype_variant_seed(contents, self)
    }
}

impl Find<'_> {
    fn here<E: de::Error>(&self) -> Result<(), E> {
        if self.path.is_empty() {
            Err(E::custom(FOUND))
        } else {
            Ok(())
        }
    }
}

/// Reads a mapping key; stops with [`FOUND`] at the last key of the path.
struct KeyIs<'w> {
    want: &'w str,
    last: bool,
}

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl KeyIs<'_> {
    /// Compares inside the visitor, so the error carries the key's position.
    fn is<E: de::Error>(&self, text: &str) -> Result<bool, E> {
        let hit = text == self.want;
        if hit && self.last {
            return Err(E::custom(FOUND));
        }
        Ok(hit)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        self.is(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.is(&key_text(&Value::from(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.is(&key_text(&Value::from(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        self.is(&key_text(&Value::from(v)))
    }
    // As the parser of values reads them, so the texts match.
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<bool, E> {
        self.is(&key_text(&wide_int(v)))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<bool, E> {
        self.is(&key_text(&wide_uint(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        self.is(v)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        self.is("null")
    }
    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        self.is("null")
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        let key = seq_key(seq)?;
        self.is(&key_text(&key))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<bool, A::Error> {
        let key = map_key(map)?;
        self.is(&key_text(&key))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<bool, A::Error> {
        let (_, contents) = data.variant::<IgnoredAny>()?;
        de::VariantAccess::newtype_variant_seed(contents, self)
    }
}

/// The 1-based line of the byte at `offset` (an invalid UTF-8 sequence, say).
pub(super) fn line_of_offset(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_line_of_a_key_or_item() {
        let text = "# top\nrunner:\n  sleep_seconds: 5\ncodex: {args: [a,\n  [exec]]}\n";
        assert_eq!(line_of(text, &steps("runner.sleep_seconds")), Some(3));
        assert_eq!(line_of(text, &steps("runner")), Some(2));
        assert_eq!(line_of(text, &steps("codex.args[1]")), Some(5));
        assert_eq!(line_of(text, &steps("codex.model")), None);
        assert_eq!(line_of("x: !t {y: 1}\n", &steps("x.y")), Some(1));
    }

    #[test]
    fn sectioned_files_are_searched_in_repo_first() {
        let path = PathBuf::from("/r/codex-autorunner.yml");
        let text = "runner:\n  sleep_seconds: 1\nrepo:\n  runner:\n    sleep_seconds: 2\n";
        let files = BTreeMap::from([(path.clone(), text.to_string())]);
        let root = ConfigSource::RootFile(path.clone());
        assert_eq!(line_in(&files, &root, "runner.sleep_seconds"), Some(5));
        let repo = ConfigSource::RepoFile(path);
        assert_eq!(line_in(&files, &repo, "runner.sleep_seconds"), Some(2));
        assert_eq!(line_in(&files, &ConfigSource::Default, "runner"), None);
    }

    #[test]
    fn byte_offsets_map_to_lines() {
        assert_eq!(line_of_offset(b"a\nb\nc", 0), 1);
        assert_eq!(line_of_offset(b"a\nb\nc", 2), 2);
        assert_eq!(line_of_offset(b"a\nb\nc", 99), 3);
    }
}
