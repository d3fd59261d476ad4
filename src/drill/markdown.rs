//! The drill report for people: the objectives and the measured figures, the restored
//! point, the phases (with the SVG timeline linked), the steps as a text timeline, the
//! smoke checks and, when it failed, why.

use chrono::{DateTime, SecondsFormat, Utc};

use super::report::{secs, Report, Step};

impl Report {
    pub fn to_markdown(&self) -> String {
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        let figure = |v: Option<f64>| v.map_or_else(|| "—".into(), secs);
        let mark = |v: Option<f64>, o: f64| match v {
            Some(v) if v <= o => "✅",
            Some(_) => "❌",
            None => "—",
        };
        let mut md = format!(
            "# DR drill {} of stack `{}` — {}\n\n",
            self.id,
            self.stack,
            if self.passed { "PASSED" } else { "FAILED" }
        );
        md.push_str(&format!(
            "Mode: {}. Started {}, finished {}.\n\n",
            self.mode,
            time(&self.started_at),
            time(&self.finished_at)
        ));
        md.push_str("| objective | target | measured | |\n|---|---|---|---|\n");
        md.push_str(&format!(
            "| RTO (restore start → smoke checks pass) | {} | {} | {} |\n",
            secs(self.rto_objective_seconds),
            figure(self.rto_seconds),
            mark(self.rto_seconds, self.rto_objective_seconds)
        ));
        md.push_str(&format!(
            "| RPO (newest source commit at the cut − newest commit in the copy) | {} | {} | {} |\n\n",
            secs(self.rpo_objective_seconds),
            figure(self.rpo_seconds),
            mark(self.rpo_seconds, self.rpo_objective_seconds)
        ));
        md.push_str(&format!(
            "Restored: {} and {} WAL file(s). Markers written before the cut: {}; newest found in the copy: {}.\n",
            self.base_backup.as_deref().unwrap_or("—"),
            self.wal_files,
            self.markers_written,
            self.marker_found
                .map_or_else(|| "none".into(), |m| format!("#{m}")),
        ));
        if let (Some(cut), Some(newest)) = (&self.cut_at, &self.restored_newest_at) {
            md.push_str(&format!(
                "Cut marker committed at {}; newest commit in the copy {}.\n",
                time(cut),
                time(newest)
            ));
        }
        if !self.phases.is_empty() {
            md.push_str("\n## Recovery time by phase\n\n");
            md.push_str(&format!("![timeline]({}.svg)\n\n", self.id));
            md.push_str("| phase | from | to | took |\n|---|---|---|---|\n");
            for p in &self.phases {
                md.push_str(&format!(
                    "| {} | {:.1}s | {:.1}s | {:.1}s |\n",
                    p.name,
                    p.from_seconds,
                    p.to_seconds,
                    p.to_seconds - p.from_seconds
                ));
            }
        }
        if let Some(t) = &self.target {
            md.push_str(&format!("Restored to {t}.\n"));
        }
        if let Some(lag) = self.cut_shipped_after_seconds {
            md.push_str(&format!(
                "The store held the WAL through the cut {lag:.1}s after it committed (the RPO: a host lost at the cut loses what had not reached the store); the copy was restored to exactly the cut.\n"
            ));
        }
        for n in &self.notes {
            md.push_str(&format!("\nNote: {n}.\n"));
        }
        md.push_str("\n## Timeline\n\n```\n");
        md.push_str(&timeline(&self.steps));
        md.push_str("```\n");
        if !self.checks.is_empty() {
            md.push_str("\n## Smoke checks\n\n");
            for c in &self.checks {
                md.push_str(&format!("- {c}\n"));
            }
        }
        if !self.breaches.is_empty() || self.error.is_some() {
            md.push_str("\n## Why it failed\n\n");
            for b in self.breaches.iter().chain(self.error.iter()) {
                md.push_str(&format!("- {b}\n"));
            }
        }
        md
    }
}

/// The steps as bars on one time axis, 40 columns for the whole drill.
fn timeline(steps: &[Step]) -> String {
    const WIDTH: f64 = 40.0;
    let end = steps.iter().map(|s| s.at_seconds).fold(0.0, f64::max);
    let name_width = steps.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    let mut previous = 0.0;
    for s in steps {
        let from = if end > 0.0 {
            previous / end * WIDTH
        } else {
            0.0
        };
        let to = if end > 0.0 {
            s.at_seconds / end * WIDTH
        } else {
            0.0
        };
        let (from, to) = (from.round() as usize, (to.round() as usize).max(1));
        let bar = format!(
            "{}{}",
            " ".repeat(from),
            "█".repeat(to.saturating_sub(from).max(1))
        );
        out.push_str(&format!(
            "{:<name_width$}  {bar:<w$}  {:>7.1}s\n",
            s.name,
            s.at_seconds,
            w = WIDTH as usize + 1
        ));
        previous = s.at_seconds;
    }
    out
}
