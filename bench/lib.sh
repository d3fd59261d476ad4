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

# pgBackRest 2.45 only speaks TLS to S3 (and hangs on moto's own TLS): an nginx TLS proxy to
# moto on $tls_port of each address given, with a self-signed certificate in $work/tls.crt.
# Its pid file is $work/nginx.pid.
start_tls_proxy() {
  local sans="" listens="" ip
  for ip in "$@"; do
    sans="${sans:+$sans,}IP:$ip"
    listens="$listens    listen $ip:$tls_port ssl;
"
  done
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" -addext "subjectAltName=$sans" \
    -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
  mkdir -p "$work/nginx"
  cat > "$work/nginx.conf" <<EOF
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx; uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  client_max_body_size 0;
  proxy_request_buffering off;
  proxy_buffering off;
  server {
$listens    ssl_certificate $work/tls.crt;
    ssl_certificate_key $work/tls.key;
    location / {
      proxy_pass http://127.0.0.1:$moto_port;
      proxy_http_version 1.1;
      proxy_set_header Host \$http_host;
    }
  }
}
EOF
  nginx -c "$work/nginx.conf"
}

# pgBackRest's configuration for the bench's S3 endpoint on address $1 (the TLS proxy's
# $tls_port), stanza "bench" on the database container's data directory.
pgbr_conf() {
  printf '%s\n' "[global]
repo1-type=s3
repo1-path=/pgbackrest
repo1-s3-bucket=bench
repo1-s3-endpoint=$1
repo1-storage-port=$tls_port
repo1-s3-region=us-east-1
repo1-s3-uri-style=path
repo1-s3-key=test
repo1-s3-key-secret=test
repo1-storage-verify-tls=n
repo1-retention-full=9
compress-type=zst
process-max=$PROCESS_MAX
start-fast=y
log-level-console=warn
log-path=/tmp
lock-path=/tmp
[bench]
pg1-path=/var/lib/postgresql/data/pgdata
pg1-user=app
pg1-socket-path=/var/run/postgresql"
}
