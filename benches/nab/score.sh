#!/bin/sh
# Scores the frozen NAB rule file (benches/nab/rules.toml) on the NAB corpus: replays every
# series through `bandwatch backtest --input` (the same evaluator as the daemon) and runs the
# NAB scorer on the full corpus and on the slices spike_network, drop_usage and normal.
#
#   benches/nab/score.sh                 # builds the release binary first
#   BANDWATCH=target/debug/bandwatch benches/nab/score.sh
#   NAB=/path/to/nab SCORER=/path/to/nab_score.py benches/nab/score.sh
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
NAB=${NAB:-/work/shared/datasets/nab}
SCORER=${SCORER:-/work/shared/tools/nab_score.py}
RULES=${RULES:-$root/benches/nab}
if [ -z "${BANDWATCH:-}" ]; then
    (cd "$root" && cargo build --release -q)
    BANDWATCH=$root/target/release/bandwatch
fi
out=${OUT:-$(mktemp -d)}
zcat "$NAB/feed_all.csv.gz" | "$BANDWATCH" -c /dev/null backtest --rules "$RULES" --input - --format csv \
    > "$out/alerts.csv" 2> "$out/summary.txt"
echo "alerts: $out/alerts.csv ($(($(wc -l < "$out/alerts.csv") - 1)) onsets)"
for slice in full spike_network drop_usage normal; do
    if [ "$slice" = full ]; then subset=""; else subset="--subset $NAB/subsets/$slice.txt"; fi
    printf '%-14s ' "$slice"
    # shellcheck disable=SC2086
    python3 "$SCORER" --nab "$NAB" --alerts "$out/alerts.csv" $subset | grep '^standard' \
        | sed 's/^standard *//'
done
