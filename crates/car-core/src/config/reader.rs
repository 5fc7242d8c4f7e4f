//! Reading typed values out of the merged configuration, with errors that
//! name the key, the file and line (or variable, or flag) it came from, and
//! say in YAML words what is allowed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_yaml::Value;

use super::ConfigError;
use super::layers::{self, ConfigSource, ConfigWarning};
use super::limits::{MAX_SECONDS, MAX_STRING_BYTES};
use super::yaml;

/// The merged configuration and what is needed to explain its values.
pub(super) struct Reader<'a> {
    merged: &'a Value,
    sources: &'a BTreeMap<String, ConfigSource>,
    files: &'a BTreeMap<PathBuf, String>,
    /// Problems that do not stop loading (YAML 1.1 booleans).
    pub(super) warnings: Vec<ConfigWarning>,
}

/// How a number of seconds may be set.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Secs {
    /// 0 or more.
    Any,
    /// More than 0 (null turns it off).
    Positive,
}

impl<'a> Reader<'a> {
    pub(super) fn new(
        merged: &'a Value,
        sources: &'a BTreeMap<String, ConfigSource>,
        files: &'a BTreeMap<PathBuf, String>,
    ) -> Self {
        Self {
            merged,
            sources,
            files,
            warnings: Vec::new(),
        }
    }

    /// Where the value of `key` came from.
    pub(super) fn source(&self, key: &str) -> ConfigSource {
        layers::source_of(self.sources, key)
    }

