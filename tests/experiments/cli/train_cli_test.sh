#!/usr/bin/env bash
# Data safety of `sandbox train`, driven the way a user drives it.
#   bash tests/experiments/cli/train_cli_test.sh SANDBOX_BINARY SOURCE_DIR
# Exits non-zero at the first failure, with a line "FAIL: ..." saying what went wrong.
#
# Cases: the layout of fresh runs (tests/experiments/cli/check_run_layout.py, non-square d_model 12, d_k 5, d_v 7);
# adding a run keeps the other runs identical; a repeated run name is refused (exit 2, file unchanged);
# --overwrite replaces that run only; SIGKILL at several moments of a run that creates a file and of one
# that adds to a file leaves no file / the old file; SIGINT and SIGTERM save the logged steps as
# "interrupted" and exit 130; a diverging run exits non-zero with one stderr line and keeps the steps
# before the divergence.
set -uo pipefail

TEST_NAME=train_cli_test
# shellcheck source=run_test_setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/run_test_setup.sh" "$@"

# One line per run of a file: name and a digest of everything in its group (datasets with dtype, shape,
# chunking, compression and bytes; attributes with type and bytes).
digest() {
  "$PY" - "$1" <<'EOF'
import hashlib, sys
import h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    runs = f["runs"] if "runs" in f else {}
    for name in sorted(runs):
        h = hashlib.sha256()
        items = [("", runs[name])]
        runs[name].visititems(lambda n, o: items.append((n, o)))
        for n, o in sorted(items, key=lambda item: item[0]):
            h.update(repr((n, type(o).__name__)).encode())
            if isinstance(o, h5py.Dataset):
                h.update(repr((o.dtype.str, o.shape, o.chunks, o.compression, o.compression_opts, o.maxshape)).encode())
                h.update(np.ascontiguousarray(o[()]).tobytes())
            for k in sorted(o.attrs):
                v = o.attrs[k]
                h.update(repr((k, type(v).__name__)).encode())
                h.update(v.encode() if isinstance(v, str) else np.asarray(v).tobytes())
        print(name, h.hexdigest())
EOF
}

attr() {  # FILE OBJECT NAME: print an attribute
  "$PY" -c 'import h5py, sys; print(h5py.File(sys.argv[1], "r")[sys.argv[2]].attrs[sys.argv[3]])' "$@"
}

layout() {  # FILE RUN [checker options]
  "$PY" "$LAYOUT" "$@" >"$TMP/layout.out" 2>&1 || { cat "$TMP/layout.out" >&2; fail "layout check of $1 /runs/$2 ($*)"; }
}


SMALL=(--task teacher --d-model 12 --dk 5 --dv 7 --seq-len 6 --batch 4 --steps 9 --log-every 2)

# ---- layout of fresh runs ------------------------------------------------------------------------------
echo "layout of fresh runs"
F="$TMP/runs.h5"
"$SANDBOX" train --out "$F" "${SMALL[@]}" --run A >"$TMP/out" 2>"$TMP/err" || fail "train A: exit $?: $(cat "$TMP/err")"
grep -q "^run A: complete after 5 logged steps" "$TMP/out" || fail "train A printed: $(cat "$TMP/out")"
[[ -s "$TMP/err" ]] && fail "train A wrote on stderr: $(cat "$TMP/err")"
layout "$F" A --status complete --logged 5
"$SANDBOX" train --out "$F" --task recall --d-model 12 --dk 5 --dv 7 --seq-len 6 --batch 4 --steps 7 --scale learned \
  --run B >/dev/null 2>"$TMP/err" || fail "train B: exit $?: $(cat "$TMP/err")"
layout "$F" B --status complete --logged 7
created=$(attr "$F" / created_utc)

# ---- adding a run keeps the others -------------------------------------------------------------------------
echo "adding a run keeps the other runs identical"
digest "$F" >"$TMP/d1"
[[ $(wc -l <"$TMP/d1") -eq 2 ]] || fail "expected runs A and B, digest: $(cat "$TMP/d1")"
"$SANDBOX" train --out "$F" --task sense --d-model 12 --dk 5 --dv 7 --seq-len 6 --batch 4 --steps 6 --scale qknorm \
  --causal --run C >/dev/null 2>"$TMP/err" || fail "train C: exit $?: $(cat "$TMP/err")"
