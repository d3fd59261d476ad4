//! DR drills end to end on the real engine: while `appstack run` ships WAL, `appstack
//! drill` writes markers, restores into `<stack>-drill`, measures RTO and RPO, keeps the
//! report (store and state dir) and removes the copy; the live stack is untouched. The same
//! restore into a plain directory (the Kubernetes drill pod's path) boots and promotes. A missed
//! objective fails loudly (exit 1) with a failed report, and the daemon's drill schedule
//! runs a drill and exports its verdict.

mod common;

use std::time::Duration;

use common::*;

fn spec(store: &std::path::Path, recovery: &str) -> String {
    format!(
        "{SMALL}  backup:\n    target: file://{}\n    wal: {{shipInterval: 1s}}\n  recovery:\n{recovery}",
        store.display()
    )
}

const OBJECTIVES: &str = "    objectives: {rto: 10m, rpo: 1m}\n";

/// Files under `dir` that are not WAL (the shipper keeps adding WAL while a test runs).
fn count_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() && p.file_name().is_some_and(|f| f != "wal") {
            n += count_files(&p);
        } else if p.is_file() {
            n += 1;
        }
    }
    n
}

fn stack_objects(stack: &str) -> (String, String) {
    let filter = format!("label=appstack.io/stack={stack}");
    (
        docker_ok(&["ps", "-aq", "--filter", &filter]),
        docker_ok(&["volume", "ls", "-q", "--filter", &filter]),
    )
}

