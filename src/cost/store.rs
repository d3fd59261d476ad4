//! The backup store's size now and over the retention window, measured from the store
//! when it answers, else estimated from the database volume (and said so).

use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use crate::api::ValidatedStack;
use crate::protect::store::ObjectStore;

const GIB: f64 = (1u64 << 30) as f64;
/// A store that does not list within this long is estimated instead.
const MEASURE_TIMEOUT: Duration = Duration::from_secs(30);

/// Object storage the backups take: the low and high ends of the estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreFigures {
    pub now_gib: f64,
    pub retained_gib: f64,
    /// True when the figures come from listing the store.
    pub measured: bool,
    /// How the figures were reached.
    pub basis: String,
}

/// Lists the stack's store (bounded in time); falls back to the estimate when it has no
/// backup section, cannot be opened or does not answer.
pub async fn measure(stack: &ValidatedStack, plan_db_gib: f64, look: bool) -> StoreFigures {
    let Some(b) = &stack.backup else {
        return StoreFigures {
            now_gib: 0.0,
            retained_gib: 0.0,
            measured: false,
            basis: "no spec.backup: nothing is stored".into(),
        };
    };
    let window_days = (b.max_age.as_secs_f64() / 86_400.0).max(1.0);
    let why = if look {
        match tokio::time::timeout(MEASURE_TIMEOUT, listed(stack)).await {
            Ok(Ok((bytes, objects, span_days))) => {
                return from_listing(bytes, objects, span_days, window_days)
            }
            Ok(Err(e)) => format!("store not measured ({e})"),
            Err(_) => format!(
                "store not measured (no answer in {}s)",
                MEASURE_TIMEOUT.as_secs()
            ),
        }
    } else {
        "store not measured (--no-store)".to_string()
    };
    estimated(why, plan_db_gib, b.keep_last)
}

/// Bytes, objects, and days since the oldest complete backup.
async fn listed(stack: &ValidatedStack) -> Result<(u64, usize, f64), crate::protect::ProtectError> {
    let store = crate::protect::store::lookup::open_store(stack)?;
    let objects = store.list(&format!("{}/", stack.name)).await?;
    let bytes = objects.iter().map(|o| o.size).sum();
    let oldest = crate::protect::manifest::catalog(&store, &stack.name)
        .await?
        .first()
        .map(|m| m.finished_at);
    let span_days = oldest.map_or(0.0, |t| {
        (Utc::now() - t).num_seconds().max(0) as f64 / 86_400.0
    });
    Ok((bytes, objects.len(), span_days))
}

/// Everything in the store accrued over `span_days`; at that rate the retention window
/// holds `rate × window` (prunes keep it there), never less than what is there now.
pub fn from_listing(bytes: u64, objects: usize, span_days: f64, window_days: f64) -> StoreFigures {
    let now_gib = bytes as f64 / GIB;
    let span = span_days.max(1.0);
    let per_day = now_gib / span;
    let retained_gib = now_gib.max(per_day * window_days);
    StoreFigures {
        now_gib,
        retained_gib,
        measured: true,
        basis: format!(
            "measured: {now_gib:.2} GiB in {objects} objects over {span:.1} days \
             ({per_day:.3} GiB/day × {window_days:.0}-day retention)"
        ),
    }
}

/// Without a listing: one full copy of the database volume at the low end, `keep_last`
/// copies at the high end (uncompressed sizes, so an upper bound).
fn estimated(why: String, db_gib: f64, keep_last: u32) -> StoreFigures {
    let copies = f64::from(keep_last.max(1));
    StoreFigures {
        now_gib: db_gib,
        retained_gib: db_gib * copies,
        measured: false,
        basis: format!(
            "{why}; estimated from the database volume: one copy ({db_gib:.0} GiB) to keepLast \
             {keep_last} copies ({:.0} GiB)",
            db_gib * copies
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_is_projected_over_the_retention_window() {
        // 2 GiB accrued over 4 days: 0.5 GiB/day, 14 days retained → 7 GiB.
        let f = from_listing(2 << 30, 10, 4.0, 14.0);
        assert!((f.now_gib - 2.0).abs() < 1e-9);
        assert!((f.retained_gib - 7.0).abs() < 1e-9);
        assert!(f.measured && f.basis.contains("0.500 GiB/day"));
        // A store younger than a day counts as one day; never less than what is there.
        let young = from_listing(1 << 30, 3, 0.1, 0.5);
        assert!((young.retained_gib - 1.0).abs() < 1e-9);
    }

    #[test]
    fn without_a_listing_the_estimate_says_so() {
        let f = estimated("store not measured (--no-store)".into(), 50.0, 14);
        assert_eq!(
            (f.now_gib, f.retained_gib, f.measured),
            (50.0, 700.0, false)
        );
        assert!(f.basis.starts_with("store not measured"));
    }
}
