#!/usr/bin/env bash
# Resumption and determinism of `sandbox sweep`.
#   bash tests/experiments/cli/sweep_resume_test.sh SANDBOX_BINARY SOURCE_DIR
# Exits non-zero at the first failure, with a line "FAIL: ..." saying what went wrong.
#
# 1. A grid of 2 d_k x 2 scales x 2 seeds is interrupted with SIGINT midway (exit 130): the file holds
#    some complete runs. Rerunning skips them (the first line says how many are already complete) and
#    finishes the rest; the complete runs of the first pass are untouched (loss series, wall_seconds and
#    everything else). A third run has nothing to do and leaves the file byte-identical. A run the rerun
#    did equals the same configuration run by `sandbox train`.
# 2. --jobs 1 and --jobs 2 give bitwise-identical series for every run of a grid.
set -uo pipefail

TEST_NAME=sweep_resume_test
# shellcheck source=run_test_setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/run_test_setup.sh" "$@"


# FILE: one line per run, "name status".
statuses() {
  "$PY" -c '
import h5py, sys
with h5py.File(sys.argv[1], "r") as f:
    for name in sorted(f["runs"]) if "runs" in f else []:
        print(name, f["runs"][name].attrs["status"])' "$1"
}

# compare FILE1 FILE2 WHAT [RUN...]: the runs (default: every run of FILE1, which FILE2 must hold too, with
# no others) are bitwise equal in WHAT: "loss" (the loss series), "loss+wall" (the loss series and
# wall_seconds), or "all" (every dataset and every attribute except wall_seconds and a sweep's provenance,
# sweep_ini and sweep_overrides). Prints the differences.
compare() {
  "$PY" - "$@" <<'EOF'
import sys
import h5py, numpy as np
a_path, b_path, what, *names = sys.argv[1:]
bad = []
with h5py.File(a_path, "r") as a, h5py.File(b_path, "r") as b:
    if not names:
        names = sorted(a["runs"])
        if sorted(b["runs"]) != names:
            bad.append(f"runs differ: {names} vs {sorted(b['runs'])}")
    for name in names:
        if name not in b["runs"]:
            bad.append(f"{name}: missing from {b_path}")
            continue
        ra, rb = a["runs"][name], b["runs"][name]
        if what == "all":
            items = []
            ra.visititems(lambda n, o: items.append(n) if isinstance(o, h5py.Dataset) else None)
            others = []
            rb.visititems(lambda n, o: others.append(n) if isinstance(o, h5py.Dataset) else None)
            if sorted(items) != sorted(others):
                bad.append(f"{name}: datasets differ")
            # Neither the time (nor the checksum, which covers it) nor where a run came from (a sweep's INI
            # text, absent from a train run).
            skip = ("wall_seconds", "checksum", "sweep_ini", "sweep_overrides")
            keys = sorted(k for k in ra.attrs if k not in skip)
            if keys != sorted(k for k in rb.attrs if k not in skip):
                bad.append(f"{name}: attribute names differ")
            for k in keys:
                if k in rb.attrs and np.asarray(ra.attrs[k]).tobytes() != np.asarray(rb.attrs[k]).tobytes():
                    bad.append(f"{name}: attribute {k} differs: {ra.attrs[k]!r} vs {rb.attrs[k]!r}")
        else:
            items = ["loss"]
        for n in items:
            if n in ra and n in rb and ra[n][()].tobytes() != rb[n][()].tobytes():
                bad.append(f"{name}: {n} differs")
        if what == "loss+wall" and ra.attrs["wall_seconds"].tobytes() != rb.attrs["wall_seconds"].tobytes():
            bad.append(f"{name}: wall_seconds differs ({ra.attrs['wall_seconds']} vs {rb.attrs['wall_seconds']})")
for line in bad:
    print(line)
sys.exit(1 if bad else 0)
EOF
}

# ---- 1. interrupt and resume -----------------------------------------------------------------------------
# 8 runs of ~0.3 s each: with one job the sweep takes ~2.7 s, and its first progress line comes after 1 s
# (progress lines are at most one a second), so the signal arrives midway.
cat >"$TMP/grid.ini" <<'EOF'
[grid]
task = teacher
dk = 2, 4
scale = none sqrt
seed = 0 1

