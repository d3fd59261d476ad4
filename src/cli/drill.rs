//! `appstack drill` (Docker mode): markers into the live database, the cut, a restore of
//! the latest recoverable state into the isolated stack `<stack>-drill` (own network and
//! volumes, nothing published), smoke checks, RTO and RPO measured and judged, the report
//! kept, the copy torn down. Exits 1, loudly, when an objective is missed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::common::{connect, load};

use super::restore::{copy_spec, into_copy, stack_exists, verified_base};
use super::CliError;
use crate::api::validated::WalMode;
use crate::api::ValidatedStack;
use crate::docker::apply::down;
use crate::docker::progress::Lines;
use crate::docker::BollardEngine;
use crate::drill::marker::{self, Present};
use crate::drill::{new_id, Report, Step};
use crate::plan::{self, Plan};
use crate::protect::backup::psql_argv;
use crate::protect::restore::Pick;
use crate::protect::runner::{capture, DockerRunner, Runner};
use crate::secrets::SecretStore;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: super::source::Source,
    /// Kubernetes mode: the step of the drill pod this container runs (`prepare` writes
    /// the markers and restores into the pod's data volume, `check` checks the database
    /// sidecar and reports). The drill CronJob's pod runs both; `--stack` names the stack.
    #[arg(long, value_enum, requires = "stack")]
    pub step: Option<super::drill_kube::KubeStep>,
    /// Kubernetes mode: the database's data directory in the drill pod.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/postgresql/data")]
    pub data: PathBuf,
    /// Kubernetes mode: the file the two steps share (the pod's state volume).
    #[arg(long, value_name = "FILE", default_value = "/drill/state.json")]
    pub state: PathBuf,
    /// Leave the restored copy `<stack>-drill` running to inspect it (remove it later with
    /// `--clean`); by default it is removed, volumes included, when the drill ends.
    #[arg(long)]
    pub keep: bool,
    /// Only remove a copy left by an earlier `--keep` or interrupted drill.
    #[arg(long, conflicts_with = "keep")]
    pub clean: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The copy a drill of `stack` restores into.
pub fn copy_name(stack: &str) -> String {
    format!("{stack}-drill")
}

