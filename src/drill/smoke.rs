//! The checks a user makes after a disaster, run in a restored stack: the CMS signs its
//! admin in and reads the database through its API, the frontend renders its page, the
//! uploads are the files backup's (by sha256). Each runs inside the component's own
//! container, so the restored stack needs no published port: the CMS check reads the
//! admin's email and password file from the container's own environment, and no
//! credential is ever on a command line.

use crate::plan::Plan;
use crate::protect::manifest::Manifest;
use crate::protect::restore::uploads;
use crate::protect::runner::{capture, Runner};

/// Directus: sign in as the admin, read who that is, list the collections and read one
/// item of the first of the project's own collections. Prints a one-line JSON summary.
const CMS_SCRIPT: &str = r#"
const fs = require("fs");
const base = "http://127.0.0.1:" + (process.env.PORT || "8055");
async function call(path, init) {
  const r = await fetch(base + path, init);
  const text = await r.text();
  if (!r.ok) throw new Error(path + " answered " + r.status + ": " + text.slice(0, 200));
  return JSON.parse(text);
}
(async () => {
  const password = fs.readFileSync(process.env.ADMIN_PASSWORD_FILE, "utf8").trim();
  const login = await call("/auth/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: process.env.ADMIN_EMAIL, password }),
  });
  const auth = { headers: { authorization: "Bearer " + login.data.access_token } };
  const me = await call("/users/me?fields=email", auth);
  const collections = (await call("/collections", auth)).data
    .map((c) => c.collection)
    .filter((c) => !c.startsWith("directus_"));
  let items = null;
  if (collections.length > 0) {
    const read = await call("/items/" + encodeURIComponent(collections[0]) + "?limit=1&meta=total_count", auth);
    items = read.meta ? read.meta.total_count : read.data.length;
  }
  console.log(JSON.stringify({ user: me.data.email, collections: collections.length, first: collections[0] || null, items }));
})().catch((e) => { console.error(String(e.message || e)); process.exit(1); });
"#;

/// Signs the CMS's admin in and reads through its API; None when the CMS is not one
/// whose admin appstack provisions (no `ADMIN_PASSWORD_FILE`).
pub async fn cms<R: Runner>(runner: &R, plan: &Plan) -> Option<Result<String, String>> {
    let cms = plan.component("cms")?;
    cms.env.get("ADMIN_PASSWORD_FILE")?;
    let argv = vec!["node".into(), "-e".into(), CMS_SCRIPT.into()];
    Some(match capture(runner, "cms", argv).await {
        Err(e) => Err(format!("the CMS did not sign its admin in and read: {e}")),
        Ok(out) => {
            let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_default();
            let read = match (&v["first"], &v["items"]) {
                (serde_json::Value::String(c), n) => format!(", read collection {c} ({n} item(s))"),
                _ => ", no collection of its own to read".to_string(),
            };
            Ok(format!(
                "the CMS signed in its admin {} and read through its API: {} collection(s){read}",
                v["user"].as_str().unwrap_or("?"),
                v["collections"]
            ))
        }
    })
}

/// Asks the frontend's own server for its page (`/`) from inside its container: with
/// Node (a Next.js image), else curl, else wget.
pub async fn frontend<R: Runner>(runner: &R, plan: &Plan) -> Option<Result<String, String>> {
    let c = plan.component("frontend")?;
    let port = c.ports.first()?.container_port;
    let url = format!("http://127.0.0.1:{port}/");
    let node = format!(
        "fetch({url:?}).then(async (r) => {{ const t = await r.text(); if (!r.ok) {{ console.error('status ' + r.status); process.exit(1); }} console.log(t.length); }}).catch((e) => {{ console.error(String(e)); process.exit(1); }})"
    );
    let tries: [Vec<String>; 3] = [
        vec!["node".into(), "-e".into(), node],
        vec![
            "curl".into(),
            "-fsS".into(),
            "-o".into(),
            "/dev/null".into(),
            "-w".into(),
            "%{size_download}".into(),
            url.clone(),
        ],
        vec![
            "wget".into(),
            "-q".into(),
            "-O".into(),
            "/dev/null".into(),
            url.clone(),
        ],
    ];
    let mut last = String::new();
    for argv in tries {
        let tool = argv[0].clone();
        match capture(runner, "frontend", argv).await {
            Ok(out) => {
                let size = out.trim().parse::<u64>().map(|n| format!(" ({n} bytes)"));
                return Some(Ok(format!(
                    "the frontend rendered its page {url}{}",
                    size.unwrap_or_default()
                )));
            }
            Err(e) => {
                let text = e.to_string();
                // A missing tool: try the next; anything else is the page's answer.
                if !(text.contains("executable file not found") || text.contains("not found")) {
                    return Some(Err(format!(
                        "the frontend's page {url} failed ({tool}): {text}"
                    )));
                }
                last = text;
            }
        }
    }
    Some(Err(format!(
        "the frontend's page {url} could not be asked: no node, curl or wget in its image ({last})"
    )))
}

/// The uploads in the CMS's volume are exactly the files backup's (by sha256).
pub async fn uploads_match<R: Runner>(
    runner: &R,
    path: &str,
    files: &Manifest,
) -> Result<String, String> {
    let found = uploads::digests(runner, path)
        .await
        .map_err(|e| e.to_string())?;
    uploads::compare(&files.files, &found).map(|n| {
        format!(
            "{n} uploaded file(s) match files backup {} by sha256",
            files.id
        )
    })
}
