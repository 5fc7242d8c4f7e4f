//! SIGINT, SIGTERM and SIGHUP, for the whole life of the process.
//!
//! [`install`] is the first thing `main` does, before arguments are parsed,
//! a config is read or a thread or runtime is started. It blocks the three
//! signals, registers handlers for them (signal-hook: the handler only
//! writes to a pipe; a thread of car's reads it and acts), then unblocks
//! them. A signal that arrives meanwhile is held by the kernel and handed to
//! the handler on unblocking: from `main`'s first instruction on, none meets
//! the default action. (Before `main`, the kernel and the dynamic loader are
//! still starting the program, about a millisecond; nothing in a program can
//! act then.) The mask is unblocked again before any child starts, since
//! children inherit it; exec resets handled signals to their defaults.
//!
//! SIGXFSZ is caught (and otherwise left alone), so a write past the file
//! size limit fails with `EFBIG` (a `disk_full` stop) instead of killing car.
//!
//! A signal that was ignored when car started (`nohup` ignores SIGHUP) stays
//! ignored: car reads the ignored set from `/proc/self/status` (Linux; `ps`
//! elsewhere) and leaves those signals alone.
//!
//! What a signal does depends on the phase, set by [`route_to`]:
//! - no loop or agent started yet (loading, or a command that runs none):
//!   car exits 130 at once and writes nothing;
//! - a loop or an agent is running: the first signal stops it gracefully,
//!   the second kills the agent now, the third runs the command's last
//!   resort (for a loop: kill the agent group and record the stop in the
//!   state and the ledger, bounded by [`LAST_RESORT_LIMIT`]) and exits 130.

use std::sync::Mutex;
use std::time::Duration;

use car_core::{StopCause, StopHandle, StopLevel};
use nix::sys::signal::{SigSet, Signal};

/// Longest the last resort may take before car exits anyway.
pub(crate) const LAST_RESORT_LIMIT: Duration = Duration::from_secs(3);

/// The signals car handles.
const HANDLED: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// Run on the third signal, on a thread of its own, before car exits.
pub(crate) type LastResort = Box<dyn FnOnce(StopCause) + Send>;

enum Route {
    /// Exit 130 at once.
    Exit,
    /// Ask a server to shut down (`car serve`); a second signal exits 130.
    Shutdown(StopHandle),
    /// Stop the running loop or agent.
    Stop {
        stop: StopHandle,
        received: u32,
        last_resort: Option<LastResort>,
    },
}

static ROUTE: Mutex<Route> = Mutex::new(Route::Exit);

/// Installs the handling of SIGINT, SIGTERM and SIGHUP. Call it before
/// anything else, while the process has one thread.
pub(crate) fn install() {
    // Held back while the handlers are set up: one arriving meanwhile is
    // delivered to them when unblocked, never to the default action.
    let all: SigSet = HANDLED.into_iter().collect();
    let blocked = all.thread_block().is_ok();
    let ignored = ignored_at_start();
    let wanted: Vec<i32> = HANDLED
        .into_iter()
        .filter(|&s| !ignored.contains(s))
        .map(|s| s as i32)
        .collect();
    match signal_hook::iterator::Signals::new(&wanted) {
        Ok(mut signals) => {
            let spawned = std::thread::Builder::new()
                .name("car-signals".into())
                .spawn(move || {
                    for raw in signals.forever() {
                        if let Ok(sig) = Signal::try_from(raw) {
                            on_signal(sig);
                        }
                    }
                });
            if let Err(e) = spawned {
                errln!(
                    "car: warning: cannot start the signal thread ({e}); signals are not acted on"
                );
            }
        }
        Err(e) => errln!("car: warning: cannot handle signals ({e}); they stop car at once"),
    }
    if blocked {
        // Children start with this (empty) mask: exec keeps it.
        let _ = all.thread_unblock();
    }
    catch_file_size_limit();
}

/// A write past the file size limit (`ulimit -f`) must fail with `EFBIG`,
/// which car records as a `disk_full` stop, instead of killing car by
/// SIGXFSZ's default action. A handler, unlike an ignore, is reset to the
/// default by exec, so the agent keeps the behaviour it started with.
fn catch_file_size_limit() {
    let noted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGXFSZ, noted) {
        eprintln!("car: warning: cannot catch SIGXFSZ ({e}); the file size limit kills car");
    }
}

