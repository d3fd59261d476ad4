//! The drill's report: what was restored, each step's time, the measured RTO and RPO
//! against the objectives, and the verdict. Kept as JSON (for machines: status, metrics)
//! and Markdown (for people, with a timeline picture), in the store next to the backups
//! and, in Docker mode, in the state directory.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::protect::manifest::read_all;
use crate::protect::{ObjectStore, ProtectError};

/// One step of the drill, as seconds since the restore started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub name: String,
    pub at_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub id: String,
    pub stack: String,
    /// `docker` or `kubernetes`.
    pub mode: String,
    pub started_at: DateTime<Utc>,
    /// Commit time of the cut marker: the source's newest transaction at the drill.
    pub cut_at: Option<DateTime<Utc>>,
    pub finished_at: DateTime<Utc>,
    pub rto_objective_seconds: f64,
    pub rpo_objective_seconds: f64,
    /// From the start of the restore to the copy passing its smoke checks.
    pub rto_seconds: Option<f64>,
    /// The cut marker's time minus the newest transaction present in the copy.
    pub rpo_seconds: Option<f64>,
    /// The base backup restored.
    pub base_backup: Option<String>,
    pub wal_files: usize,
    /// Markers written before the cut (warm-up and cut marker).
    pub markers_written: u32,
    /// The newest marker found in the copy (the cut marker's number means nothing lost).
    pub marker_found: Option<u32>,
    /// Commit time of the newest transaction present in the copy.
    pub restored_newest_at: Option<DateTime<Utc>>,
    pub steps: Vec<Step>,
    /// The recovery time by phase (fetch, fill, replay, boot, checks).
    #[serde(default)]
    pub phases: Vec<super::timeline::Phase>,
    /// How long after the cut the store held the WAL through it (the data a host lost at
    /// the cut would have lost is what was not shipped by then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_shipped_after_seconds: Option<f64>,
    /// The point restored to when not the latest (`--to random`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// What the drill could not do as asked, and why (e.g. row counts not compared).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The fault injected into what the drill read (`--inject-fault`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// What the smoke checks proved.
    pub checks: Vec<String>,
    /// Objectives missed, in words.
    pub breaches: Vec<String>,
    /// Why the drill could not finish, when it could not.
    pub error: Option<String>,
    pub passed: bool,
}

impl Report {
    /// A drill's report as of its cut: objectives from the spec, nothing measured yet.
    pub fn begin(
        stack: &crate::api::ValidatedStack,
        id: &str,
        mode: &str,
        started_at: DateTime<Utc>,
        cut_at: DateTime<Utc>,
        markers_written: u32,
    ) -> Self {
        Self {
            id: id.to_string(),
            stack: stack.name.clone(),
            mode: mode.to_string(),
            started_at,
            cut_at: Some(cut_at),
            finished_at: started_at,
            rto_objective_seconds: stack.recovery.rto.as_secs_f64(),
            rpo_objective_seconds: stack.recovery.rpo.as_secs_f64(),
            rto_seconds: None,
            rpo_seconds: None,
            base_backup: None,
            wal_files: 0,
            markers_written,
            marker_found: None,
            restored_newest_at: None,
            steps: Vec::new(),
            phases: Vec::new(),
            cut_shipped_after_seconds: None,
            target: None,
            notes: Vec::new(),
            fault: None,
            checks: Vec::new(),
            breaches: Vec::new(),
            error: None,
            passed: false,
        }
    }

    /// Judges the measured values against the objectives: passed only when the drill
    /// finished and both were measured within them.
    pub fn judge(&mut self) {
        let mut breaches = Vec::new();
        let over = |what: &str, v: Option<f64>, objective: f64| match v {
            Some(v) if v > objective => Some(format!(
                "{what} {} exceeds the objective of {}",
                secs(v),
                secs(objective)
            )),
            _ => None,
        };
        breaches.extend(over("RTO", self.rto_seconds, self.rto_objective_seconds));
        breaches.extend(over("RPO", self.rpo_seconds, self.rpo_objective_seconds));
        // A drill to a chosen point proves that point, not the data-loss window.
        self.passed = self.error.is_none()
            && breaches.is_empty()
            && self.rto_seconds.is_some()
            && (self.rpo_seconds.is_some() || self.target.is_some());
        self.breaches = breaches;
    }

