#!/usr/bin/env bash
# Disaster-recovery benchmark: a host is lost; how long until the same stack (PostgreSQL/PostGIS,
# Redis, Directus, Next.js) is healthy again on a machine that has the engine, the images and
# the backup store?
#   appstack    `appstack recover --from s3://… --stack NAME --key K` (nothing else on the host:
#               the state directory is deleted, so manifest and secrets come from the store)
#   pgBackRest  the users' hand-run runbook: `pgbackrest restore` of the same data from the same
#               S3 endpoint into the database volume, PostgreSQL replays the archive and promotes,
#               the uploads come back from a tar in the bucket, then the same stack is started
#               (`appstack up`, with the secrets the operator kept elsewhere)
# The data: pgbench scale $SCALE (70 ≈ 1.05 GB) plus 200k PostGIS points and 100k text pages,
# 20 uploads of 1 MB; both peers take their base backup, then WAL_MINUTES of writes at
# WRITES_PER_SECOND (each a random account update and one row in `marks`) reach both archives.
# Both restores replay to the end of their archive and are checked against the source's row
# count. The store: moto_server on 127.0.0.1; pgBackRest 2.45 only speaks TLS to S3, so it goes
# through an nginx TLS proxy on the networks' gateways (see backup_vs_peers.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
SCALE="${SCALE:-70}"
WAL_MINUTES="${WAL_MINUTES:-15}"
WRITES_PER_SECOND="${WRITES_PER_SECOND:-100}"
PROCESS_MAX="${PROCESS_MAX:-2}"
source bench/lib.sh
prepare
command -v nginx >/dev/null || apt-get install -y -q nginx-light >/dev/null
DOCKER_BUILDKIT=0 docker build -q --network host -t appstack/postgis-peers:15 bench/peers >/dev/null

