//! `appstack drill` (Docker mode): markers into the live database, the cut, a restore of
//! the latest recoverable state into the isolated stack `<stack>-drill` (own network and
//! volumes, nothing published) from nothing but the store and the key — the manifest and
//! secrets from the stack record, a fresh secrets directory, no live volume or state —
//! the smoke checks a user makes after a disaster, RTO and RPO measured and judged, the
//! report kept, the copy torn down. Exits 1, loudly, when an objective is missed or
//! anything a lost host needs is not in the store.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::runbook::{keep_report, record, smoke_checks, steps, write_markers};
use super::{cut, fault, random_point};
use super::{new_id, DrillError, Options, Report};
use crate::api::validated::WalMode;
use crate::api::ValidatedStack;
use crate::docker::down::down;
use crate::docker::progress::Lines;
use crate::docker::BollardEngine;
use crate::plan::{self, Plan};
use crate::protect::backup::psql_argv;
use crate::protect::damaged::DamagedStore;
use crate::protect::restore::{
    copy_spec, into_copy, stack_exists, uploads, verified_base, IntoCopy, Pick, Restored,
};
use crate::protect::runner::{capture, DockerRunner};
use crate::protect::stack_record;
use crate::protect::target::AnyStore;
use crate::protect::wal_cover::covers;
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
    // With an injected fault the drill reads a damaged view; reports go to the store.
    let view = match opts.fault {
        Some(f) => Arc::new(AnyStore::Damaged(DamagedStore::new(
            (*store).clone(),
            fault::damage(&store, &stack.name, f).await?,
        ))),
        None => store.clone(),
    };
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
    report.fault = opts.fault.map(|f| f.name().to_string());
    // Restored to exactly the counted cut once the store holds it; else to the latest;
    // or, asked for, to a random point of the recoverability window.
    let pick = if opts.to_random {
        let t = random_point::choose(&view, &live, db, &stack.name, markers.cut_at).await?;
        let t = random_point::settle(&live, db, t).await;
        report.target = Some(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true) + " (random)");
        Pick::Time(t)
    } else {
        match &markers.counted {
            Ok((cut, file)) => {
                match wait_for_cut(stack, &view, &live, file, markers.cut_at).await {
                    Some(lag) => {
                        report.cut_shipped_after_seconds = Some(lag.as_secs_f64());
                        Pick::Xid {
                            xid: cut.xid,
                            at: cut.at,
                        }
                    }
                    None => {
                        report.notes.push("the store did not hold the cut in time: restored to the latest shipped WAL, row counts not compared".into());
                        Pick::Latest
                    }
                }
            }
            Err(why) => {
                report.notes.push(why.clone());
                Pick::Latest
            }
        }
    };
    let into = copy_plan.stack.clone();
    // The copy starts from nothing but the store and the key: an empty secrets directory.
    SecretStore::new(state_dir, &into).remove_all()?;
    match restore_from_store(stack, view, &into, &pick, restore_started, state_dir).await {
        Ok((r, spec)) => {
            report.base_backup = Some(r.base.clone());
            report.wal_files = r.wal_files;
            report.steps = steps(&r.steps);
            let mut checks = r.checks.clone();
            checks.push(format!(
                "every component of the copy is healthy ({} probed by its healthcheck)",
                r.runner.stack
            ));
            let smoke = async {
                let (present, mut checks) =
                    smoke_checks(&r.runner, &checks, r.base_finished, &psql, &id).await?;
                if let Pick::Time(t) = pick {
                    checks.push(random_point::check(&r.runner, &live, db, t).await?);
                } else if present.marker.is_none() && streams_wal(stack) {
                    return Err(DrillError::Failed("no marker of this drill reached the copy: the WAL written during the drill is not in the store".into()));
                }
                if matches!(pick, Pick::Xid { .. }) {
                    let out = capture(&r.runner, "database", psql(&cut::compare_sql(&id)))
                        .await
                        .map_err(|e| DrillError::Failed(format!("row counts: {e}")))?;
                    checks.push(cut::judge_counts(&out).map_err(DrillError::Failed)?);
                }
                let plan = plan::build(&copy_spec(&spec, &into));
                checks.extend(super::recover::smoke_checks(&r, &spec, &plan).await?);
                Ok((present, checks))
            }
            .await;
            record(&mut report, restore_started.elapsed(), smoke);
            if !opts.keep {
                tear_down(&engine, &copy_plan, state_dir).await?;
            } else {
                eprintln!("the copy {into} stays up (--keep); remove it with `appstack drill -f {} --clean`", file.display());
            }
        }
        Err(e) => report.error = Some(format!("restore failed: {e}")),
    }
    if let (Some(f), Some(e)) = (opts.fault, report.error.as_mut()) {
        *e = format!("injected fault {}: {e}", f.name());
    }
    report.finished_at = Utc::now();
    report.judge();
    keep_report(&report, store.as_ref(), state_dir).await;
    Ok(Some(report))
}

