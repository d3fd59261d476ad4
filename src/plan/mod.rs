//! The runtime-neutral plan: what every component is (image, command, env, secrets, files,
//! ports, volumes, health check, dependencies, resources, labels). Built once, purely, from a
//! `ValidatedStack`; the Docker driver, the compose exporter and the Kubernetes builders all
//! render from it, so a change to a component is made here and nowhere else.

pub mod alert_rules;
mod app;
pub mod app_role;
pub mod budgets;
mod build;
mod config_files;
pub mod edge;
mod exporters;
mod hash;
pub mod monitoring;
pub mod monitoring_config;
pub mod names;
pub mod rollout;
mod routes;
pub mod rule_tests;
pub mod wal;

pub use build::build;
pub use exporters::monitor_role_sql;
pub use hash::spec_hash;
pub use routes::{IngressPlan, Route, ScheduledJob, StoreAccess, DRILL_SLACK_SECS};

use std::collections::BTreeMap;

use serde::Serialize;

pub const LABEL_STACK: &str = "appstack.io/stack";
pub const LABEL_COMPONENT: &str = "appstack.io/component";
pub const LABEL_SPEC_HASH: &str = "appstack.io/spec-hash";
pub const LABEL_ROLE: &str = "appstack.io/role";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// What a component is for; renderers pick workload kinds and probes by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Database,
    Cache,
    Cms,
    Frontend,
    Service,
    Monitoring,
    /// Data protection (the WAL receiver).
    Backup,
    /// Docker mode's HTTPS entry (Kubernetes: the Ingress).
    Edge,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Database => "database",
            Role::Cache => "cache",
            Role::Cms => "cms",
            Role::Frontend => "frontend",
            Role::Service => "service",
            Role::Monitoring => "monitoring",
            Role::Backup => "backup",
            Role::Edge => "edge",
        }
    }
}

/// When a dependent may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// The dependency's container is running.
    Started,
    /// The dependency passes its health check.
    Healthy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    pub component: String,
    pub condition: Condition,
}

/// How a secret value comes to exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    /// Random alphanumeric of this length, generated once and kept.
    Generated { length: usize },
    /// Text where `${key}` is replaced by another key of the same secret.
    Template { template: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretKey {
    pub key: String,
    pub source: SecretSource,
}

/// A secret of the stack (generated credentials); values never enter the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Secret {
    pub name: String,
    pub keys: Vec<SecretKey>,
}

/// Where every secret file of a component lives: Docker keeps this directory out of the
/// container's layer, so `docker cp`, `commit` and `export` never carry a secret.
pub const SECRETS_DIR: &str = "/run/secrets";

/// A secret key made available to a component as a read-only file (under `SECRETS_DIR`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretMount {
    pub secret: String,
    pub key: String,
    /// Absolute path of the file inside the container.
    pub path: String,
    /// Environment variable that receives `path` (the image's `*_FILE` convention).
    pub env_file_var: Option<String>,
}

/// A non-secret configuration file rendered from the spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigFile {
    /// Short name, unique within the component (a ConfigMap key in Kubernetes).
    pub name: String,
    pub path: String,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Port {
    pub name: String,
    pub container_port: u16,
    /// Published on the host (Docker mode).
    pub publish: Option<Publish>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Publish {
    pub host_ip: String,
    pub host_port: u16,
}

/// A mount of a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Mount {
    /// A named data volume of the stack (survives `down`).
    Volume { volume: String, path: String },
    /// A read-only path of the host (node-exporter's /proc, /sys).
    Host { host_path: String, path: String },
    /// An empty directory in memory, gone when the container stops (Docker tmpfs, a
    /// Kubernetes `emptyDir` of medium Memory): for files derived from secrets at start.
    Scratch { name: String, path: String },
}

/// A data volume; its name is the logical one, renderers prefix the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Volume {
    pub name: String,
    pub size_bytes: u64,
}

/// An exec health check (exit 0 = healthy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthCheck {
    /// Run with `sh -c` when `shell` is true, else exec'd directly.
    pub command: Vec<String>,
    pub shell: bool,
    /// Steady-state period: an idle stack should cost little (each exec costs the engine
    /// ~80 ms of CPU).
    pub interval_ms: u64,
    /// Period while the component starts (Kubernetes startup probe); Docker mode probes
    /// start-up itself (`docker::health`), as API 1.41 has no `start_interval`.
    pub start_interval_ms: u64,
    pub timeout_ms: u64,
    pub retries: u32,
    pub start_period_ms: u64,
    /// The same check as an HTTP GET of the component's own address, for a prober that
    /// reaches it directly (the command stays what the runtime runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpGet>,
}

/// An HTTP health endpoint: any 2xx answer is healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpGet {
    pub port: u16,
    pub path: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Resources {
    pub cpu_millis: Option<u64>,
    /// The hard limit (`budgets` gives every component one).
    pub memory_bytes: Option<u64>,
    /// The reservation: Kubernetes' request, Docker's soft limit.
    pub memory_request_bytes: Option<u64>,
    /// Processes and threads the container may have: a fork bomb or a thread leak stops
    /// there instead of exhausting the host's pids.
    pub pids: u32,
}

/// The sysctl that lets a container's processes bind ports below 1024 without a capability
/// (in the container's own network namespace; the engine's default since 20.10, stated so
/// it does not depend on the engine's version).
pub const UNPRIVILEGED_PORT_START: &str = "net.ipv4.ip_unprivileged_port_start";

impl Component {
    /// The edge binds 80 and 443 inside its container as a non-root user with no
    /// capability.
    pub fn binds_privileged_ports(&self) -> bool {
        self.ports.iter().any(|p| p.container_port < 1024)
    }
}

