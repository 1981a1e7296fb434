#!/usr/bin/env python3
"""Tests of the run-file reader (experiments/sqrtdk/reader.py, `python3 -m sqrtdk table`) on the fixtures of
make_fixture.py.

    PYTHONPATH=experiments $PY tests/experiments/sqrtdk/test_reader.py   (exit 0 = pass; ctest: py.reader)

Expected values come from the fixture's constants and from reading the files with h5py directly, never
from the reader itself.
"""

import csv
import math
import os
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np

import pandas as pd

import make_fixture as fx  # next to this file, so on the path of the script
import sqrtdk  # the package: PYTHONPATH=experiments (ctest sets it) or pip install -e experiments
from sqrtdk import reader as sr


def read(path):
    with open(path) as f:
        return f.read()


N_CONFIGS = len(fx.TASKS) * len(fx.DKS) * len(fx.SCALES) * len(fx.SEEDS)


class ReaderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="test_reader.")
        cls.sweep = os.path.join(cls.tmp.name, "sweep.h5")
        cls.mixed = os.path.join(cls.tmp.name, "mixed.h5")
        fx.write_sweep(cls.sweep)
        fx.write_mixed_sweep(cls.mixed)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def cli(self, *args):
        return subprocess.run([sys.executable, "-m", "sqrtdk", *args], capture_output=True, text=True)

    # ---- records ---------------------------------------------------------------------------------------
    def test_loads_every_run_with_attributes_and_series(self):
        runs = sr.load_runs(self.sweep)
        self.assertEqual(len(runs), N_CONFIGS + 1)  # + the interrupted run
        with h5py.File(self.sweep) as f:
            names = sorted(f["runs"])
            expected_loss = f["runs/recall-dk4-sqrt-seed1/loss"][()]
        self.assertEqual([r.name for r in runs], names)
        run = next(r for r in runs if r.name == "recall-dk4-sqrt-seed1")
        self.assertEqual(run.file, self.sweep)
        # seed 1 stores its strings fixed-length: they still come back as str
        self.assertEqual((run["task"], run["scale"], run["d_k"], run["lr"]), ("recall", "sqrt", 4, 0.01))
        self.assertIsInstance(run["scale"], str)
        np.testing.assert_array_equal(run.series["loss"], expected_loss)
        self.assertIsInstance(run.series["grad_norm/W_Q"], np.ndarray)
        self.assertNotIn("params/W_Q", run.series)
        self.assertEqual(sum(r.status == "interrupted" for r in runs), 1)

    def test_several_files_and_the_eval_time_axis(self):
        runs = sr.load_runs([self.sweep, self.mixed])
        self.assertEqual(len(runs), N_CONFIGS + 1 + N_CONFIGS * len(fx.MIXED_LRS))
        self.assertEqual({r.file for r in runs}, {self.sweep, self.mixed})
        with_eval = [r for r in runs if r.has("eval/loss")]
        self.assertEqual(len(with_eval), N_CONFIGS)
        for run in with_eval:
            # eval series have their own length, not cut to (or padding) the training series
            self.assertEqual(len(run.series["eval/step"]), fx.STEPS // fx.MIXED_EVAL_EVERY + 1)
            self.assertEqual(len(run.series["loss"]), fx.STEPS // fx.LOG_EVERY + 1)

    def test_ragged_series_are_cut_to_their_shortest(self):
        path = os.path.join(self.tmp.name, "ragged.h5")
        with h5py.File(path, "w") as f:
            g = f.create_group("runs/r")
            g.attrs["task"] = "teacher"
            g["step"] = np.arange(5)
            g["loss"] = np.ones(4)       # a writer stopped between two appends
            g["eval/step"] = np.arange(3)
            g["eval/loss"] = np.ones(2)
        (run,) = sr.load_runs(path)
        self.assertEqual((len(run.series["step"]), len(run.series["loss"])), (4, 4))
        self.assertEqual((len(run.series["eval/step"]), len(run.series["eval/loss"])), (2, 2))

    # ---- filters ---------------------------------------------------------------------------------------
    def test_where_selects_by_any_attribute_numbers_as_numbers(self):
        runs = sr.load_runs(self.mixed)
        low = sr.where(runs, lr=fx.MIXED_LRS[1])
        self.assertEqual(len(low), N_CONFIGS)
        self.assertTrue(all(r["lr"] == fx.MIXED_LRS[1] for r in low))
        # the command line's text form: 1e-3 and 0.001 are the same number
        self.assertEqual(sr.where(runs, **sr.parse_where(["lr=1e-3"])), low)
        self.assertEqual(sr.where(runs, **sr.parse_where(["lr=0.001"])), low)
        both = sr.where(runs, **sr.parse_where(["scale=none,sqrt", "task=teacher", "d_k=4"]))
        self.assertEqual(len(both), 2 * len(fx.SEEDS) * len(fx.MIXED_LRS))
        self.assertEqual({(r["scale"], r["task"], r["d_k"]) for r in both},
                         {("none", "teacher", 4), ("sqrt", "teacher", 4)})
        self.assertEqual(sr.where(runs, task="nosuchtask"), [])

    def test_where_refuses_unknown_keys_and_non_numbers(self):
        runs = sr.load_runs(self.mixed)
        with self.assertRaisesRegex(sr.InputError, "no run has an attribute 'learning_rate'"):
            sr.where(runs, learning_rate=0.01)
        with self.assertRaisesRegex(sr.InputError, "lr is a number"):
            sr.where(runs, **sr.parse_where(["lr=fast"]))
        for bad in ("lr", "=3", "lr="):
            with self.assertRaises(sr.InputError):
                sr.parse_where([bad])

    def test_varying_and_fixed_attributes(self):
        runs = sr.where(sr.load_runs(self.mixed), task="teacher", d_k=16, scale="none")
        self.assertEqual(set(sr.varying(runs)), {"lr", "seed"})
        self.assertEqual(sr.fixed(runs)["d_k"], 16)
        self.assertNotIn("wall_seconds", sr.varying(runs))  # an outcome, not a setting

    # ---- the package's load: a DataFrame -----------------------------------------------------------------
    def test_package_load_gives_a_dataframe_of_the_matching_runs(self):
        df = sqrtdk.load(self.mixed, task="teacher", lr=1e-3)
        self.assertIsInstance(df, pd.DataFrame)
        with h5py.File(self.mixed) as f:
            want = sorted(n for n, g in f["runs"].items()
                          if g.attrs["task"] in ("teacher", b"teacher") and math.isclose(g.attrs["lr"], 1e-3))
        self.assertTrue(want)
        self.assertEqual(sorted(df["run"]), want)
        self.assertEqual(len(sqrtdk.load([self.sweep, self.mixed])), N_CONFIGS + 1 + N_CONFIGS * len(fx.MIXED_LRS))

    # ---- table and CSV ---------------------------------------------------------------------------------
    def test_table_has_final_metrics_from_eval_when_present(self):
        df = sr.table(sr.load_runs([self.sweep, self.mixed]))
        self.assertEqual(len(df), N_CONFIGS + 1 + N_CONFIGS * len(fx.MIXED_LRS))
        with h5py.File(self.mixed) as f:
            for name in ("recall-dk16-none-seed0-lr0.001", "recall-dk16-none-seed0-lr0.01",
                         "teacher-dk4-sqrt-seed1-lr0.001"):
                g = f[f"runs/{name}"]
                row = df[(df["run"] == name) & (df["file"] == self.mixed)].iloc[0]
                self.assertEqual(row["train_loss"], g["loss"][-1])
                if "eval" in g:
                    self.assertEqual(row["final_source"], "eval")
                    self.assertEqual(row["final_loss"], g["eval/loss"][-1])
                    self.assertEqual(row["eval_step"], g["eval/step"][-1])
                else:
                    self.assertEqual(row["final_source"], "train")
                    self.assertEqual(row["final_loss"], g["loss"][-1])
                    self.assertTrue(math.isnan(row["eval_loss"]))
                if "accuracy" in g:
                    expected = g["eval/accuracy"][-1] if "eval" in g else g["accuracy"][-1]
                    self.assertEqual(row["final_accuracy"], expected)
                else:
                    self.assertTrue(math.isnan(row["final_accuracy"]))

    def test_cli_csv_export_with_filters(self):
        out = os.path.join(self.tmp.name, "table.csv")
        r = self.cli("table", self.sweep, self.mixed, "--where", "lr=0.001", "--where", "task=recall",
                     "--csv", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), N_CONFIGS // len(fx.TASKS))
        self.assertEqual({(row["lr"], row["task"], row["final_source"]) for row in rows},
                         {("0.001", "recall", "eval")})
        # an existing file is not replaced without --force, and is left as it was
        before = read(out)
        r = self.cli("table", self.sweep, "--csv", out)
        self.assertEqual((r.returncode, r.stderr.count("\n")), (2, 1), r.stderr)
        self.assertIn("exists", r.stderr)
        self.assertEqual(read(out), before)
        r = self.cli("table", self.sweep, "--csv", out, "--force")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, newline="") as f:
            self.assertEqual(len(list(csv.DictReader(f))), N_CONFIGS + 1)

    def test_an_interpreter_without_h5py_is_one_line_and_exit_2(self):
        # h5py made unimportable, as in an interpreter that lacks it.
        block = ("import sys, runpy; sys.modules['h5py'] = None; "
                 "runpy.run_module('sqrtdk', run_name='__main__', alter_sys=True)")
        r = subprocess.run([sys.executable, "-c", block, "table", self.sweep], capture_output=True, text=True)
        self.assertEqual((r.returncode, r.stderr.count("\n")), (2, 1), r.stderr)
        self.assertIn("has no h5py", r.stderr)
        self.assertIn("find_python.sh", r.stderr)

    def test_cli_bad_input_is_one_line_and_exit_2(self):
        notes = os.path.join(self.tmp.name, "notes.txt")
        with open(notes, "w") as f:
            f.write("not hdf5\n")
        table = "table"
        for args, says in (([table, os.path.join(self.tmp.name, "missing.h5")], "no such file"),
                           ([table, notes], "not an HDF5 file"),
                           ([table, self.sweep, "--where", "colour=red"], "no run has an attribute 'colour'"),
                           ([table, self.sweep, "--where", "task=nosuchtask"], "no run matches"),
                           ([], "no command given"),
                           (["nosuchcommand"], "unknown command")):
            r = self.cli(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
            self.assertIn(says, r.stderr)
            self.assertNotIn("Traceback", r.stderr)
            self.assertEqual(r.stdout, "")


if __name__ == "__main__":
    unittest.main(verbosity=1)
