"""sqrtdk: read the sandbox's run files, and the √d_k study's statistics, figures and summary.

    from sqrtdk import load
    df = load("results/study/dk.h5", task="teacher")   # pandas DataFrame, one row per run

Modules: `reader` (run files -> Run records, filters, the table), `stats` (intervals over seeds),
`style` (the one figure style), `plot` (one figure of any runs: `python3 -m sqrtdk plot`), `names` (either
spelling of a setting), `guard` (every file read in a child process), `sweep` and `theory` (runs and theory files prepared for figures),
`study` (the study's figures and summary.md), `sweep_figures` and `scale_table` (figures and a table of
any sweep). `python3 -m sqrtdk --help` lists the commands.
"""

__all__ = ["DamagedFile", "InputError", "Run", "load", "load_runs", "parse_where", "sweep_grids", "table", "where"]


def __getattr__(name):
    # The reader's names are imported on first use, not with the package: `python3 -m sqrtdk` under an
    # interpreter without h5py must get as far as saying so in one line (__main__.py).
    if name in __all__:
        from . import reader
        return getattr(reader, name)
    raise AttributeError(f"module 'sqrtdk' has no attribute '{name}'")
