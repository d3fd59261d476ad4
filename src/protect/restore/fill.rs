//! Filling a database volume: the tar streams unpacked on this host or in a helper
//! container, and the recovery settings that make PostgreSQL replay and promote.

use bytes::Bytes;
use tokio::sync::mpsc::Receiver;

use super::{rt, Pick, RestoreError, CHOWN_IF_ROOT, PGDATA, PGDATA_DIR};
use crate::api::validated::Database;
use crate::docker::host_fill::HostVolume;
use crate::docker::BollardEngine;
use crate::protect::backup::psql_argv;
use crate::protect::runner::{capture, DockerRunner};

/// The base backup's tar, then (with replay) the WAL's tar under appstack_wal/, unpacked by
/// us into the volume's directory.
pub(crate) async fn fill_on_host(
    v: &HostVolume,
    input: Receiver<Bytes>,
    recovery: Option<String>,
) -> std::io::Result<()> {
    v.private_dir(&format!("{PGDATA_DIR}/{WAL_SUBDIR}"))?;
    v.unpack(PGDATA_DIR, input).await?;
    v.remove_file(&format!("{PGDATA_DIR}/postmaster.pid"))?;
    if let Some(conf) = recovery {
        v.append(&format!("{PGDATA_DIR}/postgresql.auto.conf"), &conf)?;
        v.append(&format!("{PGDATA_DIR}/recovery.signal"), "")?;
    }
    Ok(())
}

/// The same in a one-off container reading the stream on its stdin; extracted with
/// --ignore-zeros, which reads on past the first archive's end.
pub(super) fn fill_script(recovery: Option<String>) -> String {
    let recovery = recovery.map_or_else(String::new, |conf| {
        format!(
            "if [ -L \"$d/postgresql.auto.conf\" ]; then rm -f \"$d/postgresql.auto.conf\"; fi\n\
             cat >> \"$d/postgresql.auto.conf\" <<'APPSTACK_EOF'\n{conf}APPSTACK_EOF\n\
             touch \"$d/recovery.signal\"; "
        )
    });
    format!(
        "set -e; d={PGDATA}; mkdir -p \"$d\" \"$d/{WAL_SUBDIR}\"; chmod 700 \"$d\" \"$d/{WAL_SUBDIR}\"; tar -x -i -C \"$d\"; rm -f \"$d/postmaster.pid\"\n{recovery}{CHOWN_IF_ROOT}"
    )
}

/// `first`'s bytes, then `second`'s.
pub(crate) fn concat(mut first: Receiver<Bytes>, mut second: Receiver<Bytes>) -> Receiver<Bytes> {
    let (tx, out) = tokio::sync::mpsc::channel(2);
    tokio::spawn(async move {
        for rx in [&mut first, &mut second] {
            while let Some(chunk) = rx.recv().await {
                if tx.send(chunk).await.is_err() {
                    return;
                }
            }
        }
    });
    out
}

/// Where the restore puts the WAL to replay, inside the cluster directory.
pub(crate) const WAL_SUBDIR: &str = "appstack_wal";
const RECOVERY_SETTINGS: [&str; 7] = [
    "restore_command",
    "recovery_target",
    "recovery_target_action",
    "recovery_target_timeline",
    "recovery_target_time",
    "recovery_target_xid",
    "recovery_target_inclusive",
];

/// Recovery settings of the restored cluster: WAL from the fetched directory, stay on the
/// backup's timeline, stop at the target time (or the end of the WAL), then promote.
pub(crate) fn recovery_conf(pick: &Pick) -> String {
    let mut conf = format!(
        "# appstack restore (reset after promotion)\n\
         restore_command = 'cp {PGDATA}/{WAL_SUBDIR}/%f \"%p\"'\n\
         recovery_target_timeline = 'current'\n\
         recovery_target_action = 'promote'\n"
    );
    match pick {
        Pick::Time(t) => conf.push_str(&format!(
            "recovery_target_time = '{}'\n",
            t.format("%Y-%m-%d %H:%M:%S%.6f+00")
        )),
        Pick::Xid { xid, .. } => conf.push_str(&format!(
            "recovery_target_xid = '{xid}'\nrecovery_target_inclusive = on\n"
        )),
        // The backup alone: stop as soon as it is consistent.
        Pick::Id(_) => conf.push_str("recovery_target = 'immediate'\n"),
        Pick::Latest => {}
    }
    conf
}

/// The promoted copy is a primary: it must not keep the restore's recovery settings.
pub(super) async fn reset_recovery(
    runner: &DockerRunner<BollardEngine>,
    db: &Database,
) -> Result<(), RestoreError> {
    let mut commands: Vec<String> = RECOVERY_SETTINGS
        .iter()
        .map(|s| format!("ALTER SYSTEM RESET {s}"))
        .collect();
    commands.push("SELECT pg_reload_conf()".into());
    let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
    let argv = psql_argv(&db.user, &db.name, &commands);
    capture(runner, "database", argv).await.map_err(rt)?;
    Ok(())
}
