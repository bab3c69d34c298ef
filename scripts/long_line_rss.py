#!/usr/bin/env python3
"""Peak RSS of a built `recs` binary on one huge line (issue 17), without building the tests:
the three cases of recs-server/tests/bounded_input.rs (which `scripts/bounded_input.sh` runs
through cargo) against any binary, e.g. the release build.

1. `recs ingest FILE.gz`: a small gzip (concatenated members) holding one LINE_MB MiB line
   between valid events;
2. `recs ingest -`: the same bytes on stdin;
3. `recs serve --events-file F`: the line appended to the followed file, then one more event.

Peak RSS is the child's VmHWM (polled every 5 ms; it only grows). Usage:
    RECS_BIN=target/release/recs python3 scripts/long_line_rss.py [LINE_MB (default 2048)]
Needs LINE_MB MiB + a little free disk in $TMPDIR for case 3. Prints one JSON line per case.
"""
import gzip
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

BIN = os.environ.get("RECS_BIN", "target/release/recs")
LONG = (int(sys.argv[1]) if len(sys.argv) > 1 else 2048) << 20
BEFORE = b"2024-02-01T12:00:00,1,GET /rate/10=4\n"
AFTER = b"2024-02-01T12:00:01,2,GET /rate/11=5\n2024-02-01T12:00:02,3,GET /rate/12=3\n"
PIECE = 64 << 20


def hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def wait_peak(proc):
    peak = 0
    while proc.poll() is None:
        peak = max(peak, hwm_kib(proc.pid) or 0)
        time.sleep(0.005)
    return peak


def summary(out):
    s = json.loads(out)["summary"]
    return {"rate": s["counts"].get("rate"), "dead_letter": s["counts"].get("dead_letter"),
            "reasons": s["reasons"]}


def main():
    tmp = tempfile.mkdtemp()
    load = open("/proc/loadavg").read().split()[:3]
    print(json.dumps({"bin": BIN, "line_mib": LONG >> 20, "load": load, "cores": os.cpu_count()}))

    # 1. gzip
    path = os.path.join(tmp, "events.log.gz")
    x = gzip.compress(b"x" * PIECE, compresslevel=1)
    with open(path, "wb") as f:
        f.write(gzip.compress(BEFORE))
        for _ in range(LONG // PIECE):
            f.write(x)
        f.write(gzip.compress(b"x" * (LONG % PIECE)))
        f.write(gzip.compress(b"\n" + AFTER))
    t0 = time.time()
    p = subprocess.Popen([BIN, "ingest", path, "--out", os.path.join(tmp, "snap1"), "--json"],
                         stdout=subprocess.PIPE)
    out_holder = {}
    threading.Thread(target=lambda: out_holder.update(out=p.stdout.read())).start()
    peak = wait_peak(p)
    time.sleep(0.1)
    print(json.dumps({"case": "gzip", "gzip_bytes": os.path.getsize(path), "rc": p.returncode,
                      "seconds": round(time.time() - t0, 1), "peak_rss_mib": round(peak / 1024, 1),
                      **summary(out_holder["out"])}))
    os.remove(path)

    # 2. stdin
    t0 = time.time()
    p = subprocess.Popen([BIN, "ingest", "-", "--out", os.path.join(tmp, "snap2"), "--json"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def feed():
        p.stdin.write(BEFORE)
        chunk = b"x" * (1 << 20)
        for _ in range(LONG >> 20):
            p.stdin.write(chunk)
        p.stdin.write(b"\n" + AFTER)
        p.stdin.close()

    out_holder = {}
    threading.Thread(target=feed).start()
    threading.Thread(target=lambda: out_holder.update(out=p.stdout.read())).start()
    peak = wait_peak(p)
    time.sleep(0.1)
    print(json.dumps({"case": "stdin", "rc": p.returncode, "seconds": round(time.time() - t0, 1),
                      "peak_rss_mib": round(peak / 1024, 1), **summary(out_holder["out"])}))

    # 3. followed events file of `recs serve`
    ratings = os.path.join(tmp, "ratings.dat")
    with open(ratings, "w") as f:
        for u in range(1, 21):
            for m in range(1, 9):
                f.write(f"{u}::{(u + m) % 12 + 1}::4::{978300000 + u * 10 + m}\n")
    reg = os.path.join(tmp, "registry")
    subprocess.run([BIN, "eval", "--data", ratings, "--models", "pop", "--publish", reg,
                    "--promote", "--quiet"], check=True, stdout=subprocess.DEVNULL)
    events = os.path.join(tmp, "events.log")
    open(events, "w").close()
    port = 18190
    srv = subprocess.Popen([BIN, "serve", "--addr", f"127.0.0.1:{port}", "--registry", reg,
                            "--data", ratings, "--events-file", events],
                           stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    log = []
    threading.Thread(target=lambda: log.extend(srv.stderr), daemon=True).start()
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    before = hwm_kib(srv.pid)
    t0 = time.time()
    peak = 0
    with open(events, "ab") as f:
        f.write(BEFORE)
        chunk = b"x" * (1 << 20)
        for i in range(LONG >> 20):
            f.write(chunk)
            if i % 64 == 0:
                peak = max(peak, hwm_kib(srv.pid) or 0)
        f.write(b"\n" + AFTER)
    skipped = False
    for _ in range(6000):
        peak = max(peak, hwm_kib(srv.pid) or 0)
        if any("line too long" in line for line in log):
            skipped = True
            break
        time.sleep(0.01)
    time.sleep(0.5)
    peak = max(peak, hwm_kib(srv.pid) or 0)
    srv.terminate()
    srv.wait()
    print(json.dumps({"case": "followed file", "skipped_logged": skipped,
                      "seconds_to_skip": round(time.time() - t0, 1),
                      "rss_before_mib": round((before or 0) / 1024, 1),
                      "peak_rss_mib": round(peak / 1024, 1),
                      "log": [line.strip() for line in log if "too long" in line][:1]}))
    os.remove(events)
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
