#!/usr/bin/env bash
# Damaged files the random fuzz (damaged_files_test.sh) once found, replayed exactly: each must be refused
# before HDF5 reads it, naming what is damaged. Before that refusal existed, HDF5 itself allocated what a
# damaged object-header continuation claimed (446 GB: an AddressSanitizer abort) or copied a global heap
# object that does not exist (a segfault in H5HG_read), in the child process that reads the file: Release
# builds survived both, so the exit code alone would not tell; the message does.
#   bash tests/experiments/cli/damaged_fixed_cases_test.sh SANDBOX_BINARY SOURCE_DIR   (ctest: robust.damaged_fixed_cases)
# The files (tests/data/damaged/) are the fuzz's variants of its `grad` input, named by the seed and the
# variant number that produced them with FUZZ_VARIANTS=50 (FUZZ_SEED=723227063: variants 0 and 22;
# FUZZ_SEED=596743689: variant 23).
set -uo pipefail

TEST_NAME=damaged_fixed_cases_test
# shellcheck source=run_test_setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/run_test_setup.sh" "$@"
cd "$TMP" || fail "cd $TMP"
DATA="$ROOT/tests/data/damaged"

# expect FILE PHRASE: grad and merge each refuse FILE with exit 2, one line on stderr containing PHRASE, and
# create nothing.
expect() {
  local file=$DATA/$1 phrase=$2 rc
  [[ -f "$file" ]] || fail "missing $file"
  rm -f g.h5 m.h5
  "$SANDBOX" grad --in "$file" --out g.h5 >/dev/null 2>err
  rc=$?
  [[ $rc -eq 2 && $(wc -l <err) -eq 1 ]] || fail "grad $1: exit $rc, want 2 and one line: $(head -c 300 err)"
  grep -qF "$phrase" err || fail "grad $1: not refused before HDF5 reads it (want '$phrase'): $(head -c 300 err)"
  [[ ! -e g.h5 ]] || fail "grad $1: wrote g.h5"
  "$SANDBOX" merge m.h5 "$file" >/dev/null 2>err
  rc=$?
  [[ $rc -eq 2 && $(wc -l <err) -eq 1 ]] || fail "merge $1: exit $rc, want 2 and one line: $(head -c 300 err)"
  grep -qF "$phrase" err || fail "merge $1: not refused before HDF5 reads it (want '$phrase'): $(head -c 300 err)"
  [[ ! -e m.h5 ]] || fail "merge $1: created m.h5"
  note "$1: refused: $(cut -c1-160 err)"
}
# The root group's continuation length with a high byte flipped: 2^54 and 446 GB.
expect grad_seed723227063_v0.h5 "continues in 20266198323167328 bytes at byte 7632, outside the file"
expect grad_seed723227063_v22.h5 "continues in 446676598880 bytes at byte 7632, outside the file"
# The root attribute 'scale' (a variable-length string) names object 16187393 of its global heap, which
# holds objects 0 (free space) and 1.
expect grad_seed596743689_v23.h5 "refers to global heap object 16187393 at byte 7728, which does not exist"
echo "damaged_fixed_cases_test: PASS"
