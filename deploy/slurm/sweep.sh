#!/bin/bash
# A meshsim sweep as a Slurm job array: array task k runs shard k of SHARDS and writes
# sweep-part-k-of-SHARDS.json to OUT (a directory every node sees); a second job, held until
# every array task has succeeded (afterok), merges them into sweep.json, sweep.md and
# sweep.html, byte-identical to the unsharded sweep's.
#
#   sbatch deploy/slurm/sweep.sh                       # submits the array and the merge
#   SCENARIO=scenarios/canary.yaml SEEDS=200 SHARDS=4 sbatch deploy/slurm/sweep.sh
#
# Run it from the repository (or any folder holding the scenario and its mesh files, at the
# paths the scenario names). meshsim must be on PATH on the compute nodes.
#SBATCH --job-name=meshsim-sweep
#SBATCH --cpus-per-task=2
#SBATCH --time=02:00:00
#SBATCH --output=meshsim-sweep-%A_%a.log
set -euo pipefail

SCENARIO=${SCENARIO:-scenarios/canary-bad-errors.yaml}
SEEDS=${SEEDS:-1000}
SHARDS=${SHARDS:-8}
OUT=${OUT:-sweep-results}

if [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then
    # Submitted as a plain job: submit the array, then the merge after it.
    mkdir -p "$OUT"
    array=$(sbatch --parsable --array=1-"$SHARDS" --export=ALL,SCENARIO="$SCENARIO",SEEDS="$SEEDS",SHARDS="$SHARDS",OUT="$OUT" "$0")
    sbatch --dependency=afterok:"$array" --job-name=meshsim-sweep-merge --cpus-per-task=1 \
        --output=meshsim-sweep-merge-%j.log --wrap="meshsim sweep merge '$OUT'"
    echo "array job $array; merge waits for it; results in $OUT/"
    exit 0
fi

exec meshsim sweep "$SCENARIO" --seeds "$SEEDS" --jobs "${SLURM_CPUS_PER_TASK:-1}" --quiet \
    --shard "$SLURM_ARRAY_TASK_ID/$SHARDS" --out "$OUT"
