//! Names every single-host renderer gives a stack's objects (the Docker driver creates them,
//! the compose export declares them), so an exported stack and a driven one share volumes.

/// A network of a stack; the app network keeps the name stacks had before the split, so an
/// upgraded stack keeps its network.
pub fn network_name(stack: &str, tier: super::Tier) -> String {
    match tier {
        super::Tier::App => format!("appstack-{stack}"),
        super::Tier::Data => format!("appstack-{stack}-data"),
    }
}

/// The Docker volume backing a plan volume.
pub fn volume_name(stack: &str, volume: &str) -> String {
    format!("{stack}-{volume}")
}

/// The host name under which a stack's components reach appstack's own endpoint (metrics,
/// alert log): Docker maps it to the engine's host gateway, Kubernetes to the operator.
pub fn daemon_host(stack: &str) -> String {
    format!("{stack}-appstack")
}
