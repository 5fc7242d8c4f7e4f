use super::*;

fn spec(schedule: Option<&str>) -> K8sSpec {
    K8sSpec {
        repo_name: "My_Repo.git".into(),
        repo_path: "/home/me/My_Repo.git".into(),
        hash: 0x1234_abcd,
        schedule: schedule.map(String::from),
        serve: false,
        image: "registry.example/car:1".into(),
        namespace: Some("agents".into()),
        secret: "car-env".into(),
        secret_keys: vec!["CAR_NTFY_TOPIC".into(), "OPENAI_API_KEY".into()],
        clone_url: None,
        port: 4173,
        kill_grace: 10,
    }
}

/// The documents of the output, parsed.
fn docs(spec: &K8sSpec) -> Vec<serde_json::Value> {
    let text = manifests(spec).unwrap();
    text.split("\n---\n")
        .map(|d| serde_yaml::from_str(d).unwrap())
        .collect()
}

fn pod_spec(doc: &serde_json::Value) -> &serde_json::Value {
    match doc["kind"].as_str().unwrap() {
        "Job" => &doc["spec"]["template"]["spec"],
        "CronJob" => &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        "Deployment" => &doc["spec"]["template"]["spec"],
        k => panic!("unexpected kind {k}"),
    }
}

#[test]
fn names_are_dns_labels_from_the_repository() {
    let s = spec(None);
    assert_eq!(s.name(), "car-my-repo-git-1234abcd");
    assert_eq!(s.claim(), "car-my-repo-git-1234abcd-work");
    let long = K8sSpec {
        repo_name: "A".repeat(200),
        ..spec(None)
    };
    assert!(long.name().len() <= 52, "a CronJob name: {}", long.name());
    let odd = K8sSpec {
        repo_name: "...".into(),
        ..spec(None)
    };
    assert_eq!(odd.name(), "car-repo-1234abcd");
}

#[test]
fn job_runs_the_loop_on_the_claim_and_the_claim_comes_first() {
    let d = docs(&spec(None));
    assert_eq!(d.len(), 2);
    assert_eq!(d[0]["kind"], "PersistentVolumeClaim");
    assert_eq!(d[0]["metadata"]["name"], "car-my-repo-git-1234abcd-work");
    assert_eq!(d[1]["apiVersion"], "batch/v1");
    assert_eq!(d[1]["kind"], "Job");
    assert_eq!(d[1]["metadata"]["namespace"], "agents");
    assert_eq!(d[0]["metadata"]["namespace"], "agents");
    let pod = pod_spec(&d[1]);
    let c = &pod["containers"][0];
    assert_eq!(
        c["args"],
        serde_json::json!(["car", "--repo", "/work/repo", "run"])
    );
    assert_eq!(c["image"], "registry.example/car:1");
    let work = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "work")
        .unwrap();
    assert_eq!(
        work["persistentVolumeClaim"]["claimName"],
        "car-my-repo-git-1234abcd-work"
    );
    let mounts = c["volumeMounts"].as_array().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m["name"] == "work" && m["mountPath"] == "/work"),
        "{mounts:?}"
    );
    assert!(REPO_DIR.starts_with(&format!("{WORK_DIR}/")));
    assert_eq!(d[1]["spec"]["ttlSecondsAfterFinished"], 86_400);
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["terminationGracePeriodSeconds"], 40);
    assert!(pod.get("initContainers").is_none());
}

#[test]
fn cronjob_runs_if_idle_one_at_a_time() {
    let d = docs(&spec(Some("*/30 * * * *")));
    assert_eq!(d[1]["kind"], "CronJob");
    assert_eq!(d[1]["spec"]["schedule"], "*/30 * * * *");
    assert_eq!(d[1]["spec"]["concurrencyPolicy"], "Forbid");
    let cmd = &pod_spec(&d[1])["containers"][0]["args"];
    assert_eq!(
        cmd,
        &serde_json::json!(["car", "--repo", "/work/repo", "run", "--if-idle"])
    );
}

#[test]
fn secrets_are_referenced_by_name_never_by_value() {
    let s = spec(None);
    let text = manifests(&s).unwrap();
    let d = docs(&s);
    let env = pod_spec(&d[1])["containers"][0]["env"]
        .as_array()
        .unwrap()
        .clone();
    for key in &s.secret_keys {
        let var = env.iter().find(|e| e["name"] == key.as_str()).unwrap();
        assert!(var.get("value").is_none(), "{var}");
        let r = &var["valueFrom"]["secretKeyRef"];
        assert_eq!(r["name"], "car-env");
        assert_eq!(r["key"], key.as_str());
    }
    // Only the fixed paths carry values.
    let valued: Vec<&str> = env
        .iter()
        .filter(|e| e.get("value").is_some())
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        valued,
        [
            "HOME",
            "TMPDIR",
            "CODEX_HOME",
            "GIT_CONFIG_COUNT",
            "GIT_CONFIG_KEY_0",
            "GIT_CONFIG_VALUE_0"
        ]
    );
    assert!(!text.contains("sk-"), "{text}");
}

