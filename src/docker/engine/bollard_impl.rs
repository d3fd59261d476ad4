//! The engine interfaces over the Docker Engine API (bollard). HTTP statuses become typed
//! errors in one place (`DockerError::from_bollard`).

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, VolumeCreateRequest};
use bollard::query_parameters as q;
use bollard::Docker;
use futures::stream::{BoxStream, StreamExt};

use super::{Containers, DResult, EngineEvent, Events, Health, Images, ObservedContainer, Volumes};
use crate::docker::error::{ignore_not_modified, DockerError};
use crate::plan::{LABEL_COMPONENT, LABEL_SPEC_HASH, LABEL_STACK};

/// The Docker Engine API through bollard.
#[derive(Clone)]
pub struct BollardEngine {
    pub(super) docker: Docker,
    pub(super) direct_volume_io: bool,
}

/// `--volume-io`, chosen once at startup for every engine connection of the process.
static VOLUME_IO: std::sync::OnceLock<VolumeIo> = std::sync::OnceLock::new();

/// Sets the process's volume I/O choice; the first call wins.
pub fn set_volume_io(io: VolumeIo) {
    let _ = VOLUME_IO.set(io);
}

/// How volume data moves between appstack and the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum VolumeIo {
    /// Straight through the volume's directory when it is reachable from here (appstack
    /// as root on the engine's host), else through the engine's API.
    #[default]
    Auto,
    /// Only through the engine's API (attach streams and one-off containers).
    Engine,
}

impl BollardEngine {
    /// Connects with the process's `--volume-io` choice (see `set_volume_io`).
    pub async fn connect_default() -> DResult<std::sync::Arc<Self>> {
        let io = VOLUME_IO.get().copied().unwrap_or_default();
        Ok(std::sync::Arc::new(Self::connect(io).await?))
    }

    /// Connects to the local engine (DOCKER_HOST or the default socket) and negotiates the
    /// API version, so older engines (20.10, API 1.41) work.
    pub async fn connect(io: VolumeIo) -> DResult<Self> {
        let docker = Docker::connect_with_local_defaults()
            .map_err(|e| DockerError::Connect(e.to_string()))?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| DockerError::Connect(e.to_string()))?;
        docker
            .ping()
            .await
            .map_err(|e| DockerError::Connect(e.to_string()))?;
        Ok(Self {
            docker,
            direct_volume_io: io == VolumeIo::Auto,
        })
    }

    /// The engine's whole view of one container.
    async fn inspect(&self, name: &str) -> DResult<bollard::models::ContainerInspectResponse> {
        self.docker
            .inspect_container(name, None::<q::InspectContainerOptions>)
            .await
            .map_err(|e| DockerError::from_bollard(e, name))
    }

    fn stack_filter(stack: &str) -> HashMap<String, Vec<String>> {
        HashMap::from([("label".to_string(), vec![format!("{LABEL_STACK}={stack}")])])
    }
}

/// Docker's summary has no health field on API 1.41; its status text does.
pub fn health_from_status(status: &str) -> Health {
    if status.contains("(healthy)") {
        Health::Healthy
    } else if status.contains("(unhealthy)") {
        Health::Unhealthy
    } else if status.contains("(health: starting)") {
        Health::Starting
    } else {
        Health::None
    }
}

