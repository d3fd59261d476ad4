#!/usr/bin/env bash
# Data-loss window if the primary vanished at a random moment, appstack's WAL streaming vs
# `archive_command` with `archive_timeout=60s`, measured together on the same database:
# a writer commits timestamped rows at RATE/s; at a random moment the database container
# , the WAL receiver and the `appstack run` daemon (with its spool) are killed -9 together. Then
#   appstack: `restore --to latest` into a new stack from the S3 store, newest row found;
#   archive_command (cp into a directory, archive_timeout=60s): the newest COMMIT record in
#   the archived segments (pg_waldump), which is what a restore from that archive replays.
# The window is the kill time minus the newest recoverable commit. TRIALS per rate, rates
# 100/s and 1/s; worst and mean printed. Target: appstack's worst window <= 5 s at both.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
TRIALS="${TRIALS:-3}"
RATES="${RATES:-100 1}"
source bench/lib.sh
prepare

stack=benchloss
db="$stack-database"
work="$(mktemp -d /var/tmp/appstack-loss.XXXXXX)"
state="$work/state"
moto_port=$(free_port)
as() { "$bin" --state-dir "$state" "$@"; }
cleanup() {
  [ -n "${daemon:-}" ] && kill -9 "$daemon" 2>/dev/null || true
  [ -n "${moto:-}" ] && kill "$moto" 2>/dev/null || true
  for s in "$stack-copy" "$stack"; do as down -f "$work/$s.yaml" --volumes --yes >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
sql() { docker exec "$db" psql -X -q -At -U app -d app -c "$1"; }

start_moto
listen_port=$(free_port)
s3_credentials "$work/s3.env"

declare -A worst sum
for rate in $RATES; do
  worst[as_$rate]=0; worst[arch_$rate]=0; sum[as_$rate]=0; sum[arch_$rate]=0
  for trial in $(seq 1 "$TRIALS"); do
    # Each trial is a new stack (and store prefix): the previous primary is gone.
    cat > "$work/$stack.yaml" <<EOF
apiVersion: appstack.io/v1alpha1
kind: AppStack
metadata: {name: $stack}
spec:
  database: {image: appstack/postgis:15, storage: 2Gi}
  backup:
    target: s3://bench/loss-$rate-$trial
    s3: {bucket: bench, endpoint: "http://127.0.0.1:$moto_port", pathStyle: true, credentialsSecret: "$work/s3.env"}
EOF
    sed "s/name: $stack}/name: $stack-copy}/" "$work/$stack.yaml" > "$work/$stack-copy.yaml"
    as up -f "$work/$stack.yaml" 2>/dev/null
    # The peer: every finished (or timed-out) segment copied into a directory.
    docker exec "$db" mkdir -p /var/lib/postgresql/data/archive
    sql "ALTER SYSTEM SET archive_mode = on" >/dev/null
    sql "ALTER SYSTEM SET archive_timeout = '60s'" >/dev/null
    sql "ALTER SYSTEM SET archive_command = 'test ! -f /var/lib/postgresql/data/archive/%f && cp %p /var/lib/postgresql/data/archive/%f'" >/dev/null
    docker restart "$db" >/dev/null
    until docker exec "$db" pg_isready -q -h /var/run/postgresql; do sleep 0.2; done
    sql "CREATE TABLE marks (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())" >/dev/null
    as backup now -f "$work/$stack.yaml" --only db 2>/dev/null
    backed_up=$(now)
    "$bin" --state-dir "$state" run -f "$work/$stack.yaml" --listen "127.0.0.1:$listen_port" >"$work/run.log" 2>&1 &
    daemon=$!
    until [ -s "$state/stacks/$stack/wal-status.json" ]; do sleep 0.2; done
    docker exec "$db" sh -c "printf 'INSERT INTO marks DEFAULT VALUES;\n' > /tmp/mark.sql"
    docker exec "$db" pgbench -n -U app -f /tmp/mark.sql -R "$rate" -T 600 app >/dev/null 2>&1 &
    writer=$!
    # A random moment 15-75 s in: anywhere in the peer's 60 s archive cycle.
    sleep "$(python3 -c 'import random; print(round(random.uniform(15, 75), 2))')"
    kill -9 "$daemon"; docker kill -s KILL "$db" "$stack-wal-receiver" >/dev/null
    killed=$(now)
    daemon=
    wait "$writer" 2>/dev/null || true
    last_arch=$(docker run --rm -v "$stack-database-data:/d:ro" appstack/postgis:15 sh -c \
      "ls /d/archive | grep -qE '^[0-9A-F]{24}\$' && pg_waldump -p /d/archive \$(ls /d/archive | grep -E '^[0-9A-F]{24}\$' | sort | head -1) 2>/dev/null | grep -o 'COMMIT [0-9-]* [0-9:.]*' | tail -1" | cut -d' ' -f2- || true)
    as restore -f "$work/$stack.yaml" --to latest --into "$stack-copy" 2>"$work/restore.log" || { cat "$work/restore.log" >&2; exit 1; }
    last_as=$(docker exec "$stack-copy-database" psql -X -At -U app -d app -c "SELECT to_char(max(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM marks")
    as down -f "$work/$stack-copy.yaml" --volumes --yes >/dev/null 2>&1
    as down -f "$work/$stack.yaml" --volumes --yes >/dev/null 2>&1
    w_as=$(python3 -c "from datetime import datetime as d, timezone as z; print(round($killed - d.fromisoformat('$last_as').replace(tzinfo=z.utc).timestamp(), 2))")
    # With nothing archived yet, that restore ends at the base backup: every write is lost.
    if [ -n "$last_arch" ]; then
      w_arch=$(python3 -c "from datetime import datetime as d, timezone as z; print(round($killed - d.fromisoformat('$last_arch').replace(tzinfo=z.utc).timestamp(), 2))")
    else
      w_arch=$(python3 -c "print(round($killed - $backed_up, 2))")
    fi
    echo "rate $rate/s trial $trial: appstack window ${w_as}s, archive_timeout=60s window ${w_arch}s" >&2
    sum[as_$rate]=$(python3 -c "print(${sum[as_$rate]} + $w_as)"); sum[arch_$rate]=$(python3 -c "print(${sum[arch_$rate]} + $w_arch)")
    worst[as_$rate]=$(python3 -c "print(max(${worst[as_$rate]}, $w_as))"); worst[arch_$rate]=$(python3 -c "print(max(${worst[arch_$rate]}, $w_arch))")
  done
done
echo
printf '%-12s %22s %30s\n' "writes/s" "appstack worst / mean" "archive_timeout=60s worst / mean"
for rate in $RATES; do
  printf '%-12s %22s %30s\n' "$rate" "${worst[as_$rate]}s / $(python3 -c "print(round(${sum[as_$rate]} / $TRIALS, 2))")s" \
    "${worst[arch_$rate]}s / $(python3 -c "print(round(${sum[arch_$rate]} / $TRIALS, 2))")s"
done
echo "target: appstack's worst window <= 5 s at both rates"
