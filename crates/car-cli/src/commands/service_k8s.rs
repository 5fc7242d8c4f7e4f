//! `car service print kubernetes`: the loop of a repository as a
//! Kubernetes `batch/v1` Job (`car run`), or a CronJob (`car run
//! --if-idle`, never two at once), with the PersistentVolumeClaim that holds
//! the work tree and the loop's state. The manifests are typed structs
//! written with serde_yaml, in a fixed order; the environment comes from a
//! Secret by name (`secretKeyRef`), never with values. car does not talk to
//! a cluster: the user applies the output with `kubectl apply -f -`.

use std::collections::BTreeMap;

use super::service_k8s_model::*;

/// The image `--image` defaults to: built from the repository's Dockerfile
/// (`docker build -t codex-autorunner:VERSION .`).
pub(crate) fn default_image() -> String {
    format!("codex-autorunner:{}", env!("CARGO_PKG_VERSION"))
}

/// The Secret `--secret` defaults to.
pub(crate) const DEFAULT_SECRET: &str = "codex-autorunner";
/// Where the claim is mounted in the container.
pub(crate) const WORK_DIR: &str = "/work";
/// The repository's work tree on the claim (`--repo`).
pub(crate) const REPO_DIR: &str = "/work/repo";
/// Codex's home on the claim: its sessions outlive the pod (`codex exec
/// resume` of a task's reply needs them).
pub(crate) const CODEX_HOME: &str = "/work/codex-home";
/// HOME and /tmp: emptyDirs (the root filesystem is read-only).
const HOME_DIR: &str = "/home/car";
const TMP_DIR: &str = "/tmp";
/// The image's user and group (the Dockerfile's `car` user).
pub(crate) const UID: u64 = 10001;

/// What the manifests are made of.
pub(crate) struct K8sSpec {
    /// The directory name of the repository (names the objects).
    pub(crate) repo_name: String,
    /// The repository's absolute path here (an annotation, for people).
    pub(crate) repo_path: String,
    /// A stable hash of the repository's path (keeps names unique).
    pub(crate) hash: u32,
    /// Cron schedule: a CronJob running `car run --if-idle`; none: a Job.
    pub(crate) schedule: Option<String>,
    /// A Deployment running `car serve` on the claim instead of the loop.
    pub(crate) serve: bool,
    pub(crate) image: String,
    pub(crate) namespace: Option<String>,
    pub(crate) secret: String,
    /// The variables taken from the Secret (sorted, each its own key).
    pub(crate) secret_keys: Vec<String>,
    /// A git URL an init container clones into an empty claim.
    pub(crate) clone_url: Option<String>,
    /// The server's port (`server.port`), on the pod's loopback.
    pub(crate) port: u16,
    /// Seconds the loop needs to stop its agent after SIGTERM.
    pub(crate) kill_grace: u64,
}

impl K8sSpec {
    /// `car-<dir>-<hash>`: lowercase letters, digits and `-` (a DNS-1123
    /// label), short enough for a CronJob (52) with room for `-work`.
    pub(crate) fn name(&self) -> String {
        let mut dir: String = self
            .repo_name
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        dir.truncate(30);
        let dir: Vec<&str> = dir.split('-').filter(|s| !s.is_empty()).collect();
        let dir = if dir.is_empty() {
            "repo".to_string()
        } else {
            dir.join("-")
        };
        format!("car-{dir}-{:08x}", self.hash)
    }

    /// The claim's name.
    pub(crate) fn claim(&self) -> String {
        format!("{}-work", self.name())
    }

    /// The server's Deployment's name.
    pub(crate) fn server_name(&self) -> String {
        format!("{}-serve", self.name())
    }

