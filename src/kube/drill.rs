//! The drill CronJob: its pod is the isolated copy (see `cli::drill_kube`). A `prepare`
//! init container (the operator image) writes markers and restores into an emptyDir, the
//! stack's database container runs on it as a native sidecar (init container with
//! `restartPolicy: Always`, Kubernetes ≥ 1.29) so the Job completes when `check` exits,
//! and nothing but the pod itself can reach it: no Service selects its labels.

use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Container, PodSpec, Volume, VolumeMount};

use super::access::store_mounts;
use super::jobs::cron_job;
use super::meta::Owner;
use super::pod::{add_container, PodParts, VolumeMode};
use super::Images;
use crate::plan::{Mount, Plan, Role};

const STATE_VOLUME: &str = "drill-state";
const STATE_DIR: &str = "/drill";
/// The restored server's socket directory, shared with the `check` container: its psql
/// reaches the copy there (local connections are trusted by the image), with no exec.
const SOCKET_VOLUME: &str = "drill-socket";
const SOCKET_DIR: &str = "/var/run/postgresql";

pub fn drill_cron_job(plan: &Plan, owner: &Owner, images: &Images) -> Option<CronJob> {
    let job = plan.drill.as_ref()?;
    let db = plan.components.iter().find(|c| c.role == Role::Database)?;
    let (data_volume, data_path) = db.mounts.iter().find_map(|m| match m {
        Mount::Volume { volume, path } => Some((volume.clone(), path.clone())),
        Mount::Host { .. } | Mount::Scratch { .. } => None,
    })?;
    let mut parts = PodParts::default();
    add_container(&mut parts, plan, db, VolumeMode::Ephemeral);
    let mut database = parts.containers.pop()?;
    database.restart_policy = Some("Always".into());
    let socket_mount = VolumeMount {
        name: SOCKET_VOLUME.into(),
        mount_path: SOCKET_DIR.into(),
        ..Default::default()
    };
    database
        .volume_mounts
        .get_or_insert_with(Vec::new)
        .push(socket_mount.clone());
    let store = store_mounts(plan);
    for v in &store.volumes {
        parts.volumes.insert(v.name.clone(), v.clone());
    }
    for name in [STATE_VOLUME, SOCKET_VOLUME] {
        parts.volumes.insert(
            name.into(),
            Volume {
                name: name.into(),
                empty_dir: Some(Default::default()),
                ..Default::default()
            },
        );
    }
    let state_mount = VolumeMount {
        name: STATE_VOLUME.into(),
        mount_path: STATE_DIR.into(),
        ..Default::default()
    };
    let step = |step: &str, mut mounts: Vec<VolumeMount>| {
        mounts.push(state_mount.clone());
        mounts.extend(store.mounts.iter().cloned());
        Container {
            name: step.into(),
            image: Some(images.operator.clone()),
            args: Some(vec![
                "drill".into(),
                "--stack".into(),
                plan.stack.clone(),
                "--namespace".into(),
                plan.namespace.clone(),
                "--step".into(),
                step.into(),
                "--data".into(),
                data_path.clone(),
                "--state".into(),
                format!("{STATE_DIR}/state.json"),
            ]),
            env_from: store.env_from.clone(),
            volume_mounts: Some(mounts),
            ..Default::default()
        }
    };
    let prepare = step(
        "prepare",
        vec![VolumeMount {
            name: data_volume,
            mount_path: data_path.clone(),
            ..Default::default()
        }],
    );
    let check = step("check", vec![socket_mount]);

    let pod = PodSpec {
        enable_service_links: Some(false),
        init_containers: Some(vec![prepare, database]),
        containers: vec![check],
        volumes: parts.volumes(),
        ..Default::default()
    };
    // A failed drill is a finding, not a flake to retry over.
    Some(cron_job(plan, owner, job, pod, 0))
}
