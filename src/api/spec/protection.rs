//! The spec's protection and observation sections: monitoring, backups, recovery.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

/// One monitoring component.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusSpec {
    /// Deploy Prometheus (default true).
    #[serde(default = "d::enabled")]
    pub enabled: bool,
    /// Container image of Prometheus.
    #[serde(default = "d::prometheus_image")]
    pub image: String,
    /// How long samples are kept (e.g. `15d`).
    #[serde(default = "d::prometheus_retention")]
    pub retention: String,
    /// Scrape interval (e.g. `15s`).
    #[serde(default = "d::prometheus_scrape_interval")]
    pub scrape_interval: String,
    /// CPU and memory of Prometheus (memory grows with the number of series).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesSpec>,
}

/// node-exporter settings (host metrics).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeExporterSpec {
    /// Deploy node-exporter (default true).
    #[serde(default = "d::enabled")]
    pub enabled: bool,
    /// Container image of node-exporter.
    #[serde(default = "d::node_exporter_image")]
    pub image: String,
}

/// Alertmanager settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertmanagerSpec {
    /// Deploy Alertmanager (default true).
    #[serde(default = "d::enabled")]
    pub enabled: bool,
    /// Container image of Alertmanager.
    #[serde(default = "d::alertmanager_image")]
    pub image: String,
    /// A webhook alerts are sent to besides the log: a Slack incoming webhook
    /// (`https://hooks.slack.com/...`) or a Discord one (`https://discord.com/api/webhooks/...`)
    /// gets its own message format; any other URL gets Alertmanager's webhook JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// One incident gives one notification per window (and one when it resolves); an alert
    /// still firing is repeated once per window (e.g. `10m`).
    #[serde(default = "d::alert_dedup_window")]
    pub dedup_window: String,
    /// CPU and memory of Alertmanager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesSpec>,
}

/// An exporter Prometheus scrapes (blackbox, PostgreSQL, Redis).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExporterSpec {
    /// Deploy this exporter (default true when the component it measures exists).
    #[serde(default = "d::enabled")]
    pub enabled: bool,
    /// Container image; unset: the upstream image of the version appstack is tested with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// Monitoring of the stack.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MonitoringSpec {
    /// Deploy monitoring at all (default true).
    #[serde(default = "d::enabled")]
    pub enabled: bool,
    /// Prometheus settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSpec>,
    /// node-exporter settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_exporter: Option<NodeExporterSpec>,
    /// Alertmanager settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alertmanager: Option<AlertmanagerSpec>,
    /// The blackbox exporter, probing each HTTP component's health endpoint (`SiteDown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blackbox_exporter: Option<ExporterSpec>,
    /// The PostgreSQL exporter (connections against `max_connections`, database size,
    /// replication slot retention), signed in as a `pg_monitor` role of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres_exporter: Option<ExporterSpec>,
    /// The Redis exporter, signed in as a read-only ACL user of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_exporter: Option<ExporterSpec>,
    /// Port of appstack's own endpoint that Prometheus scrapes (backup, WAL and drill
    /// metrics) and Alertmanager delivers the alert log to. Docker mode: `appstack run`
    /// serves it on the engine's host gateway (and `--listen` on loopback); Kubernetes: the
    /// operator's Service port (9464 in the chart).
    #[serde(default = "d::daemon_port")]
    pub daemon_port: u16,
}

/// An S3-compatible bucket (AWS, MinIO, R2, B2, Ceph).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct S3Spec {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix inside the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Custom endpoint URL (MinIO, R2, B2, Ceph); AWS when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Region.
    #[serde(default = "d::s3_region")]
    pub region: String,
    /// Use path-style addressing (needed by most S3-compatible stores).
    #[serde(default)]
    pub path_style: bool,
    /// Docker mode: an env file with `AWS_ACCESS_KEY_ID=` and `AWS_SECRET_ACCESS_KEY=` lines.
    /// Kubernetes mode: the name of a Secret with those two entries, passed as environment
    /// to the WAL shipper and the backup jobs. Unset: the environment's own credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,
}

