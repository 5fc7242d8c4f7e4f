//! Voice input over HTTP against a fake transcription endpoint on
//! 127.0.0.1: what the endpoint receives (a multipart body with the
//! recording and the model, the Bearer key), the text answered, a
//! recording over the API's 1 MB body limit but under `voice.max_bytes`;
//! each failure answered with a clear error naming what to fix (the key's
//! variable, `voice.max_bytes`, the URL, the endpoint's own message,
//! `voice.timeout_seconds`); the microphone only on pages when the key is
//! set; the key never in the server's output or files.

use std::time::Duration;

use crate::common::TestEnv;
use crate::fake_http::{Answer, FakeHttp, Request};
use crate::serve_client::{REPO, Server, TOKEN};
use crate::serve_sessions::login;

const KEY_VAR: &str = "TEST_VOICE_KEY";
const KEY: &str = "sk-voice-test-4f2a";

/// A POST of `audio` as `content_type` with the token: status and JSON.
fn transcribe(server: &Server, content_type: &str, audio: &[u8]) -> (u16, serde_json::Value) {
    let url = format!("{}api/v1/repos/{REPO}/voice/transcribe", server.base);
    let resp = match ureq::post(&url)
        .timeout(Duration::from_secs(60))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .set("Content-Type", content_type)
        .send_bytes(audio)
    {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST voice: {e}"),
    };
    let status = resp.status();
    let body = resp.into_string().unwrap();
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, json)
}

/// A page with the session cookie.
fn page(server: &Server, path: &str, cookie: &str) -> String {
    let resp = ureq::get(&format!("{}{path}", server.base))
        .timeout(Duration::from_secs(30))
        .set("Cookie", cookie)
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    resp.into_string().unwrap()
}

/// Whether a page loads the voice module (its URL escaped or not).
fn loads_voice_js(html: &str) -> bool {
    html.contains("/voice.") || html.contains("&#x2f;voice.")
}

/// The parts of a multipart body: (headers, content) by `name`.
fn parts(req: &Request) -> Vec<(String, String, String)> {
    let ctype = req.header("content-type").unwrap_or("");
    let boundary = ctype
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("not multipart: {ctype}"));
    let body = &req.body;
    assert!(
        body.ends_with(&format!("--{boundary}--\r\n")),
        "unterminated"
    );
    body.split(&format!("--{boundary}"))
        .filter(|p| p.starts_with("\r\n"))
        .map(|p| {
            let p = p.strip_prefix("\r\n").unwrap();
            let (head, content) = p.split_once("\r\n\r\n").unwrap();
            let name = head
                .split("name=\"")
                .nth(1)
                .and_then(|n| n.split('"').next())
                .unwrap_or("")
                .to_string();
            let content = content.strip_suffix("\r\n").unwrap_or(content);
            (name, head.to_string(), content.to_string())
        })
        .collect()
}

fn voice_config(env: &TestEnv, base_url: &str, extra: &str) {
    env.config(&format!(
        "voice:\n  base_url: {base_url}\n  api_key_env: {KEY_VAR}\n  model: whisper-test\n{extra}"
    ));
}

/// Whether any file under the repository's `.codex-autorunner` holds `s`.
fn in_car_files(env: &TestEnv, s: &str) -> bool {
    fn walk(dir: &std::path::Path, s: &str) -> bool {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, s)
                } else {
                    std::fs::read(&p).is_ok_and(|b| String::from_utf8_lossy(&b).contains(s))
                }
            })
    }
    walk(&env.root.join(".codex-autorunner"), s)
}