    /// Returns an error for `key` (its source and line found here).
    pub(super) fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        self.invalid_at(key, key, message)
    }

    /// An error about `key`, located at `item` (a path inside it).
    fn invalid_at(&self, key: &str, item: &str, message: impl Into<String>) -> ConfigError {
        let origin = layers::source_of(self.sources, item);
        let line = line_in(self.files, &origin, item);
        ConfigError::Invalid {
            key: key.to_string(),
            origin,
            line,
            message: message.into(),
        }
    }

    fn warn(&mut self, key: &str, message: String) {
        let source = layers::source_of(self.sources, key);
        let line = line_in(self.files, &source, key);
        self.warnings.push(ConfigWarning {
            key: key.to_string(),
            source,
            line,
            message,
        });
    }

    /// The value at `key`; an error when a section above it is not a mapping.
    pub(super) fn value(&self, key: &str) -> Result<&'a Value, ConfigError> {
        let mut v = self.merged;
        let mut at = String::new();
        for part in key.split('.') {
            let Value::Mapping(m) = v else {
                return Err(self.invalid(
                    &at,
                    format!("is {}; expected a mapping of keys", describe(v)),
                ));
            };
            at = yaml::join(&at, part);
            // Keys are in the built-in defaults, so a missing one can only
            // have been removed by a layer that set its section to null.
            v = m.get(part).unwrap_or(&Value::Null);
        }
        Ok(v)
    }

    /// A number of seconds from 0 to [`MAX_SECONDS`].
    pub(super) fn seconds(&self, key: &str) -> Result<Duration, ConfigError> {
        let v = self.value(key)?;
        self.to_seconds(key, v, Secs::Any)
    }

    /// A number of seconds, or null.
    pub(super) fn opt_seconds(
        &self,
        key: &str,
        kind: Secs,
    ) -> Result<Option<Duration>, ConfigError> {
        match self.value(key)? {
            Value::Null => Ok(None),
            v => self.to_seconds(key, v, kind).map(Some),
        }
    }

    fn to_seconds(&self, key: &str, v: &Value, kind: Secs) -> Result<Duration, ConfigError> {
        let (lowest, null) = match kind {
            Secs::Any => ("0", ""),
            Secs::Positive => ("more than 0", ", or null to turn it off"),
        };
        let allowed =
            format!("expected a number of seconds from {lowest} to {MAX_SECONDS} (10 years){null}");
        let Some(x) = v.as_f64() else {
            return Err(self.invalid(key, format!("is {}; {allowed}", describe(v))));
        };
        let too_low = match kind {
            Secs::Any => x < 0.0,
            Secs::Positive => x <= 0.0,
        };
        if !x.is_finite() || too_low || x > MAX_SECONDS as f64 {
            return Err(self.invalid(key, format!("{} is out of range; {allowed}", scalar(v))));
        }
        Duration::try_from_secs_f64(x)
            .map_err(|_| self.invalid(key, format!("{} is out of range; {allowed}", scalar(v))))
    }

    /// A whole number from `min` to `T::MAX`.
    pub(super) fn whole<T>(&self, key: &str, min: u64) -> Result<T, ConfigError>
    where
        T: TryFrom<u64> + Bounded,
    {
        let v = self.value(key)?;
        self.to_whole(key, v, min, T::MAX)
    }

    /// A whole number from `min` to `max`.
    pub(super) fn whole_in<T>(&self, key: &str, min: u64, max: u64) -> Result<T, ConfigError>
    where
        T: TryFrom<u64> + Bounded,
    {
        let v = self.value(key)?;
        self.to_whole(key, v, min, max.min(T::MAX))
    }

    /// A whole number from `min` to `T::MAX`, or null.
    pub(super) fn opt_whole<T>(&self, key: &str, min: u64) -> Result<Option<T>, ConfigError>
    where
        T: TryFrom<u64> + Bounded,
    {
        match self.value(key)? {
            Value::Null => Ok(None),
            v => self.to_whole(key, v, min, T::MAX).map(Some),
        }
    }

    fn to_whole<T>(&self, key: &str, v: &Value, min: u64, max: u64) -> Result<T, ConfigError>
    where
        T: TryFrom<u64> + Bounded,
    {
        let allowed = format!("expected a whole number from {min} to {max}");
        let n = match v {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < u64::MAX as f64)
                    .map(|f| f as u64)
            }),
            _ => {
                return Err(self.invalid(key, format!("is {}; {allowed}", describe(v))));
            }
        };
        n.filter(|&n| n >= min && n <= max)
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| self.invalid(key, format!("{} is out of range; {allowed}", scalar(v))))
    }

    /// A signed whole number, or null.
    pub(super) fn opt_int(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        match self.value(key)? {
            Value::Null => Ok(None),
            Value::Number(n) if n.as_i64().is_some() => Ok(n.as_i64()),
            v => Err(self.invalid(
                key,
                format!("is {}; expected a whole number, or null", describe(v)),
            )),
        }
    }

    /// A string of at most [`MAX_STRING_BYTES`].
    pub(super) fn string(&self, key: &str) -> Result<String, ConfigError> {
        let v = self.value(key)?;
        self.to_string(key, key, v, "a string")
    }

    /// A string, or null.
    pub(super) fn opt_string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.value(key)? {
            Value::Null => Ok(None),
            v => self.to_string(key, key, v, "a string, or null").map(Some),
        }
    }

    fn to_string(
        &self,
        key: &str,
        item: &str,
        v: &Value,
        allowed: &str,
    ) -> Result<String, ConfigError> {
        let s = match v {
            Value::String(s) => s.clone(),
            // A number or boolean where text is expected is taken as its text
            // (`model: 5`), as the Python program's str() did.
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(self.invalid_at(
                    key,
                    item,
                    format!(
                        "{}is {}; expected {allowed}",
                        item_label(key, item),
                        describe(v)
                    ),
                ));
            }
        };
        if s.len() > MAX_STRING_BYTES {
            return Err(self.invalid_at(
                key,
                item,
                format!(
                    "{}is a string of {} bytes; the longest allowed is {MAX_STRING_BYTES} bytes",
                    item_label(key, item),
                    s.len()
                ),
            ));
        }
        Ok(s)
    }

    /// A list of strings (a single string is taken as a list of one).
    pub(super) fn strings(&self, key: &str) -> Result<Vec<String>, ConfigError> {
        match self.value(key)? {
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| self.to_string(key, &format!("{key}[{i}]"), v, "a list of strings"))
                .collect(),
            v => Err(self.invalid(
                key,
                format!(
                    "is {}; expected a list of strings, like [a, b]",
                    describe(v)
                ),
            )),
        }
    }

    /// true or false; YAML 1.1's yes/no/on/off are accepted with a warning.
    pub(super) fn flag(&mut self, key: &str) -> Result<bool, ConfigError> {
        match self.opt_flag_inner(key, "expected true or false")? {
            Some(b) => Ok(b),
            None => Err(self.invalid(key, "is null; expected true or false")),
        }
    }

    /// true, false or null.
    pub(super) fn opt_flag(&mut self, key: &str) -> Result<Option<bool>, ConfigError> {
        self.opt_flag_inner(key, "expected true, false or null")
    }

    fn opt_flag_inner(&mut self, key: &str, allowed: &str) -> Result<Option<bool>, ConfigError> {
        match self.value(key)? {
            Value::Null => Ok(None),
            Value::Bool(b) => Ok(Some(*b)),
            Value::String(s) if yaml11_bool(s).is_some() => {
                let b = yaml11_bool(s);
                self.yaml11_warning(key, s, b == Some(true));
                Ok(b)
            }
            v => Err(self.invalid(key, format!("is {}; {allowed}", describe(v)))),
        }
    }

    /// Warns that `s` was read as a YAML 1.1 boolean.
    pub(super) fn yaml11_warning(&mut self, key: &str, s: &str, b: bool) {
        self.warn(
            key,
            format!(
                "is `{s}`, read as {b} (a YAML 1.1 boolean, as the Python program did); write {b}"
            ),
        );
    }

    /// A mapping of strings to strings (null: empty).
    pub(super) fn string_map(&self, key: &str) -> Result<BTreeMap<String, String>, ConfigError> {
        let m = match self.value(key)? {
            Value::Null => return Ok(BTreeMap::new()),
            Value::Mapping(m) => m,
            v => {
                return Err(self.invalid(
                    key,
                    format!(
                        "is {}; expected a mapping of strings to strings",
                        describe(v)
                    ),
                ));
            }
        };
        let mut out = BTreeMap::new();
        for (k, v) in m {
            let item = yaml::join(key, &yaml::key_text(k));
            let Value::String(name) = k else {
                return Err(self.invalid_at(
                    key,
                    &item,
                    format!("has the key {}; expected a string key", describe(k)),
                ));
            };
            // The entry is the key named in errors: `codex.env.NAME`.
            out.insert(name.clone(), self.to_string(&item, &item, v, "a string")?);
        }
        Ok(out)
    }

    /// A mapping of strings to whole numbers.
    pub(super) fn int_map(&self, key: &str) -> Result<BTreeMap<String, i64>, ConfigError> {
        let m = match self.value(key)? {
            Value::Null => return Ok(BTreeMap::new()),
            Value::Mapping(m) => m,
            v => {
                return Err(self.invalid(
                    key,
                    format!(
                        "is {}; expected a mapping of strings to whole numbers",
                        describe(v)
                    ),
                ));
            }
        };
        let mut out = BTreeMap::new();
        for (k, v) in m {
            let item = yaml::join(key, &yaml::key_text(k));
            let Value::String(name) = k else {
                return Err(self.invalid_at(
                    key,
                    &item,
                    format!("has the key {}; expected a string key", describe(k)),
                ));
            };
            let Some(n) = v.as_i64() else {
                return Err(self.invalid_at(
                    key,
                    &item,
                    format!("`{name}` is {}; expected a whole number", describe(v)),
                ));
            };
            out.insert(name.clone(), n);
        }
        Ok(out)
    }
}

