//! The Docs page over HTTP (no browser): the doc's text and a safe
//! preview in the first paint, the sign-in page without a session, and
//! the preview and chat fragments its script fetches.

use std::time::Duration;

use crate::common::TestEnv;
use crate::serve_client::{REPO, Server};
use crate::serve_sessions::login;

fn call(method: &str, url: &str, cookie: Option<&str>, body: Option<&str>) -> (u16, String) {
    let mut req = ureq::request(method, url).timeout(Duration::from_secs(30));
    if let Some(c) = cookie {
        req = req.set("Cookie", c);
    }
    let result = match body {
        Some(b) => req.set("Content-Type", "text/plain").send_string(b),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    (resp.status(), resp.into_string().unwrap())
}

#[test]
fn the_docs_page_shows_the_text_and_a_safe_preview_to_a_signed_in_browser_only() {
    let env = TestEnv::new();
    env.todo("# Secret plan\n\n- [x] done <script>alert(1)</script>\n- [ ] next\n");
    let server = Server::start(&env, &[]);
    let page = format!("{}repos/{REPO}/docs/todo", server.base);
    let preview = format!("{}ui/fragments/repos/{REPO}/preview", server.base);

    let (status, anon) = call("GET", &page, None, None);
    assert_eq!(status, 200);
    assert!(
        anon.contains("<h1>Sign in</h1>") && !anon.contains("Secret plan"),
        "{anon}"
    );
    assert_eq!(call("POST", &preview, None, Some("# x")).0, 401);

    let cookie = login(&server);
    let c = Some(cookie.as_str());
    let (status, html) = call("GET", &page, c, None);
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains("<script>alert"), "{html}");
    // The text in the editor, escaped; the preview with checkboxes that
    // name their lines.
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{html}"
    );
    assert!(html.contains("<h1>Secret plan</h1>"), "{html}");
    assert!(
        html.contains("data-line=\"2\" aria-label=\"done\" checked>"),
        "{html}"
    );
    assert!(
        html.contains("data-line=\"3\" aria-label=\"done\">"),
        "{html}"
    );
    assert!(html.contains("aria-current=\"page\">TODO</a>"), "{html}");
    assert!(html.contains("id=\"ask\""), "{html}");
    assert!(
        !html.contains("style=") && !html.contains("<script>"),
        "{html}"
    );
    let etag = crate::serve_client::Server::get(&server, &format!("api/v1/repos/{REPO}/docs/todo"))
        .etag
        .unwrap();
    assert!(
        html.contains(&format!("data-etag=\"{}\"", etag.replace('"', "&quot;"))),
        "{html}"
    );

    // `/docs` is the TODO; other docs by name; an unknown one is 404.
    let (status, todo) = call("GET", &format!("{}repos/{REPO}/docs", server.base), c, None);
    assert_eq!(status, 200);
    assert!(todo.contains("Secret plan"));
    let (status, spec) = call(
        "GET",
        &format!("{}repos/{REPO}/docs/spec", server.base),
        c,
        None,
    );
    assert_eq!(status, 200);
    assert!(spec.contains("aria-current=\"page\">SPEC</a>"), "{spec}");
    let (status, nope) = call(
        "GET",
        &format!("{}repos/{REPO}/docs/notes", server.base),
        c,
        None,
    );
    assert_eq!(status, 404);
    assert!(
        nope.contains("the docs are todo, progress, opinions, spec and summary"),
        "{nope}"
    );

    // The preview fragment: Markdown in, safe HTML out.
    let (status, frag) = call(
        "POST",
        &preview,
        c,
        Some("## Hi\n\n<img src=x onerror=alert(1)> [x](javascript:alert(1))\n- [ ] a\n"),
    );
    assert_eq!(status, 200, "{frag}");
    assert!(frag.contains("<h2>Hi</h2>"), "{frag}");
    assert!(
        frag.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{frag}"
    );
    assert!(
        frag.contains("href=\"#\"") && !frag.contains("javascript:"),
        "{frag}"
    );
    assert!(frag.contains("data-line=\"3\""), "{frag}");

    // The chat fragment: nothing asked yet.
    let (status, chat) = call(
        "GET",
        &format!("{}ui/fragments/repos/{REPO}/docs/todo/chat", server.base),
        c,
        None,
    );
    assert_eq!(status, 200);
    assert!(
        chat.contains("id=\"proposal\"") && chat.contains("data-state=\"\""),
        "{chat}"
    );
}
