//! The stack's networks over the Docker Engine API: created with the settings the plan's
//! tier needs (an internal network keeps the host's address off its bridge), replaced when
//! found with others, and joined by containers after their creation.

use std::collections::HashMap;

use bollard::models::{EndpointSettings, NetworkConnectRequest, NetworkCreateRequest};
use bollard::query_parameters as q;

use super::bollard_impl::BollardEngine;
use super::{DResult, Networks};
use crate::docker::error::DockerError;

/// The bridge option that keeps the host's address off a network's bridge.
const INHIBIT_IPV4: &str = "com.docker.network.bridge.inhibit_ipv4";

impl Networks for BollardEngine {
    async fn ensure_network(
        &self,
        name: &str,
        internal: bool,
        labels: HashMap<String, String>,
    ) -> DResult<()> {
        let filters = HashMap::from([("name".to_string(), vec![name.to_string()])]);
        let opts = q::ListNetworksOptionsBuilder::default()
            .filters(&filters)
            .build();
        let existing = self
            .docker
            .list_networks(Some(opts))
            .await
            .map_err(|e| DockerError::from_bollard(e, "networks"))?;
        let inhibit = |n: &bollard::models::Network| {
            n.options
                .as_ref()
                .and_then(|o| o.get(INHIBIT_IPV4))
                .is_some_and(|v| v == "true")
        };
        if let Some(n) = existing.iter().find(|n| n.name.as_deref() == Some(name)) {
            if n.internal.unwrap_or(false) == internal && inhibit(n) == internal {
                return Ok(());
            }
            // Made with other settings (by hand, or an older appstack): replaced while no
            // container uses it; the engine refuses otherwise, and that error is reported.
            self.remove_network(name).await?;
        }
        let req = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            internal: Some(internal),
            // The host keeps no address on an internal network's bridge, so it routes nothing
            // into it: an engine without iptables rules (`--iptables=false`) isolates it too.
            options: internal
                .then(|| HashMap::from([(INHIBIT_IPV4.to_string(), "true".to_string())])),
            labels: Some(labels),
            ..Default::default()
        };
        match self.docker.create_network(req).await {
            Ok(_) => Ok(()),
            Err(e) => match DockerError::from_bollard(e, &format!("network {name}")) {
                DockerError::Conflict(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn connect_network(
        &self,
        network: &str,
        container: &str,
        aliases: Vec<String>,
    ) -> DResult<()> {
        let req = NetworkConnectRequest {
            container: container.to_string(),
            endpoint_config: Some(EndpointSettings {
                aliases: Some(aliases),
                ..Default::default()
            }),
        };
        self.docker
            .connect_network(network, req)
            .await
            .map_err(|e| DockerError::from_bollard(e, &format!("network {network}")))
    }

    async fn remove_network(&self, name: &str) -> DResult<()> {
        self.docker
            .remove_network(name)
            .await
            .map_err(|e| DockerError::from_bollard(e, &format!("network {name}")))
    }

    async fn host_gateway_ip(&self) -> DResult<std::net::IpAddr> {
        let net = self
            .docker
            .inspect_network("bridge", None::<q::InspectNetworkOptions>)
            .await
            .map_err(|e| DockerError::from_bollard(e, "network bridge"))?;
        let configs = net.ipam.and_then(|i| i.config).unwrap_or_default();
        let pairs: Vec<(Option<&str>, Option<&str>)> = configs
            .iter()
            .map(|c| (c.gateway.as_deref(), c.subnet.as_deref()))
            .collect();
        super::gateway::bridge_gateway(&pairs).ok_or_else(|| {
            DockerError::NotFound(
                "the default bridge network's gateway (host-gateway): is dockerd running with its default bridge?".into(),
            )
        })
    }
}
