#!/usr/bin/env bash
# A run changed after it was written (one byte of its config, of an attribute, of a parameter or of a
# series: damage that HDF5 itself does not notice) fails its checksum, and is named by everything that
# reads it: `merge` refuses (or skips with --skip-damaged), `train --out` refuses, a resumed sweep redoes
# it, the Python reader raises DamagedFile. Runs without a checksum (older files) are accepted, unless
# their config_hash does not match their config.
#   bash tests/experiments/cli/run_checksum_test.sh SANDBOX_BINARY SOURCE_DIR      (ctest: robust.run_checksum)
# Exits non-zero at the first failure, with a line "FAIL: ..." saying what went wrong.
set -uo pipefail

TEST_NAME=run_checksum_test
# shellcheck source=run_test_setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/run_test_setup.sh" "$@"
cd "$TMP" || fail "cd $TMP"
export PYTHONPATH="$ROOT/experiments"

printf '[grid]\ntask = teacher\ndk = 2\nscale = none sqrt\nseed = 0\n[run]\nd-model = 4\nseq-len = 3\nbatch = 2\nsteps = 3\nno-gradcheck = true\n' >grid.ini
TRAIN=(--d-model 4 --dk 2 --dv 2 --seq-len 3 --batch 2 --no-gradcheck --run extra)
"$SANDBOX" sweep --config grid.ini --out base.h5 --jobs 1 --quiet >/dev/null 2>err || fail "base file: $(cat err)"
RUN=teacher-dk2-none-seed0
OTHER=teacher-dk2-sqrt-seed0

# Every run has a checksum, and the Python reader's computation of it agrees with the sandbox's.
"$PY" - base.h5 <<'PY' || fail "the checksums of base.h5 are missing or disagree with sqrtdk.checksum"
import sys, h5py
from sqrtdk import checksum
with h5py.File(sys.argv[1], "r") as f:
    for name, g in f["runs"].items():
        stored = g.attrs.get("checksum")
        assert isinstance(stored, str) and len(stored) == 8, (name, stored)
        assert checksum.compute(g) == stored, (name, stored, checksum.compute(g))
PY
"$SANDBOX" merge whole.h5 base.h5 >/dev/null 2>err || fail "merge of an intact file: $(cat err)"
"$PY" -c 'import sys, h5py
a, b = (h5py.File(p, "r")["runs"] for p in sys.argv[1:])
assert sorted(a) == sorted(b) and all(a[n].attrs["checksum"] == b[n].attrs["checksum"] for n in a)' whole.h5 base.h5 \
  || fail "merge did not carry every run over with the same checksum"
note "every run has a checksum, which sqrtdk.checksum computes alike, and merge carries it over unchanged"

# damage OUT HOW: a copy of base.h5 with one byte of run $RUN changed. config and param are changed in the
# file's bytes (the config text where the global heap keeps it; W_Q where its contiguous data lies); the
# attribute and the series through h5py (a byte flipped inside a compressed chunk is a deflate error,
# which HDF5 reports already, so the value itself is changed: one byte of its float64).
damage() {
  cp base.h5 "$1"
  "$PY" - "$1" "$2" "$RUN" <<'PY' || fail "damaging $1 ($2)"
import sys, h5py, numpy as np
path, how, run = sys.argv[1:]
def flip(value):  # one byte of a float64 changed
    b = bytearray(np.float64(value).tobytes()); b[0] ^= 0x10
    return np.frombuffer(bytes(b), dtype="<f8")[0]
offset = None
with h5py.File(path, "a") as f:
    g = f["runs"][run]
    if how == "config":
        text = g.attrs["config"].encode()
        at = text.index(b"seed = 0")
        data = open(path, "rb").read()
        assert data.count(text) == 1, "the config text is not in the file exactly once"
        offset = data.index(text) + at + len("seed = ")
    elif how == "param":
        offset = g["params/W_Q"].id.get_offset() + 3
    elif how == "attribute":
        g.attrs.modify("lr", flip(g.attrs["lr"]))
    elif how == "series":
        loss = g["loss"][()]; loss[1] = flip(loss[1]); g["loss"][1] = loss[1]
if offset is not None:
    with open(path, "r+b") as out:
        out.seek(offset); byte = out.read(1)[0]
        out.seek(offset); out.write(bytes([byte ^ 0x01]))  # '0' -> '1' in the config; one bit of W_Q
PY
}
for how in config attribute param series; do
  damage "d_$how.h5" "$how"
  before=$(sha "d_$how.h5")
  refuses_damaged_run "$how" "d_$how.h5" "$RUN" "$OTHER" " (its content does not match its checksum" "${TRAIN[@]}"
  "$PY" - "d_$how.h5" "$RUN" <<'PY' >out 2>err || fail "the Python reader ($how): $(cat err)"