#[test]
fn a_recording_goes_to_the_endpoint_as_multipart_with_the_key_and_its_text_comes_back() {
    let env = TestEnv::new();
    let fake = FakeHttp::start(
        vec![],
        Answer::ok(r#"{"text":"  add a test for the parser\n"}"#),
    );
    voice_config(&env, &format!("{}/v1/", fake.url()), "");
    let server = Server::start_with_vars(&env, Some(TOKEN), &[], &[(KEY_VAR, KEY)]).unwrap();

    let audio = b"\x1aE\xdf\xa3 fake webm audio 0123456789";
    let (status, body) = transcribe(&server, "audio/webm;codecs=opus", audio);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"text": "add a test for the parser"})
    );

    let got = fake.wait_for(1);
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/audio/transcriptions");
    assert_eq!(req.header("authorization"), Some(&*format!("Bearer {KEY}")));
    let parts = parts(req);
    let names: Vec<&str> = parts.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(names, ["model", "response_format", "file"]);
    assert_eq!(parts[0].2, "whisper-test");
    assert!(
        parts[2].1.contains("filename=\"voice.webm\"")
            && parts[2].1.contains("Content-Type: audio/webm;codecs=opus"),
        "{}",
        parts[2].1
    );
    assert_eq!(parts[2].2, String::from_utf8_lossy(audio));

    // Past the API's 1 MB body limit, under voice.max_bytes (10 MB).
    let big = vec![b'a'; 2 << 20];
    let (status, body) = transcribe(&server, "audio/ogg", &big);
    assert_eq!(status, 200, "{body}");
    let got = fake.wait_for(2);
    let parts2 = self::parts(&got[1]);
    assert_eq!(parts2[2].2.len(), big.len());
    assert!(parts2[2].1.contains("filename=\"voice.ogg\""));

    // The microphone is in the composers.
    let cookie = login(&server);
    let tasks = page(&server, &format!("repos/{REPO}/tasks"), &cookie);
    assert!(
        tasks.contains(r#"data-voice-for="task-prompt""#) && loads_voice_js(&tasks),
        "no microphone on the Tasks page"
    );
    let docs = page(&server, &format!("repos/{REPO}/docs/spec"), &cookie);
    assert!(docs.contains(r#"data-voice-for="ask-text""#));
    let dash = page(&server, &format!("repos/{REPO}"), &cookie);
    assert!(dash.contains(r#"data-voice-for="answer-text""#));
    // The settings say the key is set, never what it is.
    let settings = page(&server, &format!("repos/{REPO}/settings"), &cookie);
    assert!(settings.contains(KEY_VAR) && !settings.contains(KEY));

    assert!(!server.stderr_has(Duration::from_millis(300), |l| l.contains(KEY)));
    assert!(!in_car_files(&env, KEY), "the key was written to a file");
}

#[test]
fn each_failure_is_a_clear_error_and_nothing_reaches_the_endpoint_before_the_checks() {
    let env = TestEnv::new();
    let fake = FakeHttp::start(
        vec![
            Answer {
                status: 401,
                body: r#"{"error":{"message":"Incorrect API key provided: sk-v***","type":"invalid_request_error"}}"#.into(),
                delay: Duration::ZERO,
            },
            Answer {
                status: 200,
                body: r#"{"text":"too late"}"#.into(),
                delay: Duration::from_secs(4),
            },
            Answer::ok(r#"{"no_text":1}"#),
        ],
        Answer::ok(r#"{"text":"x"}"#),
    );
    let url = format!("{}/v1", fake.url());
    voice_config(&env, &url, "  max_bytes: 1000\n  timeout_seconds: 1\n");
    let server = Server::start_with_vars(&env, Some(TOKEN), &[], &[(KEY_VAR, KEY)]).unwrap();

    let (status, body) = transcribe(&server, "application/json", b"{}");
    assert_eq!(status, 415, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("audio/webm")
    );
    let (status, body) = transcribe(&server, "audio/webm", b"");
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("empty"));
    let (status, body) = transcribe(&server, "audio/webm", &[0u8; 1001]);
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["kind"], "too_large");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("voice.max_bytes (1000 bytes)"),
        "{body}"
    );
    // Sent in chunks, without a Content-Length: counted as it comes.
    let chunked = ureq::post(&format!(
        "{}api/v1/repos/{REPO}/voice/transcribe",
        server.base
    ))
    .set("Authorization", &format!("Bearer {TOKEN}"))
    .set("Content-Type", "audio/webm")
    .send(std::io::Cursor::new(vec![0u8; 4000]));
    match chunked {
        Err(ureq::Error::Status(413, r)) => {
            assert!(r.into_string().unwrap().contains("voice.max_bytes"));
        }
        other => panic!("a chunked recording over voice.max_bytes: {other:?}"),
    }
    assert!(fake.requests().is_empty(), "a refused recording was sent");

    // The endpoint's own error, with its status and the URL.
    let (status, body) = transcribe(&server, "audio/webm", b"abc");
    assert_eq!(status, 502, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("Incorrect API key provided")
            && msg.contains("401")
            && msg.contains(&format!("{url}/audio/transcriptions")),
        "{msg}"
    );
    // Slower than voice.timeout_seconds.
    let (status, body) = transcribe(&server, "audio/webm", b"abc");
    assert_eq!(status, 504, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("voice.timeout_seconds") && msg.contains(&url),
        "{msg}"
    );
    // A 200 without a text.
    let (status, body) = transcribe(&server, "audio/webm", b"abc");
    assert_eq!(status, 502, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("text"));
    assert!(!server.stderr_has(Duration::from_millis(300), |l| l.contains(KEY)));
    drop(server);

    // Without the key: 409 naming the variable, and no microphone.
    let server = Server::start(&env, &[]);
    let (status, body) = transcribe(&server, "audio/webm", b"abc");
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["kind"], "not_configured");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(KEY_VAR) && msg.contains("voice.api_key_env"),
        "{msg}"
    );
    let cookie = login(&server);
    let tasks = page(&server, &format!("repos/{REPO}/tasks"), &cookie);
    assert!(tasks.contains("task-prompt") && !tasks.contains("data-voice-for"));
    assert!(
        !tasks.contains("/voice."),
        "the voice script loads for nothing"
    );
    drop(server);

    // An endpoint nobody listens on: 502 naming the URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!(
        "http://127.0.0.1:{}/v1",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    voice_config(&env, &dead, "");
    let server = Server::start_with_vars(&env, Some(TOKEN), &[], &[(KEY_VAR, KEY)]).unwrap();
    let (status, body) = transcribe(&server, "audio/webm", b"abc");
    assert_eq!(status, 502, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("cannot reach") && msg.contains(&format!("{dead}/audio/transcriptions")),
        "{msg}"
    );
    assert_eq!(fake.requests().len(), 3);
}
