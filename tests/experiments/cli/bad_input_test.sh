#!/usr/bin/env bash
# The bad-input matrix: every subcommand of the real `sandbox` binary fed unknown options, wrong types, bad
# sizes and learning rates, bad config files, bad output paths and bad HDF5 inputs.
#
#   bash tests/experiments/cli/bad_input_test.sh [SANDBOX_BINARY] [REPO_ROOT]      (ctest: cli.bad_input_matrix)
#   KEEP_TMP=1 ...    keep the scratch directory;   CASE_TIMEOUT=SECONDS   per case (default 60)
#
# Each case must (the contract of experiments/src/user_error.hpp):
#   * exit with status exactly 2;
#   * print exactly one line on stderr, and that line must mention the offending option, file or value;
#   * print nothing on stdout, and nothing from HDF5 ("HDF5-DIAG") anywhere;
#   * create no file (no temp file left over either) and change none: the scratch directory, fixtures
#     included, is listed with a sha256 of every file before and after the case and must be identical.
# Prints one line per case and, last, "N passed, M failed"; exit 0 only if nothing failed. Every case
# runs on every machine (none is passed over with a note).
set -uo pipefail
# shellcheck source=tests/experiments/cli/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hx_init "$@"

CASE_TIMEOUT=${CASE_TIMEOUT:-60}
WORK=$SCRATCH/work  # every case runs here; fixtures live here and must not change
CTRL=$SCRATCH/control  # positive controls write here
OUT=$SCRATCH/out
mkdir -p "$WORK" "$CTRL" "$OUT"
cd "$WORK" || exit 1

TINY=(--d-model 8 --dk 4 --dv 4 --seq-len 4 --batch 2 --steps 2 --no-gradcheck)

# ---- Fixtures ---------------------------------------------------------------------------------------
setup_ok=1
setup_fail() { hx_fail "setup: $1" "${@:2}"; setup_ok=0; }

"$SANDBOX" train "${TINY[@]}" --run taken --out existing.h5 >"$OUT/setup.out" 2>&1 \
  || setup_fail "existing.h5" "sandbox train could not make the fixture: $(tr '\n' ' ' <"$OUT/setup.out")"
"$SANDBOX" train "${TINY[@]}" --seed 1 --run taken --out other.h5 >"$OUT/setup.out" 2>&1 \
  || setup_fail "other.h5" "sandbox train could not make the fixture: $(tr '\n' ' ' <"$OUT/setup.out")"
printf 'this is a text file, not HDF5\n' >notes.txt
# Language-model corpora: an empty file, a binary one, one too short for the context, and a good one.
: >empty.txt
printf 'abc\000def\001\002ghi\n%.0s' {1..40} >binary.bin
printf 'short text\n' >short.txt
for i in {1..60}; do printf 'line %d of a small text for a tiny language model.\n' "$i"; done >small.txt
LM=(--model lm --d-model 8 --heads 2 --dk auto --dv auto --layers 1 --seq-len 8 --batch 2 --steps 2 --no-gradcheck)
"$SANDBOX" train "${LM[@]}" --text small.txt --run lm --out lm.h5 >"$OUT/setup.out" 2>&1 \
  || setup_fail "lm.h5" "sandbox train --model lm could not make the fixture: $(tr '\n' ' ' <"$OUT/setup.out")"
mkdir adir
ln -s loop_b.h5 loop_a.h5  # a loop of symbolic links: opening either fails with ELOOP
ln -s loop_a.h5 loop_b.h5
printf 'bogus = 1\n' >bogus.ini
printf 'dk = abc\n' >badvalue.ini
printf 'lr = -1\n' >badlr.ini
printf 'this line is not INI\n' >garbage.ini
printf '[train]\ndk = 4\n' >badsection.ini
printf 'dk = 4\nconfig = other.ini\n' >configkey.ini
printf 'lr = 0.1\ndk = 4\nlr = 0.2\n' >twice.ini

# sweep configs: a good one, and one per bad [grid]/[run] value
sweep_ini() {  # sweep_ini FILE GRID_LINES RUN_LINES
  printf '[grid]\n%b\n[run]\nd-model = 8\nseq-len = 4\nbatch = 2\nsteps = 2\nno-gradcheck = true\n%b\n' "$2" "$3" >"$1"
}
sweep_ini sweep_ok.ini 'dk = 2 4' ''
sweep_ini grid_dk_word.ini 'dk = 2 zz' ''
sweep_ini run_threads.ini 'dk = 2' 'threads = 2'
sweep_ini grid_threads.ini 'threads = 1 2' ''
printf 'threads = 2\n' >train_threads.ini
sweep_ini grid_dk_zero.ini 'dk = 2 0' ''
sweep_ini grid_dk_negative.ini 'dk = 2 -4' ''
sweep_ini grid_dk_fraction.ini 'dk = 2.5' ''
sweep_ini grid_dk_overflow.ini 'dk = 99999999999999999999' ''
sweep_ini grid_dk_empty.ini 'dk =' ''
sweep_ini grid_and_run.ini 'dk = 2\nseed = 0 1' 'seed = 3'
sweep_ini grid_repeated.ini 'dk = 2\nlr = 0.01 1e-2' ''
sweep_ini run_config_key.ini 'dk = 2' 'config = other.ini'
printf '[grid]\ndk = 2\n[sweeps]\nname = x\n' >sweep_badsection.ini
sweep_ini grid_scale.ini 'dk = 2\nscale = sqrt cubic' ''
sweep_ini grid_task.ini 'dk = 2\ntask = teacher nope' ''
sweep_ini grid_seed.ini 'dk = 2\nseed = 0 zz' ''
sweep_ini grid_seed_negative.ini 'dk = 2\nseed = -7' ''
sweep_ini grid_bogus.ini 'dk = 2\nbogus = 1' ''
sweep_ini run_bogus.ini 'dk = 2' 'bogus = 1'
sweep_ini run_lr_nan.ini 'dk = 2' 'lr = nan'
sweep_ini run_lr_zero.ini 'dk = 2' 'lr = 0'
sweep_ini run_optimizer.ini 'dk = 2' 'optimizer = rmsprop'
sweep_ini run_log_every_negative.ini 'dk = 2' 'log-every = -3'
printf '[grid]\ndk = 2\n[run]\nd-model = 100000000000\nseq-len = 100000\n' >run_absurd.ini
printf '[grid]\ndk = 2\n[run]\nbatch = abc\n' >run_batch_word.ini
printf 'dk = 2\n' >grid_nosection.ini
# several [grid] blocks: an empty one, one option twice in one block (in its two spellings), two blocks
# giving the same run; unknown keys answered with the closest option
printf '[grid]\nlr = 0.1 0.2\n[grid]\n[run]\nd-model = 8\nsteps = 2\n' >blocks_empty.ini
printf '[grid]\nlr = 0.1 0.2\n[grid]\nd-model = 8\nd_model = 16\n' >blocks_twice.ini
printf '[grid]\nlr = 0.1 0.2\n[grid]\nlr = 0.2 0.3\n[run]\nd-model = 8\nsteps = 2\n' >blocks_clash.ini
sweep_ini grid_optimiser.ini 'dk = 2\noptimiser = adam sgd' ''
sweep_ini run_optimiser.ini 'dk = 2' 'optimiser = sgd'
printf 'optimiser = sgd\n' >train_optimiser.ini
printf 'd_model = 8\nd-model = 16\n' >train_twice_spellings.ini

