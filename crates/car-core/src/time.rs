//! Timestamps in the formats the state file and logs use.

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats a UTC time the way the Python program wrote `state.json`
/// (`%Y-%m-%dT%H:%M:%SZ`, second precision), so both programs read each other.
pub fn iso_seconds(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Formats a UTC time with millisecond precision.
pub fn iso_millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Returns the current UTC time.
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

/// Parses an RFC 3339 timestamp, as written by either program.
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
