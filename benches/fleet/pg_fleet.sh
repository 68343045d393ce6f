#!/usr/bin/env bash
# Several daemons on one PostgreSQL (#21): 4 `bandwatch run`, one shard of 50 simulated
# switches x 48 ports each (`bandwatch simulate`, 200 switches in all), polling every 10 s
# into one PostgreSQL started here (initdb/pg_ctl of Debian's `postgresql`, run as `nobody`,
# fsync and synchronous_commit off as in the tests). After a warm-up it measures, over a
# window: each daemon's CPU time per 1,000 port-samples it wrote, PostgreSQL's rows/s
# (port samples and all tuples inserted or updated) and its CPU (postmaster and backends),
# and then the lease takeover: the holder of the singleton lease killed with SIGKILL, the
# time until another daemon holds it (time to live 1.5 intervals = 15 s).
#   cargo build --release && benches/fleet/pg_fleet.sh [WINDOW_SECONDS]
# Run as root (PostgreSQL runs as `nobody`). Everything lives in a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "${BANDWATCH_BIN:-${CARGO_TARGET_DIR:-target}/release/bandwatch}")
window=${1:-120}
daemons=4
per=50
ports=48
interval=10
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
dir=$(mktemp -d /tmp/bandwatch-fleet-bench.XXXXXX)
chmod 755 "$dir"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  runuser -u nobody -- "$pgbin/pg_ctl" stop -D "$dir/pg/data" -m immediate >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# CPU seconds (user + system) of the processes in "$@".
cpu() {
  local ticks=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    ticks=$((ticks + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat")))
  done
  echo "scale=2; $ticks / $(getconf CLK_TCK)" | bc
}
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '!found && index($0, m " ") == 1 { print $2; found = 1 }'; }

# PostgreSQL.
mkdir -p "$dir/pg" && chown nobody "$dir/pg"
runuser -u nobody -- "$pgbin/initdb" -A trust -U postgres -E UTF8 --no-sync -D "$dir/pg/data" >/dev/null
pgport=$(free_port)
runuser -u nobody -- "$pgbin/pg_ctl" start -w -D "$dir/pg/data" -l "$dir/pg/log" \
  -o "-p $pgport -k $dir/pg -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=200" >/dev/null
postmaster=$(head -n 1 "$dir/pg/data/postmaster.pid")
psql() { "$pgbin/psql" -h 127.0.0.1 -p "$pgport" -U postgres -d "${2:-postgres}" -Atc "$1"; }
psql "CREATE DATABASE bench" >/dev/null
export BANDWATCH_PG_URL="postgresql://postgres@127.0.0.1:$pgport/bench"

# The simulated fleet and its configuration, cut into shards s0..s3 of 50 switches.
udp=$((20000 + RANDOM % 20000))
"$bin" simulate --switches $((daemons * per)) --ports $ports --interval ${interval}s \
  --listen "127.0.0.1:$udp" --write-config "$dir/sim.toml" >/dev/null 2>"$dir/sim.log" &
pids+=($!)
disown $!
for _ in $(seq 100); do [ -s "$dir/sim.toml" ] && break; sleep 0.2; done
awk -v per=$per '
  /^\[\[switch\]\]/ { in_switch = 1 }
  { print }
  in_switch && /^name = / { printf "shard = \"s%d\"\n", int(n / per); n++; in_switch = 0 }
' "$dir/sim.toml" >"$dir/sharded.toml"
printf '\n[store]\nbackend = "postgres"\nurl = "${BANDWATCH_PG_URL}"\n' >>"$dir/sharded.toml"
http=()
for i in $(seq 0 $((daemons - 1))); do
  http+=("$(free_port)")
  sed "s/^\[daemon\]$/[daemon]\nshard = \"s$i\"\nlisten = \"127.0.0.1:${http[$i]}\"\ndata_dir = \"var$i\"/" \
    "$dir/sharded.toml" >"$dir/d$i.toml"
  "$bin" -c "$dir/d$i.toml" run 2>"$dir/d$i.log" &
  pids+=($!)
  disown $!
  daemon_pid[$i]=$!
  sleep 1
done
echo "4 daemons x $per switches x $ports ports, every ${interval}s, into PostgreSQL $($pgbin/postgres --version | awk '{print $3}'); warming up..."
sleep $((3 * interval))

# The measured window.
pg_pids() { echo "$postmaster" $(pgrep -P "$postmaster"); }
rows() { psql "SELECT n_tup_ins, n_tup_ins + n_tup_upd FROM (SELECT sum(n_tup_ins) n_tup_ins, sum(n_tup_upd) n_tup_upd FROM pg_stat_user_tables) t" bench; }
samples_of=(); cpu_of=()
for i in $(seq 0 $((daemons - 1))); do
  samples_of[$i]=$(metric "${http[$i]}" bandwatch_store_sweeps_written_total)
  cpu_of[$i]=$(cpu "${daemon_pid[$i]}")
done
pg_cpu0=$(cpu $(pg_pids)); rows0=$(psql "SELECT count(*) FROM port_sample" bench); tup0=$(rows | cut -d'|' -f2)
t0=$(date +%s.%N)
sleep "$window"
t1=$(date +%s.%N)
pg_cpu1=$(cpu $(pg_pids)); rows1=$(psql "SELECT count(*) FROM port_sample" bench); tup1=$(rows | cut -d'|' -f2)
secs=$(echo "$t1 - $t0" | bc)
echo "window ${secs%.*} s, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq 0 $((daemons - 1))); do
  s=$(metric "${http[$i]}" bandwatch_store_sweeps_written_total)
  n=$(echo "($s - ${samples_of[$i]}) * $ports" | bc)
  c=$(echo "$(cpu "${daemon_pid[$i]}") - ${cpu_of[$i]}" | bc)
  printf 'daemon s%d: %d port-samples, %.2f CPU-s, %.1f CPU-ms per 1,000 port-samples, RSS %d MiB\n' \
    "$i" "$n" "$c" "$(echo "$c * 1000000 / $n" | bc -l)" \
    "$(( $(awk '/VmRSS/ {print $2}' /proc/${daemon_pid[$i]}/status) / 1024 ))"
done
printf 'PostgreSQL: %.0f port_sample rows/s, %.0f tuples inserted+updated/s, %.2f CPU-s (%.0f %% of one core)\n' \
  "$(echo "($rows1 - $rows0) / $secs" | bc -l)" "$(echo "($tup1 - $tup0) / $secs" | bc -l)" \
  "$(echo "$pg_cpu1 - $pg_cpu0" | bc)" "$(echo "($pg_cpu1 - $pg_cpu0) * 100 / $secs" | bc -l)"

# Lease takeover: SIGKILL of the holder.
holder=""
for i in $(seq 0 $((daemons - 1))); do
  [ "$(metric "${http[$i]}" 'bandwatch_lease_held{name="singleton"}')" = "1" ] && holder=$i
done
[ -n "$holder" ] || { echo "no lease holder"; exit 1; }
kill -9 "${daemon_pid[$holder]}"
k0=$(date +%s.%N)
while :; do
  for i in $(seq 0 $((daemons - 1))); do
    [ "$i" = "$holder" ] && continue
    if [ "$(metric "${http[$i]}" 'bandwatch_lease_held{name="singleton"}')" = "1" ]; then
      printf 'lease takeover: s%d killed (SIGKILL), s%d holds the lease %.2f s later (poll interval %d s)\n' \
        "$holder" "$i" "$(echo "$(date +%s.%N) - $k0" | bc)" "$interval"
      exit 0
    fi
  done
  sleep 0.1
done
