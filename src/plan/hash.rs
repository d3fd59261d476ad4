//! The spec hash: a digest of everything that defines a component, stamped on its runtime
//! object so drift is a label comparison and only changed components are recreated.

use sha2::{Digest, Sha256};

use super::Component;

/// Hex sha256 (first 16 chars) of the component's canonical JSON, labels excluded.
pub fn spec_hash(component: &Component) -> String {
    let mut c = component.clone();
    c.labels.clear();
    // How a prober may reach the health endpoint changes nothing a runtime runs.
    if let Some(h) = c.health.as_mut() {
        h.http = None;
    }
    let json = serde_json::to_vec(&c).unwrap_or_default();
    let digest = Sha256::digest(&json);
    hex::encode(&digest[..8])
}
