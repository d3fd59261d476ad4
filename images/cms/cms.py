"""CMS stand-in: speaks Directus' environment contract and health endpoint.

/server/health really connects to PostgreSQL (and checks PostGIS) and Redis, so a green
health check means the CMS can reach its dependencies, as with the real Directus.
"""
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import redis


def env_or_file(name, default=None):
    path = os.environ.get(name + "_FILE")
    if path:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    return os.environ.get(name, default)


def check_database():
    conn = psycopg2.connect(
        host=env_or_file("DB_HOST", "database"),
        port=int(env_or_file("DB_PORT", "5432")),
        dbname=env_or_file("DB_DATABASE", "app"),
        user=env_or_file("DB_USER", "app"),
        password=env_or_file("DB_PASSWORD", ""),
        connect_timeout=2,
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT postgis_version()")
            return cur.fetchone()[0]
    finally:
        conn.close()


def check_cache():
    client = redis.Redis(
        host=env_or_file("REDIS_HOST", "cache"),
        port=int(env_or_file("REDIS_PORT", "6379")),
        password=env_or_file("REDIS_PASSWORD") or None,
        socket_timeout=2,
    )
    return client.ping()


class Handler(BaseHTTPRequestHandler):
    def _reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/server/ping":
            return self._reply(200, "pong")
        if self.path == "/server/health":
            checks = {}
            status = 200
            for name, probe in (("database", check_database), ("cache", check_cache)):
                try:
                    probe()
                    checks[name] = "ok"
                except Exception as err:  # noqa: BLE001 - report any failure as unhealthy
                    checks[name] = "error: %s" % type(err).__name__
                    status = 503
            return self._reply(status, {"status": "ok" if status == 200 else "error", "checks": checks})
        return self._reply(404, {"error": "not found"})

    def log_message(self, *_args):
        pass


def main():
    port = int(os.environ.get("PORT", "8055"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("cms stand-in listening on %d" % port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
