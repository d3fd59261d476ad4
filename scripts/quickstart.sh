#!/usr/bin/env bash
# The main job on a fresh Debian machine: engine, local images, build, bring up the
# quickstart stack (Directus, a Next.js frontend, PostgreSQL/PostGIS, Redis, monitoring),
# start the `run` daemon (drift repair, schedules, continuous WAL shipping), take a backup
# (base backup, dump, uploads), show the status with the stack's recoverability, and say
# where the frontend and the Directus admin are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-engine.sh
bash scripts/build-images.sh
cargo build --release --locked
bin="$PWD/target/release/appstack"
manifest=examples/quickstart.yaml
state=/var/lib/appstack
$bin up -f "$manifest"
# One daemon per stack: replace a previous one started by this script.
mkdir -p "$state/stacks/quickstart"
pidfile="$state/stacks/quickstart/run.pid"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  kill "$(cat "$pidfile")" && sleep 1
fi
nohup "$bin" run -f "$manifest" --listen 127.0.0.1:9464 >"$state/stacks/quickstart/run.log" 2>&1 &
echo $! > "$pidfile"
$bin backup now -f "$manifest"
# The base backup's WAL reaches the store within a few ship intervals.
for _ in $(seq 1 30); do
  [ -f "$state/stacks/quickstart/wal-status.json" ] && grep -q '"syncedAt"' "$state/stacks/quickstart/wal-status.json" && break
  sleep 1
done
$bin status -f "$manifest"
echo "appstack run is reconciling the stack and shipping WAL (pid $(cat "$pidfile"), log $state/stacks/quickstart/run.log, metrics http://127.0.0.1:9464/metrics); stop it with: kill \$(cat $pidfile)"
# Something for the frontend to render: a collection in Directus, readable by the public.
password_file="$state/stacks/quickstart/secrets/cms/admin-password"
python3 scripts/quickstart-demo.py http://127.0.0.1:8055 admin@example.com "$password_file"
echo "Frontend (Next.js):   http://127.0.0.1:3000/"
echo "Directus admin:       http://127.0.0.1:8055/admin  (admin@example.com; the generated password is in $password_file, 0600)"
