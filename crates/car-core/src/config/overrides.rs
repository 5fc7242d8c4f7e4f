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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_splits_at_the_first_equals_sign() {
        let ok = |arg: &str| parse_override(arg).ok();
        let pair = |k: &str, v: &str| Some((k.to_string(), v.to_string()));
        assert_eq!(
            ok("runner.sleep_seconds=0"),
            pair("runner.sleep_seconds", "0")
        );
        // The key is trimmed; the value is kept as given, `=` and spaces too.
        assert_eq!(ok(" codex.args = [a=b] "), pair("codex.args", " [a=b] "));
        assert_eq!(ok("git.auto_commit="), pair("git.auto_commit", ""));
        for bad in ["runner.sleep_seconds", "=0", " =0", ""] {
            let err = parse_override(bad).err().map(|e| e.to_string());
            assert_eq!(
                err.as_deref(),
                Some(
                    format!(
                        "invalid config override `{bad}`: expected KEY=VALUE, e.g. runner.sleep_seconds=0"
                    )
                    .as_str()
                ),
                "{bad:?}"
            );
        }
    }
}
