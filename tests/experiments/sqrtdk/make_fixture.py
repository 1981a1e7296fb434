#!/usr/bin/env python3
"""Write small synthetic sweep and theory HDF5 files that follow the sandbox's layout exactly.

    $PY tests/experiments/sqrtdk/make_fixture.py OUT_SWEEP.h5 OUT_THEORY.h5

Sweep: tasks teacher + recall, d_k in 1, 4, 16, scales none / sqrt / linear, seeds 0 and 1, 20 steps
logged every 2 steps (11 points, index 0 = step 0 = initialisation), plus one interrupted run
(teacher-dk16-none-seed2, 4 points, absurd losses, so a plot that wrongly used it would show it).
Numbers are made up but behave like the real thing: logits of the unscaled model have std ~ sqrt(d_k),
so it saturates at large d_k, its logit gradients collapse and its loss stalls; sqrt stays put.
Half the runs store their string attributes as fixed-length strings (as a C++ writer may) and the
rest as variable-length ones, so the readers are exercised on both.

    $PY tests/experiments/sqrtdk/make_fixture.py --mixed OUT_MIXED.h5

Mixed: the same sweep at two learning rates, one of them with an eval/ group (see write_mixed_sweep).

Theory: d_k = 1, 2, 4, ..., 4096 with Monte-Carlo statistics of softmax over `keys` = 16 Gaussian logits.
"""

import math
import sys

import numpy as np
import h5py

TASKS = {"teacher": dict(loss0=1.0, loss_inf=0.04, classes=None),
         "recall": dict(loss0=math.log(8), loss_inf=0.08, classes=8)}
DKS = (1, 4, 16)
SCALES = ("none", "sqrt", "linear")
SEEDS = (0, 1)
STEPS, LOG_EVERY = 20, 2
SEQ_LEN, D_MODEL, BATCH = 8, 16, 32


def divisor(scale, d_k):
    return {"none": 1.0, "sqrt": math.sqrt(d_k), "linear": float(d_k)}[scale]


def saturation(sigma):
    """Share of rows with max weight > 0.99 as a function of the logit std (synthetic)."""
    return 1.0 / (1.0 + np.exp(-2.2 * (sigma - 3.0)))


def set_str(attrs, key, value, fixed):
    if fixed:
        attrs.create(key, np.bytes_(value))            # fixed-length string
    else:
        attrs[key] = value                             # variable-length UTF-8 string


def write_run(runs, task, d_k, scale, seed, status="complete", points=None, lr=1e-2, name=None,
              eval_every=None):
    cfg = TASKS[task]
    seq = [DKS.index(d_k), SCALES.index(scale), seed, len(task)]
    rng = np.random.default_rng(seq if lr == 1e-2 else seq + [round(-math.log10(lr))])
    name = name or f"{task}-dk{d_k}-{scale}-seed{seed}"
    g = runs.create_group(name)
    fixed = (seed % 2 == 1)
    for key, value in (("task", task), ("model", "single_head"), ("scale", scale),
                       ("optimizer", "adam"), ("status", status)):
        set_str(g.attrs, key, value, fixed)
    for key, value in (("d_model", D_MODEL), ("d_k", d_k), ("d_v", d_k), ("seq_len", SEQ_LEN),
                       ("batch", BATCH), ("steps", STEPS), ("seed", seed)):
        g.attrs[key] = np.int64(value)
    for key, value in (("lr", lr), ("init_std", 1.0 / math.sqrt(D_MODEL)),
                       ("gradcheck_max_error", 3e-9 * (1 + rng.random())),
                       ("wall_seconds", 0.5 + rng.random())):
        g.attrs[key] = np.float64(value)

    step = np.arange(0, STEPS + 1, LOG_EVERY, dtype=np.int64)
    t = step / STEPS
    jitter = lambda: 1.0 + 0.06 * rng.standard_normal(len(step))   # noqa: E731 (seed noise)
    sigma0 = math.sqrt(d_k) / divisor(scale, d_k) * (1.0 + 0.05 * rng.standard_normal())
    growth = 1.8 if scale == "none" else 0.6                        # logits sharpen with training
    sigma = sigma0 * (1.0 + growth * t) * jitter()
    sat = np.clip(saturation(sigma) * jitter(), 0.0, 1.0)
    n = SEQ_LEN
    attn_max = np.clip(sat * 0.995 + (1 - sat) * (1.0 / n + (1 - 1.0 / n) * sigma / (sigma + 4)), 0, 1)
    entropy = math.log(n) * (1 - 0.97 * sat) / (1 + 0.06 * sigma ** 2)
    sat0 = float(saturation(sigma0))
    rate = 4.0 * (1 - sat0) ** 2 + 0.15
    loss = cfg["loss_inf"] + (cfg["loss0"] - cfg["loss_inf"]) * np.exp(-rate * t) * jitter()
    lg_median = 0.4 / math.sqrt(BATCH) * (1 - sat) ** 2 * loss / cfg["loss0"] + 1e-7
    lg_mean = lg_median * (1.3 + 0.6 * sat)
    gq = lg_median * math.sqrt(d_k) * 2.0 / divisor(scale, d_k) * jitter()
    gk = gq * 0.9 * jitter()
    gv = 0.15 * loss * jitter()

    data = {"step": step, "loss": loss, "grad_norm/W_Q": gq, "grad_norm/W_K": gk, "grad_norm/W_V": gv,
            "logit_grad/mean": lg_mean, "logit_grad/median": lg_median, "saturated_fraction": sat,
            "attn_entropy": entropy, "attn_max": attn_max, "logit_std": sigma}
    if cfg["classes"]:
        chance = 1.0 / cfg["classes"]
        data["accuracy"] = np.clip(chance + (1 - chance) * (1 - loss / cfg["loss0"]), 0, 1)
        data["grad_norm/W_O"] = 0.2 * loss * jitter()
    if status != "complete":
        points = points or 4
        data = {k: v[:points] for k, v in data.items()}
        data["loss"] = data["loss"] * 1e3             # absurd: must never show up in a figure
    if eval_every:
        # Held-out evaluation every `eval_every` steps, slightly above the training loss.
        picked = step % eval_every == 0
        data["eval/step"] = step[picked]
        data["eval/loss"] = 1.1 * loss[picked]
        if cfg["classes"]:
            data["eval/accuracy"] = 0.95 * data["accuracy"][picked]
    for key, values in data.items():
        g.create_dataset(key, data=np.asarray(values, dtype=np.int64 if key.endswith("step") else np.float64))
    for prefix in ("params_init", "params"):
        for mat, shape in (("W_Q", (D_MODEL, d_k)), ("W_K", (D_MODEL, d_k)), ("W_V", (D_MODEL, d_k))):
            g.create_dataset(f"{prefix}/{mat}", data=rng.standard_normal(shape) / math.sqrt(D_MODEL))


