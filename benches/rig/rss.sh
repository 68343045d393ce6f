#!/bin/bash
# Resident memory of the whole bandwatch daemon over time, on the rig (real net-snmp agents in
# network namespaces, ../shared/rig, run as root): the curve, not only the peak.
#
#   benches/rig/rss.sh [SWITCHES=200] [PORTS=48] [INTERVAL=10s] [MINUTES=30]
#
# Samples VmRSS, RssAnon and RssFile of the daemon every 30 s into $OUT/rss.tsv and prints the
# peak and the growth over the last two thirds of the run (flat: <= 5 %). Traffic: every
# port carries a little (rig/traffic), so counters move and rules evaluate real deltas.
# Needs a release build (`cargo build --release`).
#
# BACKFILL_DAYS=28 first fills the new store with 28 days of modelled history for every port
# (`bandwatch backfill`, one sweep per switch every BACKFILL_STEP, default 5m), so the daemon
# starts as on its 29th day: seasonal baselines with their periods, retention with work to do.
#
# SCRAPE=SECONDS scrapes /metrics that often (below).
# LOG sets the daemon's log filter (RUST_LOG; default warn), e.g. LOG=warn,bandwatch::store=info.
# The peaks printed are the kernel's high-water mark (VmHWM), which a 30 s sample can miss, and
# the highest of a sample every second, which VmHWM can miss (below).
# FLEET=200 brings up (or keeps) a rig of 200 switches and polls only the first SWITCHES of
# it, so runs of different sizes can go at once (each with its own LISTEN=127.0.0.1:PORT).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
rig=${RIG:-$repo/../shared/rig}
n=${1:-200}; ports=${2:-48}; interval=${3:-10s}; minutes=${4:-30}
out=${OUT:-/tmp/bandwatch-rss}
bin=${BANDWATCH:-$repo/target/release/bandwatch}
mkdir -p "$out"
[ -x "$bin" ] || { echo "no $bin: run cargo build --release first" >&2; exit 1; }
(cd "$rig" && ./fleet up "${FLEET:-$n}" "$ports" >/dev/null)
SWITCHES=$n python3 "$here/rig_config.py" "$out" "$ports" "$repo" "$interval"
"$bin" check -c "$out/rig.toml" >/dev/null
[ "${KEEP_DATA:-0}" = 1 ] || rm -rf "$out/var"
if [ "${BACKFILL_DAYS:-0}" -gt 0 ]; then
  "$bin" backfill -c "$out/rig.toml" --days "$BACKFILL_DAYS" --step "${BACKFILL_STEP:-5m}" ${KEEP_DATA:+--force}
fi
RUST_LOG=${LOG:-warn} "$bin" run -c "$out/rig.toml" 2>"$out/daemon.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
# Some traffic on every port of the first 20 switches for the whole run.
(cd "$rig" && ./traffic "1-$((n < 20 ? n : 20)):*" 1M $((minutes * 60)) >/dev/null 2>&1 &)
printf 'seconds\trss_kib\tanon_kib\tfile_kib\tcpu_ticks\n' >"$out/rss.tsv"
# VmRSS every second as well, for the highest one: the kernel does not raise its high-water
# mark (VmHWM) at every change of the resident count, and after the daemon has given its
# start-up code back (madvise, src/mem.rs) VmHWM was seen lower than a 1 s sample taken
# before.
(while kill -0 $pid 2>/dev/null; do awk '/^VmRSS/{print $2}' /proc/$pid/status 2>/dev/null; sleep 1; done) >"$out/rss-1s.txt" &
# SCRAPE=15 scrapes /metrics every 15 s, as a Prometheus would: the exposition's code and
# buffers are then part of the resident figure, as in a deployment that is scraped.
if [ "${SCRAPE:-0}" -gt 0 ]; then
  (while kill -0 $pid 2>/dev/null; do
    curl -s -o /dev/null "http://${LISTEN:-127.0.0.1:19477}/metrics" || true; sleep "$SCRAPE"
  done) &
fi
start=$(date +%s)
end=$((start + minutes * 60))
while [ "$(date +%s)" -lt "$end" ]; do
  kill -0 $pid 2>/dev/null || { echo "daemon exited: $out/daemon.log" >&2; exit 1; }
  ticks=$(awk '{print $14 + $15}' /proc/$pid/stat)
  awk -v s=$(($(date +%s) - start)) -v c="$ticks" '/^VmRSS/{r=$2}/^RssAnon/{a=$2}/^RssFile/{f=$2}END{printf "%d\t%d\t%d\t%d\t%d\n", s, r, a, f, c}' \
    /proc/$pid/status >>"$out/rss.tsv"
  sleep 30
done
hwm=$(awk '/^VmHWM/{print $2}' /proc/$pid/status)
top=$(sort -n "$out/rss-1s.txt" | tail -1)
python3 - "$out/rss.tsv" "$n" "$ports" "$interval" "$(getconf CLK_TCK)" "$hwm" "${top:-0}" <<'PY'
import sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n")[1:] if l]
t = [int(r[0]) for r in rows]; rss = [int(r[1]) / 1024 for r in rows]
third = t[-1] / 3
tail = [v for s, v in zip(t, rss) if s >= third]
print("rss MiB:", " ".join(f"{v:.1f}" for v in rss))
print(f"peak (VmHWM) {int(sys.argv[6]) / 1024:.1f} MiB, highest 1 s sample {int(sys.argv[7]) / 1024:.1f} MiB, highest 30 s sample {max(rss):.1f} MiB; last two thirds {tail[0]:.1f} -> {tail[-1]:.1f} MiB "
      f"({(tail[-1] / tail[0] - 1) * 100:+.1f} %), max in them {max(tail):.1f} MiB")
# The same growth cycle against cycle: the store trims the heap at each five-minute seal, so
# one sample taken just after a trim and one just before compare two phases of the cycle
# (on the rig at 50 x 48 every second: 16.9 and 19.6 MiB in the same steady state). The
# highest sample of the window's first five minutes against that of its last five.
w = [(s, v) for s, v in zip(t, rss) if s >= third]
if w and w[-1][0] - w[0][0] >= 600:
    a = max(v for s, v in w if s < w[0][0] + 300)
    b = max(v for s, v in w if s > w[-1][0] - 300)
    print(f"five-minute cycle against cycle: highest {a:.1f} MiB in the window's first five minutes, {b:.1f} in its last ({(b / a - 1) * 100:+.1f} %)")
# CPU over the last two thirds (past start-up), per 1,000 port-samples.
n, ports, tck = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[5])
iv = sys.argv[4]
secs = float(iv[:-1]) * {"s": 1, "m": 60}[iv[-1]]
tail_rows = [r for r in rows if int(r[0]) >= third]
if len(tail_rows) > 1:
    cpu = (int(tail_rows[-1][4]) - int(tail_rows[0][4])) / tck
    span = int(tail_rows[-1][0]) - int(tail_rows[0][0])
    samples = n * ports * span / secs
    print(f"cpu {cpu:.1f} s over {span} s: {cpu * 1000 / samples * 1000:.1f} ms per 1,000 port-samples")
PY
