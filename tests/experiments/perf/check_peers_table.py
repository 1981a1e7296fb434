"""Checks the output of `peers.py --quick` (usage: check_peers_table.py OUTPUT.txt).

The machine and the load at start and end are stated; the table has a row per precision of the quick
shape; the sandbox's float64 cell and the eager and SDPA peers' cells are times; every peer's ratio is its
time over the sandbox's (of the same precision, else float64, as the note says); a float32 sandbox cell is a
time or says that the sandbox has no float32 yet; the last column names the row's fastest peer.
"""
import re
import sys

NUMBER = r"\d+(?:\.\d+)?"
failures = []


def check(ok, what):
    print(f"  {'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def main():
    text = open(sys.argv[1]).read()
    lines = text.splitlines()
    check(re.search(r"^machine: .+, \d+ cores", text, re.M) is not None, "the machine (CPU model, cores) is stated")
    for when in ("start", "end"):
        check(re.search(rf"^load average at {when}: \d+\.\d\d \d+\.\d\d \d+\.\d\d$", text, re.M) is not None,
              f"the load average at {when} is stated")
    header = next((i for i, line in enumerate(lines) if line.startswith("B x n x d_model x d_k")), None)
    check(header is not None, "the table has its header")
    if header is None:
        return 1
    names = [c.strip() for c in lines[header].split("|")]
    check(names[:3] == ["B x n x d_model x d_k", "precision", "sandbox"] and names[-1] == "fastest peer"
          and {"torch eager", "torch sdpa"} <= set(names),
          f"the columns are shape, precision, sandbox and the peers: {names}")
    rows = {}
    for line in lines[header + 2:]:
        if "|" not in line:
            break
        cells = [c.strip() for c in line.split("|")]
        rows[(cells[0], cells[1])] = dict(zip(names, cells))
    check(sorted(rows) == [("8x16x32x8", "float32"), ("8x16x32x8", "float64")],
          f"one row per precision of the quick shape 8x16x32x8: {sorted(rows)}")
    for (shape, precision), row in sorted(rows.items()):
        sandbox = row["sandbox"]
        if precision == "float64" or re.fullmatch(NUMBER, sandbox):
            check(re.fullmatch(NUMBER, sandbox) is not None and float(sandbox) > 0, f"{precision}: the sandbox's time '{sandbox}'")
        else:
            check(sandbox == "n/a: sandbox has no float32 yet", f"{precision}: the sandbox has no float32: '{sandbox}'")
        reference = float(sandbox) if re.fullmatch(NUMBER, sandbox) else float(rows[(shape, "float64")]["sandbox"])
        times = {}
        for name in names[3:-1]:
            cell = row[name]
            m = re.fullmatch(rf"({NUMBER}) \((\d+\.\d\d)x\)", cell)
            if name in ("torch eager", "torch sdpa"):
                check(m is not None, f"{precision} {name}: a time and a ratio: '{cell}'")
            elif m is None:
                check(cell.startswith("n/a: "), f"{precision} {name}: a time and a ratio, or n/a and why: '{cell}'")
            if m:
                ms, ratio = float(m.group(1)), float(m.group(2))
                times[name] = (ms, m.group(2))
                check(abs(ratio - ms / reference) <= 0.006 + 0.002 * ratio,
                      f"{precision} {name}: ratio {ratio} is {ms} / {reference}")
        fastest = min(times, key=lambda n: times[n][0])
        check(row["fastest peer"] == f"{fastest} ({times[fastest][1]}x)",
              f"{precision}: the fastest peer is {fastest}: '{row['fastest peer']}'")
    if failures:
        print(f"FAILED: {len(failures)} check(s)\n--- output of peers.py ---\n{text}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
