#!/usr/bin/python3
"""Checks, with h5py, that one run of a `sandbox train` / `sandbox sweep` file has the documented layout.

  check_run_layout.py FILE RUN [--status STATUS] [--logged N] [--no-trained-check]

Run it with the interpreter experiments/find_python.sh prints (it has h5py and numpy). Checks:
  * root attributes created_utc, git_commit, sandbox_version, eigen_version, hdf5_version are str;
  * run attributes task, model, scale, optimizer, status are str; d_model, d_k, d_v, d_out, seq_len, batch,
    steps, seed, causal, log_every, heads, context_len are int64; lr, init_std, gradcheck_max_error,
    wall_seconds are float64;
  * the metric series (step, loss, grad_norm/<param>, logit_grad/mean, logit_grad/median, saturated_fraction,
    attn_entropy, attn_max, logit_std, logit_max_abs, q_grad/mean, q_grad/median, logit_delta_rms, accuracy exactly for the
    classification tasks, head<i>/saturated_fraction and head<i>/attn_entropy exactly when heads > 1) are
    1-D, chunked, gzip-compressed, maxshape (None,), all of one length; step is int64 and the rest float64;
  * step is 0, log_every, 2·log_every, ... (and the last step for a complete run);
  * params_init/<p> and params/<p> exist for the same parameters as grad_norm/<p>, shaped W_Q, W_K
    (d_model, h·d_k), W_V (d_model, h·d_v), W_O (h·d_v, d_out), scale (1, 1), float64 (h = heads);
  * params_init values are what the C++ initialisation intends: W_Q/W_K/W_V have standard deviation
    init_std, W_O 1/sqrt(h·d_v), and the log-scale starts at -1/2 ln d_k (learned) or +1/2 ln d_k (qknorm);
  * after a complete run with steps > 0, every params/<p> differs from params_init/<p>.
--status checks the status attribute; --logged checks the series length.
Exit 0 when every check passes; otherwise every failure is printed on stderr and the status is 1.
"""
import argparse
import math
import re
import sys

import h5py
import numpy as np

ROOT_STR_ATTRS = ["created_utc", "git_commit", "sandbox_version", "eigen_version", "hdf5_version"]
RUN_STR_ATTRS = ["task", "model", "scale", "optimizer", "schedule", "status", "config", "config_hash", "precision",
                 "save_weights", "text", "checksum"]
RUN_INT_ATTRS = ["d_model", "d_k", "d_v", "d_out", "seq_len", "batch", "steps", "seed", "causal", "log_every", "heads",
                 "context_len", "warmup_steps", "eval_batches", "eval_every", "gradcheck", "layers"]
RUN_FLOAT_ATTRS = ["lr", "init_std", "gradcheck_max_error", "wall_seconds", "momentum", "beta1", "beta2", "eps",
                   "weight_decay", "min_lr", "clip_grad_norm", "lr_qk_mult", "diverge_factor", "teacher_temperature"]
METRICS = ["loss", "logit_grad/mean", "logit_grad/median", "saturated_fraction", "attn_entropy", "attn_max",
           "logit_std", "logit_max_abs", "q_grad/mean", "q_grad/median", "logit_delta_rms", "lr",
           "logit_grad/zero_fraction", "top_weight_one_fraction"]
# Series of the training clock that runs of newer versions have and older ones lack (allowed, not required).
OPTIONAL_METRICS = []
# The held-out evaluation: a clock of its own (eval/step), one value per evaluation.
EVAL_SERIES = ["eval/step", "eval/loss"]
CLASSIFYING_TASKS = {"recall", "sense", "lookup"}


class Checker:
    def __init__(self, where):
        self.where = where
        self.failures = []

    def check(self, ok, message):
        if not ok:
            self.failures.append(message)
        return ok


def series_names(run):
    """Every dataset below the run group except the parameter matrices, as relative paths."""
    names = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and not name.startswith(("params_init/", "params/")):
            names.append(name)

    run.visititems(visit)
    return sorted(names)


def check_root(f, c):
    for name in ROOT_STR_ATTRS:
        if c.check(name in f.attrs, f"root attribute {name} is missing"):
            value = f.attrs[name]
            if c.check(isinstance(value, str), f"root attribute {name} is {type(value).__name__}, expected str"):
                c.check(value != "", f"root attribute {name} is empty")
    created = f.attrs.get("created_utc")
    if isinstance(created, str):
        c.check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created) is not None,
                f"created_utc {created!r} is not YYYY-MM-DDTHH:MM:SSZ")
    for name in ("sandbox_version", "eigen_version", "hdf5_version"):
        value = f.attrs.get(name)
        if isinstance(value, str):
            c.check(re.fullmatch(r"\d+\.\d+\.\d+", value) is not None, f"{name} {value!r} is not a version x.y.z")


