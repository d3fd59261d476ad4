//! An in-memory engine for unit tests of the driver: containers, networks and volumes kept
//! in maps with Docker's answers (409 on a taken name, 404 on a missing one, 304 on a start
//! of a running container), an events stream, health checks that pass unless a component is
//! marked sick, a log of every call, and one-shot injected failures.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use bollard::models::ContainerCreateBody;
use futures::stream::{BoxStream, StreamExt};
use tokio::sync::broadcast;

use super::engine::{
    Containers, DResult, EngineEvent, Events, Exec, ExecOutput, Health, Images, Networks,
    ObservedContainer, Volumes,
};
use super::error::DockerError;
use crate::plan::{LABEL_COMPONENT, LABEL_SPEC_HASH, LABEL_STACK};

#[derive(Debug, Clone)]
pub struct FakeContainer {
    pub id: String,
    pub stack: String,
    pub component: String,
    pub hash: Option<String>,
    pub image: String,
    pub running: bool,
    pub has_health: bool,
}

#[derive(Default)]
struct State {
    containers: BTreeMap<String, FakeContainer>,
    networks: BTreeSet<String>,
    volumes: BTreeMap<String, String>,
    next_id: u64,
    /// (operation, object name) → the error its next call returns.
    faults: Vec<(String, String, DockerError)>,
    sick: BTreeSet<String>,
}

pub struct FakeEngine {
    state: Mutex<State>,
    log: Mutex<Vec<String>>,
    events: broadcast::Sender<EngineEvent>,
}

impl Default for FakeEngine {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            log: Mutex::default(),
            events: broadcast::channel(1024).0,
        }
    }
}

impl FakeEngine {
    /// Every call so far, as "operation object".
    pub fn calls(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn clear_calls(&self) {
        self.log.lock().unwrap().clear();
    }

    /// The containers now, by name.
    pub fn containers(&self) -> BTreeMap<String, FakeContainer> {
        self.state.lock().unwrap().containers.clone()
    }

    /// The next `op` on `name` fails with `err` (once).
    pub fn fail_next(&self, op: &str, name: &str, err: DockerError) {
        self.state
            .lock()
            .unwrap()
            .faults
            .push((op.into(), name.into(), err));
    }

    /// The component's health command fails from now on.
    pub fn make_sick(&self, component: &str) {
        self.state.lock().unwrap().sick.insert(component.into());
    }

    /// A container as another run (or a crash) left it, outside any call log.
    pub fn plant(&self, name: &str, c: FakeContainer) {
        self.state.lock().unwrap().containers.insert(name.into(), c);
    }

    fn call(&self, op: &str, name: &str) -> DResult<()> {
        self.log.lock().unwrap().push(format!("{op} {name}"));
        let mut st = self.state.lock().unwrap();
        match st.faults.iter().position(|(o, n, _)| o == op && n == name) {
            Some(i) => Err(st.faults.remove(i).2),
            None => Ok(()),
        }
    }

    fn emit(&self, c: &FakeContainer, name: &str, action: &str) {
        let _ = self.events.send(EngineEvent {
            id: c.id.clone(),
            component: c.component.clone(),
            container: name.into(),
            action: action.into(),
        });
    }

    fn missing(name: &str) -> DockerError {
        DockerError::NotFound(format!("container {name}"))
    }
}

impl Containers for FakeEngine {
    async fn list_containers(&self, stack: &str) -> DResult<Vec<ObservedContainer>> {
        self.call("list", stack)?;
        let st = self.state.lock().unwrap();
        Ok(st
            .containers
            .iter()
            .filter(|(_, c)| c.stack == stack)
            .map(|(name, c)| ObservedContainer {
                id: c.id.clone(),
                name: name.clone(),
                component: c.component.clone(),
                spec_hash: c.hash.clone(),
                state: if c.running { "running" } else { "created" }.into(),
                health: match (c.running, c.has_health, st.sick.contains(&c.component)) {
                    (true, true, false) => Health::Healthy,
                    (true, true, true) => Health::Unhealthy,
                    (_, false, _) => Health::None,
                    (false, true, _) => Health::Starting,
                },
                image: c.image.clone(),
            })
            .collect())
    }

