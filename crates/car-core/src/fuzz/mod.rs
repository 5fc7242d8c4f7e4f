//! Property tests that fuzz the parsers of untrusted input: the config
//! loader, the TODO parser and the Codex event parser.
//!
//! Each target replays its committed corpus (`fuzz-corpus/<target>/`) and
//! then runs random cases: random text over the target's dictionary,
//! mutations of the corpus, and structured random inputs. The default is a
//! bounded number of cases (a few seconds in all); `CAR_FUZZ_CASES=N` runs
//! N cases per strategy (`scripts/fuzz.sh` runs a long session). Every
//! target prints `fuzz <target>: <executions> executions, <failures>
//! failures`. A failure panics with the smallest input proptest found;
//! each one found is kept as a named regression test beside its target.

mod codex;
mod config;
mod todo;

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
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
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
struct Tally {
    target: &'static str,
    runs: AtomicU64,
    failures: AtomicU64,
}

impl Tally {
    fn new(target: &'static str) -> Self {
        Self {
            target,
            runs: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// Runs `check` on `cases()` inputs of `strategy`; panics with the
    /// smallest failing input.
    fn run<S: Strategy>(
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
    fn replay(&self, check: impl Fn(&str, &[u8]) -> Result<(), TestCaseError>) {
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

/// One edit of a byte string; positions wrap around its length.
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Repeat(usize, usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Set(p, b)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(p, b)| Edit::Insert(p, b)),
        (any::<usize>(), 1usize..64).prop_map(|(p, n)| Edit::Delete(p, n)),
        (any::<usize>(), 1usize..16, 1usize..64).prop_map(|(p, n, k)| Edit::Repeat(p, n, k)),
    ]
}

/// Applies edits to `bytes`, with `tokens` as extra insertions.
fn apply(mut bytes: Vec<u8>, edits: &[Edit], tokens: &[&[u8]]) -> Vec<u8> {
    for e in edits {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % (len + 1) };
        match e {
            Edit::Set(p, b) if !bytes.is_empty() => {
                let i = p % bytes.len();
                bytes[i] = *b;
            }
            Edit::Set(..) => {}
            Edit::Insert(p, b) => {
                let i = at(*p, bytes.len());
                // Half the insertions are dictionary tokens, which reach
                // deeper than random bytes.
                let ins: &[u8] = if b[0] % 2 == 0 && !tokens.is_empty() {
                    tokens[usize::from(b[0]) % tokens.len()]
                } else {
                    b
                };
                bytes.splice(i..i, ins.iter().copied());
            }
            Edit::Delete(p, n) => {
                let i = at(*p, bytes.len());
                let end = (i + n).min(bytes.len());
                bytes.drain(i..end);
            }
            Edit::Repeat(p, n, k) => {
                let i = at(*p, bytes.len());
                let end = (i + n).min(bytes.len());
                let chunk: Vec<u8> = bytes[i..end].to_vec();
                for _ in 0..*k {
                    bytes.splice(end..end, chunk.iter().copied());
                }
            }
        }
    }
    bytes
}

/// A seed of `target` with random edits.
fn mutated(target: &str, tokens: &'static [&'static [u8]]) -> impl Strategy<Value = Vec<u8>> {
    let seeds: Vec<Vec<u8>> = corpus(target).into_iter().map(|(_, b)| b).collect();
    (
        prop::sample::select(seeds),
        prop::collection::vec(edit(), 1..12),
    )
        .prop_map(move |(seed, edits)| apply(seed, &edits, tokens))
}

/// Text made of dictionary tokens and random characters.
fn token_text(tokens: &'static [&'static [u8]], max: usize) -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => prop::sample::select(tokens).prop_map(<[u8]>::to_vec),
        1 => any::<char>().prop_map(|c| c.to_string().into_bytes()),
    ];
    prop::collection::vec(piece, 0..max).prop_map(|v| v.concat())
}
