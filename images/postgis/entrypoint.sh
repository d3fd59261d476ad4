#!/bin/bash
# Mirrors the official postgres image's contract (POSTGRES_USER, POSTGRES_DB,
# POSTGRES_PASSWORD_FILE, PGDATA) so a spec works with either image.
set -euo pipefail
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
  POSTGRES_PASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"
fi
if [ "${1:-}" = "postgres" ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA" && chmod 0700 "$PGDATA"
  pwfile="$(mktemp)"
  printf '%s' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE is required}" > "$pwfile"
  # No per-file fsync during init; one syncfs below makes the new cluster durable before
  # the server ever accepts a connection (faster than initdb's ~1000 fsyncs).
  initdb --no-sync -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  {
    echo "listen_addresses = '*'"
    echo "unix_socket_directories = '/var/run/postgresql'"
  } >> "$PGDATA/postgresql.conf"
  {
    echo "host all all all scram-sha-256"
    echo "host replication all all scram-sha-256"
  } >> "$PGDATA/pg_hba.conf"
  # Single-user mode: the server never listens before init is complete, so a
  # health probe cannot report ready on a half-initialised database.
  if [ "$POSTGRES_DB" != "postgres" ]; then
    echo "CREATE DATABASE \"$POSTGRES_DB\"" | postgres --single -F -D "$PGDATA" postgres >/dev/null
  fi
  for ext in ${POSTGRES_EXTENSIONS:-postgis}; do
    echo "CREATE EXTENSION IF NOT EXISTS \"$ext\"" | postgres --single -F -D "$PGDATA" "$POSTGRES_DB" >/dev/null
  done
  sync -f "$PGDATA"
fi
# appstack's role script (the CMS's role and what it owns): run at every start on a server
# that listens on the local socket only, so no client connects before the role is in line.
# A server still to recover a backup (recovery.signal) is left alone: appstack runs the
# script itself once it is promoted.
if [ "${1:-}" = "postgres" ] && [ -n "${APPSTACK_APP_ROLE_SCRIPT:-}" ] \
  && [ -r "$APPSTACK_APP_ROLE_SCRIPT" ] && [ -s "$PGDATA/PG_VERSION" ] \
  && [ ! -e "$PGDATA/recovery.signal" ] && [ ! -e "$PGDATA/standby.signal" ]; then
  pg_ctl -D "$PGDATA" -o "-c listen_addresses= -c unix_socket_directories=/var/run/postgresql" \
    -w -t 600 start >&2
  if ! psql -X -q -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f "$APPSTACK_APP_ROLE_SCRIPT" >&2; then
    echo "appstack: the application role script failed; the CMS may not sign in" >&2
  fi
  pg_ctl -D "$PGDATA" -m fast -w -t 600 stop >&2
fi
exec "$@"