    /// One line for logs and the status: the verdict and the figures.
    pub fn summary(&self) -> String {
        let figure = |v: Option<f64>| v.map_or_else(|| "not measured".into(), secs);
        let verdict = if self.passed { "passed" } else { "FAILED" };
        let mut s = format!(
            "drill {} {verdict}: RTO {} (objective {}), RPO {} (objective {})",
            self.id,
            figure(self.rto_seconds),
            secs(self.rto_objective_seconds),
            figure(self.rpo_seconds),
            secs(self.rpo_objective_seconds),
        );
        for b in &self.breaches {
            s.push_str("; ");
            s.push_str(b);
        }
        if let Some(e) = &self.error {
            s.push_str("; ");
            s.push_str(e);
        }
        s
    }

    /// The verdict as the stack's status carries it.
    pub fn result(&self) -> crate::api::status::DrillResult {
        let figure = |v: Option<f64>| v.map(|v| format!("{v:.1}s"));
        crate::api::status::DrillResult {
            id: self.id.clone(),
            finished_at: self.finished_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            passed: self.passed,
            rto: figure(self.rto_seconds),
            rpo: figure(self.rpo_seconds),
            message: self.summary(),
        }
    }

    /// Store key of the report (`json` or `md`).
    pub fn key(stack: &str, id: &str, ext: &str) -> String {
        format!("{}{id}.{ext}", prefix(stack))
    }

    /// Writes the JSON and the Markdown into the store.
    pub async fn save<S: ObjectStore>(&self, store: &S) -> Result<(), ProtectError> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| ProtectError::Manifest {
            key: Self::key(&self.stack, &self.id, "json"),
            message: e.to_string(),
        })?;
        for (ext, body) in [
            ("svg", self.svg().into_bytes()),
            ("md", self.to_markdown().into_bytes()),
            ("json", json),
        ] {
            let (tx, rx) = mpsc::channel(1);
            let _ = tx.send(Bytes::from(body)).await;
            drop(tx);
            store
                .put(&Self::key(&self.stack, &self.id, ext), rx)
                .await?;
        }
        Ok(())
    }

    /// The timeline picture the Markdown links.
    pub fn svg(&self) -> String {
        super::timeline::svg(
            &format!(
                "DR drill {} of {}: RTO {}",
                self.id,
                self.stack,
                self.rto_seconds.map_or_else(|| "not measured".into(), secs)
            ),
            &self.phases,
        )
    }

    /// Every drill report of `stack` in the store, oldest first.
    pub async fn history<S: ObjectStore>(
        store: &S,
        stack: &str,
    ) -> Result<Vec<Report>, ProtectError> {
        let mut out = Vec::new();
        for o in store.list(&prefix(stack)).await? {
            if !o.key.ends_with(".json") {
                continue;
            }
            let bytes = read_all(store, &o.key).await?;
            let r: Report = serde_json::from_slice(&bytes).map_err(|e| ProtectError::Manifest {
                key: o.key.clone(),
                message: e.to_string(),
            })?;
            out.push(r);
        }
        Ok(out)
    }

    /// The newest drill report of `stack` in the store.
    pub async fn latest<S: ObjectStore>(
        store: &S,
        stack: &str,
    ) -> Result<Option<Report>, ProtectError> {
        let listed = store.list(&prefix(stack)).await?;
        let Some(newest) = listed.iter().rev().find(|o| o.key.ends_with(".json")) else {
            return Ok(None);
        };
        let bytes = read_all(store, &newest.key).await?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ProtectError::Manifest {
                key: newest.key.clone(),
                message: e.to_string(),
            })
    }
}

