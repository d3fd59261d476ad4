#!/usr/bin/env bash
# WAL backlog drain after a store outage: with the S3 endpoint (moto_server) down, the
# database writes ~SCALE×15 MB of WAL (pgbench -i), which the shipper spools; then the
# endpoint comes back and the time until the spool is empty again gives the drain rate.
# Printed two ways: from the endpoint's return (includes the retry backoff, at most 10 s)
# and from the first upload after it. Target: >= 40 MiB/s.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
SCALE="${SCALE:-40}"
source bench/lib.sh
prepare

stack=benchdrain
work="$(mktemp -d /var/tmp/appstack-drain.XXXXXX)"
state="$work/state"
moto_port=$(free_port)
listen_port=$(free_port)
cleanup() {
  [ -n "${daemon:-}" ] && kill "$daemon" 2>/dev/null || true
  [ -n "${moto:-}" ] && kill "$moto" 2>/dev/null || true
  "$bin" --state-dir "$state" down -f "$work/$stack.yaml" --volumes --yes >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
status() { python3 -c "import json; s=json.load(open('$state/stacks/$stack/wal-status.json')); print(s.get('$1') or 0)"; }

start_moto
s3_credentials "$work/s3.env"
cat > "$work/$stack.yaml" <<EOF
apiVersion: appstack.io/v1alpha1
kind: AppStack
metadata: {name: $stack}
spec:
  database: {image: appstack/postgis:15, storage: 10Gi, parameters: {max_wal_size: 4GB}}
  backup:
    target: s3://bench/drain
    s3: {bucket: bench, endpoint: "http://127.0.0.1:$moto_port", pathStyle: true, credentialsSecret: "$work/s3.env"}
EOF
"$bin" --state-dir "$state" up -f "$work/$stack.yaml" 2>/dev/null
"$bin" --state-dir "$state" run -f "$work/$stack.yaml" --listen "127.0.0.1:$listen_port" >"$work/run.log" 2>&1 &
daemon=$!
until [ -s "$state/stacks/$stack/wal-status.json" ]; do sleep 0.2; done

# The outage: moto stops (connections refused); writes go on.
kill "$moto"; wait "$moto" 2>/dev/null || true
echo "store down; writing (pgbench -i -s $SCALE) ..." >&2
docker exec "$stack-database" pgbench -i -q -s "$SCALE" -U app app >/dev/null 2>&1
docker exec "$stack-database" psql -X -q -U app -d app -c "CHECKPOINT; SELECT pg_switch_wal()" >/dev/null
sleep 3
spool=$(status spoolBytes)
shipped0=$(status bytesShipped)
echo "spooled: $((spool / 1048576)) MiB; store back" >&2

start_moto
back=$(now)
first=
until [ "$(status spoolBytes)" -lt 16777216 ] && [ "$(status failingSince)" = 0 ]; do
  if [ -z "$first" ] && [ "$(status bytesShipped)" != "$shipped0" ]; then first=$(now); fi
  sleep 0.05
done
done_at=$(now)
[ -n "$first" ] || first=$back
python3 - "$spool" "$back" "$first" "$done_at" <<'EOF'
import sys
spool, back, first, done = int(sys.argv[1]), *map(float, sys.argv[2:])
mib = spool / 1048576
print(f"backlog {mib:.0f} MiB drained in {done - back:.1f}s after the store returned ({mib / (done - back):.1f} MiB/s), "
      f"{done - first:.1f}s from the first upload ({mib / max(done - first, 1e-3):.1f} MiB/s); target >= 40 MiB/s")
EOF
