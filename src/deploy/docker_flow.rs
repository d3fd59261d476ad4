//! The deploy in Docker mode, step by step on the blue/green primitives of the driver.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::probe::{Phase, Probe, ProbeReport};
use super::probe_target::{start_probe, BASELINE};
use super::{preflight, DeployError, DeployReport, DeployRequest, Migration, Outcome};
use crate::api::validated::ValidatedStack;
use crate::docker::apply::Applier;
use crate::docker::cutover::Switched;
use crate::docker::progress::Reporter;
use crate::docker::{DockerError, Engine};
use crate::plan::rollout::{rollout, Rollout};
use crate::plan::{self, Component, Plan};
use crate::secrets::Resolved;

/// How often the health checks are asked at the end of the watch window, and how far apart.
const HEALTH_LOOKS: u32 = 3;
const HEALTH_RELOOK: Duration = Duration::from_secs(3);

/// The stack with `component`'s image replaced (what the manifest would say with `--write`).
fn with_image(
    stack: &ValidatedStack,
    component: &str,
    image: &str,
) -> Result<ValidatedStack, DeployError> {
    let mut s = stack.clone();
    let slot = match component {
        "frontend" => s.frontend.as_mut().map(|f| &mut f.image),
        "cms" => s.cms.as_mut().map(|c| &mut c.app.image),
        other => s
            .services
            .iter_mut()
            .find(|x| x.name == other)
            .map(|x| &mut x.image),
    };
    let slot = slot.ok_or_else(|| {
        DeployError::Invalid(format!("the stack has no component {component} to deploy"))
    })?;
    *slot = image.to_string();
    Ok(s)
}

/// Deploys `req.image` as `req.component` of `stack`.
pub async fn deploy<E: Engine>(
    engine: Arc<E>,
    stack: &ValidatedStack,
    secrets: Arc<Resolved>,
    state_dir: &Path,
    req: &DeployRequest,
    reporter: Arc<dyn Reporter>,
) -> Result<DeployReport, DeployError> {
    let began = Instant::now();
    // `run` leaves the stack alone meanwhile (it would take the pending container for a
    // leftover), and `up`, another deploy or a restore wait their turn.
    let _maintenance = crate::maintenance::begin(state_dir, &stack.name)
        .map_err(|e| DeployError::Refused(e.to_string()))?;
    let new_stack = with_image(stack, &req.component, &req.image)?;
    let old_plan = plan::build(stack);
    let plan = Arc::new(plan::build(&new_stack));
    let c = checked_component(&plan, req)?;
    let applier = Applier {
        engine: engine.clone(),
        plan: plan.clone(),
        secrets,
        reporter: reporter.clone(),
        wait: true,
    };
    preflight::serving(&applier, &c).await?;
    let from_image = current_image(&applier, &c).await?;
    engine.ensure_image(&c.image).await.map_err(|e| match e {
        DockerError::ImageUnavailable { .. } => DeployError::Refused(e.to_string()),
        other => other.into(),
    })?;
    preflight::memory_for_second_copy(&c, preflight::available_memory())?;

    let mut report = DeployReport::start(&plan.stack, &c.name, &from_image, &c.image);
    let probe = start_probe(&applier, stack, &c, req).await?;
    let probing = Instant::now();
    // The old version's checks are taken while the new one boots beside it.
    let (before, ready) = tokio::join!(
        crate::health::run(engine.clone(), stack, &old_plan, state_dir),
        ready_beside(&applier, &c, req, probe.as_ref(), &mut report)
    );
    let switched = match ready {
        Ok(true) => {
            // The probe's baseline covers the old version alone for a while.
            tokio::time::sleep(BASELINE.saturating_sub(probing.elapsed())).await;
            if let Some(p) = &probe {
                p.set_phase(Phase::During);
            }
            switch_over(&applier, &c, began, &mut report).await
        }
        Ok(false) => return Ok(finish(report, probe, began).await),
        Err(e) => Err(e),
    };
    match switched {
        Ok(_) => {}
        Err(e) => {
            if let Some(p) = probe {
                p.finish().await;
            }
            return Err(e);
        }
    }
    if let Some(p) = &probe {
        p.set_phase(Phase::After);
    }
    let verdict = watch(
        &applier,
        &new_stack,
        state_dir,
        req,
        probe.as_ref(),
        before.ok(),
    )
    .await;
    match verdict {
        Ok(()) => {
            applier.retire(&c).await?;
            report.outcome = Outcome::Deployed;
            if let Some(path) = &req.write {
                super::manifest::write_image(path, &c.name, &c.image)?;
                report.written = true;
            }
        }
        Err((why, regressions)) => {
            reporter.report(&c.name, &format!("rolling back: {why}"));
            applier.rollback(&c).await?;
            report.outcome = Outcome::RolledBack;
            report.reason = Some(why);
            report.health_regressions = regressions;
        }
    }
    Ok(finish(report, probe, began).await)
}

