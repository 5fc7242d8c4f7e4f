//! What an error message from Codex means for the loop: a usage window to
//! wait out (and until when), a billing wall, a transient failure, an
//! overflowing context window, or anything else.

use chrono::{DateTime, Local, NaiveDate, NaiveTime, TimeZone};
use regex::Regex;

/// What an error message from Codex means for the loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// A usage window is used up; retry at the reset time (None: unknown, "later").
    UsageLimit(Option<DateTime<Local>>),
    /// The plan or billing does not allow more; retrying will not help.
    Billing,
    /// A temporary problem (high demand, a dropped stream, 429/5xx, connection).
    Transient,
    /// The prompt no longer fits the model's context window.
    ContextWindow,
    /// Anything else.
    Other,
}

/// Classifies a Codex error message; `now` anchors times like "3:45 PM".
pub(crate) fn classify(message: &str, now: DateTime<Local>) -> ErrorClass {
    let m = message.replace('\u{2019}', "'").to_lowercase();
    // First: a usage window's message may also say "Upgrade to Plus ... or
    // try again at"; it is a wait, not a billing wall.
    if m.contains("usage limit") {
        return ErrorClass::UsageLimit(parse_reset(message, now));
    }
    if m.contains("quota exceeded")
        || m.contains("check your plan and billing")
        || m.contains("upgrade to plus")
    {
        return ErrorClass::Billing;
    }
    if m.contains("context window") || m.contains("ran out of room") {
        return ErrorClass::ContextWindow;
    }
    // "exceeded retry limit, last status: 401" is not worth retrying; 429 and 5xx are.
    if let Some(rest) = m.split("exceeded retry limit").nth(1) {
        let code = rest
            .split("last status:")
            .nth(1)
            .and_then(|t| t.trim().get(..3));
        return match code {
            Some(c) if c == "429" || c.starts_with('5') => ErrorClass::Transient,
            Some(_) => ErrorClass::Other,
            None => ErrorClass::Transient,
        };
    }
    let transient = [
        "high demand",
        "stream disconnected",
        "connection failed",
        "error sending request",
        "waiting for network",
        "reconnecting",
        "timed out",
        "temporarily unavailable",
        "internal server error",
        "bad gateway",
        "service unavailable",
    ];
    if transient.iter().any(|t| m.contains(t)) {
        return ErrorClass::Transient;
    }
    ErrorClass::Other
}

/// Parses the reset time out of "... try again at 3:45 PM." or
/// "... try again at Mar 5th, 2026 3:45 PM." (local time).
///
/// Codex prints a time of day only for a reset later the same day, cut to
/// the minute: the window resets within that minute, so the end of the
/// minute is returned (never early). A time already passed means now.
pub(crate) fn parse_reset(message: &str, now: DateTime<Local>) -> Option<DateTime<Local>> {
    static RESET: std::sync::LazyLock<Option<Regex>> = std::sync::LazyLock::new(|| {
        Regex::new(
            r"(?i)try again at\s+(?:([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4}),?\s+)?(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AP]\.?M\.?)?",
        )
        .ok()
    });
    let c = RESET.as_ref()?.captures(message)?;
    let mut hour: u32 = c.get(4)?.as_str().parse().ok()?;
    let minute: u32 = c.get(5)?.as_str().parse().ok()?;
    let second: u32 = c.get(6).map_or(Some(0), |s| s.as_str().parse().ok())?;
    if let Some(ampm) = c.get(7) {
        let pm = ampm.as_str().to_ascii_lowercase().starts_with('p');
        if hour == 12 {
            hour = 0;
        }
        if pm {
            hour += 12;
        }
    }
    let time = NaiveTime::from_hms_opt(hour, minute, second)?;
    let date = match (c.get(1), c.get(2), c.get(3)) {
        (Some(mon), Some(day), Some(year)) => NaiveDate::from_ymd_opt(
            year.as_str().parse().ok()?,
            month_number(mon.as_str())?,
            day.as_str().parse().ok()?,
        )?,
        _ => now.date_naive(),
    };
    let at = Local.from_local_datetime(&date.and_time(time)).earliest()?;
    let at = if c.get(6).is_some() {
        at
    } else {
        at.checked_add_signed(chrono::Duration::seconds(60))?
    };
    Some(at.max(now))
}

