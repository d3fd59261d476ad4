//! The single-VPS edge: the HTTPS reverse proxy in front of the frontend and the CMS
//! (Docker mode and the compose export; Kubernetes renders an Ingress instead).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::d;

/// The edge proxy (Caddy) of Docker mode: it terminates HTTPS for `ingress.host` and
/// `ingress.cmsHost`, redirects HTTP to HTTPS, sets security headers and is the only
/// component published on the host's web ports.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EdgeSpec {
    /// Run the edge in Docker mode when `ingress.host` or `ingress.cmsHost` is set
    /// (default true; false publishes nothing but `publishedPorts`).
    #[serde(default = "d::enabled")]
    pub enabled: bool,
    /// Container image of Caddy 2.
    #[serde(default = "d::edge_image")]
    pub image: String,
    /// Host port for HTTP (redirects to HTTPS and answers ACME challenges).
    #[serde(default = "d::edge_http_port")]
    pub http_port: u16,
    /// Host port for HTTPS.
    #[serde(default = "d::edge_https_port")]
    pub https_port: u16,
    /// Host address the edge binds (default every interface: it is the public entry).
    #[serde(default = "d::edge_bind")]
    pub bind: String,
    /// Response headers added to (or, with the same name, replacing) the defaults
    /// (HSTS, nosniff, frame and referrer policies, permissions policy); an empty value
    /// removes a default header.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The Content-Security-Policy sent when the application sets none (default: same
    /// origin, inline scripts and styles allowed for Next.js, no objects, no framing by
    /// other sites).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_security_policy: Option<String>,
    /// Seconds a replaced frontend or CMS container keeps serving the requests it already
    /// has after the edge sends new ones to its successor (blue/green cutover), before it is
    /// stopped (default 30, at most 3600).
    #[serde(default = "d::edge_drain_seconds")]
    pub drain_seconds: u32,
    /// The HTML the edge answers with (status 503) while `appstack deploy --maintenance`
    /// migrates (default: a short page naming the stack). One line of at most 64 KiB, no
    /// braces (Caddy reads them as placeholders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_page: Option<String>,
}

impl Default for EdgeSpec {
    fn default() -> Self {
        EdgeSpec {
            enabled: true,
            image: d::edge_image(),
            http_port: d::edge_http_port(),
            https_port: d::edge_https_port(),
            bind: d::edge_bind(),
            headers: BTreeMap::new(),
            content_security_policy: None,
            drain_seconds: d::edge_drain_seconds(),
            maintenance_page: None,
        }
    }
}
