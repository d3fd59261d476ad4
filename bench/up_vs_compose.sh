#!/usr/bin/env bash
# Docker-mode benchmark, one run, same images, same machine:
#   1. `appstack up` (to all healthy) vs `docker-compose up -d` of the exported file (to all
#      healthy), both from nothing (fresh volumes), RUNS alternating runs, median ratio;
#   2. a no-op reconcile pass of the quickstart stack (target <= 50 ms);
#   3. the `run` daemon's idle RSS (target <= 25 MB).
# "All healthy" for compose is the first moment `docker ps` shows every container
# "(healthy)" (polled every 50 ms). appstack is measured two ways: when `up` returns (it
# returns once every health command passed) and, like compose, when the engine shows every
# container "(healthy)". Both ratios are printed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
RUNS="${RUNS:-5}"
source bench/lib.sh
prepare
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
state="$work/state"
manifest="$work/bench.yaml"
sed -e 's/name: quickstart/name: bench/' -e 's/hostPort: 3000/hostPort: 23000/' -e 's/hostPort: 8055/hostPort: 28055/' \
  -e 's/hostPort: 9090/hostPort: 29090/' examples/quickstart.yaml > "$manifest"
"$bin" --state-dir "$state" export compose -f "$manifest" -o "$work/compose" 2>/dev/null
compose=(docker-compose -f "$work/compose/docker-compose.yml" -p benchcompose)

# Every service with a health check (the exported WAL shipper has none, and appstack runs
# no container for it: the daemon ships WAL itself).
services=$(grep -c '^    healthcheck:' "$work/compose/docker-compose.yml")
all_healthy() { [ "$(docker ps --filter "name=^bench-" --format '{{.Status}}' | grep -c '(healthy)')" = "$services" ]; }
wait_healthy() { until all_healthy; do sleep 0.05; done; }
clean() {
  "$bin" --state-dir "$state" down -f "$manifest" --volumes --yes >/dev/null 2>&1 || true
  "${compose[@]}" down -v >/dev/null 2>&1 || true
  # The secrets must survive for the compose file's copies to stay valid.
  "$bin" --state-dir "$state" export compose -f "$manifest" -o "$work/compose" 2>/dev/null
  # Both sides start from an idle engine: `down -v` leaves dockerd deleting layers for a
  # while, and that work would land on whichever run comes next.
  sleep "${SETTLE:-3}"
}

declare -a ours ours_engine theirs
for i in $(seq 1 "$RUNS"); do
  clean
  t0=$(now); "$bin" --state-dir "$state" up -f "$manifest" 2>/dev/null; t1=$(now); wait_healthy; t2=$(now)
  ours+=("$(python3 -c "print($t1 - $t0)")"); ours_engine+=("$(python3 -c "print($t2 - $t0)")")
  clean
  t0=$(now); "${compose[@]}" up -d >/dev/null 2>&1; wait_healthy; t1=$(now)
  theirs+=("$(python3 -c "print($t1 - $t0)")")
  echo "run $i: appstack up ${ours[-1]}s (engine all healthy ${ours_engine[-1]}s), docker-compose ${theirs[-1]}s" >&2
done
clean

# No-op reconcile: the stack is up and converged; time whole `appstack up` invocations.
"$bin" --state-dir "$state" up -f "$manifest" 2>/dev/null
wait_healthy
declare -a noop
for _ in $(seq 1 20); do
  t0=$(now); "$bin" --state-dir "$state" up -f "$manifest" 2>/dev/null; t1=$(now)
  noop+=("$(python3 -c "print(($t1 - $t0) * 1000)")")
done

# Daemon idle RSS after it has converged and settled.
port=$(free_port)
"$bin" --state-dir "$state" run -f "$manifest" --listen "127.0.0.1:$port" 2>/dev/null &
daemon=$!
until python3 - "$port" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=1)
PY
do sleep 0.2; done
sleep 10
# Idle between its periodic work (WAL shipping every 2 s, resyncs): the median of 20
# samples over 10 s; the highest sample is printed too.
rss_kb=""
for _ in $(seq 1 20); do
  rss_kb="$rss_kb $(awk '/VmRSS/ {print $2}' "/proc/$daemon/status")"
  sleep 0.5
done
kill "$daemon"; wait "$daemon" 2>/dev/null || true
"$bin" --state-dir "$state" down -f "$manifest" --volumes --yes >/dev/null 2>&1 || true

python3 - "${ours[*]}" "${ours_engine[*]}" "${theirs[*]}" "${noop[*]}" "$rss_kb" <<'PY'
import statistics, sys
ours, ours_engine, theirs, noop = ([float(x) for x in a.split()] for a in sys.argv[1:5])
rss = [int(x) / 1024 for x in sys.argv[5].split()]
rss_mb = statistics.median(rss)
m_ours, m_eng, m_theirs = statistics.median(ours), statistics.median(ours_engine), statistics.median(theirs)
print(f"appstack up to all healthy (returns):        median {m_ours:.2f}s  runs {ours}")
print(f"appstack up to all healthy (engine shows):   median {m_eng:.2f}s  runs {ours_engine}")
print(f"docker-compose up -d to all healthy:         median {m_theirs:.2f}s  runs {theirs}")
print(f"ratio appstack/compose (up returns):         {m_ours / m_theirs:.2f}  (target <= 0.6)")
print(f"ratio appstack/compose (engine all healthy): {m_eng / m_theirs:.2f}")
print(f"no-op reconcile (whole `appstack up` run):   median {statistics.median(noop):.1f} ms  (target <= 50 ms)")
print(f"run daemon idle RSS:                         median {rss_mb:.1f} MB, highest {max(rss):.1f} MB of {len(rss)} samples  (target <= 25 MB)")
PY