/// Routes the signals to `stop` until the returned guard is dropped.
pub(crate) fn route_to(stop: StopHandle, last_resort: Option<LastResort>) -> Routed {
    *lock() = Route::Stop {
        stop,
        received: 0,
        last_resort,
    };
    Routed(())
}

/// Routes the signals to a server's shutdown (`stop`) until the returned
/// guard is dropped: the first asks it to shut down, the next exits 130.
pub(crate) fn route_to_shutdown(stop: StopHandle) -> Routed {
    *lock() = Route::Shutdown(stop);
    Routed(())
}

/// Routes the signals back to "exit at once" when dropped.
pub(crate) struct Routed(());

impl Drop for Routed {
    fn drop(&mut self) {
        *lock() = Route::Exit;
    }
}

fn lock() -> std::sync::MutexGuard<'static, Route> {
    ROUTE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn on_signal(sig: Signal) {
    let cause = if sig == Signal::SIGINT {
        StopCause::Interrupted
    } else {
        StopCause::Killed
    };
    let mut route = lock();
    if let Route::Shutdown(stop) = &*route
        && stop.current().level == StopLevel::None
    {
        stop.request(StopLevel::Graceful, cause);
        return;
    }
    let Route::Stop {
        stop,
        received,
        last_resort,
    } = &mut *route
    else {
        std::process::exit(i32::from(crate::EXIT_INTERRUPTED));
    };
    *received += 1;
    if *received >= 3 {
        errln!("car: third stop signal: recording the stop and exiting now");
        if let Some(f) = last_resort.take() {
            let (tx, rx) = std::sync::mpsc::channel();
            let worker = std::thread::Builder::new()
                .name("car-last-resort".into())
                .spawn(move || {
                    f(cause);
                    let _ = tx.send(());
                });
            if worker.is_ok() && rx.recv_timeout(LAST_RESORT_LIMIT).is_err() {
                errln!(
                    "car: could not record the stop within {}s; exiting anyway (the next `car status` records it as crashed)",
                    LAST_RESORT_LIMIT.as_secs()
                );
            }
        }
        // The route lock stays held: no later signal runs anything.
        std::process::exit(i32::from(crate::EXIT_INTERRUPTED));
    }
    match stop.escalate(cause) {
        StopLevel::Graceful => errln!(
            "car: stopping: the agent gets SIGTERM, then SIGKILL after the grace period{}",
            if cause == StopCause::Interrupted {
                " (Ctrl-C again to kill it now)"
            } else {
                ""
            }
        ),
        _ => errln!("car: killing the agent now (a third signal exits car at once)"),
    }
}

/// The handled signals whose disposition was "ignore" when car started.
fn ignored_at_start() -> SigSet {
    handled_in(ignored_mask().unwrap_or(0))
}

/// The handled signals set in `mask` (bit n-1 for signal n).
fn handled_in(mask: u64) -> SigSet {
    HANDLED
        .into_iter()
        .filter(|&s| mask & (1u64 << (s as i32 - 1)) != 0)
        .collect()
}

/// The ignored-signal mask (bit n-1 for signal n) from `/proc/self/status`.
#[cfg(target_os = "linux")]
fn ignored_mask() -> Option<u64> {
    car_core::procfs::ignored_signals()
}

/// The ignored-signal mask from `ps` (macOS and the BSDs have no /proc).
#[cfg(not(target_os = "linux"))]
fn ignored_mask() -> Option<u64> {
    let out = std::process::Command::new("ps")
        .args(["-o", "sigignore=", "-p", &std::process::id().to_string()])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    u64::from_str_radix(text.trim(), 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_handled_signals_of_the_mask_count_as_ignored() {
        // SIGHUP (1) and SIGPIPE (13): only SIGHUP is one car handles.
        let set = handled_in(0x1001);
        assert!(set.contains(Signal::SIGHUP));
        assert!(!set.contains(Signal::SIGINT));
        assert!(!set.contains(Signal::SIGTERM));
        assert!(!set.contains(Signal::SIGPIPE));
        assert!(!handled_in(0).contains(Signal::SIGHUP));
    }
}
