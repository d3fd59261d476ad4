//! Talking to Directus in tests: its REST API through curl, as its admin.

use std::process::Command;

use serde_json::{json, Value};

/// The generated admin password of stack `stack` under `state_dir`.
pub fn admin_password(state_dir: &std::path::Path, stack: &str) -> String {
    std::fs::read_to_string(state_dir.join(format!("stacks/{stack}/secrets/cms/admin-password")))
        .unwrap()
        .trim()
        .to_string()
}

pub fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-m", "20", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

pub struct Cms {
    pub base: String,
    pub token: String,
}

impl Cms {
    pub fn login(port: u16, password: &str) -> Self {
        let base = format!("http://127.0.0.1:{port}");
        let body = json!({"email": "admin@example.com", "password": password}).to_string();
        let (code, text) = curl(&[
            "-X",
            "POST",
            &format!("{base}/auth/login"),
            "-H",
            "content-type: application/json",
            "-d",
            &body,
        ]);
        assert_eq!(code, 200, "login: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        let token = v["data"]["access_token"].as_str().unwrap().to_string();
        Self { base, token }
    }

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let auth = format!("authorization: Bearer {}", self.token);
        let url = format!("{}{path}", self.base);
        let text_body = body.map(|b| b.to_string());
        let mut args = vec!["-X", method, url.as_str(), "-H", auth.as_str()];
        if let Some(b) = &text_body {
            args.extend(["-H", "content-type: application/json", "-d", b.as_str()]);
        }
        let (code, text) = curl(&args);
        assert!((200..300).contains(&code), "{method} {path}: {code} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub fn upload(&self, file: &std::path::Path) -> String {
        let auth = format!("authorization: Bearer {}", self.token);
        let form = format!("file=@{}", file.display());
        let (code, text) = curl(&[
            "-X",
            "POST",
            &format!("{}/files", self.base),
            "-H",
            &auth,
            "-F",
            &form,
        ]);
        assert_eq!(code, 200, "upload: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        v["data"]["id"].as_str().unwrap().to_string()
    }

    pub fn asset(&self, id: &str) -> Vec<u8> {
        let out = Command::new("curl")
            .args(["-sS", "-f", "-m", "20", "-H"])
            .arg(format!("authorization: Bearer {}", self.token))
            .arg(format!("{}/assets/{id}", self.base))
            .output()
            .expect("curl");
        assert!(out.status.success(), "asset {id}");
        out.stdout
    }
}

/// Directus' detailed health, asked inside the CMS container `container` as its admin (the
/// container's own `ADMIN_EMAIL` and password file), for containers that publish no port.
pub fn health_inside(container: &str) -> Value {
    const SCRIPT: &str = r#"
const fs = require("fs");
const base = "http://127.0.0.1:8055";
(async () => {
  const password = fs.readFileSync(process.env.ADMIN_PASSWORD_FILE, "utf8").trim();
  const login = await fetch(base + "/auth/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: process.env.ADMIN_EMAIL, password }),
  });
  if (!login.ok) throw new Error("login: " + login.status + " " + (await login.text()));
  const token = (await login.json()).data.access_token;
  const health = await fetch(base + "/server/health", { headers: { authorization: "Bearer " + token } });
  process.stdout.write(await health.text());
})().catch((e) => { console.error(String(e)); process.exit(1); });
"#;
    let out = Command::new("docker")
        .args(["exec", container, "node", "-e", SCRIPT])
        .output()
        .expect("docker");
    assert!(
        out.status.success(),
        "health of {container}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Whether Directus' detailed health `h` reports its database and its Redis cache as ok.
pub fn database_and_cache_ok(h: &Value) -> bool {
    let checks = &h["checks"];
    let ok = |prefix: &str| {
        checks.as_object().is_some_and(|m| {
            m.iter().any(|(k, v)| {
                k.starts_with(prefix)
                    && v.as_array()
                        .is_some_and(|a| a.iter().all(|c| c["status"] == "ok"))
            })
        })
    };
    h["status"] == "ok" && ok("pg:") && ok("cache:")
}
