//! NetworkPolicies: the database and the cache accept connections only from the pods that
//! use them (`Plan::clients_of`: the components depending on them and their exporter), so
//! the frontend, Prometheus or a compromised worker of another stack cannot open one.
//! Backups and drills reach the database through `pods/exec`, and the WAL receiver is a
//! sidecar on the pod's loopback: neither needs a rule.

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta::{component_meta, selector, selector_labels, Owner};
use crate::plan::{Plan, Role};

pub fn network_policies(plan: &Plan, owner: &Owner) -> Vec<NetworkPolicy> {
    plan.components
        .iter()
        .filter(|c| matches!(c.role, Role::Database | Role::Cache))
        .map(|c| {
            let from: Vec<NetworkPolicyPeer> = plan
                .clients_of(&c.name)
                .into_iter()
                .map(|client| NetworkPolicyPeer {
                    pod_selector: Some(LabelSelector {
                        match_labels: Some(selector_labels(plan, client)),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect();
            let ports: Vec<NetworkPolicyPort> = c
                .ports
                .iter()
                .map(|p| NetworkPolicyPort {
                    port: Some(IntOrString::Int(i32::from(p.container_port))),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                })
                .collect();
            NetworkPolicy {
                metadata: component_meta(plan, owner, c, ""),
                spec: Some(NetworkPolicySpec {
                    pod_selector: Some(selector(plan, &c.name)),
                    policy_types: Some(vec!["Ingress".into()]),
                    // No client: nothing may connect (an empty rule list denies all).
                    ingress: Some(if from.is_empty() {
                        Vec::new()
                    } else {
                        vec![NetworkPolicyIngressRule {
                            from: Some(from),
                            ports: (!ports.is_empty()).then_some(ports),
                        }]
                    }),
                    ..Default::default()
                }),
            }
        })
        .collect()
}
