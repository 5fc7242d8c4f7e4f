//! Voice input in a real browser: chromium's fake microphone records on
//! the Tasks page, the recording goes through `car serve` to a fake
//! transcription endpoint on 127.0.0.1, and its text lands in the task
//! composer.

use crate::browser::{browser_ready, flow};
use crate::common::TestEnv;
use crate::fake_http::{Answer, FakeHttp};
use crate::serve_client::{Server, TOKEN};
use crate::serve_sessions::fresh_link;

#[test]
fn a_recording_from_the_microphone_button_lands_as_text_in_the_task_composer() {
    if !browser_ready() {
        return;
    }
    let fake = FakeHttp::start(
        vec![],
        Answer::ok(r#"{"text":"add a retry to the fetcher"}"#),
    );
    let env = TestEnv::new();
    env.config(&format!(
        "voice:\n  base_url: {}/v1\n  api_key_env: TEST_VOICE_KEY\n  model: whisper-browser\n",
        fake.url()
    ));
    let server =
        Server::start_with_vars(&env, Some(TOKEN), &[], &[("TEST_VOICE_KEY", "sk-browser")])
            .unwrap();
    let got = flow("voice", &server, &fresh_link(&server), &[]);
    let shown = got["recording"].as_str().unwrap();
    assert!(
        shown.contains("recording 0:") && !shown.contains("recording 0:00"),
        "{got:#}"
    );
    assert_eq!(got["label"], "Stop", "{got:#}");
    assert_eq!(
        got["prompt"], "Please add a retry to the fetcher",
        "{got:#}"
    );
    assert_eq!(got["after"], "Voice", "{got:#}");
    assert_eq!(got["focused"], "task-prompt", "{got:#}");
    assert_eq!(got["overflow"], false, "{got:#}");
    // What the endpoint got: the browser's recording (webm) and the model,
    // with the key.
    let reqs = fake.wait_for(1);
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.path, "/v1/audio/transcriptions");
    assert_eq!(r.header("authorization"), Some("Bearer sk-browser"));
    assert!(r.body.contains("name=\"model\"\r\n\r\nwhisper-browser\r\n"));
    assert!(
        r.body
            .contains("filename=\"voice.webm\"\r\nContent-Type: audio/webm"),
        "{}",
        &r.body[..r.body.len().min(600)]
    );
    // A second of audio is more than a few bytes.
    assert!(r.body.len() > 2000, "{} bytes", r.body.len());
}
