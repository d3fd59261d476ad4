//! What `appstack audit` measures beyond what the stack's components imply, and the
//! targets its before/after comparison judges against.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The performance audit's routes, job queues and targets.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditSpec {
    /// The frontend's pages to time and to put under load, as absolute paths with an
    /// optional query (`/`, `/listings?page=2`); at most 50. Default: `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<String>>,
    /// The CMS API paths the heavy and peak scenarios of the capacity test send besides the
    /// pages (`/items/articles?limit=20`); at most 50. Default: the CMS's `/server/ping`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_routes: Option<Vec<String>>,
    /// Job queues whose backlog and failed jobs the audit reports; at most 20.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<AuditQueueSpec>,
    /// The targets of the audit's verdicts and of `--compare`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<AuditTargetsSpec>,
}

/// A job queue: Redis keys (lists, streams, sorted sets or sets) or SQL counts.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditQueueSpec {
    /// The queue's name in the report.
    pub name: String,
    /// The Redis key holding pending jobs (needs `spec.cache`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The Redis key holding failed jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_key: Option<String>,
    /// A read-only SQL query returning one number, the pending jobs (instead of `key`;
    /// run in a read-only transaction in the stack's database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_sql: Option<String>,
    /// A read-only SQL query returning one number, the failed jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_sql: Option<String>,
}

/// Targets the audit judges its measurements against (the users' own: TTFB under 150 ms,
/// a page under 2 s, no failed job, no missing index).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditTargetsSpec {
    /// The p95 time to first byte of each route (default `150ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfb: Option<String>,
    /// The p95 time of a whole page (default `2s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// Failed jobs allowed across the queues (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_jobs: Option<u64>,
    /// Missing indexes allowed (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_indexes: Option<u64>,
}
