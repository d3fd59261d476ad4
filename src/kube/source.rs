//! A stack read from the cluster, as appstack's own pods (the backup CronJobs, the WAL
//! shipper sidecar, the drill pod) read their AppStack: validated, with the store's
//! credentials and key where the builders mount them in the pod.

use kube::api::Api;
use kube::Client;

use super::access::{KEY_DIR, KEY_ITEM};
use crate::api::validated::{BackupTarget, ValidatedStack};
use crate::api::{AppStack, ValidationErrors};

/// Why the AppStack could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("--stack {name}: no Kubernetes API to read it from: {message}")]
    NoApi { name: String, message: String },
    #[error("--stack: AppStack {namespace}/{name} does not exist")]
    Missing { namespace: String, name: String },
    #[error("reading AppStack {namespace}/{name}: {source}")]
    Api {
        namespace: String,
        name: String,
        source: kube::Error,
    },
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
}

/// A client for the cluster appstack runs in (or the kubeconfig's), and the namespace to
/// use: `namespace`, else the client's default.
pub async fn connect(name: &str, namespace: Option<&str>) -> Result<(Client, String), SourceError> {
    let client = Client::try_default()
        .await
        .map_err(|e| SourceError::NoApi {
            name: name.into(),
            message: e.to_string(),
        })?;
    let ns = namespace
        .map(String::from)
        .unwrap_or_else(|| client.default_namespace().to_string());
    Ok((client, ns))
}

/// The AppStack `ns/name`, validated and set up for a pod of the stack.
pub async fn load(client: &Client, ns: &str, name: &str) -> Result<ValidatedStack, SourceError> {
    let api: Api<AppStack> = Api::namespaced(client.clone(), ns);
    let object = api.get(name).await.map_err(|e| match e {
        kube::Error::Api(s) if s.code == 404 => SourceError::Missing {
            namespace: ns.into(),
            name: name.into(),
        },
        source => SourceError::Api {
            namespace: ns.into(),
            name: name.into(),
            source,
        },
    })?;
    let stack = crate::api::validate::validate(&object, &format!("AppStack {ns}/{name}"))?;
    Ok(in_pod(stack))
}

/// In the pod, the store's credentials come from the environment (the credentials Secret
/// as envFrom) and the key from the key Secret's mount, whatever paths the spec names.
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
