//! Observed state of an AppStack, shared by Docker mode (`appstack status`) and the operator.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Lifecycle phase of a stack.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    /// Nothing applied yet.
    #[default]
    Pending,
    /// Changes are being applied or components are starting.
    Progressing,
    /// Every component is running and healthy.
    Ready,
    /// A component is failing or unhealthy.
    Degraded,
    /// The spec is invalid; nothing is applied until it changes.
    Invalid,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            Phase::Pending => "Pending",
            Phase::Progressing => "Progressing",
            Phase::Ready => "Ready",
            Phase::Degraded => "Degraded",
            Phase::Invalid => "Invalid",
        };
        f.write_str(text)
    }
}

/// A status condition, as in Kubernetes' `metav1.Condition`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type: Ready, Progressing, Degraded, BackupHealthy, WalShipping, LastDrillPassed.
    #[serde(rename = "type")]
    pub type_: String,
    /// "True", "False" or "Unknown".
    pub status: String,
    /// Machine-readable reason in CamelCase.
    pub reason: String,
    /// Human-readable detail.
    pub message: String,
    /// When `status` last changed (RFC 3339).
    pub last_transition_time: String,
    /// The spec generation this condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// State of one component.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    /// created, running, exited, restarting, missing, ...
    pub state: String,
    /// healthy, unhealthy, starting or none (no health check).
    pub health: String,
    /// Image the component runs.
    pub image: String,
    /// Ready replicas / desired replicas, e.g. "1/1".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<String>,
    /// Restarts done by appstack because the component was unhealthy.
    #[serde(default)]
    pub restarts: u32,
    /// Last error or notable event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Recoverability of the stack's data, in one place.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoverabilityStatus {
    /// Stop time of the newest verified base backup (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_base_backup: Option<String>,
    /// Stop time of the newest logical dump (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_dump: Option<String>,
    /// Time of the newest WAL shipped to the store (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_wal_shipped: Option<String>,
    /// Oldest point the stack can be restored to (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_recoverability_point: Option<String>,
    /// Current RPO estimate: now minus the newest shipped WAL (e.g. "4s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_estimate: Option<String>,
    /// Bytes of WAL waiting in the local spool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spool_bytes: Option<u64>,
    /// Last time the store held every WAL file the shipper had (RFC 3339): its heartbeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_synced_at: Option<String>,
    /// Why WAL shipping fails, while it does (WAL is spooled meanwhile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_error: Option<String>,
    /// The newest DR drill: its verdict and measured RTO and RPO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drill: Option<DrillResult>,
}

/// What a DR drill measured (its full report is `<stack>/drills/<id>.md` in the store).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrillResult {
    /// Drill id (`drill-<UTC time>`).
    pub id: String,
    /// When the drill finished (RFC 3339).
    pub finished_at: String,
    /// Both objectives were met and every smoke check passed.
    pub passed: bool,
    /// Measured RTO: restore start to the restored copy passing its smoke checks (e.g. "42s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto: Option<String>,
    /// Measured RPO: newest source commit at the cut minus newest commit in the copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo: Option<String>,
    /// The verdict in words: figures, objectives missed, or why the drill failed.
    #[serde(default)]
    pub message: String,
}

/// Observed state of an AppStack.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppStackStatus {
    /// Lifecycle phase.
    #[serde(default)]
    pub phase: Phase,
    /// The spec generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions, one per type.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Per-component state, keyed by component name.
    #[serde(default)]
    pub components: BTreeMap<String, ComponentStatus>,
    /// Recoverability of the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recoverability: Option<RecoverabilityStatus>,
}
