#!/usr/bin/env bash
# The language model end to end (ctest: train.lm_text): `sandbox train --model lm` in float32 on a small text
# learns it (the held-out bits per character end well below the text's unigram entropy and below where they
# start), and `sandbox sample` prints text from the run: as many characters as asked, all from the text's
# vocabulary, the same for the same seed and different for another.
#
#   bash tests/experiments/cli/lm_test.sh [SANDBOX_BINARY] [REPO_ROOT]
#
# The text is made here (below), so the test needs no package.
set -uo pipefail
# shellcheck source=tests/experiments/cli/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hx_init "$@"
cd "$SCRATCH" || exit 1

# The text: 4000 lines, each one of 16 short English sentences picked by a fixed linear congruential generator
# (the same text on every machine, about 96 kB). Its unigram entropy is about 4.2 bits per character; a model
# that has learned the sentences pays only for the choice of each (4 bits a line, about 0.2 per character).
# The test asks for at least 2 bits below the unigram entropy after 300 steps (it reaches about 0.9).
sentences=("the cat sat on the mat" "a dog ran in the park" "we eat bread with jam" "my friend reads a book"
  "the sun is warm today" "she plays the old piano" "rain falls on the roof" "birds sing in the trees"
  "he drinks hot black tea" "they walk to the river" "the moon rises at night" "you write a long letter"
  "snow covers the hills" "our train leaves at noon" "the wind moves the grass" "i like green apples")
state=12345
for ((line = 0; line < 4000; line++)); do
  state=$(((state * 1103515245 + 12345) % 2147483648))
  printf '%s.\n' "${sentences[$(((state >> 16) % 16))]}"
done >text.txt
# A tiny model: 2 blocks, 2 heads of width 16, context 32, 300 steps of Adam at 1e-2 after 20 of warm-up.
if ! "$SANDBOX" train --model lm --text text.txt --precision float32 --layers 2 --heads 2 --d-model 32 --dk auto \
    --dv auto --seq-len 32 --batch 16 --steps 300 --lr 1e-2 --warmup-steps 20 --eval-every 100 \
    --eval-batches 16 --log-every 10 --run tiny --out lm.h5 >train.out 2>&1; then
  hx_fail train "$(tail -3 train.out | tr '\n' ' ')"
  hx_summary
  exit 1
fi
cat train.out
# "held-out bits per character 2.9 (the corpus's unigram entropy: 4.4 bits); ..."
read -r bits entropy < <(sed -n 's/^held-out bits per character \([0-9.e+-]*\) (the corpus.s unigram entropy: \([0-9.e+-]*\) bits).*/\1 \2/p' train.out)
if [[ -z "${bits:-}" || -z "${entropy:-}" ]]; then
  hx_fail held_out_line "train printed no 'held-out bits per character' line"
elif awk -v b="$bits" -v h="$entropy" 'BEGIN { exit !(b <= h - 2.0) }'; then
  hx_pass "held-out $bits bits per character, at least 2 bits below the unigram entropy $entropy"
else
  hx_fail held_out_below_unigram "held-out $bits bits per character, not 2 bits below the unigram entropy $entropy"
fi

if [[ -n "$PY" ]]; then
  hx_check run_file_as_the_layout_says "$PY" - lm.h5 <<'PYEOF'
import math, sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    run = f["runs/tiny"]
    bits = run["eval/bits_per_char"][...]
    assert len(bits) == len(run["eval/step"]) == 4, len(bits)  # at 0, 100, 200 and 300
    assert abs(bits[-1] - run["eval/loss"][-1] / math.log(2)) < 1e-12
    assert bits[-1] < bits[0] - 2.0, (bits[0], bits[-1])      # from about log2 V down
    assert run.attrs["precision"] == "float32" and run.attrs["layers"] == 2 and run.attrs["causal"] == 1
    for b in range(2):
        for s in ("logit_max_abs", "attn_entropy", "saturated_fraction", "logit_grad/median"):
            assert len(run[f"block{b}/{s}"]) == len(run["step"]) == 31, (b, s)  # 0, 10, …, 290, 299
            for h in range(2):
                assert len(run[f"block{b}/head{h}/{s}"]) == 31, (b, h, s)
    assert run["block0/logit_max_abs"][0] > 0 and run["grad_norm_total"][0] > 0
    assert len(run["params"]) == 2 + 2 * 13 + 2, sorted(run["params"])
    print(f"eval/bits_per_char {bits[0]:.3f} -> {bits[-1]:.3f}")
