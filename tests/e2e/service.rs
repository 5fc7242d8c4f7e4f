//! Running unattended: `run --if-idle`, `--quiet`, and `car service`
//! units for launchd, systemd and cron.

use std::collections::HashMap;
use std::time::Duration;

use crate::common::TestEnv;

#[test]
fn if_idle_exits_0_with_one_line_when_busy_and_runs_when_free() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n- [ ] b\n");
    let started = env.root.join("started");
    env.script(&format!(
        "write {} x\nsleep 2\ncheck-todo\n",
        started.display()
    ));
    let mut first = env
        .car(&["once"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    env.wait_for("first agent", Duration::from_secs(10), || started.exists());
    let busy = env.run(&["run", "--if-idle", "--quiet"]);
    busy.expect_code(0);
    assert_eq!(busy.stdout().lines().count(), 1, "{}", busy.stdout());
    assert!(
        busy.stdout().contains("another runner is active"),
        "{}",
        busy.stdout()
    );
    assert!(
        busy.stderr().is_empty(),
        "cron mails stderr: {}",
        busy.stderr()
    );
    assert_eq!(first.wait().unwrap().code(), Some(0));
    assert_eq!(env.agent_runs(), 1);

    let free = env.run(&["run", "--if-idle", "--quiet", "--max-runs", "1"]);
    free.expect_code(0);
    assert_eq!(env.agent_runs(), 2, "a free repo runs as usual");
    assert!(
        free.stdout().is_empty(),
        "--quiet prints only errors: {}",
        free.stdout()
    );
}

#[test]
fn status_says_who_started_the_runner() {
    let env = TestEnv::new();
    env.todo("- [ ] a\n");
    let started = env.root.join("started");
    env.script(&format!(
        "write {} x\nsleep 2\ncheck-todo\n",
        started.display()
    ));
    let mut runner = env
        .car(&["once"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    env.wait_for("agent", Duration::from_secs(10), || started.exists());
    let st = env.run(&["status"]).stdout();
    assert!(
        st.contains(&format!("pid {}", runner.id())) && st.contains("(started by "),
        "{st}"
    );
    runner.wait().unwrap();
    assert!(env.state()["runner_started_by"].as_str().is_some());
}

pub(crate) fn plist_dict<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
) -> HashMap<String, roxmltree::Node<'a, 'i>> {
    let kids: Vec<_> = node.children().filter(|n| n.is_element()).collect();
    kids.chunks(2)
        .map(|kv| {
            assert_eq!(kv[0].tag_name().name(), "key");
            (kv[0].text().unwrap().to_string(), kv[1])
        })
        .collect()
}

#[test]
fn launchd_plist_parses_and_names_absolute_paths() {
    let env = TestEnv::new();
    for (args, periodic) in [
        (&["service", "print", "launchd"][..], false),
        (&["service", "print", "launchd", "--interval", "600"], true),
    ] {
        let out = env.run(args);
        out.expect_code(0);
        let text = out.stdout();
        let opts = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        };
        let doc = roxmltree::Document::parse_with_options(&text, opts)
            .expect("the plist is well-formed XML");
        let plist = doc.root_element();
        assert_eq!(plist.tag_name().name(), "plist");
        let dict = plist_dict(plist.children().find(|n| n.is_element()).unwrap());
        assert!(
            dict["Label"]
                .text()
                .unwrap()
                .starts_with("com.codex-autorunner.car-repo-")
        );
        let args: Vec<&str> = dict["ProgramArguments"]
            .children()
            .filter(|n| n.is_element())
            .map(|n| n.text().unwrap())
            .collect();
        // The wrapper that loads the environment file: no secret in the plist.
        let wrapper = service_dir(&env).join(format!("{}.sh", unit_name(&env)));
        assert_eq!(args, [wrapper.to_str().unwrap(), "--quiet"]);
        assert!(!dict.contains_key("EnvironmentVariables"));
        let note = doc
            .descendants()
            .find(|n| n.is_comment())
            .and_then(|n| n.text())
            .unwrap();
        assert!(note.contains(": PATH"), "the variables are named: {note}");
        assert!(std::path::Path::new(dict["WorkingDirectory"].text().unwrap()).is_absolute());
        if periodic {
            assert_eq!(dict["StartInterval"].text(), Some("600"));
            assert!(!dict.contains_key("KeepAlive"));
        } else {
            assert!(dict.contains_key("KeepAlive") && !dict.contains_key("StartInterval"));
        }
    }
}

pub(crate) fn sections(unit: &str) -> HashMap<String, HashMap<String, String>> {
    let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current = String::new();
    for line in unit
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.to_string();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not key=value: {line}"));
        out.entry(current.clone())
            .or_default()
            .insert(k.to_string(), v.to_string());
    }
    out
}

/// Splits `car service print systemd` output into (file name, content).
fn unit_files(text: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(path) = line.strip_prefix("# ~/.config/systemd/user/") {
            files.push((path.to_string(), String::new()));
        } else if let Some(f) = files.last_mut() {
            f.1.push_str(line);
            f.1.push('\n');
        }
    }
    files
}

