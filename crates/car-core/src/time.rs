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
