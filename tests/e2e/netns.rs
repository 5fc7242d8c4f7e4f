//! A second host on this machine: a network namespace joined to this one
//! by a veth pair, running Debian's `sshd` (a generated host key, a
//! generated client key in its authorized_keys, a private sshd_config) and,
//! for each test that asks, `car serve` on the namespace's loopback. The
//! test's side uses the real `ssh` client, through `car remote`.
//!
//! Needs root, `ip netns` and `/usr/sbin/sshd`; without them a test is
//! skipped with a message, unless `CAR_REQUIRE_NETNS=1` (CI sets it), which
//! makes it fail. Everything is removed on drop: the processes in the
//! namespace, the veth pair and the namespace.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::common::{CAR, TestEnv};

const SSHD: &str = "/usr/sbin/sshd";

/// The remote host: a namespace with sshd listening on `addr:22`.
pub(crate) struct RemoteHost {
    dir: tempfile::TempDir,
    pub(crate) ns: String,
    veth: String,
    /// The namespace's address (sshd listens here).
    pub(crate) addr: String,
    sshd: Option<Child>,
    /// The client's private key (its public half is authorized).
    pub(crate) client_key: PathBuf,
    /// A known_hosts file naming the host's key.
    pub(crate) known_hosts: PathBuf,
    /// The user to log in as (the one running the tests).
    pub(crate) user: String,
}

/// Why a namespace cannot be made here, if it cannot.
fn unavailable() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root".into());
    }
    for tool in [SSHD, "/usr/bin/ssh-keygen"] {
        if !Path::new(tool).exists() {
            return Some(format!("no {tool} (apt-get install openssh-server)"));
        }
    }
    if Command::new("ssh").arg("-V").output().is_err() {
        return Some("no ssh client (apt-get install openssh-client)".into());
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(o) if o.status.success() => None,
        _ => Some("`ip netns` does not work here".into()),
    }
}

