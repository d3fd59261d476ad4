//! `appstack run`: drift repair, unhealthy restarts, spec edits, metrics, no secrets in logs.

mod common;

use std::time::Duration;

use common::*;

const WITH_PROBE: &str = "  services:\n    - name: probe\n      image: appstack/redis:7\n      healthCommand: [\"/bin/sh\", \"-c\", \"test ! -e /dev/shm/sick\"]\n";

#[test]
fn daemon_repairs_drift_restarts_unhealthy_and_follows_edits() {
    if !engine_available() {
        return;
    }
    let s = TestStack::new("it-daemon", &format!("{SMALL}{WITH_PROBE}"));
    let d = Daemon::start(&s, &["--log-level", "debug", "run", "--resync", "5s"]);
    assert_eq!(s.containers().len(), 5);

    // 1. A container removed by hand is back within 5 s.
    docker_ok(&["rm", "-f", "it-daemon-frontend"]);
    let took = wait_for("frontend recreated", Duration::from_secs(5), || {
        s.containers()
            .iter()
            .any(|c| c.0 == "it-daemon-frontend" && c.2 == "running")
    });
    eprintln!("removed container back after {took:?}");

    // 2. An unhealthy container is restarted (Docker itself never does). `up` converges on
    // appstack's own probe, which can pass before the engine's first check; until the
    // engine has seen one pass, failures fall in the start period and never count.
    wait_for(
        "the engine to see the probe healthy",
        Duration::from_secs(30),
        || {
            s.containers()
                .iter()
                .any(|c| c.0 == "it-daemon-probe" && c.3.contains("(healthy)"))
        },
    );
    let started = docker_ok(&["inspect", "-f", "{{.State.StartedAt}}", "it-daemon-probe"]);
    docker_ok(&["exec", "it-daemon-probe", "touch", "/dev/shm/sick"]);
    wait_for("probe restarted", Duration::from_secs(60), || {
        docker_ok(&["inspect", "-f", "{{.State.StartedAt}}", "it-daemon-probe"]) != started
    });
    let metrics = d.get("/metrics").unwrap();
    assert!(
        metrics.contains(
            "appstack_unhealthy_restarts_total{stack=\"it-daemon\",component=\"probe\"} 1"
        ),
        "{metrics}"
    );
    // /dev/shm is a fresh tmpfs after the restart: healthy again.
    wait_for("probe healthy again", Duration::from_secs(30), || {
        s.containers()
            .iter()
            .any(|c| c.0 == "it-daemon-probe" && c.3.contains("(healthy)"))
    });

    // 3. A spec edit (new CMS env var) recreates only the CMS.
    let before = s.containers();
    s.write(&format!(
        "{}{WITH_PROBE}",
        small_with_cms_env("NEW_VAR: \"1\"")
    ));
    // Directus takes seconds to boot; the pass that recreated it ends when it is healthy.
    wait_for(
        "cms recreated and healthy",
        Duration::from_secs(120),
        || {
            s.containers().iter().any(|c| {
                c.0 == "it-daemon-cms"
                    && c.3.contains("(healthy)")
                    && before.iter().all(|b| b.1 != c.1)
            })
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    for (name, id, _, _) in s.containers() {
        if name != "it-daemon-cms" {
            assert!(
                before.iter().any(|b| b.1 == id),
                "{name} was recreated but only the CMS changed"
            );
        }
    }

    // 4. An invalid edit is reported and applied nothing; the stack keeps running.
    s.write("  database: {storage: 20Gx}\n");
    wait_for("the invalid edit reported", Duration::from_secs(30), || {
        d.get("/metrics")
            .is_some_and(|m| m.contains("appstack_spec_valid{stack=\"it-daemon\"} 0"))
    });
    // Five components, and the CMS's previous version kept (stopped) for `rollback`.
    let (serving, kept) = s.serving_and_kept();
    assert_eq!(serving.len(), 5, "{serving:?}");
    assert!(kept.iter().all(|c| c.2 != "running"), "{kept:?}");
    assert!(d.get("/healthz").unwrap().starts_with("HTTP/1.1 200"));

    // Secrets never reach the log, even at debug level.
    let secrets = s.secret_values();
    let log = d.stop();
    assert!(
        log.contains("spec.database.storage"),
        "invalid edit must be logged: {log}"
    );
    for v in &secrets {
        assert!(
            !log.contains(v.as_str()),
            "a secret leaked into the daemon log"
        );
    }
}
