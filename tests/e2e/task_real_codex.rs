//! `car task` with the real Codex CLI against our scripted model server: a
//! task, then a reply that reaches the model in the same conversation
//! (`codex exec resume <thread id>`). Skipped like `real_codex` when Codex
//! is not installed.

use std::time::{Duration, Instant};

use crate::model_server::{ModelServer, Reply};
use crate::real_codex::{RealEnv, codex_binary};

fn wait_done(r: &RealEnv, id: &str) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let out = r.run(&["task", "status", id, "--json"]);
        out.expect_code(0);
        let rec: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
        if matches!(
            rec["state"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        ) {
            return rec;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{rec:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn real_codex_task_then_reply_continues_the_same_conversation() {
    let Some(codex) = codex_binary() else { return };
    let server = ModelServer::start(vec![Reply::message("m1", "The codename is BLUE HERON.")]);
    let r = RealEnv::new(&codex, &server, 5000);
    let out = r.run(&["task", "spawn", "Pick a codename for the project."]);
    out.expect_code(0);
    let id = out.stdout().trim().to_string();
    let rec = wait_done(&r, &id);
    assert_eq!(rec["state"], "succeeded", "{rec:#}");
    let thread = rec["thread_id"].as_str().expect("a thread id").to_string();
    assert!(
        r.run(&["task", "status", &id])
            .stdout()
            .contains("The codename is BLUE HERON."),
        "the final output is the model's message"
    );

    server.push(vec![Reply::message("m2", "Still BLUE HERON.")]);
    r.run(&["task", "reply", &id, "Repeat the codename you chose."])
        .expect_code(0);
    let rec = wait_done(&r, &id);
    assert_eq!(rec["state"], "succeeded", "{rec:#}");
    assert_eq!(rec["thread_id"], thread.as_str(), "the same conversation");
    assert_eq!(rec["turns"].as_array().unwrap().len(), 2);
    // The model got the reply with the whole conversation before it.
    let requests = server.requests();
    let last = serde_json::to_string(&requests.last().unwrap()["input"]).unwrap();
    assert!(last.contains("Repeat the codename you chose."), "{last}");
    assert!(last.contains("Pick a codename for the project."), "{last}");
    assert!(last.contains("The codename is BLUE HERON."), "{last}");
    assert_eq!(
        server.prompts().last().unwrap(),
        "Repeat the codename you chose."
    );
    assert!(
        r.run(&["task", "status", &id])
            .stdout()
            .contains("Still BLUE HERON.")
    );
}