fn sh(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

static COUNT: AtomicU32 = AtomicU32::new(0);

impl RemoteHost {
    /// A new namespace with sshd, or `None` (with a message) when this
    /// machine cannot make one and `CAR_REQUIRE_NETNS` is not `1`.
    pub(crate) fn start(test: &str) -> Option<Self> {
        if let Some(why) = unavailable() {
            assert!(
                std::env::var("CAR_REQUIRE_NETNS").as_deref() != Ok("1"),
                "CAR_REQUIRE_NETNS=1 but {why}"
            );
            eprintln!("skipped {test}: {why} (needs root, ip netns and openssh-server)");
            return None;
        }
        let n = COUNT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let ns = format!("car-t{pid}-{n}");
        let veth = format!("ct{pid:x}{n}");
        // A /30 of 10.213.0.0/16 of its own.
        let idx = (pid.wrapping_mul(8).wrapping_add(n)) % 16_000;
        let (a, b) = (idx / 64, (idx % 64) * 4);
        let addr = format!("10.213.{a}.{}", b + 1);
        let peer = format!("10.213.{a}.{}", b + 2);
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let user = String::from_utf8_lossy(&Command::new("id").arg("-un").output().unwrap().stdout)
            .trim()
            .to_string();
        for key in ["host_key", "client_key"] {
            sh(
                "ssh-keygen",
                &[
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    key,
                    "-f",
                    &d.join(key).display().to_string(),
                ],
            );
        }
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        // `car` on the remote PATH: the binary under test.
        std::fs::create_dir_all(d.join("bin")).unwrap();
        std::os::unix::fs::symlink(CAR, d.join("bin/car")).unwrap();
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        let host_pub: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        std::fs::write(
            d.join("known_hosts"),
            format!("{addr} {}\n", host_pub.join(" ")),
        )
        .unwrap();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "ListenAddress {addr}:22\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PidFile none\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nAllowTcpForwarding yes\nAllowAgentForwarding yes\n\
                 SetEnv PATH={d}/bin:/usr/local/bin:/usr/bin:/bin\n",
                d = d.display()
            ),
        )
        .unwrap();
        // sshd's privilege separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        sh("ip", &["netns", "add", &ns]);
        let host = Self::partial(dir, ns, veth, addr, user);
        let (ns, veth) = (host.ns.clone(), host.veth.clone());
        let b_end = format!("{veth}b");
        sh(
            "ip",
            &["link", "add", &veth, "type", "veth", "peer", "name", &b_end],
        );
        sh("ip", &["link", "set", &b_end, "netns", &ns]);
        sh("ip", &["addr", "add", &format!("{peer}/30"), "dev", &veth]);
        sh("ip", &["link", "set", &veth, "up"]);
        let in_ns = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &ns];
            all.extend_from_slice(args);
            sh("ip", &all);
        };
        in_ns(&[
            "ip",
            "addr",
            "add",
            &format!("{}/30", host.addr),
            "dev",
            &b_end,
        ]);
        in_ns(&["ip", "link", "set", &b_end, "up"]);
        in_ns(&["ip", "link", "set", "lo", "up"]);
        Some(host.with_sshd())
    }

    /// The host before sshd runs (dropping it removes what exists).
    fn partial(
        dir: tempfile::TempDir,
        ns: String,
        veth: String,
        addr: String,
        user: String,
    ) -> Self {
        let d = dir.path().to_path_buf();
        Self {
            client_key: d.join("client_key"),
            known_hosts: d.join("known_hosts"),
            dir,
            ns,
            veth,
            addr,
            sshd: None,
            user,
        }
    }

    fn with_sshd(mut self) -> Self {
        let config = self.dir.path().join("sshd_config");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns, SSHD, "-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut said = String::new();
        loop {
            let mut line = String::new();
            if err.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.wait();
                panic!("sshd did not start: {said}");
            }
            said.push_str(&line);
            if line.contains("Server listening on") {
                break;
            }
        }
        // Keep draining sshd's log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in err.lines() {});
        self.sshd = Some(child);
        self
    }

    /// `cmd` run inside the namespace (same program, arguments, environment
    /// and directory).
    pub(crate) fn inside(&self, cmd: &Command) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns])
            .arg(cmd.get_program())
            .args(cmd.get_args())
            .env_clear();
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        if let Some(d) = cmd.get_current_dir() {
            c.current_dir(d);
        }
        c.stdin(Stdio::null());
        c
    }

    /// `car remote add NAME` arguments for this host (its key, its known_hosts).
    pub(crate) fn add_args(&self, name: &str, token_env: &str) -> Vec<String> {
        vec![
            "remote".into(),
            "add".into(),
            name.into(),
            "--ssh".into(),
            format!("{}@{}", self.user, self.addr),
            "--identity-file".into(),
            self.client_key.display().to_string(),
            "--token-env".into(),
            token_env.into(),
            format!(
                "--ssh-option=-oUserKnownHostsFile={}",
                self.known_hosts.display()
            ),
            "--ssh-option=-oStrictHostKeyChecking=yes".into(),
        ]
    }
}

impl Drop for RemoteHost {
    fn drop(&mut self) {
        if let Some(sshd) = &mut self.sshd {
            let _ = sshd.kill();
            let _ = sshd.wait();
        }
        // Whatever else runs in the namespace (car serve, its runners).
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.ns])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

/// `car serve --port 4173` of `env`'s repository inside the namespace,
/// with `token` in `token_env`; killed on drop.
pub(crate) struct RemoteServe {
    child: Child,
}

impl RemoteServe {
    pub(crate) fn start(host: &RemoteHost, env: &TestEnv, token_env: &str, token: &str) -> Self {
        Self::start_on(host, env, token_env, token, "127.0.0.1", 4173)
    }

    /// `car serve --host BIND --port PORT` inside the namespace.
    pub(crate) fn start_on(
        host: &RemoteHost,
        env: &TestEnv,
        token_env: &str,
        token: &str,
        bind: &str,
        port: u16,
    ) -> Self {
        if !env.read(".codex-autorunner/config.yml").contains(token_env) {
            env.config(&format!("server:\n  auth_token_env: {token_env}\n"));
        }
        let port = port.to_string();
        let mut cmd = env.car(&["serve", "--host", bind, "--port", &port, "--no-qr"]);
        cmd.env(token_env, token);
        let mut child = host
            .inside(&cmd)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = crate::serve_client::lines_of(child.stdout.take().unwrap());
        match out.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.starts_with(&format!("car: listening on http://{bind}:{port}")) => {}
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("car serve in the namespace did not start: {other:?}");
            }
        }
        // Keep reading its stdout so it never blocks.
        std::thread::spawn(move || for _ in out.iter() {});
        Self { child }
    }

    pub(crate) fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RemoteServe {
    fn drop(&mut self) {
        self.kill();
    }
}
