//! `fake-agent`: a scripted stand-in for `codex`, spawned by `car` in the
//! end-to-end tests.
//!
//! # Start-up
//!
//! `fake-agent --version` prints `codex-cli 0.169.0` (or `codex-cli
//! $FAKE_AGENT_VERSION`) and exits without counting as an invocation.
//!
//! 1. All of stdin (the prompt) is read into memory first. Empty stdin or
//!    `/dev/null` is fine.
//! 2. If `FAKE_AGENT_SCRIPT` is unset (or empty) the process exits 0.
//! 3. The invocation counter `<script>.count` (a text integer; missing = 0)
//!    is incremented and written back atomically. `n` is the new value
//!    (1-based).
//! 4. The prompt is saved to `<script>.prompt-<n>` and the line
//!    `<n> <args joined by \x1f>` is appended to `<script>.argv` (arguments
//!    exclude argv\[0\]).
//! 5. The script is split into sections by lines that are `---` (surrounding
//!    whitespace ignored). Invocation `n` runs section `n`; once `n` exceeds
//!    the number of sections the last section runs again and again.
//!
//! # Script language
//!
//! One step per line. Lines are trimmed; blank lines and lines starting with
//! `#` are ignored. A step is a verb followed by whitespace-separated
//! arguments. `TEXT` is the rest of the line after the verb (or after the
//! `PATH` argument) with exactly one separating whitespace character removed;
//! it is otherwise verbatim and may be empty. `PATH`s are single
//! whitespace-free tokens, relative to the working directory (the repo root).
//!
//! | step                                      | effect |
//! |-------------------------------------------|--------|
//! | `out TEXT`                                | print `TEXT\n` to stdout |
//! | `err TEXT`                                | print `TEXT\n` to stderr |
//! | `check-todo [PATH]`                       | tick the first open `- [ ]` item (markers `-`, `*`, `+`, `1.`, `1)`) in PATH (default `.codex-autorunner/TODO.md`); prints `fake-agent: no open todo` to stderr if there is none |
//! | `progress TEXT`                           | append `- TEXT\n` to `.codex-autorunner/PROGRESS.md` |
//! | `write PATH TEXT`                         | create parent dirs, overwrite PATH with `TEXT\n` |
//! | `append PATH TEXT`                        | append `TEXT\n` to PATH (created if missing) |
//! | `sleep SECS`                              | sleep (fractions allowed, e.g. `0.2`) |
//! | `exit N`                                  | flush and exit with code N |
//! | `kill-self SIG`                           | send itself a signal (`TERM`, `SIGKILL`, `9`, ...) |
//! | `ignore-term`                             | ignore SIGTERM from now on (inherited by later grandchildren) |
//! | `spawn-grandchild PIDFILE SECS`           | spawn `sleep SECS` with null stdio, write its pid to PIDFILE, don't wait |
//! | `spawn-grandchild-holding-pipes PIDFILE SECS` | same, but the child inherits stdout and stderr |
//! | `write-pid PATH`                          | write this process's pid to PATH |
//! | `save-prompt PATH`                        | write the prompt bytes to PATH |
//! | `flood BYTES LINELEN`                     | write BYTES bytes as LINELEN-byte lines (`o…\n` on stdout, `e…\n` on stderr, alternating, starting with stdout; a final partial line takes the remainder) |
//! | `raw-out HEX`                             | write the hex-decoded bytes (whitespace ignored) plus `\n` to stdout |
//! | `long-line N`                             | print N `x` bytes plus `\n` to stdout |
//! | `env-out NAME`                            | print `NAME=<value>` or `NAME=<unset>` to stdout |
//! | `last-message TEXT`                       | write TEXT (`\n` = newline) to the file after `-o` in argv, as `codex exec -o` does |
//! | `spawn-detached PIDFILE SECS`             | spawn `sleep SECS` in a process group of its own (as `setsid cmd &` would), write its pid |
//! | `wait-file PATH SECS`                     | wait until PATH exists (at most SECS seconds) |
//! | `cat-prompt`                              | write the prompt bytes to stdout unchanged |
//! | `repeat-out N TEXT`                       | print TEXT N times, then `\n`, to stdout (one long line, written in 64 KiB blocks that may end inside a character) |
//! | `raw-write PATH HEX`                      | create parent dirs, overwrite PATH with the hex-decoded bytes (whitespace ignored) |
//! | `out-every SECS TEXT`                     | print `TEXT\n` to stdout every SECS seconds, forever |
//! | `err-every SECS TEXT`                     | print `TEXT\n` to stderr every SECS seconds, forever |
//! | `env-all`                                 | print every `NAME=value` of the environment, sorted, one a line |
//! | `spawn-setsid PIDFILE SECS`               | start a copy of itself that calls `setsid` (a session of its own), writes its pid to PIDFILE and sleeps SECS; wait until PIDFILE exists |
//! | `spawn-setsid-holding-pipes PIDFILE SECS` | same, but the copy inherits stdout and stderr |
//! | `double-fork PIDFILE SECS`                | start a copy of itself that calls `setsid`, starts a `spawn-setsid` daemon and exits at once (the daemon's parent is gone); wait for that copy |
//! | `kill-parent SIG`                         | send SIG to the parent process |
//! | `kill-runner SIG`                         | send SIG to the car runner recorded in `.codex-autorunner/state.json` (`runner_pid`) |
//! | `sh TEXT`                                 | run `sh -c TEXT` with this process's stdio and wait for it (what it starts in the background keeps running; fails on a non-zero exit) |
//!
//! Pid files and the TODO file are written atomically (temp file + rename).
//!
//! The whole selected section is parsed before any step runs.
//!
//! # Exit codes
//!
//! * 0: all steps ran (or no script);
//! * N: an `exit N` step;
//! * 97: a malformed step (`fake-agent: bad step: <line>` on stderr);
//! * 98: an I/O or other runtime failure (`fake-agent: <what>: <error>`).

