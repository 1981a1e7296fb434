#!/usr/bin/env bash
# A sweep cut into SHARDS disjoint shards that GNU parallel runs side by side, then merged into one file.
# Usage: experiments/scaleout/parallel.sh [CONFIG [OUT [SHARDS]]]
#   (defaults: experiments/sqrt_dk.ini results/sqrt_dk.h5 4). The shards are kept in OUT's name with .parts:
#   run it again after an interruption and each shard resumes. SANDBOX is the binary (default build/sandbox).
#   GNU parallel takes more options from $PARALLEL, e.g. PARALLEL='-S host1,host2 --workdir .' to spread
#   the shards over machines that see this directory at the same path.
set -euo pipefail
config=${1:-experiments/sqrt_dk.ini}
out=${2:-results/sqrt_dk.h5}
shards=${3:-4}
sandbox=${SANDBOX:-build/sandbox}
parts=${out%.h5}.parts
parts_files=()
for ((i = 0; i < shards; i++)); do parts_files+=("$parts/part$i.h5"); done
mkdir -p "$parts"
parallel --halt soon,fail=1 "$sandbox" sweep --config "$config" --jobs 1 --quiet \
    --shard {}/"$shards" --out "$parts"/part{}.h5 ::: $(seq 0 $((shards - 1)))
"$sandbox" merge "$out" "${parts_files[@]}"
