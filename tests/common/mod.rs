//! Helpers of the Docker-backed tests. In CI (CI=true) a missing engine fails the test;
//! elsewhere the test says it is skipped.

#![allow(dead_code)]

pub mod directus;
pub mod moto;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The appstack image (the exported stack's WAL shipper) built from this test's binary.
pub fn ensure_appstack_image() {
    let out = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/build-appstack-image.sh"
        ))
        .arg(env!("CARGO_BIN_EXE_appstack"))
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "build-appstack-image.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn appstack() -> Command {
    Command::new(env!("CARGO_BIN_EXE_appstack"))
}

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI")
}

pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// True when an engine answers. Panics in CI when none does: Docker tests must not skip there.
pub fn engine_available() -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("CI=true but no Docker engine is reachable: run scripts/setup-engine.sh");
        }
        eprintln!("SKIPPED: no Docker engine reachable (set CI=true to make this a failure)");
    }
    ok
}

/// (name, id, state, status) of a container, as `TestStack::containers` lists it.
pub type Seen = (String, String, String, String);

/// A stack under test: its manifest, state dir, and cleanup of everything it created.
pub struct TestStack {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub manifest: PathBuf,
}

impl TestStack {
    pub fn new(name: &str, spec: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("stack.yaml");
        let s = Self {
            name: name.to_string(),
            dir,
            manifest,
        };
        s.cleanup();
        s.write(spec);
        s
    }

    pub fn write(&self, spec: &str) {
        let text = format!("apiVersion: appstack.io/v1alpha1\nkind: AppStack\nmetadata:\n  name: {}\nspec:\n{spec}", self.name);
        std::fs::write(&self.manifest, text).unwrap();
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = appstack();
        c.arg("--state-dir")
            .arg(self.state_dir())
            .args(args)
            .arg("-f")
            .arg(&self.manifest);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub fn run_ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "appstack {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        out
    }

    /// The containers serving the stack, and the previous versions blue/green replacements
    /// kept (stopped) for `rollback`.
    pub fn serving_and_kept(&self) -> (Vec<Seen>, Vec<Seen>) {
        let (kept, serving) = self
            .containers()
            .into_iter()
            .partition(|c| c.0.ends_with("-prev"));
        (serving, kept)
    }

    /// Writes the edge's own CA root (read from its volume) into the state dir: its path.
    pub fn edge_root_ca(&self) -> String {
        let ca = self.state_dir().join("edge-root.crt");
        let root = docker_ok(&[
            "exec",
            &format!("{}-edge", self.name),
            "cat",
            "/data/caddy/pki/authorities/local/root.crt",
        ]);
        std::fs::write(&ca, root + "\n").unwrap();
        ca.display().to_string()
    }

    /// (name, id, state, status) of every container of the stack.
    pub fn containers(&self) -> Vec<(String, String, String, String)> {
        let out = docker_ok(&[
            "ps",
            "-a",
            "--no-trunc",
            "--filter",
            &format!("label=appstack.io/stack={}", self.name),
            "--format",
            "{{.Names}}\t{{.ID}}\t{{.State}}\t{{.Status}}",
        ]);
        let mut v: Vec<_> = out
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let p: Vec<&str> = l.split('\t').collect();
                (
                    p[0].to_string(),
                    p[1].to_string(),
                    p[2].to_string(),
                    p.get(3).unwrap_or(&"").to_string(),
                )
            })
            .collect();
        v.sort();
        v
    }

    pub fn container_id(&self, component: &str) -> Option<String> {
        let name = format!("{}-{component}", self.name);
        self.containers()
            .into_iter()
            .find(|c| c.0 == name)
            .map(|c| c.1)
    }

    pub fn psql(&self, sql: &str) -> String {
        psql(&self.name, sql)
    }

    /// Every secret value the stack's store holds.
    pub fn secret_values(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_files(
            &self
                .state_dir()
                .join("stacks")
                .join(&self.name)
                .join("secrets"),
            &mut out,
        );
        out.into_iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| s.len() >= 16 && !s.contains(' '))
            .collect()
    }

    pub fn cleanup(&self) {
        let ids = docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=appstack.io/stack={}", self.name),
        ]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = docker(&["rm", "-f", id]);
        }
        let vols = docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=appstack.io/stack={}", self.name),
        ]);
        for v in String::from_utf8_lossy(&vols.stdout).split_whitespace() {
            let _ = docker(&["volume", "rm", "-f", v]);
        }
        // Both networks of the stack (app and data): a leaked one holds an address pool, and
        // the engine has only about thirty.
        let nets = docker(&[
            "network",
            "ls",
            "-q",
            "--filter",
            &format!("label=appstack.io/stack={}", self.name),
        ]);
        for n in String::from_utf8_lossy(&nets.stdout).split_whitespace() {
            let _ = docker(&["network", "rm", n]);
        }
        let _ = docker(&["network", "rm", &format!("appstack-{}", self.name)]);
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        self.cleanup();
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Runs `sql` in the application database of stack `stack` (any stack, e.g. a restored copy).
pub fn psql(stack: &str, sql: &str) -> String {
    let db = format!("{stack}-database");
    docker_ok(&["exec", &db, "psql", "-U", "app", "-d", "app", "-tAc", sql])
}