stack=benchrc
db="$stack-database"
work="$(mktemp -d /var/tmp/appstack-bench.XXXXXX)"
state="$work/state"
moto_port=$(free_port)
tls_port=$(free_port)
cms_port=$(free_port)
web_port=$(free_port)
peer_net="$stack-peer"
cleanup() {
  [ -n "${daemon:-}" ] && kill "$daemon" 2>/dev/null || true
  [ -n "${moto:-}" ] && kill "$moto" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  docker rm -f "$stack-pgbr-replay" >/dev/null 2>&1 || true
  "$bin" --state-dir "$state" down -f "$work/$stack.yaml" --volumes --yes >/dev/null 2>&1 || true
  docker network rm "$peer_net" >/dev/null 2>&1 || true
  if [ -n "${KEEP_LOGS:-}" ]; then mkdir -p "$KEEP_LOGS" && cp "$work"/*.log "$KEEP_LOGS"/ || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
secs() { python3 -c "print(f'{$2 - $1:.1f}')"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
sql() { docker exec "$db" psql -X -q -At -U app -d app -c "$1"; }
as() { "$bin" --state-dir "$state" "$@"; }
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1

start_moto
s3_credentials "$work/s3.env"
as backup keygen -o "$work/backup.key" 2>/dev/null
# The stack as the users run it, minus monitoring (neither side's figure depends on it).
stack_spec() {
  cat <<EOF
apiVersion: appstack.io/v1alpha1
kind: AppStack
metadata: {name: $stack}
spec:
  database:
    image: appstack/postgis-peers:15
    extensions: [postgis]
    storage: 10Gi
    parameters: {shared_buffers: 256MB, max_wal_size: 4GB}
  cache: {image: "appstack/redis:7", maxmemory: 128Mi, persistence: rdb}
  cms:
    image: appstack/directus:11.16.1
    env: {PUBLIC_URL: "http://127.0.0.1:$cms_port"}
  frontend: {image: "appstack/web:next-15", healthPath: /api/health}
  ingress:
    publishedPorts:
      - {component: cms, hostPort: $cms_port}
      - {component: frontend, hostPort: $web_port}
EOF
}
stack_spec > "$work/$stack.yaml"
cat >> "$work/$stack.yaml" <<EOF
  backup:
    target: s3://bench/appstack
    s3: {bucket: bench, endpoint: "http://127.0.0.1:$moto_port", pathStyle: true, credentialsSecret: "$work/s3.env"}
    wal: {shipInterval: 1s}
    encryption: {keyFile: "$work/backup.key"}
EOF
# The hand-run side backs up with pgBackRest, not appstack: its stack has no backup section.
stack_spec > "$work/$stack-peer.yaml"
as up -f "$work/$stack.yaml" 2>"$work/up.log" || { cat "$work/up.log" >&2; exit 1; }
docker network create "$peer_net" >/dev/null
gw=$(docker network inspect "appstack-$stack" -f '{{(index .IPAM.Config 0).Gateway}}')
peer_gw=$(docker network inspect "$peer_net" -f '{{(index .IPAM.Config 0).Gateway}}')

# pgBackRest's TLS endpoint, on both networks' gateways.
start_tls_proxy "$gw" "$peer_gw"
# One configuration per network: the endpoint is the gateway of the network pgBackRest runs on.
pgbr_conf "$gw" | docker exec -i "$db" sh -c 'cat > /etc/pgbackrest/pgbackrest.conf'
pgbr_conf "$peer_gw" > "$work/pgbackrest.conf"
sql "ALTER SYSTEM SET archive_mode = on"
sql "ALTER SYSTEM SET archive_command = 'pgbackrest --stanza=bench archive-push %p'"
docker restart "$db" >/dev/null
until docker exec "$db" pg_isready -q -h /var/run/postgresql; do sleep 0.2; done
# The CMS reconnects by itself; the stack is whole again before anything is measured.
as up -f "$work/$stack.yaml" 2>>"$work/up.log"

echo "generating the database (pgbench scale $SCALE, 200k points, 100k pages) and 20 uploads ..." >&2
t0=$(now)
docker exec "$db" pgbench -i -q -s "$SCALE" -U app app >/dev/null 2>&1
sql "CREATE TABLE places AS SELECT i AS id, ST_SetSRID(ST_MakePoint(random() * 360 - 180, random() * 180 - 90), 4326) AS geom FROM generate_series(1, 200000) i;
     CREATE INDEX places_geom ON places USING gist (geom);
     CREATE TABLE pages AS SELECT i AS id, 'page ' || i AS title, (SELECT string_agg(md5((i * 31 + j)::text), ' ') FROM generate_series(1, 30) j) AS body FROM generate_series(1, 100000) i;
     ALTER TABLE pages ADD PRIMARY KEY (id);
     CREATE TABLE marks (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());
     CHECKPOINT"
for i in $(seq 1 20); do
  head -c 1048576 /dev/urandom | docker exec -i "$stack-cms" sh -c "cat > /directus/uploads/bench-$i.bin"
done
size=$(sql "SELECT pg_size_pretty(pg_database_size('app'))")
echo "database: $size in $(secs "$t0" "$(now)")s" >&2

# --- both take their backups -------------------------------------------------------------
synced_past() {
  local at
  at=$(python3 -c "import json; print(json.load(open('$state/stacks/$stack/wal-status.json')).get('syncedAt') or '')" 2>/dev/null)
  [ -n "$at" ] && python3 -c "import sys; sys.exit(0 if $(date -d "$at" +%s.%N) > $1 else 1)"
}
# The binary itself, not the `as` function: $! must be the daemon, for the kill below.
"$bin" --state-dir "$state" run -f "$work/$stack.yaml" >"$work/run.log" 2>&1 &
daemon=$!
until [ -s "$state/stacks/$stack/wal-status.json" ]; do sleep 0.2; done
generated=$(now)
until synced_past "$generated"; do sleep 0.2; done
t0=$(now)
as backup now -f "$work/$stack.yaml" --only db 2>"$work/as-backup.log"
as backup now -f "$work/$stack.yaml" --only files 2>>"$work/as-backup.log"
as_backup=$(secs "$t0" "$(now)")
docker exec "$db" pgbackrest --stanza=bench stanza-create >/dev/null
t0=$(now)
docker exec "$db" pgbackrest --stanza=bench backup --type=full
# The hand-run side's uploads: a tar of the volume in the same bucket.
docker run --rm --user root -v "$stack-cms-uploads:/u:ro" appstack/postgis-peers:15 tar -C /u -cf - . |
  python3 -c 'import boto3, sys; boto3.client("s3", endpoint_url=sys.argv[1]).upload_fileobj(sys.stdin.buffer, "bench", "uploads/uploads.tar")' "http://127.0.0.1:$moto_port"
pgbr_backup=$(secs "$t0" "$(now)")
echo "base backups: appstack ${as_backup}s, pgbackrest + uploads tar ${pgbr_backup}s" >&2

# --- the WAL ------------------------------------------------------------------------------
echo "writing for $WAL_MINUTES min at $WRITES_PER_SECOND writes/s ..." >&2
docker exec "$db" sh -c "printf '\\\\set aid random(1, $((SCALE * 100000)))\nUPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;\nINSERT INTO marks DEFAULT VALUES;\n' > /tmp/write.sql"
wal_start=$(sql "SELECT pg_current_wal_lsn()")
docker exec "$db" pgbench -n -U app -f /tmp/write.sql -R "$WRITES_PER_SECOND" -T "$((WAL_MINUTES * 60))" app >"$work/writer.log" 2>&1
wal_bytes=$(sql "SELECT pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal_start'))")
expected=$(sql "SELECT count(*) FROM marks")
seg=$(sql "SELECT pg_walfile_name(pg_switch_wal())")
until [ "$(sql "SELECT coalesce(last_archived_wal >= '$seg', false) FROM pg_stat_archiver")" = t ]; do sleep 0.2; done
written=$(now)
until synced_past "$written"; do sleep 0.2; done
kill "$daemon"; wait "$daemon" 2>/dev/null || true; daemon=
echo "$expected rows in marks; both archives hold all of it" >&2
# The hand-run operator keeps the stack's secrets somewhere safe (appstack keeps them sealed
# in the store); a copy for the pgBackRest side.
cp -a "$state/stacks/$stack/secrets" "$work/kept-secrets"

# --- appstack: the host is lost, recover from the store ------------------------------------
as down -f "$work/$stack.yaml" --volumes --yes >/dev/null 2>&1
rm -rf "$state"
t0=$(now)
as recover --from s3://bench/appstack --stack "$stack" --key "$work/backup.key" \
  --s3-endpoint "http://127.0.0.1:$moto_port" --s3-path-style 2>"$work/as-recover.log" ||
  { cat "$work/as-recover.log" >&2; exit 1; }
as_total=$(secs "$t0" "$(now)")
as_rto=$(sed -n 's/.*recovered and healthy: RTO \([0-9.]*\)s.*/\1/p' "$work/as-recover.log")
# recover's own phase clock: the moment every component was healthy (before its smoke checks).
as_healthy=$(sed -n 's/^ *\([0-9.]*\)s  stack healthy$/\1/p' "$work/as-recover.log")
got_as=$(sql "SELECT count(*) FROM marks")

# --- pgBackRest: the same host lost, the runbook by hand ------------------------------------
as down -f "$work/$stack.yaml" --volumes --yes >/dev/null 2>&1
rm -rf "$state"
mkdir -p -m 700 "$state/stacks/$stack"
cp -a "$work/kept-secrets" "$state/stacks/$stack/secrets"
mounts=(-v "$stack-database-data:/var/lib/postgresql/data" -v "$work/pgbackrest.conf:/etc/pgbackrest/pgbackrest.conf:ro")
declare -A P
t0=$(now)
# The volumes carry appstack's labels, so `appstack up` takes them as the stack's own.
volume() { docker volume create --label appstack.io/stack="$stack" --label app.kubernetes.io/managed-by=appstack --label appstack.io/volume="$1" "$stack-$1" >/dev/null; }
volume database-data
docker run --rm --network "$peer_net" "${mounts[@]}" appstack/postgis-peers:15 sh -c \
  "mkdir -p -m 700 /var/lib/postgresql/data/pgdata && pgbackrest --stanza=bench restore"
P[restore]=$(secs "$t0" "$(now)")
t1=$(now)
docker run -d --name "$stack-pgbr-replay" --network "$peer_net" "${mounts[@]}" \
  -e PGDATA=/var/lib/postgresql/data/pgdata appstack/postgis-peers:15 postgres -c archive_mode=off >/dev/null
until [ "$(docker exec "$stack-pgbr-replay" psql -X -At -h /var/run/postgresql -U app -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do
  [ "$(docker inspect -f '{{.State.Running}}' "$stack-pgbr-replay")" = true ] || { docker logs "$stack-pgbr-replay" 2>&1 | tail -5 >&2; exit 1; }
  sleep 0.1
done
docker stop -t 60 "$stack-pgbr-replay" >/dev/null
docker rm "$stack-pgbr-replay" >/dev/null
P[replay]=$(secs "$t1" "$(now)")
t1=$(now)
volume cms-uploads
python3 -c 'import boto3, sys; boto3.client("s3", endpoint_url=sys.argv[1]).download_fileobj("bench", "uploads/uploads.tar", sys.stdout.buffer)' "http://127.0.0.1:$moto_port" |
  docker run --rm -i --user root -v "$stack-cms-uploads:/u" appstack/postgis-peers:15 sh -c 'cd /u && exec tar -xpf -'
P[uploads]=$(secs "$t1" "$(now)")
t1=$(now)
as up -f "$work/$stack-peer.yaml" 2>"$work/peer-up.log" || { cat "$work/peer-up.log" >&2; exit 1; }
P[up]=$(secs "$t1" "$(now)")
pgbr_total=$(secs "$t0" "$(now)")
got_pgbr=$(sql "SELECT count(*) FROM marks")
as down -f "$work/$stack-peer.yaml" --volumes --yes >/dev/null 2>&1

check() { [ "$1" = "$expected" ] && echo "all $1 rows" || echo "MISMATCH: $1 rows, expected $expected"; }
echo
echo "database $size (pgbench scale $SCALE + PostGIS points + pages), 20 MB of uploads,"
echo "$WAL_MINUTES min of WAL at $WRITES_PER_SECOND writes/s ($wal_bytes of WAL)"
echo "appstack recover, its phases (cumulative seconds since it started):"
sed -n 's/^ *\([0-9.]*s\)  \(.*\)$/  \1  \2/p' "$work/as-recover.log"
echo "pgBackRest by hand: restore ${P[restore]}s, replay to promotion ${P[replay]}s, uploads ${P[uploads]}s, stack up to healthy ${P[up]}s"
printf '%-52s %10s %10s\n' "" "seconds" "ratio"
printf '%-52s %10s %10s\n' "appstack recover: to all healthy" "$as_healthy" "$(ratio "$as_healthy" "$pgbr_total")"
printf '%-52s %10s %10s\n' "  ... and its smoke checks passed (its RTO)" "$as_rto" "$(ratio "$as_rto" "$pgbr_total")"
printf '%-52s %10s\n' "  (its whole run, with the new timeline's base backup)" "$as_total"
printf '%-52s %10s %10s\n' "pgbackrest restore + replay + uploads + stack up" "$pgbr_total" "1.00"
echo "verification: appstack $(check "$got_as"); pgbackrest $(check "$got_pgbr")"
echo "target: recover to all healthy <= 0.70x the pgBackRest runbook: $(ratio "$as_healthy" "$pgbr_total") (with appstack's smoke checks, which the runbook does not do: $(ratio "$as_rto" "$pgbr_total"))"
