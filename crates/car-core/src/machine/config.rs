//! The `machines` section: one entry per machine, checked key by key so an
//! error names the file and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_yaml::Value;

use super::MachineError;

/// The port `car serve` listens on by default (on the machine's loopback).
pub const DEFAULT_REMOTE_PORT: u16 = 4173;
/// The variable holding the machine's server token when `token_env` is not set.
pub const DEFAULT_TOKEN_ENV: &str = "CAR_SERVER_TOKEN";
/// The keys a machine entry may hold.
pub const MACHINE_KEYS: &[&str] = &[
    "ssh",
    "port",
    "identity_file",
    "remote_port",
    "token_env",
    "direct_addr",
    "forward_agent",
    "ssh_options",
    "base_path",
];

/// One machine: how to reach it over SSH and where its `car serve` listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// Its name (the key under `machines`).
    pub name: String,
    /// The SSH destination: `user@host` or `host` (an alias of ~/.ssh/config works too).
    pub ssh: String,
    /// The SSH port (default: ssh's own, 22 or the ssh config's).
    pub port: Option<u16>,
    /// The private key to log in with (`ssh -i`).
    pub identity_file: Option<PathBuf>,
    /// The port `car serve` listens on, on the machine's loopback.
    pub remote_port: u16,
    /// The local variable holding the machine's server token.
    pub token_env: String,
    /// Reach the server directly at this `host[:port]` instead of through a
    /// tunnel (`direct_addr: true`: the SSH host).
    pub direct_addr: Option<String>,
    /// Forward the SSH agent in `car remote ssh` (`ssh -A`).
    pub forward_agent: bool,
    /// More arguments for every ssh command (e.g. `[-o, ProxyJump=bastion]`).
    pub ssh_options: Vec<String>,
    /// The machine's `server.base_path` (`""` or `/car`): its routes, its
    /// `/health` included, are under it.
    #[serde(default)]
    pub base_path: String,
    /// The file the entry was read from.
    pub source: PathBuf,
}

