//! The merged follower: two repositories, interleaved appends, resuming.

use std::path::Path;

use super::*;
use crate::config::LoadOptions;
use crate::event::LoopEvent;
use crate::follow::stream::take_within;
use crate::ledger::Ledger;

fn repo(root: &Path) -> Repo {
    let car = root.join(".codex-autorunner");
    std::fs::create_dir_all(&car).unwrap();
    std::fs::write(
        car.join("config.yml"),
        "version: 2\nmode: repo\ncodex:\n  binary: /bin/true\n  args: [exec]\n",
    )
    .unwrap();
    Repo::open_with(root, &LoadOptions::default()).unwrap()
}

fn ledger(repo: &Repo) -> Ledger {
    Ledger::new(repo.events_path(), 1 << 20, 2)
}

fn say(l: &Ledger, text: &str) {
    l.append(
        None,
        LoopEvent::Warning {
            message: text.into(),
        },
    )
    .unwrap();
}

fn text(e: &EventEnvelope) -> String {
    match &e.event {
        LoopEvent::Warning { message } => format!("{}:{}", e.repo.as_deref().unwrap(), message),
        other => panic!("unexpected {other:?}"),
    }
}

fn only(events: &[EventEnvelope], repo: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.repo.as_deref() == Some(repo))
        .map(text)
        .collect()
}

#[test]
fn two_repositories_merge_in_order_per_repository_and_resume_from_a_token() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (repo(da.path()), repo(db.path()));
    let (la, lb) = (ledger(&a), ledger(&b));
    say(&la, "old"); // before the follower: not delivered from now on
    let mut merged = follow_many(vec![("a".into(), a.clone()), ("b".into(), b.clone())], None);
    for i in 1..=5 {
        say(&la, &format!("a{i}"));
        say(&lb, &format!("b{i}"));
    }
    let got = take_within(&mut merged, 10);
    assert_eq!(got.len(), 10, "{got:?}");
    assert_eq!(only(&got, "a"), ["a:a1", "a:a2", "a:a3", "a:a4", "a:a5"]);
    assert_eq!(only(&got, "b"), ["b:b1", "b:b2", "b:b3", "b:b4", "b:b5"]);

    // The reader keeps a token; a new follower from it gives only what
    // came after, through a round trip as text.
    let mut token = ResumeToken::new();
    for e in &got[..got.len() - 1] {
        token.advance(e);
    }
    let last = got.last().unwrap().clone();
    assert_eq!(token.get("a").unwrap() + token.get("b").unwrap(), 6 + 5 - 1);
    drop(merged);
    say(&la, "a6");
    say(&lb, "b6");
    let token = ResumeToken::decode(&token.encode()).unwrap();
    let mut resumed = follow_many(vec![("a".into(), a), ("b".into(), b)], Some(&token));
    let again = take_within(&mut resumed, 3);
    assert_eq!(again.len(), 3, "{again:?}");
    assert!(
        again.contains(&last),
        "the one not in the token comes again"
    );
    assert!(only(&again, "a").ends_with(&["a:a6".to_string()]));
    assert!(only(&again, "b").ends_with(&["b:b6".to_string()]));
}

#[test]
fn a_token_without_a_repository_replays_its_whole_ledger() {
    let d = tempfile::tempdir().unwrap();
    let a = repo(d.path());
    let l = ledger(&a);
    say(&l, "one");
    say(&l, "two");
    let mut merged = follow_many(vec![("a".into(), a)], Some(&ResumeToken::new()));
    let got: Vec<String> = take_within(&mut merged, 2).iter().map(text).collect();
    assert_eq!(got, ["a:one", "a:two"]);
}

#[test]
fn a_token_reads_back_and_a_bad_one_says_what_it_should_be() {
    let mut t = ResumeToken::new();
    let mut e = EventEnvelope::now(
        None,
        LoopEvent::Warning {
            message: "x".into(),
        },
    );
    e.repo = Some("alpha".into());
    e.seq = Some(12);
    t.advance(&e);
    e.seq = Some(3); // older: kept at 12
    t.advance(&e);
    assert_eq!(t.encode(), r#"{"alpha":12}"#);
    assert_eq!(ResumeToken::decode(r#"{"alpha":12}"#).unwrap(), t);
    let err = ResumeToken::decode("alpha=12").unwrap_err().to_string();
    assert!(err.contains("repository id to event seq"), "{err}");
}

#[test]
fn no_repositories_end_the_stream() {
    let mut merged = follow_many(Vec::new(), None);
    assert!(crate::follow::stream::ends_within(&mut merged));
}