async fn finish(mut report: DeployReport, probe: Option<Probe>, began: Instant) -> DeployReport {
    if let Some(p) = probe {
        report.probe = Some(p.finish().await);
    }
    report.total_ms = began.elapsed().as_secs_f64() * 1000.0;
    report
}

/// The component to deploy, if it can be deployed as asked.
fn checked_component(plan: &Plan, req: &DeployRequest) -> Result<Component, DeployError> {
    let c = plan.component(&req.component).cloned().ok_or_else(|| {
        DeployError::Invalid(format!("the stack has no component {}", req.component))
    })?;
    if let Rollout::StopStart(why) = rollout(&c) {
        return Err(DeployError::Invalid(format!(
            "{} is replaced {why}; deploy switches stateless components behind the edge (frontend, CMS)",
            c.name
        )));
    }
    let routed = plan.edge.as_ref().and_then(|e| e.route(&c.name)).is_some();
    if req.maintenance && !routed {
        return Err(DeployError::Invalid(format!(
            "--maintenance: the edge does not serve {} (set spec.ingress.host or cmsHost)",
            c.name
        )));
    }
    Ok(c)
}

async fn current_image<E: Engine>(a: &Applier<E>, c: &Component) -> Result<String, DeployError> {
    let name = a.plan.object_name(&c.name);
    let observed = a.engine.list_containers(&a.plan.stack).await?;
    Ok(observed
        .into_iter()
        .find(|o| o.name == name)
        .map(|o| o.image)
        .unwrap_or_default())
}

/// The new version prepared and healthy beside the old one, after the maintenance page and
/// the migration when asked. Ok(false): aborted, the old version serving (and the reason in
/// the report). The old version keeps all traffic meanwhile unless maintenance is on.
async fn ready_beside<E: Engine>(
    a: &Applier<E>,
    c: &Component,
    req: &DeployRequest,
    probe: Option<&Probe>,
    report: &mut DeployReport,
) -> Result<bool, DeployError> {
    let pending_id = a.prepare_pending(c).await?;
    if req.maintenance {
        if let Some(p) = probe {
            p.set_phase(Phase::During);
        }
        let current = a.plan.object_name(&c.name);
        a.switch_edge(c, &current, &BTreeSet::from([c.name.clone()]))
            .await?;
    }
    if req.migrate {
        let t0 = Instant::now();
        let argv = migrate_argv(c)?;
        a.reporter
            .report(&c.name, "migrating (one-off container of the new image)");
        let (code, output) = a.run_once(c, &argv, req.migrate_timeout).await?;
        report.migration = Some(Migration {
            exit_code: code,
            took_ms: t0.elapsed().as_secs_f64() * 1000.0,
            output,
        });
        if code != 0 {
            report.reason = Some(abort(a, c, req, format!("the migration exited {code}")).await?);
            return Ok(false);
        }
    }
    let (mut events, feeder) = a.event_feed();
    let healthy = match req.health_timeout {
        Some(limit) => tokio::time::timeout(limit, a.start_beside(c, &pending_id, &mut events))
            .await
            .unwrap_or_else(|_| {
                Err(DockerError::Other(format!(
                    "not healthy within --health-timeout {}s",
                    limit.as_secs()
                )))
            }),
        None => a.start_beside(c, &pending_id, &mut events).await,
    };
    feeder.abort();
    match healthy {
        Ok(took) => {
            report.healthy_after_ms = Some(took.as_secs_f64() * 1000.0);
            Ok(true)
        }
        Err(e) => {
            let why = format!("the new version never became healthy: {e}");
            report.reason = Some(abort(a, c, req, why).await?);
            Ok(false)
        }
    }
}

