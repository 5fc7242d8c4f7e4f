//! The Kubernetes objects `car service print kubernetes` writes, as typed
//! structs: only the fields car sets, in the order they are written, named
//! as the API names them (camelCase).

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Object<S> {
    pub(super) api_version: &'static str,
    pub(super) kind: &'static str,
    pub(super) metadata: Metadata,
    pub(super) spec: S,
}

#[derive(Serialize)]
pub(super) struct Metadata {
    pub(super) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) namespace: Option<String>,
    pub(super) labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClaimSpec {
    pub(super) access_modes: Vec<&'static str>,
    pub(super) resources: Requests,
}

#[derive(Serialize)]
pub(super) struct Requests {
    pub(super) requests: BTreeMap<&'static str, &'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CronJobSpec {
    pub(super) schedule: String,
    pub(super) concurrency_policy: &'static str,
    pub(super) starting_deadline_seconds: u64,
    pub(super) successful_jobs_history_limit: u32,
    pub(super) failed_jobs_history_limit: u32,
    pub(super) job_template: JobTemplate,
}

#[derive(Serialize)]
pub(super) struct JobTemplate {
    pub(super) metadata: Labels,
    pub(super) spec: JobSpec,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JobSpec {
    pub(super) backoff_limit: u32,
    pub(super) pod_failure_policy: PodFailurePolicy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) ttl_seconds_after_finished: Option<u64>,
    pub(super) template: PodTemplate,
}

#[derive(Serialize)]
pub(super) struct Labels {
    pub(super) labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
pub(super) struct PodTemplate {
    pub(super) metadata: Labels,
    pub(super) spec: PodSpec,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PodSpec {
    pub(super) restart_policy: &'static str,
    pub(super) termination_grace_period_seconds: u64,
    pub(super) automount_service_account_token: bool,
    pub(super) affinity: Affinity,
    pub(super) security_context: PodSecurity,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) init_containers: Vec<Container>,
    pub(super) containers: Vec<Container>,
    pub(super) volumes: Vec<Volume>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PodSecurity {
    pub(super) run_as_non_root: bool,
    pub(super) run_as_user: u64,
    pub(super) run_as_group: u64,
    pub(super) fs_group: u64,
    pub(super) fs_group_change_policy: &'static str,
    pub(super) seccomp_profile: Seccomp,
}

#[derive(Serialize)]
pub(super) struct Seccomp {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Container {
    pub(super) name: &'static str,
    pub(super) image: String,
    pub(super) image_pull_policy: &'static str,
    /// The image's entrypoint (tini in car's image) runs these.
    pub(super) args: Vec<String>,
    pub(super) working_dir: &'static str,
    pub(super) env: Vec<EnvVar>,
    pub(super) resources: Resources,
    pub(super) security_context: ContainerSecurity,
    pub(super) volume_mounts: Vec<Mount>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EnvVar {
    pub(super) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) value_from: Option<EnvSource>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EnvSource {
    pub(super) secret_key_ref: SecretKeyRef,
}

#[derive(Serialize)]
pub(super) struct SecretKeyRef {
    pub(super) name: String,
    pub(super) key: String,
    pub(super) optional: bool,
}

#[derive(Serialize)]
pub(super) struct Resources {
    pub(super) requests: BTreeMap<&'static str, &'static str>,
    pub(super) limits: BTreeMap<&'static str, &'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ContainerSecurity {
    pub(super) allow_privilege_escalation: bool,
    pub(super) read_only_root_filesystem: bool,
    pub(super) run_as_non_root: bool,
    pub(super) capabilities: Capabilities,
}

#[derive(Serialize)]
pub(super) struct Capabilities {
    pub(super) drop: Vec<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Mount {
    pub(super) name: &'static str,
    pub(super) mount_path: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Volume {
    pub(super) name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) persistent_volume_claim: Option<ClaimRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) empty_dir: Option<EmptyDir>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClaimRef {
    pub(super) claim_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EmptyDir {
    pub(super) size_limit: &'static str,
}

#[derive(Serialize)]
pub(super) struct PodFailurePolicy {
    pub(super) rules: Vec<PodFailureRule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PodFailureRule {
    pub(super) action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) on_exit_codes: Option<OnExitCodes>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) on_pod_conditions: Vec<OnPodCondition>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OnExitCodes {
    pub(super) container_name: &'static str,
    pub(super) operator: &'static str,
    pub(super) values: Vec<i32>,
}

#[derive(Serialize)]
pub(super) struct OnPodCondition {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) status: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Affinity {
    pub(super) pod_affinity: PodAffinity,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PodAffinity {
    pub(super) preferred_during_scheduling_ignored_during_execution: Vec<WeightedTerm>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WeightedTerm {
    pub(super) weight: u32,
    pub(super) pod_affinity_term: AffinityTerm,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AffinityTerm {
    pub(super) label_selector: Selector,
    pub(super) topology_key: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Selector {
    pub(super) match_labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeploymentSpec {
    pub(super) replicas: u32,
    pub(super) revision_history_limit: u32,
    pub(super) selector: Selector,
    pub(super) strategy: Strategy,
    pub(super) template: PodTemplate,
}

#[derive(Serialize)]
pub(super) struct Strategy {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
}