# grad inputs: one valid file, and variants that each break one thing
if [[ -n "$PY" ]]; then
  if ! "$PY" - <<'EOF' >"$OUT/fixtures.out" 2>&1; then
import h5py, numpy as np

def make(path, variant=""):
    rng = np.random.default_rng(0)
    B, n, dm, dk, dv, do = 2, 3, 5, 4, 6, 2
    X = rng.normal(size=(B, n, dm)); WQ = rng.normal(size=(dm, dk)); WK = rng.normal(size=(dm, dk))
    WV = rng.normal(size=(dm, dv)); WO = rng.normal(size=(dv, do)); Y = rng.normal(size=(B, n, do))
    if variant == "x_2d": X = X.reshape(B * n, dm)
    if variant == "wq_rows": WQ = rng.normal(size=(dm + 1, dk))
    if variant == "wk_cols": WK = rng.normal(size=(dm, dk + 1))
    if variant == "wo_rows": WO = rng.normal(size=(dv + 1, do))
    if variant == "y_dout": Y = rng.normal(size=(B, n, do + 1))
    if variant == "y_batch": Y = rng.normal(size=(B + 1, n, do))
    if variant == "wq_1d": WQ = WQ.reshape(dm * dk)
    if variant == "x_empty": X = np.zeros((0, n, dm))
    if variant == "dk0": WQ = np.zeros((dm, 0)); WK = np.zeros((dm, 0))
    if variant == "dv0": WV = np.zeros((dm, 0)); WO = np.zeros((0, do))
    if variant == "dout0": WO = np.zeros((dv, 0)); Y = np.zeros((B, n, 0))
    if variant == "huge": WQ = WQ * 1e300; WK = WK * 1e300
    with h5py.File(path, "w") as f:
        for name, data in (("params/W_Q", WQ), ("params/W_K", WK), ("params/W_V", WV), ("params/W_O", WO),
                           ("inputs/X", X), ("targets/Y", Y)):
            if variant != "no_" + name.split("/")[1]:
                f[name] = data
        if variant == "wq_group":
            del f["params/W_Q"]; f.create_group("params/W_Q")
        if variant == "x_huge":
            del f["inputs/X"]; f.create_dataset("inputs/X", shape=(1000000, 100000, 10), dtype="f8", chunks=(1, 100, 10))
        if variant == "n_huge":  # 12 KB on disk; X and Y are 40 MB, but the n x n scores would be 8 TB
            del f["inputs/X"], f["targets/Y"], f["params/W_O"]
            f.create_dataset("inputs/X", shape=(1, 1 << 20, dm), dtype="f8", chunks=(1, 4096, dm), fillvalue=0.1)
            f.create_dataset("targets/Y", shape=(1, 1 << 20, dv), dtype="f8", chunks=(1, 4096, dv))
        if variant == "no_scale": pass
        elif variant == "bad_scale": f.attrs["scale"] = "cubic"
        elif variant == "int_scale": f.attrs["scale"] = 3
        else: f.attrs["scale"] = "sqrt"
        if variant == "bad_causal": f.attrs["causal"] = 7

make("grad_ok.h5")
for v in ["x_2d", "wq_rows", "wk_cols", "wo_rows", "y_dout", "y_batch", "wq_1d", "x_empty", "no_W_Q", "no_W_K",
          "no_W_V", "no_X", "no_Y", "wq_group", "x_huge", "n_huge", "no_scale", "bad_scale", "int_scale", "bad_causal",
          "dk0", "dv0", "dout0", "huge"]:
    make("grad_%s.h5" % v, v)
with h5py.File("runs_dataset.h5", "w") as f:  # an HDF5 file whose /runs is a dataset, not a run file
    f["runs"] = np.zeros(3)
with h5py.File("damaged_names.h5", "w") as f:  # a run named with a newline and an escape sequence, and no data
    g = f.create_group("runs/bad\nname\x1b[31m")
    g.attrs["steps"] = np.int64(3)
EOF
    setup_fail "grad fixtures" "$(tr '\n' ' ' <"$OUT/fixtures.out")"
  fi
  size=$(stat -c %s grad_ok.h5 2>/dev/null || echo 0)
  head -c $((size / 2)) grad_ok.h5 >trunc_half.h5
  head -c $((size - 64)) grad_ok.h5 >trunc_tail.h5
  head -c 8 grad_ok.h5 >trunc_magic.h5
