//! A plan component as a pod's container: image, args, env, ports, probes from the plan's
//! health check, resources, and its files (secret keys and config files mounted one by one
//! with `subPath`, at exactly the paths the plan names).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    ExecAction, HostPathVolumeSource, PersistentVolumeClaimVolumeSource, Probe,
    ResourceRequirements, SeccompProfile, SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::plan::{Component, HealthCheck, Mount, Plan, Resources};

/// How a plan volume reaches a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeMode {
    /// A StatefulSet claim template of the same name provides it.
    ClaimTemplate,
    /// A PersistentVolumeClaim `<stack>-<volume>` created beside the workload.
    Claim,
    /// An emptyDir of the pod: the DR drill's throwaway copy.
    Ephemeral,
}

/// Containers and the pod volumes they need.
#[derive(Debug, Clone, Default)]
pub struct PodParts {
    pub containers: Vec<Container>,
    /// The components' setup steps, run in order before the containers start.
    pub init_containers: Vec<Container>,
    pub volumes: BTreeMap<String, Volume>,
}

impl PodParts {
    pub fn volumes(&self) -> Option<Vec<Volume>> {
        (!self.volumes.is_empty()).then(|| self.volumes.values().cloned().collect())
    }

    pub fn init_containers(&self) -> Option<Vec<Container>> {
        (!self.init_containers.is_empty()).then(|| self.init_containers.clone())
    }
}

/// The name of a component's ConfigMap of files.
pub fn config_map_name(plan: &Plan, c: &Component) -> String {
    format!("{}-files", plan.object_name(&c.name))
}

/// The name of a stack secret's Secret object.
pub fn secret_name(plan: &Plan, secret: &str) -> String {
    format!("{}-{secret}", plan.stack)
}

/// Adds `c` as a container of the pod.
pub fn add_container(parts: &mut PodParts, plan: &Plan, c: &Component, mode: VolumeMode) {
    let mounts = mounts(parts, plan, c, mode);
    let ports: Vec<ContainerPort> = c
        .ports
        .iter()
        .map(|p| ContainerPort {
            name: Some(p.name.clone()),
            container_port: i32::from(p.container_port),
            protocol: Some("TCP".into()),
            ..Default::default()
        })
        .collect();
    let (startup, readiness, liveness) = match &c.health {
        Some(h) => probes(h),
        None => (None, None, None),
    };
    parts.containers.push(Container {
        name: c.name.clone(),
        image: Some(c.image.clone()),
        args: c.args.clone(),
        env: env_vars(&c.env),
        ports: (!ports.is_empty()).then_some(ports),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        startup_probe: startup,
        readiness_probe: readiness,
        liveness_probe: liveness,
        resources: resources(&c.resources),
        security_context: Some(SecurityContext {
            read_only_root_filesystem: c.read_only_root.then_some(true),
            ..restricted(&c.capabilities)
        }),
        ..Default::default()
    });
    add_setup(parts, plan, c);
}

/// Plain-value environment variables; None when there are none.
fn env_vars(env: &BTreeMap<String, String>) -> Option<Vec<EnvVar>> {
    let vars: Vec<EnvVar> = env
        .iter()
        .map(|(k, v)| EnvVar {
            name: k.clone(),
            value: Some(v.clone()),
            value_from: None,
        })
        .collect();
    (!vars.is_empty()).then_some(vars)
}

/// `c`'s setup step as an init container: the step's secrets and the component's config
/// files (its ConfigMap); the kubelet retries it until it succeeds, so it needs no ordering.
fn add_setup(parts: &mut PodParts, plan: &Plan, c: &Component) {
    let Some(step) = &c.setup else { return };
    let mut shadow = c.clone();
    shadow.secrets = step.secrets.clone();
    shadow.mounts = Vec::new();
    let mounts = mounts(parts, plan, &shadow, VolumeMode::Ephemeral);
    parts.init_containers.push(Container {
        name: step.name.clone(),
        image: Some(step.image.clone()),
        args: Some(step.args.clone()),
        env: env_vars(&step.env),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        security_context: Some(restricted(&[])),
        ..Default::default()
    });
}

/// As in Docker mode: nothing in the container gains privileges or holds a capability but
/// `keep`, and the runtime's default seccomp profile applies. A container that keeps no
/// capability runs as its image's own (numeric) user: the kubelet refuses to start it as
/// root (the restricted Pod Security profile).
fn restricted(keep: &[String]) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: (!keep.is_empty()).then(|| keep.to_vec()),
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        run_as_non_root: keep.is_empty().then_some(true),
        ..Default::default()
    }
}

