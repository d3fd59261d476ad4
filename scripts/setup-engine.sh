#!/usr/bin/env bash
# Makes a Docker engine answer on this machine: installs Debian's docker.io (and the tools
# the image builder, compose and S3 tests use) when missing, then starts dockerd without
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
# The S3 tests run against moto_server (an S3 API on 127.0.0.1). 5.2.5 or later: older 5.x
# answer CompleteMultipartUpload with the wrong XML root (getmoto/moto#10055).
if ! python3 -c 'import sys, moto; sys.exit(tuple(map(int, moto.__version__.split(".")[:3])) < (5, 2, 5))' 2>/dev/null \
   || ! command -v moto_server >/dev/null 2>&1; then
  echo "setup-engine: installing moto[server]>=5.2.5 (S3 emulator for the tests)" >&2
  python3 -m pip install -q --root-user-action=ignore "moto[server]>=5.2.5" >/dev/null
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
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
