//! Names every single-host renderer gives a stack's objects (the Docker driver creates them,
//! the compose export declares them), so an exported stack and a driven one share volumes.

/// The network of a stack.
pub fn network_name(stack: &str) -> String {
    format!("appstack-{stack}")
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
