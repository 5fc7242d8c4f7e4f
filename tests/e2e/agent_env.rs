//! The agent's environment: car's own secrets never reach it; `codex.env`,
//! CODEX_HOME and the model's API key do.

use crate::common::TestEnv;

/// Secret values car holds in its environment (each must stay out of the agent).
const SECRETS: &[(&str, &str)] = &[
    ("CAR_TELEGRAM_BOT_TOKEN", "123456:tg-secret-token"),
    ("CAR_TELEGRAM_CHAT_ID", "chat-secret-42"),
    ("CAR_NTFY_TOPIC", "ntfy-secret-topic"),
    ("CAR_NTFY_TOKEN", "tk_ntfy_secret"),
    (
        "CAR_DISCORD_WEBHOOK_URL",
        "https://discord.example/secret-hook",
    ),
    ("CAR_WEBHOOK_URL", "https://hook.example/secret-url"),
    // A provider configured to read a variable of another name.
    ("TEAM_HOOK", "https://hook.example/team-secret"),
    ("CAR_RUNNER__SLEEP_SECONDS", "0.000123"),
];

#[test]
fn the_agent_gets_no_secret_of_car_but_codex_env_codex_home_and_the_api_key() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.config(
        "codex:\n  env:\n    AGENT_EXTRA: \"hello world\"\n    RUST_LOG: warn\n\
         notifications:\n  enabled: false\n  webhook:\n    url_env: TEAM_HOOK\n",
    );
    env.script("env-all\ncheck-todo\n");
    let mut car = env.car(&["once"]);
    for (k, v) in SECRETS {
        car.env(k, v);
    }
    car.env("CODEX_HOME", "/somewhere/codex-home")
        .env("OPENAI_API_KEY", "sk-model-key")
        .env("RUST_LOG", "debug");
    let out = car.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = env.read(".codex-autorunner/runs/1/output.log");
    for line in [
        "stdout: CODEX_HOME=/somewhere/codex-home\n",
        "stdout: OPENAI_API_KEY=sk-model-key\n",
        "stdout: AGENT_EXTRA=hello world\n",
        "stdout: RUST_LOG=warn\n",
        "stdout: HOME=",
        "stdout: PATH=",
    ] {
        assert!(log.contains(line), "missing {line:?} in\n{log}");
    }
    for (name, value) in SECRETS {
        assert!(
            !log.contains(value) && !log.contains(&format!("stdout: {name}=")),
            "{name} reached the agent:\n{log}"
        );
    }
    // The one CAR_ variable the agent gets is car's own run marker.
    let car_vars: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split_once("stdout: CAR_").map(|(_, v)| v))
        .collect();
    assert!(
        car_vars.len() == 1 && car_vars[0].starts_with("RUN="),
        "no CAR_ variable but the run marker reaches the agent: {car_vars:?}\n{log}"
    );
}

#[test]
fn a_bad_codex_env_name_is_refused_naming_the_key_and_file() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    env.config("codex:\n  env:\n    BAD-NAME: x\n");
    let out = env.run(&["once"]);
    assert_ne!(out.code(), 0);
    let err = out.stderr();
    assert!(
        err.contains("codex.env.BAD-NAME")
            && err.contains("config.yml")
            && err.contains("not an environment variable name"),
        "{err}"
    );
    assert_eq!(env.agent_runs(), 0);

    // A value that is not text (a number is taken as its text) is refused.
    env.config("codex:\n  env:\n    NESTED: {a: 1}\n");
    let err = env.run(&["once"]).stderr();
    assert!(
        err.contains("codex.env.NESTED") && err.contains("expected a string"),
        "{err}"
    );
}