use std::ffi::{OsStr, OsString};
use std::fs::{self, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::str::FromStr;
use std::time::Duration;

use nix::sys::signal::{self, SigHandler, Signal};
use nix::unistd::Pid;

const EXIT_BAD_STEP: u8 = 97;
const EXIT_FAILURE: u8 = 98;
const DEFAULT_TODO: &str = ".codex-autorunner/TODO.md";
const PROGRESS: &str = ".codex-autorunner/PROGRESS.md";
const BUF_CAPACITY: usize = 64 * 1024;

/// Why the fake agent stops early.
enum Failure {
    /// A step line that could not be parsed.
    BadStep(String),
    /// A runtime failure, already described.
    Runtime(String),
}

type Res<T> = Result<T, Failure>;

/// Attaches a description to an I/O-ish error.
trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Res<T>;
}

impl<T, E: std::fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Res<T> {
        self.map_err(|e| Failure::Runtime(format!("{}: {e}", what())))
    }
}

enum Step {
    Out(String),
    Err(String),
    CheckTodo(PathBuf),
    Progress(String),
    Write(PathBuf, String),
    Append(PathBuf, String),
    Sleep(Duration),
    Exit(i32),
    KillSelf(Signal),
    IgnoreTerm,
    SpawnGrandchild {
        pidfile: PathBuf,
        secs: String,
        hold_pipes: bool,
    },
    WritePid(PathBuf),
    SavePrompt(PathBuf),
    Flood {
        bytes: u64,
        line_len: usize,
    },
    RawOut(Vec<u8>),
    LongLine(usize),
    EnvOut(String),
    CatPrompt,
    LastMessage(String),
    WaitFile(PathBuf, Duration),
    SpawnDetached(PathBuf, String),
    RepeatOut(usize, String),
    RawWrite(PathBuf, Vec<u8>),
    OutEvery(Duration, String),
    ErrEvery(Duration, String),
    EnvAll,
    SpawnSetsid(PathBuf, String, bool),
    DoubleFork(PathBuf, String),
    KillParent(Signal),
    KillRunner(Signal),
    Sh(String),
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::BadStep(line)) => {
            report(&format!("bad step: {line}"));
            ExitCode::from(EXIT_BAD_STEP)
        }
        Err(Failure::Runtime(msg)) => {
            report(&msg);
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Prints `fake-agent: <msg>` to stderr, ignoring failures to do so.
fn report(msg: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "fake-agent: {msg}");
    let _ = err.flush();
}