else
  setup_fail "python" "no Python with h5py (experiments/find_python.sh); the grad input cases cannot be made"
fi

# A pristine copy of the fixtures: a case that changes $WORK (a failure) gets it restored, so that one
# failure does not cascade into the cases after it.
PRISTINE=$SCRATCH/pristine
cp -a "$WORK" "$PRISTINE"

# ---- Positive controls: the fixtures are good where they should be, so the failures below are for the
# ---- reason each case names.
control() {  # control NAME ARGS... : must exit 0 (runs in $CTRL, not in $WORK)
  local name=$1
  shift
  if (cd "$CTRL" && timeout "$CASE_TIMEOUT" "$SANDBOX" "$@" </dev/null >"$OUT/ctrl.out" 2>"$OUT/ctrl.err"); then
    hx_pass "control: $name"
  else
    hx_fail "control: $name" "exit $? (want 0): $(head -c 300 "$OUT/ctrl.err" | tr '\n' ' ')"
  fi
}
control "train tiny" train "${TINY[@]}" --out "$CTRL/t.h5"
control "sweep_ok.ini" sweep --config "$WORK/sweep_ok.ini" --out "$CTRL/s.h5" --jobs 1 --quiet
[[ -n "$PY" ]] && control "grad_ok.h5" grad --in "$WORK/grad_ok.h5" --out "$CTRL/g.h5"
control "gradcheck --seeds 1" gradcheck --seeds 1
control "train lm" train "${LM[@]}" --text "$WORK/small.txt" --out "$CTRL/lm.h5"
control "sample lm.h5:lm" sample --run "$WORK/lm.h5:lm" --chars 20

