//! The narrow interfaces the driver needs from Docker, one per concern (containers,
//! networks, volumes, images, exec, events), and their bollard implementation
//! (`bollard`). Everything above speaks in components and typed errors, never in HTTP.

mod bollard_exec;
mod bollard_impl;
mod bollard_networks;
mod gateway;

pub use bollard_impl::{health_from_status, set_volume_io, BollardEngine, VolumeIo};

use std::collections::HashMap;
use std::future::Future;

use bollard::models::ContainerCreateBody;
use futures::stream::BoxStream;

use super::error::DockerError;

/// Health as Docker reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Unhealthy,
    Starting,
    /// The container has no health check.
    None,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
            Health::Starting => "starting",
            Health::None => "none",
        }
    }
}

/// A container of the stack as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedContainer {
    pub id: String,
    pub name: String,
    pub component: String,
    pub spec_hash: Option<String>,
    /// created, running, exited, restarting, paused, dead, removing
    pub state: String,
    pub health: Health,
    pub image: String,
}

/// A container event of the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineEvent {
    /// Container id (names are reused across recreates; ids never are).
    pub id: String,
    pub component: String,
    pub container: String,
    /// Docker's action: start, die, destroy, health_status: healthy, ...
    pub action: String,
}

/// Result of a finished exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub output: String,
}

pub type DResult<T> = Result<T, DockerError>;

/// Containers of a stack: observe, create, fill, start, stop, remove, rename, read logs.
pub trait Containers: Send + Sync + 'static {
    fn list_containers(
        &self,
        stack: &str,
    ) -> impl Future<Output = DResult<Vec<ObservedContainer>>> + Send;
    fn inspect_exit_code(&self, name: &str) -> impl Future<Output = DResult<Option<i64>>> + Send;
    /// What a health check reads from a running container: its environment, its published
    /// ports and how often the engine restarted it.
    fn inspect_runtime(&self, name: &str) -> impl Future<Output = DResult<RuntimeFacts>> + Send;
    /// The container's address on its first network, if it has one.
    fn container_ip(
        &self,
        name: &str,
    ) -> impl Future<Output = DResult<Option<std::net::IpAddr>>> + Send;
    /// The container's address on `network`, if it is attached there.
    fn network_ip(
        &self,
        name: &str,
        network: &str,
    ) -> impl Future<Output = DResult<Option<std::net::IpAddr>>> + Send;
    /// The container's writable data volume mounts (not its own secrets volume): (path on
    /// the engine's host, path inside).
    fn volume_mounts(
        &self,
        name: &str,
    ) -> impl Future<Output = DResult<Vec<(String, String)>>> + Send;
    fn create_container(
        &self,
        name: &str,
        body: ContainerCreateBody,
    ) -> impl Future<Output = DResult<String>> + Send;
    /// Extracts `tar` at `dir` in the container (a read-only root takes files only on its
    /// volumes, so each volume gets a tar of its own).
    fn upload(
        &self,
        name: &str,
        dir: &str,
        tar: Vec<u8>,
    ) -> impl Future<Output = DResult<()>> + Send;
    fn start(&self, name: &str) -> impl Future<Output = DResult<()>> + Send;
    fn stop(&self, name: &str, grace_secs: u32) -> impl Future<Output = DResult<()>> + Send;
    fn restart(&self, name: &str, grace_secs: u32) -> impl Future<Output = DResult<()>> + Send;
    fn remove(&self, name: &str) -> impl Future<Output = DResult<()>> + Send;
    fn rename(&self, from: &str, to: &str) -> impl Future<Output = DResult<()>> + Send;
    fn logs(
        &self,
        name: &str,
        follow: bool,
        tail: Option<u64>,
    ) -> BoxStream<'static, DResult<String>>;
}

