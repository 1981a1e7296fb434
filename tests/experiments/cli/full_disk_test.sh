#!/usr/bin/env bash
# A full disk or a file-size limit loses no trained run and crashes nothing. One case per run, so that a case
# this machine cannot stage is reported to ctest as skipped (exit 77, one line "SKIPPED: ...") on its own:
#   bash tests/experiments/cli/full_disk_test.sh SANDBOX_BINARY SOURCE_DIR CASE
# Exits 0 passed, 1 failed (a line "FAIL: ..." saying what went wrong), 77 skipped.
#
# disk_full      (ctest: robust.full_disk) a 240 KiB tmpfs holds a small run file; a train of a larger run
#                into it must exit 2 with one line "no space left on device while writing <file>", leave the
#                file byte-identical and no temporary or lock file, and put the run into the fallback file it
#                names (here in $TMPDIR, since the full disk cannot take it either), from which `sandbox
#                merge` adds it elsewhere. Needs to mount a tmpfs (root in a mount-capable container).
# size_limit     (ctest: robust.file_size_limit) the same under ulimit -f 100 (SIGXFSZ left at its default:
#                the sandbox itself must not die of it), with "file size limit exceeded"; the fallback file
#                next to the target (it fits the limit).
# sweep_size_limit (ctest: robust.sweep_size_limit) a sweep of 4 runs of 1-2 s each (400000 tiny steps) into a file already
#                over ulimit -f: its first save fails, the finished runs go to the fallback file, and the one
#                stderr line says how many finished and names the runs interrupted and the runs never started
#                (the same sweep command redoes them): each named run is where the line says.
# read_only_dir  (ctest: robust.read_only_directory) --out in a read-only directory is refused before
#                training. Needs to mount a read-only tmpfs (a chmod does not stop root).
# symlinked_out  (ctest: robust.symlinked_out) a symlinked --out updates the link's target, keeps the link.
set -uo pipefail

TEST_NAME=full_disk_test
# shellcheck source=run_test_setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/run_test_setup.sh" "$@"
CASE=${3:?usage: full_disk_test.sh SANDBOX_BINARY SOURCE_DIR disk_full|size_limit|sweep_size_limit|read_only_dir|symlinked_out}
cd "$TMP" || fail "cd $TMP"
skip() {
  echo "SKIPPED: $*"
  exit 77
}
BASE=(--seq-len 4 --batch 2 --steps 40 --no-gradcheck)
SMALL=(--d-model 8 --dk 4 --dv 4 "${BASE[@]}")

# check_refused CASE FILE WHAT RUN: the last command's exit code is in $rc, its stderr in err.
check_refused() {
  local case=$1 file=$2 what=$3 run=$4
  [[ $rc -eq 2 ]] || fail "$case: exit $rc, want 2 ($(head -c 300 err))"
  [[ $(wc -l <err) -eq 1 ]] || fail "$case: want one stderr line, got $(wc -l <err): $(head -c 600 err)"
  grep -q "$what while writing $file" err || fail "$case: stderr does not say '$what while writing $file': $(cat err)"
  grep -qE 'HDF5|H5[A-Z]close' err && fail "$case: HDF5 error text on stderr: $(cat err)"
  [[ $(sha "$file") == "$before" ]] || fail "$case: the existing file changed"
  local dir leftovers
  dir=$(dirname "$file")
  leftovers=$(ls -A "$dir" | grep '^\.sbx-' || true)
  [[ -z "$leftovers" ]] || fail "$case: left behind in $dir: $leftovers"
  fallback=$(sed -n 's/.* the run was saved to \(.*\) instead (add with: sandbox merge .*/\1/p' err)
  [[ -n "$fallback" && -f "$fallback" ]] || fail "$case: no fallback file named: $(cat err)"
  "$PY" "$LAYOUT" "$fallback" "$run" --status complete >layout.out 2>&1 || { cat layout.out >&2; fail "$case: the run in $fallback"; }
  "$SANDBOX" merge "merged_$run.h5" "$fallback" >/dev/null 2>merge.err || fail "$case: merging $fallback: $(cat merge.err)"
  note "$case: exit 2, '$(cut -c1-90 err)...', file unchanged, run kept in $fallback"
}

disk_full() {
  mkdir -p small spill
  mount -t tmpfs -o size=240k sandbox-test small 2>/dev/null \
    || skip "disk full: cannot mount a tmpfs here (not root, or no mount permission)"
  trap 'umount "$TMP/small" 2>/dev/null; cleanup' EXIT
  "$SANDBOX" train "${SMALL[@]}" --run first --out small/runs.h5 >/dev/null 2>err || fail "disk full: first run: $(cat err)"
  before=$(sha small/runs.h5)
  TMPDIR=$TMP/spill "$SANDBOX" train "${BASE[@]}" --d-model 64 --dk 64 --dv 64 --run big --out small/runs.h5 >out 2>err
  rc=$?
  check_refused "disk full" small/runs.h5 "no space left on device" big
  [[ $fallback == "$TMP/spill/"* ]] || fail "disk full: the fallback file is not in TMPDIR: $fallback"
  umount small || fail "umount"
}