#[test]
fn pods_run_as_non_root_with_a_read_only_root() {
    for d in [docs(&spec(None)), docs(&spec(Some("@hourly")))] {
        let pod = pod_spec(&d[1]);
        let sc = &pod["securityContext"];
        assert_eq!(sc["runAsNonRoot"], true);
        assert_eq!(sc["runAsUser"], UID);
        assert_eq!(sc["fsGroup"], UID);
        assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
        assert_eq!(pod["automountServiceAccountToken"], false);
        let c = &pod["containers"][0]["securityContext"];
        assert_eq!(c["allowPrivilegeEscalation"], false);
        assert_eq!(c["readOnlyRootFilesystem"], true);
        assert_eq!(c["capabilities"]["drop"], serde_json::json!(["ALL"]));
        // The writable places: the claim, HOME and /tmp.
        let vols: Vec<&str> = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert_eq!(vols, ["work", "home", "tmp"]);
        let res = &pod["containers"][0]["resources"];
        assert!(res["requests"]["memory"].is_string() && res["limits"]["memory"].is_string());
    }
}

#[test]
fn clone_url_adds_an_init_container_that_clones_once() {
    let s = K8sSpec {
        clone_url: Some("https://git.example/me/repo.git".into()),
        ..spec(None)
    };
    let d = docs(&s);
    let init = &pod_spec(&d[1])["initContainers"][0];
    assert_eq!(init["name"], "clone");
    let cmd: Vec<&str> = init["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(cmd[3], "https://git.example/me/repo.git");
    assert_eq!(cmd[4], REPO_DIR);
    assert!(cmd[2].contains("test -e") && cmd[2].contains("git clone"));
    assert_eq!(init["securityContext"]["runAsNonRoot"], true);
}

#[test]
fn output_is_deterministic() {
    assert_eq!(
        manifests(&spec(None)).unwrap(),
        manifests(&spec(None)).unwrap()
    );
}

#[test]
fn a_question_fails_the_job_without_a_retry_and_evictions_do_not_count() {
    let d = docs(&spec(None));
    let rules = d[1]["spec"]["podFailurePolicy"]["rules"]
        .as_array()
        .unwrap();
    let exit3 = &rules[0];
    assert_eq!(exit3["action"], "FailJob");
    assert_eq!(exit3["onExitCodes"]["containerName"], "loop");
    assert_eq!(exit3["onExitCodes"]["values"], serde_json::json!([3]));
    assert_eq!(rules[1]["action"], "Ignore");
    assert_eq!(rules[1]["onPodConditions"][0]["type"], "DisruptionTarget");
    let c = docs(&spec(Some("@daily")));
    let template = &c[1]["spec"]["jobTemplate"]["spec"];
    assert_eq!(
        template["podFailurePolicy"],
        d[1]["spec"]["podFailurePolicy"]
    );
    assert_eq!(template["backoffLimit"], 0);
}

#[test]
fn serve_is_a_deployment_on_the_same_claim_near_the_loop() {
    let s = K8sSpec {
        serve: true,
        ..spec(None)
    };
    let d = docs(&s);
    assert_eq!(d[1]["kind"], "Deployment");
    assert_eq!(d[1]["apiVersion"], "apps/v1");
    assert_eq!(d[1]["metadata"]["name"], "car-my-repo-git-1234abcd-serve");
    assert_eq!(d[1]["spec"]["replicas"], 1);
    assert_eq!(d[1]["spec"]["strategy"]["type"], "Recreate");
    let selector = &d[1]["spec"]["selector"]["matchLabels"];
    let labels = &d[1]["spec"]["template"]["metadata"]["labels"];
    for (k, v) in selector.as_object().unwrap() {
        assert_eq!(&labels[k], v, "the selector matches the pods");
    }
    assert_eq!(labels["app.kubernetes.io/component"], "server");
    let pod = pod_spec(&d[1]);
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(
        pod["containers"][0]["args"],
        serde_json::json!(["car", "--repo", "/work/repo", "serve"])
    );
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
        s.claim()
    );
    // Both pods prefer the node of the other (a ReadWriteOnce claim).
    let loop_pod = docs(&spec(None));
    for p in [pod, pod_spec(&loop_pod[1])] {
        let term = &p["affinity"]["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            [0]["podAffinityTerm"];
        assert_eq!(term["topologyKey"], "kubernetes.io/hostname");
        assert_eq!(
            term["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"],
            s.name()
        );
        assert!(
            term["labelSelector"]["matchLabels"]
                .get("app.kubernetes.io/component")
                .is_none()
        );
    }
    assert!(header(&s).contains("port-forward deploy/car-my-repo-git-1234abcd-serve 4173"));
    assert!(
        header(&spec(None))
            .contains("exec deploy/car-my-repo-git-1234abcd-serve -- car --repo /work/repo reply")
    );
}
