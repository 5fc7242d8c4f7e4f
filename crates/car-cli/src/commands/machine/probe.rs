//! A short `GET /health` of a server (a few seconds at most, unlike the
//! API client's long timeouts), and a free local port.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// What `/health` answered.
pub(crate) struct Healthy {
    /// The server's car version.
    pub(crate) version: String,
    /// How long the request took.
    pub(crate) latency: Duration,
}

/// Why `/health` did not answer.
pub(crate) struct NoHealth {
    /// Whether something accepted the connection (ssh's forward: then the
    /// server behind it is what does not answer).
    pub(crate) connected: bool,
    pub(crate) message: String,
}

/// `GET path` (a server's `/health` under its base path) of the server at
/// `addr`, within `timeout`.
pub(crate) fn health_at(addr: &str, path: &str, timeout: Duration) -> Result<Healthy, String> {
    try_health_at(addr, path, timeout).map_err(|e| e.message)
}

fn try_health_at(addr: &str, path: &str, timeout: Duration) -> Result<Healthy, NoHealth> {
    let before = |message: String| NoHealth {
        connected: false,
        message,
    };
    let after = |message: String| NoHealth {
        connected: true,
        message,
    };
    let started = Instant::now();
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| before(format!("cannot resolve {addr}: {e}")))?
        .next()
        .ok_or_else(|| before(format!("cannot resolve {addr}")))?;
    let mut s = TcpStream::connect_timeout(&sock, timeout)
        .map_err(|e| before(format!("cannot connect to {addr}: {e}")))?;
    s.set_read_timeout(Some(timeout))
        .and_then(|()| s.set_write_timeout(Some(timeout)))
        .map_err(|e| after(e.to_string()))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
    )
    .map_err(|e| after(format!("cannot send to {addr}: {e}")))?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .map_err(|e| after(format!("no answer from {addr}: {e}")))?;
    let latency = started.elapsed();
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| {
        after(format!(
            "no answer from the server behind {addr} (the connection was closed: is `car \
                 serve` running there, on this port?)"
        ))
    })?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(after(format!("{addr}{path} answered {status}")));
    }
    // A chunked body holds the JSON between its size lines.
    let json = body
        .find('{')
        .and_then(|a| body.rfind('}').map(|b| &body[a..=b]))
        .unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|_| after(format!("{addr}{path} is not a car server's: {body:.80}")))?;
    Ok(Healthy {
        version: v["version"].as_str().unwrap_or("").to_string(),
        latency,
    })
}

/// A port on 127.0.0.1 that nothing listens on now.
pub(crate) fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Answers in a row from the port without the server's: the forward is up
/// and the server behind it does not answer.
const NO_SERVER_TRIES: u32 = 5;

/// Polls [`health`] until it answers or `within` has passed; stops early
/// when `gone` says the thing behind the port (ssh) has ended, and when
/// the port answers but the server behind it does not, again and again.
pub(crate) fn wait_healthy(
    addr: &str,
    path: &str,
    within: Duration,
    mut gone: impl FnMut() -> Option<String>,
) -> Result<Healthy, String> {
    let deadline = Instant::now() + within;
    let mut no_server = 0;
    loop {
        let last = match try_health_at(addr, path, Duration::from_secs(5)) {
            Ok(h) => return Ok(h),
            Err(e) => e,
        };
        if let Some(why) = gone() {
            return Err(why);
        }
        no_server = if last.connected { no_server + 1 } else { 0 };
        if Instant::now() >= deadline || no_server >= NO_SERVER_TRIES {
            return Err(last.message);
        }
        std::thread::sleep(Duration::from_millis(if last.connected { 100 } else { 25 }));
    }
}
