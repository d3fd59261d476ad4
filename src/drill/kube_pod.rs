//! The DR drill in Kubernetes: the drill CronJob's pod *is* the isolated copy. Its
//! `prepare` init container writes the markers into the live database (exec in its pod),
//! cuts, and restores the latest base backup and WAL into the pod's own emptyDir; the
//! stack's database image then runs on it as a native sidecar, unreachable by any Service;
//! the `check` container waits for replay and promotion, runs the smoke checks, measures
//! RTO and RPO, keeps the report in the store and the verdict in the AppStack's status.
//! The pod ends with the job, so nothing is left to tear down.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::runbook::{record, save_to_store, smoke_checks, steps, write_markers};
use super::{new_id, DrillError, Report};
use crate::api::validated::Database;
use crate::api::ValidatedStack;
use crate::kube::runner::KubeRunner;
use crate::kube::workloads::DATABASE;
use crate::protect::backup::psql_argv;
use crate::protect::restore::to_dir::fill_dir;
use crate::protect::restore::{checks, uploads, verified_base, Pick};
use crate::protect::runner::capture;
use crate::protect::target::AnyStore;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KubeStep {
    Prepare,
    Check,
}

/// What `prepare` hands to `check` through the pod's state volume.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Handover {
    report: Report,
    restore_started_at: DateTime<Utc>,
    base_finished: DateTime<Utc>,
}

/// Where the two steps of the drill pod work.
#[derive(Debug, Clone)]
pub struct PodPaths {
    /// The database's data directory in the pod.
    pub data: std::path::PathBuf,
    /// The file the two steps share.
    pub state: std::path::PathBuf,
}

/// Runs one step of the drill pod for `stack` in namespace `ns`. `prepare` returns None
/// when it handed over to `check`; a finished drill (passed or not) returns its report,
/// already kept in the store and reported in the AppStack's status.
pub async fn run(
    stack: ValidatedStack,
    client: kube::Client,
    ns: String,
    step: KubeStep,
    paths: &PodPaths,
) -> Result<Option<Report>, DrillError> {
    let db = stack.database.clone().ok_or_else(|| {
        DrillError::Invalid("spec.database: not set; a drill restores the database".into())
    })?;
    let store = Arc::new(crate::protect::store::open_store(&stack)?);
    let live = KubeRunner {
        client: client.clone(),
        namespace: ns.clone(),
        stack: stack.name.clone(),
        pod: None,
        local: Vec::new(),
    };
    let result = match step {
        KubeStep::Prepare => prepare(&stack, &db, &store, &live, paths).await,
        KubeStep::Check => {
            // The restored server's socket directory is shared with this container, so
            // psql runs here: the backup identity needs no exec right in the drill's pod.
            let own = KubeRunner {
                local: vec![DATABASE.to_string()],
                ..live
            };
            check(&stack, &db, &own, &paths.state).await
        }
    };
    // Whatever the outcome, the verdict reaches the store and the status.
    let report = match result {
        Ok(Some(report)) => report,
        Err(Failed::Report(report)) => *report,
        Ok(None) => return Ok(None),
        Err(Failed::Before(e)) => return Err(e),
    };
    save_to_store(&report, store.as_ref()).await;
    let facts = json!({ "lastDrill": report.result() });
    if let Err(e) = crate::kube::report::report(&client, &ns, &stack.name, facts).await {
        eprintln!("warning: could not report the drill in the AppStack's status: {e}");
    }
    Ok(Some(report))
}

/// How a step failed: before there was a drill to report, or with its report.
enum Failed {
    Before(DrillError),
    Report(Box<Report>),
}

/// Markers, the cut, the restore into `args.data`; hands over to `check` (Ok(None)), or
/// returns the failed report.
async fn prepare(
    stack: &ValidatedStack,
    db: &Database,
    store: &Arc<AnyStore>,
    live: &KubeRunner,
    args: &PodPaths,
) -> Result<Option<Report>, Failed> {
    let started_at = Utc::now();
    let id = new_id(started_at);
    let psql = |sql: &str| psql_argv(&db.user, &db.name, &[sql]);
    let markers = write_markers(live, &psql, stack, &id)
        .await
        .map_err(Failed::Before)?;
    let restore_started_at = Utc::now();
    let mut report = Report::begin(
        stack,
        &id,
        "kubernetes",
        started_at,
        markers.cut_at,
        markers.written,
    );
    let restored = async {
        let base = verified_base(store, stack, &Pick::Latest, "the drill pod").await?;
        let verified = since(restore_started_at);
        let wal_files = fill_dir(store.clone(), stack, &base, &args.data, &Pick::Latest).await?;
        let uploads = restore_uploads(store, stack, &args.state).await?;
        Ok::<_, DrillError>((base, verified, wal_files, uploads))
    }
    .await;
    match restored {
        Ok((base, verified, wal_files, uploads)) => {
            report.checks.extend(uploads);
            report.base_backup = Some(base.manifest.id.clone());
            report.wal_files = wal_files;
            report.steps = steps(&[
                ("backup verified", verified),
                ("data restored", since(restore_started_at)),
            ]);
            let handover = Handover {
                report,
                restore_started_at,
                base_finished: base.manifest.finished_at,
            };
            let json = serde_json::to_vec(&handover)
                .map_err(|e| Failed::Before(DrillError::Failed(e.to_string())))?;
            std::fs::write(&args.state, json).map_err(|e| {
                Failed::Before(DrillError::Failed(format!("{}: {e}", args.state.display())))
            })?;
            eprintln!(
                "drill {id}: restored into {}; the database sidecar replays next",
                args.data.display()
            );
            Ok(None)
        }
        Err(e) => {
            report.error = Some(format!("restore failed: {e}"));
            report.finished_at = Utc::now();
            report.judge();
            Err(Failed::Report(Box::new(report)))
        }
    }
}

