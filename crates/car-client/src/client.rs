//! The connection to a server: its URL, the token, the requests and how
//! their answers and errors are read.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ClientError;
use crate::types::RepoSummary;

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request may wait for its answer (a `kill` waits for the
/// runner to stop).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a stream may stay silent: the server sends a comment every
/// 15 s, so a longer silence means the connection is gone.
pub(crate) const STREAM_SILENCE: Duration = Duration::from_secs(45);

/// A client of one `car serve` server.
#[derive(Debug, Clone)]
pub struct Client {
    /// The server's URL, ending with `/` (its base path included).
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
    stream_agent: ureq::Agent,
    /// How long a read (a GET, a stream opened) that cannot reach the
    /// server is tried again; zero: not at all.
    patience: Duration,
}

/// The first wait before trying an unreachable server again; it doubles
/// up to [`MAX_RETRY_WAIT`].
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(100);
const MAX_RETRY_WAIT: Duration = Duration::from_secs(1);

impl Client {
    /// A client of the server at `url` (`http://host:port`, with the base
    /// path when it has one), sending `token` as a bearer token.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, ClientError> {
        let bad = |reason: &str| ClientError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = url.trim();
        let rest = trimmed
            .strip_prefix("http://")
            .or_else(|| trimmed.strip_prefix("https://"))
            .ok_or_else(|| bad("it must start with http:// or https://"))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(bad("it names no host"));
        }
        if rest.contains(['?', '#']) {
            return Err(bad("it must not hold a query or a fragment"));
        }
        let mut base = trimmed.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout_read(REQUEST_TIMEOUT)
            .timeout_write(REQUEST_TIMEOUT)
            .build();
        let stream_agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout_read(STREAM_SILENCE)
            .timeout_write(REQUEST_TIMEOUT)
            .build();
        Ok(Self {
            base,
            token: token.filter(|t| !t.is_empty()),
            agent,
            stream_agent,
            patience: Duration::ZERO,
        })
    }

    /// This client, trying reads again for up to `patience` while the
    /// server cannot be reached (through a tunnel that car re-opens, a
    /// dropped connection is a moment's gap, not an answer). Writes (POST,
    /// DELETE) are never sent twice.
    #[must_use]
    pub fn with_patience(mut self, patience: Duration) -> Self {
        self.patience = patience;
        self
    }

    /// This client, giving up on a request (its connection included) after
    /// `timeout`: for a listing that must not wait long for one server.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.agent = ureq::AgentBuilder::new()
            .timeout_connect(timeout)
            .timeout(timeout)
            .build();
        self
    }

    /// `call`, tried again while the server is unreachable, for up to the
    /// client's patience.
    fn patiently<T>(
        &self,
        mut call: impl FnMut() -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let start = std::time::Instant::now();
        let mut wait = FIRST_RETRY_WAIT;
        loop {
            match call() {
                Err(ClientError::Unreachable { .. }) if start.elapsed() + wait < self.patience => {
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(MAX_RETRY_WAIT);
                }
                other => return other,
            }
        }
    }

    /// The server's URL, ending with `/`.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The repositories the server serves.
    pub fn repos(&self) -> Result<Vec<RepoSummary>, ClientError> {
        self.get("api/v1/repos")
    }

    /// The id of the repository to act on: `wanted` when the server serves
    /// it, else the only one it serves.
    pub fn pick_repo(&self, wanted: Option<&str>) -> Result<String, ClientError> {
        let ids: Vec<String> = self.repos()?.into_iter().map(|r| r.id).collect();
        match (wanted, ids.as_slice()) {
            (Some(w), _) if ids.iter().any(|id| id == w) => Ok(w.to_string()),
            (Some(w), _) => Err(ClientError::UnknownRepo {
                id: w.to_string(),
                ids,
            }),
            (None, []) => Err(ClientError::NoRepo),
            (None, [one]) => Ok(one.clone()),
            (None, _) => Err(ClientError::SeveralRepos { ids }),
        }
    }

    /// `GET path` (relative to the base), its JSON answer as `T`.
    pub(crate) fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = self.full(path);
        self.patiently(|| read_json(self.send(self.agent.get(&url), &url, None)?, &url))
    }

    /// `GET path`, the answer as it is (for a body that is not JSON).
    pub(crate) fn get_raw(&self, path: &str) -> Result<(ureq::Response, String), ClientError> {
        let url = self.full(path);
        let resp = self.patiently(|| self.send(self.agent.get(&url), &url, None))?;
        Ok((resp, url))
    }

    /// `POST path` with a JSON body, its JSON answer as `T`.
    pub(crate) fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        let url = self.full(path);
        let body = serde_json::to_string(body).map_err(|e| ClientError::Protocol {
            url: url.clone(),
            reason: format!("cannot write the request: {e}"),
        })?;
        let resp = self.send(self.agent.post(&url), &url, Some(&body))?;
        read_json(resp, &url)
    }

    /// `DELETE path`, its JSON answer as `T`.
    pub(crate) fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = self.full(path);
        let resp = self.send(self.agent.delete(&url), &url, None)?;
        read_json(resp, &url)
    }

    /// Opens the event stream at `path`, resuming after `last_id`.
    pub(crate) fn open_stream(
        &self,
        path: &str,
        last_id: Option<&str>,
    ) -> Result<ureq::Response, ClientError> {
        let url = self.full(path);
        let resp = self.patiently(|| {
            let mut req = self
                .stream_agent
                .get(&url)
                .set("Accept", "text/event-stream");
            if let Some(id) = last_id {
                req = req.set("Last-Event-ID", id);
            }
            self.send(req, &url, None)
        })?;
        let ct = resp.content_type().to_string();
        if !ct.starts_with("text/event-stream") {
            return Err(ClientError::Protocol {
                url,
                reason: format!("expected an event stream, got {ct:?}"),
            });
        }
        Ok(resp)
    }

    fn full(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn send(
        &self,
        mut req: ureq::Request,
        url: &str,
        body: Option<&str>,
    ) -> Result<ureq::Response, ClientError> {
        if let Some(t) = &self.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let result = match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(b),
            None => req.call(),
        };
        match result {
            Ok(resp) => Ok(resp),
            Err(ureq::Error::Status(status, resp)) => Err(api_error(status, resp)),
            Err(ureq::Error::Transport(t)) => Err(ClientError::Unreachable {
                url: self.base.clone(),
                reason: transport_reason(&t, url),
            }),
        }
    }
}

