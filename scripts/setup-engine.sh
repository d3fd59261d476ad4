#!/usr/bin/env bash
# Makes a Docker engine answer on this machine: installs Debian's docker.io (and the tools
# the image builder and compose tests use) when missing, then starts dockerd without
# iptables (not usable in this sandbox). Idempotent.
set -euo pipefail
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup-engine: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  echo "setup-engine: starting dockerd" >&2
  nohup dockerd --iptables=false >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
fi
docker info >/dev/null 2>&1 || { echo "setup-engine: dockerd did not start; see /var/log/dockerd.log" >&2; exit 1; }
