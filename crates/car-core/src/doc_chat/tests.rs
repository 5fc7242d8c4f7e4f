use super::prompt::{extract, render};
use super::*;

fn paths(dir: &std::path::Path) -> RepoPaths {
    RepoPaths::new(dir)
}

#[test]
fn the_new_doc_is_read_between_the_markers_or_from_a_fence() {
    let ans = "Here it is:\n<NEW_DOC>\n# TODO\n- [x] a\n</NEW_DOC>\nDone.";
    assert_eq!(extract(ans).as_deref(), Some("# TODO\n- [x] a\n"));
    assert_eq!(
        extract("```markdown\n# T\n- [ ] b\n```").as_deref(),
        Some("# T\n- [ ] b\n")
    );
    assert_eq!(extract("# plain\n").as_deref(), Some("# plain\n"));
    assert_eq!(extract("<NEW_DOC>\n\n</NEW_DOC>"), None);
    assert_eq!(extract("   \n"), None);
}

#[test]
fn the_prompt_holds_the_doc_and_the_request() {
    let rec = ChatRecord::new(
        DocKind::Todo,
        "tick the first item",
        Some(b"- [ ] one".to_vec()),
    );
    let p = render(&rec);
    assert!(
        p.contains("<CURRENT_DOC>\n- [ ] one\n</CURRENT_DOC>"),
        "{p}"
    );
    assert!(
        p.contains("<REQUEST>\ntick the first item\n</REQUEST>"),
        "{p}"
    );
    assert!(p.contains("TODO"));
}

#[test]
fn a_record_goes_from_running_to_ready_and_closes_once() {
    let dir = tempfile::tempdir().unwrap();
    let paths = paths(dir.path());
    let mut rec = ChatRecord::new(DocKind::Spec, "r", Some(b"a\n".to_vec()));
    assert_eq!(rec.base_etag, doc_etag(true, b"a\n"));
    record::store(&paths, &rec).unwrap();
    assert_eq!(latest(&paths, DocKind::Spec).unwrap(), Some(rec.clone()));
    assert!(latest(&paths, DocKind::Todo).unwrap().is_none());
    rec.ready("a\nb\n".into());
    record::store(&paths, &rec).unwrap();
    let got = get(&paths, DocKind::Spec, &rec.id).unwrap();
    assert_eq!(got.state, ChatState::Ready);
    assert_eq!(got.diff.iter().filter(|l| l.tag == "add").count(), 1);
    assert!(matches!(
        get(&paths, DocKind::Spec, "spec-1"),
        Err(DocChatError::NotFound { .. })
    ));
    let applied = close(&paths, DocKind::Spec, &rec.id, ChatState::Applied).unwrap();
    assert_eq!(applied.state, ChatState::Applied);
    let again = close(&paths, DocKind::Spec, &rec.id, ChatState::Applied).unwrap_err();
    assert!(again.to_string().contains("is applied"), "{again}");
    assert!(close(&paths, DocKind::Spec, &rec.id, ChatState::Discarded).is_err());
}

#[test]
fn a_running_record_of_a_dead_process_reads_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let paths = paths(dir.path());
    let mut rec = ChatRecord::new(DocKind::Todo, "r", None);
    assert_eq!(rec.base_etag, "\"none\"");
    rec.pid = i32::MAX as u32;
    record::store(&paths, &rec).unwrap();
    let got = latest(&paths, DocKind::Todo).unwrap().unwrap();
    assert_eq!(got.state, ChatState::Failed);
    assert!(
        got.error
            .unwrap()
            .contains("ended before the agent answered")
    );
}

#[test]
fn a_damaged_record_names_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let paths = paths(dir.path());
    let file = paths.car_dir.join("jobs").join("chat-todo.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "{not json").unwrap();
    let err = latest(&paths, DocKind::Todo).unwrap_err();
    assert!(err.to_string().contains("chat-todo.json"), "{err}");
}

#[test]
fn the_chat_follower_tells_each_docs_request_then_each_change_of_state() {
    use crate::follow::{ChatStatus, follow_doc_chats};
    let dir = tempfile::tempdir().unwrap();
    let paths = paths(dir.path());
    let mut rec = ChatRecord::new(DocKind::Todo, "r", Some(b"a\n".to_vec()));
    record::store(&paths, &rec).unwrap();
    let mut f = follow_doc_chats(paths.clone());
    let status = |rec: &ChatRecord| ChatStatus {
        doc: rec.doc,
        job: rec.id.clone(),
        state: rec.state,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut next = || {
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(5), f.next()).await
        })
        .expect("nothing told within 5 s")
    };
    assert_eq!(next(), Some(status(&rec)));
    rec.ready("a\nb\n".into());
    record::store(&paths, &rec).unwrap();
    assert_eq!(next().map(|s| s.state), Some(ChatState::Ready));
    close(&paths, DocKind::Todo, &rec.id, ChatState::Applied).unwrap();
    assert_eq!(next().map(|s| s.state), Some(ChatState::Applied));
    let spec = ChatRecord::new(DocKind::Spec, "s", None);
    record::store(&paths, &spec).unwrap();
    assert_eq!(next(), Some(status(&spec)));
}
