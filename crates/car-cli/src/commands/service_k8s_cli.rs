//! `car service print kubernetes`: its options checked, the manifests
//! printed; `install`/`uninstall kubernetes` refused with what to run.

use anyhow::{Context, Result};

use super::service_env;
use super::service_k8s::{self, K8sSpec};
use super::service_units;
use crate::cli::{Global, InstallKind, K8sArgs, ServiceWhat};
use crate::report::UsageError;

/// car does not talk to a cluster: `install`/`uninstall kubernetes` say
/// what to run instead.
pub(crate) fn refuse_kubernetes(kind: Option<InstallKind>, verb: &str) -> Result<()> {
    if kind != Some(InstallKind::Kubernetes) {
        return Ok(());
    }
    let how = if verb == "install" {
        "print the manifests and apply them: `car service print kubernetes | kubectl apply -f -`"
    } else {
        "delete the Job or CronJob with kubectl: `kubectl delete job NAME` or `kubectl delete cronjob NAME` (names in `car service print kubernetes`); the claim NAME-work holds the work tree and the loop's state: delete it only when done with both"
    };
    Err(UsageError(format!(
        "car service {verb} kubernetes: car does not talk to a cluster; {how}"
    ))
    .into())
}

/// Refuses the Kubernetes options with another kind.
pub(crate) fn k8s_only(k: &K8sArgs) -> Result<()> {
    let given = [
        ("--schedule", k.schedule.is_some()),
        ("--image", k.image.is_some()),
        ("--namespace", k.namespace.is_some()),
        ("--secret", k.secret.is_some()),
        ("--clone-url", k.clone_url.is_some()),
    ];
    match given.iter().find(|(_, set)| *set) {
        Some((flag, _)) => Err(UsageError(format!(
            "{flag} is for `car service print kubernetes`; launchd, systemd and cron take --interval"
        ))
        .into()),
        None => Ok(()),
    }
}

/// Whether `s` is a DNS-1123 label (a namespace) or subdomain (a Secret).
fn dns_name(s: &str, dots: bool) -> bool {
    let max = if dots { 253 } else { 63 };
    !s.is_empty()
        && s.len() <= max
        && (dots || !s.contains('.'))
        && s.split('.').all(|part| {
            !part.is_empty()
                && part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && part.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// Whether `s` looks like a cron schedule Kubernetes takes: five fields,
/// or a macro such as `@hourly`.
fn cron_schedule(s: &str) -> bool {
    let s = s.trim();
    match s.strip_prefix('@') {
        Some(m) => [
            "yearly", "annually", "monthly", "weekly", "daily", "midnight", "hourly",
        ]
        .contains(&m),
        None => {
            s.split_whitespace().count() == 5
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || " */,-?".contains(c))
        }
    }
}

/// `car service print kubernetes`: the claim and the Job or CronJob.
pub(crate) fn print_kubernetes(
    g: &Global,
    what: ServiceWhat,
    interval: Option<u64>,
    k: K8sArgs,
) -> Result<()> {
    if matches!(what, ServiceWhat::Telegram | ServiceWhat::Ledger) {
        return Err(UsageError(format!(
            "kubernetes runs the loop (a Job or CronJob) or the server (--what serve, a Deployment); not the {}",
            what.label()
        ))
        .into());
    }
    let serve = what == ServiceWhat::Serve;
    if serve && k.schedule.is_some() {
        return Err(UsageError(
            "--schedule is for the loop: the server runs until stopped (a Deployment); leave --schedule out".into(),
        )
        .into());
    }
    if interval.is_some() {
        return Err(UsageError(
            "--interval is for launchd, systemd and cron: a Kubernetes CronJob takes --schedule CRON".into(),
        )
        .into());
    }
    if let Some(s) = k.schedule.as_deref().filter(|s| !cron_schedule(s)) {
        return Err(UsageError(format!(
            "--schedule {s:?} is not a cron schedule: give five fields (minute hour day month weekday, e.g. \"*/30 * * * *\") or @hourly, @daily..."
        ))
        .into());
    }
    if let Some(n) = k.namespace.as_deref().filter(|n| !dns_name(n, false)) {
        return Err(UsageError(format!(
            "--namespace {n:?} is not a Kubernetes namespace name (lowercase letters, digits and '-', at most 63)"
        ))
        .into());
    }
    if let Some(n) = k.secret.as_deref().filter(|n| !dns_name(n, true)) {
        return Err(UsageError(format!(
            "--secret {n:?} is not a Kubernetes Secret name (lowercase letters, digits, '-' and '.')"
        ))
        .into());
    }
    if k.image
        .as_deref()
        .is_some_and(|i| i.trim().is_empty() || i.contains(char::is_whitespace))
    {
        return Err(UsageError("--image must be an image reference, without spaces".into()).into());
    }
    // The server serves the repository on the claim, like the loop.
    let (cfg, root) = super::service::open(g, ServiceWhat::Loop)?;
    let env = service_env::capture(std::env::vars_os(), &cfg.secret_env_vars());
    let spec = K8sSpec {
        repo_name: root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        repo_path: root.display().to_string(),
        hash: service_units::fnv1a(root.to_string_lossy().as_bytes()) as u32,
        schedule: k.schedule.map(|s| s.trim().to_string()),
        serve,
        image: k.image.unwrap_or_else(service_k8s::default_image),
        namespace: k.namespace,
        secret: k
            .secret
            .unwrap_or_else(|| service_k8s::DEFAULT_SECRET.into()),
        secret_keys: service_env::secret_names(&env, &cfg.secret_env_vars()),
        clone_url: k.clone_url,
        port: cfg.server.port,
        kill_grace: cfg.runner.kill_grace.as_secs(),
    };
    let yaml = service_k8s::manifests(&spec).context("cannot write the manifests as YAML")?;
    out!("{}{yaml}", service_k8s::header(&spec));
    Ok(())
}
