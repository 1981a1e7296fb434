#!/usr/bin/python3
"""Compares `sandbox grad` with an independent numpy implementation of multi-head attention.

  grad_vs_numpy.py SANDBOX_BINARY [--keep DIR]

For every combination of W^O present/absent, scale none/sqrt/linear and causal 0/1, and of the model
forms single-head self-attention, 2-head self-attention and 3-head cross-attention (encoder input
/inputs/X_context of length m 5), on non-square shapes with pairwise distinct sizes (batch 2, n 3,
d_model 5, d_k 4 and d_v 6 per head, d_out 7), it writes an input file, runs the binary, and checks
/loss and /grads/<param> against
  * a numpy forward pass and a hand-written numpy backward pass, to 1e-8 relative;
and checks that hand-written backward itself against numpy central differences (1e-6 relative), so that
a wrong reference cannot agree with a wrong engine by accident.
Run it with the interpreter experiments/find_python.sh prints. Exit 0 when every case passes.
"""
import argparse
import itertools
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

B, N, M, D_MODEL, D_K, D_V, D_OUT = 2, 3, 5, 5, 4, 6, 7
FORMS = [(1, False), (2, False), (3, True)]  # (heads, cross)
REL = 1e-8


def scale_factor(scale):
    return {"none": 1.0, "sqrt": 1.0 / np.sqrt(D_K), "linear": 1.0 / D_K}[scale]