    async fn inspect_runtime(&self, name: &str) -> DResult<super::engine::RuntimeFacts> {
        self.call("inspect", name)?;
        Ok(Default::default())
    }

    async fn inspect_exit_code(&self, name: &str) -> DResult<Option<i64>> {
        self.call("inspect", name)?;
        let st = self.state.lock().unwrap();
        let c = st.containers.get(name).ok_or_else(|| Self::missing(name))?;
        Ok((!c.running).then_some(1))
    }

    async fn container_ip(&self, name: &str) -> DResult<Option<std::net::IpAddr>> {
        self.call("ip", name)?;
        Ok(None)
    }

    async fn network_ip(&self, name: &str, _network: &str) -> DResult<Option<std::net::IpAddr>> {
        self.call("ip", name)?;
        Ok(None)
    }

    async fn volume_mounts(&self, name: &str) -> DResult<Vec<(String, String)>> {
        self.call("mounts", name)?;
        Ok(Vec::new())
    }

    async fn create_container(&self, name: &str, body: ContainerCreateBody) -> DResult<String> {
        self.call("create", name)?;
        let mut st = self.state.lock().unwrap();
        if st.containers.contains_key(name) {
            return Err(DockerError::Conflict(format!("container {name}")));
        }
        st.next_id += 1;
        let labels = body.labels.unwrap_or_default();
        let c = FakeContainer {
            id: format!("id{}", st.next_id),
            stack: labels.get(LABEL_STACK).cloned().unwrap_or_default(),
            component: labels.get(LABEL_COMPONENT).cloned().unwrap_or_default(),
            hash: labels.get(LABEL_SPEC_HASH).cloned(),
            image: body.image.unwrap_or_default(),
            running: false,
            has_health: body.healthcheck.is_some(),
        };
        let id = c.id.clone();
        st.containers.insert(name.into(), c);
        Ok(id)
    }

    async fn upload(&self, name: &str, _dir: &str, _tar: Vec<u8>) -> DResult<()> {
        self.call("upload", name)?;
        match self.state.lock().unwrap().containers.contains_key(name) {
            true => Ok(()),
            false => Err(Self::missing(name)),
        }
    }

    async fn start(&self, name: &str) -> DResult<()> {
        self.call("start", name)?;
        let c = {
            let mut st = self.state.lock().unwrap();
            let c = st
                .containers
                .get_mut(name)
                .ok_or_else(|| Self::missing(name))?;
            if c.running {
                return Err(DockerError::NotModified(format!("container {name}")));
            }
            c.running = true;
            c.clone()
        };
        self.emit(&c, name, "start");
        Ok(())
    }

    async fn stop(&self, name: &str, _grace_secs: u32) -> DResult<()> {
        self.call("stop", name)?;
        let mut st = self.state.lock().unwrap();
        let c = st
            .containers
            .get_mut(name)
            .ok_or_else(|| Self::missing(name))?;
        c.running = false;
        Ok(())
    }

    async fn restart(&self, name: &str, _grace_secs: u32) -> DResult<()> {
        self.call("restart", name)?;
        let mut st = self.state.lock().unwrap();
        let c = st
            .containers
            .get_mut(name)
            .ok_or_else(|| Self::missing(name))?;
        c.running = true;
        Ok(())
    }

    async fn remove(&self, name: &str) -> DResult<()> {
        self.call("remove", name)?;
        let removed = self.state.lock().unwrap().containers.remove(name);
        match removed {
            Some(c) => {
                self.emit(&c, name, "destroy");
                Ok(())
            }
            None => Err(Self::missing(name)),
        }
    }

    async fn rename(&self, from: &str, to: &str) -> DResult<()> {
        self.call("rename", to)?;
        let mut st = self.state.lock().unwrap();
        if st.containers.contains_key(to) {
            return Err(DockerError::Conflict(format!("container {to}")));
        }
        let c = st
            .containers
            .remove(from)
            .ok_or_else(|| Self::missing(from))?;
        st.containers.insert(to.into(), c);
        Ok(())
    }

    fn logs(
        &self,
        name: &str,
        _follow: bool,
        _tail: Option<u64>,
    ) -> BoxStream<'static, DResult<String>> {
        let line = format!("{name}: ready to accept connections\n");
        futures::stream::iter([Ok(line)]).boxed()
    }
}

