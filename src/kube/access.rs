//! What appstack's own pods (the WAL shipper sidecar, the backup CronJobs) need to act for
//! a stack: an identity with just enough API rights, and the store's credentials, key and
//! (for a filesystem target) directory mounted where the spec, read in the pod, says.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EnvFromSource, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, SecretEnvSource, SecretVolumeSource, ServiceAccount, Volume,
    VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};

use super::meta::{meta, stack_labels, Owner};
use super::pod::bytes_quantity;
use super::workloads::database_pod;
use crate::plan::{Plan, Role as ComponentRole};

/// Where a pod finds the encryption key Secret's `key` entry.
pub const KEY_DIR: &str = "/etc/appstack/backup-key";
pub const KEY_ITEM: &str = "key";
const KEY_VOLUME: &str = "backup-key";
const STORE_VOLUME: &str = "backup-store";

/// The two identities: the shipper reads its AppStack and reports into its status; the
/// backup jobs also exec PostgreSQL's tools in the stack's pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    WalShipper,
    Backup,
}

impl Identity {
    pub fn name(self, plan: &Plan) -> String {
        match self {
            Identity::WalShipper => format!("{}-wal-shipper", plan.stack),
            Identity::Backup => format!("{}-backup", plan.stack),
        }
    }

    fn rules(self, plan: &Plan) -> Vec<PolicyRule> {
        let mut rules = vec![
            PolicyRule {
                api_groups: Some(vec!["appstack.io".into()]),
                resources: Some(vec!["appstacks".into()]),
                resource_names: Some(vec![plan.stack.clone()]),
                verbs: vec!["get".into()],
                ..Default::default()
            },
            // Facts for the operator's conditions (`kube::report`).
            PolicyRule {
                api_groups: Some(vec!["appstack.io".into()]),
                resources: Some(vec!["appstacks/status".into()]),
                resource_names: Some(vec![plan.stack.clone()]),
                verbs: vec!["patch".into()],
                ..Default::default()
            },
        ];
        // The jobs exec PostgreSQL's tools in the database pod and nowhere else: the files
        // backup mounts the uploads claim and the drill shares its copy's socket, so both
        // run their commands in their own container (`KubeRunner::local`).
        if self == Identity::Backup {
            let database = vec![database_pod(&plan.stack)];
            rules.push(PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["pods".into()]),
                resource_names: Some(database.clone()),
                verbs: vec!["get".into()],
                ..Default::default()
            });
            // The exec stream is a websocket GET on older servers and a create on newer.
            rules.push(PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["pods/exec".into()]),
                resource_names: Some(database),
                verbs: vec!["create".into(), "get".into()],
                ..Default::default()
            });
        }
        rules
    }
}

/// The identities the stack's protection needs (none without a database and backups).
fn identities(plan: &Plan) -> Vec<Identity> {
    let mut out = Vec::new();
    if plan.store.is_none()
        || !plan
            .components
            .iter()
            .any(|c| c.role == ComponentRole::Database)
    {
        return out;
    }
    if plan
        .components
        .iter()
        .any(|c| c.role == ComponentRole::Backup)
    {
        out.push(Identity::WalShipper);
    }
    if !plan.jobs.is_empty() {
        out.push(Identity::Backup);
    }
    out
}

fn labels(plan: &Plan, identity: Identity) -> BTreeMap<String, String> {
    let mut l = stack_labels(plan);
    let component = match identity {
        Identity::WalShipper => "wal-shipper",
        Identity::Backup => "backup",
    };
    l.insert("app.kubernetes.io/component".into(), component.into());
    l
}

pub fn service_accounts(plan: &Plan, owner: &Owner) -> Vec<ServiceAccount> {
    identities(plan)
        .into_iter()
        .map(|i| ServiceAccount {
            metadata: meta(plan, owner, i.name(plan), labels(plan, i)),
            ..Default::default()
        })
        .collect()
}

pub fn roles(plan: &Plan, owner: &Owner) -> Vec<Role> {
    identities(plan)
        .into_iter()
        .map(|i| Role {
            metadata: meta(plan, owner, i.name(plan), labels(plan, i)),
            rules: Some(i.rules(plan)),
        })
        .collect()
}

pub fn role_bindings(plan: &Plan, owner: &Owner) -> Vec<RoleBinding> {
    identities(plan)
        .into_iter()
        .map(|i| RoleBinding {
            metadata: meta(plan, owner, i.name(plan), labels(plan, i)),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "Role".into(),
                name: i.name(plan),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: i.name(plan),
                namespace: Some(plan.namespace.clone()),
                ..Default::default()
            }]),
        })
        .collect()
}

/// The claim behind a filesystem target: shared by the database pod's shipper and the
/// backup jobs, which may run on other nodes (ReadWriteMany), sized at twice the database.
pub fn store_claim(plan: &Plan, owner: &Owner) -> Option<PersistentVolumeClaim> {
    plan.store.as_ref()?.directory.as_ref()?;
    let db = plan
        .components
        .iter()
        .find(|c| c.role == ComponentRole::Database)?;
    let db_bytes: u64 = db
        .mounts
        .iter()
        .filter_map(|m| match m {
            crate::plan::Mount::Volume { volume, .. } => {
                plan.volumes.iter().find(|v| &v.name == volume)
            }
            crate::plan::Mount::Host { .. } | crate::plan::Mount::Scratch { .. } => None,
        })
        .map(|v| v.size_bytes)
        .sum();
    let mut m = meta(plan, owner, store_claim_name(plan), stack_labels(plan));
    // Backups outlive the stack: no owner reference.
    m.owner_references = None;
    Some(PersistentVolumeClaim {
        metadata: m,
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteMany".into()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(
                    [(
                        "storage".to_string(),
                        bytes_quantity(db_bytes.max(1 << 30) * 2),
                    )]
                    .into(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn store_claim_name(plan: &Plan) -> String {
    format!("{}-backup-store", plan.stack)
}

/// Env, volumes and mounts that give a container of appstack's image the store.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StoreMounts {
    pub env_from: Option<Vec<EnvFromSource>>,
    pub volumes: Vec<Volume>,
    pub mounts: Vec<VolumeMount>,
}

pub fn store_mounts(plan: &Plan) -> StoreMounts {
    let mut out = StoreMounts::default();
    let Some(access) = &plan.store else {
        return out;
    };
    if let Some(secret) = &access.credentials {
        out.env_from = Some(vec![EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: secret.clone(),
                optional: Some(false),
            }),
            ..Default::default()
        }]);
    }
    if let Some(secret) = &access.key {
        out.volumes.push(Volume {
            name: KEY_VOLUME.into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.clone()),
                default_mode: Some(0o400),
                ..Default::default()
            }),
            ..Default::default()
        });
        out.mounts.push(VolumeMount {
            name: KEY_VOLUME.into(),
            mount_path: KEY_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        });
    }
    if let Some(dir) = &access.directory {
        out.volumes.push(Volume {
            name: STORE_VOLUME.into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: store_claim_name(plan),
                read_only: Some(false),
            }),
            ..Default::default()
        });
        out.mounts.push(VolumeMount {
            name: STORE_VOLUME.into(),
            mount_path: dir.clone(),
            ..Default::default()
        });
    }
    out
}
