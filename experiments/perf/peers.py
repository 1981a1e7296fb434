#!/usr/bin/env python3
"""Time the sandbox's training step against the same step in PyTorch and JAX, side by side.

What is timed, on every side, is one training step of the teacher task as `sandbox train` runs it:
  forward of self-attention (Q = X W^Q, K = X W^K, V = X W^V over the (B*n) x d_model batch; h heads of
  d_k, d_v = d_k, scores scaled by the scale mode (sqrt: 1/sqrt(d_k)), row softmax, Z = A V, no W^O),
  the mean squared error of Z against the teacher's targets, backward to W^Q, W^K, W^V, the norm of each
  gradient, and one Adam update (lr 0.01, betas 0.9/0.999, eps 1e-8) when the loss and norms are finite.
The batch (X ~ N(0, 1) and the targets of a fixed random teacher of the same shapes) is made beforehand:
making it is not timed on any side. Weights start as N(0, 1/d_model).

  sandbox        `sandbox bench --breakdown --config RUN.ini`: runs of that shape (the run's own gradient
                 check, evaluation and batch making are phases of their own, not counted); the "step" phase
                 (forward, backward, gradient norms, Adam), CPU time of the run's thread. Each block is two
                 runs, of 2 and 2 + S steps (S >= 10): the difference over S leaves out the cold first
                 step and the logged first and last steps, which both runs have. The bench has no option
                 that times one given shape in one call with machine-readable output; this is the closest.
  torch eager    PyTorch autograd, attention written out (matmul, softmax, matmul), torch.optim.Adam.
  torch sdpa     the same with torch.nn.functional.scaled_dot_product_attention.
  torch compile  the eager forward + loss under torch.compile (backward through its compiled graph),
                 Adam eager; skipped with the reason printed when compiling fails.
  jax jit        value_and_grad of the same loss, the norms and Adam written out, all in one jax.jit.

Each peer runs on one thread (torch.set_num_threads(1); XLA_FLAGS without Eigen's thread pool) and is
timed as the process's CPU time over a block of warmed-up steps. The columns are timed in rounds, one
block of each per round, in an order that rotates from round to round, so that all see the same load;
the table shows the median over the rounds and each peer's ratio to the sandbox (> 1: the sandbox is
faster). Float32 peers are compared with the sandbox in float32 when it has it, else with its float64.

Run it with a Python that has torch (and optionally jax); see experiments/perf/README.md.
"""
import argparse
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# One thread for XLA; must be set before jax is imported.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

REPO = Path(__file__).resolve().parents[2]
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.999, 1e-8  # `sandbox train`'s defaults for Adam

# The table: B x n x d_model x d_k (x heads).
FULL_SHAPES = ["32x16x64x8", "32x64x128x128", "8x256x256x64", "4x512x512x64", "16x128x512x512", "8x256x256x64x4"]
QUICK_SHAPES = ["8x16x32x8"]
PRECISIONS = ("float64", "float32")
PEERS = ("torch eager", "torch sdpa", "torch compile", "jax jit")
SCALES = ("sqrt", "none", "linear")  # the fixed scale modes (learned and qknorm add a parameter)


class Shape:
    def __init__(self, text):
        parts = text.lower().split("x")
        if len(parts) not in (4, 5) or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise ValueError(f"shape '{text}': give BxNxDMODELxDK or BxNxDMODELxDKxHEADS, positive integers")
        self.batch, self.n, self.d_model, self.d_k = (int(p) for p in parts[:4])
        self.heads = int(parts[4]) if len(parts) == 5 else 1

    def __str__(self):
        return f"{self.batch}x{self.n}x{self.d_model}x{self.d_k}" + (f" h{self.heads}" if self.heads > 1 else "")

    def scale(self, mode):
        return {"sqrt": 1.0 / math.sqrt(self.d_k), "none": 1.0, "linear": 1.0 / self.d_k}[mode]


def cpu_seconds():
    return time.process_time()  # all threads of this process: a peer that used more than one is not hidden