layout "$F" C --status complete --logged 6
digest "$F" >"$TMP/d2"
diff <(grep -v '^C ' "$TMP/d2") "$TMP/d1" >/dev/null || fail "adding run C changed runs A or B: $(diff "$TMP/d1" "$TMP/d2")"
[[ $(attr "$F" / created_utc) == "$created" ]] || fail "adding a run changed created_utc"

# ---- a repeated run name is refused ------------------------------------------------------------------------
echo "a repeated run name is refused with exit 2 and the file unchanged"
before=$(sha "$F")
for args in "--run C" "--run A --lr 0.02"; do
  # shellcheck disable=SC2086
  "$SANDBOX" train --out "$F" "${SMALL[@]}" $args >"$TMP/out" 2>"$TMP/err"
  rc=$?
  [[ $rc -eq 2 ]] || fail "repeated name ($args): exit $rc, want 2"
  [[ $(wc -l <"$TMP/err") -eq 1 ]] || fail "repeated name ($args): want one stderr line, got: $(cat "$TMP/err")"
  grep -q "already in the file" "$TMP/err" || fail "repeated name ($args): stderr does not say why: $(cat "$TMP/err")"
  [[ $(sha "$F") == "$before" ]] || fail "repeated name ($args): the file changed"
done
# The refusal comes before any training: a run of 50 million steps is refused at once. (`timeout` only
# keeps a regression from hanging the suite; a correct sandbox answers in milliseconds.)
before=$(sha "$F")
timeout 60 "$SANDBOX" train --out "$F" --task teacher --steps 50000000 --run B >"$TMP/out" 2>"$TMP/err"
rc=$?
[[ $rc -eq 2 ]] || fail "a repeated name on a long run: exit $rc, want 2 at once (124: it trained first)"
[[ $(sha "$F") == "$before" ]] || fail "a repeated name on a long run changed the file"
# The default name clashes too.
"$SANDBOX" train --out "$F" "${SMALL[@]}" >/dev/null 2>&1 || fail "train with the default name"
before=$(sha "$F")
"$SANDBOX" train --out "$F" "${SMALL[@]}" >/dev/null 2>&1
rc=$?
[[ $rc -eq 2 && $(sha "$F") == "$before" ]] || fail "repeated default name: exit $rc (want 2) or file changed"
digest "$F" >"$TMP/d3"

# ---- --overwrite replaces that run only --------------------------------------------------------------------
echo "--overwrite replaces that run only"
"$SANDBOX" train --out "$F" --task teacher --d-model 12 --dk 5 --dv 7 --seq-len 6 --batch 4 --steps 4 --lr 0.05 --run A --overwrite >/dev/null 2>"$TMP/err" \
  || fail "--overwrite: exit $?: $(cat "$TMP/err")"
layout "$F" A --status complete --logged 4
[[ $(attr "$F" /runs/A steps) == 4 ]] || fail "--overwrite: run A still has the old steps attribute"
digest "$F" >"$TMP/d4"
diff <(grep -v '^A ' "$TMP/d4") <(grep -v '^A ' "$TMP/d3") >/dev/null || fail "--overwrite of A changed other runs"
[[ $(grep '^A ' "$TMP/d4") != $(grep '^A ' "$TMP/d3") ]] || fail "--overwrite did not change run A"
[[ $(wc -l <"$TMP/d4") -eq 4 ]] || fail "--overwrite: expected 4 runs, got: $(cut -d' ' -f1 "$TMP/d4" | tr '\n' ' ')"

# ---- SIGKILL while writing ---------------------------------------------------------------------------------
# A run whose parameters are large (3 matrices of 700x700, ~24 MB written twice) so that writing the file
# takes long enough to be caught, and a few tens of steps of training before it.
BIG=(--task teacher --d-model 700 --dk 700 --dv 700 --seq-len 2 --batch 1 --steps 30 --run big)