/// The container's mounts (secrets and config files as single files, volumes, read-only
/// host paths), adding the pod volumes they need to `parts`.
fn mounts(parts: &mut PodParts, plan: &Plan, c: &Component, mode: VolumeMode) -> Vec<VolumeMount> {
    let mut mounts = Vec::new();
    for s in &c.secrets {
        let vol = format!("secret-{}", s.secret);
        parts.volumes.entry(vol.clone()).or_insert_with(|| Volume {
            name: vol.clone(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret_name(plan, &s.secret)),
                default_mode: Some(0o444),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(file_mount(&vol, &s.path, &s.key));
    }
    if !c.files.is_empty() {
        let vol = format!("files-{}", c.name);
        parts.volumes.entry(vol.clone()).or_insert_with(|| Volume {
            name: vol.clone(),
            config_map: Some(ConfigMapVolumeSource {
                name: config_map_name(plan, c),
                default_mode: Some(0o444),
                ..Default::default()
            }),
            ..Default::default()
        });
        for f in &c.files {
            mounts.push(file_mount(&vol, &f.path, &f.name));
        }
    }
    for m in &c.mounts {
        match m {
            Mount::Volume { volume, path } => {
                let source = match mode {
                    VolumeMode::ClaimTemplate => None,
                    VolumeMode::Claim => Some(Volume {
                        name: volume.clone(),
                        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                            claim_name: format!("{}-{volume}", plan.stack),
                            read_only: None,
                        }),
                        ..Default::default()
                    }),
                    VolumeMode::Ephemeral => Some(Volume {
                        name: volume.clone(),
                        empty_dir: Some(Default::default()),
                        ..Default::default()
                    }),
                };
                if let Some(v) = source {
                    parts.volumes.entry(volume.clone()).or_insert(v);
                }
                mounts.push(VolumeMount {
                    name: volume.clone(),
                    mount_path: path.clone(),
                    ..Default::default()
                });
            }
            Mount::Host { host_path, path } => {
                let vol = format!("host{}", host_path.replace('/', "-"));
                parts.volumes.entry(vol.clone()).or_insert_with(|| Volume {
                    name: vol.clone(),
                    host_path: Some(HostPathVolumeSource {
                        path: host_path.clone(),
                        type_: Some("Directory".into()),
                    }),
                    ..Default::default()
                });
                mounts.push(VolumeMount {
                    name: vol,
                    mount_path: path.clone(),
                    read_only: Some(true),
                    ..Default::default()
                });
            }
            Mount::Scratch { name, path } => {
                parts.volumes.entry(name.clone()).or_insert_with(|| Volume {
                    name: name.clone(),
                    empty_dir: Some(EmptyDirVolumeSource {
                        medium: Some("Memory".into()),
                        size_limit: Some(Quantity("1Mi".into())),
                    }),
                    ..Default::default()
                });
                mounts.push(VolumeMount {
                    name: name.clone(),
                    mount_path: path.clone(),
                    ..Default::default()
                });
            }
        }
    }
    mounts
}

fn file_mount(volume: &str, path: &str, key: &str) -> VolumeMount {
    VolumeMount {
        name: volume.into(),
        mount_path: path.into(),
        sub_path: Some(key.into()),
        read_only: Some(true),
        ..Default::default()
    }
}

/// Startup (covers the start period), readiness and liveness, all running the plan's
/// check. Liveness tolerates more failures than readiness: an overloaded pod is taken out
/// of the Service long before it is restarted.
fn probes(h: &HealthCheck) -> (Option<Probe>, Option<Probe>, Option<Probe>) {
    let command = if h.shell {
        vec!["sh".to_string(), "-c".to_string(), h.command.join(" ")]
    } else {
        h.command.clone()
    };
    let secs = |ms: u64| i32::try_from(ms.div_ceil(1000).max(1)).unwrap_or(i32::MAX);
    let period = secs(h.interval_ms);
    let base = Probe {
        exec: Some(ExecAction {
            command: Some(command),
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(secs(h.timeout_ms)),
        failure_threshold: Some(i32::try_from(h.retries.max(1)).unwrap_or(3)),
        ..Default::default()
    };
    let startup = Probe {
        period_seconds: Some(secs(h.start_interval_ms)),
        failure_threshold: Some(
            i32::try_from(
                h.start_period_ms
                    .div_ceil(h.start_interval_ms.max(1))
                    .max(1),
            )
            .unwrap_or(i32::MAX),
        ),
        ..base.clone()
    };
    let liveness = Probe {
        period_seconds: Some(period.max(10)),
        failure_threshold: Some(6),
        ..base.clone()
    };
    (Some(startup), Some(base), Some(liveness))
}

/// The memory limit and reservation of the plan's budget; a CPU limit is also the request,
/// so the scheduler places the pod where the CPU it may use exists.
fn resources(r: &Resources) -> Option<ResourceRequirements> {
    let mut limits = BTreeMap::new();
    let mut requests = BTreeMap::new();
    if let Some(m) = r.cpu_millis {
        limits.insert("cpu".to_string(), Quantity(format!("{m}m")));
        requests.insert("cpu".to_string(), Quantity(format!("{m}m")));
    }
    if let Some(b) = r.memory_bytes {
        limits.insert("memory".to_string(), bytes_quantity(b));
    }
    if let Some(b) = r.memory_request_bytes.or(r.memory_bytes) {
        requests.insert("memory".to_string(), bytes_quantity(b));
    }
    (!limits.is_empty() || !requests.is_empty()).then(|| ResourceRequirements {
        requests: (!requests.is_empty()).then_some(requests),
        limits: (!limits.is_empty()).then_some(limits),
        ..Default::default()
    })
}

/// Bytes as a Kubernetes quantity in the largest binary unit that divides them.
pub fn bytes_quantity(bytes: u64) -> Quantity {
    for (unit, size) in [
        ("Ti", 1u64 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return Quantity(format!("{}{unit}", bytes / size));
        }
    }
    Quantity(bytes.to_string())
}
