//! The deploy against an AppStack in a cluster: the spec's image is patched, the operator's
//! rolling update (maxUnavailable 0) is waited for, the health checks that passed before
//! must pass after and through the watch window; otherwise the spec goes back to the old
//! image and that rollout is waited for too.

use std::time::{Duration, Instant};

use kube::Client;

use super::{DeployError, DeployReport, DeployRequest, Outcome};
use crate::docker::progress::Reporter;
use crate::kube::rollout::{image_of, set_image, wait_rolled_out, RolloutError};

/// How long a rollout may take when --health-timeout does not say.
const ROLLOUT_LIMIT: Duration = Duration::from_secs(600);

impl From<RolloutError> for DeployError {
    fn from(e: RolloutError) -> Self {
        match e {
            RolloutError::Invalid(m) => DeployError::Invalid(m),
            other => DeployError::Refused(other.to_string()),
        }
    }
}

/// Deploys `req.image` as `req.component` of AppStack `ns/stack`.
pub async fn deploy_in_cluster(
    client: Client,
    ns: &str,
    stack: &str,
    req: &DeployRequest,
    reporter: &dyn Reporter,
) -> Result<DeployReport, DeployError> {
    let began = Instant::now();
    if req.migrate || req.maintenance || req.write.is_some() {
        return Err(DeployError::Invalid(
            "--migrate, --maintenance and --write are Docker mode's; in a cluster the AppStack is the manifest and the operator rolls the Deployment".into(),
        ));
    }
    let from = image_of(&client, ns, stack, &req.component).await?;
    let deployment = format!("{stack}-{}", req.component);
    let limit = req.health_timeout.unwrap_or(ROLLOUT_LIMIT);
    let before = crate::health::run_in_cluster(client.clone(), ns, stack)
        .await
        .ok();
    let mut report = DeployReport {
        outcome: Outcome::Deployed,
        ..DeployReport::start(stack, &req.component, &from, &req.image)
    };
    reporter.report(
        &req.component,
        &format!("setting spec.{}.image", req.component),
    );
    set_image(&client, ns, stack, &req.component, &req.image).await?;
    let rolled = wait_rolled_out(&client, ns, &deployment, &req.component, &req.image, limit).await;
    let failure = match rolled {
        Ok(took) => {
            report.healthy_after_ms = Some(took.as_secs_f64() * 1000.0);
            report.switched_after_ms = Some(began.elapsed().as_secs_f64() * 1000.0);
            reporter.report(&req.component, "rolled out; watching");
            watch(&client, ns, stack, req.watch, before.as_ref()).await
        }
        Err(e) => Some((e.to_string(), Vec::new())),
    };
    if let Some((why, regressions)) = failure {
        reporter.report(&req.component, &format!("rolling back: {why}"));
        set_image(&client, ns, stack, &req.component, &from).await?;
        wait_rolled_out(&client, ns, &deployment, &req.component, &from, limit).await?;
        report.outcome = if report.switched_after_ms.is_some() {
            Outcome::RolledBack
        } else {
            // maxUnavailable 0: the old pods served until the new ones were available.
            Outcome::Aborted
        };
        report.reason = Some(why);
        report.health_regressions = regressions;
    }
    report.total_ms = began.elapsed().as_secs_f64() * 1000.0;
    Ok(report)
}

/// The checks that passed before must still pass after the rollout and at the end of the
/// watch window. Some((why, regressions)) when they do not.
async fn watch(
    client: &Client,
    ns: &str,
    stack: &str,
    window: Duration,
    before: Option<&crate::health::Report>,
) -> Option<(String, Vec<String>)> {
    let before = before?;
    let end = Instant::now() + window;
    loop {
        let regressions = match crate::health::run_in_cluster(client.clone(), ns, stack).await {
            Ok(after) => super::docker_flow::regressions(before, &after),
            Err(e) => vec![format!("health check: {e}")],
        };
        if !regressions.is_empty() {
            return Some((
                "health checks that passed before fail now".into(),
                regressions,
            ));
        }
        if Instant::now() >= end {
            return None;
        }
        tokio::time::sleep(Duration::from_secs(5).min(end - Instant::now())).await;
    }
}