impl Containers for BollardEngine {
    async fn list_containers(&self, stack: &str) -> DResult<Vec<ObservedContainer>> {
        let opts = q::ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&Self::stack_filter(stack))
            .build();
        let list = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(|e| DockerError::from_bollard(e, "containers"))?;
        Ok(list
            .into_iter()
            .map(|c| {
                let labels = c.labels.unwrap_or_default();
                let name = c
                    .names
                    .unwrap_or_default()
                    .first()
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default();
                ObservedContainer {
                    id: c.id.unwrap_or_default(),
                    component: labels.get(LABEL_COMPONENT).cloned().unwrap_or_default(),
                    spec_hash: labels.get(LABEL_SPEC_HASH).cloned(),
                    state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                    health: health_from_status(c.status.as_deref().unwrap_or("")),
                    image: c.image.unwrap_or_default(),
                    name,
                }
            })
            .collect())
    }

    async fn inspect_exit_code(&self, name: &str) -> DResult<Option<i64>> {
        let info = self
            .docker
            .inspect_container(name, None::<q::InspectContainerOptions>)
            .await
            .map_err(|e| DockerError::from_bollard(e, name))?;
        let state = info.state.unwrap_or_default();
        if state.running == Some(true) {
            return Ok(None);
        }
        Ok(state.exit_code)
    }

    async fn inspect_runtime(&self, name: &str) -> DResult<super::RuntimeFacts> {
        let info = self
            .docker
            .inspect_container(name, None::<q::InspectContainerOptions>)
            .await
            .map_err(|e| DockerError::from_bollard(e, name))?;
        let mut bindings = Vec::new();
        let ports = info
            .network_settings
            .and_then(|n| n.ports)
            .unwrap_or_default();
        for (port, binds) in ports {
            let container_port = port
                .split('/')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            for b in binds.unwrap_or_default() {
                let host_port = b.host_port.and_then(|p| p.parse().ok()).unwrap_or(0);
                bindings.push((b.host_ip.unwrap_or_default(), host_port, container_port));
            }
        }
        Ok(super::RuntimeFacts {
            env: info.config.and_then(|c| c.env).unwrap_or_default(),
            bindings,
            restart_count: info.restart_count.unwrap_or(0),
            pid: info
                .state
                .and_then(|s| s.pid)
                .and_then(|p| u32::try_from(p).ok())
                .filter(|&p| p > 0),
        })
    }

    async fn container_ip(&self, name: &str) -> DResult<Option<std::net::IpAddr>> {
        let networks = self
            .inspect(name)
            .await?
            .network_settings
            .and_then(|n| n.networks);
        Ok(networks
            .into_iter()
            .flat_map(|n| n.into_values())
            .filter_map(|e| e.ip_address)
            .find_map(|ip| ip.parse().ok()))
    }

    async fn network_ip(&self, name: &str, network: &str) -> DResult<Option<std::net::IpAddr>> {
        Ok(self
            .inspect(name)
            .await?
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(network))
            .and_then(|e| e.ip_address)
            .and_then(|ip| ip.parse().ok()))
    }

    async fn volume_mounts(&self, name: &str) -> DResult<Vec<(String, String)>> {
        let info = self
            .docker
            .inspect_container(name, None::<q::InspectContainerOptions>)
            .await
            .map_err(|e| DockerError::from_bollard(e, name))?;
        Ok(info
            .mounts
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.rw == Some(true) && m.typ.as_deref() == Some("volume"))
            // The container's own secrets volume is root's and holds secrets: never a FIFO.
            .filter(|m| m.destination.as_deref() != Some(crate::plan::SECRETS_DIR))
            .filter_map(|m| Some((m.source?, m.destination?)))
            .collect())
    }

    async fn create_container(&self, name: &str, body: ContainerCreateBody) -> DResult<String> {
        let opts = q::CreateContainerOptionsBuilder::default()
            .name(name)
            .build();
        let resp = self
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(|e| DockerError::from_bollard(e, &format!("container {name}")))?;
        Ok(resp.id)
    }

    async fn upload(&self, name: &str, dir: &str, tar: Vec<u8>) -> DResult<()> {
        let opts = q::UploadToContainerOptionsBuilder::default()
            .path(dir)
            .build();
        self.docker
            .upload_to_container(name, Some(opts), bollard::body_full(tar.into()))
            .await
            .map_err(|e| DockerError::from_bollard(e, &format!("container {name}")))
    }

    async fn start(&self, name: &str) -> DResult<()> {
        ignore_not_modified(
            self.docker
                .start_container(name, None::<q::StartContainerOptions>)
                .await
                .map_err(|e| DockerError::from_bollard(e, &format!("container {name}"))),
        )
    }

    async fn stop(&self, name: &str, grace_secs: u32) -> DResult<()> {
        let opts = q::StopContainerOptionsBuilder::default()
            .t(i32::try_from(grace_secs).unwrap_or(i32::MAX))
            .build();
        ignore_not_modified(
            self.docker
                .stop_container(name, Some(opts))
                .await
                .map_err(|e| DockerError::from_bollard(e, &format!("container {name}"))),
        )
    }

    async fn restart(&self, name: &str, grace_secs: u32) -> DResult<()> {
        let opts = q::RestartContainerOptionsBuilder::default()
            .t(i32::try_from(grace_secs).unwrap_or(i32::MAX))
            .build();
        self.docker
            .restart_container(name, Some(opts))
            .await
            .map_err(|e| DockerError::from_bollard(e, &format!("container {name}")))
    }

    async fn remove(&self, name: &str) -> DResult<()> {
        // `v`: the container's own anonymous volume (its secret files) goes with it; named
        // volumes (the stack's data) are never touched by this.
        let opts = q::RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        self.docker
            .remove_container(name, Some(opts))
            .await
            .map_err(|e| DockerError::from_bollard(e, &format!("container {name}")))
    }

    async fn rename(&self, from: &str, to: &str) -> DResult<()> {
        let opts = q::RenameContainerOptionsBuilder::default().name(to).build();
        self.docker
            .rename_container(from, opts)
            .await
            .map_err(|e| DockerError::from_bollard(e, &format!("container {to}")))
    }

    fn logs(
        &self,
        name: &str,
        follow: bool,
        tail: Option<u64>,
    ) -> BoxStream<'static, DResult<String>> {
        let tail = tail.map_or_else(|| "all".to_string(), |t| t.to_string());
        let opts = q::LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(follow)
            .tail(&tail)
            .build();
        let object = name.to_string();
        self.docker
            .logs(name, Some(opts))
            .map(move |item| {
                item.map(|log| String::from_utf8_lossy(&log.into_bytes()).into_owned())
                    .map_err(|e| DockerError::from_bollard(e, &format!("container {object}")))
            })
            .boxed()
    }
}

