//! Browsers and `car serve`: the one-time link it prints trades once for
//! an HttpOnly session cookie; sessions are kept (hashed) across restarts,
//! listed, revoked one by one or all at once (`car serve
//! --revoke-sessions`, at once for a running server); a cookie changes
//! nothing without this server's `Origin`. The helpers here serve the
//! auth matrix and the WebSocket tests too.

use std::cell::RefCell;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::common::TestEnv;
use crate::serve_client::{REPO, Resp, Server, TOKEN};

/// What visiting a one-time link answered.
pub(crate) struct Visit {
    pub(crate) status: u16,
    /// The whole `Set-Cookie` value.
    pub(crate) set_cookie: Option<String>,
    pub(crate) location: Option<String>,
}

impl Visit {
    /// The `Cookie` header that sends this session back.
    pub(crate) fn cookie(&self) -> String {
        let set = self.set_cookie.as_deref().expect("a cookie");
        set.split(';').next().unwrap().trim().to_string()
    }
}

/// Visits `url` without following redirects.
pub(crate) fn visit(url: &str, headers: &[(&str, &str)]) -> Visit {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let mut req = agent.get(url).timeout(Duration::from_secs(30));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    Visit {
        status: resp.status(),
        set_cookie: resp.header("set-cookie").map(str::to_string),
        location: resp.header("location").map(str::to_string),
    }
}

/// The one-time link the server printed on stderr.
pub(crate) fn printed_link(server: &Server) -> String {
    let found = RefCell::new(None);
    let printed = server.stderr_has(Duration::from_secs(30), |line| {
        let link = line
            .split_whitespace()
            .find(|w| w.starts_with("http://") && w.contains("/auth/link?code="));
        *found.borrow_mut() = link.map(str::to_string);
        link.is_some()
    });
    assert!(printed, "no one-time link on stderr");
    found.into_inner().unwrap()
}

/// A fresh one-time link, asked for with the bearer token.
pub(crate) fn fresh_link(server: &Server) -> String {
    let r = server.post("api/v1/sessions/link", &serde_json::json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["expires_in_secs"], 600);
    r.json()["link"].as_str().unwrap().to_string()
}

/// Logs a browser in through a fresh link: its `Cookie` header.
pub(crate) fn login(server: &Server) -> String {
    let v = visit(&fresh_link(server), &[]);
    assert_eq!(v.status, 303);
    v.cookie()
}

/// This server's own origin.
pub(crate) fn own_origin(server: &Server) -> String {
    format!("http://127.0.0.1:{}", server.port)
}

/// A request with a cookie (and this server's `Origin`).
pub(crate) fn with_cookie(
    server: &Server,
    method: &str,
    path: &str,
    cookie: &str,
    body: Option<&str>,
) -> Resp {
    let origin = own_origin(server);
    server.send(
        method,
        path,
        &[("Cookie", cookie), ("Origin", &origin)],
        body,
    )
}

/// The public id of the session of `cookie`.
pub(crate) fn session_id(server: &Server, cookie: &str) -> String {
    let list = with_cookie(server, "GET", "api/v1/sessions", cookie, None).json();
    let mine: Vec<&serde_json::Value> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["current"] == true)
        .collect();
    assert_eq!(mine.len(), 1, "{list:#}");
    mine[0]["id"].as_str().unwrap().to_string()
}

fn sessions_file(env: &TestEnv) -> std::path::PathBuf {
    env.path(".codex-autorunner/server/sessions.json")
}