# ---------------------------------------------------------------------------------------------- sandbox
def sandbox_run_ini(shape, precision, scale, steps):
    lines = ["[run]", "task = teacher", f"d-model = {shape.d_model}", f"heads = {shape.heads}", f"dk = {shape.d_k}",
             "dv = dk", f"seq-len = {shape.n}", f"batch = {shape.batch}", f"scale = {scale}", f"steps = {steps}",
             "optimizer = adam", f"lr = {LR}", f"log-every = {steps}", "eval-batches = 1", "eval-every = 0",
             "gradcheck = false"]
    # float64 is what every sandbox trains in and only a later one knows the option. A float32 sandbox column
    # appears by itself once `sandbox bench --precision float32` is accepted (sandbox_has) and a run takes
    # `precision` from the INI file; should it take it otherwise, this line is the one to change.
    if precision != "float64":
        lines.append(f"precision = {precision}")
    return "\n".join(lines) + "\n"


def sandbox_has(sandbox, precision):
    """Whether `sandbox bench` takes --precision PRECISION (float64 is always there)."""
    if precision == "float64":
        return True
    done = subprocess.run([sandbox, "bench", "--precision", precision, "--help"], capture_output=True, text=True)
    return done.returncode == 0


def parse_breakdown_step_us(text):
    """µs of the "step" phase per run, from the "all" row of `sandbox bench --breakdown`."""
    header = next((line for line in text.splitlines() if line.startswith("runs") and "|" in line), None)
    row = next((line for line in text.splitlines() if line.startswith("all ") and "|" in line), None)
    if header is None or row is None:
        raise RuntimeError("sandbox bench --breakdown: no table in its output:\n" + text)
    names, values = header.split("|")[1].split(), row.split("|")[1].split()
    return float(values[names.index("step")])


class SandboxStep:
    """The sandbox's step: two `sandbox bench --breakdown` runs per block, of WARM and WARM + steps steps; the
    difference of their "step" phases, over `steps`, leaves out what both runs share (the first, cold step
    that sizes every buffer, and the logged first and last steps)."""

    WARM = 2

    def __init__(self, sandbox, shape, precision, scale):
        self.sandbox, self.shape, self.precision, self.scale = sandbox, shape, precision, scale
        self.steps = 10

    def run_step_seconds(self, steps):
        """CPU seconds of the "step" phase of one run of `steps` steps."""
        with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
            ini = Path(tmp) / "run.ini"
            ini.write_text(sandbox_run_ini(self.shape, self.precision, self.scale, steps))
            done = subprocess.run([self.sandbox, "bench", "--breakdown", "--config", str(ini)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"sandbox bench --breakdown failed ({done.returncode}): {done.stderr.strip()}")
        return parse_breakdown_step_us(done.stdout) * 1e-6

    def seconds_per_step(self):
        short, long = self.run_step_seconds(self.WARM), self.run_step_seconds(self.WARM + self.steps)
        if long <= short:  # only when the machine's noise exceeds the steps' work: the plain mean then
            return long / (self.WARM + self.steps)
        return (long - short) / self.steps

    def calibrate(self, block_seconds):
        per_step = self.seconds_per_step()
        self.steps = max(10, round(block_seconds / max(per_step, 1e-9)))


# ---------------------------------------------------------------------------------------------- PyTorch
def torch_attention(torch, x, wq, wk, wv, shape, scale, sdpa):
    """Z for x of shape (B, n, d_model); heads are column blocks of W^Q, W^K, W^V, as in the sandbox."""
    b, n, h, dk = shape.batch, shape.n, shape.heads, shape.d_k
    q, k, v = (torch.matmul(x, w).view(b, n, h, dk).transpose(1, 2) for w in (wq, wk, wv))
    if sdpa:
        z = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=scale)
    else:
        z = torch.matmul(torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * scale, dim=-1), v)
    return z.transpose(1, 2).reshape(b, n, h * dk)


def initial_weights(shape, seed):
    """W^Q, W^K, W^V ~ N(0, 1/d_model) and a teacher's, as numpy float64 arrays (d_model x h*d_k)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    std = 1.0 / math.sqrt(shape.d_model)
    return [rng.normal(0.0, std, (shape.d_model, shape.heads * shape.d_k)) for _ in range(3)]


def teacher_targets(shape, x, teacher_weights):
    """The teacher task's targets for x (B, n, d_model): a sqrt-scaled attention layer, in float64."""
    import torch
    with torch.no_grad():
        w = [torch.as_tensor(m, dtype=torch.float64) for m in teacher_weights]
        x = torch.as_tensor(x, dtype=torch.float64)
        return torch_attention(torch, x, *w, shape, shape.scale("sqrt"), sdpa=False).numpy()


