//! Continuous WAL: the receiver (`pg_receivewal` on a replication slot, streaming into a
//! spool volume; it runs from the database image, so the tool always matches the server's
//! major version) and the shipper (appstack draining the spool into the store: a container
//! of the appstack image in Kubernetes and the compose export, the daemon itself in Docker
//! mode). Their interval, spool and command are decided here, once, for every renderer.

use super::app_role::{self, REPLICATION_PASSWORD_PATH};
use super::build::{component, env, health, secret_mount};
use super::*;
use crate::api::defaults as d;
use crate::api::validated::{self as v, ValidatedStack, WalMode};

pub const WAL_RECEIVER: &str = "wal-receiver";
pub const WAL_SPOOL_VOLUME: &str = "wal-spool";
/// Inside the container; the image must let its user write here (ours: owned by postgres).
pub const SPOOL_PATH: &str = "/var/lib/postgresql/spool";
pub const SLOT: &str = "appstack";
/// Written by the receiver's start script on a scratch mount in memory (never the
/// container's layer); its health probe's psql reads it too.
const PGPASS_DIR: &str = "/run/appstack";
const PGPASS_PATH: &str = "/run/appstack/pgpass";
pub const WAL_SHIPPER: &str = "wal-shipper";
/// appstack's own image, which runs the shipper (renderers that know better, such as the
/// operator with its `--operator-image`, put theirs in its place).
pub const APPSTACK_IMAGE: &str = concat!("appstack/appstack:", env!("CARGO_PKG_VERSION"));

/// What drains the spool into the store, and how often.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalShipper {
    /// The shipper as a container: `appstack wal ship --spool …` on the spool volume. A
    /// renderer adds how the process finds its stack (`--stack`/`--namespace` in a cluster,
    /// `-f` with the exported manifest) and how it reaches the store (`Plan::store`).
    pub component: Component,
    /// The open segment is shipped this often, complete ones at once (milliseconds).
    pub interval_ms: u64,
    /// The spool volume and where the shipper sees it.
    pub spool_volume: String,
    pub spool_path: String,
    /// Spool bytes above which an alert is raised.
    pub alert_bytes: u64,
}

impl WalShipper {
    pub fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.interval_ms)
    }
}

/// Whether the stack streams WAL (a database, backups on, `wal.mode: stream`).
pub fn streams(stack: &ValidatedStack) -> bool {
    stack.database.is_some()
        && stack
            .backup
            .as_ref()
            .and_then(|b| b.wal.as_ref())
            .is_some_and(|w| w.mode == WalMode::Stream)
}

/// The shipper of a stack that streams WAL (after its receiver).
pub(super) fn wal_shipper(stack: &ValidatedStack) -> Option<WalShipper> {
    let wal = stack.backup.as_ref()?.wal.as_ref()?;
    if !streams(stack) {
        return None;
    }
    let mut c = component(
        stack,
        WAL_SHIPPER,
        Role::Backup,
        APPSTACK_IMAGE,
        v::Resources::default(),
    );
    c.args = Some(
        ["wal", "ship", "--spool", SPOOL_PATH]
            .map(String::from)
            .to_vec(),
    );
    // It reads and removes the receiver's files (the database user's, 0600) as root.
    c.capabilities = vec!["DAC_OVERRIDE".into()];
    c.mounts = vec![Mount::Volume {
        volume: WAL_SPOOL_VOLUME.into(),
        path: SPOOL_PATH.into(),
    }];
    c.depends_on = vec![Dependency {
        component: WAL_RECEIVER.into(),
        condition: Condition::Started,
    }];
    Some(WalShipper {
        component: c,
        interval_ms: u64::try_from(wal.ship_interval.as_millis()).unwrap_or(u64::MAX),
        spool_volume: WAL_SPOOL_VOLUME.into(),
        spool_path: SPOOL_PATH.into(),
        alert_bytes: wal.spool_alert_bytes,
    })
}

/// The receiver and its spool, when the stack streams WAL.
pub(super) fn wal_receiver(
    stack: &ValidatedStack,
    db: &v::Database,
) -> Option<(Component, Volume)> {
    let wal = stack.backup.as_ref()?.wal.as_ref()?;
    if wal.mode != WalMode::Stream {
        return None;
    }
    let mut c = component(
        stack,
        WAL_RECEIVER,
        Role::Backup,
        &db.image,
        v::Resources::default(),
    );
    // The slot makes the server keep WAL the receiver has not flushed, so a restarted
    // receiver resumes where it stopped; the partial file is never deleted by the shipper,
    // so pg_receivewal finds its position in the spool.
    let script = format!(
        "set -eu\n\
         umask 077\n\
         printf '*:*:*:*:%s\\n' \"$(cat {REPLICATION_PASSWORD_PATH})\" > \"$PGPASSFILE\"\n\
         pg_receivewal --slot={SLOT} --create-slot --if-not-exists\n\
         exec pg_receivewal --slot={SLOT} --directory={SPOOL_PATH} --status-interval=1\n"
    );
    c.args = Some(vec!["bash".into(), "-c".into(), script]);
    c.env = env([
        ("PGHOST", format!("{}-database", stack.name)),
        ("PGPORT", d::DATABASE_PORT.to_string()),
        ("PGUSER", app_role::REPLICATION_ROLE.into()),
        ("PGPASSFILE", PGPASS_PATH.into()),
    ]);
    c.secrets = vec![secret_mount(
        "database",
        "replication-password",
        REPLICATION_PASSWORD_PATH,
        None,
    )];
    c.mounts = vec![
        Mount::Volume {
            volume: WAL_SPOOL_VOLUME.into(),
            path: SPOOL_PATH.into(),
        },
        Mount::Scratch {
            name: "receiver-scratch".into(),
            path: PGPASS_DIR.into(),
        },
    ];
    // Streaming: the open segment exists in the spool or, on an idle server right after a
    // segment completed (no next segment until the next write), the slot is in use.
    c.health = Some(health(
        vec![format!(
            "ls {SPOOL_PATH}/*.partial >/dev/null 2>&1 || \
             [ \"$(psql -XAtq -d postgres -c \"select active from pg_replication_slots where slot_name = '{SLOT}'\")\" = t ]"
        )],
        true,
        30_000,
    ));
    c.depends_on = vec![Dependency {
        component: "database".into(),
        condition: Condition::Healthy,
    }];
    Some((
        c,
        Volume {
            name: WAL_SPOOL_VOLUME.into(),
            size_bytes: wal.spool_alert_bytes.saturating_mul(2),
        },
    ))
}
