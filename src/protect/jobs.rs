//! The backup jobs every entry point runs (the CLI, the daemon's schedules, the Kubernetes
//! CronJobs): take backups of some kinds with progress, apply retention and say what it
//! kept, and verify the store (checksums, WAL continuity, PostgreSQL's pg_verifybackup).

use crate::api::quantity::{format_bytes, parse_duration};
use crate::api::validated::ValidatedStack;
use crate::docker::BollardEngine;
use crate::progress::meter::Meter;
use crate::progress::{metered, Bar};
use crate::protect::backup::{self, psql_argv, Target};
use crate::protect::crypto::Key;
use crate::protect::manifest::{catalog, Kind, Manifest};
use crate::protect::retention::{prune, Policy};
use crate::protect::runner::{capture, Runner};
use crate::protect::store::{key_for, open_store, spec_key};
use crate::protect::target::AnyStore;
use crate::protect::verify::verify;
use crate::protect::{ObjectStore, ProtectError};

pub fn summary(m: &Manifest) -> String {
    let secs = (m.finished_at - m.started_at).num_milliseconds() as f64 / 1000.0;
    let raw: u64 = m.objects.iter().map(|o| o.raw_size).sum();
    format!(
        "{} backup {}: {} stored ({} raw) in {secs:.1}s",
        m.kind.as_str(),
        m.id,
        format_bytes(m.stored_bytes()),
        format_bytes(raw)
    )
}

pub async fn take<R: Runner>(
    store: &AnyStore,
    runner: &R,
    t: &Target,
    kinds: &[Kind],
) -> Result<(), ProtectError> {
    for kind in kinds {
        eprintln!(
            "taking {} backup of {} into {} ...",
            kind.as_str(),
            t.stack,
            store.location()
        );
        let m = take_one(store, runner, t, *kind).await?;
        eprintln!("{}", summary(&m));
    }
    Ok(())
}

/// One backup, with a progress bar on the bytes read from the database (against the
/// cluster's size for a base backup).
pub async fn take_one<R: Runner>(
    store: &AnyStore,
    runner: &R,
    t: &Target,
    kind: Kind,
) -> Result<Manifest, ProtectError> {
    let meter = Meter::default();
    let t = Target {
        meter: Some(meter.clone()),
        ..t.clone()
    };
    let total = match kind {
        Kind::Base => capture(
            runner,
            "database",
            psql_argv(
                &t.db_user,
                &t.db_name,
                &["SELECT sum(pg_database_size(oid)) FROM pg_database"],
            ),
        )
        .await
        .ok()
        .and_then(|v| v.parse().ok()),
        _ => None,
    };
    let bar = Bar::bytes(&format!("{} backup", kind.as_str()), &meter, total);
    let m = match kind {
        Kind::Base => backup::base_backup(store, runner, &t).await,
        Kind::Dump => backup::dump(store, runner, &t).await,
        Kind::Files => backup::files(store, runner, &t).await,
    };
    bar.done();
    m
}

/// The spec's retention, with this run's overrides (`--max-age`, `--keep-last`).
pub fn policy(
    stack: &ValidatedStack,
    max_age: Option<&str>,
    keep_last: Option<u32>,
) -> Result<Policy, ProtectError> {
    let b = stack
        .backup
        .as_ref()
        .ok_or_else(|| ProtectError::Config("spec.backup: not set".into()))?;
    let max_age = match max_age {
        Some(text) => parse_duration(text)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                ProtectError::Config(format!("--max-age: {text:?} is not a duration (e.g. 14d)"))
            })?,
        None => b.max_age,
    };
    Ok(Policy {
        keep_last: keep_last.unwrap_or(b.keep_last),
        max_age,
    })
}

/// Applies retention (or, with `dry_run`, says what it would delete).
pub async fn apply_retention(
    store: &AnyStore,
    stack: &str,
    policy: Policy,
    dry_run: bool,
) -> Result<(), ProtectError> {
    let (decisions, pruned) = prune(store, stack, policy, chrono::Utc::now(), dry_run).await?;
    let verb = if dry_run { "would delete" } else { "deleted" };
    for d in &decisions {
        if !d.keep {
            eprintln!("retention: {verb} {} ({})", d.id, d.reason);
        }
    }
    eprintln!(
        "retention (keep-last {}, max-age {}): {} backup(s) kept, {verb} {} backup(s), {} WAL file(s) no kept backup needs and {} orphan object(s)",
        policy.keep_last,
        crate::api::quantity::format_duration(policy.max_age),
        decisions.iter().filter(|d| d.keep).count(),
        pruned.backups.len(),
        pruned.wal_objects,
        pruned.orphan_objects
    );
    Ok(())
}