impl Networks for FakeEngine {
    async fn ensure_network(
        &self,
        name: &str,
        _internal: bool,
        _labels: HashMap<String, String>,
    ) -> DResult<()> {
        self.call("network", name)?;
        self.state.lock().unwrap().networks.insert(name.into());
        Ok(())
    }

    async fn connect_network(
        &self,
        network: &str,
        container: &str,
        _aliases: Vec<String>,
    ) -> DResult<()> {
        self.call("connect", &format!("{container} {network}"))?;
        let st = self.state.lock().unwrap();
        match st.networks.contains(network) && st.containers.contains_key(container) {
            true => Ok(()),
            false => Err(DockerError::NotFound(format!("network {network}"))),
        }
    }

    async fn host_gateway_ip(&self) -> DResult<std::net::IpAddr> {
        Ok(std::net::IpAddr::from([127, 0, 0, 1]))
    }

    async fn remove_network(&self, name: &str) -> DResult<()> {
        self.call("remove-network", name)?;
        match self.state.lock().unwrap().networks.remove(name) {
            true => Ok(()),
            false => Err(DockerError::NotFound(format!("network {name}"))),
        }
    }
}

impl Volumes for FakeEngine {
    fn direct_volume_io(&self) -> bool {
        false
    }

    async fn list_volumes(&self, stack: &str) -> DResult<Vec<String>> {
        self.call("volumes", stack)?;
        let st = self.state.lock().unwrap();
        Ok(st
            .volumes
            .iter()
            .filter(|(_, s)| s.as_str() == stack)
            .map(|(n, _)| n.clone())
            .collect())
    }

    async fn volume_mountpoint(&self, name: &str) -> DResult<String> {
        self.call("mountpoint", name)?;
        Err(DockerError::NotFound(format!("volume {name}")))
    }

    async fn create_volume(&self, name: &str, labels: HashMap<String, String>) -> DResult<()> {
        self.call("create-volume", name)?;
        let stack = labels.get(LABEL_STACK).cloned().unwrap_or_default();
        self.state
            .lock()
            .unwrap()
            .volumes
            .insert(name.into(), stack);
        Ok(())
    }

    async fn remove_volume(&self, name: &str) -> DResult<()> {
        self.call("remove-volume", name)?;
        match self.state.lock().unwrap().volumes.remove(name) {
            Some(_) => Ok(()),
            None => Err(DockerError::NotFound(format!("volume {name}"))),
        }
    }
}

impl Images for FakeEngine {
    async fn ensure_image(&self, image: &str) -> DResult<()> {
        self.call("image", image)
    }
}

impl Exec for FakeEngine {
    async fn exec(&self, name: &str, _cmd: Vec<String>) -> DResult<ExecOutput> {
        self.call("exec", name)?;
        let st = self.state.lock().unwrap();
        let c = st.containers.get(name).ok_or_else(|| Self::missing(name))?;
        let healthy = c.running && !st.sick.contains(&c.component);
        Ok(ExecOutput {
            exit_code: if healthy { 0 } else { 1 },
            output: if healthy {
                String::new()
            } else {
                "sick".into()
            },
        })
    }

    async fn exec_stream(
        &self,
        name: &str,
        cmd: Vec<String>,
        _stdout: tokio::sync::mpsc::Sender<bytes::Bytes>,
    ) -> DResult<ExecOutput> {
        self.exec(name, cmd).await
    }

    async fn run_with_stdin(
        &self,
        name: &str,
        _image: &str,
        _script: &str,
        _volumes: Vec<(String, String)>,
        _labels: HashMap<String, String>,
        _stdin: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    ) -> DResult<ExecOutput> {
        self.call("run", name)?;
        Ok(ExecOutput {
            exit_code: 0,
            output: String::new(),
        })
    }
}

impl Events for FakeEngine {
    fn events(
        &self,
        _stack: &str,
        _replay_secs: Option<i64>,
    ) -> BoxStream<'static, DResult<EngineEvent>> {
        let rx = self.events.subscribe();
        futures::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => return Some((Ok(ev), rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .boxed()
    }
}
