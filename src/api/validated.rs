//! `ValidatedStack`: the spec after defaults and validation, with every value parsed into
//! its type. Renderers start from here and never read the raw spec.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

pub use super::spec::{Persistence, WalMode};

/// CPU and memory limits, parsed; `None` leaves the plan's default for the component.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    pub cpu_millis: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub memory_request_bytes: Option<u64>,
}

/// An HTTP component (frontend, CMS).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpApp {
    pub image: String,
    pub port: u16,
    pub replicas: u32,
    pub env: BTreeMap<String, String>,
    pub health_path: String,
    pub depends_on: Vec<String>,
    pub resources: Resources,
    /// `appstack deploy --migrate`'s command (empty: none).
    pub migrate: Vec<String>,
}

/// Where CMS uploads live.
#[derive(Debug, Clone, PartialEq)]
pub enum Uploads {
    Volume {
        size_bytes: u64,
        path: String,
    },
    S3 {
        bucket: String,
        prefix: Option<String>,
        endpoint: Option<String>,
        region: String,
        path: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cms {
    pub app: HttpApp,
    pub uploads: Uploads,
    /// Canonical addresses and CIDR ranges; None: not managed by appstack.
    pub admin_allowlist: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Database {
    pub image: String,
    pub version: u32,
    pub extensions: Vec<String>,
    pub storage_bytes: u64,
    pub max_connections: u32,
    pub name: String,
    pub user: String,
    pub parameters: BTreeMap<String, String>,
    pub resources: Resources,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cache {
    pub image: String,
    pub maxmemory_bytes: u64,
    pub maxmemory_policy: String,
    pub persistence: Persistence,
    pub resources: Resources,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub image: String,
    pub command: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub port: Option<u16>,
    pub health_command: Option<Vec<String>>,
    pub depends_on: Vec<String>,
    pub replicas: u32,
    pub resources: Resources,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub component: String,
    pub host_port: u16,
    pub bind: IpAddr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ingress {
    pub host: Option<String>,
    pub cms_host: Option<String>,
    pub class_name: Option<String>,
    pub tls: Option<Tls>,
    /// Docker mode's edge proxy; None when disabled or without a host to serve.
    pub edge: Option<Edge>,
}

/// How the edge gets its certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeTls {
    /// ACME (Let's Encrypt / ZeroSSL) for public host names.
    Acme { email: Option<String> },
    /// The edge's own certificate authority.
    Internal,
    /// Plain HTTP (`tls.enabled: false`).
    Off,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub image: String,
    pub http_port: u16,
    pub https_port: u16,
    pub bind: IpAddr,
    pub tls: EdgeTls,
    /// Headers over the defaults; an empty value removes one.
    pub headers: BTreeMap<String, String>,
    pub content_security_policy: Option<String>,
    /// Seconds a replaced upstream keeps its in-flight requests before it is stopped.
    pub drain_secs: u32,
    /// The 503 page during `deploy --maintenance` (None: the default page).
    pub maintenance_page: Option<String>,
}

impl Edge {
    /// The edge's address as a client on this host reaches it: loopback unless it binds one
    /// other address.
    pub fn local_ip(&self) -> IpAddr {
        if self.bind.is_unspecified() || self.bind.is_loopback() {
            IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        } else {
            self.bind
        }
    }

    /// Whether the edge terminates HTTPS (ACME or its own CA) rather than plain HTTP.
    pub fn serves_https(&self) -> bool {
        self.tls != EdgeTls::Off
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tls {
    pub secret_name: String,
    pub cluster_issuer: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prometheus {
    pub image: String,
    pub retention: Duration,
    pub retention_text: String,
    pub scrape_interval: Duration,
    pub resources: Resources,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alertmanager {
    pub image: String,
    pub webhook_url: Option<String>,
    pub dedup_window: Duration,
    pub resources: Resources,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Monitoring {
    pub prometheus: Option<Prometheus>,
    pub node_exporter_image: Option<String>,
    pub alertmanager: Option<Alertmanager>,
    /// None when disabled or when there is no HTTP component to probe.
    pub blackbox_image: Option<String>,
    /// None when disabled or when the stack has no database.
    pub postgres_exporter_image: Option<String>,
    /// None when disabled or when the stack has no cache.
    pub redis_exporter_image: Option<String>,
    pub daemon_port: u16,
}

/// Where backups are stored.
#[derive(Debug, Clone, PartialEq)]
pub enum BackupTarget {
    Filesystem {
        path: String,
    },
    S3 {
        bucket: String,
        prefix: String,
        endpoint: Option<String>,
        region: String,
        path_style: bool,
        credentials_secret: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Wal {
    pub mode: WalMode,
    pub ship_interval: Duration,
    pub spool_alert_bytes: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Backup {
    pub target: BackupTarget,
    pub base_backup_schedule: Option<String>,
    pub dump_schedule: Option<String>,
    pub files_schedule: Option<String>,
    pub keep_last: u32,
    pub max_age: Duration,
    pub wal: Option<Wal>,
    pub timeout: Duration,
    pub compression_level: i32,
    pub encryption_key_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    pub rto: Duration,
    pub rpo: Duration,
    pub drill_schedule: Option<String>,
}

/// A table, by schema and name (validated identifiers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub schema: String,
    pub name: String,
}

/// A Redis key holding a job queue, and the backlog above which the check fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub key: String,
    pub max_backlog: u64,
}

/// What `health-check` verifies beyond the components themselves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthChecks {
    /// Empty: no core-tables check.
    pub core_tables: Vec<Table>,
    pub queue: Option<Queue>,
}

/// What `appstack audit` measures and judges against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// The frontend's paths (at least `/`).
    pub routes: Vec<String>,
    /// The CMS API paths of the heavy and peak scenarios.
    pub api_routes: Vec<String>,
    pub queues: Vec<AuditQueue>,
    pub targets: AuditTargets,
}

/// A job queue of the audit: its pending and failed counts, each from Redis or SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQueue {
    pub name: String,
    pub pending: Option<JobCount>,
    pub failed: Option<JobCount>,
}

/// Where a count of jobs comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobCount {
    /// A Redis key: a list, stream, sorted set or set.
    RedisKey(String),
    /// A read-only query returning one number.
    Sql(String),
}

/// The audit's targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditTargets {
    pub ttfb: std::time::Duration,
    pub page: std::time::Duration,
    pub failed_jobs: u64,
    pub missing_indexes: u64,
}

/// A stack that passed validation; the only input of the planner.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedStack {
    pub name: String,
    pub namespace: String,
    pub generation: Option<i64>,
    pub uid: Option<String>,
    pub frontend: Option<HttpApp>,
    pub cms: Option<Cms>,
    pub database: Option<Database>,
    pub cache: Option<Cache>,
    pub services: Vec<Service>,
    pub published: Vec<Published>,
    pub ingress: Option<Ingress>,
    pub monitoring: Monitoring,
    pub backup: Option<Backup>,
    pub recovery: Recovery,
    pub health_check: HealthChecks,
    pub audit: Audit,
    /// The spec as written (before defaults): what the store keeps as the manifest applied.
    pub spec: super::AppStackSpec,
}

impl ValidatedStack {
    /// The manifest as applied, as YAML: what `appstack recover` reads back from the store.
    pub fn manifest_yaml(&self) -> String {
        let doc = serde_json::json!({
            "apiVersion": "appstack.io/v1alpha1",
            "kind": "AppStack",
            "metadata": {"name": self.name},
            "spec": self.spec,
        });
        serde_norway::to_string(&doc).unwrap_or_default()
    }
}