fn run() -> Res<()> {
    // `--version` answers like Codex (car asks once per loop) and is not
    // counted as an invocation. FAKE_AGENT_VERSION overrides the version.
    if std::env::args().nth(1).as_deref() == Some("--version") {
        let v = std::env::var("FAKE_AGENT_VERSION").unwrap_or_else(|_| "0.169.0".to_owned());
        println!("codex-cli {v}");
        return Ok(());
    }
    // The copies started by `spawn-setsid` and `double-fork`: not invocations.
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if let [mode, pidfile, secs] = args.as_slice()
        && (mode == "--as-daemon" || mode == "--as-forker")
    {
        let _ = nix::unistd::setsid();
        let pidfile = PathBuf::from(pidfile);
        let secs = secs.to_string_lossy().into_owned();
        if mode == "--as-forker" {
            return start_daemon(&pidfile, &secs, false).context(|| "double fork".to_owned());
        }
        write_atomic(&pidfile, std::process::id().to_string().as_bytes())
            .context(|| format!("writing {}", pidfile.display()))?;
        std::thread::sleep(parse_secs(&secs).unwrap_or_default());
        return Ok(());
    }
    let mut prompt = Vec::new();
    io::stdin()
        .lock()
        .read_to_end(&mut prompt)
        .context(|| "reading stdin".to_owned())?;

    let script = match std::env::var_os("FAKE_AGENT_SCRIPT") {
        Some(s) if !s.is_empty() => PathBuf::from(s),
        _ => return Ok(()),
    };

    let n = bump_counter(&script)?;
    record_invocation(&script, n, &prompt)?;

    let text =
        fs::read_to_string(&script).context(|| format!("reading script {}", script.display()))?;
    let sections = split_sections(&text);
    let index = usize::try_from(n)
        .unwrap_or(usize::MAX)
        .min(sections.len())
        .saturating_sub(1);
    let section: &[&str] = sections.get(index).map_or(&[], Vec::as_slice);

    let steps = section
        .iter()
        .map(|line| parse_step(line).map(|step| (*line, step)))
        .collect::<Res<Vec<_>>>()?;
    for (line, step) in steps {
        execute(step, &prompt).context(|| line.to_owned())?;
    }
    flush_std();
    Ok(())
}

/// `path` with `suffix` appended to its last component.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Increments `<script>.count` and returns the new value.
fn bump_counter(script: &Path) -> Res<u64> {
    let path = sibling(script, ".count");
    let previous = match fs::read_to_string(&path) {
        Ok(s) => s
            .trim()
            .parse::<u64>()
            .context(|| format!("parsing counter {}", path.display()))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e).context(|| format!("reading {}", path.display())),
    };
    let n = previous + 1;
    write_atomic(&path, format!("{n}\n").as_bytes())
        .context(|| format!("writing {}", path.display()))?;
    Ok(n)
}

/// Saves the prompt and appends the argument line for invocation `n`.
fn record_invocation(script: &Path, n: u64, prompt: &[u8]) -> Res<()> {
    let prompt_path = sibling(script, &format!(".prompt-{n}"));
    fs::write(&prompt_path, prompt).context(|| format!("writing {}", prompt_path.display()))?;

    let mut line = format!("{n} ").into_bytes();
    for (i, arg) in std::env::args_os().skip(1).enumerate() {
        if i > 0 {
            line.push(0x1f);
        }
        line.extend_from_slice(arg.as_bytes());
    }
    line.push(b'\n');
    let argv_path = sibling(script, ".argv");
    append_bytes(&argv_path, &line).context(|| format!("appending to {}", argv_path.display()))
}

/// Splits the script into sections of trimmed, non-blank, non-comment lines.
fn split_sections(text: &str) -> Vec<Vec<&str>> {
    let mut sections = vec![Vec::new()];
    for raw in text.lines() {
        let line = raw.trim();
        if line == "---" {
            sections.push(Vec::new());
        } else if !line.is_empty()
            && !line.starts_with('#')
            && let Some(last) = sections.last_mut()
        {
            last.push(line);
        }
    }
    sections
}