    /// The repository's objects, loop's and server's alike.
    fn instance(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/name".into(), "codex-autorunner".into()),
            ("app.kubernetes.io/instance".into(), self.name()),
        ])
    }

    fn labels(&self) -> BTreeMap<String, String> {
        let mut l = self.instance();
        let component = if self.serve { "server" } else { "loop" };
        l.insert("app.kubernetes.io/component".into(), component.into());
        l
    }

    fn metadata(&self, name: String) -> Metadata {
        Metadata {
            name,
            namespace: self.namespace.clone(),
            labels: self.labels(),
            annotations: BTreeMap::from([(
                "codex-autorunner/repository".into(),
                self.repo_path.clone(),
            )]),
        }
    }
}

fn value(name: &str, v: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(v.into()),
        value_from: None,
    }
}

/// The container's environment: the fixed paths, then every secret
/// variable from the Secret by name. Each is optional: a key the Secret
/// lacks leaves the variable unset (car says what it misses) instead of
/// keeping the pod from starting.
fn env(spec: &K8sSpec) -> Vec<EnvVar> {
    let mut env = vec![
        value("HOME", HOME_DIR),
        value("TMPDIR", TMP_DIR),
        value("CODEX_HOME", CODEX_HOME),
        // A work tree put on the claim by another user (`kubectl cp`, a
        // restored volume) is one git would refuse as of dubious ownership.
        value("GIT_CONFIG_COUNT", "1"),
        value("GIT_CONFIG_KEY_0", "safe.directory"),
        value("GIT_CONFIG_VALUE_0", REPO_DIR),
    ];
    env.extend(spec.secret_keys.iter().map(|k| EnvVar {
        name: k.clone(),
        value: None,
        value_from: Some(EnvSource {
            secret_key_ref: SecretKeyRef {
                name: spec.secret.clone(),
                key: k.clone(),
                optional: true,
            },
        }),
    }));
    env
}

fn container(spec: &K8sSpec, name: &'static str, args: Vec<String>, env: Vec<EnvVar>) -> Container {
    Container {
        name,
        image: spec.image.clone(),
        image_pull_policy: "IfNotPresent",
        args,
        working_dir: WORK_DIR,
        env,
        resources: Resources {
            requests: BTreeMap::from([
                ("cpu", "500m"),
                ("memory", "1Gi"),
                ("ephemeral-storage", "1Gi"),
            ]),
            limits: BTreeMap::from([
                ("cpu", "2"),
                ("memory", "4Gi"),
                ("ephemeral-storage", "4Gi"),
            ]),
        },
        security_context: ContainerSecurity {
            allow_privilege_escalation: false,
            read_only_root_filesystem: true,
            run_as_non_root: true,
            capabilities: Capabilities { drop: vec!["ALL"] },
        },
        volume_mounts: vec![
            Mount {
                name: "work",
                mount_path: WORK_DIR,
            },
            Mount {
                name: "home",
                mount_path: HOME_DIR,
            },
            Mount {
                name: "tmp",
                mount_path: TMP_DIR,
            },
        ],
    }
}

/// The command line the loop's container runs (as `args`: the image's
/// entrypoint, tini, starts it and passes signals on).
pub(crate) fn loop_command(cron: bool) -> Vec<String> {
    let mut c: Vec<String> = ["car", "--repo", REPO_DIR, "run"].map(String::from).into();
    if cron {
        c.push("--if-idle".into());
    }
    c
}

/// The server's command line: on the pod's loopback (`kubectl
/// port-forward` reaches it there), port from `server.port`.
pub(crate) fn serve_command() -> Vec<String> {
    ["car", "--repo", REPO_DIR, "serve"]
        .map(String::from)
        .into()
}

