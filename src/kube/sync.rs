//! Applying a stack's children (the network end of the reconcile): one LIST of each kind by
//! the stack's label, server-side apply (one field manager) of every child whose desired
//! hash differs from the hash it carries, deletion of children the spec no longer has.
//! Secrets are created once and never applied over; claims (data) are never deleted.

use std::collections::BTreeMap;
use std::fmt::Debug;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::config::DERIVED_KEYS;
use super::error::KubeError;
use super::Children;
use crate::plan::LABEL_STACK;

/// The field manager of every apply.
pub const MANAGER: &str = "appstack-operator";
/// Annotation holding the hash of the object as last applied.
pub const HASH: &str = "appstack.io/applied-hash";

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// `Kind/name` applied (created or changed).
    pub applied: Vec<String>,
    /// `Kind/name` created once (Secrets).
    pub created: Vec<String>,
    /// `Kind/name` deleted (no longer in the spec).
    pub deleted: Vec<String>,
}

impl SyncReport {
    pub fn changed(&self) -> bool {
        !(self.applied.is_empty() && self.created.is_empty() && self.deleted.is_empty())
    }
}

/// Whether to delete children that are no longer desired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prune {
    Yes,
    /// Claims hold data; Secrets hold credentials a retained claim still needs.
    Never,
}

trait Child:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
}

impl<K> Child for K where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
        + 'static
{
}

/// Brings the cluster to `children` for stack `stack` in namespace `ns`.
pub async fn sync(
    client: &Client,
    ns: &str,
    stack: &str,
    children: &Children,
) -> Result<SyncReport, KubeError> {
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
    } = children;
    let mut report = SyncReport::default();
    let s = Syncer { client, ns, stack };
    // Identities first: the pods and jobs below run as them.
    s.apply(service_accounts, Prune::Yes, &mut report).await?;
    s.apply(roles, Prune::Yes, &mut report).await?;
    s.apply(role_bindings, Prune::Yes, &mut report).await?;
    s.create_or_complete(secrets, &mut report).await?;
    s.apply(config_maps, Prune::Yes, &mut report).await?;
    s.apply(claims, Prune::Never, &mut report).await?;
    s.apply(services, Prune::Yes, &mut report).await?;
    // Before the workloads: a database never runs unguarded.
    s.apply(network_policies, Prune::Yes, &mut report).await?;
    s.apply(stateful_sets, Prune::Yes, &mut report).await?;
    s.apply(deployments, Prune::Yes, &mut report).await?;
    s.apply(disruption_budgets, Prune::Yes, &mut report).await?;
    s.apply(ingresses, Prune::Yes, &mut report).await?;
    s.apply(cron_jobs, Prune::Yes, &mut report).await?;
    Ok(report)
}

struct Syncer<'a> {
    client: &'a Client,
    ns: &'a str,
    stack: &'a str,
}

impl Syncer<'_> {
    fn api<K: Child>(&self) -> Api<K> {
        Api::namespaced(self.client.clone(), self.ns)
    }

    fn selector(&self) -> ListParams {
        ListParams::default().labels(&format!("{LABEL_STACK}={}", self.stack))
    }

    /// Name → applied hash of the stack's existing objects of kind `K`.
    async fn existing<K: Child>(&self) -> Result<BTreeMap<String, Option<String>>, KubeError> {
        let list = self.api::<K>().list_metadata(&self.selector()).await?;
        Ok(list
            .items
            .into_iter()
            .map(|o| {
                let hash = o
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(HASH).cloned());
                (o.metadata.name.unwrap_or_default(), hash)
            })
            .collect())
    }

    async fn apply<K: Child>(
        &self,
        desired: &[K],
        prune: Prune,
        report: &mut SyncReport,
    ) -> Result<(), KubeError> {
        let api = self.api::<K>();
        let mut existing = self.existing::<K>().await?;
        for d in desired {
            let name = d.name_any();
            let (obj, hash) = with_hash(d)?;
            if existing.remove(&name).flatten().as_deref() != Some(hash.as_str()) {
                api.patch(
                    &name,
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(&obj),
                )
                .await?;
                report.applied.push(format!("{}/{name}", K::kind(&())));
            }
        }
        if prune == Prune::Yes {
            for name in existing.into_keys() {
                match api.delete(&name, &DeleteParams::background()).await {
                    Ok(_) => report.deleted.push(format!("{}/{name}", K::kind(&()))),
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// Creates absent Secrets; adds to an existing one only the generated keys it lacks
    /// (a newer release's), leaving every present value as it is.
    async fn create_or_complete(
        &self,
        desired: &[Secret],
        report: &mut SyncReport,
    ) -> Result<(), KubeError> {
        let api = self.api::<Secret>();
        let existing: BTreeMap<String, Secret> = api
            .list(&self.selector())
            .await?
            .items
            .into_iter()
            .map(|s| (s.name_any(), s))
            .collect();
        for d in desired {
            let name = d.name_any();
            let Some(current) = existing.get(&name) else {
                match api.create(&PostParams::default(), d).await {
                    Ok(_) => report.created.push(format!("Secret/{name}")),
                    // Created meanwhile (or not labelled as ours): never overwrite credentials.
                    Err(kube::Error::Api(s)) if s.code == 409 => {}
                    Err(e) => return Err(e.into()),
                }
                continue;
            };
            let missing = missing_keys(d, current);
            if missing.is_empty() {
                continue;
            }
            let body = serde_json::json!({ "stringData": missing });
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&body))
                .await?;
            report.applied.push(format!("Secret/{name}"));
        }
        Ok(())
    }
}

/// The generated values of `desired` whose keys `current` lacks (derived keys excluded).
fn missing_keys(desired: &Secret, current: &Secret) -> BTreeMap<String, String> {
    let derived: Vec<&str> = desired
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DERIVED_KEYS))
        .map(|v| v.split(',').collect())
        .unwrap_or_default();
    let present = |k: &str| {
        current.data.as_ref().is_some_and(|d| d.contains_key(k))
            || current
                .string_data
                .as_ref()
                .is_some_and(|d| d.contains_key(k))
    };
    desired
        .string_data
        .iter()
        .flatten()
        .filter(|(k, _)| !present(k) && !derived.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The object with `apiVersion`/`kind` set and its content hash as an annotation.
fn with_hash<K: Child>(d: &K) -> Result<(serde_json::Value, String), KubeError> {
    let err = |e: serde_json::Error| KubeError::Serialize {
        kind: "object",
        name: d.name_any(),
        message: e.to_string(),
    };
    let mut v = serde_json::to_value(d).map_err(err)?;
    if let Some(map) = v.as_object_mut() {
        map.insert("apiVersion".into(), K::api_version(&()).into());
        map.insert("kind".into(), K::kind(&()).into());
    }
    let bytes = serde_json::to_vec(&v).map_err(err)?;
    let hash = hex::encode(&Sha256::digest(&bytes)[..8]);
    if let Some(meta) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        let ann = meta
            .entry("annotations")
            .or_insert_with(|| serde_json::json!({}));
        if let Some(a) = ann.as_object_mut() {
            a.insert(HASH.into(), hash.clone().into());
        }
    }
    Ok((v, hash))
}
