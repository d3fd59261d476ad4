//! CronJobs of the plan's scheduled jobs (backups): the operator image runs the same
//! `appstack` subcommand Docker mode runs from its daemon, with the job's timeout as the
//! active deadline, one run at a time.

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Container, PersistentVolumeClaimVolumeSource, PodAffinity, PodAffinityTerm, PodSpec,
    PodTemplateSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::access::{store_mounts, Identity};
use super::meta::{meta, selector_labels, stack_labels, Owner};
use super::Images;
use crate::plan::{Component, Mount, Plan, ScheduledJob};

pub fn cron_jobs(plan: &Plan, owner: &Owner, images: &Images) -> Vec<CronJob> {
    let store = store_mounts(plan);
    plan.jobs
        .iter()
        .map(|j| {
            let mut args = j.args.clone();
            args.extend([
                "--stack".to_string(),
                plan.stack.clone(),
                "--namespace".to_string(),
                plan.namespace.clone(),
            ]);
            let mut mounts = store.mounts.clone();
            let mut volumes = store.volumes.clone();
            let mut affinity = None;
            if let Some(c) = j
                .reads_volumes_of
                .as_deref()
                .and_then(|c| plan.component(c))
            {
                let (v, m) = read_only_claims(plan, c);
                volumes.extend(v);
                mounts.extend(m);
                args.extend(["--here".to_string(), c.name.clone()]);
                affinity = Some(beside(plan, &c.name));
            }
            let pod = PodSpec {
                containers: vec![Container {
                    name: j.name.clone(),
                    image: Some(images.operator.clone()),
                    args: Some(args),
                    env_from: store.env_from.clone(),
                    volume_mounts: (!mounts.is_empty()).then_some(mounts),
                    ..Default::default()
                }],
                volumes: (!volumes.is_empty()).then_some(volumes),
                affinity,
                ..Default::default()
            };
            cron_job(plan, owner, j, pod, 1)
        })
        .collect()
}

/// `c`'s claims, mounted read-only at the paths `c` mounts them.
fn read_only_claims(plan: &Plan, c: &Component) -> (Vec<Volume>, Vec<VolumeMount>) {
    c.mounts
        .iter()
        .filter_map(|m| match m {
            Mount::Volume { volume, path } => Some((
                Volume {
                    name: volume.clone(),
                    persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                        claim_name: format!("{}-{volume}", plan.stack),
                        read_only: Some(true),
                    }),
                    ..Default::default()
                },
                VolumeMount {
                    name: volume.clone(),
                    mount_path: path.clone(),
                    read_only: Some(true),
                    ..Default::default()
                },
            )),
            Mount::Host { .. } | Mount::Scratch { .. } => None,
        })
        .unzip()
}

/// On the node of `component`'s pod: a ReadWriteOnce claim attaches to one node, where
/// every pod may mount it.
fn beside(plan: &Plan, component: &str) -> Affinity {
    Affinity {
        pod_affinity: Some(PodAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                label_selector: Some(LabelSelector {
                    match_labels: Some(selector_labels(plan, component)),
                    ..Default::default()
                }),
                topology_key: "kubernetes.io/hostname".into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The CronJob `<stack>-<job>` running `pod` (restart Never, under the backup identity),
/// one run at a time, bounded by the job's timeout.
pub(super) fn cron_job(
    plan: &Plan,
    owner: &Owner,
    job: &ScheduledJob,
    mut pod: PodSpec,
    backoff_limit: i32,
) -> CronJob {
    let mut labels = stack_labels(plan);
    labels.insert("app.kubernetes.io/component".into(), job.name.clone());
    pod.restart_policy = Some("Never".into());
    pod.service_account_name = Some(Identity::Backup.name(plan));
    CronJob {
        metadata: meta(
            plan,
            owner,
            format!("{}-{}", plan.stack, job.name),
            labels.clone(),
        ),
        spec: Some(CronJobSpec {
            schedule: job.schedule.clone(),
            concurrency_policy: Some("Forbid".into()),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(3),
            job_template: JobTemplateSpec {
                metadata: None,
                spec: Some(JobSpec {
                    active_deadline_seconds: Some(
                        i64::try_from(job.timeout_secs).unwrap_or(i64::MAX),
                    ),
                    backoff_limit: Some(backoff_limit),
                    template: PodTemplateSpec {
                        metadata: Some(ObjectMeta {
                            labels: Some(labels),
                            ..Default::default()
                        }),
                        spec: Some(pod),
                    },
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}
