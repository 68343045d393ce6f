#!/usr/bin/env bash
# `bandwatch backtest --input` on NAB's whole feed (#19): 58 series, 365,559 rows, read from
# stdin as benches/nab/score.sh does; prints the time, the peak RSS and the alert count.
#   cargo build --release && benches/scale/backtest.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${BANDWATCH_BIN:-${CARGO_TARGET_DIR:-target}/release/bandwatch}
feed=${NAB:-/work/shared/datasets/nab}/feed_all.csv.gz
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
zcat "$feed" | /usr/bin/time -f '%e %M' -o "$out/time" \
  "$bin" -c /dev/null backtest --rules benches/nab --input - --format csv >"$out/alerts.csv" 2>"$out/summary"
read -r secs kib < <(tail -n 1 "$out/time")
printf 'NAB feed: %s s, peak RSS %.1f MiB, %d alert onsets\n' "$secs" "$(echo "$kib / 1024" | bc -l)" \
  "$(($(wc -l <"$out/alerts.csv") - 1))"