/// Integer types with a largest value, for messages.
pub(super) trait Bounded {
    const MAX: u64;
}

impl Bounded for u16 {
    const MAX: u64 = u16::MAX as u64;
}
impl Bounded for u32 {
    const MAX: u64 = u32::MAX as u64;
}
impl Bounded for u64 {
    const MAX: u64 = u64::MAX;
}
impl Bounded for usize {
    const MAX: u64 = usize::MAX as u64;
}

/// YAML 1.1's booleans beyond true/false, as PyYAML reads them.
pub(super) fn yaml11_bool(s: &str) -> Option<bool> {
    match s {
        "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

/// "item 2 " for a list item, "" for the key itself.
fn item_label(key: &str, item: &str) -> String {
    match item.strip_prefix(key).and_then(|r| r.strip_prefix('[')) {
        Some(rest) => {
            let n: usize = rest.trim_end_matches(']').parse().unwrap_or(0);
            format!("item {} ", n + 1)
        }
        None => String::new(),
    }
}

/// A value in YAML words: "`soon` (a string)", "a list", "a mapping".
pub(super) fn describe(v: &Value) -> String {
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
fn scalar(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => yaml::key_text(other),
    };
    let mut short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        short.push_str("...");
    }
    format!("`{}`", short.escape_debug())
}

/// The line of `key` in the file it came from, if it came from a file.
pub(super) fn line_in(
    files: &BTreeMap<PathBuf, String>,
    source: &ConfigSource,
    key: &str,
) -> Option<usize> {
    let (path, sectioned) = match source {
        ConfigSource::RootFile(p) | ConfigSource::OverrideFile(p) => (p, true),
        ConfigSource::RepoFile(p) => (p, false),
        _ => return None,
    };
    let text = files.get(path)?;
    let steps = yaml::steps(key);
    if sectioned {
        let mut in_repo = vec![yaml::Step::Key("repo".into())];
        in_repo.extend(steps.iter().cloned());
        if let Some(line) = yaml::line_of(text, &in_repo) {
            return Some(line);
        }
    }
    yaml::line_of(text, &steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader_for(yaml: &str, f: impl FnOnce(&mut Reader<'_>)) {
        let merged: Value = serde_yaml::from_str(yaml).expect("valid YAML");
        let path = PathBuf::from("/r/c.yml");
        let mut sources = BTreeMap::new();
        layers::leaves(&merged, "", &mut |p, _| {
            sources.insert(p.to_string(), ConfigSource::RepoFile(path.clone()));
        });
        let files = BTreeMap::from([(path, yaml.to_string())]);
        let mut r = Reader::new(&merged, &sources, &files);
        f(&mut r);
    }

    #[test]
    fn seconds_are_bounded_and_named_in_yaml_words() {
        reader_for("a:\n  b: 1e20\n  c: soon\n  d: 2.5\n  e: 0\n", |r| {
            let e = r.seconds("a.b").unwrap_err().to_string();
            assert!(e.contains("`a.b`") && e.contains("/r/c.yml:2"), "{e}");
            assert!(
                e.contains("315360000 (10 years)") && !e.contains("f64"),
                "{e}"
            );
            let e = r.seconds("a.c").unwrap_err().to_string();
            assert!(e.contains("`soon` (a string)") && e.contains(":3"), "{e}");
            assert_eq!(r.seconds("a.d").unwrap(), Duration::from_millis(2500));
            assert!(r.opt_seconds("a.e", Secs::Positive).is_err());
            assert_eq!(
                r.opt_seconds("a.e", Secs::Any).unwrap(),
                Some(Duration::ZERO)
            );
        });
    }

    #[test]
    fn sections_that_are_not_mappings_are_named() {
        reader_for("a: 5\n", |r| {
            let e = r.seconds("a.b").unwrap_err().to_string();
            assert!(e.contains("`a`") && e.contains("expected a mapping"), "{e}");
        });
    }

    #[test]
    fn lists_of_strings_name_the_item_and_its_line() {
        reader_for("codex:\n  args:\n    - a\n    - [exec]\n", |r| {
            let e = r.strings("codex.args").unwrap_err().to_string();
            assert!(
                e.contains("`codex.args`") && e.contains("/r/c.yml:4"),
                "{e}"
            );
            assert!(
                e.contains("item 2 is a list; expected a list of strings"),
                "{e}"
            );
        });
    }

    #[test]
    fn long_strings_are_refused() {
        let long = "m".repeat(MAX_STRING_BYTES + 1);
        reader_for(&format!("codex:\n  model: {long}\n"), |r| {
            let e = r.opt_string("codex.model").unwrap_err().to_string();
            assert!(e.contains("`codex.model`") && e.contains("16384"), "{e}");
        });
    }

    #[test]
    fn yaml11_booleans_are_read_with_a_warning() {
        reader_for("g:\n  a: yes\n  b: Off\n  c: maybe\n", |r| {
            assert!(r.flag("g.a").unwrap());
            assert!(!r.flag("g.b").unwrap());
            assert!(
                r.flag("g.c")
                    .unwrap_err()
                    .to_string()
                    .contains("true or false")
            );
            assert_eq!(r.warnings.len(), 2);
            let w = r.warnings[0].to_string();
            assert!(
                w.contains("`g.a`") && w.contains("YAML 1.1") && w.contains(":2"),
                "{w}"
            );
        });
    }

    #[test]
    fn whole_numbers_are_checked_against_their_type() {
        reader_for("n:\n  a: -1\n  b: 70000\n  c: 3\n  d: 2.0\n", |r| {
            assert!(r.whole::<u32>("n.a", 0).is_err());
            let e = r.whole::<u16>("n.b", 0).unwrap_err().to_string();
            assert!(e.contains("from 0 to 65535"), "{e}");
            assert_eq!(r.whole::<u32>("n.c", 1).unwrap(), 3);
            assert_eq!(r.whole::<u32>("n.d", 1).unwrap(), 2);
            let e = r.whole_in::<u32>("n.b", 0, 100).unwrap_err().to_string();
            assert!(e.contains("from 0 to 100") && e.contains("`70000`"), "{e}");
        });
    }
}
