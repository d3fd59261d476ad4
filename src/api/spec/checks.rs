//! What `appstack health-check` verifies beyond what the stack's components imply.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::super::defaults as d;

/// Application-specific checks of `appstack health-check`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheckSpec {
    /// Tables the application cannot run without, in the stack's database: `table` (schema
    /// `public`) or `schema.table`. Each must exist. Default: Directus' own core tables
    /// (`directus_users`, `directus_collections`, `directus_files`, `directus_settings`)
    /// when the stack has a CMS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core_tables: Option<Vec<String>>,
    /// A job queue kept in Redis whose backlog must stay under a threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueCheckSpec>,
}

/// A Redis key holding pending jobs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueCheckSpec {
    /// The key: a list (LLEN), a stream (XLEN), a sorted set (ZCARD) or a set (SCARD). A
    /// missing key is an empty queue.
    pub key: String,
    /// The check fails when the backlog is above this many entries (default 1000).
    #[serde(default = "d::queue_max_backlog")]
    pub max_backlog: u64,
}
