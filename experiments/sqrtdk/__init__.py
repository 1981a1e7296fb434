"""sqrtdk: read the sandbox's run files, and the √d_k study's statistics, figures and summary.

    from sqrtdk import load
    df = load("results/study/dk.h5", task="teacher")   # pandas DataFrame, one row per run

Modules: `reader` (run files -> Run records, filters, the table), `stats` (intervals over seeds),
`style` (the one figure style), `sweep` and `theory` (runs and theory files prepared for figures),
`study` (the study's figures and summary.md), `sweep_figures` and `scale_table` (figures and a table of
any sweep). `python3 -m sqrtdk --help` lists the commands.
"""

from .reader import InputError, Run, load, load_runs, parse_where, sweep_grids, table, where

__all__ = ["InputError", "Run", "load", "load_runs", "parse_where", "sweep_grids", "table", "where"]
