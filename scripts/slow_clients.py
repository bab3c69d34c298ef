#!/usr/bin/env python3
"""Slow and idle sockets against `recs serve` while wrk measures normal clients (issue 17).

Phase 1: 1,000 slow sockets from 127.0.0.2 (each sends a request head at ~1 KB/s in
aggregate, one byte per socket every ~1 s, and reconnects when closed) while wrk runs normal
load from 127.0.0.1; reports wrk's failures and latency percentiles.
Phase 2: 5,000 idle sockets from 127.0.0.3 (connected, sending nothing); then the time a new
client (127.0.0.1) takes to get an answer to GET /recommend/1, 20 times.

Usage: slow_clients.py ADDR (host:port of a running server). Needs `wrk` on PATH and a
file-descriptor limit above 6,000 (`ulimit -n`). Prints a JSON summary on the last line.
"""
import json
import re
import socket
import subprocess
import sys
import threading
import time

ADDR = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8080"
HOST, PORT = ADDR.rsplit(":", 1)
PORT = int(PORT)
HEAD = b"GET /recommend/1 HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000


def connect(src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, 0))
    s.setblocking(False)
    try:
        s.connect((HOST, PORT))
    except BlockingIOError:
        pass
    return s


class Slow(threading.Thread):
    """`n` sockets from `src`, each trickling one header byte per second."""

    def __init__(self, n, src):
        super().__init__(daemon=True)
        self.n, self.src = n, src
        self.stop = False
        self.reconnects = 0
        self.refused_503 = 0

    def run(self):
        socks = [[connect(self.src), 0] for _ in range(self.n)]
        while not self.stop:
            t0 = time.time()
            for entry in socks:
                s, pos = entry
                try:
                    # Anything the server sent (a 503, a 408) means it gave up on us.
                    try:
                        data = s.recv(4096)
                        if data.startswith(b"HTTP/1.1 503"):
                            self.refused_503 += 1
                        raise ConnectionError
                    except BlockingIOError:
                        pass
                    s.send(HEAD[pos % len(HEAD):pos % len(HEAD) + 1])
                    entry[1] = pos + 1
                except (ConnectionError, OSError):
                    s.close()
                    self.reconnects += 1
                    entry[0], entry[1] = connect(self.src), 0
            time.sleep(max(0.0, 1.0 - (time.time() - t0)))
        for s, _ in socks:
            s.close()


def wrk(seconds=20, conns=32, threads=2):
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{seconds}s", "--latency",
         "--timeout", "2s", f"http://{ADDR}/recommend/1?k=10"],
        capture_output=True, text=True, check=True).stdout
    print(out, file=sys.stderr)
    def pct(p):
        m = re.search(rf"^\s*{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    return {"requests": total, "failed": errors, "failed_pct": 100.0 * errors / max(1, total),
            "p50_ms": pct(50), "p99_ms": pct(99)}


def new_client_ms():
    t0 = time.time()
    s = socket.create_connection((HOST, PORT), timeout=10)
    s.sendall(b"GET /recommend/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return (time.time() - t0) * 1000, data.split(b" ", 2)[1].decode()


def main():
    baseline = wrk(seconds=10)
    slow = Slow(1000, "127.0.0.2")
    slow.start()
    time.sleep(3)
    loaded = wrk(seconds=20)
    slow.stop = True
    slow.join()
    idle = [connect("127.0.0.3") for _ in range(5000)]
    time.sleep(1)
    times = []
    codes = []
    for _ in range(20):
        ms, code = new_client_ms()
        times.append(ms)
        codes.append(code)
        time.sleep(0.1)
    for s in idle:
        s.close()
    times.sort()
    summary = {
        "baseline": baseline,
        "with_1000_slow_sockets": loaded,
        "slow_socket_reconnects": slow.reconnects,
        "slow_sockets_refused_503": slow.refused_503,
        "new_client_with_5000_idle_sockets_ms": {"max": times[-1], "median": times[len(times) // 2]},
        "new_client_status_codes": sorted(set(codes)),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
