//! A hub listing other machines' repositories beside its own: `GET
//! /api/v1/machines`, the hub page's Machines section and `car hub
//! status`. A real remote in a network namespace reached through the
//! tunnel `car remote up` opens; and local servers reached by
//! `direct_addr` for the errors (a wrong token, an unset token variable,
//! nothing listening, a server that never answers).

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Run, TestEnv};
use crate::hub_common::hub_of;
use crate::netns::{RemoteHost, RemoteServe};
use crate::remote_local::{TOKEN as MACHINE_TOKEN, TOKEN_ENV as MACHINE_TOKEN_ENV, json};
use crate::serve_client::{Server, TOKEN};

/// The machine named `name` in a listing.
fn machine<'a>(list: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no machine {name} in {list:#}"))
}

/// `car ARGS` in the hub with `vars`.
fn car_with(hub: &TestEnv, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut c = hub.car(args);
    c.envs(vars.iter().copied());
    c
}

/// Closes the hub's tunnel to `box` when the test ends, passed or failed.
struct TunnelDown<'a>(&'a TestEnv);

impl Drop for TunnelDown<'_> {
    fn drop(&mut self) {
        let _ = self.0.car(&["remote", "down", "box"]).output();
    }
}

#[test]
fn the_hub_lists_the_remotes_repos_through_the_tunnel_and_a_machine_without_one() {
    let Some(host) = RemoteHost::start("hub_machines") else {
        return;
    };
    let remote = TestEnv::new();
    remote.todo("- [x] a\n- [ ] b\n- [ ] c\n");
    remote.script("wait-file go 60\ncheck-todo\n");
    let _serve = RemoteServe::start(&host, &remote, MACHINE_TOKEN_ENV, MACHINE_TOKEN);

    let hub = hub_of(&["alpha"], "- [ ] one\n");
    let vars = [(MACHINE_TOKEN_ENV, MACHINE_TOKEN)];
    for name in ["box", "nobox"] {
        let args = host.add_args(name, MACHINE_TOKEN_ENV);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Run(car_with(&hub, &args, &vars).output().unwrap()).expect_code(0);
    }
    let _down = TunnelDown(&hub);
    let up = Run(car_with(&hub, &["remote", "up", "box"], &vars)
        .output()
        .unwrap());
    up.expect_code(0);
    let url = up.stdout().trim().to_string();

    // The remote's loop runs (started through its server, in the namespace).
    let remote_id = remote
        .root
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let started = ureq::post(&format!("{url}api/v1/repos/{remote_id}/loop/run"))
        .set("Authorization", &format!("Bearer {MACHINE_TOKEN}"))
        .timeout(Duration::from_secs(30))
        .call();
    assert!(started.is_ok(), "{started:?}");
    remote.wait_for("the remote's run 1", Duration::from_secs(30), || {
        remote.agent_runs() == 1
    });

    let server = Server::start_with_vars(&hub, Some(TOKEN), &[], &vars).unwrap();
    let t = Instant::now();
    let local = server.get("api/v1/repos");
    assert_eq!(local.status, 200, "{}", local.body);
    assert_eq!(local.json()[0]["id"], "alpha");
    let list = server.get("api/v1/machines");
    eprintln!("GET /api/v1/machines: {} ms", t.elapsed().as_millis());
    assert_eq!(list.status, 200, "{}", list.body);
    let list = list.json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["box", "nobox"]);
    let b = machine(&list, "box");
    assert_eq!(b["url"], url.as_str());
    assert_eq!(b["reachable"], true, "{b:#}");
    assert!(b["error"].is_null(), "{b:#}");
    assert!(b["latency_ms"].as_u64().is_some());
    let r = &b["repos"][0];
    assert_eq!(r["id"], remote_id.as_str());
    assert_eq!(r["state"], "running", "{r:#}");
    assert_eq!(
        (r["todo_done"].as_u64(), r["todo_total"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(r["run"]["id"], 1);
    assert_eq!(r["run"]["in_progress"], true);
    let n = machine(&list, "nobox");
    assert_eq!(n["reachable"], false);
    assert!(n["url"].is_null());
    assert_eq!(n["error"], "tunnel down — `car remote up nobox`");
    assert_eq!(n["repos"], serde_json::json!([]));

    // The hub page names the machines at once; its fragment lists them.
    let page = server.get("");
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"id="machines""#), "{}", page.body);
    assert!(page.body.contains("checking…"));
    let frag = server.get("ui/fragments/machines");
    assert_eq!(frag.status, 200);
    assert!(
        frag.body.contains(&format!("box:{remote_id}")),
        "{}",
        frag.body
    );
    assert!(frag.body.contains("reachable · "));
    // (the page escapes its slashes)
    let host_port = url.trim_start_matches("http://").trim_end_matches('/');
    assert!(frag.body.contains(host_port), "{}", frag.body);
    assert!(frag.body.contains("tunnel down — `car remote up nobox`"));

    // `car hub status`: the remote's repo after the local one, prefixed.
    let status = Run(car_with(&hub, &["hub", "status"], &vars).output().unwrap());
    status.expect_code(0);
    let out = status.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("alpha "), "{lines:?}");
    let remote_line = format!("box:{remote_id}");
    assert!(
        lines[1].starts_with(&remote_line)
            && lines[1].contains("running")
            && lines[1].contains("1/3"),
        "{lines:?}"
    );
    assert_eq!(lines[2], "nobox: ! tunnel down — `car remote up nobox`");
    assert!(lines.iter().all(|l| l.chars().count() <= 60), "{lines:?}");
    let status = Run(car_with(&hub, &["hub", "status", "--json"], &vars)
        .output()
        .unwrap());
    status.expect_code(0);
    let v = json(&status.stdout());
    assert_eq!(v["repos"][0]["id"], "alpha");
    assert_eq!(
        machine(&v["machines"], "box")["repos"][0]["state"],
        "running"
    );

    // The remote's loop ends: the next listing says so.
    remote.write("go", "");
    remote.wait_for("the remote's loop to stop", Duration::from_secs(30), || {
        machine(&server.get("api/v1/machines").json(), "box")["repos"][0]["state"] != "running"
    });
    let list = server.get("api/v1/machines").json();
    let r = &machine(&list, "box")["repos"][0];
    // (each run ticks one item: the loop ends with all done)
    assert_eq!(r["state"], "stopped", "{r:#}");
    assert_eq!(r["todo_done"], 3, "{r:#}");
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn machines_with_a_wrong_token_no_token_or_no_answer_are_listed_with_their_error() {
    let remote = TestEnv::new();
    remote.todo("- [ ] a\n");
    let remote_server = Server::start(&remote, &[]);
    // Accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();

    let hub = hub_of(&["alpha"], "- [ ] one\n");
    let p = remote_server.port;
    let machines = format!(
        "machines:\n  good:\n    ssh: car@localhost\n    direct_addr: 127.0.0.1:{p}\n    token_env: GOOD_TOKEN\n  \
         wrong:\n    ssh: car@localhost\n    direct_addr: 127.0.0.1:{p}\n    token_env: WRONG_TOKEN\n  \
         unset:\n    ssh: car@localhost\n    direct_addr: 127.0.0.1:{p}\n    token_env: UNSET_TOKEN\n  \
         closed:\n    ssh: car@localhost\n    direct_addr: 127.0.0.1:{}\n",
        closed_port()
    );
    let silent_entry =
        format!("  silent:\n    ssh: car@localhost\n    direct_addr: 127.0.0.1:{silent_port}\n");
    hub.write("codex-autorunner.yml", &format!("{machines}{silent_entry}"));
    let vars = [("GOOD_TOKEN", TOKEN), ("WRONG_TOKEN", "not-the-token")];
    let server = Server::start_with_vars(&hub, Some(TOKEN), &[], &vars).unwrap();

    // The local list and the page do not wait for the machines.
    let t = Instant::now();
    assert_eq!(server.get("api/v1/repos").status, 200);
    assert_eq!(server.get("").status, 200);
    let local_took = t.elapsed();
    assert!(local_took < Duration::from_secs(2), "{local_took:?}");

    // All machines at once: the silent one costs one timeout (3 s).
    let t = Instant::now();
    let list = server.get("api/v1/machines");
    let took = t.elapsed();
    eprintln!(
        "GET /api/v1/machines with a silent machine: {} ms",
        took.as_millis()
    );
    assert!(took < Duration::from_millis(5500), "{took:?}");
    assert_eq!(list.status, 200, "{}", list.body);
    let list = list.json();
    let good = machine(&list, "good");
    assert_eq!(good["reachable"], true, "{good:#}");
    assert_eq!(good["repos"][0]["state"], "idle");
    assert_eq!(good["repos"][0]["todo_total"], 1);
    let wrong = machine(&list, "wrong");
    assert_eq!(wrong["reachable"], true);
    assert_eq!(
        wrong["error"],
        "401 wrong token: the server refused the token in WRONG_TOKEN"
    );
    assert_eq!(
        machine(&list, "unset")["error"],
        "401: the server wants a token and UNSET_TOKEN is not set (machine unset's token_env)"
    );
    let closed = machine(&list, "closed");
    assert_eq!(closed["reachable"], false);
    assert!(
        closed["error"]
            .as_str()
            .unwrap()
            .starts_with("unreachable: connection refused"),
        "{closed:#}"
    );
    assert_eq!(
        machine(&list, "silent")["error"],
        format!("unreachable: no answer from http://127.0.0.1:{silent_port}/ within 3 s").as_str()
    );

    // (The silent machine is taken out: the rest need not wait for it.)
    hub.write("codex-autorunner.yml", &machines);

    // Nothing of the machines without the hub's token.
    assert_eq!(server.send("GET", "api/v1/machines", &[], None).status, 401);
    assert_eq!(
        server
            .send("GET", "ui/fragments/machines", &[], None)
            .status,
        401
    );

    // The page's fragment shows each error.
    let frag = server.get("ui/fragments/machines").body;
    assert!(frag.contains("401 wrong token"), "{frag}");
    assert!(frag.contains("UNSET_TOKEN is not set"));

    // `car hub status` with the same variables.
    let status = Run(car_with(&hub, &["hub", "status", "--wide"], &vars)
        .output()
        .unwrap());
    status.expect_code(0);
    let out = status.stdout();
    assert!(out.starts_with("alpha "), "{out}");
    assert!(
        out.contains("wrong: ! 401 wrong token: the server refused the token in WRONG_TOKEN\n"),
        "{out}"
    );
    assert!(out.contains("\ngood:"), "{out}");

    // A broken machines config: the local status still prints, the error names the key.
    hub.write(
        "codex-autorunner.yml",
        "machines:\n  bad:\n    ssh: car@localhost\n    port: 70000\n",
    );
    let status = Run(car_with(&hub, &["hub", "status", "--wide"], &vars)
        .output()
        .unwrap());
    status.expect_code(0);
    let out = status.stdout();
    assert!(out.starts_with("alpha "), "{out}");
    assert!(
        out.contains("`machines.bad.port` must be a port number"),
        "{out}"
    );
    let api = server.get("api/v1/machines");
    assert_eq!(api.status, 500);
    assert!(api.body.contains("machines.bad.port"), "{}", api.body);
    drop(silent);
}

#[test]
fn a_hub_without_machines_lists_none_and_its_page_has_no_machines_section() {
    let hub = hub_of(&["alpha"], "- [ ] one\n");
    let server = Server::start(&hub, &[]);
    let list = server.get("api/v1/machines");
    assert_eq!((list.status, list.json()), (200, serde_json::json!([])));
    let page = server.get("");
    assert_eq!(page.status, 200);
    assert!(!page.body.contains(r#"id="machines""#), "{}", page.body);
    let status = hub.run(&["hub", "status", "--json"]);
    status.expect_code(0);
    let v = json(&status.stdout());
    assert_eq!(v["machines"], serde_json::json!([]));
    assert!(v["machines_error"].is_null());
    let text = hub.run(&["hub", "status"]);
    text.expect_code(0);
    assert_eq!(text.stdout().lines().count(), 1, "{}", text.stdout());
}
