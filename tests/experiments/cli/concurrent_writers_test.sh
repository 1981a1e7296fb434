#!/usr/bin/env bash
# Concurrent writers into one run file lose nothing.
#   bash tests/experiments/cli/concurrent_writers_test.sh SANDBOX_BINARY SOURCE_DIR       (ctest: robust.concurrent_writers)
# Exits non-zero at the first failure, with a line "FAIL: ..." saying what went wrong.
#
# 1. Four `train`s, a `sweep`, the two shards of another sweep and two `merge`s, all started at once into
#    one file that already holds a run, ROUNDS times: every run is in the file exactly once, and each is
#    equal (every dataset and attribute but wall_seconds) to the same run made alone; every writer exits
#    0; no temporary or lock file is left.
# 2. A writer waiting for the lock says so once, naming the holder's pid, and finishes once it is free;
#    with --lock-timeout it gives up with exit 2, the old file byte-identical and the run in the fallback
#    file the message names, which `sandbox merge` then adds.
# 3. An output another program holds open for writing (h5py, mode "a") is reported as locked before any work.
# 4. A sweep whose output a notebook opens for writing mid-sweep waits for it to close, saying so once, and
#    saves every run there; with --lock-timeout it gives up waiting, the file as it was and the runs in the
#    fallback file.
set -uo pipefail

TEST_NAME=concurrent_writers_test
# shellcheck source=run_test_setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/run_test_setup.sh" "$@"
ROUNDS=${ROUNDS:-3}
cd "$TMP" || fail "cd $TMP"

TINY=(--d-model 8 --seq-len 4 --batch 2 --steps 40 --log-every 3 --no-gradcheck)
grid() {  # FILE TASK
  printf '[grid]\ntask = %s\ndk = 2 3\nscale = none sqrt\nseed = 0\n[run]\nd-model = 8\nseq-len = 4\nbatch = 2\nsteps = 40\nlog-every = 3\nno-gradcheck = true\n' "$2" >"$1"
}
grid sweep.ini teacher
grid shards.ini recall

# ---- the same runs, each made alone --------------------------------------------------------------------------
"$SANDBOX" sweep --config sweep.ini --out ref.h5 --jobs 1 --quiet >/dev/null 2>err || fail "reference sweep: $(cat err)"
"$SANDBOX" sweep --config shards.ini --out ref.h5 --jobs 1 --quiet >/dev/null 2>err || fail "reference shards: $(cat err)"
for i in 0 1 2 3; do
  "$SANDBOX" train "${TINY[@]}" --dk 3 --dv 2 --seed "$i" --run "train$i" --out ref.h5 >/dev/null 2>err || fail "reference train$i: $(cat err)"
done
for m in 1 2; do
  for r in a b; do
    "$SANDBOX" train "${TINY[@]}" --dk 2 --dv 3 --seed $((m * 10)) --task recall --run "merge$m$r" --out "in$m.h5" >/dev/null 2>err \
      || fail "merge input $m$r: $(cat err)"
  done
done
"$SANDBOX" merge ref.h5 in1.h5 in2.h5 >/dev/null 2>err || fail "reference merge: $(cat err)"
"$SANDBOX" train "${TINY[@]}" --dk 2 --dv 2 --run before --out start.h5 >/dev/null 2>err || fail "start file: $(cat err)"
"$SANDBOX" merge ref.h5 start.h5 >/dev/null 2>err || fail "reference 'before': $(cat err)"

# compare FILE: the runs of FILE are exactly those of ref.h5, each equal to its reference.
compare() {
  "$PY" - "$1" <<'PY'
import sys
import h5py, numpy as np
def content(group):
    items = {}
    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            items["d:" + name] = (obj.dtype.str, obj.shape, obj[()].tobytes())
    group.visititems(visit)
    for k, v in group.attrs.items():
        if k not in ("wall_seconds", "checksum"):  # the checksum covers wall_seconds
            items["a:" + k] = repr(v)
    return items
bad = []
with h5py.File("ref.h5", "r") as ref, h5py.File(sys.argv[1], "r") as got:
    want, have = sorted(ref["runs"]), sorted(got["runs"])
    if want != have:
        bad.append(f"runs differ: missing {sorted(set(want) - set(have))}, unexpected {sorted(set(have) - set(want))}")
    for name in sorted(set(want) & set(have)):
        a, b = content(ref["runs"][name]), content(got["runs"][name])
        if a != b:
            bad.append(f"{name} differs from the same run made alone in: {sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))[:4]}")
print("; ".join(bad))
sys.exit(1 if bad else 0)
PY
}

