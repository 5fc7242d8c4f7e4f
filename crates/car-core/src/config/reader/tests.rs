use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_yaml::Value;

use super::{Reader, Secs};
use crate::config::limits::MAX_STRING_BYTES;
use crate::config::merge::leaves;
use crate::config::source::ConfigSource;

fn reader_for(yaml: &str, f: impl FnOnce(&mut Reader<'_>)) {
    let merged: Value = serde_yaml::from_str(yaml).expect("valid YAML");
    let path = PathBuf::from("/r/c.yml");
    let mut sources = BTreeMap::new();
    leaves(&merged, "", &mut |p, _| {
        sources.insert(p.to_string(), ConfigSource::RepoFile(path.clone()));
    });
    let files = BTreeMap::from([(path, yaml.to_string())]);
    let mut r = Reader::new(&merged, &sources, &files);
    f(&mut r);
}

#[test]
fn seconds_are_bounded_and_named_in_yaml_words() {
    reader_for("a:\n  b: 1e20\n  c: soon\n  d: 2.5\n  e: 0\n", |r| {
        let e = r.seconds("a.b").unwrap_err().to_string();
        assert!(e.contains("`a.b`") && e.contains("/r/c.yml:2"), "{e}");
        assert!(
            e.contains("315360000 (10 years)") && !e.contains("f64"),
            "{e}"
        );
        let e = r.seconds("a.c").unwrap_err().to_string();
        assert!(e.contains("`soon` (a string)") && e.contains(":3"), "{e}");
        assert_eq!(r.seconds("a.d").unwrap(), Duration::from_millis(2500));
        assert!(r.opt_seconds("a.e", Secs::Positive).is_err());
        assert_eq!(
            r.opt_seconds("a.e", Secs::Any).unwrap(),
            Some(Duration::ZERO)
        );
    });
}

#[test]
fn sections_that_are_not_mappings_are_named() {
    reader_for("a: 5\n", |r| {
        let e = r.seconds("a.b").unwrap_err().to_string();
        assert!(e.contains("`a`") && e.contains("expected a mapping"), "{e}");
    });
}

#[test]
fn lists_of_strings_name_the_item_and_its_line() {
    reader_for("codex:\n  args:\n    - a\n    - [exec]\n", |r| {
        let e = r.strings("codex.args").unwrap_err().to_string();
        assert!(
            e.contains("`codex.args`") && e.contains("/r/c.yml:4"),
            "{e}"
        );
        assert!(
            e.contains("item 2 is a list; expected a list of strings"),
            "{e}"
        );
    });
}

#[test]
fn long_strings_are_refused() {
    let long = "m".repeat(MAX_STRING_BYTES + 1);
    reader_for(&format!("codex:\n  model: {long}\n"), |r| {
        let e = r.opt_string("codex.model").unwrap_err().to_string();
        assert!(e.contains("`codex.model`") && e.contains("16384"), "{e}");
    });
}

#[test]
fn yaml11_booleans_are_read_with_a_warning() {
    reader_for("g:\n  a: yes\n  b: Off\n  c: maybe\n", |r| {
        assert!(r.flag("g.a").unwrap());
        assert!(!r.flag("g.b").unwrap());
        assert!(
            r.flag("g.c")
                .unwrap_err()
                .to_string()
                .contains("true or false")
        );
        assert_eq!(r.warnings.len(), 2);
        let w = r.warnings[0].to_string();
        assert!(
            w.contains("`g.a`") && w.contains("YAML 1.1") && w.contains(":2"),
            "{w}"
        );
    });
}

#[test]
fn whole_numbers_are_checked_against_their_type() {
    reader_for("n:\n  a: -1\n  b: 70000\n  c: 3\n  d: 2.0\n", |r| {
        assert!(r.whole::<u32>("n.a", 0).is_err());
        let e = r.whole::<u16>("n.b", 0).unwrap_err().to_string();
        assert!(e.contains("from 0 to 65535"), "{e}");
        assert_eq!(r.whole::<u32>("n.c", 1).unwrap(), 3);
        assert_eq!(r.whole::<u32>("n.d", 1).unwrap(), 2);
        let e = r.whole_in::<u32>("n.b", 0, 100).unwrap_err().to_string();
        assert!(e.contains("from 0 to 100") && e.contains("`70000`"), "{e}");
    });
}