[run]
d-model = 16
seq-len = 8
batch = 8
steps = 12000
log-every = 50
lr = 0.01
EOF
A="$TMP/sweep.h5"
echo "interrupting a sweep with SIGINT"
"$SANDBOX" sweep --config "$TMP/grid.ini" --out "$A" --jobs 1 >"$TMP/bg.out" 2>"$TMP/bg.err" &
BG=$!
wait_for_handlers "$BG"
# Wait for the first progress line: at least one run has finished.
for ((i = 0; i < 6000; i++)); do
  grep -Eq '^  \[[1-9][0-9]*/8 runs\]' "$TMP/bg.out" && break
  kill -0 "$BG" 2>/dev/null || break
  sleep 0.005
done
kill -INT "$BG" 2>/dev/null
wait "$BG"
rc=$?
BG=""
[[ $rc -eq 130 ]] || fail "interrupted sweep: exit $rc, want 130 (did it finish before the signal?) stdout: $(cat "$TMP/bg.out")"
grep -q "interrupted" "$TMP/bg.err" || fail "interrupted sweep: stderr does not say so: $(cat "$TMP/bg.err")"
head -n 1 "$TMP/bg.out" | grep -q "^sweep: 8 runs to do, 0 already complete" || fail "first pass, first line: $(head -n 1 "$TMP/bg.out")"
[[ -f "$A" ]] || fail "interrupted sweep saved nothing"
statuses "$A" >"$TMP/first_pass"
complete=$(grep -c ' complete$' "$TMP/first_pass")
others=$(grep -vc ' complete$' "$TMP/first_pass")
[[ $complete -ge 1 && $complete -lt 8 ]] || fail "after SIGINT: $complete complete runs, want 1..7: $(cat "$TMP/first_pass")"
grep -v ' complete$' "$TMP/first_pass" | grep -vq ' interrupted$' && fail "after SIGINT: unexpected status: $(cat "$TMP/first_pass")"
[[ $others -le 1 ]] || fail "after SIGINT with one job, at most one run can be interrupted: $(cat "$TMP/first_pass")"
while read -r name status; do
  "$PY" "$LAYOUT" "$A" "$name" --status "$status" >"$TMP/layout.out" 2>&1 || { cat "$TMP/layout.out" >&2; fail "layout of $name"; }
done <"$TMP/first_pass"
note "first pass: $complete complete, $others interrupted"
cp "$A" "$TMP/first_pass.h5"

echo "rerunning skips the complete runs and finishes the rest"
"$SANDBOX" sweep --config "$TMP/grid.ini" --out "$A" --jobs 2 >"$TMP/out" 2>"$TMP/err" || fail "resumed sweep: exit $?: $(cat "$TMP/err")"
first=$(head -n 1 "$TMP/out")
[[ "$first" == "sweep: $((8 - complete)) runs to do, $complete already complete in $A, 2 jobs" ]] \
  || fail "resumed sweep, first line: '$first' (want $((8 - complete)) to do, $complete already complete)"
tail -n 1 "$TMP/out" | grep -q "^sweep: $((8 - complete)) complete, 0 diverged, 0 interrupted or not started, $complete skipped" \
  || fail "resumed sweep, last line: $(tail -n 1 "$TMP/out")"
statuses "$A" >"$TMP/second_pass"
[[ $(grep -c ' complete$' "$TMP/second_pass") -eq 8 && $(wc -l <"$TMP/second_pass") -eq 8 ]] \
  || fail "after the rerun: $(cat "$TMP/second_pass")"
