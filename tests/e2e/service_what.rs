//! `car service ... --what telegram|serve`: units for the Telegram bot and
//! the HTTP server of a repository or a hub, beside the loop's.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{CAR, Run, TestEnv};
use crate::service::sections;

/// `car ARGS` in `dir` of `env` with `XDG_CONFIG_HOME` at `xdg` and `vars`
/// in its environment.
pub(crate) fn car_in(
    env: &TestEnv,
    dir: &Path,
    xdg: &Path,
    vars: &[(&str, &str)],
    args: &[&str],
) -> Run {
    let mut c = env.car(args);
    c.current_dir(dir)
        .env("XDG_CONFIG_HOME", xdg)
        .envs(vars.iter().copied());
    Run(c.output().unwrap())
}

fn canonical(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The `.service` files in `dir` (names sorted).
fn services(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".service"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The one service file of `dir` whose name starts with `prefix`.
fn unit_of(dir: &Path, prefix: &str) -> (String, String) {
    let names: Vec<String> = services(dir)
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect();
    assert_eq!(names.len(), 1, "one {prefix}* unit in {}", dir.display());
    let text = std::fs::read_to_string(dir.join(&names[0])).unwrap();
    (names[0].trim_end_matches(".service").to_string(), text)
}

const SECRET: &str = "424242:SECRET-bot-token-xyz";

#[test]
fn telegram_unit_installs_with_its_command_and_the_token_variable() {
    let env = TestEnv::new();
    env.config("telegram_bot:\n  enabled: true\n");
    let xdg = env.home.join("xdg");
    let shell = [("CAR_TELEGRAM_BOT_TOKEN", SECRET)];
    let out = car_in(
        &env,
        &env.root,
        &xdg,
        &shell,
        &["service", "install", "systemd", "--what", "telegram"],
    );
    out.expect_code(0);
    let units = xdg.join("systemd/user");
    let (name, text) = unit_of(&units, "car-telegram-repo-");
    assert!(
        out.stdout()
            .contains(&format!("systemctl --user enable --now {name}.service")),
        "{}",
        out.stdout()
    );
    let svc = &sections(&text)["Service"];
    let exec: Vec<&str> = svc["ExecStart"].split(' ').collect();
    assert_eq!(
        exec,
        [
            canonical(Path::new(CAR)).as_str(),
            "telegram",
            "start",
            "--path",
            canonical(&env.root).as_str()
        ]
    );
    assert_eq!(svc["Type"], "simple");
    assert_eq!(svc["Restart"], "on-failure");
    assert_eq!(svc["RestartSec"], "10");
    assert!(!svc.contains_key("RestartPreventExitStatus"), "{text}");
    assert_eq!(svc["WorkingDirectory"], canonical(&env.root));
    let env_file = xdg
        .join("codex-autorunner/service")
        .join(format!("{name}.env"));
    assert_eq!(Path::new(&svc["EnvironmentFile"]), env_file);
    // The unit and the output name the token's variable, never its value.
    assert!(text.contains("CAR_TELEGRAM_BOT_TOKEN"), "{text}");
    for shown in [&text, &out.stdout(), &out.stderr()] {
        assert!(!shown.contains(SECRET), "a value shown: {shown}");
    }
    assert!(out.stdout().contains("CAR_TELEGRAM_BOT_TOKEN"));
    let mode = std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let file = std::fs::read_to_string(&env_file).unwrap();
    assert!(
        file.contains(&format!("CAR_TELEGRAM_BOT_TOKEN=\"{SECRET}\"\n")),
        "{file}"
    );
    assert!(
        out.stderr().is_empty(),
        "enabled, token set: no warning: {}",
        out.stderr()
    );

    // A token variable of another name (telegram_bot.bot_token_env) is
    // carried too; without it in the shell, install says so.
    env.config("telegram_bot:\n  bot_token_env: TEAM_BOT_TOKEN\n");
    let out = car_in(
        &env,
        &env.root,
        &xdg,
        &[("TEAM_BOT_TOKEN", SECRET)],
        &["service", "install", "systemd", "--what", "telegram"],
    );
    out.expect_code(0);
    let file = std::fs::read_to_string(&env_file).unwrap();
    assert!(
        file.contains(&format!("TEAM_BOT_TOKEN=\"{SECRET}\"\n")),
        "{file}"
    );
    let out = car_in(
        &env,
        &env.root,
        &xdg,
        &[],
        &["service", "print", "systemd", "--what", "telegram"],
    );
    out.expect_code(0);
    assert!(
        out.stderr().contains(
            "warning: TEAM_BOT_TOKEN (telegram_bot.bot_token_env) is not set in this shell"
        ),
        "{}",
        out.stderr()
    );
}

#[test]
fn a_repository_has_loop_bot_and_server_units_and_uninstall_takes_one_what() {
    let env = TestEnv::new();
    let xdg = env.home.join("xdg");
    let run = |args: &[&str]| {
        let out = car_in(&env, &env.root, &xdg, &[], args);
        out.expect_code(0);
        out.stdout()
    };
    run(&["service", "install", "systemd"]);
    run(&["service", "install", "systemd", "--what", "telegram"]);
    run(&["service", "install", "launchd", "--what", "telegram"]);
    run(&["service", "install", "systemd", "--what", "serve"]);
    let units = xdg.join("systemd/user");
    let names = services(&units);
    assert_eq!(names.len(), 3, "{names:?}");
    let (loop_name, loop_text) = unit_of(&units, "car-repo-");
    let (tg_name, _) = unit_of(&units, "car-telegram-repo-");
    let (serve_name, serve_text) = unit_of(&units, "car-serve-repo-");
    let hash = |n: &str| n.rsplit('-').next().unwrap().to_string();
    assert_eq!(hash(&loop_name), hash(&tg_name));
    assert!(sections(&loop_text)["Service"]["ExecStart"].ends_with(" run --if-idle"));
    let serve = &sections(&serve_text)["Service"];
    assert_eq!(
        serve["ExecStart"],
        format!(
            "{} --repo {} serve",
            canonical(Path::new(CAR)),
            canonical(&env.root)
        )
    );
    assert_eq!(serve["Restart"], "on-failure");
    let service_dir = xdg.join("codex-autorunner/service");
    let file = |n: &str| service_dir.join(n);
    for n in [&loop_name, &tg_name, &serve_name] {
        assert!(file(&format!("{n}.env")).exists(), "{n}.env");
    }
    let plist = env.home.join(format!(
        "Library/LaunchAgents/com.codex-autorunner.{tg_name}.plist"
    ));
    assert!(plist.exists());
    let wrapper = std::fs::read_to_string(file(&format!("{tg_name}.sh"))).unwrap();
    assert!(
        wrapper.contains(&format!(
            "exec {} telegram start --path {} \"$@\"\n",
            canonical(Path::new(CAR)),
            canonical(&env.root)
        )),
        "{wrapper}"
    );

    // One kind of the bot: its systemd unit goes, its plist and files stay.
    let out = run(&["service", "uninstall", "systemd", "--what", "telegram"]);
    assert!(
        out.contains("`car service uninstall --what telegram` (no kind) removes them"),
        "{out}"
    );
    assert_eq!(services(&units).len(), 2);
    assert!(plist.exists() && file(&format!("{tg_name}.env")).exists());

    // The whole bot: its plist, environment file and wrapper go; the loop's
    // and the server's units and files stay.
    let out = run(&["service", "uninstall", "--what", "telegram"]);
    assert!(out.contains("launchctl bootout"), "{out}");
    assert!(!out.contains(".timer"), "the bot has no timer: {out}");
    assert!(!plist.exists());
    assert!(!file(&format!("{tg_name}.env")).exists());
    assert!(!file(&format!("{tg_name}.sh")).exists());
    assert_eq!(
        services(&units),
        [
            format!("{loop_name}.service"),
            format!("{serve_name}.service")
        ]
    );
    assert!(file(&format!("{loop_name}.env")).exists());
    assert!(file(&format!("{serve_name}.env")).exists());
    let again = run(&["service", "uninstall", "--what", "telegram"]);
    assert!(
        again.contains("no Telegram bot unit of ") && again.contains("was installed"),
        "{again}"
    );
    run(&["service", "uninstall", "--what", "serve"]);
    assert_eq!(services(&units), [format!("{loop_name}.service")]);
}

#[test]
fn the_bot_and_the_server_refuse_an_interval_and_cron() {
    let env = TestEnv::new();
    let xdg = env.home.join("xdg");
    for what in ["telegram", "serve"] {
        for args in [
            &[
                "service",
                "print",
                "systemd",
                "--what",
                what,
                "--interval",
                "60",
            ][..],
            &[
                "service",
                "install",
                "launchd",
                "--what",
                what,
                "--interval",
                "60",
            ],
        ] {
            let out = car_in(&env, &env.root, &xdg, &[], args);
            out.expect_code(2);
            assert!(
                out.stderr().contains("--interval is for the loop"),
                "{args:?}: {}",
                out.stderr()
            );
        }
        for args in [
            &["service", "print", "cron", "--what", what][..],
            &["service", "install", "cron", "--what", what],
        ] {
            let out = car_in(&env, &env.root, &xdg, &[], args);
            out.expect_code(2);
            assert!(
                out.stderr().contains("long-running process")
                    && out.stderr().contains("belongs under systemd or launchd"),
                "{args:?}: {}",
                out.stderr()
            );
        }
    }
    assert!(
        !xdg.exists() && !env.home.join("Library").exists(),
        "a refusal writes nothing"
    );
    // The loop keeps both.
    car_in(
        &env,
        &env.root,
        &xdg,
        &[],
        &["service", "print", "cron", "--interval", "120"],
    )
    .expect_code(0);
}

#[test]
fn at_a_hub_root_the_bot_and_the_server_serve_the_hub() {
    let env = crate::hub_registry::hub_with(&["alpha"]);
    env.run(&["hub", "scan", "--init"]).expect_code(0);
    env.config("server:\n  auth_token_env: HUB_SERVER_TOKEN\n");
    let xdg = env.home.join("xdg");
    let hub = canonical(&env.root);
    let car = canonical(Path::new(CAR));
    let shell = [("HUB_SERVER_TOKEN", "hub-token-value")];
    for (what, exec) in [
        ("serve", format!("{car} --repo {hub} serve")),
        ("telegram", format!("{car} telegram start --path {hub}")),
    ] {
        // From the hub root, and from elsewhere with --repo.
        let here = car_in(
            &env,
            &env.root,
            &xdg,
            &shell,
            &["service", "install", "systemd", "--what", what],
        );
        here.expect_code(0);
        let (name, text) = unit_of(&xdg.join("systemd/user"), &format!("car-{what}-"));
        assert_eq!(sections(&text)["Service"]["ExecStart"], exec);
        let elsewhere = car_in(
            &env,
            Path::new("/"),
            &xdg,
            &shell,
            &[
                "--repo", &hub, "service", "print", "systemd", "--what", what,
            ],
        );
        elsewhere.expect_code(0);
        assert!(
            elsewhere.stdout().contains(&format!("ExecStart={exec}\n"))
                && elsewhere.stdout().contains(&name),
            "{}",
            elsewhere.stdout()
        );
    }
    // The hub root's server.auth_token_env is carried.
    let (serve_name, _) = unit_of(&xdg.join("systemd/user"), "car-serve-");
    let file = std::fs::read_to_string(
        xdg.join("codex-autorunner/service")
            .join(format!("{serve_name}.env")),
    )
    .unwrap();
    assert!(
        file.contains("HUB_SERVER_TOKEN=\"hub-token-value\"\n"),
        "{file}"
    );
    // A repository of the hub: its own units.
    let alpha = car_in(
        &env,
        &env.root.join("alpha"),
        &xdg,
        &[],
        &["service", "print", "systemd", "--what", "serve"],
    );
    alpha.expect_code(0);
    assert!(
        alpha
            .stdout()
            .contains(&format!("ExecStart={car} --repo {hub}/alpha serve\n")),
        "{}",
        alpha.stdout()
    );
    // The loop needs a repository.
    let out = car_in(&env, &env.root, &xdg, &[], &["service", "print", "systemd"]);
    out.expect_code(2);
    assert!(
        out.stderr()
            .contains("a loop unit runs one repository's loop")
            && out.stderr().contains("--what telegram"),
        "{}",
        out.stderr()
    );
}

#[test]
fn systemd_analyze_verifies_the_bot_and_server_units() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze not found; skipped its verification");
        return;
    }
    let env = TestEnv::new();
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    for what in ["telegram", "serve"] {
        let out = env.run(&["service", "print", "systemd", "--what", what]);
        out.expect_code(0);
        let text = out.stdout();
        let (first, unit) = text.split_once('\n').unwrap();
        let name = first.strip_prefix("# ~/.config/systemd/user/").unwrap();
        assert!(name.starts_with(&format!("car-{what}-repo-")), "{name}");
        let path: PathBuf = dir.path().join(name);
        std::fs::write(&path, unit).unwrap();
        let v = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&path)
            .env("XDG_RUNTIME_DIR", &runtime)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&v.stderr);
        assert!(v.status.success(), "systemd-analyze verify failed: {err}");
        assert!(
            !err.contains("Unknown") && !err.contains("Invalid"),
            "{err}"
        );
    }
}
