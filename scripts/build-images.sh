#!/usr/bin/env bash
# Builds the local images the quickstart and the tests use, with no registry: one mmdebstrap
# root filesystem of bookworm with every package (images/packages.txt) imported as the base,
# then one tiny `docker build` per service. Images are cached by a hash of their inputs:
# a second run with nothing changed builds nothing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/images"
mirror="${APPSTACK_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

base_hash="$(sha256sum packages.txt | cut -c1-12)"
base="appstack/base:bookworm-$base_hash"
if ! docker image inspect "$base" >/dev/null 2>&1; then
  echo "build-images: building $base (mmdebstrap, a few minutes)" >&2
  pkgs="$(grep -v '^#' packages.txt | grep -v '^$' | paste -sd, -)"
  # Docs, man pages, locales and moment-timezone data are dead weight in a container.
  mmdebstrap --variant=apt --include="$pkgs" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/nodejs/moment-timezone/data/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    bookworm - "$mirror" | docker import - "$base" >/dev/null
fi

for dir in postgis redis web cms prometheus node-exporter alertmanager; do
  case "$dir" in
    postgis) tag=appstack/postgis:15 ;;
    redis) tag=appstack/redis:7 ;;
    *) tag="appstack/$dir:1" ;;
  esac
  hash="$( (echo "$base"; cat "$dir"/*) | sha256sum | cut -c1-16)"
  have="$(docker image inspect -f '{{index .Config.Labels "appstack.io/build-hash"}}' "$tag" 2>/dev/null || true)"
  if [ "$have" = "$hash" ]; then
    continue
  fi
  echo "build-images: building $tag" >&2
  DOCKER_BUILDKIT=0 docker build -q --network host --build-arg "BASE=$base" --label "appstack.io/build-hash=$hash" -t "$tag" "$dir" >/dev/null
done
echo "build-images: images ready" >&2
