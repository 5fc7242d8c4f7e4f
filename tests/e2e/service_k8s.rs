//! `car service print kubernetes`: the manifests validated against the
//! Kubernetes schemas by `kubernetes-validate` (PyPI, pinned; `.ci/run`
//! installs it and sets `CAR_K8S_VALIDATE` to its program and
//! `CAR_REQUIRE_K8S_VALIDATE=1`; without it the validation test skips with a
//! message), the refusals, and the repository's Dockerfile.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{Run, TestEnv};

/// The Kubernetes versions docs/scale.md names; the pinned validator ships
/// their schemas.
const K8S_VERSIONS: &[&str] = &["1.29", "1.31", "1.37"];

/// A secret value the shell has: it must never reach the manifests.
const KEY_VALUE: &str = "sk-test-must-not-leak-4242";

fn print(env: &TestEnv, args: &[&str]) -> Run {
    let mut a = vec!["service", "print", "kubernetes"];
    a.extend_from_slice(args);
    Run(env
        .car(&a)
        .env("OPENAI_API_KEY", KEY_VALUE)
        .env("CAR_NTFY_TOPIC", "topic-value-4242")
        .output()
        .unwrap())
}

/// The validator's program, or None (skip) when it is not installed.
fn validator() -> Option<PathBuf> {
    let found = std::env::var_os("CAR_K8S_VALIDATE")
        .map(PathBuf::from)
        .filter(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CAR_REQUIRE_K8S_VALIDATE").as_deref() != Ok("1"),
            "CAR_REQUIRE_K8S_VALIDATE=1 but CAR_K8S_VALIDATE names no program (.ci/run installs kubernetes-validate)"
        );
        eprintln!(
            "skipping: kubernetes-validate is not installed (pip install kubernetes-validate, then set CAR_K8S_VALIDATE to its program)"
        );
    }
    found
}

/// Runs the validator (strict: unknown fields are errors) on `yaml`.
fn validate(program: &Path, version: &str, yaml: &str) -> (bool, String) {
    let mut child = Command::new(program)
        .args(["--strict", "-k", version, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn kubernetes_manifests_validate_against_the_schemas() {
    let env = TestEnv::new();
    let job = print(&env, &["--namespace", "agents", "--secret", "car-env"]);
    job.expect_code(0);
    let cron = print(
        &env,
        &[
            "--schedule",
            "*/30 * * * *",
            "--clone-url",
            "https://git.example/me/repo.git",
        ],
    );
    cron.expect_code(0);
    let serve = print(&env, &["--what", "serve"]);
    serve.expect_code(0);
    let (job, cron, serve) = (job.stdout(), cron.stdout(), serve.stdout());
    assert!(serve.contains("kind: Deployment") && serve.contains("- serve"));
    for text in [&job, &cron, &serve] {
        assert!(!text.contains(KEY_VALUE) && !text.contains("topic-value-4242"));
        assert!(text.contains("key: OPENAI_API_KEY") && text.contains("key: CAR_NTFY_TOPIC"));
    }
    assert!(job.contains("kind: Job") && job.contains("namespace: agents"));
    assert!(job.contains("name: car-env"));
    assert!(cron.contains("kind: CronJob") && cron.contains("- --if-idle"));
    let Some(program) = validator() else { return };
    let both = format!("{job}---\n{cron}---\n{serve}");
    for version in K8S_VERSIONS {
        let (ok, out) = validate(&program, version, &both);
        assert!(ok, "Kubernetes {version}: {out}\n{both}");
        for kind in ["job", "cronjob", "deployment", "persistentvolumeclaim"] {
            assert!(
                out.contains(&format!("passed for resource {kind}/")),
                "{version}: {out}"
            );
        }
    }
    // The validator does reject: a field no container has.
    let broken = job.replace("imagePullPolicy:", "imagePulPolicy:");
    let (ok, out) = validate(&program, K8S_VERSIONS[0], &broken);
    assert!(!ok, "a misspelt field passed: {out}");
}

#[test]
fn kubernetes_refusals_say_what_to_do() {
    let env = TestEnv::new();
    let install = env.run(&["service", "install", "kubernetes"]);
    install.expect_code(2);
    assert!(
        install
            .stderr()
            .contains("car service print kubernetes | kubectl apply -f -"),
        "{}",
        install.stderr()
    );
    let uninstall = env.run(&["service", "uninstall", "kubernetes"]);
    uninstall.expect_code(2);
    assert!(
        uninstall.stderr().contains("kubectl delete"),
        "{}",
        uninstall.stderr()
    );
    for (args, says) in [
        (vec!["--schedule", "every hour"], "not a cron schedule"),
        (vec!["--interval", "60"], "--schedule CRON"),
        (vec!["--what", "telegram"], "not the Telegram bot"),
        (
            vec!["--what", "serve", "--schedule", "@daily"],
            "runs until stopped",
        ),
        (vec!["--namespace", "Agents"], "namespace"),
        (vec!["--secret", "my_secret"], "Secret name"),
    ] {
        let r = print(&env, &args);
        r.expect_code(2);
        assert!(r.stderr().contains(says), "{args:?}: {}", r.stderr());
        assert!(r.stdout().is_empty(), "{args:?}: {}", r.stdout());
    }
    let systemd = env.run(&["service", "print", "systemd", "--schedule", "@hourly"]);
    systemd.expect_code(2);
    assert!(
        systemd.stderr().contains("--schedule is for"),
        "{}",
        systemd.stderr()
    );
}

/// The repository's root (the tests crate is one level down).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn dockerfile_pins_the_tested_codex_and_runs_as_non_root() {
    let root = repo_root();
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    let tested = ci
        .lines()
        .find_map(|l| l.strip_prefix("CODEX_VERSION="))
        .expect(".ci/run pins CODEX_VERSION")
        .trim();
    let docker = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    // Instructions with their continuation lines joined.
    let text = docker.replace("\\\n", " ");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms = lines.iter().filter(|l| l.starts_with("FROM ")).count();
    assert!(froms >= 2, "multi-stage: {froms} FROM");
    assert!(
        lines.iter().any(|l| l.contains("cargo build")
            && l.contains("--release")
            && l.contains("--locked")),
        "{docker}"
    );
    let pinned = format!("@openai/codex@{tested}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("RUN ") && l.contains(&pinned)),
        "the Dockerfile installs {pinned}, the version the tests use: {docker}"
    );
    // The last stage's final USER is a non-root user, matching the
    // manifests' runAsUser.
    let last_stage = lines.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
    let user = lines[last_stage..]
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the runtime stage sets USER")
        .trim();
    let uid = user.split(':').next().unwrap();
    assert!(uid != "root" && uid != "0", "USER {user}");
    assert_eq!(
        uid.parse::<u32>().ok(),
        Some(10001),
        "USER by number (runAsNonRoot checks a number): {user}"
    );
    // The manifests give `args`: the image's entrypoint passes signals on.
    assert!(
        lines[last_stage..]
            .iter()
            .any(|l| l.starts_with("ENTRYPOINT ") && l.contains("tini")),
        "{docker}"
    );
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    assert!(
        ignore
            .lines()
            .any(|l| l.trim().trim_end_matches('/') == "target"),
        ".dockerignore leaves target out: {ignore}"
    );
}
