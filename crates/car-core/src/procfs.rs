//! The one reader of `/proc` (Linux): a process's stat fields, command
//! name, one variable of its environment and its command line; the process
//! table as a list of stats (for descendants and group members); the
//! flock table; and, for this process, its ignored signals, its binary,
//! what its stdin is, its open descriptors and its cgroup. Elsewhere every reader answers
//! "unknown" (`None` or empty).
//!
//! Every read of `/proc` by car goes through here, the `car` binary's
//! included.

use std::path::{Path, PathBuf};

/// The fields of `/proc/<pid>/stat` car uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// The process id.
    pub pid: u32,
    /// The state letter (`R`, `S`, `Z`, ...).
    pub state: char,
    /// The parent's pid.
    pub ppid: u32,
    /// The process group id.
    pub pgrp: u32,
    /// Start time in clock ticks since boot (tells a reused pid apart).
    pub start_time: u64,
}

impl Stat {
    /// Whether the process is a zombie (dead, not yet reaped).
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z'
    }
}

/// Parses the content of a `/proc/<pid>/stat` file.
pub fn parse_stat(pid: u32, text: &str) -> Option<Stat> {
    // The state follows the command name, which is in parentheses and may
    // itself contain spaces or parentheses: split after the last `)`.
    let after = &text[text.rfind(')')? + 1..];
    let mut f = after.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let pgrp = f.next()?.parse().ok()?;
    // starttime is field 22 overall; after the name the state is field 3,
    // so 22 - 3 - 2 (ppid, pgrp consumed) - 1 = 16 more fields to skip.
    let start_time = f.nth(16)?.parse().ok()?;
    Some(Stat {
        pid,
        state,
        ppid,
        pgrp,
        start_time,
    })
}

/// Reads `/proc/<pid>/stat`; `None` when the process does not exist (or
/// not on Linux).
pub fn stat(pid: u32) -> Option<Stat> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &text)
}

/// Every process id listed in `/proc` right now.
pub(crate) fn pids() -> Vec<u32> {
    if !cfg!(target_os = "linux") {
        return Vec::new();
    }
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .collect()
}

/// The stat of every process that could be read.
pub(crate) fn all() -> Vec<Stat> {
    pids().into_iter().filter_map(stat).collect()
}

/// The live (non-zombie) descendants of `root`, found by following parent
/// links through the process table.
pub(crate) fn descendants(root: u32) -> Vec<Stat> {
    let table = all();
    let mut found: Vec<u32> = vec![root];
    let mut out = Vec::new();
    // Parents are not always listed before their children: repeat until
    // nothing new turns up.
    loop {
        let before = found.len();
        for s in &table {
            if found.contains(&s.ppid) && !found.contains(&s.pid) {
                found.push(s.pid);
                out.push(*s);
            }
        }
        if found.len() == before {
            break;
        }
    }
    out.retain(|s| !s.is_zombie());
    out
}

/// Returns the value of the environment variable `name` as the process
/// `pid` was started with (`/proc/<pid>/environ`; readable only for
/// processes of the same user).
pub(crate) fn environ_var(pid: u32, name: &str) -> Option<String> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let bytes = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    find_var(&bytes, name)
}

/// Finds `name=value` in a NUL-separated environment block.
pub(crate) fn find_var(block: &[u8], name: &str) -> Option<String> {
    block.split(|&b| b == 0).find_map(|entry| {
        let rest = entry.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
        String::from_utf8(rest.to_vec()).ok()
    })
}

/// Returns the argument `index` of the process's command line (0 = the
/// program as started).
pub(crate) fn arg(pid: u32, index: usize) -> Option<String> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let bytes = std::fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline")).ok()?;
    bytes
        .split(|&b| b == 0)
        .nth(index)
        .map(|a| String::from_utf8_lossy(a).into_owned())
}

/// The signals this process ignores (`SigIgn` of `/proc/self/status`), as
/// a bit mask (bit `n - 1` for signal `n`); `None` when unknown.
pub fn ignored_signals() -> Option<u64> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_sig_ign(&status)
}

fn parse_sig_ign(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
    u64::from_str_radix(line.trim(), 16).ok()
}

/// The command name of `pid` (`/proc/<pid>/comm`, without the newline).
pub fn comm(pid: u32) -> Option<String> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(text.trim_end_matches('\n').to_string())
}

/// `/proc/self/exe` when it exists: a name for the binary this process
/// runs that the kernel resolves at exec time, even after an upgrade
/// replaced or deleted the file.
pub fn self_exe() -> Option<PathBuf> {
    let own = Path::new("/proc/self/exe");
    (cfg!(target_os = "linux") && own.exists()).then(|| own.to_path_buf())
}

