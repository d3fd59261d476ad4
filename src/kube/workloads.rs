//! Workloads: the database as a StatefulSet (claim templates for its volumes, the WAL
//! receiver and shipper as sidecars in the same pod), every other component as a
//! Deployment (rolling updates that never drop below the desired replicas for the frontend
//! and CMS), PersistentVolumeClaims for Deployment volumes, and a PodDisruptionBudget for
//! a frontend with more than one replica.

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment, StatefulSet,
    StatefulSetSpec,
};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSpec, PodTemplateSpec,
    VolumeResourceRequirements,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::access::{store_mounts, Identity};
use super::meta::{component_meta, selector, selector_labels, Owner};
use super::pod::{add_container, bytes_quantity, PodParts, VolumeMode};
use super::Images;
use crate::plan::{Component, Mount, Plan, Role};

fn template(plan: &Plan, c: &Component, parts: PodParts, grace: u32) -> PodTemplateSpec {
    let mut labels = c.labels.clone();
    labels.extend(selector_labels(plan, &c.name));
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            volumes: parts.volumes(),
            init_containers: parts.init_containers(),
            containers: parts.containers,
            termination_grace_period_seconds: Some(i64::from(grace)),
            enable_service_links: Some(false),
            ..Default::default()
        }),
    }
}

