//! `car serve` with the real binary: the listening line, the loop driven
//! through the API, shutdown. `Server` and the HTTP helpers are shared by
//! the other `serve_*` tests.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{TestEnv, alive};

/// The variable the tests' servers read their token from.
pub(crate) const TOKEN_ENV: &str = "CAR_TEST_SERVER_TOKEN";
pub(crate) const TOKEN: &str = "s3cret-token";

/// A `car serve --port 0` process in a test repository.
pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
    pub(crate) port: u16,
    stderr: mpsc::Receiver<String>,
}

/// An answer.
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) etag: Option<String>,
    pub(crate) content_type: String,
    /// `Access-Control-Allow-Origin`, which the server never sends.
    pub(crate) allow_origin: Option<String>,
    pub(crate) body: String,
}

impl Resp {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Lines of `read`, on a thread of their own.
pub(crate) fn lines_of(read: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(read).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Server {
    /// Starts `car serve --port 0 ARGS` with the token in its environment.
    pub(crate) fn start(env: &TestEnv, args: &[&str]) -> Self {
        Self::start_with(env, Some(TOKEN), args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a server (with `token` in [`TOKEN_ENV`], when given); an
    /// error holds its stderr when it exits without listening.
    pub(crate) fn start_with(
        env: &TestEnv,
        token: Option<&str>,
        args: &[&str],
    ) -> Result<Self, String> {
        if !env.read(".codex-autorunner/config.yml").contains(TOKEN_ENV) {
            env.config(&format!("server:\n  auth_token_env: {TOKEN_ENV}\n"));
        }
        let mut all = vec!["serve", "--port", "0"];
        all.extend_from_slice(args);
        let mut cmd = env.car(&all);
        if let Some(t) = token {
            cmd.env(TOKEN_ENV, t);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = lines_of(child.stdout.take().unwrap());
        let stderr = lines_of(child.stderr.take().unwrap());
        let Ok(first) = out.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            let _ = child.wait();
            let err: Vec<String> = stderr.try_iter().collect();
            return Err(err.join("\n"));
        };
        let url = first
            .strip_prefix("car: listening on ")
            .unwrap_or_else(|| panic!("first line: {first:?}"));
        assert!(url.starts_with("http://") && url.ends_with('/'), "{first}");
        let port = url
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .and_then(|p| p.split('/').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {first}"));
        // Connect through loopback whatever the bound address.
        let path = url.splitn(4, '/').nth(3).unwrap_or("");
        Ok(Self {
            child,
            base: format!("http://127.0.0.1:{port}/{path}"),
            port,
            stderr,
        })
    }

    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// A request with the right token.
    pub(crate) fn get(&self, path: &str) -> Resp {
        self.send(
            "GET",
            path,
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            None,
        )
    }

    /// A JSON request with the right token.
    pub(crate) fn post(&self, path: &str, body: &serde_json::Value) -> Resp {
        self.send(
            "POST",
            path,
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            Some(&body.to_string()),
        )
    }

    /// A request to `path` (relative to the base, without its leading `/`).
    pub(crate) fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Resp {
        let mut req =
            ureq::request(method, &format!("{}{path}", self.base)).timeout(Duration::from_secs(30));
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let result = match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(b),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        Resp {
            status: resp.status(),
            etag: resp.header("etag").map(str::to_string),
            content_type: resp.header("content-type").unwrap_or("").to_string(),
            allow_origin: resp
                .header("access-control-allow-origin")
                .map(str::to_string),
            body: resp.into_string().unwrap_or_default(),
        }
    }

    /// Opens `stream?QUERY` with extra headers: each SSE event, as
    /// `(event, id, data)`, on a channel.
    pub(crate) fn stream(
        &self,
        repo: &str,
        query: &str,
        headers: &[(&str, &str)],
    ) -> mpsc::Receiver<(String, Option<u64>, serde_json::Value)> {
        let mut req = ureq::get(&format!("{}api/v1/repos/{repo}/stream{query}", self.base))
            .set("Authorization", &format!("Bearer {TOKEN}"));
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let resp = req.call().unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.header("cache-control"), Some("no-cache"));
        assert_eq!(resp.header("x-accel-buffering"), Some("no"));
        assert!(resp.content_type().starts_with("text/event-stream"));
        sse_events(resp.into_reader())
    }

    /// Ends the server with SIGKILL.
    pub(crate) fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The lines the server printed on stderr so far.
    pub(crate) fn stderr(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses a server-sent event stream into `(event, id, data)`.
fn sse_events(
    read: impl Read + Send + 'static,
) -> mpsc::Receiver<(String, Option<u64>, serde_json::Value)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut event, mut id, mut data) = (String::new(), None, String::new());
        for line in BufReader::new(read).lines() {
            let Ok(line) = line else { break };
            if line.is_empty() {
                if !data.is_empty() {
                    let value =
                        serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"));
                    if tx
                        .send((std::mem::take(&mut event), id.take(), value))
                        .is_err()
                    {
                        break;
                    }
                }
                data.clear();
                event.clear();
                id = None;
            } else if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("id:") {
                id = Some(v.trim().parse().unwrap());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
    });
    rx
}

/// Receives stream events until one satisfies `until` (included), or
/// panics after `timeout`.
pub(crate) fn read_until(
    rx: &mpsc::Receiver<(String, Option<u64>, serde_json::Value)>,
    timeout: Duration,
    mut until: impl FnMut(&str, &serde_json::Value) -> bool,
) -> Vec<(String, Option<u64>, serde_json::Value)> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(e) => {
                let done = until(&e.0, &e.2);
                got.push(e);
                if done {
                    return got;
                }
            }
            Err(_) => panic!("timed out; got {got:#?}"),
        }
    }
}

/// The id the test repository has in URLs (its directory name).
pub(crate) const REPO: &str = "repo";

fn stopped(kind: &str, data: &serde_json::Value) -> bool {
    kind == "event" && data["type"] == "stopped"
}

#[test]
fn the_first_line_says_where_it_listens_and_health_needs_no_token() {
    let env = TestEnv::new();
    let server = Server::start(&env, &[]);
    assert!(server.base.starts_with("http://127.0.0.1:"));
    assert!(server.port > 0);
    let health = server.send("GET", "health", &[], None);
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["ok"], true);
    assert!(health.json()["version"].is_string());
    assert!(health.content_type.starts_with("application/json"));
    // The repository is listed under its directory name.
    let repos = server.get("api/v1/repos").json();
    assert_eq!(repos[0]["id"], REPO);
    assert_eq!(repos[0]["running"], false);
    // What `car status --json` says.
    let status = server.get(&format!("api/v1/repos/{REPO}")).json();
    let cli: serde_json::Value =
        serde_json::from_str(&env.run(&["status", "--json"]).stdout()).unwrap();
    assert_eq!(status["root"], cli["root"]);
    assert_eq!(status["state"]["status"], cli["state"]["status"]);
    assert_eq!(status["todo"], cli["todo"]);
    // The resolved configuration, with sources.
    let config = server.get(&format!("api/v1/repos/{REPO}/config")).json();
    let source = config["sources"]["server.auth_token_env"].as_str().unwrap();
    assert!(source.ends_with("config.yml"), "{source}");
    assert_eq!(config["config"]["server"]["auth_token_env"], TOKEN_ENV);
    // Unknown repositories and routes are JSON 404s.
    let missing = server.get("api/v1/repos/nope");
    assert_eq!(
        (missing.status, missing.json()["error"]["kind"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(server.get("api/v1/nothing").status, 404);
}

#[test]
fn a_base_path_prefixes_every_route_and_the_line_names_it() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["--base-path", "/car/"]);
    assert!(server.base.ends_with("/car/"), "{}", server.base);
    assert_eq!(server.send("GET", "health", &[], None).status, 200);
    let root = format!("http://127.0.0.1:{}/health", server.port);
    let outside = match ureq::get(&root).call() {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(outside, 404);
}

#[test]
fn a_loop_started_through_the_api_is_followed_over_sse_to_its_stop() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    env.script(
        "out hello from the agent\ncheck-todo\nappend .codex-autorunner/SUMMARY.md - done\n",
    );
    let server = Server::start(&env, &[]);
    let events = server.stream(REPO, "?since=1", &[]);
    let started = server.post(
        &format!("api/v1/repos/{REPO}/loop/run"),
        &serde_json::json!({}),
    );
    assert_eq!(started.status, 202, "{}", started.body);
    assert_eq!(started.json()["result"], "started");
    let got = read_until(&events, Duration::from_secs(120), stopped);
    let (_, _, last) = got.last().unwrap();
    assert_eq!(last["reason"], "completed", "{got:#?}");
    // Ledger events carry their seq as id, in order, without gaps.
    let ids: Vec<u64> = got
        .iter()
        .filter(|e| e.0 == "event")
        .map(|e| e.1.unwrap())
        .collect();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
    assert!(got.iter().any(|e| e.2["type"] == "loop_started"));
    // The agent's output arrives as lines. The last run's may come after
    // the stop.
    let mut lines: Vec<String> = got
        .iter()
        .filter(|e| e.0 == "output")
        .map(|e| e.2["line"].as_str().unwrap().to_string())
        .collect();
    while let Ok(e) = events.recv_timeout(Duration::from_millis(500)) {
        if e.0 == "output" {
            lines.push(e.2["line"].as_str().unwrap().to_string());
        }
    }
    assert!(
        // The log's own lines: `[ts] stdout: ...`.
        lines
            .iter()
            .any(|l| l.ends_with("] stdout: hello from the agent")),
        "{lines:?}"
    );
    assert_eq!(env.read(".codex-autorunner/TODO.md"), "- [x] a\n- [x] b\n");

    // The same through the read routes.
    let page = server
        .get(&format!("api/v1/repos/{REPO}/events?since=2&limit=3"))
        .json();
    let seqs: Vec<u64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![2, 3, 4]);
    assert_eq!(page["next"], 5);
    let runs = server.get(&format!("api/v1/repos/{REPO}/runs")).json();
    let run_ids: Vec<u64> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(run_ids, vec![3, 2, 1], "newest first");
    let older = server
        .get(&format!("api/v1/repos/{REPO}/runs?before=3&limit=1"))
        .json();
    assert_eq!(older[0]["id"], 2);
    assert_eq!(older.as_array().unwrap().len(), 1);
    let run = server.get(&format!("api/v1/repos/{REPO}/runs/1")).json();
    assert_eq!(run["record"]["outcome"], "ok", "{run:#}");
    assert!(run["prompt"].as_str().unwrap().contains("- [ ] a"));
    assert!(run["final_output"].is_string());
    let whole = server
        .get(&format!("api/v1/repos/{REPO}/runs/1/output"))
        .json();
    let text = whole["text"].as_str().unwrap();
    assert_eq!(whole["size"].as_u64().unwrap(), text.len() as u64);
    assert_eq!(env.read(".codex-autorunner/runs/1/output.log"), text);
    let at = text.find("hello").unwrap();
    let out = server
        .get(&format!(
            "api/v1/repos/{REPO}/runs/1/output?offset={at}&limit=5"
        ))
        .json();
    assert_eq!(out["text"], "hello");
    assert_eq!(out["next_offset"], at as u64 + 5);
    assert_eq!(
        server.get(&format!("api/v1/repos/{REPO}/runs/9")).status,
        404
    );
    let bad = server.get(&format!("api/v1/repos/{REPO}/runs/x"));
    assert_eq!(
        (bad.status, bad.json()["error"]["kind"].as_str()),
        (400, Some("bad_request"))
    );
    let bad = server.get(&format!("api/v1/repos/{REPO}/events?since=minus"));
    assert_eq!(bad.status, 400);
    let state = env.state();
    assert_eq!(state["status"], "completed", "{state:#}");
    let status = server.get(&format!("api/v1/repos/{REPO}")).json();
    assert_eq!(status["state"]["status"], "completed");
}

