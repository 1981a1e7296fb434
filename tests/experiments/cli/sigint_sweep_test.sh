#!/usr/bin/env bash
# SIGINT at any instant of a sweep ends it with exit 130 (never killed by the signal) and loses nothing.
#   bash tests/experiments/cli/sigint_sweep_test.sh SANDBOX_BINARY SOURCE_DIR       (ctest: robust.sigint_sweep)
#   SIGINT_TRIALS=N random instants (default 8); SIGINT_SEED=S replays them (default: random, printed)
# Exits non-zero at the first failure, with a line "FAIL: ..." saying what went wrong.
#
# The signal goes to the sweep's whole process group, as Ctrl-C does (its forked readers get it too), at
# instants defined by states, not by sleeps:
#   1. the first instant any code runs: the dynamic loader is calling the libraries' initialisers (before
#      main). The loader's LD_DEBUG output goes to a 4 KiB pipe the test stops reading, so the sweep is
#      held there, blocked writing to it, while the signal arrives.
#   2. while it waits for the lock of an --out that another process holds (a resume: it plans under the
#      lock): it stops waiting at once.
#   3. when planning is done and the first runs start (its first stdout line).
#   4. SIGINT_TRIALS random instants between the installed handler and the end of an uninterrupted sweep,
#      half of them resuming a file that already holds some of the runs.
# Each time: exit 130 exactly (Python's returncode -2 would be death by the signal), the interruption said
# in one stderr line; every run the sweep reports complete is in the file, equal to the same run made
# without interruption, and interrupted runs hold a prefix of its steps; an untouched file stays
# byte-identical; and the same command run again completes the file, equal to the uninterrupted sweep.
set -uo pipefail

TEST_NAME=sigint_sweep_test
# shellcheck source=run_test_setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/run_test_setup.sh" "$@"
cd "$TMP" || fail "cd $TMP"

printf '[grid]\ntask = teacher\ndk = 2 3\nscale = none sqrt\nseed = 0 1\n[run]\nd-model = 8\nseq-len = 4\nbatch = 2\nsteps = 2000\nlog-every = 7\nno-gradcheck = true\n' >grid.ini
"$SANDBOX" sweep --config grid.ini --out ref.h5 --jobs 2 --quiet >/dev/null 2>err || fail "reference sweep: $(cat err)"
"$SANDBOX" sweep --config grid.ini --shard 0/3 --out part.h5 --jobs 2 --quiet >/dev/null 2>err || fail "partial sweep: $(cat err)"

"$PY" - "$SANDBOX" "${SIGINT_TRIALS:-8}" "${SIGINT_SEED:-$RANDOM$RANDOM}" <<'PY' || exit 1
import fcntl, hashlib, os, random, shutil, signal, subprocess, sys, time
import h5py, numpy as np

sandbox, trials, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
SWEEP = [sandbox, "sweep", "--config", "grid.ini", "--out", "out.h5", "--jobs", "2"]

def fail(why):
    print(f"FAIL: {why}", file=sys.stderr)
    sys.exit(1)

def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest() if os.path.exists(path) else None

def wait_until(what, predicate, process=None, limit=60.0):
    deadline = time.monotonic() + limit
    while not predicate():
        if process is not None and process.poll() is not None:
            fail(f"the sweep exited ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            fail(f"not reached within {limit:.0f} s: {what}")
        time.sleep(0.002)

def status_field(pid, key):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key + ":"):
                return line.split()[1]
    except OSError:
        pass
    return None

def handler_installed(pid):
    mask = status_field(pid, "SigCgt")
    return mask is not None and os.path.realpath(f"/proc/{pid}/exe") == os.path.realpath(sandbox) and int(mask, 16) & 2

def runs(path):
    if not os.path.exists(path):
        return {}
    with h5py.File(path, "r") as f:
        return {name: (g.attrs["status"], g["step"][()], g["loss"][()], g["params/W_Q"][()])
                for name, g in f["runs"].items()}

REF = runs("ref.h5")