/// A running container's environment, port bindings and restart count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeFacts {
    /// `KEY=value` entries.
    pub env: Vec<String>,
    /// (host address, host port, container port) of each published port.
    pub bindings: Vec<(String, u16, u16)>,
    pub restart_count: i64,
    /// The main process's id on the engine's host while running (its cgroup holds the
    /// container's CPU and memory accounting).
    pub pid: Option<u32>,
}

impl RuntimeFacts {
    pub fn env_var(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find_map(|e| e.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }
}

/// The stack's networks.
pub trait Networks: Send + Sync + 'static {
    /// Creates the network unless it exists; an `internal` one has no route off the host.
    fn ensure_network(
        &self,
        name: &str,
        internal: bool,
        labels: HashMap<String, String>,
    ) -> impl Future<Output = DResult<()>> + Send;
    /// Attaches a created container to one more network, reachable there by `aliases`.
    fn connect_network(
        &self,
        network: &str,
        container: &str,
        aliases: Vec<String>,
    ) -> impl Future<Output = DResult<()>> + Send;
    fn remove_network(&self, name: &str) -> impl Future<Output = DResult<()>> + Send;
    /// The address `host-gateway` stands for in a container's hosts file (the default
    /// bridge's gateway): where containers reach a server on the engine's host.
    fn host_gateway_ip(&self) -> impl Future<Output = DResult<std::net::IpAddr>> + Send;
}

/// Volumes: the stack's data.
pub trait Volumes: Send + Sync + 'static {
    /// Whether the fast paths may read and write volume directories on this host directly
    /// (backup FIFOs, restore fills); when false, only the engine's API carries data.
    fn direct_volume_io(&self) -> bool {
        true
    }
    fn list_volumes(&self, stack: &str) -> impl Future<Output = DResult<Vec<String>>> + Send;
    /// Where the engine keeps a volume's files on its host (local driver).
    fn volume_mountpoint(&self, name: &str) -> impl Future<Output = DResult<String>> + Send;
    fn create_volume(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> impl Future<Output = DResult<()>> + Send;
    fn remove_volume(&self, name: &str) -> impl Future<Output = DResult<()>> + Send;
}

/// Images the plan names.
pub trait Images: Send + Sync + 'static {
    fn ensure_image(&self, image: &str) -> impl Future<Output = DResult<()>> + Send;
}

/// Commands in a running container, or a one-off container fed on stdin.
pub trait Exec: Send + Sync + 'static {
    fn exec(
        &self,
        name: &str,
        cmd: Vec<String>,
    ) -> impl Future<Output = DResult<ExecOutput>> + Send;
    /// Runs `cmd` in a container, streaming its stdout into `stdout` (bounded: a slow reader
    /// slows the command, memory stays flat). Returns the exit code and (truncated) stderr.
    fn exec_stream(
        &self,
        name: &str,
        cmd: Vec<String>,
        stdout: tokio::sync::mpsc::Sender<bytes::Bytes>,
    ) -> impl Future<Output = DResult<ExecOutput>> + Send;
    /// Runs a one-off container of `image` with `script` (sh -c), the named volumes mounted,
    /// feeding `stdin` to it; removes it afterwards. Returns exit code and output.
    fn run_with_stdin(
        &self,
        name: &str,
        image: &str,
        script: &str,
        volumes: Vec<(String, String)>,
        labels: HashMap<String, String>,
        stdin: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    ) -> impl Future<Output = DResult<ExecOutput>> + Send;
}

/// The engine's container events of a stack.
pub trait Events: Send + Sync + 'static {
    /// Container events of a stack; `replay_secs` replays that many seconds before now.
    fn events(
        &self,
        stack: &str,
        replay_secs: Option<i64>,
    ) -> BoxStream<'static, DResult<EngineEvent>>;
}

/// Everything the driver needs from a container engine; a function that needs less asks
/// for the narrower trait, so a test fakes only what it uses.
pub trait Engine: Containers + Networks + Volumes + Images + Exec + Events {}

impl<T: Containers + Networks + Volumes + Images + Exec + Events> Engine for T {}
