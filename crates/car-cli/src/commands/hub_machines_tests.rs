//! The machines' lines after the local ones, and the narrow bound.

use std::path::PathBuf;

use car_client::{MachineListing, MachineRepo};
use car_core::{LoopState, RepoSummary, RunSummary};

use super::*;

fn local() -> RepoSummary {
    RepoSummary {
        id: "web".into(),
        root: PathBuf::from("/hub/web"),
        state: LoopState::Idle,
        status: car_core::Status::Idle,
        stop_reason: None,
        todo_done: Some(1),
        todo_total: Some(2),
        run: None,
        question: None,
        git: None,
    }
}

fn repo(id: &str, state: &str) -> MachineRepo {
    MachineRepo {
        id: id.into(),
        display_name: None,
        kind: Some("base".into()),
        worktree_of: None,
        state: state.into(),
        stop_reason: None,
        todo_done: Some(3),
        todo_total: Some(7),
        run: Some(RunSummary {
            id: 4,
            started_at: None,
            age_seconds: Some(185),
            in_progress: state == "running",
        }),
        question: None,
        git: None,
        error: None,
    }
}

fn machine(name: &str, repos: Vec<MachineRepo>, error: Option<&str>) -> MachineListing {
    MachineListing {
        name: name.into(),
        url: Some("http://127.0.0.1:5000/".into()),
        reachable: error.is_none(),
        latency_ms: Some(3),
        error: error.map(str::to_string),
        repos,
    }
}

#[test]
fn machines_follow_the_local_repos_prefixed_and_errors_take_one_entry() {
    let mut broken = repo("gone", "unavailable");
    broken.error = Some("no such directory".into());
    let remote = Remote {
        machines: vec![
            machine("gpu", vec![repo("api", "running"), broken], None),
            machine("lab", Vec::new(), Some("tunnel down — `car remote up lab`")),
            machine("idle-box", Vec::new(), None),
            machine(
                "vm",
                Vec::new(),
                Some(
                    "401: the server wants a token and VM_SERVER_TOKEN is not set (machine vm's token_env)",
                ),
            ),
        ],
        error: None,
    };
    let (l, m) = lines(&[local()], &remote, Width::Narrow);
    assert_eq!(l, ["web      idle     1/2  -"]);
    assert_eq!(
        m,
        [
            "gpu:api  running  3/7  #4 3m",
            "! gpu:gone: no such directory",
            "lab: ! tunnel down — `car remote up lab`",
            "idle-box: no repositories",
            "vm: ! 401: the server wants a token and VM_SERVER_TOKEN is",
            "    not set (machine vm's token_env)",
        ]
    );
    assert!(
        m.iter()
            .chain(&l)
            .all(|x| x.chars().count() <= NARROW_COLUMNS)
    );
    // Wide: errors whole, on one line.
    let (_, wide) = lines(&[local()], &remote, Width::Wide);
    assert!(wide.contains(
        &"vm: ! 401: the server wants a token and VM_SERVER_TOKEN is not set (machine vm's token_env)".to_string()
    ));
}

#[test]
fn a_broken_machines_config_is_one_entry_after_the_local_lines() {
    let remote = Remote {
        machines: Vec::new(),
        error: Some("/home/u/.config/car/config.yml: `machines.gpu.port` must be a port number (1 to 65535)".into()),
    };
    let (l, m) = lines(&[local()], &remote, Width::Narrow);
    assert_eq!(l.len(), 1);
    assert_eq!(
        m,
        [
            "! machines: /home/u/.config/car/config.yml:",
            "    `machines.gpu.port` must be a port number (1 to 65535)",
        ]
    );
}

#[test]
fn the_readme_example_is_what_is_printed() {
    let mut a = local();
    a.id = "app--job-a".into();
    a.state = LoopState::Running;
    a.todo_done = Some(3);
    a.todo_total = Some(7);
    a.run = Some(RunSummary {
        id: 4,
        started_at: None,
        age_seconds: Some(185),
        in_progress: true,
    });
    let mut b = local();
    b.id = "app--job-b".into();
    b.state = LoopState::WaitingForInput;
    b.todo_total = Some(12);
    b.run = Some(RunSummary {
        id: 12,
        started_at: None,
        age_seconds: Some(7300),
        in_progress: false,
    });
    b.question = Some("Postgres or SQLite?".into());
    let mut train = repo("train", "running");
    train.todo_done = Some(2);
    train.todo_total = Some(5);
    train.run = Some(RunSummary {
        id: 9,
        started_at: None,
        age_seconds: Some(730),
        in_progress: true,
    });
    let remote = Remote {
        machines: vec![
            machine("gpu", vec![train], None),
            machine("lab", Vec::new(), Some("tunnel down — `car remote up lab`")),
        ],
        error: None,
    };
    let (l, m) = lines(&[a, b], &remote, Width::Narrow);
    let printed = [l, m].concat().join("\n") + "\n";
    let readme = include_str!("../../../../README.md");
    assert!(
        readme.contains(&format!("$ car hub status\n{printed}")),
        "{printed}"
    );
}