def teacher_batch(shape, seed):
    """X ~ N(0, 1) of shape (B, n, d_model) and the targets of a random teacher, in float64."""
    import numpy as np
    x = np.random.default_rng(seed + 1000).normal(size=(shape.batch, shape.n, shape.d_model))
    return x, teacher_targets(shape, x, initial_weights(shape, seed + 2000))


class TorchStep:
    """One PyTorch training step; `mode` is eager, sdpa or compile."""

    def __init__(self, shape, precision, scale, mode, weights=None, batch=None, seed=1):
        import torch
        torch.set_num_threads(1)
        self.torch = torch
        dtype = {"float64": torch.float64, "float32": torch.float32}[precision]
        weights = weights if weights is not None else initial_weights(shape, seed)
        x, y = batch if batch is not None else teacher_batch(shape, seed)
        self.params = [torch.tensor(w, dtype=dtype, requires_grad=True) for w in weights]
        self.set_batch(x, y)
        self.optimizer = torch.optim.Adam(self.params, lr=LR, betas=(BETA1, BETA2), eps=EPS)
        factor = shape.scale(scale)

        def loss_of(x, y, wq, wk, wv):
            z = torch_attention(torch, x, wq, wk, wv, shape, factor, sdpa=(mode == "sdpa"))
            return torch.nn.functional.mse_loss(z, y)

        if mode == "compile":
            # Every shape and precision compiles the same Python function anew; dynamo's default of 8
            # compilations per function would fail the 9th (the full table has 12).
            torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
            loss_of = torch.compile(loss_of, dynamic=False, fullgraph=True)
        self.loss_of = loss_of

    def set_batch(self, x, y):
        dtype = self.params[0].dtype
        self.x = self.torch.tensor(x, dtype=dtype)
        self.y = self.torch.tensor(y, dtype=dtype).reshape(self.x.shape[0], self.x.shape[1], -1)

    def __call__(self):
        for p in self.params:
            p.grad = None
        loss = self.loss_of(self.x, self.y, *self.params)
        loss.backward()
        norms = [p.grad.norm() for p in self.params]
        value = loss.item()
        if math.isfinite(value) and all(math.isfinite(n.item()) for n in norms):
            self.optimizer.step()
        return value


# ---------------------------------------------------------------------------------------------- JAX
class JaxStep:
    """One JAX training step, jitted whole (forward, backward, norms, Adam)."""

    def __init__(self, shape, precision, scale, weights=None, batch=None, seed=1):
        import jax
        import jax.numpy as jnp
        jax.config.update("jax_enable_x64", True)
        self.jnp = jnp
        self.dtype = dtype = {"float64": jnp.float64, "float32": jnp.float32}[precision]
        weights = weights if weights is not None else initial_weights(shape, seed)
        self.set_batch(*(batch if batch is not None else teacher_batch(shape, seed)))
        self.params = tuple(jnp.asarray(w, dtype) for w in weights)
        self.m = tuple(jnp.zeros_like(p) for p in self.params)
        self.v = tuple(jnp.zeros_like(p) for p in self.params)
        self.t = jnp.asarray(0.0, dtype)
        b, n, h, dk, factor = shape.batch, shape.n, shape.heads, shape.d_k, shape.scale(scale)

        def loss_of(params, x, y):
            q, k, v = (jnp.matmul(x, w).reshape(b, n, h, dk).transpose(0, 2, 1, 3) for w in params)
            a = jax.nn.softmax(jnp.matmul(q, k.transpose(0, 1, 3, 2)) * factor, axis=-1)
            z = jnp.matmul(a, v).transpose(0, 2, 1, 3).reshape(b, n, h * dk)
            return jnp.mean((z - y) ** 2)

        def step(params, m, v, t, x, y):
            loss, grads = jax.value_and_grad(loss_of)(params, x, y)
            norms = jnp.stack([jnp.linalg.norm(g) for g in grads])
            finite = jnp.isfinite(loss) & jnp.all(jnp.isfinite(norms))
            t1 = t + 1
            c1, c2 = 1 - BETA1 ** t1, 1 - BETA2 ** t1
            m1 = tuple(BETA1 * mi + (1 - BETA1) * g for mi, g in zip(m, grads))
            v1 = tuple(BETA2 * vi + (1 - BETA2) * g * g for vi, g in zip(v, grads))
            p1 = tuple(p - LR * (mi / c1) / (jnp.sqrt(vi / c2) + EPS) for p, mi, vi in zip(params, m1, v1))
            keep = lambda new, old: tuple(jnp.where(finite, a, o) for a, o in zip(new, old))  # noqa: E731
            return keep(p1, params), keep(m1, m), keep(v1, v), jnp.where(finite, t1, t), loss

        self.step = jax.jit(step, donate_argnums=(0, 1, 2))

    def set_batch(self, x, y):
        self.x = self.jnp.asarray(x, self.dtype)
        self.y = self.jnp.asarray(y, self.dtype).reshape(x.shape[0], x.shape[1], -1)

    def __call__(self):
        self.params, self.m, self.v, self.t, loss = self.step(self.params, self.m, self.v, self.t, self.x, self.y)
        return float(loss.block_until_ready())


