//! The work docs through `car serve`: `ETag` / `If-Match`, never a lost
//! update, bounded bodies, typed errors.

use crate::common::TestEnv;
use crate::serve_client::{REPO, Server, TOKEN};

fn put(
    server: &Server,
    doc: &str,
    if_match: Option<&str>,
    body: &str,
) -> crate::serve_client::Resp {
    let auth = format!("Bearer {TOKEN}");
    let mut headers = vec![("Authorization", auth.as_str())];
    if let Some(m) = if_match {
        headers.push(("If-Match", m));
    }
    server.send(
        "PUT",
        &format!("api/v1/repos/{REPO}/docs/{doc}"),
        &headers,
        Some(body),
    )
}

fn text(t: &str) -> String {
    serde_json::json!({ "text": t }).to_string()
}

#[test]
fn a_write_based_on_an_old_version_gets_409_and_the_current_text_and_loses_nothing() {
    let env = TestEnv::new();
    env.todo("- [ ] first\n");
    let server = Server::start(&env, &[]);
    let got = server.get(&format!("api/v1/repos/{REPO}/docs/todo"));
    assert_eq!(got.status, 200);
    let v1 = got.etag.clone().unwrap();
    assert_eq!(got.json()["etag"], v1.as_str());
    assert_eq!(got.json()["text"], "- [ ] first\n");

    // A write on the current version passes and gives the new version.
    let ok = put(
        &server,
        "todo",
        Some(&v1),
        &text("- [ ] first\n- [ ] mine\n"),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    let v2 = ok.etag.clone().unwrap();
    assert_ne!(v1, v2);
    assert_eq!(
        env.read(".codex-autorunner/TODO.md"),
        "- [ ] first\n- [ ] mine\n"
    );

    // The agent edits the file meanwhile; a write based on v2 is refused.
    env.todo("- [x] first\n- [ ] mine\n");
    let stale = put(&server, "todo", Some(&v2), &text("- [ ] lost?\n"));
    assert_eq!(stale.status, 409, "{}", stale.body);
    let body = stale.json();
    assert_eq!(body["error"]["kind"], "conflict");
    assert_eq!(body["current"]["text"], "- [x] first\n- [ ] mine\n");
    assert_eq!(
        env.read(".codex-autorunner/TODO.md"),
        "- [x] first\n- [ ] mine\n"
    );
    // An old version too.
    assert_eq!(put(&server, "todo", Some(&v1), &text("x")).status, 409);

    // Rebased on the current version, it passes.
    let current = body["current"]["etag"].as_str().unwrap().to_string();
    let ok = put(
        &server,
        "todo",
        Some(&current),
        &text("- [x] first\n- [ ] mine\n- [ ] more\n"),
    );
    assert_eq!(ok.status, 200);
    assert_eq!(
        env.read(".codex-autorunner/TODO.md"),
        "- [x] first\n- [ ] mine\n- [ ] more\n"
    );
    // `*` overwrites whatever is there.
    assert_eq!(
        put(&server, "progress", Some("*"), &text("p\n")).status,
        200
    );
    assert_eq!(env.read(".codex-autorunner/PROGRESS.md"), "p\n");
}

#[test]
fn doc_writes_need_if_match_a_known_doc_and_a_small_json_body() {
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    let before = env.read(".codex-autorunner/TODO.md");
    let no_match = put(&server, "todo", None, &text("x"));
    assert_eq!(no_match.status, 428);
    assert_eq!(no_match.json()["error"]["kind"], "precondition_required");
    let unknown = put(&server, "secrets", Some("*"), &text("x"));
    assert_eq!(
        (unknown.status, unknown.json()["error"]["kind"].as_str()),
        (404, Some("not_found"))
    );
    let bad = put(&server, "todo", Some("*"), "{not json");
    assert_eq!(
        (bad.status, bad.json()["error"]["kind"].as_str()),
        (400, Some("bad_request"))
    );
    let extra = put(
        &server,
        "todo",
        Some("*"),
        r#"{"text":"x","mode":"append"}"#,
    );
    assert_eq!(extra.status, 400);
    // The server answers 413 once the body passes 1 MiB and closes the
    // connection, so a client still writing may see it reset instead of
    // reading the answer: either way the write is refused.
    let big = text(&"x".repeat(2 << 20));
    let url = format!("{}api/v1/repos/{REPO}/docs/todo", server.base);
    match ureq::put(&url)
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .set("If-Match", "*")
        .set("Content-Type", "application/json")
        .timeout(std::time::Duration::from_secs(30))
        .send_string(&big)
    {
        Err(ureq::Error::Status(status, r)) => {
            let body: serde_json::Value = r.into_json().unwrap_or_default();
            assert_eq!(
                (status, body["error"]["kind"].as_str()),
                (413, Some("too_large"))
            );
        }
        Err(ureq::Error::Transport(t)) => {
            assert_eq!(t.kind(), ureq::ErrorKind::Io, "{t}");
        }
        Ok(r) => panic!("a 2 MiB body was taken: {}", r.status()),
    }
    assert_eq!(env.read(".codex-autorunner/TODO.md"), before);
    // A doc that does not exist yet reads as empty, and is created by a
    // write on its "none" version.
    std::fs::remove_file(env.path(".codex-autorunner/SUMMARY.md")).ok();
    let summary = server.get(&format!("api/v1/repos/{REPO}/docs/summary"));
    assert_eq!(summary.json()["exists"], false);
    let tag = summary.etag.unwrap();
    assert_eq!(
        put(&server, "summary", Some(&tag), &text("done\n")).status,
        200
    );
    assert_eq!(env.read(".codex-autorunner/SUMMARY.md"), "done\n");
}

#[test]
fn the_docs_stream_tells_every_doc_then_each_change_with_the_etag_a_get_gives() {
    let env = TestEnv::new();
    env.todo("- [ ] first\n");
    let server = Server::start(&env, &[]);
    let rx = server.sse(&format!("api/v1/repos/{REPO}/docs/stream"), &[]);
    // Every doc once, at the start.
    let first = crate::serve_client::read_until(&rx, std::time::Duration::from_secs(20), {
        let mut n = 0;
        move |_, _| {
            n += 1;
            n == 5
        }
    });
    let mut docs: Vec<&str> = first
        .iter()
        .map(|(e, _, d)| {
            assert_eq!(e, "doc");
            d["doc"].as_str().unwrap()
        })
        .collect();
    docs.sort_unstable();
    assert_eq!(docs, ["opinions", "progress", "spec", "summary", "todo"]);
    let todo_v1 = first.iter().find(|(_, _, d)| d["doc"] == "todo").unwrap().2["etag"].clone();
    let got = server.get(&format!("api/v1/repos/{REPO}/docs/todo"));
    assert_eq!(got.json()["etag"], todo_v1);

    // Someone else (the agent) edits TODO: the stream tells the version a
    // GET then gives.
    env.todo("- [x] first\n");
    let now = server.get(&format!("api/v1/repos/{REPO}/docs/todo"));
    let want = now.json()["etag"].clone();
    assert_ne!(want, todo_v1);
    crate::serve_client::read_until(&rx, std::time::Duration::from_secs(20), |e, d| {
        e == "doc" && d["doc"] == "todo" && d["etag"] == want
    });
}