def check(case, process, stdout, stderr, before_runs, before_sha, sent):
    """The interrupted sweep's exit, messages and file; then a rerun completes it."""
    rc = process.returncode
    if rc < 0:
        fail(f"{case}: killed by signal {-rc} (want exit 130)")
    if rc not in (0, 130):
        fail(f"{case}: exit {rc}, want 130: {stderr!r}")
    if rc == 130 and stderr.splitlines()[-1:] != ["sandbox sweep: interrupted; finished runs were saved, rerun the same command to complete"]:
        fail(f"{case}: the interruption is not said on the last stderr line: {stderr!r}")
    last = [l for l in stdout.splitlines() if l.startswith("sweep: ") and " complete, " in l]
    if not last:
        fail(f"{case}: no final line on stdout: {stdout!r}")
    complete_now = int(last[-1].split()[1])
    # Exit 0 only if the signal came after the sweep's last look at it (it was already exiting).
    if rc == 0 and " 0 interrupted or not started" not in last[-1]:
        fail(f"{case}: exit 0 with runs not done: {last[-1]!r}")
    got = runs("out.h5")
    for name, (status, step, loss, wq) in got.items():
        r_status, r_step, r_loss, r_wq = REF[name]
        if status == "complete":
            if not (np.array_equal(step, r_step) and np.array_equal(loss, r_loss) and np.array_equal(wq, r_wq)):
                fail(f"{case}: complete run {name} differs from the same run made without interruption")
        elif status == "interrupted":
            n = len(step)
            if not (np.array_equal(step, r_step[:n]) and np.array_equal(loss, r_loss[:n])):
                fail(f"{case}: interrupted run {name} is not a prefix of the same run made without interruption")
        else:
            fail(f"{case}: run {name} has status {status!r}")
    for name in before_runs:
        if name not in got:
            fail(f"{case}: run {name}, in the file before, is gone")
    complete_in_file = sum(s == "complete" for s, *_ in got.values())
    complete_before = sum(s == "complete" for s, *_ in before_runs.values())
    if complete_in_file != complete_before + complete_now:
        fail(f"{case}: the sweep reported {complete_now} runs complete, the file gained {complete_in_file - complete_before}")
    if complete_now == 0 and not any(s == "interrupted" for s, *_ in got.values()) and sha("out.h5") != before_sha:
        fail(f"{case}: nothing finished, yet the file changed")
    again = subprocess.run(SWEEP + ["--quiet"], capture_output=True, text=True)
    if again.returncode != 0:
        fail(f"{case}: the rerun exited {again.returncode}: {again.stderr!r}")
    final = runs("out.h5")
    if sorted(final) != sorted(REF) or any(
            final[n][0] != "complete" or not np.array_equal(final[n][2], REF[n][2]) for n in REF):
        fail(f"{case}: after the rerun the file is not the uninterrupted sweep")
    return complete_now

def start(stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=None):
    # A session of its own: the signal goes to the whole process group, as Ctrl-C sends it.
    return subprocess.Popen(SWEEP, stdout=stdout, stderr=stderr, env=env, start_new_session=True, text=True)

def interrupt(process):
    os.killpg(process.pid, signal.SIGINT)

def fresh(initial):
    if os.path.exists("out.h5"):
        os.remove("out.h5")
    if initial:
        shutil.copy(initial, "out.h5")
    return runs("out.h5"), sha("out.h5")

# ---- 1. the first instant: the loader is running the libraries' initialisers -------------------------------
before_runs, before_sha = fresh(None)
r, w = os.pipe()
fcntl.fcntl(r, 1031, 4096)  # F_SETPIPE_SZ: the loader's output soon fills it
p = subprocess.Popen(SWEEP, stdout=subprocess.PIPE, stderr=w, env=dict(os.environ, LD_DEBUG="bindings"),
                     start_new_session=True, text=True)
os.close(w)
seen = b""
while b"calling init:" not in seen:
    chunk = os.read(r, 4096)
    if not chunk:
        fail("no 'calling init' in the loader's LD_DEBUG output")
    seen += chunk
if b"transferring control" in seen:
    fail("the loader reached main before the test could hold it")
def blocked_on_stderr():
    try:
        call = open(f"/proc/{p.pid}/syscall").read().split()
        return len(call) > 1 and call[0] in ("1", "20") and int(call[1], 16) == 2  # write / writev to fd 2
    except OSError:  # /proc/PID/syscall may need ptrace rights; while the loader runs, sleeping is that
        try:
            return open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "S"
        except OSError:
            return False
