//! The exported stack has no appstack to create the PostgreSQL exporter's role after `up`:
//! a one-shot `monitor-role` service does, once the database is healthy, at every
//! `docker-compose up`. Its SQL is a mounted file and the password never leaves the secret
//! file: psql reads it into a variable (`\set … `cat …``), and the session turns statement
//! logging off before the `ALTER ROLE` that carries it.

use serde_json::{json, Map, Value};

use super::{secret_path, ExportFile};
use crate::plan::Plan;

pub const SERVICE: &str = "monitor-role";
const SQL_PATH: &str = "/etc/appstack/monitor-role.sql";
const PASSWORD_PATH: &str = "/run/secrets/monitor-password";
const DB_PASSWORD_PATH: &str = "/run/secrets/database-password";

fn sql() -> String {
    let mut lines = vec![
        "\\set ON_ERROR_STOP on".to_string(),
        // A failing statement is logged with its text unless this is off too.
        "SET log_statement = 'none';".to_string(),
        "SET log_min_error_statement = 'panic';".to_string(),
        format!("\\set pw `cat {PASSWORD_PATH}`"),
    ];
    lines.extend(
        crate::plan::monitor_role_sql(":'pw'")
            .into_iter()
            .map(|s| format!("{s};")),
    );
    lines.join("\n") + "\n"
}

/// The service, when the plan runs the PostgreSQL exporter.
pub fn service(plan: &Plan, files: &mut Vec<ExportFile>) -> Option<Map<String, Value>> {
    plan.component("postgres-exporter")?;
    let db = plan.component("database")?;
    let rel = format!("files/{SERVICE}/monitor-role.sql");
    files.push(ExportFile {
        path: rel.clone(),
        content: sql(),
        secret: false,
    });
    // Constant text: the secrets are read at run time, nothing is pasted in.
    let script = "set -eu\numask 077\nprintf '*:*:*:*:%s\\n' \"$(cat /run/secrets/database-password)\" > /tmp/pgpass\nexport PGPASSFILE=/tmp/pgpass\nexec psql -X -q -f /etc/appstack/monitor-role.sql\n";
    let env = |k: &str| db.env.get(k).cloned().unwrap_or_default();
    let mut s = Map::new();
    s.insert("image".into(), json!(db.image));
    s.insert("container_name".into(), json!(plan.object_name(SERVICE)));
    s.insert("command".into(), json!(["bash", "-c", super::esc(script)]));
    s.insert(
        "environment".into(),
        json!({
            "PGHOST": plan.object_name("database"),
            "PGUSER": env("POSTGRES_USER"),
            "PGDATABASE": env("POSTGRES_DB"),
        }),
    );
    s.insert(
        "volumes".into(),
        json!([
            format!("./{rel}:{SQL_PATH}:ro"),
            format!(
                "./{}:{PASSWORD_PATH}:ro",
                secret_path("database", "monitor-password")
            ),
            format!(
                "./{}:{DB_PASSWORD_PATH}:ro",
                secret_path("database", "password")
            ),
        ]),
    );
    s.insert(
        "depends_on".into(),
        json!({"database": {"condition": "service_healthy"}}),
    );
    // No `restart`: compose's default ("no") runs it once per `up`.
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_read_by_psql_and_statement_logging_is_off_first() {
        let text = sql();
        let off = text.find("log_statement = 'none'").unwrap();
        let alter = text.find("ALTER ROLE").unwrap();
        assert!(off < alter);
        assert!(text.contains("PASSWORD :'pw'"));
        assert!(text.contains("\\set pw `cat /run/secrets/monitor-password`"));
    }
}
