#!/usr/bin/env bash
# Sharded sweeps merged back equal the whole sweep; merge refuses two different runs under one name and
# leaves every file as it was; `sandbox gradcheck` checks every op and model and exits 0.
# Usage: shard_merge_test.sh SANDBOX_BINARY SOURCE_DIR
set -euo pipefail
sandbox=$1
src=$2
PY=$("$src/experiments/find_python.sh")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }

write_ini() {  # steps
  cat > "grid$1.ini" <<INI
[grid]
task = teacher
dk = 2 8 32
scale = none sqrt
seed = 0
[run]
d-model = 8
seq-len = 5
batch = 3
steps = $1
INI
}
write_ini 6
write_ini 7
"$sandbox" sweep --config grid6.ini --out whole.h5 --jobs 1 --quiet > /dev/null
"$sandbox" sweep --config grid6.ini --out part0.h5 --shard 0/2 --quiet > /dev/null
"$sandbox" sweep --config grid6.ini --out part1.h5 --shard 1/2 --quiet > /dev/null
"$sandbox" merge merged.h5 part0.h5 part1.h5 > /dev/null

"$PY" - <<'PY' || fail "the merged shards differ from the whole sweep"
import h5py, numpy as np, sys
whole, parts = h5py.File("whole.h5", "r"), [h5py.File(f"part{i}.h5", "r") for i in (0, 1)]
merged = h5py.File("merged.h5", "r")
names = set(whole["runs"])
p0, p1 = set(parts[0]["runs"]), set(parts[1]["runs"])
assert len(names) == 6, names
assert p0 and p1 and not (p0 & p1) and p0 | p1 == names, (p0, p1)   # disjoint parts that cover the grid
assert set(merged["runs"]) == names
for name in names:
    a, b = whole["runs"][name], merged["runs"][name]
    for key in ("loss", "logit_grad/median", "grad_norm/W_Q", "params/W_Q"):
        assert np.array_equal(a[key][()], b[key][()]), (name, key)
    assert a.attrs["status"] == b.attrs["status"] == "complete"
PY

# Merging the same parts again adds nothing and is not an error.
"$sandbox" merge merged.h5 part0.h5 | grep -q "0 runs added" || fail "re-merging identical runs should add none"

# A different run under a name already merged is refused, and no file changes.
"$sandbox" sweep --config grid7.ini --out other.h5 --quiet > /dev/null
before=$(sha256sum merged.h5 other.h5 part0.h5 part1.h5)
listing=$(ls -A)
set +e
"$sandbox" merge merged.h5 other.h5 > out.txt 2> err.txt
code=$?
set -e
[[ $code -eq 2 ]] || fail "merging a conflicting run exited $code, not 2"
[[ $(wc -l < err.txt) -eq 1 ]] && grep -q "steps = 7" err.txt || fail "want one line naming the conflict (the first differing option), got: $(cat err.txt)"
[[ $(sha256sum merged.h5 other.h5 part0.h5 part1.h5) == "$before" ]] || fail "a refused merge changed a file"
[[ $(ls -A | grep -v -e '^out.txt$' -e '^err.txt$') == $(echo "$listing" | grep -v -e '^out.txt$' -e '^err.txt$') ]] || fail "a refused merge left a file behind"

# gradcheck: every op and model listed, all passing, exit 0.
"$sandbox" gradcheck --seeds 1 > gradcheck.txt || fail "sandbox gradcheck exited non-zero"
rows=$(grep -cE ' pass$' gradcheck.txt)
[[ $rows -ge 50 ]] || fail "sandbox gradcheck listed only $rows passing rows"
grep -q " 0 failed" gradcheck.txt || fail "sandbox gradcheck reports failures"
echo "shards merge into the whole sweep; conflicting merge refused; gradcheck lists $rows passing ops and models: ok"
