//! Stop-then-start replacement: a component's new container is created under the pending
//! name and filled with its files, then renamed into place (after the old one is stopped
//! and removed, for a replacement). Blue/green (`cutover`) shares the preparation. Also the
//! stack's networks and volumes, and containers created stopped (a restore fills them).

use std::collections::HashMap;

use futures::future::try_join_all;

use super::apply::Applier;
use super::diff::{diff, Step, PENDING_SUFFIX};
use super::engine::Engine;
use super::error::{ignore_not_found, DockerError};
use super::preflight::port_error;
use super::render::{container_body, files_tars, later_networks};
use crate::plan::names::{network_name, volume_name};
use crate::plan::{Component, Tier};

impl<E: Engine> Applier<E> {
    /// Creates the container under a pending name and fills it with its files, so an
    /// interrupted run leaves either the old container or a leftover the next run removes.
    pub(super) async fn prepare(
        &self,
        c: &Component,
        name: &str,
        hash: &str,
    ) -> Result<String, DockerError> {
        let pending = format!("{name}{PENDING_SUFFIX}");
        ignore_not_found(self.engine.remove(&pending).await)?;
        let body = container_body(&self.plan, c, hash);
        let id = match self.engine.create_container(&pending, body.clone()).await {
            // A killed run's create can land after our remove (the engine finishes a request
            // whose client is gone): that leftover goes too, once.
            Err(DockerError::Conflict(_)) => {
                ignore_not_found(self.engine.remove(&pending).await)?;
                self.engine.create_container(&pending, body).await?
            }
            other => other?,
        };
        for (network, aliases) in later_networks(&self.plan, c) {
            self.engine
                .connect_network(&network, &pending, aliases)
                .await?;
        }
        let tars = files_tars(c, &self.secrets)
            .map_err(|e| DockerError::Other(format!("packing files of {}: {e}", c.name)))?;
        for (dir, tar) in tars {
            self.engine.upload(&pending, &dir, tar).await?;
        }
        Ok(id)
    }

    /// Renames the prepared container into place, replacing the old one when `replace`.
    pub(super) async fn swap_in(
        &self,
        c: &Component,
        name: &str,
        replace: bool,
    ) -> Result<(), DockerError> {
        let pending = format!("{name}{PENDING_SUFFIX}");
        if replace {
            ignore_not_found(self.engine.stop(name, c.stop_grace_secs).await)?;
            ignore_not_found(self.engine.remove(name).await)?;
        }
        match self.engine.rename(&pending, name).await {
            Ok(()) => Ok(()),
            // A container with the final name appeared meanwhile (another run): replace it.
            Err(DockerError::Conflict(_)) => {
                ignore_not_found(self.engine.remove(name).await)?;
                self.engine.rename(&pending, name).await
            }
            Err(e) => Err(e),
        }
    }

    pub(super) async fn start(&self, c: &Component, name: &str) -> Result<(), DockerError> {
        self.engine.start(name).await.map_err(|e| port_error(e, c))
    }
}

impl<E: Engine> Applier<E> {
    /// The stack's networks and every volume of the plan that is not in `existing`.
    pub(super) async fn ensure_network_and_volumes(
        &self,
        existing: &[String],
    ) -> Result<(), DockerError> {
        let labels: HashMap<String, String> = self.plan.stack_labels().into_iter().collect();
        let mut tiers: Vec<Tier> = vec![Tier::App];
        for c in &self.plan.components {
            tiers.extend(self.plan.networks_of(c));
        }
        for tier in [Tier::App, Tier::Data] {
            if tiers.contains(&tier) {
                // The data network has no route off the host: PostgreSQL and Redis need none.
                let internal = tier == Tier::Data;
                let name = network_name(&self.plan.stack, tier);
                self.engine
                    .ensure_network(&name, internal, labels.clone())
                    .await?;
            }
        }
        let creates = self
            .plan
            .volumes
            .iter()
            .filter(|v| !existing.contains(&volume_name(&self.plan.stack, &v.name)))
            .map(|v| {
                let mut l = labels.clone();
                l.insert("appstack.io/volume".into(), v.name.clone());
                let name = volume_name(&self.plan.stack, &v.name);
                let engine = self.engine.clone();
                async move { engine.create_volume(&name, l).await }
            });
        try_join_all(creates).await?;
        Ok(())
    }

