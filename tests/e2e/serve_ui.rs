//! The web UI over HTTP (no browser): pages need the API's credentials
//! and otherwise show the sign-in page (200, no data), carry a CSP with
//! no inline script, and load their assets under hashed names cached for
//! a year; the base path is kept everywhere.

use std::time::Duration;

use crate::common::TestEnv;
use crate::serve_client::{REPO, Server};
use crate::serve_sessions::{login, visit};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// A GET with `headers`: status, the headers asked for, the body.
fn get(url: &str, headers: &[(&str, &str)], want: &[&str]) -> (u16, Vec<Option<String>>, String) {
    let mut req = ureq::get(url).timeout(Duration::from_secs(30));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let got = want
        .iter()
        .map(|h| resp.header(h).map(str::to_string))
        .collect();
    (resp.status(), got, resp.into_string().unwrap())
}

/// The `src`/`href` values under `/ui/assets/` in `html`.
fn asset_urls(html: &str) -> Vec<String> {
    html.split(['"', '\''])
        .filter(|s| s.contains("/ui/assets/") || s.contains("&#x2f;ui&#x2f;assets&#x2f;"))
        .map(|s| s.replace("&#x2f;", "/"))
        .collect()
}

#[test]
fn without_a_session_every_page_is_the_sign_in_page_and_shows_no_data() {
    let env = TestEnv::new();
    env.todo("- [ ] secret task name\n");
    let server = Server::start(&env, &[]);
    for path in [
        "",
        "repos/repo",
        "repos/nope",
        "repos/repo/terminal",
        "repos/repo/snapshot",
        "repos/repo/settings",
    ] {
        let (status, h, body) = get(
            &format!("{}{path}", server.base),
            &[],
            &["content-type", "content-security-policy", "cache-control"],
        );
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(h[0].as_deref(), Some("text/html; charset=utf-8"));
        assert_eq!(h[1].as_deref(), Some(CSP));
        assert_eq!(h[2].as_deref(), Some("no-store"));
        assert!(body.contains("<h1>Sign in</h1>"), "{body}");
        assert!(body.contains("one-time link"), "{body}");
        assert!(!body.contains("secret task name") && !body.contains(&*env.root.to_string_lossy()));
    }
    // A fragment says 401 (its script then reloads the page).
    let (status, _, _) = get(&format!("{}ui/fragments/repos", server.base), &[], &[]);
    assert_eq!(status, 401);
}

#[test]
fn a_signed_in_browser_gets_the_hub_and_the_dashboard_with_their_data() {
    let env = TestEnv::new();
    env.todo("- [x] one\n- [ ] two\n");
    let server = Server::start(&env, &[]);
    // The one-time link lands on the hub.
    let v = visit(&crate::serve_sessions::fresh_link(&server), &[]);
    assert_eq!((v.status, v.location.as_deref()), (303, Some("/")));
    let cookie = login(&server);
    let headers = [("Cookie", cookie.as_str())];
    let (status, _, hub) = get(&server.base, &headers, &[]);
    assert_eq!(status, 200, "{hub}");
    assert!(hub.contains(&format!("href=\"/repos/{REPO}\"")), "{hub}");
    assert!(hub.contains("1/2"), "{hub}");
    assert!(hub.contains("data-action=\"run\""), "{hub}");
    let (status, _, dash) = get(&format!("{}repos/{REPO}", server.base), &headers, &[]);
    assert_eq!(status, 200, "{dash}");
    for part in [
        "id=\"summary\"",
        "id=\"output\"",
        "id=\"timeline\"",
        "data-action=\"kill\"",
    ] {
        assert!(dash.contains(part), "{part} missing: {dash}");
    }
    // No inline script or style: every script has a src.
    for html in [&hub, &dash] {
        assert!(
            !html.contains("<script>") && !html.contains("style="),
            "{html}"
        );
        assert!(!html.contains("<style"), "{html}");
    }
    let (status, _, frag) = get(
        &format!("{}ui/fragments/repos/{REPO}", server.base),
        &headers,
        &[],
    );
    assert_eq!(status, 200);
    assert!(
        frag.contains("id=\"timeline\"") && !frag.contains("<html"),
        "{frag}"
    );
    let (status, _, missing) = get(&format!("{}repos/nope", server.base), &headers, &[]);
    assert_eq!(status, 404);
    assert!(missing.contains("no repository with id"), "{missing}");
}

#[test]
fn assets_have_hashed_names_cached_for_a_year_under_the_base_path() {
    let env = TestEnv::new();
    let server = Server::start_with(&env, None, &["--base-path", "/car"]).unwrap();
    assert!(server.base.ends_with("/car/"), "{}", server.base);
    let (_, _, hub) = get(&server.base, &[], &[]);
    let urls = asset_urls(&hub);
    assert!(urls.len() >= 3, "{urls:?} in {hub}");
    let origin = server.base.trim_end_matches("car/").trim_end_matches('/');
    for url in &urls {
        assert!(url.starts_with("/car/ui/assets/"), "{url}");
        let (status, h, _) = get(
            &format!("{origin}{url}"),
            &[],
            &["cache-control", "content-type"],
        );
        assert_eq!(status, 200, "{url}");
        assert_eq!(
            h[0].as_deref(),
            Some("public, max-age=31536000, immutable"),
            "{url}"
        );
        assert!(h[1].is_some());
    }
    let (status, _, _) = get(
        &format!("{}ui/assets/app.0000000000.css", server.base),
        &[],
        &[],
    );
    assert_eq!(status, 404);
    let (status, h, manifest) = get(
        &format!("{}manifest.webmanifest", server.base),
        &[],
        &["content-type"],
    );
    assert_eq!(
        (status, h[0].as_deref()),
        (200, Some("application/manifest+json"))
    );
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(m["start_url"], "/car/");
    let (status, h, sw) = get(&format!("{}sw.js", server.base), &[], &["cache-control"]);
    assert_eq!((status, h[0].as_deref()), (200, Some("no-cache")));
    assert!(sw.contains("/ui/assets/"));
}
