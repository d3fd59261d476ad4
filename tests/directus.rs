//! The real CMS: Directus (the local `appstack/directus` image, built from the npm registry)
//! boots against the stack's PostgreSQL and Redis, takes the generated admin password, keeps
//! a collection, an item and an uploaded file, and still has them after its container is
//! recreated by a spec change.

mod common;

use std::time::Duration;

use common::directus::{admin_password, curl, Cms};
use common::*;
use serde_json::json;

const DIRECTUS: &str = "appstack/directus:11.16.1";

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
    let password = admin_password(&s.state_dir(), "it-directus");
    let (code, health) = curl(&[&format!("http://127.0.0.1:{port}/server/health")]);
    assert_eq!(code, 200, "{health}");
    assert!(health.contains("\"status\":\"ok\""), "{health}");

    let cms = Cms::login(port, &password);
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
    let cms = Cms::login(port, &password);
    let read = cms.call("GET", &format!("/items/articles/{item_id}"), None);
    assert_eq!(read["data"]["title"], "kept across a recreate");
    assert_eq!(cms.asset(&file_id), bytes);
    wait_for("the CMS healthy", Duration::from_secs(30), || {
        curl(&[&format!("http://127.0.0.1:{port}/server/health")]).0 == 200
    });
}