/// The file descriptors this process has open (`/proc/self/fd`; the one
/// that lists them included); empty elsewhere.
pub(crate) fn own_fds() -> Vec<i32> {
    if !cfg!(target_os = "linux") {
        return Vec::new();
    }
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// What this process's stdin (fd 0) is: the target of `/proc/self/fd/0`,
/// such as `/dev/pts/3` for a terminal, `/dev/null` or `pipe:[1234]`.
pub fn stdin_target() -> Option<PathBuf> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    std::fs::read_link("/proc/self/fd/0").ok()
}

/// This process's control groups (`/proc/self/cgroup`, as written there:
/// one `id:controllers:path` line each).
pub fn self_cgroup() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    std::fs::read_to_string("/proc/self/cgroup").ok()
}

/// The pid `/proc/locks` shows holding an exclusive flock on the file with
/// device `major:minor` and inode `ino`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn flock_holder(major: u64, minor: u64, ino: u64) -> Option<u32> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let table = std::fs::read_to_string("/proc/locks").ok()?;
    parse_flock_holder(&table, major, minor, ino)
}

/// Finds, in the text of `/proc/locks`, the holder of an exclusive flock on
/// `major:minor:ino`. Lines look like `1: FLOCK  ADVISORY  WRITE 1234
/// 00:2a:5678 0 EOF`; a waiter's line has `->` after the number, so it
/// never matches.
fn parse_flock_holder(table: &str, major: u64, minor: u64, ino: u64) -> Option<u32> {
    let want = format!("{major:02x}:{minor:02x}:{ino}");
    table.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() >= 6 && f[1] == "FLOCK" && f[3] == "WRITE" && f[5] == want)
            .then(|| f[4].parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn ignored_signals_are_read_from_the_mask() {
        let status = "Name:\tcar\nSigIgn:\t0000000000000005\nSigCgt:\t0\n";
        assert_eq!(super::parse_sig_ign(status), Some(5));
        assert_eq!(super::parse_sig_ign("Name: x\n"), None);
    }

    use super::*;

    #[test]
    fn stat_fields_survive_odd_command_names() {
        let text = "1234 (a) b (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200 18446744073709551615";
        let s = parse_stat(1234, text).unwrap();
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.pgrp, 1234);
        assert_eq!(s.start_time, 987_654);
    }

    #[test]
    fn own_process_is_read() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let me = std::process::id();
        let s = stat(me).unwrap();
        assert_eq!(s.pid, me);
        assert!(!s.is_zombie());
        assert!(arg(me, 0).is_some());
    }

    #[test]
    fn the_flock_holder_is_the_writer_of_that_file_not_a_waiter() {
        let table = "1: POSIX  ADVISORY  WRITE 11 00:2a:99 0 EOF\n\
                     2: FLOCK  ADVISORY  READ  12 fd:01:99 0 EOF\n\
                     3: FLOCK  ADVISORY  WRITE 13 fd:01:99 0 EOF\n\
                     3: -> FLOCK  ADVISORY  WRITE 14 fd:01:99 0 EOF\n\
                     4: FLOCK  ADVISORY  WRITE 15 fd:01:990 0 EOF\n";
        assert_eq!(parse_flock_holder(table, 0xfd, 1, 99), Some(13));
        assert_eq!(parse_flock_holder(table, 0xfd, 1, 990), Some(15));
        // A POSIX lock, or another device, is not it.
        assert_eq!(parse_flock_holder(table, 0, 0x2a, 99), None);
        assert_eq!(parse_flock_holder(table, 0xfd, 2, 99), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn own_flock_is_found() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("lock")).unwrap();
        let md = file.metadata().unwrap();
        let (major, minor) = (
            nix::sys::stat::major(md.dev()),
            nix::sys::stat::minor(md.dev()),
        );
        assert_eq!(flock_holder(major, minor, md.ino()), None);
        fs2::FileExt::try_lock_exclusive(&file).unwrap();
        assert_eq!(
            flock_holder(major, minor, md.ino()),
            Some(std::process::id())
        );
    }

    #[test]
    fn own_command_name_and_binary_are_read() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let me = std::process::id();
        let comm = comm(me).unwrap();
        assert!(!comm.is_empty() && !comm.ends_with('\n'));
        // The kernel keeps the first 15 bytes of the binary's name.
        let exe = std::fs::canonicalize(self_exe().unwrap()).unwrap();
        let name = exe.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(&comm), "{name} vs {comm}");
        assert!(self_cgroup().is_some_and(|c| c.contains(':')));
    }

    #[test]
    fn env_entries_match_whole_names_only() {
        let block = b"CAR_RUNX=no\0CAR_RUN=abc:1\0PATH=/bin\0";
        assert_eq!(find_var(block, "CAR_RUN").as_deref(), Some("abc:1"));
        assert_eq!(find_var(block, "HOME"), None);
    }
}
