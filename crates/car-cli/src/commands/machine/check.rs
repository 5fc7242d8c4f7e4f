//! `car remote check NAME [--json]`: is the machine usable from here?
//! SSH reachable, `car` there (its version), its server's `/health`
//! through a short-lived tunnel (or at its direct address), latencies.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;
use car_core::machine::Machine;
use serde_json::json;

use super::{SSH, probe};

/// How long the short-lived tunnel gets to answer.
const HEALTH_WITHIN: Duration = Duration::from_secs(15);

/// Checks `machine`; exit 0 when everything answered, 1 otherwise.
pub(crate) fn check(machine: &Machine, as_json: bool) -> Result<u8> {
    let ssh = ssh_car_version(machine);
    let health = match machine.direct_url() {
        Some(url) => {
            let addr = url
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string();
            probe::health_at(&addr, &machine.health_path(), Duration::from_secs(5))
        }
        None if ssh.reachable => through_tunnel(machine),
        None => Err("not tried: SSH failed".to_string()),
    };
    let ok = ssh.reachable && ssh.version.is_some() && health.is_ok();
    let (server_version, health_ms, health_error) = match &health {
        Ok(h) => (Some(h.version.clone()), Some(ms(h.latency)), None),
        Err(e) => (None, None, Some(e.clone())),
    };
    let report = json!({
        "machine": machine.name,
        "ssh": machine.ssh,
        "ok": ok,
        "ssh_reachable": ssh.reachable,
        "ssh_latency_ms": ssh.latency.map(ms),
        "car_present": ssh.version.is_some(),
        "car_version": ssh.version,
        "ssh_error": ssh.error,
        "via": if machine.direct_addr.is_some() { "direct" } else { "tunnel" },
        "health_ok": health.is_ok(),
        "server_version": server_version,
        "health_latency_ms": health_ms,
        "health_error": health_error,
    });
    if as_json {
        outln!("{report}");
    } else {
        let mark = |b: bool| if b { "ok  " } else { "FAIL" };
        outln!(
            "{} ssh {}{}",
            mark(ssh.reachable),
            machine.ssh,
            ssh.latency
                .map(|l| format!(" ({} ms)", ms(l)))
                .unwrap_or_default()
        );
        outln!(
            "{} car on {}: {}",
            mark(ssh.version.is_some()),
            machine.name,
            ssh.version
                .clone()
                .or(ssh.error.clone())
                .unwrap_or_default()
        );
        match &health {
            Ok(h) => outln!(
                "ok   server /health ({}): car {} ({} ms)",
                report["via"].as_str().unwrap_or(""),
                h.version,
                ms(h.latency)
            ),
            Err(e) => outln!("FAIL server /health: {e}"),
        }
    }
    Ok(if ok {
        crate::EXIT_OK
    } else {
        crate::EXIT_FAILURE
    })
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

struct SshCheck {
    reachable: bool,
    latency: Option<Duration>,
    version: Option<String>,
    error: Option<String>,
}

/// `ssh -o BatchMode=yes ... car --version`.
fn ssh_car_version(machine: &Machine) -> SshCheck {
    let started = Instant::now();
    let out = Command::new(SSH)
        .args(machine.batch_args())
        .args(["--", "car --version"])
        .stdin(Stdio::null())
        .output();
    let latency = started.elapsed();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            return SshCheck {
                reachable: false,
                latency: None,
                version: None,
                error: Some(format!("cannot start {SSH}: {e}")),
            };
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match out.status.code() {
        Some(0) => SshCheck {
            reachable: true,
            latency: Some(latency),
            version: Some(
                stdout
                    .strip_prefix("car ")
                    .unwrap_or(&stdout)
                    .trim()
                    .to_string(),
            ),
            error: None,
        },
        // 255: ssh's own failure (connect, auth, host key).
        Some(255) | None => SshCheck {
            reachable: false,
            latency: None,
            version: None,
            error: Some(if stderr.is_empty() {
                "ssh failed".into()
            } else {
                stderr
            }),
        },
        Some(127) => SshCheck {
            reachable: true,
            latency: Some(latency),
            version: None,
            error: Some(format!(
                "`car` is not on the remote PATH ({})",
                if stderr.is_empty() {
                    "not found"
                } else {
                    &stderr
                }
            )),
        },
        Some(code) => SshCheck {
            reachable: true,
            latency: Some(latency),
            version: None,
            error: Some(format!("`car --version` exited {code}: {stderr}")),
        },
    }
}

/// `/health` through `ssh -N -L` on a free port, closed afterwards.
fn through_tunnel(machine: &Machine) -> Result<probe::Healthy, String> {
    let port = probe::free_port().map_err(|e| format!("no free local port: {e}"))?;
    let mut child = Command::new(SSH)
        .args(machine.forward_args(port))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {SSH}: {e}"))?;
    let path = machine.health_path();
    let result =
        probe::wait_healthy(
            &format!("127.0.0.1:{port}"),
            &path,
            HEALTH_WITHIN,
            || match child.try_wait() {
                Ok(Some(st)) => Some(format!("the tunnel's ssh ended ({st})")),
                _ => None,
            },
        );
    let _ = child.kill();
    let out = child.wait_with_output();
    result.map_err(|e| {
        let said = out
            .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
            .unwrap_or_default();
        if said.is_empty() {
            e
        } else {
            format!("{e} (ssh: {said})")
        }
    })
}