fn prefix(stack: &str) -> String {
    format!("{stack}/drills/")
}

pub(super) fn secs(v: f64) -> String {
    if v >= 120.0 {
        crate::api::quantity::format_duration(Duration::from_secs_f64(v))
    } else {
        format!("{v:.1}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protect::FsStore;

    fn report() -> Report {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        Report {
            id: "drill-20261124T100000.000Z".into(),
            stack: "crm".into(),
            mode: "docker".into(),
            started_at: t("2026-11-24T10:00:00Z"),
            cut_at: Some(t("2026-11-24T10:00:05Z")),
            finished_at: t("2026-11-24T10:00:40Z"),
            rto_objective_seconds: 3600.0,
            rpo_objective_seconds: 900.0,
            rto_seconds: Some(31.5),
            rpo_seconds: Some(1.2),
            base_backup: Some("base-20261124T020000.000Z".into()),
            wal_files: 4,
            markers_written: 5,
            marker_found: Some(4),
            restored_newest_at: Some(t("2026-11-24T10:00:03.800Z")),
            steps: vec![
                Step {
                    name: "data restored".into(),
                    at_seconds: 8.0,
                },
                Step {
                    name: "smoke checks passed".into(),
                    at_seconds: 31.5,
                },
            ],
            phases: vec![],
            cut_shipped_after_seconds: None,
            target: None,
            notes: vec![],
            fault: None,
            checks: vec!["PostGIS 3.3 works".into()],
            breaches: vec![],
            error: None,
            passed: false,
        }
    }

    #[test]
    fn within_objectives_passes_and_a_breach_or_error_fails() {
        let mut r = report();
        r.judge();
        assert!(r.passed, "{}", r.summary());
        r.rpo_objective_seconds = 1.0;
        r.judge();
        assert!(!r.passed);
        assert_eq!(r.breaches, vec!["RPO 1.2s exceeds the objective of 1.0s"]);
        assert!(r.summary().contains("FAILED"));
        let mut r = report();
        r.error = Some("component cms never became healthy".into());
        r.rto_seconds = None;
        r.judge();
        assert!(!r.passed);
        assert!(r.to_markdown().contains("never became healthy"));
    }

    #[test]
    fn markdown_shows_objectives_and_a_timeline() {
        let mut r = report();
        r.judge();
        let md = r.to_markdown();
        assert!(md.contains("PASSED"), "{md}");
        assert!(md.contains("| 1h | 31.5s | ✅ |"), "{md}");
        assert!(md.contains("data restored"), "{md}");
        assert!(md.contains("█"), "{md}");
        assert!(md.contains("newest found in the copy: #4"), "{md}");
        // With phases: a table and the SVG picture it links, which parses as XML with one
        // bar per phase.
        r.phases = crate::drill::timeline::phases(&r.steps);
        let md = r.to_markdown();
        assert!(
            md.contains("![timeline](drill-20261124T100000.000Z.svg)"),
            "{md}"
        );
        assert!(md.contains("| fill | 0.0s | 8.0s | 8.0s |"), "{md}");
        let svg = r.svg();
        let doc = roxmltree::Document::parse(&svg).expect("the timeline is well-formed XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let bars = doc.descendants().filter(|n| n.has_tag_name("rect")).count();
        assert_eq!(bars, r.phases.len());
        assert_eq!(r.phases.len(), 2);
    }

    #[tokio::test]
    async fn the_newest_report_is_read_back_from_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path());
        assert_eq!(Report::latest(&store, "crm").await.unwrap(), None);
        let mut older = report();
        older.id = "drill-20261123T100000.000Z".into();
        older.save(&store).await.unwrap();
        let newer = report();
        newer.save(&store).await.unwrap();
        assert_eq!(Report::latest(&store, "crm").await.unwrap(), Some(newer));
        assert!(dir
            .path()
            .join("crm/drills/drill-20261124T100000.000Z.md")
            .exists());
    }
}
