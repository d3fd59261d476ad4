#!/usr/bin/env bash
# Data-protection benchmark, one run, one database, one S3 endpoint:
#   base backup time        appstack vs `pgbackrest backup` (zst and gz) and barman-cloud-backup
#   restore-to-verified     PITR to a time T, promoted, then a verification query (the rows
#                           committed up to T) vs `pgbackrest restore --type=time` and
#                           barman-cloud-restore + barman-cloud-wal-restore replay
#   logical dump            appstack `backup now --only dump` vs `pg_dump -Fc` piped to an upload
#   peak RSS during backup  appstack vs pgBackRest (GNU time)
# The database: pgbench scale $SCALE (70 ≈ 1.05 GB) plus 200k PostGIS points with a GiST
# index and 100k text pages. The store: moto_server on 127.0.0.1. pgBackRest 2.45 only
# speaks TLS to S3 (and hangs on moto's own TLS), so the peers reach moto through an nginx
# TLS proxy on the stack network's gateway; appstack talks plain HTTP to moto directly.
# The peers run inside the database container (they need its data directory), from
# bench/peers (the database image plus pgbackrest and barman-cli-cloud from Debian).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
SCALE="${SCALE:-70}"
PROCESS_MAX="${PROCESS_MAX:-2}"
WRITE_SECONDS="${WRITE_SECONDS:-20}"
source bench/lib.sh
prepare
command -v nginx >/dev/null || apt-get install -y -q nginx-light >/dev/null
DOCKER_BUILDKIT=0 docker build -q --network host -t appstack/postgis-peers:15 bench/peers >/dev/null
command -v /usr/bin/time >/dev/null || apt-get install -y -q time >/dev/null

