//! Plan → docker-compose.yml (file format 2.4: docker-compose 1.29 accepts it, and unlike 3.x
//! it keeps `depends_on: condition: service_healthy`). Secrets and config files are written
//! beside the compose file and bind-mounted read-only at the paths the plan gives.

mod setup;
pub mod write;

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::plan::names::{daemon_host, network_name, volume_name};
use crate::plan::{Component, Condition, Mount, Plan, Tier};

/// A file the export writes beside docker-compose.yml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFile {
    /// Path relative to the export directory.
    pub path: String,
    pub content: String,
    /// Holds a secret value (written under the 0700 `secrets/` directory).
    pub secret: bool,
}

/// Relative path of a secret file in the export.
pub fn secret_path(secret: &str, key: &str) -> String {
    format!("secrets/{secret}-{key}")
}

/// Renders the compose document and the config files it mounts. Secret files are named but
/// not filled here (the caller writes them from the secret store).
pub fn render(plan: &Plan) -> (Value, Vec<ExportFile>) {
    let mut services = Map::new();
    let mut files = Vec::new();
    for c in &plan.components {
        services.insert(c.name.clone(), Value::Object(service(plan, c, &mut files)));
    }
    for c in &plan.components {
        if let Some((name, s)) = setup::service(plan, c) {
            services.insert(name, Value::Object(s));
        }
    }
    if let Some(shipper) = &plan.wal_shipper {
        let c = &shipper.component;
        services.insert(
            c.name.clone(),
            Value::Object(shipper_service(plan, c, &mut files)),
        );
    }
    let volumes: Map<String, Value> = plan
        .volumes
        .iter()
        .map(|v| {
            (
                v.name.clone(),
                json!({ "name": volume_name(&plan.stack, &v.name) }),
            )
        })
        .collect();
    let doc = json!({
        "version": "2.4",
        "services": services,
        "volumes": volumes,
        "networks": {
            "default": { "name": network_name(&plan.stack, Tier::App) },
            "data": {
                "name": network_name(&plan.stack, Tier::Data),
                "internal": true,
                "driver_opts": { "com.docker.network.bridge.inhibit_ipv4": "true" },
            },
        },
    });
    for s in &plan.secrets {
        for k in &s.keys {
            files.push(ExportFile {
                path: secret_path(&s.name, &k.key),
                content: String::new(),
                secret: true,
            });
        }
    }
    (doc, files)
}

