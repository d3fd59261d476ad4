//! The real CMS: Directus (the local `appstack/directus` image, built from the npm registry)
//! boots against the stack's PostgreSQL and Redis, takes the generated admin password, keeps
//! a collection, an item and an uploaded file, and still has them after its container is
//! recreated by a spec change.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const DIRECTUS: &str = "appstack/directus:11.16.1";

fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-m", "20", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

struct Cms {
    base: String,
    token: String,
}

impl Cms {
    fn login(port: u16, password: &str) -> Self {
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

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
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

    fn upload(&self, file: &std::path::Path) -> String {
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

    fn asset(&self, id: &str) -> Vec<u8> {
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

fn spec(port: u16, extra_env: &str) -> String {
    format!(
        "  database: {{image: appstack/postgis:15, storage: 1Gi}}\n  cache: {{image: appstack/redis:7}}\n  cms:\n    image: {DIRECTUS}\n    env: {{PUBLIC_URL: 'http://127.0.0.1:{port}'{extra_env}}}\n  ingress:\n    publishedPorts: [{{component: cms, hostPort: {port}}}]\n"
    )
}

#[test]
fn directus_keeps_its_content_and_uploads_across_a_recreate() {
    if !engine_available() {
        return;
    }
    let port = free_port();
    let s = TestStack::new("it-directus", &spec(port, ""));
    s.run_ok(&["up"]);
    let password = std::fs::read_to_string(
        s.state_dir()
            .join("stacks/it-directus/secrets/cms/admin-password"),
    )
    .unwrap();
    let (code, health) = curl(&[&format!("http://127.0.0.1:{port}/server/health")]);
    assert_eq!(code, 200, "{health}");
    assert!(health.contains("\"status\":\"ok\""), "{health}");

    let cms = Cms::login(port, password.trim());
    cms.call(
        "POST",
        "/collections",
        Some(json!({
            "collection": "articles",
            "schema": {},
            "fields": [
                {"field": "id", "type": "integer", "meta": {"hidden": true},
                 "schema": {"is_primary_key": true, "has_auto_increment": true}},
                {"field": "title", "type": "string"}
            ]
        })),
    );
    let item = cms.call(
        "POST",
        "/items/articles",
        Some(json!({"title": "kept across a recreate"})),
    );
    let item_id = item["data"]["id"].clone();
    let upload = s.dir.path().join("upload.bin");
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&upload, &bytes).unwrap();
    let file_id = cms.upload(&upload);
    assert_eq!(cms.asset(&file_id), bytes);

    // A spec change recreates the CMS container; the database and the uploads volume stay.
    let before = s.container_id("cms");
    s.write(&spec(port, ", LOG_LEVEL: info"));
    s.run_ok(&["up"]);
    assert_ne!(s.container_id("cms"), before, "the CMS was not recreated");
    let cms = Cms::login(port, password.trim());
    let read = cms.call("GET", &format!("/items/articles/{item_id}"), None);
    assert_eq!(read["data"]["title"], "kept across a recreate");
    assert_eq!(cms.asset(&file_id), bytes);
    wait_for("the CMS healthy", Duration::from_secs(30), || {
        curl(&[&format!("http://127.0.0.1:{port}/server/health")]).0 == 200
    });
}
