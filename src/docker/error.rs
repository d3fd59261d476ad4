//! Typed errors of the Docker driver; HTTP statuses become the states they are.

/// An error talking to the Docker engine or applying the plan.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "cannot reach the Docker engine: {0} (is dockerd running? see scripts/setup-engine.sh)"
    )]
    Connect(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Conflict(String),
    /// 304: the object already is in the state asked for (started, stopped).
    #[error("{0} already in that state")]
    NotModified(String),
    #[error("image {image} is not present locally and could not be pulled: {reason}")]
    ImageUnavailable { image: String, reason: String },
    #[error("port {port} of component {component} is already in use on {host_ip} (change spec.ingress.publishedPorts or free the port)")]
    PortInUse {
        component: String,
        host_ip: String,
        port: u16,
    },
    #[error("component {component} did not become healthy within {seconds}s; last health check: {detail}; {log_tail}")]
    Unhealthy {
        component: String,
        seconds: u64,
        detail: String,
        /// The container's last log lines, or why there are none.
        log_tail: String,
    },
    #[error("component {component} exited (code {code}) before becoming healthy; {log_tail}")]
    Exited {
        component: String,
        code: i64,
        /// The container's last log lines, or why there are none.
        log_tail: String,
    },
    #[error("dependency {dependency} of {component} failed")]
    DependencyFailed {
        component: String,
        dependency: String,
    },
    #[error("Docker engine error ({status}): {message}")]
    Engine { status: u16, message: String },
    #[error("the edge's admin API refused a change: {0}")]
    Edge(String),
    #[error("no previous version of {0} is kept (a rollback needs a blue/green replacement of it first)")]
    NoPrevious(String),
    #[error("Docker engine: {0}")]
    Other(String),
}

impl DockerError {
    /// A stable category for metrics and events.
    pub fn category(&self) -> &'static str {
        match self {
            DockerError::Connect(_) => "connect",
            DockerError::NotFound(_) => "not_found",
            DockerError::Conflict(_) => "conflict",
            DockerError::NotModified(_) => "not_modified",
            DockerError::ImageUnavailable { .. } => "image",
            DockerError::PortInUse { .. } => "port_in_use",
            DockerError::Unhealthy { .. } => "unhealthy",
            DockerError::Exited { .. } => "exited",
            DockerError::DependencyFailed { .. } => "dependency",
            DockerError::Engine { .. } => "engine",
            DockerError::Edge(_) => "edge",
            DockerError::NoPrevious(_) => "no_previous",
            DockerError::Other(_) => "other",
        }
    }

    /// Maps a bollard error, naming the object it was about.
    pub fn from_bollard(err: bollard::errors::Error, object: &str) -> Self {
        use bollard::errors::Error as B;
        match err {
            B::DockerResponseServerError {
                status_code: 304, ..
            } => DockerError::NotModified(object.to_string()),
            B::DockerResponseServerError {
                status_code: 404, ..
            } => DockerError::NotFound(object.to_string()),
            B::DockerResponseServerError {
                status_code: 409, ..
            } => DockerError::Conflict(object.to_string()),
            B::DockerResponseServerError {
                status_code,
                message,
            } => DockerError::Engine {
                status: status_code,
                message,
            },
            B::HyperResponseError { .. } | B::IOError { .. } => {
                DockerError::Connect(err.to_string())
            }
            other => DockerError::Other(other.to_string()),
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, DockerError::NotFound(_))
    }
}

/// A removal or stop of something already gone is done.
pub fn ignore_not_found(r: Result<(), DockerError>) -> Result<(), DockerError> {
    match r {
        Err(DockerError::NotFound(_)) => Ok(()),
        other => other,
    }
}

/// A start of a running container, or a stop of a stopped one, is done.
pub fn ignore_not_modified(r: Result<(), DockerError>) -> Result<(), DockerError> {
    match r {
        Err(DockerError::NotModified(_)) => Ok(()),
        other => other,
    }
}
