//! What a published ledger leaves out. The ledger holds no run prompt nor
//! output (those stay in `runs/`), but some fields carry text people or
//! agents wrote: the agent's questions (`question`), task prompts and
//! command lines (`cmd`) are left out unless prompts are asked for, and
//! every string is cleaned of what looks like a secret, always: `NAME=value`,
//! `NAME: value` and `"NAME": "value"` where NAME names a token, key,
//! password or secret (`API_KEY`, `api-key`, `X-Api-Key`); `--password X`
//! and such flags; `curl -u user:pass`; the `Authorization:` header's
//! value; `Bearer ...`; credentials in URLs; car's own tokens (user and
//! action tokens); the token shapes a snapshot redacts.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";
/// What replaces a left-out prompt.
pub const LEFT_OUT: &str = "[left out: car ledger publish --include-prompts]";

/// Fields holding text written to or by the agent (left out by default).
const PROMPT_FIELDS: [&str; 3] = ["question", "prompt", "cmd"];

/// A name that says its value is a secret (`-` and `_` allowed in it).
const SECRET_NAME: &str = r"[A-Z0-9_-]*(?:TOKEN|SECRET|PASSWORD|PASSWD|PASS|API[-_]?KEY|ACCESS[-_]?KEY|PRIVATE[-_]?KEY|CREDENTIALS?|AUTH)[A-Z0-9_-]*";

static ENV_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r#"(?i)\b({SECRET_NAME})(=|:[ \t]*)("[^"]*"|'[^']*'|[^\s"',;]+)"#
    ))
    .expect("valid regex")
});
/// `"name": "value"` in JSON.
static JSON_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r#"(?i)("{SECRET_NAME}"\s*:\s*)"(?:[^"\\]|\\.)*""#)).expect("valid regex")
});
/// `--password X`, `--api-key X` (the `=` form is [`ENV_LIKE`]'s).
static FLAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r#"(?i)(\s--?{SECRET_NAME})\s+("[^"]*"|'[^']*'|[^\s"']+)"#
    ))
    .expect("valid regex")
});
/// `curl -u user:password`.
static USER_FLAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(\s(?:-u|--user)\s+)("[^"]*"|'[^']*'|[^\s"':]+:[^\s"']+)"#).expect("valid regex")
});
/// The value of an `Authorization:` header, whatever its scheme.
static AUTHORIZATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(authorization:\s*)(?:[a-z]+\s+)?[^\s"',;]+"#).expect("valid regex")
});
/// car's user tokens and action tokens.
static CAR_TOKENS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"car_u_[0-9a-f]{12}_[0-9a-f]{16,}|car_act\.[A-Za-z0-9._-]+").expect("valid regex")
});
static BEARER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}").expect("valid regex")
});
static URL_CREDENTIALS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"://[^/\s:@]+:[^/\s@]+@").expect("valid regex"));
/// Replaces what looks like a secret in `text` with [`REDACTED`].
pub fn redact_secrets(text: &str) -> String {
    let s = CAR_TOKENS.replace_all(text, REDACTED);
    let s = AUTHORIZATION.replace_all(&s, format!("${{1}}{REDACTED}").as_str());
    let s = JSON_FIELD.replace_all(&s, format!("${{1}}\"{REDACTED}\"").as_str());
    let s = ENV_LIKE.replace_all(&s, format!("${{1}}${{2}}{REDACTED}").as_str());
    let s = FLAG.replace_all(&s, format!("${{1}} {REDACTED}").as_str());
    let s = USER_FLAG.replace_all(&s, format!("${{1}}{REDACTED}").as_str());
    let s = BEARER.replace_all(&s, format!("${{1}} {REDACTED}").as_str());
    let s = URL_CREDENTIALS.replace_all(&s, format!("://{REDACTED}@").as_str());
    // Token shapes (OpenAI, GitHub, AWS, Slack, JWTs, private keys): the
    // snapshot's redaction.
    crate::snapshot::redact::redact(&s)
}

