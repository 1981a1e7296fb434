"""nanoGPT's "baby GPT" in PyTorch against `sandbox train --model lm` of the same shape: time per training
step, and (with --train-steps) the PyTorch model's held-out bits per character on the same corpus.

The PyTorch model is models/lm.hpp written out, parameter by parameter, so that both sides do the same work:
token embedding E (V x d) plus learned positions P (n x d); L pre-LayerNorm blocks, each
  x = x + Attn(LN1(x)) W^O + b^O     causal multi-head self-attention, W^Q, W^K, W^V without biases,
                                     scores scaled by 1/sqrt(d_k) (scale sqrt), heads of d_k = d_model/heads
  x = x + GELU(LN2(x) W1 + b1) W2 + b2   MLP of width 4d, exact (erf) GELU
then a final LayerNorm and the output projection tied to E (logits = LN_f(x) E^T); the mean next-character
cross-entropy. LayerNorm eps 1e-5 (biased variance), no dropout. Initialisation as the sandbox's: W^Q, W^K,
W^V, W1 ~ N(0, 1/d), W^O, W2 ~ N(0, 1/(fan_in 2L)), E, P ~ N(0, 0.02^2), gains 1, biases 0. AdamW over
every parameter (one group: the sandbox decays every parameter too), decoupled decay applied before the
update as in torch.optim.AdamW. A step: gradients cleared, forward, backward, the norm of every parameter's
gradient (the sandbox computes them to refuse a non-finite update), the AdamW update.

Time per step, both sides on one thread, as CPU time of warmed-up steps:
  sandbox   two `sandbox train` runs of W and W + S steps (--eval-every 0, --no-gradcheck, --log-every of the
            run's length, --save-weights none); the difference of the child processes' user + system time
            over S. What both runs share (start-up, reading the corpus, the logged first and last steps, the
            save) cancels; what is left is the step plus drawing its batch (a few hundred token copies).
  torch     the step above on a batch drawn beforehand (not timed), torch.set_num_threads(1).
The two are timed in alternating rounds (the machine's load hits both); the median of the rounds is shown.

The corpus is the sandbox's default (`fortunes`: every text file of /usr/share/games/fortunes without .dat
and .u8, in name order, bytes as tokens, the first 90% for training and the last 10% held out), read here
the same way.
"""
import math
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

FORTUNES = Path("/usr/share/games/fortunes")


class LmShape:
    """The baby model's shape by default: 4 blocks, 4 heads, d_model 128, context 64, batch 12."""

    def __init__(self, layers=4, heads=4, d_model=128, context=64, batch=12):
        self.layers, self.heads, self.d_model, self.context, self.batch = layers, heads, d_model, context, batch
        self.d_k = d_model // heads

    def __str__(self):
        return f"L{self.layers} h{self.heads} d{self.d_model} n{self.context} B{self.batch}"


# ---------------------------------------------------------------------------------------------- corpus
def read_corpus(directory=FORTUNES):
    """(train tokens, held-out tokens, vocabulary size, unigram entropy in bits), as models/text_corpus.cpp."""
    import numpy as np
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is missing (install the Debian package fortunes)")
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix not in (".dat", ".u8"))
    text = b"".join(p.read_bytes() for p in files)
    data = np.frombuffer(text, dtype=np.uint8)
    counts = np.bincount(data, minlength=256)
    present = np.flatnonzero(counts)
    token = np.zeros(256, dtype=np.int64)
    token[present] = np.arange(len(present))
    p = counts[present] / len(data)
    tokens = token[data]
    split = len(text) - len(text) // 10
    return tokens[:split], tokens[split:], len(present), float(-(p * np.log2(p)).sum())


def windows(tokens, shape, rng):
    """A batch of `shape.batch` random windows: inputs and next-character targets, (B, n) each."""
    import numpy as np
    starts = rng.integers(0, len(tokens) - shape.context - 1, size=shape.batch)
    idx = starts[:, None] + np.arange(shape.context + 1)[None, :]
    w = tokens[idx]
    return w[:, :-1], w[:, 1:]


