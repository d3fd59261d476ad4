//! The AppStack resource: one declarative description of a whole web application stack.
//! Every field's doc comment becomes its description in the generated CRD.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::defaults as d;
use super::status::AppStackStatus;

pub mod audit;
mod checks;
mod edge;
mod protection;

pub use audit::*;
pub use checks::*;
pub use edge::*;
pub use protection::*;

/// A web application stack (frontend, CMS, PostgreSQL/PostGIS, Redis, monitoring) and the
/// protection of its data, reconciled as one unit.
// Several printcolumn(type_ = ...) entries look like duplicates to clippy; they are not.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "appstack.io",
    version = "v1alpha1",
    kind = "AppStack",
    namespaced,
    status = "AppStackStatus",
    shortname = "stack",
    derive = "PartialEq",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Last backup",
        type_ = "date",
        json_path = ".status.recoverability.lastBaseBackup"
    ),
    printcolumn(
        name = "RPO",
        type_ = "string",
        json_path = ".status.recoverability.rpoEstimate"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppStackSpec {
    /// The server-side rendered web frontend (Next.js or any HTTP service). Omit for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontend: Option<FrontendSpec>,
    /// The headless CMS / API (Directus or compatible). Requires `database`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cms: Option<CmsSpec>,
    /// The PostgreSQL + PostGIS database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseSpec>,
    /// The Redis cache and queue backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheSpec>,
    /// Additional services of the application (queue workers, schedulers, APIs); at most 100.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub services: Vec<ServiceSpec>,
    /// How the stack is reached from outside: host name, TLS and published ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,
    /// Prometheus, node-exporter and Alertmanager with the users' alert rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<MonitoringSpec>,
    /// Base backups, logical dumps, file backups and continuous WAL shipping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupSpec>,
    /// Recovery objectives and the schedule of disaster-recovery drills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoverySpec>,
    /// Application-specific checks of `appstack health-check` (core tables, queue backlog).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckSpec>,
    /// What `appstack audit` times and loads (the frontend's pages), the job queues it
    /// reports, and the targets it judges against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditSpec>,
}

/// CPU and memory of a component. Unset memory takes the component's default budget
/// (docs/docker.md, "Memory"), so no container can take the host's memory by default.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourcesSpec {
    /// CPU limit as a Kubernetes quantity: cores ("2", "0.5") or millicores ("500m").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Memory limit as a Kubernetes quantity ("512Mi", "2Gi"): the container is OOM-killed
    /// above it. Unset: the component's default limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Memory reserved for the component (Kubernetes request, Docker soft limit), at most
    /// `memory`. Unset: equal to `memory` when that is set, else the component's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_request: Option<String>,
}

/// The web frontend.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FrontendSpec {
    /// Deploy the frontend (default true).
    #[serde(default = "d::enabled")]
    pub enabled: bool,
    /// Container image of the frontend, e.g. `ghcr.io/acme/crm-web:1.4.2`.
    pub image: String,
    /// Port the frontend listens on inside its container.
    #[serde(default = "d::frontend_port")]
    pub port: u16,
    /// Number of replicas (Kubernetes mode; Docker mode runs one).
    #[serde(default = "d::replicas")]
    pub replicas: u32,
    /// Environment variables passed to the frontend.
    #[serde(default = "d::empty_map", skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// HTTP path that answers 200 when the frontend is healthy.
    #[serde(default = "d::frontend_health_path")]
    pub health_path: String,
    /// Components that must be healthy before the frontend starts (default: `cms` when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<String>>,
    /// Command (argv, no shell) `appstack deploy --migrate` runs once, in a one-off container
    /// of the new image with the component's environment and secrets, before the cutover;
    /// the deploy stops unless it exits 0. Example: `["npx", "directus", "database", "migrate:latest"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrate: Option<Vec<String>>,
    /// CPU and memory limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesSpec>,
}

/// The CMS / API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CmsSpec {
    /// Deploy the CMS (default true).
    #[serde(default = "d::enabled")]
    pub enabled: bool,
    /// Container image of the CMS.
    #[serde(default = "d::cms_image")]
    pub image: String,
    /// Port the CMS listens on inside its container.
    #[serde(default = "d::cms_port")]
    pub port: u16,
    /// Number of replicas (Kubernetes mode; Docker mode runs one).
    #[serde(default = "d::replicas")]
    pub replicas: u32,
    /// Environment variables passed to the CMS (database and cache settings are added).
    #[serde(default = "d::empty_map", skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// HTTP path that answers 200 when the CMS and its dependencies are healthy.
    #[serde(default = "d::cms_health_path")]
    pub health_path: String,
    /// Where uploaded files are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploads: Option<UploadsSpec>,
    /// Addresses (`203.0.113.7`) or CIDR ranges (`10.0.0.0/8`, `2001:db8::/32`) the CMS's
    /// administrators may work from. appstack sets them on every Directus policy with admin
    /// access (adding the container's own loopback, from which it makes that call) and, unless
    /// `env` sets `IP_TRUST_PROXY`, turns it off so that a client cannot claim another address
    /// in `X-Forwarded-For`. `health-check` verifies both. Unset: appstack leaves the policies
    /// as they are; `[]` lifts the restriction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_allowlist: Option<Vec<String>>,
    /// Components that must be healthy before the CMS starts (default: database and cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<String>>,
    /// Command (argv, no shell) `appstack deploy --migrate` runs once, in a one-off container
    /// of the new image with the component's environment and secrets, before the cutover;
    /// the deploy stops unless it exits 0. Example: `["npx", "directus", "database", "migrate:latest"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrate: Option<Vec<String>>,
    /// CPU and memory limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesSpec>,
}