def split(t, heads):
    """(B, n, h·d) → (B, h, n, d): head i owns columns i·d .. i·d+d−1."""
    b, n, hd = t.shape
    return t.reshape(b, n, heads, hd // heads).transpose(0, 2, 1, 3)


def merge(t):
    """(B, h, n, d) → (B, n, h·d), the inverse of split()."""
    b, h, n, d = t.shape
    return t.transpose(0, 2, 1, 3).reshape(b, n, h * d)


def forward(p, x, xc, y, scale, causal, heads):
    """Returns the loss and the intermediates the backward pass needs. x: (B, N, d_model); xc: the
    encoder input for cross-attention, or x itself."""
    s = scale_factor(scale)
    q, k, v = split(x @ p["W_Q"], heads), split(xc @ p["W_K"], heads), split(xc @ p["W_V"], heads)
    logits = s * np.einsum("bhik,bhjk->bhij", q, k)
    if causal:
        future = np.triu(np.ones((x.shape[1], xc.shape[1]), dtype=bool), k=1)  # query i sees keys j <= i
        logits = np.where(future, -np.inf, logits)
    a = np.exp(logits - logits.max(axis=-1, keepdims=True))
    a /= a.sum(axis=-1, keepdims=True)
    z = merge(a @ v)
    out = z @ p["W_O"] if "W_O" in p else z
    loss = np.mean((out - y) ** 2)
    return loss, dict(q=q, k=k, v=v, a=a, z=z, out=out, s=s)


def backward(p, x, xc, y, cache, heads):
    """Hand-written reverse pass of forward()."""
    q, k, v, a, z, out, s = (cache[n] for n in ("q", "k", "v", "a", "z", "out", "s"))
    g = {}
    d_out = 2.0 * (out - y) / out.size
    if "W_O" in p:
        g["W_O"] = np.einsum("bid,bio->do", z, d_out)
        d_z = d_out @ p["W_O"].T
    else:
        d_z = d_out
    d_zh = split(d_z, heads)
    d_a = d_zh @ v.transpose(0, 1, 3, 2)
    d_v = a.transpose(0, 1, 3, 2) @ d_zh
    d_logits = a * (d_a - np.sum(d_a * a, axis=-1, keepdims=True))  # masked entries: a = 0, no gradient
    d_raw = s * d_logits
    d_q = merge(d_raw @ k)
    d_k = merge(d_raw.transpose(0, 1, 3, 2) @ q)
    g["W_Q"] = np.einsum("bim,bik->mk", x, d_q)
    g["W_K"] = np.einsum("bim,bik->mk", xc, d_k)
    g["W_V"] = np.einsum("bim,biv->mv", xc, merge(d_v))
    return g


def central_differences(p, x, xc, y, scale, causal, heads, h=1e-6):
    g = {}
    for name, w in p.items():
        g[name] = np.zeros_like(w)
        for idx in np.ndindex(*w.shape):
            old = w[idx]
            w[idx] = old + h
            up = forward(p, x, xc, y, scale, causal, heads)[0]
            w[idx] = old - h
            down = forward(p, x, xc, y, scale, causal, heads)[0]
            w[idx] = old
            g[name][idx] = (up - down) / (2 * h)
    return g


def close(got, want, rel, floor_fraction=1e-3):
    """Elementwise |got - want| <= rel·max(|want|, floor_fraction·max|want|): relative, with a floor so that
    entries near zero (whose few-ulp rounding differences are large relative to themselves) are judged
    against the scale of the whole gradient."""
    floor = floor_fraction * max(float(np.max(np.abs(want))), 1e-300)
    err = np.abs(got - want) / np.maximum(np.abs(want), floor)
    return float(np.max(err)), bool(np.all(err <= rel))


def run_case(binary, workdir, with_wo, scale, causal, heads, cross, rng, failures):
    label = f"W_O={'yes' if with_wo else 'no'} scale={scale} causal={causal} heads={heads} {'cross' if cross else 'self'}"
    p = {
        "W_Q": rng.normal(0, 0.8, (D_MODEL, heads * D_K)),
        "W_K": rng.normal(0, 0.8, (D_MODEL, heads * D_K)),
        "W_V": rng.normal(0, 0.5, (D_MODEL, heads * D_V)),
    }
    if with_wo:
        p["W_O"] = rng.normal(0, 0.4, (heads * D_V, D_OUT))
    x = rng.normal(0, 1, (B, N, D_MODEL))
    xc = rng.normal(0, 1, (B, M, D_MODEL)) if cross else x
    y = rng.normal(0, 1, (B, N, D_OUT if with_wo else heads * D_V))

    name = f"{'wo' if with_wo else 'nowo'}_{scale}_{'causal' if causal else 'open'}_h{heads}{'_cross' if cross else ''}"
    in_path = os.path.join(workdir, f"{name}_in.h5")
    out_path = os.path.join(workdir, f"{name}_out.h5")
    with h5py.File(in_path, "w") as f:
        for n, w in p.items():
            f[f"params/{n}"] = w
        f["inputs/X"] = x
        if cross:
            f["inputs/X_context"] = xc
        f["targets/Y"] = y
        f.attrs["scale"] = scale
        f.attrs["causal"] = np.int64(causal)
        if heads != 1:
            f.attrs["heads"] = np.int64(heads)
    proc = subprocess.run([binary, "grad", "--in", in_path, "--out", out_path], capture_output=True, text=True)
    if proc.returncode != 0:
        failures.append(f"{label}: sandbox grad exited {proc.returncode}: {proc.stderr.strip()}")
        return

    loss, cache = forward(p, x, xc, y, scale, causal, heads)
    reference = backward(p, x, xc, y, cache, heads)
    numeric = central_differences({n: w.copy() for n, w in p.items()}, x, xc, y, scale, causal, heads)
    for n in p:
        # Central differences carry ~1e-10 absolute error, hence the larger floor.
        err, ok = close(reference[n], numeric[n], 1e-6, floor_fraction=1e-2)
        if not ok:
            failures.append(f"{label}: the numpy reference backward for {n} disagrees with central differences "
                            f"(max relative error {err:.3g}); fix the test")

    worst = 0.0
    with h5py.File(out_path, "r") as f:
        got_loss = float(f["loss"][()])
        if f["loss"].shape not in ((), (1,)):
            failures.append(f"{label}: /loss has shape {f['loss'].shape}, expected a scalar")
        if abs(got_loss - loss) > REL * abs(loss):
            failures.append(f"{label}: /loss is {got_loss!r}, numpy gives {loss!r}")
        names = sorted(f["grads"].keys()) if "grads" in f else []
        if names != sorted(p):
            failures.append(f"{label}: /grads holds {names}, expected {sorted(p)}")
        for n in p:
            if n not in names:
                continue
            got = f["grads"][n][()]
            if got.shape != p[n].shape:
                failures.append(f"{label}: /grads/{n} has shape {got.shape}, expected {p[n].shape}")
                continue
            err, ok = close(got, reference[n], REL)
            worst = max(worst, err)
            if not ok:
                i = np.unravel_index(np.argmax(np.abs(got - reference[n])), got.shape)
                failures.append(f"{label}: /grads/{n} differs from numpy (max relative error {err:.3g}; at {tuple(int(v) for v in i)}: "
                                f"sandbox {got[i]!r}, numpy {reference[n][i]!r})")
    print(f"  {label}: loss {loss:.6g}, largest relative gradient difference {worst:.2g}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary")
    parser.add_argument("--keep", help="write the files into this directory and keep them")
    args = parser.parse_args()
    rng = np.random.default_rng(20240611)
    failures = []
    with tempfile.TemporaryDirectory(prefix="grad_vs_numpy.") as tmp:
        workdir = args.keep or tmp
        os.makedirs(workdir, exist_ok=True)
        cases = list(itertools.product([False, True], ["none", "sqrt", "linear"], [0, 1], FORMS))
        for with_wo, scale, causal, (heads, cross) in cases:
            run_case(args.binary, workdir, with_wo, scale, causal, heads, cross, rng, failures)
    sys.stdout.flush()
    for message in failures:
        print(f"FAIL: {message}", file=sys.stderr)
    sys.stderr.flush()
    print(f"grad_vs_numpy: {len(cases)} cases, {len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
