//! Where a backup command finds its stack: a manifest file (Docker mode, a person at a
//! shell) or the AppStack object in the cluster (Kubernetes mode: what the backup CronJobs
//! and the WAL shipper sidecar run, with the store's Secrets mounted by the builders).

use std::path::PathBuf;

use kube::api::Api;
use kube::Client;

use super::common::{load, CliError};
use crate::api::validated::{BackupTarget, ValidatedStack};
use crate::api::AppStack;
use crate::kube::access::{KEY_DIR, KEY_ITEM};
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
    /// credentials) instead of a file; its Secrets are expected mounted as the operator's
    /// pods mount them.
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
            let (stack, plan) = load(file)?;
            return Ok(Loaded {
                stack,
                plan,
                cluster: None,
            });
        }
        let name = self.stack.as_deref().unwrap_or_default();
        let client = Client::try_default().await.map_err(|e| {
            CliError::Runtime(format!(
                "--stack {name}: no Kubernetes API to read it from: {e}"
            ))
        })?;
        let ns = self
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_string());
        let api: Api<AppStack> = Api::namespaced(client.clone(), &ns);
        let object = api.get(name).await.map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => {
                CliError::Invalid(format!("--stack: AppStack {ns}/{name} does not exist"))
            }
            e => CliError::Runtime(format!("reading AppStack {ns}/{name}: {e}")),
        })?;
        let stack = in_pod(crate::api::validate::validate(
            &object,
            &format!("AppStack {ns}/{name}"),
        )?);
        let plan = crate::plan::build(&stack);
        Ok(Loaded {
            stack,
            plan,
            cluster: Some((client, ns)),
        })
    }
}

/// In appstack's pods the spec's Secret names are already mounted: the credentials as
/// environment variables, the key as a file (see `kube::access`).
fn in_pod(mut stack: ValidatedStack) -> ValidatedStack {
    if let Some(b) = stack.backup.as_mut() {
        if let BackupTarget::S3 {
            credentials_secret, ..
        } = &mut b.target
        {
            *credentials_secret = None;
        }
        if b.encryption_key_file.is_some() {
            b.encryption_key_file = Some(format!("{KEY_DIR}/{KEY_ITEM}"));
        }
    }
    stack
}
