//! `car remote add` and `car remote list`.

use anyhow::Result;
use car_core::machine::Machine;
use serde_json::json;

use super::{Places, usage};
use crate::cli::RemoteAddArgs;

/// `car remote add NAME --ssh user@host ...`: writes the user config file.
pub(crate) fn add(places: &Places, a: &RemoteAddArgs) -> Result<u8> {
    let mut entry = serde_yaml::Mapping::new();
    let mut put = |k: &str, v: serde_yaml::Value| {
        entry.insert(serde_yaml::Value::String(k.into()), v);
    };
    put("ssh", a.ssh.clone().into());
    if let Some(p) = a.port {
        put("port", p.into());
    }
    if let Some(f) = &a.identity_file {
        put("identity_file", f.display().to_string().into());
    }
    put("remote_port", a.remote_port.into());
    put("token_env", a.token_env.clone().into());
    if let Some(d) = &a.direct_addr {
        put("direct_addr", d.clone().into());
    }
    if a.forward_agent {
        put("forward_agent", true.into());
    }
    if let Some(b) = &a.base_path {
        put("base_path", b.clone().into());
    }
    if !a.ssh_options.is_empty() {
        put(
            "ssh_options",
            serde_yaml::Value::Sequence(a.ssh_options.iter().map(|o| o.clone().into()).collect()),
        );
    }
    let machine = Machine::from_value(&a.name, &entry.into(), &places.user_file).map_err(usage)?;
    car_core::machine::add_machine(&places.user_file, &machine).map_err(usage)?;
    outln!(
        "machine {} added to {} (check it with `car remote check {}`)",
        a.name,
        places.user_file.display(),
        a.name
    );
    Ok(crate::EXIT_OK)
}

/// `car remote list [--json]`: the machines and their tunnels.
pub(crate) fn list(places: &Places, as_json: bool) -> Result<u8> {
    let machines = places.machines()?;
    let mut rows = Vec::new();
    for m in machines.by_name.values() {
        let tunnel = places
            .tunnel(&m.name)
            .read()
            .ok()
            .flatten()
            .filter(|t| t.supervisor_alive());
        rows.push(json!({
            "name": m.name,
            "ssh": m.ssh,
            "port": m.port,
            "identity_file": m.identity_file,
            "remote_port": m.remote_port,
            "token_env": m.token_env,
            "direct_addr": m.direct_addr,
            "forward_agent": m.forward_agent,
            "ssh_options": m.ssh_options,
            "base_path": m.base_path,
            "source": m.source,
            "tunnel": tunnel.map(|t| json!({
                "url": t.url,
                "local_port": t.local_port,
                "open": t.open,
                "tunnel_pid": t.tunnel_pid,
                "supervisor_pid": t.supervisor_pid,
                "retry_count": t.retry_count,
            })),
        }));
    }
    if as_json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(crate::EXIT_OK);
    }
    if rows.is_empty() {
        outln!(
            "no machines (add one with `car remote add NAME --ssh user@host`; read {})",
            machines
                .files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(crate::EXIT_OK);
    }
    for m in machines.by_name.values() {
        let reach = match (
            &m.direct_url(),
            places.tunnel(&m.name).read().ok().flatten(),
        ) {
            (Some(url), _) => format!("direct {url}"),
            (None, Some(t)) if t.supervisor_alive() => {
                format!(
                    "tunnel {} ({})",
                    t.url,
                    if t.open { "open" } else { "re-opening" }
                )
            }
            _ => "no tunnel".to_string(),
        };
        outln!(
            "{:<12} {:<24} server port {:<5} token ${:<18} {}",
            m.name,
            m.ssh,
            m.remote_port,
            m.token_env,
            reach
        );
    }
    Ok(crate::EXIT_OK)
}
