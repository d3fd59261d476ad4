//! What reaches the stack from outside (HTTP routes by host name) and what runs on a
//! schedule (backups), as part of the runtime-neutral plan. Docker mode publishes ports
//! instead of routes and runs schedules in `appstack run`; Kubernetes renders an Ingress
//! and CronJobs from the same entries.

use serde::Serialize;

use crate::api::validated::{BackupTarget, ValidatedStack};

/// One host name routed to a component's first port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub host: String,
    pub component: String,
    pub port: u16,
}

/// HTTP ingress of the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngressPlan {
    pub class_name: Option<String>,
    /// Secret holding the TLS certificate; TLS is off when unset.
    pub tls_secret: Option<String>,
    /// cert-manager ClusterIssuer that fills `tls_secret`.
    pub cluster_issuer: Option<String>,
    pub routes: Vec<Route>,
}

/// What a process backing the stack up needs besides the spec: Kubernetes mounts these
/// into the WAL shipper and the backup jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreAccess {
    /// Secret (Kubernetes) or env file (Docker) with `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`.
    pub credentials: Option<String>,
    /// Secret (Kubernetes) or file (Docker) holding the encryption key.
    pub key: Option<String>,
    /// Directory of a filesystem target.
    pub directory: Option<String>,
}

/// A job the stack runs on a cron schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduledJob {
    /// Short name, unique in the stack (`backup-db`, `backup-dump`, `backup-files`).
    pub name: String,
    /// 5-field cron expression.
    pub schedule: String,
    /// Arguments of the appstack binary.
    pub args: Vec<String>,
    /// The job is killed after this long.
    pub timeout_secs: u64,
    /// The component whose volumes the job reads (the CMS's uploads for `backup-files`):
    /// a runtime that can mount them in the job's own container does so, read-only, instead
    /// of running the job's commands in the component.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reads_volumes_of: Option<String>,
}

pub(super) fn ingress(stack: &ValidatedStack) -> Option<IngressPlan> {
    let ing = stack.ingress.as_ref()?;
    let mut routes = Vec::new();
    if let (Some(host), Some(f)) = (&ing.host, &stack.frontend) {
        routes.push(Route {
            host: host.clone(),
            component: "frontend".into(),
            port: f.port,
        });
    }
    if let (Some(host), Some(c)) = (&ing.cms_host, &stack.cms) {
        routes.push(Route {
            host: host.clone(),
            component: "cms".into(),
            port: c.app.port,
        });
    }
    if routes.is_empty() {
        return None;
    }
    Some(IngressPlan {
        class_name: ing.class_name.clone(),
        tls_secret: ing.tls.as_ref().map(|t| t.secret_name.clone()),
        cluster_issuer: ing.tls.as_ref().and_then(|t| t.cluster_issuer.clone()),
        routes,
    })
}

pub(super) fn jobs(stack: &ValidatedStack) -> Vec<ScheduledJob> {
    let Some(b) = &stack.backup else {
        return Vec::new();
    };
    let has_uploads = stack
        .cms
        .as_ref()
        .is_some_and(|c| matches!(c.uploads, crate::api::validated::Uploads::Volume { .. }));
    [
        ("backup-db", "db", b.base_backup_schedule.as_ref(), true),
        ("backup-dump", "dump", b.dump_schedule.as_ref(), true),
        (
            "backup-files",
            "files",
            b.files_schedule.as_ref(),
            has_uploads,
        ),
    ]
    .into_iter()
    .filter_map(|(name, only, schedule, wanted)| {
        let schedule = schedule.filter(|_| wanted && stack.database.is_some())?;
        Some(ScheduledJob {
            name: name.into(),
            schedule: schedule.clone(),
            args: vec!["backup".into(), "now".into(), "--only".into(), only.into()],
            timeout_secs: b.timeout.as_secs(),
            reads_volumes_of: (only == "files").then(|| "cms".to_string()),
        })
    })
    .collect()
}

/// Beyond the RTO, what a drill may take (markers, teardown) before it is stopped.
pub const DRILL_SLACK_SECS: u64 = 15 * 60;

pub(super) fn drill(stack: &ValidatedStack) -> Option<ScheduledJob> {
    stack.database.as_ref()?;
    stack.backup.as_ref()?;
    Some(ScheduledJob {
        name: "drill".into(),
        schedule: stack.recovery.drill_schedule.clone()?,
        args: vec!["drill".into()],
        timeout_secs: stack.recovery.rto.as_secs() + DRILL_SLACK_SECS,
        reads_volumes_of: None,
    })
}

pub(super) fn store_access(stack: &ValidatedStack) -> Option<StoreAccess> {
    let b = stack.backup.as_ref()?;
    let (credentials, directory) = match &b.target {
        BackupTarget::Filesystem { path } => (None, Some(path.clone())),
        BackupTarget::S3 {
            credentials_secret, ..
        } => (credentials_secret.clone(), None),
    };
    Some(StoreAccess {
        credentials,
        key: b.encryption_key_file.clone(),
        directory,
    })
}