#[test]
fn systemd_units_parse_and_verify() {
    let env = TestEnv::new();
    let out = env.run(&["service", "print", "systemd", "--interval", "900"]);
    out.expect_code(0);
    let files = unit_files(&out.stdout());
    assert_eq!(files.len(), 2, "{}", out.stdout());
    let svc = sections(&files[0].1);
    let exec = &svc["Service"]["ExecStart"];
    assert!(
        exec.starts_with('/') && exec.contains(" run --if-idle"),
        "{exec}"
    );
    assert_eq!(
        std::path::Path::new(&svc["Service"]["EnvironmentFile"]),
        service_dir(&env).join(format!("{}.env", unit_name(&env)))
    );
    assert_eq!(svc["Service"]["StandardOutput"], "journal");
    let timer = sections(&files[1].1);
    assert_eq!(timer["Timer"]["OnUnitInactiveSec"], "900");
    assert_eq!(timer["Timer"]["Unit"], files[0].0);

    let kept = env.run(&["service", "print", "systemd"]);
    let files_kept = unit_files(&kept.stdout());
    assert_eq!(files_kept.len(), 1);
    assert_eq!(
        sections(&files_kept[0].1)["Service"]["Restart"],
        "on-failure"
    );

    // systemd's own check, when this machine has it.
    if std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        let dir = tempfile::tempdir().unwrap();
        let runtime = dir.path().join("runtime");
        std::fs::create_dir_all(&runtime).unwrap();
        let mut paths = Vec::new();
        for (name, text) in files.iter().chain(files_kept.iter().take(0)) {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            paths.push(p);
        }
        let v = std::process::Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .args(&paths)
            .env("XDG_RUNTIME_DIR", &runtime)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&v.stderr);
        assert!(v.status.success(), "systemd-analyze verify failed: {err}");
        assert!(
            !err.contains("Unknown") && !err.contains("Invalid"),
            "{err}"
        );
    } else {
        eprintln!("systemd-analyze not found; skipped its verification");
    }
}

#[test]
fn cron_line_has_five_fields_absolute_paths_and_if_idle() {
    let env = TestEnv::new();
    let text = env
        .run(&["service", "print", "cron", "--interval", "120"])
        .stdout();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("# car: Environment from ") && lines[0].contains("PATH"),
        "a crontab comment naming the variables: {text}"
    );
    let fields: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(fields[..5], ["*/2", "*", "*", "*", "*"], "{text}");
    let wrapper = service_dir(&env).join(format!("{}.sh", unit_name(&env)));
    assert_eq!(fields[5], wrapper.to_str().unwrap());
    assert_eq!(fields[6..8], ["--quiet", ">>"]);
    assert!(lines[1].ends_with("cron.log 2>&1"), "{text}");
}

