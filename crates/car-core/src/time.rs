//! Timestamps in the formats the state file and logs use.

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats a UTC time the way the Python program wrote `state.json`
/// (`%Y-%m-%dT%H:%M:%SZ`, second precision), so both programs read each other.
pub(crate) fn iso_seconds(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Formats a UTC time with millisecond precision.
pub(crate) fn iso_millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Returns the current UTC time.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now()
}

/// Returns the instant `d` from now; a `d` too large for the clock gives a
/// far future (10 years from now) instead of a panic.
pub(crate) fn deadline_in(d: std::time::Duration) -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(std::time::Duration::from_secs(10 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    #[test]
    fn deadline_in_never_panics() {
        let far = super::deadline_in(Duration::MAX);
        assert!(far > Instant::now() + Duration::from_secs(3600));
        let soon = super::deadline_in(Duration::from_secs(1));
        assert!(soon <= Instant::now() + Duration::from_secs(2));
    }
}
