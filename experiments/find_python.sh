#!/usr/bin/env bash
# Print the path of the first Python interpreter that can `import h5py, matplotlib`.
#
# The plotting scripts need h5py + numpy + matplotlib, which come from Debian's python3-h5py and
# python3-matplotlib packages and therefore live in /usr/bin/python3. The `python3` first on PATH may be
# a different interpreter (pyenv, venv) without them, so never run the scripts with a bare `python3`.
#
# Use it either way:
#   PY=$(experiments/find_python.sh) || exit 1            # run as a script
#   source experiments/find_python.sh; PY=$(find_python) || exit 1   # or as a function
#   PYTHONPATH=experiments "$PY" -m sqrtdk figures --sweep results/sqrt_dk.h5 --out results/figures
#
# Candidates, in order: /usr/bin/python3, python3, python. FIND_PYTHON_CANDIDATES (space-separated)
# replaces that list; it exists so the failure path can be tested.

find_python() {
  local -a cands
  if [[ -n "${FIND_PYTHON_CANDIDATES:-}" ]]; then
    read -r -a cands <<<"$FIND_PYTHON_CANDIDATES"
  else
    cands=(/usr/bin/python3 python3 python)
  fi
  local cand path
  for cand in "${cands[@]}"; do
    path=$(command -v -- "$cand" 2>/dev/null) || continue
    [[ -n "$path" && -x "$path" ]] || continue
    if "$path" -c 'import h5py, matplotlib' >/dev/null 2>&1; then
      printf '%s\n' "$path"
      return 0
    fi
  done
  echo "find_python: no Python interpreter among '${cands[*]}' can 'import h5py, matplotlib'" \
       "(on Debian/Ubuntu: apt-get install python3-h5py python3-matplotlib, which provide /usr/bin/python3)" >&2
  return 1
}

# Executed (not sourced): print the interpreter or exit 1.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  find_python
  exit $?
fi
