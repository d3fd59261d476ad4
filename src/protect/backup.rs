//! Taking backups: a physical base backup (pg_basebackup, tar, streamed), logical dumps
//! (pg_dump -Fc per database + globals) and the CMS uploads, each into the store through
//! the compress-and-hash pipeline, each finished by its manifest.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;

use super::crypto::Key;
pub use super::dump::{conninfo_dbname, dump};
use super::error::ProtectError;
use super::manifest::{Kind, Manifest, ObjectEntry, FORMAT};
use super::pipeline::{self, Compression, Inspect};
use super::runner::{capture, Runner};
use super::store::ObjectStore;
use super::tar_scan::FileDigest;
use crate::progress::meter::Meter;

/// What a backup needs to know about the stack.
#[derive(Debug, Clone)]
pub struct Target {
    pub stack: String,
    pub db_user: String,
    pub db_name: String,
    pub compression_level: i32,
    pub timeout: Duration,
    /// Uploads directory inside the CMS container, when uploads live on a volume.
    pub uploads_path: Option<String>,
    /// Client-side encryption key.
    pub key: Option<Key>,
    /// Counts the raw bytes read from the database, for a progress display.
    pub meter: Option<Meter>,
}

pub const SOCKET: &str = "/var/run/postgresql";

/// A fresh backup id: kind and UTC time, sortable.
pub fn new_id(kind: Kind) -> String {
    format!(
        "{}-{}",
        kind.as_str(),
        Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
    )
}

/// One command whose stdout becomes one stored object.
pub(super) struct Job<'a> {
    pub(super) component: &'a str,
    pub(super) argv: Vec<String>,
    pub(super) key: &'a str,
    pub(super) compression: Compression,
    pub(super) inspect: Inspect<'a>,
}

/// What streaming a job's output stored: its object, and what the pipeline saw in it.
pub(super) struct Streamed {
    pub(super) entry: ObjectEntry,
    members: Vec<(String, Vec<u8>)>,
    files: Vec<FileDigest>,
}

/// Streams the job's stdout into its key.
pub(super) async fn stream_object<S: ObjectStore, R: Runner>(
    store: &S,
    runner: &R,
    t: &Target,
    job: Job<'_>,
) -> Result<Streamed, ProtectError> {
    let Job {
        component,
        argv,
        key,
        compression,
        inspect,
    } = job;
    let tool = argv.first().cloned().unwrap_or_default();
    // `timeout` in the container kills the tool itself when the job overruns.
    let mut full = vec![
        "timeout".to_string(),
        format!("{}s", t.timeout.as_secs().max(1)),
    ];
    full.extend(argv);
    let (raw_tx, out_rx, encoder) =
        pipeline::spawn(compression, inspect, t.key.clone(), t.meter.clone());
    let run = runner.run(component, full, raw_tx);
    let put = store.put(key, out_rx);
    let (run, put) = tokio::join!(run, put);
    let encoded = encoder
        .await
        .map_err(|e| ProtectError::Io(e.to_string()))??;
    let run = run?;
    if run.exit_code == 124 {
        let _ = store.delete(key).await;
        return Err(ProtectError::Tool {
            tool,
            code: 124,
            stderr: format!(
                "killed after the backup timeout of {}s",
                t.timeout.as_secs()
            ),
        });
    }
    if run.exit_code != 0 {
        let _ = store.delete(key).await;
        return Err(ProtectError::Tool {
            tool,
            code: run.exit_code,
            stderr: run.stderr.trim().to_string(),
        });
    }
    let size = put?;
    let name = key.rsplit('/').next().unwrap_or(key).to_string();
    Ok(Streamed {
        entry: ObjectEntry {
            name,
            size,
            raw_size: encoded.raw_size,
            sha256: encoded.sha256,
            database: None,
        },
        members: encoded.members,
        files: encoded.files,
    })
}

/// Stores a small in-memory object, returning its entry.
async fn put_small<S: ObjectStore>(
    store: &S,
    key: &str,
    data: Vec<u8>,
) -> Result<ObjectEntry, ProtectError> {
    use sha2::Digest;
    let sha256 = hex::encode(sha2::Sha256::digest(&data));
    let raw_size = data.len() as u64;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let _ = tx.send(bytes::Bytes::from(data)).await;
    drop(tx);
    let size = store.put(key, rx).await?;
    Ok(ObjectEntry {
        name: key.rsplit('/').next().unwrap_or(key).to_string(),
        size,
        raw_size,
        sha256,
        database: None,
    })
}

pub(super) async fn versions<R: Runner>(
    runner: &R,
    t: &Target,
    tools: &[&str],
) -> Result<(String, BTreeMap<String, String>), ProtectError> {
    let pg = capture(runner, "database", psql(t, "SHOW server_version")).await?;
    let mut out = BTreeMap::new();
    for tool in tools {
        let v = capture(
            runner,
            "database",
            vec![tool.to_string(), "--version".into()],
        )
        .await?;
        out.insert(tool.to_string(), v);
    }
    Ok((pg, out))
}

pub(super) fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub(super) fn psql(t: &Target, sql: &str) -> Vec<String> {
    psql_argv(&t.db_user, &t.db_name, &[sql])
}

