//! `car service` units of the Telegram bot and the server, started as
//! launchd starts them (their wrapper, an empty environment, another
//! directory): what they need comes from the environment file alone.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::TestEnv;
use crate::fake_telegram::FakeTelegram;
use crate::service_what::car_in;
use crate::telegram_bot::{CHAT, TOKEN, USER, bot_config, stop_bot, texts_to};

/// The name of the one launchd agent installed in `env` (starting with `prefix`).
fn installed_name(env: &TestEnv, prefix: &str) -> String {
    let agents = env.home.join("Library/LaunchAgents");
    let names: Vec<String> = std::fs::read_dir(&agents)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let name = names[0]
        .strip_prefix("com.codex-autorunner.")
        .and_then(|n| n.strip_suffix(".plist"))
        .unwrap()
        .to_string();
    assert!(name.starts_with(prefix), "{name}");
    name
}

/// Starts `wrapper` as launchd would: only HOME, in `/`.
fn start_wrapper(env: &TestEnv, wrapper: &std::path::Path, stdout: Stdio) -> std::process::Child {
    Command::new(wrapper)
        .env_clear()
        .env("HOME", &env.home)
        .current_dir("/")
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn the_bot_started_by_its_wrapper_gets_its_token_from_the_environment_file() {
    let fake = FakeTelegram::start();
    let env = TestEnv::new();
    env.config(&bot_config(&fake));
    let xdg = env.home.join("xdg");
    car_in(
        &env,
        &env.root,
        &xdg,
        &[("CAR_TELEGRAM_BOT_TOKEN", TOKEN)],
        &["service", "install", "launchd", "--what", "telegram"],
    )
    .expect_code(0);
    let name = installed_name(&env, "car-telegram-repo-");
    let wrapper = xdg.join(format!("codex-autorunner/service/{name}.sh"));
    // As launchd starts it: no token, no PATH of the shell, another directory.
    let child = start_wrapper(&env, &wrapper, Stdio::null());
    fake.push_text(CHAT, USER, "/status", None);
    let calls = fake.wait("the bot's answer", Duration::from_secs(20), |c| {
        !texts_to(c, CHAT).is_empty()
    });
    assert!(
        calls
            .iter()
            .all(|c| c.path.starts_with(&format!("/bot{TOKEN}/"))),
        "every call carries the token from the environment file"
    );
    // SIGTERM (what launchd and systemd send) ends it with 0: not a
    // failure, so it is not restarted.
    let (code, err) = stop_bot(child);
    assert_eq!(code, 0, "{err}");
}

const SERVER_TOKEN: &str = "wrapper-server-token-value";

#[test]
fn the_server_started_by_its_wrapper_requires_the_token_from_the_environment_file() {
    let env = TestEnv::new();
    env.config("server:\n  port: 0\n  auth_token_env: CAR_TEST_SERVER_TOKEN\n");
    let xdg = env.home.join("xdg");
    car_in(
        &env,
        &env.root,
        &xdg,
        &[("CAR_TEST_SERVER_TOKEN", SERVER_TOKEN)],
        &["service", "install", "launchd", "--what", "serve"],
    )
    .expect_code(0);
    let name = installed_name(&env, "car-serve-repo-");
    let wrapper = xdg.join(format!("codex-autorunner/service/{name}.sh"));
    let mut child = start_wrapper(&env, &wrapper, Stdio::piped());
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("car: listening on ")
        .unwrap_or_else(|| panic!("first line: {first:?}"))
        .to_string();
    let status = |token: Option<&str>| {
        let mut req = ureq::get(&format!("{url}api/v1/repos")).timeout(Duration::from_secs(30));
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        match req.call() {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(s, _)) => s,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(
        status(None),
        401,
        "the token came from the environment file"
    );
    assert_eq!(status(Some(SERVER_TOKEN)), 200);
    let (code, err) = stop_bot(child);
    assert_eq!(
        code, 0,
        "SIGTERM ends the server with 0 (no restart): {err}"
    );
}
