//! What is checked before an apply changes anything: every image it needs is here (or
//! pulled), and every port it publishes is free; and a taken port named as such.

use std::collections::HashMap;
use std::net::TcpListener;

use futures::future::try_join_all;

use super::diff::Step;
use super::engine::{Engine, ObservedContainer};
use super::error::DockerError;
use crate::plan::{Component, Plan};

/// Everything that can be known to fail is checked before anything changes.
pub(super) async fn preflight<E: Engine>(
    engine: &E,
    plan: &Plan,
    steps: &[Step],
    by_name: &HashMap<String, ObservedContainer>,
) -> Result<(), DockerError> {
    let needs_image: Vec<&Component> = steps
        .iter()
        .filter(|s| matches!(s, Step::Create { .. } | Step::Recreate { .. }))
        .filter_map(|s| s.component().and_then(|n| plan.component(n)))
        .collect();
    let mut images: Vec<&str> = needs_image.iter().map(|c| c.image.as_str()).collect();
    images.sort_unstable();
    images.dedup();
    try_join_all(images.into_iter().map(|i| engine.ensure_image(i))).await?;
    for s in steps {
        let Some(c) = s.component().and_then(|n| plan.component(n)) else {
            continue;
        };
        let running = by_name
            .get(&plan.object_name(&c.name))
            .is_some_and(|o| o.state == "running");
        if running {
            continue;
        }
        for p in &c.ports {
            if let Some(publish) = &p.publish {
                if TcpListener::bind((publish.host_ip.as_str(), publish.host_port)).is_err() {
                    return Err(DockerError::PortInUse {
                        component: c.name.clone(),
                        host_ip: publish.host_ip.clone(),
                        port: publish.host_port,
                    });
                }
            }
        }
    }
    Ok(())
}

/// The engine reports a taken port as a 500 with "address already in use".
pub(super) fn port_error(e: DockerError, c: &Component) -> DockerError {
    match &e {
        DockerError::Engine { message, .. }
            if message.contains("address already in use")
                || message.contains("port is already allocated") =>
        {
            let publish = c.ports.iter().find_map(|p| p.publish.clone());
            match publish {
                Some(p) => DockerError::PortInUse {
                    component: c.name.clone(),
                    host_ip: p.host_ip,
                    port: p.host_port,
                },
                None => e,
            }
        }
        _ => e,
    }
}
