//! The database roles of the application's clients, none of them a superuser: the CMS's
//! (`appstack_cms`) owns the application database and its objects but cannot `COPY … TO
//! PROGRAM`, replicate or bypass row security; the WAL receiver's (`appstack_replication`)
//! may only stream WAL. The superuser stays appstack's, reached only over the database
//! container's local socket (backups, restores); the exporter has its own role
//! (`monitor_role_sql`).
//!
//! One psql script makes the roles, sets their passwords from the secret files and moves the
//! superuser's objects in the application's schemas to the CMS's role (how stacks made
//! before the role existed migrate). It is mounted into the database container:
//! appstack's database image runs it at every start before the server listens, and
//! appstack runs it over exec after a restore and after each apply. Idempotent.

/// The role the CMS signs in as.
pub const CMS_ROLE: &str = "appstack_cms";
/// Where the database container sees the script.
pub const SCRIPT_PATH: &str = "/etc/appstack/app-role.sql";
/// Where the database container sees the CMS role's password.
pub const PASSWORD_PATH: &str = "/run/secrets/database-cms-password";
/// The role the WAL receiver streams as.
pub const REPLICATION_ROLE: &str = "appstack_replication";
/// Where the database container sees the replication role's password.
pub const REPLICATION_PASSWORD_PATH: &str = "/run/secrets/database-replication-password";

/// The environment that tells the script (and the database image's entrypoint, which runs
/// it at start) which roles the stack has.
pub fn database_env(cms: bool, replication: bool) -> Vec<(String, String)> {
    let mut env = vec![(
        "APPSTACK_APP_ROLE_SCRIPT".to_string(),
        SCRIPT_PATH.to_string(),
    )];
    if cms {
        env.push(("APPSTACK_APP_ROLE".into(), CMS_ROLE.into()));
    }
    if replication {
        env.push(("APPSTACK_REPLICATION_ROLE".into(), REPLICATION_ROLE.into()));
    }
    env
}

/// The script, run by psql as the superuser in the application database. Role names and
/// passwords come from the environment and the secret files inside psql, so neither is
/// ever part of a command line.
pub fn script() -> String {
    format!(
        r#"-- Rendered by appstack: the roles of the application's clients.
\set ON_ERROR_STOP on
\set QUIET on
-- A password must never be written to the server's log, even in an error report.
SET log_min_error_statement = panic;
SET log_statement = none;
\getenv cms APPSTACK_APP_ROLE
\if :{{?cms}}
\set pw `cat {PASSWORD_PATH}`
SELECT format('CREATE ROLE %I LOGIN', :'cms')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'cms') \gexec
ALTER ROLE :"cms" WITH LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS
  PASSWORD :'pw';
SELECT format('ALTER DATABASE %I OWNER TO %I', current_database(), :'cms') \gexec
-- Schemas, tables, views and sequences of the superuser move to the role; extension
-- members (PostGIS's) stay, and owned sequences follow their table.
SELECT format('ALTER SCHEMA %I OWNER TO %I', n.nspname, :'cms')
  FROM pg_namespace n
 WHERE n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
   AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                    AND d.objid = n.oid AND d.deptype = 'e') \gexec
SELECT format('ALTER %s %s OWNER TO %I',
              CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                             WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
                             ELSE 'TABLE' END,
              c.oid::regclass, :'cms')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
   AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
   AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                    AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i')) \gexec
\endif
\getenv repl APPSTACK_REPLICATION_ROLE
\if :{{?repl}}
\set pw `cat {REPLICATION_PASSWORD_PATH}`
SELECT format('CREATE ROLE %I LOGIN REPLICATION', :'repl')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'repl') \gexec
ALTER ROLE :"repl" WITH LOGIN REPLICATION NOSUPERUSER NOCREATEROLE NOCREATEDB NOBYPASSRLS
  PASSWORD :'pw';
\endif
\unset pw
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_is_no_superuser_and_the_password_stays_in_psql() {
        let s = script();
        assert!(s.contains("NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS"));
        assert!(s.contains("LOGIN REPLICATION NOSUPERUSER"));
        assert!(s.contains(&format!("\\set pw `cat {REPLICATION_PASSWORD_PATH}`")));
        // Read from the file inside psql, never a literal or an argument.
        assert!(s.contains(&format!("\\set pw `cat {PASSWORD_PATH}`")));
        assert!(s.contains("log_min_error_statement = panic"));
        assert!(!s.contains("GRANT"));
    }
}