/// One ledger line as published: `None` when it is not an event (not a
/// JSON object with a `type`); prompts left out unless `include_prompts`,
/// secrets always redacted.
pub fn redact_line(line: &str, include_prompts: bool) -> Option<Value> {
    let mut v: Value = serde_json::from_str(line).ok()?;
    let obj = v.as_object_mut()?;
    if !obj.get("type").is_some_and(Value::is_string) {
        return None;
    }
    if !include_prompts {
        for field in PROMPT_FIELDS {
            if let Some(f) = obj.get_mut(field).filter(|f| f.is_string()) {
                *f = Value::String(LEFT_OUT.to_string());
            }
        }
    }
    clean(&mut v);
    Some(v)
}

fn clean(v: &mut Value) {
    match v {
        Value::String(s) => {
            let r = redact_secrets(s);
            if r != *s {
                *s = r;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(clean),
        Value::Object(map) => map.values_mut().for_each(clean),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_like_values_bearer_tokens_and_url_credentials_are_redacted() {
        let s = redact_secrets(
            "GITHUB_TOKEN=ghx123 OPENAI_API_KEY='a b' db_password=\"p w\" curl -H 'Authorization: Bearer abcdefgh123' https://bob:hunter2@example.com/x",
        );
        assert_eq!(
            s,
            "GITHUB_TOKEN=[redacted] OPENAI_API_KEY=[redacted] db_password=[redacted] curl -H 'Authorization: [redacted]' https://[redacted]@example.com/x"
        );
        let s = redact_secrets(
            "use ghp_0123456789abcdefghijABCDEFGHIJ and sk-proj-0123456789abcdefghij",
        );
        assert_eq!(s, "use gh_[REDACTED] and sk-[REDACTED]");
        // Ordinary text is left alone.
        let plain = "cargo test -p car-core KEYWORD=1 path=/tmp/x token expired";
        assert_eq!(redact_secrets(plain), plain);
    }

    #[test]
    fn flags_headers_json_fields_and_cars_own_tokens_are_redacted() {
        let cases = [
            (
                "mysql --password hunter2 db",
                "mysql --password [redacted] db",
            ),
            ("tool --api-key=k123 run", "tool --api-key=[redacted] run"),
            (
                "curl -u bob:hunter2 https://x",
                "curl -u [redacted] https://x",
            ),
            ("-H 'X-Api-Key: v4lue'", "-H 'X-Api-Key: [redacted]'"),
            ("Authorization: token ghx9", "Authorization: [redacted]"),
            (
                r#"{"password":"p w","user":"bob"}"#,
                r#"{"password":"[redacted]","user":"bob"}"#,
            ),
            (
                "car_u_0123456789ab_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
                "[redacted]",
            ),
            (
                "Bearer-less car_act.repo.reply.1796937772.51ef27a3 x",
                "Bearer-less [redacted] x",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(redact_secrets(text), want, "{text}");
        }
    }

    #[test]
    fn questions_are_left_out_unless_asked_for_and_non_events_are_skipped() {
        let line = r#"{"v":1,"seq":3,"type":"needs_input","run_id":2,"question":"Which API_KEY=abc123 do I use?"}"#;
        let out = redact_line(line, false).expect("an event");
        assert_eq!(out["question"], LEFT_OUT);
        assert_eq!(out["seq"], 3);
        let out = redact_line(line, true).expect("an event");
        assert_eq!(out["question"], "Which API_KEY=[redacted] do I use?");
        assert!(redact_line("not json", false).is_none());
        assert!(redact_line(r#"{"no":"type"}"#, false).is_none());
        let exec = r#"{"type":"exec_started","exec_id":"e1","cmd":"TOKEN=s3cret make deploy","cwd":"/r","requested_by":"cli"}"#;
        assert_eq!(redact_line(exec, false).expect("an event")["cmd"], LEFT_OUT);
        assert_eq!(
            redact_line(exec, true).expect("an event")["cmd"],
            "TOKEN=[redacted] make deploy"
        );
    }
}
