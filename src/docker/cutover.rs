//! Blue/green replacement of a stateless component: the new container starts beside the old
//! one under the pending name, takes the edge's traffic once healthy, takes the component's
//! name, and the old one drains and stops — kept, stopped, as `<name>-prev` for `rollback`.
//! Each step is its own function so `deploy` can put its gates (maintenance, migration,
//! watch window) between them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use super::apply::Applier;
use super::diff::{PENDING_SUFFIX, PREVIOUS_SUFFIX};
use super::drain::drain;
use super::edge_admin::{self, running_edge};
use super::engine::{Engine, EngineEvent};
use super::error::{ignore_not_found, DockerError};
use super::health::wait_healthy;
use crate::plan::edge::EDGE;
use crate::plan::Component;

/// Where the edge sent a component's traffic before a switch.
#[derive(Debug, Clone, Default)]
pub struct Switched {
    /// The edge container, when the edge routes the component.
    pub edge: Option<String>,
    /// How long the switch took (config load in the edge).
    pub took: Duration,
}

impl<E: Engine> Applier<E> {
    /// Starts the prepared `<name>-new` beside the running `name` and waits for its health;
    /// on failure it is removed and `name` keeps serving untouched.
    pub async fn start_beside(
        &self,
        c: &Component,
        pending_id: &str,
        events: &mut broadcast::Receiver<EngineEvent>,
    ) -> Result<Duration, DockerError> {
        let pending = format!("{}{PENDING_SUFFIX}", self.plan.object_name(&c.name));
        self.reporter
            .report(&c.name, "starting beside the running one");
        let result = match self.engine.start(&pending).await {
            Ok(()) => {
                wait_healthy(self.engine.as_ref(), c, &pending, pending_id, false, events).await
            }
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.reporter.report(
                &c.name,
                "new container failed; the running one keeps serving",
            );
            ignore_not_found(self.engine.stop(&pending, 0).await)?;
            ignore_not_found(self.engine.remove(&pending).await)?;
        }
        result
    }

    /// Points the edge's route of `c` at `container` (and every `maintenance` route at the
    /// maintenance page) without restarting the edge. Nothing to do without an edge route.
    pub async fn switch_edge(
        &self,
        c: &Component,
        container: &str,
        maintenance: &BTreeSet<String>,
    ) -> Result<Switched, DockerError> {
        let started = Instant::now();
        let Some(site) = self.plan.edge.as_ref() else {
            return Ok(Switched::default());
        };
        if site.route(&c.name).is_none() {
            return Ok(Switched::default());
        }
        let Some(edge) = running_edge(self.engine.as_ref(), &self.plan).await? else {
            return Ok(Switched::default());
        };
        let targets = BTreeMap::from([(c.name.clone(), container.to_string())]);
        let config = edge_admin::config_for(
            self.engine.as_ref(),
            &self.plan,
            site,
            &targets,
            maintenance,
        )
        .await?;
        edge_admin::load(self.engine.as_ref(), &edge, &config).await?;
        Ok(Switched {
            edge: Some(edge),
            took: started.elapsed(),
        })
    }

    /// Points every route of the running edge at its container's address: the edge then
    /// opens connections without asking the engine's DNS each time (measured: its lookups
    /// time out under 50 requests/s) and a later cutover changes one address. A failure is
    /// reported, not fatal: the Caddyfile's names keep serving.
    pub async fn pin_edge(&self) {
        let Some(site) = self.plan.edge.as_ref() else {
            return;
        };
        let pinned = async {
            let Some(edge) = running_edge(self.engine.as_ref(), &self.plan).await? else {
                return Ok(());
            };
            let config = edge_admin::config_for(
                self.engine.as_ref(),
                &self.plan,
                site,
                &BTreeMap::new(),
                &BTreeSet::new(),
            )
            .await?;
            edge_admin::load(self.engine.as_ref(), &edge, &config).await
        };
        if let Err(e) = pinned.await {
            self.reporter
                .report(EDGE, &format!("upstreams stay by name: {e}"));
        }
    }

    /// Renames: the serving `name` becomes `<name>-prev` (an older one goes), and
    /// `<name>-new` takes `name`. Addresses stay, so the edge is not touched again.
    pub async fn promote(&self, c: &Component) -> Result<(), DockerError> {
        let name = self.plan.object_name(&c.name);
        let prev = format!("{name}{PREVIOUS_SUFFIX}");
        ignore_not_found(self.engine.stop(&prev, 0).await)?;
        ignore_not_found(self.engine.remove(&prev).await)?;
        ignore_not_found(self.engine.rename(&name, &prev).await)?;
        self.engine
            .rename(&format!("{name}{PENDING_SUFFIX}"), &name)
            .await
    }

