use super::*;

fn spec_of(what: ServiceWhat, interval: Option<u64>) -> UnitSpec {
    UnitSpec {
        what,
        car: "/opt/car bin/car".into(),
        root: "/home/me/my repo".into(),
        env_file: "/home/me/.config/codex-autorunner/service/car-my-repo-1.env".into(),
        wrapper: "/home/me/.config/codex-autorunner/service/car-my repo.sh".into(),
        env_names: vec!["CODEX_HOME".into(), "PATH".into()],
        interval,
        kill_grace: 10,
    }
}

fn spec(interval: Option<u64>) -> UnitSpec {
    spec_of(ServiceWhat::Loop, interval)
}

/// The `key=value` lines of a unit (comments left out), in order.
fn lines(unit: &str) -> Vec<(&str, &str)> {
    unit.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .collect()
}

fn value<'a>(unit: &'a str, key: &str) -> Option<&'a str> {
    lines(unit)
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

#[test]
fn names_are_stable_and_safe() {
    let n = spec(None).name();
    assert!(n.starts_with("car-my-repo-"), "{n}");
    assert_eq!(n, spec(Some(5)).name());
    assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
}

#[test]
fn names_differ_per_what_with_the_same_root_hash() {
    let lp = spec_of(ServiceWhat::Loop, None).name();
    let tg = spec_of(ServiceWhat::Telegram, None).name();
    let sv = spec_of(ServiceWhat::Serve, None).name();
    let hash = lp.rsplit('-').next().unwrap();
    assert_eq!(tg, format!("car-telegram-my-repo-{hash}"));
    assert_eq!(sv, format!("car-serve-my-repo-{hash}"));
    assert_eq!(
        spec_of(ServiceWhat::Telegram, None).label(),
        format!("com.codex-autorunner.{tg}")
    );
}

#[test]
fn systemd_exec_start_runs_the_chosen_command() {
    let exec = |what| {
        let (svc, _) = systemd_units(&spec_of(what, None));
        value(&svc, "ExecStart").unwrap().to_string()
    };
    assert_eq!(
        exec(ServiceWhat::Loop),
        "\"/opt/car bin/car\" --repo \"/home/me/my repo\" run --if-idle"
    );
    assert_eq!(
        exec(ServiceWhat::Telegram),
        "\"/opt/car bin/car\" telegram start --path \"/home/me/my repo\""
    );
    assert_eq!(
        exec(ServiceWhat::Serve),
        "\"/opt/car bin/car\" --repo \"/home/me/my repo\" serve"
    );
    assert_eq!(
        exec(ServiceWhat::Ledger),
        "\"/opt/car bin/car\" --repo \"/home/me/my repo\" ledger publish"
    );
}

#[test]
fn long_running_units_restart_on_failure_and_leave_what_they_started() {
    for what in [
        ServiceWhat::Telegram,
        ServiceWhat::Serve,
        ServiceWhat::Ledger,
    ] {
        let (svc, timer) = systemd_units(&spec_of(what, None));
        assert!(timer.is_none());
        assert_eq!(value(&svc, "Type"), Some("simple"), "{svc}");
        assert_eq!(value(&svc, "Restart"), Some("on-failure"), "{svc}");
        assert_eq!(value(&svc, "RestartSec"), Some("10"), "{svc}");
        assert_eq!(value(&svc, "RestartPreventExitStatus"), None, "{svc}");
        assert_eq!(value(&svc, "KillMode"), Some("process"), "{svc}");
        assert_eq!(value(&svc, "WantedBy"), Some("default.target"), "{svc}");
        assert!(
            svc.starts_with(&format!(
                "[Unit]\nDescription=codex-autorunner {} for /home/me/my repo\n",
                what.label()
            )),
            "{svc}"
        );
        let plist = launchd_plist(&spec_of(what, None));
        assert!(
            plist.contains(
                "<key>KeepAlive</key>\n  <dict>\n    <key>SuccessfulExit</key>\n    <false/>"
            ),
            "{plist}"
        );
        assert!(plist.contains("<key>AbandonProcessGroup</key>\n  <true/>"));
        assert!(plist.contains("<integer>10</integer>"), "{plist}");
        assert!(!plist.contains("--quiet"), "only `run` takes --quiet");
        assert!(
            plist.contains(&format!("launchd-{}.err.log", what.flag())),
            "{plist}"
        );
    }
    let (svc, _) = systemd_units(&spec(None));
    assert_eq!(value(&svc, "RestartPreventExitStatus"), Some("3"));
    assert_eq!(value(&svc, "KillMode"), Some("mixed"));
    assert_eq!(value(&svc, "TimeoutStopSec"), Some("40"));
    let plist = launchd_plist(&spec(None));
    assert!(plist.contains("launchd.err.log") && plist.contains("--quiet"));
    assert!(!plist.contains("AbandonProcessGroup"));
}

#[test]
fn cron_line_quotes_paths_and_starts_the_wrapper() {
    let text = cron_line(&spec(Some(600)));
    let (note, l) = text.split_once('\n').unwrap();
    assert!(
        note.starts_with("# car: Environment from ")
            && note.ends_with(": CODEX_HOME, PATH (loaded by the wrapper)"),
        "{note}"
    );
    assert!(
        l.starts_with(
            "*/10 * * * * '/home/me/.config/codex-autorunner/service/car-my repo.sh' --quiet >> "
        ),
        "{l}"
    );
    assert_eq!(
        cron_line(&spec(Some(30)))
            .lines()
            .nth(1)
            .unwrap()
            .split(' ')
            .take(5)
            .collect::<Vec<_>>(),
        ["*", "*", "*", "*", "*"]
    );
}