wait_until("the sweep blocks writing the loader's output", blocked_on_stderr, p)
interrupt(p)
rest = b""
while chunk := os.read(r, 65536):
    rest += chunk
os.close(r)
out = p.stdout.read()
p.wait()
err = "\n".join(l for l in rest.decode(errors="replace").splitlines() if l.startswith("sandbox"))
if check("SIGINT while the loader runs the libraries' initialisers", p, out, err, before_runs, before_sha, True) != 0:
    fail("SIGINT while the loader runs: runs were trained after it")
print("  SIGINT while the loader initialises the libraries (before main): exit 130, nothing written")

# ---- 2. waiting for the lock to plan a resume -----------------------------------------------------------------
before_runs, before_sha = fresh("part.h5")
h = 14695981039346656037
for c in b"out.h5":
    h = ((h ^ c) * 1099511628211) % (1 << 64)
lock = os.open(".sbx-%016x.lock" % h, os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(lock, fcntl.LOCK_EX)
with open("err2", "w+") as err_file:
    p = start(stderr=err_file)
    wait_until("the sweep says it waits for the lock", lambda: "waiting for" in open("err2").read(), p)
    interrupt(p)
    try:
        out = p.communicate(timeout=60)[0]  # while the lock is still held
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        fail("SIGINT while waiting for the lock: the sweep still waits")
    err = open("err2").read()
os.close(lock)
if p.returncode != 130:
    fail(f"SIGINT while waiting for the lock: exit {p.returncode}, want 130: {err!r}")
said = [l for l in err.splitlines() if not l.startswith("sandbox: waiting for")]
if said != ["sandbox sweep: interrupted while waiting for out.h5; nothing was run"] or out:
    fail(f"SIGINT while waiting for the lock: stdout {out!r}, stderr {err!r}")
if sha("out.h5") != before_sha:
    fail("SIGINT while waiting for the lock: the file changed")
again = subprocess.run(SWEEP + ["--quiet"], capture_output=True, text=True)
if again.returncode != 0 or sorted(runs("out.h5")) != sorted(REF):
    fail(f"SIGINT while waiting for the lock: the rerun did not complete the file: {again.stderr!r}")
print("  SIGINT while waiting for the lock to plan a resume: exit 130 at once, nothing run, the file unchanged")

# ---- 3. planning done, the first runs starting -----------------------------------------------------------------
for initial in (None, "part.h5"):
    before_runs, before_sha = fresh(initial)
    p = start()
    first = p.stdout.readline()
    if not first.startswith("sweep: "):
        fail(f"first stdout line: {first!r}")
    interrupt(p)
    out, err = p.communicate()
    check(f"SIGINT as the first runs start ({'resume' if initial else 'new file'})", p, first + out, err,
                 before_runs, before_sha, True)
print("  SIGINT as the first runs start (a new file and a resume): exit 130, what finished saved")

# ---- 4. random instants -----------------------------------------------------------------------------------------
t0 = time.monotonic()
subprocess.run(SWEEP[:5] + ["timing.h5", "--jobs", "2", "--quiet"], check=True, capture_output=True)
span = time.monotonic() - t0
print(f"  random instants: {trials} trials in [0, {span:.2f} s] after the handler is installed, SIGINT_SEED={seed}")
rng = random.Random(seed)
outcomes = []
for t in range(trials):
    initial = "part.h5" if t % 2 else None
    before_runs, before_sha = fresh(initial)
    delay = rng.uniform(0, span)
    p = start()
    wait_until("the sweep installs its SIGINT handler", lambda: handler_installed(p.pid), p)
    time.sleep(delay)  # samples an instant; what is checked does not depend on which
    sent = p.poll() is None
    if sent:
        interrupt(p)
    out, err = p.communicate()
    done = check(f"SIGINT {delay * 1000:.0f} ms after the handler (trial {t}, SIGINT_SEED={seed})", p, out, err,
                 before_runs, before_sha, sent)
    outcomes.append(f"{done} complete" if sent else "finished first")
print(f"  runs complete when interrupted: {', '.join(outcomes)}")
PY
echo "sigint_sweep_test: PASS"