/// Splits off the first whitespace-delimited word; the remainder loses
/// exactly one separating whitespace character.
fn split_word(s: &str) -> (&str, &str) {
    match s.char_indices().find(|(_, c)| c.is_whitespace()) {
        Some((i, c)) => (&s[..i], &s[i + c.len_utf8()..]),
        None => (s, ""),
    }
}

fn parse_step(line: &str) -> Res<Step> {
    let bad = || Failure::BadStep(line.to_owned());
    let (verb, rest) = split_word(line);
    let args: Vec<&str> = rest.split_whitespace().collect();
    let path_and_text = || {
        let (path, text) = split_word(rest.trim_start());
        if path.is_empty() {
            Err(bad())
        } else {
            Ok((PathBuf::from(path), text.to_owned()))
        }
    };
    let one_arg = || match args.as_slice() {
        [a] => Ok(*a),
        _ => Err(bad()),
    };
    let no_args = |step: Step| {
        if args.is_empty() {
            Ok(step)
        } else {
            Err(bad())
        }
    };

    let step = match verb {
        "out" => Step::Out(rest.to_owned()),
        "err" => Step::Err(rest.to_owned()),
        "check-todo" => match args.as_slice() {
            [] => Step::CheckTodo(PathBuf::from(DEFAULT_TODO)),
            [p] => Step::CheckTodo(PathBuf::from(p)),
            _ => return Err(bad()),
        },
        "progress" => Step::Progress(rest.to_owned()),
        "write" => {
            let (path, text) = path_and_text()?;
            Step::Write(path, text)
        }
        "append" => {
            let (path, text) = path_and_text()?;
            Step::Append(path, text)
        }
        "sleep" => Step::Sleep(parse_secs(one_arg()?).ok_or_else(bad)?),
        "exit" => Step::Exit(one_arg()?.parse().map_err(|_| bad())?),
        "kill-self" => Step::KillSelf(parse_signal(one_arg()?).ok_or_else(bad)?),
        "ignore-term" => no_args(Step::IgnoreTerm)?,
        "spawn-grandchild" | "spawn-grandchild-holding-pipes" => match args.as_slice() {
            [pidfile, secs] if parse_secs(secs).is_some() => Step::SpawnGrandchild {
                pidfile: PathBuf::from(pidfile),
                secs: (*secs).to_owned(),
                hold_pipes: verb == "spawn-grandchild-holding-pipes",
            },
            _ => return Err(bad()),
        },
        "write-pid" => Step::WritePid(PathBuf::from(one_arg()?)),
        "save-prompt" => Step::SavePrompt(PathBuf::from(one_arg()?)),
        "flood" => match args.as_slice() {
            [bytes, line_len] => {
                let bytes = bytes.parse().map_err(|_| bad())?;
                let line_len: usize = line_len.parse().map_err(|_| bad())?;
                if line_len < 2 {
                    return Err(bad());
                }
                Step::Flood { bytes, line_len }
            }
            _ => return Err(bad()),
        },
        "raw-out" => Step::RawOut(decode_hex(rest).ok_or_else(bad)?),
        "long-line" => Step::LongLine(one_arg()?.parse().map_err(|_| bad())?),
        "env-out" => Step::EnvOut(one_arg()?.to_owned()),
        "cat-prompt" => no_args(Step::CatPrompt)?,
        "repeat-out" => {
            let (n, text) = split_word(rest.trim_start());
            Step::RepeatOut(n.parse().map_err(|_| bad())?, text.to_owned())
        }
        "raw-write" => {
            let (path, hex) = path_and_text()?;
            Step::RawWrite(path, decode_hex(&hex).ok_or_else(bad)?)
        }
        "sh" if !rest.trim().is_empty() => Step::Sh(rest.to_owned()),
        "last-message" => Step::LastMessage(rest.to_owned()),
        "spawn-detached" => match args.as_slice() {
            [p, secs] => Step::SpawnDetached(PathBuf::from(p), (*secs).to_owned()),
            _ => return Err(bad()),
        },
        "spawn-setsid" | "spawn-setsid-holding-pipes" | "double-fork" => match args.as_slice() {
            [p, secs] if parse_secs(secs).is_some() => {
                let (p, secs) = (PathBuf::from(p), (*secs).to_owned());
                match verb {
                    "double-fork" => Step::DoubleFork(p, secs),
                    _ => Step::SpawnSetsid(p, secs, verb == "spawn-setsid-holding-pipes"),
                }
            }
            _ => return Err(bad()),
        },
        "kill-parent" => Step::KillParent(parse_signal(one_arg()?).ok_or_else(bad)?),
        "kill-runner" => Step::KillRunner(parse_signal(one_arg()?).ok_or_else(bad)?),
        "wait-file" => match args.as_slice() {
            [p, secs] => Step::WaitFile(
                PathBuf::from(p),
                Duration::from_secs_f64(secs.parse::<f64>().map_err(|_| bad())?),
            ),
            _ => return Err(bad()),
        },
        "out-every" => {
            let (secs, text) = split_word(rest.trim_start());
            Step::OutEvery(parse_secs(secs).ok_or_else(bad)?, text.to_owned())
        }
        "err-every" => {
            let (secs, text) = split_word(rest.trim_start());
            Step::ErrEvery(parse_secs(secs).ok_or_else(bad)?, text.to_owned())
        }
        "env-all" => no_args(Step::EnvAll)?,
        _ => return Err(bad()),
    };
    Ok(step)
}