# kill_at MOMENT FILE: starts the big run into FILE and SIGKILLs it at MOMENT: start (at once), training
# (once it is training), writing (as soon as its temporary file, or the final file, appears).
kill_at() {
  local moment=$1 file=$2 dir base existed=0 seen=0 t
  dir=$(dirname "$file")
  base=$(basename "$file")
  [[ -e "$file" ]] && existed=1
  "$SANDBOX" train --out "$file" "${BIG[@]}" >"$TMP/bg.out" 2>"$TMP/bg.err" &
  BG=$!
  case $moment in
    start) ;;
    training) wait_for_handlers "$BG"; sleep 0.02 ;;
    writing)
      for ((t = 0; t < 5000000; t++)); do
        if compgen -G "$dir/.sbx-*.tmp-*" >/dev/null; then seen=1; break; fi
        if [[ $existed == 0 && -e "$file" ]]; then seen=2; break; fi
        kill -0 "$BG" 2>/dev/null || break
      done ;;
  esac
  kill -9 "$BG" 2>/dev/null
  wait "$BG" 2>/dev/null
  local rc=$?
  BG=""
  if [[ $moment == writing && $seen == 0 ]]; then
    fail "SIGKILL while writing $base: never saw a temporary file before the process ended (rc $rc) -- is the file written in place?"
  fi
  [[ $seen == 2 ]] && note "the final file $base appeared before any temporary file"
  return 0
}

echo "SIGKILL of a run creating a new file leaves no file under the final name"
for moment in start training writing; do
  N="$TMP/new_$moment.h5"
  kill_at "$moment" "$N"
  if [[ -e "$N" ]]; then
    # Only acceptable if the kill came after the atomic rename: then the file is whole.
    "$PY" "$LAYOUT" "$N" big --status complete >"$TMP/layout.out" 2>&1 \
      || { cat "$TMP/layout.out" >&2; fail "SIGKILL at '$moment' of a run creating $(basename "$N") left a partial file under the final name"; }
    [[ $moment == writing ]] || fail "SIGKILL at '$moment' left a file although the run cannot have finished"
    note "kill at '$moment' came after the rename: the file is complete"
  fi
  # A later save into the same path removes the dead process's temporary file.
  if [[ $moment == writing ]]; then
    compgen -G "$TMP/.sbx-*.tmp-*" >/dev/null || note "no temporary file left behind"
    "$SANDBOX" train --out "$N" "${SMALL[@]}" --run after >/dev/null 2>"$TMP/err" || fail "train after SIGKILL: exit $?: $(cat "$TMP/err")"
    compgen -G "$TMP/.sbx-*.tmp-*" >/dev/null && fail "the temporary file of the killed process was not cleaned up: $(ls -a "$TMP")"
    layout "$N" after --status complete
  fi
done

echo "SIGKILL of a run adding to an existing file leaves that file byte-identical"
E="$TMP/existing.h5"
cp "$F" "$E"
digest "$E" >"$TMP/e_digest"
e_sha=$(sha "$E")
for moment in start training writing; do
  kill_at "$moment" "$E"
  if [[ $(sha "$E") != "$e_sha" ]]; then
    [[ $moment == writing ]] || fail "SIGKILL at '$moment' changed the existing file"
    # Killed after the rename: the file must be the old runs plus the whole new one.
    layout "$E" big --status complete
    digest "$E" | grep -v '^big ' | diff - "$TMP/e_digest" >/dev/null || fail "SIGKILL at '$moment': the other runs changed"
    note "kill at '$moment' came after the rename: old runs intact, new run complete"
    cp "$F" "$E"
  fi
  "$PY" -c 'import h5py, sys; h5py.File(sys.argv[1], "r")' "$E" || fail "SIGKILL at '$moment': the existing file no longer opens"
done