stack=benchbk
db="$stack-database"
work="$(mktemp -d /var/tmp/appstack-bench.XXXXXX)"
state="$work/state"
moto_port=$(free_port)
tls_port=$(free_port)
cleanup() {
  [ -n "${daemon:-}" ] && kill "$daemon" 2>/dev/null || true
  [ -n "${moto:-}" ] && kill "$moto" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  docker rm -f "$stack-pgbr-restore" "$stack-barman-restore" >/dev/null 2>&1 || true
  docker volume rm "$stack-pgbr-data" "$stack-barman-data" >/dev/null 2>&1 || true
  for s in "$stack-copy" "$stack"; do
    "$bin" --state-dir "$state" down -f "$work/$s.yaml" --volumes --yes >/dev/null 2>&1 || true
  done
  # KEEP_LOGS=DIR keeps appstack's own logs (phase timings) for a closer look.
  if [ -n "${KEEP_LOGS:-}" ]; then mkdir -p "$KEEP_LOGS" && cp "$work"/*.log "$KEEP_LOGS"/ || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
secs() { python3 -c "print(f'{$2 - $1:.1f}')"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
sql() { docker exec "$db" psql -X -q -At -U app -d app -c "$1"; }

start_moto
s3_credentials "$work/s3.env"

cat > "$work/$stack.yaml" <<EOF
apiVersion: appstack.io/v1alpha1
kind: AppStack
metadata: {name: $stack}
spec:
  database:
    image: appstack/postgis-peers:15
    extensions: [postgis]
    storage: 10Gi
    parameters: {shared_buffers: 256MB, max_wal_size: 4GB}
  backup:
    target: s3://bench/appstack
    s3: {bucket: bench, endpoint: "http://127.0.0.1:$moto_port", pathStyle: true, credentialsSecret: "$work/s3.env"}
    wal: {shipInterval: 1s}
EOF
as() { "$bin" --state-dir "$state" "$@"; }
as up -f "$work/$stack.yaml" 2>"$work/up.log" || { cat "$work/up.log" >&2; exit 1; }
gw=$(docker network inspect "appstack-$stack" -f '{{(index .IPAM.Config 0).Gateway}}')

# The peers' TLS endpoint.
start_tls_proxy "$gw"
docker cp "$work/tls.crt" "$db:/tmp/s3-ca.crt"

# Peer configuration, readable by the archiver: pgBackRest's file, and one archive_command
# that hands each segment to whichever peer is being measured (nothing, otherwise); its name
# contains "pgbackrest" because pgBackRest refuses an archive_command that does not.
endpoint="https://$gw:$tls_port"
pgbr_text="$(pgbr_conf "$gw")"
barman_env="AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_CA_BUNDLE=/tmp/s3-ca.crt"
docker exec -i "$db" sh -c 'cat > /etc/pgbackrest/pgbackrest.conf' <<< "$pgbr_text"
docker exec -i "$db" sh -c 'cat > /var/lib/postgresql/data/archive-pgbackrest-or-barman.sh; chmod 755 /var/lib/postgresql/data/archive-pgbackrest-or-barman.sh' <<EOF
#!/bin/sh
case "\$(cat /var/lib/postgresql/data/peer-archive 2>/dev/null)" in
  pgbackrest) exec pgbackrest --stanza=bench archive-push "\$1" ;;
  barman) exec env $barman_env barman-cloud-wal-archive --endpoint-url $endpoint s3://bench/barman bench "\$1" ;;
  *) exit 0 ;;
esac
EOF
sql "ALTER SYSTEM SET archive_mode = on" 
sql "ALTER SYSTEM SET archive_command = '/var/lib/postgresql/data/archive-pgbackrest-or-barman.sh %p'"
docker restart "$db" >/dev/null
until docker exec "$db" pg_isready -q -h /var/run/postgresql; do sleep 0.2; done
peer() { docker exec "$db" sh -c "echo $1 > /var/lib/postgresql/data/peer-archive"; }

echo "generating the database (pgbench scale $SCALE, 200k points, 100k pages) ..." >&2
t0=$(now)
docker exec "$db" pgbench -i -q -s "$SCALE" -U app app >/dev/null 2>&1
sql "CREATE TABLE places AS SELECT i AS id, ST_SetSRID(ST_MakePoint(random() * 360 - 180, random() * 180 - 90), 4326) AS geom FROM generate_series(1, 200000) i;
     CREATE INDEX places_geom ON places USING gist (geom);
     CREATE TABLE pages AS SELECT i AS id, 'page ' || i AS title, (SELECT string_agg(md5((i * 31 + j)::text), ' ') FROM generate_series(1, 30) j) AS body FROM generate_series(1, 100000) i;
     ALTER TABLE pages ADD PRIMARY KEY (id);
     CREATE TABLE marks (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());
     CHECKPOINT"
size=$(sql "SELECT pg_size_pretty(pg_database_size('app'))")
echo "database: $size in $(secs "$t0" "$(now)")s" >&2

# Writes for WRITE_SECONDS at ~50 commits/s; T is the middle. Prints "T expected".
write_and_mark() {
  docker exec "$db" sh -c "printf 'INSERT INTO marks DEFAULT VALUES;\n' > /tmp/mark.sql"
  docker exec "$db" pgbench -n -U app -f /tmp/mark.sql -R 50 -T "$WRITE_SECONDS" app >/dev/null 2>&1 &
  local writer=$!
  sleep "$((WRITE_SECONDS / 2))"
  local t
  t=$(sql "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
  wait "$writer"
  echo "$t $(sql "SELECT count(*) FROM marks WHERE at <= '$t'")"
}
# T as pgBackRest wants it: "YYYY-MM-DD HH:MM:SS.mmm+00".
pg_time() { local t="${1/T/ }"; echo "${t%Z}+00"; }
# The rows committed up to T, as the restored copy sees them.
verify() { docker exec "$1" psql -X -At -U app -d app -c "SELECT count(*) FROM marks WHERE at <= '$2'"; }
check() { [ "$1" = "$2" ] && echo "verified ($1 rows up to T)" || echo "MISMATCH: $1 rows, expected $2"; }
# Every segment written so far is in the peer's archive (the current one switched out first).
archived() {
  local seg
  seg=$(sql "SELECT pg_walfile_name(pg_switch_wal())")
  until [ "$(sql "SELECT coalesce(last_archived_wal >= '$seg', false) FROM pg_stat_archiver")" = t ]; do sleep 0.2; done
}
# The restored server accepts connections (or the bench stops with its log).
ready() {
  until docker exec "$1" pg_isready -q -h /var/run/postgresql 2>/dev/null; do
    [ "$(docker inspect -f '{{.State.Running}}' "$1")" = true ] || { docker logs "$1" 2>&1 | tail -5 >&2; exit 1; }
    sleep 0.1
  done
}
wait_promoted() {
  until [ "$(docker exec "$1" psql -X -At -U app -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do sleep 0.1; done
}

declare -A T
# --- appstack ---------------------------------------------------------------------------
# The shipper is in sync past a moment (its WAL up to then is in the store).
synced_past() {
  local at
  at=$(python3 -c "import json; print(json.load(open('$state/stacks/$stack/wal-status.json')).get('syncedAt') or '')" 2>/dev/null)
  [ -n "$at" ] && python3 -c "import sys; sys.exit(0 if $(date -d "$at" +%s.%N) > $1 else 1)"
}
"$bin" --state-dir "$state" run -f "$work/$stack.yaml" >"$work/run.log" 2>&1 &
daemon=$!
until [ -s "$state/stacks/$stack/wal-status.json" ]; do sleep 0.2; done
# The peers start with nothing left to archive: appstack's backup, too, starts once the
# shipper has drained the ~1 GB of WAL the data generation wrote (else both compete for
# the same two cores and the same store).
generated=$(now)
until synced_past "$generated"; do sleep 0.2; done
/usr/bin/time -f '%e %M' -o "$work/as-backup.time" "$bin" --state-dir "$state" backup now -f "$work/$stack.yaml" --only db 2>"$work/as-backup.log"
read -r T[as_backup] as_rss < "$work/as-backup.time"
read -r t_as expect_as < <(write_and_mark)
# Restore needs the WAL up to T in the store.
written=$(now)
until synced_past "$written"; do sleep 0.2; done
kill "$daemon"; wait "$daemon" 2>/dev/null || true; daemon=
sed "s/name: $stack}/name: $stack-copy}/" "$work/$stack.yaml" > "$work/$stack-copy.yaml"
t0=$(now)
as restore -f "$work/$stack.yaml" --to "$t_as" --into "$stack-copy" 2>"$work/as-restore.log"
got_as=$(verify "$stack-copy-database" "$t_as")
T[as_restore]=$(secs "$t0" "$(now)")
as_check=$(check "$got_as" "$expect_as")
as down -f "$work/$stack-copy.yaml" --volumes --yes >/dev/null 2>&1

t0=$(now)
as backup now -f "$work/$stack.yaml" --only dump 2>"$work/as-dump.log"
T[as_dump]=$(secs "$t0" "$(now)")
t0=$(now)
docker exec "$db" sh -c "pg_dump -Fc -h /var/run/postgresql -U app app | env $barman_env python3 -c 'import boto3, sys; boto3.client(\"s3\", endpoint_url=\"$endpoint\").upload_fileobj(sys.stdin.buffer, \"bench\", \"pg_dump/app.dump\")'"
T[pgdump]=$(secs "$t0" "$(now)")

# --- pgBackRest ---------------------------------------------------------------------------
peer pgbackrest
docker exec "$db" pgbackrest --stanza=bench stanza-create >/dev/null
for c in zst gz; do
  t0=$(now)
  docker exec "$db" /usr/bin/time -f '%M' -o /tmp/pgbr.rss pgbackrest --stanza=bench backup --type=full --compress-type="$c"
  T[pgbr_$c]=$(secs "$t0" "$(now)")
  [ "$c" = zst ] && pgbr_rss=$(docker exec "$db" cat /tmp/pgbr.rss)
done
read -r t_pgbr expect_pgbr < <(write_and_mark)
archived
peer none
docker volume create "$stack-pgbr-data" >/dev/null
printf '%s\n' "$pgbr_text" > "$work/pgbackrest.conf"
t0=$(now)
docker run --rm --network "appstack-$stack" -v "$stack-pgbr-data:/var/lib/postgresql/data" \
  -v "$work/pgbackrest.conf:/etc/pgbackrest/pgbackrest.conf:ro" appstack/postgis-peers:15 sh -c \
  "mkdir -p -m 700 /var/lib/postgresql/data/pgdata && pgbackrest --stanza=bench restore --type=time --target='$(pg_time "$t_pgbr")' --target-action=promote"
docker run -d --name "$stack-pgbr-restore" --network "appstack-$stack" -v "$stack-pgbr-data:/var/lib/postgresql/data" \
  -v "$work/pgbackrest.conf:/etc/pgbackrest/pgbackrest.conf:ro" -e PGDATA=/var/lib/postgresql/data/pgdata \
  appstack/postgis-peers:15 postgres -c archive_mode=off >/dev/null
ready "$stack-pgbr-restore"
wait_promoted "$stack-pgbr-restore"
got_pgbr=$(verify "$stack-pgbr-restore" "$t_pgbr")
T[pgbr_restore]=$(secs "$t0" "$(now)")
pgbr_check=$(check "$got_pgbr" "$expect_pgbr")
docker rm -f "$stack-pgbr-restore" >/dev/null; docker volume rm "$stack-pgbr-data" >/dev/null

# --- barman-cloud ---------------------------------------------------------------------------
peer barman
t0=$(now)
docker exec "$db" sh -c "env $barman_env barman-cloud-backup --endpoint-url $endpoint --gzip --immediate-checkpoint -h /var/run/postgresql -U app -d postgres s3://bench/barman bench"
T[barman]=$(secs "$t0" "$(now)")
read -r t_barman expect_barman < <(write_and_mark)
archived
peer none
docker volume create "$stack-barman-data" >/dev/null
cat > "$work/barman-restore.sh" <<EOF
set -e
d=/var/lib/postgresql/data/pgdata
# barman-cloud 3.4 has no "latest": the newest id comes from the listing.
id=\$(env $barman_env barman-cloud-backup-list --format json --endpoint-url $endpoint s3://bench/barman bench | python3 -c 'import json, sys; print(json.load(sys.stdin)["backups_list"][-1]["backup_id"])')
env $barman_env barman-cloud-restore --endpoint-url $endpoint s3://bench/barman bench "\$id" "\$d"
chmod 700 "\$d"
touch "\$d/recovery.signal"
cat >> "\$d/postgresql.auto.conf" <<'CONF'
restore_command = 'env $barman_env barman-cloud-wal-restore --endpoint-url $endpoint s3://bench/barman bench %f %p'
recovery_target_time = '$(pg_time "$t_barman")'
recovery_target_action = promote
archive_mode = off
CONF
EOF
mounts=(-v "$stack-barman-data:/var/lib/postgresql/data" -v "$work/tls.crt:/tmp/s3-ca.crt:ro" -v "$work/barman-restore.sh:/tmp/restore.sh:ro")
t0=$(now)
docker run --rm --network "appstack-$stack" "${mounts[@]}" appstack/postgis-peers:15 sh /tmp/restore.sh
docker run -d --name "$stack-barman-restore" --network "appstack-$stack" "${mounts[@]}" \
  -e PGDATA=/var/lib/postgresql/data/pgdata appstack/postgis-peers:15 postgres >/dev/null
ready "$stack-barman-restore"
wait_promoted "$stack-barman-restore"
got_barman=$(verify "$stack-barman-restore" "$t_barman")
T[barman_restore]=$(secs "$t0" "$(now)")
barman_check=$(check "$got_barman" "$expect_barman")

echo
echo "database $size (pgbench scale $SCALE + PostGIS points + pages); peers with process-max=$PROCESS_MAX"
printf '%-34s %10s %10s\n' "" "seconds" "ratio"
printf '%-34s %10s %10s\n' "base backup: appstack" "${T[as_backup]}" "1.00"
printf '%-34s %10s %10s\n' "  pgbackrest backup (zst)" "${T[pgbr_zst]}" "$(ratio "${T[as_backup]}" "${T[pgbr_zst]}")"
printf '%-34s %10s %10s\n' "  pgbackrest backup (gz)" "${T[pgbr_gz]}" "$(ratio "${T[as_backup]}" "${T[pgbr_gz]}")"
printf '%-34s %10s %10s\n' "  barman-cloud-backup (gzip)" "${T[barman]}" "$(ratio "${T[as_backup]}" "${T[barman]}")"
printf '%-34s %10s %10s\n' "restore to T, verified: appstack" "${T[as_restore]}" "1.00"
printf '%-34s %10s %10s\n' "  pgbackrest restore --type=time" "${T[pgbr_restore]}" "$(ratio "${T[as_restore]}" "${T[pgbr_restore]}")"
printf '%-34s %10s %10s\n' "  barman-cloud-restore + replay" "${T[barman_restore]}" "$(ratio "${T[as_restore]}" "${T[barman_restore]}")"
printf '%-34s %10s %10s\n' "dump: appstack" "${T[as_dump]}" "1.00"
printf '%-34s %10s %10s\n' "  pg_dump -Fc | upload" "${T[pgdump]}" "$(ratio "${T[as_dump]}" "${T[pgdump]}")"
echo "peak RSS during base backup: appstack $((as_rss / 1024)) MB, pgbackrest $((pgbr_rss / 1024)) MB (target <= 48 MB)"
echo "verification: appstack $as_check; pgbackrest $pgbr_check; barman $barman_check"
echo "targets: base backup <= 0.70x pgbackrest zst: $(ratio "${T[as_backup]}" "${T[pgbr_zst]}"); restore <= 0.70x pgbackrest: $(ratio "${T[as_restore]}" "${T[pgbr_restore]}")"
