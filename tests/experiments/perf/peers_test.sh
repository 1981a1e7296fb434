#!/usr/bin/env bash
# peers.quick_run_matches_sandbox: experiments/perf/peers.py --quick prints its table (machine, load, a row per
# precision, ratios to the sandbox), refuses bad input with one line and exit 2, and its PyTorch and JAX steps
# are the sandbox's step (check_peer_step.py: same losses, gradient norms and final weights on a run's own
# weights and batches).
#
# The peers' Python: $SANDBOX_PEERS_PYTHON if set, else /work/venv-peers/bin/python if it exists
# (experiments/perf/README.md says how to make it). Without one that can `import torch`, the test reports
# itself skipped (exit 77): the set-up does not install PyTorch.
# usage: peers_test.sh SANDBOX REPO
set -u
sandbox=$1 repo=$2
here=$repo/tests/experiments/perf
peers_py=${SANDBOX_PEERS_PYTHON:-/work/venv-peers/bin/python}
if [[ ! -x $peers_py ]] || ! "$peers_py" -c 'import torch' >/dev/null 2>&1; then
  echo "SKIPPED: no Python with torch at '$peers_py' (set SANDBOX_PEERS_PYTHON; see experiments/perf/README.md)"
  exit 77
fi
PY=$("$repo/experiments/find_python.sh") || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

echo "== peers.py --quick: the table"
"$peers_py" "$repo/experiments/perf/peers.py" --quick --sandbox "$sandbox" >"$tmp/out.txt" 2>"$tmp/err.txt" ||
  { cat "$tmp/out.txt" "$tmp/err.txt"; fail "peers.py --quick exited $?"; }
"$peers_py" "$here/check_peers_table.py" "$tmp/out.txt" || fail "the table of peers.py --quick"

echo "== peers.py: bad input is one line on stderr and exit 2"
for bad in "--shape 8x16x32" "--rounds 0" "--peers torch,numpy" "--sandbox $tmp/none"; do
  # shellcheck disable=SC2086  # the options are split on purpose
  "$peers_py" "$repo/experiments/perf/peers.py" $bad >"$tmp/bad.out" 2>"$tmp/bad.err"
  rc=$?
  [[ $rc == 2 && $(wc -l <"$tmp/bad.err") == 1 && ! -s $tmp/bad.out ]] ||
    { cat "$tmp/bad.err"; fail "peers.py $bad: exit $rc, $(wc -l <"$tmp/bad.err") line(s) on stderr (want 2, one line)"; }
  echo "  ok   $bad: $(cat "$tmp/bad.err")"
done

echo "== the peers' step is the sandbox's step"
seed=4 batch=3 n=10 d_model=24 d_k=6  # non-square, distinct sizes
"$sandbox" train --task teacher --d-model $d_model --seq-len $n --batch $batch --dk $d_k --dv dk --scale sqrt \
  --optimizer adam --lr 0.01 --steps 3 --log-every 1 --seed $seed --eval-batches 1 --out "$tmp/run.h5" --name r >/dev/null ||
  fail "sandbox train"
"$PY" "$here/dump_run.py" "$tmp/run.h5" r "$tmp/run.npz" || fail "dump_run.py"
PYTHONPATH="$here:$repo/experiments/perf" "$peers_py" "$here/check_peer_step.py" "$tmp/run.npz" $seed $batch $n $d_model $d_k || fail "check_peer_step.py"
echo "peers test passed"
