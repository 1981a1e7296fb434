#!/usr/bin/env bash
# The √d_k study, end to end: installs what is missing, builds, runs the Monte Carlo theory and the
# study's sweeps (experiments/study/*.ini), draws the figures and writes the summary.
#
#   experiments/reproduce.sh            resume: runs already complete in the study's files are kept
#   experiments/reproduce.sh --fresh    start over (the old files are moved to OUT/study.previous/)
#   experiments/reproduce.sh --full     5 seeds instead of 3 at d_model 512, and the d_model = 32 grids
#                                       (dk, heads, lr, lr_mup: the small contrast) with 10 seeds
#   experiments/reproduce.sh --tiny     a tiny grid of short runs: checks the pipeline in seconds (tests)
#   --out DIR        where to write (default: results)
#   --sandbox PATH   use this sandbox binary instead of building build/sandbox
#   --jobs N         runs in parallel (default: the number of cores)
#
# Outputs: OUT/theory.h5, OUT/study/wide_*.h5 and lm.h5, lm_sample.h5 (and {dk,heads,lr}.h5 with --full
#          or --tiny), OUT/figures/*.png|svg, OUT/summary.md
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
fresh=0 size=quick out=results sandbox="" jobs=$(nproc 2>/dev/null || echo 2)
while (($#)); do
  case "$1" in
    --fresh) fresh=1 ;;
    --full) size=full ;;
    --tiny) size=tiny ;;
    --out|--sandbox|--jobs)
      (($# >= 2)) || { echo "reproduce.sh: $1 needs a value" >&2; exit 2; }
      case "$1" in --out) out=$2 ;; --sandbox) sandbox=$2 ;; --jobs) jobs=$2 ;; esac
      shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "reproduce.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
started=$SECONDS
step() { printf '\n==> [%3ds] %s\n' $((SECONDS - started)) "$*"; }

# The grids: the INI files as they are (quick), with more seeds (full), or cut down (tiny). Each array
# holds extra `sandbox sweep` options for one file. The default study is the one at d_model 512 (wide_*.ini);
# the d_model = 32 grids (dk, heads, lr, lr_mup) run with --full, as a contrast, and in --tiny for the test.
small=0
case "$size" in
  quick) wide_opts=() wide_init_opts=() theory_opts=() ;;
  full)
    small=1 wide_opts=(--grid.seed "0 1 2 3 4") wide_init_opts=(--grid.seed "0 1 2 3 4")
    seeds=(--grid.seed "0 1 2 3 4 5 6 7 8 9")
    dk_opts=("${seeds[@]}" --grid.dk "1 2 4 8 16 32 64 128 256 1024") heads_opts=("${seeds[@]}")
    lr_opts=("${seeds[@]}") theory_opts=() mup_dks=(4 32 256) ;;
  tiny)
    small=1
    wide_init_opts=(--grid.seed "0 1" --grid.dk "16 64")
    wide_opts=(--grid.seed "0 1" --grid.dk "16 64" --grid.lr "0.001 0.1" --run.steps 10 --run.eval-every 5)
    short=(--run.steps 20 --run.eval-every 10 --grid.seed "0 1")
    dk_opts=("${short[@]}" --grid.dk "2 8 64") heads_opts=("${short[@]}" --grid.heads "1 4")
    lr_opts=("${short[@]}" --grid.dk "4 64" --grid.lr "0.001 0.01 0.1")
    theory_opts=(--samples 2000 --max-dk 64) mup_dks=(4 64) ;;
esac

if [[ -z "$sandbox" ]]; then
  step "installing what is missing"
  experiments/install_deps.sh all
  step "building (Release) in build/"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  # Progress on one line per tenth of the build (the full log in build/reproduce-build.log): a first build
  # takes minutes on 2 cores, and silence looks like a hang.
  built=0
  cmake --build build --target sandbox -j"$jobs" 2>&1 | tee build/reproduce-build.log |
    awk 'match($0, /^\[ *[0-9]+%\]/) { p = substr($0, 2, RLENGTH - 3) + 0;
         if (int(p / 10) > shown) { shown = int(p / 10); printf "    %3d%% built\n", p; fflush() } }' || built=$?
  if ((built != 0)); then
    tail -n 40 build/reproduce-build.log
    echo "reproduce.sh: the build failed (full log: build/reproduce-build.log)" >&2
    exit 1
  fi
  sandbox=build/sandbox
else
  experiments/install_deps.sh plots
fi
[[ -x "$sandbox" ]] || { echo "reproduce.sh: $sandbox is not an executable" >&2; exit 2; }
PY=$(experiments/find_python.sh)

