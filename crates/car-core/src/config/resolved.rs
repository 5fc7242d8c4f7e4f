//! A loaded configuration: the typed values, the merged tree and the
//! source of every key.

use std::collections::BTreeMap;

use super::error::ConfigError;
use super::model::{self, Config};
use super::source::{self, ConfigSource, ConfigWarning};
use super::{layers, merge, reader};
use crate::paths::RepoPaths;

/// A loaded configuration plus where each value came from.
#[derive(Debug, Clone)]
pub struct ResolvedConfig {
    /// The validated, typed configuration the engine uses.
    pub config: Config,
    /// The repository the configuration belongs to.
    pub paths: RepoPaths,
    /// Problems that did not stop loading (unknown keys).
    pub warnings: Vec<ConfigWarning>,
    merged: serde_yaml::Value,
    sources: BTreeMap<String, ConfigSource>,
}

impl ResolvedConfig {
    /// Returns the merged configuration as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.merged).unwrap_or(serde_json::Value::Null)
    }

    /// Returns every leaf key (dotted path), its value as YAML text and its source.
    pub fn entries(&self) -> Vec<(String, String, ConfigSource)> {
        let mut out = Vec::new();
        merge::leaves(&self.merged, "", &mut |path, value| {
            // Lists and maps in flow style (`[a, b]`), on one line.
            let text = match value {
                serde_yaml::Value::Sequence(_) | serde_yaml::Value::Mapping(_) => {
                    serde_json::to_string(value).unwrap_or_default()
                }
                _ => serde_yaml::to_string(value)
                    .map(|s| s.trim_end().to_string())
                    .unwrap_or_default(),
            };
            out.push((path.to_string(), text, self.source_of(path)));
        });
        out
    }

    /// Returns the source of the value at a dotted key path.
    pub fn source_of(&self, key: &str) -> ConfigSource {
        source::source_of(&self.sources, key)
    }
}

/// Merges the layers and builds the typed configuration.
pub(super) fn resolve(
    stack: layers::Stack,
    paths: &RepoPaths,
) -> Result<ResolvedConfig, ConfigError> {
    let layers::Merged {
        value: merged,
        sources,
        mut warnings,
        files,
    } = stack.finish();
    let mut reader = reader::Reader::new(&merged, &sources, &files);
    let config = model::build(&mut reader, paths)?;
    warnings.append(&mut reader.warnings);
    Ok(ResolvedConfig {
        config,
        paths: paths.clone(),
        warnings,
        merged,
        sources,
    })
}