impl Machine {
    /// Reads the entry `machines.<name>` of `path`.
    pub fn from_value(name: &str, value: &Value, path: &Path) -> Result<Self, MachineError> {
        let bad = |key: &str, message: String| MachineError::Bad {
            path: path.to_path_buf(),
            key: if key.is_empty() {
                format!("machines.{name}")
            } else {
                format!("machines.{name}.{key}")
            },
            message,
        };
        check_name(name).map_err(|m| bad("", m))?;
        let map = value
            .as_mapping()
            .ok_or_else(|| bad("", "must be a mapping (ssh: user@host, ...)".into()))?;
        for key in map.keys() {
            let k = key.as_str().unwrap_or("");
            if !MACHINE_KEYS.contains(&k) {
                return Err(bad(
                    &yaml_key(key),
                    format!("is not a machine key (known: {})", MACHINE_KEYS.join(", ")),
                ));
            }
        }
        let get = |k: &str| map.get(k).filter(|v| !v.is_null());
        let string = |k: &str| -> Result<Option<String>, MachineError> {
            match get(k) {
                None => Ok(None),
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
                Some(_) => Err(bad(k, "must be a non-empty string".into())),
            }
        };
        let port = |k: &str| -> Result<Option<u16>, MachineError> {
            match get(k) {
                None => Ok(None),
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|&n| n > 0)
                    .map(Some)
                    .ok_or_else(|| bad(k, "must be a port number (1 to 65535)".into())),
            }
        };
        let ssh = string("ssh")?.ok_or_else(|| bad("ssh", "is missing (user@host)".into()))?;
        if ssh.starts_with('-') || ssh.contains(char::is_whitespace) {
            return Err(bad(
                "ssh",
                format!("must be user@host or a host, not {ssh:?}"),
            ));
        }
        let token_env = string("token_env")?.unwrap_or_else(|| DEFAULT_TOKEN_ENV.into());
        if !token_env
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
            || token_env.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(bad(
                "token_env",
                format!("must name an environment variable, not {token_env:?}"),
            ));
        }
        let direct_addr = match get("direct_addr") {
            None | Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some(host_of(&ssh).to_string()),
            Some(Value::String(s)) if !s.trim().is_empty() && !s.contains(['/', ' ']) => {
                Some(s.trim().to_string())
            }
            Some(_) => {
                return Err(bad(
                    "direct_addr",
                    "must be true, false or an address (host or host:port)".into(),
                ));
            }
        };
        let forward_agent = match get("forward_agent") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(bad("forward_agent", "must be true or false".into())),
        };
        let ssh_options = match get("ssh_options") {
            None => Vec::new(),
            Some(Value::Sequence(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(bad("ssh_options", "must be a list of strings".into())),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad("ssh_options", "must be a list of strings".into())),
        };
        let base_path = match string("base_path")?.as_deref().map(str::trim) {
            None | Some("" | "/") => String::new(),
            Some(b) if b.contains(['?', '#', ' ']) || b.contains("//") => {
                return Err(bad(
                    "base_path",
                    format!(
                        "must be a path such as /car, as the machine's server.base_path, not {b:?}"
                    ),
                ));
            }
            Some(b) => format!("/{}", b.trim_matches('/')),
        };
        Ok(Self {
            name: name.to_string(),
            ssh,
            port: port("port")?,
            identity_file: string("identity_file")?.map(PathBuf::from),
            remote_port: port("remote_port")?.unwrap_or(DEFAULT_REMOTE_PORT),
            token_env,
            direct_addr,
            forward_agent,
            ssh_options,
            base_path,
            source: path.to_path_buf(),
        })
    }

    /// The entry as it is written under `machines.<name>` (defaults left out).
    pub fn to_value(&self) -> Value {
        let mut m = serde_yaml::Mapping::new();
        let mut put = |k: &str, v: Value| {
            m.insert(Value::String(k.into()), v);
        };
        put("ssh", Value::String(self.ssh.clone()));
        if let Some(p) = self.port {
            put("port", Value::Number(p.into()));
        }
        if let Some(f) = &self.identity_file {
            put("identity_file", Value::String(f.display().to_string()));
        }
        put("remote_port", Value::Number(self.remote_port.into()));
        put("token_env", Value::String(self.token_env.clone()));
        if let Some(a) = &self.direct_addr {
            put("direct_addr", Value::String(a.clone()));
        }
        if self.forward_agent {
            put("forward_agent", Value::Bool(true));
        }
        if !self.base_path.is_empty() {
            put("base_path", Value::String(self.base_path.clone()));
        }
        if !self.ssh_options.is_empty() {
            put(
                "ssh_options",
                Value::Sequence(
                    self.ssh_options
                        .iter()
                        .map(|s| Value::String(s.clone()))
                        .collect(),
                ),
            );
        }
        Value::Mapping(m)
    }

    /// The arguments of every ssh command to this machine, before the
    /// destination: the port, the key and `ssh_options`.
    pub fn ssh_options_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(p) = self.port {
            args.extend(["-p".to_string(), p.to_string()]);
        }
        if let Some(f) = &self.identity_file {
            args.extend([
                "-i".to_string(),
                f.display().to_string(),
                "-o".into(),
                "IdentitiesOnly=yes".into(),
            ]);
        }
        args.extend(self.ssh_options.iter().cloned());
        args
    }

    /// `ssh` arguments of a command run without a person (no password or
    /// host key prompt): BatchMode, a connect timeout, then the destination.
    pub fn batch_args(&self) -> Vec<String> {
        let mut args = vec![
            "-o".to_string(),
            "BatchMode=yes".into(),
            "-o".into(),
            "ConnectTimeout=10".into(),
        ];
        args.extend(self.ssh_options_args());
        args.push(self.ssh.clone());
        args
    }

    /// `ssh` arguments of the tunnel: `-N -L 127.0.0.1:LOCAL:127.0.0.1:REMOTE`,
    /// exiting when the forward cannot be set up and when the machine stops
    /// answering (ServerAlive: 3 missed answers, 5 s apart).
    pub fn forward_args(&self, local_port: u16) -> Vec<String> {
        let mut args = vec![
            "-N".to_string(),
            "-L".into(),
            format!("127.0.0.1:{local_port}:127.0.0.1:{}", self.remote_port),
            "-o".into(),
            "ExitOnForwardFailure=yes".into(),
            "-o".into(),
            "ServerAliveInterval=5".into(),
            "-o".into(),
            "ServerAliveCountMax=3".into(),
        ];
        args.extend(self.batch_args());
        args
    }

    /// The server's URL when it is reached directly (`direct_addr`), its
    /// base path included.
    pub fn direct_url(&self) -> Option<String> {
        self.direct_addr.as_ref().map(|a| {
            let has_port = a.rsplit_once(':').is_some_and(|(h, p)| {
                !h.is_empty() && !h.ends_with(':') && p.parse::<u16>().is_ok()
            });
            if has_port {
                self.url_at(a)
            } else {
                self.url_at(&format!("{a}:{}", self.remote_port))
            }
        })
    }

    /// The server's URL at `addr` (`host:port`): `http://ADDR/BASE/`.
    pub fn url_at(&self, addr: &str) -> String {
        format!("http://{addr}{}/", self.base_path)
    }

    /// The path of the server's `/health` (under its base path).
    pub fn health_path(&self) -> String {
        format!("{}/health", self.base_path)
    }
}

