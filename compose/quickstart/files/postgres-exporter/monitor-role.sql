\set ON_ERROR_STOP on
SET log_statement = 'none';
SET log_min_error_statement = 'panic';
\set pw `cat /run/secrets/database-monitor-password`
DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'appstack_monitor') THEN CREATE ROLE appstack_monitor LOGIN; END IF; END$$;
ALTER ROLE appstack_monitor WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 5 PASSWORD :'pw';
GRANT pg_monitor TO appstack_monitor;
