//! Merging a layer's value into the merged configuration, key by key,
//! remembering the source of every leaf; walking and looking up key paths.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::keypath::{join, key_text};
use super::source::ConfigSource;

/// Merges `layer` into `base` at `prefix`: mappings merge key by key, lists
/// and scalars replace; the keys set are recorded as coming from `source`.
pub(super) fn merge(
    base: &mut Value,
    layer: &Value,
    prefix: &str,
    source: &ConfigSource,
    sources: &mut BTreeMap<String, ConfigSource>,
) {
    if base.is_mapping() && layer.is_null() {
        return; // an empty section (`runner:` with its keys commented out)
    }
    let (Value::Mapping(base_map), Value::Mapping(layer_map)) = (&mut *base, layer) else {
        *base = layer.clone();
        set_source(sources, prefix, layer, source);
        return;
    };
    for (k, v) in layer_map {
        let path = join(prefix, &key_text(k));
        match base_map.get_mut(k) {
            Some(existing) if existing.is_mapping() && v.is_mapping() => {
                merge(existing, v, &path, source, sources);
            }
            // An empty section (`runner:` with its keys commented out).
            Some(existing) if existing.is_mapping() && v.is_null() => {}
            _ => {
                base_map.insert(k.clone(), v.clone());
                set_source(sources, &path, v, source);
            }
        }
    }
}

fn set_source(
    sources: &mut BTreeMap<String, ConfigSource>,
    path: &str,
    value: &Value,
    source: &ConfigSource,
) {
    // Forget the sources of the keys below `path` (a range of the sorted
    // map, so replacing many keys stays linear).
    for end in ['.', '['] {
        let below = format!("{path}{end}");
        let stale: Vec<String> = sources
            .range(below.clone()..)
            .take_while(|(k, _)| k.starts_with(&below))
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            sources.remove(&k);
        }
    }
    sources.insert(path.to_string(), source.clone());
    leaves(value, path, &mut |p, _| {
        sources.insert(p.to_string(), source.clone());
    });
}

/// Calls `f` with every leaf (non-mapping value, or empty mapping) and its path.
pub(super) fn leaves(value: &Value, prefix: &str, f: &mut dyn FnMut(&str, &Value)) {
    match value {
        Value::Mapping(m) if !m.is_empty() => {
            for (k, v) in m {
                leaves(v, &join(prefix, &key_text(k)), f);
            }
        }
        _ if prefix.is_empty() => {}
        other => f(prefix, other),
    }
}

/// The value at a dotted key path of mappings, if there is one.
pub(super) fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, part| match v {
        Value::Mapping(m) => m.get(part),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULTS_YAML;
    use crate::config::source::source_of;

    #[test]
    fn merge_replaces_lists_and_merges_maps_and_tracks_sources() {
        let mut merged: Value = serde_yaml::from_str(DEFAULTS_YAML).unwrap();
        let mut sources = BTreeMap::new();
        leaves(&merged, "", &mut |p, _| {
            sources.insert(p.to_string(), ConfigSource::Default);
        });
        let layer: Value =
            serde_yaml::from_str("codex:\n  args: [exec, --foo]\nrunner:\n  sleep_seconds: 1\n")
                .unwrap();
        let src = ConfigSource::RepoFile("/r/c.yml".into());
        merge(&mut merged, &layer, "", &src, &mut sources);
        let args = lookup(&merged, "codex.args").unwrap();
        assert_eq!(args.as_sequence().unwrap().len(), 2);
        assert_eq!(
            lookup(&merged, "codex.binary").unwrap().as_str(),
            Some("codex")
        );
        assert_eq!(source_of(&sources, "codex.args"), src);
        assert_eq!(source_of(&sources, "codex.binary"), ConfigSource::Default);
    }

    #[test]
    fn replacing_a_mapping_forgets_the_sources_below_it() {
        let mut merged: Value = serde_yaml::from_str("a:\n  b: 1\n  c: [x, y]\n").unwrap();
        let mut sources = BTreeMap::new();
        leaves(&merged, "", &mut |p, _| {
            sources.insert(p.to_string(), ConfigSource::Default);
        });
        let env = ConfigSource::Env("CAR_A".into());
        let layer: Value = serde_yaml::from_str("a: 5\n").unwrap();
        merge(&mut merged, &layer, "", &env, &mut sources);
        assert_eq!(lookup(&merged, "a"), Some(&Value::from(5)));
        assert_eq!(sources.keys().collect::<Vec<_>>(), ["a"]);
        // An empty section leaves the mapping as it is.
        let mut merged: Value = serde_yaml::from_str("a:\n  b: 1\n").unwrap();
        let layer: Value = serde_yaml::from_str("a:\n").unwrap();
        merge(&mut merged, &layer, "", &env, &mut sources);
        assert_eq!(lookup(&merged, "a.b"), Some(&Value::from(1)));
    }
}
