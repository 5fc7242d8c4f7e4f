//! Append-to-delivery latency of the followers: the time from a line
//! appended to the ledger (or bytes to a run's output log) to the item
//! arriving from `Repo::follow_events` (or `Repo::follow_output`), with
//! the follower idle (waiting for a notification) before each append.
//!
//! `cargo bench -p car-core --bench follow` prints p50/p99 first (a timing
//! loop of its own), then divan's figures of the same round trip.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use car_core::{Follow, InitOptions, LoadOptions, OutputOf, Repo};

/// Samples of the percentile loop.
const SAMPLES: usize = 400;
/// The pause before each append, so the follower is waiting as when idle.
const IDLE: Duration = Duration::from_millis(2);

fn main() {
    let (_dir, repo) = repo();
    let rt = runtime();
    let mut events = Appender::events(&repo);
    report("follow_events", &rt, &mut events);
    let mut output = Appender::output(&repo);
    report("follow_output", &rt, &mut output);
    divan::main();
}

fn repo() -> (tempfile::TempDir, Repo) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("repo");
    Repo::init(&InitOptions {
        path: root.clone(),
        git_init: true,
        force: false,
        load: LoadOptions::default(),
    })
    .expect("init");
    let repo = Repo::open_with(&root, &LoadOptions::default()).expect("open");
    (dir, repo)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Appends to a followed file and waits for the follower to deliver it.
enum Appender {
    Events {
        file: std::fs::File,
        seq: u64,
        follow: Follow<car_core::EventEnvelope>,
    },
    Output {
        file: std::fs::File,
        follow: Follow<car_core::OutputChunk>,
    },
}

fn append_file(path: &Path) -> std::fs::File {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("dir");
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open")
}

impl Appender {
    fn events(repo: &Repo) -> Self {
        let path = repo.events_path();
        let file = append_file(&path);
        Self::Events {
            file,
            seq: 0,
            follow: repo.follow_events(None),
        }
    }

    fn output(repo: &Repo) -> Self {
        let path: PathBuf = repo.runs_dir().join("1").join("output.log");
        let file = append_file(&path);
        Self::Output {
            file,
            follow: repo.follow_output(OutputOf::Current, 0),
        }
    }

    /// One append and its delivery; returns the time between them.
    fn round_trip(&mut self, rt: &tokio::runtime::Runtime) -> Duration {
        match self {
            Self::Events { file, seq, follow } => {
                *seq += 1;
                let line = format!(
                    "{{\"v\":1,\"seq\":{seq},\"ts\":\"2026-01-01T00:00:00.000Z\",\"type\":\"bench\",\"run_id\":null}}\n"
                );
                let t = Instant::now();
                file.write_all(line.as_bytes()).expect("append");
                let got = rt.block_on(follow.next()).expect("an event");
                let elapsed = t.elapsed();
                assert_eq!(got.seq, Some(*seq));
                elapsed
            }
            Self::Output { file, follow } => {
                let t = Instant::now();
                file.write_all(b"a line of agent output\n").expect("append");
                let got = rt.block_on(follow.next()).expect("a chunk");
                let elapsed = t.elapsed();
                assert_eq!(got.run_id, 1);
                elapsed
            }
        }
    }
}

fn report(name: &str, rt: &tokio::runtime::Runtime, a: &mut Appender) {
    // The output follower delivers what the log holds first: warm up.
    for _ in 0..5 {
        std::thread::sleep(IDLE);
        a.round_trip(rt);
    }
    let mut times: Vec<Duration> = (0..SAMPLES)
        .map(|_| {
            std::thread::sleep(IDLE);
            a.round_trip(rt)
        })
        .collect();
    times.sort();
    let at = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    println!(
        "{name}: append-to-delivery over {SAMPLES} appends: p50 {:?}, p99 {:?}, max {:?}",
        at(50),
        at(99),
        times[times.len() - 1]
    );
}

#[divan::bench(sample_count = 200)]
fn follow_events_append_to_delivery(bencher: divan::Bencher) {
    let (_dir, repo) = repo();
    let rt = runtime();
    let mut a = Appender::events(&repo);
    bencher.bench_local(|| a.round_trip(&rt));
}

#[divan::bench(sample_count = 200)]
fn follow_output_append_to_delivery(bencher: divan::Bencher) {
    let (_dir, repo) = repo();
    let rt = runtime();
    let mut a = Appender::output(&repo);
    bencher.bench_local(|| a.round_trip(&rt));
}
