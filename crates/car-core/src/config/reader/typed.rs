//! The typed reader: each accessor reads one key of the merged
//! configuration as the type it wants, with errors that name the key and
//! the file and line (or variable, or flag) it came from.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_yaml::Value;

use super::convert::{self, Bounded, Secs, yaml11_bool};
use super::words::{describe, item_label};
use crate::config::ConfigError;
use crate::config::keypath::{join, key_text};
use crate::config::position::line_in;
use crate::config::source::{ConfigSource, ConfigWarning, source_of};

/// The merged configuration and what is needed to explain its values.
pub(in crate::config) struct Reader<'a> {
    merged: &'a Value,
    sources: &'a BTreeMap<String, ConfigSource>,
    files: &'a BTreeMap<PathBuf, String>,
    /// Problems that do not stop loading (YAML 1.1 booleans).
    pub(in crate::config) warnings: Vec<ConfigWarning>,
}

impl<'a> Reader<'a> {
    pub(in crate::config) fn new(
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
    pub(in crate::config) fn source(&self, key: &str) -> ConfigSource {
        source_of(self.sources, key)
    }

    /// Where `item` was set, and its line when it was set in a file.
    fn locate(&self, item: &str) -> (ConfigSource, Option<usize>) {
        let source = source_of(self.sources, item);
        let line = line_in(self.files, &source, item);
        (source, line)
    }

    /// Returns an error for `key` (its source and line found here).
    pub(in crate::config) fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        self.invalid_at(key, key, message)
    }

    /// An error about `key`, located at `item` (a path inside it).
    pub(in crate::config) fn invalid_at(
        &self,
        key: &str,
        item: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        let (origin, line) = self.locate(item);
        ConfigError::Invalid {
            key: key.to_string(),
            origin,
            line,
            message: message.into(),
        }
    }

    fn warn(&mut self, key: &str, message: String) {
        let (source, line) = self.locate(key);
        self.warnings.push(ConfigWarning {
            key: key.to_string(),
            source,
            line,
            message,
        });
    }

