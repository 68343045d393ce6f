#!/bin/bash
# The whole bandwatch daemon (poll + store + rules + HTTP) against the rig: a fleet of real
# net-snmp agents with real kernel counters (../shared/rig, run as root), measured by the rig's
# own measure-poller, next to Prometheus snmp_exporter on the same fleet in the same run.
#
#   benches/rig/measure.sh [SWITCHES=200] [PORTS=48] [SECONDS=60] [INTERVAL=10s]
#
# Needs: root, `apt-get install snmpd snmp prometheus-snmp-exporter`, a release build
# (`cargo build --release`). Writes to $OUT (default /tmp/bandwatch-rig-bench).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
rig=${RIG:-$repo/../shared/rig}
n=${1:-200}; ports=${2:-48}; secs=${3:-60}; interval=${4:-10s}
out=${OUT:-/tmp/bandwatch-rig-bench}
bin=${BANDWATCH:-$repo/target/release/bandwatch}
mkdir -p "$out"
[ -x "$bin" ] || { echo "no $bin: run cargo build --release first" >&2; exit 1; }

cd "$rig"
./fleet up "$n" "$ports"
python3 "$here/rig_config.py" "$out" "$ports" "$repo" "$interval"
"$bin" check -c "$out/rig.toml" > /dev/null
rm -rf "$out/var"
RUST_LOG=warn ./measure-poller "exec $bin run -c $out/rig.toml" "$n" "$ports" \
    --seconds "$secs" --warmup 25 --repeat 2 --keep-fleet --label bandwatch --json "$out/bandwatch.json" \
    | tee "$out/bandwatch.txt"
./bench-peers --ns "$n" --ports "$ports" --peers exp-bw --repeat 2 --seconds "$secs" --keep-fleet yes \
    --out "$out/peers" | tail -4
echo "bandwatch: $out/bandwatch.txt; snmp_exporter: $out/peers/table.md; rig/fleet down when done"
