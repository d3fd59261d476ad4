//! Where a backup command finds its stack: a manifest file (Docker mode, a person at a
//! shell) or the AppStack object in the cluster (Kubernetes mode: what the backup CronJobs
//! and the WAL shipper sidecar run, with the store's Secrets mounted by the builders).

use std::path::PathBuf;

use kube::Client;

use super::common::{load, CliError};
use crate::api::validated::ValidatedStack;
use crate::kube::source;
use crate::plan::Plan;

#[derive(Debug, Clone, clap::Args)]
pub struct Source {
    /// The AppStack manifest (YAML).
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        required_unless_present = "stack",
        conflicts_with = "stack"
    )]
    pub file: Option<PathBuf>,
    /// Kubernetes mode: read AppStack NAME from the cluster (in-cluster or kubeconfig
    /// credentials) instead of a file. Backup commands expect its Secrets mounted as the
    /// operator's pods mount them; health-check reads them through the API.
    #[arg(long, value_name = "NAME")]
    pub stack: Option<String>,
    /// Namespace of --stack (default: the client's default namespace).
    #[arg(long, value_name = "NAMESPACE", requires = "stack")]
    pub namespace: Option<String>,
}

/// The stack, where it came from, and (Kubernetes mode) the client that read it.
pub struct Loaded {
    pub stack: ValidatedStack,
    pub plan: Plan,
    pub cluster: Option<(Client, String)>,
}

impl Source {
    pub async fn load(&self) -> Result<Loaded, CliError> {
        if let Some(file) = &self.file {
            // clap's `requires` is not enforced across a flattened group, so say it here.
            if self.namespace.is_some() {
                return Err(CliError::Invalid(
                    "--namespace: only with --stack (a manifest file has no namespace to read from)".into(),
                ));
            }
            let (stack, plan) = load(file)?;
            return Ok(Loaded {
                stack,
                plan,
                cluster: None,
            });
        }
        let name = self.stack.as_deref().unwrap_or_default();
        let (client, ns) = source::connect(name, self.namespace.as_deref()).await?;
        let stack = source::load(&client, &ns, name).await?;
        let plan = crate::plan::build(&stack).without_edge();
        Ok(Loaded {
            stack,
            plan,
            cluster: Some((client, ns)),
        })
    }
}
