#!/bin/bash
# Two bandwatch builds side by side on the rig (real net-snmp agents, ../shared/rig, run as
# root), polling the same fleet in the same window: CPU per 1,000 port-samples and peak RSS
# of each. The machine's other load hits both alike, which a before-and-after in turns cannot
# promise on a shared machine.
#
#   benches/rig/side_by_side.sh SWITCHES PORTS INTERVAL SECONDS BIN_A BIN_B
#
# e.g. `benches/rig/side_by_side.sh 50 48 1s 120 /tmp/bandwatch-old target/release/bandwatch`.
# Each daemon gets its own data directory under $OUT (default /tmp/bandwatch-side) and
# listener (127.0.0.1:19481 and :19482); both start from an empty database, and CPU is
# counted after a 25 s warm-up.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
rig=${RIG:-$repo/../shared/rig}
n=$1; ports=$2; interval=$3; secs=$4; bin_a=$5; bin_b=$6
out=${OUT:-/tmp/bandwatch-side}
(cd "$rig" && ./fleet up "$n" "$ports" >/dev/null)
pids=()
for v in a b; do
  d=$out/$v; rm -rf "$d"; mkdir -p "$d"
  bin=$([ $v = a ] && echo "$bin_a" || echo "$bin_b")
  listen=$([ $v = a ] && echo 127.0.0.1:19481 || echo 127.0.0.1:19482)
  LISTEN=$listen python3 "$here/rig_config.py" "$d" "$ports" "$repo" "$interval"
  RUST_LOG=warn "$bin" run -c "$d/rig.toml" 2>"$d/daemon.log" &
  pids+=($!)
done
trap 'kill ${pids[*]} 2>/dev/null; wait 2>/dev/null' EXIT
sleep 25
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
a0=$(cpu "${pids[0]}"); b0=$(cpu "${pids[1]}")
sleep "$secs"
a1=$(cpu "${pids[0]}"); b1=$(cpu "${pids[1]}")
ha=$(awk '/VmHWM/{print $2}' "/proc/${pids[0]}/status"); hb=$(awk '/VmHWM/{print $2}' "/proc/${pids[1]}/status")
python3 - "$n" "$ports" "${interval%s}" "$secs" "$(getconf CLK_TCK)" "$bin_a" $((a1 - a0)) "$ha" "$bin_b" $((b1 - b0)) "$hb" <<'PY'
import sys
n, ports, step, secs, tck = (int(v) for v in sys.argv[1:6])
samples = n * ports * secs / step / 1000
for name, ticks, hwm in (sys.argv[6:9], sys.argv[9:12]):
    ms = int(ticks) * 1000 / tck
    print(f"{name}: {ms:.0f} ms CPU in {secs} s = {ms / samples:.2f} ms per 1,000 port-samples, "
          f"peak RSS {int(hwm) / 1024:.1f} MiB")
PY
uptime
