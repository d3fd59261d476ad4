//! Services (one per component with ports, named `<stack>-<component>` like the Docker
//! network aliases, so the plan's host names work unchanged) and the Ingress.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta::{component_meta, meta, selector_labels, stack_labels, Owner};
use crate::plan::names::daemon_host;
use crate::plan::Plan;

pub fn services(plan: &Plan, owner: &Owner) -> Vec<Service> {
    plan.components
        .iter()
        .filter(|c| !c.ports.is_empty())
        .map(|c| Service {
            metadata: component_meta(plan, owner, c, ""),
            spec: Some(ServiceSpec {
                selector: Some(selector_labels(plan, &c.name)),
                ports: Some(
                    c.ports
                        .iter()
                        .map(|p| ServicePort {
                            name: Some(p.name.clone()),
                            port: i32::from(p.container_port),
                            target_port: Some(IntOrString::String(p.name.clone())),
                            protocol: Some("TCP".into()),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect()
}

/// `<stack>-appstack`, the host the plan's monitoring components reach appstack's endpoint
/// by: an ExternalName Service naming the operator's own Service.
pub fn daemon_service(plan: &Plan, owner: &Owner, images: &super::Images) -> Option<Service> {
    if !plan.components.iter().any(|c| c.reaches_daemon) {
        return None;
    }
    Some(Service {
        metadata: meta(plan, owner, daemon_host(&plan.stack), stack_labels(plan)),
        spec: Some(ServiceSpec {
            type_: Some("ExternalName".into()),
            external_name: Some(images.operator_service.clone()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

pub fn ingress(plan: &Plan, owner: &Owner) -> Option<Ingress> {
    let ing = plan.ingress.as_ref()?;
    let mut m = meta(plan, owner, plan.stack.clone(), stack_labels(plan));
    if let Some(issuer) = &ing.cluster_issuer {
        m.annotations = Some(BTreeMap::from([(
            "cert-manager.io/cluster-issuer".to_string(),
            issuer.clone(),
        )]));
    }
    let rules = ing
        .routes
        .iter()
        .map(|r| IngressRule {
            host: Some(r.host.clone()),
            http: Some(HTTPIngressRuleValue {
                paths: vec![HTTPIngressPath {
                    path: Some("/".into()),
                    path_type: "Prefix".into(),
                    backend: IngressBackend {
                        service: Some(IngressServiceBackend {
                            name: plan.object_name(&r.component),
                            port: Some(ServiceBackendPort {
                                number: Some(i32::from(r.port)),
                                name: None,
                            }),
                        }),
                        resource: None,
                    },
                }],
            }),
        })
        .collect();
    let tls = ing.tls_secret.as_ref().map(|secret| {
        vec![IngressTLS {
            hosts: Some(ing.routes.iter().map(|r| r.host.clone()).collect()),
            secret_name: Some(secret.clone()),
        }]
    });
    Some(Ingress {
        metadata: m,
        spec: Some(IngressSpec {
            ingress_class_name: ing.class_name.clone(),
            rules: Some(rules),
            tls,
            ..Default::default()
        }),
        ..Default::default()
    })
}
