//! `GET /repos/{id}/settings`: the resolved configuration, each key with
//! its value and where it came from (a built-in default, a config file, a
//! `CAR_*` environment variable), grouped by section, with the warnings
//! of the load; and the notification test (its script calls
//! `POST /api/v1/repos/{id}/notify/test`).
//!
//! Secrets are never shown: car's configuration names the environment
//! variables that hold them (`*_env` keys: the page says whether each is
//! set, never its value), and a key that looks like a secret itself is
//! shown as hidden.

use axum::extract::Path;
use axum::response::Response;
use car_core::ConfigSource;
use minijinja::{Value, context};
use serde::Serialize;

use super::access::Page;

/// One key as the page shows it.
#[derive(Debug, Serialize)]
struct Row {
    key: String,
    value: String,
    source: String,
    /// Whether the value is car's built-in default.
    default: bool,
    /// For a key naming an environment variable: `set` or `not set` in
    /// the server's environment.
    env: Option<&'static str>,
}

/// The keys of one section (`codex`, `runner`, ...).
#[derive(Debug, Serialize)]
struct Section {
    name: String,
    rows: Vec<Row>,
    /// How many of its keys are not at their default.
    changed: usize,
}

/// Whether the key's value would be a secret (a token, a password, a
/// key) rather than the name of the variable that holds one, or a
/// duration (`server.action_token_ttl_hours`).
fn secret(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
    let duration = ["_seconds", "_minutes", "_hours", "_days"]
        .iter()
        .any(|u| last.ends_with(u));
    !last.ends_with("_env")
        && !duration
        && [
            "token",
            "secret",
            "password",
            "passwd",
            "api_key",
            "apikey",
            "private_key",
        ]
        .iter()
        .any(|w| last.contains(w))
}

fn row(key: String, value: String, source: &ConfigSource) -> Row {
    let names_var = key.ends_with("_env") && !value.is_empty() && value != "null" && value != "''";
    let env = names_var.then(|| {
        if std::env::var_os(&value).is_some_and(|v| !v.is_empty()) {
            "set"
        } else {
            "not set"
        }
    });
    Row {
        value: if secret(&key) && value != "null" && !value.is_empty() {
            "(hidden)".to_string()
        } else {
            value
        },
        source: source.to_string(),
        default: *source == ConfigSource::Default,
        env,
        key,
    }
}

fn sections(entries: Vec<(String, String, ConfigSource)>) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for (key, value, source) in entries {
        let name = key.split('.').next().unwrap_or("").to_string();
        let r = row(key, value, &source);
        let changed = usize::from(!r.default);
        match out.last_mut() {
            Some(s) if s.name == name => {
                s.changed += changed;
                s.rows.push(r);
            }
            _ => out.push(Section {
                name,
                rows: vec![r],
                changed,
            }),
        }
    }
    out
}

/// The page.
pub(crate) async fn settings(ui: Page, Path(id): Path<String>) -> Result<Response, Response> {
    let head = ui.head(&id).await?;
    let repo = ui.state.repo(&id).map_err(|e| ui.fail(e))?;
    let resolved = repo.resolved_config();
    let secs = sections(resolved.entries());
    let warnings: Vec<String> = resolved.warnings.iter().map(ToString::to_string).collect();
    let changed = secs
        .iter()
        .flat_map(|s| &s.rows)
        .filter(|r| !r.default)
        .count();
    Ok(ui.render(
        "settings.html",
        &format!("{} · settings", head.title),
        context! {
            sections => Value::from_serialize(&secs),
            warnings => warnings,
            changed => changed,
            name => head.title.clone(),
            ..head.ctx
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_look_like_secrets_are_hidden_and_variable_names_are_not() {
        let r = row("x.api_token".into(), "abc".into(), &ConfigSource::Default);
        assert_eq!(r.value, "(hidden)");
        let r = row(
            "server.action_token_ttl_hours".into(),
            "168".into(),
            &ConfigSource::Default,
        );
        assert_eq!(r.value, "168");
        let r = row(
            "notifications.ntfy.token_env".into(),
            "CAR_TEST_SURELY_UNSET_VAR".into(),
            &ConfigSource::Default,
        );
        assert_eq!(r.value, "CAR_TEST_SURELY_UNSET_VAR");
        assert_eq!(r.env, Some("not set"));
        assert!(r.default);
        let r = row(
            "server.public_url".into(),
            "https://x".into(),
            &ConfigSource::Env("CAR_SERVER__PUBLIC_URL".into()),
        );
        assert_eq!(r.value, "https://x");
        assert_eq!(r.env, None);
        assert_eq!(r.source, "environment variable CAR_SERVER__PUBLIC_URL");
    }

    #[test]
    fn keys_are_grouped_by_their_section_in_order() {
        let e = |k: &str| (k.to_string(), "1".to_string(), ConfigSource::Default);
        let s = sections(vec![e("a.x"), e("a.y"), e("b.z")]);
        let names: Vec<_> = s.iter().map(|s| (s.name.as_str(), s.rows.len())).collect();
        assert_eq!(names, [("a", 2), ("b", 1)]);
    }
}
