//! Where the deploy probe sends its requests: the component's route on the edge, on this
//! host, trusting the edge's own CA (internal TLS) or the system's roots (ACME).

use std::net::SocketAddr;
use std::time::Duration;

use super::probe::{Probe, Target};
use super::{DeployError, DeployRequest};
use crate::api::validated::{EdgeTls, ValidatedStack};
use crate::docker::apply::Applier;
use crate::docker::Engine;
use crate::plan::Component;

/// The probe's quiet baseline before anything changes.
pub(super) const BASELINE: Duration = Duration::from_secs(2);
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A probe of the component's public route through the edge, when the edge serves it.
pub(super) async fn start_probe<E: Engine>(
    a: &Applier<E>,
    stack: &ValidatedStack,
    c: &Component,
    req: &DeployRequest,
) -> Result<Option<Probe>, DeployError> {
    let (Some(site), Some(edge)) = (
        a.plan.edge.as_ref(),
        stack.ingress.as_ref().and_then(|i| i.edge.as_ref()),
    ) else {
        return Ok(None);
    };
    let Some(route) = site.route(&c.name) else {
        return Ok(None);
    };
    let ip = edge.local_ip();
    let (port, tls) = match &edge.tls {
        EdgeTls::Off => (edge.http_port, None),
        EdgeTls::Internal => (edge.https_port, Some(edge_root(a).await?)),
        EdgeTls::Acme { .. } => {
            let pem = std::fs::read(SYSTEM_ROOTS)
                .map_err(|e| DeployError::Refused(format!("probe: reading {SYSTEM_ROOTS}: {e}")))?;
            (edge.https_port, Some(pem))
        }
    };
    let tls = match tls {
        Some(pem) => Some(
            crate::load::tls_config(&pem)
                .map_err(|e| DeployError::Refused(format!("probe: {e}")))?,
        ),
        None => None,
    };
    let target = Target {
        addr: SocketAddr::new(ip, port),
        host: route.host.clone(),
        path: req.probe_path.clone(),
        tls,
    };
    let deadline = crate::docker::health::deadline(c);
    let bound = BASELINE + deadline + req.watch + req.migrate_timeout + Duration::from_secs(60);
    let max = u64::from(req.rate) * bound.as_secs();
    Ok(Some(Probe::start(target, req.rate, max, bound)))
}

/// The edge's own CA root (internal TLS), read from its volume through the engine.
async fn edge_root<E: Engine>(a: &Applier<E>) -> Result<Vec<u8>, DeployError> {
    crate::docker::edge_admin::root_ca(&*a.engine, &a.plan)
        .await
        .map_err(|e| DeployError::Refused(format!("probe: {e}")))
}