    /// Creates the missing containers of `components` without starting them (with the
    /// network and volumes): a restore fills the database's volume between the two, and the
    /// create is what gives a new volume the image directory's owner. `apply` starts them.
    pub async fn create_stopped(&self, components: &[&str]) -> Result<(), DockerError> {
        let hashes = self.hashes();
        let (observed, volumes) = tokio::try_join!(
            self.engine.list_containers(&self.plan.stack),
            self.engine.list_volumes(&self.plan.stack)
        )?;
        self.ensure_network_and_volumes(&volumes).await?;
        for step in diff(&self.plan, &hashes, &observed) {
            let Step::Create { component } = step else {
                continue;
            };
            let Some(c) = self
                .plan
                .components
                .iter()
                .find(|c| c.name == component && components.contains(&c.name.as_str()))
            else {
                continue;
            };
            let name = self.plan.object_name(&c.name);
            let hash = hashes.get(&c.name).cloned().unwrap_or_default();
            self.engine.ensure_image(&c.image).await?;
            self.prepare(c, &name, &hash).await?;
            self.swap_in(c, &name, false).await?;
        }
        Ok(())
    }

    /// Creates and fills `<name>-new` for `c` as the plan has it now (not started): the
    /// first step of a blue/green replacement that `deploy` drives itself.
    pub async fn prepare_pending(&self, c: &Component) -> Result<String, DockerError> {
        let hash = super::render::container_hash(&self.plan, c, &self.secrets);
        self.engine.ensure_image(&c.image).await?;
        self.prepare(c, &self.plan.object_name(&c.name), &hash)
            .await
    }

    /// Runs `argv` once in a container of `c`'s image with its environment, files,
    /// secrets and networks (no ports, no health check), waits for it to exit (at most
    /// `limit`), and removes it. Returns the exit code and the last lines of its output.
    pub async fn run_once(
        &self,
        c: &Component,
        argv: &[String],
        limit: std::time::Duration,
    ) -> Result<(i64, String), DockerError> {
        let name = format!("{}-migrate", self.plan.object_name(&c.name));
        ignore_not_found(self.engine.stop(&name, 0).await)?;
        ignore_not_found(self.engine.remove(&name).await)?;
        let mut body = container_body(&self.plan, c, "one-off");
        body.cmd = Some(argv.to_vec());
        body.healthcheck = None;
        body.exposed_ports = None;
        for endpoint in body
            .networking_config
            .iter_mut()
            .flat_map(|n| n.endpoints_config.iter_mut())
            .flat_map(|m| m.values_mut())
        {
            endpoint.aliases = None;
        }
        if let Some(h) = body.host_config.as_mut() {
            h.port_bindings = None;
            h.restart_policy = None;
        }
        self.engine.create_container(&name, body).await?;
        let outcome = self.fill_start_wait(c, &name, limit).await;
        let tail = super::health::log_tail(self.engine.as_ref(), &name).await;
        ignore_not_found(self.engine.stop(&name, 0).await)?;
        ignore_not_found(self.engine.remove(&name).await)?;
        Ok((outcome?, tail))
    }

    async fn fill_start_wait(
        &self,
        c: &Component,
        name: &str,
        limit: std::time::Duration,
    ) -> Result<i64, DockerError> {
        // Reachable by its own name only: nothing may take it for the component.
        for (network, _) in later_networks(&self.plan, c) {
            self.engine
                .connect_network(&network, name, Vec::new())
                .await?;
        }
        let tars = files_tars(c, &self.secrets)
            .map_err(|e| DockerError::Other(format!("packing files of {}: {e}", c.name)))?;
        for (dir, tar) in tars {
            self.engine.upload(name, &dir, tar).await?;
        }
        self.engine.start(name).await?;
        let end = std::time::Instant::now() + limit;
        loop {
            if let Some(code) = self.engine.inspect_exit_code(name).await? {
                return Ok(code);
            }
            if std::time::Instant::now() >= end {
                return Err(DockerError::Other(format!(
                    "{name} still runs after {}s",
                    limit.as_secs()
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
}
