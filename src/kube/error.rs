//! Errors of Kubernetes mode, each with a stable category for metrics and Events.

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("Kubernetes API: {0}")]
    Api(#[from] kube::Error),
    #[error("{kind} {name}: cannot serialize: {message}")]
    Serialize {
        kind: &'static str,
        name: String,
        message: String,
    },
    #[error("not writing: {0}")]
    NotLeader(String),
    #[error("{0}")]
    Config(String),
}

impl KubeError {
    pub fn category(&self) -> &'static str {
        match self {
            KubeError::Api(kube::Error::Api(s)) if s.code == 409 => "conflict",
            KubeError::Api(kube::Error::Api(s)) if s.code == 403 => "forbidden",
            KubeError::Api(_) => "api",
            KubeError::Serialize { .. } => "serialize",
            KubeError::NotLeader(_) => "not_leader",
            KubeError::Config(_) => "config",
        }
    }
}
