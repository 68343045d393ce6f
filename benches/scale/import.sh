#!/usr/bin/env bash
# `bandwatch import` at scale (#19): a CSV of N rows (default 1,000,000: 5-minute records of
# 3,500 customers, customer by customer, as a billing export), imported into an empty store,
# imported again (every row unchanged), then a copy with one bad row at line N - 1 (nothing
# imported, that line named). Each run's time and peak RSS.
#   cargo build --release && benches/scale/import.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${BANDWATCH_BIN:-${CARGO_TARGET_DIR:-target}/release/bandwatch}
rows=${1:-1000000}
customers=3500
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

{
  printf '[daemon]\ndata_dir = "var"\nrules_dir = "rules"\n\n'
  printf '[snmp.default]\nversion = "2c"\ncommunity = "${BW_BENCH_COMMUNITY:-public}"\n\n'
  for ((c = 0; c < customers; c++)); do
    printf '[[customer]]\nid = "c%04d"\nname = "Customer %d"\n\n' "$c" "$c"
  done
} >"$dir/bandwatch.toml"
mkdir -p "$dir/rules"

# Rows: customer by customer, each a run of consecutive 5-minute periods from 2026-10-01.
awk -v rows="$rows" -v customers="$customers" 'BEGIN {
  print "customer,start,end,bytes,source"
  per = int((rows + customers - 1) / customers); n = 0; t0 = 1790812800
  for (c = 0; c < customers && n < rows; c++)
    for (i = 0; i < per && n < rows; i++) {
      a = t0 + i * 300; b = a + 300
      printf "c%04d,%s,%s,%d,cdn\n", c, strftime("%Y-%m-%dT%H:%M:%SZ", a, 1), \
        strftime("%Y-%m-%dT%H:%M:%SZ", b, 1), 1000 + (n * 7919) % 100000
      n++
    }
}' >"$dir/usage.csv"
bad_line=$((rows))   # the header is line 1: data row rows - 1 is on line `rows`
awk -v bad="$bad_line" 'NR == bad { sub(/,[0-9]+,cdn$/, ",-5,cdn") } { print }' "$dir/usage.csv" >"$dir/bad.csv"

run() {
  local name=$1 file=$2 rc=0
  /usr/bin/time -f '%e %M' -o "$dir/time" env RUST_LOG=${RUST_LOG:-warn,bandwatch::store::usage_import=debug} "$bin" --log-format text -c "$dir/bandwatch.toml" import "$file" \
    >"$dir/out" 2>"$dir/err" || rc=$?
  read -r secs kib < <(tail -n 1 "$dir/time")
  printf '%-28s %6s s  %6.1f MiB  exit %d\n' "$name" "$secs" "$(echo "$kib / 1024" | bc -l)" "$rc"
  { cat "$dir/out"; tail -n 2 "$dir/err"; } | sed 's/^/    /' | cut -c1-240
}

echo "bandwatch import: $bin, $(du -h "$dir/usage.csv" | cut -f1) CSV of $rows rows"
run "import into an empty store" "$dir/usage.csv"
run "the same file again" "$dir/usage.csv"
run "bad row at line $bad_line" "$dir/bad.csv"