/// Where the CMS keeps uploaded files: a volume (default) or an S3 bucket.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadsSpec {
    /// Size of the uploads volume (Kubernetes quantity).
    #[serde(default = "d::uploads_size")]
    pub size: String,
    /// Path of the uploads directory inside the CMS container.
    #[serde(default = "d::uploads_path")]
    pub path: String,
    /// Keep uploads in this S3 bucket instead of a volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Spec>,
}

/// The PostgreSQL + PostGIS database.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatabaseSpec {
    /// Container image; must contain the server and client tools of `version`.
    #[serde(default = "d::database_image")]
    pub image: String,
    /// PostgreSQL major version of the image (13 to 17).
    #[serde(default = "d::database_version")]
    pub version: u32,
    /// Extensions created in the application database at initialisation.
    #[serde(default = "d::database_extensions")]
    pub extensions: Vec<String>,
    /// Size of the data volume (Kubernetes quantity, e.g. `20Gi`).
    #[serde(default = "d::database_storage")]
    pub storage: String,
    /// The server's `max_connections`; the connection alert fires at 90% of it.
    #[serde(default = "d::database_max_connections")]
    pub max_connections: u32,
    /// Name of the application database.
    #[serde(default = "d::database_name")]
    pub name: String,
    /// The database's superuser: appstack's own tools (backups, restores, drills) sign in as
    /// it over the database container's local socket. The CMS signs in as its own role,
    /// `appstack_cms`, which owns the application database without superuser rights.
    #[serde(default = "d::database_user")]
    pub user: String,
    /// Extra server parameters (`postgresql.conf` settings), e.g. `shared_buffers: 256MB`.
    /// `pg_stat_statements` is always added to `shared_preload_libraries` (the audit reads it).
    #[serde(default = "d::empty_map", skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// CPU and memory limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesSpec>,
}

/// Redis persistence mode.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Persistence {
    /// Memory only; nothing survives a restart.
    None,
    /// Periodic RDB snapshots.
    #[default]
    Rdb,
    /// Append-only file, fsync every second.
    Aof,
}

/// The Redis cache and queue backend.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CacheSpec {
    /// Container image of Redis.
    #[serde(default = "d::cache_image")]
    pub image: String,
    /// Redis `maxmemory` as a quantity (e.g. `256Mi`).
    #[serde(default = "d::cache_maxmemory")]
    pub maxmemory: String,
    /// Redis `maxmemory-policy` (e.g. `allkeys-lru`, `noeviction` for queues).
    #[serde(default = "d::cache_policy")]
    pub maxmemory_policy: String,
    /// Persistence mode: none, rdb or aof.
    #[serde(default)]
    pub persistence: Persistence,
    /// CPU and memory limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesSpec>,
}

/// An additional service of the application.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSpec {
    /// Name of the service (DNS label: lowercase letters, digits and `-`).
    pub name: String,
    /// Container image.
    pub image: String,
    /// Arguments passed to the image's entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Environment variables.
    #[serde(default = "d::empty_map", skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Port the service listens on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Exec health check (exit 0 = healthy), e.g. `["pgrep", "worker"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_command: Option<Vec<String>>,
    /// Components that must be healthy before this one starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Number of replicas (Kubernetes mode; Docker mode runs one).
    #[serde(default = "d::replicas")]
    pub replicas: u32,
    /// CPU and memory limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesSpec>,
}

/// A port published on the host (Docker mode) or exposed by the load balancer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublishedPort {
    /// Component whose port is published (`frontend`, `cms`, `prometheus`, ...).
    pub component: String,
    /// Port on the host.
    pub host_port: u16,
    /// Host address to bind (default 127.0.0.1; `0.0.0.0` for every interface).
    #[serde(default = "d::published_bind")]
    pub bind: String,
}

/// TLS settings of the ingress.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsSpec {
    /// Serve HTTPS.
    #[serde(default = "d::enabled")]
    pub enabled: bool,
    /// Kubernetes Secret holding the certificate (type kubernetes.io/tls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// cert-manager ClusterIssuer to request the certificate from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_issuer: Option<String>,
    /// Docker mode: certificates from the edge's own certificate authority instead of
    /// ACME (private host names, tests); clients must trust its root certificate
    /// (`/data/caddy/pki/authorities/local/root.crt` in the edge container).
    #[serde(default)]
    pub internal: bool,
    /// Docker mode: the ACME account's e-mail address (expiry notices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// How the stack is reached.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressSpec {
    /// Public host name (creates a Kubernetes Ingress routing `/` to the frontend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Host name routed to the CMS (e.g. `cms.example.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cms_host: Option<String>,
    /// Kubernetes IngressClass to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// HTTPS settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
    /// Ports published on the host in Docker mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub published_ports: Vec<PublishedPort>,
    /// Docker mode's HTTPS edge proxy (default: on when a host is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<EdgeSpec>,
}
