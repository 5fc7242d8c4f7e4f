//! The hub page's Machines section in a browser: another machine's
//! repository with its question, a machine whose tunnel is down and one
//! whose token variable is unset; it fits a phone and a desk with no
//! console error and no serious axe violation.

use std::path::Path;
use std::time::Duration;

use crate::browser::{browser_ready, flow};
use crate::common::TestEnv;
use crate::hub_common::hub_of;
use crate::serve_client::{Server, TOKEN, read_until};
use crate::serve_sessions::fresh_link;

#[test]
fn the_hub_page_shows_each_machines_repos_or_its_error_on_a_phone_and_a_desk() {
    if !browser_ready() {
        return;
    }
    // The other machine: a repository whose agent asked something.
    let remote = TestEnv::new();
    remote.todo("- [ ] set up the database\n- [ ] write the migration\n");
    remote.script("out NEED_INPUT: Which database should the queue use, Postgres or SQLite?\n");
    let remote_server = Server::start(&remote, &[]);
    let id = remote
        .root
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let events = remote_server.stream(&id, "", &[]);
    let started = remote_server.post(
        &format!("api/v1/repos/{id}/loop/run"),
        &serde_json::json!({}),
    );
    assert_eq!(started.status, 202, "{}", started.body);
    read_until(&events, Duration::from_secs(60), |k, d| {
        k == "event" && d["type"] == "stopped"
    });

    let hub = hub_of(&["alpha"], "- [ ] one\n");
    hub.write(
        "codex-autorunner.yml",
        &format!(
            "machines:\n  gpu-box:\n    ssh: car@localhost\n    direct_addr: 127.0.0.1:{}\n    token_env: GPU_TOKEN\n  \
             lab:\n    ssh: car@lab.example.org\n  \
             vm:\n    ssh: car@localhost\n    direct_addr: 127.0.0.1:{}\n    token_env: A_VERY_LONG_NAME_FOR_THE_SERVER_TOKEN_OF_THE_VM\n",
            remote_server.port, remote_server.port
        ),
    );
    let server = Server::start_with_vars(&hub, Some(TOKEN), &[], &[("GPU_TOKEN", TOKEN)]).unwrap();
    let got = flow("machines", &server, &fresh_link(&server), &[]);
    for c in got["checks"].as_array().unwrap() {
        assert_eq!(c["overflow"], false, "{c:#}");
        assert_eq!(c["axe"], serde_json::json!([]), "{c:#}");
        assert!(Path::new(c["screenshot"].as_str().unwrap()).exists());
    }
    let m = &got["machines"];
    assert_eq!(m[0]["name"], "gpu-box");
    assert!(
        m[0]["badge"].as_str().unwrap().starts_with("reachable · "),
        "{m:#}"
    );
    assert_eq!(
        m[0]["url"],
        format!("http://127.0.0.1:{}/", remote_server.port).as_str()
    );
    let repo = &m[0]["repos"][0];
    assert_eq!(repo["id"], format!("gpu-box:{id}").as_str());
    let text = repo["text"].as_str().unwrap();
    assert!(text.contains("waiting for input"), "{text}");
    assert!(text.contains("TODO 0/2"), "{text}");
    assert!(
        text.contains("Which database should the queue use"),
        "{text}"
    );
    assert_eq!(m[1]["name"], "lab");
    assert_eq!(m[1]["badge"], "unreachable");
    assert_eq!(m[1]["error"], "tunnel down — `car remote up lab`");
    assert_eq!(m[2]["name"], "vm");
    assert_eq!(m[2]["badge"], "refused");
    assert!(
        m[2]["error"]
            .as_str()
            .unwrap()
            .contains("A_VERY_LONG_NAME_FOR_THE_SERVER_TOKEN_OF_THE_VM is not set"),
        "{m:#}"
    );
}
