#!/usr/bin/env bash
# appstack's load generator (`appstack load`, the audit's) against wrk 4.1 (Debian's
# package) on the same endpoint, in one run: nginx on 127.0.0.1 serving a small page with
# one worker (one core), the generator on the other.
#   throughput: closed loop, 64 connections, no think time, one thread each (`wrk -t1`,
#               `appstack load --threads 1`); target: appstack's req/s within 10 % of wrk's.
#   latency:    at a fixed rate below saturation: wrk on one connection paced by a Lua
#               delay() (1 ms between an answer and the next request; wrk 4.1 has no rate
#               option, and several paced connections start in step and stay in bursts),
#               appstack with --rate set to the rate wrk reached, on 4 connections (a
#               request due while another is in flight gets a connection of its own, as
#               in wrk's model the next request never waits behind the last; both open
#               their connections before the first request is timed);
#               target: p50 and p99 within 10 % of wrk's.
# Rounds alternate the two tools (ROUNDS, default 5); every round, the peer's own spread
# across rounds (its slowest round's figure over its fastest's: the noise one round's ratio
# carries) and the median ratios are printed. The p99s here are a few tenths of a
# millisecond, where wrk's own p99 moves by a third from one round to the next; three
# rounds' median was still that noise.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
command -v wrk >/dev/null && command -v nginx >/dev/null || apt-get install -y wrk nginx-light >/dev/null
cargo build --release --locked -q
bin="$PWD/target/release/appstack"
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
mkdir -p "$work/www" "$work/tmp"
head -c 2048 /dev/urandom | base64 > "$work/www/index.html"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$port; root $work/www; }
}
CONF
nginx -c "$work/nginx.conf" -p "$work"
trap 'kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"' EXIT
url="http://127.0.0.1:$port/index.html"
DURATION="${DURATION:-10}" ROUNDS="${ROUNDS:-5}" CONNS=64 PACED=1 DELAY_MS=1
cat > "$work/delay.lua" <<LUA
function delay() return $DELAY_MS end
LUA
# Pins each tool to one core when taskset is there, nginx to the other.
pin() { if command -v taskset >/dev/null; then taskset -c 1 "$@"; else "$@"; fi; }
command -v taskset >/dev/null && taskset -pc 0 "$(cat "$work/nginx.pid")" >/dev/null 2>&1 || true
for w in $(pgrep -P "$(cat "$work/nginx.pid")"); do taskset -pc 0 "$w" >/dev/null 2>&1 || true; done

wrk_run() { pin wrk -t1 "$@" --latency "$url" > "$work/wrk.txt"; }
ours_run() { pin "$bin" load "$url" --threads 1 -o json "$@" > "$work/ours.json"; }
# wrk's figures: req/s, p50 and p99 in ms.
wrk_figures() {
  python3 - "$work/wrk.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
def ms(q):
    v, u = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", t, re.M).groups()
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[u]
print(rps, ms(50), ms(99))
PY
}
ours_figures() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["requestsPerSecond"], d["p50Ms"], d["p99Ms"], d["failed"])' "$work/ours.json"; }

tp_ratios=() p50_ratios=() p99_ratios=() wrk_tp=() wrk_p50=() wrk_p99=()
echo "endpoint: nginx 1 worker, $url ($(wc -c < "$work/www/index.html") bytes)"
for r in $(seq 1 "$ROUNDS"); do
  wrk_run -c"$CONNS" -d"${DURATION}s"; read -r w_rps _ _ < <(wrk_figures)
  ours_run --users "$CONNS" --duration "${DURATION}s"; read -r o_rps _ _ o_failed < <(ours_figures)
  ratio=$(python3 -c "print(f'{$o_rps/$w_rps:.3f}')")
  tp_ratios+=("$ratio") wrk_tp+=("$w_rps")
  printf 'round %s throughput (%s connections, 1 thread): wrk %.0f req/s, appstack %.0f req/s (%s failed), ratio %s\n' \
    "$r" "$CONNS" "$w_rps" "$o_rps" "$o_failed" "$ratio"
  wrk_run -c"$PACED" -d"${DURATION}s" -s "$work/delay.lua"; read -r w_rps w50 w99 < <(wrk_figures)
  ours_run --rate "$w_rps" --connections 4 --duration "${DURATION}s"; read -r o_rps o50 o99 o_failed < <(ours_figures)
  r50=$(python3 -c "print(f'{$o50/$w50:.3f}')"); r99=$(python3 -c "print(f'{$o99/$w99:.3f}')")
  p50_ratios+=("$r50"); p99_ratios+=("$r99"); wrk_p50+=("$w50"); wrk_p99+=("$w99")
  printf 'round %s latency at %.0f req/s: wrk p50 %.3f ms p99 %.3f ms; appstack (%.0f req/s, %s failed) p50 %.3f ms p99 %.3f ms; ratios p50 %s p99 %s\n' \
    "$r" "$w_rps" "$w50" "$w99" "$o_rps" "$o_failed" "$o50" "$o99" "$r50" "$r99"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
spread() { printf '%s\n' "$@" | sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {printf "%.3f", hi/lo}'; }
echo "wrk's own spread across rounds (max/min): throughput $(spread "${wrk_tp[@]}"), p50 $(spread "${wrk_p50[@]}"), p99 $(spread "${wrk_p99[@]}")"
echo "median ratios (appstack / wrk): throughput $(median "${tp_ratios[@]}"), p50 $(median "${p50_ratios[@]}"), p99 $(median "${p99_ratios[@]}")  (target: each within 0.90-1.10; throughput >= 0.90)"