# ---- 1. everything at once ---------------------------------------------------------------------------------
for ((round = 1; round <= ROUNDS; round++)); do
  cp start.h5 all.h5
  pids=()
  for i in 0 1 2 3; do
    "$SANDBOX" train "${TINY[@]}" --dk 3 --dv 2 --seed "$i" --run "train$i" --out all.h5 >"out.t$i" 2>"err.t$i" &
    pids+=("$!:train$i")
  done
  "$SANDBOX" sweep --config sweep.ini --out all.h5 --jobs 2 --quiet >out.sweep 2>err.sweep &
  pids+=("$!:sweep")
  for s in 0 1; do
    "$SANDBOX" sweep --config shards.ini --shard "$s/2" --out all.h5 --jobs 1 --quiet >"out.s$s" 2>"err.s$s" &
    pids+=("$!:shard$s")
  done
  for m in 1 2; do
    "$SANDBOX" merge all.h5 "in$m.h5" >"out.m$m" 2>"err.m$m" &
    pids+=("$!:merge$m")
  done
  waited=0
  for entry in "${pids[@]}"; do
    wait "${entry%%:*}"
    rc=$?
    [[ $rc -eq 0 ]] || fail "round $round: ${entry#*:} exited $rc: $(cat err.* | tr '\n' '|')"
  done
  # The only thing a writer may say on stderr is that it waits for the lock (once per wait).
  grep -hv '^sandbox: waiting for .*all.h5, locked by process [0-9]*$' err.* >unexpected && [[ -s unexpected ]] \
    && fail "round $round: unexpected stderr: $(cat unexpected)"
  waited=$(cat err.* | wc -l)
  compare all.h5 >diff.txt || fail "round $round: $(cat diff.txt)"
  leftovers=$(ls -A | grep -E '^\.sbx-|^sandbox-unsaved' || true)
  [[ -z "$leftovers" ]] || fail "round $round: left behind: $leftovers"
  note "round $round: 17 runs present once each and equal to the runs made alone; $waited waits for the lock"
done

# ---- 2. waiting for a lock, and --lock-timeout -------------------------------------------------------------
# A Python process holds the lock of held.h5 the way a writer does (flock on the sidecar lock file, named
# from an FNV-1a hash of the file's name) until told to stop.
cp start.h5 held.h5
mkfifo release
"$PY" - held.h5 <<'PY' >holder.out 2>&1 &
import fcntl, os, sys
h = 14695981039346656037
for c in os.path.basename(sys.argv[1]).encode():
    h = ((h ^ c) * 1099511628211) % (1 << 64)
