//! Metadata every child object carries: deterministic name, namespace, the component's
//! labels (`app.kubernetes.io/*` plus `appstack.io/stack`), and the owner reference to the
//! AppStack, so Kubernetes garbage-collects children with their stack.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};

use crate::plan::{Component, Plan, LABEL_COMPONENT, LABEL_STACK};

/// The AppStack that owns the children. Its uid is known in the cluster (always, for the
/// operator); a manifest rendered offline may not carry one, and then the objects have no
/// owner reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub name: String,
    pub uid: Option<String>,
}

impl Owner {
    pub fn reference(&self) -> Option<OwnerReference> {
        Some(OwnerReference {
            api_version: "appstack.io/v1alpha1".into(),
            kind: "AppStack".into(),
            name: self.name.clone(),
            uid: self.uid.clone()?,
            controller: Some(true),
            block_owner_deletion: Some(true),
        })
    }
}

/// Labels of a stack-level object (not tied to one component).
pub fn stack_labels(plan: &Plan) -> BTreeMap<String, String> {
    let mut l = plan.stack_labels();
    l.insert("app.kubernetes.io/instance".into(), plan.stack.clone());
    l.insert("app.kubernetes.io/part-of".into(), "appstack".into());
    l
}

/// Metadata of an object named `name` with `labels`.
pub fn meta(
    plan: &Plan,
    owner: &Owner,
    name: String,
    labels: BTreeMap<String, String>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(plan.namespace.clone()),
        labels: Some(labels),
        owner_references: owner.reference().map(|r| vec![r]),
        ..Default::default()
    }
}

/// Metadata of a component's object (`<stack>-<component>[-suffix]`).
pub fn component_meta(plan: &Plan, owner: &Owner, c: &Component, suffix: &str) -> ObjectMeta {
    meta(
        plan,
        owner,
        format!("{}{suffix}", plan.object_name(&c.name)),
        c.labels.clone(),
    )
}

/// The labels that select a component's pods (stable across spec changes).
pub fn selector_labels(plan: &Plan, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_STACK.to_string(), plan.stack.clone()),
        (LABEL_COMPONENT.to_string(), component.to_string()),
    ])
}

pub fn selector(plan: &Plan, component: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(selector_labels(plan, component)),
        ..Default::default()
    }
}
