//! `up`, `status`, `plan`, `down` against a real Docker engine.

mod common;

use common::*;

#[test]
fn quickstart_converges_and_second_up_changes_nothing() {
    if !engine_available() {
        return;
    }
    // The quickstart manifest itself, renamed so it never collides with a user's stack.
    let text = std::fs::read_to_string("examples/quickstart.yaml").unwrap();
    let spec = text
        .split_once("spec:\n")
        .unwrap()
        .1
        .replace("hostPort: 3000", "hostPort: 13000")
        .replace("hostPort: 8055", "hostPort: 18055")
        .replace("hostPort: 9090", "hostPort: 19090");
    let s = TestStack::new("it-quick", &spec);
    let up = s.run_ok(&["up"]);
    let log = String::from_utf8_lossy(&up.stderr);
    assert!(log.contains("11 change(s), all healthy"), "{log}");
    let before = s.containers();
    assert_eq!(before.len(), 11, "{before:?}");
    assert!(before.iter().all(|c| c.2 == "running"), "{before:?}");
    // Every container: no capability, no-new-privileges, a pids limit (PostgreSQL's covers a process
    // per connection) and a memory budget.
    for (name, _, _, _) in &before {
        let inspect = docker_ok(&[
            "inspect",
            "-f",
            "{{json .HostConfig.SecurityOpt}}{{json .HostConfig.CapDrop}} {{.HostConfig.PidsLimit}}",
            name,
        ]);
        let (opts, pids) = inspect.trim().rsplit_once(' ').unwrap();
        assert!(opts.contains("no-new-privileges:true"), "{name}: {inspect}");
        assert!(opts.contains("[\"ALL\"]"), "{name}: {inspect}");
        let pids: i64 = pids.parse().unwrap();
        assert!(pids >= 512, "{name}: {inspect}");
        // A memory budget: a hard limit above a reservation (docs/docker.md, "Memory").
        let memory = docker_ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.MemoryReservation}}",
            name,
        ]);
        let (limit, reserved) = memory.trim().split_once(' ').unwrap();
        let (limit, reserved): (i64, i64) = (limit.parse().unwrap(), reserved.parse().unwrap());
        assert!(reserved > 0 && limit >= reserved, "{name}: {memory}");
        // The data stores' neighbours write only to their volumes: a read-only root.
        let read_only = [
            "cache",
            "prometheus",
            "alertmanager",
            "exporter",
            "wal-receiver",
        ]
        .iter()
        .any(|c| name.ends_with(c));
        let rootfs = docker_ok(&["inspect", "-f", "{{.HostConfig.ReadonlyRootfs}}", name]);
        assert_eq!(rootfs.trim() == "true", read_only, "{name}: {rootfs}");
        let user = docker_ok(&["inspect", "-f", "{{.Config.User}}", name]);
        let user = user.trim();
        assert!(
            !["", "root", "0", "0:0"].contains(&user),
            "{name} runs as {user:?}"
        );
        // The secret files sit on the container's own volume, never in its layer.
        let diff = docker_ok(&["diff", name]);
        assert!(
            !diff
                .lines()
                .any(|l| l.contains("/run/secrets/") || l.contains("pgpass")),
            "{name}: {diff}"
        );
    }
    // The frontend cannot open a connection to PostgreSQL or Redis, not even by address;
    // the CMS can (its health below checks both).
    for (store, port) in [("database", "5432"), ("cache", "6379")] {
        let object = format!("it-quick-{store}");
        let ip = docker_ok(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &object,
        ]);
        for host in [store, object.as_str(), ip.trim()] {
            let seen = tcp_from("it-quick-frontend", host, port);
            assert_ne!(seen, "open", "the frontend reached {host}:{port}");
        }
        assert_eq!(tcp_from("it-quick-cms", store, port), "open", "{store}");
    }

    // What the superuser made in the application's schema (as every table of a stack made
    // before the CMS had its own role) moves to the CMS's role on the next `up`, data kept.
    s.psql("CREATE TABLE legacy_owned (id serial PRIMARY KEY, v text); INSERT INTO legacy_owned (v) VALUES ('kept')");

    let again = s.run_ok(&["up"]);
    let log2 = String::from_utf8_lossy(&again.stderr);
    assert!(log2.contains("up to date, 0 changes"), "{log2}");
    assert_eq!(
        s.psql("SELECT pg_get_userbyid(relowner) || ' ' || (SELECT v FROM legacy_owned) FROM pg_class WHERE relname = 'legacy_owned_id_seq'"),
        "appstack_cms kept"
    );
    assert_eq!(
        s.containers()
            .iter()
            .map(|c| c.1.clone())
            .collect::<Vec<_>>(),
        before.iter().map(|c| c.1.clone()).collect::<Vec<_>>()
    );

    let status = s.run_ok(&["status", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["status"]["phase"], "Ready", "{doc}");
    for c in [
        "database",
        "cache",
        "cms",
        "frontend",
        "prometheus",
        "node-exporter",
        "blackbox-exporter",
        "postgres-exporter",
        "redis-exporter",
        "alertmanager",
    ] {
        assert_eq!(
            doc["status"]["components"][c]["health"], "healthy",
            "{c}: {doc}"
        );
    }
    // The CMS (Directus) really reaches PostgreSQL and Redis through the generated secrets:
    // its detailed health, for its admin (the generated password), checks both.
    let password = directus::admin_password(&s.state_dir(), "it-quick");
    let health = directus::Cms::login(18055, &password).call("GET", "/server/health", None);
    assert!(
        health["status"] == "ok"
            && health["checks"]["pg:responseTime"][0]["status"] == "ok"
            && health["checks"]["cache:responseTime"][0]["status"] == "ok",
        "{health}"
    );
    assert_eq!(
        s.psql("SELECT count(*) FROM pg_extension WHERE extname = 'postgis'"),
        "1"
    );
    // The CMS signs in as its own role: owner of its tables, but no superuser.
    assert_eq!(
        s.psql(
            "SELECT rolsuper OR rolreplication OR rolbypassrls OR rolcreaterole \
             FROM pg_roles WHERE rolname = 'appstack_cms'"
        ),
        "f"
    );
    assert_eq!(
        s.psql("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'directus_users'"),
        "appstack_cms"
    );
    // The WAL receiver streams as a role that may only replicate.
    assert_eq!(
        s.psql(
            "SELECT string_agg(usename || ' ' || r.rolsuper || ' ' || r.rolreplication, ',') \
             FROM pg_stat_replication JOIN pg_roles r ON r.oid = usesysid"
        ),
        "appstack_replication false true"
    );
    let copy = std::process::Command::new("docker")
        .args([
            "exec",
            "it-quick-database",
            "psql",
            "-XAtq",
            "-U",
            "appstack_cms",
            "-d",
            "app",
        ])
        .args(["-c", "COPY (SELECT 1) TO PROGRAM 'touch /tmp/pwned'"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&copy.stderr);
    assert!(
        !copy.status.success() && err.contains("must be superuser"),
        "{err}"
    );
    let pwned = std::process::Command::new("docker")
        .args(["exec", "it-quick-database", "test", "-e", "/tmp/pwned"])
        .status()
        .unwrap();
    assert!(!pwned.success());

    // Nothing printed by any command reveals a secret.
    let plan = s.run_ok(&["plan"]);
    let secrets = s.secret_values();
    assert!(secrets.len() >= 4, "{secrets:?}");
    for out in [&up, &again, &status, &plan] {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for v in &secrets {
            assert!(
                !all.contains(v.as_str()),
                "a secret leaked into command output"
            );
        }
    }
    let env = docker_ok(&[
        "inspect",
        "it-quick-database",
        "--format",
        "{{json .Config.Env}}",
    ]);
    for v in &secrets {
        assert!(
            !env.contains(v.as_str()),
            "a secret is in a container's environment"
        );
    }
}

#[test]
fn down_keeps_volumes_and_data_survives() {
    if !engine_available() {
        return;
    }
    let s = TestStack::new("it-down", SMALL);
    s.run_ok(&["up"]);
    s.psql("CREATE TABLE marker (v text); INSERT INTO marker VALUES ('kept')");
    let down = s.run_ok(&["down"]);
    assert!(String::from_utf8_lossy(&down.stderr).contains("volumes kept"));
    assert!(s.containers().is_empty());
    let vols = docker_ok(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        "label=appstack.io/stack=it-down",
    ]);
    assert!(vols.contains("it-down-database-data"), "{vols}");
    s.run_ok(&["up"]);
    assert_eq!(s.psql("SELECT v FROM marker"), "kept");
    // --volumes without --yes and without a terminal refuses, removing nothing.
    let refused = s.run(&["down", "--volumes"]);
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(s.containers().len(), 4);
    s.run_ok(&["down", "--volumes", "--yes"]);
    let vols = docker_ok(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        "label=appstack.io/stack=it-down",
    ]);
    assert!(vols.is_empty(), "{vols}");
}

