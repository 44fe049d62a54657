#!/usr/bin/env bash
# The README's sweep example prints the README's table (run by .ci/run with the release build:
# 400 ten-minute runs). Usage: Tests/readme_sweep.sh [simctl binary]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/release/simctl}
db=$(mktemp -d)/readme-sweep.sqlite
out=$("$bin" sweep Scenarios/lagging-replicas.yml --set patroni.maximum_lag_on_failover=0,16MB --seeds 200 \
    --db "$db" --objective 'min rto.p95 where rpo.mean_writes < 500' 2>/dev/null)
status=0
# Every table row and the objective's line, as the README prints them.
while IFS= read -r line; do
  if ! grep -qxF -- "$line" <<<"$out"; then echo "README sweep line not printed: $line"; status=1; fi
done < <(sed -n '/^lagging-replicas: 2 settings/,/^best (/p' README.md | grep -E '^  setting  |^  maximum_lag_on_failover=[^:]* +200 |^best \(')
[ $status = 0 ] && echo "README sweep example: the table and the pick match"
exit $status
