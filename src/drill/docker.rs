//! `appstack drill` (Docker mode): markers into the live database, the cut, a restore of
//! the latest recoverable state into the isolated stack `<stack>-drill` (own network and
//! volumes, nothing published), smoke checks, RTO and RPO measured and judged, the report
//! kept, the copy torn down. Exits 1, loudly, when an objective is missed.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use super::runbook::{keep_report, record, smoke_checks, steps, write_markers};
use super::{new_id, DrillError, Options, Report};
use crate::api::ValidatedStack;
use crate::docker::down::down;
use crate::docker::progress::Lines;
use crate::docker::BollardEngine;
use crate::plan::{self, Plan};
use crate::protect::backup::psql_argv;
use crate::protect::restore::{copy_spec, into_copy, stack_exists, verified_base, Pick};
use crate::protect::runner::DockerRunner;
use crate::secrets::SecretStore;

/// The copy a drill of `stack` restores into.
pub fn copy_name(stack: &str) -> String {
    format!("{stack}-drill")
}

/// Runs a drill of `stack` (loaded from `file`, named in hints) in Docker mode and returns
/// its report, kept in the store and the state directory; `opts.clean` only removes a copy
/// left behind (and returns None).
pub async fn run(
    stack: &ValidatedStack,
    file: &Path,
    opts: &Options,
    state_dir: &Path,
) -> Result<Option<Report>, DrillError> {
    let Some(db) = &stack.database else {
        return Err(DrillError::Invalid(
            "spec.database: not set; a drill restores the database".into(),
        ));
    };
    if stack.backup.is_none() {
        return Err(DrillError::Invalid(
            "spec.backup: not set; a drill restores from the stack's backups".into(),
        ));
    }
    let engine = BollardEngine::connect_default().await?;
    let copy_plan = Arc::new(plan::build(&copy_spec(stack, &copy_name(&stack.name))));
    if opts.clean {
        tear_down(&engine, &copy_plan, state_dir).await?;
        return Ok(None);
    }
    if stack_exists(&engine, &copy_plan.stack).await? {
        return Err(DrillError::Invalid(format!(
            "stack {} exists (a copy kept by --keep, or left by an interrupted drill): remove it with `appstack drill -f {} --clean`",
            copy_plan.stack,
            file.display()
        )));
    }
    let store = Arc::new(crate::protect::store::open_store(stack)?);
    let started_at = Utc::now();
    let id = new_id(started_at);
    let live = DockerRunner {
        engine: engine.clone(),
        stack: stack.name.clone(),
    };
    let psql = |sql: &str| psql_argv(&db.user, &db.name, &[sql]);

    eprintln!("drill {id}: writing markers into {}", stack.name);
    let markers = write_markers(&live, &psql, stack, &id).await?;
    let restore_started = Instant::now();
    let mut report = Report::begin(
        stack,
        &id,
        "docker",
        started_at,
        markers.cut_at,
        markers.written,
    );
    let into = copy_plan.stack.clone();
    let restored = async {
        let base = verified_base(&store, stack, &Pick::Latest, &into).await?;
        into_copy(
            stack,
            store.clone(),
            base,
            &into,
            &Pick::Latest,
            restore_started,
            state_dir,
        )
        .await
    }
    .await;
    match restored {
        Ok(r) => {
            report.base_backup = Some(r.base.clone());
            report.wal_files = r.wal_files;
            report.steps = steps(&r.steps);
            let mut checks = r.checks.clone();
            checks.push(format!(
                "every component of the copy is healthy ({} probed by its healthcheck)",
                r.runner.stack
            ));
            report.checks = checks.clone();
            let smoke = smoke_checks(&r.runner, &checks, r.base_finished, &psql, &id).await;
            record(&mut report, restore_started.elapsed(), smoke);
            if !opts.keep {
                tear_down(&engine, &copy_plan, state_dir).await?;
            } else {
                eprintln!("the copy {into} stays up (--keep); remove it with `appstack drill -f {} --clean`", file.display());
            }
        }
        Err(e) => report.error = Some(format!("restore failed: {e}")),
    }
    report.finished_at = Utc::now();
    report.judge();
    keep_report(&report, store.as_ref(), state_dir).await;
    Ok(Some(report))
}

async fn tear_down(
    engine: &Arc<BollardEngine>,
    plan: &Plan,
    state_dir: &Path,
) -> Result<(), DrillError> {
    let removed = down(engine.as_ref(), plan, true, &Lines::new()).await?;
    SecretStore::new(state_dir, &plan.stack).remove_all()?;
    eprintln!(
        "drill copy {} removed ({removed} container(s), its volumes and secrets)",
        plan.stack
    );
    Ok(())
}