# The runs complete after the first pass are untouched.
untouched=$(grep ' complete$' "$TMP/first_pass" | cut -d' ' -f1)
# shellcheck disable=SC2086
compare "$TMP/first_pass.h5" "$A" loss+wall $untouched >"$TMP/diff" || fail "the rerun changed complete runs: $(cat "$TMP/diff")"
# shellcheck disable=SC2086
compare "$TMP/first_pass.h5" "$A" all $untouched >"$TMP/diff" || fail "the rerun changed complete runs: $(cat "$TMP/diff")"
while read -r name status; do
  "$PY" "$LAYOUT" "$A" "$name" --status complete >"$TMP/layout.out" 2>&1 || { cat "$TMP/layout.out" >&2; fail "layout of $name"; }
done <"$TMP/second_pass"

echo "a third run has nothing to do and leaves the file unchanged"
before=$(sha "$A")
"$SANDBOX" sweep --config "$TMP/grid.ini" --out "$A" --jobs 2 >"$TMP/out" 2>"$TMP/err" || fail "third sweep: exit $?: $(cat "$TMP/err")"
head -n 1 "$TMP/out" | grep -q "^sweep: 0 runs to do, 8 already complete" || fail "third sweep, first line: $(head -n 1 "$TMP/out")"
[[ $(sha "$A") == "$before" ]] || fail "a sweep with nothing to do changed the file"

echo "a run finished by the rerun equals the same run done by sandbox train"
# The first run of the grid the first pass did not complete (interrupted, or not started).
name=$(grep ' complete$' "$TMP/second_pass" | cut -d' ' -f1 | grep -vxF -f <(grep ' complete$' "$TMP/first_pass" | cut -d' ' -f1) | head -n 1)
[[ -n "$name" ]] || fail "no run was left for the rerun"
# <task>-dk<d_k>-<scale>-seed<seed>; sweep and train share their defaults (d_v among them).
IFS=- read -r task dk scale seed <<<"$name"
"$SANDBOX" train --out "$TMP/single.h5" --task "$task" --dk "${dk#dk}" --scale "$scale" \
  --seed "${seed#seed}" --d-model 16 --seq-len 8 --batch 8 --steps 12000 --log-every 50 --lr 0.01 >/dev/null 2>"$TMP/err" \
  || fail "train $name: exit $?: $(cat "$TMP/err")"
compare "$A" "$TMP/single.h5" all "$name" >"$TMP/diff" || fail "$name from the resumed sweep differs from sandbox train: $(cat "$TMP/diff")"
note "$name: the resumed sweep and sandbox train agree bitwise"

# ---- 2. --jobs 1 vs --jobs 2 --------------------------------------------------------------------------------
echo "--jobs 1 and --jobs 2 give bitwise-identical runs"
cat >"$TMP/jobs.ini" <<'EOF'
[grid]
task = teacher recall
dk = 3 6
scale = learned qknorm
seed = 0 1

[run]
d-model = 10
dv = 5
seq-len = 5
batch = 4
steps = 150
log-every = 7
EOF
"$SANDBOX" sweep --config "$TMP/jobs.ini" --out "$TMP/jobs1.h5" --jobs 1 >"$TMP/out1" 2>"$TMP/err" || fail "--jobs 1: exit $?: $(cat "$TMP/err")"
"$SANDBOX" sweep --config "$TMP/jobs.ini" --out "$TMP/jobs2.h5" --jobs 2 >"$TMP/out2" 2>"$TMP/err" || fail "--jobs 2: exit $?: $(cat "$TMP/err")"
[[ $(statuses "$TMP/jobs1.h5" | grep -c ' complete$') -eq 16 ]] || fail "--jobs 1: not 16 complete runs"
compare "$TMP/jobs1.h5" "$TMP/jobs2.h5" loss >"$TMP/diff" || fail "--jobs 1 and --jobs 2 loss series differ: $(cat "$TMP/diff")"
compare "$TMP/jobs1.h5" "$TMP/jobs2.h5" all >"$TMP/diff" || fail "--jobs 1 and --jobs 2 runs differ: $(cat "$TMP/diff")"
"$PY" "$LAYOUT" "$TMP/jobs2.h5" recall-dk6-qknorm-seed1 --status complete >"$TMP/layout.out" 2>&1 \
  || { cat "$TMP/layout.out" >&2; fail "layout of a sweep run"; }

echo "sweep_resume_test: PASS"
