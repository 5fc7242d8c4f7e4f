//! `TestEnv`: a temporary git repository initialised by `car init`, whose
//! agent is the scripted `fake-agent`, and helpers to run `car` in it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) const CAR: &str = env!("CARGO_BIN_EXE_car-dup");
pub(crate) const FAKE_AGENT: &str = env!("CARGO_BIN_EXE_fake-agent");

pub(crate) struct TestEnv {
    _dir: tempfile::TempDir,
    pub(crate) home: PathBuf,
    pub(crate) root: PathBuf,
    pub(crate) script: PathBuf,
}

impl TestEnv {
    /// A git repo with `car init` done and the fake agent configured.
    pub(crate) fn new() -> Self {
        let env = Self::bare();
        env.init();
        env
    }

    /// Makes the (empty) root a git repo with `car init` done and the fake
    /// agent configured.
    pub(crate) fn init(&self) {
        let env = self;
        git(&env.root, &["init", "-q"]);
        let out = env.car(&["init"]).output().unwrap();
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        env.write(
            ".codex-autorunner/config.yml",
            &format!(
                "version: 2\nmode: repo\ncodex:\n  binary: {FAKE_AGENT}\n  args: []\nrunner:\n  sleep_seconds: 0\n  kill_grace_seconds: 2\n"
            ),
        );
    }

    /// An empty directory (no git, no car).
    pub(crate) fn bare() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let root = dir.path().join("repo");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        let script = dir.path().join("agent-script");
        Self {
            _dir: dir,
            home,
            root,
            script,
        }
    }

    /// A `car` command in the repo with a clean, predictable environment.
    pub(crate) fn car(&self, args: &[&str]) -> Command {
        self.car_at(Path::new(CAR), args)
    }

    /// Like [`TestEnv::car`], with the `car` binary at `program`.
    pub(crate) fn car_at(&self, program: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.args(args)
            .current_dir(&self.root)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("FAKE_AGENT_SCRIPT", &self.script)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .stdin(Stdio::null());
        c
    }

    /// Runs `car` to completion.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        let out = self.car(args).output().unwrap();
        Run(out)
    }

    /// Sets the fake agent's script (sections separated by `---`).
    pub(crate) fn script(&self, text: &str) {
        std::fs::write(&self.script, text).unwrap();
    }

    /// How many times the fake agent ran.
    pub(crate) fn agent_runs(&self) -> usize {
        std::fs::read_to_string(self.script.with_extension("count"))
            .ok()
            .or_else(|| std::fs::read_to_string(format!("{}.count", self.script.display())).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The prompt the agent received on its `n`th invocation.
    pub(crate) fn agent_prompt(&self, n: usize) -> Vec<u8> {
        std::fs::read(format!("{}.prompt-{n}", self.script.display())).unwrap()
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub(crate) fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub(crate) fn todo(&self, text: &str) {
        self.write(".codex-autorunner/TODO.md", text);
    }

    pub(crate) fn state(&self) -> serde_json::Value {
        serde_json::from_str(&self.read(".codex-autorunner/state.json")).unwrap()
    }

    pub(crate) fn run_record(&self, id: u64) -> serde_json::Value {
        serde_json::from_str(&self.read(&format!(".codex-autorunner/runs/{id}/run.json"))).unwrap()
    }

    /// Appends config lines under a section already in config.yml or new.
    pub(crate) fn config(&self, yaml: &str) {
        let mut cfg: serde_yaml::Value =
            serde_yaml::from_str(&self.read(".codex-autorunner/config.yml")).unwrap();
        let add: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
        merge(&mut cfg, add);
        self.write(
            ".codex-autorunner/config.yml",
            &serde_yaml::to_string(&cfg).unwrap(),
        );
    }

    /// Waits until `f` holds (polling), or panics after `timeout`.
    pub(crate) fn wait_for(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
        let start = Instant::now();
        while !f() {
            assert!(start.elapsed() < timeout, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

fn merge(base: &mut serde_yaml::Value, add: serde_yaml::Value) {
    match (base, add) {
        (serde_yaml::Value::Mapping(b), serde_yaml::Value::Mapping(a)) => {
            for (k, v) in a {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_mapping() && v.is_mapping() => merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, a) => *b = a,
    }
}

pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The output of a finished `car` command.
pub(crate) struct Run(pub Output);

impl Run {
    pub(crate) fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// Asserts the exit code, printing both streams when it differs.
    pub(crate) fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// Whether a process exists and is not a zombie.
pub(crate) fn alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .next()
        .unwrap_or("");
    state != "Z"
}

pub(crate) fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Every file under `dir`, recursively.
pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The live processes (other than this one) whose environment holds
/// `name=value`: every process an agent started in a `TestEnv` carries
/// `FAKE_AGENT_SCRIPT=<its script>`, which no other test shares.
pub(crate) fn processes_with_env(name: &str, value: &std::ffi::OsStr) -> Vec<i32> {
    use std::os::unix::ffi::OsStrExt;
    let mut entry = format!("{name}=").into_bytes();
    entry.extend_from_slice(value.as_bytes());
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me && alive(pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|e| e == entry.as_slice()))
        })
        .collect()
}

impl TestEnv {
    /// The processes started for this env's agent (car itself included
    /// while it runs).
    pub(crate) fn agent_processes(&self) -> Vec<i32> {
        processes_with_env("FAKE_AGENT_SCRIPT", self.script.as_os_str())
    }

    /// Waits until no process of this env's agent is left, or panics
    /// naming the survivors after `timeout`.
    pub(crate) fn expect_no_agent_process(&self, what: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            let left = self.agent_processes();
            if left.is_empty() {
                return;
            }
            if start.elapsed() > timeout {
                let described: Vec<String> = left
                    .iter()
                    .map(|p| {
                        let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                        format!("{p}: {}", String::from_utf8_lossy(&cmd).replace('\0', " "))
                    })
                    .collect();
                panic!("{what}: processes left running: {described:#?}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}