size_limit() {
  mkdir -p limited
  "$SANDBOX" train "${SMALL[@]}" --run first --out limited/runs.h5 >/dev/null 2>err || fail "size limit: first run: $(cat err)"
  before=$(sha limited/runs.h5)
  (ulimit -f 100 && exec "$SANDBOX" train "${BASE[@]}" --d-model 24 --dk 24 --dv 24 --run mid --out limited/runs.h5) >out 2>err
  rc=$?
  ((rc > 128)) && fail "size limit: killed by signal $((rc - 128)) ($(cat err))"
  check_refused "size limit" limited/runs.h5 "file size limit exceeded" mid
  [[ $fallback == limited/sandbox-unsaved-* ]] || fail "size limit: the fallback file is not next to the target: $fallback"
}

sweep_size_limit() {
  mkdir -p limited
  # Over the limit already: every rewrite of it fails, while a fallback file of the sweep's small runs fits.
  "$SANDBOX" train --d-model 160 --dk 160 --dv 160 --seq-len 4 --batch 2 --steps 2 --no-gradcheck --run big \
    --out limited/runs.h5 >/dev/null 2>err || fail "sweep size limit: first run: $(cat err)"
  before=$(sha limited/runs.h5)
  printf '[grid]\ntask = teacher\ndk = 4\nseed = 0 1 2 3\n[run]\nd-model = 8\nseq-len = 4\nbatch = 2\nsteps = 400000\nlog-every = 1000\neval-every = 0\nno-gradcheck = true\n' >slow.ini
  (ulimit -f 1000 && exec "$SANDBOX" sweep --config slow.ini --out limited/runs.h5 --jobs 1 --quiet) >out 2>err
  rc=$?
  [[ $rc -eq 2 && $(wc -l <err) -eq 1 ]] || fail "sweep size limit: exit $rc, want 2 and one line: $(head -c 600 err)"
  [[ $(sha limited/runs.h5) == "$before" ]] || fail "sweep size limit: the existing file changed"
  grep -q "file size limit exceeded while writing limited/runs.h5" err || fail "sweep size limit: the cause is not named: $(cat err)"
  fallback=$(sed -n 's/.* runs\{0,1\} w[ae][rs]e\{0,1\} saved to \([^ ]*\) instead .*/\1/p' err)
  [[ -n "$fallback" && -f "$fallback" ]] || fail "sweep size limit: no fallback file named: $(cat err)"
  "$PY" - "$fallback" err <<'PY' || fail "sweep size limit: the line does not match what was saved: $(cat err)"
import re, sys, h5py
fallback, err = sys.argv[1], open(sys.argv[2]).read()
m = re.search(r"of the 4 runs to do, (\d+) finished; (\d+) interrupted(?:: ([^;]*))?; (\d+) never started(?:: ([^;]*))?; "
              r"the same sweep command redoes these once there is room", err)
assert m, "no counts and names of the runs"
finished, interrupted, not_started = int(m[1]), int(m[2]), int(m[4])
names = lambda text: text.split(", ") if text else []
assert finished + interrupted + not_started == 4 and len(names(m[3])) == interrupted and len(names(m[5])) == not_started, m.groups()
assert interrupted + not_started >= 1, "4 runs of a second or more, the first save after 2 s or more: some cannot have finished"
with h5py.File(fallback, "r") as f:
    saved = {name: g.attrs["status"] for name, g in f["runs"].items()}
assert all(saved.get(n) == "interrupted" for n in names(m[3])), (saved, m[3])
assert not set(names(m[5])) & set(saved), (saved, m[5])
assert sum(s == "complete" for s in saved.values()) == finished, (saved, finished)
PY
  note "sweep size limit: exit 2, '$(cut -c1-60 err)... $(grep -o 'of the 4 runs.*' err | cut -c1-120)...'"
}

read_only_dir() {
  mkdir -p ro
  mount -t tmpfs -o ro,size=64k sandbox-test-ro ro 2>/dev/null \
    || skip "read-only directory: cannot mount a read-only tmpfs here (not root, or no mount permission)"
  trap 'umount "$TMP/ro" 2>/dev/null; cleanup' EXIT
  timeout 60 "$SANDBOX" train --d-model 8 --dk 4 --dv 4 --no-gradcheck --steps 50000000 --out ro/runs.h5 >out 2>err
  rc=$?
  [[ $rc -eq 2 && $(wc -l <err) -eq 1 ]] || fail "read-only directory: exit $rc (124: it trained first), want 2 and one line: $(cat err)"
  grep -q "ro/runs.h5: directory ro is not writable" err || fail "read-only directory: $(cat err)"
  umount ro
  note "read-only directory: refused before training"
}

symlinked_out() {
  mkdir -p real
  "$SANDBOX" train "${SMALL[@]}" --run a --out real/runs.h5 >/dev/null 2>err || fail "symlink: first run: $(cat err)"
  ln -s real/runs.h5 link.h5
  "$SANDBOX" train "${SMALL[@]}" --run b --out link.h5 >/dev/null 2>err || fail "symlink: train into the link: $(cat err)"
  [[ -L link.h5 ]] || fail "symlink: the link was replaced by a regular file"
  "$PY" -c 'import h5py, sys; r = sorted(h5py.File(sys.argv[1], "r")["runs"]); assert r == ["a", "b"], r' real/runs.h5 \
    || fail "symlink: the link's target did not get the run"
  note "a symlinked --out: the target got the run, the link stays"
}

case $CASE in
  disk_full | size_limit | sweep_size_limit | read_only_dir | symlinked_out) "$CASE" ;;
  *) fail "unknown case '$CASE' (disk_full, size_limit, sweep_size_limit, read_only_dir, symlinked_out)" ;;
esac
echo "full_disk_test $CASE: PASS"