/// A cron schedule of one backup kind.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleSpec {
    /// Run this kind on schedule (default true).
    #[serde(default = "d::enabled")]
    pub enabled: bool,
    /// Cron expression (5 fields, server local time), e.g. `0 2 * * *`.
    pub schedule: String,
}

/// Retention of backups.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetentionSpec {
    /// Keep at least this many base backups.
    #[serde(default = "d::keep_last")]
    pub keep_last: u32,
    /// Delete backups older than this (e.g. `14d`) unless restore still needs them.
    #[serde(default = "d::max_age")]
    pub max_age: String,
}

/// Continuous WAL shipping mode.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WalMode {
    /// `pg_receivewal` on a replication slot; the partial segment is shipped every few seconds.
    #[default]
    Stream,
    /// `archive_command`; RPO bounded by `archive_timeout`.
    Archive,
}

/// Continuous WAL shipping.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WalSpec {
    /// Ship WAL continuously (default true).
    #[serde(default = "d::enabled")]
    pub enabled: bool,
    /// stream (seconds of RPO) or archive.
    #[serde(default)]
    pub mode: WalMode,
    /// How often the partial segment is shipped (stream mode).
    #[serde(default = "d::wal_segment_ship_interval")]
    pub ship_interval: String,
    /// Raise an alert when the local spool passes this size.
    #[serde(default = "d::spool_alert_threshold")]
    pub spool_alert_threshold: String,
}

/// Client-side encryption of backups.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncryptionSpec {
    /// Docker mode: the key file (`appstack backup keygen`). Kubernetes mode: the name of a
    /// Secret holding it in its `key` entry, mounted into the WAL shipper and backup jobs.
    pub key_file: String,
}

/// Data protection of the stack.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupSpec {
    /// Protect the stack's data (default true).
    #[serde(default = "d::enabled")]
    pub enabled: bool,
    /// Where backups go: `file:///path` or `s3://bucket/prefix`. In Kubernetes mode a
    /// `file://` target is a ReadWriteMany claim `<stack>-backup-store` (twice the database's
    /// storage) mounted at that path; prefer `s3://` on a cluster.
    #[serde(default = "d::backup_target")]
    pub target: String,
    /// S3 settings when `target` is `s3://`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Spec>,
    /// Physical base backups (default daily at 02:00).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_backup: Option<ScheduleSpec>,
    /// Logical dumps (default daily at 03:15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dump: Option<ScheduleSpec>,
    /// Uploaded files (default daily at 03:30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<ScheduleSpec>,
    /// Retention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionSpec>,
    /// Continuous WAL shipping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal: Option<WalSpec>,
    /// A backup job running longer than this is killed and reported.
    #[serde(default = "d::backup_timeout")]
    pub timeout: String,
    /// zstd compression level (1 to 19).
    #[serde(default = "d::compression_level")]
    pub compression_level: i32,
    /// Client-side encryption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionSpec>,
}

/// Recovery objectives.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectivesSpec {
    /// Recovery time objective: longest acceptable restore-to-serving time (e.g. `1h`).
    #[serde(default = "d::rto")]
    pub rto: String,
    /// Recovery point objective: largest acceptable data-loss window (e.g. `15m`).
    #[serde(default = "d::rpo")]
    pub rpo: String,
}

/// Disaster-recovery drill schedule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DrillSpec {
    /// Run drills on schedule (default true).
    #[serde(default = "d::enabled")]
    pub enabled: bool,
    /// Cron expression of the drill (default Sundays 04:00).
    #[serde(default = "d::drill_schedule")]
    pub schedule: String,
}

/// Recovery objectives and drills.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecoverySpec {
    /// RTO and RPO the drills measure against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objectives: Option<ObjectivesSpec>,
    /// Drill schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<DrillSpec>,
}
