//! The built-in defaults (`defaults.yml`, embedded), the lowest layer.

/// The built-in defaults, the lowest layer.
pub(crate) const DEFAULTS_YAML: &str = include_str!("defaults.yml");

/// Every leaf key of the built-in defaults (for the fuzz tests).
#[cfg(test)]
pub(crate) fn default_keys() -> Vec<String> {
    let mut keys = Vec::new();
    if let Ok(v) = serde_yaml::from_str::<serde_yaml::Value>(DEFAULTS_YAML) {
        super::merge::leaves(&v, "", &mut |p, _| keys.push(p.to_string()));
    }
    keys
}
