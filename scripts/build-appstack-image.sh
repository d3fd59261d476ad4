#!/usr/bin/env bash
# Builds appstack/appstack:<version> (what the plan's WAL shipper runs in an exported compose
# stack) from an appstack binary built on this machine, on the local base image of
# scripts/build-images.sh. Cached by the stripped binary's hash: an unchanged binary builds
# nothing. Usage: build-appstack-image.sh [BINARY] (default target/release/appstack).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$root/target/release/appstack}"
[ -x "$bin" ] || { echo "build-appstack-image: no binary at $bin (cargo build first)" >&2; exit 1; }
version="$(grep -m1 '^version' "$root/Cargo.toml" | cut -d'"' -f2)"
tag="appstack/appstack:$version"
base="appstack/base:bookworm-$(sha256sum "$root/images/packages.txt" | cut -c1-12)"
docker image inspect "$base" >/dev/null 2>&1 || bash "$root/scripts/build-images.sh"
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
# Debug symbols are most of a debug build's size; the image needs none of them.
strip -o "$ctx/appstack" "$bin"
cp "$root/images/appstack/Dockerfile" "$ctx/"
hash="$( (echo "$base"; sha256sum "$ctx/appstack" "$ctx/Dockerfile") | sha256sum | cut -c1-16)"
have="$(docker image inspect -f '{{index .Config.Labels "appstack.io/build-hash"}}' "$tag" 2>/dev/null || true)"
if [ "$have" != "$hash" ]; then
  echo "build-appstack-image: building $tag" >&2
  DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=$base" --label "appstack.io/build-hash=$hash" -t "$tag" "$ctx" >/dev/null
fi
