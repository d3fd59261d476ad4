//! Plan component → Docker container configuration (pure).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, HostConfigLogConfig,
    Mount as DMount, MountTmpfsOptions, MountType, NetworkingConfig, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};
use sha2::{Digest, Sha256};

use crate::plan::names::{daemon_host, network_name, volume_name};
use crate::plan::rollout::{rollout, Rollout};
use crate::plan::{
    spec_hash, Component, Mount, Plan, Tier, LABEL_SPEC_HASH, SECRETS_DIR, UNPRIVILEGED_PORT_START,
};
use crate::secrets::Resolved;

/// The hash stamped on a container: its plan, its networks and the fingerprint of the
/// secrets it mounts, so a changed secret recreates the containers that read it.
pub fn container_hash(plan: &Plan, component: &Component, secrets: &Resolved) -> String {
    let mut h = Sha256::new();
    h.update(spec_hash(component).as_bytes());
    let tiers = plan.networks_of(component);
    // The stacks made before the split had the app network only: their hashes stay.
    if tiers != [Tier::App] {
        for t in tiers {
            h.update(format!("network:{t:?}").as_bytes());
        }
    }
    for m in &component.secrets {
        if let Some(v) = secrets.get(&(m.secret.clone(), m.key.clone())) {
            h.update(Sha256::digest(v.expose().as_bytes()));
        }
    }
    hex::encode(&h.finalize()[..8])
}

/// The create body of a component's container.
pub fn container_body(plan: &Plan, c: &Component, hash: &str) -> ContainerCreateBody {
    let mut labels: HashMap<String, String> = c.labels.clone().into_iter().collect();
    labels.insert(LABEL_SPEC_HASH.to_string(), hash.to_string());
    let first = plan.networks_of(c).first().copied().unwrap_or(Tier::App);
    let network = network_name(&plan.stack, first);

    let mut port_bindings = HashMap::new();
    let mut exposed = Vec::new();
    for p in &c.ports {
        let key = format!("{}/tcp", p.container_port);
        exposed.push(key.clone());
        if let Some(publish) = &p.publish {
            port_bindings.insert(
                key,
                Some(vec![PortBinding {
                    host_ip: Some(publish.host_ip.clone()),
                    host_port: Some(publish.host_port.to_string()),
                }]),
            );
        }
    }
    let healthcheck = c.health.as_ref().map(health_config);
    let host_config = HostConfig {
        network_mode: Some(network.clone()),
        port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
        mounts: Some(mounts(plan, c)),
        // unless-stopped: the engine restarts crashed processes; appstack handles unhealthy ones.
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
            maximum_retry_count: None,
        }),
        // An init as PID 1 forwards signals, so `down` never waits out the grace period.
        init: Some(true),
        nano_cpus: c
            .resources
            .cpu_millis
            .map(|m| (m as i64).saturating_mul(1_000_000)),
        // Validation keeps quantities within i64.
        memory: c.resources.memory_bytes.and_then(|b| i64::try_from(b).ok()),
        memory_reservation: c
            .resources
            .memory_request_bytes
            .and_then(|b| i64::try_from(b).ok()),
        pids_limit: Some(i64::from(c.resources.pids)),
        // No process in the container gains privileges (setuid binaries, file capabilities),
        // and none holds a capability: every image runs as its own non-root user.
        security_opt: Some(vec!["no-new-privileges:true".into()]),
        cap_drop: Some(vec!["ALL".into()]),
        readonly_rootfs: c.read_only_root.then_some(true),
        sysctls: c
            .binds_privileged_ports()
            .then(|| HashMap::from([(UNPRIVILEGED_PORT_START.to_string(), "0".to_string())])),
        cap_add: (!c.capabilities.is_empty()).then(|| c.capabilities.clone()),
        // The engine's host gateway, where `appstack run` serves metrics and the alert log.
        extra_hosts: c
            .reaches_daemon
            .then(|| vec![format!("{}:host-gateway", daemon_host(&plan.stack))]),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([
                ("max-size".to_string(), "10m".to_string()),
                ("max-file".to_string(), "3".to_string()),
            ])),
        }),
        ..Default::default()
    };
    let endpoint = EndpointSettings {
        aliases: network_aliases(plan, c),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(c.image.clone()),
        hostname: Some(c.name.clone()),
        cmd: c.args.clone(),
        env: Some(c.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(labels),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        healthcheck,
        stop_timeout: Some(i64::from(c.stop_grace_secs)),
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(network, endpoint)])),
        }),
        ..Default::default()
    }
}

/// The networks a created container joins after the one it is created on (API 1.41
/// attaches one at creation), with the names it answers to there.
pub fn later_networks(plan: &Plan, c: &Component) -> Vec<(String, Vec<String>)> {
    plan.networks_of(c)
        .into_iter()
        .skip(1)
        .map(|t| {
            let aliases = network_aliases(plan, c).unwrap_or_default();
            (network_name(&plan.stack, t), aliases)
        })
        .collect()
}