/// `appstack run` on a test stack, killed (and its log shown on failure) when dropped.
pub struct Daemon {
    child: std::process::Child,
    pub port: u16,
    log: PathBuf,
}

impl Daemon {
    /// Starts `appstack <args> run --listen ...` and waits for /readyz.
    pub fn start(s: &TestStack, args: &[&str]) -> Self {
        let port = free_port();
        // A file, not a pipe: an unread pipe would block the daemon once full.
        let log = s.dir.path().join("daemon.log");
        let listen = format!("127.0.0.1:{port}");
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--listen", &listen]);
        let child = s
            .cmd(&all)
            .stdout(std::process::Stdio::null())
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

    pub fn get(&self, path: &str) -> Option<String> {
        use std::io::{Read, Write};
        let mut sock = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        sock.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .ok()?;
        let mut out = String::new();
        sock.read_to_string(&mut out).ok()?;
        Some(out)
    }

    /// Stops the daemon and returns its whole log.
    pub fn stop(mut self) -> String {
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

/// Waits for `cond`, failing with `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

/// The users' CMS: Directus, built locally by `scripts/build-images.sh`.
pub const CMS_IMAGE: &str = "appstack/directus:11.16.1";

/// The users' frontend: the Next.js app, built locally by `scripts/build-images.sh`.
pub const WEB_IMAGE: &str = "appstack/web:next-15";

/// The `cms:` line of [`SMALL`], for tests that change the CMS's settings.
pub const CMS_LINE: &str = "cms: {image: appstack/directus:11.16.1}";

/// A small stack of the users' real images: database, cache, Directus, the Next.js app.
pub const SMALL: &str = "  database: {image: appstack/postgis:15, storage: 1Gi}\n  cache: {image: appstack/redis:7}\n  cms: {image: appstack/directus:11.16.1}\n  frontend: {image: appstack/web:next-15}\n";

/// `SMALL` with `env` (a YAML flow map's body, e.g. `A: "1"`) set on the CMS.
pub fn small_with_cms_env(env: &str) -> String {
    SMALL.replace(
        CMS_LINE,
        &format!("cms: {{image: {CMS_IMAGE}, env: {{{env}}}}}"),
    )
}

/// A small stack backing up into a fresh directory, shipping WAL every second; the
/// directory goes when the returned handle drops.
pub fn wal_stack(name: &str) -> (tempfile::TempDir, TestStack) {
    let store = tempfile::tempdir().unwrap();
    let spec = format!(
        "{SMALL}  backup:\n    target: file://{}\n    wal: {{shipInterval: 1s}}\n",
        store.path().display()
    );
    let s = TestStack::new(name, &spec);
    (store, s)
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What the `run` daemon's WAL shipper last reported for `stack` (Null until it wrote).
pub fn wal_status(s: &TestStack, stack: &str) -> serde_json::Value {
    let path = s
        .state_dir()
        .join("stacks")
        .join(stack)
        .join("wal-status.json");
    std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// The shipper has had the store in sync with everything written before `t`.
pub fn wal_synced_after(s: &TestStack, stack: &str, t: chrono::DateTime<chrono::Utc>) -> bool {
    wal_status(s, stack)["syncedAt"]
        .as_str()
        .and_then(|v| chrono::DateTime::parse_from_rfc3339(v).ok())
        .is_some_and(|v| v > t)
}

/// Runs `sql` with psql in the stack's database container in the background (e.g. a
/// writer loop in a DO block that commits as it goes).
pub fn spawn_psql(stack: &str, sql: &str) -> std::process::Child {
    let db = format!("{stack}-database");
    Command::new("docker")
        .args([
            "exec",
            &db,
            "psql",
            "-U",
            "app",
            "-d",
            "app",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Runs `restore --into <into> <args>` from `s`, which must fail at runtime (exit 1) and
/// create nothing; its stderr.
pub fn restore_refused(s: &TestStack, into: &str, args: &[&str]) -> String {
    let copy = TestStack::new(into, SMALL);
    let mut argv = vec!["restore", "--into", into];
    argv.extend_from_slice(args);
    let out = s.run(&argv);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(copy.containers().is_empty(), "{err}");
    err
}

/// Writes `bytes` as `name` into the uploads directory of `stack`'s CMS (as its user).
pub fn put_upload(stack: &str, name: &str, bytes: &[u8]) {
    use std::io::Write;
    let path = format!("/directus/uploads/{name}");
    let mut child = Command::new("docker")
        .args(["exec", "-i", &format!("{stack}-cms"), "tee", &path])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    assert!(child.wait().unwrap().success());
}

/// The sha256 of upload `name` in `stack`'s CMS, or None when it is not there.
pub fn upload_sha256(stack: &str, name: &str) -> Option<String> {
    use sha2::Digest;
    let out = docker(&[
        "exec",
        &format!("{stack}-cms"),
        "cat",
        &format!("/directus/uploads/{name}"),
    ]);
    out.status
        .success()
        .then(|| hex::encode(sha2::Sha256::digest(&out.stdout)))
}

/// Writes a new backup key to `path` with `appstack backup keygen`.
pub fn keygen(path: &Path) {
    let out = appstack()
        .args(["backup", "keygen", "-o"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `examples/edge.yaml`'s spec with the edge on the given host ports.
pub fn edge_spec(http: &str, https: &str) -> String {
    let text = std::fs::read_to_string("examples/edge.yaml").unwrap();
    text.split_once("spec:\n")
        .unwrap()
        .1
        .replace("httpPort: 8080", &format!("httpPort: {http}"))
        .replace("httpsPort: 8443", &format!("httpsPort: {https}"))
}

/// Pushes `n` jobs onto a Redis list of the stack's cache, signed in with its password
/// (read inside the container; the jobs pass as arguments, never pasted into the script).
pub fn push_jobs(stack: &str, key: &str, n: usize) {
    let mut argv = vec![
        "exec".to_string(),
        format!("{stack}-cache"),
        "sh".into(),
        "-c".into(),
        r#"REDISCLI_AUTH="$(cat /run/secrets/cache-password)" exec redis-cli -h 127.0.0.1 "$@""#
            .into(),
        "redis-cli".into(),
        "RPUSH".into(),
        key.into(),
    ];
    argv.extend((0..n).map(|i| format!("job{i}")));
    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
    docker_ok(&refs);
}

/// `examples/quickstart.yaml`'s spec without its published ports (tests share this host).
pub fn quickstart_unpublished() -> String {
    let text = std::fs::read_to_string("examples/quickstart.yaml").unwrap();
    let spec = text.split_once("spec:\n").unwrap().1;
    let (head, tail) = spec.split_once("  ingress:\n").unwrap();
    format!(
        "{head}  backup:\n{}",
        tail.split_once("  backup:\n").unwrap().1
    )
}
