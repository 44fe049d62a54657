#!/bin/sh
# A sweep in 16 shards as a Slurm job array: sbatch docs/recipes/slurm-array.sh
# `--shard auto` reads SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT.
# Afterwards:
#   simctl merge results/shard-*.sqlite --into all.sqlite
#   simctl sweep Scenarios/primary-crash.yml --set patroni.ttl=20,30,45 --seeds 1000 --resume --db all.sqlite
#SBATCH --job-name=simctl-sweep
#SBATCH --array=1-16
#SBATCH --cpus-per-task=2
#SBATCH --time=00:30:00
mkdir -p results
exec simctl sweep Scenarios/primary-crash.yml --set patroni.ttl=20,30,45 --seeds 1000 \
    --shard auto --workers "${SLURM_CPUS_PER_TASK:-2}" --db "results/shard-${SLURM_ARRAY_TASK_ID}.sqlite"