# ---- The check --------------------------------------------------------------------------------------
# bad NAME NEEDLE... -- ARGS...   Runs `sandbox ARGS...` in $WORK. Every NEEDLE must appear (ignoring
# case) in the one stderr line; a needle "re:EXPR" is an extended regular expression instead of a string.
bad() {
  local name=$1
  shift
  local -a needles=()
  while (($# > 0)) && [[ $1 != -- ]]; do
    needles+=("$1")
    shift
  done
  shift
  hx_snapshot "$WORK" >"$OUT/before"
  # VMEM_LIMIT_KB, if set, caps the address space of that one case (ulimit -v).
  (
    [[ -z ${VMEM_LIMIT_KB:-} ]] || ulimit -v "$VMEM_LIMIT_KB" || exit 99
    exec timeout "$CASE_TIMEOUT" "$SANDBOX" "$@"
  ) </dev/null >"$OUT/stdout" 2>"$OUT/stderr"
  local rc=$?
  hx_snapshot "$WORK" >"$OUT/after"

  local err
  err=$(head -c 400 "$OUT/stderr" | tr '\n' '|')
  local -a why=()
  ((rc == 124)) && why+=("timed out after ${CASE_TIMEOUT}s")
  ((rc != 2)) && why+=("exit $rc (want 2)")
  local lines
  lines=$(awk 'END { print NR }' "$OUT/stderr")
  if ((lines != 1)); then
    why+=("$lines lines on stderr (want 1)")
  elif [[ $(tail -c 1 "$OUT/stderr" | od -An -c | tr -d ' ') != '\n' ]]; then
    why+=("the stderr line does not end with a newline")
  fi
  [[ -s "$OUT/stdout" ]] && why+=("stdout not empty: $(head -c 200 "$OUT/stdout" | tr '\n' '|')")
  grep -q "HDF5-DIAG" "$OUT/stdout" "$OUT/stderr" && why+=("HDF5 printed its error stack")
  local needle
  for needle in "${needles[@]}"; do
    if [[ $needle == re:* ]]; then
      grep -qiE -- "${needle#re:}" "$OUT/stderr" || why+=("stderr does not match /${needle#re:}/")
    else
      grep -qiF -- "$needle" "$OUT/stderr" || why+=("stderr does not mention '$needle'")
    fi
  done
  if ! cmp -s "$OUT/before" "$OUT/after"; then
    why+=("files created or changed: $(diff "$OUT/before" "$OUT/after" | grep '^[<>]' | head -5 | tr '\n' ' ')")
    cd "$SCRATCH" && rm -rf "$WORK" && cp -a "$PRISTINE" "$WORK" && cd "$WORK" || exit 1
  fi
  if ((${#why[@]} == 0)); then
    hx_pass "$name"
  else
    local joined
    joined=$(printf '%s; ' "${why[@]}")
    hx_fail "$name" "${joined%; } -- stderr: $err"
  fi
}

# ---- Unknown subcommands -----------------------------------------------------------------------------
bad "unknown subcommand" bogus -- bogus
bad "unknown subcommand (case)" TRAIN -- TRAIN --out new.h5
bad "option instead of subcommand" --bogus -- --bogus

# ---- Unknown options, every subcommand ---------------------------------------------------------------
for cmd in train sweep grad gradcheck theory explain bench merge sample; do
  bad "$cmd: unknown option" --bogus -- "$cmd" --bogus
done
# A stray word is not an option: it must be refused, not silently ignored (`--dk 4 8` would train dk 4).
bad "train: stray argument" stray -- train "${TINY[@]}" --out new.h5 stray
bad "train: two values for one option" "re:dk|'8'|\b8\b" -- train "${TINY[@]}" --out new.h5 --dk 4 8
bad "sweep: stray argument" stray -- sweep --config sweep_ok.ini --out new.h5 stray
bad "grad: stray argument" stray -- grad --in grad_ok.h5 --out new.h5 stray
bad "gradcheck: stray argument" stray -- gradcheck --seeds 1 stray
bad "theory: stray argument" stray -- theory --out new.h5 stray
bad "bench: stray argument" stray -- bench --quick stray
bad "train: option missing its value" dk -- train --out new.h5 --dk

# ---- train: types, sizes, learning rates, choices ------------------------------------------------------
bad "train: --dk abc" dk abc -- train --out new.h5 --dk abc
bad "train: --dk 1.5" dk 1.5 -- train --out new.h5 --dk 1.5
bad "train: --dk overflow" dk 99999999999999999999 -- train --out new.h5 --dk 99999999999999999999
bad "train: --steps abc" steps abc -- train --out new.h5 --steps abc
bad "train: --seed x" seed -- train --out new.h5 --seed x
bad "train: --dk 0" dk -- train --out new.h5 --dk 0
bad "train: --dv 0" dv -- train --out new.h5 --dv 0
bad "train: --d-model 0" d-model -- train --out new.h5 --d-model 0
bad "train: --batch -3" batch -3 -- train --out new.h5 --batch -3
bad "train: --seq-len -1" seq-len -- train --out new.h5 --seq-len -1
bad "train: --steps 0" steps -- train --out new.h5 --steps 0
bad "train: --log-every 0" log-every -- train --out new.h5 --log-every 0
bad "train: --d-out -1" d-out -- train --out new.h5 --d-out -1
bad "train: --seed -1" seed -- train --out new.h5 --seed -1
bad "train: --init-std -1" init-std -- train --out new.h5 --init-std -1
bad "train: --init-std nan" init-std -- train --out new.h5 --init-std nan
bad "train: absurd d-model and seq-len" 100000000000 -- train --out new.h5 --d-model 100000000000 --seq-len 100000
bad "train: absurd batch and seq-len" batch -- train --out new.h5 --batch 100000000 --seq-len 100000
bad "train: absurd dk" dk -- train --out new.h5 --dk 2000000000
bad "train: absurd steps" steps -- train --out new.h5 --steps 1000000000
bad "train: recall with seq-len 1" seq-len -- train --out new.h5 --task recall --seq-len 1
bad "train: sense with d-out 3" d-out -- train --out new.h5 --task sense --d-out 3
# One class: every label 0, a loss of 0 from the first step, a run that looks perfect and means nothing.
bad "train: recall with d-out 1" d-out recall -- train --out new.h5 --task recall --d-out 1
bad "train: lookup with d-out 1" d-out lookup -- train --out new.h5 --task lookup --model cross --context-len 4 --d-out 1
bad "train: --lr nan" lr nan -- train --out new.h5 --lr nan
bad "train: --lr NaN into existing file" lr nan -- train --out existing.h5 --lr NaN
bad "train: --lr -1" lr -1 -- train --out new.h5 --lr -1
bad "train: --lr -1e-9 (the message shows the value)" lr "re:-1(\\.0*)?e-0?9" -- train --out new.h5 --lr -1e-9
bad "train: --lr 0" lr -- train --out new.h5 --lr 0
bad "train: --lr inf" lr inf -- train --out new.h5 --lr inf
bad "train: --lr -inf" lr -- train --out new.h5 --lr -inf
bad "train: --lr abc" lr abc -- train --out new.h5 --lr abc
bad "train: --lr 1e400 (overflows)" lr 1e400 -- train --out new.h5 --lr 1e400
bad "train: unknown task" nope -- train --out new.h5 --task nope
bad "train: unknown scale" cubic -- train --out new.h5 --scale cubic
bad "train: unknown optimizer" rmsprop -- train --out new.h5 --optimizer rmsprop

# ---- train: config files -----------------------------------------------------------------------------
bad "train: unknown config key" bogus.ini bogus -- train --out new.h5 --config bogus.ini
bad "train: config value of the wrong type" badvalue.ini abc -- train --out new.h5 --config badvalue.ini
bad "train: config with a bad learning rate" lr -- train --out new.h5 --config badlr.ini
bad "train: config with a non-INI line" garbage.ini -- train --out new.h5 --config garbage.ini
bad "train: config with an unknown section" badsection.ini '[train]' -- train --out new.h5 --config badsection.ini
bad "train: config = inside the INI" config -- train --out new.h5 --config configkey.ini
bad "train: a key given twice in the INI" twice.ini lr -- train --out new.h5 --config twice.ini
bad "train: --dk 0" dk -- train --out new.h5 --dk 0
bad "train: --optimizer adamw with --beta2 1" beta2 -- train --out new.h5 --optimizer adamw --beta2 1
bad "train: --schedule unknown" linear -- train --out new.h5 --schedule linear
bad "train: --min-lr above --lr" min-lr -- train --out new.h5 --schedule cosine --lr 0.01 --min-lr 0.1
bad "train: --warmup-steps beyond --steps" warmup -- train --out new.h5 --steps 10 --warmup-steps 11
bad "train: --clip-grad-norm negative" clip-grad-norm -- train --out new.h5 --clip-grad-norm -1
bad "train: --weight-decay nan" weight-decay -- train --out new.h5 --weight-decay nan
bad "train: --eval-batches 0" eval-batches -- train --out new.h5 --eval-batches 0
bad "train: --causal maybe" causal maybe -- train --out new.h5 --causal=maybe
bad "train: --name with a control character" control -- train --out new.h5 --name "$(printf 'a\tb')"
bad "train: --name too long" 200 -- train --out new.h5 --name "$(printf 'x%.0s' $(seq 1 201))"
# HDF5 keeps names as UTF-8 and h5py decodes them so: a name that is not would make the file unreadable in Python.
bad "train: --name not UTF-8" UTF-8 'a\xffb' -- train --steps 50000000 --out new.h5 --name "$(printf 'a\377b')"
bad "train: --run not UTF-8 (a truncated sequence)" UTF-8 -- train --steps 50000000 --out new.h5 --run "$(printf 'ab\303')"
bad "sweep: --name template not UTF-8" UTF-8 -- sweep --config sweep_ok.ini --out new.h5 --name "$(printf '{dk}\300\200')"
bad "train: same name, different configuration" 'lr = 0.01' 'lr = 0.03' -- train "${TINY[@]}" --run taken --lr 0.03 --out existing.h5
bad "train: config file does not exist" missing.ini -- train --out new.h5 --config missing.ini
bad "train: config is a directory" adir -- train --out new.h5 --config adir

# ---- train: --out ------------------------------------------------------------------------------------
bad "train: --out missing" --out -- train "${TINY[@]}"
bad "train: --out empty" --out -- train "${TINY[@]}" --out ''
bad "train: --out in a missing directory" nodir -- train "${TINY[@]}" --out nodir/new.h5
bad "train: --out in a missing directory (absolute)" nodir -- train "${TINY[@]}" --out "$WORK/nodir/sub/new.h5"
bad "train: --out on a directory" adir -- train "${TINY[@]}" --out adir
bad "train: --out on a text file" notes.txt -- train "${TINY[@]}" --out notes.txt
bad "train: --out through a loop of symbolic links (before training)" loop_a.h5 loop -- train --steps 50000000 --out loop_a.h5
bad "sweep: --out through a loop of symbolic links" loop_a.h5 loop -- sweep --config sweep_ok.ini --out loop_a.h5
bad "train: run already in the file" taken -- train "${TINY[@]}" --run taken --out existing.h5
[[ -n "$PY" ]] && bad "train: --out on a truncated HDF5 file" trunc_half.h5 -- train "${TINY[@]}" --out trunc_half.h5
# Run names are group names under /runs: a '/' would write outside /runs (or, with --overwrite, replace
# /runs itself and lose every other run), '.' names the group itself.
bad "train: --run with a slash" a/b -- train "${TINY[@]}" --run a/b --out new.h5
bad "train: --run /runs --overwrite keeps the other runs" /runs -- train "${TINY[@]}" --run /runs --overwrite --out existing.h5
bad "train: --run ." run -- train "${TINY[@]}" --run . --out new.h5

# ---- sweep -------------------------------------------------------------------------------------------
bad "sweep: --config missing" --config -- sweep --out new.h5
bad "sweep: --out missing" --out -- sweep --config sweep_ok.ini
bad "sweep: config file does not exist" missing.ini -- sweep --config missing.ini --out new.h5
bad "sweep: [grid] dk not a number" dk zz -- sweep --config grid_dk_word.ini --out new.h5
bad "sweep: threads in [run]" "not a run option" -- sweep --config run_threads.ini --out new.h5
bad "sweep: threads in [grid]" "not a run option" -- sweep --config grid_threads.ini --out new.h5
bad "train: threads in a --config file" "not a run option" -- train --config train_threads.ini --out new.h5
bad "sweep: [grid] dk zero" dk -- sweep --config grid_dk_zero.ini --out new.h5
bad "sweep: [grid] dk negative" dk -4 -- sweep --config grid_dk_negative.ini --out existing.h5
bad "sweep: [grid] dk fraction" dk 2.5 -- sweep --config grid_dk_fraction.ini --out new.h5
bad "sweep: [grid] dk overflow" dk 99999999999999999999 -- sweep --config grid_dk_overflow.ini --out new.h5
bad "sweep: [grid] dk empty" dk -- sweep --config grid_dk_empty.ini --out new.h5
bad "sweep: a key both in [run] and [grid]" seed -- sweep --config grid_and_run.ini --out new.h5
bad "sweep: a repeated grid value" lr 1e-2 -- sweep --config grid_repeated.ini --out new.h5
bad "sweep: config = inside the INI" config -- sweep --config run_config_key.ini --out new.h5
bad "sweep: unknown section" sweeps -- sweep --config sweep_badsection.ini --out new.h5
bad "sweep: --name template with an unknown placeholder" nope -- sweep --config sweep_ok.ini --out new.h5 --name '{nope}'
bad "sweep: --name template that gives two runs one name" '{dk}' -- sweep --config sweep_ok.ini --out new.h5 --name 'same'
bad "sweep: [grid] unknown scale" cubic -- sweep --config grid_scale.ini --out new.h5
bad "sweep: [grid] unknown task" nope -- sweep --config grid_task.ini --out new.h5
bad "sweep: [grid] seed not a number" seed zz -- sweep --config grid_seed.ini --out new.h5
bad "sweep: [grid] seed negative" seed -- sweep --config grid_seed_negative.ini --out new.h5
bad "sweep: [grid] unknown key" bogus -- sweep --config grid_bogus.ini --out new.h5
bad "sweep: [run] unknown key" bogus -- sweep --config run_bogus.ini --out new.h5
bad "sweep: key outside any section" dk -- sweep --config grid_nosection.ini --out new.h5
bad "sweep: [run] lr nan" lr nan -- sweep --config run_lr_nan.ini --out new.h5
bad "sweep: [run] lr 0" lr -- sweep --config run_lr_zero.ini --out existing.h5
bad "sweep: [run] unknown optimizer" rmsprop -- sweep --config run_optimizer.ini --out new.h5
bad "sweep: [run] log-every negative" log-every -- sweep --config run_log_every_negative.ini --out new.h5
bad "sweep: [run] absurd sizes" 100000000000 -- sweep --config run_absurd.ini --out new.h5
bad "sweep: [run] batch not a number" batch abc -- sweep --config run_batch_word.ini --out new.h5
bad "sweep: --shard 3/2" shard 3/2 -- sweep --config sweep_ok.ini --out new.h5 --shard 3/2
bad "sweep: --shard x/y" shard x/y -- sweep --config sweep_ok.ini --out new.h5 --shard x/y
bad "sweep: --shard 1/0" shard 1/0 -- sweep --config sweep_ok.ini --out new.h5 --shard 1/0
bad "sweep: --shard -1/2" shard -1/2 -- sweep --config sweep_ok.ini --out new.h5 --shard -1/2
bad "sweep: --shard 1" shard -- sweep --config sweep_ok.ini --out new.h5 --shard 1
bad "sweep: --jobs 0" jobs -- sweep --config sweep_ok.ini --out new.h5 --jobs 0
bad "sweep: --jobs -1" jobs -- sweep --config sweep_ok.ini --out new.h5 --jobs -1
bad "sweep: --jobs abc" jobs abc -- sweep --config sweep_ok.ini --out new.h5 --jobs abc
bad "sweep: --jobs absurd" jobs -- sweep --config sweep_ok.ini --out new.h5 --jobs 100000
bad "sweep: --out in a missing directory" nodir -- sweep --config sweep_ok.ini --out nodir/new.h5
bad "sweep: --out on a directory" adir -- sweep --config sweep_ok.ini --out adir
bad "sweep: --out on a text file" notes.txt -- sweep --config sweep_ok.ini --out notes.txt
[[ -n "$PY" ]] && bad "sweep: --out on a truncated HDF5 file" trunc_half.h5 -- sweep --config sweep_ok.ini --out trunc_half.h5

# ---- grad --------------------------------------------------------------------------------------------
bad "grad: --in missing" --in -- grad --out new.h5
bad "grad: --out missing" --out -- grad --in grad_ok.h5
bad "grad: --in does not exist" nofile.h5 -- grad --in nofile.h5 --out new.h5
bad "grad: --in is a text file" notes.txt -- grad --in notes.txt --out new.h5
bad "grad: --in is a directory" adir -- grad --in adir --out new.h5
if [[ -n "$PY" ]]; then
  bad "grad: --in truncated to half" trunc_half.h5 -- grad --in trunc_half.h5 --out new.h5
  bad "grad: --in truncated by 64 bytes" trunc_tail.h5 -- grad --in trunc_tail.h5 --out existing.h5
  bad "grad: --in only the magic bytes" trunc_magic.h5 -- grad --in trunc_magic.h5 --out new.h5
  bad "grad: /params/W_Q missing" grad_no_W_Q.h5 W_Q -- grad --in grad_no_W_Q.h5 --out new.h5
  bad "grad: /params/W_K missing" W_K -- grad --in grad_no_W_K.h5 --out new.h5
  bad "grad: /params/W_V missing" W_V -- grad --in grad_no_W_V.h5 --out new.h5
  bad "grad: /inputs/X missing" /inputs/X -- grad --in grad_no_X.h5 --out new.h5
  bad "grad: /targets/Y missing" /targets/Y -- grad --in grad_no_Y.h5 --out new.h5
  bad "grad: X is 2-D" /inputs/X -- grad --in grad_x_2d.h5 --out new.h5
  bad "grad: X is empty" /inputs/X -- grad --in grad_x_empty.h5 --out new.h5
  bad "grad: X is absurdly large" /inputs/X -- grad --in grad_x_huge.h5 --out new.h5
  # n = 2^20 rows per sequence: the scores alone would take 8 TB. grad must refuse the sizes up front (as
  # RunConfig::validate does for train), not rely on bad_alloc, which AddressSanitizer turns into an abort
  # (allocation-size-too-big). Should that check go missing, a kernel that overcommits without limit
  # (vm.overcommit_memory=1) could grant the allocation and let it exhaust the machine's memory; a cap on
  # the address space (ulimit -v, 8 GiB) makes it fail instead, so the case runs everywhere. Not under
  # AddressSanitizer: its shadow memory needs terabytes of address space, and it refuses any allocation over
  # 1 TB by itself.
  # grep reads all of nm's output (no -q): with -q it would stop at the first match, nm would die of SIGPIPE
  # and pipefail would make the test false, the very case this guards against.
  if nm -D "$SANDBOX" 2>/dev/null | grep __asan_init >/dev/null; then
    bad "grad: n x n scores too large to fit" /inputs/X -- grad --in grad_n_huge.h5 --out new.h5
  else
    VMEM_LIMIT_KB=8388608 bad "grad: n x n scores too large to fit" /inputs/X -- grad --in grad_n_huge.h5 --out new.h5
  fi
  bad "grad: W_Q has the wrong rows" W_Q -- grad --in grad_wq_rows.h5 --out new.h5
  bad "grad: W_K has the wrong columns" W_K -- grad --in grad_wk_cols.h5 --out new.h5
  bad "grad: W_O has the wrong rows" W_O -- grad --in grad_wo_rows.h5 --out new.h5
  bad "grad: W_Q is 1-D" W_Q -- grad --in grad_wq_1d.h5 --out new.h5
  bad "grad: W_Q is a group" W_Q -- grad --in grad_wq_group.h5 --out new.h5
  bad "grad: Y has the wrong d_out" /targets/Y -- grad --in grad_y_dout.h5 --out new.h5
  bad "grad: Y has the wrong batch" /targets/Y -- grad --in grad_y_batch.h5 --out existing.h5
  bad "grad: scale attribute missing" scale -- grad --in grad_no_scale.h5 --out new.h5
  bad "grad: scale attribute unknown" cubic -- grad --in grad_bad_scale.h5 --out new.h5
  bad "grad: scale attribute not a string" scale -- grad --in grad_int_scale.h5 --out new.h5
  bad "grad: causal attribute not 0 or 1" causal -- grad --in grad_bad_causal.h5 --out new.h5
  bad "grad: --out in a missing directory" nodir -- grad --in grad_ok.h5 --out nodir/new.h5
  bad "grad: --out on a directory" adir -- grad --in grad_ok.h5 --out adir
  bad "grad: --out on a text file" notes.txt -- grad --in grad_ok.h5 --out notes.txt
  bad "grad: --out on a truncated HDF5 file" trunc_half.h5 -- grad --in grad_ok.h5 --out trunc_half.h5
fi

if [[ -n "$PY" ]]; then
  bad "grad: d_k = 0 (W_Q and W_K of 0 columns)" "d_k = 0" -- grad --in grad_dk0.h5 --out new.h5
  bad "grad: d_v = 0" "d_v = 0" -- grad --in grad_dv0.h5 --out new.h5
  bad "grad: W_O of 0 columns and Y of 0 columns" "d_out = 0" -- grad --in grad_dout0.h5 --out new.h5
  bad "grad: --out name too long for the file system" "too long" -- grad --in grad_ok.h5 --out "$(printf 'n%.0s' {1..263}).h5"
  # Finite weights of 1e300 overflow the logits: exit 3 (a numerical failure, not bad input), one line, and
  # no gradients written.
  hx_snapshot "$WORK" >"$OUT/before"
  timeout "$CASE_TIMEOUT" "$SANDBOX" grad --in grad_huge.h5 --out new.h5 >"$OUT/stdout" 2>"$OUT/stderr"
  rc=$?
  hx_snapshot "$WORK" >"$OUT/after"
  if [[ $rc -eq 3 && $(wc -l <"$OUT/stderr") -eq 1 ]] && grep -q "not finite" "$OUT/stderr" && cmp -s "$OUT/before" "$OUT/after"; then
    hx_pass "grad: weights of 1e300 give a non-finite loss: exit 3, nothing written"
  else
    hx_fail "grad: weights of 1e300" "exit $rc (want 3), stderr: $(head -c 300 "$OUT/stderr" | tr '\n' '|'), files changed: $(cmp -s "$OUT/before" "$OUT/after" && echo no || echo yes)"
  fi
  # Refused before training: a run of 50 million steps would time out.
  bad "train: --out whose /runs is a dataset" "/runs is not a group" -- train --steps 50000000 --out runs_dataset.h5
  bad "sweep: --out whose /runs is a dataset" "/runs is not a group" -- sweep --config sweep_ok.ini --out runs_dataset.h5
fi
bad "train: --out name too long for the file system (before training)" "too long" -- train --steps 50000000 --out "$(printf 'n%.0s' {1..263}).h5"
# The longest legal name works: temp and lock files have short names of their own.
control "train --out of a 250-character name" train "${TINY[@]}" --out "$CTRL/$(printf 'n%.0s' {1..247}).h5"

# ---- gradcheck ---------------------------------------------------------------------------------------
bad "gradcheck: --seeds 0" seeds -- gradcheck --seeds 0
bad "gradcheck: --seeds -1" seeds -- gradcheck --seeds -1
bad "gradcheck: --seeds abc" seeds abc -- gradcheck --seeds abc
bad "gradcheck: --seeds absurd" seeds -- gradcheck --seeds 100000

# ---- theory ------------------------------------------------------------------------------------------
bad "theory: --out missing" --out -- theory
bad "theory: --out in a missing directory" nodir -- theory --out nodir/t.h5
bad "theory: --out on a directory" adir -- theory --out adir
bad "theory: --out on a text file" notes.txt -- theory --out notes.txt
[[ -n "$PY" ]] && bad "theory: --out on a truncated HDF5 file" trunc_half.h5 -- theory --out trunc_half.h5
bad "theory: --keys 1" keys -- theory --out new.h5 --keys 1
bad "theory: --keys abc" keys abc -- theory --out new.h5 --keys abc
bad "theory: --keys absurd" keys -- theory --out new.h5 --keys 100000000
bad "theory: --max-dk 0" max-dk -- theory --out new.h5 --max-dk 0
bad "theory: --max-dk not a power of 2" max-dk -- theory --out new.h5 --max-dk 3
bad "theory: --max-dk absurd" max-dk -- theory --out existing.h5 --max-dk 1073741824
bad "theory: --samples 0" samples -- theory --out new.h5 --samples 0
bad "theory: --samples -5" samples -- theory --out new.h5 --samples -5
bad "theory: --samples absurd" samples -- theory --out new.h5 --samples 100000000000
bad "theory: --seed -1" seed -- theory --out new.h5 --seed -1
bad "theory: --seed x" seed -- theory --out new.h5 --seed x

# ---- explain -----------------------------------------------------------------------------------------
bad "explain: unknown example" no-such-example -- explain --example no-such-example
bad "explain: --example without a name" example -- explain --example
bad "explain: stray argument" stray -- explain stray
bad "explain: --example given twice" example -- explain --example no-such-example --example other

# ---- one name per setting: an unknown one gets the closest ("did you mean"), on every surface ----------
bad "train: --optimiser (did you mean)" "re:did you mean '--optimizer'" -- train --out new.h5 --optimiser adam
bad "train: --seq-lem= (did you mean)" "re:did you mean '--seq-len'" -- train --out new.h5 --seq-lem=4
bad "train: INI optimiser (did you mean)" train_optimiser.ini "re:did you mean 'optimizer'" -- train --out new.h5 --config train_optimiser.ini
bad "train: INI d_model and d-model both" train_twice_spellings.ini re:d.model -- train --out new.h5 --config train_twice_spellings.ini
bad "train: --name {optimiser} (did you mean)" "re:\\{optimiser\\}.*did you mean 'optimizer'" -- train "${TINY[@]}" --out new.h5 --name '{optimiser}'
bad "sweep: --run.optimiser (did you mean)" "re:did you mean '--run.optimizer'" -- sweep --config sweep_ok.ini --out new.h5 --run.optimiser sgd
bad "sweep: --grid.optimiser (did you mean)" "re:did you mean '--grid.optimizer'" -- sweep --config sweep_ok.ini --out new.h5 --grid.optimiser sgd
bad "sweep: [grid] optimiser (did you mean)" grid_optimiser.ini "re:did you mean 'optimizer'" -- sweep --config grid_optimiser.ini --out new.h5
bad "sweep: [run] optimiser (did you mean)" run_optimiser.ini "re:did you mean 'optimizer'" -- sweep --config run_optimiser.ini --out new.h5
bad "sweep: [sweep] name {optimiser} (did you mean)" "re:did you mean 'optimizer'" -- sweep --config sweep_ok.ini --out new.h5 --name '{dk}{optimiser}'
bad "sweep: --dry-run with an unknown option" "re:did you mean '--dry-run'" -- sweep --config sweep_ok.ini --dryrun
# A command-line value's message starts with the option, not with an empty origin (": --dk ...").
bad "train: --dk 0 names the option first" "re:^sandbox train: --dk " -- train --out new.h5 --dk 0

# ---- several [grid] blocks ---------------------------------------------------------------------------
bad "sweep: an empty [grid] block among several" blocks_empty.ini:3 "no keys" -- sweep --config blocks_empty.ini --out new.h5
bad "sweep: d-model and d_model in one [grid] block" blocks_twice.ini:5 "given twice" -- sweep --config blocks_twice.ini --out new.h5
bad "sweep: two [grid] blocks give the same run" blocks_clash.ini:1 blocks_clash.ini:3 "both give the run" -- sweep --config blocks_clash.ini --out new.h5
bad "sweep: --dry-run refuses a clash too" blocks_clash.ini:3 -- sweep --config blocks_clash.ini --dry-run
bad "sweep: --dry-run with a bad value" dk zz -- sweep --config grid_dk_word.ini --dry-run

# ---- divergence bound --------------------------------------------------------------------------------
bad "train: --diverge-factor 1" diverge-factor -- train --out new.h5 --diverge-factor 1
bad "train: --diverge-factor -1" diverge-factor -- train --out new.h5 --diverge-factor -1
bad "train: --diverge-factor nan" diverge-factor -- train --out new.h5 --diverge-factor nan

# ---- the teacher's temperature -------------------------------------------------------------------------
bad "train: --teacher-temperature 0" teacher-temperature -- train --out new.h5 --teacher-temperature 0
bad "train: --teacher-temperature nan" teacher-temperature -- train --out new.h5 --teacher-temperature nan
bad "train: --teacher-temperature on recall" teacher-temperature "task teacher" -- train --task recall --out new.h5 --teacher-temperature 0.5

bad "train: --threads 0" threads -- train --task recall --steps 2 --threads 0 --out t.h5

# ---- bench -------------------------------------------------------------------------------------------
bad "bench: --repeats 0" repeats -- bench --quick --repeats 0
bad "bench: --repeats abc" repeats abc -- bench --quick --repeats abc
bad "bench: --repeats absurd" repeats -- bench --quick --repeats 1000000
bad "bench: --threads 1" threads -- bench --quick --threads 1
bad "bench: --threads abc" threads abc -- bench --quick --threads abc
bad "bench: --threads with --breakdown" threads -- bench --quick --breakdown --threads 2
bad "bench: --out in a missing directory" nodir -- bench --quick --out nodir/b.h5
bad "bench: --out on a directory" adir -- bench --quick --out adir
bad "bench: --out on a text file" notes.txt -- bench --quick --out notes.txt
[[ -n "$PY" ]] && bad "bench: --out on a truncated HDF5 file" trunc_half.h5 -- bench --quick --out trunc_half.h5
bad "bench: --quick given a value" quick -- bench --quick=yes

# ---- The language model's corpus (--text) and options, and sandbox sample ----------------------------------
bad "lm: --text missing" nofile.txt -- train "${LM[@]}" --text nofile.txt --out new.h5
bad "lm: --text empty" empty.txt empty -- train "${LM[@]}" --text empty.txt --out new.h5
bad "lm: --text binary" binary.bin binary -- train "${LM[@]}" --text binary.bin --out new.h5
bad "lm: --text a directory" adir directory -- train "${LM[@]}" --text adir --out new.h5
bad "lm: --text shorter than the context needs" short.txt characters -- train "${LM[@]}" --text short.txt --out new.h5
bad "lm: --layers 0" layers -- train "${LM[@]}" --text small.txt --layers 0 --out new.h5
bad "--layers without --model lm" layers -- train "${TINY[@]}" --layers 2 --out new.h5
bad "--text without --model lm" text -- train "${TINY[@]}" --text small.txt --out new.h5
bad "lm: --task recall" recall -- train "${LM[@]}" --task recall --out new.h5
bad "sample: no --run" run -- sample
bad "sample: --run without a name" run -- sample --run lm.h5
bad "sample: file missing" nofile.h5 -- sample --run nofile.h5:lm
bad "sample: not HDF5" notes.txt -- sample --run notes.txt:lm
bad "sample: no such run" nosuchrun -- sample --run lm.h5:nosuchrun
bad "sample: not a language model's run" "not a language model" -- sample --run existing.h5:taken
bad "sample: --chars 0" chars -- sample --run lm.h5:lm --chars 0
bad "sample: --chars not a number" chars -- sample --run lm.h5:lm --chars many

# ---- merge (sandbox merge OUT.h5 IN.h5...) -------------------------------------------------------------
bad "merge: no files" merge -- merge
bad "merge: no input file" input -- merge new.h5
bad "merge: input does not exist" nofile.h5 -- merge new.h5 nofile.h5
bad "merge: input is a text file" notes.txt -- merge new.h5 notes.txt
[[ -n "$PY" ]] && bad "merge: input is truncated HDF5" trunc_half.h5 -- merge new.h5 trunc_half.h5
bad "merge: input is a directory" adir -- merge new.h5 adir
bad "merge: output in a missing directory" nodir -- merge nodir/m.h5 existing.h5
bad "merge: output is a directory" adir -- merge adir existing.h5
bad "merge: output is a text file" notes.txt -- merge notes.txt existing.h5
bad "merge: output through a loop of symbolic links" loop_a.h5 loop -- merge loop_a.h5 existing.h5
bad "merge: input through a loop of symbolic links" loop_b.h5 -- merge new.h5 loop_b.h5
# A name read from a file is printed escaped: a newline in it must not split the line, nor an escape
# sequence reach the terminal.
[[ -n "$PY" ]] && bad "merge: a damaged run whose name holds a newline and an escape" 'bad\x0aname\x1b[31m' damaged \
  -- merge new.h5 damaged_names.h5
bad "merge: run already in the output" taken -- merge existing.h5 other.h5
bad "merge: same run in two inputs" taken -- merge new.h5 existing.h5 other.h5

((setup_ok)) || echo "(setup problems above: some cases may fail for that reason)"
hx_summary
