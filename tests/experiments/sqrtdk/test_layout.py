#!/usr/bin/env python3
"""The HDF5 layout is defined once (experiments/src/io/layout.hpp); this checks that what repeats it agrees:

    PYTHONPATH=experiments:tests/experiments/cli $PY tests/experiments/sqrtdk/test_layout.py SANDBOX   (ctest: py.layout)

  * results/README.md's layout table is the table `SANDBOX layout --json` dumps, row for row, and its line of run
    options lists the option table's attributes with their types;
  * the Python reader's constants (experiments/sqrtdk/reader.py) name rows of that table with the roles it
    gives them, and tests/experiments/cli/check_run_layout.py's lists are the table's (and the options') attributes
    and series of each type;
  * a sweep records its grid in every run (sweep_ini, sweep_overrides), the reader exposes it, and merge
    keeps each run's own.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

import h5py

import check_run_layout as checker  # tests/experiments/cli, on PYTHONPATH (ctest sets it)
from sqrtdk import reader as sr  # experiments/, on PYTHONPATH (or pip install -e experiments)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
LAYOUT_README = os.path.join(ROOT, "results", "README.md")  # the file layout is documented next to the files

SANDBOX = None  # set from the command line
RUN = "/runs/<name>"


def dump():
    out = subprocess.run([SANDBOX, "layout", "--json"], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def readme_table(text):
    """[(section, path, kind, type, length, when, meaning)] and the run-options line of results/README.md."""
    start = text.index("<!-- layout table:")
    end = text.index("<!-- end of layout table -->")
    rows, options = [], None
    for line in text[start:end].splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            cells[0], cells[1] = cells[0].strip("`"), cells[1].strip("`")
            rows.append(tuple(cells))
        elif line.startswith("Run options"):
            options = re.findall(r"`(\w+)` (str|int64|float64)", line)
    return rows, options


class LayoutAgreement(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.layout = dump()
        cls.entries = cls.layout["entries"]
        cls.options = [(o["name"], o["type"]) for o in cls.layout["run_options"]]
        with open(LAYOUT_README, encoding="utf-8") as f:
            cls.readme = f.read()

    def run_rows(self, **match):
        return [e for e in self.entries if e["section"] == RUN and all(e[k] == v for k, v in match.items())]

    def test_readme_table_is_the_layout(self):
        rows, options = readme_table(self.readme)
        when = lambda e: "not in older files" if e["when"] == "" and not e["every_version"] else e["when"]
        want = [(e["section"], e["path"], e["kind"], e["type"], e["length"], when(e), e["meaning"]) for e in self.entries]
        for got, expected in zip(rows, want):
            self.assertEqual(got, expected, "README layout row differs from `sandbox layout`")
        self.assertEqual(len(rows), len(want), "README layout table has another number of rows than `sandbox layout`")
        self.assertEqual(options, self.options, "README's run-options line differs from the option table")

    def test_reader_constants_name_rows_of_the_table(self):
        by_role = lambda role: tuple(e["path"] for e in self.run_rows(kind="attribute", role=role))
        self.assertEqual(sr.OUTCOME_ATTRS, by_role("outcome"))
        self.assertEqual(sr.DERIVED_ATTRS, by_role("derived"))
        self.assertEqual(sr.PROVENANCE_ATTRS, by_role("provenance"))
        self.assertEqual(sr.MATRIX_GROUPS, tuple(e["path"].split("/")[0] for e in self.run_rows(length="(rows, cols)")))
        self.assertEqual({e["section"] for e in self.entries if e["section"].startswith("/runs/")}, {f"/{sr.RUNS_GROUP}/<name>"})
        for name, length, type_ in ((sr.STEP, "step", "int64"), (sr.LOSS, "step", "float64"), (sr.ACCURACY, "step", "float64"),
                                    (sr.EVAL_STEP, "eval/step", "int64"), (sr.EVAL_LOSS, "eval/step", "float64"),
                                    (sr.EVAL_ACCURACY, "eval/step", "float64")):
            self.assertEqual([(e["length"], e["type"]) for e in self.run_rows(kind="dataset", path=name)], [(length, type_)], name)

    def test_checker_lists_are_the_tables(self):
        root = [e["path"] for e in self.entries if e["section"] == "/"]
        self.assertEqual(checker.ROOT_STR_ATTRS, root)
        required = [e for e in self.run_rows(kind="attribute", when="") if not e["path"].startswith("<")]
        for type_, listed in (("str", checker.RUN_STR_ATTRS), ("int64", checker.RUN_INT_ATTRS), ("float64", checker.RUN_FLOAT_ATTRS)):
            want = {e["path"] for e in required if e["type"] == type_} | {n for n, t in self.options if t == type_}
            self.assertEqual(set(listed), want, f"check_run_layout's {type_} attributes")
        plain = lambda **m: {e["path"] for e in self.run_rows(kind="dataset", **m) if "<" not in e["path"]}
        self.assertEqual(set(checker.METRICS), plain(length="step", when="", type="float64"))
        self.assertEqual(set(checker.EVAL_SERIES), plain(length="eval/step", when=""))
        self.assertEqual(set(checker.OPTIONAL_METRICS), {e["path"] for e in self.run_rows(kind="dataset")
                                                         if e["when"].startswith("written by versions")})


class SweepRecordsItsGrid(unittest.TestCase):
    INI = "; a tiny grid\n[grid]\nscale = none sqrt\n[run]\ntask = teacher\nd-model = 4\ndk = 2\nseq-len = 3\nbatch = 2\nsteps = 2\nno-gradcheck = true\n"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="test_layout.")
        cls.ini = os.path.join(cls.tmp.name, "grid.ini")
        with open(cls.ini, "w") as f:
            f.write(cls.INI)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def sandbox(self, *args):
        r = subprocess.run([SANDBOX, *args], capture_output=True, text=True, cwd=self.tmp.name)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_every_run_records_the_ini_and_the_overrides_and_merge_keeps_them(self):
        self.sandbox("sweep", "--config", self.ini, "--out", "a.h5", "--jobs", "1", "--quiet", "--grid.seed", "0 1",
                     "--run.lr", "0.02")
        self.sandbox("sweep", "--config", self.ini, "--out", "b.h5", "--jobs", "1", "--quiet", "--grid.seed", "2")
        runs = sr.load_runs(os.path.join(self.tmp.name, "a.h5"))
        self.assertEqual(len(runs), 4)
        for run in runs:
            self.assertEqual(run.sweep_grid, (self.INI, "--run.lr=0.02\n--grid.seed=0 1\n"), run.name)
        with h5py.File(os.path.join(self.tmp.name, "a.h5")) as f:  # as stored, not only as the reader says
            self.assertEqual(f["runs"][runs[0].name].attrs["sweep_ini"], self.INI)
        self.sandbox("merge", "all.h5", "a.h5", "b.h5")
        merged = sr.load_runs(os.path.join(self.tmp.name, "all.h5"))
        grids = sr.sweep_grids(merged)
        self.assertEqual([(ini, overrides, len(members)) for ini, overrides, members in grids],
                         [(self.INI, "--run.lr=0.02\n--grid.seed=0 1\n", 4), (self.INI, "--grid.seed=2\n", 2)])
        # The same runs from a sweep given otherwise (seed 0 only): the same runs, so merge accepts them and
        # keeps the copies it has, with their own grid.
        self.sandbox("sweep", "--config", self.ini, "--out", "c.h5", "--jobs", "1", "--quiet", "--grid.seed", "0",
                     "--run.lr", "0.02")
        self.sandbox("merge", "all.h5", "c.h5")
        self.assertEqual([(len(m), o) for _, o, m in sr.sweep_grids(sr.load_runs(os.path.join(self.tmp.name, "all.h5")))],
                         [(4, "--run.lr=0.02\n--grid.seed=0 1\n"), (2, "--grid.seed=2\n")])
        # Not a setting: runs of one configuration from two sweeps are still one configuration.
        self.assertNotIn("sweep_ini", sr.varying(merged))
        self.assertNotIn("sweep_ini", sr.table(merged).columns)

    def test_a_train_run_has_no_grid(self):
        self.sandbox("train", "--d-model", "4", "--dk", "2", "--seq-len", "3", "--batch", "2", "--steps", "2",
                     "--no-gradcheck", "--out", "t.h5")
        runs = sr.load_runs(os.path.join(self.tmp.name, "t.h5"))
        self.assertEqual([r.sweep_grid for r in runs], [None])
        self.assertEqual(sr.sweep_grids(runs), [])


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_layout.py SANDBOX [unittest options]")
    SANDBOX = os.path.abspath(sys.argv.pop(1))
    unittest.main()
