#!/usr/bin/env bash
# Idle cost of a running stack: over SECONDS (default 60) of nothing happening, the CPU the
# engine (dockerd, containerd and the containers' shims, where health-check execs cost) and
# appstack's daemon use, and the whole host's busy share. Run it on a stack that is up and
# settled, with its `appstack run` daemon: bash bench/idle_cpu.sh [seconds]
set -euo pipefail
secs="${1:-60}"
hz=$(getconf CLK_TCK)
ticks() {  # utime + stime of every process whose command matches $1
  local total=0 pid
  for pid in $(pgrep -f "$1" || true); do
    [ -r "/proc/$pid/stat" ] || continue
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}
host() { awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6}' /proc/stat; }
read -r h0_all h0_idle < <(host)
e0=$(( $(ticks '^/usr/sbin/dockerd|^dockerd') + $(ticks '^containerd') + $(ticks 'containerd-shim') ))
d0=$(ticks 'appstack.* run ')
sleep "$secs"
read -r h1_all h1_idle < <(host)
e1=$(( $(ticks '^/usr/sbin/dockerd|^dockerd') + $(ticks '^containerd') + $(ticks 'containerd-shim') ))
d1=$(ticks 'appstack.* run ')
pct() { python3 -c "print(f'{100 * $1 / ($hz * $secs):.1f}')"; }
echo "over ${secs}s: engine (dockerd + containerd + shims) $(pct $((e1 - e0)))% of one core, appstack run $(pct $((d1 - d0)))% of one core, host busy $(python3 -c "print(f'{100 * (1 - ($h1_idle - $h0_idle) / ($h1_all - $h0_all)):.1f}')")% of all $(nproc) cores"
