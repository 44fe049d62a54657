#!/bin/sh
# A sweep in 8 shards over the machines GNU parallel reaches (-S host1,host2; drop it for
# local cores), one store each, then merged. Each shard is told its slice: --shard {}/8.
N=8
seq 1 "$N" | parallel -j "$N" \
    simctl sweep Scenarios/primary-crash.yml --set patroni.ttl=20,30,45 --seeds 1000 --workers 1 \
    --shard {}/"$N" --db shard-{}.sqlite
simctl merge shard-*.sqlite --into all.sqlite
simctl sweep Scenarios/primary-crash.yml --set patroni.ttl=20,30,45 --seeds 1000 --resume --db all.sqlite
