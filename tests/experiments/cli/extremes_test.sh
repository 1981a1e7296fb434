#!/usr/bin/env bash
# Numerical extremes, driven through the real `sandbox` binary and checked in the HDF5 file with h5py.
#
#   bash tests/experiments/cli/extremes_test.sh [SANDBOX_BINARY] [REPO_ROOT]      (ctest: cli.numerical_extremes)
#   KEEP_TMP=1 ... keeps the scratch directory.
#
# 1. Unscaled attention at d_k = 4096 (small batch, sequence and step count so that it is quick), with
#    --init-std 0.5 so that the logits start with a standard deviation of several hundred: the softmax is
#    saturated, yet training must stay finite: exit 0, status complete, logit_std >= 100 at every logged
#    step, saturated_fraction high, every series finite. Both a regression (teacher) and a classification
#    (recall, cross-entropy) task.
# 2. A learning rate of 1e3 with SGD (momentum 0.9) on the teacher task diverges within ~60 steps for
#    every seed tried. With --diverge-factor 0 (only a non-finite step stops it): status diverged, one
#    clear line on stderr ("diverged at step K: ..."), an exit code that is neither success (0), internal
#    error (1) nor bad input (2), and the file still holds steps 0..K-1, all finite. With the default bound
#    (100x the first loss) it stops earlier, at the first step K whose loss passes the bound: the same exit
#    code and line (naming the bound), steps 0..K in the file (K's loss past the bound, all finite), and
#    diverged_step = K. (Adam does not diverge at lr 1e3: its step is bounded by lr.)
# 3. The same divergence inside a sweep is a result: the sweep completes, reports it, and stores the run
#    with status diverged.
# Prints one line per check and, last, "N passed, M failed"; exit 0 only if nothing failed.
set -uo pipefail
# shellcheck source=tests/experiments/cli/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hx_init "$@"
cd "$SCRATCH" || exit 1

if [[ -z "$PY" ]]; then
  hx_fail "setup" "no Python with h5py (experiments/find_python.sh): the files cannot be checked"
  hx_summary
  exit 1
fi

