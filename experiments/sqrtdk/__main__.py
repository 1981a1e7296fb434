"""python3 -m sqrtdk COMMAND [options]: the commands that read run files (COMMAND --help for each).

Run it with the interpreter experiments/find_python.sh prints (it has h5py, NumPy, matplotlib and
pandas), from experiments/ or with PYTHONPATH=experiments, or after `pip install -e experiments`.
Bad input: one line on stderr naming what is wrong, exit code 2.
"""

import importlib
import os
import sys

# command -> (module, what it does). Modules are imported only for the command that runs: each sets up
# matplotlib for its own figures.
COMMANDS = {
    "study": ("study", "the √d_k study's figures and summary.md from its run files (reproduce.sh runs it)"),
    "lm": ("lm_figures", "the language model's learning-rate grid: its figures and its summary section"),
    "figures": ("sweep_figures", "figures of any sweep file (and of a theory file)"),
    "scale-table": ("scale_table", "scaled (sqrt) against unscaled (none), one row per task and d_k"),
    "plot": ("plot", "one figure of any runs: a series vs step or a final metric vs a setting, by colour and panel"),
    "table": ("reader", "one row per run: attributes and final metrics (or CSV)"),
}


def usage():
    lines = ["usage: python3 -m sqrtdk COMMAND [options]   (COMMAND --help for its options)", "", "commands:"]
    lines += [f"  {name:<12} {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines) + "\n"


def run_cli(main_fn, argv, prog):
    """main_fn(argv) with InputError as one line on stderr and exit code 2."""
    from .reader import InputError
    try:
        code = main_fn(argv)
    except InputError as exc:
        sys.stderr.write(f"{prog}: error: {exc}\n")
        code = 2
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        code = 0
    return code or 0


def main(argv):
    if not argv:
        sys.stderr.write(f"sqrtdk: error: no command given (commands: {', '.join(COMMANDS)}; --help says more)\n")
        return 2
    if argv[0] in ("-h", "--help"):
        sys.stdout.write(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        sys.stderr.write(f"sqrtdk: error: unknown command '{name}' (commands: {', '.join(COMMANDS)})\n")
        return 2
    try:
        module = importlib.import_module(f".{COMMANDS[name][0]}", __package__)
    except ImportError as missing:  # an interpreter without h5py, matplotlib or NumPy
        sys.stderr.write(f"sqrtdk {name}: error: this interpreter ({sys.executable}) has no {missing.name}; "
                         "use the one experiments/find_python.sh prints\n")
        return 2
    return run_cli(module.main, rest, f"sqrtdk {name}")


def console_main():
    """The `sqrtdk` command a `pip install` puts on PATH."""
    sys.exit(main(sys.argv[1:]))


if __name__ == "__main__":
    console_main()
