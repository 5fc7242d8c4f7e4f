use super::*;
use crate::machine::add_machine;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn machines_read_with_defaults_and_the_root_file_wins_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let user = write(
        dir.path(),
        "user.yml",
        "machines:\n  gpu:\n    ssh: me@gpu.lan\n    port: 2222\n    identity_file: ~/.ssh/id_gpu\n    forward_agent: true\n  box:\n    ssh: box\n",
    );
    let root = write(
        dir.path(),
        "root.yml",
        "version: 2\nmachines:\n  box:\n    ssh: you@box\n    remote_port: 5000\n    token_env: BOX_TOKEN\n    direct_addr: true\n",
    );
    let m = Machines::load(&[user.clone(), root.clone(), dir.path().join("none.yml")]).unwrap();
    assert_eq!(m.files, vec![user.clone(), root.clone()]);
    let gpu = m.get("gpu").unwrap();
    assert_eq!(gpu.port, Some(2222));
    assert_eq!(gpu.remote_port, DEFAULT_REMOTE_PORT);
    assert_eq!(gpu.token_env, DEFAULT_TOKEN_ENV);
    assert!(gpu.forward_agent);
    assert_eq!(gpu.source, user);
    assert_eq!(
        gpu.forward_args(40001)[..3],
        ["-N", "-L", "127.0.0.1:40001:127.0.0.1:4173"]
    );
    assert!(gpu.batch_args().ends_with(&[
        "-p".to_string(),
        "2222".into(),
        "-i".into(),
        "~/.ssh/id_gpu".into(),
        "-o".into(),
        "IdentitiesOnly=yes".into(),
        "me@gpu.lan".into()
    ]));
    let b = m.get("box").unwrap();
    assert_eq!(b.ssh, "you@box");
    assert_eq!(b.source, root);
    assert_eq!(b.direct_url().as_deref(), Some("http://box:5000/"));
    let e = m.get("nope").unwrap_err().to_string();
    assert!(
        e.contains("no machine named `nope`") && e.contains("box, gpu"),
        "{e}"
    );
}

#[test]
fn bad_entries_name_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key) in [
        ("machines:\n  a:\n    port: 22\n", "machines.a.ssh"),
        (
            "machines:\n  a:\n    ssh: h\n    port: 70000\n",
            "machines.a.port",
        ),
        (
            "machines:\n  a:\n    ssh: h\n    remote_port: x\n",
            "machines.a.remote_port",
        ),
        (
            "machines:\n  a:\n    ssh: h\n    tokenenv: T\n",
            "machines.a.tokenenv",
        ),
        (
            "machines:\n  a:\n    ssh: h\n    token_env: 'A B'\n",
            "machines.a.token_env",
        ),
        (
            "machines:\n  a:\n    ssh: -oProxyCommand=x\n",
            "machines.a.ssh",
        ),
        (
            "machines:\n  a:\n    ssh: h\n    forward_agent: yes please\n",
            "machines.a.forward_agent",
        ),
        ("machines:\n  a: h\n", "machines.a"),
        ("machines:\n  ../x:\n    ssh: h\n", "machines.../x"),
        ("machines: [a]\n", "machines"),
    ] {
        let p = write(dir.path(), "c.yml", text);
        let e = Machines::load(std::slice::from_ref(&p))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&p.display().to_string()) && e.contains(&format!("`{key}`")),
            "{text}: {e}"
        );
    }
    let p = write(dir.path(), "c.yml", "machines:\n  a: [\n");
    let e = Machines::load(std::slice::from_ref(&p))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not valid YAML"), "{e}");
}

#[test]
fn adding_a_machine_keeps_the_files_other_content() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("car/config.yml");
    let m = Machine::from_value(
        "gpu",
        &serde_yaml::from_str("ssh: me@gpu\nport: 2200\n").unwrap(),
        &p,
    )
    .unwrap();
    add_machine(&p, &m).unwrap();
    std::fs::write(
        &p,
        format!(
            "notifications:\n  enabled: true\n{}",
            std::fs::read_to_string(&p).unwrap()
        ),
    )
    .unwrap();
    let mut m2 = m.clone();
    m2.name = "other".into();
    m2.ssh = "other.lan".into();
    add_machine(&p, &m2).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains("notifications:\n  enabled: true"), "{text}");
    let all = Machines::load(std::slice::from_ref(&p)).unwrap();
    assert_eq!(all.by_name.len(), 2);
    assert_eq!(all.get("gpu").unwrap().port, Some(2200));
    assert_eq!(all.get("other").unwrap().ssh, "other.lan");
    // A file that is not a mapping is left alone.
    std::fs::write(&p, "- a\n").unwrap();
    assert!(add_machine(&p, &m).is_err());
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "- a\n");
}
