"""The peers' step is the sandbox's step: on the sandbox run's own initial weights and batches, each peer's
losses, gradient norms and final weights match the run's (run under the peers' Python, with torch).

usage: check_peer_step.py RUN.npz SEED BATCH N D_MODEL D_K
RUN.npz holds the run's loss and grad_norm/<W> series and its params_init/<W> and params/<W> (final)
matrices, as dump_run.py writes them.

Tolerances, and why:
  float64  1e-10 relative on losses, gradient norms and final weights. The two sides do the same maths in
           a different order (GEMM blocking, the softmax's sums, Adam's m/c1 / (sqrt(v/c2) + eps) written
           differently), so they agree to ~1e-15 per operation, not bit for bit; a wrong scale, loss or
           update is off by far more than 1e-10 (e.g. the mean's divisor: a factor; Adam's eps: ~1e-8).
  float32  1e-5 relative on the first loss only: float32 rounds each operation to ~6e-8 and the sums here
           have at most d_model terms. Later steps are not compared: Adam's first steps move each weight
           by about lr * sign(gradient), so a gradient entry near 0 may take either sign in float32.
"""
import math
import sys

import numpy as np

# peers (experiments/perf) and sandbox_draws (beside this file) come from PYTHONPATH, which peers_test.sh sets.
import peers  # noqa: E402
import sandbox_draws  # noqa: E402

NAMES = ("W_Q", "W_K", "W_V")
failures = []


def close(what, got, want, rtol):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    err = float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-300))) if np.all(want != 0) else \
        float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))
    ok = err <= rtol
    print(f"  {'ok  ' if ok else 'FAIL'} {what}: relative error {err:.2e} (tolerance {rtol:g})")
    if not ok:
        failures.append(what)


def main():
    run_npz, seed, batch, n, d_model, d_k = sys.argv[1], *map(int, sys.argv[2:7])
    run = np.load(run_npz)
    shape = peers.Shape(f"{batch}x{n}x{d_model}x{d_k}")
    steps = len(run["loss"])
    init = [run[f"params_init/{w}"] for w in NAMES]

    print("the replayed draws are the sandbox's (else the batches below are not the run's):")
    close("initial weights, replayed from ad::Rng(seed)", np.stack(sandbox_draws.model_weights(seed, d_model, d_k)),
          np.stack(init), 1e-12)
    draws = sandbox_draws.TeacherDraws(seed, batch, n, d_model, d_k)
    batches = []
    for _ in range(steps):
        x = draws.next_x()
        batches.append((x, peers.teacher_targets(shape, x, draws.teacher)))

    peer_steps = [("torch eager", lambda p, b: peers.TorchStep(shape, p, "sqrt", "eager", weights=init, batch=b)),
                  ("torch sdpa", lambda p, b: peers.TorchStep(shape, p, "sqrt", "sdpa", weights=init, batch=b)),
                  ("torch compile", lambda p, b: peers.TorchStep(shape, p, "sqrt", "compile", weights=init, batch=b))]
    if peers.importable("jax"):
        peer_steps.append(("jax jit", lambda p, b: peers.JaxStep(shape, p, "sqrt", weights=init, batch=b)))
    for name, make in peer_steps:
        print(f"{name}, float64, {steps} steps:")
        step = make("float64", batches[0])
        losses = []
        for x, y in batches:
            step.set_batch(x, y)
            losses.append(step())
        close("losses", losses, run["loss"], 1e-10)
        final = [np.asarray(p.detach().numpy() if hasattr(p, "detach") else p) for p in step.params]
        close("final weights", np.stack(final), np.stack([run[f"params/{w}"] for w in NAMES]), 1e-10)
        print(f"{name}, float32, first step:")
        close("loss", [make("float32", batches[0])()], run["loss"][:1], 1e-5)

    # The gradient norms of the first step, which the sandbox logs: the backward is the same, not only the loss.
    import torch
    w = [torch.tensor(m, requires_grad=True) for m in init]
    x, y = (torch.tensor(a) for a in batches[0])
    loss = torch.nn.functional.mse_loss(peers.torch_attention(torch, x, *w, shape, shape.scale("sqrt"), sdpa=False), y)
    loss.backward()
    print("torch eager, float64, gradient norms of the first step:")
    close("grad norms", [float(p.grad.norm()) for p in w], [run[f"grad_norm/{n}"][0] for n in NAMES], 1e-10)

    if failures:
        print(f"FAILED: {', '.join(failures)}")
        return 1
    print("the peers' step matches the sandbox's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