mkdir -p "$out/study"
if ((fresh)) && compgen -G "$out/study/*.h5" >/dev/null; then
  rm -rf "$out/study.previous" && mkdir -p "$out/study.previous"
  mv -f "$out"/study/*.h5 "$out/study.previous/"
  echo "moved the old study files to $out/study.previous/"
fi

step "theory: Monte Carlo of Var(q·k) and softmax saturation against d_k"
"$sandbox" theory --out "$out/theory.h5" "${theory_opts[@]}"

sweep() { "$sandbox" sweep --jobs "$jobs" "$@"; }
step "sweep: experiments/study/wide_init.ini (d_model 512: the initialisation map, one step per run) into $out/study/wide_init.h5"
sweep --config experiments/study/wide_init.ini --out "$out/study/wide_init.h5" "${wide_init_opts[@]}"
for name in wide_train wide_sharp wide_heads wide_precision; do
  step "sweep: experiments/study/$name.ini (d_model 512) into $out/study/$name.h5"
  sweep --config "experiments/study/$name.ini" --out "$out/study/$name.h5" "${wide_opts[@]}"
done

if ((small)); then
  step "sweep: experiments/study/dk.ini (d_model 32: every scale against d_k, d_v fixed) into $out/study/dk.h5"
  sweep --config experiments/study/dk.ini --out "$out/study/dk.h5" "${dk_opts[@]}"
  step "sweep: experiments/study/heads.ini (d_model 32 split into h heads) into $out/study/heads.h5"
  sweep --config experiments/study/heads.ini --out "$out/study/heads.h5" "${heads_opts[@]}"
  step "sweep: experiments/study/lr.ini (d_model 32: learning-rate sensitivity) into $out/study/lr.h5"
  sweep --config experiments/study/lr.ini --out "$out/study/lr.h5" "${lr_opts[@]}"
  for d in "${mup_dks[@]}"; do
    # The µP arm: sqrt scaling with the query/key learning rate divided by √d_k (d_k and the multiplier go
    # together, so one sweep per d_k; the lr grid's d_k axis is not used here).
    mult=$("$PY" -c "import math; print(repr(1 / math.sqrt($d)))")
    step "sweep: experiments/study/lr_mup.ini at d_k = $d (lr-qk-mult = $mult) into $out/study/lr.h5"
    lr_mup_opts=()
    for ((i = 0; i < ${#lr_opts[@]}; i++)); do  # the lr grid's options, without its d_k axis
      if [[ ${lr_opts[i]} == --grid.dk ]]; then i=$((i + 1)); else lr_mup_opts+=("${lr_opts[i]}"); fi
    done
    sweep --config experiments/study/lr_mup.ini --out "$out/study/lr.h5" --run.dk "$d" --run.lr-qk-mult "$mult" "${lr_mup_opts[@]}"
  done
fi

# ---- The language model's learning-rate grid (experiments/study/lm_lr.ini): Wortsman et al. 2023 at small
# scale, none, sqrt and qknorm over 7 learning rates at two head widths. quick: the INI as it is (126 runs,
# seeds 0-2); full: d_model 128, context 64, 500 steps, seeds 0-4 (210 runs); tiny: 36 runs of 20 steps at
# d_model 16. `sqrtdk study` draws its figures (lm_*) and writes its section of the summary from lm.h5
# (experiments/sqrtdk/lm_figures.py).
case "$size" in  # options of the runs, then of the grid
  quick) lm_run=() lm_grid=() ;;
  full) lm_run=(--run.d-model 128 --run.seq-len 64 --run.steps 500 --run.warmup-steps 50) lm_grid=(--grid.seed "0 1 2 3 4") ;;
  tiny) lm_run=(--run.d-model 16 --run.seq-len 16 --run.steps 20 --run.warmup-steps 2 --run.eval-every 10 --run.log-every 5)
        lm_grid=(--grid.heads "1 2" --grid.lr "0.01 0.3 3" --grid.seed "0 1") ;;
esac
step "sweep: experiments/study/lm_lr.ini (language model, learning-rate sensitivity) into $out/study/lm.h5"
sweep --config experiments/study/lm_lr.ini --out "$out/study/lm.h5" "${lm_run[@]}" "${lm_grid[@]}"
# One run of the grid's settings with its final weights (the grid keeps none), and what it learned to write.
step "the language model's run with weights (sqrt, 4 heads, lr 0.01, seed 0) into $out/study/lm_sample.h5, and a sample"
sweep --config experiments/study/lm_lr.ini --out "$out/study/lm_sample.h5" "${lm_run[@]}" --grid.heads 4 --grid.scale sqrt \
  --grid.lr 0.01 --grid.seed 0 --run.save-weights final --name sample
"$sandbox" sample --run "$out/study/lm_sample.h5:sample" --chars 300 --seed 1
# ---- end of the language model's grid

step "figures and summary into $out/figures/ and $out/summary.md"
PYTHONPATH="$root/experiments${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m sqrtdk figures --theory "$out/theory.h5" --out "$out/figures"
PYTHONPATH="$root/experiments${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m sqrtdk study --study "$out/study" --out "$out"

printf '\ndone in %d s: %s/theory.h5, %s/study/*.h5, %s/figures/, %s/summary.md\n' $((SECONDS - started)) "$out" "$out" "$out" "$out"
