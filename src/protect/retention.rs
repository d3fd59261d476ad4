//! Retention: keep-last-N and max-age per kind, and never delete what the oldest promised
//! recovery point needs. Pruning removes a backup's manifest first (it leaves the catalog
//! atomically), then its objects; objects left by an interrupted prune or a failed backup
//! are swept once they are older than a grace period. Running it twice changes nothing.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

use super::error::ProtectError;
use super::manifest::{catalog, Kind, Manifest, MANIFEST};
use super::store::ObjectStore;
use super::wal::{self, Lsn, Segment, WalKind};

/// How long objects without a manifest may stay (a backup may still be writing them).
pub const ORPHAN_GRACE: Duration = Duration::from_secs(24 * 3600);

/// Retention settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub keep_last: u32,
    pub max_age: Duration,
}

/// Why a backup is kept (for `--dry-run` and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub id: String,
    pub kind: Kind,
    pub keep: bool,
    pub reason: &'static str,
}

/// `now - max_age`, saturating at the earliest time chrono can hold: an age longer than all
/// of time keeps everything, it never panics.
fn cutoff(now: DateTime<Utc>, max_age: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(max_age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Decides, per backup, keep or delete (pure).
pub fn decide(all: &[Manifest], policy: Policy, now: DateTime<Utc>) -> Vec<Decision> {
    let cutoff = cutoff(now, policy.max_age);
    let mut out = Vec::new();
    for kind in [Kind::Base, Kind::Dump, Kind::Files] {
        let mut of_kind: Vec<&Manifest> = all.iter().filter(|m| m.kind == kind).collect();
        of_kind.sort_by_key(|m| std::cmp::Reverse(m.finished_at));
        // The newest backup finished at or before the cutoff is where a restore to the
        // oldest promised point starts (base + WAL after it): it must stay.
        let anchor = of_kind
            .iter()
            .find(|m| m.finished_at <= cutoff)
            .map(|m| m.id.clone());
        for (rank, m) in of_kind.iter().enumerate() {
            let (keep, reason) = if (rank as u32) < policy.keep_last.max(1) {
                (true, "among the newest keep-last")
            } else if m.finished_at > cutoff {
                (true, "younger than max-age")
            } else if kind == Kind::Base && anchor.as_deref() == Some(m.id.as_str()) {
                (true, "base of the oldest promised recovery point")
            } else {
                (false, "older than max-age and beyond keep-last")
            };
            out.push(Decision {
                id: m.id.clone(),
                kind,
                keep,
                reason,
            });
        }
    }
    out
}

/// What a prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub backups: Vec<String>,
    pub orphan_objects: usize,
    /// WAL objects older than the oldest kept base backup needs.
    pub wal_objects: usize,
}

/// Applies `policy` to the stack's backups in the store.
pub async fn prune<S: ObjectStore>(
    store: &S,
    stack: &str,
    policy: Policy,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<(Vec<Decision>, Pruned), ProtectError> {
    let all = catalog(store, stack).await?;
    let decisions = decide(&all, policy, now);
    let mut pruned = Pruned::default();
    for d in decisions.iter().filter(|d| !d.keep) {
        let Some(m) = all.iter().find(|m| m.id == d.id) else {
            continue;
        };
        if !dry_run {
            store.delete(&m.object_key(MANIFEST)).await?;
            for o in &m.objects {
                store.delete(&m.object_key(&o.name)).await?;
            }
        }
        pruned.backups.push(m.id.clone());
    }
    pruned.wal_objects = prune_wal(store, stack, &all, &decisions, dry_run).await?;
    // Objects of backups that have no manifest (interrupted prune, failed backup).
    let live: BTreeSet<String> = all
        .iter()
        .filter(|m| !pruned.backups.contains(&m.id))
        .map(|m| Manifest::dir(&m.stack, m.kind, &m.id))
        .collect();
    let listed = store.list(&format!("{stack}/")).await?;
    // A directory with a manifest is a backup even when its manifest was not trusted (the
    // catalog ignores one that does not match its key): never swept as an orphan.
    let with_manifest: BTreeSet<&str> = listed
        .iter()
        .filter_map(|o| o.key.strip_suffix(&format!("/{MANIFEST}")))
        .collect();
    for obj in &listed {
        let mut parts = obj.key.splitn(4, '/');
        let (Some(_), Some(kind), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        // Only backup directories are swept: WAL, the stack records and the drill
        // reports are not backups.
        if !matches!(kind, "base" | "dump" | "files") {
            continue;
        }
        let dir = format!("{stack}/{kind}/{id}");
        if live.contains(&dir) || with_manifest.contains(dir.as_str()) {
            continue;
        }
        let old_enough = id_time(id).is_some_and(|t| {
            now - t > chrono::Duration::from_std(ORPHAN_GRACE).unwrap_or_default()
        });
        if old_enough {
            if !dry_run {
                store.delete(&obj.key).await?;
            }
            pruned.orphan_objects += 1;
        }
    }
    Ok((decisions, pruned))
}

/// Deletes WAL no kept base backup can replay: everything before the start segment of the
/// oldest kept base backup. Without a kept base backup nothing is deleted.
async fn prune_wal<S: ObjectStore>(
    store: &S,
    stack: &str,
    all: &[Manifest],
    decisions: &[Decision],
    dry_run: bool,
) -> Result<usize, ProtectError> {
    let oldest = all
        .iter()
        .filter(|m| m.kind == Kind::Base)
        .filter(|m| decisions.iter().any(|d| d.id == m.id && d.keep))
        .filter_map(|m| {
            Some(Segment::of(
                m.timeline?,
                Lsn::parse(m.start_lsn.as_deref()?)?,
            ))
        })
        .min_by_key(|s| s.number);
    let Some(oldest) = oldest else {
        return Ok(0);
    };
    let mut n = 0;
    for o in wal::list(store, stack).await? {
        let before = match o.kind {
            WalKind::Segment(s) | WalKind::Partial(s) => s.number < oldest.number,
            WalKind::History(_) => false,
        };
        if before {
            if !dry_run {
                store.delete(&o.key).await?;
            }
            n += 1;
        }
    }
    Ok(n)
}

/// The time in a backup id (`base-20261123T020000.000Z`).
pub fn id_time(id: &str) -> Option<DateTime<Utc>> {
    let stamp = id.split_once('-')?.1;
    let naive = NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%.3fZ").ok()?;
    Some(Utc.from_utc_datetime(&naive))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protect::manifest::FORMAT;

    fn m(kind: Kind, days_ago: i64, now: DateTime<Utc>) -> Manifest {
        let at = now - chrono::Duration::days(days_ago);
        Manifest {
            format: FORMAT,
            id: format!("{}-{}", kind.as_str(), at.format("%Y%m%dT%H%M%S%.3fZ")),
            kind,
            stack: "s".into(),
            started_at: at,
            finished_at: at,
            start_lsn: None,
            stop_lsn: None,
            timeline: None,
            pg_version: None,
            tools: Default::default(),
            compression: "zstd:3".into(),
            encryption_key_id: None,
            objects: vec![],
            files: vec![],
            system_id: None,
        }
    }

    fn kept(d: &[Decision]) -> Vec<(Kind, bool)> {
        d.iter().map(|d| (d.kind, d.keep)).collect()
    }

    #[test]
    fn retention_at_the_limits_never_panics() {
        let now = Utc::now();
        let all: Vec<Manifest> = (0..5).map(|d| m(Kind::Base, d * 400, now)).collect();
        for max_age in [
            Duration::MAX,
            Duration::from_secs(u64::MAX / 2),
            Duration::from_secs(crate::api::quantity::MAX_DURATION_DAYS * 86_400),
        ] {
            let d = decide(
                &all,
                Policy {
                    keep_last: 1,
                    max_age,
                },
                now,
            );
            assert!(d.iter().all(|x| x.keep), "{max_age:?}: {d:?}");
        }
        assert_eq!(cutoff(now, Duration::MAX), DateTime::<Utc>::MIN_UTC);
        let tiny = decide(
            &all,
            Policy {
                keep_last: u32::MAX,
                max_age: Duration::from_millis(1),
            },
            now,
        );
        assert!(tiny.iter().all(|x| x.keep), "keep-last covers them all");
        let none = decide(
            &all,
            Policy {
                keep_last: 0,
                max_age: Duration::from_millis(1),
            },
            DateTime::<Utc>::MAX_UTC,
        );
        // keep-last 0 still keeps the newest; the anchor base is the newest too.
        assert_eq!(none.iter().filter(|x| x.keep).count(), 1, "{none:?}");
    }

    #[test]
    fn keeps_newest_window_and_the_anchor_base() {
        let now = Utc::now();
        // Daily bases 0..30 days old; max-age 14d, keep-last 3.
        let all: Vec<Manifest> = (0..30).map(|d| m(Kind::Base, d, now)).collect();
        let policy = Policy {
            keep_last: 3,
            max_age: Duration::from_secs(14 * 86400),
        };
        let d = decide(&all, policy, now);
        let keep: Vec<&Decision> = d.iter().filter(|d| d.keep).collect();
        // 0..=13 days are inside the window (14 kept), day 14 is the anchor (finished at the cutoff).
        assert_eq!(keep.len(), 15, "{keep:?}");
        assert!(d
            .iter()
            .any(|x| x.keep && x.reason == "base of the oldest promised recovery point"));
        assert!(d.iter().filter(|x| !x.keep).count() == 15);
    }

    #[test]
    fn anchor_survives_even_when_all_are_old() {
        let now = Utc::now();
        let all = vec![
            m(Kind::Base, 40, now),
            m(Kind::Base, 30, now),
            m(Kind::Base, 20, now),
        ];
        let d = decide(
            &all,
            Policy {
                keep_last: 1,
                max_age: Duration::from_secs(14 * 86400),
            },
            now,
        );
        // Newest (20 days) is kept by keep-last and is also the anchor; the rest go.
        assert_eq!(
            kept(&d),
            vec![(Kind::Base, true), (Kind::Base, false), (Kind::Base, false)]
        );
    }

    #[test]
    fn keep_last_zero_still_keeps_one() {
        let now = Utc::now();
        let all = vec![m(Kind::Dump, 100, now)];
        let d = decide(
            &all,
            Policy {
                keep_last: 0,
                max_age: Duration::from_secs(86400),
            },
            now,
        );
        assert!(d[0].keep);
    }

    #[test]
    fn id_times_parse() {
        let t = id_time("base-20261123T020000.123Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-23T02:00:00.123+00:00");
        assert!(id_time("nonsense").is_none());
    }

    #[tokio::test]
    async fn prune_is_idempotent_and_sweeps_orphans() {
        use bytes::Bytes;
        use tokio::sync::mpsc;
        let dir = tempfile::tempdir().unwrap();
        let store = crate::protect::FsStore::new(dir.path());
        let now = Utc::now();
        for days in [40, 30, 1] {
            let mut man = m(Kind::Base, days, now);
            man.objects.push(crate::protect::manifest::ObjectEntry {
                name: "base.tar.zst".into(),
                size: 1,
                raw_size: 1,
                sha256: String::new(),
                database: None,
            });
            let (tx, rx) = mpsc::channel(1);
            tx.send(Bytes::from_static(b"x")).await.unwrap();
            drop(tx);
            store
                .put(&man.object_key("base.tar.zst"), rx)
                .await
                .unwrap();
            man.save(&store).await.unwrap();
        }
        // An orphan from an interrupted prune 3 days ago.
        let orphan_id = format!(
            "base-{}",
            (now - chrono::Duration::days(3)).format("%Y%m%dT%H%M%S%.3fZ")
        );
        let (tx, rx) = mpsc::channel(1);
        drop(tx);
        store
            .put(&format!("s/base/{orphan_id}/base.tar.zst"), rx)
            .await
            .unwrap();
        let policy = Policy {
            keep_last: 1,
            max_age: Duration::from_secs(14 * 86400),
        };
        let (_, first) = prune(&store, "s", policy, now, false).await.unwrap();
        // Day 30 is the anchor; day 40 goes; day 1 is the newest.
        assert_eq!(first.backups.len(), 1);
        assert_eq!(first.orphan_objects, 1);
        let (_, second) = prune(&store, "s", policy, now, false).await.unwrap();
        assert_eq!(second, Pruned::default());
        let left = catalog(&store, "s").await.unwrap();
        assert_eq!(left.len(), 2);
        assert_eq!(store.list("s/").await.unwrap().len(), 4);
    }

    /// A manifest that claims another stack's backup (or lies about its id) is ignored: the
    /// prune deletes neither what it names nor the objects beside it.
    #[tokio::test]
    async fn a_manifest_that_does_not_match_its_key_deletes_nothing() {
        use bytes::Bytes;
        use tokio::sync::mpsc;
        let dir = tempfile::tempdir().unwrap();
        let store = crate::protect::FsStore::new(dir.path());
        let now = Utc::now();
        let put = |key: String| {
            let store = &store;
            async move {
                let (tx, rx) = mpsc::channel(1);
                tx.send(Bytes::from_static(b"x")).await.unwrap();
                drop(tx);
                store.put(&key, rx).await.unwrap();
            }
        };
        // The other stack's old backup, which the forged manifest names.
        let mut theirs = m(Kind::Base, 90, now);
        theirs.stack = "other".into();
        put(theirs.object_key("base.tar.zst")).await;
        theirs.save(&store).await.unwrap();
        // Under s/: a 90-day-old directory whose manifest says it is the other's.
        let here = m(Kind::Base, 90, now);
        put(here.object_key("base.tar.zst")).await;
        let forged = serde_json::to_vec(&theirs).unwrap();
        let (tx, rx) = mpsc::channel(1);
        tx.send(Bytes::from(forged)).await.unwrap();
        drop(tx);
        store.put(&here.object_key(MANIFEST), rx).await.unwrap();
        let policy = Policy {
            keep_last: 1,
            max_age: Duration::from_millis(1),
        };
        let (_, pruned) = prune(&store, "s", policy, now, false).await.unwrap();
        assert_eq!(pruned, Pruned::default());
        assert_eq!(store.list("s/").await.unwrap().len(), 2);
        assert_eq!(store.list("other/").await.unwrap().len(), 2);
    }
}
