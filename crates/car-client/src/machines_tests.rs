//! The listing's errors and its timeout, against small servers on 127.0.0.1.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use car_core::machine::{Machine, TunnelState};

use super::*;

fn machine(name: &str, direct: Option<String>, token_env: &str) -> Machine {
    Machine {
        name: name.into(),
        ssh: format!("car@{name}"),
        port: None,
        identity_file: None,
        remote_port: 4173,
        token_env: token_env.into(),
        direct_addr: direct,
        forward_agent: false,
        ssh_options: Vec::new(),
        base_path: String::new(),
        source: PathBuf::from("/tmp/config.yml"),
    }
}

fn machines(list: Vec<Machine>) -> Machines {
    Machines {
        by_name: list.into_iter().map(|m| (m.name.clone(), m)).collect(),
        files: Vec::new(),
    }
}

/// A server on 127.0.0.1 answering every request with `status` and
/// `body` (never, when `status` is 0); returns its `host:port` and the
/// Authorization headers it saw.
fn server(status: u16, body: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let auth = seen.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            let mut conn = conn.unwrap();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            let mut header = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                if line.to_ascii_lowercase().starts_with("authorization:") {
                    header = line.trim().to_string();
                }
                line.clear();
            }
            auth.lock().unwrap().push(header);
            if status == 0 {
                held.push(conn); // never answered
                continue;
            }
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, seen)
}

const REPOS: &str = r#"[{"id":"api","root":"/srv/api","running":true,"status":"running","kind":"base","enabled":true,"state":"running","todo_done":2,"todo_total":5,"run":{"id":4,"started_at":null,"age_seconds":30,"in_progress":true},"question":null,"git":null,"error":null,"future_field":1}]"#;
const UNAUTHORIZED: &str =
    r#"{"error":{"kind":"unauthorized","message":"a bearer token is needed","hint":null}}"#;

fn no_tunnels() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn a_machine_without_a_tunnel_says_how_to_open_one_and_is_not_asked() {
    let dir = no_tunnels();
    let list = list_machines(
        &machines(vec![machine("gpu", None, "GPU_TOKEN")]),
        dir.path(),
        &|_| Some("t".into()),
        MACHINE_TIMEOUT,
    );
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "gpu");
    assert_eq!(list[0].url, None);
    assert!(!list[0].reachable);
    assert_eq!(
        list[0].error.as_deref(),
        Some("tunnel down — `car remote up gpu`")
    );
}

#[test]
fn a_live_tunnel_is_asked_at_its_local_url_with_the_token() {
    let dir = no_tunnels();
    let (addr, seen) = server(200, REPOS);
    let url = format!("http://{addr}/");
    TunnelPaths::new(dir.path(), "gpu")
        .write(&TunnelState {
            machine: "gpu".into(),
            local_port: 1,
            url: url.clone(),
            // This process stands for a running supervisor.
            supervisor_pid: std::process::id(),
            tunnel_pid: None,
            open: true,
            retry_count: 0,
            updated_at: "2026-01-01T00:00:00Z".into(),
        })
        .unwrap();
    let list = list_machines(
        &machines(vec![machine("gpu", None, "GPU_TOKEN")]),
        dir.path(),
        &|v| (v == "GPU_TOKEN").then(|| "sekret".to_string()),
        MACHINE_TIMEOUT,
    );
    let m = &list[0];
    assert_eq!(m.url.as_deref(), Some(url.as_str()));
    assert!(m.reachable, "{m:?}");
    assert_eq!(m.error, None);
    assert!(m.latency_ms.is_some());
    assert_eq!(m.repos.len(), 1);
    let r = &m.repos[0];
    assert_eq!((r.id.as_str(), r.state.as_str()), ("api", "running"));
    assert_eq!((r.todo_done, r.todo_total), (Some(2), Some(5)));
    assert_eq!(r.run.as_ref().map(|r| r.id), Some(4));
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        ["Authorization: Bearer sekret"]
    );
}

#[test]
fn a_refused_token_and_an_unset_token_variable_are_told_apart() {
    let dir = no_tunnels();
    let (addr, _) = server(401, UNAUTHORIZED);
    let list = list_machines(
        &machines(vec![
            machine("a-wrong", Some(addr.clone()), "WRONG_TOKEN"),
            machine("b-unset", Some(addr.clone()), "UNSET_TOKEN"),
        ]),
        dir.path(),
        &|v| (v == "WRONG_TOKEN").then(|| "nope".to_string()),
        MACHINE_TIMEOUT,
    );
    assert_eq!(list[0].name, "a-wrong");
    assert!(list[0].reachable);
    assert_eq!(
        list[0].error.as_deref(),
        Some("401 wrong token: the server refused the token in WRONG_TOKEN")
    );
    assert!(list[1].reachable);
    assert_eq!(
        list[1].error.as_deref(),
        Some(
            "401: the server wants a token and UNSET_TOKEN is not set (machine b-unset's token_env)"
        )
    );
    assert!(list.iter().all(|m| m.repos.is_empty()));
}

#[test]
fn a_silent_machine_costs_one_timeout_and_the_others_still_answer() {
    let dir = no_tunnels();
    let (silent1, _) = server(0, "");
    let (silent2, _) = server(0, "");
    let (fast, _) = server(200, REPOS);
    // Nothing listens on a port just released.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let timeout = Duration::from_secs(1);
    let t = Instant::now();
    let list = list_machines(
        &machines(vec![
            machine("closed", Some(closed.clone()), "T"),
            machine("fast", Some(fast), "T"),
            machine("silent1", Some(silent1.clone()), "T"),
            machine("silent2", Some(silent2), "T"),
        ]),
        dir.path(),
        &|_| None,
        timeout,
    );
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(1900),
        "asked one by one: {took:?}"
    );
    let names: Vec<&str> = list.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["closed", "fast", "silent1", "silent2"]);
    assert!(!list[0].reachable);
    let refused = list[0].error.as_deref().unwrap();
    assert!(
        refused.starts_with("unreachable: connection refused"),
        "{refused}"
    );
    assert!(
        list[1].reachable && list[1].repos.len() == 1,
        "{:?}",
        list[1]
    );
    assert!(!list[2].reachable);
    assert_eq!(
        list[2].error.as_deref(),
        Some(format!("unreachable: no answer from http://{silent1}/ within 1 s").as_str())
    );
}
