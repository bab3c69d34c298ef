#!/usr/bin/env bash
# Where two builds of `recs serve` spend their CPU per request, under the same wrk load as
# benches/compare_commits.sh (ALS on ml-1m/ratings_uir.dat.gz, wrk -t2 -c16, random users):
# per round and build, the server's CPU seconds (utime + stime from /proc) per 1000 requests
# and, with PERF=1, a `perf record -g` profile; at the end the perf samples per 1000 requests
# of both builds summed over the rounds, by binary/library and by symbol (largest differences).
#
#   bash benches/server_profile.sh OLD_RECS_BIN NEW_RECS_BIN
#
# Knobs: RECS_DATA_DIR, ROUNDS (2; the order alternates: old first, then new first), DURATION
# (seconds, 10), CONNECTIONS (16), PORT (18195), PERF (1), OUT (a temporary folder; the
# registries and perf.data files are kept there when given). Needs wrk, curl, perf.
set -euo pipefail
OLD=$1 NEW=$2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${RECS_DATA_DIR:-$root/../shared/data}"
RATINGS="$DATA/ml-1m/ratings_uir.dat.gz"
[ -f "$RATINGS" ] || { echo "skipped: no $RATINGS" >&2; exit 0; }
ROUNDS=${ROUNDS:-2} DURATION=${DURATION:-10} CONNECTIONS=${CONNECTIONS:-16} PORT=${PORT:-18195}
PERF=${PERF:-1}
W=${OUT:-$(mktemp -d)}
mkdir -p "$W"
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; [ -z "${OUT:-}" ] && rm -rf "$W"' EXIT
export RAYON_NUM_THREADS=2 USER_MIN=1 USER_MAX=6040 K=10
tck=$(getconf CLK_TCK)
cpu_of() { awk -v t="$tck" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$W/runs.tsv"
for r in $(seq 1 "$ROUNDS"); do
  order="old new"; [ $((r % 2)) = 0 ] && order="new old"
  for which in $order; do
    bin=$OLD; [ "$which" = new ] && bin=$NEW
    reg="$W/reg-$which"
    [ -d "$reg" ] || nice -n 10 "$bin" eval --data "$RATINGS" --split leave-last-out --models als \
      --publish "$reg" --promote --quiet > /dev/null 2>&1
    nice -n 10 "$bin" serve --registry "$reg" --data "$RATINGS" --addr "127.0.0.1:$PORT" > "$W/serve-$which.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 600); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
    nice -n 10 wrk -t2 -c"$CONNECTIONS" -d2s -s "$root/benches/random_user.lua" "http://127.0.0.1:$PORT" > /dev/null
    c0=$(cpu_of "$PID")
    data="$W/perf-$which-$r.data"
    if [ "$PERF" = 1 ]; then
      perf record -F 999 -g -o "$data" -p "$PID" -- sleep "$DURATION" 2> /dev/null &
      PP=$!
    fi
    out=$(nice -n 10 wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$root/benches/random_user.lua" "http://127.0.0.1:$PORT")
    c1=$(cpu_of "$PID")
    if [ "$PERF" = 1 ]; then wait "$PP" || true; fi
    kill "$PID"; wait "$PID" 2> /dev/null || true; PID=
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    cpu=$(echo "$c1 - $c0" | bc)
    echo "round $r $which req/s=$rps p99=$p99 server_cpu_s=$cpu cpu_ms_per_1000req=$(echo "scale=1; $cpu * 1000000 / $reqs" | bc) load=$(cut -d' ' -f1 /proc/loadavg)"
    printf '%s\t%s\t%s\n' "$which" "$reqs" "$data" >> "$W/runs.tsv"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$PERF" = 1 ] || exit 0
python3 - "$W/runs.tsv" <<'PY'
import collections, subprocess, sys
by_dso = {"old": collections.Counter(), "new": collections.Counter()}
by_sym = {"old": collections.Counter(), "new": collections.Counter()}
reqs = collections.Counter()
for line in open(sys.argv[1]):
    which, n, data = line.rstrip("\n").split("\t")
    reqs[which] += int(n)
    out = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,symbol",
                          "--stdio", "-g", "none", "-n"], capture_output=True, text=True).stdout
    for row in out.splitlines():
        if not row.strip() or row.startswith("#"):
            continue
        f = row.split()
        # both binaries count as `recs`, so that their symbols line up
        dso = "recs" if f[2].startswith("recs") else f[2]
        by_dso[which][dso] += int(f[1])
        by_sym[which][dso + " " + " ".join(f[4:]).rstrip(" -")] += int(f[1])
per = lambda w, c, k: c[w][k] * 1000 / max(reqs[w], 1)
print("perf samples (~1 ms of CPU each) per 1000 requests, all rounds")
for d in sorted(set(by_dso["old"]) | set(by_dso["new"])):
    print(f"  {d:20s} old {per('old', by_dso, d):7.2f}  new {per('new', by_dso, d):7.2f}")
rows = sorted(((per("new", by_sym, k) - per("old", by_sym, k), k)
               for k in set(by_sym["old"]) | set(by_sym["new"])), reverse=True)
print("largest differences (new - old), then the largest savings:")
for diff, k in rows[:15] + rows[-10:]:
    print(f"  {diff:+6.2f}  old {per('old', by_sym, k):6.2f}  new {per('new', by_sym, k):6.2f}  {k[:100]}")
PY