#[test]
fn a_drill_restores_an_isolated_copy_measures_rto_and_rpo_and_removes_it() {
    if !engine_available() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let s = TestStack::new("it-drill", &spec(store.path(), OBJECTIVES));
    let _copy = TestStack::new("it-drill-drill", SMALL);
    s.run_ok(&["up"]);
    let daemon = Daemon::start(&s, &["--log-level", "info", "run"]);
    s.psql("CREATE TABLE orders (id serial PRIMARY KEY, note text)");
    s.psql("INSERT INTO orders (note) SELECT 'o' || g FROM generate_series(1, 500) g");
    s.run_ok(&["backup", "now", "--only", "db"]);
    s.run_ok(&["backup", "now", "--only", "files"]);
    s.psql("INSERT INTO orders (note) SELECT 'late' || g FROM generate_series(1, 20) g");
    let ids = |s: &TestStack| -> Vec<(String, String)> {
        s.containers()
            .into_iter()
            .map(|(n, id, _, _)| (n, id))
            .collect()
    };
    let live_before = ids(&s);

    // A drill that keeps its copy, to look inside it. It runs with a state directory of
    // its own, empty: the live stack's secrets and state are out of its reach, so it can
    // only have used the store (a drill from another machine would do the same).
    let elsewhere = tempfile::tempdir().unwrap();
    let drill = |args: &[&str]| {
        let mut c = appstack();
        c.arg("--state-dir")
            .arg(elsewhere.path())
            .args(args)
            .arg("-f")
            .arg(&s.manifest);
        c.output().unwrap()
    };
    let out = drill(&["drill", "--json", "--keep"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(report["passed"], true, "{report:#}\n{stderr}");
    let rto = report["rtoSeconds"].as_f64().unwrap();
    let rpo = report["rpoSeconds"].as_f64().unwrap();
    eprintln!("drill measured RTO {rto:.1}s, RPO {rpo:.2}s");
    assert!(rto > 0.0 && rto < 600.0, "{report:#}");
    // WAL ships every second and the drill warms up with a marker a second: the copy is
    // seconds behind at most.
    assert!(rpo < 10.0, "RPO {rpo}s: {report:#}");
    assert!(
        report["markersWritten"].as_u64().unwrap() >= 3,
        "{report:#}"
    );
    assert!(report["walFiles"].as_u64().unwrap() >= 1, "{report:#}");
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(steps.last(), Some(&"smoke checks passed"), "{steps:?}");
    assert!(stderr.contains("report: "), "{stderr}");
    // The copy holds the rows committed after the base backup (replayed from WAL).
    assert_eq!(psql("it-drill-drill", "SELECT count(*) FROM orders"), "520");
    let (containers, _) = stack_objects("it-drill-drill");
    assert!(!containers.is_empty());
    // The copy publishes nothing on the host.
    let ports = docker_ok(&["port", "it-drill-drill-frontend"]);
    assert!(ports.trim().is_empty(), "{ports}");
    // The copy got new credentials (there is no key to unseal the stack's own), its
    // admin signed in to Directus and read, the page rendered, the uploads matched.
    let checks = report["checks"].to_string();
    for want in [
        "database role app has a new password",
        "the CMS signed in its admin",
        "the frontend rendered its page",
        "match files backup",
        "equal the source's at the cut",
    ] {
        assert!(checks.contains(want), "{want}: {checks}");
    }
    let live_pw = directus::admin_password(&s.state_dir(), "it-drill");
    let copy_pw = directus::admin_password(elsewhere.path(), "it-drill-drill");
    assert_ne!(live_pw, copy_pw);
    // A second drill refuses while the kept copy exists, and --clean removes it.
    let refused = drill(&["drill"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--clean"));
    assert!(drill(&["drill", "--clean"]).status.success());
    assert_eq!(
        stack_objects("it-drill-drill"),
        (String::new(), String::new())
    );
    assert_eq!(ids(&s), live_before, "the live stack was touched");

    // The report is kept in the store and the state dir, and status shows the verdict.
    let id = report["id"].as_str().unwrap();
    for ext in ["json", "md", "svg"] {
        let in_store = store.path().join(format!("it-drill/drills/{id}.{ext}"));
        assert!(in_store.exists(), "{}", in_store.display());
        let in_state = elsewhere.path().join(format!("drills/it-drill/{id}.{ext}"));
        assert!(in_state.exists(), "{}", in_state.display());
    }
    // The timeline picture: well-formed SVG, one bar per phase of the recovery.
    let svg =
        std::fs::read_to_string(store.path().join(format!("it-drill/drills/{id}.svg"))).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("the drill's SVG parses as XML");
    let bars = doc.descendants().filter(|n| n.has_tag_name("rect")).count();
    let phases: Vec<&str> = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["fetch", "fill", "replay", "boot", "checks"]);
    assert_eq!(bars, phases.len());
    let md =
        std::fs::read_to_string(store.path().join(format!("it-drill/drills/{id}.md"))).unwrap();
    assert!(md.contains(&format!("![timeline]({id}.svg)")), "{md}");

    let status = String::from_utf8_lossy(&s.run_ok(&["status"]).stdout).into_owned();
    assert!(
        status.contains("last drill:") && status.contains("passed (RTO"),
        "{status}"
    );

    // Broken backups make the drill fail (exit 1) naming the fault; the store is intact.
    let objects_before = count_files(store.path());
    for fault in [
        "missing-wal",
        "corrupt-base",
        "missing-secrets",
        "missing-uploads",
    ] {
        let out = s.run(&["drill", "--inject-fault", fault]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{fault}: {err}");
        assert!(
            err.contains(&format!("injected fault {fault}")),
            "{fault}: {err}"
        );
        assert_eq!(
            stack_objects("it-drill-drill"),
            (String::new(), String::new()),
            "{fault}: the copy goes"
        );
    }
    // Only the reports were added (json, md and svg of each drill).
    assert_eq!(count_files(store.path()), objects_before + 4 * 3);
    // A random point of the recoverability window, checked against the source's
    // heartbeat rows (the daemon commits one every 10 s).
    let out = s.run(&["drill", "--to", "random", "--json"]);
    let random: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(
        random["passed"],
        true,
        "{random:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        random["target"].as_str().unwrap().ends_with("(random)"),
        "{random:#}"
    );
    assert!(
        random["checks"]
            .to_string()
            .contains("the newest heartbeat before it is the source's, none after it"),
        "{random:#}"
    );
    let history = String::from_utf8_lossy(&s.run_ok(&["drill", "history"]).stdout).into_owned();
    assert!(
        history.contains(id) && history.contains("passed"),
        "{history}"
    );
    assert_eq!(history.matches("FAILED").count(), 4, "{history}");

    // The same restore into a plain directory (what the Kubernetes drill pod does), then a
    // container of the database image started on it replays and promotes.
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    s.run_ok(&["restore", "--to-dir", dir_arg]);
    let refused = s.run(&["restore", "--to-dir", dir_arg]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "a second restore must not overwrite"
    );
    // Handed to the image's user, as the official image's root entrypoint does.
    let volume = format!("{dir_arg}:/var/lib/postgresql/data");
    docker_ok(&[
        "run",
        "--rm",
        "--user",
        "0",
        "-v",
        &volume,
        "appstack/postgis:15",
        "chown",
        "-R",
        "postgres:postgres",
        "/var/lib/postgresql/data",
    ]);
    docker_ok(&[
        "run",
        "-d",
        "--name",
        "it-drill-dir",
        "--label",
        "appstack.io/stack=it-drill-drill",
        "-e",
        "PGDATA=/var/lib/postgresql/data/pgdata",
        "-v",
        &volume,
        "appstack/postgis:15",
    ]);
    let dir_psql = |sql: &str| {
        docker(&[
            "exec",
            "it-drill-dir",
            "psql",
            "-U",
            "app",
            "-d",
            "app",
            "-tAc",
            sql,
        ])
    };
    wait_for(
        "the restored directory's database to promote",
        Duration::from_secs(60),
        || {
            dir_psql("SELECT pg_is_in_recovery()")
                .stdout
                .starts_with(b"f")
        },
    );
    let rows =
        String::from_utf8_lossy(&dir_psql("SELECT count(*) FROM orders").stdout).into_owned();
    assert_eq!(rows.trim(), "520");
    docker_ok(&["rm", "-f", "it-drill-dir"]);

    // An objective the stack cannot meet fails loudly, and the copy still goes.
    s.write(&spec(store.path(), "    objectives: {rto: 1s, rpo: 1m}\n"));
    let out = s.run(&["drill"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("FAILED") && stderr.contains("## Timeline"),
        "{stderr}"
    );
    assert_eq!(
        stack_objects("it-drill-drill"),
        (String::new(), String::new())
    );
    let status = String::from_utf8_lossy(&s.run_ok(&["status"]).stdout).into_owned();
    assert!(status.contains("FAILED"), "{status}");

    // The daemon's schedule runs a drill and exports its verdict.
    let scheduled_from = chrono::Utc::now().timestamp();
    s.write(&spec(
        store.path(),
        &format!("{OBJECTIVES}    drill: {{schedule: \"* * * * *\"}}\n"),
    ));
    let last_drill = |m: &str| -> i64 {
        m.lines()
            .find_map(|l| {
                l.strip_prefix("appstack_drill_last_timestamp_seconds{stack=\"it-drill\"} ")
            })
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    wait_for("a scheduled drill", Duration::from_secs(150), || {
        daemon
            .get("/metrics")
            .is_some_and(|m| last_drill(&m) > scheduled_from)
    });
    let metrics = daemon.get("/metrics").unwrap();
    assert!(
        metrics.contains("appstack_drill_passed{stack=\"it-drill\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("appstack_drill_rpo_seconds{stack=\"it-drill\"}"),
        "{metrics}"
    );
    let log = daemon.stop();
    assert!(log.contains("scheduled drill passed"), "{log}");
}