#[test]
fn a_second_start_is_refused_and_stop_through_the_api_names_the_api() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n- [ ] c\n");
    env.script("sleep 1\ncheck-todo\n");
    let server = Server::start(&env, &[]);
    let events = server.stream(REPO, "", &[]);
    let first = server.post(
        &format!("api/v1/repos/{REPO}/loop/run"),
        &serde_json::json!({}),
    );
    assert_eq!(first.status, 202, "{}", first.body);
    read_until(&events, Duration::from_secs(60), |k, d| {
        k == "event" && d["type"] == "run_started"
    });
    let again = server.post(
        &format!("api/v1/repos/{REPO}/loop/once"),
        &serde_json::json!({}),
    );
    assert_eq!(
        (again.status, again.json()["error"]["kind"].as_str()),
        (409, Some("busy"))
    );
    let stop = server.post(
        &format!("api/v1/repos/{REPO}/loop/stop"),
        &serde_json::json!({}),
    );
    assert_eq!(
        (stop.status, stop.json()["result"].as_str()),
        (200, Some("requested")),
        "{}",
        stop.body
    );
    let got = read_until(&events, Duration::from_secs(120), stopped);
    let last = &got.last().unwrap().2;
    assert_eq!(last["requested_by"], "api", "{last:#}");
    assert!(
        last["origin"]
            .as_str()
            .unwrap()
            .starts_with("http 127.0.0.1:"),
        "{last:#}"
    );
    assert_eq!(env.agent_runs(), 1);
}