impl Volumes for BollardEngine {
    fn direct_volume_io(&self) -> bool {
        self.direct_volume_io
    }

    async fn list_volumes(&self, stack: &str) -> DResult<Vec<String>> {
        let opts = q::ListVolumesOptionsBuilder::default()
            .filters(&Self::stack_filter(stack))
            .build();
        let resp = self
            .docker
            .list_volumes(Some(opts))
            .await
            .map_err(|e| DockerError::from_bollard(e, "volumes"))?;
        Ok(resp
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect())
    }

    async fn volume_mountpoint(&self, name: &str) -> DResult<String> {
        self.docker
            .inspect_volume(name)
            .await
            .map(|v| v.mountpoint)
            .map_err(|e| DockerError::from_bollard(e, &format!("volume {name}")))
    }

    async fn create_volume(&self, name: &str, labels: HashMap<String, String>) -> DResult<()> {
        let req = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels),
            ..Default::default()
        };
        self.docker
            .create_volume(req)
            .await
            .map(|_| ())
            .map_err(|e| DockerError::from_bollard(e, &format!("volume {name}")))
    }

    async fn remove_volume(&self, name: &str) -> DResult<()> {
        self.docker
            .remove_volume(name, None::<q::RemoveVolumeOptions>)
            .await
            .map_err(|e| DockerError::from_bollard(e, &format!("volume {name}")))
    }
}

impl Images for BollardEngine {
    async fn ensure_image(&self, image: &str) -> DResult<()> {
        match self.docker.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(e) => match DockerError::from_bollard(e, image) {
                DockerError::NotFound(_) => {}
                other => return Err(other),
            },
        }
        let opts = q::CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let mut pull = self.docker.create_image(Some(opts), None, None);
        while let Some(item) = pull.next().await {
            if let Err(e) = item {
                let reason = match e {
                    bollard::errors::Error::DockerResponseServerError { message, .. } => message,
                    other => other.to_string(),
                };
                return Err(DockerError::ImageUnavailable {
                    image: image.to_string(),
                    reason,
                });
            }
        }
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(()),
            Err(e) => Err(DockerError::ImageUnavailable {
                image: image.to_string(),
                reason: e.to_string(),
            }),
        }
    }
}

impl Events for BollardEngine {
    fn events(
        &self,
        stack: &str,
        replay_secs: Option<i64>,
    ) -> BoxStream<'static, DResult<EngineEvent>> {
        let mut filters = Self::stack_filter(stack);
        filters.insert("type".to_string(), vec!["container".to_string()]);
        let mut builder = q::EventsOptionsBuilder::default().filters(&filters);
        if let Some(secs) = replay_secs {
            builder = builder.since(&(chrono::Utc::now().timestamp() - secs).to_string());
        }
        let opts = builder.build();
        self.docker
            .events(Some(opts))
            .map(|item| {
                let msg = item.map_err(|e| DockerError::from_bollard(e, "events"))?;
                let actor = msg.actor.unwrap_or_default();
                let attrs = actor.attributes.unwrap_or_default();
                Ok(EngineEvent {
                    id: actor.id.unwrap_or_default(),
                    component: attrs.get(LABEL_COMPONENT).cloned().unwrap_or_default(),
                    container: attrs.get("name").cloned().unwrap_or_default(),
                    action: msg.action.unwrap_or_default(),
                })
            })
            .boxed()
    }
}
