#!/usr/bin/env python3
"""The general plot command (sqrtdk/plot.py) on a fixture and on a real lr x optimizer sweep with
diverged runs.

    PYTHONPATH=experiments $PY tests/experiments/sqrtdk/test_plot.py SANDBOX   (ctest: py.plot)

Fixture: recall runs at lr 0.01 and 0.1, optimizers adam and sgd, seeds 0-2; three sgd runs at lr 0.1
blew up in three ways (status "diverged"; a loss of 1e271 recorded as complete, the number that crashed
matplotlib; a NaN loss), so that cell has no line, only crosses. The real sweep runs twice: with the
sandbox's default --diverge-factor, whose blown-up runs must be exactly the ones it recorded "diverged" (with
diverged_step), and with --diverge-factor 0, whose runs reach astronomical losses recorded "complete".
"""

import math
import os
import subprocess
import sys
import tempfile
import unittest

import matplotlib
matplotlib.use("Agg")
import h5py
import numpy as np

import sqrtdk
from sqrtdk import plot, reader, stats

SANDBOX = sys.argv.pop(1) if len(sys.argv) > 1 else None
STEPS = 10

SWEEP_INI = """[grid]
lr = 0.01 1 10
optimizer = adam sgd
seed = 0 1
[run]
task = recall
d-model = 16
dk = 4
seq-len = 8
batch = 8
steps = 30
eval-every = 10
"""


def write_fixture(path):
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for lr in (0.01, 0.1):
            for opt in ("adam", "sgd"):
                for seed in (0, 1, 2):
                    g = f.create_group(f"runs/recall-lr{lr}-{opt}-s{seed}")
                    g.attrs.update({"task": "recall", "model": "self_attention", "scale": "sqrt", "d_model": 16,
                                    "d_k": 4, "seq_len": 8, "lr": lr, "optimizer": opt, "seed": seed,
                                    "steps": STEPS, "status": "complete"})
                    loss = 2.0 * np.exp(-np.arange(STEPS) * lr * (3 if opt == "adam" else 1)) \
                        * (1 + 0.1 * rng.random(STEPS))
                    if opt == "sgd" and lr == 0.1:
                        if seed == 0:
                            g.attrs["status"] = "diverged"
                        elif seed == 1:
                            loss[4:] = 1e271
                        else:
                            loss[6:] = np.nan
                    g.create_dataset("step", data=np.arange(STEPS, dtype=np.int64))
                    g.create_dataset("loss", data=loss)
                    g.create_dataset("accuracy", data=np.linspace(0.1, 0.9, STEPS))
                    spike = np.ones(STEPS)
                    if opt == "adam" and lr == 0.01:   # huge in a run whose loss is fine
                        spike[3] = 10.0 ** (250 + 25 * seed)   # its 95% interval reaches past 1e308
                    g.create_dataset("logit_max_abs", data=spike)


class PlotTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="sqrtdk-plot-")
        cls.fixture = os.path.join(cls.tmp.name, "fixture.h5")
        write_fixture(cls.fixture)
        cls.runs = sqrtdk.load_runs(cls.fixture)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def cli(self, *args):
        return subprocess.run([sys.executable, "-m", "sqrtdk", "plot", *args], capture_output=True, text=True)

    def title(self, fig):
        return fig._suptitle.get_text()

    def test_final_metric_vs_setting_is_the_seed_interval_of_the_packages_stats(self):
        fig = plot.figure(self.runs, "final_loss", x="lr", color="optimizer")
        lines = {l.get_label().split(" (")[0]: l for l in fig.axes[0].lines if not l.get_label().startswith("_")}
        adam = lines["optimizer=adam"]
        for lr, y in zip(adam.get_xdata(), adam.get_ydata()):
            finals = [r.final_metrics()["final_loss"] for r in sqrtdk.where(self.runs, optimizer="adam", lr=lr)]
            self.assertAlmostEqual(y, stats.geomean_interval(finals).value, places=12)
        # sgd has a line at lr 0.01 only: its lr 0.1 runs all diverged
        self.assertEqual(list(lines["optimizer=sgd"].get_xdata()), [0.01])

    def test_diverged_runs_are_marked_counted_and_never_crash(self):
        for x, color in (("step", "lr"), ("lr", None)):
            fig = plot.figure(self.runs, "loss", x=x, color=color, facet="optimizer")
            self.assertIn("3 diverged runs (drawn as ×", self.title(fig))
            legend = [t.get_text() for t in fig.legends[0].get_texts()] if fig.legends else \
                [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
            self.assertIn("diverged (3 runs)", legend)
            crosses = [l for ax in fig.axes for l in ax.lines if l.get_marker() == "x"]
            self.assertEqual(sum(len(l.get_xdata()) for l in crosses), 3)
            fig.savefig(os.path.join(self.tmp.name, f"diverged_{x}.png"))   # where matplotlib overflowed
        fig = plot.figure(self.runs, "loss", color="lr", facet="optimizer", diverged="exclude")
        self.assertIn("3 diverged runs (left out)", self.title(fig))
        self.assertFalse([l for ax in fig.axes for l in ax.lines if l.get_marker() == "x"])

    def test_astronomical_values_of_a_healthy_run_are_not_drawn_and_do_not_crash(self):
        fig = plot.figure(sqrtdk.where(self.runs, optimizer="adam"), "logit_max_abs", color="lr")
        fig.savefig(os.path.join(self.tmp.name, "spike.png"))   # matplotlib: OverflowError on a log axis
        ys = np.concatenate([l.get_ydata() for l in fig.axes[0].lines])
        self.assertTrue(np.nanmax(ys) < plot.DRAWABLE)

    def test_diverged_means_status_nonfinite_or_a_hundredfold_loss(self):
        by_seed = {r["seed"]: reader.diverged_at(r) for r in sqrtdk.where(self.runs, optimizer="sgd", lr=0.1)}
        self.assertEqual(by_seed, {0: STEPS - 1, 1: 4, 2: 6})
        self.assertEqual([r for r in self.runs if r["lr"] == 0.01 and reader.diverged_at(r) is not None], [])

    def test_the_study_summary_counts_runs_that_blew_up_as_diverged(self):
        from sqrtdk import study
        blown = {r["seed"]: study.run_status(r) for r in sqrtdk.where(self.runs, optimizer="sgd", lr=0.1)}
        self.assertEqual(blown, {0: "diverged", 1: "diverged", 2: "diverged"})   # 1e271 and NaN said "complete"
        self.assertEqual({study.run_status(r) for r in self.runs if r["lr"] == 0.01}, {"complete"})

    def test_the_sweep_figures_skip_runs_that_blew_up_as_diverged(self):
        from sqrtdk.sweep import Sweep
        sweep = Sweep(self.fixture, where=["optimizer=sgd", "lr=0.1"])
        self.assertEqual(sweep.runs, [])
        self.assertEqual(sweep.skipped_note(), "3 non-complete runs skipped (3 diverged)")

    def test_mixed_configurations_are_refused_naming_every_setting(self):
        with self.assertRaisesRegex(sqrtdk.InputError, r"differ in lr \(0.01, 0.1\); optimizer \(adam, sgd\)"):
            plot.figure(self.runs, "loss")
        with self.assertRaisesRegex(sqrtdk.InputError, r"differ in optimizer \(adam, sgd\), which is neither"):
            plot.figure(self.runs, "loss", color="lr")
        plot.figure(sqrtdk.where(self.runs, optimizer="adam"), "loss", color="lr")

    def test_title_states_the_fixed_settings_and_seeds(self):
        fig = plot.figure(sqrtdk.where(self.runs, optimizer="adam"), "loss", color="lr")
        title = self.title(fig)
        for part in ("d_model=16", "n=8", "optimizer=adam", "d_k=4", "seeds 0, 1, 2"):
            self.assertIn(part, title)
        self.assertNotIn("lr=", title.split("\n")[1])

    def test_either_spelling_and_did_you_mean(self):
        adam = sqrtdk.where(self.runs, optimizer="adam")
        spec = plot.Spec(adam, "loss", x="dk", color="d-model", facet="LR".lower())
        self.assertEqual((spec.x, spec.color, spec.facet), ("d_k", "d_model", "lr"))
        self.assertEqual(len(sqrtdk.where(self.runs, **{"d-model": 16, "dk": 4})), len(self.runs))
        with self.assertRaisesRegex(sqrtdk.InputError, r"--color optimiser: .*did you mean 'optimizer'"):
            plot.figure(self.runs, "loss", color="optimiser", facet="lr")
        with self.assertRaisesRegex(sqrtdk.InputError, r"--y los: .*did you mean 'loss'"):
            plot.figure(adam, "los", color="lr")
        with self.assertRaisesRegex(sqrtdk.InputError, r"--where optimiser=\.\.\.: .*did you mean 'optimizer'"):
            sqrtdk.where(self.runs, optimiser="adam")

    def test_cli_writes_the_figure_or_one_line_and_exit_2(self):
        out = os.path.join(self.tmp.name, "lr.png")
        r = self.cli(self.fixture, "--y", "final_loss", "--x", "lr", "--color", "optimizer", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.getsize(out) > 1000)
        bad = os.path.join(self.tmp.name, "bad.png")
        for args, text in ((["--y", "loss"], "differ in lr"),
                           (["--y", "loss", "--color", "lr", "--facet", "optimiser"], "did you mean 'optimizer'"),
                           (["--y", "loss", "--color", "lr", "--facet", "lr"], "different settings")):
            r = self.cli(self.fixture, *args, "--out", bad)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
            self.assertIn(text, r.stderr)
            self.assertFalse(os.path.exists(bad))

    @unittest.skipIf(SANDBOX is None, "no sandbox binary given")
    def test_a_real_lr_by_optimizer_sweep_with_diverged_runs(self):
        ini = os.path.join(self.tmp.name, "lr_opt.ini")
        with open(ini, "w") as f:
            f.write(SWEEP_INI)
        # The sandbox stops a run whose loss passes 100x its first and records it "diverged" with the step;
        # with --diverge-factor 0 the same runs go on to astronomically large losses recorded "complete"
        # (the files of older versions): both are drawn, with the blown-up runs counted as diverged.
        for factor in ("100", "0"):
            path = os.path.join(self.tmp.name, f"lr_opt_{factor}.h5")
            subprocess.run([SANDBOX, "sweep", "--config", ini, "--out", path, "--quiet", "--jobs", "1",
                            "--run.diverge-factor", factor], check=True, stdout=subprocess.DEVNULL)
            runs = sqrtdk.load_runs(path)
            blown = [r for r in runs if reader.diverged_at(r) is not None]
            self.assertTrue(blown, "SGD at lr 10 on recall should blow up")
            if factor == "100":
                self.assertEqual(sorted(r.name for r in blown), sorted(r.name for r in runs if r.status == "diverged"),
                                 "the runs the reader finds blown up are the ones the sandbox stopped")
                for r in blown:
                    self.assertEqual(reader.diverged_at(r), r["diverged_step"])
                    self.assertIn("x the first loss", r["diverged_reason"])
                    self.assertGreater(r.series["loss"][-1], 100 * r.series["loss"][0])
            else:
                self.assertTrue(any(np.nanmax(np.abs(r.series["loss"])) > 1e30 or not np.all(np.isfinite(r.series["loss"]))
                                    for r in blown), "without the bound the sweep should reach astronomically large losses")
            for args in ((["--y", "loss", "--color", "lr", "--facet", "optimizer"]),
                         (["--y", "final_loss", "--x", "lr", "--color", "optimizer"]),
                         (["--y", "eval/loss", "--color", "optimizer", "--facet", "lr"])):
                out = os.path.join(self.tmp.name, "real.png")
                r = self.cli(path, *args, "--out", out)
                self.assertEqual(r.returncode, 0, r.stderr)
                fig = plot.figure(runs, args[1], **dict(zip([a[2:] for a in args[2::2]], args[3::2])))
                self.assertIn(f"{len(blown)} diverged run", self.title(fig))


if __name__ == "__main__":
    unittest.main()