pub async fn run(args: Args, state_dir: &Path) -> Result<(), CliError> {
    let Some(file) = args.source.file.clone() else {
        let step = args.step.ok_or_else(|| {
            CliError::Invalid("--stack: the drill in a cluster runs as the drill CronJob's pod (--step prepare|check)".into())
        })?;
        return super::drill_kube::run(&args, step).await;
    };
    let (stack, _) = load(&file)?;
    let Some(db) = &stack.database else {
        return Err(CliError::Invalid(
            "spec.database: not set; a drill restores the database".into(),
        ));
    };
    if stack.backup.is_none() {
        return Err(CliError::Invalid(
            "spec.backup: not set; a drill restores from the stack's backups".into(),
        ));
    }
    let engine = connect().await?;
    let copy_plan = Arc::new(plan::build(&copy_spec(&stack, &copy_name(&stack.name))));
    if args.clean {
        return tear_down(&engine, &copy_plan, state_dir).await;
    }
    if stack_exists(&engine, &copy_plan.stack).await? {
        return Err(CliError::Invalid(format!(
            "stack {} exists (a copy kept by --keep, or left by an interrupted drill): remove it with `appstack drill -f {} --clean`",
            copy_plan.stack,
            file.display()
        )));
    }
    let store = Arc::new(crate::protect::store::open_store(&stack)?);
    let started_at = Utc::now();
    let id = new_id(started_at);
    let live = DockerRunner {
        engine: engine.clone(),
        stack: stack.name.clone(),
    };
    let psql = |sql: &str| psql_argv(&db.user, &db.name, &[sql]);

    eprintln!("drill {id}: writing markers into {}", stack.name);
    let markers = write_markers(&live, &psql, &stack, &id).await?;
    let restore_started = Instant::now();
    let mut report = Report::begin(
        &stack,
        &id,
        "docker",
        started_at,
        markers.cut_at,
        markers.written,
    );
    let into = copy_plan.stack.clone();
    let restored = async {
        let base = verified_base(&store, &stack, &Pick::Latest, &into).await?;
        into_copy(
            &stack,
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
            if !args.keep {
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
    if args.json {
        let json =
            serde_json::to_string_pretty(&report).map_err(|e| CliError::Runtime(e.to_string()))?;
        println!("{json}");
    } else {
        eprint!("{}", report.to_markdown());
    }
    verdict(&report)
}

/// The drill's exit: the summary on success, a failure (exit 1) naming what was missed.
pub(super) fn verdict(report: &Report) -> Result<(), CliError> {
    if report.passed {
        eprintln!("{}", report.summary());
        Ok(())
    } else {
        Err(CliError::Runtime(report.summary()))
    }
}

pub(super) struct Markers {
    pub written: u32,
    pub cut_at: DateTime<Utc>,
}

/// Warm-up markers a second apart, then the cut marker; its commit time is the cut.
pub(super) async fn write_markers<R: Runner>(
    live: &R,
    psql: &dyn Fn(&str) -> Vec<String>,
    stack: &ValidatedStack,
    id: &str,
) -> Result<Markers, CliError> {
    let fail = |e: crate::protect::ProtectError| {
        CliError::Runtime(format!(
            "the live database of {} does not take the drill's marker rows: {e}",
            stack.name
        ))
    };
    for sql in marker::prepare_sql(id) {
        capture(live, "database", psql(&sql)).await.map_err(fail)?;
    }
    let ship = stack
        .backup
        .as_ref()
        .and_then(|b| b.wal.as_ref())
        .filter(|w| w.mode == WalMode::Stream)
        .map(|w| w.ship_interval);
    let warm_up = marker::warm_up(ship);
    let until = Instant::now() + warm_up;
    let mut seq = 0;
    loop {
        seq += 1;
        let out = capture(live, "database", psql(&marker::insert_sql(id, seq)))
            .await
            .map_err(fail)?;
        if Instant::now() >= until {
            let cut_at = marker::parse_micros(&out).ok_or_else(|| {
                CliError::Runtime(format!("unexpected marker time {out:?} from the database"))
            })?;
            return Ok(Markers {
                written: seq,
                cut_at,
            });
        }
        tokio::time::sleep(Duration::from_secs(1).min(until - Instant::now())).await;
    }
}

/// What the drill checks in the copy besides the restore's own checks: the copy answers,
/// and which of the source's transactions it holds.
pub(super) async fn smoke_checks<R: Runner>(
    runner: &R,
    restored_checks: &[String],
    base_finished: DateTime<Utc>,
    psql: &dyn Fn(&str) -> Vec<String>,
    id: &str,
) -> Result<(Present, Vec<String>), CliError> {
    let query = |sql: String| async move {
        capture(runner, "database", psql(&sql))
            .await
            .map_err(|e| CliError::Runtime(format!("smoke check failed: {e}")))
    };
    let out = query(marker::REPLAYED_SQL.into()).await?;
    let (replayed, table) = marker::parse_replayed(&out)
        .ok_or_else(|| CliError::Runtime(format!("unexpected replay status {out:?}")))?;
    let found = if table {
        let out = query(marker::found_sql(id)).await?;
        marker::parse_found(&out)
            .ok_or_else(|| CliError::Runtime(format!("unexpected marker query output {out:?}")))?
    } else {
        None
    };
    let mut checks = restored_checks.to_vec();
    checks.push(match found {
        Some((seq, _)) => format!("marker #{seq} of this drill is in the copy"),
        None => "no marker of this drill reached the copy".into(),
    });
    let present = Present {
        replayed,
        marker: found,
        base_finished,
    };
    Ok((present, checks))
}

/// Fills the report from the smoke checks; RTO ends when they passed.
pub(super) fn record(
    report: &mut Report,
    elapsed: Duration,
    smoke: Result<(Present, Vec<String>), CliError>,
) {
    match smoke {
        Ok((present, checks)) => {
            report.steps.push(Step {
                name: "smoke checks passed".into(),
                at_seconds: elapsed.as_secs_f64(),
            });
            report.rto_seconds = Some(elapsed.as_secs_f64());
            report.marker_found = present.marker.map(|(seq, _)| seq);
            report.restored_newest_at = Some(present.newest());
            report.rpo_seconds = report
                .cut_at
                .map(|cut| marker::rpo(cut, &present).as_secs_f64());
            report.checks = checks;
        }
        Err(e) => report.error = Some(e.to_string()),
    }
}

pub(super) fn steps(steps: &[(&str, Duration)]) -> Vec<Step> {
    steps
        .iter()
        .map(|(name, at)| Step {
            name: (*name).into(),
            at_seconds: at.as_secs_f64(),
        })
        .collect()
}

/// The report goes to the store and the state directory; failing to keep it is reported
/// but does not hide the drill's verdict.
async fn keep_report(report: &Report, store: &crate::protect::target::AnyStore, state_dir: &Path) {
    save_to_store(report, store).await;
    let dir = reports_dir(state_dir, &report.stack);
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
        std::fs::write(dir.join(format!("{}.json", report.id)), json)?;
        std::fs::write(dir.join(format!("{}.md", report.id)), report.to_markdown())
    });
    match written {
        Ok(()) => eprintln!(
            "report: {}",
            dir.join(format!("{}.md", report.id)).display()
        ),
        Err(e) => eprintln!(
            "warning: could not write the drill report to {}: {e}",
            dir.display()
        ),
    }
}

/// Writes the report into the store; a failure is reported, the verdict stands.
pub(super) async fn save_to_store(report: &Report, store: &crate::protect::target::AnyStore) {
    if let Err(e) = report.save(store).await {
        eprintln!("warning: could not write the drill report to the store: {e}");
    }
}

/// Where Docker mode keeps a stack's drill reports.
pub fn reports_dir(state_dir: &Path, stack: &str) -> PathBuf {
    state_dir.join("drills").join(stack)
}

async fn tear_down(
    engine: &Arc<BollardEngine>,
    plan: &Plan,
    state_dir: &Path,
) -> Result<(), CliError> {
    let removed = down(engine.as_ref(), plan, true, &Lines::new()).await?;
    SecretStore::new(state_dir, &plan.stack).remove_all()?;
    eprintln!(
        "drill copy {} removed ({removed} container(s), its volumes and secrets)",
        plan.stack
    );
    Ok(())
}