fn claim(name: String, size_bytes: u64, meta: Option<ObjectMeta>) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: meta.unwrap_or(ObjectMeta {
            name: Some(name),
            ..Default::default()
        }),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some([("storage".to_string(), bytes_quantity(size_bytes))].into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn volume_size(plan: &Plan, name: &str) -> u64 {
    plan.volumes
        .iter()
        .find(|v| v.name == name)
        .map_or(1 << 30, |v| v.size_bytes)
}

/// The database component's (and container's) name.
pub const DATABASE: &str = "database";

/// The database StatefulSet's one pod, `<stack>-database-0`: a stable name, so a Role can
/// grant exec in it alone.
pub fn database_pod(stack: &str) -> String {
    format!("{stack}-{DATABASE}-0")
}

/// The database pod: PostgreSQL, and with WAL streaming the receiver plus appstack's
/// shipper draining their shared spool volume into the store.
pub fn database(plan: &Plan, owner: &Owner, images: &Images) -> Option<StatefulSet> {
    let db = plan.components.iter().find(|c| c.role == Role::Database)?;
    let mut parts = PodParts::default();
    add_container(&mut parts, plan, db, VolumeMode::ClaimTemplate);
    let mut claims: Vec<String> = volume_names(db);
    let store = store_mounts(plan);
    let mut service_account = None;
    for sidecar in plan.components.iter().filter(|c| c.role == Role::Backup) {
        add_container(&mut parts, plan, sidecar, VolumeMode::ClaimTemplate);
        claims.extend(volume_names(sidecar));
    }
    if let Some(shipper) = &plan.wal_shipper {
        // The plan's shipper, run by the operator's image and reading its AppStack from the API.
        let mut c = shipper.component.clone();
        c.image = images.operator.clone();
        if let Some(args) = c.args.as_mut() {
            let at = args.len().min(2);
            args.splice(
                at..at,
                [
                    "--stack".into(),
                    plan.stack.clone(),
                    "--namespace".into(),
                    plan.namespace.clone(),
                ],
            );
        }
        add_container(&mut parts, plan, &c, VolumeMode::ClaimTemplate);
        claims.extend(volume_names(&c));
        if let Some(container) = parts.containers.last_mut() {
            container.env_from = store.env_from.clone();
            container
                .volume_mounts
                .get_or_insert_with(Vec::new)
                .extend(store.mounts.iter().cloned());
        }
        for v in &store.volumes {
            parts.volumes.insert(v.name.clone(), v.clone());
        }
        service_account = Some(Identity::WalShipper.name(plan));
    }
    claims.sort();
    claims.dedup();
    let templates: Vec<PersistentVolumeClaim> = claims
        .into_iter()
        .map(|v| {
            let size = volume_size(plan, &v);
            claim(v, size, None)
        })
        .collect();
    Some(StatefulSet {
        metadata: component_meta(plan, owner, db, ""),
        spec: Some(StatefulSetSpec {
            replicas: Some(1),
            service_name: Some(plan.object_name(&db.name)),
            selector: selector(plan, &db.name),
            template: {
                let mut t = template(plan, db, parts, db.stop_grace_secs);
                if let Some(spec) = t.spec.as_mut() {
                    spec.service_account_name = service_account;
                }
                t
            },
            volume_claim_templates: Some(templates),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn volume_names(c: &Component) -> Vec<String> {
    c.mounts
        .iter()
        .filter_map(|m| match m {
            Mount::Volume { volume, .. } => Some(volume.clone()),
            Mount::Host { .. } | Mount::Scratch { .. } => None,
        })
        .collect()
}

/// Every component outside the database pod, as a Deployment.
pub fn deployments(plan: &Plan, owner: &Owner) -> Vec<Deployment> {
    plan.components
        .iter()
        .filter(|c| !matches!(c.role, Role::Database | Role::Backup))
        .map(|c| {
            let mut parts = PodParts::default();
            add_container(&mut parts, plan, c, VolumeMode::Claim);
            // A volume is ReadWriteOnce: its pod must stop before the next one mounts it,
            // unless the component promises zero downtime (frontend, CMS).
            let zero_downtime = matches!(c.role, Role::Frontend | Role::Cms);
            let strategy = if zero_downtime {
                DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_unavailable: Some(IntOrString::Int(0)),
                        max_surge: Some(IntOrString::Int(1)),
                    }),
                }
            } else if volume_names(c).is_empty() {
                DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: None,
                }
            } else {
                DeploymentStrategy {
                    type_: Some("Recreate".into()),
                    rolling_update: None,
                }
            };
            Deployment {
                metadata: component_meta(plan, owner, c, ""),
                spec: Some(DeploymentSpec {
                    replicas: Some(i32::try_from(c.replicas).unwrap_or(1)),
                    selector: selector(plan, &c.name),
                    strategy: Some(strategy),
                    template: template(plan, c, parts, c.stop_grace_secs),
                    ..Default::default()
                }),
                ..Default::default()
            }
        })
        .collect()
}

/// Claims of the volumes Deployments mount (the StatefulSet brings its own).
pub fn claims(plan: &Plan, owner: &Owner) -> Vec<PersistentVolumeClaim> {
    let mut names: Vec<(String, &Component)> = plan
        .components
        .iter()
        .filter(|c| !matches!(c.role, Role::Database | Role::Backup))
        .flat_map(|c| volume_names(c).into_iter().map(move |v| (v, c)))
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    names.dedup_by(|a, b| a.0 == b.0);
    names
        .into_iter()
        .map(|(v, c)| {
            let mut meta = component_meta(plan, owner, c, "");
            meta.name = Some(format!("{}-{v}", plan.stack));
            // Data outlives its stack: no owner reference, so deleting the AppStack keeps it.
            meta.owner_references = None;
            claim(v.clone(), volume_size(plan, &v), Some(meta))
        })
        .collect()
}

/// A frontend with more than one replica keeps at least one through voluntary disruptions.
pub fn disruption_budgets(plan: &Plan, owner: &Owner) -> Vec<PodDisruptionBudget> {
    plan.components
        .iter()
        .filter(|c| c.role == Role::Frontend && c.replicas > 1)
        .map(|c| PodDisruptionBudget {
            metadata: component_meta(plan, owner, c, ""),
            spec: Some(PodDisruptionBudgetSpec {
                max_unavailable: Some(IntOrString::Int(1)),
                selector: Some(selector(plan, &c.name)),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect()
}