/// The uploads of the newest files backup, unpacked beside the drill's state (the pod's
/// state volume) and checked against the backup's sha256 list; none when the CMS keeps no
/// uploads on a volume. A stack with uploads but no files backup fails the drill.
async fn restore_uploads(
    store: &AnyStore,
    stack: &ValidatedStack,
    state: &Path,
) -> Result<Vec<String>, DrillError> {
    if uploads::uploads_path(stack).is_none() {
        return Ok(Vec::new());
    }
    let Some(m) = uploads::pick_files(store, &stack.name, None).await? else {
        return Err(DrillError::Failed(format!(
            "the store holds no files backup of {}: its uploads could not be recovered",
            stack.name
        )));
    };
    let dir = state.with_file_name("uploads");
    std::fs::create_dir_all(&dir)
        .map_err(|e| DrillError::Failed(format!("{}: {e}", dir.display())))?;
    let found = uploads::fill_dir(store, stack, &m, &dir).await?;
    let n = uploads::compare(&m.files, &found).map_err(DrillError::Failed)?;
    Ok(vec![format!(
        "{n} uploaded file(s) restored from files backup {} match it by sha256",
        m.id
    )])
}

/// Waits for the sidecar's promotion (bounded by the RTO), runs the checks, measures.
async fn check(
    stack: &ValidatedStack,
    db: &Database,
    own: &KubeRunner,
    state: &Path,
) -> Result<Option<Report>, Failed> {
    let bytes = std::fs::read(state).map_err(|e| {
        Failed::Before(DrillError::Failed(format!(
            "{}: {e} (did the prepare step run?)",
            state.display()
        )))
    })?;
    let handover: Handover = serde_json::from_slice(&bytes)
        .map_err(|e| Failed::Before(DrillError::Failed(format!("{}: {e}", state.display()))))?;
    let Handover {
        mut report,
        restore_started_at,
        base_finished,
    } = handover;
    let psql = |sql: &str| psql_argv(&db.user, &db.name, &[sql]);
    let result = async {
        promoted(own, &psql, stack.recovery.rto).await?;
        report.steps.push(crate::drill::Step {
            name: "WAL replayed, promoted".into(),
            at_seconds: since(restore_started_at).as_secs_f64(),
        });
        let restored = checks(own, db).await?;
        report.steps.push(crate::drill::Step {
            name: "database checks passed".into(),
            at_seconds: since(restore_started_at).as_secs_f64(),
        });
        // The prepare step's checks (the uploads) come first.
        report.checks.extend(restored);
        Ok::<_, DrillError>(
            smoke_checks(own, &report.checks, base_finished, &psql, &report.id).await,
        )
    }
    .await;
    match result {
        Ok(smoke) => record(&mut report, since(restore_started_at), smoke),
        Err(e) => report.error = Some(e.to_string()),
    }
    report.finished_at = Utc::now();
    report.judge();
    if report.passed {
        Ok(Some(report))
    } else {
        Err(Failed::Report(Box::new(report)))
    }
}

fn since(t: DateTime<Utc>) -> Duration {
    (Utc::now() - t).to_std().unwrap_or_default()
}

/// Until the sidecar answers as a primary; it may not run yet, so failures are retried.
async fn promoted(
    own: &KubeRunner,
    psql: &dyn Fn(&str) -> Vec<String>,
    rto: Duration,
) -> Result<(), DrillError> {
    let deadline = tokio::time::Instant::now() + rto;
    loop {
        let last = match capture(own, "database", psql("SELECT pg_is_in_recovery()")).await {
            Ok(v) if v == "f" || v == "false" => return Ok(()),
            Ok(v) => format!("still in recovery ({v})"),
            Err(e) => e.to_string(),
        };
        if tokio::time::Instant::now() > deadline {
            return Err(DrillError::Failed(format!(
                "the restored database was not promoted within the RTO of {}s: {last}",
                rto.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
