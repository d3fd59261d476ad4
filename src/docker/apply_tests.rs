//! `apply` against the in-memory engine (`docker::fake`): the order of steps, idempotence,
//! recreation on a changed hash only, orphans, and the engine's conflict and crash states.

use super::*;
use crate::docker::diff::PENDING_SUFFIX;
use crate::docker::fake::{FakeContainer, FakeEngine};
use crate::secrets::SecretStore;

fn plan() -> Plan {
    let text = include_str!("../../examples/quickstart.yaml");
    let stack = crate::api::load::parse_str(text, "q").unwrap();
    let mut p = crate::plan::build(&crate::api::validate::validate(&stack, "q").unwrap());
    // Nothing published: a unit test must not depend on free ports of the machine.
    for c in &mut p.components {
        for port in &mut c.ports {
            port.publish = None;
        }
    }
    p
}

struct Silent;
impl Reporter for Silent {
    fn report(&self, _component: &str, _message: &str) {}
}

fn applier(engine: &Arc<FakeEngine>, plan: Plan, dir: &std::path::Path) -> Applier<FakeEngine> {
    let secrets = SecretStore::new(dir, &plan.stack)
        .ensure(&plan.secrets)
        .unwrap();
    Applier {
        engine: engine.clone(),
        plan: Arc::new(plan),
        secrets: Arc::new(secrets),
        reporter: Arc::new(Silent),
        wait: true,
    }
}

/// The position of the first call `op name` in the log.
fn at(calls: &[String], call: &str) -> usize {
    calls
        .iter()
        .position(|c| c == call)
        .unwrap_or_else(|| panic!("no call {call:?} in {calls:?}"))
}

fn one_per_component(engine: &FakeEngine, plan: &Plan) {
    let names: Vec<String> = engine.containers().into_keys().collect();
    let mut want: Vec<String> = plan
        .components
        .iter()
        .map(|c| plan.object_name(&c.name))
        .collect();
    want.sort();
    assert_eq!(names, want);
}

#[test]
fn start_order_tiers_of_the_quickstart() {
    let p = plan();
    let mut leads = lead_components(&p);
    leads.sort();
    assert_eq!(leads, ["cache", "database"]);
    // Only the CMS is waited for beyond the leads; the frontend, the WAL receiver and
    // monitoring are leaves and start after it.
    assert_eq!(awaited_components(&p, &leads), ["cms"]);
}

#[tokio::test]
async fn a_first_apply_creates_in_dependency_order_and_a_second_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(FakeEngine::default());
    let a = applier(&engine, plan(), dir.path());
    let report = a.apply().await.unwrap();
    assert_eq!(report.changes(), a.plan.components.len());
    one_per_component(&engine, &a.plan);
    let calls = engine.calls();
    // Every dependency is started (and healthy) before its dependent starts.
    for c in &a.plan.components {
        for d in &c.depends_on {
            let dep = format!("start {}", a.plan.object_name(&d.component));
            let me = format!("start {}", a.plan.object_name(&c.name));
            assert!(at(&calls, &dep) < at(&calls, &me), "{dep} before {me}");
        }
    }
    // Each container is created under its pending name, then renamed into place.
    let db = a.plan.object_name("database");
    assert!(
        at(&calls, &format!("create {db}{PENDING_SUFFIX}")) < at(&calls, &format!("rename {db}"))
    );
    engine.clear_calls();
    let again = a.apply().await.unwrap();
    assert_eq!(again.changes(), 0);
    let writes: Vec<String> = engine
        .calls()
        .into_iter()
        .filter(|c| !c.starts_with("list ") && !c.starts_with("volumes "))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[tokio::test]