# ---------------------------------------------------------------------------------------------- timing
class Column:
    """One thing timed in rounds: a callable step, timed in blocks of `steps` after warm-up."""

    def __init__(self, name, precision, step):
        self.name, self.precision, self.step = name, precision, step
        self.steps, self.samples, self.error = 1, [], None

    def calibrate(self, block_seconds):
        if isinstance(self.step, SandboxStep):
            self.step.calibrate(block_seconds)
            return
        self.step()  # the first call compiles (torch.compile, jit) and sizes the buffers
        start, count = cpu_seconds(), 0
        while count < 3 or cpu_seconds() - start < block_seconds / 4:
            self.step()
            count += 1
        per_step = (cpu_seconds() - start) / count
        self.steps = max(1, round(block_seconds / max(per_step, 1e-9)))

    def time_block(self):
        if isinstance(self.step, SandboxStep):
            self.samples.append(self.step.seconds_per_step())
            return
        start = cpu_seconds()
        for _ in range(self.steps):
            self.step()
        self.samples.append((cpu_seconds() - start) / self.steps)

    def median_ms(self):
        return 1e3 * statistics.median(self.samples) if self.samples else None


def make_columns(args, shape, available):
    columns = []
    for precision in args.precision:
        makers = [("sandbox", lambda: SandboxStep(args.sandbox, shape, precision, args.scale))]
        makers += [(f"torch {mode}", lambda mode=mode: TorchStep(shape, precision, args.scale, mode))
                   for mode in ("eager", "sdpa", "compile")]
        makers += [("jax jit", lambda: JaxStep(shape, precision, args.scale))]
        for name, make in makers:
            if name != "sandbox" and name not in args.peers:
                continue
            column = Column(name, precision, None)
            if name == "sandbox" and not available["sandbox " + precision]:
                column.error = f"n/a: sandbox has no {precision} yet"
            elif name.startswith("torch") and not available["torch"]:
                column.error = "n/a: torch not installed"
            elif name.startswith("jax") and not available["jax"]:
                column.error = "n/a: jax not installed"
            else:
                try:
                    column.step = make()
                    column.calibrate(args.block_seconds)
                except Exception as e:  # a peer that cannot run here (e.g. torch.compile without a compiler)
                    column.error = f"n/a: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:120]
                    column.step = None
            columns.append(column)
    return columns


def time_shape(args, shape, available):
    columns = make_columns(args, shape, available)
    live = [c for c in columns if c.error is None]
    for r in range(args.rounds):
        for column in live[r % len(live):] + live[:r % len(live)] if live else []:
            column.time_block()
    return columns


# ---------------------------------------------------------------------------------------------- report
def machine_line():
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"machine: {model}, {os.cpu_count()} cores ({usable} usable by this process), {platform.system()} {platform.release()}"


def load_average():
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def versions(available):
    out = [f"python {platform.python_version()}"]
    if available["torch"]:
        import torch
        out.append(f"torch {torch.__version__}")
    if available["jax"]:
        import jax
        out.append(f"jax {jax.__version__}")
    return ", ".join(out)


