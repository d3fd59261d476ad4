//! The CMS's own database role: it owns the application database and its objects but is
//! no superuser (no `COPY … TO PROGRAM`, no replication, no bypassing row security), so a
//! compromised CMS holds no key to the server. The superuser stays appstack's, reached only
//! over the database container's local socket (backups, restores).
//!
//! One psql script makes the role, sets its password from the secret file and moves the
//! superuser's objects in the application's schemas to it (how stacks made before the role
//! existed migrate). It is mounted into the database container: appstack's database image
//! runs it at every start before the server listens, and appstack runs it over exec after
//! a restore and after each apply, so any image gets the role. Idempotent.

/// The role the CMS signs in as.
pub const CMS_ROLE: &str = "appstack_cms";
/// Where the database container sees the script.
pub const SCRIPT_PATH: &str = "/etc/appstack/app-role.sql";
/// Where the database container sees the role's password.
pub const PASSWORD_PATH: &str = "/run/secrets/database-cms-password";

/// The environment the database image's entrypoint reads to run the script at start.
pub fn database_env() -> [(&'static str, String); 3] {
    [
        ("APPSTACK_APP_ROLE", CMS_ROLE.into()),
        ("APPSTACK_APP_ROLE_SCRIPT", SCRIPT_PATH.into()),
        ("APPSTACK_APP_ROLE_PASSWORD_FILE", PASSWORD_PATH.into()),
    ]
}

/// The script, run by psql as the superuser in the application database. The role name
/// and the password come from the environment and the secret file inside psql, so neither
/// is ever part of a command line.
pub fn script() -> String {
    format!(
        r#"-- Rendered by appstack: the CMS's role, owner of the application database.
\set ON_ERROR_STOP on
\set QUIET on
\getenv role APPSTACK_APP_ROLE
\if :{{?role}}
\else
\set role {CMS_ROLE}
\endif
\set pw `cat {PASSWORD_PATH}`
-- The password must never be written to the server's log, even in an error report.
SET log_min_error_statement = panic;
SET log_statement = none;
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS
  PASSWORD :'pw';
\unset pw
SELECT format('ALTER DATABASE %I OWNER TO %I', current_database(), :'role') \gexec
-- Schemas, tables, views and sequences of the superuser move to the role; extension
-- members (PostGIS's) stay, and owned sequences follow their table.
SELECT format('ALTER SCHEMA %I OWNER TO %I', n.nspname, :'role')
  FROM pg_namespace n
 WHERE n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
   AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                    AND d.objid = n.oid AND d.deptype = 'e') \gexec
SELECT format('ALTER %s %s OWNER TO %I',
              CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                             WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
                             ELSE 'TABLE' END,
              c.oid::regclass, :'role')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
   AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
   AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                    AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i')) \gexec
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
        // Read from the file inside psql, never a literal or an argument.
        assert!(s.contains(&format!("\\set pw `cat {PASSWORD_PATH}`")));
        assert!(s.contains("log_min_error_statement = panic"));
        assert!(!s.contains("GRANT"));
    }
}