PYEOF
fi

# sandbox sample: 300 characters, from the vocabulary, repeatable by seed.
if "$SANDBOX" sample --run lm.h5:tiny --chars 300 --seed 5 >a.txt 2>err.txt &&
   "$SANDBOX" sample --run lm.h5:tiny --chars 300 --seed 5 >b.txt 2>>err.txt &&
   "$SANDBOX" sample --run lm.h5:tiny --chars 300 --seed 6 >c.txt 2>>err.txt; then
  size=$(head -c -1 a.txt | wc -c)
  [[ $size == 300 ]] && hx_pass "sample prints 300 characters" || hx_fail sample_length "$size characters, not 300"
  if LC_ALL=C grep -q "[^$(LC_ALL=C tr -d '\n' <text.txt | LC_ALL=C fold -w1 | LC_ALL=C sort -u | LC_ALL=C tr -d '\n' | sed 's/[]\\^-]/\\&/g')]" <(head -c -1 a.txt | tr -d '\n'); then
    hx_fail sample_vocabulary "a character that is not in the text: $(head -c 80 a.txt)"
  else
    hx_pass "sample's characters are the text's"
  fi
  cmp -s a.txt b.txt && hx_pass "same seed, same text" || hx_fail sample_repeatable "seed 5 gave two texts"
  cmp -s a.txt c.txt && hx_fail sample_seed "seeds 5 and 6 gave the same text" || hx_pass "another seed, another text"
  echo "--- sample (seed 5):"
  head -c 300 a.txt
  echo
else
  hx_fail sample "$(head -3 err.txt | tr '\n' ' ')"
fi
# --diverge-factor: a run whose training loss passes that many times its first stops as diverged, with its
# step and reason (as the attention trainer's runs). At lr 1 the tiny model's loss passes 3x its first (about
# 4 nats) within 40 steps; at lr 1e-2 it does not, and the same model at lr 1 with the default bound (100x)
# completes.
div_run() {  # NAME LR FACTOR
  "$SANDBOX" train --model lm --text text.txt --precision float32 --layers 2 --heads 2 --d-model 32 --dk auto --dv auto \
    --seq-len 32 --batch 16 --steps 40 --lr "$2" --warmup-steps 2 --eval-every 0 --log-every 5 --no-gradcheck \
    --save-weights none --diverge-factor "$3" --run "$1" --out div.h5 >"div_$1.out" 2>&1
  local rc=$?
  ((rc == 0 || rc == 3))  # 3: the run diverged (and was saved)
}
if div_run high 1 3 && div_run low 1e-2 3 && div_run bound100 1 100; then
  grep -q 'diverged at step' div_high.out && hx_pass "lr 1, bound 3: the run stops as diverged" ||
    hx_fail lm_diverge_factor "lr 1 with --diverge-factor 3 did not stop: $(tail -2 div_high.out | tr '\n' ' ')"
  if [[ -n "$PY" ]]; then
    hx_check lm_diverged_run_as_the_layout_says "$PY" - div.h5 <<'PYEOF'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    high, low, b100 = (f[f"runs/{n}"] for n in ("high", "low", "bound100"))
    assert high.attrs["status"] == "diverged", high.attrs["status"]
    step = int(high.attrs["diverged_step"])
    assert 0 < step < 40 and "x the first loss" in high.attrs["diverged_reason"], (step, high.attrs["diverged_reason"])
    assert high["loss"][-1] > 3 * high["loss"][0] or step % 5 != 0, list(high["loss"][...])
    assert low.attrs["status"] == "complete" and b100.attrs["status"] == "complete", (low.attrs["status"], b100.attrs["status"])
    print(f"diverged at step {step}: {high.attrs['diverged_reason']}")
PYEOF
  fi
else
  hx_fail lm_diverge_runs "$(tail -2 div_high.out div_low.out div_bound100.out 2>/dev/null | tr '\n' ' ')"
fi
hx_summary