def four_digits(ms):
    """ms to 4 significant digits, never in exponent form (0.03392, 341.2, 1234)."""
    return f"{ms:.{max(0, 3 - math.floor(math.log10(ms))) if ms > 0 else 3}f}"


def cell(column, reference):
    if column.error:
        return column.error
    ms = column.median_ms()
    if column.name == "sandbox" or reference is None:
        return four_digits(ms)
    return f"{four_digits(ms)} ({ms / reference.median_ms():.2f}x)"


def print_table(results, names, out):
    """One row per shape and precision; a peer's cell is `ms (ratio to the sandbox)`; the last column names the
    fastest peer of the row."""
    rows, notes = [], set()
    for shape, columns in results:
        sandbox = {c.precision: c for c in columns if c.name == "sandbox"}
        for precision in dict.fromkeys(c.precision for c in columns):
            reference = sandbox.get(precision)
            if reference is None or reference.error:
                fallback = sandbox.get("float64")
                reference = fallback if fallback is not None and not fallback.error else None
                if reference is not None:
                    notes.add(f"ratios of {precision} peers are to the sandbox's float64 (it has no {precision} yet)")
            by_name = {c.name: c for c in columns if c.precision == precision}
            timed = [c for c in by_name.values() if c.name != "sandbox" and not c.error]
            fastest = min(timed, key=Column.median_ms) if timed else None
            best = "-" if fastest is None else fastest.name + (
                f" ({fastest.median_ms() / reference.median_ms():.2f}x)" if reference is not None else "")
            rows.append([str(shape), precision] + [cell(by_name[n], reference) if n in by_name else "-" for n in names]
                        + [best])
    header = ["B x n x d_model x d_k", "precision"] + names + ["fastest peer"]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    out.write(" | ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip() + "\n")
    out.write("-|-".join("-" * w for w in widths) + "\n")
    for row in rows:
        out.write(" | ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() + "\n")
    for note in sorted(notes):
        out.write(f"note: {note}\n")


def importable(module):
    try:
        __import__(module)
        return True
    except Exception:
        return False


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, as every sandbox command
        sys.stderr.write(f"peers.py: {message}\n")
        sys.exit(2)


def parse_args(argv):
    p = OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sandbox", default=str(REPO / "build" / "sandbox"), help="the sandbox executable (default: build/sandbox)")
    p.add_argument("--quick", action="store_true", help="one small shape, 2 rounds, short blocks: a smoke test")
    p.add_argument("--shape", action="append", help="BxNxDMODELxDK[xHEADS], repeatable (default: the issue's six shapes)")
    p.add_argument("--rounds", type=int, help="rounds of interleaved blocks; the median is shown (default 7, 2 with --quick)")
    p.add_argument("--precision", choices=PRECISIONS + ("both",), default="both", help="float64, float32 or both (default)")
    p.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated subset of: {', '.join(PEERS)}")
    p.add_argument("--scale", choices=SCALES, default="sqrt", help="logit scale mode (default sqrt: 1/sqrt(d_k))")
    p.add_argument("--block-seconds", type=float, help="CPU seconds per timed block (default 0.3, 0.02 with --quick)")
    p.add_argument("--baby", action="store_true",
                   help="instead: nanoGPT's baby model (4 blocks, 4 heads, d_model 128, context 64, batch 12) against "
                        "`sandbox train --model lm`, float32 (peers_lm.py); --rounds as above (default 3)")
    p.add_argument("--baby-train-steps", type=int, default=0,
                   help="with --baby: also train the PyTorch baby model this many steps and print its held-out bits/char")
    p.add_argument("--baby-check", metavar="FILE:RUN",
                   help="with --baby: load this `sandbox train --model lm` run's final weights into the PyTorch model and "
                        "compare its held-out bits/char with the run's (do the two models compute the same function?)")
    args = p.parse_args(argv)
    args.rounds = args.rounds if args.rounds is not None else (2 if args.quick else 3 if args.baby else 7)
    if args.rounds < 1:
        p.error(f"--rounds {args.rounds}: give 1 or more")
    args.block_seconds = args.block_seconds if args.block_seconds is not None else (0.02 if args.quick else 0.3)
    if not args.block_seconds > 0:
        p.error("--block-seconds must be positive")
    args.precision = PRECISIONS if args.precision == "both" else (args.precision,)
    args.peers = [name.strip() for name in args.peers.split(",") if name.strip()]
    unknown = [name for name in args.peers if name not in PEERS]
    if unknown:
        p.error(f"--peers: unknown {', '.join(unknown)} (choose from {', '.join(PEERS)})")
    try:
        args.shapes = [Shape(s) for s in (args.shape or (QUICK_SHAPES if args.quick else FULL_SHAPES))]
    except ValueError as e:
        p.error(str(e))
    if not (os.path.isfile(args.sandbox) and os.access(args.sandbox, os.X_OK)):
        p.error(f"--sandbox {args.sandbox}: not an executable file (build it: cmake --build build --target sandbox)")
    return args


def main_baby(args):
    """`--baby`: the transformer language model's step against PyTorch's (experiments/perf/peers_lm.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import peers_lm
    if not importable("torch"):
        sys.stderr.write("peers.py: --baby needs torch (see experiments/perf/README.md)\n")
        return 2
    shape = peers_lm.LmShape()
    out = sys.stdout
    out.write(f"peers --baby: CPU ms per training step of the baby model ({shape}, scale sqrt, AdamW, float32), "
              f"median of {args.rounds} alternating rounds, one thread each\n{machine_line()}\n")
    out.write(f"versions: {versions({'torch': True, 'jax': False})}; sandbox {args.sandbox}\n")
    out.write(f"load average at start: {load_average()}\n")
    log = lambda text: sys.stderr.write(text + "\n")  # noqa: E731
    if args.baby_check:
        path, _, run = args.baby_check.rpartition(":")
        sandbox_bits, torch_bits = peers_lm.same_model_check(path, run)
        out.write(f"same model: {args.baby_check} ends at {sandbox_bits:.4f} held-out bits/char in the sandbox; its final "
                  f"weights in the PyTorch model give {torch_bits:.4f} (64 batches of other held-out windows)\n")
        return 0
    median, samples = peers_lm.time_baby(args.sandbox, shape, rounds=args.rounds, log=log)
    rounds = lambda side: ", ".join(f"{v:.1f}" for v in samples[side])  # noqa: E731
    out.write(f"\nsandbox | torch eager | torch / sandbox\n{median['sandbox']:.1f} | {median['torch']:.1f} | "
              f"{median['torch'] / median['sandbox']:.2f}x\nrounds: sandbox {rounds('sandbox')}; torch {rounds('torch')}\n")
    out.write(f"load average at end: {load_average()}\n")
    if args.baby_train_steps > 0:
        evals, entropy = peers_lm.train_torch_baby(shape, args.baby_train_steps, log=log)
        out.write(f"\ntorch baby, {args.baby_train_steps} steps: held-out bits per character "
                  + ", ".join(f"{b:.3f} (step {t})" for t, b in evals) + f"; the corpus's unigram entropy {entropy:.3f}\n")
    return 0


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.baby:
        return main_baby(args)
    available = {"torch": importable("torch"), "jax": importable("jax")}
    for precision in PRECISIONS:
        available["sandbox " + precision] = sandbox_has(args.sandbox, precision)
    if available["torch"]:
        import torch
        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
    out = sys.stdout
    out.write("peers: CPU time per training step (ms), median of %d rounds of interleaved blocks, one thread each\n" % args.rounds)
    out.write("step: self-attention forward (scale %s), MSE against a teacher's targets, backward to W^Q, W^K, W^V, "
              "gradient norms, Adam lr %g; the batch made beforehand (see peers.py's docstring)\n" % (args.scale, LR))
    out.write("cell: ms per step (peer / sandbox; above 1: the sandbox is faster)\n")
    out.write(machine_line() + "\n")
    out.write(f"versions: {versions(available)}; sandbox {args.sandbox}\n")
    out.write(f"load average at start: {load_average()}\n\n")
    out.flush()
    names = ["sandbox"] + [n for n in PEERS if n in args.peers]
    results = []
    for i, shape in enumerate(args.shapes):
        sys.stderr.write(f"peers.py: timing {shape} ({i + 1} of {len(args.shapes)}), load average {load_average()}\n")
        results.append((shape, time_shape(args, shape, available)))
    print_table(results, names, out)
    out.write(f"\nload average at end: {load_average()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
