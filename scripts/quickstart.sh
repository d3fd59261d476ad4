#!/usr/bin/env bash
# The main job on a fresh Debian machine: engine, local images, build, bring up the
# quickstart stack, take a backup (base backup, dump, uploads) and show the status.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-engine.sh
bash scripts/build-images.sh
cargo build --release --locked
bin=target/release/appstack
$bin up -f examples/quickstart.yaml
$bin backup now -f examples/quickstart.yaml
$bin status -f examples/quickstart.yaml