/// The edge's route to the healthy new container, then the names.
async fn switch_over<E: Engine>(
    a: &Applier<E>,
    c: &Component,
    began: Instant,
    report: &mut DeployReport,
) -> Result<Switched, DeployError> {
    let pending = format!("{}-new", a.plan.object_name(&c.name));
    let switched = a.switch_edge(c, &pending, &BTreeSet::new()).await?;
    report.switched_after_ms = Some(began.elapsed().as_secs_f64() * 1000.0);
    a.promote(c).await?;
    a.reporter.report(
        &c.name,
        &format!(
            "new version serving ({:.2}s in the edge)",
            switched.took.as_secs_f64()
        ),
    );
    Ok(switched)
}

/// Undoes what a deploy did before its switch: the maintenance page goes, the pending
/// container goes. Returns `why`.
async fn abort<E: Engine>(
    a: &Applier<E>,
    c: &Component,
    req: &DeployRequest,
    why: String,
) -> Result<String, DeployError> {
    let current = a.plan.object_name(&c.name);
    if req.maintenance {
        a.switch_edge(c, &current, &BTreeSet::new()).await?;
    }
    let pending = format!("{current}-new");
    let _ = a.engine.stop(&pending, 0).await;
    let _ = a.engine.remove(&pending).await;
    Ok(why)
}

fn migrate_argv(c: &Component) -> Result<Vec<String>, DeployError> {
    c.migrate.clone().filter(|m| !m.is_empty()).ok_or_else(|| {
        DeployError::Invalid(format!("--migrate: spec.{}.migrate is not set", c.name))
    })
}

/// The watch window: the new version passes the checks the old one passed, and its failure
/// rate under the probe is no worse than the old one's. Err: why not, and the regressions.
async fn watch<E: Engine>(
    a: &Applier<E>,
    new_stack: &ValidatedStack,
    state_dir: &Path,
    req: &DeployRequest,
    probe: Option<&Probe>,
    before: Option<crate::health::Report>,
) -> Result<(), (String, Vec<String>)> {
    let end = Instant::now() + req.watch;
    a.reporter.report(
        &req.component,
        &format!("watching the new version for {}s", req.watch.as_secs()),
    );
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(500).min(end - Instant::now())).await;
        if let Some(why) = probe.and_then(|p| worse(&p.snapshot())) {
            return Err((why, Vec::new()));
        }
    }
    let Some(before) = before else {
        return Ok(());
    };
    // At the end of the window, so a check that needs the engine's first health run (every
    // 10 s) has had it; a failure must hold on a second look to count.
    let mut regressed = Vec::new();
    for attempt in 0..HEALTH_LOOKS {
        if attempt > 0 {
            tokio::time::sleep(HEALTH_RELOOK).await;
        }
        regressed = match crate::health::run(a.engine.clone(), new_stack, &a.plan, state_dir).await
        {
            Ok(after) => regressions(&before, &after),
            Err(e) => vec![format!("health check: {e}")],
        };
        if regressed.is_empty() {
            return Ok(());
        }
    }
    Err((
        "health checks that passed before fail now".into(),
        regressed,
    ))
}

pub(super) fn regressions(
    before: &crate::health::Report,
    after: &crate::health::Report,
) -> Vec<String> {
    after
        .checks
        .iter()
        .filter(|c| !c.passed)
        .filter(|c| before.checks.iter().any(|b| b.id == c.id && b.passed))
        .map(|c| format!("{}: {}", c.id, c.evidence))
        .collect()
}

/// Why the new version's failure rate is worse than the old one's, if it is.
fn worse(r: &ProbeReport) -> Option<String> {
    let rate = |p: Phase| {
        r.phase(p)
            .filter(|s| s.sent > 0)
            .map(|s| (s.failed as f64 / s.sent as f64, s.failed, s.sent))
    };
    let (after, failed, sent) = rate(Phase::After)?;
    let (before, ..) = rate(Phase::Before).unwrap_or((0.0, 0, 0));
    (failed > 0 && after > before).then(|| {
        format!(
            "{failed} of {sent} probe requests failed on the new version ({:.1}% against {:.1}% before)",
            after * 100.0,
            before * 100.0
        )
    })
}
