//! A `car serve` process in a test repository, and the HTTP and SSE client
//! the `serve*` tests use.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::TestEnv;

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
    /// `Retry-After`, on a 429.
    pub(crate) retry_after: Option<String>,
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
        Self::start_with_vars(env, token, args, &[])
    }

    /// [`Server::start_with`] with `vars` in the server's environment.
    pub(crate) fn start_with_vars(
        env: &TestEnv,
        token: Option<&str>,
        args: &[&str],
        vars: &[(&str, &str)],
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
        cmd.envs(vars.iter().copied());
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
            // The child is gone: its stderr ends, so this reads all of it.
            let err: Vec<String> = stderr.iter().collect();
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
        let mut req = ureq::request(method, &format!("{}{path}", self.base))
            // Generous: `loop/kill` waits for the runner, which on a
            // loaded machine can take long.
            .timeout(Duration::from_secs(120));
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
            retry_after: resp.header("retry-after").map(str::to_string),
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
        self.sse(&format!("api/v1/repos/{repo}/stream{query}"), headers)
    }

    /// Opens the event stream at `path` with extra headers: each SSE
    /// event, as `(event, id, data)`, on a channel.
    pub(crate) fn sse(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> mpsc::Receiver<(String, Option<u64>, serde_json::Value)> {
        let mut req = ureq::get(&format!("{}{path}", self.base))
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

    /// Whether the server prints a line on stderr that `pred` accepts
    /// within `timeout`.
    pub(crate) fn stderr_has(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while let Ok(line) = self
            .stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if pred(&line) {
                return true;
            }
        }
        false
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
