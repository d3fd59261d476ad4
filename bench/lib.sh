# Shared by the bench scripts, sourced from the repository root.

# The engine, the local images and the release binary ($bin).
prepare() {
  bash scripts/setup-engine.sh
  bash scripts/build-images.sh
  cargo build --release --locked -q
  bin="$PWD/target/release/appstack"
}

now() { date +%s.%N; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# moto_server on 127.0.0.1:$moto_port with a bucket "bench"; its pid in $moto.
start_moto() {
  moto_server -H 127.0.0.1 -p "$moto_port" >/dev/null 2>&1 &
  moto=$!
  until python3 -c "import urllib.request; urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:$moto_port/bench', method='PUT'))" 2>/dev/null; do sleep 0.1; done
}

# The credentials file a stack's spec.backup.s3.credentialsSecret names, for moto.
s3_credentials() { printf 'AWS_ACCESS_KEY_ID=test\nAWS_SECRET_ACCESS_KEY=test\n' > "$1"; }