#[test]
fn install_and_uninstall_into_a_temporary_home() {
    let env = TestEnv::new();
    let run = |args: &[&str]| {
        let out = env
            .car(args)
            .env_remove("XDG_CONFIG_HOME")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = run(&["service", "install", "systemd", "--interval", "600"]);
    assert!(
        out.contains("systemctl --user enable --now car-repo-"),
        "{out}"
    );
    let unit_dir = env.home.join(".config/systemd/user");
    let names: Vec<String> = std::fs::read_dir(&unit_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.iter().any(|n| n.ends_with(".service"))
            && names.iter().any(|n| n.ends_with(".timer"))
    );

    let out = run(&["service", "install", "launchd"]);
    assert!(out.contains("launchctl bootstrap"), "{out}");
    let agents = env.home.join("Library/LaunchAgents");
    assert_eq!(std::fs::read_dir(&agents).unwrap().count(), 1);

    let out = run(&["service", "uninstall", "systemd"]);
    assert!(out.contains("removed"), "{out}");
    assert!(
        out.contains("the environment file and wrapper stay"),
        "a kind's uninstall says what it leaves: {out}"
    );
    assert_eq!(std::fs::read_dir(&unit_dir).unwrap().count(), 0);
    assert_eq!(
        std::fs::read_dir(&agents).unwrap().count(),
        1,
        "only the named kind is removed"
    );
    run(&["service", "uninstall"]);
    assert_eq!(std::fs::read_dir(&agents).unwrap().count(), 0);
    assert!(run(&["service", "uninstall"]).contains("no unit of this repository was installed"));
}

/// Where `car service` keeps a repository's environment file and wrapper.
fn service_dir(env: &TestEnv) -> std::path::PathBuf {
    env.home.join(".config/codex-autorunner/service")
}

/// The unit name of the test repository (`car-repo-<hash>`).
fn unit_name(env: &TestEnv) -> String {
    let out = env.run(&["service", "print", "systemd"]).stdout();
    out.lines()
        .find_map(|l| l.strip_prefix("# ~/.config/systemd/user/"))
        .and_then(|n| n.strip_suffix(".service"))
        .unwrap()
        .to_string()
}

/// What the shell holds when `car service install` runs.
const SHELL: &[(&str, &str)] = &[
    ("CODEX_HOME", "/somewhere/codex-home"),
    ("OPENAI_API_KEY", "sk-model-key-value"),
    ("CAR_NTFY_TOPIC", "ntfy-topic-secret-value"),
    ("CAR_TELEGRAM_BOT_TOKEN", "tg-token-secret-value"),
    ("CAR_RUNNER__STOP_AFTER_RUNS", "1"),
    // An agent's run marker (a shell an agent opened): never carried, or
    // every runner the unit starts would look like that run's stray.
    ("CAR_RUN", "0123456789abcdef:3:1:1"),
    ("UNRELATED_VAR", "unrelated-value"),
];

#[test]
fn units_carry_an_environment_file_0600_and_print_names_not_values() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    env.config("notifications:\n  enabled: false\n");
    let car = |args: &[&str]| {
        let mut c = env.car(args);
        c.envs(SHELL.iter().copied());
        let out = crate::common::Run(c.output().unwrap());
        out.expect_code(0);
        out.stdout()
    };
    for kind in ["systemd", "launchd", "cron"] {
        let printed = car(&["service", "print", kind]);
        for name in [
            "PATH",
            "CODEX_HOME",
            "OPENAI_API_KEY",
            "CAR_NTFY_TOPIC",
            "CAR_TELEGRAM_BOT_TOKEN",
        ] {
            assert!(printed.contains(name), "{kind} names {name}: {printed}");
        }
        for (_, value) in SHELL.iter().filter(|(_, v)| v.len() > 3) {
            assert!(!printed.contains(value), "{kind} shows a value: {printed}");
        }
        assert!(!printed.contains("UNRELATED_VAR"), "{printed}");
    }
    let name = unit_name(&env);
    let env_file = service_dir(&env).join(format!("{name}.env"));
    let wrapper = service_dir(&env).join(format!("{name}.sh"));
    assert!(!env_file.exists(), "print writes nothing");

    let out = car(&["service", "install", "systemd"]);
    for (_, value) in SHELL.iter().filter(|(_, v)| v.len() > 3) {
        assert!(!out.contains(value), "install shows a value: {out}");
    }
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env_file), 0o600, "the environment file holds secrets");
    let text = std::fs::read_to_string(&env_file).unwrap();
    for line in [
        "CODEX_HOME=\"/somewhere/codex-home\"\n",
        "OPENAI_API_KEY=\"sk-model-key-value\"\n",
        "CAR_NTFY_TOPIC=\"ntfy-topic-secret-value\"\n",
        "CAR_TELEGRAM_BOT_TOKEN=\"tg-token-secret-value\"\n",
        &format!("PATH=\"{}\"\n", std::env::var("PATH").unwrap()),
    ] {
        assert!(text.contains(line), "missing {line:?} in {text}");
    }
    assert!(!text.contains("UNRELATED"), "{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("CAR_RUN=")),
        "the run marker is not the loop's: {text}"
    );
    let unit = std::fs::read_to_string(
        env.home
            .join(format!(".config/systemd/user/{name}.service")),
    )
    .unwrap();
    assert!(
        unit.contains(&format!("EnvironmentFile={}\n", env_file.display())),
        "{unit}"
    );
    assert!(!unit.contains("secret-value"), "{unit}");

    // cron: the wrapper loads the file. Started with an empty environment,
    // as cron would, the loop still finds PATH, CODEX_HOME, the key and its
    // own CAR_* settings (one run: CAR_RUNNER__STOP_AFTER_RUNS).
    let out = car(&["service", "install", "cron"]);
    assert!(
        out.contains(&format!("{} --quiet >> ", wrapper.display())),
        "{out}"
    );
    assert_eq!(mode(&wrapper), 0o700);
    assert_eq!(mode(&env_file), 0o600);
    env.todo("- [ ] a\n- [ ] b\n");
    env.script("env-all\ncheck-todo\n");
    let run = std::process::Command::new(&wrapper)
        .arg("--quiet")
        .env_clear()
        .env("HOME", &env.home)
        .env("FAKE_AGENT_SCRIPT", &env.script)
        .current_dir("/")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        env.agent_runs(),
        1,
        "CAR_RUNNER__STOP_AFTER_RUNS=1 came from the file"
    );
    let log = env.read(".codex-autorunner/runs/1/output.log");
    assert!(
        log.contains("stdout: CODEX_HOME=/somewhere/codex-home\n"),
        "{log}"
    );
    assert!(
        log.contains("stdout: OPENAI_API_KEY=sk-model-key-value\n"),
        "{log}"
    );
    assert!(
        !log.contains("secret-value"),
        "car's secrets stay out of the agent: {log}"
    );

    car(&["service", "uninstall"]);
    assert!(
        !env_file.exists() && !wrapper.exists(),
        "uninstall removes them"
    );
}
