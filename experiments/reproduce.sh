#!/usr/bin/env bash
# The √d_k study, end to end: installs what is missing, builds, runs the Monte Carlo theory and the
# sweep of experiments/sqrt_dk.ini, draws the figures and prints the summary table.
#
#   experiments/reproduce.sh            resume: runs already complete in results/sqrt_dk.h5 are kept
#   experiments/reproduce.sh --fresh    start over (the old file is kept as results/sqrt_dk.h5.previous)
#
# Outputs: results/theory.h5, results/sqrt_dk.h5, results/figures/*.png|svg, results/summary.txt|md
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
fresh=0
for arg in "$@"; do
  case "$arg" in
    --fresh) fresh=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "reproduce.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
started=$SECONDS
step() { printf '\n==> [%3ds] %s\n' $((SECONDS - started)) "$*"; }

step "installing what is missing"
experiments/install_deps.sh all
PY=$(experiments/find_python.sh)

step "building (Release) in build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
if ! cmake --build build --target sandbox -j"$(nproc 2>/dev/null || echo 2)" > build/reproduce-build.log 2>&1; then
  tail -n 40 build/reproduce-build.log
  echo "reproduce.sh: the build failed (full log: build/reproduce-build.log)" >&2
  exit 1
fi
sandbox=build/sandbox

mkdir -p results
if ((fresh)) && [[ -f results/sqrt_dk.h5 ]]; then
  mv -f results/sqrt_dk.h5 results/sqrt_dk.h5.previous
  echo "moved the old sweep to results/sqrt_dk.h5.previous"
fi

step "theory: Monte Carlo of Var(q·k) and softmax saturation against d_k"
"$sandbox" theory --out results/theory.h5

step "sweep: experiments/sqrt_dk.ini into results/sqrt_dk.h5"
"$sandbox" sweep --config experiments/sqrt_dk.ini --out results/sqrt_dk.h5

step "figures into results/figures/"
"$PY" experiments/plots/plot_study.py --sweep results/sqrt_dk.h5 --theory results/theory.h5 --out results/figures

step "summary: scaled (sqrt) against unscaled (none), mean over seeds"
"$PY" experiments/plots/summary_table.py --sweep results/sqrt_dk.h5 --markdown > results/summary.md
"$PY" experiments/plots/summary_table.py --sweep results/sqrt_dk.h5 | tee results/summary.txt

printf '\ndone in %d s: results/theory.h5, results/sqrt_dk.h5, results/figures/, results/summary.txt\n' $((SECONDS - started))
