//! Crash safety: `kill -9` of `appstack up` at many moments, then `up` converges with no
//! duplicate containers and no data lost.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn kill_9_at_random_moments_then_up_converges() {
    if !engine_available() {
        return;
    }
    let s = TestStack::new("it-crash", SMALL);
    s.run_ok(&["up"]);
    s.psql("CREATE TABLE marker (v text); INSERT INTO marker VALUES ('survives')");
    // Deterministic "random" moments spread over the whole apply (0 to ~3 s).
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..12 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(seed % 3000);
        // Alternate what the killed run was doing: a fresh start after down, or a recreate.
        if round % 2 == 0 {
            s.run_ok(&["down"]);
        } else {
            s.write(&small_with_cms_env(&format!("ROUND: \"{round}\"")));
        }
        let mut child = s
            .cmd(&["up"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        s.run_ok(&["up"]);
        // A replaced CMS is kept, stopped, as the version `rollback` returns to.
        let (cs, kept) = s.serving_and_kept();
        assert!(
            kept.iter().all(|c| c.2 != "running"),
            "round {round}: {kept:?}"
        );
        let names: Vec<&str> = cs.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "it-crash-cache",
                "it-crash-cms",
                "it-crash-database",
                "it-crash-frontend"
            ],
            "round {round} after {delay:?}: {cs:?}"
        );
        assert!(cs.iter().all(|c| c.2 == "running"), "round {round}: {cs:?}");
        assert_eq!(s.psql("SELECT v FROM marker"), "survives", "round {round}");
        let second = s.run_ok(&["up"]);
        assert!(
            String::from_utf8_lossy(&second.stderr).contains("0 changes"),
            "round {round}: not converged"
        );
    }
}
