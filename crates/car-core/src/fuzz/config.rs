//! Fuzzing the config loader: any text in any layer, and any `-c` value,
//! gives a configuration or a typed error naming where the value came from,
//! within a second, and never a panic.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_yaml::{Mapping, Value};

use super::{Tally, mutated, token_text};
use crate::config::{self, ConfigError, LoadOptions};
use crate::paths::RepoPaths;

/// The longest one load may take.
const BOUND: Duration = Duration::from_secs(1);

const TOKENS: &[&[u8]] = &[
    b"version",
    b"mode",
    b"repo",
    b"hub",
    b"docs",
    b"todo",
    b"codex",
    b"args",
    b"model",
    b"binary",
    b"runner",
    b"sleep_seconds",
    b"max_wallclock_seconds",
    b"run_timeout_seconds",
    b"stop_after_runs",
    b"notifications",
    b"enabled",
    b"events",
    b"thread_id_map",
    b"telegram",
    b"git",
    b"auto_commit",
    b"server",
    b"port",
    b"quiet_hours",
    b": ",
    b":",
    b" ",
    b"  ",
    b"\n",
    b"\n  ",
    b"\n    ",
    b"- ",
    b"[",
    b"]",
    b"{",
    b"}",
    b", ",
    b"'",
    b"\"",
    b"# ",
    b"&a ",
    b"*a",
    b"!tag ",
    b"!!str ",
    b"!!int ",
    b"!!float ",
    b"!!binary ",
    b"<<: *a",
    b"|\n",
    b">-\n",
    b"? ",
    b"---\n",
    b"...\n",
    b"%YAML 1.1\n",
    b"\t",
    b"\\",
    b"1e20",
    b"1e308",
    b"-1",
    b".nan",
    b".inf",
    b"18446744073709551616",
    b"9.3e18",
    b"0x1F",
    b"0o17",
    b"yes",
    b"no",
    b"on",
    b"off",
    b"auto",
    b"null",
    b"~",
    b"true",
    b"0",
    b"2",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\r\n",
    b"\0",
];

/// Every leaf key of the built-in defaults.
fn known_keys() -> Vec<String> {
    config::default_keys()
}

/// A random value: what a person or a hostile file could write.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => Just(Value::Null),
        4 => any::<bool>().prop_map(Value::Bool),
        4 => any::<i64>().prop_map(Value::from),
        4 => any::<u64>().prop_map(Value::from),
        4 => any::<f64>().prop_map(Value::from),
        4 => prop::sample::select(vec![1e20, 1e308, 9.3e18, 315_360_000.0, 315_360_001.0, -0.0])
            .prop_map(Value::from),
        4 => "[a-z0-9 ._/-]{0,12}".prop_map(Value::String),
        4 => prop::sample::select(vec!["yes", "no", "on", "off", "auto", "Off", "1e20", ""])
            .prop_map(|s| Value::String(s.into())),
        // Past the string limit (16 KiB).
        1 => prop::sample::select(vec![16_384, 16_385, 40_000]).prop_map(|n| Value::String("m".repeat(n))),
        4 => any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Sequence),
            prop::collection::vec((inner.clone(), inner), 0..4)
                .prop_map(|kv| Value::Mapping(kv.into_iter().collect())),
        ]
    })
}

/// A structured config: known keys (and a few others) with random values.
fn structured() -> impl Strategy<Value = Value> {
    let keys = known_keys();
    let key = prop_oneof![
        8 => prop::sample::select(keys),
        1 => prop::sample::select(vec!["runner", "codex", "notifications.telegram", "repo", "x.y"])
            .prop_map(str::to_string),
    ];
    prop::collection::vec((key, value()), 0..10).prop_map(|pairs| {
        let mut root = Value::Mapping(Mapping::new());
        for (k, v) in pairs {
            set(&mut root, &k, v);
        }
        root
    })
}

fn set(root: &mut Value, key: &str, v: Value) {
    let mut at = root;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        if !at.is_mapping() {
            *at = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(m) = at else { return };
        if i + 1 == parts.len() {
            m.insert(Value::String((*p).into()), v);
            return;
        }
        at = m
            .entry(Value::String((*p).into()))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
    }
}

/// A scratch repository the cases write their config files into.
struct Scratch {
    _dir: tempfile::TempDir,
    paths: RepoPaths,
}

impl Scratch {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().canonicalize().expect("canonical temp dir");
        let paths = RepoPaths::new(&root);
        std::fs::create_dir_all(&paths.car_dir).expect("car dir");
        Self { _dir: dir, paths }
    }

    /// Loads with `text` as the file `which` (the others absent).
    fn load_file(&self, which: Which, text: &[u8]) -> Result<(), TestCaseError> {
        let file = match which {
            Which::Repo => self.paths.config_file(),
            Which::Root => self.paths.root.join("codex-autorunner.yml"),
        };
        for f in [
            self.paths.config_file(),
            self.paths.root.join("codex-autorunner.yml"),
        ] {
            let _ = std::fs::remove_file(f);
        }
        std::fs::write(&file, text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let start = Instant::now();
        let result = config::load(&self.paths, &LoadOptions::default());
        let took = start.elapsed();
        prop_assert!(took < BOUND, "loading took {took:?}");
        check_names(&result, &file.display().to_string())
    }
}

#[derive(Debug, Clone, Copy)]
enum Which {
    Repo,
    Root,
}

fn which() -> impl Strategy<Value = Which> {
    prop_oneof![3 => Just(Which::Repo), 1 => Just(Which::Root)]
}