fn month_number(s: &str) -> Option<u32> {
    let m = s.to_ascii_lowercase();
    let names = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    names
        .iter()
        .position(|n| m.starts_with(n))
        .map(|i| i as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike};

    fn at(h: u32, m: u32) -> DateTime<Local> {
        Local
            .from_local_datetime(
                &NaiveDate::from_ymd_opt(2026, 3, 1)
                    .unwrap()
                    .and_hms_opt(h, m, 0)
                    .unwrap(),
            )
            .unwrap()
    }

    #[test]
    fn classifies_errors() {
        let now = at(11, 0);
        let usage = "You\u{2019}ve hit your usage limit. Upgrade to Pro (https://x), visit y to purchase more credits or try again at 11:31 AM.";
        match classify(usage, now) {
            ErrorClass::UsageLimit(Some(t)) => assert_eq!((t.hour(), t.minute()), (11, 32)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            classify("You've hit your usage limit. Try again later.", now),
            ErrorClass::UsageLimit(None)
        );
        assert_eq!(
            classify("Quota exceeded. Check your plan and billing details.", now),
            ErrorClass::Billing
        );
        assert_eq!(
            classify("To use Codex with your ChatGPT plan, upgrade to Plus", now),
            ErrorClass::Billing
        );
        assert_eq!(
            classify(
                "We're currently experiencing high demand, which may cause temporary errors.",
                now
            ),
            ErrorClass::Transient
        );
        assert_eq!(
            classify("stream disconnected before completion: x", now),
            ErrorClass::Transient
        );
        assert_eq!(
            classify(
                "exceeded retry limit, last status: 429 Too Many Requests",
                now
            ),
            ErrorClass::Transient
        );
        assert_eq!(
            classify(
                "Codex ran out of room in the model's context window. Start a new thread",
                now
            ),
            ErrorClass::ContextWindow
        );
        assert_eq!(
            classify("exceeded retry limit, last status: 502 Bad Gateway", now),
            ErrorClass::Transient
        );
        assert_eq!(
            classify("exceeded retry limit, last status: 401 Unauthorized", now),
            ErrorClass::Other
        );
        let free = "You\u{2019}ve hit your usage limit. Upgrade to Plus to continue using Codex (https://x), or try again at 11:31 AM.";
        assert!(
            matches!(classify(free, now), ErrorClass::UsageLimit(Some(_))),
            "a usage window, not billing"
        );
        assert_eq!(classify("something else", now), ErrorClass::Other);
    }

    #[test]
    fn reset_times_are_the_end_of_the_printed_minute_and_never_past() {
        let now = at(15, 50);
        let t = parse_reset("try again at 4:05 PM", now).unwrap();
        assert_eq!(
            (t.day(), t.hour(), t.minute()),
            (1, 16, 6),
            "the end of 4:05"
        );
        let t = parse_reset("try again at 3:50 PM", now).unwrap();
        assert_eq!(
            (t.hour(), t.minute()),
            (15, 51),
            "the current minute: wait to its end"
        );
        let t = parse_reset("try again at 3:45 PM.", now).unwrap();
        assert_eq!(t, now, "a time already passed means now, never tomorrow");
        let t = parse_reset("or try again at Mar 5th, 2026 3:45 PM.", now).unwrap();
        assert_eq!((t.month(), t.day(), t.hour(), t.minute()), (3, 5, 15, 46));
        let t = parse_reset("try again at 12:10 AM", at(0, 5)).unwrap();
        assert_eq!((t.day(), t.hour(), t.minute()), (1, 0, 11));
        assert!(parse_reset("try again later", now).is_none());
    }
}
