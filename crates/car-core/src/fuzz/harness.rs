//! The harness of every fuzz target: how many cases, the committed corpus,
//! and the tally of executions and failures each target prints.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

/// Cases per strategy when `CAR_FUZZ_CASES` is not set.
const DEFAULT_CASES: u32 = 64;

/// Cases per strategy.
fn cases() -> u32 {
    std::env::var("CAR_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// The committed seeds of a target: `(file name, bytes)`, sorted.
pub(super) fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz-corpus")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| {
            let bytes = std::fs::read(e.path()).unwrap_or_default();
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "empty corpus {}", dir.display());
    out
}

/// Counts executions and failures of one target, and prints them.
pub(super) struct Tally {
    target: &'static str,
    runs: AtomicU64,
    failures: AtomicU64,
}

impl Tally {
    pub(super) fn new(target: &'static str) -> Self {
        Self {
            target,
            runs: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// Runs `check` on `cases()` inputs of `strategy`; panics with the
    /// smallest failing input.
    pub(super) fn run<S: Strategy>(
        &self,
        name: &str,
        strategy: S,
        check: impl Fn(S::Value) -> Result<(), TestCaseError>,
    ) where
        S::Value: std::fmt::Debug,
    {
        let mut runner = TestRunner::new(Config {
            cases: cases(),
            failure_persistence: None,
            max_shrink_iters: 2048,
            ..Config::default()
        });
        let start = std::time::Instant::now();
        let result = runner.run(&strategy, |input| {
            self.runs.fetch_add(1, Ordering::Relaxed);
            check(input)
        });
        if std::env::var_os("CAR_FUZZ_TIMING").is_some() {
            eprintln!("fuzz {}/{name}: {:?}", self.target, start.elapsed());
        }
        match result {
            Ok(()) => {}
            Err(TestError::Fail(why, input)) => {
                // One failure per strategy that found a failing input (the
                // shrinking runs are not counted apart).
                self.failures.fetch_add(1, Ordering::Relaxed);
                self.print();
                panic!(
                    "fuzz {}/{name} failed: {why}\nsmallest input: {input:?}",
                    self.target
                )
            }
            Err(e) => panic!("fuzz {}/{name}: {e}", self.target),
        }
    }

    /// Replays the corpus through `check`.
    pub(super) fn replay(&self, check: impl Fn(&str, &[u8]) -> Result<(), TestCaseError>) {
        for (name, bytes) in corpus(self.target) {
            self.runs.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = check(&name, &bytes) {
                self.failures.fetch_add(1, Ordering::Relaxed);
                panic!("fuzz {}: corpus seed {name} fails: {e}", self.target);
            }
        }
    }

    fn print(&self) {
        // Test output for scripts/fuzz.sh, which sums these lines.
        eprintln!(
            "fuzz {}: {} executions, {} failures",
            self.target,
            self.runs.load(Ordering::Relaxed),
            self.failures.load(Ordering::Relaxed)
        );
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.print();
        }
    }
}
