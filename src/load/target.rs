//! Where a load goes: a URL, optionally sent to another address (like curl's
//! `--resolve`), with TLS trusting given roots or the system's.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;

use super::conn::Endpoint;

/// The system's CA bundle (Debian's ca-certificates).
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The endpoint and path of `url`; `connect_to` replaces the resolved address, `cacert`
/// the trusted roots of an https URL.
pub fn endpoint(
    url: &str,
    connect_to: Option<SocketAddr>,
    cacert: Option<&Path>,
) -> Result<(Endpoint, String), String> {
    let u = url::Url::parse(url).map_err(|e| format!("{url}: not a URL ({e})"))?;
    let https = match u.scheme() {
        "http" => false,
        "https" => true,
        other => {
            return Err(format!(
                "{url}: expected an http or https URL, got {other}:"
            ))
        }
    };
    let host = u
        .host_str()
        .ok_or_else(|| format!("{url}: no host"))?
        .to_string();
    let port = u
        .port_or_known_default()
        .unwrap_or(if https { 443 } else { 80 });
    let addr = match connect_to {
        Some(a) => a,
        None => (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| format!("{url}: cannot resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{url}: {host} has no address"))?,
    };
    let tls = if https {
        let roots = cacert.unwrap_or(Path::new(SYSTEM_ROOTS));
        let pem = std::fs::read(roots).map_err(|e| format!("{}: {e}", roots.display()))?;
        Some(tls_config(&pem).map_err(|e| format!("{}: {e}", roots.display()))?)
    } else {
        None
    };
    let mut path = u.path().to_string();
    if let Some(q) = u.query() {
        path = format!("{path}?{q}");
    }
    let host_header = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    Ok((
        Endpoint {
            addr,
            host: host_header,
            server_name: host,
            tls,
        },
        path,
    ))
}

/// A TLS client trusting `roots_pem` (PEM certificates) only.
pub fn tls_config(roots_pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(roots_pem) {
        let cert = cert.map_err(|e| format!("reading a root certificate: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("adding a root certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err("no root certificate to trust".into());
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}
