#!/usr/bin/env bash
# What happens around a command never costs a run or changes a file behind the user's back:
#   bash tests/experiments/cli/process_edges_test.sh SANDBOX_BINARY SOURCE_DIR      (ctest: robust.process_edges)
# 1. A reader that closes the pipe (`| head -n 1`) ends the printing, not the training: train and sweep
#    save their runs and do not die of SIGPIPE.
# 2. A rewrite keeps the file's permissions (a 0600 file stays 0600): train, merge.
# 3. kill -9 on merge (while it waits for the lock) leaves no child that finishes the merge later; SIGINT
#    on merge exits 130 with the file as it was.
# 4. --lock-timeout nan or -1 is refused with one line and exit 2.
# Exits non-zero at the first failure, with a line "FAIL: ..." saying what went wrong.
set -uo pipefail
SANDBOX=${1:?usage: process_edges_test.sh SANDBOX_BINARY SOURCE_DIR}
ROOT=${2:?usage: process_edges_test.sh SANDBOX_BINARY SOURCE_DIR}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
note() { echo "  $*"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
PY=$("$ROOT/experiments/find_python.sh") || fail "experiments/find_python.sh found no Python with h5py"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/process_edges.XXXXXX") || fail "mktemp"
HOLDER=""
cleanup() {
  [[ -n "$HOLDER" ]] && kill "$HOLDER" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
cd "$TMP" || fail "cd $TMP"
TINY=(--d-model 4 --dk 2 --dv 2 --seq-len 3 --batch 2 --no-gradcheck)
runs() { "$PY" -c 'import h5py, sys; print(" ".join(sorted(h5py.File(sys.argv[1], "r")["runs"])))' "$1"; }

# ---- 1. a closed pipe -----------------------------------------------------------------------------------
"$SANDBOX" train "${TINY[@]}" --steps 3000 --log-every 1 --progress --run piped --out pipe.h5 2>train.err | head -n 1 >/dev/null
rc=${PIPESTATUS[0]}
[[ $rc -eq 0 ]] || fail "train --progress | head -n 1: exit $rc, want 0 ($(cat train.err))"
[[ $(runs pipe.h5) == piped ]] || fail "train --progress | head -n 1: the run is not in pipe.h5"
printf '[grid]\nseed = 0 1 2\n[run]\nd-model = 4\ndk = 2\ndv = 2\nseq-len = 3\nbatch = 2\nsteps = 300\nno-gradcheck = true\n' >grid.ini
"$SANDBOX" sweep --config grid.ini --out sweep.h5 2>sweep.err | head -n 1 >/dev/null
rc=${PIPESTATUS[0]}
[[ $rc -eq 0 ]] || fail "sweep | head -n 1: exit $rc, want 0 ($(cat sweep.err))"
[[ $(runs sweep.h5 | wc -w) -eq 3 ]] || fail "sweep | head -n 1: want 3 runs in sweep.h5, got '$(runs sweep.h5)'"
note "train --progress | head -n 1 and sweep | head -n 1: exit 0, their runs saved"

# ---- 2. permissions ---------------------------------------------------------------------------------------
"$SANDBOX" train "${TINY[@]}" --steps 5 --run a --out private.h5 >/dev/null 2>err || fail "train a: $(cat err)"
chmod 600 private.h5
"$SANDBOX" train "${TINY[@]}" --steps 5 --run b --out private.h5 >/dev/null 2>err || fail "train b: $(cat err)"
[[ $(stat -c %a private.h5) == 600 ]] || fail "train made a 0600 file $(stat -c %a private.h5)"
"$SANDBOX" merge private.h5 pipe.h5 >/dev/null 2>err || fail "merge: $(cat err)"
[[ $(stat -c %a private.h5) == 600 ]] || fail "merge made a 0600 file $(stat -c %a private.h5)"
chmod 640 private.h5
"$SANDBOX" train "${TINY[@]}" --steps 5 --run c --out private.h5 >/dev/null 2>err || fail "train c: $(cat err)"
[[ $(stat -c %a private.h5) == 640 ]] || fail "train made a 0640 file $(stat -c %a private.h5)"
note "train and merge keep 0600 and 0640"

# ---- 3. kill -9 and SIGINT on merge -------------------------------------------------------------------------
# A Python process holds the lock of held.h5 the way a writer does (flock on the sidecar lock file, named
# from an FNV-1a hash of the file's name) until it is killed, so that merge waits (in its child).
cp private.h5 held.h5
hold_lock() {
  # The background job truncates holder.out only once it starts: remove the last holder's "locked" first,
  # or the wait below can see it and go on before this holder has the lock.
  rm -f holder.out
  "$PY" - held.h5 <<'PY' >holder.out 2>&1 &
import fcntl, os, sys, time
h = 14695981039346656037
for c in os.path.basename(sys.argv[1]).encode():
    h = ((h ^ c) * 1099511628211) % (1 << 64)
fd = os.open(".sbx-%016x.lock" % h, os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(600)
PY
  HOLDER=$!
  local alive=yes
  for ((i = 0; i < 2000; i++)); do
    grep -qs locked holder.out && break
    kill -0 "$HOLDER" 2>/dev/null || alive=no
    [[ $alive == no ]] && break
    sleep 0.01
  done
  grep -qs locked holder.out || fail "the Python lock holder did not lock (running: $alive): $(cat holder.out)"
}
# Starts a merge into held.h5 in the background (pid in MERGE) and waits until it waits for the lock.
start_merge() {
  # A background job of a script starts with SIGINT ignored; a user's merge has the default action. The
  # last merge's "waiting for" is removed first (see hold_lock).
  rm -f merge.out merge.err
  env --default-signal=INT "$SANDBOX" merge held.h5 sweep.h5 >merge.out 2>merge.err &
  MERGE=$!
  for ((i = 0; i < 4000; i++)); do grep -qs "waiting for" merge.err && return 0; sleep 0.005; done
  fail "merge did not wait for the lock: $(cat merge.err)"
}
release_lock() {
  kill "$HOLDER" 2>/dev/null
  wait "$HOLDER" 2>/dev/null
  HOLDER=""
}
before=$(sha held.h5)
hold_lock
start_merge
kill -9 "$MERGE"
wait "$MERGE" 2>/dev/null
release_lock
sleep 2  # a surviving child would now take the lock and finish the merge
[[ $(sha held.h5) == "$before" ]] || fail "kill -9 on merge: held.h5 changed afterwards (its child lived on)"
note "kill -9 on merge: held.h5 unchanged afterwards"

before=$(sha held.h5)
hold_lock
start_merge
kill -INT "$MERGE"
wait "$MERGE"
rc=$?
release_lock
sleep 1
[[ $rc -eq 130 ]] || fail "SIGINT on merge: exit $rc, want 130 ($(cat merge.err))"
[[ $(sha held.h5) == "$before" ]] || fail "SIGINT on merge: held.h5 changed"
# bash says 130 for a death by SIGINT too: the line says merge ended by itself.
[[ $(tail -n 1 merge.err) == "sandbox merge: interrupted; nothing was written" ]] || fail "SIGINT on merge: it did not say so: $(cat merge.err)"
[[ -z "$(ls -A | grep '^\.sbx-.*tmp' || true)" ]] || fail "SIGINT on merge: a temporary file was left"
note "SIGINT on merge: exit 130, '$(tail -n 1 merge.err)', held.h5 unchanged"

# ---- 4. --lock-timeout --------------------------------------------------------------------------------------
for bad in nan -1; do
  "$SANDBOX" train "${TINY[@]}" --steps 5 --run x --out held.h5 --lock-timeout "$bad" >/dev/null 2>err
  rc=$?
  [[ $rc -eq 2 && $(wc -l <err) -eq 1 ]] || fail "--lock-timeout $bad: exit $rc, want 2 and one line: $(cat err)"
  grep -q -- "--lock-timeout" err || fail "--lock-timeout $bad: the message does not name it: $(cat err)"
  "$SANDBOX" merge held.h5 pipe.h5 --lock-timeout "$bad" >/dev/null 2>err
  rc=$?
  [[ $rc -eq 2 && $(wc -l <err) -eq 1 ]] || fail "merge --lock-timeout $bad: exit $rc, want 2 and one line: $(cat err)"
done
[[ $(sha held.h5) == "$before" ]] || fail "a refused --lock-timeout changed held.h5"
note "--lock-timeout nan and -1: exit 2, '$(cat err)'"
echo "PASS"