fn pod(spec: &K8sSpec) -> PodTemplate {
    let cron = spec.schedule.is_some();
    let main = if spec.serve {
        container(spec, "serve", serve_command(), env(spec))
    } else {
        container(spec, "loop", loop_command(cron), env(spec))
    };
    let init = spec.clone_url.as_ref().map(|url| {
        // Clones once, into an empty claim; later pods find the work tree.
        let script = "test -e \"$1/.git\" || git clone -- \"$0\" \"$1\"";
        container(
            spec,
            "clone",
            vec![
                "sh".into(),
                "-c".into(),
                script.into(),
                url.clone(),
                REPO_DIR.into(),
            ],
            vec![value("HOME", HOME_DIR), value("TMPDIR", TMP_DIR)],
        )
    });
    let claim = |name: &'static str, size| Volume {
        name,
        persistent_volume_claim: None,
        empty_dir: Some(EmptyDir { size_limit: size }),
    };
    PodTemplate {
        metadata: Labels {
            labels: spec.labels(),
        },
        spec: PodSpec {
            restart_policy: if spec.serve { "Always" } else { "Never" },
            // SIGTERM lets the loop stop its agent and record the run.
            termination_grace_period_seconds: spec.kill_grace + 30,
            automount_service_account_token: false,
            // The claim is ReadWriteOnce: the loop's pod and the server's
            // go to one node when they can.
            affinity: Affinity {
                pod_affinity: PodAffinity {
                    preferred_during_scheduling_ignored_during_execution: vec![WeightedTerm {
                        weight: 100,
                        pod_affinity_term: AffinityTerm {
                            label_selector: Selector {
                                match_labels: spec.instance(),
                            },
                            topology_key: "kubernetes.io/hostname",
                        },
                    }],
                },
            },
            security_context: PodSecurity {
                run_as_non_root: true,
                run_as_user: UID,
                run_as_group: UID,
                fs_group: UID,
                fs_group_change_policy: "OnRootMismatch",
                seccomp_profile: Seccomp {
                    kind: "RuntimeDefault",
                },
            },
            init_containers: init.into_iter().collect(),
            containers: vec![main],
            volumes: vec![
                Volume {
                    name: "work",
                    persistent_volume_claim: Some(ClaimRef {
                        claim_name: spec.claim(),
                    }),
                    empty_dir: None,
                },
                claim("home", "1Gi"),
                claim("tmp", "2Gi"),
            ],
        },
    }
}

/// When a loop's pod fails: exit 3 (the loop waits for a person's answer)
/// fails the Job at once, since starting it again would only stop again; a
/// pod evicted or preempted (a node drained) does not count as a failure.
fn failure_policy() -> PodFailurePolicy {
    PodFailurePolicy {
        rules: vec![
            PodFailureRule {
                action: "FailJob",
                on_exit_codes: Some(OnExitCodes {
                    container_name: "loop",
                    operator: "In",
                    values: vec![3],
                }),
                on_pod_conditions: Vec::new(),
            },
            PodFailureRule {
                action: "Ignore",
                on_exit_codes: None,
                on_pod_conditions: vec![OnPodCondition {
                    kind: "DisruptionTarget",
                    status: "True",
                }],
            },
        ],
    }
}

/// The claim, then the Job, CronJob or Deployment: a YAML stream of two documents.
pub(crate) fn manifests(spec: &K8sSpec) -> Result<String, serde_yaml::Error> {
    let claim = Object {
        api_version: "v1",
        kind: "PersistentVolumeClaim",
        metadata: spec.metadata(spec.claim()),
        spec: ClaimSpec {
            access_modes: vec!["ReadWriteOnce"],
            resources: Requests {
                requests: BTreeMap::from([("storage", "10Gi")]),
            },
        },
    };
    let mut out = serde_yaml::to_string(&claim)?;
    out.push_str("---\n");
    let job = |backoff_limit, ttl| JobSpec {
        backoff_limit,
        pod_failure_policy: failure_policy(),
        ttl_seconds_after_finished: ttl,
        template: pod(spec),
    };
    match &spec.schedule {
        None if spec.serve => {
            // One server on the claim: the old pod goes before the new.
            out.push_str(&serde_yaml::to_string(&Object {
                api_version: "apps/v1",
                kind: "Deployment",
                metadata: spec.metadata(spec.server_name()),
                spec: DeploymentSpec {
                    replicas: 1,
                    revision_history_limit: 3,
                    selector: Selector {
                        match_labels: spec.labels(),
                    },
                    strategy: Strategy { kind: "Recreate" },
                    template: pod(spec),
                },
            })?);
        }
        None => {
            // A failed loop (a node drained, the pod evicted) starts again
            // twice; its state is on the claim. A finished Job goes a day
            // later, so the name is free for the next `kubectl apply`.
            out.push_str(&serde_yaml::to_string(&Object {
                api_version: "batch/v1",
                kind: "Job",
                metadata: spec.metadata(spec.name()),
                spec: job(2, Some(86_400)),
            })?);
        }
        Some(schedule) => {
            // The next tick is the retry; Forbid and --if-idle keep it to
            // one loop at a time.
            out.push_str(&serde_yaml::to_string(&Object {
                api_version: "batch/v1",
                kind: "CronJob",
                metadata: spec.metadata(spec.name()),
                spec: CronJobSpec {
                    schedule: schedule.clone(),
                    concurrency_policy: "Forbid",
                    starting_deadline_seconds: 300,
                    successful_jobs_history_limit: 3,
                    failed_jobs_history_limit: 3,
                    job_template: JobTemplate {
                        metadata: Labels {
                            labels: spec.labels(),
                        },
                        spec: job(0, None),
                    },
                },
            })?);
        }
    }
    Ok(out)
}

