//! The local side of the remote-machine tests: a HOME of its own with a
//! machine added for a [`RemoteHost`](crate::netns::RemoteHost), and helpers.

use std::process::Command;
use std::time::Duration;

use crate::common::{Run, TestEnv};
use crate::netns::RemoteHost;

pub(crate) const TOKEN_ENV: &str = "CAR_TEST_MACHINE_TOKEN";
pub(crate) const TOKEN: &str = "machine-s3cret";

/// The local side: its own HOME (user config, tunnel state), outside any
/// repository; its tunnel is closed on drop (a failed test leaves nothing).
pub(crate) struct Local {
    pub(crate) env: TestEnv,
    name: String,
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.car(&["remote", "down", &self.name]).output();
    }
}

impl Local {
    pub(crate) fn new(host: &RemoteHost, name: &str) -> Self {
        let env = TestEnv::bare();
        let local = Self {
            env,
            name: name.to_string(),
        };
        let args = host.add_args(name, TOKEN_ENV);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        local.run(&args).expect_code(0);
        local
    }

    pub(crate) fn car(&self, args: &[&str]) -> Command {
        let mut c = self.env.car(args);
        c.current_dir(&self.env.home).env(TOKEN_ENV, TOKEN);
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        Run(self.car(args).output().unwrap())
    }

    pub(crate) fn state(&self, name: &str) -> Option<serde_json::Value> {
        let p = self
            .env
            .home
            .join(format!(".local/state/car/tunnels/{name}.json"));
        std::fs::read_to_string(p)
            .ok()
            .map(|t| serde_json::from_str(&t).unwrap())
    }

    pub(crate) fn log(&self, name: &str) -> String {
        let p = self
            .env
            .home
            .join(format!(".local/state/car/tunnels/{name}.log"));
        std::fs::read_to_string(p).unwrap_or_default()
    }
}

/// A child killed when the test ends, passed or failed.
pub(crate) struct KillOnDrop(pub(crate) std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

pub(crate) fn pid_of(v: &serde_json::Value) -> i32 {
    v.as_i64().unwrap_or_else(|| panic!("not a pid: {v}")) as i32
}

/// `GET /health` through the tunnel's URL.
pub(crate) fn healthy(url: &str) -> bool {
    ureq::get(&format!("{url}health"))
        .timeout(Duration::from_secs(5))
        .call()
        .is_ok_and(|r| r.status() == 200)
}