fn parse_secs(s: &str) -> Option<Duration> {
    let secs: f64 = s.parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

/// Accepts `TERM`, `SIGTERM` (any case) or a signal number.
fn parse_signal(s: &str) -> Option<Signal> {
    if let Ok(num) = s.parse::<i32>() {
        return Signal::try_from(num).ok();
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).ok()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_digit(16).and_then(|d| u8::try_from(d).ok()))
        .collect::<Option<_>>()?;
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    Some(digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect())
}

fn flush_std() {
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
}

fn create_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => fs::create_dir_all(parent),
        _ => Ok(()),
    }
}

/// Writes `data` to a temporary sibling of `path`, then renames it over `path`.
fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = sibling(path, &format!(".fake-agent-tmp-{}", std::process::id()));
    fs::write(&tmp, data)?;
    fs::rename(&tmp, path)
}

fn append_bytes(path: &Path, data: &[u8]) -> io::Result<()> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(data)
}

fn write_stdout(parts: &[&[u8]]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    for part in parts {
        out.write_all(part)?;
    }
    out.flush()
}

fn execute(step: Step, prompt: &[u8]) -> io::Result<()> {
    match step {
        Step::Out(text) => write_stdout(&[text.as_bytes(), b"\n"]),
        Step::Err(text) => {
            let mut err = io::stderr().lock();
            err.write_all(text.as_bytes())?;
            err.write_all(b"\n")?;
            err.flush()
        }
        Step::CheckTodo(path) => check_todo(&path),
        Step::Progress(text) => {
            let path = Path::new(PROGRESS);
            create_parent(path)?;
            append_bytes(path, format!("- {text}\n").as_bytes())
        }
        Step::Write(path, text) => {
            create_parent(&path)?;
            fs::write(&path, format!("{text}\n"))
        }
        Step::Append(path, text) => append_bytes(&path, format!("{text}\n").as_bytes()),
        Step::Sleep(duration) => {
            std::thread::sleep(duration);
            Ok(())
        }
        Step::Exit(code) => {
            flush_std();
            std::process::exit(code)
        }
        Step::KillSelf(sig) => {
            flush_std();
            signal::kill(Pid::this(), sig).map_err(io::Error::from)
        }
        Step::IgnoreTerm => ignore_sigterm().map_err(io::Error::from),
        Step::SpawnGrandchild {
            pidfile,
            secs,
            hold_pipes,
        } => {
            let (stdout, stderr) = if hold_pipes {
                flush_std();
                (Stdio::inherit(), Stdio::inherit())
            } else {
                (Stdio::null(), Stdio::null())
            };
            let child = Command::new("sleep")
                .arg(&secs)
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(stderr)
                .spawn()?;
            // Dropping `child` neither waits for nor kills it.
            write_atomic(&pidfile, child.id().to_string().as_bytes())
        }
        Step::WritePid(path) => write_atomic(&path, std::process::id().to_string().as_bytes()),
        Step::SavePrompt(path) => fs::write(&path, prompt),
        Step::Flood { bytes, line_len } => flood(bytes, line_len),
        Step::RawOut(data) => write_stdout(&[&data, b"\n"]),
        Step::LongLine(n) => long_line(n),
        Step::RepeatOut(n, text) => repeat_out(n, &text),
        Step::RawWrite(path, data) => {
            create_parent(&path)?;
            fs::write(&path, data)
        }
        Step::EnvOut(name) => {
            let value = std::env::var_os(&name);
            let value = value.as_deref().unwrap_or(OsStr::new("<unset>"));
            write_stdout(&[name.as_bytes(), b"=", value.as_bytes(), b"\n"])
        }
        Step::CatPrompt => write_stdout(&[prompt]),
        Step::SpawnDetached(pidfile, secs) => {
            // A process group of its own: out of reach of a kill of ours.
            use std::os::unix::process::CommandExt;
            let child = std::process::Command::new("sleep")
                .arg(&secs)
                .process_group(0)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()?;
            std::fs::write(&pidfile, child.id().to_string())
        }
        Step::OutEvery(every, text) => loop {
            write_stdout(&[text.as_bytes(), b"\n"])?;
            std::thread::sleep(every);
        },
        Step::ErrEvery(every, text) => loop {
            let mut err = io::stderr().lock();
            err.write_all(text.as_bytes())?;
            err.write_all(b"\n")?;
            err.flush()?;
            drop(err);
            std::thread::sleep(every);
        },
        Step::EnvAll => {
            let mut vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
            vars.sort();
            let mut out = Vec::new();
            for (k, v) in vars {
                out.extend_from_slice(k.as_bytes());
                out.push(b'=');
                out.extend_from_slice(v.as_bytes());
                out.push(b'\n');
            }
            write_stdout(&[&out])
        }
        Step::SpawnSetsid(pidfile, secs, hold_pipes) => {
            flush_std();
            start_daemon(&pidfile, &secs, hold_pipes)
        }
        Step::DoubleFork(pidfile, secs) => {
            let status = Command::new(std::env::current_exe()?)
                .arg("--as-forker")
                .arg(&pidfile)
                .arg(&secs)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?;
            if status.success() {
                Ok(())
            } else {
                Err(io::Error::other(format!("the forker failed: {status}")))
            }
        }
        Step::KillParent(sig) => {
            flush_std();
            signal::kill(nix::unistd::getppid(), sig).map_err(io::Error::from)
        }
        Step::KillRunner(sig) => {
            flush_std();
            let state = fs::read_to_string(".codex-autorunner/state.json")?;
            let pid = state
                .split("\"runner_pid\":")
                .nth(1)
                .and_then(|rest| {
                    let digits: String = rest
                        .trim_start()
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    digits.parse::<i32>().ok()
                })
                .ok_or_else(|| io::Error::other("no runner_pid in state.json"))?;
            signal::kill(Pid::from_raw(pid), sig).map_err(io::Error::from)
        }
        Step::Sh(text) => {
            flush_std();
            let status = Command::new("sh").arg("-c").arg(&text).status()?;
            if status.success() {
                Ok(())
            } else {
                Err(io::Error::other(format!("sh: {status}")))
            }
        }
        Step::WaitFile(path, limit) => {
            let start = std::time::Instant::now();
            while !path.exists() && start.elapsed() < limit {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        }
        Step::LastMessage(text) => {
            // Like `codex exec -o FILE`: the final message goes to the file
            // named after `-o`; `\n` in TEXT becomes a newline.
            let args: Vec<String> = std::env::args().skip(1).collect();
            let path = args
                .iter()
                .position(|a| a == "-o" || a == "--output-last-message")
                .and_then(|i| args.get(i + 1))
                .ok_or_else(|| io::Error::other("last-message: no -o FILE argument"))?;
            std::fs::write(path, text.replace("\\n", "\n"))
        }
    }
}

/// Starts a copy of this program that calls `setsid`, writes its pid to
/// `pidfile` and sleeps `secs` (holding stdout and stderr open when
/// `hold_pipes`); returns once the pid file exists.
fn start_daemon(pidfile: &Path, secs: &str, hold_pipes: bool) -> io::Result<()> {
    let _ = fs::remove_file(pidfile);
    let out = || {
        if hold_pipes {
            Stdio::inherit()
        } else {
            Stdio::null()
        }
    };
    Command::new(std::env::current_exe()?)
        .arg("--as-daemon")
        .arg(pidfile)
        .arg(secs)
        .stdin(Stdio::null())
        .stdout(out())
        .stderr(out())
        .spawn()?;
    let start = std::time::Instant::now();
    while !pidfile.exists() {
        if start.elapsed() > Duration::from_secs(10) {
            return Err(io::Error::other("the daemon did not write its pid file"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

#[expect(
    unsafe_code,
    reason = "nix marks signal() unsafe because of handler functions; SIG_IGN has none"
)]
fn ignore_sigterm() -> nix::Result<()> {
    // SAFETY: installing SIG_IGN runs no handler code, so there are no
    // async-signal-safety or reentrancy concerns; the previous disposition
    // is discarded and never turned back into a handler.
    unsafe { signal::signal(Signal::SIGTERM, SigHandler::SigIgn) }.map(drop)
}

/// Byte offset of the space inside the first open `[ ]` list item.
fn find_open_todo(content: &[u8]) -> Option<usize> {
    let mut start = 0;
    for line in content.split(|&b| b == b'\n') {
        if let Some(offset) = open_box_offset(line) {
            return Some(start + offset);
        }
        start += line.len() + 1;
    }
    None
}

fn open_box_offset(line: &[u8]) -> Option<usize> {
    let indent = line.iter().take_while(|b| b.is_ascii_whitespace()).count();
    let rest = &line[indent..];
    let marker_len = match rest.first()? {
        b'-' | b'*' | b'+' => 1,
        b'0'..=b'9' => {
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            match rest.get(digits)? {
                b'.' | b')' => digits + 1,
                _ => return None,
            }
        }
        _ => return None,
    };
    let after = &rest[marker_len..];
    let gap = after
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    (gap > 0 && after[gap..].starts_with(b"[ ]")).then_some(indent + marker_len + gap + 1)
}

fn check_todo(path: &Path) -> io::Result<()> {
    let mut content = fs::read(path)?;
    match find_open_todo(&content) {
        Some(offset) => {
            content[offset] = b'x';
            write_atomic(path, &content)
        }
        None => {
            report("no open todo");
            Ok(())
        }
    }
}

fn flood(total: u64, line_len: usize) -> io::Result<()> {
    let mut line = Vec::with_capacity(line_len);
    line.push(b'o');
    line.extend((b'a'..=b'z').cycle().take(line_len - 2));
    line.push(b'\n');
    let mut eline = line.clone();
    eline[0] = b'e';

    let mut out = BufWriter::with_capacity(BUF_CAPACITY, io::stdout().lock());
    let mut err = BufWriter::with_capacity(BUF_CAPACITY, io::stderr().lock());
    let len = line_len as u64;
    let full = total / len;
    for i in 0..full {
        if i.is_multiple_of(2) {
            out.write_all(&line)?;
        } else {
            err.write_all(&eline)?;
        }
    }
    let remainder = usize::try_from(total % len).unwrap_or(0);
    if remainder > 0 {
        let (w, base): (&mut dyn Write, &[u8]) = if full.is_multiple_of(2) {
            (&mut out, &line)
        } else {
            (&mut err, &eline)
        };
        w.write_all(&base[..remainder - 1])?;
        w.write_all(b"\n")?;
    }
    out.flush()?;
    err.flush()
}

/// Writes in 64 KiB blocks that ignore character boundaries, as a pipe may
/// deliver them.
fn repeat_out(n: usize, text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    let mut bytes = text.as_bytes().iter().copied().cycle().take(n * text.len());
    let mut block = Vec::with_capacity(64 * 1024);
    loop {
        block.clear();
        block.extend(bytes.by_ref().take(64 * 1024));
        if block.is_empty() {
            break;
        }
        out.write_all(&block)?;
    }
    out.write_all(b"\n")?;
    out.flush()
}

fn long_line(n: usize) -> io::Result<()> {
    let chunk = [b'x'; BUF_CAPACITY];
    let mut out = io::stdout().lock();
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        out.write_all(&chunk[..k])?;
        left -= k;
    }
    out.write_all(b"\n")?;
    out.flush()
}
