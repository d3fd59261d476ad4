//! Facts appstack's own pods report into their AppStack's `status.recoverability`: the WAL
//! shipper its heartbeat, newest shipped WAL and spool, a backup job what the store holds
//! after it ran. They only state facts; the operator turns them into the BackupHealthy and
//! WalShipping conditions (it alone also knows what is *missing*), and never writes them.

use chrono::{SecondsFormat, Utc};
use kube::api::{Api, Patch, PatchParams};
use kube::Client;
use serde_json::{json, Value};

use crate::api::quantity::format_duration;
use crate::api::status::RecoverabilityStatus;
use crate::api::AppStack;
use crate::protect::shipper::ShipStatus;

/// Merge-patches `status.recoverability` with `facts`; keys set to null are removed.
pub async fn report(client: &Client, ns: &str, stack: &str, facts: Value) -> kube::Result<()> {
    let api: Api<AppStack> = Api::namespaced(client.clone(), ns);
    let body = json!({ "status": { "recoverability": facts } });
    api.patch_status(stack, &PatchParams::default(), &Patch::Merge(&body))
        .await
        .map(|_| ())
}

/// The shipper's state as status facts (`walError` null clears an earlier failure).
pub fn wal_facts(s: &ShipStatus) -> Value {
    let time =
        |t: Option<chrono::DateTime<Utc>>| t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
    json!({
        "walSyncedAt": time(s.synced_at),
        "lastWalShipped": time(s.newest_wal_at),
        "rpoEstimate": s.rpo_estimate(Utc::now()).map(format_duration),
        "spoolBytes": s.spool_bytes,
        "walError": s.failing_since.map(|since| format!(
            "failing since {}: {}",
            since.to_rfc3339_opts(SecondsFormat::Secs, true),
            s.last_error.as_deref().unwrap_or("unknown error")
        )),
    })
}

/// What the store's catalog says (after a backup job), as status facts.
pub fn catalog_facts(r: &RecoverabilityStatus) -> Value {
    json!({
        "lastBaseBackup": r.last_base_backup,
        "lastDump": r.last_dump,
        "firstRecoverabilityPoint": r.first_recoverability_point,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_reported_and_a_recovery_clears_it() {
        let mut s = ShipStatus {
            synced_at: Some(Utc::now()),
            spool_bytes: 42,
            ..Default::default()
        };
        let ok = wal_facts(&s);
        assert!(ok["walError"].is_null());
        assert_eq!(ok["spoolBytes"], 42);
        assert!(ok["walSyncedAt"].as_str().unwrap().ends_with('Z'));
        s.failing_since = Some(Utc::now());
        s.last_error = Some("connection refused".into());
        let failing = wal_facts(&s);
        assert!(failing["walError"]
            .as_str()
            .unwrap()
            .contains("connection refused"));
    }
}