# ---- SIGINT and SIGTERM ------------------------------------------------------------------------------------
# A small run of many steps: it would take minutes, the signal stops it after a few hundred steps.
LONG=(--task teacher --d-model 12 --dk 5 --dv 7 --seq-len 6 --batch 4 --steps 50000000 --log-every 10 --no-gradcheck)
stop_with() {  # SIGNAL FILE RUN
  local signal=$1 file=$2 run=$3 rc logged wait_s
  # Signal 0.1 s after the handlers are in place; if the machine is so busy that not one step was
  # logged by then, try again with a longer wait (the file is new each time, or gets --overwrite).
  for wait_s in 0.1 0.5 2; do
    "$SANDBOX" train --out "$file" "${LONG[@]}" --run "$run" --overwrite >"$TMP/bg.out" 2>"$TMP/bg.err" &
    BG=$!
    wait_for_handlers "$BG"
    sleep "$wait_s"
    kill "-$signal" "$BG"
    wait "$BG"
    rc=$?
    BG=""
    [[ $rc -eq 130 ]] || fail "SIG$signal: exit $rc, want 130 (stderr: $(cat "$TMP/bg.err"))"
    grep -q "interrupted" "$TMP/bg.err" || fail "SIG$signal: stderr does not say interrupted: $(cat "$TMP/bg.err")"
    logged=$(sed -n "s/^run $run: interrupted after \([0-9]*\) logged steps.*/\1/p" "$TMP/bg.out")
    [[ -n "$logged" ]] || fail "SIG$signal: unexpected stdout: $(cat "$TMP/bg.out")"
    layout "$file" "$run" --status interrupted --logged "$logged"
    [[ $logged -ge 1 ]] && break
    note "SIG$signal after $wait_s s: no step logged yet, trying again with a longer wait"
  done
  [[ $logged -ge 1 ]] || fail "SIG$signal: no step was logged even after 2 s"
  note "SIG$signal: exit 130, $logged logged steps saved as interrupted"
}
echo "SIGINT and SIGTERM save the logged steps as interrupted and exit 130"
stop_with INT "$TMP/sigint.h5" int_run
digest "$F" >"$TMP/f_before"
stop_with TERM "$F" term_run
digest "$F" | grep -v '^term_run ' | diff - "$TMP/f_before" >/dev/null || fail "SIGTERM run changed the other runs of the file"

# ---- divergence ----------------------------------------------------------------------------------------
echo "a diverging run exits non-zero, names the step and quantity, keeps the steps before"
D="$TMP/diverge.h5"
"$SANDBOX" train --out "$D" --task teacher --d-model 16 --dk 8 --dv 8 --seq-len 8 --batch 8 --steps 500 --scale none \
  --optimizer sgd --lr 1000 --diverge-factor 0 --run div >"$TMP/out" 2>"$TMP/err"
rc=$?
[[ $rc -ne 0 && $rc -ne 130 && $rc -ne 2 ]] || fail "diverging run: exit $rc, want a divergence exit code"
[[ $(wc -l <"$TMP/err") -eq 1 ]] || fail "diverging run: want exactly one stderr line, got: $(cat "$TMP/err")"
step=$(sed -n 's/.*diverged at step \([0-9]*\): \(loss\|grad_norm\/[A-Za-z_]*\) is \(NaN\|infinite\).*/\1/p' "$TMP/err")
[[ -n "$step" ]] || fail "diverging run: stderr does not name the step and quantity: $(cat "$TMP/err")"
layout "$D" div --status diverged --logged "$step" --no-trained-check
last=$("$PY" -c 'import h5py, sys; s = h5py.File(sys.argv[1], "r")["runs/div/step"][()]; print(s[-1] if len(s) else -1)' "$D")
[[ $last -eq $((step - 1)) ]] || fail "diverging run: last logged step $last, want $((step - 1))"
note "exit $rc, $(cat "$TMP/err")"
# With the default bound the same run stops as soon as its loss passes 100x the first: that step is logged.
"$SANDBOX" train --out "$D" --task teacher --d-model 16 --dk 8 --dv 8 --seq-len 8 --batch 8 --steps 500 --scale none \
  --optimizer sgd --lr 1000 --run bounded >"$TMP/out" 2>"$TMP/err"
rc=$?
[[ $rc -eq 3 && $(wc -l <"$TMP/err") -eq 1 ]] || fail "bounded diverging run: exit $rc (want 3), stderr: $(cat "$TMP/err")"
bstep=$(sed -n 's/.*diverged at step \([0-9]*\): loss [^ ]* > 100 x the first loss .*/\1/p' "$TMP/err")
[[ -n "$bstep" && $bstep -lt $step ]] || fail "bounded diverging run: want a step before $step named with the bound, got: $(cat "$TMP/err")"
layout "$D" bounded --status diverged --logged "$((bstep + 1))" --no-trained-check
note "exit $rc, $(cat "$TMP/err")"

echo "train_cli_test: PASS"
