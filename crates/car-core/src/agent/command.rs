//! The agent's command line: finding its binary and placing `--model`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::AgentError;

/// Directories the Python program also searched for `codex` (Homebrew and
/// MacPorts, which launchd and cron do not put on PATH).
const EXTRA_PATH_DIRS: &[&str] = &["/opt/homebrew/bin", "/usr/local/bin", "/opt/local/bin"];

/// The command line of one agent run.
#[derive(Debug, Clone)]
pub(crate) struct AgentCommand {
    /// The resolved program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Working directory (the repository root).
    pub cwd: PathBuf,
    /// The child's whole environment (see `agent_env`); None: car's own.
    pub env: Option<Vec<(OsString, OsString)>>,
}

/// Finds `binary`: a path (relative to `root`) when it contains a slash,
/// else a name searched on `path_env` plus the usual extra directories.
pub(crate) fn resolve_binary(
    binary: &str,
    root: &Path,
    path_env: Option<&OsString>,
) -> Result<(PathBuf, OsString), AgentError> {
    let mut dirs: Vec<PathBuf> = path_env
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    for extra in EXTRA_PATH_DIRS {
        let p = PathBuf::from(extra);
        if p.is_dir() && !dirs.contains(&p) {
            dirs.push(p);
        }
    }
    let joined = std::env::join_paths(&dirs).unwrap_or_default();
    if binary.contains('/') {
        let p = crate::fs_util::normalize_under(root, Path::new(binary));
        return if is_executable(&p) {
            Ok((p, joined))
        } else {
            Err(AgentError::NotFound {
                binary: binary.into(),
                hint: format!("; {} is not an executable file", p.display()),
            })
        };
    }
    dirs.iter()
        .map(|d| d.join(binary))
        .find(|p| is_executable(p))
        .map(|p| (p, joined.clone()))
        .ok_or_else(|| AgentError::NotFound {
            binary: binary.into(),
            hint: "; searched PATH and /opt/homebrew/bin, /usr/local/bin, /opt/local/bin".into(),
        })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Adds `--model <m>` before the first `exec`/`resume` argument (or first),
/// unless the arguments already choose a model; as the Python program did.
pub(crate) fn apply_model(args: &[String], model: Option<&str>) -> Vec<String> {
    let Some(model) = model.filter(|m| !m.trim().is_empty()) else {
        return args.to_vec();
    };
    if args
        .iter()
        .any(|a| a == "--model" || a == "-m" || a.starts_with("--model="))
    {
        return args.to_vec();
    }
    let at = args
        .iter()
        .position(|a| a == "exec" || a == "resume")
        .unwrap_or(0);
    let mut out = args.to_vec();
    out.splice(at..at, ["--model".to_string(), model.to_string()]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_is_injected_before_exec_unless_present() {
        let a: Vec<String> = ["--yolo", "exec", "--sandbox", "x"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            apply_model(&a, Some("gpt-x"))[..4],
            ["--yolo", "--model", "gpt-x", "exec"]
        );
        let b: Vec<String> = ["exec", "-m", "y"].map(String::from).to_vec();
        assert_eq!(apply_model(&b, Some("gpt-x")), b);
        assert_eq!(apply_model(&a, None), a);
    }
}
