-- Rendered by appstack: the roles of the application's clients.
\set ON_ERROR_STOP on
\set QUIET on
-- A password must never be written to the server's log, even in an error report.
SET log_min_error_statement = panic;
SET log_statement = none;
\getenv cms APPSTACK_APP_ROLE
\if :{?cms}
\set pw `cat /run/secrets/database-cms-password`
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
\if :{?repl}
\set pw `cat /run/secrets/database-replication-password`
SELECT format('CREATE ROLE %I LOGIN REPLICATION', :'repl')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'repl') \gexec
ALTER ROLE :"repl" WITH LOGIN REPLICATION NOSUPERUSER NOCREATEROLE NOCREATEDB NOBYPASSRLS
  PASSWORD :'pw';
\endif
\unset pw
