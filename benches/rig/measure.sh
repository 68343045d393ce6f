#!/bin/bash
# The whole bandwatch daemon (poll + store + rules + HTTP) against the rig: a fleet of real
# net-snmp agents with real kernel counters (../shared/rig, run as root), measured by the rig's
# own measure-poller, next to Prometheus snmp_exporter on the same fleet in the same run.
#
#   benches/rig/measure.sh [SWITCHES=200] [PORTS=48] [SECONDS=60]
#
# Needs: root, `apt-get install snmpd snmp prometheus-snmp-exporter`, a release build
# (`cargo build --release`). Writes to $OUT (default /tmp/bandwatch-rig-bench).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
rig=${RIG:-$repo/../shared/rig}
n=${1:-200}; ports=${2:-48}; secs=${3:-60}
out=${OUT:-/tmp/bandwatch-rig-bench}
bin=${BANDWATCH:-$repo/target/release/bandwatch}
mkdir -p "$out"
[ -x "$bin" ] || { echo "no $bin: run cargo build --release first" >&2; exit 1; }

cd "$rig"
./fleet up "$n" "$ports"
# One [[switch]] per agent and every port attributed by name (swp1..swpP; the last two are
# uplinks), with the default rules, as a user would configure the fleet.
python3 - "$out" "$ports" "$repo" <<'PY'
import sys
out, ports, repo = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = [l.rstrip("\n").split("\t") for l in open("/tmp/bandwatch-rig/targets.tsv") if not l.startswith("#")]
c = ['alias_patterns = ["^Cust: (?P<customer>[A-Za-z0-9_-]+)"]', "",
     "[daemon]", 'listen = "127.0.0.1:19477"', f'data_dir = "{out}/var"',
     f'rules_dir = "{repo}/alert-rules"', 'interval = "10s"', "",
     "[snmp.default]", 'version = "2c"', 'community = "${RIG_COMMUNITY:-public}"',
     'timeout = "2s"', "retries = 1", "", "[[site]]", 'name = "rig"', "",
     "[[route]]", 'name = "ops"', 'email = ["noc@example.net"]', "",
     "[[route]]", 'name = "sales"', 'email = ["sales@example.net"]', ""]
for name, addr, port, _community, _ns in rows:
    c += ["[[switch]]", f'name = "{name}"', 'site = "rig"', f'address = "{addr}:{port}"', ""]
    for p in range(1, ports + 1):
        role = "uplink" if p > ports - 2 else "server"
        c += ["[[port]]", f'switch = "{name}"', f'name = "swp{p}"', f'role = "{role}"', ""]
open(f"{out}/rig.toml", "w").write("\n".join(c))
PY
"$bin" check -c "$out/rig.toml" > /dev/null
rm -rf "$out/var"
RUST_LOG=warn ./measure-poller "exec $bin run -c $out/rig.toml" "$n" "$ports" \
    --seconds "$secs" --warmup 25 --repeat 2 --keep-fleet --label bandwatch --json "$out/bandwatch.json" \
    | tee "$out/bandwatch.txt"
./bench-peers --ns "$n" --ports "$ports" --peers exp-bw --repeat 2 --seconds "$secs" --keep-fleet yes \
    --out "$out/peers" | tail -4
echo "bandwatch: $out/bandwatch.txt; snmp_exporter: $out/peers/table.md; rig/fleet down when done"