#[test]
fn the_printed_link_gives_an_http_only_cookie_once() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["--base-path", "/car"]);
    let link = printed_link(&server);
    assert!(
        link.starts_with(&format!(
            "http://127.0.0.1:{}/car/auth/link?code=",
            server.port
        )),
        "{link}"
    );
    let first = visit(&link, &[("User-Agent", "test-browser/1")]);
    assert_eq!(first.status, 303);
    assert_eq!(first.location.as_deref(), Some("/car/"));
    let set = first.set_cookie.clone().unwrap();
    for part in ["car_session=", "HttpOnly", "SameSite=Lax", "Path=/car"] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains("Secure"), "plain http: {set}");
    let cookie = first.cookie();
    let secret = cookie.trim_start_matches("car_session=");
    assert_eq!(secret.len(), 64);
    // The cookie opens the API.
    let repos = with_cookie(&server, "GET", "api/v1/repos", &cookie, None);
    assert_eq!(repos.status, 200, "{}", repos.body);
    // The link is used up.
    let again = visit(&link, &[]);
    assert_eq!((again.status, again.set_cookie), (401, None));
    // The session is listed, without its secret; only its hash is on disk.
    let list = server.get("api/v1/sessions");
    assert_eq!(list.status, 200);
    assert!(!list.body.contains(secret));
    let sessions = list.json()["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    assert_eq!(sessions[0]["user_agent"], "test-browser/1");
    assert!(
        sessions[0]["peer"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert_eq!(sessions[0]["current"], false, "asked with the token");
    let on_disk = std::fs::read_to_string(sessions_file(&env)).unwrap();
    assert!(!on_disk.contains(secret), "{on_disk}");
    let mode = std::fs::metadata(sessions_file(&env))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Behind an https proxy the cookie is Secure.
    let secure = visit(&fresh_link(&server), &[("X-Forwarded-Proto", "https")]);
    assert!(secure.set_cookie.unwrap().contains("; Secure"));
}

#[test]
fn a_session_survives_a_restart_but_a_link_does_not() {
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    let cookie = login(&server);
    let unused = fresh_link(&server);
    let code = unused.split("code=").nth(1).unwrap().to_string();
    drop(server);
    let server = Server::start(&env, &[]);
    let r = with_cookie(&server, "GET", "api/v1/repos", &cookie, None);
    assert_eq!(r.status, 200, "{}", r.body);
    let stale = visit(&format!("{}auth/link?code={code}", server.base), &[]);
    assert_eq!(
        stale.status, 401,
        "a code lives in the server that made it only"
    );
    let bogus = visit(&format!("{}auth/link?code=00ff", server.base), &[]);
    assert_eq!(bogus.status, 401);
    // A person who taps an old link in a browser gets the sign-in page
    // saying why, not JSON.
    let page = ureq::get(&format!("{}auth/link?code={code}", server.base))
        .set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .call();
    let Err(ureq::Error::Status(401, page)) = page else {
        panic!("not a 401: {page:?}");
    };
    assert!(
        page.content_type().starts_with("text/html"),
        "{}",
        page.content_type()
    );
    let html = page.into_string().unwrap();
    assert!(
        html.contains("Sign in") && html.contains("used already"),
        "{html}"
    );
    let none = visit(&format!("{}auth/link", server.base), &[]);
    assert_eq!(none.status, 400);
    // A made-up cookie is no session.
    let fake = with_cookie(&server, "GET", "api/v1/repos", "car_session=00ff", None);
    assert_eq!(fake.status, 401);
}

#[test]
fn revoke_sessions_makes_a_live_cookie_fail_at_once() {
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    let a = login(&server);
    let b = login(&server);
    let c = login(&server);
    // One by one through the API.
    let id = session_id(&server, &a);
    let del = server.send(
        "DELETE",
        &format!("api/v1/sessions/{id}"),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        None,
    );
    assert_eq!(del.status, 200, "{}", del.body);
    assert_eq!(
        with_cookie(&server, "GET", "api/v1/repos", &a, None).status,
        401
    );
    assert_eq!(
        with_cookie(&server, "GET", "api/v1/repos", &b, None).status,
        200
    );
    // A session may revoke itself (log out).
    let own = session_id(&server, &b);
    let out = with_cookie(
        &server,
        "DELETE",
        &format!("api/v1/sessions/{own}"),
        &b,
        None,
    );
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(
        with_cookie(&server, "GET", "api/v1/repos", &b, None).status,
        401
    );
    let gone = server.send(
        "DELETE",
        &format!("api/v1/sessions/{id}"),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        None,
    );
    assert_eq!(gone.status, 404);
    // All at once from the command line, while the server runs.
    assert_eq!(
        with_cookie(&server, "GET", "api/v1/repos", &c, None).status,
        200
    );
    let revoked = env.run(&["serve", "--revoke-sessions"]);
    revoked.expect_code(0);
    assert_eq!(revoked.stdout().trim(), "car: revoked 1 browser session");
    let r = with_cookie(&server, "GET", "api/v1/repos", &c, None);
    assert_eq!(
        (r.status, r.json()["error"]["kind"].as_str()),
        (401, Some("unauthorized"))
    );
    assert_eq!(
        server.get("api/v1/sessions").json()["sessions"],
        serde_json::json!([])
    );
}

#[test]
fn a_cookie_changes_nothing_without_this_servers_origin() {
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    let cookie = login(&server);
    let reply = format!("api/v1/repos/{REPO}/reply");
    let body = Some(r#"{"text":"from a page"}"#);
    let bare = server.send("POST", &reply, &[("Cookie", &cookie)], body);
    assert_eq!(
        (bare.status, bare.json()["error"]["kind"].as_str()),
        (403, Some("forbidden"))
    );
    assert!(bare.body.contains("Origin"), "{}", bare.body);
    let foreign = server.send(
        "POST",
        &reply,
        &[("Cookie", &cookie), ("Origin", "http://127.0.0.1:9")],
        body,
    );
    assert_eq!(foreign.status, 403);
    assert!(
        env.state()
            .get("user_reply")
            .is_none_or(serde_json::Value::is_null)
    );
    let own = with_cookie(&server, "POST", &reply, &cookie, body);
    assert_eq!(own.status, 200, "{}", own.body);
    // Reads need no Origin.
    let read = server.send("GET", "api/v1/repos", &[("Cookie", &cookie)], None);
    assert_eq!(read.status, 200);
    // A session cannot make links for more sessions.
    let link = with_cookie(&server, "POST", "api/v1/sessions/link", &cookie, Some("{}"));
    assert_eq!(link.status, 403, "{}", link.body);
}

#[test]
fn without_a_token_no_link_is_printed_and_there_are_no_sessions() {
    let env = TestEnv::new();
    let server = Server::start_with(&env, None, &[]).unwrap();
    assert!(!server.stderr_has(Duration::from_secs(2), |l| l.contains("auth/link")));
    let r = server.send("POST", "api/v1/sessions/link", &[], Some("{}"));
    assert_eq!(
        (r.status, r.json()["error"]["kind"].as_str()),
        (409, Some("conflict"))
    );
    assert!(r.body.contains("server.auth_token_env"), "{}", r.body);
}