/// What serde's messages say where a person needs YAML words.
const RUST_WORDS: &[&str] = &[
    "invalid type:",
    "expected f64",
    "expected u16",
    "expected u32",
    "expected u64",
    "expected usize",
    "expected i64",
    "struct Raw",
];

/// An error must name where the bad value is; so must every warning.
fn check_names(
    result: &Result<config::ResolvedConfig, ConfigError>,
    origin: &str,
) -> Result<(), TestCaseError> {
    match result {
        Ok(r) => {
            for w in &r.warnings {
                prop_assert!(
                    w.to_string().contains(origin),
                    "warning {w} does not name {origin}"
                );
            }
        }
        Err(e) => {
            let msg = e.to_string();
            prop_assert!(msg.contains(origin), "error does not name {origin}: {msg}");
            prop_assert!(
                !RUST_WORDS.iter().any(|w| msg.contains(w)),
                "error not in YAML words: {msg}"
            );
        }
    }
    Ok(())
}

#[test]
fn fuzz_config_loader() {
    let tally = Tally::new("config");
    let scratch = Scratch::new();
    tally.replay(|name, bytes| {
        let which = if name.starts_with("sectioned") {
            Which::Root
        } else {
            Which::Repo
        };
        scratch.load_file(which, bytes)
    });
    tally.run("tokens", (which(), token_text(TOKENS, 200)), |(w, text)| {
        scratch.load_file(w, &text)
    });
    tally.run(
        "mutated",
        (which(), mutated("config", TOKENS)),
        |(w, text)| scratch.load_file(w, &text),
    );
    tally.run(
        "structured",
        (which(), structured(), any::<bool>()),
        |(w, v, flow)| {
            let text = if flow {
                serde_json::to_string(&v).unwrap_or_default()
            } else {
                serde_yaml::to_string(&v).unwrap_or_default()
            };
            scratch.load_file(w, text.as_bytes())
        },
    );
    tally.run(
        "command line",
        (prop::sample::select(known_keys()), token_text(TOKENS, 12)),
        |(key, raw)| {
            let raw = String::from_utf8_lossy(&raw).into_owned();
            let flag = format!("-c {key}=...");
            let opts = LoadOptions {
                env: Vec::new(),
                user_file: None,
                cli: vec![(key, raw, flag.clone())],
            };
            let _ = std::fs::remove_file(scratch.paths.root.join("codex-autorunner.yml"));
            std::fs::write(scratch.paths.config_file(), "version: 2\n")
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let start = Instant::now();
            let result = config::load(&scratch.paths, &opts);
            prop_assert!(start.elapsed() < BOUND);
            match &result {
                Err(e) => check_names(&result, &flag)
                    .map_err(|f| TestCaseError::fail(format!("{f} ({e})"))),
                Ok(_) => Ok(()),
            }
        },
    );
}

/// Inputs the fuzzer found failing, kept as named regression tests (each
/// is also a seed in `fuzz-corpus/config/`).
mod regressions {
    use super::*;

    /// `runner: {["]ᱍ"]: null}`: the warning for a list used as a key
    /// looked for its line with a path splitter that sliced inside `ᱍ`.
    #[test]
    fn list_key_with_multibyte_text_does_not_panic() {
        let text = serde_yaml::to_string(
            &serde_yaml::from_str::<Value>("runner:\n  ? [\"]\u{1c4d}\"]\n  : null\n")
                .expect("valid YAML"),
        )
        .expect("serializes");
        let scratch = Scratch::new();
        scratch
            .load_file(Which::Repo, text.as_bytes())
            .expect("names the file");
        let r = config::load(&scratch.paths, &LoadOptions::default()).expect("loads");
        assert!(r.warnings[0].to_string().contains("is not a known key"));
    }

    /// `-c mode=hub`: the error blamed the repo config file.
    #[test]
    fn hub_mode_from_the_command_line_names_the_flag() {
        let scratch = Scratch::new();
        std::fs::write(scratch.paths.config_file(), "version: 2\n").expect("write");
        let flag = "-c mode=hub".to_string();
        let opts = LoadOptions {
            env: Vec::new(),
            user_file: None,
            cli: vec![("mode".into(), "hub".into(), flag.clone())],
        };
        let result = config::load(&scratch.paths, &opts);
        check_names(&result, &flag).expect("names the flag");
        // Set in a file, it names the file.
        std::fs::write(scratch.paths.config_file(), "version: 2\nmode: hub\n").expect("write");
        let e = config::load(&scratch.paths, &LoadOptions::default()).expect_err("hub");
        assert!(matches!(e, ConfigError::HubMode { .. }), "{e}");
    }

    /// `-c runner.sleep_seconds=\u{af640}`: the message shows the value
    /// escaped, and the first check for Rust type names took its `f64` for
    /// serde's `expected f64`; the message is right, in YAML words.
    #[test]
    fn a_non_ascii_value_for_seconds_is_named_in_yaml_words() {
        let scratch = Scratch::new();
        std::fs::write(scratch.paths.config_file(), "version: 2\n").expect("write");
        let flag = "-c runner.sleep_seconds=...".to_string();
        let opts = LoadOptions {
            env: Vec::new(),
            user_file: None,
            cli: vec![(
                "runner.sleep_seconds".into(),
                "\u{af640}".into(),
                flag.clone(),
            )],
        };
        let result = config::load(&scratch.paths, &opts);
        let msg = result
            .as_ref()
            .map(|_| ())
            .expect_err("not seconds")
            .to_string();
        assert!(
            msg.contains("(a string); expected a number of seconds"),
            "{msg}"
        );
        check_names(&result, &flag).expect("YAML words");
    }
}