fd = os.open(".sbx-%016x.lock" % h, os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
open("release").read()
PY
HOLDER=$!
for ((i = 0; i < 4000; i++)); do grep -q locked holder.out && break; sleep 0.005; done
grep -q locked holder.out || fail "the Python lock holder did not start: $(cat holder.out)"

before=$(sha held.h5)
"$SANDBOX" train "${TINY[@]}" --dk 2 --dv 2 --run late --out held.h5 --lock-timeout 0.3 >out 2>err
rc=$?
[[ $rc -eq 2 ]] || fail "--lock-timeout: exit $rc, want 2 ($(cat err))"
grep -q "still locked by process $HOLDER after --lock-timeout 0.3 s" err || fail "--lock-timeout: the message does not name the holder $HOLDER: $(cat err)"
[[ $(sha held.h5) == "$before" ]] || fail "--lock-timeout changed the file"
fallback=$(sed -n 's/.* the run was saved to \(.*\) instead (add with: sandbox merge .*/\1/p' err | tail -n 1)
[[ -n "$fallback" && -f "$fallback" ]] || fail "--lock-timeout: no fallback file named in: $(cat err)"
[[ $(grep -vc '^sandbox: waiting for' err) -eq 1 ]] || fail "--lock-timeout: want one error line: $(cat err)"
note "--lock-timeout: exit 2, $(grep -v '^sandbox: waiting' err | cut -c1-120)..."

# Without a timeout the writer waits, says so once, and finishes once the lock is free.
"$SANDBOX" train "${TINY[@]}" --dk 2 --dv 2 --run waiter --out held.h5 >out.w 2>err.w &
BG=$!
for ((i = 0; i < 4000; i++)); do grep -q "waiting for" err.w && break; kill -0 "$BG" 2>/dev/null || break; sleep 0.005; done
grep -qx "sandbox: waiting for held.h5, locked by process $HOLDER" err.w || fail "the waiting writer did not say whom it waits for: $(cat err.w)"
kill -0 "$BG" 2>/dev/null || fail "the writer did not wait for the lock"
echo go >release
wait "$HOLDER"
wait "$BG" || fail "the waiting writer failed once the lock was free: $(cat err.w)"
BG=""
[[ $(wc -l <err.w) -eq 1 ]] || fail "the waiting writer said more than one line: $(cat err.w)"
"$SANDBOX" merge held.h5 "$fallback" >out 2>err || fail "merging the fallback file: $(cat err)"
"$PY" -c 'import h5py, sys; r = sorted(h5py.File(sys.argv[1], "r")["runs"]); assert r == ["before", "late", "waiter"], r' held.h5 \
  || fail "after the wait and the merge of the fallback file, held.h5 lacks runs"
note "a waiting writer names the holder once and finishes; the fallback file merges back"

# ---- 3. a file another program holds open for writing --------------------------------------------------------
"$PY" - <<'PY' >h5py.out 2>&1 &
import h5py, os
f = h5py.File("start.h5", "a")
print("open", flush=True)
open("release").read()
PY
H5PY=$!
for ((i = 0; i < 4000; i++)); do grep -q open h5py.out && break; sleep 0.005; done
grep -q open h5py.out || fail "h5py could not open start.h5: $(cat h5py.out)"
before=$(sha start.h5)
"$SANDBOX" train "${TINY[@]}" --dk 2 --dv 2 --run blocked --out start.h5 >out 2>err
rc=$?
after=$(sha start.h5)  # before h5py closes the file (closing it writes to it)
echo go >release
wait "$H5PY"
[[ $rc -eq 2 ]] || fail "output held by h5py: exit $rc, want 2 ($(cat err))"
grep -q "start.h5: is locked by process $H5PY that has it open for writing" err || fail "output held by h5py: not reported as locked: $(cat err)"
[[ $(wc -l <err) -eq 1 ]] || fail "output held by h5py: more than one line: $(cat err)"
[[ $after == "$before" ]] || fail "output held by h5py: the sandbox changed the file"
note "an output held open by h5py is reported as locked by its pid"

# ---- 4. a notebook opens the output mid-sweep ------------------------------------------------------------------
mkdir mid && cd mid || fail "mkdir mid"  # a directory of its own: no fallback file of the cases above
# hold FILE: h5py (imported beforehand, so that it is quick) opens FILE for writing as soon as the sweep has
# finished its first run (its progress line in sweep.log), and keeps it open until the file `go` exists.
printf '[grid]\ntask = teacher\ndk = 2 3\nscale = none sqrt\nseed = 0 1 2 3\n[run]\nd-model = 8\nseq-len = 4\nbatch = 2\nsteps = 3000\nlog-every = 50\nno-gradcheck = true\n' >mid.ini
hold() {
  rm -f go
  "$PY" - "$1" <<'PY' >h5py.out 2>&1
import os, sys, time
import h5py
deadline = time.time() + 120
while time.time() < deadline and "[1/" not in open("sweep.log").read():
    time.sleep(0.002)
f = h5py.File(sys.argv[1], "a")
print("open", flush=True)
while time.time() < deadline and not os.path.exists("go"):
    time.sleep(0.01)
f.close()
PY
}
"$SANDBOX" train "${TINY[@]}" --dk 2 --dv 2 --run before --out mid.h5 >/dev/null 2>err || fail "mid.h5: $(cat err)"
: >sweep.log
hold mid.h5 &
HOLD=$!
"$SANDBOX" sweep --config mid.ini --out mid.h5 --jobs 1 >sweep.log 2>&1 &
SWEEP=$!
for ((i = 0; i < 12000; i++)); do grep -q 'waiting for' sweep.log && break; sleep 0.005; done
if ! grep -q 'waiting for mid.h5, which process [0-9]* has open for writing' sweep.log; then
  touch go
  fail "mid-sweep h5py holder: the sweep did not wait: $(cat sweep.log) $(cat h5py.out)"
fi
touch go
wait "$HOLD"
wait "$SWEEP" || fail "mid-sweep h5py holder: the sweep failed: $(cat sweep.log)"
[[ $(grep -c 'waiting for' sweep.log) -eq 1 ]] || fail "mid-sweep h5py holder: said it waits more than once: $(cat sweep.log)"
compgen -G 'sandbox-unsaved-*' >/dev/null && fail "mid-sweep h5py holder: runs went to a fallback file: $(cat sweep.log)"
"$PY" -c 'import h5py, sys; n = len(h5py.File(sys.argv[1], "r")["runs"]); assert n == 17, n' mid.h5 \
  || fail "mid-sweep h5py holder: mid.h5 does not hold the 16 runs and 'before'"
note "a sweep waits for a notebook that opened its output mid-sweep, and saves every run there"

rm -f mid.h5
"$SANDBOX" train "${TINY[@]}" --dk 2 --dv 2 --run before --out mid.h5 >/dev/null 2>err || fail "mid.h5: $(cat err)"
: >sweep.log
hold mid.h5 &
HOLD=$!
"$SANDBOX" sweep --config mid.ini --out mid.h5 --jobs 1 --lock-timeout 0.5 >sweep.log 2>&1
rc=$?
touch go
wait "$HOLD"
[[ $rc -ne 0 ]] || fail "--lock-timeout with a notebook holding the output: exit 0: $(cat sweep.log)"
grep -q 'still open for writing in process [0-9]* after --lock-timeout 0.5 s' sweep.log || fail "--lock-timeout: no such line: $(cat sweep.log)"
fallback=$(compgen -G 'sandbox-unsaved-*.h5' | head -1)
[[ -n $fallback ]] || fail "--lock-timeout with a notebook holding the output: no fallback file: $(cat sweep.log)"
"$SANDBOX" merge mid.h5 "$fallback" >/dev/null 2>err || fail "merging the fallback file: $(cat err)"
"$PY" -c 'import h5py, sys; n = len(h5py.File(sys.argv[1], "r")["runs"]); assert n >= 2, n' mid.h5 \
  || fail "--lock-timeout: the fallback file held no run"
note "with --lock-timeout the sweep gives up waiting for the notebook, its runs in the fallback file"

echo "concurrent_writers_test: PASS"
