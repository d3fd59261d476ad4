//! Uploads come back with the database. The files backup taken at or before the restore's
//! target is unpacked into the restored stack's uploads volume before the CMS starts (by
//! us when the volume's directory is reachable, else by a one-off container of the CMS's
//! image), and the files are checked against the sha256 list its manifest keeps.
//!
//! Uploads and database line up in time only as closely as the files backups are taken:
//! a file uploaded after the last files backup before the target is not in it, while the
//! database (replayed to the target) may already reference it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::{check_helper, pick, RestoreError};
use crate::api::validated::Uploads;
use crate::api::ValidatedStack;
use crate::docker::engine::Exec;
use crate::docker::host_fill::HostVolume;
use crate::docker::BollardEngine;
use crate::plan::names::volume_name;
use crate::plan::{LABEL_COMPONENT, LABEL_MANAGED_BY, LABEL_STACK};
use crate::protect::decode::spawn_zstd;
use crate::protect::manifest::{catalog, Kind, Manifest};
use crate::protect::runner::Runner;
use crate::protect::tar_scan::{FileDigest, TarScan};
use crate::protect::target::AnyStore;
use crate::protect::ObjectStore;

/// The plan's name of the uploads volume.
pub(crate) const UPLOADS_VOLUME: &str = "cms-uploads";
const OBJECT: &str = "uploads.tar.zst";

/// Where the CMS keeps uploads on a volume; None when it keeps them in a bucket or there
/// is no CMS.
pub(crate) fn uploads_path(stack: &ValidatedStack) -> Option<&str> {
    match &stack.cms.as_ref()?.uploads {
        Uploads::Volume { path, .. } => Some(path),
        Uploads::S3 { .. } => None,
    }
}

/// The newest files backup of `stack` that finished at or before `at` (any when None),
/// verified against its sha256.
pub(crate) async fn pick_files(
    store: &AnyStore,
    stack: &str,
    at: Option<DateTime<Utc>>,
) -> Result<Option<Manifest>, RestoreError> {
    let chosen = catalog(store, stack)
        .await?
        .into_iter()
        .rfind(|m| m.kind == Kind::Files && at.is_none_or(|t| m.finished_at <= t));
    match chosen {
        Some(m) => Ok(Some(pick::checked(store, m).await.map_err(|e| {
            RestoreError::Failed(format!("refusing to restore the uploads: {e}"))
        })?)),
        None => Ok(None),
    }
}

/// Unpacks the files backup `m` into the uploads volume of stack `into`. The CMS's
/// container must exist (stopped): its create gave the new volume the image's owner.
pub(crate) async fn fill(
    engine: &BollardEngine,
    store: &AnyStore,
    stack: &ValidatedStack,
    into: &str,
    m: &Manifest,
) -> Result<(), RestoreError> {
    let (Some(path), Some(cms)) = (uploads_path(stack), stack.cms.as_ref()) else {
        return Ok(());
    };
    let key = crate::protect::store::key_for(stack, m)?;
    let object = store.get(&m.object_key(OBJECT)).await?;
    let (tar, decoder) = spawn_zstd(object, key);
    let volume = volume_name(into, UPLOADS_VOLUME);
    let filled = match HostVolume::open(engine, &volume).await? {
        Some(v) => v
            .unpack("", tar)
            .await
            .map(|_| ())
            .map_err(|e| RestoreError::Failed(format!("unpacking the uploads: {e}"))),
        None => {
            let labels = HashMap::from([
                (LABEL_STACK.to_string(), into.to_string()),
                (LABEL_MANAGED_BY.to_string(), "appstack".to_string()),
                (LABEL_COMPONENT.to_string(), "restore".to_string()),
            ]);
            let script = format!("set -e; tar -x -C '{path}'");
            let out = engine
                .run_with_stdin(
                    &format!("{into}-uploads-restore"),
                    &cms.app.image,
                    &script,
                    vec![(volume, path.to_string())],
                    labels,
                    tar,
                )
                .await?;
            check_helper("unpacking the uploads", out)
        }
    };
    let decoded = decoder
        .await
        .map_err(|e| RestoreError::Failed(e.to_string()))?;
    filled?;
    decoded.map_err(|e| RestoreError::Failed(format!("reading uploads backup {}: {e}", m.id)))?;
    eprintln!(
        "uploads restored from files backup {} ({} file(s))",
        m.id,
        m.files.len()
    );
    Ok(())
}