/// The compose service of one component; config files it mounts are added to `files`.
fn service(plan: &Plan, c: &Component, files: &mut Vec<ExportFile>) -> Map<String, Value> {
    let mut s = Map::new();
    s.insert("image".into(), json!(c.image));
    s.insert("container_name".into(), json!(plan.object_name(&c.name)));
    s.insert("hostname".into(), json!(c.name));
    s.insert("init".into(), json!(true));
    s.insert("restart".into(), json!("unless-stopped"));
    if let Some(args) = &c.args {
        s.insert(
            "command".into(),
            json!(args.iter().map(|a| esc(a)).collect::<Vec<_>>()),
        );
    }
    if !c.env.is_empty() {
        let env: BTreeMap<&String, String> = c.env.iter().map(|(k, v)| (k, esc(v))).collect();
        s.insert("environment".into(), json!(env));
    }
    let volumes = volumes(c, files);
    if !volumes.is_empty() {
        s.insert("volumes".into(), json!(volumes));
    }
    let scratch: Vec<String> = c
        .mounts
        .iter()
        .filter_map(|m| match m {
            Mount::Scratch { path, .. } => Some(format!("{path}:mode=1777,size=1m")),
            _ => None,
        })
        .collect();
    if !scratch.is_empty() {
        s.insert("tmpfs".into(), json!(scratch));
    }
    let ports: Vec<String> = c
        .ports
        .iter()
        .filter_map(|p| {
            p.publish
                .as_ref()
                .map(|publ| format!("{}:{}:{}", publ.host_ip, publ.host_port, p.container_port))
        })
        .collect();
    if !ports.is_empty() {
        s.insert("ports".into(), json!(ports));
    }
    let exposed: Vec<String> = c
        .ports
        .iter()
        .map(|p| p.container_port.to_string())
        .collect();
    if !exposed.is_empty() {
        s.insert("expose".into(), json!(exposed));
    }
    if let Some(h) = &c.health {
        s.insert("healthcheck".into(), healthcheck(h));
    }
    if !c.depends_on.is_empty() {
        s.insert("depends_on".into(), depends_on(&c.depends_on));
    }
    if let Some(m) = c.resources.cpu_millis {
        s.insert("cpus".into(), json!(m as f64 / 1000.0));
    }
    if let Some(b) = c.resources.memory_bytes {
        s.insert("mem_limit".into(), json!(b));
    }
    if let Some(b) = c.resources.memory_request_bytes {
        s.insert("mem_reservation".into(), json!(b));
    }
    // The Docker driver's hardening, carried over.
    s.insert("pids_limit".into(), json!(c.resources.pids));
    s.insert("security_opt".into(), json!(["no-new-privileges:true"]));
    s.insert("cap_drop".into(), json!(["ALL"]));
    if c.read_only_root {
        s.insert("read_only".into(), json!(true));
    }
    if c.binds_privileged_ports() {
        s.insert(
            "sysctls".into(),
            json!({ crate::plan::UNPRIVILEGED_PORT_START: "0" }),
        );
    }
    if !c.capabilities.is_empty() {
        s.insert("cap_add".into(), json!(c.capabilities));
    }
    s.insert(
        "stop_grace_period".into(),
        json!(format!("{}s", c.stop_grace_secs)),
    );
    // The data stores on the internal data network only (`Plan::networks_of`).
    let aliases = json!({ "aliases": [plan.object_name(&c.name), c.name.clone()] });
    let networks: Map<String, Value> = network_keys(plan, c)
        .into_iter()
        .map(|k| (k.to_string(), aliases.clone()))
        .collect();
    s.insert("networks".into(), Value::Object(networks));
    if c.reaches_daemon {
        // `appstack run` serves metrics and the alert log on the engine's host gateway.
        s.insert(
            "extra_hosts".into(),
            json!([format!("{}:host-gateway", daemon_host(&plan.stack))]),
        );
    }
    s.insert(
        "logging".into(),
        json!({"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}}),
    );
    s
}

/// The compose keys of the networks `c` joins (`Plan::networks_of`).
fn network_keys(plan: &Plan, c: &Component) -> Vec<&'static str> {
    plan.networks_of(c)
        .into_iter()
        .map(|t| match t {
            Tier::App => "default",
            Tier::Data => "data",
        })
        .collect()
}

/// The plan's mounts, config files and secret files as the service's volumes; the config
/// files go to `files`.
fn volumes(c: &Component, files: &mut Vec<ExportFile>) -> Vec<String> {
    let mut volumes = Vec::new();
    for m in &c.mounts {
        volumes.push(match m {
            Mount::Volume { volume, path } => format!("{volume}:{path}"),
            Mount::Host { host_path, path } => format!("{host_path}:{path}:ro"),
            Mount::Scratch { .. } => continue,
        });
    }
    for f in &c.files {
        volumes.push(file_volume(c, f));
        files.push(ExportFile {
            path: file_path(c, f),
            content: f.content.clone(),
            secret: false,
        });
    }
    volumes.extend(c.secrets.iter().map(secret_volume));
    volumes
}

/// Where a component's config file is written, relative to the export directory.
fn file_path(c: &Component, f: &crate::plan::ConfigFile) -> String {
    format!("files/{}/{}", c.name, f.name)
}

/// The read-only bind of a component's config file.
fn file_volume(c: &Component, f: &crate::plan::ConfigFile) -> String {
    format!("./{}:{}:ro", file_path(c, f), f.path)
}

/// The read-only bind of a secret file.
fn secret_volume(m: &crate::plan::SecretMount) -> String {
    format!("./{}:{}:ro", secret_path(&m.secret, &m.key), m.path)
}

/// Dependencies as compose writes them.
fn depends_on(deps: &[crate::plan::Dependency]) -> Value {
    let map: Map<String, Value> = deps
        .iter()
        .map(|d| {
            let cond = match d.condition {
                Condition::Healthy => "service_healthy",
                Condition::Started => "service_started",
            };
            (d.component.clone(), json!({ "condition": cond }))
        })
        .collect();
    Value::Object(map)
}

/// The plan's health check as compose writes it.
fn healthcheck(h: &crate::plan::HealthCheck) -> Value {
    let mut test = vec![if h.shell { "CMD-SHELL" } else { "CMD" }.to_string()];
    test.extend(h.command.iter().map(|x| esc(x)));
    json!({
        "test": test,
        "interval": format!("{}ms", h.interval_ms),
        "timeout": format!("{}ms", h.timeout_ms),
        "retries": h.retries,
        "start_period": format!("{}ms", h.start_period_ms),
    })
}

/// Where the exported stack's manifest is, beside docker-compose.yml and in the shipper.
pub const MANIFEST: &str = "appstack.yaml";
const MANIFEST_IN_CONTAINER: &str = "/etc/appstack/appstack.yaml";

/// The WAL shipper's service: the plan's component, reading the exported manifest, with the
/// store (a directory, or credentials as an env file) and the key at the paths the manifest
/// names, so the exported stack keeps shipping WAL into the same store.
fn shipper_service(plan: &Plan, c: &Component, files: &mut Vec<ExportFile>) -> Map<String, Value> {
    let mut s = service(plan, c, files);
    let mut command: Vec<String> = c.args.clone().unwrap_or_default();
    command.extend(["-f".into(), MANIFEST_IN_CONTAINER.into()]);
    s.insert(
        "command".into(),
        json!(command.iter().map(|a| esc(a)).collect::<Vec<_>>()),
    );
    let mut volumes: Vec<Value> = s
        .get("volumes")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    volumes.push(json!(format!("./{MANIFEST}:{MANIFEST_IN_CONTAINER}:ro")));
    if let Some(store) = &plan.store {
        if let Some(dir) = &store.directory {
            volumes.push(json!(format!("{dir}:{dir}")));
        }
        if let Some(key) = &store.key {
            volumes.push(json!(format!("{key}:{key}:ro")));
        }
        if let Some(credentials) = &store.credentials {
            s.insert("env_file".into(), json!([credentials]));
        }
    }
    s.insert("volumes".into(), json!(volumes));
    s
}

/// Compose interpolates `$`; a literal one is written `$$`.
fn esc(s: &str) -> String {
    s.replace('$', "$$")
}

/// The compose document as YAML, with a header saying where it came from.
pub fn to_yaml(doc: &Value, stack: &str) -> Result<String, String> {
    let body = serde_norway::to_string(doc).map_err(|e| e.to_string())?;
    Ok(format!("# Exported by `appstack export compose` from stack {stack:?}; edit the AppStack manifest instead.\n{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quickstart_export_shape() {
        let text = include_str!("../../examples/quickstart.yaml");
        let stack = crate::api::load::parse_str(text, "q").unwrap();
        let plan = crate::plan::build(&crate::api::validate::validate(&stack, "q").unwrap());
        let (doc, files) = render(&plan);
        assert_eq!(doc["version"], "2.4");
        assert_eq!(
            doc["services"]["cms"]["depends_on"]["database"]["condition"],
            "service_healthy"
        );
        assert_eq!(
            doc["services"]["database"]["container_name"],
            "quickstart-database"
        );
        assert_eq!(
            doc["volumes"]["database-data"]["name"],
            "quickstart-database-data"
        );
        let redis_test = doc["services"]["cache"]["healthcheck"]["test"][1]
            .as_str()
            .unwrap();
        assert!(
            redis_test.contains("$$(cat /run/secrets/cache-password)"),
            "{redis_test}"
        );
        assert!(files.iter().any(|f| f.path == "files/prometheus/rules.yml"));
        assert!(files
            .iter()
            .any(|f| f.path == "secrets/database-password" && f.secret && f.content.is_empty()));
    }
}
