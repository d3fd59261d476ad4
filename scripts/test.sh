#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine or in CI: installs and starts what the
# tests need (Docker engine, local images), checks formatting and lints, then runs every
# test. Docker-backed tests fail (never skip) when CI=true and no engine answers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-engine.sh
bash scripts/build-images.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# Docker tests share one engine on 2 cores: two test threads keep health timings sane.
CI="${CI:-true}" cargo test --all-targets --locked --no-fail-fast -- --test-threads=2