/// The error answer `resp` as a [`ClientError::Api`].
fn api_error(status: u16, resp: ureq::Response) -> ClientError {
    let status_text = resp.status_text().to_string();
    let text = resp.into_string().unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("error").cloned());
    let field = |k: &str| {
        detail
            .as_ref()
            .and_then(|d| d.get(k))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    ClientError::Api {
        status,
        kind: field("kind").unwrap_or_else(|| "http".to_string()),
        message: field("message").unwrap_or_else(|| {
            let t = text.trim();
            if t.is_empty() {
                status_text
            } else {
                t.chars().take(300).collect()
            }
        }),
        hint: field("hint"),
    }
}

/// Why a request got no answer, in a few words.
fn transport_reason(t: &ureq::Transport, url: &str) -> String {
    use ureq::ErrorKind as K;
    let what = match t.kind() {
        K::ConnectionFailed => "connection refused or failed",
        K::Dns => "unknown host",
        K::Io => "the connection broke or timed out",
        K::InvalidUrl | K::UnknownScheme => "invalid URL",
        _ => "transport error",
    };
    match t.message() {
        Some(m) => format!("{what} ({m}) asking {url}"),
        None => format!("{what} asking {url}"),
    }
}

/// Reads a JSON answer as `T`.
fn read_json<T: DeserializeOwned>(resp: ureq::Response, url: &str) -> Result<T, ClientError> {
    let text = resp.into_string().map_err(|e| ClientError::Protocol {
        url: url.to_string(),
        reason: format!("cannot read the answer: {e}"),
    })?;
    serde_json::from_str(&text).map_err(|e| ClientError::Protocol {
        url: url.to_string(),
        reason: format!("the answer is not what the API says: {e}"),
    })
}

/// `s` as one path segment (percent-encoded but for unreserved bytes).
pub(crate) fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_gets_one_trailing_slash_and_must_be_http() {
        let c = Client::new("http://127.0.0.1:4173", None).unwrap();
        assert_eq!(c.url(), "http://127.0.0.1:4173/");
        let c = Client::new("http://h:1/car/", None).unwrap();
        assert_eq!(c.url(), "http://h:1/car/");
        for bad in ["127.0.0.1:4173", "ftp://h", "http://", "http://h/?x=1"] {
            assert!(
                matches!(Client::new(bad, None), Err(ClientError::BadUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_segment_is_percent_encoded() {
        assert_eq!(seg("my-repo_1.x"), "my-repo_1.x");
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn a_server_that_is_not_there_is_unreachable() {
        // A port just released: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let c = Client::new(&format!("http://127.0.0.1:{port}"), None).unwrap();
        let err = c.repos().unwrap_err();
        assert!(
            matches!(&err, ClientError::Unreachable { reason, .. } if reason.contains("refused")),
            "{err}"
        );
    }

    /// A port nothing listens on yet.
    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port()
    }

    /// Listens on `port` after `delay`, answering each request with an
    /// empty repository list; counts the requests.
    fn late_server(port: u16, delay: Duration) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
        use std::io::{BufRead, BufReader, Write};
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
            for conn in listener.incoming() {
                let mut conn = conn.unwrap();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 2 {
                    line.clear();
                }
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n[]"
                );
            }
        });
        count
    }

    #[test]
    fn a_patient_client_reads_again_until_the_server_is_back_but_never_writes_twice() {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let impatient = Client::new(&url, None).unwrap();
        let patient = Client::new(&url, None)
            .unwrap()
            .with_patience(Duration::from_secs(20));
        // A write while nothing listens fails at once, sent once.
        let t = std::time::Instant::now();
        let err = patient
            .post::<serde_json::Value>("api/v1/x", &serde_json::json!({}))
            .unwrap_err();
        assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert!(impatient.repos().is_err());

        let count = late_server(port, Duration::from_millis(400));
        assert!(patient.repos().unwrap().is_empty());
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
