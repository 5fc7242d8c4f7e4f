//! `car remote` against a second host on this machine (a network namespace
//! running sshd and `car serve`, see netns.rs), through the real ssh
//! client: `remote check` and `remote ssh`; a machine whose ssh refuses the
//! key; a machine reached directly (`direct_addr`).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Run, TestEnv, alive};
use crate::netns::{RemoteHost, RemoteServe};
use crate::remote_local::{Local, TOKEN, TOKEN_ENV, healthy, json};

#[test]
fn remote_check_reports_ssh_car_and_the_servers_health() {
    let Some(host) = RemoteHost::start("remote_check") else {
        return;
    };
    let remote = TestEnv::new();
    let serve = RemoteServe::start(&host, &remote, TOKEN_ENV, TOKEN);
    let local = Local::new(&host, "box");

    let list = local.run(&["remote", "list", "--json"]);
    list.expect_code(0);
    let list = json(&list.stdout());
    assert_eq!(list[0]["name"], "box");
    assert_eq!(list[0]["ssh"], format!("{}@{}", host.user, host.addr));
    assert_eq!(list[0]["remote_port"], 4173);
    assert_eq!(list[0]["token_env"], TOKEN_ENV);
    assert!(list[0]["tunnel"].is_null());

    let version = local.run(&["--version"]).stdout();
    let check = local.run(&["remote", "check", "box", "--json"]);
    check.expect_code(0);
    let c = json(&check.stdout());
    assert_eq!(c["machine"], "box");
    assert_eq!(c["ok"], true, "{c}");
    assert_eq!(c["ssh_reachable"], true);
    assert_eq!(c["car_present"], true);
    assert_eq!(
        c["car_version"].as_str().unwrap(),
        version.trim().trim_start_matches("car ")
    );
    assert_eq!(c["via"], "tunnel");
    assert_eq!(c["health_ok"], true);
    assert!(c["ssh_latency_ms"].as_u64().is_some(), "{c}");
    assert!(c["health_latency_ms"].as_u64().is_some(), "{c}");
    let text = local.run(&["remote", "check", "box"]);
    text.expect_code(0);
    assert!(
        text.stdout().contains("ok   server /health (tunnel): car "),
        "{}",
        text.stdout()
    );

    // The server stopped: ssh and car still answer, /health does not (quickly).
    serve.stop();
    let started = Instant::now();
    let check = local.run(&["remote", "check", "box", "--json"]);
    check.expect_code(1);
    let c = json(&check.stdout());
    assert_eq!(
        (c["ok"].clone(), c["ssh_reachable"].clone()),
        (false.into(), true.into())
    );
    assert_eq!(c["health_ok"], false);
    assert!(
        c["health_error"].as_str().unwrap().contains("no answer"),
        "{c}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // `remote ssh`: the command's output and exit code; with forward_agent,
    // the local agent reaches the command.
    let ssh = local.run(&[
        "remote",
        "ssh",
        "box",
        "--cmd",
        "echo hi from $(hostname); exit 3",
    ]);
    ssh.expect_code(3);
    assert!(ssh.stdout().starts_with("hi from "), "{}", ssh.stdout());
    let agent_sock = local.env.home.join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&agent_sock)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !agent_sock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let probe = r#"test -n "$SSH_AUTH_SOCK" && echo agent forwarded || echo no agent"#;
    let without = Run(local
        .car(&["remote", "ssh", "box", "--cmd", probe])
        .env("SSH_AUTH_SOCK", &agent_sock)
        .output()
        .unwrap());
    assert_eq!(without.stdout(), "no agent\n", "{}", without.stderr());
    let user_file = local.env.home.join(".config/car/config.yml");
    let text = std::fs::read_to_string(&user_file).unwrap();
    std::fs::write(
        &user_file,
        text.replace(
            "remote_port: 4173",
            "remote_port: 4173\n    forward_agent: true",
        ),
    )
    .unwrap();
    let with = Run(local
        .car(&["remote", "ssh", "box", "--cmd", probe])
        .env("SSH_AUTH_SOCK", &agent_sock)
        .output()
        .unwrap());
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(with.stdout(), "agent forwarded\n", "{}", with.stderr());

    // A name that cannot be a machine's: nothing is written.
    let before = std::fs::read_to_string(&user_file).unwrap();
    let bad_name = local.run(&["remote", "add", "../x", "--ssh", "h"]);
    bad_name.expect_code(2);
    assert!(
        bad_name
            .stderr()
            .contains("`machines.../x` \"../x\" is not a machine name"),
        "{}",
        bad_name.stderr()
    );
    assert_eq!(std::fs::read_to_string(&user_file).unwrap(), before);

    // A machine that does not exist, and a bad entry.
    let nope = local.run(&["remote", "check", "nope"]);
    nope.expect_code(2);
    assert!(
        nope.stderr().contains("no machine named `nope`"),
        "{}",
        nope.stderr()
    );
    let user_file = local.env.home.join(".config/car/config.yml");
    let text = std::fs::read_to_string(&user_file).unwrap();
    std::fs::write(
        &user_file,
        text.replace("remote_port: 4173", "remote_port: lots"),
    )
    .unwrap();
    let bad = local.run(&["remote", "list"]);
    bad.expect_code(2);
    assert!(
        bad.stderr().contains(&format!(
            "{}: `machines.box.remote_port` must be a port number",
            user_file.display()
        )),
        "{}",
        bad.stderr()
    );
}

