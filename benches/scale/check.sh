#!/usr/bin/env bash
# `bandwatch check` at scale (#19): a rules folder of N valid rules (default 32,000) and a
# 50 MB file of garbage lines, each timed with its peak RSS. Run from the repository:
#   cargo build --release && benches/scale/check.sh [RULES] [GARBAGE_MB]
# Prints one line per case: seconds, peak RSS, and the last lines `check` wrote.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${BANDWATCH_BIN:-${CARGO_TARGET_DIR:-target}/release/bandwatch}
rules=${1:-32000}
garbage_mb=${2:-50}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

cat >"$dir/bandwatch.toml" <<'TOML'
[daemon]
data_dir = "var"
rules_dir = "rules"

[snmp.default]
version = "2c"
community = "${BW_BENCH_COMMUNITY:-public}"

[[site]]
name = "s1"

[[switch]]
name = "sw1"
site = "s1"
address = "127.0.0.1:16100"

[[port]]
switch = "sw1"
name = "xe-0/0/1"
role = "uplink"

[[route]]
name = "ops"
email = ["noc@example.net"]
TOML

mkdir -p "$dir/rules" "$dir/garbage/rules"
awk -v n="$rules" 'BEGIN {
  for (i = 0; i < n; i++) {
    printf "[[rule]]\nname = \"saturated-%d\"\nkind = \"threshold\"\nscope = \"port\"\n", i
    printf "metric = \"utilization\"\nabove = 0.9\nfor = \"15m\"\nseverity = \"warning\"\nnotify = [\"ops\"]\n\n"
  }
}' >"$dir/rules/many.toml"
sed 's/^rules_dir = "rules"/rules_dir = "garbage\/rules"/' "$dir/bandwatch.toml" >"$dir/garbage.toml"
# Garbage: lines of printable junk that are not TOML (about 60 bytes each).
awk -v mb="$garbage_mb" 'BEGIN {
  srand(19); target = mb * 1000000; size = 0; i = 0
  while (size < target) {
    line = sprintf("%d this is not toml = = [[ %x ]] \"unterminated %d", i, i * 7919, i % 97)
    print line; size += length(line) + 1; i++
  }
}' >"$dir/garbage/rules/junk.toml"

run() {
  local name=$1; shift
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$dir/rss" "$bin" "$@" >"$dir/out" 2>"$dir/err" || rc=$?
  t1=$(date +%s.%N)
  printf '%-34s %6.2f s  %6.1f MiB  exit %d\n' "$name" "$(echo "$t1 - $t0" | bc)" \
    "$(echo "$(tail -n 1 "$dir/rss") / 1024" | bc -l)" "$rc"
  tail -n 2 "$dir/err" | sed 's/^/    /' | cut -c1-160
  tail -n 1 "$dir/out" | sed 's/^/    /' | cut -c1-160
}

echo "bandwatch check: $bin"
run "$rules valid rules ($(du -h "$dir/rules/many.toml" | cut -f1))" -c "$dir/bandwatch.toml" check -q
run "garbage rules file ($(du -h "$dir/garbage/rules/junk.toml" | cut -f1))" -c "$dir/garbage.toml" check -q
cp "$dir/garbage/rules/junk.toml" "$dir/garbage-config.toml"
run "garbage configuration file" -c "$dir/garbage-config.toml" check -q
