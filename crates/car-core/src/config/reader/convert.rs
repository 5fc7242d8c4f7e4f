//! Converting one merged value to the type a key wants, or saying in YAML
//! words what is wrong and what is allowed (the reader adds the key, its
//! source and line).

use std::time::Duration;

use serde_yaml::Value;

use super::words::{describe, scalar};
use crate::config::limits::{MAX_SECONDS, MAX_STRING_BYTES};

/// How a number of seconds may be set.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(in crate::config) enum Secs {
    /// 0 or more.
    Any,
    /// More than 0 (null turns it off).
    Positive,
}

/// Integer types with a largest value, for messages.
pub(in crate::config) trait Bounded {
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

/// A number of seconds up to [`MAX_SECONDS`], from 0 or above 0 (`kind`).
pub(super) fn seconds(v: &Value, kind: Secs) -> Result<Duration, String> {
    let (lowest, null) = match kind {
        Secs::Any => ("0", ""),
        Secs::Positive => ("more than 0", ", or null to turn it off"),
    };
    let allowed =
        format!("expected a number of seconds from {lowest} to {MAX_SECONDS} (10 years){null}");
    let Some(x) = v.as_f64() else {
        return Err(format!("is {}; {allowed}", describe(v)));
    };
    let too_low = match kind {
        Secs::Any => x < 0.0,
        Secs::Positive => x <= 0.0,
    };
    let out_of_range = || format!("{} is out of range; {allowed}", scalar(v));
    if !x.is_finite() || too_low || x > MAX_SECONDS as f64 {
        return Err(out_of_range());
    }
    Duration::try_from_secs_f64(x).map_err(|_| out_of_range())
}

/// A whole number from `min` to `max` that fits `T` (`2.0` counts).
pub(super) fn whole<T: TryFrom<u64>>(v: &Value, min: u64, max: u64) -> Result<T, String> {
    let allowed = format!("expected a whole number from {min} to {max}");
    let n = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < u64::MAX as f64)
                .map(|f| f as u64)
        }),
        _ => return Err(format!("is {}; {allowed}", describe(v))),
    };
    n.filter(|&n| n >= min && n <= max)
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("{} is out of range; {allowed}", scalar(v)))
}

/// A string of at most [`MAX_STRING_BYTES`]; `allowed` says what the key
/// wants, for the message.
pub(super) fn text(v: &Value, allowed: &str) -> Result<String, String> {
    let s = match v {
        Value::String(s) => s.clone(),
        // A number or boolean where text is expected is taken as its text
        // (`model: 5`), as the Python program's str() did.
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return Err(format!("is {}; expected {allowed}", describe(v))),
    };
    if s.len() > MAX_STRING_BYTES {
        return Err(format!(
            "is a string of {} bytes; the longest allowed is {MAX_STRING_BYTES} bytes",
            s.len()
        ));
    }
    Ok(s)
}

/// YAML 1.1's booleans beyond true/false, as PyYAML reads them.
pub(in crate::config) fn yaml11_bool(s: &str) -> Option<bool> {
    match s {
        "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(yaml: &str) -> Value {
        serde_yaml::from_str(yaml).expect("valid YAML")
    }

    #[test]
    fn seconds_take_fractions_and_refuse_what_is_out_of_range() {
        assert_eq!(
            seconds(&v("2.5"), Secs::Any),
            Ok(Duration::from_millis(2500))
        );
        assert_eq!(seconds(&v("0"), Secs::Any), Ok(Duration::ZERO));
        let e = seconds(&v("0"), Secs::Positive).unwrap_err();
        assert!(
            e.starts_with("`0` is out of range; expected a number of seconds from more than 0"),
            "{e}"
        );
        assert!(e.ends_with(", or null to turn it off"), "{e}");
        let e = seconds(&v(".nan"), Secs::Any).unwrap_err();
        assert!(e.contains("out of range"), "{e}");
        let e = seconds(&v("[1]"), Secs::Any).unwrap_err();
        assert!(e.starts_with("is a list; "), "{e}");
    }

    #[test]
    fn whole_numbers_fit_their_range_and_type() {
        assert_eq!(whole::<u16>(&v("3.0"), 0, 10), Ok(3));
        assert_eq!(whole::<u16>(&v("10"), 0, 10), Ok(10));
        let e = whole::<u16>(&v("1.5"), 0, 10).unwrap_err();
        assert_eq!(
            e,
            "`1.5` is out of range; expected a whole number from 0 to 10"
        );
        let e = whole::<u8>(&v("300"), 0, 1000).unwrap_err();
        assert!(e.starts_with("`300` is out of range"), "{e}");
        let e = whole::<u16>(&v("soon"), 0, 10).unwrap_err();
        assert!(e.starts_with("is `soon` (a string); "), "{e}");
    }

    #[test]
    fn text_takes_numbers_and_booleans_as_written() {
        assert_eq!(text(&v("5"), "a string").as_deref(), Ok("5"));
        assert_eq!(text(&v("true"), "a string").as_deref(), Ok("true"));
        assert_eq!(
            text(&v("{a: 1}"), "a string"),
            Err("is a mapping; expected a string".into())
        );
        assert_eq!(yaml11_bool("Off"), Some(false));
        assert_eq!(yaml11_bool("maybe"), None);
    }
}
