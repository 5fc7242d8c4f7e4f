//! `car config show`.

use anyhow::Result;

use crate::cli::Global;

pub(crate) fn show(g: &Global, json: bool) -> Result<u8> {
    let repo = super::load(g, &[])?;
    let resolved = repo.resolved_config();
    let entries = resolved.entries();
    if json {
        let sources: serde_json::Map<String, serde_json::Value> = entries
            .iter()
            .map(|(k, _, s)| (k.clone(), serde_json::Value::String(s.to_string())))
            .collect();
        let out = serde_json::json!({
            "root": repo.root(),
            "config": resolved.to_json(),
            "sources": sources,
            "warnings": resolved.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        });
        outln!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(crate::EXIT_OK);
    }
    outln!("# config of {}", repo.root().display());
    let width = entries
        .iter()
        .map(|(k, v, _)| k.len() + v.len() + 3)
        .max()
        .unwrap_or(0)
        .min(70);
    for (key, value, source) in entries {
        let value = value.replace('\n', " ");
        let kv = format!("{key} = {value}");
        outln!("{kv:<width$}  # {source}");
    }
    Ok(crate::EXIT_OK)
}