def check_attrs(run, c):
    attrs = {}
    for name in RUN_STR_ATTRS:
        if c.check(name in run.attrs, f"run attribute {name} is missing"):
            value = run.attrs[name]
            c.check(isinstance(value, str), f"run attribute {name} is {type(value).__name__}, expected str")
            attrs[name] = value
    for name in RUN_INT_ATTRS:
        if c.check(name in run.attrs, f"run attribute {name} is missing"):
            value = run.attrs[name]
            c.check(isinstance(value, np.int64), f"run attribute {name} is {type(value).__name__}, expected int64")
            attrs[name] = int(value)
    for name in RUN_FLOAT_ATTRS:
        if c.check(name in run.attrs, f"run attribute {name} is missing"):
            value = run.attrs[name]
            c.check(isinstance(value, np.float64), f"run attribute {name} is {type(value).__name__}, expected float64")
            attrs[name] = float(value)
    return attrs


def param_shapes(a):
    h = a["heads"]
    shapes = {"W_Q": (a["d_model"], h * a["d_k"]), "W_K": (a["d_model"], h * a["d_k"]), "W_V": (a["d_model"], h * a["d_v"])}
    if a["d_out"] > 0:
        shapes["W_O"] = (h * a["d_v"], a["d_out"])
    if a["scale"] in ("learned", "qknorm"):
        shapes["scale"] = (1, 1)
    return shapes


def check_eval(run, a, c):
    expected = EVAL_SERIES + (["eval/accuracy"] if a["task"] in CLASSIFYING_TASKS else [])
    names = [n for n in series_names(run) if n.startswith("eval/")]
    c.check(sorted(expected) == names, f"evaluation series are {names}, expected {sorted(expected)}")
    if "eval/step" not in run:
        return
    steps = run["eval/step"][()]
    c.check(run["eval/step"].dtype == np.int64, f"eval/step: dtype {run['eval/step'].dtype}, expected int64")
    c.check(len(steps) >= 1 and steps[0] == 0, f"eval/step {steps.tolist()[:5]} does not start at 0")
    c.check(bool(np.all(np.diff(steps) > 0)), "eval/step is not strictly increasing")
    for name in names:
        c.check(run[name].shape == steps.shape, f"{name}: shape {run[name].shape}, expected {steps.shape} like eval/step")
        if name != "eval/step":
            c.check(run[name].dtype == np.float64, f"{name}: dtype {run[name].dtype}, expected float64")
            c.check(bool(np.all(np.isfinite(run[name][()]))), f"{name} is not finite")


def check_series(run, a, c, logged):
    check_eval(run, a, c)
    names = [n for n in series_names(run) if not n.startswith("eval/")]
    shapes = param_shapes(a)
    expected = ["step"] + METRICS + [f"grad_norm/{p}" for p in shapes]
    if a["scale"] in ("learned", "qknorm"):
        expected.append("scale")
    if a["task"] in CLASSIFYING_TASKS:
        expected.append("accuracy")
    if a["heads"] > 1:
        expected += [f"head{i}/{m}" for i in range(a["heads"]) for m in ("saturated_fraction", "attn_entropy")]
    expected += [m for m in OPTIONAL_METRICS if m in names]
    c.check(sorted(expected) == names, f"series are {names}, expected {sorted(expected)}")
    lengths = {}
    for name in names:
        d = run[name]
        c.check(d.ndim == 1, f"{name}: shape {d.shape}, expected 1-D")
        c.check(d.chunks is not None, f"{name}: not chunked")
        c.check(d.compression == "gzip", f"{name}: compression {d.compression}, expected gzip")
        c.check(d.maxshape == (None,), f"{name}: maxshape {d.maxshape}, expected (None,)")
        want = np.int64 if name == "step" else np.float64
        c.check(d.dtype == want, f"{name}: dtype {d.dtype}, expected {np.dtype(want)}")
        lengths[name] = d.shape[0] if d.ndim == 1 else -1
    if c.check(len(set(lengths.values())) <= 1, f"series lengths differ: {lengths}") and lengths:
        n = next(iter(lengths.values()))
        if logged is not None:
            c.check(n == logged, f"series hold {n} values, expected {logged}")
    if "step" not in run:
        return
    steps = run["step"][()]
    every = a["log_every"]
    if len(steps):
        body = steps[:-1] if a["status"] == "complete" else steps
        c.check(np.array_equal(body, every * np.arange(len(body))),
                f"step is {steps.tolist()[:12]}..., expected 0, {every}, {2 * every}, ...")
        c.check(bool(np.all(np.diff(steps) > 0)), "step is not strictly increasing")
    if a["status"] == "complete":
        want = [t for t in range(a["steps"]) if t % every == 0 or t == a["steps"] - 1]
        c.check(steps.tolist() == want, f"complete run: step is {steps.tolist()[:12]}..., expected {want[:12]}...")
    for name in names:
        if name != "step":
            values = run[name][()]
            c.check(bool(np.all(np.isfinite(values))), f"{name} holds non-finite values")