#[test]
fn sigterm_ends_the_server_and_its_streams_but_never_the_loop() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    env.script("sleep 1\ncheck-todo\nappend .codex-autorunner/SUMMARY.md - done\n");
    let server = Server::start(&env, &[]);
    let events = server.stream(REPO, "", &[]);
    let started = server.post(
        &format!("api/v1/repos/{REPO}/loop/run"),
        &serde_json::json!({}),
    );
    let runner = started.json()["pid"].as_i64().unwrap() as i32;
    read_until(&events, Duration::from_secs(60), |k, d| {
        k == "event" && d["type"] == "run_started"
    });
    let t = Instant::now();
    let pid = server.pid();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    // The stream ends (its channel closes) and the server exits.
    while events.recv_timeout(Duration::from_secs(10)).is_ok() {}
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "the stream stayed open"
    );
    env.wait_for("the server to exit", Duration::from_secs(10), || {
        !alive(pid)
    });
    assert!(server.stderr().iter().any(|l| l == "car: shutting down"));
    assert!(alive(runner), "the loop must go on");
    env.wait_for("the loop to finish", Duration::from_secs(120), || {
        !alive(runner)
    });
    assert_eq!(env.read(".codex-autorunner/TODO.md"), "- [x] a\n- [x] b\n");
}
