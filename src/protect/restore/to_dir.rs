//! Restoring into a plain directory (`restore --to-dir`, and the Kubernetes drill pod's
//! `prepare` step): the verified base backup and WAL unpacked by us, set to replay and
//! promote when a PostgreSQL of the same major version starts on the directory.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::Pick;
use super::RestoreError;
use super::{
    concat, fill_on_host, recovery_conf, rt, verified_base, VerifiedBase, PGDATA, PGDATA_DIR,
    WAL_SUBDIR,
};
use crate::api::ValidatedStack;
use crate::docker::host_fill::HostVolume;
use crate::protect::decode::spawn_zstd;
use crate::protect::target::AnyStore;
use crate::protect::wal_fetch;
use crate::protect::ObjectStore;

/// `--to-dir`: the verified backup and WAL unpacked into `dir`, refused when a cluster is
/// there already.
pub(crate) async fn to_dir(
    stack: &ValidatedStack,
    dir: &Path,
    pick: &Pick,
    started: Instant,
) -> Result<(), RestoreError> {
    if stack.database.is_none() {
        return Err(RestoreError::Invalid(
            "spec.database: not set; nothing to restore".into(),
        ));
    }
    let cluster = dir.join(PGDATA_DIR);
    if std::fs::read_dir(&cluster).is_ok_and(|mut d| d.next().is_some()) {
        return Err(RestoreError::Invalid(format!(
            "--to-dir: {} is not empty; restore into an empty directory",
            cluster.display()
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| RestoreError::Invalid(format!("--to-dir: {}: {e}", dir.display())))?;
    let store = Arc::new(crate::protect::store::open_store(stack)?);
    let base = verified_base(&store, stack, pick, &dir.display().to_string()).await?;
    let files = fill_dir(store, stack, &base, dir, pick).await?;
    eprintln!(
        "{} and {files} WAL file(s) restored into {} in {:.1}s; start PostgreSQL {} with PGDATA={} (mounted at {PGDATA}) and it replays, then promotes",
        base.manifest.id,
        cluster.display(),
        started.elapsed().as_secs_f64(),
        base.manifest
            .pg_version
            .as_deref()
            .unwrap_or("(the backup's major version)"),
        cluster.display(),
    );
    Ok(())
}

/// Restores `base` and its WAL into `dir` (a directory of this process, e.g. a pod's
/// emptyDir mounted at the database's data path), set to replay to `pick` and promote.
/// Returns the number of WAL files placed.
pub(crate) async fn fill_dir(
    store: Arc<AnyStore>,
    stack: &ValidatedStack,
    base: &VerifiedBase,
    dir: &Path,
    pick: &Pick,
) -> Result<usize, RestoreError> {
    let object = store
        .get(&base.manifest.object_key("base.tar.zst"))
        .await
        .map_err(rt)?;
    let (tar, decoder) = spawn_zstd(object, base.key.clone());
    let (wal_tar, fetch) = wal_fetch::spawn_tar(
        store,
        stack.name.clone(),
        base.chain.clone(),
        base.wal_key.clone(),
        format!("{WAL_SUBDIR}/"),
    );
    let host = HostVolume::local(dir);
    let recovery = Some(recovery_conf(pick));
    let filled = fill_on_host(&host, concat(tar, wal_tar), recovery).await;
    let decoded = decoder
        .await
        .map_err(|e| RestoreError::Failed(e.to_string()))?;
    let fetched = fetch
        .await
        .map_err(|e| RestoreError::Failed(e.to_string()))?;
    decoded.map_err(rt)?;
    let fetched =
        fetched.map_err(|e| RestoreError::Failed(format!("refusing to replay WAL: {e}")))?;
    filled.map_err(|e| RestoreError::Failed(format!("filling {}: {e}", dir.display())))?;
    Ok(fetched.files)
}
