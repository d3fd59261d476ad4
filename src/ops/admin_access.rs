//! `spec.cms.adminAllowlist`: the addresses Directus' administrators may work from, set on
//! every policy with admin access through Directus' own API (which checks the values and
//! clears its permission caches, in Redis and in every instance's memory), called from
//! inside the CMS container as the admin. The container's loopback is always on the list so
//! that this call keeps working whatever the list says.

use crate::api::validated::Cms;
use crate::protect::error::ProtectError;
use crate::protect::runner::{capture, Runner};

/// What `ensure` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The spec sets no allowlist: the policies are the user's.
    NotManaged,
    /// Every admin policy already had the list.
    InPlace,
    /// This many admin policies were updated.
    Updated(u32),
}

/// Always allowed: the CMS container itself, where `ensure` signs in.
pub const LOOPBACK: [&str; 2] = ["127.0.0.1", "::1"];

/// The list as Directus keeps it: the spec's entries plus loopback; empty lifts the
/// restriction.
pub fn wanted(list: &[String]) -> Vec<String> {
    if list.is_empty() {
        return Vec::new();
    }
    let mut all: Vec<String> = list.to_vec();
    for l in LOOPBACK {
        if !all.iter().any(|a| a == l) {
            all.push(l.to_string());
        }
    }
    all
}

/// Signs in as the bootstrap admin (ADMIN_EMAIL, ADMIN_PASSWORD_FILE in the container's
/// environment), lists the admin policies and patches those whose list differs. Arguments:
/// the CMS's port, the wanted list as comma-separated text. Prints how many it updated.
const SCRIPT: &str = r#"
const [port, text] = process.argv.slice(1);
const want = text ? text.split(',') : [];
const base = 'http://127.0.0.1:' + port;
const same = (a, b) => JSON.stringify([...(a || [])].sort()) === JSON.stringify([...b].sort());
(async () => {
  const password = require('fs').readFileSync(process.env.ADMIN_PASSWORD_FILE, 'utf8').trim();
  const login = await fetch(base + '/auth/login', {
    method: 'POST', headers: {'content-type': 'application/json'},
    body: JSON.stringify({email: process.env.ADMIN_EMAIL, password}),
  });
  if (!login.ok) throw new Error('the admin could not sign in: HTTP ' + login.status);
  const headers = {authorization: 'Bearer ' + (await login.json()).data.access_token,
    'content-type': 'application/json'};
  const filter = encodeURIComponent(JSON.stringify({admin_access: {_eq: true}}));
  const list = await fetch(base + '/policies?limit=-1&fields=id,ip_access&filter=' + filter, {headers});
  if (!list.ok) throw new Error('listing the admin policies: HTTP ' + list.status);
  let updated = 0;
  for (const p of (await list.json()).data) {
    if (same(p.ip_access, want)) continue;
    const r = await fetch(base + '/policies/' + p.id, {method: 'PATCH', headers,
      body: JSON.stringify({ip_access: want.length ? want : null})});
    if (!r.ok) throw new Error('updating policy ' + p.id + ': HTTP ' + r.status + ' ' + await r.text());
    updated++;
  }
  console.log(updated);
})().catch((e) => { console.error(e.message); process.exit(1); });
"#;

fn argv(cms: &Cms, list: &[String]) -> Vec<String> {
    vec![
        "node".into(),
        "-e".into(),
        SCRIPT.into(),
        cms.app.port.to_string(),
        wanted(list).join(","),
    ]
}

/// Brings every admin policy's address list in line with the spec.
pub async fn ensure<R: Runner>(runner: &R, cms: &Cms) -> Result<Outcome, ProtectError> {
    let Some(list) = &cms.admin_allowlist else {
        return Ok(Outcome::NotManaged);
    };
    let out = capture(runner, "cms", argv(cms, list)).await?;
    match out
        .lines()
        .last()
        .and_then(|l| l.trim().parse::<u32>().ok())
    {
        Some(0) => Ok(Outcome::InPlace),
        Some(n) => Ok(Outcome::Updated(n)),
        None => Err(ProtectError::Exec {
            tool: "node".into(),
            message: format!("unexpected answer from the CMS container: {out:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_joins_a_list_and_an_empty_list_stays_empty() {
        assert_eq!(
            wanted(&["10.0.0.0/8".into()]),
            vec!["10.0.0.0/8", "127.0.0.1", "::1"]
        );
        assert!(wanted(&[]).is_empty());
        assert_eq!(wanted(&["127.0.0.1".into()]), vec!["127.0.0.1", "::1"]);
    }
}
