//! `ValidatedStack` → `Plan`: pure, deterministic, no I/O.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::api::validated::{self as v, ValidatedStack};

/// Docker marks a component unhealthy after `retries` failed checks: 30 s at this period.
const HEALTH_INTERVAL_MS: u64 = 10_000;
const HEALTH_START_INTERVAL_MS: u64 = 1_000;

/// What the sections of `build` collect.
#[derive(Default)]
pub(super) struct Parts {
    pub comps: Vec<Component>,
    pub volumes: Vec<Volume>,
    pub secrets: Vec<Secret>,
}

/// A component's name on the stack's network.
pub(super) fn host(stack: &ValidatedStack, component: &str) -> String {
    format!("{}-{component}", stack.name)
}

/// Dependencies on each of `names` being healthy.
pub(super) fn healthy(names: &[String]) -> Vec<Dependency> {
    names
        .iter()
        .map(|n| Dependency {
            component: n.clone(),
            condition: Condition::Healthy,
        })
        .collect()
}

/// Builds the plan of a validated stack.
pub fn build(stack: &ValidatedStack) -> Plan {
    let mut parts = Parts::default();
    super::app::database(stack, &mut parts);
    super::app::cache(stack, &mut parts);
    super::app::services(stack, &mut parts);
    super::app::cms(stack, &mut parts);
    super::app::frontend(stack, &mut parts);
    super::monitoring::monitoring(stack, &mut parts);
    super::edge::edge(stack, &mut parts);
    let Parts {
        mut comps,
        volumes,
        secrets,
    } = parts;
    publish(stack, &mut comps);
    let without_health: BTreeSet<String> = comps
        .iter()
        .filter(|c| c.health.is_none())
        .map(|c| c.name.clone())
        .collect();
    for c in &mut comps {
        for dep in &mut c.depends_on {
            if without_health.contains(&dep.component) {
                dep.condition = Condition::Started;
            }
        }
        c.env.extend(
            c.secrets
                .iter()
                .filter_map(|s| s.env_file_var.clone().map(|var| (var, s.path.clone()))),
        );
    }
    Plan {
        stack: stack.name.clone(),
        namespace: stack.namespace.clone(),
        components: topo_order(comps),
        volumes,
        secrets,
        ingress: super::routes::ingress(stack),
        jobs: super::routes::jobs(stack),
        drill: super::routes::drill(stack),
        store: super::routes::store_access(stack),
        wal_shipper: super::wal::wal_shipper(stack),
        edge: super::edge::site(stack),
    }
}

fn publish(stack: &ValidatedStack, comps: &mut [Component]) {
    for p in &stack.published {
        if let Some(c) = comps.iter_mut().find(|c| c.name == p.component) {
            if let Some(first) = c.ports.first_mut() {
                first.publish = Some(Publish {
                    host_ip: p.bind.to_string(),
                    host_port: p.host_port,
                });
            }
        }
    }
}

/// Kahn's algorithm over the fixed base order, so the result is deterministic.
fn topo_order(comps: Vec<Component>) -> Vec<Component> {
    let names: BTreeSet<String> = comps.iter().map(|c| c.name.clone()).collect();
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut remaining = comps;
    let mut out = Vec::with_capacity(remaining.len());
    while !remaining.is_empty() {
        let ready = remaining.iter().position(|c| {
            c.depends_on
                .iter()
                .all(|dep| placed.contains(&dep.component) || !names.contains(&dep.component))
        });
        // Validation rejects cycles; should one slip through, keep the order rather than loop.
        let idx = ready.unwrap_or(0);
        let c = remaining.remove(idx);
        placed.insert(c.name.clone());
        out.push(c);
    }
    out
}

pub(super) fn component(
    stack: &ValidatedStack,
    name: &str,
    role: Role,
    image: &str,
    r: v::Resources,
) -> Component {
    let labels = BTreeMap::from([
        (LABEL_STACK.to_string(), stack.name.clone()),
        (LABEL_COMPONENT.to_string(), name.to_string()),
        (LABEL_ROLE.to_string(), role.as_str().to_string()),
        (LABEL_MANAGED_BY.to_string(), "appstack".to_string()),
        ("app.kubernetes.io/name".to_string(), name.to_string()),
        ("app.kubernetes.io/instance".to_string(), stack.name.clone()),
        (
            "app.kubernetes.io/part-of".to_string(),
            "appstack".to_string(),
        ),
    ]);
    Component {
        name: name.to_string(),
        role,
        image: image.to_string(),
        args: None,
        env: BTreeMap::new(),
        secrets: Vec::new(),
        files: Vec::new(),
        ports: Vec::new(),
        mounts: Vec::new(),
        health: None,
        depends_on: Vec::new(),
        resources: super::budgets::resolve(r, super::budgets::default_for(name, role)),
        replicas: 1,
        labels,
        stop_grace_secs: 10,
        reaches_daemon: false,
        setup: None,
        capabilities: Vec::new(),
        read_only_root: matches!(role, Role::Cache | Role::Monitoring | Role::Edge)
            || name == super::wal::WAL_RECEIVER,
        migrate: None,
    }
}