def write_sweep(path):
    with h5py.File(path, "w") as f:
        for key, value in (("created_utc", "2024-01-01T00:00:00Z"), ("git_commit", "fixture"),
                           ("sandbox_version", "0.1.0"), ("eigen_version", "3.4.0"),
                           ("hdf5_version", "1.10.8")):
            f.attrs[key] = value
        runs = f.create_group("runs")
        for task in TASKS:
            for d_k in DKS:
                for scale in SCALES:
                    for seed in SEEDS:
                        write_run(runs, task, d_k, scale, seed)
        write_run(runs, "teacher", 16, "none", 2, status="interrupted")


# A file of mixed configurations: the runs of one sweep at two learning rates (MIXED_LRS), the second lr
# with a held-out evaluation group (eval/step, eval/loss, eval/accuracy every MIXED_EVAL_EVERY steps).
# Averaging its runs over seeds without separating the learning rates is the mistake the plot scripts refuse.
MIXED_LRS = (1e-2, 1e-3)
MIXED_EVAL_EVERY = 10


def write_mixed_sweep(path):
    with h5py.File(path, "w") as f:
        f.attrs["git_commit"] = "fixture-mixed"
        runs = f.create_group("runs")
        for task in TASKS:
            for d_k in DKS:
                for scale in SCALES:
                    for seed in SEEDS:
                        for lr in MIXED_LRS:
                            write_run(runs, task, d_k, scale, seed, lr=lr,
                                      name=f"{task}-dk{d_k}-{scale}-seed{seed}-lr{lr:g}",
                                      eval_every=MIXED_EVAL_EVERY if lr == MIXED_LRS[1] else None)


def softmax_stats(logits, rng):
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    pmax = p.max(axis=1)
    entropy = -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)
    jac = np.einsum("ti,ij->tij", p, np.eye(p.shape[1])) - np.einsum("ti,tj->tij", p, p)
    jac_norm = np.sqrt((jac ** 2).sum(axis=(1, 2)))
    upstream = rng.standard_normal(p.shape)
    logit_grad = np.linalg.norm(np.einsum("tij,tj->ti", jac, upstream), axis=1)
    return dict(max_weight_mean=pmax.mean(), max_weight_median=np.median(pmax),
                entropy_mean=entropy.mean(), saturated_fraction=(pmax > 0.99).mean(),
                jacobian_norm_mean=jac_norm.mean(), jacobian_norm_median=np.median(jac_norm),
                logit_grad_mean=logit_grad.mean(), logit_grad_median=np.median(logit_grad))


def write_theory(path, keys=16, trials=400):
    rng = np.random.default_rng(1234)
    dks = 2 ** np.arange(13, dtype=np.int64)
    var_qk, var_qk_scaled = [], []
    stats = {s: [] for s in SCALES}
    for d_k in dks:
        q = rng.standard_normal((200, int(d_k)))
        k = rng.standard_normal((200, int(d_k)))
        dots = (q * k).sum(axis=1)
        var_qk.append(dots.var())
        var_qk_scaled.append((dots / math.sqrt(d_k)).var())
        raw = rng.standard_normal((trials, keys)) * math.sqrt(d_k)      # q.k ~ N(0, d_k)
        for s in SCALES:
            stats[s].append(softmax_stats(raw / divisor(s, int(d_k)), rng))
    with h5py.File(path, "w") as f:
        t = f.create_group("theory")
        t.attrs["keys"] = np.int64(keys)
        t.create_dataset("d_k", data=dks)
        t.create_dataset("var_qk", data=np.asarray(var_qk))
        t.create_dataset("var_qk_scaled", data=np.asarray(var_qk_scaled))
        for s in SCALES:
            g = t.create_group(s)
            for name in stats[s][0]:
                g.create_dataset(name, data=np.asarray([row[name] for row in stats[s]], dtype=np.float64))


def main(argv):
    if len(argv) == 3 and argv[1] == "--mixed":
        write_mixed_sweep(argv[2])
        return 0
    if len(argv) != 3:
        sys.stderr.write("usage: make_fixture.py OUT_SWEEP.h5 OUT_THEORY.h5 | make_fixture.py --mixed OUT.h5\n")
        return 2
    write_sweep(argv[1])
    write_theory(argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
