//! `http-load URL SECONDS CONNECTIONS [HEADER...]`: requests per second on
//! one `GET`, for `scripts/bench_server.py`.
//!
//! Each of CONNECTIONS threads opens one keep-alive HTTP/1.1 connection and
//! sends `GET URL` on it, one request after the other, for SECONDS seconds,
//! reading each whole answer (`Content-Length` or chunked) before the next.
//! A HEADER is a `Name: value` line added to every request. On stdout, one
//! JSON line: `{"requests", "non_200", "errors", "seconds", "rps", "p50_ms",
//! "p99_ms"}` (`rps` counts 200 answers only). Exit 2 on bad arguments or
//! when no connection can be opened.
//!
//! A Python client would measure itself: a few threads under one
//! interpreter lock make a few thousand requests a second at most.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// What one connection did.
#[derive(Default)]
struct Tally {
    ok: u64,
    non_200: u64,
    errors: u64,
    latencies_us: Vec<u64>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(secs), Some(conns)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("usage: http-load URL SECONDS CONNECTIONS [HEADER...]");
        return ExitCode::from(2);
    };
    let (Ok(secs), Ok(conns)) = (secs.parse::<f64>(), conns.parse::<usize>()) else {
        eprintln!("http-load: SECONDS must be a number and CONNECTIONS an integer");
        return ExitCode::from(2);
    };
    let Some((addr, path)) = split_url(url) else {
        eprintln!("http-load: {url}: only http://HOST:PORT/PATH URLs");
        return ExitCode::from(2);
    };
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for h in &args[3..] {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let handles: Vec<_> = (0..conns.max(1))
        .map(|_| {
            let (addr, request) = (addr.clone(), request.clone());
            std::thread::spawn(move || run(&addr, request.as_bytes(), deadline))
        })
        .collect();
    let tallies: Vec<Option<Tally>> = handles
        .into_iter()
        .map(|h| h.join().unwrap_or_default())
        .collect();
    let elapsed = start.elapsed().as_secs_f64();
    if tallies.iter().all(Option::is_none) {
        eprintln!("http-load: cannot connect to {addr}");
        return ExitCode::from(2);
    }
    let mut all = Tally::default();
    for t in tallies.into_iter().flatten() {
        all.ok += t.ok;
        all.non_200 += t.non_200;
        all.errors += t.errors;
        all.latencies_us.extend(t.latencies_us);
    }
    all.latencies_us.sort_unstable();
    let pct = |p: f64| {
        let v = &all.latencies_us;
        if v.is_empty() {
            return 0.0;
        }
        let i = ((v.len() - 1) as f64 * p).round() as usize;
        v[i] as f64 / 1000.0
    };
    println!(
        "{{\"requests\":{},\"non_200\":{},\"errors\":{},\"seconds\":{elapsed:.3},\"rps\":{:.1},\"p50_ms\":{:.3},\"p99_ms\":{:.3}}}",
        all.ok + all.non_200,
        all.non_200,
        all.errors,
        all.ok as f64 / elapsed,
        pct(0.5),
        pct(0.99)
    );
    ExitCode::SUCCESS
}

/// `http://HOST:PORT/PATH` → (`HOST:PORT`, `/PATH`).
fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    Some((addr.to_string(), path.to_string()))
}

/// One connection's requests until `deadline`; `None` when it never opened.
/// A connection the server closes is opened again (counted as an error).
fn run(addr: &str, request: &[u8], deadline: Instant) -> Option<Tally> {
    let mut tally = Tally::default();
    let mut conn = BufReader::new(TcpStream::connect(addr).ok()?);
    let _ = conn.get_ref().set_nodelay(true);
    while Instant::now() < deadline {
        let t0 = Instant::now();
        let status = conn
            .get_mut()
            .write_all(request)
            .and_then(|()| read_answer(&mut conn));
        match status {
            Ok(code) => {
                tally
                    .latencies_us
                    .push(u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX));
                if code == 200 {
                    tally.ok += 1;
                } else {
                    tally.non_200 += 1;
                }
            }
            Err(_) => {
                tally.errors += 1;
                conn = BufReader::new(TcpStream::connect(addr).ok()?);
                let _ = conn.get_ref().set_nodelay(true);
            }
        }
    }
    Some(tally)
}

/// Reads one answer; returns its status code.
fn read_answer(conn: &mut BufReader<TcpStream>) -> std::io::Result<u16> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut line = String::new();
    if conn.read_line(&mut line)? == 0 {
        return Err(bad("connection closed"));
    }
    let code = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let (mut length, mut chunked) = (None, false);
    loop {
        line.clear();
        if conn.read_line(&mut line)? == 0 {
            return Err(bad("connection closed in the headers"));
        }
        let h = line.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':').unwrap_or((h, ""));
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<u64>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        }
    }
    if chunked {
        loop {
            line.clear();
            conn.read_line(&mut line)?;
            let size = u64::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| bad("bad chunk size"))?;
            skip(conn, size + 2)?;
            if size == 0 {
                return Ok(code);
            }
        }
    }
    skip(conn, length.ok_or_else(|| bad("no Content-Length"))?)?;
    Ok(code)
}

fn skip(conn: &mut BufReader<TcpStream>, n: u64) -> std::io::Result<()> {
    let copied = std::io::copy(&mut conn.by_ref().take(n), &mut std::io::sink())?;
    if copied == n {
        Ok(())
    } else {
        Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof))
    }
}
