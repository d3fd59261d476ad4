//! One restore of a base backup (and its WAL) into a stack's database volume: fill the
//! volume (on this host, or through a helper container), boot the stack, wait for replay
//! and promotion, check the database.

use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::SecondsFormat;
use tokio::sync::mpsc::Receiver;

use super::credentials::{self, Credentials};
use super::fill::{concat, fill_on_host, fill_script, recovery_conf, reset_recovery, WAL_SUBDIR};
use super::{
    boot_copy, boot_database, check_helper, checks, copy_applier, data_volume, uploads, Copy,
    DataVolume, Pick, RestoreError, Restored,
};
use crate::api::validated::Database;
use crate::docker::engine::Exec;
use crate::docker::host_fill::HostVolume;
use crate::docker::BollardEngine;
use crate::progress::meter::Meter;
use crate::progress::{metered, metered_channel, Bar};
use crate::protect::backup::psql_argv;
use crate::protect::decode::spawn_zstd;
use crate::protect::runner::{capture, DockerRunner};
use crate::protect::wal::{self, WalKind};
use crate::protect::wal_fetch;
use crate::protect::{ObjectStore, ProtectError};

/// The restore's steps, named as the drill reports its phases: fetch (backup picked and
/// verified), fill (volumes filled), replay (WAL replayed, promoted, credentials set), boot
/// (the whole stack healthy).
pub(crate) const STEP_FETCHED: &str = "backup verified";
pub(crate) const STEP_FILLED: &str = "data restored";
pub(crate) const STEP_REPLAYED: &str = "WAL replayed, promoted";
pub(crate) const STEP_BOOTED: &str = "stack healthy";

/// What filling the volume left to do: the WAL fetched (when replayed), and whether the
/// database replays and promotes.
struct Filled {
    fetched: Option<wal_fetch::Fetched>,
    replay: bool,
}

pub(super) struct Job<'a> {
    pub copy: &'a Copy<'a>,
    pub chain: Vec<crate::protect::wal::WalObject>,
    pub wal_key: Option<crate::protect::crypto::Key>,
    pub pick: &'a Pick,
    /// Recover and promote even without WAL to replay: a restore in place must continue on
    /// a new timeline, or its WAL would take the names of the old timeline's in the store.
    pub new_timeline: bool,
    /// Start the whole stack once the database is ready (else only the database runs).
    pub boot_all: bool,
}