/// Processes and threads a component may have unless its role needs more (Node, Go and
/// Redis stay far below; PostgreSQL gets one per connection on top).
pub const DEFAULT_PIDS: u32 = 512;

/// One component of the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    pub name: String,
    pub role: Role,
    pub image: String,
    /// Arguments for the image's entrypoint (Docker `Cmd`, Kubernetes `args`).
    pub args: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub secrets: Vec<SecretMount>,
    pub files: Vec<ConfigFile>,
    pub ports: Vec<Port>,
    pub mounts: Vec<Mount>,
    pub health: Option<HealthCheck>,
    pub depends_on: Vec<Dependency>,
    pub resources: Resources,
    pub replicas: u32,
    pub labels: BTreeMap<String, String>,
    /// Seconds to wait after the stop signal before killing.
    pub stop_grace_secs: u32,
    /// Reaches appstack's own endpoint (metrics, alert log) as host `names::daemon_host`.
    pub reaches_daemon: bool,
    /// Runs to completion before the component starts. Absent from the hash when None, so
    /// adding the field recreated nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup: Option<SetupStep>,
    /// The capabilities it keeps: every container drops all others (none for a component
    /// whose image runs as its own user).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// The image writes only to the component's volumes and scratch mounts, so its root
    /// filesystem is mounted read-only (appstack's own images of the data stores'
    /// neighbours; the application images and PostgreSQL keep a writable one).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only_root: bool,
    /// `appstack deploy --migrate`'s command: not part of the container (nor its hash).
    #[serde(skip)]
    pub migrate: Option<Vec<String>>,
}

/// A command that must succeed before a component starts, with the component's config
/// files mounted: a Kubernetes init container, a one-shot compose service. The Docker
/// driver does not run it: appstack does the same itself after each apply (`ops`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetupStep {
    pub name: String,
    pub image: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub secrets: Vec<SecretMount>,
    /// What must be healthy before it can succeed (Kubernetes retries it instead).
    pub depends_on: Vec<Dependency>,
}

/// A network of a single-host runtime (`names::network_name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// The stack's components that serve or call each other over HTTP.
    App,
    /// PostgreSQL, Redis and the components that connect to them.
    Data,
}

/// The whole stack, in dependency order (every component after its dependencies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub stack: String,
    pub namespace: String,
    pub components: Vec<Component>,
    pub volumes: Vec<Volume>,
    pub secrets: Vec<Secret>,
    /// HTTP routes by host name (Kubernetes Ingress).
    pub ingress: Option<IngressPlan>,
    /// Scheduled jobs (Kubernetes CronJobs; `appstack run` in Docker mode).
    pub jobs: Vec<ScheduledJob>,
    /// The scheduled DR drill (a database, backups and a drill schedule; its timeout is the
    /// RTO plus time to write markers and tear down).
    pub drill: Option<ScheduledJob>,
    /// How backup processes reach the store (None without `spec.backup`).
    pub store: Option<StoreAccess>,
    /// What ships the streamed WAL into the store (None unless the stack streams WAL).
    pub wal_shipper: Option<wal::WalShipper>,
    /// Docker mode's edge configuration (None without an edge, and in Kubernetes mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge: Option<edge::EdgeSite>,
}

impl Plan {
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }

    /// The components that open connections to `name`: those that depend on it, and its
    /// exporter. What a network policy lets in, and nothing more.
    pub fn clients_of(&self, name: &str) -> Vec<&str> {
        self.components
            .iter()
            .filter(|c| self.connects_to(c, name))
            // A sidecar in the same pod connects over the pod's loopback.
            .filter(|c| c.role != Role::Backup)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// Whether `c` opens connections to the component `name`.
    fn connects_to(&self, c: &Component, name: &str) -> bool {
        let exporter = match self.component(name).map(|s| s.role) {
            Some(Role::Database) => Some("postgres-exporter"),
            Some(Role::Cache) => Some("redis-exporter"),
            _ => None,
        };
        c.depends_on.iter().any(|d| d.component == name) || Some(c.name.as_str()) == exporter
    }

    /// The networks a single-host runtime (Docker, compose) attaches a component to, the
    /// first one at creation. The data stores sit on the data network with only the
    /// components that connect to them, so the frontend, the monitoring and the edge cannot
    /// open a connection to PostgreSQL or Redis; everything else shares the app network.
    pub fn networks_of(&self, c: &Component) -> Vec<Tier> {
        if matches!(c.role, Role::Database | Role::Cache) {
            // A store the spec publishes on the host needs a routable network for that (an
            // internal one publishes nothing): the isolation is then the spec's choice.
            if c.ports.iter().any(|p| p.publish.is_some()) {
                return vec![Tier::App, Tier::Data];
            }
            return vec![Tier::Data];
        }
        let mut tiers = vec![Tier::App];
        let stores = self
            .components
            .iter()
            .filter(|s| matches!(s.role, Role::Database | Role::Cache));
        if stores.into_iter().any(|s| self.connects_to(c, &s.name)) {
            tiers.push(Tier::Data);
        }
        tiers
    }

    /// The deterministic runtime name of a component: `<stack>-<component>`.
    /// The plan as a cluster runs it: the edge's routes are the Ingress there, so no edge
    /// component (and none of its volumes).
    pub fn without_edge(mut self) -> Plan {
        self.components.retain(|c| c.role != Role::Edge);
        self.volumes.retain(|v| v.name != edge::DATA_VOLUME);
        self.edge = None;
        self
    }

    pub fn object_name(&self, component: &str) -> String {
        format!("{}-{}", self.stack, component)
    }

    /// Labels every object of the stack carries.
    pub fn stack_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_STACK.to_string(), self.stack.clone()),
            (LABEL_MANAGED_BY.to_string(), "appstack".to_string()),
        ])
    }
}
