//! Scheduled backups in `appstack run`: a per-minute base backup lands in the store and its
//! last success shows in /metrics.

mod common;

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::Duration;

use common::*;

fn get(port: u16, path: &str) -> String {
    let Ok(mut sock) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = sock.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    let mut out = String::new();
    let _ = sock.read_to_string(&mut out);
    out
}

#[test]
fn run_takes_scheduled_base_backups() {
    if !engine_available() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let spec = format!(
        "{SMALL}  backup:\n    target: file://{}\n    baseBackup: {{schedule: \"* * * * *\"}}\n    dump: {{enabled: false, schedule: \"0 3 * * *\"}}\n    files: {{enabled: false, schedule: \"0 3 * * *\"}}\n",
        store.path().display()
    );
    let s = TestStack::new("it-sched", &spec);
    let port = free_port();
    let log = s.dir.path().join("daemon.log");
    let mut child = s
        .cmd(&[
            "--log-level",
            "info",
            "run",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let result = std::panic::catch_unwind(|| {
        // The next minute boundary plus the backup itself.
        wait_for("a scheduled base backup", Duration::from_secs(150), || {
            let list = s.run(&["backup", "list", "-o", "json"]);
            serde_json::from_slice::<serde_json::Value>(&list.stdout).is_ok_and(|v| {
                v.as_array()
                    .is_some_and(|a| a.iter().any(|m| m["kind"] == "base"))
            })
        });
        wait_for("last success in /metrics", Duration::from_secs(10), || {
            get(port, "/metrics").contains(
                "appstack_backup_last_success_timestamp_seconds{stack=\"it-sched\",kind=\"base\"}",
            )
        });
        let metrics = get(port, "/metrics");
        assert!(
            metrics.contains("appstack_backup_missing{stack=\"it-sched\",kind=\"base\"} 0"),
            "{metrics}"
        );
        assert!(
            !metrics.contains("kind=\"dump\""),
            "disabled schedules must not run: {metrics}"
        );
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        eprintln!(
            "--- daemon log ---\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::panic::resume_unwind(e);
    }
}
