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
export CI="${CI:-true}"
cargo test --all-targets --locked --no-run
# tests/alerts spends its ~7 minutes waiting on a stack's alert timings (3 quiet minutes,
# SiteDown's `for`, the dedup window), so it runs beside the others; the host's own alerts
# (CPU, memory, disk) are not held against its stack. The binaries that hold the host's
# CPU near its limit for minutes (the capacity test, the 1-million-row workload, the
# deploys under load) run after it, when it has long finished.
alerts_bin="$(cargo test --locked --test alerts --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "alerts":
        print(m["executable"])')"
alerts_log="$(mktemp)"
"$alerts_bin" --test-threads=2 > "$alerts_log" 2>&1 &
alerts_pid=$!
beside=()
last=(audit_capacity audit_database deploy)
for f in tests/*.rs; do
  t="$(basename "$f" .rs)"
  case " alerts ${last[*]} " in *" $t "*) continue ;; esac
  beside+=(--test "$t")
done
status=0
# Docker tests share one engine on 2 cores: two test threads keep health timings sane.
cargo test --lib --bins --examples --benches "${beside[@]}" --locked --no-fail-fast -- --test-threads=2 || status=1
alerts_status=0
wait "$alerts_pid" || alerts_status=$?
echo "--- tests/alerts.rs (ran beside the others)"
cat "$alerts_log"
rm -f "$alerts_log"
[ "$alerts_status" -eq 0 ] || status=1
cargo test $(printf -- '--test %s ' "${last[@]}") --locked --no-fail-fast -- --test-threads=2 || status=1
exit "$status"
