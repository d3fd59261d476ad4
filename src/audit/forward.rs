//! A port-forward on this host, as `kubectl port-forward` makes one: a listener on
//! 127.0.0.1 whose every connection is carried to the pod's port through the API server
//! (`pods/portforward`), so the audit's HTTP client works unchanged in Kubernetes mode.

use std::net::SocketAddr;

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::Client;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A listening forward; dropping it stops it.
pub struct Forward {
    pub addr: SocketAddr,
    pub pod: String,
    task: JoinHandle<()>,
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listens on an ephemeral port of 127.0.0.1 and carries each connection to `pod`:`port`.
pub async fn start(
    client: Client,
    namespace: &str,
    pod: &str,
    port: u16,
) -> std::io::Result<Forward> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let api: Api<Pod> = Api::namespaced(client, namespace);
    let target = pod.to_string();
    let task = tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(carry(api.clone(), target.clone(), port, sock));
        }
    });
    Ok(Forward {
        addr,
        pod: pod.to_string(),
        task,
    })
}

/// One connection through its own port-forward stream; an error closes the connection,
/// which the client counts as a failed request. It ends when either side is done (the
/// client hung up, or the pod's server closed), as a browser's connection would.
async fn carry(api: Api<Pod>, pod: String, port: u16, sock: TcpStream) {
    let Ok(mut forward) = api.portforward(&pod, &[port]).await else {
        return;
    };
    if let Some(stream) = forward.take_stream(port) {
        let (mut from_client, mut to_client) = sock.into_split();
        let (mut from_pod, mut to_pod) = tokio::io::split(stream);
        tokio::select! {
            _ = tokio::io::copy(&mut from_client, &mut to_pod) => {}
            _ = tokio::io::copy(&mut from_pod, &mut to_client) => {}
        }
    }
    forward.abort();
}
