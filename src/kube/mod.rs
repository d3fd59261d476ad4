//! Kubernetes mode: the plan rendered as Kubernetes objects by pure builders (every object
//! complete: labels, owner reference, probes, resources). `appstack render kube` prints
//! them; the operator applies them.

pub mod access;
pub mod alerts;
pub mod config;
pub mod controller;
pub mod drill;
pub mod error;
pub mod jobs;
pub mod lease;
pub mod meta;
pub mod network;
pub mod operator;
pub mod pod;
pub mod policy;
pub mod report;
pub mod rollout;
pub mod runner;
pub mod source;
pub mod status;
pub mod sync;
pub mod workloads;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};

pub use meta::Owner;

use crate::plan::Plan;

/// Images the children refer to that are not part of the stack's spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    /// The appstack image (WAL shipper sidecar, backup CronJobs).
    pub operator: String,
    /// The operator's Service (DNS name): the stacks' Prometheus scrapes appstack's metrics
    /// and Alertmanager delivers the alert log there, through an ExternalName Service.
    pub operator_service: String,
}

/// The chart's Service of the operator, in the chart's default namespace.
pub const OPERATOR_SERVICE: &str = "appstack-operator-metrics.appstack-system.svc.cluster.local";

impl Default for Images {
    fn default() -> Self {
        Self {
            operator: format!("ghcr.io/appstack/appstack:{}", env!("CARGO_PKG_VERSION")),
            operator_service: OPERATOR_SERVICE.into(),
        }
    }
}

/// Every child of one AppStack. Destructure it without `..`: a new kind must be handled
/// wherever children are applied, listed or pruned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Children {
    pub secrets: Vec<Secret>,
    pub config_maps: Vec<ConfigMap>,
    pub claims: Vec<PersistentVolumeClaim>,
    pub stateful_sets: Vec<StatefulSet>,
    pub deployments: Vec<Deployment>,
    pub services: Vec<Service>,
    pub ingresses: Vec<Ingress>,
    pub network_policies: Vec<NetworkPolicy>,
    pub cron_jobs: Vec<CronJob>,
    pub disruption_budgets: Vec<PodDisruptionBudget>,
    pub service_accounts: Vec<ServiceAccount>,
    pub roles: Vec<Role>,
    pub role_bindings: Vec<RoleBinding>,
}

/// Builds every child (pure; `generate` makes secret values for Secrets to be created).
pub fn build(
    plan: &Plan,
    owner: &Owner,
    images: &Images,
    generate: &mut dyn FnMut(usize) -> String,
) -> Children {
    let plan = &plan.clone().without_edge();
    Children {
        secrets: config::secrets(plan, owner, generate),
        config_maps: config::config_maps(plan, owner),
        claims: workloads::claims(plan, owner)
            .into_iter()
            .chain(access::store_claim(plan, owner))
            .collect(),
        stateful_sets: workloads::database(plan, owner, images)
            .into_iter()
            .collect(),
        deployments: workloads::deployments(plan, owner),
        services: network::services(plan, owner)
            .into_iter()
            .chain(network::daemon_service(plan, owner, images))
            .collect(),
        ingresses: network::ingress(plan, owner).into_iter().collect(),
        network_policies: policy::network_policies(plan, owner),
        cron_jobs: jobs::cron_jobs(plan, owner, images)
            .into_iter()
            .chain(drill::drill_cron_job(plan, owner, images))
            .collect(),
        disruption_budgets: workloads::disruption_budgets(plan, owner),
        service_accounts: access::service_accounts(plan, owner),
        roles: access::roles(plan, owner),
        role_bindings: access::role_bindings(plan, owner),
    }
}

impl Children {
    /// Every object as JSON with apiVersion and kind, in apply order.
    pub fn documents(&self) -> Result<Vec<serde_json::Value>, serde_json::Error> {
        let Children {
            secrets,
            config_maps,
            claims,
            stateful_sets,
            deployments,
            services,
            ingresses,
            network_policies,
            cron_jobs,
            disruption_budgets,
            service_accounts,
            roles,
            role_bindings,
        } = self;
        let mut out = Vec::new();
        push_all(&mut out, service_accounts)?;
        push_all(&mut out, roles)?;
        push_all(&mut out, role_bindings)?;
        push_all(&mut out, secrets)?;
        push_all(&mut out, config_maps)?;
        push_all(&mut out, claims)?;
        push_all(&mut out, services)?;
        push_all(&mut out, network_policies)?;
        push_all(&mut out, stateful_sets)?;
        push_all(&mut out, deployments)?;
        push_all(&mut out, disruption_budgets)?;
        push_all(&mut out, ingresses)?;
        push_all(&mut out, cron_jobs)?;
        Ok(out)
    }

    /// Multi-document YAML of every object.
    pub fn to_yaml(&self) -> Result<String, String> {
        let mut out = String::new();
        for doc in self.documents().map_err(|e| e.to_string())? {
            out.push_str("---\n");
            out.push_str(&serde_norway::to_string(&doc).map_err(|e| e.to_string())?);
        }
        Ok(out)
    }
}

fn push_all<K>(out: &mut Vec<serde_json::Value>, objects: &[K]) -> Result<(), serde_json::Error>
where
    K: k8s_openapi::Resource + serde::Serialize,
{
    for o in objects {
        let mut v = serde_json::to_value(o)?;
        if let Some(map) = v.as_object_mut() {
            // k8s-openapi serializes these itself; set them explicitly to be sure of order.
            map.insert("apiVersion".into(), K::API_VERSION.into());
            map.insert("kind".into(), K::KIND.into());
        }
        out.push(v);
    }
    Ok(())
}