/// PostgreSQL's own check of a base backup (its backup_manifest and the WAL it needs), in a
/// throwaway container of the database image, so the tool's version matches the server's.
#[allow(clippy::too_many_arguments)]
async fn pg_verifybackup<E: crate::docker::Engine>(
    engine: &E,
    store: &AnyStore,
    stack: &str,
    image: &str,
    m: &Manifest,
    key: Option<Key>,
) -> Result<crate::docker::engine::ExecOutput, ProtectError> {
    let object = store.get(&m.object_key("base.tar.zst")).await?;
    let meter = Meter::default();
    let (tar, decoder) = crate::protect::decode::spawn_zstd(Box::pin(metered(object, &meter)), key);
    let stored = m
        .objects
        .iter()
        .find(|o| o.name == "base.tar.zst")
        .map(|o| o.size);
    let bar = Bar::bytes(&format!("pg_verifybackup {}", m.id), &meter, stored);
    let labels = std::collections::HashMap::from([
        (crate::plan::LABEL_STACK.to_string(), stack.to_string()),
        (
            crate::plan::LABEL_COMPONENT.to_string(),
            "verify".to_string(),
        ),
    ]);
    let script = "set -e; d=$(mktemp -d); tar -x -C \"$d\"; pg_verifybackup \"$d\"; rm -rf \"$d\"";
    let name = format!("{stack}-verify");
    let (out, decoded) = tokio::join!(
        engine.run_with_stdin(&name, image, script, Vec::new(), labels, tar),
        decoder
    );
    bar.done();
    decoded.map_err(|e| ProtectError::Io(e.to_string()))??;
    out.map_err(|e| ProtectError::Exec {
        tool: "pg_verifybackup".into(),
        message: e.to_string(),
    })
}

/// Verifies the stack's store: every object's sha256, the WAL's continuity from each base
/// backup, then (unless `checksums_only`) pg_verifybackup of every base backup in a
/// container of the database image. `id` narrows it to one backup.
pub async fn verify_store(
    stack: &ValidatedStack,
    id: Option<&str>,
    checksums_only: bool,
) -> Result<(), ProtectError> {
    let store = open_store(stack)?;
    let mut all = catalog(&store, &stack.name).await?;
    if let Some(id) = id {
        all.retain(|m| m.id == id);
        if all.is_empty() {
            return Err(ProtectError::Config(format!(
                "--id: backup {id:?} not found (see `appstack backup list`)"
            )));
        }
    }
    let mut problems = verify(&store, &all).await?;
    let mut objects: usize = all.iter().map(|m| m.objects.len()).sum();
    let bases: Vec<Manifest> = all
        .iter()
        .filter(|m| m.kind == Kind::Base)
        .cloned()
        .collect();
    let (wal_objects, wal_problems) =
        crate::protect::verify::verify_wal(&store, &stack.name, &bases, spec_key(stack)?).await?;
    objects += wal_objects;
    problems.extend(wal_problems);
    if problems.is_empty() {
        println!(
            "{} backup(s), {wal_objects} WAL file(s), {objects} object(s): all checksums match, WAL continuous from every base backup",
            all.len()
        );
        if checksums_only {
            return Ok(());
        }
        let bases: Vec<&Manifest> = all.iter().filter(|m| m.kind == Kind::Base).collect();
        if bases.is_empty() {
            return Ok(());
        }
        let image = stack
            .database
            .as_ref()
            .map(|d| d.image.clone())
            .ok_or_else(|| ProtectError::Config("spec.database: not set".into()))?;
        let engine = BollardEngine::connect_default()
            .await
            .map_err(|e| ProtectError::Exec {
                tool: "the Docker engine".into(),
                message: e.to_string(),
            })?;
        for m in bases {
            let out = pg_verifybackup(
                engine.as_ref(),
                &store,
                &stack.name,
                &image,
                m,
                key_for(stack, m)?,
            )
            .await?;
            if out.exit_code != 0 {
                return Err(ProtectError::Io(format!(
                    "pg_verifybackup rejected {}: {}",
                    m.id,
                    out.output.trim()
                )));
            }
            println!(
                "{}: {}",
                m.id,
                out.output.lines().last().unwrap_or("verified").trim()
            );
        }
        return Ok(());
    }
    for p in &problems {
        eprintln!("CORRUPT {}: {}", p.object, p.message);
    }
    Err(ProtectError::Io(format!(
        "{} of {objects} object(s) failed verification",
        problems.len()
    )))
}
