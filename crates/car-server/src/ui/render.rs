//! The templates (embedded, parsed once) and the answer a page goes out
//! in: HTML with a Content-Security-Policy that allows no inline script
//! and no inline style, never cached (pages hold the loop's data).

use std::sync::OnceLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;

/// The policy of every page: its own scripts, styles and streams only.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The policy of the terminal page: the same, except that styles made at
/// run time are allowed. xterm.js (its DOM renderer) writes `<style>`
/// elements for its theme and cell size and `style` attributes for
/// true-colour cells; under `style-src 'self'` the terminal would be drawn
/// without them (and each refusal is a console error). Scripts stay as
/// strict as everywhere: no inline script, only this server's files.
pub(crate) const TERMINAL_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The templates, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../ui/templates/base.html")),
    (
        "signin.html",
        include_str!("../../ui/templates/signin.html"),
    ),
    ("error.html", include_str!("../../ui/templates/error.html")),
    ("hub.html", include_str!("../../ui/templates/hub.html")),
    (
        "hub_list.html",
        include_str!("../../ui/templates/hub_list.html"),
    ),
    (
        "hub_machines.html",
        include_str!("../../ui/templates/hub_machines.html"),
    ),
    ("repo.html", include_str!("../../ui/templates/repo.html")),
    (
        "repo_live.html",
        include_str!("../../ui/templates/repo_live.html"),
    ),
    ("docs.html", include_str!("../../ui/templates/docs.html")),
    (
        "voice_button.html",
        include_str!("../../ui/templates/voice_button.html"),
    ),
    (
        "docs_chat.html",
        include_str!("../../ui/templates/docs_chat.html"),
    ),
    (
        "docs_preview.html",
        include_str!("../../ui/templates/docs_preview.html"),
    ),
    (
        "repo_nav.html",
        include_str!("../../ui/templates/repo_nav.html"),
    ),
    (
        "terminal.html",
        include_str!("../../ui/templates/terminal.html"),
    ),
    (
        "terminal_list.html",
        include_str!("../../ui/templates/terminal_list.html"),
    ),
    (
        "snapshot.html",
        include_str!("../../ui/templates/snapshot.html"),
    ),
    (
        "snapshot_view.html",
        include_str!("../../ui/templates/snapshot_view.html"),
    ),
    (
        "settings.html",
        include_str!("../../ui/templates/settings.html"),
    ),
    ("runs.html", include_str!("../../ui/templates/runs.html")),
    (
        "runs_list.html",
        include_str!("../../ui/templates/runs_list.html"),
    ),
    ("run.html", include_str!("../../ui/templates/run.html")),
    ("tasks.html", include_str!("../../ui/templates/tasks.html")),
    (
        "tasks_live.html",
        include_str!("../../ui/templates/tasks_live.html"),
    ),
];

static ENV: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();

fn env() -> Result<&'static Environment<'static>, String> {
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for &(name, text) in TEMPLATES {
            env.add_template(name, text)
                .map_err(|e| format!("template {name}: {e:#}"))?;
        }
        env.add_filter("age", age);
        Ok(env)
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Seconds as a short age for people: `42s`, `3m 12s`, `2h 5m`, `3d 4h`.
pub(crate) fn age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86400, secs % 86400 / 3600),
    }
}

/// Template `name` with `ctx` as HTML text.
pub(crate) fn render(name: &str, ctx: minijinja::Value) -> Result<String, String> {
    let env = env()?;
    env.get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| format!("template {name}: {e:#}"))
}

/// A whole page (or a fragment of one) with its headers; a template that
/// fails is a 500 page saying so.
pub(crate) fn page(status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
    page_with(status, name, ctx, CSP)
}

/// [`page`] with its own Content-Security-Policy.
pub(crate) fn page_with(
    status: StatusCode,
    name: &str,
    ctx: minijinja::Value,
    csp: &'static str,
) -> Response {
    match render(name, ctx) {
        Ok(html) => html_response(status, html, csp),
        Err(e) => {
            tracing::error!("{e}");
            html_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "<!doctype html><title>car: error</title><p>This page could not be made: {}</p>",
                    minijinja::HtmlEscape(&e)
                ),
                CSP,
            )
        }
    }
}

fn html_response(status: StatusCode, html: String, csp: &'static str) -> Response {
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        assert!(env().is_ok(), "{:?}", env().err());
    }

    #[test]
    fn ages_are_short() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(192), "3m 12s");
        assert_eq!(age(7500), "2h 5m");
        assert_eq!(age(3 * 86400 + 4 * 3600), "3d 4h");
    }

    #[test]
    fn text_is_escaped_in_pages() {
        let html = render(
            "error.html",
            minijinja::context! {
                base => "", assets => minijinja::context!{}, title => "x",
                message => "<script>alert(1)</script>",
            },
        )
        .unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