async fn only_the_component_whose_hash_changed_is_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(FakeEngine::default());
    applier(&engine, plan(), dir.path()).apply().await.unwrap();
    let before = engine.containers();
    let mut changed = plan();
    let cms = changed
        .components
        .iter_mut()
        .find(|c| c.name == "cms")
        .unwrap();
    cms.env.insert("LOG_LEVEL".into(), "info".into());
    engine.clear_calls();
    let a = applier(&engine, changed, dir.path());
    let report = a.apply().await.unwrap();
    assert_eq!(report.steps.len(), 1, "{:?}", report.steps);
    assert!(matches!(&report.steps[0], Step::Recreate { component, .. } if component == "cms"));
    let after = engine.containers();
    for (name, c) in &before {
        let same = after[name].id == c.id;
        assert_eq!(same, !name.ends_with("-cms"), "{name}");
    }
    // The CMS is blue/green: the replacement starts beside the running one, and only once
    // it is healthy does the old one give up its name (kept as -prev) and stop.
    let calls = engine.calls();
    let cms = a.plan.object_name("cms");
    let order = [
        format!("create {cms}{PENDING_SUFFIX}"),
        format!("start {cms}{PENDING_SUFFIX}"),
        format!("rename {cms}-prev"),
        format!("rename {cms}"),
    ];
    let positions: Vec<usize> = order.iter().map(|c| at(&calls, c)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{calls:?}");
    assert!(!calls.contains(&format!("stop {cms}")), "{calls:?}");
    assert!(!calls.contains(&format!("remove {cms}")), "{calls:?}");
    assert_eq!(
        calls.iter().rposition(|c| *c == format!("stop {cms}-prev")),
        Some(calls.len() - 1),
        "{calls:?}"
    );
    let kept = &engine.containers()[&format!("{cms}-prev")];
    assert_eq!(kept.id, before[&cms].id);
}

#[tokio::test]
async fn a_stateful_component_is_stopped_before_its_replacement_starts() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(FakeEngine::default());
    applier(&engine, plan(), dir.path()).apply().await.unwrap();
    let mut changed = plan();
    let cache = changed
        .components
        .iter_mut()
        .find(|c| c.name == "cache")
        .unwrap();
    cache.env.insert("X".into(), "1".into());
    engine.clear_calls();
    let a = applier(&engine, changed, dir.path());
    a.apply().await.unwrap();
    let calls = engine.calls();
    let cache = a.plan.object_name("cache");
    let order = [
        format!("create {cache}{PENDING_SUFFIX}"),
        format!("stop {cache}"),
        format!("remove {cache}"),
        format!("rename {cache}"),
        format!("start {cache}"),
    ];
    let positions: Vec<usize> = order.iter().map(|c| at(&calls, c)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{calls:?}");
}

#[tokio::test]
async fn containers_not_in_the_spec_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(FakeEngine::default());
    let a = applier(&engine, plan(), dir.path());
    a.apply().await.unwrap();
    engine.plant(
        "quickstart-old-worker",
        FakeContainer {
            id: "orphan".into(),
            stack: "quickstart".into(),
            component: "old-worker".into(),
            hash: Some("x".into()),
            image: "busybox".into(),
            running: true,
            has_health: false,
        },
    );
    let report = a.apply().await.unwrap();
    assert!(
        report.steps.iter().any(
            |s| matches!(s, Step::Remove { container, .. } if container == "quickstart-old-worker")
        ),
        "{:?}",
        report.steps
    );
    one_per_component(&engine, &a.plan);
}

#[tokio::test]
async fn a_leftover_pending_container_found_on_create_is_replaced_in_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(FakeEngine::default());
    let a = applier(&engine, plan(), dir.path());
    let pending = format!("{}{PENDING_SUFFIX}", a.plan.object_name("cache"));
    engine.fail_next(
        "create",
        &pending,
        DockerError::Conflict(format!("container {pending}")),
    );
    a.apply().await.unwrap();
    one_per_component(&engine, &a.plan);
    let calls = engine.calls();
    let removed = calls
        .iter()
        .filter(|c| **c == format!("remove {pending}"))
        .count();
    assert!(removed >= 2, "{calls:?}");
}

#[tokio::test]
async fn a_name_taken_between_create_and_rename_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(FakeEngine::default());
    let a = applier(&engine, plan(), dir.path());
    // Another run put a container under the final name while ours was being prepared.
    let cache = a.plan.object_name("cache");
    engine.fail_next(
        "rename",
        &cache,
        DockerError::Conflict(format!("container {cache}")),
    );
    a.apply().await.unwrap();
    one_per_component(&engine, &a.plan);
}

#[tokio::test]
async fn a_kill_between_create_and_rename_converges_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(FakeEngine::default());
    let a = applier(&engine, plan(), dir.path());
    a.apply().await.unwrap();
    // A recreate was killed after its create: the old container and the pending one exist.
    let cms = a.plan.object_name("cms");
    let old = engine.containers()[&cms].clone();
    engine.plant(
        &format!("{cms}{PENDING_SUFFIX}"),
        FakeContainer {
            id: "half-done".into(),
            hash: Some("from-the-killed-run".into()),
            running: false,
            ..old.clone()
        },
    );
    let report = a.apply().await.unwrap();
    assert!(
        report
            .steps
            .iter()
            .any(|s| matches!(s, Step::Remove { reason, .. } if reason.contains("interrupted"))),
        "{:?}",
        report.steps
    );
    one_per_component(&engine, &a.plan);
    assert_eq!(
        engine.containers()[&cms].id,
        old.id,
        "the old container stays"
    );
}

