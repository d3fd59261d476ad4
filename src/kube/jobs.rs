//! CronJobs of the plan's scheduled jobs (backups): the operator image runs the same
//! `appstack` subcommand Docker mode runs from its daemon, with the job's timeout as the
//! active deadline, one run at a time.

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::access::{store_mounts, Identity};
use super::meta::{meta, stack_labels, Owner};
use super::Images;
use crate::plan::{Plan, ScheduledJob};

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
            let pod = PodSpec {
                containers: vec![Container {
                    name: j.name.clone(),
                    image: Some(images.operator.clone()),
                    args: Some(args),
                    env_from: store.env_from.clone(),
                    volume_mounts: (!store.mounts.is_empty()).then(|| store.mounts.clone()),
                    ..Default::default()
                }],
                volumes: (!store.volumes.is_empty()).then(|| store.volumes.clone()),
                ..Default::default()
            };
            cron_job(plan, owner, j, pod, 1)
        })
        .collect()
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