# ---------------------------------------------------------------------------------------------- PyTorch
class TorchLm:
    """models/lm.hpp in PyTorch (scale sqrt), with its AdamW and schedule."""

    def __init__(self, shape, vocab, dtype_name="float32", seed=0, lr=1e-3, beta2=0.99, weight_decay=0.1):
        import torch
        torch.set_num_threads(1)
        self.torch, self.shape = torch, shape
        dtype = {"float32": torch.float32, "float64": torch.float64}[dtype_name]
        gen = torch.Generator().manual_seed(seed)
        d, L, mlp = shape.d_model, shape.layers, 4 * shape.d_model
        residual = 1.0 / math.sqrt(2.0 * L)

        def normal(rows, cols, std):
            return (torch.randn(rows, cols, generator=gen, dtype=torch.float64) * std).to(dtype).requires_grad_()

        def const(cols, value):
            return torch.full((cols,), float(value), dtype=dtype, requires_grad=True)

        std = 1.0 / math.sqrt(d)
        self.tok_emb, self.pos_emb = normal(vocab, d, 0.02), normal(shape.context, d, 0.02)
        self.blocks = []
        for _ in range(L):
            self.blocks.append(dict(
                ln1_gain=const(d, 1), ln1_bias=const(d, 0), w_q=normal(d, d, std), w_k=normal(d, d, std),
                w_v=normal(d, d, std), w_o=normal(d, d, residual / math.sqrt(d)), b_o=const(d, 0),
                ln2_gain=const(d, 1), ln2_bias=const(d, 0), w_1=normal(d, mlp, std), b_1=const(mlp, 0),
                w_2=normal(mlp, d, residual / math.sqrt(mlp)), b_2=const(d, 0)))
        self.lnf_gain, self.lnf_bias = const(d, 1), const(d, 0)
        self.params = [self.tok_emb, self.pos_emb] + [p for b in self.blocks for p in b.values()] + [
            self.lnf_gain, self.lnf_bias]
        self.optimizer = torch.optim.AdamW(self.params, lr=lr, betas=(0.9, beta2), eps=1e-8, weight_decay=weight_decay)
        self.dtype = dtype

    def loss(self, x, y):
        torch, s = self.torch, self.shape
        F = torch.nn.functional
        b, n = x.shape
        h, dk, d = s.heads, s.d_k, s.d_model
        z = self.tok_emb[x] + self.pos_emb[:n]
        mask = torch.ones(n, n, dtype=torch.bool).tril()
        for blk in self.blocks:
            a = F.layer_norm(z, (d,), blk["ln1_gain"], blk["ln1_bias"], eps=1e-5)
            q, k, v = ((a @ blk[w]).view(b, n, h, dk).transpose(1, 2) for w in ("w_q", "w_k", "w_v"))
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(dk))
            att = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
            o = (att @ v).transpose(1, 2).reshape(b, n, h * dk)
            z = z + o @ blk["w_o"] + blk["b_o"]
            a2 = F.layer_norm(z, (d,), blk["ln2_gain"], blk["ln2_bias"], eps=1e-5)
            z = z + F.gelu(a2 @ blk["w_1"] + blk["b_1"]) @ blk["w_2"] + blk["b_2"]
        logits = F.layer_norm(z, (d,), self.lnf_gain, self.lnf_bias, eps=1e-5) @ self.tok_emb.t()
        return F.cross_entropy(logits.reshape(b * n, -1), y.reshape(b * n))

    def tensors(self, x, y):
        return self.torch.as_tensor(x, dtype=self.torch.long), self.torch.as_tensor(y, dtype=self.torch.long)

    def step(self, x, y, lr=None):
        if lr is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = lr
        for p in self.params:
            p.grad = None
        loss = self.loss(x, y)
        loss.backward()
        finite = all(math.isfinite(p.grad.norm().item()) for p in self.params) and math.isfinite(loss.item())
        if finite:
            self.optimizer.step()
        return loss.item()

    def held_out_bits(self, held_out, batches, seed):
        import numpy as np
        rng = np.random.default_rng(seed)
        total = 0.0
        with self.torch.no_grad():
            for _ in range(batches):
                total += self.loss(*self.tensors(*windows(held_out, self.shape, rng))).item()
        return total / batches / math.log(2)


def scheduled_lr(lr, min_lr, warmup, steps, t):
    """autodiff/optim.cpp's scheduled_lr: linear warm-up, then cosine to min_lr at the last step."""
    if t < warmup:
        return lr * (t + 1) / warmup
    span = steps - 1 - warmup
    if t >= steps:
        return min_lr
    if span <= 0:
        return lr
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * (t - warmup) / span))


def train_torch_baby(shape, steps, seed=0, eval_batches=32, eval_every=250, log=print):
    """The README's baby recipe (AdamW lr 1e-3, 100 warm-up steps, cosine to 1e-4, beta2 0.99, weight decay
    0.1, float32, one thread) in PyTorch; returns (held-out bits/char at each evaluation, unigram entropy)."""
    import numpy as np
    train, held_out, vocab, entropy = read_corpus()
    model = TorchLm(shape, vocab, "float32", seed=seed)
    rng = np.random.default_rng(seed)
    evals = [(0, model.held_out_bits(held_out, eval_batches, seed + 1))]
    start = time.process_time()
    for t in range(steps):
        model.step(*model.tensors(*windows(train, shape, rng)), lr=scheduled_lr(1e-3, 1e-4, 100, steps, t))
        if (t + 1) % eval_every == 0 or t + 1 == steps:
            evals.append((t + 1, model.held_out_bits(held_out, eval_batches, seed + 1)))
            log(f"peers_lm: torch baby step {t + 1}: held-out {evals[-1][1]:.3f} bits/char "
                f"({1e3 * (time.process_time() - start) / (t + 1):.1f} ms CPU per step so far)")
    return evals, entropy