#[tokio::test]
async fn a_component_that_never_gets_healthy_fails_its_dependents() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(FakeEngine::default());
    let mut p = plan();
    // Fail fast: no start period, one retry.
    for c in &mut p.components {
        if let Some(h) = c.health.as_mut() {
            h.start_period_ms = 0;
            h.interval_ms = 100;
            h.retries = 1;
        }
    }
    let a = applier(&engine, p, dir.path());
    engine.make_sick("cache");
    tokio::time::pause();
    let err = a.apply().await.unwrap_err();
    assert!(
        matches!(&err, DockerError::Unhealthy { component, .. } if component == "cache"),
        "{err}"
    );
    // The failure says what the health check and the container's log last said.
    let text = err.to_string();
    assert!(
        text.contains("last health check: ")
            && text.contains(&format!(
                "last log lines of {}",
                a.plan.object_name("cache")
            ))
            && text.contains("ready to accept connections"),
        "{text}"
    );
    // What depends on the cache never started.
    let calls = engine.calls();
    let cms = format!("start {}", a.plan.object_name("cms"));
    assert!(!calls.contains(&cms), "{calls:?}");
}

#[tokio::test]
async fn the_data_stores_sit_on_a_network_of_their_own() {
    let p = plan();
    let names = |tiers: &[crate::plan::Tier]| {
        p.components
            .iter()
            .filter(|c| p.networks_of(c) == tiers)
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
    };
    use crate::plan::Tier::{App, Data};
    assert_eq!(names(&[Data]), ["database", "cache"]);
    assert_eq!(
        names(&[App, Data]),
        ["wal-receiver", "cms", "postgres-exporter", "redis-exporter"]
    );
    assert!(names(&[App]).contains(&"frontend"));

    let engine = Arc::new(FakeEngine::default());
    let dir = tempfile::tempdir().unwrap();
    applier(&engine, p.clone(), dir.path())
        .apply()
        .await
        .unwrap();
    let calls = engine.calls();
    at(&calls, "network appstack-quickstart-data");
    // Joined before it ever starts, under its pending name.
    let joined = at(
        &calls,
        "connect quickstart-cms-new appstack-quickstart-data",
    );
    assert!(joined < at(&calls, "start quickstart-cms"), "{calls:?}");
    assert!(!calls
        .iter()
        .any(|c| c.starts_with("connect quickstart-frontend")));
}

#[test]
fn a_read_only_root_gets_its_files_on_volumes_of_its_own() {
    let p = plan();
    let dir = tempfile::tempdir().unwrap();
    let secrets = SecretStore::new(dir.path(), &p.stack)
        .ensure(&p.secrets)
        .unwrap();
    let prometheus = p.component("prometheus").unwrap();
    assert!(prometheus.read_only_root);
    let body = crate::docker::render::container_body(&p, prometheus, "h");
    let host = body.host_config.unwrap();
    assert_eq!(host.readonly_rootfs, Some(true));
    let targets: Vec<String> = host
        .mounts
        .unwrap()
        .into_iter()
        .filter_map(|m| m.target)
        .collect();
    assert!(
        targets.contains(&"/etc/prometheus".to_string()),
        "{targets:?}"
    );
    let tars = crate::docker::render::files_tars(prometheus, &secrets).unwrap();
    let roots: Vec<&str> = tars.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(roots, ["/etc/prometheus"]);
    let mut archive = tar::Archive::new(tars[0].1.as_slice());
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"prometheus.yml".to_string()), "{names:?}");
    // The cache's secret goes to its secrets volume, its config to its own.
    let cache = p.component("cache").unwrap();
    let roots: Vec<String> = crate::docker::render::files_tars(cache, &secrets)
        .unwrap()
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    assert_eq!(roots, ["/etc/appstack", crate::plan::SECRETS_DIR]);
    // A writable root takes one tar at `/`, as before.
    let cms = p.component("cms").unwrap();
    assert!(!cms.read_only_root);
    let roots: Vec<String> = crate::docker::render::files_tars(cms, &secrets)
        .unwrap()
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    assert_eq!(roots, ["/"]);
}
