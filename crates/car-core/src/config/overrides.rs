//! Command-line `KEY=VALUE` overrides (`-c`).

use super::error::ConfigError;

/// Parses a `KEY=VALUE` command-line override into `(key, value)`.
pub fn parse_override(arg: &str) -> Result<(String, String), ConfigError> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(ConfigError::BadOverride {
            arg: arg.to_string(),
        }),
    }
}
