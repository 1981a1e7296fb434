#!/usr/bin/env bash
# Sizes a file or a configuration claims are checked before anything of that size is allocated:
#   bash tests/experiments/cli/claimed_sizes_test.sh SANDBOX_BINARY SOURCE_DIR      (ctest: robust.claimed_sizes)
# 1. A run file whose damaged extent makes a (8, 4) matrix claim (8, 200000000) or (8, 3120562180) values
#    is refused by merge with one line naming the run, in well under 100 MB (peak RSS, when /usr/bin/time
#    can tell).
# 2. A grid axis of a million values with the last one repeated is refused quickly (the duplicate check is
#    not quadratic); a grid of more than a million runs is refused with one line, exit 2.
# 3. --eval-batches counts in the memory estimate: an absurd number is refused before any batch is drawn.
# Exits non-zero at the first failure, with a line "FAIL: ..." saying what went wrong.
set -uo pipefail
SANDBOX=${1:?usage: claimed_sizes_test.sh SANDBOX_BINARY SOURCE_DIR}
ROOT=${2:?usage: claimed_sizes_test.sh SANDBOX_BINARY SOURCE_DIR}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
note() { echo "  $*"; }
PY=$("$ROOT/experiments/find_python.sh") || fail "experiments/find_python.sh found no Python with h5py"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/claimed_sizes.XXXXXX") || fail "mktemp"
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || fail "cd $TMP"

# ---- 1. a damaged extent ----------------------------------------------------------------------------------
"$SANDBOX" train --d-model 8 --dk 4 --dv 4 --seq-len 3 --batch 2 --steps 5 --no-gradcheck --run a --out a.h5 \
  >/dev/null 2>err || fail "train: $(cat err)"
# Every dataspace of a (8, 4) matrix (dims, then max dims: 8-byte little-endian pairs) gets a damaged
# second dimension, one file per place.
"$PY" - <<'PY' || fail "could not make the damaged files"
import struct
data = open("a.h5", "rb").read()
pattern = struct.pack("<QQ", 8, 4)
places = [i for i in range(len(data) - 15) if data[i:i + 16] == pattern]
assert places, "no (8, 4) dataspace found"
for n, at in enumerate(places):
    for claim in (200_000_000, 3_120_562_180):
        damaged = bytearray(data)
        damaged[at + 8:at + 16] = struct.pack("<Q", claim)
        open(f"extent-{n}-{claim}.h5", "wb").write(damaged)
PY
TIME=""
[[ -x /usr/bin/time ]] && TIME=/usr/bin/time
refused=0
for f in extent-*.h5; do
  rm -f out.h5
  if [[ -n "$TIME" ]]; then
    "$TIME" -o rss -f %M "$SANDBOX" merge out.h5 "$f" >/dev/null 2>err
  else
    "$SANDBOX" merge out.h5 "$f" >/dev/null 2>err
  fi
  rc=$?
  ((rc > 128)) && fail "merge $f: killed by signal $((rc - 128))"
  if [[ -n "$TIME" ]]; then
    kib=$(tail -n 1 rss)
    ((kib < 100 * 1024)) || fail "merge $f: peak RSS $kib KiB, want under 100 MB"
  fi
  [[ $rc -eq 0 ]] && continue  # a damaged max-dims field alone is harmless: merge rewrites the run
  [[ $rc -eq 2 && $(wc -l <err) -eq 1 ]] || fail "merge $f: exit $rc, want 2 and one line: $(cat err)"
  grep -q "run 'a' is damaged" err || fail "merge $f: the run is not named: $(cat err)"
  grep -Eq "claims [0-9]+ values|is too large" err || fail "merge $f: the claimed size is not the reason given: $(cat err)"
  refused=$((refused + 1))
done
((refused >= 6)) || fail "only $refused damaged extents were refused"
note "$refused damaged extents refused by merge, one line each$([[ -n "$TIME" ]] && echo ", under 100 MB")"

# ---- 2. grids ------------------------------------------------------------------------------------------------
"$PY" -c 'print("[grid]\nseed = " + " ".join(str(i) for i in range(999_998)) + " 5\n[run]\nsteps = 1")' >long.ini
start=$SECONDS
timeout 60 "$SANDBOX" sweep --config long.ini --out long.h5 >/dev/null 2>err
rc=$?
[[ $rc -eq 124 ]] && fail "a long grid axis: not refused within 60 s (quadratic duplicate check?)"
[[ $rc -eq 2 ]] || fail "a long grid axis with a repeated value: exit $rc, want 2: $(cat err)"
grep -q "seed lists the value 5 twice" err || fail "a long grid axis: the repeated value is not named: $(cat err)"
[[ ! -e long.h5 ]] || fail "a refused grid created long.h5"
note "a grid axis of 999 999 values with a repeat refused in $((SECONDS - start)) s: $(cat err)"

printf '[grid]\nseed = %s\nlr = %s\n' "$(seq -s ' ' 0 1999)" "$(seq -s ' ' 0.001 0.001 0.6)" >big.ini
"$SANDBOX" sweep --config big.ini --out big.h5 >/dev/null 2>err
rc=$?
[[ $rc -eq 2 && $(wc -l <err) -eq 1 ]] || fail "a grid of 1.2 million runs: exit $rc, want 2 and one line: $(cat err)"
grep -q "more than 1000000 runs" err || fail "a grid of 1.2 million runs: the limit is not said: $(cat err)"
note "a grid of 1.2 million runs refused: $(cat err)"

# ---- 3. --eval-batches ---------------------------------------------------------------------------------------
"$SANDBOX" train --batch 64 --seq-len 64 --d-model 64 --eval-batches 100000 --steps 1 --no-gradcheck --out e.h5 >/dev/null 2>err
rc=$?
[[ $rc -eq 2 && $(wc -l <err) -eq 1 ]] || fail "--eval-batches 100000: exit $rc, want 2 and one line: $(cat err)"
grep -q "eval-batches 100000.*8 GiB" err || fail "--eval-batches 100000: the estimate does not count them: $(cat err)"
[[ ! -e e.h5 ]] || fail "--eval-batches 100000 created e.h5"
note "--eval-batches 100000 refused: $(cat err)"
echo PASS
