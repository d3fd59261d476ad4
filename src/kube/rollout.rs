//! `deploy` in a cluster: the image field of the AppStack is patched (the spec stays the
//! source of truth), the operator rolls the component's Deployment (maxUnavailable 0,
//! maxSurge 1), and the Deployment is read until every replica runs the new image.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use crate::api::AppStack;

const POLL: Duration = Duration::from_secs(1);

/// What went wrong with a cluster deploy step.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("{what}: {source}")]
    Api { what: String, source: kube::Error },
    #[error("{0}")]
    Invalid(String),
    #[error("Deployment {deployment} did not roll out {image} within {seconds}s: {state}")]
    Timeout {
        deployment: String,
        image: String,
        seconds: u64,
        state: String,
    },
    #[error("Deployment {deployment} stopped progressing: {message}")]
    Stalled { deployment: String, message: String },
}

/// The manifest key of a component whose image `deploy` sets.
fn key(component: &str) -> Result<&'static str, RolloutError> {
    match component {
        "frontend" => Ok("frontend"),
        "cms" => Ok("cms"),
        other => Err(RolloutError::Invalid(format!(
            "a cluster deploy sets spec.frontend.image or spec.cms.image; {other} is neither"
        ))),
    }
}

/// The image the AppStack names for `component` now.
pub async fn image_of(
    client: &Client,
    ns: &str,
    stack: &str,
    component: &str,
) -> Result<String, RolloutError> {
    let key = key(component)?;
    let api: Api<AppStack> = Api::namespaced(client.clone(), ns);
    let object = api.get(stack).await.map_err(|source| RolloutError::Api {
        what: format!("reading AppStack {ns}/{stack}"),
        source,
    })?;
    let spec = object.spec;
    match key {
        "frontend" => spec.frontend.map(|f| f.image),
        _ => spec.cms.map(|c| c.image),
    }
    .ok_or_else(|| RolloutError::Invalid(format!("AppStack {ns}/{stack} has no spec.{key}")))
}

/// Sets `spec.<component>.image` with a merge patch (nothing else of the spec changes).
pub async fn set_image(
    client: &Client,
    ns: &str,
    stack: &str,
    component: &str,
    image: &str,
) -> Result<(), RolloutError> {
    let key = key(component)?;
    let api: Api<AppStack> = Api::namespaced(client.clone(), ns);
    let patch = json!({ "spec": { key: { "image": image } } });
    api.patch(stack, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|source| RolloutError::Api {
            what: format!("patching AppStack {ns}/{stack}"),
            source,
        })?;
    Ok(())
}

/// Where a Deployment's rollout of `image` in `container` stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The operator has not put the image into the pod template yet.
    NotApplied,
    /// Rolling: (updated, available, total) replicas against the desired count.
    Rolling {
        updated: i32,
        available: i32,
        total: i32,
        desired: i32,
    },
    /// Every replica runs the image and is available; no old pod is left.
    Done,
    /// The controller gave up (ProgressDeadlineExceeded).
    Stalled(String),
}

/// Reads the rollout state off a Deployment (pure).
pub fn progress(d: &Deployment, container: &str, image: &str) -> Progress {
    let spec = d.spec.as_ref();
    let applied = spec
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.iter().find(|c| c.name == container))
        .and_then(|c| c.image.as_deref())
        == Some(image);
    if !applied {
        return Progress::NotApplied;
    }
    let status = d.status.clone().unwrap_or_default();
    if let Some(c) = status.conditions.iter().flatten().find(|c| {
        c.type_ == "Progressing"
            && c.status == "False"
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    }) {
        return Progress::Stalled(c.message.clone().unwrap_or_default());
    }
    let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
    let observed = status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
    let (updated, available, total) = (
        status.updated_replicas.unwrap_or(0),
        status.available_replicas.unwrap_or(0),
        status.replicas.unwrap_or(0),
    );
    if observed && updated == desired && available == desired && total == desired {
        Progress::Done
    } else {
        Progress::Rolling {
            updated,
            available,
            total,
            desired,
        }
    }
}

/// Waits until `deployment` runs `image` in `container` on every replica, at most `limit`.
pub async fn wait_rolled_out(
    client: &Client,
    ns: &str,
    deployment: &str,
    container: &str,
    image: &str,
    limit: Duration,
) -> Result<Duration, RolloutError> {
    let started = Instant::now();
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    loop {
        let d = api
            .get(deployment)
            .await
            .map_err(|source| RolloutError::Api {
                what: format!("reading Deployment {ns}/{deployment}"),
                source,
            })?;
        let state = match progress(&d, container, image) {
            Progress::Done => return Ok(started.elapsed()),
            Progress::Stalled(message) => {
                return Err(RolloutError::Stalled {
                    deployment: deployment.into(),
                    message,
                })
            }
            Progress::NotApplied => "the operator has not applied the new image yet".to_string(),
            Progress::Rolling {
                updated,
                available,
                total,
                desired,
            } => format!(
                "{updated} of {desired} replicas updated, {available} available, {total} running"
            ),
        };
        if started.elapsed() >= limit {
            return Err(RolloutError::Timeout {
                deployment: deployment.into(),
                image: image.into(),
                seconds: limit.as_secs(),
                state,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(image: &str, generation: i64, status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "shop-frontend", "generation": generation},
            "spec": {
                "replicas": 2,
                "selector": {},
                "template": {"spec": {"containers": [{"name": "frontend", "image": image}]}}
            },
            "status": status
        }))
        .unwrap()
    }

    #[test]
    fn a_rollout_is_done_only_when_every_replica_is_new_and_available() {
        let old = deployment(
            "web:1",
            3,
            json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
        );
        assert_eq!(progress(&old, "frontend", "web:2"), Progress::NotApplied);
        let rolling = deployment(
            "web:2",
            4,
            json!({"observedGeneration": 4, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2}),
        );
        assert!(matches!(
            progress(&rolling, "frontend", "web:2"),
            Progress::Rolling { updated: 1, .. }
        ));
        let unobserved = deployment(
            "web:2",
            4,
            json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
        );
        assert!(matches!(
            progress(&unobserved, "frontend", "web:2"),
            Progress::Rolling { .. }
        ));
        let done = deployment(
            "web:2",
            4,
            json!({"observedGeneration": 4, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
        );
        assert_eq!(progress(&done, "frontend", "web:2"), Progress::Done);
        let stalled = deployment(
            "web:2",
            4,
            json!({"observedGeneration": 4, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2,
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet has timed out progressing."}]}),
        );
        assert_eq!(
            progress(&stalled, "frontend", "web:2"),
            Progress::Stalled("ReplicaSet has timed out progressing.".into())
        );
    }
}
