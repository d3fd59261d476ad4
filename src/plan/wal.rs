//! The WAL receiver: `pg_receivewal` on a replication slot, streaming into a spool volume
//! that the shipper drains into the store. It runs from the database image, so the tool
//! always matches the server's major version.

use super::build::{component, env, health, secret_mount};
use super::*;
use crate::api::defaults as d;
use crate::api::validated::{self as v, ValidatedStack, WalMode};

pub const WAL_RECEIVER: &str = "wal-receiver";
pub const WAL_SPOOL_VOLUME: &str = "wal-spool";
/// Inside the container; the image must let its user write here (ours: owned by postgres).
pub const SPOOL_PATH: &str = "/var/lib/postgresql/spool";
pub const SLOT: &str = "appstack";

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
         printf '*:*:*:*:%s\\n' \"$(cat /run/secrets/database-password)\" > /tmp/pgpass\n\
         export PGPASSFILE=/tmp/pgpass\n\
         pg_receivewal --slot={SLOT} --create-slot --if-not-exists\n\
         exec pg_receivewal --slot={SLOT} --directory={SPOOL_PATH} --status-interval=1\n"
    );
    c.args = Some(vec!["bash".into(), "-c".into(), script]);
    c.env = env([
        ("PGHOST", format!("{}-database", stack.name)),
        ("PGPORT", d::DATABASE_PORT.to_string()),
        ("PGUSER", db.user.clone()),
    ]);
    c.secrets = vec![secret_mount(
        "database",
        "password",
        "/run/secrets/database-password",
        None,
    )];
    c.mounts = vec![Mount::Volume {
        volume: WAL_SPOOL_VOLUME.into(),
        path: SPOOL_PATH.into(),
    }];
    // Streaming has begun once the open segment exists in the spool.
    c.health = Some(health(
        vec![format!("ls {SPOOL_PATH}/*.partial >/dev/null 2>&1")],
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