/// Waits (at most four shipping periods, 5 to 60 s) until the store holds the source's
/// WAL through the cut's commit; how long after the cut it did, or None.
async fn wait_for_cut(
    stack: &ValidatedStack,
    store: &AnyStore,
    live: &DockerRunner<BollardEngine>,
    file: &str,
    cut_at: chrono::DateTime<Utc>,
) -> Option<Duration> {
    let db = stack.database.as_ref()?;
    let system = crate::protect::backup::system_identifier(live, &db.user, &db.name).await;
    let ship = stack
        .backup
        .as_ref()
        .and_then(|b| b.wal.as_ref())
        .map_or(Duration::from_secs(5), |w| w.ship_interval);
    let deadline =
        Instant::now() + (ship * 4).clamp(Duration::from_secs(5), Duration::from_secs(60));
    loop {
        if let Ok(true) = covers(store, &stack.name, system, file).await {
            return (Utc::now() - cut_at).to_std().ok();
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Whether WAL streams (markers then reach the store within the drill's warm-up).
fn streams_wal(stack: &ValidatedStack) -> bool {
    stack
        .backup
        .as_ref()
        .and_then(|b| b.wal.as_ref())
        .is_some_and(|w| w.mode == WalMode::Stream)
}

/// Restores the latest recoverable state into `into` from `store` alone: the manifest
/// and the secrets come from the stack record, the database from the base backup and
/// the WAL, the uploads from the files backup. Whatever a lost host would miss fails it.
async fn restore_from_store(
    stack: &ValidatedStack,
    store: Arc<AnyStore>,
    into: &str,
    pick: &Pick,
    started: Instant,
    state_dir: &Path,
) -> Result<(Restored, ValidatedStack), DrillError> {
    let key = crate::protect::store::spec_key(stack)?;
    let record = stack_record::newest(store.as_ref(), &stack.name, key.as_ref(), None)
        .await?
        .ok_or_else(|| DrillError::Failed(format!("the store holds no record of stack {} (its manifest as applied and sealed secrets): a lost host could not be rebuilt from it; `appstack up` or `appstack backup now` keeps one", stack.name)))?;
    if key.is_some() && record.secrets.is_empty() {
        return Err(DrillError::Failed(format!("the stack record of {} holds no sealed secrets although a backup key is set: a lost host would come back with new credentials", stack.name)));
    }
    let spec = super::recover::parse_record(&record, &stack.name)?;
    let base = verified_base(&store, &spec, pick, into).await?;
    if let Some(gap) = &base.gap {
        return Err(DrillError::Failed(format!(
            "the WAL after base backup {} is broken ({gap}): the latest state is not recoverable",
            base.manifest.id
        )));
    }
    if uploads::uploads_path(&spec).is_some()
        && uploads::pick_files(&store, &spec.name, None)
            .await?
            .is_none()
    {
        return Err(DrillError::Failed(format!(
            "the store holds no files backup of {}: its uploads could not be recovered",
            spec.name
        )));
    }
    let restored = into_copy(IntoCopy {
        stack: &spec,
        store,
        base,
        into,
        pick,
        started,
        state_dir,
        record: Some(&record),
        rebuild: false,
    })
    .await?;
    Ok((restored, spec))
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
