//! The steps every drill shares, whatever runs the copy: marker rows and the cut in the
//! live database, the smoke checks in the copy, the measurements into the report, where the
//! report is kept, and the verdict.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::cut;
use super::marker::{self, Present};
use super::{DrillError, Report, Step};
use crate::api::validated::WalMode;
use crate::api::ValidatedStack;
use crate::protect::runner::{capture, Runner};

/// The drill's exit: the summary on success, a failure (exit 1) naming what was missed.
pub fn verdict(report: &Report) -> Result<(), DrillError> {
    if report.passed {
        eprintln!("{}", report.summary());
        Ok(())
    } else {
        Err(DrillError::Failed(report.summary()))
    }
}

pub(crate) struct Markers {
    pub written: u32,
    pub cut_at: DateTime<Utc>,
    /// The counted cut and the WAL file its commit is in, when the tables could be
    /// locked; else why not.
    pub counted: Result<(super::cut::Cut, String), String>,
}

/// How long the cut waits for writers to let go of a table before it is taken uncounted.
const CUT_PATIENCE: Duration = Duration::from_secs(5);

/// Warm-up markers a second apart, then the cut marker; its commit time is the cut.
pub(crate) async fn write_markers<R: Runner>(
    live: &R,
    psql: &dyn Fn(&str) -> Vec<String>,
    stack: &ValidatedStack,
    id: &str,
) -> Result<Markers, DrillError> {
    let fail = |e: crate::protect::ProtectError| {
        DrillError::Failed(format!(
            "the live database of {} does not take the drill's marker rows: {e}",
            stack.name
        ))
    };
    for sql in marker::prepare_sql(id)
        .into_iter()
        .chain(cut::prepare_sql())
    {
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
        capture(live, "database", psql(&marker::insert_sql(id, seq)))
            .await
            .map_err(fail)?;
        if Instant::now() >= until {
            seq += 1;
            return counted_cut(live, psql, id, seq).await;
        }
        tokio::time::sleep(Duration::from_secs(1).min(until - Instant::now())).await;
    }
}

/// The cut marker `seq`, counted when the tables can be locked within [`CUT_PATIENCE`],
/// else a plain marker; its commit time is the cut.
async fn counted_cut<R: Runner>(
    live: &R,
    psql: &dyn Fn(&str) -> Vec<String>,
    id: &str,
    seq: u32,
) -> Result<Markers, DrillError> {
    let fail = |e: crate::protect::ProtectError| {
        DrillError::Failed(format!("the drill's cut marker was not written: {e}"))
    };
    let until = Instant::now() + CUT_PATIENCE;
    let busy = loop {
        let out = capture(live, "database", psql(&cut::cut_sql(id, seq)))
            .await
            .map_err(fail)?;
        match cut::parse_cut(&out) {
            Ok(c) => {
                // The cut's WAL file, then a switch: once the store holds that file
                // complete, it holds the cut.
                let file = capture(live, "database", psql(cut::CUT_FILE_SQL))
                    .await
                    .map_err(fail)?;
                capture(live, "database", psql("SELECT pg_switch_wal()"))
                    .await
                    .map_err(fail)?;
                return Ok(Markers {
                    written: seq,
                    cut_at: c.at,
                    counted: Ok((c, file.trim().to_string())),
                });
            }
            Err(_) if Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(table) => break table,
        }
    };
    let out = capture(live, "database", psql(&marker::insert_sql(id, seq)))
        .await
        .map_err(fail)?;
    let cut_at = marker::parse_micros(&out).ok_or_else(|| {
        DrillError::Failed(format!("unexpected marker time {out:?} from the database"))
    })?;
    Ok(Markers {
        written: seq,
        cut_at,
        counted: Err(format!(
            "row counts not compared: a writer held {busy} for {}s",
            CUT_PATIENCE.as_secs()
        )),
    })
}

/// What the drill checks in the copy besides the restore's own checks: the copy answers,
/// and which of the source's transactions it holds.
pub(crate) async fn smoke_checks<R: Runner>(
    runner: &R,
    restored_checks: &[String],
    base_finished: DateTime<Utc>,
    psql: &dyn Fn(&str) -> Vec<String>,
    id: &str,
) -> Result<(Present, Vec<String>), DrillError> {
    let query = |sql: String| async move {
        capture(runner, "database", psql(&sql))
            .await
            .map_err(|e| DrillError::Failed(format!("smoke check failed: {e}")))
    };
    let out = query(marker::REPLAYED_SQL.into()).await?;
    let (replayed, table) = marker::parse_replayed(&out)
        .ok_or_else(|| DrillError::Failed(format!("unexpected replay status {out:?}")))?;
    let found = if table {
        let out = query(marker::found_sql(id)).await?;
        marker::parse_found(&out)
            .ok_or_else(|| DrillError::Failed(format!("unexpected marker query output {out:?}")))?
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
pub(crate) fn record(
    report: &mut Report,
    elapsed: Duration,
    smoke: Result<(Present, Vec<String>), DrillError>,
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
            // Restored to the cut, the copy lost nothing; what a host lost at the cut
            // would have lost is what had not reached the store yet. A copy of a chosen
            // earlier point says nothing about the data-loss window.
            report.rpo_seconds = report
                .cut_at
                .filter(|_| report.target.is_none())
                .map(|cut| {
                    let lost = marker::rpo(cut, &present).as_secs_f64();
                    report
                        .cut_shipped_after_seconds
                        .map_or(lost, |lag| lost.max(lag))
                });
            report.checks = checks;
        }
        Err(e) => report.error = Some(e.to_string()),
    }
    report.phases = super::timeline::phases(&report.steps);
}

pub(crate) fn steps(steps: &[(&str, Duration)]) -> Vec<Step> {
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
pub(crate) async fn keep_report(
    report: &Report,
    store: &crate::protect::target::AnyStore,
    state_dir: &Path,
) {
    save_to_store(report, store).await;
    let dir = reports_dir(state_dir, &report.stack);
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
        std::fs::write(dir.join(format!("{}.json", report.id)), json)?;
        std::fs::write(dir.join(format!("{}.svg", report.id)), report.svg())?;
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
pub(crate) async fn save_to_store(report: &Report, store: &crate::protect::target::AnyStore) {
    if let Err(e) = report.save(store).await {
        eprintln!("warning: could not write the drill report to the store: {e}");
    }
}

/// Where Docker mode keeps a stack's drill reports.
pub fn reports_dir(state_dir: &Path, stack: &str) -> PathBuf {
    state_dir.join("drills").join(stack)
}