    /// Lets the old container finish the requests the edge has open to it (at most the
    /// edge's drain time), then stops it with its grace period. It stays, stopped, for
    /// `rollback`.
    pub async fn retire(&self, c: &Component) -> Result<(), DockerError> {
        let prev = format!("{}{PREVIOUS_SUFFIX}", self.plan.object_name(&c.name));
        if let Some((edge_ip, port, secs)) = self.edge_peer(c).await {
            self.reporter.report(&c.name, "draining the old container");
            let limit = Duration::from_secs(u64::from(secs));
            if !drain(self.engine.as_ref(), &prev, port, edge_ip, limit).await? {
                self.reporter.report(
                    &c.name,
                    &format!("drain time ({secs}s) passed with requests open"),
                );
            }
        }
        ignore_not_found(self.engine.stop(&prev, c.stop_grace_secs).await)
    }

    /// The edge's address on the app network, the component's port and the drain time,
    /// when the running edge routes `c`.
    async fn edge_peer(&self, c: &Component) -> Option<(std::net::Ipv4Addr, u16, u32)> {
        let site = self.plan.edge.as_ref()?;
        let route = site.route(&c.name)?;
        let edge = running_edge(self.engine.as_ref(), &self.plan)
            .await
            .ok()??;
        let network = crate::plan::names::network_name(&self.plan.stack, crate::plan::Tier::App);
        match self.engine.network_ip(&edge, &network).await.ok()?? {
            std::net::IpAddr::V4(ip) => Some((ip, route.port, site.drain_secs)),
            std::net::IpAddr::V6(_) => None,
        }
    }

    /// The whole blue/green replacement of `c`, its `<name>-new` prepared: start beside,
    /// switch, promote, drain and stop the old one.
    pub async fn replace_beside(
        &self,
        c: &Component,
        pending_id: &str,
        events: &mut broadcast::Receiver<EngineEvent>,
    ) -> Result<Duration, DockerError> {
        let took = self.start_beside(c, pending_id, events).await?;
        let pending = format!("{}{PENDING_SUFFIX}", self.plan.object_name(&c.name));
        let switched = self.switch_edge(c, &pending, &BTreeSet::new()).await?;
        self.promote(c).await?;
        self.reporter.report(
            &c.name,
            &format!("switched ({:.2}s in the edge)", switched.took.as_secs_f64()),
        );
        self.retire(c).await?;
        Ok(took)
    }
}

/// What a rollback did.
#[derive(Debug, Clone)]
pub struct RolledBack {
    /// From the command to the edge sending new requests to the previous version.
    pub switched_after: Duration,
    /// Whether the previous container had to be started (it was stopped).
    pub started: bool,
}

impl<E: Engine> Applier<E> {
    /// The engine's events of the stack, fed to a channel from now on (health waits).
    pub fn event_feed(
        &self,
    ) -> (
        broadcast::Receiver<EngineEvent>,
        tokio::task::JoinHandle<()>,
    ) {
        use futures::StreamExt;
        let (tx, rx) = broadcast::channel::<EngineEvent>(256);
        let mut stream = self.engine.events(&self.plan.stack, None);
        let feeder = tokio::spawn(async move {
            while let Some(Ok(ev)) = stream.next().await {
                let _ = tx.send(ev);
            }
        });
        (rx, feeder)
    }

    /// Switches `c` back to its kept previous container: started (if stopped) and healthy
    /// first, then the edge, then the names swap, and the version rolled back from drains
    /// and stops (kept as the previous one: a second rollback undoes the first).
    pub async fn rollback(&self, c: &Component) -> Result<RolledBack, DockerError> {
        let began = Instant::now();
        let name = self.plan.object_name(&c.name);
        let prev = format!("{name}{PREVIOUS_SUFFIX}");
        let observed = self.engine.list_containers(&self.plan.stack).await?;
        let Some(kept) = observed.iter().find(|o| o.name == prev) else {
            return Err(DockerError::NoPrevious(c.name.clone()));
        };
        let started = kept.state != "running";
        if started {
            let (mut events, feeder) = self.event_feed();
            self.reporter
                .report(&c.name, "starting the previous version");
            let result = match self.engine.start(&prev).await {
                Ok(()) => {
                    wait_healthy(self.engine.as_ref(), c, &prev, &kept.id, false, &mut events).await
                }
                Err(e) => Err(e),
            };
            feeder.abort();
            if let Err(e) = result {
                ignore_not_found(self.engine.stop(&prev, 0).await)?;
                return Err(e);
            }
        }
        self.switch_edge(c, &prev, &BTreeSet::new()).await?;
        let switched_after = began.elapsed();
        let swap = format!("{name}-swap");
        ignore_not_found(self.engine.rename(&name, &swap).await)?;
        self.engine.rename(&prev, &name).await?;
        ignore_not_found(self.engine.rename(&swap, &prev).await)?;
        self.reporter.report(
            &c.name,
            &format!(
                "rolled back (traffic switched after {:.2}s)",
                switched_after.as_secs_f64()
            ),
        );
        self.retire(c).await?;
        Ok(RolledBack {
            switched_after,
            started,
        })
    }
}