def check_params(run, a, c, trained_check):
    shapes = param_shapes(a)
    for group in ("params_init", "params"):
        if not c.check(group in run and isinstance(run[group], h5py.Group), f"group {group} is missing"):
            continue
        names = sorted(run[group].keys())
        c.check(names == sorted(shapes), f"{group} holds {names}, expected {sorted(shapes)}")
        for p, shape in shapes.items():
            if p in run[group]:
                d = run[group][p]
                c.check(d.shape == shape, f"{group}/{p}: shape {d.shape}, expected {shape}")
                c.check(d.dtype == np.float64, f"{group}/{p}: dtype {d.dtype}, expected float64")
    if "params_init" not in run or any(p not in run["params_init"] for p in shapes):
        return
    init = {p: run["params_init"][p][()] for p in shapes}
    # The weights were drawn N(0, init_std²): the pooled sample std of W_Q, W_K, W_V is close to init_std.
    pooled = np.concatenate([init[p].ravel() for p in ("W_Q", "W_K", "W_V")])
    std = float(np.sqrt(np.mean(pooled ** 2)))
    tolerance = 4.0 / math.sqrt(2 * pooled.size) + 0.02
    c.check(abs(std / a["init_std"] - 1) < tolerance,
            f"params_init W_Q/W_K/W_V have std {std:.4g}, init_std is {a['init_std']:.4g}")
    c.check(a["init_std"] > 0, f"init_std attribute is {a['init_std']}, expected the std actually used (> 0)")
    if "W_O" in init:
        std_o = float(np.sqrt(np.mean(init["W_O"] ** 2)))
        width = a["heads"] * a["d_v"]
        c.check(abs(std_o * math.sqrt(width) - 1) < 4.0 / math.sqrt(2 * init["W_O"].size) + 0.02,
                f"params_init/W_O has std {std_o:.4g}, expected 1/sqrt(h·d_v) = {1 / math.sqrt(width):.4g}")
    if "scale" in init:
        sign = -1.0 if a["scale"] == "learned" else 1.0
        want = sign * 0.5 * math.log(a["d_k"])
        c.check(abs(init["scale"][0, 0] - want) < 1e-12, f"params_init/scale is {init['scale'][0, 0]}, expected {want}")
    if trained_check and a["status"] == "complete" and a["steps"] > 0 and "params" in run:
        for p in shapes:
            if p in run["params"]:
                c.check(not np.array_equal(run["params"][p][()], init[p]), f"params/{p} equals params_init/{p} after training")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file")
    parser.add_argument("run")
    parser.add_argument("--status", help="expected status attribute")
    parser.add_argument("--logged", type=int, help="expected number of logged steps")
    parser.add_argument("--no-trained-check", action="store_true", help="do not require params != params_init")
    args = parser.parse_args()
    c = Checker(f"{args.file}: /runs/{args.run}")
    try:
        with h5py.File(args.file, "r") as f:
            check_root(f, c)
            if not c.check(f"runs/{args.run}" in f, f"group /runs/{args.run} is missing"):
                raise SystemExit(report(c))
            run = f["runs"][args.run]
            a = check_attrs(run, c)
            if args.status is not None:
                c.check(a.get("status") == args.status, f"status is {a.get('status')!r}, expected {args.status!r}")
            if all(k in a for k in ("task", "scale", "status", "d_model", "d_k", "d_v", "d_out", "steps", "log_every",
                                    "init_std")):
                check_series(run, a, c, args.logged)
                check_params(run, a, c, not args.no_trained_check)
            c.check(a.get("wall_seconds", 0.0) >= 0, "wall_seconds is negative")
            g = a.get("gradcheck_max_error", 0.0)
            c.check(math.isnan(g) or g < 1e-6, f"gradcheck_max_error is {g}")
    except OSError as e:
        c.check(False, f"cannot read: {e}")
    sys.exit(report(c))


def report(c):
    if c.failures:
        for message in c.failures:
            print(f"check_run_layout: {c.where}: {message}", file=sys.stderr)
        return 1
    print(f"check_run_layout: {c.where}: OK")
    return 0


if __name__ == "__main__":
    main()
