#!/usr/bin/env python3
"""An open-loop HTTPS load loop for the deploy benchmark: RATE requests/s (each on its own
connection and thread) to https://HOST:PORT/ on 127.0.0.1, for SECONDS at most or until
STOP_FILE exists; each answer recorded as "sent done status marker" in OUT, where marker is
the page's release (the text of id="release"), so the first answer of a new version shows.

usage: load_loop.py HOST PORT CA RATE SECONDS STOP_FILE OUT
"""
import os, re, socket, ssl, sys, threading, time

host, port, ca, rate, seconds, stop_file, out = sys.argv[1:8]
port, rate, seconds = int(port), float(rate), float(seconds)
ctx = ssl.create_default_context(cafile=ca)
lock = threading.Lock()
rows = []
RELEASE = re.compile(rb'id="release">([^<]*)<')

def one(sent):
    status, marker = 0, "-"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as s:
                s.settimeout(10)
                s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        status = int(data.split(b" ", 2)[1])
        m = RELEASE.search(data)
        marker = m.group(1).decode() if m else "-"
    except Exception:
        status = 0
    with lock:
        rows.append((sent, time.time(), status, marker))

start = time.time()
threads = []
n = 0
while time.time() - start < seconds and not os.path.exists(stop_file):
    t = threading.Thread(target=one, args=(time.time(),))
    t.start()
    threads.append(t)
    n += 1
    time.sleep(max(0.0, start + n / rate - time.time()))
for t in threads:
    t.join()
with open(out, "w") as f:
    for r in sorted(rows):
        f.write(f"{r[0]:.4f} {r[1]:.4f} {r[2]} {r[3]}\n")
