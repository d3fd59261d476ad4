//! `appstack run`: drift repair, unhealthy restarts, spec edits, metrics, no secrets in logs.

mod common;

use std::io::Read;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::*;

struct Daemon {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Daemon {
    fn start(s: &TestStack) -> Self {
        let port = free_port();
        // A file, not a pipe: an unread pipe would block the daemon once full.
        let log = s.dir.path().join("daemon.log");
        let child = s
            .cmd(&[
                "--log-level",
                "debug",
                "run",
                "--resync",
                "5s",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let d = Self { child, port, log };
        wait_for("/readyz", Duration::from_secs(120), || {
            d.get("/readyz")
                .is_some_and(|b| b.starts_with("HTTP/1.1 200"))
        });
        d
    }

    fn get(&self, path: &str) -> Option<String> {
        use std::io::Write;
        let mut sock = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        sock.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .ok()?;
        let mut out = String::new();
        sock.read_to_string(&mut out).ok()?;
        Some(out)
    }

    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    // A failed assertion must not leave a daemon reconciling behind the next test's back.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log
                .lines()
                .filter(|l| !l.contains("exec"))
                .rev()
                .take(40)
                .collect();
            eprintln!(
                "--- daemon log (last lines) ---\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

const WITH_PROBE: &str = "  services:\n    - name: probe\n      image: appstack/web:1\n      healthCommand: [\"/bin/sh\", \"-c\", \"test ! -e /dev/shm/sick\"]\n";

#[test]
fn daemon_repairs_drift_restarts_unhealthy_and_follows_edits() {
    if !engine_available() {
        return;
    }
    let s = TestStack::new("it-daemon", &format!("{SMALL}{WITH_PROBE}"));
    let d = Daemon::start(&s);
    assert_eq!(s.containers().len(), 5);

    // 1. A container removed by hand is back within 5 s.
    docker_ok(&["rm", "-f", "it-daemon-frontend"]);
    let took = wait_for("frontend recreated", Duration::from_secs(5), || {
        s.containers()
            .iter()
            .any(|c| c.0 == "it-daemon-frontend" && c.2 == "running")
    });
    eprintln!("removed container back after {took:?}");

    // 2. An unhealthy container is restarted (Docker itself never does).
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
        SMALL.replace(
            "cms: {image: appstack/cms:1}",
            "cms: {image: appstack/cms:1, env: {NEW_VAR: \"1\"}}"
        )
    ));
    wait_for("cms recreated", Duration::from_secs(60), || {
        s.containers().iter().any(|c| {
            c.0 == "it-daemon-cms" && c.2 == "running" && before.iter().all(|b| b.1 != c.1)
        })
    });
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
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(s.containers().len(), 5);
    let metrics = d.get("/metrics").unwrap();
    assert!(
        metrics.contains("appstack_spec_valid{stack=\"it-daemon\"} 0"),
        "{metrics}"
    );
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