/// The comment printed above the manifests: how to make the Secret, fill
/// the claim and apply.
pub(crate) fn header(spec: &K8sSpec) -> String {
    let ns = spec
        .namespace
        .as_ref()
        .map(|n| format!(" -n {n}"))
        .unwrap_or_default();
    let literals: Vec<String> = spec
        .secret_keys
        .iter()
        .map(|k| format!("--from-literal={k}=..."))
        .collect();
    let mut h = format!(
        "# codex-autorunner of {path} ({what}).\n\
         # Image {image}: build it from car's Dockerfile and push it where the cluster pulls from.\n\
         # Environment from Secret {secret} (each key optional), create it with:\n\
         #   kubectl{ns} create secret generic {secret} {literals}\n",
        path = spec.repo_path,
        what = match (spec.serve, &spec.schedule) {
            (true, _) => "a Deployment running `car serve`",
            (false, Some(_)) => "a CronJob running `car run --if-idle`",
            (false, None) => "a Job running `car run`",
        },
        image = spec.image,
        secret = spec.secret,
        literals = literals.join(" "),
    );
    match &spec.clone_url {
        Some(url) => h.push_str(&format!(
            "# The first pod clones {url} into claim {} at {REPO_DIR}.\n",
            spec.claim()
        )),
        None => h.push_str(&format!(
            "# Claim {} must hold the repository at {REPO_DIR} (or give --clone-url).\n",
            spec.claim()
        )),
    }
    h.push_str(&format!(
        "# Apply with: car service print kubernetes ... | kubectl{ns} apply -f -\n"
    ));
    let name = spec.name();
    if spec.serve {
        h.push_str(&format!(
            "# Reach it: kubectl{ns} port-forward deploy/{server} {port}, then http://127.0.0.1:{port}/ or\n\
             #   car --server http://127.0.0.1:{port} status (the token: server.auth_token_env in the Secret).\n",
            server = spec.server_name(),
            port = spec.port
        ));
    } else {
        h.push_str(&format!(
            "# When the loop asks (exit 3, the Job fails without a retry), answer on the claim:\n\
             #   through the server (car service print kubernetes --what serve): kubectl{ns} exec deploy/{name}-serve -- car --repo {REPO_DIR} reply \"...\"\n\
             #   then {again}\n",
            again = if spec.schedule.is_some() {
                "the next scheduled run goes on with the answer".to_string()
            } else {
                format!("start the loop again: kubectl{ns} delete job {name}, then apply these manifests again")
            }
        ));
        h.push_str(&format!(
            "#   While the loop runs: kubectl{ns} exec job/{name} -- car --repo {REPO_DIR} status\n"
        ));
    }
    h
}

#[cfg(test)]
#[path = "service_k8s_tests.rs"]
mod tests;
