//! The Terminal, Snapshot and Settings pages over HTTP (no browser), and
//! `POST /api/v1/repos/{id}/notify/test` against fake ntfy and Discord
//! servers on 127.0.0.1.

use std::time::Duration;

use crate::common::TestEnv;
use crate::fake_http::{Answer, FakeHttp};
use crate::serve_client::{REPO, Server, TOKEN};
use crate::serve_sessions::login;

/// A GET with `cookie`: status, `Content-Security-Policy`, body (with
/// `/` unescaped).
fn page(server: &Server, cookie: &str, path: &str) -> (u16, String, String) {
    let resp = match ureq::get(&format!("{}{path}", server.base))
        .timeout(Duration::from_secs(30))
        .set("Cookie", cookie)
        .call()
    {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {path}: {e}"),
    };
    let csp = resp
        .header("content-security-policy")
        .unwrap_or("")
        .to_string();
    // minijinja escapes `/` too: undone, for readable assertions.
    let status = resp.status();
    let body = resp.into_string().unwrap().replace("&#x2f;", "/");
    (status, csp, body)
}

#[test]
fn the_terminal_page_lists_sessions_and_alone_loads_xterm_with_its_style_policy() {
    let env = TestEnv::new();
    env.config("codex:\n  binary: /bin/sh\n  terminal_args: []\nserver:\n  terminal:\n    idle_timeout_seconds: 600\n");
    let server = Server::start(&env, &[]);
    let cookie = login(&server);
    let path = format!("repos/{REPO}/terminal");
    let (status, csp, html) = page(&server, &cookie, &path);
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("No session yet"), "{html}");
    assert!(html.contains("<code>/bin/sh</code>"), "{html}");
    assert!(html.contains("stops after 10m 0s"), "{html}");
    assert!(html.contains("aria-current=\"page\">Terminal"), "{html}");
    // xterm.js draws with styles made at run time: this page alone allows
    // them; scripts stay as strict as on every page.
    assert!(csp.contains("style-src 'self' 'unsafe-inline'"), "{csp}");
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(
        html.contains("/ui/assets/terminal.") && html.contains("/ui/assets/xterm."),
        "{html}"
    );
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "{html}"
    );
    let (_, dash_csp, dash) = page(&server, &cookie, &format!("repos/{REPO}"));
    assert!(!dash.contains("/ui/assets/xterm."), "{dash}");
    assert!(dash_csp.contains("style-src 'self';"), "{dash_csp}");

    let r = server.post(
        &format!("api/v1/repos/{REPO}/terminals"),
        &serde_json::json!({}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let tid = r.json()["id"].as_str().unwrap().to_string();
    let (_, _, html) = page(&server, &cookie, &format!("{path}?session={tid}"));
    assert!(html.contains(&format!("data-stop=\"{tid}\"")), "{html}");
    assert!(html.contains(&format!("data-attach=\"{tid}\"")), "{html}");
    assert!(html.contains("id=\"live\""), "attached: {html}");
    // The fragment the script refreshes the list from.
    let (status, _, frag) = page(
        &server,
        &cookie,
        &format!("ui/fragments/repos/{REPO}/terminals"),
    );
    assert_eq!(status, 200);
    assert!(
        frag.contains(&tid) && frag.contains(">running<") && !frag.contains("<html"),
        "{frag}"
    );
    // A stopped session can be neither attached to nor stopped again.
    let r = server.send(
        "DELETE",
        &format!("api/v1/repos/{REPO}/terminals/{tid}"),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, _, html) = page(&server, &cookie, &format!("{path}?session={tid}"));
    assert!(!html.contains(&format!("data-stop=\"{tid}\"")), "{html}");
    assert!(html.contains("ended: stopped"), "{html}");
    assert!(!html.contains("id=\"live\""), "{html}");
}

#[test]
fn the_snapshot_page_shows_the_snapshot_rendered_and_escaped_or_says_there_is_none() {
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    let cookie = login(&server);
    let path = format!("repos/{REPO}/snapshot");
    let (status, _, html) = page(&server, &cookie, &path);
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("No snapshot yet"), "{html}");
    assert!(html.contains(">Generate<"), "{html}");
    env.write(
        ".codex-autorunner/SNAPSHOT.md",
        "# Snapshot\n<b>bold</b> & more\n",
    );
    let (_, _, html) = page(&server, &cookie, &path);
    // The text (escaped) and the rendered Markdown, whose raw HTML shows
    // as text too.
    assert!(
        html.contains("&lt;b&gt;bold&lt;/b&gt; &amp; more"),
        "{html}"
    );
    assert!(html.contains("<h1>Snapshot</h1>"), "{html}");
    assert!(!html.contains("<b>bold</b>"), "{html}");
    assert!(
        html.contains(">Update<") && html.contains("2 lines"),
        "{html}"
    );
    let (status, _, frag) = page(
        &server,
        &cookie,
        &format!("ui/fragments/repos/{REPO}/snapshot"),
    );
    assert_eq!(status, 200);
    assert!(
        frag.contains("id=\"snapshot-text\"") && !frag.contains("<html"),
        "{frag}"
    );
}