/// Unpacks the files backup `m` into directory `dir` of this process (the Kubernetes
/// drill pod's volume), returning the files found there afterwards.
pub async fn fill_dir(
    store: &AnyStore,
    stack: &ValidatedStack,
    m: &Manifest,
    dir: &std::path::Path,
) -> Result<Vec<FileDigest>, RestoreError> {
    let key = crate::protect::store::key_for(stack, m)?;
    let object = store.get(&m.object_key(OBJECT)).await?;
    let (tar, decoder) = spawn_zstd(object, key);
    let unpacked = HostVolume::local(dir).unpack("", tar).await;
    decoder
        .await
        .map_err(|e| RestoreError::Failed(e.to_string()))?
        .map_err(|e| RestoreError::Failed(format!("reading uploads backup {}: {e}", m.id)))?;
    unpacked.map_err(|e| RestoreError::Failed(format!("unpacking the uploads: {e}")))?;
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || digests_of_dir(&dir))
        .await
        .map_err(|e| RestoreError::Failed(e.to_string()))?
        .map_err(|e| RestoreError::Failed(format!("reading the restored uploads: {e}")))
}

/// Every regular file under `root`, with its sha256 (paths relative to `root`).
fn digests_of_dir(root: &std::path::Path) -> std::io::Result<Vec<FileDigest>> {
    use sha2::{Digest, Sha256};
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                todo.push(entry.path());
            } else if kind.is_file() {
                let mut h = Sha256::new();
                let mut f = std::fs::File::open(entry.path())?;
                let size = std::io::copy(&mut f, &mut h)?;
                let path = entry.path();
                let rel = path.strip_prefix(root).unwrap_or(&path);
                out.push(FileDigest {
                    path: rel.to_string_lossy().to_string(),
                    size,
                    sha256: hex::encode(h.finalize()),
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Before an in-place restore replaces the uploads: a files backup of them as they are.
/// False — the uploads are then left as they are — when the CMS does not run to read them.
pub(crate) async fn safety_backup(
    engine: &std::sync::Arc<BollardEngine>,
    stack: &ValidatedStack,
    store: &AnyStore,
) -> Result<bool, RestoreError> {
    let runner = crate::protect::runner::DockerRunner {
        engine: engine.clone(),
        stack: stack.name.clone(),
    };
    let target = crate::protect::store::backup_target(stack)?;
    match crate::protect::jobs::take_one(store, &runner, &target, Kind::Files).await {
        Ok(m) => {
            eprintln!("safety backup of the uploads as they were: {}", m.id);
            Ok(true)
        }
        Err(e) => {
            eprintln!("warning: the uploads could not be backed up first ({e}), so they are left as they are; restore them later with the CMS running");
            Ok(false)
        }
    }
}

/// Every regular file under `path` in the CMS's container, with its sha256.
pub async fn digests<R: Runner>(runner: &R, path: &str) -> Result<Vec<FileDigest>, RestoreError> {
    let (tx, mut rx) = mpsc::channel::<bytes::Bytes>(8);
    let argv = ["tar", "-C", path, "-cf", "-", "."]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let scan = tokio::spawn(async move {
        let mut scan = TarScan::file_digests();
        while let Some(chunk) = rx.recv().await {
            scan.feed(&chunk);
        }
        scan.into_files()
    });
    let out = runner.run("cms", argv, tx).await?;
    let files = scan
        .await
        .map_err(|e| RestoreError::Failed(e.to_string()))?;
    if out.exit_code != 0 {
        return Err(RestoreError::Failed(format!(
            "reading the uploads in the CMS's container failed (exit {}): {}",
            out.exit_code,
            out.stderr.trim()
        )));
    }
    Ok(files)
}

/// Files the CMS itself rewrites in its storage root, which no restore can match: Directus'
/// storage health check writes `directus-health-file` at every detailed health call.
const CMS_OWN_FILES: [&str; 1] = ["directus-health-file"];

/// What differs between the files a backup listed and those found: missing or changed
/// paths (at most a few named).
pub fn compare(expected: &[FileDigest], found: &[FileDigest]) -> Result<usize, String> {
    let expected: Vec<&FileDigest> = expected
        .iter()
        .filter(|f| !CMS_OWN_FILES.contains(&f.path.as_str()))
        .collect();
    let found: BTreeMap<&str, &str> = found
        .iter()
        .map(|f| (f.path.as_str(), f.sha256.as_str()))
        .collect();
    let wrong: Vec<String> = expected
        .iter()
        .filter_map(|f| match found.get(f.path.as_str()) {
            None => Some(format!("{} is missing", f.path)),
            Some(sha) if *sha != f.sha256 => Some(format!("{} differs", f.path)),
            Some(_) => None,
        })
        .collect();
    if wrong.is_empty() {
        return Ok(expected.len());
    }
    let shown: Vec<&str> = wrong.iter().take(5).map(String::as_str).collect();
    Err(format!(
        "{} of {} uploaded file(s) do not match the files backup: {}{}",
        wrong.len(),
        expected.len(),
        shown.join(", "),
        if wrong.len() > shown.len() {
            ", …"
        } else {
            ""
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(path: &str, sha: &str) -> FileDigest {
        FileDigest {
            path: path.into(),
            size: 1,
            sha256: sha.into(),
        }
    }

    #[tokio::test]
    async fn a_files_backup_unpacks_into_a_directory_and_matches_its_digests() {
        use crate::protect::manifest::{ObjectEntry, FORMAT};
        let dir = tempfile::tempdir().unwrap();
        let store = AnyStore::Fs(crate::protect::FsStore::new(dir.path().join("store")));
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in [
            ("./a.png", vec![3u8; 5000]),
            ("./sub/b.txt", b"hello".to_vec()),
        ] {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data.as_slice()).unwrap();
        }
        let raw = b.into_inner().unwrap();
        let mut scan = TarScan::file_digests();
        scan.feed(&raw);
        let files = scan.into_files();
        let packed = zstd::encode_all(raw.as_slice(), 3).unwrap();
        let m = Manifest {
            format: FORMAT,
            id: "files-1".into(),
            kind: Kind::Files,
            stack: "s".into(),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            start_lsn: None,
            stop_lsn: None,
            timeline: None,
            pg_version: None,
            tools: Default::default(),
            compression: "zstd:3".into(),
            encryption_key_id: None,
            objects: vec![ObjectEntry {
                name: OBJECT.into(),
                size: packed.len() as u64,
                raw_size: raw.len() as u64,
                sha256: String::new(),
                database: None,
            }],
            system_id: None,
            files: files.clone(),
        };
        let (tx, rx) = mpsc::channel(1);
        tx.send(bytes::Bytes::from(packed)).await.unwrap();
        drop(tx);
        store.put(&m.object_key(OBJECT), rx).await.unwrap();
        let stack = crate::api::load_validated(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/quickstart.yaml"
        )))
        .unwrap()
        .1;
        let target = dir.path().join("uploads");
        std::fs::create_dir_all(&target).unwrap();
        let found = fill_dir(&store, &stack, &m, &target).await.unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(compare(&files, &found), Ok(2));
        assert_eq!(std::fs::read(target.join("sub/b.txt")).unwrap(), b"hello");
    }

    #[test]
    fn compare_names_missing_and_changed_files() {
        let want = [
            f("a", "1"),
            f("b", "2"),
            f("c", "3"),
            f("directus-health-file", "4"),
        ];
        assert_eq!(
            compare(&want, &[f("a", "1"), f("b", "2"), f("c", "3")]),
            Ok(3)
        );
        let err = compare(&want, &[f("a", "1"), f("b", "9")]).unwrap_err();
        assert!(err.starts_with("2 of 3 uploaded file(s)"), "{err}");
        assert!(
            err.contains("b differs") && err.contains("c is missing"),
            "{err}"
        );
    }
}
