#!/usr/bin/env bash
# A sweep as a Slurm job array of SHARDS shards (slurm_array.sbatch beside this file), and a job that merges
# them into OUT once every shard has succeeded (it is cancelled if one fails). Prints the two job ids.
# Usage: experiments/scaleout/slurm_submit.sh [CONFIG [OUT [SHARDS]]]
#   (defaults: experiments/sqrt_dk.ini results/sqrt_dk.h5 16). Run it from a directory every node sees: the
#   jobs run there, the shards and Slurm's logs go to OUT's name with .parts. SANDBOX is the binary (default
#   build/sandbox). Partition, account or time limit: sbatch's variables SBATCH_PARTITION, SBATCH_ACCOUNT,
#   SBATCH_TIMELIMIT.
set -euo pipefail
config=${1:-experiments/sqrt_dk.ini}
out=${2:-results/sqrt_dk.h5}
shards=${3:-16}
export SANDBOX=${SANDBOX:-build/sandbox}
parts=${out%.h5}.parts
parts_files=()
for ((i = 0; i < shards; i++)); do parts_files+=("$parts/part$i.h5"); done
mkdir -p "$parts"
array=$(sbatch --parsable --array=0-$((shards - 1)) --output="$parts/slurm-%a.out" \
    "$(dirname "$0")/slurm_array.sbatch" "$config" "$parts")
array=${array%%;*}  # "id;cluster" where there are several clusters
merge=$(sbatch --parsable --dependency=afterok:"$array" --kill-on-invalid-dep=yes --job-name=sandbox-merge \
    --output="$parts/slurm-merge.out" \
    --wrap="$(printf '%q ' "$SANDBOX" merge "$out" "${parts_files[@]}")")
echo "shards: job array $array; merge into $out: job ${merge%%;*}"