/// The host part of `user@host`.
fn host_of(ssh: &str) -> &str {
    ssh.rsplit_once('@').map_or(ssh, |(_, h)| h)
}

fn yaml_key(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// A machine's name: letters, digits, `-`, `_` and `.`, not starting with
/// `-` or `.` (it names a state file).
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['-', '.'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a machine name (letters, digits, -, _ and ., up to 64)"
        ))
    }
}

/// The machines of several files, later files winning name by name.
#[derive(Debug, Clone, Default)]
pub struct Machines {
    /// By name.
    pub by_name: BTreeMap<String, Machine>,
    /// The files read (that exist).
    pub files: Vec<PathBuf>,
}

impl Machines {
    /// Reads the `machines` section of each file in `files` that exists.
    pub fn load(files: &[PathBuf]) -> Result<Self, MachineError> {
        let mut out = Self::default();
        for path in files {
            let Some(bytes) = crate::fs_util::read_optional(path)? else {
                continue;
            };
            out.files.push(path.clone());
            for m in read_section(&bytes, path)? {
                out.by_name.insert(m.name.clone(), m);
            }
        }
        Ok(out)
    }

    /// The machine named `name`.
    pub fn get(&self, name: &str) -> Result<&Machine, MachineError> {
        self.by_name.get(name).ok_or_else(|| MachineError::Unknown {
            name: name.to_string(),
            known: self.by_name.keys().cloned().collect(),
            searched: if self.files.is_empty() {
                "any config file".to_string()
            } else {
                self.files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" or ")
            },
        })
    }
}

/// The YAML document of a config file (`Null` when empty).
pub(crate) fn parse_file(bytes: &[u8], path: &Path) -> Result<Value, MachineError> {
    serde_yaml::from_slice(bytes).map_err(|e| MachineError::Syntax {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The machines of one file.
fn read_section(bytes: &[u8], path: &Path) -> Result<Vec<Machine>, MachineError> {
    let doc = parse_file(bytes, path)?;
    let Some(section) = doc.get("machines").filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let map = section.as_mapping().ok_or_else(|| MachineError::Bad {
        path: path.to_path_buf(),
        key: "machines".into(),
        message: "must be a mapping of machine names to entries".into(),
    })?;
    map.iter()
        .map(|(k, v)| {
            let name = k.as_str().ok_or_else(|| MachineError::Bad {
                path: path.to_path_buf(),
                key: format!("machines.{}", yaml_key(k)),
                message: "a machine's name must be a string".into(),
            })?;
            Machine::from_value(name, v, path)
        })
        .collect()
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
