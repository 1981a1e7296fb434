# shellcheck shell=bash
# Shared by the scale-out recipe tests (tests/experiments/cli/scaleout_parallel_test.sh, scaleout_slurm_test.sh); sourced
# after run_test_setup.sh, whose fail, PY, ROOT, SANDBOX and TMP it uses.
#   skip WHY                     one line "SKIPPED: WHY" and exit 77, which ctest reports as skipped
#   need_tools WHAT TOOL...      skips when a tool is missing, but fails on CI (CI=true), where
#                                experiments/install_deps.sh must have installed it
#   readme_links FILE            experiments/README.md links FILE (relative to the repository)
#   write_tiny_grid INI          6 runs of 20 steps: d_k 2 3 4 × scale none sqrt
#   check_shards WHOLE PART...   the parts are non-empty, disjoint and together hold WHOLE's runs
#   same_runs WHOLE MERGED       the same runs, equal bit for bit: every dataset (values, shape, type) and every
#                                attribute but wall_seconds

skip() {
  echo "SKIPPED: $*"
  exit 77
}

need_tools() {
  local what=$1 tool missing=()
  shift
  for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  ((${#missing[@]} == 0)) && return 0
  local why="$what not installed (no ${missing[*]}); experiments/install_deps.sh scaleout installs it"
  [[ "${CI:-}" == true ]] && fail "$why (CI=true: a skip would hide a missing install step)"
  skip "$why"
}

readme_links() {
  # The recipe is linked from experiments/README.md, not printed there, so the reader always sees the file
  # as it is; the link must name it relative to experiments/.
  local file=$1
  grep -qF "](${file#experiments/})" "$ROOT/experiments/README.md" ||
    fail "experiments/README.md does not link $file (expected a link to ${file#experiments/})"
}

write_tiny_grid() {
  cat >"$1" <<'INI'
[grid]
task = teacher
dk = 2 3 4
scale = none sqrt
seed = 0
[run]
d-model = 8
seq-len = 4
batch = 2
steps = 20
log-every = 3
INI
}

check_shards() {
  "$PY" - "$@" <<'PY' || fail "the shards do not split the grid"
import sys, h5py
whole, parts = sys.argv[1], sys.argv[2:]
with h5py.File(whole, "r") as f:
    names = set(f["runs"])
seen = {}
for part in parts:
    with h5py.File(part, "r") as f:
        runs = set(f["runs"]) if "runs" in f else set()
    if not runs:
        sys.exit(f"{part} holds no run")
    for name in runs & set(seen):
        sys.exit(f"{name} is in both {seen[name]} and {part}")
    seen.update(dict.fromkeys(runs, part))
if set(seen) != names:
    sys.exit(f"the shards hold {sorted(seen)}, the whole sweep {sorted(names)}")
print(f"  {len(parts)} shards split the {len(names)} runs: " + ", ".join(str(list(seen.values()).count(p)) for p in parts))
PY
}

same_runs() {
  "$PY" - "$@" <<'PY' || fail "the merged shards differ from the unsharded sweep"
import sys, h5py, numpy as np
bad = []
with h5py.File(sys.argv[1], "r") as whole, h5py.File(sys.argv[2], "r") as merged:
    names = sorted(whole["runs"])
    if sorted(merged["runs"]) != names:
        bad.append(f"runs differ: {names} vs {sorted(merged['runs'])}")
    for name in (n for n in names if n in merged["runs"]):
        a, b = whole["runs"][name], merged["runs"][name]
        sets = {}
        for run, side in ((a, 0), (b, 1)):
            run.visititems(lambda n, o: sets.setdefault(n, [None, None]).__setitem__(side, o[()])
                           if isinstance(o, h5py.Dataset) else None)
        for n, (x, y) in sorted(sets.items()):
            if x is None or y is None:
                bad.append(f"{name}: dataset {n} only in {'the merged file' if x is None else 'the whole sweep'}")
            elif x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
                bad.append(f"{name}: dataset {n} differs")
        keys = sorted((set(a.attrs) | set(b.attrs)) - {"wall_seconds", "checksum"})  # the checksum covers wall_seconds
        for k in keys:
            if k not in a.attrs or k not in b.attrs:
                bad.append(f"{name}: attribute {k} in one file only")
            elif np.asarray(a.attrs[k]).tobytes() != np.asarray(b.attrs[k]).tobytes():
                bad.append(f"{name}: attribute {k} differs: {a.attrs[k]!r} vs {b.attrs[k]!r}")
        if len(sets) < 5 or "loss" not in sets or "config" not in keys:
            bad.append(f"{name}: too little compared ({len(sets)} datasets, {len(keys)} attributes)")
for line in bad[:10]:
    print("  " + line)
if not bad:
    print(f"  {len(names)} runs equal bit for bit (every dataset, every attribute but wall_seconds and the checksum over it)")
sys.exit(1 if bad else 0)
PY
}
