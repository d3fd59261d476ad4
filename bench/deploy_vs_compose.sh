#!/usr/bin/env bash
# The users' hotfix against `appstack deploy`, one run, same machine, same images, the same
# edge (Caddy, examples/edge.yaml) and the same load loop (bench/load_loop.py: 25 HTTPS
# requests/s to the frontend's page through the edge, each on its own connection):
#   compose:  the exported docker-compose.yml, then the frontend's image changed in it and
#             `docker-compose up -d --no-deps frontend` (stop, remove, create, start);
#   appstack: `appstack up`, then `appstack deploy frontend --image NEW` (blue/green).
# For each: requests sent, failed (transport errors and non-2xx/3xx), the longest gap between
# two successful answers, and the time from the command to the first answer of the new
# version. Target: appstack 0 failed; compose's count is reported. Also printed: appstack's
# own figure for command -> traffic on the new version (target <= 10 s).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source bench/lib.sh
prepare
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
state="$work/state"
manifest="$work/dbench.yaml"
http=38080 https=38443
sed -e 's/name: edge$/name: dbench/' -e "s/httpPort: 8080/httpPort: $http/" -e "s/httpsPort: 8443/httpsPort: $https/" \
  examples/edge.yaml > "$manifest"
printf 'FROM appstack/web:next-15\nENV APP_RELEASE=hotfix\n' > "$work/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t appstack-bench/web:hotfix "$work" >/dev/null 2>&1
"$bin" --state-dir "$state" export compose -f "$manifest" -o "$work/compose" 2>/dev/null
compose=(docker-compose -f "$work/compose/docker-compose.yml" -p dbenchcompose)
BEFORE="${BEFORE:-5}" AFTER="${AFTER:-15}"

clean() {
  "$bin" --state-dir "$state" down -f "$manifest" --volumes --yes >/dev/null 2>&1 || true
  "${compose[@]}" down -v >/dev/null 2>&1 || true
  sleep "${SETTLE:-3}"
}

# The edge's CA root, for the load loop to verify the edge's certificate.
edge_ca() {
  until docker exec dbench-edge cat /data/caddy/pki/authorities/local/root.crt > "$work/ca.crt" 2>/dev/null \
        && [ -s "$work/ca.crt" ]; do sleep 0.5; done
}

serving() {
  curl -sf -o /dev/null --max-time 5 --cacert "$work/ca.crt" --resolve "app.localtest:$https:127.0.0.1" \
    "https://app.localtest:$https/"
}

# Runs the load loop around "$@" (the hotfix): BEFORE seconds of load first, AFTER after.
# Writes the loop's rows to $1's file and the command's start time to $work/t0.
under_load() {
  local rows="$1"; shift
  rm -f "$work/stop"
  python3 bench/load_loop.py app.localtest "$https" "$work/ca.crt" 25 300 "$work/stop" "$rows" &
  local loop=$!
  sleep "$BEFORE"
  now > "$work/t0"
  "$@"
  sleep "$AFTER"
  touch "$work/stop"; wait "$loop"
}

clean
"${compose[@]}" up -d >/dev/null 2>&1
edge_ca; until serving; do sleep 0.5; done
sed -i 's#image: appstack/web:next-15#image: appstack-bench/web:hotfix#' "$work/compose/docker-compose.yml"
under_load "$work/compose.rows" "${compose[@]}" up -d --no-deps frontend
cp "$work/t0" "$work/compose.t0"
clean

"$bin" --state-dir "$state" up -f "$manifest" 2>/dev/null
edge_ca; until serving; do sleep 0.5; done
under_load "$work/appstack.rows" "$bin" --state-dir "$state" deploy -f "$manifest" frontend \
  --image appstack-bench/web:hotfix --watch 10s -o json > "$work/deploy.json"
cp "$work/t0" "$work/appstack.t0"
clean

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def figures(side):
    t0 = float(open(f"{work}/{side}.t0").read())
    rows = [l.split() for l in open(f"{work}/{side}.rows")]
    ok = [r for r in rows if 200 <= int(r[2]) < 400]
    done = sorted(float(r[1]) for r in ok)
    gap = max((b - a for a, b in zip(done, done[1:])), default=0.0)
    new = [float(r[1]) for r in ok if r[3] == "hotfix" and float(r[1]) >= t0]
    first_new = (min(new) - t0) if new else float("nan")
    return len(rows), len(rows) - len(ok), gap * 1000, first_new
c, a = figures("compose"), figures("appstack")
deploy = json.load(open(f"{work}/deploy.json"))
print(f"{'':38}{'sent':>8}{'failed':>8}{'longest gap':>14}{'first new answer':>18}")
print(f"{'docker-compose up -d --no-deps':38}{c[0]:>8}{c[1]:>8}{c[2]:>11.0f} ms{c[3]:>16.1f} s")
print(f"{'appstack deploy':38}{a[0]:>8}{a[1]:>8}{a[2]:>11.0f} ms{a[3]:>16.1f} s")
print(f"appstack deploy: outcome {deploy['outcome']}, traffic on the new version "
      f"{deploy['switchedAfterMs'] / 1000:.1f} s after the command (target <= 10 s); "
      f"its own probe: {deploy['probe']['sent']} sent, {deploy['probe']['failed']} failed")
print(f"target: appstack 0 failed -> {'met' if a[1] == 0 else 'MISSED'}; compose failed {c[1]}")
PY