#[test]
fn the_settings_page_says_where_each_value_came_from_and_shows_no_secret() {
    let env = TestEnv::new();
    env.config("runner:\n  sleep_seconds: 7\nnotifications:\n  ntfy:\n    topic_env: CAR_TEST_PAGE_TOPIC\n");
    let server = Server::start_with_vars(
        &env,
        Some(TOKEN),
        &[],
        &[
            ("CAR_TEST_PAGE_TOPIC", "very-secret-topic-x1"),
            ("CAR_RUNNER__STOP_AFTER_RUNS", "9"),
        ],
    )
    .unwrap();
    let cookie = login(&server);
    let (status, _, html) = page(&server, &cookie, &format!("repos/{REPO}/settings"));
    assert_eq!(status, 200, "{html}");
    let row = |key: &str| {
        let start = html
            .find(&format!(">{key}</dt>"))
            .unwrap_or_else(|| panic!("{key} missing: {html}"));
        let end = html[start..].find("</div>").unwrap() + start;
        html[start..end].to_string()
    };
    let sleep = row("runner.sleep_seconds");
    assert!(
        sleep.contains(">7<") && sleep.contains("config.yml"),
        "{sleep}"
    );
    let runs = row("runner.stop_after_runs");
    assert!(
        runs.contains(">9<") && runs.contains("environment variable CAR_RUNNER__STOP_AFTER_RUNS"),
        "{runs}"
    );
    let default = row("runner.transient_retries");
    assert!(default.contains("built-in default"), "{default}");
    let topic = row("notifications.ntfy.topic_env");
    assert!(
        topic.contains("CAR_TEST_PAGE_TOPIC") && topic.contains(">set<"),
        "{topic}"
    );
    let token = row("notifications.ntfy.token_env");
    assert!(token.contains(">not set<"), "{token}");
    assert!(
        !html.contains("very-secret-topic-x1"),
        "a secret is shown: {html}"
    );
    assert!(html.contains("Send a test notification"), "{html}");
}

#[test]
fn notify_test_answers_each_provider_sent_or_failed_and_why() {
    let ntfy = FakeHttp::start(vec![], Answer::ok(r#"{"id":"m-42"}"#));
    let discord = FakeHttp::start(
        vec![],
        Answer {
            status: 401,
            body: "{}".into(),
            delay: Duration::ZERO,
        },
    );
    let env = TestEnv::new();
    env.config(&format!(
        "notifications:\n  ntfy:\n    server: {}\n",
        ntfy.url()
    ));
    let hook = format!("{}/hooks/x", discord.url());
    let server = Server::start_with_vars(
        &env,
        Some(TOKEN),
        &[],
        &[
            ("CAR_NTFY_TOPIC", "topic-secret-77"),
            ("CAR_DISCORD_WEBHOOK_URL", hook.as_str()),
        ],
    )
    .unwrap();
    let path = format!("api/v1/repos/{REPO}/notify/test");
    let r = server.post(&path, &serde_json::json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["all_sent"], false, "{v:#}");
    let of = |name: &str| {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["provider"] == name)
            .unwrap_or_else(|| panic!("no {name} in {v:#}"))
            .clone()
    };
    assert_eq!(of("ntfy")["sent"], true, "{v:#}");
    assert_eq!(of("ntfy")["message_id"], "m-42", "{v:#}");
    assert_eq!(of("discord")["sent"], false, "{v:#}");
    assert!(
        of("discord")["error"]
            .as_str()
            .unwrap()
            .contains("HTTP 401"),
        "{v:#}"
    );
    assert!(
        !r.body.contains("topic-secret-77") && !r.body.contains("/hooks/x"),
        "{}",
        r.body
    );
    let got = ntfy.wait_for(1);
    assert!(
        got[0]
            .header("Title")
            .unwrap()
            .contains("test notification")
    );
    assert!(got[0].path.contains("topic-secret-77"), "{}", got[0].path);

    // One provider only.
    let r = server.post(&path, &serde_json::json!({"provider": "ntfy"}));
    let v = r.json();
    assert_eq!(
        (
            v["all_sent"].as_bool(),
            v["results"].as_array().unwrap().len()
        ),
        (Some(true), 1),
        "{v:#}"
    );
    // An unknown provider is named in the answer.
    let v = server
        .post(&path, &serde_json::json!({"provider": "pigeon"}))
        .json();
    assert!(
        v["results"][0]["error"]
            .as_str()
            .unwrap()
            .contains("is not a provider"),
        "{v:#}"
    );
    // A bad body is refused, naming what it must be.
    let r = server.post(&path, &serde_json::json!({"provder": "ntfy"}));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("provider"), "{}", r.body);
    let r = server.post("api/v1/repos/nope/notify/test", &serde_json::json!({}));
    assert_eq!(r.status, 404);
}

#[test]
fn notify_test_without_a_provider_says_what_to_set() {
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    let v = server
        .post(
            &format!("api/v1/repos/{REPO}/notify/test"),
            &serde_json::json!({}),
        )
        .json();
    assert_eq!(v["all_sent"], false, "{v:#}");
    assert_eq!(v["results"], serde_json::json!([]), "{v:#}");
    assert!(
        v["hint"].as_str().unwrap().contains("CAR_NTFY_TOPIC"),
        "{v:#}"
    );
}