/// `psql` over the server's local socket, tuples only, one `-c` per command (each runs in
/// its own transaction, as `ALTER SYSTEM` requires).
/// The database system identifier of the cluster (what its WAL carries); None when it
/// cannot be read.
pub async fn system_identifier<R: Runner>(runner: &R, user: &str, db: &str) -> Option<u64> {
    let sql = "SELECT system_identifier FROM pg_control_system()";
    capture(runner, "database", psql_argv(user, db, &[sql]))
        .await
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub fn psql_argv(user: &str, db: &str, commands: &[&str]) -> Vec<String> {
    let mut argv = args(&["psql", "-h", SOCKET, "-U", user, "-d", db, "-XtA"]);
    for c in commands {
        argv.push("-c".into());
        argv.push(c.to_string());
    }
    argv
}

/// A physical base backup of the whole cluster (self-contained: WAL included, `-X fetch`).
pub async fn base_backup<S: ObjectStore, R: Runner>(
    store: &S,
    runner: &R,
    t: &Target,
) -> Result<Manifest, ProtectError> {
    let id = new_id(Kind::Base);
    let started_at = Utc::now();
    let (pg_version, tools) = versions(runner, t, &["pg_basebackup"]).await?;
    let dir = Manifest::dir(&t.stack, Kind::Base, &id);
    // The backup_manifest's per-file checksums are CRC32C (PostgreSQL's default), enough
    // for pg_verifybackup to name a damaged file; the stored object has its own sha256.
    // SHA256 there cost the server ~2 s of CPU per GB, on the cores zstd needs.
    let argv: Vec<String> = args(&[
        "pg_basebackup",
        "-h",
        SOCKET,
        "-U",
        &t.db_user,
        "-D",
        "-",
        "-Ft",
        "-X",
        "fetch",
        "--checkpoint=fast",
        "--manifest-checksums=CRC32C",
        "-l",
        &format!("appstack {id}"),
    ]);
    let Streamed { entry, members, .. } = stream_object(
        store,
        runner,
        t,
        Job {
            component: "database",
            argv,
            key: &format!("{dir}/base.tar.zst"),
            compression: Compression::Zstd(t.compression_level),
            inspect: Inspect::Members(&["backup_label", "backup_manifest"]),
        },
    )
    .await?;
    let label = members
        .iter()
        .find(|(n, _)| n == "backup_label")
        .map(|(_, d)| String::from_utf8_lossy(d).to_string())
        .unwrap_or_default();
    let pg_manifest = members
        .into_iter()
        .find(|(n, _)| n == "backup_manifest")
        .map(|(_, d)| d);
    let start_lsn = label_field(&label, "START WAL LOCATION:")
        .map(|v| v.split_whitespace().next().unwrap_or("").to_string());
    let timeline = label_field(&label, "START TIMELINE:").and_then(|v| v.trim().parse().ok());
    let mut objects = vec![entry];
    let mut stop_lsn = None;
    if let Some(pm) = pg_manifest {
        stop_lsn = serde_json::from_slice::<serde_json::Value>(&pm)
            .ok()
            .and_then(|v| v["WAL-Ranges"][0]["End-LSN"].as_str().map(String::from));
        objects.push(put_small(store, &format!("{dir}/backup_manifest"), pm).await?);
    }
    let mut manifest = finished(t, id, Kind::Base, started_at, objects);
    manifest.pg_version = Some(pg_version);
    manifest.system_id = system_identifier(runner, &t.db_user, &t.db_name).await;
    manifest.tools = tools;
    manifest.start_lsn = start_lsn;
    manifest.stop_lsn = stop_lsn;
    manifest.timeline = timeline;
    manifest.save(store).await?;
    Ok(manifest)
}

/// The manifest of a backup that just finished; callers add what their kind knows.
pub(super) fn finished(
    t: &Target,
    id: String,
    kind: Kind,
    started_at: chrono::DateTime<Utc>,
    objects: Vec<ObjectEntry>,
) -> Manifest {
    Manifest {
        format: FORMAT,
        id,
        kind,
        stack: t.stack.clone(),
        started_at,
        finished_at: Utc::now(),
        start_lsn: None,
        stop_lsn: None,
        timeline: None,
        pg_version: None,
        tools: BTreeMap::new(),
        compression: format!("zstd:{}", t.compression_level),
        encryption_key_id: t.key.as_ref().map(Key::id),
        objects,
        files: Vec::new(),
        system_id: None,
    }
}

fn label_field<'a>(label: &'a str, key: &str) -> Option<&'a str> {
    label
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
}

/// The CMS uploads directory as a tar.
pub async fn files<S: ObjectStore, R: Runner>(
    store: &S,
    runner: &R,
    t: &Target,
) -> Result<Manifest, ProtectError> {
    let path = t.uploads_path.clone().ok_or_else(|| {
        ProtectError::Config("spec.cms.uploads: the CMS keeps its uploads in an S3 bucket, not on a volume: appstack does not copy the bucket; turn on the bucket's versioning (and replication) to protect them (see docs/data-protection.md)".into())
    })?;
    let id = new_id(Kind::Files);
    let started_at = Utc::now();
    let dir = Manifest::dir(&t.stack, Kind::Files, &id);
    let argv = args(&["tar", "-C", &path, "-cf", "-", "."]);
    // Every file's sha256 goes into the manifest: a restore proves it brought them back.
    let Streamed { entry, files, .. } = stream_object(
        store,
        runner,
        t,
        Job {
            component: "cms",
            argv,
            key: &format!("{dir}/uploads.tar.zst"),
            compression: Compression::Zstd(t.compression_level),
            inspect: Inspect::FileDigests,
        },
    )
    .await?;
    let mut manifest = finished(t, id, Kind::Files, started_at, vec![entry]);
    manifest.files = files;
    manifest.save(store).await?;
    Ok(manifest)
}
