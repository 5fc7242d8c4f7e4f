//! Which Codex CLI version is installed, and the oldest one car is tested with.

/// The oldest Codex CLI version the end-to-end tests run against.
pub(crate) const OLDEST_TESTED_VERSION: (u64, u64, u64) = (0, 169, 0);

/// Parses `codex --version` output (`codex-cli 0.169.0`).
pub(crate) fn parse_version(output: &str) -> Option<(u64, u64, u64)> {
    let word = output
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    let mut parts = word.split(['.', '-', '+']).map(|p| p.parse::<u64>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("codex-cli 0.169.0\n"), Some((0, 169, 0)));
        assert_eq!(parse_version("codex-cli 1.2.3-beta.1"), Some((1, 2, 3)));
        assert_eq!(parse_version("garbage"), None);
    }
}