    /// The value at `key`; an error when a section above it is not a mapping.
    pub(in crate::config) fn value(&self, key: &str) -> Result<&'a Value, ConfigError> {
        let mut v = self.merged;
        let mut at = String::new();
        for part in key.split('.') {
            let Value::Mapping(m) = v else {
                return Err(self.invalid(
                    &at,
                    format!("is {}; expected a mapping of keys", describe(v)),
                ));
            };
            at = join(&at, part);
            // Keys are in the built-in defaults, so a missing one can only
            // have been removed by a layer that set its section to null.
            v = m.get(part).unwrap_or(&Value::Null);
        }
        Ok(v)
    }

    /// A number of seconds from 0 to `MAX_SECONDS`.
    pub(in crate::config) fn seconds(&self, key: &str) -> Result<Duration, ConfigError> {
        let v = self.value(key)?;
        self.to_seconds(key, v, Secs::Any)
    }

    /// A number of seconds, or null.
    pub(in crate::config) fn opt_seconds(
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
        convert::seconds(v, kind).map_err(|m| self.invalid(key, m))
    }

    /// A whole number from `min` to `T::MAX`.
    pub(in crate::config) fn whole<T>(&self, key: &str, min: u64) -> Result<T, ConfigError>
    where
        T: TryFrom<u64> + Bounded,
    {
        let v = self.value(key)?;
        self.to_whole(key, v, min, T::MAX)
    }

    /// A whole number from `min` to `max`.
    pub(in crate::config) fn whole_in<T>(
        &self,
        key: &str,
        min: u64,
        max: u64,
    ) -> Result<T, ConfigError>
    where
        T: TryFrom<u64> + Bounded,
    {
        let v = self.value(key)?;
        self.to_whole(key, v, min, max.min(T::MAX))
    }

    /// A whole number from `min` to `T::MAX`, or null.
    pub(in crate::config) fn opt_whole<T>(
        &self,
        key: &str,
        min: u64,
    ) -> Result<Option<T>, ConfigError>
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
        T: TryFrom<u64>,
    {
        convert::whole(v, min, max).map_err(|m| self.invalid(key, m))
    }

    /// A signed whole number, or null.
    pub(in crate::config) fn opt_int(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        match self.value(key)? {
            Value::Null => Ok(None),
            Value::Number(n) if n.as_i64().is_some() => Ok(n.as_i64()),
            v => Err(self.invalid(
                key,
                format!("is {}; expected a whole number, or null", describe(v)),
            )),
        }
    }

    /// A string of at most `MAX_STRING_BYTES`.
    pub(in crate::config) fn string(&self, key: &str) -> Result<String, ConfigError> {
        let v = self.value(key)?;
        self.to_string(key, key, v, "a string")
    }

    /// A string, or null.
    pub(in crate::config) fn opt_string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.value(key)? {
            Value::Null => Ok(None),
            v => self.to_string(key, key, v, "a string, or null").map(Some),
        }
    }

    /// The string at `item` (`key` itself or an item of it).
    fn to_string(
        &self,
        key: &str,
        item: &str,
        v: &Value,
        allowed: &str,
    ) -> Result<String, ConfigError> {
        convert::text(v, allowed)
            .map_err(|m| self.invalid_at(key, item, format!("{}{m}", item_label(key, item))))
    }

    /// A list of strings (a single string is taken as a list of one).
    pub(in crate::config) fn strings(&self, key: &str) -> Result<Vec<String>, ConfigError> {
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

    /// A list of signed whole numbers (ids); a quoted number such as
    /// `"-100123"` is read as the number; null is an empty list.
    pub(in crate::config) fn ints(&self, key: &str) -> Result<Vec<i64>, ConfigError> {
        match self.value(key)? {
            Value::Null => Ok(Vec::new()),
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let n = match v {
                        Value::Number(n) => n.as_i64(),
                        Value::String(s) => s.trim().parse::<i64>().ok(),
                        _ => None,
                    };
                    n.ok_or_else(|| {
                        self.invalid_at(
                            key,
                            &format!("{key}[{i}]"),
                            format!(
                                "item {} is {}; expected a whole number (an id)",
                                i + 1,
                                describe(v)
                            ),
                        )
                    })
                })
                .collect(),
            v => Err(self.invalid(
                key,
                format!(
                    "is {}; expected a list of whole numbers, like [123, -100456]",
                    describe(v)
                ),
            )),
        }
    }

    /// true or false; YAML 1.1's yes/no/on/off are accepted with a warning.
    pub(in crate::config) fn flag(&mut self, key: &str) -> Result<bool, ConfigError> {
        match self.opt_flag_inner(key, "expected true or false")? {
            Some(b) => Ok(b),
            None => Err(self.invalid(key, "is null; expected true or false")),
        }
    }

    /// true, false or null.
    pub(in crate::config) fn opt_flag(&mut self, key: &str) -> Result<Option<bool>, ConfigError> {
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
    pub(in crate::config) fn yaml11_warning(&mut self, key: &str, s: &str, b: bool) {
        self.warn(
            key,
            format!(
                "is `{s}`, read as {b} (a YAML 1.1 boolean, as the Python program did); write {b}"
            ),
        );
    }

    /// A mapping of strings to strings (null: empty).
    pub(in crate::config) fn string_map(
        &self,
        key: &str,
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        // The entry is the key named in errors: `codex.env.NAME`.
        self.map_of(key, "strings", |item, _, v| {
            self.to_string(item, item, v, "a string")
        })
    }

    /// A mapping of strings to whole numbers.
    pub(in crate::config) fn int_map(
        &self,
        key: &str,
    ) -> Result<BTreeMap<String, i64>, ConfigError> {
        self.map_of(key, "whole numbers", |item, name, v| {
            v.as_i64().ok_or_else(|| {
                self.invalid_at(
                    key,
                    item,
                    format!("`{name}` is {}; expected a whole number", describe(v)),
                )
            })
        })
    }

    /// A mapping of string keys (null: empty), each value read by `read`
    /// with the entry's key path and name; `values` names what the values
    /// must be, for the message.
    fn map_of<T>(
        &self,
        key: &str,
        values: &str,
        mut read: impl FnMut(&str, &str, &Value) -> Result<T, ConfigError>,
    ) -> Result<BTreeMap<String, T>, ConfigError> {
        let m = match self.value(key)? {
            Value::Null => return Ok(BTreeMap::new()),
            Value::Mapping(m) => m,
            v => {
                return Err(self.invalid(
                    key,
                    format!(
                        "is {}; expected a mapping of strings to {values}",
                        describe(v)
                    ),
                ));
            }
        };
        let mut out = BTreeMap::new();
        for (k, v) in m {
            let item = join(key, &key_text(k));
            let Value::String(name) = k else {
                return Err(self.invalid_at(
                    key,
                    &item,
                    format!("has the key {}; expected a string key", describe(k)),
                ));
            };
            out.insert(name.clone(), read(&item, name, v)?);
        }
        Ok(out)
    }
}