#[test]
fn port_in_use_and_missing_image_fail_before_any_change() {
    if !engine_available() {
        return;
    }
    let port = free_port();
    let _holder = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let s = TestStack::new(
        "it-preflight",
        &format!(
            "{SMALL}  ingress:\n    publishedPorts: [{{component: frontend, hostPort: {port}}}]\n"
        ),
    );
    let out = s.run(&["up"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("port {port}")) && err.contains("frontend"),
        "{err}"
    );
    assert!(
        s.containers().is_empty(),
        "nothing may be applied: {:?}",
        s.containers()
    );

    let s2 = TestStack::new(
        "it-noimage",
        "  cache: {image: appstack/does-not-exist:1}\n",
    );
    let out = s2.run(&["up"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "image appstack/does-not-exist:1 is not present locally and could not be pulled"
        ),
        "{err}"
    );
    assert!(s2.containers().is_empty());
}

#[test]
fn changed_spec_recreates_only_that_component_and_orphans_go() {
    if !engine_available() {
        return;
    }
    let s = TestStack::new(
        "it-change",
        &format!("{SMALL}  services: [{{name: extra, image: appstack/redis:7}}]\n"),
    );
    s.run_ok(&["up"]);
    let before = s.containers();
    s.write(&small_with_cms_env("FEATURE_X: \"on\""));
    let plan = s.run_ok(&["plan"]);
    let table = String::from_utf8_lossy(&plan.stdout);
    assert!(
        table.contains("recreate")
            && table.contains("it-change-extra")
            && table.contains("2 change(s)"),
        "{table}"
    );
    s.run_ok(&["up"]);
    // The CMS was replaced blue/green: its old container is kept, stopped, for `rollback`.
    let (after, kept) = s.serving_and_kept();
    assert_eq!(after.len(), 4, "{after:?}");
    let old_cms = before.iter().find(|b| b.0 == "it-change-cms").unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        (&kept[0].0[..], &kept[0].1, &kept[0].2[..]),
        ("it-change-cms-prev", &old_cms.1, "exited")
    );
    for (name, id, _, _) in &after {
        let old = before.iter().find(|b| &b.0 == name).unwrap();
        if name == "it-change-cms" {
            assert_ne!(&old.1, id, "cms must be recreated");
        } else {
            assert_eq!(&old.1, id, "{name} must be untouched");
        }
    }
    let env = docker_ok(&[
        "inspect",
        "it-change-cms",
        "--format",
        "{{json .Config.Env}}",
    ]);
    assert!(env.contains("FEATURE_X=on"));
}

/// What a TCP connection from inside `container` to `host:port` gives: "open", or the
/// error (a name that does not resolve, a timeout, an unreachable host).
fn tcp_from(container: &str, host: &str, port: &str) -> String {
    const PROBE: &str =
        "const s = require('net').connect({host: process.argv[1], port: +process.argv[2]});\
        s.setTimeout(3000);\
        s.on('connect', () => { console.log('open'); process.exit(0); });\
        s.on('timeout', () => { console.log('timeout'); process.exit(1); });\
        s.on('error', (e) => { console.log(e.code); process.exit(1); });";
    let out = std::process::Command::new("docker")
        .args(["exec", container, "node", "-e", PROBE, host, port])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