/// The names a container answers to besides its own. A blue/green component has none: its
/// replacement boots beside it under the pending name, and only a rename (after the health
/// check) gives the new one the name clients resolve; an alias would send them to it early.
fn network_aliases(plan: &Plan, c: &Component) -> Option<Vec<String>> {
    (rollout(c) != Rollout::BlueGreen).then(|| vec![plan.object_name(&c.name), c.name.clone()])
}

/// The plan's mounts, plus a volume of the container's own for its secret files: they are
/// written there before the start, so they never enter the container's layer (and the
/// volume goes with the container).
fn mounts(plan: &Plan, c: &Component) -> Vec<DMount> {
    let mut mounts: Vec<DMount> = c
        .mounts
        .iter()
        .map(|m| match m {
            Mount::Volume { volume, path } => DMount {
                typ: Some(MountType::VOLUME),
                source: Some(volume_name(&plan.stack, volume)),
                target: Some(path.clone()),
                ..Default::default()
            },
            Mount::Host { host_path, path } => DMount {
                typ: Some(MountType::BIND),
                source: Some(host_path.clone()),
                target: Some(path.clone()),
                read_only: Some(true),
                ..Default::default()
            },
            Mount::Scratch { path, .. } => DMount {
                typ: Some(MountType::TMPFS),
                target: Some(path.clone()),
                tmpfs_options: Some(MountTmpfsOptions {
                    size_bytes: Some(1 << 20),
                    mode: Some(0o1777),
                    ..Default::default()
                }),
                ..Default::default()
            },
        })
        .collect();
    if !c.secrets.is_empty() {
        mounts.push(DMount {
            typ: Some(MountType::VOLUME),
            target: Some(SECRETS_DIR.into()),
            ..Default::default()
        });
    }
    mounts.extend(config_dirs(c).into_iter().map(|dir| DMount {
        typ: Some(MountType::VOLUME),
        target: Some(dir),
        ..Default::default()
    }));
    mounts
}

fn health_config(h: &crate::plan::HealthCheck) -> HealthConfig {
    let mut test = vec![if h.shell { "CMD-SHELL" } else { "CMD" }.to_string()];
    test.extend(h.command.iter().cloned());
    let ns = |ms: u64| {
        i64::try_from(ms)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000)
    };
    HealthConfig {
        test: Some(test),
        interval: Some(ns(h.interval_ms)),
        timeout: Some(ns(h.timeout_ms)),
        retries: Some(i64::from(h.retries)),
        start_period: Some(ns(h.start_period_ms)),
        start_interval: None,
    }
}

/// The directories of a read-only container's config files: each becomes a volume of the
/// container's own (as `/run/secrets` does), the only places the engine lets files in.
pub fn config_dirs(c: &Component) -> BTreeSet<String> {
    if !c.read_only_root {
        return BTreeSet::new();
    }
    c.files
        .iter()
        .filter_map(|f| Path::new(&f.path).parent())
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !Path::new(p).starts_with(SECRETS_DIR))
        .collect()
}

/// Tars of the component's config files and secret files, each with the directory it is
/// extracted at: one at `/` for a writable root, one per volume for a read-only root.
/// Files are 0444: the service user inside the image must read them, and nothing is bind
/// mounted from the host's 0700 secret store; the secret files land on the container's
/// secrets volume (`mounts`).
pub fn files_tars(c: &Component, secrets: &Resolved) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut entries: Vec<(String, Vec<u8>)> = c
        .files
        .iter()
        .map(|f| (f.path.clone(), f.content.clone().into_bytes()))
        .collect();
    for m in &c.secrets {
        if let Some(v) = secrets.get(&(m.secret.clone(), m.key.clone())) {
            entries.push((m.path.clone(), v.expose().as_bytes().to_vec()));
        }
    }
    let mut roots: Vec<String> = config_dirs(c).into_iter().collect();
    if c.read_only_root {
        roots.push(SECRETS_DIR.into());
    }
    // The deepest root holding a file is where it goes; `/` holds the rest.
    roots.sort_by_key(|r| std::cmp::Reverse(r.len()));
    let mut by_root: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    for (path, data) in entries {
        let root = roots
            .iter()
            .find(|r| Path::new(&path).starts_with(r.as_str()))
            .cloned()
            .unwrap_or_else(|| "/".into());
        let relative = Path::new(&path)
            .strip_prefix(&root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or(path);
        by_root.entry(root).or_default().push((relative, data));
    }
    by_root
        .into_iter()
        .map(|(root, files)| Ok((root, tar_of(files)?)))
        .collect()
}

/// A tar of `files` (paths relative to where it is extracted) with their directories.
fn tar_of(files: Vec<(String, Vec<u8>)>) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut dirs = BTreeSet::new();
    for (path, _) in &files {
        if let Some(parent) = Path::new(path).parent() {
            let p = parent.to_string_lossy().trim_start_matches('/').to_string();
            if !p.is_empty() && dirs.insert(p.clone()) {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                h.set_mtime(0);
                builder.append_data(&mut h, format!("{p}/"), std::io::empty())?;
            }
        }
    }
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o444);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut h, path.trim_start_matches('/'), data.as_slice())?;
    }
    builder.into_inner()
}