import sys, sqrtdk
path, run = sys.argv[1:]
try:
    sqrtdk.load_runs(path)
except sqrtdk.DamagedFile as e:
    text = str(e)
    assert f"run '{run}': its content does not match its checksum" in text and "\n" not in text, text
else:
    raise SystemExit("read a run whose checksum does not match, without a word")
PY
  [[ $(sha "d_$how.h5") == "$before" ]] || fail "refusals changed d_$how.h5"
  "$SANDBOX" sweep --config grid.ini --out "d_$how.h5" --jobs 1 >out 2>err || fail "sweep resume ($how): $(cat err)"
  head -n 1 out | grep -q "^sweep: 1 runs to do, 1 already complete, 1 damaged (redone if in this grid; first: $RUN: its content does not match its checksum" \
    || fail "sweep resume ($how): first line: $(head -n 1 out)"
  "$SANDBOX" merge "whole_$how.h5" "d_$how.h5" >out 2>err || fail "after the resume, d_$how.h5 is still damaged: $(cat err)"
done
note "one byte changed in the config, an attribute, a parameter or a series: merge and train refuse naming the run,"
note "merge --skip-damaged skips it, a resumed sweep redoes it, the Python reader raises DamagedFile naming it"

# A file written before checksums (none stored): read, merged and resumed as before, without a check.
cp base.h5 old.h5
"$PY" -c 'import sys, h5py
with h5py.File(sys.argv[1], "a") as f:
    for g in f["runs"].values(): del g.attrs["checksum"]' old.h5
"$SANDBOX" merge old_merged.h5 old.h5 >/dev/null 2>err || fail "merge of runs without a checksum: $(cat err)"
"$SANDBOX" sweep --config grid.ini --out old.h5 --jobs 1 >out 2>err || fail "resume of runs without a checksum: $(cat err)"
head -n 1 out | grep -q "^sweep: 0 runs to do, 2 already complete" || fail "resume of runs without a checksum: $(head -n 1 out)"
"$PY" -c 'import sys, sqrtdk; assert len(sqrtdk.load_runs(sys.argv[1])) == 2' old.h5 || fail "the Python reader refused runs without a checksum"
"$PY" -c 'import sys, h5py
f = h5py.File(sys.argv[1], "r")
assert all(len(g.attrs["checksum"]) == 8 for g in f["runs"].values())' old_merged.h5 || fail "merge did not give the old runs a checksum"
note "runs without a checksum (older files) are accepted unchecked, and merge writes them with one"

# Such a run with its config changed still fails: config_hash no longer matches it.
cp old_merged.h5 old_config.h5
"$PY" - old_config.h5 "$RUN" <<'PY' || fail "changing the config of an old run"
import sys, h5py
with h5py.File(sys.argv[1], "a") as f:
    g = f["runs"][sys.argv[2]]
    del g.attrs["checksum"]
    g.attrs["config"] = g.attrs["config"].replace("seed = 0", "seed = 1")
PY
refuses_damaged_run old_config old_config.h5 "$RUN" "$OTHER" " (attribute config_hash does not match config" "${TRAIN[@]}"
"$PY" -c 'import sys, sqrtdk
try:
    sqrtdk.load_runs(sys.argv[1])
except sqrtdk.DamagedFile as e:
    assert "config_hash does not match config" in str(e), e
else:
    raise SystemExit("no DamagedFile")' old_config.h5 || fail "the Python reader on a config that does not match its config_hash"
note "a run without a checksum whose config no longer matches its config_hash: named by merge, train and the reader"
echo "run_checksum_test: PASS"