# check_run FILE RUN KEY=VALUE...: checks a run in a file with h5py; prints "ok <what>" / "FAIL <what>"
# lines. Keys: status, steps (exact count), max_steps, min_logit_std, min_saturated_mean, lr, diverged_step,
# past_bound (the last loss is over that many times the first, every earlier one is not).
check_run() {
  "$PY" - "$@" <<'EOF' || echo "FAIL the h5py check of $2 in $1 crashed (exit $?; traceback above)"
import sys
import h5py, numpy as np
path, run, *expect = sys.argv[1:]
want = dict(e.split("=", 1) for e in expect)
def report(ok, what):
    print(("ok " if ok else "FAIL ") + what)
try:
    f = h5py.File(path, "r")
except Exception as e:
    report(False, "%s opens with h5py (%s)" % (path, e)); sys.exit(0)
with f:
    if "runs/" + run not in f:
        report(False, "run %s is in %s (runs: %s)" % (run, path, list(f.get("runs", {})))); sys.exit(0)
    g = f["runs/" + run]
    status = g.attrs.get("status")
    status = status.decode() if isinstance(status, bytes) else status
    if "status" in want: report(status == want["status"], "status is %s (got %s)" % (want["status"], status))
    if "lr" in want: report(float(g.attrs.get("lr", np.nan)) == float(want["lr"]), "lr attribute is %s" % want["lr"])
    if "diverged_step" in want:
        report(int(g.attrs.get("diverged_step", -1)) == int(want["diverged_step"]),
               "diverged_step is %s (got %s)" % (want["diverged_step"], g.attrs.get("diverged_step")))
    if "past_bound" in want:
        loss, bound = g["loss"][()], float(want["past_bound"])
        report(len(loss) > 1 and loss[-1] > bound * loss[0] and np.all(loss[:-1] <= bound * loss[0]),
               "only the last loss is past %sx the first (last %.3g, first %.3g)" % (want["past_bound"], loss[-1], loss[0]))
    series = {}
    # The training series (the evaluation's eval/* have a clock of their own).
    g.visititems(lambda name, obj: series.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) and obj.ndim == 1
                 and not name.startswith("eval/") else None)
    steps = series.get("step")
    if steps is None:
        report(False, "a step series exists"); sys.exit(0)
    n = len(steps)
    lengths = {k: len(v) for k, v in series.items()}
    report(all(l == n for l in lengths.values()), "every series has the length of step (%d): %s" % (n, sorted(set(lengths.values()))))
    # A diverged run's last logit_delta_rms measures the update that sent S to infinity: it may be non-finite.
    bad = [k for k, v in series.items()
           if not np.all(np.isfinite(v[:-1] if k == "logit_delta_rms" and status == "diverged" else v))]
    report(not bad, "every series is finite (non-finite: %s)" % (bad or "none"))
    for k in ("params", "params_init"):
        mats = [np.asarray(g[k][m]) for m in g[k]] if k in g else []
        report(bool(mats) and all(np.all(np.isfinite(m)) for m in mats), "every matrix under %s is finite" % k)
    if "steps" in want:
        wanted = int(want["steps"])
        report(n == wanted and list(steps) == list(range(wanted)), "steps are 0..%d (got %d steps%s)" % (wanted - 1, n, ", last %d" % steps[-1] if n else ""))
    if "min_logit_std" in want and n:
        v = series["logit_std"]
        report(v.min() >= float(want["min_logit_std"]), "logit_std >= %s at every step (min %.1f, max %.1f)" % (want["min_logit_std"], v.min(), v.max()))
    if "min_saturated_mean" in want and n:
        v = series["saturated_fraction"]
        report(v.mean() >= float(want["min_saturated_mean"]), "mean saturated_fraction >= %s (got %.3f)" % (want["min_saturated_mean"], v.mean()))
EOF
}

# Turns check_run's lines into counted checks, prefixed with the case name.
record_checks() {  # record_checks CASE < lines
  local case_name=$1 verdict what
  while read -r verdict what; do
    if [[ $verdict == ok ]]; then hx_pass "$case_name: $what"; else hx_fail "$case_name: $what"; fi
  done
}

one_line_on_stderr() {  # one_line_on_stderr CASE FILE NEEDLE...
  local case_name=$1 file=$2
  shift 2
  local lines
  lines=$(awk 'END { print NR }' "$file")
  if ((lines != 1)); then
    hx_fail "$case_name: one line on stderr" "got $lines: $(head -c 300 "$file" | tr '\n' '|')"
    return
  fi
  local needle
  for needle in "$@"; do
    grep -qiF -- "$needle" "$file" || { hx_fail "$case_name: one line on stderr" "it does not mention '$needle': $(cat "$file")"; return; }
  done
  hx_pass "$case_name: one line on stderr naming the problem"
}

# ---- 1. Unscaled d_k = 4096 -------------------------------------------------------------------------
for task in teacher recall; do
  name="unscaled dk4096 $task"
  timeout 300 "$SANDBOX" train --task "$task" --scale none --dk 4096 --dv 8 --d-model 16 --init-std 0.5 \
    --seq-len 8 --batch 2 --steps 12 --run big --out "big_$task.h5" </dev/null >big.out 2>big.err
  rc=$?
  if ((rc == 0)); then hx_pass "$name: exit 0"; else hx_fail "$name: exit 0" "exit $rc: $(head -c 300 big.err | tr '\n' '|')"; fi
  if [[ -s big.err ]]; then hx_fail "$name: nothing on stderr" "$(head -c 300 big.err | tr '\n' '|')"; else hx_pass "$name: nothing on stderr"; fi
  record_checks "$name" < <(check_run "big_$task.h5" big status=complete steps=12 min_logit_std=100 min_saturated_mean=0.8)