impl Job<'_> {
    pub(super) async fn run(&self) -> Result<Restored, RestoreError> {
        let into = self.copy.plan.stack.clone();
        let Some(db) = &self.copy.stack.database else {
            return Err(RestoreError::Invalid(
                "spec.database: not set; nothing to restore".into(),
            ));
        };
        let mut steps = vec![(STEP_FETCHED, self.copy.started.elapsed())];
        let Filled { fetched, replay } = self.fill(db, &into).await?;
        if let Some(m) = &self.copy.uploads {
            copy_applier(&self.copy.engine, &self.copy.plan, self.copy.state_dir)?
                .create_stopped(&["cms"])
                .await?;
            uploads::fill(
                self.copy.engine.as_ref(),
                &self.copy.store,
                self.copy.stack,
                &into,
                m,
            )
            .await?;
        }
        steps.push((STEP_FILLED, self.copy.started.elapsed()));
        // The database boots alone: nothing connects before it is promoted and has the
        // stack's credentials.
        let runner = boot_database(&self.copy.engine, &self.copy.plan, self.copy.state_dir).await?;
        let psql = |sql: &str| psql_argv(&db.user, &db.name, &[sql]);
        if replay {
            self.wait_promoted(&runner, &psql).await?;
            reset_recovery(&runner, db).await?;
        }
        // The restored data may predate the CMS's role: it is made (or brought in line)
        // before the CMS ever starts on it.
        crate::protect::app_role::ensure(&runner, db, &self.copy.plan)
            .await
            .map_err(super::rt)?;
        let mut notes = Vec::new();
        if self.copy.credentials == Credentials::Reset {
            let secrets = super::secrets(self.copy.state_dir, &self.copy.plan)?;
            notes = credentials::reset(&runner, db, &self.copy.plan, &secrets).await?;
            notes.push(format!(
                "new credentials (the store has no sealed secrets for this restore): in {}",
                crate::secrets::SecretStore::new(self.copy.state_dir, &into)
                    .dir()
                    .display()
            ));
        }
        steps.push((STEP_REPLAYED, self.copy.started.elapsed()));
        let runner = if self.boot_all {
            boot_copy(&self.copy.engine, &self.copy.plan, self.copy.state_dir).await?
        } else {
            runner
        };
        steps.push((STEP_BOOTED, self.copy.started.elapsed()));
        let mut checks = checks(&runner, db).await?;
        checks.extend(notes);
        steps.push(("database checks passed", self.copy.started.elapsed()));
        let target = match self.pick {
            Pick::Time(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
            Pick::Xid { xid, .. } => format!("transaction {xid}"),
            Pick::Latest if fetched.as_ref().is_some_and(|f| f.files > 0) => {
                "latest shipped WAL".to_string()
            }
            _ => format!("backup {}", self.copy.manifest.id),
        };
        eprintln!(
            "stack {into} restored from {} ({target}) and healthy in {:.1}s: {}",
            self.copy.manifest.id,
            self.copy.started.elapsed().as_secs_f64(),
            checks.join(", ")
        );
        Ok(Restored {
            base: self.copy.manifest.id.clone(),
            base_finished: self.copy.manifest.finished_at,
            wal_files: fetched.map_or(0, |f| f.files),
            uploads: self.copy.uploads.clone(),
            steps,
            checks,
            runner,
        })
    }

    /// Fills the database's volume with the base backup and (to replay) the WAL after it.
    async fn fill(&self, db: &Database, into: &str) -> Result<Filled, RestoreError> {
        let DataVolume {
            mounts,
            helper_labels,
        } = data_volume(self.copy.engine.as_ref(), into).await?;
        // The database's container exists (stopped) before its volume is filled: its create
        // sets the volume's owner, and the engine's create does not wait behind the writeback
        // of the restored gigabytes afterwards.
        copy_applier(&self.copy.engine, &self.copy.plan, self.copy.state_dir)?
            .create_stopped(&["database"])
            .await?;

        // WAL downloads start now and run ahead while the base backup is extracted.
        let (wal_tar, wal_fetch, wal_meter, wal_total) = self.wal_stream();
        let object = self
            .copy
            .store
            .get(&self.copy.manifest.object_key("base.tar.zst"))
            .await
            .map_err(|e| RestoreError::Failed(e.to_string()))?;
        let meter = Meter::default();
        let stored = self
            .copy
            .manifest
            .objects
            .iter()
            .find(|o| o.name == "base.tar.zst")
            .map(|o| o.size);
        let (tar, decoder) = spawn_zstd(Box::pin(metered(object, &meter)), self.copy.key.clone());
        let bar = Bar::bytes("restoring base backup", &meter, stored);
        let replay = !self.chain.is_empty() || self.new_timeline;
        // One stream: the base backup's tar, then the WAL's tar under appstack_wal/; unpacked
        // by us when the volume's directory is reachable, else by a one-off container.
        let input = if replay {
            concat(tar, wal_tar)
        } else {
            wal_fetch.abort();
            tar
        };
        let recovery = replay.then(|| recovery_conf(self.pick));
        let host = HostVolume::open(self.copy.engine.as_ref(), &mounts[0].0).await?;
        let fill = async {
            match &host {
                Some(v) => fill_on_host(v, input, recovery)
                    .await
                    .map_err(|e| RestoreError::Failed(format!("filling the data volume: {e}"))),
                None => {
                    let helper = format!("{into}-restore");
                    let script = fill_script(recovery);
                    let out = self
                        .copy
                        .engine
                        .run_with_stdin(&helper, &db.image, &script, mounts, helper_labels, input)
                        .await?;
                    check_helper("filling the data volume", out)
                }
            }
        };
        let base_then_wal = async {
            let decoded = decoder.await;
            bar.done();
            eprintln!(
                "base backup read in {:.1}s",
                self.copy.started.elapsed().as_secs_f64()
            );
            let wal_bar = replay.then(|| Bar::bytes("placing WAL", &wal_meter, Some(wal_total)));
            (decoded, wal_bar)
        };
        let fetch = async {
            if replay {
                Some(wal_fetch.await)
            } else {
                None
            }
        };
        let (filled, (decoded, wal_bar), fetched) = tokio::join!(fill, base_then_wal, fetch);
        drop(wal_bar);
        let raw = decoded
            .map_err(|e| RestoreError::Failed(e.to_string()))?
            .map_err(|e| RestoreError::Failed(e.to_string()))?;
        let fetched = fetched
            .map(|f| {
                f.map_err(|e| RestoreError::Failed(e.to_string()))?
                    .map_err(|e| RestoreError::Failed(format!("refusing to replay WAL: {e}")))
            })
            .transpose()?;
        filled?;
        say_filled(
            host.is_some(),
            raw,
            fetched.as_ref(),
            self.copy.started.elapsed(),
            replay,
        );
        Ok(Filled { fetched, replay })
    }

    /// The WAL to replay as one tar stream under appstack_wal/, fetched ahead in the
    /// background; its meter and expected size feed the progress bar.
    fn wal_stream(
        &self,
    ) -> (
        Receiver<Bytes>,
        tokio::task::JoinHandle<Result<wal_fetch::Fetched, ProtectError>>,
        Meter,
        u64,
    ) {
        let (wal_tar, wal_fetch) = wal_fetch::spawn_tar(
            self.copy.store.clone(),
            self.copy.stack.name.clone(),
            self.chain.clone(),
            self.wal_key.clone(),
            format!("{WAL_SUBDIR}/"),
        );
        let wal_meter = Meter::default();
        let wal_tar = metered_channel(wal_tar, &wal_meter);
        let wal_total: u64 = self
            .chain
            .iter()
            .map(|o| match o.kind {
                WalKind::History(_) => o.size,
                _ => wal::SEGMENT_SIZE,
            })
            .sum();
        (wal_tar, wal_fetch, wal_meter, wal_total)
    }

    /// Replay ends with promotion; bounded by the stack's RTO.
    async fn wait_promoted(
        &self,
        runner: &DockerRunner<BollardEngine>,
        psql: &dyn Fn(&str) -> Vec<String>,
    ) -> Result<(), RestoreError> {
        let deadline = Instant::now() + self.copy.stack.recovery.rto;
        let bar = Bar::spinner("replaying WAL");
        let sql = "SELECT pg_is_in_recovery()::text || ' ' || coalesce(pg_last_wal_replay_lsn()::text, '')";
        loop {
            if let Ok(v) = capture(runner, "database", psql(sql)).await {
                match v.split_once(' ') {
                    Some(("false", _)) => return Ok(()),
                    Some((_, lsn)) if !lsn.is_empty() => {
                        bar.set_message(format!("replaying WAL, at LSN {lsn}"));
                    }
                    _ => {}
                }
            }
            if Instant::now() > deadline {
                return Err(RestoreError::Failed(format!(
                    "WAL replay did not finish within the RTO of {}s",
                    self.copy.stack.recovery.rto.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The fill's summary line.
fn say_filled(
    on_host: bool,
    raw: u64,
    fetched: Option<&wal_fetch::Fetched>,
    elapsed: Duration,
    replay: bool,
) {
    eprintln!(
        "base backup restored {}: {}{} in {:.1}s; starting the stack{}",
        if on_host {
            "into the volume's directory"
        } else {
            "through a helper container"
        },
        crate::api::quantity::format_bytes(raw),
        fetched.map_or_else(String::new, |f| format!(
            " and {} WAL file(s), {}",
            f.files,
            crate::api::quantity::format_bytes(f.bytes)
        )),
        elapsed.as_secs_f64(),
        if replay { " (replay runs first)" } else { "" }
    );
}