pub(super) fn http_component(
    stack: &ValidatedStack,
    name: &str,
    role: Role,
    app: &v::HttpApp,
) -> Component {
    let mut c = component(stack, name, role, &app.image, app.resources);
    c.ports = vec![port("http", app.port)];
    c.health = Some(http_health(app.port, &app.health_path));
    c.replicas = app.replicas;
    c.migrate = (!app.migrate.is_empty()).then(|| app.migrate.clone());
    c
}

pub(super) fn http_health(port: u16, path: &str) -> HealthCheck {
    // wget exists in busybox, Alpine and Debian images alike; by IP, never by name
    // (busybox wget of a container name segfaults in Debian images). Exec form: the path
    // is one argument, never shell text.
    let mut h = health(
        vec![
            "wget".into(),
            "-q".into(),
            "-O".into(),
            "/dev/null".into(),
            format!("http://127.0.0.1:{port}{path}"),
        ],
        false,
        30_000,
    );
    h.http = Some(HttpGet {
        port,
        path: path.to_string(),
    });
    h
}

pub(super) fn health(command: Vec<String>, shell: bool, start_period_ms: u64) -> HealthCheck {
    HealthCheck {
        command,
        shell,
        interval_ms: HEALTH_INTERVAL_MS,
        start_interval_ms: HEALTH_START_INTERVAL_MS,
        timeout_ms: 3_000,
        retries: 3,
        start_period_ms,
        http: None,
    }
}

pub(super) fn port(name: &str, p: u16) -> Port {
    Port {
        name: name.into(),
        container_port: p,
        publish: None,
    }
}

pub(super) fn generated(key: &str) -> SecretKey {
    SecretKey {
        key: key.into(),
        source: SecretSource::Generated { length: 32 },
    }
}

pub(super) fn secret_mount(
    secret: &str,
    key: &str,
    path: &str,
    env_var: Option<&str>,
) -> SecretMount {
    SecretMount {
        secret: secret.into(),
        key: key.into(),
        path: path.into(),
        env_file_var: env_var.map(String::from),
    }
}

pub(super) fn env<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests {
    /// Docker mode keeps `SECRETS_DIR` off the container's layer: a secret file anywhere
    /// else would land in it.
    #[test]
    fn every_secret_file_is_under_the_secrets_dir() {
        for example in [
            include_str!("../../examples/quickstart.yaml"),
            include_str!("../../examples/crm.yaml"),
        ] {
            let stack = crate::api::load::parse_str(example, "x").unwrap();
            let plan = super::super::build(&crate::api::validate::validate(&stack, "x").unwrap());
            let components = plan
                .components
                .iter()
                .chain(plan.wal_shipper.as_ref().map(|w| &w.component));
            for c in components {
                for m in &c.secrets {
                    let dir = format!("{}/", super::super::SECRETS_DIR);
                    assert!(m.path.starts_with(&dir), "{}: {}", c.name, m.path);
                }
            }
        }
    }

    /// A health path with shell characters validates and reaches wget as one argument,
    /// in every renderer's form (exec, never a shell line).
    #[test]
    fn a_health_path_is_probed_literally() {
        let path = "/h?a=1&b=2;$(id)'x'";
        let yaml = format!(
            "apiVersion: appstack.io/v1alpha1\nkind: AppStack\nmetadata: {{name: t}}\nspec:\n  frontend: {{image: web:1, port: 3000, healthPath: \"{path}\"}}\n"
        );
        let object = crate::api::load::parse_str(&yaml, "t").unwrap();
        let stack = crate::api::validate::validate(&object, "t").unwrap();
        let plan = crate::plan::build(&stack);
        let h = plan.component("frontend").unwrap().health.clone().unwrap();
        assert!(!h.shell);
        assert_eq!(
            h.command,
            [
                "wget",
                "-q",
                "-O",
                "/dev/null",
                &format!("http://127.0.0.1:3000{path}")
            ]
        );
    }
}

/// The official PostgreSQL and Redis images start as root, hand the data directory to their
/// user and drop to it (gosu / su-exec): those steps need these capabilities, and nothing
/// else in the container holds them after the drop. The images appstack builds run as their
/// own numeric user from the start and keep none.
pub(super) fn data_store_capabilities(image: &str) -> Vec<String> {
    let name = image.split('@').next().unwrap_or(image);
    // A tag follows the last ':' unless that ':' is a registry's port (a '/' after it).
    let repository = match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => name,
    };
    if repository.ends_with("appstack/postgis") || repository.ends_with("appstack/redis") {
        return Vec::new();
    }
    ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"]
        .map(String::from)
        .to_vec()
}

#[cfg(test)]
mod capability_tests {
    use super::data_store_capabilities as caps;

    #[test]
    fn only_root_starting_images_keep_the_entrypoints_capabilities() {
        assert!(caps("appstack/postgis:15").is_empty());
        assert!(caps("registry.local:5000/appstack/redis:7").is_empty());
        assert_eq!(caps("postgis/postgis:15-3.4").len(), 5);
        assert_eq!(caps("redis:7.2-alpine").len(), 5);
        assert_eq!(caps("registry.local:5000/redis").len(), 5);
    }
}