# ---------------------------------------------------------------------------------------------- timing
def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def sandbox_cpu_seconds(sandbox, shape, precision, steps):
    """CPU seconds of one `sandbox train --model lm` run of `steps` steps of this shape."""
    with tempfile.TemporaryDirectory(prefix="peers-lm-") as tmp:
        cmd = [sandbox, "train", "--model", "lm", "--layers", str(shape.layers), "--heads", str(shape.heads),
               "--d-model", str(shape.d_model), "--dk", "auto", "--dv", "auto", "--seq-len", str(shape.context),
               "--batch", str(shape.batch), "--steps", str(steps), "--lr", "1e-3", "--optimizer", "adamw",
               "--beta2", "0.99", "--weight-decay", "0.1", "--scale", "sqrt", "--precision", precision,
               "--eval-every", "0", "--eval-batches", "1", "--log-every", str(steps), "--gradcheck", "false",
               "--save-weights", "none", "--out", os.path.join(tmp, "run.h5"), "--run", "timed"]
        before = children_cpu()
        done = subprocess.run(cmd, capture_output=True, text=True)
        used = children_cpu() - before
    if done.returncode != 0:
        raise RuntimeError(f"sandbox train --model lm failed ({done.returncode}): {done.stderr.strip()}")
    return used


def time_baby(sandbox, shape, precision="float32", rounds=3, sandbox_steps=30, warm=5, torch_steps=30, log=print):
    """Median CPU ms per step of each side over `rounds` alternating rounds: {"sandbox": ms, "torch": ms}."""
    import numpy as np
    train, _, vocab, _ = read_corpus()
    model = TorchLm(shape, vocab, precision)
    x, y = model.tensors(*windows(train, shape, np.random.default_rng(1)))
    for _ in range(3):
        model.step(x, y)  # warm-up: buffers, AdamW's state
    samples = {"sandbox": [], "torch": []}
    for r in range(rounds):
        long_run = sandbox_cpu_seconds(sandbox, shape, precision, warm + sandbox_steps)
        short_run = sandbox_cpu_seconds(sandbox, shape, precision, warm)
        samples["sandbox"].append(1e3 * max(long_run - short_run, 0.0) / sandbox_steps)
        start = time.process_time()
        for _ in range(torch_steps):
            model.step(x, y)
        samples["torch"].append(1e3 * (time.process_time() - start) / torch_steps)
        log(f"peers_lm: round {r + 1} of {rounds}: sandbox {samples['sandbox'][-1]:.1f} ms, "
            f"torch {samples['torch'][-1]:.1f} ms per step; load {os.getloadavg()[0]:.2f}")
    return {k: statistics.median(v) for k, v in samples.items()}, samples


# ---------------------------------------------------------------------------------------------- same model
def torch_from_sandbox_run(path, run):
    """A TorchLm (float64) holding the final weights of a `sandbox train --model lm --save-weights final|all`
    run (scale sqrt), and the run's shape. Its held-out loss equals the sandbox's only if the two models
    compute the same function: the check that the definitions match, weight by weight."""
    import h5py
    import torch
    with h5py.File(path, "r") as f:
        g = f["runs"][run]
        a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()}
        if a.get("model") != "lm" or a.get("scale") != "sqrt" or "params" not in g:
            raise ValueError(f"{path}:{run}: not a sqrt-scaled --model lm run with its final weights")
        params = {name: g["params"][name][()] for name in g["params"]}
    shape = LmShape(int(a["layers"]), int(a["heads"]), int(a["d_model"]), int(a["seq_len"]), int(a["batch"]))
    if int(a["d_k"]) * shape.heads != shape.d_model or int(a["d_v"]) != int(a["d_k"]):
        raise ValueError(f"{path}:{run}: heads of d_model/heads only (--dk auto --dv auto)")
    model = TorchLm(shape, params["tok_emb"].shape[0], "float64")
    names = {"tok_emb": model.tok_emb, "pos_emb": model.pos_emb, "lnf_gain": model.lnf_gain, "lnf_bias": model.lnf_bias}
    for l, blk in enumerate(model.blocks):
        for key, tensor in blk.items():
            names[f"block{l}." + {"w_q": "W_Q", "w_k": "W_K", "w_v": "W_V", "w_o": "W_O", "b_o": "b_O", "w_1": "W_1",
                                  "b_1": "b_1", "w_2": "W_2", "b_2": "b_2"}.get(key, key)] = tensor
    if set(names) != set(params):
        raise ValueError(f"parameters differ: sandbox only {sorted(set(params) - set(names))}, "
                         f"torch only {sorted(set(names) - set(params))}")
    with torch.no_grad():
        for name, tensor in names.items():
            tensor.copy_(torch.as_tensor(params[name]).reshape(tensor.shape))
    return model, shape, a


def same_model_check(path, run, batches=64, seed=7):
    """(the sandbox run's last eval/bits_per_char, PyTorch's held-out bits per character with its weights on
    `batches` batches of random held-out windows): equal within sampling noise when the models match."""
    import h5py
    _, held_out, _, _ = read_corpus()
    model, shape, _ = torch_from_sandbox_run(path, run)
    with h5py.File(path, "r") as f:
        sandbox_bits = float(f["runs"][run]["eval/bits_per_char"][-1])
    return sandbox_bits, model.held_out_bits(held_out, batches, seed)