#[test]
fn a_machine_ssh_refuses_fails_clearly_and_a_direct_addr_needs_no_tunnel() {
    let Some(host) = RemoteHost::start("machine_refused_direct") else {
        return;
    };
    let remote = TestEnv::new();
    let _serve = RemoteServe::start_on(&host, &remote, TOKEN_ENV, TOKEN, &host.addr, 4174);
    let local = Local::new(&host, "box");

    // A key the machine does not know: `up` fails with ssh's words, nothing runs on.
    let key = local.env.home.join("stranger_key");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(keygen.success());
    let mut args = host.add_args("stranger", TOKEN_ENV);
    let at = args.iter().position(|a| a == "--identity-file").unwrap();
    args[at + 1] = key.display().to_string();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    local.run(&args).expect_code(0);
    let up = local.run(&["remote", "up", "stranger"]);
    up.expect_code(1);
    assert!(
        up.stderr().contains("cannot open the tunnel to stranger")
            && up.stderr().contains("Permission denied"),
        "{}",
        up.stderr()
    );
    assert!(up.stdout().is_empty(), "{}", up.stdout());
    assert!(local.state("stranger").is_none());
    let log = local.log("stranger");
    let pids: Vec<i32> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(json)
        .flat_map(|e| [e["supervisor_pid"].as_i64(), e["tunnel_pid"].as_i64()])
        .flatten()
        .map(|p| p as i32)
        .collect();
    assert!(!pids.is_empty(), "{log}");
    for pid in pids {
        assert!(!alive(pid), "{pid} runs on: {log}");
    }
    let check = local.run(&["remote", "check", "stranger", "--json"]);
    check.expect_code(1);
    let c = json(&check.stdout());
    assert_eq!(c["ssh_reachable"], false);
    assert!(
        c["ssh_error"]
            .as_str()
            .unwrap()
            .contains("Permission denied"),
        "{c}"
    );

    // direct_addr: the server on the machine's address, no tunnel.
    let direct = format!("{}:4174", host.addr);
    let mut args = host.add_args("direct", TOKEN_ENV);
    args.push(format!("--direct-addr={direct}"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    local.run(&args).expect_code(0);
    let check = local.run(&["remote", "check", "direct", "--json"]);
    check.expect_code(0);
    let c = json(&check.stdout());
    assert_eq!(
        (c["via"].clone(), c["health_ok"].clone()),
        ("direct".into(), true.into()),
        "{c}"
    );
    let up = local.run(&["remote", "up", "direct"]);
    up.expect_code(0);
    assert_eq!(up.stdout(), format!("http://{direct}/\n"));
    let status = local.run(&["--machine", "direct", "status", "--json"]);
    status.expect_code(0);
    assert_eq!(json(&status.stdout())["running"], false);
    assert!(
        local.state("direct").is_none(),
        "no tunnel for a direct machine"
    );
}

#[test]
fn a_machine_whose_server_has_a_base_path_is_checked_tunnelled_and_used_under_it() {
    let Some(host) = RemoteHost::start("remote_base") else {
        return;
    };
    let remote = TestEnv::new();
    remote.config("server:\n  base_path: /car\n");
    let _serve = RemoteServe::start(&host, &remote, TOKEN_ENV, TOKEN);
    let local = Local::new(&host, "box");
    // Without the base path, /health is not there: check says so.
    let check = local.run(&["remote", "check", "box", "--json"]);
    check.expect_code(1);
    let c = json(&check.stdout());
    assert_eq!(c["health_ok"], false, "{c}");

    let mut args = host.add_args("box", TOKEN_ENV);
    args.extend(["--base-path".into(), "car/".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    local.run(&args).expect_code(0);
    let list = json(&local.run(&["remote", "list", "--json"]).stdout());
    assert_eq!(list[0]["base_path"], "/car", "{list}");
    let check = local.run(&["remote", "check", "box", "--json"]);
    check.expect_code(0);
    assert_eq!(json(&check.stdout())["health_ok"], true);

    let up = local.run(&["remote", "up", "box"]);
    up.expect_code(0);
    let url = up.stdout().trim().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/car/"),
        "{url}"
    );
    assert!(healthy(&url));
    let status = local.run(&["--machine", "box", "status", "--json"]);
    status.expect_code(0);
    assert_eq!(json(&status.stdout())["running"], false);
}