done

# ---- 2. lr = 1e3 diverges ---------------------------------------------------------------------------
for case in "0 0" "1 0" "2 0" "0 100"; do
  read -r seed factor <<<"$case"
  name="lr 1e3 sgd teacher seed $seed diverge-factor $factor"
  out="div_${seed}_$factor.h5"
  timeout 300 "$SANDBOX" train --task teacher --optimizer sgd --lr 1e3 --seed "$seed" --d-model 16 --dk 8 --dv 8 \
    --seq-len 8 --batch 4 --steps 300 --diverge-factor "$factor" --run div --out "$out" </dev/null >div.out 2>div.err
  rc=$?
  if ((rc >= 3 && rc < 124)); then
    hx_pass "$name: exit code $rc (not 0, 1 or 2, no signal)"
  else
    hx_fail "$name: exit code" "got $rc, want a code in 3..123 (0 success, 1 internal error, 2 bad input, >= 124 timeout or signal): $(head -c 300 div.err | tr '\n' '|')"
  fi
  if ((factor > 0)); then one_line_on_stderr "$name" div.err diverged "step" "x the first loss"; else one_line_on_stderr "$name" div.err diverged "step"; fi
  if grep -q diverged div.out; then
    hx_pass "$name: stdout says diverged"
  else
    hx_fail "$name: stdout says diverged" "$(head -c 300 div.out)"
  fi
  # The step that went non-finite, from the message: the file must hold exactly the steps before it (and
  # that step too when it passed the bound: its numbers are finite).
  k=$(sed -n 's/.*diverged at step \([0-9][0-9]*\).*/\1/p' div.err | head -1)
  if [[ -z "$k" ]]; then
    hx_fail "$name: the message names the step" "$(cat div.err)"
    k=0
  elif ((k < 1)); then
    hx_fail "$name: diverges after some steps" "diverged at step $k: no step before it to keep"
  else
    hx_pass "$name: diverged at step $k"
  fi
  if ((factor > 0)); then
    record_checks "$name" < <(check_run "$out" div status=diverged steps="$((k + 1))" lr=1000 diverged_step="$k" past_bound="$factor")
  else
    record_checks "$name" < <(check_run "$out" div status=diverged steps="$k" lr=1000 diverged_step="$k")
  fi
done

# ---- 3. ... and inside a sweep it is a result ----------------------------------------------------------
name="sweep with lr 1e3"
printf '[grid]\ntask = teacher\ndk = 8\nscale = sqrt\nseed = 0\n[run]\nd-model = 16\ndv = 8\nseq-len = 8\nbatch = 4\nsteps = 300\noptimizer = sgd\nlr = 1000\ndiverge-factor = 0\n' >div.ini
timeout 300 "$SANDBOX" sweep --config div.ini --out sweep_div.h5 --jobs 1 </dev/null >sweep.out 2>sweep.err
rc=$?
if ((rc == 0)); then hx_pass "$name: exit 0"; else hx_fail "$name: exit 0" "exit $rc: $(head -c 300 sweep.err | tr '\n' '|')"; fi
if grep -q "1 diverged" sweep.out; then
  hx_pass "$name: reports 1 diverged"
else
  hx_fail "$name: reports 1 diverged" "$(tail -2 sweep.out | tr '\n' '|')"
fi
k=$(timeout 300 "$SANDBOX" train --task teacher --optimizer sgd --lr 1e3 --seed 0 --d-model 16 --dk 8 --dv 8 \
      --seq-len 8 --batch 4 --steps 300 --diverge-factor 0 --run same --out same.h5 2>&1 >/dev/null | sed -n 's/.*diverged at step \([0-9][0-9]*\).*/\1/p')
record_checks "$name (same steps as train)" < <(check_run sweep_div.h5 teacher-dk8-sqrt-seed0 status=diverged steps="${k:-0}")

hx_summary
